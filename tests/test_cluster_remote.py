"""A Ray cluster reached by address (`--cluster ray://HOST:PORT`): a head node started here
with `ray start --head` on 127.0.0.1, joined through Ray Client, the project sent as the
actors' working directory. The same records as in-process; the store stays here."""

from __future__ import annotations

import os
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
import ray
from shapes import fake_server_spec as spec
from shapes import shape
from waiting import stop, wait_until

from orchlab.core.errors import WorkerError
from orchlab.running import cluster
from orchlab.running.runner import run_experiment
from orchlab.store.store import Store
from orchlab.testing.devserver import FakeOpenAIServer
from orchlab.testing.ports import free_port


@pytest.fixture(scope="module")
def ray_head(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A one-node Ray cluster; token authentication off (the head and this client agree).

    The head runs without the loopback-only guard, as the PostgreSQL server does: Ray finds
    its node's address with a UDP connect to a public address (no packet is sent) and its
    client server then dials that address, both of which the guard refuses. This process,
    the driver, stays guarded, and the only model the actors are given is the fake server
    on 127.0.0.1."""
    env = {**os.environ, "RAY_AUTH_MODE": "disabled",
           # the server it starts per client takes over its 30 s to come up on a busy 2 cores
           "RAY_CLIENT_SERVER_CHECK_CHANNEL_TIMEOUT_S": "180"}
    env["PYTHONPATH"] = os.pathsep.join(p for p in env.get("PYTHONPATH", "").split(os.pathsep)
                                        if p and "netguard" not in p)
    client_port = free_port()
    head_proc = subprocess.Popen(  # --block: this process owns the head; ending it ends them
        ["ray", "start", "--head", "--block", f"--port={free_port()}",
         "--node-ip-address=127.0.0.1", f"--ray-client-server-port={client_port}",
         "--num-cpus=2", "--include-dashboard=false", "--disable-usage-stats",
         f"--temp-dir={tmp_path_factory.mktemp('ray')}"],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_until(lambda: answers(client_port), timeout_s=120, what="the Ray client server")
        os.environ["RAY_AUTH_MODE"] = "disabled"
        yield f"ray://127.0.0.1:{client_port}"
    finally:
        ray.shutdown()
        os.environ.pop("RAY_AUTH_MODE", None)
        stop(head_proc, timeout_s=60)  # never `ray stop`: it would end every Ray here


def join(address: str, attempts: int = 3) -> None:
    """Join the cluster before the experiment: Ray Client starts a server per client, which
    on a busy 2-core machine has missed its own start-up deadline ("Initialization failure
    from server"). Joining is not what this test measures; the experiment after it is."""
    for attempt in range(attempts):
        try:
            cluster.connect(address)
            return
        except WorkerError:
            if attempt == attempts - 1:
                raise
            ray.shutdown()


def answers(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) == 0


def test_a_cluster_by_address_records_what_one_process_records(
        ray_head: str, store: Store, tmp_path: Path) -> None:
    join(ray_head)
    with FakeOpenAIServer(latency_s=0.05) as server:
        alone = run_experiment(spec(server, 3, concurrency=4), store)
        spread = run_experiment(spec(server, 3, concurrency=4, workers=2, cluster=ray_head),
                                store)
    assert spread.status == "completed" and shape(spread.records) == shape(alone.records)
    assert store.count_runs(spread.experiment_id) == 6
    assert store.get_experiment(spread.experiment_id).spec["cluster"] == ray_head
