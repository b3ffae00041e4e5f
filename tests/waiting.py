"""Waiting in tests for something another thread or process does: bounded, never a bare loop."""

from __future__ import annotations

import time
from collections.abc import Callable

from orchlab.testing.dashboard import stop

__all__ = ["stop", "wait_until"]


def wait_until(condition: Callable[[], bool], timeout_s: float = 60.0, poll_s: float = 0.02,
               what: str = "the condition") -> None:
    """Poll `condition` until it holds; fail the test (AssertionError) after `timeout_s`."""
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"waited {timeout_s:g} s for {what}")
        time.sleep(poll_s)
