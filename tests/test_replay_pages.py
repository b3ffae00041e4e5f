"""Replay from the dashboard: History starts a replay, and says when one is not possible."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from apptest_pages import app_on
from sales_scripts import sales_backend

from orchlab.running.jobs import ExperimentJob
from orchlab.running.runner import ExperimentSpec, run_experiment
from orchlab.store.store import Store


def recorded(store_path: Path) -> str:
    spec = ExperimentSpec("sales_email", forms=["code", "llm"], inputs=["dana-acme"],
                          backend="scripted:sales")
    return run_experiment(spec, Store(store_path), backend=sales_backend()).experiment_id


def test_history_replays_the_chosen_experiment_on_the_run_page(app_env: Path) -> None:
    source = recorded(app_env)
    at = app_on("views/history.py")
    assert any(c.value.startswith("Replayable: its model calls") for c in at.caption)
    at.slider(key="history_replay_speed").set_value(0.0).run()
    at.button(key="history_replay").click().run()
    assert not at.exception, at.exception
    job: ExperimentJob = at.session_state["run_job"]
    assert job.spec.backend == f"replay:{source}" and job.spec.replay_speed == 0.0
    job.join(60)
    snap = job.snapshot()
    assert snap.error is None and snap.result is not None
    assert {r.status for r in snap.records} == {"ok"} and len(snap.records) == 2
    replay = Store(app_env).get_experiment(snap.result.experiment_id)
    assert replay is not None and replay.replay_of == source


def test_history_says_an_old_experiment_is_not_replayable(app_env: Path) -> None:
    source = recorded(app_env)
    with sqlite3.connect(app_env) as conn:  # as m005 leaves experiments stored before it
        conn.execute("UPDATE experiments SET records_calls=0 WHERE experiment_id=?", (source,))
    at = app_on("views/history.py")
    assert any(c.value == "Replay: not replayable: stored before model calls were recorded."
               for c in at.caption)
    assert not [b for b in at.button if b.key == "history_replay"]
