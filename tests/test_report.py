"""The standalone HTML report: every section and chart, plotly inlined once, nothing fetched
from any host, failures by class, the CLI's bytes, no key, and its size."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import plotly.offline
import pytest
from agents.exceptions import ModelBehaviorError
from agents.testing import assistant_message
from markupsafe import escape
from sales_scripts import PICKER_USAGE, sales_backend, step

from orchlab.cli.main import main
from orchlab.present import figures, report
from orchlab.running.runner import ExperimentSpec, run_experiment
from orchlab.stats import analysis, summary
from orchlab.store.store import Store
from orchlab.testing.devserver import FakeOpenAIServer

FORMS = ["code", "plan", "guarded", "llm"]
FAKE_KEY = "sk-orchlab-report-key-0a1b2c3d4e5f6789"
SECTIONS = ("experiments", "findings", "charts", "paths", "failures", "traces")
REMOTE = re.compile(
    r"""(?:\b(?:src|href|action|poster|data)\s*=\s*["']?\s*|url\(\s*["']?\s*|@import\s+["']?\s*)
        (?:https?:)?//""", re.I | re.X)
"""A reference to another host in markup or CSS: src=, href=, url(), @import."""
MB = 1024 * 1024


def failing_picker(every: int, message: str = "picker wrote nonsense") -> Callable[[], Any]:
    """A picker script that raises (malformed_output) every `every`-th time it is built: 1,
    every run the picker answers in (code and plan) fails; above 1, which runs fail depends
    on the order runs build their agents."""
    calls = {"n": 0}

    def script() -> list[Any]:
        calls["n"] += 1
        if calls["n"] % every == 0:
            return [ModelBehaviorError(message)]
        return [step([assistant_message("humorous")], PICKER_USAGE)]

    return script


def experiment(store: Store, reps: int = 2, **scripts: Any) -> str:
    spec = ExperimentSpec("sales_email", forms=FORMS, inputs=["dana-acme"], repetitions=reps,
                          concurrency=8, backend="scripted:sales")
    return run_experiment(spec, store, backend=sales_backend(**scripts)).experiment_id


def without_plotly_js(html: str) -> str:
    """The document with plotly's own bundle cut out: its string literals name hosts (map
    tile attributions, the modebar logo link) that these charts never load."""
    return html.replace(plotly.offline.get_plotlyjs(), "")


def grouped(store: Store, exp_id: str) -> Any:
    """The experiment's runs grouped as Compare groups them."""
    return analysis.grouped(store.load_runs([exp_id]))


def expected_charts(store: Store, exp_id: str) -> dict[str, Any]:
    """What Compare draws for this experiment."""
    runs = grouped(store, exp_id)
    return figures.compare_charts(runs, "group",
                                  figures.group_colors(list(runs["group"].unique())))


def test_the_report_has_every_section_every_chart_and_plotly_js_once(store: Store) -> None:
    exp_id = experiment(store)
    html = report.render_report(store, [exp_id])
    for section in SECTIONS:
        assert f'<section id="{section}">' in html, section
    charts = expected_charts(store, exp_id)
    drawn = [name for name, item in charts.items() if not isinstance(item, str)]
    assert re.findall(r'data-chart="(\w+)"', html) == [*charts, *["waterfall"] * len(FORMS)]
    divs = re.findall(r'<div id="(chart-\d+)" class="plotly-graph-div"', html)
    assert divs == [f"chart-{i}" for i in range(len(drawn) + len(FORMS))]
    assert html.count(plotly.offline.get_plotlyjs()) == 1  # inlined, exactly once
    assert html.count("Plotly.newPlot(") == len(divs)
    assert "cdn.plot.ly" not in without_plotly_js(html)
    for needed in (exp_id, "scripted:sales", "gpt-4.1-mini", "original", "p (Holm)",
                   "95% CI", "Guarded LLM vs code-orchestrated", "distinct paths"):
        assert needed in html, needed
    result = summary.summarize_runs(grouped(store, exp_id), by="group")
    sentences = [s for block in result["comparisons"] for s in block["sentences"]]
    assert len(sentences) > 10
    for sentence in sentences:  # the findings are the summary's own, word for word
        assert f"<li>{escape(sentence)}</li>" in html, sentence
    assert html.count('<table class="steps">') == len(FORMS)  # a step list per form
    assert "Every run ended normally." in html
    board = summary.scoreboard(result)  # the report opens with Compare's scoreboard
    assert html.index('<section id="scoreboard">') < html.index('<section id="experiments">')
    for cell in board.iloc[:, 1:].to_numpy().ravel():
        assert escape(cell) in html, cell


def test_nothing_in_the_report_points_at_another_host(store: Store) -> None:
    html = without_plotly_js(report.render_report(store, [experiment(store)]))
    assert REMOTE.findall(html) == []
    assert "<link" not in html and "@font-face" not in html  # no stylesheet, no web font
    assert REMOTE.findall('<img src="https://x.example/a.png"> url(//cdn.example/f.woff)') \
        == ['src="https://', "url(//"]  # the pattern does see a remote reference


def test_failed_runs_show_by_class_with_an_example(store: Store) -> None:
    exp_id = experiment(store, reps=2, picker=failing_picker(1, "the picker said nothing"))
    runs = store.load_runs([exp_id])
    failed = runs[runs["status"] != "ok"]
    assert set(failed["error_class"]) == {"malformed_output"}
    assert set(failed["form"]) == {"code", "plan"}
    html = report.render_report(store, [exp_id])
    section = html[html.index('<section id="failures">'):html.index('<section id="traces">')]
    assert "Every run ended normally." not in section
    assert "<th>class: malformed_output</th>" in section
    for form, rows in failed.groupby("form"):
        assert f"{len(rows)} malformed_output." in section, form
    assert "ModelBehaviorError: the picker said nothing" in section


def test_the_cli_writes_the_same_bytes_as_the_function(
        store: Store, store_path: Path, tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    first, second = experiment(store, reps=1), experiment(store, reps=1)
    out = tmp_path / "report.html"
    assert main(["report", first[:-1], second, "-o", str(out), "--store", str(store_path)]) == 0
    assert out.read_bytes() == report.report_file(store, [first, second]).data
    assert report.report_file(store, [first]).file_name == f"report-{first}.html"
    assert main(["report", "no-such-experiment", "-o", str(tmp_path / "x.html"),
                 "--store", str(store_path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "No single experiment matches 'no-such-experiment'" in err[0]
    assert not (tmp_path / "x.html").exists()


def test_a_key_stored_before_it_was_configured_never_reaches_the_report(
        store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    """Text stored while no key was set is not redacted in the store; the report redacts it
    again, so a key configured since then never leaves the machine in a report."""
    def writer() -> list[Any]:
        return [step([assistant_message(f"Subject: hi\n\nuse {FAKE_KEY} to log in")], (10, 5))]

    exp_id = experiment(store, reps=3, humorous_writer=writer,
                        picker=failing_picker(1, f"bad key {FAKE_KEY}"))
    runs = store.load_runs([exp_id])
    assert runs["error_message"].str.contains(FAKE_KEY).any()  # stored as it was...
    assert any(FAKE_KEY in (s.output or "") for run_id in runs["run_id"]
               for s in store.load_spans(run_id))
    monkeypatch.setenv("OPENAI_API_KEY", FAKE_KEY)
    html = report.render_report(store, [exp_id])
    assert FAKE_KEY not in html  # ...and redacted on its way into the report
    assert "[REDACTED]" in html


def test_keys_never_reach_a_report_of_runs_against_a_server(
        store: Store, store_path: Path, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """As tests/test_reliability.py does for the store and exports: a key in the
    environment, used against the fake server with faults, appears nowhere in the report."""
    monkeypatch.setenv("OPENAI_API_KEY", FAKE_KEY)
    monkeypatch.setenv("ORCHLAB_COMPAT_API_KEY", FAKE_KEY)
    with FakeOpenAIServer(api_key=FAKE_KEY, faults={"server_500": 0.2, "unknown_tool": 0.1},
                          seed=5) as server:
        monkeypatch.setenv("ORCHLAB_COMPAT_BASE_URL", server.base_url)
        spec = ExperimentSpec("sales_email", repetitions=2,
                              backend=f"compat:fake-model@{server.base_url}")
        exp_id = run_experiment(spec, store).experiment_id
    assert set(server.stats.auth_headers) == {f"Bearer {FAKE_KEY}"}
    out = tmp_path / "report.html"
    assert main(["report", exp_id, "-o", str(out), "--store", str(store_path)]) == 0
    assert FAKE_KEY not in out.read_text(encoding="utf-8")
    assert '<section id="failures">' in out.read_text(encoding="utf-8")


def test_a_100_run_report_is_under_5_mb(store: Store) -> None:
    """Plotly's own JavaScript is most of it (about 4.6 MB, inlined once)."""
    exp_id = experiment(store, reps=25, picker=failing_picker(9))
    assert len(store.load_runs([exp_id])) == 100
    size = len(report.report_file(store, [exp_id]).data)
    assert size < 5 * MB, f"{size:,} bytes"


def test_compare_serves_the_cli_bytes_for_the_chosen_experiments(
        app_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Compare's "Download report" builds its bytes only when clicked (a callable); called,
    they are the report of the experiments chosen there, as the CLI writes it."""
    import streamlit as st
    from apptest_pages import app_on

    store = Store(app_env)
    first, second = experiment(store, reps=1), experiment(store, reps=1)
    served: dict[str, Any] = {}
    original = st.download_button

    def spy(label: str, data: Any, **kwargs: Any) -> bool:
        served.update(label=label, data=data, **kwargs)
        return bool(original(label, data, **kwargs))

    monkeypatch.setattr(st, "download_button", spy)
    at = app_on("views/compare.py")
    box = at.multiselect(key="compare_experiments_sales_email")
    box.set_value(list(box.options)).run()
    assert not at.exception, at.exception
    assert served["label"] == "Download report" and callable(served["data"])
    chosen = [labels.rsplit(" · ", 1)[1] for labels in box.value]
    assert sorted(chosen) == sorted([first, second])
    assert served["data"]() == report.report_file(store, chosen).data
    assert served["file_name"] == report.file_name(chosen) and served["mime"] == "text/html"
    store.close()
