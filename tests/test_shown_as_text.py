"""Text a model, a tool or someone else's file wrote stays text where the pages and the report
place it: `escape_md` and `code_md` (markdown), `figures.plot_text` (plotly's pseudo-HTML) and
the path diagram's DOT. The browser test (tests/test_browser_injection.py) shows the effect in
chromium; these pin each escape down on its own."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from xml.etree import ElementTree

import pytest

from orchlab.core.records import SpanRecord
from orchlab.measure.paths import PathStep
from orchlab.present import figures
from orchlab.present.figures import path_picture, plot_text, waterfall, waterfall_pair
from orchlab.present.race import Lane
from orchlab.present.race_figures import race_figure, race_picture
from orchlab.stats import analysis
from views._widgets import code_md, escape_md

HOSTILE = [
    "![pixel](http://127.0.0.1:9/x.png)",
    '<img src="http://127.0.0.1:9/y.png" onerror="window.x=1">',
    "<script>window.x=1</script>",
    "[a link](http://127.0.0.1:9/) and <http://127.0.0.1:9/auto>",
    "bare http://127.0.0.1:9/bare, https://a.example, www.example.com, dana@acme.example",
    ":red[red] :blue-background[x] :material/warning: :streamlit: :smile: :+1:",
    "**bold** __bold__ *em* _em_ ~~gone~~ `code` $x^2$ $$y$$ &lt;b&gt; &#60;i&#62;",
    "# heading\n- item\n+ item\n* item\n1. one\n2) two\n> quote\n    code block\ntext\n===\n---",
    "| a | b |\n|---|---|\n| 1 | 2 |",
    "a -> b <- c <-> d -- e >= f <= g ~= h",
    "tool_budget (max_turns): ok_ x_ _y \\*still text\\* back\\slash",
    "[x]: http://127.0.0.1:9/ref\n[ref][x] [^1]\n\n[^1]: note",
    "ends in a bracket [x]",
]
SYNTAX = set("\\`*<&|~$")
"""Characters that must never reach the markdown unescaped (and a `]` never opens a link's
target, a reference or a definition)."""
ZWSP, NBSP = "\u200b", "\u00a0"


def unescaped(markdown: str) -> str:
    """The markdown with its backslash escapes taken out: what is left must hold no syntax."""
    return re.sub(r"\\[!-/:-@\[-`{-~]", "", markdown)


def text_nodes(markdown: str) -> str:
    """The text the parser hands on, escapes resolved: what GFM and Streamlit rewrite after
    parsing (bare URLs, icons, emoji, arrows) is searched for in this."""
    return re.sub(r"\\([!-/:-@\[-`{-~])", r"\1", markdown)


def shown(markdown: str) -> str:
    """What a reader sees: escapes resolved, invisible breaks gone, hard breaks as lines."""
    return text_nodes(markdown).replace(ZWSP, "").replace("  \n", "\n").replace(NBSP, " ")


@pytest.mark.parametrize("text", HOSTILE)
def test_escaped_text_reads_as_written_and_holds_no_syntax(text: str) -> None:
    escaped = escape_md(text)
    assert shown(escaped) == text
    bare = unescaped(escaped)
    assert not SYNTAX & set(bare), bare
    assert not re.search(r"\]([(\[:]|$)", bare), bare
    assert not re.search(r"_[^A-Za-z0-9]|[^A-Za-z0-9]_|:[A-Za-z]", f" {bare} ")
    for line in escaped.split("  \n"):
        assert not re.match(r"[ \t]|>|[#+=-]([ \t#+=-]|$)|\d+[.)]([ \t]|$)", line), line
    after = text_nodes(escaped)
    assert not re.search(r"(?i)https?:|www\.|[^\u200b]@|:[\w+-]+:|:material", after), after
    assert not re.search(r"(?<!\S)(->|<-|<->|--|>=|<=|~=)(?!\S)", after), after


def test_what_the_lab_writes_around_it_is_left_as_written() -> None:
    """Ids, numbers and the lab's own sentences pass unchanged: pages and their tests read the
    same words."""
    for text in ("exp-20261205-112207-a33107d2", "Experiment exp-1: completed, 2 runs saved",
                 "LLM-orchestrated · terse", "error (max_turns): stopped at 12.5 s",
                 "dana-acme #0 · 1,234 ms", "workers > 1 needs a backend",
                 "1.54x [95% CI 1.15, 2.06] (paired t-test on log ratios p = 0.025)"):
        assert escape_md(text) == text


@pytest.mark.parametrize("text", ["plain", "a`b", "``x``", "`edge`", "x\n\n- not a list",
                                  "<img src=x>"])
def test_a_code_span_holds_the_text_whole(text: str) -> None:
    span = code_md(text)
    fence = re.match(r"`+", span)
    assert fence is not None and span.endswith(fence.group(0))
    inner = span[len(fence.group(0)):-len(fence.group(0))]
    assert fence.group(0) not in inner and "\n" not in inner
    assert inner.strip() == re.sub(r"[\r\n]+", " ", text).strip()


def strings(value: Any) -> Iterator[str]:
    """Every string inside a figure's dict (data, layout, annotations)."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from strings(item)
    elif isinstance(value, list | tuple):
        for item in value:
            yield from strings(item)
    elif hasattr(value, "tolist"):
        yield from strings(value.tolist())


def markup(fig: Any) -> list[str]:
    """Tags plotly would draw (a link, an image, a script) in any of the figure's texts."""
    return [s for s in strings(fig.to_plotly_json()) if re.search(r"<(a|img|script)\b", s, re.I)]


TAG = '<a href="http://127.0.0.1:9/">a</a><img src=x><script>x=1</script>'


def spans_named(name: str) -> list[SpanRecord]:
    return [SpanRecord("s1", None, "agent", name, name, 0.0, 30.0),
            SpanRecord("s2", "s1", "function", name, name, 1.0, 20.0),
            SpanRecord("s3", "s1", "generation", "m", name, 2.0, 10.0, model=name)]


def test_span_names_in_waterfalls_and_the_race_are_text() -> None:
    spans = spans_named(TAG)
    assert markup(waterfall(spans)) == []
    assert markup(waterfall_pair(spans, spans, f"A: {TAG}", f"B: {TAG}")) == []
    lane = Lane(form="llm", run_id="r", input_id=TAG, repetition=0, spans=spans,
                running=f"{TAG} (tool)")
    assert markup(race_figure([lane])) == []
    picture = ElementTree.fromstring(race_picture([lane]))  # an image: its names are text
    assert {e.tag.split("}")[1] for e in picture.iter()} <= {
        "svg", "defs", "pattern", "rect", "line", "text"}
    assert any(TAG in "".join(t.itertext()) for t in picture.iterfind(".//{*}text"))
    assert any(plot_text(TAG) in s for s in strings(waterfall(spans).to_plotly_json()))


def test_compare_charts_show_groups_paths_and_agents_as_text(tmp_path: Path) -> None:
    """Every chart Compare and the report draw, with a variant, a path, an agent, an input and
    an outcome named by someone's file."""
    from orchlab.running.runner import ExperimentSpec, run_experiment
    from orchlab.store.store import Store
    from orchlab.testing.devserver import FakeOpenAIServer

    store = Store(tmp_path / "charts.sqlite")
    with FakeOpenAIServer() as server:
        spec = ExperimentSpec("sales_email", inputs=["dana-acme"], repetitions=2,
                              backend=f"compat:fake-model@{server.base_url}")
        runs = store.load_runs([run_experiment(spec, store).experiment_id])
    store.close()
    runs = runs.assign(variant=[TAG if f == "llm" else "original" for f in runs["form"]],
                       path=[f"{p} > {TAG}" for p in runs["path"]],
                       input_id=TAG, run_id=[f"{r}{TAG}" for r in runs["run_id"]])
    runs["per_agent"] = [{TAG: next(iter(a.values()))} for a in runs["per_agent"]]
    runs["outcome"] = [{**o, TAG: True, f"{TAG}n": 2} for o in runs["outcome"]]
    runs = analysis.grouped(runs)
    colors = figures.group_colors(analysis.ordered_groups(runs["group"]))
    charts = figures.compare_charts(runs, "group", colors)
    drawn = {name: markup(fig) for name, fig in charts.items() if not isinstance(fig, str)}
    assert drawn and all(found == [] for found in drawn.values()), drawn


def test_a_step_name_in_the_path_picture_is_text() -> None:
    """A name with tags, quotes or a line break is a box's text, not the picture's markup."""
    name = f'x\\"];evil [URL="http://127.0.0.1:9/" {TAG}'
    step: PathStep = {"name": name, "kind": "function", "steps": []}
    picture = ElementTree.fromstring(path_picture([step, step]))
    assert {e.tag.split("}")[1] for e in picture.iter()} <= {
        "svg", "defs", "marker", "path", "rect", "line", "text"}
    texts = ["".join(t.itertext()) for t in picture.iterfind("{*}text")]
    assert len(texts) == 2 and all(t.startswith('x\\"];evil [URL="http://127.0.0.1:9/" <a ')
                                   for t in texts), texts


JUDGE_SAYS = "![x](http://127.0.0.1:9/x.png) **fine** <img src=x> :red[red]"
"""A judge's explanation written as markdown that would fetch a URL, colour and embolden."""


def test_a_judge_s_explanation_is_text_on_trace_and_compare(app_env: Path) -> None:
    """The judge model's explanation reaches Trace as `st.text` and Compare as a table cell,
    never as markdown: no markdown element on either page holds its image or its tags."""
    from apptest_pages import app_on
    from test_judge_pages import judge_backend, judged, sales_runs

    exp_id, _ = sales_runs(app_env)
    judged(app_env, exp_id, judge_backend(explanation=JUDGE_SAYS))

    def markdown_of(at: Any) -> list[str]:
        return [e.value for kind in ("markdown", "caption", "success", "warning", "error",
                                     "info") for e in at.get(kind)]

    trace = app_on("views/trace.py")
    assert JUDGE_SAYS in [t.value for t in trace.text]
    compare = app_on("views/compare.py")
    said = next(d.value for d in compare.dataframe if "Explanation" in d.value.columns)
    assert said["Explanation"].tolist() == [JUDGE_SAYS] * 2
    for at in (trace, compare):
        leaked = [m for m in markdown_of(at) if "](http" in m or "<img" in m or ":red[" in m]
        assert leaked == []
