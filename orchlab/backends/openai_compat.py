"""Remote backends: OpenAI, any OpenAI-compatible server, and LiteLLM.

All of them talk Chat Completions; both model classes (the SDK's OpenAIChatCompletionsModel and
LitellmModel) open GENERATION spans carrying the model name and usage, which is what the
recorder sums. All are wrapped in RetryingModel with the providers' own retries off, and all are
probed before the first run. The client is passed to the model directly and never installed as
the SDK default, so no key ever reaches OpenAI's trace endpoint.
"""

from __future__ import annotations

import dataclasses
import json
import os
import urllib.error
import urllib.request
import warnings
from collections.abc import AsyncIterator
from typing import Any

from agents import ModelSettings
from agents.models.interface import Model

from orchlab.backends.base import Backend, Factory
from orchlab.core import config
from orchlab.core.errors import BackendError, RetryPolicy, with_retries


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
                   remote=True, shared_models=True,
                   check=lambda: _probe_server(model, base_url.rstrip("/"), key,
                                               key_name="OPENAI_API_KEY"))


def compat_backend(rest: str) -> Backend:
    """`compat:<model>@<base_url>`: any OpenAI-compatible server (Ollama, vLLM, LM Studio...)."""
    model, sep, base_url = rest.rpartition("@")
    if not sep or not model or not base_url.startswith(("http://", "https://")):
        raise BackendError(
            f"compat backend {rest!r} must look like compat:<model>@http://host:port/v1."
        )
    key = compat_key(base_url)
    _probe_server(model, base_url.rstrip("/"), key)
    shared = _chat_model(model, key, base_url.rstrip("/"))
    return Backend(
        id=f"compat:{model}@{base_url}", model_name=model, make_model=lambda _agent: shared,
        remote=True, shared_models=True,
        check=lambda: _probe_server(model, base_url.rstrip("/"), key),
    )


def litellm_backend(rest: str) -> Backend:
    """`litellm:<provider/model>[@<base_url>]` when `openai-agents[litellm]` is installed.

    With a base URL the server is probed as a `compat:` one is (it must answer; one that speaks
    the OpenAI API must serve the model) and the key is ORCHLAB_COMPAT_API_KEY, as for compat:.
    Without one, nothing can be asked without the network: LiteLLM's own check that the
    provider's key variable is set.
    """
    model, base_url = _split_litellm(rest)
    litellm, LitellmModel = _import_litellm()  # noqa: N806 - a class

    try:
        served_name, provider, _key, _base = litellm.get_llm_provider(model=model,
                                                                      api_base=base_url or None)
    except Exception:  # noqa: BLE001 - LiteLLM raises its BadRequestError, with a long text
        raise BackendError(
            f"LiteLLM does not know the provider of {model!r}: write "
            "litellm:<provider>/<model>, e.g. litellm:anthropic/claude-3-5-haiku-latest."
        ) from None
    key: str | None = None
    if base_url:
        key = compat_key(base_url)
        _probe_server(served_name, base_url.rstrip("/"), key,
                      openai_api=provider in _litellm_openai_api_providers(litellm))
    else:
        _probe_litellm_keys(litellm, model)
    inner = LitellmModel(model=model, base_url=base_url.rstrip("/") or None, api_key=key)
    shared = RetryingModel(_OneAttemptLitellm(inner))
    backend_id = f"litellm:{model}@{base_url}" if base_url else f"litellm:{model}"
    return Backend(id=backend_id, model_name=model, make_model=lambda _agent: shared,
                   remote=True, shared_models=True,
                   check=(lambda: _probe_server(
                       served_name, base_url.rstrip("/"), key or "",
                       openai_api=provider in _litellm_openai_api_providers(litellm),
                   )) if base_url else None)


class _OneAttemptLitellm(Model):
    """LitellmModel with LiteLLM's own retries off and our request timeout, so RetryingModel
    is the only retry layer and each attempt is one generation span."""

    def __init__(self, inner: Model) -> None:
        self.inner = inner
        self.timeout_s = float(config.env(ENV_REQUEST_TIMEOUT) or DEFAULT_REQUEST_TIMEOUT_S)

    def _settings(self, settings: ModelSettings) -> ModelSettings:
        extra = dict(settings.extra_args or {})
        extra.update(num_retries=0, max_retries=0)
        extra.setdefault("timeout", self.timeout_s)
        return dataclasses.replace(settings, extra_args=extra)

    async def get_response(self, system_instructions: Any, input: Any,
                           model_settings: ModelSettings, *args: Any, **kwargs: Any) -> Any:
        return await self.inner.get_response(system_instructions, input,
                                             self._settings(model_settings), *args, **kwargs)

    def stream_response(self, system_instructions: Any, input: Any,
                        model_settings: ModelSettings, *args: Any,
                        **kwargs: Any) -> AsyncIterator[Any]:
        return self.inner.stream_response(system_instructions, input,
                                          self._settings(model_settings), *args, **kwargs)


def _split_litellm(rest: str) -> tuple[str, str]:
    """(model, base_url or "") of `<provider/model>[@<base_url>]`."""
    model, sep, base_url = rest.rpartition("@")
    if not sep:
        return rest, ""
    if not model or not base_url.startswith(("http://", "https://")):
        raise BackendError(
            f"litellm backend {rest!r} must look like litellm:<provider>/<model> or "
            "litellm:<provider>/<model>@http://host:port/v1."
        )
    return model, base_url


def _import_litellm() -> tuple[Any, Any]:
    """(litellm, LitellmModel), imported without LiteLLM's start-up download of a price list
    (it fetches one from the internet at import time; ours come from genai-prices) and without
    the pydantic warnings its import prints."""
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            import litellm
            from agents.extensions.models.litellm_model import LitellmModel
    except ImportError as exc:
        raise BackendError(
            "LiteLLM is not installed: run pip install 'openai-agents[litellm]'."
        ) from exc
    litellm.suppress_debug_info = True  # no "Give Feedback / Get Help" banners on errors
    return litellm, LitellmModel


def _litellm_openai_api_providers(litellm: Any) -> set[str]:
    """LiteLLM providers that speak the OpenAI API, so /models can be asked."""
    own = {"openai", "custom_openai", "openai_like", "text-completion-openai", "aiohttp_openai"}
    return own | {str(p) for p in getattr(litellm, "openai_compatible_providers", [])}


def _probe_litellm_keys(litellm: Any, model: str) -> None:
    """Without a base URL nothing can be asked without the network: check, with LiteLLM's own
    helper, that the provider's settings are in the environment (or `.env`)."""
    config.load_env()
    try:
        report = litellm.validate_environment(model=model)
    except Exception:  # noqa: BLE001 - an unusual provider: the first call will tell
        return
    missing = [str(name) for name in report.get("missing_keys") or []]
    if report.get("keys_in_environment") or not missing:
        return
    if len(missing) == 1:
        what = f"set {missing[0]}"
    else:
        what = f"set the variables LiteLLM reports missing ({', '.join(missing)})"
    raise BackendError(
        f"LiteLLM has no key for {model!r}: {what} in the environment or in a .env file."
    )


def compat_key(base_url: str) -> str:
    """ORCHLAB_COMPAT_API_KEY for a server at `base_url`, when the key was configured for its
    host (`config.compat_key_hosts`); "not-needed" when no key is set. A key set for other
    hosts is BackendError before any request: a backend id from someone else's experiment
    file must not carry this machine's key to their server."""
    key = config.env(config.ENV_COMPAT_KEY)
    if not key:
        return "not-needed"
    host, allowed = config.host_of(base_url), config.compat_key_hosts()
    if host in allowed:
        return key
    where = (f"it is configured for {', '.join(allowed)} ({config.ENV_COMPAT_BASE_URL}, "
             f"{config.ENV_COMPAT_KEY_HOSTS})" if allowed else
             f"no host is configured for it: set {config.ENV_COMPAT_BASE_URL}")
    raise BackendError(
        f"{config.ENV_COMPAT_KEY} is not sent to {host}: {where}; to send it there, add "
        f"{host} to {config.ENV_COMPAT_KEY_HOSTS} (comma-separated). Nothing was sent.")


def _chat_model(model: str, key: str, base_url: str | None) -> Model:
    """Chat Completions with our bounded retries (the client's own are off, so each attempt
    is counted once and recorded on the run)."""
    from agents import OpenAIChatCompletionsModel
    from openai import AsyncOpenAI

    timeout = float(config.env(ENV_REQUEST_TIMEOUT) or DEFAULT_REQUEST_TIMEOUT_S)
    client = AsyncOpenAI(api_key=key, base_url=base_url, max_retries=0, timeout=timeout)
    return RetryingModel(OpenAIChatCompletionsModel(model=model, openai_client=client))


def _probe_server(
    model: str, base_url: str, key: str, key_name: str = config.ENV_COMPAT_KEY,
    openai_api: bool = True,
) -> None:
    """Fail fast, in one sentence, when the server is down or does not serve the model.

    `openai_api=False` (a LiteLLM provider with its own API): only whether anything answers.
    """
    request = urllib.request.Request(
        f"{base_url}/models", headers={"Authorization": f"Bearer {key}"}
    )
    try:
        with urllib.request.urlopen(request, timeout=PROBE_TIMEOUT_S) as response:
            listing = json.loads(response.read() or b"{}")
    except urllib.error.HTTPError as exc:
        if exc.code in (401, 403) and openai_api:
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
    if not openai_api or not isinstance(listing, dict):
        return
    served = [m.get("id") for m in listing.get("data", []) if isinstance(m, dict)]
    if served and model not in served:
        raise BackendError(
            f"The server at {base_url} does not serve model {model!r}; it serves: "
            f"{', '.join(str(s) for s in served[:10])}."
        )


FACTORIES: dict[str, tuple[Factory, str]] = {
    "openai": (openai_backend, "OpenAI (needs OPENAI_API_KEY)"),
    "compat": (compat_backend, "OpenAI-compatible server: compat:<model>@<base_url>"),
    "litellm": (litellm_backend, "LiteLLM: litellm:<provider/model>, optionally @<base_url>"),
}
"""The remote prefixes, as the registry installs them."""
