"""The local backend's reply contract without running a model: grammars, parsing, conversion.

Grammars are checked twice: `LlamaGrammar.from_string` must accept them, and llama.cpp's own
GBNF parser (which needs only a tokenizer, loaded with `vocab_only=True`) must too, because
llama-cpp-python 0.3 defers parsing to generation time, where a bad grammar crashes.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any, Literal

import pytest
from agents import function_tool
from agents.exceptions import ModelBehaviorError
from openai.types.responses import ResponseFunctionToolCall, ResponseOutputMessage
from pydantic import BaseModel

from orchlab.backends.local_grammar import (
    ReplyFormat,
    ToolSpec,
    parse_reply,
    reply_format,
    reply_gbnf,
    reply_schema,
    tool_specs,
    tools_prompt,
)
from orchlab.backends.local_model import to_chat_messages
from orchlab.backends.local_schema import schema_error

llama_cpp = pytest.importorskip("llama_cpp", reason="llama-cpp-python is not installed")


def _obj(properties: dict[str, Any], required: list[str] | None = None) -> dict[str, Any]:
    return {
        "type": "object",
        "properties": properties,
        "required": list(properties) if required is None else required,
        "additionalProperties": False,
    }


SCHEMAS: dict[str, dict[str, Any]] = {
    "string": _obj({"city": {"type": "string", "description": "City name"}}),
    "enum": _obj({"unit": {"type": "string", "enum": ["celsius", "fahrenheit"]}}),
    "number": _obj({"amount": {"type": "number"}}),
    "integer": _obj({"days": {"type": "integer"}}),
    "boolean": _obj({"urgent": {"type": "boolean"}}),
    "array": _obj({"tags": {"type": "array", "items": {"type": "string"}}}),
    "nested": _obj(
        {"to": _obj({"name": {"type": "string"}, "emails": {"type": "array",
                                                             "items": {"type": "string"}}})}
    ),
    "optional": _obj({"q": {"type": "string"}, "limit": {"anyOf": [{"type": "integer"},
                                                                    {"type": "null"}]}}),
    "no_args": _obj({}),
}


class Recipient(BaseModel):
    name: str
    priority: Literal["low", "high"]


@function_tool
def send_email(subject: str, body: str, to: Recipient, cc: list[str] | None = None) -> str:
    """Send one email to a recipient."""
    return "sent"


@pytest.fixture(scope="module")
def vocab() -> Iterator[Any]:
    """A tokenizer-only Llama (no weights evaluated) so llama.cpp can parse grammars."""
    from orchlab.backends.local import smollm2_path

    llama = llama_cpp.Llama(model_path=str(smollm2_path()), vocab_only=True, verbose=False)
    yield llama
    llama.close()


def _assert_accepted(gbnf: str, vocab: Any) -> None:
    from orchlab.backends.local_runtime import check_grammar

    assert llama_cpp.LlamaGrammar.from_string(gbnf, verbose=False) is not None
    check_grammar(vocab, gbnf)


@pytest.mark.parametrize("kind", sorted(SCHEMAS))
def test_tool_schema_grammars_are_accepted(kind: str, vocab: Any) -> None:
    fmt = ReplyFormat((ToolSpec("tool_" + kind, "A tool.", SCHEMAS[kind]),))
    _assert_accepted(reply_gbnf(reply_schema(fmt, 512) or {}), vocab)


def test_all_tools_together_and_pydantic_refs_are_accepted(vocab: Any) -> None:
    specs = [ToolSpec(f"tool_{k}", "", s) for k, s in SCHEMAS.items()]
    specs += tool_specs([send_email], [])
    assert "$ref" not in json.dumps(specs[-1].parameters)
    for choice in (None, "required", "tool_string"):
        schema = reply_schema(reply_format(specs, None, choice), 512)
        assert schema is not None
        _assert_accepted(reply_gbnf(schema), vocab)
    assert reply_schema(reply_format(specs, None, "none"), 512) is None


def test_grammar_makes_the_model_name_the_tool_before_its_arguments() -> None:
    gbnf = reply_gbnf(reply_schema(ReplyFormat((ToolSpec("t", "", SCHEMAS["string"]),)), 512) or {})
    item_rule = next(line for line in gbnf.splitlines() if "item ::=" in line)
    assert item_rule.index("name-kv") < item_rule.index("arguments-kv")


def test_structured_output_grammar_is_accepted(vocab: Any) -> None:
    fmt = reply_format([], SCHEMAS["nested"])
    _assert_accepted(reply_gbnf(reply_schema(fmt, 512) or {}), vocab)


def test_llama_cpp_rejects_a_broken_grammar(vocab: Any) -> None:
    from orchlab.backends.local_runtime import check_grammar

    with pytest.raises(ValueError, match="rejected"):
        check_grammar(vocab, 'root ::= "a" undefined-rule')


def test_no_tools_means_plain_text() -> None:
    fmt = reply_format([], None)
    assert reply_schema(fmt, 512) is None
    [item] = parse_reply("  Hello there.\n", fmt)
    assert isinstance(item, ResponseOutputMessage)
    assert item.content[0].text == "Hello there."  # type: ignore[union-attr]


def _fmt() -> ReplyFormat:
    specs = [ToolSpec(f"tool_{k}", "", s) for k, s in SCHEMAS.items()]
    return reply_format(specs, None)


def test_parse_tool_calls_gives_function_call_items() -> None:
    text = json.dumps({"tool_calls": [
        {"name": "tool_string", "arguments": {"city": "Paris"}},
        {"name": "tool_nested", "arguments": {"to": {"name": "Ann", "emails": ["a@x.io"]}}},
        {"name": "tool_optional", "arguments": {"q": "x", "limit": None}},
    ]})
    items = parse_reply(text, _fmt())
    assert [type(i) for i in items] == [ResponseFunctionToolCall] * 3
    calls = [i for i in items if isinstance(i, ResponseFunctionToolCall)]
    assert [c.name for c in calls] == ["tool_string", "tool_nested", "tool_optional"]
    assert json.loads(calls[0].arguments) == {"city": "Paris"}
    assert len({c.call_id for c in calls}) == 3 and all(c.type == "function_call" for c in calls)


def test_parse_final_and_structured_final() -> None:
    [message] = parse_reply('{"final": "It is sunny."}', _fmt())
    assert isinstance(message, ResponseOutputMessage)
    assert message.content[0].text == "It is sunny."  # type: ignore[union-attr]
    structured = reply_format([], SCHEMAS["integer"])
    [answer] = parse_reply('{"final": {"days": 3}}', structured)
    assert json.loads(answer.content[0].text) == {"days": 3}  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("Sure! I will call the tool.", "not valid JSON"),
        ('{"tool_calls": [{"name": "tool_str', "not valid JSON"),
        ('{"answer": "hi"}', "unexpected key 'answer'"),
        ('{"final": "a", "tool_calls": []}', "exactly one key"),
        ('{"tool_calls": []}', "non-empty array"),
        ('{"tool_calls": [{"name": "get_time", "arguments": {}}]}', "unknown tool 'get_time'"),
        ('{"tool_calls": [{"name": "tool_string", "arguments": {}}]}',
         "missing required property 'city'"),
        ('{"tool_calls": [{"name": "tool_integer", "arguments": {"days": "3"}}]}',
         "arguments.days: expected integer"),
        ('{"tool_calls": [{"name": "tool_integer", "arguments": {"days": true}}]}',
         "arguments.days: expected integer"),
        ('{"tool_calls": [{"name": "tool_enum", "arguments": {"unit": "kelvin"}}]}',
         "'kelvin' is not one of"),
        ('{"tool_calls": [{"name": "tool_boolean", "arguments": {"urgent": 1}}]}',
         "expected boolean"),
        ('{"tool_calls": [{"name": "tool_string", "arguments": {"city": "x", "y": 1}}]}',
         "unexpected property 'y'"),
        ('{"tool_calls": [{"name": "tool_string"}]}', '"name": ..., "arguments"'),
        ('{"final": 42}', '"final" must be a string'),
        (json.dumps({"tool_calls": [{"name": "tool_no_args", "arguments": {}}] * 10}),
         "10 tool calls in one reply; at most 9 allowed"),
    ],
)
def test_malformed_replies_raise_model_behavior_error(text: str, reason: str) -> None:
    with pytest.raises(ModelBehaviorError, match="Local model reply rejected") as info:
        parse_reply(text, _fmt())
    assert reason in str(info.value)


def test_required_tool_choice_forbids_final() -> None:
    fmt = reply_format([ToolSpec("t", "", SCHEMAS["string"])], None, "required")
    assert "final" not in json.dumps(reply_schema(fmt, 512))
    with pytest.raises(ModelBehaviorError, match="unexpected key 'final'"):
        parse_reply('{"final": "no"}', fmt)


def test_schema_error_on_nested_array_items() -> None:
    schema = SCHEMAS["nested"]
    value = {"to": {"name": "Ann", "emails": ["ok", 3]}}
    assert schema_error(value, schema, "arguments") == (
        "arguments.to.emails[1]: expected string, got int 3"
    )


def test_prompt_lists_tools_and_reply_forms() -> None:
    prompt = tools_prompt(reply_format(tool_specs([send_email], []), None))
    assert "- name: send_email" in prompt and "Send one email" in prompt
    assert '"tool_calls"' in prompt and '{"final":' in prompt and "title" not in prompt


def test_history_becomes_alternating_chat_turns() -> None:
    items: list[Any] = [
        {"role": "user", "content": "Weather in Paris?"},
        {"type": "function_call", "call_id": "c1", "name": "get_forecast",
         "arguments": '{"city": "Paris"}'},
        {"type": "function_call_output", "call_id": "c1", "output": "sunny, 21C"},
    ]
    messages = to_chat_messages("Be brief.", items, json_replies=True)
    assert [m["role"] for m in messages] == ["system", "user", "assistant", "user"]
    assert json.loads(messages[2]["content"]) == {
        "tool_calls": [{"name": "get_forecast", "arguments": {"city": "Paris"}}]
    }
    assert messages[3]["content"] == "Tool result from get_forecast: sunny, 21C"
