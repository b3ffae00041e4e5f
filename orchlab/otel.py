"""Runs exported as OpenTelemetry traces over OTLP/HTTP, following the GenAI semantic conventions.

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

Export is batched off the event loop (the SDK's BatchSpanProcessor has its own thread); a run
only pays for creating its spans (`RunExport.add_run`: 1-3 ms for ~13 spans, measured by
tests/test_otel.py). A receiver that fails is reported once per export, with the endpoint
named, never raises into a run, and holds the experiment's end at most CLOSE_TIMEOUT_S.
opentelemetry is imported only here, and only when an export is asked for.
"""

from __future__ import annotations

import json
import logging
import re
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from orchlab import config
from orchlab.errors import SpecError
from orchlab.records import RunMetrics, RunRecord, SpanRecord

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.trace import Span, Tracer

FOLDED_KINDS = frozenset({"task", "turn"})
"""SDK span kinds not exported: their children hang from the nearest exported ancestor."""
EXPORT_TIMEOUT_S = 2.0
"""Longest one batch may try (the exporter's own retries included), in the export thread."""
CLOSE_TIMEOUT_S = 2.0
"""Longest the end of an experiment waits for the last batch: an unreachable receiver never
holds a finished experiment longer."""
_EXPORTER_LOGGERS = ("opentelemetry.exporter.otlp.proto.http.trace_exporter",
                     "opentelemetry.sdk._shared_internal")
"""Loggers whose per-batch errors are replaced by our one warning per experiment."""
_RUN_ID = re.compile(r"^trace_([0-9a-f]{32})$")


def traces_url(endpoint: str) -> str:
    """A bare server URL gets the OTLP/HTTP traces path, as OTEL_EXPORTER_OTLP_ENDPOINT does;
    a URL with a path is used as given. Anything but an http(s) URL is one sentence
    (SpecError) before any run, not a failure per batch."""
    parts = urlsplit(endpoint)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise SpecError(f"The OpenTelemetry endpoint {endpoint!r} is not an http(s) URL, e.g. "
                        "http://127.0.0.1:6006 or http://127.0.0.1:4318/v1/traces.")
    return endpoint.rstrip("/") + "/v1/traces" if parts.path in ("", "/") else endpoint


@dataclass
class RunExport:
    """One experiment's export: its own TracerProvider and exporter, closed at its end."""

    endpoint: str
    """Where spans go (the traces URL, see `traces_url`)."""
    content: bool = False
    """Export message and tool text (ORCHLAB_OTLP_CONTENT=1)."""
    warn: Callable[[str], None] = logging.getLogger(__name__).warning
    """Told the one failure sentence; may be called from the export thread."""
    spans_created: int = 0
    """Spans handed to the exporter so far, roots included."""
    spans_sent: int = 0
    """Spans the receiver accepted."""
    create_s: float = 0.0
    """Time spent creating spans on the caller's thread (the event loop, live)."""
    failure: str | None = None
    """The first failure, as reported; None while every batch got through."""
    experiment_id: str | None = None
    """The experiment exported (from its first run), named in the failure sentence."""
    _provider: Any = field(default=None, repr=False)
    _ids: Any = field(default=None, repr=False)
    _exporter: Any = field(default=None, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def __post_init__(self) -> None:
        self.endpoint = traces_url(self.endpoint)
        self._provider, self._ids, self._exporter = _provider(self)

    def add_run(self, run: RunRecord) -> None:
        """Create the run's spans; never raises (a failure is reported once)."""
        self.experiment_id = self.experiment_id or run.experiment_id
        started = time.perf_counter()
        try:
            tracer = self._provider.get_tracer("orchlab")
            self.spans_created += export_run(tracer, self._ids, run, self.content)
        except Exception as exc:  # noqa: BLE001 - export must never fail a run
            self.report_failure(f"{type(exc).__name__}: {exc}")
        finally:
            self.create_s += time.perf_counter() - started

    def report_failure(self, detail: str) -> None:
        """Say the first failure once; later ones are counted out of the way."""
        with self._lock:
            if self.failure is not None:
                return
            self.failure = config.redact(
                f"OpenTelemetry export to {self.endpoint} failed ({detail}); the runs are "
                f"stored all the same" + (f": python -m orchlab otel-export "
                                           f"{self.experiment_id} --endpoint {self.endpoint} "
                                           "sends them later" if self.experiment_id else ""))
        self.warn(self.failure)

    def close(self, timeout_s: float = CLOSE_TIMEOUT_S) -> bool:
        """Send what is left, waiting at most `timeout_s` (not at all for a receiver that has
        already failed: its retries are cut short); True when everything got through."""
        try:
            flushed = self.failure is None and self._provider.force_flush(int(timeout_s * 1000))
            self._exporter.stop()
            self._provider.shutdown()
        except Exception as exc:  # noqa: BLE001
            self.report_failure(f"{type(exc).__name__}: {exc}")
            return False
        if not flushed and self.failure is None:
            self.report_failure(f"not all spans were sent within {timeout_s:g} s")
        return self.failure is None and self.spans_sent == self.spans_created


def configured_export(endpoint: str | None = None,
                      warn: Callable[[str], None] | None = None) -> RunExport | None:
    """An experiment's export to `endpoint`, else to ORCHLAB_OTLP_ENDPOINT; None when neither
    is set (then nothing of OpenTelemetry is imported)."""
    endpoint = endpoint or config.otlp_endpoint()
    if not endpoint:
        return None
    if warn is None:
        return RunExport(endpoint, content=config.otlp_content())
    return RunExport(endpoint, content=config.otlp_content(), warn=warn)


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
        root.set_status(Status(StatusCode.ERROR, _redact(message, secrets)))
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
            span.set_status(Status(StatusCode.ERROR, _redact(record.error, secrets)))
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
        attributes |= {k: _redact(v, secrets) for k, v in text.items() if v is not None}
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
    return {k: _redact(v, secrets) if isinstance(v, str) else v for k, v in attributes.items()}


def stored_runs(store: Any, experiment_id: str) -> list[RunRecord]:
    """An experiment's stored runs rebuilt as records (figures, outcome and spans): what
    `export_run` reads, so stored and live runs are exported alike."""
    frame = store.load_runs([experiment_id])
    metric_names = [f for f in RunMetrics.__dataclass_fields__ if f in frame.columns]
    run_names = [f for f in RunRecord.__dataclass_fields__
                 if f in frame.columns and f not in ("metrics", "spans", "outbox", "calls")]
    runs = []
    for row in frame.to_dict("records"):
        values: dict[str, Any] = {k: (None if _missing(row[k]) else row[k]) for k in run_names}
        values["started_at"] = row["started_at"].to_pydatetime()
        values["repetition"] = int(row["repetition"])
        values["outcome"] = row.get("outcome") or {}
        metrics = RunMetrics(**{k: row[k] for k in metric_names if not _missing(row[k])})
        runs.append(RunRecord(**values, metrics=metrics, spans=store.load_spans(row["run_id"])))
    return runs


def export_runs(runs: Iterable[RunRecord], endpoint: str, *, content: bool,
                warn: Callable[[str], None]) -> RunExport:
    """Stored runs sent in one export, closed before it returns."""
    exporter = RunExport(endpoint, content=content, warn=warn)
    for run in runs:
        exporter.add_run(run)
    exporter.close()
    return exporter


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and value != value)


def _epoch_ns(stamp: datetime) -> int:
    """Exact nanoseconds since the epoch (a float timestamp would lose the microseconds)."""
    return int(stamp.timestamp()) * 1_000_000_000 + stamp.microsecond * 1000


def _redact(text: str, secrets: list[str]) -> str:
    for secret in secrets:
        text = text.replace(secret, "[REDACTED]")
    return text


def _provider(owner: RunExport) -> tuple[TracerProvider, Any, Any]:
    """A TracerProvider of the export's own (never the global one), the id generator that gives
    each root its run's trace id, and the OTLP/HTTP exporter it batches into, whose results are
    told to `owner`."""
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import (
        BatchSpanProcessor,
        SpanExporter,
        SpanExportResult,
    )
    from opentelemetry.sdk.trace.id_generator import RandomIdGenerator

    class Reporting(SpanExporter):
        """The OTLP exporter, its outcome told to the owner instead of logged per batch."""

        def __init__(self) -> None:
            self.inner = OTLPSpanExporter(endpoint=owner.endpoint, timeout=EXPORT_TIMEOUT_S)
            self.stopped = False

        def export(self, spans: Any) -> SpanExportResult:
            try:
                result = self.inner.export(spans)
            except Exception as exc:  # noqa: BLE001 - reported, never raised
                owner.report_failure(f"{type(exc).__name__}: {exc}")
                return SpanExportResult.FAILURE
            if result is SpanExportResult.SUCCESS:
                owner.spans_sent += len(spans)
            else:
                owner.report_failure(_LAST_ERROR.take())
            return result

        def stop(self) -> None:
            """Shut the OTLP exporter once: this also cuts its retries short."""
            with owner._lock:
                stopped, self.stopped = self.stopped, True
            if not stopped:
                self.inner.shutdown()

        def shutdown(self) -> None:
            self.stop()

    class RunIds(RandomIdGenerator):
        """Random ids, except a root's trace id: the run's own when it is set just before."""

        def __init__(self) -> None:
            self.pending = threading.local()

        def next_trace_id(self, trace_id: int | None) -> None:
            self.pending.trace_id = trace_id

        def generate_trace_id(self) -> int:
            trace_id = getattr(self.pending, "trace_id", None)
            self.pending.trace_id = None
            return trace_id or super().generate_trace_id()

    _quiet_exporter_logs()
    ids = RunIds()
    provider = TracerProvider(resource=Resource.create({"service.name": "orchlab"}),
                              id_generator=ids)
    exporter = Reporting()
    provider.add_span_processor(BatchSpanProcessor(exporter, schedule_delay_millis=1000))
    return provider, ids, exporter


class _LastError(logging.Filter):
    """Keeps the exporter's last error for our one warning, and drops its log lines: an
    unreachable receiver would otherwise print a few lines per batch. Per thread: each
    export's batch thread logs, and reads back, its own."""

    def __init__(self) -> None:
        super().__init__()
        self.local = threading.local()

    def filter(self, record: logging.LogRecord) -> bool:
        if str(record.msg).startswith("Transient error") and record.args:
            cause = str(record.args[0] if isinstance(record.args, tuple) else record.args)
            errno = re.search(r"\[Errno -?\d+\] [^'\")\]]+", cause)
            self.local.text = errno.group(0) if errno else cause[:200]
        elif record.levelno >= logging.ERROR and getattr(self.local, "text", None) is None:
            self.local.text = record.getMessage()[:200]
        return False

    def take(self) -> str:
        """The error this thread saw since its last call, for one failure sentence."""
        text, self.local.text = getattr(self.local, "text", None), None
        return text or "the receiver did not take the spans"


_LAST_ERROR = _LastError()


def _quiet_exporter_logs() -> None:
    for name in _EXPORTER_LOGGERS:
        logger = logging.getLogger(name)
        if _LAST_ERROR not in logger.filters:
            logger.addFilter(_LAST_ERROR)
