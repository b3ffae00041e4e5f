"""Findings in plain sentences: group A against group B with 95% bootstrap CIs.

Every sentence says how sure it is: a CI, "not a significant difference", or "too few runs".
"""

from __future__ import annotations

import pandas as pd

from orchlab import forms
from orchlab.analysis import (
    GROUP_SEPARATOR,
    MIN_RUNS_FOR_CI,
    Estimate,
    bootstrap_ci,
    failure_counts,
    failures_text,
    path_entropy,
)


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


def findings(runs: pd.DataFrame, a: str = "llm", b: str = "code", by: str = "form") -> list[str]:
    """Sentences comparing group `a` with group `b` on every recorded figure."""
    ga, gb = runs[runs[by] == a], runs[runs[by] == b]
    if ga.empty or gb.empty:
        return [f"Run both {label(a)} and {label(b)} to compare them."]
    sentences = [
        _ratio_sentence(ga["wall_ms"], gb["wall_ms"], a, b, "the wall time", "median", "ms"),
        _ratio_sentence(_tokens(ga), _tokens(gb), a, b, "the tokens", "mean", "tokens"),
        _cost_sentence(ga, gb, a, b),
        _calls_sentence(ga, gb, a, b),
        _paths_sentence(ga, gb, a, b),
        _success_sentence(ga, gb, a, b),
    ]
    sentences.extend(_failure_sentence(g, name) for g, name in ((ga, a), (gb, b)))
    return [s for s in sentences if s]


def _tokens(group: pd.DataFrame) -> pd.Series:
    return group["input_tokens"] + group["output_tokens"]


def _ci(est: Estimate, digits: int = 1, suffix: str = "") -> str:
    return f"[{est.low:.{digits}f}{suffix}, {est.high:.{digits}f}{suffix}]"


def _too_few(a: pd.Series, b: pd.Series, what: str, stat: str, unit: str) -> str:
    fn = "median" if stat == "median" else "mean"
    va, vb = getattr(a, fn)(), getattr(b, fn)()
    shown = f"${va:.3g} vs ${vb:.3g}" if unit == "USD" else f"{va:,.0f} vs {vb:,.0f} {unit}"
    return (f"Too few runs for a confidence interval on {what} (n={len(a)} and {len(b)}; "
            f"{MIN_RUNS_FOR_CI} per group needed): {fn}s {shown}.")


def _ratio_sentence(
    xa: pd.Series, xb: pd.Series, a: str, b: str, what: str, stat: str, unit: str
) -> str:
    est = bootstrap_ci(xa, xb, stat=stat, kind="ratio")
    if est is None:
        if min(len(xa), len(xb)) >= MIN_RUNS_FOR_CI:
            return f"{_cap(label(b))} used no {unit}, so no ratio of {what} exists."
        return _too_few(xa, xb, what, stat, unit)
    text = (f"{_cap(label(a))} took {est.point:.2f}x {what} of {label(b)} "
            f"({stat}; 95% CI {_ci(est, 2)}x)")
    return text + ("." if est.significant else ": not a significant difference.")


def _cost_sentence(ga: pd.DataFrame, gb: pd.DataFrame, a: str, b: str) -> str:
    unknown = int(ga["cost_usd"].isna().sum() + gb["cost_usd"].isna().sum())
    if unknown:
        sources = _sources(pd.concat([ga, gb]).loc[lambda f: f["cost_usd"].isna()])
        return (f"Cost is unknown for {unknown} of {len(ga) + len(gb)} runs (price: {sources}), "
                "so no cost finding.")
    ca, cb = ga["cost_usd"], gb["cost_usd"]
    if ca.sum() == 0 and cb.sum() == 0:
        return (f"All {len(ga) + len(gb)} runs cost $0 (price: "
                f"{_sources(pd.concat([ga, gb]))}), so no cost difference.")
    return _ratio_sentence(ca, cb, a, b, "the cost", "mean", "USD")


def _sources(group: pd.DataFrame) -> str:
    """The price sources the runs recorded, as stored (older runs recorded none)."""
    names = sorted({s or "not recorded" for s in group["price_source"]})
    return ", ".join(names)


def _calls_sentence(ga: pd.DataFrame, gb: pd.DataFrame, a: str, b: str) -> str:
    est = bootstrap_ci(ga["llm_calls"], gb["llm_calls"], stat="mean", kind="diff")
    if est is None:
        return _too_few(ga["llm_calls"], gb["llm_calls"], "LLM calls", "mean", "calls")
    more = "more" if est.point >= 0 else "fewer"
    text = (f"{_cap(label(a))} made {abs(est.point):.1f} {more} LLM calls per run than "
            f"{label(b)} (95% CI {_ci(est)})")
    return text + ("." if est.significant else ": not a significant difference.")


def _paths_sentence(ga: pd.DataFrame, gb: pd.DataFrame, a: str, b: str) -> str:
    def part(g: pd.DataFrame, name: str) -> str:
        k = g["path"].nunique()
        return (f"{label(name)} used {k} distinct path{'s' if k != 1 else ''} "
                f"({path_entropy(g['path']):.2f} bits over {len(g)} runs)")

    return f"{_cap(part(ga, a))}; {part(gb, b)}."


def _success_sentence(ga: pd.DataFrame, gb: pd.DataFrame, a: str, b: str) -> str:
    sa = ga["success"].dropna().astype(float)
    sb = gb["success"].dropna().astype(float)
    if sa.empty or sb.empty:
        return (f"No success rate to compare: {label(a if sa.empty else b)} has no run whose "
                "outcome says something about the form.")
    text = (f"The scenario's rule held in {sa.mean():.0%} of {label(a)} runs (n={len(sa)}) and "
            f"{sb.mean():.0%} of {label(b)} runs (n={len(sb)})")
    left_out = len(ga) + len(gb) - len(sa) - len(sb)
    if left_out:
        text += (f"; {left_out} runs stopped by the environment or a cancel are left out")
    est = bootstrap_ci(sa, sb, stat="mean", kind="diff")
    if est is None:
        return text + f" (too few runs for a CI; {MIN_RUNS_FOR_CI} per group needed)."
    verdict = "" if est.significant else "; not a significant difference"
    ci = f"[{est.low:+.0%}, {est.high:+.0%}]"
    return text + f" (difference {est.point:+.0%}, 95% CI {ci}{verdict})."


def _failure_sentence(group: pd.DataFrame, name: str) -> str:
    kinds = failure_counts(group)
    if kinds.empty:
        return ""
    detail = failures_text(group)
    retries = int(group["retries"].sum())
    tail = f"; {retries} provider calls were retried" if retries else ""
    return (f"{int(kinds.sum())} of {len(group)} {label(name)} runs did not finish normally "
            f"({detail}{tail}).")
