"""The catalogue of orchestration patterns: what each form id means, across scenarios.

A scenario says which forms it has (`scenario.Form`: id, family, description, flow); this
module holds what is the same for a form id everywhere: its label, its colour, its place in
the order (from code-driven to LLM-driven, so a chart reads as the boundary moving), and what
the Learn page says about it. A form id unknown here (a plugin's own) still works: it sorts
after the known ones and gets a palette colour.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

FAMILIES = ("code", "hybrid", "llm")
"""Who decides what runs next: code, code around a narrow LLM decision, or an LLM."""


@dataclass(frozen=True)
class Pattern:
    """One orchestration pattern, as a form id means it in every scenario."""

    id: str
    """Form id, e.g. plan."""
    family: str
    """code, hybrid or llm."""
    label: str
    """Readable name used in sentences: 'plan-then-execute'."""
    shades: tuple[str, ...]
    """The form's colour first, then shades for its prompt variants."""
    what: str
    """What the pattern is, in one or two sentences."""
    decision: str
    """Where the decision sits."""
    when: str
    """When to pick it."""


PATTERNS: tuple[Pattern, ...] = (
    Pattern("code", "code", "code-orchestrated", ("#4C78A8", "#9ECAE9", "#2F4B7C", "#6BAED6"),
            "Your program calls the agents in a fixed order; each agent still uses a model, "
            "but the control flow is ordinary code.",
            "In the code: every run takes the path you wrote.",
            "The steps are known, must be auditable, and cost and latency matter."),
    Pattern("router", "hybrid", "LLM-routed", ("#72B7B2", "#B5DDD9", "#3F7F7A", "#8FCAC4"),
            "One cheap classification call picks a category; code then runs that category's "
            "fixed sub-pipeline.",
            "In one classifier call at the front; everything after it is code.",
            "Inputs fall into known kinds that each need a different fixed procedure."),
    Pattern("plan", "hybrid", "plan-then-execute", ("#54A24B", "#A6D49F", "#2E6B27", "#7CC172"),
            "A planner agent returns a typed plan (which specialists or tools, with what "
            "arguments, in what order); code validates it and carries it out. The LLM never "
            "routes mid-run, and an invalid plan stops the run before anything happens.",
            "In one structured planning call; code checks the plan and executes it.",
            "The right steps depend on the input, but you want to check them before they run."),
    Pattern("refine", "hybrid", "evaluator-optimizer", ("#7E57C2", "#C5B3E6", "#4A2C82",
                                                         "#A48ED8"),
            "A worker drafts, an evaluator agent passes the draft or says what to change, and "
            "the worker revises with that feedback; code runs the loop for a fixed number of "
            "rounds at most, then does the consequential step itself, once, on the last draft.",
            "In the evaluator's verdict each round (good enough yet?); code bounds the loop "
            "and acts.",
            "A reviewer can say what is wrong with a draft, and a second try is worth its "
            "tokens and latency."),
    Pattern("guarded", "hybrid", "guarded LLM", ("#F58518", "#FFBF79", "#B35806", "#FDAE61"),
            "The same orchestrator agent as the LLM form, but its consequential tools go "
            "through guards written in code (one email per run, escalation reasons from a "
            "fixed list, no repeated lookups). A refused call goes back to the model as a tool "
            "error and is counted.",
            "In the LLM, inside a contract that code enforces.",
            "You want the LLM's flexibility, but some actions must never happen twice or "
            "without a valid reason."),
    Pattern("handoff", "llm", "handoffs", ("#B279A2", "#D6B4CD", "#7A4A6E", "#C594B8"),
            "A triage agent hands the whole conversation to a specialist agent through the "
            "SDK's handoffs; the specialist finishes the job.",
            "In the triage agent, once; then in the specialist.",
            "Specialists own distinct areas and each needs the full conversation."),
    Pattern("llm", "llm", "LLM-orchestrated", ("#E45756", "#FF9D98", "#9E2A2B", "#F4A582"),
            "An orchestrator agent receives the other agents as tools and decides what to call, "
            "in what order and how often.",
            "In the LLM, at every turn.",
            "The work is open-ended: the next step depends on what was found."),
)
BY_ID = {p.id: p for p in PATTERNS}
PALETTE = ("#EECA3B", "#9D755D", "#BAB0AC", "#FF9DA6", "#439894", "#83BCB6")
"""Colours for form ids the catalogue does not know, in sorted order."""


def label(form: str) -> str:
    """'plan-then-execute' for plan; an unknown id as it is."""
    pattern = BY_ID.get(form)
    return pattern.label if pattern else form


def order_key(form: str) -> tuple[int, str]:
    """Catalogue order (code-driven first), unknown ids after, by name."""
    ids = [p.id for p in PATTERNS]
    return (ids.index(form), "") if form in BY_ID else (len(ids), form)


def ordered(forms: Iterable[str]) -> list[str]:
    """Distinct form ids in the one order every page uses."""
    return sorted(set(forms), key=order_key)
