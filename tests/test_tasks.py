"""Tests for lstmviz.tasks: labels recomputed from inputs, determinism, names, validation."""

from __future__ import annotations

import pytest
import torch

from lstmviz.tasks import (
    ADDING_BASELINE_MSE,
    CUE_RECALL_TOKENS,
    QUERY,
    adding_problem,
    cue_recall,
    cue_recall_labels,
    cue_recall_vocab,
    encode_cue_tokens,
)


def test_cue_recall_layout_and_labels() -> None:
    n, k, c, v = 500, 30, 4, 20
    x, y = cue_recall(n=n, n_distractors=k, n_classes=c, vocab_size=v, seed=0)
    assert x.dtype == y.dtype == torch.long
    assert x.shape == (n, k + 2) and y.shape == (n,)
    assert torch.equal(x[:, 0] - 1, y)  # the label is the first (cue) token
    assert ((x[:, 1:-1] > c) & (x[:, 1:-1] < v - 1)).all()  # distractors never repeat a cue or the query
    assert (x[:, -1] == v - 1).all()
    assert (x != 0).all()  # no padding: every sequence has the full length
    assert set(y.tolist()) == set(range(c))
    counts = torch.bincount(y, minlength=c).float() / n
    assert (counts - 1 / c).abs().max() < 0.06


def test_cue_recall_no_distractors() -> None:
    x, y = cue_recall(n=3, n_distractors=0, n_classes=2, vocab_size=5, seed=1)
    assert x.shape == (3, 2) and torch.equal(x[:, 0] - 1, y) and (x[:, 1] == 4).all()


def test_cue_recall_deterministic() -> None:
    a = cue_recall(100, 10, seed=5)
    b = cue_recall(100, 10, seed=5)
    c = cue_recall(100, 10, seed=6)
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])
    assert not torch.equal(a[0], c[0])
    torch.manual_seed(0)
    before = torch.rand(1)
    torch.manual_seed(0)
    cue_recall(10, 5, seed=1)
    assert torch.equal(torch.rand(1), before)  # the global RNG is untouched


def test_cue_recall_names() -> None:
    names = cue_recall_vocab(4, 20)
    assert names[:5] == ["<pad>", "france", "spain", "germany", "italy"]
    assert names[5] == "w1" and names[-1] == QUERY and len(names) == 20 and len(set(names)) == 20
    assert list(CUE_RECALL_TOKENS) == names
    assert cue_recall_labels(4) == ["french", "spanish", "german", "italian"]
    assert cue_recall_vocab(20, 24)[20] == "cue20" and cue_recall_labels(17)[-1] == "class17"
    x, _ = cue_recall(5, 6, seed=0)
    assert encode_cue_tokens([names[i] for i in x[0].tolist()]) == x[0].tolist()
    assert encode_cue_tokens("France w3 ?".split()) == [1, 7, 19]


def test_encode_cue_tokens_unknown() -> None:
    with pytest.raises(ValueError, match=r"unknown cue-recall token\(s\) \['paris', 'w99'\]"):
        encode_cue_tokens(["france", "paris", "w99", "?"])
    with pytest.raises(ValueError, match="w14"):
        encode_cue_tokens(["w15"])  # default vocab_size=20 has distractors w1..w14
    with pytest.raises(TypeError):
        encode_cue_tokens("france ?")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"n": 0}, "n must be an int >= 1, got 0"),
        ({"n_distractors": -1}, "n_distractors must be an int >= 0"),
        ({"n_classes": 1}, "n_classes must be an int >= 2, got 1"),
        ({"n_classes": 4, "vocab_size": 6}, "vocab_size must be an int >= 7, got 6"),
        ({"seed": -3}, r"seed must be an int in \[0, "),
        ({"n": 2.5}, "got 2.5"),
        ({"n": True}, "got True"),
    ],
)
def test_cue_recall_validation(kwargs: dict, match: str) -> None:
    args = {"n": 4, "n_distractors": 3, **kwargs}
    with pytest.raises(ValueError, match=match):
        cue_recall(**args)


def test_adding_problem() -> None:
    n, t = 400, 30
    x, y = adding_problem(n=n, seq_len=t, seed=0)
    assert x.dtype == y.dtype == torch.float32
    assert x.shape == (n, t, 2) and y.shape == (n,)
    values, markers = x[..., 0], x[..., 1]
    assert ((values >= 0) & (values < 1)).all()
    assert set(markers.unique().tolist()) == {0.0, 1.0}
    assert (markers[:, : t // 2].sum(1) == 1).all() and (markers[:, t // 2 :].sum(1) == 1).all()
    assert torch.allclose((values * markers).sum(1), y)  # target = sum of the marked values
    assert abs(float(((y - 1.0) ** 2).mean()) - ADDING_BASELINE_MSE) < 0.03


def test_adding_problem_deterministic_and_edges() -> None:
    a = adding_problem(50, 10, seed=3)
    b = adding_problem(50, 10, seed=3)
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])
    assert not torch.equal(a[0], adding_problem(50, 10, seed=4)[0])
    x, y = adding_problem(5, 2, seed=0)  # shortest: both steps marked
    assert (x[..., 1] == 1).all() and torch.allclose(x[..., 0].sum(1), y)
    x, _ = adding_problem(5, 3, seed=0)
    assert (x[:, 0, 1] == 1).all()  # first half of T=3 is just step 0


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"seq_len": 1}, "seq_len must be an int >= 2, got 1"),
        ({"n": -1}, "n must be an int >= 1"),
        ({"seed": "0"}, "seed must be an int"),
    ],
)
def test_adding_problem_validation(kwargs: dict, match: str) -> None:
    args = {"n": 4, "seq_len": 10, **kwargs}
    with pytest.raises(ValueError, match=match):
        adding_problem(**args)
