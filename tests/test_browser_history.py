"""History in chromium: both downloads are the CLI's bytes, and a delete confirmation belongs to
one experiment (it does not follow the selection, and a delete does not pre-confirm the next)."""

from __future__ import annotations

import contextlib
import csv
import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from test_browser_e2e import CHROMIUM, CHROMIUM_FLAGS, choose, open_page, streamlit_app
from test_history import strict_json, two_experiments

from orchlab.cli.main import main
from orchlab.store.store import Store

pytestmark = [pytest.mark.browser]
NO_BACKEND = "compat:none@http://127.0.0.1:9/v1"  # History needs none


def cli_export(store: Path, experiment_id: str, fmt: str, out: Path) -> bytes:
    assert main(["export", experiment_id, "--format", fmt, "--output", str(out),
                 "--store", str(store)]) == 0
    return out.read_bytes()


def download(page: Any, label: str) -> bytes:
    with page.expect_download() as info:
        page.get_by_role("button", name=label).click()
    return Path(info.value.path()).read_bytes()


def confirm_box(page: Any, experiment_id: str) -> Any:
    return page.get_by_role("checkbox", name=f"Yes, delete {experiment_id} and its runs")


def test_history_downloads_and_delete_in_chromium(tmp_path: Path) -> None:
    from playwright.sync_api import expect, sync_playwright

    store = tmp_path / "history.sqlite"
    older, newer = two_experiments(store)
    expected = {fmt: cli_export(store, newer, fmt, tmp_path / f"cli.{fmt}")
                for fmt in ("json", "csv")}
    with streamlit_app(store, NO_BACKEND) as url, sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
        page = open_page(browser, url, "history", "History", accept_downloads=True)
        got = {fmt: download(page, f"Download {fmt.upper()}") for fmt in ("json", "csv")}

        delete = page.get_by_role("button", name="Delete experiment")
        page.get_by_text(f"Yes, delete {newer} and its runs").click()
        expect(delete).to_be_enabled()
        choose(page, "Experiment", older)
        expect(confirm_box(page, older)).not_to_be_checked()
        expect(delete).to_be_disabled()

        page.get_by_text(f"Yes, delete {older} and its runs").click()
        expect(delete).to_be_enabled()
        delete.click()
        expect(page.get_by_text(f"Deleted {older}.")).to_be_visible(timeout=20_000)
        expect(confirm_box(page, newer)).not_to_be_checked()
        expect(delete).to_be_disabled()
        browser.close()

    assert got == expected
    exported = strict_json(got["json"])
    assert exported["experiment"]["experiment_id"] == newer
    assert [r["cost_usd"] for r in exported["runs"]] == [None]
    (row,) = list(csv.DictReader(io.StringIO(got["csv"].decode("utf-8"))))
    assert row["cost_usd"] == "" and row["experiment_id"] == newer
    opened = Store(store)
    try:
        assert [e.experiment_id for e in opened.list_experiments()] == [newer]
    finally:
        opened.close()


def test_history_upload_imports_a_file_in_chromium(tmp_path: Path) -> None:
    """A real upload (Streamlit's upload endpoint): the experiment appears; a cut file is one
    sentence and the store keeps what it had."""
    from playwright.sync_api import expect
    from test_import import make_source, snapshot

    source = make_source(tmp_path)
    cut = tmp_path / "cut.json"
    cut.write_bytes(source.file.read_bytes()[:700])
    store = tmp_path / "history.sqlite"
    with streamlit_app(store, NO_BACKEND) as url, sync_playwright_browser() as browser:
        page = open_page(browser, url, "history", "History")
        page.locator("input[type=file]").set_input_files(str(source.file))
        expect(page.get_by_text(f"imported {source.experiment_id}: 4 runs")).to_be_visible(
            timeout=20_000)
        expect(page.get_by_role("combobox", name="Experiment", exact=True)).to_be_visible()
        before = snapshot(store)
        page.get_by_text("Import an experiment file").click()  # open the expander again
        page.locator("input[type=file]").set_input_files(str(cut))
        expect(page.get_by_text("cut.json is not complete JSON")).to_be_visible(timeout=20_000)
    assert before[1]["runs"] == 4 and snapshot(store) == before


@contextlib.contextmanager
def sync_playwright_browser() -> Iterator[Any]:
    """Chromium as the browser tests start it, closed on the way out."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
        try:
            yield browser
        finally:
            browser.close()
