"""Runs, and the judges' verdicts on them, exported as OpenTelemetry traces over OTLP/HTTP
(GenAI semantic conventions).

One run is one OTel trace, and a judgement of it lands in that trace, however much later it
is made, as a `gen_ai.evaluation.result` event; what each recorded span and judgement becomes
is `orchlab.integrations.otel_spans`' docstring.

Where from: a run as it is committed (`RunExport.add_run`: `run --otlp`, the dashboard's
experiments), a judgement as it is stored (`RunExport.add_judgement`: `run --judge` with an
endpoint, `orchlab judge --otlp`), and an experiment's stored runs with their judgements
(`export_runs`: `orchlab otel-export`).

Export is batched off the event loop (the SDK's BatchSpanProcessor has its own thread); a run
only pays for creating its spans (`RunExport.add_run`: 1-3 ms for ~13 spans, measured by
tests/test_otel.py). A receiver that fails is reported once per export, with the endpoint
named, never raises into a run or a judging pass, and holds the experiment's (or the pass's)
end at most CLOSE_TIMEOUT_S. opentelemetry is imported only here, and only when an export is
asked for.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from orchlab.core import compat, config
from orchlab.core.errors import SpecError
from orchlab.core.records import Judgement, PairwiseJudgement, RunRecord
from orchlab.integrations.otel_spans import export_judgement, export_pairwise, export_run

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import TracerProvider

EXPORT_TIMEOUT_S = 2.0
"""Longest one batch may try (the exporter's own retries included), in the export thread."""
CLOSE_TIMEOUT_S = 2.0
"""Longest the end of an experiment waits for the last batch: an unreachable receiver never
holds a finished experiment longer."""
_EXPORTER_LOGGERS = ("opentelemetry.exporter.otlp.proto.http.trace_exporter",
                     compat.OTEL_BATCH_LOGGER)
"""Loggers whose per-batch errors are replaced by our one warning per experiment."""


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
    """One experiment's export (its runs, their judgements, or both): its own TracerProvider
    and exporter, closed at its end."""

    endpoint: str
    """Where spans go (the traces URL, see `traces_url`)."""
    content: bool = False
    """Export message and tool text (ORCHLAB_OTLP_CONTENT=1)."""
    warn: Callable[[str], None] = logging.getLogger(__name__).warning
    """Told the one failure sentence; may be called from the export thread."""
    spans_created: int = 0
    """Spans handed to the exporter so far, roots and evaluation spans included."""
    spans_sent: int = 0
    """Spans the receiver accepted."""
    create_s: float = 0.0
    """Time spent creating spans on the caller's thread (the event loop, live)."""
    failure: str | None = None
    """The first failure, as reported; None while every batch got through."""
    judgements: int = 0
    """Judgements (rubric and pairwise) whose spans were created so far."""
    experiment_id: str | None = None
    """The experiment exported (from its first run or judgement), named in the failure
    sentence."""
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
        self._create(lambda tracer: export_run(tracer, self._ids, run, self.content))

    def add_judgement(self, judged: Judgement | PairwiseJudgement) -> None:
        """Create a stored judgement's spans in its run's trace (a pairwise one: in both runs'
        traces, its work in a trace of its own); never raises (a failure is reported once)."""
        self.experiment_id = self.experiment_id or judged.experiment_id
        if isinstance(judged, PairwiseJudgement):
            made = self._create(lambda tracer: export_pairwise(tracer, self._ids, judged,
                                                               self.content))
        else:
            made = self._create(lambda tracer: export_judgement(tracer, self._ids, judged,
                                                                self.content))
        self.judgements += made

    def _create(self, export: Callable[[Any], int]) -> bool:
        """Spans made by `export` on this export's tracer; False (reported) when it failed."""
        started = time.perf_counter()
        try:
            self.spans_created += export(self._provider.get_tracer("orchlab"))
            return True
        except Exception as exc:  # noqa: BLE001 - export must never fail a run or a judge
            self.report_failure(f"{type(exc).__name__}: {exc}")
            return False
        finally:
            self.create_s += time.perf_counter() - started

    def report_failure(self, detail: str) -> None:
        """Say the first failure once; later ones are counted out of the way."""
        with self._lock:
            if self.failure is not None:
                return
            self.failure = config.redact(
                f"OpenTelemetry export to {self.endpoint} failed ({detail}); the runs and "
                f"judgements are stored all the same" + (f": python -m orchlab otel-export "
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


def stored_runs(store: Any, experiment_id: str) -> list[RunRecord]:
    """An experiment's stored runs as records, rebuilt the one way records are rebuilt from
    the store's export (`orchlab.store.importer`), so stored and live runs are exported alike."""
    return stored_records(store, experiment_id)[0]


def stored_records(store: Any, experiment_id: str
                   ) -> tuple[list[RunRecord], list[Judgement | PairwiseJudgement]]:
    """An experiment's stored runs and their judgements (rubric, then pairwise) as records,
    rebuilt as `stored_runs` rebuilds runs (the export, redacted again, read back)."""
    from orchlab.store import export, importer

    document = export.to_json(store, experiment_id).encode("utf-8")
    read = importer.read_file(document, experiment_id)
    return read.runs, [*read.judgements, *read.pairwise]


def export_runs(runs: Iterable[RunRecord], endpoint: str, *, content: bool,
                warn: Callable[[str], None],
                judgements: Iterable[Judgement | PairwiseJudgement] = ()) -> RunExport:
    """Stored runs, then their stored judgements, sent in one export, closed before it
    returns."""
    exporter = RunExport(endpoint, content=content, warn=warn)
    for run in runs:
        exporter.add_run(run)
    for judged in judgements:
        exporter.add_judgement(judged)
    exporter.close()
    return exporter


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
        """The ids set just before a span is started (a root's trace id: its run's or its
        judgement's own; each span's id: derived from its owner, `otel_spans.span_id_of`),
        random ones otherwise."""

        def __init__(self) -> None:
            self.pending = threading.local()

        def next_trace_id(self, trace_id: int | None) -> None:
            self.pending.trace_id = trace_id

        def next_span_id(self, span_id: int | None) -> None:
            self.pending.span_id = span_id

        def generate_trace_id(self) -> int:
            trace_id = getattr(self.pending, "trace_id", None)
            self.pending.trace_id = None
            return trace_id or super().generate_trace_id()

        def generate_span_id(self) -> int:
            span_id = getattr(self.pending, "span_id", None)
            self.pending.span_id = None
            return span_id or super().generate_span_id()

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
