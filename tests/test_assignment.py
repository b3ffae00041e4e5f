"""A model per agent (issue 28): an assignment sends named agents to other backends than the
run's. Two OpenAI-compatible servers on 127.0.0.1 answer as different models; each server
counts, by the agent's own instructions, which agents asked it, so the test sees on the
servers' side that every agent's calls went where the assignment sent them. The store, an
export/import round trip and a replay carry the assignment; Compare and `summary` treat it as
one more factor; a bad assignment is one sentence and stores nothing."""

from __future__ import annotations

import asyncio
import dataclasses
import json
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from orchlab.backends import Backend
from orchlab.cli.main import main
from orchlab.core.errors import BackendError, SpecError
from orchlab.running.execution import run_slots
from orchlab.running.runner import ExperimentSpec, run_experiment
from orchlab.running.spec import assignment_name, parse_agent_backends, prepare, replay_spec
from orchlab.scenario import get_scenario
from orchlab.scenario.agentdefs import load_scenario_agents
from orchlab.stats import analysis, findings, summary
from orchlab.store import export, importer
from orchlab.store.store import Store
from orchlab.testing.devserver import FakeOpenAIServer, policy_reply
from orchlab.testing.ports import free_port

WRITERS = ("professional_writer", "humorous_writer", "concise_writer")


class AgentCounter:
    """A server's policy that also counts which agent asked, by its system text."""

    def __init__(self) -> None:
        scenario = get_scenario("sales_email")
        defs = load_scenario_agents("sales_email", set(scenario.tools()), None,
                                    scenario.agents_home)
        self.by_text = {d.instructions.strip()[:200]: name for name, d in defs.items()}
        self.asked: Counter[str] = Counter()

    def __call__(self, request: dict[str, Any]) -> dict[str, Any]:
        system = next((str(m.get("content") or "") for m in request.get("messages", [])
                       if m.get("role") in ("system", "developer")), "")
        self.asked[self.by_text.get(system.strip()[:200], "?")] += 1
        return policy_reply(request)


@pytest.fixture
def servers() -> Iterator[tuple[FakeOpenAIServer, FakeOpenAIServer]]:
    with FakeOpenAIServer(models=("big-model",), latency_s=0.02, policy=AgentCounter()) as a, \
            FakeOpenAIServer(models=("small-model",), latency_s=0.005,
                             policy=AgentCounter()) as b:
        yield a, b


def asked(server: FakeOpenAIServer) -> Counter[str]:
    policy = server.policy
    assert isinstance(policy, AgentCounter)
    return policy.asked


def big(server: FakeOpenAIServer) -> str:
    return f"compat:big-model@{server.base_url}"


def small(server: FakeOpenAIServer) -> str:
    return f"compat:small-model@{server.base_url}"


def spec_on(a: FakeOpenAIServer, b: FakeOpenAIServer | None = None, **kwargs: Any
            ) -> ExperimentSpec:
    writers = {w: small(b) for w in WRITERS} if b is not None else {}
    choices: dict[str, Any] = {"forms": ["code", "llm"], "inputs": ["dana-acme"],
                               "repetitions": 2, **kwargs}
    return ExperimentSpec("sales_email", backend=big(a), agent_backends=writers, **choices)


@pytest.fixture
def prices(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ORCHLAB_PRICE_BIG_MODEL", "10,40")
    monkeypatch.setenv("ORCHLAB_PRICE_SMALL_MODEL", "0.1,0.4")


def test_each_agent_asks_the_server_its_assignment_names(
    store: Store, servers: tuple[FakeOpenAIServer, FakeOpenAIServer], prices: None
) -> None:
    a, b = servers
    result = run_experiment(spec_on(a, b), store)
    assert result.status == "completed" and len(result.records) == 4
    assert all(r.status == "ok" and r.outcome["success"] for r in result.records)
    on_b, on_a = asked(b), asked(a)
    assert set(on_b) == set(WRITERS)  # the writers asked B, and nothing else did
    assert not set(on_a) & set(WRITERS) and on_a["sales_manager"] > 0
    for server, mine in ((a, lambda agent: agent not in WRITERS), (b, lambda a: a in WRITERS)):
        calls = sum(f["llm_calls"] for r in result.records
                    for agent, f in r.metrics.per_agent.items() if mine(agent))
        assert server.stats.requests == calls == sum((asked(server)).values())
    for run in result.records:  # the run is the base backend's; each agent names its own
        assert run.backend == big(a)
        for agent, figures in run.metrics.per_agent.items():
            assert figures["backend"] == (small(b) if agent in WRITERS else big(a))
            rate = (0.1, 0.4) if agent in WRITERS else (10, 40)
            assert figures["cost_usd"] == pytest.approx(
                (figures["input_tokens"] * rate[0] + figures["output_tokens"] * rate[1]) / 1e6)
        assert run.metrics.cost_usd == pytest.approx(
            sum(f["cost_usd"] for f in run.metrics.per_agent.values()))
        assert "ORCHLAB_PRICE_SMALL_MODEL" in run.metrics.price_source
        assert "ORCHLAB_PRICE_BIG_MODEL" in run.metrics.price_source
    exp = store.get_experiment(result.experiment_id)
    assert exp is not None and exp.spec["agent_backends"] == {w: small(b) for w in WRITERS}
    assert exp.spec["assignment"] == "concise_writer, humorous_writer, professional_writer " \
        "on small-model"
    stored = store.load_runs([result.experiment_id])
    assert set(stored["assignment"]) == {exp.spec["assignment"]}


def test_an_assignment_survives_export_import_and_replays_offline(
    store: Store, servers: tuple[FakeOpenAIServer, FakeOpenAIServer], prices: None,
    tmp_path: Path,
) -> None:
    a, b = servers
    source = run_experiment(spec_on(a, b, assignment="writers small"), store)
    path = tmp_path / "exp.json"
    path.write_bytes(export.export_file(store, source.experiment_id, "json").data)
    fresh = Store(tmp_path / "other.sqlite")
    try:
        importer.import_file(fresh, str(path))
        again = fresh.load_runs([source.experiment_id])
        assert set(again["assignment"]) == {"writers small"}
        [imported] = fresh.list_experiments()
        assert imported.spec["agent_backends"] == {w: small(b) for w in WRITERS}
        assert [r["backend"] for r in again["per_agent"][0].values()] == [
            small(b) if agent in WRITERS else big(a) for agent in again["per_agent"][0]]
    finally:
        fresh.close()

    requests = (a.stats.requests, b.stats.requests)
    exp = store.get_experiment(source.experiment_id)
    assert exp is not None
    spec = replay_spec(exp, speed=0.0)
    assert spec.agent_backends == {} and spec.assignment == "writers small"
    replayed = run_experiment(spec, store)
    assert (a.stats.requests, b.stats.requests) == requests  # no server was asked
    original = {(r.form, r.repetition): r for r in source.records}
    for run in replayed.records:  # priced per agent as the recording was
        was = original[(run.form, run.repetition)]
        assert run.final_output == was.final_output
        assert run.metrics.cost_usd == pytest.approx(was.metrics.cost_usd)
        assert {k: f["backend"] for k, f in run.metrics.per_agent.items()} == {
            k: f["backend"] for k, f in was.metrics.per_agent.items()}
    runs = analysis.grouped(store.load_runs([source.experiment_id, replayed.experiment_id]))
    assert set(runs["group"]) == {  # one assignment: split by replay alone
        "code · original", "code · original (replay)", "llm · original",
        "llm · original (replay)"}
    assert set(runs["assignment"]) == {"writers small"}


def test_the_assignment_is_a_factor_compared_with_the_form_held(
    store: Store, servers: tuple[FakeOpenAIServer, FakeOpenAIServer], prices: None,
) -> None:
    a, b = servers
    plain = run_experiment(spec_on(a, repetitions=5), store)
    mixed = run_experiment(spec_on(a, b, repetitions=5, assignment="writers small"), store)
    runs = store.load_runs([plain.experiment_id, mixed.experiment_id])
    assert analysis.assignments_differ(runs) and not analysis.backends_differ(runs)
    grouped = analysis.grouped(runs)
    assert sorted(set(grouped["group"])) == [
        "code | no assignment", "code | writers small", "llm | no assignment",
        "llm | writers small"]
    assert analysis.pair_factor("llm | writers small", "llm | no assignment") == \
        "agent assignment"
    assert set(analysis.held_comparisons(list(set(grouped["group"])),
                                         "code | no assignment")) == {
        ("llm | writers small", "code | writers small", "form"),
        ("llm | writers small", "llm | no assignment", "agent assignment")}
    note, warn = findings.factor_note("llm | writers small", "llm | no assignment",
                                      "agent assignment")
    assert not warn and "compares the agent assignment (the form held)" in note
    result = summary.summarize_runs(grouped, "code | no assignment", by="group")
    factors = {block["group"]: block["factor"] for block in result["comparisons"]}
    assert factors["code | writers small"] == "agent assignment"
    costs = grouped.groupby("group")["cost_usd"].mean()
    assert costs["code | writers small"] < costs["code | no assignment"]  # the writers' share
    unsplit = analysis.grouped(runs, by_assignment=False)
    assert sorted(set(unsplit["group"])) == ["code", "llm"]


def test_summary_splits_by_assignment_by_default_and_on_request(
    store: Store, servers: tuple[FakeOpenAIServer, FakeOpenAIServer],
    capsys: pytest.CaptureFixture[str],
) -> None:
    a, b = servers
    base = ["--store", store.location, "run", "--scenario", "sales_email", "--forms", "code",
            "--input", "dana-acme", "--backend", big(a)]
    assert main(base) == 0
    assert main([*base, *[f"--agent-backend={w}={small(b)}" for w in WRITERS],
                 "--assignment", "writers small"]) == 0
    capsys.readouterr()
    ids = [e.experiment_id for e in store.list_experiments()]
    assert main(["--store", store.location, "summary", *ids, "--format", "json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert {b["group"] for b in result["comparisons"]} | {result["baseline"]} == {
        "code | no assignment", "code | writers small"}
    assert main(["--store", store.location, "summary", *ids, "--by", "form",
                 "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out)["comparisons"] == []  # one group: code
    assert main(["--store", store.location, "list"]) == 0
    listed = capsys.readouterr().out.splitlines()
    assert sorted(line.endswith("  | writers small") for line in listed) == [False, True]


@pytest.mark.parametrize(("assignment", "says"), [
    ({"writer": "compat:x@http://127.0.0.1:9/v1"}, "'writer', which is not an agent of "
     "sales_email"),
    ({"critic": "nonsense"}, "is not of the form <prefix>:<model>"),
])
def test_a_bad_assignment_is_one_sentence_and_nothing_is_stored(
    store: Store, assignment: dict[str, str], says: str
) -> None:
    spec = ExperimentSpec("sales_email", backend="compat:x@http://127.0.0.1:9/v1",
                          agent_backends=assignment)
    with pytest.raises(SpecError, match=says) as raised:
        run_experiment(spec, store)
    assert "\n" not in str(raised.value) and store.list_experiments() == []


def test_an_assignment_whose_backend_cannot_start_stores_nothing(
    store: Store, servers: tuple[FakeOpenAIServer, FakeOpenAIServer],
    capsys: pytest.CaptureFixture[str],
) -> None:
    a, _b = servers
    dead = f"compat:small-model@http://127.0.0.1:{free_port()}/v1"
    for target, error in ((dead, BackendError), ("nope:model", BackendError)):
        with pytest.raises(error):
            run_experiment(dataclasses.replace(spec_on(a), agent_backends={"critic": target}),
                           store)
    assert store.list_experiments() == [] and a.stats.requests == 0
    code = main(["--store", store.location, "run", "--scenario", "sales_email", "--backend",
                 big(a), "--agent-backend", "critic"])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and "AGENT=BACKEND" in err
    code = main(["--store", store.location, "run", "--scenario", "sales_email", "--backend",
                 big(a), "--agent-backend", f"critic={dead}"])
    err = capsys.readouterr().err
    last = err.strip().splitlines()[-1]
    assert code == 2 and last.startswith("error:") and dead.rpartition("@")[2] in last
    assert store.list_experiments() == []


def test_an_assignment_cannot_send_an_agent_to_a_replay(
    store: Store, servers: tuple[FakeOpenAIServer, FakeOpenAIServer]
) -> None:
    a, _b = servers
    source = run_experiment(spec_on(a), store)
    with pytest.raises(SpecError, match="a replay serves whole recorded runs"):
        run_experiment(dataclasses.replace(
            spec_on(a), agent_backends={"critic": f"replay:{source.experiment_id}"}), store)
    assert len(store.list_experiments()) == 1


def test_the_spec_names_and_checks_its_assignment() -> None:
    assert parse_agent_backends(["writer=compat:m@http://h/v1?a=b", " critic = openai:x "]) \
        == {"writer": "compat:m@http://h/v1?a=b", "critic": "openai:x"}
    with pytest.raises(SpecError, match="names 'critic' twice"):
        parse_agent_backends(["critic=a:b", "critic=a:c"])
    assert assignment_name({"planner": "openai:gpt-4.1", "critic": "local:/m/gemma.gguf",
                            "picker": "local:/m/gemma.gguf"}) == \
        "critic, picker on gemma; planner on gpt-4.1"
    named = prepare(ExperimentSpec("sales_email", backend="x:a",
                                   agent_backends={"critic": "x:b"}))
    assert named.spec.assignment == "critic on b"
    for bad in ("a | b", "x" * 81, " "):
        with pytest.raises(SpecError, match="An assignment's name"):
            prepare(ExperimentSpec("sales_email", backend="x:a", assignment=bad,
                                   agent_backends={"critic": "x:b"}))
    with pytest.raises(SpecError, match="assigns no agent"):
        prepare(ExperimentSpec("sales_email", backend="x:a", assignment="lonely"))
    with pytest.raises(SpecError, match="at most 8 backends"):
        prepare(ExperimentSpec("sales_email", backend="x:a", agent_backends={
            name: f"x:{name}" for name in ["critic", "picker", "planner", *WRITERS,
                                           "sales_manager"]} | {"critic": "y:z"},
            backends=["x:a", "x:b"]))


def test_every_embedded_model_shares_one_slot() -> None:
    """Two GGUFs generating at once share this machine's cores: a run on one waits for a run
    on the other, as two runs on one model do; a remote backend keeps its own bound."""
    def backend(backend_id: str, bound: int | None) -> Backend:
        return Backend(backend_id, backend_id, make_model=lambda _a: None,  # type: ignore
                       max_concurrency=bound)

    async def slots() -> tuple[list[Any], list[Any], list[Any]]:
        small_gguf, other_gguf = backend("local:a", 1), backend("local:/m/b.gguf", 1)
        remote = backend("compat:m@http://h/v1", 3)
        mixed = remote.with_agents({"critic": other_gguf})
        return run_slots(small_gguf), run_slots(other_gguf), run_slots(mixed)

    first, second, mixed = asyncio.run(slots())
    assert first == second and len(first) == 1
    assert len(mixed) == 2 and first[0] in mixed  # the remote bound, and the GGUFs' one
