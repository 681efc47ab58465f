"""The training loop: ONE ``fit`` for every model kind, with callbacks, validation, best-point selection and resume.

``fit(model, task, cfg)`` is the loop; a :class:`Task` holds what is specific to a kind of model and data:

* ``generator``: the task's private ``torch.Generator``, the only source of the data order (saved to resume);
* ``batches()``: one epoch's training batches, drawn with that generator (a fixed split: one shuffled pass; a
  stream: endless, the loop takes ``updates_per_epoch``);
* ``loss(model, batch)``: the scalar loss of a batch and the numbers it adds to the epoch's training tallies;
* ``evaluate(model)``: the validation numbers; ``row(...)``: the history row of an epoch;
* ``score(row)``: the model-selection score, higher is better; ``solved(row)``: whether training may stop early.

:class:`BaseTask` gives defaults for the rest, so a user's own kind writes ``generator``, ``batches``, ``loss``,
``evaluate`` and ``score``. The shipped tasks: :class:`ClassifierTask` (here: the recurrent classifier, the bag of words
and the mean-vector baseline on a fixed split or an :class:`~lstmviz.taskdata.OnlineStream`),
:class:`lstmviz.lmtrainer.CharLMTask` (character language model) and :class:`lstmviz.tagtrainer.TaggerTask`.

The loop, written once: budgets in epochs and updates, never in seconds (:class:`FitConfig`: ``epochs``
evaluations, each after ``updates_per_epoch`` updates or one pass of the data; ``max_updates`` cuts the last epoch
short); AdamW; the global gradient norm measured before clipping (``clip_grad_norm``); a NaN/Inf loss or gradient
norm raises :class:`TrainingDiverged` (the checkpoint on disk then holds the last good epoch). After every epoch
the task evaluates, the best-scoring weights are kept, a history row is appended and ``on_epoch`` is called;
before every update ``should_stop`` is asked. It stops at the epoch limit, at the update budget, on patience
(early stopping), when the task says "solved", when a callback asks, or on divergence. With ``checkpoint_dir``
the best weights, the history and the resume state (optimizer, last weights, both generators, counters) are
written atomically after every epoch, and ``resume_from`` continues such a run exactly.

Each kind's own train config (:class:`TrainConfig` here, ``LMTrainConfig``, ``TagTrainConfig``) is what a
checkpoint stores as ``train_config``; its ``fit_config()`` gives the loop's settings.

The classifier's history entries: ``epoch, updates, train_loss, train_acc, val_loss, val_acc, val_f1, lr,
grad_norm_median`` (the global gradient norm before clipping, median over the epoch's updates), ``clipped``
(the fraction of those updates that clipping shortened; None without clipping), ``seconds, grad_profile``
and, with ``track_grad_ratio``, ``grad_ratio`` (float64, see
:func:`lstmviz.profiles.gradient_ratio`). Every epoch prints one fixed-format line::

    epoch 3/20: train loss 0.4123 acc 0.812 | val loss 0.5012 acc 0.790 f1 0.701 | 4.2 s

No process-wide state is changed: the data order comes from the task's private generator, the thread count and
the determinism switch are the caller's (the CLI sets them), and the global RNG is used only by dropout, seeded
with the run's seed inside ``torch.random.fork_rng`` (restored on exit). ``fit`` can run in a dashboard thread
beside other sessions.

Example::

    cfg = TrainConfig(epochs=3)
    result = fit(model, ClassifierTask(data.train, data.val, cfg), cfg, on_epoch=lambda h: print(h["val_acc"]))
"""

from __future__ import annotations

import contextlib
import copy
import itertools
import math
import os
import statistics
import sys
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, Protocol

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
from lstmviz.metrics import macro_f1
from lstmviz.models import RecurrentClassifier
from lstmviz.profiles import grad_profile, gradient_ratio, make_probe
from lstmviz.taskdata import OnlineStream, SequenceData

__all__ = [
    "ACC_TOLERANCE",
    "BaseTask",
    "ClassifierTask",
    "EpochInfo",
    "FitConfig",
    "FitResult",
    "Task",
    "OnEpoch",
    "ShouldStop",
    "TrainConfig",
    "TrainSettings",
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


OnEpoch = Callable[[dict[str, Any]], bool | None]  # called with each new history row; True stops training
ShouldStop = Callable[[], bool]  # asked before every update; True ends training at once


class TrainSettings:
    """What every kind's train config shares: the checks of its fields (errors name the field, the value and what
    is allowed), ``to_dict`` (the checkpoint's ``train_config``) and the optimiser part of its :class:`FitConfig`.

    A subclass is a dataclass with ``lr``, ``weight_decay``, ``clip_grad_norm`` and ``seed`` fields; it lists its
    other checked fields in ``_positive`` (integers >= 1), ``_optional_positive`` (None or an integer >= 1),
    ``_non_negative`` (integers >= 0), ``_optional_numbers`` (None or a number > 0) and ``_flags`` (booleans),
    and writes ``fit_config()``.

    Example:
        >>> FitConfig(lr=0.0)
        Traceback (most recent call last):
        ...
        ValueError: lr=0.0 is invalid; allowed: a number > 0
    """

    _positive: tuple[str, ...] = ()
    _optional_positive: tuple[str, ...] = ()
    _non_negative: tuple[str, ...] = ()
    _optional_numbers: tuple[str, ...] = ()
    _flags: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        for name in self._positive:
            check_int(name, getattr(self, name), 1)
        for name in self._optional_positive:
            if getattr(self, name) is not None:
                check_int(name, getattr(self, name), 1)
        for name in (*self._non_negative, "seed"):
            check_int(name, getattr(self, name), 0)
        check_number("lr", self.lr)
        check_number("weight_decay", self.weight_decay, zero_ok=True)
        for name in ("clip_grad_norm", *self._optional_numbers):
            check_number(name, getattr(self, name), none_ok=True)
        for name in self._flags:
            if not isinstance(getattr(self, name), bool):
                raise ValueError(f"{name}={getattr(self, name)!r} is invalid; allowed: True, False")

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict of the settings (a checkpoint's ``train_config``)."""
        return asdict(self)

    def _loop(self, **budget: Any) -> FitConfig:
        """The :class:`FitConfig` with this config's optimiser settings and seed, and ``budget``."""
        return FitConfig(
            lr=self.lr, weight_decay=self.weight_decay, clip_grad_norm=self.clip_grad_norm, seed=self.seed, **budget
        )


@dataclass
class TrainConfig(TrainSettings):
    """Optimisation settings of the classifiers; stored in a checkpoint's meta as ``train_config``.

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

    _positive = ("epochs", "batch_size", "probe_size", "eval_batch_size")
    _optional_positive = ("updates_per_epoch",)
    _non_negative = ("patience",)
    _optional_numbers = ("stop_at",)
    _flags = ("class_weighted", "quiet", "track_grad_ratio")

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

    def fit_config(self) -> FitConfig:
        """The loop's share of the settings (the rest is :class:`ClassifierTask`'s).

        Example:
            >>> TrainConfig(epochs=3, updates_per_epoch=50).fit_config().updates_per_epoch
            50
        """
        return self._loop(
            epochs=self.epochs, updates_per_epoch=self.updates_per_epoch, patience=self.patience, quiet=self.quiet
        )


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


# --------------------------------------------------------------------------- the loop, for every kind


@dataclass(frozen=True)
class FitConfig(TrainSettings):
    """The loop's settings, whatever the kind; a kind's train config gives them through ``fit_config()``.

    Example:
        >>> FitConfig(epochs=12, updates_per_epoch=250, max_updates=3000).patience
        0
    """

    epochs: int = 20  # evaluations, each after one epoch of updates (a resumed run continues up to this number)
    updates_per_epoch: int | None = None  # updates between evaluations; None: one pass over the task's batches
    max_updates: int | None = None  # the whole update budget: the epoch that reaches it ends there; None: no cap
    lr: float = 2e-3  # AdamW learning rate
    weight_decay: float = 0.01  # AdamW decoupled weight decay
    clip_grad_norm: float | None = 1.0  # clip the global gradient norm to this; None measures it without clipping
    patience: int = 0  # stop after this many evaluations without a better score; 0 never stops early
    seed: int = 0  # seeds the global generator dropout draws from (inside fork_rng; the caller's is restored)
    quiet: bool = False  # no progress bar and no per-epoch lines

    _positive = ("epochs",)
    _optional_positive = ("updates_per_epoch", "max_updates")
    _non_negative = ("patience",)
    _flags = ("quiet",)

    def fit_config(self) -> FitConfig:
        """Itself: a FitConfig can be passed to :func:`fit` directly."""
        return self


@dataclass
class EpochInfo:
    """What the loop measured in one epoch, handed to :meth:`Task.row`.

    Example:
        >>> EpochInfo(epoch=1, updates=4, lr=0.01, norms=[0.5, 2.0, 3.0, 1.0], clip=1.0).clipped()
        0.5
    """

    epoch: int  # 1-based number of the epoch
    updates: int  # updates done since the run began (a resumed run counts on)
    lr: float  # the optimizer's learning rate
    norms: list[float]  # pre-clipping global gradient norm of each of the epoch's updates
    clip: float | None  # the clipping threshold (None: no clipping)
    started: float = 0.0  # time.perf_counter() at the epoch's start
    fit_started: float = 0.0  # time.perf_counter() when fit began

    def seconds(self) -> float:
        """Seconds since the epoch began (updates and evaluation so far)."""
        return time.perf_counter() - self.started

    def elapsed(self) -> float:
        """Seconds since fit began."""
        return time.perf_counter() - self.fit_started

    def grad_norm_median(self) -> float | None:
        """Median pre-clipping gradient norm of the epoch (None without updates)."""
        return statistics.median(self.norms) if self.norms else None

    def clipped(self) -> float | None:
        """The fraction of the epoch's updates that clipping shortened (:func:`clipped_fraction`)."""
        return clipped_fraction(self.norms, self.clip)


class Task(Protocol):
    """What :func:`fit` needs to know about a kind of model and its data (see the module docstring)."""

    generator: torch.Generator  # the private source of the data order; its state is saved to resume

    def batches(self) -> Iterable[Any]:
        """One epoch's training batches, drawn with ``self.generator`` (may be endless)."""
        ...

    def epoch_length(self) -> int | None:
        """Batches in one pass of ``batches()`` (None: an endless stream; then ``updates_per_epoch`` is needed)."""
        ...

    def loss(self, model: torch.nn.Module, batch: Any) -> tuple[torch.Tensor, Mapping[str, float]]:
        """The scalar loss to minimise and this batch's addends of the epoch's training tallies."""
        ...

    def evaluate(self, model: torch.nn.Module) -> dict[str, Any]:
        """The validation numbers after an epoch."""
        ...

    def row(
        self, model: torch.nn.Module, sums: Mapping[str, float], val: Mapping[str, Any], info: EpochInfo
    ) -> dict[str, Any]:
        """The history row of an epoch from its training tallies, its validation numbers and the loop's measures."""
        ...

    def score(self, row: Mapping[str, Any]) -> float:
        """Model-selection score of a row, higher is better (the best-scoring epoch's weights are kept)."""
        ...

    def solved(self, row: Mapping[str, Any]) -> bool:
        """Whether training stops at this row as solved."""
        ...

    def line(self, row: Mapping[str, Any], epochs: int) -> str:
        """The one-line log of a row."""
        ...


class BaseTask:
    """Defaults of a :class:`Task`: a user's kind writes ``generator``, ``batches``, ``loss``, ``evaluate`` and
    ``score``; its ``loss`` tallies should hold ``"loss"`` (the batch's loss times its weight) and ``"n"`` (the
    weight) for the default row's ``train_loss``.

    Example:
        >>> class Mean(BaseTask):  # learn the mean of 1, 2 and 3
        ...     def __init__(self):
        ...         self.generator = torch.Generator().manual_seed(0)
        ...     def batches(self):
        ...         yield from torch.tensor([1.0, 2.0, 3.0])[torch.randperm(3, generator=self.generator)].split(1)
        ...     def epoch_length(self):
        ...         return 3
        ...     def loss(self, model, batch):
        ...         loss = ((model.weight - batch) ** 2).mean()
        ...         return loss, {"loss": loss.item(), "n": 1}
        ...     def evaluate(self, model):
        ...         return {"error": abs(model.weight.item() - 2.0)}
        ...     def score(self, row):
        ...         return -row["val_error"]
        >>> model = torch.nn.Linear(1, 1, bias=False)
        >>> result = fit(model, Mean(), FitConfig(epochs=40, lr=0.1, weight_decay=0.0, quiet=True))
        >>> round(model.weight.item(), 1), result.history[0]["epoch"], result.stop_reason
        (2.0, 1, 'max_epochs')
    """

    generator: torch.Generator

    def epoch_length(self) -> int | None:
        """Unknown: the loop needs ``updates_per_epoch`` (override for a fixed split)."""
        return None

    def row(
        self, model: torch.nn.Module, sums: Mapping[str, float], val: Mapping[str, Any], info: EpochInfo
    ) -> dict[str, Any]:
        """``epoch, updates, train_loss, val_<name>`` for every validation number, ``lr, grad_norm_median, clipped,
        seconds``."""
        return {
            "epoch": info.epoch,
            "updates": info.updates,
            "train_loss": sums["loss"] / sums["n"] if sums.get("n") else None,
            **{f"val_{k}": v for k, v in val.items()},
            "lr": info.lr,
            "grad_norm_median": info.grad_norm_median(),
            "clipped": info.clipped(),
            "seconds": info.seconds(),
        }

    def solved(self, row: Mapping[str, Any]) -> bool:
        """Never: training runs to its budget (or patience)."""
        return False

    def line(self, row: Mapping[str, Any], epochs: int) -> str:
        """``epoch 3/20: train loss 0.4123 | val_x 0.5 | 1.2 s``."""
        vals = " ".join(f"{k} {v:.4g}" for k, v in row.items() if k.startswith("val_") and isinstance(v, float))
        loss = "-" if row.get("train_loss") is None else f"{row['train_loss']:.4f}"
        return f"epoch {row['epoch']}/{epochs}: train loss {loss} | {vals} | {row.get('seconds', 0.0):.1f} s"


@dataclass
class FitResult:
    """What :func:`fit` leaves behind besides the trained model (which holds the best epoch).

    Attributes:
        history: One dict per epoch (the task's rows).
        best_epoch: The epoch whose weights the model holds (0 when no epoch ran).
        stop_reason: "max_epochs", "max_updates", "early_stopping", "solved", "callback", "stopped" or
            "already_stopped".
        solved_at: Updates done at the first evaluation the task called solved (None if none).
        resume: The state to continue training from (see :func:`save_training_checkpoint`).
        updates: Updates done in all (a resumed run counts on).
    """

    history: list[dict[str, Any]]
    best_epoch: int
    stop_reason: str
    solved_at: int | None = None
    resume: dict[str, Any] = field(default_factory=dict, repr=False)
    updates: int = 0


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
    directory: str | os.PathLike, model: torch.nn.Module, meta: Mapping[str, Any], result: FitResult
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
    model: torch.nn.Module,
    task: Task,
    cfg: Any = None,
    *,
    checkpoint_dir: str | os.PathLike | None = None,
    meta: Mapping[str, Any] | None = None,
    resume_from: str | os.PathLike | None = None,
    log: Callable[[str], None] | None = print,
    on_epoch: OnEpoch | None = None,
    should_stop: ShouldStop | None = None,
) -> FitResult:
    """Trains ``model`` on ``task`` with AdamW; the model ends at its best epoch (the task's score).

    Args:
        model: The model to train (in place).
        task: The kind's :class:`Task` (e.g. :class:`ClassifierTask`), holding the data and its generator.
        cfg: A kind's train config (:class:`TrainConfig`, ``LMTrainConfig``, ``TagTrainConfig``) or a
            :class:`FitConfig`: anything with ``fit_config()`` and ``to_dict()``; default ``FitConfig()``.
        checkpoint_dir: When given, a checkpoint (best weights + resume state + history so
            far) is written atomically after every epoch, so a crash or divergence leaves the
            last good epoch on disk.
        meta: Static meta entries saved with each checkpoint (vocab, labels, task, ...); ``train_config`` is
            ``cfg.to_dict()``.
        resume_from: A checkpoint written by a previous run: weights, optimizer, RNG state,
            counters and history are restored and training continues up to ``epochs``.
        log: Receives the per-epoch lines (None or ``quiet`` silences them).
        on_epoch: Called with each new history entry (a copy); returning True stops training
            (stop reason "callback").
        should_stop: Polled before every update; True ends training at once (stop reason
            "stopped"; the unfinished epoch is not recorded).

    Returns:
        A :class:`FitResult`.

    Raises:
        TrainingDiverged: when a training loss or gradient norm is NaN/Inf.
        ValueError: for an endless task without ``updates_per_epoch`` (or ``max_updates``).
        TypeError: when ``task`` is not a :class:`Task` (e.g. the training split of the old ``fit(model, train, val)``).

    Example:
        >>> cfg = TrainConfig(epochs=3)  # doctest: +SKIP
        >>> result = fit(model, ClassifierTask(data.train, data.val, cfg), cfg)  # doctest: +SKIP
        >>> [h["epoch"] for h in result.history]  # doctest: +SKIP
        [1, 2, 3]
    """
    missing = [
        m
        for m in ("batches", "epoch_length", "loss", "evaluate", "row", "score", "solved", "line")
        if not callable(getattr(task, m, None))
    ]
    if missing or not isinstance(getattr(task, "generator", None), torch.Generator):
        raise TypeError(
            f"task={type(task).__name__} is not a Task (lacks {', '.join(missing) or 'a torch.Generator generator'}); "
            "allowed: a Task such as ClassifierTask(train, val, cfg), CharLMTask or TaggerTask"
        )
    cfg = cfg if cfg is not None else FitConfig()
    loop_cfg = cfg.fit_config()
    if loop_cfg.updates_per_epoch is None and loop_cfg.max_updates is None and task.epoch_length() is None:
        raise ValueError(
            f"{type(task).__name__} draws endless batches; set updates_per_epoch (updates between evaluations)"
        )
    meta = dict(meta or {})
    meta["train_config"] = cfg.to_dict()
    log = None if loop_cfg.quiet else log
    # Dropout is the only user of the global RNG here; fork_rng gives it back as it was.
    rng = torch.random.fork_rng(devices=[]) if _uses_dropout(model) else contextlib.nullcontext()
    with rng:
        return _Loop(model, task, loop_cfg, checkpoint_dir, meta, log, on_epoch, should_stop).run(resume_from)


class _Loop:
    """State of one :func:`fit` call (kept on an object so the epoch code stays readable)."""

    def __init__(self, model, task, cfg: FitConfig, checkpoint_dir, meta, log, on_epoch, should_stop) -> None:
        self.model, self.task, self.cfg = model, task, cfg
        self.checkpoint_dir, self.meta, self.log = checkpoint_dir, meta, log
        self.on_epoch, self.should_stop = on_epoch, should_stop
        self.opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
        self.history: list[dict[str, Any]] = []
        self.best_score, self.best_epoch, self.bad_epochs, self.updates = -math.inf, 0, 0, 0
        self.solved_at: int | None = None
        self.best_state = copy.deepcopy(model.state_dict())
        self.uses_rng = _uses_dropout(model)
        self.started = time.perf_counter()

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
        self.task.generator.set_state(tensors["rng.shuffle"])
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
                "rng_shuffle": self.task.generator.get_state(),
                "epoch": len(self.history),
                "best_epoch": self.best_epoch,
                "best_score": self.best_score if math.isfinite(self.best_score) else None,
                "bad_epochs": self.bad_epochs,
                "updates": self.updates,
            },
            updates=self.updates,
        )

    def _diverged(self, epoch: int, what: str) -> TrainingDiverged:
        kept = (
            f"the checkpoint in {self.checkpoint_dir} still holds epoch {len(self.history)}"
            if self.checkpoint_dir is not None and self.history
            else "no checkpoint was written"
        )
        return TrainingDiverged(f"training diverged at epoch {epoch}: {what}; {kept} (try a lower --lr or --clip)")

    def _epoch_updates(self) -> int | None:
        """Updates of the next epoch: ``updates_per_epoch``, cut to what is left of ``max_updates`` (None: a pass)."""
        n, cap = self.cfg.updates_per_epoch, self.cfg.max_updates
        if cap is not None:
            n = cap - self.updates if n is None else min(n, cap - self.updates)
        return n

    def _epoch(self, info: EpochInfo) -> dict[str, float] | None:
        """One epoch of updates: the training tallies summed over its batches, or None when asked to stop."""
        model, cfg = self.model, self.cfg
        model.train()
        n = self._epoch_updates()
        batches = self.task.batches()
        if n is not None:  # islice draws exactly n batches: the generator is left where the next epoch starts
            batches = itertools.islice(batches, n)
        show_bar = not cfg.quiet and sys.stderr.isatty()
        total = n if n is not None else self.task.epoch_length()
        sums: dict[str, float] = {}
        bar = tqdm(total=total, desc=f"epoch {info.epoch}/{cfg.epochs}", leave=False, disable=not show_bar)
        try:
            for b in batches:
                if self.should_stop is not None and self.should_stop():
                    return None
                loss, tally = self.task.loss(model, b)
                if not torch.isfinite(loss):
                    raise self._diverged(info.epoch, f"loss is {float(loss.detach())}")
                self.opt.zero_grad(set_to_none=True)
                loss.backward()
                if cfg.clip_grad_norm is not None:
                    norm = torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.clip_grad_norm)
                else:  # measured all the same: the history reports how large gradients were
                    norm = torch.nn.utils.get_total_norm([p.grad for p in model.parameters() if p.grad is not None])
                if not torch.isfinite(norm):
                    raise self._diverged(info.epoch, f"gradient norm is {float(norm)}")
                info.norms.append(float(norm))
                self.opt.step()
                self.updates += 1
                for k, v in tally.items():  # summed in update order, as plain floats
                    sums[k] = sums.get(k, 0.0) + v
                bar.update(1)
                if sums.get("n"):
                    bar.set_postfix(loss=f"{sums.get('loss', 0.0) / sums['n']:.4f}")
        finally:
            bar.close()
        return sums

    def run(self, resume_from) -> FitResult:
        model, cfg, log, task = self.model, self.cfg, self.log, self.task
        if self.uses_rng:
            torch.manual_seed(cfg.seed)  # inside fork_rng: the caller's global RNG is restored afterwards
        if resume_from is not None:
            self._restore(resume_from)
        stop_reason = "max_epochs"
        if cfg.patience and self.bad_epochs >= cfg.patience:
            stop_reason = "already_stopped"
            if log:
                log(
                    f"already stopped early at epoch {len(self.history)} (patience {cfg.patience}); "
                    "raise --patience to continue"
                )
        if self.solved_at is not None and self.history and task.solved(self.history[-1]):
            stop_reason = "already_stopped"
        if cfg.max_updates is not None and self.updates >= cfg.max_updates:
            stop_reason = "already_stopped"
        for epoch in range(len(self.history) + 1, cfg.epochs + 1):
            if stop_reason == "already_stopped":
                break
            info = EpochInfo(epoch, 0, 0.0, [], cfg.clip_grad_norm, time.perf_counter(), self.started)
            sums = self._epoch(info)
            if sums is None:
                stop_reason = "stopped"
                break
            info.updates, info.lr = self.updates, self.opt.param_groups[0]["lr"]
            h = task.row(model, sums, task.evaluate(model), info)
            self.history.append(h)
            score = task.score(h)
            if score > self.best_score:
                self.best_score, self.best_epoch, self.bad_epochs = score, epoch, 0
                self.best_state = copy.deepcopy(model.state_dict())
            else:
                self.bad_epochs += 1
            if log:
                log(task.line(h, cfg.epochs))
            if task.solved(h):
                self.solved_at = self.updates
                stop_reason = "solved"
            elif cfg.patience and self.bad_epochs >= cfg.patience:
                stop_reason = "early_stopping"
            elif cfg.max_updates is not None and self.updates >= cfg.max_updates:
                stop_reason = "max_updates"
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
                    log(f"solved after {self.updates} updates")
                break
        result = self.snapshot(stop_reason)
        model.load_state_dict(self.best_state)
        return result


# --------------------------------------------------------------------------- the classifiers' task


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


def _class_weights(model: RecurrentClassifier, train: SequenceData) -> torch.Tensor:
    counts = torch.bincount(train.y, minlength=model.config.num_classes).float()
    return len(train) / (model.config.num_classes * counts.clamp(min=1))


class ClassifierTask(BaseTask):
    """The classifiers' :class:`Task`: a :class:`~lstmviz.models.RecurrentClassifier` (class or regression head),
    the bag of words or the mean-vector baseline, on a fixed split (one shuffled pass per epoch, a private
    generator seeded with ``cfg.seed``) or an :class:`~lstmviz.taskdata.OnlineStream` (its own generator;
    ``cfg.updates_per_epoch`` fresh batches per epoch).

    The score is val macro-F1 (val accuracy where there is none), or -val MSE for regression; "solved" is val
    accuracy reaching ``cfg.stop_at`` (regression: val MSE falling to it). Rows: see the module docstring.

    Args:
        train: A fixed training split, or an online stream (then ``cfg.updates_per_epoch`` is needed).
        val: Validation split (also the source of the gradient-profile probe batch).
        cfg: The settings (default ``TrainConfig()``); pass the same to :func:`fit`.

    Raises:
        ValueError: for empty data, or an online stream without ``updates_per_epoch``.

    Example:
        >>> from lstmviz.models import ModelConfig
        >>> from lstmviz.taskdata import prepare_online
        >>> data = prepare_online("cue_recall", 3, n_val=8, n_test=8)
        >>> cfg = TrainConfig(epochs=1, updates_per_epoch=2, batch_size=4, quiet=True)
        >>> model = RecurrentClassifier.seeded(
        ...     ModelConfig(cell="gru", vocab_size=data.vocab_size, num_classes=4, embed_dim=4, hidden_size=4), 0)
        >>> fit(model, ClassifierTask(data.train, data.val, cfg), cfg).history[0]["updates"]
        2
    """

    def __init__(self, train: SequenceData | OnlineStream, val: SequenceData, cfg: TrainConfig | None = None) -> None:
        cfg = cfg or TrainConfig()
        self.online = isinstance(train, OnlineStream)
        if self.online and cfg.updates_per_epoch is None:
            raise ValueError("an online stream needs TrainConfig.updates_per_epoch (updates between evaluations)")
        if (not self.online and len(train) == 0) or len(val) == 0:
            n = 0 if self.online else len(train)
            raise ValueError(f"train and val must not be empty, got {n} and {len(val)} sequences")
        self.train, self.val, self.cfg = train, val, cfg
        # Data order: the stream's own generator online, a private shuffling generator otherwise.
        self.generator = train.generator if self.online else torch.Generator().manual_seed(cfg.seed)
        self.regress = val.y.is_floating_point()  # real-valued targets: the regression head
        self.probe = make_probe(val, cfg.probe_size)
        self._weights: torch.Tensor | None = None

    def batches(self):
        """Endless fresh batches online; one pass in a new order (one randperm) on a fixed split."""
        if self.online:
            while True:
                yield self.train.draw(self.cfg.batch_size)
        order = torch.randperm(len(self.train), generator=self.generator)
        yield from _batches(self.train, self.cfg.batch_size, order)

    def epoch_length(self) -> int | None:
        """Batches in a pass of the fixed split (None online)."""
        return None if self.online else math.ceil(len(self.train) / self.cfg.batch_size)

    def loss(self, model, batch):
        """(Class-weighted) cross-entropy or MSE; tallies ``loss`` (times the batch size), ``correct`` and ``n``."""
        if _is_regression(model) != self.regress:
            raise ValueError(f"a model with head {model.config.head!r} does not fit targets of {self.val.y.dtype}")
        if self._weights is None and self.cfg.class_weighted and not self.online and not self.regress:
            self._weights = _class_weights(model, self.train)
        out = model(batch.x, batch.lengths)
        loss = _loss(model, out, batch.y, self._weights)
        with torch.no_grad():
            if self.regress:
                correct = float(((out - batch.y).abs() < ACC_TOLERANCE).sum())
            else:
                correct = float((out.argmax(-1) == batch.y).sum())
        return loss, {"loss": float(loss.detach()) * len(batch), "correct": correct, "n": len(batch)}

    def evaluate(self, model) -> dict[str, Any]:
        """:func:`evaluate` on the validation split."""
        return evaluate(model, self.val, batch_size=self.cfg.eval_batch_size)

    def row(self, model, sums, val, info) -> dict[str, Any]:
        """The classifier's history row (module docstring); the probe's gradient profile is measured here."""
        recurrent = any(isinstance(m, torch.nn.RNNBase) for m in model.modules())
        h = {
            "epoch": info.epoch,
            "updates": info.updates,
            "train_loss": sums["loss"] / sums["n"],
            "train_acc": sums["correct"] / sums["n"],
            "val_loss": val["loss"],
            "val_acc": val["accuracy"],
            "val_f1": val["macro_f1"],
            "lr": info.lr,
            # Gradient norm before clipping (median over the epoch's updates) and the fraction of
            # updates that clipping shortened (None without clipping): is the clip the step size?
            "grad_norm_median": info.grad_norm_median(),
            "clipped": info.clipped(),
            "seconds": info.seconds(),
            # A model without a recurrence (the bag-of-words baseline) has no gradient through time.
            "grad_profile": grad_profile(model, self.probe) if recurrent else None,
        }
        if self.cfg.track_grad_ratio and recurrent:
            h["grad_ratio"] = gradient_ratio(model, self.probe)
        return h

    def score(self, row) -> float:
        """Val macro-F1 (val accuracy online), or -val loss for regression; higher is better."""
        if self.regress:
            return -row["val_loss"]
        return row["val_f1"] if row.get("val_f1") is not None else row["val_acc"]

    def solved(self, row) -> bool:
        """Val accuracy reached ``stop_at`` (regression: val MSE fell to it)."""
        stop_at = self.cfg.stop_at
        if stop_at is None:
            return False
        return row["val_loss"] <= stop_at if self.regress else row["val_acc"] >= stop_at

    def line(self, row, epochs: int) -> str:
        """:func:`format_epoch_line`."""
        return format_epoch_line(row, epochs)
