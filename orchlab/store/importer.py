"""Import of an experiment file written by `export --format json` (`orchlab.store.export`).

A file travels between machines, so it is judged as foreign input: every field is checked
against the record it rebuilds (field lists and types from the dataclasses, as the store's
columns are) before anything is stored, in one transaction (`Store.import_experiment`). A
refusal is one sentence (`ImportFileError`). Ids are kept, so export -> import -> export gives
the same bytes; ids the store already holds are remapped, and the result says so.
"""

from __future__ import annotations

import contextlib
import json
import types
from dataclasses import MISSING, dataclass, field, fields, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Union, get_args, get_origin, get_type_hints

from agents.tracing import gen_trace_id

from orchlab.core import workshop
from orchlab.core.errors import ImportFileError, LabelError
from orchlab.core.records import (
    PAIRWISE_WINNERS,
    SHOWN_FIRST,
    ExperimentRecord,
    Judgement,
    Label,
    ModelCall,
    OutboxMessage,
    PairwiseJudgement,
    RunMetrics,
    RunRecord,
    SpanRecord,
    new_experiment_id,
    new_label_id,
)
from orchlab.store.export import FILE_FORMAT, FILE_VERSION
from orchlab.store.schema import CHILD_TABLES
from orchlab.store.store import Store, checked_who

RENAMED: dict[type, dict[str, str]] = {SpanRecord: {"parent_id": "parent"}}
"""Record field -> its key in the file, where the file names it otherwise."""
NOT_IN_FILE: dict[type, tuple[str, ...]] = {ExperimentRecord: ("pid", "host", "heartbeat_at")}
"""Record fields an export leaves out: which process ran it, where, and when it last said so
mean nothing on another machine."""
KINDS = {str: "text", int: "a whole number", float: "a number", bool: "true or false",
         list: "a list", dict: "an object", datetime: "an ISO date and time", type(None): "null"}
"""How a refusal names the type a field wants."""
HINTS: dict[type, dict[str, Any]] = {cls: get_type_hints(cls) for cls in (
    ExperimentRecord, RunRecord, RunMetrics, SpanRecord, OutboxMessage, ModelCall, Judgement,
    Label, PairwiseJudgement)}
"""Each record's field types, resolved once (the records' annotations are strings)."""


@dataclass(frozen=True)
class ExperimentFile:
    """An experiment file read into records: the experiment, its runs, their judgements and
    labels."""

    experiment: ExperimentRecord
    """The experiment (a `running` one comes in `interrupted`)."""
    runs: list[RunRecord]
    """Its runs, with their spans, outbox and model calls."""
    judgements: list[Judgement]
    """Judges' judgements of those runs (none in files before version 3)."""
    labels: list[Label]
    """People's labels of those runs (none in files before version 3)."""
    pairwise: list[PairwiseJudgement] = field(default_factory=list)
    """Pairwise judgements of pairs of those runs (none in files before version 3)."""


@dataclass(frozen=True)
class ImportResult:
    """What an import stored, so the CLI and History can say it in one line."""

    experiment_id: str
    """The id the experiment has in this store (a new one when the file's was taken)."""
    runs: int
    """How many runs were stored."""
    notice: str | None = None
    """The sentence saying which ids were remapped; None when every id was kept."""
    cluster_dropped: str | None = None
    """The cluster address the file named, which this store keeps no trace of in the spec."""

    def sentence(self) -> str:
        """'imported exp-...: 4 runs', what the CLI prints and History shows."""
        said = f"imported {self.experiment_id}: {self.runs} runs"
        if self.cluster_dropped:
            said += (f"; the file's cluster {self.cluster_dropped} is not used (a cluster "
                     "address is never taken from a file: resume and replay run here)")
        return said


def import_file(store: Store, source: bytes | str | Path, name: str | None = None
                ) -> ImportResult:
    """Check the whole file, remap taken ids, then store it in one transaction: a refused file
    leaves the store as it was."""
    read = read_file(source, name)
    read, notice = remap_taken_ids(store, read)
    exp = read.experiment
    dropped = exp.spec.get("cluster") or None
    if dropped:  # Ray would ship the project and the shard environment to that host
        exp = replace(exp, spec={**exp.spec, "cluster": ""})
    store.import_experiment(exp, read.runs, read.judgements, read.labels, read.pairwise)
    return ImportResult(exp.experiment_id, len(read.runs), notice, dropped)


def read_experiment(source: bytes | str | Path, name: str | None = None
                    ) -> tuple[ExperimentRecord, list[RunRecord]]:
    """The experiment and its runs as records (`read_file` without the judgements)."""
    read = read_file(source, name)
    return read.experiment, read.runs


def read_file(source: bytes | str | Path, name: str | None = None) -> ExperimentFile:
    """The experiment, its runs, their judgements, labels and pairwise judgements as records,
    or an ImportFileError naming the problem; `source` is the file's bytes or its path, `name`
    what a refusal calls it. A `running` experiment comes in `interrupted`: nothing here runs
    it."""
    data, name = _read(source, name)
    document = _parse(data, name)
    version = _version(document, name)
    _check_shape(document, name)
    lenient = version < FILE_VERSION  # older files lack fields that have defaults
    exp = ExperimentRecord(**_fields(ExperimentRecord, document["experiment"],
                                     f"The experiment in {name}", lenient))
    exp = replace(exp, records_calls=exp.records_calls and version > 1,  # v1: no calls
                  status="interrupted" if exp.status == "running" else exp.status)
    if exp.participant is not None:  # shown on every page of a class: a name, or refused
        try:
            workshop.checked_name(exp.participant)
        except workshop.WorkshopError as exc:
            raise ImportFileError(f"The experiment in {name} names its participant "
                                  f"{_shown(exp.participant)}, which is not a name: "
                                  f"{exc}") from None
    runs: list[RunRecord] = []
    judgements: list[Judgement] = []
    labels: list[Label] = []
    for i, item in enumerate(document["runs"]):
        run, judged, labelled = _run(item, i, name, lenient, version)
        runs.append(run)
        judgements += judged
        labels += labelled
    _check_ids(exp.experiment_id, runs, name)
    pairwise = _pairwise(document["experiment"], exp.experiment_id, runs, name, lenient,
                         version)
    return ExperimentFile(exp, runs, judgements, labels, pairwise)


def remap_taken_ids(store: Store, read: ExperimentFile) -> tuple[ExperimentFile, str | None]:
    """Keep the file's ids unless the store holds one of them; then a new experiment id and
    new run ids throughout (a run's trace id is its run id), and new judgement and label ids
    for their judgements and labels, with a sentence saying so."""
    exp, runs = read.experiment, read.runs
    taken = store.taken_ids(exp.experiment_id, [r.run_id for r in runs])
    if not taken:
        return read, None
    new_id = new_experiment_id()
    moved = [replace(r, run_id=gen_trace_id(), experiment_id=new_id) for r in runs]
    renamed = {old.run_id: new.run_id for old, new in zip(runs, moved, strict=True)}
    judged = [replace(j, judgement_id=gen_trace_id(), run_id=renamed[j.run_id],
                      experiment_id=new_id) for j in read.judgements]
    labels = [replace(lb, label_id=new_label_id(), run_id=renamed[lb.run_id],
                      experiment_id=new_id) for lb in read.labels]
    pairwise = [replace(p, pairwise_id=gen_trace_id(), run_a=renamed[p.run_a],
                        run_b=renamed[p.run_b], experiment_id=new_id) for p in read.pairwise]
    own = exp.experiment_id in taken
    whose = "its" if own else f"{exp.experiment_id}'s"
    held = [exp.experiment_id] * own + [f"{len(taken) - own} of {whose} run ids"] * (
        len(taken) > own)
    notice = (f"The store already held {' and '.join(held)}, so the experiment was imported "
              f"as {new_id} with new run ids.")
    return (ExperimentFile(replace(exp, experiment_id=new_id), moved, judged, labels, pairwise),
            notice)


def _read(source: bytes | str | Path, name: str | None) -> tuple[bytes, str]:
    if isinstance(source, bytes):
        return source, name or "the file"
    path = Path(source)
    try:
        return path.read_bytes(), name or path.name
    except OSError as exc:
        raise ImportFileError(f"Cannot read {path}: {exc.strerror or exc}.") from None


def _parse(data: bytes, name: str) -> Any:
    """The document, once it is complete JSON not of some other format."""
    if not data.strip():
        raise ImportFileError(f"{name} is empty.")
    try:
        document = json.loads(data.decode("utf-8"))
    except UnicodeDecodeError:
        raise ImportFileError(f"{name} is not JSON (it is not UTF-8 text).") from None
    except json.JSONDecodeError as exc:
        text = exc.doc.rstrip()  # where it stops is its last character, not a final newline
        if exc.pos >= len(text) or exc.msg.startswith("Unterminated string"):
            line, column = text.count("\n") + 1, len(text) - text.rfind("\n")
            raise ImportFileError(f"{name} is not complete JSON (it stops at line {line}, "
                                  f"column {column}).") from None
        raise ImportFileError(f"{name} is not JSON ({exc.msg.lower()} at line {exc.lineno}, "
                              f"column {exc.colno}).") from None
    if isinstance(document, dict) and document.get("format", FILE_FORMAT) != FILE_FORMAT:
        raise ImportFileError(f"{name} is not an Orchestration Lab experiment file (its format "
                              f"is {_shown(document['format'])}).")
    return document


def _version(document: Any, name: str) -> int:
    """1 for files from before `format` and `version` were written. Checked before the shape:
    a newer file may be shaped otherwise."""
    if not isinstance(document, dict) or not {"format", "version"} & document.keys():
        return 1
    version = document.get("version")
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise ImportFileError(f"{name} has no valid file version (it says "
                              f"{_shown(version)}).")
    if version > FILE_VERSION:
        raise ImportFileError(f"{name} was written by a newer Orchestration Lab (file version "
                              f"{version}; this one reads up to {FILE_VERSION}).")
    return version


def _check_shape(document: Any, name: str) -> None:
    """An experiment object and a list of runs."""
    if not (isinstance(document, dict) and isinstance(document.get("experiment"), dict)
            and isinstance(document.get("runs"), list)):
        raise ImportFileError(f"{name} is not an Orchestration Lab experiment file (it has no "
                              "\"experiment\" object and \"runs\" list).")


SINCE_VERSION = {"calls": 2, "judgements": 3, "labels": 3}
"""A run's lists that files before a version lack (an older file without them still imports)."""


def _run(data: Any, index: int, name: str, lenient: bool, version: int
         ) -> tuple[RunRecord, list[Judgement], list[Label]]:
    run_id = data.get("run_id") if isinstance(data, dict) else None
    run = f"run {run_id if isinstance(run_id, str) else index + 1} in {name}"
    where = f"R{run[1:]}"  # a sentence's subject; a span's is "Span 2 of run ..."
    values = _fields(RunRecord, data, where, lenient, skip=CHILD_TABLES)
    metrics = RunMetrics(**_fields(RunMetrics, data, where, lenient))
    spans = _spans(_items(data, "spans", where, version), run, lenient)
    outbox = [OutboxMessage(**_fields(OutboxMessage, m, f"Message {i + 1} of {run}", lenient))
              for i, m in enumerate(_items(data, "outbox", where, version))]
    calls = [ModelCall(**_fields(ModelCall, c, f"Model call {i + 1} of {run}", lenient))
             for i, c in enumerate(_items(data, "calls", where, version))]
    record = RunRecord(**values, metrics=metrics, spans=spans, outbox=outbox, calls=calls)
    judgements = []
    for i, item in enumerate(_items(data, "judgements", where, version)):
        what = f"Judgement {i + 1} of {run}"
        judged = Judgement(**_fields(Judgement, item, what, lenient, skip=("spans",)),
                           spans=_spans(_items(item, "spans", what, version),
                                        f"judgement {i + 1} of {run}", lenient))
        if (judged.run_id, judged.experiment_id) != (record.run_id, record.experiment_id):
            raise ImportFileError(f"{what} judges run {judged.run_id} of experiment "
                                  f"{judged.experiment_id}, not the run it is listed in.")
        judgements.append(judged)
    labels = []
    for i, item in enumerate(_items(data, "labels", where, version)):
        what = f"Label {i + 1} of {run}"
        label = Label(**_fields(Label, item, what, lenient))
        if (label.run_id, label.experiment_id) != (record.run_id, record.experiment_id):
            raise ImportFileError(f"{what} labels run {label.run_id} of experiment "
                                  f"{label.experiment_id}, not the run it is listed in.")
        try:
            checked_who(label.who)
        except LabelError as exc:
            raise ImportFileError(f"{what}: {exc}") from None
        labels.append(label)
    return record, judgements, labels


def _pairwise(data: dict[str, Any], experiment_id: str, runs: list[RunRecord], name: str,
              lenient: bool, version: int) -> list[PairwiseJudgement]:
    """The experiment's pairwise judgements (`experiment.pairwise`, absent before version 3
    and allowed absent since),
    each checked to compare two of the file's runs: A of form_a and B of form_b, both of its
    input and repetition, and to say a winner and an order a pairwise judgement can."""
    items = data.get("pairwise", [])  # an experiment no pair of whose runs was compared
    if not isinstance(items, list):
        raise ImportFileError(f"The experiment in {name} has no list of pairwise.")
    by_id = {r.run_id: r for r in runs}
    out: list[PairwiseJudgement] = []
    for i, item in enumerate(items):
        what = f"Pairwise judgement {i + 1} in {name}"
        judged = PairwiseJudgement(
            **_fields(PairwiseJudgement, item, what, lenient, skip=("spans",)),
            spans=_spans(_items(item, "spans", what, version), f"pairwise judgement {i + 1} "
                         f"in {name}", lenient))
        if judged.experiment_id != experiment_id:
            raise ImportFileError(f"{what} belongs to experiment {judged.experiment_id}, not "
                                  f"{experiment_id}.")
        for side, run_id, form in (("A", judged.run_a, judged.form_a),
                                   ("B", judged.run_b, judged.form_b)):
            run = by_id.get(run_id)
            if run is None:
                raise ImportFileError(f"{what} compares run {run_id}, which the file does not "
                                      "hold.")
            if (run.form, run.input_id, run.repetition) != (form, judged.input_id,
                                                            judged.repetition):
                raise ImportFileError(f"{what} says its run {side} is form {form}, input "
                                      f"{judged.input_id}, repetition {judged.repetition}; "
                                      f"run {run_id} is not.")
        if judged.shown_first not in SHOWN_FIRST or judged.winner not in (*PAIRWISE_WINNERS,
                                                                           None):
            raise ImportFileError(f"{what} has shown_first {_shown(judged.shown_first)} and "
                                  f"winner {_shown(judged.winner)}: they are a or b, and a, "
                                  "b, tie or null.")
        out.append(judged)
    return out


def _spans(items: list[Any], owner: str, lenient: bool) -> list[SpanRecord]:
    """Spans of a run or a judgement; seq is absent before version 2."""
    return [SpanRecord(**({"seq": i} | _fields(SpanRecord, s, f"Span {i + 1} of {owner}",
                                                 lenient)))
            for i, s in enumerate(items)]


def _items(data: dict[str, Any], key: str, where: str, version: int) -> list[Any]:
    """A run's spans, messages, model calls, judgements or labels (`SINCE_VERSION`: no calls
    in version 1 files, no judgements or labels before version 3)."""
    items = data.get(key, [] if version < SINCE_VERSION.get(key, 0) else None)
    if not isinstance(items, list):
        raise ImportFileError(f"{where} has no list of {key}.")
    return items


def _fields(cls: type, data: Any, where: str, lenient: bool, skip: tuple[str, ...] = ()
            ) -> dict[str, Any]:
    """The values of `cls`'s fields from `data`, each checked against its annotation; with
    `lenient`, a field that has a default may be absent."""
    if not isinstance(data, dict):
        raise ImportFileError(f"{where} is not an object.")
    hints, renamed = HINTS[cls], RENAMED.get(cls, {})
    values: dict[str, Any] = {}
    for f in fields(cls):
        key = renamed.get(f.name, f.name)
        if f.name in skip or f.name in NOT_IN_FILE.get(cls, ()):
            continue
        if key not in data:
            if lenient and (f.default is not MISSING or f.default_factory is not MISSING):
                continue
            raise ImportFileError(f"{where} has no field {key!r}.")
        try:
            values[f.name] = _convert(data[key], hints[f.name])
        except ValueError:
            raise ImportFileError(f"{where} has {key} = {_shown(data[key])}, which is "
                                  f"not {_kind(hints[f.name])}.") from None
    return values


def _options(tp: Any) -> tuple[Any, ...]:
    """The types a field accepts: each member of a union, the bare class of a generic."""
    if get_origin(tp) in (Union, types.UnionType):
        return tuple(o for arg in get_args(tp) for o in _options(arg))
    return (get_origin(tp) or tp,)


def _convert(value: Any, tp: Any) -> Any:
    """`value` as a field of type `tp` holds it: timezone-aware datetimes from ISO text (UTC
    when it has no offset), floats for numbers; ValueError when it is none of the types."""
    for option in _options(tp):
        if option is Any or (option is type(None) and value is None):
            return value
        if isinstance(value, bool) and option in (int, float):
            continue
        if option is float and isinstance(value, int | float):
            return float(value)
        if option is datetime and isinstance(value, str):
            with contextlib.suppress(ValueError):
                parsed = datetime.fromisoformat(value)
                return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
        elif option in (str, int, bool, list, dict) and isinstance(value, option):
            return value
    raise ValueError(f"{value!r} is not {_kind(tp)}")


def _kind(tp: Any) -> str:
    return " or ".join(KINDS.get(option, str(option)) for option in _options(tp))


def _shown(value: Any) -> str:
    text = json.dumps(value, default=str)
    return text if len(text) <= 40 else text[:37] + "..."


def _check_ids(experiment_id: str, runs: list[RunRecord], name: str) -> None:
    """Every run belongs to the file's experiment, and no run id is listed twice."""
    seen: set[str] = set()
    for run in runs:
        if run.experiment_id != experiment_id:
            raise ImportFileError(f"Run {run.run_id} in {name} belongs to experiment "
                                  f"{run.experiment_id}, not {experiment_id}.")
        if run.run_id in seen:
            raise ImportFileError(f"{name} lists run {run.run_id} twice.")
        seen.add(run.run_id)
