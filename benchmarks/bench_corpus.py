"""Corpus recording and queries on the shipped sentiment models over the whole corpus (issue 13).

For each model, in a fresh subprocess (so its peak resident memory is its own), after one untimed pass that
warms the lemmatiser's cache: the corpus texts are encoded and run through the model in the recorder's
batches with a plain ``no_grad`` forward (the baseline: tokenising + forward, each timed apart), then recorded
to a float16 Parquet dataset with :func:`lstmviz.corpus.record.record_corpus` (a fresh folder each time);
baseline and recording alternate ``--repeats`` times in the one process and the medians are printed: both
wall times, the baseline's tokenising share, sentences per second, their ratio (target <= 2 x for every
cell, issue 24), the dataset size, the process's peak RSS and how much of it the recording added (peak after
the first recording - peak before it). ``--profile`` adds, per model, the recording's cProfile split by phase
(tokenising, the recorded forward, reading the recording, float16 conversion, table building, Parquet
writing). Then the DuckDB queries on the last model's recording (top contexts, histogram, LSTMVis match of 3
units over a 2-token span) are timed: median of 5; target <= 1 s each on the 6k-sentence corpus. The LSTM
gates ratio at large batch is ``benchmarks/bench_recorder.py``'s first section.

Usage::

    python benchmarks/bench_corpus.py [--data ../shared/data/opensentimentcorpus] [--models sentiment-rnn,...]
    python benchmarks/bench_corpus.py --sentences 1000 --repeats 3 --profile   # a quick look
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

CHILD = r"""
import cProfile, json, pstats, resource, shutil, statistics, sys, time, torch
from pathlib import Path
torch.set_num_threads(1)
from lstmviz.corpus.record import load_texts, record_corpus
from lstmviz.pipeline import Predictor, pad_sequences
ck, data, out = sys.argv[1:4]
batch, repeats, profile = int(sys.argv[4]), int(sys.argv[5]), sys.argv[6] == "1"
texts, _ = load_texts(data)
pred = Predictor.from_checkpoint(ck)
for s in texts:  # warm the lemmatiser's cache first, so neither timed pass pays for it
    try:
        pred.encode(s)
    except ValueError:
        pass


def baseline():  # the same encoding and batches as the recorder, a plain forward: (tokenising s, total s)
    tok = 0.0
    t0 = time.perf_counter()
    for a in range(0, len(texts), batch):
        t1 = time.perf_counter()
        enc = []
        for s in texts[a:a + batch]:
            try:
                enc.append(pred.encode(s).ids[0].tolist())
            except ValueError:
                pass
        tok += time.perf_counter() - t1
        if enc:
            ids, lengths = pad_sequences(enc)
            with torch.no_grad():
                pred.model(ids, lengths)
    return tok, time.perf_counter() - t0


import pyarrow.parquet  # noqa: F401  (loaded before the baseline peak, so it counts as the process, not the recording)
plain, tok, rec, before, after = [], [], [], None, None
for r in range(repeats):  # interleaved: baseline, recording, baseline, recording, ...
    t_tok, t_plain = baseline()
    tok.append(t_tok)
    plain.append(t_plain)
    if before is None:
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    shutil.rmtree(out, ignore_errors=True)
    t0 = time.perf_counter()
    m = record_corpus(ck, data, out, batch_size=batch)
    rec.append(time.perf_counter() - t0)
    if after is None:
        after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
size = sum(p.stat().st_size for p in Path(out).glob("part-*.parquet"))
phases = {}
if profile:  # one more recording under cProfile: inclusive seconds of each phase's entry point
    shutil.rmtree(out, ignore_errors=True)
    pr = cProfile.Profile()
    pr.runcall(record_corpus, ck, data, out, batch_size=batch)
    shutil.rmtree(out, ignore_errors=True)
    record_corpus(ck, data, out, batch_size=batch)  # the queries read an unprofiled dataset
    st = pstats.Stats(pr).stats
    want = {  # phase -> (file suffix, function name) of its entry point
        "tokenise (encode)": ("pipeline.py", "encode"),
        "recorded forward": ("models.py", "forward"),
        "  of which the fused kernel": ("", "KERNEL"),
        "  of which gate recompute": ("unroll.py", "forward_quantities"),
        "read rec[key] (batch-first, NaN)": ("recording.py", "__getitem__"),
        "float16 check + convert": ("record.py", "stored_values"),
        "pyarrow table": ("record.py", "token_table"),
        "parquet write": ("parquet/core.py", "write_table"),
        "open (model, texts, plan)": ("record.py", "open_recording"),
    }
    total = max(v[3] for v in st.values())
    kernels = {f"<built-in method torch.{k}>" for k in ("lstm", "gru", "rnn_tanh", "rnn_relu")}
    for phase, (suffix, fn) in want.items():  # max: pyarrow's write_table calls another write_table
        match = (lambda f, n: n in kernels) if fn == "KERNEL" else (lambda f, n: n == fn and f.endswith(suffix))
        hit = [v[3] for (f, _, n), v in st.items() if match(f, n)]
        phases[phase] = max(hit, default=0.0)
    phases["total (profiled)"] = total
print(json.dumps({"sentences": m["sentences"], "plain_s": statistics.median(plain), "tok_s": statistics.median(tok),
                  "record_s": statistics.median(rec), "bytes": size, "peak_rss_mb": after, "before_mb": before,
                  "phases": phases}))
"""


def record_models(
    data: str, models: list[str], batch: int, root: Path, repeats: int = 3, profile: bool = False
) -> dict[str, dict]:
    """Per model: the child's measurements (its dataset stays under ``root``)."""
    out = {}
    for name in models:
        args = [str(REPO / "checkpoints" / name), data, str(root / name), str(batch), str(repeats), str(int(profile))]
        proc = subprocess.run(
            [sys.executable, "-c", CHILD, *args],
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
    p.add_argument("--repeats", type=int, default=3, help="baseline/recording pairs per model, interleaved (medians)")
    p.add_argument(
        "--sentences", type=int, default=0, help="only the corpus's first N texts (0: all), for a quick look"
    )
    p.add_argument("--profile", action="store_true", help="also print where each recording's time goes (cProfile)")
    args = p.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        data = args.data
        if args.sentences > 0:  # a CSV of the first N rows (the corpus file's own columns)
            import pandas as pd

            from lstmviz.datasets import CORPUS_FILENAME

            src = Path(data) / CORPUS_FILENAME if Path(data).is_dir() else Path(data)
            data = str(root / "corpus.csv")
            pd.read_csv(src).head(args.sentences).to_csv(data, index=False)
        rows = record_models(data, args.models.split(","), args.batch_size, root, args.repeats, args.profile)
        load = os.getloadavg()[0]
        print(f"medians of {args.repeats} interleaved pairs; load average {load:.2f} on {os.cpu_count()} CPUs")
        print(
            f"{'model':<16}{'sentences':>10}{'tok s':>7}{'plain s':>9}{'record s':>10}{'sent/s':>9}{'x plain':>9}"
            f"{'MB':>7}{'peak RSS MB':>13}{'of which recording':>20}"
        )
        for name, r in rows.items():
            ratio = r["record_s"] / r["plain_s"]
            print(
                f"{name:<16}{r['sentences']:>10}{r['tok_s']:>7.2f}{r['plain_s']:>9.2f}{r['record_s']:>10.2f}"
                f"{r['sentences'] / r['record_s']:>9.0f}{ratio:>9.2f}{r['bytes'] / 2**20:>7.1f}"
                f"{r['peak_rss_mb']:>13.0f}{r['peak_rss_mb'] - r['before_mb']:>20.0f}"
                f"  target <= 2 x  {'MET' if ratio <= 2 else 'NOT MET'}"
            )
        for name, r in rows.items():
            if r["phases"]:
                print(f"where {name}'s recording goes (cProfile, inclusive seconds; profiling inflates Python):")
                for phase, sec in r["phases"].items():
                    print(f"  {phase:<36}{sec:7.2f}")
        last = args.models.split(",")[-1]
        for kind, s in query_latencies(root / last).items():
            print(f"query on {last}: {kind:<36} {s * 1e3:7.1f} ms  target <= 1000 ms  {'MET' if s <= 1 else 'NOT MET'}")


if __name__ == "__main__":
    main()
