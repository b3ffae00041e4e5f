"""Shared fixtures. Tests never reach the internet: any non-loopback connect fails the test."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from orchlab.store.store import Store
from orchlab.testing.pgserver import PostgresServer

NETGUARD = str(Path(__file__).parent / "netguard")
sys.path.insert(0, NETGUARD)
os.environ["PYTHONPATH"] = os.pathsep.join(
    p for p in (NETGUARD, os.environ.get("PYTHONPATH")) if p
)  # set before any subprocess or fork server starts, so each one imports the guard

import orchlab_netguard  # noqa: E402 - installs the loopback-only guard in this process

RemoteCallBlocked = orchlab_netguard.RemoteCallBlocked


# -- the fast lane: python -m pytest -m "not slow" ------------------------------------------
# A test is slow, and left out of the fast lane (CI runs everything), when it
#  - drives chromium through Playwright (marker `browser`), or runs the embedded llama.cpp
#    model (marker `real_model`): seconds to minutes each;
#  - starts a server of its own: PostgreSQL (the `pg_server` fixture, also behind the
#    "postgresql" side of `store_location`), Ray (`local_ray`, `ray_head`), Arize Phoenix
#    (`phoenix`) or `streamlit run` (`app_url`): each costs seconds to start and its tests
#    seconds each;
#  - or says so itself with `pytest.mark.slow`, with a comment saying why: long simulations
#    (hundreds of experiments), the benchmark runs, new Python processes (a CLI or worker
#    processes per case, SIGKILL loops, a second process racing this one), a PostgreSQL
#    server of a test's own, and waiting out request timeouts on purpose.
# tests/test_lanes.py checks this rule against what the tests use; CI runs every test.
SLOW_MARKERS = ("browser", "real_model")
SLOW_FIXTURES = {"pg_server": "PostgreSQL", "local_ray": "Ray", "ray_head": "Ray",
                 "phoenix": "Arize Phoenix", "app_url": "streamlit run"}


def slow_because(item: pytest.Item) -> str | None:
    """Why the central rule makes this test slow (None: the rule does not)."""
    for marker in SLOW_MARKERS:
        if item.get_closest_marker(marker) is not None:
            return f"marked {marker}"
    for fixture in getattr(item, "fixturenames", ()):
        if fixture in SLOW_FIXTURES:
            return f"starts {SLOW_FIXTURES[fixture]} ({fixture})"
    params = getattr(getattr(item, "callspec", None), "params", {})
    if params.get("store_location") == "postgresql":  # store_location asks for pg_server
        return "starts PostgreSQL (store_location)"
    return None


@pytest.hookimpl(tryfirst=True)  # before -m "not slow" deselects
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if slow_because(item) is not None:
            item.add_marker(pytest.mark.slow)


@pytest.fixture(autouse=True)
def no_remote_network(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """No real remote model: loopback-only sockets (here and in subprocesses), no key."""
    assert orchlab_netguard.installed(), "a test removed the loopback-only socket guard"
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.delenv("ORCHLAB_BACKEND", raising=False)
    monkeypatch.delenv("ORCHLAB_SCENARIOS", raising=False)  # a developer's own folders
    monkeypatch.setenv("ORCHLAB_EXPORT_OPENAI_TRACES", "0")
    yield
    shared = sys.modules.get("views._shared")  # AppTests run in this process: a catalogue
    if shared is not None:  # cached while a test had a scenario registered must not outlive it
        shared.get_catalogue.clear()


@pytest.fixture
def store_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh store file under tmp_path, also exported as ORCHLAB_STORE."""
    path = tmp_path / "store.sqlite"
    monkeypatch.setenv("ORCHLAB_STORE", str(path))
    return path


@pytest.fixture
def store(store_path: Path) -> Iterator[Store]:
    """An open Store on the temp file."""
    opened = Store(store_path)
    yield opened
    opened.close()


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PostgresServer]:
    """One real PostgreSQL server on 127.0.0.1 for the session (Debian's postgresql package,
    which .ci/run installs); each test gets a database of its own on it."""
    server = PostgresServer().start()
    yield server
    server.stop()


@pytest.fixture(params=["sqlite", "postgresql"])
def store_location(request: pytest.FixtureRequest, tmp_path: Path,
                   monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A fresh store on each engine (a file under tmp_path, a new PostgreSQL database), also
    exported as ORCHLAB_STORE: the store suite runs against both."""
    if request.param == "sqlite":
        location = str(tmp_path / "store.sqlite")
    else:
        server: PostgresServer = request.getfixturevalue("pg_server")
        location = server.create_database()
    monkeypatch.setenv("ORCHLAB_STORE", location)
    yield location
    if request.param == "postgresql":
        server.drop_database(location)


@pytest.fixture
def any_store(store_location: str) -> Iterator[Store]:
    """An open Store on each engine."""
    opened = Store(store_location)
    yield opened
    opened.close()


@pytest.fixture
def app_env(store_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """The dashboard on a temp store, its default backend the scripted sales one."""
    from sales_scripts import sales_backend

    from orchlab import backends

    backends.register("scripted", lambda _rest: sales_backend(), "test backend")
    monkeypatch.setenv("ORCHLAB_BACKEND", "scripted:sales")
    yield store_path
    backends.unregister("scripted")
