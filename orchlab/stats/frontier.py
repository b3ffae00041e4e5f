"""Success against cost: one point per group (form x backend, or whatever the groups split),
and the Pareto frontier of those points, the groups no other beats on both at once.

The vertical figure is pass^k when every group has k > 1 runs of each input (at most the
summary's k), else the success rate; the horizontal one is the mean cost per run, failed runs
included (they cost too, as in the cost projection), or the mean tokens per run when any run's
cost is unknown, and the axis says so. Each point carries the intervals the rest of the stats
already give: pass^k's (`estimates.pass_hat_k_interval`, through `estimates.reliability`), or
Wilson's for a rate (`estimates.rate_interval`), and Student's t of the mean
(`analysis.mean_interval`) for cost or tokens. The frontier is drawn from the point estimates:
where intervals overlap the data do not order those points, and the sentence says so.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from orchlab.stats import analysis, estimates
from orchlab.stats.findings import label

FRONTIER_COLUMNS = ["group", "form", "variant", "backend", "x", "x_low", "x_high", "y", "y_low",
                    "y_high", "runs", "n", "on_frontier"]
"""One row per group: x (cost or tokens per run) and y (success or pass^k) with their 95%
intervals, the runs x is over, the runs (or inputs, for pass^k) y is over, and whether the
point is on the Pareto frontier."""


def pareto(points: list[tuple[float, float]]) -> list[bool]:
    """Which (cost, success) points no other point dominates (costs no more and succeeds at
    least as often, and is better in one of the two). Equal points are all on it."""
    return [not any(cx <= x and cy >= y and (cx < x or cy > y) for cx, cy in points)
            for x, y in points]


def frontier(runs: pd.DataFrame, by: str = "group", k_max: int = 3,
             reliability: pd.DataFrame | None = None) -> dict[str, Any]:
    """The success-against-cost points of these runs' groups and their frontier, JSON-ready:
    `points` (FRONTIER_COLUMNS), the axes' names, groups with no scored run left out (named in
    `left_out`), and a sentence. `reliability`: `estimates.reliability(runs, by)`, when the
    caller has it."""
    frame = runs.assign(tokens=runs["input_tokens"] + runs["output_tokens"])
    unknown = int(frame["cost_usd"].isna().sum())
    x_column = "tokens" if unknown else "cost_usd"
    x_label = ("mean tokens per run (cost unknown for "
               f"{unknown} of {len(frame)} runs), failed runs included" if unknown else
               "mean cost per run (USD), failed runs included")
    if reliability is None:
        reliability = estimates.reliability(frame, by)
    scored = set(reliability[by]) if not reliability.empty else set()
    most = [int(reliability.loc[reliability[by] == g, "runs_per_input"].iloc[0])
            for g in scored]
    k = min(k_max, *most) if most else 1
    y_label = f"pass^{k} (all {k} runs of an input succeed)" if k > 1 else "success rate"
    rows: list[dict[str, Any]] = []
    left_out: list[str] = []
    for group, rows_of in analysis.in_group_order(frame, [by]):
        name = str(group)
        if name not in scored:
            left_out.append(name)
            continue
        values = rows_of[x_column].to_numpy(dtype=float)
        x_low, x_high = analysis.mean_interval(values)
        if k > 1:
            hit = reliability[(reliability[by] == name) & (reliability["k"] == k)].iloc[0]
            y, y_low, y_high = hit["pass_hat_k"], hit["pass_hat_k_low"], hit["pass_hat_k_high"]
            n = int(hit["inputs"])
        else:
            success = rows_of["success"].dropna()
            n, hits = len(success), int(success.astype(bool).sum())
            y = hits / n
            y_low, y_high = estimates.rate_interval(hits, n) or (None, None)
        form, variant, backend, assignment = analysis.split_group(name)
        labels = set(rows_of["backend_label"]) if "backend_label" in rows_of else set()
        recorded = next(iter(labels)) if len(labels) == 1 else None  # one backend, unsplit
        rows.append({"group": name, "form": form, "variant": variant,
                     "backend": backend or recorded, "assignment": assignment,
                     "x": float(np.mean(values)),
                     "x_low": x_low, "x_high": x_high, "y": float(y),
                     "y_low": _num(y_low), "y_high": _num(y_high), "runs": len(rows_of),
                     "n": n})
    marks = pareto([(r["x"], r["y"]) for r in rows])
    for row, on in zip(rows, marks, strict=True):
        row["on_frontier"] = on
    return {"x": x_column, "x_label": x_label, "y": "pass^k" if k > 1 else "success",
            "k": k, "y_label": y_label, "points": rows, "left_out": left_out,
            "sentence": frontier_sentence(rows, x_column, k, left_out)}


def _num(value: Any) -> float | None:
    return None if value is None or analysis.is_missing(value) else float(value)


def frontier_sentence(points: list[dict[str, Any]], x_column: str, k: int,
                      left_out: list[str]) -> str:
    """Which groups are on the frontier, in words, with the caution its intervals call for."""
    if not points:
        return "No group has a run whose outcome says something about its form: no frontier."
    what = f"pass^{k}" if k > 1 else "success rate"
    per = "cost per run" if x_column == "cost_usd" else "tokens per run (cost unknown)"
    on = [label(p["group"]) for p in sorted(points, key=lambda p: p["x"]) if p["on_frontier"]]
    said = (f"On the frontier of {what} against {per} (no other group does better on one "
            f"without doing worse on the other): {', '.join(on)}.")
    if len(points) > 1:
        said += (" The frontier is drawn from the estimates; where two points' 95% intervals "
                 "overlap, these runs do not order them.")
    if left_out:
        said += (f" Left out, with no run whose outcome counts: "
                 f"{', '.join(label(g) for g in left_out)}.")
    return said


def frontier_table(found: dict[str, Any]) -> pd.DataFrame:
    """The frontier's points as people read them, cheapest first: each figure with its 95%
    interval ("—" where none), the runs, and whether the point is on the frontier."""
    money = found["x"] == "cost_usd"
    y_name = f"pass^{found['k']}" if found["k"] > 1 else "Success rate"

    def x_text(value: float | None) -> str:
        return "—" if value is None else (f"${value:.3g}" if money else f"{value:,.0f}")

    rows = [{"Group": label(p["group"]),
             "Cost per run" if money else "Tokens per run": x_text(p["x"]),
             "95% interval (per run)": "—" if p["x_low"] is None else
             f"{x_text(p['x_low'])} – {x_text(p['x_high'])}",
             y_name: f"{p['y']:.2f}",
             f"95% interval ({y_name})": "—" if p["y_low"] is None else
             f"{p['y_low']:.2f} – {p['y_high']:.2f}",
             "Runs": p["runs"], "On the frontier": "yes" if p["on_frontier"] else "no"}
            for p in sorted(found["points"], key=lambda p: p["x"])]
    return pd.DataFrame(rows)
