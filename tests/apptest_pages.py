"""One way every AppTest opens the dashboard: the app as `streamlit run` starts it, then a
page, with no exception on the way."""

from __future__ import annotations

from pathlib import Path

from streamlit.testing.v1 import AppTest

APP = str(Path(__file__).parent.parent / "app.py")


def app_on(page: str | None = None) -> AppTest:
    """A fresh session on `page` (e.g. "views/compare.py"); None: the default page, Run."""
    at = AppTest.from_file(APP, default_timeout=60)
    at.run()
    assert not at.exception, at.exception
    if page is not None:
        at.switch_page(page).run()
        assert not at.exception, at.exception
    return at


def open_tab(at: AppTest, key: str, label: str) -> AppTest:
    """Opens the tab `label` of the tabs `key` (a page draws only its open tab, as a click on
    it in a browser would) and reruns."""
    at.session_state[key] = label
    at.run()
    assert not at.exception, at.exception
    return at
