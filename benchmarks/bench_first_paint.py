"""Cold start to the first chart drawn, and typing to the first updated chart, in headless Chromium.

Each of ``--starts`` cold starts spawns ``streamlit run dashboard/app.py`` (fresh process, empty caches)
and loads the Gates view in a new browser page. Reported per start and as medians, with where the
time goes (all from the server's spawn):

* ``server``: until ``/_stcore/health`` answers (Python imports, Streamlit start);
* ``app shell``: until the page shows Streamlit's app element (HTML + JS bundles loaded, websocket up);
* ``first run``: until the first script run starts on the page;
* ``chart element``: until the first chart's element exists (the script has sent it);
* ``chart drawn``: until plotly has drawn it (the target: <= 8 s).

Then, on the last server, new sentences are typed into the Gates view; ``typing -> chart`` is the time
from submitting the text to the first heatmap showing its words (target: median <= 1 s).

Usage::

    python benchmarks/bench_first_paint.py [--starts 5] [--typings 5]
"""

from __future__ import annotations

import argparse
import re
import statistics
import tempfile
import time
from pathlib import Path

from dashboard import e2e

FIRST_PAINT_TARGET_S = 8.0
TYPING_TARGET_S = 1.0
SENTENCES = [
    "Мне очень понравился этот концерт",
    "Погода сегодня отвратительная и холодная",
    "Новый музей открылся в центре города",
    "Обслуживание было медленным но еда вкусной",
    "Я давно не читал такой интересной книги",
    "Поезд опоздал на два часа",
]


def cold_start(browser, root: Path, log_dir: Path) -> tuple[dict[str, float], e2e.Server | None]:
    """One cold start; returns the milestones in seconds after spawn."""
    with e2e.streamlit_server(root, log_dir=log_dir) as server:
        page = e2e.new_page(browser, {"width": 1920, "height": 1080})
        e2e.PageWatch(page)
        page.goto(server.url)
        page.wait_for_selector(".js-plotly-plot .main-svg", timeout=120_000)
        marks = {k: v - server.spawned_at for k, v in e2e.milestones(page).items()}
        marks["server"] = server.healthy_after
        page.context.close()
    return marks, None


def typing_times(browser, root: Path, log_dir: Path, n: int) -> list[float]:
    """Seconds from submitting a new sentence to the first heatmap showing its words."""
    out = []
    with e2e.streamlit_server(root, log_dir=log_dir) as server:
        page = e2e.new_page(browser, {"width": 1920, "height": 1080})
        e2e.PageWatch(page)
        page.goto(server.url)
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
    return out


def main() -> None:
    """Runs the cold starts and the typings; prints per-run lines, medians and the verdicts."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--starts", type=int, default=5)
    ap.add_argument("--typings", type=int, default=5)
    args = ap.parse_args()
    log_dir = Path(tempfile.mkdtemp(prefix="lstmviz-paint-"))
    root = e2e.checkpoint_root(log_dir)
    order = ("server", "app", "first_run", "chart_element", "chart_drawn")
    runs = []
    with e2e.chromium() as browser:
        for i in range(args.starts):
            marks, _ = cold_start(browser, root, log_dir)
            runs.append(marks)
            print(f"start {i + 1}: " + ", ".join(f"{k} {marks[k]:.2f} s" for k in order if k in marks), flush=True)
        typed = typing_times(browser, root, log_dir, args.typings)
    med = {k: statistics.median(r[k] for r in runs if k in r) for k in order if any(k in r for r in runs)}
    print("median: " + ", ".join(f"{k} {v:.2f} s" for k, v in med.items()))
    first = med.get("chart_drawn", float("nan"))
    print(
        f"cold start to first chart drawn: median {first:.2f} s over {len(runs)} starts "
        f"(target <= {FIRST_PAINT_TARGET_S:.0f} s: {'met' if first <= FIRST_PAINT_TARGET_S else 'MISSED'})"
    )
    t = statistics.median(typed)
    print(
        f"typing -> first updated chart: {', '.join(f'{x:.2f}' for x in typed)} s; median {t:.2f} s "
        f"(target <= {TYPING_TARGET_S:.0f} s: {'met' if t <= TYPING_TARGET_S else 'MISSED'})"
    )


if __name__ == "__main__":
    main()
