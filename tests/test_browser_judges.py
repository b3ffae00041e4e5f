"""In chromium: a person labels a run on Trace, then reads the judge's agreement on Compare;
and reads a pairwise judge's win rate on Compare.

The runs and the scripted judges' judgements are stored first in this process (the dashboard's
`streamlit run` knows no scripted backend and needs none: labelling and reading figures ask
no model); the labelling and the reading are done as a person would, in the browser.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from test_browser_e2e import ARTIFACTS, CHROMIUM, CHROMIUM_FLAGS, choose, open_page, streamlit_app
from test_judge_pages import judged, sales_runs
from test_pairwise_page import every_third_a_tie, judged_pairs

from orchlab.store.store import Store

pytestmark = [pytest.mark.browser]


def test_label_a_run_on_trace_then_see_agreement_on_compare(tmp_path: Path) -> None:
    from playwright.sync_api import expect, sync_playwright

    path = tmp_path / "judged.sqlite"
    exp_id, _ = sales_runs(path)
    judged(path, exp_id)
    with streamlit_app(path, "compat:none@http://127.0.0.1:9/v1") as url, \
            sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
        page = open_page(browser, url, "trace", "Trace")
        expect(page.get_by_text("How likely is this prospect to reply")).to_be_visible(
            timeout=30_000)
        expect(page.get_by_text("Names Dana and asks for one short call.")).to_be_visible()
        expect(page.get_by_role("heading", name="Compare two runs")).to_be_visible()
        choose(page, "Your answer (1-5)", "5")
        page.get_by_role("textbox", name="Note (optional)").fill("Short and warm.")
        page.get_by_role("textbox", name="Your name").fill("Ada")
        page.get_by_role("button", name="Save label").click()
        expect(page.get_by_text("Saved.", exact=True)).to_be_visible(timeout=30_000)
        shown = page.get_by_text(re.compile(r"^Label by Ada: 5"))
        expect(shown).to_be_visible()
        shown.scroll_into_view_if_needed()
        page.screenshot(path=str(ARTIFACTS / "trace_label.png"))

        page.get_by_role("link", name="Compare").click()
        expect(page.get_by_role("heading", name="Judges")).to_be_visible(timeout=60_000)
        agreement = page.get_by_text(re.compile(r"^Agreement with people: email_quality on "
                                                r"scripted:judge"))
        expect(agreement).to_be_visible(timeout=30_000)
        expect(agreement).to_contain_text("n=1 labelled runs: untested")
        expect(page.get_by_text("This judge's agreement with people is untested: label at "
                                "least 10 runs on Trace.")).to_be_visible()
        agreement.scroll_into_view_if_needed()
        page.screenshot(path=str(ARTIFACTS / "compare_judges.png"))
        browser.close()
    store = Store(path)
    labels = store.labels_of(exp_id)
    store.close()
    assert [(lb.who, lb.score, lb.note) for lb in labels] == [("Ada", 5.0, "Short and warm.")]


def test_read_a_pairwise_judge_s_win_rate_on_compare(tmp_path: Path) -> None:
    """The win rate and its interval as a person reads them: the core's sentence, drawn as
    written; the judge's markdown explanation fetches no image."""
    from playwright.sync_api import expect, sync_playwright

    path = tmp_path / "pairs.sqlite"
    core = judged_pairs(path, every_third_a_tie(), reps=6)
    win = core["win_rate"]
    said = (f"code-orchestrated won {win['value']:.0%} [{win['low']:.0%}, {win['high']:.0%}] "
            "of 6 comparisons with LLM-orchestrated on email_preference")
    assert said in core["sentence"]
    with streamlit_app(path, "compat:none@http://127.0.0.1:9/v1") as url, \
            sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
        page = open_page(browser, url, "compare", "Compare")
        expect(page.get_by_role("heading", name="Judges")).to_be_visible(timeout=60_000)
        sentence = page.get_by_text(core["sentence"], exact=True)
        expect(sentence).to_be_visible(timeout=30_000)
        expect(sentence).to_contain_text(said)
        expect(page.get_by_text(core["position_sentence"], exact=True)).to_be_visible()
        expect(page.get_by_text("What email_preference said (6 pairwise judgements)")
               ).to_be_visible()
        assert page.locator('img[src*="example.com"]').count() == 0
        sentence.scroll_into_view_if_needed()
        page.screenshot(path=str(ARTIFACTS / "compare_pairwise.png"))
        browser.close()
