"""Measures the Long-range lab's presets: do they separate RNN from GRU and LSTM, and how fast?

Runs every preset of ``dashboard.jobs.PRESETS`` through the lab's own :class:`JobManager` (the
code path a lecturer's click takes) for seeds 0..N-1, with torch on one thread as the dashboard
sets it, one job after another (the lab runs one job per server). Per run it keeps each cell's
final held-out score, the update at which it succeeded (None: never) and its seconds, and
writes ``results/lab_presets.json`` (read by the lab page) and a markdown table beside it.

A preset "separates" when, on every seed, the RNN ends unsolved within 0.1 of chance (cue
recall) while GRU and LSTM succeed; "all_solve" when every cell succeeds on every seed
(``dashboard.jobs.preset_verdict``). The target is a whole job in at most 90 s on 2 cores.

Usage::

    python benchmarks/lab_presets.py [--seeds 3] [--presets separate,short,adding] [--out results]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from dataclasses import asdict, replace
from pathlib import Path

import pandas as pd
import torch

from dashboard.jobs import PRESETS, JobManager, preset_verdict
from lstmviz.experiments import markdown_table, write_text_atomic

REPO = Path(__file__).resolve().parents[1]

TARGET_SECONDS = 90.0  # a whole preset job (three cells) on 2 cores


def _final(history: list[dict], cell: str, task: str) -> float:
    score = "mse" if task == "adding" else "acc"
    rows = [h for h in history if h["model"] == cell and h["split"] == "held_out" and h["metric"] == score]
    return max(rows, key=lambda h: h["updates"])["value"]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seeds", type=int, default=3)
    p.add_argument("--presets", default=",".join(PRESETS))
    p.add_argument("--out", default=str(REPO / "results"), help="folder of lab_presets.json and .md")
    args = p.parse_args(argv)
    torch.set_num_threads(1)  # as dashboard/app.py sets it
    jm = JobManager()
    runs, jobs = [], []
    for name in args.presets.split(","):
        for seed in range(args.seeds):
            cfg = replace(PRESETS[name], seed=seed)
            t0 = time.perf_counter()
            jm.start(cfg)
            snap = jm.wait()
            wall = time.perf_counter() - t0
            if snap["state"] != "done":
                print(f"{name} seed {seed}: job ended {snap['state']}: {snap['error']}", file=sys.stderr)
                return 1
            jobs.append({"preset": name, "seed": seed, "seconds": wall})
            for cell in cfg.cells:
                runs.append(
                    {
                        "preset": name,
                        "seed": seed,
                        "cell": cell,
                        "final": _final(snap["history"], cell, cfg.task),
                        "solved_at": snap["solved"][cell],
                        "seconds": snap["seconds"][cell],
                    }
                )
                print(
                    f"{name} seed {seed} {cell}: final {runs[-1]['final']:.3f} solved_at {runs[-1]['solved_at']} "
                    f"{runs[-1]['seconds']:.1f} s",
                    flush=True,
                )
    frame = pd.DataFrame(runs)
    verdicts = {}
    for name in args.presets.split(","):
        verdict, secs = preset_verdict(frame[frame["preset"] == name], PRESETS[name])
        verdicts[name] = {"verdict": verdict, "max_job_seconds": secs, "within_target": secs <= TARGET_SECONDS}
    out = Path(args.out)
    result = {
        "presets": {n: asdict(PRESETS[n]) for n in verdicts},
        "verdicts": verdicts,
        "target_seconds": TARGET_SECONDS,
        "torch_threads": 1,
        "machine": {"cpu": platform.processor() or platform.machine(), "cores": os.cpu_count()},
        "jobs": jobs,
        "runs": runs,
    }
    write_text_atomic(out / "lab_presets.json", json.dumps(result, indent=1))
    body = [
        [r["preset"], r["seed"], r["cell"], f"{r['final']:.3f}", r["solved_at"] or "-", f"{r['seconds']:.1f}"]
        for r in runs
    ]
    verdict_rows = [[n, v["verdict"], f"{v['max_job_seconds']:.0f}", v["within_target"]] for n, v in verdicts.items()]
    text = (
        markdown_table(["preset", "seed", "cell", "final held-out", "solved at update", "seconds"], body)
        + "\n"
        + markdown_table(
            ["preset", "verdict over the seeds", "slowest job (s)", f"≤ {TARGET_SECONDS:.0f} s"], verdict_rows
        )
    )
    write_text_atomic(out / "lab_presets.md", text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
