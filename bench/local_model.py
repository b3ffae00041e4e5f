"""Overhead of LocalModel over raw llama.cpp on the same Llama instance.

Same prompt, same max_tokens, temperature 0 and a fixed seed, so both sides generate the very
same tokens; calls are interleaved (alternating which goes first) so machine noise hits both.
The machine is shared, so the headline figure is timeit-style best-of-N per side; the mean is
printed too. Last line: `ratio=<ours/raw>`.

    python bench/local_model.py [--rounds 10] [--max-tokens 192]

A short run (the test suite's; its ratio is not the measurement):

    python bench/local_model.py --rounds 1 --max-tokens 32
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT)]  # `python bench/x.py` puts bench/ on sys.path, not the project
ROUNDS = 10
MAX_TOKENS = 192


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=ROUNDS,
                        help=f"interleaved rounds, each side once per round (default {ROUNDS})")
    parser.add_argument("--max-tokens", type=int, default=MAX_TOKENS,
                        help=f"tokens generated per call (default {MAX_TOKENS})")
    return parser.parse_args()


if __name__ == "__main__":
    ARGS = parse_args()  # --help answers here, before the heavy imports below

from agents import ModelSettings, set_trace_processors, trace  # noqa: E402
from agents.models.interface import ModelTracing  # noqa: E402

from orchlab.backends import resolve  # noqa: E402
from orchlab.backends.local_model import LocalModel  # noqa: E402

SEED = 1234
PROMPT = (
    "Write a long, detailed essay about the history of the bicycle, from the first "
    "draisines to modern racing bikes, with many paragraphs."
)
Sample = tuple[str, int, float]
"""Generated text, completion tokens, wall seconds."""


async def ours(model: LocalModel, max_tokens: int = MAX_TOKENS) -> Sample:
    """One LocalModel.get_response: no tools, so a plain-text final answer."""
    settings = ModelSettings(max_tokens=max_tokens, temperature=0.0, extra_args={"seed": SEED})
    started = time.perf_counter()
    with trace("bench-local-model"):
        response = await model.get_response(
            None, PROMPT, settings, [], None, [], ModelTracing.ENABLED,
            previous_response_id=None, conversation_id=None, prompt=None,
        )
    seconds = time.perf_counter() - started
    text = "".join(part.text for item in response.output for part in getattr(item, "content", []))
    return text, response.usage.output_tokens, seconds


def raw(model: LocalModel, max_tokens: int = MAX_TOKENS) -> Sample:
    """One llama-cpp-python create_chat_completion on the same Llama (under its lock)."""
    started = time.perf_counter()
    with model.runtime.lock:
        result: Any = model.runtime.llama.create_chat_completion(
            messages=[{"role": "user", "content": PROMPT}],
            max_tokens=max_tokens,
            temperature=0.0,
            seed=SEED,
        )
    seconds = time.perf_counter() - started
    text = str(result["choices"][0]["message"]["content"])
    return text, int(result["usage"]["completion_tokens"]), seconds


def summary(name: str, samples: list[Sample]) -> float:
    """Print best and mean tokens/s for one side; return the best."""
    rates = [tokens / seconds for _, tokens, seconds in samples]
    tokens = {t for _, t, _ in samples}
    print(f"{name}: completion tokens {sorted(tokens)}, best {max(rates):.1f} tok/s, "
          f"mean {statistics.mean(rates):.1f} tok/s")
    return max(rates)


async def main(rounds: int = ROUNDS, max_tokens: int = MAX_TOKENS) -> None:
    set_trace_processors([])  # spans are created and timed, nothing is exported
    started = time.perf_counter()
    model = resolve("local:smollm2-135m").model_for("bench")
    assert isinstance(model, LocalModel)
    print(f"resolve incl. import and load: {time.perf_counter() - started:.2f}s "
          f"(Llama load {model.runtime.load_seconds:.2f}s)")
    await ours(model, max_tokens)  # warm-up both paths (page cache, prompt KV cache)
    raw(model, max_tokens)
    samples: dict[str, list[Sample]] = {"ours": [], "raw": []}
    for round_ in range(rounds):
        for name in ("ours", "raw") if round_ % 2 == 0 else ("raw", "ours"):
            sample = await ours(model, max_tokens) if name == "ours" else raw(model, max_tokens)
            samples[name].append(sample)
            print(f"round {round_} {name:4}: {sample[1]} tokens in {sample[2]:.2f}s "
                  f"= {sample[1] / sample[2]:.1f} tok/s")
    same = {s[0] for s in samples["ours"]} == {s[0] for s in samples["raw"]}
    print(f"identical text on both sides: {same}")
    best_ours, best_raw = summary("ours", samples["ours"]), summary("raw", samples["raw"])
    print(f"ratio={best_ours / best_raw:.3f}")


if __name__ == "__main__":
    asyncio.run(main(ARGS.rounds, ARGS.max_tokens))
