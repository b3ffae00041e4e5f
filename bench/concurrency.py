"""Experiments against a local OpenAI-compatible server with a fixed 100 ms per call.

Runs the sales scenario (both forms, interleaved as the runner plans them) through the real
path: `arun_experiment` with a `compat:fake-model@<url>` backend, the recorder and the SQLite
store, at concurrency K = 1, 10 and 50.

The fake server runs in its own process (`python -c` starting `FakeOpenAIServer`): in ours it
would share our GIL, and at K=50 its request threads would be counted as our overhead.

Ideal. A run's critical path is its sequential model-call depth x 100 ms: code = the three
writers in parallel (1) + the picker (1) = 2 calls; llm = manager turn, the writers in
parallel, manager turn, manager turn = 4 calls (the fake server's policy; checked below on
the recorded spans as the union of each run's generation spans / 100 ms). The ideal wall
time of an experiment is the makespan of the same plan, in the same order, on K slots, if
every run took exactly its critical path and nothing else cost anything; for runs of one
depth d this is d x 100 ms x ceil(N/K).

Reported per K: wall, ideal, wall/ideal, our process's CPU time per run (process_time
deltas / runs), the server's CPU per run, and the mean per-run overhead (run wall minus its
model time). Last line: wall/ideal at K=50. Target: <= 1.15.

    python bench/concurrency.py [--runs 200] [--k1-runs 200]
"""

from __future__ import annotations

import argparse
import asyncio
import heapq
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT)]

from orchlab.backends import resolve  # noqa: E402
from orchlab.records import RunRecord  # noqa: E402
from orchlab.runner import ExperimentSpec, arun_experiment  # noqa: E402
from orchlab.store import Store  # noqa: E402

LATENCY_S = 0.1
DEPTH = {"code": 2, "llm": 4}
"""Sequential model calls on each form's critical path (see module docstring)."""
SERVER = (
    "import sys\n"
    "from orchlab.devserver import FakeOpenAIServer\n"
    "server = FakeOpenAIServer(latency_s=float(sys.argv[1])).__enter__()\n"
    "print(server.base_url, flush=True)\n"
    "sys.stdin.read()\n"  # serve until the parent closes our stdin
)


class ServerProcess:
    """The fake server in a child process; stops when its stdin is closed."""

    def __init__(self, latency_s: float) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-c", SERVER, str(latency_s)], cwd=ROOT, text=True,
            stdin=subprocess.PIPE, stdout=subprocess.PIPE,
        )
        assert self.proc.stdout is not None
        self.base_url = self.proc.stdout.readline().strip()
        if not self.base_url.startswith("http://127.0.0.1:"):
            self.close()
            raise RuntimeError(f"fake server did not start: {self.base_url!r}")

    def cpu_s(self) -> float:
        """User + system CPU of the server process so far (Linux /proc; 0 elsewhere)."""
        try:
            fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            return 0.0
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def close(self) -> None:
        if self.proc.stdin:
            self.proc.stdin.close()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def ideal_makespan(forms: list[str], k: int) -> float:
    """Seconds for the plan, in order, on k slots, if each run took exactly its critical path."""
    slots = [0.0] * min(k, len(forms))
    for form in forms:
        start = heapq.heappop(slots)
        heapq.heappush(slots, start + DEPTH[form] * LATENCY_S)
    return max(slots)


def model_time_ms(record: RunRecord) -> float:
    """Union of the run's generation spans: the time some model call was in flight."""
    spans = sorted((s.start_ms, s.end_ms) for s in record.spans if s.kind == "generation")
    total, cur_start, cur_end = 0.0, None, None
    for start, end in spans:
        if cur_end is None or start > cur_end:
            if cur_end is not None:
                total += cur_end - cur_start
            cur_start, cur_end = start, end
        else:
            cur_end = max(cur_end, end)
    if cur_end is not None:
        total += cur_end - cur_start
    return total


async def experiment(store: Store, base_url: str, runs: int, k: int) -> tuple[
    float, float, list[RunRecord]
]:
    """(wall s, our CPU s, records) of one experiment of `runs` runs at concurrency k."""
    backend = resolve(f"compat:fake-model@{base_url}")  # fresh client on this event loop
    spec = ExperimentSpec("sales_email", forms=["code", "llm"], inputs=["dana-acme"],
                          repetitions=runs // 2, concurrency=k, backend=backend.id)
    w0, c0 = time.perf_counter(), time.process_time()
    result = await arun_experiment(spec, store, backend=backend)
    return time.perf_counter() - w0, time.process_time() - c0, result.records


async def measure(server: ServerProcess, store: Store, levels: list[tuple[int, int]]) -> None:
    await experiment(store, server.base_url, 4, 2)  # warm-up: imports, first connections
    for k, runs in levels:
        s0 = server.cpu_s()
        wall, cpu, records = await experiment(store, server.base_url, runs, k)
        server_cpu = server.cpu_s() - s0
        forms = [r.form for r in sorted(records, key=lambda r: (r.repetition, r.form))]
        ideal = ideal_makespan(forms, k)
        bad = [r for r in records if r.status != "ok" or not r.outcome.get("success")]
        depth = {f: statistics.median(model_time_ms(r) / (LATENCY_S * 1000)
                                      for r in records if r.form == f) for f in DEPTH}
        overhead = statistics.fmean(r.wall_ms - model_time_ms(r) for r in records)
        print(f"K={k:<3} runs={len(records):<4} wall={wall:7.2f}s ideal={ideal:6.2f}s "
              f"wall/ideal={wall / ideal:5.3f}  cpu/run={cpu / len(records) * 1000:6.1f} ms  "
              f"server_cpu/run={server_cpu / len(records) * 1000:5.1f} ms  "
              f"run_overhead={overhead:6.1f} ms  failed={len(bad)}  "
              f"measured_depth code={depth['code']:.2f} llm={depth['llm']:.2f}")
        results[k] = wall / ideal


results: dict[int, float] = {}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=200, help="runs at K=10 and K=50")
    parser.add_argument("--k1-runs", type=int, default=200, help="runs at K=1")
    args = parser.parse_args()
    levels = [(1, args.k1_runs), (10, args.runs), (50, args.runs)]
    if args.k1_runs != args.runs:
        print(f"K=1 uses {args.k1_runs} runs instead of {args.runs} to bound the runtime "
              f"(sequential: about {args.k1_runs * 0.3:.0f} s of model latency alone)")
    server = ServerProcess(LATENCY_S)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            store = Store(Path(tmp) / "concurrency.sqlite")
            asyncio.run(measure(server, store, levels))
            store.close()
    finally:
        server.close()
    print(f"wall/ideal at K=50={results[50]:.3f}")


if __name__ == "__main__":
    main()
