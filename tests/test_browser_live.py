"""In chromium: the Run page's live panel follows its job on the server (views/_race.py
`follow_job`). It redraws while the job runs and draws the result when it ends, and then the
page is quiet: no browser timer asks for a rerun after the result (one used to come two
seconds later, and drew the whole page again on every participant's screen). A full run in
the middle (a widget changed) hands the job over to the panel again."""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Any

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

QUIET_S = 5.0
"""Watched after a result: longer than two of the live panel's redraws (views/run.py
REFRESH_S), so a timer left on the page would ask for a rerun in it."""
RUNNING = re.compile(r"^Running (\d+)/(\d+) runs")


WATCH = """(skip) => {
  window.__live = {seen: [], done: null, id: null};
  const running = /Running (\\d+)\\/(\\d+) runs/;
  const done = /Experiment (exp-[\\w-]+): completed, \\d+ runs? saved/;
  const look = () => {
    const text = document.querySelector('[data-testid="stMain"]').textContent;
    const found = text.match(running);
    const seen = window.__live.seen;
    if (found && seen[seen.length - 1] !== found[0]) seen.push(found[0]);
    const result = text.match(done);
    if (window.__live.done === null && result && result[1] !== skip) {
      window.__live.done = Date.now();
      window.__live.id = result[1];
    }
  };
  if (window.__liveObserver) window.__liveObserver.disconnect();  // an earlier watch's
  window.__liveObserver = new MutationObserver(look);
  window.__liveObserver.observe(document.body, {subtree: true, childList: true,
                                                characterData: true});
}"""
"""Stamps in the page, as its text changes: each new "Running i/n" line, and the moment a
result other than `skip`'s first shows (the browser's clock, this machine's)."""
RUNS = """() => {
  // The first field of a Streamlit ForwardMsg other than its hash (1) and metadata (2):
  // 4, new_session, opens every script run, a fragment's alone included.
  const kind = (bytes) => {
    let i = 0;
    const varint = () => {
      let value = 0, scale = 1, byte;
      do { byte = bytes[i++]; value += (byte & 0x7f) * scale; scale *= 128; } while (byte & 0x80);
      return value;
    };
    while (i < bytes.length) {
      const tag = varint(), field = Math.floor(tag / 8), wire = tag % 8;
      if (field !== 1 && field !== 2) return field;
      if (wire === 2) {
        const length = varint();  // read before i is: `i += varint()` loses its bytes
        i += length;
      } else if (wire === 0) varint(); else return -1;
    }
    return -1;
  };
  window.__runs = [];
  const Socket = window.WebSocket;
  window.WebSocket = class extends Socket {
    constructor(...args) {
      super(...args);
      this.addEventListener("message", (event) => {
        if (event.data instanceof ArrayBuffer && kind(new Uint8Array(event.data)) === 4) {
          window.__runs.push(Date.now());
        }
      });
    }
  };
}"""
"""Before the page's scripts: when each script run the server makes for the page begins (its
new_session message reaching the page; the browser's clock)."""


def watched(page: Any, timeout_s: float) -> tuple[list[str], float, str]:
    """The "Running i/n" lines the page showed, when its new result showed (epoch s) and its
    experiment id."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        live = page.evaluate("window.__live")
        if live["done"] is not None:
            return live["seen"], live["done"] / 1000, live["id"]
        time.sleep(0.1)
    raise AssertionError(f"no result in {timeout_s:g} s; seen {page.evaluate('window.__live')}")


@pytest.mark.parametrize("latency_s", [0.02, 0.4])
def test_the_panel_follows_the_job_and_the_page_is_quiet_after_the_result(
        tmp_path: Path, latency_s: float) -> None:
    """A short job (its result drawn by the script run that started it) and a longer one
    (the panel redraws while it runs: 4 runs one at a time, 0.4 s a model call)."""
    from playwright.sync_api import sync_playwright

    with FakeOpenAIServer(latency_s=latency_s, keep_alive=True) as server, \
            streamlit_app(tmp_path / "live.sqlite",
                          f"compat:fake-model@{server.base_url}") as url, \
            sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
        page = browser.new_page()
        page.add_init_script(script=f"({RUNS})()")
        page.goto(url)
        page.get_by_label("Concurrency").fill("1")
        page.keyboard.press("Tab")
        fill_run_form(page, 2)
        last = ""
        for _ in range(2):  # a second experiment on the same page, after the first's result
            page.evaluate(WATCH, last)
            press_run(page)
            seen, shown, last = watched(page, 90)
            if latency_s > 0.1:  # it redrew on its own while the job ran
                assert len(seen) >= 2, seen
            time.sleep(max(0.0, shown + QUIET_S - time.time()))
            runs = page.evaluate("window.__runs")
            assert runs, "no script run was seen: the page's messages were not read"
            late = [round(t / 1000 - shown, 2) for t in runs if t / 1000 > shown]
            assert not late, f"the page ran its script again after its result, at {late} s"
        browser.close()


def test_a_widget_changed_while_the_job_runs_hands_it_back_to_the_panel(
        tmp_path: Path) -> None:
    from playwright.sync_api import expect, sync_playwright

    with FakeOpenAIServer(latency_s=0.4, keep_alive=True) as server, \
            streamlit_app(tmp_path / "handover.sqlite",
                          f"compat:fake-model@{server.base_url}") as url, \
            sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
        page = open_run_page(browser, url)
        page.get_by_label("Concurrency").fill("1")
        page.keyboard.press("Tab")
        fill_run_form(page, 3)
        press_run(page)
        main = page.get_by_test_id("stMain")
        expect(main.get_by_text(RUNNING).first).to_be_visible(timeout=30_000)
        # A full run of the page in the middle of the job: the settings redraw, and so does
        # the panel, which must go on following the job with nobody clicking again.
        page.get_by_role("spinbutton", name="Per-run timeout (s)").fill("299")
        page.keyboard.press("Tab")
        page.evaluate(WATCH, "")
        seen, _, _ = watched(page, 90)
        assert seen, "the panel was not drawn again after the full run"
        completed(page, 6, timeout_s=5)
        browser.close()
