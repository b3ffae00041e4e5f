"""Judging runs as they finish (`orchlab run --judge`): each run handed over once it is
committed is judged on a task of its own, and the experiment never waits for it.

Why here and fed from the progress callback, not inside the runner: `running` sits above
`judging` in the layers, and a run must never wait for its judge. The callback is told of a run
only after the run's commit, so the run's wall time, tokens and cost are fixed before any judge
sees it; the judging task starts then and holds neither the run's slot nor one of the
experiment's concurrency slots (the run's slot frees as soon as its commit returns). What a
judgement does hold is given by the caller (`hold`): the CLI passes the slots runs on the
judge's backend take, so a judge on the embedded model queues for that model as a run does,
instead of generating inside a run's timing.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from concurrent.futures import Executor

from orchlab.backends import Backend
from orchlab.core.records import Judgement, RunRecord
from orchlab.judging.rubric import JUDGE_TIMEOUT_S, Hold, ReadJudge, Stored, ajudge_runs
from orchlab.store.store import Store

__all__ = ["RunJudging"]


class RunJudging:
    """Judges each run `add`ed (status ok only) with every named judge, `repeat` times, on
    tasks of their own; `finish` waits for them and returns the judgements stored. A judge's
    failure is a judgement with status error; an exception (a store that failed) is kept and
    raised by `finish`, after every other judgement has been stored."""

    def __init__(self, store: Store, backend: Backend, judges: Sequence[ReadJudge], repeat: int = 1,
                 *, hold: Hold | None = None, offload: Executor | None = None,
                 timeout_s: float = JUDGE_TIMEOUT_S, on_stored: Stored | None = None) -> None:
        self.store = store
        """Where the runs are read and the judgements written."""
        self.backend = backend
        """The judge's backend."""
        self.judges = list(judges)
        """The judges asked of each run, each read once (`check_judges`): one prompt version
        for the whole experiment."""
        self.repeat = repeat
        """Judgements per run and judge."""
        self.hold = hold
        """The bounds each judgement holds while it asks its model (`ajudge_runs`)."""
        self.offload = offload
        """The thread the store is read and written on (None: the event loop's)."""
        self.timeout_s = timeout_s
        """Longest one judgement may take."""
        self.on_stored = on_stored
        """Told of each judgement once it is stored (`run --judge` with an OTLP endpoint:
        the export's `add_judgement`, so each verdict reaches its run's trace as it is made)."""
        self.tasks: list[asyncio.Task[list[Judgement]]] = []
        """One task per run and judge, in the order runs were added."""

    def add(self, record: RunRecord) -> None:
        """Start judging a committed run; returns at once. Called on the experiment's event
        loop (from its progress callback); a run that did not end ok is not judged, as
        `orchlab judge` judges none."""
        if record.status != "ok":
            return
        loop = asyncio.get_running_loop()
        for judge in self.judges:
            self.tasks.append(loop.create_task(ajudge_runs(
                self.store, record.experiment_id, judge.judge.name, self.backend, self.repeat,
                timeout_s=self.timeout_s, run_ids={record.run_id}, hold=self.hold,
                offload=self.offload, read=judge, on_stored=self.on_stored)))

    async def finish(self) -> list[Judgement]:
        """Every judgement started so far, stored; the first exception any task raised is
        raised after the others finish."""
        done = await asyncio.gather(*self.tasks, return_exceptions=True)
        errors = [d for d in done if isinstance(d, BaseException)]
        if errors:
            raise errors[0]
        return [j for made in done if not isinstance(made, BaseException) for j in made]

    def cancel(self) -> None:
        """Stop judging (a cancelled experiment): judgements already stored are kept."""
        for task in self.tasks:
            task.cancel()
