"""The fast lane, `python -m pytest -m "not slow"`, leaves out exactly the slow tests.

tests/conftest.py marks a test slow when it drives chromium or the embedded model, or uses a
fixture that starts PostgreSQL, Ray, Phoenix or `streamlit run`; the rest say so with
`pytest.mark.slow`. Here the suite is collected as the fast lane collects it (a separate
`pytest --collect-only`, so every module is seen whichever tests this run selected) and:

- what `-m "not slow"` leaves out is what carries the `slow` marker, nothing else;
- every test with a browser or real-model marker or a server-starting fixture is left out (the
  hook ran before `-m` chose), and so is every test whose own code starts chromium, a
  dashboard, PostgreSQL, Ray or Phoenix, whatever it is marked (that part is independent of
  the rule: it reads the tests' source);
- each server-starting fixture the rule names is still used by some test (a renamed fixture
  would let its tests slip into the fast lane);
- the fast lane is not vacuous: most tests, and most test modules, are in it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from conftest import SLOW_FIXTURES, SLOW_MARKERS

ROOT = Path(__file__).parent.parent

PROBE = '''
import inspect
import json
import os

import pytest

deselected = []


def pytest_deselected(items):
    deselected.extend(items)


def row(item):
    function = getattr(item, "function", None)
    try:
        source = inspect.getsource(function) if function is not None else ""
    except (OSError, TypeError):
        source = ""
    callspec = getattr(item, "callspec", None)
    return {"id": item.nodeid, "markers": sorted({m.name for m in item.iter_markers()}),
            "fixtures": sorted(getattr(item, "fixturenames", ())),
            "params": {k: str(v) for k, v in (callspec.params if callspec else {}).items()},
            "source": source}


@pytest.hookimpl(trylast=True)
def pytest_collection_finish(session):
    with open(os.environ["LANES_PROBE_OUT"], "w", encoding="utf-8") as out:
        json.dump({"fast": [row(i) for i in session.items],
                   "slow": [row(i) for i in deselected]}, out)
'''
"""A plugin for the collecting process: what it selected and deselected, with why."""

STARTS_SOMETHING_SLOW = {
    "sync_playwright": "chromium", "streamlit_app(": "streamlit run", "compare_page(": "chromium",
    "sync_playwright_browser(": "chromium", "PostgresServer(": "PostgreSQL",
    '"streamlit", "run"': "streamlit run", "ray.init(": "Ray", '"ray", "start"': "Ray",
    "phoenix.server": "Phoenix",
}
"""Text in a test's own code that starts something slow, whatever its markers say (the
embedded model is named by tests that never load it: its marker is the rule)."""


@pytest.fixture(scope="module")
def lanes(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[dict[str, Any]]]:
    folder = tmp_path_factory.mktemp("lanes")
    (folder / "lanes_probe.py").write_text(PROBE, encoding="utf-8")
    out = folder / "lanes.json"
    env = {**os.environ, "LANES_PROBE_OUT": str(out),
           "PYTHONPATH": os.pathsep.join([str(folder), os.environ.get("PYTHONPATH", "")])}
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "--collect-only", "-q", "-m", "not slow",
         "-p", "lanes_probe", "-p", "no:cacheprovider"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return json.loads(out.read_text(encoding="utf-8"))


def why_slow(test: dict[str, Any]) -> str | None:
    """What about a test makes it slow, read from what it uses and its own code."""
    for marker in SLOW_MARKERS:
        if marker in test["markers"]:
            return f"marked {marker}"
    for fixture in test["fixtures"]:
        if fixture in SLOW_FIXTURES:
            return f"uses {fixture}"
    if test["params"].get("store_location") == "postgresql":
        return "runs on PostgreSQL"
    for text, what in STARTS_SOMETHING_SLOW.items():
        if text in test["source"]:
            return f"starts {what} ({text!r})"
    return None


def test_the_fast_lane_leaves_out_exactly_the_tests_marked_slow(lanes: dict) -> None:
    assert all("slow" in t["markers"] for t in lanes["slow"])
    marked = [t["id"] for t in lanes["fast"] if "slow" in t["markers"]]
    assert marked == [], f"marked slow yet in the fast lane: {marked}"


def test_every_test_that_starts_something_slow_is_left_out(lanes: dict) -> None:
    fast = [f"{t['id']}: {why}" for t in lanes["fast"] if (why := why_slow(t))]
    assert fast == [], "slow tests in the fast lane:\n" + "\n".join(fast)


def test_every_server_fixture_the_rule_names_is_still_used(lanes: dict) -> None:
    used = {f for t in lanes["fast"] + lanes["slow"] for f in t["fixtures"]}
    assert set(SLOW_FIXTURES) <= used, f"unused: {set(SLOW_FIXTURES) - used}"
    assert any(t["params"].get("store_location") == "postgresql" for t in lanes["slow"])
    for marker in SLOW_MARKERS:
        assert any(marker in t["markers"] for t in lanes["slow"]), marker


def test_the_fast_lane_holds_most_of_the_suite(lanes: dict) -> None:
    fast, every = lanes["fast"], lanes["fast"] + lanes["slow"]
    # about 3/4 of each when this was written (690 of 892 tests, 60 of 77 modules)
    assert len(fast) >= 2 / 3 * len(every), f"{len(fast)} of {len(every)} tests in the fast lane"

    def module(test: dict[str, Any]) -> str:
        return test["id"].split("::")[0]

    modules = {module(t) for t in every}
    fast_modules = {module(t) for t in fast}
    assert len(fast_modules) >= 2 / 3 * len(modules), (
        f"{len(fast_modules)} of {len(modules)} test modules have a test in the fast lane; "
        f"none in {sorted(modules - fast_modules)}")
    assert "tests/test_lanes.py" in fast_modules  # this check itself runs in the fast lane
