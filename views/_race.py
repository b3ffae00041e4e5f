"""The Run page's race view and presenter mode: layout only (`orchlab.present.race` computes it);
and how a live race's panel watches for its job's end (the Run page and the class replay)."""

from __future__ import annotations

from typing import Any, Literal

import streamlit as st

from orchlab.present.figures import group_colors
from orchlab.present.race import Race, RaceMemo, build_race, lane_caption
from orchlab.present.race_figures import PICTURE_WIDTH, race_figure, race_picture
from orchlab.running.jobs import ExperimentJob, JobSnapshot
from orchlab.stats.findings import title
from views._class import page_is_live
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
Drawing = Literal["figure", "picture", ""]
"""How a race is drawn: the plotly figure, the SVG picture, or not at all (`race_view`)."""
BIG_PICTURE_WIDTH = 640
"""Presenter mode's race picture is drawn this wide (in its own units) and scaled to the
column like the normal one: its type reads half as large again."""


def presenter_style() -> None:
    """Large type for the whole page: injected once per script run, never from a fragment."""
    st.markdown(PRESENTER_CSS, unsafe_allow_html=True)


@st.cache_resource
def race_memo() -> RaceMemo[Any]:
    """Every job's latest race and figure, for the whole server process: a race is computed
    (and its figure built) once per version of the job, not once per page redraw."""
    return RaceMemo()


def current_race(job: ExperimentJob, snap: JobSnapshot, big: bool = False,
                 drawing: Drawing = "figure") -> tuple[Race, Any]:
    """The race of this job now and its drawing (None without lanes, or with no drawing
    asked for): the plotly figure ("figure") or the light SVG picture ("picture",
    `race_figures.race_picture`), computed again only when the job moved since it was last
    drawn (`ExperimentJob.version`); live spans come from the experiment process's latest
    report, or this process's recorder. A figure takes the server tens of ms to build, and
    twenty results arriving at once would build twenty nobody asked to see."""

    def compute(previous: Race | None) -> tuple[Race, Any]:
        race = build_race(snap, job.peek, job.spec.forms, job.spec.workers, previous=previous)
        if not race.lanes or not drawing:
            return race, None
        colors = group_colors(job.spec.forms)
        if drawing == "picture":
            return race, race_picture(race.lanes, colors,
                                      width=BIG_PICTURE_WIDTH if big else PICTURE_WIDTH)
        fig = race_figure(race.lanes, colors)
        if big:
            fig.update_layout(font={"size": BIG_FONT}, height=int(fig.layout.height * 1.3))
        return race, fig

    return race_memo().get(f"{job.job_id}:{big}:{drawing or 'none'}", snap.version, compute)


def race_view(job: ExperimentJob, snap: JobSnapshot, big: bool, key: str,
              drawing: Drawing = "figure") -> Race:
    """The race's drawing, one caption per lane and the race sentence; returns the race.
    `drawing`: "figure" (plotly, to explore), "picture" (an SVG image, light enough to redraw
    on every participant's page every two seconds) or "" (captions and sentence only)."""
    race, drawn = current_race(job, snap, big, drawing)
    if race.note:
        st.caption(race.note)
    if not race.lanes:
        st.caption("The race starts with the first run…")
        return race
    if drawing == "figure":
        st.plotly_chart(drawn, width="stretch", key=key)
    elif drawing == "picture":
        st.image(drawn, width="stretch")
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


END_WAIT_S = 1.5
"""After each redraw a live panel waits this long for its job's end and draws the result the
moment it comes: the result shows within moments of the end, not up to a redraw later, with
one timer on the page (`views._class.page_is_live` says why not two). A Cancel press waits at
most this long."""
LiveDraw = Literal["redraw", "wait", "look"]
"""Which run draws a live panel (`how_drawn`): its own timed or clicked rerun ("redraw"), the
full run that has just started the job ("wait"), or another full run ("look": a page opened
again, a widget changed), which does not wait for the end."""


def drawing_live(first_key: str, wait: bool = False) -> None:
    """A full script run is about to draw a live panel, the page's one timer
    (`page_is_live`). Its draw in this run waits for the end only with `wait` (the run that
    has just started the job: its first look would otherwise come a redraw later); the
    panel's own reruns always wait (`waits_for_end`). `first_key` is the panel's session
    key."""
    page_is_live()
    st.session_state[first_key] = "wait" if wait else "look"


def how_drawn(first_key: str) -> LiveDraw:
    """Which run this live panel's draw is (`LiveDraw`): asked once, at the panel's top."""
    drawn: LiveDraw = st.session_state.pop(first_key, "redraw")
    return drawn


def waits_for_end(job: ExperimentJob, draw: LiveDraw) -> bool:
    """At the end of a live panel's draw: wait up to END_WAIT_S for the job's end, except on
    a draw that does not wait ("look"); whether it ended."""
    return draw != "look" and job.join(END_WAIT_S)
