"""Checks shared by the tests that run the real embedded model: what a run recorded must equal
what llama.cpp itself counted, and a weak model may end a run only in a recorded way."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from orchlab.core.records import RunRecord

RECORDED_ENDINGS = {"max_turns", "malformed_output", "tool_budget", "unknown_tool", "timeout"}
"""How a tiny model's LLM-orchestrated run may end besides 'ok': each is a classified outcome
(an unclassified 'other' would be a crash of ours). A timeout depends on the machine's speed."""


def llama_counts(model: Any) -> dict[str, list[int]]:
    """Trace id -> [prompt tokens, completion tokens] as llama.cpp reported them."""
    counts: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for trace_id, prompt_tokens, completion_tokens in model.usage_log:
        counts[trace_id][0] += prompt_tokens
        counts[trace_id][1] += completion_tokens
    return counts


def assert_counted_like_llama(record: RunRecord, model: Any) -> None:
    """The run's tokens and calls are exactly llama.cpp's for this run's trace."""
    calls = sum(1 for trace_id, _, _ in model.usage_log if trace_id == record.run_id)
    m = record.metrics
    assert m.llm_calls >= calls > 0, (m.llm_calls, calls)  # a failed parse still counts a call
    assert [m.input_tokens, m.output_tokens] == llama_counts(model)[record.run_id]


def assert_recorded_ending(record: RunRecord) -> None:
    """ok, or one of the classified ways a weak orchestrator fails."""
    assert record.status == "ok" or record.error_class in RECORDED_ENDINGS, (
        record.error_class, record.error_type, record.error_message)
