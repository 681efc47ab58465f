"""Hostile text typed into the Gates view of the running dashboard (real browser, one server).

Each case fills the Gates view's text area (``page.fill``) and commits it with Ctrl+Enter,
then requires:

* no traceback text, no ``st.exception`` box and no error alert on the page, and no
  traceback or ``view failed`` record in the server log;
* no dialog (alert/confirm/prompt), no uncaught JS error, no console error;
* no element or effect created by the user's markup (``javascript:`` links, ``<img src=x>``
  fetching ``/x``, ``<script>``, user styles, bold/italic tick labels, ``window.__pwned``);
* the text shown literally: the text area holds exactly what was typed (line breaks
  normalised by the browser), and the gate heatmaps' tick labels, as sent and as drawn
  by plotly (SVG ``textContent``), are exactly the library's tokens of that text
  (``Predictor.encode``, ``plots.token_ticks``); values of the ``hidden`` heatmap equal the
  library's analysis; texts without tokens show a hint instead of charts.

The checkpoint keeps punctuation tokens (``TextPipeline(keep_punct=True)``), so ``<``,
``>``, ``&``, quotes, ``$`` and ``*`` reach the tick labels and the escaping is exercised
(the default pipeline drops them before they could). The module runs one server and one
page for all cases and prints a summary of the inputs tried and the failures found.
"""

from __future__ import annotations

import json
import re
import time

import numpy as np
import pytest
import torch

from dashboard import e2e

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(e2e.chromium_missing() is not None, reason=e2e.chromium_missing() or ""),
]

from dashboard.components import MAX_TEXT_CHARS as MAX_CHARS  # noqa: E402 - longer input is refused client-side

LONG_TEXT = ("дождь и солнце " * 8000)[: MAX_CHARS + 5000]

CASES: list[tuple[str, str]] = [
    ("empty", ""),
    ("whitespace_only", "   \t   \u00a0\u2003  "),
    ("newlines_only", "\n\n\n\n"),
    ("chars_over_limit", LONG_TEXT),
    ("chars_at_limit", ("дождь " * 20000)[:MAX_CHARS]),
    ("nul_and_controls", "до\x00ждь \x01\x02\x07\x08\x0b\x0c \x1b[31mкрасный\x1b[0m \x7f\x85 конец"),
    ("rtl_arabic", "هذا الفيلم رائع جدا، لكن النهاية ضعيفة"),
    ("rtl_hebrew_and_override", "הסרט הזה נהדר \u202eфильм плохой\u202c \u200fאבל\u200e"),
    ("emoji_only", "😀😡🎬👍🏽👨‍👩‍👧‍👦🇷🇺❤️"),
    ("zalgo", "Z̷̢̛̪̥̦͎̹̈́͒a̵̡̛̖͍̭̓l̴̨̛̞̘͉̓g̸̢̛̟̳̓o̵̢̧̺̒ ф̸̧̛̱и̵̢̝л̴̨̘ь̷̢̛м̵̧͎ ̷͕"),
    ("script_tag", "<script>alert(1)</script> фильм"),
    ("img_onerror", '<img src=x onerror="window.__pwned=1;alert(1)"> фильм'),
    ("plotly_bold_italic", "<b>bold</b> <i>курсив</i> <br> <sup>1</sup><sub>2</sub> <em>x</em>"),
    ("span_style", '<span style="color:red">красный</span> <span style="font-size:80px">x</span>'),
    ("a_href_javascript", '<a href="javascript:alert(1)">ссылка</a> <a href="http://127.0.0.1/">y</a>'),
    ("html_entities", "&lt;b&gt;жирный&lt;/b&gt; &amp; &#60;script&#62; &quot;x&quot;"),
    ("plotly_template_syntax", "%{x} %{customdata} %{z:.3f} {text} <extra>x</extra> $%{y}"),
    ("one_5000_char_word", "ф" * 5000),
    ("one_token_5000_times", " ".join(["да"] * 5000)),
    ("latin_only", "The quick brown fox jumps over the lazy dog"),
    ("digits_only", "1234567890 3.14 -42 1e10 007"),
    ("mixed_scripts", "Мне nravitsya этот film 😀 123 العربية 中文 ελληνικά"),
    ("markdown", "**bold** _it_ # H1 > цитата [link](javascript:alert(1)) ![img](x) `code` ~~s~~"),
    ("latex_and_st_markup", "$x^2$ $$\\int_0^1 f$$ \\(a\\) :red[красный] :material/home: :rainbow[x]"),
    ("sql", "'; DROP TABLE users; -- ' OR 1=1 /* фильм */"),
    ("json", '{"text": "<b>x</b>", "a": [1, 2, null], "__proto__": {"polluted": 1}}'),
    ("path_traversal", "../../etc/passwd ..\\..\\windows\\system32 file:///etc/passwd %2e%2e%2f"),
    ("punctuation_line", "!?.,;:-—()[]{}<>\"'«»…/\\|@#$%^&*_+=~`" * 120),
    ("surrogate_ish", "\ud800 одинокий \udfff суррогат \ud83d \ufffd \uffff \U0010ffff \U0001d54f"),
    ("zero_width", "сло\u200bво \u200d\u200c\u2060 \ufeffфильм\u200d👍 a\u200db"),
    ("crlf_mixed_newlines", "строка1\r\nстрока2\rстрока3\n\u2028строка4\u2029"),
    ("format_strings", "{0} {text} %s %d %n {{}} ${HOME} `id`"),
    ("unicode_forms", "ＦＵＬＬ 𝐛𝐨𝐥𝐝 и\u0306 за\u0301мок ё е\u0308 ß ﬁ"),
]
RESULTS: list[tuple[str, int, float, str]] = []  # (case, chars, seconds, "ok" or the failures): the summary


def _punct_checkpoint(root):
    """A tiny seeded LSTM whose text pipeline keeps punctuation tokens."""
    from lstmviz.checkpoint import save_checkpoint
    from lstmviz.models import ModelConfig, RecurrentClassifier
    from lstmviz.text import TextPipeline
    from lstmviz.vocab import Vocab

    pipe = TextPipeline(keep_punct=True)
    texts = [
        "Я не люблю дождь, но сегодня прекрасный день!",
        "<b>Отлично</b> & «хорошо» $5 *звезда*",
        "Фильм был скучный... и слишком длинный?",
    ]
    vocab = Vocab.build([pipe.lemmas(s) for s in texts], min_freq=1)
    torch.manual_seed(0)
    cfg = ModelConfig(cell="lstm", vocab_size=len(vocab), embed_dim=8, hidden_size=8, num_classes=3)
    meta = {
        "task": "sentiment",
        "labels": ["negative", "neutral", "positive"],
        "vocab": vocab.to_dict(),
        "pipeline": pipe.to_dict(),
        "history": [],
        "test_metrics": {},
    }
    save_checkpoint(root / "sentiment-lstm-punct", RecurrentClassifier(cfg).eval(), meta)
    return root


class App:
    """The module's server, page, page watch and the library's reference predictor."""

    def __init__(self, server, page, watch, predictor):
        self.server, self.page, self.watch, self.predictor = server, page, watch, predictor


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    from lstmviz import whatifs
    from lstmviz.pipeline import Predictor

    tmp = tmp_path_factory.mktemp("hostile")
    root = _punct_checkpoint(tmp / "ckpts")
    pred = whatifs.make_variant(Predictor.from_checkpoint(root / "sentiment-lstm-punct"), whatifs.WhatIf())
    with e2e.chromium() as browser, e2e.streamlit_server(root, log_dir=tmp) as server:
        page = e2e.new_page(browser)
        watch = e2e.PageWatch(page)
        page.goto(server.url)
        e2e.wait_app_ready(page, timeout=120)
        yield App(server, page, watch, pred)
    print(f"\nhostile inputs tried: {len(RESULTS)}; failures: {sum(r[3] != 'ok' for r in RESULTS)}")
    for name, n, seconds, outcome in RESULTS:
        print(f"  {name:28s} {n:>7d} chars {seconds:5.1f} s  {outcome}")


def _as_sent(value: str) -> str:
    """The string the page and server get: lone surrogates become U+FFFD on the way (UTF-8)."""
    return "".join("\ufffd" if 0xD800 <= ord(c) <= 0xDFFF else c for c in value)


def _literal(label: str) -> str:
    """What plotly draws for an escaped label (it decodes &lt; &gt; &amp;)."""
    return label.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def _check(app: App, text: str) -> list[str]:
    """Every failure of the page after ``text`` was submitted."""
    from lstmviz import plots, sentence

    page = app.page
    failures = list(e2e.page_problems(page)) + e2e.injections(page)
    value = e2e.text_area(page).input_value()
    if len(text) > MAX_CHARS:
        if len(value) > MAX_CHARS:
            failures.append(f"text area holds {len(value)} chars, more than max_chars={MAX_CHARS}")
    elif value != _as_sent(text.replace("\r\n", "\n").replace("\r", "\n")):
        failures.append(f"text area shows {value[:60]!r}, not the typed text {text[:60]!r}")
    sent = _as_sent(value)
    figs = e2e.figures(page)
    maps = e2e.heatmaps(figs)
    infos = page.locator('[data-testid="stAlertContentInfo"]').count()
    try:
        a = sentence.analyze_text(app.predictor, sent, grads=True) if sent.strip() else None
    except sentence.EmptyTextError:
        a = None
    if a is None:
        if maps:
            failures.append("a text without tokens still shows gate heatmaps")
        if not infos:
            failures.append("a text without tokens shows no hint (st.info)")
        return failures
    labels = plots.token_ticks(a.tokens, a.unknown)[1]
    if set(maps) != {"input"}:  # the open tab only: hidden tabs and untouched playback send no heatmap
        return failures + [f"gate heatmaps shown: {sorted(maps)}"]
    for q, fig in maps.items():
        if fig["xaxis"]["ticktext"] != labels:
            failures.append(f"{q}: tick labels {fig['xaxis']['ticktext'][:8]} != library {labels[:8]}")
        drawn = fig["drawn_xticks"]
        want = [_literal(s) for s in labels]
        if drawn != want:
            bad = next((i for i, (d, w) in enumerate(zip(drawn, want)) if d != w), min(len(drawn), len(want)))
            failures.append(
                f"{q}: drawn tick {bad} is {drawn[bad : bad + 1]!r}, expected the literal "
                f"{want[bad : bad + 1]!r} ({len(drawn)} drawn, {len(want)} tokens)"
            )
    z = e2e.decode_array(maps["input"]["data"][0]["z"])
    want = a.values("input").T  # (units, T); the chart holds 4 significant digits (plots.compact)
    if z.shape != want.shape or not np.allclose(z, want, rtol=5.001e-4, atol=0):
        failures.append(f"input-gate heatmap values differ from the library's (shape {z.shape})")
    if a.truncated and not page.locator('[data-testid="stAlertContentWarning"]').count():
        failures.append("text cut to MAX_TOKENS without the truncation warning")
    return failures


@pytest.mark.parametrize("text", [c[1] for c in CASES], ids=[c[0] for c in CASES])
def test_hostile_input(app, text, request):
    name = request.node.callspec.id
    mark = app.watch.mark()
    app.server.new_log()
    t0 = time.perf_counter()
    before = e2e.submit_text(app.page, text)
    e2e.wait_app_ready(app.page, timeout=90, after_runs=before)
    failures = _check(app, text)
    happened = app.watch.since(mark)
    failures += [f"dialog {d}" for d in happened["dialogs"]]
    failures += [f"JS error {e}" for e in happened["page_errors"]]
    failures += [f"console error {e}" for e in happened["console_errors"]]
    failures += [f"request for {p}" for p in happened["paths"] if re.fullmatch(r"/x|.*/etc/passwd.*", p)]
    failures += [f"server log: {t[:200]}" for t in e2e.server_tracebacks(app.server.new_log())]
    RESULTS.append((name, len(text), time.perf_counter() - t0, "ok" if not failures else "; ".join(failures)[:300]))
    assert not failures, json.dumps(failures, ensure_ascii=False, indent=1)[:3000]
