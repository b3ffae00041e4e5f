"""Every benchmark in bench/ runs to its figure, in a short mode, as a user runs it.

Each test starts `python bench/<x>.py <short args>` from the project root in a user's
environment (`test_readme_commands.user_env`: no API key, the loopback-only network guard, a
store under tmp_path), checks the exit code and finds the benchmark's headline figures in its
output as finite numbers. The short modes are tiny plans on the same code paths as the full
runs (docs/BENCHMARKS.md), so the figures themselves say nothing: no test here asserts a
timing, only that the benchmark got to it (and the invariants a benchmark exists to show,
e.g. every planned run recorded, which do not depend on the machine).

tests/test_readme_commands.py checks the README's and docs' benchmark commands answer `--help` with
every option they pass; here every bench/ script must have a short run, and the short run must
pass every option a README or docs command gives that script (the same code path).
"""

from __future__ import annotations

import math
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from test_readme_commands import COMMANDS, ROOT, options, user_env

SHORT: dict[str, list[str]] = {
    "classroom.py": ["--sessions", "2", "--latency", "0.05", "--repetitions", "1"],
    "concurrency.py": ["--runs", "20", "--k1-runs", "4", "--latency", "0.02", "--k", "1,10,50",
                       "--variants", "workers,fullray,fullpg", "--rounds", "1"],
    "dashboard.py": ["--sizes", "100,1000"],
    "disturbance.py": ["--stored", "100", "--repetitions", "3", "--tabs", "1"],
    "faults.py": ["--runs", "100"],
    "local_model.py": ["--rounds", "1", "--max-tokens", "32"],
    "overhead.py": ["--runs", "5"],
    "replay.py": ["--latency", "0.05", "--reps", "2"],
    "report.py": ["--runs", "8", "40"],
    "stats_calibration.py": ["--experiments", "20", "--sections", "1,2,3,4,5,6"],
    "store.py": ["--runs", "500", "--loads", "2", "--engines", "sqlite,postgresql",
                 "--writers", "2", "--runs-per-writer", "50"],
    "synthetic.py": ["--runs", "50"],  # --store: a file under tmp_path, added by the test
}
"""Each benchmark's short run: its arguments."""
NUMBER = r"(-?[\d,]*\.?\d+(?:e[-+]?\d+)?)"


def run_bench(name: str, tmp_path: Path, *extra: str,
              timeout: float = 240.0) -> subprocess.CompletedProcess[str]:
    """`python bench/<name> <short args>` from the project root; exit code 0 asserted."""
    argv = [sys.executable, f"bench/{name}", *SHORT[name], *extra]
    result = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, timeout=timeout,
                            stdin=subprocess.DEVNULL,
                            env=user_env(ORCHLAB_STORE=str(tmp_path / "user.sqlite")))
    assert result.returncode == 0, (
        f"{' '.join(argv[1:])} exited {result.returncode}:\n{result.stdout[-3000:]}\n"
        f"{result.stderr[-5000:]}")
    return result


def figure(output: str, pattern: str, positive: bool = True) -> float:
    """The number `pattern`'s group 1 finds in the output (last match): finite, and positive
    unless told otherwise (zero allowed)."""
    found = re.findall(pattern, output, re.MULTILINE)
    assert found, f"no {pattern!r} in the output:\n{output[-3000:]}"
    last = found[-1]
    value = float((last[0] if isinstance(last, tuple) else last).replace(",", ""))
    assert math.isfinite(value), (pattern, value)
    assert value > 0 if positive else value >= 0, (pattern, value)
    return value


def last_line(output: str) -> str:
    return output.strip().splitlines()[-1]


# -- the short runs cover every benchmark and every README benchmark command's options -------

def test_every_benchmark_has_a_short_run() -> None:
    scripts = {p.name for p in (ROOT / "bench").glob("*.py")}
    assert scripts == set(SHORT), f"bench/ holds {sorted(scripts)}; short runs: {sorted(SHORT)}"
    tests = set(re.findall(r"^def (test_\w+)", Path(__file__).read_text(), re.MULTILINE))
    for name in SHORT:
        assert f"test_{name.removesuffix('.py')}_runs_to_its_figure" in tests, name


def test_the_short_runs_pass_every_option_the_readme_passes() -> None:
    bench = [c for c in COMMANDS if c.argv[:1] == ["python"] and len(c.argv) > 1
             and c.argv[1].startswith("bench/")]
    assert bench, "the README and docs show benchmark commands"
    for command in bench:
        name = command.argv[1].removeprefix("bench/")
        assert name in SHORT, f"{command.text} ({command.where}): no short run of {name}"
        missing = [o for o in options(command.argv[2:]) if o not in SHORT[name]]
        assert not missing, f"{command.text}: the short run of {name} does not pass {missing}"


# -- one test per benchmark ------------------------------------------------------------------

@pytest.mark.browser
@pytest.mark.slow  # a benchmark's short run, in a new process
@pytest.mark.timeout(300)
def test_classroom_runs_to_its_figure(tmp_path: Path) -> None:
    """Two participants in chromium press Run at once, then Compare opens: every figure
    printed, each experiment's two runs stored and shown on its page."""
    from test_browser_e2e import CHROMIUM

    if not Path(CHROMIUM).exists():
        pytest.skip("Debian's chromium is not installed (apt-get install chromium)")
    out = run_bench("classroom.py", tmp_path).stdout
    assert figure(out, rf"^{NUMBER} runs per experiment") == 2, out
    if Path("/proc/self/task").exists():  # Linux: read back from chromium's session or threads
        assert re.search(r"browsers at the lowest priority \(chromium's (session|\d+ threads) "
                         r"at nice 19\)", out), out
    figure(out, rf"^N=2: solo experiment {NUMBER} s;")
    figure(out, rf"^N=2: .* 2 experiments at once .*: median {NUMBER} s, max")
    figure(out, r"^N=2: result shown after the experiment's end: median -?[\d.]+ s, max "
                r"(-?[\d.]+) s;", positive=False)
    # The result's arrival, stamped by chromium's network service, splits the delay in two.
    delivered = re.search(r"^N=2: of which the result reaching the browser .*: median "
                          r"(-?[\d.]+) s, max (-?[\d.]+) s; the browser drawing it: median "
                          r"(-?[\d.]+) s, max (-?[\d.]+) s \(2 of 2 pages stamped\)$", out,
                          re.MULTILINE)
    assert delivered, out
    assert float(delivered[3]) >= -0.05, "a result drawn before it arrived: the clocks disagree"
    figure(out, rf"^N=2: Compare opened in {NUMBER} s while the results arrived")
    figure(out, rf"^N=2: CPU over the {NUMBER} s from the first Run")
    ratio = rf"^N=2 experiment_ratio={NUMBER} result_delay_max=-?[\d.]+s compare=[\d.]+s$"
    figure(last_line(out), ratio)


@pytest.mark.slow  # a benchmark's short run, in a new process
@pytest.mark.timeout(300)
def test_concurrency_runs_to_its_figure(tmp_path: Path) -> None:
    """Every variant (local workers, a local Ray, PostgreSQL) at K=1, 10 and 50."""
    out = run_bench("concurrency.py", tmp_path, timeout=270).stdout
    for k in (1, 10, 50):
        figure(out, rf"^K={k}\s+full\s+runs=\d+\s+wall=\s*[\d.]+s\s+ideal=\s*[\d.]+s\s+"
                    rf"wall/ideal=\s*{NUMBER}")
    for k in (10, 50):
        for ours, other in (("fullray", r"fullx\d+"), ("fullray", "full"), ("fullpg", "full")):
            figure(out, rf"^K={k}\s+{ours}/{other} wall = {NUMBER}$")
    figure(out, rf"^K=50 CPU floor: .* no harness gets below {NUMBER} x ideal")
    figure(last_line(out), rf"^wall/ideal at K=50 \(faster full variant\)={NUMBER}$")


@pytest.mark.slow  # a benchmark's short run, in a new process
@pytest.mark.timeout(300)
def test_dashboard_runs_to_its_figure(tmp_path: Path) -> None:
    out = run_bench("dashboard.py", tmp_path).stdout
    for n in (100, 1000):
        figure(out, rf"^runs=\s*{n}\s+write=.*compare_render=\s*{NUMBER}s")
    figure(out, rf"^process_peak_rss={NUMBER} MB")
    figure(out, rf"^ratio_1000_vs_100={NUMBER}$")
    figure(last_line(out), rf"^{NUMBER}$")


@pytest.mark.browser
@pytest.mark.slow  # a benchmark's short run, in a new process
@pytest.mark.timeout(300)
def test_disturbance_runs_to_its_figure(tmp_path: Path) -> None:
    """The dashboard in chromium, an experiment alone and under page loads (a short one: the
    note says it measured fewer calls than the target asks for)."""
    from test_browser_e2e import CHROMIUM

    if not Path(CHROMIUM).exists():
        pytest.skip("Debian's chromium is not installed (apt-get install chromium)")
    out = run_bench("disturbance.py", tmp_path).stdout
    for phase in ("alone", r"under page loads \(1 tabs, \d+ page loads\)"):
        assert figure(out, rf"^{phase}\s+calls=\s*{NUMBER} p50=") == 30, out
        figure(out, rf"^{phase}\s+calls=.* p95=\s*{NUMBER} max=", positive=False)
    figure(out, rf"^p95 under load - p95 alone: -?[\d.]+ ms \(target <= 50\); ratio {NUMBER}$")
    for phase in ("alone", "under page loads"):
        assert figure(out, rf"^  server {phase}\s+calls=\s*{NUMBER} p50=") == 30, out
        figure(out, rf"^  server {phase}\s+calls=.* p95=\s*(-?[\d.]+) max=", positive=False)
    assert "fewer than the 100 the target asks for" in last_line(out), out


@pytest.mark.slow  # a benchmark's short run, in a new process
@pytest.mark.timeout(300)
def test_faults_runs_to_its_figure(tmp_path: Path) -> None:
    """Every planned run recorded, every failure classified, nothing unhandled."""
    out = run_bench("faults.py", tmp_path).stdout
    planned = figure(out, rf"^planned={NUMBER} records=")
    assert planned == 100, out
    assert figure(out, rf"^failed=\d+ unclassified={NUMBER}", positive=False) == 0, out
    match = re.fullmatch(r"records=(\d+) unhandled=(\d+)", last_line(out))
    assert match, out[-3000:]
    assert (int(match[1]), int(match[2])) == (100, 0), out[-3000:]


@pytest.mark.real_model
@pytest.mark.slow  # a benchmark's short run, in a new process
@pytest.mark.timeout(300)
def test_local_model_runs_to_its_figure(tmp_path: Path) -> None:
    pytest.importorskip("llama_cpp", reason="llama-cpp-python is not installed")
    out = run_bench("local_model.py", tmp_path).stdout
    for side in ("ours", "raw"):
        figure(out, rf"^{side}: completion tokens .*, best {NUMBER} tok/s")
    assert re.search(r"^identical text on both sides: (True|False)$", out, re.MULTILINE), out
    figure(last_line(out), rf"^ratio={NUMBER}$")


@pytest.mark.slow  # a benchmark's short run, in a new process
@pytest.mark.timeout(300)
def test_overhead_runs_to_its_figure(tmp_path: Path) -> None:
    out = run_bench("overhead.py", tmp_path).stdout
    for form in ("code", "llm"):
        figure(out, rf"^{form}: full/bare wall={NUMBER}")
    figure(out, rf"^both forms: full/bare_off wall={NUMBER}")
    figure(last_line(out), rf"^ratio={NUMBER}$")


@pytest.mark.slow  # a benchmark's short run, in a new process
@pytest.mark.timeout(300)
def test_replay_runs_to_its_figure(tmp_path: Path) -> None:
    """Every replayed run gives the original's figures again, at every speed."""
    out = run_bench("replay.py", tmp_path).stdout
    assert figure(out, rf"^recorded {NUMBER} runs") == 8, out
    for speed in ("1", "0.5", "0"):
        match = re.search(rf"^speed {re.escape(speed)}: (\d+)/(\d+) runs with the original's "
                          rf"figures; the runs took [\d.]+ s = {NUMBER} x", out, re.MULTILINE)
        assert match, out
        assert match[1] == match[2] == "8", match[0]
        assert math.isfinite(float(match[3])) and float(match[3]) >= 0, match[0]
    figure(out, rf"^  per-run wall / original: median {NUMBER},")


@pytest.mark.slow  # a benchmark's short run, in a new process
@pytest.mark.timeout(300)
def test_report_runs_to_its_figure(tmp_path: Path) -> None:
    out = run_bench("report.py", tmp_path).stdout
    figure(out, rf"^plotly.js inlined once: {NUMBER} bytes")
    for runs in (8, 40):
        size = figure(out, rf"^\s*{runs} runs \(\d+ failed, run in [\d.]+ s\): report "
                           rf"{NUMBER} bytes")
        figure(out, rf"^\s*{runs} runs .* rendered in {NUMBER} s$", positive=False)
        assert size > 1e6, out  # plotly's JavaScript is inlined


@pytest.mark.slow  # a benchmark's short run, in a new process
@pytest.mark.timeout(300)
def test_stats_calibration_runs_to_its_figure(tmp_path: Path) -> None:
    """Every row gets a rate, its standard error and a verdict, and the count of rows meeting
    their target ends the output (20 experiments per cell are too few for the verdicts to
    mean anything: only that every check ran to one): 93 rows in sections 1-5, 18 in
    section 6 (judges)."""
    out = run_bench("stats_calibration.py", tmp_path).stdout
    for name in ("wall_ms", "tokens", "llm_calls", "success"):
        for reading in ("paired", "unpaired"):
            figure(out, rf"^  3 inputs x 10\s+{reading}\s+{name}\s+{NUMBER}% ± ", positive=False)
    for reading in ("paired", "unpaired"):
        figure(out, rf"^  30 pairs, no effect\s+{reading}\s+any claim\s+{NUMBER}% ± ",
               positive=False)
        figure(out, rf"^  pilot 10 pairs.*\s{reading}\s+claimed\s+{NUMBER}% ± .* skipped \d+ of "
                    rf"8 pilots", positive=False)
    figure(out, rf"^  3 inputs x 5, b 0.95\s+paired\s+pass\^3 of b\s+{NUMBER}% ± ",
           positive=False)
    for design in ("1 exp", "2 exps"):  # backends: one experiment, or one per backend
        for reading in ("paired", "unpaired"):
            figure(out, rf"^  no effect 10 pairs, {design}\s+{reading}\s+any claim\s+{NUMBER}% ± ",
                   positive=False)
            for name in ("wall_ms", "tokens", "llm_calls", "success"):
                figure(out, rf"^  effects 5 x 2, {design}\s+{reading}\s+{name}\s+{NUMBER}% ± ",
                       positive=False)
    # judges: the quality figure (groups and the paired difference), a claim without a
    # difference, agreement's intervals, a pairwise judge's
    for world in ("quiet judge K=1, 6 x 2", r"noisy K=3, 6 x 2, a \+0.4",
                  "pass/fail K=1, 96% pass"):
        for name in ("mean a", "mean b", "a - b"):
            figure(out, rf"^  {world}\s+paired\s+{name}\s+{NUMBER}% ± ", positive=False)
    for world in ("noisy K=3", "pass/fail K=1"):
        figure(out, rf"^  no effect, {world}\s+paired\s+claimed\s+{NUMBER}% ± .* target <= 5%",
               positive=False)
    figure(out, rf"^  p/f 70% right, 60 runs\s+-\s+kappa\s+{NUMBER}% ± ", positive=False)
    for name in ("w. kappa", "Spearman"):
        figure(out, rf"^  1-5 guessing 65%, 10 runs\s+-\s+{name}\s+{NUMBER}% ± ",
               positive=False)
    for world in ("15 pairs K=2, bias 0.5", "60 pairs K=1, bias 0.4"):
        for name in ("win rate", "first won"):
            figure(out, rf"^  {world}\s+-\s+{name}\s+{NUMBER}% ± ", positive=False)
    rows = re.findall(r"% ± .*target .* (?:PASS|MISS)\b", out)
    match = re.fullmatch(r"calibration: (\d+) of (\d+) rows meet their target", last_line(out))
    assert match, out[-3000:]
    assert int(match[1]) <= int(match[2]) == len(rows) == 93 + 18, out[-3000:]


@pytest.mark.slow  # a benchmark's short run, in a new process
@pytest.mark.timeout(300)
def test_store_runs_to_its_figure(tmp_path: Path) -> None:
    """Both engines, writers included (the script exits 1 if a run went missing)."""
    out = run_bench("store.py", tmp_path).stdout
    for engine in ("SQLite", "PostgreSQL"):
        figure(out, rf"^{engine} write: 500 runs, \d+ spans in [\d.]+ s of save_run "
                    rf"\({NUMBER} runs/s")
        figure(out, rf"^{engine} concurrent write, .* 2 writers {NUMBER} runs/s")
    figure(out, rf"^PostgreSQL/SQLite load_runs median: {NUMBER} ")
    figure(out, rf"^PostgreSQL load_runs median: {NUMBER} s$")
    figure(last_line(out), rf"^{NUMBER}$")


@pytest.mark.slow  # a benchmark's short run, in a new process
@pytest.mark.timeout(120)
def test_synthetic_runs_to_its_figure(tmp_path: Path) -> None:
    from orchlab.store.store import Store

    path = tmp_path / "many.sqlite"
    out = run_bench("synthetic.py", tmp_path, "--store", str(path)).stdout
    match = re.fullmatch(r"(\d+) synthetic runs written to (.+) as experiment (\S+)",
                         last_line(out))
    assert match and match[1] == "50" and match[2] == str(path), out
    store = Store(path)
    try:
        assert store.count_runs(match[3]) == 50
    finally:
        store.close()


# -- the classroom bench's browsers, where the kernel shares no CPU by session -----------------

def _load_bench(name: str) -> object:
    import importlib.util

    spec = importlib.util.spec_from_file_location(f"bench_{name}", ROOT / "bench" / f"{name}.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


@pytest.mark.skipif(not Path("/proc/self/task").exists(), reason="needs Linux's /proc")
def test_classroom_nices_the_browsers_where_autogroups_read_empty(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """On a machine whose /proc/PID/autogroup files read empty (a process in a cgroup of its
    own, as on CI), the bench still puts every browser thread at the lowest priority, and says
    so, instead of failing on the empty file. A child process named chromium stands for the
    browser: it starts a thread before the bench nices it, and one after."""
    import os

    classroom: Any = _load_bench("classroom")
    read_text = Path.read_text

    def empty_autogroup(self: Path, *args: Any, **kwargs: Any) -> str:
        return "" if self.name == "autogroup" else read_text(self, *args, **kwargs)

    monkeypatch.setattr(Path, "read_text", empty_autogroup)
    code = ("import sys, threading, time\n"
            "open('/proc/self/comm', 'w').write('chromium')\n"
            "threading.Thread(target=time.sleep, args=(30,), daemon=True).start()\n"
            "print('ready', flush=True); sys.stdin.readline()\n"
            "threading.Thread(target=time.sleep, args=(30,), daemon=True).start()\n"
            "print('again', flush=True); time.sleep(30)\n")
    child = subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.PIPE,
                             stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout and child.stdin
        assert child.stdout.readline() == "ready\n"
        said = classroom.browsers_elsewhere(19)
        assert re.fullmatch(r"browsers at the lowest priority \(chromium's \d+ threads at "
                            r"nice 19\): .*", said), said
        child.stdin.write("\n")
        child.stdin.flush()
        assert child.stdout.readline() == "again\n"
        tasks = list(Path(f"/proc/{child.pid}/task").iterdir())
        assert len(tasks) == 3
        assert {os.getpriority(os.PRIO_PROCESS, int(t.name)) for t in tasks} == {19}
    finally:
        child.kill()
        child.wait()
