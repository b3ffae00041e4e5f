"""Experiments against a local OpenAI-compatible server with a fixed 100 ms per call.

Runs the sales scenario (both forms, interleaved as the runner plans them) at concurrency
K = 1, 10 and 50, in these variants, rotating which goes first at each round:

- `full`: our path, `arun_experiment` with a `compat:fake-model@<url>` backend: runner,
  recorder, metrics, outcome check, one SQLite commit per run; one process.
- `fullxW` (K=10, 50): the same with `workers=W`, W = the cores this process may use: the
  runs spread over W worker processes, the parent storing what they send.
- `fullray` (K=10, 50): the same with `workers=W, cluster="ray"`: the W shards run as Ray
  actors on a local Ray (started once before the rounds, its start-up printed on its own
  line; each experiment's actor start-up is part of its wall, as a user waits for it).
- `fullpg` (K=10, 50): `full` with the store on PostgreSQL (a durable local server from
  `orchlab.testing.pgserver`, started once) instead of SQLite: the store's cost at high
  concurrency on both engines.
- `bare`: the same plan, flows and K (an asyncio.Semaphore) on the bare SDK: agents from
  `build_agents` once per experiment (as ours, and as an SDK user would), one `trace()` per
  run, SDK tracing on with no processor, no store.

The fake server runs in its own process (`python -c` starting `FakeOpenAIServer`): in ours it
would share our GIL, and at K=50 its request threads would be counted as our overhead.

Ideal, as the issue defines it (`ideal`): calls per run x 100 ms x ceil(N/K), i.e. a run's
model calls one after another. Calls per run are counted on the recorded runs (code 4, llm 6
with the fake server's policy). Computed as the makespan of the plan, in order, on K slots,
which is that formula for runs of one kind. Stricter, also reported (`path`): each run takes
only its critical path, its sequential call depth x 100 ms: code = the writers in parallel +
the picker = 2; llm = manager turn, the writers in parallel, two manager turns = 4 (checked on
the recorded spans: `spans depth` = median union of a run's generation spans / 100 ms, which
also shows what each call costs beyond its 100 ms).

Reported per K and variant: wall, wall/ideal, wall/path; CPU per run (process_time of this
process plus the workers' own, over runs) and core_busy = CPU / wall; time in the garbage
collector (this process); the server's CPU per run; for the full variants, wall against bare
and how long `Store.save_run` took (on the runner's writer thread: a run's slot frees after
its commit).

Ratios in this run: fullray/fullxW and fullray/full wall, fullpg/full wall, at each K.

The CPU floor: no scheduler finishes before (client + server CPU) / cores. The line before the
last puts that floor at K=50 next to the ideal, i.e. whether 1.15 is reachable on this machine
at all. Last line: wall/ideal at K=50 of the faster of `full` and `fullxW`. Target: <= 1.15.

    python bench/concurrency.py [--runs 200] [--k1-runs 40] [--latency 0.1] [--k 1,10,50]
                                [--variants fullray,fullpg] [--rounds 3]

`--rounds` sets the rounds at K=10 and 50 (K=1 takes at most 2). A short run, every variant
and every K on a tiny plan (the test suite runs it; its figures are not the measurement):

    python bench/concurrency.py --runs 20 --k1-runs 4 --latency 0.02 --rounds 1

`--variants` picks the optional variants (workers or fullxW, fullray, fullpg; default all);
bare and full always run, since the ideal, the floor and the last line need them.

`--latency 1 --k 50` asks the same question of a hosted model's latencies: whether the harness
keeps up once the model, not the CPU, is the bottleneck.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import heapq
import os
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT)]


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=200, help="runs per experiment, K=10, 50")
    parser.add_argument("--k1-runs", type=int, default=40, help="runs per experiment, K=1")
    parser.add_argument("--latency", type=float, default=0.1, help="seconds per call")
    parser.add_argument("--k", default="1,10,50", help="concurrency levels (50 is reported)")
    parser.add_argument("--variants", default="workers,fullray,fullpg",
                        help="optional variants, comma-separated: workers (fullxW), "
                             "fullray, fullpg (default all)")
    parser.add_argument("--rounds", type=int, default=3,
                        help="rounds at K=10 and 50; K=1 takes at most 2 (default %(default)s)")
    args = parser.parse_args()
    if args.rounds < 1 or args.runs < 2 or args.runs % 2 or args.k1_runs < 2 or args.k1_runs % 2:
        parser.error("--rounds must be >= 1; --runs and --k1-runs even and >= 2 (both forms)")
    return args


if __name__ == "__main__":
    ARGS = parse_args()  # --help answers here, before the heavy imports below
os.environ["ORCHLAB_EXPORT_OPENAI_TRACES"] = "0"  # never export traces: no network

from agents import set_trace_processors, trace  # noqa: E402

from orchlab.backends import resolve  # noqa: E402
from orchlab.core.records import RunRecord  # noqa: E402
from orchlab.measure.recorder import install_recorder  # noqa: E402
from orchlab.running.runner import ExperimentSpec, arun_experiment, prepare  # noqa: E402
from orchlab.running.workers import cpu_count  # noqa: E402
from orchlab.scenario import FlowEnv, RunDeps  # noqa: E402
from orchlab.scenario.agentdefs import build_agents  # noqa: E402
from orchlab.store.store import Store  # noqa: E402
from orchlab.testing.devserver import FakeServerProcess  # noqa: E402
from orchlab.testing.pgserver import PostgresServer  # noqa: E402

LATENCY_S = 0.1
"""Seconds per call; --latency changes it (before the server starts)."""
CALLS = {"code": 4, "llm": 6}
"""Model calls per run with the fake server's policy (checked on every recorded run)."""
DEPTH = {"code": 2, "llm": 4}
"""Sequential model calls on each form's critical path (see module docstring)."""
CORES = cpu_count()


class TimedStore(Store):
    """The real Store, timing each save_run (on the runner's writer thread: the committing
    run's slot waits for it, the runs in flight do not)."""

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


def set_latency(seconds: float) -> None:
    global LATENCY_S
    LATENCY_S = seconds


def ideal_makespan(forms: list[str], k: int, calls: dict[str, int]) -> float:
    """Seconds for the plan, in order, on k slots, if each run took exactly calls x 100 ms."""
    slots = [0.0] * min(k, len(forms))
    for form in forms:
        start = heapq.heappop(slots)
        heapq.heappush(slots, start + calls[form] * LATENCY_S)
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
    path: float = 0.0
    cpu: float = 0.0
    server_cpu: float = 0.0
    gc: float = 0.0
    store_blocked: float = 0.0
    store_max: float = 0.0
    runs: int = 0
    records: list[RunRecord] = field(default_factory=list)


@dataclass
class Outcome:
    """What one experiment of a variant produced."""

    forms: list[str]
    worker_cpu_s: float = 0.0
    records: list[RunRecord] = field(default_factory=list)


async def full_experiment(
    store: TimedStore, base_url: str, runs: int, k: int, workers: int = 1, cluster: str = ""
) -> Outcome:
    """Our path: arun_experiment (runner, recorder, metrics, one store commit per run)."""
    backend = resolve(f"compat:fake-model@{base_url}")  # a client bound to this event loop
    spec = spec_for(backend.id, runs, k)
    spec.workers, spec.cluster = workers, cluster
    result = await arun_experiment(spec, store, backend=backend)
    bad = [r for r in result.records if r.status != "ok" or not r.outcome.get("success")
           or r.metrics.llm_calls != CALLS[r.form]]
    if bad or len(result.records) != runs:
        raise RuntimeError(f"{len(bad)} runs failed or differ from CALLS, e.g. "
                           f"{bad[0].error_message if bad else 'runs missing'}")
    forms = [r.form for r in sorted(result.records, key=lambda r: (r.repetition, r.form))]
    return Outcome(forms, result.worker_cpu_s, result.records)


async def workers_experiment(store: TimedStore, base_url: str, runs: int, k: int) -> Outcome:
    """Our path with the runs spread over one worker process per core."""
    return await full_experiment(store, base_url, runs, k, workers=CORES)


async def ray_experiment(store: TimedStore, base_url: str, runs: int, k: int) -> Outcome:
    """Our path with the runs spread over one Ray actor per core on a local Ray."""
    return await full_experiment(store, base_url, runs, k, workers=CORES, cluster="ray")


async def bare_experiment(store: TimedStore, base_url: str, runs: int, k: int) -> Outcome:
    """The same plan, flows and K on the bare SDK: spans made, no processor, no store."""
    backend = resolve(f"compat:fake-model@{base_url}")
    spec = spec_for(backend.id, runs, k)
    prepared = prepare(spec)
    scenario, defs, plan = prepared.scenario, prepared.defs, prepared.plan
    semaphore = asyncio.Semaphore(k)
    agents = build_agents(defs, scenario.tools(), backend, spec.model_settings)  # once, as ours

    async def one(form: str, input_id: str) -> None:
        async with semaphore:
            deps = RunDeps()
            with trace(f"bare:{form}"):
                await scenario.form(form).flow(scenario.input(input_id), FlowEnv(
                    agents, deps, spec.max_turns))
            if len(deps.outbox) != 1:
                raise RuntimeError(f"bare {form} run sent {len(deps.outbox)} emails")

    set_trace_processors([])
    try:
        await asyncio.gather(*(one(p.form, p.input_id) for p in plan))
    finally:
        set_trace_processors([install_recorder()])
    return Outcome([p.form for p in plan])


def spec_for(backend_id: str, runs: int, k: int) -> ExperimentSpec:
    return ExperimentSpec("sales_email", forms=["code", "llm"], inputs=["dana-acme"],
                          repetitions=runs // 2, concurrency=k, backend=backend_id)


WORKERS = f"fullx{CORES}"
VARIANTS = {"bare": bare_experiment, "full": full_experiment, WORKERS: workers_experiment,
            "fullray": ray_experiment, "fullpg": full_experiment}
SHARDED = {WORKERS, "fullray"}
"""Variants that spread runs over workers: none at K=1 (one worker at most)."""
STORES: dict[str, TimedStore] = {}
"""A variant's own store (fullpg's PostgreSQL); the others share the SQLite one."""


async def measure(
    server: FakeServerProcess, default_store: TimedStore, levels: list[tuple[int, int, int]]
) -> dict[tuple[str, int], Level]:
    """Each K: every variant once per round, rotating which goes first."""
    install_recorder()
    gc_clock = GcClock()
    for name, variant in VARIANTS.items():  # warm-up: imports, connections, the fork server
        await variant(STORES.get(name, default_store), server.base_url, 4, 2)
    totals: dict[tuple[str, int], Level] = {}
    turn = 0
    for k, runs, rounds in levels:
        names = [n for n in VARIANTS if k > 1 or n not in SHARDED | {"fullpg"}]
        for _ in range(rounds):
            order = names[turn % len(names):] + names[:turn % len(names)]
            turn += 1
            for name in order:
                level = totals.setdefault((name, k), Level())
                store = STORES.get(name, default_store)
                await time_one(name, store, server, gc_clock, level, runs, k)
    return totals


async def time_one(name: str, store: TimedStore, server: FakeServerProcess, gc_clock: GcClock,
                   level: Level, runs: int, k: int) -> None:
    """One experiment of a variant, its costs added to the level's totals."""
    s0, w0, c0 = server.cpu_s(), time.perf_counter(), time.process_time()
    g0, b0, store.max_s = gc_clock.total, store.blocked_s, 0.0
    outcome = await VARIANTS[name](store, server.base_url, runs, k)
    level.wall += time.perf_counter() - w0
    level.cpu += time.process_time() - c0 + outcome.worker_cpu_s
    level.server_cpu += server.cpu_s() - s0
    level.gc += gc_clock.total - g0
    level.store_blocked += store.blocked_s - b0
    level.store_max = max(level.store_max, store.max_s)
    level.ideal += ideal_makespan(outcome.forms, k, CALLS)
    level.path += ideal_makespan(outcome.forms, k, DEPTH)
    level.runs += len(outcome.forms)
    level.records += outcome.records


def report(totals: dict[tuple[str, int], Level]) -> float:
    """Print one line per variant and K, then the CPU floor; returns the headline ratio."""
    for (name, k), lv in sorted(totals.items(), key=lambda item: (item[0][1], item[0][0])):
        print(f"K={k:<3} {name:<6} runs={lv.runs:<4} wall={lv.wall:6.2f}s "
              f"ideal={lv.ideal:6.2f}s wall/ideal={lv.wall / lv.ideal:6.3f} "
              f"wall/path={lv.wall / lv.path:6.3f}  cpu/run={lv.cpu / lv.runs * 1000:5.1f} ms  "
              f"core_busy={lv.cpu / lv.wall:4.2f}  gc={lv.gc / lv.wall:4.0%} of wall  "
              f"server_cpu/run={lv.server_cpu / lv.runs * 1000:4.1f} ms")
        if lv.records:
            depth = {f: statistics.median(model_time_ms(r) / (LATENCY_S * 1000)
                                          for r in lv.records if r.form == f) for f in DEPTH}
            overhead = statistics.median(r.metrics.wall_ms - model_time_ms(r) for r in lv.records)
            print(f"       /bare wall={lv.wall / totals[('bare', k)].wall:5.3f}  "
                  f"store.save_run {lv.store_blocked:5.2f}s in all, longest "
                  f"{lv.store_max * 1000:4.0f} ms  median run wall - model time="
                  f"{overhead:6.1f} ms  spans depth code={depth['code']:.2f} "
                  f"llm={depth['llm']:.2f}")
    ratios(totals)
    bare, best = totals[("bare", 50)], min(
        (lv for (name, k), lv in totals.items() if k == 50 and name in ("full", WORKERS)),
        key=lambda lv: lv.wall)
    floor = (bare.cpu + bare.server_cpu) / CORES
    print(f"K=50 CPU floor: bare SDK {bare.cpu / bare.runs * 1000:.1f} + server "
          f"{bare.server_cpu / bare.runs * 1000:.1f} ms CPU per run x {bare.runs} runs / "
          f"{CORES} cores = {floor:.2f}s against ideal {bare.ideal:.2f}s: no harness gets "
          f"below {floor / bare.ideal:.2f} x ideal here; 1.15 needs >= "
          f"{(bare.cpu + bare.server_cpu) / (1.15 * bare.ideal):.1f} cores at this CPU per run")
    return best.wall / best.ideal


def ratios(totals: dict[tuple[str, int], Level]) -> None:
    """The optional variants against the ones they stand beside, measured in this run."""
    pairs = [("fullray", WORKERS), ("fullray", "full"), ("fullpg", "full")]
    for k in sorted({k for _, k in totals}):
        for ours, other in pairs:
            if (ours, k) in totals and (other, k) in totals:
                print(f"K={k:<3} {ours}/{other} wall = "
                      f"{totals[(ours, k)].wall / totals[(other, k)].wall:.3f}")


def choose_variants(wanted: str) -> None:
    """Keep bare, full and the optional variants asked for (a name not known is an error)."""
    names = {"workers": WORKERS, "fullxW": WORKERS, WORKERS: WORKERS, "fullray": "fullray",
             "fullpg": "fullpg", "bare": "bare", "full": "full"}
    asked = [w.strip() for w in wanted.split(",") if w.strip()]
    unknown = [w for w in asked if w not in names]
    if unknown:
        raise SystemExit(f"--variants: unknown {', '.join(unknown)}; choose from workers, "
                         f"fullray, fullpg")
    keep = {"bare", "full"} | {names[w] for w in asked}
    for name in list(VARIANTS):
        if name not in keep:
            del VARIANTS[name]


def start_ray() -> None:
    from orchlab.running import cluster

    t0 = time.perf_counter()
    cluster.connect("ray")
    print(f"Ray: a local Ray started in {time.perf_counter() - t0:.1f} s (once, not timed)")


def print_plan(levels: list[tuple[int, int, int]], k1_runs: int, runs: int) -> None:
    """The header: latency, runs and rounds per K, workers."""
    print(f"{LATENCY_S * 1000:g} ms per call; runs per experiment (rounds): "
          + ", ".join(f"K={k} {n} ({rounds})" for k, n, rounds in levels)
          + f"; a round runs each variant once, rotating which goes first: this machine's "
          f"speed drifts by 10-20% within a minute. Workers: {CORES} (cores usable)")
    if any(k == 1 for k, _, _ in levels) and k1_runs < runs:
        print(f"K=1 uses {k1_runs} runs per experiment: it is sequential, so its wall is "
              f"runs x per-run time, which {2 * k1_runs} runs per variant measure as well")


def main(args: argparse.Namespace) -> None:
    set_latency(args.latency)
    choose_variants(args.variants)
    if "fullray" in VARIANTS:
        start_ray()
    wanted = {int(k) for k in args.k.split(",")} | {50}
    levels = [lv for lv in [(1, args.k1_runs, min(2, args.rounds)), (10, args.runs, args.rounds),
                            (50, args.runs, args.rounds)]
              if lv[0] in wanted]
    print_plan(levels, args.k1_runs, args.runs)
    server = FakeServerProcess(LATENCY_S)
    postgres = PostgresServer(durable=True).start() if "fullpg" in VARIANTS else None
    try:
        with tempfile.TemporaryDirectory() as tmp:
            store = TimedStore(Path(tmp) / "concurrency.sqlite")
            if postgres is not None:
                STORES["fullpg"] = TimedStore(postgres.create_database())
            totals = asyncio.run(measure(server, store, levels))
            for opened in [store, *STORES.values()]:
                opened.close()
    finally:
        server.close()
        if postgres is not None:
            postgres.stop()
    k50 = report(totals)
    print(f"wall/ideal at K=50 (faster full variant)={k50:.3f}")


if __name__ == "__main__":
    main(ARGS)
