"""End-to-end helpers for the browser tests and the browser benchmarks: server, browser, page probes.

The dashboard runs as a real ``streamlit run`` server on a free loopback port; a headless
Debian chromium (``/usr/bin/chromium``, never a downloaded one) drives it through the
``playwright`` package. Everything stays on 127.0.0.1: a route handler aborts any other
request and records it (the browser flags turn off Chrome's own background traffic).

What the helpers give a test:

* :func:`streamlit_server` - a context manager that starts the app with
  ``LSTMVIZ_CHECKPOINTS`` pointing at a given root, waits for ``/_stcore/health == "ok"``
  and always kills the server (its own process group) on exit; the log is kept in a file.
* :func:`chromium` / :func:`launch_options` - the browser, with the mandated flags.
* :class:`PageWatch` - page errors, console errors, dialogs (alert/confirm/prompt, all
  recorded and dismissed), blocked non-loopback requests and every requested path.
* :func:`wait_app_ready` - no script running, no stale element, no "Running..." status,
  every chart drawn, stable for a few polls.
* :func:`figures` - every plotly chart on the page (its ``.data``/``.layout`` read from the
  graph div, plus the tick labels as drawn), :func:`heatmaps` - colour-bar title -> z.
* :func:`page_problems` - tracebacks, ``st.exception`` boxes and error alerts on the page.

The JavaScript snippets are module constants so the async soak driver uses the very same
probes as the sync tests.

Example:
    >>> with streamlit_server(root) as server, chromium() as browser:  # doctest: +SKIP
    ...     page = new_page(browser)
    ...     watch = PageWatch(page)
    ...     page.goto(server.url)
    ...     wait_app_ready(page)
    ...     [f["type"] for f in figures(page)]
"""

from __future__ import annotations

import base64
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import numpy as np

APP = Path(__file__).resolve().with_name("app.py")  # the router this package runs
REPO = APP.parents[1]  # the server's working directory: the clone (or the site-packages of an installed copy)
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = (  # mandated flags: headless, no sandbox (root in CI), no background traffic
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
)
VIEWPORT = {"width": 1400, "height": 1000}  # screenshot size of the docs
VIEW_PATHS = {  # view -> URL path of its sidebar navigation link (st.navigation url_path)
    "gates": "",
    "gradients": "gradients",
    "compare": "compare",
    "generate": "generate",
    "tagger": "tagger",
    "corpus": "corpus",
    "training": "training",
    "lab": "lab",
    "explain": "explain",
}
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1", "[::1]"})
SKIP_REASON = f"Debian chromium not found at {CHROMIUM} (apt-get install chromium); browser tests skipped"

# Counts finished script runs: stApp's data-test-script-state goes running -> notRunning.
INIT_JS = """
(() => {
  if (window.__lvz) return;
  const s = window.__lvz = {runs: 0, state: null, since: performance.now(), marks: {}};
  const MARKS = {app: '[data-testid="stApp"]', first_run: '[data-testid="stApp"][data-test-script-state="running"]',
                 chart_element: '[data-testid="stPlotlyChart"]', chart_drawn: '.js-plotly-plot .main-svg'};
  const check = () => {
    for (const [name, sel] of Object.entries(MARKS))
      if (!s.marks[name] && document.querySelector(sel)) s.marks[name] = Date.now();
    const app = document.querySelector('[data-testid="stApp"]');
    const now = app ? app.getAttribute('data-test-script-state') : null;
    if (now !== s.state) {
      if (now === 'notRunning' && s.state !== null) s.runs += 1;
      (s.log = s.log || []).push([Math.round(performance.now()), now]);
      if (s.log.length > 200) s.log.shift();
      s.state = now; s.since = performance.now();
    }
  };
  const start = () => {
    new MutationObserver(check).observe(document.documentElement, {
      subtree: true, childList: true, attributes: true, attributeFilter: ['data-test-script-state']});
    setInterval(check, 50);
  };
  if (document.documentElement) start(); else document.addEventListener('DOMContentLoaded', start);
})();
"""

# True when the app is idle and every chart is drawn (evaluated repeatedly by wait_app_ready).
READY_JS = """
() => {
  const app = document.querySelector('[data-testid="stApp"]');
  if (!app) return false;
  if (app.getAttribute('data-test-script-state') !== 'notRunning') return false;
  if (app.getAttribute('data-test-connection-state') !== 'CONNECTED') return false;
  if (document.querySelector('[data-stale="true"]')) return false;
  const status = document.querySelector('[data-testid="stStatusWidget"]');
  if (status && /Running|Connecting|Rerun/i.test(status.innerText || '')) return false;
  if (document.querySelector('[data-testid="stSkeleton"]')) return false;
  const charts = document.querySelectorAll('[data-testid="stPlotlyChart"]').length;
  const drawn = [...document.querySelectorAll('.js-plotly-plot')].filter(g => g.data && g._fullLayout).length;
  return drawn >= charts;
}
"""

# Every plotly chart: data (selected fields, typed arrays made plain), axis ticks, drawn tick text.
FIGURES_JS = """
() => {
  const plain = v => ArrayBuffer.isView(v) ? Array.from(v)
    : Array.isArray(v) ? v.map(plain)
    : (v && typeof v === 'object') ? Object.fromEntries(Object.entries(v).map(([k, x]) => [k, plain(x)]))
    : v;
  const axis = a => a ? {ticktext: plain(a.ticktext), tickvals: plain(a.tickvals), type: a.type,
                         range: plain(a.range)} : {};
  return [...document.querySelectorAll('.js-plotly-plot')].map((g, i) => ({
    index: i,
    title: g.layout && g.layout.title ? (g.layout.title.text ?? g.layout.title) : null,
    xaxis: axis(g.layout && g.layout.xaxis),
    yaxis: axis(g.layout && g.layout.yaxis),
    drawn_xticks: [...g.querySelectorAll('.xtick text')].map(e => e.textContent),
    drawn_text: [...g.querySelectorAll('.xtick text, .ytick text, text.textpoint, .hm text, .heatmaplayer text')]
      .map(e => e.innerHTML),
    data: (g.data || []).map(tr => ({
      type: tr.type, name: tr.name, x: plain(tr.x), y: plain(tr.y), z: plain(tr.z), text: plain(tr.text),
      colorbar: tr.colorbar && tr.colorbar.title ? plain(tr.colorbar.title.text ?? tr.colorbar.title) : null,
    })),
  }));
}
"""

# Tracebacks, st.exception boxes and error alerts; returns short descriptions.
PROBLEMS_JS = """
() => {
  const out = [];
  const main = document.querySelector('[data-testid="stAppViewContainer"]') || document.body;
  const text = main.innerText || '';
  if (/Traceback \\(most recent call last\\)/.test(text)) out.push('Traceback text on the page');
  for (const e of document.querySelectorAll('[data-testid="stException"]'))
    out.push('st.exception box: ' + (e.innerText || '').slice(0, 300));
  for (const e of document.querySelectorAll('[data-testid="stAlertContentError"]'))
    out.push('error alert: ' + (e.innerText || '').slice(0, 300));
  return out;
}
"""

# Elements user markup must never create inside the page.
INJECTION_JS = """
() => {
  const out = [];
  const root = document.querySelector('[data-testid="stMain"]') || document.body;
  for (const a of root.querySelectorAll('a[href]'))
    if (/^\\s*javascript:/i.test(a.getAttribute('href'))) out.push('javascript: link ' + a.outerHTML.slice(0, 120));
  for (const a of document.querySelectorAll('.js-plotly-plot a'))
    out.push('link inside a chart ' + a.outerHTML.slice(0, 120));
  for (const e of root.querySelectorAll('img[src="x"], script:not([src]), iframe, [onerror], [onload]'))
    out.push('injected element ' + e.outerHTML.slice(0, 120));
  for (const e of root.querySelectorAll('[style*="color:red"], [style*="color: red"]'))
    out.push('user style applied ' + e.outerHTML.slice(0, 120));
  for (const t of document.querySelectorAll('.js-plotly-plot .xtick text tspan, .js-plotly-plot .xtick text b'))
    if (/bold|italic/.test(t.getAttribute('style') || '') || t.tagName === 'b')
      out.push('styled tick ' + t.outerHTML.slice(0, 120));
  if (window.__pwned) out.push('window.__pwned was set by a payload');
  return out;
}
"""


# ----- server --------------------------------------------------------------------------------
def chromium_missing() -> str | None:
    """A skip reason when ``/usr/bin/chromium`` or playwright is absent, else None."""
    if not CHROMIUM.exists():
        return SKIP_REASON
    try:
        import playwright  # noqa: F401
    except ImportError:
        return "the playwright Python package is not installed; browser tests skipped"
    return None


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago.

    Example:
        >>> 1024 < free_port() < 65536
        True
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Server:
    """A running dashboard server.

    Attributes:
        proc: The ``streamlit run`` process (leader of its own process group).
        port: Its port on 127.0.0.1.
        log_path: File receiving its stdout and stderr.
        started: ``time.perf_counter()`` when the process was spawned.
        healthy_after: Seconds from spawn to ``/_stcore/health == "ok"``.
        spawned_at: ``time.time()`` at spawn (to compare with the page's ``Date.now()`` marks).
    """

    proc: subprocess.Popen
    port: int
    log_path: Path
    started: float
    healthy_after: float = float("nan")
    spawned_at: float = 0.0
    _log_mark: int = field(default=0, repr=False)

    @property
    def url(self) -> str:
        """Base URL of the app."""
        return f"http://127.0.0.1:{self.port}/"

    @property
    def pid(self) -> int:
        """Process id of the server."""
        return self.proc.pid

    def log(self) -> str:
        """The whole server log so far."""
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def new_log(self) -> str:
        """Log text written since the previous call."""
        text = self.log()
        out, self._log_mark = text[self._log_mark :], len(text)
        return out

    def rss(self) -> int:
        """Resident memory of the server process in bytes (psutil)."""
        import psutil

        return psutil.Process(self.proc.pid).memory_info().rss


def server_command(port: int) -> list[str]:
    """The mandated ``streamlit run`` command line for a loopback port."""
    return [
        sys.executable,
        "-m",
        "streamlit",
        "run",
        str(APP.relative_to(REPO)),
        "--server.headless",
        "true",
        "--server.port",
        str(port),
        "--server.address",
        "127.0.0.1",
        "--browser.gatherUsageStats",
        "false",
        "--server.fileWatcherType",
        "none",
    ]


def wait_health(port: int, timeout: float = 60.0, proc: subprocess.Popen | None = None) -> None:
    """Polls ``/_stcore/health`` until it answers ``ok`` (RuntimeError on timeout or exit)."""
    url = f"http://127.0.0.1:{port}/_stcore/health"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"streamlit exited with code {proc.returncode} before becoming healthy")
        try:
            with urllib.request.urlopen(url, timeout=2) as r:
                if r.read().decode().strip() == "ok":
                    return
        except OSError:
            pass
        time.sleep(0.05)
    raise RuntimeError(f"{url} did not answer 'ok' within {timeout:.0f} s")


def stop_process_group(proc: subprocess.Popen, grace: float = 10.0) -> None:
    """SIGTERM, then SIGKILL, the process group this module started (``start_new_session``)."""
    if proc.poll() is not None:
        return
    for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, 5.0)):
        try:
            os.killpg(proc.pid, sig)  # the group id is the server's own pid
        except ProcessLookupError:
            return
        try:
            proc.wait(timeout=wait)
            return
        except subprocess.TimeoutExpired:
            continue


@contextmanager
def streamlit_server(
    checkpoints: str | os.PathLike | None,
    port: int | None = None,
    env: dict[str, str] | None = None,
    timeout: float = 90.0,
    log_dir: str | os.PathLike | None = None,
) -> Iterator[Server]:
    """Runs ``streamlit run dashboard/app.py`` on a loopback port; always stops it.

    Args:
        checkpoints: Checkpoint root for ``LSTMVIZ_CHECKPOINTS`` (None: the app's default).
        port: Port to use (default: a free one).
        env: Extra environment variables.
        timeout: Seconds to wait for the health endpoint.
        log_dir: Where the server log goes (default: a temporary directory).

    Yields:
        The :class:`Server`.

    Example:
        >>> with streamlit_server("/tmp/ckpts") as s:  # doctest: +SKIP
        ...     s.url
        'http://127.0.0.1:41234/'
    """
    port = port or free_port()
    full_env = {**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})}
    if checkpoints is not None:
        full_env["LSTMVIZ_CHECKPOINTS"] = str(checkpoints)
    log_dir = Path(log_dir or tempfile.mkdtemp(prefix="lstmviz-e2e-"))
    log_path = log_dir / f"streamlit-{port}.log"
    with open(log_path, "wb") as log:
        started, spawned_at = time.perf_counter(), time.time()
        proc = subprocess.Popen(
            server_command(port),
            cwd=REPO,
            env=full_env,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    server = Server(proc, port, log_path, started, spawned_at=spawned_at)
    try:
        wait_health(port, timeout, proc)
        server.healthy_after = time.perf_counter() - started
        yield server
    finally:
        stop_process_group(proc)


def checkpoint_root(tmp: str | os.PathLike, prefer_shipped: bool = True) -> Path:
    """The shipped ``checkpoints/`` when it holds sentiment-{rnn,gru,lstm}, else tiny ones in ``tmp``.

    ``$LSTMVIZ_E2E_CHECKPOINTS`` overrides both.
    """
    forced = os.environ.get("LSTMVIZ_E2E_CHECKPOINTS")
    if forced:
        return Path(forced)
    shipped = REPO / "checkpoints"
    if prefer_shipped and all((shipped / f"sentiment-{c}" / "meta.json").is_file() for c in ("rnn", "gru", "lstm")):
        return shipped
    return tiny_checkpoints(tmp)


def tiny_checkpoints(tmp: str | os.PathLike) -> Path:
    """Tiny random sentiment checkpoints (:func:`lstmviz.testing.make_tiny_checkpoints`) under ``tmp``."""
    from lstmviz.testing import make_tiny_checkpoints

    root = Path(tmp) / "ckpts"
    if root.exists():
        shutil.rmtree(root)
    return make_tiny_checkpoints(root)


# ----- browser ---------------------------------------------------------------------------------
def launch_options() -> dict[str, Any]:
    """Keyword arguments of ``playwright ... chromium.launch`` (sync or async)."""
    return {"executable_path": str(CHROMIUM), "args": list(CHROMIUM_ARGS), "headless": True}


@contextmanager
def chromium() -> Iterator[Any]:
    """A headless Debian chromium driven by playwright (sync API); closed on exit."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(**launch_options())
        try:
            yield browser
        finally:
            browser.close()


def is_loopback(url: str) -> bool:
    """True for http(s)/ws(s) URLs on the loopback host, data: and blob: URLs."""
    parsed = urlparse(url)
    if parsed.scheme in ("data", "blob", "about"):
        return True
    return (parsed.hostname or "") in LOOPBACK_HOSTS


@dataclass
class PageWatch:
    """Records everything a page should never do; attach right after creating the page.

    Attributes:
        page_errors: Uncaught JS exceptions (``pageerror``).
        console_errors: ``console.error`` messages (blocked external loads excluded).
        dialogs: ``type: message`` of every alert/confirm/prompt/beforeunload (each dismissed).
        blocked: Non-loopback URLs the route handler aborted.
        paths: Path of every loopback request (to spot ``<img src=x>`` fetching ``/x``).
    """

    page: Any
    page_errors: list[str] = field(default_factory=list)
    console_errors: list[str] = field(default_factory=list)
    dialogs: list[str] = field(default_factory=list)
    blocked: list[str] = field(default_factory=list)
    paths: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        page = self.page
        page.add_init_script(INIT_JS)
        page.route("**/*", self._route)
        page.on("pageerror", lambda e: self.page_errors.append(str(e)))
        page.on("console", self._console)
        page.on("dialog", self._dialog)

    def _route(self, route: Any) -> None:
        url = route.request.url
        if is_loopback(url):
            self.paths.append(urlparse(url).path)
            route.continue_()
        else:
            self.blocked.append(url)
            route.abort()

    def _console(self, msg: Any) -> None:
        if msg.type != "error":
            return
        text = msg.text
        if "net::ERR_FAILED" in text or "ERR_NAME_NOT_RESOLVED" in text or "ERR_BLOCKED" in text:
            return  # an external load the route handler aborted (listed in `blocked`)
        self.console_errors.append(text)

    def _dialog(self, dialog: Any) -> None:
        self.dialogs.append(f"{dialog.type}: {dialog.message}")
        try:
            dialog.dismiss()
        except Exception:  # the page may already be gone
            pass

    def mark(self) -> tuple[int, int, int, int]:
        """Counts now, to diff against after an action."""
        return len(self.page_errors), len(self.console_errors), len(self.dialogs), len(self.paths)

    def since(self, mark: tuple[int, int, int, int]) -> dict[str, list[str]]:
        """What happened since :meth:`mark`."""
        return {
            "page_errors": self.page_errors[mark[0] :],
            "console_errors": self.console_errors[mark[1] :],
            "dialogs": self.dialogs[mark[2] :],
            "paths": self.paths[mark[3] :],
        }


def new_page(browser: Any, viewport: dict[str, int] | None = None) -> Any:
    """A page in a fresh browser context with the docs' viewport."""
    context = browser.new_context(viewport=viewport or VIEWPORT, locale="ru-RU")
    return context.new_page()


# ----- app state -------------------------------------------------------------------------------
def runs(page: Any) -> int:
    """Finished script runs seen by the page so far (see ``INIT_JS``)."""
    return int(page.evaluate("() => (window.__lvz || {runs: 0}).runs"))


def milestones(page: Any) -> dict[str, float]:
    """Epoch seconds when the page first showed: the app shell, a script run, a chart element, a drawn chart."""
    return {k: v / 1000.0 for k, v in page.evaluate("() => (window.__lvz || {marks: {}}).marks").items()}


def wait_app_ready(page: Any, timeout: float = 60.0, after_runs: int | None = None, settle: float = 0.3) -> float:
    """Waits until the app is idle with every chart drawn; returns the seconds waited.

    Args:
        page: A playwright page (sync API) with :data:`INIT_JS` installed.
        timeout: Seconds before TimeoutError.
        after_runs: When given, first wait (up to 5 s) for a run to finish beyond this count,
            so that an action's rerun is not mistaken for the idle state before it.
        settle: The ready state must hold this long (catches reruns chained by the app).
    """
    t0 = time.perf_counter()
    deadline = t0 + timeout
    if after_runs is not None:
        try:
            page.wait_for_function(
                f"() => window.__lvz && window.__lvz.runs > {int(after_runs)}",
                timeout=min(5.0, timeout) * 1000,
                polling=50,
            )
        except Exception:  # no rerun happened (same value submitted): fall through to idle
            pass
    ready_since = None
    while True:
        now = time.perf_counter()
        if page.evaluate(READY_JS):
            ready_since = ready_since or now
            if now - ready_since >= settle:
                return now - t0
        else:
            ready_since = None
        if now > deadline:
            raise TimeoutError(f"app not ready after {timeout:.0f} s")
        time.sleep(0.05)


def text_area(page: Any) -> Any:
    """The main area's first text area (the view's text input)."""
    return page.locator('[data-testid="stMain"] [data-testid="stTextArea"] textarea').first


def submit_text(page: Any, text: str, typed: bool = False, delay: float = 0.0) -> int:
    """Puts ``text`` in the view's text area and commits it (Ctrl+Enter); returns the run count before.

    Args:
        page: The page.
        text: The text (``fill``, or typed key by key when ``typed``).
        typed: Type it with the keyboard instead of ``fill``.
        delay: Milliseconds between keys when typed.
    """
    box = text_area(page)
    before = runs(page)
    if typed:
        box.fill("")
        box.press_sequentially(text, delay=delay)
    else:
        box.fill(text)
    box.press("Control+Enter")
    return before


def goto_view(page: Any, view: str, timeout: float = 60.0) -> None:
    """Clicks the sidebar navigation link of a view and waits for the app to settle."""
    path = VIEW_PATHS[view]
    link = page.locator('a[data-testid="stSidebarNavLink"]')
    hrefs = page.eval_on_selector_all('a[data-testid="stSidebarNavLink"]', "els => els.map(e => e.href)")
    index = next((i for i, h in enumerate(hrefs) if urlparse(h).path.strip("/") == path), None)
    if index is None:
        raise LookupError(f"no sidebar link for view {view!r}; links: {hrefs}")
    before = runs(page)
    link.nth(index).click()
    page.wait_for_url(re.compile(rf"/{re.escape(path)}(\?.*)?$"), timeout=timeout * 1000)
    wait_app_ready(page, timeout, after_runs=before)


def select_checkpoint(page: Any, name: str, timeout: float = 60.0) -> None:
    """Picks the sidebar checkpoint whose displayed name is ``name`` (no-op when already chosen)."""
    if selected_checkpoint(page) == name:
        return
    before = runs(page)
    page.locator('[data-testid="stSidebar"] [data-testid="stSelectbox"] [role="combobox"]').first.click()
    page.locator('[role="option"]').filter(has_text=re.compile(rf"^\s*{re.escape(name)}\s*$")).first.click()
    wait_app_ready(page, timeout, after_runs=before)
    if selected_checkpoint(page) != name:
        raise LookupError(f"could not select checkpoint {name!r}; the sidebar shows {selected_checkpoint(page)!r}")


def selected_checkpoint(page: Any) -> str:
    """Displayed name of the sidebar's selected checkpoint (the combobox's value)."""
    box = page.locator('[data-testid="stSidebar"] [data-testid="stSelectbox"] [role="combobox"]').first
    return box.input_value().strip()


# ----- charts ----------------------------------------------------------------------------------
def open_tab(page: Any, label: str, timeout: float = 60.0) -> None:
    """Clicks the tab named ``label`` and waits for the rerun it starts (a view's quantity tabs draw only the
    open tab's chart)."""
    before = runs(page)
    page.get_by_role("tab", name=label, exact=True).first.click()
    wait_app_ready(page, timeout=timeout, after_runs=before)


def decode_array(value: Any) -> np.ndarray:
    """A plotly array (nested list, or a ``{"bdata", "dtype", "shape"}`` typed-array spec) as floats."""
    if isinstance(value, dict) and "bdata" in value:
        arr = np.frombuffer(base64.b64decode(value["bdata"]), dtype=np.dtype(value["dtype"]))
        if value.get("shape"):
            arr = arr.reshape([int(s) for s in str(value["shape"]).split(",")])
        return arr.astype(float)
    if isinstance(value, dict):  # a typed array serialised as {"0": v0, "1": v1, ...}
        return np.array([value[k] for k in sorted(value, key=int)], dtype=float)
    return np.array(
        [np.nan if v is None else v for v in value]
        if value and not isinstance(value[0], list)
        else [[np.nan if v is None else v for v in row] for row in value],
        dtype=float,
    )


def figures(page: Any) -> list[dict[str, Any]]:
    """Every plotly chart of the page, read from the graph divs (see :data:`FIGURES_JS`)."""
    return page.evaluate(FIGURES_JS)


def quantity_of(title: str) -> str:
    """The recorder's quantity name of a colour-bar title in either language ("гейт забывания f" -> "forget")."""
    from dashboard.i18n import EN, RU

    names = {d[k]: k[2:] for d in (RU, EN) for k in d if k.startswith("q.")}
    return names.get(str(title), str(title))


def heatmaps(figs: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Quantity (from the colour-bar title) -> figure, for single-trace heatmaps with tick labels."""
    out = {}
    for f in figs:
        if f["data"] and f["data"][0]["type"] == "heatmap" and f["data"][0]["colorbar"] and f["xaxis"]["ticktext"]:
            out.setdefault(quantity_of(f["data"][0]["colorbar"]), f)  # the Gates tabs come before the playback
    return out


def chart_tokens(figs: list[dict[str, Any]]) -> list[str] | None:
    """Tick labels (escaped strings as sent) of the first gate heatmap, or None without one."""
    maps = heatmaps(figs)
    return list(next(iter(maps.values()))["xaxis"]["ticktext"]) if maps else None


def page_problems(page: Any) -> list[str]:
    """Tracebacks, ``st.exception`` boxes and error alerts visible on the page."""
    return page.evaluate(PROBLEMS_JS)


def injections(page: Any) -> list[str]:
    """Elements or effects user markup must never produce (see :data:`INJECTION_JS`)."""
    return page.evaluate(INJECTION_JS)


def server_tracebacks(log: str) -> list[str]:
    """Tracebacks and 'view failed' records in a server log excerpt."""
    out = []
    for m in re.finditer(r"(view failed|Traceback \(most recent call last\):)", log):
        out.append(log[m.start() : m.start() + 600])
    return out
