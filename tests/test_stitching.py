"""Sequences from repeated calls (issue 23): a module called once per step, or chunk by chunk, is one sequence.

A call continues its module's sequence when its initial state is the final state of the previous call (the
same tensor or equal values); None or zeros start a new one silently; any other state starts one with a
``RuntimeWarning``; ``rec.new_sequence()`` marks starts explicitly; ``record(..., stitch=False)`` gives the
shape of earlier versions. Values are checked against the independent float64 reference (tests/reference.py),
gradients against autograd's ``retain_grad`` on the reference's per-step states.
"""

from __future__ import annotations

import warnings

import pytest
import torch
import torch.nn.functional as F
from reference import step, unrolled
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence

import lstmviz
from lstmviz import recorder
from lstmviz.names import GATES

TOL = dict(atol=1e-10, rtol=0)
H = 4


def _gru_weights(m: nn.GRU | nn.GRUCell, sfx: str = "_l0"):
    return tuple(getattr(m, n + sfx) for n in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"))


def _no_leftovers():
    assert recorder._INSTALLED == {} and recorder._ACTIVE.get() == ()


# ----- a decoder calling nn.GRU once per step ---------------------------------------------------------------------
def test_a_decoder_calling_gru_once_per_step_records_one_sequence():
    torch.manual_seed(0)
    gru = nn.GRU(3, H, batch_first=True).double()
    B, steps = 5, 9
    x = torch.randn(B, steps, 3, dtype=torch.float64)
    h0 = torch.randn(1, B, H, dtype=torch.float64)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # an unbroken chain of states warns about nothing
        with lstmviz.record(gru) as rec:
            h = h0
            for t in range(steps):
                _, h = gru(x[:, t : t + 1], h)
    assert rec["l0.hidden"].shape == (B, steps, H)
    assert rec.lengths("").tolist() == [steps] * B
    ref = unrolled(gru, list(x), h0)
    for q in GATES["gru"]:
        want = torch.stack([torch.stack([s["gates"][q] for s in ref[(0, 0)][b]]) for b in range(B)]).detach()
        torch.testing.assert_close(rec[f"l0.{q}"], want, **TOL)
    want_h = torch.stack([torch.stack([s["h"] for s in ref[(0, 0)][b]]) for b in range(B)]).detach()
    torch.testing.assert_close(rec["l0.hidden"], want_h, **TOL)
    _no_leftovers()


class Seq2Seq(nn.Module):
    """The tutorial's shape: a GRU encoder on packed ragged input, a decoder that calls nn.GRU once per step."""

    def __init__(self, vocab: int = 7, emb: int = 3) -> None:
        super().__init__()
        self.src_emb = nn.Embedding(vocab, emb)
        self.encoder = nn.GRU(emb, H, batch_first=True)
        self.tgt_emb = nn.Embedding(vocab, emb)
        self.decoder = nn.GRU(emb, H, batch_first=True)
        self.head = nn.Linear(H, vocab)

    def forward(self, src, lengths, steps, targets=None):
        packed = pack_padded_sequence(self.src_emb(src), lengths, batch_first=True, enforce_sorted=False)
        _, h = self.encoder(packed)  # (1, B, H), original batch order
        tok = torch.zeros(src.shape[0], dtype=torch.long)  # start symbol
        logits, fed = [], []
        for t in range(steps):
            fed.append(tok)
            y, h = self.decoder(self.tgt_emb(tok).unsqueeze(1), h)  # (B, 1, H): one step
            lo = self.head(y[:, 0])  # (B, V)
            logits.append(lo)
            tok = targets[:, t] if targets is not None else lo.argmax(-1)  # teacher forcing or greedy
        return torch.stack(logits, 1), torch.stack(fed, 1)  # (B, steps, V), (B, steps)


@pytest.mark.parametrize("mode", ["teacher", "greedy"])
@pytest.mark.parametrize("backward", ["loss.backward", "rec.backward"])
def test_seq2seq_encoder_packed_and_stepwise_decoder_match_reference(mode, backward):
    torch.manual_seed(3)
    model = Seq2Seq().double()
    with torch.no_grad():
        for p in model.parameters():
            p.mul_(2.0)  # gates away from 0.5
    B, steps = 4, 6
    lengths = torch.tensor([5, 2, 7, 4])  # unsorted, ragged
    src = torch.randint(1, 7, (B, 7))
    targets = torch.randint(1, 7, (B, steps))
    with lstmviz.record(model, grads=True) as rec:
        logits, fed = model(src, lengths, steps, targets if mode == "teacher" else None)
        loss = F.cross_entropy(logits.reshape(-1, 7), targets.reshape(-1))
        if backward == "rec.backward":
            rec.backward(loss)
        else:
            loss.backward()
    assert rec["decoder.l0.hidden"].shape == (B, steps, H)
    assert rec["decoder.l0.grad_hidden"].shape == (B, steps, H)
    assert rec["encoder.l0.update"].shape == (B, 7, H)
    assert rec.lengths("decoder").tolist() == [steps] * B
    assert rec.lengths("encoder").tolist() == lengths.tolist()
    assert rec.capture_paths["decoder"] == ("kernel",) * steps

    # the reference: encoder one sequence at a time, decoder step by step from its final state (same tokens fed)
    xs = [model.src_emb(src[b, : lengths[b]]).detach() for b in range(B)]
    enc = unrolled(model.encoder, xs)
    h = enc["h_n"][0]  # (B, H), in the graph of the encoder's steps
    dec_h, dec_gates, ref_logits = [], [], []
    for t in range(steps):
        gates, h, _ = step("gru", model.tgt_emb(fed[:, t]).detach(), h, None, *_gru_weights(model.decoder))
        h.retain_grad()
        dec_h.append(h)
        dec_gates.append(gates)
        ref_logits.append(model.head(h))
    ref_logits = torch.stack(ref_logits, 1)
    if mode == "greedy":  # the reference would have chosen the same tokens
        assert torch.equal(ref_logits[:, :-1].argmax(-1), fed[:, 1:])
    F.cross_entropy(ref_logits.reshape(-1, 7), targets.reshape(-1)).backward()

    torch.testing.assert_close(rec["decoder.l0.hidden"], torch.stack(dec_h, 1).detach(), **TOL)
    for q in GATES["gru"]:
        torch.testing.assert_close(rec[f"decoder.l0.{q}"], torch.stack([g[q] for g in dec_gates], 1).detach(), **TOL)
    torch.testing.assert_close(rec["decoder.l0.grad_hidden"], torch.stack([h.grad for h in dec_h], 1), **TOL)
    for b in range(B):
        n = int(lengths[b])
        got_h, got_g = rec["encoder.l0.hidden"][b], rec["encoder.l0.grad_hidden"][b]
        torch.testing.assert_close(got_h[:n], torch.stack([s["h"] for s in enc[(0, 0)][b]]).detach(), **TOL)
        torch.testing.assert_close(got_g[:n], torch.stack([s["h"].grad for s in enc[(0, 0)][b]]), **TOL)
        assert torch.isnan(got_h[n:]).all() and torch.isnan(got_g[n:]).all()
    _no_leftovers()


@pytest.mark.parametrize("path", ["kernel", "zero_channels", "autograd_steps"])
def test_stepwise_lstm_gradients_are_total_derivatives_across_calls(path):
    """One call per step: dL/dh_t and dL/dc_t reach each step through every later call (h_n and c_n hooks)."""
    torch.manual_seed(8)
    m = nn.LSTM(3, H, num_layers=2, batch_first=True).double()
    B, T = 3, 6
    x = torch.randn(B, T, 3, dtype=torch.float64)
    W = torch.randn(B, T, H, dtype=torch.float64)
    with lstmviz.record(m, grads=True, path=path) as rec:
        hidden, outs = None, []
        for t in range(T):
            y, hidden = m(x[:, t : t + 1], hidden)
            outs.append(y)
        ((torch.cat(outs, 1) * W).sum() + hidden[1].pow(2).sum()).backward()
    assert rec.capture_paths[""] == (path,) * T and rec["l1.grad_cell"].shape == (B, T, H)
    ref = unrolled(m, list(x))  # the steps chained = one sequence of T steps
    loss = sum((o * W[b]).sum() for b, o in enumerate(ref["out"])) + ref["c_n"].pow(2).sum()
    loss.backward()
    for layer in range(2):
        for q, key in (("h", "grad_hidden"), ("c", "grad_cell"), ("c", "cell")):
            fn = (lambda s, q=q: s[q].grad) if key.startswith("grad") else (lambda s, q=q: s[q].detach())
            want = torch.stack([torch.stack([fn(s) for s in ref[(layer, 0)][b]]) for b in range(B)])
            torch.testing.assert_close(rec[f"l{layer}.{key}"], want, **TOL)


# ----- truncated BPTT ------------------------------------------------------------------------------------------------
def _tbptt(m, x, chunk, W, **kw):
    """Chunks of ``chunk`` steps with ``hidden = hidden.detach()`` between them, a backward per chunk."""
    with lstmviz.record(m, grads=True, **kw) as rec:
        hidden = None
        for s in range(0, x.shape[1], chunk):
            out, hidden = m(x[:, s : s + chunk], hidden)
            (out * W[:, s : s + chunk]).sum().backward()
            hidden = tuple(t.detach() for t in hidden)
    return rec


def test_truncated_bptt_chunks_are_one_sequence_with_per_chunk_gradients():
    torch.manual_seed(1)
    m = nn.LSTM(3, H, num_layers=2, batch_first=True).double()
    B, T, chunk = 2, 12, 4
    x = torch.randn(B, T, 3, dtype=torch.float64)
    W = torch.randn(B, T, H, dtype=torch.float64)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # h.detach() has the previous final state's values: no warning
        rec = _tbptt(m, x, chunk, W)
    assert rec["l1.forget"].shape == (B, T, H) and rec["l0.grad_cell"].shape == (B, T, H)
    assert rec.lengths("").tolist() == [T] * B

    # forward values: the whole sequence in one piece (detaching changes no value)
    full = unrolled(m, list(x))
    for layer in range(2):
        for name, fn in (
            ("hidden", lambda s: s["h"]),
            ("cell", lambda s: s["c"]),
            ("input", lambda s: s["gates"]["input"]),
        ):
            want = torch.stack([torch.stack([fn(s) for s in full[(layer, 0)][b]]) for b in range(B)]).detach()
            torch.testing.assert_close(rec[f"l{layer}.{name}"], want, **TOL)

    # gradients: each chunk's own backward, from the detached state it started with
    h0 = c0 = None
    for s in range(0, T, chunk):
        ref = unrolled(m, list(x[:, s : s + chunk]), h0, c0)
        sum((o * W[b, s : s + chunk]).sum() for b, o in enumerate(ref["out"])).backward()
        for layer in range(2):
            for q, key in (("h", "grad_hidden"), ("c", "grad_cell")):
                want = torch.stack([torch.stack([st[q].grad for st in ref[(layer, 0)][b]]) for b in range(B)])
                torch.testing.assert_close(rec[f"l{layer}.{key}"][:, s : s + chunk], want, **TOL)
        h0, c0 = ref["h_n"].detach(), ref["c_n"].detach()


def test_stitch_false_gives_the_old_one_row_per_call_shape():
    torch.manual_seed(1)
    m = nn.LSTM(3, H, num_layers=2, batch_first=True).double()
    x = torch.randn(2, 12, 3, dtype=torch.float64)
    W = torch.randn(2, 12, H, dtype=torch.float64)
    old = _tbptt(m, x, 4, W, stitch=False)
    new = _tbptt(m, x, 4, W)
    assert old["l0.hidden"].shape == (6, 4, H) and old.lengths("").tolist() == [4] * 6
    for k in ("l1.hidden", "l1.grad_cell", "l0.forget"):  # the same numbers, rows per call instead of time
        torch.testing.assert_close(torch.cat(old[k].split(2), 1), new[k], atol=0, rtol=0)
    cell = nn.GRUCell(2, 3).double()  # cells: only the identical tensor continues, equal values do not
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with lstmviz.record(cell, stitch=False) as rec:
            h = None
            for _ in range(4):
                h = cell(torch.randn(1, 2, dtype=torch.float64), h.detach() if h is not None else None)
    assert rec["l0.hidden"].shape == (4, 1, 3)


# ----- when stitching breaks ------------------------------------------------------------------------------------------
def test_a_changed_state_starts_a_new_sequence_and_warns_once_per_module():
    torch.manual_seed(2)
    gru = nn.GRU(3, H, batch_first=True).double()
    x = torch.randn(2, 3, 3, dtype=torch.float64)
    with pytest.warns(RuntimeWarning) as caught:
        with lstmviz.record(gru) as rec:
            _, h = gru(x)
            _, h = gru(x, h * 0.5)  # changed between calls
            _, h = gru(x, h + 1.0)  # again: no second warning for this module
    msgs = [str(w.message) for w in caught if "stitching" in str(w.message)]
    assert len(msgs) == 1
    assert "module ''" in msgs[0] and "rec.new_sequence()" in msgs[0] and "stitch=False" in msgs[0]
    assert rec["l0.hidden"].shape == (6, 3, H) and rec.lengths("").tolist() == [3] * 6

    with warnings.catch_warnings():
        warnings.simplefilter("error")  # None and zeros start new sequences silently
        with lstmviz.record(gru) as rec:
            _, h = gru(x)
            _, h = gru(x, h)  # continues
            _, h = gru(x, torch.zeros_like(h))  # a new sequence
            _, h = gru(x, None)
    assert rec["l0.hidden"].shape == (6, 6, H)
    assert rec.lengths("").tolist() == [6, 6, 3, 3, 3, 3]
    assert torch.isnan(rec["l0.hidden"][2:, 3:]).all()


def test_packed_input_joins_only_when_no_sequence_is_short():
    torch.manual_seed(4)
    gru = nn.GRU(3, H, batch_first=True).double()
    x = torch.randn(2, 4, 3, dtype=torch.float64)
    full = pack_padded_sequence(x, torch.tensor([4, 4]), batch_first=True, enforce_sorted=False)
    ragged = pack_padded_sequence(x, torch.tensor([2, 4]), batch_first=True, enforce_sorted=False)
    with lstmviz.record(gru) as rec:
        _, h = gru(full)
        _, h = gru(full, h)
    assert rec.lengths("").tolist() == [8, 8]
    with pytest.warns(RuntimeWarning, match="unequal lengths"), lstmviz.record(gru) as rec:
        _, h = gru(ragged)
        _, h = gru(full, h)
    assert rec.lengths("").tolist() == [2, 4, 4, 4]


def test_explicit_new_sequence_continues_regardless_of_state():
    torch.manual_seed(5)
    gru = nn.GRU(3, H, batch_first=True).double()
    x = torch.randn(2, 2, 3, dtype=torch.float64)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with lstmviz.record(gru) as rec:
            for _ in range(3):
                rec.new_sequence(gru)  # the module itself, or its path, or None for all
                h = torch.randn(1, 2, H, dtype=torch.float64)
                for _ in range(4):
                    _, h = gru(x, F.dropout(h, 0.5))
    assert rec["l0.hidden"].shape == (6, 8, H) and rec.lengths("").tolist() == [8] * 6
    with pytest.warns(RuntimeWarning, match="batch size changed from 2 to 1"), lstmviz.record(gru) as rec:
        rec.new_sequence("")
        _, h = gru(x)
        _, h = gru(x[:1], h[:, :1])
    assert rec.lengths("").tolist() == [2, 2, 2]
    with pytest.raises(ValueError, match=r"not a recorded module or tap name; known: \[''\]"):
        with lstmviz.record(gru) as rec:
            rec.new_sequence("decoder")
    with pytest.raises(RuntimeError, match="has closed"):
        rec.new_sequence()
    _no_leftovers()


# ----- nn.*Cell loops ---------------------------------------------------------------------------------------------
class TwoLayerCells(nn.Module):
    """Two nn.LSTMCell stacked by hand, with dropout on the states between steps (a common training loop)."""

    def __init__(self) -> None:
        super().__init__()
        self.cell1 = nn.LSTMCell(3, H)
        self.cell2 = nn.LSTMCell(H, H)


def _run_cells(model, xs, p, rec=None):
    """Run every (T, 1, 3) sequence of ``xs``; returns per sequence the list of per-step (h1, c1, h2, c2, masks)."""
    runs = []
    for x in xs:
        if rec is not None:
            rec.new_sequence()
        s1 = s2 = None
        steps = []
        for t in range(x.shape[0]):
            s1 = model.cell1(x[t], s1)
            s2 = model.cell2(s1[0], s2)
            for v in (*s1, *s2):
                v.retain_grad()
            raw = (*s1, *s2)
            s1 = tuple(F.dropout(v, p, training=True) for v in s1)
            s2 = tuple(F.dropout(v, p, training=True) for v in s2)
            masks = [(d != 0).to(d.dtype) / (1 - p) for d in (*s1, *s2)]
            steps.append((raw, masks))
        runs.append(steps)
    return runs


def test_lstm_cells_with_dropout_between_steps_record_whole_sequences():
    torch.manual_seed(6)
    model = TwoLayerCells().double()
    xs = [torch.randn(25, 1, 3, dtype=torch.float64) for _ in range(3)]
    p = 0.25
    with lstmviz.record(model, grads=True) as rec:
        runs = _run_cells(model, xs, p, rec)
        loss = sum((raw[2] * (t + 1)).sum() + raw[3].pow(2).sum() for steps in runs for t, (raw, _) in enumerate(steps))
        loss.backward()
    for cell in ("cell1", "cell2"):
        assert rec[f"{cell}.l0.hidden"].shape == (3, 25, H)
        assert rec.lengths(cell).tolist() == [25, 25, 25]

    # values: the float64 reference with the same dropout masks
    w1 = tuple(getattr(model.cell1, n) for n in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"))
    w2 = tuple(getattr(model.cell2, n) for n in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"))
    want = {k: torch.zeros(3, 25, H, dtype=torch.float64) for k in ("g1", "c1", "h2", "f2")}
    with torch.no_grad():
        for s, (x, steps) in enumerate(zip(xs, runs)):
            h1 = c1 = h2 = c2 = torch.zeros(1, H, dtype=torch.float64)
            for t, (_, masks) in enumerate(steps):
                g1, h1, c1 = step("lstm", x[t], h1, c1, *w1)
                g2, h2, c2 = step("lstm", h1, h2, c2, *w2)
                want["g1"][s, t], want["c1"][s, t], want["h2"][s, t], want["f2"][s, t] = (
                    g1["cell_candidate"][0],
                    c1[0],
                    h2[0],
                    g2["forget"][0],
                )
                h1, c1, h2, c2 = (v * m for v, m in zip((h1, c1, h2, c2), masks))
    torch.testing.assert_close(rec["cell1.l0.cell_candidate"], want["g1"], **TOL)
    torch.testing.assert_close(rec["cell1.l0.cell"], want["c1"], **TOL)
    torch.testing.assert_close(rec["cell2.l0.hidden"], want["h2"], **TOL)
    torch.testing.assert_close(rec["cell2.l0.forget"], want["f2"], **TOL)
    # gradients: autograd's retain_grad on each h_t and c_t the cells returned
    for cell, (ih, ic) in (("cell1", (0, 1)), ("cell2", (2, 3))):
        gh = torch.stack([torch.cat([raw[ih].grad for raw, _ in steps]) for steps in runs])  # (3, 25, H)
        gc = torch.stack([torch.cat([raw[ic].grad for raw, _ in steps]) for steps in runs])
        torch.testing.assert_close(rec[f"{cell}.l0.grad_hidden"], gh, atol=0, rtol=0)
        torch.testing.assert_close(rec[f"{cell}.l0.grad_cell"], gc, atol=0, rtol=0)
    _no_leftovers()


def test_cells_continue_on_equal_values_and_warn_once_when_the_state_changes():
    torch.manual_seed(7)
    model = TwoLayerCells().double()
    x = torch.randn(5, 1, 3, dtype=torch.float64)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with lstmviz.record(model.cell1) as rec:
            s = None
            for t in range(5):
                s = model.cell1(x[t], tuple(v.detach() for v in s) if s is not None else None)
    assert rec["l0.hidden"].shape == (1, 5, H)  # equal values continue (before stitching: 5 rows of 1 step)
    with (
        pytest.warns(RuntimeWarning, match="stitching broke for module 'cell[12]'") as caught,
        lstmviz.record(model) as rec,
    ):
        _run_cells(model, [x], 0.5)
    assert sum("stitching" in str(w.message) for w in caught) == 2  # once per module: cell1 and cell2
    assert rec["cell1.l0.hidden"].shape == (5, 1, H)


def test_a_state_changed_in_place_is_a_changed_state_and_a_copy_is_the_same_state():
    """Final states are remembered by reference and version counter (never copied): an in-place change of the
    returned state breaks the sequence, a clone with equal values (another tensor) continues it."""
    torch.manual_seed(0)
    gru = nn.GRU(3, H, batch_first=True)
    x = torch.randn(2, 3, 3)
    with torch.no_grad(), lstmviz.record(gru) as rec:
        _, h = gru(x[:, :1])
        _, h = gru(x[:, 1:2], h.clone())  # equal values, other memory: continues
    assert rec["l0.hidden"].shape == (2, 2, H)
    with torch.no_grad(), lstmviz.record(gru) as rec, warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        _, h = gru(x[:, :1])
        h.mul_(0.5)  # the returned state changed in place: not the state the call ended with
        _, h = gru(x[:, 1:2], h)
    assert rec["l0.hidden"].shape == (4, 1, H)
    assert [w for w in caught if "stitching broke" in str(w.message)]
    _no_leftovers()
