"""A judge's scores per group, as Compare shows them beside the runs' own figures.

Why here and this small: the quality figure with an interval that carries the judge's own noise
(issue 29 item 4) is still to come; until it lands, Compare shows each judge's plain mean per
group with its n, and this one function is what that figure will replace.

The unit is the run, as in `orchlab.stats.agreement`: a run judged K times counts once, with
the mean of its K usable judgements. One judge is one name on one backend at its latest
prompt version there (an edited prompt's scores are never mixed with the old prompt's).
"""

from __future__ import annotations

import pandas as pd

__all__ = ["JUDGE_MEAN_COLUMNS", "judge_means"]

JUDGE_MEAN_COLUMNS = ["judge", "backend", "prompt_version", "group", "mean_score", "runs",
                      "judgements"]
"""The columns `judge_means` returns."""


def judge_means(judgements: pd.DataFrame, runs: pd.DataFrame, by: str = "group"
                ) -> pd.DataFrame:
    """Per judge (name, backend, latest prompt version) and group of `runs` (its `by`
    column, e.g. Compare's groups): the mean over runs of each run's mean usable score, the
    runs that mean is over (n), and the usable judgements behind it. Judgements of runs not
    in `runs` are left out; a failed judgement (no score) counts in no mean."""
    if judgements.empty or runs.empty:
        return pd.DataFrame(columns=JUDGE_MEAN_COLUMNS)
    latest = (judgements.sort_values("created_at")
              .groupby(["judge", "backend"])["prompt_version"].last().rename("latest"))
    usable = judgements.join(latest, on=["judge", "backend"])
    usable = usable[(usable["prompt_version"] == usable["latest"]) & (usable["status"] == "ok")
                    & usable["score"].notna()]
    usable = usable.merge(runs[["run_id", by]], on="run_id").rename(columns={by: "group"})
    if usable.empty:
        return pd.DataFrame(columns=JUDGE_MEAN_COLUMNS)
    keys = ["judge", "backend", "prompt_version", "group"]
    per_run = usable.groupby([*keys, "run_id"])["score"].agg(["mean", "size"]).reset_index()
    out = per_run.groupby(keys).agg(mean_score=("mean", "mean"), runs=("run_id", "nunique"),
                                    judgements=("size", "sum")).reset_index()
    return out[JUDGE_MEAN_COLUMNS]
