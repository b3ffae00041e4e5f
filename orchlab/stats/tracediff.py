"""Two runs' traces side by side: their steps aligned, and where they first part ways.

A run's steps are its agent, handoff and function spans in start order. An agent called as a
tool (a function span whose task holds the agent's span) is one step, the function's, as the
path signature counts it; an agent that takes over through a handoff stays its own step after
the handoff (it is where that agent's time and tokens are). Each generation's tokens count
toward exactly one step: the nearest step above it. So an agent's tokens are its own model
calls only: a sub-agent called as a tool is its function's step, and its tokens are that step's.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable
from dataclasses import dataclass

import pandas as pd

from orchlab.core.records import SpanRecord
from orchlab.measure.paths import STEP_KINDS

OPS = ("equal", "replace", "insert", "delete")
"""What a row of an alignment says: the same step in both, different steps, a step only run
B took (insert), a step only run A took (delete)."""


@dataclass(frozen=True)
class Step:
    """One step of a run's trace, for lining two runs up."""

    name: str
    """Agent, tool or handoff name (`from => to`), as the span records it."""
    kind: str
    """agent, function or handoff."""
    start_ms: float
    """Start, in ms after the run started."""
    duration_ms: float
    """end_ms - start_ms of the step's span."""
    tokens: int
    """Input + output tokens of the generations whose nearest step is this one."""


@dataclass(frozen=True)
class AlignedRow:
    """One row of two aligned runs: a step of each, or of one of them."""

    a: Step | None
    """Run A's step (None for an insert)."""
    b: Step | None
    """Run B's step (None for a delete)."""
    op: str
    """One of OPS."""


def steps_of(spans: list[SpanRecord]) -> list[Step]:
    """The run's agent, handoff and function spans as steps, in (start_ms, seq) order; an agent
    called as a tool is folded into its function step (see the module docstring)."""
    by_id = {s.span_id: s for s in spans}

    def parent(span: SpanRecord) -> SpanRecord | None:
        return by_id.get(span.parent_id) if span.parent_id else None

    def folded(span: SpanRecord) -> bool:
        above = parent(span)
        while above is not None and above.kind == "task":
            above = parent(above)
        return span.kind == "agent" and above is not None and above.kind == "function"

    step_ids = {s.span_id for s in spans if s.kind in STEP_KINDS and not folded(s)}
    tokens: dict[str, int] = dict.fromkeys(step_ids, 0)
    for gen in spans:
        if gen.kind != "generation":
            continue
        above = parent(gen)
        while above is not None and above.span_id not in step_ids:
            above = parent(above)
        if above is not None:
            tokens[above.span_id] += gen.input_tokens + gen.output_tokens
    chosen = sorted((s for s in spans if s.span_id in step_ids), key=lambda s: (s.start_ms, s.seq))
    return [Step(s.name, s.kind, s.start_ms, s.end_ms - s.start_ms, tokens[s.span_id])
            for s in chosen]


def align(a: list[Step], b: list[Step]) -> tuple[list[AlignedRow], int | None]:
    """Line up two runs' steps by name (difflib.SequenceMatcher, autojunk off): the rows, and
    the index of the first row that is not "equal" (None when both took the same steps). In a
    replaced stretch of unequal length, steps pair up in order and the rest are deletes
    (only in A) or inserts (only in B)."""
    matcher = difflib.SequenceMatcher(None, [s.name for s in a], [s.name for s in b],
                                      autojunk=False)
    rows: list[AlignedRow] = []
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        left, right = a[i1:i2], b[j1:j2]
        if tag == "equal":
            rows.extend(AlignedRow(x, y, "equal") for x, y in zip(left, right, strict=True))
            continue
        paired = min(len(left), len(right))
        rows.extend(AlignedRow(x, y, "replace")
                    for x, y in zip(left[:paired], right[:paired], strict=True))
        rows.extend(AlignedRow(x, None, "delete") for x in left[paired:])
        rows.extend(AlignedRow(None, y, "insert") for y in right[paired:])
    first = next((i for i, row in enumerate(rows) if row.op != "equal"), None)
    return rows, first


ALIGNED_COLUMNS = ["step A", "ms A", "tokens A", "step B", "ms B", "tokens B", "op"]


def aligned_frame(rows: list[AlignedRow]) -> pd.DataFrame:
    """The alignment for display: ALIGNED_COLUMNS, a step as `kind: name`, durations rounded to
    0.1 ms; a side without a step is empty (None)."""
    def side(step: Step | None) -> list[object]:
        if step is None:
            return [None, None, None]
        return [f"{step.kind}: {step.name}", round(step.duration_ms, 1), step.tokens]

    frame = pd.DataFrame([[*side(r.a), *side(r.b), r.op] for r in rows], columns=ALIGNED_COLUMNS)
    return frame.astype({"ms A": "float64", "ms B": "float64", "tokens A": "Int64",
                         "tokens B": "Int64"})


def divergence_text(rows: list[AlignedRow], first: int | None, label_a: str = "A",
                    label_b: str = "B", quote: Callable[[str], str] = lambda n: f"`{n}`") -> str:
    """Where two runs first part ways, in words (or that they took the same steps). `quote`
    writes a step's name: a page passes one that keeps a hostile name from being markdown."""
    if first is None:
        return f"{label_a} and {label_b} took the same {len(rows)} steps in the same order."
    row = rows[first]
    what_a = f"ran {quote(row.a.name)}" if row.a else "has no step here"
    what_b = f"ran {quote(row.b.name)}" if row.b else "has no step here"
    return (f"First divergence at row {first + 1} of {len(rows)} ({row.op}): {label_a} "
            f"{what_a}, {label_b} {what_b}.")


def default_partner(runs: pd.DataFrame, run_id: str) -> str | None:
    """The run to compare `run_id` with by default: the same input in another form (the first
    such in the frame's order), else another repetition of the same form and input, else any
    other run; None when the frame holds no other run."""
    this = runs[runs["run_id"] == run_id]
    others = runs[runs["run_id"] != run_id]
    if this.empty or others.empty:
        return None if others.empty else str(others["run_id"].iloc[0])
    form, input_id = this["form"].iloc[0], this["input_id"].iloc[0]
    same_input = others[others["input_id"] == input_id]
    for candidates in (same_input[same_input["form"] != form],
                       same_input[same_input["form"] == form], others):
        if not candidates.empty:
            return str(candidates["run_id"].iloc[0])
    return None
