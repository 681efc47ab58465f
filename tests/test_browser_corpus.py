"""Browser test of the Corpus view's "open in Gates" round trip, which Streamlit's AppTest cannot reproduce.

A ``streamlit run`` server (loopback, free port) serves the app with a tiny setup written into the test's
temporary folder: the planted sentiment RNN of ``test_corpus`` (unit 3 fires on «дождь») as the only
checkpoint ``sentiment-rnn``, the small CSV of ``test_corpus`` as the corpus and a private cache for its
recording (built in the background on the first visit, in a second or two). Debian chromium
(``/usr/bin/chromium``) drives it through playwright; the test skips when that browser is absent.

The round trip, in an English session: type «Вчера весь день шёл дождь» in the Corpus view, narrow the span
to «дождь», set the threshold to 0.5, pick the third match in "Open a match" and click "Open sentence N in
Gates". Then:

1. the Gates view opens with exactly corpus sentence N in its text area;
2. the session is still English (the sidebar's language radio, the view's labels);
3. back in the Corpus view (sidebar link), its text area shows the same sentence, and still does after one
   more interaction (the threshold changed) - it used to come back empty.

No view may show a traceback, an ``st.exception`` box or an error alert, raise a JS error or open a dialog,
and the server log must hold no traceback.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from test_corpus import SENTENCES, UNIT, WORD, _checkpoint, _corpus

from dashboard import e2e

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(e2e.chromium_missing() is not None, reason=e2e.chromium_missing() or ""),
]

TYPED = "Вчера весь день шёл дождь"  # tokens 0..4, «дождь» last
MAIN = '[data-testid="stMain"]'
SIDEBAR = '[data-testid="stSidebar"]'
TIMEOUT = 60.0


def _settle(page: Any, before: int | None = None) -> None:
    """The app idle after an action (its rerun finished, charts drawn, no chained rerun)."""
    e2e.wait_app_ready(page, TIMEOUT, after_runs=before, settle=0.5)


def _problems(page: Any, watch: e2e.PageWatch, server: e2e.Server, where: str) -> list[str]:
    found = (
        e2e.page_problems(page)
        + e2e.server_tracebacks(server.new_log())
        + watch.page_errors
        + watch.console_errors
        + watch.dialogs
    )
    return [f"{where}: {p}" for p in found]


def _language(page: Any) -> list[str]:
    """Labels of the checked radios of the sidebar's language switch."""
    return [
        s.strip()
        for s in page.eval_on_selector_all(
            f'{SIDEBAR} [data-testid="stRadio"] input[type=radio]:checked',
            "els => els.map(e => e.closest('label').innerText)",
        )
        if s.strip() in ("Русский", "English")
    ]


def _text(page: Any) -> str:
    return e2e.text_area(page).input_value()


def _threshold(page: Any, value: str) -> None:
    box = page.locator(f'{MAIN} [data-testid="stNumberInput"] input').first
    before = e2e.runs(page)
    box.fill(value)
    box.press("Enter")
    _settle(page, before)
    assert float(box.input_value()) == float(value)


def _slider_values(page: Any) -> list[str]:
    return page.locator(f'{MAIN} [data-testid="stSlider"] [data-testid="stSliderThumbValue"]').all_inner_texts()


def test_open_a_match_in_gates_and_come_back(tmp_path, monkeypatch):
    root = tmp_path / "root"
    root.mkdir()
    _checkpoint(root).rename(root / "sentiment-rnn")
    corpus = _corpus(tmp_path)
    monkeypatch.setenv("LSTMVIZ_CHECKPOINTS", str(root))  # the server inherits os.environ
    monkeypatch.setenv("LSTMVIZ_CORPUS", str(corpus))
    monkeypatch.setenv("LSTMVIZ_CACHE", str(tmp_path / "cache"))
    with e2e.chromium() as browser, e2e.streamlit_server(root, log_dir=tmp_path) as server:
        page = e2e.new_page(browser)
        watch = e2e.PageWatch(page)
        page.set_default_timeout(TIMEOUT * 1000)
        page.goto(server.url)
        _settle(page)

        # an English session
        before = e2e.runs(page)
        page.locator(f'{SIDEBAR} [data-testid="stRadio"] label').filter(
            has_text=re.compile(r"^\s*English\s*$")
        ).first.click()
        _settle(page, before)
        assert _language(page) == ["English"]

        # the Corpus view; its recording of the small corpus is built in the background on the first visit
        e2e.goto_view(page, "corpus", TIMEOUT)
        page.locator(f"{MAIN} .js-plotly-plot").first.wait_for(state="visible", timeout=TIMEOUT * 1000)
        _settle(page)
        before = e2e.submit_text(page, TYPED)
        _settle(page, before)
        assert _text(page) == TYPED
        assert _slider_values(page) == ["3: шёл", "4: дождь"]  # a new sentence starts on its last two tokens

        # the span: the single last token «дождь» (the left thumb one step right), then threshold 0.5
        thumb = page.locator(f'{MAIN} [data-testid="stSlider"] input[type=range]').first
        before = e2e.runs(page)
        thumb.focus()
        page.keyboard.press("ArrowRight")
        _settle(page, before)
        assert _slider_values(page) == ["4: дождь", "4: дождь"]  # both thumbs on «дождь»
        _threshold(page, "0.5")
        units = page.locator(f'{MAIN} [data-testid="stMultiSelect"]').first.inner_text()
        assert re.search(rf"(?<!\d){UNIT}(?!\d)", units), units  # the planted unit is selected
        assert not _problems(page, watch, server, "corpus")

        # pick the third match, read its sentence id from the option label and the button
        pick = page.locator(f'{MAIN} [data-testid="stSelectbox"]').filter(has_text=re.compile(r"Open a match")).first
        pick.scroll_into_view_if_needed()
        pick.locator('[role="combobox"]').first.click()
        options = page.locator('[role="option"]')
        options.nth(2).wait_for(state="visible")
        label = options.nth(2).inner_text()
        m = re.fullmatch(r"\s*3: (.+?) \(sentence (\d+)\)\s*", label)
        assert m and m.group(1).lower() == WORD, label
        sid = int(m.group(2))
        before = e2e.runs(page)
        options.nth(2).click()
        _settle(page, before)
        button = page.locator(f"{MAIN} button").filter(has_text=re.compile(r"Open sentence \d+ in Gates")).first
        assert button.inner_text().strip() == f"Open sentence {sid} in Gates"
        sentence = SENTENCES[sid]  # sentence ids are the CSV's row numbers
        assert WORD in sentence.lower() and sentence != TYPED

        # (1) open it: the Gates view shows exactly that sentence
        before = e2e.runs(page)
        button.click()
        page.wait_for_url(re.compile(r"127\.0\.0\.1:\d+/(\?.*)?$"), timeout=TIMEOUT * 1000)
        _settle(page, before)
        heading = page.locator(f'{MAIN} [data-testid="stHeading"]').first.inner_text()
        assert "Gates and states" in heading, heading
        assert _text(page) == sentence
        # (2) still English
        assert _language(page) == ["English"]
        assert page.locator(f'{MAIN} [data-testid="stTextArea"] label').first.inner_text().strip() == "Text"
        assert not _problems(page, watch, server, "gates")

        # (3) back to the Corpus view: the same sentence, also after one more interaction
        e2e.goto_view(page, "corpus", TIMEOUT)
        assert _text(page) == sentence
        assert _language(page) == ["English"]
        _threshold(page, "0.4")
        assert _text(page) == sentence
        page.locator(f"{MAIN} .js-plotly-plot").first.wait_for(state="visible")
        assert not _problems(page, watch, server, "corpus after the round trip")
        assert not watch.blocked, watch.blocked
