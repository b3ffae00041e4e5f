"""Both sales flows on ScriptedModel: path, tokens, outbox, cost, and stored-span recomputation."""

from __future__ import annotations

import pytest
from genai_prices import Usage, calc_price
from sales_scripts import (
    MANAGER_USAGE,
    PICKER_USAGE,
    WRITER_USAGE,
    expected_tokens,
    sales_backend,
)

from orchlab.measure.metrics import run_metrics
from orchlab.running.runner import ExperimentSpec, run_experiment
from orchlab.store.store import Store

CODE_PATH = "{concise_writer|humorous_writer|professional_writer} > picker > send_email"
LLM_PATH = "sales_manager > {concise_writer|humorous_writer|professional_writer} > send_email"


@pytest.fixture
def records(store: Store) -> dict[str, object]:
    spec = ExperimentSpec("sales_email", inputs=["dana-acme"], repetitions=1)
    result = run_experiment(spec, store, backend=sales_backend())
    assert result.status == "completed"
    return {r.form: r for r in result.records}


def test_code_path_is_parallel_writers_then_picker_then_send(records) -> None:
    assert records["code"].status == "ok"
    assert records["code"].metrics.path == CODE_PATH


def test_llm_path_comes_from_the_span_tree_including_nested_writers(records) -> None:
    record = records["llm"]
    assert record.status == "ok", record.error_message
    assert record.metrics.path == LLM_PATH
    nested = [s for s in record.spans if s.kind == "agent" and s.name.endswith("_writer")]
    tool_spans = {s.span_id: s for s in record.spans if s.kind == "function"}
    by_id = {s.span_id: s for s in record.spans}
    for agent_span in nested:  # each writer's agent span sits inside its tool span
        ancestor = by_id[agent_span.parent_id]
        while ancestor.span_id not in tool_spans:
            ancestor = by_id[ancestor.parent_id]
        assert ancestor.name == agent_span.name


@pytest.mark.parametrize("form", ["code", "llm"])
def test_token_totals_equal_scripted_usage_with_sub_agents(records, form) -> None:
    record = records[form]
    assert (record.metrics.input_tokens, record.metrics.output_tokens) == expected_tokens(form)
    per_writer = {w: (a["input_tokens"], a["output_tokens"])
                  for w, a in record.metrics.per_agent.items() if w in WRITER_USAGE}
    assert per_writer == WRITER_USAGE
    expected_calls = 4 if form == "code" else 3 + len(MANAGER_USAGE)
    assert record.metrics.llm_calls == expected_calls


def test_call_counts(records) -> None:
    assert records["code"].metrics.tool_calls == 1  # send_email, called by code
    assert records["llm"].metrics.tool_calls == 4  # three writers as tools + send_email
    picker = records["code"].metrics.per_agent["picker"]
    assert (picker["llm_calls"], picker["input_tokens"], picker["output_tokens"]) == (
        1, *PICKER_USAGE)
    assert sum(a["cost_usd"] for a in records["code"].metrics.per_agent.values()) == pytest.approx(
        records["code"].metrics.cost_usd, rel=1e-12)


@pytest.mark.parametrize("form", ["code", "llm"])
def test_emails_sent_comes_from_the_outbox(records, store: Store, form) -> None:
    record = records[form]
    outbox = store.load_outbox(record.run_id)
    assert record.outcome["emails_sent"] == len(outbox) == 1
    assert outbox[0]["to"] == "dana.reyes@acme-freight.example"
    assert record.outcome["writers_consulted"] == 3
    assert record.outcome["picked"] == "humorous_writer"
    assert record.outcome["success"] is True


@pytest.mark.parametrize("form", ["code", "llm"])
def test_cost_equals_genai_prices_on_the_same_usage(records, form) -> None:
    record = records[form]
    expected = sum(
        float(calc_price(Usage(input_tokens=s.input_tokens, output_tokens=s.output_tokens),
                         model_ref="gpt-4.1-mini").total_price)
        for s in record.spans if s.kind == "generation")
    assert record.metrics.cost_usd == pytest.approx(expected, rel=1e-12)
    assert record.metrics.cost_usd > 0


def test_stored_spans_recompute_to_the_stored_figures(records, store: Store) -> None:
    frame = store.load_runs()
    assert len(frame) == 2
    for row in frame.to_dict(orient="records"):
        again = run_metrics(store.load_spans(row["run_id"]), row["backend"])
        assert again.llm_calls == row["llm_calls"]
        assert again.tool_calls == row["tool_calls"]
        assert again.input_tokens == row["input_tokens"]
        assert again.output_tokens == row["output_tokens"]
        assert again.cost_usd == pytest.approx(row["cost_usd"], rel=1e-12)
        assert again.path == row["path"]
        assert again.per_agent == row["per_agent"]


def test_llm_flow_that_sends_twice_is_recorded_not_hidden(store: Store) -> None:
    from agents.testing import assistant_message, function_call
    from sales_scripts import manager_script, step

    def greedy_manager() -> list:
        script = manager_script()
        send = function_call("send_email", {"to": "a@b.example", "subject": "s", "body": "b"},
                             call_id="again")
        return [*script[:2], step([send], (10, 1)), step([assistant_message("ok")], (10, 1))]

    spec = ExperimentSpec("sales_email", forms=["llm"], inputs=["dana-acme"])
    result = run_experiment(spec, store, backend=sales_backend(sales_manager=greedy_manager))
    record = result.records[0]
    assert record.status == "ok"
    assert record.outcome["emails_sent"] == 2
    assert record.outcome["success"] is False
    assert record.metrics.path.endswith("send_email > send_email")


def test_recording_survives_other_code_replacing_the_trace_processors(store: Store) -> None:
    from agents import set_trace_processors

    set_trace_processors([])  # e.g. a notebook or another library resetting tracing
    spec = ExperimentSpec("sales_email", forms=["code"], inputs=["dana-acme"])
    record = run_experiment(spec, store, backend=sales_backend()).records[0]
    assert record.metrics.llm_calls == 4 and record.metrics.path == CODE_PATH
