"""In chromium: the Run page's result, drawn where the live panel was, is the same result after
the full rerun that follows it. That rerun (it stops the live panel's timer) comes a moment
after the result shows; the result it draws used to sit one level higher in the page, so the
browser built it anew and a section the user had just opened closed under their eyes."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from test_browser_e2e import (
    CHROMIUM,
    CHROMIUM_FLAGS,
    completed,
    fill_run_form,
    open_run_page,
    press_run,
    streamlit_app,
)

from orchlab.testing.devserver import FakeOpenAIServer

pytestmark = [pytest.mark.browser]

SETTLE_S = 4.0
"""Longer than the live panel's timer (views/run.py REFRESH_S): the full rerun has come."""


def test_a_section_opened_in_a_fresh_result_stays_open(tmp_path: Path) -> None:
    from playwright.sync_api import expect, sync_playwright

    with FakeOpenAIServer(latency_s=0.02, keep_alive=True) as server, \
            streamlit_app(tmp_path / "result.sqlite",
                          f"compat:fake-model@{server.base_url}") as url, \
            sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
        page = open_run_page(browser, url)
        main = page.get_by_test_id("stMain")
        fill_run_form(page, 2)
        last = None
        for _ in range(2):  # the old code failed on the first; a second covers a late click
            press_run(page)
            last = completed(page, 4, timeout_s=60, not_id=last)  # 2 forms x 2 repetitions
            # At once, before the full rerun: the section opens.
            main.get_by_text("The race, as it ended", exact=True).click()
            toggle = main.get_by_text("Draw the race's figure", exact=True)
            expect(toggle).to_be_visible(timeout=5_000)
            time.sleep(SETTLE_S)
            expect(page.get_by_test_id("stStatusWidget")).to_have_count(0, timeout=30_000)
            assert toggle.is_visible(), "the result was drawn anew and its open section closed"
            main.get_by_text("The race, as it ended", exact=True).click()  # closed for the next
            expect(toggle).not_to_be_visible(timeout=5_000)
        browser.close()
