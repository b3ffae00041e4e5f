"""The troubleshooting scenario's forms, from code-driven to LLM-driven.

- code: keyword rules written in code classify the ticket, then the category's fixed steps.
- router: one classifier LLM call names the category, then the same fixed steps: code and
  router differ exactly in who classifies.
- plan: a planner agent returns a typed TicketPlan; code validates it, then executes it.
- guarded: the llm form's troubleshooter, with escalate behind a code contract (a reason from
  ESCALATION_REASONS).
- handoff: a triage agent hands the conversation to one specialist (the SDK's handoffs).
- llm: the troubleshooter with specialist agents as tools decides everything.

Every form ends on the same reply format ("Root cause:" / "Fix:") so one outcome check judges
them all.
"""

from __future__ import annotations

import re
from typing import Any

from pydantic import BaseModel

from orchlab.scenario import (
    FlowEnv,
    RunDeps,
    ScenarioInput,
    guarded_orchestrator,
    orchestrator,
    plan_then_execute,
)
from scenarios._tickets import CheckName
from scenarios._troubleshooting_tools import (
    CATEGORIES,
    CATEGORY_CHECKS,
    ESCALATE_CATEGORIES,
    FALLBACK_CATEGORY,
    TROUBLESHOOTER,
    CategoryName,
    brief,
    escalate_impl,
    parse_category,
    parse_logs_impl,
    run_diagnostic_impl,
    search_kb_impl,
)

KEYWORD_RULES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("security", ("phishing", "malware", "virus", "hacked", "suspicious", "did not make",
                  "did not start", "did not request", "didn't make", "didn't start")),
    ("hardware", ("touchpad", "battery", "lid", "screen", "keyboard", "overheating", "swollen",
                  "cracked", "fan")),
    ("printing", ("printer", "printers", "printing", "print", "print queue")),
    ("network", ("vpn", "wi-fi", "wifi", "dns", "certificate", "internal site", "intranet",
                 "shared drive", "mapped drive", "network", "internet")),
    ("storage", ("disk", "disk full", "storage", "won't save", "could not save", "cannot save",
                 "can't save", "out of space")),
    ("application", ("crash", "crashes", "crashed", "hangs", "freezes", "not responding")),
    ("account", ("password", "locked", "lockout", "sign in", "sign-in", "login", "log in",
                 "account", "mfa")),
)
"""The code form's classifier: the first category with a keyword (a whole word or phrase) in
the ticket's title or description wins. Order is the policy: security first (its tickets speak
of sign-ins too), hardware before symptoms it causes, application before account (an app that
crashes at sign-in is the app's fault). SYNONYMS is not merged in: its "app" would send "the
mail app asks for my password" to application."""
assert all(category in CATEGORIES for category, _ in KEYWORD_RULES)

ESCALATION_REASONS = ("safety_risk", "security_incident", "hardware_repair")
"""The guarded form's contract: an escalation reason must start with one of these."""
MAX_PLANNED_CHECKS = 3


# -- code and router: the fixed decision tree ------------------------------------------------

def classify_ticket(title: str, description: str) -> tuple[str, bool]:
    """Category by KEYWORD_RULES, and whether a rule matched (else FALLBACK_CATEGORY)."""
    text = f"{title}\n{description}".lower()
    for category, keywords in KEYWORD_RULES:
        if any(re.search(rf"(?<!\w){re.escape(k)}(?!\w)", text) for k in keywords):
            return category, True
    return FALLBACK_CATEGORY, False


def answer_prompt(item: ScenarioInput, category: str, logs: str, checks: list[str], kb: str,
                  escalated: str) -> str:
    """What the answer writer reads, whichever form collected the findings."""
    return (f"{brief(item)}\n\nCategory: {category}\n\nLog findings:\n{logs}\n\n"
            f"Diagnostics:\n" + "\n".join(checks) + f"\n\nKnowledge base results:\n{kb}\n\n"
            f"Escalated: {escalated}")


async def fixed_steps(item: ScenarioInput, env: FlowEnv, category: str) -> str:
    """Once the category is known: its fixed tool steps, escalation by policy, the answer."""
    ticket = item.id
    logs = await env.call_tool("parse_logs", parse_logs_impl, ticket=ticket)
    checks = [await env.call_tool("run_diagnostic", run_diagnostic_impl, ticket=ticket, check=c)
              for c in CATEGORY_CHECKS[category]]
    kb = await env.call_tool("search_kb", search_kb_impl,
                             query=f"{item.data['title']} {item.data['description']}")
    escalated = "no"
    if category in ESCALATE_CATEGORIES:
        reason = f"{category} tickets always go to a human (decision-tree policy)"
        escalated = "yes: " + await env.call_tool("escalate", escalate_impl, ticket=ticket,
                                                  reason=reason)
    return await env.run("answer_writer", answer_prompt(item, category, logs, checks, kb,
                                                        escalated))


async def code_flow(item: ScenarioInput, env: FlowEnv) -> str:
    """The fixed decision tree with no LLM until the answer: code classifies by keywords."""
    category, parsed = classify_ticket(item.data["title"], item.data["description"])
    env.deps.artifacts.update(category=category, category_parsed=parsed)
    return await fixed_steps(item, env, category)


async def router_flow(item: ScenarioInput, env: FlowEnv) -> str:
    """The classifier front-end: one LLM call names the category, code does the rest."""
    category, parsed = parse_category(await env.run("classifier", brief(item)))
    env.deps.artifacts.update(category=category, category_parsed=parsed)
    return await fixed_steps(item, env, category)


# -- plan: a typed plan, checked, then executed by code --------------------------------------

class TicketPlan(BaseModel):
    """What the planner decides; every field required (the SDK's strict JSON schema)."""

    category: CategoryName
    checks: list[CheckName]
    kb_query: str
    escalate: bool
    escalation_reason: str


def planned_tool_calls(plan: TicketPlan) -> int:
    """parse_logs, each check, search_kb, and escalate if planned."""
    return 2 + len(plan.checks) + int(plan.escalate)


def check_plan(plan: TicketPlan, deps: RunDeps) -> list[str]:
    """Why code refuses to execute the plan (empty: it runs)."""
    problems: list[str] = []
    if not 1 <= len(plan.checks) <= MAX_PLANNED_CHECKS:
        problems.append(f"it needs 1 to {MAX_PLANNED_CHECKS} checks, not {len(plan.checks)}")
    if len(set(plan.checks)) != len(plan.checks):
        problems.append("its checks repeat")
    if not plan.kb_query.strip():
        problems.append("its kb_query is empty")
    if plan.escalate and not plan.escalation_reason.strip():
        problems.append("it escalates without an escalation_reason")
    if deps.tool_budget is not None:
        left = deps.tool_budget - deps.tool_calls
        if planned_tool_calls(plan) > left:
            problems.append(f"it needs {planned_tool_calls(plan)} tool calls and the run has "
                            f"{left} left")
    return problems


async def run_plan(item: ScenarioInput, env: FlowEnv, plan: TicketPlan) -> str:
    """The accepted plan, carried out by code: its checks, KB query and escalation."""
    env.deps.artifacts["category"] = plan.category
    ticket = item.id
    logs = await env.call_tool("parse_logs", parse_logs_impl, ticket=ticket)
    checks = [await env.call_tool("run_diagnostic", run_diagnostic_impl, ticket=ticket, check=c)
              for c in plan.checks]
    kb = await env.call_tool("search_kb", search_kb_impl, query=plan.kb_query)
    escalated = "no"
    if plan.escalate:
        escalated = "yes: " + await env.call_tool("escalate", escalate_impl, ticket=ticket,
                                                  reason=plan.escalation_reason)
    return await env.run("answer_writer", answer_prompt(item, plan.category, logs, checks, kb,
                                                        escalated))


def budget_problems(plan: TicketPlan, item: ScenarioInput, env: FlowEnv) -> list[str]:
    """`check_plan` against what is left of this run's tool budget."""
    return check_plan(plan, env.deps)


plan_flow = plan_then_execute("planner", brief, TicketPlan, run_plan, check=budget_problems)
"""Plan-then-execute: the planner decides the steps once; nothing runs before code has accepted
them, and the LLM never routes mid-run."""


# -- guarded, handoff, llm: the LLM decides --------------------------------------------------

def escalation_guard(deps: RunDeps, args: dict[str, Any]) -> str | None:
    """escalate needs a reason that starts with an ESCALATION_REASONS entry (case, spaces and
    hyphens tolerated: "Safety risk: swollen battery" passes); else the refusal."""
    reason = re.sub(r"[\s-]+", "_", str(args.get("reason") or "").strip().lower())
    if reason.startswith(ESCALATION_REASONS):
        return None
    return ("escalate needs a reason that starts with one of "
            f"{', '.join(ESCALATION_REASONS)}.")


guarded_flow = guarded_orchestrator(TROUBLESHOOTER, {"escalate": escalation_guard}, brief)
"""The llm form's troubleshooter (same prompt, model and tools), escalate behind a guard."""

handoff_flow = orchestrator("triage", brief)
"""Triage hands the whole conversation to one specialist, who writes the reply."""

llm_flow = orchestrator(TROUBLESHOOTER, brief)
"""The troubleshooter decides; a spent tool budget ends the run (see RunEndingError)."""
