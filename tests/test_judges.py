"""Rubric judges on stored runs (issue 29): scripted judges with known scores are stored per
run, judge, backend, prompt version and repetition, loaded, exported and imported; a reply that
is no verdict is the judge's failure (judge_malformed), never the run's; judging leaves every
run row as it was; the CLI refuses in one sentence before anything is stored."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from agents.testing import assistant_message
from cli_calls import run_cli
from sales_scripts import sales_backend, step

from orchlab import backends
from orchlab.backends import Backend
from orchlab.core.errors import AgentDefError, ScenarioError
from orchlab.core.records import Judgement
from orchlab.judging import judge_prompt, judge_runs, prompt_version
from orchlab.judging.rubric import RunToJudge, judge_definition
from orchlab.measure import pricing
from orchlab.running.runner import ExperimentSpec, run_experiment
from orchlab.scenario import RubricJudge, get_scenario
from orchlab.scenario.agentdefs import (
    agent_sources,
    check_variant,
    load_judge_agents,
    load_scenario_agents,
)
from orchlab.store import export, importer
from orchlab.store.store import Store
from orchlab.testing.scripted import scripted_backend

JUDGE_ID = "scripted:judge"
JUDGE_MODEL = "gpt-4.1-mini"
JUDGE_USAGE = (230, 25)
EXPLANATION = "Addresses Dana by name and asks for one short call."


def verdict(text: str) -> Callable[[], list[Any]]:
    """A judge's script: one reply of exactly `text`, with known usage."""
    return lambda: [step([assistant_message(text)], JUDGE_USAGE)]


def judge_backend(reply: str | None = None, agent: str = "judge_email_quality") -> Backend:
    """A scripted judge that gives every run the same verdict (4, by default)."""
    text = reply if reply is not None else json.dumps({"explanation": EXPLANATION, "score": 4})
    return scripted_backend({agent: verdict(text)}, backend_id=JUDGE_ID, model_name=JUDGE_MODEL)


def run_sales(store: Store) -> str:
    """sales_email in two forms, two repetitions, on the scripted sales models: four runs."""
    spec = ExperimentSpec("sales_email", forms=["code", "llm"], inputs=["dana-acme"],
                          repetitions=2, backend="scripted:sales")
    return run_experiment(spec, store, backend=sales_backend()).experiment_id


@pytest.fixture(autouse=True)
def scripted_prefix() -> Iterator[None]:
    backends.register("scripted", lambda rest: judge_backend() if rest == "judge"
                      else sales_backend(), "test backend")
    yield
    backends.unregister("scripted")


def run_rows(store: Store, exp_id: str) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Every run column, and each run's spans, outbox and model calls."""
    frame = store.load_runs([exp_id]).sort_values("run_id").reset_index(drop=True)
    children = {r: (store.load_spans(r), store.load_outbox(r), store.load_calls(r))
                for r in frame["run_id"]}
    return frame, children


def test_scripted_judgements_are_stored_with_their_own_spans_and_cost(any_store: Store) -> None:
    exp_id = run_sales(any_store)
    before = run_rows(any_store, exp_id)
    made = judge_runs(any_store, exp_id, "email_quality", judge_backend())

    assert len(made) == 4 and {j.run_id for j in made} == set(before[0]["run_id"])
    scenario = get_scenario("sales_email")
    judge = scenario.judge("email_quality")
    version = prompt_version(judge, judge_definition(scenario, judge))
    price = pricing.generation_cost(JUDGE_ID, JUDGE_MODEL, *JUDGE_USAGE)
    for j in made:
        assert (j.judge, j.backend, j.model, j.prompt_version, j.repetition) == (
            "email_quality", JUDGE_ID, JUDGE_MODEL, version, 0)
        assert (j.status, j.error_class, j.score, j.label, j.explanation) == (
            "ok", None, 4.0, "4", EXPLANATION)
        assert (j.input_tokens, j.output_tokens, j.cost_usd) == (*JUDGE_USAGE, price)
        gens = [s for s in j.spans if s.kind == "generation"]
        assert len(gens) == 1 and gens[0].agent == "judge_email_quality"
        assert (gens[0].input_tokens, gens[0].output_tokens) == JUDGE_USAGE
        assert j.latency_ms > 0 and j.created_at.tzinfo is not None

    # the runs' tokens, latency, cost and outcome are what they were, rows and children alike
    after = run_rows(any_store, exp_id)
    pd.testing.assert_frame_equal(after[0], before[0])
    assert after[1] == before[1]

    stored = sorted(any_store.judgements_of(exp_id), key=lambda j: j.judgement_id)
    assert stored == sorted(made, key=lambda j: j.judgement_id)
    frame = any_store.load_judgements([exp_id])
    assert len(frame) == 4 and set(frame["form"]) == {"code", "llm"}
    assert frame["score"].tolist() == [4.0] * 4 and frame["cost_usd"].tolist() == [price] * 4
    assert "spans_json" not in frame and frame["created_at"].dt.tz is not None


def test_repeat_k_stores_k_per_run_and_a_second_pass_adds_none(any_store: Store) -> None:
    exp_id = run_sales(any_store)
    assert len(judge_runs(any_store, exp_id, "email_quality", judge_backend())) == 4
    again = judge_runs(any_store, exp_id, "email_quality", judge_backend(), repeat=3)
    assert len(again) == 8 and sorted({j.repetition for j in again}) == [1, 2]
    assert judge_runs(any_store, exp_id, "email_quality", judge_backend(), repeat=3) == []
    frame = any_store.load_judgements([exp_id])
    assert frame.groupby("run_id").size().tolist() == [3] * 4
    # one key, one judgement: a second save of it writes nothing and changes nothing
    first = any_store.judgements_of(exp_id)[0]
    copy = replace(first, judgement_id="another-id", score=1.0, label="1")
    assert any_store.save_judgement(copy) is False
    assert any_store.judgements_of(exp_id)[0] == first
    # another backend (or an edited prompt) is another key: judged again
    other = scripted_backend({"judge_email_quality": verdict(json.dumps(
        {"explanation": "Fine.", "score": 3}))}, backend_id="scripted:judge2",
        model_name=JUDGE_MODEL)
    assert len(judge_runs(any_store, exp_id, "email_quality", other)) == 4


def test_a_judgement_asked_inside_a_run_joins_none_of_the_run_s_records(store: Store) -> None:
    """Judging as runs finish (later: `run --judge`) happens inside a run's context: the
    judge's calls must not join that run's replay log, nor its retries the run's count."""
    import asyncio

    from orchlab.core.errors import RETRY_COUNTER
    from orchlab.judging import ajudge_runs
    from orchlab.measure.calls import CURRENT, RunCalls

    exp_id = run_sales(store)
    calls, retries = RunCalls(("code", "dana-acme", 0)), [0]

    async def inside_a_run() -> list[Judgement]:
        CURRENT.set(calls)
        RETRY_COUNTER.set(retries)
        return await ajudge_runs(store, exp_id, "email_quality", judge_backend())

    assert len(asyncio.run(inside_a_run())) == 4
    assert calls.log == [] and calls.asked == {} and retries == [0]


@pytest.mark.parametrize("reply", ["Great email, 5/5!",
                                   json.dumps({"explanation": "Superb.", "score": 9}),
                                   json.dumps({"explanation": "No score."})],
                         ids=["not-json", "off-scale", "no-score"])
def test_a_reply_that_is_no_verdict_is_the_judges_failure(store: Store, reply: str) -> None:
    exp_id = run_sales(store)
    before = run_rows(store, exp_id)
    made = judge_runs(store, exp_id, "email_quality", judge_backend(reply))
    assert [(j.status, j.error_class, j.score, j.label) for j in made] == [
        ("error", "judge_malformed", None, None)] * 4
    assert all(j.error_message and j.input_tokens == JUDGE_USAGE[0] for j in made)
    pd.testing.assert_frame_equal(run_rows(store, exp_id)[0], before[0])
    # a failed judgement is stored (its key is judged), so a second pass asks nothing again
    assert judge_runs(store, exp_id, "email_quality", judge_backend()) == []


def test_a_model_failure_is_judge_error(store: Store) -> None:
    exp_id = run_sales(store)

    def failing() -> list[Any]:
        return [RuntimeError("the judge's server went away")]

    backend = scripted_backend({"judge_email_quality": failing}, backend_id=JUDGE_ID,
                               model_name=JUDGE_MODEL)
    made = judge_runs(store, exp_id, "email_quality", backend)
    assert {(j.status, j.error_class) for j in made} == {("error", "judge_error")}
    assert "went away" in (made[0].error_message or "")


def test_pass_fail_judgements_score_one_and_zero() -> None:
    judge = RubricJudge("ok", "j", sees=("final_output",), question="Is it fine?")
    assert judge.pass_fail and judge.describe_scale() == "pass/fail"
    from orchlab.judging import reply_type

    verdicts = reply_type(None)
    assert set(verdicts.model_fields) == {"explanation", "passed"}
    assert set(reply_type((1, 5)).model_fields) == {"explanation", "score"}


def test_a_score_off_the_judges_scale_cannot_be_replied() -> None:
    """The reply type's score is an enum of the scale, so a provider's structured output and
    the embedded model's grammar both exclude a score off it (the SmolLM2 judge answered 10 on
    a 1-5 scale when any integer was allowed)."""
    from pydantic import ValidationError

    from orchlab.backends.local_grammar import reply_gbnf
    from orchlab.judging import reply_type

    verdict = reply_type((1, 5))
    schema = verdict.model_json_schema()
    assert schema["properties"]["score"]["enum"] == [1, 2, 3, 4, 5]
    assert verdict.model_validate({"explanation": "ok", "score": 5}).score == 5  # type: ignore[attr-defined]
    with pytest.raises(ValidationError):
        verdict.model_validate({"explanation": "too good", "score": 10})
    grammar = reply_gbnf(schema)
    assert '"1" | "2" | "3" | "4" | "5"' in grammar and '"10"' not in grammar
    assert reply_type((0, 10)).model_json_schema()["properties"]["score"]["enum"] == list(
        range(11))


def test_export_and_import_carry_the_judgements(tmp_path: Path, any_store: Store) -> None:
    source = Store(tmp_path / "source.sqlite")
    try:
        exp_id = run_sales(source)
        judge_runs(source, exp_id, "email_quality", judge_backend(), repeat=2)
        text = export.to_json(source, exp_id)
        document = json.loads(text)
        assert document["version"] == export.FILE_VERSION == 4
        assert [len(r["judgements"]) for r in document["runs"]] == [2] * 4
        assert "judgements" not in export.to_csv(source, exp_id).splitlines()[0]

        result = importer.import_file(any_store, text.encode("utf-8"))
        assert result.experiment_id == exp_id
        assert any_store.judgements_of(exp_id) == source.judgements_of(exp_id)
        assert export.to_json(any_store, exp_id) == text  # the round trip is byte for byte

        # into the same store again: new ids throughout, the judgements follow their runs
        moved = importer.import_file(any_store, text.encode("utf-8"))
        assert moved.experiment_id != exp_id and moved.notice
        new = any_store.judgements_of(moved.experiment_id)
        runs = set(any_store.load_runs([moved.experiment_id])["run_id"])
        assert len(new) == 8 and {j.run_id for j in new} == runs
        old_ids = {j.judgement_id for j in source.judgements_of(exp_id)}
        assert not old_ids & {j.judgement_id for j in new}
        assert [j.score for j in new] == [4.0] * 8
    finally:
        source.close()


def test_copy_store_carries_the_judgements(tmp_path: Path) -> None:
    from orchlab.store.copying import copy_store

    with contextlib.closing(Store(tmp_path / "a.sqlite")) as source, \
            contextlib.closing(Store(tmp_path / "b.sqlite")) as target:
        exp_id = run_sales(source)
        judge_runs(source, exp_id, "email_quality", judge_backend())
        copy_store(source, target)
        assert target.judgements_of(exp_id) == source.judgements_of(exp_id) != []


def test_an_older_file_without_judgements_still_imports(tmp_path: Path, store: Store) -> None:
    source = Store(tmp_path / "source.sqlite")
    try:
        exp_id = run_sales(source)
        document = json.loads(export.to_json(source, exp_id))
    finally:
        source.close()
    document["version"] = 2
    for run in document["runs"]:
        del run["judgements"]
    result = importer.import_file(store, json.dumps(document).encode("utf-8"))
    assert result.runs == 4 and store.judgements_of(exp_id) == []
    document["version"] = 3  # a file of this version must say it has none
    with pytest.raises(importer.ImportFileError, match="has no list of judgements"):
        importer.read_file(json.dumps(document).encode("utf-8"), "f.json")


def test_an_imported_judgement_of_another_run_is_refused(tmp_path: Path) -> None:
    source = Store(tmp_path / "source.sqlite")
    try:
        exp_id = run_sales(source)
        judge_runs(source, exp_id, "email_quality", judge_backend())
        document = json.loads(export.to_json(source, exp_id))
    finally:
        source.close()
    first, second = document["runs"][0], document["runs"][1]
    first["judgements"][0]["run_id"] = second["run_id"]
    with pytest.raises(importer.ImportFileError, match="not the run it is listed in"):
        importer.read_file(json.dumps(document).encode("utf-8"), "f.json")


def test_deleting_an_experiment_deletes_its_judgements(any_store: Store) -> None:
    exp_id = run_sales(any_store)
    judge_runs(any_store, exp_id, "email_quality", judge_backend())
    any_store.delete_experiment(exp_id)
    assert any_store.load_judgements([exp_id]).empty


# -- what a judge sees -----------------------------------------------------------------------

def a_run(**changes: Any) -> RunToJudge:
    values: dict[str, Any] = dict(
        run_id="r1", input_label="T-101 VPN drops", final_output="Root cause: the clock.",
        input_data={"title": "VPN drops every 10 minutes"},
        ground_truth={"root_cause": "clock drift", "kb_article": "KB-101"},
        outbox=[{"to": "dana@x.example", "subject": "Hello", "body": "Hi Dana"}],
        tool_results=[("get_forecast", '{"city": "Oslo"}', '{"temperature_max_c": 12}')])
    return RunToJudge(**(values | changes))


@pytest.mark.parametrize(("sees", "shown", "hidden"), [
    (("input", "final_output"), ["VPN drops every", "Root cause: the clock."],
     ["clock drift", "KB-101", "Hi Dana", "temperature_max_c"]),
    (("final_output", "ground_truth"), ["Root cause", "clock drift", "KB-101"],
     ["VPN drops every", "Hi Dana"]),
    (("input", "outbox"), ["VPN drops every", "To: dana@x.example", "Hi Dana"],
     ["Root cause", "clock drift"]),
    (("final_output", "tool_results"), ["get_forecast", "temperature_max_c"],
     ["VPN drops every", "clock drift", "Hi Dana"]),
])
def test_the_prompt_holds_exactly_what_the_judge_sees(
        sees: tuple[str, ...], shown: list[str], hidden: list[str]) -> None:
    judge = RubricJudge("j", "judge_j", sees=sees, question="Is it right?", scale=(1, 5))
    prompt = judge_prompt(judge, a_run())
    assert prompt.startswith("Question: Is it right?\nAnswer with a whole number from 1")
    assert all(text in prompt for text in shown), prompt
    assert not any(text in prompt for text in hidden), prompt


def test_a_judge_that_sees_only_the_input_never_reads_the_ticket_s_ground_truth(
        store: Store) -> None:
    """troubleshooting's inputs carry their answer key; helpfulness must not be shown it,
    correctness must (checked through the prompts the scripted judges received)."""
    scenario = get_scenario("troubleshooting")
    assert scenario.ground_truth == ("root_cause", "kb_article", "should_escalate")
    item = scenario.input("T-101")
    run = RunToJudge("r", item.label, {k: v for k, v in item.data.items()
                                       if k not in scenario.ground_truth},
                     {k: item.data[k] for k in scenario.ground_truth}, "Restart the clock.",
                     [], [])
    helpful = judge_prompt(scenario.judge("helpfulness"), run)
    correct = judge_prompt(scenario.judge("correctness"), run)
    truth = item.data["root_cause"]
    assert truth not in helpful and "KB-101" not in helpful
    assert truth in correct and "KB-101" in correct and item.data["description"] in correct


def test_ground_truth_comes_from_the_scenario_when_the_stored_row_lacks_it(
        store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    """An experiment stored before the scenario named its ground truth holds rows without it:
    the correctness judge reads the scenario's own answer key for that input; with none
    anywhere, it refuses in one sentence and asks no model."""
    from troubleshooting_scripts import troubleshooting_backend

    scenario = get_scenario("troubleshooting")
    item = scenario.input("T-101")
    plain = {k: v for k, v in item.data.items() if k not in scenario.ground_truth}
    spec = ExperimentSpec("troubleshooting", forms=["code"], inputs=["T-101"],
                          input_rows=[{"id": "T-101", "label": item.label, "data": plain}])
    exp_id = run_experiment(spec, store, backend=troubleshooting_backend("T-101")).experiment_id
    backend = scripted_backend({"judge_correctness": verdict(json.dumps(
        {"explanation": "Names the clock and KB-101.", "passed": True}))},
        backend_id=JUDGE_ID, model_name=JUDGE_MODEL)

    monkeypatch.setattr(scenario, "inputs", [replace(i, data={
        k: v for k, v in i.data.items() if k not in scenario.ground_truth})
        for i in scenario.inputs])
    with pytest.raises(ScenarioError) as info:
        judge_runs(store, exp_id, "correctness", backend)
    assert str(info.value) == ("Judge 'correctness' reads the ground truth, but input "
                               f"'T-101' of {exp_id} has no 'root_cause'.")
    assert store.load_judgements([exp_id]).empty

    monkeypatch.undo()
    (made,) = judge_runs(store, exp_id, "correctness", backend)
    assert (made.score, made.label) == (1.0, "pass")
    asked = next(s.input or "" for s in made.spans if s.kind == "generation")
    assert item.data["root_cause"][:40] in asked and "KB-101" in asked


# -- declarations and agent files ------------------------------------------------------------

def test_the_bundled_judges_and_their_agent_files() -> None:
    expected = {"sales_email": {"email_quality": (1, 5)}, "weather": {"faithfulness": None},
                "troubleshooting": {"helpfulness": (1, 5), "correctness": None}}
    pairwise = {"sales_email": ["email_preference"], "weather": [], "troubleshooting": []}
    for name, judges in expected.items():
        scenario = get_scenario(name)
        assert {j.name: j.scale for j in scenario.rubric_judges} == judges
        assert [j.name for j in scenario.pairwise_judges] == pairwise[name]
        assert len(scenario.judges) == len(judges) + len(pairwise[name])
        files = load_judge_agents(name, scenario.agents_home)
        for judge in scenario.judges:
            definition = judge_definition(scenario, judge)
            assert files[judge.agent] is not None and definition.judge
            assert definition.tools == [] and definition.handoffs == []
            assert definition.model_settings["temperature"] <= 0.2
            assert definition.model_settings["max_tokens"] <= 300
        # the forms never build a judge; the Agents page lists (and edits) every file
        run_agents = load_scenario_agents(name, set(scenario.tools()), None,
                                          scenario.agents_home)
        assert not set(files) & set(run_agents)
        assert set(agent_sources(name, scenario.agents_home)) == set(files) | set(run_agents)
        assert set(agent_sources(name, scenario.agents_home, judges=False)) == set(run_agents)
    assert get_scenario("weather").judge("faithfulness").sees == (
        "input", "final_output", "tool_results")


def test_scenario_judge_lookup_is_one_sentence() -> None:
    with pytest.raises(ScenarioError) as info:
        get_scenario("troubleshooting").judge("tone")
    assert str(info.value) == ("Scenario 'troubleshooting' has no judge 'tone'; judges: "
                               "helpfulness, correctness.")


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"sees": ()}, "must see one or more of"),
    ({"sees": ("logs",)}, "not 'logs'"),
    ({"scale": (5, 1)}, "low < high"),
    ({"question": "two\nlines"}, "one line"),
])
def test_a_judge_declaration_that_cannot_work_is_refused(kwargs: dict[str, Any],
                                                         message: str) -> None:
    values: dict[str, Any] = {"sees": ("final_output",), "question": "Good?"} | kwargs
    with pytest.raises(ScenarioError, match=message):
        RubricJudge("j", "judge_j", **values)


def test_a_judge_is_edited_in_its_file_never_in_a_variant(tmp_path: Path) -> None:
    """A variant is what runs read; a judge's prompt is read by judging alone, from its file:
    a variant holding a judge would change nothing, so it is refused, and the file is
    overwritten instead (a new prompt version). No edit turns an agent into a judge or back."""
    import shutil

    from orchlab.scenario.agentdefs import overwrite_shipped

    scenario = get_scenario("sales_email")
    home, tools = tmp_path / "agents", set(scenario.tools())
    shutil.copytree(scenario.agents_home / "sales_email", home / "sales_email")
    judge_text = agent_sources("sales_email", home)["judge_email_quality"].read_text("utf-8")
    edited = judge_text.replace("one sentence", "two sentences")
    with pytest.raises(AgentDefError, match="a judge's prompt is not part of a variant"):
        check_variant("sales_email", tools, {"judge_email_quality": edited}, home)
    with pytest.raises(AgentDefError, match="field 'judge' must stay true"):
        overwrite_shipped("sales_email", "judge_email_quality",
                          judge_text.replace("judge: true\n", ""), tools, home)
    picker = agent_sources("sales_email", home)["picker"].read_text("utf-8")
    with pytest.raises(AgentDefError, match="field 'judge' must stay false"):
        check_variant("sales_email", tools, {"picker": picker.replace(
            "name: picker\n", "name: picker\njudge: true\n")}, home)

    judge = scenario.judge("email_quality")
    before = prompt_version(judge, load_judge_agents("sales_email", home)["judge_email_quality"])
    overwrite_shipped("sales_email", "judge_email_quality", edited, tools, home)
    after = prompt_version(judge, load_judge_agents("sales_email", home)["judge_email_quality"])
    assert before == prompt_version(judge, judge_definition(scenario, judge)) != after


# -- the command line ------------------------------------------------------------------------

def test_the_cli_prints_each_judgement_and_the_mean_per_form(
        store_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    store = Store(store_path)
    try:
        exp_id = run_sales(store)
    finally:
        store.close()
    code, out, err = run_cli(capsys, "judge", exp_id, "--judge", JUDGE_ID, "--repeat", "2",
                         "--store", str(store_path))
    assert code == 0, err
    lines = out.splitlines()
    assert sum(" email_quality k=" in line for line in lines) == 8
    assert all(f"4: {EXPLANATION}" in line for line in lines if " k=" in line)
    assert lines[8].startswith(f"email_quality (1-5) on {JUDGE_ID}, prompt ")
    assert lines[9:] == ["  code       mean 4.00  (n=4, 2 runs)",
                         "  llm        mean 4.00  (n=4, 2 runs)"]
    code, out, err = run_cli(capsys, "judge", exp_id[:12], "--judge", JUDGE_ID, "--store",
                         str(store_path))
    assert code == 0 and " k=" not in out and "(n=4, 2 runs)" in out  # nothing new to judge


@pytest.mark.parametrize(("argv", "sentence"), [
    (["--rubric", "tone"], "error: Scenario 'sales_email' has no judge 'tone'; judges: "
                           "email_quality.\n"),
    (["--repeat", "0"], "error: --repeat must be 1 to 100; got 0.\n"),
    (["--judge", "nosuch:model"], "error: Unknown backend prefix 'nosuch' in 'nosuch:model'; "),
])
def test_the_cli_refuses_in_one_sentence_and_stores_nothing(
        store_path: Path, capsys: pytest.CaptureFixture[str], argv: list[str],
        sentence: str) -> None:
    store = Store(store_path)
    try:
        exp_id = run_sales(store)
    finally:
        store.close()
    code, out, err = run_cli(capsys, "judge", exp_id, "--judge", JUDGE_ID, *argv, "--store",
                         str(store_path))
    assert (code, out) == (2, "") and err.startswith(sentence) and err.count("\n") == 1
    code, out, err = run_cli(capsys, "judge", "exp-nosuch", "--judge", JUDGE_ID, "--store",
                         str(store_path))
    assert (code, out, err) == (2, "", "error: No single experiment matches 'exp-nosuch'; "
                                       "see `python -m orchlab list`.\n")
    store = Store(store_path)
    try:
        assert store.load_judgements([exp_id]).empty
    finally:
        store.close()


def test_a_judgement_record_is_a_dataclass_with_documented_fields() -> None:
    import dataclasses

    names = [f.name for f in dataclasses.fields(Judgement)]
    assert names[:8] == ["judgement_id", "run_id", "experiment_id", "judge", "backend",
                         "model", "prompt_version", "repetition"]
    assert names[-3:] == ["latency_ms", "created_at", "spans"]


@pytest.mark.real_model
def test_one_judgement_on_the_embedded_model(store: Store) -> None:
    """A real pass, shown as what it is: SmolLM2-135M is a poor judge (it often loops past its
    max_tokens), so its judgement may be a classified judge_malformed; either way the tokens
    are llama.cpp's own count for the judgement's trace, the cost is the local $0, and the run
    is unchanged."""
    from real_model import llama_counts

    from orchlab.backends import resolve

    spec = ExperimentSpec("sales_email", forms=["code"], inputs=["dana-acme"],
                          backend="scripted:sales")
    exp_id = run_experiment(spec, store, backend=sales_backend()).experiment_id
    before = run_rows(store, exp_id)
    backend = resolve("local:smollm2-135m")
    (made,) = judge_runs(store, exp_id, "email_quality", backend)
    print(f"\nsmollm2 judged: {made.status} {made.error_class} {made.label} "
          f"{made.input_tokens}+{made.output_tokens} tokens, {made.latency_ms:.0f} ms")
    assert made.status == "ok" or made.error_class == "judge_malformed", made.error_message
    assert [made.input_tokens, made.output_tokens] == llama_counts(
        backend.model_for("any"))[made.judgement_id]
    assert made.cost_usd == 0.0 and made.backend == "local:smollm2-135m"
    pd.testing.assert_frame_equal(run_rows(store, exp_id)[0], before[0])
