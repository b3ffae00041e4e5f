"""Model backends behind a registry keyed by strings such as `openai:gpt-4.1-mini`.

A backend id is `<prefix>:<rest>`. Each prefix maps to a small factory that imports its heavy
dependencies itself, so importing this package stays cheap.
"""

from __future__ import annotations

import threading

from orchlab.backends.base import Backend, Factory
from orchlab.core import config
from orchlab.core.errors import BackendError

__all__ = ["Backend", "BackendError", "Factory", "default_backend_id", 
           "opens_anywhere", "prefixes", "register", "resolve", "unregister"]

_FACTORIES: dict[str, Factory] = {}
_DESCRIPTIONS: dict[str, str] = {}
LOCAL_DEFAULT = "local:smollm2-135m"


def register(prefix: str, factory: Factory, description: str = "") -> None:
    """Register (or replace) the factory for `prefix:`; tests register scripted backends."""
    _FACTORIES[prefix] = factory
    _DESCRIPTIONS[prefix] = description


def unregister(prefix: str) -> None:
    """Forget a prefix registered by a test."""
    _FACTORIES.pop(prefix, None)
    _DESCRIPTIONS.pop(prefix, None)


def prefixes() -> dict[str, str]:
    """Registered prefixes with their one-line descriptions."""
    _register_builtins()
    return dict(_DESCRIPTIONS)


def resolve(backend_id: str) -> Backend:
    """Build the backend for an id, or raise BackendError saying what to set."""
    _register_builtins()
    prefix, sep, rest = backend_id.partition(":")
    if not sep or not rest.strip():
        raise BackendError(
            f"Backend id {backend_id!r} is not of the form <prefix>:<model>; "
            f"use one of: {', '.join(p + ':…' for p in sorted(_FACTORIES))}."
        )
    factory = _FACTORIES.get(prefix)
    if factory is None:
        raise BackendError(
            f"Unknown backend prefix {prefix!r} in {backend_id!r}; "
            f"known prefixes: {', '.join(sorted(_FACTORIES))}."
        )
    return factory(rest.strip())


OPENAI_DEFAULT = "openai:gpt-4.1-mini"


def default_backend_id() -> str:
    """ORCHLAB_BACKEND (env or .env), else OpenAI when a key is set, else the embedded model."""
    configured = config.env(config.ENV_BACKEND)
    if configured:
        return configured
    return OPENAI_DEFAULT if config.env("OPENAI_API_KEY") else LOCAL_DEFAULT


_builtins_lock = threading.Lock()
_builtins_registered = False
_BUILTINS: dict[str, Factory] = {}
"""The lab's own factories by prefix, as installed (a test may register over one)."""


def opens_anywhere(backend_id: str) -> bool:
    """Whether a fresh process resolves this id as this one does: its prefix is one of the
    lab's own factories, not one registered at run time (a test's scripted models)."""
    _register_builtins()
    prefix = backend_id.partition(":")[0]
    return prefix in _BUILTINS and _FACTORIES.get(prefix) is _BUILTINS[prefix]


def _register_builtins() -> None:
    """Install the factories' `FACTORIES` tables, once: under a lock, so that a thread asking
    meanwhile waits for the whole registry, and marked installed only when they are, so that
    a failed attempt (its exception propagates) is tried again on the next call. Without the
    optional local module the others are installed (and `local:` stays unknown). A builtin
    replaces a test's registration of the same prefix made before this ran; one made after
    replaces the builtin."""
    global _builtins_registered
    if _builtins_registered:
        return
    with _builtins_lock:
        if _builtins_registered:
            return
        from orchlab.backends import openai_compat, replay

        tables = [openai_compat.FACTORIES, replay.FACTORIES]
        try:
            from orchlab.backends import local
        except ImportError:  # pragma: no cover - the local backend module is optional
            pass
        else:
            tables.append(local.FACTORIES)
        for table in tables:
            for prefix, (factory, description) in table.items():
                register(prefix, factory, description)
                _BUILTINS[prefix] = factory
        _builtins_registered = True
