"""Grammar sampling that checks the sampled token first, as llama.cpp's own common sampler does.

llama-cpp-python runs the grammar over the whole vocabulary (49k tokens for SmolLM2) at every
step. We sample without the grammar and check only that token; a rejected token pays for the full
pass (grammar over the vocabulary, then the usual chain), so only a few steps of a turn do.

Greedy decoding picks exactly llama-cpp-python's token from the same logits: the argmax is either
allowed (then it is also the best allowed token) or the full pass picks the best allowed token,
with the same lowest-id tie-break (tests/test_local_model.py checks every step). Two runs of the
same request can still differ when their logits do: llama.cpp's CPU kernels round differently per
evaluation batch shape, and the prompt cache decides which prompt tokens are re-evaluated.
With temperature > 0 this is llama.cpp's common-sampler scheme, not llama-cpp-python's chain: top-k
/top-p see the unconstrained distribution first, and a rejected draw costs a second random draw,
so seeded samples differ from llama-cpp-python's own.
"""

from __future__ import annotations

import ctypes
import math
from typing import TYPE_CHECKING, Any

import numpy as np

from orchlab.core import compat

if TYPE_CHECKING:
    from llama_cpp import Llama

_TOKEN_DATA = np.dtype([("id", np.int32), ("logit", np.float32), ("p", np.float32)], align=True)


class VerifyingSampler:
    """Stands in for llama-cpp-python's sampler chain when a grammar is set."""

    def __init__(self, llama: Llama, plain: Any, grammar: str) -> None:
        import llama_cpp

        self._lib = llama_cpp
        vocab = llama_cpp.llama_model_get_vocab(llama.model)
        self._n_vocab = int(llama_cpp.llama_vocab_n_tokens(vocab))
        self._plain = plain  # the usual chain, built without the grammar
        self._grammar = llama_cpp.llama_sampler_init_grammar(vocab, grammar.encode(), b"root")
        if not self._grammar:
            raise ValueError("llama.cpp rejected the reply grammar (GBNF parse error).")
        self._ids = np.arange(self._n_vocab, dtype=np.int32)
        self._all = np.zeros(self._n_vocab, dtype=_TOKEN_DATA)
        self._one = (llama_cpp.llama_token_data * 1)()

    def sample(self, ctx: Any, idx: int) -> int:
        """Sample like llama_sampler_sample, with the grammar applied lazily."""
        lib = self._lib
        pointer = lib.llama_get_logits_ith(ctx.ctx, idx)
        logits = np.ctypeslib.as_array(pointer, shape=(self._n_vocab,))
        token = self._pick(logits, with_grammar=False)
        if not self._allowed(token):
            token = self._pick(logits, with_grammar=True)
        lib.llama_sampler_accept(self._grammar, token)
        lib.llama_sampler_accept(self._plain.sampler, token)
        return token

    def _pick(self, logits: np.ndarray[Any, Any], *, with_grammar: bool) -> int:
        lib = self._lib
        self._all["id"] = self._ids  # samplers sort the array in place: restore id order
        self._all["logit"] = logits
        self._all["p"] = 0.0
        data = self._all.ctypes.data_as(lib.llama_token_data_p)
        array = lib.llama_token_data_array(data=data, size=self._n_vocab, selected=-1, sorted=False)
        if with_grammar:
            lib.llama_sampler_apply(self._grammar, ctypes.byref(array))
        lib.llama_sampler_apply(self._plain.sampler, ctypes.byref(array))
        if not 0 <= array.selected < array.size:
            raise RuntimeError("llama.cpp sampler selected no token")
        return int(array.data[array.selected].id)

    def _allowed(self, token: int) -> bool:
        lib = self._lib
        entry: Any = self._one[0]
        entry.id, entry.logit, entry.p = token, 0.0, 0.0
        array = lib.llama_token_data_array(data=self._one, size=1, selected=-1, sorted=False)
        lib.llama_sampler_apply(self._grammar, ctypes.byref(array))
        return math.isfinite(entry.logit)

    def close(self) -> None:
        """Free the grammar sampler (the plain chain frees itself)."""
        if self._grammar:
            self._lib.llama_sampler_free(self._grammar)
            self._grammar = None
        self._plain.close()

    def __del__(self) -> None:
        self.close()


def install(llama: Llama) -> None:
    """Route grammar-constrained generations of this Llama through VerifyingSampler."""
    original = compat.llama_sampler_factory(llama)

    def init_sampler(**kwargs: Any) -> Any:
        grammar = kwargs.get("grammar")
        if grammar is None or kwargs.get("logits_processor") is not None:
            return original(**kwargs)
        plain = original(**{**kwargs, "grammar": None})
        return VerifyingSampler(llama, plain, compat.llama_grammar_text(grammar))

    compat.replace_llama_sampler_factory(llama, init_sampler)
