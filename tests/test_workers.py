"""Runs spread over worker processes: same records as in-process, cancel, death, guard."""

from __future__ import annotations

import multiprocessing.forkserver
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from shapes import fake_server_spec as spec
from shapes import shape
from waiting import wait_until

from orchlab.running import shards, workers
from orchlab.running.jobs import ExperimentJob
from orchlab.running.runner import ExperimentSpec, SpecError, resume_experiment, run_experiment
from orchlab.store.store import Store
from orchlab.testing.devserver import FakeOpenAIServer
from orchlab.testing.scripted import scripted_backend

ROOT = Path(__file__).resolve().parent.parent

@pytest.fixture
def store(any_store: Store) -> Store:
    """This module's store tests run on SQLite and on a real PostgreSQL server."""
    return any_store


def test_shards_split_the_plan_and_the_concurrency() -> None:
    plan = list(range(10))
    parts = shards.shards(plan, 3, 8)  # type: ignore[arg-type]
    assert [p for p, _ in parts] == [[0, 3, 6, 9], [1, 4, 7], [2, 5, 8]]
    assert [k for _, k in parts] == [3, 3, 2]
    assert len(shards.shards(plan, 4, 2)) == 2  # never more workers than slots  # type: ignore[arg-type]
    assert shards.shards(plan[:1], 4, 4) == [([0], 4)]  # type: ignore[list-item]


@pytest.mark.slow  # worker processes
def test_workers_record_what_one_process_records(store: Store) -> None:
    with FakeOpenAIServer(latency_s=0.02) as server:
        alone = run_experiment(spec(server, 6, concurrency=4), store)
        spread = run_experiment(spec(server, 6, concurrency=4, workers=2), store)
    assert alone.worker_cpu_s == 0.0 and spread.worker_cpu_s > 0.0  # the runs left this process
    assert spread.status == "completed" and len(spread.records) == 12
    assert shape(spread.records) == shape(alone.records)
    assert all(r.status == "ok" and r.outcome["success"] for r in spread.records)
    assert store.count_runs(spread.experiment_id) == 12
    assert store.get_experiment(spread.experiment_id).status == "completed"
    stored = store.load_runs([spread.experiment_id])
    assert sorted(stored["run_id"]) == sorted(r.run_id for r in spread.records)
    assert len(store.load_spans(spread.records[0].run_id)) == len(spread.records[0].spans)


@pytest.mark.slow  # worker processes
def test_workers_see_the_environment_of_the_moment(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A fork server keeps the environment it started with; workers must not."""
    with FakeOpenAIServer(latency_s=0.0) as server:
        run_experiment(spec(server, 1, concurrency=2, workers=2), store)  # fork server is up
        monkeypatch.setenv("ORCHLAB_COMPAT_API_KEY", "sk-set-later")
        monkeypatch.setenv("ORCHLAB_COMPAT_BASE_URL", server.base_url)
        server.api_key = "sk-set-later"  # the server now refuses any other key
        result = run_experiment(spec(server, 2, concurrency=2, workers=2), store)
    assert [r.status for r in result.records] == ["ok"] * 4, result.records[0].error_message


@pytest.mark.slow  # worker processes
def test_cancel_stops_every_worker_and_keeps_finished_runs(store: Store) -> None:
    with FakeOpenAIServer(latency_s=0.2) as server:
        job = ExperimentJob(spec(server, 40, concurrency=4, workers=2), store).start()
        wait_until(lambda: len(job.snapshot().records) >= 2, poll_s=0.05)
        job.cancel()
        job.join(60)
        snap = job.snapshot()
        requests_at_end = server.stats.requests
        time.sleep(1.0)
        assert server.stats.requests == requests_at_end  # no worker is still calling the model
    assert snap.finished and snap.result is not None and snap.result.status == "cancelled"
    assert 2 <= len(snap.records) < 80
    assert store.count_runs(snap.result.experiment_id) == len(snap.records)
    assert {r.status for r in snap.records} <= {"ok", "cancelled"}


def _kill_a_worker_when_runs_are_in_flight(server: FakeOpenAIServer) -> None:
    """SIGKILL one of this experiment's workers: a child of the fork server that was not
    there before it began (the dashboard's experiment process of an earlier test is one too)."""
    before = set(_forkserver_children())
    wait_until(lambda: server.stats.requests >= 6, poll_s=0.02)
    workers_now = [pid for pid in _forkserver_children() if pid not in before]
    os.kill(workers_now[0], signal.SIGKILL)


def _forkserver_children() -> list[int]:
    forkserver = multiprocessing.forkserver._forkserver._forkserver_pid  # type: ignore[attr-defined]
    return [int(p.name) for p in Path("/proc").iterdir() if p.name.isdigit()
            and _ppid(p) == forkserver]


def _ppid(proc: Path) -> int | None:
    try:
        return int((proc / "stat").read_text().rsplit(")", 1)[1].split()[1])
    except (OSError, IndexError, ValueError):
        return None


@pytest.mark.slow  # worker processes
@pytest.mark.skipif(not Path("/proc").is_dir(), reason="finds the worker through /proc")
def test_a_dead_worker_interrupts_the_experiment_and_resume_finishes_it(store: Store) -> None:
    with FakeOpenAIServer(latency_s=0.1) as server:
        killer = threading.Thread(target=_kill_a_worker_when_runs_are_in_flight, args=(server,))
        killer.start()
        with pytest.raises(workers.WorkerError, match="exited with code -9"):
            run_experiment(spec(server, 20, concurrency=4, workers=2), store)
        killer.join()
        experiment = store.list_experiments()[0]
        assert experiment.status == "interrupted"
        kept = store.count_runs(experiment.experiment_id)
        assert kept < 40  # the dead worker's remaining runs never ran
        resumed = resume_experiment(experiment.experiment_id, store)
    assert resumed.status == "completed" and len(resumed.records) == 40 - kept
    assert store.count_runs(experiment.experiment_id) == 40


@pytest.mark.slow  # an experiment process and its workers
def test_workers_stop_when_the_parent_is_killed(tmp_path: Path) -> None:
    """Nobody would store their runs: they must not go on calling (and paying for) the model."""
    with FakeOpenAIServer(latency_s=0.2) as server:
        parent = subprocess.Popen(
            [sys.executable, "-m", "orchlab", "--store", str(tmp_path / "s.sqlite"), "run",
             "--scenario", "sales_email", "--repeat", "50", "--concurrency", "4",
             "--workers", "2", "--backend", f"compat:fake-model@{server.base_url}"],
            cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        )
        wait_until(lambda: server.stats.requests >= 8, poll_s=0.05)
        parent.kill()
        parent.wait()
        time.sleep(2.0)  # in-flight calls finish; the workers notice within 0.05 s
        settled = server.stats.requests
        time.sleep(1.5)
        assert server.stats.requests == settled
    assert settled < 50 * 2 * 6


def _guard_state(results: Any) -> None:
    import socket

    results.put(socket.socket.connect.__name__)


@pytest.mark.slow  # worker processes
def test_worker_processes_carry_the_network_guard() -> None:
    ctx = workers.process_context()
    results = ctx.Queue()
    proc = ctx.Process(target=_guard_state, args=(results,))
    proc.start()
    assert results.get(timeout=60) == "_guarded_connect"
    proc.join(10)


def test_workers_need_a_backend_each_process_can_open(store: Store) -> None:
    backend = scripted_backend({})
    with pytest.raises(SpecError, match="workers > 1 needs a backend"):
        run_experiment(ExperimentSpec("sales_email", workers=2), store, backend=backend)
    with pytest.raises(SpecError, match="workers must be between 1 and"):
        run_experiment(ExperimentSpec("sales_email", workers=0), store, backend=backend)
    assert store.list_experiments() == []  # nothing half-made is left behind


@pytest.mark.slow  # worker processes
@pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="counts /proc/self/fd")
def test_worker_experiments_leave_no_open_handles(store: Store) -> None:
    """A dashboard runs many experiments in one process: pipes and sentinels must not pile up."""
    with FakeOpenAIServer(latency_s=0.0) as server:
        run_experiment(spec(server, 1, concurrency=2, workers=2), store)  # fork server is up
        before = len(list(Path("/proc/self/fd").iterdir()))
        for _ in range(3):
            run_experiment(spec(server, 1, concurrency=2, workers=2), store)
        after = len(list(Path("/proc/self/fd").iterdir()))
    assert after <= before
