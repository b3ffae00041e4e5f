"""The sales scenario's hybrid forms on ScriptedModel: plan-then-execute and the guarded manager.

What is checked is what the forms promise: the plan form's path is the one code dictates from
the plan (an invalid plan stops it before anything is sent), and the guarded form's send_email
contract holds whatever the orchestrator tries (one email per run, only a writer's draft).
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from sales_scripts import (
    DRAFTS,
    EMPHASIS,
    PLANNER_USAGE,
    WRITER_USAGE,
    draft_body,
    expected_tokens,
    own_text_manager_script,
    planner_reply,
    planner_script,
    sales_backend,
    spamming_manager_script,
)

from orchlab.core.records import OutboxMessage, RunRecord
from orchlab.running.runner import ExperimentSpec, run_experiment
from orchlab.scenario.tools import RunDeps
from orchlab.store.store import Store
from scenarios.sales_email import SCENARIO, WRITERS, SalesPlan, send_guard

WRITERS_SET = "{concise_writer|humorous_writer|professional_writer}"
PLAN_PATH = f"planner > {WRITERS_SET} > picker > send_email"
GUARDED_PATH = f"sales_manager > {WRITERS_SET} > send_email"


def run_forms(store: Store, forms: list[str], **scripts: Any) -> dict[str, RunRecord]:
    """One run of each form on dana-acme, by form."""
    spec = ExperimentSpec("sales_email", forms=forms, inputs=["dana-acme"])
    result = run_experiment(spec, store, backend=sales_backend(**scripts))
    assert result.status == "completed"
    return {r.form: r for r in result.records}


def test_forms_in_catalogue_order_with_families() -> None:
    assert [(f.id, f.family) for f in SCENARIO.forms] == [
        ("code", "code"), ("plan", "hybrid"), ("refine", "hybrid"), ("guarded", "hybrid"),
        ("llm", "llm")]


def test_the_plan_type_offers_exactly_the_scenarios_writers() -> None:
    schema = SalesPlan.model_json_schema()
    assert schema["required"] == ["writers", "emphasis"]
    assert set(schema["properties"]["writers"]["items"]["enum"]) == set(WRITERS)


def test_plan_with_all_writers_takes_the_code_path_behind_the_planner(store: Store) -> None:
    record = run_forms(store, ["plan"])["plan"]
    assert record.status == "ok", record.error_message
    assert record.metrics.path == PLAN_PATH
    assert record.outcome["success"] is True
    assert record.outcome["picked"] == "humorous_writer"
    assert record.outcome["emails_sent"] == len(store.load_outbox(record.run_id)) == 1
    assert record.final_output == DRAFTS["humorous_writer"]
    writer_inputs = [s.input or "" for s in record.spans
                     if s.kind == "generation" and s.agent in WRITER_USAGE]
    assert len(writer_inputs) == 3 and all(EMPHASIS in text for text in writer_inputs)


def test_plan_token_totals_equal_the_scripted_usage(store: Store) -> None:
    record = run_forms(store, ["plan"])["plan"]
    assert (record.metrics.input_tokens, record.metrics.output_tokens) == expected_tokens("plan")
    assert record.metrics.per_agent["planner"]["input_tokens"] == PLANNER_USAGE[0]
    assert record.metrics.per_agent["planner"]["output_tokens"] == PLANNER_USAGE[1]
    assert record.metrics.llm_calls == 5  # planner, three writers, picker
    assert record.metrics.tool_calls == 1  # send_email, called by code


@pytest.mark.parametrize("writers,path,picked", [
    (["concise_writer"], "planner > concise_writer > send_email", "concise_writer"),
    (["concise_writer", "humorous_writer"],
     "planner > {concise_writer|humorous_writer} > picker > send_email", "humorous_writer"),
    # the picker names humorous, which was not planned: code falls back to the first planned
    (["professional_writer", "concise_writer"],
     "planner > {concise_writer|professional_writer} > picker > send_email",
     "professional_writer"),
])
def test_plan_with_fewer_writers_sends_one_email_and_fails_the_rule_honestly(
        store: Store, writers: list[str], path: str, picked: str) -> None:
    record = run_forms(store, ["plan"], planner=lambda: planner_script(writers))["plan"]
    assert record.status == "ok", record.error_message
    assert record.metrics.path == path
    assert record.outcome["emails_sent"] == 1
    assert record.outcome["picked"] == picked
    assert record.outcome["writers_consulted"] == len(writers)
    assert record.outcome["success"] is False


@pytest.mark.parametrize("reply", [
    json.dumps({"writers": ["poetic_writer"], "emphasis": "speed"}),
    json.dumps({"writers": [], "emphasis": "speed"}),
    json.dumps({"writers": ["concise_writer", "concise_writer"], "emphasis": "speed"}),
    json.dumps({"writers": ["concise_writer"], "emphasis": "   "}),
    json.dumps({"writers": ["concise_writer"], "emphasis": "speed " * 40}),
    json.dumps({"writers": ["concise_writer"]}),
    "Consult all three writers and stress speed.",
], ids=["unknown-writer", "no-writer", "duplicate", "empty-emphasis", "long-emphasis",
        "missing-field", "not-json"])
def test_an_invalid_plan_ends_as_invalid_plan_with_nothing_sent(store: Store, reply: str) -> None:
    record = run_forms(store, ["plan"], planner=lambda: planner_reply(reply))["plan"]
    assert (record.status, record.error_class) == ("error", "invalid_plan")
    assert record.error_message and "Traceback" not in record.error_message
    assert record.metrics.path == "planner"
    assert record.metrics.tool_calls == 0
    assert store.load_outbox(record.run_id) == []
    assert record.outcome["emails_sent"] == 0 and record.success is False


def test_guarded_takes_the_llm_path_when_the_manager_keeps_the_contract(store: Store) -> None:
    record = run_forms(store, ["guarded"])["guarded"]
    assert record.status == "ok", record.error_message
    assert record.metrics.path == GUARDED_PATH
    assert record.outcome["guard_refusals"] == 0
    assert record.outcome["picked"] == "humorous_writer"
    assert record.outcome["emails_sent"] == len(store.load_outbox(record.run_id)) == 1
    assert record.outcome["success"] is True


SPAM = {
    "three-drafts": [draft_body(w) for w in WRITER_USAGE],
    "one-draft-thrice": [draft_body("humorous_writer")] * 3,
}


@pytest.mark.parametrize("one_turn", [False, True], ids=["turn-each", "one-turn"])
@pytest.mark.parametrize("bodies", list(SPAM), ids=list(SPAM))
def test_three_sends_reach_the_outbox_only_without_the_guard(
        store: Store, bodies: str, one_turn: bool) -> None:
    manager = lambda: spamming_manager_script(SPAM[bodies], one_turn=one_turn)  # noqa: E731
    records = run_forms(store, ["plan", "guarded", "llm"], sales_manager=manager)
    for form, sent in (("llm", 3), ("guarded", 1), ("plan", 1)):
        record = records[form]
        assert record.status == "ok", (form, record.error_message)
        assert record.outcome["emails_sent"] == len(store.load_outbox(record.run_id)) == sent
    guarded = records["guarded"]
    assert guarded.outcome["guard_refusals"] == 2
    assert guarded.outcome["success"] is True
    sends = [s for s in guarded.spans if s.kind == "function" and s.name == "send_email"]
    assert len(sends) == 3 and sum(1 for s in sends if s.error) == 2
    assert all("Refused by a guard in code" in (s.output or "") for s in sends if s.error)
    assert guarded.metrics.tool_calls == 6  # refused calls are charged too
    assert "guard_refusals" not in records["llm"].outcome


def test_a_body_of_the_managers_own_is_refused_only_under_the_guard(store: Store) -> None:
    records = run_forms(store, ["guarded", "llm"], sales_manager=own_text_manager_script)
    llm, guarded = records["llm"], records["guarded"]
    assert llm.outcome["emails_sent"] == 1 and llm.outcome["picked"] == "own_text"
    assert guarded.status == "ok", guarded.error_message
    assert guarded.outcome["emails_sent"] == 0 == len(store.load_outbox(guarded.run_id))
    assert guarded.outcome["guard_refusals"] == 1
    [send] = [s for s in guarded.spans if s.kind == "function" and s.name == "send_email"]
    assert send.error and "not one of the drafts" in (send.output or "")


def test_the_send_guard_refuses_in_one_sentence_the_model_can_act_on() -> None:
    check = send_guard(SCENARIO.input("dana-acme"))
    args = {"to": "dana.reyes@acme-freight.example", "subject": "s",
            "body": draft_body("concise_writer")}
    deps = RunDeps()
    reasons = [check(deps, args)]
    assert "call the writer tools first" in (reasons[-1] or "")
    deps.tool_outputs["concise_writer"] = [DRAFTS["concise_writer"]]
    reasons.append(check(deps, {**args, "body": "Buy now, limited offer!"}))
    assert "not one of the drafts" in (reasons[-1] or "")
    assert check(deps, args) is None
    sent = RunDeps(outbox=[OutboxMessage(to="x@y.example", subject="s", body="b")],
                   tool_outputs=dict(deps.tool_outputs))
    reasons.append(check(sent, args))
    assert "already sent" in (reasons[-1] or "")
    for reason in reasons:
        assert reason and reason.endswith(".") and ". " not in reason.rstrip(".")
