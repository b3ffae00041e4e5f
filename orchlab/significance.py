"""Whether a difference is real, and how many runs would settle it: tests from scipy.stats,
Holm's correction over the tests a page shows at once, and normal-approximation sample sizes.

scipy is imported inside the three tests only (scipy.stats adds ~70 MB of RSS and ~0.7 s of
import to a process that already has pandas, measured 2026-12-05): a page or command that
shows no test statistic never loads it. Normal quantiles come from `statistics.NormalDist`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace
from statistics import NormalDist
from typing import ClassVar

import numpy as np

_Z = NormalDist().inv_cdf
"""The standard normal's quantile function."""

# -- significance ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Test:
    """One significance test and, after `holm`, its p-value adjusted for the page's tests."""

    __test__: ClassVar[bool] = False
    """Not a field: tells pytest this record is no test class."""
    name: str
    """Mann-Whitney U, Wilcoxon signed-rank or Fisher's exact."""
    statistic: float
    """The test's own statistic (U, W, or the odds ratio for Fisher)."""
    p_value: float
    """Two-sided p-value of this test alone."""
    n_a: int
    """Values (or runs) in group A; the pairs for a paired test."""
    n_b: int
    """Values (or runs) in group B; the pairs for a paired test."""
    p_adjusted: float | None = None
    """The p-value after a multiple-testing correction, None until one is applied."""
    correction: str | None = None
    """Which correction gave p_adjusted ("Holm over 6 tests")."""


def test_values(xa: Sequence[float], xb: Sequence[float]) -> Test | None:
    """Two-sided Mann-Whitney U for latency, tokens or cost: no normality assumed, and these
    figures are skewed. None with fewer than 2 values in a group, or when every value of both
    groups is the same (no ranking exists, so no p-value means anything). NaNs are left out."""
    va, vb = (x[~np.isnan(x)] for x in (np.asarray(xa, dtype=float), np.asarray(xb, float)))
    if min(len(va), len(vb)) < 2 or np.unique(np.concatenate([va, vb])).size == 1:
        return None
    from scipy.stats import mannwhitneyu

    result = mannwhitneyu(va, vb, alternative="two-sided")
    return Test("Mann-Whitney U", float(result.statistic), float(result.pvalue), len(va), len(vb))


def test_paired(diffs: Sequence[float]) -> Test | None:
    """Wilcoxon signed-rank on paired differences a - b. None with fewer than 2 pairs. All
    differences zero is the data saying "no difference": statistic 0 and p = 1.0 (scipy would
    give NaN there). NaNs are left out."""
    d = np.asarray(diffs, dtype=float)
    d = d[~np.isnan(d)]
    if len(d) < 2:
        return None
    if not np.any(d):
        return Test("Wilcoxon signed-rank", 0.0, 1.0, len(d), len(d))
    from scipy.stats import wilcoxon

    result = wilcoxon(d, alternative="two-sided")
    return Test("Wilcoxon signed-rank", float(result.statistic), float(result.pvalue),
                len(d), len(d))


def test_rates(hits_a: int, n_a: int, hits_b: int, n_b: int) -> Test | None:
    """Fisher's exact test (two-sided) of two success rates: exact at the small run counts an
    experiment has. None when a group has no runs; the statistic is the odds ratio."""
    if n_a <= 0 or n_b <= 0:
        return None
    if not (0 <= hits_a <= n_a and 0 <= hits_b <= n_b):
        raise ValueError("hits must lie in 0..n")
    table = [[hits_a, n_a - hits_a], [hits_b, n_b - hits_b]]
    from scipy.stats import fisher_exact

    odds, p = fisher_exact(table, alternative="two-sided")
    return Test("Fisher's exact", float(odds), float(p), n_a, n_b)


def holm(tests: Sequence[Test | None]) -> list[Test | None]:
    """Holm-Bonferroni over the tests present (None stays None and is not counted): a page
    testing six figures at once would otherwise find something by chance. Sort ascending,
    multiply the i-th (0-based) by m - i, keep a running max, cap at 1."""
    present = sorted((t.p_value, i) for i, t in enumerate(tests) if t is not None)
    m, running = len(present), 0.0
    adjusted: dict[int, float] = {}
    for rank, (p, i) in enumerate(present):
        running = max(running, min(1.0, (m - rank) * p))
        adjusted[i] = running
    label = f"Holm over {m} tests"
    return [None if t is None else replace(t, p_adjusted=adjusted[i], correction=label)
            for i, t in enumerate(tests)]


def p_text(p: float) -> str:
    """"p < 0.001", else two significant digits ("p = 0.041", "p = 0.50"): more digits would
    claim a precision the run counts do not have."""
    return "p < 0.001" if p < 0.001 else f"p = {p:#.2g}"


# -- how many runs would settle it -----------------------------------------------------------


def runs_for_half_width(
    values: Sequence[float], half_width: float, confidence: float = 0.95
) -> int | None:
    """Runs for a normal-approximation CI of the mean of +/- half_width, from the spread seen
    so far: ceil((z sd / half_width)^2), at least 2. None with fewer than 2 values or a
    standard deviation of 0 (no spread measured, so no estimate of what is needed)."""
    if half_width <= 0:
        raise ValueError("half_width must be positive")
    x = np.asarray(values, dtype=float)
    sd = float(np.std(x, ddof=1)) if len(x) >= 2 else 0.0
    if sd == 0:
        return None
    z = float(_Z(1 - (1 - confidence) / 2))
    return max(2, math.ceil((z * sd / half_width) ** 2))


def runs_for_difference(
    xa: Sequence[float], xb: Sequence[float], delta: float, power: float = 0.8,
    alpha: float = 0.05,
) -> int | None:
    """Runs per group for a two-sided two-sample test to detect a mean difference of delta:
    ceil(2 ((z_{1-alpha/2} + z_power) sd_pooled / delta)^2), at least 2. None with fewer than
    2 values in a group, a pooled sd of 0, or delta 0 (nothing to detect)."""
    va, vb = np.asarray(xa, dtype=float), np.asarray(xb, dtype=float)
    if min(len(va), len(vb)) < 2 or delta == 0:
        return None
    pooled_var = ((len(va) - 1) * np.var(va, ddof=1) + (len(vb) - 1) * np.var(vb, ddof=1)) \
        / (len(va) + len(vb) - 2)
    if pooled_var == 0:
        return None
    z = float(_Z(1 - alpha / 2) + _Z(power))
    return max(2, math.ceil(2 * (z * math.sqrt(float(pooled_var)) / delta) ** 2))


def runs_for_rates(
    p_a: float, p_b: float, power: float = 0.8, alpha: float = 0.05
) -> int | None:
    """Runs per group to tell success rates p_a and p_b apart (two-proportion normal
    approximation, pooled variance under the null, no continuity correction), at least 2.
    None when p_a == p_b: no run count detects a difference that is not there."""
    if not (0 <= p_a <= 1 and 0 <= p_b <= 1):
        raise ValueError("rates must lie in 0..1")
    if p_a == p_b:
        return None
    p_bar = (p_a + p_b) / 2
    z_alpha, z_power = float(_Z(1 - alpha / 2)), float(_Z(power))
    spread = z_alpha * math.sqrt(2 * p_bar * (1 - p_bar)) \
        + z_power * math.sqrt(p_a * (1 - p_a) + p_b * (1 - p_b))
    return max(2, math.ceil(spread ** 2 / (p_a - p_b) ** 2))
