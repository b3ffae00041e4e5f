"""A store several processes and users share: a real PostgreSQL server on 127.0.0.1 (issue 17).

Two `python -m orchlab run` processes writing 500 runs each into one database lose and
duplicate nothing; new stores opened at once migrate once; experiment ids never merge; a store
copies to PostgreSQL and back unchanged; the dashboard names the store without its password.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from orchlab.cli.main import main
from orchlab.core.records import ExperimentRecord, utcnow
from orchlab.running import runner
from orchlab.running.runner import ExperimentSpec, run_experiment
from orchlab.store.schema import MIGRATIONS
from orchlab.store.store import Store
from orchlab.testing.devserver import FakeOpenAIServer
from orchlab.testing.pgserver import PostgresServer

ROOT = Path(__file__).parent.parent
APP = str(ROOT / "app.py")
RUNS_EACH = 500


@pytest.fixture
def pg_url(pg_server: PostgresServer) -> str:
    url = pg_server.create_database()
    yield url
    pg_server.drop_database(url)


def run_cli(store: str, base_url: str, repeat: int) -> subprocess.Popen[str]:
    """One user's `run` of sales_email's code form on the fake server (2 inputs x repeat)."""
    return subprocess.Popen(
        [sys.executable, "-m", "orchlab", "--store", store, "run", "--scenario", "sales_email",
         "--forms", "code", "--input", "dana-acme", "--input", "li-northwind", "--repeat",
         str(repeat), "--concurrency", "8", "--backend", f"compat:fake-model@{base_url}"],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"})


def test_two_processes_writing_500_runs_each_lose_and_duplicate_nothing(pg_url: str) -> None:
    with FakeOpenAIServer() as server:
        procs = [run_cli(pg_url, server.base_url, RUNS_EACH // 2) for _ in range(2)]
        outputs = [proc.communicate(timeout=600) for proc in procs]
    for proc, (_out, err) in zip(procs, outputs, strict=True):
        assert proc.returncode == 0, err[-2000:]
    store = Store(pg_url)
    try:
        experiments = store.list_experiments()
        assert len(experiments) == 2 and {e.status for e in experiments} == {"completed"}
        frame = store.load_runs()
        assert len(frame) == 2 * RUNS_EACH and frame["run_id"].is_unique
        for exp in experiments:
            keys = frame[frame["experiment_id"] == exp.experiment_id][
                ["form", "input_id", "repetition"]]
            assert len(keys) == RUNS_EACH and not keys.duplicated().any()
            assert store.run_counts(exp.experiment_id).finished == RUNS_EACH
        assert (frame["status"] == "ok").all(), frame["error_message"].dropna().head()
    finally:
        store.close()


def test_stores_opened_at_once_on_a_new_database_migrate_once(pg_url: str) -> None:
    opened: list[Store] = []
    failures: list[BaseException] = []

    def open_one() -> None:
        try:
            opened.append(Store(pg_url))
        except BaseException as exc:  # noqa: BLE001 - reported below
            failures.append(exc)

    threads = [threading.Thread(target=open_one) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []
    assert opened[0].applied_migrations() == [name for name, _, _ in MIGRATIONS]
    for store in opened:
        store.close()


def test_a_taken_experiment_id_is_drawn_again_never_merged(
        any_store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    from sales_scripts import sales_backend

    taken = ExperimentRecord("exp-taken", "sales_email", "someone-else", utcnow(), {}, 7)
    assert any_store.add_experiment(taken)
    assert not any_store.add_experiment(taken)
    ids = iter(["exp-taken", "exp-fresh"])
    monkeypatch.setattr(runner, "new_experiment_id", lambda: next(ids))
    spec = ExperimentSpec("sales_email", forms=["code"], inputs=["dana-acme"], repetitions=1,
                          backend="scripted:sales")
    result = run_experiment(spec, any_store, backend=sales_backend())
    assert result.experiment_id == "exp-fresh"
    theirs = any_store.get_experiment("exp-taken")
    assert theirs is not None and theirs.planned_runs == 7 and theirs.backend == "someone-else"
    assert any_store.count_runs("exp-taken") == 0


def export_json(store: str, experiment_id: str, out: Path) -> str:
    assert main(["export", experiment_id, "--format", "json", "-o", str(out), "--store",
                 store]) == 0
    return out.read_text(encoding="utf-8")


def test_copy_store_moves_sqlite_to_postgresql_and_back_unchanged(
        pg_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from sales_scripts import sales_backend

    source = str(tmp_path / "mine.sqlite")
    store = Store(source)
    spec = ExperimentSpec("sales_email", forms=["code", "llm"], inputs=["dana-acme"],
                          repetitions=2, backend="scripted:sales")
    exp_ids = [run_experiment(spec, store, backend=sales_backend()).experiment_id
               for _ in range(2)]
    store.save_variant("sales_email", "terse", {"picker": "Pick the shortest."})
    store.close()
    before = [export_json(source, e, tmp_path / f"{e}.json") for e in exp_ids]
    capsys.readouterr()

    assert main(["copy-store", source, pg_url]) == 0
    out = capsys.readouterr().out
    assert out.startswith("copied 2 experiments (8 runs) from ") and "1 prompt variant" in out
    back = str(tmp_path / "back.sqlite")
    assert main(["copy-store", pg_url, back]) == 0
    assert [export_json(pg_url, e, tmp_path / "pg.json") for e in exp_ids] == before
    assert [export_json(back, e, tmp_path / "back.json") for e in exp_ids] == before
    capsys.readouterr()
    assert main(["copy-store", source, pg_url]) == 0  # again: nothing new
    assert capsys.readouterr().out.startswith("copied 0 experiments (0 runs)")
    copied = Store(back)
    assert copied.load_variant("sales_email", "terse") == {"picker": "Pick the shortest."}
    copied.close()


def test_the_sidebar_names_the_kind_and_host_never_the_password(
        pg_server: PostgresServer, pg_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    with_password = pg_url.replace("orchlab@", "orchlab:s3cret-pass@")  # trust: any password
    monkeypatch.setenv("ORCHLAB_STORE", with_password)
    at = AppTest.from_file(APP, default_timeout=60)
    at.switch_page("views/history.py")
    at.run()
    assert not at.exception and not at.error
    captions = [c.value for c in at.sidebar.caption]
    assert f"Store: PostgreSQL · `127.0.0.1:{pg_server.port}/{pg_url.rsplit('/', 1)[1]}`" \
        in captions
    shown = " ".join(str(e.value) for e in at.sidebar.caption) + str(at.main)
    assert "s3cret-pass" not in shown


def test_a_store_the_dashboard_cannot_open_is_one_sentence_on_the_page(
        monkeypatch: pytest.MonkeyPatch) -> None:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    monkeypatch.setenv("ORCHLAB_STORE", f"postgresql://orch:s3cret-pass@127.0.0.1:{port}/lab")
    at = AppTest.from_file(APP, default_timeout=60)
    at.switch_page("views/history.py")
    at.run()
    assert not at.exception
    assert [e.value for e in at.error] == [
        f"Cannot connect to the PostgreSQL store at 127.0.0.1:{port}: the connection was "
        "refused (no server is listening there)."]
    shown = " ".join(str(c.value) for c in at.sidebar.caption)
    assert "cannot be opened" in shown and "s3cret-pass" not in shown
