"""Backends: the registry's messages, and `compat:` against a real HTTP server on 127.0.0.1."""

from __future__ import annotations

from pathlib import Path

import pytest

from orchlab.backends import BackendError, default_backend_id, resolve
from orchlab.runner import ExperimentSpec, run_experiment
from orchlab.store import Store
from orchlab.testing.devserver import FakeOpenAIServer

FAKE_KEY = "sk-orchlab-test-key-0123456789abcdef"


def test_compat_backend_runs_both_forms_against_a_local_server(
    store: Store, store_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ORCHLAB_COMPAT_API_KEY", FAKE_KEY)
    with FakeOpenAIServer(models=("tiny-model",)) as server:
        backend_id = f"compat:tiny-model@{server.base_url}"
        spec = ExperimentSpec("sales_email", inputs=["li-northwind"], backend=backend_id,
                              concurrency=1)
        result = run_experiment(spec, store)
    records = {r.form: r for r in result.records}
    assert {r.status for r in result.records} == {"ok"}, [r.error_message for r in result.records]
    assert records["code"].metrics.path == (
        "{concise_writer|humorous_writer|professional_writer} > picker > send_email")
    assert records["llm"].metrics.path == (
        "sales_manager > {concise_writer|humorous_writer|professional_writer} > send_email")
    assert records["llm"].outcome["emails_sent"] == 1
    assert records["llm"].outcome["sent_to_prospect"] is True
    # tokens recorded from generation spans equal what the server reported, call for call
    assert sum(r.metrics.llm_calls for r in result.records) == server.stats.requests == 4 + 6
    usage = server.stats.usage
    assert sum(r.metrics.input_tokens for r in result.records) == sum(u[0] for u in usage)
    assert sum(r.metrics.output_tokens for r in result.records) == sum(u[1] for u in usage)
    # a model genai-prices does not know: no invented price
    assert records["llm"].metrics.cost_usd is None
    # the key went to the server, and nowhere into the store
    assert set(server.stats.auth_headers) == {f"Bearer {FAKE_KEY}"}
    for path in store_path.parent.glob("store.sqlite*"):
        assert FAKE_KEY.encode() not in path.read_bytes()


def test_compat_server_down_is_one_sentence() -> None:
    with FakeOpenAIServer() as server:
        url = server.base_url
    with pytest.raises(BackendError, match=r"No OpenAI-compatible server answered at .*start it"):
        resolve(f"compat:fake-model@{url}")


def test_compat_unknown_model_lists_what_is_served() -> None:
    with FakeOpenAIServer(models=("a", "b")) as server, pytest.raises(
        BackendError, match="does not serve model 'zzz'; it serves: a, b"
    ):
        resolve(f"compat:zzz@{server.base_url}")


@pytest.mark.parametrize("backend_id,needle", [
    ("openai:gpt-4.1-mini", "set OPENAI_API_KEY"),
    ("nonsense", "not of the form"),
    ("warp:drive", "Unknown backend prefix 'warp'"),
    ("compat:no-url", "compat:<model>@http"),
])
def test_backends_that_cannot_start_say_what_to_set(backend_id: str, needle: str) -> None:
    with pytest.raises(BackendError, match=needle):
        resolve(backend_id)


def test_default_backend_is_local_unless_configured(monkeypatch: pytest.MonkeyPatch) -> None:
    assert default_backend_id() == "local:smollm2-135m"
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    assert default_backend_id() == "openai:gpt-4.1-mini"
    monkeypatch.setenv("ORCHLAB_BACKEND", "compat:llama3.2@http://127.0.0.1:11434/v1")
    assert default_backend_id() == "compat:llama3.2@http://127.0.0.1:11434/v1"


def test_the_network_guard_blocks_remote_hosts() -> None:
    import socket

    from conftest import RemoteCallBlocked

    with pytest.raises(RemoteCallBlocked), socket.socket() as sock:
        sock.connect(("93.184.216.34", 443))
