"""Recorder on real model shapes: cells in a Python loop, several modules, a CNN+LSTM tagger."""

from __future__ import annotations

import pytest
import torch
from reference import step
from torch import nn

import lstmviz
from lstmviz.names import GATES

TOL = dict(atol=1e-10, rtol=0)


def _cell(kind, n_in=3, H=4, bias=True):
    torch.manual_seed(0)
    if kind == "lstm":
        c = nn.LSTMCell(n_in, H, bias=bias)
    elif kind == "gru":
        c = nn.GRUCell(n_in, H, bias=bias)
    else:
        c = nn.RNNCell(n_in, H, bias=bias, nonlinearity=kind.split("_")[1])
    return c.double()


@pytest.mark.parametrize("kind", ["lstm", "gru", "rnn_tanh", "rnn_relu"])
@pytest.mark.parametrize("bias", [True, False])
def test_cell_loop_stitched_and_exact(kind, bias):
    cell = _cell(kind, bias=bias)
    is_lstm = kind == "lstm"
    B, T = 2, 6
    xs = torch.randn(T, B, 3, dtype=torch.float64)
    W = torch.randn(B, 4, dtype=torch.float64)
    with lstmviz.record(cell, grads=True) as rec:
        hx = None
        hs, cs = [], []
        for t in range(T):
            hx = cell(xs[t], hx)
            h = hx[0] if is_lstm else hx
            hs.append(h)
            cs.append(hx[1] if is_lstm else None)
        loss = sum(((h * W) ** 2).sum() * (t + 1) for t, h in enumerate(hs))
        loss.backward()
    # reference: the documented step equations, retain_grad on every h_t and c_t
    ws = (cell.weight_ih, cell.weight_hh, cell.bias_ih if bias else None, cell.bias_hh if bias else None)
    nl = getattr(cell, "nonlinearity", "tanh")
    hr = torch.zeros(B, 4, dtype=torch.float64)
    cr = torch.zeros(B, 4, dtype=torch.float64)
    ref_h, ref_c, ref_g = [], [], []
    for t in range(T):
        gates, hr, c2 = step("lstm" if is_lstm else kind.split("_")[0], xs[t], hr, cr, *ws, nonlinearity=nl)
        hr.retain_grad()
        ref_h.append(hr)
        ref_g.append(gates)
        if is_lstm:
            cr = c2
            cr.retain_grad()
            ref_c.append(cr)
    sum(((h * W) ** 2).sum() * (t + 1) for t, h in enumerate(ref_h)).backward()
    kname = "lstm" if is_lstm else kind.split("_")[0]
    assert rec["l0.hidden"].shape == (B, T, 4)
    torch.testing.assert_close(rec["l0.hidden"], torch.stack(ref_h, 1).detach(), **TOL)
    torch.testing.assert_close(rec["l0.grad_hidden"], torch.stack([h.grad for h in ref_h], 1), **TOL)
    for q in GATES[kname]:
        torch.testing.assert_close(rec[f"l0.{q}"], torch.stack([g[q] for g in ref_g], 1).detach(), **TOL)
    if is_lstm:
        torch.testing.assert_close(rec["l0.cell"], torch.stack(ref_c, 1).detach(), **TOL)
        torch.testing.assert_close(
            rec["l0.grad_cell"],
            torch.stack([c.grad if c.grad is not None else torch.zeros_like(c) for c in ref_c], 1),
            **TOL,
        )


def test_cell_new_sequence_when_hx_is_not_the_previous_output():
    cell = _cell("gru")
    with lstmviz.record(cell) as rec:
        h = None
        for _ in range(3):
            h = cell(torch.randn(2, 3, dtype=torch.float64), h)
        h = None
        for _ in range(5):
            h = cell(torch.randn(2, 3, dtype=torch.float64), h)
    t = rec["l0.hidden"]
    assert t.shape == (4, 5, 4)
    assert rec.lengths("").tolist() == [3, 3, 5, 5]
    assert torch.isnan(t[0, 3:]).all() and not torch.isnan(t[2]).any()


def test_unbatched_cell():
    cell = _cell("lstm")
    with lstmviz.record(cell) as rec:
        hx = None
        for _ in range(4):
            hx = cell(torch.randn(3, dtype=torch.float64), hx)
    assert rec["l0.cell"].shape == (1, 4, 4)
    torch.testing.assert_close(rec["l0.cell"][0, -1], hx[1].detach(), **TOL)


class TwoRNNs(nn.Module):
    """An encoder GRU and a decoder LSTM: keys are kept apart by module path."""

    def __init__(self):
        super().__init__()
        self.encoder = nn.GRU(3, 5, batch_first=True)
        self.decoder = nn.Sequential(nn.LSTM(5, 4, batch_first=True, num_layers=2))

    def forward(self, x):
        y, _ = self.encoder(x)
        z, _ = self.decoder(y)
        return z


def test_several_modules_keyed_by_path():
    model = TwoRNNs().double()
    x = torch.randn(2, 6, 3, dtype=torch.float64)
    with lstmviz.record(model, grads=True) as rec:
        out = model(x)
        out.pow(2).sum().backward()
    assert rec.modules == {"encoder": "gru", "decoder.0": "lstm"}
    assert "encoder.l0.update" in rec and "decoder.0.l1.grad_cell" in rec
    torch.testing.assert_close(rec["decoder.0.l1.hidden"], out.detach(), **TOL)
    # the encoder's total gradient is what reaches its output from the decoder
    enc_out, _ = model.encoder(x)
    enc_out.retain_grad()
    model.decoder(enc_out)[0].pow(2).sum().backward()
    torch.testing.assert_close(rec["encoder.l0.grad_hidden"][:, -1], enc_out.grad[:, -1], **TOL)
    frame = rec.to_frame()
    assert set(frame["module"]) == {"encoder", "decoder.0"}
    assert list(frame.columns) == ["module", "layer", "direction", "quantity", "batch", "step", "unit", "value"]

    only = lstmviz.trace(model, x, names="encoder")
    assert set(only.modules) == {"encoder"}


class Tagger(nn.Module):
    """Embedding -> Conv1d -> BiLSTM -> Linear, as in a CNN+LSTM sequence tagger."""

    def __init__(self):
        super().__init__()
        self.emb = nn.Embedding(20, 6)
        self.conv = nn.Conv1d(6, 8, kernel_size=3, padding=1)
        self.lstm = nn.LSTM(8, 5, bidirectional=True, batch_first=True)
        self.out = nn.Linear(10, 3)

    def forward(self, ids):
        h = torch.relu(self.conv(self.emb(ids).transpose(1, 2))).transpose(1, 2)
        y, _ = self.lstm(h)
        return self.out(y)


def test_cnn_lstm_tagger_and_trace_leaves_param_grads_alone():
    model = Tagger().double()
    ids = torch.randint(0, 20, (3, 9))
    plain = model(ids)
    rec = lstmviz.trace(model, ids, loss_fn=lambda logits: logits.logsumexp(-1).sum())
    assert all(p.grad is None for p in model.parameters())  # trace uses autograd.grad, not .backward()
    assert rec["lstm.l0.rev.forget"].shape == (3, 9, 5)
    norms = rec.grad_norms()
    assert set(norms["quantity"]) == {"grad_hidden", "grad_cell"}
    assert len(norms) == 2 * 2 * 3 * 9
    torch.testing.assert_close(model(ids), plain, **TOL)
    # trace and record+backward agree
    with lstmviz.record(model, grads=True) as rec2:
        model(ids).logsumexp(-1).sum().backward()
    torch.testing.assert_close(rec2["lstm.l0.rev.grad_cell"], rec["lstm.l0.rev.grad_cell"], **TOL)


def test_multiple_calls_stack_along_batch():
    m = nn.RNN(2, 3, batch_first=True).double()
    with lstmviz.record(m) as rec:
        m(torch.randn(2, 4, 2, dtype=torch.float64))
        m(torch.randn(1, 6, 2, dtype=torch.float64))
    t = rec["l0.hidden"]
    assert t.shape == (3, 6, 3)
    assert torch.isnan(t[:2, 4:]).all() and not torch.isnan(t[2]).any()
    assert rec.lengths("").tolist() == [4, 4, 6]


def test_backward_returns_input_grads_for_saliency():
    model = Tagger().double()
    ids = torch.randint(0, 20, (1, 7))
    with lstmviz.record(model, grads=True) as rec:
        emb = model.emb(ids)
        h = torch.relu(model.conv(emb.transpose(1, 2))).transpose(1, 2)
        y, _ = model.lstm(h)
        loss = model.out(y)[0, -1, 0]
        (d_emb,) = rec.backward(loss, inputs=[emb])
    assert d_emb.shape == emb.shape
    emb2 = model.emb(ids).detach().requires_grad_()
    h = torch.relu(model.conv(emb2.transpose(1, 2))).transpose(1, 2)
    model.out(model.lstm(h)[0])[0, -1, 0].backward()
    torch.testing.assert_close(d_emb, emb2.grad, **TOL)
    assert rec["lstm.l0.grad_hidden"].shape == (1, 7, 5)
