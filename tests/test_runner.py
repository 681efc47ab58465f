"""Tests of the multi-seed runner (lstmviz.runner): spec order, progress, refused settings, and Ray = local."""

from __future__ import annotations

import pytest

from lstmviz.runner import group_runs, mean_sd, run_specs
from lstmviz.sweeps import default_specs, run_sweep


def _tiny_specs():
    """Two runs of a sweep small enough for a test (GRU, lag 3, 2 x 3 updates)."""
    return default_specs(
        "cue_recall",
        "lag",
        cells=("gru",),
        lags=(3,),
        seeds=range(2),
        model={"hidden_size": 4, "embed_dim": 4},
        train={"epochs": 2, "updates_per_epoch": 3},
    )


def _strip(runs):
    """The runs without their wall-clock seconds."""
    return [{k: v for k, v in r.items() if k != "seconds"} for r in runs]


def test_results_come_in_spec_order_and_progress_counts_every_run():
    seen = []
    out = run_specs(dict, [{"i": 2}, {"i": 0}, {"i": 1}], workers=1, progress=lambda r, k, n: seen.append((r, k, n)))
    assert out == [{"i": 2}, {"i": 0}, {"i": 1}]
    assert seen == [({"i": 2}, 1, 3), ({"i": 0}, 2, 3), ({"i": 1}, 3, 3)]
    assert run_specs(dict, [], workers=2, engine="ray") == []  # nothing to run starts nothing


@pytest.mark.parametrize(
    ("kw", "message"),
    [
        ({"workers": 0}, "workers=0 is invalid; allowed: an integer >= 1"),
        ({"engine": "dask"}, "engine='dask' is invalid; allowed: local, ray"),
        ({"address": "auto"}, "address='auto' needs engine='ray'"),
    ],
)
def test_bad_settings_are_refused_naming_the_value(kw, message):
    with pytest.raises(ValueError, match=message):
        run_specs(dict, [{}], **kw)


def test_groups_and_mean_sd_are_the_summaries_shared_half():
    runs = [{"cell": "lstm", "x": 1.0}, {"cell": "gru", "x": 2.0}, {"cell": "lstm", "x": 3.0}]
    groups = group_runs(runs, ["cell"], order=lambda k: k[0])
    assert [(k, [r["x"] for r in rs]) for k, rs in groups] == [(("gru",), [2.0]), (("lstm",), [1.0, 3.0])]
    assert mean_sd([1.0, 3.0])[0] == 2.0 and mean_sd([5.0]) == (5.0, None)


def test_sweep_runs_are_the_same_in_worker_processes():
    """Parallel single-thread workers give the runs one process gives (private generators, no global state)."""
    specs = _tiny_specs()
    here, pool = run_sweep(specs, kind="lag", workers=1), run_sweep(specs, kind="lag", workers=2)
    assert _strip(here["runs"]) == _strip(pool["runs"]) and pool["workers"] == 2


@pytest.mark.slow
def test_ray_tasks_give_the_runs_of_local_worker_processes():
    """The same two runs as Ray tasks on ray.init(num_cpus=2) and in two local single-thread processes."""
    ray = pytest.importorskip("ray", reason="Ray is an optional extra (pip install -e .[ray])")
    specs = _tiny_specs()
    local = run_sweep(specs, kind="lag", workers=2)
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
    try:
        done = []
        remote = run_sweep(specs, kind="lag", workers=2, engine="ray", progress=lambda r, k, n: done.append((k, n)))
        assert ray.is_initialized()  # an instance the caller started is the caller's to end
    finally:
        ray.shutdown()
    assert done == [(1, 2), (2, 2)]
    assert len(remote["runs"]) == 2 and _strip(remote["runs"]) == _strip(local["runs"])
    assert [r["curve"] for r in remote["runs"]] == [r["curve"] for r in local["runs"]]  # bit for bit
    assert remote["summary"][0]["final_mean"] == local["summary"][0]["final_mean"]
