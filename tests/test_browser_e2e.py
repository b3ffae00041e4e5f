"""End to end in a real browser: Debian's chromium driven by Playwright against `streamlit run`.

Runs the sales scenario on the embedded model (1 repetition, both forms), waits for both result
columns, opens Compare, checks the charts render, and saves screenshots to tests/artifacts/.
A second test runs an experiment with worker processes against a local fake server.
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).parent.parent
CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = ROOT / "tests" / "artifacts"
CHROMIUM_FLAGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic",
                  "--no-first-run", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync"]

pytestmark = [pytest.mark.browser]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def streamlit_app(store: Path, backend: str) -> Iterator[str]:
    """`streamlit run app.py` on a free port of 127.0.0.1 with this store and backend."""
    if not Path(CHROMIUM).exists() and not os.environ.get("CI"):
        pytest.skip("Debian's chromium is not installed (apt-get install chromium)")
    port = free_port()
    env = {**os.environ, "ORCHLAB_STORE": str(store), "ORCHLAB_BACKEND": backend}
    env.pop("OPENAI_API_KEY", None)
    log = (store.parent / "streamlit.log").open("w")
    proc = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", "app.py", "--server.port", str(port),
         "--server.address", "127.0.0.1", "--server.headless", "true",
         "--browser.gatherUsageStats", "false"],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_healthy(url, proc)
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=20)
        log.close()


@pytest.fixture
def app_url(tmp_path: Path) -> Iterator[str]:
    with streamlit_app(tmp_path / "e2e.sqlite", "local:smollm2-135m") as url:
        yield url


def _wait_healthy(url: str, proc: subprocess.Popen[bytes], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, "streamlit exited early"
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.3)
    raise AssertionError("streamlit did not become healthy")


@pytest.mark.real_model
def test_run_both_forms_then_compare_in_chromium(app_url: str) -> None:
    from playwright.sync_api import expect, sync_playwright

    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
        page = browser.new_page(viewport={"width": 1500, "height": 1100})
        page.goto(app_url)
        expect(page.get_by_role("heading", name="Run an experiment")).to_be_visible(timeout=60_000)
        page.get_by_label("Repetitions per form and input").fill("1")
        page.get_by_label("Max tokens per reply (0: each agent's own limit)").fill("48")
        page.get_by_role("button", name="Run").click()
        expect(page.get_by_text("completed, 2 runs saved")).to_be_visible(timeout=900_000)
        for heading in ("Code-orchestrated", "LLM-orchestrated"):
            expect(page.get_by_role("heading", name=heading)).to_be_visible()
        expect(page.get_by_text("Latency", exact=True)).to_have_count(2)
        page.screenshot(path=str(ARTIFACTS / "e2e_run.png"), full_page=True)

        page.get_by_role("link", name="Compare").click()
        expect(page.get_by_role("heading", name="Findings")).to_be_visible(timeout=60_000)
        charts = page.locator(".js-plotly-plot")
        expect(charts.first).to_be_visible(timeout=60_000)
        assert charts.count() >= 2
        expect(page.locator(".js-plotly-plot .main-svg").first).to_be_visible()
        page.screenshot(path=str(ARTIFACTS / "e2e_compare.png"), full_page=True)
        browser.close()


def test_worker_processes_from_the_running_dashboard(tmp_path: Path) -> None:
    """Workers started from inside `streamlit run` (threads, a fork server) store every run."""
    from playwright.sync_api import expect, sync_playwright

    from orchlab.devserver import FakeOpenAIServer
    from orchlab.store import Store

    store = tmp_path / "workers.sqlite"
    with FakeOpenAIServer(latency_s=0.05) as server, \
            streamlit_app(store, f"compat:fake-model@{server.base_url}") as url, \
            sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
        page = browser.new_page(viewport={"width": 1500, "height": 1100})
        page.goto(url)
        expect(page.get_by_role("heading", name="Run an experiment")).to_be_visible(timeout=60_000)
        page.get_by_label("Repetitions per form and input").fill("5")
        page.get_by_role("spinbutton", name="Worker processes").fill("2")
        page.get_by_role("button", name="Run").click()
        expect(page.get_by_text("completed, 10 runs saved")).to_be_visible(timeout=120_000)
        page.screenshot(path=str(ARTIFACTS / "e2e_workers.png"), full_page=True)
        browser.close()
        served = server.stats.requests
    experiment = Store(store).list_experiments()[0]
    assert experiment.spec["workers"] == 2 and experiment.status == "completed"
    assert Store(store).count_runs(experiment.experiment_id) == 10
    assert served == 5 * (4 + 6)  # code 4 calls, llm 6: every run reached the model once
