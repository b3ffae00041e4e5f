"""Backends: the registry's messages, and `compat:` and `litellm:` (the real LitellmModel)
against a real HTTP server on 127.0.0.1."""

from __future__ import annotations

import asyncio
import sys
import time
from pathlib import Path

import pytest

from orchlab.backends import BackendError, default_backend_id, resolve
from orchlab.running.runner import ExperimentSpec, run_experiment
from orchlab.store.store import Store
from orchlab.testing.devserver import FakeOpenAIServer


class FlakyServer(FakeOpenAIServer):
    """FakeOpenAIServer whose first requests fail with the given faults, in order."""

    def __init__(self, first: list[str], **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.first = list(first)

    def draw_fault(self) -> str | None:
        with self._lock:
            if not self.first:
                return None
            fault = self.first.pop(0)
            self.stats.faults[fault] = self.stats.faults.get(fault, 0) + 1
            return fault

FAKE_KEY = "sk-orchlab-test-key-0123456789abcdef"

# LiteLLM builds pydantic schemas lazily on its first call and pydantic warns about its types
pytestmark = pytest.mark.filterwarnings("ignore:Item.* `ReadOnly` qualifier:UserWarning")


def test_compat_backend_runs_both_forms_against_a_local_server(
    store: Store, store_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ORCHLAB_COMPAT_API_KEY", FAKE_KEY)
    with FakeOpenAIServer(models=("tiny-model",)) as server:
        monkeypatch.setenv("ORCHLAB_COMPAT_BASE_URL", server.base_url)
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
    assert_key_went_to_the_server_only(server, store_path)


def assert_key_went_to_the_server_only(server: FakeOpenAIServer, store_path: Path) -> None:
    assert set(server.stats.auth_headers) == {f"Bearer {FAKE_KEY}"}
    for path in store_path.parent.glob("store.sqlite*"):
        assert FAKE_KEY.encode() not in path.read_bytes()


@pytest.mark.parametrize("prefix", ["compat:", "litellm:openai/"])
def test_server_down_is_one_sentence(prefix: str) -> None:
    with FakeOpenAIServer() as server:
        url = server.base_url
    with pytest.raises(BackendError, match=r"^No OpenAI-compatible server answered at .*start it"):
        resolve(f"{prefix}fake-model@{url}")


@pytest.mark.parametrize("prefix", ["compat:", "litellm:openai/"])
def test_unknown_model_lists_what_is_served(prefix: str) -> None:
    with FakeOpenAIServer(models=("a", "b")) as server, pytest.raises(
        BackendError, match=r"^The server at .* does not serve model 'zzz'; it serves: a, b\.$"
    ):
        resolve(f"{prefix}zzz@{server.base_url}")


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


# -- litellm: the real LitellmModel through our backend ----------------------------------------

def _run_agent(backend_id: str, prompt: str = "Say hello.") -> tuple[str, int]:
    """agents.Runner.run on an Agent whose model comes from the backend: (output, retries)."""
    from agents import Agent, Runner

    from orchlab.core.errors import RETRY_COUNTER

    backend = resolve(backend_id)
    agent = Agent(name="greeter", instructions="Greet the user.", model=backend.model_for("x"))

    async def run() -> tuple[str, int]:
        retries = [0]
        token = RETRY_COUNTER.set(retries)
        try:
            result = await Runner.run(agent, prompt)
        finally:
            RETRY_COUNTER.reset(token)
        return str(result.final_output), retries[0]

    return asyncio.run(run())


def test_litellm_backend_is_the_real_litellm_model_behind_our_retries() -> None:
    from agents.extensions.models.litellm_model import LitellmModel

    from orchlab.backends.openai_compat import RetryingModel

    with FakeOpenAIServer(models=("tiny-model",)) as server:
        backend = resolve(f"litellm:openai/tiny-model@{server.base_url}")
        model = backend.model_for("any")
    assert isinstance(model, RetryingModel)
    assert isinstance(model.inner.inner, LitellmModel)  # type: ignore[attr-defined]
    assert model.inner.inner.base_url == server.base_url  # type: ignore[attr-defined]
    assert backend.id == f"litellm:openai/tiny-model@{server.base_url}"
    assert backend.model_name == "openai/tiny-model"
    assert backend.remote and backend.shared_models


def test_litellm_agent_run_returns_text(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ORCHLAB_COMPAT_API_KEY", FAKE_KEY)
    with FakeOpenAIServer(models=("tiny-model",)) as server:
        monkeypatch.setenv("ORCHLAB_COMPAT_BASE_URL", server.base_url)
        output, retries = _run_agent(f"litellm:openai/tiny-model@{server.base_url}")
    assert "Ledgerly" in output  # the fake server's text for an agent without tools
    assert retries == 0 and server.stats.requests == 1
    assert server.stats.auth_headers == [f"Bearer {FAKE_KEY}"]


@pytest.mark.parametrize("fault", ["rate_limit", "server_500", "server_503", "reset"])
def test_litellm_retries_429_5xx_and_resets(fault: str) -> None:
    with FlakyServer([fault, fault], models=("tiny-model",), retry_after_s=0.3) as server:
        started = time.monotonic()
        output, retries = _run_agent(f"litellm:openai/tiny-model@{server.base_url}")
        elapsed = time.monotonic() - started
    assert "Ledgerly" in output
    assert retries == 2 and server.stats.faults == {fault: 2}
    if fault == "rate_limit":
        assert elapsed >= 2 * 0.3  # Retry-After reached us through LiteLLM's exception
    # one request per attempt: LiteLLM's (and the openai client's) own retries are off
    assert server.stats.requests == 3


def test_litellm_gives_up_after_the_retry_budget() -> None:
    import openai

    with FakeOpenAIServer(models=("tiny-model",), faults={"server_500": 1.0}) as server:
        backend_id = f"litellm:openai/tiny-model@{server.base_url}"
        with pytest.raises(openai.InternalServerError):
            _run_agent(backend_id)
    assert server.stats.requests == 5  # the first attempt and RetryPolicy's 4 retries


def test_litellm_runs_record_tokens_and_retries_from_generation_spans(
    store: Store, store_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """LitellmModel writes usage on its generation spans, so our figures match the server."""
    monkeypatch.setenv("ORCHLAB_COMPAT_API_KEY", FAKE_KEY)
    with FlakyServer(["rate_limit"], models=("tiny-model",)) as server:
        monkeypatch.setenv("ORCHLAB_COMPAT_BASE_URL", server.base_url)
        backend_id = f"litellm:openai/tiny-model@{server.base_url}"
        spec = ExperimentSpec("sales_email", inputs=["li-northwind"], backend=backend_id,
                              concurrency=1)
        result = run_experiment(spec, store)
    records = {r.form: r for r in result.records}
    assert {r.status for r in result.records} == {"ok"}, [r.error_message for r in result.records]
    assert records["llm"].metrics.path == (
        "sales_manager > {concise_writer|humorous_writer|professional_writer} > send_email")
    assert records["llm"].outcome["emails_sent"] == 1
    usage = server.stats.usage
    assert sum(r.metrics.retries for r in result.records) == 1
    # every attempt is a generation span, the failed one included
    assert sum(r.metrics.llm_calls for r in result.records) == server.stats.requests == 4 + 6 + 1
    assert sum(r.metrics.input_tokens for r in result.records) == sum(u[0] for u in usage) > 0
    assert sum(r.metrics.output_tokens for r in result.records) == sum(u[1] for u in usage) > 0
    generations = [s for r in result.records for s in r.spans if s.kind == "generation"]
    assert {s.model for s in generations} == {"openai/tiny-model"}
    # a self-hosted model: no invented price, and the run says so
    assert records["llm"].metrics.cost_usd is None
    assert records["llm"].metrics.price_source == "unknown price"
    assert_key_went_to_the_server_only(server, store_path)


def test_litellm_wrong_key_is_one_sentence(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ORCHLAB_COMPAT_API_KEY", FAKE_KEY)
    with FakeOpenAIServer(api_key="the-right-key") as server, pytest.raises(
        BackendError, match=r"refused the key \(HTTP 401\): check ORCHLAB_COMPAT_API_KEY\.$"
    ):
        monkeypatch.setenv("ORCHLAB_COMPAT_BASE_URL", server.base_url)
        resolve(f"litellm:openai/fake-model@{server.base_url}")


def test_litellm_without_url_checks_the_providers_key_offline(
    monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("ANTHROPIC_API_KEY", "ANTHROPIC_AUTH_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(BackendError, match=(
            r"^LiteLLM has no key for 'anthropic/claude-3-5-haiku-latest': set ANTHROPIC_API_KEY "
            r"in the environment or in a \.env file\.$")):
        resolve("litellm:anthropic/claude-3-5-haiku-latest")
    monkeypatch.setenv("ANTHROPIC_API_KEY", FAKE_KEY)
    backend = resolve("litellm:anthropic/claude-3-5-haiku-latest")  # no request is made
    assert backend.id == "litellm:anthropic/claude-3-5-haiku-latest"
    assert backend.model_for("x").inner.inner.base_url is None  # type: ignore[attr-defined]


@pytest.mark.parametrize("backend_id,needle", [
    ("litellm:madeup/some-model", r"^LiteLLM does not know the provider of 'madeup/some-model'"),
    ("litellm:openai/x@127.0.0.1:8000", r"must look like litellm:<provider>/<model>"),
])
def test_litellm_ids_that_cannot_start_say_what_to_write(backend_id: str, needle: str) -> None:
    with pytest.raises(BackendError, match=needle):
        resolve(backend_id)


def test_litellm_missing_says_how_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "agents.extensions.models.litellm_model", None)
    with pytest.raises(BackendError, match=r"pip install 'openai-agents\[litellm\]'"):
        resolve("litellm:openai/x@http://127.0.0.1:9/v1")
