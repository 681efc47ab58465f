"""Tidy frames of training histories stored in checkpoints (per epoch, per step).

The frames of one analysed text are methods of :class:`lstmviz.sentence.TextAnalysis`; every
frame that has a direction writes it as ``"fwd"`` / ``"rev"`` (:func:`lstmviz.names.direction_name`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

__all__ = ["flat_test_metrics", "grad_profile_frame", "history_frame", "shared_levels"]


def history_frame(histories: Mapping[str, Sequence[Mapping[str, Any]]]) -> pd.DataFrame:
    """Training histories (``meta["history"]``) of several models as one tidy frame.

    Args:
        histories: Model name -> list of per-epoch dicts (``epoch, train_loss, val_loss,
            train_acc, val_acc, val_f1, seconds``; missing keys are skipped).

    Returns:
        Frame ``model, epoch, split, metric, value`` (metric: loss | acc | f1).

    Example:
        >>> history_frame({"m": [{"epoch": 1, "train_loss": 1.0, "val_acc": 0.5}]})["metric"].tolist()
        ['loss', 'acc']
    """
    fields_ = (
        ("train_loss", "train", "loss"),
        ("val_loss", "val", "loss"),
        ("train_acc", "train", "acc"),
        ("val_acc", "val", "acc"),
        ("train_f1", "train", "f1"),
        ("val_f1", "val", "f1"),
    )
    rows = []
    for model, history in histories.items():
        for i, h in enumerate(history or []):
            epoch = h.get("epoch", i + 1)
            for key, split, metric in fields_:
                v = h.get(key)
                if isinstance(v, (int, float)) and not isinstance(v, bool) and np.isfinite(v):
                    rows.append({"model": model, "epoch": epoch, "split": split, "metric": metric, "value": float(v)})
    return pd.DataFrame(rows, columns=["model", "epoch", "split", "metric", "value"])


# Nested test metrics a table shows, as (path in meta["test_metrics"], column): the majority-class baseline of
# the classifiers (beside chance), the tagger's two heads and its word-by-word baselines. Per-class and per-tag
# scores and confusion matrices stay out: the views that explain them show them.
NESTED_TEST_METRICS: tuple[tuple[tuple[str, ...], str], ...] = (
    (("majority_baseline", "accuracy"), "majority_accuracy"),
    (("majority_baseline", "macro_f1"), "majority_macro_f1"),
    (("pos", "accuracy"), "pos_accuracy"),
    (("pos", "macro_f1"), "pos_macro_f1"),
    (("ner", "macro_f1"), "ner_macro_f1"),
    (("baseline", "pos", "accuracy"), "baseline_pos_accuracy"),
    (("baseline", "ner", "macro_f1"), "baseline_ner_macro_f1"),
    (("suffix_baseline", "pos", "accuracy"), "suffix_baseline_pos_accuracy"),
    (("suffix_baseline", "ner", "macro_f1"), "suffix_baseline_ner_macro_f1"),
)


def _number(v: Any) -> bool:
    """A finite int or float, not a bool."""
    return isinstance(v, (int, float)) and not isinstance(v, bool) and bool(np.isfinite(v))


def flat_test_metrics(metrics: Mapping[str, Any] | None) -> dict[str, float | int]:
    """A checkpoint's test metrics (``meta["test_metrics"]``) as flat numbers, in table order.

    Top-level numbers keep their names, chance last of them; then the :data:`NESTED_TEST_METRICS` found
    (``majority_accuracy`` and ``majority_macro_f1`` right after ``chance_accuracy``). Anything else
    (labels, per-class dicts, confusion matrices, non-finite values) is left out.

    Args:
        metrics: ``meta["test_metrics"]`` (None or empty: no columns).

    Returns:
        Column name -> value.

    Example:
        >>> flat_test_metrics({"accuracy": 0.56, "chance_accuracy": 0.25, "confusion": [[1]],
        ...                   "majority_baseline": {"accuracy": 0.51, "label": "neutral"}})
        {'accuracy': 0.56, 'chance_accuracy': 0.25, 'majority_accuracy': 0.51}
    """
    metrics = metrics or {}
    row = {
        k: v if isinstance(v, int) else float(v) for k, v in metrics.items() if _number(v) and k != "chance_accuracy"
    }
    if _number(metrics.get("chance_accuracy")):
        row["chance_accuracy"] = float(metrics["chance_accuracy"])
    for path, name in NESTED_TEST_METRICS:
        v: Any = metrics
        for part in path:
            v = v.get(part) if isinstance(v, Mapping) else None
        if _number(v):
            row[name] = float(v)
    return row


# Reference levels of the training curves: (subplot metric, level, flat test metric).
_LEVELS = (("acc", "chance", "chance_accuracy"), ("acc", "majority", "majority_accuracy"),
           ("f1", "majority", "majority_macro_f1"))  # fmt: skip


def shared_levels(test_metrics: Sequence[Mapping[str, Any] | None]) -> list[tuple[str, str, float]]:
    """Chance and majority-class levels that every model having them shares (one data set), for the curves.

    Args:
        test_metrics: ``meta["test_metrics"]`` of each model shown.

    Returns:
        ``(metric, level, value)`` with metric ``"acc"`` or ``"f1"`` and level ``"chance"`` or ``"majority"``;
        a level whose models disagree (two data sets) is left out, as one line could not stand for both.

    Example:
        >>> m = {"chance_accuracy": 0.25, "majority_baseline": {"accuracy": 0.51, "macro_f1": 0.17}}
        >>> shared_levels([m, m, {"bpc": 2.6}])
        [('acc', 'chance', 0.25), ('acc', 'majority', 0.51), ('f1', 'majority', 0.17)]
        >>> shared_levels([m, {**m, "chance_accuracy": 0.5}])[0]
        ('acc', 'majority', 0.51)
    """
    rows = [flat_test_metrics(m) for m in test_metrics]
    out = []
    for metric, level, key in _LEVELS:
        values = {round(r[key], 4) for r in rows if key in r}
        if len(values) == 1:
            out.append((metric, level, values.pop()))
    return out


def grad_profile_frame(history: Sequence[Mapping[str, Any]]) -> pd.DataFrame:
    """Per-epoch gradient profiles (``grad_profile``: mean ``||dL/dh_t||`` for t = 0..T-1) as a tidy frame.

    Args:
        history: ``meta["history"]``.

    Returns:
        Frame ``epoch, step, distance, norm`` (``distance = T-1-step``); empty without profiles.

    Example:
        >>> grad_profile_frame([{"epoch": 1, "grad_profile": [0.1, 1.0]}])["distance"].tolist()
        [1, 0]
    """
    rows = []
    for i, h in enumerate(history or []):
        prof = h.get("grad_profile")
        if not prof:
            continue
        T = len(prof)
        for t, v in enumerate(prof):
            if v is not None:
                rows.append({"epoch": h.get("epoch", i + 1), "step": t, "distance": T - 1 - t, "norm": float(v)})
    return pd.DataFrame(rows, columns=["epoch", "step", "distance", "norm"])
