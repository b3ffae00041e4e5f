"""Every figure Compare shows, as one JSON-ready dict: the dashboard and `python -m orchlab
summary` both call `summarize_runs`, so a number on the page and in the CLI is one number.

Per group: counts, medians, means, success over the runs it applies to, pass^k and pass@k, path
variance and the distance from the reference (code) path. Per comparison with the baseline:
each figure's estimate (paired by input and repetition when enough pairs exist, else
unpaired), a test, Holm's correction over every test in the summary, a sentence, and the runs
per group that would detect a chosen difference. When groups split by backend, a group that
differs from the baseline in its backend and its form (or variant) is also compared with the
groups that hold all but one of those (`analysis.held_comparisons`). Last, success against
cost per group and its Pareto frontier (`orchlab.stats.frontier`).
"""

from __future__ import annotations

import math
from dataclasses import asdict
from typing import Any

import pandas as pd

from orchlab.stats import analysis, estimates, paths, significance
from orchlab.stats.findings import (
    cost_unavailable,
    failure_sentence,
    label,
    price_sources,
    title,
)
from orchlab.stats.frontier import frontier

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
    reliability = estimates.reliability(frame, by)  # once: every group's pass^k
    blocks = [_comparison(frame, g, base, factor, by, detect, paired)
              for g, factor in analysis.comparisons(groups, base)]
    blocks += [_comparison(frame, g, against, factor, by, detect, paired)
               for g, against, factor in analysis.held_comparisons(groups, base)]
    for block in blocks:
        block["pass_k"] = _pass_k(frame, block["group"], block["baseline"], by)
        block["sentences"] = _sentences(frame, block, by)
    return {"experiments": sorted(map(str, runs["experiment_id"].unique())),
            "baseline": base, "by": by, "detect": detect, "paired": paired,
            "groups": _groups(frame, by, reliability), "comparisons": blocks,
            "frontier": frontier(frame, by, PASS_K_FINDING, reliability)}


def _groups(frame: pd.DataFrame, by: str, reliability: pd.DataFrame) -> dict[str, Any]:
    table = analysis.summarize(frame, by=[by]).set_index(by)
    deviation = paths.path_deviation(frame, by=by).set_index(by)
    out: dict[str, Any] = {}
    for group in table.index:
        figures = {k: _plain(v) for k, v in table.loc[group].items()}
        rows = reliability[reliability[by] == group]
        figures["pass_k"] = [{"k": int(r.k), "pass_hat_k": _plain(r.pass_hat_k),
                              "pass_hat_k_low": _plain(r.pass_hat_k_low),
                              "pass_hat_k_high": _plain(r.pass_hat_k_high),
                              "pass_at_k": _plain(r.pass_at_k)} for r in rows.itertuples()]
        figures["inputs"] = int(rows["inputs"].iloc[0]) if len(rows) else 0
        figures["runs_per_input"] = int(rows["runs_per_input"].iloc[0]) if len(rows) else 0
        if group in deviation.index:
            figures["path_deviation"] = {k: _plain(v) for k, v in deviation.loc[group].items()}
        figures["centers"] = _centers(frame[(frame[by] == group) & (frame["status"] == "ok")])
        out[str(group)] = figures
    return out


def _centers(ok: pd.DataFrame) -> dict[str, dict[str, Any]]:
    """Per figure, the group's own centre over its runs that ended ok, of the kind its
    comparisons estimate (geometric mean for a ratio of positive values, else mean)."""
    out: dict[str, dict[str, Any]] = {}
    for column, _, kind, _ in METRICS:
        values = pd.to_numeric(estimates.column_values(ok, column), errors="coerce").dropna()
        x = values.to_numpy(float)
        stat = _stat_of(kind, x, x)
        out[column] = {"stat": stat, "value": _plain(estimates.center(x, stat)), "n": len(x)}
    return out


FAMILY = len(METRICS) + 1
"""Holm's family: one comparison's figures (latency, tokens, cost, LLM calls, success), the
same whatever else a page shows and whether runs are paired."""
FAMILY_TEXT = f"Holm over this comparison's {FAMILY} figures"


def _comparison(frame: pd.DataFrame, group: str, base: str, factor: str, by: str,
                detect: float, paired: bool) -> dict[str, Any]:
    ok = frame[frame["status"] == "ok"]  # a failed run's time and tokens are no form's figure
    rows = estimates.pair_rows(ok, group, base, by) if paired else None
    metrics = [_metric(ok, (group, base), spec, by, detect, rows) for spec in METRICS]
    metrics.append(_success(frame, (group, base), by, paired))
    tested = [m for m in metrics if m.get("test")]
    adjusted = significance.holm([significance.Test(**m["test"]) for m in tested],
                                 family=FAMILY, label=FAMILY_TEXT)
    for entry, test in zip(tested, adjusted, strict=True):
        entry["test"] = _test(test)
    for entry in metrics:
        entry["claimed"] = _claimed(entry)
    return {"group": group, "baseline": base, "factor": factor, "metrics": metrics}


def _metric(ok: pd.DataFrame, names: tuple[str, str], spec: tuple[str, str, str, str],
            by: str, detect: float, rows: tuple[Any, Any] | None) -> dict[str, Any]:
    """One figure of a comparison over the runs that ended ok; `rows`: their pairing (None:
    unpaired)."""
    column, name, kind, unit = spec
    group, base = names
    xa, xb = (estimates.group_values(ok, g, column, by) for g in names)
    entry: dict[str, Any] = {"figure": column, "name": name, "kind": kind, "unit": unit,
                             "n_a": len(xa), "n_b": len(xb), "stat": _stat_of(kind, xa, xb),
                             "center_a": None, "center_b": None}
    ga, gb = ok[ok[by] == group], ok[ok[by] == base]
    if column == "cost_usd" and (reason := cost_unavailable(ga, gb)):
        return {**entry, "unavailable": reason}
    if kind == "ratio" and len(xb) and not xb.any():
        return {**entry, "unavailable": _zero_baseline(name, unit, base, xa, gb)}
    matched = estimates.pairs(ok, group, base, column, by, rows) if rows is not None else None
    estimate = estimates.compare(ok, group, base, column, kind, by=by, matched=matched,
                             paired=rows is not None)
    if estimate is not None and estimate.paired and matched is not None:
        xa, xb = matched[group].to_numpy(float), matched[base].to_numpy(float)
        entry["n_a"] = entry["n_b"] = len(matched)
        entry["inputs"] = int(matched["input_id"].nunique())
    else:
        entry["inputs"] = int(pd.concat([ga, gb])["input_id"].nunique())
    stat = estimate.stat if estimate is not None else entry["stat"]
    entry.update(stat=stat, center_a=estimates.center(xa, stat),
                 center_b=estimates.center(xb, stat),
                 estimate=_estimate(estimate))
    if estimate is None:
        return entry
    entry["test"] = _test(significance.Test(estimate.test, estimate.statistic,
                                            estimate.p_value, entry["n_a"], entry["n_b"]))
    effect = (math.log1p(detect) if estimate.stat == "geometric mean" else
              detect if kind == "ratio" else detect * abs(float(xb.mean())))
    entry["runs_needed"] = significance.runs_needed(
        estimate.spread, effect, estimate.paired, FAMILY, minimum=analysis.MIN_RUNS_FOR_CI)
    entry["detect"] = detect
    return entry


def _stat_of(kind: str, xa: Any, xb: Any) -> str:
    """What a figure's estimate compares before there is one: geometric means for a ratio of
    positive values, else means."""
    positive = len(xa) and len(xb) and (xa > 0).all() and (xb > 0).all()
    return "geometric mean" if kind == "ratio" and positive else "mean"


def _zero_baseline(name: str, unit: str, base: str, xa: Any, gb: pd.DataFrame) -> str:
    """Why a ratio to a baseline of zeros is no figure, in words."""
    zero = "cost $0" if unit == "USD" else f"had 0 {name}"
    sources = f" (price: {price_sources(gb)})" if unit == "USD" else ""
    if not len(xa) or not xa.any():
        return (f"{_cap(label(base))} and the other group {zero} on every run that ended ok"
                f"{sources}: nothing to compare.")
    mean = f"${xa.mean():.3g}" if unit == "USD" else f"{xa.mean():,.1f} {unit}"
    return (f"Every {label(base)} run {zero}{sources}, so no ratio to it exists; the other "
            f"group averaged {mean} per run.")


def _success(frame: pd.DataFrame, names: tuple[str, str], by: str, paired: bool
             ) -> dict[str, Any]:
    group, base = names
    scored = frame[frame["success"].notna()]
    rates = estimates.compare_rates(scored, group, base, by, paired)
    entry: dict[str, Any] = {"figure": "success", "name": "success", "kind": "diff",
                             "unit": "rate", "n_a": 0, "n_b": 0, "rate_a": None,
                             "rate_b": None, "estimate": None, "test": None}
    if rates is None:
        counted = scored[by]
        entry.update(n_a=int((counted == group).sum()), n_b=int((counted == base).sum()))
        return entry
    entry.update(n_a=rates.n_a, n_b=rates.n_b, rate_a=rates.rate_a, rate_b=rates.rate_b,
                 estimate=_estimate(rates.estimate), test=_test(rates.test))
    return entry


def _claimed(entry: dict[str, Any]) -> bool:
    """A difference is claimed when the corrected test says so and the interval agrees (for
    t-tests they always agree at the uncorrected level; the exact tests of success may not)."""
    est, test = entry.get("estimate"), entry.get("test")
    return bool(est and test and est["significant"] and _p(test) < ALPHA)


ALPHA = 0.05
"""The family-wise error rate a claim keeps."""


def _pass_k(frame: pd.DataFrame, group: str, base: str, by: str) -> dict[str, Any] | None:
    """The pass^k finding of one comparison, on the inputs both groups ran (at the k both
    allow there, at most 3), with each group's interval."""
    scored = frame[frame["success"].notna()]
    shared = set(scored.loc[scored[by] == group, "input_id"]) & set(
        scored.loc[scored[by] == base, "input_id"])
    if not shared:
        return None
    counts = {g: estimates.success_counts(scored[(scored[by] == g)
                                             & scored["input_id"].isin(shared)])
              for g in (group, base)}
    k = min(PASS_K_FINDING, *(min(n for n, _ in c) for c in counts.values()))
    found: dict[str, Any] = {"k": k, "inputs": len(shared),
                             "inputs_left_out": sorted(
                                 set(scored.loc[scored[by].isin([group, base]), "input_id"])
                                 - shared)}
    for side, g in (("a", group), ("b", base)):
        interval = estimates.pass_hat_k_interval(counts[g], k)
        found[side] = _plain(estimates.pass_hat_k(counts[g], k))
        found[f"{side}_low"], found[f"{side}_high"] = interval or (None, None)
        found[f"runs_{side}"] = min(n for n, _ in counts[g])
    return found


def _test(test: significance.Test | None) -> dict[str, Any] | None:
    """A test as JSON (an undefined or infinite statistic as None)."""
    return None if test is None else {k: _plain(v) for k, v in asdict(test).items()}


def _estimate(estimate: estimates.Comparison | None) -> dict[str, Any] | None:
    """A comparison as JSON, with the verdict its interval gives."""
    if estimate is None:
        return None
    return {**{k: _plain(v) for k, v in asdict(estimate).items()},
            "significant": estimate.significant}


def _plain(value: Any) -> Any:
    """A JSON value: numpy scalars as Python ones, NaN as None."""
    if isinstance(value, dict | list | str | bool) or value is None:
        return value
    if analysis.is_missing(value):
        return None
    value = value.item() if hasattr(value, "item") else value
    if isinstance(value, float) and not math.isfinite(value):
        return None  # strict JSON has no infinity; the entry's text says what it was
    return value


# -- the scoreboard ----------------------------------------------------------------------------

SCOREBOARD_ROWS = ("success", "pass_k", "wall_ms", "tokens", "cost_usd", "llm_calls", "paths")
"""The scoreboard's figures, top to bottom: the outcome first, then what it cost."""
MARKS = {True: "▲", False: "▼"}
"""A claimed difference, above or below the baseline (no mark: none claimed)."""


def scoreboard(result: dict[str, Any]) -> pd.DataFrame:
    """Every group's figures on one table before any sentence: forms as columns (the baseline
    first), figures as rows, each cell the group's value and, for every other group, its
    estimate against the baseline with the 95% interval and a mark only where a difference
    is claimed. Built from the summary alone: Compare, the CLI and the report show one table."""
    base = result["baseline"]
    blocks = {b["group"]: b for b in result["comparisons"] if b["baseline"] == base}
    groups = [base, *[g for g in result["groups"] if g != base]]
    k = _board_k(result, groups)
    rows = []
    for row in SCOREBOARD_ROWS:
        name = _row_name(row, k)
        if name is None:
            continue
        cells = {f"{title(g)}{' (baseline)' if g == base else ''}":
                 _cell_text(row, result["groups"][g], blocks.get(g), k) for g in groups}
        rows.append({"figure": name, **cells})
    return pd.DataFrame(rows)


def _board_k(result: dict[str, Any], groups: list[str]) -> int:
    """The k of the pass^k row: at most PASS_K_FINDING, and what every group allows."""
    most = [max((r["k"] for r in result["groups"][g]["pass_k"]), default=0) for g in groups]
    return min(PASS_K_FINDING, *most) if most else 0


def _row_name(row: str, k: int) -> str | None:
    names = {"success": "Success rate", "pass_k": f"pass^{k}" if k else None,
             "wall_ms": "Latency", "tokens": "Tokens per run", "cost_usd": "Cost per run",
             "llm_calls": "LLM calls per run", "paths": "Distinct paths"}
    return names[row]


def _cell_text(row: str, figures: dict[str, Any], block: dict[str, Any] | None, k: int
               ) -> str:
    if row == "paths":
        return f"{figures['distinct_paths']} ({figures['path_entropy_bits']:.2f} bits)"
    if row == "pass_k":
        hit = next((r for r in figures["pass_k"] if r["k"] == k), None)
        if hit is None:
            return "—"
        low, high = hit.get("pass_hat_k_low"), hit.get("pass_hat_k_high")
        return f"{hit['pass_hat_k']:.2f}" + (f" [{low:.2f}, {high:.2f}]" if low is not None
                                              else "")
    if row == "success":
        own = ("—" if figures["success_rate"] is None else
               f"{figures['success_rate']:.0%} (n={figures['success_n']})")
    else:
        center = figures["centers"][row]
        own = _amount(center["value"], row) + (" (geo. mean)" if center["stat"] ==
                                               "geometric mean" else " (mean)")
    if block is None:
        return own
    m = next(x for x in block["metrics"] if x["figure"] == row)
    est = m.get("estimate")
    if m.get("unavailable") or est is None:
        return f"{own} · {'no comparison' if m.get('unavailable') else 'too few runs'}"
    if m["kind"] == "ratio":
        shown = f"{est['point']:.2f}x [{est['low']:.2f}, {est['high']:.2f}]"
    elif row == "success":
        shown = f"{est['point']:+.0%} [{est['low']:+.0%}, {est['high']:+.0%}]"
    else:
        shown = f"{est['point']:+.2f} [{est['low']:+.2f}, {est['high']:+.2f}]"
    mark = f" {MARKS[est['point'] > (1 if m['kind'] == 'ratio' else 0)]}" if m["claimed"] \
        else ""
    return f"{own} · {shown}{mark}"


def _amount(value: float | None, row: str) -> str:
    if value is None:
        return "—"
    if row == "wall_ms":
        return f"{value:,.0f} ms"
    if row == "cost_usd":
        return f"${value:.3g}"
    return f"{value:,.1f}" if row == "llm_calls" else f"{value:,.0f}"


SCOREBOARD_NOTE = (
    "Each cell: the group's own value over its runs that ended ok (success over the runs its "
    "outcome applies to), then, against the baseline, the estimate with its 95% interval: a "
    "ratio of geometric means for latency, tokens and cost (x), a difference for success and "
    "LLM calls. ▲ or ▼ marks a difference claimed after Holm's correction over that "
    "comparison's 5 figures; no mark, none claimed. Intervals are about the inputs tested. "
    "pass^k is over each group's inputs, with its 95% interval.")
"""The scoreboard's legend, shown under it wherever it is shown."""


# -- sentences -------------------------------------------------------------------------------

def _sentences(frame: pd.DataFrame, block: dict[str, Any], by: str) -> list[str]:
    """One sentence per figure, in the metrics' order (a reader, and the calibration bench,
    finds figure i's sentence at i), then pass^k, paths and failures."""
    a, b = block["group"], block["baseline"]
    ga, gb = frame[frame[by] == a], frame[frame[by] == b]
    out = [metric_sentence(m, a, b) for m in block["metrics"]]
    if block["pass_k"]:
        out.append(pass_k_sentence(block["pass_k"], a, b))
    out.append(paths.paths_sentence(ga, gb, a, b))
    out.extend(failure_sentence(g, name) for g, name in ((ga, a), (gb, b)))
    return [s for s in out if s]


def _cap(text: str) -> str:
    return text[:1].upper() + text[1:]


def metric_sentence(m: dict[str, Any], a: str, b: str) -> str:
    """One figure of one comparison: the two groups' values and the estimate, with the
    estimand, the pairing and the corrected test named, and a difference stated only when it
    is claimed (`_claimed`)."""
    if m.get("unavailable"):
        return str(m["unavailable"])
    if m["figure"] == "success":
        return success_sentence(m, a, b)
    est = m.get("estimate")
    values = _values(m)
    if est is None:
        return (f"Too few runs for an interval on {m['name']} ({m['n_a']} and {m['n_b']} "
                f"runs that ended ok; {analysis.MIN_RUNS_FOR_CI} per group needed): "
                f"{values}.")
    said = f"{values}, {_interval(est, m['kind'])} ({_how(m, est)})"
    if m["claimed"]:
        return f"{_cap(label(a))} {_direction(m, est)} than {label(b)}: {said}."
    return (f"No difference in {m['name']} shown between {label(a)} and {label(b)}: {said}."
            f"{_needed(m, est)}")


def _needed(m: dict[str, Any], est: dict[str, Any]) -> str:
    """How many pairs (or runs per group) the same test and correction would need."""
    needed = m.get("runs_needed")
    if not needed:
        return ""
    unit = "pairs" if est["paired"] else "runs per group"
    if needed > significance.RUNS_LIMIT:
        return (f" Not even {significance.RUNS_LIMIT:,} {unit} would detect a "
                f"{m['detect']:.0%} difference with 80% power at this spread.")
    return (f" About {needed:,} {unit} would detect a {m['detect']:.0%} difference with 80% "
            "power under the same test and correction.")


def _interval(est: dict[str, Any], kind: str) -> str:
    if kind == "ratio":
        return f"{est['point']:.2f}x [95% CI {est['low']:.2f}, {est['high']:.2f}]"
    return f"{est['point']:+.2f} [95% CI {est['low']:+.2f}, {est['high']:+.2f}]"


def _how(m: dict[str, Any], est: dict[str, Any]) -> str:
    """Estimand, runs used, and the test with its corrected p."""
    what = ("ratio of geometric means" if est["stat"] == "geometric mean" and m["kind"] == "ratio"
            else "ratio of means" if m["kind"] == "ratio" else "difference of means")
    runs = "over runs that ended ok; " if m["figure"] != "success" else ""
    inputs = m.get("inputs")
    on = f" on {inputs} input{'s' if inputs != 1 else ''}" if inputs else ""
    pairing = (f"paired by input and repetition, {est['n']} pairs{on}" if est["paired"]
               else f"unpaired, {est['n']} runs{on}")
    test = m.get("test")
    return f"{what} {runs}{pairing}; {_test_text(test) if test else 'no test'}"


def _p(test: dict[str, Any]) -> float:
    """The p-value a verdict uses: Holm-adjusted when the summary corrected it."""
    return float(test["p_adjusted"] if test["p_adjusted"] is not None else test["p_value"])


def _test_text(test: dict[str, Any]) -> str:
    if test["p_adjusted"] is None:
        return f"{test['name']} {significance.p_text(test['p_value'])}"
    return f"{test['name']} {significance.p_text(_p(test))} after {test['correction']}"


def _values(m: dict[str, Any]) -> str:
    """The two groups' centres (geometric means or means) over the runs the estimate used."""
    a, b = m.get("center_a"), m.get("center_b")
    stat = f"{m['stat']}s"
    if a is None or b is None:
        return f"{stat}: no values"
    if m["unit"] == "USD":
        return f"{stat} ${a:.3g} vs ${b:.3g}"
    return f"{stat} {a:,.1f} vs {b:,.1f} {m['unit']}"


def _direction(m: dict[str, Any], est: dict[str, Any]) -> str:
    more = est["point"] > (1 if m["kind"] == "ratio" else 0)
    if m["figure"] == "wall_ms":
        return "was slower" if more else "was faster"
    if m["figure"] == "success":
        return "succeeded more often" if more else "succeeded less often"
    return f"used {'more' if more else 'fewer'} {m['name']}" if m["figure"] != "cost_usd" \
        else ("cost more" if more else "cost less")


def success_sentence(m: dict[str, Any], a: str, b: str) -> str:
    """The rule's rate in both groups over the runs (or pairs) used, the difference with its
    interval, and the exact test; a difference is stated only when claimed."""
    if not m["n_a"] or not m["n_b"]:
        return (f"No success rate to compare: {label(a if not m['n_a'] else b)} has no run "
                "whose outcome says something about the form.")
    est, test = m.get("estimate"), m.get("test")
    over = (f"{est['n']} pairs by input and repetition" if est and est["paired"] else
            f"n={m['n_a']} and n={m['n_b']} runs")
    rates = (f"the scenario's rule held in {m['rate_a']:.0%} of {label(a)} runs and "
             f"{m['rate_b']:.0%} of {label(b)} runs ({over})")
    if est is None:
        tested = f"; {_test_text(test)}" if test else ""
        return (f"{_cap(rates)}: too few runs for an interval ({analysis.MIN_RUNS_FOR_CI} "
                f"per group needed{tested}).")
    ci = f"difference {est['point']:+.0%} [95% CI {est['low']:+.0%}, {est['high']:+.0%}]"
    tested = _test_text(test) if test else "no test"
    note = f" ({test['note']})" if test and test.get("note") else ""
    if m["claimed"]:
        return (f"{_cap(label(a))} {_direction(m, est)} than {label(b)}: {rates}, {ci} "
                f"({tested}{note}).")
    return f"No difference in success shown: {rates}, {ci} ({tested}{note})."


def pass_k_sentence(p: dict[str, Any], a: str, b: str) -> str:
    """Reliability when the same input comes back k times, on the inputs both groups ran."""
    def part(side: str) -> str:
        value, low, high = p[side], p[f"{side}_low"], p[f"{side}_high"]
        if value is None:
            return "unavailable"
        interval = f" [95% interval {low:.2f}, {high:.2f}]" if low is not None else ""
        return f"{value:.2f}{interval}"

    left_out = (f"; {len(p['inputs_left_out'])} input(s) only one group ran are left out"
                if p["inputs_left_out"] else "")
    return (f"{_cap(label(a))} pass^{p['k']} = {part('a')} vs {label(b)} {part('b')} on the "
            f"{p['inputs']} inputs both ran (at least {min(p['runs_a'], p['runs_b'])} runs "
            f"each{left_out}): the chance that all {p['k']} runs of one input succeed.")


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
