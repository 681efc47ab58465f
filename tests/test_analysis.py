"""Tests for lstmviz.sentence, whatifs, diagnostics, gradcompare and tidy.

Numbers match the recorder/autograd, and the shared model is never mutated.
"""

from __future__ import annotations

import hashlib
import threading

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import lstmviz
from lstmviz import diagnostics, gradcompare, names, sentence, tidy, whatifs
from lstmviz.pipeline import Predictor
from lstmviz.testing import make_tiny_checkpoints

TEXT = "Я не люблю дождь, но сегодня прекрасный день."


@pytest.fixture(scope="module")
def preds(tmp_path_factory) -> dict[str, Predictor]:
    root = make_tiny_checkpoints(tmp_path_factory.mktemp("ck"))
    return {c: Predictor.from_checkpoint(root / f"sentiment-{c}") for c in ("rnn", "gru", "lstm")}


def _fingerprint(model: torch.nn.Module) -> tuple:
    h = hashlib.sha256()
    for name, t in model.state_dict().items():
        h.update(name.encode())
        h.update(t.detach().cpu().numpy().tobytes())
    grads = tuple(p.grad is None for p in model.parameters())
    return h.hexdigest(), grads, model.training


@pytest.mark.parametrize("cell", ["rnn", "gru", "lstm"])
def test_no_function_mutates_the_model(preds, cell):
    p = preds[cell]
    before = _fingerprint(p.model)
    a = sentence.analyze_text(p, TEXT)
    sentence.analyze_text(p, TEXT, grads=False)
    sentence.analyze_text(p, TEXT, target="positive", prepend=5)
    gradcompare.compare_gradients({c: sentence.analyze_text(q, TEXT) for c, q in preds.items()})
    # untrained with a seed: the tiny checkpoints record no initialisation (see the test below)
    for w in (
        whatifs.WhatIf(whh_scale=0.5),
        whatifs.WhatIf(forget_bias=2.0),
        whatifs.WhatIf(untrained=True, seed=0),
        whatifs.WhatIf(filler_tokens=3),
    ):
        whatifs.make_variant(p, w)
        whatifs.what_if(p, TEXT, w)
    diagnostics.corpus_saturation(p, [TEXT, "плохо", "отлично"])
    diagnostics.saturation_stats(a.recording)
    diagnostics.pascanu_bound(a)
    diagnostics.top_units(a, "hidden")
    diagnostics.unit_frame(a, 0)
    if cell == "lstm":
        diagnostics.forget_product_frame(a)
    assert _fingerprint(p.model) == before


def test_recording_probs_and_saliency_match_direct_computation(preds):
    p = preds["lstm"]
    a = sentence.analyze_text(p, TEXT)
    enc = p.encode(TEXT)
    T = enc.ids.shape[1]
    assert a.tokens == [t.text for t in enc.tokens] and len(a.tokens) == T
    assert a.lemmas == [t.lemma for t in enc.tokens]
    # probabilities after every prefix
    with torch.no_grad():
        for t in range(T):
            probs = F.softmax(p.model(enc.ids[:, : t + 1], torch.tensor([t + 1])), -1)[0].numpy()
            np.testing.assert_allclose(a.probs[t], probs, atol=1e-6)
    # gates equal an independent recording
    with torch.no_grad(), lstmviz.record(p.model) as rec:
        p.model(enc.ids, enc.lengths)
    for q in lstmviz.QUANTITIES["lstm"]:
        torch.testing.assert_close(a.recording[f"rnn.l0.{q}"], rec[f"rnn.l0.{q}"])
    # saliency = ||dL/d emb_t|| with L = CE to the predicted class
    emb = p.model.embedding(enc.ids).detach().requires_grad_(True)
    loss = F.cross_entropy(p.model.forward_embedded(emb, enc.lengths), torch.tensor([a.predicted]))
    (g,) = torch.autograd.grad(loss, emb)
    np.testing.assert_allclose(a.saliency, g[0].norm(dim=-1).numpy(), rtol=1e-5)
    assert a.loss == pytest.approx(float(loss.detach()))
    assert set(a.grad_frame()["quantity"]) == {"grad_hidden", "grad_cell"}


def test_target_choice_and_errors(preds):
    p = preds["gru"]
    a = sentence.analyze_text(p, TEXT, target="mixed")
    assert a.labels[a.target] == "mixed"
    assert sentence.analyze_text(p, TEXT, target=1).target == 1
    with pytest.raises(ValueError, match="allowed"):
        sentence.analyze_text(p, TEXT, target="happy")
    with pytest.raises(ValueError, match="allowed"):
        sentence.analyze_text(p, TEXT, target=9)
    for empty in ("", "   ", "!!! ..."):
        with pytest.raises(sentence.EmptyTextError):
            sentence.analyze_text(p, empty)
    with pytest.raises(ValueError, match="prepend"):
        sentence.analyze_text(p, TEXT, prepend=-1)


def test_unknown_truncated_and_literal_tokens(preds):
    p = preds["rnn"]
    a = sentence.analyze_text(p, "qwzx blorf 😀 123")
    assert all(a.unknown) and "😀" in a.tokens
    long = sentence.analyze_text(p, " ".join(["дождь"] * 230), grads=False)
    assert long.truncated and len(long.tokens) == 200


def test_prepend_and_what_if_variants(preds):
    p = preds["lstm"]
    a = sentence.analyze_text(p, TEXT, prepend=4)
    assert a.tokens[:4] == [""] * 4 and a.kinds[:4] == ["filler"] * 4  # unlabelled: only every 10th is
    H = p.model.config.hidden_size
    v = whatifs.make_variant(p, whatifs.WhatIf(whh_scale=0.5, forget_bias=1.5))
    assert v.model is not p.model and v.vocab is p.vocab
    torch.testing.assert_close(v.model.rnn.weight_hh_l0, 0.5 * p.model.rnn.weight_hh_l0)
    torch.testing.assert_close(v.model.rnn.bias_ih_l0[H : 2 * H], p.model.rnn.bias_ih_l0[H : 2 * H] + 1.5)
    torch.testing.assert_close(v.model.rnn.bias_ih_l0[:H], p.model.rnn.bias_ih_l0[:H])
    assert whatifs.make_variant(p, whatifs.WhatIf()) is p
    u1 = whatifs.make_variant(p, whatifs.WhatIf(untrained=True, seed=3))
    u2 = whatifs.make_variant(p, whatifs.WhatIf(untrained=True, seed=3))
    torch.testing.assert_close(u1.model.rnn.weight_hh_l0, u2.model.rnn.weight_hh_l0)
    assert not torch.equal(u1.model.rnn.weight_hh_l0, p.model.rnn.weight_hh_l0)
    lstm = torch.nn.LSTM(2, 3)
    state = torch.random.get_rng_state()
    whatifs.seeded_init(lstm, 0)
    assert torch.equal(state, torch.random.get_rng_state())  # global RNG untouched
    with pytest.raises(ValueError, match="filler_tokens"):
        whatifs.WhatIf(filler_tokens=-2)


def test_untrained_what_if_is_the_recorded_initialisation_or_refused(preds):
    """The tiny checkpoints store no ``init_fingerprint`` (PyTorch's default init, not init_weights): the model's
    own starting point is unknown, so the "untrained" what-if refuses rather than pass seed 0 off as it; an explicit
    seed asks for a fresh model of the same architecture, which needs no record (issue 18)."""
    import copy

    from lstmviz.models import UnknownInitialisation, weights_fingerprint

    p = preds["gru"]
    assert "init_fingerprint" not in p.meta
    with pytest.raises(UnknownInitialisation, match="init_fingerprint"):
        whatifs.make_variant(p, whatifs.WhatIf(untrained=True))
    other = copy.copy(p)
    other.meta = {**p.meta, "init_seed": 0, "init_fingerprint": weights_fingerprint(p.model)}  # not seed 0's
    with pytest.raises(UnknownInitialisation, match="init_fingerprint"):
        whatifs.make_variant(other, whatifs.WhatIf(untrained=True, whh_scale=0.5))
    fresh = whatifs.make_variant(p, whatifs.WhatIf(untrained=True, seed=0)).model
    recorded = copy.copy(p)
    recorded.meta = {**p.meta, "init_seed": 0, "init_fingerprint": weights_fingerprint(fresh)}
    again = whatifs.make_variant(recorded, whatifs.WhatIf(untrained=True)).model  # a recorded start is rebuilt
    assert weights_fingerprint(again) == weights_fingerprint(fresh)


def test_pascanu_bound_holds_for_rnn(preds):
    p = preds["rnn"]
    for scale in (0.5, 1.0, 2.0):
        a = whatifs.what_if(p, TEXT, whatifs.WhatIf(whh_scale=scale))
        bound = diagnostics.pascanu_bound(a)
        norms = a.grad_frame().sort_values("step")["norm"].to_numpy()
        assert np.all(norms <= bound.sort_values("step")["bound"].to_numpy() * (1 + 1e-5) + 1e-12)
    assert diagnostics.pascanu_bound(sentence.analyze_text(preds["gru"], TEXT)).empty


def test_forget_product_and_saturation(preds):
    a = sentence.analyze_text(preds["lstm"], TEXT)
    fp = diagnostics.forget_product_frame(a)
    assert fp["forget_product"].iloc[-1] == 1.0
    assert ((fp["forget_product"] >= 0) & (fp["forget_product"] <= 1)).all()
    f = a.values("forget")
    np.testing.assert_allclose(fp["forget_product"].iloc[-2], f[-1].mean(), rtol=1e-6)
    with pytest.raises(ValueError, match="LSTM"):
        diagnostics.forget_product_frame(sentence.analyze_text(preds["gru"], TEXT))
    sat = diagnostics.saturation_stats(a.recording)
    H = preds["lstm"].model.config.hidden_size
    assert len(sat) == 3 * H and set(sat["quantity"]) == {"input", "forget", "output"}
    x = a.values("forget")
    np.testing.assert_allclose(sat.query("quantity == 'forget'")["frac_high"], (x > 0.9).mean(0))
    corpus = diagnostics.corpus_saturation(preds["gru"], [TEXT, "плохо", "", "отличный фильм"], batch_size=2)
    assert set(corpus["quantity"]) == {"reset", "update"} and corpus["steps"].iloc[0] > len(a.tokens)
    assert diagnostics.saturation_stats(sentence.analyze_text(preds["rnn"], TEXT).recording).empty


def test_concurrent_analyses_are_isolated(preds):
    p = preds["lstm"]
    texts = [TEXT, "Отличный сервис, всем советую!", "Фильм был скучный и слишком длинный."]
    expected = {t: sentence.analyze_text(p, t).grad_frame()["norm"].to_numpy() for t in texts}
    errors, results = [], {}

    def work(t):
        try:
            for _ in range(3):
                results[t] = sentence.analyze_text(p, t).grad_frame()["norm"].to_numpy()
        except Exception as e:  # pragma: no cover - reported below
            errors.append(e)

    threads = [threading.Thread(target=work, args=(t,)) for t in texts]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert not errors
    for t in texts:
        np.testing.assert_allclose(results[t], expected[t])


def test_history_and_profile_frames():
    hist = [
        {
            "epoch": 1,
            "train_loss": 1.0,
            "val_loss": 1.2,
            "train_acc": 0.5,
            "val_acc": 0.4,
            "val_f1": 0.3,
            "grad_profile": [0.01, 0.1, 1.0],
        },
        {"epoch": 2, "train_loss": float("nan")},
    ]
    df = tidy.history_frame({"m": hist})
    assert len(df) == 5 and set(df["metric"]) == {"loss", "acc", "f1"}
    prof = tidy.grad_profile_frame(hist)
    assert prof["distance"].tolist() == [2, 1, 0] and prof["norm"].tolist() == [0.01, 0.1, 1.0]


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(hidden=st.integers(1, 6), steps=st.integers(2, 30), scale=st.floats(0.05, 3.0), seed=st.integers(0, 10_000))
def test_pascanu_bound_never_below_the_gradient_and_drawn_iff_sigma_below_one(hidden, steps, scale, seed):
    """On random small float64 RNNs the bound is never below ||dL/dh_t||; it is flagged binding iff σ_max < 1."""
    from lstmviz.models import ModelConfig, RecurrentClassifier

    cfg = ModelConfig(cell="rnn", vocab_size=7, embed_dim=3, hidden_size=hidden, num_classes=3)
    model = RecurrentClassifier.seeded(cfg, seed).double().eval()
    with torch.no_grad():
        model.rnn.weight_hh_l0.mul_(scale)
    ids = torch.randint(2, 7, (1, steps), generator=torch.Generator().manual_seed(seed))
    a = sentence.analyze_ids(model, ids, tokens=[str(i) for i in ids[0].tolist()], labels=["a", "b", "c"])
    bound = diagnostics.pascanu_bound(a, model).sort_values("step")
    norms = a.grad_frame().sort_values("step")["norm"].to_numpy()
    assert np.all(norms <= bound["bound"].to_numpy() * (1 + 1e-9) + 1e-300)
    sigma = float(torch.linalg.matrix_norm(model.rnn.weight_hh_l0.detach(), ord=2))
    assert bound["binding"].tolist() == [sigma < 1] * steps
    assert bound["spectral_radius"].iloc[0] <= sigma * (1 + 1e-9)


def test_float64_display_path_has_no_zero_where_float32_underflows(preds):
    a = whatifs.what_if(preds["rnn"], TEXT, whatifs.WhatIf(whh_scale=0.25, filler_tokens=150))
    f64 = a.grad_frame().query("quantity == 'grad_hidden' and direction == 'fwd'")
    # the same loss through the float32 variant itself: its gradient underflows to exactly 0
    variant = whatifs.make_variant(preds["rnn"], whatifs.WhatIf(whh_scale=0.25)).model
    ids = preds["rnn"].encode(TEXT).ids.reshape(1, -1)
    ids = torch.cat((torch.full((1, 150), sentence.filler_id(preds["rnn"])[0]), ids), 1)
    with lstmviz.record(variant, grads=True) as rec:
        rec.backward(F.cross_entropy(variant(ids, torch.tensor([ids.shape[1]])), torch.tensor([a.target])))
    f32 = torch.linalg.vector_norm(rec["rnn.l0.grad_hidden"][0], dim=-1).numpy()
    assert (f32 == 0).sum() > 0  # float32: the first steps are exactly 0 (underflow)
    assert (f64["norm"] > 0).all() and np.isfinite(np.log10(f64["norm"])).all()
    # normalised curves are raw / last, in float64
    np.testing.assert_allclose(f64["norm_rel"], f64["norm"] / f64["norm"].iloc[-1], rtol=0, atol=0)
    assert f64["norm_rel"].iloc[-1] == 1.0
    # where float32 did not underflow, both agree
    ok = f32 > 1e-18  # far from float32 subnormals, whose rounding grows
    np.testing.assert_allclose(f32[ok], f64["norm"].to_numpy()[ok], rtol=1e-3)


def test_filler_positions_move_the_right_tokens(preds):
    p = preds["rnn"]
    base = sentence.analyze_text(p, TEXT)
    n = len(base.tokens)
    for at, k in (("start", 0), ("before_last", n - 1), (2, 2), (999, n), ("auto", 0)):
        a = whatifs.what_if(p, TEXT, whatifs.WhatIf(filler_tokens=12, filler_at=at))
        assert a.kinds[k : k + 12] == ["filler"] * 12 and a.extra["filler_at"] == k
        assert [t for t, kind in zip(a.tokens, a.kinds) if kind != "filler"] == base.tokens
        assert a.tokens[k : k + 12] == [""] * 9 + ["·10"] + [""] * 2  # thinned filler ticks
    with pytest.raises(ValueError, match="filler_at='middle' is invalid"):
        sentence.filler_position("middle", 5)
    assert sentence.filler_position("auto", 4, "cue_recall") == 1  # cue recall: after the cue


@pytest.mark.parametrize("cell", ["rnn", "gru", "lstm"])
@pytest.mark.parametrize("layers,bidir", [(1, False), (2, True)])
def test_reach_equals_the_brute_force_jacobian(cell, layers, bidir):
    """||∂h_{T-1}/∂s_t||_2 from the step Jacobians equals autograd through the top layer restarted at s_t."""
    from lstmviz.models import ModelConfig, RecurrentClassifier

    cfg = ModelConfig(
        cell=cell,
        vocab_size=9,
        embed_dim=4,
        hidden_size=5,
        num_layers=layers,
        bidirectional=bidir,
        num_classes=2,
        gate_bias=1.0,
    )
    model = RecurrentClassifier.seeded(cfg, 3).double().eval()
    T = 7
    ids = torch.randint(2, 9, (1, T), generator=torch.Generator().manual_seed(1))
    a = sentence.analyze_ids(model, ids, tokens=list("abcdefg"), labels=["x", "y"])
    # An independent single-layer module holding the top layer's forward weights.
    top = layers - 1
    one = {"rnn": torch.nn.RNN, "gru": torch.nn.GRU, "lstm": torch.nn.LSTM}[cell](
        model.rnn.input_size if top == 0 else 5 * (2 if bidir else 1), 5, batch_first=True
    ).double()
    with torch.no_grad():
        for n in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
            getattr(one, f"{n}_l0").copy_(getattr(model.rnn, f"{n}_l{top}"))
        if top == 0:
            x = model.embedding(ids)
        else:
            lower = model.rnn.__class__(4, 5, num_layers=1, bidirectional=bidir, batch_first=True).double()
            for d in ("", "_reverse") if bidir else ("",):
                for n in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
                    getattr(lower, f"{n}_l0{d}").copy_(getattr(model.rnn, f"{n}_l0{d}"))
            x = lower(model.embedding(ids))[0]
        states = one(x)[0][0]  # (T, H)
        cells = None
        if cell == "lstm":  # recover c_t by running step by step
            h, c, cells = torch.zeros(1, 1, 5, dtype=torch.float64), torch.zeros(1, 1, 5, dtype=torch.float64), []
            for t in range(T):
                _, (h, c) = one(x[:, t : t + 1], (h, c))
                cells.append(c[0, 0])
    for t in range(T - 1):

        def h_last(s, t=t):
            if cell == "lstm":
                out, _ = one(x[:, t + 1 :], (s[:5].view(1, 1, 5), s[5:].view(1, 1, 5)))
            else:
                out, _ = one(x[:, t + 1 :], s.view(1, 1, 5))
            return out[0, -1]

        s_t = torch.cat((states[t], cells[t])) if cell == "lstm" else states[t]
        J = torch.autograd.functional.jacobian(h_last, s_t)  # (H, S)
        want = float(torch.linalg.matrix_norm(J, ord=2))
        assert a.reach[t] == pytest.approx(want, rel=1e-9, abs=1e-300), (t, a.reach[t], want)
    assert a.reach[-1] == 1.0


def test_compare_gradients_one_result_for_view_and_bench(preds):
    runs = {c: sentence.analyze_text(q, TEXT) for c, q in preds.items()}
    cmp = gradcompare.compare_gradients(runs)
    assert set(cmp.curves["series"]) == {"rnn", "gru", "lstm"} and set(cmp.curves["direction"]) == {"fwd"}
    last = cmp.curves.sort_values("step").groupby(["series", "quantity"]).last()
    assert (last["norm_rel"] == 1.0).all()
    assert cmp.saliency_max == max(float(np.nanmax(a.saliency)) for a in runs.values())
    assert set(cmp.reach["series"]) == {"rnn", "gru", "lstm"} and set(cmp.forget["series"]) == {"lstm"}
    facts = cmp.bound_facts()
    assert [f["series"] for f in facts] == ["rnn"]
    assert (cmp.drawn_bounds is None) == (not facts[0]["binding"])
    with pytest.raises(ValueError, match="without grads"):
        gradcompare.compare_gradients({"x": sentence.analyze_text(preds["gru"], TEXT, grads=False)})


def test_every_frame_writes_direction_as_fwd_or_rev(preds):
    a = sentence.analyze_text(preds["lstm"], TEXT)
    frames = [
        a.grad_frame(),
        a.activation_frame("forget"),
        diagnostics.saturation_stats(a.recording),
        a.recording.to_frame(["forget"]),
        a.recording64.grad_norms(),
    ]
    for f in frames:
        assert set(f["direction"]) <= {"fwd", "rev"} and len(f), f.columns
    assert names.direction_name(1) == "rev" and names.direction_name(0) == "fwd"


def test_unit_orders():
    v = np.array([[0.0, 1.0, -0.1, 0.9], [0.0, -1.0, 0.1, -0.8], [0.0, 1.0, -0.2, 0.7]])  # (T=3, U=4)
    assert diagnostics.unit_order(v, "index").tolist() == [0, 1, 2, 3]
    assert diagnostics.unit_order(v, "activity").tolist() == [1, 3, 2, 0]
    assert diagnostics.unit_order(v, "change")[0] == 1
    cl = diagnostics.unit_order(v, "cluster").tolist()
    assert cl[:2] == [1, 3] and sorted(cl) == [0, 1, 2, 3]  # the two units that move together sit side by side
    with pytest.raises(ValueError, match="allowed: index, activity, change, cluster"):
        diagnostics.unit_order(v, "random")


def test_textcompare_alignment_and_difference(preds):
    from lstmviz import textcompare

    assert textcompare.align(["это", "плохо"], ["это", "не", "плохо"]) == [(0, 0), (1, 2)]
    assert textcompare.inserted_tokens(["это", "плохо"], ["это", "не", "плохо"]) == [1]
    a = sentence.analyze_text(preds["lstm"], "Это плохо.", grads=False)
    b = sentence.analyze_text(preds["lstm"], "Это не плохо.", grads=False)
    d = textcompare.difference_frame(a, b, "cell")
    cols = d.drop_duplicates("step")  # «не» has a column of its own, marked inserted (issue 21)
    assert list(cols["op"]) == ["equal", "insert", "equal"] and list(cols["token"]) == ["Это", "+не", "плохо"]
    np.testing.assert_allclose(d.query("step == 2")["value"], b.values("cell")[2] - a.values("cell")[1])
    with pytest.raises(ValueError, match="same cell and size"):
        textcompare.difference_frame(a, sentence.analyze_text(preds["gru"], "Это плохо.", grads=False), "hidden")
