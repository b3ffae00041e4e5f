"""In chromium (issue 28): two backends picked in the Backends list (one typed in, not offered)
and an agent given its own model in the Agent models table, then one press of Run. The stored
experiment's spec is what `orchlab run --backend A --backend B --agent-backend AGENT=C
--assignment NAME` stores for the same choices. The three backends are three models of one fake
OpenAI-compatible server on 127.0.0.1, which the dashboard's experiment process opens by id."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path
from typing import Any

import pytest
from test_browser_e2e import (
    ARTIFACTS,
    CHROMIUM,
    CHROMIUM_FLAGS,
    completed,
    open_run_page,
    press_run,
    stored_runs,
    streamlit_app,
)

from orchlab import backends
from orchlab.cli import main as cli
from orchlab.running.spec import assignment_name, prepare
from orchlab.testing.devserver import FakeOpenAIServer

pytestmark = [pytest.mark.browser]

MODELS = ("fake-model", "fake-model-b", "fake-model-c")
AGENT = "sales_manager"
"""The agent given its own model: the LLM-orchestrated form's orchestrator."""
ASSIGNMENT = "manager apart"
AGENT_ROW = 6
"""`AGENT`'s row in the table (from 0): the sales agents, sorted by file name."""
ROW_PX = 35
"""The height of the grid's header and of each of its rows."""


def add_backend(page: Any, backend_id: str) -> None:
    """Type an id the Backends list does not offer, and add it (Enter)."""
    box = page.get_by_role("combobox", name="Backends")
    box.click()
    box.fill(backend_id)
    box.press("Enter")
    page.keyboard.press("Escape")


def type_into_table(page: Any, row: int, text: str) -> None:
    """Type into the Backend cell of a row of the Agent models table, as a user does: a
    double click opens the cell's editor, Enter commits it. The grid is drawn on a canvas, its
    header and rows 35 px high; the Backend column is its right half."""
    editor = page.locator("textarea.gdg-input")
    for _attempt in range(6):  # a rerun that moves the grid as the click lands: click again
        canvas = page.get_by_test_id("data-grid-canvas").first
        canvas.scroll_into_view_if_needed()
        box = canvas.bounding_box()
        assert box is not None
        page.mouse.dblclick(box["x"] + box["width"] * 0.75, box["y"] + ROW_PX * (row + 1.5))
        try:
            editor.wait_for(state="visible", timeout=5_000)
            break
        except Exception:  # noqa: BLE001 - Playwright's timeout: the editor did not open
            page.keyboard.press("Escape")
    editor.fill(text)
    editor.press("Enter")


def resolved_ids(spec: dict[str, Any]) -> dict[str, Any]:
    """A spec with its backend ids as the runner stores them (each backend's resolved id), so
    a spec the CLI path makes compares like with like with the one the store holds."""
    def opened(backend_id: str) -> str:
        return backends.resolve(backend_id).id

    return {**spec, "backend": opened(spec["backend"]),
            "backends": [opened(b) for b in spec["backends"]],
            "agent_backends": {a: opened(b) for a, b in spec["agent_backends"].items()}}


def test_a_matrix_and_an_agents_model_picked_in_the_browser_store_the_clis_spec(
        tmp_path: Path) -> None:
    from playwright.sync_api import expect, sync_playwright

    store = tmp_path / "matrix.sqlite"
    with FakeOpenAIServer(models=MODELS, latency_s=0.02, keep_alive=True) as server:
        first, second, third = (f"compat:{m}@{server.base_url}" for m in MODELS)
        with streamlit_app(store, first) as url, sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
            page = open_run_page(browser, url)
            expect(page.get_by_text("This will start 2 runs: 2 forms x 1 input x 1 "
                                    "repetition.")).to_be_visible()
            add_backend(page, second)
            expect(page.get_by_text("This will start 4 runs: 2 forms x 2 backends x 1 input "
                                    "x 1 repetition.")).to_be_visible(timeout=30_000)

            page.get_by_text("Agent models: a model per agent (optional)").click()
            name = page.get_by_role("textbox", name="Assignment name (optional)")
            expect(name).to_be_visible()
            type_into_table(page, AGENT_ROW, third)
            expect(name).to_have_attribute("placeholder", assignment_name({AGENT: third}),
                                           timeout=30_000)  # the table's edit reached the page
            name.fill(ASSIGNMENT)  # left uncommitted: the press of Run commits it
            page.screenshot(path=str(ARTIFACTS / "run_matrix_choices.png"), full_page=True)
            press_run(page)
            completed(page, 4, timeout_s=120)
            browser.close()

        experiments, runs = stored_runs(store)
        assert len(experiments) == 1, [(e.backend, e.spec) for e in experiments]
        experiment = experiments[0]
        args = cli.build_parser().parse_args([
            "run", "--scenario", "sales_email", "--input", "dana-acme", "--backend", first,
            "--backend", second, "--agent-backend", f"{AGENT}={third}", "--assignment",
            ASSIGNMENT])
        expected = resolved_ids(dataclasses.asdict(prepare(cli.spec_from_args(args)).spec))
        assert experiment.spec == expected
        assert experiment.spec["agent_backends"] == {AGENT: third}
        assert experiment.spec["assignment"] == ASSIGNMENT
        assert experiment.status == "completed" and len(runs) == 4
        assert sorted(runs["backend"]) == sorted(2 * [first, second])
        bad = runs[(runs["status"] != "ok") | runs["error_class"].notna()]
        assert bad.empty, bad[["form", "status", "error_class", "error_message"]].to_string()
        assert re.fullmatch(r"compat:fake-model@http://127\.0\.0\.1:\d+/v1 \+ "
                            r"compat:fake-model-b@http://127\.0\.0\.1:\d+/v1", experiment.backend)
        assert models_called(store, runs) == {  # each agent's calls went to its model
            (AGENT, "fake-model-c"),
            *((agent, model) for agent in ("concise_writer", "humorous_writer", "picker",
                                           "professional_writer") for model in MODELS[:2])}


def models_called(store: Path, runs: Any) -> set[tuple[str | None, str | None]]:
    """(agent, model) of every stored generation span: which model each agent's calls went
    to, on either backend of the matrix."""
    from orchlab.store.store import Store

    opened = Store(store)
    try:
        return {(span.agent, span.model) for run_id in runs["run_id"]
                for span in opened.load_spans(run_id) if span.kind == "generation"}
    finally:
        opened.close()
