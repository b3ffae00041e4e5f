"""The reply contract of the embedded model: JSON envelope, its GBNF grammar, and its parser.

A small local model cannot be trusted to follow a tool-calling chat template, so every reply is
generated under a grammar that only admits `{"tool_calls": [...]}` (names and arguments from the
tools' own schemas) or `{"final": ...}`. The parser re-checks the text anyway: a reply cut off by
`max_tokens`, or one produced without the grammar, must fail loudly as a ModelBehaviorError.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from agents.exceptions import ModelBehaviorError, UserError
from agents.handoffs import Handoff
from agents.items import TResponseOutputItem
from agents.tool import FunctionTool, Tool
from openai.types.responses import (
    ResponseFunctionToolCall,
    ResponseOutputMessage,
    ResponseOutputText,
)

from orchlab.backends.local_schema import (
    ValueSize,
    bound_lengths,
    compact,
    inline_refs,
    schema_error,
    value_size,
)

EMPTY_OBJECT: dict[str, Any] = {"type": "object", "properties": {}, "additionalProperties": False}
RAW_PREVIEW_CHARS = 200
CHARS_PER_TOKEN = 2
"""Characters per SmolLM2 token the bound on a reply's strings counts on: its tokenizer gives
5.3 on plain English and 2.2 on the address a looping reply repeats ("acme-freight-sales-
team-..."), measured with its vocabulary; digits and "1.1.1." runs take one token each, so a
reply looping on those can still be cut off by max_tokens."""
REPLY_TOKENS = 12
"""Tokens of a reply's envelope: `{"tool_calls": [...]}` or `{"final": ...}`."""
CALL_TOKENS = 10
"""Tokens around one call's arguments (`{"name": "...", "arguments": {...}}`), its name
counted apart."""
NAME_CHARS_PER_TOKEN = 1
"""How a call's name is counted (`_call_tokens`): a forced const can come out a character at
a time (a triage reply of 3 handoffs and a start took 128 tokens for about 220 characters)."""
USEFUL_STRING_CHARS = 48
"""The shortest bound a call's strings get while a reply still makes several calls: below
it, fewer calls per reply (`calls_per_reply`) leave each call room to say something."""
KEY_TOKENS = 8
"""Tokens one key takes with its quotes, colon, comma and the spaces the grammar allows
(tests/test_local_bounds.py counts a reply spaced wherever the grammar lets it)."""
MIN_STRING_CHARS = 16
"""The shortest bound a string gets however small max_tokens is: a name or a short id fits."""
MAX_ITEMS = 8
"""Items an array the tool leaves unbounded may hold in one reply (fewer when its items would
not fit in max_tokens)."""


@dataclass(frozen=True)
class ToolSpec:
    """What the model sees of one callable: a function tool or a handoff."""

    name: str
    description: str
    parameters: dict[str, Any]
    handoff: bool = False
    """A handoff: the SDK follows one per reply, so a reply calls at most one."""


def tool_specs(tools: Sequence[Tool], handoffs: Sequence[Handoff[Any, Any]]) -> list[ToolSpec]:
    """Function tools and handoffs as specs; hosted tools cannot run on a local model."""
    specs: list[ToolSpec] = []
    for tool in tools:
        if not isinstance(tool, FunctionTool):
            raise UserError(
                f"The local backend only supports function tools; {type(tool).__name__} "
                f"{getattr(tool, 'name', '')!r} needs a hosted model."
            )
        specs.append(ToolSpec(tool.name, tool.description or "", _params(tool.params_json_schema)))
    for handoff in handoffs:
        params = _params(handoff.input_json_schema)
        specs.append(ToolSpec(handoff.tool_name, handoff.tool_description, params,
                              handoff=True))
    return specs


def _params(schema: dict[str, Any] | None) -> dict[str, Any]:
    """Self-contained argument schema; an empty schema means 'no arguments'."""
    return inline_refs(schema) if schema else dict(EMPTY_OBJECT)


@dataclass(frozen=True)
class ReplyFormat:
    """What one reply may contain: calls to `specs`, and/or a final answer (text or `output`)."""

    specs: tuple[ToolSpec, ...] = ()
    output: dict[str, Any] | None = None
    """JSON schema of a structured final answer; None for a text answer."""
    allow_final: bool = True

    @property
    def max_calls(self) -> int:
        """Calls allowed in one reply: one per tool. Unbounded, a small model repeats the same
        call until max_tokens cuts the JSON; across turns it may still repeat (max_turns)."""
        return max(1, len(self.specs))

    @property
    def plain_text(self) -> bool:
        """No tools and no structured output: generate free text, no grammar."""
        return not self.specs and self.output is None


def reply_format(
    specs: Sequence[ToolSpec], output: dict[str, Any] | None, tool_choice: Any = None
) -> ReplyFormat:
    """The reply format honouring ModelSettings.tool_choice (auto, none, required, a name)."""
    output = inline_refs(output) if output is not None else None
    if tool_choice == "none":
        return ReplyFormat((), output)
    if tool_choice == "required" and specs:
        return ReplyFormat(tuple(specs), output, allow_final=False)
    named = tuple(s for s in specs if isinstance(tool_choice, str) and s.name == tool_choice)
    if named:
        return ReplyFormat(named, output, allow_final=False)
    return ReplyFormat(tuple(specs), output)


def reply_schema(fmt: ReplyFormat, max_tokens: int) -> dict[str, Any] | None:
    """JSON schema of a whole reply; None means plain text (no tools, no structured output).
    Every string and array the tools and the output schema leave unbounded is bounded, and
    the calls one reply may make are as many as fit, so that the longest reply the grammar
    admits fits in `max_tokens` (`bounded`, `calls_per_reply`)."""
    if fmt.plain_text:
        return None
    final_value = bounded(fmt.output if fmt.output is not None else {"type": "string"},
                          max_tokens - REPLY_TOKENS)
    final = _object({"final": final_value})
    if not fmt.specs:
        return final
    most = calls_per_reply(fmt.specs, max_tokens)
    each = (max_tokens - REPLY_TOKENS) // most
    calls = [_object({"name": {"const": s.name},
                      "arguments": bounded(s.parameters, each - _call_tokens(s.name))})
             for s in fmt.specs]
    items = calls[0] if len(calls) == 1 else {"anyOf": calls}
    array = {"type": "array", "minItems": 1, "maxItems": most, "items": items}
    tool_calls = _object({"tool_calls": array})
    return {"anyOf": [tool_calls, final]} if fmt.allow_final else tool_calls


def calls_per_reply(specs: Sequence[ToolSpec], max_tokens: int) -> int:
    """The most calls one reply may make: one per tool and one handoff (the SDK follows only
    one), as many as fit in `max_tokens` with
    every call's strings at least USEFUL_STRING_CHARS long, and at least one. SmolLM2 calls
    one tool over and over inside a reply ("transfer_to_printing_agent" five times,
    send_email twice) until max_tokens cuts the JSON: a bound per call alone still let the
    reply run out."""
    tools = sum(not s.handoff for s in specs)
    sizes = [(value_size(s.parameters, 1), _call_tokens(s.name)) for s in specs]
    for most in range(tools + any(s.handoff for s in specs), 1, -1):
        each = (max_tokens - REPLY_TOKENS) // most
        if all(_room(size, each - call) >= USEFUL_STRING_CHARS * size.free
               for size, call in sizes):
            return most
    return 1


def _call_tokens(name: str) -> int:
    """A call's structure and name: a name is a const the grammar forces, which the model
    may spell in short tokens, so it counts a token per NAME_CHARS_PER_TOKEN characters."""
    return CALL_TOKENS + -(-len(name) // NAME_CHARS_PER_TOKEN)


def _room(size: ValueSize, tokens: int) -> int:
    """Characters left for a value's unbounded strings in `tokens`, its keys and its bounded
    strings counted."""
    return (tokens - KEY_TOKENS * size.keys) * CHARS_PER_TOKEN - size.fixed


def bounded(value: dict[str, Any], tokens: int) -> dict[str, Any]:
    """`value` (a call's arguments, or the final answer) with its unbounded strings sharing
    the characters `tokens` leave once its structure and the strings the schema bounds
    itself are counted, each at least MIN_STRING_CHARS, and its unbounded arrays at
    MAX_ITEMS, or fewer when their items would not fit. Why: SmolLM2 under a grammar without
    bounds repeats a string ("acme-freight-acme-freight-...") until max_tokens cuts the JSON,
    and the run ends malformed_output though the model had chosen a tool; bounded, it must
    close the string and go on."""
    items = MAX_ITEMS
    size = value_size(value, items)
    while items > 1 and _room(size, tokens) < MIN_STRING_CHARS * size.free:
        items //= 2  # an array of objects or long choices ("professional_writer", ...)
        size = value_size(value, items)
    share = max(MIN_STRING_CHARS, _room(size, tokens) // max(1, size.free))
    return dict(bound_lengths(value, share, items))


def _object(properties: dict[str, Any]) -> dict[str, Any]:
    return {
        "type": "object",
        "properties": properties,
        "required": list(properties),
        "additionalProperties": False,
    }


def reply_gbnf(schema: dict[str, Any]) -> str:
    """GBNF text for a reply schema (cached: the same agent asks with the same tools each turn)."""
    return _gbnf(json.dumps(schema))


@lru_cache(maxsize=64)
def _gbnf(schema_json: str) -> str:
    from llama_cpp.llama_grammar import json_schema_to_gbnf

    return _flat_lengths(str(json_schema_to_gbnf(schema_json)))


_NESTED_CHARS = re.compile(r"\((?:char \()*char\)(?:\?\))*\?")
"""llama-cpp-python writes a string's maxLength N as N nested optional groups, `(char (char
...)?)?`, which llama.cpp's own GBNF parser refuses past a few hundred ("exceeds sane
defaults"); the same bound as one repetition, `char{0,N}`, parses at any N the budget gives."""


def _flat_lengths(gbnf: str) -> str:
    return _NESTED_CHARS.sub(lambda m: f"char{{0,{m.group(0).count('char')}}}", gbnf)


def tools_prompt(fmt: ReplyFormat) -> str:
    """The system-prompt section that explains the tools and the reply format."""
    if fmt.output is not None:
        schema = json.dumps(compact(fmt.output), separators=(",", ":"))
        final_form = f'{{"final": <your answer as JSON matching this schema: {schema}>}}'
    else:
        final_form = '{"final": "<your answer to the user>"}'
    if not fmt.specs:
        return f"Reply with one JSON object and nothing else: {final_form}"
    lines = ["# Tools", "You can call these tools:"]
    for spec in fmt.specs:
        lines.append(f"- name: {spec.name}")
        if spec.description:
            lines.append(f"  description: {spec.description}")
        params = json.dumps(compact(spec.parameters), separators=(",", ":"))
        lines.append(f"  arguments (JSON schema): {params}")
    call_form = '{"tool_calls": [{"name": "<tool name>", "arguments": {...}}]}'
    lines += ["", "# How to reply"]
    if not fmt.allow_final:
        lines.append(f"Reply with one JSON object and nothing else, calling tools: {call_form}")
        return "\n".join(lines)
    lines += [
        "Reply with one JSON object and nothing else, in one of two forms:",
        f"1. To call tools: {call_form}",
        f"2. To give your final answer: {final_form}",
        'Tool results come back in user messages that start with "Tool result from".',
        "Once the results you need are there, give your final answer.",
    ]
    return "\n".join(lines)


def parse_reply(text: str, fmt: ReplyFormat) -> list[TResponseOutputItem]:
    """Turn the model's text into SDK output items, or raise ModelBehaviorError saying why."""
    if fmt.plain_text:
        return [output_message(text.strip())]
    try:
        reply = json.loads(text, strict=False)  # grammar strings may hold raw newlines
    except json.JSONDecodeError as exc:
        raise _bad(f"reply is not valid JSON ({exc.msg})", text) from None
    if not isinstance(reply, dict) or len(reply) != 1:
        raise _bad('reply must be an object with exactly one key, "tool_calls" or "final"', text)
    if "final" in reply and fmt.allow_final:
        return [output_message(_final_text(reply["final"], fmt.output, text))]
    if "tool_calls" in reply and fmt.specs:
        calls = _calls(reply["tool_calls"], fmt.max_calls, text)
        return [_tool_call(call, fmt.specs, text) for call in calls]
    raise _bad(f"unexpected key {next(iter(reply))!r}", text)


def _final_text(value: Any, output: dict[str, Any] | None, raw: str) -> str:
    if output is None:
        if not isinstance(value, str):
            raise _bad('"final" must be a string', raw)
        return value
    error = schema_error(value, output, "final")
    if error:
        raise _bad(f"final answer does not match the output schema: {error}", raw)
    return json.dumps(value, ensure_ascii=False)


def _calls(value: Any, max_calls: int, raw: str) -> list[Any]:
    if not isinstance(value, list) or not value:
        raise _bad('"tool_calls" must be a non-empty array', raw)
    if len(value) > max_calls:
        raise _bad(f"{len(value)} tool calls in one reply; at most {max_calls} allowed", raw)
    return value


def _tool_call(call: Any, specs: Sequence[ToolSpec], raw: str) -> ResponseFunctionToolCall:
    if not isinstance(call, dict) or set(call) != {"name", "arguments"}:
        raise _bad('each tool call must be {"name": ..., "arguments": {...}}', raw)
    spec = next((s for s in specs if s.name == call["name"]), None)
    if spec is None:
        known = ", ".join(s.name for s in specs)
        raise _bad(f"unknown tool {call['name']!r} (known tools: {known})", raw)
    error = schema_error(call["arguments"], spec.parameters, "arguments")
    if error:
        raise _bad(f"invalid arguments for tool {spec.name!r}: {error}", raw)
    return ResponseFunctionToolCall(
        type="function_call",
        id=f"fc_{uuid.uuid4().hex}",
        call_id=f"call_{uuid.uuid4().hex[:24]}",
        name=spec.name,
        arguments=json.dumps(call["arguments"], ensure_ascii=False),
        status="completed",
    )


def output_message(text: str) -> ResponseOutputMessage:
    """An assistant message item holding one text part."""
    return ResponseOutputMessage(
        type="message",
        id=f"msg_{uuid.uuid4().hex}",
        role="assistant",
        status="completed",
        content=[ResponseOutputText(type="output_text", text=text, annotations=[])],
    )


def _bad(reason: str, raw: str) -> ModelBehaviorError:
    preview = raw if len(raw) <= RAW_PREVIEW_CHARS else raw[:RAW_PREVIEW_CHARS] + "…"
    return ModelBehaviorError(f"Local model reply rejected: {reason}. Raw reply: {preview!r}")
