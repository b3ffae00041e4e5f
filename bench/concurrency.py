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
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT)]

from agents import set_trace_processors, trace  # noqa: E402

from orchlab.agentdefs import build_agents  # noqa: E402
from orchlab.backends import resolve  # noqa: E402
from orchlab.recorder import install_recorder  # noqa: E402
from orchlab.records import RunRecord  # noqa: E402
from orchlab.runner import ExperimentSpec, arun_experiment, prepare  # noqa: E402
from orchlab.scenario import FlowEnv, RunDeps  # noqa: E402
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


@dataclass
class Level:
    """Totals of one variant at one concurrency, summed over its experiments."""

    wall: float = 0.0
    ideal: float = 0.0
    cpu: float = 0.0
    server_cpu: float = 0.0
    runs: int = 0
    records: list[RunRecord] = field(default_factory=list)


async def full_experiment(store: Store, base_url: str, runs: int, k: int) -> list[str]:
    """Our path: arun_experiment (runner, recorder, metrics, SQLite commit per run)."""
    backend = resolve(f"compat:fake-model@{base_url}")  # a client bound to this event loop
    result = await arun_experiment(spec_for(backend.id, runs, k), store, backend=backend)
    bad = [r for r in result.records if r.status != "ok" or not r.outcome.get("success")]
    if bad:
        raise RuntimeError(f"{len(bad)} runs failed, e.g. {bad[0].error_message}")
    LAST_RECORDS[:] = result.records
    return [r.form for r in sorted(result.records, key=lambda r: (r.repetition, r.form))]


async def bare_experiment(store: Store, base_url: str, runs: int, k: int) -> list[str]:
    """The same plan, flows and K on the bare SDK: spans made, no processor, no store."""
    backend = resolve(f"compat:fake-model@{base_url}")
    spec = spec_for(backend.id, runs, k)
    scenario, defs, plan = prepare(spec)
    semaphore = asyncio.Semaphore(k)

    async def one(form: str, input_id: str) -> None:
        async with semaphore:
            agents = build_agents(defs, scenario.tools(), backend, spec.model_settings)
            deps = RunDeps()
            with trace(f"bare:{form}"):
                await scenario.flows[form](scenario.input(input_id), FlowEnv(
                    agents, deps, spec.max_turns))
            if len(deps.outbox) != 1:
                raise RuntimeError(f"bare {form} run sent {len(deps.outbox)} emails")

    set_trace_processors([])
    try:
        await asyncio.gather(*(one(p.form, p.input_id) for p in plan))
    finally:
        set_trace_processors([install_recorder()])
    return [p.form for p in plan]


def spec_for(backend_id: str, runs: int, k: int) -> ExperimentSpec:
    return ExperimentSpec("sales_email", forms=["code", "llm"], inputs=["dana-acme"],
                          repetitions=runs // 2, concurrency=k, backend=backend_id)


LAST_RECORDS: list[RunRecord] = []
VARIANTS = {"bare": bare_experiment, "full": full_experiment}


async def measure(
    server: ServerProcess, store: Store, levels: list[tuple[int, int, int]]
) -> dict[tuple[str, int], Level]:
    """Each K: bare and full experiments, alternating which goes first (ABBA over rounds)."""
    install_recorder()
    for variant in VARIANTS.values():  # warm-up: imports, first connections
        await variant(store, server.base_url, 4, 2)
    totals: dict[tuple[str, int], Level] = {}
    turn = 0
    for k, runs, rounds in levels:
        for _ in range(rounds):
            order = ["bare", "full"] if turn % 2 == 0 else ["full", "bare"]
            turn += 1
            for name in order:
                level = totals.setdefault((name, k), Level())
                s0, w0, c0 = server.cpu_s(), time.perf_counter(), time.process_time()
                forms = await VARIANTS[name](store, server.base_url, runs, k)
                level.wall += time.perf_counter() - w0
                level.cpu += time.process_time() - c0
                level.server_cpu += server.cpu_s() - s0
                level.ideal += ideal_makespan(forms, k)
                level.runs += len(forms)
                if name == "full":
                    level.records += LAST_RECORDS
    return totals


def report(totals: dict[tuple[str, int], Level]) -> float:
    """Print one line per variant and K; returns full wall/ideal at K=50."""
    for (name, k), lv in sorted(totals.items(), key=lambda item: (item[0][1], item[0][0])):
        line = (f"K={k:<3} {name:<5} runs={lv.runs:<4} wall={lv.wall:7.2f}s "
                f"ideal={lv.ideal:6.2f}s wall/ideal={lv.wall / lv.ideal:6.3f}  "
                f"cpu/run={lv.cpu / lv.runs * 1000:5.1f} ms  "
                f"core_busy={lv.cpu / lv.wall:4.2f}  "
                f"server_cpu/run={lv.server_cpu / lv.runs * 1000:4.1f} ms")
        if name == "full":
            depth = {f: statistics.median(model_time_ms(r) / (LATENCY_S * 1000)
                                          for r in lv.records if r.form == f) for f in DEPTH}
            overhead = statistics.median(r.wall_ms - model_time_ms(r) for r in lv.records)
            bare = totals[("bare", k)]
            line += (f"  full/bare wall={lv.wall / bare.wall:5.3f} "
                     f"cpu={lv.cpu / bare.cpu:5.3f}  "
                     f"run_wall-model_time={overhead:6.1f} ms (median)  "
                     f"depth code={depth['code']:.2f} llm={depth['llm']:.2f}")
        print(line)
    return totals[("full", 50)].wall / totals[("full", 50)].ideal


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=200, help="runs per experiment, K=10, 50")
    parser.add_argument("--k1-runs", type=int, default=100, help="runs per experiment, K=1")
    args = parser.parse_args()
    levels = [(1, args.k1_runs, 1), (10, args.runs, 1), (50, args.runs, 2)]
    print(f"runs per experiment: K=1 {args.k1_runs}, K=10 {args.runs}, K=50 {args.runs} "
          f"(two rounds); each K runs bare and full, order alternating")
    if args.k1_runs < args.runs:
        print(f"K=1 uses {args.k1_runs} runs, not {args.runs}: it is sequential, so its wall "
              f"is runs x per-run time and {args.k1_runs} runs measure that as well; both "
              f"variants at 200 would take over 2 minutes of the 5-minute budget")
    server = ServerProcess(LATENCY_S)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            store = Store(Path(tmp) / "concurrency.sqlite")
            totals = asyncio.run(measure(server, store, levels))
            store.close()
    finally:
        server.close()
    k50 = report(totals)
    print(f"wall/ideal at K=50={k50:.3f}")


if __name__ == "__main__":
    main()
