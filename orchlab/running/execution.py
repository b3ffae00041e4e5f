"""One run, and a plan of runs under bounded concurrency: the per-run execution that the
in-process runner and the worker processes share.

Every planned run that starts ends as exactly one RunRecord: a run that raises becomes
status=error, a run past its timeout status=timeout, a run interrupted by a cancel
status=cancelled. Runs not yet started when a cancel arrives are never started.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
import weakref
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, cast

from orchlab.backends import Backend
from orchlab.core import config
from orchlab.core.errors import RETRY_COUNTER, classify, counts_against_form
from orchlab.core.records import RunRecord, utcnow
from orchlab.measure.calls import CURRENT as CURRENT_CALLS
from orchlab.measure.calls import RunCalls
from orchlab.measure.metrics import run_metrics
from orchlab.measure.recorder import install_recorder
from orchlab.running.spec import ExperimentSpec, PlannedRun
from orchlab.scenario import FlowEnv, OutcomeInput, RunDeps, Scenario
from orchlab.scenario.agentdefs import AgentDef, build_agents

Commit = Callable[[RunRecord], Awaitable[None]]


class CancelToken:
    """Thread-safe cancel flag: the UI's Cancel button sets it from another thread."""

    def __init__(self) -> None:
        self._event = threading.Event()

    def cancel(self) -> None:
        """Ask the experiment to stop; finished runs are kept."""
        self._event.set()

    @property
    def cancelled(self) -> bool:
        """Whether cancel() was called."""
        return self._event.is_set()


@dataclass
class RunContext:
    """What every run of one experiment shares."""

    spec: ExperimentSpec
    """The resolved spec."""
    scenario: Scenario
    """The scenario it runs."""
    backend: Backend
    """The backend every agent runs on (a matrix: the first, for runs that name none)."""
    defs: dict[str, AgentDef]
    """Agent definitions, variant edits applied."""
    experiment_id: str
    """Runs are recorded under it."""
    on_start: Callable[[str, PlannedRun], None] | None = None
    """Told each run's id (its trace id) as the run starts: the live race view follows the
    recorder's open spans of runs in flight. Called on the event loop; must not block."""
    backends: dict[str, Backend] = field(default_factory=dict)
    """A matrix's backends by id (`PlannedRun.backend`); a run whose backend is not here runs
    on `backend`."""
    agent_backends: dict[str, Backend] = field(default_factory=dict)
    """An assignment: the agents that run elsewhere than the run's backend, and where
    (`Backend.with_agents`); empty: every agent on the run's backend."""
    _agents: dict[str, dict[str, Any]] = field(default_factory=dict)
    _assigned: dict[str, Backend] = field(default_factory=dict)
    _tools: dict[str, Any] | None = None

    def tools(self) -> dict[str, Any]:
        """The scenario's tools, unwrapped: what a guarded form puts its guards around."""
        if self._tools is None:
            self._tools = self.scenario.tools()
        return self._tools

    def backend_for(self, planned: PlannedRun) -> Backend:
        """The backend this planned run runs on, with the assignment's agents sent to theirs."""
        base = self.backends.get(planned.backend, self.backend)
        if not self.agent_backends:
            return base
        if base.id not in self._assigned:
            self._assigned[base.id] = base.with_agents(self.agent_backends)
        return self._assigned[base.id]

    def agents(self, backend: Backend | None = None) -> dict[str, Any]:
        """SDK agents hold no run state: built once per backend when every run gets the same
        models (the tool schemas alone cost ~2 ms a run), else fresh per run (e.g. one
        script each)."""
        backend = backend or self.backend
        cached = self._agents.get(backend.id)
        if cached is not None:
            return cached
        built = build_agents(self.defs, self.tools(), backend, self.spec.model_settings)
        if backend.shared_models:
            self._agents[backend.id] = built
        return built


_SLOTS: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[str, asyncio.Semaphore]] = (
    weakref.WeakKeyDictionary())


def run_slots(backend: Backend) -> list[asyncio.Semaphore]:
    """The bounds a run on this backend holds, shared by every experiment on this event loop:
    its backend's and, with an assignment, each other bounded backend's (`Backend.parts`),
    in one order (by `Backend.slot_key`) so two runs never each hold what the other waits for.

    Two experiments on the embedded model (two dashboard sessions) then queue for it run by
    run, instead of each run's wall time including the other experiment's generations.
    """
    per_loop = _SLOTS.setdefault(asyncio.get_running_loop(), {})
    bounded = {b.slot_key: b.max_concurrency for b in (backend, *backend.parts)
               if b.max_concurrency}
    return [per_loop.setdefault(key, asyncio.Semaphore(bound))
            for key, bound in sorted(bounded.items())]


async def execute_plan(
    plan: list[PlannedRun], ctx: RunContext, commit: Commit, cancel: CancelToken,
    concurrency: int | None = None,
) -> str:
    """Runs in flight up to the concurrency (and each run's backend's own bound: a run
    waits for its backend's slot before it takes one of the experiment's, so a busy backend
    never holds slots another backend's runs could use); each finished run is committed
    before its slots free. Returns completed or cancelled.

    A commit that fails (a full disk, a store that went away) stops the plan at once: runs
    in flight are cancelled and none starts, since no run could be saved (their model calls
    would be paid for and lost), and the commit's exception is raised."""
    semaphore = asyncio.Semaphore(concurrency or ctx.spec.concurrency)
    failed: list[BaseException] = []

    async def guarded(planned: PlannedRun) -> None:
        async with contextlib.AsyncExitStack() as held:
            for slot in run_slots(ctx.backend_for(planned)):
                await held.enter_async_context(slot)
            await held.enter_async_context(semaphore)
            if cancel.cancelled or failed:
                return
            record = await execute_run(planned, ctx)
            if failed:  # cancelled because the store failed: it cannot be saved either
                return
            try:
                await commit(record)
            except Exception as exc:
                failed.append(exc)
                for task in tasks:
                    if task is not asyncio.current_task():
                        task.cancel()
                raise

    tasks = [asyncio.create_task(guarded(p)) for p in plan]
    watcher = asyncio.create_task(_cancel_when_asked(cancel, tasks))
    try:
        await asyncio.gather(*tasks, return_exceptions=True)
    except asyncio.CancelledError:
        cancel.cancel()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        raise
    finally:
        watcher.cancel()
    if failed:  # runs never raise (errors are data): this is the store, and it must be seen
        raise failed[0]
    return "cancelled" if cancel.cancelled else "completed"


async def _cancel_when_asked(cancel: CancelToken, tasks: list[asyncio.Task[Any]]) -> None:
    while not cancel.cancelled:
        await asyncio.sleep(0.05)
    for task in tasks:
        task.cancel()


async def execute_run(planned: PlannedRun, ctx: RunContext) -> RunRecord:
    """One run inside its own trace; never raises: errors are data."""
    from agents import trace
    from agents.tracing import gen_trace_id

    recorder = install_recorder()
    run_id = gen_trace_id()
    backend = ctx.backend_for(planned)
    item = ctx.scenario.input(planned.input_id)
    deps = RunDeps(tool_budget=ctx.spec.budget(ctx.scenario))
    retries = [0]
    retry_token = RETRY_COUNTER.set(retries)
    calls = RunCalls(planned.recorded, ctx.spec.replay_speed)
    calls_token = CURRENT_CALLS.set(calls)
    recorder.watch(run_id)
    started_at, t0 = utcnow(), time.monotonic()
    if ctx.on_start is not None:
        ctx.on_start(run_id, planned)
    output: str | None = None
    status, error = "ok", cast(BaseException | None, None)
    try:
        env = FlowEnv(ctx.agents(backend), deps, ctx.spec.max_turns, ctx.tools())
        metadata = {"experiment_id": ctx.experiment_id, "run_id": run_id, "form": planned.form}
        with trace(f"orchlab:{ctx.scenario.name}:{planned.form}", trace_id=run_id,
                   group_id=ctx.experiment_id, metadata=metadata):
            async with asyncio.timeout(ctx.spec.timeout_s):  # no extra task, as wait_for makes
                output = await ctx.scenario.form(planned.form).flow(item, env)
    except TimeoutError as exc:
        status, error = "timeout", exc
    except asyncio.CancelledError as exc:
        status, error = "cancelled", exc
    except Exception as exc:  # noqa: BLE001 - a failed run is a result, recorded below
        status, error = "error", exc
    finally:
        RETRY_COUNTER.reset(retry_token)
        CURRENT_CALLS.reset(calls_token)
    wall_ms = (time.monotonic() - t0) * 1000
    spans = recorder.collect(run_id, started_at, utcnow())
    error_class = classify(error, status)
    outcome = _outcome(ctx.scenario, OutcomeInput(item, planned.form, output, deps, spans))
    return RunRecord(
        run_id=run_id, experiment_id=ctx.experiment_id, scenario=ctx.scenario.name,
        form=planned.form, input_id=planned.input_id, repetition=planned.repetition,
        backend=backend.id, model=backend.model_name, started_at=started_at,
        metrics=run_metrics(spans, backend.prices_as or backend.id, wall_ms=wall_ms,
                            retries=retries[0], agent_backends=backend.agent_ids),
        status=status, error_type=type(error).__name__ if error else None,
        error_message=_error_message(error, ctx.spec.timeout_s), error_class=error_class,
        success=bool(outcome.get("success")) if counts_against_form(error_class) else None,
        final_output=output, spans=spans, outbox=deps.outbox, outcome=outcome,
        calls=calls.log,
    )


def _outcome(scenario: Scenario, result: OutcomeInput) -> dict[str, Any]:
    """A broken outcome check is recorded on the run, not allowed to stop the experiment.
    A run whose form guarded tools also records how many calls the guards refused."""
    guards = {"guard_refusals": len(result.deps.guard_refusals)} if result.deps.guarded_tools \
        else {}
    try:
        return {**scenario.check_outcome(result), **guards}
    except Exception as exc:  # noqa: BLE001
        return {"success": False, "check_error": f"{type(exc).__name__}: {exc}", **guards}


def _error_message(error: BaseException | None, timeout_s: float) -> str | None:
    if error is None:
        return None
    if isinstance(error, TimeoutError):
        return f"run exceeded its {timeout_s:g} s timeout"
    if isinstance(error, asyncio.CancelledError):
        return "cancelled before it finished"
    return config.redact(str(error) or type(error).__name__)[:2000]
