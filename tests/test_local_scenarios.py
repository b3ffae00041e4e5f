"""The sales scenario on the real embedded model (no mocks): both forms, 2 repetitions each."""

from __future__ import annotations

import json

import pytest
from real_model import assert_counted_like_llama, assert_recorded_ending

from orchlab.backends import resolve
from orchlab.backends.local_schema import schema_error
from orchlab.running.runner import ExperimentSpec, run_experiment
from orchlab.store.store import Store
from scenarios.sales_email import tools

pytestmark = pytest.mark.real_model


def test_sales_both_forms_on_smollm2(store: Store) -> None:
    backend = resolve("local:smollm2-135m")
    model = backend.model_for("any")
    spec = ExperimentSpec("sales_email", inputs=["dana-acme"], repetitions=2,
                          backend=backend.id, max_turns=4, timeout_s=900,
                          model_settings={"max_tokens": 128, "seed": 11})
    result = run_experiment(spec, store, backend=backend)
    assert len(result.records) == 4

    schemas = {name: tool.params_json_schema for name, tool in tools().items()}
    for record in result.records:
        print(f"\n{record.form}: status={record.status} class={record.error_class} "
              f"llm_calls={record.metrics.llm_calls} tokens={record.metrics.input_tokens}+"
              f"{record.metrics.output_tokens} path={record.metrics.path!r}")
        assert_counted_like_llama(record, model)
        for span in record.spans:
            if span.kind == "function" and span.name in schemas:
                assert schema_error(json.loads(span.input or "{}"), schemas[span.name], "") is None
        if record.form == "code":
            assert record.metrics.path.startswith(
                "{concise_writer|humorous_writer|professional_writer} > picker")
        else:
            assert_recorded_ending(record)
            assert record.outcome["emails_sent"] == len(store.load_outbox(record.run_id))
