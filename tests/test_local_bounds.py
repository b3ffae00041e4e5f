"""The embedded model's grammar bounds every string and array (issue 30, item 3): for every reply
format the bundled scenarios' agents ask for, in every form, the longest reply the grammar
admits parses and fits in max_tokens.

The formats are not listed by hand: each form of each bundled scenario runs once on a probe
model that builds the reply format and grammar exactly as the embedded model does, records
them, and answers with the longest reply the bounded schema admits (the final answer where one
is allowed, else the first tool's call), so the flow goes on to its next agent. Each recorded
grammar is then parsed by llama.cpp itself (a tokenizer-only load of SmolLM2), and each of its
longest replies (every string at its bound, filled with the address SmolLM2 loops on, every
array at its bound) is tokenized with SmolLM2's vocabulary and must fit in max_tokens.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from agents.items import ModelResponse
from agents.models.interface import Model
from agents.usage import Usage

from orchlab.backends import Backend
from orchlab.backends.local_grammar import (
    ReplyFormat,
    parse_reply,
    reply_format,
    reply_gbnf,
    reply_schema,
    tool_specs,
)
from orchlab.running.runner import ExperimentSpec, run_experiment
from orchlab.scenario import get_scenario
from orchlab.store.store import Store

llama_cpp = pytest.importorskip("llama_cpp", reason="llama-cpp-python is not installed")

LOOP = "acme-freight-sales-team-"
"""What SmolLM2 repeated in a send_email `to` until max_tokens cut the JSON (issue 30)."""
LIMITS = (128, 512)
"""The quick-start preset's reply limit and the embedded model's default."""


@dataclass(frozen=True)
class Asked:
    """One reply format an agent asked for, with the limit it was asked under."""

    scenario: str
    form: str
    fmt: ReplyFormat
    schema: dict[str, Any] | None
    """None: plain text, asked with no grammar (no tools, no structured output)."""
    max_tokens: int


def longest(schema: dict[str, Any]) -> Any:
    """The longest value `schema` admits once bounded: each string at its maxLength (the loop
    text), each array at its maxItems, each alternative the longest of them."""
    if "const" in schema:
        return schema["const"]
    if "enum" in schema:
        return max(schema["enum"], key=lambda v: len(json.dumps(v)))
    alternatives = schema.get("anyOf") or schema.get("oneOf")
    if alternatives:
        return max((longest(a) for a in alternatives), key=lambda v: len(json.dumps(v)))
    kinds = schema.get("type")
    kind = kinds[0] if isinstance(kinds, list) else kinds
    if kind == "string":
        return (LOOP * 400)[:schema["maxLength"]]
    if kind == "array":
        return [longest(schema.get("items", {"type": "string", "maxLength": 1}))
                for _ in range(schema["maxItems"])]
    if kind in ("integer", "number"):
        return -1234567890
    if kind == "boolean":
        return False
    if kind == "null":
        return None
    return {name: longest(sub) for name, sub in (schema.get("properties") or {}).items()}


def spaced(value: Any) -> str:
    """JSON with a space everywhere the grammar allows one (`space ::= " "?` after every
    brace, bracket, key, colon, comma and value): the most tokens a value can take."""
    if isinstance(value, dict):
        inner = ", ".join(f"{json.dumps(k)} : {spaced(v)}" for k, v in value.items())
        return f"{{ {inner}}} " if inner else "{ } "
    if isinstance(value, list):
        inner = ", ".join(spaced(v) for v in value)
        return f"[ {inner}] " if inner else "[ ] "
    return json.dumps(value) + " "


def replies(schema: dict[str, Any]) -> list[str]:
    """The longest replies of a reply schema: for each tool, its longest call as many times
    as one reply may call tools (SmolLM2 repeats a call within a reply), and the final
    answer."""
    branches = schema.get("anyOf") or [schema]
    out = []
    for branch in branches:
        [(key, value)] = branch["properties"].items()
        if key == "tool_calls":
            calls = value["items"].get("anyOf") or [value["items"]]
            out += [spaced({"tool_calls": [longest(call)] * value["maxItems"]})
                    for call in calls]
        else:
            out.append(spaced({"final": longest(value)}))
    return out


class Probe(Model):
    """Builds each request's reply format and grammar as `LocalModel` does, records them, and
    answers with the longest admissible reply."""

    def __init__(self, asked: list[Asked], scenario: str, form: str, max_tokens: int) -> None:
        self.asked, self.scenario, self.form, self.max_tokens = (asked, scenario, form,
                                                                 max_tokens)

    async def get_response(self, system_instructions: Any, input: Any, model_settings: Any,
                           tools: Any, output_schema: Any, handoffs: Any, tracing: Any,
                           **kwargs: Any) -> ModelResponse:
        structured = None
        if output_schema is not None and not output_schema.is_plain_text():
            structured = output_schema.json_schema()
        fmt = reply_format(tool_specs(tools, handoffs), structured, model_settings.tool_choice)
        schema = reply_schema(fmt, self.max_tokens)
        self.asked.append(Asked(self.scenario, self.form, fmt, schema, self.max_tokens))
        # the final answer where allowed, else a call; plain text for a plain-text agent
        text = "A short answer." if schema is None else replies(schema)[-1]
        return ModelResponse(output=parse_reply(text, fmt), usage=Usage(requests=1),
                             response_id=None)

    def stream_response(self, *args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError


@pytest.fixture(scope="module")
def asked() -> list[Asked]:
    """Every reply format of every form of every bundled scenario, at both limits."""
    found: list[Asked] = []
    import tempfile
    from pathlib import Path

    with tempfile.TemporaryDirectory() as folder:
        store = Store(Path(folder) / "probe.sqlite")
        try:
            for name in ("sales_email", "troubleshooting", "weather"):
                scenario = get_scenario(name)
                for form in (f.id for f in scenario.forms):
                    for limit in LIMITS:
                        def make(agent: str, form: str = form, limit: int = limit,
                                 name: str = name) -> Model:
                            return Probe(found, name, form, limit)
                        backend = Backend(id="probe:bounds", model_name="probe",
                                          make_model=make)
                        spec = ExperimentSpec(name, forms=[form],
                                              inputs=[scenario.inputs[0].id],
                                              backend=backend.id, max_turns=4,
                                              model_settings={"max_tokens": limit})
                        run_experiment(spec, store, backend=backend)
        finally:
            store.close()
    return found


@pytest.fixture(scope="module")
def vocab() -> Iterator[Any]:
    from orchlab.backends.local import smollm2_path

    llama = llama_cpp.Llama(model_path=str(smollm2_path()), vocab_only=True, verbose=False)
    yield llama
    llama.close()


def test_every_bundled_form_was_probed(asked: list[Asked]) -> None:
    probed = {(a.scenario, a.form) for a in asked}
    every = {(name, form) for name in ("sales_email", "troubleshooting", "weather")
             for form in (f.id for f in get_scenario(name).forms) if form != "code"}
    assert every <= probed, every - probed


def test_the_longest_bounded_reply_parses_and_fits(asked: list[Asked], vocab: Any) -> None:
    from orchlab.backends.local_runtime import check_grammar

    checked = 0
    worst, fullest = 0.0, ""
    for a in asked:
        if a.schema is None:
            continue
        check_grammar(vocab, reply_gbnf(a.schema))
        for text in replies(a.schema):
            parse_reply(text, a.fmt)
            tokens = len(vocab.tokenize(text.encode(), add_bos=False))
            assert tokens <= a.max_tokens, (a.scenario, a.form, a.max_tokens, tokens, text[:200])
            if tokens / a.max_tokens > worst:
                worst, fullest = tokens / a.max_tokens, f"{a.scenario} {a.form} at {a.max_tokens}"
            checked += 1
    print(f"\n{checked} longest replies of {len(asked)} formats: the fullest took "
          f"{worst:.0%} of its max_tokens ({fullest})")
    assert checked >= sum(a.schema is not None for a in asked)


def test_the_tool_s_own_bound_is_kept_and_unbounded_arrays_get_one() -> None:
    params = {"type": "object", "properties": {
        "to": {"type": "string", "maxLength": 40},
        "body": {"type": "string"},
        "tags": {"type": "array", "items": {"type": "string"}},
        "unit": {"type": "string", "enum": ["c", "f"]}},
        "required": ["to", "body", "tags", "unit"]}
    from orchlab.backends.local_grammar import MAX_ITEMS, ToolSpec

    schema = reply_schema(ReplyFormat((ToolSpec("t", "", params),)), 512)
    assert schema is not None
    args = schema["anyOf"][0]["properties"]["tool_calls"]["items"]["properties"]["arguments"]
    props = args["properties"]
    assert props["to"]["maxLength"] == 40 and "maxLength" not in props["unit"]
    assert props["tags"]["maxItems"] == MAX_ITEMS
    assert props["body"]["maxLength"] == props["tags"]["items"]["maxLength"] > 16
