"""Scripted model steps for the weather scenario (input `denver`, sample data)."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from agents.testing import assistant_message, function_call
from agents.usage import Usage

from orchlab.backends import Backend
from orchlab.testing.scripted import scripted_backend

CITY = "Denver"
INPUT_ID = "denver"
SAMPLE_MIN, SAMPLE_MAX = -1.6, 9.8
"""Denver's sample forecast for the sample day (scenarios/data/weather/sample_denver.json)."""
SUMMARY = ("Tomorrow in Denver expect light snow, with temperatures from -2 to 10 °C, a 55% "
           "chance of precipitation and gusts up to 31 km/h. (sample data)")
CODE_PATH = "get_forecast > summarizer"
LLM_PATH = "weather_agent > get_forecast > summarizer"
PLAN_PATH = "planner > get_forecast > summarizer"
GUARDED_PATH = LLM_PATH


def step(items: list[Any], tokens: tuple[int, int] = (100, 20)) -> dict[str, Any]:
    """One model turn with a known usage."""
    usage = Usage(requests=1, input_tokens=tokens[0], output_tokens=tokens[1],
                  total_tokens=sum(tokens))
    return {"output": items, "usage": usage}


def summarizer_script(text: str = SUMMARY) -> Callable[[], list[Any]]:
    return lambda: [step([assistant_message(text)])]


def weather_agent_script(city: str = CITY, calls: int = 1) -> Callable[[], list[Any]]:
    """Calls get_forecast `calls` times (one per turn), then the summarizer, then answers."""

    def script() -> list[Any]:
        forecasts = [step([function_call("get_forecast", {"city": city, "date": "tomorrow"},
                                         call_id=f"f{i}")]) for i in range(calls)]
        summarize = function_call("summarizer", {"input": f"Summarize tomorrow in {city}."},
                                  call_id="s1")
        return [*forecasts, step([summarize]), step([assistant_message(SUMMARY)])]

    return script


def planner_script(lookups: list[dict[str, str]] | None = None,
                   reply: str | None = None) -> Callable[[], list[Any]]:
    """One turn: the plan as JSON (by default one lookup, Denver tomorrow), or `reply` as is."""
    plan = {"lookups": [{"city": CITY, "date": "tomorrow"}] if lookups is None else lookups}
    text = json.dumps(plan) if reply is None else reply
    return lambda: [step([assistant_message(text)], (80, 15))]


def weather_backend(**overrides: Callable[[], list[Any]]) -> Backend:
    """Every agent of the scenario has a script (each one is built for every run)."""
    scripts: dict[str, Callable[[], list[Any]]] = {
        "summarizer": summarizer_script(), "weather_agent": weather_agent_script(),
        "planner": planner_script()}
    scripts.update(overrides)
    return scripted_backend(scripts)
