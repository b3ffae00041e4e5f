"""A key belongs to the host it was configured for: someone else's experiment file, imported
and resumed here, never carries this machine's key to the file's server (issue 25), and a
cluster address is never taken from a file."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from orchlab import backends
from orchlab.cli.main import main
from orchlab.core.errors import BackendError
from orchlab.running import cluster
from orchlab.running.runner import ExperimentSpec, run_experiment
from orchlab.store.store import Store
from orchlab.testing.devserver import FakeOpenAIServer

KEY = "sk-this-machines-key-0123456789"


def headers(server: FakeOpenAIServer) -> list[str]:
    return [*server.stats.probe_auth_headers, *server.stats.auth_headers]


@pytest.fixture
def two_servers(monkeypatch: pytest.MonkeyPatch):  # noqa: ANN201 - a generator fixture
    """This machine's server (it wants the key) and someone else's (it records what it gets)."""
    with FakeOpenAIServer(models=("fake-model",), api_key=KEY) as ours, \
            FakeOpenAIServer(models=("fake-model",)) as theirs:
        monkeypatch.setenv("ORCHLAB_COMPAT_API_KEY", KEY)
        monkeypatch.setenv("ORCHLAB_COMPAT_BASE_URL", ours.base_url)
        monkeypatch.delenv("ORCHLAB_COMPAT_KEY_HOSTS", raising=False)
        yield ours, theirs


def foreign_file(tmp_path: Path, ours: FakeOpenAIServer, theirs: FakeOpenAIServer) -> Path:
    """Record here, export, then edit the file as its sender would: another server, a
    cluster, two runs dropped (so a resume has work to do)."""
    store = Store(tmp_path / "sender.sqlite")
    spec = ExperimentSpec("sales_email", inputs=["dana-acme"], repetitions=2,
                          backend=f"compat:fake-model@{ours.base_url}")
    exp_id = run_experiment(spec, store).experiment_id
    store.close()
    out = tmp_path / "exp.json"
    assert main(["--store", str(tmp_path / "sender.sqlite"), "export", exp_id, "--format",
                 "json", "--output", str(out)]) == 0
    data = json.loads(out.read_text())
    backend = f"compat:fake-model@{theirs.base_url}"
    data["experiment"]["backend"] = backend
    data["experiment"]["spec"]["backend"] = backend
    data["experiment"]["spec"]["cluster"] = "ray://198.51.100.7:10001"
    data["runs"] = data["runs"][:-2]
    out.write_text(json.dumps(data))
    return out


def test_a_foreign_file_resumed_here_sends_no_key_to_its_server(
        tmp_path: Path, two_servers: tuple[FakeOpenAIServer, FakeOpenAIServer],
        capsys: pytest.CaptureFixture[str]) -> None:
    ours, theirs = two_servers
    file = foreign_file(tmp_path, ours, theirs)
    assert KEY in ",".join(headers(ours))  # the key went where it was configured for
    store = str(tmp_path / "receiver.sqlite")
    assert main(["--store", store, "import", str(file)]) == 0
    imported = capsys.readouterr().out
    assert "ray://198.51.100.7:10001" in imported and "not used" in imported, imported
    exp_id = Store(store).list_experiments()[0].experiment_id
    code = main(["--store", store, "resume", exp_id, "--yes"])
    err = capsys.readouterr().err
    assert code == 2, err
    host = theirs.base_url.split("//")[1].split("/")[0]
    [line] = err.strip().splitlines()
    assert host in line and "ORCHLAB_COMPAT_KEY_HOSTS" in line and "Nothing was sent" in line
    assert not any(KEY in h for h in headers(theirs)), headers(theirs)
    assert Store(store).get_experiment(exp_id).spec["cluster"] == ""  # type: ignore[union-attr]


def test_the_key_goes_to_a_host_the_user_allowed(
        two_servers: tuple[FakeOpenAIServer, FakeOpenAIServer],
        monkeypatch: pytest.MonkeyPatch) -> None:
    ours, theirs = two_servers
    with pytest.raises(BackendError, match="Nothing was sent"):
        backends.resolve(f"compat:fake-model@{theirs.base_url}")
    assert headers(theirs) == []
    host = theirs.base_url.split("//")[1].split("/")[0]
    monkeypatch.setenv("ORCHLAB_COMPAT_KEY_HOSTS", f"example.org, {host}")
    backends.resolve(f"compat:fake-model@{theirs.base_url}")
    assert headers(theirs) == [f"Bearer {KEY}"]


def test_without_a_key_any_server_may_be_used(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ORCHLAB_COMPAT_API_KEY", raising=False)
    with FakeOpenAIServer(models=("fake-model",)) as server:
        backends.resolve(f"compat:fake-model@{server.base_url}")
        assert not any(KEY in h for h in headers(server))


def test_a_cluster_gets_the_documented_minimum_of_this_machines_environment(
        monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in {"OPENAI_API_KEY": "sk-openai-0123456789",
                        "AWS_SECRET_ACCESS_KEY": "aws-0123456789",
                        "GITHUB_TOKEN": "ghp-0123456789", "DB_PASSWORD": "pw-0123456789",
                        "ORCHLAB_STORE": "postgresql://u:secret-pw@db/orchlab",
                        "ORCHLAB_COMPAT_API_KEY": KEY,
                        "ORCHLAB_COMPAT_BASE_URL": "http://10.0.0.5:8000/v1",
                        "ORCHLAB_REQUEST_TIMEOUT_S": "30"}.items():
        monkeypatch.setenv(name, value)
    shipped = cluster.shard_env("compat:fake-model@http://10.0.0.5:8000/v1")
    assert shipped == {"ORCHLAB_COMPAT_API_KEY": KEY,
                       "ORCHLAB_COMPAT_BASE_URL": "http://10.0.0.5:8000/v1",
                       "ORCHLAB_REQUEST_TIMEOUT_S": "30"}
    assert cluster.shard_env("openai:gpt-4.1-mini") == {
        "OPENAI_API_KEY": "sk-openai-0123456789", "ORCHLAB_REQUEST_TIMEOUT_S": "30"}
    assert cluster.shard_env("scripted:sales") == {"ORCHLAB_REQUEST_TIMEOUT_S": "30"}
