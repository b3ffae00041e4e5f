"""Experiments: a spec's plan run to the end (or a cancel), each run committed as it finishes.

The per-run execution lives in `orchlab.running.execution`, which worker processes share; this
module owns the experiment's life: its row in the store, resume, and how it ends.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import os
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, replace
from typing import Any

from orchlab.backends import Backend, resolve
from orchlab.core.errors import SpecError, StoreError, WorkerError, first_line
from orchlab.core.perprocess import PerProcess
from orchlab.core.records import ExperimentRecord, RunRecord, new_experiment_id, utcnow
from orchlab.judging.replayed import Carried, carry_judgements
from orchlab.running import cluster, workers
from orchlab.running.execution import CancelToken, RunContext, execute_plan
from orchlab.running.spec import (
    MATRIX_JOIN,
    MAX_CONCURRENCY,
    MAX_REPETITIONS,
    ExperimentSpec,
    PlannedRun,
    Prepared,
    missing_runs,
    prepare,
)
from orchlab.store.store import HEARTBEAT_S, HOST

__all__ = [
    "MAX_CONCURRENCY", "MAX_REPETITIONS", "CancelToken", "ExperimentResult", "ExperimentSpec",
    "PlannedRun", "Progress", "SpecError", "aresume_experiment", "arun_experiment",
    "check_backend", "new_experiment_id", "prepare", "remaining_runs", "resume_experiment",
    "run_experiment", "server_answers",
]


@dataclass
class Progress:
    """Reported after each run is committed."""

    record: RunRecord
    """The run that just finished."""
    done: int
    """Runs finished so far."""
    total: int
    """Runs planned."""


@dataclass
class ExperimentResult:
    """What an experiment produced."""

    experiment_id: str
    """Id in the store."""
    status: str
    """completed or cancelled."""
    records: list[RunRecord]
    """Every run that started, in finishing order."""
    worker_cpu_s: float = 0.0
    """CPU seconds used by worker processes (0 when the runs ran in this process)."""
    carried: Carried | None = None
    """A replay's judgements taken over from its source (`judging.replayed`); None for an
    experiment that is no replay."""


ProgressFn = Callable[[Progress], None]
StartFn = Callable[[str, PlannedRun], None]
"""Told a run's id as it starts (in-process runs only): `execution.RunContext.on_start`."""


def run_experiment(spec: ExperimentSpec, store: Any, **kwargs: Any) -> ExperimentResult:
    """Blocking wrapper around `arun_experiment` for the CLI."""
    return asyncio.run(arun_experiment(spec, store, **kwargs))


def resume_experiment(experiment_id: str, store: Any, **kwargs: Any) -> ExperimentResult:
    """Blocking wrapper around `aresume_experiment`."""
    return asyncio.run(aresume_experiment(experiment_id, store, **kwargs))


async def arun_experiment(
    spec: ExperimentSpec,
    store: Any,
    *,
    backend: Backend | Sequence[Backend] | None = None,
    on_progress: ProgressFn | None = None,
    cancel: CancelToken | None = None,
    on_start: StartFn | None = None,
) -> ExperimentResult:
    """Run a spec to the end (or a cancel), committing each run as it finishes.

    `backend`: backends already resolved, standing for the spec's backends in order (one
    stands for the first); the others are resolved from their ids."""
    prepared = prepare(spec)
    backends, agents = await _ready(prepared.spec, backend)
    prepared = _on(prepared, backends, agents)
    replays = {b.replay_of for b in backends}
    experiment = ExperimentRecord(
        experiment_id=new_experiment_id(), scenario=prepared.scenario.name,
        backend=MATRIX_JOIN.join(b.id for b in backends), created_at=utcnow(),
        spec=asdict(prepared.spec), planned_runs=len(prepared.plan), pid=os.getpid(),
        replay_of=replays.pop() if len(replays) == 1 else None, host=HOST,
        heartbeat_at=utcnow(), participant=prepared.spec.participant,
    )
    while not store.add_experiment(experiment):  # another writer of a shared store took it
        experiment.experiment_id = new_experiment_id()
    ctx = _context(prepared, backends, agents, experiment.experiment_id, on_start)
    return await _run_plan(prepared.plan, ctx, store, on_progress, cancel)


async def aresume_experiment(
    experiment_id: str,
    store: Any,
    *,
    backend: Backend | Sequence[Backend] | None = None,
    on_progress: ProgressFn | None = None,
    cancel: CancelToken | None = None,
    on_start: StartFn | None = None,
) -> ExperimentResult:
    """Run only the planned runs an experiment never finished (`store.RERUN_SQL`): never
    started, cancelled, or ended by the environment (a server that could not be reached,
    tool_unavailable). The stored runs a resume replaces are deleted just before it runs.

    The experiment is claimed atomically (`Store.claim_experiment`) once the backend is
    ready and before any run is counted or deleted: of two resumes at once, in two processes
    or on two machines, one runs and the other is refused in one sentence, changing nothing.
    """
    experiment = store.get_experiment(experiment_id)
    if experiment is None:
        raise SpecError(f"No single experiment matches {experiment_id!r}.")
    if experiment.status == "running":  # the common case, told before the server is asked
        raise SpecError(_already_running(experiment.experiment_id))
    prepared = prepare(ExperimentSpec(**experiment.spec))
    backends, agents = await _ready(prepared.spec, backend)
    prepared = _on(prepared, backends, agents)
    if not store.claim_experiment(experiment.experiment_id):
        raise SpecError(_already_running(experiment.experiment_id))
    try:
        missing = remaining_runs(store, experiment.experiment_id, prepared.plan)
        store.delete_cancelled_runs(experiment.experiment_id)
    except BaseException:
        with contextlib.suppress(Exception):  # claimed: never left running by nobody
            store.finish_experiment(experiment.experiment_id, "interrupted")
        raise
    ctx = _context(prepared, backends, agents, experiment.experiment_id, on_start)
    return await _run_plan(missing, ctx, store, on_progress, cancel)


def _already_running(experiment_id: str) -> str:
    return f"Experiment {experiment_id} is already running: another process runs or resumes it."


def remaining_runs(store: Any, experiment_id: str, plan: list[PlannedRun]) -> list[PlannedRun]:
    """The planned runs an experiment has not finished, as `Store.run_counts` counts them."""
    return missing_runs(plan, store.run_keys(experiment_id))


async def server_answers(backend: Backend) -> None:
    """A cached backend outlives its server: ask it again before an experiment, so a dead
    server is one sentence (BackendError) and nothing is stored, not N failed runs."""
    if backend.check is not None:
        await asyncio.to_thread(backend.check)


async def _ready(spec: ExperimentSpec, given: Backend | Sequence[Backend] | None
                 ) -> tuple[list[Backend], dict[str, Backend]]:
    """Every backend of the spec, in its order, resolved (the given ones stand for the first),
    and the assignment's, by agent; each checked against the spec, its server answering, and
    the cluster the spec names started or joined: what an experiment and a resume need before
    anything is stored, so that what cannot run (an unknown backend, a server that does not
    answer) is one sentence."""
    listed = [] if given is None else [given] if isinstance(given, Backend) else list(given)
    ids = spec.backend_ids
    backends = [check_backend(spec, listed[i] if i < len(listed) else resolve(backend_id))
                for i, backend_id in enumerate(ids)]
    resolved = [b.id for b in backends]
    if len(set(resolved)) != len(resolved):
        raise SpecError(f"backends {', '.join(ids)} are not distinct: they open "
                        f"{', '.join(resolved)}.")
    opened = dict(zip(ids, backends, strict=True))
    for backend_id in dict.fromkeys(spec.agent_backends.values()):
        if backend_id not in opened:
            opened[backend_id] = _assignable(spec, resolve(backend_id))
    agents = {agent: opened[backend_id] for agent, backend_id in spec.agent_backends.items()}
    for backend in {b.id: b for b in [*backends, *agents.values()]}.values():
        await server_answers(backend)
    if spec.cluster:
        await asyncio.to_thread(cluster.connect, spec.cluster)
    return backends, agents


def _assignable(spec: ExperimentSpec, backend: Backend) -> Backend:
    """A backend an assignment may send an agent to: a live model (a replay serves whole
    recorded runs, not one agent's calls)."""
    if backend.replay_of is not None:
        raise SpecError(f"The assignment sends an agent to {backend.id}, a replay: a replay "
                        "serves whole recorded runs; replay the experiment instead.")
    return check_backend(spec, backend)


def _on(prepared: Prepared, backends: list[Backend], agents: dict[str, Backend]) -> Prepared:
    """The prepared experiment on its resolved backends: each planned run names the id of
    the backend it runs on (what its record stores and resume compares), and a matrix's spec
    (and an assignment's) holds those ids, so a resume, a worker and a replay open and key
    the same backends."""
    resolved = {spec_id: b.id for spec_id, b in zip(prepared.spec.backend_ids, backends,
                                                     strict=True)}
    spec = prepared.spec
    if len(backends) > 1:
        spec = replace(spec, backend=backends[0].id, backends=[b.id for b in backends])
    if agents:
        spec = replace(spec, agent_backends={agent: b.id for agent, b in agents.items()})
    plan = [replace(p, backend=resolved[p.backend]) for p in prepared.plan]
    return replace(prepared, spec=spec, plan=plan)


def check_backend(spec: ExperimentSpec, backend: Backend) -> Backend:
    """Worker processes re-open the backend by id: only a server-backed one can be (for a
    matrix: every one of its backends). A replay serves only its recording's scenario."""
    if backend.scenario is not None and backend.scenario != spec.scenario:
        raise SpecError(f"{backend.id} replays an experiment of {backend.scenario}; it cannot "
                        f"run {spec.scenario}: choose a recording of {spec.scenario}.")
    if spec.cluster and cluster.missing_ray():
        raise SpecError(f"cluster {spec.cluster} needs Ray, which is not installed: "
                        f"{cluster.INSTALL}.")
    if spec.cluster and not backend.remote:
        raise SpecError(f"--cluster needs a backend each Ray actor can open by id (openai:, "
                        f"compat:, litellm:); {backend.id} lives in this process.")
    if spec.workers > 1 and not backend.remote:
        raise SpecError(f"workers > 1 needs a backend each process can open by id (openai:, "
                        f"compat:, litellm:); {backend.id} lives in this process, use workers=1.")
    return backend


def _context(prepared: Prepared, backends: list[Backend], agents: dict[str, Backend],
             experiment_id: str, on_start: StartFn | None) -> RunContext:
    return RunContext(prepared.spec, prepared.scenario, backends[0], prepared.defs,
                      experiment_id, on_start,
                      backends={b.id: b for b in backends} if len(backends) > 1 else {},
                      agent_backends=agents)


async def _run_plan(
    plan: list[PlannedRun], ctx: RunContext, store: Any,
    on_progress: ProgressFn | None, cancel: CancelToken | None,
) -> ExperimentResult:
    cancel = cancel or CancelToken()
    records: list[RunRecord] = []

    async def commit(record: RunRecord) -> None:
        # Off the event loop: the runs in flight keep being timed on it while a commit (or a
        # page's read of the store) takes its time; the run's slot still frees only after
        # its commit, so a crash loses at most the runs in flight.
        saving = asyncio.get_running_loop().run_in_executor(writer(), store.save_run, record)
        interrupted = await _outlive_cancels(saving)
        try:
            saving.result()
        except Exception as exc:
            raise StoreError(
                f"The store {store.shown} failed while saving a run ({first_line(exc)}): the "
                f"experiment stopped with {len(records)} finished runs stored; resume "
                f"{ctx.experiment_id} when the store works again.") from exc
        records.append(record)
        if on_progress:
            on_progress(Progress(record, len(records), len(plan)))
        if interrupted:
            raise asyncio.CancelledError

    beating = asyncio.create_task(_keep_beating(store, ctx.experiment_id))
    try:
        if ctx.spec.cluster:
            status, worker_cpu_s = await cluster.execute(plan, ctx, commit, cancel)
        elif ctx.spec.workers > 1:
            status, worker_cpu_s = await workers.execute(plan, ctx, commit, cancel)
        else:
            with _old_objects_frozen():
                status, worker_cpu_s = await execute_plan(plan, ctx, commit, cancel), 0.0
    except WorkerError as exc:
        store.finish_experiment(ctx.experiment_id, "interrupted")
        raise WorkerError(f"{exc}. The {len(records)} finished runs are stored; resume "
                          f"{ctx.experiment_id} to run the rest.") from None
    except asyncio.CancelledError:
        store.finish_experiment(ctx.experiment_id, "cancelled")
        raise
    except Exception:
        with contextlib.suppress(Exception):  # the store itself may be what failed
            store.finish_experiment(ctx.experiment_id, "interrupted")
        raise
    finally:
        beating.cancel()
    store.finish_experiment(ctx.experiment_id, status)
    carried = None
    if any(b.replay_of is not None for b in [ctx.backend, *ctx.backends.values()]):
        # after the last run is timed and the experiment marked: asks no model, and a store
        # that fails here leaves every run stored and the verdicts for `orchlab judge`
        carried = await asyncio.get_running_loop().run_in_executor(
            writer(), carry_judgements, store, ctx.experiment_id)
    return ExperimentResult(ctx.experiment_id, status, records, worker_cpu_s, carried)


async def _outlive_cancels(saving: asyncio.Future[None]) -> bool:
    """Wait out a commit's save even if the run is cancelled meanwhile, and say whether it was.

    A save in the writer thread cannot be stopped once it began: it lands in the store. So
    the run is counted (in the result and the progress) and the experiment returns only
    after the store holds it, never with a run stored behind its back."""
    interrupted = False
    while not saving.done():
        try:
            await asyncio.shield(saving)
        except asyncio.CancelledError:
            interrupted = True
        except Exception:
            break  # the caller reads the error from the future
    return interrupted


async def _keep_beating(store: Any, experiment_id: str) -> None:
    """The experiment's heartbeat while it runs: how a reader on another host (a shared store)
    tells a live experiment from one whose process died."""
    while True:
        await asyncio.sleep(HEARTBEAT_S)
        with contextlib.suppress(Exception):  # a store that failed says so on the next commit
            await asyncio.get_running_loop().run_in_executor(writer(), store.beat,
                                                             experiment_id)


@contextlib.contextmanager
def _old_objects_frozen() -> Iterator[None]:
    """Objects alive before the experiment (modules, the SDK, a UI's state) are not its
    garbage: keep full collections from rescanning them (measured at K=50: 8% less wall).

    Not nested: two experiments on one event loop (the dashboard's) must not unfreeze each
    other's heap halfway.
    """
    global _frozen_depth
    if _frozen_depth == 0:
        gc.freeze()
    _frozen_depth += 1
    try:
        yield
    finally:
        _frozen_depth -= 1
        if _frozen_depth == 0:
            gc.unfreeze()


_frozen_depth = 0


_WRITER = PerProcess(lambda: ThreadPoolExecutor(1, thread_name_prefix="orchlab-writer"))


def writer() -> ThreadPoolExecutor:
    """The process's one thread that commits runs: every experiment's commits queue there in
    the order their runs finished, and none runs on an event loop that times runs."""
    return _WRITER.get()
