"""Cost of generations: genai-prices where it knows the provider, $0 for local models, a price
the user sets, and otherwise none: never an invented figure.

Who may price a generation, by backend:

- `openai:<model>`: genai-prices at provider openai; when OPENAI_BASE_URL is set, the provider
  genai-prices finds for that URL (so a local server behind the OpenAI client is not priced).
- `compat:<model>@<url>`: the provider genai-prices finds for `<url>`. A model is never priced
  by its name alone: `compat:gpt-4.1-mini@http://127.0.0.1:8000/v1` is a self-hosted model that
  shares a hosted model's name. Loopback, private, link-local and single-label hosts are never
  a provider, whatever genai-prices' patterns would say.
- `litellm:<provider>/<model>[@<url>]`: with a URL, as compat; without, the provider named in
  the id as genai-prices knows it (`anthropic`, `gemini` -> google, `bedrock` -> aws, ...),
  except LiteLLM's bring-your-own-endpoint providers (`custom_openai`, `hosted_vllm`,
  `ollama`, ...). A base URL LiteLLM would read from the environment (`<PROVIDER>_API_BASE`,
  `<PROVIDER>_BASE_URL`) decides instead, as a URL.
- `local:<model>`: $0.
- any other prefix (the scripted test backends): genai-prices by the model name.

A price the user sets wins everywhere: ORCHLAB_PRICE_<MODEL> = "<input $/MTok>,<output $/MTok>"
(model name upper-cased, non-alphanumerics as underscores), e.g.
ORCHLAB_PRICE_SMOLLM2_135M="0.01,0.02". For a litellm id the name with its provider is tried
first (ORCHLAB_PRICE_HOSTED_VLLM_QWEN2_5_7B), then without (ORCHLAB_PRICE_QWEN2_5_7B).

genai-prices finds a provider from a URL with `re.match(provider.api_pattern, url)`, first
provider in its list wins: the patterns are anchored at the start only, so
`https://api.openai.com.attacker.example` would match OpenAI's; we also require the host to
end where the matched host does (a pattern that stops inside the host, such as moonshot's
`https://api\\.moonshot\\.`, may be followed by a top-level domain only).

Speed: `generation_cost` runs for every generation of every run. The backend id is parsed once
per id, the (provider, model) lookup runs once per model, and a price without tiers is linear
in the token counts between two tier thresholds, so each piece's coefficients are computed once
from genai-prices itself (per price object, which follows genai-prices' date and time-of-day
conditions) and checked on a third point.
"""

from __future__ import annotations

import ipaddress
import re
from bisect import bisect_left
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any
from urllib.parse import urlsplit

from orchlab.core import config
from orchlab.core.backend_ids import is_local_id
from orchlab.core.records import SpanRecord

UNKNOWN = "unknown price"
LOCAL = "local, $0"

LITELLM_OWN_ENDPOINT_PROVIDERS = frozenset({
    "custom_openai", "openai_like", "aiohttp_openai", "custom", "hosted_vllm", "vllm", "ollama",
    "ollama_chat", "lm_studio", "llamafile", "xinference", "triton", "oobabooga", "petals",
    "docker_model_runner", "litellm_proxy", "lemonade", "infinity", "microsoft_365_copilot",
})
"""LiteLLM providers that mean "a server of your own" (or that genai-prices would map to the
wrong provider by a substring): their models are never priced by name."""

_PRIVATE_SUFFIXES = (".localhost", ".local", ".internal", ".lan", ".home.arpa", ".intranet",
                     ".corp", ".home")


def run_cost(
    generations: Iterable[SpanRecord], backend_id: str,
    cost: Callable[[SpanRecord], float | None] | None = None,
) -> float | None:
    """Sum of generation costs; None as soon as one generation has no known price. `cost`
    prices one generation (default: `generation_cost`; the run metrics pass a memoised one)."""
    price = cost or (lambda gen: generation_cost(
        backend_id, gen.model or "", gen.input_tokens, gen.output_tokens, gen.cached_tokens))
    total = 0.0
    for gen in generations:
        value = price(gen)
        if value is None:
            return None
        total += value
    return total


def generation_cost(
    backend_id: str, model: str, input_tokens: int, output_tokens: int, cached_tokens: int = 0
) -> float | None:
    """USD for one generation, or None when nobody knows the price."""
    target = _target(backend_id)
    override = _user_price(target, model)
    if override is not None:
        per_in, per_out, _name = override
        return (input_tokens * per_in + output_tokens * per_out) / 1_000_000
    if target.local:
        return 0.0
    found = _lookup(*_where(target, model))
    if found is None:
        return None
    return found.cost(input_tokens, output_tokens, cached_tokens)


def price_label(backend_id: str, model: str) -> str:
    """Who prices this backend's generations, for the UI, the CLI and `RunRecord.price_source`:
    "genai-prices (<provider>)", "user price $a/$b per MTok (<variable>)", "local, $0" or
    "unknown price"."""
    target = _target(backend_id)
    override = _user_price(target, model)
    if override is not None:
        per_in, per_out, name = override
        return f"user price ${per_in:g}/${per_out:g} per MTok ({name})"
    if target.local:
        return LOCAL
    found = _lookup(*_where(target, model))
    return f"genai-prices ({found.provider_id})" if found is not None else UNKNOWN


# -- the backend id, parsed once --------------------------------------------------------------

@dataclass(frozen=True)
class _Target:
    """What a backend id says about who may price it."""

    local: bool = False
    provider: str | None = None
    """genai-prices provider id to ask (when no URL decides)."""
    url: str | None = None
    """Base URL that decides the provider (compat, litellm with @url)."""
    url_env: tuple[str, ...] = ()
    """Environment variables whose value, when set, is a base URL that decides instead."""
    by_name: bool = False
    """Let genai-prices guess the provider from the model name (non-production prefixes)."""
    strip: str = ""
    """Prefix to drop from span model names before asking genai-prices ("anthropic/")."""
    litellm: bool = False
    """Also try the user price without the provider prefix."""


@lru_cache(maxsize=1024)
def _target(backend_id: str) -> _Target:
    if is_local_id(backend_id):
        return _Target(local=True)
    prefix, _, rest = backend_id.partition(":")
    if prefix == "openai":
        return _Target(provider="openai", url_env=("OPENAI_BASE_URL",))
    if prefix == "compat":
        model, sep, url = rest.rpartition("@")
        return _Target(url=url if sep and model else None)
    if prefix == "litellm":
        model, sep, url = rest.rpartition("@")
        if not (sep and model and url.startswith(("http://", "https://"))):
            model, url = rest, ""
        provider, slash, _name = model.partition("/")
        strip = provider + "/" if slash else ""
        if url:
            return _Target(url=url, strip=strip, litellm=True)
        if not slash or provider.lower() in LITELLM_OWN_ENDPOINT_PROVIDERS:
            return _Target(strip=strip, litellm=True)
        env = re.sub(r"[^A-Za-z0-9]", "_", provider).upper()
        url_env = (f"{env}_API_BASE", f"{env}_BASE_URL")
        if provider.lower() == "openai":
            url_env = ("OPENAI_API_BASE", "OPENAI_BASE_URL")
        return _Target(provider=provider.lower(), url_env=url_env, strip=strip, litellm=True)
    return _Target(by_name=True)


def _where(target: _Target, model: str) -> tuple[str, str | None, str | None, bool]:
    """(model_ref, provider_id, url, by_name) to look up; all None: nobody may price it."""
    ref = model[len(target.strip):] if target.strip and model.startswith(target.strip) else model
    for name in target.url_env:
        url = config.env(name)
        if url:
            return ref, None, url, False
    return ref, target.provider, target.url, target.by_name


# -- genai-prices, looked up once per (model, provider or URL) ---------------------------------

class _Found:
    """A model genai-prices prices at one provider, with a fast path for linear prices."""

    def __init__(self, model: Any, provider: Any) -> None:
        self.model = model
        self.provider_id: str = provider.id
        self._by_price: dict[int, _Linear] = {}

    def cost(self, input_tokens: int, output_tokens: int, cached_tokens: int) -> float:
        prices = self.model.get_prices(datetime.now(tz=UTC))  # date / time-of-day conditions
        linear = self._by_price.get(id(prices))
        if linear is None or linear.prices is not prices:
            linear = self._by_price[id(prices)] = _Linear(prices)
        return linear.cost(input_tokens, output_tokens, cached_tokens)


class _Linear:
    """One genai-prices price as linear pieces: between two tier thresholds (which apply to the
    whole request by its input tokens) a price is base + a*input + b*output + c*cached. Each
    piece's coefficients are read from genai-prices' own arithmetic, then checked on a third
    point; a piece that is not linear after all is priced by genai-prices on every call."""

    def __init__(self, prices: Any) -> None:
        from genai_prices.types import TieredPrices

        self.prices = prices
        self.thresholds = sorted({tier.start for value in vars(prices).values()
                                  if isinstance(value, TieredPrices) for tier in value.tiers})
        self._pieces: dict[int, tuple[float, float, float, float] | None] = {}

    def cost(self, input_tokens: int, output_tokens: int, cached_tokens: int) -> float:
        piece = bisect_left(self.thresholds, input_tokens) if self.thresholds else 0
        if piece not in self._pieces:
            self._pieces[piece] = self._coefficients(piece)
        coefficients = self._pieces[piece]
        if coefficients is None:
            return _exact(self.prices, input_tokens, output_tokens, cached_tokens)
        base, per_in, per_out, per_cached = coefficients
        return base + input_tokens * per_in + output_tokens * per_out + cached_tokens * per_cached

    def _coefficients(self, piece: int) -> tuple[float, float, float, float] | None:
        """Piece k holds the input counts above threshold k-1 and up to threshold k."""
        lo = self.thresholds[piece - 1] + 1 if piece > 0 else 0
        hi = self.thresholds[piece] if piece < len(self.thresholds) else lo + 1_000_000
        if hi - lo < 2:
            return None
        f = self.prices
        at_lo, at_hi = _exact(f, lo, 0, 0), _exact(f, hi, 0, 0)
        per_in = (at_hi - at_lo) / (hi - lo)
        base = at_lo - lo * per_in
        per_out = (_exact(f, lo, 1_000_000, 0) - at_lo) / 1_000_000
        per_cached = (_exact(f, hi, 0, hi) - at_hi) / hi
        i, o = (lo + hi) // 2, 8_765
        c = i // 3
        linear = base + i * per_in + o * per_out + c * per_cached
        if abs(linear - _exact(f, i, o, c)) > 1e-12 * max(1e-6, abs(linear)):
            return None
        return base, per_in, per_out, per_cached


@lru_cache(maxsize=4096)
def _lookup(ref: str, provider: str | None, url: str | None, by_name: bool) -> _Found | None:
    """genai-prices' (model, provider), or None when it may not or cannot price the model."""
    from genai_prices import Usage, calc_price

    if not ref or not (provider or url or by_name):
        return None
    usage = Usage(input_tokens=0, output_tokens=0)
    try:
        if url is not None:
            api_url = _public_url(url)
            if api_url is None:
                return None
            result = calc_price(usage, model_ref=ref, provider_api_url=api_url)
            if not _matches_whole_host(result.provider.api_pattern, api_url):
                return None
        else:
            result = calc_price(usage, model_ref=ref, provider_id=provider)
    except LookupError:
        return None
    return _Found(result.model, result.provider)


def _public_url(url: str) -> str | None:
    """`scheme://host[:port]/path` of a base URL on a public host, else None."""
    try:
        parts = urlsplit(url.strip())
        host = (parts.hostname or "").rstrip(".").lower()
        port = parts.port
    except ValueError:
        return None
    if parts.scheme not in ("http", "https") or not host or _is_private_host(host):
        return None
    netloc = f"[{host}]" if ":" in host else host
    netloc = netloc if port is None else f"{netloc}:{port}"
    return f"{parts.scheme}://{netloc}{parts.path}"


def _is_private_host(host: str) -> bool:
    """Loopback, private, link-local, reserved addresses and names that only resolve locally."""
    try:
        address = ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return host == "localhost" or "." not in host or host.endswith(_PRIVATE_SUFFIXES)
    return not address.is_global


def _matches_whole_host(pattern: str, url: str) -> bool:
    """genai-prices' match, and the host ends where the matched host ends (see module doc)."""
    match = re.match(pattern, url)
    if match is None:
        return False
    scheme_end = url.index("://") + 3
    host_end = next((i for i in range(scheme_end, len(url)) if url[i] in ":/"), len(url))
    if match.end() >= host_end:
        return True
    return "." not in url[match.end():host_end]


def _exact(prices: Any, input_tokens: int, output_tokens: int, cached_tokens: int) -> float:
    from genai_prices import Usage

    usage = Usage(input_tokens=input_tokens, output_tokens=output_tokens,
                  cache_read_tokens=cached_tokens)
    return float(prices.calc_price(usage)["total_price"])


# -- the user's price -----------------------------------------------------------------------------

def _user_price(target: _Target, model: str) -> tuple[float, float, str] | None:
    """(input $/MTok, output $/MTok, variable) when the user set a price for the model."""
    for name in _price_variables(model, target.strip if target.litellm else ""):
        raw = config.env(name)
        if raw is not None:
            return _parse_price(name, raw)
    return None


@lru_cache(maxsize=1024)
def _price_variables(model: str, strip: str) -> tuple[str, ...]:
    names = [model]
    if strip and model.startswith(strip):
        names.append(model[len(strip):])
    return tuple("ORCHLAB_PRICE_" + re.sub(r"[^A-Za-z0-9]", "_", n).upper() for n in names)


@lru_cache(maxsize=256)
def _parse_price(name: str, raw: str) -> tuple[float, float, str]:
    try:
        per_in, per_out = (float(x) for x in raw.split(","))
    except ValueError:
        raise ValueError(f"{name} must be '<input $/MTok>,<output $/MTok>', got {raw!r}") from None
    return per_in, per_out, name
