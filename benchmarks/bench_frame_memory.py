"""Memory of a recording's tidy frame: the default ``to_frame()``, the narrow one and the Arrow table.

200 sentences (lengths 5..40, seeded) run as one packed batch through an embedding (dim 32) and a 3-layer
bidirectional ``nn.LSTM`` with H=64, recorded under ``torch.no_grad()``. For each form of the frame the script
measures, each in a fresh process, the rows, ``DataFrame.memory_usage(deep=True).sum()`` (Arrow: ``Table.nbytes``),
the seconds to build it (the fastest of 3 builds: the machine is shared) and how far the first build raised the
process's peak resident memory (``ru_maxrss``: what the build needed at its worst, temporaries included); it
prints a markdown table and writes ``benchmarks/results/frame_memory.{json,md}`` (the layout of ``results/``:
the data as JSON, its markdown beside it).

"before" is ``to_frame()`` as it was built before the narrow option existed (commit ``fe70be2``'s
``Recording.to_frame``, copied below as :func:`legacy_to_frame`: one frame per key with object arrays for the
module, direction and quantity, then ``pd.concat``), so every run remakes it. Measured on that commit itself, before
the change, with this script: 10,273,536 rows, 799,623,684 bytes, 6.6-9.7 s. ``--check`` checks that the copy and
today's default give the same frame (``DataFrame.equals``: values and dtypes unchanged).

Usage::

    python benchmarks/bench_frame_memory.py [--out benchmarks/results] [--check]
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from torch import nn

import lstmviz
from lstmviz.experiments import markdown_table, write_result
from lstmviz.names import direction_name, parse_key

REPO = Path(__file__).resolve().parents[1]
SENTENCES, MIN_LEN, MAX_LEN, VOCAB, EMBED, HIDDEN, LAYERS, SEED = 200, 5, 40, 1000, 32, 64, 3, 0


def legacy_to_frame(rec) -> pd.DataFrame:
    """``Recording.to_frame()`` as built at commit fe70be2 (forward tensors only: the recording has no grads)."""
    frames = []
    for key, x in rec._forward_tensors().items():
        kp = parse_key(key)
        arr = x.numpy()
        idx = np.meshgrid(*(np.arange(n) for n in arr.shape), indexing="ij")
        vals = arr.reshape(-1)
        keep = ~np.isnan(vals)
        n = int(keep.sum())
        cols = {
            "module": np.full(n, kp.module, dtype=object),
            "layer": np.full(n, kp.layer),
            "direction": np.full(n, direction_name(kp.direction), dtype=object),
            "quantity": np.full(n, kp.quantity, dtype=object),
        }
        for name, i in zip(("batch", "step", "unit"), idx):
            cols[name] = i.reshape(-1)[keep]
        cols["value"] = vals[keep].astype(np.float64)
        frames.append(pd.DataFrame(cols))
    return pd.concat(frames, ignore_index=True)


class Tagger(nn.Module):
    """Embedding + 3-layer bidirectional LSTM: the recorded model."""

    def __init__(self) -> None:
        super().__init__()
        self.embedding = nn.Embedding(VOCAB, EMBED)
        self.lstm = nn.LSTM(EMBED, HIDDEN, num_layers=LAYERS, bidirectional=True, batch_first=True)

    def forward(self, ids: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        packed = nn.utils.rnn.pack_padded_sequence(self.embedding(ids), lengths, batch_first=True, enforce_sorted=False)
        out, _ = self.lstm(packed)
        return out


def record() -> lstmviz.Recording:
    """The 200 sentences through the model, recorded (seeded: the same rows every run)."""
    g = torch.Generator().manual_seed(SEED)
    torch.manual_seed(SEED)
    model = Tagger().eval()
    lengths = torch.randint(MIN_LEN, MAX_LEN + 1, (SENTENCES,), generator=g)  # (B,)
    ids = torch.randint(0, VOCAB, (SENTENCES, MAX_LEN), generator=g)  # (B, T)
    with torch.no_grad(), lstmviz.record(model) as rec:
        model(ids, lengths)
    return rec


FORMS = {
    "before: to_frame() at fe70be2": legacy_to_frame,
    "to_frame()": lambda rec: rec.to_frame(),
    "to_frame(narrow=True)": lambda rec: rec.to_frame(narrow=True),
    "to_arrow()": lambda rec: rec.to_arrow(),
}


REPEATS = 3  # builds per form: the peak is the first one's, the seconds the fastest (the machine is shared)


def measure(name: str) -> dict:
    """One form, built in this process after the recording: rows, bytes, fastest seconds, peak memory added."""
    rec = record()
    rec.keys()  # the recording's tensors are read (and cached) before the build is measured
    peak0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    times = []
    for i in range(REPEATS):
        t0 = time.perf_counter()
        obj = FORMS[name](rec)
        times.append(time.perf_counter() - t0)
        if i == 0:
            peak = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - peak0) * 1024
        if i < REPEATS - 1:
            del obj
    seconds = min(times)
    if isinstance(obj, pd.DataFrame):
        nbytes, rows = int(obj.memory_usage(deep=True).sum()), len(obj)
    else:  # a pyarrow Table
        nbytes, rows = int(obj.nbytes), obj.num_rows
    return {"form": name, "rows": rows, "bytes": nbytes, "peak_added_bytes": int(peak), "seconds": round(seconds, 2)}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", default=str(REPO / "benchmarks" / "results"), help="folder of frame_memory.json and .md")
    p.add_argument("--check", action="store_true", help="also check that the legacy copy equals today's default")
    p.add_argument("--form", choices=list(FORMS), help=argparse.SUPPRESS)  # the child process of one measurement
    args = p.parse_args(argv)
    torch.set_num_threads(1)
    if args.form:
        print(json.dumps(measure(args.form)))
        return 0
    rows = []
    for name in FORMS:  # a fresh process each: the peak memory of one build is not hidden by an earlier one's
        child = subprocess.run(
            [sys.executable, __file__, "--form", name], capture_output=True, text=True, check=True, cwd=REPO
        )
        rows.append(json.loads(child.stdout.strip().splitlines()[-1]))
    if args.check:
        rec = record()
        same = legacy_to_frame(rec).equals(rec.to_frame())
        print(f"legacy copy equals today's to_frame(): {same}")
        if not same:
            return 1
    base = rows[0]["bytes"]
    table = markdown_table(
        ["form", "rows", "memory (MB)", "vs before", "peak memory of the build (MB)", "seconds (fastest of 3)"],
        [
            [
                r["form"],
                f"{r['rows']:,}",
                f"{r['bytes'] / 1e6:,.1f}",
                f"{r['bytes'] / base:.2f}",
                f"{r['peak_added_bytes'] / 1e6:,.0f}",
                r["seconds"],
            ]
            for r in rows
        ],
    )
    print(table, end="")
    data = {
        "command": "python benchmarks/bench_frame_memory.py",
        "lstmviz": lstmviz.__version__,
        "torch": torch.__version__,
        "pandas": pd.__version__,
        "python": platform.python_version(),
        "setup": {
            "sentences": SENTENCES,
            "lengths": [MIN_LEN, MAX_LEN],
            "embed": EMBED,
            "hidden": HIDDEN,
            "layers": LAYERS,
            "bidirectional": True,
            "seed": SEED,
        },
        "forms": rows,
    }
    head = (
        "# Memory of a recording's tidy frame\n\n"
        f"{SENTENCES} sentences (lengths {MIN_LEN}..{MAX_LEN}, seed {SEED}) through a {LAYERS}-layer bidirectional "
        f"LSTM (H={HIDDEN}, embedding {EMBED}), recorded under no_grad; memory is "
        "`DataFrame.memory_usage(deep=True).sum()` (Arrow: `Table.nbytes`); the peak is how far building the form "
        "raised the process's peak resident memory (each form in a fresh process); seconds are the fastest of 3 builds "
        "on 2 shared cores. Written by "
        "`python benchmarks/bench_frame_memory.py`.\n\n"
    )
    write_result(Path(args.out) / "frame_memory", data, head + table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
