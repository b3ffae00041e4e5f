"""Judges a scenario declares: what rules cannot check (is this email good? would this answer
help?), asked of a model reading stored runs. A rubric judge scores one run; a pairwise judge
reads two forms' runs of the same input and repetition and says which is better (or a tie),
which people and models do more reliably than placing one output on an absolute scale.

A judge is data, as a form is: its prompt lives in an agent file in the scenario's
agents folder (front matter `judge: true`, so no form's run builds it, and the Agents page edits
it like any agent), and `sees` names exactly which parts of a run it is shown. Running judges
is `orchlab.judging`'s work; this module only says what a judge is.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from orchlab.core.errors import LabelError, ScenarioError

SEES = ("input", "final_output", "outbox", "tool_results", "ground_truth")
"""The parts of a run a judge may be shown: the input's data (its ground-truth keys left out),
the flow's final output, the emails in the sandbox outbox, the results the scenario's own tools
returned in the run (not agents called as tools), and the input's ground truth (the data keys
`Scenario.ground_truth` names)."""

__all__ = ["SEES", "PairwiseJudge", "RubricJudge"]


def _check_judge(name: str, sees: tuple[str, ...], question: str) -> None:
    """What every judge's declaration must hold, one sentence per fault (ScenarioError)."""
    where = f"Judge {name!r}"
    if not name or not name.replace("_", "").replace("-", "").isalnum():
        raise ScenarioError(f"{where}: a judge's name is letters, digits, _ and -.")
    unknown = [part for part in sees if part not in SEES]
    if not sees or unknown:
        raise ScenarioError(f"{where} must see one or more of {', '.join(SEES)}"
                            + (f", not {unknown[0]!r}." if unknown else "."))
    if not question.strip() or "\n" in question.strip():
        raise ScenarioError(f"{where}: its question is one line of text.")


@dataclass(frozen=True)
class RubricJudge:
    """A judge that answers one question about one run: a score on a scale, or pass/fail."""

    name: str
    """Its name in the scenario, e.g. email_quality: what `orchlab judge --rubric` and the
    stored judgements call it."""
    agent: str
    """The agent file holding its prompt (criteria and how to answer), in the scenario's agents
    folder, with `judge: true` in its front matter."""
    sees: tuple[str, ...]
    """Which parts of a run it is shown, each one of SEES; nothing else reaches it."""
    question: str
    """The one-line question it answers, put at the top of its prompt."""
    scale: tuple[int, int] | None = None
    """(low, high) integer scale, e.g. (1, 5); None: pass/fail."""

    def __post_init__(self) -> None:
        where = f"Judge {self.name!r}"
        _check_judge(self.name, self.sees, self.question)
        if self.scale is not None:
            low, high = self.scale
            if not (isinstance(low, int) and isinstance(high, int) and low < high):
                raise ScenarioError(f"{where}: its scale must be two whole numbers, low < high; "
                                    f"got {self.scale!r}.")

    @property
    def pass_fail(self) -> bool:
        """Whether it answers pass or fail rather than a score."""
        return self.scale is None

    def describe_scale(self) -> str:
        """'1-5' or 'pass/fail', as the CLI and the prompt state it."""
        return "pass/fail" if self.scale is None else f"{self.scale[0]}-{self.scale[1]}"

    def label_score(self, value: float | str) -> float:
        """A person's verdict as this judge scores it, or LabelError in one sentence: on a
        scale, a whole number from low to high (the judge gives whole numbers, so a label
        is on the same points); pass/fail, "pass" or "fail" (or 1 / 0), as 1.0 / 0.0."""
        text = str(value).strip().lower()
        if self.scale is None:
            verdicts = {"pass": 1.0, "fail": 0.0, "1": 1.0, "0": 0.0, "1.0": 1.0, "0.0": 0.0}
            if text not in verdicts:
                raise LabelError(f"{self.name} is pass/fail: a label is pass or fail (or 1 "
                                 f"or 0), not {str(value)!r}.")
            return verdicts[text]
        low, high = self.scale
        try:
            number = float(text)
        except ValueError:
            number = math.nan
        if not (number.is_integer() and low <= number <= high):
            raise LabelError(f"{self.name} scores {low}-{high}: a label is a whole number from "
                             f"{low} to {high}, not {str(value)!r}.")
        return number


@dataclass(frozen=True)
class PairwiseJudge:
    """A judge that reads two runs of the same input and repetition, one of each of two
    forms, and says which answers its question better, or that they tie.

    The two are shown as "Email 1" and "Email 2" in an order drawn per comparison and
    recorded (`orchlab.judging.pairwise`), so a judge that favours whichever it reads first
    is measured rather than mistaken for a preference."""

    name: str
    """Its name in the scenario, e.g. email_preference: what `orchlab judge --pairwise` and
    the stored pairwise judgements call it."""
    agent: str
    """The agent file holding its prompt (what makes one better, how to answer), in the
    scenario's agents folder, with `judge: true` in its front matter."""
    sees: tuple[str, ...]
    """Which parts of each run it is shown, each one of SEES (the input and ground truth
    once, being the same for both runs; the rest once per run)."""
    question: str
    """The one-line question it answers of the two, e.g. "Which email is more likely to get
    a reply?", put at the top of its prompt."""
    shown_as: str = "Email"
    """What the two runs are called in its prompt ("Email 1", "Email 2"): a word its
    question and prompt file use for what it compares."""

    def __post_init__(self) -> None:
        _check_judge(self.name, self.sees, self.question)
        if not self.shown_as.strip().replace(" ", "").isalpha():
            raise ScenarioError(f"Judge {self.name!r}: shown_as is a word, e.g. Email or "
                                f"Answer; got {self.shown_as!r}.")

    def describe_scale(self) -> str:
        """What it answers, as the CLI states it (a rubric judge's scale's counterpart)."""
        return "1, 2 or tie"
