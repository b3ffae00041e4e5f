"""Every page under streamlit.testing's AppTest: no exceptions, and a run flows through them all."""

from __future__ import annotations

import ipaddress
import os
import subprocess
import sys
import tomllib
import urllib.request
from pathlib import Path

import pytest
from sales_scripts import sales_backend
from streamlit.testing.v1 import AppTest
from waiting import stop, wait_until

from orchlab.store.store import Store
from orchlab.testing.ports import free_port

ROOT = Path(__file__).parent.parent
APP = str(ROOT / "app.py")
PAGES = ["views/run.py", "views/compare.py", "views/trace.py", "views/history.py",
         "views/agents.py", "views/learn.py"]


def fresh_app() -> AppTest:
    at = AppTest.from_file(APP, default_timeout=60)
    at.run()
    assert not at.exception, at.exception
    return at


def run_experiment_on_run_page(at: AppTest) -> str:
    at.number_input(key="run_reps").set_value(2)
    submit = next(b for b in at.button if b.label == "Run")
    submit.click().run()
    assert not at.exception, at.exception
    job = at.session_state["run_job"]
    wait_until(lambda: job.snapshot().finished, poll_s=0.1)
    at.run()
    assert not at.exception, at.exception
    snap = job.snapshot()
    assert snap.error is None and snap.result is not None
    return snap.result.experiment_id


@pytest.mark.parametrize("page", PAGES)
def test_every_page_renders_on_an_empty_store(app_env: Path, page: str) -> None:
    at = fresh_app()
    at.switch_page(page).run()
    assert not at.exception, at.exception


def test_a_run_appears_in_compare_trace_and_history(app_env: Path) -> None:
    at = fresh_app()
    exp_id = run_experiment_on_run_page(at)
    subheaders = [s.value for s in at.subheader]
    assert "Code-orchestrated" in subheaders and "LLM-orchestrated" in subheaders
    assert any("Path:" in c.value and "picker > send_email" in c.value for c in at.caption)
    metrics = {m.label for m in at.metric}
    assert {"Latency", "Tokens", "Cost", "LLM / tool calls"} <= metrics

    at.switch_page("views/compare.py").run()
    assert not at.exception, at.exception
    findings = " ".join(i.value for i in at.info)
    assert "LLM-orchestrated" in findings and "distinct path" in findings
    assert len(at.get("plotly_chart")) >= 2

    at.switch_page("views/trace.py").run()
    assert not at.exception, at.exception
    titles = [e.label for e in at.expander]
    assert any("function: send_email" in t for t in titles)
    assert any("generation:" in t for t in titles)

    at.switch_page("views/history.py").run()
    assert not at.exception, at.exception
    table = at.dataframe[0].value
    assert exp_id in list(table["Experiment"])
    assert Store(app_env).count_runs(exp_id) == 4


def test_a_variant_saved_on_agents_is_listed(app_env: Path) -> None:
    at = fresh_app()
    at.switch_page("views/agents.py").run()
    at.selectbox(key="agents_agent").set_value("sales_manager").run()
    area = at.text_area[0]
    assert "Never send more than one email." in area.value
    area.set_value(area.value.replace("Never send more than one email.",
                                      "Never, ever send more than one email.")).run()
    at.text_input(key="agents_variant_name").set_value("strict").run()
    next(b for b in at.button if b.label == "Save as variant").click().run()
    assert not at.exception, at.exception
    assert any("Saved variant 'strict'" in s.value for s in at.success)
    assert Store(app_env).list_variants("sales_email") == ["strict"]
    assert any("strict" in m.value for m in at.markdown)
    at.switch_page("views/run.py").run()
    assert "strict" in at.selectbox(key="run_variant").options


def test_a_broken_variant_is_refused_with_the_field_named(app_env: Path) -> None:
    at = fresh_app()
    at.switch_page("views/agents.py").run()
    at.selectbox(key="agents_agent").set_value("sales_manager").run()
    at.text_area[0].set_value("---\nname: sales_manager\n---\nno description").run()
    at.text_input(key="agents_variant_name").set_value("broken").run()
    next(b for b in at.button if b.label == "Save as variant").click().run()
    assert any("field 'description'" in e.value for e in at.error)
    assert Store(app_env).list_variants("sales_email") == []


def test_resume_from_history_runs_only_the_missing_runs(app_env: Path) -> None:
    from orchlab.running.runner import CancelToken, ExperimentSpec, run_experiment

    store = Store(app_env)
    cancel = CancelToken()
    spec = ExperimentSpec("sales_email", forms=["code"], inputs=["dana-acme"], repetitions=4,
                          concurrency=1, backend="scripted:sales")

    def stop_after_first(_progress: object) -> None:
        cancel.cancel()

    first = run_experiment(spec, store, backend=sales_backend(), on_progress=stop_after_first,
                           cancel=cancel)
    assert first.status == "cancelled" and store.count_runs(first.experiment_id) == 1

    at = fresh_app()
    at.switch_page("views/history.py").run()
    assert any("3 planned runs never finished" in w.value for w in at.warning)
    next(b for b in at.button if b.label.startswith("Resume")).click().run()
    assert not at.exception, at.exception
    job = at.session_state["run_job"]
    job.join(timeout=60)
    assert job.snapshot().total == 3
    assert store.count_runs(first.experiment_id) == 4
    assert store.get_experiment(first.experiment_id).status == "completed"


def test_workers_with_an_in_process_backend_are_refused_before_anything_runs(
    app_env: Path,
) -> None:
    at = fresh_app()
    at.number_input(key="run_workers").set_value(2)
    next(b for b in at.button if b.label == "Run").click().run()
    assert any("workers > 1 needs a backend" in e.value for e in at.error)
    assert "run_job" not in at.session_state
    assert Store(app_env).list_experiments() == []


@pytest.mark.slow  # worker processes
def test_the_run_page_spreads_runs_over_workers(
    app_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from orchlab.testing.devserver import FakeOpenAIServer

    with FakeOpenAIServer(latency_s=0.0) as server:
        monkeypatch.setenv("ORCHLAB_BACKEND", f"compat:fake-model@{server.base_url}")
        at = fresh_app()
        at.number_input(key="run_workers").set_value(2)
        experiment_id = run_experiment_on_run_page(at)
    result = at.session_state["run_job"].snapshot().result
    assert result.worker_cpu_s > 0 and len(result.records) == 4
    assert Store(app_env).count_runs(experiment_id) == 4


def listening_addresses(port: int) -> set[str]:
    """The local addresses of the sockets listening on `port` (Linux's /proc/net/tcp and
    tcp6: hex, each 32-bit word little-endian), e.g. {"127.0.0.1"}; "0.0.0.0" or "::" means
    every interface."""
    found: set[str] = set()
    for table in ("tcp", "tcp6"):
        path = Path("/proc/net") / table
        if not path.exists():
            continue
        for line in path.read_text().splitlines()[1:]:
            local, state = line.split()[1], line.split()[3]
            address, _, hex_port = local.rpartition(":")
            if state != "0A" or int(hex_port, 16) != port:  # 0A: LISTEN
                continue
            raw = b"".join(bytes.fromhex(address[i:i + 8])[::-1]
                           for i in range(0, len(address), 8))
            found.add(str(ipaddress.ip_address(raw)))
    return found


def _healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as response:
            return bool(response.status == 200)
    except OSError:
        return False


@pytest.mark.slow  # starts `streamlit run`
def test_the_dashboard_listens_on_this_machine_only(tmp_path: Path) -> None:
    """`streamlit run app.py`, as the README says to start it (no --server.address), listens
    on 127.0.0.1 alone: on every interface, anyone on the network could start experiments
    with this machine's keys and read the store. .streamlit/config.toml says so."""
    if not Path("/proc/net/tcp").exists():
        pytest.skip("reads the listening sockets from Linux's /proc/net")
    config = tomllib.loads((ROOT / ".streamlit" / "config.toml").read_text(encoding="utf-8"))
    assert config["server"]["address"] == "127.0.0.1"
    port = free_port()
    env = {**os.environ, "ORCHLAB_STORE": str(tmp_path / "bind.sqlite")}
    with (tmp_path / "streamlit.log").open("w") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "streamlit", "run", "app.py", "--server.port", str(port),
             "--server.headless", "true", "--browser.gatherUsageStats", "false"],
            cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
        try:
            wait_until(lambda: proc.poll() is not None or _healthy(f"http://127.0.0.1:{port}"),
                       timeout_s=60, poll_s=0.2, what="the dashboard to answer")
            assert proc.poll() is None, (tmp_path / "streamlit.log").read_text()
            assert listening_addresses(port) == {"127.0.0.1"}
        finally:
            stop(proc)


CHILD = '''
import sys, types
def loaded(conn):
    conn.send(sorted(m for m in sys.modules if m == "views" or m.startswith("views.")))
'''

STARTER = '''
import sys, types
sys.path[:0] = [{root!r}, {tmp!r}]
import child
from orchlab.running.workers import process_context
# As during a Streamlit script run: `__main__` is the app's own module (no spec, a file).
app = types.ModuleType("__main__")
app.__file__ = {app!r}
sys.modules["__main__"] = app
ctx = process_context()
ours, theirs = ctx.Pipe()
proc = ctx.Process(target=child.loaded, args=(theirs,))
proc.start()
print(ours.recv())
proc.join()
'''


def test_a_process_a_page_starts_does_not_run_the_app_again(tmp_path: Path) -> None:
    """The experiment process starts from a script run, when `__main__` is app.py: Python's
    multiprocessing re-runs the main module in the child (as `__mp_main__`). There app.py
    must define, not draw: before, the child ran the whole app and the Run page in Streamlit's
    bare mode (its log's "missing ScriptRunContext" warnings), and a page's exception there
    killed the experiment process before its first run."""
    (tmp_path / "child.py").write_text(CHILD)
    script = STARTER.format(root=str(ROOT), tmp=str(tmp_path), app=APP)
    done = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]", done.stdout
    assert "missing ScriptRunContext" not in done.stderr
