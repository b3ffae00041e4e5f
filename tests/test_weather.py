"""Weather scenario: both forms on ScriptedModel, the outcome check, both forecast providers
(live Open-Meteo parsed from a stored response, never the network) and the CLI."""

from __future__ import annotations

import io
import json
import urllib.error
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from real_model import assert_counted_like_llama, assert_recorded_ending
from weather_scripts import (
    CITY,
    CODE_PATH,
    INPUT_ID,
    LLM_PATH,
    SAMPLE_MAX,
    SAMPLE_MIN,
    SUMMARY,
    summarizer_script,
    weather_agent_script,
    weather_backend,
)

from orchlab import backends
from orchlab.cli.main import main
from orchlab.core.records import SpanRecord
from orchlab.running.runner import ExperimentSpec, run_experiment
from orchlab.scenario import OutcomeInput, RunDeps, get_scenario
from orchlab.stats.analysis import summarize
from orchlab.store.store import Store
from scenarios import _weather_data as wd
from scenarios import weather

RECORDED = Path(wd.__file__).parent / "data" / "weather" / "open_meteo_recorded_london.json"


@pytest.fixture(autouse=True)
def sample_provider(monkeypatch: pytest.MonkeyPatch) -> None:
    """Sample data unless a test switches to live, whatever the developer's .env says."""
    monkeypatch.setenv(wd.LIVE_ENV, "0")


def run_forms(store: Store, forms: list[str], **overrides: Any) -> dict[str, Any]:
    spec = ExperimentSpec("weather", forms=forms, inputs=[INPUT_ID])
    result = run_experiment(spec, store, backend=weather_backend(**overrides))
    assert result.status == "completed"
    return {r.form: r for r in result.records}


@pytest.fixture
def records(store: Store) -> dict[str, Any]:
    return run_forms(store, ["code", "llm"])


# -- both forms on ScriptedModel -------------------------------------------------------------

@pytest.mark.parametrize(("form", "path"), [("code", CODE_PATH), ("llm", LLM_PATH)])
def test_paths_and_success(records: dict[str, Any], form: str, path: str) -> None:
    record = records[form]
    assert record.status == "ok", record.error_message
    assert record.metrics.path == path
    assert record.final_output == SUMMARY
    assert record.outcome == {
        "city_named": True, "min_stated": True, "max_stated": True, "forecast_calls": 1,
        "forecast_once": True, "forecast_source": "sample", "success": True}


def test_call_counts(records: dict[str, Any]) -> None:
    assert (records["code"].metrics.llm_calls, records["code"].metrics.tool_calls) == (1, 1)
    # + the summarizer, called as a tool
    assert (records["llm"].metrics.llm_calls, records["llm"].metrics.tool_calls) == (4, 2)


def test_forecast_span_carries_the_sample_output(records: dict[str, Any]) -> None:
    for record in records.values():
        span = next(s for s in record.spans if s.kind == "function" and s.name == "get_forecast")
        data = json.loads(span.output)
        assert data["source"] == "sample" and data["label"] == weather.SAMPLE_DATA_LABEL
        assert (data["temperature_min_c"], data["temperature_max_c"]) == (SAMPLE_MIN, SAMPLE_MAX)


def test_llm_form_calling_the_forecast_twice_is_not_a_success(store: Store) -> None:
    record = run_forms(store, ["llm"], weather_agent=weather_agent_script(calls=2))["llm"]
    assert record.metrics.path == "weather_agent > get_forecast > get_forecast > summarizer"
    assert record.outcome["forecast_calls"] == 2
    assert record.outcome["forecast_once"] is False and record.outcome["success"] is False


def test_summary_with_wrong_numbers_fails(store: Store) -> None:
    wrong = "Denver tomorrow: snow, 4 to 15 °C."
    record = run_forms(store, ["code"], summarizer=summarizer_script(wrong))["code"]
    assert record.outcome["min_stated"] is False and record.outcome["max_stated"] is False
    assert record.outcome["city_named"] is True and record.outcome["success"] is False


def test_every_input_has_sample_data_and_a_question() -> None:
    scenario = get_scenario("weather")
    assert len(scenario.inputs) >= 6
    climates = {wd.find_city(i.data["city"]).climate for i in scenario.inputs}
    assert len(climates) == len(scenario.inputs)
    for item in scenario.inputs:
        assert item.data["question"].startswith("What's the weather tomorrow in ")
        forecast = wd.SampleProvider().forecast(wd.find_city(item.data["city"]), "tomorrow")
        assert forecast.date == wd.SAMPLE_DAY and forecast.source == "sample"


# -- outcome check on hand-made answers ------------------------------------------------------

def outcome_for(answer: str | None, calls: int = 1, city: str = CITY) -> dict[str, Any]:
    deps = RunDeps()
    for _ in range(calls):
        weather.get_forecast_impl(deps, city, "tomorrow")
    spans = [SpanRecord(f"s{i}", None, "function", "get_forecast", None, 0, 1)
             for i in range(calls)]
    item = get_scenario("weather").input(city.lower())
    return weather.check_outcome(OutcomeInput(item, "code", answer, deps, spans))


@pytest.mark.parametrize("answer", [
    SUMMARY,
    "Denver: between -1.6°C and 9.8°C tomorrow.",
    "In denver it will be minus 2 degrees at night and 10 degrees by the afternoon.",
    "Denver, 15 April: lows of 2 below zero, highs near 10°C, 55 % chance of snow.",
    "Tomorrow in Denver: \u22122 to 9.8 \u00b0C, wind 31 km/h.",
])
def test_right_answers_pass(answer: str) -> None:
    assert outcome_for(answer)["success"] is True


@pytest.mark.parametrize(("answer", "failed"), [
    ("Tomorrow: light snow, -2 to 10 °C.", "city_named"),
    ("Denver tomorrow: 2 to 10 °C.", "min_stated"),  # the sign matters
    ("Denver tomorrow: -2 °C at night, 55% chance of snow, wind 31 km/h.", "max_stated"),
    ("Denver on 2025-04-15: highs of 10 °C.", "min_stated"),  # dates are not temperatures
    ("Denver: highs 10-12 °C, lows near 2.", "min_stated"),  # a range dash is not a sign
])
def test_wrong_answers_fail_on_the_right_field(answer: str, failed: str) -> None:
    outcome = outcome_for(answer)
    assert outcome[failed] is False and outcome["success"] is False


def test_no_answer_and_repeated_calls() -> None:
    assert outcome_for(None)["success"] is False
    twice = outcome_for(SUMMARY, calls=2)
    assert twice["forecast_calls"] == 2 and twice["forecast_once"] is False
    none = outcome_for(SUMMARY, calls=0)
    assert none["min_stated"] is False and none["forecast_source"] is None


@pytest.mark.parametrize(("text", "value", "expected"), [
    ("12°C", 12.4, True), ("12 degrees", 12.4, True), ("12.4", 12.4, True), ("13", 12.4, True),
    ("11", 12.4, False), ("12%", 12.4, False), ("12 km/h", 12.4, False),
])
def test_tolerant_number_matching(text: str, value: float, expected: bool) -> None:
    assert weather.states_temperature(text, value) is expected


# -- providers -------------------------------------------------------------------------------

def test_sample_provider_maps_any_date_onto_the_sample_day() -> None:
    city = wd.find_city("ulaanbaatar, Mongolia")
    for requested in ("tomorrow", "today", "2031-01-01"):
        forecast = wd.SampleProvider().forecast(city, requested)
        assert forecast.date == wd.SAMPLE_DAY and forecast.requested_date == requested
        assert (forecast.temperature_min_c, forecast.temperature_max_c) == (-6.3, 8.1)
        assert forecast.conditions == "mainly clear"


def test_unknown_city_is_a_tool_error_not_an_exception() -> None:
    deps = RunDeps()
    data = json.loads(weather.get_forecast_impl(deps, "Atlantis", "tomorrow"))
    assert "unknown city 'Atlantis'" in data["error"] and "Denver" in data["error"]


def test_live_client_parses_a_stored_response() -> None:
    urls: list[str] = []

    def fetch(url: str) -> dict[str, Any]:
        urls.append(url)
        return json.loads(RECORDED.read_text(encoding="utf-8"))

    provider = wd.OpenMeteoProvider(fetch=fetch)
    london = wd.find_city("London")
    tomorrow = provider.forecast(london, "tomorrow")
    assert urls[0].startswith("https://api.open-meteo.com/v1/forecast?latitude=51.5072&longitude"
                              "=-0.1276&daily=temperature_2m_max%2Ctemperature_2m_min%2C")
    assert "timezone=auto" in urls[0] and "weather_code" in urls[0]
    assert (tomorrow.date, tomorrow.temperature_min_c, tomorrow.temperature_max_c) == (
        "2025-06-03", 12.6, 17.3)
    assert (tomorrow.precipitation_probability_pct, tomorrow.wind_speed_max_kmh) == (68, 26.4)
    assert tomorrow.conditions == "moderate rain" and tomorrow.source == "open-meteo"
    assert provider.forecast(london, "2025-06-07").temperature_max_c == 17.4
    with pytest.raises(wd.ForecastError, match="no forecast for 2025-07-01"):
        provider.forecast(london, "2025-07-01")


def test_live_fetch_uses_urllib(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[Any] = []

    def fake_urlopen(request: Any, timeout: float) -> io.BytesIO:
        seen.append((request.full_url, timeout))
        return io.BytesIO(RECORDED.read_bytes())

    monkeypatch.setattr(wd.urllib.request, "urlopen", fake_urlopen)
    assert wd.fetch_json("https://api.open-meteo.com/v1/forecast?x=1")["timezone"] == (
        "Europe/London")
    assert seen == [("https://api.open-meteo.com/v1/forecast?x=1", wd.LIVE_TIMEOUT_S)]


def test_env_switches_the_tool_to_live(monkeypatch: pytest.MonkeyPatch) -> None:
    assert isinstance(wd.provider_from_env(), wd.SampleProvider)
    monkeypatch.setenv(wd.LIVE_ENV, "1")
    monkeypatch.setattr(wd, "fetch_json",
                        lambda _url: json.loads(RECORDED.read_text(encoding="utf-8")))
    assert isinstance(wd.provider_from_env(), wd.OpenMeteoProvider)
    data = json.loads(weather.get_forecast_impl(RunDeps(), "London", "tomorrow"))
    assert data["source"] == "open-meteo" and data["temperature_max_c"] == 17.3


def test_unreachable_forecast_service_is_its_own_error_class_not_the_forms(
    monkeypatch: pytest.MonkeyPatch, store: Store
) -> None:
    """Live weather with no network: the runs end as tool_unavailable, never as an ok run whose
    summarizer summarized the error (which counted against both forms)."""
    def unreachable(*_args: Any, **_kwargs: Any) -> Any:
        raise urllib.error.URLError("network unreachable")

    monkeypatch.setenv(wd.LIVE_ENV, "1")
    monkeypatch.setattr(wd.urllib.request, "urlopen", unreachable)
    spec = ExperimentSpec("weather", forms=["code", "llm"], inputs=[INPUT_ID])
    result = run_experiment(spec, store, backend=weather_backend())
    for record in result.records:
        assert (record.status, record.error_class) == ("error", "tool_unavailable"), record.form
        assert record.success is None and "network unreachable" in (record.error_message or "")
    summary = summarize(store.load_runs()).set_index("form")
    assert summary["success_n"].tolist() == [0, 0]  # neither form is charged with the failure
    assert summary["failures"].tolist() == ["1 tool_unavailable", "1 tool_unavailable"]


# -- CLI and real model ----------------------------------------------------------------------

@pytest.fixture
def scripted_weather_prefix() -> Iterator[None]:
    backends.register("wscripted", lambda _rest: weather_backend(), "weather test backend")
    yield
    backends.unregister("wscripted")


def test_cli_runs_the_weather_scenario(
    scripted_weather_prefix: None, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    code = main(["run", "--scenario", "weather", "--backend", "wscripted:x", "--input",
                 INPUT_ID, "--store", str(tmp_path / "cli.sqlite")])
    out, err = capsys.readouterr()
    assert code == 0, err
    assert "success_rate" in out and err.count("] code") == 1 and err.count("] llm") == 1


@pytest.mark.real_model
@pytest.mark.parametrize("form", ["code", "llm"])
def test_real_model_run_is_recorded(store: Store, form: str) -> None:
    backend = backends.resolve("local:smollm2-135m")
    model = backend.model_for("any")
    spec = ExperimentSpec("weather", forms=[form], inputs=[INPUT_ID], backend=backend.id,
                          max_turns=4, timeout_s=300,
                          model_settings={"max_tokens": 128})
    record = run_experiment(spec, store, backend=backend).records[0]
    print(f"\nweather/{form}: status={record.status} class={record.error_class} "
          f"llm_calls={record.metrics.llm_calls} path={record.metrics.path!r}")
    assert_counted_like_llama(record, model)
    forecasts = [s for s in record.spans if s.kind == "function" and s.name == "get_forecast"]
    assert record.outcome["forecast_calls"] == len(forecasts)
    if form == "code":  # code decides the path: one forecast, then the summarizer
        assert (record.status, record.metrics.path) == ("ok", "get_forecast > summarizer")
        assert record.outcome["forecast_once"] is True
        assert record.outcome["forecast_source"] == "sample"
    else:
        assert record.metrics.path.startswith("weather_agent")
        assert_recorded_ending(record)
    assert store.load_runs()["run_id"].tolist() == [record.run_id]
