"""The store's schema: ordered, named migrations, and the run and span columns derived from the
record dataclasses (`RunRecord`, its `RunMetrics`, `SpanRecord`).

Adding a figure means one field on `RunMetrics` and one migration adding its column; the
insert, the frame and the exports follow from the fields. A store whose tables lack a derived
column is refused when opened (a migration is missing), never written half.
"""

from __future__ import annotations

import json
import operator
from collections.abc import Callable, Sequence
from dataclasses import MISSING, Field, fields
from typing import Any, NamedTuple

from orchlab.core.records import (
    Judgement,
    Label,
    ModelCall,
    PairwiseJudgement,
    RunMetrics,
    RunRecord,
    SpanRecord,
)
from orchlab.store.db import Connection

M001_CREATE_TABLES = """
CREATE TABLE experiments (
    experiment_id TEXT PRIMARY KEY, scenario TEXT NOT NULL, backend TEXT NOT NULL,
    created_at TEXT NOT NULL, finished_at TEXT, status TEXT NOT NULL,
    planned_runs INTEGER NOT NULL, spec_json TEXT NOT NULL
);
CREATE TABLE runs (
    run_id TEXT PRIMARY KEY,
    experiment_id TEXT NOT NULL REFERENCES experiments(experiment_id) ON DELETE CASCADE,
    scenario TEXT NOT NULL, form TEXT NOT NULL, input_id TEXT NOT NULL,
    repetition INTEGER NOT NULL, backend TEXT NOT NULL, model TEXT NOT NULL,
    started_at TEXT NOT NULL, wall_ms REAL NOT NULL, status TEXT NOT NULL,
    error_type TEXT, error_message TEXT, final_output TEXT,
    llm_calls INTEGER NOT NULL, tool_calls INTEGER NOT NULL,
    input_tokens INTEGER NOT NULL, output_tokens INTEGER NOT NULL,
    cached_tokens INTEGER NOT NULL, reasoning_tokens INTEGER NOT NULL,
    cost_usd REAL, path TEXT NOT NULL, per_agent_json TEXT NOT NULL, outcome_json TEXT NOT NULL
);
CREATE INDEX runs_by_experiment ON runs(experiment_id, form);
CREATE TABLE spans (
    run_id TEXT NOT NULL REFERENCES runs(run_id) ON DELETE CASCADE,
    seq INTEGER NOT NULL, span_id TEXT NOT NULL, parent_id TEXT, kind TEXT NOT NULL,
    name TEXT NOT NULL, agent TEXT, start_ms REAL NOT NULL, end_ms REAL NOT NULL, model TEXT,
    input_tokens INTEGER NOT NULL, output_tokens INTEGER NOT NULL,
    cached_tokens INTEGER NOT NULL, reasoning_tokens INTEGER NOT NULL,
    input TEXT, output TEXT, error TEXT,
    PRIMARY KEY (run_id, seq)
);
CREATE TABLE outbox (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    run_id TEXT NOT NULL REFERENCES runs(run_id) ON DELETE CASCADE,
    created_at TEXT NOT NULL, to_addr TEXT NOT NULL, subject TEXT NOT NULL, body TEXT NOT NULL
);
CREATE INDEX outbox_by_run ON outbox(run_id);
"""

M002_CREATE_VARIANTS = """
CREATE TABLE variants (
    scenario TEXT NOT NULL, name TEXT NOT NULL, agent TEXT NOT NULL, text TEXT NOT NULL,
    created_at TEXT NOT NULL, PRIMARY KEY (scenario, name, agent)
);
"""

M003_ERRORS_RETRIES_PID = """
ALTER TABLE runs ADD COLUMN error_class TEXT;
ALTER TABLE runs ADD COLUMN retries INTEGER NOT NULL DEFAULT 0;
ALTER TABLE experiments ADD COLUMN pid INTEGER;
"""

M004_RUN_METRICS = """
ALTER TABLE runs ADD COLUMN queued_ms REAL NOT NULL DEFAULT 0;
ALTER TABLE runs ADD COLUMN price_source TEXT NOT NULL DEFAULT '';
ALTER TABLE runs ADD COLUMN path_steps_json TEXT NOT NULL DEFAULT '[]';
ALTER TABLE runs ADD COLUMN success INTEGER;
ALTER TABLE spans ADD COLUMN queued_ms REAL NOT NULL DEFAULT 0;
"""


M005_MODEL_CALLS = """
CREATE TABLE model_calls (
    run_id TEXT NOT NULL REFERENCES runs(run_id) ON DELETE CASCADE,
    agent TEXT NOT NULL, seq INTEGER NOT NULL, request_hash TEXT NOT NULL,
    output_json TEXT NOT NULL, usage_json TEXT NOT NULL, latency_ms REAL NOT NULL, error TEXT,
    PRIMARY KEY (run_id, agent, seq)
);
ALTER TABLE experiments ADD COLUMN records_calls INTEGER NOT NULL DEFAULT 0;
ALTER TABLE experiments ADD COLUMN replay_of TEXT;
"""
"""Model calls kept whole, for replay. Experiments stored before it recorded none, so they
keep records_calls = 0 ("not replayable"); new experiments write 1."""


M006_HEARTBEAT = """
ALTER TABLE experiments ADD COLUMN host TEXT;
ALTER TABLE experiments ADD COLUMN heartbeat_at TEXT;
"""
"""Which machine runs an experiment and when it last said so: a pid is judged on its own host
only, a heartbeat anywhere."""


_M007_OLDER_COPIES = """SELECT r.run_id FROM runs r WHERE EXISTS (
    SELECT 1 FROM runs n WHERE n.experiment_id = r.experiment_id AND n.form = r.form
    AND n.input_id = r.input_id AND n.repetition = r.repetition
    AND (n.started_at > r.started_at OR (n.started_at = r.started_at AND n.run_id > r.run_id)))"""
"""Runs another run of the same planned run outdates: one started later, or at the same moment
with a greater run id (a tie broken alike on both engines; PostgreSQL has no rowid). Timestamps
are ISO-8601 UTC text, so they compare as text."""

M007_ONE_RUN_PER_PLANNED_RUN = f"""
DELETE FROM model_calls WHERE run_id IN ({_M007_OLDER_COPIES});
DELETE FROM outbox WHERE run_id IN ({_M007_OLDER_COPIES});
DELETE FROM spans WHERE run_id IN ({_M007_OLDER_COPIES});
DELETE FROM runs WHERE run_id IN ({_M007_OLDER_COPIES});
CREATE UNIQUE INDEX runs_one_per_planned_run ON runs(experiment_id, form, input_id, repetition);
"""
"""A planned run (experiment, form, input, repetition: what `PlannedRun.key` and resume know a
run by; a prompt variant belongs to the experiment) is stored at most once. Two resumes of one
experiment could each store it; the newest copy is kept with its spans, emails and model calls,
the older copies' rows go (deleted by name, not left to a cascade the connection might not
enforce), then the index refuses any new copy."""


M008_ONE_RUN_PER_PLANNED_RUN_AND_BACKEND = """
DROP INDEX runs_one_per_planned_run;
CREATE UNIQUE INDEX runs_one_per_planned_run_and_backend
    ON runs(experiment_id, form, backend, input_id, repetition);
"""
"""An experiment may run on several backends (a model matrix): a planned run is (experiment,
form, backend, input, repetition), what `PlannedRun.key` and resume know it by. Every store
m007 left holds each (experiment, form, input, repetition) once, so each key of the wider
index too: nothing to delete."""


M009_JUDGEMENTS = """
CREATE TABLE judgements (
    judgement_id TEXT PRIMARY KEY,
    run_id TEXT NOT NULL REFERENCES runs(run_id) ON DELETE CASCADE,
    experiment_id TEXT NOT NULL, judge TEXT NOT NULL, backend TEXT NOT NULL, model TEXT NOT NULL,
    prompt_version TEXT NOT NULL, repetition INTEGER NOT NULL,
    score REAL, label TEXT, explanation TEXT, status TEXT NOT NULL, error_class TEXT,
    error_message TEXT, input_tokens INTEGER NOT NULL, output_tokens INTEGER NOT NULL,
    cost_usd REAL, latency_ms REAL NOT NULL, created_at TEXT NOT NULL, spans_json TEXT NOT NULL
);
CREATE UNIQUE INDEX judgements_one_per_key
    ON judgements(run_id, judge, backend, prompt_version, repetition);
CREATE INDEX judgements_by_experiment ON judgements(experiment_id, judge);
CREATE TABLE labels (
    label_id TEXT PRIMARY KEY,
    run_id TEXT NOT NULL REFERENCES runs(run_id) ON DELETE CASCADE,
    experiment_id TEXT NOT NULL, judge TEXT NOT NULL, score REAL NOT NULL, who TEXT NOT NULL,
    note TEXT, created_at TEXT NOT NULL
);
CREATE UNIQUE INDEX labels_one_per_person ON labels(run_id, judge, who);
CREATE INDEX labels_by_experiment ON labels(experiment_id, judge);
CREATE TABLE pairwise_judgements (
    pairwise_id TEXT PRIMARY KEY,
    experiment_id TEXT NOT NULL,
    run_a TEXT NOT NULL REFERENCES runs(run_id) ON DELETE CASCADE,
    run_b TEXT NOT NULL REFERENCES runs(run_id) ON DELETE CASCADE,
    form_a TEXT NOT NULL, form_b TEXT NOT NULL, input_id TEXT NOT NULL,
    repetition INTEGER NOT NULL, judge TEXT NOT NULL, backend TEXT NOT NULL, model TEXT NOT NULL,
    prompt_version TEXT NOT NULL, k INTEGER NOT NULL, order_seed INTEGER NOT NULL,
    shown_first TEXT NOT NULL, winner TEXT, explanation TEXT, status TEXT NOT NULL,
    error_class TEXT, error_message TEXT, input_tokens INTEGER NOT NULL,
    output_tokens INTEGER NOT NULL, cost_usd REAL, latency_ms REAL NOT NULL,
    created_at TEXT NOT NULL, spans_json TEXT NOT NULL
);
CREATE UNIQUE INDEX pairwise_one_per_key
    ON pairwise_judgements(run_a, run_b, judge, backend, prompt_version, k);
CREATE INDEX pairwise_by_experiment ON pairwise_judgements(experiment_id, judge);
"""
"""A judge's verdicts on stored runs, and people's labels of them, in tables of their own: a
run's row never changes when it is judged or labelled. Each (run, judge, backend, prompt
version, repetition) at most once; the judge's spans are one JSON list per judgement (read
whole, never queried). A person labels a run once per judge. A deleted run takes its
judgements and labels with it. A pairwise judge's verdicts on two runs (one of each of two
forms, same input and repetition) have a table of their own, keyed on both runs: each (run_a,
run_b, judge, backend, prompt version, k) at most once, gone with either run. (One migration
for all three: m009 was never released.)"""


M010_PARTICIPANTS = """
ALTER TABLE experiments ADD COLUMN participant TEXT;
CREATE INDEX experiments_by_participant ON experiments(participant);
"""
"""Who started an experiment in a workshop (a browser session's name): a class's History shows
each participant their own, and only they or the teacher delete them. NULL outside a
workshop, and for every experiment stored before."""


class _M004Span(NamedTuple):
    """A span as m004 reads it: the spans columns (after run_id) as m001 created them, named
    here because a migration is history, never the columns derived from today's records."""

    seq: int
    span_id: str
    parent_id: str | None
    kind: str
    name: str
    agent: str | None
    start_ms: float
    end_ms: float
    model: str | None
    input_tokens: int
    output_tokens: int
    cached_tokens: int
    reasoning_tokens: int
    input: str | None
    output: str | None
    error: str | None


def _backfill_m004(conn: Connection) -> None:
    """Runs stored before m004 get their structured path from their stored spans, and their
    success from their outcome (none for a run that never ran: cancelled, no tool), in Python
    so that the one migration runs on both engines."""
    from orchlab.measure.paths import path_steps

    runs = conn.execute("SELECT run_id, outcome_json, COALESCE(error_class, '') "
                        "FROM runs").fetchall()
    names = ",".join(_M004Span._fields)
    for run_id, outcome, error_class in runs:
        rows = conn.execute(f"SELECT {names} FROM spans WHERE run_id=? ORDER BY seq",
                            (run_id,)).fetchall()
        # path_steps reads span_id, parent_id, kind, name, start_ms, end_ms and seq, which
        # m001's columns carry: it takes these spans for the spans it is typed with
        spans: list[Any] = [_M004Span(*row) for row in rows]
        ran = error_class not in ("tool_unavailable", "cancelled")
        success = int(bool(json.loads(outcome).get("success"))) if ran else None
        conn.execute("UPDATE runs SET path_steps_json=?, success=? WHERE run_id=?",
                     (json.dumps(path_steps(spans)), success, run_id))


Migration = tuple[str, str, Callable[[Connection], None] | None]
MIGRATIONS: list[Migration] = [
    ("m001_create_tables", M001_CREATE_TABLES, None),
    ("m002_create_variants", M002_CREATE_VARIANTS, None),
    ("m003_errors_retries_pid", M003_ERRORS_RETRIES_PID, None),
    ("m004_run_metrics", M004_RUN_METRICS, _backfill_m004),
    ("m005_model_calls", M005_MODEL_CALLS, None),
    ("m006_heartbeat", M006_HEARTBEAT, None),
    ("m007_one_run_per_planned_run", M007_ONE_RUN_PER_PLANNED_RUN, None),
    ("m008_one_run_per_planned_run_and_backend", M008_ONE_RUN_PER_PLANNED_RUN_AND_BACKEND,
     None),
    ("m009_judgements", M009_JUDGEMENTS, None),
    ("m010_participants", M010_PARTICIPANTS, None),
]
"""(name, SQL, optional Python step run in the same transaction), applied in order. The SQL is
SQLite's and PostgreSQL's alike, but for column types (`Database.ddl`). Migrations are
history: each names the columns it reads and uses no record class (`orchlab.core.records`) and none
of the column lists below, which follow today's records."""


# -- columns derived from the records --------------------------------------------------------

CHILD_TABLES = ("metrics", "spans", "outbox", "calls")
"""RunRecord fields that are not run columns: the metrics are flattened, the rest are rows of
their own tables."""


def _is_json(f: Field[Any]) -> bool:
    return f.default_factory is not MISSING  # dict and list fields


def _column(f: Field[Any]) -> str:
    return f"{f.name}_json" if _is_json(f) else f.name


_RUN_FIELDS = [f for f in fields(RunRecord) if f.name not in CHILD_TABLES]
_METRIC_FIELDS = list(fields(RunMetrics))
RUN_COLUMNS = [_column(f) for f in _RUN_FIELDS + _METRIC_FIELDS]
"""Every run column, in insert order."""
JSON_COLUMNS = {_column(f): f.name for f in _RUN_FIELDS + _METRIC_FIELDS if _is_json(f)}
"""Column -> field for values stored as JSON text."""
TEXT_COLUMNS = [f.name for f in _RUN_FIELDS + _METRIC_FIELDS
                if "str | None" in str(f.type) and not _is_json(f)]
"""Nullable text columns: None when NULL in a frame, never NaN."""
SPAN_COLUMNS = [f.name for f in fields(SpanRecord)]

_run_values = operator.attrgetter(
    *[f.name for f in _RUN_FIELDS], *[f"metrics.{f.name}" for f in _METRIC_FIELDS])
_span_values = operator.attrgetter(*SPAN_COLUMNS)
_ENCODE = [(i, json.dumps if c in JSON_COLUMNS else None) for i, c in enumerate(RUN_COLUMNS)]
_JSON_AT = [i for i, c in enumerate(RUN_COLUMNS) if c in JSON_COLUMNS]
_STARTED_AT = RUN_COLUMNS.index("started_at")
_BOOL_AT = [i for i, f in enumerate(_RUN_FIELDS + _METRIC_FIELDS) if "bool" in str(f.type)]

INSERT_RUN = (f"INSERT INTO runs ({','.join(RUN_COLUMNS)}) "
              f"VALUES ({','.join('?' * len(RUN_COLUMNS))})")
INSERT_RUN_ONCE = INSERT_RUN + " ON CONFLICT DO NOTHING"
"""The insert `Store.save_run` makes: a run whose planned run (or id) is stored inserts
nothing, and says so by its row count."""
INSERT_SPAN = (f"INSERT INTO spans (run_id,{','.join(SPAN_COLUMNS)}) "
               f"VALUES ({','.join('?' * (len(SPAN_COLUMNS) + 1))})")
CALL_FIELDS = [f.name for f in fields(ModelCall)]
CALL_COLUMNS = [_column(f) for f in fields(ModelCall)]
"""model_calls columns after run_id, in ModelCall's field order (dicts and lists as JSON)."""
INSERT_CALL = (f"INSERT INTO model_calls (run_id,{','.join(CALL_COLUMNS)}) "
               f"VALUES ({','.join('?' * (len(CALL_COLUMNS) + 1))})")
EXPERIMENT_COLUMNS = ["experiment_id", "scenario", "backend", "created_at", "finished_at",
                      "status", "planned_runs", "spec_json", "pid", "records_calls", "replay_of",
                      "host", "heartbeat_at", "participant"]
"""Experiment columns, named (never SELECT * by position)."""
INSERT_EXPERIMENT = (f"INSERT INTO experiments ({','.join(EXPERIMENT_COLUMNS)}) "
                     f"VALUES ({','.join('?' * len(EXPERIMENT_COLUMNS))})")
INSERT_OUTBOX = ("INSERT INTO outbox (run_id, created_at, to_addr, subject, body) "
                 "VALUES (?,?,?,?,?)")


def run_row(run: RunRecord) -> list[Any]:
    """A run's column values in RUN_COLUMNS order."""
    values = list(_run_values(run))
    values[_STARTED_AT] = run.started_at.isoformat()
    for i in _BOOL_AT:  # an INTEGER column on both engines (PostgreSQL takes no bool there)
        if values[i] is not None:
            values[i] = int(values[i])
    for i in _JSON_AT:
        values[i] = _JSON_DEFAULT_STR(values[i])
    return values


_JSON_DEFAULT_STR = json.JSONEncoder(default=str).encode
"""`json.dumps(value, default=str)` with one encoder, not one built per call."""


def span_rows(run: RunRecord) -> list[tuple[Any, ...]]:
    """The run's span rows."""
    return [(run.run_id, *_span_values(s)) for s in run.spans]


def call_rows(run: RunRecord) -> list[tuple[Any, ...]]:
    """The run's model-call rows."""
    return [(run.run_id, c.agent, c.seq, c.request_hash, json.dumps(c.output),
             json.dumps(c.usage), c.latency_ms, c.error) for c in run.calls]


def call_from_row(row: tuple[Any, ...]) -> ModelCall:
    """A ModelCall from its columns (CALL_COLUMNS order)."""
    values = dict(zip(CALL_FIELDS, row, strict=True))
    values["output"], values["usage"] = json.loads(values["output"]), json.loads(values["usage"])
    return ModelCall(**values)


JUDGEMENT_FIELDS = [f.name for f in fields(Judgement)]
JUDGEMENT_COLUMNS = [f"{name}_json" if name == "spans" else name for name in JUDGEMENT_FIELDS]
"""judgements columns in Judgement's field order (its spans as one JSON list)."""
INSERT_JUDGEMENT_ONCE = (f"INSERT INTO judgements ({','.join(JUDGEMENT_COLUMNS)}) "
                         f"VALUES ({','.join('?' * len(JUDGEMENT_COLUMNS))}) "
                         "ON CONFLICT DO NOTHING")
"""The insert `Store.save_judgement` makes: one whose key is stored inserts nothing."""


def judgement_row(j: Judgement) -> tuple[Any, ...]:
    """A judgement's column values in JUDGEMENT_COLUMNS order."""
    values = {name: getattr(j, name) for name in JUDGEMENT_FIELDS}
    values["created_at"] = j.created_at.isoformat()
    values["spans"] = _JSON_DEFAULT_STR([_span_values(s) for s in j.spans])
    return tuple(values[name] for name in JUDGEMENT_FIELDS)


def judgement_from_row(row: Sequence[Any]) -> Judgement:
    """A Judgement from its columns (JUDGEMENT_COLUMNS order)."""
    from datetime import datetime

    values = dict(zip(JUDGEMENT_FIELDS, row, strict=True))
    values["created_at"] = datetime.fromisoformat(values["created_at"])
    values["spans"] = [SpanRecord(*s) for s in json.loads(values["spans"])]
    for name in ("score", "cost_usd", "latency_ms"):  # PostgreSQL may hand back a Decimal
        if values[name] is not None:
            values[name] = float(values[name])
    return Judgement(**values)


LABEL_COLUMNS = [f.name for f in fields(Label)]
"""labels columns, in Label's field order."""
INSERT_LABEL = (f"INSERT INTO labels ({','.join(LABEL_COLUMNS)}) "
                f"VALUES ({','.join('?' * len(LABEL_COLUMNS))})")


def label_row(label: Label) -> tuple[Any, ...]:
    """A label's column values in LABEL_COLUMNS order."""
    values = {name: getattr(label, name) for name in LABEL_COLUMNS}
    values["created_at"] = label.created_at.isoformat()
    return tuple(values[name] for name in LABEL_COLUMNS)


def label_from_row(row: Sequence[Any]) -> Label:
    """A Label from its columns (LABEL_COLUMNS order)."""
    from datetime import datetime

    values = dict(zip(LABEL_COLUMNS, row, strict=True))
    values["created_at"] = datetime.fromisoformat(values["created_at"])
    values["score"] = float(values["score"])  # PostgreSQL may hand back a Decimal
    return Label(**values)


PAIRWISE_FIELDS = [f.name for f in fields(PairwiseJudgement)]
PAIRWISE_COLUMNS = [f"{name}_json" if name == "spans" else name for name in PAIRWISE_FIELDS]
"""pairwise_judgements columns in PairwiseJudgement's field order (its spans as one JSON
list)."""
INSERT_PAIRWISE_ONCE = (f"INSERT INTO pairwise_judgements ({','.join(PAIRWISE_COLUMNS)}) "
                        f"VALUES ({','.join('?' * len(PAIRWISE_COLUMNS))}) "
                        "ON CONFLICT DO NOTHING")
"""The insert `Store.save_pairwise` makes: one whose key is stored inserts nothing."""


def pairwise_row(p: PairwiseJudgement) -> tuple[Any, ...]:
    """A pairwise judgement's column values in PAIRWISE_COLUMNS order."""
    values = {name: getattr(p, name) for name in PAIRWISE_FIELDS}
    values["created_at"] = p.created_at.isoformat()
    values["spans"] = _JSON_DEFAULT_STR([_span_values(s) for s in p.spans])
    return tuple(values[name] for name in PAIRWISE_FIELDS)


def pairwise_from_row(row: Sequence[Any]) -> PairwiseJudgement:
    """A PairwiseJudgement from its columns (PAIRWISE_COLUMNS order)."""
    from datetime import datetime

    values = dict(zip(PAIRWISE_FIELDS, row, strict=True))
    values["created_at"] = datetime.fromisoformat(values["created_at"])
    values["spans"] = [SpanRecord(*s) for s in json.loads(values["spans"])]
    values["order_seed"] = int(values["order_seed"])
    for name in ("cost_usd", "latency_ms"):  # PostgreSQL may hand back a Decimal
        if values[name] is not None:
            values[name] = float(values[name])
    return PairwiseJudgement(**values)


def missing_columns(have: Callable[[str], set[str]]) -> list[str]:
    """Derived columns the tables do not have (empty when the schema is current), given the
    columns each table has."""
    tables = [("runs", RUN_COLUMNS), ("spans", SPAN_COLUMNS),
              ("experiments", EXPERIMENT_COLUMNS), ("model_calls", CALL_COLUMNS),
              ("judgements", JUDGEMENT_COLUMNS), ("labels", LABEL_COLUMNS),
              ("pairwise_judgements", PAIRWISE_COLUMNS)]
    missing: list[str] = []
    for table, wanted in tables:
        present = have(table)
        missing += [c if table == "runs" else f"{table}.{c}" for c in wanted if c not in present]
    return missing
