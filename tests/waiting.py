"""Waiting in tests for something another thread or process does: bounded, never a bare loop."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Callable
from typing import Any


def wait_until(condition: Callable[[], bool], timeout_s: float = 60.0, poll_s: float = 0.02,
               what: str = "the condition") -> None:
    """Poll `condition` until it holds; fail the test (AssertionError) after `timeout_s`."""
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"waited {timeout_s:g} s for {what}")
        time.sleep(poll_s)


def stop(proc: subprocess.Popen[Any], timeout_s: float = 20.0) -> None:
    """Stop a server a test started: terminate, then kill if it does not go in time."""
    proc.terminate()
    try:
        proc.wait(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=timeout_s)
