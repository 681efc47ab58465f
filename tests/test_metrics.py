"""Tests for lstmviz.metrics: every score on inputs small enough to check by hand, and the count-based scores of the
bootstrap against the label-based ones."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from lstmviz.metrics import (
    accuracy,
    accuracy_from_confusion,
    bigram_bpc,
    bits_per_char,
    bootstrap_interval,
    confusion_counts,
    entity_spans,
    macro_f1,
    macro_f1_from_confusion,
    paired_bootstrap,
    resample_weights,
    span_f1_from_counts,
    span_matches,
    stream_bpc,
    tag_scores,
    unigram_bpc,
)


# ----- labels ---------------------------------------------------------------------------------------------------
def test_accuracy_and_macro_f1_by_hand():
    assert accuracy([1, 2, 3], [1, 2, 0]) == pytest.approx(2 / 3, abs=1e-15)
    assert accuracy(torch.tensor([1, 0]), np.array([1, 1])) == 0.5  # tensors, arrays and lists mix
    # a: tp 1 fp 0 fn 1 -> 2/3; b: tp 1 fp 2 fn 0 -> 1/2; c: tp 0 fp 0 fn 1 -> 0
    assert macro_f1(["a", "a", "b", "c"], ["a", "b", "b", "b"]) == pytest.approx(7 / 18, abs=1e-15)
    assert macro_f1(["a", "a", "b"], ["a", "b", "b"], labels=["a", "z"]) == pytest.approx(1 / 3, abs=1e-15)
    assert macro_f1([0, 1], [0, 1]) == 1.0
    with pytest.raises(ValueError, match="differ in length: 2 vs 1"):
        accuracy([1, 2], [1])
    with pytest.raises(ValueError, match="empty"):
        macro_f1([], [])
    with pytest.raises(ValueError, match="labels must not be empty"):
        macro_f1([1], [1], labels=[])


# ----- tags and entity spans ------------------------------------------------------------------------------------
def test_entity_spans_and_their_matches():
    assert entity_spans([]) == set()
    assert entity_spans(["O", "O"]) == set()
    # an I- that continues nothing starts an entity; B- after B- starts another
    assert entity_spans(["I-ORG", "I-ORG", "B-ORG", "I-PER"]) == {(0, 2, "ORG"), (2, 3, "ORG"), (3, 4, "PER")}
    tp, fp, fn = span_matches(["B-PER", "I-PER", "O", "B-LOC"], ["B-PER", "O", "O", "B-LOC"])
    assert (tp, fp, fn) == ({(3, 4, "LOC")}, {(0, 1, "PER")}, {(0, 2, "PER")})  # a cut entity is both fp and fn


def test_tag_scores_by_hand():
    pos = tag_scores([["NOUN", "VERB", "NOUN"]], [["NOUN", "NOUN", "NOUN"]])
    assert pos["accuracy"] == pytest.approx(2 / 3, abs=1e-15) and pos["tokens"] == 3
    assert pos["per_tag"] == {
        "NOUN": {"precision": 2 / 3, "recall": 1.0, "f1": 0.8, "support": 2},
        "VERB": {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 1},
    }
    assert pos["macro_f1"] == pytest.approx(0.4, abs=1e-15)
    ner = tag_scores([["B-PER", "I-PER", "O", "B-LOC"]], [["B-PER", "O", "O", "B-LOC"]], ner=True)
    assert ner["accuracy"] == 0.75  # per token
    assert ner["per_tag"]["PER"] == {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 1}
    assert ner["per_tag"]["LOC"]["f1"] == 1.0 and ner["macro_f1"] == 0.5
    empty = tag_scores([], [])
    assert (empty["accuracy"], empty["macro_f1"], empty["per_tag"], empty["tokens"]) == (0.0, 0.0, {}, 0)
    with pytest.raises(ValueError, match="same sentences and lengths"):
        tag_scores([["O"]], [["O", "O"]])


# ----- bits per character ---------------------------------------------------------------------------------------
def test_bits_per_char_and_the_baselines_by_hand():
    assert bits_per_char(3 * math.log(2), 3) == pytest.approx(1.0, abs=1e-15)
    assert bits_per_char(0.0, 0) == 0.0  # no character: no division by zero
    # unigram: add-one counts [1, 1, 3, 2] of 7; the test character 2 has p = 3/7
    assert unigram_bpc(torch.tensor([2, 2, 3]), torch.tensor([2]), 4) == pytest.approx(-math.log2(3 / 7))
    # bigram: after 2, the row is [1, 1, 1, 3] of 6 with pairs (2,3) x 2: p(3 | 2) = 1/2, one bit exactly
    assert bigram_bpc(torch.tensor([2, 3, 2, 3]), torch.tensor([2, 3]), 4) == 1.0


class _Uniform:
    """A language model that knows nothing: equal logits over 4 characters; counts its calls in the state."""

    def step(self, x, state=None):
        calls = (state or 0) + 1
        return torch.zeros(1, x.shape[1], 4), calls


def test_stream_bpc_reads_every_character_once_and_carries_the_state():
    model, seen = _Uniform(), []

    def step(x, state=None):
        seen.append(x.shape[1])
        return _Uniform.step(model, x, state)

    model.step = step
    assert stream_bpc(model, torch.arange(10) % 4, window=3) == pytest.approx(2.0)  # log2(4) bits per character
    assert seen == [3, 3, 3]  # 9 predicted characters (the first has no past), 3 windows


# ----- counts and bootstrap intervals ---------------------------------------------------------------------------
def test_count_scores_equal_the_label_scores():
    y = np.array([0, 0, 1, 2, 2, 2, 1, 0])
    p = np.array([0, 1, 1, 2, 0, 2, 2, 0])
    c = confusion_counts(y, p, 3)
    assert c.shape == (8, 9) and c.sum() == 8
    assert accuracy_from_confusion(c.sum(axis=0)).tolist() == [accuracy(y, p)]
    assert macro_f1_from_confusion(c.sum(axis=0))[0] == pytest.approx(macro_f1(y, p, labels=range(3)), abs=1e-15)
    assert macro_f1_from_confusion(c.sum(axis=0), classes=[1])[0] == pytest.approx(macro_f1(y, p, labels=[1]))
    with pytest.raises(ValueError, match="labels must lie in 0..2"):
        confusion_counts([0, 3], [0, 0], 3)
    with pytest.raises(ValueError, match="no k x k confusion matrix"):
        accuracy_from_confusion(np.ones((1, 5)))


def test_span_f1_from_counts_by_hand():
    # PER: tp 1, fp 1, fn 0 -> 2/3; LOC: tp 2 -> 1; ORG: nothing -> 0
    counts = np.array([[1.0, 1.0, 0.0, 2.0, 0.0, 0.0, 0.0, 0.0, 0.0]])
    assert span_f1_from_counts(counts)[0] == pytest.approx((2 / 3 + 1) / 3, abs=1e-15)
    assert span_f1_from_counts(counts, types=[0, 1])[0] == pytest.approx(5 / 6, abs=1e-15)
    with pytest.raises(ValueError, match="not 3"):
        span_f1_from_counts(np.ones(4))


def test_bootstrap_is_repeatable_and_paired():
    w = resample_weights(6, resamples=50, seed=3)
    assert w.shape == (50, 6) and (w.sum(axis=1) == 6).all()
    assert (resample_weights(6, resamples=50, seed=3) == w).all()
    with pytest.raises(ValueError, match="must be > 0"):
        resample_weights(0)
    y = np.tile([0, 1, 1, 0], 10)
    a, b = confusion_counts(y, y, 2), confusion_counts(y, np.zeros_like(y), 2)
    one = bootstrap_interval(b, accuracy_from_confusion, resamples=400)
    assert one["score"] == 0.5 and one["lo"] < 0.5 < one["hi"] and one["units"] == 40
    r = paired_bootstrap(a, b, accuracy_from_confusion, resamples=400)
    assert (r["a"], r["b"], r["diff"], r["beats"]) == (1.0, 0.5, 0.5, 1)
    assert r == paired_bootstrap(a, b, accuracy_from_confusion, resamples=400)  # same seed, same interval
    with pytest.raises(ValueError, match="paired units differ: 40 vs 39"):
        paired_bootstrap(a, b[1:], accuracy_from_confusion)
