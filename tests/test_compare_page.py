"""Compare page: one factor at a time, one colour per group, nothing blank or raw."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from apptest_pages import app_on, open_tab
from sales_scripts import sales_backend
from streamlit.testing.v1 import AppTest

from orchlab.core.records import ExperimentRecord, utcnow
from orchlab.present import figures
from orchlab.running.runner import ExperimentSpec, run_experiment
from orchlab.stats import analysis
from orchlab.store.store import Store
from views._widgets import COLUMN_LABELS, money


def make_experiment(path: Path, variant: str | None = None, reps: int = 1) -> str:
    store = Store(path)
    spec = ExperimentSpec("sales_email", inputs=["dana-acme"], repetitions=reps,
                          concurrency=2, backend="scripted:sales", variant=variant)
    result = run_experiment(spec, store, backend=sales_backend())
    store.close()
    return result.experiment_id




def select_all_experiments(at: AppTest) -> None:
    box = at.multiselect(key="compare_experiments_sales_email")
    box.set_value(list(box.options)).run()
    assert not at.exception, at.exception


def test_the_baseline_is_code_and_one_factor_comparisons_come_first() -> None:
    groups = ["llm · terse-both", "code · terse-both", "llm · original", "code · original"]
    assert analysis.default_baseline(groups) == "code · original"
    assert analysis.comparisons(groups, "code · original") == [
        ("llm · original", "form"), ("code · terse-both", "prompt variant"),
        ("llm · terse-both", "form and prompt variant")]
    assert analysis.default_baseline(["llm", "plan", "guarded"]) == "plan"
    assert analysis.ordered_groups(["llm", "handoff", "guarded", "plan", "router", "code",
                                    "mine"]) == ["code", "router", "plan", "guarded", "handoff",
                                                 "llm", "mine"]


def test_compare_by_variant_says_what_each_comparison_varies(app_env: Path) -> None:
    make_experiment(app_env)
    make_experiment(app_env, "terse-both")
    at = app_on("views/compare.py")
    select_all_experiments(at)
    assert at.selectbox(key="compare_baseline").value == "code · original"
    headings = [e.label for e in at.expander]
    assert headings[:3] == ["LLM-orchestrated · original vs code-orchestrated · original",
                            "Code-orchestrated · terse-both vs code-orchestrated · original",
                            "LLM-orchestrated · terse-both vs code-orchestrated · original"]
    captions = [c.value for c in at.caption]
    assert any("compares the form: LLM-orchestrated · original" in c for c in captions), captions
    assert any("compares the prompt variant" in c for c in captions), captions
    assert any("both form and prompt variant" in w.value for w in at.warning)


def _trace_colors(at: AppTest) -> dict[str, set[str]]:
    """Group name -> every colour its traces have, over every chart of the page (each tab
    opened in turn: the page draws only the open one)."""
    seen: dict[str, set[str]] = {}
    charts = [c for tab in [t.label for t in at.tabs]
              for c in open_tab(at, "compare_tab", tab).get("plotly_chart")]
    assert len(charts) >= 9, len(charts)
    for chart in charts:
        spec = json.loads(chart.proto.spec)
        for trace in spec["data"]:
            color = (trace.get("marker") or {}).get("color") or (trace.get("line") or {}).get(
                "color")
            if trace.get("name") and isinstance(color, str):
                seen.setdefault(trace["name"], set()).add(color)
    return seen


def test_a_group_keeps_one_colour_on_every_chart(app_env: Path) -> None:
    make_experiment(app_env, reps=2)
    make_experiment(app_env, "terse-both", reps=2)
    at = app_on("views/compare.py")
    select_all_experiments(at)
    colors = _trace_colors(at)
    groups = {"code · original", "code · terse-both", "llm · original", "llm · terse-both"}
    assert groups <= set(colors), colors
    assert all(len(colors[g]) == 1 for g in groups), colors
    assert len({next(iter(colors[g])) for g in groups}) == 4, colors


def test_only_the_open_tab_is_drawn(app_env: Path) -> None:
    """Nine tabs' dozen figures were built and sent on every rerun for the one tab anyone
    sees; a tab is drawn when opened, and what it draws is the same as before."""
    make_experiment(app_env, reps=2)
    at = app_on("views/compare.py")

    def titles() -> list[str]:
        return [json.loads(c.proto.spec)["layout"]["title"]["text"]
                for c in at.get("plotly_chart")]

    assert [t.label for t in at.tabs][0] == "Latency"
    assert titles() == ["Latency per run", "Latency ECDF"]
    open_tab(at, "compare_tab", "Success vs cost")
    assert titles() == ["Success against cost: the frontier"]
    open_tab(at, "compare_tab", "Failures")
    assert titles() == []
    assert any(c.value.startswith("Runs that did not end normally") for c in at.caption)


def test_charts_built_for_one_tab_are_the_ones_built_for_all(app_env: Path) -> None:
    """`compare_charts(only=…)` builds some of the charts, each the same as when all are
    built (the report builds all)."""
    runs = analysis.grouped(Store(app_env).load_runs([make_experiment(app_env, reps=2)]))
    colors = figures.group_colors(analysis.ordered_groups(runs["group"]))
    every = figures.compare_charts(runs, "group", colors)
    for names in [("latency", "latency_ecdf"), ("tokens", "cost"), ("pass_k",),
                  ("frontier",), ("outcomes", "outcome_counts"), ()]:
        some = figures.compare_charts(runs, "group", colors, only=names)
        assert set(some) == set(names) & set(every), names
        for name, item in some.items():
            same = item == every[name] if isinstance(item, str) else \
                item.to_json() == every[name].to_json()
            assert same, name


def test_group_colors_are_stable_and_distinct() -> None:
    palette = figures.group_colors(["llm", "code"])
    assert palette == {"code": figures.FORM_COLORS["code"], "llm": figures.FORM_COLORS["llm"]}
    many = figures.group_colors(["code · a", "code · b", "llm · a", "llm · b"])
    assert len(set(many.values())) == 4


def test_an_emptied_experiment_list_says_what_to_pick(app_env: Path) -> None:
    make_experiment(app_env)
    at = app_on("views/compare.py")
    at.multiselect(key="compare_experiments_sales_email").set_value([]).run()
    assert not at.exception, at.exception
    assert any("Pick at least one experiment" in i.value for i in at.info), at.info


def test_changing_the_scenario_never_leaves_a_blank_page(app_env: Path) -> None:
    make_experiment(app_env)
    store = Store(app_env)
    store.save_experiment(ExperimentRecord("weather-empty", "weather", "scripted:sales",
                                           utcnow(), {}, 2, status="completed"))
    store.close()
    at = app_on("views/compare.py")
    at.selectbox(key="compare_scenario").set_value("weather").run()
    assert not at.exception, at.exception
    said = [m.value for m in [*at.info, *at.warning]]
    assert any("no finished runs" in s for s in said), said
    at.selectbox(key="compare_scenario").set_value("sales_email").run()
    assert not at.exception, at.exception
    assert at.multiselect(key="compare_experiments_sales_email").value and at.dataframe


def test_one_run_per_form_shows_a_note_instead_of_an_empty_ecdf(app_env: Path) -> None:
    make_experiment(app_env)
    at = app_on("views/compare.py")
    assert any("one run per group" in c.value for c in at.caption), [c.value for c in at.caption]
    titles = [json.loads(c.proto.spec)["layout"]["title"]["text"] for c in at.get("plotly_chart")]
    assert "Latency ECDF" not in titles


def test_tables_use_human_labels_and_no_raw_none(app_env: Path) -> None:
    make_experiment(app_env)
    at = app_on("views/compare.py")
    raw = set(COLUMN_LABELS) | {"monthly_mean", "priced", "experiment_id"}
    for frame in at.dataframe:
        value: pd.DataFrame = frame.value
        assert not set(value.columns) & raw, list(value.columns)
        assert all("_" not in str(c) for c in value.columns if not str(c).startswith("class: ")
                   ), list(value.columns)
        text = value.astype(str)
        assert not text.isin(["None", "nan", "NaN", "<NA>"]).any().any(), value


@pytest.mark.parametrize(("value", "shown"), [
    (19.0, "$19.00"), (1234.5, "$1,234.50"), (0.5, "$0.500"), (0.0123, "$0.0123"),
    (0.000123, "$0.000123"), (0.0, "$0"), (None, "unknown"), (float("nan"), "unknown"),
])
def test_money_is_formatted_by_magnitude(value: float | None, shown: str) -> None:
    assert money(value) == shown


def test_two_experiments_say_which_runs_come_from_which(app_env: Path) -> None:
    make_experiment(app_env)
    make_experiment(app_env, "terse-both")
    at = app_on("views/compare.py")
    select_all_experiments(at)
    assert any("2 runs from" in c.value and "original" in c.value and "terse-both" in c.value
               for c in at.caption), [c.value for c in at.caption]
