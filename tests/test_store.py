"""Store: migrations, WAL, round trip, and a clear error for a file that is not SQLite."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime
from pathlib import Path

import pytest

from orchlab.core import config
from orchlab.core.records import ExperimentRecord, OutboxMessage, RunMetrics, RunRecord, SpanRecord
from orchlab.store.schema import MIGRATIONS
from orchlab.store.store import Store, StoreError


@pytest.fixture
def store(any_store: Store) -> Store:
    """This module's store tests run on SQLite and on a real PostgreSQL server."""
    return any_store


def make_run(exp_id: str, run_id: str = "run-1") -> RunRecord:
    span = SpanRecord(span_id="s1", parent_id=None, kind="generation", name="m", agent="a",
                      start_ms=1.5, end_ms=9.0, model="m", input_tokens=10, output_tokens=3,
                      input="hi", output="yo")
    return RunRecord(
        run_id=run_id, experiment_id=exp_id, scenario="sales_email", form="code",
        input_id="dana-acme", repetition=0, backend="scripted:test", model="m",
        started_at=datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC),
        metrics=RunMetrics(wall_ms=12.5, llm_calls=1, input_tokens=10, output_tokens=3,
                           cost_usd=None, path="a",
                           path_steps=[{"name": "a", "kind": "agent", "steps": []}],
                           per_agent={"a": {"llm_calls": 1, "input_tokens": 10,
                                            "output_tokens": 3}}),
        success=True, outcome={"emails_sent": 1, "success": True}, spans=[span],
        outbox=[OutboxMessage(to="x@y.example", subject="s", body="b")],
    )


def make_experiment(exp_id: str = "exp-1") -> ExperimentRecord:
    return ExperimentRecord(experiment_id=exp_id, scenario="sales_email", backend="scripted:test",
                            created_at=datetime.now(UTC), spec={"repetitions": 1}, planned_runs=1)


def test_migrations_apply_in_order_once(store_path: Path) -> None:
    Store(store_path).close()
    again = Store(store_path)
    assert again.applied_migrations() == [name for name, _, _ in MIGRATIONS]
    with sqlite3.connect(store_path) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert {"experiments", "runs", "spans", "outbox", "schema_migrations"} <= tables


def test_round_trip(store: Store) -> None:
    store.save_experiment(make_experiment())
    store.save_run(make_run("exp-1"))
    frame = store.load_runs(["exp-1"])
    row = frame.iloc[0]
    assert row["wall_ms"] == 12.5 and row["path"] == "a"
    assert row["started_at"].tzinfo is not None
    assert row["outcome"] == {"emails_sent": 1, "success": True}
    assert row["per_agent"]["a"]["input_tokens"] == 10
    assert frame["cost_usd"].isna().all()  # unknown price stays empty
    spans = store.load_spans("run-1")
    assert spans[0].start_ms == 1.5 and spans[0].output == "yo"
    assert store.load_outbox("run-1")[0]["to"] == "x@y.example"
    assert store.get_experiment("exp-").experiment_id == "exp-1"


def test_delete_cascades(store: Store) -> None:
    store.save_experiment(make_experiment())
    store.save_run(make_run("exp-1"))
    store.delete_experiment("exp-1")
    assert store.load_runs().empty
    assert store.load_spans("run-1") == [] and store.load_outbox("run-1") == []


def test_store_path_comes_from_env_then_override(store_path: Path, tmp_path: Path) -> None:
    assert config.store_path() == store_path
    assert config.store_path(tmp_path / "other.sqlite") == tmp_path / "other.sqlite"


def test_a_file_that_is_not_sqlite_gives_one_clear_error(tmp_path: Path) -> None:
    bogus = tmp_path / "notes.sqlite"
    bogus.write_text("this is not a database " * 100)
    with pytest.raises(StoreError, match="notes.sqlite"):
        Store(bogus)
    assert bogus.read_text().startswith("this is not a database")  # untouched
