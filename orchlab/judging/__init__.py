"""Judges of stored runs: a scenario's rubric judges (`orchlab.scenario.judges`) asked of a
model about runs already in the store, each verdict stored as a `Judgement` of its own; its
pairwise judges asked which of two forms' runs is better (`pairwise`, each verdict a
`PairwiseJudgement`); and people's labels of the same runs (`labels`), which the rubric judges
are measured against.

A layer above backends (a judge runs on a backend's model) and below running (judging never
starts a run, and a run never waits for a judge). `orchlab judge` and `orchlab label` are its
commands; `run --judge` judges each run as it finishes (`live.RunJudging`, fed from the
experiment's progress callback, never from inside a run).
"""

from orchlab.judging.labels import label_run
from orchlab.judging.live import RunJudging
from orchlab.judging.pairwise import ajudge_pairs, judge_pairs, pairwise_version
from orchlab.judging.rubric import (
    JUDGE_TIMEOUT_S,
    ReadJudge,
    ajudge_runs,
    check_judges,
    judge_definition,
    judge_prompt,
    judge_runs,
    prompt_version,
    read_judge,
    reply_type,
)

__all__ = ["JUDGE_TIMEOUT_S", "ReadJudge", "RunJudging", "ajudge_pairs", "ajudge_runs",
           "check_judges", "judge_definition", "judge_pairs", "judge_prompt", "judge_runs",
           "label_run", "pairwise_version", "prompt_version", "read_judge", "reply_type"]
