"""sales_email's refine form (evaluator-optimizer) on ScriptedModel, and once on the embedded
model.

What the form promises: the code form's three writers and picker, then a critic that passes the
picked draft or gives feedback the picked writer revises with, at most REFINE_ROUNDS verdicts,
then exactly one email sent by code. Exact paths, calls and tokens are checked for a critic
that passes at once, after two rounds of feedback, never (the round limit) and with a reply
that is no verdict.
"""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
from agents.testing import assistant_message
from sales_scripts import (
    CRITIC_USAGE,
    DRAFTS,
    PICKER_USAGE,
    PROSPECT,
    WRITER_USAGE,
    sales_backend,
    step,
)

from orchlab.core.errors import ERROR_CLASSES
from orchlab.core.records import RunRecord
from orchlab.running.runner import ExperimentSpec, run_experiment
from orchlab.store.store import Store
from scenarios.sales_email import REFINE_ROUNDS, SCENARIO

WRITERS_SET = "{concise_writer|humorous_writer|professional_writer}"
PASS_AT_ONCE = f"{WRITERS_SET} > picker > critic > send_email"
THREE_ROUNDS = (f"{WRITERS_SET} > picker > critic > humorous_writer > critic > humorous_writer > "
                "critic > send_email")
REVISION_USAGE = (260, 70)
FEEDBACK = ["Name her company in the first line.", "End with one concrete meeting time."]
REVISIONS = [
    "Subject: Acme Freight, your invoices called\n\nHi Dana, Acme Freight's invoices are tired "
    "of waiting in inboxes. Ledgerly sends them on holiday while payments run themselves. "
    "Coffee chat on Thursday?",
    "Subject: Acme Freight, your invoices called again\n\nHi Dana, Acme Freight's invoices "
    "still dream of a beach. Ledgerly books the trip and runs the payments. Shall we talk "
    "Thursday at 10:00?",
]


def verdict(passed: bool, feedback: str = "") -> dict[str, Any]:
    return step([assistant_message(json.dumps({"feedback": feedback, "passed": passed}))],
                CRITIC_USAGE)


def critic(*steps: dict[str, Any]) -> Any:
    return lambda: list(steps)


def humorous_with_revisions() -> list[Any]:
    return [step([assistant_message(DRAFTS["humorous_writer"])], WRITER_USAGE["humorous_writer"]),
            *(step([assistant_message(r)], REVISION_USAGE) for r in REVISIONS)]


def run_refine(store: Store, **scripts: Any) -> RunRecord:
    spec = ExperimentSpec("sales_email", forms=["refine"], inputs=["dana-acme"])
    result = run_experiment(spec, store, backend=sales_backend(**scripts))
    assert result.status == "completed"
    [record] = result.records
    return record


def tokens(critic_calls: int, revisions: int) -> tuple[int, int]:
    """(input, output) tokens of a run: the first drafts, the pick, the verdicts, the
    revisions."""
    def total(i: int) -> int:
        return (sum(p[i] for p in WRITER_USAGE.values()) + PICKER_USAGE[i]
                + critic_calls * CRITIC_USAGE[i] + revisions * REVISION_USAGE[i])
    return total(0), total(1)


def body(draft: str) -> str:
    """A draft without its subject line: one line, as it appears in a span's JSON input."""
    return draft.split("\n\n", 1)[1]


def generation_inputs(record: RunRecord, agent: str) -> list[str]:
    return [s.input or "" for s in record.spans if s.kind == "generation" and s.agent == agent]


def sent(store: Store, record: RunRecord) -> dict[str, Any]:
    [email] = store.load_outbox(record.run_id)
    return email


def test_refine_is_a_hybrid_form_after_plan_with_a_bounded_loop() -> None:
    assert SCENARIO.form_ids.index("refine") == SCENARIO.form_ids.index("plan") + 1
    assert SCENARIO.form("refine").family == "hybrid"
    assert REFINE_ROUNDS == 3


def test_a_draft_the_critic_passes_goes_out_as_picked(store: Store) -> None:
    record = run_refine(store, critic=critic(verdict(True)))
    assert record.status == "ok", record.error_message
    assert record.metrics.path == PASS_AT_ONCE
    assert record.metrics.llm_calls == 5  # three writers, picker, critic
    assert record.metrics.tool_calls == 1  # send_email, called by code
    assert (record.metrics.input_tokens, record.metrics.output_tokens) == tokens(1, 0)
    per_critic = record.metrics.per_agent["critic"]
    assert (per_critic["llm_calls"], per_critic["input_tokens"], per_critic["output_tokens"]) == (
        1, *CRITIC_USAGE)
    assert body(DRAFTS["humorous_writer"]) in generation_inputs(record, "critic")[0]
    assert record.final_output == DRAFTS["humorous_writer"]
    assert sent(store, record)["to"] == PROSPECT
    assert {k: record.outcome[k] for k in ("emails_sent", "writers_consulted", "picked",
                                           "critic_rounds", "critic_passed", "critic_ended",
                                           "success")} == {
        "emails_sent": 1, "writers_consulted": 3, "picked": "humorous_writer",
        "critic_rounds": 1, "critic_passed": True, "critic_ended": "passed", "success": True}


def test_the_default_sales_critic_passes(store: Store) -> None:
    record = run_refine(store)
    assert record.metrics.path == PASS_AT_ONCE and record.outcome["success"] is True


def test_two_rounds_of_feedback_reach_the_picked_writer_and_the_revision_goes_out(
        store: Store) -> None:
    record = run_refine(store, humorous_writer=humorous_with_revisions,
                        critic=critic(verdict(False, FEEDBACK[0]), verdict(False, FEEDBACK[1]),
                                      verdict(True)))
    assert record.status == "ok", record.error_message
    assert record.metrics.path == THREE_ROUNDS
    assert record.metrics.llm_calls == 9  # three writers, picker, 3 critic, 2 revisions
    assert record.metrics.tool_calls == 1
    assert (record.metrics.input_tokens, record.metrics.output_tokens) == tokens(3, 2)
    assert record.metrics.per_agent["humorous_writer"]["llm_calls"] == 3
    assert record.metrics.per_agent["professional_writer"]["llm_calls"] == 1
    writer = generation_inputs(record, "humorous_writer")
    judged = generation_inputs(record, "critic")
    drafts = [DRAFTS["humorous_writer"], *REVISIONS]
    for number, feedback in enumerate(FEEDBACK, start=1):
        assert feedback in writer[number]  # the feedback text reached the writer's prompt
        assert body(drafts[number - 1]) in writer[number]
        assert body(drafts[number]) in judged[number]
    email = sent(store, record)
    assert (email["subject"], email["body"]) == tuple(REVISIONS[1].removeprefix(
        "Subject: ").split("\n\n", 1))
    assert record.final_output == REVISIONS[1]
    assert {k: record.outcome[k] for k in ("emails_sent", "picked", "critic_rounds",
                                           "critic_passed", "critic_ended", "success")} == {
        "emails_sent": 1, "picked": "humorous_writer", "critic_rounds": 3,
        "critic_passed": True, "critic_ended": "passed", "success": True}


def test_at_the_round_limit_the_last_revision_is_sent_not_passed(store: Store) -> None:
    never = [verdict(False, f) for f in (*FEEDBACK, "Still too long.")]
    record = run_refine(store, humorous_writer=humorous_with_revisions, critic=critic(*never))
    assert record.status == "ok", record.error_message
    assert record.metrics.path == THREE_ROUNDS  # no fourth verdict, no unjudged revision
    assert record.metrics.llm_calls == 9
    assert (record.metrics.input_tokens, record.metrics.output_tokens) == tokens(3, 2)
    assert sent(store, record)["body"] == body(REVISIONS[1])
    assert {k: record.outcome[k] for k in ("emails_sent", "picked", "critic_rounds",
                                           "critic_passed", "critic_ended", "success")} == {
        "emails_sent": 1, "picked": "humorous_writer", "critic_rounds": REFINE_ROUNDS,
        "critic_passed": False, "critic_ended": "round_limit", "success": True}


def test_the_writer_the_picker_picked_is_the_one_that_revises(store: Store) -> None:
    revised = "Subject: 2 minutes back\n\nDana, Ledgerly automates payables at Acme Freight. " \
              "Worth a call Thursday?"
    concise = lambda: [step([assistant_message(DRAFTS["concise_writer"])],  # noqa: E731
                            WRITER_USAGE["concise_writer"]),
                       step([assistant_message(revised)], REVISION_USAGE)]
    record = run_refine(store, concise_writer=concise,
                        picker=lambda: [step([assistant_message("concise")], PICKER_USAGE)],
                        critic=critic(verdict(False, FEEDBACK[0]), verdict(True)))
    assert record.status == "ok", record.error_message
    assert record.metrics.path == (f"{WRITERS_SET} > picker > critic > concise_writer > critic > "
                                   "send_email")
    assert record.outcome["picked"] == "concise_writer" and record.outcome["critic_rounds"] == 2
    assert sent(store, record)["body"] == body(revised)


@pytest.mark.parametrize("reply", [
    "Looks great, send it!",
    json.dumps({"verdict": "pass"}),
    json.dumps({"feedback": "", "passed": False}),
], ids=["not-json", "wrong-schema", "fail-without-feedback"])
def test_a_critic_reply_that_is_no_verdict_sends_the_picked_draft_not_passed(
        store: Store, reply: str) -> None:
    record = run_refine(store, critic=lambda: [step([assistant_message(reply)], CRITIC_USAGE)])
    assert record.status == "ok", record.error_message
    assert record.metrics.path == PASS_AT_ONCE
    assert record.metrics.llm_calls == 5 and record.metrics.tool_calls == 1
    assert (record.metrics.input_tokens, record.metrics.output_tokens) == tokens(1, 0)
    assert sent(store, record)["body"] == body(DRAFTS["humorous_writer"])
    assert {k: record.outcome[k] for k in ("emails_sent", "picked", "critic_rounds",
                                           "critic_passed", "critic_ended", "success")} == {
        "emails_sent": 1, "picked": "humorous_writer", "critic_rounds": 1,
        "critic_passed": False, "critic_ended": "invalid_verdict", "success": True}


def test_an_invalid_verdict_after_feedback_sends_the_revision(store: Store) -> None:
    record = run_refine(store, humorous_writer=humorous_with_revisions,
                        critic=critic(verdict(False, FEEDBACK[0]),
                                      step([assistant_message("ok")], CRITIC_USAGE)))
    assert record.status == "ok", record.error_message
    assert record.metrics.path == (f"{WRITERS_SET} > picker > critic > humorous_writer > critic"
                                   " > send_email")
    assert (record.metrics.input_tokens, record.metrics.output_tokens) == tokens(2, 1)
    assert sent(store, record)["body"] == body(REVISIONS[0])
    assert (record.outcome["critic_rounds"], record.outcome["critic_ended"]) == (
        2, "invalid_verdict")


def test_only_the_refine_form_records_a_critic(store: Store) -> None:
    spec = ExperimentSpec("sales_email", forms=["code", "plan", "guarded", "llm"],
                          inputs=["dana-acme"])
    result = run_experiment(spec, store, backend=sales_backend())
    for record in result.records:
        assert record.status == "ok", (record.form, record.error_message)
        assert not {k for k in record.outcome if k.startswith("critic_")}, record.form
        assert "critic" not in record.metrics.per_agent, record.form


CRITIC_FIELDS = ("critic_rounds", "critic_passed", "critic_ended")
CLASSIFIED = set(ERROR_CLASSES) - {"other"}
"""Every error class but 'other', which would be an unclassified crash of ours."""


@pytest.mark.real_model
def test_refine_on_smollm2(store: Store) -> None:
    """SmolLM2-135M is weak: whatever it writes, the run ends as a classified record, the
    writers run first, and code sends exactly one email or the record says why none went."""
    from orchlab.backends import resolve

    backend = resolve("local:smollm2-135m")
    spec = ExperimentSpec("sales_email", forms=["refine"], inputs=["dana-acme"],
                          repetitions=1, backend=backend.id, max_turns=4, timeout_s=900,
                          model_settings={"seed": 11})
    started = time.monotonic()
    [record] = run_experiment(spec, store, backend=backend).records
    print(f"\nrefine on smollm2: {time.monotonic() - started:.1f} s status={record.status} "
          f"class={record.error_class} path={record.metrics.path!r} "
          f"critic={[record.outcome.get(k) for k in CRITIC_FIELDS]} "
          f"error={record.error_message!r}")
    assert record.status == "ok" or record.error_class in CLASSIFIED, (
        record.error_class, record.error_type, record.error_message)
    assert record.metrics.path.startswith(WRITERS_SET)
    outbox = store.load_outbox(record.run_id)
    assert record.outcome["emails_sent"] == len(outbox)
    if record.status == "ok":
        assert len(outbox) == 1 and outbox[0]["to"] == PROSPECT
        assert 1 <= record.outcome["critic_rounds"] <= REFINE_ROUNDS
        assert record.outcome["critic_ended"] in ("passed", "round_limit", "invalid_verdict")
        assert record.outcome["critic_passed"] == (record.outcome["critic_ended"] == "passed")
        assert record.outcome["success"] is True  # three writers consulted, one email
        critic_calls = record.metrics.per_agent["critic"]["llm_calls"]
        assert critic_calls == record.outcome["critic_rounds"]
    else:
        assert outbox == [] and record.error_message
