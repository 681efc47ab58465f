"""Character language models: generation, connectivity, character data and their checkpoints (issue 12, part)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from lstmviz.chardata import prepare_chars
from lstmviz.charlm import CharLM, CharLMConfig, encode_chars, generate
from lstmviz.checkpoint import load_checkpoint
from lstmviz.connectivity import connectivity
from lstmviz.lmtrainer import LMTrainConfig, train_charlm
from lstmviz.metrics import bigram_bpc, stream_bpc, unigram_bpc

CHARS = ["<pad>", "<unk>"] + list(" абвгдеёжзийклмнопрстуфхцчшщъыьэюя.,!")


@pytest.fixture(params=["rnn", "gru", "lstm"])
def model(request) -> CharLM:
    return CharLM.seeded(CharLMConfig(cell=request.param, vocab_size=len(CHARS), embed_dim=5, hidden_size=7), 3).eval()


def test_generation_is_deterministic_per_seed_and_has_the_requested_length(model):
    a = generate(model, CHARS, "мама мыла", length=40, temperature=0.9, top_k=5, seed=7)
    assert a == generate(model, CHARS, "мама мыла", length=40, temperature=0.9, top_k=5, seed=7)
    assert len(a) == 40 and "<" not in a  # never <pad> or <unk>
    assert generate(model, CHARS, "м", length=0) == ""
    others = {generate(model, CHARS, "мама мыла", length=40, temperature=0.9, top_k=5, seed=s) for s in range(5)}
    assert len(others) > 1  # the seed matters
    state = torch.random.get_rng_state()
    generate(model, CHARS, "а", length=5, seed=1)
    assert torch.equal(state, torch.random.get_rng_state())  # the global RNG is untouched
    with pytest.raises(ValueError, match="top_k=0 is invalid"):
        generate(model, CHARS, "а", top_k=0)
    with pytest.raises(ValueError, match="prefix"):
        generate(model, CHARS, "")


def test_top_1_is_greedy(model):
    text = generate(model, CHARS, "да", length=6, top_k=1, seed=0)
    ids = encode_chars("да", CHARS).tolist()
    for ch in text:  # each step's argmax (excluding <pad>/<unk>) given everything so far
        logits = model(torch.tensor([ids]))[0, -1].clone()
        logits[:2] = -math.inf
        assert CHARS[int(logits.argmax())] == ch
        ids.append(CHARS.index(ch))


def test_connectivity_equals_per_step_autograd_and_never_looks_ahead(model):
    ids = torch.tensor([5, 9, 3, 12, 7, 2, 20])
    T = ids.numel()
    C = connectivity(model, ids)
    assert C.shape == (T, T)
    emb = model.embedding(ids.unsqueeze(0)).detach().requires_grad_(True)
    logits = model.forward_embedded(emb)
    targets = logits.argmax(-1)[0]
    for t in range(T):  # the independent reference: one autograd call per output step
        loss_t = F.cross_entropy(logits[0, t : t + 1], targets[t : t + 1])
        (g,) = torch.autograd.grad(loss_t, emb, retain_graph=True)
        np.testing.assert_allclose(C[t].numpy(), g[0].norm(dim=-1).numpy(), rtol=1e-5, atol=1e-6)
    assert bool((C.triu(1) == 0).all())  # exactly zero for s > t: a unidirectional model has no future
    assert bool((C.diagonal() > 0).all())


def test_initial_model_is_the_recorded_start_or_unknown():
    """Only a stored ``init_fingerprint`` that the rebuilt weights match makes them "before training"; without one
    (an older or hand-made checkpoint) or with another, no seed-0 stand-in is made (issue 18)."""
    from lstmviz.charlm import initial_model
    from lstmviz.models import UnknownInitialisation, weights_fingerprint

    cfg = CharLMConfig(cell="lstm", vocab_size=len(CHARS), embed_dim=5, hidden_size=7)
    start = weights_fingerprint(CharLM.seeded(cfg, 3))
    assert weights_fingerprint(initial_model(cfg, {"init_seed": 3, "init_fingerprint": start})) == start
    for meta in ({}, {"init_seed": 0}, {"init_seed": 3}, {"init_seed": 4, "init_fingerprint": start}):
        with pytest.raises(UnknownInitialisation, match="init_fingerprint"):
            initial_model(cfg, meta)


def test_baselines_on_a_known_stream():
    train = torch.tensor([2, 3] * 50)
    test = torch.tensor([2, 3, 2, 3])
    assert unigram_bpc(train, test, 4) == pytest.approx(-math.log2(51 / 104))
    assert bigram_bpc(train, test, 4) < 0.1  # "3 follows 2" is nearly certain


def test_char_data_model_training_and_checkpoint(tmp_path):
    rows = ["Мама мыла раму.", "Папа читал газету!", "Кот спал на окне.", "Дождь шёл весь день."] * 10
    csv = tmp_path / "c.csv"
    csv.write_text("Sentence,Sentiment\n" + "\n".join(f'"{r}",neutral' for r in rows), encoding="utf-8")
    data = prepare_chars(csv, min_count=1)
    assert data.chars[:2] == ["<pad>", "<unk>"] and sum(data.meta["dataset"]["sentences"].values()) == 40
    cfg = CharLMConfig(cell="gru", embed_dim=4, hidden_size=8)
    model, meta = train_charlm(
        data, cfg, LMTrainConfig(max_updates=6, eval_every=3, batch_size=4, seq_len=16), out=tmp_path / "lm", log=None
    )
    tm = meta["test_metrics"]
    assert tm["bpc"] == pytest.approx(stream_bpc(model, data.test)) and tm["bigram_bpc"] < tm["unigram_bpc"]
    loaded, lmeta = load_checkpoint(tmp_path / "lm")
    assert type(loaded) is CharLM and lmeta["model_kind"] == "charlm" and lmeta["chars"] == data.chars
    assert generate(loaded, lmeta["chars"], "Ма", 10, seed=2) == generate(model, data.chars, "Ма", 10, seed=2)


def test_generation_view_shows_the_library_s_text_states_and_connectivity(tmp_path, monkeypatch):
    """AppTest: the page's continuation is lstmviz.charlm.generate's; heatmaps equal lstmviz.record; connectivity is
    drawn for every character model with the future left blank."""
    import json

    from streamlit.testing.v1 import AppTest
    from test_dashboard import APP, SHOWN, _array, _figures

    import lstmviz

    rows = ["Мама мыла раму.", "Папа читал газету!", "Кот спал на окне.", "Дождь шёл весь день."] * 10
    csv = tmp_path / "c.csv"
    csv.write_text("Sentence,Sentiment\n" + "\n".join(f'"{r}",neutral' for r in rows), encoding="utf-8")
    data = prepare_chars(csv, min_count=1)
    root = tmp_path / "root"
    for cell in ("rnn", "gru", "lstm"):
        train_charlm(
            data,
            CharLMConfig(cell=cell, embed_dim=4, hidden_size=6),
            LMTrainConfig(max_updates=2, eval_every=2, batch_size=2, seq_len=8),
            out=root / f"charlm-{cell}",
            log=None,
        )
    monkeypatch.setenv("LSTMVIZ_CHECKPOINTS", str(root))
    at = AppTest.from_file(str(APP), default_timeout=60).run()
    at.switch_page("views/generate.py").run()
    assert not at.exception and not at.error
    path = at.selectbox(key="gen_model").value
    model, meta = load_checkpoint(path)
    cont = generate(model, meta["chars"], "Мне очень ", length=80, temperature=0.8, top_k=5, seed=0)
    assert any(c.value == "Мне очень " + cont for c in at.code)
    ids = encode_chars("Мне очень " + cont, meta["chars"]).unsqueeze(0)
    with torch.no_grad(), lstmviz.record(model) as rec:
        model(ids)
    figs = _figures(at)
    first_tab = next(
        f
        for f in figs
        if f["data"][0].get("type") == "heatmap" and f["data"][0].get("y") and len(f["data"][0]["y"]) == 6
    )
    q = lstmviz.QUANTITIES[model.config.cell][0]
    np.testing.assert_allclose(_array(first_tab["data"][0]["z"]), rec[f"rnn.l0.{q}"][0].T.numpy(), **SHOWN)
    conn = [
        f
        for f in figs
        if "log10" in json.dumps(f["data"][0].get("colorbar", {}), ensure_ascii=False)
        and "∂" in json.dumps(f["data"][0].get("colorbar", {}), ensure_ascii=False)
    ]
    assert len(conn) == 3
    for f in conn:
        z = _array(f["data"][0]["z"])
        assert np.isnan(np.triu(z, 1)[np.triu_indices(z.shape[0], 1)]).all()


def test_char_features_on_hand_written_strings():
    from lstmviz.cellfinder import char_features

    f = char_features('Он сказал: "да" (123).')
    assert f["in_quotes"].tolist() == [0] * 12 + [1, 1] + [0] * 8
    assert f["in_parens"].tolist() == [0] * 17 + [1, 1, 1] + [0, 0]
    assert f["digit"].tolist() == [0] * 17 + [1, 1, 1] + [0, 0]
    assert f["pos_in_word"].tolist()[:10] == [1, 2, 0, 1, 2, 3, 4, 5, 6, 0]
    assert f["word_start"].tolist()[:4] == [1, 0, 0, 1] and f["word_end"].tolist()[:4] == [0, 1, 0, 0]
    assert f["capital"].tolist()[:2] == [1, 0] and f["vowel"].tolist()[:2] == [1, 0] and f["consonant"][1] == 1
    assert f["since_punct"].tolist()[8:12] == [9, 0, 1, 2]  # counted from the start; the colon resets it
    nested = char_features("«а «б» в»")["in_quotes"].tolist()
    assert nested == [0, 1, 1, 0, 1, 0, 1, 1, 0]  # nesting counted, the marks themselves excluded


def test_cell_finder_recovers_a_planted_unit():
    """Unit 4 of layer 0 is wired to fire on vowels: the finder ranks it first for "vowel" (|r| ~ 1)."""
    from lstmviz.cellfinder import char_features, find_cells

    chars = ["<pad>", "<unk>"] + list(" абвгдеёжзийклмнопрстуфхцчшщъыьэюя.,")
    model = CharLM.seeded(CharLMConfig(cell="rnn", vocab_size=len(chars), embed_dim=3, hidden_size=8), 0).eval()
    vowels = set("аеёиоуыэюя")
    with torch.no_grad():
        model.embedding.weight[:, 0] = torch.tensor([1.0 if c in vowels else 0.0 for c in chars])
        model.rnn.weight_ih_l0[4] = torch.tensor([6.0, 0.0, 0.0])
        model.rnn.weight_hh_l0[4] = 0.0
        model.rnn.weight_hh_l0[:, 4] = 0.0  # the planted unit neither reads nor feeds the recurrence
        model.rnn.bias_ih_l0[4], model.rnn.bias_hh_l0[4] = -3.0, 0.0
    text = "мама мыла раму, а папа читал газету. дождь шел весь день."
    cells = find_cells(model, chars, text)
    best = cells.query("feature == 'vowel' and rank == 1").iloc[0]
    assert (best["layer"], best["unit"]) == (0, 4) and best["abs_r"] > 0.99, best
    assert set(cells["feature"]) == set(char_features("a").columns)
    with pytest.raises(ValueError, match="unknown features"):
        find_cells(model, chars, text, features=["rhyme"])


def test_generation_view_lists_the_best_unit_per_feature(tmp_path, monkeypatch):
    from fixtures.sections import open_section
    from streamlit.testing.v1 import AppTest
    from test_dashboard import APP

    from lstmviz.cellfinder import FEATURES, find_cells

    rows = ["Мама мыла раму.", "Папа читал «газету» (утром)!", "Кот спал на окне.", "Дождь шёл весь день."] * 10
    csv = tmp_path / "c.csv"
    csv.write_text("Sentence,Sentiment\n" + "\n".join(f'"{r}",neutral' for r in rows), encoding="utf-8")
    data = prepare_chars(csv, min_count=1)
    train_charlm(
        data,
        CharLMConfig(cell="lstm", embed_dim=4, hidden_size=6),
        LMTrainConfig(max_updates=2, eval_every=2, batch_size=2, seq_len=8),
        out=tmp_path / "root" / "charlm-lstm",
        log=None,
    )
    monkeypatch.setenv("LSTMVIZ_CHECKPOINTS", str(tmp_path / "root"))
    monkeypatch.setenv("LSTMVIZ_CORPUS", str(csv))
    at = AppTest.from_file(str(APP), default_timeout=60).run()
    open_section(at, "gen_section", "cells").switch_page("views/generate.py").run()
    assert not at.exception and not at.error
    table = next(d.value for d in at.dataframe if "признак" in d.value.columns)
    model, meta = load_checkpoint(tmp_path / "root" / "charlm-lstm")
    page_data = prepare_chars(csv)  # what the page reads: the corpus test split (default min_count)
    text = "".join(page_data.chars[i] if i > 1 else "?" for i in page_data.test[:20_000].tolist())
    want = find_cells(model, meta["chars"], text).query("rank == 1")  # a constant feature (no digits) has no rank
    assert len(table) == len(want) and len(want) >= len(FEATURES) - 1
    assert sorted(zip(table["слой"], table["нейрон"])) == sorted(zip(want["layer"], want["unit"]))
