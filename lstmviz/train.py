"""Training: ``fit`` with early stopping, gradient profiles, resumable checkpoints, and a CLI.

Library use::

    data = prepare_sentiment("../shared/data/opensentimentcorpus")
    model, meta = train_model(data, ModelConfig(cell="lstm", ...), TrainConfig(), out="checkpoints/x")

Command line (``python -m lstmviz.train --help``)::

    python -m lstmviz.train --task sentiment --data ../shared/data/opensentimentcorpus --cell lstm \\
        --out checkpoints/sentiment-lstm
    python -m lstmviz.train --task cue_recall --lag 50 --cell gru --out checkpoints/cue-gru
    python -m lstmviz.train --resume --out checkpoints/cue-gru --epochs 30
    python -m lstmviz.train --task sentiment --data ... --compare --out checkpoints
    python -m lstmviz.train --task cue_recall --lag-sweep --out checkpoints

Every epoch prints one fixed-format line (beside a tqdm bar when stderr is a terminal)::

    epoch 3/20: train loss 0.4123 acc 0.812 | val loss 0.5012 acc 0.790 f1 0.701 | 4.2 s

and appends a dict to the history (``epoch, train_loss, train_acc, val_loss, val_acc, val_f1,
seconds, lr, grad_profile``); ``grad_profile[t]`` is the mean over a fixed probe batch of
``||dL/dh_t||`` of the top layer's forward direction, taken with :func:`lstmviz.record`.
The model kept is the epoch with the best validation macro-F1 (validation loss for the
regression task). A non-finite loss stops training with :class:`TrainingDiverged`; the
checkpoint on disk then still holds the last good epoch (exit code 3 from the CLI).
"""

from __future__ import annotations

import argparse
import copy
import hashlib
import json
import math
import os
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from tqdm import tqdm

from lstmviz import tasks
from lstmviz.checkpoint import (
    CheckpointError,
    library_version,
    load_checkpoint,
    load_resume_state,
    optimizer_state_dict,
    save_checkpoint,
)
from lstmviz.datasets import CORPUS_LABELS, load_opensentiment, macro_f1, majority_baseline, stratified_split
from lstmviz.models import CELLS, ModelConfig, RecurrentClassifier
from lstmviz.pipeline import MAX_TOKENS, encode_texts
from lstmviz.text import TextPipeline
from lstmviz.vocab import Vocab

__all__ = [
    "EXIT_DIVERGED",
    "LAG_SWEEP_LAGS",
    "TASKS",
    "FitResult",
    "SequenceData",
    "TaskData",
    "TrainConfig",
    "TrainingDiverged",
    "compare_cells",
    "evaluate",
    "fit",
    "format_epoch_line",
    "grad_profile",
    "lag_sweep",
    "main",
    "make_probe",
    "prepare_cue_recall",
    "prepare_sentiment",
    "resume_training",
    "train_model",
]

TASKS = ("sentiment", "cue_recall")
EXIT_DIVERGED = 3  # CLI exit status when the loss became NaN/Inf
LAG_SWEEP_LAGS = (5, 10, 20, 50, 100)
_ACC_TOLERANCE = 0.04  # regression "accuracy": |prediction - target| below this (adding-problem convention)
_CHECKPOINT_PREFIX = {"sentiment": "sentiment", "cue_recall": "cue"}


class TrainingDiverged(RuntimeError):
    """The training loss became NaN or infinite; the last good checkpoint is kept."""


@dataclass
class TrainConfig:
    """Optimisation settings; stored in a checkpoint's meta as ``train_config``.

    Example:
        >>> TrainConfig(epochs=5, patience=2).lr
        0.002
    """

    epochs: int = 20  # maximum number of epochs (a resumed run continues up to this number)
    batch_size: int = 32  # sequences per optimisation step
    lr: float = 2e-3  # AdamW learning rate
    weight_decay: float = 0.01  # AdamW decoupled weight decay
    patience: int = 4  # stop after this many epochs without a better val macro-F1; 0 never stops early
    clip_grad_norm: float | None = 1.0  # clip the global gradient norm to this; None disables clipping
    class_weighted: bool = False  # weight the training cross-entropy by inverse class frequency
    seed: int = 0  # seeds initialisation, shuffling and dropout
    threads: int | None = 2  # torch.set_num_threads during fit; None leaves torch's setting alone
    probe_size: int = 64  # validation examples in the fixed gradient-profile probe batch
    eval_batch_size: int = 256  # sequences per batch when evaluating (no effect on results)
    quiet: bool = False  # no progress bar and no per-epoch lines

    def __post_init__(self) -> None:
        for name in ("epochs", "batch_size", "probe_size", "eval_batch_size"):
            _check_int(name, getattr(self, name), 1)
        _check_int("patience", self.patience, 0)
        _check_int("seed", self.seed, 0)
        if self.threads is not None:
            _check_int("threads", self.threads, 1)
        for name, allowed in (("lr", "a number > 0"), ("weight_decay", "a number >= 0")):
            value = getattr(self, name)
            ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
            if not ok or not (value > 0 if name == "lr" else value >= 0):
                raise ValueError(f"{name}={value!r} is invalid; allowed: {allowed}")
        if self.clip_grad_norm is not None and not (
            isinstance(self.clip_grad_norm, (int, float)) and self.clip_grad_norm > 0
        ):
            raise ValueError(f"clip_grad_norm={self.clip_grad_norm!r} is invalid; allowed: None or a number > 0")
        for name in ("class_weighted", "quiet"):
            if not isinstance(getattr(self, name), bool):
                raise ValueError(f"{name}={getattr(self, name)!r} is invalid; allowed: True, False")

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict of the settings."""
        return asdict(self)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> TrainConfig:
        """Inverse of :meth:`to_dict`; unknown keys are an error.

        Example:
            >>> TrainConfig.from_dict({"epochs": 3}).epochs
            3
        """
        known = [f.name for f in fields(cls)]
        unknown = sorted(set(d) - set(known))
        if unknown:
            raise ValueError(f"unknown train config keys {unknown}; allowed: {', '.join(known)}")
        return cls(**d)


def _check_int(name: str, value: Any, lo: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < lo:
        raise ValueError(f"{name}={value!r} is invalid; allowed: an integer >= {lo}")


# --------------------------------------------------------------------------- data


@dataclass
class SequenceData:
    """A padded split: ``x`` ids (N, T) or features (N, T, F), ``lengths`` (N,), targets ``y`` (N,).

    Example:
        >>> d = SequenceData(torch.tensor([[2, 3], [4, 0]]), torch.tensor([2, 1]), torch.tensor([0, 1]))
        >>> len(d), len(d.subset(torch.tensor([1])))
        (2, 1)
    """

    x: torch.Tensor  # (N, T) long or (N, T, F) float
    lengths: torch.Tensor  # (N,)
    y: torch.Tensor  # (N,) long class ids or float targets

    def __post_init__(self) -> None:
        n = self.x.shape[0]
        if self.lengths.shape != (n,) or self.y.shape != (n,):
            raise ValueError(
                f"x has {n} rows but lengths has shape {tuple(self.lengths.shape)} and y {tuple(self.y.shape)}"
            )

    def __len__(self) -> int:
        return int(self.x.shape[0])

    def subset(self, idx: torch.Tensor) -> SequenceData:
        """The rows ``idx``, trimmed to their own longest length."""
        lengths = self.lengths[idx]
        t_max = int(lengths.max()) if len(idx) else 0
        return SequenceData(self.x[idx][:, :t_max], lengths, self.y[idx])


@dataclass
class TaskData:
    """Everything a training run needs besides the configs: splits, labels and meta.

    Attributes:
        task: "sentiment" or "cue_recall".
        train, val, test: The splits.
        labels: Class names, index = class id.
        vocab_size: Ids the embedding must cover.
        meta: Entries for the checkpoint's meta (vocab, pipeline, dataset, task_params, ...).
    """

    task: str
    train: SequenceData
    val: SequenceData
    test: SequenceData
    labels: list[str]
    vocab_size: int
    meta: dict[str, Any] = field(default_factory=dict)


def _sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def prepare_sentiment(
    data: str | os.PathLike,
    *,
    seed: int = 0,
    pipeline: TextPipeline | None = None,
    vocab: Vocab | None = None,
    min_freq: int = 2,
    max_vocab: int = 20000,
) -> TaskData:
    """Loads OpenSentimentCorpus (or any ``Sentence,Sentiment`` CSV), splits and encodes it.

    The vocabulary is built on the training split only (unless ``vocab`` is given, as when
    resuming), so validation and test words unseen in training are ``<unk>``.

    Args:
        data: The corpus CSV or its directory.
        seed: Seed of the stratified 80/10/10 split.
        pipeline: Text pipeline; default ``TextPipeline()`` (lemmas, no stop-word removal).
        vocab: Use this vocabulary instead of building one.
        min_freq: Keep training tokens seen at least this often.
        max_vocab: Largest vocabulary size including ``<pad>``/``<unk>``.

    Returns:
        A :class:`TaskData` with task "sentiment".

    Example:
        >>> d = prepare_sentiment("../shared/data/opensentimentcorpus")  # doctest: +SKIP
        >>> d.labels  # doctest: +SKIP
        ['negative', 'neutral', 'positive', 'mixed']
    """
    pipeline = pipeline or TextPipeline()
    df = load_opensentiment(data)
    source = Path(df.attrs.get("source", data))
    train_df, val_df, test_df = stratified_split(df, seed=seed)
    present = set(df["label"])
    labels = [lab for lab in CORPUS_LABELS if lab in present] + sorted(present - set(CORPUS_LABELS))
    label_id = {lab: i for i, lab in enumerate(labels)}
    if vocab is None:
        vocab = Vocab.build((pipeline.lemmas(t) for t in train_df["text"]), min_freq=min_freq, max_size=max_vocab)

    def split(part) -> SequenceData:
        ids, lengths = encode_texts(list(part["text"]), pipeline, vocab, MAX_TOKENS)
        y = torch.tensor([label_id[lab] for lab in part["label"]], dtype=torch.long)
        return SequenceData(ids, lengths, y)

    return TaskData(
        task="sentiment",
        train=split(train_df),
        val=split(val_df),
        test=split(test_df),
        labels=labels,
        vocab_size=len(vocab),
        meta={
            "vocab": vocab.to_dict(),
            "pipeline": pipeline.to_dict(),
            "max_tokens": MAX_TOKENS,
            "task_params": {"min_freq": min_freq, "max_vocab": max_vocab},
            "dataset": {
                "name": "opensentimentcorpus",
                "file": source.name,
                "path": str(data),
                "sha256": _sha256_file(source),
                "split_seed": seed,
                "fractions": [0.8, 0.1, 0.1],
                "sizes": {"train": len(train_df), "val": len(val_df), "test": len(test_df)},
            },
        },
    )


def prepare_cue_recall(
    lag: int = 50,
    *,
    n_train: int = 4000,
    n_val: int = 500,
    n_test: int = 1000,
    n_classes: int = 4,
    vocab_size: int = 20,
    seed: int = 0,
) -> TaskData:
    """Generates the cue-recall splits (see :func:`lstmviz.tasks.cue_recall`).

    Args:
        lag: Number of distractors between the cue and the query.
        n_train, n_val, n_test: Split sizes; each split has its own generator seed.
        n_classes: Number of cues/classes.
        vocab_size: Token ids (cues, distractors, query, pad).
        seed: Base seed; the splits use seed, seed + 1, seed + 2.

    Returns:
        A :class:`TaskData` with task "cue_recall" (chance accuracy ``1 / n_classes``).

    Example:
        >>> d = prepare_cue_recall(lag=5, n_train=8, n_val=4, n_test=4)
        >>> tuple(d.train.x.shape), d.labels
        ((8, 7), ['french', 'spanish', 'german', 'italian'])
    """
    h = hashlib.sha256()
    splits = []
    for i, n in enumerate((n_train, n_val, n_test)):
        x, y = tasks.cue_recall(n=n, n_distractors=lag, n_classes=n_classes, vocab_size=vocab_size, seed=seed + i)
        h.update(x.numpy().tobytes())
        h.update(y.numpy().tobytes())
        splits.append(SequenceData(x, torch.full((n,), x.shape[1], dtype=torch.long), y))
    params = {"n_distractors": lag, "n_classes": n_classes, "vocab_size": vocab_size}
    return TaskData(
        task="cue_recall",
        train=splits[0],
        val=splits[1],
        test=splits[2],
        labels=tasks.cue_recall_labels(n_classes),
        vocab_size=vocab_size,
        meta={
            "vocab": None,
            "pipeline": None,
            "token_names": tasks.cue_recall_vocab(n_classes, vocab_size),
            "task_params": params,
            "dataset": {
                "name": "cue_recall",
                "generator": "lstmviz.tasks.cue_recall",
                "params": params,
                "sha256": h.hexdigest(),
                "split_seed": seed,
                "sizes": {"train": n_train, "val": n_val, "test": n_test},
            },
        },
    )


# --------------------------------------------------------------------------- evaluation


def _is_regression(model: RecurrentClassifier) -> bool:
    return model.config.head == "regress"


def _batches(data: SequenceData, batch_size: int, order: torch.Tensor | None = None):
    idx = order if order is not None else torch.arange(len(data))
    for start in range(0, len(data), batch_size):
        yield data.subset(idx[start : start + batch_size])


def _loss(model: RecurrentClassifier, out: torch.Tensor, y: torch.Tensor, weight: torch.Tensor | None = None):
    if _is_regression(model):
        return F.mse_loss(out, y.float())
    return F.cross_entropy(out, y, weight=weight)


@torch.no_grad()
def evaluate(model: RecurrentClassifier, data: SequenceData, *, batch_size: int = 256) -> dict[str, Any]:
    """Loss, accuracy and macro-F1 of ``model`` on ``data`` (eval mode, unweighted loss).

    For the regression head, ``accuracy`` is the share of predictions within 0.04 of the
    target and ``macro_f1`` is None.

    Args:
        model: The model; its training flag is restored afterwards.
        data: The split.
        batch_size: Sequences per forward pass.

    Returns:
        ``{"loss", "accuracy", "macro_f1", "n", "predictions"}`` (predictions: list of class ids
        or floats).

    Example:
        >>> evaluate(model, data.test)["accuracy"]  # doctest: +SKIP
        0.97
    """
    was_training = model.training
    model.eval()
    try:
        total, preds = 0.0, []
        for b in _batches(data, batch_size):
            out = model(b.x, b.lengths)
            total += float(_loss(model, out, b.y)) * len(b)
            preds.append(out if _is_regression(model) else out.argmax(-1))
    finally:
        model.train(was_training)
    pred = torch.cat(preds) if preds else torch.empty(0)
    n = len(data)
    if _is_regression(model):
        acc = float(((pred - data.y.float()).abs() < _ACC_TOLERANCE).float().mean())
        f1 = None
    else:
        acc = float((pred == data.y).float().mean())
        f1 = macro_f1(data.y.tolist(), pred.tolist(), labels=list(range(model.config.num_classes)))
    return {"loss": total / max(n, 1), "accuracy": acc, "macro_f1": f1, "n": n, "predictions": pred.tolist()}


def make_probe(val: SequenceData, size: int = 64) -> SequenceData:
    """A fixed batch of equal-length sequences for gradient profiles.

    Takes the ``size`` longest validation sequences (ties: first in order) and cuts them to
    the shortest of those lengths, so every step t has all ``size`` examples and the last
    step is where the loss is read.

    Example:
        >>> x = torch.tensor([[2, 3, 4], [5, 6, 0], [7, 0, 0]])
        >>> v = SequenceData(x, torch.tensor([3, 2, 1]), torch.tensor([0, 1, 0]))
        >>> make_probe(v, 2).x.tolist()
        [[2, 3], [5, 6]]
    """
    size = min(size, len(val))
    order = sorted(range(len(val)), key=lambda i: (-int(val.lengths[i]), i))[:size]
    idx = torch.tensor(sorted(order), dtype=torch.long)
    t = int(val.lengths[idx].min())
    return SequenceData(val.x[idx][:, :t].clone(), torch.full((size,), t, dtype=torch.long), val.y[idx].clone())


def grad_profile(model: RecurrentClassifier, probe: SequenceData) -> list[float]:
    """Mean over the probe batch of ``||dL/dh_t||`` for the top layer, t = 0..T-1.

    Recorded with ``lstmviz.record(model, grads=True)`` in eval mode; the parameters'
    ``.grad`` fields are left untouched. NaN entries (steps past a sequence's length) are
    ignored in the mean; a step no sequence reaches is NaN.

    Args:
        model: The model.
        probe: A fixed batch, e.g. from :func:`make_probe`.

    Returns:
        One float per step of the probe.

    Example:
        >>> len(grad_profile(model, make_probe(data.val)))  # doctest: +SKIP
        52
    """
    import lstmviz

    was_training = model.training
    model.eval()
    try:
        with torch.enable_grad(), lstmviz.record(model, grads=True, names="rnn") as rec:
            out = model(probe.x, probe.lengths)
            loss = _loss(model, out, probe.y)
            if hasattr(rec, "backward"):
                rec.backward(loss)  # autograd.grad: parameter .grad stays as it is
            else:
                grads_before = [p.grad for p in model.parameters()]
                loss.backward()
                for p, g in zip(model.parameters(), grads_before):
                    p.grad = g
    finally:
        model.train(was_training)
    g = rec[f"rnn.l{model.config.num_layers - 1}.grad_hidden"]  # (B, T, H), NaN past each length
    norms = g.norm(dim=-1)  # (B, T)
    return [float(v) for v in torch.nanmean(norms, dim=0)]


# --------------------------------------------------------------------------- training


@dataclass
class FitResult:
    """What :func:`fit` leaves behind besides the trained model (which holds the best epoch).

    Attributes:
        history: One dict per epoch (see the module docstring).
        best_epoch: The epoch whose weights the model holds (0 when no epoch ran).
        stop_reason: "max_epochs", "early_stopping" or "already_stopped".
        resume: The state to continue training from (see :func:`save_training_checkpoint`).
    """

    history: list[dict[str, Any]]
    best_epoch: int
    stop_reason: str
    resume: dict[str, Any] = field(default_factory=dict, repr=False)


def format_epoch_line(h: Mapping[str, Any], epochs: int) -> str:
    """The fixed one-line summary of an epoch.

    Example:
        >>> format_epoch_line({"epoch": 3, "train_loss": 0.41234, "train_acc": 0.8123, "val_loss": 0.5012,
        ...     "val_acc": 0.79, "val_f1": 0.7012, "seconds": 4.21}, 20)
        'epoch 3/20: train loss 0.4123 acc 0.812 | val loss 0.5012 acc 0.790 f1 0.701 | 4.2 s'
    """
    f1 = "-" if h.get("val_f1") is None else f"{h['val_f1']:.3f}"
    return (
        f"epoch {h['epoch']}/{epochs}: train loss {h['train_loss']:.4f} acc {h['train_acc']:.3f} | "
        f"val loss {h['val_loss']:.4f} acc {h['val_acc']:.3f} f1 {f1} | {h['seconds']:.1f} s"
    )


def _score(model: RecurrentClassifier, h: Mapping[str, Any]) -> float:
    """Model-selection score, higher is better: val macro-F1, or -val loss for regression."""
    return -h["val_loss"] if _is_regression(model) else h["val_f1"]


def _class_weights(model: RecurrentClassifier, train: SequenceData) -> torch.Tensor:
    counts = torch.bincount(train.y, minlength=model.config.num_classes).float()
    return len(train) / (model.config.num_classes * counts.clamp(min=1))


def save_training_checkpoint(
    directory: str | os.PathLike, model: RecurrentClassifier, meta: Mapping[str, Any], result: FitResult
) -> Path:
    """Saves the best model plus the state needed to resume (optimizer, last weights, RNG).

    Example:
        >>> save_training_checkpoint("checkpoints/x", model, meta, result)  # doctest: +SKIP
    """
    r = result.resume
    full = dict(meta)
    full.update(history=result.history, best_epoch=result.best_epoch, stop_reason=result.stop_reason)
    tensors = {f"model.{k}": v for k, v in r["last_state"].items()}
    tensors["rng.torch"] = r["rng_torch"]
    tensors["rng.shuffle"] = r["rng_shuffle"]
    counters = {k: r[k] for k in ("epoch", "best_epoch", "best_score", "bad_epochs")}
    return save_checkpoint(
        directory, model, full, optimizer=r["optimizer"], resume_tensors=tensors, resume_meta=counters
    )


def fit(
    model: RecurrentClassifier,
    train: SequenceData,
    val: SequenceData,
    cfg: TrainConfig | None = None,
    *,
    checkpoint_dir: str | os.PathLike | None = None,
    meta: Mapping[str, Any] | None = None,
    resume_from: str | os.PathLike | None = None,
    log: Callable[[str], None] | None = print,
) -> FitResult:
    """Trains with AdamW and early stopping on validation macro-F1; the model ends at its best epoch.

    Args:
        model: The model to train (in place).
        train: Training split.
        val: Validation split (also the source of the gradient-profile probe batch).
        cfg: Settings; default ``TrainConfig()``.
        checkpoint_dir: When given, a checkpoint (best weights + resume state + history so
            far) is written atomically after every epoch, so a crash or divergence leaves the
            last good epoch on disk.
        meta: Static meta entries saved with each checkpoint (vocab, labels, task, ...).
        resume_from: A checkpoint written by a previous run: weights, optimizer, RNG state,
            counters and history are restored and training continues up to ``cfg.epochs``.
        log: Receives the per-epoch lines (None or ``cfg.quiet`` silences them).

    Returns:
        A :class:`FitResult`.

    Raises:
        TrainingDiverged: when a training loss or gradient norm is NaN/Inf.

    Example:
        >>> result = fit(model, data.train, data.val, TrainConfig(epochs=3))  # doctest: +SKIP
        >>> [h["epoch"] for h in result.history]  # doctest: +SKIP
        [1, 2, 3]
    """
    cfg = cfg or TrainConfig()
    if len(train) == 0 or len(val) == 0:
        raise ValueError(f"train and val must not be empty, got {len(train)} and {len(val)} sequences")
    meta = dict(meta or {})
    meta["train_config"] = cfg.to_dict()
    log = None if cfg.quiet else log
    old_threads = torch.get_num_threads()
    old_det = torch.are_deterministic_algorithms_enabled()
    if cfg.threads is not None:
        torch.set_num_threads(cfg.threads)
    torch.use_deterministic_algorithms(True)
    try:
        return _fit(model, train, val, cfg, checkpoint_dir, meta, resume_from, log)
    finally:
        torch.use_deterministic_algorithms(old_det)
        torch.set_num_threads(old_threads)


def _fit(model, train, val, cfg, checkpoint_dir, meta, resume_from, log) -> FitResult:
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    shuffle = torch.Generator().manual_seed(cfg.seed)
    torch.manual_seed(cfg.seed)
    history: list[dict[str, Any]] = []
    best_score, best_epoch, bad_epochs, epoch0 = -math.inf, 0, 0, 0
    best_state = copy.deepcopy(model.state_dict())
    if resume_from is not None:
        best_model, old_meta = load_checkpoint(resume_from)
        state = load_resume_state(resume_from)
        if state is None:
            raise CheckpointError(f"{resume_from} has no resume state (opt.safetensors/opt.json)")
        tensors, info = state
        best_state = copy.deepcopy(best_model.state_dict())
        model.load_state_dict({k[len("model.") :]: v for k, v in tensors.items() if k.startswith("model.")})
        opt.load_state_dict(optimizer_state_dict(tensors, info))
        for group in opt.param_groups:  # the new run's settings win over the stored ones
            group["lr"], group["weight_decay"] = cfg.lr, cfg.weight_decay
        torch.set_rng_state(tensors["rng.torch"])
        shuffle.set_state(tensors["rng.shuffle"])
        counters = info["resume"]
        epoch0, best_epoch, bad_epochs = counters["epoch"], counters["best_epoch"], counters["bad_epochs"]
        best_score = -math.inf if counters["best_score"] is None else counters["best_score"]
        history = list(old_meta.get("history") or [])[:epoch0]

    weights = _class_weights(model, train) if cfg.class_weighted and not _is_regression(model) else None
    probe = make_probe(val, cfg.probe_size)
    n_batches = math.ceil(len(train) / cfg.batch_size)
    show_bar = not cfg.quiet and sys.stderr.isatty()

    def snapshot(reason: str) -> FitResult:
        return FitResult(
            history=history,
            best_epoch=best_epoch,
            stop_reason=reason,
            resume={
                "last_state": copy.deepcopy(model.state_dict()),
                "optimizer": opt,
                "rng_torch": torch.get_rng_state(),
                "rng_shuffle": shuffle.get_state(),
                "epoch": len(history),
                "best_epoch": best_epoch,
                "best_score": best_score if math.isfinite(best_score) else None,
                "bad_epochs": bad_epochs,
            },
        )

    stop_reason = "max_epochs"
    if cfg.patience and bad_epochs >= cfg.patience:
        stop_reason = "already_stopped"
        if log:
            log(f"already stopped early at epoch {epoch0} (patience {cfg.patience}); raise --patience to continue")
    for epoch in range(epoch0 + 1, cfg.epochs + 1):
        if stop_reason == "already_stopped":
            break
        t0 = time.perf_counter()
        model.train()
        order = torch.randperm(len(train), generator=shuffle)
        loss_sum, correct, seen = 0.0, 0.0, 0
        bar = tqdm(total=n_batches, desc=f"epoch {epoch}/{cfg.epochs}", leave=False, disable=not show_bar)
        try:
            for b in _batches(train, cfg.batch_size, order):
                out = model(b.x, b.lengths)
                loss = _loss(model, out, b.y, weights)
                if not torch.isfinite(loss):
                    raise TrainingDiverged(
                        f"training diverged at epoch {epoch}: loss is {float(loss.detach())}; "
                        + (
                            f"the checkpoint in {checkpoint_dir} still holds epoch {len(history)}"
                            if checkpoint_dir is not None and history
                            else "no checkpoint was written"
                        )
                        + " (try a lower --lr or --clip)"
                    )
                opt.zero_grad(set_to_none=True)
                loss.backward()
                if cfg.clip_grad_norm is not None:
                    norm = torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.clip_grad_norm)
                    if not torch.isfinite(norm):
                        raise TrainingDiverged(
                            f"training diverged at epoch {epoch}: gradient norm is {float(norm)}; "
                            f"the last good checkpoint is kept (try a lower --lr)"
                        )
                opt.step()
                with torch.no_grad():
                    loss_sum += float(loss) * len(b)
                    if _is_regression(model):
                        correct += float(((out - b.y).abs() < _ACC_TOLERANCE).sum())
                    else:
                        correct += float((out.argmax(-1) == b.y).sum())
                    seen += len(b)
                bar.update(1)
                bar.set_postfix(loss=f"{loss_sum / seen:.4f}")
        finally:
            bar.close()
        ev = evaluate(model, val, batch_size=cfg.eval_batch_size)
        profile = grad_profile(model, probe)
        h = {
            "epoch": epoch,
            "train_loss": loss_sum / seen,
            "train_acc": correct / seen,
            "val_loss": ev["loss"],
            "val_acc": ev["accuracy"],
            "val_f1": ev["macro_f1"],
            "lr": opt.param_groups[0]["lr"],
            "seconds": time.perf_counter() - t0,
            "grad_profile": profile,
        }
        history.append(h)
        score = _score(model, h)
        if score > best_score:
            best_score, best_epoch, bad_epochs = score, epoch, 0
            best_state = copy.deepcopy(model.state_dict())
        else:
            bad_epochs += 1
        if log:
            log(format_epoch_line(h, cfg.epochs))
        if cfg.patience and bad_epochs >= cfg.patience:
            stop_reason = "early_stopping"
        if checkpoint_dir is not None:
            result = snapshot(stop_reason if stop_reason == "early_stopping" else "in_progress")
            best = copy.deepcopy(model)
            best.load_state_dict(best_state)
            save_training_checkpoint(checkpoint_dir, best, meta, result)
        if stop_reason == "early_stopping":
            if log:
                log(f"early stopping: no better val score for {cfg.patience} epochs; best epoch {best_epoch}")
            break
    result = snapshot(stop_reason)
    model.load_state_dict(best_state)
    return result


# --------------------------------------------------------------------------- runs


def _count_parameters(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def _test_metrics(model: RecurrentClassifier, data: TaskData, cfg: TrainConfig) -> dict[str, Any]:
    ev = evaluate(model, data.test, batch_size=cfg.eval_batch_size)
    k = model.config.num_classes
    confusion = torch.zeros(k, k, dtype=torch.long)
    for t, p in zip(data.test.y.tolist(), ev["predictions"]):
        confusion[t, p] += 1
    base = majority_baseline(data.train.y.tolist(), data.test.y.tolist())
    y_true = data.test.y.tolist()
    per_class = {lab: macro_f1(y_true, ev["predictions"], labels=[i]) for i, lab in enumerate(data.labels)}
    return {
        "loss": ev["loss"],
        "accuracy": ev["accuracy"],
        "macro_f1": ev["macro_f1"],
        "n": ev["n"],
        "per_class_f1": per_class,
        "confusion": confusion.tolist(),  # rows: true label, columns: predicted label
        "majority_baseline": {
            "accuracy": base["accuracy"],
            "macro_f1": base["macro_f1"],
            "label": data.labels[int(base["majority_label"])],
        },
        "chance_accuracy": 1.0 / k,
    }


def _base_meta(data: TaskData, model: RecurrentClassifier) -> dict[str, Any]:
    meta = dict(data.meta)
    meta.update(
        task=data.task,
        labels=list(data.labels),
        parameters=_count_parameters(model),
        library_version=library_version(),
    )
    return meta


def train_model(
    data: TaskData,
    model_cfg: ModelConfig,
    train_cfg: TrainConfig | None = None,
    *,
    out: str | os.PathLike | None = None,
    log: Callable[[str], None] | None = print,
) -> tuple[RecurrentClassifier, dict[str, Any]]:
    """Builds a model, fits it, evaluates it on the test split and (optionally) saves it.

    Args:
        data: From :func:`prepare_sentiment` or :func:`prepare_cue_recall`.
        model_cfg: Architecture; ``vocab_size`` and ``num_classes`` are taken from ``data``.
        train_cfg: Settings; default ``TrainConfig()``.
        out: Checkpoint directory, written after every epoch and at the end.
        log: Receives progress lines.

    Returns:
        ``(model, meta)`` with ``meta["test_metrics"]`` and ``meta["history"]``.

    Raises:
        TrainingDiverged: see :func:`fit`.

    Example:
        >>> model, meta = train_model(prepare_cue_recall(5), ModelConfig(cell="gru"))  # doctest: +SKIP
    """
    train_cfg = train_cfg or TrainConfig()
    sizes = {"vocab_size": data.vocab_size, "num_classes": len(data.labels)}
    cfg = ModelConfig.from_dict({**model_cfg.to_dict(), **sizes})
    torch.manual_seed(train_cfg.seed)
    model = RecurrentClassifier(cfg)
    meta = _base_meta(data, model)
    result = fit(model, data.train, data.val, train_cfg, checkpoint_dir=out, meta=meta, log=log)
    return _finish(model, data, train_cfg, meta, result, out, log)


def _finish(model, data, train_cfg, meta, result, out, log):
    meta = dict(meta)
    meta["train_config"] = train_cfg.to_dict()
    meta["test_metrics"] = _test_metrics(model, data, train_cfg)
    secs = [h["seconds"] for h in result.history]
    # Median, not mean: robust to a slow first epoch or a busy machine.
    meta["seconds_per_epoch"] = float(np.median(secs)) if secs else None
    meta["train_seconds"] = float(np.sum(secs)) if secs else 0.0
    if out is not None:
        save_training_checkpoint(out, model, meta, result)
    meta.update(history=result.history, best_epoch=result.best_epoch, stop_reason=result.stop_reason)
    tm = meta["test_metrics"]
    if log and not train_cfg.quiet:
        f1 = "-" if tm["macro_f1"] is None else f"{tm['macro_f1']:.3f}"
        log(
            f"test: acc {tm['accuracy']:.3f} f1 {f1} (majority baseline acc "
            f"{tm['majority_baseline']['accuracy']:.3f} f1 {tm['majority_baseline']['macro_f1']:.3f}); "
            f"best epoch {result.best_epoch}"
            + (f"; saved {out}" if out is not None else "")
        )
    return model, meta


def resume_training(
    out: str | os.PathLike,
    *,
    data_path: str | os.PathLike | None = None,
    overrides: Mapping[str, Any] | None = None,
    log: Callable[[str], None] | None = print,
) -> tuple[RecurrentClassifier, dict[str, Any]]:
    """Continues a run from its checkpoint: epochs, history, optimizer and RNG state.

    The data are rebuilt from the stored task parameters (sentiment: from ``data_path`` or
    the stored path, checked against the stored sha256; the stored vocabulary is reused).

    Args:
        out: The checkpoint directory; it is updated in place.
        data_path: Corpus location for sentiment when it moved since training.
        overrides: TrainConfig fields to change, e.g. ``{"epochs": 30}``.
        log: Receives progress lines.

    Returns:
        ``(model, meta)`` like :func:`train_model`.

    Raises:
        CheckpointError: when the checkpoint is unreadable or has no resume state.
        ValueError: when the corpus no longer matches the stored fingerprint.

    Example:
        >>> resume_training("checkpoints/cue-gru", overrides={"epochs": 30})  # doctest: +SKIP
    """
    best_model, old = load_checkpoint(out)
    cfg = TrainConfig.from_dict({**(old.get("train_config") or {}), **(overrides or {})})
    task, params, ds = old.get("task"), old.get("task_params") or {}, old.get("dataset") or {}
    if task == "sentiment":
        path = Path(data_path or ds.get("path", ""))
        data = prepare_sentiment(
            path,
            seed=ds.get("split_seed", 0),
            pipeline=TextPipeline.from_dict(old.get("pipeline") or {}),
            vocab=Vocab.from_dict(old["vocab"]),
            min_freq=params.get("min_freq", 2),
            max_vocab=params.get("max_vocab", 20000),
        )
    elif task == "cue_recall":
        sizes = ds.get("sizes", {})
        data = prepare_cue_recall(
            params["n_distractors"],
            n_train=sizes["train"],
            n_val=sizes["val"],
            n_test=sizes["test"],
            n_classes=params["n_classes"],
            vocab_size=params["vocab_size"],
            seed=ds.get("split_seed", 0),
        )
    else:
        raise CheckpointError(
            f"{Path(out) / 'meta.json'}: cannot resume task={task!r}; allowed: {', '.join(TASKS)}"
        )
    if ds.get("sha256") and data.meta["dataset"]["sha256"] != ds["sha256"]:
        raise ValueError(
            f"the data for {out} changed since training (sha256 {data.meta['dataset']['sha256'][:12]} vs stored "
            f"{ds['sha256'][:12]}); resuming would mix datasets - train a new model instead"
        )
    model = RecurrentClassifier(best_model.config)
    meta = _base_meta(data, model)
    result = fit(model, data.train, data.val, cfg, checkpoint_dir=out, meta=meta, resume_from=out, log=log)
    return _finish(model, data, cfg, meta, result, out, log)


def _markdown_table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def _write_text_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def compare_cells(
    data: TaskData,
    model_cfg: ModelConfig,
    train_cfg: TrainConfig,
    *,
    root: str | os.PathLike = "checkpoints",
    cells: Sequence[str] = CELLS,
    log: Callable[[str], None] | None = print,
) -> list[dict[str, Any]]:
    """Trains one model per cell type under identical settings and writes a comparison table.

    Checkpoints go to ``root/<prefix>-<cell>`` (prefix "sentiment" or "cue"); the table to
    ``root/<task>_comparison.md`` and ``.json``.

    Returns:
        One row per cell: cell, parameters, epochs, best_epoch, seconds_per_epoch,
        train_seconds, test_accuracy, test_macro_f1, majority_accuracy, majority_macro_f1.

    Example:
        >>> rows = compare_cells(prepare_cue_recall(20), ModelConfig(), TrainConfig())  # doctest: +SKIP
    """
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    rows = []
    for cell in cells:
        if log:
            log(f"== {data.task}: {cell} ==")
        cfg = ModelConfig.from_dict({**model_cfg.to_dict(), "cell": cell})
        out = root / f"{_CHECKPOINT_PREFIX[data.task]}-{cell}"
        model, meta = train_model(data, cfg, train_cfg, out=out, log=log)
        tm = meta["test_metrics"]
        rows.append(
            {
                "cell": cell,
                "checkpoint": out.name,
                "parameters": meta["parameters"],
                "epochs": len(meta["history"]),
                "best_epoch": meta["best_epoch"],
                "seconds_per_epoch": meta["seconds_per_epoch"],
                "train_seconds": meta["train_seconds"],
                "test_accuracy": tm["accuracy"],
                "test_macro_f1": tm["macro_f1"],
                "majority_accuracy": tm["majority_baseline"]["accuracy"],
                "majority_macro_f1": tm["majority_baseline"]["macro_f1"],
            }
        )
    summary = {
        "task": data.task,
        "labels": data.labels,
        "model_config": model_cfg.to_dict(),
        "train_config": train_cfg.to_dict(),
        "dataset": data.meta.get("dataset"),
        "library_version": library_version(),
        "rows": rows,
    }
    _write_text_atomic(root / f"{data.task}_comparison.json", json.dumps(summary, indent=1, ensure_ascii=False))
    _write_text_atomic(root / f"{data.task}_comparison.md", _comparison_markdown(rows))
    return rows


def _comparison_markdown(rows: Sequence[Mapping[str, Any]]) -> str:
    header = ["cell", "parameters", "epochs (best)", "median s/epoch", "test acc", "test macro-F1",
              "majority acc", "majority macro-F1"]  # fmt: skip
    body = [
        [
            r["cell"],
            f"{r['parameters']:,}",
            f"{r['epochs']} ({r['best_epoch']})",
            f"{r['seconds_per_epoch']:.1f}",
            f"{r['test_accuracy']:.3f}",
            f"{r['test_macro_f1']:.3f}",
            f"{r['majority_accuracy']:.3f}",
            f"{r['majority_macro_f1']:.3f}",
        ]
        for r in rows
    ]
    return _markdown_table(header, body)


def lag_sweep(
    model_cfg: ModelConfig,
    train_cfg: TrainConfig,
    *,
    root: str | os.PathLike = "checkpoints",
    lags: Sequence[int] = LAG_SWEEP_LAGS,
    cells: Sequence[str] = CELLS,
    n_train: int = 4000,
    seed: int = 0,
    log: Callable[[str], None] | None = print,
) -> dict[str, Any]:
    """Cue-recall test accuracy for every (cell, lag); writes the JSON the dashboard reads.

    Writes ``root/cue_recall_lag_sweep.json``::

        {"task": "cue_recall", "lags": [...], "cells": [...], "chance": 0.25,
         "accuracy": {"lstm": [acc per lag], ...}, "macro_f1": {...}, "seconds": {...},
         "results": [{"cell", "lag", "test_accuracy", "test_macro_f1", "epochs", "best_epoch",
                      "seconds", "parameters"}, ...], "model_config": ..., "train_config": ...}

    and ``root/cue_recall_lag_sweep.md`` (accuracy table, lags as columns). No checkpoints.

    Example:
        >>> sweep = lag_sweep(ModelConfig(embed_dim=32), TrainConfig(), lags=(5, 10))  # doctest: +SKIP
    """
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    results = []
    for lag in lags:
        data = prepare_cue_recall(lag, n_train=n_train, seed=seed)
        for cell in cells:
            if log:
                log(f"== cue_recall lag {lag}: {cell} ==")
            cfg = ModelConfig.from_dict({**model_cfg.to_dict(), "cell": cell})
            t0 = time.perf_counter()
            _, meta = train_model(data, cfg, train_cfg, out=None, log=log)
            results.append(
                {
                    "cell": cell,
                    "lag": lag,
                    "test_accuracy": meta["test_metrics"]["accuracy"],
                    "test_macro_f1": meta["test_metrics"]["macro_f1"],
                    "epochs": len(meta["history"]),
                    "best_epoch": meta["best_epoch"],
                    "seconds": time.perf_counter() - t0,
                    "parameters": meta["parameters"],
                }
            )
    by = {(r["cell"], r["lag"]): r for r in results}
    sweep = {
        "task": "cue_recall",
        "lags": list(lags),
        "cells": list(cells),
        "chance": 1.0 / 4,
        "accuracy": {c: [by[c, lag]["test_accuracy"] for lag in lags] for c in cells},
        "macro_f1": {c: [by[c, lag]["test_macro_f1"] for lag in lags] for c in cells},
        "seconds": {c: [by[c, lag]["seconds"] for lag in lags] for c in cells},
        "results": results,
        "n_train": n_train,
        "seed": seed,
        "model_config": model_cfg.to_dict(),
        "train_config": train_cfg.to_dict(),
        "library_version": library_version(),
    }
    _write_text_atomic(root / "cue_recall_lag_sweep.json", json.dumps(sweep, indent=1))
    header = ["cell"] + [f"lag {lag}" for lag in lags] + ["total s"]
    body = [
        [c, *(f"{by[c, lag]['test_accuracy']:.3f}" for lag in lags), f"{sum(sweep['seconds'][c]):.0f}"]
        for c in cells
    ]
    _write_text_atomic(root / "cue_recall_lag_sweep.md", _markdown_table(header, body))
    return sweep


# --------------------------------------------------------------------------- CLI


_DEFAULT_DATA = "../shared/data/opensentimentcorpus"
# Per-task defaults chosen so the six shipped models retrain in minutes on 2 CPU cores.
_TASK_DEFAULTS: dict[str, dict[str, Any]] = {
    "sentiment": {"embed_dim": 64, "hidden_size": 64, "dropout": 0.3, "gate_bias": 2.0, "epochs": 20,
                  "batch_size": 32, "lr": 2e-3, "weight_decay": 0.1, "patience": 5, "class_weighted": True},
    "cue_recall": {"embed_dim": 16, "hidden_size": 64, "dropout": 0.0, "gate_bias": 2.0, "epochs": 30,
                   "batch_size": 64, "lr": 3e-3, "weight_decay": 0.01, "patience": 5, "class_weighted": False},
}  # fmt: skip


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m lstmviz.train",
        description="Train RNN/GRU/LSTM classifiers and write lstmviz checkpoints.",
    )
    p.add_argument("--task", choices=TASKS, default="sentiment", help="what to train on (default: sentiment)")
    p.add_argument("--data", default=_DEFAULT_DATA, help="sentiment corpus CSV or directory (default: %(default)s)")
    p.add_argument("--cell", choices=CELLS, default="lstm", help="recurrent cell (default: lstm)")
    p.add_argument("--out", help="checkpoint directory; with --compare/--lag-sweep the root directory")
    mode = p.add_mutually_exclusive_group()
    mode.add_argument("--resume", action="store_true", help="continue the run stored in --out")
    mode.add_argument("--compare", action="store_true", help="train rnn, gru and lstm under identical settings")
    mode.add_argument("--lag-sweep", action="store_true", help="cue recall accuracy vs lag for the three cells")
    p.add_argument("--lag", type=int, default=50, help="cue recall: distractors between cue and query (default: 50)")
    p.add_argument("--lags", type=lambda s: [int(v) for v in s.split(",")], default=list(LAG_SWEEP_LAGS),
                   help="--lag-sweep lags, comma-separated (default: 5,10,20,50,100)")  # fmt: skip
    p.add_argument("--n-train", type=int, default=4000, help="cue recall: training sequences (default: 4000)")
    p.add_argument("--embed", type=int, help="embedding size")
    p.add_argument("--hidden", type=int, help="hidden units per layer and direction")
    p.add_argument("--layers", type=int, default=1, help="stacked recurrent layers (default: 1)")
    p.add_argument("--bidirectional", action="store_true", help="bidirectional RNN")
    p.add_argument("--dropout", type=float, help="dropout between layers and before the head")
    p.add_argument("--gate-bias", type=float, help="initial LSTM forget / GRU update gate bias (default: 2.0)")
    p.add_argument("--min-freq", type=int, default=2, help="sentiment: minimum token count for the vocabulary")
    p.add_argument("--max-vocab", type=int, default=20000, help="sentiment: maximum vocabulary size")
    p.add_argument("--epochs", type=int, help="maximum epochs")
    p.add_argument("--batch-size", type=int, help="batch size")
    p.add_argument("--lr", type=float, help="AdamW learning rate")
    p.add_argument("--weight-decay", type=float, help="AdamW weight decay (sentiment 0.1, cue recall 0.01)")
    p.add_argument("--patience", type=int, help="early-stopping patience in epochs (0: off)")
    p.add_argument("--clip", type=float, help="gradient-norm clipping threshold (default: 1.0; 0: off)")
    cw = p.add_mutually_exclusive_group()
    cw.add_argument("--class-weighted", dest="class_weighted", action="store_true", default=None,
                    help="inverse-frequency class weights in the loss (sentiment default)")  # fmt: skip
    cw.add_argument("--no-class-weighted", dest="class_weighted", action="store_false")
    p.add_argument("--seed", type=int, default=0, help="random seed (default: 0)")
    p.add_argument("--threads", type=int, default=2, help="torch CPU threads (default: 2)")
    p.add_argument("--quiet", action="store_true", help="no progress bar or per-epoch lines")
    return p


def _configs(args: argparse.Namespace) -> tuple[ModelConfig, TrainConfig]:
    d = _TASK_DEFAULTS[args.task]

    def pick(value, key):
        return d[key] if value is None else value

    model_cfg = ModelConfig(
        cell=args.cell,
        embed_dim=pick(args.embed, "embed_dim"),
        hidden_size=pick(args.hidden, "hidden_size"),
        num_layers=args.layers,
        bidirectional=args.bidirectional,
        dropout=pick(args.dropout, "dropout"),
        gate_bias=pick(args.gate_bias, "gate_bias"),
    )
    train_cfg = TrainConfig(
        epochs=pick(args.epochs, "epochs"),
        batch_size=pick(args.batch_size, "batch_size"),
        lr=pick(args.lr, "lr"),
        weight_decay=pick(args.weight_decay, "weight_decay"),
        patience=pick(args.patience, "patience"),
        clip_grad_norm=1.0 if args.clip is None else (args.clip or None),
        class_weighted=pick(args.class_weighted, "class_weighted"),
        seed=args.seed,
        threads=args.threads,
        quiet=args.quiet,
    )
    return model_cfg, train_cfg


def _overrides(args: argparse.Namespace) -> dict[str, Any]:
    """TrainConfig fields given explicitly on a --resume command line."""
    o = {"threads": args.threads, "quiet": args.quiet}
    for arg, key in (("epochs", "epochs"), ("batch_size", "batch_size"), ("lr", "lr"),
                     ("weight_decay", "weight_decay"), ("patience", "patience")):  # fmt: skip
        if getattr(args, arg) is not None:
            o[key] = getattr(args, arg)
    if args.clip is not None:
        o["clip_grad_norm"] = args.clip or None
    return o


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point; returns the exit status (0 ok, 2 usage/data error, 3 diverged).

    Example:
        >>> main(["--task", "cue_recall", "--lag", "5", "--epochs", "1", "--out", "/tmp/cue"])  # doctest: +SKIP
        0
    """
    args = _parser().parse_args(argv)
    try:
        if args.resume:
            if not args.out:
                raise ValueError("--resume needs --out, the checkpoint directory to continue")
            data_path = args.data if args.data != _DEFAULT_DATA else None
            resume_training(args.out, data_path=data_path, overrides=_overrides(args))
            return 0
        model_cfg, train_cfg = _configs(args)
        if args.lag_sweep:
            if args.task != "cue_recall":
                raise ValueError(f"--lag-sweep needs --task cue_recall, got --task {args.task}")
            lag_sweep(model_cfg, train_cfg, root=args.out or "checkpoints", lags=args.lags, n_train=args.n_train,
                      seed=args.seed)  # fmt: skip
            return 0
        if args.task == "sentiment":
            data = prepare_sentiment(args.data, seed=args.seed, min_freq=args.min_freq, max_vocab=args.max_vocab)
        else:
            data = prepare_cue_recall(args.lag, n_train=args.n_train, seed=args.seed)
        if args.compare:
            compare_cells(data, model_cfg, train_cfg, root=args.out or "checkpoints")
        else:
            out = args.out or f"checkpoints/{_CHECKPOINT_PREFIX[args.task]}-{args.cell}"
            train_model(data, model_cfg, train_cfg, out=out)
        return 0
    except TrainingDiverged as e:
        print(f"error: {e}", file=sys.stderr)
        return EXIT_DIVERGED
    except (ValueError, FileNotFoundError) as e:  # CheckpointError and DataError are ValueErrors
        print(f"error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
