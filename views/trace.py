"""Trace: one run's nested span tree and waterfall; sub-agents sit inside their tool span."""

from __future__ import annotations

import streamlit as st

from orchlab.figures import errored_ancestors, span_depths, waterfall
from views._shared import experiment_label, runs_frame, store_or_stop

st.title("Trace")
store = store_or_stop()
experiments = store.list_experiments()
if not experiments:
    st.info("No experiments yet: run one on the Run page.")
    st.stop()
labels = {experiment_label(e.experiment_id, e.scenario, e.spec.get("variant"),
                           f"{e.created_at:%Y-%m-%d %H:%M}"): e.experiment_id for e in experiments}
exp = st.selectbox("Experiment", list(labels), key="trace_experiment")
runs = runs_frame(str(store.path), (labels[exp],))
if runs.empty:
    st.warning("This experiment has no finished runs.")
    st.stop()
rows = runs.to_dict(orient="records")
pick = st.selectbox(
    "Run", range(len(rows)), key="trace_run",
    format_func=lambda i: f"{rows[i]['form']} · {rows[i]['input_id']} #{rows[i]['repetition']}"
    f" · {rows[i]['error_class'] or rows[i]['status']} · {rows[i]['wall_ms']:,.0f} ms · "
    f"{rows[i]['path']}",
)
run = rows[pick]
spans = store.load_spans(run["run_id"])
st.caption(f"run `{run['run_id']}` · {len(spans)} spans · {run['llm_calls']} LLM calls · "
           f"{run['tool_calls']} tool calls · {run['input_tokens']}+{run['output_tokens']} tokens"
           f" · {run['retries']} retries · {run['queued_ms']:,.0f} ms waiting for the model")
if run["status"] == "cancelled":
    st.warning("Cancelled: the run was stopped before it finished; the spans so far are kept "
               "and its outcome is not counted for the form.")
elif run["status"] != "ok":
    st.error(f"{run['status']} ({run['error_class']}): {run['error_type']}: "
             f"{run['error_message']}")
st.plotly_chart(waterfall(spans), width="stretch")

st.subheader("Span tree")
show_all = st.toggle("Show task and turn spans", value=False, key="trace_show_all")
hidden: set[str] = set() if show_all else {"task", "turn"}
failed_inside = errored_ancestors(spans, hidden)
if failed_inside:
    st.caption("⚠️ marks a span that failed, or one with a failure inside it.")
for depth, span in span_depths(spans):
    if span.kind in hidden:
        continue
    marker = "⚠️ " if span.error or span.span_id in failed_inside else ""
    tokens = f" · {span.input_tokens}+{span.output_tokens} tok" if span.kind == "generation" else ""
    title = (f"{'— ' * depth}{marker}{span.kind}: {span.name} · "
             f"{span.end_ms - span.start_ms:,.0f} ms{tokens}")
    with st.expander(title):
        if span.error:
            st.error(span.error)
        st.caption(f"agent: {span.agent or '-'} · start {span.start_ms:,.1f} ms · "
                   f"model: {span.model or '-'}")
        if span.input:
            st.text_area("Input", span.input, height=120, disabled=True,
                         key=f"trace_in_{span.span_id}")
        if span.output:
            st.text_area("Output", span.output, height=120, disabled=True,
                         key=f"trace_out_{span.span_id}")
