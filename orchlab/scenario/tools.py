"""A run's tools: its state (RunDeps), the one budget counter, and the guards code puts around
an LLM's consequential tools.

Every tool call of a run, whoever makes it (an agent, an agent called as a tool, or code through
`FlowEnv.call_tool`), is charged here once and its output kept in `RunDeps.tool_outputs`, so a
guard or an outcome check reads what the tools returned instead of parsing spans.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from orchlab.core.errors import RunEndingError, ToolBudgetExceeded
from orchlab.core.records import OutboxMessage

if TYPE_CHECKING:
    from agents import Tool

Guard = Callable[["RunDeps", dict[str, Any]], "str | None"]
"""A code contract on one tool: given the run and the call's arguments, why the call is refused,
or None to let it run."""


@dataclass
class RunDeps:
    """Per-run context handed to tools (as the SDK run context): where side effects land."""

    outbox: list[OutboxMessage] = field(default_factory=list)
    """Sandbox for send_email."""
    artifacts: dict[str, Any] = field(default_factory=dict)
    """Anything a flow wants the outcome check to see (e.g. drafts by writer)."""
    tool_budget: int | None = None
    """Most tool calls this run may make; None: unlimited."""
    tool_calls: int = 0
    """Tool calls charged so far."""
    tool_outputs: dict[str, list[str]] = field(default_factory=dict)
    """Tool name -> what each of its calls returned, in order (agents called as tools too)."""
    guarded_tools: list[str] = field(default_factory=list)
    """Tools the form put behind guards in this run (FlowEnv.guarded)."""
    guard_refusals: list[dict[str, str]] = field(default_factory=list)
    """Calls a guard refused: {"tool", "reason"}, in order."""
    guard_lock: asyncio.Lock = field(default_factory=asyncio.Lock, repr=False)
    """Guarded calls of one run check and run one at a time: the SDK runs a turn's tool calls
    concurrently, and three sends in one turn must not all pass "nothing sent yet"."""


def charge_tool_call(deps: RunDeps, tool: str) -> None:
    """Count one tool call against the run's budget: the one counter, for every tool call
    (agents called as tools included, as in the run's tool_calls), whoever orchestrates."""
    deps.tool_calls += 1
    if deps.tool_budget is not None and deps.tool_calls > deps.tool_budget:
        raise ToolBudgetExceeded(
            f"tool budget exceeded: call {deps.tool_calls} ({tool}) is over this run's budget "
            f"of {deps.tool_budget} tool calls")


def record_output(deps: RunDeps, tool: str, output: Any) -> None:
    """Keep what a tool call returned, for guards and outcome checks."""
    deps.tool_outputs.setdefault(tool, []).append(str(output))


def tool_failure(ctx: Any, error: Exception) -> str:
    """Tool failure handler: run-ending errors propagate, anything else goes to the model."""
    from agents import default_tool_error_function

    if isinstance(error, RunEndingError):
        raise error
    return default_tool_error_function(ctx, error)


def budgeted(tool: Tool) -> Tool:
    """The same tool, charging each call to the run's tool budget before it runs and keeping
    its output after."""
    from agents import FunctionTool

    if not isinstance(tool, FunctionTool):
        return tool
    inner = tool.on_invoke_tool

    async def invoke(ctx: Any, arguments: str) -> Any:
        deps = ctx.context if isinstance(ctx.context, RunDeps) else None
        if deps is not None:
            charge_tool_call(deps, tool.name)
        result = await inner(ctx, arguments)
        if deps is not None:
            record_output(deps, tool.name, result)
        return result

    return dataclasses.replace(tool, on_invoke_tool=invoke)


def guard(tool: Tool, check: Guard) -> Tool:
    """The same tool behind a code contract: a refused call never runs; the model gets the
    refusal as the tool's error (as the SDK returns any tool error), the function span is marked
    with it, and the run counts it in `RunDeps.guard_refusals`."""
    from agents import FunctionTool
    from agents.tracing import SpanError, get_current_span

    if not isinstance(tool, FunctionTool):
        raise TypeError(f"only function tools can be guarded, not {tool.name!r}")
    inner = tool.on_invoke_tool

    async def invoke(ctx: Any, arguments: str) -> Any:
        try:
            args = json.loads(arguments or "{}")
        except json.JSONDecodeError:
            args = None  # the tool's own parser reports bad JSON to the model
        deps = ctx.context
        async with deps.guard_lock:
            reason = check(deps, args) if isinstance(args, dict) else None
            if not reason:
                return await inner(ctx, arguments)
        deps.guard_refusals.append({"tool": tool.name, "reason": reason})
        message = f"Refused by a guard in code: {reason}"
        span = get_current_span()
        if span is not None:
            span.set_error(SpanError(message="refused by a guard",
                                     data={"tool": tool.name, "reason": reason}))
        return message

    return dataclasses.replace(tool, on_invoke_tool=invoke)
