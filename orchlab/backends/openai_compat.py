"""Remote backends: OpenAI, any OpenAI-compatible server, and LiteLLM.

All of them talk Chat Completions, whose model class opens GENERATION spans carrying the model
name and usage, which is what the recorder sums. The client is passed to the model directly and
never installed as the SDK default, so no key ever reaches OpenAI's trace endpoint.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import TYPE_CHECKING

from orchlab import config
from orchlab.backends import Backend, BackendError, register

if TYPE_CHECKING:
    from agents.models.interface import Model

PROBE_TIMEOUT_S = 3.0


def openai_backend(model: str) -> Backend:
    """`openai:<model>`: key from OPENAI_API_KEY in the environment or `.env`."""
    key = config.env("OPENAI_API_KEY")
    if not key:
        raise BackendError(
            "No OpenAI key found: set OPENAI_API_KEY in the environment or in a .env file."
        )
    base_url = config.env("OPENAI_BASE_URL")
    shared = _chat_model(model, key, base_url)
    return Backend(id=f"openai:{model}", model_name=model, make_model=lambda _agent: shared)


def compat_backend(rest: str) -> Backend:
    """`compat:<model>@<base_url>`: any OpenAI-compatible server (Ollama, vLLM, LM Studio...)."""
    model, sep, base_url = rest.rpartition("@")
    if not sep or not model or not base_url.startswith(("http://", "https://")):
        raise BackendError(
            f"compat backend {rest!r} must look like compat:<model>@http://host:port/v1."
        )
    key = config.env(config.ENV_COMPAT_KEY) or "not-needed"
    _probe_server(model, base_url.rstrip("/"), key)
    shared = _chat_model(model, key, base_url.rstrip("/"))
    return Backend(
        id=f"compat:{model}@{base_url}", model_name=model, make_model=lambda _agent: shared
    )


def litellm_backend(model: str) -> Backend:
    """`litellm:<provider/model>` when `openai-agents[litellm]` is installed."""
    try:
        from agents.extensions.models.litellm_model import LitellmModel
    except ImportError as exc:
        raise BackendError(
            "LiteLLM is not installed: run pip install 'openai-agents[litellm]'."
        ) from exc
    shared = LitellmModel(model=model)
    return Backend(id=f"litellm:{model}", model_name=model, make_model=lambda _agent: shared)


def _chat_model(model: str, key: str, base_url: str | None) -> Model:
    from agents import OpenAIChatCompletionsModel
    from openai import AsyncOpenAI

    client = AsyncOpenAI(api_key=key, base_url=base_url)
    return OpenAIChatCompletionsModel(model=model, openai_client=client)


def _probe_server(model: str, base_url: str, key: str) -> None:
    """Fail fast, in one sentence, when the server is down or does not serve the model."""
    request = urllib.request.Request(
        f"{base_url}/models", headers={"Authorization": f"Bearer {key}"}
    )
    try:
        with urllib.request.urlopen(request, timeout=PROBE_TIMEOUT_S) as response:
            listing = json.loads(response.read() or b"{}")
    except urllib.error.HTTPError as exc:
        if exc.code in (401, 403):
            raise BackendError(
                f"The server at {base_url} refused the key: set {config.ENV_COMPAT_KEY}."
            ) from None
        return  # some servers do not implement /models; the first call will tell
    except (urllib.error.URLError, OSError, ValueError) as exc:
        reason = getattr(exc, "reason", exc)
        raise BackendError(
            f"No OpenAI-compatible server answered at {base_url} ({reason}): start it or fix "
            "the base URL."
        ) from None
    served = [m.get("id") for m in listing.get("data", []) if isinstance(m, dict)]
    if served and model not in served:
        raise BackendError(
            f"The server at {base_url} does not serve model {model!r}; it serves: "
            f"{', '.join(str(s) for s in served[:10])}."
        )


def register_all() -> None:
    """Install the remote prefixes in the registry."""
    register("openai", openai_backend, "OpenAI (needs OPENAI_API_KEY)")
    register("compat", compat_backend, "OpenAI-compatible server: compat:<model>@<base_url>")
    register("litellm", litellm_backend, "LiteLLM: litellm:<provider/model>")
