"""A class on one dashboard: N participants press Run at about the same moment (issue 30).

A fake OpenAI-compatible server answers every model call after exactly `--latency` seconds
(`orchlab.testing.devserver`, a process of its own). Per session count N in `--sessions`, a fresh
store and one `streamlit run app.py` (headless, a free port of 127.0.0.1, the fake server as
its backend, `ORCHLAB_WORKSHOP=1` in its environment) are driven by Debian's chromium through
Playwright: one browser, one browser context per participant (separate cookies and storage,
i.e. separate people; each context's one tab is one Streamlit session). Each session opens the
Run page, gives its name if the page asks for one ("Your name", "Join the class"), and
chooses a small experiment: the default scenario (sales_email), its two default forms, its
first input, `--repetitions` repetitions (2: four runs).

The dashboard and the fake server each run in a session of their own (OWN_SESSIONS below).

- Solo: one session presses Run alone and waits for its result.
- Class: N sessions press Run one right after the other (the spread is printed) and
  wait for their results; the solo participant, still on its result, clicks Compare in the
  sidebar as soon as the newest of the N experiments has two runs stored (i.e. while the
  class's results arrive), which opens on its own experiment, and waits until its findings
  and first chart are drawn and the page has settled.

Measured per experiment: its own duration, from the store (the experiment record's
created_at to its finished_at: stored by the experiment process, so no page is timed), and
the delay from its finished_at to the moment its page showed the final panel ("Experiment
exp-…: completed, 4 runs saved"), time-stamped in the page by a MutationObserver (browser
and store share this machine's clock; the driver's polling adds nothing), split where the
result's websocket message reached the browser (`Delivery`: stamped by chromium's network
service, not by the page's renderer, which may be waiting for the CPU). Printed per N: the
solo time, the median and max experiment time, the ratio median/solo (target <= 2), the
median and max result delay (target <= 2 s) and its two parts, Compare's open time while the
results arrive (target <= 5 s) and once the class is idle, and the CPU seconds the
dashboard's server process, its experiment process and chromium used meanwhile. The last
lines give the two ratios per N: `experiment_ratio` (median/solo) and the result delay and
Compare time.

    python bench/classroom.py [--sessions 10,20] [--latency 0.3] [--repetitions 2]

A short run (the test suite's; its figures are not the measurement):

    python bench/classroom.py --sessions 2 --latency 0.05 --repetitions 1
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "bench")]
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_FLAGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic",
                  "--no-first-run", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync",
                  # Each participant looks at their own tab; one browser's twenty tabs would
                  # otherwise count as hidden, and hidden tabs' timers (which ask Streamlit for
                  # the live panel's redraws) are slowed to once a minute.
                  "--disable-background-timer-throttling", "--disable-renderer-backgrounding",
                  "--disable-backgrounding-occluded-windows"]
RUN_HEADING = "Run an experiment"
NAME_LABEL = "Your name"
JOIN_BUTTON = "Join the class"
RESULT = r"Experiment (exp-[\w-]+): (completed|cancelled|failed)[^,]*, (\d+) runs? saved"
"""The final panel's status line (its text in the page: `textContent`, no separators)."""
OBSERVE_RESULT = """(pattern) => {
  window.__classroom = null;
  const re = new RegExp(pattern);
  const look = () => {
    if (window.__classroom) return;
    const main = document.querySelector('[data-testid="stMain"]');
    const found = main && main.textContent.match(re);
    if (found) {
      window.__classroom = {at: Date.now(), id: found[1], status: found[2], runs: +found[3]};
      observer.disconnect();
    }
  };
  const observer = new MutationObserver(look);
  observer.observe(document.body, {childList: true, subtree: true, characterData: true});
}"""
"""Installed in a Run page before Run is pressed: the wall-clock time (ms since the epoch) the
final panel first appeared, and the experiment it names."""
RESULT_BYTES = b" runs saved"
"""In the websocket message that carries the final panel's status line (`Store.run_counts`'
sentence for a complete experiment); no live panel's text has it."""


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sessions", default="10,20",
                        help="participants per round, comma-separated; each round has its own "
                        "store and dashboard server (default %(default)s)")
    parser.add_argument("--latency", type=float, default=0.3,
                        help="the server's answer time per model call in seconds "
                        "(default %(default)s)")
    parser.add_argument("--repetitions", type=int, default=2,
                        help="repetitions per form of each participant's experiment (two "
                        "forms, one input; default %(default)s)")
    parser.add_argument("--browser-nice", type=int, default=19, choices=range(0, 20),
                        metavar="0-19",
                        help="the browsers' session nice (default %(default)s: they take "
                        "what the dashboard leaves, as on the participants' own computers; 0: "
                        "they compete with it on equal terms)")
    parser.add_argument("--timeout", type=float, default=300,
                        help="seconds a round may take before it is given up "
                        "(default %(default)s)")
    return parser.parse_args()


if __name__ == "__main__":
    ARGS = parse_args()  # --help answers here, before the heavy imports below

from orchlab.store.store import Store  # noqa: E402
from orchlab.testing.dashboard import running_dashboard  # noqa: E402

# -- the dashboard server -----------------------------------------------------------------------

@dataclass
class Dashboard:
    """A running `streamlit run app.py`."""

    url: str
    proc: subprocess.Popen[bytes]

    def cpu_s(self) -> dict[str, float]:
        """CPU seconds so far of the server process and of each of its children, by role."""
        found = {"dashboard": _cpu_s(self.proc.pid), "experiments": 0.0}
        for child in _descendants(self.proc.pid):  # the fork server's children included
            found["experiments"] += _cpu_s(child)
        return found


def browser_cpu_s() -> float:
    """CPU seconds so far of this process's chromium processes (Playwright's browser)."""
    return sum(_cpu_s(pid) for pid in _browser_processes())


def _browser_processes() -> dict[int, str]:
    """This process's chromium processes (Playwright's browser, its crash handlers
    included), by pid: their names."""
    found = {}
    for pid in _descendants(os.getpid()):
        try:
            name = Path(f"/proc/{pid}/comm").read_text().strip()
        except OSError:
            continue
        if name.startswith("chrom"):
            found[pid] = name
    return found


def _stat(pid: int) -> list[str]:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return []


def _cpu_s(pid: int) -> float:
    fields = _stat(pid)
    if not fields:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _descendants(pid: int) -> list[int]:
    """Processes started by `pid`, directly or not (Linux /proc; none elsewhere)."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and (fields := _stat(int(entry.name))):
            parents[int(entry.name)] = int(fields[1])
    found, frontier = [], [pid]
    while frontier:
        children = [p for p, parent in parents.items() if parent in frontier]
        found += children
        frontier = children
    return found


# OWN_SESSIONS: the dashboard and the fake model server each run in a session of their own, as
# a dashboard started from its own terminal and a model server on another machine would. Where
# the kernel shares the CPU between sessions first (Linux's autogroup, on by default), a server
# started as a child of this driver would share one session's slice with the dozens of chromium
# processes standing in for the participants' own computers.


@contextlib.contextmanager
def model_server(latency_s: float) -> Iterator[str]:
    """`orchlab.testing.devserver` (FakeServerProcess's child) in a session of its own, until
    the block ends: its /v1 base URL."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "orchlab.testing.devserver", str(latency_s), "keep-alive"],
        cwd=ROOT, text=True, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
        start_new_session=True)
    assert proc.stdin is not None and proc.stdout is not None
    try:
        base_url = proc.stdout.readline().strip()
        if not base_url.startswith("http://127.0.0.1:"):
            raise RuntimeError(f"the fake server did not start: {base_url!r}")
        yield base_url
    finally:
        proc.stdin.close()  # it serves until its stdin closes
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@contextlib.contextmanager
def dashboard(store: Path, backend: str) -> Iterator[Dashboard]:
    """`streamlit run app.py` on a free port with this store and backend, in workshop mode,
    in a session of its own (see OWN_SESSIONS)."""
    with running_dashboard(store, backend, env={"ORCHLAB_WORKSHOP": "1"},
                           own_session=True) as app:
        yield Dashboard(app.url, app.proc)


# -- a participant's session --------------------------------------------------------------------

def join_if_asked(page: Any, name: str) -> None:
    """Every session's setup goes through here: a workshop dashboard asks each session for a
    name first ("Your name", then "Join the class"); any other shows its page at once."""
    from playwright.sync_api import expect

    heading = page.get_by_role("heading", name=RUN_HEADING)
    asked = page.get_by_label(NAME_LABEL)
    expect(heading.or_(asked).first).to_be_visible(timeout=60_000)
    if asked.count() and asked.first.is_visible():
        asked.first.fill(name)
        page.get_by_role("button", name=JOIN_BUTTON).click()
    expect(heading).to_be_visible(timeout=60_000)


@dataclass
class Delivery:
    """When the final panel's message reached a page's browser: stamped by chromium's network
    service as the frame arrived (the DevTools protocol's Network events), not by the page's
    renderer, which may be waiting for the CPU. The gap from there to the page showing the
    result is the renderer's."""

    offset_s: float | None = None
    """Wall clock minus the network service's monotonic clock (from the websocket handshake)."""
    at: float | None = None
    """Epoch seconds the first frame holding the result arrived; None before it did."""

    def handshake(self, event: dict[str, Any]) -> None:
        self.offset_s = event["wallTime"] - event["timestamp"]

    def frame(self, event: dict[str, Any]) -> None:
        response = event["response"]
        if self.at is not None or self.offset_s is None or response["opcode"] != 2:
            return
        if RESULT_BYTES in base64.b64decode(response["payloadData"]):
            self.at = event["timestamp"] + self.offset_s


def watch_delivery(page: Any) -> None:
    """Record in `page.delivery` when the page's websocket delivers a result (`Delivery`);
    before the page opens its websocket."""
    page.delivery = Delivery()
    cdp = page.context.new_cdp_session(page)
    cdp.on("Network.webSocketWillSendHandshakeRequest", page.delivery.handshake)
    cdp.on("Network.webSocketFrameReceived", page.delivery.frame)
    cdp.send("Network.enable")


def open_session(browser: Any, url: str, name: str, repetitions: int) -> Any:
    """A new participant (a browser context of its own) on the Run page, the experiment
    chosen, Run not pressed yet; `page.delivery` watches for its result (`Delivery`)."""
    from playwright.sync_api import expect

    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    watch_delivery(page)
    page.goto(url)
    join_if_asked(page, name)
    field = page.get_by_label("Repetitions per form and input")
    field.fill(str(repetitions))
    field.press("Tab")  # committed now: the rerun it causes must not eat the Run press
    runs = 2 * repetitions
    expect(page.get_by_text(f"This will start {runs} runs: 2 forms x 1 input x ")
           ).to_be_visible(timeout=60_000)
    page.evaluate(OBSERVE_RESULT, RESULT)
    return page


def settled(page: Any) -> bool:
    """Whether the session's script run has finished (Streamlit's running indicator gone)."""
    return page.locator('[data-testid="stStatusWidget"]').count() == 0


@dataclass
class Shown:
    """One participant's experiment, as the store and the page saw it."""

    experiment_id: str
    pressed: float
    """Run pressed (epoch seconds)."""
    shown: float
    """The final panel appeared in the page (epoch seconds)."""
    created: float
    finished: float
    delivered: float | None = None
    """The final panel's message reached the browser (epoch seconds; `Delivery`)."""

    @property
    def duration_s(self) -> float:
        return self.finished - self.created

    @property
    def delay_s(self) -> float:
        return self.shown - self.finished

    @property
    def delivery_s(self) -> float | None:
        """From the experiment's end to its result reaching the browser."""
        return None if self.delivered is None else self.delivered - self.finished


def stored_state(store: Store) -> str:
    """The store's experiments by status and finished runs, for a page that showed nothing."""
    states = [f"{e.status} {store.count_runs(e.experiment_id)}/{e.planned_runs}"
              for e in store.list_experiments()]
    return ", ".join(f"{states.count(s)} x {s}" for s in sorted(set(states)))


def press_and_wait(pages: list[Any], store: Store, timeout_s: float,
                   compare_page: Any | None = None) -> tuple[list[Shown], float | None]:
    """Press Run in every page, one right after the other; if `compare_page` is given, open
    Compare there while the results arrive. Returns each page's experiment once all have
    shown it, and Compare's open time in seconds (None without it)."""
    pressed: list[float] = []
    buttons = [page.get_by_role("button", name="Run", exact=True) for page in pages]
    for page in pages:
        page.delivery.at = None
    for button in buttons:
        pressed.append(time.time())
        button.click()
    deadline = time.monotonic() + timeout_s
    compare_s = open_compare(compare_page, store, len(pages), deadline) if compare_page else None
    found: list[dict[str, Any] | None] = [None] * len(pages)
    while not all(found):
        if time.monotonic() > deadline:
            missing = [i for i, f in enumerate(found) if not f]
            seen = "; ".join(
                pages[i].get_by_test_id("stMain").inner_text()[-300:].replace("\n", " ")
                for i in missing)
            raise RuntimeError(f"{len(missing)} of {len(pages)} pages showed no result in "
                               f"{timeout_s:g} s (stored: {stored_state(store)}); they show: "
                               f"{seen}")
        for i, page in enumerate(pages):
            if found[i] is None:
                found[i] = page.evaluate("window.__classroom")
        time.sleep(0.25)
    records = {e.experiment_id: e for e in store.list_experiments()}
    shown = []
    for page, when, item in zip(pages, pressed, found, strict=True):
        assert item is not None
        record = records[item["id"]]
        if item["status"] != "completed" or record.finished_at is None:
            raise RuntimeError(f"{item['id']} ended {item['status']}")
        shown.append(Shown(item["id"], when, item["at"] / 1000,
                           record.created_at.timestamp(), record.finished_at.timestamp(),
                           page.delivery.at))
    return shown, compare_s


def open_compare(page: Any, store: Store, expected: int, deadline: float) -> float:
    """Once the newest of the class's experiments has two runs stored, click Compare and wait
    until its findings and first chart are drawn and the script run has ended: seconds."""
    from playwright.sync_api import expect

    while True:
        experiments = store.list_experiments()
        started = [e for e in experiments if e.status in ("running", "completed")]
        if len(started) >= expected and store.count_runs(experiments[0].experiment_id) >= 2:
            break
        if time.monotonic() > deadline:
            raise RuntimeError("the class's experiments did not start")
        time.sleep(0.1)
    t0 = time.monotonic()
    page.get_by_test_id("stSidebarNav").get_by_role("link", name="Compare").click()
    main = page.get_by_test_id("stMain")
    left_ms = max(1_000.0, (deadline - time.monotonic()) * 1000)
    expect(main.get_by_role("heading", name="Findings")).to_be_visible(timeout=left_ms)
    expect(main.locator(".js-plotly-plot").first).to_be_visible(timeout=left_ms)
    while not settled(page):
        if time.monotonic() > deadline:
            raise RuntimeError("Compare did not settle")
        time.sleep(0.05)
    return time.monotonic() - t0


# -- a round ------------------------------------------------------------------------------------

@dataclass
class Round:
    sessions: int
    solo_s: float
    class_: list[Shown]
    compare_s: float
    quiet_compare_s: float
    wall_s: float
    cpu_s: dict[str, float]


def one_round(browser: Any, backend: str, sessions: int, args: argparse.Namespace,
              tmp: Path) -> Round:
    folder = tmp / f"n{sessions}"
    folder.mkdir()
    store_path = folder / "classroom.sqlite"
    store = Store(store_path)
    try:
        with dashboard(store_path, backend) as app:
            solo_page = open_session(browser, app.url, "solo", args.repetitions)
            (solo,), _ = press_and_wait([solo_page], store, args.timeout)
            pages = [open_session(browser, app.url, f"participant-{i + 1:02d}",
                                  args.repetitions) for i in range(sessions)]
            browsers_elsewhere(args.browser_nice)  # again, for the renderers started since
            # The solo participant opens Compare on their own experiment while the class's
            # results arrive (in a workshop Compare shows a participant's own by default).
            watcher = solo_page
            before = {**app.cpu_s(), "browser": browser_cpu_s()}
            t0 = time.monotonic()
            shown, compare_s = press_and_wait(pages, store, args.timeout, watcher)
            wall = time.monotonic() - t0
            after = {**app.cpu_s(), "browser": browser_cpu_s()}
            quiet_s = compare_again(watcher, args.timeout)
            for page in [*pages, watcher]:
                page.context.close()
    finally:
        store.close()
    return Round(sessions, solo.duration_s, shown, compare_s or 0.0, quiet_s, wall,
                 {k: after[k] - before[k] for k in after})


def compare_again(page: Any, timeout_s: float) -> float:
    """Compare opened again once every result has shown (the class idle): seconds."""
    from playwright.sync_api import expect

    nav = page.get_by_test_id("stSidebarNav")
    nav.get_by_role("link", name="Run").click()
    expect(page.get_by_role("heading", name=RUN_HEADING)).to_be_visible(timeout=60_000)
    while not settled(page):
        time.sleep(0.05)
    t0 = time.monotonic()
    nav.get_by_role("link", name="Compare").click()
    main = page.get_by_test_id("stMain")
    expect(main.get_by_role("heading", name="Findings")).to_be_visible(timeout=timeout_s * 1000)
    expect(main.locator(".js-plotly-plot").first).to_be_visible(timeout=timeout_s * 1000)
    deadline = time.monotonic() + timeout_s
    while not settled(page) and time.monotonic() < deadline:
        time.sleep(0.05)
    return time.monotonic() - t0


def report(result: Round) -> None:
    n = result.sessions
    durations = [s.duration_s for s in result.class_]
    delays = [s.delay_s for s in result.class_]
    waits = [s.shown - s.pressed for s in result.class_]
    spread = max(s.pressed for s in result.class_) - min(s.pressed for s in result.class_)
    median = statistics.median(durations)
    print(f"N={n}: solo experiment {result.solo_s:.2f} s; {n} experiments at once "
          f"(Run pressed within {spread:.1f} s): median {median:.2f} s, max {max(durations):.2f} s")
    print(f"N={n}: result shown after the experiment's end: median {statistics.median(delays):.2f}"
          f" s, max {max(delays):.2f} s; Run pressed to result shown: median "
          f"{statistics.median(waits):.2f} s, max {max(waits):.2f} s")
    delivered = [s.delivery_s for s in result.class_ if s.delivery_s is not None]
    if delivered:
        own = [s.shown - s.delivered for s in result.class_ if s.delivered is not None]
        print(f"N={n}: of which the result reaching the browser (its network service's stamp): "
              f"median {statistics.median(delivered):.2f} s, max {max(delivered):.2f} s; the "
              f"browser drawing it: median {statistics.median(own):.2f} s, max {max(own):.2f} "
              f"s ({len(delivered)} of {n} pages stamped)")
    order = sorted(result.class_, key=lambda s: s.finished)
    print(f"N={n}: delays in the order the experiments ended (s): "
          + " ".join(f"{s.delay_s:.1f}" for s in order))
    print(f"N={n}: Compare opened in {result.compare_s:.2f} s while the results arrived "
          f"({result.quiet_compare_s:.2f} s once the class was idle)")
    cpu = result.cpu_s
    print(f"N={n}: CPU over the {result.wall_s:.1f} s from the first Run to the last result: "
          f"dashboard {cpu['dashboard']:.1f} s, experiment process {cpu['experiments']:.1f} s, "
          f"chromium {cpu['browser']:.1f} s ({os.cpu_count()} cores; load average at the end "
          f"{os.getloadavg()[0]:.1f})")
    print(f"N={n}: experiment time ratio median/solo = {median / result.solo_s:.2f} (target <= 2);"
          f" result delay max = {max(delays):.2f} s (target <= 2); Compare = "
          f"{result.compare_s:.2f} s (target <= 5)")


def browsers_elsewhere(nice: int) -> str:
    """Give the browser the CPU the dashboard and the model server leave (they keep nice 0):
    in a class each browser runs on its participant's computer, not on the dashboard's two
    cores. Where Linux shares the CPU between sessions first (autogroups), Playwright's
    chromium runs in a session of its own, and that session's nice is the one that counts
    (every renderer it starts later joins it); never this driver's session, which may be a
    terminal's or the test suite's. Where a process's autogroup file reads empty (a process
    in a cgroup of its own, as on some CI machines) or chromium shares this driver's
    session, the nice that counts is each thread's own: every chromium thread gets it, and
    the renderers chromium starts later inherit it. What was set, read back, as a sentence."""
    if nice == 0:
        return "browsers on the dashboard's cores at the same priority"
    chromium = [pid for pid, name in _browser_processes().items() if name == "chromium"]
    if not chromium:
        return "browsers at the same priority (no chromium process found to nice)"
    mine = _autogroup("self")
    groups: dict[str, int] = {}
    for pid in chromium:
        group = _autogroup(str(pid))
        if group:
            groups.setdefault(group, pid)
    if mine and groups and mine not in groups:
        try:
            for pid in groups.values():
                Path(f"/proc/{pid}/autogroup").write_text(str(nice))
            read_back = {Path(f"/proc/{pid}/autogroup").read_text().split()[-1]
                         for pid in groups.values()}
        except OSError as exc:
            return f"browsers at the same priority (their session's nice could not be set: {exc})"
        return (f"browsers at the lowest priority (chromium's session at nice "
                f"{', '.join(sorted(read_back))}): they stand for the participants' own "
                f"computers")
    try:
        niced = [_nice_thread(tid, nice) for pid in chromium for tid in _threads(pid)]
    except PermissionError as exc:
        return f"browsers at the same priority (their threads' nice could not be set: {exc})"
    found = sorted({n for n in niced if n is not None})
    return (f"browsers at the lowest priority (chromium's {len(niced) - niced.count(None)} "
            f"threads at nice {', '.join(map(str, found))}): they stand for the participants' "
            f"own computers")


def _threads(pid: int) -> list[int]:
    try:
        return [int(task.name) for task in Path(f"/proc/{pid}/task").iterdir()]
    except OSError:  # the process ended meanwhile
        return []


def _nice_thread(tid: int, nice: int) -> int | None:
    """The thread's nice once set, read back; None if it ended meanwhile."""
    try:
        os.setpriority(os.PRIO_PROCESS, tid, nice)
        return os.getpriority(os.PRIO_PROCESS, tid)
    except ProcessLookupError:
        return None


def _autogroup(pid: str) -> str:
    """The autogroup a process runs in, or "" where the kernel names none for it."""
    try:
        fields = Path(f"/proc/{pid}/autogroup").read_text().split()
    except OSError:
        return ""
    return fields[0] if fields else ""


def main(args: argparse.Namespace) -> None:
    from playwright.sync_api import sync_playwright

    counts = [int(n) for n in args.sessions.split(",")]
    results = []
    with tempfile.TemporaryDirectory() as tmp, model_server(args.latency) as base_url, \
            sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
        backend = f"compat:fake-model@{base_url}"
        print(f"{2 * args.repetitions} runs per experiment (sales_email, code and llm forms, "
              f"1 input), server latency {args.latency * 1000:.0f} ms per model call; one "
              f"browser context per participant; {browsers_elsewhere(args.browser_nice)}")
        for n in counts:
            results.append(one_round(browser, backend, n, args, Path(tmp)))
            report(results[-1])
        browser.close()
    for result in results:
        durations = [s.duration_s for s in result.class_]
        print(f"N={result.sessions} experiment_ratio="
              f"{statistics.median(durations) / result.solo_s:.2f} "
              f"result_delay_max={max(s.delay_s for s in result.class_):.2f}s "
              f"compare={result.compare_s:.2f}s")


if __name__ == "__main__":
    main(ARGS)
