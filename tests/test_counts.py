"""One definition of finished, cancelled and missing runs, stated alike everywhere; a dead
server is noticed before an experiment starts, and runs it failed are re-run by a resume."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest
from waiting import wait_until

from orchlab.backends import BackendError, resolve
from orchlab.cli import main as cli
from orchlab.core.records import RunRecord, utcnow
from orchlab.running.runner import CancelToken, ExperimentSpec, Progress, run_experiment
from orchlab.store.store import Store
from orchlab.testing.devserver import FakeOpenAIServer

APP = str(Path(__file__).parent.parent / "app.py")
PLANNED = 10

@pytest.fixture
def store(any_store: Store) -> Store:
    """This module's store tests run on SQLite and on a real PostgreSQL server."""
    return any_store


@pytest.fixture
def server() -> Iterator[FakeOpenAIServer]:
    with FakeOpenAIServer(latency_s=0.15) as running:
        yield running


def cancelled_part_way(store: Store, base_url: str) -> str:
    """10 planned runs at concurrency 3, cancelled after the second: runs in flight are
    stored as cancelled, so saved runs and finished runs differ."""
    spec = ExperimentSpec("sales_email", forms=["code", "llm"], inputs=["dana-acme"],
                          repetitions=PLANNED // 2, concurrency=3,
                          backend=f"compat:fake-model@{base_url}")
    cancel = CancelToken()

    def stop_after_two(progress: Progress) -> None:
        if progress.done >= 2:
            cancel.cancel()

    result = run_experiment(spec, store, on_progress=stop_after_two, cancel=cancel)
    assert result.status == "cancelled"
    return result.experiment_id


def test_counts_after_a_cancel_agree_and_resume_runs_exactly_the_missing(
    store: Store, server: FakeOpenAIServer,
) -> None:
    from orchlab.running.runner import remaining_runs, resume_experiment
    from orchlab.running.spec import prepare

    exp_id = cancelled_part_way(store, server.base_url)
    counts = store.run_counts(exp_id)
    assert counts.cancelled >= 1, "the cancel interrupted no run: the test proves nothing"
    assert counts.planned == PLANNED
    assert counts.finished + counts.missing == PLANNED
    assert counts.finished == store.count_runs(exp_id) - counts.cancelled
    exp = store.get_experiment(exp_id)
    assert exp is not None
    plan = prepare(ExperimentSpec(**exp.spec)).plan
    assert len(remaining_runs(store, exp_id, plan)) == counts.missing
    resumed = resume_experiment(exp_id, store)
    assert len(resumed.records) == counts.missing
    after = store.run_counts(exp_id)
    assert (after.finished, after.missing, after.cancelled) == (PLANNED, 0, 0)


def numbers(text: str) -> tuple[int, int, int]:
    """(finished, planned, missing) as a sentence states them."""
    found = re.search(r"(\d+) of (\d+) runs finished.*?(\d+) planned runs never finished", text)
    assert found is not None, text
    return int(found[1]), int(found[2]), int(found[3])


def test_run_page_history_and_cli_state_the_same_numbers(
    app_env: Path, server: FakeOpenAIServer, capsys: pytest.CaptureFixture[str],
) -> None:
    from orchlab.running.jobs import ExperimentJob

    store_path = app_env
    store = Store(store_path)
    spec = ExperimentSpec("sales_email", forms=["code", "llm"], inputs=["dana-acme"],
                          repetitions=PLANNED // 2, concurrency=3,
                          backend=f"compat:fake-model@{server.base_url}")
    job = ExperimentJob(spec, store).start()
    wait_until(lambda: len(job.snapshot().records) >= 2)
    job.cancel()
    job.join(timeout=60)
    assert job.snapshot().result is not None
    exp_id = job.snapshot().result.experiment_id  # type: ignore[union-attr]
    counts = store.run_counts(exp_id)
    assert counts.cancelled >= 1
    expected = (counts.finished, PLANNED, PLANNED - counts.finished)

    at = AppTest.from_file(APP, default_timeout=60)
    at.session_state["run_job"] = job
    at.run()
    at.switch_page("views/run.py").run()
    assert not at.exception, at.exception
    run_line = next(s.label for s in at.status if exp_id in s.label)
    assert numbers(run_line) == expected

    at.switch_page("views/history.py").run()
    assert not at.exception, at.exception
    table = at.dataframe[0].value
    assert table.loc[table["Experiment"] == exp_id, "Runs"].item() == f"{expected[0]}/{PLANNED}"
    assert numbers(next(w.value for w in at.warning if exp_id in w.value)) == expected

    assert cli.main(["--store", str(store_path), "list"]) == 0
    listed = next(line for line in capsys.readouterr().out.splitlines() if exp_id in line)
    assert f" {expected[0]}/{PLANNED} runs" in listed


def failed_run(exp_id: str, rep: int, error_type: str, error_class: str) -> RunRecord:
    return RunRecord(
        run_id=f"{exp_id}-{rep}", experiment_id=exp_id, scenario="sales_email", form="code",
        input_id="dana-acme", repetition=rep, backend="b", model="m", started_at=utcnow(),
        status="error", error_type=error_type, error_message="x", error_class=error_class)


def test_which_failed_runs_a_resume_runs_again(store: Store) -> None:
    from orchlab.core.records import ExperimentRecord

    exp = ExperimentRecord(experiment_id="exp-1", scenario="sales_email", backend="b",
                           created_at=utcnow(), spec={}, planned_runs=4, status="completed")
    store.save_experiment(exp)
    store.save_run(failed_run("exp-1", 0, "APIConnectionError", "server_error"))
    store.save_run(failed_run("exp-1", 1, "ToolUnavailable", "tool_unavailable"))
    store.save_run(failed_run("exp-1", 2, "MaxTurnsExceeded", "max_turns"))  # a real result
    store.save_run(failed_run("exp-1", 3, "InternalServerError", "server_error"))  # it answered
    counts = store.run_counts("exp-1")
    assert (counts.finished, counts.to_rerun, counts.missing) == (2, 2, 2)
    assert store.run_keys("exp-1") == {("code", "b", "dana-acme", 2),
                                       ("code", "b", "dana-acme", 3)}


def test_a_server_gone_since_the_backend_was_resolved_stops_the_experiment(
    store: Store,
) -> None:
    with FakeOpenAIServer(keep_alive=True) as server:
        backend = resolve(f"compat:fake-model@{server.base_url}")
        spec = ExperimentSpec("sales_email", forms=["code"], inputs=["dana-acme"],
                              repetitions=1, backend=backend.id)
        run_experiment(spec, store, backend=backend)
    with pytest.raises(BackendError, match="No OpenAI-compatible server answered"):
        run_experiment(spec, store, backend=backend)
    assert len(store.list_experiments()) == 1


def test_runs_a_dead_server_failed_are_not_a_success_and_resume_reruns_them(
    store: Store, capsys: pytest.CaptureFixture[str],
) -> None:
    from orchlab.running.runner import resume_experiment

    with FakeOpenAIServer() as server:
        backend = resolve(f"compat:fake-model@{server.base_url}")
        port = int(server.base_url.rsplit(":", 1)[1].split("/")[0])
    spec = ExperimentSpec("sales_email", forms=["code"], inputs=["dana-acme"], repetitions=2,
                          concurrency=2, backend=backend.id)
    unchecked = dataclasses.replace(backend, check=None)  # the server died after the check
    result = run_experiment(spec, store, backend=unchecked)
    counts = store.run_counts(result.experiment_id)
    assert (counts.finished, counts.to_rerun, counts.missing) == (0, 2, 2)
    assert "server_error" in counts.sentence()
    cli._report(store, result)
    assert "0 of 2 runs finished" in capsys.readouterr().out
    with FakeOpenAIServer(port=port):
        resumed = resume_experiment(result.experiment_id, store)
    assert len(resumed.records) == 2
    after = store.run_counts(result.experiment_id)
    assert (after.finished, after.missing, store.count_runs(result.experiment_id)) == (2, 0, 2)
