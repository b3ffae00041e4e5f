"""Command line: `python -m orchlab run | list | export | copy-store | ...`.

Every user error (bad scenario, input, backend, spec, agent file, store) ends in one line on
stderr and exit code 2; a run that fails inside an experiment is data, not a CLI error.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import sys
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from orchlab.backends import Backend, default_backend_id, resolve
from orchlab.cli.parser import build_parser
from orchlab.core import config
from orchlab.core.backend_ids import short_model
from orchlab.core.errors import SENTENCE_ERRORS, LabelError, LabelExists, SpecError
from orchlab.core.records import ExperimentRecord, Judgement
from orchlab.integrations.otel import RunExport, configured_export, export_runs, stored_records
from orchlab.judging import (
    ReadJudge,
    RunJudging,
    ajudge_runs,
    check_judges,
    judge_pairs,
    judge_runs,
    label_run,
    read_judge,
)
from orchlab.measure import pricing
from orchlab.present import report
from orchlab.running import presets
from orchlab.running.execution import run_slots
from orchlab.running.runner import (
    CancelToken,
    ExperimentResult,
    ExperimentSpec,
    Progress,
    aresume_experiment,
    arun_experiment,
    prepare,
    resume_experiment,
    run_experiment,
    writer,
)
from orchlab.running.spec import Prepared, parse_agent_backends, replay_spec
from orchlab.scenario import (
    catalogue,
    discover,
    get_scenario,
    read_inputs_file,
    scaffold,
)
from orchlab.stats import analysis
from orchlab.stats.agreement import summarize_agreement
from orchlab.stats.gate import failed_requirements, parse_requirement, render_text
from orchlab.stats.pairwise import pairwise_lines, summarize_pairwise
from orchlab.stats.quality import summarize_quality
from orchlab.stats.summary import summarize_runs
from orchlab.store import export, importer
from orchlab.store.copying import copy_store
from orchlab.store.store import Store, recorded_here


class UnknownExperiment(LookupError):
    """No experiment, or more than one, matches the id or prefix given."""


SCENARIO_COMMANDS = ("run", "replay", "resume", "forms")
"""Commands that load scenarios, and so warn about the ones that could not be loaded."""
USER_ERRORS: tuple[type[Exception], ...] = (*SENTENCE_ERRORS, UnknownExperiment)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the exit code."""
    args = build_parser().parse_args(argv)
    folders = [*args.scenarios, *getattr(args, "sub_scenarios", [])]
    missing = [f for f in folders if not Path(f).expanduser().is_dir()]
    if missing:
        print(f"error: --scenarios {missing[0]}: no such folder.", file=sys.stderr)
        return 2
    with config.scenarios_in_env(folders) if folders else contextlib.nullcontext():
        return _dispatch(args)


def _dispatch(args: argparse.Namespace) -> int:
    store_override = getattr(args, "sub_store", None) or args.store
    if args.command in SCENARIO_COMMANDS:
        for problem in catalogue().problems:  # the rest still load: say it, go on
            print(f"warning: {problem}", file=sys.stderr)
    try:
        if args.command == "forms":  # needs no store
            return _forms(args.scenario)
        if args.command == "new-scenario":  # neither
            return _new_scenario(args.name, args.dir)
        if args.command == "copy-store":
            return _copy_store(args.source, args.target)
        store = Store(store_override)
        if args.command == "run":
            return _run(args, store)
        if args.command == "replay":
            return _run_spec(replay_spec(_experiment(store, args.experiment_id), args.speed,
                                         args.inputs, args.repeat), store)
        if args.command == "list":
            return _list(store)
        if args.command == "resume":
            with config.store_in_env(store.location):
                return _resume(args, store)
        if args.command == "summary":
            return _summary(args, store)
        if args.command == "report":
            return _write_report(args, store)
        if args.command == "import":
            return _import(args.file, store)
        if args.command == "otel-export":
            return _otel_export(args, store)
        if args.command == "judge":
            return _judge(args, store)
        if args.command == "label":
            return _label(args, store)
        return _export(args, store)
    except USER_ERRORS as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


def spec_from_args(args: argparse.Namespace) -> ExperimentSpec:
    """The spec a `run` command line asks for: options left out keep the spec's defaults.
    Built by `presets.experiment_spec`, as the Run page's: the same limits record the same
    preset name; `--preset` sets its limits over the options."""
    settings = {"temperature": args.temperature, "seed": args.seed, "max_tokens": args.max_tokens}
    forms = [f.strip() for f in args.forms.split(",") if f.strip()]
    if forms == ["all"]:
        forms = get_scenario(args.scenario).form_ids
    rows = (read_inputs_file(args.inputs_file, get_scenario(args.scenario).input_model).rows
            if args.inputs_file else None)  # a file the run cannot use: one sentence, exit 2
    backends = args.backend or [default_backend_id()]  # --backend is repeatable: a matrix
    limits = {"repetitions": args.repeat, "timeout_s": args.timeout,
              "max_turns": args.max_turns}  # None: not typed, the spec's default
    spec = presets.experiment_spec(
        args.scenario, backends[0], backends=backends if len(backends) > 1 else [], forms=forms,
        inputs=args.inputs, concurrency=args.concurrency, tool_budget=args.tool_budget,
        workers=args.workers, cluster=args.cluster, replay_speed=args.replay_speed,
        model_settings={k: v for k, v in settings.items() if v is not None}, input_rows=rows,
        agent_backends=parse_agent_backends(args.agent_backend or []),
        assignment=args.assignment, **{k: v for k, v in limits.items() if v is not None},
    )
    if not args.preset:
        return spec
    return presets.with_options(spec, presets.PRESETS[args.preset], _typed(args))


def _typed(args: argparse.Namespace) -> dict[str, Any]:
    """The limits a preset sets that were typed as options too."""
    return {"repetitions": args.repeat, "max_tokens": args.max_tokens,
            "timeout_s": args.timeout, "max_turns": args.max_turns}


def _preset_notes(args: argparse.Namespace) -> None:
    """Each option that replaced one of the preset's limits, said once on stderr."""
    if args.preset:
        preset = presets.PRESETS[args.preset]
        notes = presets.replacement_notes(preset, _typed(args))
        if notes:
            print(f"note: {'; '.join(notes)}; the experiment is not recorded as "
                  f"{preset.name}", file=sys.stderr)


def _forms(only: str | None) -> int:
    scenarios = [get_scenario(only)] if only else sorted(discover().values(),
                                                            key=lambda s: s.name)
    for scenario in scenarios:
        print(scenario.name)
        for form in scenario.forms:
            print(f"  {form.id:<9} {form.family:<7} {form.description}")
    return 0


def _new_scenario(name: str, folder: str) -> int:
    written = scaffold.new_scenario(name, folder)
    print(f"Wrote scenario {name!r}:")
    for path in written.files:
        print(f"  {path}")
    print("Next, run it on the embedded model, then run its test:")
    for command in written.next_commands:
        print(f"  {command}")
    return 0


@dataclass(frozen=True)
class JudgeAsked:
    """`run --judge`: the judges to ask of each run as it finishes, checked before anything
    is stored."""

    backend: Backend
    """The judge's backend, resolved and answering."""
    judges: list[ReadJudge]
    """The judges, each checked and read once (`judging.check_judges`)."""
    repeat: int
    """Judgements per run and judge."""


def _run(args: argparse.Namespace, store: Store) -> int:
    spec = spec_from_args(args)
    _preset_notes(args)
    return _run_spec(spec, store, args.otlp, judging=_judging_asked(args))


def _judging_asked(args: argparse.Namespace) -> tuple[str, list[str] | None, int] | None:
    """`run`'s and `resume`'s --judge options, or None; --rubric or --judge-repeat without
    --judge is one sentence."""
    if args.judge_backend is None:
        if args.rubric or args.judge_repeat != 1:
            raise SpecError("--rubric and --judge-repeat judge runs: add --judge BACKEND.")
        return None
    return args.judge_backend, args.rubric, args.judge_repeat


def _run_spec(spec: ExperimentSpec, store: Store, otlp: str | None = None,
              judging: tuple[str, list[str] | None, int] | None = None) -> int:
    # A replay backend (here or in a worker process) reads its recording from the store in
    # use, which it finds through the environment, as every other setting.
    with config.store_in_env(store.location):
        prepared = prepare(spec)
        asked = None if judging is None else _judge_asked(prepared, *judging)
        return _run_prepared(prepared, store, otlp, asked)


def _judge_asked(prepared: Prepared, backend_id: str, rubrics: list[str] | None,
                 repeat: int) -> JudgeAsked:
    """Every refusal of `run --judge` before anything is stored: the judges, the repeat, a
    replay backend (by id, before it is opened), a judge's file, ground truth an input
    lacks, then the judge's backend resolved and asked whether it answers."""
    judges = check_judges(prepared.scenario, rubrics, backend_id, repeat,
                          prepared.spec.input_rows)
    backend = resolve(backend_id)
    check_judges(prepared.scenario, rubrics, backend.id, repeat)  # an alias of a replay
    if backend.check is not None:
        backend.check()
    return JudgeAsked(backend, judges, repeat)


def _run_prepared(prepared: Prepared, store: Store, otlp: str | None = None,
                  judging: JudgeAsked | None = None) -> int:
    spec = prepared.spec
    backends = [resolve(backend_id) for backend_id in spec.backend_ids]
    for backend in backends:
        for note in backend.notes:
            print(f"note: {backend.id} {note}", file=sys.stderr)
        label = pricing.price_label(backend.prices_as or backend.id, backend.model_name)
        print(f"price: {label}" + (f" ({backend.id})" if len(backends) > 1 else ""),
              file=sys.stderr)
    assigned: dict[str, list[str]] = {}
    for agent, backend_id in sorted(spec.agent_backends.items()):
        assigned.setdefault(backend_id, []).append(agent)
    for backend_id, agents in assigned.items():  # priced as its model before it opens
        print(f"price: {pricing.price_label(backend_id, short_model(backend_id))} "
              f"({', '.join(agents)} on {backend_id})", file=sys.stderr)
    print(f"tool budget: {prepared.spec.budget(prepared.scenario)} calls per run", file=sys.stderr)

    cancel = CancelToken()
    live = _live_export(otlp)
    printer = _progress_printer(len(backends) > 1, live)
    try:
        if judging is None:
            result = run_experiment(spec, store, backend=backends, on_progress=printer,
                                    cancel=cancel)
        else:
            result = asyncio.run(_judged(
                lambda progress: arun_experiment(spec, store, backend=backends,
                                                 on_progress=progress, cancel=cancel),
                store, printer, judging, live))
    except KeyboardInterrupt:
        print("cancelled: finished runs are kept in the store", file=sys.stderr)
        return 130
    finally:
        _close_export(live)
    code = _report(store, result)
    if judging is not None:
        _judge_means(store, result.experiment_id, judging.judges, judging.backend)
    return code


async def _judged(start: Callable[[Callable[[Progress], None]], Awaitable[ExperimentResult]],
                  store: Store, printer: Callable[[Progress], None], judging: JudgeAsked,
                  live: RunExport | None = None, *, earlier: bool = False
                  ) -> ExperimentResult:
    """An experiment started by `start(on_progress)` (a run or a resume), each run judged as
    it is committed (`judging.RunJudging`, fed from the progress callback): a judgement
    holds the slots runs on the judge's backend take (`execution.run_slots`), never the
    run's own or one of the experiment's, and reads and writes the store on the writer
    thread, off the event loop that times runs. The experiment ends (and is marked so)
    before the last judgements; they are awaited here. `earlier`: then judge the runs the
    experiment finished before (a resume), each not yet judged by this judge, backend and
    prompt version. With an export (`live`), each judgement is handed to it once stored,
    into its run's trace."""
    judge = judging.backend
    stored = None if live is None else live.add_judgement
    runs = RunJudging(store, judge, judging.judges, judging.repeat,
                      hold=lambda: run_slots(judge), offload=writer(), on_stored=stored)

    def progress(p: Progress) -> None:
        printer(p)
        runs.add(p.record)

    try:
        result = await start(progress)
    except BaseException:
        runs.cancel()
        raise
    if runs.tasks:
        print(f"judging: waiting for {len(runs.tasks)} judging tasks on {judge.id}",
              file=sys.stderr)
    made: list[Judgement] = await runs.finish()
    for read in judging.judges if earlier else ():
        made += await ajudge_runs(store, result.experiment_id, read.judge.name, judge,
                                  judging.repeat, hold=lambda: run_slots(judge),
                                  offload=writer(), read=read, on_stored=stored)
    failed = sum(j.status != "ok" for j in made)
    print(f"judged: {len(made)} judgements stored" + (f", {failed} failed" if failed else ""),
          file=sys.stderr)
    return result


def _live_export(otlp: str | None) -> RunExport | None:
    """The experiment's OTLP export (`--otlp`, else ORCHLAB_OTLP_ENDPOINT), or None."""
    return configured_export(otlp, warn=_warn)


def _progress_printer(several: bool, live: RunExport | None) -> Callable[[Progress], None]:
    """A line per committed run, naming its backend when the experiment runs several; with an
    export, each run is also handed to it (its spans are created here, on the event loop, in
    1-3 ms; the SDK's batch thread sends them)."""
    def progress(p: Progress) -> None:
        _progress(p, several)
        if live is not None:
            live.add_run(p.record)
    return progress


def _close_export(live: RunExport | None) -> None:
    """The last spans sent (a bounded wait); a failure has already been said, once."""
    if live is not None and live.close() and live.spans_created:
        print(f"otlp: {live.spans_created} spans sent to {live.endpoint}", file=sys.stderr)


def _warn(message: str) -> None:
    print(f"warning: {message}", file=sys.stderr)


def _progress(p: Progress, several: bool = False) -> None:
    r = p.record
    status = f"{r.status}:{r.error_class}" if r.error_class else r.status
    retried = f" ({r.metrics.retries} retries)" if r.metrics.retries else ""
    backend = f"{r.backend}  " if several else ""
    print(f"[{p.done}/{p.total}] {r.form:<4} {backend}{r.input_id:<16} {status:<9} "
          f"{r.metrics.wall_ms:8.0f} ms  {r.metrics.path}{retried}", file=sys.stderr)


def _report(store: Store, result: ExperimentResult) -> int:
    frame = store.load_runs([result.experiment_id])
    several = frame["backend"].nunique() > 1  # a matrix: one row per form and backend
    print(analysis.summarize(frame, ["form", "backend"] if several else None)
          .to_string(index=False))
    counts = store.run_counts(result.experiment_id)
    print(f"experiment: {result.experiment_id} ({result.status}, {counts.sentence()}, "
          f"store {store.shown})")
    if counts.missing:
        print(f"resume: python -m orchlab resume {result.experiment_id} runs the "
              f"{counts.missing} that never finished", file=sys.stderr)
    carried = result.carried
    if carried is not None and (carried.judgements or carried.pairwise or carried.not_carried):
        print(f"judgements: {carried.judgements} rubric and {carried.pairwise} pairwise "
              "verdicts carried from the recording" + (
                  f"; {carried.not_carried} not (the replayed run showed the judge something "
                  "else, or did not end ok)" if carried.not_carried else ""), file=sys.stderr)
    return 0


def _resume(args: argparse.Namespace, store: Store) -> int:
    exp = _experiment(store, args.experiment_id)
    if not recorded_here(exp) and not args.yes:
        raise SpecError(f"{exp.experiment_id} was recorded elsewhere (an imported file, or "
                        f"another machine): its missing runs would go to {exp.backend}; pass "
                        "--yes to resume it on that backend.")
    asked = _judging_asked(args)
    judging = None
    if asked is not None:
        with config.store_in_env(store.location):
            judging = _judge_asked(prepare(ExperimentSpec(**exp.spec)), *asked)
    before = store.run_counts(exp.experiment_id).finished
    live = _live_export(None)  # ORCHLAB_OTLP_ENDPOINT, as for run
    try:
        several = len(exp.spec.get("backends") or []) > 1
        printer = _progress_printer(several, live)
        if judging is None:
            result = resume_experiment(exp.experiment_id, store, on_progress=printer)
        else:
            result = asyncio.run(_judged(
                lambda progress: aresume_experiment(exp.experiment_id, store,
                                                    on_progress=progress),
                store, printer, judging, live, earlier=True))
    finally:
        _close_export(live)
    print(f"resumed: {len(result.records)} missing runs executed ({before} finished runs "
          "were kept)", file=sys.stderr)
    code = _report(store, result)
    if judging is not None:
        _judge_means(store, result.experiment_id, judging.judges, judging.backend)
    return code


def _experiment(store: Store, experiment_id: str) -> ExperimentRecord:
    exp = store.get_experiment(experiment_id)
    if exp is None:
        raise UnknownExperiment(f"No single experiment matches {experiment_id!r}; "
                                "see `python -m orchlab list`.")
    return exp


def _list(store: Store) -> int:
    for exp in store.list_experiments():
        counts = store.run_counts(exp.experiment_id)
        print(f"{exp.experiment_id}  {exp.created_at:%Y-%m-%d %H:%M}  {exp.scenario:<16} "
              f"{exp.backend:<28} {exp.status:<10} {counts.finished}/{counts.planned} runs"
              + (f", {counts.missing} never finished" if counts.missing else "")
              + (f"  | {exp.spec['assignment']}" if exp.spec.get("assignment") else "")
              + (f"  by {exp.participant}" if exp.participant else ""))  # a workshop's
    return 0


def _summary(args: argparse.Namespace, store: Store) -> int:
    """Every figure Compare shows (`summary.summarize_runs`), each judge's agreement with
    people's labels under "agreement" (`agreement.summarize_agreement`) and each judge's
    quality figure per group with the judge's own noise in its interval under "quality"
    (`quality.summarize_quality`), each pairwise judge's win rate and position bias under
    "pairwise" (`pairwise.summarize_pairwise`): keys added beside the summary's own, so its
    contract is unchanged; then the thresholds' verdict."""
    reqs = [parse_requirement(text) for text in args.require]  # a typo fails before any work
    ids = [_experiment(store, e).experiment_id for e in args.experiment_ids]
    runs = store.load_runs(ids)
    if runs.empty:
        raise UnknownExperiment("These experiments have no finished runs to summarize.")
    by = args.by  # none given: as Compare and the report, every factor that differs
    grouped = analysis.grouped(runs, *(None if by is None else name in by
                                       for name in ("variant", "backend", "assignment")))
    result = summarize_runs(grouped, args.baseline,
                            detect=args.detect, paired=not args.unpaired)
    judgements = store.load_judgements(ids)
    result["agreement"] = summarize_agreement(store.load_labels(ids), judgements)
    result["quality"] = summarize_quality(grouped, judgements, result["baseline"],
                                          paired=not args.unpaired)
    result["pairwise"] = summarize_pairwise(store.load_pairwise(ids))
    if args.format == "json":
        print(json.dumps(result, indent=2, ensure_ascii=False, allow_nan=False))
    else:
        print(render_text(result))
    failed = failed_requirements(result, reqs)
    for line in failed:
        print(line, file=sys.stderr)
    return 1 if failed else 0


def _write_report(args: argparse.Namespace, store: Store) -> int:
    """The same bytes Compare's "Download report" serves (`report.report_file`)."""
    ids = [_experiment(store, e).experiment_id for e in args.experiment_ids]
    try:
        data = report.report_file(store, ids).data  # built before the file is opened
    except LookupError as exc:  # no finished runs
        raise UnknownExperiment(str(exc)) from exc
    with open(args.output, "wb") as handle:
        handle.write(data)
    return 0


def _export(args: argparse.Namespace, store: Store) -> int:
    """The same bytes History's download buttons serve (`export.export_file`)."""
    exp = _experiment(store, args.experiment_id)
    exported = export.export_file(store, exp.experiment_id, args.format)
    if args.output:
        with open(args.output, "wb") as handle:  # bytes: no newline or encoding translation
            handle.write(exported.data)
    else:
        sys.stdout.write(exported.data.decode("utf-8"))
    return 0


def _otel_export(args: argparse.Namespace, store: Store) -> int:
    """Stored runs, then their stored judgements (in their runs' traces), through the same
    conversion as live ones; 1 when the receiver failed."""
    exp = _experiment(store, args.experiment_id)
    endpoint = args.endpoint or config.otlp_endpoint()
    if not endpoint:
        raise SpecError("otel-export needs --endpoint URL (or ORCHLAB_OTLP_ENDPOINT).")
    runs, judgements = stored_records(store, exp.experiment_id)
    sent = export_runs(runs, endpoint, content=config.otlp_content(), warn=_warn,
                       judgements=judgements)
    if sent.failure is not None:
        return 1
    judged = (f"; {sent.judgements} judgements in their runs' traces" if sent.judgements
              else "")
    print(f"exported {len(runs)} runs of {exp.experiment_id} ({sent.spans_created} spans, one "
          f"trace per run{judged}) to {sent.endpoint}")
    return 0


def _judge(args: argparse.Namespace, store: Store) -> int:
    """Every judge asked (each of the scenario's by default) over the experiment's finished
    runs: one line per new judgement, then each judge's mean score per form with its n (the
    judgements stored for this judge, backend and prompt version, earlier passes included).
    Everything refusable is refused before any model is asked. With --otlp (or
    ORCHLAB_OTLP_ENDPOINT), each judgement goes to the receiver as it is stored, in its run's
    trace. With --pairwise, two forms' runs compared instead (`_judge_pairwise`)."""
    exp = _experiment(store, args.experiment_id)
    scenario = get_scenario(exp.scenario)
    if args.pairwise is not None or args.forms is not None or args.seed is not None:
        return _judge_pairwise(args, store, exp)
    if not scenario.rubric_judges:
        raise SpecError(f"Scenario {scenario.name} declares no rubric judges.")
    judges = [read_judge(scenario, name)
              for name in args.rubric or [j.name for j in scenario.rubric_judges]]
    backend = resolve(args.judge_backend)
    if backend.check is not None:
        backend.check()
    forms = dict(store.load_runs([exp.experiment_id])[["run_id", "form"]].itertuples(
        index=False))
    live = _live_export(args.otlp)
    try:
        for read in judges:
            for j in judge_runs(store, exp.experiment_id, read.judge.name, backend, args.repeat,
                                read=read,
                                on_stored=None if live is None else live.add_judgement):
                verdict = (f"{j.label}: {j.explanation}" if j.status == "ok"
                           else f"{j.error_class}: {j.error_message}")
                print(f"{j.run_id[:20]}  {forms.get(j.run_id, '?'):<8} {j.judge} "
                      f"k={j.repetition}  {verdict}")
    finally:
        _close_export(live)
    _judge_means(store, exp.experiment_id, judges, backend)
    return 0


def _judge_pairwise(args: argparse.Namespace, store: Store, exp: ExperimentRecord) -> int:
    """One pairwise judge over form A's and form B's runs (`judging.pairwise.judge_pairs`):
    one line per new comparison (the order it was shown in, the winner), then the judge's
    win rate and position bias over every comparison stored for it (`stats.pairwise`).
    Every refusal is one sentence, before any model is asked."""
    if args.pairwise is None:
        raise SpecError("--forms and --seed compare two forms: add --pairwise NAME.")
    if args.rubric:
        raise SpecError("--rubric and --pairwise are two kinds of judging: ask one at a time.")
    if args.forms is None:
        raise SpecError(f"--pairwise {args.pairwise} compares two forms: add --forms A,B.")
    forms = [f.strip() for f in args.forms.split(",") if f.strip()]
    get_scenario(exp.scenario).pairwise_judge(args.pairwise)  # before a backend is opened
    backend = resolve(args.judge_backend)
    if backend.check is not None:
        backend.check()
    live = _live_export(args.otlp)
    try:
        made = judge_pairs(store, exp.experiment_id, args.pairwise, forms, backend, args.repeat,
                           seed=args.seed,
                           on_stored=None if live is None else live.add_judgement)
    finally:
        _close_export(live)
    for p in made:
        said = (f"winner {p.winner}: {p.explanation}" if p.status == "ok"
                else f"{p.error_class}: {p.error_message}")
        print(f"{p.input_id:<16} rep {p.repetition} k={p.k}  {p.form_a} vs {p.form_b}, "
              f"{p.shown_first} shown first  {said}")
    summary = summarize_pairwise(store.load_pairwise([exp.experiment_id]))
    mine = [s for s in summary if s["judge"] == args.pairwise and s["backend"] == backend.id
            and (s["form_a"], s["form_b"]) == tuple(forms)]
    for line in pairwise_lines(mine) or [f"{args.pairwise}: no usable comparisons"]:
        print(line)
    return 0


def _judge_means(store: Store, experiment_id: str, judges: list[ReadJudge],
                 backend: Backend) -> None:
    """Each judge's mean score (or pass rate) per form over the judgements stored for this
    judge, backend and the prompt version it was read with, with its n: what `judge` and
    `run --judge` print."""
    stored = store.load_judgements([experiment_id])
    for read in judges:
        judge, version = read.judge, read.version
        mine = stored[(stored["judge"] == judge.name) & (stored["backend"] == backend.id)
                      & (stored["prompt_version"] == version)]
        ok = mine[mine["status"] == "ok"]
        failed = len(mine) - len(ok)
        print(f"{judge.name} ({judge.describe_scale()}) on {backend.id}, prompt "
              f"{version}" + (f", {failed} judgements failed" if failed else "")
              + ":")
        what = "pass rate" if judge.pass_fail else "mean"
        for form, group in ok.groupby("form", sort=False):
            print(f"  {form:<10} {what} {group['score'].mean():.2f}  (n={len(group)}, "
                  f"{group['run_id'].nunique()} runs)")
        if ok.empty:
            print("  no scores")


def _label(args: argparse.Namespace, store: Store) -> int:
    """A person's label of one run for one judge (`judging.labels.label_run`); a second
    label by the same person is refused with the option that replaces it."""
    try:
        label = label_run(store, args.run_id, args.rubric, args.score, args.who, args.note,
                          replace=args.replace)
    except LabelExists as exc:
        raise LabelError(f"{str(exc).rstrip('.')}: add --replace to replace it.") from None
    print(f"labelled run {label.run_id} of {label.experiment_id} for {label.judge}: "
          f"{label.score:g} by {label.who}" + (f" ({label.note})" if label.note else ""))
    return 0


def _copy_store(source: str, target: str) -> int:
    with contextlib.closing(Store(source)) as src, contextlib.closing(Store(target)) as dst:
        print(copy_store(src, dst).sentence(src.shown, dst.shown))
    return 0


def _import(path: str, store: Store) -> int:
    result = importer.import_file(store, path)  # one transaction: a refusal changes nothing
    print(result.sentence() + (f"\nnote: {result.notice}" if result.notice else ""))
    return 0
