"""Smoke test of the grid benchmark (benchmarks/bench_recorder.py --grid, issue 24): one tiny configuration.

Only the structure of a result and the naive loop's correctness are asserted, never a time or a ratio: the
targets live in the benchmark, measured on a quiet machine (timing depends on the CPU and its load).
"""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import pytest
import torch

BENCH = Path(__file__).resolve().parents[1] / "benchmarks" / "bench_recorder.py"


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location("lstmviz_bench_recorder", BENCH)
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod  # dataclasses look their module up there
    try:
        spec.loader.exec_module(mod)
        yield mod
    finally:
        sys.modules.pop(spec.name, None)


def test_grid_axes(bench):
    """The full grid is the issue's 576 configurations; labels round-trip through --profile's parser."""
    configs = bench.grid_configs(["lstm", "gru", "rnn"])
    assert len(configs) == 576 and len(set(configs)) == 576
    assert len(bench.grid_configs(["lstm"], quick=True)) == 16
    for cfg in configs[::37]:
        assert bench.GridConfig.parse(cfg.label()) == cfg
    assert bench.GridConfig.parse("gru,2,8,1,2,yes,full") == bench.GridConfig("gru", 2, 8, 1, "bi", True, "full")
    with pytest.raises(ValueError):
        bench.GridConfig.parse("lstm,1,8,1,bi,packed")


@pytest.mark.parametrize("packed", [False, True])
@pytest.mark.parametrize("cell", ["lstm", "gru", "rnn"])
def test_naive_loop_matches_module(bench, cell, packed):
    """The baseline is right: the naive loop's top-layer output equals the module's (bi, 2 layers)."""
    _, diff = bench.grid_setup(bench.GridConfig(cell, 3, 5, 2, "bi", packed, "gates"), T=9)
    assert diff <= bench.CHECK_TOL


def test_one_configuration_both_modes(bench):
    """gru B=2 H=8 L=1 bi packed, full and gates only, one repeat: rows, summary and markdown have their fields."""
    configs = [bench.GridConfig("gru", 2, 8, 1, "bi", True, mode) for mode in ("full", "gates")]
    result = bench.run_grid(configs, repeats=1, threads=torch.get_num_threads(), command="smoke", T=12, log=None)
    rows = result["rows"]
    assert [r["mode"] for r in rows] == ["full", "gates"] and [r["ref"] for r in rows] == ["G0", "M0"]
    for r in rows:
        assert r["check_ok"] and r["check_diff"] <= bench.CHECK_TOL
        assert set(r["samples_ms"]) == {"rec", "naive", r["ref"]}
        assert all(len(v) == 1 for v in r["samples_ms"].values())
        assert r["rec_ms"] > 0 and r["naive_ms"] > 0 and r["ref_ms"] > 0
        assert isinstance(r["naive_target_met"], bool)
        assert r["path"] in bench.recorder.PATHS
    assert rows[1]["g0_target_met"] is None  # gates only: the G0 target does not apply (nor to B < 8)
    s = result["summary"]
    assert s["configurations"] == 2 and s["g0_target_applies"] == 0 and s["check_failed"] == []
    assert set(s["worst"]) == {"gru full", "gru gates"}
    assert {"cpu", "torch", "threads"} <= set(result["machine"])
    assert len(result["load_start"]) == 3 and result["wall_s"] > 0
    md = bench.grid_markdown(result)
    assert md.count("\n| gru | 2 | 8 | 1 | bi | yes |") == 2 and "## Summary" in md
    json.dumps(result)  # the raw numbers are written as JSON
