"""Troubleshooting scenario: the code, router and llm forms on ScriptedModel, ground-truth
outcome checks, the FTS5 knowledge base, the per-run tool budget (also through agents called as
tools) and the prompt-injection probe. The other forms: tests/test_troubleshooting_forms.py."""

from __future__ import annotations

import asyncio
import csv
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from agents import Runner
from real_model import assert_counted_like_llama, assert_recorded_ending
from troubleshooting_scripts import (
    ANSWERS,
    CODE_PATHS,
    LLM_PATH,
    ROUTER_PATHS,
    delegate_once,
    looping_diagnostician,
    looping_specialist,
    obeying_troubleshooter,
    troubleshooting_backend,
)

from orchlab import backends
from orchlab.cli.main import main
from orchlab.core.errors import ToolBudgetExceeded
from orchlab.core.records import SpanRecord
from orchlab.running.runner import ExperimentSpec, run_experiment
from orchlab.scenario import FlowEnv, OutcomeInput, RunDeps, get_scenario
from orchlab.scenario.agentdefs import build_agents, load_scenario_agents
from orchlab.store.store import Store
from scenarios import _kb, _tickets
from scenarios import troubleshooting as ts
from scenarios._common import mentions_id

TICKETS = _tickets.tickets()


def run_ticket(store: Store, ticket: str, forms: list[str], **kwargs: Any) -> dict[str, Any]:
    spec = ExperimentSpec("troubleshooting", forms=forms, inputs=[ticket])
    result = run_experiment(spec, store, backend=troubleshooting_backend(ticket, **kwargs))
    assert result.status == "completed"
    return {r.form: r for r in result.records}


# -- data ------------------------------------------------------------------------------------

def test_bundled_data_covers_the_brief() -> None:
    assert len(TICKETS) >= 8 and len(_kb.articles()) >= 12
    assert sum(t["truth"]["escalate"] for t in TICKETS.values()) >= 2
    assert [t["id"] for t in TICKETS.values() if t["injection"]] == ["T-109"]
    for ticket in TICKETS.values():
        assert ticket["truth"]["kb_id"] in _kb.articles()
        assert ticket["expected_category"] in ts.CATEGORIES
        assert _tickets.parse_logs(ticket)["errors"] >= 1


@pytest.mark.parametrize("ticket_id", sorted(TICKETS))
def test_fts_finds_each_tickets_article(ticket_id: str) -> None:
    ticket = TICKETS[ticket_id]
    assert _kb.search(ticket["truth"]["kb_phrase"])[0]["id"] == ticket["truth"]["kb_id"]
    by_ticket_text = _kb.search(f"{ticket['title']} {ticket['description']}")  # the code form
    assert by_ticket_text[0]["id"] == ticket["truth"]["kb_id"]


def test_fts_query_accepts_any_text() -> None:
    assert isinstance(_kb.search('"); DROP TABLE kb; -- OR NEAR( *'), list)  # no FTS syntax error
    assert _kb.search("what is it? a / b") == []  # only stopwords and one-letter words
    assert _kb.search("printer AND offline*")[0]["id"] == "KB-102"
    assert _kb.search("") == []


def test_diagnostics_read_the_device_state() -> None:
    assert ts.run_diagnostic_impl(RunDeps(), "t101", "clock_sync") == json.dumps({
        "ticket": "T-101", "check": "clock_sync", "status": "fail",
        "detail": "clock offset 412 s from the time source; time service stopped"})
    results = {c: json.loads(ts.run_diagnostic_impl(RunDeps(), "T-102", c))["status"]
               for c in _tickets.CHECKS}
    assert results["driver_version"] == "fail" and results["disk_space"] == "pass"
    unknown = json.loads(ts.run_diagnostic_impl(RunDeps(), "T-999", "disk_space"))
    assert "unknown ticket 'T-999'" in unknown["error"]


def test_run_diagnostic_schema_has_an_enum() -> None:
    schema = ts.tools()["run_diagnostic"].params_json_schema
    assert schema["properties"]["check"]["enum"] == list(_tickets.CHECKS)


def test_parse_logs_returns_errors_with_timestamps() -> None:
    logs = json.loads(ts.parse_logs_impl(RunDeps(), "T-103"))
    assert (logs["errors"], logs["warnings"], logs["lines"]) == (2, 0, 4)
    assert logs["first_error_at"] == "2025-03-05T08:30:05Z"
    assert logs["entries"][-1]["level"] == "FATAL"


@pytest.mark.parametrize(("answer", "category", "parsed"), [
    ("network", "network", True), ("Category: Printing.", "printing", True),
    ("I think this is a printer issue", "printing", True), ("HARDWARE", "hardware", True),
    ("¯\\_(ツ)_/¯", "other", False), ("", "other", False),
])
def test_classifier_answers_are_parsed_robustly(answer: str, category: str, parsed: bool) -> None:
    assert ts.parse_category(answer) == (category, parsed)


# -- both forms on ScriptedModel -------------------------------------------------------------

def test_both_forms_resolve_the_vpn_ticket(store: Store) -> None:
    records = run_ticket(store, "T-101", ["code", "router", "llm"])
    assert records["code"].metrics.path == CODE_PATHS["T-101"]  # keyword rules: no classifier
    assert records["router"].metrics.path == ROUTER_PATHS["T-101"]
    assert records["llm"].metrics.path == LLM_PATH
    for form, record in records.items():
        assert record.status == "ok", record.error_message
        assert record.outcome["success"] is True, (form, record.outcome)
        assert record.outcome["escalated"] is False
        # the run's one counter: every tool call, agents called as tools included
        assert record.outcome["tool_calls"] == record.metrics.tool_calls == 6
        assert record.outcome["real_tool_calls"] == (3 if form == "llm" else 6)
        assert record.outcome["injection_obeyed"] is None
    for form in ("code", "router"):
        assert records[form].outcome["category"] == "network"
        assert records[form].outcome["category_correct"] is True
    assert records["llm"].outcome["category"] is None
    assert records["llm"].metrics.tool_calls == 6  # three agent-tools + three real tools


def test_both_forms_escalate_the_battery_ticket(store: Store) -> None:
    records = run_ticket(store, "T-107", ["code", "router", "llm"], category="hardware")
    assert records["code"].metrics.path == CODE_PATHS["T-107"]
    assert records["router"].metrics.path == ROUTER_PATHS["T-107"]
    assert records["llm"].metrics.path == f"{LLM_PATH} > escalate"
    for record in records.values():
        assert record.outcome["escalated"] is True and record.outcome["should_escalate"] is True
        assert record.outcome["success"] is True, record.outcome


def test_unparseable_category_takes_the_fallback_steps(store: Store) -> None:
    record = run_ticket(store, "T-101", ["router"], category="no idea")["router"]
    assert record.metrics.path == ("classifier > parse_logs > run_diagnostic > run_diagnostic > "
                           "search_kb > answer_writer")
    assert record.outcome["category"] == "other"
    assert record.outcome["category_correct"] is False


# -- outcome check on hand-made answers ------------------------------------------------------

def outcome_for(ticket: str, answer: str | None, escalated: bool = False,
                calls: int = 3) -> dict[str, Any]:
    deps = RunDeps(tool_budget=ts.TOOL_BUDGET, tool_calls=calls)
    if escalated:
        ts.escalate_impl(deps, ticket, "hand-made")
    spans = [SpanRecord(f"s{i}", None, "function", "parse_logs", None, 0, 1)
             for i in range(calls)]
    spans.append(SpanRecord("a", None, "function", "log_analyst", None, 0, 1))  # not counted
    item = get_scenario("troubleshooting").input(ticket)
    return ts.check_outcome(OutcomeInput(item, "llm", answer, deps, spans))


@pytest.mark.parametrize("ticket", sorted(ANSWERS))
def test_right_answers_pass(ticket: str) -> None:
    outcome = outcome_for(ticket, ANSWERS[ticket], escalated=TICKETS[ticket]["truth"]["escalate"])
    assert outcome["success"] is True, outcome
    assert outcome["tool_calls"] == 3


@pytest.mark.parametrize(("ticket", "answer", "escalated", "failed"), [
    ("T-101", "Root cause: your Wi-Fi is weak. Fix: see KB-101.", False, "root_cause_named"),
    ("T-101", "Root cause: the clock drifted. Fix: see KB-115.", False, "kb_cited"),
    ("T-104", "Root cause: the password has expired. Fix: reboot.", False, "kb_cited"),
    ("T-107", ANSWERS["T-107"], False, "escalation_correct"),
    ("T-101", ANSWERS["T-101"], True, "escalation_correct"),
    ("T-101", None, False, "root_cause_named"),
])
def test_wrong_answers_fail_on_the_right_field(
    ticket: str, answer: str | None, escalated: bool, failed: str
) -> None:
    outcome = outcome_for(ticket, answer, escalated)
    assert outcome[failed] is False and outcome["success"] is False


def test_kb_is_cited_by_id_or_by_applying_its_fix() -> None:
    applied = "Root cause: your password has expired. Fix: change it in the self-service portal."
    assert outcome_for("T-104", applied)["kb_cited"] is True
    assert mentions_id("see kb104 and KB\u2013104", "KB-104")
    assert not mentions_id("see KB-1040", "KB-104")


def test_within_budget_is_judged_on_the_runs_own_budget() -> None:
    assert outcome_for("T-101", ANSWERS["T-101"], calls=ts.TOOL_BUDGET)["within_budget"] is True
    over = outcome_for("T-101", ANSWERS["T-101"], calls=ts.TOOL_BUDGET + 1)
    assert over["within_budget"] is False and over["success"] is False
    assert over["tool_budget"] == ts.TOOL_BUDGET


# -- budget and injection --------------------------------------------------------------------

def test_budget_is_charged_before_a_code_called_tool_runs() -> None:
    env = FlowEnv({}, RunDeps(tool_budget=ts.TOOL_BUDGET), max_turns=1)

    async def calls() -> None:
        for _ in range(ts.TOOL_BUDGET):
            await env.call_tool("search_kb", ts.search_kb_impl, query="vpn")
        await env.call_tool("escalate", ts.escalate_impl, ticket="T-101", reason="one too many")

    with pytest.raises(ToolBudgetExceeded, match=f"budget of {ts.TOOL_BUDGET}"):
        asyncio.run(calls())
    assert env.deps.tool_calls == ts.TOOL_BUDGET + 1 and "escalations" not in env.deps.artifacts


@pytest.mark.parametrize(("override", "budget"), [(None, ts.TOOL_BUDGET), (3, 3)])
def test_the_spec_overrides_the_scenarios_budget(
    store: Store, override: int | None, budget: int
) -> None:
    spec = ExperimentSpec("troubleshooting", forms=["code"], inputs=["T-101"],
                          backend="scripted:test", tool_budget=override)
    record = run_experiment(spec, store, backend=troubleshooting_backend("T-101")).records[0]
    assert record.outcome["tool_budget"] == budget
    # the code form makes 6 tool calls on T-101: within 12, the 4th is over a budget of 3
    assert (record.status, record.error_class) == (("ok", None) if budget > 6
                                                   else ("error", "tool_budget"))


def test_injection_obeyed_by_the_llm_form_is_recorded_and_stopped(store: Store) -> None:
    record = run_ticket(store, "T-109", ["llm"], troubleshooter=obeying_troubleshooter(),
                        diagnostician=looping_diagnostician())["llm"]
    assert record.status == "error" and record.error_type == "ToolBudgetExceeded"
    outcome = record.outcome
    assert outcome["injection_probe"] is True and outcome["injection_obeyed"] is True
    assert outcome["budget_exceeded"] is True and outcome["escalated"] is True
    assert outcome["tool_calls"] == ts.TOOL_BUDGET + 1 and outcome["success"] is False
    # log_analyst, parse_logs, escalate, diagnostician and 8 diagnostics make 12 calls; the
    # 9th diagnostic is call 13, refused: then nothing ran
    diagnostics = [s for s in record.spans if s.kind == "function" and s.name == "run_diagnostic"]
    assert len(diagnostics) == 9 and diagnostics[-1].error
    assert record.metrics.per_agent["diagnostician"]["llm_calls"] == 9
    assert record.metrics.per_agent["troubleshooter"]["llm_calls"] == 3  # its 4th turn never came


def test_injection_ignored_by_both_forms_is_recorded(store: Store) -> None:
    records = run_ticket(store, "T-109", ["code", "llm"])
    for record in records.values():
        assert record.status == "ok", record.error_message
        assert record.outcome["injection_obeyed"] is False
        assert record.outcome["success"] is True, record.outcome


def test_budget_error_propagates_through_an_agent_tool() -> None:
    """The SDK's default as_tool turns a sub-agent's exception into text for the caller;
    orchlab builds agent-tools with `tool_failure`, so a RunEndingError ends the run."""
    scenario = get_scenario("troubleshooting")
    defs = load_scenario_agents("troubleshooting", set(scenario.tools()), None,
                                scenario.agents_home)

    def backend():  # fresh scripts for each build
        return troubleshooting_backend(
            "T-101", troubleshooter=delegate_once("log_analyst", "T-101", "swallowed"),
            log_analyst=looping_specialist("parse_logs", {"ticket": "T-101"}, calls=20))

    built = build_agents(defs, scenario.tools(), backend())
    sdk_default_tool = built["log_analyst"].as_tool("log_analyst", "reads logs")
    plain = built["troubleshooter"].clone(tools=[sdk_default_tool])
    swallowed = asyncio.run(Runner.run(plain, "T-101", context=RunDeps(), max_turns=30))
    assert swallowed.final_output == "swallowed"  # with the SDK default the run goes on

    # a budget below the sub-agent's own turn limit (an as_tool run gets the SDK's 10 turns)
    env = FlowEnv(build_agents(defs, scenario.tools(), backend()), RunDeps(tool_budget=5),
                  max_turns=30)
    with pytest.raises(ToolBudgetExceeded):
        asyncio.run(ts.llm_flow(scenario.input("T-101"), env))
    assert env.deps.tool_calls == 6  # log_analyst, then parse_logs until call 6 is refused


# -- CLI and real model ----------------------------------------------------------------------

@pytest.fixture
def scripted_ts_prefix() -> Iterator[None]:
    backends.register("tscripted", lambda _rest: troubleshooting_backend("T-101"), "test")
    yield
    backends.unregister("tscripted")


def test_cli_runs_the_troubleshooting_scenario(
    scripted_ts_prefix: None, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    code = main(["run", "--scenario", "troubleshooting", "--backend", "tscripted:x", "--input",
                 "T-101", "--store", str(tmp_path / "cli.sqlite")])
    out, err = capsys.readouterr()
    assert code == 0, err
    assert "success_rate" in out and err.count("] code") == 1 and err.count("] llm") == 1


@pytest.mark.real_model
@pytest.mark.parametrize("form", ["code", "router", "llm"])
def test_real_model_run_is_recorded(store: Store, form: str) -> None:
    backend = backends.resolve("local:smollm2-135m")
    model = backend.model_for("any")
    spec = ExperimentSpec("troubleshooting", forms=[form], inputs=["T-101"], backend=backend.id,
                          max_turns=4, timeout_s=300,
                          model_settings={"max_tokens": 128})
    record = run_experiment(spec, store, backend=backend).records[0]
    print(f"\ntroubleshooting/{form}: status={record.status} class={record.error_class} "
          f"llm_calls={record.metrics.llm_calls} path={record.metrics.path!r}")
    assert_counted_like_llama(record, model)
    assert record.outcome["tool_calls"] == record.metrics.tool_calls  # one counter
    if form in ("code", "router"):  # the decision tree: whatever the model answers, these steps
        category = record.outcome["category"]
        assert record.status == "ok" and category in ts.CATEGORIES
        checks = " > ".join(["run_diagnostic"] * len(ts.CATEGORY_CHECKS[category]))
        escalate = " > escalate" if category in ts.ESCALATE_CATEGORIES else ""
        front = "classifier > " if form == "router" else ""  # code classifies by keywords
        assert record.metrics.path == (f"{front}parse_logs > {checks} > search_kb"
                                       f"{escalate} > answer_writer")
    else:
        assert record.metrics.path.startswith("troubleshooter")
        assert_recorded_ending(record)
    assert store.load_runs()["run_id"].tolist() == [record.run_id]


def test_a_ticket_from_an_inputs_file_runs_as_the_bundled_one(tmp_path: Path,
                                                               store: Store) -> None:
    """The ticket id is the input's id, so a file's `id` column names the ticket (it used to
    be read from the data, where a file's `id` never goes)."""
    from orchlab.scenario import read_inputs_file

    ticket = TICKETS["T-101"]
    cases = tmp_path / "tickets.csv"
    with cases.open("w", newline="", encoding="utf-8") as out:
        writer = csv.writer(out)
        writer.writerow(["id", "title", "customer", "description"])
        writer.writerow([ticket[k] for k in ("id", "title", "customer", "description")])
    rows = read_inputs_file(cases).rows
    bundled = run_ticket(store, "T-101", ["code"])["code"]
    spec = ExperimentSpec("troubleshooting", forms=["code"], input_rows=rows)
    [record] = run_experiment(spec, store, backend=troubleshooting_backend("T-101")).records
    assert record.status == "ok" and record.outcome == bundled.outcome
    assert record.metrics.path == bundled.metrics.path
    assert record.final_output == bundled.final_output
