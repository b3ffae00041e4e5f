"""The weather scenario's hybrid forms: plan-then-execute and a guarded weather agent.

Kept apart from scenarios/weather.py so that module stays readable (discovery skips this one:
leading underscore). The tool body and the summarizer prompt come from
scenarios/_weather_tools.py, which both modules import.

- `plan`: the planner agent (no tools) returns a `WeatherPlan`; code checks every lookup (one
  or two, a known city that is the question's own, a date the tool understands) before any
  forecast is fetched, then calls get_forecast for each lookup and hands the JSON to the
  summarizer, as the code form does. A plan with any problem ends the run as `invalid_plan`.
- `guarded`: the LLM form's weather agent, with get_forecast behind a guard that refuses a
  second lookup of a city this run has already looked up (whatever the date).
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

from pydantic import BaseModel

from orchlab.scenario import (
    FlowEnv,
    RunDeps,
    ScenarioInput,
    guarded_orchestrator,
    plan_then_execute,
)
from scenarios._weather_data import ForecastError, find_city
from scenarios._weather_tools import TOOL, get_forecast_impl, summary_prompt

MAX_LOOKUPS = 2
"""A question about one city's weather needs one forecast, two at most (e.g. today and
tomorrow); more is a plan that would fetch for the sake of fetching."""
DATE_WORDS = ("tomorrow", "today")
_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
LOOKUPS_KEY = "forecast_lookups"
"""RunDeps.artifacts key: the cities (canonical names) the guard let get_forecast look up."""


class ForecastLookup(BaseModel):
    """One forecast the plan asks code to fetch. Every field is required, no defaults: the
    SDK's strict JSON schema for `output_type` needs that."""

    city: str
    date: str


class WeatherPlan(BaseModel):
    """The planner's whole answer: the lookups, in the order code should make them."""

    lookups: list[ForecastLookup]


def date_problem(date: str) -> str | None:
    """Why get_forecast could not take `date`, or None: "tomorrow", "today" or a real ISO date."""
    if date.strip().lower() in DATE_WORDS:
        return None
    text = date.strip()
    if _ISO_DATE.fullmatch(text):
        try:
            dt.date.fromisoformat(text)
            return None
        except ValueError:
            pass
    return f"date {date!r} is not 'tomorrow', 'today' or an ISO date (YYYY-MM-DD)"


def plan_problems(plan: WeatherPlan, city: str) -> list[str]:
    """What code refuses in a plan for a question about `city`; an empty list accepts it.

    `find_city` raises ForecastError for a city it does not know: that is a problem of the
    plan, reported with the rest, never an exception out of the check.
    """
    problems: list[str] = []
    if not 1 <= len(plan.lookups) <= MAX_LOOKUPS:
        problems.append(f"it has {len(plan.lookups)} lookups; one or {MAX_LOOKUPS} are allowed")
    seen: set[tuple[str, str]] = set()
    for number, lookup in enumerate(plan.lookups, start=1):
        try:
            known = find_city(lookup.city)
        except ForecastError:
            problems.append(f"lookup {number}: unknown city {lookup.city!r}")
        else:
            if known.name.lower() != city.lower():
                problems.append(f"lookup {number}: {known.name} is not the question's city "
                                f"({city})")
        date = date_problem(lookup.date)
        if date:
            problems.append(f"lookup {number}: {date}")
        key = (city_key(lookup.city), lookup.date.strip().lower())
        if key in seen:
            problems.append(f"lookup {number} repeats an earlier lookup")
        seen.add(key)
    return problems


def question(item: ScenarioInput) -> str:
    return str(item.data["question"])


async def run_plan(item: ScenarioInput, env: FlowEnv, plan: WeatherPlan) -> str:
    """The accepted plan: code fetches its forecasts one after the other (each a function
    span, as in the code form) and the summarizer writes."""
    forecasts = [await env.call_tool(TOOL, get_forecast_impl, city=lookup.city,
                                     date=lookup.date) for lookup in plan.lookups]
    return await env.run("summarizer", summary_prompt(item.data["question"], forecasts))


def question_city_problems(plan: WeatherPlan, item: ScenarioInput, env: FlowEnv) -> list[str]:
    """`plan_problems` for the city the input asks about."""
    return plan_problems(plan, item.data["city"])


plan_flow = plan_then_execute("planner", question, WeatherPlan, run_plan,
                              check=question_city_problems)
"""The planner decides which forecasts to fetch; code checks the plan, then carries it out."""


def city_key(name: str) -> str:
    """One spelling per city: the known city's name, else the name as written (lower case,
    without a ', Country' suffix), so 'denver' and 'Denver, USA' are the same lookup."""
    try:
        return find_city(name).name.lower()
    except ForecastError:
        return name.split(",")[0].strip().lower()


def one_lookup_per_city(deps: RunDeps, args: dict[str, Any]) -> str | None:
    """Guard on get_forecast: a city this run has already looked up is not looked up again.

    The guard records each city it lets through in `deps.artifacts[LOOKUPS_KEY]` when it lets
    the call through, so a call the tool then rejects (bad arguments) still counts as the
    city's lookup, as does one that returned an error: with the bundled sample data a known
    city never fails, and the contract is one call per city, whatever the date. (Guarded calls
    of one run are checked one at a time, `orchlab.scenario.tools.guard`, so calls of one model turn
    see each other.)
    """
    city = args.get("city")
    if not isinstance(city, str):
        return None  # the tool's own argument parser tells the model what is wrong
    key = city_key(city)
    looked_up: list[str] = deps.artifacts.setdefault(LOOKUPS_KEY, [])
    if key in looked_up:
        return (f"get_forecast already ran for {city.strip()} in this run, so use the forecast "
                "you already have instead of looking it up again.")
    looked_up.append(key)
    return None


guarded_flow = guarded_orchestrator("weather_agent", {TOOL: one_lookup_per_city}, question)
"""The LLM form's weather agent, unchanged, with get_forecast behind the one-lookup guard."""
