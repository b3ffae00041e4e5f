"""How far a judge agrees with people: its scores and people's labels of the same runs, paired by
run, as chance-corrected agreement (Cohen's kappa for pass/fail, quadratic-weighted kappa for a
scale) and rank correlation (Spearman's rho, scales only), each with its n and a 95% interval,
and one verdict word. docs/STATISTICS.md ("Judges against people") says what each figure
estimates and how the interval was checked.

Pure functions over the frames `Store.load_labels` and `Store.load_judgements` return: no I/O,
so a simulation with a known truth can check them (tests/test_agreement.py).

What is paired. A judge here is one judge name on one backend with one prompt version: the
same name on another model, or with an edited prompt, is another judge with its own agreement.
By default the prompt version is the latest one on that backend (the version of its most
recent judgement): an edited prompt is judged again, and the old version's agreement says
nothing about the new one. For each run, the judge's score is the mean of its usable
judgements of that run (its K repetitions), and the people's score is the mean of their labels
(several people labelling one run count as one run, their mean its label): the unit is the
run, so a run labelled three times does not weigh three times.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import pandas as pd

from orchlab.stats.analysis import MIN_RUNS_FOR_CI
from orchlab.stats.quality import latest_prompt_version, run_scores
from orchlab.stats.significance import t_quantile

MIN_LABELLED_RUNS = 10
"""Below this many labelled runs the judge judged, agreement is "untested": at 10 runs a
kappa's 95% interval is still 0.56 wide on average for a judge at 0.92 and 1.3 for one at 0.35
(the simulation of tests/test_agreement.py), so fewer says next to nothing, and a point
estimate alone would read as a finding."""
WEAK_BELOW = 0.4
"""A kappa under 0.4 is "weak": Fleiss (1981, Statistical Methods for Rates and Proportions)
calls agreement below 0.40 poor and 0.40-0.75 fair to good, the usual benchmark for kappa."""
WEAK_LOW_BELOW = 0.2
"""An interval whose low end is under 0.2 is "weak" too: the runs cannot rule out agreement
Landis and Koch (1977) call slight (0.20 or less), however good the point estimate."""
VERDICTS = ("untested", "weak", "fair/good")
"""The verdict words, worst first."""
LEVEL = 0.95
"""Every interval here is 95%."""
Z_EDGE = 1e-6
"""How far from -1 and 1 a figure is held before Fisher's z (`_inside`)."""
MIN_EACH_VERDICT = 5
"""A pass/fail judge gets an interval only when people passed at least this many of the
labelled runs and failed at least this many: kappa's spread rests on the rarer verdict, as a
rate's does on the rarer outcome; at 10 runs with 20% passes the interval covered 72% of
simulated experiments without this rule (2026-12-05). Fewer, and agreement is "untested"."""
PASS_FAIL = frozenset({"pass", "fail"})
"""A judge whose usable judgements are all labelled pass or fail answers pass/fail."""

__all__ = ["LEVEL", "MIN_EACH_VERDICT", "MIN_LABELLED_RUNS", "VERDICTS", "WEAK_BELOW",
           "WEAK_LOW_BELOW", "Agreement", "Figure", "agreement_intervals", "agreement_lines",
           "judge_agreement", "kappa", "paired_scores", "spearman", "summarize_agreement",
           "verdict"]


@dataclass(frozen=True)
class Figure:
    """One agreement figure of one judge, with its 95% interval."""

    name: str
    """"Cohen's kappa", "weighted kappa" (quadratic weights) or "Spearman"."""
    estimate: float | None
    """The figure on the paired runs; None when it is undefined (no spread in the scores)."""
    low: float | None
    """The interval's lower end; None when there is no interval (fewer than
    `MIN_RUNS_FOR_CI` runs, too little spread, or too few passes or fails)."""
    high: float | None
    """The interval's upper end; None with `low`."""


@dataclass(frozen=True)
class Agreement:
    """One judge (name, backend, prompt version) against people's labels of the same runs."""

    judge: str
    """The judge's name, e.g. email_quality."""
    backend: str
    """The backend its judgements ran on."""
    prompt_version: str
    """The prompt version paired (the latest on that backend unless one was chosen)."""
    pass_fail: bool
    """Whether it answers pass/fail (kappa only) rather than on a scale."""
    n: int
    """Labelled runs this judge judged: the pairs every figure is over."""
    labels: int
    """People's labels of runs for this judge in the experiments, paired or not."""
    labelled_runs: int
    """Runs with at least one label for this judge."""
    figures: list[Figure]
    """Cohen's kappa (pass/fail), or weighted kappa then Spearman (a scale)."""
    verdict: str
    """One of VERDICTS (`verdict`)."""
    reason: str
    """Why that verdict, in a few words."""

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready, with the text line (`sentence`)."""
        return {**asdict(self), "sentence": self.sentence()}

    def sentence(self) -> str:
        """One line: 'email_quality on openai:gpt-4.1-mini (prompt 3f9a0c1d2e4b): weighted
        kappa 0.62 [0.41, 0.80], Spearman 0.58 [0.30, 0.77], n=24 labelled runs: fair/good'."""
        who = f"{self.judge} on {self.backend} (prompt {self.prompt_version})"
        if self.labels == 0:
            return f"{who}: agreement untested: no labels"
        shown = ", ".join(f"{f.name} {_number(f.estimate)}"
                          + ("" if f.low is None else f" [{_number(f.low)}, {_number(f.high)}]")
                          for f in self.figures)
        said = f"{who}: {shown + ', ' if self.n else ''}n={self.n} labelled runs: {self.verdict}"
        return said if self.verdict == "fair/good" else f"{said} ({self.reason})"


def _number(value: float | None) -> str:
    return "—" if value is None else f"{value:.2f}"


# -- the figures -----------------------------------------------------------------------------

def kappa(people: Any, judge: Any) -> float | None:
    """Chance-corrected agreement: 1 - mean((x - y)^2) / mean over all i, j of (x_i - y_j)^2.

    With 0/1 scores (pass/fail) this is Cohen's kappa: a squared difference is 1 exactly when
    two verdicts disagree, so it is 1 - observed disagreement / disagreement expected from the
    margins alone, (p_o - p_e) / (1 - p_e). With scores on a scale it is the quadratic-weighted
    kappa (weights (i - j)^2, whose scale factor cancels). Written over the values rather than
    a table so a run's mean over several judgements or labels (2 of 3 passes: 0.67) enters as
    it is instead of being rounded; with one of each per run it is the textbook figure. None
    when neither side varies (nothing to be agreed on beyond chance, or nothing at all)."""
    x, y = np.asarray(people, dtype=float), np.asarray(judge, dtype=float)
    if len(x) == 0:
        return None
    value = _kappa_rows(x[None, :], y[None, :])[0]
    return None if math.isnan(value) else float(value)


def _kappa_rows(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """`kappa` of each row pair (one set of runs per row); NaN where undefined. The expected
    disagreement mean_ij (x_i - y_j)^2 is var(x) + var(y) + (mean x - mean y)^2."""
    observed = ((x - y) ** 2).mean(axis=1)
    spread = x.var(axis=1) + y.var(axis=1)
    expected = spread + (x.mean(axis=1) - y.mean(axis=1)) ** 2
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(spread > 1e-12, 1 - observed / np.where(expected > 0, expected, 1),
                        np.nan)


def spearman(people: Any, judge: Any) -> float | None:
    """Spearman's rho (scipy.stats.spearmanr, tied values given their mean rank): whether the
    judge orders runs as people do, whatever its offset or spread. None when either side is
    constant."""
    from scipy.stats import spearmanr

    x, y = np.asarray(people, dtype=float), np.asarray(judge, dtype=float)
    if len(x) < 2:
        return None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # a constant input: ConstantInputWarning, then NaN
        value = float(spearmanr(x, y).statistic)
    return None if math.isnan(value) else value


def _spearman_rows(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Spearman's rho of each row pair: Pearson's r of the rows' mean ranks; NaN where a row
    is constant."""
    from scipy.stats import rankdata

    rx, ry = rankdata(x, axis=1), rankdata(y, axis=1)
    rx -= rx.mean(axis=1, keepdims=True)
    ry -= ry.mean(axis=1, keepdims=True)
    denominator = np.sqrt((rx ** 2).sum(axis=1) * (ry ** 2).sum(axis=1))
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(denominator > 1e-12,
                        (rx * ry).sum(axis=1) / np.where(denominator > 0, denominator, 1),
                        np.nan)


ROWS = {"Cohen's kappa": _kappa_rows, "weighted kappa": _kappa_rows,
        "Spearman": _spearman_rows}
"""Each figure's statistic over rows of runs (the jackknife's rows: the runs, one left out)."""


def agreement_intervals(people: Any, judge: Any, names: list[str], level: float = LEVEL
                        ) -> dict[str, tuple[float, float] | None]:
    """Each named figure's 95% interval: the jackknife over runs on Fisher's z scale, with
    Student's t at n - 1 degrees of freedom, back-transformed (so it stays inside -1..1).

    Why not an analytic interval: kappa's standard one (Fleiss, Cohen and Everitt's large-
    sample variance) assumes one categorical verdict per run on each side, and a run's mean
    over K judgements or several people is no category; Spearman's (Fisher's z with Fieller's
    variance 1.06 / (n - 3)) assumes few ties, and a 5-point scale is nearly all ties. Why the
    jackknife (Fleiss and Davies 1982 proposed it for kappa) rather than the bootstrap: in
    the simulation of tests/test_agreement.py a BCa bootstrap covered 88% at 10-15 runs of a
    weak judge (kappa 0.35), the jackknife on z with t quantiles 95%; it needs no seed, so
    the interval is the same on every reading. A run's pair of scores stays together.

    None when there are fewer than MIN_RUNS_FOR_CI runs, the figure is undefined, or leaving
    out a run leaves no spread more than once. When every run agrees exactly, the jackknife
    has no spread to go on (each run left out still agrees): kappa then gets the lower end
    `_all_agree_low` and 1."""
    x, y = np.asarray(people, dtype=float), np.asarray(judge, dtype=float)
    n = len(x)
    if n < MIN_RUNS_FOR_CI:
        return dict.fromkeys(names)
    leave_one_out = np.array([np.delete(np.arange(n), i) for i in range(n)])
    quantile = t_quantile(level, n - 1)
    out: dict[str, tuple[float, float] | None] = {}
    for name in names:
        rows = ROWS[name]
        observed = float(rows(x[None, :], y[None, :])[0])
        if math.isnan(observed):
            out[name] = None
            continue
        if rows is _kappa_rows and np.array_equal(x, y):
            out[name] = (_all_agree_low(x, level), 1.0)
            continue
        left = rows(x[leave_one_out], y[leave_one_out])
        left = left[~np.isnan(left)]
        if len(left) < n - 1:
            out[name] = None
            continue
        z, z_left = np.arctanh(_inside(observed)), np.arctanh(_inside(left))
        spread = float(np.sqrt(((z_left - z_left.mean()) ** 2).sum() * (len(left) - 1)
                               / len(left)))
        out[name] = (float(np.tanh(z - quantile * spread)), float(np.tanh(z + quantile * spread)))
    return out


def _inside(value: Any) -> Any:
    """Values kept off -1 and 1, where Fisher's z is infinite (a figure of exactly 1 then has
    a finite z, and an interval that reaches it)."""
    return np.clip(value, -1 + Z_EDGE, 1 - Z_EDGE)


def _all_agree_low(x: np.ndarray, level: float) -> float:
    """Kappa's lower end when every run agrees: the most disagreement n agreeing runs allow,
    Clopper and Pearson's upper end for 0 of n (1 - tail^(1/n)), each of at least one scale
    point (pass against fail, or 4 against 5), against the disagreement the margins expect
    (2 var(x) when both sides are x). At 10 runs of a judge right 85% of the time, every run
    agrees in one experiment of five: [1, 1] would miss the truth in all of them."""
    tail = (1 - level) / 2
    most = 1 - tail ** (1 / len(x))
    return float(max(-1.0, 1 - most / (2 * x.var())))


def verdict(estimate: float | None, low: float | None, n: int, labels: int,
            few_of_a_verdict: bool = False) -> tuple[str, str]:
    """(verdict, reason) from the kappa (Cohen's or weighted) and its interval's low end.

    "untested": no labels, fewer than MIN_LABELLED_RUNS labelled runs judged, fewer than
    MIN_EACH_VERDICT of people's passes or fails (`few_of_a_verdict`), no kappa (nothing
    varied) or no interval: the runs cannot say. "weak": kappa below WEAK_BELOW, or an
    interval reaching below WEAK_LOW_BELOW. "fair/good" otherwise. Kappa decides rather than
    Spearman: a judge's scores are read as values (a mean per form), and a judge one point
    harsher than people ranks runs as they do yet misstates every mean."""
    if labels == 0:
        return "untested", "no labels"
    if n < MIN_LABELLED_RUNS:
        return "untested", f"fewer than {MIN_LABELLED_RUNS} labelled runs judged"
    if few_of_a_verdict:
        return "untested", f"fewer than {MIN_EACH_VERDICT} labelled runs passed, or failed"
    if estimate is None:
        return "untested", "no spread in the scores to agree on"
    if low is None:
        return "untested", "too little spread for an interval"
    if estimate < WEAK_BELOW:
        return "weak", f"kappa below {WEAK_BELOW}"
    if low < WEAK_LOW_BELOW:
        return "weak", f"the interval reaches below {WEAK_LOW_BELOW}"
    return "fair/good", f"kappa at least {WEAK_BELOW}, interval above {WEAK_LOW_BELOW}"


# -- pairing and the summary -----------------------------------------------------------------

def paired_scores(labels: pd.DataFrame, judgements: pd.DataFrame, judge: str,
                  backend: str, prompt_version: str | None = None
                  ) -> tuple[pd.DataFrame, str]:
    """(one row per labelled run the judge judged: run_id, people (the mean label), judge
    (the mean of its usable judgements), and the prompt version paired). `prompt_version`
    None: the latest on that backend, the version of its most recent judgement."""
    prompt_version = prompt_version or latest_prompt_version(judgements, judge, backend) or ""
    judged = run_scores(judgements, judge, backend, prompt_version).set_index("run_id")[
        "mean"].astype(float).rename("judge")
    people = labels[labels["judge"] == judge].groupby("run_id")["score"].mean().rename("people")
    pairs = pd.concat([people, judged], axis=1, join="inner").reset_index()
    return pairs.rename(columns={"index": "run_id"}).sort_values("run_id", ignore_index=True), \
        prompt_version


def judge_agreement(labels: pd.DataFrame, judgements: pd.DataFrame, judge: str, backend: str,
                    prompt_version: str | None = None) -> Agreement:
    """One judge on one backend against people's labels (`paired_scores`), with its figures,
    their intervals and its verdict."""
    pairs, version = paired_scores(labels, judgements, judge, backend, prompt_version)
    mine = judgements[(judgements["judge"] == judge) & (judgements["backend"] == backend)
                      & (judgements["prompt_version"] == version)]
    said = mine.loc[(mine["status"] == "ok") & mine["label"].notna(), "label"]
    pass_fail = bool(len(said)) and set(said) <= PASS_FAIL
    names = ["Cohen's kappa"] if pass_fail else ["weighted kappa", "Spearman"]
    x, y = pairs["people"].to_numpy(float), pairs["judge"].to_numpy(float)
    passed = int((x >= 0.5).sum())  # a run most people passed
    few = pass_fail and min(passed, len(x) - passed) < MIN_EACH_VERDICT
    points = {"Cohen's kappa": kappa, "weighted kappa": kappa, "Spearman": spearman}
    intervals = dict.fromkeys(names) if few else agreement_intervals(x, y, names)
    figures = [Figure(name, points[name](x, y) if len(pairs) else None,
                      *(intervals[name] or (None, None))) for name in names]
    theirs = labels[labels["judge"] == judge]
    word, reason = verdict(figures[0].estimate, figures[0].low, len(pairs), len(theirs), few)
    return Agreement(judge, backend, version, pass_fail, len(pairs), len(theirs),
                     int(theirs["run_id"].nunique()), figures, word, reason)


def summarize_agreement(labels: pd.DataFrame, judgements: pd.DataFrame
                        ) -> list[dict[str, Any]]:
    """Every judge (name and backend) with any judgement in these frames against people's
    labels, JSON-ready (`Agreement.as_dict`), by judge then backend: what `orchlab summary`
    adds under "agreement"."""
    if judgements.empty:
        return []
    keys = sorted(set(zip(judgements["judge"], judgements["backend"], strict=True)))
    return [judge_agreement(labels, judgements, judge, backend).as_dict()
            for judge, backend in keys]


def agreement_lines(items: list[dict[str, Any]]) -> list[str]:
    """The agreement of each judge as text, one line each, under a heading; none without
    judges."""
    if not items:
        return []
    return ["Judges against people's labels:", *(f"  {item['sentence']}" for item in items)]
