"""Run page: the run count before Run, readable diagrams, the latest run kept after a cancel."""

from __future__ import annotations

import time
from pathlib import Path

from apptest_pages import app_on
from sales_scripts import sales_backend
from streamlit.testing.v1 import AppTest
from waiting import wait_until

from orchlab.figures import MAX_LR_STAGES, path_dot
from orchlab.jobs import ExperimentJob
from orchlab.runner import ExperimentSpec
from orchlab.store import Store

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


def test_long_paths_run_top_to_bottom() -> None:
    short = [{"name": f"s{i}", "kind": "agent", "steps": []} for i in range(MAX_LR_STAGES)]
    long = [{"name": f"s{i}", "kind": "agent", "steps": []} for i in range(MAX_LR_STAGES + 3)]
    assert "rankdir=LR;" in path_dot(short)  # type: ignore[arg-type]
    assert "rankdir=TB;" in path_dot(long)  # type: ignore[arg-type]


def slow_sales_backend() -> object:
    backend = sales_backend()
    make = backend.make_model

    def slowly(name: str) -> object:
        time.sleep(0.05)
        return make(name)

    backend.make_model = slowly  # type: ignore[method-assign]
    return backend


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
