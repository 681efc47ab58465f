"""Online long-range tasks, the float64 gradient ratio, seeded init, and fit's lack of process-wide effects."""

from __future__ import annotations

import copy
import json

import pytest
import torch
import torch.nn.functional as F
from reference import unrolled

from lstmviz.models import ModelConfig, RecurrentClassifier, init_weights, weights_fingerprint
from lstmviz.profiles import grad_profile, gradient_ratio, make_probe, per_sequence_ratios
from lstmviz.sweeps import SCHEMA, default_specs, run_sweep, sigmoid_pow, write_sweep
from lstmviz.taskdata import OnlineStream, SequenceData, _row_keys, held_out_set, prepare_online
from lstmviz.tasks import ADDING_BASELINE_MSE, adding_problem
from lstmviz.trainer import ClassifierTask, TrainConfig, fit

CUE = {"n_classes": 4, "vocab_size": 20}


def _keys(d: SequenceData) -> set[bytes]:
    return set(_row_keys(d.x, d.lengths))


def test_online_draws_never_equal_a_held_out_sequence_at_a_small_lag():
    # lag 2: only 4 * 15**2 = 900 different sequences, so 10k draws hit the held-out ones often
    data = prepare_online("cue_recall", 2, n_val=150, n_test=150, seed=3)
    held = _keys(data.val) | _keys(data.test)
    assert len(held) > 200  # a real share of the space is held out
    drawn = [data.train.draw(64) for _ in range(160)]
    assert sum(len(b) for b in drawn) >= 10_000
    assert all(not (_keys(b) & held) for b in drawn)
    assert data.train.rejected > 100  # the rejection did the work: without it collisions would occur


def test_online_streams_are_deterministic_per_seed_and_restart():
    a = OnlineStream("cue_recall", 5, lag_max=40, params=CUE, seed=7)
    b = OnlineStream("cue_recall", 5, lag_max=40, params=CUE, seed=7)
    c = OnlineStream("cue_recall", 5, lag_max=40, params=CUE, seed=8)
    xa, xb, xc = [[s.draw(16).x for _ in range(5)] for s in (a, b, c)]
    assert all(torch.equal(p, q) for p, q in zip(xa, xb))
    assert not all(p.shape == q.shape and torch.equal(p, q) for p, q in zip(xa, xc))
    assert torch.equal(a.restart().draw(16).x, xa[0])
    assert len({x.shape[1] for x in xa}) > 1  # a random lag per batch
    v1 = held_out_set("adding", 10, 32, seed=1)
    v2 = held_out_set("adding", 10, 32, seed=1)
    assert torch.equal(v1.x, v2.x) and torch.equal(v1.y, v2.y)


def test_cue_label_is_the_first_token_and_no_cue_follows():
    s = OnlineStream("cue_recall", 0, lag_max=30, params=CUE, seed=0)
    for _ in range(30):
        b = s.draw(32)
        assert torch.equal(b.x[:, 0] - 1, b.y)  # cue id = label + 1 at step 0
        rest = b.x[:, 1:]
        assert not ((rest >= 1) & (rest <= CUE["n_classes"])).any()  # no cue id after step 0
        assert (b.x[:, -1] == CUE["vocab_size"] - 1).all() and (b.lengths == b.x.shape[1]).all()
        assert b.x.shape[1] - 2 in range(0, 31)  # the lag counts the distractors


def test_mixed_lag_held_out_set_is_padded_and_valid():
    d = held_out_set("cue_recall", 5, 200, seed=2, lag_max=50, params=CUE)
    assert d.lengths.min() >= 7 and d.lengths.max() <= 52 and len(set(d.lengths.tolist())) > 10
    for i in range(len(d)):
        n = int(d.lengths[i])
        assert int(d.x[i, n - 1]) == CUE["vocab_size"] - 1 and (d.x[i, n:] == 0).all()


def test_adding_baseline_mse_is_one_sixth():
    _, y = adding_problem(10_000, 50, seed=11)
    assert float(((y - 1.0) ** 2).mean()) == pytest.approx(ADDING_BASELINE_MSE, abs=0.01)
    b = OnlineStream("adding", 20, seed=0).draw(8)
    assert b.x.shape == (8, 20, 2) and torch.allclose((b.x[..., 0] * b.x[..., 1]).sum(1), b.y)


def test_invalid_lags_are_named():
    with pytest.raises(ValueError, match=r"lag=1 is invalid for adding \(sequence length\); allowed: an integer >= 2"):
        prepare_online("adding", 1)
    with pytest.raises(ValueError, match="lag_max=3 is invalid; allowed: None or an integer >= lag"):
        prepare_online("cue_recall", 5, lag_max=3)
    with pytest.raises(ValueError, match="not an online task"):
        prepare_online("sentiment", 5)


def test_fit_leaves_threads_rng_and_determinism_alone():
    data = prepare_online("cue_recall", 4, n_val=16, n_test=16)
    model = RecurrentClassifier.seeded(
        ModelConfig(cell="lstm", vocab_size=20, embed_dim=4, hidden_size=4, num_classes=4, dropout=0.5), 0
    )  # dropout draws random numbers
    old_threads, old_det = torch.get_num_threads(), torch.are_deterministic_algorithms_enabled()
    try:
        torch.set_num_threads(1)
        torch.use_deterministic_algorithms(False)
        rng = torch.get_rng_state().clone()
        cfg = TrainConfig(epochs=2, updates_per_epoch=3, batch_size=8, probe_size=4)
        fit(model, ClassifierTask(data.train, data.val, cfg), cfg, log=None)
        assert torch.get_num_threads() == 1
        assert torch.are_deterministic_algorithms_enabled() is False
        assert torch.equal(torch.get_rng_state(), rng)
        with torch.device("cpu"):
            RecurrentClassifier.seeded(model.config, 5)  # building a seeded model draws nothing globally
        assert torch.equal(torch.get_rng_state(), rng)
    finally:
        torch.set_num_threads(old_threads)
        torch.use_deterministic_algorithms(old_det)


def test_seeded_init_keeps_the_gate_bias_and_is_reproducible():
    cfg = ModelConfig(cell="lstm", vocab_size=10, embed_dim=3, hidden_size=5, num_classes=2, gate_bias=1.5)
    a, b = RecurrentClassifier.seeded(cfg, 4), RecurrentClassifier.seeded(cfg, 4)
    assert weights_fingerprint(a) == weights_fingerprint(b) != weights_fingerprint(RecurrentClassifier.seeded(cfg, 5))
    assert torch.equal(a.rnn.bias_ih_l0[5:10], torch.full((5,), 1.5)) and not a.rnn.bias_hh_l0[5:10].any()
    init_weights(b, 9)
    assert torch.equal(b.rnn.bias_ih_l0[5:10], torch.full((5,), 1.5))


def test_equal_length_batches_skip_packing_with_the_same_outputs():
    cfg = ModelConfig(cell="gru", vocab_size=20, embed_dim=4, hidden_size=6, num_classes=4)
    model = RecurrentClassifier.seeded(cfg, 0).double().eval()
    x = torch.randint(1, 20, (5, 9), generator=torch.Generator().manual_seed(0))
    full = torch.full((5,), 9)
    padded = torch.cat([x, torch.zeros(5, 3, dtype=torch.long)], 1)  # forces the packed path
    torch.testing.assert_close(model(x, full), model(padded, full), atol=1e-12, rtol=0)


def _reference_ratio(model: RecurrentClassifier, probe: SequenceData) -> torch.Tensor:
    m = copy.deepcopy(model).double()
    xs = [m.embedding(probe.x[b]) for b in range(len(probe))]  # (T, E) each
    res = unrolled(m.rnn, xs)
    logits = m.head(res["h_n"][-1])  # (B, C)
    F.cross_entropy(logits, probe.y).backward()
    steps = res[(0, 0)]
    return torch.stack([steps[b][0]["h"].grad.norm() / steps[b][-1]["h"].grad.norm() for b in range(len(probe))])


@pytest.mark.parametrize("cell", ["rnn", "gru", "lstm"])
def test_gradient_ratio_matches_the_float64_reference(cell):
    data = prepare_online("cue_recall", 12, n_val=6, n_test=6, seed=1)
    model = RecurrentClassifier.seeded(
        ModelConfig(cell=cell, vocab_size=20, embed_dim=4, hidden_size=5, num_classes=4, gate_bias=1.0), 2
    )
    probe = make_probe(data.val, 6)
    before = weights_fingerprint(model)
    torch.testing.assert_close(per_sequence_ratios(model, probe), _reference_ratio(model, probe), rtol=1e-10, atol=0)
    assert weights_fingerprint(model) == before and all(p.grad is None for p in model.parameters())


def test_float32_underflows_where_the_float64_ratio_does_not():
    data = prepare_online("cue_recall", 300, n_val=8, n_test=8)
    model = RecurrentClassifier.seeded(
        ModelConfig(cell="rnn", vocab_size=20, embed_dim=16, hidden_size=32, num_classes=4), 0
    )
    probe = make_probe(data.val, 8)
    assert grad_profile(model, probe)[0] == 0.0  # float32: the gradient at step 0 is exactly zero
    ratio = gradient_ratio(model, probe)
    assert 0.0 < ratio < 1e-40  # float64 still tells how small it is


def test_sigmoid_pow():
    assert sigmoid_pow(0.0, 3) == pytest.approx(0.125)
    assert sigmoid_pow(None, 3) is None
    assert sigmoid_pow(1.0, 100) == pytest.approx(torch.sigmoid(torch.tensor(1.0, dtype=torch.float64)).item() ** 100)


def test_tiny_sweep_writes_the_documented_schema(tmp_path):
    specs = default_specs(
        "cue_recall",
        "lag",
        lags=(2, 4),
        seeds=range(2),
        model={"hidden_size": 4, "embed_dim": 4},
        train={"epochs": 2, "updates_per_epoch": 2},
    )
    sweep = run_sweep(specs, kind="lag", workers=1)
    path, md = write_sweep(sweep, tmp_path / "sweep_cue_recall_lag.json")
    saved = json.loads(path.read_text(encoding="utf-8"))
    assert saved["schema"] == SCHEMA and saved["kind"] == "lag" and saved["task"] == "cue_recall"
    assert saved["cells"] == ["rnn", "gru", "lstm"] and saved["lags"] == [2, 4] and saved["seeds"] == [0, 1]
    assert saved["chance"] == 0.25 and saved["budget_updates"] == 4 and saved["wall_seconds"] > 0
    assert saved["success"] == {"metric": "val_accuracy", "threshold": 0.95}
    assert len(saved["runs"]) == 12
    run_keys = {
        "cell",
        "lag",
        "gate_bias",
        "seed",
        "solved",
        "updates_to_solve",
        "updates",
        "final_accuracy",
        "final_mse",
        "grad_ratio_init",
        "variant",
        "overrides",
        "clipped",
        "grad_norm_median",
        "seconds",
        "stop_reason",
        "curve",
    }
    assert all(set(r) == run_keys for r in saved["runs"])
    assert all((r["gate_bias"] is None) == (r["cell"] == "rnn") for r in saved["runs"])
    summary_keys = {
        "cell",
        "lag",
        "gate_bias",
        "n",
        "solved",
        "success_rate",
        "median_updates_to_solve",
        "final_mean",
        "final_sd",
        "grad_ratio_init_median",
        "sigmoid_bias_pow_lag",
        "variant",
        "overrides",
        "clipped_mean",
        "seconds_mean",
    }
    assert len(saved["summary"]) == 6 and all(set(r) == summary_keys for r in saved["summary"])
    for row in saved["summary"]:
        runs = [r for r in saved["runs"] if (r["cell"], r["lag"]) == (row["cell"], row["lag"])]
        assert row["n"] == 2 and row["success_rate"] == sum(r["solved"] for r in runs) / 2
        assert row["final_mean"] == pytest.approx(sum(r["final_accuracy"] for r in runs) / 2)
    text = md.read_text(encoding="utf-8")
    assert (
        text.startswith("| cell | lag | gate bias | clipped updates (mean) | solved |")
        and "12 runs, seeds [0, 1]" in text
    )
    assert all(0.0 <= r["clipped"] <= 1.0 and r["grad_norm_median"] > 0 and r["variant"] is None for r in saved["runs"])
    bias = default_specs("cue_recall", "gate_bias", seeds=range(5))
    assert {s.cell for s in bias} == {"gru", "lstm"} and {s.gate_bias for s in bias} == {0.0, 1.0, 2.0, 4.0}
    assert {s.lag for s in bias} == {100} and len(bias) == 40


def test_load_sweep_rejects_broken_and_hostile_files(tmp_path):
    from lstmviz.sweeps import load_sweep

    cases = {
        "not_json.json": b"{oops",
        "binary.json": b"\xff\xfe\x00garbage",
        "list.json": b"[1, 2, 3]",
        "other_schema.json": json.dumps({"schema": "<b>x</b>"}).encode(),
        "deep.json": b"[" * 100_000 + b"]" * 100_000,
        "bad_rows.json": json.dumps(
            {
                "schema": SCHEMA,
                "task": "cue_recall",
                "kind": "lag",
                "runs": [],
                "summary": [{"cell": "<script>", "lag": 5}],
            }
        ).encode(),
    }
    for name, payload in cases.items():
        path = tmp_path / name
        path.write_bytes(payload)
        with pytest.raises(ValueError) as err:
            load_sweep(path)
        assert str(path) in str(err.value), name  # the message names the file
    big = tmp_path / "big.json"
    with open(big, "wb") as f:
        f.truncate(40 * 1024 * 1024)  # sparse: refused by its size before any byte is read
    with pytest.raises(ValueError, match="more than the 33,554,432 allowed"):
        load_sweep(big)
