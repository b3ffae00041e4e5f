"""The sales scenario's hybrid forms on the real embedded model (no mocks): one run of each.

SmolLM2-135M is weak, so this asserts what must hold whatever it writes: every run ends as a
classified record, the stored outbox is what the outcome counts, the guard lets at most one
email out, and the plan form starts with its planner (or stops as an invalid plan).
"""

from __future__ import annotations

import time

import pytest

from orchlab.backends import resolve
from orchlab.core.errors import ERROR_CLASSES
from orchlab.running.runner import ExperimentSpec, run_experiment
from orchlab.store.store import Store

pytestmark = pytest.mark.real_model

CLASSIFIED = set(ERROR_CLASSES) - {"other"}
"""Every error class but 'other', which would be an unclassified crash of ours."""


def test_plan_and_guarded_on_smollm2(store: Store) -> None:
    backend = resolve("local:smollm2-135m")
    spec = ExperimentSpec("sales_email", forms=["plan", "guarded"], inputs=["dana-acme"],
                          repetitions=1, backend=backend.id, max_turns=4, timeout_s=900,
                          model_settings={"max_tokens": 128, "seed": 11})
    started = time.monotonic()
    result = run_experiment(spec, store, backend=backend)
    print(f"\nplan+guarded on smollm2: {time.monotonic() - started:.1f} s")
    records = {r.form: r for r in result.records}
    assert set(records) == {"plan", "guarded"}

    for form, record in records.items():
        print(f"{form}: status={record.status} class={record.error_class} "
              f"emails={record.outcome.get('emails_sent')} "
              f"refusals={record.outcome.get('guard_refusals')} path={record.metrics.path!r} "
              f"error={record.error_message!r}")
        assert record.status == "ok" or record.error_class in CLASSIFIED, (
            record.error_class, record.error_type, record.error_message)
        assert record.outcome["emails_sent"] == len(store.load_outbox(record.run_id))

    assert records["guarded"].outcome["emails_sent"] <= 1
    plan = records["plan"]
    assert plan.metrics.path.startswith("planner") or plan.error_class == "invalid_plan"
