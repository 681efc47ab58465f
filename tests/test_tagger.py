"""The char-CNN + BiLSTM tagger: words, scores, baseline, packing, connectivity, checkpoints, the training extra,
and the shipped tagger's recording against the float64 reference (issue 12)."""

from __future__ import annotations

import copy
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from reference import unrolled

import lstmviz
from lstmviz.checkpoint import CheckpointError, load_checkpoint
from lstmviz.connectivity import connectivity, reach_shares
from lstmviz.metrics import entity_spans, tag_scores
from lstmviz.tagdata import MissingExtraError, TagData, most_frequent_tags, silver_label
from lstmviz.tagger import NER_TAGS, POS_TAGS, Tagger, TaggerConfig, encode_words, tag_text, tokenize
from lstmviz.tagtrainer import TagTrainConfig, encode_batch, train_tagger
from lstmviz.vocab import Vocab

REPO = Path(__file__).resolve().parents[1]
SHIPPED = REPO / "checkpoints" / "tagger-lstm"
SENTENCES = [
    (["Мама", "мыла", "раму", "."], ["NOUN", "VERB", "NOUN", "PUNCT"], ["O", "O", "O", "O"]),
    (
        ["Путин", "прилетел", "в", "Москву", "."],
        ["PROPN", "VERB", "ADP", "PROPN", "PUNCT"],
        ["B-PER", "O", "O", "B-LOC", "O"],
    ),
    (["Газпром", "поднял", "цены"], ["PROPN", "VERB", "NOUN"], ["B-ORG", "O", "O"]),
]


def _tiny(cell: str = "lstm", seed: int = 0) -> Tagger:
    cfg = TaggerConfig(
        cell=cell,
        word_vocab_size=12,
        char_vocab_size=9,
        word_dim=4,
        char_dim=3,
        char_channels=5,
        hidden_size=6,
        dropout=0.0,
    )
    return Tagger.seeded(cfg, seed).eval()


def _data() -> TagData:
    words = ["<pad>", "<unk>"] + sorted({w.lower() for s in SENTENCES for w in s[0]})
    chars = ["<pad>", "<unk>"] + sorted({c for s in SENTENCES for w in s[0] for c in w})
    return TagData(words, chars, SENTENCES * 4, SENTENCES, SENTENCES, meta={"dataset": {"path": "hand-written"}})


def test_tokenize_keeps_spans_and_splits_punctuation():
    text = "Ростов-на-Дону, «Газпром» (ООО) — 3,5 млн!"
    toks = tokenize(text)
    assert [w for w, _, _ in toks] == [
        "Ростов-на-Дону",
        ",",
        "«",
        "Газпром",
        "»",
        "(",
        "ООО",
        ")",
        "—",
        "3",
        ",",
        "5",
        "млн",
        "!",
    ]
    assert all(text[s:e] == w for w, s, e in toks)


def test_entity_spans_scores_and_the_most_frequent_tag_baseline():
    assert entity_spans(["B-PER", "I-PER", "O", "B-LOC", "B-LOC", "I-ORG"]) == {
        (0, 2, "PER"),
        (3, 4, "LOC"),
        (4, 5, "LOC"),
        (5, 6, "ORG"),
    }
    s = tag_scores([["B-PER", "I-PER", "O", "B-LOC"]], [["B-PER", "O", "O", "B-LOC"]], ner=True)
    assert s["accuracy"] == 0.75  # per token
    assert s["per_tag"]["PER"]["f1"] == 0.0 and s["per_tag"]["LOC"]["f1"] == 1.0  # whole entities
    assert s["macro_f1"] == 0.5
    pos = tag_scores([["NOUN", "VERB", "NOUN"]], [["NOUN", "NOUN", "NOUN"]])
    assert pos["per_tag"]["NOUN"] == {"precision": 2 / 3, "recall": 1.0, "f1": 0.8, "support": 2}
    assert pos["per_tag"]["VERB"]["f1"] == 0.0
    train = [(["стали", "стали", "сталь", "Стали"], ["VERB", "NOUN", "NOUN", "VERB"])]
    assert most_frequent_tags(train, ["СТАЛИ", "сталь", "новое"]) == ["VERB", "NOUN", "NOUN"]
    with pytest.raises(ValueError, match="same sentences"):
        tag_scores([["NOUN"]], [["NOUN", "VERB"]])


def test_padding_and_packing_never_change_a_sentence_s_tags():
    model = _tiny()
    # vocabularies that fit the tiny model (12 words, 9 characters): the rest are <unk>, as in a real text
    wi = Vocab(["<pad>", "<unk>"] + sorted({w.lower() for s in SENTENCES for w in s[0]})[:10])
    ci = Vocab(["<pad>", "<unk>"] + sorted({c for s in SENTENCES for w in s[0] for c in w})[:7])
    assert int((encode_batch(SENTENCES, wi, ci)["chars"] == 1).sum()) > 0  # some characters are unknown
    b = encode_batch(SENTENCES, wi, ci)
    pos, ner = model(b["words"], b["chars"], b["lengths"])
    for row, s in enumerate(SENTENCES):
        w, c = encode_words(s[0], wi, ci)
        alone_pos, alone_ner = model(w, c)
        n = len(s[0])
        torch.testing.assert_close(pos[row, :n], alone_pos[0], rtol=1e-5, atol=1e-6)
        torch.testing.assert_close(ner[row, :n], alone_ner[0], rtol=1e-5, atol=1e-6)
    assert (b["pos"][0, 4:] == -100).all() and b["pos"][1].tolist() == [POS_TAGS.index(p) for p in SENTENCES[1][1]]


@pytest.mark.parametrize("cell", ["rnn", "gru", "lstm"])
def test_connectivity_of_the_bidirectional_tagger_equals_per_step_autograd(cell):
    model = _tiny(cell)
    w, c = (
        torch.tensor([[2, 5, 3, 7, 4, 9]]),
        torch.randint(1, 9, (1, 6, 4), generator=torch.Generator().manual_seed(0)),
    )
    C = connectivity(model, (w, c), head="pos")
    x = model.embed(w, c).detach()
    for t in range(w.shape[1]):  # one backward per output step: the definition
        xt = x.clone().requires_grad_(True)
        logits = model.forward_embedded(xt, head="pos")[0]
        loss = torch.nn.functional.cross_entropy(logits[t : t + 1], logits[t : t + 1].argmax(-1))
        (g,) = torch.autograd.grad(loss, xt)
        torch.testing.assert_close(C[t], g[0].norm(dim=-1), rtol=1e-6, atol=1e-6)
    assert (C.triu(1) > 0).any() and (C.tril(-1) > 0).any()  # it looks both ways
    shares = reach_shares(C)
    assert shares["later"] > 0 and shares["earlier"] > 0 and sum(shares.values()) == pytest.approx(1.0)


def test_train_save_load_and_a_lying_vocabulary(tmp_path):
    model, meta = train_tagger(
        _data(),
        TaggerConfig(word_dim=4, char_dim=3, char_channels=5, hidden_size=6),
        TagTrainConfig(epochs=2, batch_size=4),
        out=tmp_path / "tagger-lstm",
        log=None,
    )
    loaded, meta2 = load_checkpoint(tmp_path / "tagger-lstm")
    assert (
        meta2["model_kind"] == "tagger" and meta2["pos_tags"] == list(POS_TAGS) and meta2["ner_tags"] == list(NER_TAGS)
    )
    r1, r2 = tag_text(model, meta, "Мама мыла раму."), tag_text(loaded, meta2, "Мама мыла раму.")
    assert r1.pos == r2.pos and r1.ner == r2.ner and r1.words == ["Мама", "мыла", "раму", "."]
    assert set(meta2["test_metrics"]) == {"pos", "ner", "baseline", "suffix_baseline"} and len(meta2["history"]) == 2
    assert tag_text(loaded, meta2, "  ").words == []
    bad = json.loads((tmp_path / "tagger-lstm" / "meta.json").read_text(encoding="utf-8"))
    bad["words"] = bad["words"][:-1]
    (tmp_path / "tagger-lstm" / "meta.json").write_text(json.dumps(bad), encoding="utf-8")
    with pytest.raises(CheckpointError, match="'words' has"):
        load_checkpoint(tmp_path / "tagger-lstm")


def test_a_missing_training_extra_names_the_install_command(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "slovnet", None)  # import slovnet -> ImportError
    with pytest.raises(MissingExtraError, match=r"pip install -e \.\[train\]"):
        silver_label(["Мама мыла раму."], None)
    code = (
        "import sys; sys.modules['slovnet'] = None; from lstmviz.train import main; "
        f"sys.exit(main(['tagger', '--slovnet', {str(tmp_path)!r}, '--out', {str(tmp_path / 'o')!r}]))"
    )
    # 300 s as for every CLI run in the suite: importing torch and the trainer took 25 s on a loaded 2-core machine
    proc = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 2 and "pip install -e .[train]" in proc.stderr, proc.stderr
    assert not (tmp_path / "o").exists()


def _shipped() -> tuple[Tagger, dict]:
    if not (SHIPPED / "meta.json").is_file():
        pytest.skip(f"{SHIPPED} is not shipped in this checkout")
    return load_checkpoint(SHIPPED)


def _frame_matches_reference(rec, module, x: torch.Tensor, layers: int, directions: int) -> None:
    """Every quantity of ``rec.to_frame()`` (one sequence) equals the float64 reference run on ``x`` (T, I)."""
    cell = "lstm" if isinstance(module, torch.nn.LSTM) else "gru" if isinstance(module, torch.nn.GRU) else "rnn"
    ref = unrolled(copy.deepcopy(module).double(), [x.detach().double()])
    frame = rec.to_frame()
    assert set(frame["layer"]) == set(range(layers))
    assert set(frame["direction"]) == {("fwd", "rev")[d] for d in range(directions)}
    assert set(frame["quantity"]) == set(lstmviz.QUANTITIES[cell])
    for (layer, name, q), part in frame.groupby(["layer", "direction", "quantity"]):
        steps = ref[(layer, ("fwd", "rev").index(name))][0]
        pick = {"hidden": lambda s: s["h"], "cell": lambda s: s["c"]}.get(q, lambda s, q=q: s["gates"][q])
        want = torch.stack([pick(s) for s in steps]).detach().numpy()  # (T, H)
        got = part.pivot(index="step", columns="unit", values="value").to_numpy()
        # float32 against float64 over two layers and ~60 steps: a few ulps per step accumulate
        np.testing.assert_allclose(got, want, rtol=0, atol=1e-4 if q == "cell" else 2e-5, err_msg=f"{layer} {name} {q}")
    # ... and the top layer's recorded hidden states are bit for bit what the module itself outputs
    with torch.no_grad():
        out = module(x.unsqueeze(0))[0][0]  # (T, D*H)
    H = module.hidden_size
    for d, name in enumerate(("fwd", "rev")[:directions]):
        top = frame.query("layer == @layers - 1 and direction == @name and quantity == 'hidden'")
        got = torch.tensor(top.pivot(index="step", columns="unit", values="value").to_numpy())
        assert torch.equal(got, out[:, d * H : (d + 1) * H]), name


def test_shipped_tagger_recording_matches_the_float64_reference_in_both_directions_and_layers():
    model, meta = _shipped()
    r = tag_text(model, meta, "Владимир Путин прилетел в Казань, а «Газпром» снова поднял цены.")
    with torch.no_grad(), lstmviz.record(model) as rec:
        model(r.word_ids, r.char_ids)
    x = model.embed(r.word_ids, r.char_ids)[0]  # (T, E): what the BiLSTM reads (Conv1d output + word vector)
    _frame_matches_reference(rec, model.rnn, x, layers=2, directions=2)


@pytest.mark.parametrize("cell", ["rnn", "gru", "lstm"])
def test_shipped_character_models_to_frame_matches_the_reference_in_both_layers(cell):
    from lstmviz.charlm import encode_chars

    path = REPO / "checkpoints" / f"charlm-{cell}"
    if not (path / "meta.json").is_file():
        pytest.skip(f"{path} is not shipped in this checkout")
    model, meta = load_checkpoint(path)
    ids = encode_chars("Он сказал: «да» (в 2024 году).", meta["chars"]).unsqueeze(0)  # (1, T)
    with torch.no_grad(), lstmviz.record(model) as rec:
        model(ids)
    _frame_matches_reference(rec, model.rnn, model.embedding(ids)[0], layers=2, directions=1)


def test_shipped_tagger_beats_the_most_frequent_tag_baseline_and_tags_a_sentence():
    model, meta = _shipped()
    tm = meta["test_metrics"]
    assert tm["pos"]["accuracy"] > tm["baseline"]["pos"]["accuracy"] + 0.03, tm["pos"]["accuracy"]
    assert tm["ner"]["macro_f1"] > tm["baseline"]["ner"]["macro_f1"], tm["ner"]["macro_f1"]
    r = tag_text(model, meta, "Владимир Путин прилетел в Москву.")
    assert r.pos[3] == "ADP" and r.pos[-1] == "PUNCT" and r.ner[1] in ("B-PER", "I-PER"), list(zip(r.pos, r.ner))


def test_silver_labels_from_slovnet_without_pymorphy2():
    """Runs where the training extra and the natasha wheel's model files are present (CI sets LSTMVIZ_NATASHA_DATA)."""
    import os

    pytest.importorskip("slovnet", reason="the training extra is not installed (pip install -e .[train])")
    from lstmviz.tagdata import find_silver_files

    folder = os.environ.get("LSTMVIZ_NATASHA_DATA")
    if not folder:
        pytest.skip("LSTMVIZ_NATASHA_DATA (a folder with the natasha wheel's slovnet and navec tars) is not set")
    out = silver_label(["Владимир Путин прилетел в Москву.", "Мама мыла раму.", "..."], find_silver_files(folder))
    words, pos, ner = out[0]
    assert words == ["Владимир", "Путин", "прилетел", "в", "Москву", "."]
    assert pos[1] == "PROPN" and pos[3] == "ADP" and pos[5] == "PUNCT"
    assert ner[:2] == ["B-PER", "I-PER"] and ner[4] == "B-LOC"
    assert len(out[2][1]) == 3 and "pymorphy2" not in sys.modules and "natasha" not in sys.modules


def test_tagger_view_shows_the_library_s_tags_states_and_connectivity(tmp_path, monkeypatch):
    from streamlit.testing.v1 import AppTest
    from test_dashboard import APP, SHOWN, _array, _figures

    from lstmviz.connectivity import connectivity as conn_of

    train_tagger(
        _data(),
        TaggerConfig(word_dim=4, char_dim=3, char_channels=5, hidden_size=6),
        TagTrainConfig(epochs=1, batch_size=4),
        out=tmp_path / "root" / "tagger-lstm",
        log=None,
    )
    monkeypatch.setenv("LSTMVIZ_CHECKPOINTS", str(tmp_path / "root"))
    at = AppTest.from_file(str(APP), default_timeout=60).run()
    at.switch_page("views/tagger.py").run()
    assert not at.exception and not at.error
    text = at.text_input[0].value
    model, meta = load_checkpoint(tmp_path / "root" / "tagger-lstm")
    r = tag_text(model, meta, text)
    table = at.dataframe[0].value
    assert table["слово"].tolist() == r.words and len(table.columns) == 6
    from dashboard.i18n import EN, RU

    assert table["часть речи"].tolist() == [RU[f"pos.{p}"] for p in r.pos]
    assert table["сущность"].tolist() == [RU[f"ner.{n}"] for n in r.ner]
    with torch.no_grad(), lstmviz.record(model) as rec:
        model(r.word_ids, r.char_ids)
    at.radio(key="tag_layer").set_value((1, "rev")).run()
    assert not at.exception
    figs = _figures(at)
    heat = figs[0]["data"][0]
    np.testing.assert_allclose(_array(heat["z"]), rec["rnn.l1.rev.input"][0].T.numpy(), **SHOWN)
    C = conn_of(model, (r.word_ids, r.char_ids), head="pos").numpy()
    conn = next(f for f in figs if "∂" in json.dumps(f["data"][0].get("colorbar", {}), ensure_ascii=False))
    # each row relative to its maximum (the default), at the 4 digits a chart sends
    np.testing.assert_allclose(
        _array(conn["data"][0]["z"]), np.log10(C / C.max(1, keepdims=True)), rtol=5.001e-4, atol=1e-5
    )
    at.toggle(key="tag_per_row").set_value(False).run()
    conn = next(f for f in _figures(at) if "∂" in json.dumps(f["data"][0].get("colorbar", {}), ensure_ascii=False))
    np.testing.assert_allclose(_array(conn["data"][0]["z"]), np.log10(C), rtol=5.001e-4, atol=1e-5)
    assert any("слева" in c.value or "левее" in c.value for c in at.caption)
    at.sidebar.radio[0].set_value("en").run()
    assert not at.exception and at.dataframe[0].value["part of speech"].tolist() == [EN[f"pos.{p}"] for p in r.pos]
