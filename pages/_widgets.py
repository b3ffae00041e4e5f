"""Small display pieces shared by pages (no computation beyond formatting)."""

from __future__ import annotations

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
    "top_path_share": "percent",
}


def table(frame: pd.DataFrame) -> None:
    """A summary frame with readable number formats."""
    config = {c: st.column_config.NumberColumn(format=f) for c, f in SUMMARY_FORMATS.items()
              if c in frame.columns}
    st.dataframe(frame, hide_index=True, width="stretch", column_config=config)


def run_card(record: RunRecord, rule: str) -> None:
    """One run: rule flag, final output, path diagram, figures."""
    if record.status != "ok":
        st.error(f"{record.status}: {record.error_type or ''} {record.error_message or ''}")
    if not record.outcome.get("success"):
        emails = record.outcome.get("emails_sent")
        detail = f"sent {emails} emails; " if emails is not None and emails != 1 else ""
        st.warning(f"Rule broken: {detail}expected {rule or 'the scenario rule'}.")
    a, b, c, d = st.columns(4)
    a.metric("Latency", f"{record.wall_ms:,.0f} ms")
    b.metric("Tokens", f"{record.input_tokens + record.output_tokens:,}")
    c.metric("Cost", money(record.cost_usd))
    d.metric("LLM / tool calls", f"{record.llm_calls} / {record.tool_calls}")
    st.caption(f"Path: `{record.path or '(no steps)'}`")
    if record.path:
        st.graphviz_chart(path_dot(record.path))
    st.text_area("Final output", record.final_output or "(none)", height=180,
                 key=f"widgets_output_{record.run_id}", disabled=True)
    if record.outbox:
        with st.expander(f"Outbox ({len(record.outbox)} email(s), sandbox)"):
            for message in record.outbox:
                st.markdown(f"**To:** {message.to}  \n**Subject:** {message.subject}")
                st.text(message.body)
    st.json(record.outcome, expanded=False)
