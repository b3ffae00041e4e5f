"""Exports of one experiment: JSON (runs with their spans and outbox) and CSV (a row per run).

The CLI and the History page both call these, so a download and `orchlab export` are identical.
"""

from __future__ import annotations

import csv
import io
import json
from typing import Any

from orchlab.store import Store

SPAN_EXPORT_FIELDS = ("span_id", "name", "kind", "start_ms", "end_ms", "model",
                      "input_tokens", "output_tokens", "agent", "error")


def export_runs(store: Store, experiment_id: str) -> list[dict[str, Any]]:
    """Every run of the experiment as a dict, each with its spans and outbox."""
    frame = store.load_runs([experiment_id])
    runs: list[dict[str, Any]] = []
    for row in frame.to_dict(orient="records"):
        row = {k: None if _missing(v) else v for k, v in row.items()}
        row["started_at"] = row["started_at"].isoformat()
        if row["success"] is not None:
            row["success"] = bool(row["success"])
        row["spans"] = [
            {f: getattr(s, f) for f in SPAN_EXPORT_FIELDS} | {"parent": s.parent_id}
            for s in store.load_spans(row["run_id"])
        ]
        row["outbox"] = store.load_outbox(row["run_id"])
        runs.append(row)
    return runs


def to_json(store: Store, experiment_id: str) -> str:
    """JSON list of runs."""
    return json.dumps(export_runs(store, experiment_id), indent=2, default=str)


def to_csv(store: Store, experiment_id: str) -> str:
    """CSV, one row per run; outcome keys flattened as outcome_<key>, per-agent and path steps
    as JSON."""
    runs = export_runs(store, experiment_id)
    rows = []
    for run in runs:
        row = {k: json.dumps(v) if isinstance(v, list | dict) else v
               for k, v in run.items() if k not in ("spans", "outbox", "outcome")}
        row.update({f"outcome_{k}": v for k, v in run["outcome"].items()})
        rows.append(row)
    fields: list[str] = []
    for row in rows:
        fields.extend(k for k in row if k not in fields)
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=fields, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return buffer.getvalue()


def _missing(value: Any) -> bool:
    """NaN, pd.NA and None: a missing value, exported as null (JSON) or empty (CSV)."""
    import pandas as pd

    return not isinstance(value, list | dict) and bool(pd.isna(value))
