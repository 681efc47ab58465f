"""Tests for lstmviz.text: lemmas, negation, span alignment on hostile strings, normalization."""

from __future__ import annotations

import threading
import time
import unicodedata

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lstmviz import text as T
from lstmviz.text import NEGATIONS, STOP_WORDS, TextPipeline, Token, lemmatize_word, normalize, tokenize


@pytest.fixture(scope="module")
def pipe() -> TextPipeline:
    """Default pipeline with the pymorphy3 analyzer loaded once for the module."""
    T.get_morph()
    return TextPipeline()


def assert_aligned(s: str, tokens: list[Token]) -> None:
    """Every token's text is the slice of the input it claims; spans increase and do not overlap."""
    prev_end = 0
    for t in tokens:
        assert s[t.start : t.end] == t.text, (t, s[t.start : t.end])
        assert 0 <= prev_end <= t.start < t.end <= len(s)
        assert t.kind in T.KINDS
        assert t.lemma and t.norm
        prev_end = t.end


@pytest.mark.parametrize(
    ("word", "lemma"),
    [
        ("люблю", "любить"),
        ("дожди", "дождь"),
        ("кошки", "кошка"),
        ("Меня", "я"),
        ("было", "быть"),
        ("сказал", "сказать"),
        ("ЁЛКИ", "елка"),
        ("елки", "елка"),
    ],
)
def test_known_lemmas(pipe: TextPipeline, word: str, lemma: str) -> None:
    assert lemmatize_word(word) == lemma
    assert pipe.lemmas(word) == [lemma]


def test_example_sentence(pipe: TextPipeline) -> None:
    s = "Я не люблю дождь, но ёлка 2024 @user https://x.ru 😀 Python!"
    toks = pipe(s)
    assert_aligned(s, toks)
    assert [(t.text, t.lemma, t.kind) for t in toks] == [
        ("Я", "я", "word"),
        ("не", "не", "word"),
        ("люблю", "любить", "word"),
        ("дождь", "дождь", "word"),
        ("но", "но", "word"),
        ("ёлка", "елка", "word"),
        ("2024", "<num>", "number"),
        ("@user", "<user>", "mention"),
        ("https://x.ru", "<url>", "url"),
        ("😀", "😀", "emoji"),
        ("Python", "python", "latin"),
    ]


def test_keep_punct(pipe: TextPipeline) -> None:
    s = "Да, нет... Ура!!!"
    assert [t.text for t in pipe(s)] == ["Да", "нет", "Ура"]
    with_punct = TextPipeline(keep_punct=True)(s)
    assert [t.text for t in with_punct] == ["Да", ",", "нет", "...", "Ура", "!!!"]
    assert {t.kind for t in with_punct if not t.text.isalpha()} == {"punct"}


def test_stopwords_never_drop_negation(pipe: TextPipeline) -> None:
    s = "Я не люблю это, и ни один фильм мне не нравится, нет!"
    toks = TextPipeline(remove_stopwords=True)(s)
    lemmas = [t.lemma for t in toks]
    assert lemmas.count("не") == 2 and "ни" in lemmas and "нет" in lemmas
    assert "я" not in lemmas and "и" not in lemmas and "это" not in lemmas and "мне" not in [t.norm for t in toks]
    assert "любить" in lemmas and "нравиться" in lemmas
    assert not NEGATIONS & STOP_WORDS
    # also without lemmatization
    toks = TextPipeline(lemmatize=False, remove_stopwords=True)("не и ни нет")
    assert [t.norm for t in toks] == ["не", "ни", "нет"]


def test_hyphenated_and_special_kinds(pipe: TextPipeline) -> None:
    s = "Во-вторых, кто-то писал ivan@mail.ru и пример.рф в 90-х, covid-19 #тег"
    toks = pipe(s)
    assert_aligned(s, toks)
    by_text = {t.text: t for t in toks}
    assert by_text["Во-вторых"].lemma == "во-вторых" and by_text["кто-то"].kind == "word"
    assert by_text["ivan@mail.ru"].lemma == "<url>" and by_text["пример.рф"].kind == "url"
    assert by_text["90-х"].lemma == "<num>"
    assert by_text["covid-19"].kind == "latin"


def test_numbers_urls_mentions() -> None:
    s = "Цена 3,14 руб. в 12:30 (см. www.ya.ru/a?b=1). Пиши @Ivan_2, не @ @@"
    toks = tokenize(s)
    assert_aligned(s, toks)
    kinds = {t.text: t.kind for t in toks}
    assert kinds["3,14"] == kinds["12:30"] == "number"
    assert kinds["www.ya.ru/a?b=1"] == "url"  # closing ")" and "." stay outside the URL
    assert kinds["@Ivan_2"] == "mention"
    assert [t.lemma for t in toks if t.kind == "mention"] == ["<user>"]


def test_latin_not_lemmatized(pipe: TextPipeline) -> None:
    toks = pipe("Running iPhones Café")
    assert [(t.lemma, t.kind) for t in toks] == [("running", "latin"), ("iphones", "latin"), ("café", "latin")]


def test_emoji_kinds(pipe: TextPipeline) -> None:
    s = "ok👍🏽❤️🇷🇺👨\u200d👩\u200d👧1️⃣!"
    toks = TextPipeline(keep_punct=True)(s)
    assert_aligned(s, toks)
    assert [t.kind for t in toks] == ["latin", "emoji", "emoji", "emoji", "emoji", "emoji", "punct"]
    heart = toks[2]
    assert heart.text == "❤\ufe0f" and heart.lemma == "❤"  # variation selector folded away


def test_yo_and_combining_marks(pipe: TextPipeline) -> None:
    s = "Ёж ещё за\u0301мок и\u0306од Е\u0308лка при\u00adвет"
    toks = pipe(s)
    assert_aligned(s, toks)
    assert [t.norm for t in toks] == ["еж", "еще", "замок", "йод", "елка", "привет"]
    assert toks[0].text == "Ёж" and toks[2].text == "за\u0301мок" and toks[4].text == "Е\u0308лка"
    assert normalize("ЁЁ") == "ее"


@pytest.mark.parametrize(
    "s",
    [
        "",
        " ",
        "\t\n\r ",
        "\x00",
        "\x00\x01\x7f\u200b\ufeff",
        "\u0301\u0301",
        "\u200f\u202e",
        "\ud800",
        "שלום עולם",
        "مرحبا بالعالم",
        "\u202eпривет\u202c",
        "!!!",
        "....",
        "-",
        "'",
        "@",
        "http://",
        "www.",
        "a@",
        "日本語のテキスト",
        "x²½Ⅻ",
        "_",
        "<num> <unk> <pad>",
    ],
)
def test_hostile_strings_never_raise(pipe: TextPipeline, s: str) -> None:
    for p in (pipe, TextPipeline(keep_punct=True, remove_stopwords=True), TextPipeline(lemmatize=False)):
        toks = p(s)
        assert_aligned(s, toks)


def test_nothing_usable_gives_empty_list(pipe: TextPipeline) -> None:
    for s in ["", "   ", "\x00\x01", "\u200b\u200f", "\u0301", "!!! ..."]:
        assert pipe(s) == []


def test_long_inputs_are_fast(pipe: TextPipeline) -> None:
    long_text = "Я не люблю дождь, но ёлка 2024! " * 3200  # ~100,000 chars
    word = "ж" * 5000
    # CPU time of this process, not wall time: a loaded 2-core CI machine stretched the wall clock to 3x the CPU
    # time. Each input takes < 0.4 s of CPU (AMD EPYC); anything quadratic in 100,000 characters takes minutes.
    for s in [long_text, word, "a." * 50_000, "a@" * 50_000, "😀" * 50_000, "\x00" * 100_000, "w" * 100_000]:
        t0 = time.process_time()
        toks = TextPipeline(keep_punct=True)(s)
        assert time.process_time() - t0 < 5.0, (s[:10], time.process_time() - t0)
        assert_aligned(s, toks)
    assert [t.text for t in pipe(word)] == [word]


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=60))
def test_alignment_property(s: str) -> None:
    T.get_morph()
    assert_aligned(s, TextPipeline(keep_punct=True)(s))


@settings(max_examples=100, deadline=None)
@given(st.text(alphabet=st.sampled_from(list("аёЁжйЙ\u0301\u0308\u0306 -'.,@:/😀\u200d\ufe0f1x")), max_size=40))
def test_alignment_property_cyrillic(s: str) -> None:
    T.get_morph()
    toks = TextPipeline(keep_punct=True)(s)
    assert_aligned(s, toks)
    assert all("ё" not in t.lemma and t.lemma == t.lemma.lower() for t in toks)
    assert all(unicodedata.category(t.text[0])[0] != "C" for t in toks)


def test_non_str_rejected(pipe: TextPipeline) -> None:
    with pytest.raises(TypeError, match="bytes"):
        pipe(b"abc")  # type: ignore[arg-type]


def test_pipeline_dict_round_trip() -> None:
    p = TextPipeline(lemmatize=False, remove_stopwords=True, keep_punct=True)
    d = p.to_dict()
    assert d == {"lemmatize": False, "remove_stopwords": True, "keep_punct": True}
    assert TextPipeline.from_dict(d) == p
    assert TextPipeline.from_dict({}) == TextPipeline()
    with pytest.raises(ValueError, match=r"lowercase.*allowed"):
        TextPipeline.from_dict({"lemmatize": True, "lowercase": True})
    with pytest.raises(ValueError, match="lemmatize must be True or False, got 'yes'"):
        TextPipeline.from_dict({"lemmatize": "yes"})


def test_morph_created_once_across_threads(monkeypatch: pytest.MonkeyPatch) -> None:
    import pymorphy3

    created = []
    real = pymorphy3.MorphAnalyzer

    def counting(*args: object, **kwargs: object) -> object:
        created.append(1)
        time.sleep(0.05)  # widen the race window
        return real(*args, **kwargs)

    monkeypatch.setattr(T, "_MORPH", None)
    monkeypatch.setattr(pymorphy3, "MorphAnalyzer", counting)
    results: list[object] = []
    threads = [threading.Thread(target=lambda: results.append(T.get_morph())) for _ in range(8)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert len(created) == 1
    assert all(r is results[0] for r in results)
