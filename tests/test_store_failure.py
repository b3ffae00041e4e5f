"""A store that fails while an experiment runs stops it at once.

No further model call is made for runs that could not be saved (they would be paid for and
lost), the experiment ends interrupted and resumable, and the user reads one sentence naming
the store. Before, `execute_plan` let every remaining run call the model first, and all of
them were lost.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from orchlab.core.errors import StoreError
from orchlab.running.runner import resume_experiment, run_experiment
from orchlab.running.spec import ExperimentSpec
from orchlab.store.store import Store
from orchlab.testing.devserver import FakeOpenAIServer
from orchlab.testing.pgserver import PostgresServer, pg_bin
from orchlab.testing.stores import HookedStore, fails_after

PLAN = dict(forms=["code", "llm"], inputs=["dana-acme"], repetitions=10, concurrency=2)
"""20 runs, two at a time: a failure after a few leaves most of the plan unstarted."""


def calls_per_run(server: FakeOpenAIServer, tmp_path: Path) -> int:
    """The most model calls one run of either form makes against this server."""
    store = Store(tmp_path / "probe.sqlite")
    spec = ExperimentSpec("sales_email", backend=f"compat:fake-model@{server.base_url}",
                          forms=PLAN["forms"], inputs=PLAN["inputs"])
    result = run_experiment(spec, store)
    store.close()
    return max(r.metrics.llm_calls for r in result.records)


def test_a_full_disk_stops_the_experiment_before_another_model_call(tmp_path: Path) -> None:
    # A SQLite store whose disk fills after three runs.
    store = HookedStore(Store(tmp_path / "store.sqlite"),
                        fails_after(3, lambda: OSError(28, "No space left on device")))
    with FakeOpenAIServer(latency_s=0.02) as server:
        most = calls_per_run(server, tmp_path)
        before = server.stats.requests
        spec = ExperimentSpec("sales_email", backend=f"compat:fake-model@{server.base_url}",
                              **PLAN)
        with pytest.raises(StoreError) as raised:
            run_experiment(spec, store)
        calls_at_failure = server.stats.requests - before
        experiment = store.list_experiments()[0]
        sentence = str(raised.value)
        assert sentence == (
            f"The store {store.shown} failed while saving a run ([Errno 28] No space left on "
            f"device): the experiment stopped with 3 finished runs stored; resume "
            f"{experiment.experiment_id} when the store works again.")
        assert experiment.status == "interrupted"
        assert store.count_runs(experiment.experiment_id) == 3
        # Runs in flight when the commit failed (at most the concurrency, the failed one
        # included) made their calls; none started after.
        assert calls_at_failure <= (3 + PLAN["concurrency"]) * most

        store.before_save = lambda _n, _run: None  # room again: resume runs the rest, once
        result = resume_experiment(experiment.experiment_id, store)
    assert result.status == "completed"
    counts = store.run_counts(experiment.experiment_id)
    assert (counts.finished, counts.missing) == (20, 0)
    store.close()


@pytest.mark.slow  # starts a PostgreSQL server of its own, to stop it
@pytest.mark.skipif(pg_bin() is None, reason="needs Debian's postgresql binaries")
def test_a_postgresql_store_that_goes_away_stops_the_experiment(tmp_path: Path) -> None:
    with PostgresServer() as pg, FakeOpenAIServer(latency_s=0.02) as server:
        most = calls_per_run(server, tmp_path)
        before = server.stats.requests
        store = Store(pg.create_database())
        spec = ExperimentSpec("sales_email", backend=f"compat:fake-model@{server.base_url}",
                              **PLAN)
        seen: list[int] = []

        def stop_after_two(progress: Any) -> None:
            seen.append(server.stats.requests - before)
            if progress.done == 2:
                pg.stop()  # the server is gone: every later commit fails

        with pytest.raises(StoreError) as raised:
            run_experiment(spec, store, on_progress=stop_after_two)
        calls = server.stats.requests - before
        store.close()
    sentence = str(raised.value)
    assert sentence.startswith(f"The store {store.shown} failed while saving a run (")
    # A commit already under way on the writer thread while the server stopped may still
    # have gone through: every run reported is one that was stored.
    assert 2 <= len(seen) <= 2 + PLAN["concurrency"]
    assert f"the experiment stopped with {len(seen)} finished runs stored; resume exp-" \
        in sentence
    assert "\n" not in sentence
    # After the last commit only the runs already in flight went on (at most one per slot,
    # each at most a whole run's calls); no run started after the failed commit.
    assert calls <= seen[-1] + PLAN["concurrency"] * most
