"""The live race: each form's current run as a lane, and who finished first (no Streamlit).

While a job runs, the Run page draws one lane per form: the form's newest run in flight (its
spans so far, read from the recorder without ending the watch), else its newest finished run,
kept until the form's next run starts. Everything here is computed from a `JobSnapshot` and a
span source, so tests feed hand-made spans and the page only lays the result out.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Generic, TypeVar

from orchlab.core.records import RunRecord, SpanRecord, utcnow
from orchlab.running.jobs import JobSnapshot, LiveRun
from orchlab.stats.findings import label, title

LANE_KINDS = ("agent", "function", "handoff", "generation")
"""Spans a lane draws, as the waterfall: what ran, who handed over, the model's time."""
RUNNING_KINDS = {"agent": "agent", "function": "tool"}
"""Open spans that name what is running, and the word the caption uses for each."""
WORKERS_NOTE = ("Runs in worker processes are recorded there: the race shows each form's "
                "runs as they finish, not while they run.")
"""Said instead of drawing nothing when the job's runs are not in this process's recorder."""

Peek = Callable[[str, datetime, datetime], tuple[list[SpanRecord], set[str]]]
"""`Recorder.peek`: (trace id, run start, now) -> (spans so far, ids of the open ones)."""
Drawn = TypeVar("Drawn")


@dataclass
class Lane:
    """One form's current run, as the race view draws it."""

    form: str
    """Form id."""
    run_id: str
    """The run shown (its trace id)."""
    input_id: str
    """Scenario input of the run."""
    repetition: int
    """Repetition index of the run."""
    spans: list[SpanRecord]
    """Its agent, function, handoff and generation spans, ms from the run's start."""
    open_ids: set[str] = field(default_factory=set)
    """Ids of the spans still open: drawn growing, ending at the clock."""
    running: str | None = None
    """The innermost open agent or tool, e.g. "writer_a (agent)"; None when nothing is open."""
    clock_ms: float = 0.0
    """Elapsed time of the run: to now while in flight, its wall time once finished."""
    finished: bool = False
    """Whether the run has ended (a finished record)."""
    status: str | None = None
    """The finished run's status (ok, error, timeout, cancelled); None while in flight."""

    @property
    def key(self) -> tuple[str, int]:
        """What makes two forms' runs comparable: the same input and repetition."""
        return self.input_id, self.repetition


@dataclass
class Race:
    """The lanes to draw, what to say about them, and whether to keep refreshing."""

    lanes: list[Lane]
    """One lane per form that has run or is running, in the job's form order."""
    sentence: str | None
    """Who finished first and by how much; None when no two comparable runs say so."""
    moving: bool
    """Whether anything may still change (runs in flight or the job not finished)."""
    note: str | None = None
    """Why lanes may lag (runs in worker processes), else None."""


def build_race(snap: JobSnapshot, peek: Peek, forms: list[str], workers: int = 1,
               now: datetime | None = None, previous: Race | None = None) -> Race:
    """The race at `now` (default: the current time) for the job's `forms`.

    `peek` is the recorder's `peek` (or a test's stand-in); `workers` > 1 adds the note that
    runs in worker processes are not followed live. `previous` is the last race drawn: a run
    that has just ended is collected from the recorder before its record is published, and
    for that moment its lane keeps the spans last seen instead of going blank."""
    now = now or utcnow()
    seen = {lane.run_id: lane for lane in previous.lanes} if previous else {}
    lanes = [lane for form in forms
             if (lane := _lane(form, snap, peek, now, seen)) is not None]
    return Race(lanes=lanes, sentence=race_sentence(lanes, snap.records),
                moving=bool(snap.in_flight) or not snap.finished,
                note=WORKERS_NOTE if workers > 1 else None)


def _lane(form: str, snap: JobSnapshot, peek: Peek, now: datetime,
          seen: dict[str, Lane]) -> Lane | None:
    """The form's newest run in flight, else its newest finished run, else no lane."""
    live = [r for r in snap.in_flight if r.form == form]
    if live:
        lane = live_lane(live[-1], peek, now)
        before = seen.get(lane.run_id)
        if not lane.spans and before is not None and before.spans:  # collected, not yet out
            lane.spans = before.spans
        return lane
    done = [r for r in snap.records if r.form == form]
    return finished_lane(done[-1]) if done else None


def live_lane(run: LiveRun, peek: Peek, now: datetime) -> Lane:
    """A run in flight: its spans so far, open ones ending now, and what runs innermost."""
    spans, open_ids = peek(run.run_id, run.started_at, now)
    shown = [s for s in spans if s.kind in LANE_KINDS]
    return Lane(form=run.form, run_id=run.run_id, input_id=run.input_id,
                repetition=run.repetition, spans=shown,
                open_ids={s.span_id for s in shown if s.span_id in open_ids},
                running=running_now(spans, open_ids),
                clock_ms=max((now - run.started_at).total_seconds() * 1000, 0.0))


def finished_lane(record: RunRecord) -> Lane:
    """A finished run: every span closed, the clock stopped at its wall time."""
    return Lane(form=record.form, run_id=record.run_id, input_id=record.input_id,
                repetition=record.repetition,
                spans=[s for s in record.spans if s.kind in LANE_KINDS],
                clock_ms=record.metrics.wall_ms, finished=True, status=record.status)


def running_now(spans: list[SpanRecord], open_ids: set[str]) -> str | None:
    """The innermost open agent or tool span, named "writer_a (agent)" / "send_email (tool)".

    Innermost is the deepest in the span tree (a sub-agent inside the tool that called it),
    the latest started on a tie: parallel siblings take turns being named."""
    by_id = {s.span_id: s for s in spans}
    candidates = [s for s in spans if s.span_id in open_ids and s.kind in RUNNING_KINDS]
    if not candidates:
        return None
    best = max(candidates, key=lambda s: (_depth(s, by_id), s.start_ms, s.seq))
    return f"{best.name} ({RUNNING_KINDS[best.kind]})"


def _depth(span: SpanRecord, by_id: dict[str, SpanRecord]) -> int:
    depth, parent = 0, span.parent_id
    while parent in by_id and depth <= len(by_id):  # bounded: a malformed cycle ends
        depth, parent = depth + 1, by_id[parent].parent_id
    return depth


@dataclass(frozen=True)
class _Entry:
    """One form's run of the compared input and repetition."""

    form: str
    """Form id."""
    clock_ms: float
    """Its wall time once finished, else its elapsed time so far."""
    finished: bool
    """Whether it has ended."""
    status: str | None = None
    """How it ended (ok, error, timeout, cancelled); None while running."""

    @property
    def ended(self) -> str:
        """How it ended unless ok, as " (error)": finishing first by failing fast is not a
        win, and the sentence must not read as one."""
        return f" ({self.status})" if self.status not in (None, "ok") else ""


def race_sentence(lanes: list[Lane], records: list[RunRecord]) -> str | None:
    """"Code-orchestrated finished first, 3.2 s ahead of LLM-orchestrated.", or None.

    Only runs of the same input and repetition are compared: a lane's run, or another form's
    finished run of that key. The newest key that has a finished run and a second form wins;
    a form still running is "at least" that far behind, never a guessed finishing time."""
    for key in _keys_newest_first(lanes):
        entries = _entries(key, lanes, records)
        done = [e for e in entries if e.finished]
        if len(entries) < 2 or not done:
            continue
        first = min(done, key=lambda e: e.clock_ms)
        behind = [e for e in entries if e is not first and e.clock_ms >= first.clock_ms]
        if behind:
            return f"{title(first.form)}{first.ended} finished first, {_gaps(first, behind)}."
    return None


def _keys_newest_first(lanes: list[Lane]) -> list[tuple[str, int]]:
    """Lane keys, the most recently started run's first (a shorter clock started later)."""
    keys: list[tuple[str, int]] = []
    for lane in sorted(lanes, key=lambda lane: (lane.finished, lane.clock_ms)):
        if lane.key not in keys:
            keys.append(lane.key)
    return keys


def _entries(key: tuple[str, int], lanes: list[Lane], records: list[RunRecord]) -> list[_Entry]:
    """Per form, its run of this key: the lane's own if it shows that key, else a record."""
    entries = {lane.form: _Entry(lane.form, lane.clock_ms, lane.finished, lane.status)
               for lane in lanes if lane.key == key}
    for record in records:
        if (record.input_id, record.repetition) == key and record.form not in entries:
            entries[record.form] = _Entry(record.form, record.metrics.wall_ms, True,
                                          record.status)
    return list(entries.values())


def _gaps(first: _Entry, behind: list[_Entry]) -> str:
    parts = []
    for entry in sorted(behind, key=lambda e: e.clock_ms):
        gap = (entry.clock_ms - first.clock_ms) / 1000
        if entry.finished:
            parts.append(f"{gap:.1f} s ahead of {label(entry.form)}{entry.ended}")
        else:
            parts.append(f"at least {gap:.1f} s ahead of {label(entry.form)} (still running)")
    return " and ".join(parts)


def lane_caption(lane: Lane) -> str:
    """One line per lane: the form, the run, the clock, and what runs now or how it ended."""
    where = (f"{title(lane.form)} · {lane.input_id} #{lane.repetition} · "
             f"{lane.clock_ms / 1000:.1f} s")
    if lane.finished:
        return f"{where} · finished ({lane.status})"
    if lane.running:
        return f"{where} · running {lane.running}"
    return f"{where} · between steps" if lane.spans else f"{where} · starting"


class RaceMemo(Generic[Drawn]):
    """Each job's latest race (and whatever a page drew of it, e.g. its figure), computed
    once per version of what it is drawn from (`ExperimentJob.version`) for every page that
    shows it, and again only when that version moves.

    Also the `previous` race `build_race` keeps a just-collected run's spans from. Holds the
    `keep` most recently drawn jobs; thread-safe (page scripts run on threads of their own)."""

    def __init__(self, keep: int = 256) -> None:
        self._keep = keep
        self._lock = threading.Lock()
        self._latest: OrderedDict[str, tuple[Hashable, Race, Drawn]] = OrderedDict()
        self.computed = 0
        """How many times a race was computed (tests, benchmarks)."""

    def get(self, job_id: str, version: Hashable | None,
            compute: Callable[[Race | None], tuple[Race, Drawn]]) -> tuple[Race, Drawn]:
        """The job's race at `version`: the one drawn already, or `compute(previous race)`.
        A version of None is never the same as the last (always computed)."""
        with self._lock:
            latest = self._latest.get(job_id)
        if latest is not None and version is not None and latest[0] == version:
            return latest[1], latest[2]
        race, drawn = compute(latest[1] if latest else None)
        with self._lock:
            self.computed += 1
            self._latest[job_id] = (version, race, drawn)
            self._latest.move_to_end(job_id)
            while len(self._latest) > self._keep:
                self._latest.popitem(last=False)
        return race, drawn
