"""Size and render time of the standalone HTML report (`orchlab.present.report`) for experiments of
100 and 1,000 runs.

Runs sales_email in all four forms against the fake OpenAI-compatible server on 127.0.0.1
(no latency; its policy writes no valid plan, so plan runs end invalid_plan, and a few tool
faults fail other runs: the report has failed runs to show by class), then
renders each experiment's report once and prints, measured in this one run: runs, failed
runs, the report's size (bytes, MB and MiB; plotly's JavaScript, inlined once, is most of
it) and the seconds the render took.

    python bench/report.py [--runs 100 1000] [--concurrency 16]

A short run (the test suite's; its figures are not the measurement):

    python bench/report.py --runs 8 40
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
FORMS = ["code", "plan", "guarded", "llm"]
FAULTS = {"unknown_tool": 0.005, "malformed_tool_json": 0.005}
"""Faults that fail a run at once (no retries), in a form of its own choosing."""


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, nargs="+", default=[100, 1000],
                        help="runs per experiment, a multiple of 4 (one report each)")
    parser.add_argument("--concurrency", type=int, default=16, help="runs in flight at once")
    return parser.parse_args()


if __name__ == "__main__":
    ARGS = parse_args()  # --help answers here, before the heavy imports below
os.environ["ORCHLAB_EXPORT_OPENAI_TRACES"] = "0"  # never export traces: no network

import plotly.offline  # noqa: E402

from orchlab.present import report  # noqa: E402
from orchlab.running.runner import ExperimentSpec, run_experiment  # noqa: E402
from orchlab.store.store import Store  # noqa: E402
from orchlab.testing.devserver import FakeOpenAIServer  # noqa: E402


def one(store: Store, base_url: str, runs: int, concurrency: int) -> None:
    """Run one experiment of `runs` runs, render its report once, print the figures."""
    spec = ExperimentSpec("sales_email", forms=FORMS, inputs=["dana-acme"],
                          repetitions=runs // len(FORMS), concurrency=concurrency,
                          backend=f"compat:fake-model@{base_url}")
    started = time.perf_counter()
    result = run_experiment(spec, store)
    ran_s = time.perf_counter() - started
    failed = sum(r.status != "ok" for r in result.records)
    started = time.perf_counter()
    data = report.report_file(store, [result.experiment_id]).data
    render_s = time.perf_counter() - started
    print(f"{len(result.records):>5} runs ({failed} failed, run in {ran_s:.1f} s): report "
          f"{len(data):,} bytes = {len(data) / 1e6:.2f} MB = {len(data) / 2**20:.2f} MiB, "
          f"rendered in {render_s:.2f} s")


def main(args: argparse.Namespace) -> None:
    bundle = len(plotly.offline.get_plotlyjs().encode("utf-8"))
    print(f"plotly.js inlined once: {bundle:,} bytes = {bundle / 1e6:.2f} MB")
    with tempfile.TemporaryDirectory() as tmp:  # the store goes with the run
        store = Store(Path(tmp) / "report.sqlite")
        try:
            with FakeOpenAIServer(faults=FAULTS, seed=3, keep_alive=True) as server:
                for runs in args.runs:
                    one(store, server.base_url, runs, args.concurrency)
        finally:
            store.close()


if __name__ == "__main__":
    main(ARGS)
