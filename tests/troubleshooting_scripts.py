"""Scripted model steps for the troubleshooting scenario: well-behaved and injected forms."""

from __future__ import annotations

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
    "T-101": "classifier > parse_logs > run_diagnostic > run_diagnostic > run_diagnostic > "
             "run_diagnostic > search_kb > answer_writer",
    "T-107": "classifier > parse_logs > run_diagnostic > search_kb > escalate > answer_writer",
}
LLM_PATH = ("troubleshooter > log_analyst > parse_logs > diagnostician > run_diagnostic > "
            "kb_researcher > search_kb")


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


def troubleshooting_backend(ticket: str = "T-101", category: str = "network",
                            **overrides: Script) -> Backend:
    """Scripts for both forms on one ticket; `overrides` replaces agents' scripts."""
    scripts: dict[str, Script] = {
        "classifier": say(category),
        "answer_writer": say(ANSWERS.get(ticket, "Root cause: unknown.")),
        "troubleshooter": troubleshooter_script(ticket, escalate=category == "hardware"),
        "log_analyst": call_then_say("parse_logs", {"ticket": ticket}, "errors found"),
        "diagnostician": call_then_say(
            "run_diagnostic", {"ticket": ticket, "check": CHECKS.get(ticket, "disk_space")}),
        "kb_researcher": call_then_say("search_kb", {"query": QUERIES.get(ticket, ticket)}),
    }
    scripts.update(overrides)
    return scripted_backend(scripts)
