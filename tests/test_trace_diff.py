"""Trace diff: two scripted runs line up step by step, with a known first divergence; the
Trace page shows the aligned table and both waterfalls."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from agents.testing import assistant_message, function_call
from apptest_pages import app_on
from sales_scripts import (
    DRAFTS,
    MANAGER_USAGE,
    PICKER_USAGE,
    WRITER_USAGE,
    sales_backend,
    send_call,
    step,
)

from orchlab.core.records import SpanRecord
from orchlab.present.figures import waterfall_pair
from orchlab.running.runner import ExperimentSpec, run_experiment
from orchlab.stats.tracediff import (
    ALIGNED_COLUMNS,
    AlignedRow,
    Step,
    align,
    aligned_frame,
    default_partner,
    divergence_text,
    steps_of,
)
from orchlab.store.store import Store

MANAGER_TOKENS = sum(i + o for i, o in MANAGER_USAGE)
WRITER_TOKENS = {w: i + o for w, (i, o) in WRITER_USAGE.items()}


def manager_skipping(skipped: str) -> list[Any]:
    """The normal manager, except that it never consults `skipped`."""
    calls = [function_call(w, {"input": "Prospect: Dana"}, call_id=f"c{i}")
             for i, w in enumerate(WRITER_USAGE) if w != skipped]
    subject, body = DRAFTS["humorous_writer"].split("\n\n", 1)
    return [step(calls, MANAGER_USAGE[0]),
            step([send_call(body, "c9", subject=subject[9:])], MANAGER_USAGE[1]),
            step([assistant_message("Sent the humorous draft.")], MANAGER_USAGE[2])]


def stored_spans(store: Store, form: str, **scripts: Any) -> list[SpanRecord]:
    spec = ExperimentSpec("sales_email", forms=[form], inputs=["dana-acme"])
    result = run_experiment(spec, store, backend=sales_backend(**scripts))
    assert result.status == "completed"
    run_id = str(store.load_runs([result.experiment_id])["run_id"].iloc[0])
    return store.load_spans(run_id)


def names(steps: list[Step]) -> list[str]:
    return [s.name for s in steps]


def test_an_llm_run_that_skips_a_writer_diverges_at_that_writer(store: Store) -> None:
    normal = steps_of(stored_spans(store, "llm"))
    skipping = steps_of(stored_spans(store, "llm",
                                     sales_manager=lambda: manager_skipping("concise_writer")))
    assert names(normal) == ["sales_manager", "professional_writer", "humorous_writer",
                             "concise_writer", "send_email"]
    assert [s.kind for s in normal] == ["agent", "function", "function", "function", "function"]
    # each generation counts once, toward its nearest step: the manager's own calls only
    assert [s.tokens for s in normal] == [MANAGER_TOKENS, *WRITER_TOKENS.values(), 0]
    assert all(s.duration_ms > 0 for s in normal)
    assert [s.start_ms for s in normal] == sorted(s.start_ms for s in normal)

    rows, first = align(normal, skipping)
    assert first == 3
    assert [r.op for r in rows] == ["equal", "equal", "equal", "delete", "equal"]
    assert rows[3] == AlignedRow(normal[3], None, "delete")
    assert rows[4].a == normal[4] and rows[4].b == skipping[3]
    assert divergence_text(rows, first, "normal", "skipping") == (
        "First divergence at row 4 of 5 (delete): normal ran `concise_writer`, skipping has "
        "no step here.")

    back, first_back = align(skipping, normal)
    assert first_back == 3 and back[3] == AlignedRow(None, normal[3], "insert")
    same, none = align(normal, normal)
    assert none is None and {r.op for r in same} == {"equal"}
    assert "took the same 5 steps" in divergence_text(same, none)


def test_code_against_llm_the_manager_is_an_insert_and_the_picker_a_delete(store: Store) -> None:
    code = steps_of(stored_spans(store, "code"))
    llm = steps_of(stored_spans(store, "llm"))
    assert names(code) == ["professional_writer", "humorous_writer", "concise_writer", "picker",
                           "send_email"]
    assert [s.tokens for s in code] == [*WRITER_TOKENS.values(), sum(PICKER_USAGE), 0]
    rows, first = align(code, llm)
    assert first == 0
    assert [r.op for r in rows] == ["insert", "equal", "equal", "equal", "delete", "equal"]
    assert rows[0].b is not None and rows[0].b.name == "sales_manager"
    assert rows[4].a is not None and rows[4].a.name == "picker"

    frame = aligned_frame(rows)
    assert list(frame.columns) == ALIGNED_COLUMNS
    assert frame.loc[0, "step B"] == "agent: sales_manager" and pd.isna(frame.loc[0, "step A"])
    assert frame.loc[1, "step A"] == "agent: professional_writer"
    assert frame.loc[1, "step B"] == "function: professional_writer"
    assert frame.loc[4, "tokens A"] == sum(PICKER_USAGE) and pd.isna(frame.loc[4, "tokens B"])
    assert list(frame["op"]) == [r.op for r in rows]


def test_unequal_replaced_stretches_pair_up_then_delete_or_insert() -> None:
    def s(name: str) -> Step:
        return Step(name, "agent", 0.0, 1.0, 0)

    rows, first = align([s("a"), s("x"), s("y"), s("b")], [s("a"), s("z"), s("b")])
    assert first == 1
    assert [(r.a and r.a.name, r.b and r.b.name, r.op) for r in rows] == [
        ("a", "a", "equal"), ("x", "z", "replace"), ("y", None, "delete"), ("b", "b", "equal")]
    assert align([], []) == ([], None)


def test_the_pair_figure_stacks_both_runs_on_one_time_axis(store: Store) -> None:
    code, llm = stored_spans(store, "code"), stored_spans(store, "llm")
    fig = waterfall_pair(code, llm, "A: code", "B: llm")
    assert {t.yaxis for t in fig.data} == {"y", "y2"}
    assert fig.layout.xaxis.matches == "x2"  # one time axis for both panels
    assert [a.text for a in fig.layout.annotations] == ["A: code", "B: llm"]
    legend = [t.name for t in fig.data if t.showlegend is not False]
    assert len(legend) == len(set(legend))  # one legend entry per kind


def test_the_default_partner_is_the_same_input_in_another_form() -> None:
    runs = pd.DataFrame([
        {"run_id": "c0", "form": "code", "input_id": "i", "repetition": 0},
        {"run_id": "c1", "form": "code", "input_id": "i", "repetition": 1},
        {"run_id": "x0", "form": "code", "input_id": "j", "repetition": 0},
        {"run_id": "l0", "form": "llm", "input_id": "i", "repetition": 0},
    ])
    assert default_partner(runs, "c0") == "l0"
    assert default_partner(runs, "l0") == "c0"
    assert default_partner(runs, "x0") == "c0"  # no other run of input j: any other run
    assert default_partner(runs[runs["form"] == "code"], "c0") == "c1"
    assert default_partner(runs[runs["run_id"] == "c0"], "c0") is None


@pytest.fixture
def two_forms(app_env: Path) -> Path:
    store = Store(app_env)
    spec = ExperimentSpec("sales_email", forms=["code", "llm"], inputs=["dana-acme"],
                          backend="scripted:sales")
    assert run_experiment(spec, store, backend=sales_backend()).status == "completed"
    store.close()
    return app_env


def test_the_trace_page_compares_the_run_with_the_other_form(two_forms: Path) -> None:
    at = app_on("views/trace.py")
    assert not at.exception, at.exception
    assert "Compare two runs" in [h.value for h in at.subheader]
    run_box = at.selectbox(key="trace_run")
    compare = [s for s in at.selectbox if s.label == "Compare with"]
    assert len(compare) == 1 and compare[0].value != run_box.value
    first_form = run_box.options[run_box.index].split(" · ")[0]
    assert compare[0].options[compare[0].index].split(" · ")[0] != first_form  # other form
    assert any("First divergence at row 1" in w.value for w in at.warning), \
        [w.value for w in at.warning]
    table = at.dataframe[0].value
    assert list(table.columns) == ALIGNED_COLUMNS
    code_first = ["insert", "equal", "equal", "equal", "delete", "equal"]
    swapped = {"insert": "delete", "delete": "insert", "equal": "equal"}
    assert list(table["op"]) == (code_first if first_form == "code"
                                 else [swapped[op] for op in code_first])
    specs = [json.loads(c.proto.spec) for c in at.get("plotly_chart")]
    titles = [s["layout"]["title"]["text"] for s in specs]
    assert titles == ["Waterfall", "Waterfalls of the two runs"]
    pair = specs[1]
    assert {t.get("yaxis") for t in pair["data"]} == {"y", "y2"}


def test_a_run_alone_in_its_experiment_has_nothing_to_compare_with(app_env: Path) -> None:
    store = Store(app_env)
    spec = ExperimentSpec("sales_email", forms=["code"], inputs=["dana-acme"],
                          backend="scripted:sales")
    run_experiment(spec, store, backend=sales_backend())
    store.close()
    at = app_on("views/trace.py")
    assert not at.exception, at.exception
    assert any("no other run" in i.value for i in at.info)
    assert not at.dataframe
