"""The embedded SmolLM2 model end to end through the Agents SDK (no mocks, offline).

A 135M model is a weak orchestrator, so a run that ends normally and one that loops on a tool
until MaxTurnsExceeded are both valid results; what must hold is the accounting (usage equals
llama.cpp's counts) and the shape of every tool call.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from typing import Any

import pytest
from agents import (
    Agent,
    ModelSettings,
    Runner,
    add_trace_processor,
    function_tool,
    set_trace_processors,
)
from agents.exceptions import MaxTurnsExceeded
from agents.items import ModelResponse
from agents.models.interface import ModelTracing
from agents.tracing import Span, Trace, TracingProcessor
from agents.tracing.span_data import GenerationSpanData
from openai.types.responses import ResponseFunctionToolCall
from pydantic import BaseModel

from orchlab.backends import Backend, BackendError, resolve
from orchlab.recorder import install_recorder

FAST = ModelSettings(max_tokens=96, temperature=0.2, extra_args={"seed": 7})


class GenerationCollector(TracingProcessor):
    """Keeps every finished generation span."""

    def __init__(self) -> None:
        self.spans: list[Span[Any]] = []

    def on_trace_start(self, trace: Trace) -> None:
        pass

    def on_trace_end(self, trace: Trace) -> None:
        pass

    def on_span_start(self, span: Span[Any]) -> None:
        pass

    def on_span_end(self, span: Span[Any]) -> None:
        if isinstance(span.span_data, GenerationSpanData):
            self.spans.append(span)

    def shutdown(self) -> None:
        pass

    def force_flush(self) -> None:
        pass


@pytest.fixture(scope="module")
def backend() -> Backend:
    pytest.importorskip("llama_cpp", reason="llama-cpp-python is not installed")
    return resolve("local:smollm2-135m")


@pytest.fixture
def generations() -> Iterator[GenerationCollector]:
    collector = GenerationCollector()
    add_trace_processor(collector)
    yield collector
    set_trace_processors([install_recorder()])  # drop the collector, keep the recorder


@function_tool
def get_forecast(city: str) -> str:
    """Get tomorrow's weather forecast for a city."""
    return f"{city}: sunny, 21C, light wind"


async def _run(agent: Agent[Any], prompt: str, max_turns: int) -> tuple[Any, list[ModelResponse]]:
    """Final output (None after MaxTurnsExceeded) and every raw model response."""
    try:
        result = await Runner.run(agent, prompt, max_turns=max_turns)
    except MaxTurnsExceeded as exc:
        assert exc.run_data is not None
        return None, list(exc.run_data.raw_responses)
    return result.final_output, list(result.raw_responses)


def test_nonexistent_gguf_is_a_backend_error() -> None:
    with pytest.raises(BackendError, match="No GGUF file at /nonexistent.gguf"):
        resolve("local:/nonexistent.gguf")


@pytest.mark.real_model
def test_backend_is_local_serial_and_shared(backend: Backend) -> None:
    assert (backend.local, backend.max_concurrency, backend.model_name) == (
        True, 1, "smollm2-135m"
    )
    assert backend.notes == ["runs one request at a time (in-process llama.cpp)"]
    assert backend.model_for("a") is backend.model_for("b")
    assert resolve("local:smollm2-135m").model_for("c") is backend.model_for("a")


@pytest.mark.real_model
def test_any_gguf_path_reuses_the_loaded_llama(backend: Backend) -> None:
    from orchlab.backends.local import smollm2_path

    by_path = resolve(f"local:{smollm2_path()}")
    assert by_path.model_name == "SmolLM2-135M-Instruct.Q4_1" and by_path.local
    model: Any = by_path.model_for("a")
    assert model.runtime is backend.model_for("a").runtime  # type: ignore[attr-defined]


@pytest.mark.real_model
def test_agent_with_tool_runs_and_usage_matches_llama(
    backend: Backend, generations: GenerationCollector
) -> None:
    model: Any = backend.model_for("weather")
    agent = Agent(
        name="weather",
        instructions="You answer weather questions. Use the get_forecast tool.",
        tools=[get_forecast],
        model=model,
        model_settings=FAST,
    )
    final, responses = asyncio.run(_run(agent, "Weather tomorrow in Paris? Be brief.", 4))
    assert final is None or (isinstance(final, str) and final.strip())
    assert responses and len(generations.spans) == len(responses)
    for span, response in zip(generations.spans, responses, strict=True):
        usage = span.span_data.usage
        assert usage["input_tokens"] == response.usage.input_tokens > 0
        assert usage["output_tokens"] == response.usage.output_tokens > 0
        assert span.span_data.model == "smollm2-135m"
        prompt = model.runtime.render(span.span_data.input).prompt
        assert len(model.runtime.llama.tokenize(prompt.encode(), add_bos=False, special=True)) == (
            usage["input_tokens"]
        )
    assert model.last_usage == {
        "input_tokens": responses[-1].usage.input_tokens,
        "output_tokens": responses[-1].usage.output_tokens,
    }
    calls = [i for r in responses for i in r.output if isinstance(i, ResponseFunctionToolCall)]
    for call in calls:
        assert call.name == "get_forecast" and call.call_id
        arguments = json.loads(call.arguments)
        assert set(arguments) == {"city"} and isinstance(arguments["city"], str)


class Forecast(BaseModel):
    city: str
    sunny: bool


@pytest.mark.real_model
def test_structured_output_matches_the_schema(backend: Backend) -> None:
    agent = Agent(
        name="extractor",
        instructions="Extract the city and whether it is sunny.",
        model=backend.model_for("extractor"),
        model_settings=FAST,
        output_type=Forecast,
    )
    final, _ = asyncio.run(_run(agent, "In Rome it will be sunny tomorrow.", 2))
    assert isinstance(final, Forecast)


@pytest.mark.real_model
def test_concurrent_requests_are_serialized_without_blocking_the_loop(backend: Backend) -> None:
    model: Any = backend.model_for("x")
    settings = ModelSettings(max_tokens=32, temperature=0.0)

    async def ask(question: str) -> ModelResponse:
        return await model.get_response(
            None, question, settings, [], None, [], ModelTracing.DISABLED,
            previous_response_id=None, conversation_id=None, prompt=None,
        )

    async def scenario() -> tuple[list[ModelResponse], int]:
        ticks = 0

        async def ticker() -> None:
            nonlocal ticks
            while True:
                await asyncio.sleep(0.01)
                ticks += 1

        task = asyncio.create_task(ticker())
        replies = await asyncio.gather(*(ask(f"Name a colour. ({i})") for i in range(3)))
        task.cancel()
        return list(replies), ticks

    started = time.perf_counter()
    replies, ticks = asyncio.run(scenario())
    elapsed = time.perf_counter() - started
    assert all(r.usage.output_tokens > 0 for r in replies)
    assert ticks >= elapsed / 0.01 * 0.3  # the loop kept running while llama.cpp worked


@pytest.mark.real_model
def test_prompt_is_fitted_to_the_context_window(backend: Backend) -> None:
    from orchlab.backends.local_runtime import ContextWindowError

    runtime: Any = backend.model_for("x").runtime  # type: ignore[attr-defined]
    filler = "lorem ipsum dolor sit amet " * 400
    history = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"}]
    for i in range(11):
        history.append({"role": "assistant" if i % 2 == 0 else "user", "content": filler})
    history.append({"role": "user", "content": "Last question?"})
    tokens, _, kept = runtime.fit(history, 512)
    assert len(tokens) + 512 <= runtime.n_ctx and 3 <= len(kept) < len(history)
    assert kept[:2] == history[:2] and kept[-1] == history[-1]
    with pytest.raises(ContextWindowError, match="context window"):
        runtime.fit([{"role": "user", "content": filler * 4}], 512)


@pytest.mark.real_model
def test_verifying_sampler_matches_llama_cpp_grammar_sampling_when_greedy(
    backend: Backend,
) -> None:
    from orchlab.backends.local_grammar import ToolSpec, reply_format, reply_gbnf, reply_schema
    from orchlab.backends.local_runtime import Request

    runtime: Any = backend.model_for("x").runtime  # type: ignore[attr-defined]
    params = {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}
    specs = [ToolSpec("get_forecast", "Forecast.", params), ToolSpec("noop", "", {})]
    grammar = reply_gbnf(reply_schema(reply_format(specs, None)) or {})
    messages = [{"role": "user", "content": "Weather in Oslo? Reply in JSON."}]

    def generate() -> str:
        request = Request(messages, max_tokens=40, temperature=0.0, top_p=1.0, grammar=grammar)
        return runtime.complete(request).text

    ours = generate()
    hooked = runtime.llama._init_sampler
    del runtime.llama._init_sampler  # llama-cpp-python's own full-vocabulary grammar sampler
    try:
        builtin = generate()
    finally:
        runtime.llama._init_sampler = hooked
    assert ours == builtin and ours.startswith("{")
