"""Secrets are looked up from the environment as it is now: set, rotated or removed between two
calls, the next call sees it."""

from __future__ import annotations

import asyncio

import pytest
from agents.testing import assistant_message

from orchlab.backends.traced import TracedModel
from orchlab.core import config
from orchlab.measure import calls
from orchlab.measure.calls import RecordingModel, RunCalls

KEY = "sk-test-0123456789abcdef"


def test_secret_values_follow_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ORCHLAB_TEST_API_KEY", raising=False)
    assert KEY not in config.secret_values()
    monkeypatch.setenv("ORCHLAB_TEST_API_KEY", KEY)
    assert KEY in config.secret_values()
    assert config.redact(f"key={KEY}") == "key=[REDACTED]"
    monkeypatch.setenv("ORCHLAB_TEST_API_KEY", KEY + "-rotated")
    assert config.secret_values().count(KEY + "-rotated") == 1
    assert KEY not in config.secret_values()
    monkeypatch.delenv("ORCHLAB_TEST_API_KEY")
    assert KEY + "-rotated" not in config.secret_values()
    monkeypatch.setenv("ORCHLAB_TEST_TOKEN", "short")  # under 8 characters: not a secret
    assert "short" not in config.secret_values()
    config.secret_values().append("caller's own list")
    assert "caller's own list" not in config.secret_values()


def test_call_log_redacts_a_secret_set_between_calls(monkeypatch: pytest.MonkeyPatch) -> None:
    """The call log scrubs each call with the secrets of that moment."""
    from agents import ModelSettings
    from agents.models.interface import ModelTracing
    from agents.testing import ScriptedModel

    monkeypatch.delenv("ORCHLAB_TEST_API_KEY", raising=False)
    reply = [assistant_message(f"the key is {KEY}")]
    model = RecordingModel(TracedModel(ScriptedModel([reply, reply]), "m"), "agent")
    log = RunCalls(("code", "x", 0))

    async def ask() -> None:
        token = calls.CURRENT.set(log)
        try:
            await model.get_response(None, "hi", ModelSettings(), [], None, [],
                                     ModelTracing.ENABLED, previous_response_id=None,
                                     conversation_id=None, prompt=None)
        finally:
            calls.CURRENT.reset(token)

    asyncio.run(ask())
    monkeypatch.setenv("ORCHLAB_TEST_API_KEY", KEY)
    asyncio.run(ask())
    first, second = (str(c.output) for c in log.log)
    assert KEY in first  # no secret was configured yet
    assert KEY not in second and "[REDACTED]" in second
