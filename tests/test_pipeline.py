"""Tests for lstmviz.pipeline: Predictor on sentiment and cue-recall checkpoints, shared encoding."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from lstmviz import tasks
from lstmviz.checkpoint import CheckpointError, save_checkpoint
from lstmviz.models import ModelConfig, RecurrentClassifier
from lstmviz.pipeline import MAX_TOKENS, Encoded, Predictor, encode_texts, pad_sequences
from lstmviz.text import TextPipeline
from lstmviz.vocab import Vocab

TEXTS = ["Я люблю дождь.", "Я не люблю дождь!", "Хороший фильм", "Плохой фильм, очень плохой"]
LABELS = ["negative", "neutral", "positive"]


@pytest.fixture(scope="module")
def sentiment_ckpt(tmp_path_factory):
    pipe = TextPipeline()
    vocab = Vocab.build([pipe.lemmas(t) for t in TEXTS], min_freq=1)
    torch.manual_seed(0)
    model = RecurrentClassifier(
        ModelConfig(cell="gru", vocab_size=len(vocab), embed_dim=6, hidden_size=5, num_classes=3)
    )
    meta = {"task": "sentiment", "vocab": vocab.to_dict(), "pipeline": pipe.to_dict(), "labels": LABELS}
    return save_checkpoint(tmp_path_factory.mktemp("ck") / "sent", model, meta)


@pytest.fixture(scope="module")
def cue_ckpt(tmp_path_factory):
    torch.manual_seed(0)
    model = RecurrentClassifier(ModelConfig(cell="lstm", vocab_size=20, embed_dim=4, hidden_size=5, num_classes=4))
    meta = {
        "task": "cue_recall",
        "vocab": None,
        "pipeline": None,
        "labels": tasks.cue_recall_labels(4),
        "task_params": {"n_distractors": 5, "n_classes": 4, "vocab_size": 20},
    }
    return save_checkpoint(tmp_path_factory.mktemp("ck") / "cue", model, meta)


def test_pad_sequences():
    ids, lengths = pad_sequences([[5, 6, 7], [8]])
    assert ids.tolist() == [[5, 6, 7], [8, 0, 0]] and lengths.tolist() == [3, 1]
    with pytest.raises(ValueError, match="sequence 1 is empty"):
        pad_sequences([[1], []])


def test_encode_spans_unknown_flags_and_labels(sentiment_ckpt):
    p = Predictor.from_checkpoint(sentiment_ckpt)
    assert p.labels == LABELS and p.task == "sentiment" and not p.model.training
    text = "Я не люблю снег!"
    enc = p.encode(text)
    assert isinstance(enc, Encoded) and enc.text == text
    assert [t.text for t in enc.tokens] == ["Я", "не", "люблю", "снег"]
    assert all(text[t.start : t.end] == t.text for t in enc.tokens)
    assert enc.ids.shape == (1, 4) and enc.lengths.tolist() == [4]
    assert enc.unknown == [False, False, False, True]
    assert enc.ids[0, 3] == 1 and not enc.truncated
    assert p.token_names == p.vocab.tokens


def test_truncation_flag(sentiment_ckpt):
    p = Predictor.from_checkpoint(sentiment_ckpt)
    enc = p.encode(" ".join(["дождь"] * (MAX_TOKENS + 30)))
    assert enc.truncated and enc.ids.shape == (1, MAX_TOKENS) and len(enc.tokens) == MAX_TOKENS
    assert not p.encode(" ".join(["дождь"] * MAX_TOKENS)).truncated


def test_empty_text_raises(sentiment_ckpt):
    p = Predictor.from_checkpoint(sentiment_ckpt)
    for text in ("", "   ", "?!..."):
        with pytest.raises(ValueError, match="no tokens"):
            p.encode(text)
    with pytest.raises(TypeError, match="must be a str"):
        p.encode(None)


def test_predict_proba_matches_batched_training_encoding(sentiment_ckpt):
    p = Predictor.from_checkpoint(sentiment_ckpt)
    probs = p.predict_proba(TEXTS[1])
    assert probs.shape == (3,) and abs(float(probs.sum()) - 1) < 1e-6
    assert p.predict(TEXTS[1]) in LABELS
    torch.testing.assert_close(p.predict_proba(p.encode(TEXTS[1])), probs)
    ids, lengths = encode_texts(TEXTS, p.pipeline, p.vocab)  # what training feeds, padded batch
    with torch.no_grad():
        batch_probs = torch.softmax(p.model(ids, lengths), -1)
    torch.testing.assert_close(batch_probs[1], probs, atol=1e-6, rtol=0)
    assert ids[1, : lengths[1]].tolist() == p.encode(TEXTS[1]).ids[0].tolist()


def test_encode_texts_empty_text_becomes_unk(sentiment_ckpt):
    p = Predictor.from_checkpoint(sentiment_ckpt)
    ids, lengths = encode_texts(["!!!", "дождь"], p.pipeline, p.vocab)
    assert ids[0].tolist()[:1] == [1] and lengths.tolist()[0] == 1


def test_cue_recall_encodes_token_names(cue_ckpt):
    p = Predictor.from_checkpoint(cue_ckpt)
    assert p.task == "cue_recall" and p.pipeline is None and p.vocab is None
    assert p.token_names == tasks.cue_recall_vocab(4, 20)
    text = "france  w3 w1 ?"
    enc = p.encode(text)
    assert enc.ids.tolist() == [tasks.encode_cue_tokens(["france", "w3", "w1", "?"])]
    assert [text[t.start : t.end] for t in enc.tokens] == ["france", "w3", "w1", "?"]
    assert enc.unknown == [False] * 4 and not enc.truncated
    assert p.predict(text) in tasks.cue_recall_labels(4)
    with pytest.raises(ValueError, match="unknown cue-recall token"):
        p.encode("france paris ?")
    with pytest.raises(ValueError, match="no token names"):
        p.encode("  ")


def test_regression_checkpoint_is_refused(tmp_path):
    model = RecurrentClassifier(ModelConfig(head="regress", input_dim=2, hidden_size=3))
    d = save_checkpoint(tmp_path / "add", model, {"task": "adding"})
    with pytest.raises(CheckpointError, match="head='classify'"):
        Predictor.from_checkpoint(d)


SHIPPED = Path(__file__).resolve().parents[1] / "checkpoints"


@pytest.mark.parametrize("cell", ["gru", "lstm"])
def test_shipped_cue_checkpoints_recall_the_cue(cell):
    if not (SHIPPED / f"cue-{cell}" / "meta.json").is_file():
        pytest.skip(f"checkpoints/cue-{cell} is not there (train it, see checkpoints/RETRAIN.md)")
    p = Predictor.from_checkpoint(SHIPPED / f"cue-{cell}")
    lag = p.meta["task_params"]["n_distractors"]
    x, y = tasks.cue_recall(n=200, n_distractors=lag, seed=123)  # fresh sequences
    with torch.no_grad():
        pred = p.model(x, torch.full((200,), x.shape[1])).argmax(-1)
    assert (pred == y).float().mean() >= 0.95
    names = " ".join(p.token_names[i] for i in x[0].tolist())
    assert p.predict(names) == p.labels[int(y[0])]


def test_shipped_sentiment_checkpoints_load_and_predict():
    dirs = [SHIPPED / f"sentiment-{c}" for c in ("rnn", "gru", "lstm")]
    if not all((d / "meta.json").is_file() for d in dirs):
        pytest.skip("checkpoints/sentiment-* are not there (train them, see checkpoints/RETRAIN.md)")
    for d in dirs:
        p = Predictor.from_checkpoint(d)
        assert p.labels == ["negative", "neutral", "positive", "mixed"]
        tm = p.meta["test_metrics"]
        assert tm["macro_f1"] > tm["majority_baseline"]["macro_f1"] + 0.1
        assert p.predict_proba("Я не люблю дождь!").shape == (4,)
