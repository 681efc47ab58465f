"""The training loop: ``fit`` with callbacks, ``evaluate``, and resumable training checkpoints.

``fit`` trains a :class:`~lstmviz.models.RecurrentClassifier` on a fixed split (one shuffled
pass per epoch) or on an :class:`~lstmviz.taskdata.OnlineStream` (an "epoch" is then
``updates_per_epoch`` updates on fresh batches, so histories keep their shape). After every
epoch it evaluates on the validation split, records the gradient profile of a fixed probe
batch, appends a dict to the history and calls ``on_epoch``; before every update it asks
``should_stop``. It stops at the epoch limit, on patience (early stopping), when the
validation score reaches ``stop_at`` ("solved"), when a callback asks, or on a non-finite
loss (:class:`TrainingDiverged`; the checkpoint on disk then holds the last good epoch).

History entries: ``epoch, updates, train_loss, train_acc, val_loss, val_acc, val_f1, lr,
grad_norm_median`` (the global gradient norm before clipping, median over the epoch's updates), ``clipped``
(the fraction of those updates that clipping shortened; None without clipping), ``seconds, grad_profile``
and, with ``track_grad_ratio``, ``grad_ratio`` (float64, see
:func:`lstmviz.profiles.gradient_ratio`). Every epoch prints one fixed-format line::

    epoch 3/20: train loss 0.4123 acc 0.812 | val loss 0.5012 acc 0.790 f1 0.701 | 4.2 s

No process-wide state is changed: the data order comes from private generators, the thread
count and the determinism switch are the caller's (the CLI sets them), and the global RNG is
used only by dropout, inside ``torch.random.fork_rng`` (restored on exit). ``fit`` can run in a
dashboard thread beside other sessions.

Example::

    result = fit(model, data.train, data.val, TrainConfig(epochs=3), on_epoch=lambda h: print(h["val_acc"]))
"""

from __future__ import annotations

import contextlib
import copy
import math
import os
import statistics
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from tqdm import tqdm

from lstmviz.checkpoint import (
    CheckpointError,
    load_checkpoint,
    load_resume_state,
    optimizer_state_dict,
    save_checkpoint,
)
from lstmviz.datasets import macro_f1
from lstmviz.models import RecurrentClassifier
from lstmviz.profiles import grad_profile, gradient_ratio, make_probe
from lstmviz.taskdata import OnlineStream, SequenceData

__all__ = [
    "ACC_TOLERANCE",
    "FitResult",
    "TrainConfig",
    "TrainingDiverged",
    "check_int",
    "check_number",
    "clipped_fraction",
    "evaluate",
    "fit",
    "format_epoch_line",
    "save_training_checkpoint",
]

ACC_TOLERANCE = 0.04  # regression "accuracy": |prediction - target| below this (adding-problem convention)
_LEGACY_KEYS = ("threads",)  # TrainConfig keys of older checkpoints, ignored when read back


class TrainingDiverged(RuntimeError):
    """The training loss became NaN or infinite; the last good checkpoint is kept."""


@dataclass
class TrainConfig:
    """Optimisation settings; stored in a checkpoint's meta as ``train_config``.

    Per-task values live in :data:`lstmviz.taskdata.TASK_DEFAULTS`; these are the generic ones.

    Example:
        >>> TrainConfig(epochs=5, patience=2).lr
        0.002
    """

    epochs: int = 20  # maximum number of epochs (a resumed run continues up to this number)
    batch_size: int = 32  # sequences per optimisation step
    lr: float = 2e-3  # AdamW learning rate
    weight_decay: float = 0.01  # AdamW decoupled weight decay
    patience: int = 4  # stop after this many epochs without a better val score; 0 never stops early
    clip_grad_norm: float | None = 1.0  # clip the global gradient norm to this; None disables clipping
    class_weighted: bool = False  # weight the training cross-entropy by inverse class frequency
    seed: int = 0  # seeds dropout and the shuffling of a fixed split (initialisation: see experiments)
    probe_size: int = 64  # validation examples in the fixed gradient-profile probe batch
    eval_batch_size: int = 256  # sequences per batch when evaluating (no effect on results)
    quiet: bool = False  # no progress bar and no per-epoch lines
    updates_per_epoch: int | None = None  # online data: updates between evaluations; None = one pass of a split
    # Stop at the first evaluation whose val accuracy reaches this (classification) or whose val
    # MSE falls to it (regression); None trains to the epoch limit.
    stop_at: float | None = None
    track_grad_ratio: bool = False  # add the float64 ||dL/dh_0|| / ||dL/dh_T|| of the probe to every epoch

    def __post_init__(self) -> None:
        for name in ("epochs", "batch_size", "probe_size", "eval_batch_size"):
            check_int(name, getattr(self, name), 1)
        check_int("patience", self.patience, 0)
        check_int("seed", self.seed, 0)
        if self.updates_per_epoch is not None:
            check_int("updates_per_epoch", self.updates_per_epoch, 1)
        check_number("lr", self.lr)
        check_number("weight_decay", self.weight_decay, zero_ok=True)
        for name in ("clip_grad_norm", "stop_at"):
            check_number(name, getattr(self, name), none_ok=True)
        for name in ("class_weighted", "quiet", "track_grad_ratio"):
            if not isinstance(getattr(self, name), bool):
                raise ValueError(f"{name}={getattr(self, name)!r} is invalid; allowed: True, False")

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict of the settings."""
        return asdict(self)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> TrainConfig:
        """Inverse of :meth:`to_dict`; unknown keys are an error (``threads`` of older checkpoints is dropped).

        Example:
            >>> TrainConfig.from_dict({"epochs": 3, "threads": 2}).epochs
            3
        """
        known = [f.name for f in fields(cls)]
        d = {k: v for k, v in d.items() if k not in _LEGACY_KEYS}
        unknown = sorted(set(d) - set(known))
        if unknown:
            raise ValueError(f"unknown train config keys {unknown}; allowed: {', '.join(known)}")
        return cls(**d)


# The field checks of the training configs: TrainConfig here, LMTrainConfig (lstmviz.lmtrainer) and TagTrainConfig
# (lstmviz.tagtrainer) use the same two, so a bad value reads the same whichever trainer refuses it.


def check_int(name: str, value: Any, lo: int, hi: int | None = None) -> None:
    """Refuses ``value`` unless it is an integer ``>= lo`` (and ``<= hi`` when given; ``True``/``False`` are not
    integers here).

    Raises:
        ValueError: naming the field, the value and what is allowed.

    Example:
        >>> check_int("epochs", 0, 1)
        Traceback (most recent call last):
        ...
        ValueError: epochs=0 is invalid; allowed: an integer >= 1
        >>> check_int("seed", 2**64, 0, 2**64 - 1)
        Traceback (most recent call last):
        ...
        ValueError: seed=18446744073709551616 is invalid; allowed: an integer in 0..18446744073709551615
    """
    if isinstance(value, bool) or not isinstance(value, int) or value < lo or (hi is not None and value > hi):
        allowed = f"an integer >= {lo}" if hi is None else f"an integer in {lo}..{hi}"
        raise ValueError(f"{name}={value!r} is invalid; allowed: {allowed}")


def check_number(
    name: str, value: Any, *, zero_ok: bool = False, none_ok: bool = False, lo: float | None = None
) -> None:
    """Refuses ``value`` unless it is a finite number ``> 0`` (``>= 0`` with ``zero_ok``; ``>= lo`` when ``lo`` is
    given), or None with ``none_ok``.

    Raises:
        ValueError: naming the field, the value and what is allowed.

    Example:
        >>> check_number("lr", -1)
        Traceback (most recent call last):
        ...
        ValueError: lr=-1 is invalid; allowed: a number > 0
        >>> check_number("temperature", 5e-324, lo=1e-6)
        Traceback (most recent call last):
        ...
        ValueError: temperature=5e-324 is invalid; allowed: a finite number >= 1e-06
    """
    if value is None and none_ok:
        return
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    if lo is not None:
        if not ok or value < lo:
            raise ValueError(
                f"{name}={value!r} is invalid; allowed: {'None or ' if none_ok else ''}a finite number >= {lo}"
            )
        return
    if not ok or not (value >= 0 if zero_ok else value > 0):
        allowed = ("None or " if none_ok else "") + ("a number >= 0" if zero_ok else "a number > 0")
        raise ValueError(f"{name}={value!r} is invalid; allowed: {allowed}")


# --------------------------------------------------------------------------- evaluation


def clipped_fraction(norms: list[float], clip: float | None) -> float | None:
    """The fraction of updates whose gradient norm exceeded ``clip`` (None when there is no clipping or no update).

    When it is 1.0 every step had length ``lr * clip`` in gradient units: the clip, not the gradient, set the step.

    Example:
        >>> clipped_fraction([0.5, 2.0, 3.0, 1.0], 1.0)
        0.5
        >>> clipped_fraction([2.0], None) is None
        True
    """
    if clip is None or not norms:
        return None
    return sum(n > clip for n in norms) / len(norms)


def _is_regression(model: RecurrentClassifier) -> bool:
    return model.config.head == "regress"


def _batches(data: SequenceData, batch_size: int, order: torch.Tensor | None = None):
    idx = order if order is not None else torch.arange(len(data))
    for start in range(0, len(data), batch_size):
        yield data.subset(idx[start : start + batch_size])


def _loss(model: RecurrentClassifier, out: torch.Tensor, y: torch.Tensor, weight: torch.Tensor | None = None):
    if _is_regression(model):
        return F.mse_loss(out, y.to(out.dtype))
    return F.cross_entropy(out, y, weight=weight)


@torch.no_grad()
def evaluate(model: RecurrentClassifier, data: SequenceData, *, batch_size: int = 256) -> dict[str, Any]:
    """Loss, accuracy and macro-F1 of ``model`` on ``data`` (eval mode, unweighted loss).

    For the regression head, ``loss`` is the MSE, ``accuracy`` is the share of predictions
    within 0.04 of the target and ``macro_f1`` is None.

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
        acc = float(((pred - data.y.float()).abs() < ACC_TOLERANCE).float().mean())
        f1 = None
    else:
        acc = float((pred == data.y).float().mean())
        f1 = macro_f1(data.y.tolist(), pred.tolist(), labels=list(range(model.config.num_classes)))
    return {"loss": total / max(n, 1), "accuracy": acc, "macro_f1": f1, "n": n, "predictions": pred.tolist()}


# --------------------------------------------------------------------------- training


@dataclass
class FitResult:
    """What :func:`fit` leaves behind besides the trained model (which holds the best epoch).

    Attributes:
        history: One dict per epoch (see the module docstring).
        best_epoch: The epoch whose weights the model holds (0 when no epoch ran).
        stop_reason: "max_epochs", "early_stopping", "solved", "callback", "stopped" or
            "already_stopped".
        solved_at: Updates done at the first evaluation that reached ``stop_at`` (None if none).
        resume: The state to continue training from (see :func:`save_training_checkpoint`).
    """

    history: list[dict[str, Any]]
    best_epoch: int
    stop_reason: str
    solved_at: int | None = None
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
    """Model-selection score, higher is better: val macro-F1 (val accuracy online), or -val loss for regression."""
    if _is_regression(model):
        return -h["val_loss"]
    return h["val_f1"] if h.get("val_f1") is not None else h["val_acc"]


def _solved(model: RecurrentClassifier, h: Mapping[str, Any], stop_at: float | None) -> bool:
    if stop_at is None:
        return False
    return h["val_loss"] <= stop_at if _is_regression(model) else h["val_acc"] >= stop_at


def _class_weights(model: RecurrentClassifier, train: SequenceData) -> torch.Tensor:
    counts = torch.bincount(train.y, minlength=model.config.num_classes).float()
    return len(train) / (model.config.num_classes * counts.clamp(min=1))


def _uses_dropout(model: torch.nn.Module) -> bool:
    """True when training mode draws random numbers (dropout anywhere, also between RNN layers)."""
    return any(
        (isinstance(m, torch.nn.Dropout) and m.p > 0) or (isinstance(m, torch.nn.RNNBase) and m.dropout > 0)
        for m in model.modules()
    )


def _frozen(model: torch.nn.Module) -> set[str]:
    """Names of the parameters training does not change (``requires_grad`` False)."""
    return {n for n, p in model.named_parameters() if not p.requires_grad}


def save_training_checkpoint(
    directory: str | os.PathLike, model: RecurrentClassifier, meta: Mapping[str, Any], result: FitResult
) -> Path:
    """Saves the best model plus the state needed to resume (optimizer, last weights, RNG).

    Example:
        >>> save_training_checkpoint("checkpoints/x", model, meta, result)  # doctest: +SKIP
    """
    r = result.resume
    full = dict(meta)
    full.update(
        history=result.history, best_epoch=result.best_epoch, stop_reason=result.stop_reason, solved_at=result.solved_at
    )
    frozen = _frozen(model)  # e.g. a fixed pretrained embedding: equal in the best and the last state
    tensors = {f"model.{k}": v for k, v in r["last_state"].items() if k not in frozen}
    tensors["rng.torch"] = r["rng_torch"]
    tensors["rng.shuffle"] = r["rng_shuffle"]
    counters = {k: r[k] for k in ("epoch", "best_epoch", "best_score", "bad_epochs", "updates")}
    return save_checkpoint(
        directory, model, full, optimizer=r["optimizer"], resume_tensors=tensors, resume_meta=counters
    )


def fit(
    model: RecurrentClassifier,
    train: SequenceData | OnlineStream,
    val: SequenceData,
    cfg: TrainConfig | None = None,
    *,
    checkpoint_dir: str | os.PathLike | None = None,
    meta: Mapping[str, Any] | None = None,
    resume_from: str | os.PathLike | None = None,
    log: Callable[[str], None] | None = print,
    on_epoch: Callable[[dict[str, Any]], bool | None] | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> FitResult:
    """Trains with AdamW; the model ends at its best epoch (val macro-F1, val accuracy or -val MSE).

    Args:
        model: The model to train (in place).
        train: A fixed training split, or an online stream (then ``cfg.updates_per_epoch`` is needed).
        val: Validation split (also the source of the gradient-profile probe batch).
        cfg: Settings; default ``TrainConfig()``.
        checkpoint_dir: When given, a checkpoint (best weights + resume state + history so
            far) is written atomically after every epoch, so a crash or divergence leaves the
            last good epoch on disk.
        meta: Static meta entries saved with each checkpoint (vocab, labels, task, ...).
        resume_from: A checkpoint written by a previous run: weights, optimizer, RNG state,
            counters and history are restored and training continues up to ``cfg.epochs``.
        log: Receives the per-epoch lines (None or ``cfg.quiet`` silences them).
        on_epoch: Called with each new history entry (a copy); returning True stops training
            (stop reason "callback").
        should_stop: Polled before every update; True ends training at once (stop reason
            "stopped"; the unfinished epoch is not recorded).

    Returns:
        A :class:`FitResult`.

    Raises:
        TrainingDiverged: when a training loss or gradient norm is NaN/Inf.
        ValueError: for empty data, or an online stream without ``updates_per_epoch``.

    Example:
        >>> result = fit(model, data.train, data.val, TrainConfig(epochs=3))  # doctest: +SKIP
        >>> [h["epoch"] for h in result.history]  # doctest: +SKIP
        [1, 2, 3]
    """
    cfg = cfg or TrainConfig()
    online = isinstance(train, OnlineStream)
    if online and cfg.updates_per_epoch is None:
        raise ValueError("an online stream needs TrainConfig.updates_per_epoch (updates between evaluations)")
    if (not online and len(train) == 0) or len(val) == 0:
        raise ValueError(f"train and val must not be empty, got {0 if online else len(train)} and {len(val)} sequences")
    meta = dict(meta or {})
    meta["train_config"] = cfg.to_dict()
    log = None if cfg.quiet else log
    # Dropout is the only user of the global RNG here; fork_rng gives it back as it was.
    rng = torch.random.fork_rng(devices=[]) if _uses_dropout(model) else contextlib.nullcontext()
    with rng:
        return _Loop(model, train, val, cfg, checkpoint_dir, meta, log, on_epoch, should_stop).run(resume_from)


class _Loop:
    """State of one :func:`fit` call (kept on an object so the epoch code stays readable)."""

    def __init__(self, model, train, val, cfg, checkpoint_dir, meta, log, on_epoch, should_stop) -> None:
        self.model, self.train, self.val, self.cfg = model, train, val, cfg
        self.checkpoint_dir, self.meta, self.log = checkpoint_dir, meta, log
        self.on_epoch, self.should_stop = on_epoch, should_stop
        self.online = isinstance(train, OnlineStream)
        self.opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
        # Data order: the stream's own generator online, a private shuffling generator otherwise.
        self.shuffle = train.generator if self.online else torch.Generator().manual_seed(cfg.seed)
        self.history: list[dict[str, Any]] = []
        self.best_score, self.best_epoch, self.bad_epochs, self.updates = -math.inf, 0, 0, 0
        self.solved_at: int | None = None
        self.best_state = copy.deepcopy(model.state_dict())
        self.uses_rng = _uses_dropout(model)

    def _restore(self, resume_from) -> None:
        best_model, old_meta = load_checkpoint(resume_from)
        state = load_resume_state(resume_from)
        if state is None:
            raise CheckpointError(f"{resume_from} has no resume state (opt.safetensors/opt.json)")
        tensors, info = state
        self.best_state = copy.deepcopy(best_model.state_dict())
        last = {k[len("model.") :]: v for k, v in tensors.items() if k.startswith("model.")}
        for name in _frozen(self.model):  # never stored: a frozen parameter's last value is its best one
            last.setdefault(name, self.best_state[name])
        self.model.load_state_dict(last)
        self.opt.load_state_dict(optimizer_state_dict(tensors, info))
        for group in self.opt.param_groups:  # the new run's settings win over the stored ones
            group["lr"], group["weight_decay"] = self.cfg.lr, self.cfg.weight_decay
        if self.uses_rng:
            torch.set_rng_state(tensors["rng.torch"])
        self.shuffle.set_state(tensors["rng.shuffle"])
        c = info["resume"]
        self.best_epoch, self.bad_epochs, self.updates = c["best_epoch"], c["bad_epochs"], c.get("updates", 0)
        self.best_score = -math.inf if c["best_score"] is None else c["best_score"]
        self.solved_at = old_meta.get("solved_at")
        self.history = list(old_meta.get("history") or [])[: c["epoch"]]

    def snapshot(self, reason: str) -> FitResult:
        return FitResult(
            history=self.history,
            best_epoch=self.best_epoch,
            stop_reason=reason,
            solved_at=self.solved_at,
            resume={
                "last_state": copy.deepcopy(self.model.state_dict()),
                "optimizer": self.opt,
                "rng_torch": torch.get_rng_state(),
                "rng_shuffle": self.shuffle.get_state(),
                "epoch": len(self.history),
                "best_epoch": self.best_epoch,
                "best_score": self.best_score if math.isfinite(self.best_score) else None,
                "bad_epochs": self.bad_epochs,
                "updates": self.updates,
            },
        )

    def _epoch_batches(self):
        if self.online:
            for _ in range(self.cfg.updates_per_epoch):
                yield self.train.draw(self.cfg.batch_size)
        else:
            order = torch.randperm(len(self.train), generator=self.shuffle)
            yield from _batches(self.train, self.cfg.batch_size, order)

    def _diverged(self, epoch: int, what: str) -> TrainingDiverged:
        kept = (
            f"the checkpoint in {self.checkpoint_dir} still holds epoch {len(self.history)}"
            if self.checkpoint_dir is not None and self.history
            else "no checkpoint was written"
        )
        return TrainingDiverged(f"training diverged at epoch {epoch}: {what}; {kept} (try a lower --lr or --clip)")

    def _epoch(self, epoch: int, weights) -> tuple[float, float, int] | None:
        """One epoch of updates: (loss sum, correct, seen), or None when asked to stop."""
        model, cfg = self.model, self.cfg
        model.train()
        n_batches = cfg.updates_per_epoch if self.online else math.ceil(len(self.train) / cfg.batch_size)
        show_bar = not cfg.quiet and sys.stderr.isatty()
        loss_sum, correct, seen = 0.0, 0.0, 0
        self.epoch_norms: list[float] = []  # pre-clipping global gradient norm of every update
        bar = tqdm(total=n_batches, desc=f"epoch {epoch}/{cfg.epochs}", leave=False, disable=not show_bar)
        try:
            for b in self._epoch_batches():
                if self.should_stop is not None and self.should_stop():
                    return None
                out = model(b.x, b.lengths)
                loss = _loss(model, out, b.y, weights)
                if not torch.isfinite(loss):
                    raise self._diverged(epoch, f"loss is {float(loss.detach())}")
                self.opt.zero_grad(set_to_none=True)
                loss.backward()
                if cfg.clip_grad_norm is not None:
                    norm = torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.clip_grad_norm)
                else:  # measured all the same: the history reports how large gradients were
                    norm = torch.nn.utils.get_total_norm([p.grad for p in model.parameters() if p.grad is not None])
                if not torch.isfinite(norm):
                    raise self._diverged(epoch, f"gradient norm is {float(norm)}")
                self.epoch_norms.append(float(norm))
                self.opt.step()
                self.updates += 1
                with torch.no_grad():
                    loss_sum += float(loss) * len(b)
                    if _is_regression(model):
                        correct += float(((out - b.y).abs() < ACC_TOLERANCE).sum())
                    else:
                        correct += float((out.argmax(-1) == b.y).sum())
                    seen += len(b)
                bar.update(1)
                bar.set_postfix(loss=f"{loss_sum / seen:.4f}")
        finally:
            bar.close()
        return loss_sum, correct, seen

    def run(self, resume_from) -> FitResult:
        model, cfg, log = self.model, self.cfg, self.log
        if self.uses_rng:
            torch.manual_seed(cfg.seed)  # inside fork_rng: the caller's global RNG is restored afterwards
        if resume_from is not None:
            self._restore(resume_from)
        weights = (
            _class_weights(model, self.train)
            if cfg.class_weighted and not self.online and not _is_regression(model)
            else None
        )
        probe = make_probe(self.val, cfg.probe_size)
        recurrent = any(isinstance(m, torch.nn.RNNBase) for m in model.modules())
        stop_reason = "max_epochs"
        if cfg.patience and self.bad_epochs >= cfg.patience:
            stop_reason = "already_stopped"
            if log:
                log(
                    f"already stopped early at epoch {len(self.history)} (patience {cfg.patience}); "
                    "raise --patience to continue"
                )
        if self.solved_at is not None and cfg.stop_at is not None:
            stop_reason = "already_stopped"
        for epoch in range(len(self.history) + 1, cfg.epochs + 1):
            if stop_reason == "already_stopped":
                break
            t0 = time.perf_counter()
            done = self._epoch(epoch, weights)
            if done is None:
                stop_reason = "stopped"
                break
            loss_sum, correct, seen = done
            ev = evaluate(model, self.val, batch_size=cfg.eval_batch_size)
            h = {
                "epoch": epoch,
                "updates": self.updates,
                "train_loss": loss_sum / seen,
                "train_acc": correct / seen,
                "val_loss": ev["loss"],
                "val_acc": ev["accuracy"],
                "val_f1": ev["macro_f1"],
                "lr": self.opt.param_groups[0]["lr"],
                # Gradient norm before clipping (median over the epoch's updates) and the fraction of
                # updates that clipping shortened (None without clipping): is the clip the step size?
                "grad_norm_median": statistics.median(self.epoch_norms) if self.epoch_norms else None,
                "clipped": clipped_fraction(self.epoch_norms, cfg.clip_grad_norm),
                "seconds": time.perf_counter() - t0,
                # A model without a recurrence (the bag-of-words baseline) has no gradient through time.
                "grad_profile": grad_profile(model, probe) if recurrent else None,
            }
            if cfg.track_grad_ratio and recurrent:
                h["grad_ratio"] = gradient_ratio(model, probe)
            self.history.append(h)
            score = _score(model, h)
            if score > self.best_score:
                self.best_score, self.best_epoch, self.bad_epochs = score, epoch, 0
                self.best_state = copy.deepcopy(model.state_dict())
            else:
                self.bad_epochs += 1
            if log:
                log(format_epoch_line(h, cfg.epochs))
            if _solved(model, h, cfg.stop_at):
                self.solved_at = self.updates
                stop_reason = "solved"
            elif cfg.patience and self.bad_epochs >= cfg.patience:
                stop_reason = "early_stopping"
            if self.on_epoch is not None and self.on_epoch(dict(h)) and stop_reason == "max_epochs":
                stop_reason = "callback"
            if self.checkpoint_dir is not None:
                in_progress = stop_reason if stop_reason != "max_epochs" else "in_progress"
                result = self.snapshot(in_progress)
                best = copy.deepcopy(model)
                best.load_state_dict(self.best_state)
                save_training_checkpoint(self.checkpoint_dir, best, self.meta, result)
            if stop_reason != "max_epochs":
                if log and stop_reason == "early_stopping":
                    log(f"early stopping: no better val score for {cfg.patience} epochs; best epoch {self.best_epoch}")
                if log and stop_reason == "solved":
                    log(f"solved after {self.updates} updates (val reached {cfg.stop_at})")
                break
        result = self.snapshot(stop_reason)
        model.load_state_dict(self.best_state)
        return result
