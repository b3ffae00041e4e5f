"""Compare's statistical sentences checked by simulation, with Monte Carlo standard errors.

A hand computation shows that a formula is the formula; only many experiments with a known
truth show that a "95%" interval holds the truth about 95% of the time, that an experiment
without a difference rarely states or hints at one, and that "about N pairs would detect a 20%
difference" is about right. Experiments are drawn by `orchlab.testing.simulate` (forms a and
b, every input run `repetitions` times by both) and read through `summary.summarize_runs`,
the one function Compare, `python -m orchlab summary` and the report call, paired
(`paired=True`, what Compare does by default) and unpaired (`paired=False`).
tests/test_calibration.py runs the same checks with a few hundred experiments as a gate; this
runs more of them and prints each rate with its standard error, sqrt(p(1 - p) / n), so a miss
can be told from noise.

1. Coverage (target >= 93%) of the 95% intervals of latency, tokens, LLM calls and success,
   at 5 pairs (5 inputs x 1), 10 (5 x 2), 30 (10 x 3) and 3 inputs x 10 repetitions, in a
   world with real effects in every figure; and of latency in a heavier-tailed world
   (run-to-run latency sigma 0.8 instead of 0.5) at 5 pairs and 3 x 10.
2. With no true difference: the share of experiments claiming any figure differs (target
   <= 5%, the family-wise rate Holm keeps) and the share with any sentence stating or
   suggesting one (target <= 10%), at 5, 10 and 30 pairs.
3. Power at the displayed N: a pilot of 10 pairs without effect (latency sigma 0.3) says how
   many pairs (paired) or runs per group (unpaired) detect a 20% latency difference; an
   experiment of that size with a true 1.2x latency ratio is drawn and read the same way; it
   should claim the difference in 70-90% of cases (the figure aims at 80%). Pilots asking
   for more than 400 pairs, or 1,000 runs per group unpaired (where a 10-input pilot asks for
   100-1,000), are skipped and counted: skipping the largest N lowers the power measured, so
   the count says how much to trust the row.
4. Coverage (target >= 93%) of form b's pass^3 interval, against the truth
   mean over inputs of chance**3, in three worlds (one near the ceiling).
5. Backends as a factor: form b on backends x and y, the backend comparison (b @ y against
   b @ x, the form held) read as Compare reads runs grouped by backend
   (`analysis.with_group(runs, False, True)`, baseline "b @ x"), in one experiment (a
   repetition's moment shared by both backends) and in two (one per backend, moments apart).
   With no true difference at 10 pairs: the share claiming any figure differs (<= 5%) or
   hinting at one (<= 10%), and the coverage (>= 93%) of the intervals of the difference
   ("none"); with a real one (1.3x latency, 0.8x tokens, +0.5 log-odds success) at 5 inputs
   x 2: the coverage (>= 93%) of the intervals of that difference.

6. Judges (`orchlab.testing.simulate_judges`, the worlds tests/test_quality.py,
   test_agreement.py and test_pairwise.py gate). The quality figure, read through
   `quality.summarize_quality` (what `orchlab summary` and Compare call), groups a and b
   paired by input and repetition: coverage (target >= 93%) of each group's 95% interval and
   of the paired difference's, for a quiet judge scoring once on 1-5 (sigma_j 0.3, K=1), a
   noisy one three times (sigma_j 1.0, K=3, a true difference of 0.4) and a pass/fail judge
   near the ceiling (about 96% pass), 6 inputs x 2 each; with no true difference, the share
   of experiments whose comparison is claimed (target <= 5%), for the noisy K=3 judge and a
   pass/fail one. A judge's agreement with people's labels (`agreement_intervals`, the
   jackknife): coverage of kappa for a weak pass/fail judge (60 runs, true kappa 0.30) and of
   weighted kappa and Spearman for a weak 1-5 judge (10 runs, 0.35). A pairwise judge
   (`pairwise.share`, Wilson with continuity correction): coverage of A's win rate and of the
   first shown's share (position bias) in two worlds (15 pairs judged twice, many ties and a
   strong position bias; 60 pairs judged once).

A coverage row that misses its target says on which side of the intervals the truth fell.

Each cell (a world read one way) draws its own seeded experiments: a given --seed prints the
same rates whatever --processes, and whichever --sections run with it. There are 40 cells
(31 in sections 1-5); summarize_runs costs 0.05-0.1 s, and a power row's pilot and trial (of
up to hundreds of runs) about 1 s. 2000 experiments per cell would take over an hour of CPU,
so the default is 500 per cell (200 pilots per power row): about 20 CPU-minutes (section 5
about a fifth of them), some 15 minutes of wall time on the default 2 processes of an idle
2-core machine (28 with other work running, 2026-12-05). Section 6 adds 9 cells and about
half a CPU-minute: summarize_quality costs about 10 ms an experiment, an agreement or
pairwise experiment under 1 ms. Standard errors are then about 1.0 point for a coverage of
95% and 2.8 for a power of 80%; --experiments 2000 halves them in a run four times as long.
--sections runs some sections only (`--sections 6`: the judges, in under half a minute).

    python bench/stats_calibration.py [--experiments 500] [--seed 1] [--processes 2]
                                      [--sections 1,2,3,4,5,6]
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))  # `python bench/x.py` puts bench/ on sys.path, not the project

EXPERIMENTS = 500
"""Experiments per cell by default (see the module docstring for why not thousands)."""
SECTION_COUNT = 6
"""Sections 1-6 (the module docstring says what each checks)."""
ALL_SECTIONS = ",".join(str(n) for n in range(1, SECTION_COUNT + 1))
"""--sections by default: every section."""
POWER_SHARE = 0.4
"""Pilots per power row, as a share of --experiments: a pilot and its trial of up to hundreds
of pairs cost several times one experiment of the other rows."""


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--experiments", type=int, default=EXPERIMENTS,
                        help="experiments per cell (default %(default)s; power rows draw "
                             f"{POWER_SHARE:.0%}% as many pilots)")
    parser.add_argument("--seed", type=int, default=1, help="seed (default %(default)s)")
    parser.add_argument("--processes", type=int, default=2,
                        help="worker processes (default %(default)s; 1 runs in this one)")
    parser.add_argument("--sections", default=ALL_SECTIONS,
                        help="the sections to run, comma-separated (default %(default)s); a "
                             "cell prints the same rates whichever others run")
    args = parser.parse_args()
    if args.experiments < 1 or args.processes < 1:
        parser.error("--experiments and --processes must be at least 1")
    given = args.sections
    try:
        args.sections = sorted({int(part) for part in given.split(",")})
    except ValueError:
        args.sections = []
    if not args.sections or not set(args.sections) <= set(range(1, SECTION_COUNT + 1)):
        parser.error(f"--sections takes section numbers 1-{SECTION_COUNT}, comma-separated; "
                     f"got {given!r}")
    return args


if __name__ == "__main__":
    ARGS = parse_args()  # --help answers here, before the heavy imports below

import numpy as np  # noqa: E402

from orchlab.stats import analysis, summary  # noqa: E402
from orchlab.stats.pairwise import share  # noqa: E402
from orchlab.stats.quality import summarize_quality  # noqa: E402
from orchlab.testing.simulate import (  # noqa: E402
    FIGURES,
    World,
    claimed,
    covers,
    draw,
    hints,
    metric,
)
from orchlab.testing.simulate_judges import (  # noqa: E402
    AgreementWorld,
    PairwiseWorld,
    QualityWorld,
    agreement_world,
    draw_agreement,
    draw_pairwise,
    draw_quality,
)

EFFECTS = World(latency_ratio=1.3, token_ratio=0.8, calls_diff=1.0, success_shift=0.5)
"""A real difference in every figure: a is 1.3x slower, uses 0.8x the tokens and one more LLM
call, and succeeds more often (+0.5 on the log-odds scale)."""
HEAVY = replace(EFFECTS, latency_sigma=0.8)
"""The same with a heavier right tail in latency, where a few slow runs dominate a mean."""
SIZES: tuple[tuple[str, int, int], ...] = (
    ("5 pairs (5x1)", 5, 1), ("10 pairs (5x2)", 5, 2), ("30 pairs (10x3)", 10, 3),
    ("3 inputs x 10", 3, 10))
"""(label, inputs, repetitions) of the coverage rows."""
COVERED = ("wall_ms", "tokens", "llm_calls", "success")
"""The figures whose coverage is checked (cost is tokens at one price, so is tokens')."""
NULL_PAIRS = (5, 10, 30)
PILOT = World(inputs=10, latency_sigma=0.3)
"""The power rows' pilot: 10 pairs, no difference, a modest run-to-run spread."""
DETECT_RATIO = 1.0 + summary.DETECT
"""The true latency ratio of a power trial: the difference runs_needed says it detects."""
CAP = {True: 400, False: 1000}
"""The largest N (pairs, or runs per group unpaired) a power trial is drawn at."""
PASS_K = 3
PASS_K_WORLDS: tuple[tuple[str, World], ...] = (
    ("6 inputs x 3, b 0.8", World(inputs=6, repetitions=3, success_b=0.8, input_sigma=0.5)),
    ("3 inputs x 5, b 0.95", World(inputs=3, repetitions=5, success_b=0.95)),
    ("10 inputs x 3, b 0.5", World(inputs=10, repetitions=3, success_b=0.5)))
CHUNK = 25
"""Experiments per task handed to a worker: small enough to keep both processes busy."""

Kind = Literal["coverage", "null", "power", "pass_k", "backend_null", "backend", "quality",
               "quality_null", "agreement", "pairwise"]

BACKENDS = ("x", "y")
"""Section 5's backends: x is the reference (the baseline "b @ x"), y has the effects."""
BACKEND_WORLDS: tuple[tuple[str, Kind, World], ...] = (
    ("no effect 10 pairs", "backend_null", World(inputs=10, backends=BACKENDS)),
    ("effects 5 x 2", "backend", World(inputs=5, repetitions=2, backends=BACKENDS,
                                       backend_latency_ratio=1.3, backend_token_ratio=0.8,
                                       backend_success_shift=0.5)))
"""(label, kind, world) of section 5, as tests/test_calibration.py checks them: no difference
between the backends, and a real one (y 1.3x slower, 0.8x the tokens, +0.5 log-odds
success)."""
MOMENTS = ((True, "1 exp"), (False, "2 exps"))
"""Section 5's two designs: one experiment interleaving the backends (moments shared), or one
experiment per backend (moments apart)."""

JudgeWorld = QualityWorld | AgreementWorld | PairwiseWorld
"""Section 6's worlds (`orchlab.testing.simulate_judges`), the ones tests/test_quality.py,
test_agreement.py and test_pairwise.py gate with 400-2,000 experiments."""
QUALITY_WORLDS: tuple[tuple[str, QualityWorld], ...] = (
    ("quiet judge K=1, 6 x 2", QualityWorld(judge_sd=0.3, k=1, inputs=6, repetitions=2)),
    ("noisy K=3, 6 x 2, a +0.4", QualityWorld(judge_sd=1.0, k=3, inputs=6, repetitions=2,
                                              effect=0.4)),
    ("pass/fail K=1, 96% pass", QualityWorld(judge_sd=0.5, k=1, inputs=6, repetitions=2,
                                             center=1.6)))
"""(label, world) of section 6's quality coverage: a quiet judge (sigma_j 0.3) scoring each
run once on 1-5, a noisy one (sigma_j 1.0) three times with a true difference of 0.4, and a
pass/fail judge near the ceiling (a true pass rate of about 96%: Phi(1.6 / sqrt(0.5^2 +
0.5^2 + 0.6^2)), the run's, the judge's and the inputs' spread around a centre of 1.6)."""
QUALITY_NULL: tuple[tuple[str, QualityWorld], ...] = (
    ("no effect, noisy K=3", QualityWorld(judge_sd=1.0, k=3, inputs=6, repetitions=2)),
    ("no effect, pass/fail K=1", QualityWorld(judge_sd=0.5, k=1, inputs=6, repetitions=2,
                                              center=0.8)))
"""(label, world) of section 6's quality rows without a true difference: a 1-5 judge (paired
t) and a pass/fail judge (one verdict per run: McNemar's exact test), 12 pairs each."""
AGREEMENT_WORLDS: tuple[tuple[str, AgreementWorld], ...] = (
    ("p/f 70% right, 60 runs", AgreementWorld(runs=60, right=0.7, prevalence=0.2)),
    ("1-5 guessing 65%, 10 runs", AgreementWorld(runs=10, right=0.35, miss="guessing")))
"""(label, world) of section 6's agreement coverage: a weak pass/fail judge (right 70%, 20%
pass: true kappa 0.30) and a weak 1-5 judge at the fewest runs a verdict is given for
(guessing 65% of the time: weighted kappa and Spearman 0.35)."""
PAIRWISE_WORLDS: tuple[tuple[str, PairwiseWorld], ...] = (
    ("15 pairs K=2, bias 0.5", PairwiseWorld(pairs=15, preference=0.3, ties=0.3, bias=0.5,
                                             k=2)),
    ("60 pairs K=1, bias 0.4", PairwiseWorld(pairs=60, preference=0.65, ties=0.1, bias=0.4)))
"""(label, world) of section 6's pairwise coverage: many ties and a strong position bias,
each pair judged twice; and one verdict per pair at 60 pairs."""


@dataclass(frozen=True)
class Cell:
    """One world read one way, drawn `experiments` times with its own seed."""

    section: int
    label: str
    kind: Kind
    world: World
    paired: bool
    figures: tuple[str, ...] = ()
    judges: JudgeWorld | None = None
    """Section 6: the judged world drawn (`world` is then unused: a default World())."""


@dataclass
class Tally:
    """What a cell's experiments counted (summed over tasks; order does not matter)."""

    counts: Counter[str] = field(default_factory=Counter)
    needed: list[int] = field(default_factory=list)
    """Power rows: the N of each trial drawn."""
    cpu: float = 0.0
    """CPU seconds spent drawing and reading these experiments."""

    def add(self, other: Tally) -> None:
        self.counts.update(other.counts)
        self.needed.extend(other.needed)
        self.cpu += other.cpu


def cells() -> list[Cell]:
    """Every cell, in the order printed; a cell's index is part of its seed."""
    out: list[Cell] = []
    for paired in (True, False):
        for label, inputs, reps in SIZES:
            out.append(Cell(1, label, "coverage", replace(EFFECTS, inputs=inputs,
                                                          repetitions=reps), paired, COVERED))
    for paired in (True, False):
        for label, inputs, reps in (SIZES[0], SIZES[3]):
            out.append(Cell(1, f"{label}, sigma 0.8", "coverage",
                            replace(HEAVY, inputs=inputs, repetitions=reps), paired,
                            ("wall_ms",)))
    for paired in (True, False):
        for pairs in NULL_PAIRS:
            out.append(Cell(2, f"{pairs} pairs, no effect", "null", World(inputs=pairs),
                            paired))
    for paired in (True, False):
        out.append(Cell(3, "pilot 10 pairs, sigma 0.3", "power", PILOT, paired))
    for label, world in PASS_K_WORLDS:
        out.append(Cell(4, label, "pass_k", world, True))
    for label, kind, world in BACKEND_WORLDS:
        for shared, design in MOMENTS:
            for paired in (True, False):
                out.append(Cell(5, f"{label}, {design}", kind,
                                replace(world, backend_moments_shared=shared), paired,
                                COVERED))
    for label, quality in QUALITY_WORLDS:
        out.append(Cell(6, label, "quality", World(), True, QUALITY_FIGURES, quality))
    for label, quality in QUALITY_NULL:
        out.append(Cell(6, label, "quality_null", World(), True, judges=quality))
    for label, agreeing in AGREEMENT_WORLDS:
        names = ("Cohen's kappa",) if agreeing.prevalence is not None else (
            "weighted kappa", "Spearman")
        out.append(Cell(6, label, "agreement", World(), True, names, agreeing))
    for label, pairwise in PAIRWISE_WORLDS:
        out.append(Cell(6, label, "pairwise", World(), True, PAIRWISE_FIGURES, pairwise))
    return out


def comparison(runs: Any, paired: bool) -> dict[str, Any]:
    """The one comparison block (a against b) of these runs, as Compare reads them."""
    [block] = summary.summarize_runs(runs, baseline="b", by="group",
                                     paired=paired)["comparisons"]
    return block


def backend_comparison(runs: Any, paired: bool) -> dict[str, Any]:
    """Form b on backend y against form b on backend x (the form held, the backend varied), as
    Compare reads the runs grouped by backend."""
    grouped = analysis.with_group(runs[runs["form"] == "b"], False, True)
    [block] = summary.summarize_runs(grouped, baseline=f"b @ {BACKENDS[0]}", by="group",
                                     paired=paired)["comparisons"]
    if (block["group"], block["factor"]) != (f"b @ {BACKENDS[1]}", "backend"):
        raise RuntimeError(f"expected the backend comparison, got {block['group']!r} "
                           f"({block['factor']})")
    return block


def simulate(cell: Cell, n: int, rng: np.random.Generator) -> Tally:
    """Draw `n` experiments of the cell's world and count what its check counts."""
    tally = Tally()
    counts = tally.counts
    for _ in range(n):
        if cell.judges is not None:
            _judged(cell, cell.judges, rng, counts)
            continue
        if cell.kind == "power":
            _power(cell, rng, tally)
            continue
        drawn = draw(cell.world, rng)
        if cell.kind == "pass_k":
            result = summary.summarize_runs(drawn.runs, baseline="b", by="group")
            row = next((r for r in result["groups"]["b"]["pass_k"] if r["k"] == PASS_K), None)
            truth = float(np.mean(np.asarray(drawn.chances["b"]) ** PASS_K))
            if row is None or row["pass_hat_k_low"] is None:
                counts["none"] += 1
            else:
                counts["seen"] += 1
                counts["inside"] += row["pass_hat_k_low"] <= truth <= row["pass_hat_k_high"]
                counts["above"] += truth > row["pass_hat_k_high"]
            continue
        backend = cell.kind in ("backend_null", "backend")
        block = (backend_comparison if backend else comparison)(drawn.runs, cell.paired)
        if cell.kind in ("null", "backend_null"):
            counts["seen"] += 1
            counts["claim"] += any(claimed(block, f) for f in FIGURES)
            counts["hint"] += hints(block) > 0
        truths = drawn.backend_truth if backend else drawn.truth
        for name in cell.figures:
            inside = covers(block, name, truths[name])
            if inside is None:
                counts[f"{name} none"] += 1
                continue
            counts[f"{name} seen"] += 1
            counts[f"{name} inside"] += inside
            counts[f"{name} above"] += truths[name] > metric(block, name)["estimate"]["high"]
            counts[f"{name} paired"] += bool(metric(block, name)["estimate"]["paired"])
    return tally


def _power(cell: Cell, rng: np.random.Generator, tally: Tally) -> None:
    """One pilot, and the trial of the size it asks for (unless past the cap)."""
    pilot = draw(cell.world, rng)
    needed = metric(comparison(pilot.runs, cell.paired), "wall_ms").get("runs_needed")
    tally.counts["pilots"] += 1
    if needed is None:
        tally.counts["no figure"] += 1
        return
    if needed > CAP[cell.paired]:
        tally.counts["skipped"] += 1
        return
    trial = draw(replace(cell.world, inputs=needed, repetitions=1,
                         latency_ratio=DETECT_RATIO), rng)
    tally.counts["seen"] += 1
    tally.counts["inside"] += claimed(comparison(trial.runs, cell.paired), "wall_ms")
    tally.needed.append(needed)


QUALITY_FIGURES = ("mean a", "mean b", "a - b")
"""Section 6's quality rows: each group's figure and the paired difference."""
PAIRWISE_FIGURES = ("win rate", "first won")
"""Section 6's pairwise rows: A's win rate and the share won by the run shown first."""
SHORT_NAMES = {"Cohen's kappa": "kappa", "weighted kappa": "w. kappa"}
"""Agreement figures' names as printed (the rows' `what` column is 11 wide)."""


def _judged(cell: Cell, judges: JudgeWorld, rng: np.random.Generator,
            counts: Counter[str]) -> None:
    """One experiment of a section-6 world, read as the summary reads it: the quality
    figures through `summarize_quality` (what `orchlab summary` and Compare call), agreement
    through `agreement_intervals`, a pairwise judge's shares through `pairwise.share`."""
    if isinstance(judges, PairwiseWorld):
        wins, firsts = draw_pairwise(judges, rng)
        for name, values, value in (("win rate", wins, judges.true_win_rate),
                                    ("first won", firsts, judges.true_first_won)):
            found = share(values)
            _count(counts, name, found.low, found.high, value)
        return
    if isinstance(judges, AgreementWorld):
        draw_labels, truths = agreement_world(judges)
        intervals = draw_agreement(draw_labels, truths, judges.runs, rng)
        for name, value in truths.items():
            if intervals is None:  # too few of a verdict: no interval, by design
                counts[f"{name} none"] += 1
                continue
            ends = intervals[name]
            low, high = ends if ends is not None else (None, None)
            _count(counts, name, low, high, value, missing_is_miss=True)
        return
    runs, judgements, truth = draw_quality(judges, rng)
    [item] = summarize_quality(runs, judgements, baseline="b")
    [block] = item["comparisons"]
    if item["pass_fail"] != judges.pass_fail or (block["group"], block["baseline"]) != ("a", "b"):
        raise RuntimeError(f"expected a against b, pass/fail {judges.pass_fail}; got "
                           f"{block['group']} against {block['baseline']}, pass/fail "
                           f"{item['pass_fail']}")
    if cell.kind == "quality_null":
        counts["seen"] += 1
        counts["claim"] += bool(block["claimed"])
        return
    for group in ("a", "b"):
        found = item["groups"][group]
        _count(counts, f"mean {group}", found["low"], found["high"], truth[group])
    _count(counts, "a - b", block["low"], block["high"], truth["diff"])
    counts["a - b paired"] += bool(block["paired"])


def _count(counts: Counter[str], name: str, low: float | None, high: float | None,
           truth: float, missing_is_miss: bool = False) -> None:
    """Whether an interval holds the truth, and on which side it missed; an interval not
    given is counted apart ("none"), or as a miss when the statistic promised one."""
    if low is None or high is None:
        if not missing_is_miss:
            counts[f"{name} none"] += 1
            return
        counts[f"{name} seen"] += 1
        counts[f"{name} not given"] += 1
        return
    counts[f"{name} seen"] += 1
    counts[f"{name} inside"] += low <= truth <= high
    counts[f"{name} above"] += truth > high


Task = tuple[int, Cell, int, int, int]
"""(cell index, cell, chunk index, experiments, seed)."""


def run_task(task: Task) -> tuple[int, Tally]:
    """One chunk of one cell, seeded by (seed, cell, chunk) so the split does not matter."""
    index, cell, chunk, n, seed = task
    start = time.process_time()
    tally = simulate(cell, n, np.random.default_rng([seed, index, chunk]))
    tally.cpu = time.process_time() - start
    return index, tally


def tasks(all_cells: list[Cell], experiments: int, seed: int,
          sections: list[int] | None = None) -> Iterator[Task]:
    """Every cell's chunks (of the sections asked for: each cell keeps its index, so its
    seed), power cells (the slowest tasks) first to balance the workers."""
    power = max(1, round(experiments * POWER_SHARE))
    order = sorted((i for i, c in enumerate(all_cells)
                    if sections is None or c.section in sections),
                   key=lambda i: all_cells[i].kind != "power")
    for index in order:
        cell = all_cells[index]
        total = power if cell.kind == "power" else experiments
        for chunk, start in enumerate(range(0, total, CHUNK)):
            yield index, cell, chunk, min(CHUNK, total - start), seed


# -- the rows ----------------------------------------------------------------------------------

@dataclass(frozen=True)
class Row:
    """One printed rate, its standard error and whether it meets its target."""

    label: str
    reading: str
    what: str
    hits: int
    n: int
    low: float | None
    high: float | None
    note: str = ""

    @property
    def rate(self) -> float:
        return self.hits / self.n if self.n else math.nan

    @property
    def se(self) -> float:
        p = self.rate
        return math.sqrt(p * (1 - p) / self.n) if self.n else math.nan

    @property
    def met(self) -> bool:
        p = self.rate
        return self.n > 0 and (self.low is None or p >= self.low) and (
            self.high is None or p <= self.high)

    @property
    def target(self) -> str:
        if self.low is not None and self.high is not None:
            return f"{self.low:.0%}-{self.high:.0%}"
        return f">= {self.low:.0%}" if self.low is not None else f"<= {self.high:.0%}"

    def line(self) -> str:
        return (f"  {self.label:<26} {self.reading:<8} {self.what:<11} {self.rate:6.1%} "
                f"± {self.se:4.1%}  n={self.n:<4} target {self.target:<7} "
                f"{'PASS' if self.met else 'MISS'}{self.note}")


def rows(cell: Cell, tally: Tally) -> list[Row]:
    """What a cell prints: one row per figure checked (coverage), two (no effect), both
    (backends without a difference) or one (power, pass^k)."""
    counts = tally.counts
    reading = "paired" if cell.paired else "unpaired"
    if cell.kind in ("agreement", "pairwise"):
        reading = "-"  # one sample of runs or pairs: nothing is paired or not
    out: list[Row] = []
    if cell.kind in ("null", "backend_null"):
        out += [Row(cell.label, reading, "any claim", counts["claim"], counts["seen"], None,
                    0.05),
                Row(cell.label, reading, "any hint", counts["hint"], counts["seen"], None,
                    0.10)]
    if cell.kind == "quality_null":
        out.append(Row(cell.label, reading, "claimed", counts["claim"], counts["seen"], None,
                       0.05))
    if cell.kind in ("coverage", "backend_null", "backend", "quality", "agreement",
                     "pairwise"):
        for name in cell.figures:
            seen, paired = counts[f"{name} seen"], counts[f"{name} paired"]
            notes = []
            if counts[f"{name} none"]:
                notes.append(f"no interval in {counts[f'{name} none']}")
            if counts[f"{name} not given"]:
                notes.append(f"no interval, counted a miss, in {counts[f'{name} not given']}")
            comparison_figure = cell.kind in ("coverage", "backend_null", "backend") or (
                name == "a - b")
            if cell.paired and comparison_figure and paired < seen:
                notes.append(f"estimate paired in {paired} of {seen}")
            row = Row(cell.label, reading, SHORT_NAMES.get(name, name),
                      counts[f"{name} inside"], seen, 0.93, None)
            out.append(_noted(row, notes, _sides(counts, f"{name} ")))
    if out:
        return out
    if cell.kind == "power":
        needed = sorted(tally.needed)
        unit = "pairs" if cell.paired else "runs/group"
        spread = (f"N median {needed[len(needed) // 2]}, {needed[0]}-{needed[-1]} {unit}; "
                  if needed else "")
        note = (f"  ({spread}skipped {counts['skipped']} of {counts['pilots']} pilots with N > "
                f"{CAP[cell.paired]}" + (f", {counts['no figure']} with no N"
                                         if counts["no figure"] else "") + ")")
        return [Row(cell.label, reading, "claimed", counts["inside"], counts["seen"], 0.70,
                    0.90, note)]
    row = Row(cell.label, reading, f"pass^{PASS_K} of b", counts["inside"], counts["seen"],
              0.93, None)
    none = [f"no interval in {counts['none']}"] if counts["none"] else []
    return [_noted(row, none, _sides(counts, ""))]


def _noted(row: Row, notes: list[str], sides: str) -> Row:
    """The row with its notes, and where the truth fell when it misses its target."""
    shown = notes if row.met else [*notes, sides]
    return replace(row, note=f"  ({'; '.join(shown)})" if shown else "")


def _sides(counts: Counter[str], prefix: str) -> str:
    """Where the truth fell when an interval missed it: misses on one side say the interval
    is off-centre (biased), on both that it is too narrow."""
    missed = counts[f"{prefix}seen"] - counts[f"{prefix}inside"]
    above = counts[f"{prefix}above"]
    below = missed - above - counts[f"{prefix}not given"]
    return f"truth above the interval in {above}, below in {below}"



SECTIONS = {
    1: "1. Coverage of the 95% intervals: a 1.3x slower, 0.8x tokens, +1 LLM call, "
       "+0.5 log-odds success",
    2: "2. No true difference: experiments claiming any figure differs, or hinting at one",
    3: f"3. Power at the displayed N: trials of that N with a true {DETECT_RATIO:g}x latency "
       "ratio",
    4: f"4. Coverage of form b's pass^{PASS_K} interval (truth: mean over inputs of "
       f"chance**{PASS_K})",
    5: "5. Backends: b @ y against b @ x, no true difference (any claim or hint, and the "
       "intervals covering none)\n   or y 1.3x slower, 0.8x tokens, +0.5 log-odds success "
       "(coverage); 1 exp: one experiment, moments\n   shared; 2 exps: one experiment per "
       "backend, moments apart",
    6: "6. Judges: coverage of the quality figure's 95% intervals (each group's mean score or "
       "pass rate, and\n   the paired difference a - b), read through summarize_quality; with "
       "no true difference, the share\n   claiming one; coverage of agreement's (kappa, "
       "weighted kappa, Spearman: jackknife) and a pairwise\n   judge's (A's win rate, the "
       "first shown's share: Wilson) 95% intervals",
}


def main(args: argparse.Namespace) -> None:
    all_cells = cells()
    power = max(1, round(args.experiments * POWER_SHARE))
    sections: list[int] = args.sections
    shown = ("" if len(sections) == SECTION_COUNT
             else f", section{'s' if len(sections) > 1 else ''} "
                  f"{', '.join(map(str, sections))}")
    print(f"stats calibration: {args.experiments} experiments per cell ({power} pilots per "
          f"power row), seed {args.seed}, {args.processes} "
          f"process{'es' if args.processes > 1 else ''}{shown}")
    tallies = [Tally() for _ in all_cells]
    start = time.perf_counter()
    work = list(tasks(all_cells, args.experiments, args.seed, sections))
    if args.processes == 1:
        done: Iterator[tuple[int, Tally]] = map(run_task, work)
        for index, tally in done:
            tallies[index].add(tally)
    else:
        with ProcessPoolExecutor(max_workers=args.processes) as pool:
            for index, tally in pool.map(run_task, work):
                tallies[index].add(tally)
    wall = time.perf_counter() - start
    printed: list[Row] = []
    section = 0
    for cell, tally in zip(all_cells, tallies, strict=True):
        if cell.section not in sections:
            continue
        if cell.section != section:
            section = cell.section
            print(f"\n{SECTIONS[section]}")
        for row in rows(cell, tally):
            print(row.line())
            printed.append(row)
    cpu = {s: sum(t.cpu for c, t in zip(all_cells, tallies, strict=True) if c.section == s)
           for s in sections}
    print(f"\ntook {wall:.0f} s wall, {sum(cpu.values()):.0f} CPU-s in experiments "
          f"(section{'s' if len(cpu) > 1 else ''} {', '.join(map(str, cpu))}: "
          f"{', '.join(f'{v:.0f}' for v in cpu.values())})")
    print(f"calibration: {sum(r.met for r in printed)} of {len(printed)} rows meet their target")


if __name__ == "__main__":
    main(ARGS)
