"""A running experiment is judged by its pid on its own host and by its heartbeat from any
other host (a store shared between machines), never by a pid that means nothing here."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from sales_scripts import slow_sales_backend

from orchlab.core.records import ExperimentRecord, utcnow
from orchlab.running import runner
from orchlab.running.runner import ExperimentSpec, arun_experiment
from orchlab.store import store as store_module
from orchlab.store.store import HOST, STALE_AFTER_S, Store


def running(exp_id: str, host: str | None, beat_ago_s: float | None,
            pid: int | None = 999_999_999) -> ExperimentRecord:
    beat = utcnow() - timedelta(seconds=beat_ago_s) if beat_ago_s is not None else None
    return ExperimentRecord(exp_id, "sales_email", "scripted:sales", utcnow(), {}, 1,
                            status="running", pid=pid, host=host, heartbeat_at=beat)


def test_another_hosts_experiment_is_judged_by_its_heartbeat(store_location: str) -> None:
    path = store_location
    first = Store(path)
    first.save_experiment(running("exp-fresh", "laptop-b", beat_ago_s=5))
    first.save_experiment(running("exp-stale", "laptop-b", beat_ago_s=STALE_AFTER_S + 5))
    first.save_experiment(running("exp-silent", "laptop-b", beat_ago_s=None))
    first.save_experiment(running("exp-mine-dead", HOST, beat_ago_s=1))  # its pid is gone
    first.close()
    statuses = {e.experiment_id: e.status for e in Store(path).list_experiments()}
    assert statuses == {"exp-fresh": "running", "exp-stale": "interrupted",
                        "exp-silent": "interrupted", "exp-mine-dead": "interrupted"}


def test_a_pid_that_lives_here_does_not_keep_another_hosts_experiment_alive(
        any_store: Store) -> None:
    import os

    store = any_store
    store.save_experiment(running("exp-b", "laptop-b", beat_ago_s=STALE_AFTER_S * 2,
                                  pid=os.getppid()))  # a live pid on this host, not its own
    assert store.mark_interrupted() == ["exp-b"]


def test_a_running_experiment_beats_while_it_runs(any_store: Store,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(runner, "HEARTBEAT_S", 0.05)
    store = any_store
    beats: list[str] = []
    real_beat = store.beat

    def beat(exp_id: str) -> None:
        real_beat(exp_id)
        beats.append(exp_id)

    monkeypatch.setattr(store, "beat", beat)
    spec = ExperimentSpec("sales_email", forms=["code"], inputs=["dana-acme"], repetitions=5,
                          concurrency=1, backend="scripted:sales")
    slow = slow_sales_backend()
    result = asyncio.run(arun_experiment(spec, store, backend=slow))
    exp = store.get_experiment(result.experiment_id)
    assert exp is not None and exp.host == store_module.HOST and exp.heartbeat_at is not None
    assert beats and set(beats) == {result.experiment_id}
    assert exp.status == "completed"
