"""How long an experiment will probably take: before Run, from the runs already stored on the
same backend (else a rough guess that says it is one), and while it runs, from its own pace.
"""

from __future__ import annotations

import math

import pandas as pd

from orchlab.core.backend_ids import is_local_id

GUESS_S = {"local": 30.0, "remote": 10.0}
"""Seconds per run assumed when nothing is stored yet: the embedded model takes tens of
seconds per run on a laptop CPU; a hosted or served model a few seconds."""
MIN_DONE_FOR_ETA = 1
"""Finished runs before the pace of this experiment is used."""


def duration_text(seconds: float) -> str:
    """'about 40 s', 'about 3 min 10 s', 'about 2 h 5 min'."""
    return f"about {_span(seconds)}"


def _span(seconds: float) -> str:
    """'40 s', '3 min 10 s', '2 h 5 min' (whole seconds, rounded up under a minute)."""
    seconds = max(0.0, seconds)
    if seconds < 60:
        return f"{math.ceil(seconds)} s"
    minutes, secs = divmod(round(seconds), 60)
    if minutes < 60:
        return f"{minutes} min {secs} s" if secs else f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes} min"


def expected_text(runs: pd.DataFrame, backend_id: str, planned_by_form: dict[str, int],
                  concurrency: int, one_at_a_time: bool) -> str:
    """Before Run: the plan's likely duration. Per form, the median wall time of the runs
    stored on this backend, times that form's planned runs, over the runs in flight at once
    (one for a backend that serves one request at a time)."""
    parallel = 1 if one_at_a_time else max(1, concurrency)
    total = sum(planned_by_form.values())
    mine = runs[runs["backend"] == backend_id] if not runs.empty else runs
    medians = mine.groupby("form")["wall_ms"].median() / 1000 if not mine.empty else pd.Series()
    if all(f in medians.index for f in planned_by_form):
        seconds = sum(float(medians[f]) * n for f, n in planned_by_form.items()) / parallel
        return (f"Expected duration: {duration_text(seconds)}, from the median of "
                f"{len(mine)} stored runs on {backend_id}.")
    per_run = GUESS_S["local" if is_local_id(backend_id) else "remote"]
    seconds = per_run * total / parallel
    return (f"Expected duration: roughly {_span(seconds)} (a guess of "
            f"{per_run:.0f} s per run: no runs of these forms stored on {backend_id} yet).")


def eta_text(done: int, total: int, elapsed_s: float) -> str:
    """While it runs: the time left at this experiment's own pace so far."""
    if total <= done:
        return "finishing"
    if done < MIN_DONE_FOR_ETA:
        return "time left: known after the first run"
    left = elapsed_s / done * (total - done)
    return f"{duration_text(left)} left"
