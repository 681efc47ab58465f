"""LSTM gates read from the fused CPU kernel's workspace (issue 13, point 5): layout, exactness against the float64
reference, agreement with the recorder's own loop, and the fallbacks when a check fails."""

from __future__ import annotations

import copy

import pytest
import torch
from reference import unrolled
from torch import nn

import lstmviz
from lstmviz import fusedgates, recorder
from lstmviz.fusedgates import gates_ld, run_lstm_layer_fused
from lstmviz.unroll import LayerWeights

pytestmark = pytest.mark.skipif(not torch.backends.mkldnn.is_available(), reason="this torch build has no oneDNN")


def test_leading_dimension_follows_onednn():
    assert [gates_ld(h) for h in (4, 16, 33, 64, 128, 256)] == [16, 64, 144, 272, 528, 1040]


@pytest.mark.parametrize("T,B,n_in,H", [(7, 3, 5, 4), (30, 32, 64, 64), (20, 5, 7, 33), (12, 16, 32, 128)])
def test_workspace_gates_equal_the_float64_reference(T, B, n_in, H):
    torch.manual_seed(0)
    m = nn.LSTM(n_in, H)
    w = LayerWeights(m.weight_ih_l0, m.weight_hh_l0, m.bias_ih_l0, m.bias_hh_l0, None, "tanh")
    x, h0, c0 = torch.randn(T, B, n_in), torch.randn(B, H) * 0.1, torch.randn(B, H) * 0.1
    tr, h_n, c_n = run_lstm_layer_fused(x, h0, c0, w)
    ref = unrolled(
        copy.deepcopy(m).double(), [x[:, b].double() for b in range(B)], h0[None].double(), c0[None].double()
    )
    for q in ("input", "forget", "cell_candidate", "output"):
        want = torch.stack([torch.stack([s["gates"][q] for s in ref[(0, 0)][b]]) for b in range(B)], 1)  # (T, B, H)
        # float32 kernel vs float64: the worst gate is 3.9e-7 to 4.4e-7 off, depending on the oneDNN ISA and
        # ATen kernels (AVX-512, AVX2, SSE4.1, scalar); 2e-6 leaves another CPU room, a gate-layout bug is ~1e-1 off
        torch.testing.assert_close(tr.quantities[q].double(), want.detach(), atol=2e-6, rtol=0)
    want_c = torch.stack([torch.stack([s["c"] for s in ref[(0, 0)][b]]) for b in range(B)], 1).detach()
    torch.testing.assert_close(tr.quantities["cell"].double(), want_c, atol=1e-5, rtol=0)
    with torch.enable_grad():  # the training-mode kernel, as the recorder calls it
        kernel = torch.mkldnn_rnn_layer(
            x,
            *(t.detach() for t in (w.w_ih, w.w_hh, w.b_ih, w.b_hh)),
            h0,
            c0,
            False,
            [],
            2,
            H,
            1,
            True,
            False,
            False,
            True,
        )
    assert torch.equal(tr.quantities["hidden"], kernel[0]) and torch.equal(h_n, kernel[1])  # its own output, untouched
    with torch.no_grad():
        out, _ = m(x, (h0[None], c0[None]))
    torch.testing.assert_close(tr.quantities["hidden"], out, atol=1e-6, rtol=0)  # nn.LSTM itself, to rounding


def test_recorder_uses_the_workspace_for_big_lstms_and_agrees_with_its_own_loop(monkeypatch):
    torch.manual_seed(0)
    m = nn.LSTM(64, 96, num_layers=2, batch_first=True, bidirectional=True)
    x = torch.randn(48, 12, 64)  # B * H = 4608: the gates-only big-batch path
    calls = []
    real = recorder.run_lstm_layer_fused
    monkeypatch.setattr(recorder, "run_lstm_layer_fused", lambda *a: calls.append(1) or real(*a))
    with torch.no_grad(), lstmviz.record(m) as fused:
        out_fused, _ = m(x)
    assert len(calls) == 4  # 2 layers x 2 directions
    with torch.no_grad(), lstmviz.record(m, path="step_loop") as own:
        m(x)
    assert len(calls) == 4  # the step loop never asked for the workspace
    assert fused.capture_paths == {"": ("workspace",)} and own.capture_paths == {"": ("step_loop",)}
    with torch.no_grad():
        out0, _ = m(x)
    torch.testing.assert_close(out_fused, out0, atol=1e-5, rtol=0)
    assert set(fused.keys()) == set(own.keys()) and len(fused.keys()) == 24
    for k in fused.keys():
        torch.testing.assert_close(fused[k], own[k], atol=1e-5, rtol=0)


def test_a_failed_check_falls_back_to_the_own_loop(monkeypatch):
    torch.manual_seed(0)
    m = nn.LSTM(16, 64, batch_first=True)
    x = torch.randn(80, 9, 16)  # B * H = 5120
    with torch.no_grad(), lstmviz.record(m) as good:
        m(x)
    monkeypatch.setattr(fusedgates, "gates_ld", lambda h: 4 * h)  # a wrong layout: the per-call check fails
    w = LayerWeights(m.weight_ih_l0, m.weight_hh_l0, m.bias_ih_l0, m.bias_hh_l0, None, "tanh")
    assert run_lstm_layer_fused(x.transpose(0, 1), torch.zeros(80, 64), torch.zeros(80, 64), w) is None
    assert run_lstm_layer_fused(x.transpose(0, 1), torch.zeros(9, 64), torch.zeros(9, 64), w) is None  # wrong shapes
    with torch.no_grad(), lstmviz.record(m) as fallback:
        m(x)
    monkeypatch.setitem(fusedgates._STATE, "ok", False)  # the first-use check failed on this machine
    with torch.no_grad(), lstmviz.record(m) as disabled:
        m(x)
    for k in good.keys():
        torch.testing.assert_close(fallback[k], good[k], atol=1e-5, rtol=0)
        torch.testing.assert_close(disabled[k], good[k], atol=1e-5, rtol=0)


def test_large_cell_states_keep_the_workspace_path_and_stay_exact():
    # A trained LSTM carries |c| ~ 100+ (the shipped char-LSTM's layer 1); i, f, g ~ 1 make c grow ~1 per step.
    # An absolute bound on c_T rejected these correct gates; the relative bound keeps them, checked here in float64.
    g = torch.Generator().manual_seed(0)
    T, B, n_in, H = 300, 32, 16, 128
    w = LayerWeights(
        torch.randn(4 * H, n_in, generator=g) * 0.05,
        torch.randn(4 * H, H, generator=g) * 0.05,
        torch.cat([torch.full((H,), 4.0), torch.full((H,), 8.0), torch.full((H,), 3.0), torch.zeros(H)]),
        torch.zeros(4 * H),
        None,
        "tanh",
    )
    x, h0, c0 = torch.randn(T, B, n_in, generator=g), torch.zeros(B, H), torch.zeros(B, H)
    got = run_lstm_layer_fused(x, h0, c0, w)
    assert got is not None, "the workspace path fell back on large cell states"
    m = nn.LSTM(n_in, H).double()
    with torch.no_grad():
        for name, t in zip(
            ("weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0"), (w.w_ih, w.w_hh, w.b_ih, w.b_hh)
        ):
            getattr(m, name).copy_(t.double())
    ref = unrolled(m, [x[:, b].double() for b in range(B)], h0[None].double(), c0[None].double())
    want_c = torch.stack([torch.stack([s["c"] for s in ref[(0, 0)][b]]) for b in range(B)], 1).detach()  # (T, B, H)
    c = got[0].quantities["cell"].double()
    assert want_c.abs().max() > 100  # the regime the absolute bound failed in
    torch.testing.assert_close(c, want_c, rtol=1e-5, atol=1e-5)
    # The relative bound is still far tighter than what a wrong gate layout does to c_T (an O(|c|) error; the
    # wrong-layout fallback itself: test_a_failed_check_falls_back_to_the_own_loop).
    assert fusedgates.STATE_RTOL * float(want_c.abs().max()) < 0.1
