"""Rubric judges on stored runs: for each finished run of an experiment, the judge's prompt
built from exactly what it `sees`, its agent run on a backend inside a trace of its own, and
the verdict stored as a `Judgement`.

Why a trace of its own: the recorder then keeps the judge's generation spans apart from the
run's, so its tokens, time and cost land on the judgement and never on the run (whose rows
judging does not touch). Why a prompt version: an edited judge prompt must not mix its scores
with the old prompt's, so the digest of everything that shapes the prompt is part of a
judgement's key, and a changed prompt judges every run again. A reply that is not the verdict
asked for is a judgement with status error (`judge_malformed`), never an exception and never
the run's failure.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import time
from collections.abc import Callable, Collection, Mapping, Sequence
from concurrent.futures import Executor
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from typing import TYPE_CHECKING, Any, TypeVar

from orchlab.backends import Backend
from orchlab.core import config
from orchlab.core.backend_ids import is_replay_id
from orchlab.core.errors import (
    RETRY_COUNTER,
    AgentDefError,
    ScenarioError,
    SpecError,
    StoreError,
    classify_judge,
)
from orchlab.core.records import Judgement, SpanRecord, utcnow
from orchlab.measure import pricing
from orchlab.measure.calls import CURRENT as CURRENT_CALLS
from orchlab.measure.recorder import install_recorder
from orchlab.scenario import PairwiseJudge, RubricJudge, Scenario, get_scenario
from orchlab.scenario.agentdefs import AgentDef, build_agents, load_judge_agents
from orchlab.store.store import Store

if TYPE_CHECKING:
    from pydantic import BaseModel

__all__ = ["CONCURRENCY", "JUDGE_TIMEOUT_S", "Hold", "JudgeCall", "ReadJudge", "RunToJudge",
           "Stored",
           "ajudge_runs",
           "ask_judge", "check_judges", "check_repeat_and_backend", "judge_definition",
           "judge_prompt", "judge_runs", "prompt_version", "read_judge", "reply_type",
           "run_part", "runs_to_judge"]

T = TypeVar("T")

PROMPT_FORMAT = 2
"""The layout `judge_prompt` writes, part of every prompt version: changing the layout makes
a new version, as editing the judge's file does."""
JUDGE_TIMEOUT_S = 300.0
"""Longest one judgement may take (the embedded model on two cores is slow): past it, the
judgement is a judge_error."""
JUDGE_MAX_TURNS = 1
"""A judge calls no tool: one model turn gives its verdict."""
MAX_REPEAT = 100
"""Most judgements of one run by one judge a pass may ask for."""
CONCURRENCY = 4
"""Judgements in flight at once on a backend with no bound of its own."""


@dataclass(frozen=True)
class ReadJudge:
    """A rubric judge with its agent file read once (`read_judge`): every judgement of a pass
    asks the same prompt, so an edit of the file while runs are judged as they finish
    (`run --judge`) never mixes two prompt versions in one experiment's pass."""

    judge: RubricJudge
    """The scenario's declaration of the judge."""
    definition: AgentDef
    """Its agent file, as read."""
    version: str
    """The prompt version of that file and declaration (`prompt_version`)."""


def read_judge(scenario: Scenario, name: str) -> ReadJudge:
    """The named rubric judge of the scenario with its file read, or one sentence (an unknown
    judge, a file missing)."""
    judge = scenario.judge(name)
    if not isinstance(judge, RubricJudge):
        raise ScenarioError(f"Judge {name!r} of {scenario.name} is a pairwise judge: judge "
                            "it with --pairwise and two forms.")
    definition = judge_definition(scenario, judge)
    return ReadJudge(judge, definition, prompt_version(judge, definition))


@dataclass(frozen=True)
class RunToJudge:
    """What a judge may be shown of one stored run (`judge_prompt` picks the parts it sees)."""

    run_id: str
    """The run."""
    input_label: str
    """The input's label."""
    input_data: dict[str, Any]
    """The input's data, its ground-truth keys left out."""
    ground_truth: dict[str, Any]
    """The input's ground-truth keys (`Scenario.ground_truth`)."""
    final_output: str | None
    """What the flow returned."""
    outbox: list[dict[str, Any]]
    """Emails the run sent to the sandbox."""
    tool_results: list[tuple[str, str | None, str | None]]
    """(tool, arguments, result) of each call of the scenario's own tools that returned."""


@cache
def reply_type(scale: tuple[int, int] | None) -> type[BaseModel]:
    """The structured reply a judge must give: an explanation, then a whole number on the
    judge's scale or a pass/fail verdict (the SDK's `output_type`; a reply that does not fit
    is malformed). The explanation comes first so a model gives its reason before its
    verdict. The score is an enum of the scale's values, not a bare integer: a provider's
    structured output and the embedded model's grammar then cannot produce a score off the
    scale (SmolLM2 answered 10 on a 1-5 scale when any integer was allowed), and enum is in
    the schema subset every structured-output provider accepts."""
    from typing import Literal

    from pydantic import create_model

    if scale is None:
        return create_model("PassVerdict", __doc__="Pass or fail, with its reason.",
                            explanation=(str, ...), passed=(bool, ...))
    values = tuple(range(scale[0], scale[1] + 1))
    return create_model("ScoreVerdict", __doc__="A score on the judge's scale, with its reason.",
                        explanation=(str, ...),
                        score=(Literal.__getitem__(values), ...))  # type: ignore[arg-type]


def prompt_version(judge: RubricJudge, definition: AgentDef) -> str:
    """12 hex digits of a digest of everything that shapes what the judge is asked: its
    file's instructions and model settings, its question, scale and what it sees, and the
    prompt layout."""
    shaped = {"format": PROMPT_FORMAT, "instructions": definition.instructions,
              "model_settings": definition.model_settings, "question": judge.question,
              "scale": list(judge.scale) if judge.scale else None, "sees": list(judge.sees)}
    text = json.dumps(shaped, sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:12]


def judge_prompt(judge: RubricJudge, run: RunToJudge) -> str:
    """The judge's input: its question and scale, then each part of the run it sees, in the
    order of `sees`, and nothing else."""
    scale = ("Answer pass or fail." if judge.scale is None else
             f"Answer with a whole number from {judge.scale[0]} (worst) to {judge.scale[1]} "
             "(best).")
    parts = [f"Question: {judge.question.strip()}\n{scale}"]
    for part in judge.sees:
        parts.append(run_part(part, run))
    return "\n\n".join(parts)


def _input_part(run: RunToJudge) -> str:
    data = json.dumps(run.input_data, ensure_ascii=False, indent=1, default=str)
    return f"## Input ({run.input_label})\n{data}"


def _final_output_part(run: RunToJudge) -> str:
    text = run.final_output if run.final_output else "(the run returned no output)"
    return f"## Final output\n{text}"


def _outbox_part(run: RunToJudge) -> str:
    if not run.outbox:
        return "## Emails sent\n(the run sent no email)"
    emails = [f"Email {i + 1}\nTo: {m['to']}\nSubject: {m['subject']}\n\n{m['body']}"
              for i, m in enumerate(run.outbox)]
    return f"## Emails sent ({len(emails)})\n" + "\n\n".join(emails)


def _tool_results_part(run: RunToJudge) -> str:
    if not run.tool_results:
        return "## Tool results\n(no tool returned a result in this run)"
    calls = [f"{name}({args or ''}) returned:\n{result or ''}"
             for name, args, result in run.tool_results]
    return "## Tool results\n" + "\n\n".join(calls)


def _ground_truth_part(run: RunToJudge) -> str:
    truth = json.dumps(run.ground_truth, ensure_ascii=False, indent=1, default=str)
    return f"## Ground truth\n{truth}"


_PARTS = {"input": _input_part, "final_output": _final_output_part, "outbox": _outbox_part,
          "tool_results": _tool_results_part, "ground_truth": _ground_truth_part}


def run_part(part: str, run: RunToJudge) -> str:
    """One part of a run (one of SEES) as a judge's prompt shows it, under its heading: the
    one rendering rubric and pairwise judges share."""
    return _PARTS[part](run)


def judge_runs(store: Store, experiment_id: str, judge_name: str, backend: Backend,
               repeat: int = 1, *, timeout_s: float = JUDGE_TIMEOUT_S,
               read: ReadJudge | None = None, on_stored: Stored | None = None
               ) -> list[Judgement]:
    """`ajudge_runs` on an event loop of its own: for a command line or a script."""
    return asyncio.run(ajudge_runs(store, experiment_id, judge_name, backend, repeat,
                                   timeout_s=timeout_s, read=read, on_stored=on_stored))


Hold = Callable[[], Sequence[asyncio.Semaphore]]
"""The bounds a judgement holds while it asks its model, beside its own (`ajudge_runs`)."""
Stored = Callable[[Judgement], None]
"""Told of each judgement once it is stored (e.g. an OpenTelemetry export's `add_judgement`);
it must not raise."""


async def ajudge_runs(store: Store, experiment_id: str, judge_name: str, backend: Backend,
                      repeat: int = 1, *, timeout_s: float = JUDGE_TIMEOUT_S,
                      run_ids: Collection[str] | None = None, hold: Hold | None = None,
                      offload: Executor | None = None, read: ReadJudge | None = None,
                      on_stored: Stored | None = None
                      ) -> list[Judgement]:
    """Judge every finished (status ok) run of the experiment `repeat` times with the named
    judge on `backend`, skipping each (run, repetition) already stored for this judge,
    backend and prompt version; returns the new judgements, each stored as it finishes.

    Everything that can be refused is checked before a model is asked (an unknown experiment
    or judge, a replay backend, a repeat out of range, a judge file missing, ground truth an
    input lacks): one sentence, nothing stored.

    For judging while an experiment runs (`RunJudging`): `run_ids` only those runs;
    `hold()` the bounds each judgement holds while it asks its model (the slots runs on the
    same backend take, so a judge on the embedded model queues with the runs instead of
    running inside their timing); `offload` the thread the store is read and written on, so
    no store access blocks the event loop that times runs; `read` the judge as read once for
    the whole pass (`read_judge`), instead of reading its file here. `on_stored` is told of
    each new judgement after its commit (one already stored is not new)."""
    check_repeat_and_backend(repeat, backend.id)

    async def io(fn: Callable[..., T], *args: Any) -> T:
        if offload is None:
            return fn(*args)
        return await asyncio.get_running_loop().run_in_executor(offload, fn, *args)

    exp = await io(store.get_experiment, experiment_id)
    if exp is None or exp.experiment_id != experiment_id:
        raise StoreError(f"The store {store.shown} holds no experiment {experiment_id!r}.")
    scenario = get_scenario(exp.scenario)
    if read is None or read.judge.name != judge_name:
        read = read_judge(scenario, judge_name)
    judge, definition, version = read.judge, read.definition, read.version
    runs = await io(runs_to_judge, store, scenario, judge, experiment_id, exp.spec, run_ids)
    done = await io(store.judged_keys, experiment_id)
    todo = [(run, k) for run in runs for k in range(repeat)
            if (run.run_id, judge.name, backend.id, version, k) not in done]
    bound = asyncio.Semaphore(backend.max_concurrency or CONCURRENCY)

    async def one(run: RunToJudge, k: int) -> Judgement | None:
        async with contextlib.AsyncExitStack() as held:
            for slot in hold() if hold is not None else ():
                await held.enter_async_context(slot)
            await held.enter_async_context(bound)
            judgement = await _judge_one(judge, definition, backend, run, experiment_id,
                                         version, k, timeout_s)
        if not await io(store.save_judgement, judgement):
            return None
        if on_stored is not None:
            on_stored(judgement)
        return judgement

    made = await asyncio.gather(*(one(run, k) for run, k in todo))
    return [j for j in made if j is not None]


def judge_definition(scenario: Scenario, judge: RubricJudge | PairwiseJudge) -> AgentDef:
    """The judge's agent file as shipped, or one sentence naming what is missing."""
    judges = load_judge_agents(scenario.name, scenario.agents_home)
    if judge.agent not in judges:
        raise AgentDefError(f"Judge {judge.name!r} of {scenario.name} names agent "
                            f"{judge.agent!r}, which is no judge's file (front matter "
                            f"`judge: true`) in {scenario.agents_home / scenario.name}.")
    return judges[judge.agent]


def check_repeat_and_backend(repeat: int, backend_id: str) -> None:
    """The refusals that need neither a store nor a scenario: a repeat out of range, a replay
    backend (which serves only the calls an experiment recorded), each one sentence."""
    if not 1 <= repeat <= MAX_REPEAT:
        raise SpecError(f"--repeat must be 1 to {MAX_REPEAT}; got {repeat}.")
    if is_replay_id(backend_id):
        raise SpecError(f"A judge needs a live model; {backend_id} only serves the calls an "
                        "experiment recorded.")


def check_judges(scenario: Scenario, names: Sequence[str] | None, backend_id: str,
                 repeat: int, input_rows: Sequence[Mapping[str, Any]] | None = None
                 ) -> list[ReadJudge]:
    """The judges a run-time judging pass will ask (`names`, or each of the scenario's), with
    everything that could refuse them refused first, one sentence each, so that `run --judge`
    stores nothing it cannot judge: a repeat out of range, a replay backend, a scenario with no
    judges, an unknown judge, a judge file missing, and ground truth one of `input_rows` (the
    inputs the experiment will run) lacks for a judge that reads it."""
    check_repeat_and_backend(repeat, backend_id)
    if not scenario.rubric_judges:
        raise SpecError(f"Scenario {scenario.name} declares no rubric judges.")
    judges = [read_judge(scenario, name)
              for name in names or [j.name for j in scenario.rubric_judges]]
    own = {i.id: i.data for i in scenario.inputs}
    for judge in (read.judge for read in judges):
        if "ground_truth" not in judge.sees:
            continue
        for row in input_rows or []:
            input_id = str(row.get("id"))
            data = {**own.get(input_id, {}), **dict(row.get("data") or {})}
            lacking = [k for k in scenario.ground_truth if k not in data]
            if lacking:
                raise ScenarioError(f"Judge {judge.name!r} reads the ground truth, but input "
                                    f"{input_id!r} has no {lacking[0]!r}.")
    return judges


def runs_to_judge(store: Store, scenario: Scenario, judge: RubricJudge | PairwiseJudge,
                  experiment_id: str, spec: Mapping[str, Any],
                  run_ids: Collection[str] | None = None) -> list[RunToJudge]:
    """The experiment's finished (status ok) runs as a judge may see them, in the order they
    started. Each run's input is the row the experiment stored (what it really ran); ground
    truth a stored row lacks (an experiment stored before the scenario named it) comes from
    the scenario's own input of that id, and an input with none is refused in one sentence."""
    frame = store.load_runs([experiment_id])
    if not frame.empty:
        frame = frame[frame["status"] == "ok"]
        if run_ids is not None:
            frame = frame[frame["run_id"].isin(list(run_ids))]
    rows = {str(r.get("id")): r for r in spec.get("input_rows") or [] if isinstance(r, dict)}
    own = {i.id: i for i in scenario.inputs}
    tools = set(scenario.tools())
    wanted = set(judge.sees)
    runs: list[RunToJudge] = []
    for run in frame.itertuples(index=False):
        input_id = str(run.input_id)
        row = rows.get(input_id)
        if row is not None:
            label, data = str(row.get("label") or input_id), dict(row.get("data") or {})
        elif input_id in own:
            label, data = own[input_id].label, dict(own[input_id].data)
        else:
            raise ScenarioError(f"{experiment_id} ran input {input_id!r}, which neither the "
                                f"experiment nor scenario {scenario.name} holds.")
        truth = {k: data.pop(k) for k in scenario.ground_truth if k in data}
        if "ground_truth" in wanted:
            for key in scenario.ground_truth:
                if key not in truth and input_id in own and key in own[input_id].data:
                    truth[key] = own[input_id].data[key]
            lacking = [k for k in scenario.ground_truth if k not in truth]
            if lacking:
                raise ScenarioError(f"Judge {judge.name!r} reads the ground truth, but input "
                                    f"{input_id!r} of {experiment_id} has no {lacking[0]!r}.")
        spans = store.load_spans(run.run_id) if "tool_results" in wanted else []
        outbox = store.load_outbox(run.run_id) if "outbox" in wanted else []
        runs.append(RunToJudge(
            run_id=run.run_id, input_label=label, input_data=data, ground_truth=truth,
            final_output=run.final_output, outbox=outbox,
            tool_results=[(s.name, s.input, s.output) for s in spans
                          if s.kind == "function" and s.name in tools and s.error is None]))
    return runs


def _judgement(judge: RubricJudge, backend: Backend, run: RunToJudge, experiment_id: str,
               version: str, k: int, judgement_id: str) -> Judgement:
    return Judgement(judgement_id=judgement_id, run_id=run.run_id,
                     experiment_id=experiment_id, judge=judge.name, backend=backend.id,
                     model=backend.model_name, prompt_version=version, repetition=k)


async def _judge_one(judge: RubricJudge, definition: AgentDef, backend: Backend,
                     run: RunToJudge, experiment_id: str, version: str, k: int,
                     timeout_s: float) -> Judgement:
    """One judgement inside its own trace; never raises for the judge's failure: a failed
    judgement is data."""
    from agents.tracing import gen_trace_id

    judgement = _judgement(judge, backend, run, experiment_id, version, k, gen_trace_id())
    call = await ask_judge(definition, backend, reply_type(judge.scale),
                           judge_prompt(judge, run), trace_id=judgement.judgement_id,
                           trace_name=f"orchlab:judge:{judge.name}",
                           group_id=experiment_id, timeout_s=timeout_s,
                           metadata={"experiment_id": experiment_id, "run_id": run.run_id,
                                     "judge": judge.name})
    judgement.created_at, judgement.latency_ms, judgement.spans = (
        call.created_at, call.latency_ms, call.spans)
    judgement.input_tokens, judgement.output_tokens, judgement.cost_usd = (
        call.input_tokens, call.output_tokens, call.cost_usd)
    error = call.error
    if error is None:
        error = _verdict(judgement, judge, call.reply)
    if error is not None:
        judgement.status, judgement.error_class = "error", classify_judge(error)
        judgement.error_message = config.redact(str(error) or type(error).__name__)[:2000]
    return judgement


@dataclass
class JudgeCall:
    """What one ask of a judge's model gave: its reply or its error, and what it cost."""

    reply: Any
    """The structured reply (the agent's final output); None when the call failed."""
    error: BaseException | None
    """Why the call gave no reply (a provider error, a timeout, a reply that did not parse);
    None when it replied."""
    created_at: datetime
    """When the call started (UTC)."""
    latency_ms: float
    """Its duration, from a monotonic clock."""
    spans: list[SpanRecord]
    """The judge's own spans, from its own trace."""
    input_tokens: int
    """Prompt tokens of its generations."""
    output_tokens: int
    """Completion tokens of its generations."""
    cost_usd: float | None
    """Its cost, priced as a run's; None when a generation's price is unknown."""


async def ask_judge(definition: AgentDef, backend: Backend, output_type: type[BaseModel],
                    prompt: str, *, trace_id: str, trace_name: str, group_id: str,
                    metadata: dict[str, str], timeout_s: float) -> JudgeCall:
    """Run a judge's agent once on `backend` with a structured reply type, inside a trace of
    its own (`trace_id`) watched by the lab's recorder, so its spans, tokens and cost are the
    judge's and never a run's; never raises for the judge's failure (the error is returned).
    Rubric and pairwise judges both ask through here."""
    from agents import Runner, trace

    recorder = install_recorder()
    agent = build_agents({definition.name: definition}, {}, backend)[definition.name].clone(
        output_type=output_type)
    # a judgement is nobody's run: its calls join no run's replay log and its retries no run's
    # count, even when it is asked from inside a run's context
    calls_token, retry_token = CURRENT_CALLS.set(None), RETRY_COUNTER.set(None)
    recorder.watch(trace_id)
    created_at, t0 = utcnow(), time.monotonic()
    reply: Any = None
    error: BaseException | None = None
    try:
        with trace(trace_name, trace_id=trace_id, group_id=group_id, metadata=metadata):
            async with asyncio.timeout(timeout_s):
                reply = (await Runner.run(agent, prompt, max_turns=JUDGE_MAX_TURNS)
                         ).final_output
    except TimeoutError:
        error = TimeoutError(f"the judge exceeded its {timeout_s:g} s timeout")
    except Exception as exc:  # noqa: BLE001 - a failed judgement is a result, recorded below
        error = exc
    finally:
        CURRENT_CALLS.reset(calls_token)
        RETRY_COUNTER.reset(retry_token)
        latency_ms = (time.monotonic() - t0) * 1000
        spans = recorder.collect(trace_id, created_at, utcnow())
    gens = [s for s in spans if s.kind == "generation"]
    return JudgeCall(reply, error, created_at, latency_ms, spans,
                     sum(g.input_tokens for g in gens), sum(g.output_tokens for g in gens),
                     pricing.run_cost(gens, backend.prices_as or backend.id))


def _verdict(judgement: Judgement, judge: RubricJudge, reply: Any) -> BaseException | None:
    """Fill the score, label and explanation from the reply; the error when the reply is no
    verdict on the judge's scale (a malformed reply, classified as such)."""
    from agents.exceptions import ModelBehaviorError

    if not isinstance(reply, reply_type(judge.scale)):
        return ModelBehaviorError(f"the judge replied {type(reply).__name__}, not a verdict")
    if judge.scale is None:
        passed = bool(reply.passed)  # type: ignore[attr-defined]
        judgement.score, judgement.label = (1.0 if passed else 0.0), ("pass" if passed
                                                                       else "fail")
    else:
        score = int(reply.score)  # type: ignore[attr-defined]
        low, high = judge.scale
        if not low <= score <= high:
            return ModelBehaviorError(f"the judge's score {score} is outside its scale "
                                      f"{low}-{high}")
        judgement.score, judgement.label = float(score), str(score)
    judgement.explanation = config.redact(str(reply.explanation))  # type: ignore[attr-defined]
    return None

