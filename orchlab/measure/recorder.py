"""The trace processor that captures every span of each run, nested `as_tool` runs included.

It is installed once per process with `set_trace_processors`, which also replaces the SDK's
default exporter: nothing goes to OpenAI's trace endpoint unless ORCHLAB_EXPORT_OPENAI_TRACES=1.
It keeps spans only for traces the runner asked it to watch, so it never grows without bound.
"""

from __future__ import annotations

import json
import threading
from datetime import datetime
from typing import Any

from agents.tracing import Span, Trace, TracingProcessor

from orchlab.core import compat, config
from orchlab.core.records import SpanRecord

TEXT_LIMIT = 8_000
"""Characters kept of a span's input or output: enough to read, bounded for the store."""

_JSON = json.JSONEncoder(ensure_ascii=False, default=str)
"""`json.dumps(value, default=str, ensure_ascii=False)` without building an encoder per call."""


class Recorder(TracingProcessor):
    """Collects finished (and still-open) spans per watched trace id."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._finished: dict[str, list[Span[Any]]] = {}
        self._open: dict[str, dict[str, Span[Any]]] = {}

    def watch(self, trace_id: str) -> None:
        """Start keeping spans of this trace."""
        with self._lock:
            self._finished[trace_id] = []
            self._open[trace_id] = {}

    def collect(self, trace_id: str, run_start: datetime, run_end: datetime) -> list[SpanRecord]:
        """Stop watching and return the trace's spans as records, in start order.

        Spans still open (a timed-out or cancelled run) are included, ending at `run_end`.
        """
        with self._lock:
            finished = self._finished.pop(trace_id, [])
            still_open = list(self._open.pop(trace_id, {}).values())
        return to_records(finished + still_open, run_start, run_end)

    def peek(self, trace_id: str, run_start: datetime,
             now: datetime) -> tuple[list[SpanRecord], set[str]]:
        """The trace's spans so far and the ids of those still open, without ending the watch:
        what a live view draws while the run is in flight (open spans end at `now`)."""
        with self._lock:
            spans = list(self._finished.get(trace_id, []))
            still_open = list(self._open.get(trace_id, {}).values())
        records = to_records(spans + still_open, run_start, now)
        open_ids = {s.span_id for s in still_open}
        for record in records:
            if record.span_id in open_ids:
                record.error = None  # not a failure: it is running
        return records, open_ids

    def on_trace_start(self, trace: Trace) -> None:  # noqa: D102 - interface
        pass

    def on_trace_end(self, trace: Trace) -> None:  # noqa: D102 - interface
        pass

    def on_span_start(self, span: Span[Any]) -> None:  # noqa: D102 - interface
        with self._lock:
            open_spans = self._open.get(span.trace_id)
            if open_spans is not None:
                open_spans[span.span_id] = span

    def on_span_end(self, span: Span[Any]) -> None:  # noqa: D102 - interface
        with self._lock:
            finished = self._finished.get(span.trace_id)
            if finished is None:
                return
            finished.append(span)
            self._open[span.trace_id].pop(span.span_id, None)

    def shutdown(self) -> None:  # noqa: D102 - interface
        with self._lock:
            self._finished.clear()
            self._open.clear()

    def force_flush(self) -> None:  # noqa: D102 - interface
        pass


_recorder: Recorder | None = None
_install_lock = threading.Lock()


def install_recorder() -> Recorder:
    """The process-wide recorder, installed on first use; later calls return the same one."""
    global _recorder
    with _install_lock:
        if _recorder is None or not _still_installed(_recorder):
            from agents import set_trace_processors, set_tracing_disabled

            recorder = _recorder or Recorder()
            processors: list[TracingProcessor] = [recorder]
            if config.export_openai_traces():
                from agents.tracing import default_exporter
                from agents.tracing.processors import BatchTraceProcessor

                processors.append(BatchTraceProcessor(default_exporter()))
            set_trace_processors(processors)
            set_tracing_disabled(False)
            _recorder = recorder
        return _recorder


def _still_installed(recorder: Recorder) -> bool:
    """Whether other code replaced the SDK's processors since we installed ours.

    `set_trace_processors` elsewhere (a notebook, another library) would silently stop the
    recording; the runner calls install_recorder() for every run, so it is put back.
    """
    processors = compat.sdk_trace_processors()
    return processors is None or recorder in processors


def to_records(spans: list[Span[Any]], run_start: datetime, run_end: datetime) -> list[SpanRecord]:
    """Flatten SDK spans into SpanRecords with offsets from the run start, in start order."""
    end_ms = (run_end - run_start).total_seconds() * 1000
    # Secrets are looked up once per run, not once per text field: scanning os.environ was
    # most of the recorder's cost (tens of fields per run).
    secrets = config.secret_values()
    records = [_to_record(span, run_start, end_ms, secrets) for span in spans]
    records.sort(key=lambda r: (r.start_ms, r.end_ms))
    by_id = {r.span_id: r for r in records}
    for seq, record in enumerate(records):
        record.seq = seq
        record.agent = _enclosing_agent(record, by_id)
    return records


def _to_record(
    span: Span[Any], run_start: datetime, run_end_ms: float, secrets: list[str]
) -> SpanRecord:
    data = span.span_data
    kind = str(data.type)
    start = _offset_ms(span.started_at, run_start, 0.0)
    end = _offset_ms(span.ended_at, run_start, run_end_ms)
    error = span.error
    record = SpanRecord(
        span_id=span.span_id,
        parent_id=span.parent_id,
        kind=kind,
        name=_name(kind, data),
        agent=None,
        start_ms=start,
        end_ms=max(end, start),
        error=config.redact_with(str(error.get("message")), secrets) if error else None,
    )
    if span.ended_at is None and record.error is None:
        record.error = "span did not finish before the run ended"
    if kind == "generation":
        _fill_generation(record, data, secrets)
    elif kind == "function":
        record.input = _clip(data.input, secrets)
        record.output = _clip(data.output, secrets)
    elif kind == "custom" and getattr(data, "data", None):
        record.input = _clip(data.data, secrets)
    return record


def _fill_generation(record: SpanRecord, data: Any, secrets: list[str]) -> None:
    usage = data.usage or {}
    record.model = data.model
    record.input_tokens = int(usage.get("input_tokens") or 0)
    record.output_tokens = int(usage.get("output_tokens") or 0)
    details_in = usage.get("input_tokens_details") or {}
    details_out = usage.get("output_tokens_details") or {}
    record.cached_tokens = int(details_in.get("cached_tokens") or 0)
    record.reasoning_tokens = int(details_out.get("reasoning_tokens") or 0)
    record.queued_ms = float(usage.get("queued_ms") or 0.0)  # set by models that queue
    record.input = _clip(data.input, secrets)
    record.output = _clip(data.output, secrets)


def _name(kind: str, data: Any) -> str:
    if kind == "generation":
        return str(data.model or "generation")
    if kind == "turn":
        return f"turn {data.turn}"
    if kind == "handoff":
        return f"{data.from_agent} => {data.to_agent}"  # paths.HANDOFF_ARROW
    return str(getattr(data, "name", None) or kind)


def _enclosing_agent(record: SpanRecord, by_id: dict[str, SpanRecord]) -> str | None:
    node: SpanRecord | None = record
    while node is not None:
        if node.kind == "agent":
            return node.name
        node = by_id.get(node.parent_id) if node.parent_id else None
    return None


def _offset_ms(stamp: str | None, run_start: datetime, default: float) -> float:
    if not stamp:
        return default
    return (datetime.fromisoformat(stamp) - run_start).total_seconds() * 1000


def _clip(value: Any, secrets: list[str]) -> str | None:
    if value is None:
        return None
    text = value if isinstance(value, str) else _JSON.encode(value)
    text = config.redact_with(text, secrets)
    return text if len(text) <= TEXT_LIMIT else text[:TEXT_LIMIT] + "…[truncated]"
