"""Training-step cost of equal-length synthetic batches: packed (as before) vs unpacked (now).

``RecurrentClassifier.forward_embedded`` skips ``pack_padded_sequence`` when every sequence of a
batch has the full length, as the online tasks' batches do. This measures one AdamW update
(forward, backward, step) of a GRU / LSTM / RNN with hidden 32 on cue-recall batches of 64
sequences at lag 200 (T = 202), both ways, in one process (medians of interleaved repeats),
and prints the ratio packed / unpacked. The outputs of the two paths are checked to agree.

Usage::

    python benchmarks/bench_training.py [--repeats 15] [--threads 1]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time

import torch
import torch.nn.functional as F
from torch.nn.utils.rnn import pack_padded_sequence

from lstmviz.models import ModelConfig, RecurrentClassifier
from lstmviz.tasks import cue_recall


def _packed_forward(model: RecurrentClassifier, x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """The old path: always pack."""
    packed = pack_padded_sequence(model.embedding(x), lengths, batch_first=True, enforce_sorted=False)
    _, h_n = model.rnn(packed)
    h_n = h_n[0] if isinstance(h_n, tuple) else h_n
    return model.head(h_n[-1])


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--repeats", type=int, default=15)
    p.add_argument("--threads", type=int, default=1)
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    x, y = cue_recall(64, 200, seed=0)  # (64, 202)
    lengths = torch.full((64,), x.shape[1])
    print(f"one AdamW update, batch 64, T {x.shape[1]}, hidden 32, {args.threads} thread(s); medians of {args.repeats}")
    for cell in ("rnn", "gru", "lstm"):
        model = RecurrentClassifier.seeded(
            ModelConfig(cell=cell, vocab_size=20, embed_dim=16, hidden_size=32, num_classes=4), 0
        )
        torch.testing.assert_close(model(x, lengths), _packed_forward(model, x, lengths), atol=1e-5, rtol=0)
        opt = torch.optim.AdamW(model.parameters(), lr=1e-4)
        ways = {
            "packed": lambda m=model: _packed_forward(m, x, lengths),
            "unpacked": lambda m=model: m(x, lengths),
        }
        times: dict[str, list[float]] = {k: [] for k in ways}
        for i in range(args.repeats + 2):
            for name, fwd in ways.items():
                t0 = time.perf_counter()
                loss = F.cross_entropy(fwd(), y)
                opt.zero_grad()
                loss.backward()
                opt.step()
                if i >= 2:  # warm-up
                    times[name].append(time.perf_counter() - t0)
        med = {k: statistics.median(v) * 1000 for k, v in times.items()}
        print(
            f"{cell:5s} packed {med['packed']:7.1f} ms   unpacked {med['unpacked']:7.1f} ms   "
            f"packed / unpacked {med['packed'] / med['unpacked']:.2f}x"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
