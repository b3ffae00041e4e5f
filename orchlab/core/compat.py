"""Every use of a dependency's private API, in one place, with the version it was checked against.

A private name can change in any release, and a pinned range does not say which one broke it.
Each function here is the only reader of one private name, imports its library inside (so this
bottom-layer module costs nothing to import), and degrades the way its caller documents.
tests/test_compat.py checks each one against the installed library, so an upgrade that moves
a name fails there, by name, rather than somewhere downstream.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

CHECKED_AGAINST = {
    "openai-agents": "0.24.0",
    "opentelemetry-sdk": "1.45.2",
    "llama-cpp-python": "0.3.36",
}
"""The release each private use below was read in and tested with."""


def sdk_trace_processors() -> Sequence[Any] | None:
    """The processors the Agents SDK's trace provider calls now, or None when its private layout
    is not the one we know (openai-agents: `provider._multi_processor._processors`).

    The SDK has `set_trace_processors` but no getter: the recorder uses this to notice that
    other code replaced its processor, and None means "cannot tell", which it treats as fine.
    """
    from agents.tracing import get_trace_provider

    multi = getattr(get_trace_provider(), "_multi_processor", None)
    processors = getattr(multi, "_processors", None)
    return processors if isinstance(processors, list | tuple) else None


OTEL_BATCH_LOGGER = "opentelemetry.sdk._shared_internal"
"""The logger opentelemetry-sdk's batch processor reports each failed export on (a private
module's name). The OTel export silences it in favour of one warning per experiment; if the
name moves, the per-batch messages simply come back."""


def llama_sampler_factory(llama: Any) -> Callable[..., Any]:
    """llama-cpp-python's per-generation sampler factory (`Llama._init_sampler`, private).

    The embedded model replaces it on one Llama instance to check a grammar lazily
    (backends/local_sampler.py); there is no public hook for a custom sampler.
    """
    factory: Callable[..., Any] = llama._init_sampler
    return factory


def replace_llama_sampler_factory(llama: Any, factory: Callable[..., Any]) -> None:
    """Route this Llama instance's generations through `factory` (an instance attribute, so other
    Llama objects keep the library's own)."""
    setattr(llama, "_init_sampler", factory)  # noqa: B010 - the private name lives only here


def llama_grammar_text(grammar: Any) -> str:
    """The GBNF text a `LlamaGrammar` was built from (`LlamaGrammar._grammar`, private): the
    verifying sampler compiles its own grammar sampler from it."""
    text: str = grammar._grammar
    return text
