"""What a run records is the model's time: store work never runs where runs are timed.

The timing itself is measured by `bench/disturbance.py` (a benchmark, not a timed test); here
the mechanisms it rests on: commits run on a thread of their own, not on the event loop that
times runs, and a read that builds a large frame holds nothing a commit needs.
"""

from __future__ import annotations

import dataclasses
import threading
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from sales_scripts import sales_backend

from orchlab.running.runner import run_experiment
from orchlab.running.spec import ExperimentSpec
from orchlab.store.store import Store
from orchlab.testing.stores import HookedStore


def test_runs_are_committed_off_the_event_loop(tmp_path: Path) -> None:
    committed_on: list[threading.Thread] = []
    loop_thread = threading.current_thread()  # asyncio.run drives the loop on this thread

    store = HookedStore(Store(tmp_path / "store.sqlite"),
                        lambda _n, _run: committed_on.append(threading.current_thread()))
    spec = ExperimentSpec("sales_email", inputs=["dana-acme"], repetitions=2)
    result = run_experiment(spec, store, backend=sales_backend())
    store.close()
    assert result.status == "completed" and len(committed_on) == 4
    assert loop_thread not in committed_on, "a commit ran on the loop that times the runs"


def test_a_commit_does_not_wait_for_a_read_building_its_frame(
    any_store: Store, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A page reading 10,000 runs takes a while to build its frame; a run that finishes
    meanwhile is committed at once, not after the frame (on both engines)."""
    first = run_experiment(ExperimentSpec("sales_email", inputs=["dana-acme"]), any_store,
                           backend=sales_backend())
    building, release = threading.Event(), threading.Event()
    real = pd.DataFrame.from_records

    def slow_frame(*args: Any, **kwargs: Any) -> pd.DataFrame:
        building.set()
        assert release.wait(30), "the test never released the read"
        return real(*args, **kwargs)

    monkeypatch.setattr(pd.DataFrame, "from_records", slow_frame)
    reader = threading.Thread(target=any_store.load_runs, args=([first.experiment_id],))
    reader.start()
    try:
        assert building.wait(30)
        another = dataclasses.replace(first.records[0], run_id="r-during-read",
                                      repetition=1)  # another planned run: stored once each
        writer = threading.Thread(target=any_store.save_run, args=(another,))
        writer.start()
        writer.join(10)
        committed = not writer.is_alive()
    finally:
        release.set()
        reader.join(30)
    writer.join(30)
    assert committed, "the commit waited for a read to build its frame"
    assert any_store.count_runs(first.experiment_id) == len(first.records) + 1
