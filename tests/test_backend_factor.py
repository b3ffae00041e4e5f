"""Backend as a factor beside form and prompt variant (issue 28, item 3): groups split by the
backend each run recorded, one factor varied per comparison, short backend labels, success
against cost with its Pareto frontier, on Compare, in `summary --by backend` and in the
report."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from apptest_pages import app_on, open_tab
from markupsafe import escape
from sales_scripts import sales_backend

from orchlab.cli import main as cli
from orchlab.present import figures, report
from orchlab.running.runner import ExperimentSpec, run_experiment
from orchlab.stats import analysis, findings, frontier, summary
from orchlab.stats.gate import render_text
from orchlab.store.store import Store
from orchlab.testing.simulate import World, draw

MINI, NANO = "gpt-4.1-mini", "gpt-4.1-nano"


def two_backends(path: Path, reps: int = 2, same_model: bool = False) -> tuple[str, str]:
    """The same sales scenario run once on scripted:a and once on scripted:b (today's
    cross-experiment comparison of two models)."""
    store = Store(path)
    ids = []
    for backend_id, model in (("scripted:a", MINI), ("scripted:b", MINI if same_model else NANO)):
        spec = ExperimentSpec("sales_email", inputs=["dana-acme"], repetitions=reps,
                              backend=backend_id)
        backend = sales_backend(backend_id=backend_id, model_name=model)
        ids.append(run_experiment(spec, store, backend=backend).experiment_id)
    store.close()
    return ids[0], ids[1]


def frame(rows: list[dict]) -> pd.DataFrame:
    """Runs with only what grouping reads."""
    return pd.DataFrame([{"experiment_id": "e", "form": "code", "variant": "original",
                          "replay_of": None, "model": None, **r} for r in rows])


# -- groups, factors and labels ----------------------------------------------------------------


def test_a_group_name_reads_back_its_form_variant_backend_and_assignment() -> None:
    assert analysis.split_group("llm") == ("llm", None, None, None)
    assert analysis.split_group("llm · terse") == ("llm", "terse", None, None)
    assert analysis.split_group("llm @ gpt-4.1-mini") == ("llm", None, "gpt-4.1-mini", None)
    assert analysis.split_group("llm · terse @ nano") == ("llm", "terse", "nano", None)
    assert analysis.split_group("llm · terse @ nano | writer on mini") == (
        "llm", "terse", "nano", "writer on mini")
    assert analysis.split_group("llm | no assignment") == ("llm", None, None, "no assignment")
    for name in ("llm", "llm · t", "llm @ b", "llm | a", "llm · t @ b | a", "llm · t | a"):
        assert analysis.join_group(analysis.split_group(name)) == name
    assert findings.label("llm · terse @ nano") == "LLM-orchestrated · terse @ nano"
    assert findings.label("code @ nano") == "code-orchestrated @ nano"


def test_each_comparison_says_which_factor_it_varies() -> None:
    assert analysis.pair_factor("llm @ a", "code @ a") == "form"
    assert analysis.pair_factor("code @ b", "code @ a") == "backend"
    assert analysis.pair_factor("llm @ b", "code @ a") == "form and backend"
    assert analysis.pair_factor("llm · t @ b", "code · original @ a") == \
        "form and prompt variant and backend"
    assert analysis.is_mixed("form and backend") and not analysis.is_mixed("backend")
    groups = ["llm @ b", "code @ b", "llm @ a", "code @ a"]
    assert analysis.default_baseline(groups) == "code @ a"
    assert analysis.comparisons(groups, "code @ a") == [
        ("llm @ a", "form"), ("code @ b", "backend"), ("llm @ b", "form and backend")]
    # the mixed one is also compared one factor at a time, the other held
    assert analysis.held_comparisons(groups, "code @ a") == [
        ("llm @ b", "code @ b", "form"), ("llm @ b", "llm @ a", "backend")]
    assert analysis.held_comparisons(["llm @ b", "code @ a"], "code @ a") == []  # none ran
    # variants alone keep today's blocks: no held comparisons without a backend
    assert analysis.held_comparisons(["llm · t", "code · t", "code · original"],
                                     "code · original") == []


def test_the_notes_warn_when_two_factors_vary_at_once() -> None:
    note, warn = findings.factor_note("llm @ b", "code @ a", "form and backend")
    assert warn and "both form and backend" in note
    note, warn = findings.factor_note("llm · t @ b", "code @ a",
                                      "form and prompt variant and backend")
    assert warn and "form, prompt variant and backend" in note
    note, warn = findings.factor_note("code @ b", "code @ a", "backend")
    assert not warn and note.startswith("This finding compares the backend (the form held)")
    note, warn = findings.factor_note("llm @ b", "code @ b", "form")
    assert not warn and "the backend held: b" in note


def test_backend_labels_are_model_names_told_apart_when_shared() -> None:
    runs = frame([{"backend": "openai:gpt-4.1-mini", "model": MINI},
                  {"backend": "openai:gpt-4.1-nano", "model": NANO}])
    assert analysis.backend_labels(runs) == {"openai:gpt-4.1-mini": MINI,
                                             "openai:gpt-4.1-nano": NANO}
    shared = frame([{"backend": "scripted:a", "model": MINI},
                    {"backend": "scripted:b", "model": MINI},
                    {"backend": "local:x.gguf", "model": None}])
    assert analysis.backend_labels(shared) == {"scripted:a": f"{MINI} (scripted:a)",
                                               "scripted:b": f"{MINI} (scripted:b)",
                                               "local:x.gguf": "local:x.gguf"}
    odd = frame([{"backend": "x", "model": "m @ 1 · 2"}])  # never read as another factor
    assert analysis.backend_labels(odd) == {"x": "m at 1 - 2"}


def test_groups_split_by_the_backend_each_run_recorded() -> None:
    runs = frame([{"backend": "scripted:a", "model": MINI, "form": f}
                  for f in ("code", "llm")] + [{"backend": "scripted:b", "model": NANO,
                                                "form": f} for f in ("code", "llm")])
    assert analysis.backends_differ(runs)
    assert sorted(analysis.grouped(runs)["group"]) == [
        f"code @ {MINI}", f"code @ {NANO}", f"llm @ {MINI}", f"llm @ {NANO}"]
    assert sorted(analysis.grouped(runs, by_backend=False)["group"]) == [
        "code", "code", "llm", "llm"]
    assert sorted(set(analysis.grouped(runs, True, True)["group"])) == [
        f"code · original @ {MINI}", f"code · original @ {NANO}", f"llm · original @ {MINI}",
        f"llm · original @ {NANO}"]
    one = runs.assign(backend="scripted:a", model=MINI)
    assert not analysis.backends_differ(one) and set(analysis.grouped(one)["group"]) == {
        "code", "llm"}


def test_a_replay_beside_its_recording_is_no_other_backend() -> None:
    runs = frame([{"experiment_id": "rec", "backend": "scripted:a", "model": MINI},
                  {"experiment_id": "rep", "backend": "replay:rec", "model": MINI,
                   "replay_of": "rec"}])
    assert list(analysis.backend_keys(runs)) == ["scripted:a", "scripted:a"]
    assert not analysis.backends_differ(runs)
    alone = runs[runs["experiment_id"] == "rep"]  # its recording not here: as recorded
    assert list(analysis.backend_keys(alone)) == ["replay:rec"]


# -- the frontier ---------------------------------------------------------------------------


def test_the_pareto_frontier_keeps_points_no_other_beats_on_both() -> None:
    points = [(1.0, 0.5), (2.0, 0.9), (2.0, 0.8), (3.0, 0.9), (0.5, 0.2), (2.0, 0.9)]
    assert frontier.pareto(points) == [True, True, False, False, True, True]  # ties both on
    assert frontier.pareto([(1.0, 0.5)]) == [True]
    assert frontier.pareto([(1.0, 0.5), (1.0, 0.5)]) == [True, True]
    assert frontier.pareto([]) == []


def sim_runs(**world: object) -> pd.DataFrame:
    drawn = draw(World(inputs=6, backends=("x", "y"), **world),  # type: ignore[arg-type]
                 np.random.default_rng(3))
    return analysis.with_group(drawn.runs, False, True)


def test_frontier_points_carry_the_stats_intervals_and_say_their_axes() -> None:
    runs = sim_runs()
    found = frontier.frontier(runs)
    assert found["x"] == "cost_usd" and found["y"] == "success" and found["k"] == 1
    assert found["x_label"] == "mean cost per run (USD), failed runs included"
    assert [p["group"] for p in found["points"]] == ["a @ x", "a @ y", "b @ x", "b @ y"]
    for p in found["points"]:
        assert p["x_low"] <= p["x"] <= p["x_high"] and p["y_low"] <= p["y"] <= p["y_high"]
        rows = runs[runs["group"] == p["group"]]
        assert p["x"] == pytest.approx(rows["cost_usd"].mean())
        assert p["y"] == pytest.approx(rows["success"].mean())
    on = [p for p in found["points"] if p["on_frontier"]]
    assert on and frontier.pareto([(p["x"], p["y"]) for p in found["points"]]) == [
        p["on_frontier"] for p in found["points"]]
    json.dumps(found, allow_nan=False)


def test_an_unknown_cost_puts_tokens_on_the_axis_and_says_so() -> None:
    runs = sim_runs()
    runs.loc[runs.index[0], "cost_usd"] = None
    found = frontier.frontier(runs)
    assert found["x"] == "tokens"
    assert found["x_label"].startswith("mean tokens per run (cost unknown for 1 of 24 runs)")
    tokens = runs["input_tokens"] + runs["output_tokens"]
    first = found["points"][0]
    assert first["x"] == pytest.approx(tokens[runs["group"] == first["group"]].mean())
    assert "tokens per run (cost unknown)" in found["sentence"]


def test_pass_k_is_the_height_when_every_input_ran_several_times() -> None:
    runs = sim_runs(repetitions=3)
    found = frontier.frontier(runs)
    assert found["y"] == "pass^k" and found["k"] == 3 and found["y_label"].startswith("pass^3")
    summarized = summary.summarize_runs(runs, "b @ x")
    b_x = next(p for p in found["points"] if p["group"] == "b @ x")
    row = next(r for r in summarized["groups"]["b @ x"]["pass_k"] if r["k"] == 3)
    assert (b_x["y"], b_x["y_low"], b_x["y_high"]) == pytest.approx(
        (row["pass_hat_k"], row["pass_hat_k_low"], row["pass_hat_k_high"]))
    assert summarized["frontier"] == found


def test_a_group_with_no_scored_run_is_left_out_by_name() -> None:
    runs = sim_runs()
    runs["success"] = runs["success"].astype("boolean")  # as `Store.load_runs` gives it
    runs.loc[runs["group"] == "a @ y", "success"] = None
    found = frontier.frontier(runs)
    assert found["left_out"] == ["a @ y"]
    assert "a @ y" not in [p["group"] for p in found["points"]]
    assert found["sentence"].endswith("Left out, with no run whose outcome counts: a @ y.")
    chart = figures.frontier_chart(found)
    assert chart.layout.xaxis.title.text == found["x_label"]


# -- Compare, the summary command and the report --------------------------------------------


def test_compare_shows_the_backend_block_and_the_frontier(app_env: Path) -> None:
    two_backends(app_env)
    at = app_on("views/compare.py")
    box = at.multiselect(key="compare_experiments_sales_email")
    box.set_value(list(box.options)).run()
    assert not at.exception, at.exception
    assert at.toggle(key="compare_by_backend").value
    assert at.selectbox(key="compare_baseline").value == f"code @ {MINI}"
    headings = [e.label.replace("\u200b", "") for e in at.expander]  # escape_md splits "@"
    assert headings[:3] == [
        f"LLM-orchestrated @ {MINI} vs code-orchestrated @ {MINI}",
        f"Code-orchestrated @ {NANO} vs code-orchestrated @ {MINI}",
        f"LLM-orchestrated @ {NANO} vs code-orchestrated @ {MINI}"]
    assert f"LLM-orchestrated @ {NANO} vs LLM-orchestrated @ {MINI}" in headings
    captions = [c.value.replace("\u200b", "") for c in at.caption]
    assert any("compares the backend (the form held)" in c for c in captions), captions
    assert any(c.startswith(f"Backends: {MINI} = scripted") for c in captions), captions
    assert any("both form and backend" in w.value for w in at.warning)
    titles = [json.loads(c.proto.spec)["layout"]["title"]["text"]
              for c in open_tab(at, "compare_tab", "Success vs cost").get("plotly_chart")]
    assert "Success against cost: the frontier" in titles
    assert any(c.value.startswith("On the frontier of") for c in at.caption)
    at.toggle(key="compare_by_backend").set_value(False).run()
    assert not at.exception, at.exception
    assert at.selectbox(key="compare_baseline").value == "code"


def test_summary_by_backend_prints_the_groups_comparisons_and_frontier(
        app_env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    a, b = two_backends(app_env, reps=5, same_model=True)
    code = cli.main(["--store", str(app_env), "summary", a, b, "--by", "backend",
                     "--format", "json"])
    printed = json.loads(capsys.readouterr().out)
    assert code == 0
    mini_a, mini_b = f"{MINI} (scripted:a)", f"{MINI} (scripted:b)"
    assert set(printed["groups"]) == {f"{f} @ {m}" for f in ("code", "llm")
                                      for m in (mini_a, mini_b)}
    factors = {(c["group"], c["baseline"]): c["factor"] for c in printed["comparisons"]}
    assert factors[(f"code @ {mini_b}", f"code @ {mini_a}")] == "backend"
    assert factors[(f"llm @ {mini_b}", f"llm @ {mini_a}")] == "backend"
    assert factors[(f"llm @ {mini_b}", f"code @ {mini_a}")] == "form and backend"
    backend = next(c for c in printed["comparisons"] if c["factor"] == "backend")
    tokens = next(m for m in backend["metrics"] if m["figure"] == "tokens")
    assert tokens["estimate"]["point"] == pytest.approx(1.0)  # the same scripts: no difference
    assert len(printed["frontier"]["points"]) == 4
    assert printed["frontier"]["y"] == "pass^k" and printed["frontier"]["k"] == 3

    assert cli.main(["--store", str(app_env), "summary", a, b, "--by", "backend"]) == 0
    text = capsys.readouterr().out
    assert text == render_text(printed) + "\n"
    assert f"vs code @ {mini_a} (backend)" in text
    assert "(* on the Pareto frontier):" in text and re.search(r"^  \* ", text, re.M)

    # the default splits by backend when backends differ; --by form and --by-variant do not
    assert cli.main(["--store", str(app_env), "summary", a, b, "--format", "json"]) == 0
    assert set(json.loads(capsys.readouterr().out)["groups"]) == set(printed["groups"])
    assert cli.main(["--store", str(app_env), "summary", a, b, "--by", "form", "--format",
                     "json"]) == 0
    assert set(json.loads(capsys.readouterr().out)["groups"]) == {"code", "llm"}
    assert cli.main(["--store", str(app_env), "summary", a, "--by-variant", "--format",
                     "json"]) == 0
    assert set(json.loads(capsys.readouterr().out)["groups"]) == {"code · original",
                                                                  "llm · original"}
    assert cli.main(["--store", str(app_env), "summary", a, b, "--by", "variant", "--by",
                     "backend", "--format", "json"]) == 0
    assert f"code · original @ {mini_a}" in json.loads(capsys.readouterr().out)["groups"]
    # a backend group is a baseline and a gate's group like any other
    assert cli.main(["--store", str(app_env), "summary", a, b, "--by", "backend", "--format",
                     "json", "--baseline", f"llm @ {mini_b}", "--require",
                     f"code @ {mini_b}.success>=0.9", "--require",
                     f"llm @ {mini_a}.pass^3_low>=0.99"]) == 1
    out, err = capsys.readouterr()
    assert json.loads(out)["baseline"] == f"llm @ {mini_b}"
    assert err.startswith(f"FAILED llm @ {mini_a}.pass^3_low>=0.99: 0.") and \
        err.count("FAILED") == 1, err


def test_the_report_contains_the_frontier(store_path: Path) -> None:
    a, b = two_backends(store_path)
    opened = Store(store_path)
    try:
        html = report.render_report(opened, [a, b])
        runs = analysis.grouped(opened.load_runs([a, b]))
    finally:
        opened.close()
    found = summary.summarize_runs(runs, by="group")["frontier"]
    assert 'data-chart="frontier"' in html and '<h3 id="frontier">' in html
    assert f"<p>{escape(found['sentence'])}</p>" in html
    assert "Success against cost: the frontier" in html
    assert escape(f"LLM-orchestrated @ {NANO} vs LLM-orchestrated @ {MINI}") in html
