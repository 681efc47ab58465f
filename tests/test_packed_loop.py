"""Packed input without autograd: the recorder's own step loop over the rows still running ("step_loop").

Every cell, stacked and bidirectional, LSTM projections, given initial states, sorted and unsorted packing, and
the tensors it returns are checked against the independent float64 unrolled reference (tests/reference.py) to
1e-10, and against the plain forward (outputs, final states) in the same way.
"""

from __future__ import annotations

import itertools

import pytest
import torch
from reference import unrolled
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_sequence

import lstmviz
from lstmviz.names import GATES, make_key
from lstmviz.unroll import LayerWeights, run_layer_packed

TOL = dict(atol=1e-10, rtol=0)


def _module(kind: str, L: int, bidir: bool, proj: int = 0) -> nn.RNNBase:
    torch.manual_seed(0)
    common = dict(num_layers=L, bidirectional=bidir, batch_first=True)
    if kind == "lstm":
        m = nn.LSTM(3, 5, proj_size=proj, **common)
    elif kind == "gru":
        m = nn.GRU(3, 5, **common)
    else:
        m = nn.RNN(3, 5, nonlinearity=kind.split("_")[1], **common)
    with torch.no_grad():
        for p in m.parameters():
            p.mul_(2.0)  # gates spread away from 0.5
    return m.double()


def _record_packed(m: nn.RNNBase, lengths: list[int], sort: bool, init: bool):
    g = torch.Generator().manual_seed(3)
    cell = "lstm" if isinstance(m, nn.LSTM) else "gru" if isinstance(m, nn.GRU) else "rnn"
    D = 2 if m.bidirectional else 1
    P = m.proj_size or m.hidden_size
    B, LD = len(lengths), m.num_layers * D
    xs = [torch.randn(t, m.input_size, generator=g, dtype=torch.float64) for t in lengths]
    inp = pack_padded_sequence(
        pad_sequence(xs, batch_first=True), torch.tensor(lengths), batch_first=True, enforce_sorted=sort
    )
    h0 = torch.randn(LD, B, P, generator=g, dtype=torch.float64) if init else None
    c0 = torch.randn(LD, B, m.hidden_size, generator=g, dtype=torch.float64) if init else None
    hx = None if not init else ((h0, c0) if cell == "lstm" else h0)
    with torch.no_grad():
        out0, hid0 = m(inp, hx)
        with lstmviz.record(m) as rec:
            out1, hid1 = m(inp, hx)
    return cell, xs, h0, c0, (out0, hid0), (out1, hid1), rec


@pytest.mark.parametrize("kind", ["lstm", "gru", "rnn_tanh", "rnn_relu"])
@pytest.mark.parametrize("L,bidir", [(1, False), (2, True)])
@pytest.mark.parametrize("sort", [False, True])
def test_packed_loop_equals_the_float64_reference(kind, L, bidir, sort):
    lengths = [7, 5, 3, 1] if sort else [3, 7, 1, 5]
    cell, xs, h0, c0, plain, recorded, rec = _record_packed(_module(kind, L, bidir), lengths, sort, init=True)
    assert rec.capture_paths == {"": ("step_loop",)}  # packed, no autograd: the automatic choice
    (out0, hid0), (out1, hid1) = plain, recorded
    assert type(out1) is type(out0)
    torch.testing.assert_close(out1.data, out0.data, **TOL)
    assert torch.equal(out1.batch_sizes, out0.batch_sizes)
    for a, b in zip(hid1 if cell == "lstm" else (hid1,), hid0 if cell == "lstm" else (hid0,)):
        torch.testing.assert_close(a, b, **TOL)  # final states in the caller's row order
    m = _module(kind, L, bidir)
    ref = unrolled(m, xs, h0, c0)
    B, T = len(lengths), max(lengths)
    D = 2 if bidir else 1

    def want(layer, d, fn, units):
        t = torch.full((B, T, units), float("nan"), dtype=torch.float64)
        for b in range(B):
            for s, st in enumerate(ref[(layer, d)][b]):
                t[b, s] = fn(st).detach()
        return t

    names = list(GATES[cell]) + ["hidden"] + (["cell"] if cell == "lstm" else [])
    assert sorted(rec.keys()) == sorted(
        make_key("", layer, d, q) for layer in range(L) for d in range(D) for q in names
    )
    for layer, d in itertools.product(range(L), range(D)):
        for q in GATES[cell]:
            got = rec[make_key("", layer, d, q)]
            torch.testing.assert_close(got, want(layer, d, lambda st, q=q: st["gates"][q], 5), equal_nan=True, **TOL)
        torch.testing.assert_close(
            rec[make_key("", layer, d, "hidden")], want(layer, d, lambda st: st["h"], 5), equal_nan=True, **TOL
        )
        if cell == "lstm":
            torch.testing.assert_close(
                rec[make_key("", layer, d, "cell")], want(layer, d, lambda st: st["c"], 5), equal_nan=True, **TOL
            )
    assert rec.lengths("").tolist() == lengths


def test_packed_loop_with_projection_and_zero_state():
    lengths = [2, 6, 4]
    cell, xs, h0, c0, plain, recorded, rec = _record_packed(_module("lstm", 2, True, proj=2), lengths, False, False)
    torch.testing.assert_close(recorded[0].data, plain[0].data, **TOL)
    ref = unrolled(_module("lstm", 2, True, proj=2), xs)
    for b, n in enumerate(lengths):
        got = rec["l1.rev.hidden"][b, :n]
        torch.testing.assert_close(got, torch.stack([st["h"] for st in ref[(1, 1)][b]]).detach(), **TOL)
        assert rec["l1.rev.input"][b, n:].isnan().all()  # NaN past the length, as every path pads


def test_packed_loop_matches_the_fused_path_in_float32():
    """The same call through "kernel" (fused, then recomputed) and "step_loop" agrees to float32 rounding."""
    torch.manual_seed(1)
    m = nn.LSTM(8, 16, num_layers=2, bidirectional=True, batch_first=True)
    lengths = torch.tensor([9, 4, 12, 1, 7])
    inp = pack_padded_sequence(torch.randn(5, 12, 8), lengths, batch_first=True, enforce_sorted=False)
    with torch.no_grad():
        with lstmviz.record(m, path="kernel") as fused:
            m(inp)
        with lstmviz.record(m, path="step_loop") as own:
            m(inp)
    assert fused.keys() == own.keys()
    for k in fused.keys():
        torch.testing.assert_close(own[k], fused[k], atol=1e-6, rtol=0, equal_nan=True)


def test_packed_loop_keeps_only_the_quantities_asked_for():
    m = _module("gru", 1, True)
    inp = pack_padded_sequence(
        torch.randn(3, 4, 3, dtype=torch.float64), torch.tensor([4, 2, 3]), batch_first=True, enforce_sorted=False
    )
    with torch.no_grad(), lstmviz.record(m, quantities=("update",)) as rec:
        m(inp)
    assert sorted(rec.keys()) == ["l0.rev.update", "l0.update"]
    assert rec["l0.update"].shape == (3, 4, 5)


def test_run_layer_packed_refuses_an_unknown_cell():
    w = LayerWeights(torch.zeros(4, 2), torch.zeros(4, 4))
    with pytest.raises(ValueError, match="'lstm', 'gru' and 'rnn', got 'elman'"):
        run_layer_packed("elman", torch.zeros(3, 2), [2, 1], torch.zeros(2, 4), None, w)


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32, torch.float16, torch.bfloat16], ids=str)
@pytest.mark.parametrize("cell", ["LSTM", "GRU", "RNN"])
def test_packed_output_within_the_documented_tolerance(cell, dtype):
    """Not bit for bit (README, "Not bit for bit"): within lstmviz.recorder.OUTPUT_TOLERANCE of the plain forward."""
    from lstmviz.recorder import OUTPUT_TOLERANCE

    torch.manual_seed(0)
    m = getattr(nn, cell)(16, 64, num_layers=2, batch_first=True, bidirectional=True).to(dtype)
    lengths = torch.randint(5, 21, (12,), generator=torch.Generator().manual_seed(2))
    inp = pack_padded_sequence(torch.randn(12, 20, 16, dtype=dtype), lengths, batch_first=True, enforce_sorted=False)
    with torch.no_grad():
        plain = m(inp)[0].data
        with lstmviz.record(m) as rec:
            out = m(inp)[0].data
    assert rec.capture_paths == {"": ("step_loop",)}
    assert (out.double() - plain.double()).abs().max().item() <= OUTPUT_TOLERANCE[dtype]
