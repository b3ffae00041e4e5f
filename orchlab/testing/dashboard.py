"""This checkout's dashboard (`streamlit run app.py`) on a free port of 127.0.0.1, for browser
tests and benchmarks: one way to start it, wait for it and stop it.

The dashboard runs as a user starts it: headless, its own store and backend from the
environment, no OpenAI key (a test must never reach the internet), its output in
`streamlit.log` beside the store.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from orchlab.testing.ports import free_port

ROOT = Path(__file__).resolve().parents[2]
"""The checkout whose app.py runs (orchlab is used from the checkout, not installed)."""
HEALTHY_WITHIN_S = 60.0
"""A dashboard that does not answer /_stcore/health by then did not start."""
STOP_WITHIN_S = 20.0
"""A server is terminated, then killed if it has not gone by then (`stop`)."""


@dataclass
class RunningDashboard:
    """A started `streamlit run app.py`."""

    url: str
    """Its base URL, http://127.0.0.1:PORT."""
    proc: subprocess.Popen[bytes]
    """Its process (benchmarks read its CPU time)."""
    log: Path
    """Where its output goes."""


@contextlib.contextmanager
def running_dashboard(store: Path, backend: str, env: Mapping[str, str] | None = None,
                      own_session: bool = False) -> Iterator[RunningDashboard]:
    """The dashboard on this store and backend (plus `env`, e.g. a workshop's setting) until
    the block ends. `own_session`: in a session of its own, as from a terminal of its own
    (where the kernel shares the CPU between sessions first, it then does not share one
    with the browsers a benchmark starts)."""
    port = free_port()
    settings = {**os.environ, "ORCHLAB_STORE": str(store), "ORCHLAB_BACKEND": backend,
                **(env or {})}
    settings.pop("OPENAI_API_KEY", None)
    log = store.parent / "streamlit.log"
    with log.open("w") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "streamlit", "run", "app.py", "--server.port", str(port),
             "--server.address", "127.0.0.1", "--server.headless", "true",
             "--browser.gatherUsageStats", "false"],
            cwd=ROOT, env=settings, stdout=out, stderr=subprocess.STDOUT,
            start_new_session=own_session)
    running = RunningDashboard(f"http://127.0.0.1:{port}", proc, log)
    try:
        _wait_healthy(running)
        yield running
    finally:
        stop(proc)


def stop(proc: subprocess.Popen[Any], timeout_s: float = STOP_WITHIN_S) -> None:
    """Stop a server a test or benchmark started: terminate, then kill if it does not go in
    time."""
    proc.terminate()
    try:
        proc.wait(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=timeout_s)


def _wait_healthy(running: RunningDashboard) -> None:
    deadline = time.monotonic() + HEALTHY_WITHIN_S
    while True:
        if running.proc.poll() is not None:
            raise RuntimeError(f"streamlit exited early; see {running.log}")
        with contextlib.suppress(OSError), urllib.request.urlopen(
                f"{running.url}/_stcore/health", timeout=2) as answer:
            if answer.status == 200:
                return
        if time.monotonic() > deadline:
            raise RuntimeError(f"streamlit did not become healthy in {HEALTHY_WITHIN_S:g} s; "
                               f"see {running.log}")
        time.sleep(0.3)
