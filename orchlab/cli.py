"""Command line: `python -m orchlab run | list | export`.

Every user error (bad scenario, input, backend, spec, agent file, store) ends in one line on
stderr and exit code 2; a run that fails inside an experiment is data, not a CLI error.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Sequence

from orchlab import analysis, config, export, importer, pricing, report
from orchlab.backends import default_backend_id, resolve
from orchlab.errors import (
    AgentDefError,
    BackendError,
    ImportFileError,
    ScenarioError,
    SpecError,
    StoreError,
    WorkerError,
)
from orchlab.gate import failed_requirements, parse_requirement, render_text
from orchlab.otel import RunExport, configured_export, export_runs, stored_runs
from orchlab.records import ExperimentRecord
from orchlab.runner import (
    CancelToken,
    ExperimentResult,
    ExperimentSpec,
    Progress,
    prepare,
    resume_experiment,
    run_experiment,
)
from orchlab.scenario import discover, get_scenario
from orchlab.spec import Prepared, replay_spec
from orchlab.store import Store
from orchlab.summary import DETECT, summarize_runs

DEFAULTS = ExperimentSpec(scenario="")
"""The CLI's defaults are the spec's (and so the Run page's)."""


class UnknownExperiment(LookupError):
    """No experiment, or more than one, matches the id or prefix given."""


USER_ERRORS = (AgentDefError, BackendError, ScenarioError, SpecError, StoreError,
               UnknownExperiment, WorkerError, ImportFileError)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser; `--help` on each command documents every option."""
    parser = argparse.ArgumentParser(
        prog="python -m orchlab",
        description="Orchestration Lab: run a scenario in code- and LLM-orchestrated form and "
        "record every run.",
    )
    parser.add_argument("--store", help="SQLite store file (default: $ORCHLAB_STORE, else the "
                        "user data dir)")
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--store", dest="sub_store", metavar="PATH",
                        help="SQLite store file (same as the global --store)")
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", parents=[common],
                         help="run an experiment and print a per-form summary")
    run.add_argument("--scenario", required=True, help="scenario name, e.g. sales_email")
    run.add_argument("--forms", default=",".join(DEFAULTS.forms), help="comma-separated form "
                     "ids, or all (default: code,llm; `python -m orchlab forms` lists each "
                     "scenario's)")
    run.add_argument("--repeat", type=int, default=DEFAULTS.repetitions,
                     help="repetitions per form and input")
    run.add_argument("--concurrency", type=int, default=DEFAULTS.concurrency,
                     help="runs in flight at once")
    run.add_argument("--workers", type=int, default=DEFAULTS.workers, help="processes sharing "
                     "the runs, one "
                     "event loop each: up to one per core for a fast server at high concurrency "
                     "(openai:, compat:, litellm: only)")
    run.add_argument("--backend", default=None, help="backend id, e.g. local:smollm2-135m, "
                     "openai:gpt-4.1-mini, compat:<model>@<base_url> (default: $ORCHLAB_BACKEND "
                     "or the embedded model)")
    run.add_argument("--input", action="append", dest="inputs", help="input id (repeatable; "
                     "default: all inputs)")
    run.add_argument("--temperature", type=float, default=None, help="override every agent's "
                     "temperature (default: each agent's own setting)")
    run.add_argument("--seed", type=int, default=None, help="seed passed to the model")
    run.add_argument("--max-tokens", type=int, default=None, help="cap every reply at this many "
                     "tokens (default: each agent's own limit)")
    run.add_argument("--timeout", type=float, default=DEFAULTS.timeout_s,
                     help="per-run timeout in seconds")
    run.add_argument("--max-turns", type=int, default=DEFAULTS.max_turns,
                     help="turn limit per agent run")
    run.add_argument("--tool-budget", type=int, default=DEFAULTS.tool_budget, help="most tool "
                     "calls per run before it is stopped, agents called as tools included "
                     "(default: the scenario's own budget)")
    run.add_argument("--replay-speed", type=float, default=DEFAULTS.replay_speed,
                     help="with --backend replay:<experiment_id>: recorded latencies times this "
                     "(1 = the original timing, 0 = instant)")
    run.add_argument("--otlp", metavar="URL", default=None, help="send each run's spans as it "
                     "finishes to this OpenTelemetry receiver over OTLP/HTTP, e.g. "
                     "http://127.0.0.1:6006 (a bare server URL gets /v1/traces; default: "
                     "$ORCHLAB_OTLP_ENDPOINT, else no export; message text only with "
                     "ORCHLAB_OTLP_CONTENT=1)")
    rep = sub.add_parser("replay", parents=[common], help="run a recorded experiment again "
                         "from its recorded model calls: offline, nothing spent")
    rep.add_argument("experiment_id", help="experiment id (a unique prefix is enough)")
    rep.add_argument("--speed", type=float, default=DEFAULTS.replay_speed, help="recorded "
                     "latencies times this (1 = the original timing, 0 = instant)")
    rep.add_argument("--input", action="append", dest="inputs", help="replay only this input "
                     "(repeatable; default: the experiment's own inputs)")
    rep.add_argument("--repeat", type=int, default=None, help="replay only the first N "
                     "repetitions (default: all the experiment ran)")
    resume = sub.add_parser("resume", parents=[common], help="run only the missing runs of an "
                            "interrupted or cancelled experiment")
    resume.add_argument("experiment_id", help="experiment id (a unique prefix is enough)")
    sub.add_parser("list", parents=[common], help="list experiments in the store")
    forms = sub.add_parser("forms", help="list each scenario's forms: id, family, description")
    forms.add_argument("--scenario", help="only this scenario")
    summ = sub.add_parser("summary", parents=[common], help="print every figure Compare shows "
                          "for one or more experiments; --require makes it a CI gate")
    summ.add_argument("experiment_ids", nargs="+", metavar="EXPERIMENT_ID",
                      help="experiment id (a unique prefix is enough), one or more")
    summ.add_argument("--format", choices=("text", "json"), default="text", help="output format")
    summ.add_argument("--baseline", help="group the others are compared with (default: the "
                      "most code-driven form)")
    summ.add_argument("--by-variant", action="store_true", help="groups are form · prompt "
                      "variant (as Compare's split)")
    summ.add_argument("--detect", type=float, default=DETECT, help="difference to detect for "
                      "the runs-needed figure, as a share of the baseline mean (default 0.2)")
    summ.add_argument("--unpaired", action="store_true", help="estimate every figure from "
                      "the groups resampled on their own, never from pairs by input and "
                      "repetition")
    summ.add_argument("--require", action="append", default=[], metavar="GROUP.FIGURE>=X",
                      help="threshold that must hold, e.g. llm.success>=0.9 or "
                      "guarded.pass^3>=0.8 (repeatable); exit code 1 names each that fails")
    rpt = sub.add_parser("report", parents=[common], help="write one self-contained HTML "
                         "report (findings, charts, failures, example traces) that opens offline")
    rpt.add_argument("experiment_ids", nargs="+", metavar="EXPERIMENT_ID",
                     help="experiment id (a unique prefix is enough), one or more")
    rpt.add_argument("--output", "-o", required=True, help="HTML file to write")
    exp = sub.add_parser("export", parents=[common], help="export one experiment's runs")
    exp.add_argument("experiment_id", help="experiment id (a unique prefix is enough)")
    exp.add_argument("--format", choices=("csv", "json"), default="json", help="output format")
    exp.add_argument("--output", "-o", help="file to write (default: stdout)")
    imp = sub.add_parser("import", parents=[common], help="import an `export --format json` file")
    imp.add_argument("file", help="experiment file (ids the store already holds are remapped)")
    otx = sub.add_parser("otel-export", parents=[common], help="send one experiment's stored "
                         "runs to an OpenTelemetry receiver over OTLP/HTTP, one trace per run")
    otx.add_argument("experiment_id", help="experiment id (a unique prefix is enough)")
    otx.add_argument("--endpoint", metavar="URL", default=None, help="receiver, e.g. "
                     "http://127.0.0.1:6006 (a bare server URL gets /v1/traces; default: "
                     "$ORCHLAB_OTLP_ENDPOINT; message text only with ORCHLAB_OTLP_CONTENT=1)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the exit code."""
    args = build_parser().parse_args(argv)
    store_override = getattr(args, "sub_store", None) or args.store
    try:
        if args.command == "forms":  # needs no store
            return _forms(args.scenario)
        store = Store(store_override)
        if args.command == "run":
            return _run(args, store)
        if args.command == "replay":
            return _run_spec(replay_spec(_experiment(store, args.experiment_id), args.speed,
                                         args.inputs, args.repeat), store)
        if args.command == "list":
            return _list(store)
        if args.command == "resume":
            with config.store_in_env(store.path):
                return _resume(args, store)
        if args.command == "summary":
            return _summary(args, store)
        if args.command == "report":
            return _write_report(args, store)
        if args.command == "import":
            return _import(args.file, store)
        if args.command == "otel-export":
            return _otel_export(args, store)
        return _export(args, store)
    except USER_ERRORS as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


def spec_from_args(args: argparse.Namespace) -> ExperimentSpec:
    """The spec a `run` command line asks for: options left out keep the spec's defaults."""
    settings = {"temperature": args.temperature, "seed": args.seed, "max_tokens": args.max_tokens}
    forms = [f.strip() for f in args.forms.split(",") if f.strip()]
    if forms == ["all"]:
        forms = get_scenario(args.scenario).form_ids
    return ExperimentSpec(
        scenario=args.scenario, forms=forms,
        inputs=args.inputs, repetitions=args.repeat, concurrency=args.concurrency,
        backend=args.backend or default_backend_id(), timeout_s=args.timeout,
        max_turns=args.max_turns, tool_budget=args.tool_budget, workers=args.workers,
        model_settings={k: v for k, v in settings.items() if v is not None},
        replay_speed=args.replay_speed,
    )


def _forms(only: str | None) -> int:
    scenarios = [get_scenario(only)] if only else sorted(discover().values(),
                                                            key=lambda s: s.name)
    for scenario in scenarios:
        print(scenario.name)
        for form in scenario.forms:
            print(f"  {form.id:<9} {form.family:<7} {form.description}")
    return 0


def _run(args: argparse.Namespace, store: Store) -> int:
    return _run_spec(spec_from_args(args), store, args.otlp)


def _run_spec(spec: ExperimentSpec, store: Store, otlp: str | None = None) -> int:
    # A replay backend (here or in a worker process) reads its recording from the store in
    # use, which it finds through the environment, as every other setting.
    with config.store_in_env(store.path):
        return _run_prepared(prepare(spec), store, otlp)


def _run_prepared(prepared: Prepared, store: Store, otlp: str | None = None) -> int:
    spec = prepared.spec
    backend = resolve(prepared.spec.backend)
    for note in backend.notes:
        print(f"note: {backend.id} {note}", file=sys.stderr)
    print(f"price: {pricing.price_label(backend.prices_as or backend.id, backend.model_name)}",
          file=sys.stderr)
    print(f"tool budget: {prepared.spec.budget(prepared.scenario)} calls per run", file=sys.stderr)

    cancel = CancelToken()
    live = _live_export(otlp)
    try:
        result = run_experiment(spec, store, backend=backend, on_progress=_progress if live is
                                None else _progress_exported(live), cancel=cancel)
    except KeyboardInterrupt:
        print("cancelled: finished runs are kept in the store", file=sys.stderr)
        return 130
    finally:
        _close_export(live)
    return _report(store, result)


def _live_export(otlp: str | None) -> RunExport | None:
    """The experiment's OTLP export (`--otlp`, else ORCHLAB_OTLP_ENDPOINT), or None."""
    return configured_export(otlp, warn=_warn)


def _progress_exported(live: RunExport) -> Callable[[Progress], None]:
    """Progress that also hands each committed run to the export (its spans are created
    here, on the event loop, in 1-3 ms; the SDK's batch thread sends them)."""
    def progress(p: Progress) -> None:
        _progress(p)
        live.add_run(p.record)
    return progress


def _close_export(live: RunExport | None) -> None:
    """The last spans sent (a bounded wait); a failure has already been said, once."""
    if live is not None and live.close() and live.spans_created:
        print(f"otlp: {live.spans_created} spans sent to {live.endpoint}", file=sys.stderr)


def _warn(message: str) -> None:
    print(f"warning: {message}", file=sys.stderr)


def _progress(p: Progress) -> None:
    r = p.record
    status = f"{r.status}:{r.error_class}" if r.error_class else r.status
    retried = f" ({r.metrics.retries} retries)" if r.metrics.retries else ""
    print(f"[{p.done}/{p.total}] {r.form:<4} {r.input_id:<16} {status:<9} "
          f"{r.metrics.wall_ms:8.0f} ms  {r.metrics.path}{retried}", file=sys.stderr)


def _report(store: Store, result: ExperimentResult) -> int:
    frame = store.load_runs([result.experiment_id])
    print(analysis.summarize(frame).to_string(index=False))
    counts = store.run_counts(result.experiment_id)
    print(f"experiment: {result.experiment_id} ({result.status}, {counts.sentence()}, "
          f"store {store.path})")
    if counts.missing:
        print(f"resume: python -m orchlab resume {result.experiment_id} runs the "
              f"{counts.missing} that never finished", file=sys.stderr)
    return 0


def _resume(args: argparse.Namespace, store: Store) -> int:
    exp = _experiment(store, args.experiment_id)
    before = store.run_counts(exp.experiment_id).finished
    live = _live_export(None)  # ORCHLAB_OTLP_ENDPOINT, as for run
    try:
        result = resume_experiment(exp.experiment_id, store, on_progress=_progress if live is
                                   None else _progress_exported(live))
    finally:
        _close_export(live)
    print(f"resumed: {len(result.records)} missing runs executed ({before} finished runs "
          "were kept)", file=sys.stderr)
    return _report(store, result)


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
              + (f", {counts.missing} never finished" if counts.missing else ""))
    return 0


def _summary(args: argparse.Namespace, store: Store) -> int:
    """Every figure Compare shows (`summary.summarize_runs`), and the thresholds' verdict."""
    reqs = [parse_requirement(text) for text in args.require]  # a typo fails before any work
    ids = [_experiment(store, e).experiment_id for e in args.experiment_ids]
    runs = store.load_runs(ids)
    if runs.empty:
        raise UnknownExperiment("These experiments have no finished runs to summarize.")
    grouped = analysis.with_group(analysis.mark_replays(runs), args.by_variant)
    result = summarize_runs(grouped, args.baseline,
                            detect=args.detect, paired=not args.unpaired)
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
    """Stored runs through the same conversion as live ones; 1 when the receiver failed."""
    exp = _experiment(store, args.experiment_id)
    endpoint = args.endpoint or config.otlp_endpoint()
    if not endpoint:
        raise SpecError("otel-export needs --endpoint URL (or ORCHLAB_OTLP_ENDPOINT).")
    runs = stored_runs(store, exp.experiment_id)
    sent = export_runs(runs, endpoint, content=config.otlp_content(), warn=_warn)
    if sent.failure is not None:
        return 1
    print(f"exported {len(runs)} runs of {exp.experiment_id} ({sent.spans_created} spans, one "
          f"trace per run) to {sent.endpoint}")
    return 0


def _import(path: str, store: Store) -> int:
    result = importer.import_file(store, path)  # one transaction: a refusal changes nothing
    print(result.sentence() + (f"\nnote: {result.notice}" if result.notice else ""))
    return 0
