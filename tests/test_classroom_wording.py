"""Classroom wording (issue 21, defect 13): what the dashboard and the README call things.

- the adding task's "lag" is a sequence length and is named so (the cue task keeps its lag);
- every class label of a shipped checkpoint (and every cue-recall language) has a Russian and an English name;
- "How to read this" has a paragraph for every page of the router, with a pitfall, in both languages;
- the README counts and lists the router's pages;
- the all-UNK hint describes the corpus as it is (news and opinion sentences, not reviews);
- the token table says that a lemma is chosen without context (what the model sees is unchanged).
"""

from __future__ import annotations

import ast
import json
import re
from pathlib import Path

import pytest
from fixtures.sections import open_section
from streamlit.testing.v1 import AppTest
from test_dashboard import APP, TIMEOUT

from dashboard.i18n import EN, LANG, RU, STRINGS, t
from lstmviz.tasks import LANGUAGE_NAMES
from lstmviz.text import lemmatize_word

REPO = Path(__file__).resolve().parents[1]
CYRILLIC = re.compile(r"[А-Яа-яЁё]")
PITFALL = {"ru": "Ловушка", "en": "Pitfall"}


def _pages() -> list[tuple[str, str, str]]:
    """``dashboard/app.py``'s PAGES, read from its source (importing the router runs it)."""
    tree = ast.parse((REPO / "dashboard" / "app.py").read_text(encoding="utf-8"))
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(getattr(n, "id", None) == "PAGES" for n in node.targets):
            return [tuple(ast.literal_eval(e)) for e in node.value.elts]
    raise AssertionError("dashboard/app.py defines no PAGES")


def _texts(at: AppTest) -> list[str]:
    return [e.value for kind in ("markdown", "caption", "info", "subheader") for e in at.get(kind)]


# ----- a. the adding task's length is not a lag -------------------------------------------------------------


def test_adding_task_labels_say_length_not_lag(ckpt_root, monkeypatch):  # noqa: F811
    """The adding sweep's table and hovers, and a live adding job's progress and chart title, name the sequence
    length; the cue-recall sweep keeps its lag."""
    from dashboard import state
    from dashboard.jobs import LabConfig

    jm = state.job_manager()
    jm.wait(TIMEOUT)  # nothing left from another test
    assert jm.start(LabConfig(task="adding", lag=12, updates=4, updates_per_epoch=2, hidden_size=4, n_val=16))
    try:
        assert jm.wait(TIMEOUT * 3)["state"] == "done"
        monkeypatch.setenv("LSTMVIZ_CHECKPOINTS", str(ckpt_root))
        at = AppTest.from_file(str(APP), default_timeout=TIMEOUT).run()
        for lang, length, lag in (("ru", "длина", "лаг"), ("en", "length", "lag")):
            at.sidebar.radio[0].set_value(lang).run()
            at.switch_page("views/lab.py").run()
            assert not at.exception
            progress = [e.proto.text for e in at.get("progress")]
            assert progress and f"{length} 12" in progress[0] and lag not in progress[0], progress
            titles = [
                json.loads(f.proto.spec)["layout"].get("title", {}).get("text", "") for f in at.get("plotly_chart")
            ]
            live = [s for s in titles if s.startswith(t("lab.task.adding", lang=lang))]
            assert live and f"{length} 12" in live[0] and lag not in live[0], titles
            open_section(at, "lab_section", "lag").run()
            headers = [list(d.value.columns) for d in at.dataframe]
            assert any(t("lab.col.lag", lang=lang) in h for h in headers)  # the cue-recall table keeps its lag
            open_section(at, "lab_section", "adding").run()  # the sweep files are tabs: only the open one is built
            headers = [list(d.value.columns) for d in at.dataframe]
            seq_len = t("lab.col.seq_len", lang=lang)
            adding = [h for h in headers if seq_len in h]
            assert adding and all(t("lab.col.lag", lang=lang) not in h for h in adding), headers  # the adding table
            figs = [json.loads(f.proto.spec) for f in at.get("plotly_chart")]
            sweep = [
                f
                for f in figs
                if f["layout"].get("xaxis", {}).get("title", {}).get("text") == t("plot.seq_len", lang=lang)
            ]
            hovers = [c for f in sweep for tr in f["data"] for c in tr.get("customdata") or [] if isinstance(c, str)]
            assert all(t("plot.lag", lang=lang) not in c for c in hovers), hovers[:3]
            assert any(t("plot.seq_len", lang=lang) in c for c in hovers), hovers[:3]
    finally:
        jm.stop()
        jm.wait(TIMEOUT)


# ----- b. class names in both languages ---------------------------------------------------------------------


def _shipped_labels() -> dict[str, list[str]]:
    out = {}
    for meta in sorted((REPO / "checkpoints").glob("*/meta.json")):
        labels = json.loads(meta.read_text(encoding="utf-8")).get("labels")
        if isinstance(labels, list):
            out[meta.parent.name] = labels
    return out


def test_every_shipped_class_label_has_a_russian_and_an_english_name():
    shipped = _shipped_labels()
    assert any(n.startswith("cue-") for n in shipped) and any(n.startswith("sentiment-") for n in shipped), shipped
    labels = {lab for labs in shipped.values() for lab in labs} | set(LANGUAGE_NAMES)  # a lab-trained cue model too
    missing = [(lang, lab) for lab in sorted(labels) for lang in ("ru", "en") if f"class.{lab}" not in STRINGS[lang]]
    assert not missing, missing
    assert all(CYRILLIC.search(RU[f"class.{lab}"]) for lab in labels), "a Russian class name is not Russian"
    assert not any(CYRILLIC.search(EN[f"class.{lab}"]) for lab in labels)
    assert RU["class.french"] == "французский" and EN["class.french"] == "French"


def test_a_cue_prediction_is_shown_in_russian(ckpt_root, monkeypatch):  # noqa: F811
    """The Gates metric of a cue model: «французский», not the file's "french"."""
    if not (ckpt_root / "cue-lstm" / "meta.json").is_file():
        pytest.skip("no cue-lstm checkpoint in this checkpoint root")
    monkeypatch.setenv("LSTMVIZ_CHECKPOINTS", str(ckpt_root))
    at = AppTest.from_file(str(APP), default_timeout=TIMEOUT).run()
    at.selectbox(key="checkpoint").select(str(ckpt_root / "cue-lstm")).run()
    at.text_area(key="text_widget_gates").input("france " + "w1 " * 5 + "?").run()
    assert not at.exception
    metric = next(m for m in at.metric if m.label.startswith(RU["gates.prediction"][:10]))
    assert RU["class.french"] in str(metric.value), metric.value


# ----- c. "How to read this" covers every page ---------------------------------------------------------------


@pytest.mark.parametrize("lang", ["ru", "en"])
def test_how_to_read_this_covers_every_page_with_a_pitfall(lang):
    """Every page of the router but this one has a paragraph that opens with the page's title and names a pitfall;
    the GRU paragraph states PyTorch's convention (z ≈ 1 keeps the old state)."""
    at = AppTest.from_file(str(REPO / "dashboard" / "views" / "explain.py"), default_timeout=TIMEOUT)
    at.session_state[LANG] = lang
    at.run()
    assert not at.exception
    paragraphs = [s for s in _texts(at) if s.startswith("**")]
    pages = [key for _, key, _ in _pages() if key != "nav.explain"]
    assert len(pages) >= 8
    for key in pages:
        title = t(key, lang=lang)
        own = [p for p in paragraphs if p.startswith(f"**{title}.**")]
        assert len(own) == 1, (lang, title, [p[:40] for p in paragraphs])
        assert PITFALL[lang] in own[0], (lang, title)
    gates = next(p for p in paragraphs if p.startswith(f"**{t('nav.gates', lang=lang)}.**"))
    assert "hₜ = (1−z)·nₜ + z·hₜ₋₁" in gates
    assert ("z ≈ 1 — «сохранить старое состояние»" if lang == "ru" else "z ≈ 1 means “keep the old state”") in gates


# ----- d. the README counts the router's pages ---------------------------------------------------------------

NUMBERS = {w: i for i, w in enumerate("zero one two three four five six seven eight nine ten eleven twelve".split())}


def test_readme_names_as_many_views_as_the_router_has():
    """The README's "opens N views", its numbered list of views and the router's PAGES agree (the count comes
    from PAGES, so adding a page means adding it to the README); every page's English title is in the list."""
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    m = re.search(r"`streamlit run dashboard/app\.py` opens (\w+) views", readme)
    assert m, "the README no longer says how many views the dashboard opens"
    said = NUMBERS.get(m.group(1), int(m.group(1)) if m.group(1).isdigit() else -1)
    block = readme[m.end() : readme.index("\n\n|", m.end())]
    listed = re.findall(r"^\d+\. \*\*(.+?)\*\*", block, flags=re.M)
    pages = _pages()
    assert said == len(listed) == len(pages), (said, listed, len(pages))
    for _, key, _ in pages:
        assert EN[key] in listed, (EN[key], listed)


# ----- e. the corpus is news and opinion, not reviews ---------------------------------------------------------


def test_the_all_unknown_hint_describes_the_corpus():
    """OpenSentimentCorpus is sentences from OpenCorpora (news, opinion pieces), not reviews; no string says
    otherwise."""
    assert "новост" in RU["text.all_unknown"] and "news" in EN["text.all_unknown"]
    said = [(lang, k) for lang, d in STRINGS.items() for k, v in d.items() if re.search(r"отзыв|review", v, re.I)]
    assert not said, said


# ----- f. lemmas are chosen without context -------------------------------------------------------------------


def test_lemmas_stay_what_the_models_were_trained_on():
    """The lemmatiser is unchanged (the shipped vocabularies were built with it): «мыла» is still «мыло»."""
    assert lemmatize_word("мыла") == "мыло" and lemmatize_word("раму") == "рама"


def test_the_token_table_says_lemmas_ignore_context(ckpt_root, monkeypatch):  # noqa: F811
    """Under the Gates token table, in both languages: the lemma is picked without context (the «мыла» example)."""
    for lang in ("ru", "en"):
        assert "мыла" in STRINGS[lang]["text.lemma_context"] and "мыло" in STRINGS[lang]["text.lemma_context"]
    monkeypatch.setenv("LSTMVIZ_CHECKPOINTS", str(ckpt_root))
    at = AppTest.from_file(str(APP), default_timeout=TIMEOUT).run()
    at.text_area(key="text_widget_gates").input("Мама мыла раму").run()
    for lang in ("ru", "en"):
        at.sidebar.radio[0].set_value(lang).run()
        assert not at.exception
        assert t("text.lemma_context", lang=lang) in [c.value for c in at.caption], lang
    at.text_area(key="text_widget_gates").input("мама").run()  # every lemma equals its word: nothing to explain
    assert t("text.lemma_context", lang="en") not in [c.value for c in at.caption]
