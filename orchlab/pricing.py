"""Cost of generations: genai-prices, $0 for local models, never an invented figure.

A price the user sets wins: ORCHLAB_PRICE_<MODEL> = "<input $/MTok>,<output $/MTok>" (model name
upper-cased, non-alphanumerics as underscores), e.g. ORCHLAB_PRICE_SMOLLM2_135M="0.01,0.02".
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from functools import lru_cache

from orchlab import config
from orchlab.backends import is_local_id
from orchlab.records import SpanRecord


def run_cost(generations: Iterable[SpanRecord], backend_id: str) -> float | None:
    """Sum of generation costs; None as soon as one generation has no known price."""
    total = 0.0
    for gen in generations:
        cost = generation_cost(
            backend_id, gen.model or "", gen.input_tokens, gen.output_tokens, gen.cached_tokens
        )
        if cost is None:
            return None
        total += cost
    return total


def generation_cost(
    backend_id: str, model: str, input_tokens: int, output_tokens: int, cached_tokens: int = 0
) -> float | None:
    """USD for one generation, or None when nobody knows the price."""
    override = _override(model)
    if override is not None:
        per_in, per_out = override
        return (input_tokens * per_in + output_tokens * per_out) / 1_000_000
    if is_local_id(backend_id):
        return 0.0
    return _genai_price(model, _provider(backend_id), input_tokens, output_tokens, cached_tokens)


def price_label(backend_id: str, model: str) -> str:
    """How the UI and CLI describe a backend's price."""
    override = _override(model)
    if override is not None:
        per_in, per_out = override
        return f"user price ${per_in:g}/${per_out:g} per MTok"
    if is_local_id(backend_id):
        return "local, $0"
    known = _genai_price(model, _provider(backend_id), 1_000_000, 0, 0) is not None
    return "genai-prices" if known else "unknown price"


def _provider(backend_id: str) -> str | None:
    return "openai" if backend_id.startswith("openai:") else None


@lru_cache(maxsize=4096)
def _genai_price(
    model: str, provider: str | None, input_tokens: int, output_tokens: int, cached: int
) -> float | None:
    from genai_prices import Usage, calc_price

    usage = Usage(input_tokens=input_tokens, output_tokens=output_tokens, cache_read_tokens=cached)
    try:
        price = calc_price(usage, model_ref=model, provider_id=provider)
    except LookupError:
        return None
    return float(price.total_price)


def _override(model: str) -> tuple[float, float] | None:
    name = "ORCHLAB_PRICE_" + re.sub(r"[^A-Za-z0-9]", "_", model).upper()
    raw = config.env(name)
    if raw is None:
        return None
    try:
        per_in, per_out = (float(x) for x in raw.split(","))
    except ValueError:
        raise ValueError(f"{name} must be '<input $/MTok>,<output $/MTok>', got {raw!r}") from None
    return per_in, per_out
