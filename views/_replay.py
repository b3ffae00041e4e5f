"""Choosing a recorded experiment to replay, shared by the Run page and History."""

from __future__ import annotations

import streamlit as st

from orchlab.records import ExperimentRecord
from orchlab.spec import MAX_REPLAY_SPEED
from orchlab.store import Store
from views._shared import experiment_choices

NOT_REPLAYABLE = "not replayable: stored before model calls were recorded"


def replay_note(exp: ExperimentRecord) -> str:
    """What History says about replaying one experiment."""
    if not exp.records_calls:
        return f"Replay: {NOT_REPLAYABLE}."
    if exp.replay_of:
        return f"A replay of {exp.replay_of}; it can be replayed in turn (the same calls)."
    return "Replayable: its model calls are recorded whole."


def speed_slider(key: str) -> float:
    """1 = the recorded timing, 0 = instant."""
    return float(st.slider("Replay speed (1 = the original timing, 0 = instant)", 0.0,
                           min(MAX_REPLAY_SPEED, 4.0), 1.0, 0.25, key=key))


def replay_picker(store: Store, scenario: str, key: str) -> ExperimentRecord | None:
    """A select of the scenario's replayable experiments (None when there is none)."""
    mine = [e for e in store.list_experiments() if e.scenario == scenario]
    usable = [e for e in mine if e.records_calls]
    if not usable:
        st.caption(f"No recorded experiment of {scenario} to replay yet: every experiment run "
                   "from now on is recorded, and History imports experiment files.")
        return None
    old = len(mine) - len(usable)
    if old:
        st.caption(f"{old} older experiment{'s' if old != 1 else ''} of {scenario}: "
                   f"{NOT_REPLAYABLE}.")
    labels = experiment_choices(usable)
    chosen = st.selectbox("Recorded experiment", list(labels), key=key)
    return next(e for e in usable if e.experiment_id == labels[chosen])



