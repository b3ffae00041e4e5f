"""A replay's judgements: the verdicts its source's judges gave, carried to each replayed run
that shows a judge exactly what the source run showed it.

Why carry rather than judge again: a replay serves recorded calls and asks no model, and a
judge's verdict is a call like any other. Judging the replayed run again would spend what the
replay exists not to spend, and on a sampled judge would give another draw, so the replay's
quality figure would differ from its source's for no reason in the runs. Why only where the
judge saw the same: a verdict is about what the judge was shown (`rubric.run_part` of each part
it `sees`); a replayed run that diverged, or whose output differs in any part a judge reads, is
not the run that judge scored, so its verdict is not carried (as a replay invents no call it
does not hold). A carried judgement keeps its judge, backend, model, prompt version,
repetition, verdict, cost and spans, and gets an id of its own derived from the source's and
the replayed run's, so carrying twice (a resumed replay) stores nothing twice.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

import pandas as pd

from orchlab.core.errors import ScenarioError
from orchlab.core.records import ExperimentRecord
from orchlab.judging.rubric import RunToJudge, run_part, runs_to_judge
from orchlab.scenario import PairwiseJudge, RubricJudge, Scenario, get_scenario
from orchlab.store.store import Store

__all__ = ["Carried", "carry_judgements"]

RunKey = tuple[str, str, str, int, str]
"""(form, variant, input_id, repetition, the source backend): one run of a plan."""


@dataclass(frozen=True)
class Carried:
    """What a replay took over from its source's judges."""

    judgements: int
    """Rubric judgements stored for the replay's runs."""
    pairwise: int
    """Pairwise judgements stored for pairs of the replay's runs."""
    not_carried: int
    """Source verdicts left behind: the replayed run is missing, did not end ok, or shows the
    judge something other than the source run did."""


def carry_judgements(store: Store, experiment_id: str) -> Carried:
    """Carry the source's judgements to the replay `experiment_id` (see the module
    docstring); nothing for an experiment that is no replay or whose source is gone."""
    exp = store.get_experiment(experiment_id)
    source = None if exp is None or exp.replay_of is None else store.get_experiment(
        exp.replay_of)
    if exp is None or source is None:
        return Carried(0, 0, 0)
    rubric = store.judgements_of(source.experiment_id)
    pairwise = store.pairwise_of(source.experiment_id)
    if not rubric and not pairwise:
        return Carried(0, 0, 0)
    scenario = get_scenario(exp.scenario)
    to_replay = _run_map(store.load_runs([source.experiment_id]),
                         store.load_runs([experiment_id]))
    seen = _Seen(store, scenario, source, exp)
    carried = [0, 0]
    left = 0
    for j in rubric:
        run_id = to_replay.get(j.run_id)
        if run_id is None or not seen.same(j.judge, j.run_id, run_id):
            left += 1
            continue
        carried[0] += store.save_judgement(replace(
            j, judgement_id=_derived_id(j.judgement_id, run_id), run_id=run_id,
            experiment_id=experiment_id))
    for p in pairwise:
        run_a, run_b = to_replay.get(p.run_a), to_replay.get(p.run_b)
        if (run_a is None or run_b is None or not seen.same(p.judge, p.run_a, run_a)
                or not seen.same(p.judge, p.run_b, run_b)):
            left += 1
            continue
        carried[1] += store.save_pairwise(replace(
            p, pairwise_id=_derived_id(p.pairwise_id, f"{run_a}:{run_b}"), run_a=run_a,
            run_b=run_b, experiment_id=experiment_id))
    return Carried(carried[0], carried[1], left)


def _derived_id(source_id: str, replayed: str) -> str:
    """An id in the source's form (`trace_<32 hex>`), the same for the same carry."""
    digest = hashlib.sha256(f"{source_id}:{replayed}".encode()).hexdigest()[:32]
    return f"trace_{digest}"


def _run_map(source: pd.DataFrame, replay: pd.DataFrame) -> dict[str, str]:
    """Source run id -> the replayed run of the same plan entry that ended ok. A replay's
    backend is `replay:<source>` (one backend) or `replay:<source>:<backend>` (a matrix)."""
    def key(row: Any, backend: str) -> RunKey:
        return (str(row.form), str(row.variant or ""), str(row.input_id), int(row.repetition),
                backend)

    backends = set(source["backend"]) if not source.empty else set()
    only = next(iter(backends)) if len(backends) == 1 else ""
    replayed: dict[RunKey, str] = {}
    for row in replay[replay["status"] == "ok"].itertuples(index=False) if not replay.empty \
            else ():
        parts = str(row.backend).split(":", 2)
        replayed[key(row, parts[2] if len(parts) == 3 else only)] = str(row.run_id)
    return {str(row.run_id): replayed[k] for row in source.itertuples(index=False)
            if (k := key(row, str(row.backend))) in replayed}


class _Seen:
    """What each judge was shown of a run, read once per judge and experiment."""

    def __init__(self, store: Store, scenario: Scenario, source: ExperimentRecord,
                 replay: ExperimentRecord) -> None:
        self.store, self.scenario = store, scenario
        self.experiments = (source, replay)
        self.shown: dict[tuple[str, str], Mapping[str, RunToJudge]] = {}

    def same(self, judge_name: str, source_run: str, replay_run: str) -> bool:
        """Whether the judge sees the same of both runs (False for a judge the scenario no
        longer declares: what it saw cannot be rebuilt)."""
        judge = next((j for j in self.scenario.judges if j.name == judge_name), None)
        if judge is None:
            return False
        a = self._runs(judge, 0).get(source_run)
        b = self._runs(judge, 1).get(replay_run)
        return a is not None and b is not None and all(
            run_part(part, a) == run_part(part, b) for part in judge.sees)

    def _runs(self, judge: RubricJudge | PairwiseJudge, which: int) -> Mapping[str, RunToJudge]:
        exp = self.experiments[which]
        key = (judge.name, exp.experiment_id)
        if key not in self.shown:
            try:
                runs = runs_to_judge(self.store, self.scenario, judge, exp.experiment_id,
                                     exp.spec)
            except ScenarioError:  # ground truth gone from an input: nothing to compare
                runs = []
            self.shown[key] = {r.run_id: r for r in runs}
        return self.shown[key]

