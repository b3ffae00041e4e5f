"""Judges on the pages (issue 29): on Trace a person labels a run per judge of its scenario (the
core's one sentence for a missing name, an offer to replace a second label) and sees what the
judges said; on Compare each judge's mean score per group with n, its agreement with people
(warned while untested, "fair/good" once enough agreeing labels exist), and a "Judge these
runs" action that judges off the page's thread. Scripted judges give known scores."""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from agents.testing import assistant_message
from apptest_pages import app_on
from sales_scripts import sales_backend, step
from streamlit.testing.v1 import AppTest

from orchlab import backends
from orchlab.backends import Backend
from orchlab.judging import judge_runs, label_run
from orchlab.running.runner import ExperimentSpec, run_experiment
from orchlab.store.store import Store
from orchlab.testing.scripted import scripted_backend

JUDGE_ID = "scripted:judge"
EXPLANATION = "Names Dana and asks for one short call."


def judge_backend(scores: Iterator[int] | None = None, explanation: str = EXPLANATION,
                  backend_id: str = JUDGE_ID) -> Backend:
    """A scripted email_quality judge: each judgement the next of `scores` (4 by default)."""
    given = scores if scores is not None else itertools.repeat(4)

    def script() -> list[Any]:
        reply = json.dumps({"explanation": explanation, "score": next(given)})
        return [step([assistant_message(reply)], (200, 20))]

    return scripted_backend({"judge_email_quality": script}, backend_id=backend_id)


@pytest.fixture
def judge_env(app_env: Path) -> Iterator[Path]:
    """The dashboard on a temp store; `scripted:judge` is the scripted judge, any other
    `scripted:` id the sales models."""
    backends.register("scripted", lambda rest: judge_backend() if rest == "judge"
                      else sales_backend(), "test backend")
    yield app_env


def sales_runs(path: Path, reps: int = 1) -> tuple[str, list[str]]:
    """sales_email, code and llm, one input: 2 x reps runs; (experiment id, run ids)."""
    store = Store(path)
    spec = ExperimentSpec("sales_email", forms=["code", "llm"], inputs=["dana-acme"],
                          repetitions=reps, backend="scripted:sales")
    exp_id = run_experiment(spec, store, backend=sales_backend()).experiment_id
    run_ids = store.load_runs([exp_id])["run_id"].tolist()
    store.close()
    return exp_id, run_ids


def judged(path: Path, exp_id: str, backend: Backend | None = None) -> None:
    store = Store(path)
    judge_runs(store, exp_id, "email_quality", backend or judge_backend())
    store.close()


def trace_run_id(at: AppTest) -> str:
    """The run Trace shows: its id is the caption's first code span."""
    caption = next(c.value for c in at.caption if c.value.startswith("run `"))
    return caption.split("`")[1]


def save_label(at: AppTest, run_id: str, score: str | None, who: str | None,
               note: str = "") -> None:
    if score is not None:
        at.selectbox(key=f"trace_score_{run_id}_email_quality").set_value(score)
    at.text_input(key=f"trace_note_{run_id}_email_quality").set_value(note)
    if who is not None:
        at.text_input(key=f"trace_who_{run_id}_email_quality").set_value(who)
    next(b for b in at.button if b.label == "Save label").click().run()
    assert not at.exception, at.exception


def stored_labels(path: Path) -> list[tuple[str, str, float, str | None]]:
    store = Store(path)
    try:
        return [(lb.run_id, lb.who, lb.score, lb.note)
                for e in store.list_experiments() for lb in store.labels_of(e.experiment_id)]
    finally:
        store.close()


def test_trace_shows_the_judgement_and_saves_a_label(judge_env: Path) -> None:
    exp_id, _ = sales_runs(judge_env)
    judged(judge_env, exp_id)
    at = app_on("views/trace.py")
    run_id = trace_run_id(at)
    assert "Judges and your label" in [s.value for s in at.subheader]
    assert any("How likely is this prospect to reply" in m.value for m in at.markdown)
    assert EXPLANATION in [t.value for t in at.text]  # the judge's words, as text
    assert any("**4**" in c.value and "scripted:judge" in c.value for c in at.caption)
    assert any("No one has labelled this run" in c.value for c in at.caption)

    save_label(at, run_id, "5", "Ada", note="Warm and short.")
    assert [s.value for s in at.success] == ["Saved."]
    assert any(c.value.startswith("Label by Ada: **5**") for c in at.caption)
    assert "Warm and short." in [t.value for t in at.text]
    assert stored_labels(judge_env) == [(run_id, "Ada", 5.0, "Warm and short.")]

    # the name is remembered for the session: the other run's form starts with it
    at.selectbox(key="trace_run").set_value(1).run()
    other = trace_run_id(at)
    assert other != run_id
    assert at.text_input(key=f"trace_who_{other}_email_quality").value == "Ada"


def test_trace_refuses_a_label_without_a_name_and_offers_to_replace_a_second(
        judge_env: Path) -> None:
    sales_runs(judge_env)
    at = app_on("views/trace.py")
    run_id = trace_run_id(at)
    assert any("No judgement of this run yet" in c.value for c in at.caption)

    save_label(at, run_id, None, "Ada")
    assert [e.value for e in at.error] == ["Choose an answer first."]
    save_label(at, run_id, "2", "  ")
    assert [e.value for e in at.error] == ["A label needs the name of the person who gave it."]
    assert stored_labels(judge_env) == []

    save_label(at, run_id, "2", "Ada")
    assert [s.value for s in at.success] == ["Saved."]
    save_label(at, run_id, "4", "Ada")
    assert not at.success
    offer = [w.value for w in at.warning if "labelled run" in w.value]
    assert len(offer) == 1 and offer[0].startswith(f"Ada labelled run {run_id} for "
                                                   "email_quality already (2, ")
    assert offer[0].endswith("Replace it with this one?")
    assert stored_labels(judge_env) == [(run_id, "Ada", 2.0, None)]
    at.button(key=f"trace_replace_{run_id}_email_quality").click().run()
    assert not at.exception, at.exception
    assert [s.value for s in at.success] == ["Saved: your earlier label was replaced."]
    assert stored_labels(judge_env) == [(run_id, "Ada", 4.0, None)]
    at.run()
    assert not [w.value for w in at.warning if "labelled run" in w.value]  # answered


def judge_frames(at: AppTest) -> dict[str, Any]:
    return {str(d.proto.id): d.value for d in at.dataframe}


def test_compare_shows_each_judge_s_mean_per_group_and_warns_it_is_untested(
        judge_env: Path) -> None:
    exp_id, run_ids = sales_runs(judge_env, reps=2)
    judged(judge_env, exp_id, judge_backend(itertools.cycle([2, 4])))
    store = Store(judge_env)
    label_run(store, run_ids[0], "email_quality", 3, "Ada")
    store.close()
    at = app_on("views/compare.py")
    assert "Judges" in [s.value for s in at.subheader]
    assert any(m.value.startswith("**email_quality** on `scripted:judge`")
               for m in at.markdown)
    table = next(d.value for d in at.dataframe if "Mean score" in d.value.columns)
    assert table["Group"].tolist() == ["Code-orchestrated", "LLM-orchestrated"]
    assert table["Runs judged (n)"].tolist() == [2, 2]
    assert table["Judgements"].tolist() == [2, 2]
    assert table["Mean score"].sum() == pytest.approx(12 / 2)  # two 2s and two 4s over groups
    warned = [w.value for w in at.warning if "Agreement with people" in w.value]
    assert len(warned) == 1
    assert "n=1 labelled runs: untested" in warned[0]
    assert warned[0].endswith("This judge's agreement with people is untested: label at least "
                              "10 runs on Trace.")
    said = next(d.value for d in at.dataframe if "Explanation" in d.value.columns)
    assert said["Explanation"].tolist() == [EXPLANATION] * 4


@pytest.mark.parametrize(("person", "verdict"), [
    (lambda judge: judge, "fair/good"),  # agrees with the judge on every run
    (lambda judge: 6 - judge, "weak"),  # ranks every run the other way round
])
def test_compare_gives_the_verdict_once_ten_runs_are_labelled(
        judge_env: Path, person: Callable[[int], int], verdict: str) -> None:
    exp_id, run_ids = sales_runs(judge_env, reps=5)  # 10 runs
    judged(judge_env, exp_id, judge_backend(itertools.cycle([1, 2, 3, 4, 5])))
    store = Store(judge_env)
    scores = store.load_judgements([exp_id]).set_index("run_id")["score"]
    for run_id in run_ids:
        label_run(store, run_id, "email_quality", person(int(scores[run_id])), "Ada")
    store.close()
    at = app_on("views/compare.py")
    shown = [e.value for kind in ("success", "warning") for e in at.get(kind)
             if "Agreement with people" in e.value]
    assert len(shown) == 1 and "n=10 labelled runs: " + verdict in shown[0], shown
    if verdict == "fair/good":
        assert [s.value for s in at.success if "Agreement" in s.value] == shown
    else:
        assert [w.value for w in at.warning if "Agreement" in w.value] == shown
        assert shown[0].endswith("This judge's agreement with people is weak: read its scores "
                                 "with care, label more runs on Trace, or judge on another "
                                 "backend.")


def finish_judging(at: AppTest) -> None:
    """Wait for the session's judging pass, if still running, and rerun: the page then shows
    its result (a pass refused at once may have ended before the page looked)."""
    if "compare_judge_job" in at.session_state:
        at.session_state["compare_judge_job"].wait(60)
        at.run()
        assert not at.exception, at.exception
    assert "compare_judge_job" not in at.session_state


def test_judge_these_runs_judges_off_the_page_and_shows_the_scores(judge_env: Path) -> None:
    sales_runs(judge_env)
    at = app_on("views/compare.py")
    assert any("No judgements of these runs yet" in c.value for c in at.caption)
    at.text_input(key="compare_judge_backend").set_value(JUDGE_ID)
    at.selectbox(key="compare_judge_rubric").set_value("email_quality")
    at.button(key="compare_judge_start").click().run()
    assert not at.exception, at.exception
    job = at.session_state["compare_judge_job"]  # a model call takes a while: still running
    assert (job.backend.id, job.judges, job.repeat) == (JUDGE_ID, ["email_quality"], 1)
    assert any("Judging on" in p.proto.text for p in at.get("progress")) or job.done
    finish_judging(at)
    assert "Judging done: 2 new judgements stored." in [s.value for s in at.success]
    table = next(d.value for d in at.dataframe if "Mean score" in d.value.columns)
    assert table["Mean score"].tolist() == [4.0, 4.0]


def test_judge_these_runs_refuses_a_replay_backend_in_one_sentence(judge_env: Path) -> None:
    """A refusal from the core (a judge needs a live model) is its sentence, nothing else."""
    exp_id, _ = sales_runs(judge_env)
    at = app_on("views/compare.py")
    at.text_input(key="compare_judge_backend").set_value(f"replay:{exp_id}")
    at.button(key="compare_judge_start").click().run()
    assert not at.exception, at.exception
    finish_judging(at)
    errors = [e.value for e in at.error]
    assert errors and all("needs a live model" in e for e in errors), errors
    assert "Judging done: 0 new judgements stored." in [s.value for s in at.success]




def test_a_failed_judgement_reads_as_the_judge_s_failure_on_both_pages(judge_env: Path) -> None:
    """A reply that is no verdict is the judge's failure (judge_malformed): shown as such, in
    no mean."""
    exp_id, _ = sales_runs(judge_env)
    broken = scripted_backend({"judge_email_quality": lambda: [
        step([assistant_message("I think it is quite good.")], (200, 20))]},
        backend_id=JUDGE_ID)
    judged(judge_env, exp_id, broken)
    trace = app_on("views/trace.py")
    assert any("**failed (judge_malformed)**" in c.value for c in trace.caption)
    compare = app_on("views/compare.py")
    said = next(d.value for d in compare.dataframe if "Explanation" in d.value.columns)
    assert said["Score"].tolist() == ["failed (judge_malformed)"] * 2
    table = next(d.value for d in compare.dataframe if "Mean score" in d.value.columns)
    assert table.empty
    assert [w.value for w in compare.warning if "judgements by" in w.value] == [
        "2 of 2 judgements by email_quality failed (judge_malformed 2): a failed "
        "judgement gives no score, so the figures below hold only the runs it scored."]
