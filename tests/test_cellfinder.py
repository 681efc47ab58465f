"""The interpretable-cell finder (``lstmviz.cellfinder``, issue 20 part 4): features and model state restart at every
sentence, the study on two disjoint held-out slices, and the committed study file behind the README's table."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from lstmviz.cellfinder import (
    FEATURES,
    char_features,
    find_cells,
    held_out_slices,
    layer_states,
    main,
    sentence_spans,
    sentence_states,
    slice_study,
    study_markdown,
    study_table,
)
from lstmviz.chardata import CharData
from lstmviz.charlm import CharLM, CharLMConfig, encode_chars

REPO = Path(__file__).resolve().parents[1]
STUDY = REPO / "results" / "cellfinder"
CHARS = ["<pad>", "<unk>"] + list(' абвгдеёжзийклмнопрстуфхцчшщъыьэюя.,«»"()\n')


def _model(cell: str, seed: int = 0) -> CharLM:
    cfg = CharLMConfig(cell=cell, vocab_size=len(CHARS), embed_dim=4, hidden_size=6, num_layers=2)
    return CharLM.seeded(cfg, seed).eval()


def test_an_unclosed_bracket_or_quote_ends_with_its_sentence():
    text = 'Он (тихо сказал\nда «нет\nи "так\nвсё, ну.'
    nl = [i for i, c in enumerate(text) if c == "\n"]
    f = char_features(text)
    parens, quotes, since = f["in_parens"].tolist(), f["in_quotes"].tolist(), f["since_punct"].tolist()
    assert parens[text.index("(") + 1 : nl[0]] == [1] * (nl[0] - text.index("(") - 1)  # open up to the newline
    assert parens[nl[0] :] == [0] * (len(text) - nl[0])  # ... and closed from it on
    assert quotes[text.index("«") + 1 : nl[1]] == [1] * (nl[1] - text.index("«") - 1)
    assert quotes[nl[1] : text.index('"')] == [0] * (text.index('"') - nl[1])  # the unclosed « ended at nl[1]
    assert quotes[text.index('"') + 1 : nl[2]] == [1] * (nl[2] - text.index('"') - 1)
    assert quotes[nl[2] :] == [0] * (len(text) - nl[2])  # the unclosed " ended at nl[2]
    assert [since[i] for i in nl] == [0, 0, 0] and [since[i + 1] for i in nl] == [1, 1, 1]  # counted per sentence
    # The features of a text are those of its sentences one after the other.
    parts = pd.concat([char_features(text[a:b]) for a, b in sentence_spans(text)], ignore_index=True)
    pd.testing.assert_frame_equal(f, parts)
    # Without the newlines the bracket would stay open to the end (what the finder used to do at sentence ends).
    assert char_features(text.replace("\n", " "))["in_parens"].iloc[-1] == 1


def test_sentence_spans_cover_the_text_and_end_at_newlines():
    assert sentence_spans("") == []
    assert sentence_spans("\n\nа") == [(0, 1), (1, 2), (2, 3)]
    with pytest.raises(TypeError, match="text must be a str"):
        sentence_spans(b"a\n")


@pytest.mark.parametrize("cell", ["rnn", "gru", "lstm"])
def test_sentence_states_restart_from_zero_at_each_sentence(cell):
    """Every sentence's rows are what the model gives on that sentence alone, however the sentences are batched."""
    model = _model(cell)
    quantity = "cell" if cell == "lstm" else "hidden"
    text = "аб (вгд\nде\n«жзий» клм\nи"
    states = sentence_states(model, CHARS, text, quantity)
    assert len(states) == 2 and all(v.shape == (len(text), 6) for v in states)
    for a, b in sentence_spans(text):
        alone = list(layer_states(model, encode_chars(text[a:b], CHARS).unsqueeze(0), quantity))
        for layer in range(2):
            torch.testing.assert_close(states[layer][a:b], alone[layer], rtol=1e-5, atol=1e-6)
    for max_steps in (1, 5):  # one sentence a batch; several, padded
        for v, w in zip(states, sentence_states(model, CHARS, text, quantity, max_steps=max_steps)):
            torch.testing.assert_close(v, w, rtol=1e-5, atol=1e-6)
    whole = list(layer_states(model, encode_chars(text, CHARS).unsqueeze(0), quantity))
    second = slice(*sentence_spans(text)[1])
    assert not torch.allclose(whole[0][second], states[0][second], atol=1e-4)  # one sequence carries state over


def test_find_cells_does_not_depend_on_the_order_of_the_sentences():
    model = _model("gru", seed=3)
    sentences = ["мама (мыла раму.\n", "«папа» читал газету\n", "кот спал на окне, да.\n", 'он сказал "нет\n']
    cells = [
        find_cells(model, CHARS, "".join(order)).sort_values(["feature", "layer", "unit"], ignore_index=True)
        for order in (sentences, sentences[::-1])
    ]
    assert cells[0]["r"].notna().sum() == 8 * 12  # 2 layers x 6 units; no digit, no capital letter
    np.testing.assert_allclose(cells[0]["r"], cells[1]["r"], atol=1e-5)


def test_the_finder_refuses_bad_input_early():
    model = _model("lstm")
    with pytest.raises(TypeError, match="features must be a sequence"):
        find_cells(model, CHARS, "мама\n", features="vowel")
    with pytest.raises(TypeError, match="text must be a str"):
        find_cells(model, CHARS, ["м", "а"])
    with pytest.raises(ValueError, match="max_steps=0 is invalid"):
        sentence_states(model, CHARS, "мама\n", "cell", max_steps=0)
    with pytest.raises(ValueError, match="quantity='cell' is not kept for a gru model"):
        sentence_states(_model("gru"), CHARS, "мама\n", "cell")
    with pytest.raises(ValueError, match=r"ids must be \(1, T\)"):
        next(layer_states(model, torch.tensor([[2, 3], [3, 2]]), "cell"))


def _data(text: str) -> CharData:
    ids = encode_chars(text, CHARS)
    return CharData(CHARS, ids, ids, ids)


def test_held_out_slices_are_disjoint_and_start_at_sentence_starts():
    text = "".join(f"{'аб' * (k % 4 + 1)}в\n" for k in range(40))
    slices = held_out_slices(_data(text), size=17, count=3)
    assert slices[0] == (0, text[:17])
    for (a, ta), (b, tb) in zip(slices, slices[1:]):
        assert a + len(ta) <= b and text[b - 1] == "\n" and text[b : b + 17] == tb
    assert [len(t) for _, t in slices] == [17, 17, 17]
    with pytest.raises(ValueError, match="too few for 40 disjoint slices of 17"):
        held_out_slices(_data(text), size=17, count=40)
    with pytest.raises(ValueError, match="size=1 is invalid"):
        held_out_slices(_data(text), size=1)


def test_slice_study_finds_a_planted_unit_on_both_slices():
    """Unit 4 of layer 0 is wired to fire on vowels: best on both slices, r ~ 1 on each, tiny spread."""
    vowels = set("аеёиоуыэюя")
    model = CharLM.seeded(CharLMConfig(cell="rnn", vocab_size=len(CHARS), embed_dim=3, hidden_size=8), 0).eval()
    with torch.no_grad():
        model.embedding.weight[:, 0] = torch.tensor([1.0 if c in vowels else 0.0 for c in CHARS])
        model.rnn.weight_ih_l0[4] = torch.tensor([6.0, 0.0, 0.0])
        model.rnn.weight_hh_l0[4] = 0.0
        model.rnn.weight_hh_l0[:, 4] = 0.0
        model.rnn.bias_ih_l0[4], model.rnn.bias_hh_l0[4] = -3.0, 0.0
    a, b = "мама мыла раму.\nпапа (читал газету.\n", "кот спал на окне.\nдождь шел «весь день.\n"
    study = slice_study({"rnn": (model, CHARS)}, [("A", 0, a), ("B", len(a), b)])
    vowel = study["models"]["rnn"]["features"]["vowel"]
    assert vowel["same_unit"] and (vowel["A"]["layer"], vowel["A"]["unit"]) == (0, 4)
    assert min(vowel["A"]["r_on"]["A"], vowel["A"]["r_on"]["B"]) > 0.99 and vowel["spread"] < 0.01
    assert study["models"]["rnn"]["features"]["digit"] == {"A": None, "B": None, "same_unit": False, "spread": None}
    assert [s["sentences"] for s in study["slices"]] == [2, 2] and study["slices"][1]["share"]["in_parens"] == 0
    table = study_table(study)
    assert "| vowel | 0, 4: +1.00 / +1.00 |" in table or "| vowel | 0, 4: +0.99" in table, table
    assert table in study_markdown(study)
    with pytest.raises(ValueError, match="at least 2 slices"):
        slice_study({"rnn": (model, CHARS)}, [("A", 0, a)])


@pytest.mark.slow
def test_the_command_writes_the_study(tmp_path):
    """``python -m lstmviz.cellfinder`` on a tiny corpus and three tiny checkpoints: JSON and markdown agree."""
    from lstmviz.chardata import prepare_chars
    from lstmviz.lmtrainer import LMTrainConfig, train_charlm

    rows = ["Мама мыла раму.", "Папа читал «газету» (утром)!", "Кот спал на окне.", "Дождь шёл весь день."] * 30
    csv = tmp_path / "c.csv"
    csv.write_text("Sentence,Sentiment\n" + "\n".join(f'"{r}",neutral' for r in rows), encoding="utf-8")
    data = prepare_chars(csv, min_count=1)
    for cell in ("rnn", "gru", "lstm"):
        train_charlm(
            data,
            CharLMConfig(cell=cell, embed_dim=4, hidden_size=5),
            LMTrainConfig(max_updates=1, eval_every=1, batch_size=2, seq_len=8),
            out=tmp_path / "root" / f"charlm-{cell}",
            log=None,
        )
    out = tmp_path / "study"
    threads = torch.get_num_threads()
    assert main(["--data", str(csv), "--checkpoints", str(tmp_path / "root"), "--out", str(out), "--chars", "100"]) == 0
    study = json.loads((tmp_path / "study.json").read_text(encoding="utf-8"))
    assert list(study["models"]) == ["rnn", "gru", "lstm"] and [s["characters"] for s in study["slices"]] == [100, 100]
    assert (tmp_path / "study.md").read_text(encoding="utf-8") == study_markdown(study)
    assert torch.get_num_threads() == threads  # --threads holds for the command only
    with pytest.raises(SystemExit) as refused:
        main(["--data", str(csv), "--chars", "1"])
    assert refused.value.code == 2


def test_the_study_file_is_its_markdown():
    """results/cellfinder.md is study_markdown of results/cellfinder.json (the README shows its table:
    tests/test_readme.py)."""
    study = json.loads(STUDY.with_suffix(".json").read_text(encoding="utf-8"))
    assert STUDY.with_suffix(".md").read_text(encoding="utf-8") == study_markdown(study)
    assert study_table(study).count("\n") == 2 + len(FEATURES)


@pytest.mark.corpus
def test_the_study_file_is_what_the_finder_finds(corpus_dir):
    """The committed study is find_cells on the shipped character models and the corpus test split, up to float
    drift between CPUs' kernels (well under 1e-3 for sentences of at most a few hundred characters)."""
    from lstmviz.chardata import prepare_chars
    from lstmviz.checkpoint import load_checkpoint

    study = json.loads(STUDY.with_suffix(".json").read_text(encoding="utf-8"))
    data = prepare_chars(corpus_dir, seed=study["split_seed"])
    slices = held_out_slices(data, study["slices"][0]["characters"], len(study["slices"]))
    names = [s["name"] for s in study["slices"]]
    assert [s["start"] for s in study["slices"]] == [start for start, _ in slices]
    drift = 1e-3
    for cell, entry in study["models"].items():
        model, meta = load_checkpoint(REPO / "checkpoints" / f"charlm-{cell}")
        found = {n: find_cells(model, meta["chars"], text) for n, (_, text) in zip(names, slices)}
        for feature, per_slice in entry["features"].items():
            for name in names:
                kept = per_slice[name]
                f = found[name][found[name]["feature"] == feature]
                if kept is None:  # constant on this slice
                    assert f["r"].isna().all(), (cell, feature, name)
                    continue
                best = f[f["rank"] == 1].iloc[0]
                for other in names:
                    g = found[other]
                    mine = g[(g["feature"] == feature) & (g["layer"] == kept["layer"]) & (g["unit"] == kept["unit"])]
                    assert abs(float(mine["r"].iloc[0]) - kept["r_on"][other]) <= drift, (cell, feature, name, other)
                assert abs(kept["r"]) >= best["abs_r"] - drift, (cell, feature, name, best.to_dict())
