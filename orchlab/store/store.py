"""The store: experiments, runs, spans, model calls, the sandbox outbox, judges' judgements of
runs (one run, or two forms' runs compared) and people's labels of them, in a SQLite file (the
embedded default) or a shared PostgreSQL database (`orchlab.store.db`).

Each run is committed in one transaction as soon as it finishes, so a crash loses at most the
runs still in flight. Schema changes are ordered, named migrations (`orchlab.store.schema`), the
same on both engines, recorded in the store itself.
"""

from __future__ import annotations

import json
import os
import socket
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from dataclasses import replace as dataclass_replace
from datetime import datetime
from typing import TYPE_CHECKING, Any

from orchlab.core import config, workshop
from orchlab.core.errors import (
    NOT_THE_FORMS_FAULT,
    LabelError,
    LabelExists,
    StoreError,
    count_text,
    first_line,
)
from orchlab.core.records import (
    ExperimentRecord,
    Judgement,
    Label,
    ModelCall,
    PairwiseJudgement,
    RunRecord,
    SpanRecord,
    utcnow,
)
from orchlab.store import schema
from orchlab.store.db import Connection, open_database
from orchlab.store.db import statements as schema_statements
from orchlab.store.schema import (
    CALL_COLUMNS,
    EXPERIMENT_COLUMNS,
    INSERT_CALL,
    INSERT_EXPERIMENT,
    INSERT_JUDGEMENT_ONCE,
    INSERT_LABEL,
    INSERT_OUTBOX,
    INSERT_PAIRWISE_ONCE,
    INSERT_RUN,
    INSERT_RUN_ONCE,
    INSERT_SPAN,
    JSON_COLUMNS,
    JUDGEMENT_COLUMNS,
    LABEL_COLUMNS,
    PAIRWISE_COLUMNS,
    SPAN_COLUMNS,
    TEXT_COLUMNS,
)

__all__ = ["RERUN_SQL", "WHO_MAX_CHARS", "RunCounts", "Store", "StoreError", "checked_who"]

CONNECTION_ERRORS = ("APIConnectionError", "ConnectError", "ConnectionRefusedError",
                     "ConnectionResetError")
"""Exception types of a request that never reached a server: the run says nothing about it."""

RERUN_SQL = (
    "(status = 'cancelled' OR COALESCE(error_class, '') IN ("
    + ",".join(f"'{c}'" for c in NOT_THE_FORMS_FAULT)
    + ") OR (COALESCE(error_class, '') = 'server_error' AND COALESCE(error_type, '') IN ("
    + ",".join(f"'{t}'" for t in CONNECTION_ERRORS) + ")))"
)
"""A stored run that is not finished: it ended for a reason that is not the form's (cancelled,
tool_unavailable, or a server that could not be reached), so a resume runs it again. A run the
model answered, even with a 500 or past max_turns, is a result and is kept."""

if TYPE_CHECKING:
    import pandas as pd


@dataclass(frozen=True)
class RunCounts:
    """An experiment's runs against its plan, in the one definition every view states."""

    planned: int
    """Runs the plan holds."""
    finished: int
    """Stored runs that are a result (ok, or failed for the form's own reasons)."""
    ok: int
    """Finished runs whose status is ok."""
    cancelled: int
    """Stored runs a cancel interrupted."""
    rerun_classes: dict[str, int] = field(default_factory=dict)
    """Stored runs failed for an environment reason, by error class (a resume reruns them)."""

    @property
    def to_rerun(self) -> int:
        """Stored runs a resume runs again: environment failures and cancelled runs."""
        return sum(self.rerun_classes.values()) + self.cancelled

    @property
    def missing(self) -> int:
        """Planned runs not finished: what a resume runs (never started, cancelled, failed
        for an environment reason)."""
        return max(self.planned - self.finished, 0)

    def sentence(self) -> str:
        """'8 of 60 runs finished, 1 cancelled, 52 planned runs never finished'."""
        if self.missing == 0:
            return f"{self.finished} runs saved"
        parts = [f"{self.finished} of {self.planned} runs finished"]
        failed = sum(self.rerun_classes.values())
        if failed:
            classes = count_text(self.rerun_classes)
            every = f"all {failed}" if failed == self.planned else str(failed)
            parts.append(f"{every} failed for a reason outside the form ({classes})")
        if self.cancelled:
            parts.append(f"{self.cancelled} cancelled")
        parts.append(f"{self.missing} planned runs never finished")
        return ", ".join(parts)


class Store:
    """One store, SQLite or PostgreSQL; safe to share between threads."""

    def __init__(self, location: str | os.PathLike[str] | None = None) -> None:
        self._db = open_database(config.store_target(location))
        self.location = self._db.location
        """Where the store is, as given: what reopens it (ORCHLAB_STORE for a worker)."""
        self.shown = self._db.shown
        """Where the store is, fit to show: a URL's password is ***."""
        self.kind = self._db.kind
        """SQLite or PostgreSQL."""
        self.where = self._db.where
        """The file, or host:port/database (never a user or password)."""
        try:
            self._migrate()
            self.mark_interrupted()
        except BaseException:
            self._db.close()
            raise

    def close(self) -> None:
        """Close the connection (or the pool)."""
        self._db.close()

    def _migrate(self) -> None:
        """Apply the missing migrations in one transaction; concurrent openers of a new store
        wait for each other (`Database.lock_sql`), so none sees a half-made schema."""
        name = ""
        try:
            with self._db.tx() as conn:
                conn.execute(self._db.lock_sql)
                conn.execute("CREATE TABLE IF NOT EXISTS schema_migrations "
                             "(name TEXT PRIMARY KEY, applied_at TEXT NOT NULL)")
                done = {r[0] for r in conn.execute("SELECT name FROM schema_migrations")
                        .fetchall()}
                for name, sql, step in schema.MIGRATIONS:
                    if name not in done:
                        _apply(self._db.ddl, conn, name, sql, step)
        except self._db.errors as exc:
            raise StoreError(f"Cannot apply migration {name} to {self.shown}: "
                             f"{first_line(exc)}.") from None
        with self._db.read() as conn:
            missing = schema.missing_columns(lambda table: {
                r[0] for r in conn.execute(self._db.columns_sql, (table,)).fetchall()})
        if missing:
            raise StoreError(f"The store {self.shown} has no column {missing[0]}: it was "
                             "written by another version of Orchestration Lab.")

    def applied_migrations(self) -> list[str]:
        """Names of applied migrations, in order."""
        with self._db.read() as conn:
            rows = conn.execute("SELECT name FROM schema_migrations ORDER BY name").fetchall()
        return [r[0] for r in rows]

    # -- experiments -------------------------------------------------------------------------

    def add_experiment(self, exp: ExperimentRecord) -> bool:
        """Insert a new experiment; False (and nothing written) when its id is taken, so that
        two writers of one shared store never merge their experiments."""
        try:
            with self._db.tx() as conn:
                conn.execute(INSERT_EXPERIMENT, _experiment_row(exp))
        except self._db.integrity_errors:
            return False
        return True

    def save_experiment(self, exp: ExperimentRecord) -> None:
        """Insert or update an experiment row."""
        with self._db.tx() as conn:
            conn.execute(
                INSERT_EXPERIMENT + " ON CONFLICT(experiment_id) DO UPDATE SET "
                "status=excluded.status, finished_at=excluded.finished_at, pid=excluded.pid, "
                "host=excluded.host, heartbeat_at=excluded.heartbeat_at",
                _experiment_row(exp),
            )

    def finish_experiment(self, experiment_id: str, status: str) -> None:
        """Mark an experiment completed, cancelled or interrupted."""
        with self._db.tx() as conn:
            conn.execute(
                "UPDATE experiments SET status=?, finished_at=? WHERE experiment_id=?",
                (status, utcnow().isoformat(), experiment_id),
            )

    def mark_interrupted(self, now: datetime | None = None) -> list[str]:
        """Experiments left 'running' by a process that is gone become 'interrupted'.

        Called when a store is opened: a killed process cannot mark its own experiment. On
        the host that ran it, a pid that no longer exists says so; from another host (a
        shared store), a heartbeat older than `STALE_AFTER_S` does.

        Only the row as it was judged changes: the update also asks that the experiment be
        still running with the pid, host and heartbeat read. Between the look and the update
        another machine may resume the experiment (a new host and a fresh heartbeat) or its
        own process may finish it; either is left alone. Returns the experiments it changed.
        """
        with self._db.read() as conn:
            rows = conn.execute(
                "SELECT experiment_id, pid, host, heartbeat_at FROM experiments "
                "WHERE status='running'").fetchall()
        now = now or utcnow()
        dead = [row for row in rows if _gone(row[1], row[2], row[3], now)]
        if not dead:
            return []
        interrupted: list[str] = []
        with self._db.tx() as conn:
            for exp_id, pid, host, beat in dead:
                changed = conn.execute(
                    "UPDATE experiments SET status='interrupted' WHERE experiment_id=? "
                    "AND status='running' AND COALESCE(pid, -1)=? AND COALESCE(host, '')=? "
                    "AND COALESCE(heartbeat_at, '')=?",
                    (exp_id, -1 if pid is None else pid, host or "", beat or "")).rowcount
                if changed:
                    interrupted.append(exp_id)
        return interrupted

    def claim_experiment(self, experiment_id: str) -> bool:
        """Mark an experiment running in this process (pid, host, a fresh heartbeat) unless
        it is running already; True when this process now runs it.

        The check and the write are one conditional UPDATE, not a read then a write: of two
        resumes of one experiment (two processes, or two machines on a shared store) exactly
        one is told True, whichever commits first, and the other sees the row the winner
        left. An experiment whose process died stays running until `mark_interrupted` (every
        store opening) interrupts it; then it can be claimed."""
        with self._db.tx() as conn:
            cursor = conn.execute(
                "UPDATE experiments SET status='running', pid=?, host=?, heartbeat_at=?, "
                "finished_at=NULL WHERE experiment_id=? AND status != 'running'",
                (os.getpid(), HOST, utcnow().isoformat(), experiment_id))
            return bool(cursor.rowcount == 1)

    def beat(self, experiment_id: str) -> None:
        """The running process's sign of life (the runner calls it every `HEARTBEAT_S`)."""
        with self._db.tx() as conn:
            conn.execute("UPDATE experiments SET heartbeat_at=? WHERE experiment_id=? "
                         "AND status='running'", (utcnow().isoformat(), experiment_id))

    def run_keys(self, experiment_id: str) -> set[tuple[str, str, str, int]]:
        """(form, backend, input_id, repetition) of every finished run (`RERUN_SQL` ones
        excluded): `PlannedRun.key` of the planned runs done."""
        with self._db.read() as conn:
            rows = conn.execute(
                "SELECT form, backend, input_id, repetition FROM runs WHERE experiment_id=? "
                f"AND NOT {RERUN_SQL}", (experiment_id,)).fetchall()
        return {(f, b, i, int(r)) for f, b, i, r in rows}

    def delete_cancelled_runs(self, experiment_id: str) -> int:
        """Drop the runs a resume runs again (cancelled, or ended by the environment), just
        before it does: the experiment keeps one run per planned key."""
        with self._db.tx() as conn:
            cursor = conn.execute(
                f"DELETE FROM runs WHERE experiment_id=? AND {RERUN_SQL}", (experiment_id,))
            return cursor.rowcount

    def run_counts(self, experiment_id: str) -> RunCounts:
        """The one count of an experiment's runs that every page and command states."""
        with self._db.read() as conn:
            planned = conn.execute(
                "SELECT planned_runs FROM experiments WHERE experiment_id=?",
                (experiment_id,)).fetchone()
            rows = conn.execute(
                f"SELECT {RERUN_SQL}, status, COALESCE(error_class, status), COUNT(*) "
                "FROM runs WHERE experiment_id=? GROUP BY 1, 2, 3",
                (experiment_id,)).fetchall()
        finished = ok = cancelled = 0
        rerun: dict[str, int] = {}
        for again, status, kind, count in rows:
            if not again:
                finished += count
                ok += count if status == "ok" else 0
            elif status == "cancelled":
                cancelled += count
            else:
                rerun[kind] = rerun.get(kind, 0) + count
        return RunCounts(int(planned[0]) if planned else 0, finished, ok, cancelled, rerun)

    def list_experiments(self) -> list[ExperimentRecord]:
        """Experiments, newest first."""
        with self._db.read() as conn:
            rows = conn.execute(
                f"SELECT {','.join(EXPERIMENT_COLUMNS)} FROM experiments "
                "ORDER BY created_at DESC").fetchall()
        return [_experiment(r) for r in rows]

    def get_experiment(self, experiment_id: str) -> ExperimentRecord | None:
        """One experiment by id (a unique prefix also works)."""
        prefix = experiment_id.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        with self._db.read() as conn:
            rows = conn.execute(
                f"SELECT {','.join(EXPERIMENT_COLUMNS)} FROM experiments "
                "WHERE experiment_id LIKE ? ESCAPE '\\'", (prefix + "%",)).fetchall()
        return _experiment(rows[0]) if len(rows) == 1 else None

    def delete_experiment(self, experiment_id: str, owner: str | None = None) -> None:
        """Delete an experiment with its runs, spans and outbox. With `owner` (a workshop's
        participant), only an experiment that participant recorded: the check and the delete
        are one statement, so nothing can change hands between them; anyone else's is a
        StoreError naming whose it is, and nothing is deleted."""
        where, args = "experiment_id=?", [experiment_id]
        if owner is not None:
            where, args = where + " AND participant=?", [experiment_id, owner]
        with self._db.tx() as conn:
            deleted = conn.execute(f"DELETE FROM experiments WHERE {where}", args).rowcount
            if deleted or owner is None:
                return
            row = conn.execute("SELECT participant FROM experiments WHERE experiment_id=?",
                               (experiment_id,)).fetchone()
        if row is not None:
            raise StoreError(workshop.refusal(row[0], owner, teacher=False) or "")

    # -- runs --------------------------------------------------------------------------------

    def save_run(self, run: RunRecord) -> bool:
        """Commit one run with its spans, outbox and model calls in a single transaction;
        True when stored, False (and nothing written) when the store already holds a run of
        the same planned run.

        A planned run (experiment, form, backend, input, repetition) is stored at most once
        (the UNIQUE index of m008). A second copy comes only from the same run committed again or
        from two processes that ran one planned run (resumes of one experiment are claimed
        one at a time, `claim_experiment`, but a store is shared with other versions). The
        run already stored is kept: pages, exports and replays may have read it, so nothing
        recorded is lost or changed, and the experiment goes on, as a refusal (an error that
        stops it) would not, for a planned run that has its answer. A run id another planned
        run holds is no copy: a StoreError."""
        rows = _run_rows(run)  # built before taking the lock
        with self._db.tx() as conn:
            if _insert_run(conn, rows, INSERT_RUN_ONCE):
                return True
            held = conn.execute(
                "SELECT run_id FROM runs WHERE experiment_id=? AND form=? AND backend=? "
                "AND input_id=? AND repetition=?",
                (run.experiment_id, run.form, run.backend, run.input_id, run.repetition)
            ).fetchone()
        if held is None:
            raise StoreError(f"The store {self.shown} holds a run {run.run_id} of another "
                             "planned run.")
        return False

    def import_experiment(self, exp: ExperimentRecord, runs: list[RunRecord],
                          judgements: Sequence[Judgement] = (),
                          labels: Sequence[Label] = (),
                          pairwise: Sequence[PairwiseJudgement] = ()) -> None:
        """An experiment and all its runs (and the judgements, labels and pairwise judgements
        of them) in one transaction: a clash (an id already stored) or any bad row leaves the
        store as it was. A file holding one planned run twice is refused whole and by name:
        the store keeps each planned run once, and which copy a file meant is not for the
        import to guess. So is a file where one person labels a run twice for one judge."""
        copies = Counter((r.experiment_id, r.form, r.backend, r.input_id, r.repetition)
                         for r in runs)
        for (_exp_id, form, backend, input_id, repetition), count in copies.items():
            if count > 1:
                raise StoreError(f"Cannot import {exp.experiment_id} into {self.shown}: it "
                                 f"holds {count} runs of form {form}, input {input_id}, "
                                 f"repetition {repetition}" + _on_backend(backend, exp) + ".")
        rows = [_run_rows(run) for run in runs]
        judged = [_judgement_row(j) for j in judgements]
        labelled = Counter((lb.run_id, lb.judge, lb.who) for lb in labels)
        for (run_id, judge, who), count in labelled.items():
            if count > 1:
                raise StoreError(f"Cannot import {exp.experiment_id} into {self.shown}: "
                                 f"{who} labels run {run_id} for {judge} {count} times.")
        label_rows = [_label_row(lb) for lb in labels]
        compared = [_pairwise_row(p) for p in pairwise]
        try:
            with self._db.tx() as conn:
                conn.execute(INSERT_EXPERIMENT, _experiment_row(exp))
                for run_rows in rows:
                    _insert_run(conn, run_rows)
                for row in judged:
                    if conn.execute(INSERT_JUDGEMENT_ONCE, row).rowcount == 0:
                        raise StoreError(f"Cannot import {exp.experiment_id} into "
                                         f"{self.shown}: it holds judgement {row[0]} twice, "
                                         "or twice for one run, judge, backend, prompt "
                                         "version and repetition.")
                if label_rows:
                    conn.executemany(INSERT_LABEL, label_rows)
                for row in compared:
                    if conn.execute(INSERT_PAIRWISE_ONCE, row).rowcount == 0:
                        raise StoreError(f"Cannot import {exp.experiment_id} into "
                                         f"{self.shown}: it holds pairwise judgement {row[0]} "
                                         "twice, or twice for one pair of runs, judge, "
                                         "backend, prompt version and k.")
        except self._db.integrity_errors as exc:
            raise StoreError(f"Cannot import {exp.experiment_id} into {self.shown}: "
                             f"{first_line(exc)}.") from None

    def taken_ids(self, experiment_id: str, run_ids: list[str]) -> list[str]:
        """Which of these ids the store already holds (the experiment's first)."""
        with self._db.read() as conn:
            taken = [experiment_id] if conn.execute(
                "SELECT 1 FROM experiments WHERE experiment_id=?", (experiment_id,)
            ).fetchone() else []
            for start in range(0, len(run_ids), 500):
                chunk = run_ids[start:start + 500]
                taken += [r[0] for r in conn.execute(
                    f"SELECT run_id FROM runs WHERE run_id IN ({','.join('?' * len(chunk))})",
                    chunk).fetchall()]
        return taken

    def load_calls(self, run_id: str) -> list[ModelCall]:
        """A run's model calls, per agent in the order asked."""
        with self._db.read() as conn:
            rows = conn.execute(
                f"SELECT {','.join(CALL_COLUMNS)} FROM model_calls WHERE run_id=? "
                "ORDER BY agent, seq", (run_id,)).fetchall()
        return [schema.call_from_row(r) for r in rows]

    def load_recording(
        self, experiment_id: str
    ) -> dict[tuple[str, str, str, int], list[ModelCall]]:
        """Every finished run's model calls by (form, backend, input_id, repetition), a run
        that made none included: what a replay serves. Runs a resume would run again
        (`RERUN_SQL`) are not part of the recording."""
        with self._db.read() as conn:
            rows = conn.execute(
                f"SELECT r.form, r.backend, r.input_id, r.repetition, "
                f"{','.join('c.' + c for c in CALL_COLUMNS)} FROM runs r "
                f"LEFT JOIN model_calls c USING (run_id) WHERE r.experiment_id=? "
                f"AND NOT {RERUN_SQL} ORDER BY r.started_at, c.agent, c.seq",
                (experiment_id,)).fetchall()
        recording: dict[tuple[str, str, str, int], list[ModelCall]] = {}
        for form, backend, input_id, rep, *call in rows:
            calls = recording.setdefault((form, backend, input_id, int(rep)), [])
            if call[0] is not None:
                calls.append(schema.call_from_row(tuple(call)))
        return recording

    def load_runs(
        self, experiment_ids: list[str] | None = None, scenario: str | None = None
    ) -> pd.DataFrame:
        """Runs as a DataFrame, one row per run and one column per record field (JSON fields
        parsed), plus the experiment's prompt variant, its agent assignment's name ("" for
        none) and the experiment it replayed (None for a live one)."""
        import pandas as pd

        sql, params = _run_filter(experiment_ids, scenario)
        query = (
            f"SELECT runs.*, COALESCE({self._db.json_text('e.spec_json', 'variant')}, "
            "'original') AS variant, e.replay_of AS replay_of, "
            f"COALESCE({self._db.json_text('e.spec_json', 'assignment')}, '') AS assignment "
            f"FROM runs JOIN experiments e USING (experiment_id) {sql} "
            "ORDER BY runs.started_at"
        )
        with self._db.read() as conn:
            cursor = conn.execute(query, params)
            columns = [d[0] for d in cursor.description]
            frame = pd.DataFrame.from_records(cursor.fetchall(), columns=columns,
                                              coerce_float=True)
        frame["started_at"] = pd.to_datetime(frame["started_at"], utc=True, format="ISO8601")
        frame["success"] = frame["success"].astype("boolean")
        for column in TEXT_COLUMNS:  # NULL is None, never a NaN that reads as true
            frame[column] = frame[column].astype(object).where(frame[column].notna(), None)
        for column, name in JSON_COLUMNS.items():
            frame[name] = [json.loads(x) for x in frame.pop(column)]
        return frame

    def load_spans(self, run_id: str) -> list[SpanRecord]:
        """A run's spans in start order."""
        with self._db.read() as conn:
            rows = conn.execute(
                f"SELECT {','.join(SPAN_COLUMNS)} FROM spans WHERE run_id=? ORDER BY seq",
                (run_id,),
            ).fetchall()
        return [SpanRecord(**dict(zip(SPAN_COLUMNS, row, strict=True))) for row in rows]

    def load_outbox(self, run_id: str) -> list[dict[str, Any]]:
        """Sandbox emails a run sent."""
        with self._db.read() as conn:
            rows = conn.execute(
                "SELECT created_at, to_addr, subject, body FROM outbox WHERE run_id=? ORDER BY id",
                (run_id,),
            ).fetchall()
        return [dict(zip(("created_at", "to", "subject", "body"), r, strict=True)) for r in rows]

    def run_health(self) -> dict[str, tuple[str, int]]:
        """Per experiment: failed runs by error class ('2 max_turns, 1 timeout') and retries."""
        with self._db.read() as conn:
            rows = conn.execute(
                "SELECT experiment_id, COALESCE(error_class, status), status != 'ok', COUNT(*), "
                "SUM(retries) FROM runs GROUP BY experiment_id, status != 'ok', "
                "COALESCE(error_class, status)").fetchall()
        failed: dict[str, dict[str, int]] = {}
        retries: dict[str, int] = {}
        for exp_id, kind, is_failure, count, retried in rows:
            classes = failed.setdefault(exp_id, {})
            if is_failure:
                classes[kind] = count
            retries[exp_id] = retries.get(exp_id, 0) + int(retried or 0)
        return {exp_id: (count_text(classes), retries[exp_id])
                for exp_id, classes in failed.items()}

    def count_runs(self, experiment_id: str) -> int:
        """Runs recorded for an experiment."""
        with self._db.read() as conn:
            row = conn.execute(
                "SELECT COUNT(*) FROM runs WHERE experiment_id=?", (experiment_id,)
            ).fetchone()
        return int(row[0])


    # -- judgements --------------------------------------------------------------------------

    def save_judgement(self, judgement: Judgement) -> bool:
        """Commit one judgement; False (and nothing written) when the store already holds one
        of the same run, judge, backend, prompt version and repetition. The one stored is
        kept, never overwritten: a score already read (a page, an export) does not change
        under its reader. The run's own rows are never touched."""
        row = _judgement_row(judgement)
        try:
            with self._db.tx() as conn:
                return bool(conn.execute(INSERT_JUDGEMENT_ONCE, row).rowcount == 1)
        except self._db.integrity_errors:  # the run is gone (deleted while it was judged)
            raise StoreError(f"The store {self.shown} holds no run {judgement.run_id} to "
                             "judge.") from None

    def judged_keys(self, experiment_id: str) -> set[tuple[str, str, str, str, int]]:
        """(run_id, judge, backend, prompt_version, repetition) of every stored judgement of
        the experiment, failed ones included: what a judging pass skips."""
        with self._db.read() as conn:
            rows = conn.execute(
                "SELECT run_id, judge, backend, prompt_version, repetition FROM judgements "
                "WHERE experiment_id=?", (experiment_id,)).fetchall()
        return {(r, j, b, v, int(k)) for r, j, b, v, k in rows}

    def judgements_of(self, experiment_id: str) -> list[Judgement]:
        """The experiment's judgements, spans included, in a stable order (run, judge,
        backend, prompt version, repetition): what an export writes."""
        with self._db.read() as conn:
            rows = conn.execute(
                f"SELECT {','.join('j.' + c for c in JUDGEMENT_COLUMNS)} FROM judgements j "
                "JOIN runs r USING (run_id) WHERE j.experiment_id=? ORDER BY r.started_at, "
                "j.run_id, j.judge, j.backend, j.prompt_version, j.repetition",
                (experiment_id,)).fetchall()
        return [schema.judgement_from_row(r) for r in rows]

    def load_judgements(self, experiment_ids: list[str]) -> pd.DataFrame:
        """Judgements as a DataFrame, one row per judgement and a column per Judgement field
        (spans left out: `judgements_of` has them), plus the judged run's form, input_id and
        repetition (`run_repetition`) and its experiment's variant, so scores group as
        Compare's runs do."""
        import pandas as pd

        columns = [c for c in JUDGEMENT_COLUMNS if c != "spans_json"]
        marks = ",".join("?" * len(experiment_ids))
        query = (f"SELECT {','.join('j.' + c for c in columns)}, r.form AS form, "
                 "r.input_id AS input_id, r.repetition AS run_repetition, "
                 f"COALESCE({self._db.json_text('e.spec_json', 'variant')}, 'original') "
                 "AS variant FROM judgements j JOIN runs r USING (run_id) "
                 "JOIN experiments e ON e.experiment_id = r.experiment_id "
                 f"WHERE j.experiment_id IN ({marks}) ORDER BY r.started_at, j.judge, "
                 "j.repetition")
        with self._db.read() as conn:
            cursor = conn.execute(query, list(experiment_ids)) if experiment_ids else None
            names = [*columns, "form", "input_id", "run_repetition", "variant"]
            records = cursor.fetchall() if cursor is not None else []
        frame = pd.DataFrame.from_records(records, columns=names, coerce_float=True)
        frame["created_at"] = pd.to_datetime(frame["created_at"], utc=True, format="ISO8601")
        for column in ("score", "cost_usd"):
            frame[column] = frame[column].astype(float)
        for column in ("label", "explanation", "error_class", "error_message"):
            frame[column] = frame[column].astype(object).where(frame[column].notna(), None)
        return frame

    # -- pairwise judgements -----------------------------------------------------------------

    def save_pairwise(self, judged: PairwiseJudgement) -> bool:
        """Commit one pairwise judgement; False (and nothing written) when the store already
        holds one of the same two runs, judge, backend, prompt version and k: the one stored is
        kept, as a rubric judgement is. Neither run's rows are touched."""
        row = _pairwise_row(judged)
        try:
            with self._db.tx() as conn:
                return bool(conn.execute(INSERT_PAIRWISE_ONCE, row).rowcount == 1)
        except self._db.integrity_errors:  # a run is gone (deleted while it was judged)
            raise StoreError(f"The store {self.shown} no longer holds runs {judged.run_a} and "
                             f"{judged.run_b} to compare.") from None

    def pairwise_keys(self, experiment_id: str) -> set[tuple[str, str, str, str, str, int]]:
        """(run_a, run_b, judge, backend, prompt_version, k) of every stored pairwise
        judgement of the experiment, failed ones included: what a judging pass skips."""
        with self._db.read() as conn:
            rows = conn.execute(
                "SELECT run_a, run_b, judge, backend, prompt_version, k FROM "
                "pairwise_judgements WHERE experiment_id=?", (experiment_id,)).fetchall()
        return {(a, b, j, be, v, int(k)) for a, b, j, be, v, k in rows}

    def pairwise_of(self, experiment_id: str) -> list[PairwiseJudgement]:
        """The experiment's pairwise judgements, spans included, in a stable order (input,
        repetition, forms, judge, backend, prompt version, k): what an export writes."""
        with self._db.read() as conn:
            rows = conn.execute(
                f"SELECT {','.join(PAIRWISE_COLUMNS)} FROM pairwise_judgements "
                "WHERE experiment_id=? ORDER BY input_id, repetition, form_a, form_b, judge, "
                "backend, prompt_version, k, pairwise_id", (experiment_id,)).fetchall()
        return [schema.pairwise_from_row(r) for r in rows]

    def load_pairwise(self, experiment_ids: list[str]) -> pd.DataFrame:
        """Pairwise judgements as a DataFrame, one row per judgement and a column per
        PairwiseJudgement field but the spans (`pairwise_of` has them): what
        `orchlab.stats.pairwise` reads."""
        import pandas as pd

        columns = [c for c in PAIRWISE_COLUMNS if c != "spans_json"]
        marks = ",".join("?" * len(experiment_ids))
        with self._db.read() as conn:
            records = conn.execute(
                f"SELECT {','.join(columns)} FROM pairwise_judgements "
                f"WHERE experiment_id IN ({marks}) ORDER BY created_at, pairwise_id",
                list(experiment_ids)).fetchall() if experiment_ids else []
        frame = pd.DataFrame.from_records(records, columns=columns, coerce_float=True)
        frame["created_at"] = pd.to_datetime(frame["created_at"], utc=True, format="ISO8601")
        frame["cost_usd"] = frame["cost_usd"].astype(float)
        for column in ("winner", "explanation", "error_class", "error_message"):
            frame[column] = frame[column].astype(object).where(frame[column].notna(), None)
        return frame

    # -- people's labels ---------------------------------------------------------------------

    def locate_run(self, run_id: str) -> tuple[str, str, str] | None:
        """(run_id, experiment_id, scenario) of the one run whose id is `run_id` or starts
        with it (the CLI prints the first 20 characters of a run id); None when no run, or
        more than one, matches."""
        if not run_id:
            return None
        prefix = run_id.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        with self._db.read() as conn:  # the exact id first, then at most one other
            rows = conn.execute(
                "SELECT run_id, experiment_id, scenario FROM runs WHERE run_id LIKE ? "
                "ESCAPE '\\' ORDER BY CASE WHEN run_id = ? THEN 0 ELSE 1 END LIMIT 2",
                (prefix + "%", run_id)).fetchall()
        exact = [r for r in rows if r[0] == run_id]
        found = exact or rows
        return (str(found[0][0]), str(found[0][1]), str(found[0][2])) if len(found) == 1 \
            else None

    def save_label(self, label: Label, replace: bool = False) -> Label:
        """Store a person's label of a run and return it as stored (`who` trimmed, the note
        redacted). A person labels a run once per judge: a second label by the same person
        is refused (LabelExists, naming the first) unless `replace`, which swaps it in the
        same transaction. An empty name, or one over WHO_MAX_CHARS, and a run the store does
        not hold are one sentence (LabelError) each; nothing is written then. Which judges a
        run's scenario has and their scales are the caller's to check
        (`orchlab.judging.labels.label_run`): the store knows no scenario."""
        stored = dataclass_replace(label, who=checked_who(label.who),
                                   note=config.redact(label.note) if label.note else None)
        try:
            with self._db.tx() as conn:
                if conn.execute("SELECT 1 FROM runs WHERE run_id=?",
                                (stored.run_id,)).fetchone() is None:
                    raise LabelError(f"The store {self.shown} holds no run {stored.run_id}.")
                held = conn.execute(
                    "SELECT score, created_at FROM labels WHERE run_id=? AND judge=? AND who=?",
                    (stored.run_id, stored.judge, stored.who)).fetchone()
                if held is not None and not replace:
                    raise LabelExists(
                        f"{stored.who} labelled run {stored.run_id} for {stored.judge} "
                        f"already ({float(held[0]):g}, {str(held[1])[:16].replace('T', ' ')} "
                        "UTC).")
                if held is not None:
                    conn.execute("DELETE FROM labels WHERE run_id=? AND judge=? AND who=?",
                                 (stored.run_id, stored.judge, stored.who))
                conn.execute(INSERT_LABEL, _label_row(stored))
        except self._db.integrity_errors:  # the run went (deleted) between the look and the write
            raise LabelError(f"The store {self.shown} holds no run {stored.run_id}.") from None
        return stored

    def labels_of(self, experiment_id: str) -> list[Label]:
        """The experiment's labels in a stable order (run, judge, who): what an export
        writes."""
        with self._db.read() as conn:
            rows = conn.execute(
                f"SELECT {','.join('l.' + c for c in LABEL_COLUMNS)} FROM labels l "
                "JOIN runs r USING (run_id) WHERE l.experiment_id=? "
                "ORDER BY r.started_at, l.run_id, l.judge, l.who", (experiment_id,)).fetchall()
        return [schema.label_from_row(r) for r in rows]

    def load_labels(self, experiment_ids: list[str]) -> pd.DataFrame:
        """Labels as a DataFrame, one row per label and a column per Label field, plus the
        labelled run's form, input_id and repetition (`run_repetition`) and its experiment's
        variant, as `load_judgements` has them."""
        import pandas as pd

        marks = ",".join("?" * len(experiment_ids))
        query = (f"SELECT {','.join('l.' + c for c in LABEL_COLUMNS)}, r.form AS form, "
                 "r.input_id AS input_id, r.repetition AS run_repetition, "
                 f"COALESCE({self._db.json_text('e.spec_json', 'variant')}, 'original') "
                 "AS variant FROM labels l JOIN runs r USING (run_id) "
                 "JOIN experiments e ON e.experiment_id = r.experiment_id "
                 f"WHERE l.experiment_id IN ({marks}) ORDER BY r.started_at, l.judge, l.who")
        with self._db.read() as conn:
            records = conn.execute(query, list(experiment_ids)).fetchall() \
                if experiment_ids else []
        names = [*LABEL_COLUMNS, "form", "input_id", "run_repetition", "variant"]
        frame = pd.DataFrame.from_records(records, columns=names, coerce_float=True)
        frame["created_at"] = pd.to_datetime(frame["created_at"], utc=True, format="ISO8601")
        frame["score"] = frame["score"].astype(float)
        frame["note"] = frame["note"].astype(object).where(frame["note"].notna(), None)
        return frame

    # -- prompt variants ---------------------------------------------------------------------

    def save_variant(
        self, scenario: str, name: str, texts: dict[str, str], on_existing: str = "refuse"
    ) -> dict[str, str]:
        """Store a named variant (edited definition text per agent); returns what it now holds.

        A same-named variant is never dropped by default: `on_existing` is "refuse" (raise
        StoreError), "merge" (agents in `texts` get the new text, the others are kept) or
        "replace" (only `texts` remain). The check and the write share one transaction.
        """
        if on_existing not in ("refuse", "merge", "replace"):
            raise ValueError(f"on_existing must be refuse, merge or replace, not {on_existing!r}")
        now = utcnow().isoformat()
        with self._db.tx() as conn:
            exists = conn.execute("SELECT 1 FROM variants WHERE scenario=? AND name=? LIMIT 1",
                                  (scenario, name)).fetchone()
            if exists and on_existing == "refuse":
                raise StoreError(f"A variant named {name!r} already exists for {scenario}: "
                                 "merge into it or replace it.")
            if on_existing == "replace":
                conn.execute("DELETE FROM variants WHERE scenario=? AND name=?", (scenario, name))
            conn.executemany("INSERT INTO variants VALUES (?,?,?,?,?) "
                             "ON CONFLICT (scenario, name, agent) DO UPDATE SET "
                             "text=excluded.text, created_at=excluded.created_at",
                             [(scenario, name, agent, text, now) for agent, text in texts.items()])
            rows = conn.execute("SELECT agent, text FROM variants WHERE scenario=? AND name=?",
                                (scenario, name)).fetchall()
        return dict(rows)

    def variant_rows(self) -> list[tuple[str, str, str, str, str]]:
        """Every variant's rows (scenario, name, agent, text, created_at): what a copy moves."""
        with self._db.read() as conn:
            rows = conn.execute("SELECT scenario, name, agent, text, created_at FROM variants "
                                "ORDER BY scenario, name, agent").fetchall()
        return [tuple(r) for r in rows]

    def add_variants(self, rows: list[tuple[str, str, str, str, str]]) -> int:
        """Add the variants (`variant_rows` form) whose name this store does not hold for
        their scenario; one of that name is never changed. Returns how many were added."""
        with self._db.tx() as conn:
            held = {tuple(r) for r in conn.execute(
                "SELECT DISTINCT scenario, name FROM variants").fetchall()}
            new = [r for r in rows if (r[0], r[1]) not in held]
            conn.executemany("INSERT INTO variants VALUES (?,?,?,?,?)", new)
        return len({(r[0], r[1]) for r in new})

    def list_variants(self, scenario: str) -> list[str]:
        """Variant names of a scenario, newest first."""
        with self._db.read() as conn:
            rows = conn.execute(
                "SELECT name FROM variants WHERE scenario=? GROUP BY name "
                "ORDER BY MAX(created_at) DESC", (scenario,)).fetchall()
        return [r[0] for r in rows]

    def load_variant(self, scenario: str, name: str) -> dict[str, str]:
        """Agent name -> edited text of a variant (empty if unknown)."""
        with self._db.read() as conn:
            rows = conn.execute(
                "SELECT agent, text FROM variants WHERE scenario=? AND name=?",
                (scenario, name)).fetchall()
        return dict(rows)


def _on_backend(backend: str, exp: ExperimentRecord) -> str:
    """' on backend X' when the experiment ran several backends, else nothing."""
    return f" on backend {backend}" if len(exp.spec.get("backends") or []) > 1 else ""


def _run_filter(experiment_ids: list[str] | None, scenario: str | None) -> tuple[str, list[str]]:
    clauses, params = [], []
    if experiment_ids:
        clauses.append(f"runs.experiment_id IN ({','.join('?' * len(experiment_ids))})")
        params.extend(experiment_ids)
    if scenario:
        clauses.append("runs.scenario = ?")
        params.append(scenario)
    return ("WHERE " + " AND ".join(clauses) if clauses else ""), params


RunRows = tuple[list[Any], list[tuple[Any, ...]], list[tuple[Any, ...]], list[tuple[Any, ...]]]


def _run_rows(run: RunRecord) -> RunRows:
    """A run's rows (run, spans, outbox, calls), built outside the lock, every text in them
    redacted: the one boundary every stored text passes (a model that repeats a secret it
    read writes it into its answer, an email, a tool's arguments or an error message)."""
    outbox = [(run.run_id, m.created_at.isoformat(), m.to, m.subject, m.body)
              for m in run.outbox]
    secrets = config.secret_values()
    if not secrets:
        return schema.run_row(run), schema.span_rows(run), outbox, schema.call_rows(run)
    return (list(_redacted(schema.run_row(run), secrets)),
            [_redacted(row, secrets) for row in schema.span_rows(run)],
            [_redacted(row, secrets) for row in outbox],
            [_redacted(row, secrets) for row in schema.call_rows(run)])


def _judgement_row(judgement: Judgement) -> tuple[Any, ...]:
    """A judgement's row, every text in it redacted (the explanation, its spans' JSON), as
    a run's are."""
    row = schema.judgement_row(judgement)
    secrets = config.secret_values()
    return _redacted(row, secrets) if secrets else row


def _pairwise_row(judged: PairwiseJudgement) -> tuple[Any, ...]:
    """A pairwise judgement's row, every text in it redacted, as a judgement's are."""
    row = schema.pairwise_row(judged)
    secrets = config.secret_values()
    return _redacted(row, secrets) if secrets else row


WHO_MAX_CHARS = 80
"""Longest name a label's `who` may have: a person's name or handle, not a note."""


def checked_who(who: str) -> str:
    """A label's `who`, trimmed; LabelError when nothing is left or it is over WHO_MAX_CHARS
    characters: an anonymous label cannot be weighed or asked about."""
    trimmed = who.strip()
    if not trimmed:
        raise LabelError("A label needs the name of the person who gave it.")
    if len(trimmed) > WHO_MAX_CHARS:
        raise LabelError(f"A labeller's name is at most {WHO_MAX_CHARS} characters; this one "
                         f"has {len(trimmed)}.")
    return trimmed


def _label_row(label: Label) -> tuple[Any, ...]:
    """A label's row, its note redacted as a run's text is."""
    row = schema.label_row(label)
    secrets = config.secret_values()
    return _redacted(row, secrets) if secrets else row


def _redacted(row: Sequence[Any], secrets: list[str]) -> tuple[Any, ...]:
    """A row with every text redacted (JSON columns are text here, so their contents are
    too)."""
    return tuple(config.redact_with(v, secrets) if isinstance(v, str) else v for v in row)


def _insert_run(conn: Connection, rows: RunRows, insert: str = INSERT_RUN) -> bool:
    """Insert a run's rows; False, and nothing inserted, when `insert` skipped the run."""
    values, spans, outbox, calls = rows
    if conn.execute(insert, values).rowcount == 0:
        return False
    conn.executemany(INSERT_SPAN, spans)
    if outbox:
        conn.executemany(INSERT_OUTBOX, outbox)
    if calls:
        conn.executemany(INSERT_CALL, calls)
    return True


def _apply(ddl: Any, conn: Connection, name: str, sql: str, step: Any) -> None:
    for statement in schema_statements(sql):
        conn.execute(ddl(statement))
    if step is not None:
        step(conn)
    conn.execute("INSERT INTO schema_migrations VALUES (?, ?)", (name, utcnow().isoformat()))


def _experiment_row(exp: ExperimentRecord) -> tuple[Any, ...]:
    return (exp.experiment_id, exp.scenario, exp.backend, exp.created_at.isoformat(),
            exp.finished_at.isoformat() if exp.finished_at else None, exp.status,
            exp.planned_runs, json.dumps(exp.spec), exp.pid, int(exp.records_calls),
            exp.replay_of, exp.host, exp.heartbeat_at.isoformat() if exp.heartbeat_at else None,
            exp.participant)


def _experiment(row: tuple[Any, ...]) -> ExperimentRecord:
    (exp_id, scenario, backend, created, finished, status, planned, spec, pid, records_calls,
     replay_of, host, heartbeat, participant) = row
    return ExperimentRecord(
        experiment_id=exp_id, scenario=scenario, backend=backend,
        created_at=datetime.fromisoformat(created), spec=json.loads(spec),
        planned_runs=planned, status=status,
        finished_at=datetime.fromisoformat(finished) if finished else None, pid=pid,
        records_calls=bool(records_calls), replay_of=replay_of, host=host,
        heartbeat_at=datetime.fromisoformat(heartbeat) if heartbeat else None,
        participant=participant,
    )


HOST = socket.gethostname()
"""This machine, as experiments record it."""


def recorded_here(exp: ExperimentRecord) -> bool:
    """Whether this machine ran the experiment: one imported from a file (which keeps no
    host) or run elsewhere names a backend this machine's user did not choose, so a resume
    asks first."""
    return exp.host == HOST


HEARTBEAT_S = 10.0
"""How often a running experiment says it is alive."""
STALE_AFTER_S = 6 * HEARTBEAT_S
"""A running experiment of another host that has not beaten for this long is interrupted."""


def _gone(pid: int | None, host: str | None, beat: str | None, now: datetime) -> bool:
    """Whether the process that ran an experiment is gone, as this reader can tell."""
    if host in (None, HOST):  # ours (or recorded before hosts were): the pid tells
        return pid != os.getpid() and not _alive(pid)
    if beat is None:
        return True
    return (now - datetime.fromisoformat(beat)).total_seconds() > STALE_AFTER_S


def _alive(pid: int | None) -> bool:
    if pid is None:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
