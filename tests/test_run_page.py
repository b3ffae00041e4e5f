"""Run page: the run count before Run, readable diagrams, the latest run kept after a cancel;
the live race, presenter mode (`?present=1`) and the quick-start preset."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from xml.etree import ElementTree

import pytest
from apptest_pages import app_on
from sales_scripts import sales_backend, slow_sales_backend
from streamlit.testing.v1 import AppTest
from waiting import wait_until

from orchlab.cli import main as cli
from orchlab.present.figures import MAX_LR_STAGES, path_picture
from orchlab.present.race import Race, build_race
from orchlab.running.jobs import ExperimentJob
from orchlab.running.presets import QUICK_START
from orchlab.running.runner import ExperimentSpec
from orchlab.store.store import Store
from orchlab.testing.devserver import FakeOpenAIServer

APP = str(Path(__file__).parent.parent / "app.py")




def count_line(at: AppTest) -> str:
    return next((c.value for c in at.caption if c.value.startswith("This will start")), "")


def test_the_number_of_runs_is_shown_before_run_and_follows_the_choices(app_env: Path) -> None:
    at = app_on()
    assert count_line(at) == "This will start 2 runs: 2 forms x 1 input x 1 repetition."
    inputs = at.multiselect(key="run_inputs_sales_email")
    inputs.set_value(list(inputs.options)).run()
    at.number_input(key="run_reps").set_value(2).run()
    assert count_line(at) == "This will start 12 runs: 2 forms x 3 inputs x 2 repetitions."
    at.multiselect(key="run_forms_sales_email").set_value(["code"]).run()
    assert count_line(at) == "This will start 6 runs: 1 form x 3 inputs x 2 repetitions."
    assert "run_job" not in at.session_state


def boxes(svg: str) -> dict[str, tuple[float, float]]:
    """A path picture's boxes: label -> the box's middle (x) and top (y)."""
    tree = ElementTree.fromstring(svg)
    rects = tree.findall("{*}rect")
    labels = ["".join(t.itertext()) for t in tree.findall("{*}text")]
    return {label: (float(r.get("x", 0)) + float(r.get("width", 0)) / 2, float(r.get("y", 0)))
            for r, label in zip(rects, labels, strict=True)}


def test_long_paths_run_top_to_bottom() -> None:
    short = [{"name": f"s{i}", "kind": "agent", "steps": []} for i in range(MAX_LR_STAGES)]
    long = [{"name": f"s{i}", "kind": "agent", "steps": []} for i in range(MAX_LR_STAGES + 3)]
    across = boxes(path_picture(short))  # type: ignore[arg-type]
    down = boxes(path_picture(long))  # type: ignore[arg-type]
    assert list(across) == [f"s{i}" for i in range(MAX_LR_STAGES)]
    assert len({y for _, y in across.values()}) == 1
    assert [x for x, _ in across.values()] == sorted({x for x, _ in across.values()})
    assert len({x for x, _ in down.values()}) == 1 and len(down) == MAX_LR_STAGES + 3
    assert [y for _, y in down.values()] == sorted({y for _, y in down.values()})


def test_a_parallel_set_is_one_stage_with_an_arrow_from_and_to_each_of_its_steps() -> None:
    steps = [{"name": "triage", "kind": "agent", "steps": []},
             {"parallel": [{"name": "search", "kind": "function", "steps": []},
                           {"name": "fetch", "kind": "function", "steps": []}]},
             {"name": "writer", "kind": "agent", "steps": []}]
    svg = path_picture(steps)  # type: ignore[arg-type]
    drawn = boxes(svg)
    assert set(drawn) == {"triage", "search", "fetch", "writer"}
    assert abs(drawn["search"][0] - drawn["fetch"][0]) < 0.2  # stacked: one stage
    assert drawn["search"][1] != drawn["fetch"][1]
    assert drawn["triage"][0] < drawn["fetch"][0] < drawn["writer"][0]
    assert len(ElementTree.fromstring(svg).findall("{*}line")) == 4  # 1 x 2, then 2 x 1


def slow_job(store_path: Path, at_least: int) -> ExperimentJob:
    """A 50-run job on a slow scripted backend, once it has finished `at_least` runs."""
    spec = ExperimentSpec("sales_email", forms=["code"], inputs=["dana-acme"], repetitions=50,
                          concurrency=1, backend="scripted:sales")
    job = ExperimentJob(spec, Store(store_path), backend=slow_sales_backend()).start()
    wait_until(lambda: len(job.snapshot().records) >= at_least)
    return job


def page_showing(job: ExperimentJob) -> AppTest:
    """The Run page of a session whose job is `job`, rendered once."""
    at = AppTest.from_file(APP, default_timeout=60)
    at.session_state["run_job"] = job
    at.run()
    return at


def test_after_a_cancel_the_picker_keeps_the_latest_run(app_env: Path) -> None:
    job = slow_job(app_env, at_least=1)
    at = page_showing(job)
    wait_until(lambda: len(job.snapshot().records) >= 3)
    job.cancel()
    job.join(timeout=60)
    at.run()
    assert not at.exception, at.exception
    records = job.snapshot().records
    assert len(records) >= 3
    picked = at.selectbox(key="run_pick_code").value
    shown = picked if isinstance(picked, str) else records[picked].run_id
    assert shown == records[-1].run_id, (picked, [r.run_id for r in records])


def test_a_run_the_user_picked_stays_picked_while_runs_arrive(app_env: Path) -> None:
    job = slow_job(app_env, at_least=2)
    at = page_showing(job)
    first = job.snapshot().records[0].run_id
    at.selectbox(key="run_pick_code").set_value(first).run()
    wait_until(lambda: len(job.snapshot().records) >= 4)
    at.run()
    job.cancel()
    job.join(timeout=60)
    assert at.selectbox(key="run_pick_code").value == first


def test_a_cancelled_run_card_is_a_warning_not_an_error(app_env: Path) -> None:
    job = slow_job(app_env, at_least=1)
    job.cancel()
    job.join(timeout=60)
    records = job.snapshot().records
    assert records[-1].status == "cancelled", [r.status for r in records]
    at = page_showing(job)
    assert not any("cancelled (" in e.value for e in at.error), [e.value for e in at.error]


def _forms_by_row(node: object, row: object = None, found: dict | None = None) -> list[list[str]]:
    """Form headings of the result panel, grouped by the row of columns they sit in."""
    found = {} if found is None else found
    if type(node).__name__ == "Subheader":
        found.setdefault(id(row), []).append(node.value)  # type: ignore[attr-defined]
    children = getattr(node, "children", None)
    if isinstance(children, dict):
        here = node if getattr(node, "type", None) == "flex_container" else row
        for child in children.values():
            _forms_by_row(child, here, found)
    return list(found.values())


def test_forms_past_three_wrap_to_a_second_row_in_catalogue_order(app_env: Path) -> None:
    spec = ExperimentSpec("sales_email", forms=["code", "plan", "guarded", "llm"],
                          inputs=["dana-acme"], backend="scripted:sales")
    job = ExperimentJob(spec, Store(app_env), backend=sales_backend()).start()
    job.join(timeout=60)
    at = page_showing(job)
    assert not at.exception, at.exception
    rows = [r for r in _forms_by_row(at.main) if r[0] != "Run an experiment"]
    assert rows == [["Code-orchestrated", "Plan-then-execute", "Guarded LLM"],
                    ["LLM-orchestrated"]], rows


# The live race view, presenter mode and the quick-start preset.

RACE_FORMS = ["code", "llm"]


@pytest.fixture
def slow_server() -> Iterator[FakeOpenAIServer]:
    """A fake OpenAI-compatible server answering each call after 1 s: runs of a few s."""
    with FakeOpenAIServer(latency_s=1.0) as server:
        yield server


def race_job(store_path: Path, server: FakeOpenAIServer) -> ExperimentJob:
    spec = ExperimentSpec("sales_email", forms=RACE_FORMS, inputs=["dana-acme"],
                          backend=f"compat:fake-model@{server.base_url}")
    return ExperimentJob(spec, Store(store_path)).start()


def race_now(job: ExperimentJob) -> Race:
    return build_race(job.snapshot(), job.peek, RACE_FORMS)


def texts(elements: Any) -> list[str]:
    return [e.value for e in elements]


def redraw_while_running(at: AppTest, job: ExperimentJob, seen: Callable[[], bool]) -> bool:
    """Render the page again until `seen()` holds or the job ends (a loaded machine renders
    more slowly than a run lasts); returns whether it was seen with a run in flight."""
    while not job.snapshot().finished:
        running_before = bool(job.snapshot().in_flight)
        at.run()
        assert not at.exception, at.exception
        if seen():
            return running_before
    return False


def test_the_race_names_what_runs_and_who_finished_first(app_env: Path,
                                                         slow_server: FakeOpenAIServer) -> None:
    job = race_job(app_env, slow_server)
    wait_until(lambda: any(lane.running for lane in race_now(job).lanes), what="an open span")
    at = AppTest.from_file(APP, default_timeout=60)
    at.session_state["run_job"] = job
    named = r" · running \S+ \((agent|tool)\)$"
    live = redraw_while_running(at, job, lambda: any(re.search(named, c)
                                                     for c in texts(at.caption)))
    assert live, texts(at.caption)  # a render while a run was in flight named what ran
    # the live race is a picture (an SVG image), not the plotly figure
    assert not at.get("plotly_chart") and at.button(key="run_cancel") is not None
    assert [u.startswith("data:image/svg+xml;base64,") for u in at.get("image")[0].value] == [True]
    sentence = (r"^\S+ finished first, (at least )?\d+\.\d s ahead of \S+"
                r"( \(still running\))?\.$")
    redraw_while_running(at, job, lambda: any(re.match(sentence, s) for s in texts(at.success)))
    assert any(re.match(sentence, s) for s in texts(at.success)), texts(at.success)
    job.join(timeout=60)
    at.run()
    assert not at.exception, at.exception
    assert [s.state for s in at.status] == ["complete"], [s.label for s in at.status]
    assert not at.get("button") or "run_cancel" not in [b.key for b in at.button]
    assert any(e.label == "The race, as it ended" for e in at.expander)
    assert not at.get("plotly_chart")  # a figure costs a browser more than the whole result
    at.toggle(key="run_final_race_figure").set_value(True).run()
    assert not at.exception, at.exception
    final_race = next(e for e in at.expander if e.label == "The race, as it ended")
    assert len(final_race.get("plotly_chart")) == 1
    captions = texts(final_race.caption)
    assert len(captions) == 2 and all(" · finished (ok)" in c for c in captions), captions
    assert any(re.match(r"^\S+ finished first, \d+\.\d s ahead of \S+\.$", s)
               for s in texts(final_race.success)), texts(final_race.success)


def test_presenter_mode_from_the_url_starts_one_run_per_form(app_env: Path) -> None:
    at = AppTest.from_file(APP, default_timeout=60)
    at.query_params["present"] = "1"
    at.run()
    assert not at.exception, at.exception
    assert at.toggle(key="run_present").value is True
    assert not at.get("form") and "run_reps" not in [n.key for n in at.number_input]
    at.button(key="run_present_start").click().run()
    assert not at.exception, at.exception
    job: ExperimentJob = at.session_state["run_job"]
    assert job.spec.repetitions == 1 and job.spec.inputs == ["dana-acme"]
    assert job.spec.forms == RACE_FORMS and job.spec.backend == "scripted:sales"
    job.join(timeout=60)
    at.run()
    assert not at.exception, at.exception
    assert len(job.snapshot().records) == 2
    headings = [h.value for h in at.subheader]
    assert headings == ["Code-orchestrated", "LLM-orchestrated"], headings
    outputs = texts(at.text)  # the model wrote them: plain text, never markdown
    assert all(r.final_output and r.final_output in outputs for r in job.snapshot().records)
    assert any("finished first" in s for s in texts(at.success)), texts(at.success)


def test_the_quick_start_preset_is_in_the_started_spec(app_env: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """On the embedded model the page offers quick start first; its limits fill the form and
    the spec records the preset (the scripted backend stands in for the model here)."""
    import views._shared

    monkeypatch.setenv("ORCHLAB_BACKEND", "local:smollm2-135m")
    monkeypatch.setattr(views._shared, "get_backend", lambda _id: sales_backend())
    at = app_on()
    radio = at.radio(key="run_preset")
    assert radio.value == "quick" and "1 repetition, replies up to 128 tokens" in \
        radio.format_func("quick")  # type: ignore[attr-defined]
    assert at.number_input(key="run_max_tokens").value == QUICK_START.max_tokens
    assert at.number_input(key="run_timeout").value == QUICK_START.timeout_s
    at.button(key="run_start").click().run()
    assert not at.exception, at.exception
    job: ExperimentJob = at.session_state["run_job"]
    job.join(timeout=60)
    assert job.spec.preset == "quick-start" and job.spec.repetitions == 1
    assert job.spec.model_settings == {"max_tokens": QUICK_START.max_tokens}
    assert (job.spec.timeout_s, job.spec.max_turns) == (QUICK_START.timeout_s,
                                                        QUICK_START.max_turns)
    args = cli.build_parser().parse_args(["run", "--scenario", "sales_email", "--input",
                                          "dana-acme", "--preset", "quick-start"])
    assert dataclasses.asdict(cli.spec_from_args(args)) == dataclasses.asdict(job.spec)
    at.run()
    assert any(c.startswith("Preset: quick-start · ") for c in texts(at.caption))
    radio = at.radio(key="run_preset").set_value("full").run()
    assert at.number_input(key="run_max_tokens").value == 0
    assert at.number_input(key="run_timeout").value == ExperimentSpec("x").timeout_s


def test_presenter_mode_offers_replaying_a_recorded_experiment(app_env: Path) -> None:
    spec = ExperimentSpec("sales_email", forms=RACE_FORMS, inputs=["dana-acme"],
                          backend="scripted:sales")
    recorded = ExperimentJob(spec, Store(app_env), backend=sales_backend()).start()
    recorded.join(timeout=60)
    exp_id = recorded.snapshot().result.experiment_id  # type: ignore[union-attr]
    at = AppTest.from_file(APP, default_timeout=60)
    at.query_params["present"] = "1"
    at.run()
    source = at.selectbox(key="run_present_source")
    assert source.value is None and len(source.options) == 2, source.options
    assert source.options[1].startswith(f"Replay {exp_id} (scripted:")
    source.select_index(1).run()
    assert "run_preset" not in [r.key for r in at.radio]  # a replay runs as it was recorded
    at.button(key="run_present_start").click().run()
    assert not at.exception, at.exception
    job: ExperimentJob = at.session_state["run_job"]
    assert job.spec.backend == f"replay:{exp_id}" and job.spec.repetitions == 1
    assert job.spec.inputs == ["dana-acme"] and job.spec.forms == RACE_FORMS
    job.join(timeout=60)
    assert [r.status for r in job.snapshot().records] == ["ok", "ok"]


def test_a_result_that_ends_in_the_run_that_started_it_is_drawn_there(
        app_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The run that starts a job waits for its end and draws the result in the live panel's
    place, in the same run (views.run.live_panel). A key is drawn once per run: that run's
    live panel draws no run cards, even when runs finished before it drew, so the result's
    cards are the only ones. Here every run has finished when the page first looks, and the
    job reports itself unfinished to that first look (the race the wait is for)."""
    from orchlab.running import jobs

    started, snapshot = jobs.ExperimentJob.start, jobs.ExperimentJob.snapshot
    looked: set[tuple[str, str]] = set()

    def first_look(job: ExperimentJob, what: str) -> bool:
        """Whether this is the page's first look of this kind at the job."""
        if (job.job_id, what) in looked:
            return False
        looked.add((job.job_id, what))
        return True

    def start_and_finish(self: ExperimentJob) -> ExperimentJob:
        job = started(self)
        job.join(timeout=60)
        return job

    def snapshot_unfinished_once(self: ExperimentJob) -> Any:
        snap = snapshot(self)
        return dataclasses.replace(snap, finished=False) if first_look(self, "snap") else snap

    monkeypatch.setattr(jobs.ExperimentJob, "start", start_and_finish)
    monkeypatch.setattr(jobs.ExperimentJob, "snapshot", snapshot_unfinished_once)
    monkeypatch.setattr(jobs.ExperimentJob, "finished", property(
        lambda self: self.join(0) and not first_look(self, "finished")))
    at = AppTest.from_file(APP, default_timeout=60)
    at.run()
    at.button(key="run_start").click().run()
    assert not at.exception, at.exception
    assert ("finished" in {w for _, w in looked} and "snap" in {w for _, w in looked}), looked
    assert [s.state for s in at.status] == ["complete"], [s.label for s in at.status]
    outputs = [t.key for t in at.text_area if t.key and t.key.startswith("widgets_output_")]
    assert len(outputs) == len(set(outputs)) == 2, outputs  # one card per form
