"""Experiments against a local OpenAI-compatible server with a fixed 100 ms per call.

Runs the sales scenario (both forms, interleaved as the runner plans them) at concurrency
K = 1, 10 and 50, two ways, alternating which goes first at each round:

- `full`: our path, `arun_experiment` with a `compat:fake-model@<url>` backend: runner,
  recorder, metrics, outcome check, one SQLite commit per run.
- `bare`: the same plan, flows and K (an asyncio.Semaphore) on the bare SDK: agents from
  `build_agents`, one `trace()` per run, SDK tracing on with no processor, no store.

The fake server runs in its own process (`python -c` starting `FakeOpenAIServer`): in ours it
would share our GIL, and at K=50 its request threads would be counted as our overhead.

Ideal. A run's critical path is its sequential model-call depth x 100 ms: code = the three
writers in parallel (1) + the picker (1) = 2 calls; llm = manager turn, the writers in
parallel, manager turn, manager turn = 4 calls (the fake server's policy; checked on the
recorded spans: `spans depth` = median union of a run's generation spans / 100 ms, which
also shows what each call costs beyond its 100 ms). The ideal wall time of an experiment is
the makespan of the same plan, in the same order, on K slots, if every run took exactly its
critical path and nothing else cost anything; for runs of one depth d that is
d x 100 ms x ceil(N/K).

Reported per K and variant: wall, ideal, wall/ideal; our process's CPU per run
(process_time deltas / runs) and core_busy = CPU / wall (near 1: the process is CPU-bound on
one core, GIL); wall/max(ideal, CPU), i.e. against the better of the two floors; time in the
garbage collector; the server's CPU per run; for `full`, full/bare and how long
`Store.save_run` held the event loop (it runs on the loop, so every in-flight run waits).
Last line: full wall/ideal at K=50. Target: <= 1.15.

    python bench/concurrency.py [--runs 200] [--k1-runs 40]
"""

from __future__ import annotations

import argparse
import asyncio
import gc
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
os.environ["ORCHLAB_EXPORT_OPENAI_TRACES"] = "0"  # never export traces: no network

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


class TimedStore(Store):
    """The real Store, timing each save_run: it runs on the event loop, so its wall time is
    time every in-flight run waits."""

    blocked_s = 0.0
    max_s = 0.0

    def save_run(self, run: RunRecord) -> None:
        t0 = time.perf_counter()
        super().save_run(run)
        took = time.perf_counter() - t0
        self.blocked_s += took
        self.max_s = max(self.max_s, took)


class GcClock:
    """Seconds spent in the garbage collector (gc.callbacks)."""

    def __init__(self) -> None:
        self.total = 0.0
        self._t0 = 0.0
        gc.callbacks.append(self._callback)

    def _callback(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._t0 = time.perf_counter()
        else:
            self.total += time.perf_counter() - self._t0


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
    gc: float = 0.0
    store_blocked: float = 0.0
    store_max: float = 0.0
    runs: int = 0
    records: list[RunRecord] = field(default_factory=list)


async def full_experiment(store: TimedStore, base_url: str, runs: int, k: int) -> list[str]:
    """Our path: arun_experiment (runner, recorder, metrics, SQLite commit per run)."""
    backend = resolve(f"compat:fake-model@{base_url}")  # a client bound to this event loop
    result = await arun_experiment(spec_for(backend.id, runs, k), store, backend=backend)
    bad = [r for r in result.records if r.status != "ok" or not r.outcome.get("success")]
    if bad:
        raise RuntimeError(f"{len(bad)} runs failed, e.g. {bad[0].error_message}")
    LAST_RECORDS[:] = result.records
    return [r.form for r in sorted(result.records, key=lambda r: (r.repetition, r.form))]


async def bare_experiment(store: TimedStore, base_url: str, runs: int, k: int) -> list[str]:
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
    server: ServerProcess, store: TimedStore, levels: list[tuple[int, int, int]]
) -> dict[tuple[str, int], Level]:
    """Each K: bare and full experiments, alternating which goes first (ABBA over rounds)."""
    install_recorder()
    gc_clock = GcClock()
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
                g0, b0, store.max_s = gc_clock.total, store.blocked_s, 0.0
                forms = await VARIANTS[name](store, server.base_url, runs, k)
                level.wall += time.perf_counter() - w0
                level.cpu += time.process_time() - c0
                level.server_cpu += server.cpu_s() - s0
                level.gc += gc_clock.total - g0
                level.store_blocked += store.blocked_s - b0
                level.store_max = max(level.store_max, store.max_s)
                level.ideal += ideal_makespan(forms, k)
                level.runs += len(forms)
                if name == "full":
                    level.records += LAST_RECORDS
    return totals


def report(totals: dict[tuple[str, int], Level]) -> float:
    """Print one line per variant and K; returns full wall/ideal at K=50."""
    for (name, k), lv in sorted(totals.items(), key=lambda item: (item[0][1], item[0][0])):
        print(f"K={k:<3} {name:<5} runs={lv.runs:<4} wall={lv.wall:6.2f}s "
              f"ideal={lv.ideal:6.2f}s wall/ideal={lv.wall / lv.ideal:6.3f}  "
              f"cpu/run={lv.cpu / lv.runs * 1000:5.1f} ms  core_busy={lv.cpu / lv.wall:4.2f}  "
              f"wall/max(ideal,cpu)={lv.wall / max(lv.ideal, lv.cpu):5.3f}  "
              f"gc={lv.gc / lv.wall:4.0%} of wall  "
              f"server_cpu/run={lv.server_cpu / lv.runs * 1000:4.1f} ms")
        if name == "full":
            depth = {f: statistics.median(model_time_ms(r) / (LATENCY_S * 1000)
                                          for r in lv.records if r.form == f) for f in DEPTH}
            overhead = statistics.median(r.wall_ms - model_time_ms(r) for r in lv.records)
            bare = totals[("bare", k)]
            print(f"      full/bare wall={lv.wall / bare.wall:5.3f} cpu={lv.cpu / bare.cpu:5.3f}  "
                  f"store blocked the loop {lv.store_blocked:5.2f}s "
                  f"({lv.store_blocked / lv.wall:4.1%}, longest {lv.store_max * 1000:4.0f} ms)  "
                  f"median run wall - model time={overhead:6.1f} ms  "
                  f"spans depth code={depth['code']:.2f} llm={depth['llm']:.2f}")
    return totals[("full", 50)].wall / totals[("full", 50)].ideal


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=200, help="runs per experiment, K=10, 50")
    parser.add_argument("--k1-runs", type=int, default=40, help="runs per experiment, K=1")
    args = parser.parse_args()
    levels = [(1, args.k1_runs, 2), (10, args.runs, 2), (50, args.runs, 4)]
    print(f"runs per experiment: K=1 {args.k1_runs} (2 rounds), K=10 {args.runs} (2 rounds), "
          f"K=50 {args.runs} (4 rounds); a round runs bare and full, which goes first "
          f"alternating (ABBA): this machine's speed drifts by 10-20% within a minute")
    if args.k1_runs < args.runs:
        print(f"K=1 uses {args.k1_runs} runs per experiment, not {args.runs}: it is "
              f"sequential, so its wall is runs x per-run time and {2 * args.k1_runs} runs "
              f"per variant measure that as well; both variants at {args.runs} would take "
              f"2.5 of the bench's 5-minute budget")
    server = ServerProcess(LATENCY_S)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            store = TimedStore(Path(tmp) / "concurrency.sqlite")
            totals = asyncio.run(measure(server, store, levels))
            store.close()
    finally:
        server.close()
    k50 = report(totals)
    print(f"wall/ideal at K=50={k50:.3f}")


if __name__ == "__main__":
    main()
