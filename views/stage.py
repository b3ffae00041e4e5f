"""Class replay (a workshop): the replay the teacher started for everyone, one job drawn on
every participant's screen."""

from __future__ import annotations

import streamlit as st

from views._class import stage
from views._race import final_outputs, presenter_style, race_view
from views._widgets import escape_md

REFRESH_S = 2.0
"""A live replay redraws this often: the race reads at this pace from across a room."""

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
    """The replay while it runs; one full rerun when it ends."""
    snap = showing.job.snapshot()
    if snap.finished:
        st.rerun()
    st.caption(f"{len(snap.records)}/{snap.total} runs replayed…")
    race_view(showing.job, snap, big, key="stage_race_live")


snap = showing.job.snapshot()
if not snap.finished:
    live()
else:
    if snap.error:
        st.error(escape_md(snap.error))
    race_view(showing.job, snap, big, key="stage_race_final")
    final_outputs(snap, showing.job.spec.forms)
