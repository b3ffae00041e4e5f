"""Runs elsewhere: the one shard contract that local worker processes (`orchlab.running.workers`)
and Ray actors (`orchlab.running.cluster`) share, so a sharding bug cannot live in one and not the
other.

The parent splits the plan into shards (`shards`), each with its share of the concurrency.
A shard runs on its own event loop wherever it is (`run_shard`) and sends messages back:
("record", RunRecord) for every run as it ends, then ("done", cpu seconds) or ("failed",
sentence). A transport moves them and adds ("lost", sentence) for a shard that vanished (a
killed process, a lost node). The parent alone commits (`collect`), so durability (one commit
per finished run) and progress are what they are in-process; a lost shard makes the
experiment interrupted, with what finished stored, and resumable.
"""

from __future__ import annotations

import gc
import os
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from orchlab.core import config
from orchlab.core.errors import WorkerError
from orchlab.core.records import RunRecord
from orchlab.running.execution import CancelToken, Commit, RunContext, execute_plan
from orchlab.running.spec import ExperimentSpec, PlannedRun, prepare

__all__ = ["Message", "ShardJob", "Transport", "collect", "execute", "jobs", "run_shard",
           "shard_main", "shards"]

Message = tuple[str, Any]
"""("record", RunRecord), ("done", cpu_s), ("failed", sentence) or ("lost", sentence)."""
Send = Callable[[Message], Awaitable[None]]


@dataclass
class ShardJob:
    """Everything one shard needs; pickled to wherever it runs."""

    spec: ExperimentSpec
    """The experiment's spec (agent overrides included)."""
    backend_id: str
    """Re-resolved where the shard runs (a matrix: the first of `backend_ids`)."""
    experiment_id: str
    """Runs are recorded under it."""
    plan: list[PlannedRun]
    """This shard's runs."""
    concurrency: int
    """This shard's share of the experiment's concurrency."""
    env: dict[str, str]
    """Environment the shard runs with: a fork server's child would otherwise see the one the
    fork server began with (a key set since, a changed base URL)."""
    whole_env: bool = True
    """The env replaces the shard's (a local worker); else it is added (another machine keeps
    its own PATH and HOME)."""
    name: str = ""
    """How errors name the shard (orchlab-worker-0, orchlab-shard-0)."""
    backend_ids: list[str] = field(default_factory=list)
    """A matrix's backends, each re-resolved where the shard runs; empty: `backend_id` alone."""


def shards(
    plan: list[PlannedRun], workers: int, concurrency: int
) -> list[tuple[list[PlannedRun], int]]:
    """Round-robin shards (each keeps the plan's interleaving of forms) with concurrency split
    so the total in flight stays the experiment's."""
    n = max(1, min(workers, concurrency, len(plan)))
    return [(plan[i::n], concurrency // n + (1 if i < concurrency % n else 0)) for i in range(n)]


def jobs(plan: list[PlannedRun], ctx: RunContext, env: dict[str, str], whole_env: bool,
         prefix: str) -> list[ShardJob]:
    """The experiment's shards as jobs, `spec.workers` of them at most."""
    return [ShardJob(ctx.spec, ctx.backend.id, ctx.experiment_id, part, k, env, whole_env,
                     f"{prefix}-{i}", list(ctx.backends))
            for i, (part, k) in enumerate(shards(plan, ctx.spec.workers, ctx.spec.concurrency))]


async def run_shard(job: ShardJob, send: Send, cancel: CancelToken) -> None:
    """One shard on the running event loop; every record is sent as its run ends."""
    from orchlab.backends import resolve

    if job.whole_env:
        os.environ.clear()
    os.environ.update(job.env)
    prepared = prepare(job.spec)
    backends = {backend_id: resolve(backend_id) for backend_id in job.backend_ids}
    first = backends.get(job.backend_id) or resolve(job.backend_id)
    agents = {agent: backends.get(backend_id) or resolve(backend_id)
              for agent, backend_id in prepared.spec.agent_backends.items()}
    ctx = RunContext(prepared.spec, prepared.scenario, first, prepared.defs, job.experiment_id,
                     backends=backends, agent_backends=agents)
    gc.freeze()  # modules and agent definitions live as long as the shard: never rescan them

    async def record(run: RunRecord) -> None:
        await send(("record", run))

    await execute_plan(job.plan, ctx, record, cancel, job.concurrency)


async def shard_main(job: ShardJob, send: Send, cancel: CancelToken) -> None:
    """A shard's whole life: its runs, then ("done", cpu seconds) or ("failed", sentence)."""
    try:
        await run_shard(job, send, cancel)
    except BaseException as exc:  # noqa: BLE001 - reported to the parent, which decides
        await send(("failed", f"{type(exc).__name__}: {config.redact(str(exc))}"))
    else:
        await send(("done", time.process_time()))


class Transport(Protocol):
    """Moves shards' messages to the parent: worker processes' pipes, or Ray actors."""

    async def receive(self) -> list[tuple[int, Message]]:
        """Messages that arrived (a short wait when none has), by shard index."""
        ...

    def stop(self) -> None:
        """Ask every shard to stop starting runs and cancel those in flight."""
        ...

    async def close(self) -> None:
        """Wait for the shards to end (ending any that will not) and free their resources."""
        ...


async def collect(transport: Transport, names: list[str], commit: Commit,
                  cancel: CancelToken) -> tuple[list[str], float]:
    """Commit records until every shard has said it is done, or was lost; returns what went
    wrong (one sentence per shard) and the CPU seconds the shards used."""
    running, failures, cpu_s, stopping = set(range(len(names))), [], 0.0, False
    while running:
        if cancel.cancelled and not stopping:
            stopping = True
            transport.stop()
        for index, (kind, payload) in await transport.receive():
            if kind == "record":
                await commit(payload)
                continue
            running.discard(index)
            if kind == "done":
                cpu_s += payload
            else:
                failures.append(f"{names[index]}: {payload}" if kind == "failed" else payload)
    return failures, cpu_s


async def execute(transport: Transport, names: list[str], commit: Commit,
                  cancel: CancelToken) -> tuple[str, float]:
    """Run started shards to their end; completed or cancelled, and their CPU seconds."""
    try:
        failures, cpu_s = await collect(transport, names, commit, cancel)
    finally:
        transport.stop()
        await transport.close()
    if failures:
        raise WorkerError("; ".join(failures))
    return ("cancelled" if cancel.cancelled else "completed"), cpu_s
