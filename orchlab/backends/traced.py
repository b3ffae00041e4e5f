"""A wrapper that gives any Model the GENERATION span the recorder needs.

The SDK's built-in models open generation spans with model and usage; `ScriptedModel` and other
custom models do not (or open them empty). Wrapping them here keeps one accounting path: tokens
always come from generation spans.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any, cast

from agents.model_settings import ModelSettings
from agents.models.interface import Model, ModelTracing
from agents.tracing import generation_span
from pydantic import TypeAdapter

INTERRUPTED = "model call interrupted (run timeout or cancel)"

_SETTINGS = TypeAdapter(ModelSettings)
"""What `ModelSettings.to_json_dict` dumps with, built once: the SDK builds a TypeAdapter per
call (most of the call's cost)."""


class TracedModel(Model):
    """Delegates to `inner` inside a generation span carrying model name and usage."""

    def __init__(self, inner: Model, model_name: str) -> None:
        self.inner = inner
        self.model_name = model_name

    async def get_response(
        self, system_instructions: str | None, input: Any, model_settings: Any, tools: Any,
        output_schema: Any, handoffs: Any, tracing: ModelTracing, **kwargs: Any,
    ) -> Any:
        with generation_span(
            model=self.model_name,
            model_config=_settings_json(model_settings),
            input=_as_messages(system_instructions, input),
        ) as span:
            try:
                response = await self.inner.get_response(
                    system_instructions, input, model_settings, tools, output_schema, handoffs,
                    tracing, **kwargs,
                )
            except asyncio.CancelledError:
                span.set_error({"message": INTERRUPTED, "data": None})
                raise
            span.span_data.output = [_jsonable(item) for item in response.output]
            span.span_data.usage = usage_dict(response.usage)
            return response

    def stream_response(self, *args: Any, **kwargs: Any) -> AsyncIterator[Any]:
        return self.inner.stream_response(*args, **kwargs)


def _settings_json(settings: Any) -> dict[str, Any]:
    """`settings.to_json_dict()`, the same dict (a subclass keeps its own method)."""
    if type(settings) is ModelSettings:
        return cast(dict[str, Any], _SETTINGS.dump_python(settings, mode="json"))
    return cast(dict[str, Any], settings.to_json_dict())


def usage_dict(usage: Any) -> dict[str, Any]:
    """The usage shape the SDK's chat-completions model writes on generation spans."""
    return {
        "input_tokens": usage.input_tokens,
        "output_tokens": usage.output_tokens,
        "input_tokens_details": {"cached_tokens": usage.input_tokens_details.cached_tokens},
        "output_tokens_details": {
            "reasoning_tokens": usage.output_tokens_details.reasoning_tokens
        },
    }


def _as_messages(system: str | None, input_: Any) -> list[dict[str, Any]]:
    messages: list[dict[str, Any]] = []
    if system:
        messages.append({"role": "system", "content": system})
    if isinstance(input_, str):
        messages.append({"role": "user", "content": input_})
    else:
        messages.extend(_jsonable(item) for item in input_)
    return messages


def _jsonable(item: Any) -> dict[str, Any]:
    if isinstance(item, dict):
        return item
    dump = getattr(item, "model_dump", None)
    return dump(exclude_none=True) if callable(dump) else {"value": str(item)}
