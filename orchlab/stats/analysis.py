"""Pure functions over stored runs (the DataFrame from `Store.load_runs`).

No I/O and no UI here: the CLI and the dashboard both call these, so each figure has one
definition.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import Any, NamedTuple

import numpy as np
import pandas as pd

from orchlab.core import forms
from orchlab.core.errors import count_text
from orchlab.measure.paths import path_entropy
from orchlab.stats.significance import t_quantile


def is_missing(value: Any) -> bool:
    """None, NaN, pd.NA or NaT: a value a frame hands out for "not recorded" (a list or a dict
    is a value, never missing)."""
    return not isinstance(value, list | tuple | dict) and bool(pd.isna(value))


SUMMARY_COLUMNS = [
    "runs", "ok", "wall_ms_median", "wall_ms_p90", "tokens_mean", "cost_usd_mean",
    "llm_calls_mean", "tool_calls_mean", "distinct_paths", "path_entropy_bits", "success_rate",
    "success_n", "retries", "failures",
]
"""Latency, tokens, cost and calls are over the runs that ended ok (a failed run's figures are
its failure's, counted in `failures`); `success_rate` is over `success_n` runs: those whose
outcome says something about the form (runs stopped by the environment or a cancel are left
out, see orchlab.core.errors)."""






def in_group_order(runs: pd.DataFrame, keys: list[str]) -> list[tuple[Any, pd.DataFrame]]:
    """`groupby(keys)` in the one order of groups (`group_key` of the first key), so every
    table lists forms as every chart does."""
    groups = list(runs.groupby(keys if len(keys) > 1 else keys[0], sort=True))

    def order(item: tuple[Any, pd.DataFrame]) -> tuple[Any, ...]:
        key = item[0] if isinstance(item[0], tuple) else (item[0],)
        return (group_key(str(key[0])), *map(str, key[1:]))

    return sorted(groups, key=order)


def summarize(runs: pd.DataFrame, by: list[str] | None = None) -> pd.DataFrame:
    """Per-group figures (default: per form) in SUMMARY_COLUMNS order."""
    keys = by or ["form"]
    if runs.empty:
        return pd.DataFrame(columns=keys + SUMMARY_COLUMNS)
    rows = []
    for key, group in in_group_order(runs, keys):
        values = key if isinstance(key, tuple) else (key,)
        rows.append({**dict(zip(keys, values, strict=True)), **_group_figures(group)})
    return pd.DataFrame(rows, columns=keys + SUMMARY_COLUMNS)


def _group_figures(group: pd.DataFrame) -> dict[str, float | int | str | None]:
    ok = group[group["status"] == "ok"]  # a run that errored after 50 ms is no fast run
    cost = ok["cost_usd"]
    success = group["success"].dropna()
    return {
        "runs": len(group),
        "ok": len(ok),
        "wall_ms_median": _or_none(ok["wall_ms"].median()),
        "wall_ms_p90": _or_none(ok["wall_ms"].quantile(0.9)),
        "tokens_mean": _or_none((ok["input_tokens"] + ok["output_tokens"]).mean()),
        "cost_usd_mean": None if cost.isna().any() else _or_none(cost.mean()),
        "llm_calls_mean": _or_none(ok["llm_calls"].mean()),
        "tool_calls_mean": _or_none(ok["tool_calls"].mean()),
        "distinct_paths": int(group["path"].nunique()),
        "path_entropy_bits": path_entropy(group["path"]),
        "success_rate": float(success.mean()) if len(success) else None,
        "success_n": len(success),
        "retries": int(group["retries"].sum()),
        "failures": failures_text(group),
    }


def _or_none(value: Any) -> float | None:
    """A float, or None where no run gave one (a group whose every run failed)."""
    return None if is_missing(value) else float(value)


def failure_counts(group: pd.DataFrame) -> pd.Series:
    """Failed runs by error class, most frequent first (empty when every run ended ok)."""
    failed = group[group["status"] != "ok"]
    return failed["error_class"].fillna(failed["status"]).value_counts()


def failures_text(group: pd.DataFrame) -> str:
    """'2 max_turns, 1 timeout', or '' when every run ended ok."""
    return count_text(failure_counts(group).to_dict())


def failure_table(runs: pd.DataFrame, by: str = "form") -> pd.DataFrame:
    """Per group: runs, failed runs by error class, and retries."""
    rows = []
    for key, group in in_group_order(runs, [by]):
        counts = failure_counts(group)
        rows.append({by: key, "runs": len(group), "failed": int(counts.sum()),
                     "retries": int(group["retries"].sum()),
                     **{f"class: {c}": int(n) for c, n in counts.items()}})
    return pd.DataFrame(rows).fillna(0)


# -- statistics ------------------------------------------------------------------------------

MIN_RUNS_FOR_CI = 5
"""Below this many runs per group (or pairs) no comparison gives an interval: the smallest
size at which `bench/stats_calibration.py` checks that intervals cover."""


def box_stats(runs: pd.DataFrame, value: str, by: str = "form") -> pd.DataFrame:
    """Tukey box per group (quartiles, 1.5 IQR fences clipped to the data) and its outliers."""
    rows = []
    for key, group in in_group_order(runs, [by]):
        values = group[value].to_numpy(dtype=float)
        q1, median, q3 = np.percentile(values, [25, 50, 75])
        low_fence, high_fence = q1 - 1.5 * (q3 - q1), q3 + 1.5 * (q3 - q1)
        inside = values[(values >= low_fence) & (values <= high_fence)]
        rows.append({by: key, "q1": q1, "median": median, "q3": q3,
                     "lowerfence": inside.min(), "upperfence": inside.max(),
                     "outliers": values[(values < low_fence) | (values > high_fence)].tolist()})
    return pd.DataFrame(rows)






def agent_breakdown(runs: pd.DataFrame, by: str = "form") -> pd.DataFrame:
    """One row per run and agent: LLM calls, tokens and cost, for stacked per-agent charts."""
    rows = [
        {"run_id": run_id, by: group, "agent": agent, "llm_calls": f["llm_calls"],
         "input_tokens": f["input_tokens"], "output_tokens": f["output_tokens"],
         "tokens": f["input_tokens"] + f["output_tokens"], "cost_usd": f.get("cost_usd")}
        for run_id, group, per_agent in zip(runs["run_id"], runs[by], runs["per_agent"],
                                            strict=True)
        for agent, f in (per_agent or {}).items()
    ]
    return pd.DataFrame(rows, columns=["run_id", by, "agent", "llm_calls", "input_tokens",
                                       "output_tokens", "tokens", "cost_usd"])


def agent_means(breakdown: pd.DataFrame, value: str, by: str = "form") -> pd.DataFrame:
    """Per group and agent: `value` summed over runs, divided by the group's run count."""
    runs_per_group = breakdown.groupby(by)["run_id"].nunique()
    sums = breakdown.groupby([by, "agent"], as_index=False)[value].sum()
    sums[value] = sums[value] / sums[by].map(runs_per_group)
    return sums


RATE_COLUMNS = ["outcome", "rate", "hits", "n"]


def outcome_rates(runs: pd.DataFrame, by: str = "form") -> pd.DataFrame:
    """Per group, the share of runs where each boolean outcome field is true, over the runs
    where it applies: `n` counts runs whose field is recorded (True or False), so a field set
    only on probe inputs is a rate over the probe runs. `success` is over runs whose outcome
    says something about the form; `status ok` is over every run."""
    rows: list[dict[str, Any]] = []
    for key, group in in_group_order(runs, [by]):
        ok = group["status"] == "ok"
        rows.append(_rate(key, by, "status ok", int(ok.sum()), len(group)))
        success = group["success"].dropna()
        rows.append(_rate(key, by, "success", int(success.sum()), len(success)))
        outcomes = pd.DataFrame(list(group["outcome"]), index=group.index)
        applies = group["success"].notna()
        for column in outcomes.columns:
            values = outcomes.loc[applies, column].dropna()
            if column == "success" or not len(values):
                continue
            if all(isinstance(v, bool) for v in values):
                rows.append(_rate(key, by, column, int(values.sum()), len(values)))
    return pd.DataFrame(rows, columns=[by, *RATE_COLUMNS])


COUNT_COLUMNS = ["outcome", "mean", "total", "n"]


def outcome_counts(runs: pd.DataFrame, by: str = "form") -> pd.DataFrame:
    """Per group, the mean of each whole-number outcome field (emails sent, guard refusals,
    forecast calls), over the runs where it is recorded and the outcome counts for the form:
    what a guard prevented shows as fewer emails and as refusals."""
    rows: list[dict[str, Any]] = []
    for key, group in in_group_order(runs, [by]):
        applies = group[group["success"].notna()]
        outcomes = pd.DataFrame(list(applies["outcome"]), index=applies.index)
        for column in outcomes.columns:
            values = outcomes[column].dropna()
            if len(values) and all(isinstance(v, int) and not isinstance(v, bool)
                                   for v in values):
                rows.append({by: key, "outcome": column, "mean": float(values.mean()),
                             "total": int(values.sum()), "n": len(values)})
    return pd.DataFrame(rows, columns=[by, *COUNT_COLUMNS])


def _rate(key: Any, by: str, name: str, hits: int, n: int) -> dict[str, Any]:
    return {by: key, "outcome": name, "rate": hits / n if n else None, "hits": hits, "n": n}


def cost_projection(
    runs: pd.DataFrame, runs_per_month: int, by: str = "form"
) -> pd.DataFrame:
    """Monthly cost per group: runs_per_month x mean cost per run (failed runs cost too), with
    a 95% t interval of the mean: a percentile bootstrap of the mean covered 83% at 5 runs
    (lognormal costs, sigma 0.3), the t interval 94% (docs/STATISTICS.md). No range from
    fewer than 2 runs."""
    rows = []
    for key, group in in_group_order(runs, [by]):
        costs = group["cost_usd"]
        row: dict[str, Any] = {by: key, "runs": len(group), "priced": not costs.isna().any()}
        if row["priced"] and len(costs):
            values = costs.to_numpy(dtype=float)
            low, high = mean_interval(values)
            row.update(monthly_low=None if low is None else low * runs_per_month,
                       monthly_mean=float(values.mean()) * runs_per_month,
                       monthly_high=None if high is None else high * runs_per_month)
        rows.append(row)
    return pd.DataFrame(rows, columns=[by, "runs", "priced", "monthly_low", "monthly_mean",
                                       "monthly_high"])


def mean_interval(values: np.ndarray, level: float = 0.95
                  ) -> tuple[float | None, float | None]:
    """Student's t interval of a mean, never below 0 for figures that cannot be; (None,
    None) from fewer than 2 values."""
    if len(values) < 2:
        return None, None
    mean, se = float(values.mean()), float(values.std(ddof=1)) / math.sqrt(len(values))
    half = t_quantile(level, len(values) - 1) * se
    return max(0.0, mean - half), mean + half


GROUP_SEPARATOR = " · "
"""Between form and variant in a `with_group` name ("llm · terse-both")."""
BACKEND_SEPARATOR = " @ "
"""Before the backend's label in a `with_group` name ("llm @ gpt-4.1-mini", "llm · terse @
gpt-4.1-nano")."""
ASSIGNMENT_SEPARATOR = " | "
"""Before the agent assignment's name, last in a `with_group` name ("llm @ gpt-4.1 | writer
on gpt-4.1-nano"), so a group's factors read back unambiguously."""
NO_ASSIGNMENT = "no assignment"
"""The assignment level of runs whose agents all ran on the run's backend."""


class Group(NamedTuple):
    """A group name's factors (`split_group`); None for a factor the name does not split."""

    form: str
    """Form id."""
    variant: str | None
    """Prompt variant (with REPLAY_MARK for a replay beside its recording)."""
    backend: str | None
    """Backend label (`backend_labels`)."""
    assignment: str | None
    """Agent assignment name, or NO_ASSIGNMENT."""


def with_group(runs: pd.DataFrame, by_variant: bool, by_backend: bool = False,
               by_assignment: bool = False) -> pd.DataFrame:
    """Add the `group` column charts and findings split on: form, then · variant when
    `by_variant`, then @ backend label when `by_backend` (`backend_labels`), then | agent
    assignment when `by_assignment`; and the `backend_label` column whenever the runs record
    a backend."""
    grouped = runs.copy()
    names = grouped["form"].astype(str)
    if by_variant:  # a variant's own separators would read as another factor
        names = names + GROUP_SEPARATOR + grouped["variant"].astype(str).map(_clean_label)
    if "backend" in grouped.columns:
        keys = backend_keys(grouped)
        grouped["backend_label"] = keys.map(backend_labels(grouped))
        if by_backend:
            names = names + BACKEND_SEPARATOR + grouped["backend_label"]
    if by_assignment:
        names = names + ASSIGNMENT_SEPARATOR + assignment_labels(grouped)
    grouped["group"] = names
    return grouped


def assignment_labels(runs: pd.DataFrame) -> pd.Series:
    """Each run's agent assignment by name (NO_ASSIGNMENT for none, or a store from before
    assignments)."""
    if "assignment" not in runs.columns:
        return pd.Series(NO_ASSIGNMENT, index=runs.index, dtype=object)
    names = runs["assignment"].astype(object).where(runs["assignment"].notna(), "")
    return names.map(lambda n: _clean_label(str(n)) or NO_ASSIGNMENT)


def backend_keys(runs: pd.DataFrame) -> pd.Series:
    """Each run's backend, as recorded per run (never the experiment's): a replay's runs
    (`replay:<id>`) count as their recording's backend when the recording's runs are here and
    ran on one backend, so a replay beside its recording is a replay, not another model."""
    keys = runs["backend"].astype(object).where(runs["backend"].notna(), "not recorded")
    if "replay_of" not in runs.columns or not runs["replay_of"].notna().any():
        return keys.astype(str)
    sources = {exp: set(keys[runs["experiment_id"] == exp])
               for exp in runs["replay_of"].dropna().unique()}
    mapped = [next(iter(sources[src])) if isinstance(src, str) and len(sources.get(src, ())) == 1
              and str(key).startswith("replay:") else key
              for key, src in zip(keys, runs["replay_of"], strict=True)]
    return pd.Series(mapped, index=runs.index, dtype=object).astype(str)


def backend_labels(runs: pd.DataFrame) -> dict[str, str]:
    """A short readable label per backend (`backend_keys`): the model name its runs recorded
    (the backend id when none), with the backend id added where two backends share a model
    name ("gpt-4.1-mini (scripted:a)")."""
    keys = backend_keys(runs)
    models = runs["model"] if "model" in runs.columns else pd.Series(None, index=runs.index)
    short: dict[str, str] = {}
    for key in sorted(set(keys)):
        named = models[keys == key].dropna().astype(str)
        short[key] = named.mode().iloc[0] if len(named) else key
    shared = {name for name in short.values() if list(short.values()).count(name) > 1}
    labels = {key: f"{name} ({key})" if name in shared and name != key else name
              for key, name in short.items()}
    return {key: _clean_label(name) for key, name in labels.items()}


def _clean_label(name: str) -> str:
    """A label that cannot be read as another factor of a group name."""
    return (name.replace(BACKEND_SEPARATOR, " at ").replace(GROUP_SEPARATOR, " - ")
            .replace(ASSIGNMENT_SEPARATOR, " / ").strip())


REPLAY_MARK = " (replay)"
"""Marks a replay's variant when its runs sit next to live ones, so the two stay apart."""


def mark_replays(runs: pd.DataFrame) -> pd.DataFrame:
    """Runs of a replay next to live runs (its recording) get their variant marked: grouped by
    variant, the replay is its own group, compared with the recording as "replay"."""
    if "replay_of" not in runs.columns:
        return runs
    replayed = runs["replay_of"].notna()
    if not replayed.any() or replayed.all():
        return runs
    marked = runs.copy()
    marked.loc[replayed, "variant"] = marked.loc[replayed, "variant"] + REPLAY_MARK
    return marked


def variants_differ(runs: pd.DataFrame) -> bool:
    """Whether the runs' variants differ once replays are marked: when Compare offers (and the
    report and `summary` default to) a split by variant."""
    return bool(mark_replays(runs)["variant"].nunique() > 1)


def backends_differ(runs: pd.DataFrame) -> bool:
    """Whether the runs ran on more than one backend (per run, a replay as its recording's):
    when Compare offers (and the report and `summary` default to) a split by backend."""
    return "backend" in runs.columns and bool(backend_keys(runs).nunique() > 1)


def assignments_differ(runs: pd.DataFrame) -> bool:
    """Whether the runs ran under more than one agent assignment (none counting as one): when
    Compare offers (and the report and `summary` default to) a split by assignment."""
    return bool(assignment_labels(runs).nunique() > 1)


def grouped(runs: pd.DataFrame, by_variant: bool | None = None,
            by_backend: bool | None = None, by_assignment: bool | None = None
            ) -> pd.DataFrame:
    """The runs with the `group` column Compare, the report and `summary` split on: a replay
    beside its recording marked as one, then form, · variant when `by_variant`, @ backend
    when `by_backend`, | assignment when `by_assignment` (None: whenever the variants, the
    backends, or the assignments differ)."""
    marked = mark_replays(runs)
    split = bool(marked["variant"].nunique() > 1) if by_variant is None else by_variant
    split_backend = backends_differ(marked) if by_backend is None else by_backend
    split_assignment = assignments_differ(marked) if by_assignment is None else by_assignment
    return with_group(marked, split, split_backend, split_assignment)


def split_group(group: str) -> Group:
    """A group name's factors; None for a factor it does not split."""
    rest, sep, assignment = group.rpartition(ASSIGNMENT_SEPARATOR)
    if not sep:
        rest, assignment = group, ""
    head, sep, backend = rest.rpartition(BACKEND_SEPARATOR)
    if not sep:
        head, backend = rest, ""
    form, _, variant = head.partition(GROUP_SEPARATOR)
    return Group(form, variant or None, backend or None, assignment or None)


FACTOR_ORDER = ("form", "prompt variant", "replay", "backend", "agent assignment")
"""The factors a comparison may vary, in the order a page names them."""
FACTOR_SLOT = {"form": 0, "prompt variant": 1, "backend": 2, "agent assignment": 3}
"""Where each factor sits in a `Group` (a replay is a variant's mark)."""


def changed_factors(a: str, b: str) -> list[str]:
    """The factors (FACTOR_ORDER) in which groups `a` and `b` differ."""
    ga, gb = split_group(a), split_group(b)
    prompt_a, prompt_b = (v.removesuffix(REPLAY_MARK) if v else v
                          for v in (ga.variant, gb.variant))
    differs = {"form": ga.form != gb.form, "prompt variant": prompt_a != prompt_b,
               "replay": (ga.variant, prompt_a) != (gb.variant, prompt_b)
               and prompt_a == prompt_b,
               "backend": ga.backend != gb.backend,
               "agent assignment": ga.assignment != gb.assignment}
    return [name for name in FACTOR_ORDER if differs[name]]


def pair_factor(a: str, b: str) -> str:
    """What a comparison of groups `a` and `b` varies: "form", "prompt variant", "backend",
    "agent assignment", several joined by "and", or "nothing", so a page can say what its
    finding is evidence about."""
    return " and ".join(changed_factors(a, b)) or "nothing"


def is_mixed(factor: str) -> bool:
    """Whether a comparison varies more than one factor (its difference is no one's)."""
    return " and " in factor


def group_key(group: str) -> tuple[tuple[int, str], int, str, str, int, str]:
    """The one order of groups on every page: forms in the catalogue's order (code-driven
    first), then the original prompt before variants, by name, then backends by label, then
    no assignment before assignments, by name."""
    g = split_group(group)
    return (forms.order_key(g.form), g.variant not in (None, "original"), g.variant or "",
            g.backend or "", g.assignment not in (None, NO_ASSIGNMENT), g.assignment or "")


def ordered_groups(groups: Iterable[str]) -> list[str]:
    """Distinct groups in `group_key` order."""
    return sorted(set(groups), key=group_key)


def default_baseline(groups: Sequence[str]) -> str:
    """The group every other is compared with first: the most code-driven form on the original
    prompt (`code` when it ran), on the first backend by label."""
    names = ordered_groups(groups)
    return names[0] if names else ""


def comparisons(groups: Sequence[str], baseline: str) -> list[tuple[str, str]]:
    """(group, factor) for every other group against the baseline: those differing in one
    factor first (form, then prompt variant or replay, then backend), those differing in
    several last, each in group order, so the page leads with what a comparison can be put
    down to."""
    others = [g for g in ordered_groups(groups) if g != baseline]

    def rank(pair: tuple[str, str]) -> tuple[int, int]:
        changed = pair[1].split(" and ")
        return len(changed), min(FACTOR_ORDER.index(c) if c in FACTOR_ORDER else
                                 len(FACTOR_ORDER) for c in changed)

    pairs = [(g, pair_factor(g, baseline)) for g in others]
    return sorted(pairs, key=rank)


def held_comparisons(groups: Sequence[str], baseline: str) -> list[tuple[str, str, str]]:
    """(group, against, factor): for each group that differs from the baseline in its backend
    or its agent assignment and something else, the comparisons that vary one factor with the
    others held: e.g. the same form on the baseline's backend (the backend varied, the form
    held) and the baseline's form on the same backend (the form varied, the backend held), for
    each such group that ran."""
    present = set(groups)
    out: list[tuple[str, str, str]] = []
    base = split_group(baseline)
    for group in ordered_groups(groups):
        changed = changed_factors(group, baseline)
        if (len(changed) < 2 or not {"backend", "agent assignment"} & set(changed)
                or "replay" in changed):
            continue
        mine = split_group(group)
        for factor in changed:
            slot = FACTOR_SLOT[factor]
            held = Group(*[base[i] if i == slot else mine[i] for i in range(4)])  # type: ignore[arg-type]
            against = join_group(held)
            if against in present and against != group:
                out.append((group, against, factor))
    return out


def join_group(group: Group) -> str:
    """The group name `split_group` reads back."""
    name = group.form + (GROUP_SEPARATOR + group.variant if group.variant else "")
    name += BACKEND_SEPARATOR + group.backend if group.backend else ""
    return name + (ASSIGNMENT_SEPARATOR + group.assignment if group.assignment else "")


def pooled(runs: pd.DataFrame) -> pd.DataFrame:
    """Several experiments' runs of the same inputs as one sample, each experiment's
    repetitions kept apart: `repetition` becomes the rank of (experiment, repetition) within
    the input. A class's participants each ran the inputs once or more; pairing by input and
    repetition (`estimates.pair_rows`) then pairs two forms' runs of one participant's
    repetition, never one participant's run with another's, and pass^k counts every
    participant's runs of an input as its repetitions."""
    if runs.empty:
        return runs
    keys = ["input_id", "experiment_id", "repetition"]
    blocks = runs[keys].drop_duplicates().sort_values(keys)
    blocks["pooled"] = blocks.groupby("input_id").cumcount()
    ranked = runs[keys].merge(blocks, on=keys, how="left")  # a left merge keeps runs' order
    return runs.assign(repetition=ranked["pooled"].to_numpy())
