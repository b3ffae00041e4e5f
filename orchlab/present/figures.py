"""Plotly figures and diagrams built from analysis frames and span records (no Streamlit).

Pages only place these; every number in them comes from `orchlab.stats.analysis` or stored spans.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from typing import Any
from xml.sax.saxutils import escape

import pandas as pd
import plotly.express as px
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from orchlab.core import forms
from orchlab.core.records import SpanRecord
from orchlab.measure.paths import PathStep, path_stages
from orchlab.stats import analysis, estimates, paths
from orchlab.stats.analysis import agent_means, box_stats, ordered_groups, split_group
from orchlab.stats.frontier import frontier

KIND_COLORS = {"agent": "#4C78A8", "function": "#F58518", "generation": "#54A24B",
               "handoff": "#B279A2",
               "task": "#B8B8B8", "turn": "#D0D0D0", "custom": "#9D755D"}
FORM_SHADES = {p.id: list(p.shades) for p in forms.PATTERNS}
"""Per form, its colour then the shades its variants take: a form · variant group stays in its
form's hue, and a form has one colour on every page."""
FORM_COLORS = {form: shades[0] for form, shades in FORM_SHADES.items()}
QUEUED_COLOR = "#C9C9C9"
WATERFALL_KINDS = ("agent", "handoff", "function", "generation")
"""Spans a waterfall draws: what ran, who handed over, and the model's time."""
MAX_POINTS = 2000
"""Above this many runs, distributions show outliers instead of every run."""
MAX_RUN_BARS = 300
"""Above this many runs, per-agent stacks show the mean run instead of one bar per run."""
Colors = dict[str, str]
MAX_LR_STAGES = 4
"""Path diagrams with more stages than this run top to bottom, so their boxes stay readable."""
PATH_BOX_PX = 26
"""A path diagram's box height (its own units: it is drawn at its size, up to the column's)."""
PATH_CHAR_PX = 6.6
"""About one character's width of the diagram's 11-unit type: a box fits its label."""
PATH_LABEL_CHARS = 48
"""A longer step label is cut in the diagram (the card's caption has the whole path)."""


def plot_text(text: object) -> str:
    """Text for a figure (a label, a title, a hover): plotly reads `<br>`, `<b>`, `<a href>`
    and the like in every text as markup, so a span named `<a href=...>` by someone's file
    would be a link in a chart. With `&` and `<` as entities no tag is left (a `>` alone is
    text: `desk => greeter` stays as written) and plotly shows the characters as written."""
    return str(text).replace("&", "&amp;").replace("<", "&lt;")


def _plot_frame(frame: pd.DataFrame, columns: Iterable[str]) -> pd.DataFrame:
    """The frame with the text of `columns` (those it has) passed through `plot_text`: names
    of groups, runs, inputs, paths and agents, any of which a user's file may have written."""
    safe = frame.copy()
    for column in columns:
        if column in safe.columns:
            safe[column] = [plot_text(v) if isinstance(v, str) else v for v in safe[column]]
    return safe


def _plot_colors(colors: Colors | None) -> Colors:
    """The colour map keyed as `_plot_frame` writes the groups."""
    return {plot_text(group): color for group, color in (colors or FORM_COLORS).items()}


def group_colors(groups: list[str]) -> Colors:
    """One colour per group for a whole render: a form keeps its hue (its variants take shades
    of it, in sorted order); groups of another form get palette colours. Pass the map to every
    figure so a group has the same colour on every tab."""
    colors: Colors = {}
    used = {form: 0 for form in FORM_SHADES}
    spare = iter(forms.PALETTE * (len(groups) // len(forms.PALETTE) + 1))
    for group in sorted(set(groups)):
        form = split_group(group)[0]
        if form in FORM_SHADES and used[form] < len(FORM_SHADES[form]):
            colors[group] = FORM_SHADES[form][used[form]]
            used[form] += 1
        else:
            colors[group] = next(spare)
    return colors


def _order(groups: pd.Series) -> list[str]:
    """Groups in the one order of every page (plotly would use first appearance)."""
    return ordered_groups(str(g) for g in groups)


def _layout(fig: go.Figure, title: str) -> go.Figure:
    fig.update_layout(title=title, margin={"l": 10, "r": 10, "t": 40, "b": 10},
                      legend_title_text="")
    return fig


def latency_box(runs: pd.DataFrame, by: str = "form", colors: Colors | None = None) -> go.Figure:
    """Wall time per run: box with every run as a point; quartiles + outliers when many."""
    colors = _plot_colors(colors)
    runs = _plot_frame(runs, (by, "run_id", "input_id", "status"))
    if len(runs) <= MAX_POINTS:
        fig = px.box(runs, x=by, y="wall_ms", color=by, points="all",
                     color_discrete_map=colors, hover_data=["run_id", "input_id", "status"],
                     category_orders={by: _order(runs[by])},
                     labels={"wall_ms": "wall time (ms)"})
        return _layout(fig, "Latency per run")
    fig = go.Figure()
    for row in box_stats(runs, "wall_ms", by).itertuples(index=False):
        name, color = str(getattr(row, by)), colors.get(str(getattr(row, by)))
        fig.add_trace(go.Box(name=name, x=[name], q1=[row.q1], median=[row.median], q3=[row.q3],
                             lowerfence=[row.lowerfence], upperfence=[row.upperfence],
                             marker_color=color, showlegend=True))
        fig.add_trace(go.Scatter(x=[name] * len(row.outliers), y=row.outliers, mode="markers",
                                 marker={"color": color, "size": 4}, showlegend=False))
    fig.update_yaxes(title="wall time (ms)")
    return _layout(fig, f"Latency per run ({len(runs):,} runs: quartiles and outliers)")


def latency_ecdf(runs: pd.DataFrame, by: str = "form", colors: Colors | None = None) -> go.Figure:
    """Empirical CDF of wall time."""
    runs = _plot_frame(runs, (by,))
    fig = px.ecdf(runs, x="wall_ms", color=by, color_discrete_map=_plot_colors(colors),
                  category_orders={by: _order(runs[by])},
                  labels={"wall_ms": "wall time (ms)"})
    return _layout(fig, "Latency ECDF")


def agent_stack(breakdown: pd.DataFrame, value: str, by: str = "form") -> go.Figure:
    """Per-run bars stacked by agent (value: tokens or cost_usd); the mean run when many."""
    labels = {"run_id": "run", "tokens": "tokens", "cost_usd": "cost (USD)"}
    what = "Tokens" if value == "tokens" else "Cost"
    breakdown = _plot_frame(breakdown, (by, "agent", "run_id"))
    if breakdown["run_id"].nunique() > MAX_RUN_BARS:
        means = agent_means(breakdown, value, by)
        fig = px.bar(means, x=by, y=value, color="agent", labels=labels,
                     category_orders={by: _order(means[by])})
        return _layout(fig, f"{what} of the mean run, by agent")
    fig = px.bar(breakdown, x="run_id", y=value, color="agent", facet_col=by, labels=labels,
                 category_orders={by: _order(breakdown[by])})
    fig.update_xaxes(matches=None, showticklabels=False)
    return _layout(fig, f"{what} per run, by agent")


def calls_per_run(runs: pd.DataFrame, by: str = "form", colors: Colors | None = None
                  ) -> go.Figure:
    """LLM and tool calls per run."""
    colors = _plot_colors(colors)
    runs = _plot_frame(runs, (by, "run_id"))
    long = runs.melt(id_vars=["run_id", by], value_vars=["llm_calls", "tool_calls"],
                     var_name="kind", value_name="calls")
    if len(runs) > MAX_POINTS:
        fig = px.box(long, x="kind", y="calls", color=by, color_discrete_map=colors,
                     category_orders={by: _order(long[by])})
    else:
        fig = px.strip(long, x="kind", y="calls", color=by, color_discrete_map=colors,
                       hover_data=["run_id"], category_orders={by: _order(long[by])})
    return _layout(fig, "LLM and tool calls per run")


def path_frequency(freq: pd.DataFrame, by: str = "form", colors: Colors | None = None
                   ) -> go.Figure:
    """Share of runs per path, per group."""
    freq = _plot_frame(freq, (by, "path"))
    fig = px.bar(freq, x="share", y="path", color=by, orientation="h", barmode="group",
                 color_discrete_map=_plot_colors(colors), hover_data=["count"],
                 category_orders={by: _order(freq[by])})
    fig.update_yaxes(automargin=True, title="")
    return _layout(fig, "Path frequencies")


def outcome_bars(rates: pd.DataFrame, by: str = "form", colors: Colors | None = None
                 ) -> go.Figure:
    """Share of runs meeting each outcome check, over the runs where it applies (n on the bar)."""
    shown = _plot_frame(rates.dropna(subset=["rate"]), (by, "outcome")).assign(
        label=lambda f: [f"{r:.0%} (n={n})" for r, n in zip(f["rate"], f["n"], strict=True)])
    fig = px.bar(shown, x="outcome", y="rate", color=by, barmode="group", text="label",
                 hover_data={"hits": True, "n": True},
                 color_discrete_map=_plot_colors(colors), category_orders={by: _order(shown[by])})
    fig.update_yaxes(tickformat=".0%", range=[0, 1.05], title="share of runs where it applies")
    return _layout(fig, "Outcome rates")


def outcome_count_bars(counts: pd.DataFrame, by: str = "form", colors: Colors | None = None
                       ) -> go.Figure:
    """Mean of each whole-number outcome per run (emails sent, guard refusals), n on the bar."""
    shown = _plot_frame(counts, (by, "outcome")).assign(
        label=lambda f: [f"{m:.2g} (n={n})" for m, n in zip(f["mean"], f["n"], strict=True)])
    fig = px.bar(shown, x="outcome", y="mean", color=by, barmode="group", text="label",
                 hover_data={"total": True, "n": True}, color_discrete_map=_plot_colors(colors),
                 category_orders={by: _order(shown[by])})
    fig.update_yaxes(title="mean per run where it applies")
    return _layout(fig, "Counts per run")


def pass_k_chart(reliability: pd.DataFrame, by: str = "form", colors: Colors | None = None
                 ) -> go.Figure:
    """pass^k (solid) and pass@k (dotted) against k per group: does it still work the k-th
    time, and does it work at least once in k?"""
    fig = go.Figure()
    for group in _order(reliability[by]):
        rows = reliability[reliability[by] == group]
        color = (colors or FORM_COLORS).get(group)
        name = plot_text(group)
        fig.add_scatter(x=rows["k"], y=rows["pass_hat_k"], mode="lines+markers", name=name,
                        line={"color": color}, legendgroup=name)
        fig.add_scatter(x=rows["k"], y=rows["pass_at_k"], mode="lines+markers",
                        name=f"{name} pass@k", line={"color": color, "dash": "dot"},
                        legendgroup=name)
    fig.update_xaxes(title="k (runs of the same input)", dtick=1)
    fig.update_yaxes(title="pass^k (solid), pass@k (dotted)", range=[0, 1.05])
    return _layout(fig, "Reliability across repetitions")


FRONTIER_COLOR = "#444444"


def frontier_chart(found: dict[str, Any], colors: Colors | None = None) -> go.Figure:
    """Success (or pass^k) against cost (or tokens) per run, one point per group with its 95%
    intervals both ways, and the Pareto frontier through the points no other beats on both
    (`orchlab.stats.frontier`: the figure draws its numbers, computes none)."""
    fig = go.Figure()
    points = sorted(found["points"], key=lambda p: p["x"])
    line = [p for p in points if p["on_frontier"]]
    fig.add_scatter(x=[p["x"] for p in line], y=[p["y"] for p in line], mode="lines",
                    name="Pareto frontier", line={"color": FRONTIER_COLOR, "dash": "dash",
                                                  "shape": "hv"})
    for p in points:
        name = plot_text(p["group"])
        fig.add_scatter(
            x=[p["x"]], y=[p["y"]], mode="markers", name=name,
            marker={"color": (colors or FORM_COLORS).get(p["group"]), "size": 12,
                    "symbol": "diamond" if p["on_frontier"] else "circle",
                    "line": {"color": FRONTIER_COLOR, "width": 2 if p["on_frontier"] else 0}},
            error_x=_error(p["x"], p["x_low"], p["x_high"]),
            error_y=_error(p["y"], p["y_low"], p["y_high"]),
            hovertext=[f"{name}<br>{p['y']:.2f} at {p['x']:.3g} per run ({p['runs']} runs)"
                       + ("<br>on the frontier" if p["on_frontier"] else "")])
    fig.update_xaxes(title=found["x_label"], rangemode="tozero")
    fig.update_yaxes(title=found["y_label"], range=[0, 1.05])
    return _layout(fig, "Success against cost: the frontier")


def _error(center: float, low: float | None, high: float | None) -> dict[str, Any]:
    """An asymmetric error bar from an interval (none without one)."""
    if low is None or high is None:
        return {"visible": False}
    return {"type": "data", "symmetric": False, "array": [max(0.0, high - center)],
            "arrayminus": [max(0.0, center - low)], "visible": True}


def compare_charts(runs: pd.DataFrame, by: str = "group", colors: Colors | None = None,
                   only: Collection[str] | None = None) -> dict[str, go.Figure | str]:
    """Every chart Compare draws for these runs, in the page's order, keyed by name; a chart
    the runs cannot give is the sentence that says why. Compare and the standalone report
    (`orchlab.present.report`) both place these, so the page and the report draw the same charts
    from the same inputs. `outcome_counts` is absent when no outcome is a count. `only`: just
    these names (Compare builds the open tab's: a figure takes tens of ms to build)."""

    def wanted(*names: str) -> bool:
        return only is None or any(name in only for name in names)

    charts: dict[str, go.Figure | str] = {}
    if wanted("latency"):
        charts["latency"] = latency_box(runs, by, colors)
    if wanted("latency_ecdf"):
        charts["latency_ecdf"] = latency_ecdf(runs, by, colors) \
            if runs.groupby(by).size().max() >= 2 else (
            "Latency ECDF: with one run per group there is no distribution to draw; run more "
            "repetitions to see one.")
    if wanted("tokens", "cost"):
        breakdown = analysis.agent_breakdown(runs, by)
        if wanted("tokens"):
            charts["tokens"] = agent_stack(breakdown, "tokens", by)
        if wanted("cost"):
            charts["cost"] = "Cost per agent is unknown: the model has no known price." \
                if breakdown["cost_usd"].isna().any() else agent_stack(breakdown, "cost_usd", by)
    if wanted("calls"):
        charts["calls"] = calls_per_run(runs, by, colors)
    if wanted("paths"):
        charts["paths"] = path_frequency(paths.path_frequencies(runs, by), by, colors)
    if wanted("outcomes"):
        charts["outcomes"] = outcome_bars(analysis.outcome_rates(runs, by), by, colors)
    if wanted("outcome_counts"):
        counts = analysis.outcome_counts(runs, by)
        if not counts.empty:
            charts["outcome_counts"] = outcome_count_bars(counts, by, colors)
    if wanted("pass_k", "frontier"):
        reliability = estimates.reliability(runs, by)
        if wanted("pass_k"):
            charts["pass_k"] = pass_k_chart(reliability, by, colors) \
                if not reliability.empty else (
                "No run here says anything about its form's success, so no pass^k.")
        if wanted("frontier"):
            found = frontier(runs, by, reliability=reliability)
            charts["frontier"] = frontier_chart(found, colors) if found["points"] \
                else found["sentence"]
    return charts


def span_depths(spans: list[SpanRecord]) -> list[tuple[int, SpanRecord]]:
    """Spans in tree order (depth-first, by start) with their depth: sub-agents nest in tools."""
    children: dict[str | None, list[SpanRecord]] = {}
    ids = {s.span_id for s in spans}
    for span in sorted(spans, key=lambda s: (s.start_ms, s.seq)):
        parent = span.parent_id if span.parent_id in ids else None
        children.setdefault(parent, []).append(span)
    ordered: list[tuple[int, SpanRecord]] = []

    def walk(parent: str | None, depth: int) -> None:
        for child in children.get(parent, []):
            ordered.append((depth, child))
            walk(child.span_id, depth + 1)

    walk(None, 0)
    return ordered


def errored_ancestors(spans: list[SpanRecord], hidden: set[str]) -> set[str]:
    """Ids of the spans to mark as failed inside: every ancestor of an errored span whose kind
    is not hidden. A failure often sits on a `turn` span, which the default tree hides, so
    without these marks the tree would not show where the run failed."""
    parents = {s.span_id: s.parent_id for s in spans}
    kinds = {s.span_id: s.kind for s in spans}
    marked: set[str] = set()
    for span in spans:
        if not span.error:
            continue
        parent = parents.get(span.span_id)
        while parent in parents and parent not in marked:
            if kinds[parent] not in hidden:
                marked.add(parent)
            parent = parents[parent]
    return marked


def waterfall(spans: list[SpanRecord]) -> go.Figure:
    """Timeline of agent, generation and tool spans, indented by depth.

    A generation's wait for a busy model (queued_ms) is drawn apart, in grey, before the bar of
    the generation itself: waiting is not model time.
    """
    fig = go.Figure()
    labels = add_span_bars(fig, spans)
    fig.update_yaxes(autorange="reversed", categoryorder="array", categoryarray=labels,
                     title="")
    fig.update_xaxes(title="ms since run start")
    fig.update_layout(height=max(250, 24 * len(labels) + 80), barmode="overlay")
    return _layout(fig, "Waterfall")


def waterfall_pair(spans_a: list[SpanRecord], spans_b: list[SpanRecord], label_a: str,
                   label_b: str) -> go.Figure:
    """Two runs' waterfalls one above the other on one time axis (ms since each run's start),
    so where one run spends its time against the other shows at a glance. A kind has one
    legend entry for both panels."""
    fig = make_subplots(rows=2, cols=1, shared_xaxes=True, vertical_spacing=0.08,
                        subplot_titles=(plot_text(label_a), plot_text(label_b)))
    counts = []
    for row, spans in ((1, spans_a), (2, spans_b)):
        labels = add_span_bars(fig, spans, row=row)
        fig.update_yaxes(autorange="reversed", categoryorder="array", categoryarray=labels,
                         title="", row=row, col=1)
        counts.append(len(labels))
    one_legend_entry_per_name(fig)
    fig.update_xaxes(title="ms since run start", row=2, col=1)
    fig.update_layout(height=max(400, 24 * sum(counts) + 160), barmode="overlay")
    return _layout(fig, "Waterfalls of the two runs")


def one_legend_entry_per_name(fig: go.Figure) -> None:
    """Panels drawn with `add_span_bars` each add a trace per kind: one legend entry each."""
    shown: set[str] = set()
    for trace in fig.data:
        trace.legendgroup = trace.name
        trace.showlegend = trace.name not in shown
        shown.add(trace.name)


def add_span_bars(fig: go.Figure, spans: list[SpanRecord], row: int | None = None,
                  open_ids: Collection[str] = (), unit_ms: float = 1.0,
                  thin: Collection[str] = ()) -> list[str]:
    """Add a run's waterfall bars to `fig` (in subplot `row`, column 1, when given); returns
    the bars' labels, top to bottom.

    The live race draws with it too: spans in `open_ids` are still running (hatched, paler),
    `unit_ms` is the x unit (1000: seconds) and kinds in `thin` get half-height bars, so a
    lane's model time reads apart from the agents and tools it serves."""
    cell = {"row": row, "col": 1} if row is not None else {}
    rows = [(d, s) for d, s in span_depths(spans) if s.kind in WATERFALL_KINDS]
    labels = [f"{i:02d} {'  ' * d}{s.kind}: {plot_text(s.name)}"
              for i, (d, s) in enumerate(rows)]
    queued = [(lab, s) for lab, (_, s) in zip(labels, rows, strict=True) if s.queued_ms > 0]
    if queued:
        fig.add_bar(y=[lab for lab, _ in queued], x=[s.queued_ms / unit_ms for _, s in queued],
                    base=[s.start_ms / unit_ms for _, s in queued], orientation="h",
                    name="queued (waiting for the model)", marker_color=QUEUED_COLOR,
                    marker_pattern_shape="/",
                    hovertext=[f"waited {s.queued_ms:.0f} ms for the model" for _, s in queued],
                    **cell)
    for kind in WATERFALL_KINDS:
        picked = [(lab, s) for lab, (_, s) in zip(labels, rows, strict=True) if s.kind == kind]
        if not picked:
            continue
        running = [s.span_id in open_ids for _, s in picked]
        fig.add_bar(
            y=[lab for lab, _ in picked],
            x=[max(s.end_ms - s.start_ms - s.queued_ms, 0.5) / unit_ms for _, s in picked],
            base=[(s.start_ms + s.queued_ms) / unit_ms for _, s in picked], orientation="h",
            name=kind, marker_color=KIND_COLORS[kind], width=0.4 if kind in thin else None,
            marker_pattern_shape=["x" if r else "" for r in running],
            marker_opacity=[0.55 if r else 1.0 for r in running],
            hovertext=[f"{plot_text(s.name)}<br>{s.end_ms - s.start_ms - s.queued_ms:.0f} ms"
                       + (" so far (running)" if r else "")
                       + (f" (+{s.queued_ms:.0f} ms queued)" if s.queued_ms else "")
                       + f"<br>tokens {s.input_tokens}/{s.output_tokens}"
                       for (_, s), r in zip(picked, running, strict=True)],
            **cell,
        )
    return labels


def path_picture(steps: list[PathStep]) -> str:
    """A run's structured path as an SVG image (markup, every name escaped): steps left to
    right, a parallel set stacked in one stage, an arrow from each box of a stage to each of
    the next. Past MAX_LR_STAGES stages a left-to-right picture shrinks to fit the column
    until its boxes are unreadable, so long paths run top to bottom.

    Drawn on the server, not as Graphviz in the browser: a run card shows one with every
    result, and Graphviz loads a layout engine into each page first."""
    stages = [[cut_text(" ".join(label.split()), PATH_LABEL_CHARS) for label in stage]
              for stage in path_stages(steps)]  # each label on one line
    across = len(stages) <= MAX_LR_STAGES
    boxes: list[list[tuple[float, float, float, str]]] = []  # x, y, width, label per stage
    x = y = 0.0
    tallest = max((len(stage) for stage in stages), default=1)
    for stage in stages:
        widths = [len(label) * PATH_CHAR_PX + 16 for label in stage]
        if across:  # a column per stage, its boxes stacked about the tallest one's middle
            column = max(widths)
            top = (tallest - len(stage)) * (PATH_BOX_PX + 10) / 2
            boxes.append([(x + (column - w) / 2, top + i * (PATH_BOX_PX + 10), w, label)
                          for i, (w, label) in enumerate(zip(widths, stage, strict=True))])
            x += column + 36
        else:  # a row per stage, its boxes side by side
            row = []
            for w, label in zip(widths, stage, strict=True):
                row.append((x, y, w, label))
                x += w + 10
            boxes.append(row)
            x, y = 0.0, y + PATH_BOX_PX + 30
    width = max(bx + w for stage in boxes for bx, _, w, _ in stage) + 2
    height = max(by for stage in boxes for _, by, _, _ in stage) + PATH_BOX_PX + 2
    parts = []
    for before, after in zip(boxes, boxes[1:], strict=False):
        for ax, ay, aw, _ in before:
            for bx, by, bw, _ in after:
                start = (ax + aw, ay + PATH_BOX_PX / 2) if across else (ax + aw / 2,
                                                                       ay + PATH_BOX_PX)
                end = (bx - 2, by + PATH_BOX_PX / 2) if across else (bx + bw / 2, by - 2)
                parts.append(f"<line x1='{start[0]:.1f}' y1='{start[1]:.1f}' "
                             f"x2='{end[0]:.1f}' y2='{end[1]:.1f}' stroke='#555' "
                             "marker-end='url(#head)'/>")
    for drawn in boxes:
        for bx, by, w, label in drawn:
            parts.append(f"<rect x='{bx + 1:.1f}' y='{by + 1:.1f}' width='{w:.1f}' "
                         f"height='{PATH_BOX_PX}' rx='6' fill='#EEF3FA' stroke='#333'/>"
                         f"<text x='{bx + 1 + w / 2:.1f}' y='{by + 1 + PATH_BOX_PX / 2 + 4:.1f}' "
                         f"text-anchor='middle'>{escape(label)}</text>")
    return (f"<svg xmlns='http://www.w3.org/2000/svg' width='{width:.0f}' "
            f"height='{height:.0f}' viewBox='0 0 {width:.0f} {height:.0f}' "
            "font-family='sans-serif' font-size='11'><defs><marker id='head' "
            "viewBox='0 0 10 10' refX='10' refY='5' markerWidth='7' markerHeight='7' "
            "orient='auto'><path d='M0,0 L10,5 L0,10 z' fill='#555'/></marker></defs>"
            + "".join(parts) + "</svg>")


def cut_text(text: str, chars: int) -> str:
    """`text` cut to `chars` characters, the last an ellipsis, where a picture's label has
    room for no more (the page says it in full elsewhere)."""
    return text if len(text) <= chars else text[:chars - 1] + "…"
