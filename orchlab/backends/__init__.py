"""Model backends behind a registry keyed by strings such as `openai:gpt-4.1-mini`.

A backend id is `<prefix>:<rest>`. Each prefix maps to a small factory that imports its heavy
dependencies itself, so importing this package stays cheap.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from orchlab import config
from orchlab.errors import BackendError

if TYPE_CHECKING:
    from agents.models.interface import Model


@dataclass
class Backend:
    """A resolved backend: hands out the Model each agent runs on."""

    id: str
    """Registry key it was resolved from."""
    model_name: str
    """Model name recorded on runs and used for pricing."""
    make_model: Callable[[str], Model]
    """Returns the Model for the named agent; real backends ignore the name."""
    local: bool = False
    """Runs on this machine: priced at $0 unless the user sets a price."""
    max_concurrency: int | None = None
    """Upper bound on simultaneous requests (1 for the in-process model); None: no bound."""
    shared_models: bool = False
    """make_model hands every run the same Model objects, so a run's agents can be reused."""
    remote: bool = False
    """Talks to a server by id alone, so worker processes can each open it again."""
    notes: list[str] = field(default_factory=list)
    """Facts the UI and CLI should show, e.g. 'runs one request at a time'."""
    check: Callable[[], None] | None = None
    """Asks the server again whether it answers (BackendError in one sentence if not); the
    runner calls it before each experiment, since a cached backend outlives its server.
    None: nothing outside this process to ask."""

    def model_for(self, agent_name: str) -> Model:
        """The Model this agent runs on for one run."""
        return self.make_model(agent_name)


Factory = Callable[[str], Backend]
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


def is_local_id(backend_id: str) -> bool:
    """Whether runs of this backend id are priced as local ($0 unless overridden)."""
    return backend_id.startswith("local:")


_builtins_registered = False


def _register_builtins() -> None:
    global _builtins_registered
    if _builtins_registered:
        return
    _builtins_registered = True
    from orchlab.backends import openai_compat

    openai_compat.register_all()
    try:
        from orchlab.backends import local
    except ImportError:  # pragma: no cover - the local backend module is optional at import
        return
    local.register_all()
