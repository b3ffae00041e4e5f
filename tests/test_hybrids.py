"""The hybrid-form helpers (`orchlab.scenario.hybrids`) on a small scenario of their own, run
on scripted models through the runner: each helper's flow takes the path its form promises,
and the evaluator-optimizer loop keeps its bounds and its record whatever the evaluator says.
(sales_email's refine form is tests/test_refine.py.)"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import example_scenario
import pytest
from agents.exceptions import ModelBehaviorError
from agents.testing import assistant_message, function_call
from pydantic import BaseModel

from orchlab import scenario as scenario_registry
from orchlab.core.errors import ReplayedFailure, ScenarioError
from orchlab.core.records import OutboxMessage, RunRecord
from orchlab.running.runner import ExperimentSpec, run_experiment
from orchlab.scenario import (
    Draft,
    FlowEnv,
    Form,
    OutcomeInput,
    Refinement,
    RunDeps,
    ScenarioInput,
    Verdict,
    evaluator_optimizer,
    guarded_orchestrator,
    orchestrator,
    plan_then_execute,
)
from orchlab.store.store import Store
from orchlab.testing.scripted import scripted_backend

NAME = "hybrid_greeting"
AGENTS = {
    "greeter": "---\nname: greeter\ndescription: Greets the person named.\n---\nGreet them.\n",
    "host": "---\nname: host\ndescription: Looks names up, then greets.\ntools: [lookup_name, "
            "greeter]\n---\nLook the name up, then ask the greeter.\n",
    "namer": "---\nname: namer\ndescription: Plans which user to greet.\n---\nReturn a plan.\n",
    "writer": "---\nname: writer\ndescription: Drafts a greeting card.\n---\nWrite a card.\n",
    "judge": "---\nname: judge\ndescription: Judges a greeting card.\n---\nJudge the card.\n",
}
DRAFTS = ["Dear Ada, hello.", "Dear Ada, a warm hello from us all.",
          "Dear Ada, a warm hello and a happy birthday from us all!"]
FEEDBACK = ["Make it warmer.", "Mention her birthday."]


def prompt(item: ScenarioInput) -> str:
    return f"Greet user {item.data['user_id']} (hybrid helper prompt)."


class GreetPlan(BaseModel):
    user_id: str
    """Which user to look up."""


async def greet_planned(item: ScenarioInput, env: FlowEnv, plan: GreetPlan) -> str:
    name = await env.call_tool("lookup_name", example_scenario.lookup_name_impl,
                               user_id=plan.user_id)
    return await env.run("greeter", f"Greet {name}.")


def the_inputs_user(plan: GreetPlan, item: ScenarioInput, env: FlowEnv) -> list[str]:
    """A check that needs the input and the run, not only the plan."""
    problems = [] if plan.user_id == item.data["user_id"] else [
        f"user {plan.user_id!r} is not the input's"]
    if env.deps.tool_calls:
        problems.append("a tool ran before the plan was accepted")
    return problems


def one_lookup(deps: RunDeps, args: dict[str, Any]) -> str | None:
    return "one lookup per run" if deps.tool_outputs.get("lookup_name") else None


def only_the_inputs_user(item: ScenarioInput) -> dict[str, Any]:
    def check(deps: RunDeps, args: dict[str, Any]) -> str | None:
        return None if args.get("user_id") == item.data["user_id"] else "not this input's user"

    return {"lookup_name": check}


async def first_draft(item: ScenarioInput, env: FlowEnv) -> Draft:
    return Draft(await env.run("writer", prompt(item)), "writer")


def judge_prompt(item: ScenarioInput, draft: Draft) -> str:
    return f"Judge this card for {item.data['user_id']}:\n{draft.text}"


def revise_prompt(item: ScenarioInput, draft: Draft, feedback: str) -> str:
    return f"Your card:\n{draft.text}\nFeedback: {feedback}\nRevise it."


def post_impl(deps: RunDeps, text: str) -> str:
    deps.outbox.append(OutboxMessage(to="ada@example.test", subject="card", body=text))
    return "posted"


async def post(item: ScenarioInput, env: FlowEnv, draft: Draft) -> str:
    await env.call_tool("post", post_impl, text=draft.text)
    return draft.text


def refine(max_rounds: int = 3) -> Any:
    return evaluator_optimizer(first_draft, "judge", judge_prompt, revise_prompt, post,
                               max_rounds=max_rounds)


def check_outcome(result: OutcomeInput) -> dict[str, Any]:
    """What the helpers recorded, for the tests to read."""
    loop = Refinement.of(result.deps)
    return {"success": result.final_output is not None,
            "posted": [m.body for m in result.deps.outbox],
            "plan": result.deps.artifacts.get("plan"),
            "loop": dataclasses.asdict(loop) if loop else None}


FORMS = [
    Form("plan", "hybrid", "plan_then_execute with a check.",
         plan_then_execute("namer", prompt, GreetPlan, greet_planned, check=the_inputs_user)),
    Form("refine", "hybrid", "evaluator_optimizer, 3 rounds.", refine()),
    Form("guarded", "hybrid", "guarded_orchestrator, one guard map.",
         guarded_orchestrator("host", {"lookup_name": one_lookup}, prompt)),
    Form("llm", "llm", "orchestrator.", orchestrator("host", prompt)),
    Form("plan_unchecked", "hybrid", "plan_then_execute with no check.",
         plan_then_execute("namer", prompt, GreetPlan, greet_planned)),
    Form("guarded_per_input", "hybrid", "guarded_orchestrator, guards built per input.",
         guarded_orchestrator("host", only_the_inputs_user, prompt)),
    Form("refine_once", "hybrid", "evaluator_optimizer, 1 round.", refine(max_rounds=1)),
]


@pytest.fixture(autouse=True)
def registered(tmp_path: Path) -> Iterator[None]:
    folder = tmp_path / "agents" / NAME
    folder.mkdir(parents=True)
    for name, text in AGENTS.items():
        (folder / f"{name}.md").write_text(text, encoding="utf-8")
    scenario_registry.register(dataclasses.replace(
        example_scenario.SCENARIO, name=NAME, agents_dir=tmp_path / "agents", forms=FORMS,
        check_outcome=check_outcome))
    yield
    scenario_registry.unregister(NAME)


def say(*texts: str) -> Any:
    return lambda: [{"output": [assistant_message(t)]} for t in texts]


def verdicts(*replies: dict[str, Any] | str | Exception) -> Any:
    """A judge answering each round in turn: a verdict, raw text, or a model failure."""
    def script() -> list[Any]:
        return [r if isinstance(r, Exception) else
                {"output": [assistant_message(r if isinstance(r, str) else json.dumps(r))]}
                for r in replies]
    return script


def passed() -> dict[str, Any]:
    return {"feedback": "", "passed": True}


def failed(feedback: str) -> dict[str, Any]:
    return {"feedback": feedback, "passed": False}


def run(store: Store, form: str, **scripts: Any) -> RunRecord:
    backend = scripted_backend({**{n: say("unused") for n in AGENTS},
                                "greeter": say("Hello Ada!"), "writer": say(*DRAFTS),
                                **scripts})
    spec = ExperimentSpec(NAME, forms=[form], inputs=["u1"], backend="scripted:test")
    [record] = run_experiment(spec, store, backend=backend).records
    return record


def inputs_of(record: RunRecord, agent: str) -> list[str]:
    return [s.input or "" for s in record.spans if s.kind == "generation" and s.agent == agent]


# -- orchestrator ------------------------------------------------------------------------------

def test_orchestrator_runs_its_agent_on_the_prompt_and_the_agent_decides(store: Store) -> None:
    host = lambda: [  # noqa: E731
        {"output": [function_call("lookup_name", {"user_id": "u1"}, call_id="l")]},
        {"output": [function_call("greeter", {"input": "Ada"}, call_id="g")]},
        {"output": [assistant_message("Hello Ada!")]}]
    record = run(store, "llm", host=host)
    assert record.status == "ok", record.error_message
    assert record.metrics.path == "host > lookup_name > greeter"
    assert "(hybrid helper prompt)" in inputs_of(record, "host")[0]
    assert record.final_output == "Hello Ada!"
    assert "guard_refusals" not in record.outcome


# -- plan_then_execute -------------------------------------------------------------------------

def test_an_accepted_plan_reaches_the_executor_and_is_kept(store: Store) -> None:
    record = run(store, "plan", namer=say(json.dumps({"user_id": "u1"})))
    assert record.status == "ok", record.error_message
    assert record.metrics.path == "namer > lookup_name > greeter"
    assert record.outcome["plan"] == {"user_id": "u1"}
    [lookup] = [s for s in record.spans if s.kind == "function"]
    assert json.loads(lookup.input or "{}") == {"user_id": "u1"} and lookup.output == "Ada"
    assert record.metrics.llm_calls == 2 and record.metrics.tool_calls == 1


def test_the_check_sees_the_input_and_the_run_and_stops_the_plan(store: Store) -> None:
    record = run(store, "plan", namer=say(json.dumps({"user_id": "u2"})))
    assert (record.status, record.error_class) == ("error", "invalid_plan")
    assert "user 'u2' is not the input's" in (record.error_message or "")
    assert record.metrics.path == "namer"
    assert record.metrics.tool_calls == 0 and record.outcome["plan"] is None


def test_with_no_check_any_plan_of_the_type_runs(store: Store) -> None:
    record = run(store, "plan_unchecked", namer=say(json.dumps({"user_id": "u2"})))
    assert record.status == "ok", record.error_message
    assert record.metrics.path == "namer > lookup_name > greeter"
    assert [s.output for s in record.spans if s.kind == "function"] == ["Grace"]


def test_a_reply_that_is_not_the_plan_type_is_an_invalid_plan(store: Store) -> None:
    record = run(store, "plan", namer=say("greet u1 please"))
    assert (record.status, record.error_class) == ("error", "invalid_plan")
    assert record.metrics.path == "namer"


# -- guarded_orchestrator ----------------------------------------------------------------------

def host_looking_up(*users: str) -> Any:
    return lambda: [
        *({"output": [function_call("lookup_name", {"user_id": u}, call_id=f"l{i}")]}
          for i, u in enumerate(users)),
        {"output": [assistant_message("Hello Ada!")]}]


def test_a_guard_map_puts_the_tool_behind_its_check(store: Store) -> None:
    record = run(store, "guarded", host=host_looking_up("u1", "u1"))
    assert record.status == "ok", record.error_message
    assert record.metrics.path == "host > lookup_name > lookup_name"
    assert record.outcome["guard_refusals"] == 1
    outputs = [s.output or "" for s in record.spans if s.name == "lookup_name"]
    assert outputs[0] == "Ada" and outputs[1].startswith("Refused by a guard in code: one lookup")
    assert "(hybrid helper prompt)" in inputs_of(record, "host")[0]


def test_guards_built_per_input_see_the_input(store: Store) -> None:
    record = run(store, "guarded_per_input", host=host_looking_up("u2", "u1"))
    assert record.status == "ok", record.error_message
    assert record.outcome["guard_refusals"] == 1
    outputs = [s.output or "" for s in record.spans if s.name == "lookup_name"]
    assert outputs[0].endswith("not this input's user") and outputs[1] == "Ada"
    assert record.metrics.tool_calls == 2  # the refused call is charged too


# -- evaluator_optimizer -----------------------------------------------------------------------

LOOP_3 = "writer > judge > writer > judge > writer > judge > post"


def test_a_first_draft_the_evaluator_passes_is_finished_at_once(store: Store) -> None:
    record = run(store, "refine", judge=verdicts(passed()))
    assert record.status == "ok", record.error_message
    assert record.metrics.path == "writer > judge > post"
    assert record.outcome["posted"] == [DRAFTS[0]] and record.final_output == DRAFTS[0]
    assert record.outcome["loop"] == {
        "max_rounds": 3, "rounds": 1, "revisions": 0, "passed": True, "feedback": [],
        "ended": "passed", "invalid_verdict": None}
    assert record.metrics.llm_calls == 2 and record.metrics.tool_calls == 1
    assert DRAFTS[0] in inputs_of(record, "judge")[0]


def test_feedback_goes_to_the_author_and_every_revision_is_judged(store: Store) -> None:
    judge = verdicts(failed(FEEDBACK[0]), failed(FEEDBACK[1]), passed())
    record = run(store, "refine", judge=judge)
    assert record.status == "ok", record.error_message
    assert record.metrics.path == LOOP_3
    writer, judged = inputs_of(record, "writer"), inputs_of(record, "judge")
    assert len(writer) == 3 and len(judged) == 3
    for number, feedback in enumerate(FEEDBACK, start=1):
        assert f"Feedback: {feedback}" in writer[number]  # the revision is asked with it
        assert DRAFTS[number - 1] in writer[number]  # of the draft it judged
        assert DRAFTS[number] in judged[number]  # and the revision is what is judged next
    assert record.outcome["posted"] == [DRAFTS[2]]
    assert record.outcome["loop"] == {
        "max_rounds": 3, "rounds": 3, "revisions": 2, "passed": True, "feedback": FEEDBACK,
        "ended": "passed", "invalid_verdict": None}


def test_at_the_round_limit_the_last_draft_is_finished_not_passed(store: Store) -> None:
    judge = verdicts(failed(FEEDBACK[0]), failed(FEEDBACK[1]), failed("Still too plain."))
    record = run(store, "refine", judge=judge)
    assert record.status == "ok", record.error_message
    assert record.metrics.path == LOOP_3  # no fourth verdict, no unjudged third revision
    assert record.outcome["posted"] == [DRAFTS[2]]
    assert record.outcome["loop"] == {
        "max_rounds": 3, "rounds": 3, "revisions": 2, "passed": False,
        "feedback": [*FEEDBACK, "Still too plain."], "ended": "round_limit",
        "invalid_verdict": None}


def test_one_round_means_no_revision(store: Store) -> None:
    record = run(store, "refine_once", judge=verdicts(failed(FEEDBACK[0])))
    assert record.status == "ok", record.error_message
    assert record.metrics.path == "writer > judge > post"
    assert record.outcome["loop"]["ended"] == "round_limit"
    assert record.outcome["loop"]["revisions"] == 0 and record.outcome["posted"] == [DRAFTS[0]]


INVALID = {
    "not-json": ("Lovely card, send it!", "returned no valid verdict"),
    "wrong-schema": (json.dumps({"score": "pass"}), "returned no valid verdict"),
    "fail-without-feedback": (json.dumps({"feedback": "  ", "passed": False}),
                              "failed the draft without feedback"),
    "cut-off": (ModelBehaviorError("Invalid JSON (the reply hit max_tokens=80)"),
                "hit max_tokens"),
    "replayed-cut-off": (ReplayedFailure("(replayed) Invalid JSON", "malformed_output"),
                         "(replayed) Invalid JSON"),
}


@pytest.mark.parametrize("reply,why", list(INVALID.values()), ids=list(INVALID))
def test_a_reply_that_is_no_verdict_ends_the_loop_as_not_passed(
        store: Store, reply: str | Exception, why: str) -> None:
    record = run(store, "refine", judge=verdicts(reply))
    assert record.status == "ok", record.error_message
    assert record.metrics.path == "writer > judge > post"
    assert record.outcome["posted"] == [DRAFTS[0]]  # the draft is still used, once
    loop = record.outcome["loop"]
    assert (loop["rounds"], loop["revisions"], loop["passed"], loop["ended"]) == (
        1, 0, False, "invalid_verdict")
    assert why in loop["invalid_verdict"] and loop["invalid_verdict"].startswith("judge ")


def test_an_invalid_verdict_after_feedback_keeps_the_revision(store: Store) -> None:
    record = run(store, "refine", judge=verdicts(failed(FEEDBACK[0]), "no idea"))
    assert record.status == "ok", record.error_message
    assert record.metrics.path == "writer > judge > writer > judge > post"
    assert record.outcome["posted"] == [DRAFTS[1]]
    loop = record.outcome["loop"]
    assert (loop["rounds"], loop["revisions"], loop["feedback"], loop["ended"]) == (
        2, 1, [FEEDBACK[0]], "invalid_verdict")


def test_a_model_failure_that_is_not_about_the_reply_still_ends_the_run(store: Store) -> None:
    record = run(store, "refine", judge=verdicts(ReplayedFailure("(replayed) 429", "rate_limited")))
    assert (record.status, record.error_class) == ("error", "rate_limited")
    assert record.outcome["posted"] == []
    assert record.outcome["loop"]["rounds"] == 1 and record.outcome["loop"]["ended"] is None


def test_the_loop_needs_a_round() -> None:
    with pytest.raises(ScenarioError, match="max_rounds >= 1, not 0"):
        refine(max_rounds=0)


def test_the_verdict_schema_is_strict_and_reasons_first() -> None:
    schema = Verdict.model_json_schema()
    assert list(schema["properties"]) == ["feedback", "passed"]
    assert schema["required"] == ["feedback", "passed"]


def test_a_run_without_a_loop_has_no_refinement() -> None:
    assert Refinement.of(RunDeps()) is None
    assert Refinement.of(RunDeps(artifacts={"refinement": {"rounds": 1}})) is None
    record = Refinement(max_rounds=2)
    assert Refinement.of(RunDeps(artifacts={"refinement": record})) is record
