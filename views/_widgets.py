"""Small display pieces shared by pages (no computation beyond formatting)."""

from __future__ import annotations

from typing import Any

import pandas as pd
import streamlit as st

from orchlab.figures import path_dot
from orchlab.records import RunRecord


def money(value: float | None) -> str:
    """Cost for display: unknown prices stay visibly unknown."""
    return "unknown" if value is None or value != value else f"${value:.5f}"


SUMMARY_FORMATS = {
    "wall_ms_median": "%.0f ms", "wall_ms_p90": "%.0f ms", "tokens_mean": "%.0f",
    "cost_usd_mean": "$%.5f", "llm_calls_mean": "%.1f", "tool_calls_mean": "%.1f",
    "path_entropy_bits": "%.2f bits", "success_rate": "percent", "entropy_bits": "%.2f bits",
    "top_path_share": "percent", "rate": "percent",
}
COLUMN_LABELS = {
    "group": "Group", "form": "Form", "runs": "Runs", "ok": "Ended ok",
    "wall_ms_median": "Median latency", "wall_ms_p90": "p90 latency",
    "tokens_mean": "Mean tokens", "cost_usd_mean": "Mean cost", "llm_calls_mean": "LLM calls",
    "tool_calls_mean": "Tool calls", "distinct_paths": "Distinct paths",
    "path_entropy_bits": "Path entropy", "success_rate": "Success rate",
    "success_n": "Success n", "retries": "Retries", "failures": "Failures by class",
    "entropy_bits": "Path entropy", "top_path_share": "Top path share", "failed": "Failed",
    "outcome": "Outcome", "rate": "Rate", "hits": "True", "n": "n",
}


def table(frame: pd.DataFrame) -> None:
    """A summary frame with readable number formats."""
    config: dict[str, Any] = {
        c: st.column_config.NumberColumn(COLUMN_LABELS.get(c), format=f)
        for c, f in SUMMARY_FORMATS.items() if c in frame.columns}
    config.update({c: st.column_config.Column(label) for c, label in COLUMN_LABELS.items()
                   if c in frame.columns and c not in config})
    st.dataframe(frame, hide_index=True, width="stretch", column_config=config)


def run_card(record: RunRecord, rule: str) -> None:
    """One run: rule flag, final output, path diagram, figures."""
    m = record.metrics
    if record.status != "ok":
        st.error(f"{record.status} ({record.error_class}): {record.error_type}: "
                 f"{record.error_message}")
    if record.success is None:
        st.info("This run's outcome is not counted for the form: it was stopped by the "
                "environment or a cancel.")
    elif not record.success:
        emails = record.outcome.get("emails_sent")
        detail = f"sent {emails} emails; " if emails is not None and emails != 1 else ""
        st.warning(f"Rule broken: {detail}expected {rule or 'the scenario rule'}.")
    a, b, c, d = st.columns(4)
    a.metric("Latency", f"{m.wall_ms:,.0f} ms",
             help=f"of which {m.queued_ms:,.0f} ms waiting for a busy model" if m.queued_ms
             else None)
    b.metric("Tokens", f"{m.input_tokens + m.output_tokens:,}")
    c.metric("Cost", money(m.cost_usd), help=f"price: {m.price_source or 'not recorded'}")
    d.metric("LLM / tool calls", f"{m.llm_calls} / {m.tool_calls}")
    st.caption(f"Path: `{m.path or '(no steps)'}`"
               + (f" · {m.retries} provider calls retried" if m.retries else ""))
    if m.path_steps:
        st.graphviz_chart(path_dot(m.path_steps))
    st.text_area("Final output", record.final_output or "(none)", height=180,
                 key=f"widgets_output_{record.run_id}", disabled=True)
    if record.outbox:
        with st.expander(f"Outbox ({len(record.outbox)} email(s), sandbox)"):
            for message in record.outbox:
                st.markdown(f"**To:** {message.to}  \n**Subject:** {message.subject}")
                st.text(message.body)
    st.json(record.outcome, expanded=False)
