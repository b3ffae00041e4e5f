"""Statistics beyond `analysis.bootstrap_ci`: reliability over repetitions and paired
comparisons (tests and sample sizes are `orchlab.significance`).

Pure functions over the runs DataFrame (`Store.load_runs`, grouped by `analysis.with_group`):
no I/O and no UI, so the CLI, findings and the dashboard share one definition of each figure.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np
import pandas as pd

from orchlab.analysis import MIN_RUNS_FOR_CI, N_BOOT, Estimate, bootstrap_ci, in_group_order

# -- reliability across repetitions ----------------------------------------------------------

RELIABILITY_COLUMNS = ["k", "pass_hat_k", "pass_at_k", "inputs", "runs_per_input"]


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
        rows.extend({by: key, "k": k, "pass_hat_k": float(hat[k - 1]),
                     "pass_at_k": float(at[k - 1]), "inputs": len(counts),
                     "runs_per_input": runs_per_input} for k in range(1, runs_per_input + 1))
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


# -- comparisons -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Comparison:
    """Group A relative to group B with a bootstrap CI, saying whether runs were paired."""

    point: float
    """The statistic on the observed samples."""
    low: float
    """Lower CI bound."""
    high: float
    """Upper CI bound."""
    n: int
    """Pairs used when paired, else the runs of both groups together."""
    paired: bool
    """Whether runs were matched on (input_id, repetition) and resampled as pairs."""
    stat: str
    """mean or median (a paired comparison is always of means)."""
    kind: str
    """ratio (A/B) or diff (A-B)."""

    @property
    def estimate(self) -> Estimate:
        """The same figure as an `analysis.Estimate`, for code that renders those."""
        return Estimate(self.point, self.low, self.high, self.kind)

    @property
    def significant(self) -> bool:
        """Whether the CI excludes 'no difference': `Estimate.significant`, one definition."""
        return self.estimate.significant


def column_values(runs: pd.DataFrame, value: str) -> pd.Series:
    """A run figure by name; "tokens" is input + output tokens, as the findings count them."""
    if value == "tokens":
        return runs["input_tokens"] + runs["output_tokens"]
    return runs[value]


def group_values(runs: pd.DataFrame, group: str, value: str, by: str = "group") -> np.ndarray:
    """The recorded values of one group (missing ones, e.g. an unknown cost, left out)."""
    values = pd.to_numeric(column_values(runs[runs[by] == group], value), errors="coerce")
    return values.dropna().to_numpy(dtype=float)


def pairs(runs: pd.DataFrame, a: str, b: str, value: str, by: str = "group") -> pd.DataFrame:
    """Runs of groups a and b matched on (input_id, repetition): a repetition is one block of
    forms run back to back on the same input, so a pair shares input and moment. A key seen
    twice in a group (two experiments) is matched occurrence by occurrence, never crossed.
    Only pairs with both values recorded are kept."""
    if a == b:
        raise ValueError("pairs() needs two different groups")
    keys = ["input_id", "repetition"]
    sides = []
    for name in (a, b):
        side = runs.loc[runs[by] == name, keys].copy()
        side[name] = pd.to_numeric(column_values(runs[runs[by] == name], value), errors="coerce")
        side["_occurrence"] = side.groupby(keys).cumcount()
        sides.append(side)
    matched = sides[0].merge(sides[1], on=[*keys, "_occurrence"], how="inner")
    matched = matched.dropna(subset=[a, b]).sort_values([*keys, "_occurrence"])
    return matched[[*keys, a, b]].reset_index(drop=True)


@lru_cache(maxsize=4)
def _pair_indices(n: int, n_boot: int, seed: int) -> np.ndarray:
    """One read-only resample matrix per (n, n_boot, seed), shared by every figure of a page."""
    indices = np.random.default_rng(seed).integers(0, n, (n_boot, n), dtype=np.int32)
    indices.setflags(write=False)
    return indices


def paired_ci(
    runs: pd.DataFrame, a: str, b: str, value: str, kind: str = "ratio", by: str = "group",
    n_boot: int = N_BOOT, seed: int = 0, level: float = 0.95,
) -> Comparison | None:
    """Percentile bootstrap over pairs: resampling whole pairs keeps each input's base level
    in both arms, so input-to-input spread drops out of the interval. Ratio is of means
    (sum a / sum b), diff is mean(a - b). None below MIN_RUNS_FOR_CI pairs, or for a ratio
    whose denominator (observed or in some resample) is 0."""
    matched = pairs(runs, a, b, value, by)
    return _paired(matched[a].to_numpy(float), matched[b].to_numpy(float), kind, n_boot, seed,
                   level)


def _paired(
    xa: np.ndarray, xb: np.ndarray, kind: str, n_boot: int = N_BOOT, seed: int = 0,
    level: float = 0.95,
) -> Comparison | None:
    if len(xa) < MIN_RUNS_FOR_CI:
        return None
    idx = _pair_indices(len(xa), n_boot, seed)  # one matrix, no loop over single resamples
    if kind == "ratio":
        sums_b = _resampled_sums(xb, idx)
        if xb.sum() == 0 or np.any(sums_b == 0):
            return None
        point, samples = float(xa.sum() / xb.sum()), _resampled_sums(xa, idx) / sums_b
    else:
        point, samples = float((xa - xb).mean()), _resampled_sums(xa - xb, idx) / len(xa)
    tail = (1 - level) / 2 * 100
    low, high = np.percentile(samples, [tail, 100 - tail])
    return Comparison(point, float(low), float(high), len(xa), True, "mean", kind)


RESAMPLE_CHUNK = 100
"""Resamples gathered at once: 100 x 5,000 pairs is 4 MB of floats, not 40 MB per figure."""


def _resampled_sums(values: np.ndarray, idx: np.ndarray) -> np.ndarray:
    """Each resample's sum, gathered a chunk of resamples at a time to bound memory."""
    return np.concatenate([values[idx[i:i + RESAMPLE_CHUNK]].sum(axis=1)
                           for i in range(0, len(idx), RESAMPLE_CHUNK)])


def unpaired_ci(
    runs: pd.DataFrame, a: str, b: str, value: str, kind: str = "ratio", by: str = "group",
    stat: str = "mean",
) -> Comparison | None:
    """`analysis.bootstrap_ci` (each group resampled on its own) as a Comparison: the fallback
    when runs cannot be matched. None where bootstrap_ci gives None."""
    xa, xb = group_values(runs, a, value, by), group_values(runs, b, value, by)
    est = bootstrap_ci(xa.tolist(), xb.tolist(), stat=stat, kind=kind)
    if est is None:
        return None
    return Comparison(est.point, est.low, est.high, len(xa) + len(xb), False, stat, kind)


def compare(
    runs: pd.DataFrame, a: str, b: str, value: str, kind: str = "ratio", by: str = "group",
    matched: pd.DataFrame | None = None, paired: bool = True,
) -> Comparison | None:
    """Paired when at least MIN_RUNS_FOR_CI pairs exist (a narrower, honest interval), else
    unpaired; both of means, so the two paths measure the same thing. `matched`: the
    `pairs(...)` of these arguments, when the caller has them already; `paired=False`: the
    unpaired estimate whatever the pairs."""
    if paired:
        matched = pairs(runs, a, b, value, by) if matched is None else matched
        if len(matched) >= MIN_RUNS_FOR_CI:
            return _paired(matched[a].to_numpy(float), matched[b].to_numpy(float), kind)
    return unpaired_ci(runs, a, b, value, kind, by, stat="mean")
