"""Class replay (a workshop): the replay the teacher started for everyone, one job drawn on
every participant's screen."""

from __future__ import annotations

import streamlit as st

from views._class import look_at_stage, stage
from views._race import (
    drawing_live,
    final_outputs,
    how_drawn,
    presenter_style,
    race_view,
    waits_for_end,
)
from views._widgets import escape_md

REFRESH_S = 2.0
"""A live replay redraws this often: the race reads at this pace from across a room."""
FIRST_DRAW = "stage_live_first_draw"
"""The live panel's session key for `views._race.drawing_live` (the page's own draw does not
wait: the teacher started the replay elsewhere)."""

st.title("Class replay")
showing = stage().showing
if showing is None:
    st.info("The teacher has not started a replay yet: this page shows it when they do.")
    st.stop()
st.subheader(escape_md(showing.title))
big = st.toggle("Large type", value=True, key="stage_big")
if big:
    presenter_style()


@st.fragment(run_every=REFRESH_S)
def live() -> None:
    """The replay while it runs, then a watch for its end (as the Run page's live panel);
    one full rerun when it ends. It also looks for a newer replay on the stage."""
    look_at_stage()
    draw = how_drawn(FIRST_DRAW)
    snap = showing.job.snapshot()
    if snap.finished:
        st.rerun()
    st.caption(f"{len(snap.records)}/{snap.total} runs replayed…")
    # On every participant's screen at once: the light picture (its type larger with `big`).
    race_view(showing.job, snap, big, key="stage_race_live", drawing="picture")
    if waits_for_end(showing.job, draw):
        st.rerun()


snap = showing.job.snapshot()
if not snap.finished:
    drawing_live(FIRST_DRAW)
    live()
else:
    if snap.error:
        st.error(escape_md(snap.error))
    race_view(showing.job, snap, big, key="stage_race_final")
    final_outputs(snap, showing.job.spec.forms)
