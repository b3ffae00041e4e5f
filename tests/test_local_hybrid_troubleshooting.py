"""Troubleshooting's code, router, plan, guarded and handoff forms on the real embedded model (no
mocks), one run each on T-101. SmolLM2-135M is weak: the test asserts what must hold whatever
it writes (every run ends as a classified record, each path starts as its form's code dictates,
the counts match the store), not that it diagnoses the ticket."""

from __future__ import annotations

import time

import pytest
from real_model import assert_counted_like_llama

from orchlab.backends import resolve
from orchlab.core.errors import ERROR_CLASSES
from orchlab.running.runner import ExperimentSpec, run_experiment
from orchlab.store.store import Store

pytestmark = pytest.mark.real_model

FORMS = ["code", "router", "plan", "guarded", "handoff"]
FIRST_STEP = {"code": "parse_logs", "router": "classifier", "plan": "planner",
              "guarded": "troubleshooter", "handoff": "triage"}
"""Where each form's path must start: code runs no LLM before its first tool."""
RUN_TIMEOUT_S = 100
"""Per run: the guarded troubleshooter's sub-agents took 70 s in one run and far longer in
another (the same seed gives different text as the prefix cache changes, see ARCHITECTURE), so
five runs stay within pytest's 600 s; a run cut short ends as a classified `timeout`."""


def test_hybrid_forms_on_smollm2(store: Store) -> None:
    backend = resolve("local:smollm2-135m")
    model = backend.model_for("any")
    spec = ExperimentSpec("troubleshooting", forms=FORMS, inputs=["T-101"], backend=backend.id,
                          max_turns=4, timeout_s=RUN_TIMEOUT_S,
                          model_settings={"max_tokens": 128, "seed": 7})
    started = time.monotonic()
    result = run_experiment(spec, store, backend=backend)
    print(f"\n5 runs in {time.monotonic() - started:.1f} s")
    records = {r.form: r for r in result.records}
    assert sorted(records) == sorted(FORMS)

    for form in FORMS:
        record = records[form]
        print(f"troubleshooting/{form}: status={record.status} class={record.error_class} "
              f"llm_calls={record.metrics.llm_calls} wall={record.metrics.wall_ms / 1000:.0f}s "
              f"path={record.metrics.path!r}"
              + (f" error={(record.error_message or '')[:160]!r}" if record.error_class else ""))
        assert record.status == "ok" or (record.status in ("error", "timeout")
                                         and record.error_class in ERROR_CLASSES
                                         and record.error_class != "other"), (
            form, record.error_type, record.error_message)
        assert_counted_like_llama(record, model)
        assert record.outcome["tool_calls"] == record.metrics.tool_calls  # one counter
        assert record.metrics.path.split(" > ")[0] == FIRST_STEP[form], record.metrics.path
    assert records["code"].status == "ok"  # keyword rules, fixed steps: only the writer is a model
    assert records["code"].outcome["category"] == "network"
    if records["plan"].error_class != "invalid_plan" and records["plan"].status == "ok":
        assert records["plan"].metrics.path.startswith("planner > parse_logs")
    assert sorted(store.load_runs()["run_id"]) == sorted(r.run_id for r in result.records)
