"""A workshop in chromium, three sessions on one dashboard: each gives a name; a participant's
Run records them; History shows "mine" until the class toggle; a participant's delete of
another's experiment is refused and the teacher's goes through; the class board counts the
participants it pools; and a replay the teacher starts takes every participant's page to it."""

from __future__ import annotations

import re
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from test_browser_e2e import (
    CHROMIUM,
    CHROMIUM_FLAGS,
    choose,
    completed,
    start_run,
    streamlit_app,
)
from test_store import make_experiment, make_run

from orchlab.core import workshop
from orchlab.store.store import Store
from orchlab.testing.devserver import FakeOpenAIServer

pytestmark = [pytest.mark.browser]
PASSWORD = "chalk-and-board"


def join(browser: Any, url: str, name: str) -> Any:
    """A new browser context (its own session and cookies) that joins the class as `name`."""
    from playwright.sync_api import expect

    page = browser.new_context(viewport={"width": 1500, "height": 1100}).new_page()
    page.goto(url)
    expect(page.get_by_role("heading", name="Orchestration Lab: the workshop")).to_be_visible(
        timeout=60_000)
    page.get_by_role("textbox", name="Your name").fill(name)
    page.get_by_role("button", name="Join the class").click()
    expect(page.get_by_role("heading", name="Run an experiment")).to_be_visible(timeout=60_000)
    expect(page.get_by_text(f"You are {name}.")).to_be_visible()
    return page


def go(page: Any, title: str, heading: str) -> None:
    from playwright.sync_api import expect

    page.get_by_test_id("stSidebarNav").get_by_role("link", name=title).click()
    expect(page.get_by_role("heading", name=heading)).to_be_visible(timeout=30_000)


def options(page: Any, label: str, expected: list[str]) -> list[str]:
    """A select box's options, read by opening it, until they are `expected` (a toggle's
    rerun may still be on its way) or 20 s have passed."""
    deadline = time.monotonic() + 20
    while True:
        page.get_by_role("combobox", name=label, exact=True).click()
        found = sorted(page.get_by_role("option").all_inner_texts())
        page.keyboard.press("Escape")
        if found == sorted(expected) or time.monotonic() > deadline:
            return found
        page.wait_for_timeout(500)


def class_toggle(page: Any) -> None:
    """Turn History's class toggle on once the page has drawn to its end (a click while the
    page is still drawing may be answered by the draw already under way)."""
    from playwright.sync_api import expect

    expect(page.get_by_text(re.compile(r"^(Delete experiment|No experiments yet)")).first
           ).to_be_visible(timeout=30_000)
    page.get_by_text("Show the class's experiments").click()
    expect(page.get_by_role("switch", name="Show the class's experiments")).to_be_checked()


def test_a_class_of_three_sessions_in_chromium(tmp_path: Path, monkeypatch: pytest.MonkeyPatch
                                               ) -> None:
    from playwright.sync_api import expect, sync_playwright

    monkeypatch.setenv(workshop.ENV_WORKSHOP, "1")
    monkeypatch.setenv(workshop.ENV_TEACHER_PASSWORD, PASSWORD)
    store_file = tmp_path / "class.sqlite"
    seeded = Store(store_file)
    seeded.save_experiment(replace(make_experiment("exp-bob"), participant="bob"))
    seeded.save_run(replace(make_run("exp-bob", "run-bob"), form="code"))
    seeded.close()
    with FakeOpenAIServer(latency_s=0.05, keep_alive=True) as server, \
            streamlit_app(store_file, f"compat:fake-model@{server.base_url}") as url, \
            sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
        ada, bob, teacher = (join(browser, url, n) for n in ("ada", "bob", "Ms Lee"))

        start_run(ada, 1)  # code and llm on one input: two runs, recorded as ada's
        mine = completed(ada, 2, timeout_s=60)
        go(ada, "History", "History")
        assert options(ada, "Experiment", [mine]) == [mine]
        class_toggle(ada)
        assert options(ada, "Experiment", [mine, "exp-bob"]) == sorted([mine, "exp-bob"])
        choose(ada, "Experiment", "exp-bob")
        expect(ada.get_by_text("This experiment is bob's: only they or the teacher can "
                               "delete it.")).to_be_visible()
        expect(ada.get_by_role("button", name="Delete experiment")).to_be_disabled()

        go(bob, "History", "History")
        assert options(bob, "Experiment", ["exp-bob"]) == ["exp-bob"]

        sidebar = teacher.get_by_test_id("stSidebar")
        sidebar.get_by_text("Teacher", exact=True).click()
        sidebar.get_by_label("Teacher's password").fill(PASSWORD)
        sidebar.get_by_label("Teacher's password").press("Enter")  # committed before the click
        teacher.wait_for_timeout(1_000)
        sidebar.get_by_role("button", name="Sign in").click()
        expect(sidebar.get_by_text("You are Ms Lee, the teacher.")).to_be_visible(timeout=30_000)
        go(teacher, "Class board", "Class board")
        board = teacher.get_by_test_id("stMetric")
        expect(board.filter(has_text="Participants")).to_contain_text("2", timeout=30_000)
        expect(board.filter(has_text="Runs")).to_contain_text("3")  # ada's 2, bob's 1

        go(teacher, "History", "History")
        class_toggle(teacher)
        choose(teacher, "Experiment", "exp-bob")
        teacher.get_by_text("Yes, delete exp-bob and its runs").click()
        teacher.get_by_role("button", name="Delete experiment").click()
        expect(teacher.get_by_text("Deleted exp-bob.")).to_be_visible(timeout=20_000)

        go(teacher, "Class board", "Class board")
        # ada's is the only recording left, so the newest, chosen first
        expect(teacher.get_by_role("combobox", name="Recording", exact=True)).to_have_value(
            re.compile(re.escape(mine)), timeout=30_000)
        teacher.get_by_role("button", name="Replay for the class").click()
        expect(teacher.get_by_role("heading", name="Class replay")).to_be_visible(timeout=30_000)
        for page in (ada, bob):  # taken there by the stage's check, within a few seconds
            expect(page.get_by_role("heading", name="Class replay")).to_be_visible(
                timeout=30_000)
            expect(page.get_by_text(re.compile(r"Ran in"))).to_have_count(0)
        browser.close()

    opened = Store(store_file)
    try:
        by_id = {e.experiment_id: e for e in opened.list_experiments()}
    finally:
        opened.close()
    assert "exp-bob" not in by_id and by_id[mine].participant == "ada"
    (replayed,) = [e for e in by_id.values() if e.replay_of == mine]
    assert replayed.participant is None  # the class's replay is nobody's own


def test_the_chart_library_loads_while_a_participant_gives_their_name(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Plotly's script (megabytes) is fetched and compiled on the name page, where nobody
    waits: a participant's first Compare, opened while the class's results arrive, draws its
    charts without it. The name page shows no chart."""
    from playwright.sync_api import expect, sync_playwright

    monkeypatch.setenv(workshop.ENV_WORKSHOP, "1")
    store_file = tmp_path / "class.sqlite"
    seeded = Store(store_file)
    seeded.save_experiment(replace(make_experiment("exp-ada"), participant="ada"))
    for n, form in enumerate(["code", "llm"] * 3):
        seeded.save_run(replace(make_run("exp-ada", f"run-{n}"), form=form, repetition=n))
    seeded.close()
    with streamlit_app(store_file, "scripted:test") as url, sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
        page = browser.new_context(viewport={"width": 1500, "height": 1100}).new_page()
        charts: list[str] = []
        page.on("response", lambda r: charts.append(page.url) if re.search(
            r"/PlotlyChart\.[^/]*\.js$", r.url) else None)
        page.goto(url)
        expect(page.get_by_role("heading", name="Orchestration Lab: the workshop")
               ).to_be_visible(timeout=60_000)
        expect(page.locator(".js-plotly-plot")).to_have_count(1, timeout=30_000)  # drawn...
        expect(page.locator(".js-plotly-plot")).not_to_be_visible()  # ...and not seen
        assert len(charts) == 1
        page.get_by_role("textbox", name="Your name").fill("ada")
        page.get_by_role("button", name="Join the class").click()
        expect(page.get_by_role("heading", name="Run an experiment")).to_be_visible(
            timeout=60_000)
        go(page, "Compare", "Compare")
        expect(page.get_by_test_id("stMain").locator(".js-plotly-plot").first).to_be_visible(
            timeout=60_000)
        assert len(charts) == 1  # Compare fetched nothing more
        browser.close()
