"""Weather: "What's the weather tomorrow in <city>?", answered from a forecast tool.

Code form: code calls get_forecast (a function span), then the summarizer agent writes the
summary. LLM form: a weather agent with get_forecast and the summarizer (as a tool) decides.
The hybrid forms (plan, guarded) live in scenarios/_weather_forms.py.
Outcome (no LLM): the summary states the min and max temperature the tool returned and names
the city, and the forecast tool ran exactly once.
"""

from __future__ import annotations

import re
from typing import Any

from orchlab.scenario import (
    FlowEnv,
    Form,
    OutcomeInput,
    RubricJudge,
    Scenario,
    ScenarioInput,
    orchestrator,
)
from scenarios._common import function_calls
from scenarios._weather_data import (
    SAMPLE_DATA_LABEL,
    cities,
)
from scenarios._weather_forms import guarded_flow, plan_flow, question
from scenarios._weather_tools import FORECASTS, TOOL, get_forecast_impl, summary_prompt, tools

__all__ = ["SAMPLE_DATA_LABEL", "SCENARIO"]

TEMPERATURE_TOLERANCE = 0.6
"""A stated number matches a temperature within this many degrees (covers rounding)."""
QUESTION = "What's the weather tomorrow in {city}? Give me a short summary."

INPUTS = [
    ScenarioInput(c.id, f"{c.name}, {c.country} ({c.climate})",
                  {"city": c.name, "question": QUESTION.format(city=c.name)})
    for c in cities()
]


async def code_flow(item: ScenarioInput, env: FlowEnv) -> str:
    """Code fetches the forecast (a function span, like the LLM's call), the summarizer writes."""
    forecast = await env.call_tool(TOOL, get_forecast_impl, city=item.data["city"], date="tomorrow")
    return await env.run("summarizer", summary_prompt(item.data["question"], [forecast]))


llm_flow = orchestrator("weather_agent", question)
"""The weather agent decides when to fetch and when to summarize."""


# -- outcome ---------------------------------------------------------------------------------

_MONTHS = ("jan|feb|mar|apr|may|jun|jul|aug|sep|sept|oct|nov|dec|january|february|march|april|"
           "june|july|august|september|october|november|december")
_DATES = re.compile(
    rf"\b\d{{4}}-\d{{2}}-\d{{2}}\b|\b(?:{_MONTHS})\.?\s+\d{{1,2}}(?:st|nd|rd|th)?\b"
    rf"|\b\d{{1,2}}(?:st|nd|rd|th)?\s+(?:of\s+)?(?:{_MONTHS})\b", re.IGNORECASE)
_NUMBER = re.compile(r"(minus\s+|[-\u2212\u2013])?(\d+(?:[.,]\d+)?)(?!\d)", re.IGNORECASE)
_NOT_TEMPERATURE = re.compile(r"\s*(?:%|(?:percent|km/?h|kph|mph|m/s|mm|cm|hpa|knots?)\b)",
                              re.IGNORECASE)
_BELOW_ZERO = re.compile(r"\s*(?:°\s*c?\s*|degrees?\s*)?below\s+zero", re.IGNORECASE)


def stated_numbers(text: str) -> list[float]:
    """Numbers in a text that could be temperatures: dates, %, speeds and amounts left out.

    A dash after a digit is a range ("12-18"), not a sign; "minus 3", "−3" and "3 below zero"
    are negative.
    """
    text = _DATES.sub(" ", text)
    numbers: list[float] = []
    for match in _NUMBER.finditer(text):
        if _NOT_TEMPERATURE.match(text, match.end()):
            continue
        value = float(match.group(2).replace(",", "."))
        sign = match.group(1)
        before = text[:match.start()].rstrip()
        range_dash = bool(sign) and sign.strip() != "minus" and before[-1:].isdigit()
        negative = (bool(sign) and not range_dash) or bool(_BELOW_ZERO.match(text, match.end()))
        numbers.append(-value if negative else value)
    return numbers


def states_temperature(text: str | None, value: float) -> bool:
    """Whether the text states `value` within TEMPERATURE_TOLERANCE (12, 12°C, 12.4 ~ 12.4)."""
    return bool(text) and any(abs(n - value) <= TEMPERATURE_TOLERANCE
                              for n in stated_numbers(text or ""))


def names_city(text: str | None, city: str) -> bool:
    """Whether the text names the city (case-insensitive, whole words)."""
    pattern = rf"\b{re.escape(city)}\b"
    return bool(text) and re.search(pattern, text or "", re.IGNORECASE) is not None


def tool_forecast(result: OutcomeInput) -> dict[str, Any] | None:
    """The last successful forecast the tool returned for the input's city."""
    city = result.input.data["city"].lower()
    for item in reversed(result.deps.artifacts.get(FORECASTS, [])):
        if "error" not in item and item.get("city", "").lower() == city:
            return item
    return None


def check_outcome(result: OutcomeInput) -> dict[str, Any]:
    """Temperatures against the tool's own output.

    `forecast_calls` counts the run's get_forecast function spans: every call the orchestrator
    made, a call a guard refused included (it is a span, marked with an error). `forecast_once`
    asks whether the forecast service ran exactly once, so it counts what the tool body really
    returned (`deps.artifacts["forecasts"]`, errors included): a refused call never reached the
    service. In the code and LLM forms nothing is refused and the two counts agree, except for
    a call whose arguments the SDK rejected before the tool body ran, which never reached the
    service either. The `guarded` run's outcome also has `guard_refusals` (added by the runner).
    """
    summary = result.final_output
    forecast = tool_forecast(result)
    calls = function_calls(result.spans, [TOOL])
    served = len(result.deps.artifacts.get(FORECASTS, []))
    outcome: dict[str, Any] = {
        "city_named": names_city(summary, result.input.data["city"]),
        "min_stated": forecast is not None
        and states_temperature(summary, forecast["temperature_min_c"]),
        "max_stated": forecast is not None
        and states_temperature(summary, forecast["temperature_max_c"]),
        "forecast_calls": calls,
        "forecast_once": served == 1,
        "forecast_source": forecast["source"] if forecast else None,
    }
    keys = ("city_named", "min_stated", "max_stated", "forecast_once")
    outcome["success"] = all(outcome[k] for k in keys)
    return outcome


SCENARIO = Scenario(
    name="weather",
    description=(
        "Answer 'What's the weather tomorrow in <city>?' from a get_forecast tool (bundled "
        "Open-Meteo-format sample data by default; live Open-Meteo with ORCHLAB_WEATHER_LIVE=1) "
        "and a summarizer agent. Success: the summary names the city and states the tool's min "
        "and max temperature, and the tool ran exactly once."
    ),
    inputs=INPUTS,
    tools=tools,
    forms=[
        Form("code", "code", "Code calls get_forecast, then the summarizer writes the summary.",
             code_flow),
        Form("plan", "hybrid", "A planner returns the forecast lookups as a typed plan; code "
             "checks the city and date, calls get_forecast, then the summarizer writes.",
             plan_flow),
        Form("guarded", "hybrid", "The LLM form's weather agent, with a code guard refusing a "
             "second get_forecast for a city it has already looked up.", guarded_flow),
        Form("llm", "llm", "A weather agent with get_forecast and the summarizer as tools "
             "decides.", llm_flow),
    ],
    check_outcome=check_outcome,
    rule="names the city, states the tool's min and max temperature, one forecast call",
    judges=[
        # the forecast is whatever get_forecast returned in that run (sample data or live
        # Open-Meteo): no answer key fits both, so the judge reads the run's own tool results
        RubricJudge("faithfulness", "judge_faithfulness",
                    sees=("input", "final_output", "tool_results"),
                    question="Does every fact in the summary agree with the forecast the tool "
                             "returned?"),
    ],
)
