"""Concurrency soak of the dashboard: many browser sessions typing different sentences at once.

Each session is a playwright browser context (its own Streamlit session) in one of a few
headless Debian chromium processes. After a warm-up (page loaded, checkpoint selected) every
session loops until the time is up: it fills the Gates view's text area with a sentence of
its own (a unique number token marks session and round), commits it (Ctrl+Enter) and waits
until the gate heatmaps' token axis shows that marker - the latency "type -> chart updated".
Once the app is idle it reads every chart back from the page (the plotly graph divs'
``.data``/``.layout``) and a single verifier thread recomputes the sentence serially with the
library exactly as ``dashboard/state.py`` does (``Predictor.from_checkpoint`` ->
``whatifs.make_variant(.., WhatIf())`` -> ``sentence.analyze_text(.., grads=True)``) and
compares: tick labels (``plots.token_ticks``), the z of every gate heatmap (layer 0,
forward: the view's default) and the class-probability lines.

Counted:

* exceptions - tracebacks / ``st.exception`` / error alerts on a page, JS errors, console
  errors, dialogs, server-log tracebacks, timeouts and driver errors;
* cross-talk - a page showing a marker of another session, or tokens that are not its own;
* value mismatches - right tokens, numbers different from the serial recomputation;
* latency percentiles, results per session, server RSS (psutil) after warm-up, peak and
  at the end, and the server's CPU seconds.

Usage::

    python benchmarks/soak.py --sessions 20 --seconds 60            # starts its own server
    python benchmarks/soak.py --sessions 20 --seconds 60 --port 8501 --root checkpoints [--pid 1234]
    python benchmarks/soak.py --sessions 4 --seconds 20 --json soak.json

Without ``--port`` a server is started on a free loopback port with ``LSTMVIZ_CHECKPOINTS``
set to ``--root`` (default: the shipped ``checkpoints/`` when it holds sentiment-{rnn,gru,lstm},
else tiny random checkpoints written to a temporary directory) and stopped at the end. With
``--port`` the running server must serve ``--root``; give ``--pid`` to measure its memory.
Needs ``/usr/bin/chromium``; only loopback traffic is allowed (other requests are aborted).
"""

from __future__ import annotations

import argparse
import asyncio
import concurrent.futures
import json
import random
import re
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from dashboard import e2e

WORDS = (  # Russian review vocabulary; sentences are drawn from it, seeded per session and round
    "фильм сюжет актёр игра финал конец начало музыка режиссёр сцена герой история вечер сервис еда "
    "официант отель номер город поездка книга автор глава персонаж очень совсем слишком довольно "
    "немного хороший плохой скучный интересный прекрасный ужасный слабый сильный длинный короткий "
    "понравился разочаровал удивил порадовал испортил спас затянул не но и а однако зато потом "
    "сегодня вчера всегда никогда почти совсем"
).split()
MARKER_RE = re.compile(r"^(\d{6})(?:⁇)?$")  # the number token that tags session and round
QUANTITY_RTOL = 5.001e-4  # heatmap z and probabilities vs the serial recomputation: a chart sends 4 significant digits

# The gate heatmap axes carry the marker (first heatmap with a colour-bar title and ticks).
MARKER_SHOWN_JS = """
marker => [...document.querySelectorAll('.js-plotly-plot')].some(g => {
  const d = (g.data || [])[0], t = ((g.layout || {}).xaxis || {}).ticktext;
  return d && d.type === 'heatmap' && d.colorbar && t && t.some(s => String(s).replace('⁇', '') === marker);
})
"""


def marker(session: int, round_: int) -> str:
    """Six digits: two for the session, four for the round (one number token)."""
    return f"{session % 100:02d}{round_ % 10000:04d}"


def sentence(session: int, round_: int) -> str:
    """A reproducible sentence of its own for every session and round.

    Example:
        >>> sentence(3, 7).split()[0]
        '030007'
    """
    rng = random.Random(session * 100_003 + round_)
    return " ".join([marker(session, round_)] + rng.choices(WORDS, k=rng.randint(5, 14)))


class Verifier:
    """Serial recomputation of what the Gates view shows (one thread, one predictor)."""

    def __init__(self, checkpoint: Path) -> None:
        from lstmviz import sentence, whatifs
        from lstmviz.pipeline import Predictor

        self.sentence = sentence
        # mirrors state.analyze: load_variant(path, stamp, 1.0, 0.0, False) -> analyze_text(grads=True)
        self.predictor = whatifs.make_variant(Predictor.from_checkpoint(checkpoint), whatifs.WhatIf())
        self.pool = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="verifier")

    def compare(self, text: str, figs: list[dict[str, Any]]) -> dict[str, Any]:
        """Tick labels, heatmap z and probability lines on the page vs the library; a verdict dict."""
        from lstmviz import plots

        a = self.sentence.analyze_text(self.predictor, text, grads=True)
        labels = plots.token_ticks(a.tokens, a.unknown)[1]
        maps = e2e.heatmaps(figs)
        out: dict[str, Any] = {"tokens_ok": True, "values_ok": True, "foreign_markers": [], "detail": ""}
        own = marker_of(text)
        for q, fig in maps.items():
            ticks = list(fig["xaxis"]["ticktext"])
            markers = {m.group(1) for m in map(MARKER_RE.match, ticks) if m}
            out["foreign_markers"] += sorted(markers - {own})
            if ticks != labels:
                out["tokens_ok"] = False
                out["detail"] = f"{q}: ticks {ticks[:6]} != {labels[:6]}"
                continue
            z = e2e.decode_array(fig["data"][0]["z"])
            want = a.values(q, 0, 0).T  # (units, T)
            if z.shape != want.shape or not np.allclose(z, want, rtol=QUANTITY_RTOL, atol=0, equal_nan=True):
                out["values_ok"] = False
                out["detail"] = (
                    f"{q}: z differs (max {np.nanmax(np.abs(z - want)) if z.shape == want.shape else z.shape})"
                )
        if set(maps) != {self._quantities(a)[0]}:  # the open tab (the first) only
            out["tokens_ok"] = False
            out["detail"] = f"heatmaps shown {sorted(maps)}"
        for f in figs:  # the class-probability lines: y in [0, 1], one trace per label
            names = [tr.get("name") for tr in f["data"]]
            if f["yaxis"].get("range") == [0, 1] and names and set(names) <= set(a.labels):
                for tr in f["data"]:
                    y = e2e.decode_array(tr["y"])
                    want = a.probs[:, a.labels.index(tr["name"])]
                    if y.shape != want.shape or not np.allclose(y, want, rtol=QUANTITY_RTOL, atol=0):
                        out["values_ok"] = False
                        out["detail"] = f"probabilities of {tr['name']} differ"
        return out

    @staticmethod
    def _quantities(a: Any) -> tuple[str, ...]:
        from lstmviz.names import QUANTITIES

        return QUANTITIES[a.cell]


def marker_of(text: str) -> str:
    """The marker token of a soak sentence."""
    return text.split()[0]


@dataclass
class Stats:
    """What every session adds to while the soak runs."""

    latencies: list[float] = field(default_factory=list)
    results: dict[int, int] = field(default_factory=dict)
    exceptions: list[str] = field(default_factory=list)
    cross_talk: list[str] = field(default_factory=list)
    mismatches: list[str] = field(default_factory=list)
    setup_seconds: list[float] = field(default_factory=list)
    blocked: set[str] = field(default_factory=set)


class AsyncWatch:
    """Async twin of :class:`e2e.PageWatch`: errors, dialogs, loopback-only routing."""

    def __init__(self, page: Any, session: int, stats: Stats) -> None:
        self.session, self.stats = session, stats
        page.on("pageerror", lambda e: stats.exceptions.append(f"s{session} JS error: {e}"))
        page.on("console", self._console)
        page.on("dialog", self._dialog)

    async def install(self, page: Any) -> None:
        await page.add_init_script(e2e.INIT_JS)
        await page.route("**/*", self._route)

    async def _route(self, route: Any) -> None:
        if e2e.is_loopback(route.request.url):
            await route.continue_()
        else:
            self.stats.blocked.add(route.request.url)
            await route.abort()

    def _console(self, msg: Any) -> None:
        if msg.type == "error" and not re.search(r"ERR_FAILED|ERR_NAME_NOT_RESOLVED|ERR_BLOCKED", msg.text):
            self.stats.exceptions.append(f"s{self.session} console error: {msg.text[:200]}")

    def _dialog(self, dialog: Any) -> None:
        self.stats.exceptions.append(f"s{self.session} dialog {dialog.type}: {dialog.message[:100]}")
        asyncio.ensure_future(dialog.dismiss())


async def wait_ready(page: Any, timeout: float, after_runs: int | None = None, settle: float = 0.3) -> None:
    """Async :func:`e2e.wait_app_ready`."""
    deadline = time.perf_counter() + timeout
    if after_runs is not None:
        try:
            await page.wait_for_function(
                f"() => window.__lvz && window.__lvz.runs > {after_runs}", timeout=min(timeout, 30) * 1000, polling=100
            )
        except Exception:
            pass
    since = None
    while True:
        now = time.perf_counter()
        if await page.evaluate(e2e.READY_JS):
            since = since or now
            if now - since >= settle:
                return
        else:
            since = None
        if now > deadline:
            raise TimeoutError(f"app not ready after {timeout:.0f} s")
        await asyncio.sleep(0.1)


async def select_checkpoint(page: Any, name: str, timeout: float) -> None:
    """Async :func:`e2e.select_checkpoint`."""
    box = page.locator('[data-testid="stSidebar"] [data-testid="stSelectbox"] [role="combobox"]').first
    if (await box.input_value()).strip() == name:
        return
    before = await page.evaluate("() => window.__lvz.runs")
    await box.click()
    await page.locator('[role="option"]').filter(has_text=re.compile(rf"^\s*{re.escape(name)}\s*$")).first.click()
    await wait_ready(page, timeout, after_runs=before)
    if (await box.input_value()).strip() != name:
        raise LookupError(f"could not select {name!r}")


async def run_session(
    i: int,
    browser: Any,
    url: str,
    checkpoint: str,
    start: asyncio.Event,
    stop_at: list[float],
    verifier: Verifier,
    stats: Stats,
    timeout: float,
) -> None:
    """One user: load, select the checkpoint, then type sentences until the time is up."""
    loop = asyncio.get_running_loop()
    context = await browser.new_context(viewport={"width": 1400, "height": 1000})
    try:
        page = await context.new_page()
        watch = AsyncWatch(page, i, stats)
        await watch.install(page)
        t0 = time.perf_counter()
        await page.goto(url, timeout=timeout * 1000)
        await wait_ready(page, timeout)
        await select_checkpoint(page, checkpoint, timeout)
        stats.setup_seconds.append(time.perf_counter() - t0)
        stats.results[i] = 0
        await start.wait()
        box = page.locator('[data-testid="stMain"] [data-testid="stTextArea"] textarea').first
        round_ = 0
        while time.perf_counter() < stop_at[0]:
            text = sentence(i, round_)
            before = await page.evaluate("() => window.__lvz.runs")
            t1 = time.perf_counter()
            await box.fill(text)
            await box.press("Control+Enter")
            try:
                await page.wait_for_function(MARKER_SHOWN_JS, arg=marker_of(text), timeout=timeout * 1000, polling=100)
            except Exception as e:
                stats.exceptions.append(
                    f"s{i} r{round_}: chart not updated within {timeout:.0f} s ({type(e).__name__})"
                )
                figs = await page.evaluate(e2e.FIGURES_JS)
                ticks = e2e.chart_tokens(figs) or []
                foreign = {m.group(1) for m in map(MARKER_RE.match, ticks) if m} - {marker_of(text)}
                if foreign:
                    stats.cross_talk.append(f"s{i} r{round_}: page shows markers {sorted(foreign)}")
                round_ += 1
                continue
            stats.latencies.append(time.perf_counter() - t1)
            await wait_ready(page, timeout, after_runs=before)
            figs = await page.evaluate(e2e.FIGURES_JS)
            problems = await page.evaluate(e2e.PROBLEMS_JS)
            stats.exceptions += [f"s{i} r{round_}: {p}" for p in problems]
            verdict = await loop.run_in_executor(verifier.pool, verifier.compare, text, figs)
            if verdict["foreign_markers"] or not verdict["tokens_ok"]:
                stats.cross_talk.append(f"s{i} r{round_}: foreign {verdict['foreign_markers']} {verdict['detail']}")
            elif not verdict["values_ok"]:
                stats.mismatches.append(f"s{i} r{round_}: {verdict['detail']}")
            stats.results[i] += 1
            round_ += 1
    except Exception as e:  # a driver error is an exception of the soak, never silently dropped
        stats.exceptions.append(f"s{i}: {type(e).__name__}: {str(e)[:300]}")
    finally:
        await context.close()


async def _soak(
    url: str,
    sessions: int,
    seconds: float,
    checkpoint: str,
    browsers: int,
    verifier: Verifier,
    rss: Any,
    timeout: float,
) -> dict[str, Any]:
    from playwright.async_api import async_playwright

    stats = Stats()
    start = asyncio.Event()
    stop_at = [float("inf")]
    samples: list[int] = []
    async with async_playwright() as p:
        procs = [await p.chromium.launch(**e2e.launch_options()) for _ in range(browsers)]
        try:
            t_setup = time.perf_counter()
            tasks = [
                asyncio.create_task(
                    run_session(i, procs[i % browsers], url, checkpoint, start, stop_at, verifier, stats, timeout)
                )
                for i in range(sessions)
            ]
            while len(stats.setup_seconds) + sum(1 for t in tasks if t.done()) < sessions:
                await asyncio.sleep(0.2)
            setup = time.perf_counter() - t_setup
            rss_start = rss() if rss else None
            t_run = time.perf_counter()
            stop_at[0] = t_run + seconds
            start.set()
            while not all(t.done() for t in tasks):
                if rss:
                    samples.append(rss())
                await asyncio.sleep(1.0)
            ran = time.perf_counter() - t_run
            rss_end = rss() if rss else None
        finally:
            for b in procs:
                await b.close()
    lat = np.array(stats.latencies) if stats.latencies else np.array([np.nan])
    mib = 1024 * 1024
    return {
        "sessions": sessions,
        "seconds": seconds,
        "ran_seconds": round(ran, 1),
        "browsers": browsers,
        "setup_seconds": round(setup, 1),
        "results": int(sum(stats.results.values())),
        "results_per_session": [stats.results.get(i, 0) for i in range(sessions)],
        "latency_p50_s": round(float(np.nanpercentile(lat, 50)), 2),
        "latency_p95_s": round(float(np.nanpercentile(lat, 95)), 2),
        "latency_max_s": round(float(np.nanmax(lat)), 2),
        "exceptions": len(stats.exceptions),
        "cross_talk": len(stats.cross_talk),
        "value_mismatches": len(stats.mismatches),
        "rss_start_mib": round(rss_start / mib, 1) if rss_start else None,
        "rss_end_mib": round(rss_end / mib, 1) if rss_end else None,
        "rss_peak_mib": round(max(samples + [rss_end or 0]) / mib, 1) if rss else None,
        "rss_growth_mib": round((rss_end - rss_start) / mib, 1) if rss else None,
        "blocked_requests": sorted(stats.blocked),
        "exception_samples": stats.exceptions[:20],
        "cross_talk_samples": stats.cross_talk[:20],
        "mismatch_samples": stats.mismatches[:20],
    }


def default_root() -> Path:
    """Shipped checkpoints when complete, else tiny ones in a temporary directory."""
    return e2e.checkpoint_root(tempfile.mkdtemp(prefix="lstmviz-soak-"))


def run_soak(
    sessions: int = 20,
    seconds: float = 60.0,
    port: int | None = None,
    root: str | Path | None = None,
    checkpoint: str = "sentiment-lstm",
    browsers: int | None = None,
    pid: int | None = None,
    timeout: float = 120.0,
) -> dict[str, Any]:
    """Runs the soak and returns its figures (see the module docstring).

    Args:
        sessions: Concurrent browser sessions (contexts).
        seconds: How long the sessions type after the warm-up.
        port: A running server to use (else one is started and stopped here).
        root: Checkpoint root the server serves (default: :func:`default_root`).
        checkpoint: Checkpoint (name under ``root``) selected in every session.
        browsers: Chromium processes (default: one per 10 sessions).
        pid: Server pid for RSS when ``port`` is given.
        timeout: Seconds one page load or chart update may take.

    Returns:
        A dict of the figures (latencies in seconds, RSS in MiB, counts).

    Example:
        >>> figures = run_soak(sessions=4, seconds=20)  # doctest: +SKIP
        >>> figures["exceptions"], figures["cross_talk"]  # doctest: +SKIP
        (0, 0)
    """
    import psutil

    if sessions < 1 or seconds <= 0:
        raise ValueError(f"sessions={sessions!r}, seconds={seconds!r} are invalid; allowed: >= 1 and > 0")
    reason = e2e.chromium_missing()
    if reason:
        raise RuntimeError(reason)
    root = Path(root) if root else default_root()
    browsers = browsers or max(1, (sessions + 9) // 10)
    verifier = Verifier(root / checkpoint)
    try:
        if port:
            rss = psutil.Process(pid).memory_info if pid else None
            out = asyncio.run(
                _soak(
                    f"http://127.0.0.1:{port}/",
                    sessions,
                    seconds,
                    checkpoint,
                    browsers,
                    verifier,
                    (lambda: rss().rss) if rss else None,
                    timeout,
                )
            )
            out["server"] = f"existing on port {port}"
            return out
        with e2e.streamlit_server(root, log_dir=tempfile.mkdtemp(prefix="lstmviz-soak-log-")) as server:
            proc = psutil.Process(server.pid)
            rss_spawn = proc.memory_info().rss
            cpu0 = sum(proc.cpu_times()[:2])
            out = asyncio.run(
                _soak(
                    server.url,
                    sessions,
                    seconds,
                    checkpoint,
                    browsers,
                    verifier,
                    lambda: proc.memory_info().rss,
                    timeout,
                )
            )
            out["server_cpu_seconds"] = round(sum(proc.cpu_times()[:2]) - cpu0, 1)
            out["rss_after_spawn_mib"] = round(rss_spawn / 2**20, 1)
            tracebacks = e2e.server_tracebacks(server.log())
            out["server_log_tracebacks"] = len(tracebacks)
            out["exceptions"] += len(tracebacks)
            out["exception_samples"] += [t[:300] for t in tracebacks[:5]]
            out["server"] = f"started here on port {server.port}"
        out["root"] = str(root)
        return out
    finally:
        verifier.pool.shutdown(wait=True)


def summary(fig: dict[str, Any]) -> str:
    """The figures as a few human-readable lines."""
    lines = [
        f"soak: {fig['sessions']} sessions in {fig['browsers']} chromium process(es), {fig['ran_seconds']} s "
        f"after a {fig['setup_seconds']} s warm-up; {fig['results']} results "
        f"(per session {min(fig['results_per_session'])}..{max(fig['results_per_session'])})",
        f"latency type -> chart updated: p50 {fig['latency_p50_s']} s, p95 {fig['latency_p95_s']} s, "
        f"max {fig['latency_max_s']} s",
        f"exceptions {fig['exceptions']}, cross-talk {fig['cross_talk']}, value mismatches {fig['value_mismatches']}",
    ]
    if fig.get("rss_start_mib") is not None:
        lines.append(
            f"server RSS: {fig.get('rss_after_spawn_mib', '?')} MiB after spawn, {fig['rss_start_mib']} MiB "
            f"after warm-up, peak {fig['rss_peak_mib']} MiB, end {fig['rss_end_mib']} MiB "
            f"(growth during the soak {fig['rss_growth_mib']:+.1f} MiB); server CPU "
            f"{fig.get('server_cpu_seconds', '?')} s"
        )
    for key in ("exception_samples", "cross_talk_samples", "mismatch_samples"):
        lines += [f"  {key[:-8]}: {s}" for s in fig[key][:5]]
    if fig["blocked_requests"]:
        lines.append(f"blocked non-loopback requests: {fig['blocked_requests']}")
    return "\n".join(lines)


def main() -> None:
    """Command line entry point."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sessions", type=int, default=20, help="concurrent browser sessions (default 20)")
    ap.add_argument("--seconds", type=float, default=60.0, help="typing time after the warm-up (default 60)")
    ap.add_argument("--port", type=int, default=None, help="use a running server on 127.0.0.1:PORT")
    ap.add_argument("--pid", type=int, default=None, help="pid of that server (for RSS)")
    ap.add_argument("--root", default=None, help="checkpoint root the server serves")
    ap.add_argument("--checkpoint", default="sentiment-lstm", help="checkpoint selected in every session")
    ap.add_argument("--browsers", type=int, default=None, help="chromium processes (default: 1 per 10 sessions)")
    ap.add_argument("--timeout", type=float, default=120.0, help="seconds a page load or chart update may take")
    ap.add_argument("--json", default=None, help="also write the figures to this JSON file")
    args = ap.parse_args()
    fig = run_soak(
        args.sessions, args.seconds, args.port, args.root, args.checkpoint, args.browsers, args.pid, args.timeout
    )
    print(summary(fig))
    if args.json:
        Path(args.json).write_text(json.dumps(fig, ensure_ascii=False, indent=1), encoding="utf-8")
    sys.exit(1 if fig["exceptions"] or fig["cross_talk"] or fig["value_mismatches"] else 0)


if __name__ == "__main__":
    main()
