"""The minimal scenario from docs/SCENARIOS.md, kept runnable: tests/test_example_scenario.py
runs both of its forms. A real scenario is a module `<name>.py` in a scenario folder, its agent
files in `agents/<name>/` beside the module; this one sits under tests/ (its agents in
tests/example_agents/) so it does not show up in the dashboard."""

from __future__ import annotations

from typing import Any

from agents import RunContextWrapper, function_tool

from orchlab.scenario import FlowEnv, Form, OutcomeInput, RunDeps, Scenario, ScenarioInput

NAMES = {"u1": "Ada", "u2": "Grace"}


def lookup_name_impl(deps: RunDeps, user_id: str) -> str:
    """The tool body, shared by both forms (code calls it through env.call_tool)."""
    return NAMES.get(user_id, "unknown user")


@function_tool(name_override="lookup_name")
def _lookup_name(ctx: RunContextWrapper[RunDeps], user_id: str) -> str:
    """Look up a user's first name.

    Args:
        user_id: The user's id, e.g. "u1".
    """
    return lookup_name_impl(ctx.context, user_id)


async def code_flow(item: ScenarioInput, env: FlowEnv) -> str:
    name = await env.call_tool("lookup_name", lookup_name_impl, user_id=item.data["user_id"])
    return await env.run("greeter", f"Greet {name}.")


async def llm_flow(item: ScenarioInput, env: FlowEnv) -> str:
    return await env.run("host", f"Greet user {item.data['user_id']}.")


def check_outcome(result: OutcomeInput) -> dict[str, Any]:
    name = NAMES[result.input.data["user_id"]]
    used = name in (result.final_output or "")
    return {"name_used": used, "success": used}


SCENARIO = Scenario(
    name="greeting",
    description="Greet a user by the first name a lookup tool returns.",
    inputs=[ScenarioInput("u1", "Ada", {"user_id": "u1"}),
            ScenarioInput("u2", "Grace", {"user_id": "u2"})],
    tools=lambda: {"lookup_name": _lookup_name},
    forms=[Form("code", "code", "Code looks the name up, the greeter writes.", code_flow),
           Form("llm", "llm", "A host agent with the lookup and the greeter as tools.",
                llm_flow)],
    check_outcome=check_outcome,
)
