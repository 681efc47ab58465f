"""The lab's job settings and the verdict on measured presets (dashboard/jobs.py, no streamlit)."""

from __future__ import annotations

import pandas as pd
import pytest

from dashboard.jobs import PRESETS, LabConfig, preset_verdict


def _runs(rnn, gru, lstm, rnn_final=0.26):
    rows = []
    for seed in range(3):
        for cell, solved, final in (("rnn", rnn, rnn_final), ("gru", gru, 1.0), ("lstm", lstm, 1.0)):
            rows.append({"seed": seed, "cell": cell, "final": final, "solved_at": solved, "seconds": 5.0})
    return pd.DataFrame(rows)


def test_preset_verdicts():
    cfg = PRESETS["separate"]
    assert preset_verdict(_runs(None, 100, 200), cfg) == ("separates", 15.0)
    assert preset_verdict(_runs(300, 100, 200, rnn_final=0.99), cfg)[0] == "all_solve"
    assert preset_verdict(_runs(None, None, 200), cfg)[0] == "mixed"  # the GRU failed
    assert preset_verdict(_runs(None, 100, 200, rnn_final=0.6), cfg)[0] == "mixed"  # RNN unsolved but not at chance
    assert preset_verdict(_runs(None, 100, 200).query("cell != 'lstm'"), cfg)[0] == "mixed"
    assert preset_verdict(pd.DataFrame(columns=["seed", "cell", "final", "solved_at", "seconds"]), cfg)[0] == "mixed"


def test_lab_config_validation_and_trainer_settings():
    with pytest.raises(ValueError, match="task='sentiment' is invalid"):
        LabConfig(task="sentiment")
    with pytest.raises(ValueError, match="lag=1 is invalid; allowed: an integer >= 2"):
        LabConfig(task="adding", lag=1)
    with pytest.raises(ValueError, match="cells="):
        LabConfig(cells=("rnn", "transformer"))
    cfg = LabConfig(updates=120, updates_per_epoch=50)
    tc = cfg.train_config()
    assert cfg.epochs == 3 and tc.epochs == 3 and tc.track_grad_ratio and tc.stop_at == 0.95
    assert cfg.model_config("gru").gate_bias == cfg.gate_bias and cfg.total_updates == 450
    assert LabConfig(task="adding", lag=50).stop_at == 0.01
