"""The command line's arguments: every command and option, with the spec's defaults.

Kept apart from `orchlab.cli.main` (what each command does) so that file stays readable; `--help`
on each command documents every option, and the commands in README and docs are checked against it.
"""

from __future__ import annotations

import argparse

from orchlab.running.presets import PRESETS
from orchlab.running.spec import ExperimentSpec
from orchlab.stats.summary import DETECT

SPLITS = ("form", "variant", "backend", "assignment")
"""What `summary --by` may split groups by, beside the form."""
DEFAULTS = ExperimentSpec(scenario="")
"""The CLI's defaults are the spec's (and so the Run page's)."""


def build_parser() -> argparse.ArgumentParser:
    """The argument parser; `--help` on each command documents every option."""
    parser = argparse.ArgumentParser(
        prog="orchlab",
        description="Orchestration Lab: run a scenario in code- and LLM-orchestrated form and "
        "record every run.",
    )
    parser.add_argument("--store", help="store: a SQLite file or a postgresql://user@host/db URL "
                        "(default: $ORCHLAB_STORE, else a file in the user data dir)")
    parser.add_argument("--scenarios", action="append", metavar="DIR", default=[],
                        help="also load scenario modules from DIR (repeatable; ahead of "
                        "$ORCHLAB_SCENARIOS)")
    folders = argparse.ArgumentParser(add_help=False)
    folders.add_argument("--scenarios", dest="sub_scenarios", action="append", metavar="DIR",
                         default=[], help="also load scenario modules from DIR (repeatable; "
                         "same as the global --scenarios)")
    common = argparse.ArgumentParser(add_help=False, parents=[folders])
    common.add_argument("--store", dest="sub_store", metavar="STORE",
                        help="SQLite file or postgresql:// URL (same as the global --store)")
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", parents=[common],
                         help="run an experiment and print a per-form summary")
    run.add_argument("--scenario", required=True, help="scenario name, e.g. sales_email")
    run.add_argument("--forms", default=",".join(DEFAULTS.forms), help="comma-separated form "
                     "ids, or all (default: code,llm; `orchlab forms` lists each "
                     "scenario's)")
    run.add_argument("--repeat", type=int, default=None,
                     help=f"repetitions per form and input (default {DEFAULTS.repetitions})")
    run.add_argument("--concurrency", type=int, default=DEFAULTS.concurrency,
                     help="runs in flight at once")
    run.add_argument("--workers", type=int, default=DEFAULTS.workers, help="processes sharing "
                     "the runs, one "
                     "event loop each: up to one per core for a fast server at high concurrency "
                     "(openai:, compat:, litellm: only)")
    run.add_argument("--cluster", default=DEFAULTS.cluster, metavar="ray|ray://HOST:PORT",
                     help="run the --workers shards as Ray actors: ray starts a local Ray, "
                     "ray://HOST:PORT joins a cluster (pip install -r requirements-cluster.txt; "
                     "openai:, compat:, litellm: only)")
    run.add_argument("--backend", action="append", default=None, help="backend id, e.g. "
                     "local:smollm2-135m, openai:gpt-4.1-mini, compat:<model>@<base_url> "
                     "(default: $ORCHLAB_BACKEND or the embedded model); repeat it for a model "
                     "matrix: every form runs on each backend, interleaved, in one experiment")
    run.add_argument("--agent-backend", action="append", default=None,
                     metavar="AGENT=BACKEND", help="run this agent on another backend than the "
                     "run's (repeatable): a model per agent, e.g. --agent-backend "
                     "orchestrator=openai:gpt-4.1 --agent-backend writer=openai:gpt-4.1-nano; "
                     "the other agents run on --backend")
    run.add_argument("--assignment", default=None, metavar="NAME", help="short name of the "
                     "--agent-backend assignment, shown wherever its runs are (default: made "
                     "from it, e.g. 'writer on gpt-4.1-nano')")
    run.add_argument("--input", action="append", dest="inputs", help="input id (repeatable; "
                     "default: all inputs)")
    run.add_argument("--inputs-file", metavar="FILE", default=None, help="run the cases of "
                     "this CSV or JSONL file instead of the scenario's inputs: an id column, "
                     "an optional label, every other column the input's data; stored with "
                     "the experiment (--input picks among its ids)")
    run.add_argument("--temperature", type=float, default=None, help="override every agent's "
                     "temperature (default: each agent's own setting)")
    run.add_argument("--seed", type=int, default=None, help="seed passed to the model")
    run.add_argument("--max-tokens", type=int, default=None, help="cap every reply at this many "
                     "tokens (default: each agent's own limit)")
    run.add_argument("--timeout", type=float, default=None,
                     help=f"per-run timeout in seconds (default {DEFAULTS.timeout_s:g})")
    run.add_argument("--max-turns", type=int, default=None,
                     help=f"turn limit per agent run (default {DEFAULTS.max_turns})")
    run.add_argument("--tool-budget", type=int, default=DEFAULTS.tool_budget, help="most tool "
                     "calls per run before it is stopped, agents called as tools included "
                     "(default: the scenario's own budget)")
    run.add_argument("--preset", choices=sorted(PRESETS), default=None, help="named limits "
                     "set over --repeat, --max-tokens, --timeout and --max-turns, recorded in "
                     "the spec: quick-start = " + PRESETS["quick-start"].describe())
    run.add_argument("--replay-speed", type=float, default=DEFAULTS.replay_speed,
                     help="with --backend replay:<experiment_id>: recorded latencies times this "
                     "(1 = the original timing, 0 = instant)")
    run.add_argument("--otlp", metavar="URL", default=None, help="send each run's spans as it "
                     "finishes to this OpenTelemetry receiver over OTLP/HTTP, e.g. "
                     "http://127.0.0.1:6006 (a bare server URL gets /v1/traces; default: "
                     "$ORCHLAB_OTLP_ENDPOINT, else no export; message text only with "
                     "ORCHLAB_OTLP_CONTENT=1)")
    _judging_options(run)
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
    resume.add_argument("--yes", action="store_true",
                        help="resume an experiment recorded elsewhere (imported from a file, "
                        "or run on another machine) on the backend it names")
    _judging_options(resume, resuming=True)
    sub.add_parser("list", parents=[common], help="list experiments in the store")
    forms = sub.add_parser("forms", parents=[folders],
                           help="list each scenario's forms: id, family, description")
    forms.add_argument("--scenario", help="only this scenario")
    new = sub.add_parser("new-scenario", help="write a runnable scenario to start from: a module "
                         "with a code and an LLM form, its two agent files and a test")
    new.add_argument("name", metavar="NAME", help="the scenario's name, a lower-case Python "
                     "identifier, e.g. order_status")
    new.add_argument("--dir", default=".", metavar="DIR", help="folder to write into, created "
                     "if need be (default: the current folder); the lab reads it with "
                     "--scenarios DIR")
    summ = sub.add_parser("summary", parents=[common], help="print every figure Compare shows "
                          "for one or more experiments; --require makes it a CI gate")
    summ.add_argument("experiment_ids", nargs="+", metavar="EXPERIMENT_ID",
                      help="experiment id (a unique prefix is enough), one or more")
    summ.add_argument("--format", choices=("text", "json"), default="text", help="output format")
    summ.add_argument("--baseline", help="group the others are compared with (default: the "
                      "most code-driven form)")
    summ.add_argument("--by", action="append", choices=SPLITS, default=None, metavar="|".join(
                      SPLITS), help="split the groups by this factor beside the form "
                      "(repeatable: --by variant --by backend; form alone: --by form): variant "
                      "is the prompt variant (and replay), backend each run's backend, "
                      "assignment the agent assignment; default: as Compare and the report, "
                      "the form and every factor that differs among the runs")
    summ.add_argument("--by-variant", action="append_const", dest="by", const="variant",
                      help="same as --by variant")
    summ.add_argument("--detect", type=float, default=DETECT, help="difference to detect for "
                      "the runs-needed figure, as a share of the baseline mean (default 0.2)")
    summ.add_argument("--unpaired", action="store_true", help="estimate every figure from "
                      "the groups resampled on their own, never from pairs by input and "
                      "repetition")
    summ.add_argument("--require", action="append", default=[], metavar="GROUP.FIGURE>=X",
                      help="threshold that must hold, e.g. llm.success>=0.9, "
                      "guarded.pass^3>=0.8 or guarded.pass^3_low>=0.6 (the lower bound of "
                      "pass^3's 95%% interval) (repeatable); exit code 1 names each that fails")
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
    jdg = sub.add_parser("judge", parents=[common], help="score an experiment's finished runs "
                         "with the scenario's rubric judges (a model reading each stored run), "
                         "or compare two forms' runs with a pairwise judge (--pairwise)")
    jdg.add_argument("experiment_id", help="experiment id (a unique prefix is enough)")
    jdg.add_argument("--judge", required=True, metavar="BACKEND", dest="judge_backend",
                     help="backend the judge runs on, e.g. openai:gpt-4.1-mini or "
                     "local:smollm2-135m (its tokens and cost are the judge's, never the "
                     "runs')")
    jdg.add_argument("--rubric", action="append", default=None, metavar="NAME",
                     help="judge to run (repeatable; default: each of the scenario's judges)")
    jdg.add_argument("--repeat", type=int, default=1, metavar="K", help="judgements per run "
                     "(or pair of runs) and judge, to measure the judge's own noise (default 1; "
                     "runs judged already by the same judge, backend and prompt are not "
                     "judged again)")
    jdg.add_argument("--pairwise", default=None, metavar="NAME", help="instead of rubric "
                     "judges: this pairwise judge compares form A's and form B's runs of each "
                     "input and repetition both finished, shown in an order drawn at random "
                     "per comparison and recorded (needs --forms)")
    jdg.add_argument("--forms", default=None, metavar="A,B", help="with --pairwise: the two "
                     "forms to compare; the win rate is A's over B")
    jdg.add_argument("--seed", type=int, default=None, help="with --pairwise: draw the orders "
                     "from this seed, so a pass can be drawn again (default: at random; each "
                     "order is recorded either way)")
    jdg.add_argument("--otlp", metavar="URL", default=None, help="send each judgement, as it "
                     "is stored, to this OpenTelemetry receiver over OTLP/HTTP, in its run's "
                     "trace as a gen_ai.evaluation.result event (a pairwise one: in both runs' "
                     "traces) (default: $ORCHLAB_OTLP_ENDPOINT, else no export; the judge's "
                     "explanation and messages only with ORCHLAB_OTLP_CONTENT=1)")
    lab = sub.add_parser("label", parents=[common], help="label a stored run yourself for one "
                         "of its scenario's judges: what the judge's agreement is measured "
                         "against (`summary` shows it)")
    lab.add_argument("run_id", metavar="RUN_ID", help="run id (a unique prefix is enough: "
                     "`judge` prints the first 20 characters)")
    lab.add_argument("--rubric", required=True, metavar="NAME", help="the judge whose question "
                     "you answer, e.g. email_quality (`judge --rubric` names the same)")
    lab.add_argument("--score", required=True, metavar="S", help="your verdict as that judge "
                     "scores: a whole number on its scale (e.g. 1 to 5), or pass or fail for a "
                     "pass/fail judge")
    lab.add_argument("--who", required=True, metavar="NAME", help="your name, stored with the "
                     "label (at most 80 characters)")
    lab.add_argument("--note", default=None, metavar="TEXT", help="why, in your words (secrets "
                     "are redacted)")
    lab.add_argument("--replace", action="store_true", help="replace your earlier label of "
                     "this run for this judge (without it, a second one is refused)")
    cps = sub.add_parser("copy-store", help="copy every experiment (runs, spans, model calls, "
                         "outbox, judgements, labels) and prompt variant from one store to "
                         "another, e.g. a SQLite file into a team's PostgreSQL store; ones "
                         "already there are skipped")
    cps.add_argument("source", metavar="SRC", help="store to copy from: a SQLite file or a "
                     "postgresql:// URL")
    cps.add_argument("target", metavar="DST", help="store to copy into (created or migrated "
                     "as needed)")
    otx = sub.add_parser("otel-export", parents=[common], help="send one experiment's stored "
                         "runs to an OpenTelemetry receiver over OTLP/HTTP, one trace per run, "
                         "with their stored judgements in their runs' traces")
    otx.add_argument("experiment_id", help="experiment id (a unique prefix is enough)")
    otx.add_argument("--endpoint", metavar="URL", default=None, help="receiver, e.g. "
                     "http://127.0.0.1:6006 (a bare server URL gets /v1/traces; default: "
                     "$ORCHLAB_OTLP_ENDPOINT; message text only with ORCHLAB_OTLP_CONTENT=1)")
    return parser


def _judging_options(parser: argparse.ArgumentParser, resuming: bool = False) -> None:
    """--judge, --rubric and --judge-repeat: the same for `run` and `resume`."""
    also = (" (and each run the experiment finished before, not yet judged by it)"
            if resuming else "")
    parser.add_argument("--judge", metavar="BACKEND", dest="judge_backend", default=None,
                        help="judge each run as it finishes with the scenario's rubric judges "
                        f"on this backend, after the run is stored{also} (its time, tokens "
                        "and cost are the run's alone; `orchlab judge` does the same on stored "
                        "runs); with --otlp or ORCHLAB_OTLP_ENDPOINT, each verdict goes to the "
                        "run's trace as it is stored")
    parser.add_argument("--rubric", action="append", metavar="NAME", default=None,
                        help="with --judge: judge to run (repeatable; default: each of the "
                        "scenario's judges)")
    parser.add_argument("--judge-repeat", type=int, default=1, metavar="K", help="with "
                        "--judge: judgements per run and judge, to measure the judge's own "
                        "noise (default 1)")
