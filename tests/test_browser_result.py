"""In chromium: the Run page's result, drawn where the live panel was, is the same result after
the full rerun that follows it. That rerun (it stops the live panel's timer) comes a moment
after the result shows. Two ways it closed a section the user had just opened:

- the result it drew sat one level higher in the page, so the browser built it anew (the
  result drawn by the run that started the job: a short experiment);
- the live panel's run that asks for the full rerun drew an empty slot in the result's place
  first. Streamlit drops a run's unsent messages when the next run starts, so the empty slot
  reached the browser only when it was sent in between: 1 to 3 results in 10, more under load
  (a result drawn by the panel's own redraw: an experiment that outlasts the first wait)."""

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


@pytest.mark.parametrize(("latency_s", "cycles"), [(0.02, 2), (0.6, 4)],
                         ids=["drawn-by-the-run-that-started-it", "drawn-by-the-panel"])
def test_a_section_opened_in_a_fresh_result_stays_open(tmp_path: Path, latency_s: float,
                                                       cycles: int) -> None:
    from playwright.sync_api import expect, sync_playwright

    with FakeOpenAIServer(latency_s=latency_s, keep_alive=True) as server, \
            streamlit_app(tmp_path / "result.sqlite",
                          f"compat:fake-model@{server.base_url}") as url, \
            sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
        page = open_run_page(browser, url)
        main = page.get_by_test_id("stMain")
        fill_run_form(page, 2)
        last = None
        # The first way failed on the first result; the second, by chance, once in 3-10.
        for cycle in range(cycles):
            press_run(page)
            last = completed(page, 4, timeout_s=60, not_id=last)  # 2 forms x 2 repetitions
            # At once, before the full rerun: the section opens.
            main.get_by_text("The race, as it ended", exact=True).click()
            toggle = main.get_by_text("Draw the race's figure", exact=True)
            expect(toggle).to_be_visible(timeout=5_000)
            time.sleep(SETTLE_S)
            expect(page.get_by_test_id("stStatusWidget")).to_have_count(0, timeout=30_000)
            assert toggle.is_visible(), \
                f"result {cycle + 1}: the result was drawn anew and its open section closed"
            main.get_by_text("The race, as it ended", exact=True).click()  # closed for the next
            expect(toggle).not_to_be_visible(timeout=5_000)
        browser.close()
