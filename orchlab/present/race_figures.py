"""The race drawn two ways, a lane per form on one shared time axis (no Streamlit).

`race_figure` is a plotly figure drawn with the waterfall's own bars
(`figures.add_span_bars`), so a span looks the same here as on the Trace page; what is added
is the race's: open spans hatched and growing to the clock, generations thin, and each lane's
clock as a vertical line in the form's colour. It is for a race someone explores (the race as
it ended, presenter mode).

`race_picture` draws the same lanes, bars and clocks as a plain SVG image, for a race that is
redrawn every two seconds on every participant's page: a browser decodes an image in
milliseconds, where plotly loads megabytes of script on a page's first race and lays the
whole figure out again on every redraw (bench/classroom.py: twenty pages in a class).
"""

from __future__ import annotations

from collections.abc import Callable
from xml.sax.saxutils import escape, quoteattr

import plotly.graph_objects as go
from plotly.subplots import make_subplots

from orchlab.present.figures import (
    FORM_COLORS,
    KIND_COLORS,
    QUEUED_COLOR,
    WATERFALL_KINDS,
    Colors,
    add_span_bars,
    cut_text,
    one_legend_entry_per_name,
    plot_text,
    span_depths,
)
from orchlab.present.race import Lane, lane_caption

ROW_PX = 22
"""Height of one span's bar row: lanes grow with their spans, the axis stays shared."""
MIN_LANE_ROWS = 3
"""A lane that has barely started still gets room to grow into."""


def race_figure(lanes: list[Lane], colors: Colors | None = None) -> go.Figure:
    """Each lane's spans in its own panel, seconds since that run's start on one x axis.

    The axis spans the longest clock, so a form that is ahead shows as bars ending further
    left than the other lanes' clocks."""
    colors = colors or FORM_COLORS
    if not lanes:
        return go.Figure()
    weights = [max(len(lane.spans), MIN_LANE_ROWS) for lane in lanes]
    fig = make_subplots(rows=len(lanes), cols=1, shared_xaxes=True, vertical_spacing=0.06,
                        subplot_titles=[plot_text(lane_caption(lane)) for lane in lanes],
                        row_heights=[w / sum(weights) for w in weights])
    for row, lane in enumerate(lanes, start=1):
        labels = add_span_bars(fig, lane.spans, row=row, open_ids=lane.open_ids,
                               unit_ms=1000.0, thin=("generation",))
        fig.update_yaxes(autorange="reversed", categoryorder="array", categoryarray=labels,
                         title="", row=row, col=1)
        fig.add_vline(x=lane.clock_ms / 1000, row=row, col=1,
                      line={"color": colors.get(lane.form, "#444"), "width": 3,
                            "dash": "solid" if lane.finished else "dot"})
    one_legend_entry_per_name(fig)
    longest = max(lane.clock_ms for lane in lanes) / 1000
    fig.update_xaxes(range=[0, max(longest * 1.05, 1.0)])
    fig.update_xaxes(title="seconds since the run started", row=len(lanes), col=1)
    fig.update_layout(height=max(260, ROW_PX * sum(weights) + 90 * len(lanes)),
                      barmode="overlay", margin={"l": 10, "r": 10, "t": 40, "b": 10},
                      legend_title_text="", uirevision="race")
    return fig


PICTURE_WIDTH = 960
"""The picture's width in its own units; it scales to the column."""
LABEL_WIDTH = 250
"""Room left of the bars for each row's label."""
LABEL_CHARS = 36
"""A longer label is cut (the lane captions under the picture name what runs in full)."""
PICTURE_FONT = "font-family='sans-serif' font-size='12'"


def race_picture(lanes: list[Lane], colors: Colors | None = None,
                 width: int = PICTURE_WIDTH) -> str:
    """The lanes as an SVG image (markup with every name escaped): per lane its caption,
    a row per span (open spans paler and striped, generations thin, time waiting for the
    model grey), and its clock as a line in the form's colour (dotted while it runs); one
    seconds axis for all. Empty without lanes."""
    if not lanes:
        return ""
    colors = colors or FORM_COLORS
    longest = max(max(lane.clock_ms for lane in lanes) / 1000 * 1.05, 1.0)
    scale = (width - LABEL_WIDTH - 20) / longest

    def x(ms: float) -> float:
        return LABEL_WIDTH + ms / 1000 * scale

    body: list[str] = []
    y = 0.0
    for lane in lanes:
        color = colors.get(lane.form, "#444")
        body.append(f"<text x='0' y='{y + 14:.0f}' font-weight='bold' fill={quoteattr(color)}>"
                    f"{escape(lane_caption(lane))}</text>")
        top = y + 24
        rows = [(d, sp) for d, sp in span_depths(lane.spans) if sp.kind in WATERFALL_KINDS]
        for i, (depth, span) in enumerate(rows):
            middle = top + i * ROW_PX + ROW_PX / 2
            label = cut_text(f"{'  ' * depth}{span.kind}: {span.name}", LABEL_CHARS)
            body.append(f"<text x='{LABEL_WIDTH - 8}' y='{middle + 4:.1f}' text-anchor='end' "
                        f"xml:space='preserve' fill='#333'>{escape(label)}</text>")
            height = ROW_PX * (0.35 if span.kind == "generation" else 0.7)
            if span.queued_ms > 0:
                body.append(_bar(x(span.start_ms), x(span.start_ms + span.queued_ms), middle,
                                 height, QUEUED_COLOR, False))
            body.append(_bar(x(span.start_ms + span.queued_ms), x(span.end_ms), middle, height,
                             KIND_COLORS[span.kind], span.span_id in lane.open_ids))
        bottom = top + max(len(rows), MIN_LANE_ROWS) * ROW_PX
        dash = "" if lane.finished else " stroke-dasharray='4 3'"
        body.append(f"<line x1='{x(lane.clock_ms):.1f}' x2='{x(lane.clock_ms):.1f}' "
                    f"y1='{top:.0f}' y2='{bottom:.0f}' stroke={quoteattr(color)} "
                    f"stroke-width='3'{dash}/>")
        y = bottom + 16
    body.extend(_seconds_axis(y, longest, x))
    height = y + 40
    return (f"<svg xmlns='http://www.w3.org/2000/svg' viewBox='0 0 {width} "
            f"{height:.0f}' width='{width}' height='{height:.0f}' {PICTURE_FONT}>"
            "<defs><pattern id='open' width='6' height='6' patternUnits='userSpaceOnUse' "
            "patternTransform='rotate(45)'><rect width='3' height='6' fill='white' "
            "fill-opacity='0.6'/></pattern></defs>"
            + "".join(body) + "</svg>")


def _bar(start: float, end: float, middle: float, height: float, color: str,
         running: bool) -> str:
    box = (f"x='{start:.1f}' y='{middle - height / 2:.1f}' width='{max(end - start, 1.0):.1f}' "
           f"height='{height:.1f}'")
    if not running:
        return f"<rect {box} fill={quoteattr(color)}/>"
    return (f"<rect {box} fill={quoteattr(color)} fill-opacity='0.55'/>"
            f"<rect {box} fill='url(#open)'/>")


def _seconds_axis(y: float, longest_s: float, x: Callable[[float], float]) -> list[str]:
    """A line, ticks at a readable step, and the axis title."""
    step = next(s for s in (0.5, 1, 2, 5, 10, 20, 30, 60, 120, 300, 600, 1800, 3600)
                if longest_s / s <= 8)
    marks = [f"<line x1='{x(0):.1f}' x2='{x(longest_s * 1000):.1f}' y1='{y:.0f}' y2='{y:.0f}' "
             "stroke='#999'/>"]
    tick = 0.0
    while tick <= longest_s:
        marks.append(f"<line x1='{x(tick * 1000):.1f}' x2='{x(tick * 1000):.1f}' "
                     f"y1='{y:.0f}' y2='{y + 5:.0f}' stroke='#999'/>"
                     f"<text x='{x(tick * 1000):.1f}' y='{y + 18:.0f}' text-anchor='middle' "
                     f"fill='#555'>{tick:g}</text>")
        tick += step
    marks.append(f"<text x='{x(longest_s * 500):.1f}' y='{y + 34:.0f}' text-anchor='middle' "
                 "fill='#555'>seconds since the run started</text>")
    return marks
