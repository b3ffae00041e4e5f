"""SIGKILL in the middle of an experiment loses no finished run; resume runs only the rest."""

from __future__ import annotations

import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from orchlab.cli.main import main
from orchlab.store.store import Store
from orchlab.testing.devserver import FakeOpenAIServer

pytestmark = pytest.mark.slow  # an experiment process started and SIGKILLed per case

ROOT = Path(__file__).parent.parent
REPEAT, INPUTS, FORMS = 8, 3, 2
PLANNED = REPEAT * INPUTS * FORMS


def start_experiment(store_file: str, base_url: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "orchlab", "run", "--scenario", "sales_email", "--repeat",
         str(REPEAT), "--concurrency", "4", "--backend", f"compat:fake-model@{base_url}",
         "--store", str(store_file)],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"})


def kill_after_runs(proc: subprocess.Popen[str], runs: int, jitter_s: float) -> int:
    """SIGKILL once `runs` progress lines were printed (each is printed after its commit)."""
    printed = 0
    assert proc.stderr is not None
    for line in proc.stderr:
        printed += line.startswith("[")
        if printed >= runs:
            time.sleep(jitter_s)  # land anywhere: mid-run, mid-commit, between runs
            os.kill(proc.pid, signal.SIGKILL)
            break
    proc.wait(timeout=30)
    return printed


@pytest.mark.parametrize("attempt", range(5))
def test_sigkill_loses_no_finished_run_and_resume_completes(
    attempt: int, store_location: str, capsys: pytest.CaptureFixture[str]
) -> None:
    rng = random.Random(1000 + attempt)
    store_file = store_location  # a SQLite file, then a PostgreSQL database
    with FakeOpenAIServer(latency_s=0.01) as server:
        proc = start_experiment(store_file, server.base_url)
        printed = kill_after_runs(proc, rng.randint(2, PLANNED - 10), rng.uniform(0, 0.05))
        assert proc.returncode == -signal.SIGKILL

        if "://" not in store_file:
            with sqlite3.connect(store_file) as conn:  # readable, and intact
                assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        store = Store(store_file)
        (exp,) = store.list_experiments()
        assert exp.status == "interrupted"
        kept = store.count_runs(exp.experiment_id)
        lost = max(0, printed - kept)
        with capsys.disabled():
            print(f"\nkill {attempt} ({store.kind}): {printed} runs reported finished, "
                  f"{kept} stored, lost {lost}")
        assert lost == 0

        assert main(["resume", exp.experiment_id, "--store", str(store_file)]) == 0
    capsys.readouterr()
    frame = store.load_runs([exp.experiment_id])
    assert len(frame) == PLANNED
    assert not frame.duplicated(["form", "input_id", "repetition"]).any()
    assert store.get_experiment(exp.experiment_id).status == "completed"
