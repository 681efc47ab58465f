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
and writes ``results/lab_presets.json``, which the page shows). What the job on screen did is
read from its snapshot by :func:`cell_outcomes` (per cell) and :func:`live_verdict` (the same rule
as :func:`preset_verdict`, on this one run); :func:`matching_preset` says whether a preset's stored
measurement is about the same settings.

A job runs while somebody is using the app: every page run of any view calls
:meth:`JobManager.touch`, and the Streamlit server's own session list is asked through the
``sessions_open`` probe that ``dashboard.state`` passes in. With neither for ``idle_seconds`` the
job stops as "unwatched".

This module imports no streamlit, so it is tested and benchmarked like library code.
"""

from __future__ import annotations

import copy
import logging
import math
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
from lstmviz.trainer import ClassifierTask, TrainConfig, evaluate, fit

__all__ = [
    "NEAR_CHANCE",
    "PRESETS",
    "JobManager",
    "LabConfig",
    "cell_outcomes",
    "config_differences",
    "estimate_seconds",
    "job_runs",
    "live_verdict",
    "load_preset_runs",
    "matching_preset",
    "preset_verdict",
    "snapshot_config",
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
# (numbers in results/lab_presets.json, from benchmarks/lab_presets.py).
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
        >>> load_preset_runs("results/lab_presets.json")["preset"].unique().tolist()  # doctest: +SKIP
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


def snapshot_config(snap: dict[str, Any]) -> LabConfig | None:
    """The :class:`LabConfig` of a :meth:`JobManager.snapshot` (None before any job ran).

    Example:
        >>> snapshot_config({"config": {**asdict(PRESETS["short"]), "cells": ["rnn", "gru", "lstm"]}}).lag
        5
    """
    raw = snap.get("config")
    return None if raw is None else LabConfig(**{**raw, "cells": tuple(raw["cells"])})


def config_differences(a: LabConfig, b: LabConfig) -> list[str]:
    """Names of the settings in which two configs differ, the seed aside.

    The seed is left out because a preset's stored measurement covers several seeds (0, 1, 2 ...):
    a run of the preset with another seed is still a run of the measured settings.

    Example:
        >>> config_differences(PRESETS["separate"], replace(PRESETS["separate"], lag=50, seed=3))
        ['lag']
    """
    return [k for k, v in asdict(a).items() if k != "seed" and v != getattr(b, k)]


def matching_preset(cfg: LabConfig | None) -> str | None:
    """The preset whose settings ``cfg`` has (the seed aside), or None.

    Example:
        >>> matching_preset(replace(PRESETS["short"], seed=2)), matching_preset(LabConfig(lag=7))
        ('short', None)
    """
    if cfg is None:
        return None
    return next((name for name, p in PRESETS.items() if not config_differences(p, cfg)), None)


def cell_outcomes(snap: dict[str, Any]) -> list[tuple[str, str, int]]:
    """What each cell of the job on screen did: ``(cell, outcome, updates)`` in training order.

    Outcomes: ``"solved"`` (``updates``: the update at which it succeeded), ``"not_solved"`` (it
    used its whole budget: ``updates`` it ran), ``"stopped"`` (the job stopped or failed while this
    cell trained: ``updates`` it ran until then), ``"running"`` (updates so far), ``"waiting"`` (a
    running job has not reached it) and ``"not_started"`` (the job ended before it). ``updates`` is
    0 for the last two.

    Args:
        snap: A :meth:`JobManager.snapshot` (or the same keys: ``state, config, solved, ran, cell``).

    Example:
        >>> snap = {"state": "stopped", "config": {**asdict(LabConfig()), "cells": ["rnn", "gru", "lstm"]},
        ...         "solved": {"rnn": None}, "ran": {"rnn": 600, "gru": 350}, "cell": "gru"}
        >>> cell_outcomes(snap)
        [('rnn', 'not_solved', 600), ('gru', 'stopped', 350), ('lstm', 'not_started', 0)]
    """
    cfg = snapshot_config(snap)
    if cfg is None:
        return []
    solved, ran, running = snap.get("solved", {}), snap.get("ran", {}), snap["state"] == "running"
    out = []
    for cell in cfg.cells:
        if cell in solved:  # the cell's run ended on its own: success, or its budget spent
            n = solved[cell]
            out.append((cell, "solved", int(n)) if _solved(n) else (cell, "not_solved", int(ran.get(cell, 0))))
        elif cell == snap.get("cell"):  # the cell in training when the snapshot was taken or the job ended
            out.append((cell, "running" if running else "stopped", int(ran.get(cell, 0))))
        else:
            out.append((cell, "waiting" if running else "not_started", 0))
    return out


def final_score(history: list[dict[str, Any]], cell: str, task: str) -> float | None:
    """A cell's held-out score (accuracy, or MSE for adding) at its last evaluation (None: none yet).

    Example:
        >>> final_score([{"model": "rnn", "updates": u, "split": "held_out", "metric": "acc", "value": v}
        ...              for u, v in ((0, 0.25), (50, 0.3))], "rnn", "cue_recall")
        0.3
    """
    score = "mse" if task == "adding" else "acc"
    rows = [h for h in history if h["model"] == cell and h["split"] == "held_out" and h["metric"] == score]
    return float(max(rows, key=lambda h: h["updates"])["value"]) if rows else None


def job_runs(snap: dict[str, Any]) -> Any:
    """The finished cells of the job on screen as a frame of :func:`preset_verdict`'s layout.

    Columns ``seed, cell, final, solved_at, seconds``: one row per cell whose run ended on its own
    (a cell stopped early or never started has no row).

    Example:
        >>> snap = {"state": "done", "config": {**asdict(PRESETS["separate"]), "cells": ["rnn"]},
        ...         "solved": {"rnn": None}, "seconds": {"rnn": 4.0},
        ...         "history": [{"model": "rnn", "updates": 600, "split": "held_out", "metric": "acc", "value": .26}]}
        >>> job_runs(snap)[["cell", "final"]].to_dict("records")
        [{'cell': 'rnn', 'final': 0.26}]
    """
    import pandas as pd

    cfg = snapshot_config(snap)
    rows = []
    for cell, solved_at in (snap.get("solved") or {}).items():
        final = final_score(snap.get("history", []), cell, cfg.task)
        seconds = float(snap.get("seconds", {}).get(cell, 0.0))
        final = float("nan") if final is None else final  # NaN compares False: "not near chance", never an error
        rows.append({"seed": cfg.seed, "cell": cell, "final": final, "solved_at": solved_at, "seconds": seconds})
    return pd.DataFrame(rows, columns=PRESET_COLUMNS[1:])


def live_verdict(snap: dict[str, Any]) -> str | None:
    """:func:`preset_verdict`'s answer for the job on screen, once it has finished (else None).

    The rule is the preset's, applied to this one run (its seed): ``"separates"`` when the RNN
    failed (cue recall: within :data:`NEAR_CHANCE` of chance) while GRU and LSTM succeeded,
    ``"all_solve"``, or ``"mixed"``. A running, stopped or failed job has no verdict: a cell
    that did not run to its end says nothing about whether it would have succeeded.

    Example:
        >>> live_verdict({"state": "stopped"}) is None
        True
    """
    cfg = snapshot_config(snap) if snap.get("state") == "done" else None
    if cfg is None:
        return None
    return preset_verdict(job_runs(snap), cfg)[0]


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
            fit(model, ClassifierTask(data.train.restart(), data.val, tc), tc, log=None)
            took.append(time.perf_counter() - t0)
        per_update = max(0.0, (took[1] - took[0]) / 2)
        per_eval = max(0.0, took[0] - per_update)
        total += per_update * cfg.epochs * cfg.updates_per_epoch + per_eval * (cfg.epochs + 1)
    return total


MAX_JOB_SECONDS = 15 * 60  # a lab job stops after this long, whoever watches (the presets take <= 15 s)
IDLE_STOP_SECONDS = 120  # ... or when no session of the app has been open (on any page) for this long
PROBE_SECONDS = 1.0  # the server's session list is asked at most this often (not on every update)


@dataclass
class _Status:
    """Mutable job state; only the worker thread writes it, always under the manager's lock."""

    state: str = "idle"  # idle | running | done | stopped | error
    stop_reason: str | None = None  # why a job stopped: "user", "time_limit", "unwatched", "shutdown"
    config: LabConfig | None = None
    updates_done: int = 0
    history: list[dict[str, Any]] = field(default_factory=list)  # model, updates, split, metric, value
    solved: dict[str, int | None] = field(default_factory=dict)  # cell whose run ended -> update solved (None: not)
    ran: dict[str, int] = field(default_factory=dict)  # cell -> updates it has run (so far)
    cell: str | None = None  # the cell in training (after the job: the last one that started)
    seconds: dict[str, float] = field(default_factory=dict)  # cell -> seconds its run took
    error: str | None = None
    started: float | None = None
    finished: float | None = None
    job_id: int = 0


def register_exit_hook(fn: Callable[[], None]) -> None:
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

    Args:
        max_seconds: A job stops after this long.
        idle_seconds: A job stops when nobody used the app for this long: no :meth:`touch` (every
            page run of the dashboard calls it), no :meth:`snapshot` (the lab's live fragment) and
            no open session reported by ``sessions_open``.
        sessions_open: Asked from the job thread, at most every :data:`PROBE_SECONDS`: True when the
            server has an open session, False when none, None when it cannot tell (no server, tests).
        clock: Monotonic seconds (tests pass a fake one).

    Example:
        >>> jm = JobManager()
        >>> jm.start(LabConfig(lag=2, updates=4, updates_per_epoch=2, hidden_size=4, n_val=16))
        True
        >>> jm.wait(60)["state"]
        'done'
    """

    def __init__(
        self,
        max_seconds: float = MAX_JOB_SECONDS,
        idle_seconds: float = IDLE_STOP_SECONDS,
        sessions_open: Callable[[], bool | None] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._reason: str | None = None
        self._thread: threading.Thread | None = None
        self._status = _Status()
        self.max_seconds, self.idle_seconds = max_seconds, idle_seconds
        self._sessions_open, self._clock = sessions_open, clock
        self._seen = self._probed = clock()
        # The job thread is not a daemon: a daemon thread still inside torch when the interpreter
        # finalises aborts the process (SIGABRT). This hook runs when the process is asked to exit
        # (SIGTERM/SIGINT end Streamlit's server loop), before Python joins the thread: the job stops
        # at its next update and the process exits 0.
        register_exit_hook(self._shutdown)

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
            self._seen = self._began = self._clock()
            self._probed = -math.inf  # ask the server's session list at the first update
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

    def touch(self) -> None:
        """A sign of life from the app: a page run of any view (``dashboard/app.py`` calls this on every run).

        A job stops as "unwatched" only after ``idle_seconds`` without one (or an open session).
        """
        self._seen = self._clock()

    def running(self) -> bool:
        """Whether a job thread is alive."""
        with self._lock:
            return self._thread is not None and self._thread.is_alive()

    def snapshot(self) -> dict[str, Any]:
        """A copy of the job state: ``state, stop_reason, config, progress, history, solved, ran, cell, seconds,
        error, started, finished, job_id``. Calling it counts as a sign of life (see :meth:`touch`)."""
        self.touch()
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
                "ran": dict(s.ran),
                "cell": s.cell,
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

    def _watched(self, now: float) -> None:
        """Counts an open session on the server as a sign of life (asked at most every PROBE_SECONDS)."""
        if self._sessions_open is None or now - self._probed < PROBE_SECONDS:
            return
        self._probed = now
        try:
            open_now = self._sessions_open()
        except Exception:  # a probe that fails tells nothing; heartbeats still count
            log.debug("session probe failed", exc_info=True)
            return
        if open_now:
            self._seen = now

    def _tick(self) -> bool:
        """``should_stop`` of the trainer: counts an update (progress bar, the cell's own count); Stop, time limit,
        nobody using the app."""
        now = self._clock()
        self._watched(now)
        if now - self._began > self.max_seconds:
            self.stop("time_limit")
        elif now - self._seen > self.idle_seconds:
            self.stop("unwatched")
        if self._stop.is_set():
            return True
        with self._lock:
            self._status.updates_done += 1
            cell = self._status.cell
            self._status.ran[cell] = self._status.ran.get(cell, 0) + 1
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
                with self._lock:
                    self._status.cell = cell
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

                task = ClassifierTask(data.train.restart(), data.val, tc)
                result = fit(model, task, tc, log=None, on_epoch=on_epoch, should_stop=self._tick)
                stopped = result.stop_reason == "stopped"
                with self._lock:
                    if not stopped:  # a cell cut short has no outcome of its own: cell_outcomes says "stopped"
                        self._status.solved[cell] = result.solved_at
                    self._status.seconds[cell] = time.perf_counter() - t0
                    self._status.updates_done = (i + 1) * cfg.epochs * cfg.updates_per_epoch
                if stopped:
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
