"""Every model call of a run, recorded whole: what a `replay:` backend serves again.

The runner gives each run a `RunCalls` (a contextvar, as it does the retry counter); every
agent's model is wrapped in `RecordingModel`, which appends one `ModelCall` per call. Agents
called as tools and parallel steps share the run's context, so they land in the same log. A
call is known by its agent, its place among that agent's calls and a digest of its request, so
a replay can tell a changed prompt from the recorded one.
"""

from __future__ import annotations

import asyncio
import contextvars
import hashlib
import json
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from agents.models.interface import Model

from orchlab.core import config
from orchlab.core.errors import classify
from orchlab.core.records import ModelCall


@dataclass
class RunCalls:
    """One run's model calls, and what a replay needs to know about the run."""

    key: tuple[str, str, int]
    """(form, input_id, repetition): which recorded run a replay serves."""
    speed: float = 1.0
    """Replay only: recorded latencies are slept times this."""
    log: list[ModelCall] = field(default_factory=list)
    """Calls in the order they were asked."""
    asked: dict[str, int] = field(default_factory=dict)
    """Per agent, calls asked so far (the next call's seq)."""
    served: set[tuple[str, int]] = field(default_factory=set)
    """Replay only: (agent, seq) of the recorded calls already served in this run."""

    def next_seq(self, agent: str) -> int:
        """The seq of the agent's call being asked now (counted when it is asked, so parallel
        calls keep the order they were asked in)."""
        seq = self.asked.get(agent, 0)
        self.asked[agent] = seq + 1
        return seq


_HASHED = json.JSONEncoder(sort_keys=True, ensure_ascii=False, default=str)
"""`json.dumps(value, sort_keys=True, ensure_ascii=False, default=str)`, one encoder for every
call (json.dumps builds one per call when given options)."""
_SORTED = json.JSONEncoder(sort_keys=True)
"""`json.dumps(value, sort_keys=True)`."""
_PLAIN = json.JSONEncoder(ensure_ascii=False)
"""`json.dumps(value, ensure_ascii=False)`."""

CURRENT: contextvars.ContextVar[RunCalls | None] = contextvars.ContextVar(
    "orchlab_run_calls", default=None)
"""The run's calls; None outside a run (a model used directly records nothing)."""

_QUEUE_WAIT: contextvars.ContextVar[list[float] | None] = contextvars.ContextVar(
    "orchlab_queue_wait", default=None)


def report_queue_wait(ms: float) -> None:
    """A model that queues requests (the embedded one) says how long this call waited, so the
    recorded latency is the call's own time, as a replay should sleep it."""
    waits = _QUEUE_WAIT.get()
    if waits is not None:
        waits.append(ms)


def request_hash(system_instructions: str | None, input_: Any, tools: Any, output_schema: Any,
                 handoffs: Any) -> str:
    """A digest of what an agent asked, stable across processes and runs: items as JSON with
    missing values dropped (a recorded item read back has no None fields), tools by name and
    schema, handoffs by tool name."""
    payload = {
        "system": system_instructions or "",
        "input": _canonical(input_ if isinstance(input_, str) else [_jsonable(i) for i in input_]),
        "tools": sorted(_tool_key(t) for t in tools or []),
        "handoffs": sorted(str(getattr(h, "tool_name", h)) for h in handoffs or []),
        "output": getattr(output_schema, "name", lambda: None)() if output_schema else None,
    }
    text = _HASHED.encode(payload)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:32]


def jsonable_items(items: Any) -> list[dict[str, Any]]:
    """Output items as plain JSON dicts (what is stored and what a replay validates back)."""
    return [_jsonable(item) for item in items]


def usage_of(usage: Any) -> dict[str, Any]:
    """The SDK's Usage as the flat dict a ModelCall stores."""
    return {
        "requests": int(getattr(usage, "requests", 1) or 1),
        "input_tokens": int(usage.input_tokens or 0),
        "output_tokens": int(usage.output_tokens or 0),
        "cached_tokens": int(getattr(usage.input_tokens_details, "cached_tokens", 0) or 0),
        "reasoning_tokens": int(
            getattr(usage.output_tokens_details, "reasoning_tokens", 0) or 0),
    }


class RecordingModel(Model):
    """Wraps an agent's model: each call, answer or failure, joins the run's log whole."""

    def __init__(self, inner: Model, agent: str) -> None:
        self.inner = inner
        self.agent = agent

    async def get_response(
        self, system_instructions: str | None, input: Any, model_settings: Any, tools: Any,
        output_schema: Any, handoffs: Any, tracing: Any, **kwargs: Any,
    ) -> Any:
        calls = CURRENT.get()
        if calls is None:
            return await self.inner.get_response(system_instructions, input, model_settings,
                                                 tools, output_schema, handoffs, tracing,
                                                 **kwargs)
        call = ModelCall(self.agent, calls.next_seq(self.agent),
                         request_hash(system_instructions, input, tools, output_schema,
                                      handoffs))
        waits: list[float] = []
        token = _QUEUE_WAIT.set(waits)
        t0 = time.monotonic()
        try:
            response = await self.inner.get_response(
                system_instructions, input, model_settings, tools, output_schema, handoffs,
                tracing, **kwargs)
        except asyncio.CancelledError:
            raise  # an interrupted call is not an answer: nothing to serve again
        except Exception as exc:
            call.error = f"{classify(exc, 'error')}: {config.redact(str(exc))[:2000]}"
            raise
        else:
            call.output, call.usage = _scrubbed(response.output), usage_of(response.usage)
            return response
        finally:
            _QUEUE_WAIT.reset(token)
            call.latency_ms = max(0.0, (time.monotonic() - t0) * 1000 - sum(waits))
            if call.error is not None or call.output or call.usage:
                calls.log.append(call)

    def stream_response(self, *args: Any, **kwargs: Any) -> AsyncIterator[Any]:
        return self.inner.stream_response(*args, **kwargs)


def _scrubbed(items: Any) -> list[dict[str, Any]]:
    """The items as JSON, with any configured secret replaced, as span text is: a key never
    reaches the store, even if a model repeated one."""
    output = jsonable_items(items)
    secrets = config.secret_values()
    if not secrets:  # nothing to look for
        return output
    text = _PLAIN.encode(output)
    secrets = [s for s in secrets if s in text]
    if not secrets:
        return output
    return list(json.loads(config.redact_with(text, secrets)))


def _tool_key(tool: Any) -> str:
    schema = getattr(tool, "params_json_schema", None)
    return f"{getattr(tool, 'name', type(tool).__name__)}:{_SORTED.encode(schema)}"


def _jsonable(item: Any) -> Any:
    dump = getattr(item, "model_dump", None)
    if callable(dump):
        return dump(mode="json", exclude_none=True)
    return item


_LEAVES = frozenset({str, int, float, bool})
"""Types `_canonical` returns as they are (exactly these: a subclass takes the long way)."""


def _canonical(value: Any) -> Any:
    """None-valued keys dropped at every depth: an item built by the SDK and the same item
    validated back from JSON differ only in which absent fields they spell out."""
    if isinstance(value, dict):
        return {k: v if type(v) in _LEAVES else _canonical(v)
                for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [v if type(v) in _LEAVES else _canonical(v) for v in value]
    return value
