"""Simulated judges with a known truth, for checking the judge statistics by simulation.

`orchlab/testing/simulate.py` draws runs whose figures have a known truth; this draws what
judges say of runs, so that the statistics of `orchlab.stats.quality`, `.agreement` and
`.pairwise` can be checked the same way: a formula checked by hand is the formula, but only
many experiments with a known truth show that its "95%" interval holds the truth about 95% of
the time. The tests (tests/test_quality.py, test_agreement.py, test_pairwise.py: a few hundred
experiments per world, seeded, as a gate) and `bench/stats_calibration.py` (section 6: more of
them, each rate with its Monte Carlo standard error) draw their worlds here, so the two check
the same worlds.

Three kinds of world, one per statistic:

- Quality (`quality_experiment`, `pass_fail_experiment`; `QualityWorld`): each input has its
  own quality (sd `INPUT_SD` around a centre), each run its own (sd `RUN_SD`), and a judge
  scores a run K times: on 1-5, its quality plus the judge's noise, rounded and kept on the
  scale; pass/fail, a pass when its quality plus the noise is above 0. Groups a and b run
  every input `repetitions` times (a better by `effect`). The truth of a group's figure is the
  judge's expected score (or pass rate) of its runs on the inputs drawn, worked out exactly
  from the normal distribution (`expected`); of the difference, the mean of a's minus b's.
- Agreement (`pass_fail_world`, `scale_world`; `AgreementWorld`): people's label is the truth
  and the judge agrees with it at a known rate, so kappa, weighted kappa and Spearman are
  known exactly from the joint distribution.
- Pairwise (`draw_pairwise`; `PairwiseWorld`): each pair of runs has its own preference for
  A, each judgement's order is drawn, and the judge may pick whichever it read first; the
  truths of the win rate and of the share won by the first shown are worked out exactly.

Only numpy, pandas, scipy and the statistics under test: the frames drawn have the columns
`Store.load_runs` and `Store.load_judgements` give that the statistics read.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd
from scipy.stats import norm

from orchlab.stats.agreement import MIN_EACH_VERDICT, agreement_intervals

# -- a judge's quality figure ----------------------------------------------------------------

SCALE = np.arange(1, 6, dtype=float)
"""A scale judge's scores, 1-5."""
INPUT_SD = 0.6
"""How much inputs differ in quality (normal sd)."""
RUN_SD = 0.5
"""How much runs of one input differ in quality (normal sd)."""


def probabilities(latent: np.ndarray, judge_sd: float) -> np.ndarray:
    """P(score = s | a run's quality), s = 1..5: quality plus N(0, judge_sd), rounded and kept
    on the scale; one row per run."""
    edges = np.array([-np.inf, 1.5, 2.5, 3.5, 4.5, np.inf])
    cdf = norm.cdf((edges[None, :] - latent[:, None]) / judge_sd)
    return np.diff(cdf, axis=1)


def expected(center: np.ndarray, judge_sd: float) -> np.ndarray:
    """The judge's expected score of a run drawn at an input of quality `center`: a run's
    quality N(center, RUN_SD) plus the judge's noise is N(center, sqrt(RUN_SD^2 + sd^2))."""
    p = probabilities(center, math.hypot(RUN_SD, judge_sd))
    return np.asarray(p @ SCALE)


def known_shares(judge_sd: float, k: int, effect: float) -> tuple[float, float]:
    """The judge's true width share of a group's interval and of a paired difference's, from
    200,000 runs: E[Var(score | run)] / K against the variance of run means (the run means
    of one group spread over inputs and runs; a pair's difference over runs of one input).
    Seeded on its own, so the truth is the same whoever asks."""
    rng = np.random.default_rng(99)
    n = 200_000
    inputs = 3.0 + rng.normal(0, INPUT_SD, n)

    def moments(center: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        p = probabilities(center + rng.normal(0, RUN_SD, n), judge_sd)
        mean = p @ SCALE
        return mean, p @ SCALE ** 2 - mean ** 2

    ma, va = moments(inputs + effect)
    mb, vb = moments(inputs)
    group = va.mean() / k / (ma.var() + va.mean() / k)
    diff = (va.mean() + vb.mean()) / k / ((ma - mb).var() + (va.mean() + vb.mean()) / k)
    return 1 - math.sqrt(1 - group), 1 - math.sqrt(1 - diff)


Experiment = tuple[pd.DataFrame, pd.DataFrame, dict[str, float]]
"""One simulated judged experiment: its runs, its judgements, and the truth of each figure
(keys "a", "b": each group's; "diff": a's minus b's)."""


def quality_experiment(rng: np.random.Generator, inputs: int, reps: int, k: int,
                       judge_sd: float, effect: float) -> Experiment:
    """One simulated experiment: runs of groups a and b (a better by `effect` in quality),
    K judgements per run on 1-5, and the truth of each figure on the inputs drawn."""
    centers = 3.0 + rng.normal(0, INPUT_SD, inputs)
    runs, judged = _judged_runs(rng, centers, reps, effect, lambda quality: np.clip(
        np.round(quality + rng.normal(0, judge_sd, k)), 1, 5))
    truth_a, truth_b = (expected(centers + s, judge_sd) for s in (effect, 0.0))
    truth = {"a": float(truth_a.mean()), "b": float(truth_b.mean()),
             "diff": float((truth_a - truth_b).mean())}
    return runs, judgements_frame(judged), truth


def pass_fail_experiment(rng: np.random.Generator, inputs: int, reps: int, k: int,
                         judge_sd: float, center: float, effect: float) -> Experiment:
    """A pass/fail judge's world: a run's quality as above around `center`, and each of its
    K verdicts a pass when its quality plus the judge's noise is above 0. The truth of a
    group's pass rate is the chance a run of it passes, on the inputs drawn."""
    centers = center + rng.normal(0, INPUT_SD, inputs)
    runs, judged = _judged_runs(rng, centers, reps, effect, lambda quality: (
        quality + rng.normal(0, judge_sd, k) > 0).astype(float))
    sd = math.hypot(RUN_SD, judge_sd)
    truth_a, truth_b = norm.cdf((centers + effect) / sd), norm.cdf(centers / sd)
    frame = judgements_frame(judged)
    frame["label"] = frame["score"].map({1.0: "pass", 0.0: "fail"})
    return runs, frame, {"a": float(truth_a.mean()), "b": float(truth_b.mean()),
                         "diff": float((truth_a - truth_b).mean())}


def _judged_runs(rng: np.random.Generator, centers: np.ndarray, reps: int, effect: float,
                 scores: Callable[[float], np.ndarray]
                 ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Runs of groups a (better by `effect`) and b at each input's quality `centers`, `reps`
    each, a run's quality its input's plus N(0, RUN_SD), and the judge's `scores(quality)`
    of it: the one draw both judges' worlds share, in the same order of draws."""
    runs: list[dict[str, Any]] = []
    judged: list[dict[str, Any]] = []
    for group, shift in (("a", effect), ("b", 0.0)):
        for i, center in enumerate(centers):
            for rep in range(reps):
                run_id = f"{group}-{i}-{rep}"
                quality = center + shift + rng.normal(0, RUN_SD)
                runs.append({"run_id": run_id, "group": group, "input_id": f"in{i}",
                             "repetition": rep, "status": "ok"})
                judged.extend({"run_id": run_id, "score": float(v)} for v in scores(quality))
    return pd.DataFrame(runs), pd.DataFrame(judged)


def judgements_frame(scores: pd.DataFrame, judge: str = "email_quality",
                     backend: str = "scripted:judge") -> pd.DataFrame:
    """Judgement rows as `Store.load_judgements` gives them (the columns the statistics
    read), from rows of run_id and score: one judge on one backend, one prompt version."""
    n = len(scores)
    return scores.assign(judge=judge, backend=backend, prompt_version="v1", status="ok",
                         error_class=None,
                         label=scores["score"].map(lambda s: str(int(s))),
                         created_at=pd.Timestamp("2026-12-05", tz="UTC")
                         + pd.to_timedelta(np.arange(n), unit="s"))


@dataclass(frozen=True)
class QualityWorld:
    """A judged experiment's world as data (a bench cell is sent to a worker process, so it
    holds parameters, never a function): `draw_quality` draws one experiment of it."""

    judge_sd: float
    """The judge's noise about a run's quality (sigma_j)."""
    k: int
    """Judgements per run (`orchlab judge --repeat K`)."""
    inputs: int
    """Distinct inputs, each run `repetitions` times by both groups."""
    repetitions: int
    """Repetitions per input: pairs = inputs x repetitions."""
    effect: float = 0.0
    """How much better group a's runs are than b's, in quality."""
    center: float | None = None
    """A pass/fail judge's world: the inputs' typical quality, 0 a pass rate of one half;
    None: a 1-5 scale around 3."""

    @property
    def pass_fail(self) -> bool:
        """Whether the judge says pass or fail (its figure is a pass rate)."""
        return self.center is not None


def draw_quality(world: QualityWorld, rng: np.random.Generator) -> Experiment:
    """One experiment of `world`: `quality_experiment`, or `pass_fail_experiment` for a
    pass/fail judge."""
    if world.center is None:
        return quality_experiment(rng, world.inputs, world.repetitions, world.k,
                                  world.judge_sd, world.effect)
    return pass_fail_experiment(rng, world.inputs, world.repetitions, world.k,
                                world.judge_sd, world.center, world.effect)


# -- a judge's agreement with people's labels ------------------------------------------------

AgreementDraw = Callable[[np.random.Generator, int], tuple[np.ndarray, np.ndarray]]
"""Draws n labelled runs: people's scores and the judge's, one of each per run."""


def pass_fail_world(prevalence: float, right: float) -> tuple[AgreementDraw, float]:
    """People's verdict is the truth (pass with `prevalence`); the judge gives it with chance
    `right`, else the other verdict. True kappa, by hand: p_o = right; the judge passes with
    q = prevalence right + (1 - prevalence)(1 - right); p_e = prevalence q + (1 - p)(1 - q)."""
    q = prevalence * right + (1 - prevalence) * (1 - right)
    p_e = prevalence * q + (1 - prevalence) * (1 - q)

    def draw(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
        truth = (rng.random(n) < prevalence).astype(float)
        return truth, np.where(rng.random(n) < right, truth, 1 - truth)

    return draw, (right - p_e) / (1 - p_e)


def scale_world(judge_given: Callable[[int], dict[int, float]]
                ) -> tuple[AgreementDraw, float, float]:
    """People's score is the truth, uniform on 1-5; the judge's is drawn from
    `judge_given(truth)`. True weighted kappa and Spearman from the exact joint distribution:
    1 - E(X - Y)^2 / (var X + var Y + (EX - EY)^2), and the correlation of the
    mid-distribution transforms (F(v-) + F(v)) / 2, which tied mean ranks estimate."""
    joint = {(t, j): 0.2 * p for t in range(1, 6) for j, p in judge_given(t).items()}
    px = {v: sum(p for (t, _), p in joint.items() if t == v) for v in range(1, 6)}
    py = {v: sum(p for (_, j), p in joint.items() if j == v) for v in range(1, 6)}

    def moments(f: Callable[[int, int], float]) -> float:
        return sum(p * f(t, j) for (t, j), p in joint.items())

    ex, ey = moments(lambda t, j: t), moments(lambda t, j: j)
    vx, vy = moments(lambda t, j: (t - ex) ** 2), moments(lambda t, j: (j - ey) ** 2)
    true_kappa = 1 - moments(lambda t, j: (t - j) ** 2) / (vx + vy + (ex - ey) ** 2)

    def mid(p: dict[int, float]) -> dict[int, float]:
        return {v: sum(p[u] for u in p if u < v) + p[v] / 2 for v in p}

    gx, gy = mid(px), mid(py)
    mx, my = moments(lambda t, j: gx[t]), moments(lambda t, j: gy[j])
    cov = moments(lambda t, j: (gx[t] - mx) * (gy[j] - my))
    sx = math.sqrt(moments(lambda t, j: (gx[t] - mx) ** 2))
    sy = math.sqrt(moments(lambda t, j: (gy[j] - my) ** 2))
    outcomes = {t: sorted(judge_given(t).items()) for t in range(1, 6)}

    def draw(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
        truth = rng.integers(1, 6, n)
        judged = [rng.choice([v for v, _ in outcomes[t]], p=[p for _, p in outcomes[t]])
                  for t in truth]
        return truth.astype(float), np.asarray(judged, dtype=float)

    return draw, true_kappa, cov / (sx * sy)


def off_by_one(right: float) -> Callable[[int], dict[int, float]]:
    """The truth with chance `right`, else one point up or down (at the ends, the one way)."""
    def given(t: int) -> dict[int, float]:
        out = {t: right}
        for v in (t - 1, t + 1):
            v = min(max(v, 1), 5)
            out[v] = out.get(v, 0.0) + (1 - right) / 2
        return out
    return given


def guessing(right: float) -> Callable[[int], dict[int, float]]:
    """The truth with chance `right`, else a guess uniform on 1-5: a weak judge."""
    return lambda t: {v: (1 - right) / 5 + (right if v == t else 0.0) for v in range(1, 6)}


@dataclass(frozen=True)
class AgreementWorld:
    """An agreement world as data (picklable, unlike the draw functions it names):
    `agreement_world` builds its draw and truths."""

    runs: int
    """Labelled runs per experiment."""
    right: float
    """The chance the judge gives people's verdict or score."""
    prevalence: float | None = None
    """A pass/fail world: the share of runs people pass; None: a 1-5 scale."""
    miss: Literal["off_by_one", "guessing"] = "guessing"
    """A scale judge's mistakes: one point up or down, or a uniform guess."""


def agreement_world(world: AgreementWorld) -> tuple[AgreementDraw, dict[str, float]]:
    """The world's draw and each figure's true value (Cohen's kappa for pass/fail; weighted
    kappa and Spearman for a scale), as `agreement_coverage` takes them."""
    if world.prevalence is not None:
        draw, truth = pass_fail_world(world.prevalence, world.right)
        return draw, {"Cohen's kappa": truth}
    given = off_by_one if world.miss == "off_by_one" else guessing
    draw, true_kappa, true_rho = scale_world(given(world.right))
    return draw, {"weighted kappa": true_kappa, "Spearman": true_rho}


Intervals = dict[str, tuple[float, float] | None]
"""Each figure's 95% interval, by name (None: none given)."""


def draw_agreement(draw: AgreementDraw, truths: dict[str, float], n: int,
                   rng: np.random.Generator) -> Intervals | None:
    """One simulated experiment of n labelled runs: each figure's 95% interval
    (`agreement_intervals`); None when the experiment gets no interval by design (a pass/fail
    judge with fewer than MIN_EACH_VERDICT passes or fails among people's labels, as
    `judge_agreement`)."""
    people, judge = draw(rng, n)
    passed = int(people.sum())
    if "Cohen's kappa" in truths and min(passed, n - passed) < MIN_EACH_VERDICT:
        return None
    return agreement_intervals(people, judge, list(truths))


def agreement_coverage(draw: AgreementDraw, truths: dict[str, float], n: int,
                       experiments: int, seed: int) -> tuple[dict[str, float], float]:
    """Of simulated experiments of n labelled runs (`draw_agreement`): the share of those
    given an interval whose 95% interval covers each figure's true value (an interval
    missing counts as a miss), and the share given one."""
    rng = np.random.default_rng(seed)
    hits = dict.fromkeys(truths, 0)
    given = 0
    for _ in range(experiments):
        intervals = draw_agreement(draw, truths, n, rng)
        if intervals is None:
            continue
        given += 1
        for name, truth in truths.items():
            ends = intervals[name]
            hits[name] += ends is not None and ends[0] <= truth <= ends[1]
    return {name: hit / max(given, 1) for name, hit in hits.items()}, given / experiments


# -- a pairwise judge ------------------------------------------------------------------------

@dataclass(frozen=True)
class PairwiseWorld:
    """A pairwise judge's world: `pairs` pairs of runs judged `k` times each."""

    pairs: int
    """Pairs of runs (form A's and form B's of one input and repetition)."""
    preference: float
    """p: the mean over pairs of each pair's chance that an unbiased, untied verdict is A."""
    ties: float = 0.0
    """t: the chance an unbiased verdict is a tie."""
    bias: float = 0.0
    """b: the chance the judge picks whichever run it read first."""
    k: int = 1
    """Judgements per pair."""
    spread: float = 4.0
    """Concentration of the pairs' own preferences (Beta with mean p): lower, more spread."""

    @property
    def true_win_rate(self) -> float:
        """A's true win rate, ties as half: b/2 + (1 - b)(t/2 + (1 - t)p)."""
        b, t, p = self.bias, self.ties, self.preference
        return b * 0.5 + (1 - b) * (t * 0.5 + (1 - t) * p)

    @property
    def true_first_won(self) -> float:
        """The true share of comparisons the run shown first won: b + (1 - b)/2."""
        return self.bias + (1 - self.bias) * 0.5


def draw_pairwise(world: PairwiseWorld, rng: np.random.Generator
                  ) -> tuple[np.ndarray, np.ndarray]:
    """One experiment: each pair's mean over its K verdicts as A's score (won 1, tie 0.5,
    lost 0) and as the first shown's score, the values `stats.pairwise.share` reads. Each
    pair's own preference for A is drawn around p (Beta, mean p); each judgement's order is
    drawn at random; with probability b the judge picks whichever it read first, else ties
    with probability t, else picks A with the pair's preference."""
    n, p, k = world.pairs, world.preference, world.k
    preference = rng.beta(p * world.spread, (1 - p) * world.spread, n)
    a_first = rng.random((n, k)) < 0.5
    biased = rng.random((n, k)) < world.bias
    tie = rng.random((n, k)) < world.ties
    a_wins = rng.random((n, k)) < preference[:, None]
    value = np.where(biased, a_first.astype(float), np.where(tie, 0.5, a_wins.astype(float)))
    first = np.where(a_first, value, 1.0 - value)
    return value.mean(1), first.mean(1)
