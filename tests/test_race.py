"""The live race (orchlab.present.race): lanes from hand-made spans and runs in flight, the running
span named, who finished first and by how much, nothing claimed without a comparison; the figure;
and the quick-start preset's spec."""

from __future__ import annotations

from datetime import datetime, timedelta
from xml.etree import ElementTree

import pytest

from orchlab.core.records import RunMetrics, RunRecord, SpanRecord
from orchlab.present.figures import WATERFALL_KINDS
from orchlab.present.race import Peek, build_race, lane_caption, race_sentence, running_now
from orchlab.present.race_figures import (
    LABEL_WIDTH,
    PICTURE_WIDTH,
    race_figure,
    race_picture,
)
from orchlab.running import presets
from orchlab.running.jobs import JobSnapshot, LiveRun

T0 = datetime(2026, 1, 1, 12, 0, 0).astimezone()


def span(span_id: str, kind: str, name: str, start: float, end: float,
         parent: str | None = None) -> SpanRecord:
    return SpanRecord(span_id=span_id, parent_id=parent, kind=kind, name=name, agent=None,
                      start_ms=start, end_ms=end)


def live(run_id: str, form: str, started: datetime = T0, input_id: str = "dana",
         repetition: int = 0) -> LiveRun:
    return LiveRun(run_id, form, input_id, repetition, started, 0.0)


def record(run_id: str, form: str, wall_ms: float, input_id: str = "dana",
           repetition: int = 0, spans: list[SpanRecord] | None = None) -> RunRecord:
    return RunRecord(run_id=run_id, experiment_id="exp-1", scenario="sales_email", form=form,
                     input_id=input_id, repetition=repetition, backend="scripted:sales",
                     model="m", started_at=T0, metrics=RunMetrics(wall_ms=wall_ms),
                     spans=spans or [span("a", "agent", "writer", 0, wall_ms)])


def snapshot(in_flight: list[LiveRun], records: list[RunRecord],
             finished: bool = False) -> JobSnapshot:
    return JobSnapshot(total=4, done_by_form={}, planned_by_form={}, records=records,
                       finished=finished, result=None, error=None, in_flight=in_flight)


class GrowingTrace:
    """A recorder stand-in: a manager agent whose tool call (a sub-agent) is still open; open
    spans end at `now`, as `Recorder.peek` makes them."""

    def __call__(self, trace_id: str, run_start: datetime, now: datetime
                 ) -> tuple[list[SpanRecord], set[str]]:
        now_ms = (now - run_start).total_seconds() * 1000
        spans = [span("m", "agent", "manager", 0, now_ms),
                 span("g1", "generation", "model", 10, 400, parent="m"),
                 span("t", "function", "writer_a", 400, now_ms, parent="m"),
                 span("w", "agent", "writer_a", 405, now_ms, parent="t"),
                 span("g2", "generation", "model", 410, now_ms, parent="w")]
        return spans, {"m", "t", "w", "g2"}


def test_an_open_span_grows_with_the_clock_and_the_innermost_agent_is_named() -> None:
    peek: Peek = GrowingTrace()
    snap = snapshot([live("run-llm", "llm")], [])
    early = build_race(snap, peek, ["code", "llm"], now=T0 + timedelta(seconds=1))
    later = build_race(snap, peek, ["code", "llm"], now=T0 + timedelta(seconds=3))
    (lane_early,), (lane_later,) = early.lanes, later.lanes
    assert lane_early.clock_ms == 1000 and lane_later.clock_ms == 3000
    ends = {s.span_id: s.end_ms for s in lane_later.spans}
    assert ends["w"] == 3000 and {s.span_id: s.end_ms for s in lane_early.spans}["w"] == 1000
    assert lane_later.open_ids == {"m", "t", "w", "g2"} and not lane_later.finished
    assert lane_later.running == "writer_a (agent)"
    assert lane_caption(lane_later) == ("LLM-orchestrated · dana #0 · 3.0 s · running "
                                        "writer_a (agent)")
    assert later.moving and later.sentence is None  # code has no run yet: nothing to compare


def test_a_tool_running_inside_an_agent_is_named_as_a_tool() -> None:
    spans = [span("a", "agent", "triage", 0, 900), span("f", "function", "send_email", 500, 900,
                                                         parent="a")]
    assert running_now(spans, {"a", "f"}) == "send_email (tool)"
    assert running_now(spans, {"a"}) == "triage (agent)"
    assert running_now(spans, set()) is None


def test_the_form_that_finished_first_is_named_with_its_margin() -> None:
    snap = snapshot([], [record("r1", "code", 1800), record("r2", "llm", 5000)], finished=True)
    race = build_race(snap, GrowingTrace(), ["code", "llm"])
    assert [lane.form for lane in race.lanes] == ["code", "llm"]
    assert all(lane.finished and not lane.open_ids for lane in race.lanes)
    assert race.sentence == "Code-orchestrated finished first, 3.2 s ahead of LLM-orchestrated."
    assert not race.moving
    assert lane_caption(race.lanes[0]) == "Code-orchestrated · dana #0 · 1.8 s · finished (ok)"


def test_a_run_that_failed_fast_is_not_called_a_win() -> None:
    failed = record("r2", "llm", 900)
    failed.status = "error"
    snap = snapshot([], [record("r1", "code", 2000), failed], finished=True)
    race = build_race(snap, GrowingTrace(), ["code", "llm"])
    assert race.sentence == ("LLM-orchestrated (error) finished first, 1.1 s ahead of "
                             "code-orchestrated.")


def test_a_form_still_running_is_at_least_that_far_behind() -> None:
    snap = snapshot([live("run-llm", "llm")], [record("r1", "code", 1500)])
    race = build_race(snap, GrowingTrace(), ["code", "llm"], now=T0 + timedelta(seconds=4))
    assert race.sentence == ("Code-orchestrated finished first, at least 2.5 s ahead of "
                             "LLM-orchestrated (still running).")


def test_nothing_is_claimed_without_a_comparable_run() -> None:
    # Different inputs: no comparison, even though code finished and llm runs longer.
    snap = snapshot([live("run-llm", "llm", input_id="other")], [record("r1", "code", 1500)])
    race = build_race(snap, GrowingTrace(), ["code", "llm"], now=T0 + timedelta(seconds=4))
    assert len(race.lanes) == 2 and race.sentence is None
    # The same key, but the run still going has not yet passed the finished one's time.
    snap = snapshot([live("run-llm", "llm")], [record("r1", "code", 1500)])
    race = build_race(snap, GrowingTrace(), ["code", "llm"], now=T0 + timedelta(seconds=1))
    assert race.sentence is None
    assert race_sentence([], []) is None


def test_a_form_whose_next_run_started_is_compared_on_the_finished_run() -> None:
    """Code moved on to repetition 1: its lane shows that run, and the comparison is the
    repetition both forms ran (code's finished record), not the two lanes' different runs."""
    snap = snapshot([live("llm-0", "llm"), live("code-1", "code", repetition=1,
                                                started=T0 + timedelta(seconds=2))],
                    [record("code-0", "code", 2000)])
    race = build_race(snap, GrowingTrace(), ["code", "llm"], now=T0 + timedelta(seconds=3))
    assert [(lane.form, lane.repetition) for lane in race.lanes] == [("code", 1), ("llm", 0)]
    assert race.sentence == ("Code-orchestrated finished first, at least 1.0 s ahead of "
                             "LLM-orchestrated (still running).")


def test_the_latest_finished_run_is_kept_until_the_forms_next_run_starts() -> None:
    first, second = record("code-0", "code", 900), record("code-1", "code", 700, repetition=1)
    race = build_race(snapshot([], [first, second]), GrowingTrace(), ["code"])
    assert race.lanes[0].run_id == "code-1" and race.moving  # the job is not finished yet


def test_runs_in_worker_processes_are_said_to_show_as_they_finish() -> None:
    race = build_race(snapshot([], []), GrowingTrace(), ["code"], workers=2)
    assert race.lanes == [] and race.note and "worker processes" in race.note


def test_the_figure_has_a_panel_per_lane_with_open_spans_hatched() -> None:
    snap = snapshot([live("run-llm", "llm")], [record("r1", "code", 1500)])
    race = build_race(snap, GrowingTrace(), ["code", "llm"], now=T0 + timedelta(seconds=2))
    fig = race_figure(race.lanes)
    titles = [a.text for a in fig.layout.annotations]
    assert any(t.startswith("Code-orchestrated") for t in titles)
    assert any("running writer_a (agent)" in t for t in titles)
    agents = [t for t in fig.data if t.name == "agent" and t.yaxis == "y2"]
    assert list(agents[0].marker.pattern.shape) == ["x", "x"]  # manager and writer_a, open
    assert list(next(t for t in fig.data if t.name == "agent").marker.pattern.shape) == [""]
    assert len(fig.layout.shapes) == 2  # one clock line per lane
    assert max(fig.layout.shapes[1].x0, fig.layout.shapes[0].x0) == 2.0  # seconds


def test_the_picture_draws_the_figures_lanes_bars_and_clocks_as_an_svg_image() -> None:
    """The live race's light drawing holds what the figure holds: a caption per lane, a bar
    per span (the open ones striped), one clock line per lane at its time, dotted while the
    lane runs, and a seconds axis; it is well-formed SVG."""
    snap = snapshot([live("run-llm", "llm")], [record("r1", "code", 1500)])
    race = build_race(snap, GrowingTrace(), ["code", "llm"], now=T0 + timedelta(seconds=2))
    svg = ElementTree.fromstring(race_picture(race.lanes))
    ns = {"s": "http://www.w3.org/2000/svg"}
    texts = ["".join(t.itertext()) for t in svg.iterfind(".//s:text", ns)]
    assert any(t.startswith("Code-orchestrated") for t in texts)
    assert any("running writer_a (agent)" in t for t in texts)
    assert "seconds since the run started" in texts
    striped = svg.findall(".//s:rect[@fill='url(#open)']", ns)
    llm = race.lanes[1]
    open_bars = [sp for sp in llm.spans
                 if sp.span_id in llm.open_ids and sp.kind in WATERFALL_KINDS]
    assert {"manager", "writer_a"} <= {sp.name for sp in open_bars}
    assert len(striped) == len(open_bars) and not race.lanes[0].open_ids
    clocks = [line for line in svg.iterfind("s:line", ns) if line.get("stroke-width") == "3"]
    assert len(clocks) == 2
    finished, running = clocks
    assert finished.get("stroke-dasharray") is None and running.get("stroke-dasharray")
    # the llm lane's clock (2.0 s) is the longest: the axis spans it plus 5 %
    assert float(running.get("x1")) == pytest.approx(
        LABEL_WIDTH + 2.0 * (PICTURE_WIDTH - LABEL_WIDTH - 20) / 2.1, abs=0.1)
    assert race_picture([]) == ""


def test_the_quick_start_preset_is_recorded_only_with_its_limits() -> None:
    spec = presets.apply(presets.experiment_spec("sales_email", "local:smollm2-135m"),
                         presets.QUICK_START)
    assert spec.preset == "quick-start" and spec.repetitions == 1
    assert spec.model_settings["max_tokens"] == presets.QUICK_START.max_tokens
    assert (spec.timeout_s, spec.max_turns) == (presets.QUICK_START.timeout_s,
                                                presets.QUICK_START.max_turns)
    same = presets.experiment_spec("sales_email", "local:smollm2-135m", repetitions=1,
                                   timeout_s=spec.timeout_s, max_turns=spec.max_turns,
                                   model_settings=dict(spec.model_settings))
    assert same.preset == "quick-start"
    edited = presets.experiment_spec("sales_email", "local:smollm2-135m", repetitions=3,
                                     timeout_s=spec.timeout_s, max_turns=spec.max_turns,
                                     model_settings=dict(spec.model_settings))
    assert edited.preset is None
    assert presets.offered("compat:m@http://127.0.0.1:1/v1") is None


def test_a_run_collected_but_not_yet_published_keeps_the_spans_last_seen() -> None:
    """The recorder hands a finished run's spans to the runner before the job lists its
    record: for that moment the run is in flight with no spans, and its lane must not blank."""
    snap = snapshot([live("run-llm", "llm")], [])
    seen = build_race(snap, GrowingTrace(), ["llm"], now=T0 + timedelta(seconds=2))

    def collected(*_: object) -> tuple[list[SpanRecord], set[str]]:
        return [], set()

    ending = build_race(snap, collected, ["llm"], now=T0 + timedelta(seconds=3), previous=seen)
    assert ending.lanes[0].spans == seen.lanes[0].spans and ending.lanes[0].running is None
    assert lane_caption(ending.lanes[0]).endswith("· 3.0 s · between steps")
    fresh = build_race(snap, collected, ["llm"], now=T0 + timedelta(seconds=3))
    assert fresh.lanes[0].spans == [] and lane_caption(fresh.lanes[0]).endswith("· starting")
