"""The live race as one plotly figure: a panel per form on one shared time axis (no Streamlit).

Drawn with the waterfall's own bars (`figures.add_span_bars`), so a span looks the same here
as on the Trace page; what is added is the race's: open spans hatched and growing to the
clock, generations thin, and each lane's clock as a vertical line in the form's colour.
"""

from __future__ import annotations

import plotly.graph_objects as go
from plotly.subplots import make_subplots

from orchlab.present.figures import (
    FORM_COLORS,
    Colors,
    add_span_bars,
    one_legend_entry_per_name,
    plot_text,
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
