"""Weather's hybrid forms on ScriptedModel: plan-then-execute (typed plan, checked by code) and
the guarded weather agent (one forecast per city), next to the unguarded LLM form."""

from __future__ import annotations

import json
from typing import Any

import pytest
from weather_scripts import (
    CITY,
    GUARDED_PATH,
    INPUT_ID,
    PLAN_PATH,
    SUMMARY,
    planner_script,
    weather_agent_script,
    weather_backend,
)

from orchlab.core.records import RunRecord
from orchlab.running.runner import ExperimentSpec, run_experiment
from orchlab.scenario import RunDeps, get_scenario
from orchlab.store.store import Store
from scenarios import _weather_data as wd
from scenarios import _weather_tools as weather_tools
from scenarios import weather
from scenarios._weather_forms import (
    LOOKUPS_KEY,
    ForecastLookup,
    WeatherPlan,
    one_lookup_per_city,
    plan_problems,
)

TWICE_PATH = "weather_agent > get_forecast > get_forecast > summarizer"


@pytest.fixture(autouse=True)
def service_calls(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Sample data whatever the .env says, and every request that reached the forecast service
    (the provider behind get_forecast), by city."""
    monkeypatch.setenv(wd.LIVE_ENV, "0")
    calls: list[str] = []

    class CountingProvider(wd.SampleProvider):
        def forecast(self, city: wd.City, requested_date: str) -> wd.DailyForecast:
            calls.append(city.name)
            return super().forecast(city, requested_date)

    monkeypatch.setattr(weather_tools, "provider_from_env", CountingProvider)
    return calls


def run_form(store: Store, form: str, **overrides: Any) -> RunRecord:
    spec = ExperimentSpec("weather", forms=[form], inputs=[INPUT_ID])
    result = run_experiment(spec, store, backend=weather_backend(**overrides))
    assert result.status == "completed"
    [record] = result.records
    return record


def forecast_spans(record: RunRecord) -> list[Any]:
    return [s for s in record.spans if s.kind == "function" and s.name == "get_forecast"]


def test_forms_in_catalogue_order() -> None:
    scenario = get_scenario("weather")
    assert scenario.form_ids == ["code", "plan", "guarded", "llm"]
    assert [f.family for f in scenario.forms] == ["code", "hybrid", "hybrid", "llm"]


# -- both hybrid forms when the model behaves ------------------------------------------------

@pytest.mark.parametrize(("form", "path", "tokens", "llm_calls"), [
    ("plan", PLAN_PATH, (80 + 100, 15 + 20), 2),  # planner, summarizer
    ("guarded", GUARDED_PATH, (4 * 100, 4 * 20), 4),  # 3 weather_agent turns, summarizer
])
def test_hybrid_paths_success_and_tokens(store: Store, service_calls: list[str], form: str,
                                         path: str, tokens: tuple[int, int],
                                         llm_calls: int) -> None:
    record = run_form(store, form)
    assert record.status == "ok", record.error_message
    assert record.metrics.path == path
    assert record.final_output == SUMMARY
    assert (record.metrics.input_tokens, record.metrics.output_tokens) == tokens
    assert record.metrics.llm_calls == llm_calls
    assert record.success is True and record.outcome["success"] is True
    assert record.outcome["forecast_calls"] == 1 and record.outcome["forecast_once"] is True
    assert service_calls == [CITY]
    assert record.outcome.get("guard_refusals") == (0 if form == "guarded" else None)


def test_plan_form_fetches_what_the_plan_says_and_feeds_the_summarizer_the_json(
        store: Store) -> None:
    record = run_form(store, "plan")
    [span] = forecast_spans(record)
    assert json.loads(span.input or "{}") == {"city": CITY, "date": "tomorrow"}
    summarizer = next(s for s in record.spans if s.kind == "generation"
                      and s.agent == "summarizer")
    prompt = json.loads(summarizer.input or "[]")[-1]["content"]
    assert prompt == weather.summary_prompt(weather.QUESTION.format(city=CITY), [span.output or ""])


def test_plan_with_two_dates_fetches_both(store: Store, service_calls: list[str]) -> None:
    lookups = [{"city": "denver", "date": "today"}, {"city": CITY, "date": "2025-04-15"}]
    record = run_form(store, "plan", planner=planner_script(lookups))
    assert record.status == "ok", record.error_message
    assert record.metrics.path == "planner > get_forecast > get_forecast > summarizer"
    assert service_calls == [CITY, CITY]
    assert record.outcome["forecast_calls"] == 2 and record.outcome["forecast_once"] is False


# -- a weather agent that looks Denver up twice ----------------------------------------------

def test_llm_form_repeats_the_lookup(store: Store, service_calls: list[str]) -> None:
    record = run_form(store, "llm", weather_agent=weather_agent_script(calls=2))
    assert record.metrics.path == TWICE_PATH
    assert record.outcome["forecast_calls"] == 2 and record.outcome["forecast_once"] is False
    assert "guard_refusals" not in record.outcome and record.success is False
    assert service_calls == [CITY, CITY]


def test_guarded_form_refuses_the_second_lookup(store: Store,
                                                service_calls: list[str]) -> None:
    """The refused call is still a function span (forecast_calls counts it: the model made
    it), marked with the guard's error; the service ran once, so forecast_once holds."""
    record = run_form(store, "guarded", weather_agent=weather_agent_script(calls=2))
    assert record.status == "ok", record.error_message
    assert record.metrics.path == TWICE_PATH
    assert record.outcome["guard_refusals"] == 1
    assert record.outcome["forecast_calls"] == 2 and record.outcome["forecast_once"] is True
    assert record.success is True
    assert service_calls == [CITY]
    first, refused = forecast_spans(record)
    assert first.error is None and json.loads(first.output or "{}")["city"] == CITY
    assert refused.error and "refused by a guard" in refused.error
    assert (refused.output or "").startswith("Refused by a guard in code: get_forecast already "
                                             "ran for Denver")
    assert record.metrics.tool_calls == 3  # refused calls are charged to the budget too


# -- invalid plans ---------------------------------------------------------------------------

@pytest.mark.parametrize(("planner", "why"), [
    (planner_script([{"city": "Atlantis", "date": "tomorrow"}]), "unknown city 'Atlantis'"),
    (planner_script([{"city": "Lima", "date": "tomorrow"}]), "Lima is not the question's city"),
    (planner_script([]), "it has 0 lookups"),
    (planner_script(reply="Sure! Denver, tomorrow."), "returned no valid plan"),
    (planner_script([{"city": CITY, "date": "next week"}]), "date 'next week' is not"),
    (planner_script([{"city": CITY, "date": d} for d in ("today", "tomorrow", "2025-04-16")]),
     "it has 3 lookups"),
], ids=["unknown-city", "other-city", "no-lookups", "not-json", "bad-date", "three-lookups"])
def test_invalid_plan_stops_before_any_forecast(store: Store, service_calls: list[str],
                                                planner: Any, why: str) -> None:
    record = run_form(store, "plan", planner=planner)
    assert (record.status, record.error_class) == ("error", "invalid_plan")
    assert why in (record.error_message or ""), record.error_message
    assert forecast_spans(record) == [] and service_calls == []
    assert record.metrics.path == "planner"
    assert record.success is False and record.outcome["forecast_calls"] == 0


# -- the plan check and the guard on their own -----------------------------------------------

def plan(*lookups: tuple[str, str]) -> WeatherPlan:
    return WeatherPlan(lookups=[ForecastLookup(city=c, date=d) for c, d in lookups])


@pytest.mark.parametrize("lookups", [
    [("Denver", "tomorrow")], [("denver", "TODAY")], [("Denver, USA", "2025-04-15")],
    [("Denver", "today"), ("DENVER", "tomorrow")],
])
def test_plan_check_accepts(lookups: list[tuple[str, str]]) -> None:
    assert plan_problems(plan(*lookups), CITY) == []


def test_plan_check_reports_every_problem() -> None:
    problems = plan_problems(plan(("Atlantis", "2025-02-30"), ("Lima", "tomorrow"),
                                  ("Denver", "someday")), "Denver")
    assert problems == [
        "it has 3 lookups; one or 2 are allowed",
        "lookup 1: unknown city 'Atlantis'",
        "lookup 1: date '2025-02-30' is not 'tomorrow', 'today' or an ISO date (YYYY-MM-DD)",
        "lookup 2: Lima is not the question's city (Denver)",
        "lookup 3: date 'someday' is not 'tomorrow', 'today' or an ISO date (YYYY-MM-DD)",
    ]
    assert plan_problems(plan(("Denver", "tomorrow"), ("denver", "Tomorrow")), CITY) == [
        "lookup 2 repeats an earlier lookup"]


def test_guard_allows_one_lookup_per_city_whatever_the_date_or_spelling() -> None:
    deps = RunDeps()
    assert one_lookup_per_city(deps, {"city": "Denver", "date": "tomorrow"}) is None
    assert one_lookup_per_city(deps, {"city": "Lima", "date": "tomorrow"}) is None
    for again in ("denver", "Denver, USA", "DENVER"):
        reason = one_lookup_per_city(deps, {"city": again, "date": "today"})
        assert reason is not None and "use the forecast you already have" in reason
        assert reason.count(".") == 1 and reason.endswith(".")  # one sentence
    assert one_lookup_per_city(deps, {"date": "today"}) is None  # the tool's parser complains
    assert deps.artifacts[LOOKUPS_KEY] == ["denver", "lima"]
