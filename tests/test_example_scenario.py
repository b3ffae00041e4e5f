"""The docs/SCENARIOS.md example runs in both forms through the real runner and store.

The example lives under tests/ (so it does not show up in the dashboard); it is registered by
name with its agents folder, then run exactly as a shipped scenario is.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from pathlib import Path

import example_scenario
import pytest
from agents.testing import assistant_message, function_call

from orchlab import scenario as scenario_registry
from orchlab.running.runner import ExperimentSpec, run_experiment
from orchlab.store.store import Store
from orchlab.testing.scripted import scripted_backend

AGENTS_DIR = Path(__file__).parent / "example_agents"
BACKEND = scripted_backend({
    "greeter": lambda: [{"output": [assistant_message("Hello Ada, lovely to see you!")]}],
    "host": lambda: [
        {"output": [function_call("lookup_name", {"user_id": "u1"}, call_id="a")]},
        {"output": [function_call("greeter", {"input": "Greet Ada."}, call_id="b")]},
        {"output": [assistant_message("Hello Ada, lovely to see you!")]},
    ],
})


@pytest.fixture(autouse=True)
def registered() -> Iterator[None]:
    scenario_registry.register(
        dataclasses.replace(example_scenario.SCENARIO, agents_dir=AGENTS_DIR))
    yield
    scenario_registry.unregister("greeting")


@pytest.mark.parametrize(("form", "path", "llm_calls", "tool_calls"), [
    ("code", "lookup_name > greeter", 1, 1),
    ("llm", "host > lookup_name > greeter", 4, 2),
])
def test_example_runs_in_both_forms(
    store: Store, form: str, path: str, llm_calls: int, tool_calls: int
) -> None:
    spec = ExperimentSpec("greeting", forms=[form], inputs=["u1"], backend=BACKEND.id)
    result = run_experiment(spec, store, backend=BACKEND)
    row = store.load_runs([result.experiment_id]).iloc[0]
    assert row["status"] == "ok" and row["final_output"] == "Hello Ada, lovely to see you!"
    assert row["outcome"] == {"name_used": True, "success": True} and bool(row["success"])
    assert (row["path"], row["llm_calls"], row["tool_calls"]) == (path, llm_calls, tool_calls)


def test_example_outcome_fails_on_the_wrong_name(store: Store) -> None:
    spec = ExperimentSpec("greeting", forms=["code"], inputs=["u2"], backend=BACKEND.id)
    record = run_experiment(spec, store, backend=BACKEND).records[0]  # greeter still says Ada
    assert record.outcome == {"name_used": False, "success": False} and record.success is False


def test_docs_show_the_same_example() -> None:
    docs = (Path(__file__).parent.parent / "docs" / "SCENARIOS.md").read_text(encoding="utf-8")
    source = Path(example_scenario.__file__).read_text(encoding="utf-8")
    body = source[source.index("from agents import"):]
    assert body.strip() in docs
    for agent in ("greeter.md", "host.md"):
        text = (AGENTS_DIR / "greeting" / agent).read_text(encoding="utf-8")
        assert text.strip() in docs
