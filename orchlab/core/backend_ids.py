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
