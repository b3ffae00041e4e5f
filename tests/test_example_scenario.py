"""The docs/SCENARIOS.md example runs in both forms, the way the runner runs a scenario.

The runner only loads agents from `agents/<scenario>/` and scenarios from `scenarios/`, so the
example's flows run here directly: agents built from tests/example_agents, one trace per run,
spans from the recorder, path and outcome computed by the same functions the runner uses.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import example_scenario
import pytest
from agents import trace
from agents.testing import assistant_message, function_call
from agents.tracing import gen_trace_id

from orchlab.agentdefs import build_agents, load_scenario_agents
from orchlab.backends.scripted import scripted_backend
from orchlab.metrics import run_metrics
from orchlab.recorder import install_recorder
from orchlab.records import utcnow
from orchlab.scenario import FlowEnv, OutcomeInput, RunDeps

AGENTS_DIR = Path(__file__).parent / "example_agents"
SCENARIO = example_scenario.SCENARIO
BACKEND = scripted_backend({
    "greeter": lambda: [{"output": [assistant_message("Hello Ada, lovely to see you!")]}],
    "host": lambda: [
        {"output": [function_call("lookup_name", {"user_id": "u1"}, call_id="a")]},
        {"output": [function_call("greeter", {"input": "Greet Ada."}, call_id="b")]},
        {"output": [assistant_message("Hello Ada, lovely to see you!")]},
    ],
})


async def run_form(form: str, input_id: str = "u1") -> tuple[str, dict[str, Any], Any]:
    """One run as orchlab.runner.execute_run does it, minus the store."""
    defs = load_scenario_agents(SCENARIO.name, set(SCENARIO.tools()), agents_dir=AGENTS_DIR)
    env = FlowEnv(build_agents(defs, SCENARIO.tools(), BACKEND), RunDeps(), max_turns=5)
    recorder, run_id, started = install_recorder(), gen_trace_id(), utcnow()
    recorder.watch(run_id)
    item = SCENARIO.input(input_id)
    with trace(f"example:{form}", trace_id=run_id):
        output = await SCENARIO.flows[form](item, env)
    spans = recorder.collect(run_id, started, utcnow())
    outcome = SCENARIO.check_outcome(OutcomeInput(item, form, output, env.deps, spans))
    return output, outcome, run_metrics(spans, BACKEND.id)


@pytest.mark.parametrize(("form", "path", "llm_calls"), [
    ("code", "lookup_name > greeter", 1),
    ("llm", "host > lookup_name > greeter", 4),
])
def test_example_runs_in_both_forms(form: str, path: str, llm_calls: int) -> None:
    output, outcome, metrics = asyncio.run(run_form(form))
    assert output == "Hello Ada, lovely to see you!"
    assert outcome == {"name_used": True, "success": True}
    assert (metrics.path, metrics.llm_calls, metrics.tool_calls) == (path, llm_calls, 2 if
                                                                      form == "llm" else 1)


def test_example_outcome_fails_on_the_wrong_name() -> None:
    _, outcome, _ = asyncio.run(run_form("code", input_id="u2"))  # greeter still says Ada
    assert outcome == {"name_used": False, "success": False}


def test_docs_show_the_same_example() -> None:
    docs = (Path(__file__).parent.parent / "docs" / "SCENARIOS.md").read_text(encoding="utf-8")
    source = Path(example_scenario.__file__).read_text(encoding="utf-8")
    body = source[source.index("from agents import"):]
    assert body.strip() in docs
    for agent in ("greeter.md", "host.md"):
        text = (AGENTS_DIR / "greeting" / agent).read_text(encoding="utf-8")
        assert text.strip() in docs
