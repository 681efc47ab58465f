"""Short concurrency soak in CI: 4 browser sessions typing different sentences for 20 s.

Runs ``benchmarks/soak.py`` (see its docstring; the full run is
``python benchmarks/soak.py --sessions 20 --seconds 60``) against its own server with tiny
random checkpoints, and requires 0 exceptions, 0 cross-talk (no session ever shows another
session's tokens) and 0 value mismatches against the serial library recomputation. The
figures (latency percentiles, server RSS) are printed, not asserted.
"""

from __future__ import annotations

import importlib.util
import sys

import pytest

from dashboard import e2e

pytestmark = [
    pytest.mark.browser,
    pytest.mark.slow,
    pytest.mark.skipif(e2e.chromium_missing() is not None, reason=e2e.chromium_missing() or ""),
]

SESSIONS, SECONDS = 4, 20  # the CI size; the benchmark default is 20 sessions x 60 s


def _soak_module():
    spec = importlib.util.spec_from_file_location("lstmviz_soak", e2e.REPO / "benchmarks" / "soak.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses resolve annotations through sys.modules
    spec.loader.exec_module(module)
    return module


def test_concurrent_sessions_see_only_their_own_text(tmp_path):
    soak = _soak_module()
    root = e2e.tiny_checkpoints(tmp_path)
    figures = soak.run_soak(sessions=SESSIONS, seconds=SECONDS, root=root, checkpoint="sentiment-lstm")
    print("\n" + soak.summary(figures))
    assert figures["exceptions"] == 0, figures["exception_samples"]
    assert figures["cross_talk"] == 0, figures["cross_talk_samples"]
    assert figures["value_mismatches"] == 0, figures["mismatch_samples"]
    assert all(n >= 1 for n in figures["results_per_session"]), figures["results_per_session"]
