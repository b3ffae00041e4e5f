"""Trace: one run's nested span tree and waterfall; sub-agents sit inside their tool span.
Then the run against a second one of the same experiment: steps aligned, first divergence."""

from __future__ import annotations

import streamlit as st

from orchlab.present.figures import errored_ancestors, span_depths, waterfall, waterfall_pair
from orchlab.stats.tracediff import align, aligned_frame, default_partner, divergence_text, steps_of
from views._shared import experiment_choices, runs_frame, store_or_stop
from views._widgets import code_md, escape_md

st.title("Trace")
store = store_or_stop()
experiments = store.list_experiments()
if not experiments:
    st.info("No experiments yet: run one on the Run page.")
    st.stop()
labels = experiment_choices(experiments)
exp = st.selectbox("Experiment", list(labels), key="trace_experiment")
runs = runs_frame(store.location, (labels[exp],))
if runs.empty:
    st.warning("This experiment has no finished runs.")
    st.stop()
rows = runs.to_dict(orient="records")


def run_label(i: int) -> str:
    row = rows[i]
    return (f"{row['form']} · {row['input_id']} #{row['repetition']} · "
            f"{row['error_class'] or row['status']} · {row['wall_ms']:,.0f} ms · {row['path']}")


def short_label(i: int) -> str:
    return f"{rows[i]['form']} · {rows[i]['input_id']} #{rows[i]['repetition']}"


pick = st.selectbox("Run", range(len(rows)), key="trace_run", format_func=run_label)
run = rows[pick]
spans = store.load_spans(run["run_id"])
st.caption(f"run {code_md(run['run_id'])} · {len(spans)} spans · {run['llm_calls']} LLM calls · "
           f"{run['tool_calls']} tool calls · {run['input_tokens']}+{run['output_tokens']} tokens"
           f" · {run['retries']} retries · {run['queued_ms']:,.0f} ms waiting for the model")
if run["status"] == "cancelled":
    st.warning("Cancelled: the run was stopped before it finished; the spans so far are kept "
               "and its outcome is not counted for the form.")
elif run["status"] != "ok":
    st.error(escape_md(f"{run['status']} ({run['error_class']}): {run['error_type']}: "
                       f"{run['error_message']}"))
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
    title = (f"{'— ' * depth}{marker}{span.kind}: {escape_md(span.name)} · "
             f"{span.end_ms - span.start_ms:,.0f} ms{tokens}")
    with st.expander(title):  # span names, errors, agents and models: from runs and files
        if span.error:
            st.error(escape_md(span.error))
        st.caption(f"agent: {escape_md(span.agent or '-')} · start {span.start_ms:,.1f} ms · "
                   f"model: {escape_md(span.model or '-')}")
        if span.input:
            st.text_area("Input", span.input, height=120, disabled=True,
                         key=f"trace_in_{span.span_id}")
        if span.output:
            st.text_area("Output", span.output, height=120, disabled=True,
                         key=f"trace_out_{span.span_id}")

st.subheader("Compare two runs")
partner = default_partner(runs, run["run_id"])
if partner is None:
    st.info("This experiment has no other run to compare this one with.")
else:
    others = [i for i in range(len(rows)) if i != pick]
    second = st.selectbox(
        "Compare with", others, key=f"trace_compare_{run['run_id']}", format_func=run_label,
        index=next(n for n, i in enumerate(others) if rows[i]["run_id"] == partner),
        help="Another run of this experiment: by default the same input in another form, "
        "else another repetition of this form.")
    other_spans = store.load_spans(rows[second]["run_id"])
    label_a, label_b = f"A: {short_label(pick)}", f"B: {short_label(second)}"
    aligned, first = align(steps_of(spans), steps_of(other_spans))
    message = divergence_text(aligned, first, escape_md(label_a), escape_md(label_b),
                              quote=code_md)  # step names come from the runs
    if first is None:
        st.success(message)
    else:
        st.warning(message)
    st.dataframe(
        aligned_frame(aligned).style.apply(
            lambda r: ["background-color: #FDE2B8" if r.name == first else ""] * len(r), axis=1
        ).format(precision=1, na_rep=""),
        width="stretch", hide_index=True, key="trace_compare_table")
    st.plotly_chart(waterfall_pair(spans, other_spans, label_a, label_b), width="stretch",
                    key="trace_compare_waterfalls")
