"""Experiments in the background, for UIs that must stay responsive (and cancellable).

Streamlit reruns its script on every click, so a long experiment cannot run in the script
thread; the page polls `snapshot()`. A job whose backend a fresh process can open runs in the
dashboard's experiment process (`orchlab.running.job_process`), out of reach of page scripts' CPU.
Any other job (a backend a test registered in this process) runs on one long-lived event loop
here (`job_loop()`, a daemon thread). One loop in either place, not one per job: backends
are cached for the process, and an AsyncOpenAI/httpx client (its pooled connections, its
locks) may only be used on the loop it first ran on. A second `asyncio.run` in a new thread
would hand it a closed loop ("Event loop is closed") or a foreign one ("bound to a different
event loop"). One loop also lets experiments share a backend's own bound
(`execution.run_slots`): two sessions on the embedded model queue for it run by run.
"""

from __future__ import annotations

import asyncio
import os
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from orchlab.backends import Backend, opens_anywhere
from orchlab.core import config
from orchlab.core.perprocess import PerProcess
from orchlab.core.records import RunRecord, SpanRecord, utcnow
from orchlab.measure.recorder import install_recorder
from orchlab.running import job_process, runner
from orchlab.running.runner import (
    CancelToken,
    ExperimentResult,
    ExperimentSpec,
    PlannedRun,
    Progress,
)


def _start_loop() -> asyncio.AbstractEventLoop:
    loop = asyncio.new_event_loop()
    threading.Thread(target=_serve, args=(loop,), name="orchlab-jobs", daemon=True).start()
    return loop


def _serve(loop: asyncio.AbstractEventLoop) -> None:
    asyncio.set_event_loop(loop)
    loop.run_forever()


_LOOP = PerProcess(_start_loop)


def job_loop() -> asyncio.AbstractEventLoop:
    """The process's one event loop for background jobs, started on first use.

    It never stops: a backend cached for the process outlives any one job, and it must keep
    finding its loop. Whatever goes wrong inside a job ends that job, not the loop.
    """
    return _LOOP.get()


class StoreChanges:
    """What this process's jobs changed in their stores, counted per experiment and per
    scenario: a run stored, an experiment ended (a replay's judgements are carried over at
    its end). The dashboard keys the frames it caches on these counts (`views._shared`), so
    an experiment that ends invalidates the frames that hold it, and nothing else: twenty
    participants' experiments ending no longer make every page read everything again."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._experiments: Counter[str] = Counter()
        self._scenarios: Counter[str] = Counter()
        self._all = 0

    def note(self, experiment_id: str, scenario: str) -> None:
        """Something of this experiment (of this scenario) was stored."""
        with self._lock:
            self._experiments[experiment_id] += 1
            self._scenarios[scenario] += 1
            self._all += 1

    def experiments(self, experiment_ids: tuple[str, ...]) -> tuple[int, ...]:
        """Changes so far to each of these experiments."""
        with self._lock:
            return tuple(self._experiments[e] for e in experiment_ids)

    def scenario(self, scenario: str | None) -> int:
        """Changes so far to any experiment of this scenario (None: of any)."""
        with self._lock:
            return self._all if scenario is None else self._scenarios[scenario]


STORE_CHANGES = StoreChanges()
"""This process's one count of what its jobs stored."""


@dataclass(frozen=True)
class LiveRun:
    """A run in flight: what the race view needs to follow it in the recorder."""

    run_id: str
    """Its trace id (the recorder's key)."""
    form: str
    """Form id."""
    input_id: str
    """Scenario input id."""
    repetition: int
    """Repetition index."""
    started_at: datetime
    """Wall-clock start (UTC): span offsets are measured from it."""
    started_s: float
    """Start on the job's monotonic clock, seconds after the job started."""


@dataclass
class JobSnapshot:
    """A consistent view of a job for one page render."""

    total: int
    """Runs planned."""
    done_by_form: dict[str, int]
    """Finished runs per form."""
    planned_by_form: dict[str, int]
    """Planned runs per form."""
    records: list[RunRecord]
    """Finished runs so far, in finishing order."""
    finished: bool
    """Whether the job has stopped (completed, cancelled or failed)."""
    result: ExperimentResult | None
    """The result once finished normally."""
    error: str | None
    """Why the job could not run at all (e.g. a backend that cannot start)."""
    elapsed_s: float = 0.0
    """Seconds since the job started (monotonic clock), for the ETA."""
    warning: str | None = None
    """Something the runs did not suffer from but the user should know (an OpenTelemetry
    receiver that did not take the spans), in one sentence; None when there is nothing."""
    in_flight: list[LiveRun] = field(default_factory=list)
    """Runs started and not yet finished, in start order (in-process runs only: runs in
    worker processes are recorded there)."""
    version: tuple[int, int] | None = None
    """The job's `ExperimentJob.version` when this was taken (None: it cannot tell)."""


@dataclass
class ExperimentJob:
    """One experiment (or resume) a page started: in the dashboard's experiment process
    (`orchlab.running.job_process`) when a fresh process can open its backend by id, else on this
    process's job loop (a backend a test registered here)."""

    spec: ExperimentSpec
    """What runs."""
    store: Any
    """Where runs are committed."""
    backend: Backend | None = None
    """A pre-resolved backend (else the spec's id is resolved in the job)."""
    resume_id: str | None = None
    """Resume this experiment (only its missing runs) instead of starting a new one."""
    cancel_token: CancelToken = field(default_factory=CancelToken)
    """Set by cancel()."""
    _records: list[RunRecord] = field(default_factory=list)
    _total: int = 0
    _planned_by_form: dict[str, int] = field(default_factory=dict)
    _result: ExperimentResult | None = None
    _error: str | None = None
    _warning: str | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _done: threading.Event = field(default_factory=threading.Event)
    _started: float = 0.0
    _live: dict[str, LiveRun] = field(default_factory=dict)
    _process: job_process.ExperimentProcess | None = None
    _id: str = field(default_factory=lambda: uuid.uuid4().hex)
    _changes: int = 0

    @property
    def job_id(self) -> str:
        """A name for the job, unique in this process."""
        return self._id

    @property
    def finished(self) -> bool:
        """Whether the job has stopped: a look that copies nothing (a page asks it often)."""
        return self._done.is_set()

    @property
    def version(self) -> tuple[int, int] | None:
        """Changes when anything a page draws of the job may have: a run started or stored,
        a warning, the end, or (runs in flight) new live spans from the experiment process.
        None when it cannot tell: runs in flight on this process's own loop, whose spans
        grow in this process's recorder unannounced."""
        with self._lock:
            return self._version()

    def _version(self) -> tuple[int, int] | None:
        """`version`, the lock held. A race drawn from a snapshot peeks at the live report
        after this was read: it may be newer than its version, never older."""
        if self._process is not None:
            return self._changes, self._process.live_version if self._live else 0
        return None if self._live else (self._changes, 0)

    @property
    def backend_id(self) -> str:
        """The backend the job runs on (a matrix: its first)."""
        return self.backend.id if self.backend is not None else self.spec.backend_ids[0]

    @property
    def elsewhere(self) -> bool:
        """Whether its runs run in the experiment process (once started)."""
        return self._process is not None

    def start(self) -> ExperimentJob:
        """Plan (raising on a bad spec, as before), then submit the job; returns self."""
        prepared = runner.prepare(self.spec)
        planned = (runner.remaining_runs(self.store, self.resume_id, prepared.plan)
                   if self.resume_id else prepared.plan)
        self._total = len(planned)
        self._planned_by_form = dict(Counter(p.form for p in planned))
        self._started = time.monotonic()
        if all(opens_anywhere(b) for b in [self.backend_id, *self.spec.backends[1:],
                                           *self.spec.agent_backends.values()]):
            self._process = job_process.experiment_process()
            self._process.submit(job_process.JobOrder(
                self._id, self.spec, self.backend_id, self.store.location, self.resume_id,
                {**os.environ, config.ENV_STORE: self.store.location}), self)
        else:
            asyncio.run_coroutine_threadsafe(self._work(), job_loop())
        return self

    def cancel(self) -> None:
        """Stop starting runs and interrupt those in flight; finished runs stay stored."""
        self.cancel_token.cancel()
        if self._process is not None:
            self._process.cancel(self._id)

    def join(self, timeout: float | None = None) -> bool:
        """Wait until the job has stopped, at most `timeout` seconds (tests, the CLI, a live
        panel watching for the end): whether it has."""
        return bool(self._started) and self._done.wait(timeout)

    def snapshot(self) -> JobSnapshot:
        """Progress so far."""
        with self._lock:
            records = list(self._records)
            finished = self._done.is_set()
            result, error, warning = self._result, self._error, self._warning
            in_flight = list(self._live.values())
            version = self._version()
        return JobSnapshot(
            version=version,
            total=self._total, done_by_form=dict(Counter(r.form for r in records)),
            planned_by_form=self._planned_by_form, records=records,
            finished=finished, result=result, error=error,
            elapsed_s=time.monotonic() - self._started, in_flight=in_flight,
            warning=warning,
        )

    def peek(self, run_id: str, run_start: datetime,
             now: datetime) -> tuple[list[SpanRecord], set[str]]:
        """A run in flight's spans so far and the ids of the open ones (the race view):
        from the experiment process's latest report, or from this process's recorder."""
        if self._process is not None:
            return self._process.live.get(run_id, ([], set()))
        return install_recorder().peek(run_id, run_start, now)

    def on_remote(self, kind: str, payload: Any) -> None:
        """What the experiment process reports (on its pipe's thread)."""
        if kind == "start":
            run_id, form, input_id, repetition, started_at, started = payload
            with self._lock:
                self._live[run_id] = LiveRun(run_id, form, input_id, repetition, started_at,
                                             started - self._started)
                self._changes += 1
        elif kind == "record":
            self._on_progress(Progress(payload, 0, self._total))
        elif kind == "warning":
            self._on_warning(payload)
        elif kind == "end":
            self._end(payload)

    def _on_start(self, run_id: str, planned: PlannedRun) -> None:
        live = LiveRun(run_id, planned.form, planned.input_id, planned.repetition, utcnow(),
                       time.monotonic() - self._started)
        with self._lock:
            self._live[run_id] = live
            self._changes += 1

    def _on_progress(self, progress: Progress) -> None:
        with self._lock:
            self._records.append(progress.record)
            self._live.pop(progress.record.run_id, None)
            self._changes += 1
        STORE_CHANGES.note(progress.record.experiment_id, self.spec.scenario)

    def _on_warning(self, text: str) -> None:
        with self._lock:
            self._warning = text
            self._changes += 1

    def _end(self, end: job_process.JobEnd, result: ExperimentResult | None = None) -> None:
        if result is None and end.experiment_id is not None and end.status is not None:
            with self._lock:
                records = list(self._records)
            result = ExperimentResult(end.experiment_id, end.status, records, end.worker_cpu_s)
        with self._lock:
            self._result, self._error, self._warning = result, end.error, end.warning
            self._live.clear()
            self._changes += 1
            if result is not None:
                STORE_CHANGES.note(result.experiment_id, self.spec.scenario)
            self._done.set()

    async def _work(self) -> None:
        """On the job loop. Always ends with the job finished, a result or an error set."""
        result, end = await job_process.run_job(
            self.spec, self.store, self.backend or self.backend_id, self.resume_id,
            self.cancel_token, self._on_start, self._on_progress, self._on_warning)
        self._end(end, result)
