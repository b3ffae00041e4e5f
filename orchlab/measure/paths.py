"""A run's path: what it is, how it is drawn as text, and how paths differ.

The one home of the path concept. A run's path is its ordered agent/tool steps, kept as
structured steps (`path_steps`, stored with the run, what figures read) and rendered once for
display (`render_path`). Steps that ran in parallel are one set written `{a|b|c}` in sorted
order. Steps count as parallel when they share a parent and either overlap in time or come from
one model turn (the SDK runs one turn's tool calls concurrently) or from an explicit `parallel`
span (code flows mark `asyncio.gather` this way, since zero-latency models may finish one task
before the next starts). How far paths differ: `flat_steps` and `edit_distance` for two runs,
`path_entropy` and `top_path_share` for many. Paths across a frame of runs (per group, against a
reference form) are `orchlab.stats.paths`, built on these.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from orchlab.core.records import SpanRecord

STEP_KINDS = ("agent", "function", "handoff")
PARALLEL_SPAN = "parallel"
HANDOFF_ARROW = " => "
"""Between the two agents in a handoff step's name (the recorder names handoff spans so)."""


PathStep = dict[str, Any]
"""One step: {"name", "kind", "steps": [sub-steps]}, or a parallel set {"parallel": [steps]}."""


@dataclass
class _Step:
    span: SpanRecord
    group_key: str | None
    parallel_parent: bool
    children: list[_Step] = field(default_factory=list)


def path_steps(spans: list[SpanRecord]) -> list[PathStep]:
    """The run's path as structured steps (JSON-ready), parallel sets sorted by label."""
    by_id = {s.span_id: s for s in spans}
    kids: dict[str | None, list[SpanRecord]] = defaultdict(list)
    for span in sorted(spans, key=lambda s: (s.start_ms, s.seq)):
        parent = span.parent_id if span.parent_id in by_id else None
        kids[parent].append(span)
    return _structure(_steps_below(None, kids, by_id))


def path_signature(spans: list[SpanRecord]) -> str:
    """The run's path for display, e.g. `sales_manager > {a|b|c} > send_email`."""
    return render_path(path_steps(spans))


def render_path(steps: list[PathStep]) -> str:
    """Display string of structured steps: `a > {b|c(d)} > e`."""
    parts: list[str] = []
    for step in steps:
        if "parallel" in step:
            parts.append("{" + "|".join(_label(s) for s in step["parallel"]) + "}")
        else:
            parts.append(step["name"])
            if step["steps"]:
                parts.append(render_path(step["steps"]))
    return " > ".join(p for p in parts if p)


def path_stages(steps: list[PathStep]) -> list[list[str]]:
    """The path as consecutive stages of step labels (a parallel set is one stage)."""
    stages: list[list[str]] = []
    for step in steps:
        if "parallel" in step:
            stages.append([_label(s) for s in step["parallel"]])
        else:
            stages.append([step["name"]])
            stages.extend(path_stages(step["steps"]))
    return stages


def _label(step: PathStep) -> str:
    inner = render_path(step["steps"])
    return f"{step['name']}({inner})" if inner else step["name"]


def _structure(steps: list[_Step]) -> list[PathStep]:
    out: list[PathStep] = []
    for group in _parallel_groups(steps):
        items = [_as_step(st) for st in group]
        out.append(items[0] if len(items) == 1 else
                   {"parallel": sorted(items, key=_label)})
    return out


def _as_step(step: _Step) -> PathStep:
    return {"name": step.span.name, "kind": step.span.kind, "steps": _structure(step.children)}


def _steps_below(
    node_id: str | None,
    kids: dict[str | None, list[SpanRecord]],
    by_id: dict[str, SpanRecord],
) -> list[_Step]:
    """Nearest step descendants of a node, looking through task/turn/custom containers."""
    found: list[_Step] = []
    for child in kids.get(node_id, []):
        if child.kind in STEP_KINDS:
            step = _make_step(child, by_id)
            step.children = _steps_below(child.span_id, kids, by_id)
            found.append(_collapse_agent_tool(step))
        elif child.kind != "generation":
            found.extend(_steps_below(child.span_id, kids, by_id))
    found.sort(key=lambda st: (st.span.start_ms, st.span.seq))
    return _follow_handoffs(found)


def _follow_handoffs(steps: list[_Step]) -> list[_Step]:
    """An agent that takes over through a handoff is not a new step: its steps follow the
    handoff (`triage > triage => network_agent > parse_logs`), as the conversation does."""
    kept: list[_Step] = []
    pending: _Step | None = None
    for step in steps:
        target = pending.span.name.partition(HANDOFF_ARROW)[2] if pending else None
        if pending is not None and step.span.kind == "agent" and step.span.name == target:
            pending.children = step.children
        else:
            kept.append(step)
        last = step.children[-1] if step.children else None
        pending = last if last is not None and last.span.kind == "handoff" else None
    return kept


def _make_step(span: SpanRecord, by_id: dict[str, SpanRecord]) -> _Step:
    """A step grouped by its nearest non-task ancestor (each Runner.run adds a task span)."""
    parent = by_id.get(span.parent_id) if span.parent_id else None
    while parent is not None and parent.kind == "task":
        parent = by_id.get(parent.parent_id) if parent.parent_id else None
    parallel = parent is not None and (
        parent.kind == "turn" or (parent.kind == "custom" and parent.name == PARALLEL_SPAN)
    )
    return _Step(span, parent.span_id if parent else None, parallel)


def _collapse_agent_tool(step: _Step) -> _Step:
    """An agent called as a tool is one step, named by the tool; its own steps follow it."""
    if step.span.kind == "function" and len(step.children) == 1:
        only = step.children[0]
        if only.span.kind == "agent":
            step.children = only.children
    return step


def _parallel_groups(steps: list[_Step]) -> list[list[_Step]]:
    groups: list[list[_Step]] = []
    for step in steps:
        if groups and _joins(groups[-1], step):
            groups[-1].append(step)
        else:
            groups.append([step])
    return groups


def _joins(group: list[_Step], step: _Step) -> bool:
    head = group[0]
    if step.group_key != head.group_key:
        return False
    if step.parallel_parent:
        return True
    return step.span.start_ms < max(s.span.end_ms for s in group)


def flat_steps(steps: list[PathStep]) -> list[str]:
    """The path as step labels, depth-first (a step, then its own steps); a parallel set
    becomes its members in sorted order (each member with its own steps after it), so one
    set written in another order gives the same sequence."""
    flat: list[str] = []
    for step in steps:
        if "parallel" in step:
            members = sorted(flat_steps([member]) for member in step["parallel"])
            for member in members:
                flat.extend(member)
        else:
            flat.append(str(step["name"]))
            flat.extend(flat_steps(step.get("steps") or []))
    return flat


def edit_distance(a: Sequence[str], b: Sequence[str]) -> int:
    """Levenshtein distance over steps: insert, delete and substitute each cost 1."""
    previous = list(range(len(b) + 1))
    for i, step_a in enumerate(a, start=1):
        current = [i]
        for j, step_b in enumerate(b, start=1):
            current.append(min(previous[j] + 1, current[j - 1] + 1,
                               previous[j - 1] + (step_a != step_b)))
        previous = current
    return previous[-1]


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
