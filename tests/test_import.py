"""Import of an experiment file (`python -m orchlab import`, History's upload): a round trip
gives the same bytes, taken ids are remapped with a notice, and a refused file is one sentence
that leaves the store as it was."""

from __future__ import annotations

import contextlib
import json
import sqlite3
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from apptest_pages import app_on
from cli_calls import run_cli
from sales_scripts import sales_backend

from orchlab import backends
from orchlab.cli.main import main
from orchlab.running.runner import ExperimentSpec, run_experiment
from orchlab.store.export import FILE_VERSION
from orchlab.store.store import Store

V1_SPAN_FIELDS = ("span_id", "name", "kind", "start_ms", "end_ms", "model", "input_tokens",
                  "output_tokens", "agent", "error", "parent")
"""What a span held in files before version 2."""


@dataclass
class Source:
    """A store holding one scripted experiment, and that experiment's JSON export."""

    store: Path
    experiment_id: str
    file: Path

    @property
    def text(self) -> str:
        return self.file.read_text(encoding="utf-8")

    def document(self) -> dict[str, Any]:
        return json.loads(self.text)  # type: ignore[no-any-return]


@pytest.fixture(autouse=True)
def scripted_prefix() -> Iterator[None]:
    backends.register("scripted", lambda _rest: sales_backend(), "test backend")
    yield
    backends.unregister("scripted")


def make_source(directory: Path) -> Source:
    """sales_email in two forms, two repetitions, on the scripted sales models."""
    path = directory / "source.sqlite"
    store = Store(path)
    try:
        spec = ExperimentSpec("sales_email", forms=["code", "llm"], inputs=["dana-acme"],
                              repetitions=2, backend="scripted:sales")
        exp_id = run_experiment(spec, store, backend=sales_backend()).experiment_id
    finally:
        store.close()
    file = directory / f"{exp_id}.json"
    assert main(["export", exp_id, "--format", "json", "-o", str(file), "--store",
                 str(path)]) == 0
    return Source(path, exp_id, file)


@pytest.fixture
def source(tmp_path: Path) -> Source:
    return make_source(tmp_path)


def export_text(store: Path | str, experiment_id: str, out: Path) -> str:
    assert main(["export", experiment_id, "--format", "json", "-o", str(out), "--store",
                 str(store)]) == 0
    return out.read_text(encoding="utf-8")


def snapshot(path: Path) -> tuple[list[Any], dict[str, int]]:
    """Every experiment row, and how many rows each run table holds."""
    with contextlib.closing(sqlite3.connect(path)) as conn:
        experiments = conn.execute("SELECT * FROM experiments ORDER BY experiment_id").fetchall()
        counts = {table: conn.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0]
                  for table in ("runs", "spans", "outbox", "model_calls")}
    return experiments, counts


def test_export_import_export_gives_the_same_bytes(
        source: Source, tmp_path: Path, store_location: str,
        capsys: pytest.CaptureFixture[str]) -> None:
    target = store_location  # a SQLite file, then a PostgreSQL database
    code, out, err = run_cli(capsys, "import", str(source.file), "--store", target)
    assert (code, out, err) == (0, f"imported {source.experiment_id}: 4 runs\n", "")
    again = export_text(target, source.experiment_id, tmp_path / "again.json")
    assert again == source.text
    if "://" not in target:
        _, counts = snapshot(Path(target))
        assert counts == snapshot(source.store)[1] and counts["model_calls"] > 0


def test_imported_model_calls_are_the_originals(source: Source, store_location: str) -> None:
    target = store_location
    assert main(["import", str(source.file), "--store", str(target)]) == 0
    original, imported = Store(source.store), Store(target)
    try:
        run_ids = list(original.load_runs([source.experiment_id])["run_id"])
        assert len(run_ids) == 4
        for run_id in run_ids:
            assert imported.load_calls(run_id) == original.load_calls(run_id) != []
        exp = imported.get_experiment(source.experiment_id)
        assert exp is not None and exp.records_calls and exp.created_at.tzinfo is not None
    finally:
        original.close()
        imported.close()


def test_an_imported_experiment_replays_with_the_original_paths(
        source: Source, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    target = tmp_path / "target.sqlite"
    assert main(["import", str(source.file), "--store", str(target)]) == 0
    code, out, err = run_cli(capsys, "replay", source.experiment_id, "--speed", "0", "--store",
                         str(target))
    assert code == 0, err
    replay_id = out.strip().splitlines()[-1].split()[1]
    store = Store(target)
    try:
        def paths(exp_id: str) -> dict[tuple[str, str, int], tuple[str, str]]:
            frame = store.load_runs([exp_id])
            return {(r.form, r.input_id, r.repetition): (r.path, r.status)
                    for r in frame.itertuples()}

        assert paths(replay_id) == paths(source.experiment_id)
        assert len(paths(replay_id)) == 4
    finally:
        store.close()


def test_an_import_into_the_same_store_is_remapped_with_a_notice(
        source: Source, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    before = source.document()
    code, out, err = run_cli(capsys, "import", str(source.file), "--store", str(source.store))
    assert code == 0, err
    first, note = out.splitlines()
    new_id = first.split()[1].rstrip(":")
    assert first == f"imported {new_id}: 4 runs" and new_id != source.experiment_id
    assert note == (f"note: The store already held {source.experiment_id} and 4 of its run "
                    f"ids, so the experiment was imported as {new_id} with new run ids.")
    second = export_text(source.store, new_id, tmp_path / "second.json")
    new_runs = json.loads(second)["runs"]
    renamed = {source.experiment_id: new_id} | {
        old["run_id"]: new["run_id"] for old, new in zip(before["runs"], new_runs, strict=True)}
    assert not set(renamed.values()) & set(renamed)  # every id is new
    expected = source.text
    for old, new in renamed.items():
        expected = expected.replace(old, new)
    assert second == expected
    _, counts = snapshot(source.store)
    assert counts["runs"] == 8


def truncated(doc: dict[str, Any], text: str, name: str) -> tuple[str, str]:
    lines = text.splitlines()[:40]
    return ("\n".join(lines), f"{name} is not complete JSON (it stops at line 40, column "
                              f"{len(lines[-1]) + 1}).")


def newer(doc: dict[str, Any], text: str, name: str) -> tuple[str, str]:
    doc["version"] = FILE_VERSION + 1
    return (json.dumps(doc), f"{name} was written by a newer Orchestration Lab (file version "
                             f"{FILE_VERSION + 1}; this one reads up to {FILE_VERSION}).")


def run_twice(doc: dict[str, Any], text: str, name: str) -> tuple[str, str]:
    doc["runs"][2]["run_id"] = doc["runs"][0]["run_id"]
    return json.dumps(doc), f"{name} lists run {doc['runs'][0]['run_id']} twice."


def foreign(doc: dict[str, Any], text: str, name: str) -> tuple[str, str]:
    return (json.dumps({"name": "sales", "items": [1, 2]}),
            f'{name} is not an Orchestration Lab experiment file (it has no "experiment" '
            'object and "runs" list).')


def mistyped(doc: dict[str, Any], text: str, name: str) -> tuple[str, str]:
    doc["runs"][1]["wall_ms"] = "fast"
    return (json.dumps(doc), f"Run {doc['runs'][1]['run_id']} in {name} has wall_ms = "
                             '"fast", which is not a number.')


def missing_span_field(doc: dict[str, Any], text: str, name: str) -> tuple[str, str]:
    del doc["runs"][3]["spans"][2]["kind"]
    return (json.dumps(doc), f"Span 3 of run {doc['runs'][3]['run_id']} in {name} has no "
                             "field 'kind'.")


def other_experiment(doc: dict[str, Any], text: str, name: str) -> tuple[str, str]:
    doc["runs"][3]["experiment_id"] = "exp-elsewhere"
    return (json.dumps(doc), f"Run {doc['runs'][3]['run_id']} in {name} belongs to experiment "
                             f"exp-elsewhere, not {doc['experiment']['experiment_id']}.")


Breakage = Callable[[dict[str, Any], str, str], tuple[str, str]]


@pytest.mark.parametrize("breakage", [truncated, newer, run_twice, foreign, mistyped,
                                      missing_span_field, other_experiment],
                         ids=lambda f: f.__name__)
@pytest.mark.parametrize("into", ["empty", "same"])
def test_a_refused_file_is_one_sentence_and_changes_nothing(
        source: Source, tmp_path: Path, capsys: pytest.CaptureFixture[str],
        breakage: Breakage, into: str) -> None:
    target = source.store if into == "same" else tmp_path / "empty.sqlite"
    Store(target).close()
    bad = tmp_path / "broken.json"
    text, sentence = breakage(source.document(), source.text, bad.name)
    bad.write_text(text, encoding="utf-8")
    before = snapshot(target)
    code, out, err = run_cli(capsys, "import", str(bad), "--store", str(target))
    assert (code, out, err) == (2, "", f"error: {sentence}\n")
    assert snapshot(target) == before


def test_a_version_1_file_is_imported_as_not_replayable(
        source: Source, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    doc = source.document()
    del doc["format"], doc["version"], doc["experiment"]["records_calls"]
    del doc["experiment"]["replay_of"]
    for run in doc["runs"]:
        del run["calls"]
        run["spans"] = [{k: s[k] for k in V1_SPAN_FIELDS} for s in run["spans"]]
    old = tmp_path / "v1.json"
    old.write_text(json.dumps(doc), encoding="utf-8")
    target = tmp_path / "target.sqlite"
    code, out, err = run_cli(capsys, "import", str(old), "--store", str(target))
    assert (code, out) == (0, f"imported {source.experiment_id}: 4 runs\n"), err
    store = Store(target)
    try:
        exp = store.get_experiment(source.experiment_id)
        assert exp is not None and not exp.records_calls
        run_id = doc["runs"][0]["run_id"]
        assert [s.seq for s in store.load_spans(run_id)] == list(range(len(doc["runs"][0]
                                                                           ["spans"])))
        assert store.load_calls(run_id) == []
    finally:
        store.close()


def test_history_upload_imports_and_says_what_happened(app_env: Path, tmp_path: Path) -> None:
    src = make_source(tmp_path)
    at = app_on("views/history.py")
    at.file_uploader(key="history_upload").set_value(
        (src.file.name, src.file.read_bytes(), "application/json")).run()
    assert not at.exception, at.exception
    assert [s.value for s in at.success] == [f"imported {src.experiment_id}: 4 runs"]
    assert src.experiment_id in at.selectbox(key="history_chosen").options
    at.run()  # a rerun does not import the file again
    assert not at.success and snapshot(app_env)[1]["runs"] == 4

    at.file_uploader(key="history_upload").set_value(
        (src.file.name, src.file.read_bytes(), "application/json")).run()
    assert [i.value for i in at.info][-1].startswith(
        f"The store already held {src.experiment_id} and 4 of its run ids")
    assert snapshot(app_env)[1]["runs"] == 8

    before = snapshot(app_env)
    at.file_uploader(key="history_upload").set_value(
        ("cut.json", src.file.read_bytes()[:500], "application/json")).run()
    assert not at.exception, at.exception
    (error,) = at.error
    assert error.value.startswith("cut.json is not complete JSON (it stops at line ")
    assert snapshot(app_env) == before
