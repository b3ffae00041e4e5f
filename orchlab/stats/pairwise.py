"""A pairwise judge's verdicts as figures: the win rate of form A over form B, with a 95%
interval, and the judge's position bias (how often whichever run it read first won), with its
interval and a sentence when the bias is shown. docs/STATISTICS.md ("Pairwise judges") says what
each estimates and how the interval was checked by simulation (tests/test_pairwise.py).

The unit is the comparison: a pair of runs (form A's and form B's for one input and
repetition). A pair judged K times (`orchlab judge --repeat K`) counts once, at the mean of its
K verdicts (A won 1, a tie 1/2, B won 0), so repeating a judgement narrows nothing it should
not: the judge's K answers about one pair are not K pairs.

Why Wilson's score interval on the pair means and not Student's t: every pair mean lies in [0,
1], and a value in [0, 1] with mean p has a variance of at most p(1 - p), a 0/1 outcome's. A
score interval built on that variance so holds with ties and with K > 1 (where it errs wide),
and unlike t it does not shrink to a point when every comparison went one way, which with a
handful of pairs and a clear preference is common. Why continuity-corrected
(`estimates.corrected_rate_interval`): with K = 1 and no ties the pair values are 0/1, and
plain Wilson's exact coverage then dips to 91-92% at some small n (92.2% at 21 pairs and a
fair judge); corrected, it stays at or above 95% for 5 to 100 pairs. tests/test_pairwise.py
checks the 0/1 case exactly and worlds with a known preference, ties, position bias and K by
simulation (coverage at least 93% in each).

Pure functions over the frame `Store.load_pairwise` returns: no I/O.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import pandas as pd

from orchlab.stats.analysis import MIN_RUNS_FOR_CI
from orchlab.stats.estimates import corrected_rate_interval
from orchlab.stats.findings import label
from orchlab.stats.quality import latest_prompt_version

__all__ = ["LEVEL", "PairwiseResult", "Share", "pair_means", "pairwise_lines",
           "pairwise_result", "position_sentence", "share", "summarize_pairwise",
           "win_sentence"]

LEVEL = 0.95
"""Every interval here is 95%."""
VALUE = {"a": 1.0, "tie": 0.5, "b": 0.0}
"""A verdict as form A's score: won, tied, lost."""


@dataclass(frozen=True)
class Share:
    """A share over comparisons (each pair's mean over its judgements), with Wilson's
    continuity-corrected 95% interval on the pair means."""

    value: float
    """The mean over pairs."""
    low: float | None
    """The interval's lower end; None below MIN_RUNS_FOR_CI pairs."""
    high: float | None
    """The interval's upper end; None with `low`."""
    n: int
    """Pairs: the n of the interval."""

    @property
    def shown(self) -> bool:
        """Whether the interval excludes one half: a preference (or a bias) is stated only
        then."""
        return self.low is not None and self.high is not None and not (
            self.low <= 0.5 <= self.high)


@dataclass(frozen=True)
class PairwiseResult:
    """One pairwise judge (name, backend, prompt version) on one pair of forms."""

    judge: str
    """The judge's name."""
    backend: str
    """The backend it ran on."""
    prompt_version: str
    """Its prompt version (the latest on that backend)."""
    form_a: str
    """Form A, the first form named."""
    form_b: str
    """Form B."""
    judgements: int
    """Usable judgements (status ok with a winner)."""
    failed: int
    """Judgements of this judge, version and forms that failed (judge_malformed, judge_error):
    in no figure."""
    k_min: int
    """Fewest usable judgements of one pair."""
    k_max: int
    """Most usable judgements of one pair."""
    wins_a: int
    """Judgements A won."""
    wins_b: int
    """Judgements B won."""
    ties: int
    """Judgements that were ties."""
    win_rate: Share
    """A's win rate over B, ties counted as half."""
    first_won: Share
    """The share of comparisons the run shown first won (ties as half): 0.5 without a
    position bias."""


def share(values: np.ndarray, level: float = LEVEL) -> Share:
    """The mean of per-pair values in [0, 1] with Wilson's continuity-corrected interval on
    them (None below MIN_RUNS_FOR_CI pairs): the one interval the win rate and the position
    bias use."""
    n = len(values)
    mean = float(values.mean()) if n else float("nan")
    bounds = (corrected_rate_interval(float(values.sum()), n, level) if n >= MIN_RUNS_FOR_CI
              else None)
    if bounds is None:
        return Share(mean, None, None, n)
    return Share(mean, bounds[0], bounds[1], n)


def pair_means(judged: pd.DataFrame) -> pd.DataFrame:
    """One row per pair of runs (run_a, run_b) from usable judgements: k (its judgements),
    win (the mean of A's scores: 1 won, 1/2 tie, 0 lost) and first (the mean of the
    first-shown run's scores)."""
    if judged.empty:
        return pd.DataFrame(columns=["run_a", "run_b", "k", "win", "first"])
    win = judged["winner"].map(VALUE).astype(float)
    first = np.where(judged["shown_first"] == "a", win, 1.0 - win)
    scored = judged.assign(win=win, first=first)
    out = scored.groupby(["run_a", "run_b"], sort=False).agg(
        k=("win", "size"), win=("win", "mean"), first=("first", "mean"))
    return out.reset_index()


def pairwise_result(frame: pd.DataFrame, judge: str, backend: str, form_a: str, form_b: str,
                    prompt_version: str | None = None, level: float = LEVEL
                    ) -> PairwiseResult | None:
    """The win rate and position bias of one judge (its latest prompt version on `backend`
    unless named) over its comparisons of form_a against form_b; None when none is usable."""
    version = prompt_version or latest_prompt_version(frame, judge, backend)
    mine = frame[(frame["judge"] == judge) & (frame["backend"] == backend)
                 & (frame["prompt_version"] == version) & (frame["form_a"] == form_a)
                 & (frame["form_b"] == form_b)]
    usable = mine[(mine["status"] == "ok") & mine["winner"].isin(list(VALUE))]
    if usable.empty:
        return None
    pairs = pair_means(usable)
    k = pairs["k"].to_numpy(int)
    counts = usable["winner"].value_counts()
    return PairwiseResult(
        judge=judge, backend=backend, prompt_version=str(version), form_a=form_a,
        form_b=form_b, judgements=len(usable), failed=len(mine) - len(usable),
        k_min=int(k.min()), k_max=int(k.max()), wins_a=int(counts.get("a", 0)),
        wins_b=int(counts.get("b", 0)), ties=int(counts.get("tie", 0)),
        win_rate=share(pairs["win"].to_numpy(float), level),
        first_won=share(pairs["first"].to_numpy(float), level))


def summarize_pairwise(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """Per pairwise judge (name and backend, its latest prompt version there) and pair of
    forms it compared, JSON-ready: the counts, the win rate and the position bias with their
    intervals and sentences. What `orchlab summary` adds under "pairwise"."""
    if frame.empty:
        return []
    out: list[dict[str, Any]] = []
    keys = sorted(set(zip(frame["judge"], frame["backend"], frame["form_a"], frame["form_b"],
                          strict=True)))
    for judge, backend, form_a, form_b in keys:
        found = pairwise_result(frame, judge, backend, form_a, form_b)
        if found is None:
            continue
        out.append({**asdict(found), "win_rate": _share_dict(found.win_rate),
                    "first_won": _share_dict(found.first_won),
                    "sentence": win_sentence(found),
                    "position_sentence": position_sentence(found)})
    return out


def _share_dict(s: Share) -> dict[str, Any]:
    return {**asdict(s), "shown": s.shown}


def _pct(value: float) -> str:
    return f"{value:.0%}"


def _interval(s: Share) -> str:
    """'64% [55%, 72%]', or '64%' without an interval."""
    if s.low is None or s.high is None:
        return _pct(s.value)
    return f"{_pct(s.value)} [{_pct(s.low)}, {_pct(s.high)}]"


def _too_few(s: Share) -> str:
    return f"Too few comparisons for an interval ({s.n}; {MIN_RUNS_FOR_CI} needed)"


def win_sentence(r: PairwiseResult) -> str:
    """A's win rate over B in words: the estimate and its interval over n comparisons, how a
    tie and a repeated judgement count, and a preference stated only when the interval
    excludes one half."""
    a, b = label(r.form_a), label(r.form_b)
    ks = f"{r.k_min}" if r.k_min == r.k_max else f"{r.k_min}-{r.k_max}"
    how = (f"each comparison the mean of {ks} judgement{'s' if r.k_max > 1 else ''}; "
           f"{r.wins_a} won by {r.form_a}, {r.wins_b} by {r.form_b}, {r.ties} ties counted as "
           "half" + (f"; {r.failed} failed judgements left out" if r.failed else ""))
    said = (f"{a} won {_interval(r.win_rate)} of {r.win_rate.n} comparisons with {b} on "
            f"{r.judge} ({how})")
    if r.win_rate.low is None:
        return f"{_too_few(r.win_rate)}: {said}."
    if r.win_rate.shown:
        better = a if r.win_rate.value > 0.5 else b
        return f"{better[:1].upper()}{better[1:]} is preferred: {said}."
    return f"No preference shown between {a} and {b}: {said}."


def position_sentence(r: PairwiseResult) -> str:
    """The judge's position bias in words: which position it favours when its interval
    excludes one half, else that none is shown."""
    s = r.first_won
    said = f"the first shown won {_interval(s)} of {s.n} comparisons"
    if s.low is None:
        return f"{_too_few(s)} on {r.judge}'s position bias: {said}."
    if s.shown:
        if s.value > 0.5:
            return f"{r.judge} prefers whichever it reads first: {said}."
        return f"{r.judge} prefers whichever it reads second: {said}."
    return (f"No position bias shown for {r.judge}: {said} (the order was drawn at random "
            "for each).")


def pairwise_lines(items: list[dict[str, Any]]) -> list[str]:
    """Each pairwise judge's win rate and position bias as text, under a heading; none
    without pairwise judgements."""
    if not items:
        return []
    lines = ["Pairwise judges (win rate with ties as half, each pair of runs once; the order "
             "shown drawn at random per comparison):"]
    for item in items:
        lines.append(f"  {item['judge']} on {item['backend']} (prompt {item['prompt_version']})"
                     f", {item['form_a']} vs {item['form_b']}:")
        lines.append(f"    {item['sentence']}")
        lines.append(f"    {item['position_sentence']}")
    return lines
