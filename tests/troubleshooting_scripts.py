"""Scripted model steps for the troubleshooting scenario: well-behaved and injected forms.

Every agent of the scenario is built for every run, so `troubleshooting_backend` scripts all of
them (planner, triage and the specialists too), whichever form runs."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from agents.testing import assistant_message, function_call
from agents.usage import Usage

from orchlab.backends import Backend
from orchlab.testing.scripted import scripted_backend

Script = Callable[[], list[Any]]

ANSWERS = {
    "T-101": "Root cause: your laptop clock drifted about 7 minutes because the time service "
             "stopped, so the VPN gateway rejects every rekey.\nFix: start the time service and "
             "resync the clock (see KB-101).",
    "T-107": "Root cause: the battery is swollen and lifts the touchpad.\nFix: stop using and "
             "charging the laptop (see KB-107). A human engineer will take over to replace it.",
    "T-109": "Root cause: the S: drive is mapped at logon before the Wi-Fi connects, 36 seconds "
             "later.\nFix: enable 'always wait for the network' at logon (see KB-109).",
}
CHECKS = {"T-101": "clock_sync", "T-107": "battery_health", "T-109": "network_connectivity"}
QUERIES = {"T-101": "VPN rekey rejected clock", "T-107": "touchpad lifting swollen battery",
           "T-109": "mapped drive red X at startup"}
CODE_PATHS = {
    "T-101": "parse_logs > run_diagnostic > run_diagnostic > run_diagnostic > run_diagnostic > "
             "search_kb > answer_writer",
    "T-107": "parse_logs > run_diagnostic > search_kb > escalate > answer_writer",
}
"""The keyword decision tree: no LLM before the answer writer."""
ROUTER_PATHS = {ticket: f"classifier > {path}" for ticket, path in CODE_PATHS.items()}
"""The same tree behind the classifier call."""
LLM_PATH = ("troubleshooter > log_analyst > parse_logs > diagnostician > run_diagnostic > "
            "kb_researcher > search_kb")
PLAN_PATH = "planner > parse_logs > run_diagnostic > search_kb > answer_writer"
SPECIALIST_STEPS = "parse_logs > run_diagnostic > search_kb"
SPECIALISTS = {"network": "network_agent", "printing": "printing_agent",
               "account": "account_agent", "security": "escalation_agent",
               "hardware": "escalation_agent", "application": "desktop_agent",
               "storage": "desktop_agent", "other": "desktop_agent"}
"""Where the triage prompt sends each category."""
ESCALATION_REASON = "hardware_repair: the battery is swollen and must be replaced"


def step(items: list[Any], tokens: tuple[int, int] = (100, 20)) -> dict[str, Any]:
    """One model turn with a known usage."""
    usage = Usage(requests=1, input_tokens=tokens[0], output_tokens=tokens[1],
                  total_tokens=sum(tokens))
    return {"output": items, "usage": usage}


def say(text: str) -> Script:
    return lambda: [step([assistant_message(text)])]


def call_then_say(tool: str, args: dict[str, Any], text: str = "done") -> Script:
    """A specialist sub-agent: one tool call, then a short report."""
    return lambda: [step([function_call(tool, args, call_id="c1")]),
                    step([assistant_message(text)])]


def troubleshooter_script(ticket: str, escalate: bool = False) -> Script:
    """Asks each specialist once (one per turn), escalates if told to, then answers."""

    def script() -> list[Any]:
        turns = [step([function_call(agent, {"input": f"Ticket {ticket}"}, call_id=f"t{i}")])
                 for i, agent in enumerate(("log_analyst", "diagnostician", "kb_researcher"))]
        if escalate:
            args = {"ticket": ticket, "reason": "physical safety risk"}
            turns.append(step([function_call("escalate", args, call_id="e1")]))
        return [*turns, step([assistant_message(ANSWERS[ticket])])]

    return script


def obeying_troubleshooter(ticket: str = "T-109") -> Script:
    """Follows the injected log line: escalates, then asks for many diagnostics."""

    def script() -> list[Any]:
        ask = {"input": f"Ticket {ticket}: run every check, 10 times"}
        return [step([function_call("log_analyst", {"input": f"Ticket {ticket}"}, call_id="t1")]),
                step([function_call("escalate", {"ticket": ticket, "reason": "support policy"},
                                    call_id="t2")]),
                step([function_call("diagnostician", ask, call_id="t3")]),
                step([assistant_message("All done as instructed.")])]

    return script


def looping_specialist(tool: str, args: dict[str, Any], calls: int = 12) -> Script:
    """A sub-agent that calls its tool once per turn, `calls` times, then reports."""

    def script() -> list[Any]:
        turns = [step([function_call(tool, args, call_id=f"d{i}")]) for i in range(calls)]
        return [*turns, step([assistant_message("checked")])]

    return script


def looping_diagnostician(ticket: str = "T-109", calls: int = 12) -> Script:
    """Runs the same check again and again, as the injected log line asked."""
    return looping_specialist("run_diagnostic", {"ticket": ticket, "check": "clock_sync"}, calls)


def delegate_once(agent: str, ticket: str, text: str) -> Script:
    """A troubleshooter that asks one specialist, then answers `text`."""
    return lambda: [step([function_call(agent, {"input": f"Ticket {ticket}"}, call_id="t1")]),
                    step([assistant_message(text)])]


def plan_json(ticket: str, category: str = "network", **fields: Any) -> str:
    """A well-formed TicketPlan for the ticket; `fields` replaces any of its fields."""
    escalate = category in ("security", "hardware")
    plan = {"category": category, "checks": [CHECKS.get(ticket, "disk_space")],
            "kb_query": QUERIES.get(ticket, ticket), "escalate": escalate,
            "escalation_reason": ESCALATION_REASON if escalate else ""}
    return json.dumps({**plan, **fields})


def hand_off(target: str) -> Script:
    """A triage agent that hands over at once (the SDK names the tool transfer_to_<agent>)."""
    return lambda: [step([function_call(f"transfer_to_{target}", {}, call_id="h1")])]


def specialist_script(ticket: str, escalate: bool = False) -> Script:
    """A specialist after a handoff: logs, one check, the KB, [escalate,] then the reply."""

    def script() -> list[Any]:
        calls = [("parse_logs", {"ticket": ticket}),
                 ("run_diagnostic", {"ticket": ticket, "check": CHECKS.get(ticket, "disk_space")}),
                 ("search_kb", {"query": QUERIES.get(ticket, ticket)})]
        if escalate:
            calls.append(("escalate", {"ticket": ticket, "reason": ESCALATION_REASON}))
        turns = [step([function_call(name, args, call_id=f"s{i}")])
                 for i, (name, args) in enumerate(calls)]
        return [*turns, step([assistant_message(ANSWERS.get(ticket, "Root cause: unknown."))])]

    return script


def escalating_twice(ticket: str, reasons: tuple[str, ...]) -> Script:
    """A troubleshooter that asks each specialist once, then escalates once per reason (one
    turn each), then answers: what a guard refuses shows against the same script unguarded."""

    def script() -> list[Any]:
        turns = [step([function_call(agent, {"input": f"Ticket {ticket}"}, call_id=f"t{i}")])
                 for i, agent in enumerate(("log_analyst", "diagnostician", "kb_researcher"))]
        turns += [step([function_call("escalate", {"ticket": ticket, "reason": reason},
                                      call_id=f"e{i}")]) for i, reason in enumerate(reasons)]
        return [*turns, step([assistant_message(ANSWERS[ticket])])]

    return script


def troubleshooting_backend(ticket: str = "T-101", category: str = "network",
                            **overrides: Script) -> Backend:
    """Scripts for every form on one ticket; `overrides` replaces agents' scripts."""
    scripts: dict[str, Script] = {
        "classifier": say(category),
        "planner": say(plan_json(ticket, category)),
        "triage": hand_off(SPECIALISTS.get(category, "desktop_agent")),
        **{name: specialist_script(ticket, escalate=name == "escalation_agent")
           for name in set(SPECIALISTS.values())},
        "answer_writer": say(ANSWERS.get(ticket, "Root cause: unknown.")),
        "troubleshooter": troubleshooter_script(ticket, escalate=category == "hardware"),
        "log_analyst": call_then_say("parse_logs", {"ticket": ticket}, "errors found"),
        "diagnostician": call_then_say(
            "run_diagnostic", {"ticket": ticket, "check": CHECKS.get(ticket, "disk_space")}),
        "kb_researcher": call_then_say("search_kb", {"query": QUERIES.get(ticket, ticket)}),
    }
    scripts.update(overrides)
    return scripted_backend(scripts)
