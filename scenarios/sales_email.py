"""Sales email: three writers draft, a picker chooses, exactly one email goes out.

Code form: the three writers run concurrently, the picker chooses, code sends the email.
LLM form: a sales manager agent gets the writers as tools plus send_email and decides.
"""

from __future__ import annotations

import re
from typing import Any

from agents import RunContextWrapper, Tool, function_tool

from orchlab.records import OutboxMessage
from orchlab.scenario import FlowEnv, Form, OutcomeInput, RunDeps, Scenario, ScenarioInput

WRITERS = ("professional_writer", "humorous_writer", "concise_writer")
SAME_DRAFT_MIN_OVERLAP = 0.6
"""Word-set overlap above which a sent email counts as a given writer's draft."""

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


def parse_pick(answer: str) -> str | None:
    """Which writer the picker named first, or None."""
    hits = [(m.start(), w) for w in WRITERS
            if (m := re.search(w.split("_")[0], answer, re.IGNORECASE))]
    return min(hits)[1] if hits else None


async def code_flow(item: ScenarioInput, env: FlowEnv) -> str:
    prompt = brief(item)
    drafts = await env.gather(*(env.run(w, prompt) for w in WRITERS))
    by_writer = dict(zip(WRITERS, drafts, strict=True))
    env.deps.artifacts["drafts"] = by_writer
    labelled = "\n\n".join(f"[{w.split('_')[0]}]\n{d}" for w, d in by_writer.items())
    answer = await env.run("picker", f"{prompt}\n\nDrafts:\n\n{labelled}")
    picked = parse_pick(answer)
    env.deps.artifacts["picker_answer_parsed"] = picked is not None
    chosen = by_writer[picked or WRITERS[0]]
    subject, body = split_subject(chosen, item.data["company"])
    await env.call_tool("send_email", send_email_impl, to=item.data["email"], subject=subject,
                        body=body)
    return f"Subject: {subject}\n\n{body}"


async def llm_flow(item: ScenarioInput, env: FlowEnv) -> str:
    return await env.run("sales_manager", brief(item))


def _words(text: str) -> set[str]:
    return set(re.findall(r"[a-z0-9']+", text.lower()))


def _overlap(a: str, b: str) -> float:
    wa, wb = _words(a), _words(b)
    return len(wa & wb) / max(1, min(len(wa), len(wb)))


def drafts_from_spans(result: OutcomeInput) -> dict[str, str]:
    """Writer outputs: recorded by the code flow, or read from the LLM's tool-call spans."""
    recorded = result.deps.artifacts.get("drafts")
    if recorded:
        return dict(recorded)
    return {s.name: s.output or "" for s in result.spans
            if s.kind == "function" and s.name in WRITERS}


def check_outcome(result: OutcomeInput) -> dict[str, Any]:
    """emails_sent from the outbox; writers_consulted from spans; picked by text overlap."""
    consulted = {s.agent for s in result.spans if s.kind == "agent" and s.agent in WRITERS}
    sent = result.deps.outbox
    picked: str | None = None
    if sent:
        drafts = drafts_from_spans(result)
        scores = {w: _overlap(sent[0].body, d) for w, d in drafts.items() if d}
        best = max(scores, key=lambda w: scores[w], default=None)
        picked = best if best and scores[best] >= SAME_DRAFT_MIN_OVERLAP else "own_text"
    return {
        "emails_sent": len(sent),
        "writers_consulted": len(consulted),
        "picked": picked,
        "sent_to_prospect": bool(sent) and all(m.to == result.input.data["email"] for m in sent),
        "success": len(sent) == 1 and len(consulted) == len(WRITERS),
    }


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
        Form("llm", "llm", "A sales manager agent gets the writers and send_email as tools and "
             "decides.", llm_flow),
    ],
    check_outcome=check_outcome,
    rule="exactly one email sent, after consulting all three writers",
)
