"""Browser test of the real dashboard: a Russian sentence in the Gates view, a screenshot of every view.

A ``streamlit run`` server (loopback, free port) serves the app with ``LSTMVIZ_CHECKPOINTS``
set to the shipped ``checkpoints/`` when it holds ``sentiment-{rnn,gru,lstm}``, else to tiny
random checkpoints written into a temporary directory. Debian chromium (``/usr/bin/chromium``)
loads it through playwright; the test skips when that browser is absent.

What is checked: the sentence typed into the Gates view's text area reaches the charts
(the gate heatmaps' token axis is exactly the library's tokenization of it, each word
present), the heatmaps' values equal the library's recording, and no view shows a
traceback, an ``st.exception`` box or an error alert, raises a JS error or opens a
dialog. Every view is reached through the sidebar's navigation links and saved to
``$LSTMVIZ_SHOTS/<view>.png`` (1400x1000 viewport; a temporary folder when unset: a test run never rewrites
``docs/screenshots``, set ``LSTMVIZ_SHOTS=docs/screenshots`` to refresh them). The cold start (server spawn to
first chart visible) is printed; the 8 s target is reported, not asserted.

Two more checks of the page as a whole: nothing is fetched from outside 127.0.0.1 and the
navigation icons do not depend on a system emoji font; and a 200-token token axis costs
plotly about the same as one without its O(T^2) tick-label overflow pass.
"""

from __future__ import annotations

import os
import re
import time
from pathlib import Path

import numpy as np
import pytest

from dashboard import e2e

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(e2e.chromium_missing() is not None, reason=e2e.chromium_missing() or ""),
]

SENTENCE = "Мне очень понравился этот фильм, но конец был слабым"
COLD_START_TARGET_S = 8.0  # reported, not asserted
CHECKPOINT = "sentiment-lstm"  # the LSTM shows all six gate/state heatmaps


def _expected(root: Path, text: str):
    """Tick labels and the analysis the dashboard computes for ``text`` (as dashboard/state.py does)."""
    from lstmviz import plots, sentence, whatifs
    from lstmviz.pipeline import Predictor

    pred = whatifs.make_variant(Predictor.from_checkpoint(root / CHECKPOINT), whatifs.WhatIf())
    a = sentence.analyze_text(pred, text, grads=True)
    return plots.token_ticks(a.tokens, a.unknown)[1], a


def test_russian_sentence_then_every_view(tmp_path):
    root = e2e.checkpoint_root(tmp_path)
    shots = Path(os.environ.get("LSTMVIZ_SHOTS") or tmp_path / "shots")
    shots.mkdir(parents=True, exist_ok=True)
    with e2e.chromium() as browser:
        page = e2e.new_page(browser)
        watch = e2e.PageWatch(page)
        with e2e.streamlit_server(root, log_dir=tmp_path) as server:
            page.goto(server.url)
            page.wait_for_selector(".js-plotly-plot", state="visible", timeout=120_000)
            cold = time.perf_counter() - server.started
            marks = {k: v - server.spawned_at for k, v in e2e.milestones(page).items()}
            print(
                f"\ncold start: server spawn -> first chart visible {cold:.2f} s (target <= "
                f"{COLD_START_TARGET_S:.0f} s: {'met' if cold <= COLD_START_TARGET_S else 'MISSED'}); "
                f"milestones after spawn: health ok {server.healthy_after:.2f} s, "
                + ", ".join(f"{k} {v:.2f} s" for k, v in sorted(marks.items(), key=lambda kv: kv[1]))
                + f"; checkpoints: {root}"
            )
            assert cold > 0
            e2e.wait_app_ready(page, timeout=120)
            warm_page = e2e.new_page(browser)  # a second visitor: server and caches warm
            e2e.PageWatch(warm_page)
            t0 = time.perf_counter()
            warm_page.goto(server.url)
            warm_page.wait_for_selector(".js-plotly-plot", state="visible", timeout=60_000)
            print(f"warm start (second page load, same server): first chart visible {time.perf_counter() - t0:.2f} s")
            warm_page.context.close()
            e2e.select_checkpoint(page, CHECKPOINT)

            before = e2e.submit_text(page, SENTENCE, typed=True)
            words = re.findall(r"\w+", SENTENCE)
            page.wait_for_function(
                """words => [...document.querySelectorAll('.js-plotly-plot')].some(g => {
                     const t = ((g.layout || {}).xaxis || {}).ticktext;
                     return t && words.every(w => t.map(s => String(s).replace('⁇', '')).includes(w)); })""",
                arg=words,
                timeout=60_000,
                polling=50,
            )
            e2e.wait_app_ready(page, after_runs=before)
            assert e2e.text_area(page).input_value() == SENTENCE

            labels, a = _expected(root, SENTENCE)
            from dashboard.i18n import RU

            # Only the open tab's heatmap is sent: each of the six is checked after a click on its tab.
            for q in ("input", "forget", "cell_candidate", "output", "cell", "hidden"):
                if q != "input":
                    e2e.open_tab(page, RU[f"q.{q}"])
                maps = e2e.heatmaps(e2e.figures(page))
                assert set(maps) == {q}, list(maps)
                fig = maps[q]
                assert fig["xaxis"]["ticktext"] == labels, q
                assert fig["drawn_xticks"] == [
                    s.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&") for s in labels
                ], q
                z = e2e.decode_array(fig["data"][0]["z"])
                # a chart holds 4 significant digits (lstmviz.plots.compact)
                np.testing.assert_allclose(z, a.values(q).T, rtol=5.001e-4, atol=0, err_msg=q)
            e2e.open_tab(page, RU["q.input"])

            page.locator('[data-testid="stTabs"]').first.scroll_into_view_if_needed()
            page.screenshot(path=str(shots / "gates-heatmaps.png"))
            page.locator('[data-testid="stHeading"]').first.scroll_into_view_if_needed()

            problems = {}
            for view in e2e.VIEW_PATHS:
                mark = watch.mark()
                e2e.goto_view(page, view, timeout=120)
                page.screenshot(path=str(shots / f"{view}.png"))
                happened = watch.since(mark)
                found = (
                    e2e.page_problems(page)
                    + e2e.server_tracebacks(server.new_log())
                    + happened["page_errors"]
                    + happened["console_errors"]
                    + happened["dialogs"]
                )
                if found:
                    problems[view] = found
            assert not problems, problems
            if watch.blocked:
                print("blocked non-loopback requests:", sorted(set(watch.blocked)))
    for view in e2e.VIEW_PATHS:
        assert (shots / f"{view}.png").stat().st_size > 10_000, view


def test_page_load_is_self_contained(tmp_path):
    """The dashboard is offline and draws its own chrome: nothing may depend on the network or system fonts.

    * No request may leave 127.0.0.1 (a ``:material/...:`` ``page_icon`` in ``st.set_page_config``
      makes the browser fetch the favicon from fonts.gstatic.com; an emoji ``page_icon`` is an
      inline data: SVG).
    * Sidebar navigation icons must come from Streamlit's bundled Material Symbols font
      (``stIconMaterial``): emoji icons (``stIconEmoji``) need a colour-emoji system font and
      show as empty boxes without one (Debian chromium here, most Linux servers, the docs'
      screenshots). Material nav icons do not change the favicon while ``page_icon`` is set.
    """
    root = e2e.tiny_checkpoints(tmp_path)
    with e2e.chromium() as browser, e2e.streamlit_server(root, log_dir=tmp_path) as server:
        page = e2e.new_page(browser)
        watch = e2e.PageWatch(page)
        page.goto(server.url)
        e2e.wait_app_ready(page, timeout=120)
        e2e.goto_view(page, "training")  # the favicon follows the page: check after a switch too
        icons = page.eval_on_selector_all(
            'a[data-testid="stSidebarNavLink"]',
            "links => links.map(a => [a.innerText.trim(), !!a.querySelector('[data-testid=stIconMaterial]'),"
            " (a.querySelector('[data-testid=stIconEmoji]') || {}).textContent || null])",
        )
    problems = [f"non-loopback request {u}" for u in sorted(set(watch.blocked))]
    problems += [
        f"nav link {name!r} uses emoji icon {emoji!r} (needs a system emoji font), not :material/...:"
        for name, material, emoji in icons
        if not material
    ]
    assert not problems, problems


def test_long_token_axis_draws_in_linear_time():
    """A 200-token axis must not cost plotly O(T^2) label measurements.

    With a numeric x axis, plotly's default ``ticklabeloverflow`` ("hide past div") re-measures
    every tick label after placing each one (``_adjustTickLabelsOverflow``), so drawing T token
    labels takes O(T^2) ``getBBox`` calls: a 200-token Gates page spends ~15 CPU-seconds in
    the browser. ``ticklabeloverflow="allow"`` on token axes skips that pass. The figure is
    drawn here with the plotly.js bundled in the plotly package (loaded inline, no network),
    once as ``lstmviz.plots`` builds it and once with the overflow pass off; the two must cost
    about the same.

    The cost is counted, not timed: the page counts plotly's layout measurements
    (``getBoundingClientRect``, ``getBBox``, ``getComputedTextLength``) while it draws. With the
    overflow pass this one figure takes 167 of them, without it 13, on any CPU and however loaded
    the machine is (its draw times, 120 ms against 58 ms, were within the old "3x + 200 ms" wall-clock
    bound, which on a loaded CI machine could also fail by noise). The times are printed, not asserted.
    """
    import json
    import os

    import pandas as pd
    import plotly

    from lstmviz import plots

    T, U = 200, 8
    tokens = [f"слово{i}" for i in range(T)]
    frame = pd.DataFrame(
        {"step": np.repeat(np.arange(T), U), "unit": np.tile(np.arange(U), T), "value": np.linspace(0, 1, T * U)}
    )
    fig = plots.gate_heatmap(frame, tokens, "forget")
    fig.update_layout(width=1100)
    spec = json.loads(fig.to_json())
    allowed = json.loads(fig.to_json())
    allowed["layout"].setdefault("xaxis", {})["ticklabeloverflow"] = "allow"
    bundle = Path(os.path.dirname(plotly.__file__)) / "package_data" / "plotly.min.js"
    count = """() => { window.__measured = 0;
      for (const [proto, name] of [[Element.prototype, 'getBoundingClientRect'],
                                   [SVGGraphicsElement.prototype, 'getBBox'],
                                   [SVGTextContentElement.prototype, 'getComputedTextLength']]) {
        const real = proto[name];
        proto[name] = function (...args) { window.__measured += 1; return real.apply(this, args); };
      } }"""
    with e2e.chromium() as browser:
        page = e2e.new_page(browser)
        e2e.PageWatch(page)
        page.set_content("<div id='g'></div>")
        page.add_script_tag(content=bundle.read_text(encoding="utf-8"))
        page.evaluate(count)
        draw = """async f => { window.__measured = 0; const t = performance.now();
                               await Plotly.newPlot('g', f.data, f.layout);
                               const ms = performance.now() - t, n = window.__measured;
                               Plotly.purge('g'); return [ms, n]; }"""
        page.evaluate(draw, allowed)  # warm-up
        (ms_built, as_built), (ms_off, overflow_off) = page.evaluate(draw, spec), page.evaluate(draw, allowed)
    print(
        f"\n{T}-token gate heatmap: {as_built} layout measurements ({ms_built:.0f} ms) as built, {overflow_off} "
        f"({ms_off:.0f} ms) with ticklabeloverflow='allow' (xaxis.ticklabeloverflow = "
        f"{spec['layout']['xaxis'].get('ticklabeloverflow')!r})"
    )
    assert overflow_off > 0, "the page counted no layout measurement: the counter is broken"
    assert as_built <= 2 * overflow_off + 10, (
        f"token axis takes {as_built} layout measurements vs {overflow_off} without the tick-label overflow pass: "
        "set ticklabeloverflow='allow' in lstmviz.plots._token_axis"
    )
