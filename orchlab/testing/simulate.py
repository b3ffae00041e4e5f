"""Synthetic experiments with a known truth, for checking Compare's sentences by simulation.

A hand computation shows that a formula is the formula; only a simulation shows that a "95%"
interval covers the truth about 95% of the time, that "no difference" is what nearly every
experiment without one says, and that "about N pairs would detect it" is about right. Both
`bench/stats_calibration.py` (thousands of experiments) and the tests (a few hundred, seeded)
draw experiments here and read them through `orchlab.stats.summary.summarize_runs`, the function
Compare, `python -m orchlab summary` and the report call.

The world: every input has its own base latency, token count and success chance (inputs
differ); a repetition is one moment shared by both forms run back to back on that input (a
slow minute slows both); each run adds its own lognormal noise. Form "a" is "b" with its
effects applied. The truth a figure is checked against is the figure's own estimand on the
inputs tested (what the sentences say they are about):

- latency and tokens: the ratio of geometric means a/b, exactly `latency_ratio` and
  `token_ratio` (cost is tokens at one price, so its truth is `token_ratio`);
- LLM calls: the difference of means, exactly `calls_diff`;
- success: the mean over the experiment's runs of (chance a - chance b) on their inputs.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

PRICE_PER_TOKEN = 2e-6
"""One price for every token: cost is then tokens at a fixed rate."""


@dataclass(frozen=True)
class World:
    """What is true of one simulated experiment: its size and the forms' real effects."""

    inputs: int = 5
    """Distinct inputs, each run `repetitions` times by both forms."""
    repetitions: int = 1
    """Repetitions per input: pairs = inputs x repetitions."""
    latency_ratio: float = 1.0
    """True ratio of form a's latency to form b's (geometric means)."""
    token_ratio: float = 1.0
    """True ratio of form a's tokens (and cost) to form b's."""
    calls_diff: float = 0.0
    """True difference in mean LLM calls, a - b."""
    success_b: float = 0.8
    """Form b's success chance on a typical input."""
    success_shift: float = 0.0
    """Form a's success chance is form b's plus this on the log-odds scale."""
    latency_sigma: float = 0.5
    """Run-to-run spread of latency (lognormal sigma)."""
    token_sigma: float = 0.3
    """Run-to-run spread of tokens (lognormal sigma)."""
    input_sigma: float = 0.7
    """How much inputs differ from each other (lognormal sigma, logit sd for success)."""
    moment_sigma: float = 0.2
    """What a repetition's moment adds to both forms alike (lognormal sigma)."""
    fail_a: float = 0.0
    """Chance that a run of form a errors after about 50 ms (counted in no figure but
    failures)."""
    backends: tuple[str, ...] = ()
    """Backends every form runs on (each run records `sim:<name>` and model `<name>`); none:
    runs record no backend, as before backends were a factor. The first is the reference,
    each other has the `backend_*` effects applied."""
    backend_latency_ratio: float = 1.0
    """True ratio of a later backend's latency to the first's (geometric means), any form."""
    backend_token_ratio: float = 1.0
    """True ratio of a later backend's tokens (and cost) to the first's."""
    backend_success_shift: float = 0.0
    """A later backend's success chance is the first's plus this on the log-odds scale."""
    backend_moments_shared: bool = True
    """True: one experiment runs every backend of an input back to back (a repetition's
    moment is shared by all of them); False: each backend is an experiment of its own, run
    at other moments (the same scenario run once on backend A and once on B)."""

    @property
    def pairs(self) -> int:
        """Runs per form when none fails."""
        return self.inputs * self.repetitions


@dataclass
class Drawn:
    """One simulated experiment: its runs and the truth of each figure."""

    runs: pd.DataFrame
    """In the shape `Store.load_runs` gives after `analysis.with_group` (group = form)."""
    truth: dict[str, float] = field(default_factory=dict)
    """By figure (wall_ms, tokens, cost_usd, llm_calls, success): the estimand's true value."""
    chances: dict[str, list[float]] = field(default_factory=dict)
    """By form, each input's true success chance (input i at index i); with backends, by
    group ("a @ x")."""
    backend_truth: dict[str, float] = field(default_factory=dict)
    """With backends: each figure's true value for a later backend against the first, the
    form held (as `truth`, for form b's groups)."""


def _logistic(x: np.ndarray) -> np.ndarray:
    return 1 / (1 + np.exp(-x))


def draw(world: World, rng: np.random.Generator, experiment_id: str = "sim") -> Drawn:
    """One experiment of `world`: forms a and b, every input `repetitions` times (on each
    backend, when the world has backends: `draw_backends`)."""
    n_in, reps = world.inputs, world.repetitions
    base_ms = 800 * rng.lognormal(0, world.input_sigma, n_in)
    base_tokens = 900 * rng.lognormal(0, world.input_sigma / 2, n_in)
    logit_b = math.log(world.success_b / (1 - world.success_b)) + rng.normal(
        0, world.input_sigma, n_in) if 0 < world.success_b < 1 else None
    if world.backends:
        return _draw_backends(world, rng, experiment_id, base_ms, base_tokens, logit_b)
    rows: list[dict[str, Any]] = []
    success_gap: list[float] = []
    chances = {form: [_chance(world.success_b, logit_b, i, shift) for i in range(n_in)]
               for form, shift in (("a", world.success_shift), ("b", 0.0))}
    for rep in range(reps):
        for i in range(n_in):
            moment = rng.lognormal(0, world.moment_sigma)
            for form in ("a", "b"):
                rows.append(_run(world, rng, form, f"in-{i}", rep, base_ms[i] * moment,
                                 base_tokens[i], chances[form][i], experiment_id))
            success_gap.append(chances["a"][i] - chances["b"][i])
    runs = pd.DataFrame(rows)
    truth = {"wall_ms": world.latency_ratio, "tokens": world.token_ratio,
             "cost_usd": world.token_ratio, "llm_calls": world.calls_diff,
             "success": float(np.mean(success_gap))}
    return Drawn(runs, truth, chances)


def _draw_backends(world: World, rng: np.random.Generator, experiment_id: str,
                   base_ms: np.ndarray, base_tokens: np.ndarray, logit_b: np.ndarray | None
                   ) -> Drawn:
    """Forms a and b on every backend: group "<form> @ <backend>", the backend recorded per
    run. Shared moments: one experiment, each input's backends and forms back to back in a
    repetition; apart: an experiment per backend, each with moments of its own."""
    n_in, first = world.inputs, world.backends[0]
    effects = {b: (1.0, 1.0, 0.0) if b == first else
               (world.backend_latency_ratio, world.backend_token_ratio,
                world.backend_success_shift) for b in world.backends}
    chances = {f"{form} @ {b}": [_chance(world.success_b, logit_b, i, shift + effects[b][2])
                                 for i in range(n_in)]
               for b in world.backends for form, shift in (("a", world.success_shift),
                                                           ("b", 0.0))}
    rows: list[dict[str, Any]] = []
    gap: dict[str, list[float]] = {}
    if world.backend_moments_shared:
        order = [(rep, i, tuple(world.backends)) for rep in range(world.repetitions)
                 for i in range(n_in)]
    else:
        order = [(rep, i, (b,)) for b in world.backends for rep in range(world.repetitions)
                 for i in range(n_in)]
    for rep, i, backends in order:
        moment = rng.lognormal(0, world.moment_sigma)
        for backend in backends:
            ms, tokens, _ = effects[backend]
            exp = experiment_id if world.backend_moments_shared else f"{experiment_id}-{backend}"
            for form in ("a", "b"):
                row = _run(world, rng, form, f"in-{i}", rep, base_ms[i] * moment * ms,
                           base_tokens[i] * tokens, chances[f"{form} @ {backend}"][i], exp)
                row.update(run_id=f"{row['run_id']}-{backend}", group=f"{form} @ {backend}",
                           backend=f"sim:{backend}", model=backend, variant="original",
                           replay_of=None)
                rows.append(row)
            gap.setdefault(backend, []).append(chances[f"b @ {backend}"][i]
                                               - chances[f"b @ {first}"][i])
    runs = pd.DataFrame(rows)
    truth = {"wall_ms": world.latency_ratio, "tokens": world.token_ratio,
             "cost_usd": world.token_ratio, "llm_calls": world.calls_diff,
             "success": float(np.mean([chances[f"a @ {first}"][i] - chances[f"b @ {first}"][i]
                                       for i in range(n_in)]))}
    later = world.backends[-1]
    backend_truth = {"wall_ms": world.backend_latency_ratio,
                     "tokens": world.backend_token_ratio,
                     "cost_usd": world.backend_token_ratio, "llm_calls": 0.0,
                     "success": float(np.mean(gap[later]))}
    return Drawn(runs, truth, chances, backend_truth)


def _chance(success_b: float, logit_b: np.ndarray | None, i: int, shift: float) -> float:
    if logit_b is None:  # a rate of exactly 0 or 1 stays so
        return success_b
    return float(_logistic(logit_b[i] + shift))


def _run(world: World, rng: np.random.Generator, form: str, input_id: str, rep: int,
         base_ms: float, base_tokens: float, chance: float, experiment_id: str
         ) -> dict[str, Any]:
    is_a = form == "a"
    failed = is_a and rng.random() < world.fail_a
    if failed:
        wall, tokens, calls, success = 50.0 * rng.lognormal(0, 0.1), 0, 0, None
        status, error = "error", "provider_error"
    else:
        wall = base_ms * (world.latency_ratio if is_a else 1.0) * rng.lognormal(
            0, world.latency_sigma)
        tokens = max(1, round(base_tokens * (world.token_ratio if is_a else 1.0)
                              * rng.lognormal(0, world.token_sigma)))
        calls = 2 + int(rng.poisson(1.5 + (world.calls_diff if is_a else 0.0)))
        success, status, error = bool(rng.random() < chance), "ok", None
    return {"experiment_id": experiment_id, "run_id": f"{form}-{input_id}-{rep}",
            "form": form, "group": form, "input_id": input_id, "repetition": rep,
            "status": status, "error_class": error, "wall_ms": float(wall),
            "input_tokens": int(tokens * 0.8), "output_tokens": int(tokens) - int(tokens * 0.8),
            "cost_usd": int(tokens) * PRICE_PER_TOKEN, "llm_calls": calls, "tool_calls": 1,
            "path": "a>b", "path_steps": [], "success": success,
            "outcome": {"success": success}, "retries": 0, "price_source": "simulated price"}


# -- reading what a summary says --------------------------------------------------------------

FIGURES = ("wall_ms", "tokens", "cost_usd", "llm_calls", "success")
"""The figures one comparison states, in the summary's order."""
CLAIM = re.compile(r"\b(was slower|was faster|used more|used fewer|cost more|cost less|"
                   r"succeeded more often|succeeded less often)\b")
"""Words a sentence uses only when it states a difference."""
HINT = re.compile(r"\b(a lead|suggests?|by its 95% CI)\b", re.IGNORECASE)
"""Words that point at a difference without stating it."""


def metric(block: dict[str, Any], figure: str) -> dict[str, Any]:
    """One figure's entry of a comparison block."""
    return next(m for m in block["metrics"] if m["figure"] == figure)


def covers(block: dict[str, Any], figure: str, truth: float) -> bool | None:
    """Whether the figure's interval holds the truth; None when it gave no interval."""
    est = metric(block, figure).get("estimate")
    if est is None:
        return None
    return bool(est["low"] <= truth <= est["high"])


def claims(block: dict[str, Any]) -> int:
    """How many of the block's sentences state a difference."""
    return sum(bool(CLAIM.search(s)) for s in block["sentences"])


def hints(block: dict[str, Any]) -> int:
    """How many sentences state or suggest a difference."""
    return sum(bool(CLAIM.search(s) or HINT.search(s)) for s in block["sentences"])


def claimed(block: dict[str, Any], figure: str) -> bool:
    """Whether the block states a difference in this figure: its sentence (the block's
    sentences open with one per figure, in the metrics' order) says so."""
    index = [m["figure"] for m in block["metrics"]].index(figure)
    return bool(CLAIM.search(block["sentences"][index]))
