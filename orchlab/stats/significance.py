"""Whether a difference is real, and how many runs would settle it: the exact tests of success
rates, Holm's correction over one comparison's figures, and sample sizes for the tests the
sentences use (the t-tests themselves come with their intervals, `orchlab.stats.estimates`),
and the one home of the normal and t critical values (`z_quantile`, `t_quantile`).

scipy is imported inside the functions that compute a statistic only (scipy.stats adds
~70 MB of RSS and ~0.7 s of import to a process that already has pandas, measured
2026-12-05): a page or command that shows no test statistic never loads it. Normal
quantiles come from `statistics.NormalDist`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace
from statistics import NormalDist
from typing import ClassVar

import numpy as np


def z_quantile(level: float) -> float:
    """The standard normal's two-sided critical value for a `level` interval (1.96 at 0.95):
    every normal-theory interval and sample size here uses this one."""
    return NormalDist().inv_cdf(1 - (1 - level) / 2)


def t_quantile(level: float, df: float) -> float:
    """Student's t two-sided critical value for a `level` interval on `df` degrees of freedom:
    every t interval and t-based sample size here uses this one."""
    from scipy.stats import t as student

    return float(student.ppf(1 - (1 - level) / 2, df))

# -- significance ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Test:
    """One significance test and, after `holm`, its p-value adjusted over its family."""

    __test__: ClassVar[bool] = False
    """Not a field: tells pytest this record is no test class."""
    name: str
    """Which test: a t-test (`stats.Comparison.test`), Fisher's exact or McNemar's exact."""
    statistic: float | None
    """The test's own statistic (t, the odds ratio for Fisher, the discordant pairs A won
    for McNemar); None where it is infinite, with `note` saying why."""
    p_value: float
    """Two-sided p-value of this test alone."""
    n_a: int
    """Values (or runs) in group A; the pairs for a paired test."""
    n_b: int
    """Values (or runs) in group B; the pairs for a paired test."""
    p_adjusted: float | None = None
    """The p-value after a multiple-testing correction, None until one is applied."""
    correction: str | None = None
    """Which correction gave p_adjusted ("Holm over this comparison's 5 figures")."""
    note: str | None = None
    """Why `statistic` is missing (an infinite odds ratio), None when it is not."""


def test_rates(hits_a: int, n_a: int, hits_b: int, n_b: int) -> Test | None:
    """Fisher's exact test (two-sided) of two success rates, for unpaired runs: exact at the
    small run counts an experiment has. None when a group has no runs. The statistic is the
    odds ratio, None with a note when one group always or never succeeded (infinite or
    undefined: JSON has no infinity)."""
    if n_a <= 0 or n_b <= 0:
        return None
    if not (0 <= hits_a <= n_a and 0 <= hits_b <= n_b):
        raise ValueError("hits must lie in 0..n")
    table = [[hits_a, n_a - hits_a], [hits_b, n_b - hits_b]]
    from scipy.stats import fisher_exact

    odds, p = fisher_exact(table, alternative="two-sided")
    if math.isfinite(odds):
        return Test("Fisher's exact", float(odds), float(p), n_a, n_b)
    return Test("Fisher's exact", None, float(p), n_a, n_b, note=(
        "no odds ratio: one group never failed where the other failed (infinite)"
        if math.isinf(odds) else "no odds ratio: both groups always or never succeeded"))


def test_paired_rates(a_only: int, b_only: int, pairs: int) -> Test:
    """McNemar's exact test for paired success: only pairs where one form succeeded and the
    other did not say anything about a difference, and under none each is A's with chance 1/2
    (a two-sided binomial test on the discordant pairs). No discordant pair: p = 1."""
    if min(a_only, b_only) < 0 or a_only + b_only > pairs:
        raise ValueError("discordant pairs must lie in 0..pairs")
    if a_only + b_only == 0:
        return Test("McNemar's exact", 0.0, 1.0, pairs, pairs)
    from scipy.stats import binomtest

    p = binomtest(a_only, a_only + b_only, 0.5, alternative="two-sided").pvalue
    return Test("McNemar's exact", float(a_only), float(p), pairs, pairs)


def holm(tests: Sequence[Test | None], family: int | None = None,
         label: str | None = None) -> list[Test | None]:
    """Holm-Bonferroni over a family of `family` hypotheses (default: the tests present), of
    which `tests` are the ones with a test: a figure without one counts as a hypothesis not
    rejected, so the family, and every adjusted p, is the same whatever else is shown. Sort
    ascending, multiply the i-th (0-based) by m - i, keep a running max, cap at 1."""
    present = sorted((t.p_value, i) for i, t in enumerate(tests) if t is not None)
    m = len(present) if family is None else family
    if m < len(present):
        raise ValueError(f"a family of {m} cannot hold {len(present)} tests")
    running = 0.0
    adjusted: dict[int, float] = {}
    for rank, (p, i) in enumerate(present):
        running = max(running, min(1.0, (m - rank) * p))
        adjusted[i] = running
    said = label or f"Holm over {m} tests"
    return [None if t is None else replace(t, p_adjusted=adjusted[i], correction=said)
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
    z = z_quantile(confidence)
    return max(2, math.ceil((z * sd / half_width) ** 2))


RUNS_LIMIT = 10_000
"""The most pairs (or runs per group) a runs-needed figure looks at."""


def runs_needed(spread: float, effect: float, paired: bool, family: int = 1,
                power: float = 0.8, alpha: float = 0.05, minimum: int = 2) -> int | None:
    """The fewest pairs (paired) or runs per group (unpaired) at which the t-test a sentence
    uses detects a true `effect` with `power`, at Holm's strictest level alpha / family (the
    level a family's one real difference has to meet): exact power from the noncentral t, so
    small counts are not flattered by a normal approximation. `spread` and `effect` are on
    the tested scale (log ratios for geometric means). None when nothing varies or there is
    nothing to detect; RUNS_LIMIT + 1 when no count up to RUNS_LIMIT would do."""
    if spread <= 0 or effect == 0 or not math.isfinite(spread):
        return None
    from scipy.stats import nct

    level = alpha / family

    def power_at(n: int) -> float:
        df = n - 1 if paired else 2 * n - 2
        shift = abs(effect) / spread * (math.sqrt(n) if paired else math.sqrt(n / 2))
        q = t_quantile(1 - level, df)
        wrong_side = float(nct.cdf(-q, df, shift))  # NaN far out in the tail, where it is 0
        return float(nct.sf(q, df, shift)) + (wrong_side if math.isfinite(wrong_side) else 0.0)

    low, high = max(2, minimum), RUNS_LIMIT
    if power_at(high) < power:
        return RUNS_LIMIT + 1
    while low < high:  # power grows with n: the first n that reaches it
        mid = (low + high) // 2
        if power_at(mid) >= power:
            high = mid
        else:
            low = mid + 1
    return low
