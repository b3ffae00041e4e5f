"""The scenario contract, the per-run environment flows get, and scenario discovery.

A scenario module in `scenarios/` exposes `SCENARIO = Scenario(...)`. Both of its flows receive
the same input and the same FlowEnv (agents built on the same backend), so the only thing that
differs between forms is who orchestrates.
"""

from __future__ import annotations

import asyncio
import importlib
import json
import pkgutil
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from orchlab.errors import RunEndingError, ScenarioError, ToolBudgetExceeded
from orchlab.records import OutboxMessage, SpanRecord

if TYPE_CHECKING:
    from agents import Agent, Tool

FORMS = ("code", "llm")
DEFAULT_TOOL_BUDGET = 50
"""Tool calls a run may make unless its scenario or spec says otherwise (stops runaway loops)."""
T = TypeVar("T")


def charge_tool_call(deps: RunDeps, tool: str) -> None:
    """Count one tool call against the run's budget: the one counter, for every tool call
    (agents called as tools included, as in the run's tool_calls), whoever orchestrates."""
    deps.tool_calls += 1
    if deps.tool_budget is not None and deps.tool_calls > deps.tool_budget:
        raise ToolBudgetExceeded(
            f"tool budget exceeded: call {deps.tool_calls} ({tool}) is over this run's budget "
            f"of {deps.tool_budget} tool calls")


def tool_failure(ctx: Any, error: Exception) -> str:
    """Tool failure handler: run-ending errors propagate, anything else goes to the model."""
    from agents import default_tool_error_function

    if isinstance(error, RunEndingError):
        raise error
    return default_tool_error_function(ctx, error)


@dataclass
class ScenarioInput:
    """One input a scenario can run on."""

    id: str
    """Short stable id, used on the CLI and in records."""
    label: str
    """Human-readable label for the UI."""
    data: dict[str, Any]
    """The payload the flows read."""


@dataclass
class RunDeps:
    """Per-run context handed to tools (as the SDK run context): where side effects land."""

    outbox: list[OutboxMessage] = field(default_factory=list)
    """Sandbox for send_email."""
    artifacts: dict[str, Any] = field(default_factory=dict)
    """Anything a flow wants the outcome check to see (e.g. drafts by writer)."""
    tool_budget: int | None = None
    """Most tool calls this run may make; None: unlimited."""
    tool_calls: int = 0
    """Tool calls charged so far."""


@dataclass
class OutcomeInput:
    """What an outcome check may look at: no LLM involved."""

    input: ScenarioInput
    """The input the run used."""
    form: str
    """code or llm."""
    final_output: str | None
    """What the flow returned (None if it failed)."""
    deps: RunDeps
    """Side effects: outbox, artifacts."""
    spans: list[SpanRecord]
    """The run's spans."""


Flow = Callable[[ScenarioInput, "FlowEnv"], Awaitable[str]]


@dataclass
class Scenario:
    """A scenario: inputs, tools, both flows and an LLM-free outcome check."""

    name: str
    """Registry name, e.g. sales_email."""
    description: str
    """One paragraph for the UI."""
    inputs: list[ScenarioInput]
    """Inputs, at least one."""
    tools: Callable[[], dict[str, Tool]]
    """Tool objects by name; the same objects may serve many runs at once, so a tool keeps no
    state of its own (a run's state lives in RunDeps)."""
    flows: dict[str, Flow]
    """Form name -> async flow."""
    check_outcome: Callable[[OutcomeInput], dict[str, Any]]
    """Outcome fields; must include `success` (bool): the scenario's rule held."""
    rule: str = ""
    """The rule `success` checks, in words, for flags in the UI."""
    tool_budget: int = DEFAULT_TOOL_BUDGET
    """Tool calls one run may make by default; a spec may override it."""
    agents_dir: Path | None = None
    """Folder holding `<name>/*.md` agent files; None: the project's `agents/`."""

    def input(self, input_id: str) -> ScenarioInput:
        """An input by id, or ScenarioError listing the valid ids."""
        for item in self.inputs:
            if item.id == input_id:
                return item
        raise ScenarioError(
            f"Scenario {self.name!r} has no input {input_id!r}; "
            f"inputs: {', '.join(i.id for i in self.inputs)}."
        )


class FlowEnv:
    """What a flow gets for one run: built agents, the run context and turn limits."""

    def __init__(self, agents: dict[str, Agent[Any]], deps: RunDeps, max_turns: int) -> None:
        self.agents = agents
        self.deps = deps
        self.max_turns = max_turns

    async def run(self, agent_name: str, prompt: str) -> str:
        """Run one agent to its final output (one SDK task span in the run's trace)."""
        from agents import Runner

        result = await Runner.run(
            self.agents[agent_name], prompt, context=self.deps, max_turns=self.max_turns
        )
        return str(result.final_output)

    async def gather(self, *aws: Awaitable[T]) -> list[T]:
        """Run concurrently as one parallel step; a failure cancels the siblings.

        Unlike asyncio.gather, no sibling keeps calling the model after the run has ended.
        """
        with self.parallel():
            try:
                async with asyncio.TaskGroup() as group:
                    tasks = [group.create_task(_as_coroutine(a)) for a in aws]
            except BaseExceptionGroup as failed:
                raise failed.exceptions[0] from None
        return [task.result() for task in tasks]

    @contextmanager
    def parallel(self) -> Iterator[None]:
        """Mark work started inside as parallel steps in the path signature."""
        from agents import custom_span

        with custom_span("parallel"):
            yield

    async def call_tool(self, name: str, fn: Callable[..., str], **kwargs: Any) -> str:
        """Call a tool from code, traced as a function span like an LLM's tool call.

        The body runs in a worker thread, as the SDK runs a synchronous function tool: a slow
        tool (a live weather API) must not stall the event loop, and both forms must pay for
        a tool the same way.
        """
        from agents import function_span

        with function_span(name, input=json.dumps(kwargs, ensure_ascii=False)) as span:
            charge_tool_call(self.deps, name)
            output = await asyncio.to_thread(fn, self.deps, **kwargs)
            span.span_data.output = output
        return output


async def _as_coroutine(awaitable: Awaitable[T]) -> T:
    return await awaitable


_REGISTERED: dict[str, Scenario] = {}


def register(scenario: Scenario) -> None:
    """Make a scenario defined outside the `scenarios` package (a plugin, a notebook, a test)
    runnable by name, exactly as a shipped one."""
    _REGISTERED[scenario.name] = scenario


def unregister(name: str) -> None:
    """Forget a registered scenario."""
    _REGISTERED.pop(name, None)


def discover() -> dict[str, Scenario]:
    """Every `SCENARIO` in the top-level `scenarios` package, and registered ones, by name."""
    import scenarios

    found: dict[str, Scenario] = dict(_REGISTERED)
    for module_info in pkgutil.iter_modules(scenarios.__path__):
        if module_info.name.startswith("_"):
            continue
        module = importlib.import_module(f"scenarios.{module_info.name}")
        scenario = getattr(module, "SCENARIO", None)
        if isinstance(scenario, Scenario):
            found[scenario.name] = scenario
    return found


def get_scenario(name: str) -> Scenario:
    """A scenario by name, or ScenarioError listing the valid names."""
    found = discover()
    if name not in found:
        raise ScenarioError(
            f"Unknown scenario {name!r}; scenarios: {', '.join(sorted(found)) or 'none'}."
        )
    return found[name]
