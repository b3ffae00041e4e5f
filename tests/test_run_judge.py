"""`orchlab run --judge` (issue 29, item 2): each run is judged after it is committed, on a task
of its own: the run's wall time, tokens and cost are the same as without judging, a slow judge
holds neither the run's slot nor the experiment's concurrency, and every refusal is one
sentence before anything is stored."""

from __future__ import annotations

import contextlib
import dataclasses
import itertools
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from agents.testing import ScriptedModel, assistant_message
from cli_calls import run_cli
from sales_scripts import sales_backend, step

from orchlab import backends
from orchlab.backends import Backend
from orchlab.backends.traced import TracedModel
from orchlab.judging import rubric
from orchlab.running.runner import CancelToken, ExperimentSpec, Progress, run_experiment
from orchlab.scenario.agentdefs import AgentDef
from orchlab.store.store import Store
from orchlab.testing.scripted import DelayedModel

JUDGE_ID = "scripted:slowjudge"
JUDGE_DELAY_S = 0.4
"""Each judgement waits this long for its model: far longer than a scripted run takes."""


def slow_judge() -> Backend:
    """A judge scoring every run 4 after JUDGE_DELAY_S, one judgement at a time."""
    reply = json.dumps({"explanation": "Clear and short.", "score": 4})

    def make(agent: str) -> Any:
        script = [step([assistant_message(reply)], (200, 20))]
        return TracedModel(DelayedModel(ScriptedModel(script), JUDGE_DELAY_S), "gpt-4.1-mini")

    return Backend(id=JUDGE_ID, model_name="gpt-4.1-mini", make_model=make, max_concurrency=1)


def one_at_a_time() -> Backend:
    """The sales models and a slow judge on one backend that runs one thing at a time, as the
    embedded model does."""
    reply = json.dumps({"explanation": "Clear and short.", "score": 4})
    sales = sales_backend(backend_id="scripted:bounded")

    def make(agent: str) -> Any:
        if agent != "judge_email_quality":
            return sales.make_model(agent)
        script = [step([assistant_message(reply)], (200, 20))]
        return TracedModel(DelayedModel(ScriptedModel(script), JUDGE_DELAY_S), "gpt-4.1-mini")

    return Backend(id="scripted:bounded", model_name="gpt-4.1-mini", make_model=make,
                   max_concurrency=1)


@pytest.fixture(autouse=True)
def scripted_prefix() -> Iterator[None]:
    backends.register("scripted", lambda rest: slow_judge() if rest == "slowjudge"
                      else one_at_a_time() if rest == "bounded" else sales_backend(),
                      "test backend")
    yield
    backends.unregister("scripted")


RUN = ["run", "--scenario", "sales_email", "--forms", "code,llm", "--input", "dana-acme",
       "--repeat", "2", "--concurrency", "1", "--backend", "scripted:sales"]
FIGURES = ["input_tokens", "output_tokens", "cost_usd", "llm_calls", "tool_calls", "status",
           "success", "path"]


def test_judging_as_runs_finish_leaves_every_run_figure_as_it_was(
        store_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run_cli(capsys, *RUN, "--store", str(store_path))
    assert code == 0, err
    code, out, err = run_cli(capsys, *RUN, "--judge", JUDGE_ID, "--judge-repeat", "2",
                         "--store", str(store_path))
    assert code == 0, err
    assert "judged: 8 judgements stored" in err
    assert "email_quality (1-5) on scripted:slowjudge" in out
    assert "  code       mean 4.00  (n=4, 2 runs)" in out
    store = Store(store_path)
    try:
        [plain, judged] = sorted(store.list_experiments(), key=lambda e: e.created_at)
        frames = [store.load_runs([e.experiment_id]).sort_values(["form", "repetition"])
                  .reset_index(drop=True) for e in (plain, judged)]
        assert frames[0][FIGURES].equals(frames[1][FIGURES])  # tokens, cost, calls: equal
        # no run's wall time holds a judgement (each waits 0.4 s for its model)
        assert (frames[1]["wall_ms"] < JUDGE_DELAY_S * 1000 / 2).all()
        # a judge holds no slot of the experiment (concurrency 1): every run started before
        # the first judgement could finish
        starts = frames[1]["started_at"]
        assert (starts.max() - starts.min()).total_seconds() < JUDGE_DELAY_S
        judgements = store.load_judgements([judged.experiment_id])
        assert len(judgements) == 8 and set(judgements["score"]) == {4.0}
        assert (judgements["backend"] == JUDGE_ID).all()
        assert judgements.groupby("run_id").size().tolist() == [2, 2, 2, 2]
        assert store.load_judgements([plain.experiment_id]).empty
        assert judged.status == "completed"
    finally:
        store.close()
    code, out, err = run_cli(capsys, "summary", judged.experiment_id, "--format", "json",
                         "--store", str(store_path))
    assert code == 0, err
    [quality] = json.loads(out)["quality"]
    assert (quality["judge"], quality["backend"]) == ("email_quality", JUDGE_ID)
    assert {g: (q["runs"], q["judgements"], q["mean"]) for g, q in quality["groups"].items()} \
        == {"code": (2, 4, 4.0), "llm": (2, 4, 4.0)}
    code, out, err = run_cli(capsys, "summary", judged.experiment_id, "--store", str(store_path))
    assert code == 0 and "Quality by judge" in out
    assert "email_quality mean score of code-orchestrated: 4.00 (too few runs" in out


def test_a_judge_on_the_runs_backend_queues_for_it_as_a_run_does(
        store_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A judge on a bounded backend the runs use (the embedded model) takes that backend's
    slot while it asks its model, so it never generates inside a run's timing: it queues
    behind the runs already waiting, and no run's wall time holds a judgement."""
    argv = [*RUN[:-1], "scripted:bounded", "--judge", "scripted:bounded", "--store",
            str(store_path)]
    code, out, err = run_cli(capsys, *argv)
    assert code == 0, err
    assert "judged: 4 judgements stored" in err
    store = Store(store_path)
    try:
        [exp] = store.list_experiments()
        runs = store.load_runs([exp.experiment_id])
        assert (runs["wall_ms"] < JUDGE_DELAY_S * 1000 / 2).all()
        judgements = store.load_judgements([exp.experiment_id])
        assert len(judgements) == 4
        # the runs queued for the slot first: each judgement began after the last run began
        # (without the slot, the first would begin as soon as the first run was committed)
        assert judgements["created_at"].min() > runs["started_at"].max()
    finally:
        store.close()


@pytest.mark.parametrize(("argv", "sentence"), [
    (["--judge", JUDGE_ID, "--rubric", "tone"],
     "error: Scenario 'sales_email' has no judge 'tone'; judges: email_quality.\n"),
    (["--judge", "replay:exp-anything"],
     "error: A judge needs a live model; replay:exp-anything only serves the calls an "
     "experiment recorded.\n"),
    (["--judge", JUDGE_ID, "--judge-repeat", "0"], "error: --repeat must be 1 to 100; got 0.\n"),
    (["--rubric", "email_quality"],
     "error: --rubric and --judge-repeat judge runs: add --judge BACKEND.\n"),
])
def test_run_judge_refuses_in_one_sentence_before_anything_is_stored(
        store_path: Path, capsys: pytest.CaptureFixture[str], argv: list[str],
        sentence: str) -> None:
    code, out, err = run_cli(capsys, *RUN, *argv, "--store", str(store_path))
    assert (code, out, err) == (2, "", sentence)
    store = Store(store_path)
    try:
        assert store.list_experiments() == []
    finally:
        store.close()


def test_an_edit_of_the_judge_file_during_the_experiment_keeps_one_prompt_version(
        store_path: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    """The judge's file is read once, when `run --judge` checks it: a person editing it on the
    Agents page while runs are judged does not split the experiment's judgements over two
    prompt versions (each read here sees a different file, as after an edit)."""
    reads = itertools.count()
    real = rubric.load_judge_agents

    def edited_each_read(*args: Any, **kwargs: Any) -> dict[str, AgentDef]:
        n = next(reads)
        return {name: dataclasses.replace(d, instructions=f"{d.instructions}\nEdit {n}.")
                for name, d in real(*args, **kwargs).items()}

    monkeypatch.setattr(rubric, "load_judge_agents", edited_each_read)
    code, _, err = run_cli(capsys, *RUN, "--judge", JUDGE_ID, "--store", str(store_path))
    assert code == 0, err
    store = Store(store_path)
    try:
        [exp] = store.list_experiments()
        judgements = store.load_judgements([exp.experiment_id])
    finally:
        store.close()
    assert len(judgements) == 4
    assert judgements["prompt_version"].nunique() == 1


def test_resume_judge_judges_the_missing_runs_as_they_finish_and_the_earlier_ones(
        store_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """An experiment cancelled after 2 of its 4 runs, resumed with --judge: the 2 missing
    runs are run and judged, then the 2 kept are judged too; each run once per repetition,
    and a second `resume --judge` (nothing missing) judges nothing again."""
    spec = ExperimentSpec("sales_email", forms=["code", "llm"], inputs=["dana-acme"],
                          repetitions=2, concurrency=1, backend="scripted:sales")
    cancel = CancelToken()

    def stop_after_two(p: Progress) -> None:
        if p.done == 2:
            cancel.cancel()

    with contextlib.closing(Store(store_path)) as store:
        result = run_experiment(spec, store, backend=sales_backend(),
                                on_progress=stop_after_two, cancel=cancel)
        kept = set(store.load_runs([result.experiment_id]).query("status == 'ok'")["run_id"])
    assert len(kept) == 2
    code, out, err = run_cli(capsys, "resume", result.experiment_id, "--judge", JUDGE_ID,
                             "--judge-repeat", "2", "--store", str(store_path))
    assert code == 0, err
    assert "judged: 8 judgements stored" in err
    assert "  code       mean 4.00  (n=4, 2 runs)" in out
    with contextlib.closing(Store(store_path)) as store:
        runs = store.load_runs([result.experiment_id])
        judgements = store.load_judgements([result.experiment_id])
    assert len(runs) == 4 and set(runs["status"]) == {"ok"}
    assert judgements.groupby("run_id").size().to_dict() == dict.fromkeys(runs["run_id"], 2)
    code, _, err = run_cli(capsys, "resume", result.experiment_id, "--judge", JUDGE_ID,
                           "--store", str(store_path))
    assert code == 0 and "judged: 0 judgements stored" in err, err
    code, _, err = run_cli(capsys, "resume", result.experiment_id, "--rubric",
                           "email_quality", "--store", str(store_path))
    assert code == 2 and "add --judge BACKEND" in err
