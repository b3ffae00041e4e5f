"""Small display pieces shared by pages (no computation beyond formatting)."""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from typing import Any

import pandas as pd
import streamlit as st

from orchlab.core.records import RunRecord
from orchlab.present.figures import path_picture
from orchlab.stats.analysis import is_missing

_ALWAYS = re.compile(r"([\\`*<&|~$])|\](?=[(\[:]|\Z)|(?<![A-Za-z0-9])_|_(?![A-Za-z0-9])"
                     r"|:(?=[A-Za-z])")
"""Markdown's inline syntax wherever it stands: escapes, code, emphasis, HTML and autolinks
(an opening `<` suffices), entities, tables, strikethrough, math; a `]` that would close a
link or an image (`](`, `][`, a `]:` definition, or the text's last character, whatever a
page writes after it: a `[95% CI 1.1, 2.0] (...)` stays as written); `_` unless inside a
word (where it never emphasises, so `max_turns` stays as written); `:` before a name
(Streamlit's `:red[...]` directives)."""
_INDENT = re.compile(r"(?m)^[ \t]+")
"""A line's indentation: four spaces would start a code block, which shows backslashes."""
_LINE_START = re.compile(r"(?m)^(\u00a0*)(?:(>)|([#+=-])(?=[ \t#+=-]|$)|(\d+)([.)])(?=[ \t]|$))")
"""Block syntax at the start of a line: quotes; headings, list items, setext underlines and
rules (a marker then a space, the line's end, or more of the same: `-5 ms` and `1.54x` stay
as written); ordered items."""
_AFTER_PARSING = re.compile(r"(?i)(?<=https)(?=:)|(?<=http)(?=:)|(?<=www)(?=\.)|(?=@)"
                            r"|(?<=:)(?=material|[\w+-]+:)")
"""Where the renderer rewrites text after parsing, when escapes are already resolved: GFM
links http:, https:, www. and an address's @; Streamlit draws `:material/x:` as an icon,
`:streamlit:` as an image and `:smile:` as an emoji. Only a character in between stops
them."""
_ARROWS = re.compile(r"(?<!\S)(<->|->|<-|--|>=|<=|~=)(?!\S)")
"""Tokens Streamlit turns into typographic arrows and signs after parsing (`->` to →)."""
_BREAK = "\u200b"
"""A zero-width space: invisible, and what it splits is left as written."""


def escape_md(text: object) -> str:
    """Text a model, a tool or someone else's file wrote, made safe to place in markdown
    (`st.markdown`, `st.caption`, `st.error`..., widget and expander labels, `help=`
    tooltips), where it reads as written: no image is fetched and no link, HTML, colour, icon,
    math or emphasis is made of it. A model's `![](https://host/?d=...)` would otherwise make
    every viewer's browser call that host.

    Only characters that can start syntax get a backslash, so ids, numbers and sentences the
    lab wrote around the text (`exp-20260101-...`, `LLM-orchestrated · terse`) come out
    unchanged; what the renderer rewrites after parsing (bare URLs, icons, arrows) is split by
    an invisible zero-width space. Lines keep their breaks (hard breaks) and indentation
    (no-break spaces, never an indented code block)."""
    lines = str(text).replace("\r\n", "\n").replace("\r", "\n")
    kept = _ARROWS.sub(lambda m: m.group(0)[0] + _BREAK + m.group(0)[1:],
                       _AFTER_PARSING.sub(_BREAK, lines))
    escaped = _ALWAYS.sub(lambda m: "\\" + m.group(0), kept)
    indented = _INDENT.sub(lambda m: "\u00a0" * len(m.group(0)), escaped)
    blocks = _LINE_START.sub(_escape_line_start, indented)
    return blocks.replace("\n", "  \n")


def _escape_line_start(match: re.Match[str]) -> str:
    indent, quote, marker, digits, delimiter = match.groups()
    if quote or marker:
        return f"{indent}\\{quote or marker}"
    return f"{indent}{digits}\\{delimiter}"


def code_md(text: object) -> str:
    """Untrusted text as one inline code span: markdown shows a code span's content as it is
    (no link, image, HTML or emphasis), so a path or a backend id keeps its code look. The
    fence is longer than any run of backticks inside; line breaks become spaces (a blank line
    would end the span's paragraph and free what follows)."""
    flat = re.sub(r"[\r\n]+", " ", str(text))
    if not flat.strip():
        return escape_md(flat)
    fence = "`" * (max((len(run) for run in re.findall(r"`+", flat)), default=0) + 1)
    pad = " " if flat.startswith("`") or flat.endswith("`") else ""
    return f"{fence}{pad}{flat}{pad}{fence}"


def money(value: float | None) -> str:
    """Cost for display, by magnitude: cents for a dollar or more ("$19.00"), three significant
    digits below ("$0.0123"); unknown prices stay visibly unknown."""
    if value is None or is_missing(value):
        return "unknown"
    if value == 0:
        return "$0"
    if abs(value) >= 1:
        return f"${value:,.2f}"
    decimals = min(8, 2 - math.floor(math.log10(abs(value))))
    return f"${value:.{decimals}f}"


MISSING = "—"
"""What a table shows for a value that was not recorded or does not apply."""
SUMMARY_FORMATS: dict[str, Callable[[Any], str]] = {
    "wall_ms_median": lambda v: f"{v:,.0f} ms", "wall_ms_p90": lambda v: f"{v:,.0f} ms",
    "tokens_mean": lambda v: f"{v:,.0f}", "cost_usd_mean": money,
    "llm_calls_mean": lambda v: f"{v:.1f}", "tool_calls_mean": lambda v: f"{v:.1f}",
    "path_entropy_bits": lambda v: f"{v:.2f} bits", "entropy_bits": lambda v: f"{v:.2f} bits",
    "success_rate": lambda v: f"{v:.0%}", "top_path_share": lambda v: f"{v:.0%}",
    "rate": lambda v: f"{v:.0%}", "failures": lambda v: v or "none",
    "pass_hat_k": lambda v: f"{v:.2f}", "pass_at_k": lambda v: f"{v:.2f}",
    "pass_hat_k_low": lambda v: f"{v:.2f}", "pass_hat_k_high": lambda v: f"{v:.2f}",
}
COLUMN_LABELS = {
    "group": "Group", "form": "Form", "runs": "Runs", "ok": "Ended ok",
    "wall_ms_median": "Median latency (ok runs)", "wall_ms_p90": "p90 latency (ok runs)",
    "tokens_mean": "Mean tokens (ok runs)", "cost_usd_mean": "Mean cost (ok runs)",
    "llm_calls_mean": "LLM calls (ok runs)", "tool_calls_mean": "Tool calls (ok runs)",
    "distinct_paths": "Distinct paths",
    "path_entropy_bits": "Path entropy", "success_rate": "Success rate",
    "success_n": "Success n", "retries": "Retries", "failures": "Failures by class",
    "entropy_bits": "Path entropy", "top_path_share": "Top path share", "failed": "Failed",
    "outcome": "Outcome", "rate": "Rate", "hits": "Runs where true",
    "n": "Runs where it applies (n)", "k": "k (runs)", "pass_hat_k": "pass^k",
    "pass_at_k": "pass@k", "pass_hat_k_low": "pass^k 95% low",
    "pass_hat_k_high": "pass^k 95% high",
    "inputs": "Inputs", "runs_per_input": "Runs per input",
}


def table(frame: pd.DataFrame) -> None:
    """A summary frame as people read it: labelled columns, formatted numbers, "—" for a
    value that is missing (never a raw `None`)."""
    st.dataframe(display_frame(frame), hide_index=True, width="stretch")


def display_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """The frame `table` shows: SUMMARY_FORMATS applied, missing values as MISSING, columns
    renamed by COLUMN_LABELS (others, such as "class: max_turns", keep their name)."""
    shown = frame.copy()
    for column in shown.columns:
        fmt = SUMMARY_FORMATS.get(column)
        if fmt is not None or shown[column].isna().any():
            shown[column] = [MISSING if is_missing(v) else (fmt(v) if fmt else v)
                             for v in shown[column]]
    return shown.rename(columns=lambda c: COLUMN_LABELS.get(c, c))


def run_card(record: RunRecord, rule: str) -> None:
    """One run: rule flag, final output, path diagram, figures."""
    m = record.metrics
    if record.status == "cancelled":
        st.warning("Cancelled before it finished: the spans so far are kept, and its outcome is "
                   "not counted for the form.")
    elif record.status != "ok":
        st.error(escape_md(f"{record.status} ({record.error_class}): {record.error_type}: "
                           f"{record.error_message}"))
    if record.success is None and record.status != "cancelled":
        st.info("This run's outcome is not counted for the form: it was stopped by the "
                "environment or a cancel.")
    elif not record.success:
        emails = record.outcome.get("emails_sent")
        detail = f"sent {escape_md(emails)} emails; " if emails is not None and emails != 1 \
            else ""
        st.warning(f"Rule broken: {detail}expected {rule or 'the scenario rule'}.")
    # Two by two: four metrics in one row of a half-page column are cut ("1,82…", "unk…").
    a, b = st.columns(2)
    c, d = st.columns(2)
    a.metric("Latency", f"{m.wall_ms:,.0f} ms",
             help=f"of which {m.queued_ms:,.0f} ms waiting for a busy model" if m.queued_ms
             else None)
    b.metric("Tokens", f"{m.input_tokens + m.output_tokens:,}")
    c.metric("Cost", money(m.cost_usd),
             help=f"price: {escape_md(m.price_source or 'not recorded')}")
    d.metric("LLM / tool calls", f"{m.llm_calls} / {m.tool_calls}")
    st.caption(f"Path: {code_md(m.path or '(no steps)')}"
               + (f" · {m.retries} provider calls retried" if m.retries else ""))
    if m.path_steps:
        st.image(path_picture(m.path_steps))
    st.text_area("Final output", record.final_output or "(none)", height=180,
                 key=f"widgets_output_{record.run_id}", disabled=True)
    if record.outbox:
        with st.expander(f"Outbox ({len(record.outbox)} email(s), sandbox)"):
            for message in record.outbox:  # the model wrote all of it: text, never markdown
                st.text(f"To: {message.to}\nSubject: {message.subject}")
                st.text(message.body)
    st.json(record.outcome, expanded=False)
