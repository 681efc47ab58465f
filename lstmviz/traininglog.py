"""Training logs of your own loop: :class:`TrainingLog` writes ``run.json``, :func:`read_run` reads it back.

A training loop you wrote yourself calls ``log.epoch(model, metrics={...})`` once per epoch. With a probe
batch (fixed inputs given once, and ``loss_fn(model, probe) -> scalar loss``) every call also records, with
:func:`lstmviz.record` and :meth:`~lstmviz.Recording.backward` (so no parameter's ``.grad`` changes):

* the gradient profile through time of every recurrent module, layer and direction: the mean over the probe
  batch of ``||dL/dh_t||`` for t = 0..T-1 (:meth:`~lstmviz.Recording.grad_norms`);
* gate saturation: the share of gate values within :data:`SATURATION_MARGIN` of 0 or 1 (sigmoid gates,
  :data:`lstmviz.diagnostics.SATURATION_QUANTITIES`) or beyond ``1 - SATURATION_MARGIN`` in magnitude (tanh:
  ``cell_candidate``, ``new`` and a tanh RNN's ``hidden``).

The probe runs in eval mode (no dropout: the same batch gives comparable numbers from epoch to epoch) with
the random number generator forked, and every module's training flag is restored afterwards, so a loop
with the log trains exactly as it does without it.

``<directory>/run.json`` (schema :data:`SCHEMA`) is rewritten after every epoch, atomically (a temporary
sibling, then ``os.replace``)::

    {"schema": "lstmviz.run/1", "name": "my-run", "created": "2025-01-31T12:00:00Z",
     "model": {"parameters": 1234, "recurrent": [{"module": "rnn", "cell": "lstm", "input_size": 8,
               "hidden_size": 16, "num_layers": 1, "bidirectional": false}]},
     "probe": {"batch": 4, "steps": 12} | null,
     "epochs": [{"epoch": 1, "seconds": 0.8, "metrics": {"loss": 0.69, "val_acc": 0.5},
                 "profile": [{"module": "rnn", "layer": 0, "direction": "fwd", "norms": [0.01, ..., 0.2]}],
                 "saturation": [{"module": "rnn", "layer": 0, "direction": "fwd", "quantity": "forget",
                                 "fraction": 0.03}]}]}

A norm is ``null`` at a step no probe sequence reaches. The folder is refused inside a git work tree (a log
is yours, not the repository's), and the log never removes a file it did not write.

A run file is untrusted input wherever it comes from: :func:`read_run` checks its size (at most
:data:`MAX_RUN_BYTES`) before reading, then every field, count (:data:`MAX_EPOCHS`, :data:`MAX_STEPS`, ...)
and number, and names the file and the field in its one-line :class:`RunError`. Nothing in it is executed.
The tidy frames below (:func:`curves_frame`, :func:`metrics_frame`, :func:`profile_frame`,
:func:`profile_epochs_frame`, :func:`saturation_frame`) feed :mod:`lstmviz.plots`.
"""

from __future__ import annotations

import copy
import json
import math
import numbers
import os
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd
import torch
from torch import nn

from lstmviz.corpus.guard import git_work_tree
from lstmviz.diagnostics import SATURATION_QUANTITIES
from lstmviz.names import direction_name, parse_key
from lstmviz.recorder import find_recurrent_modules, record
from lstmviz.safeio import UnsafeFileError, read_json, tmp_sibling

__all__ = [
    "MAX_EPOCHS",
    "MAX_METRICS",
    "MAX_RUN_BYTES",
    "MAX_SERIES",
    "MAX_STEPS",
    "RUN_FILE",
    "SATURATION_MARGIN",
    "SCHEMA",
    "RunError",
    "TrainingLog",
    "curves_frame",
    "find_runs",
    "metric_split",
    "metrics_frame",
    "model_summary",
    "profile_epochs_frame",
    "profile_frame",
    "read_run",
    "saturation_frame",
]

SCHEMA = "lstmviz.run/1"
RUN_FILE = "run.json"
#: Budgets of a run file, checked when writing and when reading. 8 MB hold ~1,000 epochs of four 200-step profiles.
MAX_RUN_BYTES = 8 * 2**20
MAX_EPOCHS = 10_000
MAX_METRICS = 64  # metrics per epoch
MAX_SERIES = 64  # profile series (module x layer x direction) per epoch
MAX_SATURATION = 256  # saturation entries (series x gate) per epoch
MAX_STEPS = 4096  # steps of one profile
MAX_MODULES = 32  # recurrent modules in the model summary
MAX_TEXT = 200  # characters of the name and of a module path
MAX_METRIC_NAME = 64  # characters of a metric name
SATURATION_MARGIN = 0.05  # a sigmoid gate within 0.05 of 0 or 1, a tanh value beyond 0.95 in magnitude, is saturated
_TANH_QUANTITIES = ("cell_candidate", "new")  # tanh-bounded gate outputs (an RNN's tanh hidden state is added)
_DIGITS = 6  # significant digits of a stored norm or fraction: a chart shows 4
_CELLS = ("lstm", "gru", "rnn")
_REAL, _INF = (float, int), math.inf


class RunError(ValueError):
    """A run file that cannot be read, or a log that cannot be written (the message names the file)."""


# ----- writing ---------------------------------------------------------------------------------------------------
def _round(v: float) -> float | None:
    """``v`` to :data:`_DIGITS` significant digits; None for NaN (JSON has no NaN)."""
    return None if not math.isfinite(v) else float(f"{v:.{_DIGITS}g}")


def _frozen(probe: Any, depth: int = 0) -> Any:
    """A private copy of the probe's tensors (inside tuples, lists and dicts): a caller changing its batch in
    place later must not change what every epoch is measured on."""
    if depth > 8:
        raise ValueError("probe nests deeper than 8 levels; allowed: tensors in tuples, lists and dicts")
    if isinstance(probe, torch.Tensor):
        return probe.detach().clone()
    if isinstance(probe, tuple):
        return tuple(_frozen(p, depth + 1) for p in probe)
    if isinstance(probe, list):
        return [_frozen(p, depth + 1) for p in probe]
    if isinstance(probe, dict):
        return {k: _frozen(v, depth + 1) for k, v in probe.items()}
    return probe


def _text(value: Any, what: str, limit: int = MAX_TEXT) -> str:
    """``value`` when it is a printable string of 1..limit characters; ValueError naming ``what`` otherwise."""
    if not isinstance(value, str) or not 1 <= len(value) <= limit or not value.isprintable():
        raise ValueError(f"{what} = {_short(value)} is invalid; allowed: a printable string of 1 to {limit} characters")
    return value


def _clean_metrics(metrics: Any) -> dict[str, float]:
    """The metrics as ``{name: float}``, or ValueError naming the first bad name or value."""
    if not isinstance(metrics, Mapping):
        raise TypeError(f"metrics must be a mapping {{name: number}}, got {type(metrics).__name__}")
    if len(metrics) > MAX_METRICS:
        raise ValueError(f"metrics has {len(metrics)} entries; allowed: at most {MAX_METRICS}")
    out = {}
    for name, value in metrics.items():
        _text(name, "metric name", MAX_METRIC_NAME)
        if isinstance(value, torch.Tensor) and value.numel() == 1 and not value.dtype.is_complex:
            value = value.item()  # loss.detach() is a fine metric
        if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(float(value)):
            raise ValueError(f"metrics[{name!r}] = {_short(value)} is invalid; allowed: a finite int or float")
        out[name] = float(value)
    return out


def model_summary(model: nn.Module) -> dict[str, Any]:
    """Trainable parameters and the recurrent modules (path, cell, sizes) of a model.

    Example:
        >>> summary = model_summary(nn.GRU(3, 5, num_layers=2))
        >>> summary["recurrent"]
        [{'module': '', 'cell': 'gru', 'input_size': 3, 'hidden_size': 5, 'num_layers': 2, 'bidirectional': False}]
    """
    try:
        found = find_recurrent_modules(model)
    except ValueError:  # a metrics-only log of a model without recurrent modules
        found = {}
    recurrent = []
    for path, m in found.items():
        cell = (
            "lstm" if isinstance(m, (nn.LSTM, nn.LSTMCell)) else "gru" if isinstance(m, (nn.GRU, nn.GRUCell)) else "rnn"
        )
        recurrent.append(
            {
                "module": path,
                "cell": cell,
                "input_size": int(m.input_size),
                "hidden_size": int(m.hidden_size),
                "num_layers": int(getattr(m, "num_layers", 1)),  # an nn.*Cell is one layer
                "bidirectional": bool(getattr(m, "bidirectional", False)),
            }
        )
    return {"parameters": sum(p.numel() for p in model.parameters() if p.requires_grad), "recurrent": recurrent}


def _tanh_rnn(model: nn.Module, path: str) -> bool:
    """Whether the module at ``path`` is an RNN whose hidden state is a tanh (saturating) rather than a ReLU."""
    m = model.get_submodule(path)  # "" is the model itself
    return isinstance(m, (nn.RNN, nn.RNNCell)) and getattr(m, "nonlinearity", "tanh") == "tanh"


def _probe_record(
    model: nn.Module, probe: Any, loss_fn: Callable[[nn.Module, Any], torch.Tensor]
) -> tuple[list[dict[str, Any]], list[dict[str, Any]], dict[str, int]]:
    """(profile, saturation, probe shape) of one run of ``loss_fn(model, probe)``; no ``.grad`` and no training
    flag of ``model`` changes, and the random number generator is left where it was."""
    modes = [(m, m.training) for m in model.modules()]
    try:
        # eval: dropout off, so each epoch measures the same function of the same batch. fork_rng: a loss_fn or
        # model that draws random numbers must not shift the training's own random sequence. cuDNN off: its RNN
        # backward refuses eval mode on a GPU (PyTorch's own kernels run this small probe instead).
        model.eval()
        with (
            torch.random.fork_rng(devices=[]),
            torch.backends.cudnn.flags(enabled=False),
            torch.enable_grad(),  # a log.epoch called under torch.no_grad() still records gradients
            record(model, grads=True) as rec,
        ):
            loss = loss_fn(model, probe)
            if not isinstance(loss, torch.Tensor) or loss.numel() != 1:
                raise ValueError(
                    f"loss_fn(model, probe) must return a scalar tensor, got {type(loss).__name__} "
                    f"{tuple(getattr(loss, 'shape', ()))}"
                )
            rec.backward(loss.reshape(()))  # autograd.grad: parameter .grad stays as it is
    finally:
        for m, was_training in modes:
            m.training = was_training
    profile = []
    norms = rec.grad_norms()
    norms = norms[norms["quantity"] == "grad_hidden"]
    batch = int(norms["batch"].max()) + 1 if len(norms) else 0
    for (module, layer, direction), part in norms.groupby(["module", "layer", "direction"], sort=False):
        steps = int(part["step"].max()) + 1
        mean = part.groupby("step")["norm"].mean().reindex(range(steps))  # (T,) over the batch; NaN past lengths
        profile.append(
            {"module": module, "layer": int(layer), "direction": direction, "norms": [_round(v) for v in mean]}
        )
    saturation = []
    for key in rec.keys():
        kp = parse_key(key)
        if kp.quantity in SATURATION_QUANTITIES:  # sigmoid: near 0 or near 1
            x = rec[key].double()  # (B, T, U), NaN past each sequence's length
            hit = (x < SATURATION_MARGIN) | (x > 1 - SATURATION_MARGIN)
        elif kp.quantity in _TANH_QUANTITIES or (kp.quantity == "hidden" and _tanh_rnn(model, kp.module)):
            x = rec[key].double()
            hit = x.abs() > 1 - SATURATION_MARGIN
        else:
            continue
        valid = ~torch.isnan(x)
        n = int(valid.sum())
        saturation.append(
            {
                "module": kp.module,
                "layer": kp.layer,
                "direction": direction_name(kp.direction),
                "quantity": kp.quantity,
                "fraction": _round(float((hit & valid).sum()) / n) if n else None,
            }
        )
    steps = max((len(p["norms"]) for p in profile), default=0)
    return profile, saturation, {"batch": batch, "steps": steps}


class TrainingLog:
    """Logs one training run of your own loop into ``<directory>/run.json``, one call per epoch.

    Args:
        directory: The run's folder (created when missing); refused inside a git work tree.
        probe: A fixed batch the gradient profile and gate saturation are measured on every epoch (any object
            ``loss_fn`` understands, e.g. ``(x, y)``; its tensors are copied once, here). None: metrics only.
        loss_fn: ``loss_fn(model, probe) -> scalar loss tensor``: runs the model on the probe; required with a
            probe. It runs inside :func:`lstmviz.record` in eval mode; keep the probe on the model's device.
        name: The run's name in the dashboard (default: the folder's name).
        tensorboard: Also write the scalars and profiles with ``torch.utils.tensorboard.SummaryWriter`` into
            ``<directory>/tensorboard`` (needs the ``tensorboard`` package: ImportError here without it).
        resume: Continue the ``run.json`` already in the folder (its epochs are kept; numbering goes on).
            Without it an existing ``run.json`` is refused, never overwritten.

    Raises:
        ValueError: the folder is inside a git work tree, or a bad probe / loss_fn / name.
        FileExistsError: ``run.json`` exists and ``resume`` is False.
        ImportError: ``tensorboard=True`` and the ``tensorboard`` package is missing.

    Example:
        >>> import tempfile
        >>> gru = nn.GRU(3, 4, batch_first=True)
        >>> x = torch.randn(2, 5, 3)
        >>> log = TrainingLog(Path(tempfile.mkdtemp()) / "run-a", probe=x, loss_fn=lambda m, p: m(p)[0][:, -1].sum())
        >>> entry = log.epoch(gru, metrics={"loss": 0.7})
        >>> entry["epoch"], len(entry["profile"][0]["norms"]), [s["quantity"] for s in entry["saturation"]]
        (1, 5, ['reset', 'update', 'new'])
        >>> read_run(log.path)["epochs"][0]["metrics"]
        {'loss': 0.7}
    """

    def __init__(
        self,
        directory: str | os.PathLike,
        *,
        probe: Any = None,
        loss_fn: Callable[[nn.Module, Any], torch.Tensor] | None = None,
        name: str | None = None,
        tensorboard: bool = False,
        resume: bool = False,
    ) -> None:
        if not isinstance(directory, (str, os.PathLike)) or not str(directory):
            raise TypeError(f"directory must be a path, got {_short(directory)}")
        for flag, value in (("tensorboard", tensorboard), ("resume", resume)):
            if not isinstance(value, bool):
                raise TypeError(f"{flag} must be True or False, got {value!r}")
        if (probe is None) != (loss_fn is None):
            raise ValueError(
                "probe and loss_fn go together: give both (gradient profiles and saturation each epoch) or neither "
                "(metrics only)"
            )
        if loss_fn is not None and not callable(loss_fn):
            raise TypeError(f"loss_fn must be callable as loss_fn(model, probe), got {type(loss_fn).__name__}")
        folder = Path(os.path.abspath(os.path.expanduser(directory)))
        top = git_work_tree(folder)
        if top is not None:
            raise ValueError(
                f"TrainingLog folder {folder} is inside the git work tree {top}; a training log is your own data "
                "and must not be committed: name a folder outside any repository (e.g. ~/lstmviz-runs/my-run) and "
                "point LSTMVIZ_RUNS at its parent"
            )
        if folder.exists() and not folder.is_dir():
            raise ValueError(f"TrainingLog folder {folder} exists and is not a folder")
        self.path = folder / RUN_FILE
        self.name = _text(folder.name if name is None else name, "name")
        self._probe = None if probe is None else _frozen(probe)
        self._loss_fn = loss_fn
        self._run: dict[str, Any] | None = None  # built by the first epoch (it knows the model)
        if self.path.exists() and not resume:
            raise FileExistsError(
                f"{self.path} already exists; pass resume=True to continue that run, or name another folder "
                "(a log never overwrites a file it did not write)"
            )
        if resume and self.path.exists():
            self._run = read_run(self.path)
            self.name = self._run["name"] if name is None else self.name
        self._writer = None
        if tensorboard:
            try:
                from torch.utils.tensorboard import SummaryWriter
            except ImportError as e:
                raise ImportError(
                    "TrainingLog(tensorboard=True) needs the tensorboard package: pip install tensorboard "
                    f"(or leave tensorboard=False; run.json is written either way). Import failed: {e}"
                ) from e
            folder.mkdir(parents=True, exist_ok=True)
            self._writer = SummaryWriter(log_dir=str(folder / "tensorboard"))
        self._last = time.perf_counter()

    @property
    def run(self) -> dict[str, Any] | None:
        """A copy of what ``run.json`` holds (None before the first epoch)."""
        return copy.deepcopy(self._run)

    def epoch(self, model: nn.Module, metrics: Mapping[str, Any], *, epoch: int | None = None) -> dict[str, Any]:
        """Logs one epoch: the metrics, and with a probe the gradient profile and gate saturation; rewrites
        ``run.json``.

        Args:
            model: The model being trained (the same every epoch); nothing of it is changed.
            metrics: ``{name: finite number}`` (a one-element tensor is taken as its value), at most
                :data:`MAX_METRICS`; names are printable strings of 1..64 characters.
            epoch: The epoch's number (default: the last one + 1, starting at 1); must grow.

        Returns:
            The epoch's entry as written.

        Raises:
            ValueError: a bad metric or epoch number, another model than before, a probe longer than
                :data:`MAX_STEPS`, or a file that would exceed :data:`MAX_RUN_BYTES` / :data:`MAX_EPOCHS`
                (nothing is written then).

        Example:
            >>> log.epoch(gru, {"loss": float("nan")})  # doctest: +SKIP
            ValueError: metrics['loss'] = nan is invalid; allowed: a finite int or float
        """
        if not isinstance(model, nn.Module):
            raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
        clean = _clean_metrics(metrics)
        done = self._run["epochs"] if self._run else []
        low = done[-1]["epoch"] + 1 if done else 0  # numbers grow; the first may be 0 (before any training)
        if epoch is None:
            epoch = max(low, 1)
        if isinstance(epoch, bool) or not isinstance(epoch, int) or not low <= epoch <= 10**9:
            raise ValueError(f"epoch = {_short(epoch)} is invalid; allowed: an integer from {low} to 1,000,000,000")
        if len(done) >= MAX_EPOCHS:
            raise ValueError(f"{self.path}: {MAX_EPOCHS} epochs are logged already, the most a run file holds")
        summary = model_summary(model)
        if len(summary["recurrent"]) > MAX_MODULES:
            raise ValueError(
                f"the model has {len(summary['recurrent'])} recurrent modules; allowed: at most {MAX_MODULES}"
            )
        if self._run is None:
            self._run = {
                "schema": SCHEMA,
                "name": self.name,
                "created": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
                "model": summary,
                "probe": None,
                "epochs": [],
            }
        elif summary != self._run["model"]:
            raise ValueError(
                f"{self.path}: this run logged another model ({_short(self._run['model']['recurrent'])}); got "
                f"{_short(summary['recurrent'])}: start a new run folder for a new model"
            )
        profile, saturation = [], []
        if self._probe is not None:
            profile, saturation, shape = _probe_record(model, self._probe, self._loss_fn)
            if shape["steps"] > MAX_STEPS:
                raise ValueError(f"the probe has {shape['steps']} steps; allowed: at most {MAX_STEPS}")
            if len(profile) > MAX_SERIES or len(saturation) > MAX_SATURATION:
                raise ValueError(
                    f"the model has {len(profile)} recurrent layers x directions ({len(saturation)} gates); allowed: "
                    f"at most {MAX_SERIES} ({MAX_SATURATION} gates)"
                )
            self._run["probe"] = shape
        now = time.perf_counter()
        entry = {
            "epoch": epoch,
            "seconds": round(now - self._last, 3),
            "metrics": clean,
            "profile": profile,
            "saturation": saturation,
        }
        self._last = now
        self._run["epochs"].append(entry)
        try:
            self._write()
        except BaseException:
            self._run["epochs"].pop()  # the log stays what the file holds
            raise
        if self._writer is not None:
            self._tensorboard(entry)
        return copy.deepcopy(entry)

    def _write(self) -> None:
        """``run.json`` atomically: a temporary sibling, then ``os.replace`` (the temporary file is removed on
        failure; no other file is touched)."""
        data = json.dumps(self._run, ensure_ascii=False, allow_nan=False, separators=(",", ":")).encode("utf-8")
        if len(data) > MAX_RUN_BYTES:
            raise ValueError(
                f"{self.path} would hold {len(data):,} bytes, more than the {MAX_RUN_BYTES:,} a run file may: log "
                "fewer epochs, or a shorter probe, or continue in a new run folder"
            )
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = tmp_sibling(self.path)
        try:
            with open(tmp, "xb") as f:  # x: never write through a file or link that is not ours
                f.write(data)
            os.replace(tmp, self.path)
        finally:
            if tmp.exists():
                tmp.unlink()

    def _tensorboard(self, entry: dict[str, Any]) -> None:
        """The epoch's scalars (metrics, saturation, each profile's first and last step and their ratio) and each
        profile as text, at step = epoch."""
        w, step = self._writer, entry["epoch"]
        for k, v in entry["metrics"].items():
            w.add_scalar(f"metrics/{k}", v, step)
        for s in entry["saturation"]:
            if s["fraction"] is not None:
                w.add_scalar(f"saturation/{_series(s)}/{s['quantity']}", s["fraction"], step)
        for p in entry["profile"]:
            norms = [v for v in p["norms"] if v is not None]
            if not norms:
                continue
            w.add_scalar(f"grad_norm/{_series(p)}/first_step", norms[0], step)
            w.add_scalar(f"grad_norm/{_series(p)}/last_step", norms[-1], step)
            if norms[-1] > 0:
                w.add_scalar(f"grad_norm/{_series(p)}/first_over_last", norms[0] / norms[-1], step)
            w.add_text(f"grad_profile/{_series(p)}", json.dumps(p["norms"]), step)
        w.flush()

    def close(self) -> None:
        """Closes the TensorBoard writer (run.json needs no closing: it is complete after every epoch)."""
        if self._writer is not None:
            self._writer.close()
            self._writer = None

    def __enter__(self) -> TrainingLog:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


def _series(entry: Mapping[str, Any]) -> str:
    """``rnn.l0`` / ``encoder.l1.rev``: a profile's module, layer and direction as in a recording key.

    Example:
        >>> _series({"module": "rnn", "layer": 1, "direction": "rev"}), _series({"module": "", "layer": 0})
        ('rnn.l1.rev', 'l0')
    """
    head = f"{entry['module']}." if entry.get("module") else ""
    return f"{head}l{entry['layer']}" + (".rev" if entry.get("direction") == "rev" else "")


# ----- reading ---------------------------------------------------------------------------------------------------
def _short(value: Any, limit: int = 60) -> str:
    """``repr`` of a value on one line, cut to ``limit`` characters."""
    text = repr(value).replace("\n", "\\n").replace("\r", "\\r")
    return text if len(text) <= limit else text[: limit - 1] + "…"


class _Check:
    """Field checks of one file: each failure is a :class:`RunError` naming the file, the field and what is allowed."""

    def __init__(self, where: str) -> None:
        self.where = where

    def fail(self, field: str, value: Any, allowed: str) -> RunError:
        return RunError(f"{self.where}: {field} = {_short(value)} is invalid; allowed: {allowed}")

    def obj(self, value: Any, field: str, required: tuple[str, ...], optional: tuple[str, ...] = ()) -> dict:
        if not isinstance(value, dict):
            raise self.fail(field, value, f"an object with {', '.join(required)}")
        missing = [k for k in required if k not in value]
        if missing:
            raise RunError(
                f"{self.where}: {field}.{missing[0]} is missing; allowed: an object with {', '.join(required)}"
            )
        extra = [k for k in value if k not in required and k not in optional]
        if extra:
            raise RunError(
                f"{self.where}: {field} has the unknown field {_short(extra[0])}; "
                f"allowed: {', '.join(required + optional)}"
            )
        return value

    def list(self, value: Any, field: str, most: int) -> list:
        if not isinstance(value, list):
            raise self.fail(field, value, f"a list of at most {most:,} entries")
        if len(value) > most:
            raise RunError(f"{self.where}: {field} has {len(value):,} entries; allowed: at most {most:,}")
        return value

    def int(self, value: Any, field: str, low: int = 0, high: int = 2**53) -> int:
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise self.fail(field, value, f"an integer from {low} to {high:,}")
        return value

    def number(self, value: Any, field: str, low: float = -math.inf, high: float = math.inf) -> float:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise self.fail(field, value, "a finite number")
        if not low <= value <= high:
            raise self.fail(field, value, f"a number from {low:g} to {high:g}")
        return value

    def text(self, value: Any, field: str, limit: int = MAX_TEXT, empty: bool = False) -> str:
        if not isinstance(value, str) or len(value) > limit or not (empty or value) or not value.isprintable():
            raise self.fail(field, value, f"a printable string of {0 if empty else 1} to {limit} characters")
        return value

    def choice(self, value: Any, field: str, allowed: tuple[str, ...]) -> str:
        if value not in allowed or not isinstance(value, str):
            raise self.fail(field, value, ", ".join(allowed))
        return value

    def where_fields(self, entry: dict, field: str) -> None:
        """module, layer, direction of a profile or saturation entry."""
        self.text(entry["module"], f"{field}.module", empty=True)
        self.int(entry["layer"], f"{field}.layer", 0, 999)
        self.choice(entry["direction"], f"{field}.direction", ("fwd", "rev"))


def _check_run(obj: Any, where: str) -> dict[str, Any]:
    """``obj`` when it is a run of schema :data:`SCHEMA` within every budget; RunError otherwise."""
    c = _Check(where)
    if not isinstance(obj, dict) or obj.get("schema") != SCHEMA:
        raise RunError(f"{where} is not an lstmviz training run (schema {SCHEMA}, written by lstmviz.traininglog)")
    c.obj(obj, "the run", ("schema", "name", "model", "probe", "epochs"), ("created",))
    c.text(obj["name"], "name")
    if "created" in obj:
        c.text(obj["created"], "created", 40)
    model = c.obj(obj["model"], "model", ("parameters", "recurrent"))
    c.int(model["parameters"], "model.parameters")
    for i, m in enumerate(c.list(model["recurrent"], "model.recurrent", MAX_MODULES)):
        f = f"model.recurrent[{i}]"
        c.obj(m, f, ("module", "cell", "input_size", "hidden_size", "num_layers", "bidirectional"))
        c.text(m["module"], f"{f}.module", empty=True)
        c.choice(m["cell"], f"{f}.cell", _CELLS)
        for k in ("input_size", "hidden_size", "num_layers"):
            c.int(m[k], f"{f}.{k}", 1 if k != "input_size" else 0, 2**31)
        if not isinstance(m["bidirectional"], bool):
            raise c.fail(f"{f}.bidirectional", m["bidirectional"], "true or false")
    if obj["probe"] is not None:
        probe = c.obj(obj["probe"], "probe", ("batch", "steps"))
        c.int(probe["batch"], "probe.batch")
        c.int(probe["steps"], "probe.steps", 0, MAX_STEPS)
    last = -1
    for i, e in enumerate(c.list(obj["epochs"], "epochs", MAX_EPOCHS)):
        f = f"epochs[{i}]"
        c.obj(e, f, ("epoch", "metrics", "profile", "saturation"), ("seconds",))
        n = c.int(e["epoch"], f"{f}.epoch", 0, 10**9)
        if n <= last:
            raise c.fail(f"{f}.epoch", n, f"an integer above the previous epoch's {last}")
        last = n
        if "seconds" in e:
            c.number(e["seconds"], f"{f}.seconds", 0)
        metrics = e["metrics"]
        if not isinstance(metrics, dict) or len(metrics) > MAX_METRICS:
            raise c.fail(f"{f}.metrics", metrics, f"an object of at most {MAX_METRICS} {{name: number}}")
        for k, v in metrics.items():
            c.text(k, f"{f}.metrics key", MAX_METRIC_NAME)
            c.number(v, f"{f}.metrics[{k!r}]")
        for j, p in enumerate(c.list(e["profile"], f"{f}.profile", MAX_SERIES)):
            g = f"{f}.profile[{j}]"
            c.obj(p, g, ("module", "layer", "direction", "norms"))
            c.where_fields(p, g)
            norms = c.list(p["norms"], f"{g}.norms", MAX_STEPS)
            # one pass without a call per value (a full file holds ~2 million); type(v) is int excludes bool
            bad = next(
                (k for k, v in enumerate(norms) if v is not None and not (type(v) in _REAL and 0 <= v < _INF)), None
            )
            if bad is not None:
                raise c.fail(f"{g}.norms[{bad}]", norms[bad], "null or a finite number >= 0")
        for j, s in enumerate(c.list(e["saturation"], f"{f}.saturation", MAX_SATURATION)):
            g = f"{f}.saturation[{j}]"
            c.obj(s, g, ("module", "layer", "direction", "quantity", "fraction"))
            c.where_fields(s, g)
            c.text(s["quantity"], f"{g}.quantity", 40)
            if s["fraction"] is not None:
                c.number(s["fraction"], f"{g}.fraction", 0, 1)
    return obj


def read_run(path: str | os.PathLike) -> dict[str, Any]:
    """A run file written by :class:`TrainingLog`, checked field by field (untrusted input).

    Args:
        path: ``run.json`` or the folder holding it. A symlinked file must stay inside its folder.

    Returns:
        The run as a dict (see the module docstring for its fields).

    Raises:
        RunError: one line naming the file, and the field and what is allowed: missing, not a regular file,
            over :data:`MAX_RUN_BYTES`, not JSON, another schema, a wrong type, a list over its budget.

    Example:
        >>> import tempfile; p = Path(tempfile.mkdtemp()) / "run.json"; _ = p.write_text('{"schema": 1}')
        >>> try:
        ...     read_run(p)
        ... except RunError as e:
        ...     print(str(e).replace(str(p), "<file>"))
        <file> is not an lstmviz training run (schema lstmviz.run/1, written by lstmviz.traininglog)
    """
    p = Path(path)
    if p.is_dir():
        p = p / RUN_FILE
    try:
        obj = read_json(p, MAX_RUN_BYTES, "an lstmviz training run", inside=p.parent)
    except UnsafeFileError as e:
        raise RunError(str(e)) from None
    return _check_run(obj, str(p))


def find_runs(root: str | os.PathLike) -> list[Path]:
    """The folders directly under ``root`` holding a ``run.json``, by name (none when ``root`` is missing).

    Example:
        >>> find_runs("/nonexistent")
        []
    """
    try:
        entries = sorted(os.scandir(root), key=lambda e: e.name)
    except OSError:
        return []
    out = []
    for e in entries:
        try:
            if e.is_dir() and os.path.lexists(os.path.join(e.path, RUN_FILE)):
                out.append(Path(e.path))
        except OSError:  # an unreadable entry is not a run
            continue
    return out


# ----- tidy frames -----------------------------------------------------------------------------------------------
_SPLITS = (("train_", "train"), ("train/", "train"), ("val_", "val"), ("val/", "val"), ("valid_", "val"),
           ("validation_", "val"), ("test_", "test"), ("test/", "test"))  # fmt: skip
_METRICS = {"loss": "loss", "acc": "acc", "accuracy": "acc", "f1": "f1", "macro_f1": "f1", "f1_macro": "f1"}


def metric_split(name: str) -> tuple[str, str] | None:
    """``(split, metric)`` of a logged metric name that :func:`lstmviz.plots.training_curves` draws, else None.

    A ``train_`` / ``val_`` / ``valid_`` / ``test_`` prefix names the split (none: train); the rest must be
    loss, acc / accuracy or f1 / macro_f1.

    Example:
        >>> metric_split("val_accuracy"), metric_split("loss"), metric_split("perplexity")
        (('val', 'acc'), ('train', 'loss'), None)
    """
    low = name.lower()
    split = "train"
    for prefix, s in _SPLITS:
        if low.startswith(prefix):
            low, split = low[len(prefix) :], s
            break
    metric = _METRICS.get(low)
    return None if metric is None else (split, metric)


def curves_frame(runs: Mapping[str, Mapping[str, Any]]) -> pd.DataFrame:
    """The metrics of several runs that :func:`lstmviz.plots.training_curves` draws (see :func:`metric_split`),
    in the frame of :func:`lstmviz.tidy.history_frame`.

    Args:
        runs: Display name -> run (:func:`read_run`).

    Returns:
        Frame ``model, epoch, split, metric, value``.

    Example:
        >>> run = {"epochs": [{"epoch": 1, "metrics": {"loss": 0.7, "val_acc": 0.5, "lr": 0.1}}]}
        >>> curves_frame({"mine": run})[["split", "metric"]].values.tolist()
        [['train', 'loss'], ['val', 'acc']]
    """
    rows = []
    for model, run in runs.items():
        for e in run.get("epochs") or []:
            for name, value in e["metrics"].items():
                found = metric_split(name)
                if found is not None:
                    rows.append({"model": model, "epoch": e["epoch"], "split": found[0], "metric": found[1],
                                 "value": float(value)})  # fmt: skip
    return pd.DataFrame(rows, columns=["model", "epoch", "split", "metric", "value"])


def metrics_frame(runs: Mapping[str, Mapping[str, Any]]) -> pd.DataFrame:
    """Every logged metric of several runs.

    Example:
        >>> metrics_frame({"mine": {"epochs": [{"epoch": 3, "metrics": {"lr": 0.1}}]}}).values.tolist()
        [['mine', 3, 'lr', 0.1]]
    """
    rows = [
        {"model": model, "epoch": e["epoch"], "metric": name, "value": float(value)}
        for model, run in runs.items()
        for e in run.get("epochs") or []
        for name, value in e["metrics"].items()
    ]
    return pd.DataFrame(rows, columns=["model", "epoch", "metric", "value"])


def _last_with(run: Mapping[str, Any], field: str) -> Mapping[str, Any] | None:
    """The last epoch entry whose ``field`` is not empty."""
    return next((e for e in reversed(run.get("epochs") or []) if e.get(field)), None)


def profile_frame(runs: Mapping[str, Mapping[str, Any]]) -> pd.DataFrame:
    """The last logged epoch's gradient profiles of several runs, for :func:`lstmviz.plots.grad_norm_curves`.

    Returns:
        Frame ``series, module, layer, direction, quantity, epoch, step, distance, norm`` (series: the run's
        display name; quantity ``grad_hidden``; ``distance = T-1-step``; steps without a norm left out).

    Example:
        >>> run = {"epochs": [{"epoch": 2, "profile": [{"module": "rnn", "layer": 0, "direction": "fwd",
        ...                                              "norms": [0.1, None, 1.0]}]}]}
        >>> profile_frame({"mine": run})[["step", "distance", "norm"]].values.tolist()
        [[0.0, 2.0, 0.1], [2.0, 0.0, 1.0]]
    """
    rows = []
    for series, run in runs.items():
        e = _last_with(run, "profile")
        if e is None:
            continue
        for p in e["profile"]:
            T = len(p["norms"])
            for t, v in enumerate(p["norms"]):
                if v is not None:
                    rows.append({"series": series, "module": p["module"], "layer": p["layer"],
                                 "direction": p["direction"], "quantity": "grad_hidden", "epoch": e["epoch"],
                                 "step": t, "distance": T - 1 - t, "norm": float(v)})  # fmt: skip
    cols = ["series", "module", "layer", "direction", "quantity", "epoch", "step", "distance", "norm"]
    return pd.DataFrame(rows, columns=cols)


def profile_epochs_frame(run: Mapping[str, Any]) -> pd.DataFrame:
    """One run's profile over its epochs, for :func:`lstmviz.plots.grad_profile_heatmap`: the forward direction of
    the top layer of the last recurrent module (the one nearest the loss, as a checkpoint's stored profile).

    Returns:
        Frame ``epoch, step, distance, norm`` (:func:`lstmviz.tidy.grad_profile_frame`'s); empty without profiles.

    Example:
        >>> p = lambda layer, norms: {"module": "rnn", "layer": layer, "direction": "fwd", "norms": norms}
        >>> run = {"epochs": [{"epoch": 1, "profile": [p(0, [0.5, 1.0]), p(1, [0.1, 1.0])]}]}
        >>> profile_epochs_frame(run)["norm"].tolist()
        [0.1, 1.0]
    """
    from lstmviz.tidy import grad_profile_frame

    history = []
    for e in run.get("epochs") or []:
        fwd = [p for p in e.get("profile") or [] if p["direction"] == "fwd"]
        if fwd:
            modules = list(dict.fromkeys(p["module"] for p in fwd))
            top = max((p for p in fwd if p["module"] == modules[-1]), key=lambda p: p["layer"])
            history.append({"epoch": e["epoch"], "grad_profile": top["norms"]})
    return grad_profile_frame(history)


def saturation_frame(runs: Mapping[str, Mapping[str, Any]]) -> pd.DataFrame:
    """The last logged epoch's gate saturation of several runs.

    Returns:
        Frame ``model, epoch, module, layer, direction, quantity, fraction`` (entries without a fraction left out).

    Example:
        >>> s = {"module": "rnn", "layer": 0, "direction": "fwd", "quantity": "forget", "fraction": 0.25}
        >>> saturation_frame({"mine": {"epochs": [{"epoch": 4, "saturation": [s]}]}})["fraction"].tolist()
        [0.25]
    """
    rows = []
    for model, run in runs.items():
        e = _last_with(run, "saturation")
        for s in e["saturation"] if e else []:
            if s["fraction"] is not None:
                rows.append({"model": model, "epoch": e["epoch"], **{k: s[k] for k in
                             ("module", "layer", "direction", "quantity", "fraction")}})  # fmt: skip
    cols = ["model", "epoch", "module", "layer", "direction", "quantity", "fraction"]
    return pd.DataFrame(rows, columns=cols)
