"""A scenario's inputs from a file (CSV or JSONL), and inputs as the JSON rows a spec stores.

The format. An `id` column is required; `label` is optional (the id when it is absent or
empty); every other column goes into the input's `data`. A CSV file starts with a header row
and its cells are text. A JSONL file holds one JSON object per non-blank line, and its values
keep their JSON types; `id` is a string (an integer becomes its text) and `label` a string.
Only `.csv` and `.jsonl` files are read: a `.json` file is refused with a sentence that points
at JSONL, so every row of a file has a line number to name.

When the scenario declares `input_model` (a pydantic model), its fields check and coerce each
row's data (a CSV cell "3" becomes 3 for an int field). Keys the model does not declare are kept
as they are: a case's ground truth travels in the same row as its input.

A file that cannot be used is one sentence (`InputsFileError`), naming the file and, for a bad
row, its line and field (pydantic's own message for a value the model refuses); nothing runs.

Rows. An experiment keeps the inputs it runs as JSON rows `{"id", "label", "data"}`
(`ExperimentSpec.input_rows`): for a file and for the scenario's own inputs alike, data in its
JSON form. `scenario_rows` gives a scenario's own inputs as rows; `with_rows` builds the
ScenarioInputs back from rows (data coerced again by the model), so every process that prepares
the spec (a worker, a Ray shard, a resume, a replay, an imported experiment) runs exactly the
inputs that were stored. Stored rows that do not hold together are a SpecError.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from orchlab.core import config
from orchlab.core.errors import InputsFileError, SpecError
from orchlab.scenario.contract import Scenario, ScenarioInput

if TYPE_CHECKING:
    from pydantic import BaseModel

__all__ = ["FILE_KINDS", "InputsFile", "input_table", "parse_inputs_file", "read_inputs_file",
           "scenario_rows", "with_rows"]

FILE_KINDS = (".csv", ".jsonl")
"""The file name endings an inputs file may have."""
ROW_KEYS = ("id", "label", "data")
"""The keys of a stored row."""


@dataclass(frozen=True)
class InputsFile:
    """A read inputs file: its name and its rows, checked and coerced."""

    name: str
    """What sentences call the file (the path given, or an upload's name)."""
    rows: list[dict[str, Any]]
    """`{"id", "label", "data"}` JSON rows, in file order: `ExperimentSpec.input_rows`."""

    @property
    def ids(self) -> list[str]:
        """The rows' ids, in file order."""
        return [row["id"] for row in self.rows]

    def sentence(self) -> str:
        """'3 inputs from cases.csv'."""
        n = len(self.rows)
        return f"{n} input{'s' if n != 1 else ''} from {self.name}"


def read_inputs_file(path: str | Path, input_model: type[BaseModel] | None = None
                     ) -> InputsFile:
    """Read and check an inputs file; InputsFileError (one sentence) when it cannot be used."""
    name = str(path)
    _kind(name)  # an unknown kind is said before the file is read
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise InputsFileError(f"{name} cannot be read: {exc.strerror or exc}.") from None
    return parse_inputs_file(data, name, input_model)


def parse_inputs_file(data: bytes, name: str, input_model: type[BaseModel] | None = None
                      ) -> InputsFile:
    """An inputs file's bytes (an upload), `name` its file name: the kind comes from its
    ending. InputsFileError (one sentence) when the file cannot be used."""
    kind = _kind(name)
    text = _decode(data, name)
    lines = _csv_lines(text, name) if kind == ".csv" else _jsonl_lines(text, name)
    rows: list[dict[str, Any]] = []
    first_line: dict[str, int] = {}
    for line, values in lines:
        where = f"{name} line {line}"
        row = _file_row(values, input_model, where)
        if row["id"] in first_line:
            raise InputsFileError(f"{name} lines {first_line[row['id']]} and {line} both have "
                                  f"id {row['id']!r}: ids must be distinct.")
        first_line[row["id"]] = line
        rows.append(row)
    if not rows:
        shape = ("a header row, then one row per input" if kind == ".csv"
                 else "one JSON object per line")
        raise InputsFileError(f"{name} has no rows: an inputs file holds {shape}.")
    return InputsFile(name, rows)


def scenario_rows(scenario: Scenario) -> list[dict[str, Any]]:
    """The scenario's own inputs as JSON rows (data coerced by its input_model); a SpecError
    naming the input and field when one holds a value JSON cannot store."""
    rows = []
    for item in scenario.inputs:
        try:
            data = _coerced(item.data, scenario.input_model)[1]
        except _Refused as bad:
            raise SpecError(f"Scenario {scenario.name!r} input {item.id!r}{bad.where}: "
                            f"{bad.message}.") from None
        rows.append({"id": item.id, "label": item.label, "data": data})
    return rows


def with_rows(scenario: Scenario, rows: Any) -> tuple[Scenario, list[dict[str, Any]]]:
    """A copy of the scenario whose inputs are the rows (data coerced by its input_model),
    and the rows as they are stored; a SpecError (one sentence) for rows that do not hold
    together or that the model refuses."""
    if not isinstance(rows, list) or not rows:
        raise SpecError("input_rows must be a non-empty list of {id, label, data} objects.")
    inputs, stored, seen = [], [], set()
    secrets = config.secret_values()  # what runs is what is stored: neither holds a key
    for number, row in enumerate(config.redact_json(rows, secrets), 1):
        if not _is_row(row):
            raise SpecError(f"input_rows item {number} is not an {{id, label, data}} object "
                            "with a non-empty text id, a text label and an object of data.")
        if row["id"] in seen:
            raise SpecError(f"input_rows has id {row['id']!r} twice: ids must be distinct.")
        seen.add(row["id"])
        try:
            data, json_data = _coerced(row["data"], scenario.input_model)
        except _Refused as bad:
            raise SpecError(f"Input {row['id']!r} of {scenario.name}{bad.where}: "
                            f"{bad.message}.") from None
        inputs.append(ScenarioInput(row["id"], row["label"], data))
        stored.append({"id": row["id"], "label": row["label"], "data": json_data})
    return dataclasses.replace(scenario, inputs=inputs), stored


def input_table(rows: Any) -> list[dict[str, str]]:
    """Stored rows as text for a table (History): id, label, and the data as JSON. Whatever
    a stored spec holds (an imported file's) is shown, never trusted."""
    table = []
    for row in rows if isinstance(rows, list) else []:
        row = row if isinstance(row, dict) else {"data": row}
        table.append({"id": str(row.get("id", "")), "label": str(row.get("label", "")),
                      "data": json.dumps(row.get("data"), ensure_ascii=False, default=str)})
    return table


# -- reading a file ----------------------------------------------------------------------------

def _kind(name: str) -> str:
    kind = Path(name).suffix.lower()
    if kind == ".json":
        raise InputsFileError(f"{name}: an inputs file is .csv or .jsonl (one JSON object per "
                              "line), not a .json document.")
    if kind not in FILE_KINDS:
        raise InputsFileError(f"{name}: an inputs file ends in .csv or .jsonl, not "
                              f"{kind or 'no ending'}.")
    return kind


def _decode(data: bytes, name: str) -> str:
    try:
        return data.decode("utf-8-sig")  # a spreadsheet's byte order mark is no column name
    except UnicodeDecodeError as exc:
        line = data[:exc.start].count(b"\n") + 1
        raise InputsFileError(f"{name} line {line} is not UTF-8 text: save the file as "
                              "UTF-8.") from None


def _csv_lines(text: str, name: str) -> Iterator[tuple[int, dict[str, Any]]]:
    """(line, {column: cell}) for each non-blank row after the header."""
    reader = csv.reader(io.StringIO(text, newline=""))
    header: list[str] | None = None
    header_line = end = 0
    try:
        for cells in reader:
            start, end = end + 1, reader.line_num  # a quoted cell may span lines
            if not any(cell.strip() for cell in cells):
                continue
            if header is None:
                header, header_line = _header(cells, name, start), start
                continue
            if len(cells) != len(header):
                raise InputsFileError(f"{name} line {start} has {len(cells)} cells; its "
                                      f"header (line {header_line}) has {len(header)}.")
            yield start, dict(zip(header, cells, strict=True))
    except csv.Error as exc:
        raise InputsFileError(f"{name} line {reader.line_num} is not CSV: "
                              f"{str(exc).rstrip('.')}.") from None


def _header(cells: list[str], name: str, line: int) -> list[str]:
    header = [cell.strip() for cell in cells]
    for number, column in enumerate(header, 1):
        if not column:
            raise InputsFileError(f"{name} line {line}: column {number} of the header has no "
                                  "name.")
        if header.index(column) != number - 1:
            raise InputsFileError(f"{name} line {line}: the header names column {column!r} "
                                  "twice.")
    if "id" not in header:
        raise InputsFileError(f"{name} has no 'id' column: its header row (line {line}) must "
                              "name one.")
    return header


def _jsonl_lines(text: str, name: str) -> Iterator[tuple[int, dict[str, Any]]]:
    """(line, object) for each non-blank line."""
    for line, content in enumerate(text.split("\n"), 1):
        if not content.strip():
            continue
        try:
            value = json.loads(content, parse_constant=_no_constant)
        except json.JSONDecodeError as exc:
            raise InputsFileError(f"{name} line {line} is not a JSON object: {exc.msg} at "
                                  f"column {exc.colno}.") from None
        except ValueError as exc:  # NaN or Infinity: not JSON
            raise InputsFileError(f"{name} line {line} is not a JSON object: {exc}.") from None
        if not isinstance(value, dict):
            raise InputsFileError(f"{name} line {line} is not a JSON object: it holds "
                                  f"{_kind_of(value)}.")
        yield line, value


def _no_constant(constant: str) -> Any:
    raise ValueError(f"{constant} is not a JSON number")


def _file_row(values: Mapping[str, Any], model: type[BaseModel] | None, where: str
              ) -> dict[str, Any]:
    """One row of a file, checked: id, label, and data coerced by the model."""
    if "id" not in values:
        raise InputsFileError(f"{where} has no 'id' field: every row needs one.")
    ident = values["id"]
    if isinstance(ident, bool) or not isinstance(ident, str | int):
        raise InputsFileError(f"{where}, field 'id': an id is text (or a whole number), not "
                              f"{_kind_of(ident)}.")
    ident = str(ident)
    if not ident.strip():
        raise InputsFileError(f"{where}, field 'id': the id is empty.")
    label = values.get("label")
    if label is not None and not isinstance(label, str):
        raise InputsFileError(f"{where}, field 'label': a label is text, not "
                              f"{_kind_of(label)}.")
    data = {k: v for k, v in values.items() if k not in ("id", "label")}
    try:
        json_data = _coerced(data, model)[1]
    except _Refused as bad:
        raise InputsFileError(f"{where}{bad.where}: {bad.message}.") from None
    return {"id": ident, "label": label if label and label.strip() else ident,
            "data": json_data}


def _kind_of(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true or false"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "an object"
    return "text" if isinstance(value, str) else type(value).__name__


# -- data, coerced and as JSON -------------------------------------------------------------------

class _Refused(Exception):
    """A value the model or JSON refuses: `where` is ", field 'x'" (or empty)."""

    def __init__(self, field: str | None, message: str) -> None:
        super().__init__(message)
        self.where = f", field {field!r}" if field else ""
        self.message = message.rstrip(". ")


def _coerced(data: Mapping[str, Any], model: type[BaseModel] | None
             ) -> tuple[dict[str, Any], dict[str, Any]]:
    """(the data flows read, its JSON form). With a model, the keys it declares (by name or
    alias) are validated and coerced, the others kept as they are; without one the data is
    its JSON form."""
    if model is None:
        plain = _json_data(data)
        return plain, _json_data(plain)  # two copies: a flow may change its own
    from pydantic import ValidationError

    declared = _declared(model)
    try:
        validated = model.model_validate({k: v for k, v in data.items() if k in declared},
                                         by_alias=True, by_name=True)
    except ValidationError as exc:
        error = exc.errors()[0]
        raise _Refused(".".join(str(part) for part in error["loc"]), error["msg"]) from None
    values = _in_order(data, declared, validated.model_dump())
    return values, _json_data(_in_order(data, declared, validated.model_dump(mode="json")))


def _declared(model: type[BaseModel]) -> dict[str, str]:
    """Key in the data -> the model's field it fills: each field's name and string aliases."""
    declared = {}
    for name, info in model.model_fields.items():
        declared[name] = name
        for alias in (info.alias, info.validation_alias):
            if isinstance(alias, str):
                declared[alias] = name
    return declared


def _in_order(data: Mapping[str, Any], declared: Mapping[str, str],
              fields: Mapping[str, Any]) -> dict[str, Any]:
    """The data's keys in their order, a declared one as its field's value under the field's
    name, then fields the data did not give (their defaults)."""
    out: dict[str, Any] = {}
    for key, value in data.items():
        if key not in declared:
            out[key] = value
        elif declared[key] in fields:
            out[declared[key]] = fields[declared[key]]
    for name, value in fields.items():
        out.setdefault(name, value)
    return out


def _json_data(data: Mapping[str, Any]) -> dict[str, Any]:
    """A copy made of JSON values only (tuples become lists), or _Refused naming the field."""
    out = {}
    for key, value in data.items():
        if not isinstance(key, str):
            raise _Refused(str(key), "a field name must be text")
        try:
            out[key] = json.loads(json.dumps(value, allow_nan=False, ensure_ascii=False))
        except (TypeError, ValueError) as exc:
            raise _Refused(key, f"{str(exc).rstrip('.')}: an experiment stores its inputs "
                                "as JSON") from None
    return out


def _is_row(row: Any) -> bool:
    return (isinstance(row, dict) and all(k in row for k in ROW_KEYS)
            and isinstance(row["id"], str) and bool(row["id"].strip())
            and isinstance(row["label"], str) and isinstance(row["data"], dict))
