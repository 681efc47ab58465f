"""Multi-seed sentiment study: recurrent variants against a bag-of-words baseline.

One split of the corpus (split seed 0, stratified 80/10/10), one vocabulary, one loss (class-weighted
cross-entropy) and one trainer for everything; only the model and the training seed (initialisation,
data order, dropout) change. Each (variant, cell) is trained with seeds 0..N-1 and reported as mean ±
sd over seeds, beside the majority-class and bag-of-words baselines. The seed sd measures the
training noise on this test set; the test set's own sampling error (n ≈ 600) comes on top.

Variants (:data:`VARIANTS`, overrides of ``TASK_DEFAULTS["sentiment"]["model"]``):

* ``bow``: :class:`lstmviz.bow.BagOfWordsClassifier` (logistic regression on counts).
* ``base``: embedding 64, hidden 64, one layer (the recipe of the first shipped models).
* ``navec``: the embedding starts from the navec vectors (300 d, :mod:`lstmviz.pretrained`);
  ``navec_frozen``: the same vectors kept fixed during training.
* ``layers2``: two stacked layers. ``bidir``: bidirectional. ``navec_bidir``, ``navec_frozen_bidir``:
  pretrained (fine-tuned or fixed) and bidirectional.

The study file (schema ``lstmviz.sentiment_study/1``) holds ``runs`` (one row per trained model) and
``summary`` (one row per variant and cell), and ``decision``: which recurrent recipe has the best mean
macro-F1, and whether it beats the bag-of-words baseline by more than the larger of the two seed sds.

Example::

    specs = study_specs("../shared/data/opensentimentcorpus", seeds=range(5), navec="/tmp/navec/navec.tar")
    study = run_study(specs, workers=2)
    write_study(study, "checkpoints/sentiment_seeds")
"""

from __future__ import annotations

import os
import statistics
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lstmviz.bow import BowConfig
from lstmviz.checkpoint import library_version
from lstmviz.models import CELLS, ModelConfig
from lstmviz.sweeps import run_parallel
from lstmviz.taskdata import TASK_DEFAULTS, TaskData, prepare_sentiment
from lstmviz.trainer import TrainConfig

__all__ = ["SCHEMA", "VARIANTS", "StudySpec", "study_specs", "run_study", "study_markdown", "decide", "write_study"]

SCHEMA = "lstmviz.sentiment_study/1"
SPLIT_SEED = 0  # every run sees the same train/val/test split
VARIANTS: dict[str, dict[str, Any]] = {
    "bow": {},  # the bag-of-words baseline (no cell)
    "base": {},
    "navec": {"embed_dim": 300, "pretrained": True},
    "navec_frozen": {"embed_dim": 300, "pretrained": True, "freeze_embedding": True},
    "layers2": {"num_layers": 2},
    "bidir": {"bidirectional": True},
    "navec_bidir": {"embed_dim": 300, "pretrained": True, "bidirectional": True},
    "navec_frozen_bidir": {"embed_dim": 300, "pretrained": True, "freeze_embedding": True, "bidirectional": True},
}

_DATA_CACHE: dict[str, TaskData] = {}  # per process: the corpus is tokenised once per worker
_VECTORS_CACHE: dict[str, tuple[Any, float]] = {}


@dataclass(frozen=True)
class StudySpec:
    """One run: a variant, a cell (``"bow"`` for the baseline) and a seed.

    Example:
        >>> StudySpec("x.csv", "layers2", "gru", 0).model_config().num_layers
        2
    """

    data: str  # corpus CSV or directory
    variant: str  # a key of VARIANTS
    cell: str  # "rnn" | "gru" | "lstm", or "bow" for the baseline
    seed: int  # training seed: initialisation, data order, dropout
    navec: str | None = None  # navec tar for the pretrained variants

    def __post_init__(self) -> None:
        if self.variant not in VARIANTS:
            raise ValueError(f"variant={self.variant!r} is unknown; allowed: {', '.join(VARIANTS)}")
        allowed = ("bow",) if self.variant == "bow" else CELLS
        if self.cell not in allowed:
            raise ValueError(f"cell={self.cell!r} does not fit variant {self.variant!r}; allowed: {', '.join(allowed)}")
        if VARIANTS[self.variant].get("pretrained") and not self.navec:
            raise ValueError(f"variant {self.variant!r} needs navec= (the navec .tar file)")

    def model_config(self) -> ModelConfig | BowConfig:
        """The model config (sizes are fixed later by the data)."""
        if self.variant == "bow":
            return BowConfig()
        extra = {k: v for k, v in VARIANTS[self.variant].items() if k != "pretrained"}
        return ModelConfig.from_dict({**TASK_DEFAULTS["sentiment"]["model"], **extra, "cell": self.cell})

    def train_config(self) -> TrainConfig:
        """The shared sentiment settings, seeded and quiet."""
        return TrainConfig.from_dict({**TASK_DEFAULTS["sentiment"]["train"], "seed": self.seed, "quiet": True})


def study_specs(
    data: str | os.PathLike,
    *,
    seeds: Iterable[int] = range(5),
    variants: Sequence[str] | None = None,
    cells: Sequence[str] = CELLS,
    navec: str | os.PathLike | None = None,
) -> list[StudySpec]:
    """Every run of a study: the baseline and each variant x cell, each with every seed.

    Pretrained variants are left out when ``navec`` is None (and only then).

    Example:
        >>> len(study_specs("x.csv", seeds=range(2), variants=["bow", "base"]))
        8
    """
    seeds = list(seeds)
    if not seeds:
        raise ValueError("seeds must not be empty")
    names = list(variants or [v for v in VARIANTS if navec or not VARIANTS[v].get("pretrained")])
    nav = None if navec is None else str(navec)
    out = []
    for v in names:
        for c in ("bow",) if v == "bow" else cells:
            out += [
                StudySpec(str(data), v, c, s, nav if VARIANTS.get(v, {}).get("pretrained") else None) for s in seeds
            ]
    return out


def _data(path: str) -> TaskData:
    if path not in _DATA_CACHE:
        _DATA_CACHE[path] = prepare_sentiment(path, seed=SPLIT_SEED)
    return _DATA_CACHE[path]


def pretrained_matrix(spec: StudySpec, data: TaskData) -> tuple[Any, float] | tuple[None, None]:
    """``(matrix, coverage)`` of the navec vectors for a pretrained spec, else ``(None, None)``."""
    if not VARIANTS[spec.variant].get("pretrained"):
        return None, None
    from lstmviz.pretrained import load_vectors

    key = f"{spec.navec}|{spec.seed}"
    if key not in _VECTORS_CACHE:
        _VECTORS_CACHE[key] = load_vectors(spec.navec, data.meta["vocab"]["tokens"], seed=spec.seed)
    return _VECTORS_CACHE[key]


def run_one(spec: StudySpec, out: str | os.PathLike | None = None) -> dict[str, Any]:
    """Trains one model of the study and returns its row (``out``: also write the checkpoint)."""
    from lstmviz.experiments import train_model  # late: experiments imports the trainer stack

    t0 = time.perf_counter()
    data = _data(spec.data)
    matrix, coverage = pretrained_matrix(spec, data)
    _, meta = train_model(data, spec.model_config(), spec.train_config(), pretrained=matrix, out=out, log=None)
    tm, hist = meta["test_metrics"], meta["history"]
    best = hist[meta["best_epoch"] - 1] if hist and meta["best_epoch"] else {}
    return {
        "variant": spec.variant,
        "cell": spec.cell,
        "seed": spec.seed,
        "parameters": meta["parameters"],
        "test_accuracy": tm["accuracy"],
        "test_macro_f1": tm["macro_f1"],
        "val_macro_f1": best.get("val_f1"),
        "train_accuracy": best.get("train_acc"),
        "best_epoch": meta["best_epoch"],
        "epochs": len(hist),
        "navec_coverage": coverage,
        "majority_accuracy": tm["majority_baseline"]["accuracy"],
        "majority_macro_f1": tm["majority_baseline"]["macro_f1"],
        "n_test": tm["n"],
        "seconds": time.perf_counter() - t0,
    }


def _mean_sd(xs: Sequence[float]) -> tuple[float, float | None]:
    return statistics.fmean(xs), (statistics.stdev(xs) if len(xs) > 1 else None)


def summarize(runs: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """One row per (variant, cell): n, mean and sd of test accuracy, test macro-F1 and train accuracy.

    Example:
        >>> summarize([{"variant": "bow", "cell": "bow", "test_accuracy": .5, "test_macro_f1": .4,
        ...             "train_accuracy": .9, "parameters": 10}])[0]["f1_mean"]
        0.4
    """
    groups: dict[tuple[str, str], list[Mapping[str, Any]]] = {}
    for r in runs:
        groups.setdefault((r["variant"], r["cell"]), []).append(r)
    order = list(VARIANTS)
    rows = []
    for (v, c), rs in sorted(
        groups.items(), key=lambda kv: (order.index(kv[0][0]) if kv[0][0] in order else 99, kv[0][1])
    ):
        acc_m, acc_sd = _mean_sd([r["test_accuracy"] for r in rs])
        f1_m, f1_sd = _mean_sd([r["test_macro_f1"] for r in rs])
        tr_m, _ = _mean_sd([r["train_accuracy"] for r in rs if r.get("train_accuracy") is not None] or [float("nan")])
        rows.append(
            {
                "variant": v,
                "cell": c,
                "n": len(rs),
                "parameters": rs[0]["parameters"],
                "acc_mean": acc_m,
                "acc_sd": acc_sd,
                "f1_mean": f1_m,
                "f1_sd": f1_sd,
                "train_acc_mean": tr_m,
            }
        )
    return rows


def decide(summary: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """The recurrent (variant, cell) with the best mean macro-F1, and whether it beats the baseline.

    "Beats" means: its mean macro-F1 exceeds the bag-of-words mean by more than the larger of the
    two seed sds.

    Example:
        >>> decide([{"variant": "bow", "cell": "bow", "f1_mean": .40, "f1_sd": .01},
        ...         {"variant": "base", "cell": "gru", "f1_mean": .45, "f1_sd": .02}])["beats_baseline"]
        True
    """
    bow = next((r for r in summary if r["variant"] == "bow"), None)
    rnn = [r for r in summary if r["variant"] != "bow"]
    if not rnn:
        raise ValueError("the study has no recurrent runs")
    best = max(rnn, key=lambda r: r["f1_mean"])
    out = {"variant": best["variant"], "cell": best["cell"], "f1_mean": best["f1_mean"], "f1_sd": best["f1_sd"]}
    if bow is None:
        return {**out, "baseline_f1_mean": None, "margin": None, "needed": None, "beats_baseline": None}
    needed = max(best["f1_sd"] or 0.0, bow["f1_sd"] or 0.0)
    margin = best["f1_mean"] - bow["f1_mean"]
    return {
        **out,
        "baseline_f1_mean": bow["f1_mean"],
        "margin": margin,
        "needed": needed,
        "beats_baseline": margin > needed,
    }


def run_study(
    specs: Sequence[StudySpec],
    *,
    workers: int = 2,
    progress: Callable[[dict[str, Any], int, int], None] | None = None,
) -> dict[str, Any]:
    """Runs every spec in ``workers`` single-thread processes (1: here) and summarises.

    Returns:
        The study dict (see the module docstring).
    """
    specs = list(specs)
    if not specs:
        raise ValueError("no runs to do")
    t0 = time.perf_counter()
    # Slow recipes first, so the last minutes are not one worker alone.
    order = sorted(specs, key=lambda s: (s.variant == "bow", s.variant == "base", s.cell == "rnn"))
    runs = run_parallel(run_one, order, workers=workers, progress=progress)
    runs.sort(key=lambda r: (list(VARIANTS).index(r["variant"]), r["cell"], r["seed"]))
    summary = summarize(runs)
    first = runs[0]
    return {
        "schema": SCHEMA,
        "task": "sentiment",
        "dataset": Path(specs[0].data).name,
        "split_seed": SPLIT_SEED,
        "seeds": sorted({s.seed for s in specs}),
        "variants": {v: VARIANTS[v] for v in dict.fromkeys(s.variant for s in specs)},
        "model_defaults": TASK_DEFAULTS["sentiment"]["model"],
        "train": specs[0].train_config().to_dict() | {"seed": None},
        "majority": {"accuracy": first["majority_accuracy"], "macro_f1": first["majority_macro_f1"]},
        "n_test": first["n_test"],
        "workers": workers,
        "wall_seconds": time.perf_counter() - t0,
        "library_version": library_version(),
        "runs": runs,
        "summary": summary,
        "decision": decide(summary),
    }


def _pm(mean: float, sd: float | None) -> str:
    return f"{mean:.3f} ± {sd:.3f}" if sd is not None else f"{mean:.3f}"


def study_markdown(study: Mapping[str, Any]) -> str:
    """The study as a markdown table (mean ± sd over seeds) with the baselines and the decision."""
    from lstmviz.experiments import markdown_table

    maj = study["majority"]
    rows = [["majority class", "-", "-", f"{maj['accuracy']:.3f}", f"{maj['macro_f1']:.3f}", "-"]]
    for r in study["summary"]:
        name = "bag of words (logistic regression)" if r["variant"] == "bow" else f"{r['variant']} {r['cell']}"
        rows.append(
            [
                name,
                f"{r['parameters']:,}",
                str(r["n"]),
                _pm(r["acc_mean"], r["acc_sd"]),
                _pm(r["f1_mean"], r["f1_sd"]),
                f"{r['train_acc_mean']:.3f}",
            ]
        )
    header = ["model", "parameters", "seeds", "test accuracy", "test macro-F1", "train accuracy (best epoch)"]
    d = study["decision"]
    verdict = (
        f"Best recurrent recipe by mean macro-F1: **{d['variant']} {d['cell']}** ({_pm(d['f1_mean'], d['f1_sd'])}). "
    )
    if d["beats_baseline"] is not None:
        verdict += (
            f"Margin over the bag-of-words baseline: {d['margin']:+.3f}, needed > {d['needed']:.3f} "
            f"(the larger seed sd): **{'beats' if d['beats_baseline'] else 'does not beat'} the baseline**."
        )
    n = study["n_test"]
    note = (
        f"Test set: {n} sentences (split seed {study['split_seed']}); the binomial standard error of an "
        f"accuracy near 0.55 on it is ±{(0.55 * 0.45 / n) ** 0.5:.3f}, on top of the seed sd."
    )
    return markdown_table(header, rows) + "\n" + verdict + "\n\n" + note + "\n"


def write_study(study: Mapping[str, Any], stem: str | os.PathLike) -> tuple[Path, Path]:
    """Writes ``<stem>.json`` and ``<stem>.md`` atomically."""
    import json

    from lstmviz.experiments import write_text_atomic

    stem = Path(stem)
    stem.parent.mkdir(parents=True, exist_ok=True)
    js, md = stem.with_suffix(".json"), stem.with_suffix(".md")
    write_text_atomic(js, json.dumps(study, indent=1, ensure_ascii=False, allow_nan=False))
    write_text_atomic(md, study_markdown(study))
    return js, md
