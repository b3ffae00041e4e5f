"""End to end in a real browser: Debian's chromium driven by Playwright against `streamlit run`.

Runs the sales scenario on the embedded model (1 repetition, both forms), waits for both result
columns, opens Compare, checks the charts render, and saves screenshots to tests/artifacts/.
A second test runs an experiment with worker processes against a local fake server. The
others start experiments one after another in one tab and at once from two tabs (sessions):
every dashboard job shares the cached backend, so no run may fail because another job ran.
"""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from orchlab.testing.dashboard import running_dashboard
from orchlab.testing.devserver import FakeOpenAIServer

ROOT = Path(__file__).parent.parent
CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = ROOT / "tests" / "artifacts"
CHROMIUM_FLAGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic",
                  "--no-first-run", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync"]

pytestmark = [pytest.mark.browser]


@contextlib.contextmanager
def streamlit_app(store: Path, backend: str) -> Iterator[str]:
    """`streamlit run app.py` on a free port of 127.0.0.1 with this store and backend."""
    if not Path(CHROMIUM).exists() and not os.environ.get("CI"):
        pytest.skip("Debian's chromium is not installed (apt-get install chromium)")
    with running_dashboard(store, backend) as dashboard:
        yield dashboard.url


@pytest.fixture
def app_url(tmp_path: Path) -> Iterator[str]:
    with streamlit_app(tmp_path / "e2e.sqlite", "local:smollm2-135m") as url:
        yield url


@pytest.mark.real_model
def test_run_both_forms_then_compare_in_chromium(app_url: str) -> None:
    from playwright.sync_api import expect, sync_playwright

    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
        page = open_page(browser, app_url)
        page.get_by_label("Repetitions per form and input").fill("1")
        page.get_by_label("Max tokens per reply (0: each agent's own limit)").fill("48")
        page.get_by_role("button", name="Run", exact=True).click()
        expect(page.get_by_text("completed, 2 runs saved")).to_be_visible(timeout=900_000)
        for heading in ("Code-orchestrated", "LLM-orchestrated"):
            expect(page.get_by_role("heading", name=heading)).to_be_visible()
        expect(page.get_by_text("Latency", exact=True)).to_have_count(2)
        page.screenshot(path=str(ARTIFACTS / "e2e_run.png"), full_page=True)

        page.get_by_role("link", name="Compare").click()
        expect(page.get_by_role("heading", name="Findings")).to_be_visible(timeout=60_000)
        charts = page.locator(".js-plotly-plot")
        expect(charts.first).to_be_visible(timeout=60_000)  # the latency tab's box plot
        expect(page.locator(".js-plotly-plot .main-svg").first).to_be_visible()
        page.screenshot(path=str(ARTIFACTS / "e2e_compare.png"), full_page=True)
        page.get_by_role("tab", name="Calls", exact=True).click()  # drawn when opened
        expect(page.get_by_role("tabpanel").locator(".js-plotly-plot").filter(
            has_text="LLM and tool calls per run")).to_be_visible(timeout=60_000)
        browser.close()


@pytest.mark.parametrize("where", ["this machine", "Ray on this machine"])
def test_worker_processes_from_the_running_dashboard(tmp_path: Path, where: str) -> None:
    """Workers started from inside `streamlit run` (threads, a fork server; or Ray started by
    the dashboard's process, off its main thread) store every run."""
    from playwright.sync_api import expect, sync_playwright

    from orchlab.store.store import Store
    from orchlab.testing.devserver import FakeOpenAIServer

    store = tmp_path / "workers.sqlite"
    with FakeOpenAIServer(latency_s=0.05) as server, \
            streamlit_app(store, f"compat:fake-model@{server.base_url}") as url, \
            sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
        page = open_page(browser, url)
        page.get_by_label("Repetitions per form and input").fill("5")
        page.get_by_role("spinbutton", name="Workers (processes, or Ray actors)").fill("2")
        choose(page, "Run the workers on", where)
        page.get_by_role("button", name="Run", exact=True).click()
        expect(page.get_by_text("completed, 10 runs saved")).to_be_visible(timeout=180_000)
        page.screenshot(path=str(ARTIFACTS / f"e2e_workers_{where.split()[0]}.png"),
                        full_page=True)
        browser.close()
        served = server.stats.requests
    experiment = Store(store).list_experiments()[0]
    assert experiment.spec["workers"] == 2 and experiment.status == "completed"
    assert experiment.spec["cluster"] == ("ray" if where.startswith("Ray") else "")
    assert Store(store).count_runs(experiment.experiment_id) == 10
    assert served == 5 * (4 + 6)  # code 4 calls, llm 6: every run reached the model once


def open_page(browser: Any, url: str, path: str = "", heading: str = "Run an experiment",
              width: int = 1500, **options: Any) -> Any:
    """A new tab, i.e. a new Streamlit session, on a page, once its heading is drawn."""
    from playwright.sync_api import expect

    page = browser.new_page(viewport={"width": width, "height": 1100}, **options)
    page.goto(f"{url}/{path}" if path else url)
    expect(page.get_by_role("heading", name=heading)).to_be_visible(timeout=60_000)
    return page


def choose(page: Any, box: str, option: str | re.Pattern[str]) -> None:
    """Pick an option of the select box labelled `box`: the one named `option` (a pattern:
    the first whose name matches). A rerun that lands as the list opens, or as the option is
    clicked, closes the list again (the option is detached), so both are repeated."""
    from playwright.sync_api import Error, expect

    combobox = page.get_by_role("combobox", name=box, exact=True)
    exact = isinstance(option, str)
    choice = page.get_by_role("option", name=option, exact=exact).first
    for _ in range(5):
        combobox.click()
        try:
            expect(choice).to_be_visible(timeout=3_000)
            choice.click(timeout=3_000)
            # A click that a rerun lands on can be lost without an error: the box kept no
            # value (CI, the Trace page's label form), so the choice is read back.
            expect(combobox).to_have_value(option, timeout=3_000)
        except (AssertionError, Error):
            page.keyboard.press("Escape")
            continue
        return
    raise AssertionError(f"the option {option!r} of {box!r} could not be chosen")


def open_run_page(browser: Any, url: str) -> Any:
    """A new tab on the Run page."""
    return open_page(browser, url)


def fill_run_form(page: Any, reps: int, *, scenario: str | None = None,
                  only_input: str | None = None, drop_form: str | None = None,
                  max_tokens: int | None = None) -> None:
    """Fill the Run form (labels matched loosely: the page's wording moves)."""
    from playwright.sync_api import expect

    if scenario is not None:
        choose(page, "Scenario", scenario)
    if only_input is not None:  # each scenario starts with its first input chosen
        chip = page.get_by_role("button", name=re.compile(rf"^Remove {re.escape(only_input)}"))
        try:  # the switch reruns the page: wait for its inputs before looking
            expect(chip).to_have_count(1, timeout=10_000)
        except AssertionError:  # another input is the scenario's first: choose this one
            page.get_by_role("combobox", name="Inputs", exact=True).click()
            page.get_by_role("option", name=re.compile(rf"^{re.escape(only_input)}")).click()
            page.keyboard.press("Escape")
        expect(chip).to_have_count(1)
    if drop_form is not None:
        page.get_by_role("button", name=re.compile(rf"^Remove {drop_form}", re.I)).click()
    page.get_by_label("Repetitions per form and input").fill(str(reps))
    page.keyboard.press("Tab")  # commit it: the rerun it causes would otherwise eat the Run click
    word = "repetition" if reps == 1 else "repetitions"
    expect(page.get_by_text(re.compile(rf"^This will start \d+ runs?: .* x {reps} {word}\."))
           ).to_be_visible(timeout=30_000)
    if max_tokens is not None:
        page.get_by_label(re.compile(r"^Max tokens per reply")).fill(str(max_tokens))


def press_run(page: Any) -> None:
    page.get_by_role("button", name="Run", exact=True).click()


def start_run(page: Any, reps: int, **form: Any) -> None:
    fill_run_form(page, reps, **form)
    press_run(page)


def completed(page: Any, runs: int, timeout_s: float, not_id: str | None = None) -> str:
    """Wait for the final panel of a new experiment; returns its id."""
    from playwright.sync_api import expect

    other = f"(?!{re.escape(not_id)})" if not_id else ""
    pattern = rf"Experiment {other}exp-\S+: completed, {runs} runs saved"
    status = page.get_by_text(re.compile(pattern))
    expect(status).to_be_visible(timeout=timeout_s * 1000)
    found = re.search(r"exp-[\w-]+", status.inner_text())
    assert found is not None
    return found.group(0)


def stored_runs(store: Path) -> Any:
    from orchlab.store.store import Store

    opened = Store(store)
    try:
        return opened.list_experiments(), opened.load_runs()
    finally:
        opened.close()


def test_experiments_in_a_row_and_at_once_share_the_cached_backend(tmp_path: Path) -> None:
    """One tab runs two experiments in a row, then two tabs run one each at the same time."""
    from playwright.sync_api import sync_playwright

    ARTIFACTS.mkdir(exist_ok=True)
    store = tmp_path / "shared.sqlite"
    with FakeOpenAIServer(latency_s=0.05, keep_alive=True) as server, \
            streamlit_app(store, f"compat:fake-model@{server.base_url}") as url, \
            sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
        page = open_run_page(browser, url)
        start_run(page, 5)
        first = completed(page, 10, 120)
        start_run(page, 5)
        completed(page, 10, 120, not_id=first)
        tabs = [open_run_page(browser, url) for _ in range(2)]
        for tab in tabs:
            fill_run_form(tab, 5)
        for tab in tabs:  # both forms ready first, so the two experiments really overlap
            press_run(tab)
        for tab in tabs:
            completed(tab, 10, 120)
        tabs[1].screenshot(path=str(ARTIFACTS / "e2e_two_sessions.png"), full_page=True)
        browser.close()
        served = server.stats.requests
    experiments, runs = stored_runs(store)
    assert [e.status for e in experiments] == ["completed"] * 4
    tab_one, tab_two = experiments[:2]  # newest first
    assert max(tab_one.created_at, tab_two.created_at) < min(tab_one.finished_at,
                                                            tab_two.finished_at)  # at once
    assert len(runs) == 40
    bad = runs[(runs["status"] != "ok") | runs["error_class"].notna()]
    assert bad.empty, bad[["form", "status", "error_class", "error_message"]].to_string()
    assert served == 4 * 5 * (4 + 6)  # code 4 calls, llm 6: every run reached the model once


@pytest.mark.real_model
def test_embedded_model_in_two_sessions_queues_run_by_run(tmp_path: Path) -> None:
    """The embedded model serves one request at a time: two sessions queue, neither crashes.

    Kept small: weather's code form is one model call; one input, one repetition, 16 tokens."""
    from playwright.sync_api import sync_playwright

    store = tmp_path / "embedded.sqlite"
    with streamlit_app(store, "local:smollm2-135m") as url, sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
        tabs = [open_run_page(browser, url) for _ in range(2)]
        for tab in tabs:
            fill_run_form(tab, 1, scenario="weather", only_input="Reykjavik", drop_form="LLM",
                          max_tokens=16)
        for tab in tabs:
            press_run(tab)
        for tab in tabs:
            completed(tab, 1, 600)
        browser.close()
    experiments, runs = stored_runs(store)
    assert [e.status for e in experiments] == ["completed"] * 2
    assert len(runs) == 2 and set(runs["form"]) == {"code"}
    assert set(runs["input_id"]) == {"reykjavik"}
    assert "other" not in set(runs["error_class"].dropna()), runs["error_message"].tolist()
    first, second = runs.sort_values("started_at").to_dict("records")
    first_end = first["started_at"] + pd_ms(first["wall_ms"])
    assert max(e.created_at for e in experiments) < first_end  # both were running at once
    assert second["started_at"] >= first_end - pd_ms(2), "the two runs overlapped in time"


def pd_ms(ms: float) -> Any:
    import pandas as pd

    return pd.Timedelta(milliseconds=float(ms))


@pytest.mark.parametrize("page_path", ["compare", "history"])
def test_a_deep_link_right_after_start_shows_the_apps_own_navigation(
    tmp_path: Path, page_path: str
) -> None:
    """The first request of a fresh server is a page URL: the sidebar is the app's own (no
    helper module listed as a page, the Backend section present)."""
    from playwright.sync_api import expect, sync_playwright

    with streamlit_app(tmp_path / "deep.sqlite", "compat:none@http://127.0.0.1:9/v1") as url, \
            sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
        page = browser.new_page(viewport={"width": 1500, "height": 1100})
        page.goto(f"{url}/{page_path}")
        sidebar = page.get_by_test_id("stSidebar")
        expect(sidebar.get_by_text("Backend", exact=True)).to_be_visible(timeout=60_000)
        nav = page.get_by_test_id("stSidebarNav")
        links = [t.split()[-1] for t in nav.get_by_role("link").all_inner_texts()]  # icon, title
        assert links == ["Run", "Compare", "Trace", "History", "Agents", "Learn"], links
        browser.close()
