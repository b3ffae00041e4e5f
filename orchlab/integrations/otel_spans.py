"""One run's recorded spans as OpenTelemetry spans, by the GenAI semantic conventions.

One run is one OTel trace, its trace id the run's own (`trace_<32 hex>` is a 128-bit id), so a
trace in a viewer and a run in the store are found by the same id. What each recorded span
(`SpanRecord`) becomes:

- The root, one per run: `invoke_workflow {scenario}:{form}` (gen_ai.operation.name
  invoke_workflow, gen_ai.workflow.name), from the run's wall-clock start to its end, carrying
  the orchlab.* attributes (experiment, form, input, repetition, backend, status, success,
  error class, every scalar outcome field). It has no gen_ai.usage.*: the tokens are on the
  chat spans, so summing them over a trace gives the run's totals.
- `agent` -> `invoke_agent {agent}`; `generation` -> `chat {model}` (gen_ai.request.model,
  gen_ai.usage.input_tokens/output_tokens, cache_read.input_tokens and
  reasoning.output_tokens when known); `function` -> `execute_tool {tool}` (gen_ai.tool.name).
- `handoff` -> `execute_tool transfer_to_{agent}`: the SDK carries a handoff out as that tool
  call, so a viewer shows it where the model asked for it; orchlab.handoff.from/to name both.
- `task` and `turn` spans are folded: they are the SDK's bookkeeping (a `Runner.run`, one
  model turn) with no GenAI meaning. Their children are re-parented to the nearest exported
  ancestor (the root when there is none), so every other parent link is the one recorded.
- Any other kind (`custom` such as `parallel`, `guardrail`, ...) is exported under its own
  name, no gen_ai.operation.name. Every exported span carries orchlab.span.kind and
  orchlab.span_id (the recorded span's id, as the store and `export` hold it).

Timestamps are the recorded ones: the run's `started_at` plus each span's offsets. A span that
recorded an error gets status ERROR with its (redacted) message. Message and tool text goes out
only with ORCHLAB_OTLP_CONTENT=1 (gen_ai.input.messages/output.messages on chat spans, the
SDK's messages as recorded, clipped at 8,000 characters; gen_ai.tool.call.arguments/result on
tool spans); configured secrets are replaced in every text attribute either way.
"""

from __future__ import annotations

import json
import re
from datetime import datetime
from typing import TYPE_CHECKING, Any

from orchlab.core import config
from orchlab.core.records import RunRecord, SpanRecord

if TYPE_CHECKING:
    from opentelemetry.trace import Span, Tracer

FOLDED_KINDS = frozenset({"task", "turn"})
"""SDK span kinds not exported: their children hang from the nearest exported ancestor."""
_RUN_ID = re.compile(r"^trace_([0-9a-f]{32})$")


def export_run(tracer: Tracer, ids: Any, run: RunRecord, content: bool) -> int:
    """The run's spans created on `tracer` (see the module docstring); returns how many."""
    from opentelemetry import trace
    from opentelemetry.trace import SpanKind, Status, StatusCode

    secrets = config.secret_values()
    base_ns = _epoch_ns(run.started_at)
    end_ms = max([run.metrics.wall_ms, *(s.end_ms for s in run.spans)])
    match = _RUN_ID.match(run.run_id)
    ids.next_trace_id(int(match.group(1), 16) if match else None)
    root = tracer.start_span(f"invoke_workflow {run.scenario}:{run.form}",
                             kind=SpanKind.INTERNAL, start_time=base_ns,
                             attributes=_root_attributes(run, content, secrets))
    if run.status != "ok":
        message = run.error_message or run.error_type or run.status
        root.set_status(Status(StatusCode.ERROR, config.redact_with(message, secrets)))
    by_id = {s.span_id: s for s in run.spans}
    made: dict[str, Span] = {}

    def parent_of(record: SpanRecord) -> Span:
        node = by_id.get(record.parent_id) if record.parent_id else None
        while node is not None and node.kind in FOLDED_KINDS:
            node = by_id.get(node.parent_id) if node.parent_id else None
        return root if node is None else make(node)

    def make(record: SpanRecord) -> Span:
        if record.span_id in made:
            return made[record.span_id]
        name, kind, attributes = _describe(record, content, secrets)
        span = tracer.start_span(name, context=trace.set_span_in_context(parent_of(record)),
                                 kind=kind, attributes=attributes,
                                 start_time=base_ns + int(record.start_ms * 1e6))
        if record.error:
            span.set_status(Status(StatusCode.ERROR, config.redact_with(record.error, secrets)))
        span.end(end_time=base_ns + int(max(record.end_ms, record.start_ms) * 1e6))
        made[record.span_id] = span
        return span

    for record in run.spans:
        if record.kind not in FOLDED_KINDS:
            make(record)
    root.end(end_time=base_ns + int(end_ms * 1e6))
    return len(made) + 1


def _describe(record: SpanRecord, content: bool,
              secrets: list[str]) -> tuple[str, Any, dict[str, Any]]:
    """Span name, kind and attributes of one exported record, by the GenAI conventions."""
    from opentelemetry.trace import SpanKind

    attributes: dict[str, Any] = {"orchlab.span.kind": record.kind,
                                  "orchlab.span_id": record.span_id}
    if record.agent:
        attributes["gen_ai.agent.name"] = record.agent
    text: dict[str, str | None] = {}
    if record.kind == "agent":
        name, kind = f"invoke_agent {record.name}", SpanKind.INTERNAL
        attributes |= {"gen_ai.operation.name": "invoke_agent", "gen_ai.agent.name": record.name}
    elif record.kind == "generation":
        model = record.model or record.name
        name, kind = f"chat {model}", SpanKind.CLIENT
        attributes |= {"gen_ai.operation.name": "chat", "gen_ai.request.model": model,
                       "gen_ai.usage.input_tokens": record.input_tokens,
                       "gen_ai.usage.output_tokens": record.output_tokens}
        if record.cached_tokens:
            attributes["gen_ai.usage.cache_read.input_tokens"] = record.cached_tokens
        if record.reasoning_tokens:
            attributes["gen_ai.usage.reasoning.output_tokens"] = record.reasoning_tokens
        if record.queued_ms:
            attributes["orchlab.queued_ms"] = record.queued_ms
        text = {"gen_ai.input.messages": record.input, "gen_ai.output.messages": record.output}
    elif record.kind in ("function", "handoff"):
        tool = record.name
        if record.kind == "handoff":
            source, _, target = record.name.partition(" => ")
            tool = "transfer_to_" + re.sub(r"[^0-9a-z]+", "_", target.lower()).strip("_")
            attributes |= {"orchlab.handoff.from": source, "orchlab.handoff.to": target}
        name, kind = f"execute_tool {tool}", SpanKind.INTERNAL
        attributes |= {"gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": tool,
                       "gen_ai.tool.type": "function"}
        text = {"gen_ai.tool.call.arguments": record.input,
                "gen_ai.tool.call.result": record.output}
    else:
        name, kind = record.name, SpanKind.INTERNAL
        text = {"orchlab.span.data": record.input}
    if content:
        attributes |= {k: config.redact_with(v, secrets) for k, v in text.items() if v is not None}
    return name, kind, attributes


def _root_attributes(run: RunRecord, content: bool, secrets: list[str]) -> dict[str, Any]:
    """What a viewer filters a run by: the orchlab.* keys and the outcome."""
    metrics = run.metrics
    attributes: dict[str, Any] = {
        "gen_ai.operation.name": "invoke_workflow",
        "gen_ai.workflow.name": f"{run.scenario}:{run.form}",
        "orchlab.run_id": run.run_id, "orchlab.experiment_id": run.experiment_id,
        "orchlab.scenario": run.scenario, "orchlab.form": run.form,
        "orchlab.input_id": run.input_id, "orchlab.repetition": run.repetition,
        "orchlab.backend": run.backend, "orchlab.model": run.model,
        "orchlab.status": run.status, "orchlab.wall_ms": metrics.wall_ms,
        "orchlab.llm_calls": metrics.llm_calls, "orchlab.tool_calls": metrics.tool_calls,
        "orchlab.retries": metrics.retries, "orchlab.path": metrics.path,
    }
    if run.success is not None:
        attributes["orchlab.success"] = run.success
    if run.error_class:
        attributes |= {"orchlab.error_class": run.error_class, "error.type": run.error_class}
    if metrics.cost_usd is not None:
        attributes["orchlab.cost_usd"] = metrics.cost_usd
    for key, value in run.outcome.items():
        if isinstance(value, bool | int | float | str):
            attributes[f"orchlab.outcome.{key}"] = value
        elif value is not None:
            attributes[f"orchlab.outcome.{key}"] = json.dumps(value, default=str)
    if content and run.final_output is not None:
        attributes["orchlab.final_output"] = run.final_output
    return {k: config.redact_with(v, secrets) if isinstance(v, str) else v
            for k, v in attributes.items()}


def _epoch_ns(stamp: datetime) -> int:
    """Exact nanoseconds since the epoch (a float timestamp would lose the microseconds)."""
    return int(stamp.timestamp()) * 1_000_000_000 + stamp.microsecond * 1000
