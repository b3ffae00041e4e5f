"""Migrations are history: each names its own columns and builds no live record, so a store
made before a migration still upgrades after the records have grown a field."""

from __future__ import annotations

import importlib
import types
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import pandas as pd
import pytest

from orchlab.core import records
from orchlab.store import schema
from orchlab.store.db import open_database, statements
from orchlab.store.store import Store

OLD_MIGRATIONS = 3
"""m001..m003: what a store made before m004 has."""


@dataclass
class _LaterSpanRecord(records.SpanRecord):
    """SpanRecord as a later version of the code has it: one field more."""

    cache_key: str | None = None


M_LATER = ("m999_spans_cache_key", "ALTER TABLE spans ADD COLUMN cache_key TEXT;", None)
"""The migration the developer adding `cache_key` writes."""


@contextmanager
def a_later_version() -> Iterator[None]:
    """The code as it will be once SpanRecord has grown a field (and its migration): the
    derived columns recomputed from the grown record, the migration appended. Everything is
    put back afterwards, the derived columns included."""
    try:
        with pytest.MonkeyPatch.context() as mp:
            mp.setattr(records, "SpanRecord", _LaterSpanRecord)
            importlib.reload(schema)
            assert schema.SPAN_COLUMNS[-1] == "cache_key"
            mp.setattr(schema, "MIGRATIONS", [*schema.MIGRATIONS, M_LATER])
            yield
    finally:
        importlib.reload(schema)
        assert "cache_key" not in schema.SPAN_COLUMNS


SPANS = [  # span_id, parent_id, kind, name, agent, start_ms, end_ms
    ("s1", None, "agent", "sales_manager", "sales_manager", 0.0, 100.0),
    ("s2", "s1", "generation", "m", "sales_manager", 1.0, 5.0),
    ("s3", "s1", "function", "professional_writer", "sales_manager", 10.0, 40.0),
    ("s4", "s1", "function", "humorous_writer", "sales_manager", 12.0, 38.0),
    ("s5", "s1", "function", "send_email", "sales_manager", 50.0, 60.0),
]
RUNS = [  # run_id, status, error_class, outcome_json, spans; repetitions 0, 1, 2
    ("r-ok", "ok", None, '{"success": true}', SPANS),
    ("r-failed", "ok", None, '{"success": false}', SPANS[:1]),
    ("r-cancelled", "cancelled", "cancelled", "{}", []),
]


def build_store_before_m004(location: str) -> None:
    """A store as m001..m003 left it, with an experiment, runs and spans in their columns."""
    db = open_database(location)
    try:
        with db.tx() as conn:
            conn.execute("CREATE TABLE schema_migrations "
                         "(name TEXT PRIMARY KEY, applied_at TEXT NOT NULL)")
            for name, sql, step in schema.MIGRATIONS[:OLD_MIGRATIONS]:
                assert step is None
                for statement in statements(sql):
                    conn.execute(db.ddl(statement))
                conn.execute("INSERT INTO schema_migrations VALUES (?, ?)",
                             (name, "2026-01-01T00:00:00+00:00"))
            conn.execute(
                "INSERT INTO experiments (experiment_id, scenario, backend, created_at, "
                "finished_at, status, planned_runs, spec_json, pid) "
                "VALUES (?,?,?,?,?,?,?,?,?)",
                ("exp-old", "sales_email", "openai:gpt-4.1-mini", "2026-01-01T00:00:00+00:00",
                 "2026-01-01T00:01:00+00:00", "completed", len(RUNS), "{}", None))
            for i, (run_id, status, error_class, outcome, spans) in enumerate(RUNS):
                conn.execute(
                    "INSERT INTO runs (run_id, experiment_id, scenario, form, input_id, "
                    "repetition, backend, model, started_at, wall_ms, status, error_type, "
                    "error_message, final_output, llm_calls, tool_calls, input_tokens, "
                    "output_tokens, cached_tokens, reasoning_tokens, cost_usd, path, "
                    "per_agent_json, outcome_json, error_class, retries) "
                    "VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                    (run_id, "exp-old", "sales_email", "llm", "dana-acme", i,
                     "openai:gpt-4.1-mini", "gpt-4.1-mini", f"2026-01-01T00:00:0{i}+00:00",
                     100.0, status, None, None, None, 1, 3, 10, 5, 0, 0, None,
                     "sales_manager > send_email", "{}", outcome, error_class, 0))
                for seq, (span_id, parent, kind, name, agent, start, end) in enumerate(spans):
                    conn.execute(
                        "INSERT INTO spans (run_id, seq, span_id, parent_id, kind, name, "
                        "agent, start_ms, end_ms, model, input_tokens, output_tokens, "
                        "cached_tokens, reasoning_tokens, input, output, error) "
                        "VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                        (run_id, seq, span_id, parent, kind, name, agent, start, end,
                         "gpt-4.1-mini" if kind == "generation" else None,
                         10 if kind == "generation" else 0, 5 if kind == "generation" else 0,
                         0, 0, None, None, None))
    finally:
        db.close()


def test_a_store_made_before_m004_upgrades_after_the_records_grow(store_location: str) -> None:
    build_store_before_m004(store_location)
    with a_later_version():
        store = Store(store_location)
        try:
            assert store.applied_migrations() == [name for name, _, _ in schema.MIGRATIONS]
            assert store.applied_migrations()[OLD_MIGRATIONS:] == [
                "m004_run_metrics", "m005_model_calls", "m006_heartbeat",
                "m007_one_run_per_planned_run", "m008_one_run_per_planned_run_and_backend",
                "m009_judgements", "m010_participants", M_LATER[0]]
            runs = store.load_runs().set_index("run_id")
        finally:
            store.close()
    assert runs.loc["r-ok", "path_steps"] == [
        {"name": "sales_manager", "kind": "agent", "steps": [
            {"parallel": [{"name": "humorous_writer", "kind": "function", "steps": []},
                          {"name": "professional_writer", "kind": "function", "steps": []}]},
            {"name": "send_email", "kind": "function", "steps": []}]}]
    assert runs.loc["r-failed", "path_steps"] == [
        {"name": "sales_manager", "kind": "agent", "steps": []}]
    assert runs.loc["r-cancelled", "path_steps"] == []
    assert bool(runs.loc["r-ok", "success"]) is True
    assert bool(runs.loc["r-failed", "success"]) is False
    assert pd.isna(runs.loc["r-cancelled", "success"])
    assert runs["queued_ms"].tolist() == [0.0, 0.0, 0.0]


def _names(code: types.CodeType) -> set[str]:
    """Global and attribute names a function's code uses, nested code included."""
    names = set(code.co_names)
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            names |= _names(const)
    return names


def test_no_migration_uses_a_record_class_or_a_derived_column_list() -> None:
    live = {name for name, value in vars(records).items()
            if isinstance(value, type) and value.__module__ == records.__name__}
    derived = {"RUN_COLUMNS", "SPAN_COLUMNS", "JSON_COLUMNS", "TEXT_COLUMNS", "CALL_COLUMNS",
               "CALL_FIELDS", "EXPERIMENT_COLUMNS"}
    derived |= {name for name in vars(schema) if name.startswith("SPAN_COLUMNS")}
    for name, _sql, step in schema.MIGRATIONS:
        if step is not None:
            used = _names(step.__code__)
            assert not used & (live | derived), (name, sorted(used & (live | derived)))
