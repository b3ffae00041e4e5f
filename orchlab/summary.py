"""Every figure Compare shows, as one JSON-ready dict: the dashboard and `python -m orchlab
summary` both call `summarize_runs`, so a number on the page and in the CLI is one number.

Per group: counts, medians, means, success over the runs it applies to, pass^k and pass@k, path
variance and the distance from the reference (code) path. Per comparison with the baseline:
each figure's estimate (paired by input and repetition when enough pairs exist, else
unpaired), a test, Holm's correction over every test in the summary, a sentence, and the runs
per group that would detect a chosen difference.
"""

from __future__ import annotations

import math
from dataclasses import asdict
from typing import Any

import pandas as pd

from orchlab import analysis, paths, significance, stats
from orchlab.findings import cost_unavailable, failure_sentence, label, paths_sentence

METRICS: tuple[tuple[str, str, str, str], ...] = (
    ("wall_ms", "latency", "ratio", "ms"),
    ("tokens", "tokens", "ratio", "tokens"),
    ("cost_usd", "cost", "ratio", "USD"),
    ("llm_calls", "LLM calls", "diff", "calls"),
)
"""(column, name in sentences, how groups are compared, unit)."""
DETECT = 0.2
"""Default difference to detect, as a share of the baseline's mean (20%)."""
PASS_K_FINDING = 3
"""The k a pass^k finding quotes (or the most both groups allow, when fewer)."""


def findings(runs: pd.DataFrame, a: str = "llm", b: str = "code", by: str = "form"
             ) -> list[str]:
    """The sentences comparing group `a` with group `b` alone (their tests corrected among
    themselves): what Compare shows for one pair."""
    pair = runs[runs[by].isin([a, b])]
    if not (pair[by] == a).any() or not (pair[by] == b).any():
        return [f"Run both {label(a)} and {label(b)} to compare them."]
    [block] = summarize_runs(pair, baseline=b, by=by)["comparisons"]
    return list(block["sentences"])


def summarize_runs(runs: pd.DataFrame, baseline: str | None = None, by: str = "group",
                   detect: float = DETECT, paired: bool = True) -> dict[str, Any]:
    """The whole summary of these runs (a `by` column must exist: see analysis.with_group)."""
    groups = analysis.ordered_groups(runs[by])
    base = baseline if baseline in groups else analysis.default_baseline(groups)
    frame = runs.assign(tokens=runs["input_tokens"] + runs["output_tokens"])
    reliability = stats.reliability(frame, by)  # once: every group's and comparison's pass^k
    blocks = [_comparison(frame, g, base, factor, by, detect, paired)
              for g, factor in analysis.comparisons(groups, base)]
    _adjust([m for block in blocks for m in block["metrics"]])
    for block in blocks:
        block["pass_k"] = _pass_k(reliability, block["group"], base, by)
        block["sentences"] = _sentences(frame, block, by)
    return {"experiments": sorted(map(str, runs["experiment_id"].unique())),
            "baseline": base, "by": by, "detect": detect, "paired": paired,
            "groups": _groups(frame, by, reliability), "comparisons": blocks}


def _groups(frame: pd.DataFrame, by: str, reliability: pd.DataFrame) -> dict[str, Any]:
    table = analysis.summarize(frame, by=[by]).set_index(by)
    deviation = paths.path_deviation(frame, by=by).set_index(by)
    out: dict[str, Any] = {}
    for group in table.index:
        figures = {k: _plain(v) for k, v in table.loc[group].items()}
        rows = reliability[reliability[by] == group]
        figures["pass_k"] = [{"k": int(r.k), "pass_hat_k": _plain(r.pass_hat_k),
                              "pass_at_k": _plain(r.pass_at_k)} for r in rows.itertuples()]
        figures["inputs"] = int(rows["inputs"].iloc[0]) if len(rows) else 0
        figures["runs_per_input"] = int(rows["runs_per_input"].iloc[0]) if len(rows) else 0
        if group in deviation.index:
            figures["path_deviation"] = {k: _plain(v) for k, v in deviation.loc[group].items()}
        out[str(group)] = figures
    return out


def _comparison(frame: pd.DataFrame, group: str, base: str, factor: str, by: str,
                detect: float, paired: bool) -> dict[str, Any]:
    ga, gb = frame[frame[by] == group], frame[frame[by] == base]
    metrics = [_metric(frame, ga, gb, (group, base), spec, by, detect, paired)
               for spec in METRICS]
    metrics.append(_success(frame, ga, gb, (group, base), by, paired))
    return {"group": group, "baseline": base, "factor": factor, "metrics": metrics}


def _metric(frame: pd.DataFrame, ga: pd.DataFrame, gb: pd.DataFrame, names: tuple[str, str],
            spec: tuple[str, str, str, str], by: str, detect: float, paired: bool
            ) -> dict[str, Any]:
    column, name, kind, unit = spec
    group, base = names
    entry: dict[str, Any] = {"figure": column, "name": name, "kind": kind, "unit": unit,
                             "n_a": len(ga), "n_b": len(gb),
                             "mean_a": _plain(ga[column].mean()),
                             "mean_b": _plain(gb[column].mean()),
                             "median_a": _plain(ga[column].median()),
                             "median_b": _plain(gb[column].median())}
    if column == "cost_usd" and (reason := cost_unavailable(ga, gb)):
        return {**entry, "unavailable": reason}
    pairs = stats.pairs(frame, group, base, column, by=by) if paired else None
    estimate = stats.compare(frame, group, base, column, kind, by=by, matched=pairs,
                             paired=paired)
    entry["estimate"] = _estimate(estimate)
    if estimate is not None and estimate.paired and pairs is not None:
        test = significance.test_paired((pairs[group] - pairs[base]).to_numpy(dtype=float))
    else:
        test = significance.test_values(ga[column].dropna(), gb[column].dropna())
    entry["test"] = _test(test)
    mean_b = float(gb[column].mean()) if len(gb) else math.nan
    if mean_b and not math.isnan(mean_b):
        entry["runs_needed"] = significance.runs_for_difference(
            ga[column].dropna(), gb[column].dropna(), abs(mean_b) * detect)
        entry["detect"] = detect
    return entry


def _success(frame: pd.DataFrame, ga: pd.DataFrame, gb: pd.DataFrame, names: tuple[str, str],
             by: str, paired: bool) -> dict[str, Any]:
    group, base = names
    sa, sb = ga["success"].dropna().astype(float), gb["success"].dropna().astype(float)
    entry: dict[str, Any] = {"figure": "success", "name": "success", "kind": "diff",
                             "unit": "rate", "n_a": len(sa), "n_b": len(sb),
                             "rate_a": _plain(sa.mean()), "rate_b": _plain(sb.mean())}
    scored = frame[frame["success"].notna()].assign(
        success=lambda f: f["success"].astype(float))
    estimate = stats.compare(scored, group, base, "success", "diff", by=by, paired=paired)
    entry["estimate"] = _estimate(estimate)
    test = significance.test_rates(int(sa.sum()), len(sa), int(sb.sum()), len(sb)) \
        if len(sa) and len(sb) else None
    entry["test"] = _test(test)
    if len(sa) and len(sb):
        entry["runs_needed"] = significance.runs_for_rates(float(sa.mean()), float(sb.mean()))
    return entry


def _pass_k(rel: pd.DataFrame, group: str, base: str, by: str) -> dict[str, Any] | None:
    """The pass^k finding of one comparison, at the k both groups allow (at most 3)."""
    ka = rel[rel[by] == group]["k"].max() if (rel[by] == group).any() else 0
    kb = rel[rel[by] == base]["k"].max() if (rel[by] == base).any() else 0
    k = int(min(PASS_K_FINDING, ka, kb)) if ka and kb else 0
    if k < 1:
        return None
    row = {g: rel[(rel[by] == g) & (rel["k"] == k)].iloc[0] for g in (group, base)}
    return {"k": k, "a": _plain(row[group]["pass_hat_k"]), "b": _plain(row[base]["pass_hat_k"]),
            "inputs_a": int(row[group]["inputs"]), "runs_a": int(row[group]["runs_per_input"]),
            "inputs_b": int(row[base]["inputs"]), "runs_b": int(row[base]["runs_per_input"])}


def _adjust(metrics: list[dict[str, Any]]) -> None:
    """Holm's correction over every test the summary reports at once."""
    tested = [m for m in metrics if m.get("test")]
    adjusted = significance.holm([significance.Test(**m["test"]) for m in tested])
    for entry, test in zip(tested, adjusted, strict=True):
        entry["test"] = _test(test)


def _test(test: significance.Test | None) -> dict[str, Any] | None:
    """A test as JSON (an undefined statistic, e.g. Fisher's odds ratio of 0/0, as None)."""
    return None if test is None else {k: _plain(v) for k, v in asdict(test).items()}


def _estimate(estimate: stats.Comparison | None) -> dict[str, Any] | None:
    """A comparison as JSON, with the verdict its CI gives."""
    if estimate is None:
        return None
    return {**asdict(estimate), "significant": estimate.significant}


def _plain(value: Any) -> Any:
    """A JSON value: numpy scalars as Python ones, NaN as None."""
    if isinstance(value, dict | list | str | bool) or value is None:
        return value
    if analysis.is_missing(value):
        return None
    return value.item() if hasattr(value, "item") else value


# -- sentences -------------------------------------------------------------------------------

def _sentences(frame: pd.DataFrame, block: dict[str, Any], by: str) -> list[str]:
    a, b = block["group"], block["baseline"]
    ga, gb = frame[frame[by] == a], frame[frame[by] == b]
    out = [metric_sentence(m, a, b) for m in block["metrics"]]
    if block["pass_k"]:
        out.append(pass_k_sentence(block["pass_k"], a, b))
    out.append(paths_sentence(ga, gb, a, b))
    out.extend(failure_sentence(g, name) for g, name in ((ga, a), (gb, b)))
    return [s for s in out if s]


def _cap(text: str) -> str:
    return text[:1].upper() + text[1:]


def metric_sentence(m: dict[str, Any], a: str, b: str) -> str:
    """One figure of one comparison, saying how sure it is and which estimate it uses."""
    if m.get("unavailable"):
        return str(m["unavailable"])
    if m["figure"] == "success":
        return success_sentence(m, a, b)
    est, test = m.get("estimate"), m.get("test")
    if est is None:
        test_part = f"; {_test_text(test)}" if test else ""
        return (f"Too few runs for a confidence interval on {m['name']} ({m['n_a']} and "
                f"{m['n_b']} runs; {analysis.MIN_RUNS_FOR_CI} per group needed): {_values(m)}"
                f"{test_part}.")
    ci = _interval(est, m["kind"])
    how = _how(est, test)
    tested = test is not None and _p(test) < 0.05
    if est["significant"] and tested:
        return f"{_cap(label(a))} {_direction(m, est)} than {label(b)}: {ci} ({how})."
    if est["significant"]:
        return (f"{_cap(label(a))} {_direction(m, est)} than {label(b)} by its 95% CI, {ci}, "
                f"but the test does not confirm it ({how}): a lead, not a finding; more runs "
                "would settle it.")
    if tested:
        return (f"The test suggests a difference in {m['name']} between {label(a)} and "
                f"{label(b)} ({how}), but the 95% CI {ci} includes no difference: a lead, not "
                "a finding.")
    needed = m.get("runs_needed")
    tail = (f" About {needed:,} runs per group would detect a {m['detect']:.0%} difference "
            "with 80% power.") if needed else ""
    return (f"No evidence of a difference in {m['name']} between {label(a)} and {label(b)}: "
            f"{ci} ({how}).{tail}")


def _interval(est: dict[str, Any], kind: str) -> str:
    if kind == "ratio":
        return f"{est['point']:.2f}x [{est['low']:.2f}, {est['high']:.2f}]"
    return f"{est['point']:+.2f} [{est['low']:+.2f}, {est['high']:+.2f}]"


def _how(est: dict[str, Any], test: dict[str, Any] | None) -> str:
    pairing = (f"paired by input and repetition, {est['n']} pairs" if est["paired"]
               else f"unpaired, {est['n']} runs")
    return f"{pairing}; {_test_text(test) if test else 'no test'}"


def _p(test: dict[str, Any]) -> float:
    """The p-value a verdict uses: Holm-adjusted when the summary corrected it."""
    return float(test["p_adjusted"] if test["p_adjusted"] is not None else test["p_value"])


def _test_text(test: dict[str, Any]) -> str:
    p = _p(test)
    adjusted = ", Holm-adjusted" if test["p_adjusted"] is not None else ""
    return f"{test['name']} {significance.p_text(p)}{adjusted}"


def _values(m: dict[str, Any]) -> str:
    """The two groups' medians (latency) or means, in the figure's unit."""
    stat = "median" if m["figure"] == "wall_ms" else "mean"
    a, b = m[f"{stat}_a"], m[f"{stat}_b"]
    if a is None or b is None:
        return "no values"
    shown = f"${a:.3g} vs ${b:.3g}" if m["unit"] == "USD" else f"{a:,.1f} vs {b:,.1f} {m['unit']}"
    return f"{stat}s {shown}"


def _direction(m: dict[str, Any], est: dict[str, Any]) -> str:
    more = est["point"] > (1 if m["kind"] == "ratio" else 0)
    if m["figure"] == "wall_ms":
        return "was slower" if more else "was faster"
    return f"used {'more' if more else 'fewer'} {m['name']}" if m["figure"] != "cost_usd" \
        else ("cost more" if more else "cost less")


def success_sentence(m: dict[str, Any], a: str, b: str) -> str:
    """The rule's rate in both groups over the runs it applies to, with the test."""
    if not m["n_a"] or not m["n_b"]:
        return (f"No success rate to compare: {label(a if not m['n_a'] else b)} has no run "
                "whose outcome says something about the form.")
    text = (f"The scenario's rule held in {m['rate_a']:.0%} of {label(a)} runs (n={m['n_a']}) "
            f"and {m['rate_b']:.0%} of {label(b)} runs (n={m['n_b']})")
    est, test = m.get("estimate"), m.get("test")
    if est is None:
        tested = f"; {_test_text(test)}" if test else ""
        return text + (f" (too few runs for a CI; {analysis.MIN_RUNS_FOR_CI} per group "
                       f"needed{tested}).")
    ci = f"{est['point']:+.0%} [{est['low']:+.0%}, {est['high']:+.0%}]"
    real = est["significant"] and test is not None and _p(test) < 0.05
    verdict = "" if real else "; no evidence of a difference"
    return text + f": difference {ci} ({_how(est, test)}{verdict})."


def pass_k_sentence(p: dict[str, Any], a: str, b: str) -> str:
    """Reliability when the same input comes back k times."""
    def part(value: float | None) -> str:
        return "unavailable" if value is None else f"{value:.2f}"

    return (f"{_cap(label(a))} pass^{p['k']} = {part(p['a'])} ({p['inputs_a']} inputs x "
            f"{p['runs_a']} runs) vs {label(b)} {part(p['b'])} ({p['inputs_b']} inputs x "
            f"{p['runs_b']} runs): the chance that all {p['k']} runs of one input succeed.")


def deviation_sentences(result: dict[str, Any], reference: str = "code") -> list[str]:
    """Each group's distance from the reference form's path, from the summary's own figures."""
    return [paths.deviation_sentence(g["path_deviation"], label(name), label(reference))
            for name, g in result["groups"].items() if "path_deviation" in g]


HALF_WIDTH = 0.1
"""The Run page's suggestion: runs per form for a 95% CI within ±10% of the mean latency."""


def suggest_runs(runs: pd.DataFrame, forms: list[str], planned_per_form: int) -> str | None:
    """Before a run: how many runs per form the spread of the stored runs of these forms says
    would pin each form's mean latency to ±10%, or None when fewer than 2 runs of each exist."""
    if runs.empty or not forms:
        return None
    mine = runs[runs["form"].isin(forms) & (runs["status"] == "ok")]
    needed = []
    for form in forms:
        values = mine.loc[mine["form"] == form, "wall_ms"]
        n = significance.runs_for_half_width(values, HALF_WIDTH * float(values.mean())) \
            if len(values) >= 2 else None
        if n is None:
            return None
        needed.append(n)
    return (f"From {len(mine)} stored runs of these forms that ended ok, about {max(needed):,} "
            f"runs per form would pin each form's mean latency to ±{HALF_WIDTH:.0%} (95% CI); "
            f"this plan has {planned_per_form:,} per form.")
