"""The shipped cue-recall checkpoints tell the sweep's story at every lag the dashboard can produce.

They were trained on online cue recall with a random lag per batch (5-200). Their held-out test
sets per lag are rebuilt from the seeds in ``meta.json`` (the training stream rejected every one
of those sequences), and the models are scored on them here, not read from the meta.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from lstmviz.checkpoint import load_checkpoint
from lstmviz.taskdata import lag_test_sets
from lstmviz.trainer import evaluate

ROOT = Path(__file__).resolve().parents[1] / "checkpoints"
LAGS = (5, 50, 200)


def _scores(cell: str):
    path = ROOT / f"cue-{cell}"
    if not (path / "meta.json").is_file():
        pytest.skip(f"{path} is not shipped in this checkout")
    model, meta = load_checkpoint(path)
    p, ds = meta["task_params"], meta["dataset"]
    assert ds["online"] and p["lag"] <= 5 and p["lag_max"] >= 200, "trained on random lags covering 5..200"
    sets = lag_test_sets("cue_recall", p["lag"], p["lag_max"], ds["seed"], lags=LAGS,
                         params={"n_classes": p["n_classes"], "vocab_size": p["vocab_size"]})  # fmt: skip
    scores = {lag: evaluate(model.eval(), data)["accuracy"] for lag, data in sets.items()}
    for lag, acc in scores.items():  # the meta's table is what the models really score
        assert meta["test_by_lag"][str(lag)]["accuracy"] == pytest.approx(acc, abs=1e-9)
    return scores, meta, model


@pytest.mark.parametrize("cell", ["gru", "lstm"])
def test_gated_cue_models_are_right_at_every_lag(cell):
    scores, meta, model = _scores(cell)
    assert all(acc >= 0.95 for acc in scores.values()), scores
    assert model.config.gate_bias is not None and len(meta["init_fingerprint"]) == 64


def test_rnn_cue_model_learns_short_lags_only():
    """The vanilla RNN shows the textbook failure the sweeps measure: right at lag 5, near chance at 200."""
    scores, _, _ = _scores("rnn")
    assert scores[5] >= 0.95, scores
    assert scores[200] <= 0.25 + 0.1, scores
