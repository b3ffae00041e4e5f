"""The Run page's race view and presenter mode: layout only (`orchlab.present.race` computes it)."""

from __future__ import annotations

import streamlit as st

from orchlab.present.figures import group_colors
from orchlab.present.race import Race, build_race, lane_caption
from orchlab.present.race_figures import race_figure
from orchlab.running.jobs import ExperimentJob, JobSnapshot
from orchlab.stats.findings import title
from views._widgets import escape_md

PRESENTER_CSS = """<style>
[data-testid="stMain"] [data-testid="stCaptionContainer"] { font-size: 1.45rem; }
[data-testid="stMain"] [data-testid="stAlertContentSuccess"] p { font-size: 1.9rem; }
[data-testid="stMain"] .stMarkdown p, [data-testid="stMain"] label p { font-size: 1.3rem; }
[data-testid="stMain"] [data-testid="stText"] { font-size: 1.3rem; }
</style>"""
"""Presenter mode's large type: captions, the race sentence and the outputs (plain text,
`stText`) read from afar."""
BIG_FONT = 18
"""Presenter mode's figure font size (plotly's default is 12)."""


def presenter_style() -> None:
    """Large type for the whole page: injected once per script run, never from a fragment."""
    st.markdown(PRESENTER_CSS, unsafe_allow_html=True)


PREVIOUS_KEY = "run_race_previous"
"""The session's last race drawn: a run's spans stay drawn while its record is stored."""


def current_race(job: ExperimentJob, snap: JobSnapshot) -> Race:
    """The race of this job now, live spans read from the process's recorder."""
    race = build_race(snap, job.peek, job.spec.forms, job.spec.workers,
                      previous=st.session_state.get(PREVIOUS_KEY))
    st.session_state[PREVIOUS_KEY] = race
    return race


def race_view(job: ExperimentJob, snap: JobSnapshot, big: bool, key: str) -> Race:
    """The race figure, one caption per lane and the race sentence; returns the race."""
    race = current_race(job, snap)
    if race.note:
        st.caption(race.note)
    if not race.lanes:
        st.caption("The race starts with the first run…")
        return race
    fig = race_figure(race.lanes, group_colors(job.spec.forms))
    if big:
        fig.update_layout(font={"size": BIG_FONT}, height=int(fig.layout.height * 1.3))
    st.plotly_chart(fig, width="stretch", key=key)
    for lane in race.lanes:  # names what runs: agent and tool names from the run's spans
        st.caption(escape_md(lane_caption(lane)))
    if race.sentence:
        st.success(escape_md(race.sentence))
    return race


def final_outputs(snap: JobSnapshot, forms: list[str]) -> None:
    """Presenter mode's result: each form's final output, side by side, as plain text: the
    model wrote it, and markdown would let it fetch an image in front of the audience."""
    shown = [f for f in forms if any(r.form == f for r in snap.records)]
    for column, form in zip(st.columns(max(len(shown), 1)), shown, strict=False):
        record = [r for r in snap.records if r.form == form][-1]
        with column:
            st.subheader(escape_md(title(form)))
            st.caption(f"{escape_md(record.status)} · {record.metrics.wall_ms / 1000:.1f} s")
            st.container(border=True).text(record.final_output or "(no output)")
