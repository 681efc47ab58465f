"""Exactness: recordings equal an independent float64 unrolled reference to 1e-10.

Covers every configuration the recorder promises: stacked, bidirectional,
batch_first both ways, bias=False, RNN tanh and relu, LSTM proj_size, given
initial states, unbatched input, PackedSequence with unequal lengths, and the
model's own outputs and parameter gradients unchanged by recording.
"""

from __future__ import annotations

import itertools

import pytest
import torch
from reference import cell_type, unrolled
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence, pad_sequence

import lstmviz
from lstmviz.names import GATES, make_key

TOL = dict(atol=1e-10, rtol=0)


def make_module(kind, n_in=3, H=4, L=1, bidir=False, batch_first=True, bias=True, proj=0, dtype=torch.float64, seed=0):
    torch.manual_seed(seed)
    common = dict(num_layers=L, bidirectional=bidir, batch_first=batch_first, bias=bias)
    if kind == "lstm":
        m = nn.LSTM(n_in, H, proj_size=proj, **common)
    elif kind == "gru":
        m = nn.GRU(n_in, H, **common)
    else:
        m = nn.RNN(n_in, H, nonlinearity=kind.split("_")[1], **common)
    # spread weights so gates are not all near 0.5
    with torch.no_grad():
        for p in m.parameters():
            p.mul_(2.0)
    return m.to(dtype)


def _to_batch(out, m, packed, unbatched):
    if packed:
        return pad_packed_sequence(out, batch_first=True)[0]
    if unbatched:
        return out.unsqueeze(0)
    return out if m.batch_first else out.transpose(0, 1)


def run_and_compare(m, lengths, packed=False, unbatched=False, init=False, seed=1, path=None):
    """Record m on random sequences (capture ``path``; None: automatic), compare everything with the unrolled
    reference; return the recording."""
    g = torch.Generator().manual_seed(seed)
    dtype = next(m.parameters()).dtype
    cell = cell_type(m)
    D = 2 if m.bidirectional else 1
    P = m.proj_size if getattr(m, "proj_size", 0) else m.hidden_size
    H, L, B = m.hidden_size, m.num_layers, len(lengths)
    xs = [torch.randn(t, m.input_size, generator=g, dtype=dtype) for t in lengths]
    T = max(lengths)
    if packed:
        padded = pad_sequence(xs, batch_first=m.batch_first)
        inp = pack_padded_sequence(padded, torch.tensor(lengths), batch_first=m.batch_first, enforce_sorted=False)
    elif unbatched:
        inp = xs[0]
    else:
        inp = torch.stack(xs, 0 if m.batch_first else 1)
    h0 = torch.randn(L * D, B, P, generator=g, dtype=dtype) if init else None
    c0 = torch.randn(L * D, B, H, generator=g, dtype=dtype) if init else None
    hx = None
    if init:
        hx0 = (h0[:, 0], c0[:, 0]) if unbatched else (h0, c0)
        hx = hx0 if cell == "lstm" else hx0[0]
    R = torch.randn(B, T, D * P, generator=g, dtype=dtype)
    S = torch.randn(L * D, B, P, generator=g, dtype=dtype)
    U = torch.randn(L * D, B, H, generator=g, dtype=dtype)

    def loss_of(out_b, hn, cn):
        loss = (out_b * R[:, : out_b.shape[1]]).sum() + (hn * S).sum()
        return loss + (cn * U).sum() if cn is not None else loss

    def split(hidden):
        hn, cn = hidden if cell == "lstm" else (hidden, None)
        if unbatched:
            hn, cn = hn.unsqueeze(1), (cn.unsqueeze(1) if cn is not None else None)
        return hn, cn

    # plain run, then the recorded run: outputs and parameter grads must not change
    out0, hid0 = m(inp, hx)
    m.zero_grad()
    loss_of(_to_batch(out0, m, packed, unbatched), *split(hid0)).backward()
    pgrads0 = [p.grad.clone() for p in m.parameters()]
    m.zero_grad()
    with lstmviz.record(m, grads=True, path=path) as rec:
        out1, hid1 = m(inp, hx)
        loss_of(_to_batch(out1, m, packed, unbatched), *split(hid1)).backward()
    o0 = out0.data if packed else out0
    o1 = out1.data if packed else out1
    torch.testing.assert_close(o1, o0, **TOL)
    for a, b in zip(split(hid1), split(hid0)):
        if a is not None:
            torch.testing.assert_close(a, b, **TOL)
    for p, g0 in zip(m.parameters(), pgrads0):
        torch.testing.assert_close(p.grad, g0, **TOL)
    assert type(out1) is type(out0) and out1.data.shape == out0.data.shape

    # the reference, on the same weights
    ref = unrolled(m, xs, h0, c0)
    out_ref = [o for o in ref["out"]]
    loss_ref = sum((o * R[b, : o.shape[0]]).sum() for b, o in enumerate(out_ref)) + (ref["h_n"] * S).sum()
    if ref["c_n"] is not None:
        loss_ref = loss_ref + (ref["c_n"] * U).sum()
    loss_ref.backward()

    def ref_tensor(layer, d, fn, units):
        t = torch.full((B, T, units), float("nan"), dtype=dtype)
        for b in range(B):
            for s, st in enumerate(ref[(layer, d)][b]):
                t[b, s] = fn(st).detach()
        return t

    checked = 0
    for layer, d in itertools.product(range(L), range(D)):
        for q in GATES[cell]:
            key = make_key("", layer, d, q)
            torch.testing.assert_close(
                rec[key], ref_tensor(layer, d, lambda st, q=q: st["gates"][q], H), equal_nan=True, **TOL
            )
            checked += 1
        torch.testing.assert_close(
            rec[make_key("", layer, d, "hidden")], ref_tensor(layer, d, lambda st: st["h"], P), equal_nan=True, **TOL
        )
        grad_h = ref_tensor(
            layer, d, lambda st: st["h"].grad if st["h"].grad is not None else torch.zeros_like(st["h"]), P
        )
        torch.testing.assert_close(rec[make_key("", layer, d, "grad_hidden")], grad_h, equal_nan=True, **TOL)
        checked += 2
        if cell == "lstm":
            torch.testing.assert_close(
                rec[make_key("", layer, d, "cell")], ref_tensor(layer, d, lambda st: st["c"], H), equal_nan=True, **TOL
            )
            grad_c = ref_tensor(layer, d, lambda st: st["c"].grad, H)
            torch.testing.assert_close(rec[make_key("", layer, d, "grad_cell")], grad_c, equal_nan=True, **TOL)
            checked += 2
    assert checked == L * D * (len(GATES[cell]) + 2 + 2 * (cell == "lstm"))
    # lengths and NaN padding
    assert rec.lengths("").tolist() == list(lengths)
    return rec


KINDS = ["lstm", "gru", "rnn_tanh", "rnn_relu"]


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("L,bidir", [(1, False), (2, False), (1, True), (2, True)])
@pytest.mark.parametrize("batch_first", [True, False])
def test_stacked_bidirectional_layouts(kind, L, bidir, batch_first):
    m = make_module(kind, L=L, bidir=bidir, batch_first=batch_first)
    run_and_compare(m, [6, 6, 6])


@pytest.mark.parametrize("kind", KINDS)
def test_no_bias_and_initial_states(kind):
    m = make_module(kind, L=2, bidir=True, bias=False)
    run_and_compare(m, [5, 5], init=True)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("bidir", [False, True])
def test_packed_unequal_lengths(kind, bidir):
    m = make_module(kind, L=2, bidir=bidir, batch_first=True)
    rec = run_and_compare(m, [3, 7, 1, 5], packed=True, init=True)
    # steps past a sequence's length are NaN in tensors and absent from the frame
    t = rec["l0.hidden"]
    assert torch.isnan(t[0, 3:]).all() and not torch.isnan(t[0, :3]).any()
    frame = rec.to_frame(["hidden"])
    assert frame.query("batch == 2 and layer == 0")["step"].max() == 0


@pytest.mark.parametrize("kind", KINDS)
def test_unbatched_input(kind):
    m = make_module(kind, L=2, bidir=True)
    rec = run_and_compare(m, [5], unbatched=True, init=True)
    assert rec["l1.hidden"].shape[0] == 1


@pytest.mark.parametrize("bidir,packed", [(False, False), (True, False), (True, True)])
def test_lstm_proj_size(bidir, packed):
    m = make_module("lstm", H=5, L=2, bidir=bidir, proj=3)
    rec = run_and_compare(m, [4, 6, 2] if packed else [4, 4, 4], packed=packed, init=True)
    assert rec["l0.hidden"].shape[-1] == 3 and rec["l0.cell"].shape[-1] == 5


@pytest.mark.parametrize("kind", KINDS)
def test_float32_within_1e5(kind):
    m = make_module(kind, n_in=5, H=16, L=2, bidir=True, dtype=torch.float32)
    x = torch.randn(4, 20, 5)
    out0, hid0 = m(x)
    with lstmviz.record(m) as rec:
        out1, hid1 = m(x)
    torch.testing.assert_close(out1, out0, atol=1e-5, rtol=0)
    # recorded states equal what the module returns
    top = rec["l1.hidden"]
    torch.testing.assert_close(torch.cat((top, rec["l1.rev.hidden"]), -1), out0, atol=1e-5, rtol=0)
    if kind == "lstm":
        c_n = hid0[1]
        torch.testing.assert_close(rec["l1.cell"][:, -1], c_n[2], atol=1e-5, rtol=0)
        torch.testing.assert_close(rec["l1.rev.cell"][:, 0], c_n[3], atol=1e-5, rtol=0)
        torch.testing.assert_close(rec["l0.hidden"][:, -1], hid0[0][0], atol=1e-5, rtol=0)
    assert all(v.dtype == torch.float32 and not v.requires_grad for _, v in rec.items())


@pytest.mark.parametrize("kind", KINDS)
def test_dropout_in_train_mode_records_what_was_returned(kind):
    m = make_module(kind, n_in=4, H=6, L=3, bidir=True)
    m.dropout = 0.5
    m.train()
    x = torch.randn(2, 7, 4, dtype=torch.float64)
    torch.manual_seed(3)
    with lstmviz.record(m) as rec:
        out, hid = m(x)
    hn = hid[0] if kind == "lstm" else hid
    torch.testing.assert_close(torch.cat((rec["l2.hidden"], rec["l2.rev.hidden"]), -1), out, **TOL)
    for layer in range(3):
        torch.testing.assert_close(rec[f"l{layer}.hidden"][:, -1], hn[2 * layer], **TOL)
        torch.testing.assert_close(rec[f"l{layer}.rev.hidden"][:, 0], hn[2 * layer + 1], **TOL)
    # a second call without recording draws other dropout masks: recording did not freeze them
    assert m.training


@pytest.mark.parametrize(
    "path,scan_max", [("kernel", 0), ("kernel", 10**9), ("zero_channels", 0), ("autograd_steps", 0)]
)
@pytest.mark.parametrize("packed", [False, True])
def test_lstm_every_gradient_method_and_scan_path(monkeypatch, path, scan_max, packed):
    """The recorder picks methods by size; every path it can pick must match the reference."""
    from lstmviz import unroll

    monkeypatch.setattr(unroll, "SCAN_MAX_STEP_ELEMENTS", scan_max)
    m = make_module("lstm", H=5, L=2, bidir=True, proj=0 if packed else 3)
    rec = run_and_compare(m, [4, 7, 2] if packed else [6, 6, 6], packed=packed, init=True, path=path)
    assert rec.capture_paths == {"": (path,)}


def test_a_path_that_cannot_capture_the_call_is_refused_naming_those_that_can():
    m = make_module("lstm", H=5, L=1)
    with pytest.raises(ValueError, match="'workspace' cannot capture .*'kernel', 'zero_channels', 'autograd_steps'"):
        run_and_compare(m, [4, 7, 2], packed=True, init=True, path="workspace")


@pytest.mark.parametrize("kind", ["gru", "rnn_tanh", "rnn_relu"])
@pytest.mark.parametrize("path", ["kernel", "autograd_steps"])
def test_packed_gradients_of_every_cell_on_both_paths(kind, path):
    """Packed input with grads: the fused kernel + reverse recurrence, and the step loop under autograd (the
    automatic choice for more than one row), both equal the reference."""
    rec = run_and_compare(make_module(kind, H=5, L=2, bidir=True), [4, 7, 2], packed=True, init=True, path=path)
    assert rec.capture_paths == {"": (path,)}


def test_linear_scan_matches_loop():
    from lstmviz.unroll import linear_scan

    g = torch.Generator().manual_seed(0)
    a = torch.rand(37, 3, 4, generator=g, dtype=torch.float64)
    b = torch.randn(37, 3, 4, generator=g, dtype=torch.float64)
    x0 = torch.randn(3, 4, generator=g, dtype=torch.float64)
    ref, prev = [], x0
    for t in range(37):
        prev = a[t] * prev + b[t]
        ref.append(prev)
    torch.testing.assert_close(linear_scan(a, b, x0), torch.stack(ref), **TOL)
    ref, prev = [None] * 37, torch.zeros(3, 4, dtype=torch.float64)
    for t in range(36, -1, -1):
        prev = a[t] * prev + b[t]
        ref[t] = prev
    torch.testing.assert_close(linear_scan(a, b, None, reverse=True), torch.stack(ref), **TOL)


@pytest.mark.parametrize("kind,proj", [("lstm", 0), ("lstm", 2), ("gru", 0)])
def test_gates_only_step_loop_path(kind, proj):
    """Without autograd, big LSTM/GRU layers run their own step loop; it must agree exactly."""
    m = make_module(kind, H=5, L=2, bidir=True, proj=proj)
    x = torch.randn(3, 6, 3, dtype=torch.float64)
    h0 = torch.randn(4, 3, proj or 5, dtype=torch.float64)
    hx = (h0, torch.randn(4, 3, 5, dtype=torch.float64)) if kind == "lstm" else h0
    with torch.no_grad():
        out0, hid0 = m(x, hx)
        with lstmviz.record(m) as fused:  # automatic choice: small sizes take the fused kernel
            m(x, hx)
        with lstmviz.record(m, path="step_loop") as own:
            out1, hid1 = m(x, hx)
    assert fused.capture_paths == {"": ("kernel",)} and own.capture_paths == {"": ("step_loop",)}
    torch.testing.assert_close(out1, out0, **TOL)
    for a, b in zip(hid1 if kind == "lstm" else (hid1,), hid0 if kind == "lstm" else (hid0,)):
        torch.testing.assert_close(a, b, **TOL)
    assert own.keys() == fused.keys()
    for k in fused.keys():
        torch.testing.assert_close(own[k], fused[k], **TOL)


@pytest.mark.parametrize("kind", ["lstm", "gru"])
def test_big_float32_paths_within_1e5(kind):
    """Sizes past every threshold (own step loop, unrolled autograd) in float32 stay within 1e-5."""
    torch.manual_seed(0)
    m = (nn.LSTM if kind == "lstm" else nn.GRU)(64, 96, num_layers=2, batch_first=True)
    x = torch.randn(48, 12, 64)  # B * H = 4608: past OWN_LOOP_MIN and ZERO_CHANNEL_MAX
    with torch.no_grad():
        out0, _ = m(x)
        with lstmviz.record(m) as rec:
            out1, _ = m(x)
    torch.testing.assert_close(out1, out0, atol=1e-5, rtol=0)
    torch.testing.assert_close(rec["l1.hidden"], out0, atol=1e-5, rtol=0)
    with lstmviz.record(m, grads=True) as big:
        out2, _ = m(x)
        big.backward(out2.pow(2).sum())
    torch.testing.assert_close(out2, out0, atol=1e-5, rtol=0)
    assert rec.capture_paths == {"": ("workspace" if kind == "lstm" else "step_loop",)}
    assert big.capture_paths == {"": ("autograd_steps" if kind == "lstm" else "kernel",)}
    with lstmviz.record(m, grads=True, path="zero_channels" if kind == "lstm" else "kernel") as small:
        small.backward(m(x)[0].pow(2).sum())
    for k in small.keys():
        torch.testing.assert_close(big[k], small[k], atol=1e-5, rtol=1e-4)
