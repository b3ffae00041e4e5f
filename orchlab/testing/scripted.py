"""Deterministic backends on `agents.testing.ScriptedModel`, for tests and benchmarks.

Each agent gets a fresh ScriptedModel per run from its own script, so concurrent runs never
consume each other's steps. Models are wrapped in TracedModel so tokens reach generation spans.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from typing import Any

from agents.models.interface import Model

from orchlab.backends import Backend, BackendError
from orchlab.backends.traced import TracedModel

Script = Callable[[], list[Any]]


def scripted_backend(
    scripts: Mapping[str, Script],
    *,
    backend_id: str = "scripted:test",
    model_name: str = "gpt-4.1-mini",
) -> Backend:
    """A backend whose agent `name` answers with `scripts[name]()` steps."""
    from agents.testing import ScriptedModel

    def make(agent_name: str) -> Any:
        script = scripts.get(agent_name)
        if script is None:
            raise BackendError(f"The scripted backend has no script for agent {agent_name!r}.")
        return TracedModel(ScriptedModel(script()), model_name)

    return Backend(id=backend_id, model_name=model_name, make_model=make)


class DelayedModel(Model):
    """A model that waits `delay_s` before each answer: a slow judge, or runs that take
    measurable time, without a real model's cost."""

    def __init__(self, inner: Model, delay_s: float) -> None:
        self.inner, self.delay_s = inner, delay_s

    async def get_response(self, *args: Any, **kwargs: Any) -> Any:
        await asyncio.sleep(self.delay_s)
        return await self.inner.get_response(*args, **kwargs)

    def stream_response(self, *args: Any, **kwargs: Any) -> Any:
        return self.inner.stream_response(*args, **kwargs)
