"""The form catalogue's machinery, on a small scenario of its own: guards, handoffs, plans and
the contract every scenario's forms keep (scenario-specific forms are tested per scenario)."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import example_scenario
import pytest
from agents.testing import assistant_message, function_call
from pydantic import BaseModel

from orchlab import scenario as scenario_registry
from orchlab.cli import main as cli
from orchlab.core import forms
from orchlab.core.errors import AgentDefError, ScenarioError, SpecError
from orchlab.present import figures
from orchlab.running.runner import ExperimentSpec, prepare, run_experiment
from orchlab.scenario import FlowEnv, Form, RunDeps, ScenarioInput, discover
from orchlab.scenario.agentdefs import load_scenario_agents
from orchlab.stats import analysis
from orchlab.store.store import Store
from orchlab.testing.scripted import scripted_backend

AGENTS = {
    "greeter": "---\nname: greeter\ndescription: Greets the person named.\n---\nGreet them.\n",
    "host": "---\nname: host\ndescription: Looks names up, then greets.\ntools: [lookup_name, "
            "greeter]\n---\nLook the name up, then ask the greeter.\n",
    "desk": "---\nname: desk\ndescription: Hands the guest to the greeter.\nhandoffs: "
            "[greeter]\n---\nHand over to the greeter.\n",
    "namer": "---\nname: namer\ndescription: Plans which user to greet.\n---\nReturn a plan.\n",
}


class GreetPlan(BaseModel):
    user_id: str
    """Which user to look up."""


def no_second_lookup(deps: RunDeps, args: dict[str, Any]) -> str | None:
    """The guard under test: one lookup per run."""
    return "one lookup per run" if deps.tool_outputs.get("lookup_name") else None


async def guarded_flow(item: ScenarioInput, env: FlowEnv) -> str:
    return await env.run(env.guarded("host", {"lookup_name": no_second_lookup}),
                         f"Greet user {item.data['user_id']}.")


async def handoff_flow(item: ScenarioInput, env: FlowEnv) -> str:
    return await env.run("desk", f"Greet user {item.data['user_id']}.")


async def plan_flow(item: ScenarioInput, env: FlowEnv) -> str:
    known = set(example_scenario.NAMES)
    plan = await env.plan("namer", "Who?", GreetPlan,
                          lambda p: [] if p.user_id in known else [f"no user {p.user_id!r}"])
    name = await env.call_tool("lookup_name", example_scenario.lookup_name_impl,
                               user_id=plan.user_id)
    return await env.run("greeter", f"Greet {name}.")


@pytest.fixture(autouse=True)
def registered(tmp_path: Path) -> Iterator[None]:
    folder = tmp_path / "agents" / "greeting"
    folder.mkdir(parents=True)
    for name, text in AGENTS.items():
        (folder / f"{name}.md").write_text(text, encoding="utf-8")
    base = example_scenario.SCENARIO
    scenario_registry.register(dataclasses.replace(
        base, agents_dir=tmp_path / "agents", forms=[
            base.form("code"),
            Form("plan", "hybrid", "A namer plans the lookup.", plan_flow),
            Form("guarded", "hybrid", "The host, one lookup per run.", guarded_flow),
            Form("handoff", "llm", "The desk hands over to the greeter.", handoff_flow),
            base.form("llm")]))
    yield
    scenario_registry.unregister("greeting")


def say(text: str) -> Any:
    return lambda: [{"output": [assistant_message(text)]}]


def run(store: Store, form: str, **scripts: Any) -> Any:
    backend = scripted_backend({**{n: say("unused") for n in AGENTS}, "greeter": say("Hello Ada!"),
                                **scripts})
    spec = ExperimentSpec("greeting", forms=[form], inputs=["u1"], backend="scripted:test")
    [record] = run_experiment(spec, store, backend=backend).records
    return record


def test_a_refused_call_never_runs_is_charged_and_counted(store: Store) -> None:
    looks = [function_call("lookup_name", {"user_id": "u1"}, call_id=f"l{i}") for i in range(3)]
    host = lambda: [{"output": [c]} for c in looks] + [  # noqa: E731
        {"output": [assistant_message("Hello Ada!")]}]
    record = run(store, "guarded", host=host)
    assert record.status == "ok", record.error_message
    assert record.outcome["guard_refusals"] == 2
    lookups = [s for s in record.spans if s.kind == "function" and s.name == "lookup_name"]
    assert [s.output for s in lookups][0] == "Ada"
    assert all(s.output.startswith("Refused by a guard in code: one lookup per run")
               and s.error for s in lookups[1:]), [(s.output, s.error) for s in lookups]
    assert record.metrics.tool_calls == 3  # refused calls are calls: the budget counts them


def test_a_guard_sees_the_calls_before_it_in_the_same_turn(store: Store) -> None:
    """The SDK runs one turn's calls concurrently: the guard must still let only one through."""
    looks = [function_call("lookup_name", {"user_id": "u1"}, call_id=f"l{i}") for i in range(3)]
    host = lambda: [{"output": looks}, {"output": [assistant_message("Hi Ada!")]}]  # noqa: E731
    record = run(store, "guarded", host=host)
    assert record.status == "ok", record.error_message
    outputs = sorted(s.output for s in record.spans if s.name == "lookup_name")
    assert outputs[0] == "Ada" and all(o.startswith("Refused") for o in outputs[1:]), outputs
    assert record.outcome["guard_refusals"] == 2


def test_only_guarded_forms_record_guard_refusals(store: Store) -> None:
    host = lambda: [  # noqa: E731
        {"output": [function_call("lookup_name", {"user_id": "u1"}, call_id="l")]},
        {"output": [assistant_message("Hello Ada!")]}]
    record = run(store, "llm", host=host)
    assert record.status == "ok", record.error_message
    assert "guard_refusals" not in record.outcome


def test_guarding_a_tool_the_agent_lacks_is_one_sentence() -> None:
    env = FlowEnv({}, RunDeps(), 3, {})
    prepared = prepare(ExperimentSpec("greeting"))
    from orchlab.scenario.agentdefs import build_agents

    env.agents = build_agents(prepared.defs, prepared.scenario.tools(),
                              scripted_backend({n: say("x") for n in AGENTS}))
    env.tools = prepared.scenario.tools()
    with pytest.raises(ScenarioError, match="host has no scenario tool 'send_email' to guard"):
        env.guarded("host", {"send_email": no_second_lookup})


def test_a_handoff_is_its_own_step_and_the_new_agent_continues_it(store: Store) -> None:
    record = run(store, "handoff",
                 desk=lambda: [{"output": [function_call("transfer_to_greeter", {}, call_id="h")]}])
    assert record.status == "ok", record.error_message
    assert [s.name for s in record.spans if s.kind == "handoff"] == ["desk => greeter"]
    assert record.metrics.path == "desk > desk => greeter"
    assert record.final_output == "Hello Ada!"


def test_a_handoff_to_an_unknown_agent_is_a_classified_record(store: Store) -> None:
    record = run(store, "handoff",
                 desk=lambda: [{"output": [function_call("transfer_to_nobody", {}, call_id="h")]}])
    assert (record.status, record.error_class) == ("error", "unknown_tool")
    assert "transfer_to_nobody" in record.error_message


def test_a_valid_plan_is_executed_and_kept(store: Store) -> None:
    record = run(store, "plan", namer=say(json.dumps({"user_id": "u1"})))
    assert record.status == "ok", record.error_message
    assert record.metrics.path == "namer > lookup_name > greeter"


@pytest.mark.parametrize("reply", ["not json at all", json.dumps({"user_id": "u9"}),
                                   json.dumps({"who": "u1"})])
def test_an_invalid_plan_ends_the_run_as_invalid_plan(store: Store, reply: str) -> None:
    record = run(store, "plan", namer=say(reply))
    assert (record.status, record.error_class) == ("error", "invalid_plan"), record.error_message
    assert not [s for s in record.spans if s.kind == "function"]  # nothing ran after it
    assert record.success is False


def test_handoffs_in_agent_files_must_name_another_agent(tmp_path: Path) -> None:
    folder = tmp_path / "greeting"
    folder.mkdir()
    (folder / "desk.md").write_text(AGENTS["desk"].replace("[greeter]", "[nobody]"))
    with pytest.raises(AgentDefError, match="field 'handoffs' names 'nobody'"):
        load_scenario_agents("greeting", set(), None, tmp_path)


def test_every_shipped_scenario_declares_its_forms_in_catalogue_order() -> None:
    for name, scenario in discover().items():
        assert {"code", "llm"} <= set(scenario.form_ids), name
        assert scenario.form_ids == forms.ordered(scenario.form_ids), name
        assert all(f.family in forms.FAMILIES and f.description for f in scenario.forms), name
        assert all(f.id in forms.BY_ID for f in scenario.forms), name


def test_a_form_the_scenario_lacks_is_one_sentence() -> None:
    with pytest.raises(SpecError, match=r"forms must be distinct forms of greeting \(code, plan, "
                                        r"guarded, handoff, llm\); got code, nope"):
        prepare(ExperimentSpec("greeting", forms=["code", "nope"]))
    with pytest.raises(SpecError, match="distinct"):
        prepare(ExperimentSpec("greeting", forms=["code", "code"]))


def test_the_cli_runs_all_forms_and_lists_them(capsys: pytest.CaptureFixture[str]) -> None:
    args = cli.build_parser().parse_args(["run", "--scenario", "greeting", "--forms", "all"])
    assert cli.spec_from_args(args).forms == ["code", "plan", "guarded", "handoff", "llm"]
    assert cli.main(["forms", "--scenario", "greeting"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "greeting" and out[2].split()[:2] == ["plan", "hybrid"]


def test_every_known_form_keeps_its_own_colour_whatever_else_is_shown() -> None:
    ids = [p.id for p in forms.PATTERNS]
    alone = {f: figures.group_colors([f])[f] for f in ids}
    together = figures.group_colors(ids)
    assert alone == together and len(set(together.values())) == len(ids)


def test_counts_per_run_average_whole_number_outcomes_over_the_runs_they_apply_to() -> None:
    import pandas as pd

    runs = pd.DataFrame({
        "form": ["llm", "llm", "guarded", "guarded"],
        "success": [True, None, True, False],
        "outcome": [{"emails_sent": 3, "ok": True}, {"emails_sent": 9},
                    {"emails_sent": 1, "guard_refusals": 2},
                    {"emails_sent": 1, "guard_refusals": 0}],
    })
    counts = analysis.outcome_counts(runs)
    rows = {(r.form, r.outcome): (r.mean, r.total, r.n) for r in counts.itertuples()}
    assert rows == {("guarded", "emails_sent"): (1.0, 2, 2),
                    ("guarded", "guard_refusals"): (1.0, 2, 2),
                    ("llm", "emails_sent"): (3.0, 3, 1)}
    assert list(counts["form"]) == ["guarded", "guarded", "llm"]  # catalogue order


def test_learn_has_one_section_per_pattern_each_linking_to_compare(app_env: Path) -> None:
    from apptest_pages import app_on

    at = app_on("views/learn.py")
    headings = [h.value for h in at.subheader]
    assert headings[:len(forms.PATTERNS)] == [
        f"{p.label[:1].upper()}{p.label[1:]} (`{p.id}`)" for p in forms.PATTERNS]
    links = [link.proto for link in at.get("page_link") if link.proto.page == "compare"]
    assert [link.query_string for link in links] == [f"form={p.id}" for p in forms.PATTERNS]


def test_a_link_to_a_form_opens_compare_on_an_experiment_that_ran_it(app_env: Path) -> None:
    from apptest_pages import APP
    from sales_scripts import sales_backend
    from streamlit.testing.v1 import AppTest

    store = Store(app_env)
    both = ExperimentSpec("sales_email", inputs=["dana-acme"], backend="scripted:sales")
    ran_llm = run_experiment(both, store, backend=sales_backend()).experiment_id
    newer = dataclasses.replace(both, forms=["code"])
    run_experiment(newer, store, backend=sales_backend())
    store.close()
    at = AppTest.from_file(APP, default_timeout=60)
    at.query_params["form"] = "llm"
    at.run()
    at.switch_page("views/compare.py").run()
    assert not at.exception, at.exception
    [chosen] = at.multiselect(key="compare_experiments_sales_email").value
    assert ran_llm[:8] in chosen
    assert at.expander[0].label == "LLM-orchestrated vs code-orchestrated"


def test_the_docs_tables_of_forms_are_the_scenarios_own() -> None:
    import re

    readme = (Path(__file__).parent.parent / "docs" / "SCENARIOS.md").read_text(encoding="utf-8")
    section = readme[readme.index("## Scenarios"):readme.index("Prompts live in")]
    for name in ("sales_email", "weather", "troubleshooting"):
        part = section[section.index(f"**{name}**"):]
        rows = re.findall(r"^\| `(\w+)` \| (\w+) \| (.+) \|$", part.split("\n\n**")[0], re.M)
        scenario = discover()[name]
        assert rows == [(f.id, f.family, f.description) for f in scenario.forms], name


def test_the_waterfall_draws_the_handoff(store: Store) -> None:
    record = run(store, "handoff",
                 desk=lambda: [{"output": [function_call("transfer_to_greeter", {}, call_id="h")]}])
    fig = figures.waterfall(record.spans)
    bars = {trace.name: list(trace.y) for trace in fig.data}
    assert any("handoff: desk => greeter" in label for label in bars["handoff"]), bars
