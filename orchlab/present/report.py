"""A standalone HTML report of one or more experiments: what Compare shows, in one file that
opens offline in any browser and can be sent to someone without the dashboard.

The CLI's `report` and Compare's "Download report" both call `report_file`, so the two are
the same bytes. Nothing here computes a figure of its own: findings come from
`summary.summarize_runs`, charts from `figures.compare_charts` (what Compare draws) and
`figures.waterfall`, tables from `orchlab.stats.analysis`, grouped as Compare groups them. Every
text that comes from a run goes through `config.redact` again, since a report leaves the
machine. Plotly's JavaScript is inlined once; the document loads nothing from any host.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jinja2
import pandas as pd
import plotly.graph_objects as go
from markupsafe import Markup

from orchlab.core.config import redact
from orchlab.present import figures
from orchlab.stats import analysis, paths, summary
from orchlab.stats.findings import factor_note, label, title
from orchlab.stats.frontier import frontier_table
from orchlab.store.export import ExportFile, export_experiment
from orchlab.store.store import Store

TEMPLATES = Path(__file__).resolve().parent / "templates"
TEMPLATE = "report.html.j2"
MIME = "text/html"
HIDDEN_KINDS = frozenset({"task", "turn"})
"""Span kinds the step list leaves out, as the Trace page does by default."""
MAX_TEXT = 400
"""Characters of a span's input or output the step list keeps: a report stays small."""
MAX_ERROR = 400
"""Characters of an example error message per failure class."""
PLOTLY_CONFIG = {"displaylogo": False, "responsive": True}


@dataclass(frozen=True)
class Table:
    """A frame as the template writes it: column names and rows of display strings."""

    columns: list[str]
    rows: list[list[str]]


class ChartDivs:
    """Plotly figures as HTML divs numbered in document order: the first carries plotly's
    JavaScript inline (`include_plotlyjs=True`, never a CDN), the others none, and the fixed
    div ids keep the same experiment's report the same bytes."""

    def __init__(self) -> None:
        self.count = 0

    def html(self, fig: Any) -> Markup:
        """The figure's div (and, for the first, the script the page needs to draw it)."""
        _drop_unused_template_data(fig)
        div = fig.to_html(full_html=False, include_plotlyjs=self.count == 0,
                          div_id=f"chart-{self.count}", config=PLOTLY_CONFIG)
        self.count += 1
        return Markup(div)


def _drop_unused_template_data(fig: Any) -> None:
    """Keep the template's defaults only for the trace types the figure has: the look is the
    same, and each figure carries ~4 KB less (heatmap, surface, ... defaults it never uses)."""
    template = fig.layout.template
    used = {trace.type for trace in fig.data}
    fig.layout.template = go.layout.Template(
        layout=template.layout,
        data={kind: template.data[kind] for kind in used if template.data[kind]})


def report_file(store: Store, experiment_ids: Sequence[str]) -> ExportFile:
    """The report every caller writes or serves (CLI, Compare), as bytes with its file name."""
    html = render_report(store, experiment_ids)
    return ExportFile(html.encode("utf-8"), file_name(experiment_ids), MIME)


def file_name(experiment_ids: Sequence[str]) -> str:
    """report-<first id>[-and-N-more].html: known before the report is built (a download
    button needs it up front)."""
    more = f"-and-{len(experiment_ids) - 1}-more" if len(experiment_ids) > 1 else ""
    return f"report-{experiment_ids[0]}{more}.html"


def render_report(store: Store, experiment_ids: Sequence[str]) -> str:
    """The whole report as one HTML document. LookupError for an unknown id or no runs."""
    experiments = [export_experiment(store, e) for e in experiment_ids]  # LookupError
    runs = store.load_runs([e["experiment_id"] for e in experiments])
    if runs.empty:
        raise LookupError("These experiments have no finished runs to report.")
    runs = analysis.grouped(runs)  # exactly as Compare groups them by default
    groups = analysis.ordered_groups(runs["group"])
    colors = figures.group_colors(groups)
    result = summary.summarize_runs(runs, analysis.default_baseline(groups), by="group")
    plots = ChartDivs()
    context = {
        "title": "Orchestration Lab report: " + ", ".join(sorted({e["scenario"]
                                                               for e in experiments})),
        "experiments": [_experiment(e, runs) for e in experiments],
        "groups": [title(g) for g in groups], "baseline": label(result["baseline"]),
        "summary_table": _table(analysis.summarize(runs, by=["group"])),
        "comparisons": [_comparison(b) for b in result["comparisons"]],
        "scoreboard": _table(summary.scoreboard(result)) if result["comparisons"] else None,
        "scoreboard_note": summary.SCOREBOARD_NOTE,
        "charts": _charts(runs, colors, plots),
        "frontier": {"sentence": result["frontier"]["sentence"],
                     "table": _table(frontier_table(result["frontier"]))}
        if result["frontier"]["points"] else None,
        "path_table": _table(paths.path_variance(runs, "group")),
        "deviation": summary.deviation_sentences(result),
        "failures": _failures(runs),
        "traces": [_trace(store, g, runs[runs["group"] == g], plots) for g in groups],
    }
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATES), autoescape=True,
                             undefined=jinja2.StrictUndefined, keep_trailing_newline=True)
    # Each field is redacted on its way in; this last pass also covers what no field names
    # (the charts' hover texts: span and agent names, paths).
    return redact(env.get_template(TEMPLATE).render(context))


def _experiment(exp: dict[str, Any], runs: pd.DataFrame) -> dict[str, Any]:
    """What the experiment was asked to do and where it ran: spec, backend, model, date."""
    mine = runs[runs["experiment_id"] == exp["experiment_id"]]
    models = sorted({str(m) for m in mine["model"].dropna()}) or ["not recorded"]
    return {"id": exp["experiment_id"], "scenario": exp["scenario"],
            "backend": redact(exp["backend"]), "models": redact(", ".join(models)),
            "variant": exp["variant"], "status": exp["status"], "runs": len(mine),
            "planned": exp["planned_runs"], "created": exp["created_at"],
            "finished": exp["finished_at"] or "not finished", "replay_of": exp["replay_of"],
            "spec": redact(json.dumps(exp["spec"], indent=2, ensure_ascii=False, default=str))}


def _comparison(block: dict[str, Any]) -> dict[str, Any]:
    """One comparison with the baseline: its sentences, then each figure's CI and test."""
    note, both = factor_note(block["group"], block["baseline"], block["factor"])
    rows = [[m["name"], *_estimate_cells(m)] for m in block["metrics"]]
    return {"heading": f"{title(block['group'])} vs {label(block['baseline'])}",
            "note": note, "warn": both, "sentences": block["sentences"],
            "table": Table(["figure", "estimate", "95% CI", "pairing", "test", "p",
                            "p (Holm)", "runs needed"], rows)}


def _estimate_cells(m: dict[str, Any]) -> list[str]:
    """A figure's estimate, interval, pairing and test as table cells ('—' where none)."""
    est, test = m.get("estimate"), m.get("test")
    fmt = "{:.2f}x" if m["kind"] == "ratio" else "{:+.3g}"
    cells = ([fmt.format(est["point"]), f"[{fmt.format(est['low'])}, {fmt.format(est['high'])}]",
              f"paired, {est['n']} pairs" if est["paired"] else f"unpaired, {est['n']} runs"]
             if est else [m.get("unavailable") or "too few runs", "—", "—"])
    cells += ([test["name"], _cell(test["p_value"]), _cell(test["p_adjusted"])] if test
              else ["—", "—", "—"])
    return [*cells, _cell(m.get("runs_needed"))]


def _charts(runs: pd.DataFrame, colors: figures.Colors, plots: ChartDivs) -> list[dict[str, Any]]:
    """Compare's charts in its order; where it draws none, its sentence why."""
    return [{"name": name, "note": item if isinstance(item, str) else None,
             "html": None if isinstance(item, str) else plots.html(item)}
            for name, item in figures.compare_charts(runs, "group", colors).items()]


def _failures(runs: pd.DataFrame) -> dict[str, Any] | None:
    """Failed runs per group and error class, each class with one example message (redacted),
    or None when every run ended ok."""
    failed = runs[runs["status"] != "ok"]
    if failed.empty:
        return None
    examples = []
    for (group, kind), rows in failed.groupby(
            ["group", failed["error_class"].fillna(failed["status"])], sort=True):
        first = rows.iloc[0]
        message = f"{first['error_type'] or first['status']}: {first['error_message'] or ''}"
        examples.append({"group": title(str(group)), "class": kind, "runs": len(rows),
                         "message": _clip(message, MAX_ERROR)})
    sentences = [f"{title(g)}: {analysis.failures_text(rows)}."
                 for g, rows in analysis.in_group_order(failed, ["group"])]
    return {"table": _table(analysis.failure_table(runs, "group")), "sentences": sentences,
            "examples": examples}


def _trace(store: Store, group: str, rows: pd.DataFrame, plots: ChartDivs) -> dict[str, Any]:
    """One example run of the group (the ok run nearest its median latency, else its first
    run): its waterfall and its steps, as the Trace page shows them."""
    pool = rows[rows["status"] == "ok"] if (rows["status"] == "ok").any() else rows
    run = pool.loc[(pool["wall_ms"] - pool["wall_ms"].median()).abs().idxmin()]
    spans = store.load_spans(str(run["run_id"]))
    failed_inside = figures.errored_ancestors(spans, set(HIDDEN_KINDS))
    steps = [{"depth": depth, "kind": s.kind, "name": redact(s.name),
              "ms": f"{s.end_ms - s.start_ms:,.0f}", "marked": bool(s.error) or
              s.span_id in failed_inside, "tokens": f"{s.input_tokens}+{s.output_tokens}"
              if s.kind == "generation" else "", "agent": redact(s.agent or ""),
              "model": redact(s.model or ""),
              "error": _clip(s.error, MAX_ERROR), "input": _clip(s.input, MAX_TEXT),
              "output": _clip(s.output, MAX_TEXT)}
             for depth, s in figures.span_depths(spans) if s.kind not in HIDDEN_KINDS]
    status = run["error_class"] or run["status"]
    return {"group": title(group), "run_id": run["run_id"], "input_id": run["input_id"],
            "repetition": int(run["repetition"]), "status": status,
            "wall_ms": f"{run['wall_ms']:,.0f}", "path": redact(str(run["path"])),
            "error": _clip(run["error_message"], MAX_ERROR),
            "final_output": _clip(run["final_output"], MAX_TEXT),
            "waterfall": plots.html(figures.waterfall(spans)), "steps": steps}


def _clip(text: str | None, limit: int) -> str:
    """Redacted text, cut at `limit` characters with a note of how much was left out."""
    if not text:
        return ""
    clean = redact(str(text))
    if len(clean) <= limit:
        return clean
    return f"{clean[:limit]}… ({len(clean) - limit:,} more characters)"


def _table(frame: pd.DataFrame) -> Table:
    """A summary frame's columns and display strings, in the frame's own order."""
    rows = [[_cell(v) for v in row] for row in frame.itertuples(index=False)]
    return Table([str(c) if str(c).startswith("class: ") else str(c).replace("_", " ")
                  for c in frame.columns], rows)  # an error class keeps its own name


def _cell(value: Any) -> str:
    """A table value for reading: '—' when missing, 4 significant digits for a float."""
    if analysis.is_missing(value) or value == "":
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:,.0f}" if abs(value) >= 1000 else f"{value:.4g}"
    return redact(str(value))
