"""Tidy frames of training histories stored in checkpoints (per epoch, per step).

The frames of one analysed text are methods of :class:`lstmviz.sentence.TextAnalysis`; every
frame that has a direction writes it as ``"fwd"`` / ``"rev"`` (:func:`lstmviz.names.direction_name`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

__all__ = ["grad_profile_frame", "history_frame"]


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
