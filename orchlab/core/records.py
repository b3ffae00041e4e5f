"""Records that flow from a run to the store: spans, runs, experiments, outbox messages, the
judgements judges make of stored runs (one run, or two forms' runs compared), and the labels
people give them."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

RUN_STATUSES = ("ok", "error", "timeout", "cancelled")
JUDGEMENT_STATUSES = ("ok", "error")


def utcnow() -> datetime:
    """Timezone-aware UTC now: every stored timestamp goes through here."""
    return datetime.now(UTC)


def new_experiment_id() -> str:
    """Sortable and short: exp-YYYYmmdd-HHMMSS-xxxxxxxx (a taken one is drawn again)."""
    return f"exp-{utcnow():%Y%m%d-%H%M%S}-{uuid.uuid4().hex[:8]}"


def new_label_id() -> str:
    """label-<32 hex>: random, so labels given on two machines never share an id."""
    return f"label-{uuid.uuid4().hex}"


@dataclass
class SpanRecord:
    """One span of a run's trace, flattened for storage and analysis."""

    span_id: str
    """The SDK's span id, unique within the trace."""
    parent_id: str | None
    """Parent span id; None for spans at the top of the run."""
    kind: str
    """SDK span type: agent, task, turn, function, generation, response, custom, handoff, ..."""
    name: str
    """Agent name, tool name, custom span name, or the model for a generation."""
    agent: str | None
    """Nearest enclosing agent (the agent itself for agent spans): used to attribute calls."""
    start_ms: float
    """Start, in ms after the run started."""
    end_ms: float
    """End, in ms after the run started (the run's end for spans that never finished)."""
    model: str | None = None
    """Model name, for generation spans."""
    input_tokens: int = 0
    """Prompt tokens of a generation (cached tokens included)."""
    output_tokens: int = 0
    """Completion tokens of a generation (reasoning tokens included)."""
    cached_tokens: int = 0
    """Prompt tokens served from the provider's cache."""
    reasoning_tokens: int = 0
    """Completion tokens spent on reasoning."""
    input: str | None = None
    """What went in (tool arguments, model input), truncated for storage."""
    output: str | None = None
    """What came out (tool result, model output), truncated for storage."""
    error: str | None = None
    """Error message recorded on the span, if any."""
    queued_ms: float = 0.0
    """For a generation: how long it waited for a busy model before it ran (from start_ms)."""
    seq: int = 0
    """Position in start order within the run."""


@dataclass
class OutboxMessage:
    """An email the sandboxed send_email tool accepted instead of sending it."""

    to: str
    """Recipient address."""
    subject: str
    """Subject line."""
    body: str
    """Plain-text body."""
    created_at: datetime = field(default_factory=utcnow)
    """When the tool was called (UTC)."""


@dataclass
class ModelCall:
    """One model call of a run, kept whole (never clipped) so a replay can serve it again."""

    agent: str
    """Agent whose model answered."""
    seq: int
    """Position among this agent's calls in the run, from 0, in the order they were asked."""
    request_hash: str
    """Digest of what the agent asked (instructions, input items, tools, output type): a replay
    serves this answer only to the same request."""
    output: list[dict[str, Any]] = field(default_factory=list)
    """The model's output items as Responses items (text, tool calls with their arguments,
    handoffs), JSON-ready."""
    usage: dict[str, Any] = field(default_factory=dict)
    """input_tokens, output_tokens, cached_tokens, reasoning_tokens, requests."""
    latency_ms: float = 0.0
    """The call's own time on a monotonic clock, its wait for a busy model apart (retries of a
    failed attempt included: they are part of what the call cost)."""
    error: str | None = None
    """For a call that raised: the run's error class and message, so a replay ends the run the
    same way; None for an answer."""


@dataclass
class RunMetrics:
    """A run's figures: computed once (`orchlab.measure.metrics.run_metrics`), stored one column
    each.

    Adding a figure means one field here and one migration; the store's columns, exports and
    frames derive from these fields.
    """

    wall_ms: float = 0.0
    """Duration from a monotonic clock."""
    queued_ms: float = 0.0
    """Time the run's model calls waited for a busy model (the embedded model serves one
    request at a time): part of wall_ms, but not model time."""
    retries: int = 0
    """Provider calls retried after 429/5xx/connection errors during the run."""
    llm_calls: int = 0
    """Number of generation spans (failed attempts included)."""
    tool_calls: int = 0
    """Number of function spans (agents called as tools included)."""
    input_tokens: int = 0
    """Sum over generation spans (cached tokens included)."""
    output_tokens: int = 0
    """Sum over generation spans (reasoning tokens included)."""
    cached_tokens: int = 0
    """Sum over generation spans."""
    reasoning_tokens: int = 0
    """Sum over generation spans."""
    cost_usd: float | None = 0.0
    """Sum of generation costs; None when any generation's price is unknown."""
    price_source: str = ""
    """Who priced the run: genai-prices and its provider, a user price, local $0, or
    "unknown price"."""
    path: str = ""
    """Execution-path signature for display, e.g. 'a > {b|c} > d'."""
    path_steps: list[Any] = field(default_factory=list)
    """The same path as structured steps (`orchlab.measure.paths.path_steps`): what figures read."""
    per_agent: dict[str, dict[str, Any]] = field(default_factory=dict)
    """Per agent: llm_calls, input_tokens, output_tokens, queued_ms, cost_usd (None if
    unknown)."""


@dataclass
class RunRecord:
    """Everything measured about one execution of one form on one input."""

    run_id: str
    """Unique id of this run (also the trace id)."""
    experiment_id: str
    """Experiment this run belongs to."""
    scenario: str
    """Scenario name, e.g. sales_email."""
    form: str
    """Orchestration form, e.g. code or llm."""
    input_id: str
    """Which scenario input was used."""
    repetition: int
    """Repetition index, from 0."""
    backend: str
    """Backend id, e.g. openai:gpt-4.1-mini or local:smollm2-135m."""
    model: str
    """Model name the backend reported."""
    started_at: datetime
    """Wall-clock start (UTC)."""
    metrics: RunMetrics = field(default_factory=RunMetrics)
    """The run's figures."""
    status: str = "ok"
    """ok, error, timeout or cancelled."""
    error_type: str | None = None
    """Exception class name for a failed run."""
    error_message: str | None = None
    """Exception message for a failed run (secrets redacted)."""
    error_class: str | None = None
    """One of orchlab.core.errors.ERROR_CLASSES for a failed run."""
    success: bool | None = None
    """The scenario's rule held (the outcome's `success`); None when the run ended for a reason
    that says nothing about the form (orchlab.core.errors.NOT_A_RESULT)."""
    final_output: str | None = None
    """What the flow returned (e.g. the email that was sent)."""
    outcome: dict[str, Any] = field(default_factory=dict)
    """Scenario outcome fields, computed without an LLM."""
    spans: list[SpanRecord] = field(default_factory=list)
    """The run's spans in start order."""
    outbox: list[OutboxMessage] = field(default_factory=list)
    """Emails the run 'sent' into the sandbox."""
    calls: list[ModelCall] = field(default_factory=list)
    """Every model call, whole, in the order asked: what `replay:` serves."""


@dataclass
class ExperimentRecord:
    """An experiment: its spec and how far it got."""

    experiment_id: str
    """Unique id."""
    scenario: str
    """Scenario name."""
    backend: str
    """Backend id used for every run."""
    created_at: datetime
    """When it started (UTC)."""
    spec: dict[str, Any]
    """The ExperimentSpec as a dict."""
    planned_runs: int
    """How many runs the spec asks for."""
    status: str = "running"
    """running, completed, cancelled or interrupted."""
    pid: int | None = None
    """Process running it, so a crashed experiment can be told from a live one."""
    host: str | None = None
    """Machine running it: a pid says something only on its own host."""
    heartbeat_at: datetime | None = None
    """Last sign of life of the process running it (UTC): a reader on another host judges a
    running experiment by it."""
    finished_at: datetime | None = None
    """When it stopped (UTC)."""
    records_calls: bool = True
    """Its runs store their model calls whole, so it can be replayed (False for experiments
    stored before calls were recorded)."""
    replay_of: str | None = None
    """The experiment whose recorded calls this one replayed; None for a live experiment."""
    participant: str | None = None
    """Who started it in a workshop (`orchlab.core.workshop`): the name their browser session
    gave; None outside a workshop."""


@dataclass
class Judgement:
    """One judge's verdict on one stored run: its own record, never part of the run's.

    A run is judged after it is stored, so the judge's tokens, time and cost are here and in
    `spans`, and never in the run's figures. (run, judge, backend, prompt_version, repetition)
    is stored at most once.
    """

    judgement_id: str
    """Unique id of this judgement (also the trace id of the judge's spans)."""
    run_id: str
    """The run judged."""
    experiment_id: str
    """The experiment of the run judged."""
    judge: str
    """The judge's name in its scenario (`RubricJudge.name`), e.g. email_quality."""
    backend: str
    """Resolved id of the backend the judge ran on, e.g. openai:gpt-4.1-mini."""
    model: str
    """Model name that backend reported."""
    prompt_version: str
    """Short digest of the judge's prompt text, settings, question, scale and what it sees:
    an edited prompt is a new version, judged again rather than mixed with the old one."""
    repetition: int
    """Which of the K judgements of this run by this judge, backend and version (from 0): the
    spread across them is the judge's own noise."""
    score: float | None = None
    """The verdict as a number: the scale's value, or 1.0 (pass) / 0.0 (fail); None when the
    judgement failed."""
    label: str | None = None
    """The verdict as text: "pass" or "fail", or the score as written ("4"); None when the
    judgement failed."""
    explanation: str | None = None
    """The judge's reason, secrets redacted."""
    status: str = "ok"
    """ok, or error when the judge gave no usable verdict."""
    error_class: str | None = None
    """None, or one of orchlab.core.errors.JUDGE_ERROR_CLASSES: a failure of the judge,
    never of the run."""
    error_message: str | None = None
    """What went wrong, for a failed judgement (secrets redacted)."""
    input_tokens: int = 0
    """Prompt tokens of the judge's generations."""
    output_tokens: int = 0
    """Completion tokens of the judge's generations."""
    cost_usd: float | None = 0.0
    """The judge's cost, priced as runs are; None when a generation's price is unknown."""
    latency_ms: float = 0.0
    """The judgement's duration, from a monotonic clock."""
    created_at: datetime = field(default_factory=utcnow)
    """When the judgement started (UTC)."""
    spans: list[SpanRecord] = field(default_factory=list)
    """The judge's own spans, in start order (times from the judgement's start)."""


@dataclass
class Label:
    """A person's verdict on one stored run for one judge: what the judge is measured against.

    Kept apart from the run, as a judgement is. A person labels a run once per judge ((run,
    judge, who) is stored at most once); several people may label the same run, and the
    agreement figures use their mean (`orchlab.stats.agreement`).
    """

    label_id: str
    """Unique id of this label."""
    run_id: str
    """The run labelled."""
    experiment_id: str
    """The experiment of the run labelled."""
    judge: str
    """The judge whose question the person answered (`RubricJudge.name`), e.g. email_quality:
    the label is on that judge's scale, or pass/fail."""
    score: float
    """The person's verdict as the judge scores it: the scale's value, or 1.0 (pass) / 0.0
    (fail)."""
    who: str
    """The person who labelled, as they named themselves (trimmed, 1 to 80 characters)."""
    note: str | None = None
    """Why, in the person's words (secrets redacted); None when they gave none."""
    created_at: datetime = field(default_factory=utcnow)
    """When the label was given (UTC)."""


PAIRWISE_WINNERS = ("a", "b", "tie")
"""A pairwise judgement's verdict: the first form named won, the second did, or neither."""
SHOWN_FIRST = ("a", "b")
"""Which of the two runs a pairwise judge read first, as "Email 1"."""


@dataclass
class PairwiseJudgement:
    """One pairwise judge's verdict on two runs of one experiment, one of each of two forms,
    for the same input and repetition: its own record, never part of either run's.

    The order the two were shown in is drawn per judgement from `order_seed` and recorded
    (`shown_first`), so a judge's preference for whichever it reads first is measured, and
    the order can be drawn again. (run_a, run_b, judge, backend, prompt_version, k) is stored
    at most once.
    """

    pairwise_id: str
    """Unique id of this judgement (also the trace id of the judge's spans)."""
    experiment_id: str
    """The experiment both runs belong to."""
    run_a: str
    """The run of form A (the first form named: `orchlab judge --forms A,B`)."""
    run_b: str
    """The run of form B, same input and repetition."""
    form_a: str
    """Form A's id, e.g. code."""
    form_b: str
    """Form B's id, e.g. llm."""
    input_id: str
    """The input both runs answered."""
    repetition: int
    """The runs' repetition index (both runs share it)."""
    judge: str
    """The judge's name in its scenario (`PairwiseJudge.name`), e.g. email_preference."""
    backend: str
    """Resolved id of the backend the judge ran on."""
    model: str
    """Model name that backend reported."""
    prompt_version: str
    """Short digest of the judge's prompt text, settings, question, what it sees and the
    prompt layout: an edited prompt is a new version, judged again."""
    k: int
    """Which of the K judgements of this pair by this judge, backend and version (from 0)."""
    order_seed: int
    """The value the order was drawn from (`orchlab.judging.pairwise.draw_order`): stored so
    the draw can be reproduced and checked against `shown_first`."""
    shown_first: str
    """Which run was shown as "Email 1": "a" or "b"."""
    winner: str | None = None
    """"a", "b" or "tie", translated from the judge's "1" / "2" through `shown_first`; None
    when the judgement failed."""
    explanation: str | None = None
    """The judge's reason, secrets redacted."""
    status: str = "ok"
    """ok, or error when the judge gave no usable verdict."""
    error_class: str | None = None
    """None, or one of orchlab.core.errors.JUDGE_ERROR_CLASSES (judge_malformed,
    judge_error): a failure of the judge, never of either run."""
    error_message: str | None = None
    """What went wrong, for a failed judgement (secrets redacted)."""
    input_tokens: int = 0
    """Prompt tokens of the judge's generations."""
    output_tokens: int = 0
    """Completion tokens of the judge's generations."""
    cost_usd: float | None = 0.0
    """The judge's cost, priced as runs are; None when a generation's price is unknown."""
    latency_ms: float = 0.0
    """The judgement's duration, from a monotonic clock."""
    created_at: datetime = field(default_factory=utcnow)
    """When the judgement started (UTC)."""
    spans: list[SpanRecord] = field(default_factory=list)
    """The judge's own spans, in start order (times from the judgement's start)."""
