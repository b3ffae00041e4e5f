"""How long an experiment will take: stated before Run, and an ETA while it runs."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from apptest_pages import app_on

from orchlab.running import timing


@pytest.mark.parametrize(("seconds", "text"), [
    (0.2, "about 1 s"), (40, "about 40 s"), (60, "about 1 min"), (190, "about 3 min 10 s"),
    (7500, "about 2 h 5 min"), (-3, "about 0 s")])
def test_durations_read_as_people_say_them(seconds: float, text: str) -> None:
    assert timing.duration_text(seconds) == text


def runs(backend: str = "local:smollm2-135m") -> pd.DataFrame:
    return pd.DataFrame({"form": ["code", "code", "code", "llm", "llm"], "backend": backend,
                         "wall_ms": [8_000, 10_000, 12_000, 20_000, 40_000]})


def test_the_expected_duration_comes_from_stored_runs_on_the_same_backend() -> None:
    text = timing.expected_text(runs(), "local:smollm2-135m", {"code": 3, "llm": 3}, 4, True)
    # one at a time: 3 x 10 s + 3 x 30 s = 120 s
    assert text == ("Expected duration: about 2 min, from the median of 5 stored runs on "
                    "local:smollm2-135m.")
    served = timing.expected_text(runs("compat:m@x"), "compat:m@x", {"code": 4}, 4, False)
    assert served.startswith("Expected duration: about 10 s,")  # 4 x 10 s over 4 in flight


def test_without_stored_runs_the_estimate_says_it_is_a_guess() -> None:
    text = timing.expected_text(runs("openai:gpt-4.1-mini"), "local:smollm2-135m",
                                {"code": 2, "llm": 2}, 4, True)
    assert text == ("Expected duration: roughly 2 min (a guess of 30 s per run: no runs of "
                    "these forms stored on local:smollm2-135m yet).")
    empty = timing.expected_text(pd.DataFrame(), "compat:m@x", {"plan": 1}, 1, False)
    assert "a guess of 10 s per run" in empty


def test_the_eta_follows_the_experiments_own_pace() -> None:
    assert timing.eta_text(0, 10, 5.0) == "time left: known after the first run"
    assert timing.eta_text(2, 10, 30.0) == "about 2 min left"
    assert timing.eta_text(10, 10, 99.0) == "finishing"


def test_the_run_page_states_the_expected_duration(app_env: Path) -> None:
    at = app_on()
    said = [c.value for c in at.caption if c.value.startswith("Expected duration")]
    assert said == ["Expected duration: roughly 5 s (a guess of 10 s per run: no runs of "
                    "these forms stored on scripted:sales yet)."], said


def test_a_running_experiment_shows_its_eta(app_env: Path) -> None:
    from test_run_page import page_showing, slow_job

    job = slow_job(app_env, at_least=2)
    at = page_showing(job)
    job.cancel()
    job.join(timeout=60)
    labels = [s.label for s in at.status]
    assert any(label.startswith("Running ") and label.endswith(" left") for label in labels), \
        labels
