"""Compare's judges section: each rubric judge's scores per group and its agreement with
people, each pairwise judge's win rate and position bias per pair of forms, and the "Judge
these runs" action (the scenario's rubric judges, or one pairwise judge on two forms, on the
process's job loop through `_judging.JudgeJob`). Every figure comes from `orchlab.stats`; a
judge model's words reach the page only as table cells (text, never markdown)."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from orchlab.backends import BackendError
from orchlab.core.errors import user_sentence
from orchlab.judging.rubric import MAX_REPEAT
from orchlab.scenario import Scenario
from orchlab.stats import analysis, quality
from orchlab.stats.agreement import MIN_LABELLED_RUNS, judge_agreement
from orchlab.stats.analysis import MIN_RUNS_FOR_CI
from orchlab.stats.findings import label, title
from orchlab.stats.pairwise import summarize_pairwise
from orchlab.store.store import Store
from views._class import look_at_stage, page_is_live
from views._judging import JudgeJob
from views._shared import (
    backend_id,
    clear_run_caches,
    get_backend,
    judgements_frame,
    labels_frame,
    pairwise_frame,
)
from views._widgets import code_md, escape_md

JUDGE_JOB = "compare_judge_job"
"""The session's judging pass, while it runs and until its result is shown."""
JUDGE_SAID = "compare_judge_said"
"""The last pass's result (new judgements, what they were, refusals), shown once."""

AGREEMENT_WARNINGS = {
    "untested": "This judge's agreement with people is untested: label at least "
                f"{MIN_LABELLED_RUNS} runs on Trace.",
    "weak": "This judge's agreement with people is weak: read its scores with care, label "
            "more runs on Trace, or judge on another backend.",
}
"""What a person is told under a judge whose agreement verdict is not fair/good."""

QUALITY_COLUMNS = ["Group", "Mean score", "95% interval", "Runs judged (n)", "Judgements"]
"""The columns of a judge's table of scores per group."""

PAIRWISE_COLUMNS = ["Form A", "Form B", "A's win rate", "95% interval", "A won", "B won",
                    "Ties", "Pairs (n)", "Judgements", "Failed", "First shown won"]
"""The columns of a pairwise judge's table, one row per pair of forms it compared."""

PAIRWISE_NOTE = (
    "A pairwise judge reads form A's and form B's runs of one input and repetition, in an "
    "order drawn at random for each comparison, and says which is better or that they tie. "
    "A's win rate counts a tie as half and each pair of runs once (at the mean of its "
    "judgements), at the judge's latest prompt version, over the chosen experiments; its 95% "
    f"interval needs at least {MIN_RUNS_FOR_CI} pairs, and a preference is stated only when "
    "the interval leaves out 50%. First shown won: how often the run it read first won (50% "
    "without a position bias).")
"""What a pairwise judge's figures mean, once above them."""


def judges_section(store: Store, runs: pd.DataFrame, experiment_ids: list[str],
                   scenario: str, scenario_def: Scenario | None) -> None:
    """Everything under Compare's "Judges": the last pass's result, each judge's figures,
    and "Judge these runs" for a scenario this dashboard loads."""
    judging_result()
    ids = tuple(experiment_ids)
    pairwise = pairwise_frame(store.location, ids)
    judge_scores(store, runs, ids, quiet=not pairwise.empty)
    pairwise_scores(pairwise)
    if scenario_def is None:
        return
    if scenario_def.rubric_judges or scenario_def.pairwise_judges:
        judge_action(store, scenario_def, experiment_ids, runs)
    else:
        st.caption(f"{escape_md(scenario)} declares no judges.")


def judge_scores(store: Store, runs: pd.DataFrame, experiment_ids: tuple[str, ...],
                 quiet: bool = False) -> None:
    """Per judge (name on a backend): its mean score per group with n, and its agreement with
    people's labels of the same runs, warned when weak or untested. `quiet`: say nothing when
    no run is judged (other judgements are shown)."""
    judged = judgements_frame(store.location, experiment_ids)
    if judged.empty:
        if not quiet:
            st.caption("No judgements of these runs yet: judge them below.")
        return
    given = labels_frame(store.location, experiment_ids)
    st.caption("Each judge's mean score per group over the runs it judged (n), with its 95% "
               "interval: a run judged several times (--repeat) counts once, at its mean, and "
               "the interval carries the judge's own noise; pass counts 1 and fail 0, so a "
               "pass/fail judge's mean is the share of runs it passed.")
    scored = {(item["judge"], item["backend"]): item
              for item in quality.summarize_quality(runs, judged, by="group")}
    for judge, backend in sorted(set(zip(judged["judge"], judged["backend"], strict=True))):
        st.markdown(f"**{escape_md(judge)}** on {code_md(backend)}")
        item = scored.get((judge, backend))
        if item and item["failed"]:
            st.warning(escape_md(item["failed"]))
        rows = list(item["groups"].values()) if item else []
        st.dataframe(pd.DataFrame({
            "Group": [title(g["group"]) for g in rows],
            "Mean score": [round(g["mean"], 2) for g in rows],
            "95% interval": ["" if g["low"] is None else f"{g['low']:.2f} to {g['high']:.2f}"
                             for g in rows],
            "Runs judged (n)": [g["runs"] for g in rows],
            "Judgements": [g["judgements"] for g in rows]}, columns=QUALITY_COLUMNS),
            hide_index=True, width="stretch", key=f"compare_judge_{judge}_{backend}")
        for compared in item["comparisons"] if item else []:
            st.caption(escape_md(compared["sentence"]))
        said = judged[(judged["judge"] == judge) & (judged["backend"] == backend)]
        with st.expander(f"What {escape_md(judge)} said ({len(said)} judgements)"):
            # the judge model's words: a table cell is text, never markdown
            st.dataframe(pd.DataFrame({
                "Form": said["form"], "Input": said["input_id"],
                "Run repetition": said["run_repetition"],
                "Score": [lb if status == "ok" else f"failed ({cls})" for lb, status, cls
                          in zip(said["label"], said["status"], said["error_class"],
                                 strict=True)],
                "Explanation": said["explanation"].where(said["explanation"].notna(),
                                                         said["error_message"])}),
                hide_index=True, width="stretch", key=f"compare_said_{judge}_{backend}")
        agreement = judge_agreement(given, judged, str(judge), str(backend))
        line = escape_md("Agreement with people: " + agreement.sentence())
        if agreement.verdict == "fair/good":
            st.success(line)
        else:
            st.warning(f"{line}  \n{AGREEMENT_WARNINGS[agreement.verdict]}")


def _pct(value: float | None) -> str:
    return "" if value is None else f"{value:.0%}"


def _interval(share: dict[str, object]) -> str:
    """A share's 95% interval as a cell, or why it has none."""
    low, high = share["low"], share["high"]
    if not isinstance(low, float) or not isinstance(high, float):
        return f"none: fewer than {MIN_RUNS_FOR_CI} pairs"
    return f"{low:.0%} to {high:.0%}"


def pairwise_scores(frame: pd.DataFrame) -> None:
    """Per pairwise judge (name on a backend): per pair of forms it compared, A's win rate
    over B with its 95% interval, the wins, losses and ties, the pairs (n) and its position
    bias, all from `stats.pairwise.summarize_pairwise`; its sentences; what it said."""
    if frame.empty:
        return
    st.caption(PAIRWISE_NOTE)
    found = {(i["judge"], i["backend"], i["form_a"], i["form_b"]): i
             for i in summarize_pairwise(frame)}
    for judge, backend in sorted(set(zip(frame["judge"], frame["backend"], strict=True))):
        mine = frame[(frame["judge"] == judge) & (frame["backend"] == backend)]
        st.markdown(f"**{escape_md(judge)}** (pairwise) on {code_md(backend)}")
        compared = sorted(set(zip(mine["form_a"], mine["form_b"], strict=True)))
        items = [found[key] for a, b in compared if (key := (judge, backend, a, b)) in found]
        st.dataframe(pd.DataFrame({
            "Form A": [title(i["form_a"]) for i in items],
            "Form B": [title(i["form_b"]) for i in items],
            "A's win rate": [_pct(i["win_rate"]["value"]) for i in items],
            "95% interval": [_interval(i["win_rate"]) for i in items],
            "A won": [i["wins_a"] for i in items], "B won": [i["wins_b"] for i in items],
            "Ties": [i["ties"] for i in items],
            "Pairs (n)": [i["win_rate"]["n"] for i in items],
            "Judgements": [i["judgements"] for i in items],
            "Failed": [i["failed"] for i in items],
            "First shown won": [f"{_pct(i['first_won']['value'])} ("
                                f"{_interval(i['first_won'])})" for i in items]},
            columns=PAIRWISE_COLUMNS),
            hide_index=True, width="stretch", key=f"compare_pairwise_{judge}_{backend}")
        for a, b in compared:
            item = found.get((judge, backend, a, b))
            if item is None:
                st.warning(escape_md(f"No usable comparison of {label(a)} with {label(b)} by "
                                     f"{judge}: every judgement at its latest prompt version "
                                     "failed (see what it said)."))
                continue
            sentence = escape_md(item["sentence"])
            if item["win_rate"]["low"] is None:  # too few pairs: it says so, claiming nothing
                st.warning(sentence)
            elif item["win_rate"]["shown"]:
                st.success(sentence)
            else:
                st.info(sentence)
            bias = escape_md(item["position_sentence"])
            (st.warning if item["first_won"]["shown"] else st.caption)(bias)
        pairwise_said(mine, str(judge), str(backend))


def pairwise_said(said: pd.DataFrame, judge: str, backend: str) -> None:
    """A pairwise judge's judgements in a table: which run it read first, who won, and its
    explanation (the judge model's words: a table cell is text, never markdown)."""
    def form_of(side: str | None, a: str, b: str) -> str:
        return title(a) if side == "a" else title(b) if side == "b" else str(side)

    rows = list(said.itertuples(index=False))
    with st.expander(f"What {escape_md(judge)} said ({len(rows)} pairwise judgements)"):
        st.dataframe(pd.DataFrame({
            "Input": [r.input_id for r in rows], "Repetition": [r.repetition for r in rows],
            "Form A": [title(r.form_a) for r in rows], "Form B": [title(r.form_b) for r in rows],
            "Shown first": [form_of(r.shown_first, r.form_a, r.form_b) for r in rows],
            "Winner": [form_of(r.winner, r.form_a, r.form_b) if r.status == "ok"
                       else f"failed ({r.error_class})" for r in rows],
            "Explanation": [r.explanation if r.explanation is not None else r.error_message
                            for r in rows],
            "Prompt version": [r.prompt_version for r in rows]}),
            hide_index=True, width="stretch", key=f"compare_pairwise_said_{judge}_{backend}")


def judge_action(store: Store, scenario_def: Scenario, experiment_ids: list[str],
                 runs: pd.DataFrame) -> None:
    """"Judge these runs": the scenario's rubric judges, or one pairwise judge on two forms'
    runs, on a backend, off the script thread (the process's job loop); progress while it
    runs, the caches refreshed when it ends."""
    job: JudgeJob | None = st.session_state.get(JUDGE_JOB)
    if job is not None:
        page_is_live()
        judging_progress(store)
        return
    with st.expander("Judge these runs"):
        chosen_backend = st.text_input("Judge backend", value=backend_id(),
                                       key="compare_judge_backend",
                                       help="Any backend id, e.g. openai:gpt-4.1-mini; by "
                                            "default the sidebar's.")
        every = "Every rubric judge"
        rubric = [j.name for j in scenario_def.rubric_judges]
        pairwise = [j.name for j in scenario_def.pairwise_judges]
        choice = st.selectbox(
            "Judge", [every] * bool(rubric) + rubric + pairwise, key="compare_judge_rubric",
            format_func=lambda n: f"{n} (pairwise: compares two forms)" if n in pairwise
            else n, help="A rubric judge scores each run; a pairwise judge reads form A's and "
                         "form B's runs of each input and repetition and says which is better.")
        forms = pick_forms(runs) if choice in pairwise else None
        repeat = st.number_input("Repetitions per run", 1, MAX_REPEAT, 1,
                                 key="compare_judge_repeat",
                                 help="Judgements of each run (or pair of runs); their spread "
                                      "is the judge's own noise. Those judged already are "
                                      "skipped.")
        ready = choice not in pairwise or forms is not None
        if st.button("Judge", key="compare_judge_start", disabled=not ready):
            try:
                backend = get_backend(chosen_backend.strip())
            except BackendError as exc:
                st.error(escape_md(user_sentence(exc)))
                return
            if forms is None:
                job = JudgeJob(experiment_ids, rubric if choice == every else [choice],
                               backend, int(repeat))
            else:  # the experiments that ran both (none: each says why, in the core's words)
                both = [e for e in experiment_ids if set(forms) <= set(
                    runs.loc[runs["experiment_id"] == e, "form"])]
                job = JudgeJob(both or experiment_ids, [choice], backend, int(repeat), forms)
            st.session_state[JUDGE_JOB] = job.start(store)
            page_is_live()
            judging_progress(store)


def pick_forms(runs: pd.DataFrame) -> tuple[str, str] | None:
    """Form A and form B for a pairwise judge, from the forms these runs have; None (and
    why, in a caption) until two different forms are chosen."""
    ran = analysis.ordered_groups(runs["form"].astype(str))
    if len(ran) < 2:
        st.caption(f"Only {escape_md(label(ran[0]))} ran in these experiments: a pairwise "
                   "judge compares two forms' runs.")
        return None
    form_a = st.selectbox("Form A", ran, index=0, key="compare_judge_form_a", format_func=title)
    form_b = st.selectbox("Form B", ran, index=1, key="compare_judge_form_b", format_func=title,
                          help="Compared with form A on each input and repetition both ran "
                               "in one experiment.")
    if form_a == form_b:
        st.caption("Form A and form B are one form: choose two.")
        return None
    return form_a, form_b


@st.fragment(run_every=1.0)
def judging_progress(store: Store) -> None:
    """While the pass runs: how many (experiment, judge) passes ended. When it ends: one full
    rerun with the caches cleared, so the new scores are read. The page's one periodic
    fragment: it also looks at a workshop's stage (`views._class.page_is_live`)."""
    look_at_stage()
    job: JudgeJob | None = st.session_state.get(JUDGE_JOB)
    if job is None:
        return
    if not job.done:
        st.progress(job.finished / max(job.total, 1),
                    text=f"Judging on {code_md(job.backend.id)}: {job.stored(store)} "
                         f"{job.what} stored so far; {job.finished} of {job.total} passes "
                         "(experiment and judge) done")
        return
    st.session_state.pop(JUDGE_JOB)
    st.session_state[JUDGE_SAID] = (job.judged(), job.what, job.problems())
    clear_run_caches()
    st.rerun()


def judging_result() -> None:
    """The last pass's result, once: judgements stored, and any refusal's sentence."""
    said = st.session_state.pop(JUDGE_SAID, None)
    if said is None:
        return
    judged, what, problems = said
    if judged == 1:
        what = what.removesuffix("s")
    st.success(f"Judging done: {judged} new {what} stored.")
    for problem in problems:
        st.error(escape_md(problem))
