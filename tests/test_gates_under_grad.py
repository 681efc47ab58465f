"""Gates only under autograd (issue 24): ``record(model)`` with gradients enabled costs what it costs under
``torch.no_grad()``. A large LSTM/GRU call is captured without autograd (the own loop or the fused workspace: gates
for free) and made differentiable by recomputing the plain forward in backward (``recorder._Replay``). Checked here:
the recorded values are those of the no-grad recording, bit for bit; the output is within the documented tolerance
of the plain forward; the gradients the call passes back are the plain forward's, bit for bit, for the same
upstream gradient (also a second-order one); packed input of more than one row (any cell) replays the same way;
dropout between layers, one packed row and small calls keep the exact kernel path; nothing is left behind."""

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
# an unpacked RNN records from the fused kernel's output itself: nothing to replay
@pytest.mark.parametrize(
    ("cell", "packed"),
    [(nn.LSTM, False), (nn.GRU, False), (nn.LSTM, True), (nn.GRU, True), (nn.RNN, True)],
    ids=["lstm", "gru", "lstm-packed", "gru-packed", "rnn-packed"],
)
@pytest.mark.parametrize(("bidirectional", "layers"), [(False, 1), (True, 2)])
def test_gates_under_autograd_equal_no_grad_and_gradients_equal_the_plain_forward(
    cell, dtype, bidirectional, layers, packed
):
    m = _model(cell, dtype, bidirectional, layers)
    x = torch.randn(B, 7, 16, dtype=dtype, requires_grad=True)
    lengths = torch.tensor([7, 3, 5, 1] * (B // 4))

    def run():
        if not packed:
            return m(x)[0]
        return m(pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False))[0].data

    w = torch.randn(*run().shape, dtype=dtype)  # a linear loss: one upstream gradient
    out = run()
    plain = torch.autograd.grad((out * w).sum(), [x, *m.parameters()])
    with lstmviz.record(m) as rec:
        out_rec = run()
    own = "step_loop" if packed or cell is nn.GRU else "workspace"
    assert rec.capture_paths[""] == (own,)
    assert (out_rec - out).abs().max() <= recorder.OUTPUT_TOLERANCE[dtype]
    got = torch.autograd.grad((out_rec * w).sum(), [x, *m.parameters()])
    for a, b in zip(plain, got):
        assert torch.equal(a, b)
    with torch.no_grad(), lstmviz.record(m) as quiet:
        run()
    assert rec.keys() == quiet.keys()
    for k in quiet.keys():
        torch.testing.assert_close(rec[k], quiet[k], rtol=0, atol=0, equal_nan=True)  # bit for bit, NaN padding
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
    ["dropout between layers", "one packed row", "small", "grads", "a path asked for"],
)
def test_the_exact_paths_stay_where_a_replay_cannot_be_the_same_call(case):
    m = _model(nn.LSTM, torch.float32, layers=2, dropout=0.5 if case == "dropout between layers" else 0.0)
    x = torch.randn(4 if case == "small" else 1 if case == "one packed row" else B, 6, 16)
    kw = {"grads": case == "grads", "path": "kernel" if case == "a path asked for" else None}
    with lstmviz.record(m, **kw) as rec:
        if case == "one packed row":  # the packed kernel on one row runs as fast as unpacked: kept
            out, _ = m(pack_padded_sequence(x, torch.tensor([4]), batch_first=True))
            out = out.data
        else:
            out, _ = m(x)
        if case == "grads":
            rec.backward(out.sum())
    assert set(rec.capture_paths[""]) <= {"kernel", "zero_channels", "autograd_steps"}
    assert recorder._INSTALLED == {}
