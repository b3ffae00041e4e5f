"""Pure functions over stored runs (the DataFrame from `Store.load_runs`).

No I/O and no UI here: the CLI and the dashboard both call these, so each figure has one
definition.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable

import pandas as pd

SUMMARY_COLUMNS = [
    "runs", "ok", "wall_ms_median", "wall_ms_p90", "tokens_mean", "cost_usd_mean",
    "llm_calls_mean", "tool_calls_mean", "distinct_paths", "path_entropy_bits", "success_rate",
]


def path_entropy(paths: Iterable[str]) -> float:
    """Shannon entropy (bits) of the path distribution: 0 for one path, log2(k) for k equal."""
    counts = Counter(paths)
    total = sum(counts.values())
    if total == 0:
        return 0.0
    return max(0.0, -sum((c / total) * math.log2(c / total) for c in counts.values()))


def top_path_share(paths: Iterable[str]) -> float:
    """Share of runs that took the most common path (0 when there are no runs)."""
    counts = Counter(paths)
    total = sum(counts.values())
    return max(counts.values()) / total if total else 0.0


def summarize(runs: pd.DataFrame, by: list[str] | None = None) -> pd.DataFrame:
    """Per-group figures (default: per form) in SUMMARY_COLUMNS order."""
    keys = by or ["form"]
    if runs.empty:
        return pd.DataFrame(columns=keys + SUMMARY_COLUMNS)
    rows = []
    for key, group in runs.groupby(keys, sort=True):
        values = key if isinstance(key, tuple) else (key,)
        rows.append({**dict(zip(keys, values, strict=True)), **_group_figures(group)})
    return pd.DataFrame(rows, columns=keys + SUMMARY_COLUMNS)


def _group_figures(group: pd.DataFrame) -> dict[str, float | int | None]:
    ok = group[group["status"] == "ok"]
    cost = group["cost_usd"]
    success = [bool(o.get("success")) for o in group["outcome"]]
    return {
        "runs": len(group),
        "ok": len(ok),
        "wall_ms_median": float(group["wall_ms"].median()),
        "wall_ms_p90": float(group["wall_ms"].quantile(0.9)),
        "tokens_mean": float((group["input_tokens"] + group["output_tokens"]).mean()),
        "cost_usd_mean": None if cost.isna().any() else float(cost.mean()),
        "llm_calls_mean": float(group["llm_calls"].mean()),
        "tool_calls_mean": float(group["tool_calls"].mean()),
        "distinct_paths": int(group["path"].nunique()),
        "path_entropy_bits": path_entropy(group["path"]),
        "success_rate": sum(success) / len(success),
    }
