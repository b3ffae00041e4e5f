"""Sales email: three writers draft, a picker chooses, exactly one email goes out.

Code form: the three writers run concurrently, the picker chooses, code sends the email.
Plan form: a planner agent names the writers and an emphasis; code checks the plan, runs those
writers, lets the picker choose and sends the email.
Refine form (evaluator-optimizer): as the code form, but before code sends, a critic agent
passes the picked draft or gives feedback, and the picked writer revises with it; at most
REFINE_ROUNDS verdicts (a revision is always judged), then code sends the last draft, passed or
not. A critic reply that is no verdict ends the loop as not passed. The outcome adds
`critic_rounds`, `critic_passed` and `critic_ended`; `success` keeps the scenario's rule.
Guarded form: the LLM form's sales manager, with send_email behind a code guard (one email per
run, and only a body a writer drafted).
LLM form: a sales manager agent gets the writers as tools plus send_email and decides.
"""

from __future__ import annotations

import re
from typing import Any, Literal

from agents import RunContextWrapper, Tool, function_tool
from pydantic import BaseModel

from orchlab.scenario import (
    Draft,
    FlowEnv,
    Form,
    Guard,
    OutboxMessage,
    OutcomeInput,
    PairwiseJudge,
    Refinement,
    RubricJudge,
    RunDeps,
    Scenario,
    ScenarioInput,
    evaluator_optimizer,
    guarded_orchestrator,
    orchestrator,
    plan_then_execute,
)

WRITERS = ("professional_writer", "humorous_writer", "concise_writer")
SAME_DRAFT_MIN_OVERLAP = 0.6
"""Word-set overlap above which a sent email counts as a given writer's draft."""
EMPHASIS_MAX_CHARS = 160
"""Longest emphasis a plan may carry: a phrase for the writers, not a draft of its own."""
REFINE_ROUNDS = 3
"""Most critic verdicts in the refine form: the first draft and up to two revisions judged."""

INPUTS = [
    ScenarioInput("dana-acme", "Dana Reyes, CFO at Acme Freight", {
        "name": "Dana Reyes", "role": "CFO", "company": "Acme Freight",
        "email": "dana.reyes@acme-freight.example"}),
    ScenarioInput("li-northwind", "Li Wei, Head of Finance Ops at Northwind Clinics", {
        "name": "Li Wei", "role": "Head of Finance Operations", "company": "Northwind Clinics",
        "email": "li.wei@northwind.example"}),
    ScenarioInput("sam-brightpath", "Sam Okafor, CEO at BrightPath Schools", {
        "name": "Sam Okafor", "role": "CEO", "company": "BrightPath Schools",
        "email": "sam@brightpath.example"}),
]


def send_email_impl(deps: RunDeps, to: str, subject: str, body: str) -> str:
    """The sandboxed send: the message lands in the run's outbox, never on a network."""
    deps.outbox.append(OutboxMessage(to=to, subject=subject, body=body))
    return f"Email to {to} accepted (sandbox outbox)."


@function_tool(name_override="send_email")
def _send_email_tool(ctx: RunContextWrapper[RunDeps], to: str, subject: str, body: str) -> str:
    """Send one email to the prospect. Call it exactly once.

    Args:
        to: The prospect's email address.
        subject: The subject line.
        body: The plain-text body.
    """
    return send_email_impl(ctx.context, to, subject, body)


def tools() -> dict[str, Tool]:
    return {"send_email": _send_email_tool}


def brief(item: ScenarioInput) -> str:
    p = item.data
    return f"Prospect: {p['name']}, {p['role']} at {p['company']} (email: {p['email']})."


def split_subject(draft: str, company: str) -> tuple[str, str]:
    """A draft's 'Subject:' line and body; a default subject when the writer gave none."""
    match = re.match(r"\s*\**subject:?\**\s*(.+?)\s*\n(.*)", draft, re.IGNORECASE | re.DOTALL)
    if match:
        return match.group(1).strip(), match.group(2).strip()
    return f"An idea for {company}", draft.strip()


def parse_pick(answer: str, among: tuple[str, ...] = WRITERS) -> str | None:
    """Which writer (of those that drafted) the picker named first, or None."""
    hits = [(m.start(), w) for w in among
            if (m := re.search(w.split("_")[0], answer, re.IGNORECASE))]
    return min(hits)[1] if hits else None


async def code_flow(item: ScenarioInput, env: FlowEnv) -> str:
    draft = await draft_and_pick(item, env)
    return await send(item, env, draft.text)


async def pick_and_send(item: ScenarioInput, env: FlowEnv, by_writer: dict[str, str]) -> str:
    """The part the code and plan forms share: pick, then send exactly one email from code."""
    return await send(item, env, by_writer[await pick(item, env, by_writer)])


async def pick(item: ScenarioInput, env: FlowEnv, by_writer: dict[str, str]) -> str:
    """Record the drafts and let the picker choose among two or more (one is taken as it is);
    the first writer when the picker's answer names none of them."""
    env.deps.artifacts["drafts"] = by_writer
    writers = tuple(by_writer)
    picked: str | None = writers[0]
    if len(writers) > 1:
        labelled = "\n\n".join(f"[{w.split('_')[0]}]\n{d}" for w, d in by_writer.items())
        answer = await env.run("picker", f"{brief(item)}\n\nDrafts:\n\n{labelled}")
        picked = parse_pick(answer, writers)
    env.deps.artifacts["picker_answer_parsed"] = picked is not None
    return picked or writers[0]


async def send(item: ScenarioInput, env: FlowEnv, draft: str) -> str:
    """Send the draft from code, the run's one email; the sent text is the final output."""
    subject, body = split_subject(draft, item.data["company"])
    await env.call_tool("send_email", send_email_impl, to=item.data["email"], subject=subject,
                        body=body)
    return f"Subject: {subject}\n\n{body}"


class SalesPlan(BaseModel):
    """The planner's typed plan: every field required (the SDK's strict schema)."""

    writers: list[Literal["professional_writer", "humorous_writer", "concise_writer"]]
    """Writers to consult, each at most once."""
    emphasis: str
    """What the email should stress for this prospect: one short phrase."""


def check_plan(plan: SalesPlan) -> list[str]:
    """What code refuses in a plan before anything runs (the type already rules out unknown
    writers)."""
    problems = []
    if not plan.writers:
        problems.append("it names no writer")
    if len(set(plan.writers)) != len(plan.writers):
        problems.append("it names a writer more than once")
    if not plan.emphasis.strip():
        problems.append("its emphasis is empty")
    elif len(plan.emphasis) > EMPHASIS_MAX_CHARS:
        problems.append(f"its emphasis is longer than {EMPHASIS_MAX_CHARS} characters")
    return problems


async def run_plan(item: ScenarioInput, env: FlowEnv, plan: SalesPlan) -> str:
    """The accepted plan: its writers draft with its emphasis, then the code form's pick and
    send."""
    prompt = f"{brief(item)}\nStress: {plan.emphasis.strip()}"
    drafts = await env.gather(*(env.run(w, prompt) for w in plan.writers))
    return await pick_and_send(item, env, dict(zip(plan.writers, drafts, strict=True)))


plan_flow = plan_then_execute("planner", brief, SalesPlan, run_plan,
                              check=lambda plan, _item, _env: check_plan(plan))


async def draft_and_pick(item: ScenarioInput, env: FlowEnv) -> Draft:
    """The three writers in parallel, then the picker: the code form's draft, and the refine
    form's first draft (which the picked writer revises)."""
    drafts = await env.gather(*(env.run(w, brief(item)) for w in WRITERS))
    by_writer = dict(zip(WRITERS, drafts, strict=True))
    writer = await pick(item, env, by_writer)
    return Draft(by_writer[writer], writer)


def critic_prompt(item: ScenarioInput, draft: Draft) -> str:
    return f"{brief(item)}\n\nDraft email:\n\n{draft.text}"


def revision_prompt(item: ScenarioInput, draft: Draft, feedback: str) -> str:
    return (f"{brief(item)}\n\nYour draft:\n\n{draft.text}\n\nA sales director's feedback: "
            f"{feedback.strip()}\n\nRewrite the email with that feedback in mind.")


async def send_last_draft(item: ScenarioInput, env: FlowEnv, draft: Draft) -> str:
    """Send the loop's last draft; it becomes its writer's draft of the run, so the outcome's
    `picked` names the writer whose revision went out."""
    env.deps.artifacts["drafts"][draft.author] = draft.text
    return await send(item, env, draft.text)


refine_flow = evaluator_optimizer(draft_and_pick, "critic", critic_prompt, revision_prompt,
                                  send_last_draft, max_rounds=REFINE_ROUNDS)


def send_guard(item: ScenarioInput) -> Guard:
    """send_email's contract under the guarded form: one email per run, and its body is one of
    the drafts the writers returned in this run (the outcome check's own overlap rule).
    Guarded calls of one run check and run one at a time (`orchlab.scenario.tools.guard`), so the
    outbox already holds a send of the same model turn when the next one is checked."""

    def check(deps: RunDeps, args: dict[str, Any]) -> str | None:
        if deps.outbox:
            return ("One email was already sent in this run, so do not send another; reply "
                    "with which writer's draft you sent.")
        drafts = [split_subject(d, item.data["company"])[1]
                  for w in WRITERS for d in deps.tool_outputs.get(w, [])]
        if not drafts:
            return ("No writer has returned a draft in this run yet; call the writer tools "
                    "first and send one of their drafts.")
        body = str(args.get("body", ""))
        if not any(_overlap(body, d) >= SAME_DRAFT_MIN_OVERLAP for d in drafts):
            return ("The body is not one of the drafts the writers returned in this run; send "
                    "one writer's draft body unchanged.")
        return None

    return check


guarded_flow = guarded_orchestrator("sales_manager", lambda item: {"send_email": send_guard(item)},
                                    brief)
llm_flow = orchestrator("sales_manager", brief)


def _words(text: str) -> set[str]:
    return set(re.findall(r"[a-z0-9']+", text.lower()))


def _overlap(a: str, b: str) -> float:
    wa, wb = _words(a), _words(b)
    return len(wa & wb) / max(1, min(len(wa), len(wb)))


def drafts_of_run(result: OutcomeInput) -> dict[str, str]:
    """Each writer's last draft: recorded by the code, plan and refine flows (refine: the sent
    revision replaces its writer's first draft), else what the writer tools returned (each
    writer's last call, as its last tool span used to give)."""
    recorded = result.deps.artifacts.get("drafts")
    if recorded:
        return dict(recorded)
    outputs = result.deps.tool_outputs
    return {w: outputs[w][-1] for w in WRITERS if outputs.get(w)}


def check_outcome(result: OutcomeInput) -> dict[str, Any]:
    """emails_sent from the outbox; writers_consulted from spans; picked by text overlap; the
    refine form's critic loop from its record (rounds, whether the sent draft passed, why the
    loop ended), which leaves `success` alone: the rule is the scenario's, not the critic's."""
    consulted = {s.agent for s in result.spans if s.kind == "agent" and s.agent in WRITERS}
    sent = result.deps.outbox
    picked: str | None = None
    if sent:
        drafts = drafts_of_run(result)
        scores = {w: _overlap(sent[0].body, d) for w, d in drafts.items() if d}
        best = max(scores, key=lambda w: scores[w], default=None)
        picked = best if best and scores[best] >= SAME_DRAFT_MIN_OVERLAP else "own_text"
    outcome: dict[str, Any] = {
        "emails_sent": len(sent),
        "writers_consulted": len(consulted),
        "picked": picked,
        "sent_to_prospect": bool(sent) and all(m.to == result.input.data["email"] for m in sent),
        "success": len(sent) == 1 and len(consulted) == len(WRITERS),
    }
    loop = Refinement.of(result.deps)
    if loop is not None:
        outcome.update(critic_rounds=loop.rounds, critic_passed=loop.passed,
                       critic_ended=loop.ended)
    return outcome


SCENARIO = Scenario(
    name="sales_email",
    description=(
        "Three writer agents (professional, humorous, concise) draft a cold email, one is "
        "picked, and exactly one email is sent to a sandbox outbox."
    ),
    inputs=INPUTS,
    tools=tools,
    forms=[
        Form("code", "code", "The three writers run in parallel, the picker picks, code sends "
             "the chosen draft.", code_flow),
        Form("plan", "hybrid", "A planner names the writers to consult and what to stress; "
             "code checks the plan, runs those writers, the picker picks, code sends.",
             plan_flow),
        Form("refine", "hybrid", "The three writers draft in parallel, the picker picks, a "
             "critic passes the draft or gives feedback the writer revises with (at most "
             f"{REFINE_ROUNDS} verdicts), code sends the last draft.", refine_flow),
        Form("guarded", "hybrid", "The sales manager agent, with send_email behind a code "
             "guard: one email per run, and only a body a writer drafted.", guarded_flow),
        Form("llm", "llm", "A sales manager agent gets the writers and send_email as tools and "
             "decides.", llm_flow),
    ],
    check_outcome=check_outcome,
    rule="exactly one email sent, after consulting all three writers",
    judges=[
        RubricJudge("email_quality", "judge_email_quality", sees=("input", "outbox"),
                    question="How likely is this prospect to reply to the email the run sent?",
                    scale=(1, 5)),
        PairwiseJudge("email_preference", "judge_email_preference", sees=("input", "outbox"),
                      question="Which email is more likely to get a reply?"),
    ],
)
