"""What the harness costs per run next to the bare SDK, on a zero-latency scripted model.

Variants, interleaved run by run (order shuffled each round), both default forms of
sales_email (code and llm; its plan and guarded forms are not measured), same inputs. All
three build fresh agents with `build_agents` and run the same flow
(`scenario.form(form).flow(input, FlowEnv(...))`) on the same scripts:

- `bare` (the baseline: the bare SDK as it runs by default, minus the network). Runner.run
  with the SDK's tracing on, which is its default, but with no processor
  (`set_trace_processors([])`): the SDK still creates its spans, nothing receives or exports
  them; the flow runs inside one `trace()` as ours does. Models are plain
  `agents.testing.ScriptedModel(emit_traces=True)`, which open one generation span per call
  as the SDK's own OpenAI models do (but without input, output or usage on it). No recorder,
  no TracedModel, no metrics, no outcome check, no store. Span creation belongs to the SDK,
  not to us: a bare SDK user pays it unless they opt out of tracing, and our recorder adds no
  span of its own.
- `bare_off` (a stricter floor, printed for reference): the same with tracing disabled
  (`set_tracing_disabled(True)`: no-op spans) and `emit_traces=False`. full/bare_off is the
  whole price of having a trace at all, the SDK's span creation included.
- `full`: our path. `orchlab.running.execution.execute_run` (recorder installed as the only
  processor, `TracedModel` generation spans with model, usage, input and output, `asyncio.timeout`
  timeout, metrics, outcome check, RunRecord) then `Store.save_run`: one SQLite transaction in
  a temp file (WAL, synchronous=NORMAL, as in production).

Everything TracedModel, the recorder, metrics, the outcome check and the store cost counts as
ours. With a zero-latency model everything measured is CPU, so this is the worst case for our
share: next to a real model the same milliseconds vanish.

Figures are per-run medians and means of wall time (perf_counter) and CPU time
(process_time, less disturbed by other processes on a shared machine). The headline is the
ratio of wall medians summed over both forms (a plan running both forms equally often),
full / bare. Target: <= 1.05.

    python bench/overhead.py [--runs 300]
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import os
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=300, help="runs per variant and form")
    return parser.parse_args()


if __name__ == "__main__":
    ARGS = parse_args()  # --help answers here, before the heavy imports below
os.environ["ORCHLAB_EXPORT_OPENAI_TRACES"] = "0"  # never export traces: no network

import sales_scripts  # noqa: E402
from agents import set_trace_processors, set_tracing_disabled, trace  # noqa: E402
from agents.testing import ScriptedModel, assistant_message  # noqa: E402

from orchlab.backends import Backend  # noqa: E402
from orchlab.core.records import ExperimentRecord, utcnow  # noqa: E402
from orchlab.measure.recorder import install_recorder  # noqa: E402
from orchlab.running.execution import RunContext, execute_run  # noqa: E402
from orchlab.running.spec import ExperimentSpec, PlannedRun, prepare  # noqa: E402
from orchlab.scenario import DEFAULT_FORMS, FlowEnv, RunDeps  # noqa: E402
from orchlab.scenario.agentdefs import build_agents  # noqa: E402
from orchlab.store.store import Store  # noqa: E402

FORMS = DEFAULT_FORMS
"""The scenario's default forms (code and llm), what an experiment runs unless it asks for
more; the plan and guarded forms are not measured (the output says so)."""
VARIANTS = ("bare", "bare_off", "full")


def plain_backend(emit_traces: bool) -> Backend:
    """The sales scripts on bare ScriptedModels, without our TracedModel or RecordingModel."""
    scripts: dict[str, Callable[[], list[Any]]] = {
        w: functools.partial(sales_scripts.writer_script, w) for w in sales_scripts.WRITER_USAGE
    }
    scripts["picker"] = lambda: [
        sales_scripts.step([assistant_message("humorous")], sales_scripts.PICKER_USAGE)
    ]
    scripts["sales_manager"] = sales_scripts.manager_script
    scripts["planner"] = sales_scripts.planner_script  # build_agents builds every agent
    scripts["critic"] = sales_scripts.critic_script
    return Backend(id="scripted:plain", model_name="gpt-4.1-mini",
                   make_model=lambda name: ScriptedModel(scripts[name](),
                                                         emit_traces=emit_traces),
                   records_calls=False)  # the bare SDK: no call recorder around the model


class Bench:
    """One scenario, one store, and a way to run each variant once."""

    def __init__(self, store_dir: Path) -> None:
        spec = ExperimentSpec("sales_email", backend="scripted:test")
        prepared = prepare(spec)
        spec, self.scenario, self.defs = prepared.spec, prepared.scenario, prepared.defs
        self.plain, self.plain_off = plain_backend(True), plain_backend(False)
        self.traced = sales_scripts.sales_backend()
        self.store = Store(store_dir / "overhead.sqlite")
        self.store.save_experiment(ExperimentRecord(
            experiment_id="exp-overhead", scenario=self.scenario.name, backend=self.traced.id,
            created_at=utcnow(), spec={}, planned_runs=0))
        self.ctx = RunContext(spec=spec, scenario=self.scenario, backend=self.traced,
                               defs=self.defs, experiment_id="exp-overhead")
        self.recorder = install_recorder()

    async def bare(self, form: str, input_id: str, rep: int) -> None:
        set_trace_processors([])
        try:
            with trace(f"bare:{form}"):  # one trace per run, as ours: the same span tree
                await self._flow(form, input_id, self.plain)
        finally:
            set_trace_processors([self.recorder])

    async def bare_off(self, form: str, input_id: str, rep: int) -> None:
        set_tracing_disabled(True)
        try:
            await self._flow(form, input_id, self.plain_off)
        finally:
            set_tracing_disabled(False)

    async def _flow(self, form: str, input_id: str, backend: Backend) -> None:
        agents = build_agents(self.defs, self.scenario.tools(), backend)
        deps = RunDeps()
        env = FlowEnv(agents, deps, self.ctx.spec.max_turns)
        await self.scenario.form(form).flow(self.scenario.input(input_id), env)
        if len(deps.outbox) != 1:
            raise RuntimeError(f"bare {form} run sent {len(deps.outbox)} emails, not 1")

    async def full(self, form: str, input_id: str, rep: int) -> None:
        record = await execute_run(PlannedRun(form, input_id, rep), self.ctx)
        self.store.save_run(record)
        if record.status != "ok" or not record.outcome.get("success"):
            raise RuntimeError(f"full run failed: {record.status} {record.error_message}")


Sample = tuple[float, float]
"""(wall seconds, CPU seconds) of one run."""


async def timed(fn: Callable[[str, str, int], Awaitable[None]], *args: Any) -> Sample:
    w0, c0 = time.perf_counter(), time.process_time()
    await fn(*args)
    return time.perf_counter() - w0, time.process_time() - c0


async def measure(bench: Bench, runs: int) -> dict[tuple[str, str], list[Sample]]:
    """`runs` runs per variant and form, interleaved; the first round is a discarded warm-up.

    Each round runs every (variant, form) once in a shuffled order (seeded): a fixed rotation
    would repeat the same allocation pattern every round, and the garbage collector's
    collections would then keep landing on the same variant.
    """
    rng = random.Random(7)
    inputs = [i.id for i in bench.scenario.inputs]
    samples: dict[tuple[str, str], list[Sample]] = {(v, f): [] for v in VARIANTS for f in FORMS}
    for rep in range(runs + 1):
        order = [(v, f) for v in VARIANTS for f in FORMS]
        rng.shuffle(order)
        for variant, form in order:
            sample = await timed(getattr(bench, variant), form, inputs[rep % len(inputs)], rep)
            if rep:
                samples[(variant, form)].append(sample)
    return samples


def main(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        bench = Bench(Path(tmp))
        samples = asyncio.run(measure(bench, args.runs))
        bench.store.close()
    skipped = [f for f in bench.scenario.form_ids if f not in FORMS]
    print(f"scenario {bench.scenario.name}, forms measured: {', '.join(FORMS)}"
          + (f" (not measured: {', '.join(skipped)})" if skipped else ""))
    print(f"runs per variant and form: {args.runs} (interleaved; total "
          f"{args.runs * len(VARIANTS) * len(FORMS)} runs)")
    print(f"{'variant':<10} {'form':<5} {'wall_med':>9} {'wall_mean':>9} "
          f"{'cpu_med':>8} {'cpu_mean':>8}  (ms per run)")
    med: dict[tuple[str, str], tuple[float, float]] = {}
    for (variant, form), rows in samples.items():
        walls, cpus = [w * 1000 for w, _ in rows], [c * 1000 for _, c in rows]
        med[(variant, form)] = statistics.median(walls), statistics.median(cpus)
        print(f"{variant:<10} {form:<5} {med[(variant, form)][0]:9.2f} "
              f"{statistics.fmean(walls):9.2f} {med[(variant, form)][1]:8.2f} "
              f"{statistics.fmean(cpus):8.2f}")

    def ratio(top: str, bottom: str, form: str | None = None, col: int = 0) -> float:
        forms = [form] if form else list(FORMS)
        return sum(med[(top, f)][col] for f in forms) / sum(med[(bottom, f)][col] for f in forms)

    for form in FORMS:
        print(f"{form}: full/bare wall={ratio('full', 'bare', form):.3f} "
              f"cpu={ratio('full', 'bare', form, 1):.3f}  "
              f"full/bare_off wall={ratio('full', 'bare_off', form):.3f} "
              f"cpu={ratio('full', 'bare_off', form, 1):.3f}")
    print(f"both forms: full/bare_off wall={ratio('full', 'bare_off'):.3f} "
          f"cpu={ratio('full', 'bare_off', col=1):.3f}  "
          f"full/bare cpu={ratio('full', 'bare', col=1):.3f}")
    print(f"ratio={ratio('full', 'bare'):.3f}")


if __name__ == "__main__":
    main(ARGS)
