"""What History says about replaying an experiment, and the speed it replays at."""

from __future__ import annotations

import streamlit as st

from orchlab.core.records import ExperimentRecord
from orchlab.running.spec import MAX_REPLAY_SPEED

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
