"""Store throughput on both engines, SQLite and PostgreSQL, measured in one run.

The machine is shared and noisy, so each figure is measured on both engines side by side
and reported as a PostgreSQL/SQLite ratio taken in this same run.

- Write: `--runs` runs of `bench/synthetic.py` (8 spans and one outbox message each),
  written one `Store.save_run` transaction at a time as the runner commits them; the
  engines take turns, 1,000 runs at a time. Only the time in save_run is counted.
- Load: the dashboard's `Store.load_runs()` (all runs, outcome and per_agent parsed) on a
  freshly opened store, `--loads` times per engine, interleaved with the engine's floor: the
  same SELECT fetched by the plain driver (sqlite3; psycopg with `spec_json::jsonb ->>
  'variant'` for json_extract), fetchall, no DataFrame, no JSON parsing, so `load/floor`
  says how much load_runs adds on top of the engine itself. Engines and load/floor order
  alternate from one round to the next.
- Concurrent writers: `--writers` processes (spawn), each opening its own Store on the same
  file or URL and writing `--runs-per-writer` runs (made before the start) into its own
  experiment, all released at once; total runs/s is all their runs over the wall time from
  the first start to the last finish. The same with 1 writer is the baseline. The stored
  count must equal writers x runs-per-writer, else a failure is printed and the exit code is 1.

Engines: SQLite in WAL mode with synchronous=NORMAL (the store's settings), in a temporary
folder; PostgreSQL from `orchlab.testing.pgserver.PostgresServer(durable=True)` (fsync and
synchronous_commit on, as a production server) on 127.0.0.1, skipped with a sentence when
PostgreSQL is not installed.

Peak memory (SQLite, then PostgreSQL): tracemalloc peak during one extra load (Python
allocations only; the timed loads run without tracemalloc), and this process's ru_maxrss
(everything, both engines' loads included; the writer processes are not counted).

Line before the last: PostgreSQL's median load_runs time, labelled. Last line: the median
load_runs time for 10,000 runs on SQLite, in seconds. Target: < 1 s.

    python bench/store.py [--runs 10000] [--loads 7] [--engines sqlite,postgresql]
                          [--writers 4] [--runs-per-writer 500]

A short run, both engines (the test suite's; its figures are not the measurement):

    python bench/store.py --runs 500 --loads 2 --writers 2 --runs-per-writer 50
"""

from __future__ import annotations

import argparse
import multiprocessing
import random
import resource
import sqlite3
import statistics
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "bench")]

ENGINES = ("sqlite", "postgresql")
CHUNK = 1_000
"""Runs one engine writes before the other takes its turn."""
START = datetime(2026, 1, 1, tzinfo=UTC)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=10_000,
                        help="runs written (default %(default)s)")
    parser.add_argument("--loads", type=int, default=7, help="timed loads (and floors)")
    parser.add_argument("--engines", default=",".join(ENGINES),
                        help="comma-separated, of %(default)s (default %(default)s)")
    parser.add_argument("--writers", type=int, default=4,
                        help="concurrent writer processes (default %(default)s)")
    parser.add_argument("--runs-per-writer", type=int, default=500,
                        help="runs each writer writes (default %(default)s)")
    args = parser.parse_args()
    args.engines = [e.strip().lower() for e in args.engines.split(",") if e.strip()]
    unknown = sorted(set(args.engines) - set(ENGINES))
    if unknown or not args.engines:
        parser.error(f"--engines takes {' and '.join(ENGINES)}, not {','.join(unknown)}")
    return args


if __name__ == "__main__":
    ARGS = parse_args()  # --help answers here, before the heavy imports below

from synthetic import synthetic_run  # noqa: E402

from orchlab.core.records import ExperimentRecord  # noqa: E402
from orchlab.store.store import Store  # noqa: E402
from orchlab.testing.pgserver import PostgresServer, pg_bin  # noqa: E402

FLOOR_SQL = ("SELECT runs.*, COALESCE({variant}, 'original') "
             "FROM runs JOIN experiments e USING (experiment_id) ORDER BY runs.started_at")
SQLITE_FLOOR = FLOOR_SQL.format(variant="json_extract(e.spec_json, '$.variant')")
POSTGRES_FLOOR = FLOOR_SQL.format(variant="e.spec_json::jsonb ->> 'variant'")


@dataclass
class Engine:
    """One engine under test: where its store is, its plain driver, and what it measured."""

    name: str
    location: str
    settings: str
    floor_sql: str
    connect: Callable[[], Any]
    """A plain driver connection to the store (the floor's)."""
    fresh: Callable[[str], str]
    """A new empty store's location, for the writer phases."""
    size_mb: Callable[[], float]
    saving: float = 0.0
    making: float = 0.0
    spans: int = 0
    loads: list[float] = field(default_factory=list)
    floors: list[float] = field(default_factory=list)
    writes: dict[int, float] = field(default_factory=dict)
    """Writers -> total runs/s."""
    failed: bool = False


def sqlite_engine(tmp: Path) -> Engine:
    path = tmp / "store.sqlite"
    return Engine(
        name="SQLite", location=str(path), floor_sql=SQLITE_FLOOR,
        settings=f"SQLite {sqlite3.sqlite_version}, WAL with synchronous=NORMAL (the store's "
                 f"settings), file in {tmp}",
        connect=lambda: sqlite3.connect(path),
        fresh=lambda label: str(tmp / f"{label}.sqlite"),
        size_mb=lambda: sum(p.stat().st_size for p in tmp.glob("store.sqlite*")) / 2**20)


def postgres_engine(stack: ExitStack) -> Engine | None:
    if pg_bin() is None:
        print("postgresql: skipped, PostgreSQL is not installed here "
              "(apt-get install postgresql).")
        return None
    import psycopg

    server = stack.enter_context(PostgresServer(durable=True))
    url = server.create_database()
    with psycopg.connect(url) as conn:
        version, fsync, sync = (conn.execute(f"SHOW {s}").fetchone()[0]
                                for s in ("server_version", "fsync", "synchronous_commit"))
    size_sql = "SELECT pg_database_size(current_database())"
    return Engine(
        name="PostgreSQL", location=url, floor_sql=POSTGRES_FLOOR,
        settings=f"PostgreSQL {version}, durable: fsync={fsync}, synchronous_commit={sync} "
                 f"(as a production server), local server on 127.0.0.1 in {server.root}",
        connect=lambda: psycopg.connect(url),
        fresh=lambda _label: server.create_database(),
        size_mb=lambda: _scalar(psycopg.connect(url), size_sql) / 2**20)


def _scalar(conn: Any, sql: str) -> float:
    with conn:
        return float(conn.execute(sql).fetchone()[0])


def new_experiment(store: Store, exp_id: str, n_runs: int) -> None:
    store.save_experiment(ExperimentRecord(
        experiment_id=exp_id, scenario="sales_email", backend="openai:gpt-4.1-mini",
        created_at=START, spec={"forms": ["code", "llm"]}, planned_runs=n_runs,
        status="completed"))


def write(engine: Engine, store: Store, rng: random.Random, first: int, stop: int) -> None:
    """Runs first..stop-1 of the experiment, made one by one so memory holds one run at a
    time; adds the seconds in save_run, the seconds making records and the spans written."""
    for i in range(first, stop):
        t0 = time.perf_counter()
        run = synthetic_run("exp-bench-store", i, rng, START)
        t1 = time.perf_counter()
        store.save_run(run)
        engine.saving += time.perf_counter() - t1
        engine.making += t1 - t0
        engine.spans += len(run.spans)


def write_all(engines: list[Engine], n_runs: int) -> None:
    """Every engine writes the same runs, taking turns CHUNK runs at a time."""
    stores = [Store(e.location) for e in engines]
    rngs = [random.Random(0) for _ in engines]
    for store in stores:
        new_experiment(store, "exp-bench-store", n_runs)
    for first in range(0, n_runs, CHUNK):
        for engine, store, rng in zip(engines, stores, rngs, strict=True):
            write(engine, store, rng, first, min(first + CHUNK, n_runs))
    for engine, store in zip(engines, stores, strict=True):
        store.close()
        print(f"{engine.name} write: {n_runs} runs, {engine.spans} spans in "
              f"{engine.saving:.2f} s of save_run ({n_runs / engine.saving:,.0f} runs/s, "
              f"{engine.spans / engine.saving:,.0f} spans/s, "
              f"{engine.saving / n_runs * 1000:.2f} ms per run; making the records took "
              f"{engine.making:.2f} s more), store {engine.size_mb():.1f} MB")


def load(store: Store) -> tuple[float, int]:
    t0 = time.perf_counter()
    frame = store.load_runs()
    return time.perf_counter() - t0, len(frame)


def floor(conn: Any, sql: str) -> tuple[float, int]:
    t0 = time.perf_counter()
    rows = conn.execute(sql).fetchall()
    seconds = time.perf_counter() - t0
    conn.rollback()  # psycopg opened a transaction; end it as load_runs does
    return seconds, len(rows)


def time_loads(engines: list[Engine], n_loads: int, n_runs: int) -> list[Store]:
    """Timed loads and floors on fresh stores (as a dashboard process opens one),
    interleaved: engines and load/floor order alternate each round. Returns the stores."""
    stores = [Store(e.location) for e in engines]
    conns = [e.connect() for e in engines]
    for store, conn, engine in zip(stores, conns, engines, strict=True):
        load(store)  # warm-up: pandas import, page cache
        floor(conn, engine.floor_sql)
    for i in range(n_loads):
        turn = list(zip(engines, stores, conns, strict=True))
        for engine, store, conn in (turn if i % 2 == 0 else turn[::-1]):
            pair = ("load", "floor") if i % 2 == 0 else ("floor", "load")
            for kind in pair:
                seconds, rows = load(store) if kind == "load" else floor(conn, engine.floor_sql)
                assert rows == n_runs, (engine.name, kind, rows)
                (engine.loads if kind == "load" else engine.floors).append(seconds)
    for conn in conns:
        conn.close()
    return stores


def report_loads(engine: Engine, n_loads: int, n_runs: int) -> None:
    med_load, med_floor = statistics.median(engine.loads), statistics.median(engine.floors)
    driver = "sqlite3" if engine.name == "SQLite" else "psycopg"
    print(f"{engine.name} load_runs: median {med_load:.3f} s, min {min(engine.loads):.3f} s "
          f"over {n_loads} loads of {n_runs} runs; {driver} floor median {med_floor:.3f} s; "
          f"load/floor={med_load / med_floor:.2f}")


def memory(engine: Engine, store: Store) -> None:
    tracemalloc.start()
    load(store)
    peak_mb = tracemalloc.get_traced_memory()[1] / 2**20
    tracemalloc.stop()
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"{engine.name} memory: tracemalloc peak during load_runs {peak_mb:.1f} MB; "
          f"process ru_maxrss {rss_mb:.0f} MB")


def writer(location: str, exp_id: str, n_runs: int, barrier: Any, results: Any) -> None:
    """One writer process: its own Store, its own experiment, its runs made before the
    start; puts (start, end, runs saved, error or None) on results."""
    saved, t0 = 0, 0.0
    store = None
    try:
        store = Store(location)
        new_experiment(store, exp_id, n_runs)
        rng = random.Random(exp_id)
        runs = [synthetic_run(exp_id, i, rng, START) for i in range(n_runs)]
        barrier.wait(timeout=300)
        t0 = time.monotonic()  # CLOCK_MONOTONIC: one clock for every process
        for run in runs:
            store.save_run(run)
            saved += 1
        results.put((t0, time.monotonic(), saved, None))
    except Exception as exc:
        barrier.abort()  # the others do not wait for a writer that will never start
        results.put((t0, time.monotonic(), saved, f"{type(exc).__name__}: {exc}"))
    finally:
        if store is not None:
            store.close()


def concurrent_write(engine: Engine, writers: int, per_writer: int) -> list[str]:
    """`writers` processes writing at once into a new store; records total runs/s on the
    engine and returns what went wrong (nothing: an empty list)."""
    location = engine.fresh(f"writers-{writers}")
    Store(location).close()  # migrated once, before the writers open it
    ctx = multiprocessing.get_context("spawn")
    barrier, results = ctx.Barrier(writers), ctx.Queue()
    ids = [f"exp-writer-{writers}-{k}" for k in range(writers)]
    procs = [ctx.Process(target=writer, args=(location, exp_id, per_writer, barrier, results))
             for exp_id in ids]
    for proc in procs:
        proc.start()
    done = [results.get(timeout=1800) for _ in procs]
    for proc in procs:
        proc.join()
    errors = [f"writer {k}: {d[3]}" for k, d in enumerate(done) if d[3]]
    store = Store(location)
    stored = sum(store.count_runs(exp_id) for exp_id in ids)
    store.close()
    if stored != writers * per_writer:
        errors.append(f"{stored} runs stored, not {writers} x {per_writer} = "
                      f"{writers * per_writer}")
    wall = max(d[1] for d in done) - min(d[0] for d in done)
    engine.writes[writers] = stored / wall
    return errors


def report_writers(engine: Engine, writers: list[int], per_writer: int) -> None:
    figures = ", ".join(f"{w} writer{'s' if w > 1 else ''} {engine.writes[w]:,.0f} runs/s"
                        for w in writers)
    print(f"{engine.name} concurrent write, processes of {per_writer} runs each, "
          f"total: {figures}")


def ratio(name: str, pg: float, lite: float, better: str) -> None:
    print(f"PostgreSQL/SQLite {name}: {pg / lite:.2f} ({better} is better)")


def report_ratios(lite: Engine, pg: Engine, n_runs: int, writers: int) -> None:
    print(f"ratios measured in this run, PostgreSQL/SQLite ({n_runs} runs):")
    ratio("write runs/s, one writer, save_run", n_runs / pg.saving, n_runs / lite.saving,
          "higher")
    ratio("write runs/s, 1 writer process", pg.writes[1], lite.writes[1], "higher")
    ratio(f"write runs/s, {writers} writer processes", pg.writes[writers],
          lite.writes[writers], "higher")
    ratio("load_runs median", statistics.median(pg.loads), statistics.median(lite.loads),
          "lower")
    ratio("load/floor", statistics.median(pg.loads) / statistics.median(pg.floors),
          statistics.median(lite.loads) / statistics.median(lite.floors), "lower")


def main(args: argparse.Namespace) -> int:
    failures: list[str] = []
    with ExitStack() as stack:
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory()))
        engines = [sqlite_engine(tmp)] if "sqlite" in args.engines else []
        pg = postgres_engine(stack) if "postgresql" in args.engines else None
        engines += [pg] if pg is not None else []
        for engine in engines:
            print(f"{engine.name}: {engine.settings}")
        write_all(engines, args.runs)
        stores = time_loads(engines, args.loads, args.runs)
        for engine, store in zip(engines, stores, strict=True):
            report_loads(engine, args.loads, args.runs)
            memory(engine, store)
            store.close()
        counts = sorted({1, args.writers})
        for count in counts:
            for engine in engines:
                for error in concurrent_write(engine, count, args.runs_per_writer):
                    engine.failed = True
                    failures.append(f"FAILED: {engine.name}, {count} writers: {error}")
                    print(failures[-1])
        for engine in engines:
            report_writers(engine, counts, args.runs_per_writer)
    return finish(engines, args, failures)


def finish(engines: list[Engine], args: argparse.Namespace, failures: list[str]) -> int:
    """The ratios, the failures again, then PostgreSQL's and SQLite's median load_runs."""
    by_name = {e.name: e for e in engines}
    lite, pg = by_name.get("SQLite"), by_name.get("PostgreSQL")
    if lite and pg:
        report_ratios(lite, pg, args.runs, args.writers)
    for failure in failures:
        print(failure)
    if pg:
        print(f"PostgreSQL load_runs median: {statistics.median(pg.loads):.3f} s")
    if lite:
        print(f"{statistics.median(lite.loads):.3f}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main(ARGS))
