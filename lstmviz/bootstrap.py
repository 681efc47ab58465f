"""Paired bootstrap intervals for test-set comparisons: is model A better than model B on *this* test set?

Seed spread says how much a recipe varies with its training seed; it says nothing about how much a score moves
with the particular test sentences drawn. The paired bootstrap answers that: resample the test units (sentences)
with replacement, score both models on the same resample, and take the percentile interval of the difference.
"A beats B" is said only where that interval excludes 0.

Every metric here is a function of additive per-unit counts (a confusion matrix, span tp/fp/fn): a resample is a
vector of multiplicities ``w`` (how often each unit was drawn), and its counts are ``w @ counts`` for all
resamples at once, so 10,000 resamples of 600 sentences cost one matrix product. Defaults, in one place:
:data:`RESAMPLES` (10,000), :data:`SEED` (0), :data:`LEVEL` (0.95, percentile interval).

Example:
    >>> y = np.tile([0, 1, 1, 0, 1, 0, 1, 1], 5)            # 40 test sentences
    >>> a = confusion_counts(y, y, 2)                      # model A: always right
    >>> b = confusion_counts(y, np.ones_like(y), 2)        # model B: always class 1
    >>> r = paired_bootstrap(a, b, accuracy_from_confusion, resamples=2000)
    >>> r["a"], r["b"], r["diff"]
    (1.0, 0.625, 0.375)
    >>> bool(r["lo"] > 0), r["beats"]
    (True, 1)
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

__all__ = [
    "LEVEL",
    "RESAMPLES",
    "SEED",
    "accuracy_from_confusion",
    "bootstrap_interval",
    "confusion_counts",
    "macro_f1_from_confusion",
    "paired_bootstrap",
    "resample_weights",
]

RESAMPLES = 10_000  # bootstrap resamples of the test units
SEED = 0  # the resampling generator's seed: the same intervals on every run and machine
LEVEL = 0.95  # two-sided percentile interval

Score = Callable[[np.ndarray], np.ndarray]  # (R, d) summed counts -> (R,) scores


def resample_weights(n: int, *, resamples: int = RESAMPLES, seed: int = SEED) -> np.ndarray:
    """Multiplicities of ``n`` units in ``resamples`` bootstrap resamples, shape ``(resamples, n)``.

    Row r says how often each unit was drawn in resample r (n draws with replacement: each row sums to n).

    Example:
        >>> w = resample_weights(5, resamples=3)
        >>> w.shape, w.sum(axis=1).tolist()
        ((3, 5), [5.0, 5.0, 5.0])
    """
    if n <= 0 or resamples <= 0:
        raise ValueError(f"n={n!r}, resamples={resamples!r}: both must be > 0")
    rng = np.random.default_rng(seed)
    return rng.multinomial(n, np.full(n, 1.0 / n), size=resamples).astype(np.float64)


def confusion_counts(y_true: Any, y_pred: Any, k: int) -> np.ndarray:
    """One row per unit: its one-hot cell of the k x k confusion matrix (row-major true x predicted), ``(n, k*k)``.

    For units that hold several items (a sentence of tagged words), sum the rows of its items.

    Example:
        >>> confusion_counts([0, 1], [1, 1], 2).tolist()
        [[0.0, 1.0, 0.0, 0.0], [0.0, 0.0, 0.0, 1.0]]
    """
    t, p = np.asarray(y_true, dtype=np.int64), np.asarray(y_pred, dtype=np.int64)
    if t.shape != p.shape or t.ndim != 1:
        raise ValueError(f"y_true {t.shape} and y_pred {p.shape} must be 1-d and of one length")
    if t.size and (min(t.min(), p.min()) < 0 or max(t.max(), p.max()) >= k):
        raise ValueError(f"labels must lie in 0..{k - 1}")
    out = np.zeros((t.size, k * k))
    out[np.arange(t.size), t * k + p] = 1.0
    return out


def _confusion(counts: np.ndarray) -> tuple[np.ndarray, int]:
    counts = np.atleast_2d(counts)
    k = int(round(np.sqrt(counts.shape[1])))
    if k * k != counts.shape[1]:
        raise ValueError(f"{counts.shape[1]} counts are no k x k confusion matrix")
    return counts.reshape(counts.shape[0], k, k), k


def accuracy_from_confusion(counts: np.ndarray) -> np.ndarray:
    """Accuracy of each row of summed confusion counts ``(R, k*k)`` -> ``(R,)``.

    Example:
        >>> accuracy_from_confusion(np.array([[3.0, 1.0, 0.0, 4.0]])).tolist()
        [0.875]
    """
    c, _ = _confusion(counts)
    return np.trace(c, axis1=1, axis2=2) / c.sum(axis=(1, 2))


def macro_f1_from_confusion(counts: np.ndarray) -> np.ndarray:
    """Macro-F1 of each row of summed confusion counts ``(R, k*k)`` -> ``(R,)``.

    The mean over the classes present (as truth or prediction) in the whole, unresampled test set would differ
    from a per-resample choice; like :func:`lstmviz.datasets.macro_f1` with ``labels`` given, every one of the
    k classes counts, and a class with no true and no predicted item scores 0.

    Example:
        >>> round(float(macro_f1_from_confusion(np.array([[1.0, 1.0, 0.0, 1.0]]))[0]), 4)  # as macro_f1's example
        0.6667
    """
    c, _ = _confusion(counts)
    tp = np.diagonal(c, axis1=1, axis2=2)  # (R, k)
    denom = c.sum(axis=2) + c.sum(axis=1)  # 2TP + FP + FN
    with np.errstate(invalid="ignore", divide="ignore"):
        f1 = np.where(denom > 0, 2 * tp / np.where(denom > 0, denom, 1), 0.0)
    return f1.mean(axis=1)


def _interval(values: np.ndarray, level: float) -> tuple[float, float]:
    tail = (1 - level) / 2 * 100
    lo, hi = np.percentile(values, [tail, 100 - tail])
    return float(lo), float(hi)


def bootstrap_interval(
    counts: np.ndarray, score: Score, *, resamples: int = RESAMPLES, seed: int = SEED, level: float = LEVEL
) -> dict[str, Any]:
    """One model's score on the test set and its percentile bootstrap interval.

    Args:
        counts: ``(n_units, d)`` additive counts per test unit (e.g. :func:`confusion_counts`).
        score: Maps summed counts ``(R, d)`` to scores ``(R,)``.
        resamples, seed, level: See the module defaults.

    Returns:
        ``{"score", "lo", "hi", "resamples", "seed", "level", "units"}``.

    Example:
        >>> c = confusion_counts([0, 1, 1, 0], [0, 1, 0, 0], 2)
        >>> r = bootstrap_interval(c, accuracy_from_confusion, resamples=500)
        >>> r["score"], r["lo"] <= 0.75 <= r["hi"]
        (0.75, True)
    """
    counts = np.asarray(counts, dtype=np.float64)
    w = resample_weights(counts.shape[0], resamples=resamples, seed=seed)
    lo, hi = _interval(score(w @ counts), level)
    return {
        "score": float(score(counts.sum(axis=0, keepdims=True))[0]),
        "lo": lo,
        "hi": hi,
        "resamples": resamples,
        "seed": seed,
        "level": level,
        "units": counts.shape[0],
    }


def paired_bootstrap(
    counts_a: np.ndarray,
    counts_b: np.ndarray,
    score: Score,
    *,
    resamples: int = RESAMPLES,
    seed: int = SEED,
    level: float = LEVEL,
) -> dict[str, Any]:
    """Model A minus model B on the same test units, with the paired percentile bootstrap interval.

    Both models are scored on the same resample every time (paired over units), so what the interval measures is
    how much their *difference* depends on which test sentences were drawn.

    Args:
        counts_a, counts_b: ``(n_units, d)`` additive counts per test unit, the same units in the same order.
        score: Maps summed counts ``(R, d)`` to scores ``(R,)`` (:func:`macro_f1_from_confusion`, ...).
        resamples, seed, level: See the module defaults.

    Returns:
        ``{"a", "b", "diff", "lo", "hi", "beats", "resamples", "seed", "level", "units"}``: ``beats`` is +1 where the
        interval lies above 0 (A better), -1 below 0 (B better), 0 where it contains 0 (no claim).

    Example:
        >>> y = np.array([0, 1, 0, 1])
        >>> r = paired_bootstrap(confusion_counts(y, y, 2), confusion_counts(y, y, 2), accuracy_from_confusion)
        >>> r["diff"], r["lo"], r["hi"], r["beats"]
        (0.0, 0.0, 0.0, 0)
    """
    a, b = np.asarray(counts_a, dtype=np.float64), np.asarray(counts_b, dtype=np.float64)
    if a.shape[0] != b.shape[0]:
        raise ValueError(f"paired units differ: {a.shape[0]} vs {b.shape[0]}")
    w = resample_weights(a.shape[0], resamples=resamples, seed=seed)
    lo, hi = _interval(score(w @ a) - score(w @ b), level)
    sa = float(score(a.sum(axis=0, keepdims=True))[0])
    sb = float(score(b.sum(axis=0, keepdims=True))[0])
    return {
        "a": sa,
        "b": sb,
        "diff": sa - sb,
        "lo": lo,
        "hi": hi,
        "beats": 1 if lo > 0 else -1 if hi < 0 else 0,
        "resamples": resamples,
        "seed": seed,
        "level": level,
        "units": a.shape[0],
    }
