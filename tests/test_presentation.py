"""Presentation mode in a real browser: ``?present=1`` draws projector-sized chart text (issue 11, part 2).

Opens the Gates view with ``?present=1`` at 1920x1080 in headless Chromium and reads the computed
font size of every axis tick label and legend entry of the drawn charts: each must be >= 20 px
(outside presentation mode plotly's default is 12 px). The screen is saved to
``$LSTMVIZ_SHOTS/presentation.png`` (``LSTMVIZ_SHOTS=docs/screenshots`` refreshes the README's).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from dashboard import e2e

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(e2e.chromium_missing() is not None, reason=e2e.chromium_missing() or ""),
]

FONT_SIZES = (
    "() => [...document.querySelectorAll('.js-plotly-plot .xtick text, .js-plotly-plot .ytick text, "
    ".js-plotly-plot .legendtext')].map(el => parseFloat(getComputedStyle(el).fontSize))"
)


def test_presentation_mode_draws_20px_chart_text(tmp_path):
    root = e2e.checkpoint_root(tmp_path)
    with e2e.chromium() as browser, e2e.streamlit_server(root, log_dir=tmp_path) as server:
        page = e2e.new_page(browser, {"width": 1920, "height": 1080})
        watch = e2e.PageWatch(page)
        page.goto(server.url + "?present=1")
        page.wait_for_selector(".js-plotly-plot .xtick text", timeout=120_000)
        e2e.wait_app_ready(page, timeout=120)
        sizes = page.evaluate(FONT_SIZES)
        shots = Path(os.environ.get("LSTMVIZ_SHOTS") or tmp_path)  # docs/screenshots only when asked to refresh
        shots.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(shots / "presentation.png"))
        normal = e2e.new_page(browser, {"width": 1920, "height": 1080})
        normal.goto(server.url)
        normal.wait_for_selector(".js-plotly-plot .xtick text", timeout=120_000)
        e2e.wait_app_ready(normal, timeout=120)
        plain = normal.evaluate(FONT_SIZES)
    assert len(sizes) > 20 and min(sizes) >= 20, sorted(sizes)[:10]
    assert max(plain) < 20  # the ordinary view is unchanged
    assert not watch.page_errors and not watch.blocked
