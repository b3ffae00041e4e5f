"""The backend registry: its built-in prefixes are installed once, under a lock, and only
marked installed once they are; nothing here builds a backend (no network)."""

from __future__ import annotations

import sys
import threading
import time
import types
from collections.abc import Callable

import pytest

from orchlab import backends
from orchlab.backends import openai_compat

BUILTINS = {"openai", "compat", "litellm", "replay"}
"""Prefixes installed whatever is installed (`local` needs its optional module)."""


@pytest.fixture
def unfilled(monkeypatch: pytest.MonkeyPatch) -> None:
    """The registry as a fresh process has it: empty, builtins not installed yet (the real
    tables are put back afterwards)."""
    monkeypatch.setattr(backends, "_FACTORIES", {})
    monkeypatch.setattr(backends, "_DESCRIPTIONS", {})
    monkeypatch.setattr(backends, "_builtins_registered", False)


def with_table(monkeypatch: pytest.MonkeyPatch, on_access: Callable[[], None]) -> None:
    """`openai_compat` as the registry imports it, calling `on_access` whenever its FACTORIES
    table is read."""

    class Watched(types.ModuleType):
        @property
        def FACTORIES(self) -> object:  # noqa: N802 - the module attribute it stands for
            on_access()
            return openai_compat.FACTORIES

    monkeypatch.setattr(backends, "openai_compat", Watched("orchlab.backends.openai_compat"))


def test_threads_resolving_at_once_all_see_the_builtins(
        unfilled: None, monkeypatch: pytest.MonkeyPatch) -> None:
    filling = threading.Event()

    def slow() -> None:
        filling.set()
        time.sleep(0.3)  # the others ask while the first is still installing

    with_table(monkeypatch, slow)
    seen: dict[int, set[str]] = {}

    def ask(i: int) -> None:
        seen[i] = set(backends.prefixes())

    first = threading.Thread(target=ask, args=(0,))
    first.start()
    assert filling.wait(5)
    others = [threading.Thread(target=ask, args=(i,)) for i in range(1, 6)]
    for thread in others:
        thread.start()
    for thread in [first, *others]:
        thread.join(10)
    assert len(seen) == 6
    incomplete = {i: sorted(s) for i, s in seen.items() if not s >= BUILTINS}
    assert not incomplete, f"threads saw an incomplete registry: {incomplete}"


def test_a_failed_first_install_is_tried_again(
        unfilled: None, monkeypatch: pytest.MonkeyPatch) -> None:
    attempts: list[int] = []

    def fails_once() -> None:
        attempts.append(1)
        if len(attempts) == 1:
            raise RuntimeError("a factory module failed to load")

    with_table(monkeypatch, fails_once)
    with pytest.raises(RuntimeError, match="failed to load"):
        backends.prefixes()
    assert set(backends.prefixes()) >= BUILTINS
    assert len(attempts) == 2
    backends.prefixes()
    assert len(attempts) == 2  # installed once, never again


def test_without_the_local_module_the_rest_is_installed(
        unfilled: None, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delattr(backends, "local", raising=False)
    monkeypatch.setitem(sys.modules, "orchlab.backends.local", None)  # import fails
    known = set(backends.prefixes())
    assert known >= BUILTINS and "local" not in known


def test_a_builtin_replaces_a_test_registration_made_before_it_loads(
        unfilled: None) -> None:
    def mine(_rest: str) -> backends.Backend:
        raise AssertionError("never built")

    backends.register("openai", mine, "a test's own openai")
    backends.register("scripted", mine, "a test backend")
    known = backends.prefixes()
    assert known["openai"] == openai_compat.FACTORIES["openai"][1]  # the builtin won
    assert known["scripted"] == "a test backend"  # other prefixes are kept
    backends.register("openai", mine, "registered after the builtins")
    assert backends.prefixes()["openai"] == "registered after the builtins"
