"""Run page (issue 28): the Backends multiselect (a model matrix) and the Agent models table (a
model per agent) make the spec `orchlab run` makes for the same choices, the plan line counts
the backends, and a bad assignment or backend is one sentence with nothing stored."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from apptest_pages import app_on
from sales_scripts import sales_backend
from streamlit.testing.v1 import AppTest

from orchlab import backends
from orchlab.cli import main as cli
from orchlab.running.jobs import ExperimentJob
from orchlab.running.runner import ExperimentSpec
from orchlab.running.spec import MAX_ASSIGNMENT_NAME, assignment_name
from orchlab.store.store import Store
from orchlab.testing.ports import free_port
from views._models import ASSIGNMENT_KEY, BACKENDS_KEY, agents_key

SCENARIO = "sales_email"
SIDEBAR = "scripted:sales"


@pytest.fixture
def matrix_env(store_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """The dashboard on a temp store, its default backend `scripted:sales`; every
    `scripted:<name>` id opens the sales scripts under its own id, so a matrix of two scripted
    ids is two backends, each its own model name (`scripted:small` runs model "small"). The
    page opens them uncached: each test its own."""
    import views._shared

    backends.register("scripted", lambda rest: sales_backend(backend_id=f"scripted:{rest}",
                                                             model_name=rest), "test backend")
    monkeypatch.setenv("ORCHLAB_BACKEND", SIDEBAR)
    monkeypatch.setattr(views._shared, "get_backend", backends.resolve)
    yield store_path
    backends.unregister("scripted")


def count_line(at: AppTest) -> str:
    """The plan line: how many runs Run would start, or why none."""
    return next((c.value for c in at.caption
                 if c.value.startswith(("This will start", "Choose at least one"))), "")


def set_agent_backends(at: AppTest, chosen: dict[str, str]) -> None:
    """Type backends into the Agent models table (AppTest seeds a keyed data_editor's edits
    through its session state, as a browser's cell edits arrive)."""
    agents = list(at.data_editor(key=agents_key(SCENARIO)).value["Agent"])
    at.session_state[agents_key(SCENARIO)] = {
        "edited_rows": {agents.index(agent): {"Backend": backend}
                        for agent, backend in chosen.items()},
        "added_rows": [], "deleted_rows": []}


def choose(at: AppTest, matrix: list[str], agent_backends: dict[str, str],
           assignment: str) -> AppTest:
    at.multiselect(key=BACKENDS_KEY).set_value(matrix).run()
    set_agent_backends(at, agent_backends)
    at.text_input(key=ASSIGNMENT_KEY).input(assignment).run()
    assert not at.exception, at.exception
    return at


def cli_spec(*argv: str) -> ExperimentSpec:
    """What `orchlab run` makes of the same choices (the page's defaults: its first input)."""
    args = cli.build_parser().parse_args(["run", "--scenario", SCENARIO, "--input", "dana-acme",
                                          *argv])
    return cli.spec_from_args(args)


def press_run(at: AppTest) -> AppTest:
    at.button(key="run_start").click().run()
    assert not at.exception, at.exception
    return at


def one_sentence(at: AppTest) -> str:
    """The page's one error, checked to be one sentence, as read (markdown escapes and the
    zero-width spaces that keep a URL from becoming a link removed)."""
    errors = [e.value for e in at.error]
    assert len(errors) == 1, errors
    text = errors[0].replace("\\", "").replace("\u200b", "")
    assert "\n" not in text and text.endswith("."), text
    return text


def test_backends_start_as_the_sidebars_and_offer_the_embedded_model(matrix_env: Path) -> None:
    at = app_on()
    picker = at.multiselect(key=BACKENDS_KEY)
    assert picker.label == "Backends" and picker.value == [SIDEBAR]
    assert {SIDEBAR, backends.LOCAL_DEFAULT} <= set(picker.options), picker.options
    assert count_line(at) == "This will start 2 runs: 2 forms x 1 input x 1 repetition."
    picker.set_value([SIDEBAR, "scripted:b"]).run()  # an id no option offered, typed in
    assert at.multiselect(key=BACKENDS_KEY).value == [SIDEBAR, "scripted:b"]
    assert count_line(at) == ("This will start 4 runs: 2 forms x 2 backends x 1 input x "
                              "1 repetition.")
    at.number_input(key="run_reps").set_value(3).run()
    assert count_line(at) == ("This will start 12 runs: 2 forms x 2 backends x 1 input x "
                              "3 repetitions.")
    at.multiselect(key=BACKENDS_KEY).set_value([]).run()
    assert count_line(at) == "Choose at least one backend: nothing would run."
    press_run(at)
    assert one_sentence(at) == "Choose at least one backend." and "run_job" not in at.session_state

    at.selectbox(key="sidebar_backend_kind").set_value("Embedded model (offline)").run()
    assert at.multiselect(key=BACKENDS_KEY).value == [backends.LOCAL_DEFAULT]  # starts over


def test_the_agent_models_table_lists_the_scenarios_agents(matrix_env: Path) -> None:
    at = app_on()
    table = at.data_editor(key=agents_key(SCENARIO)).value
    assert list(table.columns) == ["Agent", "Backend"]
    assert list(table["Agent"]) == ["concise_writer", "critic", "humorous_writer", "picker",
                                    "planner", "professional_writer", "sales_manager"]
    assert set(table["Backend"]) == {""}  # blank: the run's backend
    name = at.text_input(key=ASSIGNMENT_KEY)
    assert name.value == "" and "once an agent has a backend" in name.placeholder
    set_agent_backends(at, {"picker": "scripted:small", "critic": "scripted:small"})
    at.run()
    assert at.text_input(key=ASSIGNMENT_KEY).placeholder == assignment_name(
        {"picker": "scripted:small", "critic": "scripted:small"})


MATRIX_CASES = {
    "one backend, nothing assigned": ([SIDEBAR], {}, "", []),  # the CLI's default: the sidebar's
    "a matrix": ([SIDEBAR, "scripted:b"], {}, "", ["--backend", SIDEBAR, "--backend",
                                                   "scripted:b"]),
    "a matrix and an assignment": (
        [SIDEBAR, "scripted:b"], {"picker": "scripted:small", "sales_manager": "scripted:big"},
        "", ["--backend", SIDEBAR, "--backend", "scripted:b", "--agent-backend",
             "picker=scripted:small", "--agent-backend", "sales_manager=scripted:big"]),
    "one backend, an assignment named": (
        [SIDEBAR], {"concise_writer": "scripted:small"}, "concise apart",
        ["--backend", SIDEBAR, "--agent-backend", "concise_writer=scripted:small",
         "--assignment", "concise apart"]),
}


@pytest.mark.parametrize("case", list(MATRIX_CASES))
def test_the_page_starts_the_spec_the_cli_makes_for_the_same_choices(matrix_env: Path,
                                                                     case: str) -> None:
    matrix, agent_backends, assignment, argv = MATRIX_CASES[case]
    at = choose(app_on(), matrix, agent_backends, assignment)
    press_run(at)
    assert not at.error, [e.value for e in at.error]
    job: ExperimentJob = at.session_state["run_job"]
    assert dataclasses.asdict(job.spec) == dataclasses.asdict(cli_spec(*argv))
    assert job.spec.backend_ids == matrix and job.spec.agent_backends == agent_backends
    job.join(timeout=60)
    snap = job.snapshot()
    assert snap.error is None and snap.result is not None, snap.error
    stored = Store(matrix_env).list_experiments()
    assert len(stored) == 1 and stored[0].status == "completed"
    spec = stored[0].spec
    assert (spec["backend"], spec["backends"]) == (matrix[0], matrix if len(matrix) > 1 else [])
    assert spec["agent_backends"] == agent_backends
    assert spec["assignment"] == (assignment or (assignment_name(agent_backends)
                                                 if agent_backends else None))
    assert sorted(r.backend for r in snap.records) == sorted(2 * matrix)  # 2 forms each
    opened = Store(matrix_env)
    called = {(span.agent, span.model, (agent_backends.get(str(span.agent)) or r.backend))
              for r in snap.records for span in opened.load_spans(r.run_id)
              if span.kind == "generation"}
    assert called and all(backend == f"scripted:{model}" for _agent, model, backend in called)
    assert {agent for agent, _model, _backend in called} >= set(agent_backends), called


NAME_RULE = f"An assignment's name must be 1 to {MAX_ASSIGNMENT_NAME} characters"
BAD_CASES = {  # agent -> backend, the assignment's name, what the one sentence says
    "a name and no agent": ({}, "writers apart", "assigns no agent a backend"),
    "a name with a group separator": ({"critic": "scripted:small"}, "critic | small",
                                      NAME_RULE),
    "a name too long": ({"critic": "scripted:small"}, "x" * (MAX_ASSIGNMENT_NAME + 1),
                        NAME_RULE),
    "a backend that is no id": ({"critic": "gpt-4.1-nano"}, "",
                                "is not of the form <prefix>:<model>"),
}


@pytest.mark.parametrize("case", list(BAD_CASES))
def test_a_bad_assignment_is_one_sentence_and_nothing_is_stored(matrix_env: Path,
                                                                case: str) -> None:
    agent_backends, assignment, said = BAD_CASES[case]
    at = press_run(choose(app_on(), [SIDEBAR, "scripted:b"], agent_backends, assignment))
    assert said in one_sentence(at)
    assert "run_job" not in at.session_state
    assert Store(matrix_env).list_experiments() == []


def test_a_matrix_backend_that_does_not_answer_is_one_sentence(matrix_env: Path) -> None:
    gone = f"compat:fake-model@http://127.0.0.1:{free_port()}/v1"  # nothing listens there
    at = press_run(choose(app_on(), [SIDEBAR, gone], {}, ""))
    assert re.match(r"No OpenAI-compatible server answered at http://127\.0\.0\.1:\d+/v1 ",
                    one_sentence(at))
    assert "run_job" not in at.session_state
    assert Store(matrix_env).list_experiments() == []


def test_an_agents_backend_that_cannot_open_is_one_sentence(matrix_env: Path) -> None:
    """The page opens the matrix's backends itself; the agents' own are resolved and checked
    by the runner (`runner.arun_experiment`) before it stores anything: the job ends with
    that sentence, which the page shows as its one error."""
    at = press_run(choose(app_on(), [SIDEBAR, "scripted:b"], {"critic": "nope:model"}, ""))
    job: ExperimentJob = at.session_state["run_job"]
    job.join(timeout=60)
    assert job.snapshot().error is not None and job.snapshot().result is None
    at.run()
    assert not at.exception, at.exception
    assert "nope" in one_sentence(at)
    assert Store(matrix_env).list_experiments() == []
