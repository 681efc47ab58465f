"""Training faults end to end: a SIGKILLed run and a really diverging one, through the CLI."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from lstmviz.checkpoint import load_checkpoint

REPO = Path(__file__).resolve().parents[1]
TINY = [
    "recurrent",
    "--task",
    "cue_recall",
    "--lag",
    "8",
    "--updates-per-epoch",
    "300",
    "--stop-at",
    "0",
    "--embed",
    "8",
    "--hidden",
    "16",
    "--batch-size",
    "8",
    "--patience",
    "0",
    "--threads",
    "1",
    "--quiet",
]


def _cli(*args: str) -> subprocess.Popen:
    env = dict(os.environ, PYTHONPATH=str(REPO))
    return subprocess.Popen(
        [sys.executable, "-m", "lstmviz.train", *args],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def _epochs(out: Path) -> int:
    try:
        return len(json.loads((out / "meta.json").read_text(encoding="utf-8"))["history"])
    except (OSError, ValueError, KeyError):
        return 0


@pytest.mark.slow
def test_sigkill_mid_epoch_then_resume(tmp_path):
    out = tmp_path / "cue"
    proc = _cli(*TINY, "--epochs", "40", "--out", str(out))
    deadline = time.monotonic() + 120
    while _epochs(out) < 2 and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.05)
    time.sleep(0.15)  # somewhere inside the next epoch (or its checkpoint write)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL, "the run ended before it could be killed"
    model, meta = load_checkpoint(out)  # the previous checkpoint stays loadable
    done = len(meta["history"])
    assert done >= 2
    resumed = _cli("resume", "--out", str(out), "--epochs", str(done + 2), "--quiet", "--threads", "1")
    log, _ = resumed.communicate(timeout=300)
    assert resumed.returncode == 0, log
    _, meta2 = load_checkpoint(out)
    assert [h["epoch"] for h in meta2["history"]] == list(range(1, done + 3))
    assert meta2["history"][:done] == meta["history"]


def test_diverging_rnn_stops_with_a_clear_message_and_keeps_last_good(tmp_path):
    out = tmp_path / "div"
    first = _cli(*TINY, "--cell", "rnn", "--epochs", "2", "--out", str(out))
    log, _ = first.communicate(timeout=300)
    assert first.returncode == 0, log
    good_model, good = load_checkpoint(out)
    # continue with an absurd learning rate, decoupled weight decay and no clipping: the weights overflow
    # (Adam alone moves each weight by about lr a step, which float32 holds for a while)
    proc = _cli(
        "resume",
        "--out",
        str(out),
        "--epochs",
        "10",
        "--lr",
        "1e30",
        "--weight-decay",
        "0.01",
        "--clip",
        "0",
        "--quiet",
        "--threads",
        "1",
    )
    log, _ = proc.communicate(timeout=300)
    assert proc.returncode == 3, log
    assert "diverged" in log and "epoch 2" in log, log
    model, meta = load_checkpoint(out)
    assert meta["history"] == good["history"]
    for a, b in zip(model.parameters(), good_model.parameters()):
        assert a.isfinite().all() and (a == b).all()
