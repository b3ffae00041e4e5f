"""Prices: genai-prices only where it knows the provider, a user's price, local $0, else unknown.

A model is never priced by its name alone: `compat:gpt-4.1-mini@http://127.0.0.1:8000/v1` is a
self-hosted model that happens to share a hosted model's name.
"""

from __future__ import annotations

import time

import pytest
from genai_prices import Usage, calc_price

from orchlab.measure import pricing

IN, OUT, CACHED = 12_345, 678, 4_000


def hosted(model: str, input_tokens: int = IN, output_tokens: int = OUT, cached: int = 0,
           **where: str) -> float:
    usage = Usage(input_tokens=input_tokens, output_tokens=output_tokens,
                  cache_read_tokens=cached)
    return float(calc_price(usage, model_ref=model, **where).total_price)


@pytest.fixture(autouse=True)
def no_price_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    """No user price or base URL from the machine running the tests."""
    import os

    for name in list(os.environ):
        if name.startswith("ORCHLAB_PRICE_") or name.endswith(("_BASE_URL", "_API_BASE")):
            monkeypatch.delenv(name)


# -- compat: the server's URL decides -------------------------------------------------------

@pytest.mark.parametrize("url", [
    "http://127.0.0.1:8000/v1",
    "http://localhost:11434/v1",
    "http://10.1.2.3:8000/v1",
    "http://192.168.1.20:1234/v1",
    "http://172.16.0.9/v1",
    "http://[::1]:8000/v1",
    "http://vllm:8000/v1",                       # a single-label name: a container or LAN host
    "https://llm.internal/v1",
    "https://my-gpu-box.example.com/v1",         # public, but genai-prices does not know it
    "https://api.openai.com.attacker.example/v1",  # starts like OpenAI's URL, is not OpenAI
])
def test_compat_model_named_like_a_hosted_one_is_not_priced_by_its_name(url: str) -> None:
    backend_id = f"compat:gpt-4.1-mini@{url}"
    assert pricing.generation_cost(backend_id, "gpt-4.1-mini", IN, OUT) is None
    assert pricing.price_label(backend_id, "gpt-4.1-mini") == "unknown price"


def test_compat_server_that_genai_prices_knows_by_its_url_is_priced() -> None:
    backend_id = "compat:gpt-4.1-mini@https://api.openai.com/v1"
    expected = hosted("gpt-4.1-mini", provider_api_url="https://api.openai.com/v1")
    assert pricing.generation_cost(backend_id, "gpt-4.1-mini", IN, OUT) == pytest.approx(
        expected, rel=1e-12)
    assert pricing.price_label(backend_id, "gpt-4.1-mini") == "genai-prices (openai)"


def test_compat_groq_url_prices_at_groq() -> None:
    url = "https://api.groq.com/openai/v1"
    backend_id = f"compat:llama-3.1-8b-instant@{url}"
    cost = pricing.generation_cost(backend_id, "llama-3.1-8b-instant", IN, OUT)
    assert cost == pytest.approx(hosted("llama-3.1-8b-instant", provider_id="groq"), rel=1e-12)
    assert pricing.price_label(backend_id, "llama-3.1-8b-instant") == "genai-prices (groq)"


def test_compat_known_provider_but_unknown_model_is_unknown() -> None:
    backend_id = "compat:my-finetune@https://api.openai.com/v1"
    assert pricing.generation_cost(backend_id, "my-finetune", IN, OUT) is None
    assert pricing.price_label(backend_id, "my-finetune") == "unknown price"


# -- litellm: the provider in the id (or the base URL when one is given) ---------------------

def test_litellm_known_provider_is_priced_at_that_provider() -> None:
    backend_id = "litellm:anthropic/claude-3-5-sonnet-latest"
    model = "anthropic/claude-3-5-sonnet-latest"  # what LitellmModel puts on its spans
    expected = hosted("claude-3-5-sonnet-latest", provider_id="anthropic")
    assert pricing.generation_cost(backend_id, model, IN, OUT) == pytest.approx(
        expected, rel=1e-12)
    assert pricing.price_label(backend_id, model) == "genai-prices (anthropic)"


@pytest.mark.parametrize("provider", ["gemini", "vertex_ai"])
def test_litellm_provider_names_genai_prices_maps(provider: str) -> None:
    model = f"{provider}/gemini-2.0-flash"
    assert pricing.generation_cost(f"litellm:{model}", model, IN, OUT) == pytest.approx(
        hosted("gemini-2.0-flash", provider_id="google"), rel=1e-12)
    assert pricing.price_label(f"litellm:{model}", model) == "genai-prices (google)"


@pytest.mark.parametrize("model", [
    "madeup/gpt-4.1-mini",        # a provider nobody knows
    "custom_openai/gpt-4.1-mini",  # LiteLLM's "any OpenAI-compatible endpoint"
    "openai_like/gpt-4.1-mini",
    "hosted_vllm/gpt-4.1-mini",
    "ollama/gpt-4.1-mini",
    "gpt-4.1-mini",               # no provider in the id
])
def test_litellm_unknown_or_self_hosted_provider_is_unknown(model: str) -> None:
    assert pricing.generation_cost(f"litellm:{model}", model, IN, OUT) is None
    assert pricing.price_label(f"litellm:{model}", model) == "unknown price"


def test_litellm_with_a_base_url_is_priced_by_the_url() -> None:
    local = "litellm:openai/gpt-4.1-mini@http://127.0.0.1:8000/v1"
    assert pricing.generation_cost(local, "openai/gpt-4.1-mini", IN, OUT) is None
    assert pricing.price_label(local, "openai/gpt-4.1-mini") == "unknown price"
    hosted_url = "litellm:openai/gpt-4.1-mini@https://api.openai.com/v1"
    assert pricing.generation_cost(hosted_url, "openai/gpt-4.1-mini", IN, OUT) == pytest.approx(
        hosted("gpt-4.1-mini", provider_id="openai"), rel=1e-12)


def test_litellm_provider_base_url_from_the_environment_is_used(
    monkeypatch: pytest.MonkeyPatch
) -> None:
    backend_id = "litellm:openai/gpt-4.1-mini"
    assert pricing.price_label(backend_id, "openai/gpt-4.1-mini") == "genai-prices (openai)"
    monkeypatch.setenv("OPENAI_API_BASE", "http://10.0.0.7:8000/v1")  # LiteLLM reads it
    assert pricing.generation_cost(backend_id, "openai/gpt-4.1-mini", IN, OUT) is None
    assert pricing.price_label(backend_id, "openai/gpt-4.1-mini") == "unknown price"


# -- openai: provider openai, unless OPENAI_BASE_URL points elsewhere -------------------------

def test_openai_is_priced_at_openai() -> None:
    cost = pricing.generation_cost("openai:gpt-4.1-mini", "gpt-4.1-mini", IN, OUT, CACHED)
    assert cost == pytest.approx(hosted("gpt-4.1-mini", cached=CACHED, provider_id="openai"),
                                 rel=1e-12)
    assert cost < pricing.generation_cost("openai:gpt-4.1-mini", "gpt-4.1-mini", IN, OUT)
    assert pricing.price_label("openai:gpt-4.1-mini", "gpt-4.1-mini") == "genai-prices (openai)"


def test_openai_base_url_elsewhere_decides_the_provider(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_BASE_URL", "http://192.168.0.5:8000/v1")
    assert pricing.generation_cost("openai:gpt-4.1-mini", "gpt-4.1-mini", IN, OUT) is None
    assert pricing.price_label("openai:gpt-4.1-mini", "gpt-4.1-mini") == "unknown price"
    monkeypatch.setenv("OPENAI_BASE_URL", "https://api.groq.com/openai/v1")
    cost = pricing.generation_cost("openai:llama-3.1-8b-instant", "llama-3.1-8b-instant", IN, OUT)
    assert cost == pytest.approx(hosted("llama-3.1-8b-instant", provider_id="groq"), rel=1e-12)
    monkeypatch.setenv("OPENAI_BASE_URL", "https://api.openai.com/v1/")
    assert pricing.price_label("openai:gpt-4.1-mini", "gpt-4.1-mini") == "genai-prices (openai)"


# -- the user's price, and local ------------------------------------------------------------

def test_user_price_prices_a_compat_model(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ORCHLAB_PRICE_GPT_4_1_MINI", "0.1,0.2")
    backend_id = "compat:gpt-4.1-mini@http://127.0.0.1:8000/v1"
    assert pricing.generation_cost(backend_id, "gpt-4.1-mini", IN, OUT) == pytest.approx(
        (IN * 0.1 + OUT * 0.2) / 1e6, rel=1e-12)
    assert pricing.price_label(backend_id, "gpt-4.1-mini") == (
        "user price $0.1/$0.2 per MTok (ORCHLAB_PRICE_GPT_4_1_MINI)")


def test_user_price_for_a_litellm_model(monkeypatch: pytest.MonkeyPatch) -> None:
    model = "hosted_vllm/qwen2.5-7b"
    monkeypatch.setenv("ORCHLAB_PRICE_HOSTED_VLLM_QWEN2_5_7B", "1,2")
    assert pricing.generation_cost(f"litellm:{model}", model, IN, OUT) == pytest.approx(
        (IN + 2 * OUT) / 1e6, rel=1e-12)
    monkeypatch.delenv("ORCHLAB_PRICE_HOSTED_VLLM_QWEN2_5_7B")
    monkeypatch.setenv("ORCHLAB_PRICE_QWEN2_5_7B", "3,4")  # the name without the provider
    assert pricing.price_label(f"litellm:{model}", model) == (
        "user price $3/$4 per MTok (ORCHLAB_PRICE_QWEN2_5_7B)")


def test_local_is_free_unless_the_user_sets_a_price(monkeypatch: pytest.MonkeyPatch) -> None:
    assert pricing.generation_cost("local:smollm2-135m", "smollm2-135m", IN, OUT) == 0.0
    assert pricing.price_label("local:smollm2-135m", "smollm2-135m") == "local, $0"
    monkeypatch.setenv("ORCHLAB_PRICE_SMOLLM2_135M", "0.01,0.02")
    assert pricing.generation_cost("local:smollm2-135m", "smollm2-135m", IN, OUT) == (
        pytest.approx((IN * 0.01 + OUT * 0.02) / 1e6, rel=1e-12))
    assert pricing.price_label("local:smollm2-135m", "smollm2-135m").startswith("user price")


def test_a_malformed_user_price_names_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ORCHLAB_PRICE_GPT_4_1_MINI", "cheap")
    with pytest.raises(ValueError, match="ORCHLAB_PRICE_GPT_4_1_MINI must be"):
        pricing.generation_cost("openai:gpt-4.1-mini", "gpt-4.1-mini", IN, OUT)


# -- exactness and speed ----------------------------------------------------------------------

@pytest.mark.parametrize("backend_id,model,ref,provider", [
    ("openai:gpt-4.1-mini", "gpt-4.1-mini", "gpt-4.1-mini", "openai"),
    ("openai:gpt-4o", "gpt-4o", "gpt-4o", "openai"),
    ("litellm:anthropic/claude-sonnet-4-5", "anthropic/claude-sonnet-4-5", "claude-sonnet-4-5",
     "anthropic"),  # tiered above 200k input tokens
    ("litellm:gemini/gemini-2.5-pro", "gemini/gemini-2.5-pro", "gemini-2.5-pro", "google"),
])
@pytest.mark.parametrize("tokens", [(0, 0, 0), (1, 1, 0), (IN, OUT, CACHED), (150_000, 9_000, 0),
                                    (250_000, 4_000, 100_000), (1_000_000, 1_000_000, 0)])
def test_every_cost_equals_genai_prices_exactly(
    backend_id: str, model: str, ref: str, provider: str, tokens: tuple[int, int, int]
) -> None:
    i, o, c = tokens
    assert pricing.generation_cost(backend_id, model, i, o, c) == pytest.approx(
        hosted(ref, i, o, c, provider_id=provider), rel=1e-12, abs=1e-15)


def test_run_cost_is_none_as_soon_as_one_generation_is_unknown() -> None:
    from orchlab.core.records import SpanRecord

    def gen(model: str) -> SpanRecord:
        return SpanRecord(span_id="s", parent_id=None, kind="generation", name=model, agent="a",
                          start_ms=0.0, end_ms=1.0, model=model, input_tokens=IN,
                          output_tokens=OUT)

    assert pricing.run_cost([gen("gpt-4.1-mini")] * 2, "openai:gpt-4.1-mini") == pytest.approx(
        2 * hosted("gpt-4.1-mini", provider_id="openai"), rel=1e-12)
    assert pricing.run_cost([gen("gpt-4.1-mini"), gen("nope")], "openai:gpt-4.1-mini") is None


def test_pricing_a_generation_is_cheap() -> None:
    """Every generation of every run is priced; distinct token counts defeat any result cache."""
    calls = 3_000
    pricing.generation_cost("openai:gpt-4.1-mini", "gpt-4.1-mini", 1, 1)  # warm the lookups
    started = time.perf_counter()
    for n in range(calls):
        pricing.generation_cost("openai:gpt-4.1-mini", "gpt-4.1-mini", 1_000 + n, 100 + n, n)
    per_call_us = (time.perf_counter() - started) / calls * 1e6
    # genai-prices' own calc_price takes ~300 us here; the budget leaves room for a busy machine
    assert per_call_us < 60, f"{per_call_us:.1f} us per generation"
