"""One source for every figure: the summary the CLI prints is what Compare shows, and its
thresholds make a CI gate."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from apptest_pages import app_on
from sales_scripts import sales_backend

from orchlab.cli import main as cli
from orchlab.running.runner import ExperimentSpec, run_experiment
from orchlab.stats import analysis, summary
from orchlab.store.store import Store
from views._widgets import escape_md


def experiment(path: Path, reps: int = 6) -> str:
    store = Store(path)
    spec = ExperimentSpec("sales_email", inputs=["dana-acme"], repetitions=reps,
                          backend="scripted:sales")
    experiment_id = run_experiment(spec, store, backend=sales_backend()).experiment_id
    store.close()
    return experiment_id


def cli_summary(path: Path, *args: str, capsys: pytest.CaptureFixture[str]) -> tuple[int, str,
                                                                                      str]:
    code = cli.main(["--store", str(path), "summary", *args])
    out, err = capsys.readouterr()
    return code, out, err


def test_the_cli_summary_is_what_compare_shows(app_env: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    exp = experiment(app_env)
    code, out, _ = cli_summary(app_env, exp, "--format", "json", capsys=capsys)
    assert code == 0
    printed = json.loads(out)
    at = app_on("views/compare.py")
    shown = [e for e in at.expander if e.label == "LLM-orchestrated vs code-orchestrated"]
    [block] = printed["comparisons"]
    # The same sentences, as text: a group's name may be a variant someone else's file named.
    assert [i.value for i in shown[0].info] == ["\n".join(f"- {escape_md(s)}"
                                                           for s in block["sentences"])]
    board = at.dataframe[0].value  # the scoreboard opens the findings
    expected = summary.scoreboard(printed).rename(columns={"figure": "Figure"})
    assert board.reset_index(drop=True).equals(expected), board
    assert "▲" in board.loc[board["Figure"] == "Tokens per run"].iloc[0, 2]
    table = next(d.value for d in at.dataframe if "Group" in d.value.columns).set_index("Group")
    assert table.loc["llm", "Runs"] == printed["groups"]["llm"]["runs"] == 6
    last = printed["groups"]["code"]["pass_k"][-1]
    assert (last["k"], last["pass_hat_k"], last["pass_at_k"]) == (6, 1.0, 1.0)
    assert 0 < last["pass_hat_k_low"] < last["pass_hat_k_high"] <= 1.0  # one input, 6 runs


def test_paired_figures_say_so_and_carry_a_corrected_test(store: Store) -> None:
    spec = ExperimentSpec("sales_email", inputs=["dana-acme"], repetitions=10,
                          backend="scripted:sales")
    exp = run_experiment(spec, store, backend=sales_backend()).experiment_id
    runs = analysis.with_group(store.load_runs([exp]), False)
    result = summary.summarize_runs(runs)
    tokens = next(m for m in result["comparisons"][0]["metrics"] if m["figure"] == "tokens")
    assert tokens["estimate"]["paired"] and tokens["estimate"]["n"] == 10
    assert tokens["test"]["name"] == "paired t-test on log ratios"
    assert tokens["test"]["correction"] == "Holm over this comparison's 5 figures"
    sentences = result["comparisons"][0]["sentences"]
    assert any(s.startswith("LLM-orchestrated used more tokens than code-orchestrated: ")
               and "paired by input and repetition, 10 pairs" in s for s in sentences), sentences
    json.dumps(result, allow_nan=False)  # strict JSON: no NaN anywhere


def test_six_pairs_that_all_differ_alike_are_claimed(store: Store) -> None:
    """The scripted LLM form spends the same tokens on every run, so all six pairs differ by
    exactly one ratio: a t-test has no spread to doubt it (a rank test on 6 pairs could not
    go below p = 1/32 and, after Holm, left this a "lead")."""
    spec = ExperimentSpec("sales_email", inputs=["dana-acme"], repetitions=6,
                          backend="scripted:sales")
    exp = run_experiment(spec, store, backend=sales_backend()).experiment_id
    [block] = summary.summarize_runs(analysis.with_group(store.load_runs([exp]), False))[
        "comparisons"]
    tokens = block["sentences"][1]
    assert tokens.startswith("LLM-orchestrated used more tokens than code-orchestrated"), tokens
    assert "p < 0.001 after Holm over this comparison's 5 figures" in tokens


def test_a_finding_never_claims_a_difference_its_interval_does_not_show() -> None:
    import pandas as pd

    rows = [{"experiment_id": "e", "form": form, "group": form, "input_id": f"i{i % 3}",
             "repetition": i // 3, "status": "ok",
             "wall_ms": 100.0 + (i * 7 + 5 * (form == "llm")) % 11,
             "input_tokens": 10, "output_tokens": 5, "cost_usd": None, "llm_calls": 2,
             "tool_calls": 1, "path": "a", "path_steps": [], "success": True,
             "outcome": {"success": True}, "error_class": None, "retries": 0,
             "price_source": "unknown price"} for form in ("code", "llm") for i in range(12)]
    result = summary.summarize_runs(pd.DataFrame(rows))
    latency = next(m for m in result["comparisons"][0]["metrics"] if m["figure"] == "wall_ms")
    assert not latency["estimate"]["significant"]
    text = summary.metric_sentence(latency, "llm", "code")
    assert text.startswith("No difference in latency shown"), text
    wider = summary.summarize_runs(pd.DataFrame(rows), detect=0.5)["comparisons"][0]
    said = wider["sentences"][0]
    assert "would detect a 50% difference with 80% power" in said, said


def test_thresholds_gate_a_build_and_name_what_failed(app_env: Path,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    exp = experiment(app_env, reps=3)
    code, _, err = cli_summary(app_env, exp, "--require", "code.success>=0.9", "--require",
                               "llm.pass^3>=0.5", capsys=capsys)
    assert code == 0 and err == ""
    code, _, err = cli_summary(app_env, exp, "--require", "llm.success>=1.5", "--require",
                               "llm.pass^4>=0.5", "--require", "code.tokens_mean<10",
                               capsys=capsys)
    assert code == 1
    assert err.splitlines() == ["FAILED llm.success>=1.5: 1",
                                "FAILED llm.pass^4>=0.5: unavailable for these runs",
                                "FAILED code.tokens_mean<10: 942"]


@pytest.mark.parametrize(("threshold", "said"), [
    ("llm.success>>0.9", "is not a threshold: write GROUP.FIGURE OP NUMBER"),
    ("llm.success", "is not a threshold"),
    ("nope.success>=0.9", "no group 'nope' in these runs (groups: code, llm)"),
    ("llm.speed>=1", "no figure 'speed'"),
])
def test_a_malformed_threshold_is_one_sentence_and_exit_2(
        app_env: Path, capsys: pytest.CaptureFixture[str], threshold: str, said: str) -> None:
    exp = experiment(app_env, reps=1)
    code, _, err = cli_summary(app_env, exp, "--require", threshold, capsys=capsys)
    assert code == 2 and said in err and len(err.strip().splitlines()) == 1, err


def test_the_text_summary_lists_every_group_and_comparison(
        app_env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    exp = experiment(app_env, reps=2)
    code, out, _ = cli_summary(app_env, exp[:12], capsys=capsys)
    assert code == 0
    assert "Code-orchestrated (code)" in out and "LLM-orchestrated (llm)" in out
    assert "pass^k / pass@k (1 inputs x 2 runs): k=1: 1 / 1, k=2: 1 / 1" in out
    assert "LLM-orchestrated vs code (form)" in out


def test_the_run_page_suggests_runs_from_the_stored_spread(app_env: Path) -> None:
    experiment(app_env, reps=3)
    at = app_on()
    hints = [c.value for c in at.caption if "would pin each form's mean latency" in c.value]
    assert len(hints) == 1 and "this plan has 1 per form" in hints[0], hints


def test_the_unpaired_estimate_stays_available_and_says_so(store: Store) -> None:
    spec = ExperimentSpec("sales_email", inputs=["dana-acme"], repetitions=6,
                          backend="scripted:sales")
    exp = run_experiment(spec, store, backend=sales_backend()).experiment_id
    runs = analysis.with_group(store.load_runs([exp]), False)
    [block] = summary.summarize_runs(runs, paired=False)["comparisons"]
    latency = next(m for m in block["metrics"] if m["figure"] == "wall_ms")
    assert latency["estimate"]["paired"] is False and latency["estimate"]["n"] == 12
    assert latency["test"]["name"] == "Welch's t-test on log values"
    said = block["sentences"][0]
    assert "over runs that ended ok; unpaired, 12 runs on 1 input; Welch's t-test" in said


def test_pass_k_bounds_gate_a_build_and_the_text_opens_with_the_scoreboard(
        app_env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    exp = experiment(app_env, reps=3)
    code, out, err = cli_summary(app_env, exp, "--require", "llm.pass^3_low>=0.01",
                                 "--require", "llm.pass^3_high<=1", capsys=capsys)
    assert code == 0 and err == "", err
    assert out.index("Success rate") < out.index("LLM-orchestrated (llm)")
    assert "Code-orchestrated (baseline)" in out and "Holm's correction" in out
    code, _, err = cli_summary(app_env, exp, "--require", "llm.pass^3_low>=0.99",
                               capsys=capsys)
    [line] = err.splitlines()
    assert code == 1 and line.startswith("FAILED llm.pass^3_low>=0.99: 0."), err
    code, _, err = cli_summary(app_env, exp, "--require", "llm.pass@3_low>=0.5", capsys=capsys)
    assert code == 2 and "only pass^k has an interval" in err
