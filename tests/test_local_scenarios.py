"""The sales scenario on the real embedded model (no mocks): both forms, 2 repetitions each."""

from __future__ import annotations

import json
from collections import defaultdict

import pytest

from orchlab.backends import resolve
from orchlab.backends.local_schema import schema_error
from orchlab.runner import ExperimentSpec, run_experiment
from orchlab.store import Store
from scenarios.sales_email import tools

pytestmark = pytest.mark.real_model
RECORDED_ENDINGS = {"max_turns", "malformed_output", "tool_budget"}
"""How a tiny model's LLM-orchestrated run may end besides 'ok': each is a recorded outcome."""


def test_sales_both_forms_on_smollm2(store: Store) -> None:
    backend = resolve("local:smollm2-135m")
    model = backend.model_for("any")
    spec = ExperimentSpec("sales_email", inputs=["dana-acme"], repetitions=2,
                          backend=backend.id, max_turns=4, timeout_s=900,
                          model_settings={"max_tokens": 128, "seed": 11})
    result = run_experiment(spec, store, backend=backend)
    assert len(result.records) == 4

    llama_counts: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for trace_id, prompt_tokens, completion_tokens in model.usage_log:
        llama_counts[trace_id][0] += prompt_tokens
        llama_counts[trace_id][1] += completion_tokens
    schemas = {name: tool.params_json_schema for name, tool in tools().items()}
    for record in result.records:
        print(f"\n{record.form}: status={record.status} class={record.error_class} "
              f"llm_calls={record.metrics.llm_calls} tokens={record.metrics.input_tokens}+"
              f"{record.metrics.output_tokens} path={record.metrics.path!r} outcome={record.outcome}")
        assert record.metrics.llm_calls > 0
        assert [record.metrics.input_tokens, record.metrics.output_tokens] == llama_counts[record.run_id]
        for span in record.spans:
            if span.kind == "function" and span.name in schemas:
                assert schema_error(json.loads(span.input or "{}"), schemas[span.name], "") is None
        if record.form == "code":
            assert record.metrics.path.startswith(
                "{concise_writer|humorous_writer|professional_writer} > picker")
        else:
            assert record.status == "ok" or record.error_class in RECORDED_ENDINGS, (
                record.error_type, record.error_message)
            assert record.outcome["emails_sent"] == len(store.load_outbox(record.run_id))
