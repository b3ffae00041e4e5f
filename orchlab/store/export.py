"""Exports of one experiment: JSON (the experiment with its pairwise judgements, then its runs
with spans, outbox, model calls, judges' judgements and people's labels) and CSV (a row per
run).

This module is the one export path: the CLI's `export`, History's download buttons and any
later report call `export_file`, so a download and `orchlab export -o FILE` are the same bytes.
A missing value is `null` in JSON (never NaN, which strict parsers refuse) and an empty CSV cell.
Both are redacted on the way out (`config.redact`): the store holds text redacted when it was
written, and a secret configured since then is caught here.

A CSV is opened in a spreadsheet, and its cells hold text a model wrote: a text cell starting
with a character that starts a formula is escaped (`FORMULA_STARTS`), and rows end in CRLF as
RFC 4180 has it, so that a cell holding a lone carriage return is quoted, not a row break.
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import asdict, dataclass
from typing import Any, Literal

from orchlab.core.config import redact
from orchlab.core.records import (
    ExperimentRecord,
    Judgement,
    Label,
    PairwiseJudgement,
    SpanRecord,
)
from orchlab.stats.analysis import is_missing
from orchlab.store.store import Store

FILE_FORMAT = "orchlab-experiment"
"""The JSON file's `format`: how an import tells an experiment file from any other JSON."""
FILE_VERSION = 4
"""Version 4: the experiment's workshop participant (older files come in with none).
Version 3: each run's judgements (with the judge's spans) and people's labels, and the
experiment's pairwise judgements (under `experiment`, since each reads two runs). Version 2:
every span field, each run's model calls (replay records), the experiment's replay marks.
Version 1 files (no `version` key) had a subset of span fields and no calls; files before
version 3 have no judgements or labels."""
Format = Literal["csv", "json"]
MIME_TYPES: dict[str, str] = {"csv": "text/csv", "json": "application/json"}
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r", "\0")
"""What a spreadsheet reads as the start of a formula (OWASP's CSV injection list, and the NUL
of ASVS 1.2.10): a text cell starting with one gets a single quote in front, which the
spreadsheet shows as text. Numbers are never text here, so -3 stays a number."""


@dataclass(frozen=True)
class ExportFile:
    """One experiment's export as bytes, with the file name and type a download needs."""

    data: bytes
    file_name: str
    mime: str


def export_file(store: Store, experiment_id: str, fmt: Format) -> ExportFile:
    """The export every caller writes or serves, so they cannot drift apart."""
    text = to_csv(store, experiment_id) if fmt == "csv" else to_json(store, experiment_id)
    return ExportFile(text.encode("utf-8"), f"{experiment_id}.{fmt}", MIME_TYPES[fmt])


def export_experiment(store: Store, experiment_id: str) -> dict[str, Any]:
    """The experiment's own record: its spec and variant say what its runs were asked to do."""
    exp = store.get_experiment(experiment_id)
    if exp is None:
        raise LookupError(f"No experiment {experiment_id!r} in the store.")
    return _experiment_dict(exp)


def _experiment_dict(exp: ExperimentRecord) -> dict[str, Any]:
    return _clean({
        "experiment_id": exp.experiment_id, "scenario": exp.scenario, "backend": exp.backend,
        "variant": exp.spec.get("variant") or "original", "status": exp.status,
        "planned_runs": exp.planned_runs, "created_at": exp.created_at.isoformat(),
        "finished_at": exp.finished_at.isoformat() if exp.finished_at else None,
        "records_calls": exp.records_calls, "replay_of": exp.replay_of,
        "participant": exp.participant, "spec": exp.spec,
    })


def export_runs(store: Store, experiment_id: str) -> list[dict[str, Any]]:
    """Every run of the experiment as a dict, each with its spans, outbox, model calls,
    judgements and labels: everything an import needs to store the run again, unclipped calls
    included."""
    frame = store.load_runs([experiment_id])
    judged: dict[str, list[dict[str, Any]]] = {}
    for judgement in store.judgements_of(experiment_id):
        judged.setdefault(judgement.run_id, []).append(_judgement_dict(judgement))
    labelled: dict[str, list[dict[str, Any]]] = {}
    for label in store.labels_of(experiment_id):
        labelled.setdefault(label.run_id, []).append(_label_dict(label))
    runs: list[dict[str, Any]] = []
    for row in frame.to_dict(orient="records"):
        row = {k: _clean(v) for k, v in row.items()}
        row["started_at"] = row["started_at"].isoformat()
        if row["success"] is not None:
            row["success"] = bool(row["success"])
        row["spans"] = [_span_dict(s) for s in store.load_spans(row["run_id"])]
        row["outbox"] = _clean(store.load_outbox(row["run_id"]))
        row["calls"] = [asdict(c) for c in store.load_calls(row["run_id"])]
        row["judgements"] = judged.get(row["run_id"], [])
        row["labels"] = labelled.get(row["run_id"], [])
        runs.append(row)
    return runs


def _judgement_dict(judgement: Judgement) -> dict[str, Any]:
    """Every judgement field, its spans as a run's are written."""
    fields = asdict(judgement)
    fields["created_at"] = judgement.created_at.isoformat()
    fields["spans"] = [_span_dict(s) for s in judgement.spans]
    return _clean(fields)


def export_pairwise(store: Store, experiment_id: str) -> list[dict[str, Any]]:
    """The experiment's pairwise judgements, every field, their spans as a run's are written:
    kept under the experiment, not a run, because each compares two of its runs."""
    return [_pairwise_dict(p) for p in store.pairwise_of(experiment_id)]


def _pairwise_dict(judged: PairwiseJudgement) -> dict[str, Any]:
    """Every pairwise judgement field."""
    fields = asdict(judged)
    fields["created_at"] = judged.created_at.isoformat()
    fields["spans"] = [_span_dict(s) for s in judged.spans]
    return _clean(fields)


def _label_dict(label: Label) -> dict[str, Any]:
    """Every label field."""
    fields = asdict(label)
    fields["created_at"] = label.created_at.isoformat()
    return _clean(fields)


def _span_dict(span: SpanRecord) -> dict[str, Any]:
    """Every span field; the parent under `parent`, as files before version 2 had it."""
    fields = asdict(span)
    fields["parent"] = fields.pop("parent_id")
    return _clean(fields)


def to_json(store: Store, experiment_id: str) -> str:
    """`{"format", "version", "experiment": {..., "pairwise": [...]}, "runs": [...]}`;
    strict JSON (allow_nan=False guards it)."""
    experiment = export_experiment(store, experiment_id)
    experiment["pairwise"] = export_pairwise(store, experiment["experiment_id"])
    document = {"format": FILE_FORMAT, "version": FILE_VERSION, "experiment": experiment,
                "runs": export_runs(store, experiment_id)}
    return redact(json.dumps(document, indent=2, default=str, allow_nan=False) + "\n")


def to_csv(store: Store, experiment_id: str) -> str:
    """CSV, one row per run; outcome keys flattened as outcome_<key>, per-agent and path steps
    as JSON; a missing value is an empty cell."""
    rows = []
    for run in export_runs(store, experiment_id):
        row = {k: _cell(v) for k, v in run.items()
               if k not in ("spans", "outbox", "outcome", "calls", "judgements", "labels")}
        row.update({f"outcome_{k}": _cell(v) for k, v in run["outcome"].items()})
        rows.append(row)
    fields: list[str] = []
    for row in rows:
        fields.extend(k for k in row if k not in fields)
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=fields, lineterminator="\r\n")
    writer.writeheader()
    writer.writerows(rows)
    return redact(buffer.getvalue())


def _cell(value: Any) -> Any:
    """A CSV cell: lists and dicts as strict JSON, None as empty (DictWriter writes ""), text
    that would start a formula after a single quote."""
    if isinstance(value, list | dict):
        return json.dumps(value, default=str, allow_nan=False)
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def _clean(value: Any) -> Any:
    """NaN, pd.NA and None become None, also inside lists and dicts: a missing value."""
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_clean(v) for v in value]
    return None if is_missing(value) else value
