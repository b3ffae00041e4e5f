"""The weather scenario's one tool and what code hands the summarizer: shared by every form
(scenarios/weather.py and scenarios/_weather_forms.py import it; it imports neither)."""

from __future__ import annotations

import json

from agents import RunContextWrapper, Tool, function_tool

from orchlab.scenario import RunDeps, ToolUnavailable, tool_failure
from scenarios._weather_data import ForecastError, find_city, provider_from_env

TOOL = "get_forecast"
FORECASTS = "forecasts"
"""RunDeps.artifacts key: every forecast the tool returned in this run (dicts)."""

def get_forecast_impl(deps: RunDeps, city: str, date: str) -> str:
    """The tool body shared by both forms: JSON forecast, or JSON error the model can read.

    A forecast service that cannot be reached ends the run as `tool_unavailable`: a summary of
    a network error says nothing about who orchestrated, so it must not count as a failure.
    """
    try:
        forecast = provider_from_env().forecast(find_city(city), date)
    except ForecastError as exc:  # the model's mistake (unknown city, bad date): it may retry
        deps.artifacts.setdefault(FORECASTS, []).append({"error": str(exc), "city": city})
        return json.dumps({"error": str(exc)})
    except OSError as exc:
        raise ToolUnavailable(f"{TOOL} could not reach the forecast service: {exc}") from exc
    data = forecast.to_dict()
    deps.artifacts.setdefault(FORECASTS, []).append(data)
    return json.dumps(data, ensure_ascii=False)


@function_tool(name_override=TOOL, failure_error_function=tool_failure)
def _get_forecast_tool(ctx: RunContextWrapper[RunDeps], city: str, date: str) -> str:
    """Get the daily forecast for a city: min/max temperature (°C), precipitation
    probability (%), max wind (km/h) and conditions.

    Args:
        city: City name, e.g. "Lima".
        date: "tomorrow", "today" or an ISO date (YYYY-MM-DD).
    """
    return get_forecast_impl(ctx.context, city, date)


def tools() -> dict[str, Tool]:
    """The one real tool; the summarizer becomes a tool via weather_agent's agent file."""
    return {TOOL: _get_forecast_tool}


def summary_prompt(question: str, forecasts: list[str]) -> str:
    """What the summarizer gets from code (code and plan forms): the question and the forecast
    JSON exactly as the tool returned it, one forecast a line."""
    return f"{question}\n\nForecast data (JSON):\n" + "\n".join(forecasts)
