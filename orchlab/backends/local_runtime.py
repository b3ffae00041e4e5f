"""One loaded GGUF per path and process, with the single worker allowed to touch its context.

A llama.cpp context is not thread-safe, so every call goes through one lock on a dedicated
one-thread executor: concurrent agents queue instead of corrupting state, and the event loop
never blocks. Prompts are rendered with the GGUF's own chat template and fitted into the context
window before generation, because llama.cpp would otherwise raise mid-run.
"""

from __future__ import annotations

import asyncio
import atexit
import functools
import logging
import os
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from agents.exceptions import AgentsException

if TYPE_CHECKING:
    from llama_cpp import Llama
    from llama_cpp.llama_chat_format import ChatFormatterResponse, Jinja2ChatFormatter

logger = logging.getLogger(__name__)

MAX_N_CTX = 8192
"""Context we allocate (capped by what the model was trained on): SmolLM2 supports 8192."""
CHATML_TEMPLATE = (
    "{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n"
    "{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)
"""Fallback for GGUFs that carry no `tokenizer.chat_template`."""

ChatMessage = dict[str, str]


class ContextWindowError(AgentsException):
    """The conversation cannot fit the local model's context window even after truncation."""


@dataclass
class Request:
    """One generation: chat messages plus sampling settings."""

    messages: list[ChatMessage]
    max_tokens: int
    temperature: float
    top_p: float
    seed: int | None = None
    frequency_penalty: float = 0.0
    presence_penalty: float = 0.0
    grammar: str | None = None
    cancel: threading.Event = field(default_factory=threading.Event)


@dataclass
class Completion:
    """What llama.cpp produced, with its exact token counts."""

    text: str
    prompt_tokens: int
    completion_tokens: int
    finish_reason: str
    messages: list[ChatMessage]
    dropped_messages: int
    queued_ms: float = 0.0
    """Time from submission to getting the model (monotonic clock): waiting for other requests."""


class LlamaRuntime:
    """A Llama instance, its chat formatter, and the lock and worker that serialize access."""

    def __init__(self, path: Path) -> None:
        started = time.perf_counter()
        self.path = path
        self.llama = _load(path, MAX_N_CTX)
        trained = _n_ctx_train(self.llama)
        if 0 < trained < MAX_N_CTX:  # do not stretch a model past its training context
            self.llama.close()
            self.llama = _load(path, trained)
        self.n_ctx = int(self.llama.n_ctx())
        self.formatter = _formatter(self.llama)
        self.load_seconds = time.perf_counter() - started
        self.lock = threading.Lock()
        self.executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="orchlab-llama")
        self._valid_grammars: set[str] = set()

    async def acomplete(self, request: Request) -> Completion:
        """Run `complete` on the worker thread; a cancelled caller stops generation early.

        The wait in the executor's queue counts as queued time, like a wait for the lock."""
        loop = asyncio.get_running_loop()
        submitted = time.monotonic()
        future = loop.run_in_executor(
            self.executor, functools.partial(self.complete, request, submitted=submitted)
        )
        try:
            return await asyncio.shield(future)
        except asyncio.CancelledError:
            request.cancel.set()
            # nobody awaits the shielded request now: read its end so asyncio does not log
            # "Future exception was never retrieved" when it stops before it started
            future.add_done_callback(lambda done: done.cancelled() or done.exception())
            raise

    def complete(self, request: Request, *, submitted: float | None = None) -> Completion:
        """Blocking generation under the lock, bounded by max_tokens and the context window.

        `submitted` is when the caller handed the request over (time.monotonic(); default: now);
        the time until the lock is held is reported as `Completion.queued_ms`."""
        from llama_cpp import LlamaGrammar, StoppingCriteriaList

        if submitted is None:
            submitted = time.monotonic()
        with self.lock:
            queued_ms = (time.monotonic() - submitted) * 1000.0
            if request.cancel.is_set():  # the caller gave up while this waited in the queue
                raise RuntimeError("local model request cancelled before it started")
            tokens, rendered, messages = self.fit(request.messages, request.max_tokens)
            grammar = None
            if request.grammar is not None:
                self._check_grammar(request.grammar)
                grammar = LlamaGrammar.from_string(request.grammar, verbose=False)
            stops = list(rendered.stopping_criteria or [])
            stops.append(lambda _tokens, _logits: request.cancel.is_set())
            result: Any = self.llama.create_completion(
                prompt=tokens,
                max_tokens=request.max_tokens,
                temperature=request.temperature,
                top_p=request.top_p,
                seed=request.seed,
                frequency_penalty=request.frequency_penalty,
                presence_penalty=request.presence_penalty,
                stop=_stop_list(rendered.stop),
                stopping_criteria=StoppingCriteriaList(stops),
                grammar=grammar,
            )
        choice, usage = result["choices"][0], result["usage"]
        return Completion(
            text=choice["text"],
            prompt_tokens=int(usage["prompt_tokens"]),
            completion_tokens=int(usage["completion_tokens"]),
            finish_reason=str(choice.get("finish_reason") or ""),
            messages=messages,
            dropped_messages=len(request.messages) - len(messages),
            queued_ms=queued_ms,
        )

    def fit(
        self, messages: list[ChatMessage], max_tokens: int
    ) -> tuple[list[int], ChatFormatterResponse, list[ChatMessage]]:
        """Prompt tokens that leave room for max_tokens, dropping the oldest middle messages."""
        if max_tokens >= self.n_ctx:
            raise ContextWindowError(
                f"max_tokens={max_tokens} does not fit the local model's context window of "
                f"{self.n_ctx} tokens; lower max_tokens."
            )
        kept = list(messages)
        while True:
            rendered = self.render(kept)
            tokens = self.llama.tokenize(
                rendered.prompt.encode("utf-8"), add_bos=not rendered.added_special, special=True
            )
            if len(tokens) + max_tokens <= self.n_ctx:
                if len(kept) < len(messages):
                    logger.warning("Dropped %d old messages to fit the context window.",
                                   len(messages) - len(kept))
                return tokens, rendered, kept
            droppable = _oldest_droppable(kept)
            if droppable is None:
                raise ContextWindowError(
                    f"The prompt needs {len(tokens)} tokens plus max_tokens={max_tokens}, more "
                    f"than the local model's context window of {self.n_ctx}; shorten the input."
                )
            kept = _drop(kept, droppable)

    def render(self, messages: list[ChatMessage]) -> ChatFormatterResponse:
        """The chat template applied; a template that rejects the system role gets it merged
        into the first user turn."""
        try:
            return self.formatter(messages=cast(Any, messages))
        except Exception:
            if not messages or messages[0]["role"] != "system" or len(messages) < 2:
                raise
            merged = dict(messages[1])
            merged["content"] = f"{messages[0]['content']}\n\n{merged['content']}"
            return self.formatter(messages=cast(Any, [merged, *messages[2:]]))

    def _check_grammar(self, grammar: str) -> None:
        """llama.cpp crashes on a NULL grammar sampler, so parse it once up front."""
        if grammar in self._valid_grammars:
            return
        check_grammar(self.llama, grammar)
        self._valid_grammars.add(grammar)


def check_grammar(llama: Llama, grammar: str) -> None:
    """Raise ValueError when llama.cpp's GBNF parser rejects `grammar`."""
    import llama_cpp

    sampler = llama_cpp.llama_sampler_init_grammar(
        llama_cpp.llama_model_get_vocab(llama.model), grammar.encode("utf-8"), b"root"
    )
    if not sampler:
        raise ValueError("llama.cpp rejected the reply grammar (GBNF parse error).")
    llama_cpp.llama_sampler_free(sampler)


def _load(path: Path, n_ctx: int) -> Llama:
    from llama_cpp import Llama

    from orchlab.backends.local_sampler import install

    threads = os.cpu_count() or 1
    with _plain_cpu_weights():
        llama = Llama(
            model_path=str(path),
            n_ctx=n_ctx,
            n_threads=threads,
            n_threads_batch=threads,
            verbose=False,
        )
    install(llama)
    return llama


_PARAMS_LOCK = threading.Lock()


@contextmanager
def _plain_cpu_weights() -> Iterator[None]:
    """Load weights into plain CPU buffers (llama.cpp's `use_extra_bufts = false`).

    Extra buffer types repack weights for machine-specific kernels. For SmolLM2's Q4_1/Q8_0
    tensors the only one that applies on x86 is AMX, and llama.cpp's AMX matmul as vendored in
    llama-cpp-python 0.3.36 dies with SIGILL (`tilezero`, in `ggml_backend_amx_mul_mat`) on the
    first prompt of more than one token on AMX Xeons, killing the whole process. `Llama()` takes
    no such option, so its default model params are wrapped for the duration of the load.
    """
    import llama_cpp.llama as llama_module

    bindings: Any = llama_module.llama_cpp
    with _PARAMS_LOCK:
        default = bindings.llama_model_default_params

        def params() -> Any:
            value = default()
            value.use_extra_bufts = False
            return value

        bindings.llama_model_default_params = params
        try:
            yield
        finally:
            bindings.llama_model_default_params = default


def _n_ctx_train(llama: Llama) -> int:
    import llama_cpp

    return int(llama_cpp.llama_model_n_ctx_train(llama.model))


def _formatter(llama: Llama) -> Jinja2ChatFormatter:
    """The GGUF's own chat template, as llama-cpp-python builds it for `chat_template.default`."""
    from llama_cpp.llama_chat_format import Jinja2ChatFormatter

    template = llama.metadata.get("tokenizer.chat_template") or CHATML_TEMPLATE
    eos_id, bos_id = llama.token_eos(), llama.token_bos()
    return Jinja2ChatFormatter(
        template=template,
        eos_token=_token_text(llama, eos_id),
        bos_token=_token_text(llama, bos_id),
        stop_token_ids=[eos_id],
    )


def _token_text(llama: Llama, token: int) -> str:
    if token < 0:
        return ""
    return llama.detokenize([token], special=True).decode("utf-8", errors="ignore")


def _stop_list(stop: str | list[str] | None) -> list[str]:
    if stop is None:
        return []
    return [stop] if isinstance(stop, str) else [s for s in stop if s]


def merge_turns(turns: list[ChatMessage]) -> list[ChatMessage]:
    """Consecutive turns of one role joined: strict templates demand alternating roles."""
    merged: list[ChatMessage] = []
    for turn in turns:
        if merged and merged[-1]["role"] == turn["role"]:
            merged[-1] = {**merged[-1], "content": merged[-1]["content"] + "\n\n" + turn["content"]}
        else:
            merged.append(dict(turn))
    return merged


def _drop(messages: list[ChatMessage], index: int) -> list[ChatMessage]:
    """Remove a message and, if that leaves two turns of one role together, its successor
    too (a call and its result go as a pair); merge only as a last resort."""
    kept = messages[:index] + messages[index + 1 :]
    if 0 < index < len(kept) - 1 and kept[index]["role"] == kept[index - 1]["role"]:
        del kept[index]
    return merge_turns(kept)


def _oldest_droppable(messages: list[ChatMessage]) -> int | None:
    """Index of the oldest message that is neither the system prompt, the first user turn,
    nor the latest message."""
    first_user = next((i for i, m in enumerate(messages) if m["role"] == "user"), None)
    for index in range(len(messages) - 1):
        if messages[index]["role"] != "system" and index != first_user:
            return index
    return None


_RUNTIMES: dict[Path, LlamaRuntime] = {}
_RUNTIMES_LOCK = threading.Lock()


def runtime_for(path: Path) -> LlamaRuntime:
    """The process-wide runtime for a GGUF path, loading it on first use."""
    key = path.resolve()
    with _RUNTIMES_LOCK:
        runtime = _RUNTIMES.get(key)
        if runtime is None:
            if not _RUNTIMES:
                atexit.register(_close_all)
            runtime = LlamaRuntime(key)
            _RUNTIMES[key] = runtime
        return runtime


def _close_all() -> None:
    """Free the models while llama_cpp is still importable (its __del__ fails at teardown)."""
    with _RUNTIMES_LOCK:
        for runtime in _RUNTIMES.values():
            runtime.executor.shutdown(wait=True)
            with runtime.lock:
                runtime.llama.close()
        _RUNTIMES.clear()
