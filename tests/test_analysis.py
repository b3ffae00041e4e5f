"""Analysis on synthetic runs with known answers: CIs, coverage, summaries, findings."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from orchlab.stats.analysis import (
    agent_breakdown,
    cost_projection,
    outcome_rates,
    summarize,
)
from orchlab.stats.paths import path_frequencies, path_variance
from orchlab.stats.summary import findings


def synthetic_runs(n_code: int, n_llm: int, seed: int = 1, llm_scale: float = 2.0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    rows = []
    for form, n in (("code", n_code), ("llm", n_llm)):
        for i in range(n):
            scale = llm_scale if form == "llm" else 1.0
            rows.append({
                "run_id": f"{form}-{i}", "experiment_id": "e1", "form": form,
                "input_id": "in-a" if i % 2 else "in-b", "repetition": i // 2,
                "status": "ok", "error_type": None,
                "wall_ms": float(1000 * scale * rng.lognormal(0, 0.2)),
                "input_tokens": int(500 * scale), "output_tokens": 100, "llm_calls": 4 if
                form == "code" else 6, "tool_calls": 1, "cost_usd": 0.001 * scale,
                "path": (path := "p1" if form == "code" else ["p1", "p2", "p3"][i % 3]),
                "path_steps": [{"name": path, "kind": "agent", "steps": []}],
                "outcome": {"success": form == "code" or i % 2 == 0, "emails_sent": 1},
                "success": form == "code" or i % 2 == 0, "error_class": None, "retries": 0,
                "price_source": "local, $0",
                "per_agent": {"w": {"llm_calls": 1, "input_tokens": 10, "output_tokens": 5,
                                    "cost_usd": 0.0}},
                "backend": "local:smollm2-135m", "model": "smollm2-135m",
            })
    return pd.DataFrame(rows)


def test_summaries_group_by_experiment_form_and_input() -> None:
    runs = synthetic_runs(6, 6)
    table = summarize(runs, by=["experiment_id", "form", "input_id"])
    assert len(table) == 4
    assert table["runs"].sum() == 12
    by_form = summarize(runs).set_index("form")
    assert by_form.loc["code", "distinct_paths"] == 1
    assert by_form.loc["llm", "distinct_paths"] == 3
    assert by_form.loc["code", "path_entropy_bits"] == 0.0
    assert by_form.loc["llm", "path_entropy_bits"] == pytest.approx(np.log2(3))
    assert by_form.loc["code", "success_rate"] == 1.0


def test_path_tables_outcomes_agents_and_projection() -> None:
    runs = synthetic_runs(6, 6)
    variance = path_variance(runs).set_index("form")
    assert variance.loc["llm", "top_path_share"] == pytest.approx(1 / 3)
    freq = path_frequencies(runs)
    assert freq[freq.form == "llm"]["share"].sum() == pytest.approx(1.0)
    rates = outcome_rates(runs).set_index(["form", "outcome"])["rate"]
    assert rates[("llm", "success")] == 0.5 and rates[("code", "status ok")] == 1.0
    agents = agent_breakdown(runs)
    assert len(agents) == 12 and set(agents["cost_usd"]) == {0.0}
    projection = cost_projection(runs, 10_000).set_index("form")
    assert projection.loc["llm", "monthly_mean"] == pytest.approx(20.0)
    assert projection.loc["code", "monthly_low"] <= 10.0 <= projection.loc["code", "monthly_high"]


def test_findings_are_sentences_with_cis_or_a_too_few_warning() -> None:
    text = " ".join(findings(synthetic_runs(10, 10)))
    assert "LLM-orchestrated was slower than code-orchestrated: " in text
    assert "(ratio of geometric means over runs that ended ok; paired by input and " \
        "repetition, 10 pairs on 2 inputs; paired t-test on log ratios p" in text
    assert "LLM-orchestrated used 3 distinct paths" in text and "code-orchestrated used 1" in text
    few = " ".join(findings(synthetic_runs(2, 3)))
    assert "Too few runs for an interval on latency (3 and 2 runs that ended ok" in few
    assert findings(synthetic_runs(4, 0)) == [
        "Run both LLM-orchestrated and code-orchestrated to compare them."]


def test_a_too_few_cost_sentence_shows_cents_not_zero() -> None:
    runs = synthetic_runs(2, 2).assign(cost_usd=[0.00123, 0.00125, 0.0004, 0.0005])
    [cost] = [s for s in findings(runs) if "on cost" in s]
    assert "geometric means $0.000447 vs $0.00124" in cost, cost  # llm (A) first, code second


def test_findings_say_when_a_difference_is_not_significant() -> None:
    text = " ".join(findings(synthetic_runs(12, 12, llm_scale=1.0)))
    assert "No difference in latency shown between" in text


def test_agent_means_divide_by_runs_in_the_group() -> None:
    from orchlab.stats.analysis import agent_means

    breakdown = pd.DataFrame({
        "run_id": ["r1", "r1", "r2", "r3"], "form": ["code", "code", "code", "llm"],
        "agent": ["w", "p", "w", "m"], "tokens": [10, 4, 30, 7]})
    means = agent_means(breakdown, "tokens").set_index(["form", "agent"])["tokens"]
    assert means[("code", "w")] == 20 and means[("code", "p")] == 2 and means[("llm", "m")] == 7


def test_box_stats_are_tukey_quartiles_fences_and_outliers() -> None:
    from orchlab.stats.analysis import box_stats

    runs = pd.DataFrame({"form": ["code"] * 9, "wall_ms": [1, 2, 3, 4, 5, 6, 7, 8, 100.0]})
    row = box_stats(runs, "wall_ms").iloc[0]
    assert (row["q1"], row["median"], row["q3"]) == (3.0, 5.0, 7.0)
    assert (row["lowerfence"], row["upperfence"]) == (1.0, 8.0)  # fences clipped to data
    assert row["outliers"] == [100.0]


def test_large_latency_box_draws_quartiles_not_every_point() -> None:
    from orchlab.present.figures import MAX_POINTS, latency_box

    runs = synthetic_runs(MAX_POINTS, 10)
    fig = latency_box(runs)
    boxes = [t for t in fig.data if t.type == "box"]
    assert len(boxes) == 2 and boxes[0].q1 is not None
    assert sum(len(t.y or []) for t in fig.data) < len(runs)  # outliers only
