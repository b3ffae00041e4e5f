"""Model, tool and file text is shown as text in a real browser (issue 25).

A model that writes `![](https://host/?d=...)` into an email subject, or a file that names an
experiment `<script>...`, must not make any viewer's browser fetch a URL, run a script or show
a link. Here the "host" is a recorder on 127.0.0.1 (never the internet) that logs every request
it gets, and the hostile text goes everywhere the lab shows such text: a fake model server
writes it into drafts, email To and Subject and final answers (the live race, presenter mode,
the run cards); an experiment file carries it in its id, variant, span names, errors and path
(Trace, History with its import, Compare, Agents, the HTML report). Every page is then checked:
no request reached the recorder, no script set the flag, no element links or loads from it,
and nothing was drawn from Streamlit's markdown (colours, icons, emoji, arrows).
"""

from __future__ import annotations

import contextlib
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from test_browser_e2e import ARTIFACTS, CHROMIUM, CHROMIUM_FLAGS, choose, open_page, streamlit_app

from orchlab.testing.devserver import FakeOpenAIServer, Policy, policy_reply
from orchlab.testing.recording import RecordingServer

pytestmark = [pytest.mark.browser]

FLAG = "__orchlab_injected"
"""The window property an injected script or event handler would set."""
PIXEL = bytes.fromhex("47494638396101000100800000000000ffffff21f90401000000002c0000000001"
                      "0001000002024401003b")
"""A 1x1 GIF: what the recorder answers, so an image that loads raises no error either."""
ATTRIBUTES = ("src", "href", "xlink:href", "srcset", "poster", "action", "formaction", "data",
              "background")
POINTING = """([host, names]) => Array.from(document.querySelectorAll('*')).flatMap(el =>
  Array.from(el.attributes)
    .filter(a => names.includes(a.name) || (a.name === 'style' && a.value.includes('url(')))
    .filter(a => a.value.includes(host))
    .map(a => `${el.tagName} ${a.name}=${a.value}`))"""
"""Every element attribute that would load or link to the recorder."""
DRAWN = r"""() => ({
  coloured: document.querySelectorAll('.stMarkdownColoredText, .stMarkdownColoredBackground')
    .length,
  icons: document.querySelectorAll('.stMarkdown [role="img"][aria-label$=" icon"]').length,
  logos: document.querySelectorAll('img[alt="Streamlit logo"]').length,
  emoji: document.body.innerText.includes('\u{1F604}'),
  arrows: document.body.innerText.includes('a \u2192 b'),
})"""
"""What Streamlit's markdown would draw from text: colours, icons, its logo, emoji, arrows."""


@pytest.fixture
def recorder() -> Iterator[RecordingServer]:
    with RecordingServer(PIXEL, "image/gif") as running:
        yield running


def hostile(base: str, tag: str) -> str:
    """One line of text that, interpreted as markdown or HTML, fetches, runs, links and
    colours; `tag` says in the recorder's log which field it came from."""
    at = f"{base}/{tag}"
    return (f"![pixel]({at}/md-image) <img src=\"{at}/html-image\" "
            f"onerror=\"window.{FLAG}='{tag}'\"> <script>window.{FLAG}='{tag}';"
            f"fetch('{at}/script')</script> [a link]({at}/md-link) <{at}/autolink> {at}/bare "
            f"<a href=\"{at}/anchor\">anchor</a> :red[red] :material/warning: :streamlit: "
            f":smile: a -> b **{tag}**")


def hostile_policy(base: str) -> Policy:
    """The fake server's policy, but every draft, email To and Subject and final answer is
    hostile text (the picker still names a writer, so the code form sends its email)."""

    def reply(request: dict[str, Any]) -> dict[str, Any]:
        message = policy_reply(request)
        calls = message.get("tool_calls") or []
        for call in calls:
            if call["function"]["name"] == "send_email":
                args = json.loads(call["function"]["arguments"])
                args.update(to=hostile(base, "to"), subject=hostile(base, "subject"))
                call["function"]["arguments"] = json.dumps(args)
        if calls or message.get("content") == "concise":
            return message
        if str(message.get("content")).startswith("Subject:"):
            return {"role": "assistant",
                    "content": f"Subject: {hostile(base, 'draft-subject')}\n\n"
                               f"{hostile(base, 'draft')}"}
        return {"role": "assistant", "content": hostile(base, "answer")}

    return reply


def assert_inert(page: Any, recorder: RecordingServer, where: str) -> None:
    """Nothing the hostile text holds had any effect on this page: no request, no script, no
    link or image pointing at the recorder, nothing drawn from markdown syntax."""
    page.wait_for_timeout(1500)  # an image or a fetch goes out asynchronously
    assert recorder.paths == [], f"{where}: the browser requested {recorder.paths}"
    assert page.evaluate(f"() => window.{FLAG}") is None, f"{where}: an injected script ran"
    pointing = page.evaluate(POINTING, [recorder.host, list(ATTRIBUTES)])
    assert pointing == [], f"{where}: elements load or link to the host: {pointing}"
    drawn = page.evaluate(DRAWN)
    assert drawn == {"coloured": 0, "icons": 0, "logos": 0, "emoji": False, "arrows": False}, \
        f"{where}: text was drawn as markdown: {drawn}"


OPEN_EXPANDERS = """main => {
  const closed = Array.from(main.querySelectorAll('[data-testid="stExpander"]'))
    .map(expander => expander.querySelector('details'))
    .filter(details => details !== null && !details.open);
  closed.forEach(details => details.querySelector('summary').click());
  return closed.length;
}"""
"""Click the summary of every closed expander, all in one go (one by one through Playwright,
each click waiting for the page to settle, took 12 s on Trace)."""


def open_expanders(page: Any) -> None:
    """Open every expander of the main area, so what it holds is drawn."""
    from playwright.sync_api import expect

    main = page.get_by_test_id("stMain")
    main.evaluate(OPEN_EXPANDERS)
    expect(main.get_by_test_id("stExpander").locator("details:not([open])")).to_have_count(0)
    page.wait_for_timeout(500)


def test_a_live_run_shows_the_models_text_as_text(tmp_path: Path,
                                                  recorder: RecordingServer) -> None:
    """Presenter mode (the race live, then each form's final output), then the run cards with
    their outboxes: the model wrote every draft, To, Subject and answer."""
    from playwright.sync_api import expect, sync_playwright

    ARTIFACTS.mkdir(exist_ok=True)
    # each model call takes 1 s, so the runs stay in flight long enough for the race to be
    # drawn while they run, even when the machine is busy (at 0.5 s a loaded CI missed it)
    with FakeOpenAIServer(latency_s=1.0, policy=hostile_policy(recorder.url)) as server, \
            streamlit_app(tmp_path / "live.sqlite", f"compat:fake-model@{server.base_url}") \
            as url, sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
        page = open_page(browser, url, path="?present=1")
        main = page.get_by_test_id("stMain")
        main.get_by_role("button", name="Start").click()
        expect(main.get_by_text(re.compile(r" · running "))).not_to_have_count(0, timeout=30_000)
        assert_inert(page, recorder, "the live race")
        expect(main.get_by_text(re.compile(r"^Experiment exp-\S+: completed, 2 runs saved"))
               ).to_be_visible(timeout=60_000)
        assert_inert(page, recorder, "presenter mode's final outputs")
        expect(main.get_by_text(re.compile(r"!\[pixel\]\(.*/answer/md-image\)"))
               ).to_have_count(1)  # the LLM form's answer, as written
        expect(main.get_by_text(re.compile(r"<script>window\.\w+='draft'"))).to_have_count(1)
        main.get_by_test_id("stText").last.scroll_into_view_if_needed()
        page.screenshot(path=str(ARTIFACTS / "injection_presenter.png"), full_page=True)

        main.get_by_text("Presenter mode").click()  # off: the run cards, with the outboxes
        expect(main.get_by_text(re.compile(r"^Outbox \("))).to_have_count(2, timeout=30_000)
        open_expanders(page)
        assert_inert(page, recorder, "the run cards and outboxes")
        expect(main.get_by_text(re.compile(r"!\[pixel\]\(.*/to/md-image\)"))).to_have_count(1)
        page.screenshot(path=str(ARTIFACTS / "injection_run_cards.png"), full_page=True)
        browser.close()


def hostile_file(document: dict[str, Any], base: str) -> dict[str, Any]:
    """An exported experiment as someone else's file could be: hostile id and variant (new
    run ids, so it sits beside the one exported), stored input rows with a hostile label and
    data, and an LLM run that failed with a hostile error, tool name, span error, agent and
    path."""
    exp_id = f"exp-theirs-{hostile(base, 'experiment-id')}"
    variant = hostile(base, "variant")
    document["experiment"].update(experiment_id=exp_id, variant=variant)
    document["experiment"]["spec"]["variant"] = variant
    for row in document["experiment"]["spec"]["input_rows"]:  # History's inputs table
        row["label"] = hostile(base, "input-label")
        row["data"]["company"] = hostile(base, "input-data")
    for run in document["runs"]:
        run.update(experiment_id=exp_id, run_id=f"{run['run_id']}-theirs")
        if run["form"] != "llm":
            continue
        run.update(variant=variant, status="error", error_class="other", success=None,
                   error_type=hostile(base, "error-type"),
                   error_message=hostile(base, "error-message"),
                   path=hostile(base, "path"), price_source=hostile(base, "price"))
        run["path_steps"][0]["name"] = hostile(base, "path-step")
        for span in run["spans"]:
            if span["kind"] == "function" and span["name"] == "send_email":
                span.update(name=hostile(base, "tool-name"), error=hostile(base, "span-error"),
                            agent=hostile(base, "agent"))
            if span["kind"] == "generation":
                span["model"] = hostile(base, "model")
    return document


def test_stored_and_imported_text_is_shown_as_text(tmp_path: Path,
                                                   recorder: RecordingServer) -> None:
    """Trace, History (with the file imported again there), Compare (the file's experiment
    beside the one it was made from: its variant names groups), Agents and the report, on a
    store holding someone else's hostile experiment file and a hostile saved variant."""
    from playwright.sync_api import expect, sync_playwright

    from orchlab.present import report
    from orchlab.running.runner import ExperimentSpec, run_experiment
    from orchlab.store import export, importer
    from orchlab.store.store import Store

    store_file = tmp_path / "stored.sqlite"
    store = Store(store_file)
    with FakeOpenAIServer(policy=hostile_policy(recorder.url)) as server:
        spec = ExperimentSpec("sales_email", inputs=["dana-acme"],
                              backend=f"compat:fake-model@{server.base_url}")
        source = run_experiment(spec, store).experiment_id
    document = hostile_file(json.loads(export.export_file(store, source, "json").data),
                            recorder.url)
    theirs = tmp_path / "theirs.json"
    theirs.write_text(json.dumps(document), encoding="utf-8")
    imported = importer.import_file(store, theirs).experiment_id
    store.save_variant("sales_email", hostile(recorder.url, "saved-variant"),
                       {"sales_manager": "---\nname: sales_manager\n---\nHello."})
    report_file = tmp_path / "report.html"
    report_file.write_bytes(report.report_file(store, [imported, source]).data)
    store.close()

    with streamlit_app(store_file, "compat:none@http://127.0.0.1:9/v1") as url, \
            sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)

        page = open_page(browser, url, "trace", "Trace")
        choose(page, "Experiment", re.compile(re.escape("exp-theirs-")))
        choose(page, "Run", re.compile(r"^llm · "))
        expect(page.get_by_test_id("stAlertContentError")).not_to_have_count(0, timeout=30_000)
        open_expanders(page)
        assert_inert(page, recorder, "Trace")
        expect(page.get_by_text(re.compile(r"error-message/md-image"))).not_to_have_count(0)
        page.screenshot(path=str(ARTIFACTS / "injection_trace.png"), full_page=True)

        page = open_page(browser, url, "history", "History")
        choose(page, "Experiment", re.compile(re.escape("exp-theirs-")))
        open_expanders(page)
        page.locator("input[type=file]").set_input_files(str(theirs))  # its id is taken now
        expect(page.get_by_text(re.compile(r"^The store already held"))).to_be_visible(
            timeout=30_000)
        assert_inert(page, recorder, "History")

        page = open_page(browser, url)  # someone else's inputs file, uploaded on the Run page
        cases = tmp_path / "cases.jsonl"
        cases.write_text(json.dumps({"id": "theirs", "label": hostile(recorder.url, "upload"),
                                     "name": "x", "role": "y", "company": "z",
                                     "email": "e@example.com"}) + "\n", encoding="utf-8")
        page.locator("input[type=file]").set_input_files(str(cases))
        expect(page.get_by_text("1 input from cases.jsonl")).to_be_visible(timeout=30_000)
        expect(page.get_by_role("button", name=re.compile(r"^Remove !\[pixel\]"))
               ).to_have_count(1)
        assert_inert(page, recorder, "the Run page's inputs upload")
        bad = tmp_path / "bad.jsonl"
        row = json.dumps({"id": hostile(recorder.url, "bad-id")}) + "\n"
        bad.write_text(row + row, encoding="utf-8")  # the refusal names the repeated id
        page.locator("input[type=file]").set_input_files(str(bad))
        expect(page.get_by_text(re.compile(r"^bad\.jsonl lines 1 and 2 both have id"))
               ).to_be_visible(timeout=30_000)
        assert_inert(page, recorder, "the Run page's refusal of an inputs file")

        page = open_page(browser, url, "compare", "Compare")
        page.get_by_role("combobox", name="Experiments", exact=True).click()
        page.get_by_role("option").first.click()  # the other one: both are compared
        page.keyboard.press("Escape")
        expect(page.get_by_text(re.compile(r"^Runs compared: 2 runs from "))).to_be_visible(
            timeout=30_000)
        expect(page.get_by_role("heading", name="Findings")).to_be_visible(timeout=30_000)
        open_expanders(page)
        assert_inert(page, recorder, "Compare")
        names = page.get_by_role("tab").all_inner_texts()
        assert len(names) == 9, names
        for name in names[1:]:  # a tab is drawn when it is opened: each one in turn
            page.get_by_role("tab", name=name, exact=True).click()
            expect(page.get_by_role("tab", name=name, exact=True)).to_have_attribute(
                "aria-selected", "true")
            expect(page.get_by_role("tabpanel").locator(  # the open tab's own content
                '[data-testid="stElementContainer"]').first).to_be_visible(timeout=30_000)
            expect(page.get_by_test_id("stStatusWidget")).to_have_count(0, timeout=30_000)
            assert_inert(page, recorder, f"Compare's {name} tab")
        page.screenshot(path=str(ARTIFACTS / "injection_compare.png"), full_page=True)

        page = open_page(browser, url, "agents", "Agents")
        expect(page.get_by_role("heading", name="Saved variants")).to_be_visible()
        assert_inert(page, recorder, "Agents")
        expect(page.get_by_text(re.compile(r"saved-variant/md-image"))).not_to_have_count(0)

        page = browser.new_page()
        page.goto(report_file.as_uri())
        page.wait_for_load_state("load")
        expect(page.locator(".js-plotly-plot").first).to_be_visible(timeout=30_000)
        assert_inert(page, recorder, "the report")
        with contextlib.suppress(Exception):
            page.screenshot(path=str(ARTIFACTS / "injection_report.png"), full_page=True)
        browser.close()
