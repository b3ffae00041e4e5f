"""A replay carries its source's judgements (issue 29, item 2: scores are "replayed"): each
verdict goes to the replayed run of the same form, input and repetition when that run shows the
judge exactly what the source run showed it, so the replay's quality figure is its source's
without asking any judge; a run that shows the judge something else is left unjudged."""

from __future__ import annotations

import contextlib
import json
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest
from agents.testing import assistant_message
from cli_calls import run_cli
from sales_scripts import sales_backend, step

from orchlab import backends
from orchlab.backends import Backend
from orchlab.judging import judge_pairs, judge_runs
from orchlab.store.store import Store
from orchlab.testing.scripted import scripted_backend

JUDGE_ID = "scripted:judge"
VERDICT = {"explanation": "Short and to the point.", "score": 4}
PAIR = {"explanation": "The first is shorter.", "winner": "1"}
KEEP = ["judge", "backend", "model", "prompt_version", "repetition", "score", "label",
        "explanation", "status", "input_tokens", "output_tokens", "cost_usd", "form",
        "input_id", "run_repetition"]
"""What a carried judgement must keep of its source's, beside the run it now judges."""


def judges() -> Backend:
    """Both sales judges, scripted, each the same verdict every time."""
    return scripted_backend({
        "judge_email_quality": lambda: [step([assistant_message(json.dumps(VERDICT))],
                                              (230, 25))],
        "judge_email_preference": lambda: [step([assistant_message(json.dumps(PAIR))],
                                                 (410, 30))]},
        backend_id=JUDGE_ID)


@pytest.fixture(autouse=True)
def scripted_prefix() -> Iterator[None]:
    backends.register("scripted", lambda rest: judges() if rest == "judge"
                      else sales_backend(), "test backend")
    yield
    backends.unregister("scripted")


def judged_experiment(store_path: Path, capsys: pytest.CaptureFixture[str]) -> str:
    """sales_email, code against llm, 3 repetitions, each run judged twice and each pair of
    runs compared once."""
    code, out, err = run_cli(capsys, "run", "--scenario", "sales_email", "--forms", "code,llm",
                             "--input", "dana-acme", "--repeat", "3", "--backend",
                             "scripted:sales", "--store", str(store_path))
    assert code == 0, err
    exp_id = out.strip().splitlines()[-1].split()[1]
    with contextlib.closing(Store(store_path)) as store:
        assert len(judge_runs(store, exp_id, "email_quality", judges(), repeat=2)) == 12
        assert len(judge_pairs(store, exp_id, "email_preference", ["code", "llm"], judges(),
                               seed=3)) == 3
    return exp_id


def replay(store_path: Path, exp_id: str, capsys: pytest.CaptureFixture[str]
           ) -> tuple[str, str]:
    """`orchlab replay EXP --speed 0`: the replay's id and what it told stderr."""
    code, out, err = run_cli(capsys, "replay", exp_id, "--speed", "0", "--store",
                             str(store_path))
    assert code == 0, err
    return out.strip().splitlines()[-1].split()[1], err


def test_a_replay_carries_every_verdict_and_shows_its_sources_quality(
        store_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    exp_id = judged_experiment(store_path, capsys)
    replay_id, err = replay(store_path, exp_id, capsys)
    assert "judgements: 12 rubric and 3 pairwise verdicts carried from the recording" in err
    with contextlib.closing(Store(store_path)) as store:
        source = store.load_judgements([exp_id])
        carried = store.load_judgements([replay_id])
        replay_runs = set(store.load_runs([replay_id])["run_id"])
        pairs = store.load_pairwise([replay_id])
        source_pairs = store.load_pairwise([exp_id])
    assert set(carried["run_id"]) == replay_runs  # each on a run of the replay
    order = ["form", "run_repetition", "repetition"]
    assert carried.sort_values(order)[KEEP].reset_index(drop=True).equals(
        source.sort_values(order)[KEEP].reset_index(drop=True))
    assert not set(carried["judgement_id"]) & set(source["judgement_id"])
    assert len(pairs) == 3 and set(pairs["run_a"]) | set(pairs["run_b"]) <= replay_runs
    recorded = ["input_id", "repetition", "k", "order_seed", "shown_first", "winner",
                "explanation", "prompt_version", "backend"]
    assert pairs.sort_values("repetition")[recorded].reset_index(drop=True).equals(
        source_pairs.sort_values("repetition")[recorded].reset_index(drop=True))
    # the replay's quality figure is its source's: read the same way
    figures = []
    for experiment in (exp_id, replay_id):
        code, out, _ = run_cli(capsys, "summary", experiment, "--format", "json", "--store",
                               str(store_path))
        assert code == 0
        summary = json.loads(out)
        figures.append(([{g: (q["mean"], q["runs"], q["judgements"])
                          for g, q in item["groups"].items()} for item in summary["quality"]],
                        [(p["win_rate"]["value"], p["judgements"]) for p in summary["pairwise"]]))
    assert figures[0] == figures[1] and figures[0][0]
    # a second carry (a resumed replay) stores nothing twice
    from orchlab.judging.replayed import carry_judgements

    with contextlib.closing(Store(store_path)) as store:
        again = carry_judgements(store, replay_id)
        assert (again.judgements, again.pairwise) == (0, 0)
        assert len(store.load_judgements([replay_id])) == 12


def test_a_run_that_shows_the_judge_something_else_keeps_no_verdict(
        store_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The source's judge read an email the replayed run does not send (here the source's
    stored email is changed after judging): that run's two verdicts, and the pair it is in,
    are not carried; every other run's are."""
    exp_id = judged_experiment(store_path, capsys)
    with contextlib.closing(Store(store_path)) as store:
        runs = store.load_runs([exp_id]).sort_values(["form", "repetition"])
    changed = str(runs["run_id"].iloc[0])
    with contextlib.closing(sqlite3.connect(store_path)) as db, db:
        assert db.execute("UPDATE outbox SET body = body || ' P.S.' WHERE run_id = ?",
                          (changed,)).rowcount == 1
    replay_id, err = replay(store_path, exp_id, capsys)
    assert ("judgements: 10 rubric and 2 pairwise verdicts carried from the recording; 3 not "
            "(the replayed run showed the judge something else, or did not end ok)") in err
    with contextlib.closing(Store(store_path)) as store:
        carried = store.load_judgements([replay_id])
    assert len(carried) == 10
    assert carried.groupby(["form", "run_repetition"]).size().to_dict() == {
        ("code", 1): 2, ("code", 2): 2, ("llm", 0): 2, ("llm", 1): 2, ("llm", 2): 2}


def test_a_live_experiment_carries_nothing(store_path: Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run_cli(capsys, "run", "--scenario", "sales_email", "--forms", "code",
                           "--input", "dana-acme", "--backend", "scripted:sales", "--store",
                           str(store_path))
    assert code == 0 and "judgements:" not in err
