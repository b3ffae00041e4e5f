"""Figures you can trust: each test here failed on the code before the fix it guards.

Rates over the runs they apply to, the same spec from the Run page and the CLI, tools run alike
in both forms, queue time apart from model time, failures shown by class, no error box for an
ok run, findings that claim only what the runs show, and a store whose columns derive from the
record.
"""

from __future__ import annotations

import asyncio
import csv
import dataclasses
import io
import json
import sqlite3
import time
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from apptest_pages import app_on, open_tab
from sales_scripts import sales_backend

from orchlab import backends
from orchlab.cli import main as cli
from orchlab.core.records import utcnow
from orchlab.measure.metrics import run_metrics
from orchlab.measure.recorder import install_recorder
from orchlab.present import figures
from orchlab.running.runner import ExperimentSpec, run_experiment
from orchlab.scenario import FlowEnv, RunDeps
from orchlab.stats.analysis import outcome_rates, summarize
from orchlab.stats.summary import findings
from orchlab.store.schema import MIGRATIONS
from orchlab.store.store import Store, StoreError

# -- 2. rates over the runs they apply to ----------------------------------------------------

def frame(rows: list[dict[str, Any]]) -> pd.DataFrame:
    base = {"status": "ok", "error_class": None, "retries": 0, "experiment_id": "e1",
            "input_id": "in-a", "repetition": 0, "path_steps": []}
    return pd.DataFrame([{**base, **row} for row in rows])

@pytest.fixture
def store(any_store: Store) -> Store:
    """This module's store tests run on SQLite and on a real PostgreSQL server."""
    return any_store


def test_a_rate_divides_by_the_runs_where_its_field_applies() -> None:
    rows = [{"form": "llm", "success": True, "outcome": {"success": True,
                                                          "injection_obeyed": None}}] * 9
    rows.append({"form": "llm", "success": False,
                 "outcome": {"success": False, "injection_obeyed": True}})
    rates = outcome_rates(frame(rows)).set_index("outcome")
    assert rates.loc["injection_obeyed", ["rate", "hits", "n"]].tolist() == [1.0, 1, 1]
    assert rates.loc["success", ["rate", "n"]].tolist() == [0.9, 10]


def test_runs_stopped_by_the_environment_are_left_out_of_success() -> None:
    rows = [{"form": "code", "success": True, "outcome": {"success": True}},
            {"form": "code", "success": None, "status": "error", "error_class":
             "tool_unavailable", "outcome": {"success": False}}]
    rates = outcome_rates(frame(rows)).set_index("outcome")
    assert rates.loc["success", ["rate", "n"]].tolist() == [1.0, 1]
    assert rates.loc["status ok", ["rate", "n"]].tolist() == [0.5, 2]


# -- 3. the Run page and the CLI run the same experiment -------------------------------------

def test_run_page_default_spec_equals_the_cli_default_spec(app_env: Path) -> None:
    at = app_on("views/run.py")
    next(b for b in at.button if b.label == "Run").click().run()
    assert not at.exception, at.exception
    page_spec = at.session_state["run_last_spec"]
    at.session_state["run_job"].join(60)
    args = cli.build_parser().parse_args(
        ["run", "--scenario", "sales_email", "--input", "dana-acme"])
    cli_spec = cli.spec_from_args(args)
    assert dataclasses.asdict(page_spec) == dataclasses.asdict(cli_spec)
    assert page_spec.model_settings == {}  # each agent's own settings (the picker's 0.0)


def test_an_explicit_temperature_override_is_stored_and_shown(app_env: Path) -> None:
    at = app_on("views/run.py")
    at.checkbox(key="run_override_temperature").check()
    at.slider(key="run_temperature").set_value(0.3)
    next(b for b in at.button if b.label == "Run").click().run()
    job = at.session_state["run_job"]
    job.join(60)
    store = Store(app_env)
    exp = store.list_experiments()[0]
    assert exp.spec["model_settings"] == {"temperature": 0.3}
    at.switch_page("views/history.py").run()
    table = at.dataframe[0].value
    assert table["Model settings"].tolist() == ["temperature=0.3"]


# -- 4. a code-called tool runs off the event loop, as the SDK runs one ---------------------

def test_a_slow_tool_called_from_code_does_not_stall_other_runs() -> None:
    def slow(_deps: RunDeps) -> str:
        time.sleep(0.4)
        return "done"

    async def four_runs() -> float:
        envs = [FlowEnv({}, RunDeps(), max_turns=1) for _ in range(4)]
        started = time.monotonic()
        await asyncio.gather(*(env.call_tool("slow", slow) for env in envs))
        return time.monotonic() - started

    assert asyncio.run(four_runs()) < 1.2  # on the loop it took 4 x 0.4 s


# -- 5. time waiting for a busy model is recorded apart from model time ---------------------

def test_queue_time_on_a_generation_reaches_the_span_the_run_and_the_waterfall() -> None:
    from agents import trace
    from agents.tracing import gen_trace_id, generation_span

    recorder, run_id, started = install_recorder(), gen_trace_id(), utcnow()
    recorder.watch(run_id)
    with trace("queued", trace_id=run_id), generation_span(model="m") as span:
        span.span_data.usage = {"input_tokens": 3, "output_tokens": 2, "queued_ms": 250.0}
    spans = recorder.collect(run_id, started, utcnow())
    gen = next(s for s in spans if s.kind == "generation")
    assert gen.queued_ms == 250.0
    metrics = run_metrics(spans, "local:smollm2-135m")
    assert metrics.queued_ms == 250.0 and metrics.per_agent["(no agent)"]["queued_ms"] == 250.0
    names = [bar.name for bar in figures.waterfall(spans).data]
    assert names[0] == "queued (waiting for the model)"


# -- 6. failures by class and retries are shown ----------------------------------------------

def test_failures_by_class_reach_the_cli_summary(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    backends.register("scripted", lambda _rest: sales_backend(), "test backend")
    try:
        code = cli.main(["run", "--scenario", "sales_email", "--input", "dana-acme",
                         "--backend", "scripted:sales", "--max-turns", "1",
                         "--store", str(tmp_path / "s.sqlite")])
    finally:
        backends.unregister("scripted")
    out, err = capsys.readouterr()
    assert code == 0
    assert "error:max_turns" in err  # the run's line
    assert "failures" in out and "1 max_turns" in out and "retries" in out


def test_failures_by_class_on_compare_history_and_trace(app_env: Path) -> None:
    store = Store(app_env)
    spec = ExperimentSpec("sales_email", forms=["code", "llm"], inputs=["dana-acme"],
                          max_turns=1, backend="scripted:sales")
    run_experiment(spec, store, backend=sales_backend())
    at = open_tab(app_on("views/compare.py"), "compare_tab", "Failures")
    failures = [d.value for d in at.dataframe if "class: max_turns" in d.value.columns]
    assert failures and failures[0]["class: max_turns"].tolist() == [0, 1]
    at.switch_page("views/history.py").run()
    assert at.dataframe[0].value["Failures by class"].tolist() == ["1 max_turns"]
    at.switch_page("views/trace.py").run()
    labels = at.selectbox(key="trace_run").options
    assert any("max_turns" in option for option in labels)


# -- 7. an ok run shows no error -------------------------------------------------------------

def test_trace_page_shows_no_error_for_an_ok_run_beside_a_failed_one(app_env: Path) -> None:
    store = Store(app_env)
    spec = ExperimentSpec("sales_email", forms=["code", "llm"], inputs=["dana-acme"],
                          max_turns=1, backend="scripted:sales")
    records = run_experiment(spec, store, backend=sales_backend()).records
    assert sorted(r.status for r in records) == ["error", "ok"]
    at = app_on("views/trace.py")
    for index in range(2):
        at.selectbox(key="trace_run").set_value(index).run()
        status = store.load_runs().iloc[index]["status"]
        boxes = [e.value for e in at.error]
        if status == "ok":
            assert boxes == []  # the old page showed "ok: nan: nan" here
        else:
            assert boxes[0].startswith("error (max_turns): MaxTurnsExceeded")


# -- 8. findings state only what the runs show -----------------------------------------------

def test_a_zero_cost_finding_names_the_recorded_price_source() -> None:
    rows = [{"form": form, "wall_ms": 100.0, "input_tokens": 5, "output_tokens": 5,
             "llm_calls": 1, "tool_calls": 1, "cost_usd": 0.0, "path": "a",
             "success": True, "outcome": {"success": True},
             "price_source": "user price $0/$0 per MTok"} for form in ("code", "llm")]
    sentences = findings(frame(rows))
    cost = next(s for s in sentences if "$0" in s)
    assert "local" not in cost and "user price $0/$0 per MTok" in cost


def test_unknown_cost_counts_the_runs_it_concerns() -> None:
    rows = [{"form": form, "wall_ms": 100.0, "input_tokens": 5, "output_tokens": 5,
             "llm_calls": 1, "tool_calls": 1, "cost_usd": cost, "path": "a", "success": True,
             "outcome": {"success": True}, "price_source": source}
            for form, cost, source in (("code", 0.01, "genai-prices (openai)"),
                                       ("llm", None, "unknown price"))]
    cost = next(s for s in findings(frame(rows)) if "unknown" in s)
    assert "1 of 2 runs" in cost and "unknown price" in cost


# -- one home: store columns derive from the record ------------------------------------------

def test_a_store_written_before_m004_gets_structured_paths_and_success(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE schema_migrations (name TEXT PRIMARY KEY, applied_at TEXT)")
        for name, sql, _ in MIGRATIONS[:3]:
            conn.executescript(sql)
            conn.execute("INSERT INTO schema_migrations VALUES (?, 'then')", (name,))
        conn.execute("INSERT INTO experiments VALUES ('e','sales_email','b','t',NULL,"
                     "'completed',1,'{}',NULL)")
        conn.execute("INSERT INTO runs (run_id, experiment_id, scenario, form, input_id, "
                     "repetition, backend, model, started_at, wall_ms, status, llm_calls, "
                     "tool_calls, input_tokens, output_tokens, cached_tokens, reasoning_tokens, "
                     "path, per_agent_json, outcome_json) VALUES ('r','e','sales_email','llm',"
                     "'i',0,'b','m','2026-01-01T00:00:00+00:00',5,'ok',1,1,1,1,0,0,"
                     "'boss > send_email','{}','{\"success\": true}')")
        spans = [("s1", None, "agent", "boss", 0, 9), ("s2", "s1", "function", "send_email", 2, 3)]
        for seq, (sid, parent, kind, name, start, end) in enumerate(spans):
            conn.execute("INSERT INTO spans (run_id, seq, span_id, parent_id, kind, name, "
                         "start_ms, end_ms, input_tokens, output_tokens, cached_tokens, "
                         "reasoning_tokens) VALUES ('r',?,?,?,?,?,?,?,0,0,0,0)",
                         (seq, sid, parent, kind, name, start, end))
    row = Store(path).load_runs().iloc[0]
    assert row["path_steps"] == [{"name": "boss", "kind": "agent", "steps": [
        {"name": "send_email", "kind": "function", "steps": []}]}]
    assert bool(row["success"]) is True and row["queued_ms"] == 0


def test_a_store_missing_a_derived_column_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "s.sqlite"
    Store(path).close()
    with sqlite3.connect(path) as conn:
        conn.execute("ALTER TABLE runs DROP COLUMN price_source")
    with pytest.raises(StoreError, match="price_source"):
        Store(path)


def test_every_metric_has_a_column_and_round_trips(store: Store) -> None:
    spec = ExperimentSpec("sales_email", forms=["code"], inputs=["dana-acme"],
                          backend="scripted:sales")
    record = run_experiment(spec, store, backend=sales_backend()).records[0]
    row = store.load_runs().iloc[0]
    for name, value in dataclasses.asdict(record.metrics).items():
        stored = row[name]
        assert (json.loads(json.dumps(value)) == stored) or stored == pytest.approx(value), name
    assert summarize(store.load_runs())["success_n"].tolist() == [1]


def test_exports_of_ok_and_failed_runs_hold_no_nan(store: Store) -> None:
    from orchlab.store import export

    spec = ExperimentSpec("sales_email", inputs=["dana-acme"], max_turns=1,
                          backend="scripted:sales")
    exp_id = run_experiment(spec, store, backend=sales_backend()).experiment_id

    def refuse(constant: str) -> None:
        raise ValueError(f"not JSON: {constant}")

    rows = json.loads(export.to_json(store, exp_id), parse_constant=refuse)["runs"]
    ok = next(r for r in rows if r["status"] == "ok")
    assert ok["error_class"] is None and ok["success"] is True
    cells = [c for row in csv.reader(io.StringIO(export.to_csv(store, exp_id))) for c in row]
    assert not [c for c in cells if c.lower() in ("nan", "<na>", "none")]


def test_switching_scenario_keeps_an_input_chosen_and_an_empty_choice_is_refused(
    app_env: Path
) -> None:
    at = app_on("views/run.py")
    at.selectbox(key="run_scenario").set_value("weather").run()
    assert len(at.multiselect(key="run_inputs_weather").value) == 1  # not all 8 silently
    inputs = at.multiselect(key="run_inputs_weather")
    inputs.unselect(inputs.value[0])  # a form: the change goes in with the submit
    next(b for b in at.button if b.label == "Run").click().run()
    assert [e.value for e in at.error] == ["Choose at least one input."]
    assert "run_job" not in at.session_state
