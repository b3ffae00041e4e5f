"""Agents page in a real browser: save a variant, save again under its name, merge.

The second save runs in a fresh session (a reload), as in the issue: it holds only the picker
edit, so a silent replace would drop the sales_manager edit the name already holds.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
from test_browser_e2e import ARTIFACTS, CHROMIUM, CHROMIUM_FLAGS, choose, open_page, streamlit_app

from orchlab.store.store import Store

pytestmark = [pytest.mark.browser]
NAME = "terse-manager"


def edit_agent(page: Any, agent: str, old: str, new: str) -> None:
    """Choose the agent, change its text and commit it (Ctrl+Enter, as Streamlit asks)."""
    from playwright.sync_api import expect

    choose(page, "Agent", agent)
    area = page.get_by_label("Definition (YAML front matter + instructions)")
    deadline = time.monotonic() + 30  # the rerun swaps the box: wait for the agent's one only
    while not showing(area, old):
        assert time.monotonic() < deadline, f"no definition box showing {agent}"
        page.wait_for_timeout(200)
    area.fill(area.input_value().replace(old, new))
    area.press("Control+Enter")
    expect(page.get_by_text(f"Edited in this variant: {agent}")).to_be_visible()


def showing(area: Any, text: str) -> bool:
    """One definition box, holding `text` (a box being swapped out may vanish mid-look)."""
    from playwright.sync_api import Error

    try:
        return bool(area.count() == 1 and text in area.input_value(timeout=1000))
    except Error:
        return False


def name_variant(page: Any, name: str) -> None:
    box = page.get_by_label("Variant name")
    box.fill(name)
    box.press("Enter")


def test_save_then_save_again_under_the_same_name_then_merge(tmp_path: Path) -> None:
    from playwright.sync_api import expect, sync_playwright

    ARTIFACTS.mkdir(exist_ok=True)
    store = tmp_path / "agents.sqlite"
    with streamlit_app(store, "compat:none@http://127.0.0.1:9/v1") as url, \
            sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
        page = open_page(browser, url, "agents", "Agents")
        edit_agent(page, "sales_manager", "Never send more", "Never, ever send more")
        name_variant(page, NAME)
        page.get_by_role("button", name="Save as variant").click()
        expect(page.get_by_text(f"Saved variant '{NAME}'")).to_be_visible(timeout=30_000)

        page.reload()  # a new session: the sales_manager edit is no longer held on the page
        expect(page.get_by_role("heading", name="Agents")).to_be_visible(timeout=60_000)
        edit_agent(page, "picker", "exactly one word", "one single word")
        name_variant(page, NAME)
        expect(page.get_by_text(f"A variant named '{NAME}' already exists")).to_be_visible()
        page.get_by_role("button", name="Save as variant").click()
        expect(page.get_by_text("Nothing saved")).to_be_visible(timeout=30_000)
        assert set(Store(store).load_variant("sales_email", NAME)) == {"sales_manager"}
        page.get_by_role("button", name=f"Merge into {NAME}").click()
        expect(page.get_by_text(f"Merged into '{NAME}'")).to_be_visible(timeout=30_000)
        page.screenshot(path=str(ARTIFACTS / "e2e_agents_merge.png"), full_page=True)
        browser.close()
    texts = Store(store).load_variant("sales_email", NAME)
    assert set(texts) == {"sales_manager", "picker"}
    assert "Never, ever send more" in texts["sales_manager"]
    assert "one single word" in texts["picker"]
