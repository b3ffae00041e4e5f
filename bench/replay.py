"""Record an experiment on a server with a fixed latency, then replay it at several speeds.

Records sales_email in four forms (FORMS) against the fake OpenAI-compatible server on 127.0.0.1
(a fixed latency per call), after a warm-up experiment (a process's first runs pay one-time
imports and schema builds that no replay repeats). Then replays it from the store at speed 1
(the recorded latencies), 0.5 and 0 (instant), and prints, measured in this one run:

- runs whose path, LLM and tool calls, tokens, cost, status, error class, outbox and outcome
  equal the original's (target: all);
- at speed 1, each run's wall time over the original's: median, min, max and the share
  within 15% (target: every run);
- the replay's runs' wall time over the recording's, per speed (speed 0: a small
  fraction), and the time to read the recording from the store.

    python bench/replay.py [--latency 0.2] [--reps 5] [--concurrency 4]

A short run (the test suite's; its timings are not the measurement):

    python bench/replay.py --latency 0.05 --reps 2
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--latency", type=float, default=0.2, help="seconds per call")
    parser.add_argument("--reps", type=int, default=5, help="repetitions per form")
    parser.add_argument("--concurrency", type=int, default=4, help="runs in flight at once")
    return parser.parse_args()


if __name__ == "__main__":
    ARGS = parse_args()  # --help answers here, before the heavy imports below
os.environ["ORCHLAB_EXPORT_OPENAI_TRACES"] = "0"  # never export traces: no network

from orchlab.backends import resolve  # noqa: E402
from orchlab.core.records import RunRecord  # noqa: E402
from orchlab.running.runner import ExperimentResult, ExperimentSpec, run_experiment  # noqa: E402
from orchlab.running.spec import replay_spec  # noqa: E402
from orchlab.store.store import Store  # noqa: E402
from orchlab.testing.devserver import FakeOpenAIServer  # noqa: E402

FORMS = ["code", "plan", "guarded", "llm"]


def same_figures(a: RunRecord, b: RunRecord) -> bool:
    """Everything a replay must give again: the path, calls, tokens, cost and outcome."""
    def figures(r: RunRecord) -> tuple[object, ...]:
        m = r.metrics
        return (m.path, m.llm_calls, m.tool_calls, m.input_tokens, m.output_tokens, m.cost_usd,
                r.status, r.error_class, r.outcome, r.final_output,
                [(o.to, o.subject, o.body) for o in r.outbox])
    return figures(a) == figures(b)


def timed(spec: ExperimentSpec, store: Store) -> tuple[ExperimentResult, float, float]:
    """The result, the seconds its backend took to start (a replay: reading its recording)
    and the seconds the runs took."""
    t0 = time.perf_counter()
    backend = resolve(spec.backend)
    t1 = time.perf_counter()
    result = run_experiment(spec, store, backend=backend)
    return result, t1 - t0, time.perf_counter() - t1


def main(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory() as tmp:  # the recording goes with the run
        path = Path(tmp) / "replay.sqlite"
        os.environ["ORCHLAB_STORE"] = str(path)  # where replay:<id> finds its recording
        store = Store(path)
        try:
            measure(args, store)
        finally:
            store.close()


def measure(args: argparse.Namespace, store: Store) -> None:
    """Record, then replay at each speed, printing the figures."""
    with FakeOpenAIServer(latency_s=args.latency, keep_alive=True) as server:
        spec = ExperimentSpec("sales_email", forms=FORMS, inputs=["dana-acme"],
                              repetitions=args.reps, concurrency=args.concurrency,
                              backend=f"compat:fake-model@{server.base_url}")
        run_experiment(replace(spec, repetitions=1), store)  # warm-up
        original, _, original_s = timed(spec, store)
    source = store.get_experiment(original.experiment_id)
    assert source is not None
    by_key = {(r.form, r.input_id, r.repetition): r for r in original.records}
    print(f"recorded {len(original.records)} runs ({', '.join(FORMS)}; {args.latency:g} s per "
          f"call, concurrency {args.concurrency}) in {original_s:.2f} s")
    for speed in (1.0, 0.5, 0.0):
        result, load_s, replay_s = timed(replay_spec(source, speed), store)
        again = {(r.form, r.input_id, r.repetition): r for r in result.records}
        same = sum(same_figures(by_key[k], again[k]) for k in by_key if k in again)
        print(f"speed {speed:g}: {same}/{len(by_key)} runs with the original's figures; the "
              f"runs took {replay_s:.2f} s = {replay_s / original_s:.2f} x the recording's "
              f"(+ {load_s:.2f} s reading the recording)")
        if speed == 1.0:
            ratios = [again[k].metrics.wall_ms / r.metrics.wall_ms for k, r in by_key.items()]
            within = sum(0.85 <= x <= 1.15 for x in ratios)
            print(f"  per-run wall / original: median {statistics.median(ratios):.3f}, min "
                  f"{min(ratios):.3f}, max {max(ratios):.3f}; within 15%: {within}/{len(ratios)}")


if __name__ == "__main__":
    main(ARGS)
