"""Reliability over repetitions (pass^k with an interval) and comparisons of two groups, each
an estimate with the interval and the t-test of one estimand (multiple testing and sample sizes
are `orchlab.stats.significance`). docs/STATISTICS.md says which estimand each figure uses and why.

Pure functions over the runs DataFrame (`Store.load_runs`, grouped by `analysis.with_group`):
no I/O and no UI, so the CLI, findings and the dashboard share one definition of each figure.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from orchlab.stats.analysis import MIN_RUNS_FOR_CI, in_group_order
from orchlab.stats.significance import Test, t_quantile, test_paired_rates, test_rates, z_quantile

# -- reliability across repetitions ----------------------------------------------------------

RELIABILITY_COLUMNS = ["k", "pass_hat_k", "pass_hat_k_low", "pass_hat_k_high", "pass_at_k",
                       "inputs", "runs_per_input"]
"""`pass_hat_k_low`/`_high`: its 95% interval (`pass_hat_k_interval`), for k up to
PASS_K_INTERVAL_MAX (None beyond)."""


def _eligible(successes: Sequence[tuple[int, int]], k: int) -> list[tuple[int, int]]:
    """The (n, c) pairs an estimate at k may use: n >= k, checked so a typo is no number."""
    if k < 1:
        raise ValueError(f"k must be at least 1, got {k}")
    for n, c in successes:
        if not 0 <= c <= n:
            raise ValueError(f"successes must lie in 0..n, got n={n}, c={c}")
    return [(n, c) for n, c in successes if n >= k]


def pass_hat_k(successes: Sequence[tuple[int, int]], k: int) -> float | None:
    """tau-bench's pass^k: the chance that k runs of an input drawn without replacement all
    succeed, mean over inputs with n >= k (C(c,k)/C(n,k), unbiased). None when no input has k
    runs: an estimate for k > n would be an extrapolation, not a measurement."""
    usable = _eligible(successes, k)
    if not usable:
        return None
    return sum(math.comb(c, k) / math.comb(n, k) for n, c in usable) / len(usable)


def pass_at_k(successes: Sequence[tuple[int, int]], k: int) -> float | None:
    """pass@k: the chance that at least one of k runs succeeds, 1 - C(n-c,k)/C(n,k), mean over
    inputs with n >= k. None when no input has k runs (as `pass_hat_k`)."""
    usable = _eligible(successes, k)
    if not usable:
        return None
    return sum(1 - math.comb(n - c, k) / math.comb(n, k) for n, c in usable) / len(usable)


def success_counts(group: pd.DataFrame) -> list[tuple[int, int]]:
    """Per input_id, (runs, successes) over the runs whose `success` counts (is not None)."""
    counted = group[group["success"].notna()]
    return [(len(g), int(sum(bool(v) for v in g["success"])))
            for _, g in counted.groupby("input_id", sort=True)]


def reliability(runs: pd.DataFrame, by: str = "group") -> pd.DataFrame:
    """Per group, pass^k and pass@k for k = 1 .. the fewest counted runs of any of its inputs,
    so every input contributes at every k and a curve never mixes input sets."""
    if runs.empty:
        return pd.DataFrame(columns=[by, *RELIABILITY_COLUMNS])
    rows: list[dict[str, Any]] = []
    for key, group in in_group_order(runs[runs["success"].notna()], [by]):
        counts = success_counts(group)
        runs_per_input = min(n for n, _ in counts)
        hat, at = _curves(counts, runs_per_input)
        for k in range(1, runs_per_input + 1):
            low, high = (pass_hat_k_interval(counts, k) or (None, None)) \
                if k <= PASS_K_INTERVAL_MAX else (None, None)
            rows.append({by: key, "k": k, "pass_hat_k": float(hat[k - 1]),
                         "pass_hat_k_low": low, "pass_hat_k_high": high,
                         "pass_at_k": float(at[k - 1]), "inputs": len(counts),
                         "runs_per_input": runs_per_input})
    return pd.DataFrame(rows, columns=[by, *RELIABILITY_COLUMNS])


def _curves(counts: Sequence[tuple[int, int]], k_max: int) -> tuple[np.ndarray, np.ndarray]:
    """pass^k and pass@k for k = 1..k_max at once, as running products: C(c,k)/C(n,k) is
    prod_{i<k} (c-i)/(n-i), so a thousand runs per input cost a thousand multiplications,
    not a thousand binomials of thousand-digit numbers (the same values `pass_hat_k` gives)."""
    i = np.arange(k_max, dtype=float)
    hat = np.zeros(k_max)
    miss = np.zeros(k_max)
    for n, c in counts:
        hat += np.cumprod(np.clip(c - i, 0, None) / (n - i))
        miss += np.cumprod(np.clip(n - c - i, 0, None) / (n - i))
    return hat / len(counts), 1 - miss / len(counts)


PASS_K_INTERVAL_MAX = 10
"""pass^k gets an interval up to this k (each k costs a pass over the posterior draws)."""
PASS_K_DRAWS = 4000
"""Posterior draws per interval: the 2.5% and 97.5% quantiles are stable to about 0.005."""


def pass_hat_k_interval(successes: Sequence[tuple[int, int]], k: int, level: float = 0.95,
                        seed: int = 0) -> tuple[float, float] | None:
    """A `level` interval for pass^k over these inputs, built as Clopper and Pearson build one
    for a single rate: the lower bound from each input's chance drawn from Beta(c, n - c + 1),
    the upper from Beta(c + 1, n - c), pass^k recomputed per draw and the outer quantiles
    taken. Simulated (docs/STATISTICS.md), a Jeffreys posterior covered 67% at 10 inputs x 3
    runs (its pull toward 1/2 adds up over inputs) and a resample of an input whose runs all
    succeeded gives [1, 1]; this one covered 99% in every world tried. Conservative: 3 runs
    of an input say little about pass^3, and the interval is as wide as that. None where
    `pass_hat_k` is None."""
    usable = _eligible(successes, k)
    if not usable:
        return None
    n, c = (np.array(v, dtype=float) for v in zip(*usable, strict=True))
    rng = np.random.default_rng(seed)
    tail = (1 - level) / 2
    low = np.quantile((_chances(rng, c, n - c + 1) ** k).mean(axis=1), tail)
    high = np.quantile((_chances(rng, c + 1, n - c) ** k).mean(axis=1), 1 - tail)
    return float(low), float(high)


def _chances(rng: np.random.Generator, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """PASS_K_DRAWS draws per input from Beta(a, b), where Beta(0, b) is 0 and Beta(a, 0) is 1
    (the limits Clopper-Pearson bounds take at c = 0 and c = n)."""
    draws = rng.beta(np.maximum(a, 1e-12), np.maximum(b, 1e-12), (PASS_K_DRAWS, len(a)))
    draws[:, a <= 0] = 0.0
    draws[:, b <= 0] = 1.0
    return draws


# -- comparisons -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Comparison:
    """Group A relative to group B: an estimate, its interval, and the t-test that interval
    inverts, so the interval excludes "no difference" exactly when the test's p < 1 - level.

    Ratio figures (latency, tokens, cost) are ratios of geometric means, estimated on the log
    scale: a t interval there covers what it says for skewed, lognormal-like figures where a
    percentile bootstrap of the ratio of means covered 84-92% at 5-30 pairs (simulated, see
    docs/STATISTICS.md). A figure with a zero among its values has no log: it falls back to
    the ratio of means with a delta-method interval, and `stat` says so. Differences (LLM
    calls) are of means.
    """

    point: float
    """The estimate on the observed runs (A/B or A-B)."""
    low: float
    """Lower bound of the interval."""
    high: float
    """Upper bound of the interval."""
    n: int
    """Pairs used when paired, else the runs of both groups together."""
    paired: bool
    """Whether runs were matched on (input_id, repetition), each pair one observation."""
    stat: str
    """What is compared: "geometric mean" or "mean"."""
    kind: str
    """ratio (A/B) or diff (A-B)."""
    test: str
    """The t-test the interval inverts, by name."""
    statistic: float
    """Its t statistic (infinite when every pair differs by exactly the same amount)."""
    p_value: float
    """Its two-sided p-value, before any correction."""
    spread: float
    """Standard deviation on the tested scale: of the pairs' differences when paired, the
    two groups' pooled one when not (0 when nothing varies); what runs-needed builds on."""
    level: float = 0.95
    """Confidence level of [low, high]."""

    @property
    def significant(self) -> bool:
        """Whether the interval excludes "no difference" (1 for a ratio, 0 for a diff)."""
        null = 1.0 if self.kind == "ratio" else 0.0
        return not (self.low <= null <= self.high)


def column_values(runs: pd.DataFrame, value: str) -> pd.Series:
    """A run figure by name; "tokens" is input + output tokens, as the findings count them."""
    if value == "tokens":
        return runs["input_tokens"] + runs["output_tokens"]
    return runs[value]


def group_values(runs: pd.DataFrame, group: str, value: str, by: str = "group") -> np.ndarray:
    """The recorded values of one group (missing ones, e.g. an unknown cost, left out)."""
    values = pd.to_numeric(column_values(runs[runs[by] == group], value), errors="coerce")
    return values.dropna().to_numpy(dtype=float)


def pairs(runs: pd.DataFrame, a: str, b: str, value: str, by: str = "group",
          rows: tuple[np.ndarray, np.ndarray] | None = None) -> pd.DataFrame:
    """Runs of groups a and b matched on (input_id, repetition), with both values recorded
    (see `pair_rows`): columns input_id, repetition, a, b. `rows`: the `pair_rows(...)` of
    these runs and groups, when the caller has them (one matching serves every figure)."""
    rows_a, rows_b = pair_rows(runs, a, b, by) if rows is None else rows
    values = pd.to_numeric(column_values(runs, value), errors="coerce").to_numpy(float)
    matched = pd.DataFrame({"input_id": runs["input_id"].to_numpy()[rows_a],
                            "repetition": runs["repetition"].to_numpy()[rows_a],
                            a: values[rows_a], b: values[rows_b]})
    return matched.dropna(subset=[a, b]).reset_index(drop=True)


def pair_rows(runs: pd.DataFrame, a: str, b: str, by: str = "group"
              ) -> tuple[np.ndarray, np.ndarray]:
    """Row positions of the runs of groups a and b matched on (input_id, repetition): a
    repetition is one block of forms run back to back on the same input, so a pair shares
    input and moment. A key seen twice in a group (two experiments) is matched occurrence by
    occurrence, never crossed. Sorted by input, repetition and occurrence."""
    if a == b:
        raise ValueError("pairs() needs two different groups")
    groups = runs[by].to_numpy()
    keyed = list(zip(runs["input_id"].to_numpy(), runs["repetition"].to_numpy(), strict=True))
    seen: dict[tuple[Any, Any], int] = {}
    firsts: dict[tuple[Any, Any, int], int] = {}
    matched: list[tuple[Any, Any, int, int, int]] = []
    for row in np.flatnonzero(groups == a):  # a's occurrences of each key, in row order
        key = keyed[row]
        seen[key] = seen.get(key, -1) + 1
        firsts[(*key, seen[key])] = int(row)
    seen.clear()
    for row in np.flatnonzero(groups == b):
        key = keyed[row]
        seen[key] = seen.get(key, -1) + 1
        if (found := firsts.get((*key, seen[key]))) is not None:
            matched.append((str(key[0]), key[1], seen[key], found, int(row)))
    matched.sort(key=lambda m: m[:3])
    return (np.array([m[3] for m in matched], dtype=int),
            np.array([m[4] for m in matched], dtype=int))


def center(values: np.ndarray, stat: str) -> float | None:
    """The geometric mean or the mean of some values (None for none)."""
    if not len(values):
        return None
    if stat == "geometric mean":
        return float(np.exp(np.log(values).mean()))
    return float(values.mean())


def compare(
    runs: pd.DataFrame, a: str, b: str, value: str, kind: str = "ratio", by: str = "group",
    matched: pd.DataFrame | None = None, paired: bool = True, level: float = 0.95,
) -> Comparison | None:
    """Paired when at least MIN_RUNS_FOR_CI pairs exist (input-to-input spread drops out of
    a pair's difference), else unpaired (Welch). `matched`: the `pairs(...)` of these
    arguments, when the caller has them; `paired=False`: unpaired whatever the pairs. None
    with fewer than MIN_RUNS_FOR_CI values (pairs or runs per group), or for a ratio whose
    baseline is 0 on every run."""
    if paired:
        matched = pairs(runs, a, b, value, by) if matched is None else matched
        if len(matched) >= MIN_RUNS_FOR_CI:
            return paired_comparison(matched[a].to_numpy(float), matched[b].to_numpy(float),
                                     kind, level)
    return unpaired_comparison(group_values(runs, a, value, by),
                               group_values(runs, b, value, by), kind, level)


def paired_comparison(xa: np.ndarray, xb: np.ndarray, kind: str, level: float = 0.95
                      ) -> Comparison | None:
    """Pairs (xa[i], xb[i]) as one sample of differences: a one-sample t interval of the log
    ratios (geometric means), of the differences (diff), or, for a ratio with zeros, of the
    ratio of means by the delta method."""
    n = len(xa)
    if n < MIN_RUNS_FOR_CI:
        return None
    if kind == "ratio" and np.all(xa > 0) and np.all(xb > 0):
        d = np.log(xa) - np.log(xb)
        t = _t_interval(float(d.mean()), _sd(d) / math.sqrt(n), n - 1, level)
        return Comparison(math.exp(t.center), math.exp(t.low), math.exp(t.high), n, True,
                          "geometric mean", kind, "paired t-test on log ratios", t.statistic,
                          t.p_value, _sd(d), level)
    if kind == "ratio":
        if xb.mean() == 0:
            return None
        r = float(xa.mean() / xb.mean())
        spread = _sd(xa - r * xb) / float(xb.mean())  # delta method: the ratio's residuals
        t = _t_interval(r, spread / math.sqrt(n), n - 1, level, null=1.0)
        return Comparison(r, max(0.0, t.low), t.high, n, True, "mean", kind,
                          "paired t-test on the ratio of means (delta method)", t.statistic,
                          t.p_value, spread, level)
    d = xa - xb
    t = _t_interval(float(d.mean()), _sd(d) / math.sqrt(n), n - 1, level)
    return Comparison(t.center, t.low, t.high, n, True, "mean", kind, "paired t-test",
                      t.statistic, t.p_value, _sd(d), level)


def unpaired_comparison(xa: np.ndarray, xb: np.ndarray, kind: str, level: float = 0.95
                        ) -> Comparison | None:
    """Each group on its own: Welch's t interval of the difference of log means (geometric
    means), of means (diff), or of the ratio of means by the delta method (a ratio with
    zeros)."""
    na, nb = len(xa), len(xb)
    if min(na, nb) < MIN_RUNS_FOR_CI:
        return None
    if kind == "ratio" and np.all(xa > 0) and np.all(xb > 0):
        la, lb = np.log(xa), np.log(xb)
        t = _welch(la, lb, level)
        return Comparison(math.exp(t.center), math.exp(t.low), math.exp(t.high), na + nb,
                          False, "geometric mean", kind, "Welch's t-test on log values",
                          t.statistic, t.p_value, _pooled(la, lb), level)
    if kind == "ratio":
        ma, mb = float(xa.mean()), float(xb.mean())
        if mb == 0:
            return None
        r = ma / mb
        se = math.sqrt(_var(xa) / na + r * r * _var(xb) / nb) / mb
        t = _t_interval(r, se, min(na, nb) - 1, level, null=1.0)
        return Comparison(r, max(0.0, t.low), t.high, na + nb, False, "mean", kind,
                          "Welch's t-test on the ratio of means (delta method)", t.statistic,
                          t.p_value, _pooled(xa / mb, xb / mb), level)
    t = _welch(xa, xb, level)
    return Comparison(t.center, t.low, t.high, na + nb, False, "mean", kind, "Welch's t-test",
                      t.statistic, t.p_value, _pooled(xa, xb), level)


@dataclass(frozen=True)
class _T:
    center: float
    low: float
    high: float
    statistic: float
    p_value: float


def _sd(x: np.ndarray) -> float:
    return float(np.std(x, ddof=1)) if len(x) > 1 else 0.0


def _var(x: np.ndarray) -> float:
    return _sd(x) ** 2


def _pooled(xa: np.ndarray, xb: np.ndarray) -> float:
    return math.sqrt((_var(xa) + _var(xb)) / 2)


def _t_interval(estimate: float, se: float, df: float, level: float, null: float = 0.0) -> _T:
    """Estimate +/- t quantile x se, and the t-test of `null`. With se 0 (every pair differs
    by the same amount, or nothing varies) the interval is the point and the test is decided:
    p 1 when the point is the null, else 0."""
    if se == 0 or not math.isfinite(se):
        same = estimate == null
        return _T(estimate, estimate, estimate, 0.0 if same else math.copysign(math.inf,
                  estimate - null), 1.0 if same else 0.0)
    from scipy.stats import t as student

    q = t_quantile(level, df)
    statistic = (estimate - null) / se
    return _T(estimate, estimate - q * se, estimate + q * se, statistic,
              float(2 * student.sf(abs(statistic), df)))


def _welch(xa: np.ndarray, xb: np.ndarray, level: float) -> _T:
    """Welch's t interval of mean(a) - mean(b), Welch-Satterthwaite degrees of freedom."""
    va, vb = _var(xa) / len(xa), _var(xb) / len(xb)
    se = math.sqrt(va + vb)
    df = (va + vb) ** 2 / (va ** 2 / (len(xa) - 1) + vb ** 2 / (len(xb) - 1)) if se else 1.0
    return _t_interval(float(xa.mean() - xb.mean()), se, df, level)


# -- success rates ---------------------------------------------------------------------------


@dataclass(frozen=True)
class RateComparison:
    """Two success rates over the runs one estimate used, their difference with an interval,
    and an exact test of it."""

    rate_a: float
    """A's success rate over the runs (or pairs) used."""
    rate_b: float
    """B's success rate over the runs (or pairs) used."""
    n_a: int
    """A's runs used (the pairs, when paired)."""
    n_b: int
    """B's runs used (the pairs, when paired)."""
    estimate: Comparison | None
    """rate_a - rate_b with its interval; None below MIN_RUNS_FOR_CI."""
    test: Test | None
    """McNemar's exact when paired, Fisher's exact when not."""


def compare_rates(scored: pd.DataFrame, a: str, b: str, by: str = "group",
                  paired: bool = True, level: float = 0.95) -> RateComparison | None:
    """Success of A against B over the runs whose outcome counts (`success` not None).

    Paired (at least MIN_RUNS_FOR_CI pairs): the rates, the interval and the test all use
    the same pairs, so the n shown is the n used. The interval is Agresti and Min's (2005):
    Wald on the paired table with 1/2 added to each cell, which covers near its level at the
    small counts where plain Wald does not; the test is McNemar's exact. Unpaired: Newcombe's
    hybrid score interval (Wilson intervals of each rate combined) and Fisher's exact test.
    The test is exact and the interval is not its inversion: a difference is claimed only
    when both agree (see docs/STATISTICS.md). None when a group has no counted run."""
    values = scored.assign(success=scored["success"].astype(float))
    if paired:
        matched = pairs(values, a, b, "success", by)
        if len(matched) >= MIN_RUNS_FOR_CI:
            xa, xb = matched[a].to_numpy(bool), matched[b].to_numpy(bool)
            a_only, b_only, n = int((xa & ~xb).sum()), int((~xa & xb).sum()), len(xa)
            low, high = _agresti_min(a_only, b_only, n, level)
            diff = (a_only - b_only) / n
            exact = test_paired_rates(a_only, b_only, n)
            return RateComparison(float(xa.mean()), float(xb.mean()), n, n, Comparison(
                diff, low, high, n, True, "mean", "diff", exact.name, exact.statistic or 0.0,
                exact.p_value, 0.0, level), exact)
    xa, xb = group_values(values, a, "success", by), group_values(values, b, "success", by)
    if not len(xa) or not len(xb):
        return None
    hits_a, hits_b = int(xa.sum()), int(xb.sum())
    test = test_rates(hits_a, len(xa), hits_b, len(xb))
    estimate = None
    if min(len(xa), len(xb)) >= MIN_RUNS_FOR_CI:
        low, high = _newcombe(hits_a, len(xa), hits_b, len(xb), level)
        estimate = Comparison(float(xa.mean() - xb.mean()), low, high, len(xa) + len(xb),
                              False, "mean", "diff", "Fisher's exact",
                              (test.statistic or 0.0) if test else 0.0,
                              test.p_value if test else 1.0, 0.0, level)
    return RateComparison(float(xa.mean()), float(xb.mean()), len(xa), len(xb), estimate,
                          test)


def _agresti_min(a_only: int, b_only: int, n: int, level: float) -> tuple[float, float]:
    """Agresti-Min interval of a paired difference of proportions."""
    z, total = z_quantile(level), n + 2
    ao, bo = a_only + 0.5, b_only + 0.5
    diff = (ao - bo) / total
    se = math.sqrt(((ao + bo) - (ao - bo) ** 2 / total) / total ** 2)
    return max(-1.0, diff - z * se), min(1.0, diff + z * se)


def _wilson(hits: int, n: int, z: float) -> tuple[float, float]:
    p = hits / n
    middle = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return middle - half, middle + half


def rate_interval(hits: int, n: int, level: float = 0.95) -> tuple[float, float] | None:
    """Wilson's score interval of one success rate (the one each side of Newcombe's interval
    is built from); None for no runs."""
    if n <= 0:
        return None
    low, high = _wilson(hits, n, z_quantile(level))
    return max(0.0, low), min(1.0, high)


def corrected_rate_interval(hits: float, n: int, level: float = 0.95
                            ) -> tuple[float, float] | None:
    """Wilson's score interval with continuity correction (Newcombe 1998, method 4) of one
    rate; None for no runs. Plain Wilson's coverage of a 0/1 rate dips to 91-92% at some
    small n (exactly 92.2% at n = 21, p = 0.5); the correction keeps it at or above the level
    for the n a comparison of forms has, at the price of a slightly wider interval. `hits`
    may be fractional, the sum of n values in [0, 1] (a tie counted as half, a mean of K
    verdicts): such a value's variance is at most a 0/1 outcome's of the same mean, so the
    interval stays valid, erring wide."""
    if n <= 0:
        return None
    z = z_quantile(level)
    p = hits / n
    denominator = 2 * (n + z * z)
    low = 0.0 if p <= 0 else (2 * n * p + z * z - 1 - z * math.sqrt(
        max(0.0, z * z - 2 - 1 / n + 4 * p * (n * (1 - p) + 1)))) / denominator
    high = 1.0 if p >= 1 else (2 * n * p + z * z + 1 + z * math.sqrt(
        max(0.0, z * z + 2 - 1 / n + 4 * p * (n * (1 - p) - 1)))) / denominator
    return max(0.0, low), min(1.0, high)


def _newcombe(hits_a: int, n_a: int, hits_b: int, n_b: int, level: float
              ) -> tuple[float, float]:
    """Newcombe's hybrid score interval (his method 10) of p_a - p_b."""
    z = z_quantile(level)
    pa, pb = hits_a / n_a, hits_b / n_b
    la, ua = _wilson(hits_a, n_a, z)
    lb, ub = _wilson(hits_b, n_b, z)
    diff = pa - pb
    return (diff - math.sqrt((pa - la) ** 2 + (ub - pb) ** 2),
            diff + math.sqrt((ua - pa) ** 2 + (pb - lb) ** 2))
