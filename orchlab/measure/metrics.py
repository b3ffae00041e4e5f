"""Run figures computed from span records: the one place each figure is computed.

The recorder calls `run_metrics` when a run ends, and tests call it again on the spans read
back from the store; both must agree.

A run's path is computed by `orchlab.measure.paths` and recorded here with the figures.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable

from orchlab.core.records import RunMetrics, SpanRecord
from orchlab.measure import pricing
from orchlab.measure.paths import path_steps, render_path


def run_metrics(
    spans: list[SpanRecord], backend_id: str, *, wall_ms: float = 0.0, retries: int = 0,
    agent_backends: dict[str, str] | None = None,
) -> RunMetrics:
    """All of a run's figures from its spans (and the runner's clock and retry count).

    `agent_backends`: the agents an assignment ran elsewhere than `backend_id` (agent ->
    backend id); each agent's generations are priced as its own backend's, and each agent's
    figures name the backend it ran on."""
    assigned = agent_backends or {}
    gens = [s for s in spans if s.kind == "generation"]
    cost = _generation_coster(backend_id, assigned)
    steps = path_steps(spans)
    labels = dict.fromkeys(
        pricing.price_label(assigned.get(g.agent or "", backend_id), g.model or "")
        for g in gens)
    metrics = RunMetrics(
        wall_ms=wall_ms,
        queued_ms=sum(s.queued_ms for s in gens),
        retries=retries,
        llm_calls=len(gens),
        tool_calls=sum(1 for s in spans if s.kind == "function"),
        input_tokens=sum(s.input_tokens for s in gens),
        output_tokens=sum(s.output_tokens for s in gens),
        cached_tokens=sum(s.cached_tokens for s in gens),
        reasoning_tokens=sum(s.reasoning_tokens for s in gens),
        cost_usd=pricing.run_cost(gens, backend_id, cost),
        price_source=" + ".join(labels),
        path=render_path(steps),
        path_steps=steps,
    )
    by_agent: dict[str, list[SpanRecord]] = defaultdict(list)
    for gen in gens:
        by_agent[gen.agent or "(no agent)"].append(gen)
    metrics.per_agent = {
        agent: {
            "llm_calls": len(agent_gens),
            "input_tokens": sum(g.input_tokens for g in agent_gens),
            "output_tokens": sum(g.output_tokens for g in agent_gens),
            "queued_ms": sum(g.queued_ms for g in agent_gens),
            "llm_ms": sum(max(0.0, g.end_ms - g.start_ms - g.queued_ms) for g in agent_gens),
            "cost_usd": pricing.run_cost(agent_gens, backend_id, cost),
            "backend": assigned.get(agent, backend_id),
            "model": next((g.model for g in agent_gens if g.model), None),
        }
        for agent, agent_gens in by_agent.items()
    }
    return metrics


def _generation_coster(backend_id: str, assigned: dict[str, str]
                       ) -> Callable[[SpanRecord], float | None]:
    """`pricing.generation_cost` of a span, on its agent's backend, asked once per distinct
    generation in a run.

    The run total and the per-agent totals both need every generation's cost; pricing one
    (an env lookup and a regex for the price override) was half of run_metrics.
    """
    memo: dict[tuple[str, str, int, int, int], float | None] = {}

    def cost(gen: SpanRecord) -> float | None:
        key = (assigned.get(gen.agent or "", backend_id), gen.model or "", gen.input_tokens,
               gen.output_tokens, gen.cached_tokens)
        if key not in memo:
            memo[key] = pricing.generation_cost(*key)
        return memo[key]

    return cost
