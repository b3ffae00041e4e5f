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


@pytest.fixture(autouse=True)
def no_remote_network(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """No real remote model: loopback-only sockets (here and in subprocesses), no key."""
    assert orchlab_netguard.installed(), "a test removed the loopback-only socket guard"
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.delenv("ORCHLAB_BACKEND", raising=False)
    monkeypatch.setenv("ORCHLAB_EXPORT_OPENAI_TRACES", "0")
    yield


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
