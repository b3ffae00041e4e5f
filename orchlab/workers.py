"""Runs spread over worker processes, one event loop each.

One Python process tops out at one core, and a run costs ~60-75 ms of CPU in the SDK, the
openai client and httpx (the harness is ~3% of it). Against a fast server at high concurrency
the runs then queue for the CPU, not for the model. Each worker runs a shard of the plan with
its share of the concurrency and sends every finished RunRecord back; the parent alone writes
the store, so durability (one commit per finished run) and progress reporting stay as they are
in-process.

Workers re-open the backend by id, so only backends that talk to a server qualify
(`Backend.remote`); the embedded model and test backends live in this process.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import multiprocessing
import os
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from multiprocessing.connection import Connection, wait
from multiprocessing.context import ForkServerContext, SpawnContext
from multiprocessing.process import BaseProcess
from typing import cast

from orchlab import config
from orchlab.errors import WorkerError
from orchlab.execution import CancelToken, Commit, RunContext, execute_plan
from orchlab.records import RunRecord
from orchlab.spec import MAX_WORKERS, ExperimentSpec, PlannedRun, prepare

__all__ = ["MAX_WORKERS", "WorkerError", "cpu_count", "execute", "shards"]

POLL_S = 0.5
JOIN_S = 10.0
PRELOAD = ["orchlab.execution", "orchlab.backends.openai_compat", "agents", "openai"]
"""Imported once by the fork server, so each worker starts in milliseconds, not seconds.

A worker still imports the parent's main script (as `__mp_main__`, as multiprocessing does
everywhere but with fork) unless the parent was started with `-m`: a script that starts an
experiment with workers needs the `if __name__ == "__main__":` guard."""

@dataclass
class WorkerJob:
    """Everything one worker needs; pickled to the child."""

    spec: ExperimentSpec
    """The experiment's spec (agent overrides included)."""
    backend_id: str
    """Re-resolved in the child."""
    experiment_id: str
    """Runs are recorded under it."""
    plan: list[PlannedRun]
    """This worker's shard."""
    concurrency: int
    """This worker's share of the experiment's concurrency."""
    env: dict[str, str]
    """The parent's environment at start: a fork server's child would otherwise see the one
    the fork server began with (a key set since, a changed base URL)."""


def shards(
    plan: list[PlannedRun], workers: int, concurrency: int
) -> list[tuple[list[PlannedRun], int]]:
    """Round-robin shards (each keeps the plan's interleaving of forms) with concurrency split
    so the total in flight stays the experiment's."""
    n = max(1, min(workers, concurrency, len(plan)))
    return [(plan[i::n], concurrency // n + (1 if i < concurrency % n else 0)) for i in range(n)]


def _context() -> ForkServerContext | SpawnContext:
    """Fork server where there is one: forking a clean, preloaded process is fast and safe
    from a threaded parent (Streamlit). Elsewhere spawn."""
    if "forkserver" in multiprocessing.get_all_start_methods():
        ctx: ForkServerContext = multiprocessing.get_context("forkserver")
        ctx.set_forkserver_preload(PRELOAD)
        return ctx
    return multiprocessing.get_context("spawn")


async def execute(plan: list[PlannedRun], ctx: RunContext, commit: Commit,
                  cancel: CancelToken) -> tuple[str, float]:
    """Run the plan in worker processes; every record they send is committed here.

    Returns completed or cancelled, and the CPU seconds the workers used (in neither this
    process's process_time nor its children's: they are the fork server's children)."""
    # Off the loop: the first start waits for the fork server to import the SDK (seconds).
    links = await asyncio.to_thread(_start, plan, ctx)
    cpu_s: list[float] = []
    try:
        failures = await _collect(links, commit, cancel, cpu_s)
    finally:
        _stop(links)
        await asyncio.to_thread(_reap, list(links.values()))
        for conn in links:
            conn.close()
    if failures:
        raise WorkerError("; ".join(failures))
    return ("cancelled" if cancel.cancelled else "completed"), sum(cpu_s)


def _start(plan: list[PlannedRun], ctx: RunContext) -> dict[Connection, BaseProcess]:
    mp = _context()
    links: dict[Connection, BaseProcess] = {}
    try:
        for i, (part, k) in enumerate(shards(plan, ctx.spec.workers, ctx.spec.concurrency)):
            ours, theirs = mp.Pipe()  # one per worker: a killed worker can hold no shared lock
            job = WorkerJob(ctx.spec, ctx.backend.id, ctx.experiment_id, part, k,
                            dict(os.environ))
            proc = mp.Process(target=worker_main, args=(job, theirs), daemon=True,
                              name=f"orchlab-worker-{i}")
            proc.start()
            theirs.close()  # else our copy would keep its end open after the worker died
            links[ours] = proc
    except Exception as exc:  # e.g. out of processes or file descriptors
        _stop(links)
        _reap(list(links.values()))
        raise WorkerError(
            f"could not start worker processes ({type(exc).__name__}: {exc})"
        ) from exc
    return links


async def _collect(links: dict[Connection, BaseProcess], commit: Commit, cancel: CancelToken,
                   cpu_s: list[float]) -> list[str]:
    """Commit records until every worker has said it is done, or has died without saying."""
    running, failures, stopping = dict(links), [], False
    while running:
        if cancel.cancelled and not stopping:
            stopping = True
            _stop(running)
        ready = cast(list[Connection], await asyncio.to_thread(wait, list(running), POLL_S))
        for conn in ready:
            try:
                kind, payload = conn.recv()
            except (EOFError, OSError):
                proc = running.pop(conn)
                await asyncio.to_thread(proc.join, JOIN_S)
                failures.append(f"{proc.name} exited with code {proc.exitcode}")
                continue
            if kind == "record":
                await commit(payload)
                continue
            running.pop(conn)
            if kind == "failed":
                failures.append(f"{links[conn].name}: {payload}")
            else:
                cpu_s.append(payload)
    return failures


def _stop(links: dict[Connection, BaseProcess]) -> None:
    """Ask workers to stop starting runs and cancel those in flight (they send what ends)."""
    for conn in links:
        with contextlib.suppress(OSError):  # already gone
            conn.send("stop")


def _reap(procs: list[BaseProcess]) -> None:
    """Wait for every worker (killing one that will not end) and free its handles."""
    for proc in procs:
        proc.join(JOIN_S)
        if proc.is_alive():
            proc.kill()
            proc.join()
        proc.close()


def worker_main(job: WorkerJob, conn: Connection) -> None:
    """A worker's entry point: its shard on its own event loop, records sent as they finish."""
    os.environ.clear()
    os.environ.update(job.env)
    try:
        asyncio.run(_work(job, conn))
    except BaseException as exc:  # noqa: BLE001 - reported to the parent, which decides
        conn.send(("failed", f"{type(exc).__name__}: {config.redact(str(exc))}"))
    else:
        conn.send(("done", time.process_time()))


async def _work(job: WorkerJob, conn: Connection) -> None:
    from orchlab.backends import resolve

    prepared = prepare(job.spec)
    ctx = RunContext(prepared.spec, prepared.scenario, resolve(job.backend_id), prepared.defs,
                     job.experiment_id)
    gc.freeze()  # modules and agent definitions live as long as the worker: never rescan them
    cancel = CancelToken()
    threading.Thread(target=_listen, args=(conn, cancel), daemon=True).start()
    sender = ThreadPoolExecutor(1, thread_name_prefix="orchlab-send")  # one: keeps order
    loop = asyncio.get_running_loop()

    async def send(record: RunRecord) -> None:
        # Pickling and a full pipe would stall every run in flight here: done off the loop.
        await loop.run_in_executor(sender, conn.send, ("record", record))

    try:
        await execute_plan(job.plan, ctx, send, cancel, job.concurrency)
    finally:
        sender.shutdown()


def _listen(conn: Connection, cancel: CancelToken) -> None:
    """Cancel when the parent says stop, or when it is gone (nobody would store the runs)."""
    with contextlib.suppress(EOFError, OSError):
        conn.recv()
    cancel.cancel()


def cpu_count() -> int:
    """Cores this process may use (the affinity mask, not the machine's total)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1
