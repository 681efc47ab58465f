"""Server-side latency of one sentence in the Gradients view (uncached path).

Measures, for a 30-token Russian sentence and the three checkpoints ``sentiment-{rnn,gru,lstm}``:
analysis (prefix probabilities, recording with gradients through time, saliency) of every
model, the Pascanu bound, the tidy frames, every figure of the view and their JSON
serialisation (what ``st.plotly_chart`` sends). Caches are bypassed; the median of the
repeats is compared with the 150 ms budget.

Usage::

    python benchmarks/bench_dashboard.py [--root checkpoints] [--repeats 15] [--threads 1]

When the root lacks the three checkpoints, tiny random ones (hidden 8) are written to a
temporary directory and used instead (the output says so).
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import torch

from lstmviz import plots, sentence
from lstmviz.gradcompare import compare_gradients
from lstmviz.pipeline import Predictor

REPO = Path(__file__).resolve().parents[1]

BUDGET_MS = 150.0
SENTENCE = (
    "Я вырос во Франции и много лет прожил в Париже , потом переехал в Москву , долго учился и работал , "
    "путешествовал по всему миру , но до сих пор я свободно и с удовольствием говорю по-французски"
)


def gradient_view_work(preds: dict[str, Predictor], text: str) -> int:
    """Everything the Gradients view computes for one sentence (the same compare_gradients); returns JSON bytes."""
    runs = {name: sentence.analyze_text(p, text, grads=True) for name, p in preds.items()}
    cmp = compare_gradients(runs)
    first = next(iter(runs.values()))
    figs = [
        plots.grad_norm_curves(cmp.curves, "step", first.tokens, cmp.drawn_bounds, value="norm_rel"),
        plots.grad_norm_curves(cmp.curves, "distance", None, cmp.drawn_bounds, value="norm_rel"),
        plots.reach_curves(cmp.reach),
    ]
    for a in runs.values():
        sal = plots.colored_text_data(a.tokens, a.saliency)
        figs.append(plots.colored_text_figure(sal, 0.0, cmp.saliency_max or None, "Reds"))
    if not cmp.forget.empty:
        figs.append(plots.forget_product_figure(cmp.forget, first.tokens))
    return sum(len(f.to_json()) for f in figs)


def main() -> None:
    """Runs the benchmark and prints one line per statistic."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--root", default=str(REPO / "checkpoints"), help="checkpoint root")
    ap.add_argument("--repeats", type=int, default=15, help="timed repeats (after 2 warm-ups)")
    ap.add_argument(
        "--threads", type=int, default=1, help="torch intra-op threads (the dashboard sets 1, see dashboard/app.py)"
    )
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    root = Path(args.root)
    source = str(root)
    if not all((root / f"sentiment-{c}" / "meta.json").is_file() for c in ("rnn", "gru", "lstm")):
        from lstmviz.testing import make_tiny_checkpoints

        root = make_tiny_checkpoints(tempfile.mkdtemp(prefix="lstmviz-bench-"))
        source = f"{root} (tiny random checkpoints: {args.root} lacks sentiment-{{rnn,gru,lstm}})"
    preds = {f"sentiment-{c}": Predictor.from_checkpoint(root / f"sentiment-{c}") for c in ("rnn", "gru", "lstm")}
    n_tokens = len(next(iter(preds.values())).encode(SENTENCE).tokens)
    for _ in range(2):
        size = gradient_view_work(preds, SENTENCE)
    times = []
    for _ in range(args.repeats):
        t0 = time.perf_counter()
        gradient_view_work(preds, SENTENCE)
        times.append((time.perf_counter() - t0) * 1000)
    med = statistics.median(times)
    hidden = {n: p.model.config.hidden_size for n, p in preds.items()}
    print(f"checkpoints: {source}")
    print(
        f"models: {hidden} (hidden size); sentence: {n_tokens} tokens; figure JSON: {size / 1024:.0f} KiB; "
        f"torch threads: {torch.get_num_threads()}"
    )
    print(
        f"gradient view, 3 models, uncached: median {med:.1f} ms, min {min(times):.1f} ms, "
        f"max {max(times):.1f} ms over {len(times)} repeats"
    )
    print(f"within {BUDGET_MS:.0f} ms budget: {'yes' if med <= BUDGET_MS else 'NO'}")


if __name__ == "__main__":
    main()
