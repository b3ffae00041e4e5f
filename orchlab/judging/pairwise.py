"""Pairwise judges on stored runs: for each input and repetition where two forms both have a
finished run, the judge reads both and says which is better, or that they tie; the verdict is
stored as a `PairwiseJudgement`.

Why an order drawn per comparison and recorded: a model judging two texts tends to prefer one
position (often the first it reads). Shown in a fixed order, that preference would pass for a
preference between the forms; drawn at random per comparison, it averages out of the win rate
and can itself be measured (`orchlab.stats.pairwise`), because each judgement records which run
it read first. The draw comes from a stored seed (`order_seed`), so it can be made again and
checked. Why the forms are A and B and not "1" and "2": the judge answers by position, and the
answer is translated back through the recorded order before anything is stored.

The judge runs as a rubric judge does (`rubric.ask_judge`): in a trace of its own, its tokens
and cost on its judgement, neither run touched; a reply that is not "1", "2" or "tie" is a
judgement with status error (`judge_malformed`).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cache
from typing import TYPE_CHECKING, Any

from orchlab.backends import Backend
from orchlab.core import config
from orchlab.core.errors import ScenarioError, SpecError, StoreError, classify_judge
from orchlab.core.records import PairwiseJudgement
from orchlab.judging.rubric import (
    CONCURRENCY,
    JUDGE_TIMEOUT_S,
    RunToJudge,
    ask_judge,
    check_repeat_and_backend,
    judge_definition,
    run_part,
    runs_to_judge,
)
from orchlab.scenario import PairwiseJudge, Scenario, get_scenario
from orchlab.scenario.agentdefs import AgentDef
from orchlab.store.store import Store

if TYPE_CHECKING:
    from pydantic import BaseModel

__all__ = ["PROMPT_FORMAT", "RunPair", "ajudge_pairs", "draw_order", "judge_pairs",
           "pairs_to_judge", "pairwise_prompt", "pairwise_reply_type", "pairwise_version"]

PROMPT_FORMAT = 1
"""The layout `pairwise_prompt` writes, part of every pairwise prompt version."""
SHARED_PARTS = ("input", "ground_truth")
"""Parts of a run that are the same for both runs of a pair (the input they answered): shown
once, before the two."""


@dataclass(frozen=True)
class RunPair:
    """Two finished runs of one experiment to compare: form A's and form B's for the same
    backend, input and repetition."""

    a: RunToJudge
    """Form A's run (the first form named)."""
    b: RunToJudge
    """Form B's run."""
    form_a: str
    """Form A's id."""
    form_b: str
    """Form B's id."""
    input_id: str
    """The input both answered."""
    repetition: int
    """The repetition both were."""


@cache
def pairwise_reply_type() -> type[BaseModel]:
    """The structured reply a pairwise judge must give: an explanation, then "1", "2" or
    "tie" (the SDK's `output_type`; any other reply is malformed). The explanation comes
    first so a model gives its reason before its verdict."""
    from typing import Literal

    from pydantic import BaseModel

    class Preference(BaseModel):
        """Which of the two is better, with its reason."""

        explanation: str
        winner: Literal["1", "2", "tie"]

    return Preference


def pairwise_version(judge: PairwiseJudge, definition: AgentDef) -> str:
    """12 hex digits of a digest of everything that shapes what the judge is asked: its file's
    instructions and settings, its question, what it sees, what the two are called, and the
    prompt layout."""
    shaped = {"kind": "pairwise", "format": PROMPT_FORMAT,
              "instructions": definition.instructions,
              "model_settings": definition.model_settings, "question": judge.question,
              "sees": list(judge.sees), "shown_as": judge.shown_as}
    text = json.dumps(shaped, sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:12]


def draw_order(order_seed: int) -> str:
    """Which run is shown first ("a" or "b"), drawn from `order_seed`: a digest's lowest bit,
    so the same seed gives the same order on any machine and Python."""
    digest = hashlib.sha256(str(order_seed).encode("ascii")).digest()
    return "a" if digest[-1] & 1 == 0 else "b"


def _order_seed(seed: int | None, pair: RunPair, judge: str, k: int) -> int:
    """A judgement's order seed: random (62 bits) by default; with a pass's `seed`, derived
    from it and the judgement's key, so a whole pass's orders can be drawn again."""
    if seed is None:
        return secrets.randbits(62)
    key = f"{seed}:{pair.a.run_id}:{pair.b.run_id}:{judge}:{k}"
    return int.from_bytes(hashlib.sha256(key.encode("utf-8")).digest()[:8], "big") >> 2


def pairwise_prompt(judge: PairwiseJudge, first: RunToJudge, second: RunToJudge) -> str:
    """The judge's input: its question and how to answer, the parts both runs share (the input,
    the ground truth) once, then each run's own parts under "<shown_as> 1" and "<shown_as> 2",
    in the order drawn, and nothing else."""
    name = judge.shown_as.strip()
    parts = [f"Question: {judge.question.strip()}\nAnswer 1 if {name} 1 is better, 2 if "
             f"{name} 2 is better, or tie if neither is."]
    parts += [run_part(part, first) for part in judge.sees if part in SHARED_PARTS]
    for number, run in ((1, first), (2, second)):
        own = [_own_part(part, run) for part in judge.sees if part not in SHARED_PARTS]
        parts.append(f"# {name} {number}\n" + "\n\n".join(own))
    return "\n\n".join(parts)


def _own_part(part: str, run: RunToJudge) -> str:
    """One run's own part; its outbox without numbering, which would clash with the two
    runs' numbers."""
    if part != "outbox":
        return run_part(part, run)
    if not run.outbox:
        return "## Sent\n(the run sent no email)"
    sent = [f"To: {m['to']}\nSubject: {m['subject']}\n\n{m['body']}" for m in run.outbox]
    return f"## Sent ({len(sent)} email{'s' * (len(sent) != 1)})\n" + "\n\n---\n\n".join(sent)


def judge_pairs(store: Store, experiment_id: str, judge_name: str, forms: Sequence[str],
                backend: Backend, repeat: int = 1, *, seed: int | None = None,
                timeout_s: float = JUDGE_TIMEOUT_S,
                on_stored: Callable[[PairwiseJudgement], None] | None = None
                ) -> list[PairwiseJudgement]:
    """`ajudge_pairs` on an event loop of its own: for a command line or a script."""
    return asyncio.run(ajudge_pairs(store, experiment_id, judge_name, forms, backend, repeat,
                                    seed=seed, timeout_s=timeout_s, on_stored=on_stored))


async def ajudge_pairs(store: Store, experiment_id: str, judge_name: str,
                       forms: Sequence[str], backend: Backend, repeat: int = 1, *,
                       seed: int | None = None, timeout_s: float = JUDGE_TIMEOUT_S,
                       on_stored: Callable[[PairwiseJudgement], None] | None = None
                       ) -> list[PairwiseJudgement]:
    """Compare form A's and form B's finished runs (`forms` = [A, B]) for each backend, input
    and repetition both have, `repeat` times each, with the named pairwise judge on `backend`,
    skipping each (pair, k) already stored for this judge, backend and prompt version; returns
    the new judgements, each stored as it finishes. `seed` makes the pass's orders
    reproducible (None: each drawn at random; either way each is recorded). `on_stored` is
    told of each new judgement after its commit (it must not raise: e.g. an OpenTelemetry
    export's `add_judgement`).

    Everything refusable is refused before a model is asked, one sentence each: an unknown
    experiment or pairwise judge, forms not two of the experiment's, a form with no finished
    run, no input and repetition both forms finished, a repeat out of range, a replay
    backend, a judge file missing."""
    check_repeat_and_backend(repeat, backend.id)
    exp = store.get_experiment(experiment_id)
    if exp is None or exp.experiment_id != experiment_id:
        raise StoreError(f"The store {store.shown} holds no experiment {experiment_id!r}.")
    scenario = get_scenario(exp.scenario)
    judge = scenario.pairwise_judge(judge_name)
    definition = judge_definition(scenario, judge)
    version = pairwise_version(judge, definition)
    pairs = pairs_to_judge(store, scenario, judge, experiment_id, exp.spec, forms)
    done = store.pairwise_keys(experiment_id)
    todo = [(pair, k) for pair in pairs for k in range(repeat)
            if (pair.a.run_id, pair.b.run_id, judge.name, backend.id, version, k) not in done]
    bound = asyncio.Semaphore(backend.max_concurrency or CONCURRENCY)

    async def one(pair: RunPair, k: int) -> PairwiseJudgement | None:
        async with bound:
            judged = await _compare(judge, definition, backend, pair, experiment_id, version,
                                    k, _order_seed(seed, pair, judge.name, k), timeout_s)
        if not store.save_pairwise(judged):
            return None
        if on_stored is not None:
            on_stored(judged)
        return judged

    made = await asyncio.gather(*(one(pair, k) for pair, k in todo))
    return [p for p in made if p is not None]


def pairs_to_judge(store: Store, scenario: Scenario, judge: PairwiseJudge, experiment_id: str,
                   spec: dict[str, Any], forms: Sequence[str]) -> list[RunPair]:
    """The experiment's pairs of finished (status ok) runs of forms A and B that share a
    backend, an input and a repetition, in the order A's runs started; a refusal in one
    sentence when the forms are not two of the experiment's or one has nothing to compare."""
    if len(forms) != 2 or forms[0] == forms[1]:
        raise SpecError(f"--forms names two different forms, A,B; got {','.join(forms)!r}.")
    ran = [str(f) for f in spec.get("forms") or []]
    for form in forms:
        if form not in ran:
            raise SpecError(f"{experiment_id} did not run form {form!r}; it ran "
                            f"{', '.join(ran) or 'no forms'}.")
    runs = store.load_runs([experiment_id])
    ok = runs[runs["status"] == "ok"] if not runs.empty else runs
    keyed: dict[str, dict[tuple[str, str, int], str]] = {form: {} for form in forms}
    for run in ok.itertuples(index=False):
        if run.form in keyed:
            keyed[str(run.form)][(str(run.backend), str(run.input_id), int(run.repetition))] = \
                str(run.run_id)
    for form in forms:
        if not keyed[form]:
            raise SpecError(f"Form {form!r} has no finished (ok) run in {experiment_id}: "
                            "there is nothing of it to compare.")
    shared = [key for key in keyed[forms[0]] if key in keyed[forms[1]]]
    if not shared:
        raise SpecError(f"No input and repetition of {experiment_id} has a finished run of "
                        f"both {forms[0]} and {forms[1]}.")
    wanted = {keyed[form][key] for key in shared for form in forms}
    seen = {r.run_id: r for r in runs_to_judge(store, scenario, judge, experiment_id, spec,
                                               wanted)}
    if len(seen) != len(wanted):  # only a run deleted between the two reads
        raise ScenarioError(f"Runs of {experiment_id} went while they were read for "
                            f"{judge.name}.")
    return [RunPair(seen[keyed[forms[0]][key]], seen[keyed[forms[1]][key]], forms[0],
                    forms[1], key[1], key[2]) for key in shared]


async def _compare(judge: PairwiseJudge, definition: AgentDef, backend: Backend,
                   pair: RunPair, experiment_id: str, version: str, k: int, order_seed: int,
                   timeout_s: float) -> PairwiseJudgement:
    """One comparison inside its own trace, in the order its seed draws; never raises for the
    judge's failure: a failed judgement is data."""
    from agents.exceptions import ModelBehaviorError
    from agents.tracing import gen_trace_id

    shown_first = draw_order(order_seed)
    first, second = (pair.a, pair.b) if shown_first == "a" else (pair.b, pair.a)
    judged = PairwiseJudgement(
        pairwise_id=gen_trace_id(), experiment_id=experiment_id, run_a=pair.a.run_id,
        run_b=pair.b.run_id, form_a=pair.form_a, form_b=pair.form_b, input_id=pair.input_id,
        repetition=pair.repetition, judge=judge.name, backend=backend.id,
        model=backend.model_name, prompt_version=version, k=k, order_seed=order_seed,
        shown_first=shown_first)
    call = await ask_judge(definition, backend, pairwise_reply_type(),
                           pairwise_prompt(judge, first, second),
                           trace_id=judged.pairwise_id,
                           trace_name=f"orchlab:pairwise:{judge.name}", group_id=experiment_id,
                           metadata={"experiment_id": experiment_id, "run_a": pair.a.run_id,
                                     "run_b": pair.b.run_id, "judge": judge.name},
                           timeout_s=timeout_s)
    judged.created_at, judged.latency_ms, judged.spans = (call.created_at, call.latency_ms,
                                                          call.spans)
    judged.input_tokens, judged.output_tokens, judged.cost_usd = (
        call.input_tokens, call.output_tokens, call.cost_usd)
    error = call.error
    reply = call.reply
    if error is None and not isinstance(reply, pairwise_reply_type()):
        error = ModelBehaviorError(f"the judge replied {type(reply).__name__}, not a verdict")
    if error is not None:
        judged.status, judged.error_class = "error", classify_judge(error)
        judged.error_message = config.redact(str(error) or type(error).__name__)[:2000]
        return judged
    said = str(reply.winner)
    other = "b" if shown_first == "a" else "a"
    judged.winner = {"1": shown_first, "2": other}.get(said, "tie")
    judged.explanation = config.redact(str(reply.explanation))
    return judged
