"""Every exception of the project, why a run failed in one word the dashboard can group by, and
bounded retries for providers.

Run error classes: rate_limited, server_error, timeout, malformed_output, unknown_tool,
max_turns, tool_budget, invalid_plan, tool_unavailable, cancelled, config, replay_diverged,
other.
`tool_unavailable` and `cancelled` say nothing about the orchestration (the environment or the
user stopped the run), so they never count against a form (`counts_against_form`).

Judge error classes (`JUDGE_ERROR_CLASSES`): judge_malformed, judge_error. They are failures of
a judge reading a stored run, never of the run it read.
"""

from __future__ import annotations

import asyncio
import contextvars
import random
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import TypeVar

from agents.exceptions import AgentsException

ERROR_CLASSES = ("rate_limited", "server_error", "timeout", "malformed_output", "unknown_tool",
                 "max_turns", "tool_budget", "invalid_plan", "tool_unavailable", "cancelled",
                 "config", "replay_diverged", "other")
NOT_THE_FORMS_FAULT = ("tool_unavailable", "cancelled")
"""Error classes caused by the environment or the user: excluded from a form's rates, and
run again by a resume."""
NOT_A_RESULT = (*NOT_THE_FORMS_FAULT, "replay_diverged")
"""Error classes that say nothing about the form. A replay that parted from its recording is
kept (a resume would part the same way) but counts in no rate."""
JUDGE_ERROR_CLASSES = ("judge_malformed", "judge_error")
"""Why a judgement failed (`Judgement.error_class`): the judge's reply did not parse or fell
outside its scale (judge_malformed), or its model call failed (judge_error: a provider error, a
timeout). A failure of the judge, never of the run it judged: the run's record is not touched,
and the judgement counts in no score."""


# -- the project's exceptions ----------------------------------------------------------------

class BackendError(RuntimeError):
    """A backend that cannot start; the message is one sentence saying what to set."""


class SpecError(ValueError):
    """An experiment spec that cannot run; the message names the field."""


class ScenarioError(LookupError):
    """Unknown scenario or input; the message lists what exists."""


class AgentDefError(ValueError):
    """A broken agent file; the message names the file and the field."""


class StoreError(RuntimeError):
    """The store cannot be used; the message says which one and why."""


class WorkerError(RuntimeError):
    """A worker process died or failed; runs it finished are stored, the rest can be resumed."""


class ImportFileError(ValueError):
    """An experiment file that cannot be imported (not JSON, cut short, foreign, newer, or a
    run that does not hold together); the message is one sentence naming the problem, and
    nothing of the file was stored."""


class LabelError(ValueError):
    """A person's label that cannot be stored: an unknown run, a judge the run's scenario does
    not declare, a score off the judge's scale, no name (or one over 80 characters); the
    message is one sentence, and nothing was stored."""


class LabelExists(LabelError):
    """The person has labelled this run for this judge already: the message says so, and the
    caller says how to replace it (the CLI's --replace)."""


class InputsFileError(ValueError):
    """An inputs file (CSV or JSONL) that cannot be used: unreadable, not UTF-8, an unknown
    kind, no rows, or a row that breaks the format; the message is one sentence naming the
    file, and the line and field when there is one. Nothing runs."""


SENTENCE_ERRORS: tuple[type[Exception], ...] = (
    AgentDefError, BackendError, ScenarioError, SpecError, StoreError, WorkerError,
    ImportFileError, InputsFileError, LabelError)
"""The project's exceptions whose message is the whole sentence a user reads: the CLI prints
it after "error:" and a page shows it as it is, never behind the class name."""


def user_sentence(exc: BaseException) -> str:
    """What a user reads of an exception: the sentence of one of SENTENCE_ERRORS, else the
    class name and message (an unexpected error says what it was)."""
    if isinstance(exc, SENTENCE_ERRORS):
        text = str(exc)
        return text[:1].upper() + text[1:]
    return f"{type(exc).__name__}: {exc}"


class RunEndingError(AgentsException):
    """Raised by a tool when the whole run must stop (e.g. a tool budget is spent).

    The SDK hands ordinary tool errors to the model as text; `tool_failure` lets these through,
    also out of agents called as tools. Subclassing AgentsException keeps the class name on the
    record (the SDK wraps other exceptions in UserError).
    """


class ToolBudgetExceeded(RunEndingError):
    """More tool calls than the run's budget allows: a runaway loop is stopped, not hidden."""


class InvalidPlan(RunEndingError):
    """A planner's plan that code refuses to execute (unparseable, or failing its checks): the
    plan-then-execute form stops before it acts, and the record says why."""


class ReplayDiverged(RunEndingError):
    """A replayed run asked for a model call its recording does not hold (a changed prompt,
    code or tool output): the run stops there, nothing is invented."""


class ReplayedFailure(RunEndingError):
    """A model call that failed in the recorded run fails again in its replay, with the
    recorded run's error class."""

    def __init__(self, message: str, error_class: str) -> None:
        super().__init__(message)
        self.error_class = error_class


class ToolUnavailable(RunEndingError):
    """A tool could not run for a reason outside the orchestration (no network, a service
    down): the run ends as `tool_unavailable` instead of letting a model summarize an error."""


BAD_REPLY_CLASSES = ("malformed_output", "unknown_tool")
"""Error classes of the SDK's ModelBehaviorError (`classify`): the model answered, but not
in the shape asked for."""


def is_bad_reply(error: BaseException) -> bool:
    """The model's reply could not be used (ModelBehaviorError), live or replayed: a replay
    raises a recorded failure as ReplayedFailure, so code that reads a bad reply as data (an
    invalid plan, no verdict) must read both, or a replay ends where its recording went on."""
    from agents.exceptions import ModelBehaviorError

    return isinstance(error, ModelBehaviorError) or (
        isinstance(error, ReplayedFailure) and error.error_class in BAD_REPLY_CLASSES)


def first_line(error: BaseException) -> str:
    """The first non-empty line of an error's message without its closing period or colon
    (its class name when it has none): what a one-sentence message quotes of a driver's."""
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    return (lines[0] if lines else type(error).__name__).rstrip(".:")


def count_text(counts: Mapping[str, int]) -> str:
    """'2 max_turns, 1 timeout': most frequent first (ties by name); '' when there are none.
    The one wording of failures by class, for the CLI, findings, History and the Run page."""
    ordered = sorted(counts.items(), key=lambda item: (-item[1], item[0]))
    return ", ".join(f"{n} {kind}" for kind, n in ordered if n)


def classify_judge(error: BaseException) -> str:
    """The judge error class of a judgement that raised: a reply that was not the structured
    verdict asked for is judge_malformed, anything else judge_error."""
    return "judge_malformed" if is_bad_reply(error) else "judge_error"


def counts_against_form(error_class: str | None) -> bool:
    """Whether a run's outcome says something about the form that ran it."""
    return error_class not in NOT_A_RESULT

T = TypeVar("T")


def classify(error: BaseException | None, status: str) -> str | None:
    """The error class of a finished run (None for a run that ended normally)."""
    if status == "ok" or error is None:
        return None
    if status in ("timeout", "cancelled"):
        return status
    return _by_type(error) or "other"


def _by_type(error: BaseException) -> str | None:
    import openai
    from agents.exceptions import MaxTurnsExceeded, ModelBehaviorError

    table: list[tuple[type[BaseException] | tuple[type[BaseException], ...], str]] = [
        (openai.RateLimitError, "rate_limited"),
        (openai.APITimeoutError, "timeout"),
        ((openai.InternalServerError, openai.APIConnectionError), "server_error"),
        ((openai.AuthenticationError, openai.PermissionDeniedError, openai.NotFoundError,
          openai.BadRequestError, BackendError), "config"),
        (MaxTurnsExceeded, "max_turns"),
        (ToolBudgetExceeded, "tool_budget"),
        (InvalidPlan, "invalid_plan"),
        (ToolUnavailable, "tool_unavailable"),
        (TimeoutError, "timeout"),
    ]
    for types, name in table:
        if isinstance(error, types):
            return name
    if isinstance(error, ReplayDiverged):
        return "replay_diverged"
    if isinstance(error, ReplayedFailure):
        return error.error_class
    if isinstance(error, ModelBehaviorError):
        return "unknown_tool" if " not found in agent " in str(error) else "malformed_output"
    if isinstance(error, openai.APIStatusError) and error.status_code >= 500:
        return "server_error"
    cause = error.__cause__ or error.__context__
    return _by_type(cause) if cause is not None and cause is not error else None


@dataclass(frozen=True)
class RetryPolicy:
    """Bounded by attempts and by total time; Retry-After is honoured within those bounds."""

    max_retries: int = 4
    """Retries after the first attempt."""
    base_delay_s: float = 0.5
    """First backoff; doubles each retry, with full jitter."""
    max_delay_s: float = 20.0
    """Cap on one wait."""
    max_total_s: float = 60.0
    """No retry starts once this much time has passed since the first attempt."""


RETRY_COUNTER: contextvars.ContextVar[list[int] | None] = contextvars.ContextVar(
    "orchlab_retry_counter", default=None)
"""The runner sets a one-element list per run; retries anywhere in the run add to it."""


def retryable(error: BaseException) -> bool:
    """429, 5xx and connection failures are worth another attempt; nothing else is."""
    import openai

    if isinstance(error, openai.RateLimitError | openai.APIConnectionError):
        return True
    return isinstance(error, openai.APIStatusError) and error.status_code >= 500


def retry_after_s(error: BaseException) -> float | None:
    """Seconds from a Retry-After header, if the provider sent one."""
    response = getattr(error, "response", None)
    value = response.headers.get("retry-after") if response is not None else None
    try:
        return max(0.0, float(value)) if value is not None else None
    except ValueError:
        return None


async def with_retries(call: Callable[[], Awaitable[T]], policy: RetryPolicy) -> T:
    """Await `call()`, retrying retryable errors with backoff; counts retries for the run."""
    started = time.monotonic()
    for attempt in range(policy.max_retries + 1):
        try:
            return await call()
        except Exception as exc:
            delay = _next_delay(exc, attempt, policy, time.monotonic() - started)
            if delay is None:
                raise
            counter = RETRY_COUNTER.get()
            if counter is not None:
                counter[0] += 1
            await asyncio.sleep(delay)
    raise AssertionError("unreachable: the last attempt returns or raises")


def _next_delay(
    error: Exception, attempt: int, policy: RetryPolicy, elapsed: float
) -> float | None:
    if not retryable(error) or attempt >= policy.max_retries:
        return None
    hinted = retry_after_s(error)
    backoff = random.uniform(0, min(policy.max_delay_s, policy.base_delay_s * 2**attempt))
    delay = min(policy.max_delay_s, hinted if hinted is not None else backoff)
    return None if elapsed + delay > policy.max_total_s else delay

