"""The long-range claims: the LSTM's accumulator diagnosis, the sweep files' version 2 (variants, clipping), and the
README's sweep and diagnosis tables equal to their JSON files."""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import pytest
import torch

from lstmviz.accumulator import clip_table, init_state_table, lstm_gain, read_study, state_stats, study_markdown
from lstmviz.models import ModelConfig, RecurrentClassifier
from lstmviz.sweeps import (
    SCHEMA,
    RunSpec,
    load_sweep,
    merge_sweeps,
    run_sweep,
    summarize,
    summary_frame,
    sweep_markdown,
    write_sweep,
)
from lstmviz.trainer import clipped_fraction

ROOT = Path(__file__).resolve().parents[1]
CKPT = ROOT / "checkpoints"
RESULTS = ROOT / "results"
SWEEPS = (
    "sweep_cue_recall_lag",
    "sweep_cue_recall_lag_b4",
    "sweep_cue_recall_gate_bias",
    "sweep_adding_lag",
)


def _hand_set_lstm(i_bias: float, f_bias: float, hidden: int = 3) -> RecurrentClassifier:
    m = RecurrentClassifier(ModelConfig(cell="lstm", vocab_size=4, embed_dim=2, hidden_size=hidden))
    with torch.no_grad():
        for p in m.rnn.parameters():
            p.zero_()
        h = hidden
        m.rnn.bias_ih_l0[:h], m.rnn.bias_ih_l0[h : 2 * h], m.rnn.bias_ih_l0[2 * h : 3 * h] = i_bias, f_bias, 20.0
    return m  # every gate constant: i = sigmoid(i_bias), f = sigmoid(f_bias), g = tanh(20) = 1


@pytest.mark.parametrize("i_bias,f_bias", [(0.0, 4.0), (-4.0, 4.0), (1.0, 2.0), (0.0, 0.0)])
def test_the_diagnostic_returns_the_analytic_gain_on_hand_set_weights(i_bias, f_bias):
    i, f = 1 / (1 + math.exp(-i_bias)), 1 / (1 + math.exp(-f_bias))
    T = 400
    s = state_stats(_hand_set_lstm(i_bias, f_bias), torch.ones(2, T, dtype=torch.long), torch.tensor([T, T // 2]))
    assert s["gain"] == pytest.approx(lstm_gain(i, f), rel=1e-12) == pytest.approx(i / (1 - f), rel=1e-12)
    # c_T of a constant-gate accumulator: gain * (1 - f^T), read at each sequence's own last step
    want = [lstm_gain(i, f) * (1 - f**n) for n in (T, T // 2)]
    assert s["state_mean_abs"] == pytest.approx(sum(want) / 2, rel=1e-9)
    assert s["state_max_abs"] == pytest.approx(max(want), rel=1e-9)
    assert s["saturated"] == (1.0 if min(want) > math.atanh(0.95) else 0.0 if max(want) < math.atanh(0.95) else 0.5)


def test_the_gru_is_a_convex_combination_and_lstm_gain_validates():
    m = RecurrentClassifier(ModelConfig(cell="gru", vocab_size=5, hidden_size=4, gate_bias=4.0))
    s = state_stats(m, torch.randint(0, 5, (3, 50), generator=torch.Generator().manual_seed(0)), torch.full((3,), 50))
    assert s["gain"] == 1.0 and s["state_max_abs"] < 1.0 and s["keep"] + s["write"] == pytest.approx(1.0)
    with pytest.raises(ValueError, match="forget_gate=1.0"):
        lstm_gain(0.5, 1.0)
    with pytest.raises(ValueError, match="cell='rnn' has no gate"):
        state_stats(RecurrentClassifier(ModelConfig(cell="rnn", vocab_size=5)), torch.ones(1, 3, dtype=torch.long), [3])


def test_input_gate_bias_is_an_lstm_config_field_applied_at_every_init():
    cfg = ModelConfig(cell="lstm", vocab_size=5, hidden_size=4, num_layers=2, gate_bias=4.0, input_gate_bias=-4.0)
    for m in (RecurrentClassifier(cfg), RecurrentClassifier.seeded(cfg, 3)):
        for name, p in m.rnn.named_parameters():
            if name.startswith("bias_ih"):
                assert torch.all(p[:4] == -4.0) and torch.all(p[4:8] == 4.0), name
            elif name.startswith("bias_hh"):
                assert torch.all(p[:8] == 0.0), name
    assert ModelConfig.from_dict(cfg.to_dict()) == cfg
    plain = ModelConfig(cell="lstm", vocab_size=5, hidden_size=4, gate_bias=4.0)
    a, b = RecurrentClassifier.seeded(plain, 3), RecurrentClassifier.seeded(plain, 3)
    assert all(torch.equal(x, y) for x, y in zip(a.state_dict().values(), b.state_dict().values()))
    with pytest.raises(ValueError, match="input_gate_bias=-4.0 needs cell='lstm'"):
        ModelConfig(cell="gru", input_gate_bias=-4.0)
    with pytest.raises(ValueError, match="input_gate_bias=nan is invalid"):
        ModelConfig(cell="lstm", input_gate_bias=float("nan"))


def test_clipped_fraction_counts_the_updates_clipping_shortened():
    assert clipped_fraction([0.5, 1.5, 2.0, 1.0], 1.0) == 0.5  # equal to the threshold is not clipped
    assert clipped_fraction([5.0], None) is None and clipped_fraction([], 1.0) is None


def _tiny(tmp_path, seeds, **kw):
    specs = [
        RunSpec("cue_recall", cell, 3, None if cell == "rnn" else 1.0, s, train={"epochs": 1, "updates_per_epoch": 2})
        for cell in ("rnn", "lstm")
        for s in seeds
    ]
    specs += kw.get("extra", [])
    return run_sweep(specs, kind="lag", workers=1)


def test_merge_adds_seeds_and_variants_and_refuses_a_rerun_that_does_not_reproduce(tmp_path):
    base = _tiny(tmp_path, [0])
    train = {"epochs": 1, "updates_per_epoch": 2}
    variant = RunSpec(
        "cue_recall",
        "lstm",
        3,
        1.0,
        0,
        train=train,
        variant="lr 0.001, no clipping",
        changes={"model": {"input_gate_bias": -4.0}, "train": {"lr": 1e-3, "clip_grad_norm": None}},
    )
    more = run_sweep(
        [RunSpec("cue_recall", "lstm", 3, 1.0, s, train=train) for s in (0, 1)] + [variant], kind="lag", workers=1
    )
    merged = merge_sweeps(base, more)
    assert merged["seeds"] == [0, 1] and len(merged["runs"]) == 4  # rnn s0, lstm s0 (reran, same), lstm s1, variant
    rows = {(r["cell"], r["variant"]): r for r in merged["summary"]}
    assert rows["lstm", None]["n"] == 2 and rows["lstm", "lr 0.001, no clipping"]["n"] == 1
    v = rows["lstm", "lr 0.001, no clipping"]
    assert v["overrides"] == {"model": {"input_gate_bias": -4.0}, "train": {"lr": 1e-3, "clip_grad_norm": None}}
    assert v["clipped_mean"] is None and rows["lstm", None]["clipped_mean"] is not None
    path, md = write_sweep(merged, tmp_path / "s.json")
    text = md.read_text(encoding="utf-8")
    assert "| recipe | clipped updates (mean) |" in text and "| lr 0.001, no clipping | off |" in text
    assert load_sweep(path)["schema"] == SCHEMA
    frame = summary_frame(load_sweep(path))
    assert frame["variant"].isna().sum() == 2 and set(frame["variant"].dropna()) == {"lr 0.001, no clipping"}
    broken = json.loads(json.dumps(more))
    broken["runs"][0]["final_accuracy"] = 0.123  # a rerun that did not reproduce the stored seed
    with pytest.raises(ValueError, match="did not reproduce the stored result"):
        merge_sweeps(base, broken)
    other = {**more, "train": {**more["train"], "lr": 0.5}}
    with pytest.raises(ValueError, match="training settings differ"):
        merge_sweeps(base, other)
    with pytest.raises(ValueError, match="a variant needs a name and its changes"):
        RunSpec("cue_recall", "lstm", 3, 1.0, 0, variant="x")


def test_a_version_1_sweep_still_loads_and_summarises(tmp_path):
    old = json.loads((RESULTS / "sweep_adding_lag.json").read_text(encoding="utf-8"))
    old["schema"] = "lstmviz.sweep/1"
    for r in old["runs"]:
        for k in ("variant", "overrides", "clipped", "grad_norm_median"):
            r.pop(k, None)
    old["summary"] = [
        {k: v for k, v in r.items() if k not in ("variant", "overrides", "clipped_mean")} for r in old["summary"]
    ]
    (tmp_path / "v1.json").write_text(json.dumps(old), encoding="utf-8")
    loaded = load_sweep(tmp_path / "v1.json")
    frame = summary_frame(loaded)
    assert frame["variant"].isna().all() and len(frame) == len(old["summary"])
    assert [r["n"] for r in summarize(loaded["runs"], regress=True)] == [r["n"] for r in old["summary"]]
    assert clip_table(loaded)["unmeasured"].sum() == len(old["runs"])


def _md_table(text: str) -> str:
    return "\n".join(line for line in text.splitlines() if line.startswith("|"))


@pytest.mark.parametrize("name", SWEEPS)
def test_readme_sweep_tables_are_the_sweep_files(name):
    sweep = load_sweep(RESULTS / f"{name}.json")
    md = sweep_markdown(sweep)
    assert (RESULTS / f"{name}.md").read_text(encoding="utf-8") == md
    assert _md_table(md) in (ROOT / "README.md").read_text(encoding="utf-8"), f"README's table of {name}"
    assert sweep["seeds"] == list(range(10)), "every row of the shipped sweeps has seeds 0-9"
    assert all(r["n"] == 10 for r in sweep["summary"])


def test_readme_accumulator_table_is_the_study_file_and_the_file_is_the_diagnostic():
    data = read_study(RESULTS / "accumulator.json")
    md = study_markdown(data)
    assert (RESULTS / "accumulator.md").read_text(encoding="utf-8") == md
    assert _md_table(md) in (ROOT / "README.md").read_text(encoding="utf-8")
    cfg = data["settings"]
    for cell, input_bias in (("lstm", None), ("lstm", -4.0), ("gru", None)):
        again = init_state_table(
            cells=[cell],
            lags=[200],
            gate_bias=cfg["gate_bias"],
            input_gate_bias=input_bias,
            seeds=range(cfg["seeds"]),
            sequences=cfg["sequences"],
        ).iloc[0]
        row = next(
            r for r in data["rows"] if r["cell"] == cell and r["lag"] == 200 and r["input_gate_bias"] == input_bias
        )
        for k in ("keep", "write", "gain", "state_mean_abs", "state_max_abs", "saturated"):
            assert row[k] == pytest.approx(float(again[k]), rel=1e-6, abs=1e-9), (cell, input_bias, k)
    lstm200 = next(r for r in data["rows"] if r["cell"] == "lstm" and r["lag"] == 200 and r["input_gate_bias"] is None)
    assert lstm200["gain"] > 20 and lstm200["saturated"] > 0.5  # what the README's diagnosis says


def test_hostile_accumulator_file_is_a_clear_error(tmp_path):
    bad = tmp_path / "accumulator.json"
    bad.write_text(json.dumps({"schema": "lstmviz.accumulator/1", "settings": {}, "rows": [{"cell": "<b>x</b>"}]}))
    with pytest.raises(ValueError, match=re.escape(str(bad))):
        read_study(bad)


def test_readme_charlm_budget_table_is_its_file_and_the_file_is_the_shipped_models():
    from lstmviz.lmbudget import CELLS, best_is_last, budget_markdown, read_budget

    study = read_budget(RESULTS / "charlm_budget.json")
    md = budget_markdown(study)
    assert (RESULTS / "charlm_budget.md").read_text(encoding="utf-8") == md
    assert _md_table(md) in (ROOT / "README.md").read_text(encoding="utf-8")
    for cell in CELLS:
        meta = json.loads((CKPT / f"charlm-{cell}" / "meta.json").read_text(encoding="utf-8"))
        assert best_is_last(meta), f"charlm-{cell}: the README says its best validation point is its last"
        first = study["cells"][cell]["points"][0]
        assert first["updates"] == meta["updates"] == 3000
        assert first["test_bpc"] == meta["test_metrics"]["bpc"] and first["val_bpc"] == meta["test_metrics"]["val_bpc"]
        longer = dict(map(tuple, study["cells"][cell]["longer_history"]))
        assert longer[3000] == pytest.approx(meta["test_metrics"]["val_bpc"], abs=1e-9)  # it repeated the shipped run
    spread = study["spread"]
    assert spread[1]["test_bpc"] < spread[0]["test_bpc"]  # more updates narrowed the gap between the cells
    for k, row in enumerate(spread):
        vals = [study["cells"][c]["points"][k]["test_bpc"] for c in CELLS]
        assert row["test_bpc"] == pytest.approx(max(vals) - min(vals))


def test_how_to_read_this_quotes_the_lag_200_row_as_measured():
    from dashboard.i18n import STRINGS

    row = next(
        r
        for r in load_sweep(RESULTS / "sweep_cue_recall_lag_b4.json")["summary"]
        if r["cell"] == "lstm" and r["lag"] == 200 and r["variant"] is None
    )
    assert f"only {row['solved']} of {row['n']} seeds solve it" in STRINGS["en"]["explain.read_accumulator"]
    assert f"лишь {row['solved']} сида из {row['n']}" in STRINGS["ru"]["explain.read_accumulator"]


def test_the_readme_ranking_sentence_follows_from_the_shared_recipe_rows():
    """'the GRU's success rate is at least the LSTM's in every row of the four sweeps, and above it with
    non-overlapping 95 % intervals in three: lag 50 at bias 1, bias 2 at lag 100 and lag 200 at bias 4'."""
    from lstmviz.sweeps import wilson_interval

    apart = set()
    for name in SWEEPS:
        sweep = load_sweep(RESULTS / f"{name}.json")
        rows = {(r["cell"], r["lag"], r["gate_bias"]): r for r in sweep["summary"] if r["variant"] is None}
        for (cell, lag, bias), gru in rows.items():
            if cell != "gru":
                continue
            lstm = rows["lstm", lag, bias]
            assert gru["solved"] >= lstm["solved"], (name, lag, bias)
            if wilson_interval(gru["solved"], gru["n"])[0] > wilson_interval(lstm["solved"], lstm["n"])[1]:
                apart.add((sweep["task"], lag, bias))
    assert apart == {("cue_recall", 50, 1.0), ("cue_recall", 100, 2.0), ("cue_recall", 200, 4.0)}
