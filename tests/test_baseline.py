"""The bag-of-words baseline, the checkpoint's model-kind registry, navec vectors and the seed study's bookkeeping."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from lstmviz.bow import BagOfWordsClassifier, BowConfig
from lstmviz.checkpoint import CheckpointError, load_checkpoint, model_kind, save_checkpoint
from lstmviz.kinds import KINDS
from lstmviz.models import ModelConfig, RecurrentClassifier


def test_bow_is_a_linear_model_on_counts_and_ignores_order_and_padding():
    m = BagOfWordsClassifier.seeded(BowConfig(vocab_size=6, num_classes=3), 0)
    ids = torch.tensor([[2, 3, 3, 0, 0], [3, 2, 3, 0, 0]])
    out = m(ids, torch.tensor([3, 3]))
    counts = torch.zeros(6)
    counts[2], counts[3] = 1, 2
    want = counts @ m.bag.weight + m.bias  # (C,)
    torch.testing.assert_close(out[0], want)
    torch.testing.assert_close(out[1], want)  # order plays no part
    assert torch.equal(m.bag.weight[0], torch.zeros(3))  # <pad> never counts
    state = torch.random.get_rng_state()
    a, b = BagOfWordsClassifier.seeded(BowConfig(6, 3), 5), BagOfWordsClassifier.seeded(BowConfig(6, 3), 5)
    assert torch.equal(a.bag.weight, b.bag.weight)
    assert torch.equal(state, torch.random.get_rng_state())  # the global RNG is untouched
    with pytest.raises(ValueError, match="vocab_size=0 is invalid"):
        BowConfig(vocab_size=0)
    with pytest.raises(ValueError, match="unknown model config keys"):
        BowConfig.from_dict({"vocab_size": 3, "cell": "lstm"})


def test_checkpoints_record_their_kind_and_load_only_registered_kinds(tmp_path):
    bow = BagOfWordsClassifier.seeded(BowConfig(vocab_size=5, num_classes=2), 1)
    save_checkpoint(tmp_path / "bow", bow, {"labels": ["a", "b"]})
    meta = json.loads((tmp_path / "bow" / "meta.json").read_text())
    assert meta["model_kind"] == "bow" and meta["cell"] == "bow"
    loaded, _ = load_checkpoint(tmp_path / "bow")
    assert type(loaded) is BagOfWordsClassifier and torch.equal(loaded.bag.weight, bow.bag.weight)
    rnn = RecurrentClassifier(ModelConfig(vocab_size=5, num_classes=2))
    save_checkpoint(tmp_path / "rnn", rnn, {"labels": ["a", "b"]})
    assert model_kind(load_checkpoint(tmp_path / "rnn")[0]) == "recurrent"
    # a file never chooses code: an import path or an unknown kind is refused, naming the file and the kinds
    for bad in ("os.system", "lstmviz.models.RecurrentClassifier", ["bow"], "BOW"):
        meta["model_kind"] = bad
        (tmp_path / "bow" / "meta.json").write_text(json.dumps(meta))
        with pytest.raises(CheckpointError, match=r"meta\.json: model_kind=.* allowed: recurrent, bow, charlm, tagger"):
            load_checkpoint(tmp_path / "bow")
    # an older checkpoint without the key is recurrent
    meta = json.loads((tmp_path / "rnn" / "meta.json").read_text())
    del meta["model_kind"]
    (tmp_path / "rnn" / "meta.json").write_text(json.dumps(meta))
    assert type(load_checkpoint(tmp_path / "rnn")[0]) is RecurrentClassifier
    assert set(KINDS) == {"recurrent", "bow", "charlm", "tagger"}
    with pytest.raises(TypeError, match="must be one of"):
        save_checkpoint(tmp_path / "x", torch.nn.Linear(2, 2), {})


def _tiny_navec(path, words, dim=4):
    """A real navec tar with a few words (navec's own writer)."""
    from navec import Navec
    from navec.meta import Meta
    from navec.pq import PQ
    from navec.vocab import Vocab as NVocab

    n, qdim, centroids = len(words), 2, len(words)
    codes = np.arange(qdim * centroids * (dim // qdim), dtype=np.float32).reshape(qdim, centroids, dim // qdim) / 10
    indexes = np.stack([np.arange(n), np.arange(n)[::-1]], 1).astype(np.uint8)  # (n, qdim)
    Navec(Meta("tiny"), NVocab(list(words), [1] * n), PQ(n, dim, qdim, centroids, indexes, codes)).dump(str(path))
    return Navec.load(str(path))


def test_navec_vectors_fill_known_rows_exactly(tmp_path):
    from lstmviz.pretrained import apply_embedding, load_vectors

    nv = _tiny_navec(tmp_path / "nv.tar", ["кино", "плохо", "<unk>"])
    tokens = ["<pad>", "<unk>", "кино", "мочь", "плохо"]
    m, coverage = load_vectors(tmp_path / "nv.tar", tokens, seed=0)
    assert m.shape == (5, 4) and m.dtype == np.float32
    np.testing.assert_array_equal(m[2], nv["кино"])
    np.testing.assert_array_equal(m[4], nv["плохо"])
    np.testing.assert_array_equal(m[0], 0)  # <pad>
    assert coverage == pytest.approx(3 / 4)  # <unk>, кино, плохо of the 4 non-pad tokens
    assert np.abs(m[3]).sum() > 0  # unknown words get seeded random rows
    np.testing.assert_array_equal(load_vectors(tmp_path / "nv.tar", tokens, seed=0)[0], m)
    model = apply_embedding(RecurrentClassifier(ModelConfig(vocab_size=5, embed_dim=4)), m)
    np.testing.assert_array_equal(model.embedding.weight.detach().numpy(), m)
    with pytest.raises(ValueError, match="shape"):
        apply_embedding(RecurrentClassifier(ModelConfig(vocab_size=5, embed_dim=3)), m)
    with pytest.raises(FileNotFoundError, match="natasha"):
        load_vectors(tmp_path / "missing.tar", tokens)
    (tmp_path / "junk.tar").write_bytes(b"not a tar at all")
    with pytest.raises(ValueError, match="junk.tar is not a navec vector file"):
        load_vectors(tmp_path / "junk.tar", tokens)


def test_study_specs_summary_and_decision():
    from lstmviz.sentiment_study import StudySpec, decide, study_specs, summarize

    specs = study_specs("x.csv", seeds=range(5))
    assert {s.variant for s in specs} == {"bow", "base", "layers2", "bidir"}  # no navec file: no navec variants
    assert len(specs) == 5 + 3 * 3 * 5
    with pytest.raises(ValueError, match="needs navec"):
        StudySpec("x.csv", "navec", "gru", 0)
    with pytest.raises(ValueError, match="does not fit"):
        StudySpec("x.csv", "bow", "gru", 0)
    assert StudySpec("x.csv", "bidir", "lstm", 0).model_config().bidirectional
    runs = [
        {
            "variant": "bow",
            "cell": "bow",
            "test_accuracy": a,
            "test_macro_f1": f,
            "val_macro_f1": f - 0.01,
            "train_accuracy": 0.8,
            "parameters": 10,
        }
        for a, f in ((0.56, 0.44), (0.57, 0.46))
    ]
    runs += [
        {
            "variant": "base",
            "cell": "gru",
            "test_accuracy": a,
            "test_macro_f1": f,
            "val_macro_f1": f - 0.01,
            "train_accuracy": 0.9,
            "parameters": 99,
        }
        for a, f in ((0.58, 0.47), (0.60, 0.49))
    ]
    summary = summarize(runs)
    assert [r["variant"] for r in summary] == ["bow", "base"]
    assert summary[0]["f1_mean"] == pytest.approx(0.45) and summary[0]["f1_sd"] == pytest.approx(
        np.std([0.44, 0.46], ddof=1)
    )
    d = decide(summary)
    assert (d["variant"], d["chosen_by"]) == ("base", "val_macro_f1") and d["val_f1_mean"] == pytest.approx(0.47)
    assert d["vs_baselines"]["bow"]["diff"] == pytest.approx(0.03)
    assert d["beats_baseline"] is None  # said only from a test-set interval (tests/test_sentiment_study.py)


def test_frozen_pretrained_embedding_stays_fixed_and_untrained_is_the_initialisation():
    from types import SimpleNamespace

    from lstmviz.models import weights_fingerprint
    from lstmviz.pretrained import apply_embedding
    from lstmviz.whatifs import WhatIf, make_variant

    cfg = ModelConfig(
        cell="lstm", vocab_size=7, embed_dim=3, hidden_size=4, num_classes=2, gate_bias=2.0, freeze_embedding=True
    )
    vectors = np.arange(21, dtype=np.float32).reshape(7, 3) / 7
    model = apply_embedding(RecurrentClassifier.seeded(cfg, 4), vectors)
    init = weights_fingerprint(model)
    opt = torch.optim.AdamW(model.parameters(), lr=0.1, weight_decay=0.5)
    for _ in range(3):  # a few training steps: everything but the embedding moves
        opt.zero_grad()
        torch.nn.functional.cross_entropy(
            model(torch.tensor([[2, 3, 4]]), torch.tensor([3])), torch.tensor([1])
        ).backward()
        opt.step()
    np.testing.assert_array_equal(model.embedding.weight.detach().numpy(), vectors)
    assert weights_fingerprint(model) != init
    pred = SimpleNamespace(model=model, meta={"init_seed": 4, "init_fingerprint": init})  # as train_model stores
    assert weights_fingerprint(make_variant(pred, WhatIf(untrained=True)).model) == init
