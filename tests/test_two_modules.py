"""Every reader of a recording keeps two recurrent modules apart (issue 18, section 2).

A seq2seq model (encoder ``nn.GRU`` + decoder ``nn.GRU`` in one forward) and two stacked ``nn.LSTMCell``
called in a loop record the same layers, directions and quantities under two module paths. Each helper
that turns a recording into frames or figures must give rows for both modules, and each module's rows
must equal what its own recorded tensors give: a helper keyed by ``(layer, direction, quantity)`` alone
would return one module's rows, or the other module's values under its name, and fail here.
"""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence

import lstmviz
from lstmviz import diagnostics, plots, profiles
from lstmviz.models import ModelConfig, RecurrentClassifier
from lstmviz.taskdata import SequenceData

H = 4  # units of every module: equal sizes, so a merged frame cannot be told apart by its shape


class Seq2Seq(nn.Module):
    """Encoder GRU, decoder GRU started from the encoder's final state, linear head."""

    def __init__(self) -> None:
        super().__init__()
        self.encoder = nn.GRU(3, H, batch_first=True)
        self.decoder = nn.GRU(2, H, batch_first=True)
        self.head = nn.Linear(H, 2)

    def forward(self, src: torch.Tensor, tgt: torch.Tensor) -> torch.Tensor:
        _, h = self.encoder(src)
        y, _ = self.decoder(tgt, h)
        return self.head(y)


class StackedCells(nn.Module):
    """Two ``nn.LSTMCell`` stacked by hand and stepped in a Python loop."""

    def __init__(self) -> None:
        super().__init__()
        self.cell1 = nn.LSTMCell(3, H)
        self.cell2 = nn.LSTMCell(H, H)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s1 = s2 = None
        outs = []
        for t in range(x.shape[1]):
            s1 = self.cell1(x[:, t], s1)
            s2 = self.cell2(s1[0], s2)
            outs.append(s2[0])
        return torch.stack(outs, 1)  # (B, T, H)


class TwoGRUClassifier(nn.Module):
    """Token ids -> embedding -> encoder GRU -> decoder GRU (both packed) -> logits, as a predictor's model."""

    def __init__(self) -> None:
        super().__init__()
        self.embedding = nn.Embedding(12, 3)
        self.encoder = nn.GRU(3, H, batch_first=True)
        self.decoder = nn.GRU(H, H, batch_first=True)
        self.head = nn.Linear(H, 2)

    def forward(self, ids: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        emb = 3.0 * self.embedding(ids)  # scaled so that some gate units saturate
        packed = pack_padded_sequence(emb, lengths.cpu(), batch_first=True, enforce_sorted=False)
        out, h = self.encoder(packed)
        _, h2 = self.decoder(out, h)
        return self.head(h2[-1])


class FakePredictor:
    """The two members of a :class:`lstmviz.pipeline.Predictor` that ``corpus_saturation`` uses."""

    def __init__(self, model: nn.Module) -> None:
        self.model = model

    def encode(self, text: str) -> SimpleNamespace:
        ids = [2 + (ord(ch) % 10) for ch in text if not ch.isspace()]
        return SimpleNamespace(ids=torch.tensor([ids], dtype=torch.long))


class ClassifierWithAux(RecurrentClassifier):
    """A :class:`RecurrentClassifier` with a second recurrent module (``aux``) whose output joins the logits."""

    def __init__(self, config: ModelConfig) -> None:
        super().__init__(config)
        self.aux = nn.GRU(config.embed_dim, config.num_classes, batch_first=True)

    def forward(self, x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        a, _ = self.aux(self.embedding(x))
        return super().forward(x, lengths) + a[:, -1]


# ----- recordings -----------------------------------------------------------------------------------
@pytest.fixture
def seq2seq_rec():
    torch.manual_seed(0)
    model = Seq2Seq().double()
    src = 3.0 * torch.randn(2, 5, 3, dtype=torch.float64)
    tgt = 3.0 * torch.randn(2, 6, 2, dtype=torch.float64)
    with lstmviz.record(model, grads=True) as rec:
        rec.backward(model(src, tgt).pow(2).sum())
    return model, src, tgt, rec


@pytest.fixture
def cells_rec():
    torch.manual_seed(1)
    model = StackedCells().double()
    x = 3.0 * torch.randn(2, 6, 3, dtype=torch.float64)
    with lstmviz.record(model, grads=True) as rec:
        rec.backward(model(x).pow(2).sum())
    return model, x, rec


def _recs(seq2seq_rec, cells_rec):
    return [(seq2seq_rec[-1], ("encoder", "decoder")), (cells_rec[-1], ("cell1", "cell2"))]


@pytest.fixture(params=["seq2seq", "cells"])
def two(request, seq2seq_rec, cells_rec):
    """``(recording, (module_a, module_b))`` of each two-module model."""
    return dict(zip(("seq2seq", "cells"), _recs(seq2seq_rec, cells_rec)))[request.param]


def _from_frame(frame: pd.DataFrame, shape: tuple[int, ...], value: str) -> np.ndarray:
    """A one-key frame's rows put back into a ``(B, T[, U])`` array, NaN where no row is."""
    out = np.full(shape, np.nan)
    idx = tuple(frame[c].to_numpy(dtype=int) for c in ("batch", "step", "unit")[: len(shape)])
    out[idx] = frame[value].to_numpy()
    return out


# ----- Recording.to_frame / grad_norms ----------------------------------------------------------------
def test_to_frame_keeps_both_modules(two):
    rec, mods = two
    frame = rec.to_frame()
    assert set(frame["module"]) == set(mods)
    for key, x in rec.items():
        kp = lstmviz.parse_key(key)
        same = (frame["module"] == kp.module) & (frame["layer"] == kp.layer) & (frame["quantity"] == kp.quantity)
        part = frame[same & (frame["direction"] == ("fwd", "rev")[kp.direction])]
        assert len(part) == int((~torch.isnan(x)).sum())
        np.testing.assert_array_equal(_from_frame(part, tuple(x.shape), "value"), x.numpy())


def test_grad_norms_keep_both_modules(two):
    rec, mods = two
    norms = rec.grad_norms()
    assert set(norms["module"]) == set(mods)
    for m in mods:
        for q in ("grad_hidden", "grad_cell") if rec.modules[m] == "lstm" else ("grad_hidden",):
            g = rec[f"{m}.l0.{q}"]
            part = norms[(norms["module"] == m) & (norms["quantity"] == q)]
            expected = torch.linalg.vector_norm(g, dim=-1).numpy()  # (B, T)
            np.testing.assert_allclose(_from_frame(part, expected.shape, "norm"), expected, rtol=1e-12)
    a, b = (norms[norms["module"] == m].groupby("step")["norm"].sum().to_numpy() for m in mods)
    assert not np.allclose(a[: len(b)], b[: len(a)])  # the modules differ, so an overwrite would show


# ----- diagnostics.saturation_stats / corpus_saturation -------------------------------------------------
def _direct_counts(rec, module: str, quantity: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    x = rec[f"{module}.l0.{quantity}"].numpy()  # (B, T, U)
    valid = ~np.isnan(x)
    return (x < 0.1).sum((0, 1)), (x > 0.9).sum((0, 1)), valid.sum((0, 1))


def _gates(rec, module: str) -> list[str]:
    return [q for q in diagnostics.SATURATION_QUANTITIES if f"{module}.l0.{q}" in rec]


def test_saturation_stats_keys_by_module(two):
    rec, mods = two
    sat = diagnostics.saturation_stats(rec, series="s")
    assert len(sat) == sum(len(_gates(rec, m)) * H for m in mods)  # keyed without the module: half the rows
    assert "module" in sat.columns and set(sat["module"]) == set(mods)
    fracs = {}
    for m in mods:
        for q in _gates(rec, m):
            part = sat[(sat["module"] == m) & (sat["quantity"] == q)].sort_values("unit")
            low, high, n = _direct_counts(rec, m, q)
            assert part["unit"].tolist() == list(range(H))
            np.testing.assert_allclose(part["frac_low"], low / n)
            np.testing.assert_allclose(part["frac_high"], high / n)
            np.testing.assert_array_equal(part["steps"], n)
            fracs[m, q] = np.concatenate([low / n, high / n])
    q = _gates(rec, mods[0])[0]
    assert not np.array_equal(fracs[mods[0], q], fracs[mods[1], q])  # an overwrite would be seen


def test_corpus_saturation_pools_each_module_apart():
    torch.manual_seed(2)
    pred = FakePredictor(TwoGRUClassifier().double().eval())
    texts = ["abc defg", "hijklmnopq", "", "rs", "tuvwxyzab"]
    got = diagnostics.corpus_saturation(pred, texts, series="corpus", batch_size=2)
    assert len(got) == 2 * 2 * H  # two modules x (reset, update) x H units
    assert set(got["module"]) == {"encoder", "decoder"}
    for m in ("encoder", "decoder"):
        for q in ("reset", "update"):
            low = high = n = 0
            for text in texts:  # one text at a time: no padding, the pooled counts are plain sums
                ids = pred.encode(text).ids
                if not ids.numel():
                    continue
                with torch.no_grad(), lstmviz.record(pred.model) as rec:
                    pred.model(ids, torch.tensor([ids.shape[1]]))
                lo, hi, nn_ = _direct_counts(rec, m, q)
                low, high, n = low + lo, high + hi, n + nn_
            part = got[(got["module"] == m) & (got["quantity"] == q)].sort_values("unit")
            np.testing.assert_allclose(part["frac_low"], low / n)
            np.testing.assert_allclose(part["frac_high"], high / n)
            np.testing.assert_array_equal(part["steps"], n)


# ----- diagnostics.state_reach ---------------------------------------------------------------------------
def test_state_reach_names_the_module(seq2seq_rec):
    model, src, tgt, rec = seq2seq_rec
    with pytest.raises(ValueError, match="module"):
        diagnostics.state_reach(model, rec, src[0])  # two candidates: never a silent pick
    for name, inputs in (("encoder", src[:1]), ("decoder", tgt[:1])):
        got = diagnostics.state_reach(model, rec, inputs[0], module=name)
        alone = getattr(model, name)
        with torch.no_grad(), lstmviz.record(alone) as own:
            if name == "encoder":
                alone(inputs)
            else:
                alone(inputs, rec["encoder.l0.hidden"][:1, -1].unsqueeze(0).contiguous())
        np.testing.assert_allclose(got, diagnostics.state_reach(alone, own, inputs[0]), rtol=1e-12)
    enc = diagnostics.state_reach(model, rec, src[0], module="encoder")
    dec = diagnostics.state_reach(model, rec, tgt[0], module="decoder")
    assert not np.allclose(enc[-4:], dec[-4:])  # the two modules' reaches differ: a wrong pick would show


# ----- profiles ---------------------------------------------------------------------------------------
def test_grad_profile_reads_the_classifier_module_only():
    cfg = ModelConfig(cell="gru", vocab_size=12, embed_dim=3, hidden_size=H, num_classes=2)
    torch.manual_seed(3)
    model = ClassifierWithAux(cfg).double()
    x = torch.randint(2, 12, (3, 5))
    probe = SequenceData(x, torch.full((3,), 5), torch.tensor([0, 1, 0]))
    with torch.enable_grad(), lstmviz.record(model, grads=True) as rec:  # both modules recorded here
        rec.backward(F.cross_entropy(model(probe.x, probe.lengths), probe.y))
    assert set(rec.modules) == {"rnn", "aux"}
    expected = torch.linalg.vector_norm(rec["rnn.l0.grad_hidden"], dim=-1).mean(0)
    np.testing.assert_allclose(profiles.grad_profile(model, probe), expected.float().numpy(), rtol=1e-5)
    other = torch.linalg.vector_norm(rec["aux.l0.grad_hidden"], dim=-1).mean(0)
    assert not np.allclose(expected.numpy(), other.numpy())


# ----- plots --------------------------------------------------------------------------------------------
def test_grad_norm_curves_draw_one_line_per_module(two):
    rec, mods = two
    norms = rec.grad_norms().query("batch == 0 and quantity == 'grad_hidden'")
    T = int(norms["step"].max()) + 1
    frame = norms.assign(series="model", distance=T - 1 - norms["step"])
    fig = plots.grad_norm_curves(frame)
    assert len(fig.data) == 2
    for m in mods:
        (trace,) = [tr for tr in fig.data if m in tr.name]
        expected = torch.linalg.vector_norm(rec[f"{m}.l0.grad_hidden"][0], dim=-1).numpy()
        expected = expected[~np.isnan(expected)]
        np.testing.assert_allclose(np.asarray(trace.y, dtype=float), expected, rtol=1e-12)
        assert list(trace.x) == list(range(len(expected)))


def test_unit_lines_draw_one_line_per_module(two):
    rec, mods = two
    frame = rec.to_frame(["hidden"]).query("batch == 0 and unit == 1").rename(columns={"quantity": "series"})
    fig = plots.unit_lines(frame, [str(t) for t in range(int(frame["step"].max()) + 1)])
    assert len(fig.data) == 2
    for m in mods:
        (trace,) = [tr for tr in fig.data if m in tr.name]
        expected = rec[f"{m}.l0.hidden"][0, :, 1].numpy()
        np.testing.assert_array_equal(np.asarray(trace.y, dtype=float), expected[~np.isnan(expected)])


def test_gate_heatmap_refuses_two_modules_and_shows_one(cells_rec):
    *_, rec = cells_rec
    frame = rec.to_frame(["forget"]).query("batch == 0")
    tokens = [str(t) for t in range(int(frame["step"].max()) + 1)]
    with pytest.raises(ValueError, match="module"):
        plots.gate_heatmap(frame, tokens, "forget")  # two modules' rows in one grid: one would hide the other
    for m in ("cell1", "cell2"):
        fig = plots.gate_heatmap(frame[frame["module"] == m], tokens, "forget")
        np.testing.assert_array_equal(fig.data[0].z, rec[f"{m}.l0.forget"][0].numpy().T)


def test_saturation_scatter_names_the_module(two):
    rec, mods = two
    sat = diagnostics.saturation_stats(rec, series="s")
    fig = plots.saturation_scatter(sat)
    hover = [h for tr in fig.data for h in tr.customdata]
    assert len(hover) == len(sat)
    for m in mods:
        assert sum(f"{m} · " in h for h in hover) == int((sat["module"] == m).sum())
