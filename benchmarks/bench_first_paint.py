"""Cold start to the first chart drawn, and typing to the first updated chart, in headless Chromium.

Each of ``--starts`` cold starts spawns ``streamlit run dashboard/app.py`` (fresh process, empty caches)
and loads the Gates view in a new browser page. Reported per start and as medians, with where the
time goes (all from the server's spawn):

* ``server``: until ``/_stcore/health`` answers (Python imports, Streamlit start);
* ``app``: until the page shows Streamlit's app element (HTML + JS bundles loaded, websocket up);
* ``first_run``: until the first script run starts on the page;
* ``chart_element``: until the first chart's element exists (the script has sent it and the browser has
  the chart library's code);
* ``chart_drawn``: until plotly has drawn it (the target: median <= 4 s).

Then, on one more server, new sentences are typed into the Gates view; ``typing -> chart`` is the time
from submitting the text to the first heatmap showing its words (target: median <= 0.5 s).

``--against DIR`` measures another copy of the project in the same run (e.g. the last commit:
``git archive HEAD | tar -x -C /tmp/head``): its starts alternate with this tree's (A, B, A, B, ...) and the
ratios of the medians are printed, so that a busy machine slows both alike. Each server runs with
``PYTHONPATH`` set to its own tree (an editable install elsewhere cannot stand in for it). The load average
is printed before and after: timings on a busy machine are only comparable within one run.

Usage::

    python benchmarks/bench_first_paint.py [--starts 5] [--typings 5] [--against /tmp/head]
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from dashboard import e2e

FIRST_PAINT_TARGET_S = 4.0
TYPING_TARGET_S = 0.5
ORDER = ("server", "app", "first_run", "chart_element", "chart_drawn")
SENTENCES = [
    "Мне очень понравился этот концерт",
    "Погода сегодня отвратительная и холодная",
    "Новый музей открылся в центре города",
    "Обслуживание было медленным но еда вкусной",
    "Я давно не читал такой интересной книги",
    "Поезд опоздал на два часа",
]


@contextmanager
def server(tree: Path, root: Path, log_dir: Path) -> Iterator[tuple[str, float, float]]:
    """``streamlit run dashboard/app.py`` of the project copy ``tree``; yields (url, spawn epoch, healthy after s)."""
    port = e2e.free_port()
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "LSTMVIZ_CHECKPOINTS": str(root), "PYTHONPATH": str(tree)}
    with open(log_dir / f"streamlit-{port}.log", "wb") as log:
        started, spawned_at = time.perf_counter(), time.time()
        proc = subprocess.Popen(
            e2e.server_command(port),
            cwd=tree,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    try:
        e2e.wait_health(port, 90, proc)
        yield f"http://127.0.0.1:{port}/", spawned_at, time.perf_counter() - started
    finally:
        e2e.stop_process_group(proc)


def cold_start(browser, tree: Path, root: Path, log_dir: Path) -> dict[str, float]:
    """One cold start; returns the milestones in seconds after spawn."""
    with server(tree, root, log_dir) as (url, spawned_at, healthy_after):
        page = e2e.new_page(browser, {"width": 1920, "height": 1080})
        e2e.PageWatch(page)
        page.goto(url)
        page.wait_for_selector(".js-plotly-plot .main-svg", timeout=120_000)
        marks = {k: v - spawned_at for k, v in e2e.milestones(page).items()}
        marks["server"] = healthy_after
        page.context.close()
    return marks


def typing_times(browser, tree: Path, root: Path, log_dir: Path, n: int) -> list[float]:
    """Seconds from submitting a new sentence to the first heatmap showing its words."""
    out = []
    with server(tree, root, log_dir) as (url, _, _):
        page = e2e.new_page(browser, {"width": 1920, "height": 1080})
        e2e.PageWatch(page)
        page.goto(url)
        e2e.wait_app_ready(page, timeout=180)
        for text in SENTENCES[:n]:
            words = re.findall(r"\w+", text)
            t0 = time.perf_counter()
            e2e.submit_text(page, text)
            page.wait_for_function(
                """words => [...document.querySelectorAll('.js-plotly-plot')].some(g => {
                     const t = ((g.layout || {}).xaxis || {}).ticktext;
                     return t && words.every(w => t.map(s => String(s).replace('⁇', '')).includes(w)); })""",
                arg=words,
                timeout=60_000,
                polling=20,
            )
            out.append(time.perf_counter() - t0)
            e2e.wait_app_ready(page, timeout=120)
        page.context.close()
    return out


def medians(runs: list[dict[str, float]]) -> dict[str, float]:
    """Median of each milestone over the starts."""
    return {k: statistics.median(r[k] for r in runs if k in r) for k in ORDER if any(k in r for r in runs)}


def load() -> str:
    """The 1-minute load average and the CPU count, for the report."""
    return f"load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs"


def main() -> None:
    """Runs the cold starts and the typings; prints per-run lines, medians, ratios and the verdicts."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--starts", type=int, default=5)
    ap.add_argument("--typings", type=int, default=5)
    ap.add_argument("--against", type=Path, default=None, help="another copy of the project, measured interleaved")
    args = ap.parse_args()
    log_dir = Path(tempfile.mkdtemp(prefix="lstmviz-paint-"))
    root = e2e.checkpoint_root(log_dir)
    trees = {"this": e2e.REPO}
    if args.against is not None:
        trees["against"] = args.against.resolve()
    print(f"before: {load()}", flush=True)
    runs: dict[str, list[dict[str, float]]] = {name: [] for name in trees}
    typed: dict[str, list[float]] = {}
    with e2e.chromium() as browser:
        for i in range(args.starts):
            for name, tree in trees.items():  # interleaved: A, B, A, B, ...
                marks = cold_start(browser, tree, root, log_dir)
                runs[name].append(marks)
                line = ", ".join(f"{k} {marks[k]:.2f} s" for k in ORDER if k in marks)
                print(f"start {i + 1} ({name}): {line}", flush=True)
        for name, tree in trees.items():
            if args.typings > 0:
                typed[name] = typing_times(browser, tree, root, log_dir, args.typings)
    print(f"after: {load()}")
    med = {name: medians(r) for name, r in runs.items()}
    for name in trees:
        print(f"median ({name}): " + ", ".join(f"{k} {v:.2f} s" for k, v in med[name].items()))
        if name in typed:
            t = statistics.median(typed[name])
            print(f"typing -> chart ({name}): {', '.join(f'{x:.2f}' for x in typed[name])} s; median {t:.2f} s")
    if "against" in med:
        ratio = {k: med["this"][k] / med["against"][k] for k in med["this"] if k in med["against"]}
        print("this / against: " + ", ".join(f"{k} {v:.2f}x" for k, v in ratio.items()))
        if typed.get("against"):
            print(
                f"typing this / against: {statistics.median(typed['this']) / statistics.median(typed['against']):.2f}x"
            )
    first = med["this"].get("chart_drawn", float("nan"))
    print(
        f"cold start to first chart drawn: median {first:.2f} s over {len(runs['this'])} starts "
        f"(target <= {FIRST_PAINT_TARGET_S:.0f} s: {'met' if first <= FIRST_PAINT_TARGET_S else 'MISSED'})"
    )
    if typed.get("this"):
        t = statistics.median(typed["this"])
        print(
            f"typing -> first updated chart: median {t:.2f} s "
            f"(target <= {TYPING_TARGET_S:.1f} s: {'met' if t <= TYPING_TARGET_S else 'MISSED'})"
        )


if __name__ == "__main__":
    main()
