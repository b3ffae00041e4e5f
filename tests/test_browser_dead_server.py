"""In Chromium: a server that went away is noticed before an experiment starts, and one that
died mid-way leaves an experiment in an error state that History resumes once it is back."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from test_browser_e2e import (
    ARTIFACTS,
    CHROMIUM,
    CHROMIUM_FLAGS,
    completed,
    fill_run_form,
    open_run_page,
    press_run,
    stored_runs,
    streamlit_app,
)

from orchlab.testing.devserver import FakeOpenAIServer

pytestmark = [pytest.mark.browser]


def port_of(server: FakeOpenAIServer) -> int:
    return int(server.base_url.rsplit(":", 1)[1].split("/")[0])


def test_a_stopped_server_is_one_sentence_and_nothing_is_stored(tmp_path: Path) -> None:
    from playwright.sync_api import expect, sync_playwright

    store = tmp_path / "dead.sqlite"
    server = FakeOpenAIServer(keep_alive=True).__enter__()
    try:
        with streamlit_app(store, f"compat:fake-model@{server.base_url}") as url, \
                sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
            page = open_run_page(browser, url)
            fill_run_form(page, 1)
            press_run(page)
            first = completed(page, 2, timeout_s=60)
            server.__exit__(None, None, None)
            press_run(page)
            expect(page.get_by_text(re.compile("No OpenAI-compatible server answered"))
                   ).to_be_visible(timeout=30_000)
            ARTIFACTS.mkdir(exist_ok=True)
            page.screenshot(path=str(ARTIFACTS / "dead_server_refused.png"))
            browser.close()
    finally:
        server.__exit__(None, None, None)
    experiments, runs = stored_runs(store)
    assert [e.experiment_id for e in experiments] == [first]
    assert len(runs) == 2


def test_a_server_that_died_mid_way_is_an_error_and_history_resumes_it(
    tmp_path: Path,
) -> None:
    from playwright.sync_api import expect, sync_playwright

    store = tmp_path / "died.sqlite"
    # 1 s per call: a code run takes 2 s and an LLM run 4 s, so while the page says 1-4 of 8
    # runs are done, at least three have not started: the server's death must cost some.
    server = FakeOpenAIServer(latency_s=1.0).__enter__()
    port = port_of(server)
    try:
        with streamlit_app(store, f"compat:fake-model@{server.base_url}") as url, \
                sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
            page = open_run_page(browser, url)
            fill_run_form(page, 4)  # 8 runs, 4 at a time
            page.keyboard.press("Tab")  # commit the number before the click reruns the page
            expect(page.get_by_text(re.compile(r"This will start 8 runs"))).to_be_visible()
            press_run(page)
            expect(page.get_by_text(re.compile(r"Running [1-4]/8 runs"))
                   ).to_be_visible(timeout=60_000)
            server.__exit__(None, None, None)
            status = page.get_by_text(re.compile(r"Experiment exp-\S+: completed, \d of 8 runs "
                                                 r"finished.*planned runs never finished"))
            expect(status).to_be_visible(timeout=120_000)
            expect(page.get_by_test_id("stExpanderIconError")).to_be_visible()
            expect(page.get_by_test_id("stExpanderIconCheck")).to_have_count(0)
            found = re.search(r"exp-[\w-]+", status.inner_text())
            assert found is not None
            exp_id = found.group(0)
            page.screenshot(path=str(ARTIFACTS / "dead_server_mid_way.png"))

            page.get_by_role("link", name="History").click()
            expect(page.get_by_text(re.compile(rf"{exp_id} is completed: .*never finished"))
                   ).to_be_visible(timeout=30_000)
            server = FakeOpenAIServer(port=port).__enter__()  # back on the same port
            page.get_by_role("button", name=re.compile(r"^Resume: run the \d+ missing runs"))\
                .click()
            expect(page.get_by_text(f"Experiment {exp_id}: completed, 8 runs saved")
                   ).to_be_visible(timeout=120_000)
            expect(page.get_by_test_id("stExpanderIconCheck")).to_be_visible()
            browser.close()
    finally:
        server.__exit__(None, None, None)
    experiments, runs = stored_runs(store)
    assert [e.experiment_id for e in experiments] == [exp_id]
    assert len(runs) == 8 and set(runs["status"]) == {"ok"}
