"""Background training job of the long-range lab: RNN, GRU and LSTM on cue recall at one lag.

One :class:`JobManager` exists per server (``dashboard.state.job_manager`` holds it in
``st.cache_resource``), and it runs at most ONE job at a time in a daemon thread, so a
page reload, a second tab or another user all see the same job and none can start a
second. The job owns its models (freshly built and seeded with a private generator: no
shared model is touched, and no global RNG either). Pages read :meth:`JobManager.snapshot`
(a copy, taken under a lock) and ask it to stop with :meth:`JobManager.stop`; the thread
checks the stop flag after every batch.

This module imports no streamlit, so it is tested and benchmarked like library code.
"""

from __future__ import annotations

import copy
import logging
import threading
import time
from dataclasses import asdict, dataclass, field
from typing import Any

import torch
import torch.nn.functional as F

from lstmviz.analysis import seeded_init
from lstmviz.models import CELLS, ModelConfig, RecurrentClassifier
from lstmviz.tasks import cue_recall

__all__ = ["LabConfig", "JobManager"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class LabConfig:
    """Settings of one live cue-recall run.

    Example:
        >>> LabConfig(lag=30).total_steps
        720
    """

    lag: int = 20  # distractor tokens between the cue and the query
    epochs: int = 15  # passes over the training set, per cell
    hidden_size: int = 32  # units of each model
    n_train: int = 1024  # training sequences
    n_test: int = 512  # held-out sequences (accuracy is measured on these)
    batch_size: int = 64  # sequences per optimiser step
    lr: float = 5e-3  # Adam learning rate
    clip: float = 1.0  # gradient-norm clipping, the usual fix for exploding RNN gradients
    n_classes: int = 4  # cues (countries) to tell apart; chance = 1 / n_classes
    vocab_size: int = 20  # token ids of the task (see lstmviz.tasks.cue_recall_vocab)
    seed: int = 0  # data, initialisation and shuffling seed
    cells: tuple[str, ...] = ("rnn", "gru", "lstm")  # cells trained side by side

    def __post_init__(self) -> None:
        for name in ("lag", "epochs", "hidden_size", "n_train", "n_test", "batch_size"):
            v = getattr(self, name)
            low = 0 if name == "lag" else 1
            if isinstance(v, bool) or not isinstance(v, int) or v < low:
                raise ValueError(f"{name}={v!r} is invalid; allowed: an integer >= {low}")
        if not self.cells or any(c not in CELLS for c in self.cells):
            raise ValueError(f"cells={self.cells!r} is invalid; allowed: a non-empty subset of {CELLS}")
        if not (self.lr > 0 and self.clip > 0):
            raise ValueError(f"lr={self.lr!r}, clip={self.clip!r} are invalid; allowed: numbers > 0")

    @property
    def steps_per_epoch(self) -> int:
        """Optimiser steps per epoch and cell."""
        return -(-self.n_train // self.batch_size)

    @property
    def total_steps(self) -> int:
        """Optimiser steps of the whole job (all cells, all epochs)."""
        return self.steps_per_epoch * self.epochs * len(self.cells)


@dataclass
class _Status:
    """Mutable job state; only the worker thread writes it, always under the manager's lock."""

    state: str = "idle"  # idle | running | done | stopped | error
    config: LabConfig | None = None
    steps_done: int = 0
    history: list[dict[str, Any]] = field(default_factory=list)  # cell, epoch, split, metric, value
    error: str | None = None
    started: float | None = None
    finished: float | None = None
    job_id: int = 0


class JobManager:
    """Runs at most one lab job at a time, in a background thread.

    Example:
        >>> jm = JobManager()
        >>> jm.start(LabConfig(lag=2, epochs=1, n_train=64, n_test=32, hidden_size=4))
        True
        >>> jm.wait(60)["state"]
        'done'
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._status = _Status()

    def start(self, config: LabConfig) -> bool:
        """Starts a job unless one is running.

        Args:
            config: The run's settings.

        Returns:
            True when a job was started, False when one was already running.
        """
        if not isinstance(config, LabConfig):
            raise TypeError(f"config must be a LabConfig, got {type(config).__name__}")
        with self._lock:
            if self._thread is not None and self._thread.is_alive():
                return False
            self._stop.clear()
            self._status = _Status(
                state="running", config=config, started=time.time(), job_id=self._status.job_id + 1
            )
            self._thread = threading.Thread(
                target=self._run, args=(config,), name="lstmviz-lab-job", daemon=True
            )
            self._thread.start()
            return True

    def stop(self) -> None:
        """Asks the running job to stop after its current batch (no-op when idle)."""
        self._stop.set()

    def running(self) -> bool:
        """Whether a job thread is alive."""
        with self._lock:
            return self._thread is not None and self._thread.is_alive()

    def snapshot(self) -> dict[str, Any]:
        """A copy of the job state: ``state, config, progress, history, error, started, finished, job_id``."""
        with self._lock:
            s = self._status
            cfg = s.config
            total = cfg.total_steps if cfg else 0
            return {
                "state": s.state,
                "config": asdict(cfg) if cfg else None,
                "progress": min(1.0, s.steps_done / total) if total else 0.0,
                "history": copy.deepcopy(s.history),
                "error": s.error,
                "started": s.started,
                "finished": s.finished,
                "job_id": s.job_id,
            }

    def wait(self, timeout: float | None = None) -> dict[str, Any]:
        """Blocks until the current job ends (or ``timeout``), then returns :meth:`snapshot`."""
        thread = self._thread
        if thread is not None:
            thread.join(timeout)
        return self.snapshot()

    # ----- worker thread --------------------------------------------------------------
    def _run(self, cfg: LabConfig) -> None:
        """Trains every cell one epoch at a time, interleaved, so the curves grow together."""
        try:
            x, y = cue_recall(cfg.n_train + cfg.n_test, cfg.lag, cfg.n_classes, cfg.vocab_size, cfg.seed)
            x_tr, y_tr = x[: cfg.n_train], y[: cfg.n_train]  # (N, lag + 2), (N,)
            x_te, y_te = x[cfg.n_train :], y[cfg.n_train :]
            T = x.shape[1]
            models, opts = {}, {}
            for i, cell in enumerate(cfg.cells):
                mcfg = ModelConfig(cell=cell, vocab_size=cfg.vocab_size, embed_dim=cfg.hidden_size,
                                   hidden_size=cfg.hidden_size, num_classes=cfg.n_classes)
                models[cell] = seeded_init(RecurrentClassifier(mcfg), cfg.seed + i)
                opts[cell] = torch.optim.Adam(models[cell].parameters(), lr=cfg.lr)
            g = torch.Generator().manual_seed(cfg.seed)
            for epoch in range(1, cfg.epochs + 1):
                order = torch.randperm(cfg.n_train, generator=g)
                for cell in cfg.cells:
                    loss = self._epoch(models[cell], opts[cell], x_tr[order], y_tr[order], cfg, T)
                    if loss is None:
                        return self._finish("stopped")
                    acc = self._accuracy(models[cell], x_te, y_te, T)
                    with self._lock:
                        self._status.history += [
                            {"model": cell, "epoch": epoch, "split": "train", "metric": "loss", "value": loss},
                            {"model": cell, "epoch": epoch, "split": "test", "metric": "acc", "value": acc},
                        ]
            self._finish("done")
        except Exception as e:  # reported on the page; the traceback stays in the server log
            log.exception("lab job failed")
            self._finish("error", f"{type(e).__name__}: {e}")

    def _epoch(self, model, opt, x, y, cfg: LabConfig, T: int) -> float | None:
        """One epoch; returns the mean loss, or None when a stop was requested."""
        model.train()
        total, n = 0.0, 0
        for start in range(0, x.shape[0], cfg.batch_size):
            if self._stop.is_set():
                return None
            xb, yb = x[start : start + cfg.batch_size], y[start : start + cfg.batch_size]
            loss = F.cross_entropy(model(xb, torch.full((xb.shape[0],), T)), yb)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.clip)
            opt.step()
            total += float(loss.detach()) * xb.shape[0]
            n += xb.shape[0]
            with self._lock:
                self._status.steps_done += 1
            time.sleep(0)  # let page threads run between batches
        return total / max(n, 1)

    @staticmethod
    @torch.no_grad()
    def _accuracy(model, x, y, T: int) -> float:
        """Accuracy on held-out sequences."""
        model.eval()
        pred = model(x, torch.full((x.shape[0],), T)).argmax(-1)
        return float((pred == y).float().mean())

    def _finish(self, state: str, error: str | None = None) -> None:
        """Records the end state of the job."""
        with self._lock:
            self._status.state = state
            self._status.error = error
            self._status.finished = time.time()
