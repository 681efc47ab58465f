"""Multi-seed sentiment study: recurrent variants against baselines without word order, with test-set intervals.

One split of the corpus (split seed 0, stratified 80/10/10), one vocabulary, one loss (class-weighted
cross-entropy) and one trainer (:func:`lstmviz.trainer.fit`, the sentiment settings of ``TASK_DEFAULTS``) for
everything; only the model and the training seed (initialisation, data order, dropout) change. Each (variant, cell)
is trained with seeds 0..N-1 and reported as mean ± sd over seeds, beside the majority class and three baselines.

Baselines (:data:`BASELINES`; linear models without word order, each trained like every other row):

* ``bow``: :class:`lstmviz.bow.BagOfWordsClassifier` (logistic regression on token counts).
* ``meanvec``: :class:`lstmviz.meanvec.MeanVectorClassifier` on the mean of the same frozen navec vectors the
  pretrained variants read (unknown words: the same seeded random rows, :func:`lstmviz.pretrained.load_vectors`).
* ``bowvec``: the counts concatenated with that mean ("bag of words + vectors").

Recurrent variants (:data:`VARIANTS`, overrides of ``TASK_DEFAULTS["sentiment"]["model"]``): ``base`` (embedding
64, hidden 64, one layer); ``navec`` (the embedding starts from the 300-d navec vectors, :mod:`lstmviz.pretrained`)
and ``navec_frozen`` (the same vectors kept fixed); ``layers2`` (two stacked layers); ``bidir`` (bidirectional);
``navec_bidir`` and ``navec_frozen_bidir`` (pretrained, fine-tuned or fixed, and bidirectional).

**Choosing the recipe.** :func:`decide` picks the recurrent (variant, cell) with the best mean *validation*
macro-F1 over its seeds (the validation score at each run's best epoch, which early stopping also used); the test
set plays no part in the choice. ``decision["chosen_by"]`` records the metric.

**Intervals.** Every run stores its test predictions (one digit, the label id, per test sentence, in test order)
and the file stores the true labels once, so each interval can be recomputed from the file alone
(:func:`study_intervals`). Two rows A and B (each a recipe with its seeds) are compared by

    diff = mean over A's seeds of score(A_s) - mean over B's seeds of score(B_s)

(score: macro-F1 over the 4 classes, or accuracy): the difference of the two seed means of the table. Its
interval is the paired percentile bootstrap of :mod:`lstmviz.metrics` (10,000 resamples, seed 0, 95 %): a
resample draws the test sentences with replacement, *every* run of both rows is scored on that same resample and
``diff`` is recomputed; the interval is the 2.5th and 97.5th percentile of those values. It measures how much the
difference of the seed-averaged scores depends on which test sentences were drawn, with the trained seeds held
fixed (the seed-to-seed spread is the table's sd, not part of the interval). Where A and B have the same seeds,
``diff`` is also the mean over seeds of the paired per-seed differences. "A beats B" is said only where the
interval lies above 0 (``beats`` = +1; -1: below 0; 0: it contains 0, no claim). Each interval is a 95 % interval
on its own: there is no correction for the number of comparisons. The shipped checkpoints
(``sentiment-{rnn,gru,lstm,bow}``) are predicted on the same test split (:func:`shipped_predictions`) and compared
the same way, as rows of one run each.

**The file** (schema :data:`SCHEMA`): ``runs`` (one row per trained model, with ``test_predictions``), ``summary``
(one row per variant and cell), ``decision``, ``test_labels``, ``shipped`` and ``intervals`` (``study`` and
``shipped`` comparisons), ``parts`` (the commands that computed its runs: :func:`run_study` with ``previous``
extends a file; a run already in it is not trained again, or, when it has no predictions yet, trained again and
checked field by field against the stored row, which it must reproduce exactly).

Example::

    specs = study_specs("../shared/data/opensentimentcorpus", seeds=range(10), variants=["bow", "meanvec"],
                        navec="/tmp/navec/navec.tar")
    study = run_study(specs, workers=1, previous=read_study("results/sentiment_seeds.json"))
    write_study(study, "results/sentiment_seeds")
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from lstmviz.bow import BowConfig
from lstmviz.checkpoint import library_version
from lstmviz.meanvec import MeanVecConfig
from lstmviz.metrics import (
    LEVEL,
    RESAMPLES,
    SEED,
    accuracy_from_confusion,
    confusion_counts,
    macro_f1_from_confusion,
    paired_bootstrap,
)
from lstmviz.models import CELLS, ModelConfig
from lstmviz.runner import group_runs, mean_sd, run_specs
from lstmviz.taskdata import TASK_DEFAULTS, TaskData, prepare_sentiment
from lstmviz.trainer import TrainConfig

__all__ = [
    "BASELINES",
    "BASELINE_NAMES",
    "CHECKED_FIELDS",
    "METRICS",
    "SCHEMA",
    "SHIPPED",
    "VARIANTS",
    "StudySpec",
    "compare",
    "decide",
    "decode_labels",
    "encode_labels",
    "finish_study",
    "main_table",
    "merge_runs",
    "read_study",
    "readme_tables",
    "run_study",
    "shipped_intervals",
    "shipped_predictions",
    "study_intervals",
    "study_markdown",
    "study_run",
    "study_specs",
    "summarize",
    "write_study",
]

SCHEMA = "lstmviz.sentiment_study/2"
READABLE_SCHEMAS = ("lstmviz.sentiment_study/1", SCHEMA)  # /1: the five-seed file, runs without predictions
SPLIT_SEED = 0  # every run sees the same train/val/test split
VARIANTS: dict[str, dict[str, Any]] = {
    "bow": {},  # the bag-of-words baseline (no cell)
    "meanvec": {"embed_dim": 300, "pretrained": True},  # a linear model on the mean of the fixed navec vectors
    "bowvec": {"embed_dim": 300, "pretrained": True, "counts": True},  # counts and that mean, one linear model
    "base": {},
    "navec": {"embed_dim": 300, "pretrained": True},
    "navec_frozen": {"embed_dim": 300, "pretrained": True, "freeze_embedding": True},
    "layers2": {"num_layers": 2},
    "bidir": {"bidirectional": True},
    "navec_bidir": {"embed_dim": 300, "pretrained": True, "bidirectional": True},
    "navec_frozen_bidir": {"embed_dim": 300, "pretrained": True, "freeze_embedding": True, "bidirectional": True},
}
BASELINES: dict[str, str] = {"bow": "bow", "meanvec": "meanvec", "bowvec": "bowvec"}  # variant -> its only "cell"
BASELINE_NAMES = {
    "bow": "bag of words (logistic regression)",
    "meanvec": "mean of navec vectors (logistic regression)",
    "bowvec": "bag of words + mean of navec vectors",
}
SHIPPED = ("rnn", "gru", "lstm", "bow")  # checkpoints/sentiment-<name>, compared in `intervals.shipped`
# Fields a run that is trained again must reproduce exactly before it joins a stored file.
CHECKED_FIELDS = (
    "parameters",
    "test_accuracy",
    "test_macro_f1",
    "val_macro_f1",
    "train_accuracy",
    "best_epoch",
    "epochs",
    "navec_coverage",
    "majority_accuracy",
    "majority_macro_f1",
    "n_test",
)

_DATA_CACHE: dict[str, TaskData] = {}  # per process: the corpus is tokenised once per worker
_VECTORS_CACHE: dict[str, tuple[Any, float]] = {}


@dataclass(frozen=True)
class StudySpec:
    """One run: a variant, a cell (a baseline's own name for a baseline) and a seed.

    Example:
        >>> StudySpec("x.csv", "layers2", "gru", 0).model_config().num_layers
        2
        >>> StudySpec("x.csv", "bowvec", "bowvec", 0, navec="nv.tar").model_config().counts
        True
    """

    data: str  # corpus CSV or directory
    variant: str  # a key of VARIANTS
    cell: str  # "rnn" | "gru" | "lstm", or the baseline's name (BASELINES) for a baseline
    seed: int  # training seed: initialisation, data order, dropout (and the random rows of unknown words)
    navec: str | None = None  # navec tar for the pretrained variants

    def __post_init__(self) -> None:
        if self.variant not in VARIANTS:
            raise ValueError(f"variant={self.variant!r} is unknown; allowed: {', '.join(VARIANTS)}")
        allowed = (BASELINES[self.variant],) if self.variant in BASELINES else CELLS
        if self.cell not in allowed:
            raise ValueError(f"cell={self.cell!r} does not fit variant {self.variant!r}; allowed: {', '.join(allowed)}")
        if isinstance(self.seed, bool) or not isinstance(self.seed, int) or self.seed < 0:
            raise ValueError(f"seed={self.seed!r} is invalid; allowed: an integer >= 0")
        if VARIANTS[self.variant].get("pretrained") and not self.navec:
            raise ValueError(f"variant {self.variant!r} needs navec= (the navec .tar file)")

    def model_config(self) -> ModelConfig | BowConfig | MeanVecConfig:
        """The model config (vocabulary and class counts are fixed later by the data)."""
        extra = {k: v for k, v in VARIANTS[self.variant].items() if k != "pretrained"}
        if self.variant == "bow":
            return BowConfig()
        if self.variant in BASELINES:
            return MeanVecConfig(**extra)
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
    """Every run of a study: each baseline and each variant x cell, each with every seed.

    Pretrained variants (the navec baselines too) are left out when ``navec`` is None (and only then).

    Example:
        >>> len(study_specs("x.csv", seeds=range(2), variants=["bow", "base"]))
        8
    """
    seeds = list(seeds)
    if not seeds:
        raise ValueError("seeds must not be empty")
    names = list(variants or [v for v in VARIANTS if navec or not VARIANTS[v].get("pretrained")])
    unknown = [v for v in names if v not in VARIANTS]
    if unknown:
        raise ValueError(f"variants {unknown} are unknown; allowed: {', '.join(VARIANTS)}")
    nav = None if navec is None else str(navec)
    out = []
    for v in names:
        for c in (BASELINES[v],) if v in BASELINES else cells:
            out += [StudySpec(str(data), v, c, s, nav if VARIANTS[v].get("pretrained") else None) for s in seeds]
    return out


def _data(path: str) -> TaskData:
    if path not in _DATA_CACHE:
        _DATA_CACHE[path] = prepare_sentiment(path, seed=SPLIT_SEED)
    return _DATA_CACHE[path]


def pretrained_matrix(spec: StudySpec, data: TaskData) -> tuple[Any, float] | tuple[None, None]:
    """``(matrix, coverage)`` of the navec vectors for a pretrained spec, else ``(None, None)``.

    Example:
        >>> pretrained_matrix(StudySpec("x.csv", "bow", "bow", 0), data=None)
        (None, None)
    """
    if not VARIANTS[spec.variant].get("pretrained"):
        return None, None
    from lstmviz.pretrained import load_vectors

    key = f"{spec.navec}|{spec.seed}"
    if key not in _VECTORS_CACHE:
        _VECTORS_CACHE[key] = load_vectors(spec.navec, data.meta["vocab"]["tokens"], seed=spec.seed)
    return _VECTORS_CACHE[key]


def encode_labels(ids: Iterable[int]) -> str:
    """Label ids (0..9) as one string, a digit per item: how the file stores predictions and test labels.

    Example:
        >>> encode_labels([0, 3, 1]), decode_labels("031").tolist()
        ('031', [0, 3, 1])
    """
    ids = [int(i) for i in ids]
    if any(not 0 <= i <= 9 for i in ids):
        raise ValueError("label ids must lie in 0..9 to be stored one digit each")
    return "".join(map(str, ids))


def decode_labels(s: str) -> np.ndarray:
    """Inverse of :func:`encode_labels`: an int64 array.

    Example:
        >>> decode_labels("20").dtype
        dtype('int64')
    """
    if not isinstance(s, str) or not s.isdigit() or not s.isascii():
        raise ValueError(f"stored labels must be a non-empty string of digits, got {str(s)[:40]!r}")
    return np.frombuffer(s.encode("ascii"), dtype=np.uint8).astype(np.int64) - ord("0")


def _train_meanvec(spec: StudySpec, data: TaskData, matrix: Any) -> tuple[Any, dict[str, Any]]:
    """A mean-of-vectors baseline trained by the same trainer and settings as every other row."""
    from lstmviz.datasets import majority_baseline
    from lstmviz.meanvec import MeanVectorClassifier
    from lstmviz.pretrained import apply_embedding
    from lstmviz.trainer import ClassifierTask, evaluate, fit

    counts = spec.model_config().counts
    dim = int(matrix.shape[1])  # the width of the vectors (navec: 300)
    cfg = MeanVecConfig(vocab_size=data.vocab_size, num_classes=len(data.labels), embed_dim=dim, counts=counts)
    model = apply_embedding(MeanVectorClassifier.seeded(cfg, spec.seed), matrix)
    tc = spec.train_config()
    result = fit(model, ClassifierTask(data.train, data.val, tc), tc, log=None)
    ev = evaluate(model, data.test, batch_size=tc.eval_batch_size)
    maj = majority_baseline(data.train.y.tolist(), data.test.y.tolist())
    meta = {
        "parameters": sum(p.numel() for p in model.parameters()),
        "test_metrics": {
            "accuracy": ev["accuracy"],
            "macro_f1": ev["macro_f1"],
            "n": ev["n"],
            "majority_baseline": maj,
        },
        "history": result.history,
        "best_epoch": result.best_epoch,
    }
    return model, meta


def study_run(spec: StudySpec, out: str | os.PathLike | None = None) -> dict[str, Any]:
    """Trains one model of the study and returns its row (``out``: also write the checkpoint; not for meanvec/bowvec).

    Example:
        >>> spec = StudySpec("../shared/data/opensentimentcorpus", "bow", "bow", 0)
        >>> study_run(spec)["test_macro_f1"]  # doctest: +SKIP
        0.4562381912265914
    """
    from lstmviz.experiments import train_model  # late: experiments imports the trainer stack
    from lstmviz.trainer import evaluate

    t0 = time.perf_counter()
    data = _data(spec.data)
    matrix, coverage = pretrained_matrix(spec, data)
    if isinstance(spec.model_config(), MeanVecConfig):
        if out is not None:
            raise ValueError(f"variant {spec.variant!r} is not saved as a checkpoint; pass out=None")
        model, meta = _train_meanvec(spec, data, matrix)
    else:
        model, meta = train_model(data, spec.model_config(), spec.train_config(), pretrained=matrix, out=out, log=None)
    tm, hist = meta["test_metrics"], meta["history"]
    predictions = evaluate(model, data.test, batch_size=spec.train_config().eval_batch_size)["predictions"]
    if sum(int(p == y) for p, y in zip(predictions, data.test.y.tolist())) != round(tm["accuracy"] * tm["n"]):
        raise RuntimeError(f"{spec}: the stored predictions disagree with the test accuracy")  # never seen
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
        "test_predictions": encode_labels(predictions),
    }


def _row_order(variant: str, cell: str) -> tuple[int, str]:
    order = list(VARIANTS)
    return (order.index(variant) if variant in order else len(order), cell)


def summarize(runs: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """One row per (variant, cell): seeds, and mean and sd of validation and test macro-F1, test accuracy.

    Example:
        >>> summarize([{"variant": "bow", "cell": "bow", "seed": 0, "test_accuracy": .5, "test_macro_f1": .4,
        ...             "val_macro_f1": .45, "train_accuracy": .9, "parameters": 10}])[0]["f1_mean"]
        0.4
    """
    rows = []
    for (v, c), rs in group_runs(runs, ("variant", "cell"), order=lambda k: _row_order(*k)):
        acc_m, acc_sd = mean_sd([r["test_accuracy"] for r in rs])
        f1_m, f1_sd = mean_sd([r["test_macro_f1"] for r in rs])
        vals = [r["val_macro_f1"] for r in rs if r.get("val_macro_f1") is not None]
        val_m, val_sd = mean_sd(vals) if len(vals) == len(rs) else (None, None)
        tr_m, _ = mean_sd([r["train_accuracy"] for r in rs if r.get("train_accuracy") is not None] or [float("nan")])
        rows.append(
            {
                "variant": v,
                "cell": c,
                "n": len(rs),
                "seeds": sorted(r["seed"] for r in rs) if all("seed" in r for r in rs) else None,
                "parameters": rs[0]["parameters"],
                "acc_mean": acc_m,
                "acc_sd": acc_sd,
                "f1_mean": f1_m,
                "f1_sd": f1_sd,
                "val_f1_mean": val_m,
                "val_f1_sd": val_sd,
                "train_acc_mean": tr_m,
            }
        )
    return rows


def _key(r: Mapping[str, Any]) -> str:
    return f"{r['variant']} {r['cell']}"


def _find(comparisons: Sequence[Mapping[str, Any]], a: str, b: str, metric: str) -> Mapping[str, Any] | None:
    return next((c for c in comparisons if c["a"] == a and c["b"] == b and c["metric"] == metric), None)


def decide(summary: Sequence[Mapping[str, Any]], comparisons: Sequence[Mapping[str, Any]] = ()) -> dict[str, Any]:
    """The recurrent (variant, cell) with the best mean *validation* macro-F1, and its intervals against the baselines.

    Args:
        summary: From :func:`summarize`.
        comparisons: From :func:`study_intervals` (``intervals["study"]``); without them the verdicts are None.

    Returns:
        ``variant``, ``cell``, ``chosen_by`` ("val_macro_f1"), its validation and test means and sds, ``test_choice``
        (the row test macro-F1 would have chosen, for the record), ``vs_baselines`` (per baseline present: macro-F1
        ``diff``, ``lo``, ``hi``, ``beats``) and ``beats_baseline`` (the bag-of-words interval lies above 0; None
        without an interval).

    Example:
        >>> d = decide([{"variant": "bow", "cell": "bow", "f1_mean": .40, "f1_sd": .01, "val_f1_mean": .41},
        ...             {"variant": "base", "cell": "gru", "f1_mean": .45, "f1_sd": .02, "val_f1_mean": .44},
        ...             {"variant": "base", "cell": "rnn", "f1_mean": .47, "f1_sd": .02, "val_f1_mean": .43}])
        >>> d["cell"], d["chosen_by"], d["test_choice"], d["beats_baseline"]
        ('gru', 'val_macro_f1', 'base rnn', None)
    """
    rnn = [r for r in summary if r["variant"] not in BASELINES]
    if not rnn:
        raise ValueError("the study has no recurrent runs")
    missing = [_key(r) for r in rnn if r.get("val_f1_mean") is None]
    if missing:
        raise ValueError(f"rows {missing} have no validation macro-F1 to choose on")
    best = max(rnn, key=lambda r: r["val_f1_mean"])
    out: dict[str, Any] = {
        "variant": best["variant"],
        "cell": best["cell"],
        "chosen_by": "val_macro_f1",
        "val_f1_mean": best["val_f1_mean"],
        "val_f1_sd": best.get("val_f1_sd"),
        "f1_mean": best["f1_mean"],
        "f1_sd": best["f1_sd"],
        "test_choice": _key(max(rnn, key=lambda r: r["f1_mean"])),
        "vs_baselines": {},
    }
    for r in summary:
        if r["variant"] in BASELINES:
            c = _find(comparisons, _key(best), _key(r), "macro_f1")
            iv = {k: c[k] for k in ("lo", "hi", "beats")} if c else {"lo": None, "hi": None, "beats": None}
            out["vs_baselines"][r["variant"]] = {"f1_mean": r["f1_mean"], "diff": best["f1_mean"] - r["f1_mean"], **iv}
    bow = out["vs_baselines"].get("bow")
    out["beats_baseline"] = None if bow is None or bow["beats"] is None else bow["beats"] == 1
    return out


# --------------------------------------------------------------------------- intervals


def _mean_over_runs(score: Callable[[np.ndarray], np.ndarray], k: int) -> Callable[[np.ndarray], np.ndarray]:
    """A score of ``(R, S*k*k)`` counts (S runs side by side) -> the mean over the S runs of each run's score."""

    def mean_score(counts: np.ndarray) -> np.ndarray:
        counts = np.atleast_2d(counts)
        r, d = counts.shape
        return score(counts.reshape(r * (d // (k * k)), k * k)).reshape(r, -1).mean(axis=1)

    return mean_score


METRICS = {"macro_f1": macro_f1_from_confusion, "accuracy": accuracy_from_confusion}


def compare(
    a: Sequence[str],
    b: Sequence[str],
    y_true: str,
    k: int,
    metric: str = "macro_f1",
    *,
    resamples: int = RESAMPLES,
    seed: int = SEED,
    level: float = LEVEL,
) -> dict[str, Any]:
    """Row A (its runs' stored predictions) minus row B: mean over runs of the score, paired bootstrap over sentences.

    Args:
        a, b: Stored predictions (:func:`encode_labels`) of each run of the two rows, all on the test set
            ``y_true``.
        y_true: The stored true labels.
        k: Number of classes.
        metric: "macro_f1" or "accuracy".
        resamples, seed, level: See :mod:`lstmviz.metrics`.

    Returns:
        :func:`lstmviz.metrics.paired_bootstrap`'s dict with its scores ``a``, ``b`` renamed ``a_score``,
        ``b_score`` (the mean over each row's runs), plus ``metric``.

    Example:
        >>> c = compare(["0101", "0111"], ["1111", "1111"], "0101", 2, "accuracy", resamples=200)
        >>> c["a_score"], c["b_score"], c["diff"], c["metric"]
        (0.875, 0.5, 0.375, 'accuracy')
    """
    if metric not in METRICS:
        raise ValueError(f"metric={metric!r} is unknown; allowed: {', '.join(METRICS)}")
    if not a or not b:
        raise ValueError("both rows need at least one run with predictions")
    truth = decode_labels(y_true)

    def counts(preds: Sequence[str]) -> np.ndarray:
        blocks = []
        for p in preds:
            p = decode_labels(p)
            if p.shape != truth.shape:
                raise ValueError(f"{p.size} predictions for {truth.size} test sentences")
            blocks.append(confusion_counts(truth, p, k))
        return np.hstack(blocks)  # (n, S*k*k): the runs side by side

    score = _mean_over_runs(METRICS[metric], k)
    out = paired_bootstrap(counts(a), counts(b), score, resamples=resamples, seed=seed, level=level)
    return {"metric": metric, "a_score": out.pop("a"), "b_score": out.pop("b"), **out}


def _planned(summary: Sequence[Mapping[str, Any]], recipe: Mapping[str, Any] | None) -> list[tuple[str, str, str, str]]:
    """(group, A, B, metric) of every comparison the study reports, for the rows present."""
    keys = [_key(r) for r in summary]
    mean = {_key(r): r["f1_mean"] for r in summary}
    rnn = [k for k in keys if k.split()[0] not in BASELINES]
    base = [f"{b} {b}" for b in BASELINES if f"{b} {b}" in keys]
    plan: list[tuple[str, str, str, str]] = []
    if recipe is not None:
        best = _key(recipe)
        for b in base:
            plan += [("recipe vs baselines", best, b, "macro_f1"), ("recipe vs baselines", best, b, "accuracy")]
        cells = [k for k in rnn if k.split()[0] == recipe["variant"]]
        for i, x in enumerate(cells):  # each pair once, the higher test mean first
            for y in cells[i + 1 :]:
                hi, lo = (x, y) if mean[x] >= mean[y] else (y, x)
                plan.append(("cells of the recipe", hi, lo, "macro_f1"))
        for x in cells:
            plan += [("cells of the recipe vs baselines", x, b, "macro_f1") for b in base if x != best]
    for x, y in (("bowvec bowvec", "bow bow"), ("meanvec meanvec", "bow bow"), ("bowvec bowvec", "meanvec meanvec")):
        if x in keys and y in keys:
            plan.append(("baselines", x, y, "macro_f1"))
    for c in CELLS:
        for v in ("navec", "navec_frozen"):
            if f"{v} {c}" in keys and f"base {c}" in keys:
                plan.append(("pretrained vs not", f"{v} {c}", f"base {c}", "macro_f1"))
    if "bow bow" in keys:
        done = {(a, b) for _, a, b, m in plan if m == "macro_f1"}
        plan += [
            ("every recurrent row vs bag of words", x, "bow bow", "macro_f1") for x in rnn if (x, "bow bow") not in done
        ]
    return plan


def study_intervals(study: Mapping[str, Any], **kw: Any) -> list[dict[str, Any]]:
    """Every comparison of :func:`_planned` whose two rows have predictions for all their runs.

    ``kw``: resamples, seed, level (see :mod:`lstmviz.metrics`).

    Example:
        >>> study_intervals(read_study("results/sentiment_seeds.json"))[0]["group"]  # doctest: +SKIP
        'recipe vs baselines'
    """
    runs, y_true, k = study["runs"], study.get("test_labels"), len(study.get("labels") or [])
    if not y_true or not k:
        return []
    preds: dict[str, list[str] | None] = {}
    seeds: dict[str, list[int]] = {}
    for r in runs:
        key = _key(r)
        if preds.get(key, []) is None or not r.get("test_predictions"):
            preds[key] = None  # a row is compared only when every one of its runs has predictions
        else:
            preds.setdefault(key, []).append(r["test_predictions"])
        seeds.setdefault(key, []).append(r["seed"])
    out = []
    for group, a, b, metric in _planned(study["summary"], study.get("decision")):
        if preds.get(a) and preds.get(b):
            c = compare(preds[a], preds[b], y_true, k, metric, **kw)
            out.append({"group": group, "a": a, "b": b, "seeds_a": sorted(seeds[a]), "seeds_b": sorted(seeds[b]), **c})
    return out


def shipped_predictions(root: str | os.PathLike, data: str | os.PathLike) -> dict[str, dict[str, Any]]:
    """Test-set predictions of the shipped ``<root>/sentiment-{rnn,gru,lstm,bow}`` on the study's split.

    Each checkpoint is loaded by :func:`lstmviz.checkpoint.load_checkpoint`; the test split is rebuilt with its own
    stored text pipeline and vocabulary (:mod:`lstmviz.pipeline`'s encoding), checked against the stored corpus
    sha256 and split seed, and must give the stored test accuracy and macro-F1 again.

    Raises:
        ValueError: when a checkpoint was trained on other data, another split or labels, or scores differently now.

    Example:
        >>> shipped_predictions("checkpoints", "../shared/data/opensentimentcorpus")["gru"]["seed"]  # doctest: +SKIP
        2
    """
    from lstmviz.checkpoint import load_checkpoint
    from lstmviz.text import TextPipeline
    from lstmviz.trainer import evaluate
    from lstmviz.vocab import Vocab

    out, splits = {}, {}
    for name in SHIPPED:
        path = Path(root) / f"sentiment-{name}"
        model, meta = load_checkpoint(path)
        ds = meta.get("dataset") or {}
        if meta.get("task") != "sentiment" or ds.get("split_seed") != SPLIT_SEED:
            raise ValueError(f"{path}: not a sentiment model on split seed {SPLIT_SEED} (task {meta.get('task')!r})")
        how = json.dumps([meta.get("pipeline"), meta["vocab"]], sort_keys=True)  # one encoding per pipeline + vocab
        if how not in splits:
            splits[how] = prepare_sentiment(
                data,
                seed=SPLIT_SEED,
                pipeline=TextPipeline.from_dict(meta.get("pipeline") or {}),
                vocab=Vocab.from_dict(meta["vocab"]),
            )
        d = splits[how]
        if d.meta["dataset"]["sha256"] != ds.get("sha256") or list(d.labels) != list(meta["labels"]):
            raise ValueError(f"{path} was trained on other data or labels than {data}")
        ev = evaluate(model, d.test, batch_size=(meta.get("train_config") or {}).get("eval_batch_size", 256))
        tm = meta["test_metrics"]
        if abs(ev["accuracy"] - tm["accuracy"]) > 1e-6 or abs(ev["macro_f1"] - tm["macro_f1"]) > 1e-9:
            raise ValueError(f"{path}: test scores now {ev['accuracy']}/{ev['macro_f1']}, stored {tm['accuracy']}")
        out[name] = {
            "checkpoint": f"sentiment-{name}",
            "seed": meta.get("init_seed"),
            "cell": meta.get("cell") or name,
            "freeze_embedding": bool((meta.get("config") or {}).get("freeze_embedding")),
            "test_accuracy": ev["accuracy"],
            "test_macro_f1": ev["macro_f1"],
            "test_labels": encode_labels(d.test.y.tolist()),
            "test_predictions": encode_labels(ev["predictions"]),
        }
    return out


def shipped_intervals(shipped: Mapping[str, Mapping[str, Any]], k: int, **kw: Any) -> list[dict[str, Any]]:
    """Shipped GRU, LSTM and RNN each against the shipped bag of words, and the cells pairwise (macro-F1, accuracy).

    Example:
        >>> s = {n: {"test_labels": "0101", "test_predictions": p} for n, p in (("gru", "0101"), ("bow", "0000"))}
        >>> [(c["a"], c["b"], c["metric"]) for c in shipped_intervals(s, 2, resamples=100)]
        [('sentiment-gru', 'sentiment-bow', 'macro_f1'), ('sentiment-gru', 'sentiment-bow', 'accuracy')]
    """
    labels = {s["test_labels"] for s in shipped.values()}
    if len(labels) > 1:
        raise ValueError("the shipped checkpoints were scored on different test sets")
    cells = [c for c in ("gru", "lstm", "rnn") if c in shipped]
    plan = [(c, "bow", m) for c in cells if "bow" in shipped for m in ("macro_f1", "accuracy")]
    plan += [(x, y, "macro_f1") for i, x in enumerate(cells) for y in cells[i + 1 :]]
    out = []
    for a, b, metric in plan:
        pa, pb = shipped[a]["test_predictions"], shipped[b]["test_predictions"]
        c = compare([pa], [pb], next(iter(labels)), k, metric, **kw)
        out.append({"group": "shipped", "a": f"sentiment-{a}", "b": f"sentiment-{b}", **c})
    return out


# --------------------------------------------------------------------------- running and merging


def merge_runs(
    previous: Sequence[Mapping[str, Any]], new: Sequence[Mapping[str, Any]]
) -> tuple[list[dict[str, Any]], int]:
    """The runs of a stored file extended by new ones; a run in both must reproduce the stored row exactly.

    A stored row is kept as it is; what the new run adds (its test predictions) joins it.

    Returns:
        ``(runs, checked)``: ``checked`` counts the stored rows that were reproduced.

    Raises:
        ValueError: naming the run and the field, where a trained-again run differs from its stored row.

    Example:
        >>> old = [{"variant": "bow", "cell": "bow", "seed": 0, "test_accuracy": 0.5}]
        >>> runs, checked = merge_runs(old, [{**old[0], "test_predictions": "01"}])
        >>> runs[0]["test_predictions"], checked
        ('01', 1)
    """
    by_key = {(r["variant"], r["cell"], r["seed"]): dict(r) for r in previous}
    checked = 0
    for r in new:
        key = (r["variant"], r["cell"], r["seed"])
        if key in by_key:
            old = by_key[key]
            for f in CHECKED_FIELDS:
                if f in old and old[f] != r.get(f):
                    raise ValueError(
                        f"run {' '.join(map(str, key))}: {f} = {r.get(f)!r} now, {old[f]!r} stored; the run no longer "
                        "reproduces the stored file (another recipe, library or thread count?)"
                    )
            old.update({k: v for k, v in r.items() if k not in old})
            checked += 1
        else:
            by_key[key] = dict(r)
    runs = sorted(by_key.values(), key=lambda r: (*_row_order(r["variant"], r["cell"]), r["seed"]))
    return runs, checked


def read_study(path: str | os.PathLike) -> dict[str, Any]:
    """A study file written by :func:`write_study` (schema /1 or /2).

    Raises:
        ValueError: for another schema or a file without runs.

    Example:
        >>> read_study("results/sentiment_seeds.json")["schema"]  # doctest: +SKIP
        'lstmviz.sentiment_study/2'
    """
    study = json.loads(Path(path).read_text(encoding="utf-8"))
    if not isinstance(study, dict) or study.get("schema") not in READABLE_SCHEMAS:
        got = study.get("schema") if isinstance(study, dict) else type(study).__name__
        raise ValueError(f"{path}: schema {got!r} is not a sentiment study; allowed: {', '.join(READABLE_SCHEMAS)}")
    if not isinstance(study.get("runs"), list) or not study["runs"]:
        raise ValueError(f"{path} holds no runs")
    return study


def _parts(previous: Mapping[str, Any] | None) -> list[dict[str, Any]]:
    if previous is None:
        return []
    if "parts" in previous:
        return list(previous["parts"])
    return [  # a schema /1 file: one command (possibly several merged by hand), no predictions
        {
            "variants": list(previous.get("variants") or {}),
            "seeds": previous.get("seeds"),
            "workers": previous.get("workers"),
            "wall_seconds": previous.get("wall_seconds"),
            "library_version": previous.get("library_version"),
            "trained": len(previous["runs"]),
            "predictions": False,
        }
    ]


def finish_study(
    runs: Sequence[Mapping[str, Any]],
    *,
    head: Mapping[str, Any],
    shipped: Mapping[str, Mapping[str, Any]] | None = None,
) -> dict[str, Any]:
    """Summary, decision (on validation) and every interval of a set of runs; ``head``: the file's other entries.

    Example:
        >>> finish_study(runs, head={"labels": labels, "test_labels": y})["decision"]["chosen_by"]  # doctest: +SKIP
        'val_macro_f1'
    """
    summary = summarize(runs)
    study: dict[str, Any] = {**head, "runs": list(runs), "summary": summary}
    recurrent = any(r["variant"] not in BASELINES for r in summary)  # a study of baselines only chooses nothing
    study["decision"] = decide(summary) if recurrent else None  # the choice needs no test score
    comparisons = study_intervals(study)
    study["decision"] = decide(summary, comparisons) if recurrent else None  # with the verdicts
    shipped = dict(shipped or head.get("shipped") or {})
    study["shipped"] = shipped
    study["intervals"] = {
        "method": "paired percentile bootstrap over test sentences; A - B = mean over A's seeds of the score minus "
        "mean over B's seeds; every run of both rows scored on each resample (lstmviz.sentiment_study)",
        "resamples": RESAMPLES,
        "seed": SEED,
        "level": LEVEL,
        "study": comparisons,
        "shipped": shipped_intervals(shipped, len(study.get("labels") or [])) if shipped else [],
    }
    return study


def run_study(
    specs: Sequence[StudySpec],
    *,
    workers: int = 2,
    progress: Callable[[dict[str, Any], int, int], None] | None = None,
    previous: Mapping[str, Any] | None = None,
    shipped: Mapping[str, Mapping[str, Any]] | None = None,
    engine: str = "local",
    address: str | None = None,
) -> dict[str, Any]:
    """Runs every spec through the multi-seed runner (:func:`lstmviz.runner.run_specs`), merges and summarises.

    Args:
        specs: From :func:`study_specs`.
        workers: Parallel single-thread processes (1: here), or the CPUs of a private local Ray.
        progress: Called with each finished run, the count done and the total.
        previous: A stored study (:func:`read_study`) to extend: its runs are kept; a spec already in it with
            predictions is not trained again, one without is trained again and must reproduce the stored row
            (:func:`merge_runs`).
        shipped: :func:`shipped_predictions` (default: the previous file's).
        engine: "local" (worker processes) or "ray" (Ray tasks; the same runs).
        address: ``engine="ray"``: a running Ray cluster; None starts a private local one.

    Returns:
        The study dict (see the module docstring).

    Example:
        >>> run_study(study_specs("x.csv", variants=["bow"], seeds=[0]), workers=1)  # doctest: +SKIP
    """
    specs = list(specs)
    if not specs:
        raise ValueError("no runs to do")
    old = {(r["variant"], r["cell"], r["seed"]): r for r in (previous or {}).get("runs", [])}
    todo = [s for s in specs if not (old.get((s.variant, s.cell, s.seed)) or {}).get("test_predictions")]
    t0 = time.perf_counter()
    # Slow recipes first, so the last minutes are not one worker alone.
    order = sorted(todo, key=lambda s: (s.variant in BASELINES, s.variant == "base", s.cell == "rnn"))
    new = run_specs(study_run, order, workers=workers, engine=engine, address=address, progress=progress)
    runs, checked = merge_runs(list(old.values()), new)
    data = _data(specs[0].data)
    train = specs[0].train_config().to_dict() | {"seed": None}
    if previous is not None:
        for name, mine in (("train", train), ("model_defaults", TASK_DEFAULTS["sentiment"]["model"])):
            theirs = previous.get(name) or {}
            differ = sorted(k for k in set(theirs) & set(mine) if theirs[k] != mine[k])
            if differ:
                raise ValueError(f"the stored study used other {name} settings ({', '.join(differ)}); not merged")
        if previous.get("test_labels") not in (None, encode_labels(data.test.y.tolist())):
            raise ValueError("the stored study has another test set; not merged")
    variants = dict.fromkeys([*(previous or {}).get("variants", {}), *(s.variant for s in specs)])
    first = runs[0]
    part = {
        "variants": list(dict.fromkeys(s.variant for s in specs)),
        "seeds": sorted({s.seed for s in specs}),
        "workers": workers,
        "wall_seconds": time.perf_counter() - t0,
        "library_version": library_version(),
        "trained": len(new),
        "reproduced": checked,
        "predictions": True,
    }
    head = {
        "schema": SCHEMA,
        "task": "sentiment",
        "dataset": Path(specs[0].data).name,
        "split_seed": SPLIT_SEED,
        "seeds": {v: sorted(r["seed"] for r in runs if r["variant"] == v) for v in variants},
        "variants": {v: VARIANTS[v] for v in sorted(variants, key=list(VARIANTS).index)},
        "model_defaults": TASK_DEFAULTS["sentiment"]["model"],
        "train": train,
        "majority": {"accuracy": first["majority_accuracy"], "macro_f1": first["majority_macro_f1"]},
        "n_test": first["n_test"],
        "labels": list(data.labels),
        "test_labels": encode_labels(data.test.y.tolist()),
        "parts": [*_parts(previous), part],
        "library_version": library_version(),
    }
    if shipped is None and previous is not None:
        shipped = previous.get("shipped")
    if shipped and any(s["test_labels"] != head["test_labels"] for s in shipped.values()):
        raise ValueError("the shipped checkpoints were scored on another test set than the study's")
    return finish_study(runs, head=head, shipped=shipped)


# --------------------------------------------------------------------------- tables


def _pm(mean: float | None, sd: float | None) -> str:
    if mean is None:
        return "-"
    return f"{mean:.3f} ± {sd:.3f}" if sd is not None else f"{mean:.3f}"


def _name(key: str) -> str:
    v = key.split()[0]
    return BASELINE_NAMES[v] if v in BASELINES and key == f"{v} {v}" else key


def _signed(x: float) -> str:
    return f"{x:+.3f}".replace("-", "−")


def _verdict(c: Mapping[str, Any]) -> str:
    if c["beats"] == 1:
        return "A better"
    return "B better" if c["beats"] == -1 else "no claim (contains 0)"


def _interval_table(comparisons: Sequence[Mapping[str, Any]], *, seeds: bool = True) -> str:
    from lstmviz.experiments import markdown_table

    header = ["A", "B", "metric", *(["seeds"] if seeds else []), "A", "B", "A − B", "95 % interval", "verdict"]
    rows = []
    for c in comparisons:
        n = [f"{len(c['seeds_a'])} / {len(c['seeds_b'])}"] if seeds else []
        metric = "macro-F1" if c["metric"] == "macro_f1" else "accuracy"
        rows.append(
            [_name(c["a"]), _name(c["b"]), metric, *n, f"{c['a_score']:.3f}", f"{c['b_score']:.3f}"]
            + [_signed(c["diff"]), f"[{_signed(c['lo'])}, {_signed(c['hi'])}]", _verdict(c)]
        )
    return markdown_table(header, rows)


def main_table(study: Mapping[str, Any]) -> str:
    """The mean ± sd table of every row (majority class and baselines first).

    Example:
        >>> print(main_table(read_study("results/sentiment_seeds.json")))  # doctest: +SKIP
    """
    from lstmviz.experiments import markdown_table

    maj = study["majority"]
    rows = [["majority class", "-", "-", "-", f"{maj['accuracy']:.3f}", f"{maj['macro_f1']:.3f}", "-"]]
    for r in study["summary"]:
        rows.append(
            [
                BASELINE_NAMES.get(r["variant"], f"{r['variant']} {r['cell']}"),
                f"{r['parameters']:,}",
                str(r["n"]),
                _pm(r.get("val_f1_mean"), r.get("val_f1_sd")),
                _pm(r["acc_mean"], r["acc_sd"]),
                _pm(r["f1_mean"], r["f1_sd"]),
                f"{r['train_acc_mean']:.3f}",
            ]
        )
    header = ["model", "parameters", "seeds", "val macro-F1", "test accuracy", "test macro-F1"]
    return markdown_table([*header, "train accuracy (best epoch)"], rows)


_README_GROUPS = ("recipe vs baselines", "cells of the recipe", "cells of the recipe vs baselines", "baselines")


def readme_tables(study: Mapping[str, Any]) -> list[str]:
    """The tables the README shows, generated from the study file: every row; the recipe's intervals; the shipped.

    Example:
        >>> len(readme_tables(read_study("results/sentiment_seeds.json")))  # doctest: +SKIP
        3
    """
    out = [main_table(study)]
    iv = study.get("intervals") or {}
    key = [c for c in iv.get("study", []) if c["group"] in _README_GROUPS]
    if key:
        out.append(_interval_table(key))
    if iv.get("shipped"):
        out.append(_interval_table(iv["shipped"], seeds=False))
    return out


def study_markdown(study: Mapping[str, Any]) -> str:
    """The study as markdown: the table (mean ± sd over seeds), the decision and every interval."""
    d = study["decision"] or {}
    n = study["n_test"]
    iv = study.get("intervals") or {}
    tables = readme_tables(study)
    parts = [tables[0]]
    verdict = (
        "No recurrent row: no recipe to choose."
        if not d
        else (
            f"Recipe chosen on validation macro-F1 (mean over seeds): **{d['variant']} {d['cell']}** (validation "
            f"{_pm(d['val_f1_mean'], d.get('val_f1_sd'))}, test {_pm(d['f1_mean'], d['f1_sd'])}); test macro-F1 "
            f"would have chosen {d.get('test_choice')}."
        )
    )
    said = []
    for b, c in d.get("vs_baselines", {}).items():
        if c["beats"] is None:
            continue
        word = {1: "beats", -1: "is below", 0: "is not shown to beat"}[c["beats"]]
        said.append(f"{word} the {BASELINE_NAMES[b]} ({_signed(c['diff'])}, [{_signed(c['lo'])}, {_signed(c['hi'])}])")
    if said:
        verdict += " Against the baselines (test macro-F1: difference, 95 % interval) it " + "; ".join(said) + "."
    parts.append(verdict)
    parts.append(
        f"Test set: {n} sentences (split seed {study['split_seed']}). Intervals: paired bootstrap over the test "
        f"sentences, {iv.get('resamples', RESAMPLES):,} resamples (seed {iv.get('seed', SEED)}), "
        f"{iv.get('level', LEVEL) * 100:.0f} % percentile; A − B is the difference of the two rows' means over their "
        "seeds, every run of both rows scored on the same resample (`lstmviz.sentiment_study`). A verdict is given "
        "only where the interval excludes 0; each interval stands alone (no correction for the number of comparisons)."
    )
    if len(tables) > 1 and iv.get("study"):
        parts.append("Intervals of the recipe (seeds of A / B):\n\n" + tables[1].rstrip("\n"))
    rest = [c for c in iv.get("study", []) if c["group"] not in _README_GROUPS]
    if rest:
        parts.append("The other comparisons:\n\n" + _interval_table(rest).rstrip("\n"))
    if iv.get("shipped"):
        names = ", ".join(f"{s['checkpoint']} (seed {s['seed']})" for s in study["shipped"].values())
        parts.append(f"The shipped checkpoints, one run each ({names}):\n\n" + tables[-1].rstrip("\n"))
    return "\n\n".join(p.rstrip("\n") for p in parts) + "\n"


def write_study(study: Mapping[str, Any], stem: str | os.PathLike) -> tuple[Path, Path]:
    """Writes ``<stem>.json`` and ``<stem>.md`` atomically.

    Example:
        >>> write_study(study, "results/sentiment_seeds")  # doctest: +SKIP
    """
    from lstmviz.experiments import write_text_atomic

    stem = Path(stem)
    stem.parent.mkdir(parents=True, exist_ok=True)
    js, md = stem.with_suffix(".json"), stem.with_suffix(".md")
    write_text_atomic(js, json.dumps(study, indent=1, ensure_ascii=False, allow_nan=False))
    write_text_atomic(md, study_markdown(study))
    return js, md
