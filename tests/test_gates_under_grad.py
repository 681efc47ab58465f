"""Gates only under autograd (issue 24): ``record(model)`` with gradients enabled costs what it costs under
``torch.no_grad()``. A large LSTM/GRU call is captured without autograd (the own loop or the fused workspace: gates
for free) and made differentiable by recomputing the plain forward in backward (``recorder._Replay``). Checked here:
the recorded values are those of the no-grad recording, bit for bit; the output is within the documented tolerance
of the plain forward; the gradients the call passes back are the plain forward's, bit for bit, for the same
upstream gradient (also a second-order one); dropout between layers, packed input and small calls keep the exact
kernel path; nothing is left behind."""

from __future__ import annotations

import pytest
import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence

import lstmviz
from lstmviz import recorder

B, H = 40, 128  # B x H = 5120 >= OWN_LOOP_MIN: the size at which no_grad takes the own loop / workspace


def _model(cell, dtype, bidirectional=False, layers=1, **kw):
    torch.manual_seed(0)
    return cell(16, H, layers, batch_first=True, bidirectional=bidirectional, **kw).to(dtype)


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
@pytest.mark.parametrize("cell", [nn.LSTM, nn.GRU])
@pytest.mark.parametrize(("bidirectional", "layers"), [(False, 1), (True, 2)])
def test_gates_under_autograd_equal_no_grad_and_gradients_equal_the_plain_forward(cell, dtype, bidirectional, layers):
    m = _model(cell, dtype, bidirectional, layers)
    x = torch.randn(B, 7, 16, dtype=dtype, requires_grad=True)
    w = torch.randn(B, 7, H * (2 if bidirectional else 1), dtype=dtype)  # a linear loss: one upstream gradient
    out, _ = m(x)
    plain = torch.autograd.grad((out * w).sum(), [x, *m.parameters()])
    with lstmviz.record(m) as rec:
        out_rec, _ = m(x)
    assert rec.capture_paths[""] == (("workspace",) if cell is nn.LSTM else ("step_loop",))
    assert (out_rec - out).abs().max() <= recorder.OUTPUT_TOLERANCE[dtype]
    got = torch.autograd.grad((out_rec * w).sum(), [x, *m.parameters()])
    for a, b in zip(plain, got):
        assert torch.equal(a, b)
    with torch.no_grad(), lstmviz.record(m) as quiet:
        m(x)
    assert rec.keys() == quiet.keys()
    for k in quiet.keys():
        assert torch.equal(rec[k], quiet[k]), k
    assert recorder._INSTALLED == {}


def test_the_initial_state_gets_its_gradient_and_a_second_order_gradient_is_the_plain_one():
    m = _model(nn.GRU, torch.float64)
    x = torch.randn(B, 5, 16, dtype=torch.float64, requires_grad=True)
    h0 = torch.randn(1, B, H, dtype=torch.float64, requires_grad=True)

    def second(run):
        out, h_n = run()
        (gx,) = torch.autograd.grad(out.pow(2).sum() + h_n.sum(), [x], create_graph=True)
        return torch.autograd.grad(gx.pow(2).sum(), [x, h0])

    plain = second(lambda: m(x, h0))
    with lstmviz.record(m) as rec:
        got = second(lambda: m(x, h0))
    assert rec.capture_paths[""] == ("step_loop",)
    for a, b in zip(plain, got):
        torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize(
    "case",
    ["dropout between layers", "packed", "small", "grads", "a path asked for"],
)
def test_the_exact_paths_stay_where_a_replay_cannot_be_the_same_call(case):
    m = _model(nn.LSTM, torch.float32, layers=2, dropout=0.5 if case == "dropout between layers" else 0.0)
    x = torch.randn(4 if case == "small" else B, 6, 16)
    kw = {"grads": case == "grads", "path": "kernel" if case == "a path asked for" else None}
    with lstmviz.record(m, **kw) as rec:
        if case == "packed":
            lengths = torch.full((B,), 6)
            lengths[::2] = 3
            out, _ = m(pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False))
            out = out.data
        else:
            out, _ = m(x)
        if case == "grads":
            rec.backward(out.sum())
    assert set(rec.capture_paths[""]) <= {"kernel", "zero_channels", "autograd_steps"}
    assert recorder._INSTALLED == {}
