"""A shared store holds each planned run once and one runner per experiment (issue 25), on
SQLite and on a real PostgreSQL server.

Each planned run (experiment, form, input, repetition) is stored at most once: a migration
drops the older copies a store already holds, a UNIQUE index refuses new ones, and `save_run`
keeps the run already stored. Of two resumes of one experiment, in two processes, exactly one
runs; `mark_interrupted` changes only the experiment it judged, as it judged it.
"""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import asdict, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from orchlab.core.records import ExperimentRecord, RunMetrics, RunRecord, utcnow
from orchlab.running.spec import ExperimentSpec, prepare
from orchlab.store import schema
from orchlab.store import store as store_module
from orchlab.store.db import open_database, statements
from orchlab.store.store import STALE_AFTER_S, Store, StoreError

ROOT = Path(__file__).parent.parent
TESTS = Path(__file__).parent
BEFORE_UNIQUE = "m006_heartbeat"
"""The last migration a store made before runs were unique per planned run."""


def child_env() -> dict[str, str]:
    """A child process's environment: this project, the tests' helpers, the network guard."""
    path = os.pathsep.join(p for p in (str(TESTS), str(ROOT), os.environ.get("PYTHONPATH"))
                           if p)
    return {**os.environ, "PYTHONPATH": path, "PYTHONUNBUFFERED": "1"}


# -- the migration ---------------------------------------------------------------------------

RUNS = [  # run_id, form, input_id, repetition, started_at
    ("r-old", "code", "dana-acme", 0, "2026-01-01T00:00:01+00:00"),
    ("r-new", "code", "dana-acme", 0, "2026-01-01T00:00:03+00:00"),
    ("r-mid", "code", "dana-acme", 0, "2026-01-01T00:00:02.500000+00:00"),
    ("r-tie-a", "llm", "dana-acme", 0, "2026-01-01T00:00:05+00:00"),
    ("r-tie-b", "llm", "dana-acme", 0, "2026-01-01T00:00:05+00:00"),  # same start: id decides
    ("r-solo", "code", "li-northwind", 0, "2026-01-01T00:00:00+00:00"),
    ("r-other-rep", "code", "dana-acme", 1, "2026-01-01T00:00:00+00:00"),
]
KEPT = {"r-new", "r-tie-b", "r-solo", "r-other-rep"}


def build_store_with_duplicates(location: str) -> None:
    """A store as m001..m006 left it, holding three copies of one planned run and two of
    another, each with a span, an email and a model call, written in those migrations' own
    columns."""
    db = open_database(location)
    names = [name for name, _, _ in schema.MIGRATIONS]
    try:
        with db.tx() as conn:
            conn.execute("CREATE TABLE schema_migrations "
                         "(name TEXT PRIMARY KEY, applied_at TEXT NOT NULL)")
            for name, sql, step in schema.MIGRATIONS[:names.index(BEFORE_UNIQUE) + 1]:
                for statement in statements(sql):
                    conn.execute(db.ddl(statement))
                if step is not None:
                    step(conn)
                conn.execute("INSERT INTO schema_migrations VALUES (?, ?)",
                             (name, "2026-01-01T00:00:00+00:00"))
            conn.execute(
                "INSERT INTO experiments (experiment_id, scenario, backend, created_at, "
                "finished_at, status, planned_runs, spec_json, pid) "
                "VALUES (?,?,?,?,?,?,?,?,?)",
                ("exp-dup", "sales_email", "scripted:sales", "2026-01-01T00:00:00+00:00",
                 "2026-01-01T00:01:00+00:00", "completed", 5, "{}", None))
            for run_id, form, input_id, rep, started in RUNS:
                conn.execute(
                    "INSERT INTO runs (run_id, experiment_id, scenario, form, input_id, "
                    "repetition, backend, model, started_at, wall_ms, status, error_type, "
                    "error_message, final_output, llm_calls, tool_calls, input_tokens, "
                    "output_tokens, cached_tokens, reasoning_tokens, cost_usd, path, "
                    "per_agent_json, outcome_json, error_class, retries) "
                    "VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                    (run_id, "exp-dup", "sales_email", form, input_id, rep, "scripted:sales",
                     "m", started, 100.0, "ok", None, None, run_id, 1, 1, 10, 5, 0, 0, None,
                     "a", "{}", '{"success": true}', None, 0))
                conn.execute(
                    "INSERT INTO spans (run_id, seq, span_id, parent_id, kind, name, agent, "
                    "start_ms, end_ms, model, input_tokens, output_tokens, cached_tokens, "
                    "reasoning_tokens, input, output, error) "
                    "VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                    (run_id, 0, "s1", None, "agent", "a", "a", 0.0, 1.0, None, 0, 0, 0, 0,
                     None, None, None))
                conn.execute("INSERT INTO outbox (run_id, created_at, to_addr, subject, body) "
                             "VALUES (?,?,?,?,?)", (run_id, started, "x@y.example", "s", "b"))
                conn.execute(
                    "INSERT INTO model_calls (run_id, agent, seq, request_hash, output_json, "
                    "usage_json, latency_ms, error) VALUES (?,?,?,?,?,?,?,?)",
                    (run_id, "a", 0, "h", "[]", "{}", 1.0, None))
    finally:
        db.close()


def child_run_ids(location: str) -> dict[str, set[str]]:
    """The run ids each run table and child table holds."""
    db = open_database(location)
    try:
        with db.read() as conn:
            return {table: {r[0] for r in conn.execute(f"SELECT run_id FROM {table}")
                            .fetchall()}
                    for table in ("runs", "spans", "outbox", "model_calls")}
    finally:
        db.close()


def test_the_migration_keeps_the_newest_of_each_planned_run_with_its_rows(
        store_location: str) -> None:
    build_store_with_duplicates(store_location)
    Store(store_location).close()
    assert child_run_ids(store_location) == dict.fromkeys(
        ("runs", "spans", "outbox", "model_calls"), KEPT)
    db = open_database(store_location)
    try:
        with pytest.raises(db.integrity_errors), db.tx() as conn:  # the index holds it now
            conn.execute(
                "INSERT INTO runs (run_id, experiment_id, scenario, form, input_id, "
                "repetition, backend, model, started_at, wall_ms, status, llm_calls, "
                "tool_calls, input_tokens, output_tokens, cached_tokens, reasoning_tokens, "
                "path, per_agent_json, outcome_json) "
                "VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                ("r-again", "exp-dup", "sales_email", "code", "dana-acme", 0,
                 "scripted:sales", "m", "2026-01-02T00:00:00+00:00", 1.0, "ok", 0, 0, 0, 0,
                 0, 0, "a", "{}", "{}"))
    finally:
        db.close()


# -- save_run and import ---------------------------------------------------------------------


def a_run(run_id: str, output: str, repetition: int = 0) -> RunRecord:
    return RunRecord(
        run_id=run_id, experiment_id="exp-1", scenario="sales_email", form="code",
        input_id="dana-acme", repetition=repetition, backend="scripted:sales", model="m",
        started_at=datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC), final_output=output,
        metrics=RunMetrics(wall_ms=12.5, path="a"), success=True, outcome={"success": True})


def an_experiment(exp_id: str = "exp-1", **fields: Any) -> ExperimentRecord:
    return ExperimentRecord(exp_id, "sales_email", "scripted:sales", utcnow(), {}, 2, **fields)


def test_a_planned_run_saved_twice_is_stored_once_and_the_first_kept(any_store: Store) -> None:
    any_store.save_experiment(an_experiment())
    first = a_run("run-1", "the first")
    assert any_store.save_run(first) is True
    assert any_store.save_run(first) is False  # the same run again (a retried commit)
    assert any_store.save_run(a_run("run-2", "a second resume's")) is False
    frame = any_store.load_runs(["exp-1"])
    assert frame["run_id"].tolist() == ["run-1"]
    assert frame["final_output"].tolist() == ["the first"]
    assert any_store.save_run(a_run("run-3", "the next repetition", repetition=1)) is True
    assert any_store.count_runs("exp-1") == 2


def test_an_import_holding_one_planned_run_twice_is_refused_whole(any_store: Store) -> None:
    runs = [a_run("run-1", "one"), a_run("run-2", "the same planned run")]
    with pytest.raises(StoreError, match=r"^Cannot import exp-1 into .*: it holds 2 runs of "
                                         r"form code, input dana-acme, repetition 0\.$"):
        any_store.import_experiment(an_experiment(), runs)
    assert any_store.get_experiment("exp-1") is None and any_store.load_runs().empty


# -- one resume at a time --------------------------------------------------------------------

RESUME = """
import asyncio, pathlib, sys, time
from sales_scripts import sales_backend
from orchlab.running import runner
from orchlab.core.errors import SpecError
from orchlab.store.store import Store

location, experiment_id, gate, me = sys.argv[1:]

async def together(_backend):
    # in place of the server check: both resumes have looked at the experiment's status
    # before either goes on, the moment a check-then-set lets both through
    pathlib.Path(gate, me).touch()
    deadline = time.monotonic() + 60
    while len(list(pathlib.Path(gate).iterdir())) < 2 and time.monotonic() < deadline:
        await asyncio.sleep(0.01)

runner.server_answers = together
store = Store(location)
try:
    result = runner.resume_experiment(experiment_id, store, backend=sales_backend())
    print("ran", len(result.records))
except SpecError as exc:
    print("refused", exc)
finally:
    store.close()
"""


@pytest.mark.slow  # two Python processes
def test_of_two_resumes_in_two_processes_exactly_one_runs(
        store_location: str, tmp_path: Path) -> None:
    spec = ExperimentSpec("sales_email", forms=["code", "llm"], inputs=["dana-acme"],
                          repetitions=3, backend="scripted:sales")
    prepared = prepare(spec)
    store = Store(store_location)
    store.save_experiment(ExperimentRecord(
        "exp-resume", "sales_email", "scripted:sales", utcnow(), asdict(prepared.spec),
        len(prepared.plan), status="interrupted"))
    gate = tmp_path / "gate"
    gate.mkdir()
    procs = [subprocess.Popen(
        [sys.executable, "-c", RESUME, store_location, "exp-resume", str(gate), str(n)],
        cwd=ROOT, env=child_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for n in range(2)]
    outputs = [proc.communicate(timeout=300) for proc in procs]
    for proc, (_out, err) in zip(procs, outputs, strict=True):
        assert proc.returncode == 0, err[-3000:]
    said = sorted(out.strip() for out, _err in outputs)
    assert said == [f"ran {len(prepared.plan)}",
                    "refused Experiment exp-resume is already running: another process "
                    "runs or resumes it."]
    frame = store.load_runs(["exp-resume"])
    assert len(frame) == len(prepared.plan)
    assert not frame[["form", "input_id", "repetition"]].duplicated().any()
    experiment = store.get_experiment("exp-resume")
    assert experiment is not None and experiment.status == "completed"
    store.close()


# -- mark_interrupted ------------------------------------------------------------------------

ELSEWHERE = """
import sys
from orchlab.core.records import utcnow
from orchlab.store.store import Store

location = sys.argv[1]
store = Store(location)  # its own opening finds both silent experiments and interrupts them
resumed = store.get_experiment("exp-resumed")
resumed.status, resumed.host, resumed.pid = "running", "laptop-c", 4242
resumed.heartbeat_at, resumed.finished_at = utcnow(), None
store.save_experiment(resumed)  # laptop-c resumes one: running again, beating
store.finish_experiment("exp-finished", "completed")  # the other ends after all
store.close()
"""


def silent(exp_id: str) -> ExperimentRecord:
    """Running on another machine that has not beaten for longer than `STALE_AFTER_S`."""
    return an_experiment(exp_id, status="running", pid=999_999_999, host="laptop-b",
                         heartbeat_at=utcnow() - timedelta(seconds=STALE_AFTER_S + 5))


@pytest.mark.slow  # a second Python process
def test_mark_interrupted_leaves_what_changed_since_it_looked(
        store_location: str, monkeypatch: pytest.MonkeyPatch) -> None:
    store = Store(store_location)
    store.save_experiment(silent("exp-resumed"))
    store.save_experiment(silent("exp-finished"))
    judge = store_module._gone
    elsewhere: list[subprocess.CompletedProcess[str]] = []

    def gone_while_another_machine_acts(*args: Any) -> bool:
        verdict = judge(*args)
        if not elsewhere:  # between this reader's look and its update
            elsewhere.append(subprocess.run(
                [sys.executable, "-c", ELSEWHERE, store_location], cwd=ROOT, env=child_env(),
                capture_output=True, text=True, timeout=120))
        return verdict

    monkeypatch.setattr(store_module, "_gone", gone_while_another_machine_acts)
    assert store.mark_interrupted() == []
    assert elsewhere and elsewhere[0].returncode == 0, elsewhere[0].stderr[-3000:]
    statuses = {e.experiment_id: e.status for e in store.list_experiments()}
    assert statuses == {"exp-resumed": "running", "exp-finished": "completed"}
    store.close()


def test_mark_interrupted_still_interrupts_a_silent_experiment(any_store: Store) -> None:
    any_store.save_experiment(silent("exp-silent"))
    any_store.save_experiment(replace(silent("exp-beating"), heartbeat_at=utcnow()))
    any_store.save_experiment(an_experiment("exp-no-host", status="running"))  # m003's kind
    assert sorted(any_store.mark_interrupted()) == ["exp-no-host", "exp-silent"]
    statuses = {e.experiment_id: e.status for e in any_store.list_experiments()}
    assert statuses == {"exp-silent": "interrupted", "exp-beating": "running",
                        "exp-no-host": "interrupted"}
