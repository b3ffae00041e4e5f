"""One value per process, made on first use: the job loop, the writer thread, the dashboard's
experiment process.

Each is an object with threads of its own. A forked child (a worker, the experiment process)
inherits the parent's object but none of its threads, so it must make its own instead of
using a loop nobody runs or an executor whose thread is gone.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from typing import Generic, TypeVar

__all__ = ["PerProcess"]

T = TypeVar("T")


class PerProcess(Generic[T]):
    """A value made by `make` on the first `get` in each process (again when `usable` says
    the one held no longer serves, e.g. a child process that died)."""

    def __init__(self, make: Callable[[], T],
                 usable: Callable[[T], bool] = lambda _value: True) -> None:
        self._make, self._usable = make, usable
        self._value: T | None = None
        self._lock = threading.Lock()
        if hasattr(os, "register_at_fork"):
            os.register_at_fork(after_in_child=self._forget)

    def get(self) -> T:
        """The process's value, made now if it has none (or none that serves)."""
        with self._lock:
            if self._value is None or not self._usable(self._value):
                self._value = self._make()
            return self._value

    def _forget(self) -> None:
        self._value, self._lock = None, threading.Lock()
