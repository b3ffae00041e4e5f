"""Run figures computed from span records: the one place each figure is computed.

The recorder calls `run_metrics` when a run ends, and tests call it again on the spans read
back from the store; both must agree.

Path signature: a run's ordered agent/tool steps. Steps that ran in parallel are one set written
`{a|b|c}` in sorted order. Steps count as parallel when they share a parent and either overlap
in time or come from one model turn (the SDK runs one turn's tool calls concurrently) or from an
explicit `parallel` span (code flows mark `asyncio.gather` this way, since zero-latency models
may finish one task before the next starts).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from orchlab import pricing
from orchlab.records import SpanRecord

STEP_KINDS = ("agent", "function")
PARALLEL_SPAN = "parallel"


@dataclass
class RunMetrics:
    """Totals for one run; field meanings match RunRecord."""

    llm_calls: int = 0
    """Generation spans."""
    tool_calls: int = 0
    """Function spans."""
    input_tokens: int = 0
    """Sum over generation spans."""
    output_tokens: int = 0
    """Sum over generation spans."""
    cached_tokens: int = 0
    """Sum over generation spans."""
    reasoning_tokens: int = 0
    """Sum over generation spans."""
    cost_usd: float | None = 0.0
    """Sum of generation costs; None when any is unknown."""
    path: str = ""
    """Path signature."""
    per_agent: dict[str, dict[str, Any]] = field(default_factory=dict)
    """agent -> llm_calls, input_tokens, output_tokens, cost_usd (None if unknown)."""


def run_metrics(spans: list[SpanRecord], backend_id: str) -> RunMetrics:
    """All of a run's figures from its spans."""
    gens = [s for s in spans if s.kind == "generation"]
    cost = _generation_coster(backend_id)
    metrics = RunMetrics(
        llm_calls=len(gens),
        tool_calls=sum(1 for s in spans if s.kind == "function"),
        input_tokens=sum(s.input_tokens for s in gens),
        output_tokens=sum(s.output_tokens for s in gens),
        cached_tokens=sum(s.cached_tokens for s in gens),
        reasoning_tokens=sum(s.reasoning_tokens for s in gens),
        cost_usd=_total_cost(gens, cost),
        path=path_signature(spans),
    )
    by_agent: dict[str, list[SpanRecord]] = defaultdict(list)
    for gen in gens:
        by_agent[gen.agent or "(no agent)"].append(gen)
    metrics.per_agent = {
        agent: {
            "llm_calls": len(agent_gens),
            "input_tokens": sum(g.input_tokens for g in agent_gens),
            "output_tokens": sum(g.output_tokens for g in agent_gens),
            "cost_usd": _total_cost(agent_gens, cost),
        }
        for agent, agent_gens in by_agent.items()
    }
    return metrics


def _generation_coster(backend_id: str) -> Callable[[SpanRecord], float | None]:
    """`pricing.generation_cost` of a span, asked once per distinct generation in a run.

    The run total and the per-agent totals both need every generation's cost; pricing one
    (an env lookup and a regex for the price override) was half of run_metrics.
    """
    memo: dict[tuple[str, int, int, int], float | None] = {}

    def cost(gen: SpanRecord) -> float | None:
        key = (gen.model or "", gen.input_tokens, gen.output_tokens, gen.cached_tokens)
        if key not in memo:
            memo[key] = pricing.generation_cost(backend_id, *key)
        return memo[key]

    return cost


def _total_cost(
    gens: list[SpanRecord], cost: Callable[[SpanRecord], float | None]
) -> float | None:
    """`pricing.run_cost` with a memoised cost: None as soon as one price is unknown."""
    total = 0.0
    for gen in gens:
        value = cost(gen)
        if value is None:
            return None
        total += value
    return total


@dataclass
class _Step:
    span: SpanRecord
    group_key: str | None
    parallel_parent: bool
    children: list[_Step] = field(default_factory=list)


def path_signature(spans: list[SpanRecord]) -> str:
    """The run's path, e.g. `sales_manager > {a|b|c} > send_email`."""
    by_id = {s.span_id: s for s in spans}
    kids: dict[str | None, list[SpanRecord]] = defaultdict(list)
    for span in sorted(spans, key=lambda s: (s.start_ms, s.seq)):
        parent = span.parent_id if span.parent_id in by_id else None
        kids[parent].append(span)
    return _render(_steps_below(None, kids, by_id))


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
    return found


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


def _render(steps: list[_Step]) -> str:
    parts: list[str] = []
    for group in _parallel_groups(steps):
        if len(group) == 1:
            step = group[0]
            parts.append(step.span.name)
            if step.children:
                parts.append(_render(step.children))
        else:
            labels = sorted(_label(st) for st in group)
            parts.append("{" + "|".join(labels) + "}")
    return " > ".join(p for p in parts if p)


def _label(step: _Step) -> str:
    inner = _render(step.children)
    return f"{step.span.name}({inner})" if inner else step.span.name


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
