"""A class at the pace of one person (issue 30, item 2): what is the same for every session is
done once, and a page redraws only what changed.

- An experiment ending on one participant's page no longer clears every frame every session
  reads: frames are keyed on what the dashboard's jobs stored (`jobs.STORE_CHANGES`), so the
  others stay cached while the finished experiment's own frames are read again.
- A job's race (and its figure) is computed once per change of the job (`ExperimentJob.version`,
  `RaceMemo`), not once per page redraw.
- Streamlit's per-script-run chores that cost every session the same (a full garbage
  collection after each run, the source-file watcher) are off in `.streamlit/config.toml`.

`bench/classroom.py` measures the whole (tests/test_bench.py runs it in a short mode).
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from streamlit.testing.v1 import AppTest

from orchlab.present.race import Race
from orchlab.running.jobs import ExperimentJob
from orchlab.running.runner import ExperimentSpec
from orchlab.store.store import Store

ROOT = Path(__file__).parent.parent
APP = str(ROOT / "app.py")


def finished_job(store_path: Path, repetitions: int = 1) -> ExperimentJob:
    """A sales_email job on the scripted backend (this process's job loop), run to its end."""
    from sales_scripts import sales_backend

    spec = ExperimentSpec("sales_email", forms=["code", "llm"], inputs=["dana-acme"],
                          repetitions=repetitions, backend="scripted:sales")
    job = ExperimentJob(spec, Store(store_path), backend=sales_backend()).start()
    job.join(timeout=60)
    snap = job.snapshot()
    assert snap.finished and snap.result is not None, snap.error
    return job


def counting_loads(monkeypatch: pytest.MonkeyPatch) -> list[tuple[Any, ...]]:
    """Every `Store.load_runs` call from now on, by its arguments."""
    calls: list[tuple[Any, ...]] = []
    original = Store.load_runs

    def load_runs(self: Store, experiment_ids: list[str] | None = None,
                  scenario: str | None = None) -> Any:
        calls.append((tuple(experiment_ids or ()), scenario))
        return original(self, experiment_ids, scenario)

    monkeypatch.setattr(Store, "load_runs", load_runs)
    return calls


def test_an_experiment_ending_on_one_page_leaves_the_other_frames_cached(
        app_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Twenty participants' experiments ending made every page (Compare included) read
    everything again, twenty times: `final_panel` cleared every cached frame. Now the frame of
    an experiment nobody changed stays cached, and the ones that hold the new runs are read
    again."""
    from views._shared import clear_run_caches, runs_frame

    clear_run_caches()
    location = str(app_env)
    other = finished_job(app_env).snapshot().result
    assert other is not None
    loads = counting_loads(monkeypatch)
    assert len(runs_frame(location, (other.experiment_id,))) == 2
    before_all = len(runs_frame(location, (), "sales_email"))
    assert len(loads) == 2

    mine = finished_job(app_env, repetitions=2)  # another participant's, shown on their page
    at = AppTest.from_file(APP, default_timeout=60)
    at.session_state["run_job"] = mine
    at.run()
    assert not at.exception, at.exception
    assert [s.state for s in at.status] == ["complete"], [s.label for s in at.status]
    del loads[:]  # the page's own reads

    assert len(runs_frame(location, (other.experiment_id,))) == 2
    assert loads == [], "a frame of an experiment nobody changed was read again"
    assert len(runs_frame(location, (), "sales_email")) == before_all + 4  # the new runs
    result = mine.snapshot().result
    assert result is not None
    assert len(runs_frame(location, (result.experiment_id,))) == 4


def test_a_frame_is_read_again_when_its_runs_change_under_it(
        app_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Keyed, not cleared: a run stored by another writer (the CLI) or a delete still shows,
    because a named experiment's frame is keyed on its stored run count too."""
    from views._shared import clear_run_caches, runs_frame

    clear_run_caches()
    location = str(app_env)
    result = finished_job(app_env).snapshot().result
    assert result is not None
    assert len(runs_frame(location, (result.experiment_id,))) == 2
    store = Store(app_env)
    store.delete_experiment(result.experiment_id)  # not through a page: nothing cleared
    store.close()
    assert runs_frame(location, (result.experiment_id,)).empty


def test_store_changes_count_per_experiment_and_scenario() -> None:
    from orchlab.running.jobs import StoreChanges

    changes = StoreChanges()
    assert changes.experiments(("a", "b")) == (0, 0) and changes.scenario(None) == 0
    changes.note("a", "weather")
    changes.note("a", "weather")
    changes.note("b", "sales_email")
    assert changes.experiments(("a", "b", "c")) == (2, 1, 0)
    assert (changes.scenario("weather"), changes.scenario("sales_email"),
            changes.scenario(None)) == (2, 1, 3)


def test_a_jobs_version_moves_with_what_a_page_draws_of_it(app_env: Path) -> None:
    """Started, stored, a live report of its runs in flight, ended: each moves the version;
    a look in between does not. Runs in flight on this process's loop cannot tell (None)."""
    source = finished_job(app_env)
    records = source.snapshot().records
    job = ExperimentJob(source.spec, source.store)
    process = SimpleNamespace(live_version=0, live={})
    job._process = process  # type: ignore[assignment]  # as if in the experiment process
    job._total, job._started = len(records), 1.0
    seen = [job.version]
    first = records[0]
    job.on_remote("start", (first.run_id, first.form, first.input_id, first.repetition,
                            first.started_at, 1.0))
    seen.append(job.version)
    assert job.version == seen[-1]  # nothing happened: the same
    process.live_version += 1
    seen.append(job.version)
    job.on_remote("record", first)
    seen.append(job.version)
    process.live_version += 1  # a report about other jobs' runs: nothing of this one in flight
    assert job.version == seen[-1]
    from orchlab.running.job_process import JobEnd

    job.on_remote("end", JobEnd(first.experiment_id, "completed", 0.0, None, None))
    seen.append(job.version)
    assert len(set(seen)) == len(seen), seen
    assert job.finished and job.snapshot().version == job.version

    local = ExperimentJob(source.spec, source.store)
    local._on_start(first.run_id, SimpleNamespace(  # type: ignore[arg-type]
        form=first.form, input_id=first.input_id, repetition=first.repetition))
    assert local.version is None


def test_a_race_is_computed_once_per_version() -> None:
    from orchlab.present.race import RaceMemo

    memo: RaceMemo[str] = RaceMemo(keep=2)
    previous: list[Race | None] = []

    def compute(before: Race | None) -> tuple[Race, str]:
        previous.append(before)
        return Race(lanes=[], sentence=None, moving=True), f"figure {len(previous)}"

    first = memo.get("job", (1, 0), compute)
    assert memo.get("job", (1, 0), compute) == first and memo.computed == 1
    second = memo.get("job", (2, 0), compute)
    assert second[1] == "figure 2" and previous == [None, first[0]]  # the previous race kept
    memo.get("job", None, compute)
    memo.get("job", None, compute)
    assert memo.computed == 4  # a version of None is never the same
    memo.get("other", (1, 0), compute)
    memo.get("third", (1, 0), compute)
    memo.get("job", None, compute)
    assert previous[-1] is None  # the oldest job was dropped (keep=2)


def test_the_run_page_draws_a_finished_race_once_for_every_redraw(app_env: Path) -> None:
    """The final panel's race is computed on the first render, and its figure once when asked
    for: a rerun of the page (a run picked, another participant's page) reuses both."""
    from views._race import race_memo

    job = finished_job(app_env)
    at = AppTest.from_file(APP, default_timeout=60)
    at.session_state["run_job"] = job
    at.run()
    assert not at.exception, at.exception
    at.toggle(key="run_final_race_figure").set_value(True).run()
    computed = race_memo().computed
    final_race = next(e for e in at.expander if e.label == "The race, as it ended")
    assert len(final_race.get("plotly_chart")) == 1
    at.run()
    other = AppTest.from_file(APP, default_timeout=60)
    other.session_state["run_job"] = job
    other.session_state["run_final_race_figure"] = True
    other.run()
    assert not at.exception and not other.exception
    assert race_memo().computed == computed
    assert len(next(e for e in other.expander if e.label == "The race, as it ended")
               .get("plotly_chart")) == 1


def test_a_result_builds_no_figure_until_one_is_asked_for(app_env: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """A plotly figure costs the server tens of ms to build: twenty results at once build
    none unless someone asks to see the race's figure."""
    import views._race

    built: list[int] = []
    real = views._race.race_figure

    def counted(*args: Any, **kwargs: Any) -> Any:
        built.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(views._race, "race_figure", counted)
    at = AppTest.from_file(APP, default_timeout=60)
    at.session_state["run_job"] = finished_job(app_env)
    at.run()
    assert not at.exception, at.exception
    final_race = next(e for e in at.expander if e.label == "The race, as it ended")
    assert final_race.caption and not final_race.get("plotly_chart")  # captions, no figure
    assert built == []
    at.toggle(key="run_final_race_figure").set_value(True).run()
    assert len(built) == 1
    assert len(next(e for e in at.expander if e.label == "The race, as it ended")
               .get("plotly_chart")) == 1


def test_streamlits_per_run_chores_are_off() -> None:
    """A forced full garbage collection after every script run (fragment reruns included)
    and the source watcher cost every session the same, tens of ms per run."""
    config = tomllib.loads((ROOT / ".streamlit" / "config.toml").read_text(encoding="utf-8"))
    assert config["runner"]["postScriptGC"] is False
    assert config["server"]["fileWatcherType"] == "none"



def test_a_frame_is_kept_once_at_its_latest_version(
        app_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Keyed on versions, a frame of many runs read again after each stored run would pile up
    copies: the one read before is dropped when a newer is read, as a clear did."""
    from orchlab.running.jobs import STORE_CHANGES
    from views._shared import _runs_frame, _runs_version, clear_run_caches, runs_frame

    clear_run_caches()
    location = str(app_env)
    finished_job(app_env)
    loads = counting_loads(monkeypatch)
    first = _runs_version(location, (), "weather")
    runs_frame(location, (), "weather")
    STORE_CHANGES.note("exp-elsewhere", "weather")
    runs_frame(location, (), "weather")
    assert len(loads) == 2
    _runs_frame(location, (), "weather", first)  # the older version: read again, not kept
    assert len(loads) == 3
