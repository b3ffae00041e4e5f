"""The scenario contract and the per-run environment flows get.

A scenario module (bundled in `scenarios/`, or in a folder of the user's: `discovery`)
exposes `SCENARIO = Scenario(...)`. Every one of its forms receives the same input and the
same FlowEnv (agents built on the same backend, the same tools), so the only thing that
differs between forms is who orchestrates.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from orchlab.core import forms
from orchlab.core.errors import InvalidPlan, ScenarioError, is_bad_reply
from orchlab.core.records import SpanRecord
from orchlab.scenario.judges import PairwiseJudge, RubricJudge
from orchlab.scenario.tools import Guard, RunDeps, budgeted, charge_tool_call, guard, record_output
from orchlab.scenario.tools import tool_failure as tool_failure

if TYPE_CHECKING:
    from agents import Agent, Tool
    from pydantic import BaseModel

DEFAULT_FORMS = ("code", "llm")
"""What an experiment runs unless it says otherwise: the two pure forms."""
DEFAULT_TOOL_BUDGET = 50
"""Tool calls a run may make unless its scenario or spec says otherwise (stops runaway loops)."""
NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]*")
"""What a scenario's name may be: it is also the name of its agents' folder."""
T = TypeVar("T")
P = TypeVar("P", bound="BaseModel")
__all__ = ["DEFAULT_FORMS", "FlowEnv", "Form", "OutcomeInput", "RunDeps", "Scenario",
           "ScenarioInput", "tool_failure"]


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
class OutcomeInput:
    """What an outcome check may look at: no LLM involved."""

    input: ScenarioInput
    """The input the run used."""
    form: str
    """The form id that ran (code, llm, plan, ...)."""
    final_output: str | None
    """What the flow returned (None if it failed)."""
    deps: RunDeps
    """Side effects: outbox, artifacts."""
    spans: list[SpanRecord]
    """The run's spans."""


Flow = Callable[[ScenarioInput, "FlowEnv"], Awaitable[str]]


@dataclass(frozen=True)
class Form:
    """One way to orchestrate a scenario: the data the runner, pages and exports go by."""

    id: str
    """Form id (code, llm, plan, guarded, router, handoff, or a plugin's own)."""
    family: str
    """Who decides what runs next: code, hybrid or llm (orchlab.core.forms.FAMILIES)."""
    description: str
    """One line: what this form does in this scenario."""
    flow: Flow
    """async (input, FlowEnv) -> the run's final output."""


@dataclass
class Scenario:
    """A scenario: inputs, tools, its forms and an LLM-free outcome check."""

    name: str
    """Registry name, e.g. sales_email."""
    description: str
    """One paragraph for the UI."""
    inputs: list[ScenarioInput]
    """Inputs, at least one."""
    tools: Callable[[], dict[str, Tool]]
    """Tool objects by name; the same objects may serve many runs at once, so a tool keeps no
    state of its own (a run's state lives in RunDeps)."""
    forms: list[Form]
    """The forms it can run, in the catalogue's order (code-driven first)."""
    check_outcome: Callable[[OutcomeInput], dict[str, Any]]
    """Outcome fields; must include `success` (bool): the scenario's rule held."""
    rule: str = ""
    """The rule `success` checks, in words, for flags in the UI."""
    tool_budget: int = DEFAULT_TOOL_BUDGET
    """Tool calls one run may make by default; a spec may override it."""
    agents_dir: Path | None = None
    """Folder holding `<name>/*.md` agent files; None: `agents/` beside the module that
    defines the scenario (discovery fills it in)."""
    input_model: type[BaseModel] | None = None
    """Checks and coerces each input's data (a file's rows too); undeclared keys are kept."""
    judges: list[RubricJudge | PairwiseJudge] = field(default_factory=list)
    """Judges of what its rule cannot check (`orchlab.scenario.judges`), run on stored runs by
    `orchlab judge`: rubric judges score one run, pairwise judges compare two forms' runs
    (`rubric_judges`, `pairwise_judges` pick one kind); none by default."""
    ground_truth: tuple[str, ...] = ()
    """Keys of an input's data that hold the case's ground truth (an answer key): shown to a
    judge that sees "ground_truth", left out of what one that sees "input" is shown. The
    forms' flows never read them."""

    def __post_init__(self) -> None:
        if not NAME.fullmatch(self.name):  # it names a folder, a store column and URL keys
            raise ScenarioError(f"Scenario name {self.name!r} must be letters, digits, _ and "
                                "-, starting with a letter or digit.")
        ids = [f.id for f in self.forms]
        if not ids or len(set(ids)) != len(ids):
            raise ScenarioError(f"Scenario {self.name!r} needs forms with distinct ids; got {ids}.")
        for form in self.forms:
            if form.family not in forms.FAMILIES:
                raise ScenarioError(f"Scenario {self.name!r}: form {form.id!r} has family "
                                    f"{form.family!r}; families: {', '.join(forms.FAMILIES)}.")
        names = [j.name for j in self.judges]
        if len(set(names)) != len(names):
            raise ScenarioError(f"Scenario {self.name!r} needs judges with distinct names; got "
                                f"{names}.")
        for judge in self.judges:
            if "ground_truth" in judge.sees and not self.ground_truth:
                raise ScenarioError(f"Scenario {self.name!r}: judge {judge.name!r} sees the "
                                    "ground truth, but the scenario names no ground_truth keys.")

    @property
    def agents_home(self) -> Path:
        """The folder holding `<name>/*.md`: `agents_dir`, which discovery and `register`
        make sure is set."""
        if self.agents_dir is None:
            raise ScenarioError(f"Scenario {self.name!r} has no agents_dir: load it through "
                                "orchlab.scenario.get_scenario, or set agents_dir.")
        return self.agents_dir

    @property
    def form_ids(self) -> list[str]:
        """Its form ids, as declared."""
        return [f.id for f in self.forms]

    def form(self, form_id: str) -> Form:
        """A form by id, or ScenarioError listing the scenario's forms."""
        for form in self.forms:
            if form.id == form_id:
                return form
        raise ScenarioError(f"Scenario {self.name!r} has no form {form_id!r}; forms: "
                            f"{', '.join(self.form_ids)}.")

    @property
    def rubric_judges(self) -> list[RubricJudge]:
        """Its judges that score one run (what labels, agreement and quality figures read)."""
        return [j for j in self.judges if isinstance(j, RubricJudge)]

    @property
    def pairwise_judges(self) -> list[PairwiseJudge]:
        """Its judges that compare two forms' runs of one input and repetition."""
        return [j for j in self.judges if isinstance(j, PairwiseJudge)]

    def judge(self, name: str) -> RubricJudge:
        """A rubric judge by name, or ScenarioError listing the scenario's rubric judges (a
        pairwise judge's name says how that one is asked)."""
        for judge in self.rubric_judges:
            if judge.name == name:
                return judge
        if any(j.name == name for j in self.pairwise_judges):
            raise ScenarioError(f"{name!r} is a pairwise judge of {self.name!r}: it compares "
                                f"two forms (orchlab judge --pairwise {name} --forms A,B).")
        known = ", ".join(j.name for j in self.rubric_judges) or "none"
        raise ScenarioError(f"Scenario {self.name!r} has no judge {name!r}; judges: {known}.")

    def pairwise_judge(self, name: str) -> PairwiseJudge:
        """A pairwise judge by name, or ScenarioError listing the scenario's pairwise
        judges."""
        for judge in self.pairwise_judges:
            if judge.name == name:
                return judge
        known = ", ".join(j.name for j in self.pairwise_judges) or "none"
        raise ScenarioError(f"Scenario {self.name!r} has no pairwise judge {name!r}; pairwise "
                            f"judges: {known}.")

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
    """What a flow gets for one run: built agents, the scenario's tools, the run context and
    turn limits."""

    def __init__(self, agents: dict[str, Agent[Any]], deps: RunDeps, max_turns: int,
                 tools: dict[str, Tool] | None = None) -> None:
        self.agents = agents
        self.deps = deps
        self.max_turns = max_turns
        self.tools = tools or {}

    async def run(self, agent: str | Agent[Any], prompt: str) -> str:
        """Run one agent (by name, or a variant from `guarded`) to its final output (one SDK
        task span in the run's trace)."""
        from agents import Runner

        chosen = self.agents[agent] if isinstance(agent, str) else agent
        result = await Runner.run(chosen, prompt, context=self.deps, max_turns=self.max_turns)
        return str(result.final_output)

    async def plan(self, agent_name: str, prompt: str, plan_type: type[P],
                   check: Callable[[P], list[str]] | None = None) -> P:
        """A typed plan from a planner agent (the SDK's `output_type`), checked by code before
        anything runs. A reply that is not a valid `plan_type`, or a plan `check` finds
        problems in, ends the run as `invalid_plan`; the accepted plan is kept in
        `deps.artifacts["plan"]` for the outcome check."""
        from agents import Runner

        agent = self.agents[agent_name].clone(output_type=plan_type)
        try:
            result = await Runner.run(agent, prompt, context=self.deps, max_turns=self.max_turns)
        except Exception as exc:  # a bad reply (live or replayed) is an invalid plan
            if not is_bad_reply(exc):
                raise
            raise InvalidPlan(f"{agent_name} returned no valid plan: {exc}") from exc
        plan = result.final_output
        if not isinstance(plan, plan_type):
            raise InvalidPlan(f"{agent_name} returned {type(plan).__name__}, not a plan.")
        problems = check(plan) if check else []
        if problems:
            raise InvalidPlan(f"{agent_name}'s plan was refused: {'; '.join(problems)}.")
        self.deps.artifacts["plan"] = plan.model_dump(mode="json")
        return plan

    def guarded(self, agent_name: str, guards: dict[str, Guard]) -> Agent[Any]:
        """The same agent (prompt, model, settings) with the named tools behind code guards.
        A guarded call is charged to the budget like any other, refused or not."""
        agent = self.agents[agent_name]
        unknown = set(guards) - {t.name for t in agent.tools} or set(guards) - set(self.tools)
        if unknown:
            raise ScenarioError(f"{agent_name} has no scenario tool {sorted(unknown)[0]!r} to "
                                "guard.")
        tools = [budgeted(guard(self.tools[t.name], guards[t.name])) if t.name in guards
                 else t for t in agent.tools]
        self.deps.guarded_tools.extend(sorted(guards))
        return agent.clone(tools=tools)

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
            record_output(self.deps, name, output)
        return output


async def _as_coroutine(awaitable: Awaitable[T]) -> T:
    return await awaitable
