"""Property tests: random cells, sizes, layers, directions, layouts, lengths and dtypes.

Whatever hypothesis draws, the recording equals the unrolled reference and no
hook or swapped forward is left behind.
"""

from __future__ import annotations

import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_recorder_exact import make_module, run_and_compare
from test_recorder_safety import leftovers

configs = st.fixed_dictionaries(
    {
        "kind": st.sampled_from(["lstm", "gru", "rnn_tanh", "rnn_relu"]),
        "I": st.integers(1, 4),
        "H": st.integers(1, 5),
        "L": st.integers(1, 3),
        "bidir": st.booleans(),
        "batch_first": st.booleans(),
        "bias": st.booleans(),
        "proj": st.integers(0, 2),
        "lengths": st.lists(st.integers(1, 6), min_size=1, max_size=4),
        "packed": st.booleans(),
        "init": st.booleans(),
        "seed": st.integers(0, 2**16),
    }
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(cfg=configs)
def test_random_configurations_match_reference(cfg):
    proj = cfg["proj"] if cfg["kind"] == "lstm" and cfg["proj"] < cfg["H"] else 0
    m = make_module(
        cfg["kind"],
        n_in=cfg["I"],
        H=cfg["H"],
        L=cfg["L"],
        bidir=cfg["bidir"],
        batch_first=cfg["batch_first"],
        bias=cfg["bias"],
        proj=proj,
        seed=cfg["seed"],
    )
    lengths = cfg["lengths"] if cfg["packed"] else [max(cfg["lengths"])] * len(cfg["lengths"])
    run_and_compare(m, lengths, packed=cfg["packed"], init=cfg["init"], seed=cfg["seed"])
    assert leftovers(m) == []


@settings(max_examples=25, deadline=None)
@given(
    kind=st.sampled_from(["lstm", "gru", "rnn_tanh"]),
    T=st.integers(1, 12),
    B=st.integers(1, 3),
    dtype=st.sampled_from([torch.float32, torch.float64]),
)
def test_float32_and_float64_states_equal_module_outputs(kind, T, B, dtype):
    import lstmviz

    m = make_module(kind, n_in=3, H=4, L=2, bidir=True, dtype=dtype)
    x = torch.randn(B, T, 3, dtype=dtype)
    out0, _ = m(x)
    with lstmviz.record(m) as rec:
        out1, _ = m(x)
    tol = 1e-5 if dtype == torch.float32 else 1e-10
    torch.testing.assert_close(out1, out0, atol=tol, rtol=0)
    torch.testing.assert_close(torch.cat((rec["l1.hidden"], rec["l1.rev.hidden"]), -1), out0, atol=tol, rtol=0)
    assert rec["l0.hidden"].dtype == dtype
    assert leftovers(m) == []
