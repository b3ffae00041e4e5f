"""What a run measured without its ids and timings: how tests say that runs made elsewhere
(worker processes, Ray actors) are the runs one process makes."""

from __future__ import annotations

from collections import Counter
from typing import Any

from orchlab.running.runner import ExperimentSpec
from orchlab.testing.devserver import FakeOpenAIServer


def shape(records: list[Any]) -> Counter[tuple[Any, ...]]:
    """Each run's form, status, calls, tokens, path, emails and success, counted."""
    return Counter((r.form, r.status, r.metrics.llm_calls, r.metrics.tool_calls,
                    r.metrics.input_tokens, r.metrics.output_tokens, r.metrics.path,
                    len(r.outbox), r.outcome.get("success")) for r in records)


def fake_server_spec(server: FakeOpenAIServer, reps: int, **kwargs: Any) -> ExperimentSpec:
    """sales_email's code and llm forms on one input against the fake server."""
    return ExperimentSpec("sales_email", forms=["code", "llm"], inputs=["dana-acme"],
                          repetitions=reps, backend=f"compat:fake-model@{server.base_url}",
                          **kwargs)
