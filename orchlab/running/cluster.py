"""Runs spread over a Ray cluster (`--cluster ray` or `ray://HOST:PORT`): a shard transport.

Each shard (`orchlab.running.shards`, the contract local worker processes share) runs in a Ray actor
of its own, on the actor's event loop, and keeps the messages its shard sends until the parent
drains them. The parent drains every actor about twice a second and alone commits, as with
local workers. Cancel asks every actor to stop; an actor that dies (its node lost, its
process killed) is a lost shard: the experiment ends interrupted, with what finished stored,
and a resume runs the rest.

Ray is optional (`pip install -r requirements-cluster.txt`) and imported only here, only when
an experiment asks for it. A local Ray starts once per process and is reused; a remote cluster
gets this project as the actors' working directory (its nodes need the same requirements).
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import os
import threading
import uuid
from typing import Any

from orchlab.core import config
from orchlab.core.errors import WorkerError, first_line
from orchlab.running import shards
from orchlab.running.execution import CancelToken, Commit, RunContext
from orchlab.running.shards import Message, ShardJob
from orchlab.running.spec import PlannedRun

__all__ = ["INSTALL", "connect", "execute", "missing_ray", "shard_env"]

INSTALL = "pip install -r requirements-cluster.txt"
POLL_S = 0.5
"""How long an actor holds a drain open for messages (the parent's polling period)."""
JOIN_S = 10.0
SHIPPED_SETTINGS = ("ORCHLAB_REQUEST_TIMEOUT_S",)
"""The lab's settings every shard gets (when set here)."""
BACKEND_ENV: dict[str, tuple[str, ...]] = {
    "openai": ("OPENAI_API_KEY", "OPENAI_BASE_URL"),
    "compat": (config.ENV_COMPAT_KEY, config.ENV_COMPAT_BASE_URL, config.ENV_COMPAT_KEY_HOSTS),
}
"""What a shard needs to open a backend of each prefix: its key and where the key belongs."""
EXCLUDES = [".git", ".venv", "__pycache__", ".mypy_cache", ".ruff_cache", ".pytest_cache",
            "tests/artifacts", "*.sqlite", "*.sqlite-wal", "*.sqlite-shm"]
"""Left out of the project a remote cluster receives as its working directory."""

_lock = threading.Lock()
_connected: str | None = None


def missing_ray() -> str | None:
    """A sentence saying what to install when Ray is not installed, else None."""
    if importlib.util.find_spec("ray") is None:
        return f"Ray is not installed: {INSTALL}."
    return None


def shard_env(backend_id: str) -> dict[str, str]:
    """The documented minimum of this machine's environment a shard on another machine gets
    (added to its own, never replacing PATH or HOME): SHIPPED_SETTINGS, and the key of the
    experiment's backend with the hosts it belongs to (BACKEND_ENV; for `litellm:` without a
    base URL, `<PROVIDER>_API_KEY`). Never the store's URL (records come back here to be
    committed), never another provider's key, never any other secret."""
    prefix, _, rest = backend_id.partition(":")
    names = list(SHIPPED_SETTINGS)
    if prefix == "litellm":
        model, _, base_url = rest.partition("@")
        names += BACKEND_ENV["compat"] if base_url else \
            [f"{model.partition('/')[0].upper()}_API_KEY"]
    else:
        names += BACKEND_ENV.get(prefix, ())
    return {name: value for name in names if (value := config.env(name))}


def connect(cluster: str) -> None:
    """Start or join the cluster before an experiment is stored, so that a cluster that
    cannot be reached is one sentence (WorkerError) and nothing is recorded."""
    _ray(cluster)


def _ray(cluster: str) -> Any:
    """Ray, connected to the cluster an experiment asks for: started once, then reused (a
    local Ray this process started itself, in a notebook or a test, is used as it is)."""
    global _connected
    missing = missing_ray()
    if missing:
        raise WorkerError(f"--cluster {cluster} needs Ray, which is not installed: {INSTALL}")
    import ray

    with _lock:
        if ray.is_initialized() and (_connected == cluster
                                     or (_connected is None and cluster == "ray")):
            return ray
        if ray.is_initialized():
            ray.shutdown()
        try:
            ray.init(**_init_options(cluster))
        except Exception as exc:  # ConnectionError, RuntimeError, grpc errors
            raise WorkerError(f"Cannot start Ray for --cluster {cluster}: "
                              f"{first_line(exc)}") from None
        _connected = cluster
    return ray


def _init_options(cluster: str) -> dict[str, Any]:
    options: dict[str, Any] = {"include_dashboard": False, "log_to_driver": False,
                               "ignore_reinit_error": True}
    if cluster == "ray":  # this machine: the actors import the project from where it is
        path = os.pathsep.join(p for p in (str(config.PROJECT_ROOT),
                                           os.environ.get("PYTHONPATH")) if p)
        env_vars = {"PYTHONPATH": path}
        if folders := config.env(config.ENV_SCENARIOS):  # the user's scenarios, on this disk
            env_vars[config.ENV_SCENARIOS] = folders
        options["runtime_env"] = {"env_vars": env_vars}
    else:
        options["address"] = cluster
        options["runtime_env"] = {"working_dir": str(config.PROJECT_ROOT),
                                  "excludes": EXCLUDES}
    return options


class ShardActor:
    """One shard in a Ray actor: its runs on the actor's event loop, its messages kept until
    the parent drains them (decorated with `ray.remote` when Ray is chosen)."""

    def __init__(self) -> None:
        self._messages: list[Message] = []
        self._arrived = asyncio.Event()
        self._cancel = CancelToken()

    async def run(self, job: ShardJob) -> None:
        """The shard, to its end (its last message is done or failed)."""
        await shards.shard_main(job, self._send, self._cancel)

    async def _send(self, message: Message) -> None:
        self._messages.append(message)
        self._arrived.set()

    async def drain(self, wait_s: float) -> list[Message]:
        """The messages since the last drain, waiting up to `wait_s` for one."""
        if not self._messages:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._arrived.wait(), wait_s)
        messages, self._messages = self._messages, []
        self._arrived.clear()
        return messages

    async def stop(self) -> None:
        """Stop starting runs and cancel those in flight (they are sent as they end)."""
        self._cancel.cancel()


async def execute(plan: list[PlannedRun], ctx: RunContext, commit: Commit,
                  cancel: CancelToken) -> tuple[str, float]:
    """Run the plan as shards on Ray; every record they send is committed here."""
    ray = await asyncio.to_thread(_ray, ctx.spec.cluster)
    env = {k: v for backend_id in [ctx.backend.id, *ctx.backends, *ctx.spec.agent_backends.values()]
           for k, v in shard_env(backend_id).items()}  # each backend's own key
    jobs = shards.jobs(plan, ctx, env, whole_env=False,
                       prefix=f"orchlab-shard-{ctx.experiment_id}-{uuid.uuid4().hex[:4]}")
    transport = Actors(ray, jobs)
    return await shards.execute(transport, [j.name for j in jobs], commit, cancel)


class Actors:
    """Ray actors as a shard transport: a drain per actor in flight at a time."""

    def __init__(self, ray: Any, jobs: list[ShardJob]) -> None:
        self.ray = ray
        remote = ray.remote(num_cpus=1, max_restarts=0)(ShardActor)
        self.actors = [remote.options(name=job.name).remote() for job in jobs]
        self.names = [job.name for job in jobs]
        self.runs = [actor.run.remote(job) for actor, job in zip(self.actors, jobs, strict=True)]
        self.open = set(range(len(jobs)))
        self.pending: dict[int, Any] = {}

    async def receive(self) -> list[tuple[int, Message]]:
        for i in self.open - set(self.pending):
            self.pending[i] = self.actors[i].drain.remote(POLL_S)
        refs = list(self.pending.values())
        ready, _ = await asyncio.to_thread(self.ray.wait, refs, num_returns=len(refs),
                                           timeout=POLL_S * 4)
        index = {ref: i for i, ref in self.pending.items()}
        messages: list[tuple[int, Message]] = []
        for ref in ready:
            i = index[ref]
            del self.pending[i]
            try:
                batch = self.ray.get(ref)
            except self.ray.exceptions.RayError as exc:
                self.open.discard(i)
                messages.append((i, ("lost", f"{self.names[i]} was lost ({first_line(exc)})")))
                continue
            messages += [(i, message) for message in batch]
            if any(kind in ("done", "failed") for kind, _ in batch):
                self.open.discard(i)
        return messages

    def stop(self) -> None:
        for i in self.open:
            with contextlib.suppress(Exception):  # an actor already gone
                self.actors[i].stop.remote()

    async def close(self) -> None:
        await asyncio.to_thread(self.ray.wait, self.runs, num_returns=len(self.runs),
                                timeout=JOIN_S)
        for actor in self.actors:
            with contextlib.suppress(Exception):
                self.ray.kill(actor, no_restart=True)

