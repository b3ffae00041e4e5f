"""Pairwise judges on Compare (issue 29): per pairwise judge and pair of forms, the win rate
of form A over form B with its 95% interval, wins, losses, ties and pairs, the core's sentences
(a judge with too few pairs says so) and position bias, all equal to `orchlab.stats.pairwise`
on the same store; what the judge said as text, never markdown; and "Judge these runs" running
a pairwise judge on two forms off the page's thread. Scripted judges give known winners."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from agents.testing import assistant_message
from apptest_pages import app_on
from sales_scripts import sales_backend, step
from streamlit.testing.v1 import AppTest
from test_judge_pages import finish_judging
from test_pairwise import CONCISE, JUDGE_ID, replying, run_sales, verdict

from orchlab import backends
from orchlab.judging import judge_pairs
from orchlab.stats.pairwise import summarize_pairwise
from orchlab.store.store import Store
from views._widgets import escape_md

SAYS = "![x](http://example.com/a.png) **The concise one** is easier to answer."
"""A judge's explanation written as markdown that would fetch a URL and embolden."""


def prefers_concise(prompt: str, why: str = SAYS) -> str:
    """Prefers the concise email (form A's, code) wherever it is shown."""
    first = prompt.split("# Email 1", 1)[1].split("# Email 2", 1)[0]
    return verdict("1" if CONCISE in first else "2", why)


def every_third_a_tie() -> Callable[[str], str]:
    """Prefers the concise email, but calls every third comparison a tie."""
    calls = itertools.count()
    return lambda prompt: (verdict("tie", SAYS) if next(calls) % 3 == 2
                           else prefers_concise(prompt))


@pytest.fixture
def pair_env(app_env: Path) -> Iterator[Path]:
    """The dashboard on a temp store; `scripted:pairjudge` a pairwise judge preferring the
    concise email, any other `scripted:` id the sales models."""
    picker = {"picker": lambda: [step([assistant_message("concise")], (400, 2))]}
    backends.register("scripted", lambda rest: replying(prefers_concise) if rest == "pairjudge"
                      else sales_backend(**picker), "test backend")
    yield app_env


def judged_pairs(path: Path, answer: Callable[[str], str], reps: int) -> dict[str, Any]:
    """sales_email's code and llm on one input, `reps` pairs, each judged once by `answer`;
    the core's summary of them (the one item: email_preference, code vs llm)."""
    store = Store(path)
    exp_id = run_sales(store, repetitions=reps)
    judge_pairs(store, exp_id, "email_preference", ["code", "llm"], replying(answer), seed=7)
    [item] = summarize_pairwise(store.load_pairwise([exp_id]))
    store.close()
    return item


def pairwise_table(at: AppTest) -> Any:
    return next(d.value for d in at.dataframe if "A's win rate" in d.value.columns)


def said_table(at: AppTest) -> Any:
    return next(d.value for d in at.dataframe if "Shown first" in d.value.columns)


def shown(at: AppTest) -> dict[str, list[str]]:
    """The page's markdown-bearing elements' texts, by kind."""
    return {kind: [e.value for e in at.get(kind)]
            for kind in ("markdown", "caption", "success", "warning", "error", "info")}


def test_compare_shows_the_core_s_win_rate_and_the_judge_s_words_as_text(
        pair_env: Path) -> None:
    core = judged_pairs(pair_env, every_third_a_tie(), reps=6)
    assert (core["wins_a"], core["wins_b"], core["ties"]) == (4, 0, 2)  # known winners
    at = app_on("views/compare.py")
    assert any(m.value == f"**email_preference** (pairwise) on `{JUDGE_ID}`"
               for m in at.markdown)
    table = pairwise_table(at)
    win = core["win_rate"]
    assert table.to_dict("records") == [{
        "Form A": "Code-orchestrated", "Form B": "LLM-orchestrated",
        "A's win rate": f"{win['value']:.0%}",
        "95% interval": f"{win['low']:.0%} to {win['high']:.0%}",
        "A won": 4, "B won": 0, "Ties": 2, "Pairs (n)": 6, "Judgements": 6, "Failed": 0,
        "First shown won": f"{core['first_won']['value']:.0%} ("
                           f"{core['first_won']['low']:.0%} to {core['first_won']['high']:.0%})"}]
    assert table.loc[0, "A's win rate"] == "83%"  # (4 + 2/2) / 6
    texts = shown(at)
    said_where = [k for k, v in texts.items() if escape_md(core["sentence"]) in v]
    assert said_where == ["success" if win["shown"] else "info"]
    assert escape_md(core["position_sentence"]) in [*texts["caption"], *texts["warning"]]

    said = said_table(at)
    assert said["Explanation"].tolist() == [SAYS] * 6  # the judge's words, as table cells
    assert sorted(said["Winner"]) == ["Code-orchestrated"] * 4 + ["tie"] * 2
    assert set(said["Shown first"]) <= {"Code-orchestrated", "LLM-orchestrated"}
    leaked = [m for v in texts.values() for m in v if "](http" in m or "**The concise" in m]
    assert leaked == []


def test_a_judge_that_reads_first_first_shows_its_position_bias(pair_env: Path) -> None:
    core = judged_pairs(pair_env, lambda _: verdict("1", "The first one."), reps=8)
    assert core["first_won"]["value"] == 1.0 and core["first_won"]["shown"]
    at = app_on("views/compare.py")
    bias = escape_md(core["position_sentence"])
    assert bias in [w.value for w in at.warning]
    assert "prefers whichever it reads first" in bias
    win = pairwise_table(at).loc[0, "A's win rate"]
    assert win == f"{core['win_rate']['value']:.0%}"


def test_a_judge_with_few_pairs_says_so_rather_than_claiming(pair_env: Path) -> None:
    core = judged_pairs(pair_env, prefers_concise, reps=3)
    assert core["win_rate"]["low"] is None and core["win_rate"]["value"] == 1.0
    at = app_on("views/compare.py")
    table = pairwise_table(at)
    assert table.loc[0, "95% interval"] == "none: fewer than 5 pairs"
    assert table.loc[0, "Pairs (n)"] == 3
    warned = [w.value for w in at.warning if "Too few comparisons" in w.value]
    assert warned == [escape_md(core["sentence"])]
    assert warned[0].startswith("Too few comparisons for an interval (3; 5 needed)")
    assert not [s.value for s in at.success if "preferred" in s.value]


def test_judge_these_runs_runs_a_pairwise_judge_on_two_forms(pair_env: Path) -> None:
    store = Store(pair_env)
    exp_id = run_sales(store, repetitions=5)
    store.close()
    at = app_on("views/compare.py")
    assert not [d for d in at.dataframe if "A's win rate" in d.value.columns]
    assert any("No judgements of these runs yet" in c.value for c in at.caption)
    at.text_input(key="compare_judge_backend").set_value(JUDGE_ID)
    judge = at.selectbox(key="compare_judge_rubric")
    assert "email_preference (pairwise: compares two forms)" in judge.options
    judge.set_value("email_preference").run()
    assert at.selectbox(key="compare_judge_form_a").value == "code"
    assert at.selectbox(key="compare_judge_form_b").value == "llm"
    at.button(key="compare_judge_start").click().run()
    assert not at.exception, at.exception
    job = at.session_state["compare_judge_job"]
    assert (job.backend.id, job.judges, job.forms, job.experiment_ids) == (
        JUDGE_ID, ["email_preference"], ("code", "llm"), [exp_id])
    assert any("Judging on" in p.proto.text for p in at.get("progress")) or job.done
    finish_judging(at)
    assert "Judging done: 5 new pairwise judgements stored." in [s.value for s in at.success]
    store = Store(pair_env)
    [core] = summarize_pairwise(store.load_pairwise([exp_id]))
    store.close()
    table = pairwise_table(at)
    assert table.loc[0, "A's win rate"] == f"{core['win_rate']['value']:.0%}" == "100%"
    assert table.loc[0, "Pairs (n)"] == 5


def test_judge_these_runs_refuses_a_pairwise_judge_on_one_form_and_a_replay(
        pair_env: Path) -> None:
    store = Store(pair_env)
    exp_id = run_sales(store, repetitions=1)
    store.close()
    at = app_on("views/compare.py")
    at.selectbox(key="compare_judge_rubric").set_value("email_preference").run()
    at.selectbox(key="compare_judge_form_b").set_value("code").run()
    assert "Form A and form B are one form: choose two." in [c.value for c in at.caption]
    assert at.button(key="compare_judge_start").disabled
    at.selectbox(key="compare_judge_form_b").set_value("llm").run()
    at.text_input(key="compare_judge_backend").set_value(f"replay:{exp_id}")
    at.button(key="compare_judge_start").click().run()
    assert not at.exception, at.exception
    finish_judging(at)
    errors = [e.value for e in at.error]
    assert len(errors) == 1 and "needs a live model" in errors[0], errors
    assert "Judging done: 0 new pairwise judgements stored." in [s.value for s in at.success]
