"""Tests for lstmviz.models: config validation, shapes, padding invariance."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from lstmviz.models import ModelConfig, RecurrentClassifier


def _model(**kw) -> RecurrentClassifier:
    torch.manual_seed(0)
    base = dict(vocab_size=20, embed_dim=5, hidden_size=4, num_classes=3)
    base.update(kw)
    return RecurrentClassifier(ModelConfig(**base)).eval()


@pytest.mark.parametrize(
    "kw, needle",
    [
        ({"cell": "transformer"}, "cell='transformer'"),
        ({"head": "rank"}, "head='rank'"),
        ({"hidden_size": 0}, "hidden_size=0"),
        ({"vocab_size": -3}, "vocab_size=-3"),
        ({"num_layers": 1.5}, "num_layers=1.5"),
        ({"dropout": 1.0}, "dropout=1.0"),
        ({"dropout": -0.1}, "dropout=-0.1"),
        ({"bidirectional": "yes"}, "bidirectional='yes'"),
    ],
)
def test_config_rejects_bad_values_naming_them(kw, needle):
    with pytest.raises(ValueError, match="allowed") as e:
        ModelConfig(**kw)
    assert needle in str(e.value)


def test_config_round_trip_and_unknown_keys():
    cfg = ModelConfig(cell="gru", vocab_size=50, bidirectional=True, num_layers=2, dropout=0.2)
    assert ModelConfig.from_dict(cfg.to_dict()) == cfg
    with pytest.raises(ValueError, match="unknown model config keys \\['colour'\\]"):
        ModelConfig.from_dict({**cfg.to_dict(), "colour": "red"})


@pytest.mark.parametrize("cell, cls", [("rnn", nn.RNN), ("gru", nn.GRU), ("lstm", nn.LSTM)])
@pytest.mark.parametrize("bidirectional", [False, True])
def test_attributes_and_shapes(cell, cls, bidirectional):
    m = _model(cell=cell, bidirectional=bidirectional, num_layers=2)
    assert isinstance(m.rnn, cls) and m.rnn.batch_first and m.rnn.num_layers == 2
    assert m.embedding.padding_idx == 0
    assert m.head.in_features == (2 if bidirectional else 1) * 4
    ids = torch.randint(1, 20, (3, 6))
    out = m(ids, torch.tensor([6, 2, 4]))
    assert out.shape == (3, 3)


def test_regress_head_has_no_embedding_and_returns_b():
    m = _model(head="regress", input_dim=2, cell="lstm")
    assert m.embedding is None
    out = m(torch.randn(5, 7, 2), torch.tensor([7, 7, 3, 1, 5]))
    assert out.shape == (5,)


@pytest.mark.parametrize("cell", ["rnn", "gru", "lstm"])
@pytest.mark.parametrize("bidirectional", [False, True])
def test_padding_never_changes_a_prediction(cell, bidirectional):
    m = _model(cell=cell, bidirectional=bidirectional, num_layers=2, dropout=0.3)
    seq = torch.tensor([[3, 7, 2, 9, 4]])  # (1, 5)
    alone = m(seq, torch.tensor([5]))
    batch = torch.zeros(3, 11, dtype=torch.long)
    batch[0, :8] = torch.tensor([1, 2, 3, 4, 5, 6, 7, 8])
    batch[1, :5] = seq[0]
    batch[2, :11] = torch.arange(1, 12)
    batched = m(batch, torch.tensor([8, 5, 11]))
    torch.testing.assert_close(batched[1], alone[0], atol=1e-6, rtol=0)
    # Garbage (non-zero) ids in the padded region must not matter either.
    batch[1, 5:] = 13
    torch.testing.assert_close(m(batch, torch.tensor([8, 5, 11]))[1], alone[0], atol=1e-6, rtol=0)


def test_forward_embedded_matches_forward_and_gives_saliency_grads():
    m = _model(cell="lstm")
    ids = torch.tensor([[2, 3, 4, 0], [5, 6, 7, 8]])
    lengths = torch.tensor([3, 4])
    emb = m.embedding(ids).detach().requires_grad_()  # (B, T, E)
    out = m.forward_embedded(emb, lengths)
    torch.testing.assert_close(out, m(ids, lengths))
    out[0, 0].backward()
    assert emb.grad[0, :3].abs().sum() > 0
    assert emb.grad[0, 3].abs().sum() == 0  # padding gets no gradient


def test_bad_lengths_and_inputs_raise():
    m = _model()
    with pytest.raises(ValueError, match="lengths must lie in \\[1, 4\\]"):
        m(torch.ones(2, 4, dtype=torch.long), torch.tensor([0, 4]))
    with pytest.raises(ValueError, match="lengths must have shape"):
        m(torch.ones(2, 4, dtype=torch.long), torch.tensor([4]))
    with pytest.raises(ValueError, match="integer tensor of ids"):
        m(torch.ones(2, 4), torch.tensor([4, 4]))
    with pytest.raises(TypeError, match="ModelConfig"):
        RecurrentClassifier({"cell": "lstm"})


@pytest.mark.parametrize("cell", ["gru", "lstm"])
def test_gate_bias_sets_forget_or_update_gate_in_every_layer(cell):
    m = _model(cell=cell, num_layers=2, bidirectional=True, gate_bias=2.0)
    h = 4
    for name, p in m.rnn.named_parameters():
        if name.startswith("bias_ih"):
            assert torch.all(p[h : 2 * h] == 2.0), name
            assert not torch.all(p[:h] == 2.0)
        if name.startswith("bias_hh"):
            assert torch.all(p[h : 2 * h] == 0.0), name
    with pytest.raises(ValueError, match="gate_bias=nan"):
        ModelConfig(gate_bias=float("nan"))
    # None keeps PyTorch's init; the RNN has no gate and ignores the setting
    torch.manual_seed(0)
    plain = RecurrentClassifier(ModelConfig(cell="rnn", vocab_size=20, embed_dim=5, hidden_size=4, num_classes=3))
    biased = _model(cell="rnn", gate_bias=3.0)
    assert all(torch.equal(a, b) for a, b in zip(plain.parameters(), biased.parameters()))
