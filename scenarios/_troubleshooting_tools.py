"""The troubleshooting scenario's tools, categories and ticket brief, shared by every form.

Kept apart from the scenario module and from the forms' flows so both can import them without
a cycle: `troubleshooting` (outcome, SCENARIO) and `_troubleshooting_forms` (flows) both sit on
top of this module. Each tool is a plain function `impl(deps, **kwargs) -> str` plus a thin
`@function_tool` wrapper, so code-run forms call the same body through `FlowEnv.call_tool`.
"""

from __future__ import annotations

import json
import re
from typing import Literal, get_args

from agents import RunContextWrapper, Tool, function_tool

from orchlab.scenario import RunDeps, ScenarioInput, tool_failure
from scenarios import _kb, _tickets
from scenarios._tickets import CheckName

TOOL_BUDGET = 12
"""Tool calls allowed per run by default, agents called as tools included (the code form needs
at most 6; the LLM form's usual route, three delegations and their tools, about 8)."""
REAL_TOOLS = ("parse_logs", "search_kb", "run_diagnostic", "escalate")
"""Tools that do work; counted against the budget and in the outcome."""
AGENT_TOOLS = ("log_analyst", "kb_researcher", "diagnostician")
"""Agents called as tools: their function spans are delegation, not tool use, and not counted."""
TROUBLESHOOTER = "troubleshooter"
ESCALATIONS = "escalations"
"""RunDeps.artifacts key: the sandbox escalation queue (list of {ticket, reason})."""

CategoryName = Literal["network", "printing", "application", "account", "storage", "security",
                       "hardware", "other"]
"""The ticket categories (a Literal, so a planner's output schema carries an enum)."""
CATEGORIES: tuple[str, ...] = get_args(CategoryName)
FALLBACK_CATEGORY = "other"
SYNONYMS = {"printer": "printing", "print": "printing", "app": "application",
            "software": "application", "disk": "storage", "login": "account",
            "password": "account", "battery": "hardware", "vpn": "network", "wifi": "network"}
CATEGORY_CHECKS: dict[str, tuple[str, ...]] = {
    "network": ("network_connectivity", "dns_resolution", "clock_sync", "certificate_store"),
    "printing": ("driver_version", "service_status", "recent_updates"),
    "application": ("recent_updates", "disk_space"),
    "account": ("account_status",),
    "storage": ("disk_space",),
    "security": ("account_status",),
    "hardware": ("battery_health",),
    "other": ("recent_updates", "service_status"),
}
ESCALATE_CATEGORIES = ("security", "hardware")
"""The decision tree's policy: these always go to a human."""


# -- tools -----------------------------------------------------------------------------------

def _unknown(ticket: str) -> str:
    return json.dumps({"error": f"unknown ticket {ticket!r}; tickets: "
                                f"{', '.join(_tickets.tickets())}"})


def parse_logs_impl(deps: RunDeps, ticket: str) -> str:
    """Tool bodies are plain functions so the code form calls the same code via call_tool
    (the budget is charged by whoever calls them: `budgeted` tools or FlowEnv.call_tool)."""
    item = _tickets.find_ticket(ticket)
    return json.dumps(_tickets.parse_logs(item)) if item else _unknown(ticket)


def search_kb_impl(deps: RunDeps, query: str) -> str:
    """Top articles for free text; the query is echoed so a trace shows what was searched."""
    return json.dumps({"query": query, "results": _kb.search(query)})


def run_diagnostic_impl(deps: RunDeps, ticket: str, check: str) -> str:
    """One check; an unknown ticket is an answer the model can read, not an exception."""
    item = _tickets.find_ticket(ticket)
    return json.dumps(_tickets.run_diagnostic(item, check)) if item else _unknown(ticket)


def escalate_impl(deps: RunDeps, ticket: str, reason: str) -> str:
    """Sandbox: the escalation lands in the run's artifacts, never in a real queue."""
    deps.artifacts.setdefault(ESCALATIONS, []).append({"ticket": ticket, "reason": reason})
    return f"Ticket {ticket} escalated to the human support queue (sandbox)."


@function_tool(name_override="parse_logs", failure_error_function=tool_failure)
def _parse_logs_tool(ctx: RunContextWrapper[RunDeps], ticket: str) -> str:
    """Read a ticket's device logs: warnings and errors with timestamps.

    Args:
        ticket: Ticket id, e.g. "T-101".
    """
    return parse_logs_impl(ctx.context, ticket)


@function_tool(name_override="search_kb", failure_error_function=tool_failure)
def _search_kb_tool(ctx: RunContextWrapper[RunDeps], query: str) -> str:
    """Search the IT knowledge base; returns the best articles (id, title, cause, fix).

    Args:
        query: A few keywords describing the symptom or error.
    """
    return search_kb_impl(ctx.context, query)


@function_tool(name_override="run_diagnostic", failure_error_function=tool_failure)
def _run_diagnostic_tool(ctx: RunContextWrapper[RunDeps], ticket: str, check: CheckName) -> str:
    """Run one diagnostic check on the ticket's device.

    Args:
        ticket: Ticket id, e.g. "T-101".
        check: Which check to run.
    """
    return run_diagnostic_impl(ctx.context, ticket, check)


@function_tool(name_override="escalate", failure_error_function=tool_failure)
def _escalate_tool(ctx: RunContextWrapper[RunDeps], ticket: str, reason: str) -> str:
    """Hand the ticket to a human engineer. Only for safety risks, security incidents or
    hardware that needs hands-on repair.

    Args:
        ticket: Ticket id, e.g. "T-107".
        reason: One sentence: why a human is needed.
    """
    return escalate_impl(ctx.context, ticket, reason)


def tools() -> dict[str, Tool]:
    """The four real tools; the specialist agents become tools via their agent files."""
    return {"parse_logs": _parse_logs_tool, "search_kb": _search_kb_tool,
            "run_diagnostic": _run_diagnostic_tool, "escalate": _escalate_tool}


# -- what every form starts from -------------------------------------------------------------

def brief(item: ScenarioInput) -> str:
    """What every form starts from: the ticket as the customer wrote it (logs come via tools)."""
    d = item.data  # the ticket id is the input's id: an inputs file's `id` column
    return f"Ticket {item.id} from {d['customer']}\nSubject: {d['title']}\n\n{d['description']}"


def parse_category(answer: str) -> tuple[str, bool]:
    """The first category word in the classifier's answer (then synonyms); else the fallback."""
    words = re.findall(r"[a-z]+", answer.lower())
    for word in words:
        if word in CATEGORIES:
            return word, True
    for word in words:
        if word in SYNONYMS:
            return SYNONYMS[word], True
    return FALLBACK_CATEGORY, False
