"""Cost of the connectivity matrix ‖∂ loss_t / ∂ x_s‖ (lstmviz.connectivity): one batched backward against
T separate backward passes, relative to a plain forward of the same sequence.

Models: the shipped character models (a T-character text) and the bidirectional tagger (a T-word
sentence). For each, the median of ``--repeats`` runs of: a forward under ``no_grad``; ``connectivity``
(one ``torch.autograd.grad`` with ``is_grads_batched``: a vmap over the T one-hot cotangents); and the
definition, a Python loop of T ``torch.autograd.grad`` calls on a fresh forward each. The two matrices
are also compared (max abs difference). Ratios come from one run, so they hold on any machine.

Usage::

    python benchmarks/bench_connectivity.py [--root checkpoints] [--chars 60] [--words 30] [--repeats 5]
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import torch
import torch.nn.functional as F

from lstmviz.charlm import encode_chars
from lstmviz.checkpoint import load_checkpoint
from lstmviz.connectivity import connectivity
from lstmviz.tagger import encode_words, indices

REPO = Path(__file__).resolve().parents[1]

TEXT = (
    "Мне очень понравился этот фильм, но конец был слабым, а музыка — лучше всего, что я слышал в кино за год. "
    "Владимир Путин прилетел в Казань, а «Газпром» снова поднял цены на газ для Европы и Азии."
)


def _median(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def _loop(model, x: torch.Tensor, head: str | None) -> torch.Tensor:
    """The definition: one backward per output step."""
    rows = []
    for t in range(x.shape[1]):
        xt = x.detach().clone().requires_grad_(True)
        logits = (model.forward_embedded(xt) if head is None else model.forward_embedded(xt, head=head))[0]
        loss = F.cross_entropy(logits[t : t + 1], logits[t : t + 1].argmax(-1))
        rows.append(torch.autograd.grad(loss, xt)[0][0].norm(dim=-1))
    return torch.stack(rows)


def bench(root: Path, chars: int, words: int, repeats: int) -> list[dict]:
    """One row per model: T, forward ms, batched ms, loop ms, ratios, max difference."""
    rows = []
    cases = []
    for cell in ("rnn", "gru", "lstm"):
        path = root / f"charlm-{cell}"
        if (path / "meta.json").is_file():
            model, meta = load_checkpoint(path)
            ids = encode_chars(TEXT[:chars], meta["chars"]).unsqueeze(0)  # (1, T)
            cases.append((path.name, model, ids, (lambda m, i=ids: m(i)), None))
    path = root / "tagger-lstm"
    if (path / "meta.json").is_file():
        model, meta = load_checkpoint(path)
        from lstmviz.tagger import tokenize

        w, c = encode_words([t for t, _, _ in tokenize(TEXT)][:words], *indices(meta))
        cases.append((path.name, model, (w, c), (lambda m, w=w, c=c: m(w, c)), "pos"))
    for name, model, inputs, forward, head in cases:
        x = model.embed(*inputs) if isinstance(inputs, tuple) else model.embedding(inputs)  # (1, T, E)
        with torch.no_grad():
            t_fwd = _median(lambda f=forward, m=model: f(m), repeats)
        batched = connectivity(model, inputs, head=head)
        t_batched = _median(lambda m=model, i=inputs, h=head: connectivity(m, i, head=h), repeats)
        loop = _loop(model, x, head)
        t_loop = _median(lambda m=model, x=x, h=head: _loop(m, x, h), max(1, repeats // 2))
        rows.append(
            {
                "model": name,
                "T": x.shape[1],
                "forward_ms": 1e3 * t_fwd,
                "batched_ms": 1e3 * t_batched,
                "loop_ms": 1e3 * t_loop,
                "batched_x_forward": t_batched / t_fwd,
                "loop_x_batched": t_loop / t_batched,
                "max_abs_diff": float((batched - loop).abs().max()),
            }
        )
    return rows


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--root", type=Path, default=REPO / "checkpoints")
    p.add_argument("--chars", type=int, default=60, help="characters of text for the language models (default 60)")
    p.add_argument("--words", type=int, default=30, help="words of text for the tagger (default 30)")
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--threads", type=int, default=1, help="torch threads (the dashboard uses 1)")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    print(
        f"{'model':<14}{'T':>4}{'forward ms':>12}{'batched ms':>12}{'loop ms':>10}{'batched/fwd':>13}"
        f"{'loop/batched':>14}{'max |diff|':>12}"
    )
    for r in bench(args.root, args.chars, args.words, args.repeats):
        print(
            f"{r['model']:<14}{r['T']:>4}{r['forward_ms']:>12.2f}{r['batched_ms']:>12.1f}{r['loop_ms']:>10.1f}"
            f"{r['batched_x_forward']:>13.1f}{r['loop_x_batched']:>14.2f}{r['max_abs_diff']:>12.1e}"
        )


if __name__ == "__main__":
    main()
