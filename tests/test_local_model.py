"""The embedded SmolLM2 model end to end through the Agents SDK (no mocks, offline).

Greedy text is not portable: llama.cpp's CPU kernels round differently per instruction set and
per evaluation batch shape (and the prompt cache decides the shapes), so a near-tie between two
tokens can flip. Tests therefore pin what every machine must reproduce: structure forced by the
grammar and tool_choice, usage equal to llama.cpp's own counts, and the sampler compared with
llama.cpp's on the very same logits.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from agents import (
    Agent,
    ModelSettings,
    Runner,
    add_trace_processor,
    function_tool,
    set_trace_processors,
    trace,
)
from agents.exceptions import MaxTurnsExceeded
from agents.items import ModelResponse
from agents.models.interface import ModelTracing
from agents.tracing import Span, Trace, TracingProcessor
from agents.tracing.span_data import GenerationSpanData
from openai.types.responses import ResponseFunctionToolCall
from pydantic import BaseModel

from orchlab.backends import Backend, BackendError, resolve
from orchlab.measure.recorder import install_recorder, to_records

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
    llama = model.runtime.llama
    agent = Agent(
        name="weather",
        instructions="You answer weather questions. Use the get_forecast tool.",
        tools=[get_forecast],
        model=model,
        # tool_choice="required" (kept on every turn) makes the grammar admit only tool calls,
        # so the run has one shape on every machine: two get_forecast calls, then max_turns.
        model_settings=FAST.resolve(ModelSettings(tool_choice="required")),
        reset_tool_choice=False,
    )
    final, responses = asyncio.run(_run(agent, "Weather tomorrow in Paris? Be brief.", 2))
    assert final is None and len(responses) == 2 == len(generations.spans)
    cities = []
    for span, response in zip(generations.spans, responses, strict=True):
        (call,) = response.output
        assert isinstance(call, ResponseFunctionToolCall)
        assert call.name == "get_forecast" and call.call_id and call.status == "completed"
        arguments = json.loads(call.arguments)
        assert set(arguments) == {"city"} and isinstance(arguments["city"], str)
        cities.append(arguments["city"])
        usage = span.span_data.usage
        assert usage["input_tokens"] == response.usage.input_tokens > 0
        assert 0 < usage["output_tokens"] == response.usage.output_tokens < (FAST.max_tokens or 0)
        assert span.span_data.model == "smollm2-135m"
        prompt = model.runtime.render(span.span_data.input).prompt
        assert len(llama.tokenize(prompt.encode(), add_bos=False, special=True)) == (
            usage["input_tokens"]
        )
    # The second turn saw the first call and its result, as chat turns any template accepts.
    first_call = {"tool_calls": [{"name": "get_forecast", "arguments": {"city": cities[0]}}]}
    assert generations.spans[1].span_data.input[-2:] == [
        {"role": "assistant", "content": json.dumps(first_call, ensure_ascii=False)},
        {"role": "user",
         "content": f"Tool result from get_forecast: {cities[0]}: sunny, 21C, light wind"},
    ]
    # llama.cpp's own state after the last reply: its context holds exactly the prompt we
    # counted followed by the completion we counted, and those tokens are the call we parsed.
    last = responses[-1].usage
    assert llama.n_tokens == last.input_tokens + last.output_tokens
    prompt = model.runtime.render(generations.spans[-1].span_data.input).prompt
    assert llama.input_ids[: last.input_tokens].tolist() == llama.tokenize(
        prompt.encode(), add_bos=False, special=True
    )
    generated = llama.detokenize(llama.input_ids[last.input_tokens : llama.n_tokens].tolist())
    assert json.loads(generated) == {
        "tool_calls": [{"name": "get_forecast", "arguments": {"city": cities[1]}}]
    }
    assert model.last_usage == {
        "input_tokens": last.input_tokens, "output_tokens": last.output_tokens
    }
    assert list(model.usage_log)[-2:] == [
        (span.trace_id, span.span_data.usage["input_tokens"], span.span_data.usage["output_tokens"])
        for span in generations.spans
    ]


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
def test_second_of_two_concurrent_requests_reports_its_wait_as_queued_ms(
    backend: Backend, generations: GenerationCollector
) -> None:
    model: Any = backend.model_for("x")
    settings = ModelSettings(max_tokens=48, temperature=0.0)

    async def ask(question: str) -> float:
        await model.get_response(
            None, question, settings, [], None, [], ModelTracing.ENABLED,
            previous_response_id=None, conversation_id=None, prompt=None,
        )
        return time.monotonic()

    async def scenario() -> tuple[float, list[float]]:
        with trace("queued-ms"):
            submitted = time.monotonic()
            ended = await asyncio.gather(
                ask("Write a long story about a dragon."), ask("Write a long poem about the sea.")
            )
        return submitted, list(ended)

    submitted, (first_end, second_end) = asyncio.run(scenario())
    assert first_end < second_end
    first, second = generations.spans  # in the order they ended
    first_ms = (first_end - submitted) * 1000  # the first request's whole generation
    queued = [first.span_data.usage["queued_ms"], second.span_data.usage["queued_ms"]]
    assert all(isinstance(q, float) for q in queued)
    assert generations.spans[0].span_data.usage["output_tokens"] == 48  # a real generation
    assert queued[0] < min(100.0, 0.1 * first_ms)  # it got the model at once
    # The second waited for the whole first generation, and no longer.
    assert first_ms - max(50.0, 0.1 * first_ms) < queued[1] <= first_ms
    now = datetime.now(UTC)
    records = {r.span_id: r for r in to_records([first, second], now, now)}
    assert [records[s.span_id].queued_ms for s in (first, second)] == queued  # metrics sum it


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


def _tool_grammar() -> str:
    from orchlab.backends.local_grammar import ToolSpec, reply_format, reply_gbnf, reply_schema

    params = {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}
    specs = [ToolSpec("get_forecast", "Forecast.", params), ToolSpec("noop", "", {})]
    return reply_gbnf(reply_schema(reply_format(specs, None), 512) or {})


@pytest.mark.real_model
@pytest.mark.parametrize("question", ["Weather in Oslo? Reply in JSON.", "Tell me a short story."])
def test_verifying_sampler_picks_llama_cpp_grammar_token_from_the_same_logits(
    backend: Backend, question: str
) -> None:
    """At every step of a greedy generation, both samplers read the same logits buffer."""
    import llama_cpp
    import numpy as np
    from llama_cpp import Llama, LlamaGrammar

    from orchlab.backends.local_sampler import VerifyingSampler

    runtime: Any = backend.model_for("x").runtime  # type: ignore[attr-defined]
    llama = runtime.llama
    grammar = _tool_grammar()
    tokens, _, _ = runtime.fit([{"role": "user", "content": question}], 64)
    vocab = llama_cpp.llama_model_get_vocab(llama.model)
    picked: list[int] = []
    fallbacks = 0  # steps where the unconstrained argmax was rejected
    with runtime.lock:
        ours = llama._init_sampler(temp=0.0, grammar=LlamaGrammar.from_string(grammar, False))
        theirs = Llama._init_sampler(  # llama-cpp-python's chain: grammar over the vocabulary
            llama, temp=0.0, grammar=LlamaGrammar.from_string(grammar, False)
        )
        assert isinstance(ours, VerifyingSampler)
        try:
            llama.reset()
            llama.eval(tokens)
            for _ in range(64):
                logits = np.ctypeslib.as_array(
                    llama_cpp.llama_get_logits_ith(llama.ctx, -1), shape=(llama.n_vocab(),)
                )
                argmax = int(np.argmax(logits))
                expected = llama_cpp.llama_sampler_sample(theirs.sampler, llama.ctx, -1)
                token = ours.sample(llama._ctx, -1)
                assert token == expected, f"step {len(picked)}: {picked}"
                fallbacks += token != argmax
                picked.append(token)
                if llama_cpp.llama_vocab_is_eog(vocab, token):
                    break
                llama.eval([token])
        finally:
            ours.close()
            theirs.close()
    assert fallbacks > 0  # the full grammar pass was exercised, not only the fast path
    assert llama.detokenize(picked).decode().lstrip().startswith("{")


@pytest.mark.real_model
def test_verifying_sampler_matches_llama_cpp_greedy_text_from_a_cold_cache(
    backend: Backend,
) -> None:
    """End to end under identical evaluation: both runs start from an empty KV cache, so the
    prompt is evaluated in one batch each time. With a warm cache the second run would re-decode
    only the last prompt token, and on some CPUs that alone changes the logits enough to flip a
    near-tie (the text parts after ~30 characters)."""
    from orchlab.backends.local_runtime import Request

    runtime: Any = backend.model_for("x").runtime  # type: ignore[attr-defined]
    grammar = _tool_grammar()
    messages = [{"role": "user", "content": "Weather in Oslo? Reply in JSON."}]

    def generate() -> str:
        runtime.llama.reset()  # forget the prompt cache: evaluate the whole prompt again
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
