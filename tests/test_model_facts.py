"""The dashboard states only what it knows about the loaded model (issue 18).

* "Before training" / "untrained" series are the model's recorded starting point or nothing: a checkpoint whose
  meta has no ``init_fingerprint`` (or one the rebuilt weights do not match) gets a caption saying its
  initialisation is unknown, in Russian and English, and no such series.
* Captions describe the loaded model (cell, layers, directions) from the model itself, not from what the shipped
  models happen to be: a one-layer character model is called one-layer.

The checkpoints are tiny ones written into a temporary folder (two training updates each); the sentiment ones
come from :mod:`lstmviz.testing`, which stores no ``init_fingerprint`` at all.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest
from fixtures.sections import open_section
from streamlit.testing.v1 import AppTest
from test_dashboard import APP, REPO, _figures

from lstmviz.chardata import prepare_chars
from lstmviz.charlm import CharLMConfig
from lstmviz.lmtrainer import LMTrainConfig, train_charlm
from lstmviz.testing import make_tiny_checkpoints

ROWS = ["Мама мыла раму.", "Папа читал газету!", "Кот спал на окне.", "Дождь шёл весь день."] * 10


def _corpus(folder: Path) -> Path:
    """A small CSV in the corpus's columns (Sentence, Sentiment)."""
    folder.mkdir(parents=True, exist_ok=True)
    csv = folder / "c.csv"
    csv.write_text("Sentence,Sentiment\n" + "\n".join(f'"{r}",neutral' for r in ROWS), encoding="utf-8")
    return csv


@pytest.fixture(scope="module")
def lm_root(tmp_path_factory) -> Path:
    """``charlm-lstm`` (1 layer) and ``charlm-gru`` (2 layers), trained by lstmviz so their meta records the
    initialisation, and ``charlm-lstm-noinit``: the LSTM with ``init_fingerprint`` dropped from its meta.json, as in
    a checkpoint written before lstmviz recorded it."""
    tmp = tmp_path_factory.mktemp("lm")
    data = prepare_chars(_corpus(tmp), min_count=1)
    root = tmp / "root"
    settings = LMTrainConfig(max_updates=2, eval_every=2, batch_size=2, seq_len=8)
    for cell, layers in (("lstm", 1), ("gru", 2)):
        cfg = CharLMConfig(cell=cell, embed_dim=4, hidden_size=6, num_layers=layers)
        train_charlm(data, cfg, settings, out=root / f"charlm-{cell}", log=None)
    shutil.copytree(root / "charlm-lstm", root / "charlm-lstm-noinit")
    meta_file = root / "charlm-lstm-noinit" / "meta.json"
    meta = json.loads(meta_file.read_text(encoding="utf-8"))
    del meta["init_fingerprint"]
    meta_file.write_text(json.dumps(meta), encoding="utf-8")
    return root


_SECTION_OF = {  # page -> the section tab that holds what these tests read (only the open tab is built)
    "views/gates.py": ("gates_section", "saturation"),
    "views/generate.py": ("gen_section", "cells"),
    "views/gradients.py": ("grad_section", "reach"),
}


def _page(root: Path, monkeypatch, page: str, lang: str, corpus: Path | None = None) -> AppTest:
    monkeypatch.setenv("LSTMVIZ_CHECKPOINTS", str(root))
    monkeypatch.setenv("LSTMVIZ_CORPUS", str(corpus or root / "no-corpus.csv"))
    at = AppTest.from_file(str(APP), default_timeout=60).run()
    at.radio(key="lang").set_value(lang).run()
    for key, section in (_SECTION_OF[p] for p in _SECTION_OF):  # each view opens on the section read here
        open_section(at, key, section)
    at.switch_page(page).run()
    assert not at.exception and not at.error
    return at


def _strings(lang: str) -> dict[str, str]:
    from dashboard.i18n import EN, RU

    return {"ru": RU, "en": EN}[lang]


def _says_unknown(at: AppTest, lang: str) -> bool:
    """Whether a caption on the page is the unknown-initialisation one (the model name in it is escaped)."""
    head, tail = _strings(lang)["init.unknown"].split("{name}")
    return any(c.value.startswith(head) and c.value.endswith(tail) for c in at.caption)


def _trace_names(at: AppTest) -> list[str]:
    return [tr.get("name") or "" for fig in _figures(at) for tr in fig["data"]]


@pytest.mark.parametrize("lang", ["ru", "en"])
def test_generation_view_draws_before_training_only_for_a_recorded_initialisation(lm_root, monkeypatch, lang):
    s = _strings(lang)
    at = _page(lm_root, monkeypatch, "views/generate.py", lang)
    at.selectbox(key="gen_model").set_value(str(lm_root / "charlm-lstm")).run()
    assert not at.exception and not at.error
    names = _trace_names(at)
    assert any(n.startswith(s["cells.sat_initial"] + ":") for n in names), names  # recorded: drawn
    assert not _says_unknown(at, lang)
    at.selectbox(key="gen_model").set_value(str(lm_root / "charlm-lstm-noinit")).run()
    assert not at.exception and not at.error
    names = _trace_names(at)
    assert any(n.startswith(s["cells.sat_trained"] + ":") for n in names), names
    assert not any(n.startswith(s["cells.sat_initial"] + ":") for n in names), names
    assert _says_unknown(at, lang)


@pytest.mark.parametrize("lang", ["ru", "en"])
def test_generation_caption_describes_the_loaded_model(lm_root, monkeypatch, lang):
    layers = {"ru": "слоёв: {}", "en": "layers: {}"}[lang]
    one_way = {"ru": "однонаправленная", "en": "unidirectional"}[lang]
    hard_coded = ("двухслойн", "обоих слоёв", "обоих слоях", "two-layer", "both layers", "трёх ячеек", "three cells")
    at = _page(lm_root, monkeypatch, "views/generate.py", lang)
    for name, cell, n in (("charlm-lstm", "LSTM", 1), ("charlm-gru", "GRU", 2)):
        at.selectbox(key="gen_model").set_value(str(lm_root / name)).run()
        assert not at.exception and not at.error
        about = [c.value for c in at.caption if layers.format(n) in c.value]
        assert len(about) == 1 and cell in about[0] and one_way in about[0], [c.value for c in at.caption]
        text = " ".join(c.value for c in at.caption).lower()
        assert not [h for h in hard_coded if h in text]


@pytest.mark.parametrize("lang", ["ru", "en"])
def test_gates_and_gradients_views_show_no_untrained_model_of_an_unknown_initialisation(tmp_path, monkeypatch, lang):
    """The tiny sentiment checkpoints record no initialisation: the Gates view's corpus comparison draws the trained
    model only, and the Gradients view's "untrained" what-if stays off; both say why."""
    s = _strings(lang)
    root = make_tiny_checkpoints(tmp_path / "root")
    at = _page(root, monkeypatch, "views/gates.py", lang, corpus=_corpus(tmp_path / "corpus"))
    names = _trace_names(at)
    assert any(n.startswith(s["sat.trained"] + ":") for n in names), names
    assert not any(n.startswith(s["sat.untrained"] + ":") for n in names), names
    assert _says_unknown(at, lang)
    at.switch_page("views/gradients.py").run()
    assert not _says_unknown(at, lang)
    by_token = [tr["y"] for tr in _figures(at)[0]["data"]]
    at.toggle(key="whatif_untrained").set_value(True).run()
    assert not at.exception and not at.error
    assert _says_unknown(at, lang)
    assert [tr["y"] for tr in _figures(at)[0]["data"]] == by_token  # the trained models, unchanged


def test_gates_view_draws_the_untrained_model_of_a_recorded_initialisation(tmp_path, monkeypatch):
    """The shipped checkpoints record their initialisation: the corpus comparison keeps its untrained series."""
    root = REPO / "checkpoints"
    if not (root / "sentiment-lstm" / "meta.json").is_file():
        pytest.skip("the shipped checkpoints are not in this checkout")
    s = _strings("ru")
    at = _page(root, monkeypatch, "views/gates.py", "ru", corpus=_corpus(tmp_path / "corpus"))
    names = _trace_names(at)
    assert any(n.startswith(s["sat.untrained"] + ":") for n in names), names
    assert not _says_unknown(at, "ru")


@pytest.mark.parametrize("lang", ["ru", "en"])
def test_tagger_captions_describe_the_loaded_model(tmp_path, monkeypatch, lang):
    """A one-layer GRU tagger is neither called an LSTM nor two-layer; its caption says what it is."""
    from test_tagger import _data

    from lstmviz.tagger import TaggerConfig
    from lstmviz.tagtrainer import TagTrainConfig, train_tagger

    cfg = TaggerConfig(cell="gru", word_dim=4, char_dim=3, char_channels=5, hidden_size=6, num_layers=1)
    train_tagger(_data(), cfg, TagTrainConfig(epochs=1, batch_size=4), out=tmp_path / "root" / "tagger-gru", log=None)
    at = _page(tmp_path / "root", monkeypatch, "views/tagger.py", lang)
    layers = {"ru": "слоёв: 1", "en": "layers: 1"}[lang]
    both_ways = {"ru": "двунаправленная", "en": "bidirectional"}[lang]
    about = [c.value for c in at.caption if layers in c.value]
    assert len(about) == 1 and "GRU" in about[0] and both_ways in about[0], [c.value for c in at.caption]
    text = " ".join([h.value for h in at.header] + [c.value for c in at.caption])
    assert not re.search(r"\bLSTM\b", text) and not [h for h in ("двухслойн", "two-layer") if h in text.lower()]
