"""In chromium at 1,400 px: the Run page's metrics are not cut, and Compare draws its charts.

AppTest cannot see layout, so this runs `streamlit run` against the fake server (see
tests/test_browser_e2e.py for the helpers) and measures the rendered metric values.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from test_browser_e2e import (
    ARTIFACTS,
    CHROMIUM,
    CHROMIUM_FLAGS,
    completed,
    fill_run_form,
    open_page,
    press_run,
    streamlit_app,
)

from orchlab.testing.devserver import FakeOpenAIServer

if TYPE_CHECKING:
    from playwright.sync_api import Page

pytestmark = [pytest.mark.browser]

@contextmanager
def compare_page(store_path: Path) -> Iterator[Page]:
    """Compare at 1,400 px in chromium, on a dashboard over the given store (no model needed)."""
    from playwright.sync_api import sync_playwright

    with streamlit_app(store_path, "compat:none@http://127.0.0.1:9/v1") as url, \
            sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
        try:
            yield open_page(browser, url, "compare", "Compare", width=1400)
        finally:
            browser.close()


CUT_METRICS = """() => Array.from(document.querySelectorAll('[data-testid="stMetricValue"]'))
  .filter(el => [el, ...el.querySelectorAll('*')].some(e => e.scrollWidth > e.clientWidth + 1))
  .map(el => el.innerText)"""


def test_run_page_metrics_fit_at_1400_px(tmp_path: Path) -> None:
    from playwright.sync_api import expect, sync_playwright

    store = tmp_path / "metrics.sqlite"
    with FakeOpenAIServer(latency_s=0.6) as server, \
            streamlit_app(store, f"compat:fake-model@{server.base_url}") as url, \
            sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.goto(url)
        expect(page.get_by_role("heading", name="Run an experiment")).to_be_visible(
            timeout=60_000)
        fill_run_form(page, 1)
        press_run(page)
        completed(page, 2, timeout_s=120)
        values = page.locator('[data-testid="stMetricValue"]')
        expect(values.first).to_be_visible()
        values.first.scroll_into_view_if_needed()
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "run_metrics_1400.png"), full_page=True)
        assert values.count() == 8
        cut = page.evaluate(CUT_METRICS)
        browser.close()
    assert cut == [], f"metric values cut at 1,400 px: {cut}"


def test_a_variant_split_compares_one_factor_in_chromium(tmp_path: Path) -> None:
    """Two experiments, the original and a prompt variant, both forms: split by variant, the
    groups are compared with the baseline one factor at a time first (the form, then the
    variant), and the comparison that varies both comes last, with a warning."""
    import re

    from playwright.sync_api import expect
    from sales_scripts import sales_backend

    from orchlab.running.runner import ExperimentSpec, run_experiment
    from orchlab.scenario import get_scenario
    from orchlab.scenario.agentdefs import agent_sources
    from orchlab.store.store import Store

    path = tmp_path / "split.sqlite"
    store = Store(path)
    home = get_scenario("sales_email").agents_home
    text = agent_sources("sales_email", home)["picker"].read_text(encoding="utf-8")
    text += "\nBe terse.\n"
    for variant, overrides in ((None, {}), ("terse", {"picker": text})):
        spec = ExperimentSpec("sales_email", inputs=["dana-acme"], backend="scripted:sales",
                              variant=variant, agent_overrides=overrides)
        run_experiment(spec, store, backend=sales_backend())
    store.close()
    with compare_page(path) as page:
        page.get_by_role("combobox", name="Experiments").click()  # the newest (terse) is chosen
        page.get_by_role("option", name=re.compile("original")).click()
        page.keyboard.press("Escape")
        # the findings' blocks, one per group against the baseline (not the page's other
        # expanders, such as "Judge these runs")
        blocks = page.get_by_test_id("stExpander").filter(has_text=re.compile(" vs "))
        expect(blocks).to_have_count(3, timeout=30_000)
        expect(blocks.nth(0)).to_contain_text("This finding compares the form")
        expect(blocks.nth(1)).to_contain_text("This finding compares the prompt variant")
        expect(blocks.nth(2)).to_contain_text("both form and prompt variant")  # warned, last
        assert "both form and prompt variant" not in blocks.nth(0).inner_text()
        page.screenshot(path=str(ARTIFACTS / "compare_variant_split.png"), full_page=True)


def test_compare_shows_four_forms_each_against_the_baseline_in_chromium(tmp_path: Path) -> None:
    """sales_email in four forms: a baseline picker, one comparison per other form, and
    every chart with the four forms in the catalogue's order, each in its own colour."""
    import re

    from playwright.sync_api import expect
    from sales_scripts import sales_backend

    from orchlab.running.runner import ExperimentSpec, run_experiment
    from orchlab.store.store import Store

    path = tmp_path / "four.sqlite"
    store = Store(path)
    spec = ExperimentSpec("sales_email", forms=["code", "plan", "guarded", "llm"],
                          inputs=["dana-acme"], repetitions=2, backend="scripted:sales")
    run_experiment(spec, store, backend=sales_backend())
    store.close()
    with compare_page(path) as page:
        baseline = page.get_by_role("combobox", name="Baseline")
        expect(baseline).to_have_accessible_name("Baseline", timeout=30_000)
        assert "Code-orchestrated" in page.get_by_role("group").filter(
            has=baseline).aria_snapshot()
        for other in ("Plan-then-execute", "Guarded LLM", "LLM-orchestrated"):
            expect(page.get_by_text(f"{other} vs code-orchestrated")).to_be_visible()
        expect(page.get_by_text(re.compile(r"^This finding compares the form"))).to_have_count(3)
        legend = page.locator(".js-plotly-plot").first.locator(".legendtext")
        expect(legend).to_have_count(4, timeout=30_000)
        names = legend.evaluate_all("els => els.map(e => e.textContent)")
        assert names == ["code", "plan", "guarded", "llm"], names
        page.screenshot(path=str(ARTIFACTS / "compare_four_forms.png"), full_page=True)
