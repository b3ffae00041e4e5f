"""What a backend id says before the registry (orchlab.backends) resolves it.

"Is this backend local?" is asked by pricing ($0), timing (a slower guess), replay and the run
page (one request at a time) and the presets (the quick-start limits): this is its one answer.
"""

from __future__ import annotations

LOCAL_PREFIX = "local:"
"""The embedded llama.cpp model's ids: `local:smollm2-135m`, `local:/path/model.gguf`."""


def is_local_id(backend_id: str) -> bool:
    """Whether runs of this backend id run in this process on the embedded model."""
    return backend_id.startswith(LOCAL_PREFIX)


REPLAY_PREFIX = "replay:"
"""A recorded experiment served again: `replay:<experiment id>[:<backend id>]`."""


def is_replay_id(backend_id: str) -> bool:
    """Whether this backend id serves a recording instead of calling a model."""
    return backend_id.startswith(REPLAY_PREFIX)


def short_model(backend_id: str) -> str:
    """The model a backend id names, shortly, for names a person reads before any backend
    opened: `openai:gpt-4.1-nano` -> gpt-4.1-nano, `compat:llama3@http://...` -> llama3,
    `local:/models/gemma-3-270m.gguf` -> gemma-3-270m."""
    rest = backend_id.partition(":")[2].strip() or backend_id
    if is_local_id(backend_id):
        rest = rest.replace("\\", "/").rsplit("/", 1)[-1].removesuffix(".gguf")
    return rest.rpartition("@")[0] or rest
