"""A scenario written into a temporary folder from docs/SCENARIOS.md alone (its minimal
example's module and agent files, as the doc shows them), with cases in a JSONL file as the
doc's "Inputs files" describes: it runs from the CLI and from the Run page in chromium, and
shows on Compare, Trace, History and Agents like a bundled one."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from orchlab.cli.main import main
from orchlab.store.store import Store
from orchlab.testing.devserver import FakeOpenAIServer

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "SCENARIOS.md"
CASES = [{"id": "grace", "label": "Grace Hopper", "user_id": "u2"},
         {"id": "ada", "label": "Ada Lovelace", "user_id": "u1"}]


def block_after(text: str, marker: str, language: str) -> str:
    """The first fenced block of `language` after `marker` in the doc."""
    start = text.index(marker)
    found = re.search(rf"```{language}\n(.*?)```", text[start:], re.DOTALL)
    assert found, f"no {language} block after {marker!r} in {DOC.name}"
    return found.group(1)


def write_from_docs(folder: Path) -> Path:
    """The minimal example where the doc says a scenario folder holds it, and the cases."""
    doc = DOC.read_text(encoding="utf-8")
    assert "In a scenario folder it would\nbe `greeting.py`, with `agents/greeting/` beside it" \
        in doc
    (folder / "agents" / "greeting").mkdir(parents=True)
    (folder / "greeting.py").write_text(block_after(doc, "## Minimal example", "python"))
    for agent in ("greeter", "host"):
        (folder / "agents" / "greeting" / f"{agent}.md").write_text(
            block_after(doc, f"`agents/greeting/{agent}.md`:", "markdown"))
    cases = folder.parent / "cases.jsonl"
    cases.write_text("".join(json.dumps(c) + "\n" for c in CASES))
    return cases


def test_the_docs_scenario_runs_from_the_cli_on_a_jsonl_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tmp_path / "mine"
    cases = write_from_docs(folder)
    store = tmp_path / "cli.sqlite"
    with FakeOpenAIServer(latency_s=0.0) as server:
        code = main(["run", "--scenarios", str(folder), "--scenario", "greeting",
                     "--inputs-file", str(cases), "--repeat", "2", "--store", str(store),
                     "--backend", f"compat:fake-model@{server.base_url}"])
    assert code == 0, capsys.readouterr().err
    opened = Store(store)
    (experiment,) = opened.list_experiments()
    assert experiment.spec["input_rows"] == [
        {"id": c["id"], "label": c["label"], "data": {"user_id": c["user_id"]}} for c in CASES]
    runs = opened.load_runs()
    assert sorted(set(zip(runs["form"], runs["input_id"], strict=True))) == [
        ("code", "ada"), ("code", "grace"), ("llm", "ada"), ("llm", "grace")]
    assert (runs["status"] == "ok").all() and len(runs) == 8
    assert set(runs[runs["form"] == "code"]["path"]) == {"lookup_name > greeter"}


@pytest.mark.browser
def test_the_docs_scenario_in_chromium_on_every_page(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from playwright.sync_api import expect, sync_playwright
    from test_browser_e2e import (
        ARTIFACTS,
        CHROMIUM,
        CHROMIUM_FLAGS,
        completed,
        open_page,
        streamlit_app,
    )

    folder = tmp_path / "mine"
    cases = write_from_docs(folder)
    monkeypatch.setenv("ORCHLAB_SCENARIOS", str(folder))
    store = tmp_path / "pages.sqlite"
    ARTIFACTS.mkdir(exist_ok=True)
    with FakeOpenAIServer(latency_s=0.02) as server, \
            streamlit_app(store, f"compat:fake-model@{server.base_url}") as url, \
            sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
        page = open_page(browser, url)
        expect(page.get_by_text(f"Scenario folders read: {folder}")).to_be_visible()
        page.get_by_role("combobox", name="Scenario", exact=True).click()
        page.get_by_role("option", name="greeting", exact=True).click()
        expect(page.get_by_text("Greet a user by the first name")).to_be_visible(timeout=30_000)
        page.locator("input[type=file]").set_input_files(str(cases))
        expect(page.get_by_text("2 inputs from cases.jsonl")).to_be_visible(timeout=30_000)
        for label in ("Grace Hopper (grace)", "Ada Lovelace (ada)"):  # both chosen
            expect(page.get_by_role("button", name=f"Remove {label}")).to_have_count(1)
        page.get_by_label("Repetitions per form and input").fill("2")
        page.keyboard.press("Tab")
        expect(page.get_by_text(re.compile(r"^This will start 8 runs"))).to_be_visible(
            timeout=30_000)
        page.get_by_role("button", name="Run", exact=True).click()
        exp_id = completed(page, 8, 180)
        page.screenshot(path=str(ARTIFACTS / "docs_scenario_run.png"), full_page=True)

        page = open_page(browser, url, "compare", "Compare")
        expect(page.get_by_text("LLM-orchestrated vs code-orchestrated")).to_be_visible(
            timeout=60_000)
        expect(page.get_by_role("heading", name="Findings")).to_be_visible(timeout=60_000)
        expect(page.locator(".js-plotly-plot").first).to_be_visible(timeout=60_000)

        page = open_page(browser, url, "trace", "Trace")
        expect(page.get_by_text(re.compile(r"spans · \d+ LLM calls"))).to_be_visible(
            timeout=60_000)
        expect(page.get_by_text("lookup_name").first).to_be_visible()

        page = open_page(browser, url, "history", "History")
        expect(page.get_by_role("combobox", name="Experiment", exact=True)).to_have_value(
            exp_id, timeout=60_000)
        page.get_by_text("Inputs (2)").click()
        page.get_by_text("Spec", exact=True).click()
        expect(page.get_by_text(re.compile("Grace Hopper")).first).to_be_visible()

        page = open_page(browser, url, "agents", "Agents")
        page.get_by_role("combobox", name="Scenario", exact=True).click()
        page.get_by_role("option", name="greeting", exact=True).click()
        expect(page.get_by_text(str(folder / "agents" / "greeting"))).to_be_visible(
            timeout=30_000)
        expect(page.get_by_role("textbox", name=re.compile("^Definition"))).to_have_value(
            re.compile("Write one short, friendly greeting"), timeout=30_000)
        page.screenshot(path=str(ARTIFACTS / "docs_scenario_agents.png"), full_page=True)
        browser.close()
    runs = Store(store).load_runs()
    assert len(runs) == 8 and set(runs["input_id"]) == {"grace", "ada"}
    assert (runs["status"] == "ok").all()
