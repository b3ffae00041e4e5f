"""Trace: one run's nested span tree and waterfall; sub-agents sit inside their tool span.
Then what its scenario's judges said of it, and a person's own label per judge (what the
judges are measured against on Compare). Then the run against a second one of the same
experiment: steps aligned, first divergence."""

from __future__ import annotations

from typing import Any

import pandas as pd
import streamlit as st

from orchlab.core.errors import LabelError, LabelExists
from orchlab.judging import label_run
from orchlab.present.figures import errored_ancestors, span_depths, waterfall, waterfall_pair
from orchlab.scenario import RubricJudge
from orchlab.stats.tracediff import align, aligned_frame, default_partner, divergence_text, steps_of
from views._class import class_toggle, participant, visible
from views._shared import (
    clear_run_caches,
    experiment_choices,
    get_scenarios,
    judgements_frame,
    labels_frame,
    runs_frame,
    store_or_stop,
)
from views._widgets import code_md, escape_md

st.title("Trace")
store = store_or_stop()
experiments = visible(store.list_experiments(), class_toggle("trace_class"))
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

WHO = "trace_label_who"
"""The labeller's name, remembered for the session once given."""


def shown_score(judge: RubricJudge, score: float) -> str:
    """A score as the judge's scale says it: 'pass', 'fail' or '4'."""
    if judge.pass_fail:
        return "pass" if score >= 0.5 else "fail"
    return f"{score:g}"


def judgements_of_run(judge: RubricJudge, judged: pd.DataFrame) -> None:
    """What the judge said of this run, each judgement with its explanation. The explanation
    is the judge model's text: shown as text, never markdown."""
    if judged.empty:
        st.caption("No judgement of this run yet: judge its experiment on Compare (Judges).")
        return
    for row in judged.itertuples(index=False):
        verdict = (shown_score(judge, row.score) if row.status == "ok" and pd.notna(row.score)
                   else f"failed ({row.error_class})")
        st.caption(f"Judge {code_md(row.backend)} · prompt {code_md(row.prompt_version)} · "
                   f"repetition {row.repetition}: **{escape_md(verdict)}**")
        st.text(row.explanation or row.error_message or "(no explanation)")


def labels_of_run(judge: RubricJudge, given: pd.DataFrame) -> None:
    """People's labels of this run for the judge: who, the verdict, when, and the note (a
    person's text, shown as text)."""
    if given.empty:
        st.caption("No one has labelled this run for this judge yet.")
        return
    for row in given.itertuples(index=False):
        st.caption(f"Label by {escape_md(row.who)}: **{escape_md(shown_score(judge, row.score))}**"
                   f" · {row.created_at:%Y-%m-%d %H:%M} UTC")
        if row.note:
            st.text(row.note)


def save_label(judge: RubricJudge, run_id: str, values: dict[str, Any], replace: bool) -> None:
    """Store a label through the core; its one sentence on refusal, and the offer to replace
    a label the person gave already (kept in the session until they answer)."""
    pending = f"trace_pending_{run_id}_{judge.name}"
    st.session_state.pop(pending, None)
    try:
        label_run(store, run_id, judge.name, values["score"], values["who"], values["note"],
                  replace=replace)
    except LabelExists as exc:
        st.session_state[pending] = (values, str(exc))
        return
    except LabelError as exc:
        st.error(escape_md(str(exc)))
        return
    st.session_state[WHO] = values["who"].strip()
    clear_run_caches()
    st.success("Saved" + (": your earlier label was replaced." if replace else "."))


def label_form(judge: RubricJudge, run_id: str) -> None:
    """The person's own verdict on the judge's scale (or pass/fail), a note and their name."""
    options: list[str] = (["pass", "fail"] if judge.scale is None else
                          [str(v) for v in range(judge.scale[0], judge.scale[1] + 1)])
    with st.form(f"trace_label_{run_id}_{judge.name}", border=False):
        score = st.selectbox(f"Your answer ({judge.describe_scale()})", options, index=None,
                             placeholder="Choose", key=f"trace_score_{run_id}_{judge.name}")
        note = st.text_input("Note (optional)", key=f"trace_note_{run_id}_{judge.name}")
        who = st.text_input("Your name", value=st.session_state.get(WHO, participant() or ""),
                            key=f"trace_who_{run_id}_{judge.name}",
                            help="Stored with the label: one label per person, run and judge.")
        pressed = st.form_submit_button("Save label")
    if pressed:
        if score is None:
            st.error("Choose an answer first.")
        else:
            save_label(judge, run_id, {"score": score, "note": note, "who": who}, replace=False)
    pending = st.session_state.get(f"trace_pending_{run_id}_{judge.name}")
    if pending is not None:
        values, sentence = pending
        offer = st.empty()
        offer.warning(escape_md(sentence) + " Replace it with this one?")
        if st.button("Replace my label", key=f"trace_replace_{run_id}_{judge.name}"):
            offer.empty()
            save_label(judge, run_id, values, replace=True)


def judges_section(run_id: str, scenario_name: str, experiment_id: str) -> None:
    """Per judge of the run's scenario: its question, what it said of the run, people's labels
    and the form to add one's own."""
    scenario = get_scenarios().get(scenario_name)
    st.subheader("Judges and your label")
    if scenario is None or not scenario.rubric_judges:
        st.caption(f"{escape_md(scenario_name)} declares no judges here (or is not loaded by "
                   "this dashboard): there is nothing to label.")
        return
    judged = judgements_frame(store.location, (experiment_id,))
    for judge in scenario.rubric_judges:
        with st.container(border=True):
            st.markdown(f"**{escape_md(judge.name)}**: {escape_md(judge.question)} "
                        f"({judge.describe_scale()})")
            form_col, seen_col = st.columns(2)
            with form_col:
                label_form(judge, run_id)
            given = labels_frame(store.location, (experiment_id,))  # a label just saved
            with seen_col:
                labels_of_run(judge, given[(given["run_id"] == run_id)
                                           & (given["judge"] == judge.name)])
                judgements_of_run(judge, judged[(judged["run_id"] == run_id)
                                                & (judged["judge"] == judge.name)])


judges_section(run["run_id"], run["scenario"], labels[exp])

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
