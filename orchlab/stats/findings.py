"""Plain-sentence pieces of findings: group labels, and the sentences that need no test (paths,
failures, prices). The figures' sentences, with their CIs and tests, are built by
`orchlab.stats.summary`, the one source of every finding the dashboard and the CLI print.
"""

from __future__ import annotations

import pandas as pd

from orchlab.core import forms
from orchlab.stats.analysis import GROUP_SEPARATOR, failure_counts, failures_text


def label(group: str) -> str:
    """Readable group name: 'LLM-orchestrated', or 'LLM-orchestrated · terse' for a form and
    prompt variant group."""
    form, sep, variant = group.partition(GROUP_SEPARATOR)
    return f"{forms.label(form)}{sep}{variant}"


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
