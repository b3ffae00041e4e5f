"""Experiments in a background thread, for UIs that must stay responsive (and cancellable).

Streamlit reruns its script on every click, so a long experiment cannot run in the script
thread: the job runs in its own thread with its own event loop, and the page polls `snapshot()`.
"""

from __future__ import annotations

import threading
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from orchlab.backends import Backend
from orchlab.records import RunRecord
from orchlab.runner import (
    CancelToken,
    ExperimentResult,
    ExperimentSpec,
    Progress,
    resume_experiment,
    run_experiment,
)


@dataclass
class JobSnapshot:
    """A consistent view of a job for one page render."""

    total: int
    """Runs planned."""
    done_by_form: dict[str, int]
    """Finished runs per form."""
    planned_by_form: dict[str, int]
    """Planned runs per form."""
    records: list[RunRecord]
    """Finished runs so far, in finishing order."""
    finished: bool
    """Whether the job has stopped (completed, cancelled or failed)."""
    result: ExperimentResult | None
    """The result once finished normally."""
    error: str | None
    """Why the job could not run at all (e.g. a backend that cannot start)."""


@dataclass
class ExperimentJob:
    """One experiment running in a daemon thread."""

    spec: ExperimentSpec
    """What runs."""
    store: Any
    """Where runs are committed."""
    backend: Backend | None = None
    """A pre-resolved backend (else the spec's id is resolved in the job)."""
    resume_id: str | None = None
    """Resume this experiment (only its missing runs) instead of starting a new one."""
    cancel_token: CancelToken = field(default_factory=CancelToken)
    """Set by cancel()."""
    _records: list[RunRecord] = field(default_factory=list)
    _total: int = 0
    _planned_by_form: dict[str, int] = field(default_factory=dict)
    _result: ExperimentResult | None = None
    _error: str | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _thread: threading.Thread | None = None

    def start(self) -> ExperimentJob:
        """Start the thread; returns self."""
        from orchlab.runner import prepare

        planned = prepare(self.spec).plan
        if self.resume_id:
            done = self.store.run_keys(self.resume_id)
            planned = [p for p in planned if (p.form, p.input_id, p.repetition) not in done]
        self._total = len(planned)
        self._planned_by_form = dict(Counter(p.form for p in planned))
        self._thread = threading.Thread(target=self._work, name="orchlab-job", daemon=True)
        self._thread.start()
        return self

    def cancel(self) -> None:
        """Stop starting runs and interrupt those in flight; finished runs stay stored."""
        self.cancel_token.cancel()

    def join(self, timeout: float | None = None) -> None:
        """Wait for the thread (tests and the CLI)."""
        if self._thread is not None:
            self._thread.join(timeout)

    def snapshot(self) -> JobSnapshot:
        """Progress so far."""
        with self._lock:
            records = list(self._records)
            finished = self._thread is not None and not self._thread.is_alive()
            result, error = self._result, self._error
        return JobSnapshot(
            total=self._total, done_by_form=dict(Counter(r.form for r in records)),
            planned_by_form=self._planned_by_form, records=records,
            finished=finished, result=result, error=error,
        )

    def _on_progress(self, progress: Progress) -> None:
        with self._lock:
            self._records.append(progress.record)

    def _work(self) -> None:
        try:
            kwargs = {"backend": self.backend, "on_progress": self._on_progress,
                      "cancel": self.cancel_token}
            result = (resume_experiment(self.resume_id, self.store, **kwargs) if self.resume_id
                      else run_experiment(self.spec, self.store, **kwargs))
        except Exception as exc:  # noqa: BLE001 - shown to the user, one sentence
            with self._lock:
                self._error = f"{type(exc).__name__}: {exc}"
            return
        with self._lock:
            self._result = result
