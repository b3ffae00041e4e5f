"""Paths across runs: how varied each group's paths are, and how far runs stray from the flow.

Variance is distinct paths, entropy and the top path's share per group. Deviation compares each
run with one form's usual path per input (by default `code`, the flow as designed) by edit
distance over the structured steps (`path_steps`), never the display string. What a path is and
how two differ is `orchlab.measure.paths`.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Mapping
from typing import Any

import pandas as pd

from orchlab.measure.paths import edit_distance, flat_steps, path_entropy, top_path_share
from orchlab.stats.analysis import group_key, in_group_order
from orchlab.stats.findings import label, title

DEVIATION_COLUMNS = ["runs", "compared", "mean_distance", "deviated", "skipped"]
"""After the group column: runs in the group, runs with a reference path, their mean edit
distance to it, how many differ from it, and step -> runs that lack that reference step."""






def _flat_column(runs: pd.DataFrame) -> list[tuple[str, ...]]:
    return [tuple(flat_steps(steps if isinstance(steps, list) else []))
            for steps in runs["path_steps"]]


def reference_paths(runs: pd.DataFrame, reference_form: str = "code") -> dict[str, list[str]]:
    """Per input_id, the most common flat path of the reference form's runs (a tie goes to
    the first in sorted order). Every run counts, whatever its status: a form whose runs
    mostly fail has that as its usual path. Inputs the reference form did not run are absent."""
    ref = runs[runs["form"] == reference_form]
    counts: dict[str, Counter[tuple[str, ...]]] = {}
    for input_id, flat in zip(ref["input_id"], _flat_column(ref), strict=True):
        counts.setdefault(str(input_id), Counter())[flat] += 1
    return {input_id: list(_most_common(c)) for input_id, c in sorted(counts.items())}


def _most_common(counts: Counter[tuple[str, ...]]) -> tuple[str, ...]:
    """The most common path; of those tied, the first in sorted order."""
    return min(counts, key=lambda path: (-counts[path], path))


def path_deviation(runs: pd.DataFrame, reference_form: str = "code",
                   by: str = "group") -> pd.DataFrame:
    """Per group (in `analysis.in_group_order`), how far its runs stray from the reference path
    of their input: DEVIATION_COLUMNS after the `by` column. Only runs whose input has a
    reference path are compared; `mean_distance` is NaN for a group with none. `skipped`
    counts, per reference step, the runs that have fewer of it than the reference (multiset
    count: a run with two writers where the reference has three lacks one), most skipped first.
    Without a `group` column, `by="group"` groups by form."""
    columns = [by, *DEVIATION_COLUMNS]
    if runs.empty:
        return pd.DataFrame(columns=columns)
    frame = runs if by in runs.columns or by != "group" else runs.assign(group=runs["form"])
    references = reference_paths(frame, reference_form)
    rows: list[dict[str, Any]] = []
    for key, group in in_group_order(frame, [by]):
        distances: list[int] = []
        skipped: Counter[str] = Counter()
        for input_id, flat in zip(group["input_id"], _flat_column(group), strict=True):
            reference = references.get(str(input_id))
            if reference is None:
                continue
            distances.append(edit_distance(reference, flat))
            skipped.update(set(Counter(reference) - Counter(flat)))
        rows.append({
            by: key, "runs": len(group), "compared": len(distances),
            "mean_distance": sum(distances) / len(distances) if distances else math.nan,
            "deviated": sum(1 for d in distances if d > 0),
            "skipped": dict(sorted(skipped.items(), key=lambda kv: (-kv[1], kv[0]))),
        })
    return pd.DataFrame(rows, columns=columns)


MAX_SKIPPED_NAMED = 2
"""A deviation sentence names at most this many skipped steps (the most skipped)."""


def deviation_sentence(row: Mapping[str, Any] | pd.Series, label: str,
                       reference_label: str) -> str:
    """One `path_deviation` row in words, e.g. "LLM-orchestrated runs deviated from the
    code-orchestrated path by 2.3 steps on average (4 of 12 runs); 4 of 12 skipped
    concise_writer." `label` names the group's runs, `reference_label` the reference form."""
    compared = int(row["compared"])
    if compared == 0:
        return (f"{label} runs: no reference path to compare with ({reference_label} did not "
                "run their inputs).")
    deviated = int(row["deviated"])
    if deviated == 0:
        every = "the one run" if compared == 1 else f"all {compared} runs"
        return f"{label} runs followed the {reference_label} path in {every}."
    mean = float(row["mean_distance"])
    unit = "step" if f"{mean:.1f}" == "1.0" else "steps"
    text = (f"{label} runs deviated from the {reference_label} path by {mean:.1f} {unit} on "
            f"average ({deviated} of {compared} {'run' if compared == 1 else 'runs'})")
    skipped = dict(row["skipped"] or {})
    named = sorted(skipped.items(), key=lambda kv: (-kv[1], kv[0]))[:MAX_SKIPPED_NAMED]
    if named:
        text += "; " + " and ".join(f"{n} of {compared} skipped {step}" for step, n in named)
    return text + "."


def path_variance(runs: pd.DataFrame, by: str = "form") -> pd.DataFrame:
    """Per group: distinct paths, entropy in bits, share of the most common path."""
    rows = [{by: key, "runs": len(g), "distinct_paths": g["path"].nunique(),
             "entropy_bits": path_entropy(g["path"]), "top_path_share": top_path_share(g["path"])}
            for key, g in in_group_order(runs, [by])]
    return pd.DataFrame(rows, columns=[by, "runs", "distinct_paths", "entropy_bits",
                                       "top_path_share"])


def path_frequencies(runs: pd.DataFrame, by: str = "form") -> pd.DataFrame:
    """Count and share of each path within each group, most common first."""
    counts = runs.groupby([by, "path"]).size().rename("count").reset_index()
    counts["share"] = counts["count"] / counts.groupby(by)["count"].transform("sum")
    counts["order"] = [group_key(str(g)) for g in counts[by]]
    counts = counts.sort_values(["order", "count"], ascending=[True, False], ignore_index=True)
    return counts.drop(columns="order")


def paths_sentence(ga: pd.DataFrame, gb: pd.DataFrame, a: str, b: str) -> str:
    """Distinct paths and their entropy in both groups."""
    def part(g: pd.DataFrame, name: str, first: bool) -> str:
        k = g["path"].nunique()
        return (f"{title(name) if first else label(name)} used {k} distinct "
                f"path{'s' if k != 1 else ''} ({path_entropy(g['path']):.2f} bits over "
                f"{len(g)} runs)")

    return f"{part(ga, a, True)}; {part(gb, b, False)}."
