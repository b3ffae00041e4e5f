"""One run's recorded spans, and the judges' verdicts on it, as OpenTelemetry spans, by the
GenAI semantic conventions.

One run is one OTel trace, its trace id the run's own (`trace_<32 hex>` is a 128-bit id), so a
trace in a viewer and a run in the store are found by the same id. What each recorded span
(`SpanRecord`) becomes:

- The root, one per run: `invoke_workflow {scenario}:{form}` (gen_ai.operation.name
  invoke_workflow, gen_ai.workflow.name), from the run's wall-clock start to its end, carrying
  the orchlab.* attributes (experiment, form, input, repetition, backend, status, success,
  error class, every scalar outcome field). It has no gen_ai.usage.*: the tokens are on the
  chat spans, so summing them over the run's own spans (those with no orchlab.judgement_id or
  orchlab.pairwise_id, below) gives the run's totals.
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

Span ids are derived, not drawn (`span_id_of`: a digest of the run's id and the recorded
span's). So a judgement made days later names the run's root as its parent without the root's
id being stored anywhere, and exporting a run again sends the same spans (a receiver that keeps
the first copy of a span id, as Phoenix does, shows each once; one that does not shows both).

A judge's verdict (`Judgement`, `orchlab.judging`) goes into its run's trace, because the
conventions' `gen_ai.evaluation.result` event SHOULD be parented to the operation evaluated.
An event can only be added to a span still open, and the run's root was sent when the run
ended, so each judgement is a span of its own under the run's root, which carries the event:

- `evaluate {judge}` (gen_ai.operation.name evaluate, orchlab's own value: the conventions
  name no evaluation operation), from the judgement's start to its end: gen_ai.evaluation.name,
  orchlab.judgement_id, run_id, experiment_id, judge_backend, judge_model, prompt_version,
  judge_repetition, status, latency_ms and cost_usd. Under it, the judge's own recorded spans,
  converted as a run's are (its `chat` spans with its own gen_ai.usage.*), each marked with
  orchlab.judgement_id: the run's root and chat spans are never touched, and the judge's tokens
  are told apart from the run's by that key.
- Its event `gen_ai.evaluation.result`, at the judgement's end: gen_ai.evaluation.name (the
  judge's name), gen_ai.evaluation.score.value (the scale's value; 1.0 or 0.0 for pass/fail)
  and gen_ai.evaluation.score.label ("4", or "pass"/"fail"). gen_ai.evaluation.explanation
  only with ORCHLAB_OTLP_CONTENT=1: the judge's reason quotes the run's text, which goes out
  only with content. A judge that gave no verdict (status error): error.type (its error
  class, e.g. judge_malformed) and no score or label on the event; the span's status is ERROR
  with its (redacted) message, and it carries error.type too.

A pairwise verdict (`PairwiseJudgement`) is about two runs, so it is in both runs' traces,
and the judge's work (asked once, paid once) in neither: its spans go under an `evaluate
{judge}` root in a trace of its own (trace id the judgement's id; orchlab.run_a/run_b,
form_a/form_b, winner, shown_first), marked with orchlab.pairwise_id. Each run's trace gets an
`evaluate {judge}` span under its root, linked to that work, naming the other run
(orchlab.compared_with, orchlab.compared_form, orchlab.side a or b) and carrying the event
from that run's side: label won, lost or tie, score value 1.0, 0.0 or 0.5 (a tie as half, as
`orchlab.stats.pairwise` counts it); the explanation and error.type as for a rubric verdict.
"""
from __future__ import annotations

import hashlib
import json
import re
from datetime import datetime
from typing import TYPE_CHECKING, Any

from orchlab.core import config
from orchlab.core.records import Judgement, PairwiseJudgement, RunRecord, SpanRecord

if TYPE_CHECKING:
    from opentelemetry.trace import Span, Tracer

FOLDED_KINDS = frozenset({"task", "turn"})
"""SDK span kinds not exported: their children hang from the nearest exported ancestor."""
EVALUATION_EVENT = "gen_ai.evaluation.result"
"""The GenAI conventions' event for a judge's verdict on a run."""
ROOT = ""
"""The part a run's or judgement's top span is derived from (`span_id_of`): no recorded span
has an empty id."""
_TRACE_ID = re.compile(r"^trace_([0-9a-f]{32})$")


def export_run(tracer: Tracer, ids: Any, run: RunRecord, content: bool) -> int:
    """The run's spans created on `tracer` (see the module docstring); returns how many."""
    from opentelemetry.trace import SpanKind, Status, StatusCode

    secrets = config.secret_values()
    base_ns = _epoch_ns(run.started_at)
    end_ms = max([run.metrics.wall_ms, *(s.end_ms for s in run.spans)])
    ids.next_trace_id(trace_id_of(run.run_id))
    ids.next_span_id(span_id_of(run.run_id, ROOT))
    root = tracer.start_span(f"invoke_workflow {run.scenario}:{run.form}",
                             kind=SpanKind.INTERNAL, start_time=base_ns,
                             attributes=_root_attributes(run, content, secrets))
    if run.status != "ok":
        message = run.error_message or run.error_type or run.status
        root.set_status(Status(StatusCode.ERROR, config.redact_with(message, secrets)))
    made = _tree(tracer, ids, root, run.run_id, run.spans, base_ns, content, secrets)
    root.end(end_time=base_ns + int(end_ms * 1e6))
    return made + 1


def export_judgement(tracer: Tracer, ids: Any, judgement: Judgement, content: bool) -> int:
    """A rubric judgement in its run's trace: `evaluate {judge}` under the run's root, the
    judge's own spans under it, its `gen_ai.evaluation.result` event (see the module
    docstring); returns how many spans."""
    secrets = config.secret_values()
    base_ns = _epoch_ns(judgement.created_at)
    end_ns = base_ns + int(_end_ms(judgement) * 1e6)
    attributes = _judgement_attributes(judgement) | {
        "orchlab.run_id": judgement.run_id, "orchlab.judge_repetition": judgement.repetition}
    if judgement.cost_usd is not None:
        attributes["orchlab.cost_usd"] = judgement.cost_usd
    ids.next_span_id(span_id_of(judgement.judgement_id, ROOT))
    span = tracer.start_span(f"evaluate {judgement.judge}", context=_under_root(judgement.run_id),
                             kind=_internal(), start_time=base_ns,
                             attributes=_redacted(attributes, secrets))
    made = _tree(tracer, ids, span, judgement.judgement_id, judgement.spans, base_ns, content,
                 secrets, {"orchlab.judgement_id": judgement.judgement_id})
    value = judgement.score if judgement.status == "ok" else None
    _conclude(span, judgement, value, judgement.label, end_ns, content, secrets)
    return made + 1


PAIRWISE_LABELS = {"won": 1.0, "lost": 0.0, "tie": 0.5}
"""A pairwise verdict seen from one of its two runs, and the score it counts as (a tie as
half, as `orchlab.stats.pairwise` counts it)."""


def export_pairwise(tracer: Tracer, ids: Any, judged: PairwiseJudgement, content: bool) -> int:
    """A pairwise judgement: the judge's work once, in a trace of its own (the judgement's id),
    and in each of the two runs' traces an `evaluate {judge}` span under the run's root with
    that run's `gen_ai.evaluation.result` (won, lost or tie), linked to the work (see the
    module docstring); returns how many spans."""
    from opentelemetry.context import Context
    from opentelemetry.trace import Link

    secrets = config.secret_values()
    base_ns = _epoch_ns(judged.created_at)
    end_ns = base_ns + int(_end_ms(judged) * 1e6)
    common = _judgement_attributes(judged) | {"orchlab.judge_repetition": judged.k}
    work_attributes = common | {
        "orchlab.run_a": judged.run_a, "orchlab.run_b": judged.run_b,
        "orchlab.form_a": judged.form_a, "orchlab.form_b": judged.form_b,
        "orchlab.input_id": judged.input_id, "orchlab.repetition": judged.repetition,
        "orchlab.shown_first": judged.shown_first}
    if judged.winner is not None:
        work_attributes["orchlab.winner"] = judged.winner
    if judged.cost_usd is not None:
        work_attributes["orchlab.cost_usd"] = judged.cost_usd
    ids.next_trace_id(trace_id_of(judged.pairwise_id))
    ids.next_span_id(span_id_of(judged.pairwise_id, ROOT))
    work = tracer.start_span(f"evaluate {judged.judge}", context=Context(), kind=_internal(),
                             start_time=base_ns, attributes=_redacted(work_attributes, secrets))
    made = _tree(tracer, ids, work, judged.pairwise_id, judged.spans, base_ns, content,
                 secrets, {"orchlab.pairwise_id": judged.pairwise_id})
    _set_error(work, judged, secrets)
    work.end(end_time=end_ns)
    sides = (("a", judged.run_a, judged.form_a, judged.run_b, judged.form_b),
             ("b", judged.run_b, judged.form_b, judged.run_a, judged.form_a))
    for side, run_id, form, other_run, other_form in sides:
        label = (None if judged.winner is None else "tie" if judged.winner == "tie"
                 else "won" if judged.winner == side else "lost")
        attributes = common | {
            "orchlab.run_id": run_id, "orchlab.form": form, "orchlab.side": side,
            "orchlab.compared_with": other_run, "orchlab.compared_form": other_form,
            "orchlab.shown_first": "this" if judged.shown_first == side else "other"}
        ids.next_span_id(span_id_of(judged.pairwise_id, run_id))
        span = tracer.start_span(f"evaluate {judged.judge}", context=_under_root(run_id),
                                 kind=_internal(), start_time=base_ns,
                                 links=[Link(work.get_span_context())],
                                 attributes=_redacted(attributes, secrets))
        _conclude(span, judged, None if label is None else PAIRWISE_LABELS[label], label,
                  end_ns, content, secrets)
    return made + 3


def trace_id_of(owner_id: str) -> int:
    """The OTel trace id of a run or judgement id: its own 128 bits (`trace_<32 hex>`), else
    a digest of it, so every export of it, and every judgement of it, finds one trace."""
    match = _TRACE_ID.match(owner_id)
    if match:
        return int(match.group(1), 16)
    return int.from_bytes(hashlib.sha256(owner_id.encode("utf-8")).digest()[:16], "big") or 1


def span_id_of(owner_id: str, part: str) -> int:
    """The span id of one part (`ROOT`, or a recorded span's id) of a run or judgement: a
    digest, so a judgement exported later can name its run's root as parent, and exporting
    again sends the same ids (a receiver that keeps the first copy, as Phoenix does, shows each
    span once)."""
    digest = hashlib.sha256(f"{owner_id}\x00{part}".encode()).digest()
    return int.from_bytes(digest[:8], "big") or 1


def _under_root(run_id: str) -> Any:
    """A context whose parent is the run's root span, wherever and whenever it was sent."""
    from opentelemetry import trace
    from opentelemetry.trace import NonRecordingSpan, SpanContext, TraceFlags

    root = SpanContext(trace_id_of(run_id), span_id_of(run_id, ROOT), is_remote=True,
                       trace_flags=TraceFlags(TraceFlags.SAMPLED))
    return trace.set_span_in_context(NonRecordingSpan(root))


def _tree(tracer: Tracer, ids: Any, top: Span, owner_id: str, records: list[SpanRecord],
          base_ns: int, content: bool, secrets: list[str],
          extra: dict[str, Any] | None = None) -> int:
    """Recorded spans created under `top`, folded kinds left out (their children re-parented
    to the nearest exported ancestor, `top` when none); returns how many."""
    from opentelemetry import trace
    from opentelemetry.trace import Status, StatusCode

    by_id = {s.span_id: s for s in records}
    made: dict[str, Span] = {}

    def parent_of(record: SpanRecord) -> Span:
        node = by_id.get(record.parent_id) if record.parent_id else None
        while node is not None and node.kind in FOLDED_KINDS:
            node = by_id.get(node.parent_id) if node.parent_id else None
        return top if node is None else make(node)

    def make(record: SpanRecord) -> Span:
        if record.span_id in made:
            return made[record.span_id]
        name, kind, attributes = _describe(record, content, secrets)
        context = trace.set_span_in_context(parent_of(record))
        ids.next_span_id(span_id_of(owner_id, record.span_id))
        span = tracer.start_span(name, context=context, kind=kind,
                                 attributes=attributes | (extra or {}),
                                 start_time=base_ns + int(record.start_ms * 1e6))
        if record.error:
            span.set_status(Status(StatusCode.ERROR, config.redact_with(record.error, secrets)))
        span.end(end_time=base_ns + int(max(record.end_ms, record.start_ms) * 1e6))
        made[record.span_id] = span
        return span

    for record in records:
        if record.kind not in FOLDED_KINDS:
            make(record)
    return len(made)


def _judgement_attributes(judged: Judgement | PairwiseJudgement) -> dict[str, Any]:
    """What the evaluation spans of one judgement share."""
    own_id = judged.judgement_id if isinstance(judged, Judgement) else judged.pairwise_id
    attributes: dict[str, Any] = {
        "gen_ai.operation.name": "evaluate", "gen_ai.evaluation.name": judged.judge,
        "orchlab.experiment_id": judged.experiment_id,
        ("orchlab.judgement_id" if isinstance(judged, Judgement)
         else "orchlab.pairwise_id"): own_id,
        "orchlab.judge_backend": judged.backend, "orchlab.judge_model": judged.model,
        "orchlab.prompt_version": judged.prompt_version, "orchlab.status": judged.status,
        "orchlab.latency_ms": judged.latency_ms}
    if judged.error_class:
        attributes |= {"orchlab.error_class": judged.error_class,
                       "error.type": judged.error_class}
    return attributes


def _conclude(span: Span, judged: Judgement | PairwiseJudgement, value: float | None,
              label: str | None, end_ns: int, content: bool, secrets: list[str]) -> None:
    """The `gen_ai.evaluation.result` event on an evaluation span, which then ends: a score
    and label for a verdict, error.type for a judge that gave none; the explanation only
    with content."""
    event: dict[str, Any] = {"gen_ai.evaluation.name": judged.judge}
    if judged.status != "ok":
        event["error.type"] = judged.error_class or "judge_error"
    else:
        if value is not None:
            event["gen_ai.evaluation.score.value"] = float(value)
        if label is not None:
            event["gen_ai.evaluation.score.label"] = label
        if content and judged.explanation:
            event["gen_ai.evaluation.explanation"] = judged.explanation
    span.add_event(EVALUATION_EVENT, attributes=_redacted(event, secrets), timestamp=end_ns)
    _set_error(span, judged, secrets)
    span.end(end_time=end_ns)


def _set_error(span: Span, judged: Judgement | PairwiseJudgement, secrets: list[str]) -> None:
    from opentelemetry.trace import Status, StatusCode

    if judged.status != "ok":
        message = judged.error_message or judged.error_class or judged.status
        span.set_status(Status(StatusCode.ERROR, config.redact_with(message, secrets)))


def _end_ms(judged: Judgement | PairwiseJudgement) -> float:
    return max([judged.latency_ms, *(s.end_ms for s in judged.spans)])


def _internal() -> Any:
    from opentelemetry.trace import SpanKind

    return SpanKind.INTERNAL


def _redacted(attributes: dict[str, Any], secrets: list[str]) -> dict[str, Any]:
    return {k: config.redact_with(v, secrets) if isinstance(v, str) else v
            for k, v in attributes.items()}


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
    return _redacted(attributes, secrets)


def _epoch_ns(stamp: datetime) -> int:
    """Exact nanoseconds since the epoch (a float timestamp would lose the microseconds)."""
    return int(stamp.timestamp()) * 1_000_000_000 + stamp.microsecond * 1000
