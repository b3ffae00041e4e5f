"""ExperimentJob: dashboard jobs share cached backends, so they share one event loop.

The dashboard resolves a backend once per process (st.cache_resource) and hands the same object
to every job; an AsyncOpenAI/httpx client may only be used on the loop it first ran on. A run
may fail only for a reason of its own: never because another job ran before or beside it.
"""

from __future__ import annotations

import dataclasses
import sqlite3
import time
from datetime import timedelta
from typing import Any

from sales_scripts import sales_backend
from waiting import wait_until

from orchlab import backends
from orchlab.backends import Backend
from orchlab.core.records import RunRecord
from orchlab.running.jobs import ExperimentJob, JobSnapshot
from orchlab.running.runner import ExperimentSpec
from orchlab.store.store import Store
from orchlab.testing.devserver import FakeOpenAIServer
from orchlab.testing.scripted import DelayedModel
from orchlab.testing.stores import HookedStore, fails_after

CALLS_PER_RUN = {"code": 4, "llm": 6}  # sales_email against the fake server's policy


def spec(backend: Backend, reps: int, *, forms: tuple[str, ...] = ("code", "llm"),
         concurrency: int = 4) -> ExperimentSpec:
    return ExperimentSpec("sales_email", forms=list(forms), inputs=["dana-acme"],
                          repetitions=reps, concurrency=concurrency, backend=backend.id)


def finished(job: ExperimentJob, timeout: float = 120) -> JobSnapshot:
    job.join(timeout)
    snap = job.snapshot()
    assert snap.finished, "the job did not finish in time"
    assert snap.error is None, snap.error
    assert snap.result is not None and snap.result.status == "completed"
    return snap


def failures(records: list[RunRecord]) -> list[tuple[Any, ...]]:
    return [(r.form, r.status, r.error_class, r.error_message) for r in records
            if r.status != "ok" or r.error_class is not None]


def overlaps(records: list[RunRecord], slack_ms: float = 2.0) -> list[tuple[str, str]]:
    """Pairs of runs whose [started_at, started_at + wall_ms] intervals intersect."""
    ordered = sorted(records, key=lambda r: r.started_at)
    return [(a.run_id, b.run_id) for a, b in zip(ordered, ordered[1:], strict=False)
            if b.started_at + timedelta(milliseconds=slack_ms)
            < a.started_at + timedelta(milliseconds=a.metrics.wall_ms)]


def test_jobs_one_after_another_share_one_cached_backend(store: Store) -> None:
    with FakeOpenAIServer(latency_s=0.01, keep_alive=True) as server:
        backend = backends.resolve(f"compat:fake-model@{server.base_url}")  # once, as cached
        snaps = [finished(ExperimentJob(spec(backend, 5), store, backend=backend).start())
                 for _ in range(3)]
        served = server.stats.requests
    for snap in snaps:
        assert len(snap.records) == 10 and failures(snap.records) == []
        assert store.count_runs(snap.result.experiment_id) == 10  # type: ignore[union-attr]
    assert served == 3 * 5 * sum(CALLS_PER_RUN.values())


def test_jobs_at_once_share_one_cached_backend(store: Store) -> None:
    with FakeOpenAIServer(latency_s=0.02, keep_alive=True) as server:
        backend = backends.resolve(f"compat:fake-model@{server.base_url}")
        jobs = [ExperimentJob(spec(backend, 5), store, backend=backend).start()
                for _ in range(2)]
        snaps = [finished(job) for job in jobs]
        served = server.stats.requests
    for snap in snaps:
        assert len(snap.records) == 10 and failures(snap.records) == []
    started = sorted(r.started_at for s in snaps for r in s.records)
    assert len(started) == 20
    assert served == 2 * 5 * sum(CALLS_PER_RUN.values())


def one_at_a_time_backend(delay_s: float = 0.01) -> Backend:
    """Like the embedded model: one request at a time for the whole process."""
    scripted = sales_backend()
    return dataclasses.replace(
        scripted, id="scripted:one-at-a-time", max_concurrency=1,
        make_model=lambda name: DelayedModel(scripted.make_model(name), delay_s))


def test_jobs_at_once_on_a_one_request_backend_queue_run_by_run(store: Store) -> None:
    backend = one_at_a_time_backend()
    jobs = [ExperimentJob(spec(backend, 3), store, backend=backend).start() for _ in range(2)]
    snaps = [finished(job) for job in jobs]
    records = [r for s in snaps for r in s.records]
    assert len(records) == 12 and failures(records) == []
    assert overlaps(records) == []


def test_a_job_that_cannot_start_its_backend_ends_with_an_error(store: Store) -> None:
    with FakeOpenAIServer() as server:
        dead_url = server.base_url
    job = ExperimentJob(ExperimentSpec("sales_email", backend=f"compat:fake-model@{dead_url}"),
                        store).start()
    job.join(30)
    snap = job.snapshot()
    assert snap.finished and snap.result is None
    assert snap.error is not None and snap.error.startswith("No OpenAI-compatible")
    assert store.list_experiments() == []


def test_a_job_failing_inside_the_experiment_ends_with_an_error_and_the_next_job_runs(
    store: Store,
) -> None:
    backend = sales_backend()
    full = HookedStore(store, fails_after(0, lambda: sqlite3.OperationalError("disk I/O error")))
    job = ExperimentJob(spec(backend, 2), full, backend=backend).start()
    job.join(30)
    snap = job.snapshot()
    assert snap.finished and snap.result is None
    assert snap.error is not None and snap.error.startswith(
        f"The store {store.shown} failed while saving a run (disk I/O error): the "
        "experiment stopped with 0 finished runs stored; resume exp-")
    assert store.list_experiments()[0].status == "interrupted"
    after = finished(ExperimentJob(spec(backend, 2), store, backend=backend).start())
    assert len(after.records) == 4 and failures(after.records) == []


def test_cancel_stops_one_job_and_leaves_the_other_running(store: Store) -> None:
    with FakeOpenAIServer(latency_s=0.05, keep_alive=True) as server:
        backend = backends.resolve(f"compat:fake-model@{server.base_url}")
        doomed = ExperimentJob(spec(backend, 40), store, backend=backend).start()
        kept = ExperimentJob(spec(backend, 3), store, backend=backend).start()
        wait_until(lambda: len(doomed.snapshot().records) >= 2, poll_s=0.02)
        doomed.cancel()
        doomed.join(30)
        snap = doomed.snapshot()
        at_end = server.stats.requests
        kept_snap = finished(kept)
        time.sleep(0.5)
        assert server.stats.requests - at_end <= 3 * sum(CALLS_PER_RUN.values())
    assert snap.finished and snap.error is None
    assert snap.result is not None and snap.result.status == "cancelled"
    assert 2 <= len(snap.records) < 80
    assert {r.status for r in snap.records} <= {"ok", "cancelled"}
    assert store.count_runs(snap.result.experiment_id) == len(snap.records)
    assert len(kept_snap.records) == 6 and failures(kept_snap.records) == []


def test_resume_job_runs_only_the_missing_runs(store: Store) -> None:
    from orchlab.running.runner import CancelToken, run_experiment

    backend = sales_backend()
    cancel = CancelToken()
    first = run_experiment(spec(backend, 4, forms=("code",), concurrency=1), store,
                           backend=backend, on_progress=lambda _p: cancel.cancel(),
                           cancel=cancel)
    assert first.status == "cancelled" and store.count_runs(first.experiment_id) == 1
    resumed = ExperimentJob(spec(backend, 4, forms=("code",), concurrency=1), store,
                            backend=backend, resume_id=first.experiment_id).start()
    assert resumed.snapshot().total == 3 and resumed.snapshot().planned_by_form == {"code": 3}
    snap = finished(resumed)
    assert len(snap.records) == 3 and store.count_runs(first.experiment_id) == 4
    experiment = store.get_experiment(first.experiment_id)
    assert experiment is not None and experiment.status == "completed"


# -- the dashboard's experiment process --------------------------------------------------------


def test_a_job_on_a_server_runs_in_the_experiment_process_and_the_race_sees_its_spans(
    store: Store,
) -> None:
    """Page scripts cannot take its CPU: the experiment's pid is another process's, its runs
    are committed there, and the spans of runs in flight still reach this process."""
    import os

    seen_spans: list[int] = []
    # Runs long enough to span a live report (the experiment process reports once a second)
    with FakeOpenAIServer(latency_s=0.4, keep_alive=True) as server:
        backend = backends.resolve(f"compat:fake-model@{server.base_url}")
        job = ExperimentJob(spec(backend, 3, concurrency=2), store, backend=backend).start()
        assert job.elsewhere

        def live_spans() -> bool:
            snap = job.snapshot()
            for run in snap.in_flight:
                spans, _open = job.peek(run.run_id, run.started_at, run.started_at)
                seen_spans.append(len(spans))
            return any(seen_spans) or snap.finished

        wait_until(live_spans, timeout_s=60, what="spans of a run in flight")
        snap = finished(job)
    assert any(seen_spans), "the race never saw a span of a run in flight"
    assert len(snap.records) == 6 and failures(snap.records) == []
    experiment = store.get_experiment(snap.result.experiment_id)  # type: ignore[union-attr]
    assert experiment is not None and experiment.status == "completed"
    assert experiment.pid != os.getpid()
    assert store.count_runs(experiment.experiment_id) == 6
    if hasattr(os, "getsid"):  # a session of its own: scheduled as a group apart from pages
        assert os.getsid(experiment.pid) == experiment.pid  # type: ignore[arg-type]


def test_a_backend_registered_here_runs_its_job_here(store: Store) -> None:
    """A test's scripted models exist only in this process: their job runs on its job loop."""
    import os

    backend = sales_backend()
    job = ExperimentJob(spec(backend, 1), store, backend=backend).start()
    snap = finished(job)
    assert not job.elsewhere
    experiment = store.get_experiment(snap.result.experiment_id)  # type: ignore[union-attr]
    assert experiment is not None and experiment.pid == os.getpid()


def test_a_killed_experiment_process_ends_its_job_in_one_sentence_and_the_next_starts_anew(
    store: Store,
) -> None:
    import os
    import signal

    with FakeOpenAIServer(latency_s=0.1, keep_alive=True) as server:
        backend = backends.resolve(f"compat:fake-model@{server.base_url}")
        job = ExperimentJob(spec(backend, 30, concurrency=2), store, backend=backend).start()
        wait_until(lambda: len(job.snapshot().records) >= 2, what="two finished runs")
        running = [e for e in store.list_experiments() if e.status == "running"]
        assert len(running) == 1 and running[0].pid not in (None, os.getpid())
        os.kill(running[0].pid, signal.SIGKILL)  # type: ignore[arg-type]
        job.join(30)
        snap = job.snapshot()
        assert snap.finished and snap.result is None
        assert snap.error == (
            "The dashboard's experiment process stopped (exit code -9); runs it "
            "finished are stored, and History resumes the experiment.")
        reopened = Store(store.location)  # the next reader finds the experiment's pid gone
        experiment = reopened.get_experiment(running[0].experiment_id)
        reopened.close()
        assert experiment is not None and experiment.status == "interrupted"
        assert store.count_runs(experiment.experiment_id) >= 2
        after = finished(ExperimentJob(spec(backend, 1), store, backend=backend).start())
    assert len(after.records) == 2 and failures(after.records) == []
