"""Flows built from a scenario's parts: the usual hybrid forms in a few lines each.

Whoever has written a code flow and an orchestrator agent already holds the parts of the hybrid
forms: the agent files, the tool bodies, a typed plan and the steps that carry it out. These
helpers assemble them the way the bundled scenarios do, so that a form id means the same thing
in every scenario (`orchlab.core.forms` gives each id one label and one Learn-page text) and a
new form is one line in `forms=[...]`:

- `orchestrator`: the agent whose file lists the other agents and tools decides (llm, handoff).
- `plan_then_execute`: a planner's typed plan, checked by code, carried out by code (plan).
- `guarded_orchestrator`: the same orchestrator with tools behind code guards (guarded).
- `evaluator_optimizer`: a worker drafts, an evaluator agent passes the draft or gives
  feedback, code loops a bounded number of rounds, then a finishing step in code (refine).
  The SDK's own guidance for this pattern is its `examples/agent_patterns/llm_as_a_judge.py`,
  which loops until the judge is satisfied; here code bounds the loop and records it.

Each helper returns a Flow, `async (ScenarioInput, FlowEnv) -> str`, so a form can still be
written by hand when it fits none of them.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, TypeVar

from pydantic import BaseModel

from orchlab.core.errors import ScenarioError, is_bad_reply
from orchlab.scenario.contract import Flow, FlowEnv, ScenarioInput
from orchlab.scenario.tools import Guard, RunDeps

if TYPE_CHECKING:
    from agents import Agent

P = TypeVar("P", bound=BaseModel)

__all__ = ["REFINEMENT", "Draft", "Refinement", "Verdict", "evaluator_optimizer",
           "guarded_orchestrator", "orchestrator", "plan_then_execute"]

Prompt = Callable[[ScenarioInput], str]
"""What an agent is asked for one input (e.g. the scenario's brief of it)."""
Guards = Mapping[str, Guard] | Callable[[ScenarioInput], Mapping[str, Guard]]
"""A guard per tool name, or a function building them for one input (a guard that compares
a call with the input, such as an email's recipient)."""
REFINEMENT = "refinement"
"""RunDeps.artifacts key under which `evaluator_optimizer` keeps its `Refinement`."""


def orchestrator(agent: str, prompt: Prompt) -> Flow:
    """The LLM decides: one agent, given the other agents and tools in its own file (as tools,
    or as handoffs), runs the whole input.

    A helper for a one-liner, because the llm and handoff forms of every scenario must be
    exactly this and nothing more: code that did anything around the agent would no longer be
    the LLM-orchestrated baseline the other forms are compared with.
    """

    async def flow(item: ScenarioInput, env: FlowEnv) -> str:
        return await env.run(agent, prompt(item))

    return flow


def plan_then_execute(
    planner: str,
    prompt: Prompt,
    plan_type: type[P],
    execute: Callable[[ScenarioInput, FlowEnv, P], Awaitable[str]],
    check: Callable[[P, ScenarioInput, FlowEnv], list[str]] | None = None,
) -> Flow:
    """The planner decides the steps once, as a `plan_type` (a pydantic model, every field
    required for the SDK's strict schema); nothing runs until code has accepted the plan, and
    then only `execute` (code) acts on it.

    `check` gets the input and the env as well as the plan, because what makes a plan wrong
    is often the input's (a city that is not the question's) or the run's (more tool calls than
    the budget has left). A plan that is not a `plan_type`, or that `check` lists problems in,
    ends the run as `invalid_plan` (FlowEnv.plan) before anything acts.
    """

    async def flow(item: ScenarioInput, env: FlowEnv) -> str:
        def problems(plan: P) -> list[str]:
            return check(plan, item, env) if check is not None else []

        plan = await env.plan(planner, prompt(item), plan_type, problems)
        return await execute(item, env, plan)

    return flow


def guarded_orchestrator(agent: str, guards: Guards, prompt: Prompt) -> Flow:
    """The LLM form's orchestrator, unchanged (prompt, model, settings, tools), with the named
    tools behind code guards: the LLM keeps deciding, inside a contract code enforces.

    Guards may be built per input because a contract often names it (only this prospect's
    address, only this ticket). A refused call never runs; the model reads the refusal, and
    the run's outcome gets `guard_refusals` (FlowEnv.guarded).
    """

    async def flow(item: ScenarioInput, env: FlowEnv) -> str:
        chosen = guards if isinstance(guards, Mapping) else guards(item)
        return await env.run(env.guarded(agent, dict(chosen)), prompt(item))

    return flow


class Verdict(BaseModel):
    """An evaluator's answer, as the SDK's `output_type` reads it (every field required: the
    strict JSON schema needs that). Feedback comes first so a model writes its reasons before
    its decision."""

    feedback: str
    """What the worker should change; may be empty when the draft passes."""
    passed: bool
    """The draft is good enough to finish with."""


@dataclass(frozen=True)
class Draft:
    """A worker's draft, and who revises it when the evaluator gives feedback."""

    text: str
    """What the worker wrote."""
    author: str
    """The agent that wrote it: it is asked for each revision."""


Ended = Literal["passed", "round_limit", "invalid_verdict"]


@dataclass
class Refinement:
    """What one run's evaluator-optimizer loop did (`deps.artifacts[REFINEMENT]`), kept up to
    date round by round, so a run that fails mid-loop still shows how far it got."""

    max_rounds: int
    """The most evaluations the loop allowed."""
    rounds: int = 0
    """Evaluator calls made (one per round), an invalid reply included."""
    revisions: int = 0
    """Drafts the worker revised with feedback."""
    passed: bool = False
    """The evaluator passed the draft the loop finished with."""
    feedback: list[str] = field(default_factory=list)
    """The feedback of each round that did not pass, in order."""
    ended: Ended | None = None
    """Why the loop stopped; None while it runs (or when the run failed inside it)."""
    invalid_verdict: str | None = None
    """Why the evaluator's last reply was no verdict, when it was not."""

    @staticmethod
    def of(deps: RunDeps) -> Refinement | None:
        """The run's loop record, for an outcome check; None when no loop ran."""
        found = deps.artifacts.get(REFINEMENT)
        return found if isinstance(found, Refinement) else None


def evaluator_optimizer(
    first_draft: Callable[[ScenarioInput, FlowEnv], Awaitable[Draft]],
    evaluator: str,
    evaluation_prompt: Callable[[ScenarioInput, Draft], str],
    revision_prompt: Callable[[ScenarioInput, Draft, str], str],
    finish: Callable[[ScenarioInput, FlowEnv, Draft], Awaitable[str]],
    max_rounds: int = 3,
) -> Flow:
    """A worker drafts (`first_draft`, code), the `evaluator` agent passes the draft or gives
    feedback (a `Verdict`), the draft's author revises with that feedback, and code repeats
    this for at most `max_rounds` evaluations before `finish` (code) acts on the last draft.

    Code owns the loop and the consequential step, so the LLM decides only "good enough yet?":
    the loop is bounded, and whatever the evaluator says, `finish` runs exactly once.

    - A round is one evaluation. Every revision is evaluated, so the loop makes at most
      `max_rounds - 1` revisions and `finish` gets a draft the evaluator has seen.
    - At the round limit the last draft is used as it is and `passed` stays False: the draft
      the evaluator never passed still goes out, and the record says so for the outcome check.
    - A reply that is not a valid verdict (the SDK's ModelBehaviorError: not JSON, not the
      schema, cut off at max_tokens; or a fail with no feedback to act on) ends the loop as
      "not passed": the current draft is used, `ended` is "invalid_verdict" and
      `invalid_verdict` says why. Unlike an invalid plan (which stops the run before anything
      acts), the draft is already valid work; an evaluator that cannot answer only loses its
      say, as a reviewer who does not reply would.

    The loop's record is a `Refinement` in `env.deps.artifacts[REFINEMENT]`.
    """
    if max_rounds < 1:
        raise ScenarioError(f"evaluator_optimizer needs max_rounds >= 1, not {max_rounds}.")

    async def flow(item: ScenarioInput, env: FlowEnv) -> str:
        record = Refinement(max_rounds=max_rounds)
        env.deps.artifacts[REFINEMENT] = record
        draft = await first_draft(item, env)
        judge = env.agents[evaluator].clone(output_type=Verdict)
        while True:
            record.rounds += 1
            verdict, why_not = await _verdict(judge, evaluation_prompt(item, draft), env)
            if verdict is None:
                record.ended, record.invalid_verdict = "invalid_verdict", why_not
                break
            if verdict.passed:
                record.ended, record.passed = "passed", True
                break
            record.feedback.append(verdict.feedback)
            if record.rounds >= max_rounds:
                record.ended = "round_limit"
                break
            text = await env.run(draft.author, revision_prompt(item, draft, verdict.feedback))
            draft = Draft(text, draft.author)
            record.revisions += 1
        return await finish(item, env, draft)

    return flow


async def _verdict(judge: Agent[Any], prompt: str, env: FlowEnv) -> tuple[Verdict | None, str]:
    """The evaluator's verdict, or None and why its reply is none."""
    from agents import Runner

    try:
        result = await Runner.run(judge, prompt, context=env.deps, max_turns=env.max_turns)
    except Exception as exc:  # a bad reply is data here; anything else ends the run
        if not is_bad_reply(exc):
            raise
        return None, f"{judge.name} returned no valid verdict: {exc}"
    verdict = result.final_output
    if not isinstance(verdict, Verdict):
        return None, f"{judge.name} returned {type(verdict).__name__}, not a verdict."
    if not verdict.passed and not verdict.feedback.strip():
        return None, f"{judge.name} failed the draft without feedback to revise with."
    return verdict, ""
