"""Troubleshooting's forms beyond the two pure ones, on ScriptedModel: every form's exact path,
the keyword decision tree against every ticket, the plan's validation (an invalid plan runs no
tool), the escalation guard (a refusal is counted, the same script unguarded escalates twice),
and handoffs (the path's handoff step comes from the SDK's handoff span; a handoff to an agent
that does not exist is a classified failure)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from agents.agent_output import AgentOutputSchema
from agents.testing import function_call
from troubleshooting_scripts import (
    CODE_PATHS,
    LLM_PATH,
    PLAN_PATH,
    ROUTER_PATHS,
    SPECIALIST_STEPS,
    escalating_twice,
    plan_json,
    say,
    step,
    troubleshooting_backend,
)

from orchlab.core import forms
from orchlab.core.records import RunRecord
from orchlab.running.runner import ExperimentSpec, run_experiment
from orchlab.scenario import RunDeps, get_scenario
from orchlab.store.store import Store
from scenarios import _tickets
from scenarios import _troubleshooting_forms as tf

TICKETS = _tickets.tickets()
FORMS = ["code", "router", "plan", "guarded", "handoff", "llm"]
HANDOFF_PATH = f"triage > triage => network_agent > {SPECIALIST_STEPS}"


def run_forms(store: Store, ticket: str, form_ids: list[str], tool_budget: int | None = None,
              **kwargs: Any) -> dict[str, RunRecord]:
    spec = ExperimentSpec("troubleshooting", forms=form_ids, inputs=[ticket],
                          tool_budget=tool_budget)
    result = run_experiment(spec, store, backend=troubleshooting_backend(ticket, **kwargs))
    assert result.status == "completed"
    return {r.form: r for r in result.records}


# -- the catalogue ---------------------------------------------------------------------------

def test_forms_are_declared_in_catalogue_order_with_their_families() -> None:
    scenario = get_scenario("troubleshooting")
    assert scenario.form_ids == FORMS == forms.ordered(FORMS)
    assert {f.id: f.family for f in scenario.forms} == {
        p: forms.BY_ID[p].family for p in FORMS}
    assert "classifier front-end" in scenario.form("router").description


def test_the_plan_type_has_a_strict_json_schema() -> None:
    schema = AgentOutputSchema(tf.TicketPlan, strict_json_schema=True).json_schema()
    assert sorted(schema["required"]) == sorted(tf.TicketPlan.model_fields)
    assert schema["properties"]["category"]["enum"] == list(tf.CATEGORIES)
    assert schema["properties"]["checks"]["items"]["enum"] == list(_tickets.CHECKS)


# -- code: the keyword decision tree ---------------------------------------------------------

def test_keyword_rules_against_every_ticket() -> None:
    """The rules are code, so how well they route is a measured fact, not a hope."""
    routed = {tid: tf.classify_ticket(t["title"], t["description"]) for tid, t in TICKETS.items()}
    right = [tid for tid, (category, _) in routed.items()
             if category == TICKETS[tid]["expected_category"]]
    print(f"\nkeyword rules: {len(right)}/{len(TICKETS)} tickets routed to their category")
    assert all(parsed for _, parsed in routed.values())
    assert len(right) == len(TICKETS) == 10


@pytest.mark.parametrize(("title", "description", "expected"), [
    ("App crashes on login", "It closes when I sign in.", ("application", True)),
    ("Mail", "The mail app keeps asking for my password.", ("account", True)),
    ("Strange sign-in", "Sign-in requests I did not make.", ("security", True)),
    ("Help", "Something is odd with the blueprint.", ("other", False)),  # "print" is a word
    ("", "", ("other", False)),
])
def test_keyword_rules_go_in_order(title: str, description: str,
                                   expected: tuple[str, bool]) -> None:
    assert tf.classify_ticket(title, description) == expected


# -- every form on ScriptedModel -------------------------------------------------------------

def test_every_form_resolves_the_vpn_ticket(store: Store) -> None:
    records = run_forms(store, "T-101", FORMS)
    paths = {form: r.metrics.path for form, r in records.items()}
    assert paths == {"code": CODE_PATHS["T-101"], "router": ROUTER_PATHS["T-101"],
                     "plan": PLAN_PATH, "guarded": LLM_PATH, "handoff": HANDOFF_PATH,
                     "llm": LLM_PATH}
    for form, record in records.items():
        assert record.status == "ok", (form, record.error_message)
        assert record.outcome["success"] is True, (form, record.outcome)
        assert record.outcome["escalations"] == 0
        assert record.outcome["tool_calls"] == record.metrics.tool_calls
    calls = {form: r.outcome["tool_calls"] for form, r in records.items()}
    real = {form: r.outcome["real_tool_calls"] for form, r in records.items()}
    assert calls == {"code": 6, "router": 6, "plan": 3, "guarded": 6, "handoff": 3, "llm": 6}
    assert real == {"code": 6, "router": 6, "plan": 3, "guarded": 3, "handoff": 3, "llm": 3}
    categories = {form: r.outcome["category"] for form, r in records.items()}
    assert categories == {"code": "network", "router": "network", "plan": "network",
                          "guarded": None, "handoff": None, "llm": None}
    # only the form that guarded a tool records guard refusals
    assert records["guarded"].outcome["guard_refusals"] == 0
    assert all("guard_refusals" not in r.outcome for f, r in records.items() if f != "guarded")
    # llm calls: code only writes the answer; router and plan add one call in front
    assert records["code"].metrics.llm_calls == 1
    assert records["router"].metrics.llm_calls == records["plan"].metrics.llm_calls == 2


def test_plan_and_handoff_escalate_the_battery_ticket(store: Store) -> None:
    records = run_forms(store, "T-107", ["code", "router", "plan", "handoff"],
                        category="hardware")
    assert records["plan"].metrics.path == ("planner > parse_logs > run_diagnostic > "
                                            "search_kb > escalate > answer_writer")
    assert records["handoff"].metrics.path == (
        f"triage > triage => escalation_agent > {SPECIALIST_STEPS} > escalate")
    for form, record in records.items():
        assert record.outcome["escalations"] == 1, form
        assert record.outcome["success"] is True, (form, record.outcome)


# -- plan: validated before anything runs ----------------------------------------------------

@pytest.mark.parametrize(("reply", "problem"), [
    (plan_json("T-101", checks=[]), "1 to 3 checks, not 0"),
    (plan_json("T-101", checks=["clock_sync"] * 2), "checks repeat"),
    (plan_json("T-101", checks=["clock_sync", "dns_resolution", "disk_space",
                                "certificate_store"]), "not 4"),
    (plan_json("T-101", checks=["reboot_everything"]), "no valid plan"),  # not a CheckName
    (plan_json("T-101", category="plumbing"), "no valid plan"),
    (plan_json("T-101", kb_query="  "), "kb_query is empty"),
    (plan_json("T-101", escalate=True, escalation_reason=""), "without an escalation_reason"),
    ("First I would check the clock, then the KB.", "no valid plan"),  # not JSON
    (json.dumps({"category": "network"}), "no valid plan"),  # fields missing
])
def test_an_invalid_plan_runs_no_tool(store: Store, reply: str, problem: str) -> None:
    record = run_forms(store, "T-101", ["plan"], planner=say(reply))["plan"]
    assert (record.status, record.error_class) == ("error", "invalid_plan")
    assert problem in (record.error_message or "")
    assert record.metrics.path == "planner" and record.metrics.tool_calls == 0
    assert record.outcome["tool_calls"] == 0 and record.outcome["success"] is False


def test_a_plan_over_the_runs_tool_budget_is_refused(store: Store) -> None:
    record = run_forms(store, "T-101", ["plan"], tool_budget=2)["plan"]
    assert (record.status, record.error_class) == ("error", "invalid_plan")
    assert "needs 3 tool calls and the run has 2 left" in (record.error_message or "")
    assert record.metrics.tool_calls == 0


def test_check_plan_counts_what_the_plan_would_call() -> None:
    plan = tf.TicketPlan.model_validate_json(plan_json("T-107", "hardware"))
    assert tf.planned_tool_calls(plan) == 4  # logs, one check, KB, escalate
    assert tf.check_plan(plan, RunDeps(tool_budget=4)) == []
    assert tf.check_plan(plan, RunDeps(tool_budget=4, tool_calls=1)) == [
        "it needs 4 tool calls and the run has 3 left"]


# -- guarded: the escalation contract --------------------------------------------------------

@pytest.mark.parametrize(("reason", "allowed"), [
    ("safety_risk: swollen battery", True), ("Security incident, approved MFA", True),
    ("HARDWARE-REPAIR", True), ("physical safety risk", False), ("support policy", False),
    ("", False),
])
def test_escalation_guard_accepts_only_the_listed_reasons(reason: str, allowed: bool) -> None:
    refusal = tf.escalation_guard(RunDeps(), {"ticket": "T-107", "reason": reason})
    assert (refusal is None) is allowed
    if refusal:  # one sentence naming every allowed reason
        assert refusal.count(".") == 1 and refusal.endswith(".")
        assert all(r in refusal for r in tf.ESCALATION_REASONS)


def test_guard_refuses_a_reason_outside_the_list(store: Store) -> None:
    script = escalating_twice("T-107", ("support policy", "safety_risk: the battery is swollen"))
    records = run_forms(store, "T-107", ["guarded", "llm"], troubleshooter=script)
    guarded, llm = records["guarded"], records["llm"]
    for record in records.values():
        assert record.status == "ok", record.error_message
        assert record.metrics.path == f"{LLM_PATH} > escalate > escalate"
        assert record.outcome["tool_calls"] == 8  # a refused call is charged too
    assert guarded.outcome["guard_refusals"] == 1 and guarded.outcome["escalations"] == 1
    assert guarded.outcome["success"] is True, guarded.outcome
    refused = [s for s in guarded.spans if s.kind == "function" and s.name == "escalate"]
    assert [bool(s.error) for s in refused] == [True, False]
    assert "Refused by a guard in code: escalate needs a reason" in (refused[0].output or "")
    assert llm.outcome["escalations"] == 2 and "guard_refusals" not in llm.outcome


def test_guard_refuses_the_default_troubleshooters_free_text_reason(store: Store) -> None:
    """The escalate tool's schema says only `reason: str` in both forms: a reason in words the
    list does not start with is refused, and the ticket is not escalated."""
    record = run_forms(store, "T-107", ["guarded"], category="hardware")["guarded"]
    assert record.metrics.path == f"{LLM_PATH} > escalate"
    assert record.outcome["guard_refusals"] == 1 and record.outcome["escalations"] == 0
    assert record.outcome["escalation_correct"] is False


# -- handoff: the SDK's handoffs -------------------------------------------------------------

def test_the_handoff_step_comes_from_the_sdks_handoff_span(store: Store) -> None:
    record = run_forms(store, "T-101", ["handoff"])["handoff"]
    handoffs = [s for s in record.spans if s.kind == "handoff"]
    assert [s.name for s in handoffs] == ["triage => network_agent"]
    steps = record.metrics.path_steps
    assert [(s["name"], s["kind"]) for s in steps] == [("triage", "agent")]
    handoff = steps[0]["steps"][0]
    assert (handoff["name"], handoff["kind"]) == ("triage => network_agent", "handoff")
    assert [s["name"] for s in handoff["steps"]] == SPECIALIST_STEPS.split(" > ")
    assert record.metrics.per_agent["network_agent"]["llm_calls"] == 4


def test_a_handoff_to_an_unknown_agent_is_a_classified_failure(store: Store) -> None:
    def nobody() -> list[Any]:
        return [step([function_call("transfer_to_nobody", {}, call_id="h1")])]

    record = run_forms(store, "T-101", ["handoff"], triage=nobody)["handoff"]
    assert (record.status, record.error_class) == ("error", "unknown_tool")
    assert "transfer_to_nobody" in (record.error_message or "")
    assert record.metrics.path == "triage" and record.outcome["success"] is False
