"""The standalone report in chromium with every network request blocked: each chart draws,
no console error, and no request leaves the page (the file is all it needs)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from test_browser_e2e import ARTIFACTS, CHROMIUM, CHROMIUM_FLAGS
from test_report import experiment, failing_picker

from orchlab.cli.main import main
from orchlab.store.store import Store

pytestmark = [pytest.mark.browser]

DRAWN = """() => Array.from(document.querySelectorAll('.plotly-graph-div'))
  .filter(div => div.querySelector('.plot-container .main-svg') !== null).length"""


def test_the_report_draws_every_chart_offline_in_chromium(tmp_path: Path) -> None:
    from playwright.sync_api import Route, expect, sync_playwright

    if not Path(CHROMIUM).exists():
        pytest.skip("Debian's chromium is not installed (apt-get install chromium)")
    store_path = tmp_path / "report.sqlite"
    store = Store(store_path)
    exp_id = experiment(store, reps=3, picker=failing_picker(1))  # code and plan fail
    store.close()
    out = tmp_path / "report.html"
    assert main(["report", exp_id, "-o", str(out), "--store", str(store_path)]) == 0
    html = out.read_text(encoding="utf-8")
    charts = len(re.findall(r'class="plotly-graph-div"', html))
    assert charts >= 12 and "<th>class: malformed_output</th>" in html

    url = out.as_uri()
    requests: list[str] = []
    blocked: list[str] = []
    errors: list[str] = []

    def only_the_file(route: Route) -> None:
        if route.request.url == url:
            route.continue_()
        else:
            blocked.append(route.request.url)
            route.abort()

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.route("**/*", only_the_file)
            page.on("request", lambda r: requests.append(r.url))
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.goto(url)
            expect(page.locator(".plotly-graph-div .main-svg").first).to_be_visible(
                timeout=30_000)
            page.wait_for_function(f"({DRAWN})() === {charts}", timeout=30_000)
            drawn = page.evaluate(DRAWN)
            page.wait_for_timeout(500)  # anything a chart would fetch late is seen too
            ARTIFACTS.mkdir(exist_ok=True)
            page.screenshot(path=str(ARTIFACTS / "report_offline.png"), full_page=True)
        finally:
            browser.close()
    assert drawn == charts
    assert errors == []
    assert blocked == []
    assert [r for r in requests if r != url] == []
