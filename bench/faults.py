"""1,000 runs (sales_email, both forms) at concurrency 50 against the fault-injecting server.

10% of model calls get a fault, spread over every kind (429 with Retry-After, 500, 503,
connection reset, no answer, malformed tool JSON, unknown tool, empty choices). Prints the
records by status and error class, retries, and unhandled exceptions (exceptions that escaped
the runner or reached the event loop's handler). Last line: records=<n> unhandled=<n>.

    python bench/faults.py

A short run (the test suite's; its figures are not the measurement):

    python bench/faults.py --runs 100
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # `python bench/x.py` puts bench/ on sys.path, not the project
RUNS, CONCURRENCY, FAULT_RATE = 1000, 50, 0.10


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=RUNS,
                        help="runs, a multiple of 4 (default %(default)s)")
    parser.add_argument("--concurrency", type=int, default=CONCURRENCY,
                        help="runs in flight (default %(default)s)")
    parser.add_argument("--fault-rate", type=float, default=FAULT_RATE,
                        help="share of model calls that get a fault (default %(default)s)")
    return parser.parse_args()


if __name__ == "__main__":
    ARGS = parse_args()  # --help answers here, before the heavy imports below

from orchlab.running.runner import ExperimentSpec, arun_experiment  # noqa: E402
from orchlab.store.store import Store  # noqa: E402
from orchlab.testing.devserver import FAULTS, FakeOpenAIServer  # noqa: E402

INPUTS = ["dana-acme", "li-northwind"]  # 2 inputs x 2 forms x 250 repetitions = 1,000 runs


async def run(store: Store, base_url: str, unhandled: list[str], runs: int = RUNS,
              concurrency: int = CONCURRENCY) -> Any:
    loop = asyncio.get_running_loop()
    loop.set_exception_handler(lambda _loop, ctx: unhandled.append(str(ctx.get("message"))))
    spec = ExperimentSpec("sales_email", inputs=INPUTS, repetitions=runs // (2 * len(INPUTS)),
                          concurrency=concurrency,
                          backend=f"compat:fake-model@{base_url}", timeout_s=60)
    return await arun_experiment(spec, store)


def main(runs: int = RUNS, concurrency: int = CONCURRENCY, fault_rate: float = FAULT_RATE) -> None:
    os.environ.setdefault("ORCHLAB_REQUEST_TIMEOUT_S", "1")
    rates = {kind: fault_rate / len(FAULTS) for kind in FAULTS}
    unhandled: list[str] = []
    with tempfile.TemporaryDirectory() as tmp, FakeOpenAIServer(
            faults=rates, seed=7, hang_s=2.0, latency_s=0.005) as server:
        store = Store(Path(tmp) / "faults.sqlite")
        started = time.monotonic()
        try:
            result = asyncio.run(run(store, server.base_url, unhandled, runs, concurrency))
        except Exception as exc:  # noqa: BLE001 - counted, that is the point
            unhandled.append(f"{type(exc).__name__}: {exc}")
            result = None
        elapsed = time.monotonic() - started
        frame = store.load_runs()
    planned = runs // (2 * len(INPUTS)) * 2 * len(INPUTS)
    print(f"planned={planned} records={len(frame)} in {elapsed:.1f}s; server saw "
          f"{server.stats.requests} requests, injected {sum(server.stats.faults.values())}: "
          f"{dict(sorted(server.stats.faults.items()))}")
    print("by status/error_class:", dict(Counter(
        f"{s}/{c}" for s, c in zip(frame["status"], frame["error_class"].fillna("-"),
                                   strict=True)).most_common()))
    failed = frame[frame["status"] != "ok"]
    print(f"failed={len(failed)} unclassified={int(failed['error_class'].isna().sum())} "
          f"other={int((failed['error_class'] == 'other').sum())} "
          f"retries={int(frame['retries'].sum())} status={result.status if result else None}")
    for message in unhandled[:5]:
        print("unhandled:", message)
    print(f"records={len(frame)} unhandled={len(unhandled)}")


if __name__ == "__main__":
    main(ARGS.runs, ARGS.concurrency, ARGS.fault_rate)
