"""Shared fixtures. Tests never reach the internet: any non-loopback connect fails the test."""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from orchlab.store import Store

_real_connect = socket.socket.connect
_real_connect_ex = socket.socket.connect_ex


class RemoteCallBlocked(AssertionError):
    """Raised when code under test tries to reach a remote host."""


def _is_loopback(address: object) -> bool:
    if isinstance(address, (str, bytes)):  # AF_UNIX path
        return True
    host = address[0] if isinstance(address, tuple) else address
    if host in ("localhost", "") or host is None:
        return True
    try:
        return ipaddress.ip_address(str(host).split("%")[0]).is_loopback
    except ValueError:
        return False


def _guarded_connect(self: socket.socket, address: object) -> None:
    if not _is_loopback(address):
        raise RemoteCallBlocked(f"test tried to reach a remote host: {address!r}")
    _real_connect(self, address)  # type: ignore[arg-type]


def _guarded_connect_ex(self: socket.socket, address: object) -> int:
    if not _is_loopback(address):
        raise RemoteCallBlocked(f"test tried to reach a remote host: {address!r}")
    return _real_connect_ex(self, address)  # type: ignore[arg-type]


@pytest.fixture(autouse=True)
def no_remote_network(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Fail any attempt to open a connection beyond 127.0.0.0/8 (e.g. a real remote model)."""
    monkeypatch.setattr(socket.socket, "connect", _guarded_connect)
    monkeypatch.setattr(socket.socket, "connect_ex", _guarded_connect_ex)
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
