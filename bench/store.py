"""Store throughput: 10,000 runs with their spans written, then loaded into a DataFrame.

Runs are `bench/synthetic.py`'s (8 spans and one outbox message each), written one
`Store.save_run` transaction at a time as the runner commits them. The load is the
dashboard's `Store.load_runs()` (all runs, outcome and per_agent parsed). Load timings are
interleaved with a floor: the same SELECT fetched by plain sqlite3 with no DataFrame and no
JSON parsing, so `load/floor` says how much load_runs adds on top of SQLite itself.

Peak memory: tracemalloc peak during one extra load (Python allocations only; the timed
loads run without tracemalloc), and the process's ru_maxrss at the end (everything).

Last line: the median load_runs time for 10,000 runs, in seconds. Target: < 1 s.

    python bench/store.py [--runs 10000] [--loads 7]
"""

from __future__ import annotations

import argparse
import random
import resource
import statistics
import sys
import tempfile
import time
import tracemalloc
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "bench")]


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=10_000,
                        help="runs written (default %(default)s)")
    parser.add_argument("--loads", type=int, default=7, help="timed loads (and floors)")
    return parser.parse_args()


if __name__ == "__main__":
    ARGS = parse_args()  # --help answers here, before the heavy imports below

from synthetic import synthetic_run  # noqa: E402

from orchlab.records import ExperimentRecord  # noqa: E402
from orchlab.store import Store  # noqa: E402

FLOOR_SQL = ("SELECT runs.*, COALESCE(json_extract(e.spec_json, '$.variant'), 'original') "
             "FROM runs JOIN experiments e USING (experiment_id) ORDER BY runs.started_at")


def write(store: Store, n_runs: int) -> tuple[float, float, int]:
    """(seconds in save_run, seconds making records, spans written): records made one by one,
    so memory holds one run at a time."""
    rng = random.Random(0)
    start = datetime(2026, 1, 1, tzinfo=UTC)
    exp_id = "exp-bench-store"
    store.save_experiment(ExperimentRecord(
        experiment_id=exp_id, scenario="sales_email", backend="openai:gpt-4.1-mini",
        created_at=start, spec={"forms": ["code", "llm"]}, planned_runs=n_runs,
        status="completed"))
    saving = making = 0.0
    spans = 0
    for i in range(n_runs):
        t0 = time.perf_counter()
        run = synthetic_run(exp_id, i, rng, start)
        t1 = time.perf_counter()
        store.save_run(run)
        saving += time.perf_counter() - t1
        making += t1 - t0
        spans += len(run.spans)
    return saving, making, spans


def load(store: Store) -> tuple[float, int]:
    t0 = time.perf_counter()
    frame = store.load_runs()
    return time.perf_counter() - t0, len(frame)


def floor(store: Store) -> tuple[float, int]:
    t0 = time.perf_counter()
    with store._lock:
        rows = store._conn.execute(FLOOR_SQL).fetchall()
    return time.perf_counter() - t0, len(rows)


def main(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "store.sqlite"
        store = Store(path)
        saving, making, spans = write(store, args.runs)
        size_mb = sum(p.stat().st_size for p in Path(tmp).iterdir()) / 2**20
        print(f"write: {args.runs} runs, {spans} spans in {saving:.2f} s of save_run "
              f"({args.runs / saving:,.0f} runs/s, {spans / saving:,.0f} spans/s, "
              f"{saving / args.runs * 1000:.2f} ms per run; making the records took "
              f"{making:.2f} s more), file {size_mb:.1f} MB")
        store.close()

        store = Store(path)  # a fresh connection, as a dashboard process opens it
        load(store)  # warm-up: pandas import, page cache
        loads, floors = [], []
        for i in range(args.loads):  # interleaved, order alternating
            pair = (load, floor) if i % 2 == 0 else (floor, load)
            for fn in pair:
                seconds, rows = fn(store)
                assert rows == args.runs, (fn.__name__, rows)
                (loads if fn is load else floors).append(seconds)
        tracemalloc.start()
        load(store)
        peak_mb = tracemalloc.get_traced_memory()[1] / 2**20
        tracemalloc.stop()
        store.close()
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    med_load, med_floor = statistics.median(loads), statistics.median(floors)
    print(f"load_runs: median {med_load:.3f} s, min {min(loads):.3f} s over {args.loads} loads "
          f"of {args.runs} runs; sqlite3 floor median {med_floor:.3f} s; "
          f"load/floor={med_load / med_floor:.2f}")
    print(f"memory: tracemalloc peak during load_runs {peak_mb:.1f} MB; "
          f"process ru_maxrss {rss_mb:.0f} MB")
    print(f"{med_load:.3f}")


if __name__ == "__main__":
    main(ARGS)
