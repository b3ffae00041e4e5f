"""A judge's quality figure per group, with the judge's own noise carried into its interval: the
mean judge score over runs (each run the mean of its K judgements, `orchlab judge --repeat K`),
its 95% interval, the difference between two groups (paired by input and repetition as Compare
pairs its other figures), and how much of each interval is the judge's disagreement with
itself. docs/STATISTICS.md ("A judge's noise in the quality figure") says what each figure
estimates and how the interval was checked by simulation (tests/test_quality.py).

Why the run means' t interval holds the judge's noise: a run's mean of K judgements is its
true quality (what the judge would score it on average) plus the mean of K independent judge
errors, so the spread of run means is run-to-run spread plus sigma_j^2 / K, and Student's t
over the run means covers both without a model of either. What the judge's share is: the
within-run variance of the K judgements (pooled over the group's runs judged at least twice)
estimates sigma_j^2; sigma_j^2 / K against the variance of the run means is the share of the
estimate's variance that is the judge's, and 1 - sqrt(1 - share) is how much narrower the
interval would be with a judge that never disagreed with itself (K without end): the share of
its width. With K = 1 on every run the judge's noise is in the interval but cannot be told
apart from the runs', and the share is None.

Pure functions over the frames `Store.load_runs` (grouped by `analysis.grouped`) and
`Store.load_judgements` return: no I/O, so a simulation with a known truth can check them.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import pandas as pd

from orchlab.stats import analysis, estimates, significance
from orchlab.stats.findings import label

__all__ = ["LEVEL", "GroupQuality", "JudgeShare", "QualityComparison", "group_quality",
           "judge_share", "latest_prompt_version", "quality_comparison", "quality_lines",
           "run_scores", "summarize_quality"]

LEVEL = 0.95
"""Every interval here is 95%."""
FAMILY_TEXT = "Holm over this comparison's judges"
"""The correction a quality difference's p takes: the judges scored in one comparison are
one family (the summary's 5 run figures are another, unchanged)."""


@dataclass(frozen=True)
class JudgeShare:
    """How much of an estimate's variance, and of its interval's width, is the judge's."""

    within_sd: float | None
    """sigma_j: the standard deviation of one run's judgements about their run's mean,
    pooled over the runs judged at least twice (None when no run was)."""
    judge_variance: float | None
    """The judge's part of the estimate's squared standard error (sigma_j^2 / K per run)."""
    total_variance: float
    """The estimate's squared standard error, as its interval uses it."""
    variance_share: float | None
    """judge_variance / total_variance, at most 1."""
    width_share: float | None
    """1 - sqrt(1 - variance_share): how much narrower the interval would be with a judge that
    always gave a run the same score (as K grows without end)."""


@dataclass(frozen=True)
class GroupQuality:
    """One judge's mean score of one group's runs, with its 95% interval."""

    group: str
    """The group (a form, or Compare's `group`)."""
    runs: int
    """Runs with at least one usable judgement: the n of the interval."""
    judgements: int
    """Usable judgements of those runs."""
    k_min: int
    """Fewest judgements of one run."""
    k_max: int
    """Most judgements of one run."""
    mean: float
    """The mean over runs of each run's mean score (a pass/fail judge: a pass rate)."""
    low: float | None
    """The interval's lower end: Student's t over the run means (None: fewer than
    MIN_RUNS_FOR_CI runs, or every run's mean the same)."""
    high: float | None
    """The interval's upper end; None with `low`."""
    share: JudgeShare
    """The judge's part of the interval."""


@dataclass(frozen=True)
class QualityComparison:
    """One judge's scores of group A against group B: the difference of their means."""

    group: str
    """Group A."""
    baseline: str
    """Group B."""
    factor: str
    """What differs between them (`analysis.comparisons`)."""
    mean_a: float
    """A's mean over the runs the estimate used (each run its mean score)."""
    mean_b: float
    """B's mean over the runs the estimate used."""
    point: float
    """mean_a - mean_b."""
    low: float | None
    """The 95% interval's lower end (None: too few runs or pairs, or no spread)."""
    high: float | None
    """Its upper end."""
    n: int
    """Pairs when paired, else the runs of both groups."""
    paired: bool
    """Whether runs were matched on (input_id, repetition)."""
    test: str
    """The t-test the interval inverts."""
    p_value: float | None
    """Its two-sided p, uncorrected."""
    p_adjusted: float | None
    """After Holm over the judges of this comparison (`FAMILY_TEXT`)."""
    claimed: bool
    """Whether a difference is stated: the corrected p below 0.05 and the interval
    excluding 0."""
    share: JudgeShare
    """The judge's part of the interval."""


# -- the figures -----------------------------------------------------------------------------

def latest_prompt_version(judgements: pd.DataFrame, judge: str, backend: str) -> str | None:
    """The prompt version of this judge's most recent judgement on this backend: an edited
    prompt is a new judge, and its scores never mix with the old prompt's."""
    mine = judgements[(judgements["judge"] == judge) & (judgements["backend"] == backend)]
    if mine.empty:
        return None
    return str(mine.sort_values("created_at")["prompt_version"].iloc[-1])


def run_scores(judgements: pd.DataFrame, judge: str, backend: str,
               prompt_version: str | None = None) -> pd.DataFrame:
    """One row per run the judge scored (its usable judgements: status ok with a score):
    run_id, mean (the run's mean score), k (its judgements) and ss (the sum of squared
    deviations of its judgements from that mean, for sigma_j). `prompt_version` None: the
    latest on that backend."""
    version = prompt_version or latest_prompt_version(judgements, judge, backend)
    mine = judgements[(judgements["judge"] == judge) & (judgements["backend"] == backend)
                      & (judgements["prompt_version"] == version) & (judgements["status"] == "ok")
                      & judgements["score"].notna()]
    if mine.empty:
        return pd.DataFrame(columns=["run_id", "mean", "k", "ss"])
    scores = mine.assign(square=mine["score"] ** 2).groupby("run_id")
    out = scores.agg(mean=("score", "mean"), k=("score", "size"), sq=("square", "sum"))
    out["ss"] = (out["sq"] - out["k"] * out["mean"] ** 2).clip(lower=0.0)
    return out.drop(columns="sq").reset_index()


def _within_variance(k: np.ndarray, ss: np.ndarray) -> float | None:
    """sigma_j^2 pooled over runs judged at least twice: the sum of squared deviations over
    the sum of K - 1 (None when no run was judged twice)."""
    df = float((k - 1).sum())
    return float(ss.sum()) / df if df > 0 else None


def judge_share(within_variance: float | None, judge_variance_of: float,
                total_variance: float) -> JudgeShare:
    """The judge's part of an estimate whose squared standard error is `total_variance`:
    `judge_variance_of` is the sum over its runs of (1 / K) x its weight squared, so that
    sigma_j^2 times it is the judge's part."""
    if within_variance is None:
        return JudgeShare(None, None, total_variance, None, None)
    judge = within_variance * judge_variance_of
    share = min(1.0, judge / total_variance) if total_variance > 0 else float(judge > 0)
    return JudgeShare(math.sqrt(within_variance), judge, total_variance, share,
                      1 - math.sqrt(1 - share))


def group_quality(scored: pd.DataFrame, group: str, level: float = LEVEL,
                  pass_fail: bool = False) -> GroupQuality:
    """One group's quality figure from its runs' rows of `run_scores`: the mean of run means
    with Student's t interval at n - 1 degrees of freedom, and the judge's share of it.

    A pass/fail judge's figure is a pass rate, and its interval is the one a success rate
    gets (`estimates.corrected_rate_interval` over the run means): a t interval over 0/1 run
    means has no width when every run passed, so it gave none where a person most wants one,
    and undercovers near 0 and 1. With K > 1 a run mean is a fraction, whose variance is at
    most a 0/1 outcome's, so the interval still holds, erring wide (tests/test_quality.py)."""
    means, k = scored["mean"].to_numpy(float), scored["k"].to_numpy(int)
    n = len(means)
    mean = float(means.mean())
    variance = float(np.var(means, ddof=1)) / n if n > 1 else 0.0
    share = judge_share(_within_variance(k, scored["ss"].to_numpy(float)),
                        float((1 / k).sum()) / n ** 2, variance)
    low = high = None
    if pass_fail and n >= analysis.MIN_RUNS_FOR_CI:
        low, high = estimates.corrected_rate_interval(float(means.sum()), n, level) or (
            None, None)
    elif n >= analysis.MIN_RUNS_FOR_CI and variance > 0:
        half = significance.t_quantile(level, n - 1) * math.sqrt(variance)
        low, high = mean - half, mean + half
    return GroupQuality(group, n, int(k.sum()), int(k.min()), int(k.max()), mean, low, high,
                        share)


def quality_comparison(scored: pd.DataFrame, a: str, b: str, factor: str, by: str = "group",
                       paired: bool = True, level: float = LEVEL, pass_fail: bool = False
                       ) -> QualityComparison | None:
    """A's quality against B's over runs both scored: paired by (input_id, repetition) when
    at least MIN_RUNS_FOR_CI pairs exist (each pair's difference carries both runs' judge
    noise: sigma_j^2 / K_a + sigma_j^2 / K_b), else Welch's t on the two groups' run means.
    `scored`: runs (with `by`, input_id, repetition) joined to `run_scores`. None when a
    group has no scored run. A pass/fail judge that gave each run one verdict compares pass
    rates as success rates are compared (`estimates.compare_rates`: Agresti-Min's interval
    and McNemar's exact test when paired), which, unlike t, gives an interval when every
    pair agreed."""
    ga, gb = scored[scored[by] == a], scored[scored[by] == b]
    if ga.empty or gb.empty:
        return None
    if pass_fail and int(scored["k"].max()) == 1:
        return _rate_comparison(scored, a, b, factor, by, paired, level)
    wa = _within_variance(ga["k"].to_numpy(int), ga["ss"].to_numpy(float))
    wb = _within_variance(gb["k"].to_numpy(int), gb["ss"].to_numpy(float))
    rows = estimates.pair_rows(scored, a, b, by) if paired else (np.array([], int),) * 2
    if len(rows[0]) >= analysis.MIN_RUNS_FOR_CI:
        xa = scored["mean"].to_numpy(float)[rows[0]]
        xb = scored["mean"].to_numpy(float)[rows[1]]
        ka = scored["k"].to_numpy(float)[rows[0]]
        kb = scored["k"].to_numpy(float)[rows[1]]
        est = estimates.paired_comparison(xa, xb, "diff", level)
        n = len(xa)
        total = float(np.var(xa - xb, ddof=1)) / n
        judge_of = [(wa, float((1 / ka).sum()) / n ** 2), (wb, float((1 / kb).sum()) / n ** 2)]
    else:
        xa, xb = ga["mean"].to_numpy(float), gb["mean"].to_numpy(float)
        ka, kb = ga["k"].to_numpy(float), gb["k"].to_numpy(float)
        est = estimates.unpaired_comparison(xa, xb, "diff", level)
        na, nb = len(xa), len(xb)
        total = ((float(np.var(xa, ddof=1)) / na if na > 1 else 0.0)
                 + (float(np.var(xb, ddof=1)) / nb if nb > 1 else 0.0))
        judge_of = [(wa, float((1 / ka).sum()) / na ** 2), (wb, float((1 / kb).sum()) / nb ** 2)]
    share = _two_sided_share(judge_of, total)
    usable = est is not None and total > 0
    return QualityComparison(
        group=a, baseline=b, factor=factor, mean_a=float(xa.mean()), mean_b=float(xb.mean()),
        point=float(xa.mean() - xb.mean()),
        low=est.low if usable and est is not None else None,
        high=est.high if usable and est is not None else None,
        n=est.n if est is not None else len(xa) + len(xb),
        paired=bool(est.paired) if est is not None else False,
        test=est.test if est is not None else "no test",
        p_value=est.p_value if usable and est is not None else None,
        p_adjusted=None, claimed=False, share=share)


def _rate_comparison(scored: pd.DataFrame, a: str, b: str, factor: str, by: str,
                     paired: bool, level: float) -> QualityComparison | None:
    """A pass/fail judge's pass rates compared (one verdict per run, so the judge's share is
    unknown, as with K = 1 on any scale)."""
    rates = estimates.compare_rates(scored.assign(success=scored["mean"] >= 0.5), a, b, by,
                                    paired, level)
    if rates is None:
        return None
    est = rates.estimate
    return QualityComparison(
        group=a, baseline=b, factor=factor, mean_a=rates.rate_a, mean_b=rates.rate_b,
        point=rates.rate_a - rates.rate_b, low=est.low if est else None,
        high=est.high if est else None,
        n=est.n if est else rates.n_a + rates.n_b, paired=bool(est and est.paired),
        test=rates.test.name if rates.test else "no test",
        p_value=rates.test.p_value if rates.test and est else None,
        p_adjusted=None, claimed=False, share=JudgeShare(None, None, 0.0, None, None))


def _two_sided_share(parts: list[tuple[float | None, float]], total: float) -> JudgeShare:
    """The judge's part of a difference: each side's sigma_j^2 times its (1 / K) weight;
    unknown when either side was judged once per run only."""
    if any(w is None for w, _ in parts):
        return JudgeShare(None, None, total, None, None)
    judge = sum(float(w) * of for w, of in parts if w is not None)
    pooled = sum(float(w) for w, _ in parts if w is not None) / len(parts)
    weight = judge / pooled if pooled > 0 else 0.0
    return judge_share(pooled, weight, total) if pooled > 0 else JudgeShare(
        0.0, 0.0, total, 0.0, 0.0)


# -- the summary -----------------------------------------------------------------------------

def summarize_quality(runs: pd.DataFrame, judgements: pd.DataFrame, baseline: str | None = None,
                      by: str = "group", paired: bool = True) -> list[dict[str, Any]]:
    """Per judge (name and backend, its latest prompt version there) with any usable
    judgement of these runs, JSON-ready: each group's quality figure and each comparison
    the summary makes (`analysis.comparisons` and `held_comparisons` against the same
    baseline), with sentences. What `orchlab summary` adds under "quality" and Compare reads.
    `runs`: the grouped runs frame `summarize_runs` was given (a `by` column)."""
    if judgements.empty or runs.empty:
        return []
    ok = runs[runs["status"] == "ok"][["run_id", by, "input_id", "repetition"]]
    groups = analysis.ordered_groups(runs[by])
    base = baseline if baseline in groups else analysis.default_baseline(groups)
    pairs = [(g, base, f) for g, f in analysis.comparisons(groups, base)]
    pairs += analysis.held_comparisons(groups, base)
    out: list[dict[str, Any]] = []
    keys = sorted(set(zip(judgements["judge"], judgements["backend"], strict=True)))
    for judge, backend in keys:
        version = latest_prompt_version(judgements, judge, backend)
        scored = ok.merge(run_scores(judgements, judge, backend, version), on="run_id")
        failed = failure_sentence(judgements, judge, backend, version, ok["run_id"])
        if scored.empty and failed is None:
            continue
        labels = judgements.loc[(judgements["judge"] == judge)
                                & (judgements["backend"] == backend)
                                & (judgements["status"] == "ok"), "label"].dropna()
        pass_fail = bool(len(labels)) and set(labels) <= {"pass", "fail"}
        scored = scored.reset_index(drop=True)
        found = {str(g): group_quality(part.reset_index(drop=True), str(g),
                                       pass_fail=pass_fail)
                 for g, part in analysis.in_group_order(scored, [by])}
        compared = [c for g, against, factor in pairs
                    if (c := quality_comparison(scored, g, against, factor, by, paired,
                                                pass_fail=pass_fail))]
        out.append({"judge": judge, "backend": backend, "prompt_version": version,
                    "pass_fail": pass_fail, "failed": failed,
                    "groups": {g: {**asdict(q), "sentence": group_sentence(q, judge, pass_fail)}
                               for g, q in found.items()},
                    "comparisons": compared})  # made JSON-ready below, once corrected
    _correct(out)
    return out


def failure_sentence(judgements: pd.DataFrame, judge: str, backend: str, version: str | None,
                     run_ids: pd.Series) -> str | None:
    """How many of this judge's judgements of these runs (on this backend, at this prompt
    version) failed and why, by class; None when none did. A failed judgement scores
    nothing, so without this a judge that failed on most runs would show a figure over the
    few it scored as if they were all."""
    mine = judgements[(judgements["judge"] == judge) & (judgements["backend"] == backend)
                      & (judgements["prompt_version"] == version)
                      & judgements["run_id"].isin(run_ids)]
    failed = mine[mine["status"] != "ok"]
    if failed.empty:
        return None
    classes = ", ".join(f"{cls} {n}" for cls, n in
                        failed["error_class"].fillna("unclassified").value_counts().items())
    return (f"{len(failed)} of {len(mine)} judgements by {judge} failed ({classes}): a failed "
            "judgement gives no score, so the figures below hold only the runs it scored.")


def _correct(items: list[dict[str, Any]]) -> None:
    """Holm over the judges scored in each comparison (one family per group and baseline),
    then each comparison as JSON with its sentence."""
    families: dict[tuple[str, str], list[tuple[dict[str, Any], int]]] = {}
    for item in items:
        for i, c in enumerate(item["comparisons"]):
            families.setdefault((c.group, c.baseline), []).append((item, i))
    for members in families.values():
        found: list[QualityComparison] = [item["comparisons"][i] for item, i in members]
        tests = [significance.Test("t", 0.0, q.p_value, q.n, q.n) for q in found
                 if q.p_value is not None]
        adjusted = iter(significance.holm(tests, family=max(len(members), 1),
                                          label=FAMILY_TEXT))
        for (item, i), c in zip(members, found, strict=True):
            if c.p_value is not None:
                test = next(adjusted)
                p = test.p_adjusted if test is not None else None
                claimed = p is not None and p < 0.05 and c.low is not None and c.high is not None \
                    and not c.low <= 0 <= c.high
                c = QualityComparison(**{**asdict(c), "share": c.share, "p_adjusted": p,
                                         "claimed": bool(claimed)})
            item["comparisons"][i] = {**asdict(c), "sentence": comparison_sentence(
                c, item["judge"], item["pass_fail"])}


# -- sentences -------------------------------------------------------------------------------

def _score(value: float, pass_fail: bool) -> str:
    return f"{value:.0%}" if pass_fail else f"{value:.2f}"


def _diff(value: float, pass_fail: bool) -> str:
    return f"{value:+.0%}" if pass_fail else f"{value:+.2f}"


def share_sentence(share: JudgeShare, k_max: int) -> str:
    """How much of the interval is the judge's disagreement with itself, in words."""
    if share.width_share is None:
        if k_max <= 1:
            return ("The judge scored each run once, so its own noise is inside the interval "
                    "but cannot be told apart (--repeat 3 would measure it).")
        return "The judge's own noise could not be measured here."
    pct = round(100 * share.width_share)
    if pct < 5:
        return ("Almost none of this interval's width is the judge's own disagreement with "
                "itself: the runs differ more than its scores of one run do.")
    return (f"About {pct}% of this interval's width is the judge's own disagreement with "
            "itself; more repetitions (--repeat) would narrow it.")


def group_sentence(q: GroupQuality, judge: str, pass_fail: bool) -> str:
    """One group's figure: its mean and interval over n runs, K, and the judge's share."""
    what = "pass rate" if pass_fail else "mean score"
    ks = f"{q.k_min}" if q.k_min == q.k_max else f"{q.k_min}-{q.k_max}"
    interval = (f" [95% CI {_score(q.low, pass_fail)}, {_score(q.high, pass_fail)}]"
                if q.low is not None and q.high is not None else
                " (too few runs, or no spread, for an interval)")
    said = (f"{judge} {what} of {label(q.group)}: {_score(q.mean, pass_fail)}{interval} over "
            f"{q.runs} runs, each the mean of {ks} judgement{'s' if q.k_max > 1 else ''}.")
    if q.low is not None and q.high is not None:
        return f"{said} {share_sentence(q.share, q.k_max)}"
    if q.share.within_sd == 0.0:  # no interval to apportion, but a fact worth saying
        return f"{said} Asked again, the judge gave each run the same score."
    return said


def comparison_sentence(c: QualityComparison, judge: str, pass_fail: bool) -> str:
    """A comparison of two groups' quality: the estimate with its interval, the pairing and
    the test, a difference stated only when claimed, and the judge's share."""
    what = "pass rate" if pass_fail else "mean score"
    pairing = (f"paired by input and repetition, {c.n} pairs" if c.paired
               else f"unpaired, {c.n} runs")
    values = f"{_score(c.mean_a, pass_fail)} vs {_score(c.mean_b, pass_fail)}"
    if c.low is None or c.high is None:
        return (f"Too few runs (or no spread) for an interval on {judge}'s {what} between "
                f"{label(c.group)} and {label(c.baseline)}: {values} ({pairing}).")
    p = c.p_adjusted if c.p_adjusted is not None else c.p_value
    test = (f"{c.test} {significance.p_text(p)} after {FAMILY_TEXT}" if p is not None
            else c.test)
    said = (f"{values}, difference {_diff(c.point, pass_fail)} [95% CI "
            f"{_diff(c.low, pass_fail)}, {_diff(c.high, pass_fail)}] ({what}, {pairing}; "
            f"{test})")
    k = 2 if c.share.width_share is not None else 1
    tail = " " + share_sentence(c.share, k)
    if c.claimed:
        more = "higher" if c.point > 0 else "lower"
        return f"{label(c.group)[:1].upper()}{label(c.group)[1:]} scored {more} than " \
               f"{label(c.baseline)} on {judge}: {said}.{tail}"
    return f"No difference in {judge} shown between {label(c.group)} and " \
           f"{label(c.baseline)}: {said}.{tail}"


def quality_lines(items: list[dict[str, Any]]) -> list[str]:
    """Each judge's quality figures as text, under a heading; none without judgements."""
    if not items:
        return []
    lines = ["Quality by judge (each run the mean of its judgements; intervals hold run-to-run "
             "and judge-to-judge variation):"]
    for item in items:
        lines.append(f"  {item['judge']} on {item['backend']} (prompt {item['prompt_version']}):")
        if item.get("failed"):
            lines.append(f"    {item['failed']}")
        lines.extend(f"    {g['sentence']}" for g in item["groups"].values())
        lines.extend(f"    - {c['sentence']}" for c in item["comparisons"])
    return lines
