"""The shipped 45-minute lesson in a real browser, in Russian and English, in presentation mode at 1920x1080
(issue 21, acceptance).

For each language the test opens the Lesson view with ``?present=1&lang=…``, clicks Start once and then Next from
the first step to the last. At every step it asserts that the page's link carries the step's view (its path), the
lesson and step number and every knob of the step, and that the widgets show the step's values (the text, the
models, the sliders); then it reloads the page and asserts the same step, link and widgets again. Step latency is
not asserted (``benchmarks/bench_lesson.py`` measures it). Screenshots of every step go to ``$LSTMVIZ_SHOTS`` when
that is set (the closing note names the ones looked at), else to the test's temporary folder.

The Corpus step records a small CSV corpus (that of tests/test_corpus.py) into a private cache, so the test does
not wait for a recording of the whole corpus.
"""

from __future__ import annotations

import os
import re
import time
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import pytest
from test_corpus import _corpus

from dashboard import e2e
from lstmviz.lessons import format_knob, load_lesson

pytestmark = [
    pytest.mark.browser,
    pytest.mark.slow,
    pytest.mark.skipif(e2e.chromium_missing() is not None, reason=e2e.chromium_missing() or ""),
]
REPO = Path(__file__).resolve().parents[1]
LESSON = REPO / "dashboard" / "lessons" / "intro45.toml"
TIMEOUT = 180
WIDGET_SETTLE_S = 15  # a bound on waiting, not a timing assertion: values that never come still fail
# knob -> (CSS selector of the widget by its key class, how to read it); only the knobs a widget shows directly.
_TEXT_KEYS = {"gates": "text_widget_gates", "gradients": "text_widget_grads", "corpus": "text_widget_corpus"}


def _query(page) -> dict[str, str]:
    return {k: v[-1] for k, v in parse_qs(urlparse(page.url).query, keep_blank_values=True).items()}


def _key(key: str) -> str:
    """The CSS selector of the element Streamlit gives the class ``st-key-<key>``."""
    return f'[class*="st-key-{key}"]'


def _widget_values(page, view: str, lang: str) -> dict[str, str]:
    """The values the page's widgets show for the knobs a step may set (those drawn on this view)."""
    out = {}
    main = page.locator('[data-testid="stMain"]')

    def field(selector: str) -> str | None:
        loc = main.locator(selector)
        return loc.first.input_value() if loc.count() else None

    def slider(key: str) -> str | None:
        loc = main.locator(f'{_key(key)} [role="slider"]')
        return loc.first.get_attribute("aria-valuenow") if loc.count() else None

    if view in _TEXT_KEYS:
        out["text"] = field(f"{_key(_TEXT_KEYS[view])} textarea")
    if view == "generate":
        out["text"] = field(f"{_key('gen_prefix')} input")
        out["temperature"], out["top_k"] = slider("gen_temperature"), slider("gen_top_k")
    if view == "tagger":
        out["text"] = field(f"{_key('tag_text')} input")
    if view == "gradients":
        out["filler"], out["whh"] = slider("whatif_filler"), slider("whatif_whh")
        models = main.locator(_key("grad_models"))
        out["models"] = models.first.inner_text() if models.count() else None  # the chosen models' chips
    if view in ("gates", "gradients", "corpus"):
        out["model"] = e2e.selected_checkpoint(page)
    return {k: v for k, v in out.items() if v is not None}


def _expected(step) -> dict[str, str]:
    """The step's knobs as widgets show them (numbers as sliders write them)."""
    out = {k: format_knob(v) for k, v in step.state.items()}
    return out


def _check(page, step, k: int, n: int, lang: str, where: str) -> list[str]:
    """What differs between the page and step ``k`` (empty when the page restores the step)."""
    problems = []
    path = urlparse(page.url).path.strip("/")
    if path != step.view and not (step.view == "gates" and path == ""):
        problems.append(f"{where}: path {path!r}, step view {step.view!r}")
    query = _query(page)
    if query.get("step") != str(k + 1) or query.get("lesson") != "intro45" or query.get("present") != "1":
        problems.append(f"{where}: link {query}")
    if query.get("lang") != lang:
        problems.append(f"{where}: lang {query.get('lang')!r}")
    for knob, value in _expected(step).items():
        if query.get(knob) != value:
            problems.append(f"{where}: link {knob}={query.get(knob)!r}, step {value!r}")
    # A widget can be on the page a moment before the frontend writes its value (a reload's textarea reads ''
    # first): wait for the values to settle, up to WIDGET_SETTLE_S, before calling a difference a problem.
    deadline = time.monotonic() + WIDGET_SETTLE_S
    shown = _widget_values(page, step.view, lang)
    while any(shown.get(knob) == "" for knob in _expected(step)) and time.monotonic() < deadline:
        page.wait_for_timeout(200)
        shown = _widget_values(page, step.view, lang)
    for knob, value in _expected(step).items():
        if knob in shown:
            got = shown[knob]
            chips = knob == "models" and all(name in got.split() for name in value.split(","))
            same = (
                chips
                or got == value
                or (
                    re.fullmatch(r"-?[\d.]+", got or "")
                    and re.fullmatch(r"-?[\d.]+", value)
                    and float(got) == float(value)
                )
            )
            if not same:
                problems.append(f"{where}: widget {knob}={got!r}, step {value!r}")
    bar = page.locator(_key("lesson_bar")).first.inner_text() if page.locator(_key("lesson_bar")).count() else ""
    if f"{k + 1} {'из' if lang == 'ru' else 'of'} {n}" not in bar:
        problems.append(f"{where}: the step bar says {bar[:80]!r}")
    return problems


@pytest.mark.parametrize("lang", ["ru", "en"])
def test_the_45_minute_lesson_restores_every_step_and_survives_a_reload(lang, tmp_path):
    lesson = load_lesson(LESSON)
    shots = Path(os.environ.get("LSTMVIZ_SHOTS") or tmp_path / "shots")
    shots.mkdir(parents=True, exist_ok=True)
    env = {
        "LSTMVIZ_CORPUS": str(_corpus(tmp_path)),
        "LSTMVIZ_CACHE": str(tmp_path / "cache"),
    }
    problems: list[str] = []
    with e2e.chromium() as browser, e2e.streamlit_server(e2e.REPO / "checkpoints", env=env, log_dir=tmp_path) as server:
        page = e2e.new_page(browser, {"width": 1920, "height": 1080})
        watch = e2e.PageWatch(page)
        page.goto(f"{server.url}lesson?present=1&lang={lang}")
        e2e.wait_app_ready(page, TIMEOUT)
        before = e2e.runs(page)
        page.locator(f"{_key('lesson_start')} button").click()
        e2e.wait_app_ready(page, TIMEOUT, after_runs=before)
        n = len(lesson.steps)
        for k, step in enumerate(lesson.steps):
            if k:
                before = e2e.runs(page)
                page.locator(f"{_key('lesson_next')} button").click()
                e2e.wait_app_ready(page, TIMEOUT, after_runs=before)
            page.wait_for_function(
                f"() => location.search.includes('step={k + 1}&') || location.search.endsWith('step={k + 1}')",
                timeout=TIMEOUT * 1000,
            )
            e2e.wait_app_ready(page, TIMEOUT)
            problems += _check(page, step, k, n, lang, f"{lang} step {k + 1}")
            page.screenshot(path=str(shots / f"lesson_{lang}_{k + 1:02d}_{step.view}.png"))
            url = page.url
            page.reload()
            e2e.wait_app_ready(page, TIMEOUT)
            if page.url != url:
                problems.append(f"{lang} step {k + 1}: the reload changed the link\n  {url}\n  {page.url}")
            problems += _check(page, step, k, n, lang, f"{lang} step {k + 1} after reload")
        assert not watch.page_errors and not watch.blocked, (watch.page_errors, watch.blocked)
    assert not problems, "\n".join(problems)
