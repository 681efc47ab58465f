"""Classroom defects of issue 21 in the Tagger and Corpus views.

Defect 11 (Tagger): named entities show as the BIO labels students implement (B-PER, I-PER, O) and are
highlighted in the sentence; a score without examples (a tag absent from the test sentences) shows "—" with a
note, never "None".

Defect 12 (Corpus): a unit's top contexts come one per sentence (they came from one or two long sentences);
overlapping matches in one sentence are one row (they were listed separately); the context columns have widths
that fit a 1400 px window; "open in Gates" leaves the matched span and units for the Gates view
(``state.GATES_MARK``, read by ``corpus_sections.gates_mark``); the span slider and the unit multiselect have
stable keys (``corpus_span``: (first, last); ``corpus_units``: list of ints) that code can set.
"""

from __future__ import annotations

import json
import random
import shutil
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
from test_corpus import SENTENCES, UNIT, WORD, _checkpoint, _corpus

REPO = Path(__file__).resolve().parents[1]
SHIPPED = REPO / "checkpoints" / "tagger-lstm"
CLASSROOM = "Иван Петров переехал из Новосибирска в Санкт-Петербург и устроился в Яндекс."
# What the shipped tagger-lstm predicts for CLASSROOM (measured; every label with p >= 0.80)
CLASSROOM_BIO = ["B-PER", "I-PER", "O", "O", "B-LOC", "O", "B-LOC", "O", "O", "O", "B-ORG", "O"]
GONE = ("None", "nan", "NaN", "<NA>")


def _shipped_root(tmp_path: Path, comparison: bool) -> Path:
    if not (SHIPPED / "meta.json").is_file():
        pytest.skip(f"{SHIPPED} is not shipped in this checkout")
    root = tmp_path / "root"
    shutil.copytree(SHIPPED, root / SHIPPED.name)
    if comparison:
        shutil.copy(REPO / "results" / "tagger_eval.json", root / "tagger_eval.json")
    return root


# ----- defect 11: BIO labels and highlighted entities ------------------------------------------------------------
def test_bio_labels_from_entity_types_and_from_the_tagger_s_own_bio():
    from lstmviz.metrics import entity_spans
    from lstmviz.tagger import bio_spans, to_bio

    # bare types (a model that predicts the entity type per word): a run of one type is one entity
    types = ["PER", "PER", "O", "O", "LOC", "O", "LOC", "", "O", "O", "ORG", "O"]
    assert to_bio(types) == CLASSROOM_BIO
    assert to_bio(["LOC", "LOC", "ORG"]) == ["B-LOC", "I-LOC", "B-ORG"]
    # BIO (what the tagger predicts) stays; an I- continuing nothing of its type starts an entity
    assert to_bio(CLASSROOM_BIO) == CLASSROOM_BIO
    assert to_bio(["B-LOC", "B-LOC", "I-LOC"]) == ["B-LOC", "B-LOC", "I-LOC"]  # two adjacent places
    assert to_bio(["O", "I-PER", "I-LOC"]) == ["O", "B-PER", "B-LOC"]
    assert bio_spans(CLASSROOM_BIO) == [(0, 2, "PER"), (4, 5, "LOC"), (6, 7, "LOC"), (10, 11, "ORG")]
    # the spans are the ones the tagger's scores count (lstmviz.metrics.entity_spans), on any sequence
    rng = random.Random(0)
    tags = ["O", "B-PER", "I-PER", "B-LOC", "I-LOC", "B-ORG", "I-ORG"]
    for _ in range(300):
        seq = [rng.choice(tags) for _ in range(rng.randint(0, 9))]
        assert bio_spans(seq) == sorted(entity_spans(seq)), seq


def test_the_shipped_tagger_labels_the_classroom_sentence_in_bio_and_its_entities_are_highlighted():
    from dashboard.tagger_sections import entity_markdown
    from lstmviz.checkpoint import load_checkpoint
    from lstmviz.tagger import tag_text

    if not (SHIPPED / "meta.json").is_file():
        pytest.skip(f"{SHIPPED} is not shipped in this checkout")
    model, meta = load_checkpoint(SHIPPED)
    r = tag_text(model.eval(), meta, CLASSROOM)
    assert r.ner == CLASSROOM_BIO, list(zip(r.words, r.ner))
    md = entity_markdown(CLASSROOM, r.spans, r.ner)
    assert md == (
        r":blue-background[Иван Петров] :blue-badge[PER] переехал из "
        r":green-background[Новосибирска] :green-badge[LOC] в :green-background[Санкт\-Петербург] :green-badge[LOC] "
        r"и устроился в :orange-background[Яндекс] :orange-badge[ORG]\."
    )
    # user text never becomes markup: only our directives are unescaped
    hostile = "**Иван** [Петров](http://x) :red[Москва]"
    from lstmviz.tagger import tokenize

    toks = tokenize(hostile)
    md = entity_markdown(hostile, [(s, e) for _, s, e in toks], ["B-PER"] + ["O"] * (len(toks) - 1))
    assert md.startswith(r":blue-background[\*") and "[Петров](" not in md and ":red[" not in md


@pytest.mark.parametrize("comparison", [False, True])
def test_tagger_view_shows_bio_labels_highlighted_entities_and_no_none(tmp_path, monkeypatch, comparison):
    from streamlit.testing.v1 import AppTest
    from test_dashboard import APP

    from dashboard.i18n import RU

    root = _shipped_root(tmp_path, comparison)
    monkeypatch.setenv("LSTMVIZ_CHECKPOINTS", str(root))
    monkeypatch.setenv("LSTMVIZ_RESULTS", str(root))  # the comparison file is there only when asked for
    at = AppTest.from_file(str(APP), default_timeout=60).run()
    at.switch_page("views/tagger.py").run()
    at.text_input[0].set_value(CLASSROOM).run()
    assert not at.exception and not at.error
    for el in at.dataframe:  # every table, the F1 per tag included (an expander's content is in the tree)
        df = el.value
        assert not df.isna().any().any(), df
        assert not df.astype(str).isin(GONE).any().any(), df
    words = at.dataframe[0].value
    assert [v.split(" ")[0] for v in words[RU["col.ner"]]] == CLASSROOM_BIO  # "B-PER (человек, начало)", "O"
    md = ":blue-background[Иван Петров] :blue-badge[человек] переехал из :green-background[Новосибирска]"
    assert any(m.value.startswith(md) for m in at.markdown)
    assert any(RU["tag.entities"] == c.value for c in at.caption)
    f1 = next(d.value for d in at.dataframe if RU["col.support"] in d.value.columns)
    if not comparison:  # the checkpoint's own scores: the baseline's INTJ has no test example, the tagger none
        intj = f1[f1[RU["col.tag"]] == RU.get("pos.INTJ", "INTJ")].iloc[0]
        assert intj[RU["col.support"]] == 0 and intj[RU["tag.model_row"]] == "—" == intj[RU["tag.baseline_row"]]
        assert any(RU["tag.no_support"] == c.value for c in at.caption)
    assert (f1[RU["col.support"]] > 0).sum() == 16 + 3  # the other 16 parts of speech and 3 entity types


# ----- defect 12: the corpus queries ----------------------------------------------------------------------------
RAINY = [
    "Дождь и снова дождь, опять дождь.",  # 0: three rains apart in one sentence (steps 0, 3, 5)
    "Вчера шёл дождь.",  # 1
    "Кот спал на окне.",  # 2: none
    "Дождь кончился.",  # 3
    "Мама мыла раму.",  # 4: none
    "Дождь дождь дождь весь день.",  # 5: three rains in a row
]


@pytest.fixture
def rainy(tmp_path) -> Path:
    """A recording of RAINY through the planted RNN of test_corpus (unit 3 is on at «дождь» only: 0.9999, else
    -0.9999; no memory)."""
    from lstmviz.corpus.record import record_corpus

    data = tmp_path / "rainy.csv"
    pd.DataFrame({"Sentence": RAINY, "Sentiment": "neutral"}).to_csv(data, index=False)
    record_corpus(_checkpoint(tmp_path), data, tmp_path / "rec", part_size=4)
    return tmp_path / "rec"


def test_top_contexts_come_one_per_sentence(rainy):
    from lstmviz.corpus.query import CorpusQuery

    with CorpusQuery(rainy) as q:
        top = q.top_contexts("hidden_l0_fwd", UNIT, k=6)
        assert top["sentence_id"].tolist()[:4] == [0, 1, 3, 5]  # each rainy sentence once, in corpus order (a tie)
        assert top["sentence_id"].is_unique and top["first"].tolist()[:4] == [0, 2, 0, 0]  # its first rain
        assert top["span"].str.lower().tolist()[:4] == [WORD] * 4 and (top["value"].iloc[:4] > 0.99).all()
        every = q.top_contexts("hidden_l0_fwd", UNIT, k=6, per_sentence=None)  # the old listing: 3 rains of 0 first
        assert every["sentence_id"].tolist() == [0, 0, 0, 1, 3, 5]
        two = q.top_contexts("hidden_l0_fwd", UNIT, k=4, per_sentence=2)
        assert two[["sentence_id", "first"]].values.tolist() == [[0, 0], [0, 3], [1, 2], [3, 0]]
        with pytest.raises(ValueError, match="per_sentence=0 is invalid"):
            q.top_contexts("hidden_l0_fwd", UNIT, per_sentence=0)


def test_overlapping_matches_of_one_sentence_are_one_row(rainy):
    from lstmviz.corpus.query import CorpusQuery, merge_overlaps

    with CorpusQuery(rainy) as q:
        # «Дождь дождь дождь»: on at steps 0-2 of sentence 5, so spans of 2 match at 0 and at 1 (they overlap)
        hits = q.match("hidden_l0_fwd", [UNIT], 0.5, 2, off_before=False)
        assert hits[["sentence_id", "first", "last", "merged"]].values.tolist() == [[5, 0, 2, 2]]
        assert hits["span"].iloc[0].lower() == "дождь дождь дождь" and hits["rank"].tolist() == [1]
        apart = q.match("hidden_l0_fwd", [UNIT], 0.5, 2, off_before=False, merge=False)  # the old listing
        assert apart[["sentence_id", "first", "last"]].values.tolist() == [[5, 0, 1], [5, 1, 2]]
        # length 1: the rains of sentences 0 and 5 do not overlap, so every one is a row (with off_before, only
        # the first of a run starts a match)
        single = q.match("hidden_l0_fwd", [UNIT], 0.5, 1, k=20)
        assert sorted(single[["sentence_id", "first"]].values.tolist()) == [
            [0, 0],
            [0, 3],
            [0, 5],
            [1, 2],
            [3, 0],
            [5, 0],
        ]
        assert (single["merged"] == 1).all()
    m = pd.DataFrame(
        {
            "sentence_id": [0, 0, 0, 0, 1],
            "first": [1, 2, 3, 7, 2],
            "selected_on": [1, 2, 2, 1, 1],
            "others_on": [0, 3, 1, 0, 0],
        }
    )
    got = merge_overlaps(m, 3)  # [1,3] [2,4] [3,5] chain into [1,5]; its best match is the one at 3 (2 on, 1 other)
    assert got.values.tolist() == [[0, 1, 5, 2, 1, 3], [0, 7, 9, 1, 0, 1], [1, 2, 4, 1, 0, 1]]


def test_gates_mark_belongs_to_its_analysis_and_fits_it(monkeypatch):
    import streamlit as st

    from dashboard import corpus_sections, state

    values = np.zeros((4, 6))  # (T, U)
    a = SimpleNamespace(
        text="Вчера шёл дождь.",
        tokens=["Вчера", "шёл", "дождь", "."],
        num_layers=1,
        directions=1,
        cell="rnn",
        values=lambda q, layer, d: values,
    )
    mark = {"checkpoint": "ck", "text": a.text, "span": (2, 2), "units": [3, 9], "quantity": "hidden", "layer": 0,
            "direction": 0}  # fmt: skip
    monkeypatch.setattr(st, "session_state", {state.GATES_MARK: mark})
    want = {"span": (2, 2), "units": [3], "quantity": "hidden", "layer": 0, "direction": 0}  # unit 9: not in layer
    assert corpus_sections.gates_mark(a) == want == corpus_sections.gates_mark(a, "ck")
    assert corpus_sections.gates_mark(a, "other") is None  # another model's units mean nothing here
    for bad in ({"text": "Другой текст."}, {"span": (2, 4)}, {"layer": 1}, {"direction": 1}, {"quantity": "forget"}):
        monkeypatch.setattr(st, "session_state", {state.GATES_MARK: mark | bad})
        assert corpus_sections.gates_mark(a) is None, bad
    monkeypatch.setattr(st, "session_state", {})
    assert corpus_sections.gates_mark(a) is None
    assert corpus_sections.marked_first([5, 4, 3, 2, 1, 0], [3]) == [3, 5, 4, 2, 1, 0]


# ----- defect 12: the Corpus view ---------------------------------------------------------------------------------
def test_corpus_view_stable_keys_column_widths_and_open_in_gates_stores_the_mark(tmp_path, monkeypatch):
    from streamlit.testing.v1 import AppTest
    from test_dashboard import APP

    from dashboard.i18n import RU
    from lstmviz.corpus.record import is_complete, load_texts, recording_folder
    from lstmviz.models import weights_fingerprint
    from lstmviz.pipeline import Predictor

    root = tmp_path / "root"
    root.mkdir()
    _checkpoint(root).rename(root / "sentiment-rnn")
    data = _corpus(tmp_path)
    monkeypatch.setenv("LSTMVIZ_CHECKPOINTS", str(root))
    monkeypatch.setenv("LSTMVIZ_CORPUS", str(data))
    monkeypatch.setenv("LSTMVIZ_CACHE", str(tmp_path / "cache"))
    model = Predictor.from_checkpoint(root / "sentiment-rnn").model
    folder = recording_folder(weights_fingerprint(model), load_texts(data)[1])
    at = AppTest.from_file(str(APP), default_timeout=60).run()
    at.switch_page("views/corpus.py").run()
    deadline = time.time() + 60
    while not is_complete(folder) and time.time() < deadline:  # built in the background, once
        time.sleep(0.2)
    # what a lesson or the URL does: the text, the span and the units set by code, before the page draws
    at.session_state["text:sentiment"] = "Вчера весь день шёл дождь"  # the shared text of the task
    at.session_state["corpus_span"] = (4, 4)
    at.session_state["corpus_units"] = [UNIT, 99]  # 99: no such unit, dropped
    at.run()
    assert not at.exception and not at.error
    assert at.select_slider(key="corpus_span").value == (4, 4)
    assert at.multiselect(key="corpus_units").value == [UNIT]
    # a new threshold selects the units on across the span afresh (the planted unit among them) ...
    at.number_input(key="corpus_threshold").set_value(0.5).run()
    chosen = at.multiselect(key="corpus_units").value
    assert UNIT in chosen and not at.exception
    # ... a span that does not fit a new sentence resets to its last two tokens, and its units follow
    at.text_area(key="text_widget_corpus").set_value("Опять дождь").run()
    assert at.select_slider(key="corpus_span").value == (0, 1) and not at.exception
    at.text_area(key="text_widget_corpus").set_value("Вчера весь день шёл дождь").run()
    at.select_slider(key="corpus_span").set_value((4, 4)).run()
    assert at.multiselect(key="corpus_units").value == chosen
    # the tables: context columns sized for a 1400 px window, the left context right-aligned
    table = next(d for d in at.dataframe if RU["col.span"] in d.value.columns)
    config = json.loads(table.proto.columns)
    assert config[RU["col.left"]]["alignment"] == "right"
    widths = [c["width"] for name, c in config.items() if name != "_index"]
    assert len(widths) == len(table.value.columns) and sum(widths) <= 950, widths
    top = at.dataframe[-1].value
    assert top[RU["col.sentence_id"]].is_unique and len(top) == 10  # one context per sentence
    # open the 3rd match in Gates: the mark holds its span, the selected units and the column
    pick = next(s for s in at.selectbox if s.key.startswith("corpus_pick"))
    pick.set_value(3).run()
    row = table.value.query(f"`{RU['col.rank']}` == 3").iloc[0]
    sid = int(row[RU["col.sentence_id"]])
    at.button(key="corpus_open").click().run()
    assert not at.exception and not at.error
    mark = at.session_state["gates_mark"]
    assert mark["text"] == SENTENCES[sid] == at.session_state["text:sentiment"]
    tokens = [tok.text.lower() for tok in Predictor.from_checkpoint(root / "sentiment-rnn").encode(mark["text"]).tokens]
    assert mark["span"] == (tokens.index(WORD),) * 2  # the matched «дождь» of that sentence
    assert mark | {"span": None, "text": None} == {
        "checkpoint": str(root / "sentiment-rnn"),
        "text": None,
        "span": None,
        "units": chosen,
        "quantity": "hidden",
        "layer": 0,
        "direction": 0,
    }
    at.switch_page("views/gates.py").run()
    assert not at.exception and at.text_area(key="text_widget_gates").value == SENTENCES[sid]
    # the Gates view draws the mark: the matched column framed on the heatmap, the selected units on top, a caption
    heat = [json.loads(c.proto.spec) for c in at.get("plotly_chart")]
    framed = [f for f in heat if any(s.get("type") == "rect" for s in f["layout"].get("shapes", []))]
    assert framed, "no heatmap frames the matched span"
    rect = next(s for s in framed[0]["layout"]["shapes"] if s.get("type") == "rect")
    assert (rect["x0"], rect["x1"]) == (mark["span"][0] - 0.5, mark["span"][1] + 0.5)
    rows = framed[0]["data"][0]["y"]
    assert [str(r) for r in rows[-len(chosen) :]][::-1] == [str(u) for u in chosen] or [
        str(r) for r in rows[: len(chosen)]
    ] == [str(u) for u in chosen]  # the marked units first (plotly draws the first row at the bottom or top)
    assert any(RU["gates.marked"].split("{")[0] in c.value for c in at.caption)
