"""Time to render the Compare page for 100 and 10,000 stored runs, and peak memory.

Runs are synthetic but written through the real Store; the page is executed by Streamlit's
AppTest (the same script a browser session runs, figures included). Last line: the
10,000-run render time in seconds. Targets: < 2 s and < 500 MB.

    python bench/dashboard.py [--sizes 100,10000]

A short run (the test suite's; its figures are not the measurement):

    python bench/dashboard.py --sizes 100,1000
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "bench")]
SIZES = (100, 10_000)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default=",".join(map(str, SIZES)),
                        help="stored runs per render, comma-separated; the last is reported "
                        "(default %(default)s)")
    return parser.parse_args()


if __name__ == "__main__":
    ARGS = parse_args()  # --help answers here, before the heavy imports below

from synthetic import fill_store  # noqa: E402

from orchlab.store.store import Store  # noqa: E402


def render_compare(store_path: Path, trace_memory: bool = False) -> tuple[float, float]:
    """Seconds (and traced peak MB) for one cold render of Compare: caches are cleared.

    Timing and memory tracing are separate renders: tracemalloc slows allocation-heavy code.
    """
    import streamlit as st
    from streamlit.testing.v1 import AppTest

    st.cache_data.clear()
    st.cache_resource.clear()
    os.environ["ORCHLAB_STORE"] = str(store_path)
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120)
    at.run()
    if trace_memory:
        tracemalloc.start()
    t0 = time.perf_counter()
    at.switch_page("views/compare.py").run()
    elapsed = time.perf_counter() - t0
    peak = tracemalloc.get_traced_memory()[1] / 2**20 if trace_memory else 0.0
    tracemalloc.stop()
    assert not at.exception, at.exception
    assert len(at.get("plotly_chart")) >= 2, "Compare rendered no charts"
    return elapsed, peak


def main(sizes: tuple[int, ...] = SIZES) -> None:
    results: dict[int, float] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for n in sizes:
            path = Path(tmp) / f"bench-{n}.sqlite"
            store = Store(path)
            t0 = time.perf_counter()
            fill_store(store, n)
            write_s = time.perf_counter() - t0
            store.close()
            if not results:
                render_compare(path)  # warm-up: first imports of plotly, pandas, numpy
            elapsed = min(render_compare(path)[0] for _ in range(2))
            _, peak = render_compare(path, trace_memory=True)
            results[n] = elapsed
            print(f"runs={n:>6}  write={write_s:6.2f}s ({n / write_s:,.0f} runs/s)  "
                  f"compare_render={elapsed:6.3f}s (best of 2, warm imports)  "
                  f"python_peak={peak:7.1f} MB")
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"process_peak_rss={rss:.0f} MB (target < 500 MB)")
    first, last = sizes[0], sizes[-1]
    print(f"ratio_{last}_vs_{first}={results[last] / results[first]:.2f}")
    print(f"{results[last]:.3f}")


if __name__ == "__main__":
    main(tuple(int(n) for n in ARGS.sizes.split(",")))
