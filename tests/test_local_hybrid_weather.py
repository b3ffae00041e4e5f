"""Weather's hybrid forms on the real embedded model (no mocks): one run each of plan and
guarded. SmolLM2-135M is weak, so this asserts what code guarantees whatever it writes: the
run ends as a classified record, the plan form starts with the planner, and the guard lets at
most one forecast per city reach the service."""

from __future__ import annotations

import json

import pytest
from real_model import assert_counted_like_llama

from orchlab.backends import resolve
from orchlab.core.errors import ERROR_CLASSES
from orchlab.running.runner import ExperimentSpec, run_experiment
from orchlab.store.store import Store
from scenarios import _weather_data as wd

pytestmark = pytest.mark.real_model


def test_plan_and_guarded_on_smollm2(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(wd.LIVE_ENV, "0")  # sample data, never the network
    backend = resolve("local:smollm2-135m")
    model = backend.model_for("any")
    spec = ExperimentSpec("weather", forms=["plan", "guarded"], inputs=["denver"],
                          backend=backend.id, max_turns=4, timeout_s=600,
                          model_settings={"max_tokens": 96, "seed": 7})
    result = run_experiment(spec, store, backend=backend)
    records = {r.form: r for r in result.records}
    assert sorted(records) == ["guarded", "plan"]

    for form, record in records.items():
        print(f"\nweather/{form}: status={record.status} class={record.error_class} "
              f"llm_calls={record.metrics.llm_calls} path={record.metrics.path!r} "
              f"refusals={record.outcome.get('guard_refusals')} error={record.error_message!r}")
        assert record.status == "ok" or (
            record.status == "error" and record.error_class in ERROR_CLASSES), (
            record.status, record.error_class, record.error_message)
        assert_counted_like_llama(record, model)

    plan = records["plan"]
    if plan.error_class != "invalid_plan":
        assert plan.metrics.path.startswith("planner")
    else:
        assert plan.metrics.path == "planner" and plan.outcome["forecast_calls"] == 0

    guarded = records["guarded"]
    served: dict[str, int] = {}
    for span in guarded.spans:
        if span.kind == "function" and span.name == "get_forecast" and span.error is None:
            try:
                city = json.loads(span.output or "")["city"]
            except (ValueError, KeyError, TypeError):
                continue  # an error the tool returned (e.g. an unknown city): no forecast
            served[city.lower()] = served.get(city.lower(), 0) + 1
    assert all(n <= 1 for n in served.values()), served
    refused = [s for s in guarded.spans if s.kind == "function" and s.name == "get_forecast"
               and s.error]
    assert guarded.outcome["guard_refusals"] == len(refused)
    assert sorted(store.load_runs()["run_id"]) == sorted(r.run_id for r in result.records)
