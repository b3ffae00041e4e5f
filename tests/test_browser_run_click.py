"""In chromium (issue 23): one press of Run starts the experiment the page shows, whatever field
was typed into just before. The value is typed, never committed (no Enter, no Tab, no blur),
and Run is clicked at once: the click itself commits it, and its rerun must not eat the press."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from test_browser_e2e import (
    CHROMIUM,
    CHROMIUM_FLAGS,
    choose,
    completed,
    open_run_page,
    press_run,
    stored_runs,
    streamlit_app,
)

from orchlab.testing.devserver import FakeOpenAIServer

pytestmark = [pytest.mark.browser]

FIELDS = [  # the number typed into, and the spec field and value the experiment must have
    ("Repetitions per form and input", "4", "repetitions", 4),  # the run count follows it
    ("Repetitions per form and input", "3", "repetitions", 3),
    ("max_turns", "7", "max_turns", 7),  # settings under it
    ("Per-run timeout (s)", "45", "timeout_s", 45.0),
]
"""A lost press was a race (the press's rerun interrupted by the commit's): repetitions twice."""


def type_then_run(page: Any, box: Any, typed: str) -> None:
    """Type into a field, leave it uncommitted, and press Run once, at once."""
    from playwright.sync_api import expect

    box.click()
    box.fill(typed)
    expect(box).to_be_focused()  # nothing has committed it: no Enter, no Tab
    press_run(page)


def test_one_press_of_run_right_after_typing_starts_what_the_page_shows(tmp_path: Path) -> None:
    from playwright.sync_api import expect, sync_playwright

    store = tmp_path / "click.sqlite"
    with FakeOpenAIServer(latency_s=0.02, keep_alive=True) as server, \
            streamlit_app(store, f"compat:fake-model@{server.base_url}") as url, \
            sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
        page = open_run_page(browser, url)
        last = None
        for label, typed, field, _value in FIELDS:
            type_then_run(page, page.get_by_role("spinbutton", name=label, exact=True), typed)
            runs = 2 * (int(typed) if field == "repetitions" else 3)  # two forms, one input
            last = completed(page, runs, timeout_s=30, not_id=last)
            expect(page.get_by_text(f"This will start {runs} runs: ", exact=False)
                   ).to_be_visible()

        # A text field in the sidebar: the backend's model, typed just before Run.
        sidebar = page.get_by_test_id("stSidebar")
        choose(page, "Model backend", "OpenAI-compatible server")
        base_url = sidebar.get_by_role("textbox", name="Base URL", exact=True)
        base_url.fill(server.base_url)
        base_url.press("Enter")
        expect(sidebar.get_by_text(re.compile(r"^compat:llama3\.2@http://127"))).to_be_visible()
        type_then_run(page, sidebar.get_by_role("textbox", name="Model", exact=True),
                      "fake-model")
        completed(page, 2 * 3, timeout_s=30, not_id=last)
        browser.close()
    experiments, _runs = stored_runs(store)
    assert len(experiments) == len(FIELDS) + 1, [(e.backend, e.spec) for e in experiments]
    *by_field, by_model = reversed(experiments)  # the store lists the newest first
    for experiment, (_label, _typed, field, value) in zip(by_field, FIELDS, strict=True):
        assert experiment.spec[field] == value, (field, experiment.spec)
        if field != "repetitions":
            assert experiment.spec["repetitions"] == 3, experiment.spec  # the value kept on
    assert by_model.backend == f"compat:fake-model@{server.base_url}", by_model.backend
    assert by_model.spec["max_turns"] == 7 and by_model.spec["timeout_s"] == 45.0
