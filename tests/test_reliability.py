"""Faults, retries, error classes, the tool budget, bad input and secrets."""

from __future__ import annotations

import logging
import time
from pathlib import Path

import pytest

from orchlab.cli.main import main
from orchlab.core.errors import ERROR_CLASSES
from orchlab.running.runner import ExperimentSpec, run_experiment
from orchlab.store import export
from orchlab.store.store import Store
from orchlab.testing.devserver import FAULTS, FakeOpenAIServer

RETRYABLE = ("rate_limit", "server_500", "server_503", "reset", "hang")
FAKE_KEY = "sk-orchlab-secret-key-9f8e7d6c5b4a3210"


REQUEST_TIMEOUT_S = 3.0
"""Generous enough that only injected hangs (HANG_S) time out, even on a loaded machine."""
HANG_S = 2 * REQUEST_TIMEOUT_S


@pytest.fixture(autouse=True)
def request_timeout(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ORCHLAB_REQUEST_TIMEOUT_S", str(REQUEST_TIMEOUT_S))


@pytest.mark.slow  # waits out the injected hangs' request timeouts
def test_every_planned_run_is_recorded_and_every_failure_classified(store: Store) -> None:
    rates = {kind: 0.2 / len(FAULTS) for kind in FAULTS}
    with FakeOpenAIServer(faults=rates, seed=3, hang_s=HANG_S) as server:
        spec = ExperimentSpec("sales_email", repetitions=10, concurrency=10,
                              backend=f"compat:fake-model@{server.base_url}")
        result = run_experiment(spec, store)
    records = result.records
    assert len(records) == len(store.load_runs()) == spec.repetitions * 3 * 2
    assert set(server.stats.faults) == set(FAULTS), server.stats.faults  # every kind happened
    failed = [r for r in records if r.status != "ok"]
    assert failed, "20% faults per call should fail some runs"
    assert all(r.error_class in ERROR_CLASSES and r.error_class != "other" for r in failed)
    assert all(r.error_class is None for r in records if r.status == "ok")
    # each retryable fault is retried, except the last attempt of a run that gave up and
    # requests of sibling writers cancelled when a run failed (at most 2 per failed run)
    retryable = sum(server.stats.faults.get(k, 0) for k in RETRYABLE)
    gave_up = [r for r in failed if r.error_class in ("rate_limited", "server_error", "timeout")]
    retries = sum(r.metrics.retries for r in records)
    assert retryable - len(gave_up) - 2 * len(failed) <= retries <= retryable


def test_429_retry_after_is_honoured_and_bounded(store: Store) -> None:
    with FakeOpenAIServer(faults={"rate_limit": 1.0}, retry_after_s=0.2) as server:
        spec = ExperimentSpec("sales_email", forms=["llm"], inputs=["dana-acme"],
                              backend=f"compat:fake-model@{server.base_url}")
        started = time.monotonic()
        record = run_experiment(spec, store).records[0]
        elapsed = time.monotonic() - started
    assert record.status == "error" and record.error_class == "rate_limited"
    assert record.metrics.retries == 4 and server.stats.requests == 5
    assert elapsed >= 4 * 0.2


@pytest.mark.parametrize("fault,error_class", [
    ("unknown_tool", "unknown_tool"), ("empty_choices", "malformed_output"),
    ("server_500", "server_error"),
    pytest.param("hang", "timeout", marks=pytest.mark.slow),  # waits out 5 request timeouts
])
def test_each_fault_gets_its_class(store: Store, fault: str, error_class: str,
                                   monkeypatch: pytest.MonkeyPatch) -> None:
    if fault == "hang":  # every call hangs: no answer needs a generous timeout, 1 s will do
        monkeypatch.setenv("ORCHLAB_REQUEST_TIMEOUT_S", "1")
    with FakeOpenAIServer(faults={fault: 1.0}, hang_s=HANG_S) as server:
        spec = ExperimentSpec("sales_email", forms=["llm"], inputs=["dana-acme"],
                              backend=f"compat:fake-model@{server.base_url}")
        record = run_experiment(spec, store).records[0]
    assert (record.status, record.error_class) == ("error", error_class), record.error_message


def test_tool_budget_stops_a_runaway_loop(store: Store) -> None:
    from agents.testing import function_call
    from sales_scripts import sales_backend, step

    def loop() -> list:
        send = {"to": "a@b.example", "subject": "s", "body": "b"}
        return [step([function_call("send_email", send, call_id=f"c{i}")], (5, 1))
                for i in range(40)]

    spec = ExperimentSpec("sales_email", forms=["llm"], inputs=["dana-acme"], tool_budget=6,
                          max_turns=50)
    record = run_experiment(spec, store, backend=sales_backend(sales_manager=loop)).records[0]
    assert record.status == "error" and record.error_class == "tool_budget"
    assert record.error_type == "ToolBudgetExceeded"
    assert record.outcome["emails_sent"] == 6  # the 7th call was refused before it ran
    assert record.outcome["success"] is False


def test_bad_input_cases_each_get_one_clear_message(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import shutil

    from orchlab.scenario import get_scenario

    broken = tmp_path / "agents"
    shutil.copytree(get_scenario("sales_email").agents_home, broken)
    (broken / "sales_email" / "picker.md").write_text("---\nname: picker\n---\nPick one.")
    bogus_store = tmp_path / "not-a-db.sqlite"
    bogus_store.write_text("hello " * 200)
    store = str(tmp_path / "ok.sqlite")
    base = ["run", "--scenario", "sales_email", "--store", store]
    with FakeOpenAIServer(api_key="the-right-key") as server:
        down = FakeOpenAIServer()
        down_url = down.base_url
        down._httpd.server_close()
        cases = {
            "unknown scenario": (["run", "--scenario", "nope", "--store", store], {}),
            "unknown input": (base + ["--input", "ghost", "--backend", "local:x"], {}),
            "bad backend id": (base + ["--backend", "warp"], {}),
            "missing key": (base + ["--backend", "openai:gpt-4.1-mini"], {}),
            "wrong key": (base + ["--backend", "openai:gpt-4.1-mini"],
                          {"OPENAI_API_KEY": FAKE_KEY, "OPENAI_BASE_URL": server.base_url}),
            "unreachable base URL": (base + ["--backend", f"compat:m@{down_url}"], {}),
            "repetitions 0": (base + ["--repeat", "0"], {}),
            "repetitions 100000": (base + ["--repeat", "100000"], {}),
            "store not SQLite": (["list", "--store", str(bogus_store)], {}),
            "malformed agent file": (base + ["--backend", "local:x"], {"AGENTS": "broken"}),
        }
        messages = {}
        for name, (argv, env) in cases.items():
            with monkeypatch.context() as m:
                for key, value in env.items():
                    if key == "AGENTS":
                        m.setattr(get_scenario("sales_email"), "agents_dir", broken)
                    else:
                        m.setenv(key, value)
                code = main(argv)
            err = capsys.readouterr().err.strip().splitlines()
            assert code == 2, (name, err)
            assert len(err) == 1 and err[0].startswith("error: "), (name, err)
            assert FAKE_KEY not in err[0]
            messages[name] = err[0]
    print(f"\nbad-input cases tried: {len(messages)}")
    for name, message in messages.items():
        print(f"  {name}: {message}")
    assert "refused the key (HTTP 401): check OPENAI_API_KEY" in messages["wrong key"]
    assert "field 'description'" in messages["malformed agent file"]


def test_keys_never_reach_store_spans_exports_logs_or_errors(
    store: Store, store_path: Path, monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str],
) -> None:
    caplog.set_level(logging.DEBUG)
    monkeypatch.setenv("OPENAI_API_KEY", FAKE_KEY)
    monkeypatch.setenv("ORCHLAB_COMPAT_API_KEY", FAKE_KEY)
    with FakeOpenAIServer(api_key=FAKE_KEY, faults={"server_500": 0.2, "unknown_tool": 0.1},
                          seed=5) as server:
        monkeypatch.setenv("ORCHLAB_COMPAT_BASE_URL", server.base_url)
        monkeypatch.setenv("OPENAI_BASE_URL", server.base_url)
        results = [
            run_experiment(ExperimentSpec("sales_email", repetitions=2, backend=backend), store)
            for backend in ("openai:fake-model", f"compat:fake-model@{server.base_url}")
        ]
    assert set(server.stats.auth_headers) == {f"Bearer {FAKE_KEY}"}  # the key was used...
    texts = [export.to_json(store, r.experiment_id) + export.to_csv(store, r.experiment_id)
             for r in results]
    texts += [r.error_message or "" for res in results for r in res.records]
    texts += [caplog.text, *capsys.readouterr()]
    assert all(FAKE_KEY not in text for text in texts)  # ...and appears nowhere we write
    for path in store_path.parent.glob("store.sqlite*"):
        assert FAKE_KEY.encode() not in path.read_bytes()
    assert any(r.status == "error" for res in results for r in res.records)


def test_send_email_never_opens_a_network_connection(store: Store, monkeypatch) -> None:
    import smtplib

    def refuse(*_a: object, **_k: object) -> None:
        raise AssertionError("send_email tried SMTP")

    monkeypatch.setattr(smtplib.SMTP, "__init__", refuse)
    from sales_scripts import sales_backend

    result = run_experiment(ExperimentSpec("sales_email", inputs=["dana-acme"]), store,
                            backend=sales_backend())
    assert [r.outcome["emails_sent"] for r in result.records] == [1, 1]
    assert len(store.load_outbox(result.records[0].run_id)) == 1
