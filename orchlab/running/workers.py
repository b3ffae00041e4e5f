"""Runs spread over worker processes, one event loop each (a shard transport: the shard
contract is `orchlab.running.shards`, which Ray actors share).

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
import multiprocessing
import os
import threading
from concurrent.futures import ThreadPoolExecutor
from multiprocessing.connection import Connection, wait
from multiprocessing.context import ForkServerContext, SpawnContext
from multiprocessing.process import BaseProcess
from typing import cast

from orchlab.core.errors import WorkerError
from orchlab.running import shards
from orchlab.running.execution import CancelToken, Commit, RunContext
from orchlab.running.shards import Message, ShardJob
from orchlab.running.spec import MAX_WORKERS, PlannedRun

__all__ = ["MAX_WORKERS", "WorkerError", "cpu_count", "execute"]

POLL_S = 0.5
JOIN_S = 10.0
PRELOAD = ["orchlab.running.execution", "orchlab.backends.openai_compat", "agents", "openai"]
"""Imported once by the fork server, so each worker starts in milliseconds, not seconds.

A worker still imports the parent's main script (as `__mp_main__`, as multiprocessing does
everywhere but with fork) unless the parent was started with `-m`: a script that starts an
experiment with workers needs the `if __name__ == "__main__":` guard."""

def process_context() -> ForkServerContext | SpawnContext:
    """Fork server where there is one: forking a clean, preloaded process is fast and safe
    from a threaded parent (Streamlit). Elsewhere spawn. The dashboard's experiment process
    (`orchlab.running.job_process`) starts the same way."""
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
    jobs = shards.jobs(plan, ctx, dict(os.environ), whole_env=True, prefix="orchlab-worker")
    # Off the loop: the first start waits for the fork server to import the SDK (seconds).
    transport = await asyncio.to_thread(Processes, jobs)
    return await shards.execute(transport, [j.name for j in jobs], commit, cancel)


class Processes:
    """Worker processes as a shard transport: one pipe each, so a killed worker can hold no
    shared lock, and a closed pipe is a lost shard."""

    def __init__(self, jobs: list[ShardJob]) -> None:
        mp = process_context()
        self.links: dict[Connection, tuple[int, BaseProcess]] = {}
        try:
            for i, job in enumerate(jobs):
                ours, theirs = mp.Pipe()
                proc = mp.Process(target=worker_main, args=(job, theirs), daemon=True,
                                  name=job.name)
                proc.start()
                theirs.close()  # else our copy would keep its end open after the worker died
                self.links[ours] = (i, proc)
        except Exception as exc:  # e.g. out of processes or file descriptors
            self.stop()
            _reap([proc for _, proc in self.links.values()])
            raise WorkerError(
                f"could not start worker processes ({type(exc).__name__}: {exc})"
            ) from exc
        self.open = dict(self.links)

    async def receive(self) -> list[tuple[int, Message]]:
        ready = cast(list[Connection], await asyncio.to_thread(wait, list(self.open), POLL_S))
        messages: list[tuple[int, Message]] = []
        for conn in ready:
            index, proc = self.open[conn]
            try:
                messages.append((index, conn.recv()))
            except (EOFError, OSError):
                del self.open[conn]
                await asyncio.to_thread(proc.join, JOIN_S)
                messages.append((index, ("lost", f"{proc.name} exited with code "
                                                 f"{proc.exitcode}")))
                continue
            if messages[-1][1][0] in ("done", "failed"):
                del self.open[conn]
        return messages

    def stop(self) -> None:
        """Ask workers to stop starting runs and cancel those in flight (they send what ends)."""
        for conn in self.links:
            with contextlib.suppress(OSError):  # already gone
                conn.send("stop")

    async def close(self) -> None:
        await asyncio.to_thread(_reap, [proc for _, proc in self.links.values()])
        for conn in self.links:
            conn.close()


def _reap(procs: list[BaseProcess]) -> None:
    """Wait for every worker (killing one that will not end) and free its handles."""
    for proc in procs:
        proc.join(JOIN_S)
        if proc.is_alive():
            proc.kill()
            proc.join()
        proc.close()


def worker_main(job: ShardJob, conn: Connection) -> None:
    """A worker's entry point: its shard on its own event loop, messages sent as they come."""
    asyncio.run(_work(job, conn))


async def _work(job: ShardJob, conn: Connection) -> None:
    cancel = CancelToken()
    threading.Thread(target=_listen, args=(conn, cancel), daemon=True).start()
    sender = ThreadPoolExecutor(1, thread_name_prefix="orchlab-send")  # one: keeps order
    loop = asyncio.get_running_loop()

    async def send(message: Message) -> None:
        # Pickling and a full pipe would stall every run in flight here: done off the loop.
        await loop.run_in_executor(sender, conn.send, message)

    try:
        await shards.shard_main(job, send, cancel)
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
