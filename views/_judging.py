"""Compare's "Judge these runs" work, off the page's script thread: the scenario's rubric
judges on runs (`ajudge_runs`), or one pairwise judge on two forms' runs (`ajudge_pairs`); one
`JudgeJob` either way, so a pass's progress, result and refusals are read in one place.

Why the process's job loop (`running.jobs.job_loop`) rather than a thread with its own
`asyncio.run`: a backend cached for the dashboard process (`_shared.get_backend`) may only be
used on the loop it first ran on, and experiments started from the Run page use that loop too.
A page holds the `JudgeJob` in its session and reads its progress on each rerun; nothing here
draws a widget.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any

from orchlab.backends import Backend
from orchlab.core.errors import user_sentence
from orchlab.core.records import Judgement, PairwiseJudgement
from orchlab.judging import ajudge_pairs, ajudge_runs
from orchlab.running.jobs import job_loop
from orchlab.store.store import Store


@dataclass
class JudgeJob:
    """One judging pass: each (experiment, judge) of it judged on the job loop, in order."""

    experiment_ids: list[str]
    """The experiments whose finished runs are judged."""
    judges: list[str]
    """The judges' names (the scenario's rubric judges asked for, or with `forms` its
    pairwise judges)."""
    backend: Backend
    """The backend the judges run on."""
    repeat: int = 1
    """Judgements per run (or pair of runs) and judge: the judge's own noise shows across
    them."""
    forms: tuple[str, str] | None = None
    """With two forms (A, B): `judges` are pairwise judges comparing form A's runs with form
    B's of each input and repetition; None: rubric judges, each run on its own."""
    futures: list[Future[Sequence[Judgement | PairwiseJudgement]]] = field(
        default_factory=list)
    """One per (experiment, judge), started by `start`."""
    stored_before: int = 0
    """Judgements the experiments held when the job started (`stored` counts from it)."""

    def start(self, store: Store) -> JudgeJob:
        """Send every (experiment, judge) to the job loop and return at once."""
        self.stored_before = self.held(store)
        self.futures = [asyncio.run_coroutine_threadsafe(self._pass(store, experiment_id, judge),
                                                         job_loop())
                        for experiment_id in self.experiment_ids for judge in self.judges]
        return self

    def _pass(self, store: Store, experiment_id: str, judge: str
              ) -> Coroutine[Any, Any, Sequence[Judgement | PairwiseJudgement]]:
        """One (experiment, judge): the core's pass of the job's kind."""
        if self.forms is None:
            return ajudge_runs(store, experiment_id, judge, self.backend, self.repeat)
        return ajudge_pairs(store, experiment_id, judge, self.forms, self.backend, self.repeat)

    @property
    def what(self) -> str:
        """What the job stores, in words: "judgements" or "pairwise judgements"."""
        return "judgements" if self.forms is None else "pairwise judgements"

    def held(self, store: Store) -> int:
        """Judgements of the job's kind of its experiments in the store, of any judge or
        backend."""
        if self.forms is None:
            return sum(len(store.judged_keys(e)) for e in self.experiment_ids)
        return sum(len(store.pairwise_keys(e)) for e in self.experiment_ids)

    def stored(self, store: Store) -> int:
        """Judgements stored since the job started: progress within a pass, since each
        judgement is committed as it finishes."""
        return self.held(store) - self.stored_before

    @property
    def total(self) -> int:
        """(experiment, judge) passes in the job."""
        return len(self.futures)

    @property
    def finished(self) -> int:
        """Passes that ended, judged or refused."""
        return sum(f.done() for f in self.futures)

    @property
    def done(self) -> bool:
        """Whether every pass ended."""
        return self.finished == self.total

    def wait(self, timeout: float | None = None) -> None:
        """Block until every pass ends (tests; a page never waits)."""
        for future in self.futures:
            future.exception(timeout)

    def judged(self) -> int:
        """New judgements stored by the passes that ended well."""
        return sum(len(f.result()) for f in self.futures
                   if f.done() and f.exception() is None)

    def problems(self) -> list[str]:
        """Each failed pass's one sentence (a refusal such as a replay backend or a missing
        judge file), once per distinct sentence."""
        said = [user_sentence(exc) for f in self.futures
                if f.done() and (exc := f.exception()) is not None]
        return list(dict.fromkeys(said))
