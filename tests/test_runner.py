"""Runner: bounded concurrency, failures become records, cancel keeps finished runs."""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any

import pytest
from agents.testing import assistant_message
from sales_scripts import sales_backend, step, writer_script

from orchlab.backends.traced import INTERRUPTED
from orchlab.core.errors import StoreError
from orchlab.running.runner import (
    CancelToken,
    ExperimentSpec,
    SpecError,
    arun_experiment,
    run_experiment,
)
from orchlab.store.store import Store
from orchlab.testing.stores import HookedStore, fails_after


@pytest.fixture
def store(any_store: Store) -> Store:
    """This module's store tests run on SQLite and on a real PostgreSQL server."""
    return any_store


def test_twenty_runs_one_raising_gives_twenty_records_one_error(store: Store) -> None:
    calls = {"n": 0}
    lock = threading.Lock()

    def flaky_picker() -> list[Any]:
        with lock:
            calls["n"] += 1
            if calls["n"] == 7:
                return [RuntimeError("picker exploded")]
        return [step([assistant_message("concise")], (10, 1))]

    spec = ExperimentSpec("sales_email", forms=["code"], inputs=["dana-acme"],
                          repetitions=20, concurrency=5)
    result = run_experiment(spec, store, backend=sales_backend(picker=flaky_picker))
    assert len(result.records) == 20
    errors = [r for r in result.records if r.status == "error"]
    assert len(errors) == 1
    assert errors[0].error_type == "RuntimeError"
    assert "picker exploded" in errors[0].error_message
    assert errors[0].outcome["emails_sent"] == 0
    assert store.count_runs(result.experiment_id) == 20
    assert store.get_experiment(result.experiment_id).status == "completed"


def test_concurrency_is_bounded(store: Store) -> None:
    in_flight = {"now": 0, "max": 0}

    async def slow_writer_reply(_call: Any) -> Any:
        in_flight["now"] += 1
        in_flight["max"] = max(in_flight["max"], in_flight["now"])
        await asyncio.sleep(0.02)
        in_flight["now"] -= 1
        return [assistant_message("Subject: s\n\nbody")]

    from agents.testing.model import ModelStep

    writer = lambda: [ModelStep.respond(slow_writer_reply)]  # noqa: E731
    backend = sales_backend(professional_writer=writer, humorous_writer=writer,
                            concise_writer=writer)
    spec = ExperimentSpec("sales_email", forms=["code"], inputs=["dana-acme"],
                          repetitions=8, concurrency=2)
    run_experiment(spec, store, backend=backend)
    assert in_flight["max"] <= 2 * 3  # 2 runs in flight, 3 writers each
    assert in_flight["max"] >= 3  # the writers of one run did overlap


def test_cancel_keeps_every_finished_run(store: Store) -> None:
    cancel = CancelToken()
    finished: list[str] = []

    async def slow_picker_reply(_call: Any) -> Any:
        await asyncio.sleep(0.05)
        return [assistant_message("concise")]

    from agents.testing.model import ModelStep

    def on_progress(progress: Any) -> None:
        finished.append(progress.record.run_id)
        if len(finished) == 3:
            cancel.cancel()

    backend = sales_backend(picker=lambda: [ModelStep.respond(slow_picker_reply)])
    spec = ExperimentSpec("sales_email", forms=["code"], inputs=["dana-acme"],
                          repetitions=30, concurrency=2)
    result = asyncio.run(arun_experiment(spec, store, backend=backend, on_progress=on_progress,
                                         cancel=cancel))
    assert result.status == "cancelled"
    assert 3 <= len(result.records) < 30
    stored = store.load_runs([result.experiment_id])
    assert set(finished) <= set(stored["run_id"])
    assert len(stored) == len(result.records)
    ok = stored[stored["status"] == "ok"]
    assert len(ok) >= 3
    assert set(stored["status"]) <= {"ok", "cancelled"}
    assert store.get_experiment(result.experiment_id).status == "cancelled"


def test_a_run_whose_save_a_cancel_interrupts_is_counted_as_stored(store: Store) -> None:
    """The result (and the progress it reports) counts every run the store holds, so a page
    that says "n runs stored" after a cancel tells the truth."""
    cancel = CancelToken()
    seen: list[str] = []

    def cancel_in_second_save(number: int, _record: Any) -> None:
        # The second save asks for a cancel and is still writing when the cancel reaches the
        # run that is committing: the save completes, so the run is stored.
        if number == 2:
            cancel.cancel()
            time.sleep(0.4)  # the cancel watcher looks every 0.05 s

    slow = HookedStore(store, cancel_in_second_save)
    spec = ExperimentSpec("sales_email", forms=["code"], inputs=["dana-acme"],
                          repetitions=5, concurrency=1)
    result = asyncio.run(arun_experiment(spec, slow, backend=sales_backend(), cancel=cancel,
                                         on_progress=lambda p: seen.append(p.record.run_id)))
    assert result.status == "cancelled"
    stored = store.load_runs([result.experiment_id])
    assert len(stored) == 2
    assert sorted(r.run_id for r in result.records) == sorted(stored["run_id"]) == sorted(seen)


def test_timeout_is_recorded_with_the_spans_so_far(store: Store) -> None:
    async def hang(_call: Any) -> Any:
        await asyncio.sleep(5)
        return [assistant_message("late")]

    from agents.testing.model import ModelStep

    backend = sales_backend(picker=lambda: [ModelStep.respond(hang)])
    spec = ExperimentSpec("sales_email", forms=["code"], inputs=["dana-acme"], timeout_s=0.3)
    record = run_experiment(spec, store, backend=backend).records[0]
    assert record.status == "timeout"
    assert record.metrics.wall_ms < 3000
    # the picker's call was made but never answered: it counts as a call, with no tokens
    assert record.metrics.llm_calls == 4
    gens = [s for s in record.spans if s.kind == "generation"]
    picker_gen = [s for s in gens if s.agent == "picker"]
    assert len(picker_gen) == 1 and picker_gen[0].output_tokens == 0
    assert picker_gen[0].error == INTERRUPTED
    assert all(s.error is None for s in gens if s.agent != "picker")


@pytest.mark.parametrize("field,value,needle", [
    ("repetitions", 0, "repetitions"), ("repetitions", 100000, "repetitions"),
    ("concurrency", 0, "concurrency"), ("forms", ["magic"], "forms"),
    ("inputs", ["nobody"], "no input 'nobody'"),
])
def test_bad_specs_are_refused_before_anything_runs(store: Store, field, value, needle) -> None:
    spec = ExperimentSpec("sales_email", **{field: value})
    with pytest.raises((SpecError, LookupError), match=needle):
        run_experiment(spec, store, backend=sales_backend())
    assert store.list_experiments() == []


def test_writer_script_is_consumed_per_run() -> None:
    assert len(writer_script("concise_writer")) == 1


def test_agents_are_reused_only_when_every_run_gets_the_same_models() -> None:
    from agents.testing import ScriptedModel

    from orchlab.backends import Backend
    from orchlab.running.execution import RunContext
    from orchlab.running.runner import prepare

    prepared = prepare(ExperimentSpec("sales_email", backend="x:y"))
    spec, scenario, defs = prepared.spec, prepared.scenario, prepared.defs
    model = ScriptedModel([])
    shared = Backend(id="x:y", model_name="m", make_model=lambda _n: model, shared_models=True)
    ctx = RunContext(spec, scenario, shared, defs, "exp")
    assert ctx.agents() is ctx.agents()
    assert ctx.agents()["sales_manager"].model.inner is model  # inside its call recorder
    fresh = RunContext(spec, scenario, sales_backend(), defs, "exp")  # one script per run
    first, second = fresh.agents(), fresh.agents()
    assert first is not second
    assert first["picker"].model is not second["picker"].model


def test_a_store_that_fails_mid_experiment_is_reported_and_leaves_no_running_experiment(
    store_path: Any,
) -> None:
    store = HookedStore(Store(store_path), fails_after(2, lambda: OSError("disk full")))
    spec = ExperimentSpec("sales_email", inputs=["dana-acme"], repetitions=3, concurrency=1)
    with pytest.raises(StoreError, match=r"failed while saving a run \(disk full\)"):
        run_experiment(spec, store, backend=sales_backend())
    experiment = store.list_experiments()[0]
    assert experiment.status == "interrupted"  # resumable, not stuck as running
    assert store.count_runs(experiment.experiment_id) == 2


def test_a_resume_whose_backend_cannot_start_changes_nothing(store: Store) -> None:
    from orchlab.backends import BackendError
    from orchlab.running.runner import resume_experiment

    spec = ExperimentSpec("sales_email", inputs=["dana-acme"], repetitions=1,
                          backend="compat:m@http://127.0.0.1:9/v1")  # nothing listens there
    first = run_experiment(spec, store, backend=sales_backend())
    store.finish_experiment(first.experiment_id, "interrupted")
    with pytest.raises(BackendError, match="No OpenAI-compatible server answered"):
        resume_experiment(first.experiment_id, store)
    experiment = store.get_experiment(first.experiment_id)
    assert experiment is not None and experiment.status == "interrupted"  # not stuck "running"
    assert store.count_runs(first.experiment_id) == 2
