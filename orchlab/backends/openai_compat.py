"""Remote backends: OpenAI, any OpenAI-compatible server, and LiteLLM.

All of them talk Chat Completions, whose model class opens GENERATION spans carrying the model
name and usage, which is what the recorder sums. The client is passed to the model directly and
never installed as the SDK default, so no key ever reaches OpenAI's trace endpoint.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import AsyncIterator
from typing import Any

from agents.models.interface import Model

from orchlab import config
from orchlab.backends import Backend, BackendError, register
from orchlab.errors import RetryPolicy, with_retries


class RetryingModel(Model):
    """Retries 429/5xx/connection failures with backoff (Retry-After honoured), bounded."""

    def __init__(self, inner: Model, policy: RetryPolicy | None = None) -> None:
        self.inner = inner
        self.policy = policy or RetryPolicy()

    async def get_response(self, *args: Any, **kwargs: Any) -> Any:
        return await with_retries(lambda: self.inner.get_response(*args, **kwargs), self.policy)

    def stream_response(self, *args: Any, **kwargs: Any) -> AsyncIterator[Any]:
        return self.inner.stream_response(*args, **kwargs)

PROBE_TIMEOUT_S = 3.0
ENV_REQUEST_TIMEOUT = "ORCHLAB_REQUEST_TIMEOUT_S"
DEFAULT_REQUEST_TIMEOUT_S = 120.0


def openai_backend(model: str) -> Backend:
    """`openai:<model>`: key from OPENAI_API_KEY in the environment or `.env`."""
    key = config.env("OPENAI_API_KEY")
    if not key:
        raise BackendError(
            "No OpenAI key found: set OPENAI_API_KEY in the environment or in a .env file."
        )
    base_url = config.env("OPENAI_BASE_URL") or "https://api.openai.com/v1"
    _probe_server(model, base_url.rstrip("/"), key, key_name="OPENAI_API_KEY")
    shared = _chat_model(model, key, base_url)
    return Backend(id=f"openai:{model}", model_name=model, make_model=lambda _agent: shared,
                   remote=True, shared_models=True)


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
        id=f"compat:{model}@{base_url}", model_name=model, make_model=lambda _agent: shared,
        remote=True, shared_models=True,
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
    return Backend(id=f"litellm:{model}", model_name=model, make_model=lambda _agent: shared,
                   remote=True, shared_models=True)


def _chat_model(model: str, key: str, base_url: str | None) -> Model:
    """Chat Completions with our bounded retries (the client's own are off, so each attempt
    is counted once and recorded on the run)."""
    from agents import OpenAIChatCompletionsModel
    from openai import AsyncOpenAI

    timeout = float(config.env(ENV_REQUEST_TIMEOUT) or DEFAULT_REQUEST_TIMEOUT_S)
    client = AsyncOpenAI(api_key=key, base_url=base_url, max_retries=0, timeout=timeout)
    return RetryingModel(OpenAIChatCompletionsModel(model=model, openai_client=client))


def _probe_server(
    model: str, base_url: str, key: str, key_name: str = config.ENV_COMPAT_KEY
) -> None:
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
                f"The server at {base_url} refused the key (HTTP {exc.code}): check {key_name}."
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
