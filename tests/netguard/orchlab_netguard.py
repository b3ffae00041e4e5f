"""Loopback-only sockets for the test process and every Python process it starts.

Imported by `tests/conftest.py`, and at start-up by every Python process the tests start
(`sitecustomize.py` beside it, on PYTHONPATH): CLI runs, worker processes (forked from a fork
server that never saw a test's monkeypatches) and the browser test's Streamlit server. A
connect beyond 127.0.0.0/8, e.g. to a real remote model, raises RemoteCallBlocked.
"""

from __future__ import annotations

import ipaddress
import socket

_real_connect = socket.socket.connect
_real_connect_ex = socket.socket.connect_ex


class RemoteCallBlocked(AssertionError):
    """Raised when code under test tries to reach a remote host."""


def is_loopback(address: object) -> bool:
    """Whether a connect() address stays on this machine (AF_UNIX paths do)."""
    if isinstance(address, (str, bytes)):
        return True
    host = address[0] if isinstance(address, tuple) else address
    if host in ("localhost", "") or host is None:
        return True
    try:
        return ipaddress.ip_address(str(host).split("%")[0]).is_loopback
    except ValueError:
        return False


def _guarded_connect(self: socket.socket, address: object) -> None:
    if not is_loopback(address):
        raise RemoteCallBlocked(f"test tried to reach a remote host: {address!r}")
    _real_connect(self, address)  # type: ignore[arg-type]


def _guarded_connect_ex(self: socket.socket, address: object) -> int:
    if not is_loopback(address):
        raise RemoteCallBlocked(f"test tried to reach a remote host: {address!r}")
    return _real_connect_ex(self, address)  # type: ignore[arg-type]


def installed() -> bool:
    """Whether this process's sockets are guarded."""
    return socket.socket.connect is _guarded_connect


socket.socket.connect = _guarded_connect  # type: ignore[method-assign]
socket.socket.connect_ex = _guarded_connect_ex  # type: ignore[method-assign]
