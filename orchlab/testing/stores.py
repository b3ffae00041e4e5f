"""A store whose saves a test can interrupt: the one fake for a disk that fills, a cancel that
lands mid-commit, or a look at which thread commits. It wraps a real store of either engine, so
what the runner reads back is what a user's store would hold."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from orchlab.core.records import RunRecord
from orchlab.store.store import Store

BeforeSave = Callable[[int, RunRecord], None]
"""Called with the save's number (1 for the first) and its run, before the run is written: it
may raise (the save then fails and nothing is written), wait, or record."""


class HookedStore:
    """`store` with `before_save` called ahead of every `save_run`; every other attribute is
    the wrapped store's."""

    def __init__(self, store: Store, before_save: BeforeSave) -> None:
        self.store = store
        """The real store the runs are written to."""
        self.before_save = before_save
        """The hook (`BeforeSave`); a test may swap it, e.g. when the disk has room again."""
        self.saves = 0
        """Saves asked for so far, the failed ones included."""

    def __getattr__(self, name: str) -> Any:
        return getattr(self.store, name)

    def save_run(self, record: RunRecord) -> None:
        self.saves += 1
        self.before_save(self.saves, record)
        self.store.save_run(record)


def fails_after(stored: int, error: Callable[[], BaseException]) -> BeforeSave:
    """A hook that lets `stored` saves through and raises `error()` from every later one."""

    def hook(number: int, _record: RunRecord) -> None:
        if number > stored:
            raise error()

    return hook
