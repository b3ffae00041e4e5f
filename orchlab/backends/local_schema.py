"""Small JSON-schema helpers for the embedded model: inline refs, shrink for prompts, validate.

The validator covers the subset tool schemas use (type, enum, const, properties, required,
additionalProperties, items, anyOf/oneOf) so the local backend needs no `jsonschema` dependency.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

REF_PREFIXES = ("#/$defs/", "#/definitions/")
PROMPT_NOISE = {"title", "additionalProperties", "$defs", "definitions", "$schema", "strict"}
_JSON_TYPES: dict[str, tuple[type, ...]] = {
    "string": (str,),
    "number": (int, float),
    "integer": (int,),
    "boolean": (bool,),
    "array": (list,),
    "object": (dict,),
    "null": (type(None),),
}


def inline_refs(schema: dict[str, Any]) -> dict[str, Any]:
    """Replace local `$ref`s by their definitions, so the schema can be embedded anywhere."""
    defs = {**schema.get("definitions", {}), **schema.get("$defs", {})}
    return _inline(schema, defs, ())


def _inline(node: Any, defs: dict[str, Any], stack: tuple[str, ...]) -> Any:
    if isinstance(node, list):
        return [_inline(item, defs, stack) for item in node]
    if not isinstance(node, dict):
        return node
    ref = node.get("$ref")
    if isinstance(ref, str) and ref.startswith(REF_PREFIXES):
        name = ref.split("/")[-1]
        if name in stack or name not in defs:  # recursive or unknown: accept any object
            return {"type": "object"}
        merged = {**defs[name], **{k: v for k, v in node.items() if k != "$ref"}}
        return _inline(merged, defs, (*stack, name))
    return {
        key: _inline(value, defs, stack)
        for key, value in node.items()
        if key not in ("$defs", "definitions")
    }


def compact(schema: Any) -> Any:
    """The schema without keys that cost prompt tokens and tell a small model nothing."""
    if isinstance(schema, list):
        return [compact(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    return {
        key: (compact(value) if key != "properties" else _compact_props(value))
        for key, value in schema.items()
        if key not in PROMPT_NOISE
    }


def _compact_props(properties: Any) -> Any:
    if not isinstance(properties, dict):
        return properties
    return {name: compact(sub) for name, sub in properties.items()}


def schema_error(value: Any, schema: dict[str, Any], path: str) -> str | None:
    """Why `value` does not match `schema` (first problem found), or None when it does."""
    alternatives = schema.get("anyOf") or schema.get("oneOf")
    if alternatives:
        errors = [schema_error(value, alt, path) for alt in alternatives]
        return None if None in errors else f"{path}: matches none of the allowed forms"
    if "const" in schema and value != schema["const"]:
        return f"{path}: expected {schema['const']!r}, got {value!r}"
    if "enum" in schema and value not in schema["enum"]:
        return f"{path}: {value!r} is not one of {schema['enum']!r}"
    if isinstance(value, str) and len(value) > schema.get("maxLength", len(value)):
        return f"{path}: longer than {schema['maxLength']} characters"
    type_error = _type_error(value, schema.get("type"), path)
    if type_error:
        return type_error
    if isinstance(value, dict):
        return _object_error(value, schema, path)
    if isinstance(value, list):
        return _array_error(value, schema, path)
    return None


def _type_error(value: Any, expected: Any, path: str) -> str | None:
    if expected is None:
        return None
    names = expected if isinstance(expected, list) else [expected]
    for name in names:
        python_types = _JSON_TYPES.get(name, (object,))
        is_bool = isinstance(value, bool)
        if isinstance(value, python_types) and (name == "boolean" or not is_bool):
            return None
    return f"{path}: expected {' or '.join(names)}, got {type(value).__name__} {value!r}"


def _object_error(value: dict[str, Any], schema: dict[str, Any], path: str) -> str | None:
    properties: dict[str, Any] = schema.get("properties", {})
    for key in schema.get("required", []):
        if key not in value:
            return f"{path}: missing required property {key!r}"
    for key, item in value.items():
        if key in properties:
            error = schema_error(item, properties[key], f"{path}.{key}")
            if error:
                return error
        elif schema.get("additionalProperties") is False:
            return f"{path}: unexpected property {key!r}"
    return None


def _array_error(value: list[Any], schema: dict[str, Any], path: str) -> str | None:
    if len(value) < schema.get("minItems", 0):
        return f"{path}: needs at least {schema['minItems']} items"
    if "maxItems" in schema and len(value) > schema["maxItems"]:
        return f"{path}: allows at most {schema['maxItems']} items"
    items = schema.get("items")
    if isinstance(items, dict):
        for index, item in enumerate(value):
            error = schema_error(item, items, f"{path}[{index}]")
            if error:
                return error
    return None


@dataclass(frozen=True)
class ValueSize:
    """What the longest value of a schema writes, as a reply's budget counts it."""

    free: int
    """Strings without a maxLength: what the budget is shared among (`bound_lengths`)."""
    fixed: int
    """Characters the bounded strings, enums and consts may take."""
    keys: int
    """Object keys (the widest alternative's)."""


def value_size(schema: Any, max_items: int) -> ValueSize:
    """The size of one value of `schema`; an array counts its items `maxItems` times, or
    `max_items` times when it has none (what it is bounded to)."""
    if isinstance(schema, list):
        return _total(value_size(s, max_items) for s in schema)
    if not isinstance(schema, dict):
        return ValueSize(0, 0, 0)
    if "const" in schema or "enum" in schema:  # written whole: its longest choice counts
        choices = schema["enum"] if "enum" in schema else [schema["const"]]
        return ValueSize(0, max((len(json.dumps(c)) for c in choices), default=0), 0)
    alternatives = schema.get("anyOf") or schema.get("oneOf")
    if alternatives:  # one of them is written: the largest counts
        sizes = [value_size(a, max_items) for a in alternatives]
        widest = max(sizes, key=lambda v: (v.free, v.fixed))
        return ValueSize(widest.free, widest.fixed, max(v.keys for v in sizes))
    kinds = schema.get("type")
    kinds = kinds if isinstance(kinds, list) else [kinds]
    if "string" in kinds:
        return ValueSize(0, int(schema["maxLength"]), 0) if "maxLength" in schema else \
            ValueSize(1, 0, 0)
    if "array" in kinds:
        item = value_size(schema.get("items", {}), max_items)
        times = int(schema.get("maxItems", max_items))
        return ValueSize(item.free * times, item.fixed * times, item.keys * times)
    properties = schema.get("properties") or {}
    inner = _total(value_size(s, max_items) for s in properties.values())
    return ValueSize(inner.free, inner.fixed, len(properties) + inner.keys)


def _total(sizes: Any) -> ValueSize:
    free = fixed = keys = 0
    for size in sizes:
        free, fixed, keys = free + size.free, fixed + size.fixed, keys + size.keys
    return ValueSize(free, fixed, keys)


def bound_lengths(schema: Any, max_chars: int, max_items: int) -> Any:
    """`schema` with every string that has no maxLength bounded to `max_chars` and every array
    that has no maxItems to `max_items` (consts, enums and the tool's own bounds kept): under
    such a grammar a small model that repeats itself must close the string and go on, so its
    reply is a well-formed call or answer, whatever it decides."""
    if isinstance(schema, list):
        return [bound_lengths(s, max_chars, max_items) for s in schema]
    if not isinstance(schema, dict):
        return schema
    out = {key: (bound_lengths(value, max_chars, max_items)
                 if key in ("items", "anyOf", "oneOf", "allOf") else value)
           for key, value in schema.items()}
    if "properties" in schema and isinstance(schema["properties"], dict):
        out["properties"] = {name: bound_lengths(sub, max_chars, max_items)
                             for name, sub in schema["properties"].items()}
    if "const" in schema or "enum" in schema:
        return out
    kinds = schema.get("type")
    kinds = kinds if isinstance(kinds, list) else [kinds]
    if "string" in kinds and "maxLength" not in schema:
        out["maxLength"] = max_chars
    if "array" in kinds and "maxItems" not in schema:
        out["maxItems"] = max_items
    return out
