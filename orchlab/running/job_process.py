"""The dashboard's experiment process: where dashboard experiments run, so that what a page
script does cannot show up in a run's timing.

Page scripts run in the dashboard's process. An experiment on a thread of that process shares
its interpreter lock with every page building a frame or a figure, and its runs' recorded
times then hold a little of whoever else had the dashboard open (measured: p95 of recorded
generation span minus the server's latency 52 ms from the CLI, 146 ms from the Run page while
two tabs opened Compare, History and Trace). Here they run in one long-lived child process
(`experiment_process()`), on its one event loop, with its own cached backends (the embedded
model loaded once there), committing runs on its own writer thread. It reports back over a
pipe, written by a sender thread so pickling never stalls the loop:

- ("start", job id, (run id, form, input id, repetition, started_at, monotonic start))
- ("record", job id, RunRecord) for each run as it is committed
- ("live", {run id: (spans so far, open span ids)}) once a second while runs are in flight:
  what the race view draws
- ("warning", job id, sentence), then ("end", job id, JobEnd)

and takes ("run", JobOrder), ("cancel", job id) and ("quit", None) (this process is
exiting; a closed pipe, this process dead, means the same). A backend a fresh process cannot open by
id (one a test registered in this process) runs its job here on the job loop instead
(`orchlab.running.jobs`); both paths run `run_job`.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import os
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from typing import Any, Protocol, cast

from orchlab.backends import Backend, resolve
from orchlab.core.errors import user_sentence
from orchlab.core.perprocess import PerProcess
from orchlab.core.records import SpanRecord, utcnow
from orchlab.integrations import otel
from orchlab.running import runner
from orchlab.running.runner import (
    CancelToken,
    ExperimentResult,
    ExperimentSpec,
    PlannedRun,
    Progress,
)

__all__ = ["JobEnd", "JobOrder", "JobSink", "experiment_process", "run_job"]

LIVE_EVERY_S = 1.0
"""How often the process sends the spans of runs in flight: the race redraws every two
seconds (views/run.py `REFRESH_S`), so a report a second keeps what it draws at most a second
old, at half the peeking and pickling of two (done beside the runs, in this process)."""
Live = dict[str, tuple[list[SpanRecord], set[str]]]


@dataclass
class JobOrder:
    """One dashboard job, as the experiment process runs it (pickled to it)."""

    job_id: str
    """The parent's name for the job: every message about it carries it."""
    spec: ExperimentSpec
    """What runs."""
    backend_id: str
    """The backend it runs on, resolved (and cached) there."""
    store: str
    """The store's location (`Store.location`), opened there."""
    resume_id: str | None
    """Resume this experiment instead of starting a new one."""
    env: dict[str, str]
    """The dashboard's environment when the job started (keys, .env settings, the store)."""


@dataclass
class JobEnd:
    """How a job ended."""

    experiment_id: str | None
    """The experiment it ran (None when it could not start)."""
    status: str | None
    """completed or cancelled; None when it failed."""
    worker_cpu_s: float
    """CPU seconds of its worker processes."""
    error: str | None
    """Why it failed, `Class: sentence`; None when it did not."""
    warning: str | None
    """A failure the runs did not suffer from (an OpenTelemetry receiver), or None."""


class JobSink(Protocol):
    """The parent's job: told what the experiment process reports about it."""

    def on_remote(self, kind: str, payload: Any) -> None:
        """A message about this job (start, record, end)."""
        ...


async def run_job(
    spec: ExperimentSpec, store: Any, backend: Backend | str, resume_id: str | None,
    cancel: CancelToken, on_start: Callable[[str, PlannedRun], None],
    on_progress: Callable[[Progress], None], on_warning: Callable[[str], None],
) -> tuple[ExperimentResult | None, JobEnd]:
    """One job on the running loop, wherever that loop is; never raises: the end says how.
    An export's failure is told to `on_warning` once, with the first run after it, so the
    page says so while the job still runs."""
    result: ExperimentResult | None = None
    error: str | None = None
    export = None
    try:
        export = otel.configured_export()  # ORCHLAB_OTLP_ENDPOINT, else None

        warned: list[str] = []

        def progress(done: Progress) -> None:
            on_progress(done)
            if export is not None:  # spans go out as runs finish
                export.add_run(done.record)
                if export.failure and not warned:
                    warned.append(export.failure)
                    on_warning(export.failure)

        # Starting a backend may block for seconds (a server probe, loading the embedded
        # model): never on the loop other jobs' runs share.
        # A matrix's other backends are cached here too, in the spec's order.
        backends = [backend] if isinstance(backend, Backend) else [
            await asyncio.to_thread(_backend, backend_id)
            for backend_id in [backend, *spec.backends[1:]]]
        kwargs: dict[str, Any] = {"backend": backends, "on_progress": progress,
                                  "cancel": cancel, "on_start": on_start}
        if resume_id:
            result = await runner.aresume_experiment(resume_id, store, **kwargs)
        else:
            result = await runner.arun_experiment(spec, store, **kwargs)
    except asyncio.CancelledError:  # the loop's task itself cancelled: not by cancel()
        error = "CancelledError: the job was stopped before it finished"
    except Exception as exc:  # noqa: BLE001 - shown to the user, one sentence
        error = user_sentence(exc)
    finally:
        if export is not None:  # its bounded wait, off the loop other jobs share
            await asyncio.to_thread(export.close)
    end = JobEnd(result.experiment_id if result else None, result.status if result else None,
                 result.worker_cpu_s if result else 0.0, error,
                 export.failure if export is not None else None)
    return result, end


_BACKENDS: dict[str, Backend] = {}
_BACKENDS_LOCK = threading.Lock()


def _backend(backend_id: str) -> Backend:
    """Backends cached for the process's life, as the dashboard caches its own: the embedded
    model loads once, a server's client stays on the one loop it runs on."""
    with _BACKENDS_LOCK:
        if backend_id not in _BACKENDS:
            _BACKENDS[backend_id] = resolve(backend_id)
        return _BACKENDS[backend_id]


# -- the parent's side ------------------------------------------------------------------------


class ExperimentProcess:
    """The child process and the thread that hands its messages to the jobs."""

    def __init__(self) -> None:
        from orchlab.running.workers import process_context

        mp = process_context()
        ours, theirs = mp.Pipe()
        self._conn = ours
        self._send_lock = threading.Lock()
        self._sinks: dict[str, JobSink] = {}
        self._lock = threading.Lock()
        self.live: Live = {}
        """The latest spans of runs in flight, by run id (replaced as a whole)."""
        self.live_version = 0
        """How many reports of `live` have come: a page redraws a race only when it moved."""
        self.alive = True
        # Not a daemon: its experiments may start worker processes of their own. It ends when
        # the pipe closes: at this process's exit (`close`, before multiprocessing joins it)
        # or its death.
        self._proc: BaseProcess = mp.Process(target=serve, args=(theirs,),
                                             name="orchlab-experiments")
        self._proc.start()
        theirs.close()  # else our copy would keep its end open after the child died
        atexit.register(self.close)
        threading.Thread(target=self._receive, name="orchlab-experiments-pipe",
                         daemon=True).start()

    def submit(self, order: JobOrder, sink: JobSink) -> None:
        """Run a job there; its messages go to `sink`."""
        with self._lock:
            self._sinks[order.job_id] = sink
        self._send(("run", order))

    def cancel(self, job_id: str) -> None:
        """Stop a job's runs (finished ones stay stored)."""
        with contextlib.suppress(OSError):
            self._send(("cancel", job_id))

    def close(self) -> None:
        """Ask the process to end: it cancels its runs (stored as cancelled) and exits."""
        with contextlib.suppress(OSError):
            self._send(("quit", None))
        self._proc.join(30)

    def _send(self, message: tuple[str, Any]) -> None:
        with self._send_lock:
            self._conn.send(message)

    def _receive(self) -> None:
        while True:
            try:
                kind, *payload = self._conn.recv()
            except (EOFError, OSError):
                break
            if kind == "live":
                self.live = payload[0]
                self.live_version += 1
                continue
            job_id, body = payload
            with self._lock:
                sink = self._sinks.get(job_id)
                if kind == "end":
                    self._sinks.pop(job_id, None)
            if sink is not None:
                sink.on_remote(kind, body)
        self._lost()

    def _lost(self) -> None:
        """The child is gone (killed, out of memory): every job it ran ends with a sentence;
        the next job starts a new process."""
        self.alive = False
        self._proc.join(5)
        code = self._proc.exitcode
        with self._lock:
            sinks, self._sinks = dict(self._sinks), {}
        for sink in sinks.values():
            sink.on_remote("end", JobEnd(
                None, None, 0.0, f"The dashboard's experiment process stopped "
                f"(exit code {code}); runs it finished are stored, and History resumes the "
                "experiment.", None))


_PROCESS = PerProcess(ExperimentProcess, usable=lambda process: process.alive)


def experiment_process() -> ExperimentProcess:
    """The dashboard's one experiment process, started on first use (again if it died)."""
    return _PROCESS.get()


# -- the child's side -------------------------------------------------------------------------


def serve(conn: Connection) -> None:
    """The experiment process's entry point: jobs on its one event loop until the parent
    closes the pipe (or dies), then their runs are cancelled and stored as such.

    It starts a session of its own: where the kernel groups scheduling by session (Linux's
    autogroup, on by default on most distributions), the CPU is then shared fairly between
    the experiments and everything else the dashboard's session runs (page scripts, and a
    browser started beside it), instead of among their threads one by one, so a page load's
    threads cannot keep a model call's answer waiting for a core."""
    with contextlib.suppress(AttributeError, OSError):  # not POSIX, or already a leader
        os.setsid()
    asyncio.run(_serve(conn))


async def _serve(conn: Connection) -> None:
    from orchlab.measure.recorder import install_recorder
    from orchlab.store.store import Store

    loop = asyncio.get_running_loop()
    outbox: queue.SimpleQueue[tuple[Any, ...] | None] = queue.SimpleQueue()
    jobs: dict[str, tuple[CancelToken, dict[str, datetime]]] = {}
    stores: dict[str, Store] = {}
    tasks: set[asyncio.Task[None]] = set()
    closed = asyncio.Event()
    recorder = install_recorder()

    def send_all() -> None:  # pickling and a full pipe never stall the loop
        while (message := outbox.get()) is not None:
            with contextlib.suppress(OSError):
                conn.send(message)

    def listen() -> None:
        with contextlib.suppress(EOFError, OSError):
            while True:
                message = conn.recv()
                loop.call_soon_threadsafe(handle, message)
        loop.call_soon_threadsafe(closed.set)

    def relay() -> None:
        """The spans of runs in flight, for the race: read in this thread, not on the loop."""
        sent_empty = True
        while not closed.is_set():
            time.sleep(LIVE_EVERY_S)
            live: Live = {}
            for _, starts in list(jobs.values()):
                for run_id, started in list(starts.items()):
                    live[run_id] = recorder.peek(run_id, started, utcnow())
            if live or not sent_empty:
                outbox.put(("live", live))
            sent_empty = not live

    def handle(message: tuple[str, Any]) -> None:
        kind, body = message
        if kind == "quit":
            closed.set()
        elif kind == "cancel" and body in jobs:
            jobs[body][0].cancel()
        elif kind == "run":
            task = loop.create_task(run(body))
            tasks.add(task)
            task.add_done_callback(tasks.discard)

    async def run(order: JobOrder) -> None:
        os.environ.update(order.env)
        cancel, starts = CancelToken(), cast(dict[str, datetime], {})
        jobs[order.job_id] = (cancel, starts)

        def on_start(run_id: str, planned: PlannedRun) -> None:
            started = utcnow()
            starts[run_id] = started
            outbox.put(("start", order.job_id, (run_id, planned.form, planned.input_id,
                                                planned.repetition, started, time.monotonic())))

        def on_progress(progress: Progress) -> None:
            starts.pop(progress.record.run_id, None)
            outbox.put(("record", order.job_id, progress.record))

        try:
            if order.store not in stores:
                stores[order.store] = await asyncio.to_thread(Store, order.store)
            store = stores[order.store]
        except Exception as exc:  # noqa: BLE001 - one sentence, as any job's failure
            end = JobEnd(None, None, 0.0, user_sentence(exc), None)
        else:
            _, end = await run_job(
                order.spec, store, order.backend_id, order.resume_id, cancel, on_start,
                on_progress, lambda text: outbox.put(("warning", order.job_id, text)))
        jobs.pop(order.job_id, None)
        outbox.put(("end", order.job_id, end))

    for target in (send_all, listen, relay):
        threading.Thread(target=target, name=f"orchlab-{target.__name__}", daemon=True).start()
    await closed.wait()
    for cancel, _ in jobs.values():  # nobody would show these runs: stop, store what ended
        cancel.cancel()
    if tasks:
        await asyncio.gather(*tasks, return_exceptions=True)
    outbox.put(None)
    for store in stores.values():
        store.close()
