"""Scripted model steps for the sales scenario: known usages, so totals can be checked exactly."""

from __future__ import annotations

import json
import time
from typing import Any

from agents.testing import assistant_message, function_call
from agents.usage import Usage

from orchlab.backends import Backend
from orchlab.testing.scripted import scripted_backend

WRITER_USAGE = {"professional_writer": (120, 80), "humorous_writer": (110, 90),
                "concise_writer": (100, 40)}
PICKER_USAGE = (400, 2)
MANAGER_USAGE = [(300, 30), (900, 60), (1000, 10)]
PLANNER_USAGE = (250, 25)
CRITIC_USAGE = (350, 15)
EMPHASIS = "a faster month-end close for a freight finance team"
PROSPECT = "dana.reyes@acme-freight.example"
DRAFTS = {
    "professional_writer": "Subject: Faster payables at your company\n\nDear prospect, Ledgerly "
    "automates invoice capture and approvals so your team closes the month sooner. Could we "
    "book twenty minutes next week?",
    "humorous_writer": "Subject: Your invoices called, they want a vacation\n\nHi there, paper "
    "invoices are tired of waiting in inboxes. Ledgerly sends them on a beach holiday while "
    "payments run themselves. Coffee chat on Thursday?",
    "concise_writer": "Subject: 2 minutes back per invoice\n\nLedgerly automates payables. "
    "Teams like yours save days each month. Worth a call?",
}


def usage(pair: tuple[int, int]) -> Usage:
    return Usage(requests=1, input_tokens=pair[0], output_tokens=pair[1],
                 total_tokens=sum(pair))


def step(items: list[Any], pair: tuple[int, int]) -> dict[str, Any]:
    return {"output": items, "usage": usage(pair)}


def writer_script(name: str) -> list[Any]:
    return [step([assistant_message(DRAFTS[name])], WRITER_USAGE[name])]


def manager_script(to: str = PROSPECT) -> list[Any]:
    subject, body = DRAFTS["humorous_writer"].split("\n\n", 1)
    send = send_call(body, "c9", to=to, subject=subject[9:])
    return [step(writer_calls(), MANAGER_USAGE[0]), step([send], MANAGER_USAGE[1]),
            step([assistant_message("Sent the humorous draft.")], MANAGER_USAGE[2])]


def planner_script(writers: list[str] | None = None, emphasis: str = EMPHASIS) -> list[Any]:
    """A planner reply as the SDK's output_type reads it: the plan as JSON text."""
    plan = {"writers": list(WRITER_USAGE) if writers is None else writers, "emphasis": emphasis}
    return planner_reply(json.dumps(plan))


def planner_reply(text: str) -> list[Any]:
    """A planner that answers with exactly `text` (a plan, or something that is not one)."""
    return [step([assistant_message(text)], PLANNER_USAGE)]


def send_call(body: str, call_id: str, to: str = PROSPECT, subject: str = "An idea") -> Any:
    return function_call("send_email", {"to": to, "subject": subject, "body": body},
                         call_id=call_id)


def draft_body(writer: str) -> str:
    return DRAFTS[writer].split("\n\n", 1)[1]


def writer_calls() -> list[Any]:
    return [function_call(w, {"input": "Prospect: Dana"}, call_id=f"c{i}")
            for i, w in enumerate(WRITER_USAGE)]


def spamming_manager_script(bodies: list[str], one_turn: bool = False) -> list[Any]:
    """A manager that consults the writers, then sends one email per body: one turn each, or
    all of them in one turn (the SDK runs one turn's tool calls concurrently)."""
    sends = [send_call(b, f"s{i}") for i, b in enumerate(bodies)]
    turns = [sends] if one_turn else [[s] for s in sends]
    return [step(writer_calls(), MANAGER_USAGE[0]),
            *(step(t, (50, 10)) for t in turns),
            step([assistant_message("Sent.")], MANAGER_USAGE[2])]


def own_text_manager_script() -> list[Any]:
    """A manager that consults the writers, then sends a body of its own instead of a draft."""
    own = ("Hello Dana, I am the sales manager and I wrote this myself: let us talk about "
           "synergy, growth and partnership opportunities at your earliest convenience.")
    return [step(writer_calls(), MANAGER_USAGE[0]), step([send_call(own, "s0")], (50, 10)),
            step([assistant_message("Sent my own email.")], MANAGER_USAGE[2])]


def critic_script() -> list[Any]:
    """The refine form's critic passes the first draft it judges."""
    return [step([assistant_message(json.dumps({"feedback": "", "passed": True}))],
                 CRITIC_USAGE)]


def sales_backend(*, backend_id: str = "scripted:test", model_name: str = "gpt-4.1-mini",
                  **overrides: Any) -> Backend:
    """The sales scripts on one scripted backend; `backend_id` and `model_name` tell two such
    backends apart (runs record both; the model name prices them)."""
    scripts: dict[str, Any] = {w: (lambda w=w: writer_script(w)) for w in WRITER_USAGE}
    scripts["picker"] = lambda: [step([assistant_message("humorous")], PICKER_USAGE)]
    scripts["sales_manager"] = manager_script
    scripts["planner"] = planner_script
    scripts["critic"] = critic_script
    scripts.update(overrides)
    return scripted_backend(scripts, backend_id=backend_id, model_name=model_name)


def expected_tokens(form: str) -> tuple[int, int]:
    writers_in = sum(p[0] for p in WRITER_USAGE.values())
    writers_out = sum(p[1] for p in WRITER_USAGE.values())
    if form == "code":
        return writers_in + PICKER_USAGE[0], writers_out + PICKER_USAGE[1]
    if form == "plan":
        return (writers_in + PICKER_USAGE[0] + PLANNER_USAGE[0],
                writers_out + PICKER_USAGE[1] + PLANNER_USAGE[1])
    return (writers_in + sum(p[0] for p in MANAGER_USAGE),
            writers_out + sum(p[1] for p in MANAGER_USAGE))


def slow_sales_backend() -> Backend:
    """The sales backend, 50 ms slower to hand out each model: runs last long enough to be
    seen in flight."""
    backend = sales_backend()
    make = backend.make_model

    def slowly(name: str) -> object:
        time.sleep(0.05)
        return make(name)

    backend.make_model = slowly  # type: ignore[method-assign]
    return backend
