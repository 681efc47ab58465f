"""Corpus recording and queries on the shipped sentiment models over the whole corpus (issue 13).

For each model, in a fresh subprocess (so its peak resident memory is its own), after one untimed pass that
warms the lemmatiser's cache: the corpus texts are encoded and run through the model in the recorder's
batches with a plain ``no_grad`` forward (the baseline: tokenising + forward), then recorded to a float16
Parquet dataset with :func:`lstmviz.corpus.record.record_corpus`; both wall times, sentences per second,
their ratio, the dataset size, the process's peak RSS and how much of it the recording added (peak after -
peak before it) are printed. Then the DuckDB queries on the LSTM's recording
(top contexts, histogram, LSTMVis match of 3 units over a 2-token span) are timed: median of 5; target
<= 1 s each on the 6k-sentence corpus. The LSTM gates ratio at large batch is
``benchmarks/bench_recorder.py``'s first section.

Usage::

    python benchmarks/bench_corpus.py [--data ../shared/data/opensentimentcorpus] [--models sentiment-rnn,...]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

CHILD = r"""
import json, resource, sys, time, torch
from pathlib import Path
torch.set_num_threads(1)
from lstmviz.corpus.record import load_texts, record_corpus
from lstmviz.pipeline import Predictor, pad_sequences
ck, data, out, batch = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
texts, _ = load_texts(data)
pred = Predictor.from_checkpoint(ck)
for s in texts:  # warm the lemmatiser's cache first, so neither timed pass pays for it
    try:
        pred.encode(s)
    except ValueError:
        pass
t0 = time.perf_counter()
for a in range(0, len(texts), batch):  # the baseline: the same encoding and batches, a plain forward
    enc = []
    for s in texts[a:a + batch]:
        try:
            enc.append(pred.encode(s).ids[0].tolist())
        except ValueError:
            pass
    if enc:
        ids, lengths = pad_sequences(enc)
        with torch.no_grad():
            pred.model(ids, lengths)
plain = time.perf_counter() - t0
import pyarrow.parquet  # noqa: F401  (loaded before the baseline peak, so it counts as the process, not the recording)
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
t0 = time.perf_counter()
m = record_corpus(ck, data, out, batch_size=batch)
rec = time.perf_counter() - t0
size = sum(p.stat().st_size for p in Path(out).glob("part-*.parquet"))
print(json.dumps({"sentences": m["sentences"], "plain_s": plain, "record_s": rec, "bytes": size,
                  "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, "before_mb": before}))
"""


def record_models(data: str, models: list[str], batch: int, root: Path) -> dict[str, dict]:
    """Per model: the child's measurements (its dataset stays under ``root``)."""
    out = {}
    for name in models:
        proc = subprocess.run(
            [sys.executable, "-c", CHILD, str(REPO / "checkpoints" / name), data, str(root / name), str(batch)],
            capture_output=True,
            text=True,
            cwd=REPO,
            check=True,
        )
        out[name] = json.loads(proc.stdout.strip().splitlines()[-1])
    return out


def query_latencies(folder: Path, repeats: int = 5) -> dict[str, float]:
    """Median seconds of each query kind (a fresh CorpusQuery each time, as the dashboard does)."""
    from lstmviz.corpus.query import CorpusQuery

    def run(kind: str) -> None:
        q = CorpusQuery(folder)
        if kind == "top contexts":
            q.top_contexts("hidden_l0_fwd", 5, k=10)
        elif kind == "histogram":
            q.histogram("hidden_l0_fwd", 5)
        else:
            q.match("hidden_l0_fwd", [5, 7, 9], 0.3, 2, k=20)

    out = {}
    for kind in ("top contexts", "histogram", "LSTMVis match (3 units, 2 tokens)"):
        times = []
        for _ in range(repeats):
            t0 = time.perf_counter()
            run(kind)
            times.append(time.perf_counter() - t0)
        out[kind] = statistics.median(times)
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", default=str(REPO.parent / "shared" / "data" / "opensentimentcorpus"))
    p.add_argument("--models", default="sentiment-rnn,sentiment-gru,sentiment-lstm")
    p.add_argument("--batch-size", type=int, default=64)
    args = p.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        rows = record_models(args.data, args.models.split(","), args.batch_size, root)
        print(
            f"{'model':<16}{'sentences':>10}{'plain s':>9}{'record s':>10}{'sent/s':>9}{'x plain':>9}{'MB':>7}"
            f"{'peak RSS MB':>13}{'of which recording':>20}"
        )
        for name, r in rows.items():
            print(
                f"{name:<16}{r['sentences']:>10}{r['plain_s']:>9.2f}{r['record_s']:>10.2f}"
                f"{r['sentences'] / r['record_s']:>9.0f}{r['record_s'] / r['plain_s']:>9.2f}{r['bytes'] / 2**20:>7.1f}"
                f"{r['peak_rss_mb']:>13.0f}{r['peak_rss_mb'] - r['before_mb']:>20.0f}"
            )
        last = args.models.split(",")[-1]
        for kind, s in query_latencies(root / last).items():
            print(f"query on {last}: {kind:<36} {s * 1e3:7.1f} ms  target <= 1000 ms  {'MET' if s <= 1 else 'NOT MET'}")


if __name__ == "__main__":
    main()
