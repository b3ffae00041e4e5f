"""Plain-sentence pieces of findings: group labels, and the sentences that need no test (paths,
failures, prices). The figures' sentences, with their CIs and tests, are built by
`orchlab.stats.summary`, the one source of every finding the dashboard and the CLI print.
"""

from __future__ import annotations

import pandas as pd

from orchlab.core import forms
from orchlab.stats.analysis import (
    ASSIGNMENT_SEPARATOR,
    BACKEND_SEPARATOR,
    GROUP_SEPARATOR,
    failure_counts,
    failures_text,
    is_mixed,
    split_group,
)


def label(group: str) -> str:
    """Readable group name: 'LLM-orchestrated', 'LLM-orchestrated · terse' for a form and
    prompt variant group, 'LLM-orchestrated @ gpt-4.1-mini' for a form on a backend,
    'LLM-orchestrated | writer on nano' for one under an agent assignment."""
    g = split_group(group)
    return (forms.label(g.form) + (GROUP_SEPARATOR + g.variant if g.variant else "")
            + (BACKEND_SEPARATOR + g.backend if g.backend else "")
            + (ASSIGNMENT_SEPARATOR + g.assignment if g.assignment else ""))


def factor_note(group: str, against: str, factor: str) -> tuple[str, bool]:
    """What a comparison block varies, as one sentence, and whether it is a warning: a block
    that varies several factors at once cannot put a difference down to any one of them."""
    if is_mixed(factor):
        *first, last = factor.split(" and ")
        named = f"both {first[0]} and {last}" if len(first) == 1 else \
            f"{', '.join(first)} and {last}"
        return (f"{title(group)} differs from {label(against)} in {named}: a difference "
                "cannot be put down to any one of them.", True)
    g = split_group(group)
    held = ""
    if factor in ("backend", "agent assignment"):
        held = " (the form held)"
    elif factor == "form" and (g.backend or g.assignment):
        held = " (" + " and ".join(
            f"the {name} held: {value}" for name, value in
            (("backend", g.backend), ("agent assignment", g.assignment)) if value) + ")"
    return (f"This finding compares the {factor}{held}: {label(group)} against "
            f"{label(against)}.", False)


def title(group: str) -> str:
    """Group name as a heading: 'Code-orchestrated', 'LLM-orchestrated'."""
    return _cap(label(group))


def _cap(text: str) -> str:
    """Capitalise the first letter only ('LLM' must stay 'LLM')."""
    return text[:1].upper() + text[1:]


def price_sources(group: pd.DataFrame) -> str:
    """The price sources the runs recorded, as stored (older runs recorded none)."""
    names = sorted({s or "not recorded" for s in group["price_source"]})
    return ", ".join(names)


def cost_unavailable(ga: pd.DataFrame, gb: pd.DataFrame) -> str | None:
    """Why no cost finding exists (an unknown price, or every run at $0), or None."""
    both = pd.concat([ga, gb])
    unknown = int(both["cost_usd"].isna().sum())
    if unknown:
        sources = price_sources(both[both["cost_usd"].isna()])
        return (f"Cost is unknown for {unknown} of {len(both)} runs (price: {sources}), so no "
                "cost finding.")
    if len(both) and both["cost_usd"].sum() == 0:
        return (f"All {len(both)} runs cost $0 (price: {price_sources(both)}), so no cost "
                "difference.")
    return None




def failure_sentence(group: pd.DataFrame, name: str) -> str:
    """How many runs of a group did not finish normally, by class ('' when all did)."""
    kinds = failure_counts(group)
    if kinds.empty:
        return ""
    detail = failures_text(group)
    retries = int(group["retries"].sum())
    tail = f"; {retries} provider calls were retried" if retries else ""
    return (f"{int(kinds.sum())} of {len(group)} {label(name)} runs did not finish normally "
            f"({detail}{tail}).")
