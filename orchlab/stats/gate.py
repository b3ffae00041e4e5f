"""What `python -m orchlab summary` prints, and its CI gate: thresholds such as
`llm.success>=0.9` or `guarded.pass^3>=0.8` checked against the same summary Compare shows.
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from orchlab.core.errors import SpecError
from orchlab.stats.agreement import agreement_lines
from orchlab.stats.findings import title
from orchlab.stats.pairwise import pairwise_lines
from orchlab.stats.quality import quality_lines
from orchlab.stats.summary import SCOREBOARD_NOTE, scoreboard

OPS: dict[str, Callable[[float, float], bool]] = {
    ">=": operator.ge, "<=": operator.le, "==": operator.eq, ">": operator.gt, "<": operator.lt}
_REQUIREMENT = re.compile(
    r"^\s*(?P<group>.+)\.(?P<figure>[A-Za-z_]+(?:[\^@]\d+(?:_low|_high)?)?)\s*"
    r"(?P<op>>=|<=|==|>|<)\s*"
    r"(?P<value>-?\d+(?:\.\d+)?)\s*$")
ALIASES = {"success": "success_rate"}
"""Short names a threshold may use for a summary figure."""


@dataclass(frozen=True)
class Requirement:
    """One threshold on one group's figure."""

    text: str
    """As the user wrote it."""
    group: str
    """Group (form id, or form · variant)."""
    figure: str
    """Summary figure: success, pass^k (pass^k_low, pass^k_high: its 95% interval's bounds),
    pass@k, wall_ms_median, tokens_mean, ..."""
    op: str
    """One of OPS."""
    value: float
    """The threshold."""


def parse_requirement(text: str) -> Requirement:
    """A threshold, or SpecError saying in one sentence what a threshold looks like."""
    match = _REQUIREMENT.match(text)
    if not match:
        raise SpecError(f"--require {text!r} is not a threshold: write GROUP.FIGURE OP NUMBER, "
                        "e.g. llm.success>=0.9, guarded.pass^3>=0.8 or llm.pass^3_low>=0.6.")
    return Requirement(text, match["group"].strip(), match["figure"], match["op"],
                       float(match["value"]))


def figure_value(summary: dict[str, Any], req: Requirement) -> float | None:
    """The group's figure, None when the runs do not give it (e.g. pass^5 with 3 runs);
    SpecError for a group or figure the summary does not have."""
    groups = summary["groups"]
    if req.group not in groups:
        raise SpecError(f"--require {req.text!r}: no group {req.group!r} in these runs "
                        f"(groups: {', '.join(groups)}).")
    figures = groups[req.group]
    kind, _, k = req.figure.partition("^") if "^" in req.figure else req.figure.partition("@")
    if k:
        k, _, bound = k.partition("_")
        key = "pass_hat_k" if "^" in req.figure else "pass_at_k"
        if kind != "pass":
            raise SpecError(f"--require {req.text!r}: only pass^k and pass@k take a k.")
        if bound and key != "pass_hat_k":
            raise SpecError(f"--require {req.text!r}: only pass^k has an interval "
                            "(pass^3_low, pass^3_high).")
        row = next((r for r in figures["pass_k"] if r["k"] == int(k)), None)
        return None if row is None else row[f"{key}_{bound}" if bound else key]
    name = ALIASES.get(req.figure, req.figure)
    numeric = {n for n, v in figures.items() if isinstance(v, int | float) or v is None}
    if name not in numeric:
        raise SpecError(f"--require {req.text!r}: no figure {req.figure!r}; figures: success, "
                        f"pass^k, pass@k, {', '.join(sorted(numeric - {'success_rate'}))}.")
    value = figures[name]
    return None if value is None else float(value)


def failed_requirements(summary: dict[str, Any], reqs: list[Requirement]) -> list[str]:
    """One line per threshold that does not hold (an unavailable figure does not hold)."""
    failed = []
    for req in reqs:
        value = figure_value(summary, req)
        if value is None:
            failed.append(f"FAILED {req.text}: unavailable for these runs")
        elif not OPS[req.op](value, req.value):
            failed.append(f"FAILED {req.text}: {value:.4g}")
    return failed


SHOWN = ("runs", "ok", "success_rate", "success_n", "wall_ms_median", "tokens_mean",
         "cost_usd_mean", "llm_calls_mean", "tool_calls_mean", "distinct_paths",
         "path_entropy_bits", "failures")


def render_text(summary: dict[str, Any]) -> str:
    """The summary for a terminal: per group, its figures and pass^k; then each comparison."""
    lines = [f"experiments: {', '.join(summary['experiments'])}",
             f"baseline: {summary['baseline']}"]
    if summary["comparisons"]:
        lines += ["", scoreboard(summary).to_string(index=False), SCOREBOARD_NOTE]
    for group, figures in summary["groups"].items():
        lines.append(f"\n{title(group)} ({group})")
        lines.extend(f"  {name}: {_shown(figures.get(name))}" for name in SHOWN)
        passes = ", ".join(f"k={r['k']}: {_shown(r['pass_hat_k'])} / {_shown(r['pass_at_k'])}"
                           for r in figures["pass_k"])
        lines.append(f"  pass^k / pass@k ({figures['inputs']} inputs x "
                     f"{figures['runs_per_input']} runs): {passes or 'no scored runs'}")
        deviation = figures.get("path_deviation")
        if deviation and deviation.get("compared"):
            lines.append(f"  distance from the reference path: {deviation['mean_distance']:.2f} "
                         f"steps on average, {deviation['deviated']} of "
                         f"{deviation['compared']} runs deviated")
    for block in summary["comparisons"]:
        lines.append(f"\n{title(block['group'])} vs {block['baseline']} ({block['factor']})")
        lines.extend(f"  - {s}" for s in block["sentences"])
    if summary.get("frontier"):
        lines.extend(["", *frontier_lines(summary["frontier"])])
    if summary.get("quality"):  # each judge's quality figure, when the CLI added them
        lines.extend(["", *quality_lines(summary["quality"])])
    if summary.get("agreement"):  # and how far to trust each judge
        lines.extend(["", *agreement_lines(summary["agreement"])])
    if summary.get("pairwise"):  # pairwise judges' win rates and position bias
        lines.extend(["", *pairwise_lines(summary["pairwise"])])
    return "\n".join(lines)


def frontier_lines(found: dict[str, Any]) -> list[str]:
    """Success against cost as text: one line per group, `*` on the frontier."""
    lines = [f"{found['y_label']} against {found['x_label']} (* on the Pareto frontier):"]
    money = found["x"] == "cost_usd"
    for p in sorted(found["points"], key=lambda p: p["x"]):
        x = f"${p['x']:.3g}" if money else f"{p['x']:,.0f} tokens"
        x_ci = ("" if p["x_low"] is None else
                f" [{'$' if money else ''}{p['x_low']:.3g}, {'$' if money else ''}"
                f"{p['x_high']:.3g}]")
        y_ci = "" if p["y_low"] is None else f" [{p['y_low']:.2f}, {p['y_high']:.2f}]"
        lines.append(f"  {'*' if p['on_frontier'] else ' '} {title(p['group'])}: "
                     f"{p['y']:.2f}{y_ci} at {x}{x_ci} per run")
    lines.append(found["sentence"])
    return lines


def _shown(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, float):
        return f"{value:,.0f}" if abs(value) >= 1000 else f"{value:.4g}"
    return str(value)
