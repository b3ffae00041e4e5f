"""Inputs from a file (CSV or JSONL): the format, every refusal as its one sentence, coercion by
a scenario's `input_model`, the rows stored with the experiment and reused by a resume, a replay
and an export -> import, the CLI's `--inputs-file`, the Run page's upload and History's table.

A tiny scenario (`cases_lab`) is registered here with its one agent in a temp folder: its flow
writes the data it was given into its final output, and its outcome check compares that with
the row's own ground truth (`expected`), so a run shows which data it ran on and of which type.
"""

from __future__ import annotations

import dataclasses
import json
import shlex
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import streamlit
from agents.testing import assistant_message
from apptest_pages import app_on
from pydantic import BaseModel
from sales_scripts import sales_backend
from weather_scripts import weather_backend

from orchlab import backends
from orchlab import scenario as scenario_registry
from orchlab.backends import Backend
from orchlab.cli.main import main
from orchlab.core.errors import InputsFileError, SpecError
from orchlab.running.jobs import ExperimentJob
from orchlab.running.runner import (
    CancelToken,
    ExperimentSpec,
    prepare,
    resume_experiment,
    run_experiment,
)
from orchlab.running.spec import replay_spec
from orchlab.scenario import (
    FlowEnv,
    Form,
    InputsFile,
    OutcomeInput,
    Scenario,
    ScenarioInput,
    parse_inputs_file,
    read_inputs_file,
)
from orchlab.store import export, importer
from orchlab.store.store import Store
from orchlab.testing.devserver import FakeOpenAIServer
from orchlab.testing.scripted import scripted_backend
from views._setup import read_upload
from views._widgets import escape_md

ROOT = Path(__file__).resolve().parent.parent
NAME = "cases_lab"


class Reading(BaseModel):
    """What cases_lab's flows read: a city, a temperature and a number of days."""

    city: str
    temperature: float
    days: int = 1


async def report_flow(item: ScenarioInput, env: FlowEnv) -> str:
    """The data's values and their types end up in the prompt and the final output."""
    d = item.data
    told = f"{d['city']} {d['temperature']!r} {d['days']!r}"
    note = await env.run("echo", f"Forecast for {told}")
    return f"{note} {told}"


def check_outcome(result: OutcomeInput) -> dict[str, Any]:
    return {"success": result.final_output == result.input.data.get("expected")}


SCENARIO = Scenario(
    name=NAME, description="Reports the reading it was given.",
    inputs=[ScenarioInput("own", "Own reading", {"city": "Oslo", "temperature": "3",
                                                 "expected": "noted Oslo 3.0 1"})],
    tools=lambda: {},
    forms=[Form("code", "code", "Code reports.", report_flow),
           Form("llm", "llm", "The same, as an LLM form.", report_flow)],
    check_outcome=check_outcome, input_model=Reading,
)
ECHO = """---
name: echo
description: Notes the request.
---
Reply "noted".
"""
CSV = (b"id,label,city,temperature,days,expected\n"
       b"lima,,Lima,21.5,3,noted Lima 21.5 3\n"
       b"rome,Rome in May,Rome,18,2,noted Rome 18.0 2\n")
"""Two cases, their ground truth in `expected`; the first has no label."""
PROSPECTS = (b'{"id": "ada", "label": "Ada, CTO", "name": "Ada L", "role": "CTO", '
             b'"company": "Engines", "email": "ada@engines.example"}\n'
             b'{"id": "grace", "name": "Grace H", "role": "Admiral", "company": "Navy", '
             b'"email": "grace@navy.example"}\n')
"""Two sales_email prospects of a user's own (a bundled scenario: the dashboard's tests and
worker processes know it)."""


def backend() -> Backend:
    return scripted_backend({"echo": lambda: [{"output": [assistant_message("noted")]}]},
                            backend_id="scripted:cases")


@pytest.fixture
def agents_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "agents"
    (folder / NAME).mkdir(parents=True)
    (folder / NAME / "echo.md").write_text(ECHO, encoding="utf-8")
    return folder


@pytest.fixture(autouse=True)
def registered(request: pytest.FixtureRequest, agents_dir: Path) -> Iterator[None]:
    """cases_lab and its backend, except for the dashboard's tests: the dashboard caches its
    catalogue for the process, and a later page test must not find cases_lab in it."""
    if "app_env" in request.fixturenames:
        yield
        return
    scenario_registry.register(dataclasses.replace(SCENARIO, agents_dir=agents_dir))
    backends.register("scripted", lambda _rest: backend(), "test backend")
    yield
    scenario_registry.unregister(NAME)
    backends.unregister("scripted")


def cases() -> InputsFile:
    return parse_inputs_file(CSV, "cases.csv", Reading)


def run_cases(store: Store, **changes: Any) -> str:
    spec = ExperimentSpec(NAME, forms=["code"], backend="scripted:cases",
                          input_rows=cases().rows, **changes)
    return run_experiment(spec, store, backend=backend()).experiment_id


def outputs(store: Store, experiment_id: str) -> dict[str, str]:
    frame = store.load_runs([experiment_id])
    return dict(zip(frame["input_id"], frame["final_output"], strict=True))


# -- the format ------------------------------------------------------------------------------

def test_csv_cells_are_coerced_by_the_input_model_and_other_columns_are_kept() -> None:
    loaded = cases()
    assert loaded.sentence() == "2 inputs from cases.csv" and loaded.ids == ["lima", "rome"]
    assert loaded.rows == [
        {"id": "lima", "label": "lima",  # no label: the id
         "data": {"city": "Lima", "temperature": 21.5, "days": 3,
                  "expected": "noted Lima 21.5 3"}},
        {"id": "rome", "label": "Rome in May",
         "data": {"city": "Rome", "temperature": 18.0, "days": 2,
                  "expected": "noted Rome 18.0 2"}},
    ]
    first = loaded.rows[0]["data"]
    assert type(first["temperature"]) is float and type(first["days"]) is int


def test_without_a_model_csv_cells_stay_text() -> None:
    loaded = parse_inputs_file(b"\xef\xbb\xbfid,n\r\na,3\r\n", "plain.csv")  # a BOM, CRLF
    assert loaded.rows == [{"id": "a", "label": "a", "data": {"n": "3"}}]


def test_jsonl_values_keep_their_json_types() -> None:
    text = ('{"id": 7, "n": 3, "x": 1.5, "ok": true, "tags": ["a"], "more": {"k": null}}\n'
            "\n"
            '{"id": "b", "label": "Bee", "city": "Lima"}\n')
    loaded = parse_inputs_file(text.encode(), "cases.jsonl")
    assert loaded.rows == [
        {"id": "7", "label": "7",
         "data": {"n": 3, "x": 1.5, "ok": True, "tags": ["a"], "more": {"k": None}}},
        {"id": "b", "label": "Bee", "data": {"city": "Lima"}},
    ]


def test_a_quoted_csv_cell_may_span_lines_and_lines_are_counted_in_the_file() -> None:
    data = b'id,note\na,"two\nlines"\n\nb,x,extra\n'
    with pytest.raises(InputsFileError) as caught:
        parse_inputs_file(data, "notes.csv")
    assert str(caught.value) == "notes.csv line 5 has 3 cells; its header (line 1) has 2."


# -- refusals: one sentence each -------------------------------------------------------------

REFUSALS = [
    ("cases.csv", b"id,city,temperature\na,Lima,21\nb,Oslo,3\nc,Rome,warm\n", Reading,
     "cases.csv line 4, field 'temperature': Input should be a valid number, unable to parse "
     "string as a number."),
    ("cases.csv", b"id,temperature\na,3\n", Reading,
     "cases.csv line 2, field 'city': Field required."),
    ("cases.jsonl", b'{"id": "a", "city": "Lima", "temperature": "hot"}\n', Reading,
     "cases.jsonl line 1, field 'temperature': Input should be a valid number, unable to "
     "parse string as a number."),
    ("cases.csv", b"name,city\nAda,Lima\n", None,
     "cases.csv has no 'id' column: its header row (line 1) must name one."),
    ("cases.jsonl", b'{"id": "a"}\n{"city": "Lima"}\n', None,
     "cases.jsonl line 2 has no 'id' field: every row needs one."),
    ("cases.csv", b"id,city\na,Lima\n,Oslo\n", None,
     "cases.csv line 3, field 'id': the id is empty."),
    ("cases.jsonl", b'{"id": ["a"]}\n', None,
     "cases.jsonl line 1, field 'id': an id is text (or a whole number), not a list."),
    ("cases.jsonl", b'{"id": "a", "label": 3}\n', None,
     "cases.jsonl line 1, field 'label': a label is text, not a number."),
    ("cases.csv", b"id,city\na,Lima\nb,Oslo\na,Rome\n", None,
     "cases.csv lines 2 and 4 both have id 'a': ids must be distinct."),
    ("cases.jsonl", b'{"id": "a"}\n{"id": "a",}\n', None,
     "cases.jsonl line 2 is not a JSON object: Expecting property name enclosed in double "
     "quotes at column 12."),
    ("cases.jsonl", b'{"id": "a"}\n["b"]\n', None,
     "cases.jsonl line 2 is not a JSON object: it holds a list."),
    ("cases.jsonl", b'{"id": "a", "t": NaN}\n', None,
     "cases.jsonl line 1 is not a JSON object: NaN is not a JSON number."),
    ("cases.csv", b"id,city\na,Lima\nb,Z\xfcrich\n", None,
     "cases.csv line 3 is not UTF-8 text: save the file as UTF-8."),
    ("cases.txt", b"id\na\n", None, "cases.txt: an inputs file ends in .csv or .jsonl, not .txt."),
    ("cases", b"id\na\n", None, "cases: an inputs file ends in .csv or .jsonl, not no ending."),
    ("cases.json", b'[{"id": "a"}]', None,
     "cases.json: an inputs file is .csv or .jsonl (one JSON object per line), not a .json "
     "document."),
    ("cases.csv", b"id,city\n", None,
     "cases.csv has no rows: an inputs file holds a header row, then one row per input."),
    ("cases.csv", b"", None,
     "cases.csv has no rows: an inputs file holds a header row, then one row per input."),
    ("cases.jsonl", b"\n  \n", None,
     "cases.jsonl has no rows: an inputs file holds one JSON object per line."),
    ("cases.csv", b"id,city\na,Lima,Peru\n", None,
     "cases.csv line 2 has 3 cells; its header (line 1) has 2."),
    ("cases.csv", b"id,city,city\na,Lima,Lima\n", None,
     "cases.csv line 1: the header names column 'city' twice."),
    ("cases.csv", b"id,,city\na,x,Lima\n", None,
     "cases.csv line 1: column 2 of the header has no name."),
]


@pytest.mark.parametrize(("name", "data", "model", "sentence"), REFUSALS,
                         ids=[s.split(":")[0] if ":" in s[:40] else s[:40]
                              for *_, s in REFUSALS])
def test_a_file_that_cannot_be_used_is_one_sentence(name: str, data: bytes,
                                                    model: type[BaseModel] | None,
                                                    sentence: str) -> None:
    with pytest.raises(InputsFileError) as caught:
        parse_inputs_file(data, name, model)
    assert str(caught.value) == sentence
    assert "\n" not in sentence and sentence.endswith(".")


def test_a_missing_or_unreadable_file_is_one_sentence(tmp_path: Path) -> None:
    missing = tmp_path / "missing.csv"
    with pytest.raises(InputsFileError) as caught:
        read_inputs_file(missing)
    assert str(caught.value) == f"{missing} cannot be read: No such file or directory."
    folder = tmp_path / "folder.jsonl"
    folder.mkdir()
    with pytest.raises(InputsFileError) as caught:
        read_inputs_file(folder)
    assert str(caught.value) == f"{folder} cannot be read: Is a directory."


# -- what runs, and what is stored -----------------------------------------------------------

def test_a_run_uses_the_rows_data_and_stores_the_rows(store: Store) -> None:
    exp_id = run_cases(store)
    # the flow saw the coerced types (21.5, 3), and the outcome read the row's ground truth
    assert outputs(store, exp_id) == {"lima": "noted Lima 21.5 3", "rome": "noted Rome 18.0 2"}
    frame = store.load_runs([exp_id])
    assert frame["success"].astype(bool).all()
    stored = store.get_experiment(exp_id)
    assert stored is not None and stored.spec["input_rows"] == cases().rows


def test_input_ids_pick_among_the_rows_and_only_those_are_stored(store: Store) -> None:
    exp_id = run_cases(store, inputs=["rome"])
    assert outputs(store, exp_id) == {"rome": "noted Rome 18.0 2"}
    stored = store.get_experiment(exp_id)
    assert stored is not None and stored.spec["input_rows"] == cases().rows[1:]
    with pytest.raises(LookupError, match="has no input 'own'; inputs: lima, rome"):
        prepare(ExperimentSpec(NAME, input_rows=cases().rows, inputs=["own"]))


def test_prepare_runs_the_rows_coerced_in_a_copy_of_the_scenario() -> None:
    spec = ExperimentSpec(NAME, input_rows=cases().rows, inputs=["lima"])
    prepared = prepare(spec)
    assert [i.id for i in prepared.scenario.inputs] == ["lima"]
    assert prepared.scenario.input("lima").data["days"] == 3
    assert prepared.spec.input_rows == cases().rows[:1]
    assert spec.input_rows == cases().rows  # the spec given is left as it was
    assert [i.id for i in scenario_registry.get_scenario(NAME).inputs] == ["own"]
    again = prepare(prepared.spec)  # a worker, a shard or a resume prepares the resolved spec
    assert again.spec == prepared.spec and again.scenario.inputs == prepared.scenario.inputs


def test_the_scenario_s_own_inputs_are_stored_too_coerced(store: Store) -> None:
    result = run_experiment(ExperimentSpec(NAME, forms=["code"], backend="scripted:cases"),
                            store, backend=backend())
    stored = store.get_experiment(result.experiment_id)
    assert stored is not None and stored.spec["input_rows"] == [
        {"id": "own", "label": "Own reading",
         "data": {"city": "Oslo", "temperature": 3.0, "expected": "noted Oslo 3.0 1",
                  "days": 1}}]  # the model's default is stored too
    assert result.records[0].final_output == "noted Oslo 3.0 1"


def test_a_scenario_input_json_cannot_hold_is_one_sentence(agents_dir: Path) -> None:
    odd = dataclasses.replace(SCENARIO, agents_dir=agents_dir, input_model=None, inputs=[
        ScenarioInput("own", "Own", {"city": "Oslo", "when": object()})])
    scenario_registry.register(odd)
    with pytest.raises(SpecError) as caught:
        prepare(ExperimentSpec(NAME))
    assert str(caught.value) == ("Scenario 'cases_lab' input 'own', field 'when': Object of "
                                 "type object is not JSON serializable: an experiment stores "
                                 "its inputs as JSON.")
    tuples = dataclasses.replace(odd, inputs=[ScenarioInput("own", "Own", {"t": (1, 2)})])
    scenario_registry.register(tuples)
    prepared = prepare(ExperimentSpec(NAME))  # stored as JSON: the flows read what is stored
    assert prepared.spec.input_rows == [{"id": "own", "label": "Own", "data": {"t": [1, 2]}}]
    assert prepared.scenario.input("own").data == {"t": [1, 2]}


@pytest.mark.parametrize(("rows", "sentence"), [
    ([], "input_rows must be a non-empty list of {id, label, data} objects."),
    ([{"id": "a", "data": {}}], "input_rows item 1 is not an {id, label, data} object with a "
     "non-empty text id, a text label and an object of data."),
    ([{"id": "a", "label": "a", "data": {"city": "x", "temperature": 1}}] * 2,
     "input_rows has id 'a' twice: ids must be distinct."),
    ([{"id": "a", "label": "a", "data": {"city": "x", "temperature": "warm"}}],
     "Input 'a' of cases_lab, field 'temperature': Input should be a valid number, unable to "
     "parse string as a number."),
])
def test_stored_rows_that_do_not_hold_together_are_one_sentence(rows: Any,
                                                                 sentence: str) -> None:
    with pytest.raises(SpecError) as caught:
        prepare(ExperimentSpec(NAME, input_rows=rows))
    assert str(caught.value) == sentence


# -- reused exactly: resume, replay, export -> import ------------------------------------------

def cancelled_after_one(store: Store, spec: ExperimentSpec) -> str:
    cancel = CancelToken()
    first = run_experiment(spec, store, backend=backend(), cancel=cancel,
                           on_progress=lambda _p: cancel.cancel())
    assert first.status == "cancelled" and store.count_runs(first.experiment_id) == 1
    return first.experiment_id


def test_a_resume_runs_the_stored_rows(store: Store) -> None:
    spec = ExperimentSpec(NAME, forms=["code"], backend="scripted:cases", concurrency=1,
                          input_rows=cases().rows)
    exp_id = cancelled_after_one(store, spec)
    resumed = resume_experiment(exp_id, store, backend=backend())
    assert [r.input_id for r in resumed.records] == ["rome"]
    assert outputs(store, exp_id) == {"lima": "noted Lima 21.5 3", "rome": "noted Rome 18.0 2"}


def test_a_resume_runs_the_scenario_inputs_it_stored_not_todays(store: Store,
                                                                agents_dir: Path) -> None:
    two = dataclasses.replace(SCENARIO, agents_dir=agents_dir, inputs=[
        *SCENARIO.inputs, ScenarioInput("bergen", "Bergen", {"city": "Bergen",
                                                             "temperature": 7})])
    scenario_registry.register(two)
    spec = ExperimentSpec(NAME, forms=["code"], backend="scripted:cases", concurrency=1)
    exp_id = cancelled_after_one(store, spec)
    changed = dataclasses.replace(two, inputs=[  # the module changed since
        ScenarioInput("bergen", "Bergen", {"city": "Bergen", "temperature": 99})])
    scenario_registry.register(changed)
    resume_experiment(exp_id, store, backend=backend())
    assert outputs(store, exp_id) == {"own": "noted Oslo 3.0 1", "bergen": "noted Bergen 7.0 1"}


def test_a_replay_runs_the_same_rows_with_the_same_data(store: Store) -> None:
    exp_id = run_cases(store)
    source = store.get_experiment(exp_id)
    assert source is not None
    spec = replay_spec(source, speed=0)
    assert spec.input_rows == source.spec["input_rows"]
    replayed = run_experiment(spec, store)  # replay:<id> reads the store ORCHLAB_STORE names
    assert {r.status for r in replayed.records} == {"ok"}  # every request was recorded
    assert outputs(store, replayed.experiment_id) == outputs(store, exp_id)
    again = store.get_experiment(replayed.experiment_id)
    assert again is not None and again.spec["input_rows"] == source.spec["input_rows"]
    part = run_experiment(replay_spec(source, speed=0, inputs=["rome"]), store)
    assert [(r.input_id, r.final_output) for r in part.records] == [("rome",
                                                                      "noted Rome 18.0 2")]


def test_export_then_import_keeps_the_rows(store: Store, tmp_path: Path) -> None:
    exp_id = run_cases(store)
    exported = export.export_file(store, exp_id, "json")
    assert json.loads(exported.data)["experiment"]["spec"]["input_rows"] == cases().rows
    fresh = Store(tmp_path / "fresh.sqlite")
    try:
        result = importer.import_file(fresh, exported.data, exported.file_name)
        imported = fresh.get_experiment(result.experiment_id)
        assert imported is not None and imported.spec["input_rows"] == cases().rows
        prepared = prepare(ExperimentSpec(**imported.spec))
        assert prepared.scenario.inputs == prepare(ExperimentSpec(
            NAME, input_rows=cases().rows)).scenario.inputs
    finally:
        fresh.close()


@pytest.mark.slow  # worker processes
def test_worker_processes_run_the_file_s_rows(store: Store) -> None:
    """Worker processes prepare the resolved spec again: the rows travel in it (a file's
    inputs are in no scenario module a worker could import)."""
    rows = parse_inputs_file(PROSPECTS, "prospects.jsonl").rows
    with FakeOpenAIServer(latency_s=0.01) as server:
        spec = ExperimentSpec("sales_email", forms=["code"], repetitions=2, concurrency=4,
                              workers=2, backend=f"compat:fake-model@{server.base_url}",
                              input_rows=rows)
        result = run_experiment(spec, store)
    assert result.worker_cpu_s > 0.0 and {r.status for r in result.records} == {"ok"}
    sent = sorted(m.to for r in result.records for m in r.outbox)
    assert sent == ["ada@engines.example"] * 2 + ["grace@navy.example"] * 2


# -- the CLI -----------------------------------------------------------------------------------

def write(tmp_path: Path, name: str, data: bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


def test_the_cli_runs_a_file_s_rows_and_replays_them(capsys: pytest.CaptureFixture[str],
                                                     tmp_path: Path) -> None:
    path = write(tmp_path, "cases.csv", CSV)
    store_file = str(tmp_path / "cli.sqlite")
    code = main(["run", "--scenario", NAME, "--forms", "code", "--backend", "scripted:x",
                 "--inputs-file", str(path), "--store", store_file])
    out, err = capsys.readouterr()
    assert code == 0, err
    exp_id = out.strip().splitlines()[-1].split()[1]
    assert err.count("] code") == 2 and " lima " in err and " rome " in err
    code = main(["run", "--scenario", NAME, "--forms", "code", "--backend", "scripted:x",
                 "--inputs-file", str(path), "--input", "rome", "--store", store_file])
    out, err = capsys.readouterr()
    assert code == 0 and err.count("] code") == 1 and " rome " in err, err
    store = Store(store_file)
    try:
        stored = store.get_experiment(exp_id)
        assert stored is not None and stored.spec["input_rows"] == cases().rows
        code = main(["replay", exp_id, "--speed", "0", "--store", store_file])
        out, err = capsys.readouterr()
        assert code == 0, err
        replay_id = out.strip().splitlines()[-1].split()[1]
        assert outputs(store, replay_id) == outputs(store, exp_id)
    finally:
        store.close()


@pytest.mark.parametrize(("name", "data", "sentence"), [
    ("cases.csv", b"id,city,temperature\na,Lima,warm\n", "{path} line 2, field 'temperature': "
     "Input should be a valid number, unable to parse string as a number."),
    ("cases.tsv", b"id\ta\n", "{path}: an inputs file ends in .csv or .jsonl, not .tsv."),
    ("missing.csv", None, "{path} cannot be read: No such file or directory."),
])
def test_the_cli_refuses_a_bad_file_in_one_line_and_runs_nothing(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, name: str, data: bytes | None,
    sentence: str,
) -> None:
    path = write(tmp_path, name, data) if data is not None else tmp_path / name
    store_file = tmp_path / "cli.sqlite"
    code = main(["run", "--scenario", NAME, "--backend", "scripted:x", "--inputs-file",
                 str(path), "--store", str(store_file)])
    _, err = capsys.readouterr()
    assert code == 2 and err == f"error: {sentence.format(path=path)}\n"
    store = Store(store_file)
    try:
        assert store.list_experiments() == []
    finally:
        store.close()


def test_the_documented_command_runs(capsys: pytest.CaptureFixture[str], store_path: Path,
                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """docs/CLI.md's `--inputs-file` command, as written, from the project root, on the
    scripted weather backend (its default backend here; no model is loaded)."""
    text = (ROOT / "docs" / "CLI.md").read_text(encoding="utf-8")
    line = next(c for c in text.splitlines() if c.startswith("python -m orchlab run")
                and "--inputs-file" in c)
    argv = shlex.split(line)[3:]
    backends.register("scripted", lambda _rest: weather_backend(), "test backend")
    monkeypatch.setenv("ORCHLAB_BACKEND", "scripted:weather")
    monkeypatch.chdir(ROOT)
    code = main(argv)
    out, err = capsys.readouterr()
    assert code == 0, err
    exp_id = out.strip().splitlines()[-1].split()[1]
    store = Store(store_path)
    try:
        frame = store.load_runs([exp_id])
        assert sorted(set(frame["input_id"])) == ["lima-umbrella", "london-run", "sydney-beach"]
        assert set(frame["status"]) == {"ok"}
    finally:
        store.close()


# -- the Run page and History ------------------------------------------------------------------

class Upload:
    """What st.file_uploader hands a page: a name and the bytes."""

    def __init__(self, name: str, data: bytes) -> None:
        self.name, self.data = name, data

    def getvalue(self) -> bytes:
        return self.data


@pytest.fixture
def uploaded(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[Upload | None]]:
    """The Run page's inputs upload returns what the test puts here (AppTest cannot upload);
    other uploaders are left as they are."""
    chosen: list[Upload | None] = [None]
    original = streamlit.file_uploader

    def file_uploader(*args: Any, **kwargs: Any) -> Any:
        if str(kwargs.get("key", "")).startswith("run_inputs_upload_"):
            return chosen[0]
        return original(*args, **kwargs)

    monkeypatch.setattr(streamlit, "file_uploader", file_uploader)
    yield chosen


def test_read_upload_gives_the_file_or_the_sentence() -> None:
    sales = scenario_registry.get_scenario("sales_email")
    loaded, problem = read_upload(sales, PROSPECTS, "prospects.jsonl")
    assert problem is None and loaded is not None and loaded.ids == ["ada", "grace"]
    loaded, problem = read_upload(sales, b"id,name\n,Ada\n", "prospects.csv")
    assert loaded is None and problem == "prospects.csv line 2, field 'id': the id is empty."


def test_the_run_page_runs_an_uploaded_file_s_inputs(app_env: Path,
                                                    uploaded: list[Upload | None]) -> None:
    uploaded[0] = Upload("prospects.jsonl", PROSPECTS)
    at = app_on()
    assert "2 inputs from prospects.jsonl" in [c.value for c in at.caption]
    inputs = next(m for m in at.multiselect if m.label == "Inputs (from the file)")
    assert list(inputs.options) == ["Ada, CTO (ada)", "grace"]
    assert inputs.value == ["Ada, CTO (ada)", "grace"]
    assert any(c.value == "This will start 4 runs: 2 forms x 2 inputs x 1 repetition."
               for c in at.caption)
    assert not at.button(key="run_start").disabled
    at.button(key="run_start").click().run()
    assert not at.exception, at.exception
    assert "run_job" in at.session_state, ([e.value for e in at.error],
                                           [w.value for w in at.warning])
    job: ExperimentJob = at.session_state["run_job"]
    assert job.spec.inputs == ["ada", "grace"]
    assert job.spec.input_rows == parse_inputs_file(PROSPECTS, "prospects.jsonl").rows
    job.join(timeout=60)
    snap = job.snapshot()
    assert snap.result is not None and {r.input_id for r in snap.records} == {"ada", "grace"}
    assert {r.status for r in snap.records} == {"ok"}
    sent = [m.to for r in snap.records if r.form == "code" for m in r.outbox]  # code sends
    assert sorted(sent) == ["ada@engines.example", "grace@navy.example"]  # to the file's data
    stored = Store(app_env).get_experiment(snap.result.experiment_id)
    assert stored is not None and stored.spec["input_rows"] == job.spec.input_rows


def test_a_refused_upload_is_one_error_and_run_is_disabled(app_env: Path,
                                                           uploaded: list[Upload | None]
                                                           ) -> None:
    uploaded[0] = Upload("prospects.csv", b"id,name\nada,Ada\nada,Ada again\n")
    at = app_on()
    sentence = "prospects.csv lines 2 and 3 both have id 'ada': ids must be distinct."
    assert [e.value for e in at.error] == [escape_md(sentence)]
    assert at.button(key="run_start").disabled
    assert "Inputs" in [m.label for m in at.multiselect]  # the scenario's own, as before
    uploaded[0] = None
    at.run()
    assert not at.error and not at.button(key="run_start").disabled


def test_history_shows_the_inputs_an_experiment_ran(app_env: Path) -> None:
    rows = parse_inputs_file(PROSPECTS, "prospects.jsonl").rows
    spec = ExperimentSpec("sales_email", forms=["code"], backend="scripted:sales",
                          input_rows=rows, inputs=["grace"])
    store = Store(app_env)
    run_experiment(spec, store, backend=sales_backend())
    at = app_on("views/history.py")
    expander = next(e for e in at.expander if e.label == "Inputs (1)")
    table = expander.dataframe[0].value
    assert list(table.columns) == ["id", "label", "data"]
    assert table.to_dict(orient="records") == [
        {"id": "grace", "label": "grace", "data": json.dumps(rows[1]["data"])}]


def test_history_says_when_an_experiment_stored_no_inputs(app_env: Path) -> None:
    store = Store(app_env)
    exp_id = run_experiment(ExperimentSpec("sales_email", forms=["code"], inputs=["dana-acme"],
                                           backend="scripted:sales"),
                            store, backend=sales_backend()).experiment_id
    with sqlite3.connect(app_env) as conn:  # as an experiment stored before input_rows
        (text,) = conn.execute("SELECT spec_json FROM experiments WHERE experiment_id=?",
                               (exp_id,)).fetchone()
        spec = {k: v for k, v in json.loads(text).items() if k != "input_rows"}
        conn.execute("UPDATE experiments SET spec_json=? WHERE experiment_id=?",
                     (json.dumps(spec), exp_id))
    at = app_on("views/history.py")
    expander = next(e for e in at.expander if e.label == "Inputs")
    assert [c.value for c in expander.caption][0].startswith("Not stored with this experiment")


def test_history_resumes_and_replays_with_the_stored_rows(app_env: Path) -> None:
    rows = parse_inputs_file(PROSPECTS, "prospects.jsonl").rows
    spec = ExperimentSpec("sales_email", forms=["code"], backend="scripted:sales",
                          concurrency=1, input_rows=rows)
    store = Store(app_env)
    cancel = CancelToken()
    first = run_experiment(spec, store, backend=sales_backend(), cancel=cancel,
                           on_progress=lambda _p: cancel.cancel())
    assert first.status == "cancelled" and store.count_runs(first.experiment_id) == 1
    at = app_on("views/history.py")
    next(b for b in at.button if b.label.startswith("Resume")).click().run()
    assert not at.exception, at.exception
    job: ExperimentJob = at.session_state["run_job"]
    job.join(timeout=60)
    assert [r.input_id for r in job.snapshot().records] == ["grace"]
    assert [m.to for r in job.snapshot().records for m in r.outbox] == ["grace@navy.example"]
    at = app_on("views/history.py")
    at.selectbox(key="history_chosen").set_value(first.experiment_id).run()
    next(b for b in at.button if b.label == "Replay on the Run page").click().run()
    assert not at.exception, at.exception
    replay: ExperimentJob = at.session_state["run_job"]
    assert replay.spec.input_rows == rows
    replay.join(timeout=60)
    records = replay.snapshot().records
    assert sorted(r.input_id for r in records) == ["ada", "grace"]
    assert {r.status for r in records} == {"ok"}
