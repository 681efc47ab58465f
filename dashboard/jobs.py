"""Background training job of the long-range lab: RNN, GRU and LSTM on an online long-range task.

One :class:`JobManager` exists per server (``dashboard.state.job_manager`` holds it in
``st.cache_resource``), and it runs at most ONE job at a time in a daemon thread, so a
page reload, a second tab or another user all see the same job and none can start a
second. The job trains its own freshly seeded models (no shared model is touched) with the
library's trainer, :func:`lstmviz.trainer.fit`, on fresh data every batch
(:func:`lstmviz.taskdata.prepare_online`), one cell after another; ``fit``'s callbacks feed the
live curves (``on_epoch``) and the Stop button (``should_stop``, asked before every update).
``fit`` changes no process-wide torch state, so other sessions are unaffected.

Pages read :meth:`JobManager.snapshot` (a copy, taken under a lock). :data:`PRESETS` are the
settings measured to separate the cells (``benchmarks/lab_presets.py`` measures them over seeds
and writes ``checkpoints/lab_presets.json``, which the page shows).

This module imports no streamlit, so it is tested and benchmarked like library code.
"""

from __future__ import annotations

import copy
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from typing import Any

from lstmviz.experiments import model_config_for
from lstmviz.models import CELLS, ModelConfig, RecurrentClassifier
from lstmviz.profiles import gradient_ratio, make_probe
from lstmviz.sweeps import read_json
from lstmviz.taskdata import ONLINE_TASKS, TASK_DEFAULTS, prepare_online
from lstmviz.trainer import TrainConfig, evaluate, fit

__all__ = [
    "NEAR_CHANCE",
    "PRESETS",
    "JobManager",
    "LabConfig",
    "estimate_seconds",
    "load_preset_runs",
    "preset_verdict",
]

log = logging.getLogger(__name__)
_CUE = TASK_DEFAULTS["cue_recall"]  # the lab's defaults are the library's (one place)


@dataclass(frozen=True)
class LabConfig:
    """Settings of one live run (every cell gets the same ones).

    Example:
        >>> LabConfig(updates=600).total_updates
        1800
    """

    task: str = "cue_recall"  # "cue_recall" | "adding"
    lag: int = 100  # cue recall: distractors between cue and query; adding: sequence length
    updates: int = 600  # update budget per cell; a cell that reaches success stops earlier
    updates_per_epoch: int = _CUE["train"]["updates_per_epoch"]  # updates between two evaluations (a curve point)
    hidden_size: int = _CUE["model"]["hidden_size"]  # units of each model
    gate_bias: float = 4.0  # forget / update gate bias at init (the bias sweep: 4 lets gated cells through)
    batch_size: int = _CUE["train"]["batch_size"]  # sequences per update, drawn fresh every time
    lr: float = _CUE["train"]["lr"]  # AdamW learning rate
    n_val: int = 256  # held-out sequences scored after every epoch
    seed: int = 0  # data stream, held-out set and initialisation
    cells: tuple[str, ...] = CELLS  # cells trained one after another

    def __post_init__(self) -> None:
        if self.task not in ONLINE_TASKS:
            raise ValueError(f"task={self.task!r} is invalid; allowed: {', '.join(ONLINE_TASKS)}")
        for name in ("lag", "updates", "updates_per_epoch", "hidden_size", "batch_size", "n_val", "seed"):
            v = getattr(self, name)
            low = (2 if self.task == "adding" else 0) if name == "lag" else (0 if name == "seed" else 1)
            if isinstance(v, bool) or not isinstance(v, int) or v < low:
                raise ValueError(f"{name}={v!r} is invalid; allowed: an integer >= {low}")
        if not self.cells or any(c not in CELLS for c in self.cells):
            raise ValueError(f"cells={self.cells!r} is invalid; allowed: a non-empty subset of {CELLS}")
        if not (self.lr > 0):
            raise ValueError(f"lr={self.lr!r} is invalid; allowed: a number > 0")

    @property
    def epochs(self) -> int:
        """Evaluations per cell."""
        return -(-self.updates // self.updates_per_epoch)

    @property
    def total_updates(self) -> int:
        """Updates of the whole job when no cell stops early."""
        return self.epochs * self.updates_per_epoch * len(self.cells)

    @property
    def stop_at(self) -> float:
        """Success: held-out accuracy reaching this (cue recall) or MSE falling to it (adding)."""
        return TASK_DEFAULTS[self.task]["train"]["stop_at"]

    def train_config(self) -> TrainConfig:
        """The trainer settings of one cell's run (float64 gradient ratio at every evaluation)."""
        return TrainConfig.from_dict(
            {
                **TASK_DEFAULTS[self.task]["train"],
                "epochs": self.epochs,
                "updates_per_epoch": self.updates_per_epoch,
                "batch_size": self.batch_size,
                "lr": self.lr,
                "seed": self.seed,
                "quiet": True,
                "probe_size": 32,
                "track_grad_ratio": True,
            }
        )

    def model_config(self, cell: str) -> ModelConfig:
        """The architecture of one cell (sizes fixed later by the data)."""
        d = TASK_DEFAULTS[self.task]["model"]
        return ModelConfig.from_dict({**d, "cell": cell, "hidden_size": self.hidden_size, "gate_bias": self.gate_bias})


# Presets shown as buttons; "separate" is the one measured to split RNN from GRU and LSTM
# (numbers in checkpoints/lab_presets.json, from benchmarks/lab_presets.py).
PRESETS: dict[str, LabConfig] = {
    "separate": LabConfig(task="cue_recall", lag=100, updates=600, gate_bias=4.0),
    "short": LabConfig(task="cue_recall", lag=5, updates=1500, gate_bias=4.0),
    "adding": LabConfig(task="adding", lag=50, updates=1500, gate_bias=1.0),
}


NEAR_CHANCE = 0.1  # "near chance": final held-out accuracy at most chance + this


PRESET_COLUMNS = ["preset", "seed", "cell", "final", "solved_at", "seconds"]


def load_preset_runs(path: Any) -> Any:
    """Measured preset runs (``benchmarks/lab_presets.py``) as a frame.

    Columns: ``preset, seed, cell, final, solved_at, seconds``.

    Raises:
        ValueError: naming the file when it is too large, unreadable or of another layout.

    Example:
        >>> load_preset_runs("checkpoints/lab_presets.json")["preset"].unique().tolist()  # doctest: +SKIP
        ['separate', 'short', 'adding']
    """
    import pandas as pd

    raw = read_json(path, 4 << 20, "lab preset results")
    try:
        frame = pd.DataFrame(raw["runs"], columns=PRESET_COLUMNS)
        frame[["final", "seconds"]] = frame[["final", "seconds"]].astype(float)
        return frame.astype({"preset": str, "cell": str})
    except (KeyError, TypeError, ValueError) as e:
        raise ValueError(f"{path} cannot be read as lab preset results: {type(e).__name__}: {str(e)[:200]}") from None


def _solved(v: Any) -> bool:
    return v is not None and v == v  # None or NaN (a frame's missing value): not solved


def preset_verdict(runs: Any, cfg: LabConfig) -> tuple[str, float]:
    """What measured runs of a preset show, and the slowest job's seconds.

    ``"separates"``: on every seed the RNN fails (cue recall: also within :data:`NEAR_CHANCE`
    of chance) while GRU and LSTM succeed. ``"all_solve"``: every cell succeeds on every seed.
    ``"mixed"``: anything else (or missing runs).

    Args:
        runs: Frame ``seed, cell, final, solved_at, seconds`` of one preset (benchmarks/lab_presets.py).
        cfg: The preset.

    Example:
        >>> import pandas as pd
        >>> runs = pd.DataFrame({"seed": [0] * 3, "cell": ["rnn", "gru", "lstm"], "final": [.27, 1.0, .99],
        ...                      "solved_at": [None, 150, 400], "seconds": [10.0, 20.0, 30.0]})
        >>> preset_verdict(runs, PRESETS["separate"])
        ('separates', 60.0)
    """
    if len(runs) == 0:
        return "mixed", 0.0
    separates = all_solve = True
    for _, part in runs.groupby("seed"):
        row = {r.cell: r for r in part.itertuples()}
        if not {"rnn", "gru", "lstm"} <= set(row):
            return "mixed", 0.0
        gated = all(_solved(row[c].solved_at) for c in ("gru", "lstm"))
        rnn_fails = not _solved(row["rnn"].solved_at)
        if cfg.task == "cue_recall":
            rnn_fails &= row["rnn"].final <= 1 / 4 + NEAR_CHANCE
        separates &= gated and rnn_fails
        all_solve &= gated and _solved(row["rnn"].solved_at)
    secs = float(runs.groupby("seed")["seconds"].sum().max())
    return ("separates" if separates else "all_solve" if all_solve else "mixed"), secs


def _data(cfg: LabConfig):
    return prepare_online(cfg.task, cfg.lag, seed=cfg.seed, n_val=cfg.n_val, n_test=cfg.n_val)


def estimate_seconds(cfg: LabConfig) -> float:
    """Estimate of the job's time when every cell uses its whole budget, from timing the trainer here.

    For each cell, :func:`lstmviz.trainer.fit` runs one epoch of 1 update and one of 3 updates
    (each with its evaluation and float64 gradient ratio); the difference gives the cost of an
    update, the rest the cost of an evaluation. Cells that reach success stop early, so the
    job usually takes less.

    Example:
        >>> estimate_seconds(LabConfig(lag=5, updates=50)) > 0
        True
    """
    data = _data(cfg)
    total = 0.0
    for cell in cfg.cells:
        took = []
        for n in (1, 3):
            model = RecurrentClassifier.seeded(model_config_for(data, cfg.model_config(cell)), cfg.seed)
            tc = replace(cfg.train_config(), epochs=1, updates_per_epoch=n, stop_at=None)
            t0 = time.perf_counter()
            fit(model, data.train.restart(), data.val, tc, log=None)
            took.append(time.perf_counter() - t0)
        per_update = max(0.0, (took[1] - took[0]) / 2)
        per_eval = max(0.0, took[0] - per_update)
        total += per_update * cfg.epochs * cfg.updates_per_epoch + per_eval * (cfg.epochs + 1)
    return total


MAX_JOB_SECONDS = 15 * 60  # a lab job stops after this long, whoever watches (the presets take <= 15 s)
IDLE_STOP_SECONDS = 120  # ... or when no session has looked at it (polled its status) for this long


@dataclass
class _Status:
    """Mutable job state; only the worker thread writes it, always under the manager's lock."""

    state: str = "idle"  # idle | running | done | stopped | error
    stop_reason: str | None = None  # why a job stopped: "user", "time_limit", "unwatched", "shutdown"
    config: LabConfig | None = None
    updates_done: int = 0
    history: list[dict[str, Any]] = field(default_factory=list)  # model, updates, split, metric, value
    solved: dict[str, int | None] = field(default_factory=dict)  # cell -> updates when solved (None: not)
    seconds: dict[str, float] = field(default_factory=dict)  # cell -> seconds its run took
    error: str | None = None
    started: float | None = None
    finished: float | None = None
    job_id: int = 0


def _register_exit_hook(fn: Callable[[], None]) -> None:
    """Runs ``fn`` when the interpreter starts to exit, before non-daemon threads are joined.

    ``threading._register_atexit`` is what ``concurrent.futures`` uses for the same purpose; ``atexit``
    would run only after the join, i.e. after the job had run to its end.
    """
    register = getattr(threading, "_register_atexit", None)
    try:
        if register is not None:
            register(fn)
            return
    except RuntimeError:  # the interpreter is already shutting down
        return
    import atexit

    atexit.register(fn)


class JobManager:
    """Runs at most one lab job at a time, in a background thread.

    Example:
        >>> jm = JobManager()
        >>> jm.start(LabConfig(lag=2, updates=4, updates_per_epoch=2, hidden_size=4, n_val=16))
        True
        >>> jm.wait(60)["state"]
        'done'
    """

    def __init__(self, max_seconds: float = MAX_JOB_SECONDS, idle_seconds: float = IDLE_STOP_SECONDS) -> None:
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._reason: str | None = None
        self._thread: threading.Thread | None = None
        self._status = _Status()
        self.max_seconds, self.idle_seconds = max_seconds, idle_seconds
        self._seen = time.monotonic()
        # The job thread is not a daemon: a daemon thread still inside torch when the interpreter
        # finalises aborts the process (SIGABRT). This hook runs when the process is asked to exit
        # (SIGTERM/SIGINT end Streamlit's server loop), before Python joins the thread: the job stops
        # at its next update and the process exits 0.
        _register_exit_hook(self._shutdown)

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
            self._reason = None
            self._seen = self._began = time.monotonic()
            self._status = _Status(state="running", config=config, started=time.time(), job_id=self._status.job_id + 1)
            self._thread = threading.Thread(target=self._run, args=(config,), name="lstmviz-lab-job", daemon=False)
            self._thread.start()
            return True

    def stop(self, reason: str = "user") -> None:
        """Asks the running job to stop before its next update (no-op when idle)."""
        if not self._stop.is_set():
            self._reason = reason
        self._stop.set()

    def _shutdown(self) -> None:
        """Process exit: stop the job and wait for it (it stops within one update)."""
        self.stop("shutdown")
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(30)

    def running(self) -> bool:
        """Whether a job thread is alive."""
        with self._lock:
            return self._thread is not None and self._thread.is_alive()

    def snapshot(self) -> dict[str, Any]:
        """A copy of the job state: ``state, stop_reason, config, progress, history, solved, seconds, error, started,
        finished, job_id``. Calling it counts as a session looking at the job (see ``idle_seconds``)."""
        self._seen = time.monotonic()
        with self._lock:
            s = self._status
            cfg = s.config
            total = cfg.total_updates if cfg else 0
            return {
                "state": s.state,
                "stop_reason": s.stop_reason,
                "config": asdict(cfg) if cfg else None,
                "progress": min(1.0, s.updates_done / total) if total else 0.0,
                "history": copy.deepcopy(s.history),
                "solved": dict(s.solved),
                "seconds": dict(s.seconds),
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
    def _rows(self, cell: str, updates: int, values: dict[tuple[str, str], float]) -> None:
        with self._lock:
            self._status.history += [
                {"model": cell, "updates": updates, "split": split, "metric": metric, "value": float(v)}
                for (split, metric), v in values.items()
            ]

    def _tick(self) -> bool:
        """``should_stop`` of the trainer: counts an update for the progress bar; Stop, time limit, unwatched."""
        now = time.monotonic()
        if now - self._began > self.max_seconds:
            self.stop("time_limit")
        elif now - self._seen > self.idle_seconds:
            self.stop("unwatched")
        if self._stop.is_set():
            return True
        with self._lock:
            self._status.updates_done += 1
        time.sleep(0)  # let page threads run between updates
        return False

    def _run(self, cfg: LabConfig) -> None:
        """Trains the cells one after another through the trainer's callbacks."""
        try:
            data = _data(cfg)
            tc = cfg.train_config()
            score = "mse" if cfg.task == "adding" else "acc"
            for i, cell in enumerate(cfg.cells):
                t0 = time.perf_counter()
                model = RecurrentClassifier.seeded(model_config_for(data, cfg.model_config(cell)), cfg.seed)
                probe = make_probe(data.val, tc.probe_size)
                ev = evaluate(model, data.val)
                self._rows(
                    cell,
                    0,
                    {
                        ("held_out", score): ev["loss"] if score == "mse" else ev["accuracy"],
                        ("held_out", "grad_ratio"): gradient_ratio(model, probe),
                    },
                )

                def on_epoch(h: dict[str, Any], cell: str = cell) -> None:
                    train = h["train_loss"] if score == "mse" else h["train_acc"]
                    held = h["val_loss"] if score == "mse" else h["val_acc"]
                    self._rows(
                        cell,
                        h["updates"],
                        {
                            ("train", score): train,
                            ("held_out", score): held,
                            ("held_out", "grad_ratio"): h["grad_ratio"],
                        },
                    )

                result = fit(
                    model, data.train.restart(), data.val, tc, log=None, on_epoch=on_epoch, should_stop=self._tick
                )
                with self._lock:
                    self._status.solved[cell] = result.solved_at
                    self._status.seconds[cell] = time.perf_counter() - t0
                    self._status.updates_done = (i + 1) * cfg.epochs * cfg.updates_per_epoch
                if result.stop_reason == "stopped":
                    return self._finish("stopped")
            self._finish("done")
        except Exception as e:  # reported on the page; the traceback stays in the server log
            log.exception("lab job failed")
            self._finish("error", f"{type(e).__name__}: {e}")

    def _finish(self, state: str, error: str | None = None) -> None:
        """Records the end state of the job."""
        with self._lock:
            self._status.state = state
            self._status.stop_reason = self._reason if state == "stopped" else None
            self._status.error = error
            self._status.finished = time.time()
            if state == "stopped" and self._status.config is not None:
                self._status.updates_done = min(self._status.updates_done, self._status.config.total_updates - 1)
