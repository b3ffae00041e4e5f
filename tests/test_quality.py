"""A judge's quality figure with its own noise in the interval (issue 29, item 4): checked by
simulation in worlds where the run-level truth and the judge's noise are known, and by hand on
small frames (the figures, the pairing, the sentences, the summary's keys).

The worlds: each input has its own quality (inputs differ), each run of it its own (run-to-run
spread), and the judge scores a run K times on 1-5, each time the run's quality plus the
judge's noise, rounded and kept on the scale. The truth of a group's figure is the judge's
expected score of its runs on the inputs tested (worked out from the normal distribution,
exactly); the judge's known share from 200,000 simulated runs. The worlds are drawn by
`orchlab.testing.simulate_judges`, which bench/stats_calibration.py (section 6) draws too.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd
import pytest

from orchlab.stats.quality import (
    group_quality,
    quality_comparison,
    run_scores,
    share_sentence,
    summarize_quality,
)
from orchlab.testing.simulate_judges import (
    judgements_frame,
    known_shares,
    pass_fail_experiment,
    quality_experiment,
)

WORLDS = [
    # (name, judge sd, K, inputs, repetitions, effect)
    ("quiet judge, K=1", 0.3, 1, 6, 2, 0.0),
    ("noisy judge, K=1", 1.0, 1, 6, 2, 0.0),
    ("noisy judge, K=3", 1.0, 3, 6, 2, 0.4),
    ("noisy judge, K=3, 10 x 1", 1.0, 3, 10, 1, 0.0),
]
EXPERIMENTS = 400


@pytest.mark.parametrize(("name", "judge_sd", "k", "inputs", "reps", "effect"), WORLDS)
def test_the_quality_interval_covers_with_the_judges_noise_in_it(
        name: str, judge_sd: float, k: int, inputs: int, reps: int, effect: float,
        capsys: pytest.CaptureFixture[str]) -> None:
    """The group mean's and the paired difference's 95% intervals cover the truth in at least
    93% of experiments (Monte Carlo standard error about 1.1 points at 400), and with K > 1
    the judge's width share over all experiments is within 0.05 of its known value."""
    rng = np.random.default_rng(20261205 + k + inputs)
    covered = {"a": 0, "b": 0, "diff": 0}
    given = {"a": 0, "b": 0, "diff": 0}
    shares: dict[str, list[tuple[float, float]]] = {"group": [], "diff": []}
    for _ in range(EXPERIMENTS):
        runs, judgements, truth = quality_experiment(rng, inputs, reps, k, judge_sd, effect)
        scored = runs.merge(run_scores(judgements, "email_quality", "scripted:judge"),
                            on="run_id")
        for g in ("a", "b"):
            q = group_quality(scored[scored["group"] == g].reset_index(drop=True), g)
            if q.low is not None and q.high is not None:
                given[g] += 1
                covered[g] += q.low <= truth[g] <= q.high
            if g == "a" and q.share.judge_variance is not None:
                shares["group"].append((q.share.judge_variance, q.share.total_variance))
        c = quality_comparison(scored, "a", "b", "form")
        assert c is not None and c.paired
        if c.low is not None and c.high is not None:
            given["diff"] += 1
            covered["diff"] += c.low <= truth["diff"] <= c.high
        if c.share.judge_variance is not None:
            shares["diff"].append((c.share.judge_variance, c.share.total_variance))
    rates = {key: covered[key] / given[key] for key in covered}
    known = known_shares(judge_sd, k, effect)
    # the share over all experiments: the judge's variance summed against the total summed
    # (one experiment's share is a ratio of two noisy variances, so it scatters widely)
    pooled = [1 - math.sqrt(1 - sum(j for j, _ in v) / sum(t for _, t in v)) if v else None
              for v in (shares["group"], shares["diff"])]
    with capsys.disabled():
        print(f"\n{name}: covers a {rates['a']:.1%}, b {rates['b']:.1%}, diff "
              f"{rates['diff']:.1%} (given {given}); judge's width share known "
              f"{known[0]:.2f} / {known[1]:.2f}, estimated "
              + (f"{pooled[0]:.2f} / {pooled[1]:.2f}" if pooled[0] is not None
                 else "none (K=1)"))
    assert min(given.values()) >= 0.95 * EXPERIMENTS
    assert min(rates.values()) >= 0.93, rates
    if k == 1:
        assert not shares["group"] and not shares["diff"]
    else:
        assert pooled[0] is not None and pooled[1] is not None
        assert abs(pooled[0] - known[0]) < 0.05 and abs(pooled[1] - known[1]) < 0.05


PASS_FAIL_WORLDS = [
    # (name, judge sd, K, inputs, repetitions, center (0: a pass rate of one half), effect)
    ("pass/fail, K=1, most pass", 0.5, 1, 6, 2, 0.8, 0.0),
    ("pass/fail, K=1, nearly all pass", 0.5, 1, 6, 2, 1.6, 0.0),
    ("pass/fail, K=3, one better", 0.5, 3, 6, 2, 0.8, 0.3),
    ("pass/fail, K=1, 10 x 1, even", 0.8, 1, 10, 1, 0.2, 0.0),
]


@pytest.mark.parametrize(("name", "judge_sd", "k", "inputs", "reps", "center", "effect"),
                         PASS_FAIL_WORLDS)
def test_a_pass_fail_judges_pass_rate_interval_covers_and_is_always_given(
        name: str, judge_sd: float, k: int, inputs: int, reps: int, center: float,
        effect: float, capsys: pytest.CaptureFixture[str]) -> None:
    """A pass/fail judge's pass rate per group is given an interval whenever a group has
    enough runs, even when every run passed (where a t interval over 0/1 run means has no
    width and so none is given), and it covers the true pass rate in at least 93% of
    experiments; so does the paired difference, given in at least 95% of them."""
    rng = np.random.default_rng(20261206 + k + inputs)
    covered = {"a": 0, "b": 0, "diff": 0}
    given = {"a": 0, "b": 0, "diff": 0}
    for _ in range(EXPERIMENTS):
        runs, judgements, truth = pass_fail_experiment(rng, inputs, reps, k, judge_sd,
                                                       center, effect)
        scored = runs.merge(run_scores(judgements, "email_quality", "scripted:judge"),
                            on="run_id")
        for g in ("a", "b"):
            q = group_quality(scored[scored["group"] == g].reset_index(drop=True), g,
                              pass_fail=True)
            if q.low is not None and q.high is not None:
                given[g] += 1
                covered[g] += q.low <= truth[g] <= q.high
        c = quality_comparison(scored, "a", "b", "form", pass_fail=True)
        assert c is not None and c.paired
        if c.low is not None and c.high is not None:
            given["diff"] += 1
            covered["diff"] += c.low <= truth["diff"] <= c.high
    rates = {key: covered[key] / max(given[key], 1) for key in covered}
    with capsys.disabled():
        print(f"\n{name}: covers a {rates['a']:.1%}, b {rates['b']:.1%}, diff "
              f"{rates['diff']:.1%} (given {given})")
    assert given["a"] == given["b"] == EXPERIMENTS
    assert given["diff"] >= 0.95 * EXPERIMENTS, given
    assert min(rates.values()) >= 0.93, rates


def small() -> tuple[pd.DataFrame, pd.DataFrame]:
    """Two forms on 3 inputs x 2 repetitions, each run judged twice: code scores 3 and 4 on
    every run, llm 4 and 5 (so the judge's own spread is 0.5 per pair of judgements)."""
    runs = pd.DataFrame([{"run_id": f"{g}{i}{r}", "group": g, "input_id": f"i{i}",
                          "repetition": r, "status": "ok"}
                         for g in ("code", "llm") for i in range(3) for r in range(2)])
    scores = [{"run_id": f"{g}{i}{r}", "score": s + (0.0 if g == "code" else 1.0)
               + (0.5 * ((i + r) % 2))}
              for g in ("code", "llm") for i in range(3) for r in range(2) for s in (3, 4)]
    return runs, judgements_frame(pd.DataFrame(scores))


def test_the_figures_by_hand() -> None:
    runs, judgements = small()
    [item] = summarize_quality(runs, judgements, baseline="code")
    code, llm = item["groups"]["code"], item["groups"]["llm"]
    assert (code["runs"], code["judgements"], code["k_min"], code["k_max"]) == (6, 12, 2, 2)
    assert code["mean"] == pytest.approx(3.75) and llm["mean"] == pytest.approx(4.75)
    # run means 3.5 and 4.0, three each: variance 0.075 / 6; within-run variance 0.5
    # (each pair 0.5 apart around its mean: ss 0.5 per run over 1 df), K = 2: 0.25 / 6
    assert code["share"]["within_sd"] == pytest.approx(math.sqrt(0.5))
    assert code["share"]["total_variance"] == pytest.approx(0.075 / 6)
    assert code["share"]["variance_share"] == 1.0  # the judge's noise exceeds the spread seen
    [c] = item["comparisons"]
    assert (c["group"], c["baseline"], c["paired"], c["n"]) == ("llm", "code", True, 6)
    assert c["point"] == pytest.approx(1.0)
    assert c["low"] is None and "no spread" in c["sentence"]  # every pair differs by 1


def test_the_sentences_say_the_judges_share() -> None:
    from orchlab.stats.quality import JudgeShare

    assert share_sentence(JudgeShare(0.5, 0.03, 0.1, 0.3, 1 - math.sqrt(0.7)), 3) == (
        "About 16% of this interval's width is the judge's own disagreement with itself; more "
        "repetitions (--repeat) would narrow it.")
    assert "scored each run once" in share_sentence(JudgeShare(None, None, 0.1, None, None), 1)


def test_a_claimed_difference_and_its_sentence() -> None:
    rng = np.random.default_rng(3)
    runs, judgements, _ = quality_experiment(rng, 8, 2, 3, 0.8, 1.5)
    runs = runs.assign(group=runs["group"].map({"a": "llm", "b": "code"}))
    [item] = summarize_quality(runs, judgements, baseline="code")
    [c] = item["comparisons"]
    assert c["claimed"] and c["p_adjusted"] is not None and c["p_adjusted"] < 0.05
    assert c["sentence"].startswith("LLM-orchestrated scored higher than code-orchestrated "
                                    "on email_quality: ")
    assert "% of this interval's width is the judge's own disagreement" in c["sentence"]


def test_only_the_latest_prompt_version_and_usable_judgements_count() -> None:
    runs, judgements = small()
    old = judgements.assign(prompt_version="v0", score=1.0,
                            created_at=judgements["created_at"] - pd.Timedelta(days=1))
    failed = judgements.head(2).assign(status="error", score=np.nan, error_class="judge_error")
    mixed = pd.concat([old, judgements, failed], ignore_index=True)
    [item] = summarize_quality(runs, mixed, baseline="code")
    assert item["prompt_version"] == "v1" and item["groups"]["code"]["mean"] == 3.75
    assert item["groups"]["code"]["judgements"] == 12
    assert str(item["failed"]).startswith("2 of 26 judgements by email_quality failed "
                                          "(judge_error 2)")


def test_no_judgements_no_quality() -> None:
    runs, judgements = small()
    assert summarize_quality(runs, judgements.iloc[0:0]) == []


def test_failed_judgements_are_counted_and_a_judge_that_only_failed_is_still_shown() -> None:
    """The embedded judge's real pass: 10 of 12 judgements malformed. The figures hold the
    runs it scored, and the summary says how many failed and why; a judge whose every
    judgement failed is shown with that sentence, not left out as if never asked."""
    runs, judgements = small()
    broken = judgements.assign(status="ok", error_class=None)
    broken.loc[broken.index[:20], ["status", "error_class", "score", "label"]] = [
        "error", "judge_malformed", None, None]
    [item] = summarize_quality(runs, broken)
    assert item["failed"] == ("20 of 24 judgements by email_quality failed (judge_malformed "
                              "20): a failed judgement gives no score, so the figures below "
                              "hold only the runs it scored.")
    assert sum(g["runs"] for g in item["groups"].values()) == 2
    [only_failed] = summarize_quality(runs, broken.assign(status="error", score=None))
    assert only_failed["groups"] == {} and only_failed["failed"].startswith("24 of 24")
    _json_ready(only_failed)
    [clean] = summarize_quality(runs, judgements)
    assert clean["failed"] is None


def test_a_figure_without_an_interval_says_nothing_of_its_width() -> None:
    """One run judged twice, the same score each time: no interval, so no sentence about how
    much of "this interval's width" is the judge's (the summary said so of the real pass)."""
    runs, judgements = small()
    one = runs.iloc[:1].assign(group="code")
    same = judgements[judgements["run_id"] == one["run_id"].iloc[0]].assign(score=1.0)
    [item] = summarize_quality(one, same)
    [sentence] = [g["sentence"] for g in item["groups"].values()]
    assert "interval's width" not in sentence
    assert sentence.endswith("Asked again, the judge gave each run the same score.")


def _json_ready(value: Any) -> None:
    import json

    json.dumps(value, allow_nan=False)


def test_the_summary_is_json_ready() -> None:
    runs, judgements = small()
    _json_ready(summarize_quality(runs, judgements))
