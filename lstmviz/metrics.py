"""Every score of the library in one place: labels, tags and entity spans, bits per character, bootstrap intervals.

* **Labels** (the classifiers): :func:`accuracy` and :func:`macro_f1` over label sequences (str or int; lists,
  arrays or CPU tensors). Plain numpy and python, so training needs no scikit-learn.
* **Tags and entity spans** (the tagger): :func:`tag_scores` (token agreement, per-tag precision / recall / F1,
  macro-F1 over the tags present; for entities over whole spans, as CoNLL), :func:`entity_spans` of a BIO
  sequence and :func:`span_matches` (the true-positive, false-positive and false-negative spans of one sentence).
* **Bits per character** (the character models): :func:`bits_per_char` of a summed cross-entropy,
  :func:`stream_bpc` of a model on a character stream, and the add-one-smoothed :func:`unigram_bpc` and
  :func:`bigram_bpc` baselines.
* **Counts and bootstrap intervals** (held-out comparisons): every score above is a function of additive per-unit
  counts (a confusion matrix, span tp/fp/fn), so a bootstrap resample is a vector of multiplicities ``w`` (how
  often each unit was drawn) and its counts are ``w @ counts`` for all resamples at once: 10,000 resamples of 600
  sentences cost one matrix product. :func:`confusion_counts`, :func:`accuracy_from_confusion`,
  :func:`macro_f1_from_confusion` and :func:`span_f1_from_counts` score count rows;
  :func:`bootstrap_interval` gives one model's percentile interval and :func:`paired_bootstrap` model A minus
  model B on the same resamples (paired over units). Defaults, in one place: :data:`RESAMPLES` (10,000),
  :data:`SEED` (0), :data:`LEVEL` (0.95, percentile interval).

Seed spread says how much a recipe varies with its training seed; it says nothing about how much a score moves with
the particular test sentences drawn. The paired bootstrap answers that: "A beats B" is said only where the interval
of the difference excludes 0.

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

import math
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import numpy as np
import torch

__all__ = [
    "LEVEL",
    "RESAMPLES",
    "SEED",
    "accuracy",
    "accuracy_from_confusion",
    "bigram_bpc",
    "bits_per_char",
    "bootstrap_interval",
    "confusion_counts",
    "entity_spans",
    "macro_f1",
    "macro_f1_from_confusion",
    "paired_bootstrap",
    "resample_weights",
    "span_f1_from_counts",
    "span_matches",
    "stream_bpc",
    "tag_scores",
    "unigram_bpc",
]

RESAMPLES = 10_000  # bootstrap resamples of the test units
SEED = 0  # the resampling generator's seed: the same intervals on every run and machine
LEVEL = 0.95  # two-sided percentile interval

Score = Callable[[np.ndarray], np.ndarray]  # (R, d) summed counts -> (R,) scores
Span = tuple[int, int, str]  # (first word, end word (exclusive), entity type)


# ----- labels ---------------------------------------------------------------------------------------------------
def accuracy(y_true: Iterable[Any], y_pred: Iterable[Any]) -> float:
    """Fraction of equal pairs.

    Raises:
        ValueError: On length mismatch or empty input.

    Example:
        >>> accuracy(["a", "b"], ["a", "a"])
        0.5
    """
    t, p = _pair(y_true, y_pred)
    return float(np.mean(t == p))


def macro_f1(y_true: Iterable[Any], y_pred: Iterable[Any], labels: Sequence[Any] | None = None) -> float:
    """Unweighted mean over labels of F1 = 2TP / (2TP + FP + FN); a label with no true and no
    predicted samples scores 0 (scikit-learn's ``zero_division=0``).

    Args:
        y_true: True labels (strs or ints; a list, array or CPU tensor).
        y_pred: Predicted labels, same length.
        labels: Labels to average over; default: sorted union of both.

    Returns:
        Macro F1 in [0, 1].

    Raises:
        ValueError: On length mismatch, empty input or empty ``labels``.

    Example:
        >>> round(macro_f1(["a", "a", "b"], ["a", "b", "b"]), 4)
        0.6667
    """
    t, p = _pair(y_true, y_pred)
    if labels is None:
        labels = sorted(set(t.tolist()) | set(p.tolist()), key=str)
    labels = list(labels)
    if not labels:
        raise ValueError("labels must not be empty")
    scores = []
    for lab in labels:
        tp = int(np.sum((t == lab) & (p == lab)))
        fp = int(np.sum((t != lab) & (p == lab)))
        fn = int(np.sum((t == lab) & (p != lab)))
        denom = 2 * tp + fp + fn
        scores.append(2 * tp / denom if denom else 0.0)
    return float(np.mean(scores))


def _pair(y_true: Iterable[Any], y_pred: Iterable[Any]) -> tuple[np.ndarray, np.ndarray]:
    """Both label sequences as 1-D object arrays of equal, non-zero length."""
    t = np.array(_as_list(y_true), dtype=object)
    p = np.array(_as_list(y_pred), dtype=object)
    if t.shape != p.shape:
        raise ValueError(f"y_true and y_pred differ in length: {t.shape[0]} vs {p.shape[0]}")
    if t.size == 0:
        raise ValueError("y_true and y_pred are empty")
    return t, p


def _as_list(y: Iterable[Any]) -> list[Any]:
    """Python scalars from a list, numpy array or tensor (so 1 == np.int64(1) == tensor(1))."""
    tolist = getattr(y, "tolist", None)
    return list(tolist()) if callable(tolist) else [v.item() if hasattr(v, "item") else v for v in y]


# ----- tags and entity spans ------------------------------------------------------------------------------------
def entity_spans(tags: Sequence[str]) -> set[Span]:
    """``(start, end, type)`` of the entities of a BIO sequence (an I- without its B- starts one).

    Example:
        >>> sorted(entity_spans(["B-PER", "I-PER", "O", "I-LOC"]))
        [(0, 2, 'PER'), (3, 4, 'LOC')]
    """
    spans, start, kind = set(), None, None
    for i, tag in enumerate([*tags, "O"]):
        inside = tag[2:] if tag[:2] == "I-" else None
        if start is not None and inside != kind:
            spans.add((start, i, kind))
            start = kind = None
        if tag != "O" and start is None:
            start, kind = i, tag[2:]
    return spans


def span_matches(gold: Sequence[str], pred: Sequence[str]) -> tuple[set[Span], set[Span], set[Span]]:
    """The entity spans of one sentence that are true positives, false positives and false negatives: exact
    boundaries and type, as CoNLL counts them.

    Example:
        >>> [sorted(s) for s in span_matches(["B-PER", "I-PER", "O"], ["B-PER", "O", "B-LOC"])]
        [[], [(0, 1, 'PER'), (2, 3, 'LOC')], [(0, 2, 'PER')]]
    """
    gs, ps = entity_spans(gold), entity_spans(pred)
    return gs & ps, ps - gs, gs - ps


def _prf(tp: int, fp: int, fn: int) -> dict[str, float]:
    p = tp / (tp + fp) if tp + fp else 0.0
    r = tp / (tp + fn) if tp + fn else 0.0
    return {"precision": p, "recall": r, "f1": 2 * p * r / (p + r) if p + r else 0.0, "support": tp + fn}


def tag_scores(gold: Sequence[Sequence[str]], pred: Sequence[Sequence[str]], ner: bool = False) -> dict[str, Any]:
    """Agreement (token accuracy), per-tag precision / recall / F1 and macro-F1 over the tags present.

    For ``ner=True`` the per-type scores are over whole entities (exact spans, as in CoNLL), and
    ``accuracy`` stays per token.

    Raises:
        ValueError: If ``gold`` and ``pred`` differ in sentences or lengths.

    Example:
        >>> s = tag_scores([["NOUN", "VERB"]], [["NOUN", "NOUN"]])
        >>> s["accuracy"], round(s["per_tag"]["NOUN"]["f1"], 3)
        (0.5, 0.667)
    """
    if len(gold) != len(pred) or any(len(g) != len(p) for g, p in zip(gold, pred)):
        raise ValueError("gold and predicted tags must have the same sentences and lengths")
    flat_g = [x for s in gold for x in s]
    flat_p = [x for s in pred for x in s]
    acc = float(np.mean([a == b for a, b in zip(flat_g, flat_p)])) if flat_g else 0.0
    counts: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0])  # tp, fp, fn
    if ner:
        for g, p in zip(gold, pred):
            for j, spans in enumerate(span_matches(g, p)):  # tp, fp, fn
                for s in spans:
                    counts[s[2]][j] += 1
    else:
        for a, b in zip(flat_g, flat_p):
            if a == b:
                counts[a][0] += 1
            else:
                counts[b][1] += 1
                counts[a][2] += 1
    per_tag = {k: _prf(*v) for k, v in sorted(counts.items())}
    present = [v["f1"] for v in per_tag.values() if v["support"] > 0]
    return {
        "accuracy": acc,
        "macro_f1": float(np.mean(present)) if present else 0.0,
        "per_tag": per_tag,
        "tokens": len(flat_g),
    }


# ----- bits per character ---------------------------------------------------------------------------------------
def bits_per_char(nats: float, chars: int) -> float:
    """Bits per character of a cross-entropy summed over ``chars`` characters (in nats); 0 characters count as 1.

    Example:
        >>> bits_per_char(2 * math.log(2), 2)
        1.0
    """
    return nats / max(chars, 1) / math.log(2)


def unigram_bpc(train: torch.Tensor, test: torch.Tensor, vocab_size: int) -> float:
    """Bits per character of ``test`` under add-one-smoothed character frequencies of ``train``.

    Example:
        >>> round(unigram_bpc(torch.tensor([2, 2, 3]), torch.tensor([2]), 4), 3)
        1.222
    """
    counts = torch.bincount(train, minlength=vocab_size).double() + 1.0
    logp = torch.log2(counts / counts.sum())
    return float(-logp[test].mean())


def bigram_bpc(train: torch.Tensor, test: torch.Tensor, vocab_size: int) -> float:
    """Bits per character of ``test`` under add-one-smoothed character-pair frequencies of ``train``.

    Example:
        >>> bigram_bpc(torch.tensor([2, 3, 2, 3]), torch.tensor([2, 3]), 4) < 2.0
        True
    """
    pairs = torch.zeros(vocab_size, vocab_size, dtype=torch.float64)
    pairs.index_put_((train[:-1], train[1:]), torch.ones(train.numel() - 1, dtype=torch.float64), accumulate=True)
    pairs += 1.0
    logp = torch.log2(pairs / pairs.sum(1, keepdim=True))  # (V, V): row = previous character
    return float(-logp[test[:-1], test[1:]].mean())


def stream_bpc(model: Any, ids: torch.Tensor, window: int = 256) -> float:
    """Bits per character of a model on a stream, carrying the state across windows (eval, no grad).

    Args:
        model: Anything with ``step(x (1, W), state) -> (logits (1, W, V), state)`` (a
            :class:`lstmviz.charlm.CharLM`).
        ids: The stream's character ids ``(N,)``; each one from the second on is predicted from those before.
        window: Characters per forward call.

    Example:
        >>> stream_bpc(model, data.test)  # doctest: +SKIP
        2.1
    """
    total, count, state = 0.0, 0, None
    with torch.no_grad():
        for start in range(0, ids.numel() - 1, window):
            x = ids[start : start + window].unsqueeze(0)  # (1, W)
            y = ids[start + 1 : start + window + 1]
            x = x[:, : y.numel()]
            if y.numel() == 0:
                break
            logits, state = model.step(x, state)
            total += float(torch.nn.functional.cross_entropy(logits[0], y, reduction="sum"))
            count += y.numel()
    return bits_per_char(total, count)


# ----- counts and bootstrap intervals ---------------------------------------------------------------------------
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


def _f1(tp: np.ndarray, denom: np.ndarray) -> np.ndarray:
    """F1 = 2TP / (2TP + FP + FN) elementwise, 0 where the denominator is 0 (no true and no predicted item)."""
    return np.where(denom > 0, 2 * tp / np.where(denom > 0, denom, 1), 0.0)


def accuracy_from_confusion(counts: np.ndarray) -> np.ndarray:
    """Accuracy of each row of summed confusion counts ``(R, k*k)`` -> ``(R,)``.

    Example:
        >>> accuracy_from_confusion(np.array([[3.0, 1.0, 0.0, 4.0]])).tolist()
        [0.875]
    """
    c, _ = _confusion(counts)
    return np.trace(c, axis1=1, axis2=2) / c.sum(axis=(1, 2))


def macro_f1_from_confusion(counts: np.ndarray, classes: Sequence[int] | None = None) -> np.ndarray:
    """Macro-F1 of each row of summed confusion counts ``(R, k*k)`` -> ``(R,)``.

    The mean over the classes present (as truth or prediction) in the whole, unresampled test set would differ
    from a per-resample choice; like :func:`macro_f1` with ``labels`` given, every one of the k classes (or of
    ``classes``) counts, and a class with no true and no predicted item scores 0.

    Args:
        counts: ``(R, k*k)`` or ``(k*k,)`` summed confusion counts.
        classes: The class ids to average over (default: all k).

    Example:
        >>> round(float(macro_f1_from_confusion(np.array([[1.0, 1.0, 0.0, 1.0]]))[0]), 4)  # as macro_f1's example
        0.6667
        >>> macro_f1_from_confusion(np.array([1.0, 1.0, 0.0, 1.0]), classes=[1]).tolist()
        [0.6666666666666666]
    """
    c, _ = _confusion(counts)
    tp = np.diagonal(c, axis1=1, axis2=2)  # (R, k)
    denom = c.sum(axis=2) + c.sum(axis=1)  # (R, k): 2TP + FP + FN
    if classes is not None:
        cls = np.asarray(classes, dtype=np.int64)
        tp, denom = tp[:, cls], denom[:, cls]
    return _f1(tp, denom).mean(axis=1)


def span_f1_from_counts(counts: np.ndarray, types: Sequence[int] | None = None) -> np.ndarray:
    """Macro-F1 over entity types of each row of summed span counts ``(R, 3 * n_types)`` -> ``(R,)``.

    Each type holds three columns: true-positive, false-positive and false-negative spans (see
    :func:`span_matches`); a type with none of them scores 0.

    Args:
        counts: ``(R, 3 * n_types)`` or ``(3 * n_types,)`` summed counts, type-major.
        types: The type indices to average over (default: all).

    Example:
        >>> span_f1_from_counts(np.array([1.0, 1.0, 0.0, 2.0, 0.0, 0.0])).tolist()  # F1 2/3 and 1
        [0.8333333333333333]
    """
    c = np.atleast_2d(counts)
    if c.shape[1] % 3:
        raise ValueError(f"{c.shape[1]} span counts are not 3 (tp, fp, fn) per entity type")
    c = c.reshape(c.shape[0], -1, 3)  # (R, types, 3)
    if types is not None:
        c = c[:, np.asarray(types, dtype=np.int64)]
    return _f1(c[..., 0], 2 * c[..., 0] + c[..., 1] + c[..., 2]).mean(axis=1)


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
