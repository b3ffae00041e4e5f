"""What a run records while the dashboard is busy: the model's time, or also the pages'?

A fake OpenAI-compatible server answers every call after exactly `--latency` seconds, so a
generation span's recorded duration minus that latency is what the lab added: the HTTP round
trip, the SDK, and whatever else was taking the CPU meanwhile. The server runs in a process of
its own (`FakeServerProcess`), so the driver's own work never delays its answers; the browser
runs on this machine too, at normal priority (the harder case: in use it runs elsewhere). One
`streamlit run app.py` (a store of `--stored` synthetic runs plus the experiments below) is
driven in Debian's chromium:

- alone: the Run page starts sales_email (code and LLM forms, `--repetitions` each) and
  nothing else happens;
- under page loads: the same experiment again, while `--tabs` other browser tabs load
  Compare, History and Trace over and over until it has finished.

Printed: per phase the model calls measured and the p50, p95 and max of (recorded generation
span - server latency), then the p95 difference and the ratio of the p95s, both measured in
this one run, and the server's own lateness per phase (from its request read to its answer
written, beyond the latency): on a loaded machine the server is late too, and that part of a
recorded span is the machine's, whatever the lab does. Target: the p95 under load within
50 ms of the p95 alone, with at least 100 model calls measured per phase.

    python bench/disturbance.py [--stored 800] [--repetitions 20] [--tabs 2]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "bench"), str(ROOT / "tests")]
LOAD_PAGES = (("compare", "Compare"), ("history", "History"), ("trace", "Trace"))
"""(URL path, heading) of the pages the load tabs open, in turn."""


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--stored", type=int, default=800,
                        help="synthetic runs in the store the pages read (default %(default)s)")
    parser.add_argument("--repetitions", type=int, default=20,
                        help="repetitions per form of the measured experiment "
                        "(default %(default)s)")
    parser.add_argument("--tabs", type=int, default=2,
                        help="browser tabs loading pages meanwhile (default %(default)s)")
    parser.add_argument("--latency", type=float, default=0.2,
                        help="the server's answer time in seconds (default %(default)s)")
    return parser.parse_args()


if __name__ == "__main__":
    ARGS = parse_args()  # --help answers here, before the heavy imports below

from synthetic import fill_store  # noqa: E402
from test_browser_e2e import CHROMIUM, CHROMIUM_FLAGS, open_page, streamlit_app  # noqa: E402

from orchlab.store.store import Store  # noqa: E402
from orchlab.testing.devserver import FakeServerProcess  # noqa: E402


def overshoots(store: Store, experiment_id: str, latency_ms: float) -> list[float]:
    """Recorded generation span minus the server's latency, per model call (ms)."""
    runs = store.load_runs([experiment_id])
    return [span.end_ms - span.start_ms - latency_ms
            for run_id in runs["run_id"] for span in store.load_spans(run_id)
            if span.kind == "generation"]


def settled(page: Any) -> bool:
    """Whether a tab's script run has finished (Streamlit's running indicator is gone)."""
    return page.locator('[data-testid="stStatusWidget"]').count() == 0


def run_experiment(store: Store, url: str, run_tab: Any, repetitions: int,
                   load_tabs: list[Any]) -> tuple[str, int]:
    """Press Run with `repetitions`; load pages in the other tabs until the experiment has
    finished (as the store says: the bench's own reads run in its own process). Returns the
    experiment's id and how many page loads finished meanwhile."""
    from playwright.sync_api import expect

    field = run_tab.get_by_label("Repetitions per form and input")
    field.fill(str(repetitions))
    field.press("Tab")
    expect(run_tab.get_by_text(f"This will start {2 * repetitions} runs")).to_be_visible(
        timeout=60_000)
    before = {e.experiment_id for e in store.list_experiments()}
    run_tab.get_by_role("button", name="Run", exact=True).click()
    loads, turn = 0, [0] * len(load_tabs)
    pending: list[tuple[Any, str]] = []
    deadline = time.monotonic() + 600
    while True:
        new = [e for e in store.list_experiments() if e.experiment_id not in before]
        if new and new[0].status != "running":
            if new[0].status != "completed":
                raise RuntimeError(f"the experiment ended {new[0].status}")
            return new[0].experiment_id, loads
        if time.monotonic() > deadline:
            raise RuntimeError("the experiment did not finish in 10 minutes")
        if load_tabs and not pending:  # every tab starts its next page load at once
            for i, tab in enumerate(load_tabs):
                path, heading = LOAD_PAGES[turn[i] % len(LOAD_PAGES)]
                turn[i] += 1
                tab.goto(f"{url}/{path}", wait_until="commit")
                pending.append((tab, heading))
        for item in list(pending):
            tab, heading = item
            if tab.get_by_role("heading", name=heading).is_visible() and settled(tab):
                pending.remove(item)
                loads += 1
        time.sleep(0.05)


def summary(values: list[float]) -> tuple[float, float, float]:
    """p50, p95 and max."""
    ordered = sorted(values)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    return statistics.median(ordered), p95, ordered[-1]


def main(args: argparse.Namespace) -> None:
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory() as tmp:
        store_path = Path(tmp) / "disturbance.sqlite"
        store = Store(store_path)
        fill_store(store, args.stored)
        with FakeServerProcess(args.latency, keep_alive=True) as server, \
                streamlit_app(store_path, f"compat:fake-model@{server.base_url}") as url, \
                sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
            run_tab = open_page(browser, url)
            alone_id, _ = run_experiment(store, url, run_tab, args.repetitions, [])
            server_alone = server.late_ms()
            load_tabs = [open_page(browser, url, "compare", "Compare")
                         for _ in range(args.tabs)]
            loaded_id, loads = run_experiment(store, url, run_tab, args.repetitions, load_tabs)
            server_loaded = server.late_ms()[len(server_alone):]
            browser.close()
        latency_ms = args.latency * 1000
        phases = {"alone": overshoots(store, alone_id, latency_ms),
                  f"under page loads ({args.tabs} tabs, {loads} page loads)":
                      overshoots(store, loaded_id, latency_ms)}
        store.close()
    print(f"recorded generation span - {latency_ms:.0f} ms server latency, per model call "
          f"(ms); stored runs the pages read: {args.stored}")
    figures = {}
    for name, values in phases.items():
        figures[name] = summary(values)
        p50, p95, top = figures[name]
        print(f"{name:<40} calls={len(values):4d} p50={p50:7.1f} p95={p95:7.1f} "
              f"max={top:7.1f}")
    (_, alone_p95, _), (_, loaded_p95, _) = figures.values()
    print(f"p95 under load - p95 alone: {loaded_p95 - alone_p95:.1f} ms (target <= 50); "
          f"ratio {loaded_p95 / alone_p95:.2f}")
    print("of which the server's own lateness (its answer written after more than the "
          "latency: the machine's load, not the lab's):")
    for name, values in (("alone", server_alone), ("under page loads", server_loaded)):
        p50, p95, top = summary(values)
        print(f"  server {name:<31} calls={len(values):4d} p50={p50:7.1f} p95={p95:7.1f} "
              f"max={top:7.1f}")
    fewest = min(len(v) for v in phases.values())
    if fewest < 100:
        print(f"note: {fewest} model calls in a phase, fewer than the 100 the target asks for")


if __name__ == "__main__":
    main(ARGS)
