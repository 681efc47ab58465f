"""Custom cells through ``lstmviz.tap`` and ``record(..., quantities=...)`` (issue 23).

The LSTM of a lecture, written with matrix products and tapped, must record what ``nn.LSTM`` records on the
same weights; a LayerNorm-LSTM's tapped states must get autograd's own gradients (``retain_grad``) with
``loss.backward()`` and with ``rec.backward(loss)``; ``tap`` is the identity outside a recording and leaves
nothing behind; ``quantities=`` keeps exactly the asked-for subset of a full recording.
"""

from __future__ import annotations

import gc
import weakref

import pytest
import torch
from torch import nn

import lstmviz
from lstmviz import recorder
from lstmviz.capture import _H_OUT
from lstmviz.tap import tap

H = 5


def lecture_lstm(x, w_ih, w_hh, b, name="lecture"):
    """The LSTM as a lecture writes it (PyTorch's gate order i, f, g, o), every gate and state tapped."""
    B, T, _ = x.shape
    h = torch.zeros(B, w_hh.shape[1], dtype=x.dtype)
    c = torch.zeros_like(h)
    hs = []
    for t in range(T):
        a = x[:, t] @ w_ih.T + h @ w_hh.T + b  # (B, 4H)
        ai, af, ag, ao = a.chunk(4, -1)
        i = tap(f"{name}.input", torch.sigmoid(ai))
        f = tap(f"{name}.forget", torch.sigmoid(af))
        g = tap(f"{name}.cell_candidate", torch.tanh(ag))
        o = tap(f"{name}.output", torch.sigmoid(ao))
        c = tap(f"{name}.cell", f * c + i * g)
        h = tap(f"{name}.hidden", o * torch.tanh(c))
        hs.append(h)
    return torch.stack(hs, 1)  # (B, T, H)


def test_a_tapped_lecture_lstm_records_what_nn_lstm_records():
    torch.manual_seed(0)
    lstm = nn.LSTM(3, H, batch_first=True).double()
    with torch.no_grad():
        for p in lstm.parameters():
            p.mul_(2.0)
    x = torch.randn(4, 8, 3, dtype=torch.float64)
    W = torch.randn(4, 8, H, dtype=torch.float64)
    w = (lstm.weight_ih_l0, lstm.weight_hh_l0, lstm.bias_ih_l0 + lstm.bias_hh_l0)
    with lstmviz.record(lstm, grads=True) as rec:
        y_module, _ = lstm(x)
        y_lecture = lecture_lstm(x, *w)
        ((y_module * W).sum() + (y_lecture * W).sum()).backward()
    assert rec.modules == {"": "lstm", "lecture": "lstm"}
    for q in ("input", "forget", "cell_candidate", "output", "cell", "hidden", "grad_hidden", "grad_cell"):
        assert rec[f"lecture.l0.{q}"].shape == (4, 8, H)
        torch.testing.assert_close(rec[f"lecture.l0.{q}"], rec[f"l0.{q}"], atol=1e-12, rtol=0)
    assert rec.lengths("lecture").tolist() == [8] * 4
    assert set(rec.to_frame()["module"]) == {"", "lecture"}


class LayerNormLSTM(nn.Module):
    """An LSTM cell with LayerNorm on the gate pre-activations and on the cell state (no nn.LSTM inside)."""

    def __init__(self, n_in: int = 3, hidden: int = H) -> None:
        super().__init__()
        self.ih = nn.Linear(n_in, 4 * hidden, bias=False)
        self.hh = nn.Linear(hidden, 4 * hidden)
        self.ln_gates = nn.LayerNorm(4 * hidden)
        self.ln_cell = nn.LayerNorm(hidden)
        self.head = nn.Linear(hidden, 2)

    def forward(self, x, keep=None):
        B, T, _ = x.shape
        h = torch.zeros(B, self.hh.in_features, dtype=x.dtype)
        c = torch.zeros_like(h)
        outs = []
        for t in range(T):
            ai, af, ag, ao = self.ln_gates(self.ih(x[:, t]) + self.hh(h)).chunk(4, -1)
            i, f = tap("ln.input", torch.sigmoid(ai)), tap("ln.forget", torch.sigmoid(af))
            g, o = tap("ln.cell_candidate", torch.tanh(ag)), tap("ln.output", torch.sigmoid(ao))
            c = tap("ln.cell", f * c + i * g)
            h = tap("ln.hidden", o * torch.tanh(self.ln_cell(c)))
            if keep is not None:
                h.retain_grad()
                c.retain_grad()
                keep.append((h, c))
            outs.append(h)
        return self.head(torch.stack(outs, 1)).pow(2).mean()  # a scalar loss


def _autograd_grads(model, x):
    """dL/dh_t and dL/dc_t by autograd itself: retain_grad on every state, loss.backward(), no recording."""
    keep = []
    model(x, keep).backward()
    model.zero_grad()
    return torch.stack([h.grad for h, _ in keep], 1), torch.stack([c.grad for _, c in keep], 1)


@pytest.mark.parametrize("how", ["loss.backward", "rec.backward"])
def test_layernorm_lstm_taps_get_autograds_gradients(how):
    torch.manual_seed(1)
    model = LayerNormLSTM().double()
    x = torch.randn(3, 7, 3, dtype=torch.float64)
    want_h, want_c = _autograd_grads(model, x)
    keep = []
    with lstmviz.record(model, grads=True) as rec:
        loss = model(x, keep)
        if how == "rec.backward":
            rec.backward(loss)
        else:
            loss.backward()
    assert rec.modules == {"ln": "lstm"}
    assert sorted(rec.keys()) == sorted(
        f"ln.l0.{q}"
        for q in ("input", "forget", "cell_candidate", "output", "cell", "hidden", "grad_hidden", "grad_cell")
    )
    torch.testing.assert_close(rec["ln.l0.hidden"], torch.stack([h for h, _ in keep], 1).detach(), atol=0, rtol=0)
    torch.testing.assert_close(rec["ln.l0.grad_hidden"], want_h, atol=0, rtol=0)
    torch.testing.assert_close(rec["ln.l0.grad_cell"], want_c, atol=0, rtol=0)
    if how == "rec.backward":
        assert all(p.grad is None for p in model.parameters())
    else:
        torch.testing.assert_close(rec["ln.l0.grad_hidden"], torch.stack([h.grad for h, _ in keep], 1), atol=0, rtol=0)
    norms = rec.grad_norms()
    assert set(norms["quantity"]) == {"grad_hidden", "grad_cell"} and len(norms) == 2 * 3 * 7


def test_tap_is_the_identity_outside_a_recording_and_inside():
    x = torch.randn(2, 3, requires_grad=True)
    assert tap("mycell.hidden", x) is x
    assert lstmviz.tap("anything.forget", x) is x  # not even the key is parsed outside a recording
    with lstmviz.record(nn.Linear(3, 3)) as rec:
        assert tap("mycell.hidden", x) is x
    assert rec["mycell.l0.hidden"].shape == (2, 1, 3)


def _leftovers(tensors) -> list[str]:
    found = [f"registry {k}" for k in recorder._INSTALLED] + [f"active {a!r}" for a in recorder._ACTIVE.get()]
    return found + [f"hook on tensor {i}" for i, t in enumerate(tensors) if t._backward_hooks]


def test_taps_leave_nothing_behind_after_success_and_after_an_error():
    model = LayerNormLSTM().double()
    x = torch.randn(2, 4, 3, dtype=torch.float64)
    keep = []
    with lstmviz.record(model, grads=True) as rec:
        model(x, keep).backward()
    states = [t for pair in keep for t in pair]
    assert _leftovers(states) == []
    assert not any("_out" in s for seqs in rec._capture.taps["ln"].series.values() for q in seqs for s in q)
    ref = weakref.ref(keep[-1][0])
    del keep, states
    gc.collect()
    assert ref() is None  # the recording holds no tapped tensor (nor its graph)
    assert rec["ln.l0.grad_cell"].shape == (2, 4, H)

    keep = []
    with pytest.raises(ZeroDivisionError):
        with lstmviz.record(model, grads=True):
            model(x, keep)
            raise ZeroDivisionError("the user's code fails inside the block")
    assert _leftovers([t for pair in keep for t in pair]) == []
    y = x[:, 0]
    assert tap("ln.hidden", y) is y and recorder._ACTIVE.get() == ()  # no recording left active


def test_new_sequence_and_batch_changes_start_tap_sequences():
    x = torch.randn(3, 2)
    with lstmviz.record(nn.Linear(2, 2)) as rec:
        for n in (4, 2):
            rec.new_sequence()
            for _ in range(n):
                tap("rnnish.l1.rev.hidden", x)
        for _ in range(3):
            tap("rnnish.l1.rev.hidden", x[:1])  # batch size 1: a new sequence
        rec.new_sequence("rnnish")
        tap("rnnish.l1.rev.hidden", x[0])  # unbatched (U,): one row
    assert rec.modules == {"rnnish": "rnn"}
    assert rec["rnnish.l1.rev.hidden"].shape == (3 + 3 + 1 + 1, 4, 2)
    assert rec.lengths("rnnish").tolist() == [4, 4, 4, 2, 2, 2, 3, 1]


def test_nested_recordings_tap_into_the_innermost():
    x = torch.randn(1, 2)
    with lstmviz.record(nn.Linear(2, 2)) as outer:
        tap("a.hidden", x)
        with lstmviz.record(nn.Linear(2, 2)) as inner:
            tap("a.hidden", x)
            tap("a.hidden", x)
        tap("a.hidden", x)
    assert outer["a.l0.hidden"].shape == (1, 2, 2) and inner["a.l0.hidden"].shape == (1, 2, 2)


def test_tap_errors_name_what_is_allowed():
    x = torch.randn(2, 3)
    with lstmviz.record(nn.ModuleDict({"rnn": nn.LSTM(3, 3)})) as rec:
        with pytest.raises(ValueError, match=r"unknown quantity 'foget'; did you mean 'forget'\?.*'cell_candidate'"):
            tap("c.foget", x)
        with pytest.raises(ValueError, match=r"grads=True.*allowed"):
            tap("c.grad_hidden", x)
        with pytest.raises(ValueError, match="needs a name and a quantity"):
            tap("hidden", x)
        with pytest.raises(ValueError, match="not a usable name"):
            tap("l1.hidden", x)
        with pytest.raises(TypeError, match="must be a str"):
            tap(3, x)
        with pytest.raises(TypeError, match="floating-point"):
            tap("c.hidden", torch.ones(2, 3, dtype=torch.long))
        with pytest.raises(ValueError, match=r"\(B, U\) or \(U,\), got shape \(2, 3, 1\)"):
            tap("c.hidden", x.unsqueeze(-1))
        with pytest.raises(ValueError, match="'rnn' is the path of a watched module"):
            tap("rnn.hidden", x)
        tap("c.hidden", x)
        with pytest.raises(ValueError, match="4 units, but earlier taps of this key had 3"):
            tap("c.hidden", torch.randn(2, 4))
        tap("c.forget", x)
        with pytest.raises(ValueError, match=r"mixes LSTM quantities \['forget'\] with GRU ones \['update'\]"):
            tap("c.update", x)
    assert rec.modules["c"] == "lstm"


# ----- models without any recurrent module ------------------------------------------------------------------------
def test_a_model_without_recurrent_modules_is_recorded_through_taps_only():
    model = LayerNormLSTM().double()
    with lstmviz.record(model) as rec:  # no nn.LSTM/GRU/RNN/*Cell inside: allowed, taps may come
        model(torch.randn(2, 3, 3, dtype=torch.float64))
    assert rec["ln.l0.forget"].shape == (2, 3, H)
    with pytest.raises(ValueError, match=r"no recurrent module .* searched 6 submodules .*nor did the block record"):
        with lstmviz.record(model):
            pass
    with pytest.raises(KeyError, match="boom"):  # the body's own error wins over "recorded nothing"
        with lstmviz.record(model):
            raise KeyError("boom")
    with pytest.raises(ValueError, match=r"names \['ln'\] are not recurrent modules"):
        with lstmviz.record(model, names=["ln"]):  # a names= mistake is still reported at entry
            raise AssertionError("not reached")
    assert recorder._INSTALLED == {} and recorder._ACTIVE.get() == ()


# ----- record(..., quantities=...) ------------------------------------------------------------------------------------
class Mixed(nn.Module):
    """A bidirectional 2-layer LSTM, a GRUCell loop and a tapped cell: every kind of source at once."""

    def __init__(self) -> None:
        super().__init__()
        self.lstm = nn.LSTM(3, H, num_layers=2, bidirectional=True, batch_first=True)
        self.cell = nn.GRUCell(2 * H, H)

    def forward(self, x):
        y, _ = self.lstm(x)
        h = None
        for t in range(x.shape[1]):
            h = self.cell(y[:, t], h)
            tap("custom.hidden", torch.tanh(h))
            tap("custom.forget", torch.sigmoid(h))
        return h.pow(2).sum() + y.pow(2).sum()


@pytest.mark.parametrize("path", [None, "kernel", "autograd_steps"])
def test_quantities_keep_exactly_a_subset_of_the_full_recording(path):
    torch.manual_seed(2)
    model = Mixed().double()
    x = torch.randn(2, 5, 3, dtype=torch.float64)
    with lstmviz.record(model, grads=True, path=path) as full:
        full.backward(model(x))
    wanted = ["forget", "hidden", "grad_cell"]
    with lstmviz.record(model, grads=True, path=path, quantities=wanted) as part:
        part.backward(model(x))
    expect = [k for k in full.keys() if k.rsplit(".", 1)[1] in wanted]
    assert sorted(part.keys()) == sorted(expect)
    assert "cell.l0.grad_hidden" not in part.keys() and "lstm.l1.rev.grad_cell" in part.keys()
    for k in expect:
        torch.testing.assert_close(part[k], full[k], atol=0, rtol=0, equal_nan=True)
    with pytest.raises(KeyError):
        part["lstm.l0.input"]
    # what is not asked for is not kept: the traces hold only the requested forward tensors
    traces = part._capture.calls["lstm"][0].traces
    assert all(set(tr.quantities) == {"forget", "hidden"} for tr in traces.values())
    assert all(set(s) <= {"hidden", _H_OUT, "grad_hidden"} for q in part._capture.cells["cell"].sequences for s in q)
    assert set(part.to_frame()["quantity"]) == {"forget", "hidden", "grad_cell"}


def test_quantities_for_gates_only_under_no_grad():
    model = nn.GRU(3, H, batch_first=True)
    with torch.no_grad(), lstmviz.record(model, quantities="update") as rec:
        model(torch.randn(2, 4, 3))
    assert rec.keys() == ["l0.update"]


@pytest.mark.parametrize(
    "kwargs, error",
    [
        (dict(quantities=["foget"]), r"unknown quantity 'foget' in quantities=; did you mean 'forget'\?.*'grad_cell'"),
        (dict(quantities=[]), "quantities= is empty"),
        (dict(quantities=["grad_hidden"]), r"asks for \['grad_hidden'\], which need record\(..., grads=True\)"),
        (dict(quantities=["forget"], grads=True), "names none of"),
    ],
)
def test_quantities_errors(kwargs, error):
    with pytest.raises(ValueError, match=error):
        with lstmviz.record(nn.LSTM(2, 2), **kwargs):
            raise AssertionError("not reached")
    with pytest.raises(TypeError, match="quantities must be"):
        with lstmviz.record(nn.LSTM(2, 2), quantities=3):
            pass
