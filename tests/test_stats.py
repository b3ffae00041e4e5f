"""orchlab.stats.estimates on data with known answers: pass^k, comparisons against scipy's own
tests, Holm, run counts (their calibration by simulation is tests/test_calibration.py).

The module is imported whole (`significance.test_rates`): imported by name, its `test_*`
functions would be collected by pytest as tests.
"""

from __future__ import annotations

import math
from fractions import Fraction
from typing import Any

import numpy as np
import pandas as pd
import pytest
from scipy import stats as st

from orchlab.stats import estimates, significance

Z_975 = 1.959963984540054  # standard normal quantile at 0.975


def run(group: str, input_id: str, repetition: int, **fields: Any) -> dict[str, Any]:
    base: dict[str, Any] = {"group": group, "form": group, "input_id": input_id,
                            "repetition": repetition, "status": "ok", "success": True,
                            "wall_ms": 1000.0, "input_tokens": 100, "output_tokens": 10,
                            "cost_usd": None, "llm_calls": 1, "tool_calls": 0, "path": "p"}
    return {**base, **fields}


# -- reliability -----------------------------------------------------------------------------

COUNTS = [(4, 4), (4, 2), (4, 0)]


def test_pass_hat_k_matches_hand_computed_values() -> None:
    # C(c,k)/C(n,k) per input: k=2 -> 1, C(2,2)/C(4,2) = 1/6, 0
    expected = {1: Fraction(1 + Fraction(1, 2) + 0, 3), 2: Fraction(1 + Fraction(1, 6), 3),
                3: Fraction(1, 3), 4: Fraction(1, 3)}
    for k, value in expected.items():
        assert estimates.pass_hat_k(COUNTS, k) == pytest.approx(float(value))
    assert float(expected[2]) == pytest.approx(7 / 18)


def test_pass_at_k_matches_hand_computed_values() -> None:
    # 1 - C(n-c,k)/C(n,k) per input: k=2 -> 1, 1 - 1/6, 0; k=3 -> 1, 1 - 0, 0
    expected = {1: Fraction(1 + Fraction(1, 2), 3), 2: Fraction(1 + Fraction(5, 6), 3),
                3: Fraction(2, 3), 4: Fraction(2, 3)}
    for k, value in expected.items():
        assert estimates.pass_at_k(COUNTS, k) == pytest.approx(float(value))


def test_k_beyond_the_runs_gives_none_and_short_inputs_are_left_out() -> None:
    assert estimates.pass_hat_k(COUNTS, 5) is None
    assert estimates.pass_at_k(COUNTS, 5) is None
    assert estimates.pass_hat_k([], 1) is None
    # only (4, 2) has 3 runs: pass^3 = C(2,3)/C(4,3) = 0, pass@3 = 1 - C(2,3)/C(4,3) = 1
    assert estimates.pass_hat_k([(2, 2), (4, 2)], 3) == 0
    assert estimates.pass_at_k([(2, 0), (4, 2)], 3) == 1
    with pytest.raises(ValueError):
        estimates.pass_hat_k([(2, 3)], 1)
    with pytest.raises(ValueError):
        estimates.pass_at_k(COUNTS, 0)


def test_reliability_per_group_leaves_out_uncounted_runs() -> None:
    rows = [run("llm", "a", 0, success=False), run("llm", "b", 0),
            run("llm", "b", 1, success=None),
            run("code", "a", 0), run("code", "a", 1), run("code", "a", 2, success=False),
            run("code", "a", 3, success=None), run("code", "b", 0), run("code", "b", 1),
            run("cancelled", "a", 0, success=None)]
    table = estimates.reliability(pd.DataFrame(rows))
    assert list(table.columns) == ["group", "k", "pass_hat_k", "pass_hat_k_low",
                                   "pass_hat_k_high", "pass_at_k", "inputs", "runs_per_input"]
    assert list(zip(table["group"], table["k"], strict=True)) == [("code", 1), ("code", 2),
                                                                   ("llm", 1)]
    code = table[table["group"] == "code"].set_index("k")
    # input a: 3 counted runs, 2 successes; input b: 2 of 2
    assert code.loc[1, "pass_hat_k"] == pytest.approx((2 / 3 + 1) / 2)
    assert code.loc[2, "pass_hat_k"] == pytest.approx((1 / 3 + 1) / 2)
    assert code.loc[2, "pass_at_k"] == pytest.approx(1.0)
    assert set(code["inputs"]) == {2} and set(code["runs_per_input"]) == {2}
    llm = table[table["group"] == "llm"].iloc[0]
    assert llm["pass_hat_k"] == pytest.approx(0.5) and llm["runs_per_input"] == 1
    assert estimates.reliability(pd.DataFrame(rows).iloc[0:0]).empty


# -- paired comparisons ----------------------------------------------------------------------


def latency_runs(inputs: int = 20, repetitions: int = 3, effect: float = 1.2,
                 seed: int = 3) -> pd.DataFrame:
    """Inputs whose base latency spans 100..10000 ms; form a is `effect` x form b."""
    rng = np.random.default_rng(seed)
    bases = np.geomspace(100, 10_000, inputs)
    rows = []
    for rep in range(repetitions):
        for i, base in enumerate(bases):
            for group, scale in (("a", effect), ("b", 1.0)):
                rows.append(run(group, f"in-{i}", rep,
                                wall_ms=float(base * scale * rng.lognormal(0, 0.03))))
    return pd.DataFrame(rows)


def test_pairing_narrows_the_interval_and_covers_the_effect() -> None:
    runs = latency_runs()
    paired = estimates.compare(runs, "a", "b", "wall_ms", kind="ratio")
    unpaired = estimates.compare(runs, "a", "b", "wall_ms", kind="ratio", paired=False)
    assert paired is not None and unpaired is not None
    assert paired.paired and not unpaired.paired and paired.stat == "geometric mean"
    assert paired.low < 1.2 < paired.high and unpaired.low < 1.2 < unpaired.high
    assert paired.high - paired.low < (unpaired.high - unpaired.low) / 10


def test_geometric_mean_ratios_are_scipys_t_tests_on_logs() -> None:
    runs = latency_runs(inputs=6, repetitions=2)
    matched = estimates.pairs(runs, "a", "b", "wall_ms")
    la, lb = np.log(matched["a"]), np.log(matched["b"])
    paired = estimates.compare(runs, "a", "b", "wall_ms")
    expected = st.ttest_rel(la, lb)
    low, high = expected.confidence_interval(0.95)
    assert paired is not None and paired.n == 12
    assert paired.point == pytest.approx(math.exp((la - lb).mean()))
    assert (paired.low, paired.high) == pytest.approx((math.exp(low), math.exp(high)))
    assert paired.p_value == pytest.approx(expected.pvalue)
    xa, xb = (np.log(runs.loc[runs["group"] == g, "wall_ms"]) for g in ("a", "b"))
    welch = st.ttest_ind(xa, xb, equal_var=False)
    low, high = welch.confidence_interval(0.95)
    unpaired = estimates.compare(runs, "a", "b", "wall_ms", paired=False)
    assert unpaired is not None and unpaired.test == "Welch's t-test on log values"
    assert (unpaired.low, unpaired.high) == pytest.approx((math.exp(low), math.exp(high)))
    assert unpaired.p_value == pytest.approx(welch.pvalue)
    calls = runs.assign(llm_calls=np.arange(len(runs)) % 4)
    diff = estimates.compare(calls, "a", "b", "llm_calls", kind="diff")
    matched = estimates.pairs(calls, "a", "b", "llm_calls")
    expected = st.ttest_rel(matched["a"], matched["b"])
    assert diff is not None and diff.stat == "mean" and diff.test == "paired t-test"
    assert diff.point == pytest.approx((matched["a"] - matched["b"]).mean())
    assert diff.p_value == pytest.approx(expected.pvalue)


def test_a_ratio_with_zeros_falls_back_to_the_ratio_of_means() -> None:
    runs = latency_runs(inputs=8, repetitions=1)
    runs.loc[runs.index[0], "wall_ms"] = 0.0
    result = estimates.compare(runs, "a", "b", "wall_ms")
    assert result is not None and result.stat == "mean" and "delta method" in result.test
    sums = runs.groupby("group")["wall_ms"].sum()
    assert result.point == pytest.approx(sums["a"] / sums["b"])
    assert result.low < result.point < result.high


def test_pairs_match_on_input_and_repetition_with_both_values_present() -> None:
    rows = [run("b", "x", 1, wall_ms=20.0), run("a", "x", 0, wall_ms=1.0),
            run("a", "x", 1, wall_ms=2.0), run("b", "y", 0, wall_ms=40.0),
            run("a", "y", 0, wall_ms=4.0), run("b", "x", 0, wall_ms=10.0),
            run("a", "z", 0, wall_ms=5.0), run("a", "y", 1, wall_ms=None),
            run("b", "y", 1, wall_ms=30.0), run("c", "x", 0, wall_ms=99.0)]
    matched = estimates.pairs(pd.DataFrame(rows), "a", "b", "wall_ms")
    assert list(matched.columns) == ["input_id", "repetition", "a", "b"]
    assert matched.values.tolist() == [["x", 0, 1.0, 10.0], ["x", 1, 2.0, 20.0],
                                       ["y", 0, 4.0, 40.0]]


def test_a_key_seen_twice_is_matched_once_never_crossed() -> None:
    rows = [run("a", "x", 0, wall_ms=1.0), run("b", "x", 0, wall_ms=10.0),
            run("a", "x", 0, wall_ms=2.0), run("b", "x", 0, wall_ms=20.0)]
    matched = estimates.pairs(pd.DataFrame(rows), "a", "b", "wall_ms")
    assert matched[["a", "b"]].values.tolist() == [[1.0, 10.0], [2.0, 20.0]]


def test_tokens_and_unknown_costs() -> None:
    rows = [run("a", "x", r, input_tokens=100, output_tokens=20, cost_usd=0.2 if r else None)
            for r in range(6)] + [run("b", "x", r, cost_usd=0.1) for r in range(6)]
    runs = pd.DataFrame(rows)
    assert estimates.pairs(runs, "a", "b", "tokens")["a"].tolist() == [120] * 6
    assert len(estimates.pairs(runs, "a", "b", "cost_usd")) == 5  # the unpriced run has no pair
    cost = estimates.compare(runs, "a", "b", "cost_usd", kind="ratio")
    assert cost is not None and cost.paired and cost.point == pytest.approx(2.0)


def test_compare_pairs_when_it_can_and_says_so_when_it_cannot() -> None:
    runs = latency_runs(inputs=5, repetitions=1)
    assert estimates.compare(runs, "a", "b", "wall_ms").paired  # type: ignore[union-attr]
    apart = runs.assign(input_id=[f"{i}-{g}" for i, g in zip(runs["input_id"], runs["group"],
                                                              strict=True)])
    unpaired = estimates.compare(apart, "a", "b", "wall_ms")
    assert unpaired is not None and not unpaired.paired and unpaired.n == 10
    assert estimates.compare(latency_runs(inputs=2, repetitions=1), "a", "b", "wall_ms") is None


def test_too_few_pairs_or_a_zero_denominator_give_no_ci() -> None:
    few = latency_runs(inputs=4, repetitions=1)
    assert estimates.paired_comparison(*(few.loc[few["group"] == g, "wall_ms"].to_numpy()
                                     for g in ("a", "b")), "ratio") is None
    zeros = latency_runs(inputs=5, repetitions=1)
    zeros.loc[zeros["group"] == "b", "wall_ms"] = 0.0
    assert estimates.compare(zeros, "a", "b", "wall_ms", kind="ratio") is None
    assert estimates.compare(zeros, "a", "b", "wall_ms", kind="diff") is not None


def test_significance_is_never_claimed_when_the_ci_holds_no_difference() -> None:
    def comparison(low: float, high: float, kind: str) -> estimates.Comparison:
        return estimates.Comparison((low + high) / 2, low, high, 10, True, "mean", kind, "t",
                                0.0, 0.5, 1.0)

    assert not comparison(0.9, 1.3, "ratio").significant
    assert not comparison(1.0, 1.3, "ratio").significant
    assert comparison(1.05, 1.3, "ratio").significant
    assert not comparison(-0.1, 0.2, "diff").significant
    assert comparison(0.1, 0.3, "diff").significant
    same = estimates.compare(latency_runs(effect=1.0), "a", "b", "wall_ms", kind="ratio")
    assert same is not None and same.low <= 1.0 <= same.high and not same.significant
    far = estimates.compare(latency_runs(effect=1.5), "a", "b", "wall_ms", kind="diff")
    assert far is not None and far.low > 0 and far.significant and far.p_value < 0.001


def test_paired_ci_handles_ten_thousand_runs() -> None:
    rng = np.random.default_rng(0)
    base = rng.lognormal(7, 1, 5000)
    frame = pd.DataFrame({"group": np.repeat(["a", "b"], 5000),
                          "input_id": np.tile([f"in-{i}" for i in range(5000)], 2),
                          "repetition": 0,
                          "wall_ms": np.concatenate([1.1 * base, base]) * rng.lognormal(
                              0, 0.1, 10_000)})
    result = estimates.compare(frame, "a", "b", "wall_ms", kind="ratio")
    assert result is not None and result.n == 5000 and result.low < 1.1 < result.high


# -- significance ----------------------------------------------------------------------------

def test_fisher_on_a_fixed_table() -> None:
    # lady tasting tea, 3 of 4 right: two-sided p = (1 + 16 + 16 + 1) / 70
    test = significance.test_rates(3, 4, 1, 4)
    assert test is not None and test.name == "Fisher's exact"
    assert test.p_value == pytest.approx(34 / 70)
    assert test.statistic == pytest.approx(9.0)  # odds ratio (3*3)/(1*1)
    other = significance.test_rates(8, 10, 1, 6)
    expected = st.fisher_exact([[8, 2], [1, 5]], alternative="two-sided")
    assert other is not None and other.p_value == pytest.approx(expected[1])
    assert significance.test_rates(0, 0, 1, 4) is None
    infinite = significance.test_rates(5, 5, 0, 5)
    assert infinite is not None and infinite.statistic is None and "infinite" in infinite.note


def test_mcnemar_is_a_binomial_test_on_the_discordant_pairs() -> None:
    test = significance.test_paired_rates(7, 1, 20)
    assert test.name == "McNemar's exact" and (test.n_a, test.n_b) == (20, 20)
    assert test.p_value == pytest.approx(st.binomtest(7, 8, 0.5).pvalue)
    assert significance.test_paired_rates(0, 0, 10).p_value == 1.0
    with pytest.raises(ValueError):
        significance.test_paired_rates(6, 6, 10)


def test_holm_against_hand_computed_values() -> None:
    def test(p: float) -> significance.Test:
        return significance.Test("t", 0.0, p, 5, 5)

    # sorted 0.01, 0.03, 0.04 -> x3, x2, x1 = 0.03, 0.06, 0.04 -> running max 0.06
    adjusted = significance.holm([test(0.01), None, test(0.04), test(0.03)])
    assert adjusted[1] is None
    values = [t.p_adjusted for t in adjusted if t is not None]
    assert values == pytest.approx([0.03, 0.06, 0.06])
    assert {t.correction for t in adjusted if t is not None} == {"Holm over 3 tests"}
    assert [t.p_value for t in adjusted if t is not None] == [0.01, 0.04, 0.03]
    capped = significance.holm([test(0.5), test(0.6)])
    assert [t.p_adjusted for t in capped if t is not None] == [1.0, 1.0]
    assert significance.holm([]) == []
    # a family of 5 with 3 tests: the absent two count as hypotheses not rejected
    family = significance.holm([test(0.01), None, test(0.04), test(0.03)], family=5,
                               label="Holm over 5")
    assert [t.p_adjusted for t in family if t is not None] == pytest.approx([0.05, 0.12, 0.12])
    with pytest.raises(ValueError):
        significance.holm([test(0.1)] * 3, family=2)


def test_p_text() -> None:
    assert significance.p_text(0.0004) == "p < 0.001"
    assert significance.p_text(0.041) == "p = 0.041"
    assert significance.p_text(0.04123) == "p = 0.041"
    assert significance.p_text(0.5) == "p = 0.50"
    assert significance.p_text(1.0) == "p = 1.0"


# -- how many runs ---------------------------------------------------------------------------

SPREAD_A = [10.0, 12.0, 14.0, 16.0, 18.0]  # sd = sqrt(40 / 4) = sqrt(10)


def test_runs_for_half_width_against_the_formula() -> None:
    assert significance.runs_for_half_width(SPREAD_A, 1.0) == math.ceil(Z_975 ** 2 * 10) == 39
    assert significance.runs_for_half_width(SPREAD_A, 100.0) == 2
    assert significance.runs_for_half_width([5.0], 1.0) is None
    assert significance.runs_for_half_width([5.0, 5.0, 5.0], 1.0) is None


@pytest.mark.parametrize("paired", [True, False], ids=["paired", "unpaired"])
def test_runs_needed_give_the_power_they_promise_in_simulation(paired: bool) -> None:
    """At the n returned, simulated t-tests at alpha / 5 detect the effect about 80% of the
    time; at n - 1 less than that (the n is the fewest)."""
    spread, effect = 0.4, math.log(1.25)
    n = significance.runs_needed(spread, effect, paired, family=5)
    assert n is not None and 5 < n < 200
    rng = np.random.default_rng(1)

    def power(size: int) -> float:
        if paired:
            d = rng.normal(effect, spread, (20_000, size))
            p = st.ttest_1samp(d, 0.0, axis=1).pvalue
        else:
            xa = rng.normal(effect, spread, (20_000, size))
            xb = rng.normal(0.0, spread, (20_000, size))
            p = st.ttest_ind(xa, xb, axis=1, equal_var=False).pvalue
        return float(np.mean(p < 0.01))

    assert 0.78 <= power(n) <= 0.84
    assert power(n - 1) < 0.805
    assert significance.runs_needed(0.0, effect, paired) is None
    assert significance.runs_needed(spread, 0.0, paired) is None
    assert significance.runs_needed(50.0, 0.001, paired) == significance.RUNS_LIMIT + 1


def test_reliability_curves_equal_the_exact_estimator_at_many_runs() -> None:
    import pandas as pd

    rows = [{"group": "g", "input_id": i, "success": r < c}
            for i, (n, c) in enumerate(((40, 25), (40, 40), (40, 0), (41, 7)))
            for r in range(n)]
    frame = estimates.reliability(pd.DataFrame(rows))
    counts = [(40, 25), (40, 40), (40, 0), (41, 7)]
    for k in (1, 2, 7, 40):
        row = frame[frame["k"] == k].iloc[0]
        assert row["pass_hat_k"] == pytest.approx(estimates.pass_hat_k(counts, k), rel=1e-9)
        assert row["pass_at_k"] == pytest.approx(estimates.pass_at_k(counts, k), rel=1e-9)
