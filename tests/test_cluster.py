"""Experiments spread over a local Ray cluster (`ray.init()` here) against the fake server:
the same records as in-process, cancel stops the shards, a killed shard leaves the experiment
interrupted and resumable, and what cannot run is one sentence before anything is stored."""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import ray
from shapes import fake_server_spec as spec
from shapes import shape
from waiting import wait_until

from orchlab.cli.main import main, spec_from_args
from orchlab.cli.parser import build_parser
from orchlab.core.errors import WorkerError
from orchlab.running import cluster, runner
from orchlab.running.jobs import ExperimentJob
from orchlab.running.runner import ExperimentSpec, SpecError, resume_experiment, run_experiment
from orchlab.store.store import Store
from orchlab.testing.devserver import FakeOpenAIServer
from orchlab.testing.scripted import scripted_backend

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module", autouse=True)
def local_ray() -> Iterator[None]:
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False,
             object_store_memory=100 * 1024 * 1024)
    yield
    ray.shutdown()


@pytest.fixture
def server() -> Iterator[FakeOpenAIServer]:
    with FakeOpenAIServer(latency_s=0.05) as running:
        yield running


def test_ray_shards_record_what_one_process_records(store: Store,
                                                    server: FakeOpenAIServer) -> None:
    alone = run_experiment(spec(server, 6, concurrency=4), store)
    spread = run_experiment(spec(server, 6, concurrency=4, workers=2, cluster="ray"), store)
    assert spread.status == "completed" and len(spread.records) == 12
    assert shape(spread.records) == shape(alone.records)
    assert spread.worker_cpu_s > 0.0  # the runs ran in the actors, not here
    stored = store.load_runs([spread.experiment_id])
    assert sorted(stored["run_id"]) == sorted(r.run_id for r in spread.records)
    assert store.get_experiment(spread.experiment_id).spec["cluster"] == "ray"
    assert len(store.load_spans(spread.records[0].run_id)) == len(spread.records[0].spans)


def test_cancel_stops_the_shards_and_keeps_finished_runs(store: Store) -> None:
    with FakeOpenAIServer(latency_s=0.2) as slow:
        job = ExperimentJob(spec(slow, 40, concurrency=4, workers=2, cluster="ray"),
                            store).start()
        wait_until(lambda: len(job.snapshot().records) >= 2, timeout_s=60, poll_s=0.05)
        job.cancel()
        job.join(60)
        snap = job.snapshot()
        wait_until(lambda: not ray.util.list_named_actors(), timeout_s=20)
        requests_at_end = slow.stats.requests
        time.sleep(1.0)
    assert slow.stats.requests == requests_at_end  # no shard is still calling the model
    assert snap.result is not None and snap.result.status == "cancelled"
    assert 2 <= len(snap.records) < 80
    assert store.count_runs(snap.result.experiment_id) == len(snap.records)
    assert {r.status for r in snap.records} <= {"ok", "cancelled"}


def _kill_a_shard_when_runs_are_in_flight(server: FakeOpenAIServer) -> None:
    wait_until(lambda: server.stats.requests >= 6 and len(ray.util.list_named_actors()) == 2,
               timeout_s=60, poll_s=0.02)
    ray.kill(ray.get_actor(sorted(ray.util.list_named_actors())[0]), no_restart=True)


def test_a_killed_shard_interrupts_the_experiment_and_resume_finishes_it(
        store: Store, server: FakeOpenAIServer) -> None:
    killer = threading.Thread(target=_kill_a_shard_when_runs_are_in_flight, args=(server,))
    killer.start()
    with pytest.raises(WorkerError, match=r"orchlab-shard-.* was lost .*resume exp-"):
        run_experiment(spec(server, 20, concurrency=4, workers=2, cluster="ray"), store)
    killer.join()
    experiment = store.list_experiments()[0]
    assert experiment.status == "interrupted"
    kept = store.count_runs(experiment.experiment_id)
    assert 0 < kept < 40  # what finished is stored; the lost shard's other runs never ran
    resumed = resume_experiment(experiment.experiment_id, store)
    assert resumed.status == "completed" and len(resumed.records) == 40 - kept
    frame = store.load_runs([experiment.experiment_id])
    assert len(frame) == 40 and not frame.duplicated(["form", "input_id", "repetition"]).any()


def test_the_cli_runs_on_ray(store: Store, server: FakeOpenAIServer,
                             capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["run", "--scenario", "sales_email", "--forms", "code", "--input", "dana-acme",
                 "--repeat", "4", "--workers", "2", "--cluster", "ray", "--backend",
                 f"compat:fake-model@{server.base_url}", "--store", store.location])
    out, err = capsys.readouterr()
    assert code == 0, err
    (exp,) = store.list_experiments()
    assert exp.spec["cluster"] == "ray" and store.run_counts(exp.experiment_id).finished == 4


@pytest.mark.parametrize(("cluster_value", "needle"), [
    ("ray:/nowhere", "cluster must be empty"), ("spark://h:1", "cluster must be empty")])
def test_a_bad_cluster_is_one_sentence_and_nothing_is_stored(
        store: Store, server: FakeOpenAIServer, cluster_value: str, needle: str) -> None:
    with pytest.raises(SpecError, match=needle):
        run_experiment(spec(server, 1, cluster=cluster_value), store)
    assert store.list_experiments() == []


def test_without_ray_the_option_says_what_to_install(
        store: Store, server: FakeOpenAIServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cluster, "missing_ray", lambda: "Ray is not installed: pip install.")
    with pytest.raises(SpecError, match=r"needs Ray, which is not installed: pip install -r "
                                        r"requirements-cluster\.txt\.$"):
        run_experiment(spec(server, 1, cluster="ray"), store)
    assert store.list_experiments() == []


def test_a_backend_that_lives_in_this_process_is_refused() -> None:
    backend: Any = scripted_backend({})
    ray_spec = ExperimentSpec("sales_email", backend=backend.id, cluster="ray")
    with pytest.raises(SpecError, match="needs a backend each Ray actor can open"):
        runner.check_backend(ray_spec, backend)


def test_the_cli_starts_its_own_local_ray(tmp_path: Path, server: FakeOpenAIServer) -> None:
    """As a user runs it: a new process, `--cluster ray`, Ray started with the project on the
    actors' path."""
    store = tmp_path / "cli.sqlite"
    done = subprocess.run(
        [sys.executable, "-m", "orchlab", "run", "--scenario", "sales_email", "--forms", "code",
         "--input", "dana-acme", "--repeat", "2", "--workers", "2", "--cluster", "ray",
         "--backend", f"compat:fake-model@{server.base_url}", "--store", str(store)],
        cwd=tmp_path, capture_output=True, text=True, timeout=300,
        env={**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ["PYTHONPATH"]])})
    assert done.returncode == 0, done.stderr[-3000:]
    opened = Store(store)
    (exp,) = opened.list_experiments()
    assert opened.run_counts(exp.experiment_id).finished == 2 and exp.status == "completed"
    opened.close()


def test_the_run_page_runs_on_ray_with_the_cli_s_spec(
        app_env: Path, server: FakeOpenAIServer, monkeypatch: pytest.MonkeyPatch) -> None:
    from apptest_pages import app_on

    backend = f"compat:fake-model@{server.base_url}"
    monkeypatch.setenv("ORCHLAB_BACKEND", backend)
    at = app_on()
    at.multiselect(key="run_forms_sales_email").set_value(["code"]).run()
    at.number_input(key="run_reps").set_value(2)
    at.number_input(key="run_workers").set_value(2)
    at.selectbox(key="run_cluster").set_value("Ray on this machine")
    at.button(key="run_start").click().run()
    assert not at.exception and not at.error, at.error
    job: ExperimentJob = at.session_state["run_job"]
    job.join(timeout=120)
    snap = job.snapshot()
    assert snap.error is None and snap.result is not None, snap.error
    assert snap.result.status == "completed" and len(snap.records) == 2
    args = build_parser().parse_args(["run", "--scenario", "sales_email", "--forms", "code",
                                      "--input", "dana-acme", "--repeat", "2", "--workers", "2",
                                      "--cluster", "ray"])
    assert dataclasses.asdict(spec_from_args(args)) == dataclasses.asdict(job.spec)


def test_the_run_page_says_what_to_install_without_ray(
        app_env: Path, server: FakeOpenAIServer, monkeypatch: pytest.MonkeyPatch) -> None:
    from apptest_pages import app_on

    monkeypatch.setenv("ORCHLAB_BACKEND", f"compat:fake-model@{server.base_url}")
    monkeypatch.setattr(cluster, "missing_ray", lambda: "Ray is not installed: pip install.")
    at = app_on()
    at.selectbox(key="run_cluster").set_value("Ray on this machine")
    at.button(key="run_start").click().run()
    assert [e.value for e in at.error] == [
        "cluster ray needs Ray, which is not installed: pip install -r "
        "requirements-cluster.txt."]
    assert "run_job" not in at.session_state and Store(app_env).list_experiments() == []
