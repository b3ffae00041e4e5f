"""A model matrix: several backends in one experiment (issue 28, item 1). Two local
OpenAI-compatible servers, each with its own latency and its own email, serve one experiment:
the plan interleaves the backends, every run records its backend, each server answers exactly
its runs' requests, each backend keeps its own bound, and the store, export/import, resume and
replay all know a run by its backend."""

from __future__ import annotations

import dataclasses
import json
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from orchlab import backends
from orchlab.cli.main import main
from orchlab.core.errors import BackendError, SpecError
from orchlab.core.records import RunRecord
from orchlab.running.execution import CancelToken
from orchlab.running.jobs import ExperimentJob
from orchlab.running.runner import (
    ExperimentResult,
    ExperimentSpec,
    Progress,
    resume_experiment,
    run_experiment,
)
from orchlab.running.spec import PlannedRun, prepare, replay_spec
from orchlab.store import export, importer
from orchlab.store.store import Store
from orchlab.testing.devserver import FakeOpenAIServer, policy_reply
from orchlab.testing.ports import free_port
from orchlab.testing.scripted import scripted_backend

B_MARK = "in half the time"
B_EMAIL = f"Subject: Ledgerly, briefly\n\nHi, Ledgerly closes your books {B_MARK}. Call?"


def policy_b(request: dict[str, Any]) -> dict[str, Any]:
    """Server B's model writes another email than A's: its runs' outputs tell them apart."""
    message = policy_reply(request)
    if str(message.get("content") or "").startswith("Subject:"):
        return {**message, "content": B_EMAIL}
    return message


@pytest.fixture
def servers() -> Iterator[tuple[FakeOpenAIServer, FakeOpenAIServer]]:
    with FakeOpenAIServer(latency_s=0.03) as a, \
            FakeOpenAIServer(latency_s=0.01, policy=policy_b) as b:
        yield a, b


def bid(server: FakeOpenAIServer) -> str:
    return f"compat:fake-model@{server.base_url}"


def matrix(ids: list[str], reps: int = 2, **kwargs: Any) -> ExperimentSpec:
    return ExperimentSpec("sales_email", forms=["code", "llm"], inputs=["dana-acme"],
                          repetitions=reps, backends=ids, **kwargs)


def keyed(records: list[RunRecord]) -> dict[tuple[str, str, str, int], RunRecord]:
    return {(r.form, r.backend, r.input_id, r.repetition): r for r in records}


def test_the_plan_interleaves_forms_backends_inputs_and_repetitions() -> None:
    spec = ExperimentSpec("sales_email", forms=["code", "llm"],
                          inputs=["dana-acme", "li-northwind"], repetitions=2,
                          backends=["x:a", "x:b"])
    prepared = prepare(spec)
    assert (prepared.spec.backend, prepared.spec.backends) == ("x:a", ["x:a", "x:b"])
    order = [(p.form, p.backend, p.input_id, p.repetition) for p in prepared.plan]
    assert order == [  # every block holds each form on each backend; the first rotates
        ("code", "x:a", "dana-acme", 0), ("code", "x:b", "dana-acme", 0),
        ("llm", "x:a", "dana-acme", 0), ("llm", "x:b", "dana-acme", 0),
        ("code", "x:b", "li-northwind", 0), ("code", "x:a", "li-northwind", 0),
        ("llm", "x:b", "li-northwind", 0), ("llm", "x:a", "li-northwind", 0),
        ("code", "x:a", "dana-acme", 1), ("code", "x:b", "dana-acme", 1),
        ("llm", "x:a", "dana-acme", 1), ("llm", "x:b", "dana-acme", 1),
        ("code", "x:b", "li-northwind", 1), ("code", "x:a", "li-northwind", 1),
        ("llm", "x:b", "li-northwind", 1), ("llm", "x:a", "li-northwind", 1),
    ]
    assert prepared.plan[0].key == ("code", "x:a", "dana-acme", 0)
    one = prepare(ExperimentSpec("sales_email", forms=["code", "llm"], inputs=["dana-acme"],
                                 repetitions=2, backend="x:a"))
    assert one.spec.backends == [] and [(p.form, p.repetition) for p in one.plan] == [
        ("code", 0), ("llm", 0), ("code", 1), ("llm", 1)]  # one backend: the plan of before
    one_listed = prepare(dataclasses.replace(spec, backends=["x:a"]))
    assert (one_listed.spec.backend, one_listed.spec.backends) == ("x:a", [])
    with pytest.raises(SpecError, match="distinct"):
        prepare(dataclasses.replace(spec, backends=["x:a", "x:a"]))


def test_every_run_records_its_backend_and_each_server_answers_its_runs(
    store: Store, servers: tuple[FakeOpenAIServer, FakeOpenAIServer]
) -> None:
    a, b = servers
    started: list[PlannedRun] = []
    result = run_experiment(matrix([bid(a), bid(b)], concurrency=1), store,
                            on_start=lambda _run_id, planned: started.append(planned))
    assert result.status == "completed" and len(result.records) == 8
    assert [(p.form, p.backend, p.repetition) for p in started] == [  # run in the plan's order
        ("code", bid(a), 0), ("code", bid(b), 0), ("llm", bid(a), 0), ("llm", bid(b), 0),
        ("code", bid(b), 1), ("code", bid(a), 1), ("llm", bid(b), 1), ("llm", bid(a), 1)]
    assert Counter(r.backend for r in result.records) == {bid(a): 4, bid(b): 4}
    assert all(r.status == "ok" and r.outcome["success"] for r in result.records)
    for server in (a, b):
        mine = [r for r in result.records if r.backend == bid(server)]
        assert server.stats.requests == sum(r.metrics.llm_calls for r in mine) > 0
    for run in result.records:  # each server's own email, sent by its own runs
        assert [B_MARK in m.body for m in run.outbox] == [run.backend == bid(b)]

    exp = store.get_experiment(result.experiment_id)
    assert exp is not None and exp.planned_runs == 8
    assert exp.backend == f"{bid(a)} + {bid(b)}"
    assert exp.spec["backends"] == [bid(a), bid(b)] and exp.spec["backend"] == bid(a)
    stored = store.load_runs([result.experiment_id])
    assert Counter(stored["backend"]) == {bid(a): 4, bid(b): 4}
    assert store.run_counts(result.experiment_id).missing == 0
    assert len(store.run_keys(result.experiment_id)) == 8


def test_each_backend_keeps_its_own_bound_and_the_total_holds(
    store: Store, servers: tuple[FakeOpenAIServer, FakeOpenAIServer]
) -> None:
    """`one:` is the compat backend bounded to one run at a time, as the embedded model is;
    the other backend's runs fill the experiment's other slots meanwhile."""
    a, b = servers
    backends.register("one", lambda rest: dataclasses.replace(
        backends.resolve(f"compat:{rest}"), id=f"one:{rest}", max_concurrency=1))
    try:
        flight: Counter[str] = Counter()
        most: Counter[str] = Counter()
        total = [0, 0]

        def start(_run_id: str, planned: PlannedRun) -> None:
            flight[planned.backend] += 1
            total[0] += 1
            most[planned.backend] = max(most[planned.backend], flight[planned.backend])
            total[1] = max(total[1], total[0])

        def done(p: Progress) -> None:
            flight[p.record.backend] -= 1
            total[0] -= 1

        one = f"one:fake-model@{a.base_url}"
        result = run_experiment(matrix([one, bid(b)], reps=4, concurrency=3), store,
                                on_start=start, on_progress=done)
    finally:
        backends.unregister("one")
    assert result.status == "completed" and len(result.records) == 16
    assert most[one] == 1 and most[bid(b)] >= 2 and total[1] <= 3
    assert Counter(r.backend for r in result.records) == {one: 8, bid(b): 8}


def test_an_unknown_or_unreachable_backend_is_one_sentence_and_nothing_is_stored(
    store: Store, servers: tuple[FakeOpenAIServer, FakeOpenAIServer],
    capsys: pytest.CaptureFixture[str],
) -> None:
    a, _b = servers
    with pytest.raises(BackendError, match="Unknown backend prefix 'nosuch'"):
        run_experiment(matrix([bid(a), "nosuch:model"]), store)
    dead = f"compat:fake-model@http://127.0.0.1:{free_port()}/v1"
    with pytest.raises(BackendError) as raised:
        run_experiment(matrix([bid(a), dead]), store)
    assert len(str(raised.value).splitlines()) == 1
    assert store.list_experiments() == [] and a.stats.requests == 0
    code = main(["--store", store.location, "run", "--scenario", "sales_email", "--forms",
                 "code", "--input", "dana-acme", "--backend", bid(a), "--backend", dead])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and err[0].startswith("error: ")
    assert store.list_experiments() == []


def test_workers_need_every_backend_of_a_matrix_remote(
    store: Store, servers: tuple[FakeOpenAIServer, FakeOpenAIServer]
) -> None:
    a, _b = servers
    backends.register("scripted", lambda _rest: scripted_backend({}, backend_id="scripted:x"))
    try:
        with pytest.raises(SpecError, match="workers > 1 needs a backend each process can "
                                            "open by id.*scripted:x"):
            run_experiment(matrix([bid(a), "scripted:x"], workers=2), store)
    finally:
        backends.unregister("scripted")
    assert store.list_experiments() == []


@pytest.mark.slow  # worker processes
def test_a_matrix_runs_in_worker_processes(
    store: Store, servers: tuple[FakeOpenAIServer, FakeOpenAIServer]
) -> None:
    a, b = servers
    result = run_experiment(matrix([bid(a), bid(b)], concurrency=4, workers=2), store)
    assert result.worker_cpu_s > 0.0 and result.status == "completed"
    assert Counter(r.backend for r in result.records) == {bid(a): 4, bid(b): 4}
    for server in (a, b):
        mine = [r for r in result.records if r.backend == bid(server)]
        assert server.stats.requests == sum(r.metrics.llm_calls for r in mine)


def test_a_matrix_job_runs_in_the_experiment_process_and_resumes_there(
    store: Store, servers: tuple[FakeOpenAIServer, FakeOpenAIServer]
) -> None:
    """The dashboard's path: every backend of the matrix opens in a fresh process, so the job
    runs in the experiment process, and a resume job runs only the missing runs."""
    a, b = servers
    job = ExperimentJob(matrix([bid(a), bid(b)], concurrency=4), store).start()
    assert job.elsewhere
    job.join(120)
    snap = job.snapshot()
    assert snap.error is None and snap.result is not None
    assert Counter(r.backend for r in snap.records) == {bid(a): 4, bid(b): 4}
    exp_id = snap.result.experiment_id
    exp = store.get_experiment(exp_id)
    assert exp is not None
    gone = next(r for r in snap.records if r.backend == bid(b))
    store.delete_experiment(exp_id)  # the experiment again, one run of B never stored
    store.import_experiment(dataclasses.replace(exp, status="interrupted"),
                            [r for r in snap.records if r.run_id != gone.run_id])
    resumed = ExperimentJob(ExperimentSpec(**exp.spec), store, resume_id=exp_id).start()
    assert resumed.snapshot().total == 1
    resumed.join(120)
    again = resumed.snapshot()
    assert again.error is None and [(r.form, r.backend, r.repetition) for r in again.records] \
        == [(gone.form, gone.backend, gone.repetition)]
    assert store.run_counts(exp_id).missing == 0


def test_a_matrix_survives_export_and_import(
    any_store: Store, servers: tuple[FakeOpenAIServer, FakeOpenAIServer], tmp_path: Path
) -> None:
    a, b = servers
    result = run_experiment(matrix([bid(a), bid(b)], concurrency=4), any_store)
    path = tmp_path / "matrix.json"
    path.write_bytes(export.export_file(any_store, result.experiment_id, "json").data)
    assert {r["backend"] for r in json.loads(path.read_text())["runs"]} == {bid(a), bid(b)}
    fresh = Store(tmp_path / "fresh.sqlite")
    try:
        importer.import_file(fresh, str(path))
        exp = fresh.get_experiment(result.experiment_id)
        assert exp is not None and exp.spec["backends"] == [bid(a), bid(b)]
        assert exp.backend == f"{bid(a)} + {bid(b)}"
        runs = fresh.load_runs([result.experiment_id])
        assert keyed(result.records).keys() == {
            (f, be, i, int(r)) for f, be, i, r in
            zip(runs["form"], runs["backend"], runs["input_id"], runs["repetition"],
                strict=True)}
        assert fresh.run_keys(result.experiment_id) == any_store.run_keys(result.experiment_id)
        assert fresh.run_counts(result.experiment_id).missing == 0
        for record in result.records:
            assert len(fresh.load_calls(record.run_id)) == record.metrics.llm_calls
    finally:
        fresh.close()


def test_one_run_per_planned_run_and_backend(
    any_store: Store, servers: tuple[FakeOpenAIServer, FakeOpenAIServer]
) -> None:
    """m008: the same (form, input, repetition) is stored once per backend."""
    a, b = servers
    result = run_experiment(matrix([bid(a), bid(b)], reps=1, concurrency=4), any_store)
    first = next(r for r in result.records if r.backend == bid(a))
    again = dataclasses.replace(first, run_id=first.run_id + "-copy", spans=[], calls=[],
                                outbox=[])
    assert any_store.save_run(again) is False  # a second copy of one planned run
    other = dataclasses.replace(again, run_id=first.run_id + "-other", backend="compat:other")
    assert any_store.save_run(other) is True  # the same planned run on another backend


def test_a_resumed_matrix_runs_only_its_missing_runs(
    store: Store, servers: tuple[FakeOpenAIServer, FakeOpenAIServer]
) -> None:
    a, b = servers
    cancel = CancelToken()

    def stop_after_three(p: Progress) -> None:
        if p.done >= 3:
            cancel.cancel()

    spec = matrix([bid(a), bid(b)], reps=3, concurrency=2)
    first = run_experiment(spec, store, on_progress=stop_after_three, cancel=cancel)
    assert first.status == "cancelled"
    exp_id = first.experiment_id
    done = store.run_keys(exp_id)
    assert 3 <= len(done) < 12
    requests = a.stats.requests + b.stats.requests
    resumed = resume_experiment(exp_id, store)
    assert resumed.status == "completed"
    planned = {p.key for p in prepare(spec).plan}
    assert set(keyed(resumed.records)) == planned - done
    assert store.run_keys(exp_id) == planned and store.run_counts(exp_id).missing == 0
    assert a.stats.requests + b.stats.requests - requests == sum(
        r.metrics.llm_calls for r in resumed.records)
    assert resume_experiment(exp_id, store).records == []  # nothing left to run


def test_a_replayed_matrix_serves_each_run_from_its_own_backend(
    store: Store, servers: tuple[FakeOpenAIServer, FakeOpenAIServer]
) -> None:
    a, b = servers
    source = run_experiment(matrix([bid(a), bid(b)], concurrency=4), store)
    requests = (a.stats.requests, b.stats.requests)
    exp = store.get_experiment(source.experiment_id)
    assert exp is not None
    spec = replay_spec(exp, speed=0.0)
    replays = [f"replay:{exp.experiment_id}:{bid(a)}", f"replay:{exp.experiment_id}:{bid(b)}"]
    assert spec.backends == replays and spec.backend == replays[0]
    replayed: ExperimentResult = run_experiment(spec, store)
    assert (a.stats.requests, b.stats.requests) == requests  # no server was asked
    assert replayed.status == "completed" and len(replayed.records) == 8
    recorded = keyed(source.records)
    for run in replayed.records:
        backend = run.backend.removeprefix(f"replay:{exp.experiment_id}:")
        original = recorded[(run.form, backend, run.input_id, run.repetition)]
        assert (run.status, run.metrics.path, run.final_output) == (
            original.status, original.metrics.path, original.final_output)
        assert [m.body for m in run.outbox] == [m.body for m in original.outbox]
        assert run.metrics.price_source == original.metrics.price_source
    again = store.get_experiment(replayed.experiment_id)
    assert again is not None and again.replay_of == exp.experiment_id
    with pytest.raises(BackendError, match="ran 2 backends"):
        run_experiment(dataclasses.replace(spec, backend=f"replay:{exp.experiment_id}",
                                           backends=[]), store)
    with pytest.raises(BackendError, match="no finished run on compat:nothing"):
        run_experiment(dataclasses.replace(
            spec, backends=[replays[0], f"replay:{exp.experiment_id}:compat:nothing"]), store)


def test_the_cli_runs_a_matrix_and_names_each_runs_backend(
    store: Store, servers: tuple[FakeOpenAIServer, FakeOpenAIServer],
    capsys: pytest.CaptureFixture[str],
) -> None:
    a, b = servers
    code = main(["--store", store.location, "run", "--scenario", "sales_email", "--forms",
                 "code,llm", "--input", "dana-acme", "--backend", bid(a), "--backend", bid(b),
                 "--concurrency", "4"])
    out, err = capsys.readouterr()
    assert code == 0, err
    progress = [line for line in err.splitlines() if line.startswith("[")]
    assert len(progress) == 4 and all(bid(a) in line or bid(b) in line for line in progress)
    header = out.splitlines()[0].split()
    assert header[:2] == ["form", "backend"]
    assert sum(bid(a) in line for line in out.splitlines()) == 2
    [exp] = store.list_experiments()
    assert exp.spec["backends"] == [bid(a), bid(b)]
    assert main(["--store", store.location, "list"]) == 0
    listed = capsys.readouterr().out
    assert f"{bid(a)} + {bid(b)}" in listed and "4/4 runs" in listed
    code = main(["--store", store.location, "run", "--scenario", "sales_email", "--forms",
                 "code", "--input", "dana-acme", "--backend", bid(a)])
    out, err = capsys.readouterr()
    assert code == 0 and out.splitlines()[0].split()[0] == "form"
    assert "backend" not in out.splitlines()[0]  # one backend: as before
    assert not [line for line in err.splitlines() if line.startswith("[") and bid(a) in line]
