"""Step latency of the shipped 45-minute lesson after its warm-up, in headless Chromium (issue 21).

Starts ``streamlit run dashboard/app.py``, opens the Lesson view in presentation mode at 1920x1080, clicks Start the
lesson, waits until the warm-up has prepared every step (its progress line says so), then clicks Next through every
step and measures, per step, the time from the click to the app being idle with every chart drawn
(``e2e.wait_app_ready``). Reported per step with the view, and the maximum against the target: each step
<= 3 s on a warm server; the "server s" column is the part until the step's run ended (the link changes last), the
rest is the browser drawing the charts. The whole walk is repeated ``--rounds`` times (each round from step 1);
the table shows the median and the maximum per step.

The server records the shipped corpus (``$LSTMVIZ_CORPUS``, default ../shared/...) for the Corpus step; pass
``--small-corpus`` to record the 24 sentences of tests/test_corpus.py instead (a recording of the whole corpus takes
minutes on 2 cores, which the warm-up waits for).

Usage::

    python benchmarks/bench_lesson.py [--lang ru] [--rounds 2] [--small-corpus]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

from dashboard import e2e
from lstmviz.lessons import load_lesson

REPO = Path(__file__).resolve().parents[1]

STEP_TARGET_S = 3.0
LESSON = REPO / "dashboard" / "lessons" / "intro45.toml"
WARM_TIMEOUT_S = 1800.0
RUN_DONE: list[float] = []  # per Next click: seconds until the link showed the new step (the server's part)


def _click(page, key: str, step: int | None = None) -> float:
    """Clicks the button of Streamlit key ``key``; returns the seconds until the link says ``step`` (when given) and
    the app is idle with every chart drawn. (A step that switches pages starts a new page run, which the run counter
    of ``e2e.wait_app_ready(after_runs=…)`` does not see; the link is written at the end of the step's run.)"""
    before = e2e.runs(page)
    t0 = time.perf_counter()
    page.locator(f'[class*="st-key-{key}"] button').click()
    if step is None:
        e2e.wait_app_ready(page, 120, after_runs=before)
    else:
        page.wait_for_function(
            f"() => new URLSearchParams(location.search).get('step') === '{step}'", timeout=120_000, polling=20
        )
        RUN_DONE.append(time.perf_counter() - t0)  # the server's run of the step ended (it writes the link last)
        e2e.wait_app_ready(page, 120, settle=0.2)
    return time.perf_counter() - t0


def _wait_warm(page, lang: str) -> float:
    """Waits until the step bar says the warm-up finished; returns the seconds waited."""
    done = "подготовлены" if lang == "ru" else "were prepared"
    t0 = time.perf_counter()
    page.wait_for_function(
        f"() => document.querySelector('[class*=\"st-key-lesson_bar\"]')?.innerText.includes('{done}')",
        timeout=WARM_TIMEOUT_S * 1000,
        polling=500,
    )
    return time.perf_counter() - t0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lang", choices=("ru", "en"), default="ru")
    parser.add_argument("--rounds", type=int, default=2, help="walks through the lesson after the warm-up")
    parser.add_argument("--small-corpus", action="store_true", help="record the test corpus, not the shipped one")
    args = parser.parse_args()
    lesson = load_lesson(LESSON)
    tmp = Path(tempfile.mkdtemp(prefix="bench-lesson-"))
    env = {"LSTMVIZ_CACHE": str(tmp / "cache")}
    if args.small_corpus:
        from test_corpus import _corpus

        env["LSTMVIZ_CORPUS"] = str(_corpus(tmp))
    times: dict[int, list[float]] = {k: [] for k in range(len(lesson.steps))}
    with e2e.chromium() as browser, e2e.streamlit_server(REPO / "checkpoints", env=env, log_dir=tmp) as server:
        page = e2e.new_page(browser, {"width": 1920, "height": 1080})
        page.goto(f"{server.url}lesson?present=1&lang={args.lang}")
        e2e.wait_app_ready(page, 120)
        _click(page, "lesson_start")
        warm = _wait_warm(page, args.lang)
        print(f"warm-up: {warm:.1f} s after Start")
        for _ in range(args.rounds):
            if _query_step(page) != 1:
                page.goto(f"{server.url}lesson?present=1&lang={args.lang}")
                e2e.wait_app_ready(page, 120)
                _click(page, "lesson_start")
            for k in range(1, len(lesson.steps)):
                times[k].append(_click(page, "lesson_next", step=k + 1))
    runs = {k: RUN_DONE[i :: len(lesson.steps) - 1] for i, k in enumerate(range(1, len(lesson.steps)))}
    print(f"{'step':>4}  {'view':<10} {'median s':>9} {'max s':>7} {'server s':>9}  title")
    worst = 0.0
    for k, step in enumerate(lesson.steps):
        if not times[k]:
            print(f"{k + 1:>4}  {step.view:<10} {'(start)':>9} {'':>7}  {step.title['en']}")
            continue
        worst = max(worst, max(times[k]))
        server = statistics.median(runs[k])
        print(
            f"{k + 1:>4}  {step.view:<10} {statistics.median(times[k]):>9.2f} {max(times[k]):>7.2f} {server:>9.2f}"
            f"  {step.title['en']}"
        )
    verdict = "PASS" if worst <= STEP_TARGET_S else "FAIL"
    print(f"slowest step: {worst:.2f} s (target <= {STEP_TARGET_S:.0f} s after warm-up): {verdict}")
    return 0 if verdict == "PASS" else 1


def _query_step(page) -> int:
    """The step number the page's link carries (0 without one)."""
    from urllib.parse import parse_qs, urlparse

    step = parse_qs(urlparse(page.url).query).get("step", ["0"])[-1]
    return int(step) if step.isdigit() else 0


if __name__ == "__main__":
    sys.exit(main())
