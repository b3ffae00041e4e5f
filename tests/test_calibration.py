"""Compare's sentences checked by simulation: experiments with a known truth
(`orchlab.testing.simulate`) read through `summary.summarize_runs`, a few hundred per check,
seeded. `python bench/stats_calibration.py` runs the same checks with thousands and prints
Monte Carlo standard errors; these are its fast versions.

The experiments of a check are drawn in order from its seeded generator, here, and read
through `summarize_runs` (pure, its own draws seeded) by two worker processes where the machine
has two cores: the same summaries, in the same order, in about half the time.
"""

from __future__ import annotations

import functools
import json
import math
import multiprocessing
import os
from collections.abc import Iterator
from concurrent.futures import Executor, Future, ProcessPoolExecutor
from typing import Any

import numpy as np
import pandas as pd
import pytest

from orchlab.stats import analysis, summary
from orchlab.testing.simulate import World, claimed, covers, draw, hints, metric

EXPERIMENTS = 200
"""Per check: coverage of 0.95 has a Monte Carlo standard error of 0.015 at 200."""
WORKERS = min(2, os.cpu_count() or 1)


class InProcess(Executor):
    """An executor that runs each call at once, here (one core: no worker to wait for)."""

    def submit(self, fn: Any, /, *args: Any, **kwargs: Any) -> Future:
        done: Future = Future()
        done.set_result(fn(*args, **kwargs))
        return done


@pytest.fixture(scope="module")
def pool() -> Iterator[Executor]:
    """Worker processes for `summarize_runs` (spawned: nothing of this process is copied)."""
    if WORKERS < 2:
        yield InProcess()
        return
    with ProcessPoolExecutor(WORKERS, mp_context=multiprocessing.get_context("spawn")) as ex:
        yield ex


def summarize(pool: Executor, runs: pd.DataFrame, paired: bool = True) -> Future:
    """`summarize_runs` of one simulated experiment against form b, as Compare reads it."""
    return pool.submit(summary.summarize_runs, runs, baseline="b", by="group", paired=paired)


def summarize_all(pool: Executor, experiments: list[pd.DataFrame], paired: bool = True
                  ) -> list[dict[str, Any]]:
    """`summarize` of each, in order."""
    read = functools.partial(summary.summarize_runs, baseline="b", by="group", paired=paired)
    return list(pool.map(read, experiments, chunksize=max(1, len(experiments) // 16)))


def blocks(pool: Executor, world: World, seed: int, n: int = EXPERIMENTS, paired: bool = True
           ) -> list[tuple[dict, dict[str, float]]]:
    rng = np.random.default_rng(seed)
    drawn = [draw(world, rng) for _ in range(n)]
    out = []
    for one, result in zip(drawn, summarize_all(pool, [d.runs for d in drawn], paired),
                           strict=True):
        [block] = result["comparisons"]
        out.append((block, one.truth))
    return out


def coverage(results: list[tuple[dict, dict[str, float]]], figure: str) -> float:
    seen = [covers(block, figure, truth[figure]) for block, truth in results]
    counted = [c for c in seen if c is not None]
    assert len(counted) >= 0.9 * len(seen), f"{figure}: intervals missing in most experiments"
    return sum(counted) / len(counted)


@pytest.mark.slow  # a simulation of hundreds of experiments
@pytest.mark.parametrize("world", [
    World(inputs=5, repetitions=1, latency_ratio=1.3, token_ratio=0.8, calls_diff=1.0),
    World(inputs=5, repetitions=2, latency_ratio=1.3, token_ratio=0.8, calls_diff=1.0),
    World(inputs=3, repetitions=10, latency_ratio=1.3, token_ratio=0.8, calls_diff=1.0),
], ids=["5 pairs", "10 pairs", "3 inputs x 10"])
@pytest.mark.parametrize("paired", [True, False], ids=["paired", "unpaired"])
def test_a_95_percent_interval_covers_the_truth_at_least_93_percent(pool: Executor,
                                                                    world: World,
                                                                    paired: bool) -> None:
    results = blocks(pool, world, seed=11, paired=paired)
    for figure in ("wall_ms", "tokens", "llm_calls", "success"):
        rate = coverage(results, figure)
        assert rate >= 0.92, f"{figure}: covered in {rate:.1%} of {len(results)} experiments"


@pytest.mark.slow  # a simulation of hundreds of experiments
@pytest.mark.parametrize("pairs", [5, 10, 30])
def test_with_no_true_difference_few_experiments_claim_or_hint_one(pool: Executor,
                                                                  pairs: int) -> None:
    results = blocks(pool, World(inputs=pairs, repetitions=1), seed=pairs)
    claiming = sum(any(claimed(b, f) for f in ("wall_ms", "tokens", "cost_usd", "llm_calls",
                                               "success")) for b, _ in results)
    hinting = sum(hints(b) > 0 for b, _ in results)
    assert claiming / len(results) <= 0.06, f"{claiming} of {len(results)} claim a difference"
    assert hinting / len(results) <= 0.11, f"{hinting} of {len(results)} hint at one"


@pytest.mark.slow  # a simulation of hundreds of experiments
def test_the_runs_needed_detect_the_stated_difference_at_that_number(pool: Executor) -> None:
    """A pilot of 10 pairs says "about N pairs would detect a 20% difference"; experiments of
    N pairs with a true 20% latency difference claim it in 70-90% of cases."""
    rng = np.random.default_rng(5)
    world = World(inputs=10, repetitions=1, latency_ratio=1.2, latency_sigma=0.3)
    trials: list[Future] = []  # each trial is read by a worker while the next pilot is here
    for _ in range(120):
        pilot = draw(World(inputs=10, repetitions=1, latency_sigma=0.3), rng)
        [block] = summary.summarize_runs(pilot.runs, baseline="b", by="group")["comparisons"]
        needed = metric(block, "wall_ms").get("runs_needed")
        assert needed is not None and needed >= 2
        if needed > 400:
            continue
        trial = draw(World(inputs=needed, repetitions=1, latency_ratio=world.latency_ratio,
                           latency_sigma=world.latency_sigma), rng)
        trials.append(summarize(pool, trial.runs))
    hits, tried = 0, 0
    for read in trials:
        [result] = read.result()["comparisons"]
        hits += claimed(result, "wall_ms")
        tried += 1
    assert tried >= 100 and 0.68 <= hits / tried <= 0.92, f"claimed in {hits} of {tried}"


@pytest.mark.slow  # a simulation of hundreds of experiments
def test_failed_runs_count_as_failures_not_as_fast_runs(pool: Executor) -> None:
    """Form a errors after ~50 ms in half its runs: its latency is that of its runs that
    ended ok, truly 1.0x form b's, and the failures are said on their own."""
    results = blocks(pool, World(inputs=10, repetitions=1, fail_a=0.5), seed=3, n=60)
    faster = [b for b, _ in results if claimed(b, "wall_ms")]
    assert len(faster) <= 6, faster[0]["sentences"]
    assert all(any("provider_error" in s for s in b["sentences"]) for b, _ in results)


def test_holm_runs_over_one_comparisons_figures_whatever_the_page_shows() -> None:
    rng = np.random.default_rng(2)
    drawn = draw(World(inputs=12, latency_ratio=1.25), rng)
    third = drawn.runs[drawn.runs["form"] == "a"].assign(form="c", group="c")
    with_third = pd.concat([drawn.runs, third], ignore_index=True)

    def latency_test(runs: pd.DataFrame, paired: bool) -> dict:
        result = summary.summarize_runs(runs, baseline="b", by="group", paired=paired)
        block = next(b for b in result["comparisons"] if b["group"] == "a")
        return metric(block, "wall_ms")["test"]

    two, three = latency_test(drawn.runs, True), latency_test(with_third, True)
    assert two["p_adjusted"] == three["p_adjusted"] and two["correction"] == three["correction"]
    assert latency_test(drawn.runs, False)["correction"] == two["correction"]
    assert "5 figures" in two["correction"], two["correction"]


def test_a_zero_baseline_is_said_in_words() -> None:
    runs = draw(World(inputs=8), np.random.default_rng(1)).runs
    runs.loc[runs["form"] == "b", "cost_usd"] = 0.0
    [block] = summary.summarize_runs(runs, baseline="b", by="group")["comparisons"]
    cost = block["sentences"][2]
    assert "every b run cost $0" in cost.lower() and "too few" not in cost.lower(), cost
    both = runs.assign(cost_usd=0.0)
    [block] = summary.summarize_runs(both, baseline="b", by="group")["comparisons"]
    assert "runs cost $0" in block["sentences"][2], block["sentences"]


def test_an_infinite_odds_ratio_is_null_with_a_reason_in_strict_json() -> None:
    """One form always succeeds, the other never: Fisher's odds ratio is infinite (unpaired),
    and JSON has no infinity."""
    runs = draw(World(inputs=8), np.random.default_rng(1)).runs
    runs["success"] = runs["form"] == "a"
    for paired in (True, False):
        result = summary.summarize_runs(runs, baseline="b", by="group", paired=paired)
        json.dumps(result, allow_nan=False)
    success = metric(result["comparisons"][0], "success")
    assert success["test"]["name"] == "Fisher's exact"
    assert success["test"]["statistic"] is None and "infinite" in success["test"]["note"]
    assert "infinite" in result["comparisons"][0]["sentences"][4]


def test_partly_paired_success_rates_are_those_of_the_pairs_used() -> None:
    runs = draw(World(inputs=12, success_b=0.5), np.random.default_rng(4)).runs
    extra = runs[runs["form"] == "b"].assign(repetition=1, success=False,
                                             run_id=lambda f: f["run_id"] + "-x")
    runs = pd.concat([runs, extra], ignore_index=True)  # b has 12 more runs, unpaired
    [block] = summary.summarize_runs(runs, baseline="b", by="group")["comparisons"]
    success = metric(block, "success")
    assert success["n_a"] == success["n_b"] == success["estimate"]["n"] == 12
    assert success["estimate"]["point"] == pytest.approx(success["rate_a"] - success["rate_b"])


@pytest.mark.slow  # a simulation of hundreds of experiments
@pytest.mark.parametrize("world", [
    World(inputs=6, repetitions=3, success_b=0.8, input_sigma=0.5),
    World(inputs=10, repetitions=3, success_b=0.5),
], ids=["6 inputs x 3 at 0.8", "10 inputs x 3 at 0.5"])
def test_pass_k_comes_with_an_interval_that_covers(pool: Executor, world: World) -> None:
    rng = np.random.default_rng(9)
    inside, seen = 0, 0
    experiments = [draw(world, rng) for _ in range(150)]
    for drawn, result in zip(experiments, summarize_all(pool, [d.runs for d in experiments]),
                             strict=True):
        row = next(r for r in result["groups"]["b"]["pass_k"] if r["k"] == 3)
        truth = float(np.mean(np.asarray(drawn.chances["b"]) ** 3))
        seen += 1
        inside += row["pass_hat_k_low"] <= truth <= row["pass_hat_k_high"]
    assert inside / seen >= 0.93, f"covered in {inside} of {seen}"


def test_the_cost_projection_range_covers_the_mean_cost() -> None:
    """Five runs of lognormal cost (sigma 0.3, as tokens vary): the projection's 95% range
    holds runs x the true mean cost in at least 93% of experiments (a percentile bootstrap
    of the mean held it in 83%)."""
    rng = np.random.default_rng(8)
    sigma, inside = 0.3, 0
    truth = 10_000 * 0.002 * math.exp(sigma ** 2 / 2)
    for _ in range(1000):
        runs = pd.DataFrame({"form": "a", "cost_usd": 0.002 * rng.lognormal(0, sigma, 5)})
        row = analysis.cost_projection(runs, 10_000).iloc[0]
        inside += row["monthly_low"] <= truth <= row["monthly_high"]
    assert inside / 1000 >= 0.93, f"covered in {inside} of 1000"
    one = analysis.cost_projection(pd.DataFrame({"form": ["a"], "cost_usd": [0.01]}), 10)
    assert one.iloc[0]["monthly_mean"] == pytest.approx(0.1)
    assert analysis.is_missing(one.iloc[0]["monthly_low"])


def backend_blocks(pool: Executor, world: World, seed: int, n: int = EXPERIMENTS
                   ) -> list[tuple[dict, dict[str, float]]]:
    """Per experiment of a world with backends x and y: form b on y against form b on x (the
    form held, the backend varied), as Compare reads the runs grouped by backend."""
    rng = np.random.default_rng(seed)
    drawn = [draw(world, rng) for _ in range(n)]
    runs = [analysis.with_group(d.runs[d.runs["form"] == "b"], False, True) for d in drawn]
    read = functools.partial(summary.summarize_runs, baseline="b @ x", by="group")
    out = []
    for one, result in zip(drawn, pool.map(read, runs, chunksize=max(1, n // 16)),
                           strict=True):
        [block] = result["comparisons"]
        assert (block["group"], block["factor"]) == ("b @ y", "backend")
        out.append((block, one.backend_truth))
    return out


@pytest.mark.slow  # a simulation of hundreds of experiments
@pytest.mark.parametrize("shared", [True, False], ids=["one experiment", "two experiments"])
def test_backends_that_do_not_differ_are_rarely_said_to(pool: Executor, shared: bool) -> None:
    """No true difference between two backends, each run by an experiment of its own (moments
    apart) or by one experiment interleaving them: a difference is claimed in about 5% of
    experiments at most, and the 95% intervals of the difference cover "none" in at least
    92%."""
    world = World(inputs=10, repetitions=1, backends=("x", "y"), backend_moments_shared=shared)
    results = backend_blocks(pool, world, seed=21 + shared)
    claiming = sum(any(claimed(b, f) for f in ("wall_ms", "tokens", "cost_usd", "llm_calls",
                                               "success")) for b, _ in results)
    assert claiming / len(results) <= 0.06, f"{claiming} of {len(results)} claim a difference"
    for figure in ("wall_ms", "tokens", "llm_calls", "success"):
        rate = coverage(results, figure)
        assert rate >= 0.92, f"{figure}: covered in {rate:.1%} of {len(results)} experiments"


@pytest.mark.slow  # a simulation of hundreds of experiments
@pytest.mark.parametrize("shared", [True, False], ids=["one experiment", "two experiments"])
def test_a_95_percent_interval_of_a_backend_difference_covers_it(pool: Executor,
                                                                 shared: bool) -> None:
    """A true backend difference (1.3x latency, 0.8x tokens, better success): the 95%
    intervals of the backend comparison cover the truth in at least 92% of experiments."""
    world = World(inputs=5, repetitions=2, backends=("x", "y"), backend_latency_ratio=1.3,
                  backend_token_ratio=0.8, backend_success_shift=0.5,
                  backend_moments_shared=shared)
    results = backend_blocks(pool, world, seed=31 + shared)
    for figure in ("wall_ms", "tokens", "llm_calls", "success"):
        rate = coverage(results, figure)
        assert rate >= 0.92, f"{figure}: covered in {rate:.1%} of {len(results)} experiments"
