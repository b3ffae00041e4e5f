"""Pairwise judges (issue 29): a judge reads two forms' runs of one input and repetition in an
order drawn per comparison and recorded, and says which is better or that they tie. Scripted
judges with known answers check that the order is recorded and honoured (a judge that always
answers "1" shows a position bias of 100% and a win rate near 50%), that ties count as half,
that a reply that is no verdict is the judge's classified failure, that the records survive
export and import on both engines, that every refusal is one sentence, and, by simulation,
that the win rate's and the position bias's intervals cover."""

from __future__ import annotations

import ast
import dataclasses
import itertools
import json
import math
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from agents.testing import ModelStep, assistant_message
from agents.usage import Usage
from cli_calls import run_cli
from sales_scripts import DRAFTS, sales_backend, step

from orchlab import backends
from orchlab.backends import Backend
from orchlab.core.errors import ScenarioError, SpecError
from orchlab.core.records import PairwiseJudgement
from orchlab.judging import judge_pairs, pairwise_version
from orchlab.judging.pairwise import draw_order, pairwise_prompt
from orchlab.judging.rubric import RunToJudge, judge_definition
from orchlab.measure import pricing
from orchlab.running.runner import ExperimentSpec, run_experiment
from orchlab.scenario import PairwiseJudge, get_scenario
from orchlab.stats.pairwise import pairwise_result, share, summarize_pairwise
from orchlab.store import export, importer
from orchlab.store.copying import copy_store
from orchlab.store.store import Store
from orchlab.testing.scripted import scripted_backend
from orchlab.testing.simulate_judges import PairwiseWorld, draw_pairwise

JUDGE_ID = "scripted:pairjudge"
JUDGE_MODEL = "gpt-4.1-mini"
JUDGE_USAGE = (410, 30)
AGENT = "judge_email_preference"
CONCISE = DRAFTS["concise_writer"].split("\n\n", 1)[1]
"""The code form's email: its picker here picks the concise draft (the llm form sends the
humorous one), so a judge can tell A's email from B's by what it says."""


def prompt_of(call: Any) -> str:
    """The user text a scripted judge was asked."""
    if isinstance(call.input, str):
        return call.input
    return "\n".join(str(item.get("content")) for item in call.input if isinstance(item, dict))


def replying(answer: Callable[[str], str]) -> Backend:
    """A scripted pairwise judge whose reply is `answer(prompt)`, with known usage."""
    def respond(call: Any) -> ModelStep:
        usage = Usage(requests=1, input_tokens=JUDGE_USAGE[0], output_tokens=JUDGE_USAGE[1],
                      total_tokens=sum(JUDGE_USAGE))
        return ModelStep(output=[assistant_message(answer(prompt_of(call)))], usage=usage)

    return scripted_backend({AGENT: lambda: [ModelStep.respond(respond)]},
                            backend_id=JUDGE_ID, model_name=JUDGE_MODEL)


def verdict(winner: str, why: str = "One asks for a short call.") -> str:
    return json.dumps({"explanation": why, "winner": winner})


def knowing(prompt: str) -> str:
    """Prefers the concise email (form A's, code) wherever it is shown."""
    first = prompt.split("# Email 1", 1)[1].split("# Email 2", 1)[0]
    return verdict("1" if CONCISE in first else "2", "The concise one is easier to answer.")


def run_sales(store: Store, repetitions: int = 6, **overrides: Any) -> str:
    """sales_email, code against llm on one input: the code form sends the concise draft."""
    spec = ExperimentSpec("sales_email", forms=["code", "llm"], inputs=["dana-acme"],
                          repetitions=repetitions, backend="scripted:sales")
    picker = {"picker": lambda: [step([assistant_message("concise")], (400, 2))]}
    backend = sales_backend(**(picker | overrides))
    return run_experiment(spec, store, backend=backend).experiment_id


@pytest.fixture(autouse=True)
def scripted_prefix() -> Iterator[None]:
    picker = {"picker": lambda: [step([assistant_message("concise")], (400, 2))]}
    backends.register("scripted", lambda rest: replying(knowing) if rest == "pairjudge"
                      else sales_backend(**picker), "test backend")
    yield
    backends.unregister("scripted")


def run_frame(store: Store, exp_id: str) -> pd.DataFrame:
    return store.load_runs([exp_id]).sort_values("run_id").reset_index(drop=True)


# -- judging ---------------------------------------------------------------------------------

def test_the_order_is_recorded_and_honoured(any_store: Store) -> None:
    exp_id = run_sales(any_store)
    before = run_frame(any_store, exp_id)
    made = judge_pairs(any_store, exp_id, "email_preference", ["code", "llm"],
                       replying(knowing), repeat=4, seed=1)

    assert len(made) == 24  # 6 pairs x 4
    scenario = get_scenario("sales_email")
    judge = scenario.pairwise_judge("email_preference")
    version = pairwise_version(judge, judge_definition(scenario, judge))
    runs = before.set_index("run_id")
    price = pricing.generation_cost(JUDGE_ID, JUDGE_MODEL, *JUDGE_USAGE)
    for p in made:
        assert (p.form_a, p.form_b, p.judge, p.backend, p.model, p.prompt_version) == (
            "code", "llm", "email_preference", JUDGE_ID, JUDGE_MODEL, version)
        assert runs.loc[p.run_a, "form"] == "code" and runs.loc[p.run_b, "form"] == "llm"
        for run in (p.run_a, p.run_b):
            assert (runs.loc[run, "input_id"], runs.loc[run, "repetition"]) == (
                p.input_id, p.repetition)
        assert p.shown_first == draw_order(p.order_seed)  # the draw can be made again
        assert (p.status, p.winner, p.error_class) == ("ok", "a", None)  # honoured
        assert (p.input_tokens, p.output_tokens, p.cost_usd) == (*JUDGE_USAGE, price)
        gens = [s for s in p.spans if s.kind == "generation"]
        assert len(gens) == 1 and gens[0].agent == AGENT
        asked = gens[0].input or ""
        assert "Email 1" in asked and "Email 2" in asked
        assert p.created_at.tzinfo is not None and p.latency_ms > 0
    assert {p.shown_first for p in made} == {"a", "b"}
    assert sorted(p.k for p in made) == sorted(list(range(4)) * 6)

    # the runs are as they were; the records come back whole
    pd.testing.assert_frame_equal(run_frame(any_store, exp_id), before)
    stored = sorted(any_store.pairwise_of(exp_id), key=lambda p: p.pairwise_id)
    assert stored == sorted(made, key=lambda p: p.pairwise_id)

    # the same seed draws the same orders; a second pass adds nothing, --repeat more adds k
    assert judge_pairs(any_store, exp_id, "email_preference", ["code", "llm"],
                       replying(knowing), repeat=4, seed=1) == []
    more = judge_pairs(any_store, exp_id, "email_preference", ["code", "llm"],
                       replying(knowing), repeat=5, seed=1)
    assert len(more) == 6 and {p.k for p in more} == {4}

    result = pairwise_result(any_store.load_pairwise([exp_id]), "email_preference", JUDGE_ID,
                             "code", "llm")
    assert result is not None
    assert (result.win_rate.value, result.win_rate.n, result.wins_a, result.ties) == (
        1.0, 6, 30, 0)
    assert result.win_rate.shown and result.win_rate.low is not None
    assert result.k_min == result.k_max == 5
    (item,) = summarize_pairwise(any_store.load_pairwise([exp_id]))
    assert item["sentence"].startswith("Code-orchestrated is preferred: code-orchestrated won "
                                       "100% [")


def test_the_order_drawn_from_a_seed_is_stable_and_even() -> None:
    drawn = [draw_order(seed) for seed in range(4000)]
    assert drawn == [draw_order(seed) for seed in range(4000)]
    assert abs(drawn.count("a") / len(drawn) - 0.5) < 0.03


def test_the_prompt_shows_the_input_once_then_each_run_in_the_drawn_order() -> None:
    judge = get_scenario("sales_email").pairwise_judge("email_preference")

    def run(run_id: str, body: str) -> RunToJudge:
        return RunToJudge(run_id, "Dana at Acme", {"name": "Dana"}, {}, "sent",
                          [{"to": "dana@x", "subject": "Hi", "body": body}], [])

    text = pairwise_prompt(judge, run("b", "Body B"), run("a", "Body A"))
    assert text.startswith("Question: Which email is more likely to get a reply?\nAnswer 1 "
                           "if Email 1 is better, 2 if Email 2 is better, or tie")
    assert text.count("## Input (Dana at Acme)") == 1
    assert text.index("# Email 1") < text.index("Body B") < text.index("# Email 2") \
        < text.index("Body A")


def test_a_judge_that_always_answers_1_shows_a_position_bias_and_no_preference(
        store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    # A pass's seeded orders derive from its seed and the run ids: with the SDK's random ids
    # the share shown A first was a fresh draw of 60 coin flips in every test run, 0.15 or
    # more from a half about 2% of the time. Numbered ids make the drawn orders the same.
    import agents.tracing

    numbers = itertools.count()
    monkeypatch.setattr(agents.tracing, "gen_trace_id", lambda: f"trace_{next(numbers):032x}")
    exp_id = run_sales(store)
    made = judge_pairs(store, exp_id, "email_preference", ["code", "llm"],
                       replying(lambda _: verdict("1")), repeat=10, seed=7)
    assert all(p.winner == p.shown_first for p in made)
    result = pairwise_result(store.load_pairwise([exp_id]), "email_preference", JUDGE_ID,
                             "code", "llm")
    assert result is not None
    assert result.first_won.value == 1.0 and result.first_won.shown
    share_a = np.mean([p.shown_first == "a" for p in made])
    assert result.win_rate.value == pytest.approx(share_a)
    assert abs(result.win_rate.value - 0.5) < 0.15 and not result.win_rate.shown
    item = summarize_pairwise(store.load_pairwise([exp_id]))[0]
    assert item["position_sentence"].startswith(
        "email_preference prefers whichever it reads first: the first shown won 100% [")
    assert item["sentence"].startswith("No preference shown between ")


def test_ties_count_as_half(store: Store) -> None:
    exp_id = run_sales(store, repetitions=5)
    made = judge_pairs(store, exp_id, "email_preference", ["code", "llm"],
                       replying(lambda _: verdict("tie", "Both are fine.")), seed=3)
    assert {p.winner for p in made} == {"tie"} and len(made) == 5
    result = pairwise_result(store.load_pairwise([exp_id]), "email_preference", JUDGE_ID,
                             "code", "llm")
    assert result is not None
    assert (result.win_rate.value, result.first_won.value, result.ties) == (0.5, 0.5, 5)
    assert not result.win_rate.shown and not result.first_won.shown


@pytest.mark.parametrize(("reply", "error_class"), [
    ("Email 1, clearly.", "judge_malformed"),  # not JSON
    (json.dumps({"explanation": "x", "winner": "3"}), "judge_malformed"),  # not 1, 2 or tie
    (None, "judge_error"),  # the model call failed
])
def test_a_reply_that_is_no_verdict_is_the_judges_classified_failure(
        store: Store, reply: str | None, error_class: str) -> None:
    exp_id = run_sales(store, repetitions=2)
    before = run_frame(store, exp_id)
    if reply is None:
        judge = scripted_backend({AGENT: lambda: [ModelStep.raise_error(
            RuntimeError("the judge's provider is down"))]}, backend_id=JUDGE_ID)
    else:
        judge = replying(lambda _: reply)
    made = judge_pairs(store, exp_id, "email_preference", ["code", "llm"], judge)
    assert len(made) == 2
    for p in made:
        assert (p.status, p.error_class, p.winner) == ("error", error_class, None)
        assert p.error_message and p.shown_first in ("a", "b")
    pd.testing.assert_frame_equal(run_frame(store, exp_id), before)
    assert pairwise_result(store.load_pairwise([exp_id]), "email_preference", JUDGE_ID,
                           "code", "llm") is None
    # a failed comparison is kept, and not asked again
    assert judge_pairs(store, exp_id, "email_preference", ["code", "llm"], judge) == []


# -- refusals --------------------------------------------------------------------------------

def stored_experiment(store_path: Path, **overrides: Any) -> str:
    store = Store(store_path)
    try:
        return run_sales(store, repetitions=2, **overrides)
    finally:
        store.close()


@pytest.mark.parametrize(("argv", "sentence"), [
    (["--pairwise", "tone", "--forms", "code,llm"],
     "error: Scenario 'sales_email' has no pairwise judge 'tone'; pairwise judges: "
     "email_preference.\n"),
    (["--pairwise", "email_quality", "--forms", "code,llm"],
     "error: Scenario 'sales_email' has no pairwise judge 'email_quality'; pairwise judges: "
     "email_preference.\n"),
    (["--rubric", "email_preference"],
     "error: 'email_preference' is a pairwise judge of 'sales_email': it compares two forms "
     "(orchlab judge --pairwise email_preference --forms A,B).\n"),
    (["--pairwise", "email_preference", "--forms", "code,plan"],
     "error: {exp} did not run form 'plan'; it ran code, llm.\n"),
    (["--pairwise", "email_preference", "--forms", "code"],
     "error: --forms names two different forms, A,B; got 'code'.\n"),
    (["--pairwise", "email_preference", "--forms", "llm,llm"],
     "error: --forms names two different forms, A,B; got 'llm,llm'.\n"),
    (["--pairwise", "email_preference"],
     "error: --pairwise email_preference compares two forms: add --forms A,B.\n"),
    (["--forms", "code,llm"], "error: --forms and --seed compare two forms: add --pairwise "
                              "NAME.\n"),
    (["--pairwise", "email_preference", "--forms", "code,llm", "--rubric", "email_quality"],
     "error: --rubric and --pairwise are two kinds of judging: ask one at a time.\n"),
    (["--pairwise", "email_preference", "--forms", "code,llm", "--repeat", "0"],
     "error: --repeat must be 1 to 100; got 0.\n"),
])
def test_the_cli_refuses_in_one_sentence_and_stores_nothing(
        store_path: Path, capsys: pytest.CaptureFixture[str], argv: list[str],
        sentence: str) -> None:
    exp_id = stored_experiment(store_path)
    code, out, err = run_cli(capsys, "judge", exp_id, "--judge", JUDGE_ID, *argv, "--store",
                         str(store_path))
    assert (code, out, err) == (2, "", sentence.format(exp=exp_id))
    store = Store(store_path)
    try:
        assert store.load_pairwise([exp_id]).empty
    finally:
        store.close()


def test_a_form_with_no_finished_run_is_refused_in_one_sentence(store: Store) -> None:
    exp_id = run_sales(store, repetitions=2, sales_manager=lambda: [
        ModelStep.raise_error(ValueError("the manager's model broke"))])
    assert set(store.load_runs([exp_id]).query("form == 'llm'")["status"]) == {"error"}
    with pytest.raises(SpecError) as info:
        judge_pairs(store, exp_id, "email_preference", ["code", "llm"], replying(knowing))
    assert str(info.value) == (f"Form 'llm' has no finished (ok) run in {exp_id}: there is "
                               "nothing of it to compare.")
    assert store.load_pairwise([exp_id]).empty


def test_a_pairwise_judge_declaration_that_cannot_work_is_refused() -> None:
    with pytest.raises(ScenarioError, match="must see one or more of"):
        PairwiseJudge("p", "judge_p", sees=(), question="Which?")
    with pytest.raises(ScenarioError, match="one line"):
        PairwiseJudge("p", "judge_p", sees=("final_output",), question="a\nb")
    with pytest.raises(ScenarioError, match="shown_as is a word"):
        PairwiseJudge("p", "judge_p", sees=("final_output",), question="Which?",
                      shown_as="1)")


# -- the command line and the summary --------------------------------------------------------

def test_the_cli_judges_pairs_and_summary_shows_the_win_rate(
        store_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    exp_id = stored_experiment(store_path)
    code, out, err = run_cli(capsys, "summary", exp_id, "--format", "json", "--store",
                         str(store_path))
    assert code == 0 and json.loads(out)["pairwise"] == []  # a key added, empty
    code, out, err = run_cli(capsys, "judge", exp_id, "--judge", JUDGE_ID, "--pairwise",
                         "email_preference", "--forms", "code,llm", "--repeat", "3",
                         "--seed", "11", "--store", str(store_path))
    assert code == 0, err
    lines = out.splitlines()
    assert sum(" code vs llm, " in line for line in lines) == 6
    assert all("winner a: The concise one" in line for line in lines if " vs llm, " in line)
    assert any(line.startswith("Pairwise judges (win rate") for line in lines)
    assert any("Too few comparisons for an interval (2; 5 needed): code-orchestrated won 100% "
               "of 2 comparisons with LLM-orchestrated" in line for line in lines), out

    code, out, err = run_cli(capsys, "summary", exp_id, "--format", "json", "--store",
                         str(store_path))
    (item,) = json.loads(out)["pairwise"]
    assert (item["judge"], item["form_a"], item["form_b"], item["judgements"]) == (
        "email_preference", "code", "llm", 6)
    assert item["win_rate"]["value"] == 1.0 and item["win_rate"]["n"] == 2
    assert item["win_rate"]["low"] is None  # 2 pairs: too few for an interval
    code, out, err = run_cli(capsys, "summary", exp_id, "--store", str(store_path))
    assert "Pairwise judges" in out and "position bias: the first shown won" in out


# -- export and import -----------------------------------------------------------------------

def test_pairwise_judgements_round_trip_through_export_and_import(
        any_store: Store, tmp_path: Path) -> None:
    exp_id = run_sales(any_store, repetitions=2)
    made = judge_pairs(any_store, exp_id, "email_preference", ["code", "llm"],
                       replying(knowing), repeat=2, seed=5)
    text = export.to_json(any_store, exp_id)
    document = json.loads(text)
    assert document["version"] == 4
    assert len(document["experiment"]["pairwise"]) == len(made) == 4

    fresh = Store(tmp_path / "fresh.sqlite")
    try:
        importer.import_file(fresh, text.encode("utf-8"))
        assert fresh.pairwise_of(exp_id) == any_store.pairwise_of(exp_id)
        assert export.to_json(fresh, exp_id) == text  # the same bytes back
    finally:
        fresh.close()

    # into the same store: new ids throughout, each judgement naming the new runs
    result = importer.import_file(any_store, text.encode("utf-8"))
    assert result.experiment_id != exp_id
    moved = any_store.pairwise_of(result.experiment_id)
    new_runs = set(any_store.load_runs([result.experiment_id])["run_id"])
    assert len(moved) == 4 and {p.run_a for p in moved} | {p.run_b for p in moved} <= new_runs
    assert {p.pairwise_id for p in moved}.isdisjoint({p.pairwise_id for p in made})
    assert [(p.shown_first, p.winner, p.order_seed) for p in moved] == [
        (p.shown_first, p.winner, p.order_seed) for p in any_store.pairwise_of(exp_id)]

    # copy-store moves them through the same file form
    copied = Store(tmp_path / "copied.sqlite")
    try:
        copy_store(any_store, copied)
        assert copied.pairwise_of(exp_id) == any_store.pairwise_of(exp_id)
    finally:
        copied.close()


def test_an_import_refuses_a_pairwise_judgement_of_runs_it_does_not_hold(store: Store) -> None:
    exp_id = run_sales(store, repetitions=2)
    judge_pairs(store, exp_id, "email_preference", ["code", "llm"], replying(knowing))
    document = json.loads(export.to_json(store, exp_id))
    document["experiment"]["pairwise"][0]["run_b"] = "nosuchrun"
    with pytest.raises(importer.ImportFileError, match="compares run nosuchrun, which the "
                                                       "file does not hold"):
        importer.read_file(json.dumps(document).encode("utf-8"))
    document = json.loads(export.to_json(store, exp_id))
    document["experiment"]["pairwise"][0]["winner"] = "first"
    with pytest.raises(importer.ImportFileError, match="winner"):
        importer.read_file(json.dumps(document).encode("utf-8"))


def test_a_pairwise_record_is_a_dataclass_with_documented_fields() -> None:
    names = [f.name for f in dataclasses.fields(PairwiseJudgement)]
    assert names[:5] == ["pairwise_id", "experiment_id", "run_a", "run_b", "form_a"]
    assert {"shown_first", "winner", "order_seed", "k", "error_class"} <= set(names)
    assert names[-3:] == ["latency_ms", "created_at", "spans"]
    tree = ast.parse(Path("orchlab/core/records.py").read_text(encoding="utf-8"))
    (cls,) = [n for n in tree.body if isinstance(n, ast.ClassDef)
              and n.name == "PairwiseJudgement"]
    documented = [a.target.id for a, doc in zip(cls.body, cls.body[1:], strict=False)
                  if isinstance(a, ast.AnnAssign) and isinstance(a.target, ast.Name)
                  and isinstance(doc, ast.Expr) and isinstance(doc.value, ast.Constant)]
    assert documented == names


# -- the interval, by simulation -------------------------------------------------------------

WORLDS = [  # pairs, A's preference, tie rate, position bias, judgements per pair
    (8, 0.85, 0.0, 0.0, 1), (10, 0.5, 0.0, 0.0, 1), (15, 0.3, 0.3, 0.5, 2),
    (20, 0.7, 0.2, 0.3, 1), (21, 0.5, 0.0, 0.0, 1), (30, 0.8, 0.1, 0.2, 3),
    (40, 0.9, 0.0, 0.1, 1), (60, 0.65, 0.1, 0.4, 1),
]


def simulate(rng: np.random.Generator, n: int, p: float, t: float, b: float, k: int,
             reps: int = 2000, spread: float = 4.0) -> tuple[float, float]:
    """Coverage of the win rate's and the position bias's 95% intervals over `reps`
    experiments of n pairs judged k times each, drawn by `simulate_judges.draw_pairwise`
    (preference p, ties t, position bias b; its `PairwiseWorld` works out the truths)."""
    world = PairwiseWorld(n, p, t, b, k, spread)
    covered = np.zeros(2)
    for _ in range(reps):
        wins, firsts = draw_pairwise(world, rng)
        for i, (values, truth) in enumerate(((wins, world.true_win_rate),
                                             (firsts, world.true_first_won))):
            s = share(values)
            assert s.low is not None and s.high is not None
            covered[i] += s.low <= truth <= s.high
    return covered[0] / reps, covered[1] / reps


def test_the_intervals_cover_in_worlds_with_known_preference_and_position_bias() -> None:
    rng = np.random.default_rng(2029)
    found = {world: simulate(rng, *world) for world in WORLDS}
    print("\ncoverage (win rate, first shown):",
          {w: tuple(round(float(c), 3) for c in cov) for w, cov in found.items()})
    assert min(c for cov in found.values() for c in cov) >= 0.93, found


def test_with_one_verdict_per_pair_and_no_ties_the_coverage_is_exact_and_at_least_95() -> None:
    """With K = 1 and no ties each pair is 0/1, so the coverage is a binomial sum, exact:
    plain Wilson's dips to 92% at some n (why the interval is continuity-corrected)."""
    worst = 1.0
    for p in (0.5, 0.6, 0.7, 0.8, 0.9, 0.95):
        for n in range(5, 61):
            covered = 0.0
            for hits in range(n + 1):
                s = share(np.array([1.0] * hits + [0.0] * (n - hits)))
                if s.low is not None and s.high is not None and s.low <= p <= s.high:
                    covered += math.comb(n, hits) * p ** hits * (1 - p) ** (n - hits)
            worst = min(worst, covered)
    assert worst >= 0.95, worst


def test_the_figures_from_a_frame_are_the_share_of_the_pair_means() -> None:
    rows = []
    for i, (winners, firsts) in enumerate([("aab", "aba"), ("t", "b"), ("bb", "ab"),
                                           ("a", "a"), ("ta", "ab"), ("b", "b")]):
        for k, (w, f) in enumerate(zip(winners, firsts, strict=True)):
            rows.append({"judge": "j", "backend": "x", "prompt_version": "v", "form_a": "code",
                         "form_b": "llm", "status": "ok", "run_a": f"a{i}", "run_b": f"b{i}",
                         "winner": {"t": "tie"}.get(w, w), "shown_first": f, "k": k,
                         "created_at": pd.Timestamp("2026-12-05", tz="UTC")})
    rows.append(rows[0] | {"status": "error", "winner": None, "k": 9})
    found = pairwise_result(pd.DataFrame(rows), "j", "x", "code", "llm")
    assert found is not None
    wins = np.array([2 / 3, 0.5, 0.0, 1.0, 0.75, 0.0])
    # the first shown's score per judgement: pair 0 is (a first, a won) 1, (b first, a won)
    # 0, (a first, b won) 0
    firsts = np.array([(1 + 0 + 0) / 3, 0.5, (0 + 1) / 2, 1.0, (0.5 + 0) / 2, 1.0])
    assert found.win_rate == share(wins) and found.first_won == share(firsts)
    assert (found.judgements, found.failed, found.wins_a, found.wins_b, found.ties) == (
        10, 1, 4, 4, 2)
