"""History: a delete confirmation belongs to one experiment, and exports have one path.

The CLI's `export` and History's download buttons must hand out the same bytes, strict JSON
(missing values null, never NaN) and CSV with empty cells for missing values.
"""

from __future__ import annotations

import csv
import io
import json
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from apptest_pages import app_on
from sales_scripts import sales_backend
from streamlit.runtime.memory_media_file_storage import MemoryMediaFileStorage
from streamlit.testing.v1 import AppTest

from orchlab.cli.main import main
from orchlab.running.runner import ExperimentSpec, run_experiment
from orchlab.store.store import Store

MISSING_TEXT = ("nan", "none", "<na>", "null")


def two_experiments(path: Path) -> tuple[str, str]:
    """Two stored experiments (one code run each; the second's cost unknown), oldest first."""
    store = Store(path)
    try:
        ids = [run_experiment(ExperimentSpec("sales_email", forms=["code"], inputs=["dana-acme"],
                                             backend="scripted:sales"),
                              store, backend=sales_backend()).experiment_id for _ in range(2)]
    finally:
        store.close()
    with sqlite3.connect(path) as conn:  # as a backend with no known price records it
        conn.execute("UPDATE runs SET cost_usd=NULL WHERE experiment_id=?", (ids[1],))
    return ids[0], ids[1]


def strict_json(text: str | bytes) -> Any:
    """json.loads that refuses NaN and Infinity, which are not JSON."""
    def refuse(constant: str) -> None:
        raise ValueError(f"not JSON: {constant}")

    return json.loads(text, parse_constant=refuse)




def confirm_box(at: AppTest) -> Any:
    """The delete confirmation, whatever experiment it names."""
    boxes = [c for c in at.checkbox if c.label.startswith("Yes, delete ")]
    assert len(boxes) == 1, [c.label for c in boxes]
    return boxes[0]


def delete_button(at: AppTest) -> Any:
    return next(b for b in at.button if b.label == "Delete experiment")


@pytest.fixture
def downloads(monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, bytes]]:
    """File name -> bytes of every download the page served."""
    served: dict[str, bytes] = {}
    original = MemoryMediaFileStorage.load_and_get_id

    def record(self: MemoryMediaFileStorage, data: str | bytes, mimetype: str, kind: Any,
               filename: str | None = None) -> str:
        if filename is not None and isinstance(data, bytes):
            served[filename] = data
        return original(self, data, mimetype, kind, filename)

    monkeypatch.setattr(MemoryMediaFileStorage, "load_and_get_id", record)
    yield served


def test_a_confirmation_does_not_follow_the_selection(app_env: Path) -> None:
    older, newer = two_experiments(app_env)
    at = app_on("views/history.py")
    at.selectbox(key="history_chosen").set_value(older).run()
    confirm_box(at).check().run()
    assert confirm_box(at).value and not delete_button(at).disabled

    at.selectbox(key="history_chosen").set_value(newer).run()
    assert not at.exception, at.exception
    box = confirm_box(at)
    assert box.label == f"Yes, delete {newer} and its runs"
    assert not box.value and delete_button(at).disabled
    at.selectbox(key="history_chosen").set_value(older).run()  # nor is it kept for later
    assert not confirm_box(at).value and delete_button(at).disabled


def test_a_delete_says_so_and_the_next_experiment_is_not_confirmed(app_env: Path) -> None:
    older, newer = two_experiments(app_env)
    at = app_on("views/history.py")
    at.selectbox(key="history_chosen").set_value(older).run()
    confirm_box(at).check().run()
    delete_button(at).click().run()
    assert not at.exception, at.exception
    assert [s.value for s in at.success] == [f"Deleted {older}."]
    store = Store(app_env)
    try:
        assert [e.experiment_id for e in store.list_experiments()] == [newer]
        assert store.count_runs(newer) == 1
    finally:
        store.close()
    assert at.selectbox(key="history_chosen").value == newer
    assert not confirm_box(at).value and delete_button(at).disabled

    at.run()  # the message was for the render after the delete only
    assert not at.success


@pytest.mark.parametrize("fmt", ["json", "csv"])
def test_cli_export_and_history_download_are_the_same_bytes(
    app_env: Path, tmp_path: Path, downloads: dict[str, bytes], fmt: str
) -> None:
    _, newer = two_experiments(app_env)
    at = app_on("views/history.py")
    assert at.selectbox(key="history_chosen").value == newer
    out = tmp_path / f"cli.{fmt}"
    assert main(["export", newer, "--format", fmt, "--output", str(out), "--store",
                 str(app_env)]) == 0
    assert downloads[f"{newer}.{fmt}"] == out.read_bytes()


def test_json_export_is_strict_with_the_experiment_and_an_unknown_cost_null(
    app_env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _, newer = two_experiments(app_env)
    assert main(["export", newer, "--format", "json", "--store", str(app_env)]) == 0
    exported = strict_json(capsys.readouterr().out)
    experiment = exported["experiment"]
    assert experiment["experiment_id"] == newer and experiment["variant"] == "original"
    assert experiment["spec"]["scenario"] == "sales_email"
    assert experiment["spec"]["forms"] == ["code"]
    (run,) = exported["runs"]
    assert run["cost_usd"] is None and run["error_class"] is None and run["success"] is True
    assert run["spans"] and run["outbox"]


def test_csv_export_leaves_missing_values_empty(
    app_env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _, newer = two_experiments(app_env)
    assert main(["export", newer, "--format", "csv", "--store", str(app_env)]) == 0
    (row,) = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert row["cost_usd"] == "" and row["error_class"] == "" and row["error_type"] == ""
    assert not [k for k, v in row.items() if v.strip().lower() in MISSING_TEXT]
