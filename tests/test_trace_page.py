"""Trace page: where a run failed is visible in the default tree; a cancel is not an error."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from apptest_pages import app_on
from sales_scripts import sales_backend

from orchlab.core.records import SpanRecord
from orchlab.running.runner import ExperimentSpec, run_experiment
from orchlab.store.store import Store

APP = str(Path(__file__).parent.parent / "app.py")


def span(span_id: str, parent: str | None, kind: str, error: str | None = None) -> SpanRecord:
    return SpanRecord(span_id, parent, kind, span_id, None, 0.0, 1.0, error=error)


def test_visible_ancestors_of_an_errored_span_are_marked() -> None:
    from orchlab.present.figures import errored_ancestors

    spans = [span("t", None, "task"), span("a", "t", "agent"), span("u", "a", "turn", "boom"),
             span("g", "u", "generation"), span("b", "t", "agent")]
    assert errored_ancestors(spans, hidden={"task", "turn"}) == {"a"}
    assert errored_ancestors(spans, hidden=set()) == {"t", "a"}


def one_run(path: Path, form: str = "llm") -> str:
    store = Store(path)
    spec = ExperimentSpec("sales_email", forms=[form], inputs=["dana-acme"],
                          backend="scripted:sales")
    result = run_experiment(spec, store, backend=sales_backend())
    run_id = str(store.load_runs([result.experiment_id])["run_id"].iloc[0])
    store.close()
    return run_id




def test_a_failure_on_a_hidden_turn_span_marks_its_visible_agent(app_env: Path) -> None:
    run_id = one_run(app_env)
    with sqlite3.connect(app_env) as conn:
        conn.execute("UPDATE spans SET error='ModelBehaviorError: bad JSON' WHERE run_id=? AND "
                     "kind='turn'", (run_id,))
        conn.execute("UPDATE runs SET status='error', error_class='malformed_output' "
                     "WHERE run_id=?", (run_id,))
    at = app_on("views/trace.py")
    titles = [e.label for e in at.expander]
    assert not any(t.split(": ")[0].endswith("turn") for t in titles), titles
    agents = [t for t in titles if "agent: sales_manager" in t]
    assert agents and all("⚠️" in t for t in agents), titles


def test_a_cancelled_run_is_shown_as_cancelled_not_as_an_error(app_env: Path) -> None:
    run_id = one_run(app_env, "code")
    with sqlite3.connect(app_env) as conn:
        conn.execute("UPDATE runs SET status='cancelled', error_class='cancelled', "
                     "error_type='CancelledError', error_message='', success=NULL "
                     "WHERE run_id=?", (run_id,))
    at = app_on("views/trace.py")
    assert not at.error, [e.value for e in at.error]
    assert any("cancelled" in w.value.lower() for w in [*at.warning, *at.info])
