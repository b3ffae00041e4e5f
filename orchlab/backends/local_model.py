"""`LocalModel`: the Agents SDK Model interface on top of an in-process llama.cpp runtime.

Tools are described in the system prompt and every reply is generated under a grammar (see
`local_grammar`), so tool calls come back as ordinary `function_call` items and `as_tool`,
handoffs, `max_turns` and tracing work unchanged. The model opens its own generation span with
llama.cpp's exact token counts, because those spans are what the recorder sums.
"""

from __future__ import annotations

import json
import time
from collections import deque
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

from agents.agent_output import AgentOutputSchemaBase
from agents.exceptions import ModelBehaviorError
from agents.handoffs import Handoff
from agents.items import ModelResponse, TResponseInputItem, TResponseStreamEvent
from agents.model_settings import ModelSettings
from agents.models.chatcmpl_converter import Converter
from agents.models.interface import Model, ModelTracing
from agents.tool import Tool
from agents.tracing import SpanError, generation_span
from agents.usage import Usage

from orchlab.backends.local_grammar import (
    ReplyFormat,
    parse_reply,
    reply_format,
    reply_gbnf,
    reply_schema,
    tool_specs,
    tools_prompt,
)
from orchlab.backends.local_runtime import (
    ChatMessage,
    Completion,
    LlamaRuntime,
    Request,
    merge_turns,
)
from orchlab.measure.calls import report_queue_wait

if TYPE_CHECKING:
    from openai.types.responses.response_prompt_param import ResponsePromptParam

DEFAULT_MAX_TOKENS = 512
DEFAULT_TEMPERATURE = 0.2
"""llama-cpp-python's own chat default; ModelSettings.temperature overrides it."""
DEFAULT_TOP_P = 0.95


USAGE_LOG_SIZE = 10_000


class LocalModel(Model):
    """One shared instance per GGUF; requests are serialized by its runtime."""

    def __init__(self, runtime: LlamaRuntime, model_name: str) -> None:
        self.runtime = runtime
        self.model_name = model_name
        self.last_usage: dict[str, int] | None = None
        """llama.cpp's counts for the latest completion (kept for tests and benchmarks)."""
        self.usage_log: deque[tuple[str, int, int]] = deque(maxlen=USAGE_LOG_SIZE)
        """(trace id, prompt tokens, completion tokens) of recent completions, so a run's
        recorded tokens can be checked against llama.cpp's own counts."""

    async def get_response(
        self,
        system_instructions: str | None,
        input: str | list[TResponseInputItem],
        model_settings: ModelSettings,
        tools: list[Tool],
        output_schema: AgentOutputSchemaBase | None,
        handoffs: list[Handoff[Any, Any]],
        tracing: ModelTracing,
        *,
        previous_response_id: str | None = None,
        conversation_id: str | None = None,
        prompt: ResponsePromptParam | None = None,
    ) -> ModelResponse:
        structured = None
        if output_schema is not None and not output_schema.is_plain_text():
            structured = output_schema.json_schema()
        fmt = reply_format(tool_specs(tools, handoffs), structured, model_settings.tool_choice)
        max_tokens = model_settings.max_tokens or DEFAULT_MAX_TOKENS
        schema = reply_schema(fmt, max_tokens)
        system = system_instructions if fmt.plain_text else _join(system_instructions, fmt)
        request = Request(
            messages=to_chat_messages(system, input, json_replies=not fmt.plain_text),
            max_tokens=max_tokens,
            temperature=_pick(model_settings.temperature, DEFAULT_TEMPERATURE),
            top_p=_pick(model_settings.top_p, DEFAULT_TOP_P),
            seed=_seed(model_settings),
            frequency_penalty=model_settings.frequency_penalty or 0.0,
            presence_penalty=model_settings.presence_penalty or 0.0,
            grammar=reply_gbnf(schema) if schema is not None else None,
        )
        with generation_span(
            model=self.model_name,
            model_config=_model_config(model_settings, request),
            disabled=tracing.is_disabled(),
        ) as span:
            completion: Completion | None = None
            try:
                completion = await self.runtime.acomplete(request)
                usage = self._account(completion, span, tracing)
                output = parse_reply(completion.text, fmt)
            except Exception as exc:
                span.set_error(SpanError(message=f"Local model error: {exc}", data=None))
                truncated = completion is not None and completion.finish_reason == "length"
                if isinstance(exc, ModelBehaviorError) and truncated:
                    raise ModelBehaviorError(
                        f"{exc} (the reply hit max_tokens={request.max_tokens})"
                    ) from exc
                raise
            if tracing.include_data():
                span.span_data.output = [item.model_dump(exclude_none=True) for item in output]
        return ModelResponse(output=output, usage=usage, response_id=None)

    def _account(self, completion: Completion, span: Any, tracing: ModelTracing) -> Usage:
        """Usage from llama.cpp's counts, on the response and on the generation span."""
        usage = Usage(
            requests=1,
            input_tokens=completion.prompt_tokens,
            output_tokens=completion.completion_tokens,
            total_tokens=completion.prompt_tokens + completion.completion_tokens,
        )
        self.last_usage = {
            "input_tokens": completion.prompt_tokens,
            "output_tokens": completion.completion_tokens,
        }
        self.usage_log.append(
            (span.trace_id, completion.prompt_tokens, completion.completion_tokens))
        span.span_data.usage = {
            "input_tokens": usage.input_tokens,
            "output_tokens": usage.output_tokens,
            "input_tokens_details": {"cached_tokens": 0},
            "output_tokens_details": {"reasoning_tokens": 0},
            "queued_ms": completion.queued_ms,  # waiting for other requests: not generation time
        }
        report_queue_wait(completion.queued_ms)  # the recorded call's latency leaves it out
        if tracing.include_data():
            span.span_data.input = list(completion.messages)
        return usage

    async def stream_response(
        self,
        system_instructions: str | None,
        input: str | list[TResponseInputItem],
        model_settings: ModelSettings,
        tools: list[Tool],
        output_schema: AgentOutputSchemaBase | None,
        handoffs: list[Handoff[Any, Any]],
        tracing: ModelTracing,
        *,
        previous_response_id: str | None = None,
        conversation_id: str | None = None,
        prompt: ResponsePromptParam | None = None,
    ) -> AsyncIterator[TResponseStreamEvent]:
        """No token streaming: the whole reply arrives as one `response.completed` event."""
        response = await self.get_response(
            system_instructions, input, model_settings, tools, output_schema, handoffs, tracing
        )
        yield _completed_event(response, self.model_name)


def to_chat_messages(
    system: str | None, input: str | list[TResponseInputItem], *, json_replies: bool
) -> list[ChatMessage]:
    """SDK input items as plain chat turns any chat template accepts.

    Tool calls become the assistant's JSON replies and tool outputs become user turns, so the
    conversation reads the same way the model is asked to write it.
    """
    system_parts = [system] if system else []
    turns: list[ChatMessage] = []
    names: dict[str, str] = {}
    for message in Converter.items_to_messages(input):
        raw: dict[str, Any] = dict(message)
        role, text = raw["role"], _text(raw.get("content"))
        if role in ("system", "developer"):
            system_parts.append(text)
        elif role == "tool":
            name = names.get(str(raw.get("tool_call_id")), "tool")
            turns.append({"role": "user", "content": f"Tool result from {name}: {text}"})
        elif role == "assistant":
            turns.append({"role": "assistant", "content": _assistant_text(raw, text, names,
                                                                          json_replies)})
        else:
            turns.append({"role": "user", "content": text})
    head = [{"role": "system", "content": "\n\n".join(system_parts)}] if system_parts else []
    return head + merge_turns(turns)


def _assistant_text(
    raw: dict[str, Any], text: str, names: dict[str, str], json_replies: bool
) -> str:
    calls = []
    for call in raw.get("tool_calls") or []:
        function = call["function"]
        names[str(call["id"])] = function["name"]
        try:
            arguments = json.loads(function["arguments"] or "{}")
        except json.JSONDecodeError:
            arguments = function["arguments"]
        calls.append({"name": function["name"], "arguments": arguments})
    if calls:
        return json.dumps({"tool_calls": calls}, ensure_ascii=False)
    return json.dumps({"final": text}, ensure_ascii=False) if json_replies else text


def _text(content: Any) -> str:
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    parts = [p.get("text") or p.get("refusal") or "" for p in content if isinstance(p, dict)]
    return "\n".join(part for part in parts if part)


def _join(instructions: str | None, fmt: ReplyFormat) -> str:
    """Agent instructions first, then the tools and reply-format section."""
    section = tools_prompt(fmt)
    return f"{instructions}\n\n{section}" if instructions else section


def _pick(value: float | None, default: float) -> float:
    return default if value is None else value


def _seed(settings: ModelSettings) -> int | None:
    seed = (settings.extra_args or {}).get("seed")
    return int(seed) if seed is not None else None


def _model_config(settings: ModelSettings, request: Request) -> dict[str, Any]:
    config = settings.to_json_dict()
    config.update(
        max_tokens=request.max_tokens,
        temperature=request.temperature,
        top_p=request.top_p,
        seed=request.seed,
        grammar=request.grammar is not None,
    )
    return config


def _completed_event(response: ModelResponse, model_name: str) -> TResponseStreamEvent:
    """A minimal `response.completed` event carrying the whole response."""
    from openai.types.responses import Response, ResponseCompletedEvent, ResponseUsage
    from openai.types.responses.response_usage import InputTokensDetails, OutputTokensDetails

    usage = response.usage
    full = Response(
        id=f"resp_local_{int(time.time() * 1000)}",
        created_at=time.time(),
        model=model_name,
        object="response",
        output=response.output,
        tool_choice="auto",
        tools=[],
        parallel_tool_calls=False,
        usage=ResponseUsage(
            input_tokens=usage.input_tokens,
            output_tokens=usage.output_tokens,
            total_tokens=usage.total_tokens,
            input_tokens_details=InputTokensDetails(cached_tokens=0, cache_write_tokens=0),
            output_tokens_details=OutputTokensDetails(reasoning_tokens=0),
        ),
    )
    return ResponseCompletedEvent(type="response.completed", response=full, sequence_number=0)
