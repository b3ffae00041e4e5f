"""Judges of stored runs: a scenario's rubric judges (`orchlab.scenario.judges`) asked of a
model about runs already in the store, each verdict stored as a `Judgement` of its own; and
people's labels of the same runs (`labels`), which the judges are measured against.

A layer above backends (a judge runs on a backend's model) and below running (judging never
starts a run, and a run never waits for a judge). `orchlab judge` and `orchlab label` are its
commands; `run --judge` judges each run as it finishes (`live.RunJudging`, fed from the
experiment's progress callback, never from inside a run).
"""

from orchlab.judging.labels import label_run
from orchlab.judging.live import RunJudging
from orchlab.judging.rubric import (
    JUDGE_TIMEOUT_S,
    ajudge_runs,
    check_judges,
    judge_definition,
    judge_prompt,
    judge_runs,
    prompt_version,
    reply_type,
)

__all__ = ["JUDGE_TIMEOUT_S", "RunJudging", "ajudge_runs", "check_judges", "judge_definition",
           "judge_prompt", "judge_runs", "label_run", "prompt_version", "reply_type"]
