"""Synthetic runs written through the real Store, shared by the benchmarks.

Run as a script it fills a store, e.g. to look at the dashboard with many runs:

    python bench/synthetic.py --runs 1000 --store /tmp/many.sqlite
"""

from __future__ import annotations

import argparse
import random
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))  # `python bench/x.py` puts bench/ on sys.path, not the project


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=1000, help="runs (default %(default)s)")
    parser.add_argument("--store", required=True, help="SQLite store file to write to")
    return parser.parse_args()


if __name__ == "__main__":
    ARGS = parse_args()  # --help answers here, before the heavy imports below

from orchlab.core.records import (  # noqa: E402
    ExperimentRecord,
    OutboxMessage,
    RunMetrics,
    RunRecord,
    SpanRecord,
)
from orchlab.store.store import Store  # noqa: E402

WRITERS = ["professional_writer", "humorous_writer", "concise_writer"]
LLM_PATHS = [
    "sales_manager > {concise_writer|humorous_writer|professional_writer} > send_email",
    "sales_manager > {concise_writer|humorous_writer|professional_writer} > send_email > "
    "send_email",
    "sales_manager > professional_writer > send_email",
]
CODE_PATH = "{concise_writer|humorous_writer|professional_writer} > picker > send_email"


def synthetic_run(exp_id: str, i: int, rng: random.Random, start: datetime) -> RunRecord:
    """One plausible run with 12 spans, alternating forms."""
    form = "code" if i % 2 == 0 else "llm"
    agents = [*WRITERS, "picker" if form == "code" else "sales_manager"]
    spans = []
    for j, agent in enumerate(agents):
        spans.append(SpanRecord(span_id=f"a{j}", parent_id=None, kind="agent", name=agent,
                                agent=agent, start_ms=j * 10.0, end_ms=j * 10.0 + 9, seq=2 * j))
        spans.append(SpanRecord(
            span_id=f"g{j}", parent_id=f"a{j}", kind="generation", name="gpt-4.1-mini",
            agent=agent, start_ms=j * 10.0 + 1, end_ms=j * 10.0 + 8, model="gpt-4.1-mini",
            input_tokens=rng.randint(100, 900), output_tokens=rng.randint(10, 200),
            input="prompt " * 20, output="reply " * 30, seq=2 * j + 1))
    per_agent = {s.agent or "": {"llm_calls": 1, "input_tokens": s.input_tokens,
                                 "output_tokens": s.output_tokens,
                                 "cost_usd": (s.input_tokens * 0.4 + s.output_tokens * 1.6) / 1e6}
                 for s in spans if s.kind == "generation"}
    tokens_in = sum(a["input_tokens"] for a in per_agent.values())
    tokens_out = sum(a["output_tokens"] for a in per_agent.values())
    success = rng.random() > 0.1
    return RunRecord(
        run_id=f"{exp_id}-run-{i}", experiment_id=exp_id, scenario="sales_email", form=form,
        input_id=f"input-{i % 3}", repetition=i // 6, backend="openai:gpt-4.1-mini",
        model="gpt-4.1-mini", started_at=start + timedelta(seconds=i),
        metrics=RunMetrics(
            wall_ms=rng.lognormvariate(7.0 if form == "code" else 7.6, 0.3),
            llm_calls=len(per_agent), tool_calls=1 if form == "code" else 4,
            input_tokens=tokens_in, output_tokens=tokens_out,
            cost_usd=(tokens_in * 0.4 + tokens_out * 1.6) / 1e6, price_source="synthetic",
            path=CODE_PATH if form == "code" else rng.choice(LLM_PATHS), per_agent=per_agent),
        success=success, outcome={"emails_sent": 1, "writers_consulted": 3, "success": success},
        final_output="Subject: hi\n\nbody", spans=spans,
        outbox=[OutboxMessage(to="x@y.example", subject="hi", body="body")],
    )


def fill_store(store: Store, n_runs: int, seed: int = 0) -> str:
    """Write one experiment of n_runs synthetic runs; returns its id."""
    rng = random.Random(seed)
    start = datetime(2026, 1, 1, tzinfo=UTC)
    exp_id = f"exp-bench-{n_runs}"
    store.save_experiment(ExperimentRecord(
        experiment_id=exp_id, scenario="sales_email", backend="openai:gpt-4.1-mini",
        created_at=start, spec={"forms": ["code", "llm"], "repetitions": n_runs // 6},
        planned_runs=n_runs, status="completed"))
    for i in range(n_runs):
        store.save_run(synthetic_run(exp_id, i, rng, start))
    return exp_id


def main(args: argparse.Namespace) -> None:
    store = Store(Path(args.store))
    try:
        exp_id = fill_store(store, args.runs)
    finally:
        store.close()
    print(f"{args.runs} synthetic runs written to {args.store} as experiment {exp_id}")


if __name__ == "__main__":
    main(ARGS)
