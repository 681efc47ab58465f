"""Multi-seed sweeps on the online long-range tasks: success rate vs lag, and vs gate bias.

Every run trains one fresh model on fresh data (an :class:`~lstmviz.taskdata.OnlineStream`)
with a fixed budget of updates and no early stopping on plateaus: it stops when the held-out
validation set first reaches success (cue recall: accuracy >= 0.95; adding: MSE <= 0.01) or
when the budget ends. Independent runs go to the multi-seed runner (:func:`lstmviz.runner.run_specs`):
single-thread worker processes, or Ray tasks with ``engine="ray"``; this module keeps the run spec
(:class:`RunSpec`), the run (:func:`sweep_run`) and the summary table (:func:`summarize`).

Per (cell, lag, gate bias) the summary reports the success rate over seeds, the median
updates-to-solve of the solved runs, the final test accuracy (or MSE) as mean and sd, and the
gradient ratio ``||dL/dh_0|| / ||dL/dh_T||`` at initialisation, computed in float64
(:func:`lstmviz.profiles.gradient_ratio`), with ``sigmoid(b) ** lag`` beside it.

JSON written by :func:`write_sweep` (``schema`` "lstmviz.sweep/2"; :func:`load_sweep` also reads version 1,
which had no ``variant``, ``overrides``, ``clipped`` or ``grad_norm_median``)::

    {"schema": "lstmviz.sweep/2", "task": "cue_recall" | "adding", "kind": "lag" | "gate_bias",
     "cells": [...], "lags": [...], "gate_biases": [...], "seeds": [...],
     "success": {"metric": "val_accuracy" | "val_mse", "threshold": 0.95},
     "chance": 0.25 | null, "baseline_mse": null | 0.1667,
     "model": {...ModelConfig fields but cell and gate_bias}, "train": {...TrainConfig},
     "budget_updates": 1500, "workers": 2, "wall_seconds": 812.3, "library_version": "...",
     "runs": [{"cell", "lag", "gate_bias", "variant", "overrides", "seed", "solved", "updates_to_solve",
               "updates", "final_accuracy", "final_mse", "grad_ratio_init", "clipped", "grad_norm_median",
               "seconds", "stop_reason", "curve": [[updates, val_accuracy, val_loss], ...]}],
     "summary": [{"cell", "lag", "gate_bias", "variant", "overrides", "n", "solved", "success_rate",
                  "median_updates_to_solve", "final_mean", "final_sd", "grad_ratio_init_median",
                  "sigmoid_bias_pow_lag", "clipped_mean", "seconds_mean"}]}

``variant`` is null for the sweep's shared recipe (``model``, ``train``), else the name of a changed recipe whose
changes are in ``overrides`` (``{"model": {...}, "train": {...}}``), e.g. the LSTM at lag 200 with lr 1e-3.
``clipped`` is the fraction of a run's updates that gradient clipping shortened (null without clipping),
``grad_norm_median`` the median over its epochs of the median pre-clipping gradient norm; ``clipped_mean`` their
mean over the row's runs that measured it. :func:`merge_sweeps` adds runs (more seeds, variants) to a sweep.

``final_mean``/``final_sd`` are test accuracy for cue recall and test MSE for the adding task.
The markdown table beside it (same name, ``.md``) is what the README shows.

Example (the shipped lag sweep: its plan, then the hour-long run and the files the README shows; last, a
one-run sweep of two updates that runs here):

    >>> specs = default_specs("cue_recall", "lag", lags=(10, 100), seeds=range(5))
    >>> len(specs)  # rnn, gru and lstm x 2 lags x 5 seeds
    30
    >>> sweep = run_sweep(specs, kind="lag", workers=2)  # doctest: +SKIP
    >>> write_sweep(sweep, "results/sweep_cue_recall_lag.json")  # doctest: +SKIP
    >>> tiny = default_specs("cue_recall", "lag", cells=["gru"], lags=[3], seeds=[0],
    ...                      train={"epochs": 1, "updates_per_epoch": 2})
    >>> done = run_sweep(tiny, kind="lag", workers=1)
    >>> done["budget_updates"], [(s["cell"], s["lag"], s["n"]) for s in done["summary"]]
    (2, [('gru', 3, 1)])
"""

from __future__ import annotations

import json
import math
import os
import statistics
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import pandas as pd

from lstmviz.checkpoint import library_version
from lstmviz.experiments import markdown_table, train_model, write_result
from lstmviz.models import CELLS, ModelConfig
from lstmviz.runner import group_runs, mean_sd, run_specs
from lstmviz.safeio import read_json as safe_read_json
from lstmviz.taskdata import ONLINE_TASKS, TASK_DEFAULTS, prepare_online
from lstmviz.tasks import ADDING_BASELINE_MSE
from lstmviz.trainer import TrainConfig

__all__ = [
    "SCHEMA",
    "SCHEMAS",
    "SWEEP_KINDS",
    "RunSpec",
    "default_specs",
    "load_sweep",
    "merge_sweeps",
    "read_json",
    "runs_frame",
    "run_sweep",
    "sigmoid_pow",
    "summarize",
    "sweep_run",
    "summary_frame",
    "sweep_markdown",
    "wilson_interval",
    "write_sweep",
]

SCHEMA = "lstmviz.sweep/2"
SCHEMAS = ("lstmviz.sweep/1", SCHEMA)  # versions load_sweep reads
SWEEP_KINDS = ("lag", "gate_bias")
DEFAULT_LAGS = {"cue_recall": (10, 20, 50, 100, 200), "adding": (10, 50, 100)}
DEFAULT_BIASES = (0.0, 1.0, 2.0, 4.0)
DEFAULT_BIAS_LAG = 100  # the gate-bias sweep's lag
DEFAULT_SEEDS = 5


@dataclass(frozen=True)
class RunSpec:
    """One run of a sweep: task, cell, lag, gate bias, seed and the shared settings.

    Example:
        >>> RunSpec("cue_recall", "gru", 50, 1.0, 0).model_config().gate_bias
        1.0
        >>> v = RunSpec("cue_recall", "lstm", 200, 4.0, 0, variant="lr 0.001", changes={"train": {"lr": 1e-3}})
        >>> v.train_config().lr, v.shared().train_config().lr
        (0.001, 0.003)
    """

    task: str  # "cue_recall" | "adding"
    cell: str  # "rnn" | "gru" | "lstm"
    lag: int  # cue recall: distractors; adding: sequence length
    gate_bias: float | None  # forget / update gate bias at initialisation (None for the RNN)
    seed: int  # data stream, held-out sets and initialisation
    model: Mapping[str, Any] = field(default_factory=dict)  # ModelConfig overrides of TASK_DEFAULTS
    train: Mapping[str, Any] = field(default_factory=dict)  # TrainConfig overrides of TASK_DEFAULTS
    # A named change of this row's recipe (e.g. "lr 0.001"); None: the sweep's shared recipe. Rows with
    # different variants are summarised apart.
    variant: str | None = None
    # The variant's changes on top of the shared recipe: {"model": {...}, "train": {...}} (empty without one).
    changes: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if bool(self.variant) != bool(self.changes):
            raise ValueError(
                f"variant={self.variant!r}, changes={dict(self.changes)!r}: a variant needs a name and its changes"
            )
        unknown = set(self.changes) - {"model", "train"}
        if unknown:
            raise ValueError(f"changes keys {sorted(unknown)} are invalid; allowed: model, train")

    def model_config(self) -> ModelConfig:
        """The ModelConfig of this run (sizes still to be fixed by the data)."""
        d = {**TASK_DEFAULTS[self.task]["model"], **self.model, **self.changes.get("model", {})}
        return ModelConfig.from_dict({**d, "cell": self.cell, "gate_bias": self.gate_bias})

    def train_config(self) -> TrainConfig:
        """The TrainConfig of this run (quiet, seeded with ``seed``)."""
        d = {**TASK_DEFAULTS[self.task]["train"], **self.train, **self.changes.get("train", {})}
        return TrainConfig.from_dict({**d, "seed": self.seed, "quiet": True})

    def shared(self) -> RunSpec:
        """This run without its variant: what the sweep's shared settings describe."""
        return replace(self, variant=None, changes={})


def sigmoid_pow(bias: float | None, lag: int) -> float | None:
    """``sigmoid(bias) ** lag``: how much of the initial state the gate keeps over ``lag`` steps at init.

    Example:
        >>> round(sigmoid_pow(4.0, 100), 3)
        0.163
    """
    if bias is None:
        return None
    return math.exp(-lag * math.log1p(math.exp(-bias)))


def sweep_run(spec: RunSpec) -> dict[str, Any]:
    """Trains one run of a sweep and returns its result row (see the module docstring).

    Example:
        >>> train = {"epochs": 1, "updates_per_epoch": 5}  # doctest: +SKIP
        >>> sweep_run(RunSpec("cue_recall", "gru", 3, 1.0, 0, train=train))["solved"]  # doctest: +SKIP
        False
    """
    t0 = time.perf_counter()
    data = prepare_online(spec.task, spec.lag, seed=spec.seed)
    _, meta = train_model(data, spec.model_config(), spec.train_config(), out=None, log=None)
    history, regress = meta["history"], spec.task == "adding"
    clipped = [h["clipped"] for h in history if h.get("clipped") is not None]
    norms = [h["grad_norm_median"] for h in history if h.get("grad_norm_median") is not None]
    return {
        "cell": spec.cell,
        "lag": spec.lag,
        "gate_bias": spec.gate_bias,
        "variant": spec.variant,
        "overrides": {k: dict(spec.changes.get(k, {})) for k in ("model", "train")} if spec.variant else None,
        "seed": spec.seed,
        "solved": meta["solved_at"] is not None,
        "updates_to_solve": meta["solved_at"],
        "updates": history[-1]["updates"] if history else 0,
        "final_accuracy": None if regress else meta["test_metrics"]["accuracy"],
        "final_mse": meta["test_metrics"]["loss"] if regress else None,
        "grad_ratio_init": meta["init_grad_ratio"],
        # Every epoch has the same number of updates, so the mean of the epochs' fractions is the run's.
        "clipped": statistics.fmean(clipped) if clipped else None,
        "grad_norm_median": statistics.median(norms) if norms else None,
        "seconds": time.perf_counter() - t0,
        "stop_reason": meta["stop_reason"],
        "curve": [[h["updates"], h["val_acc"], h["val_loss"]] for h in history],
    }


def default_specs(
    task: str,
    kind: str,
    *,
    cells: Sequence[str] | None = None,
    lags: Sequence[int] | None = None,
    gate_biases: Sequence[float] | None = None,
    seeds: Iterable[int] = range(DEFAULT_SEEDS),
    gate_bias: float | None = None,
    model: Mapping[str, Any] | None = None,
    train: Mapping[str, Any] | None = None,
    variant: str | None = None,
    changes: Mapping[str, Mapping[str, Any]] | None = None,
) -> list[RunSpec]:
    """The runs of a sweep: ``kind="lag"`` crosses cells x lags x seeds at one gate bias;
    ``kind="gate_bias"`` crosses gated cells x biases x seeds at one lag.

    Args:
        task: "cue_recall" or "adding".
        kind: "lag" or "gate_bias".
        cells: Default rnn, gru, lstm (gru, lstm for the bias sweep).
        lags: Default :data:`DEFAULT_LAGS` (bias sweep: ``[DEFAULT_BIAS_LAG]``).
        gate_biases: Bias sweep values, default 0, 1, 2, 4.
        seeds: Seeds, default 0..4.
        gate_bias: The lag sweep's bias, default the task's default (1.0).
        model, train: Overrides of :data:`~lstmviz.taskdata.TASK_DEFAULTS`.
        variant, changes: A named recipe and its ``{"model": ..., "train": ...}`` changes (see :class:`RunSpec`).

    Example:
        >>> len(default_specs("cue_recall", "gate_bias", seeds=range(2)))
        16
    """
    if task not in ONLINE_TASKS:
        raise ValueError(f"task={task!r} cannot be swept; allowed: {', '.join(ONLINE_TASKS)}")
    if kind not in SWEEP_KINDS:
        raise ValueError(f"kind={kind!r} is invalid; allowed: {', '.join(SWEEP_KINDS)}")
    seeds = list(seeds)
    if not seeds:
        raise ValueError("seeds must not be empty")
    extra = {"model": dict(model or {}), "train": dict(train or {}), "variant": variant, "changes": dict(changes or {})}
    if kind == "lag":
        cells = list(cells or CELLS)
        lags = list(lags or DEFAULT_LAGS[task])
        bias = TASK_DEFAULTS[task]["model"]["gate_bias"] if gate_bias is None else gate_bias
        return [
            RunSpec(task, c, lag, None if c == "rnn" else bias, s, **extra)
            for c in cells
            for lag in lags
            for s in seeds
        ]
    cells = [c for c in (cells or ("gru", "lstm")) if c != "rnn"]
    if not cells:
        raise ValueError("a gate-bias sweep needs gated cells (gru, lstm); the rnn has no gate")
    lags = list(lags or [DEFAULT_BIAS_LAG])
    biases = list(gate_biases if gate_biases is not None else DEFAULT_BIASES)
    return [RunSpec(task, c, lag, float(b), s, **extra) for c in cells for lag in lags for b in biases for s in seeds]


def run_sweep(
    specs: Sequence[RunSpec],
    *,
    kind: str,
    workers: int = 2,
    progress: Callable[[dict[str, Any], int, int], None] | None = None,
    engine: str = "local",
    address: str | None = None,
) -> dict[str, Any]:
    """Runs ``specs`` through the multi-seed runner (:func:`lstmviz.runner.run_specs`) and summarises.

    Args:
        specs: From :func:`default_specs` (all of one task).
        kind: "lag" or "gate_bias" (stored, and decides the table's layout).
        workers: Parallel single-thread worker processes (1: in this process), or the CPUs of a private local Ray.
        progress: Called with each finished run, the count done and the total.
        engine: "local" (worker processes) or "ray" (Ray tasks; the same runs).
        address: ``engine="ray"``: a running Ray cluster; None starts a private local one.

    Returns:
        The sweep dict (see the module docstring).

    Example:
        >>> specs = default_specs("cue_recall", "lag", lags=(3,), seeds=range(2))  # doctest: +SKIP
        >>> sweep = run_sweep(specs, kind="lag")  # doctest: +SKIP
    """
    specs = list(specs)
    if not specs:
        raise ValueError("no runs to do")
    task = specs[0].task
    if any(s.task != task for s in specs):
        raise ValueError(f"a sweep covers one task; got {sorted({s.task for s in specs})}")
    # Longest first (long lags, the slow GRU) so the last minutes are not one worker alone.
    order = sorted(specs, key=lambda s: (-s.lag, s.cell != "gru"))
    t0 = time.perf_counter()
    runs = run_specs(sweep_run, order, workers=workers, engine=engine, address=address, progress=progress)
    wall = time.perf_counter() - t0
    runs.sort(key=_run_key)
    first = specs[0].shared()
    model = {k: v for k, v in first.model_config().to_dict().items() if k not in ("cell", "gate_bias")}
    train = first.train_config().to_dict()
    regress = task == "adding"
    return {
        "schema": SCHEMA,
        "task": task,
        "kind": kind,
        "cells": sorted({s.cell for s in specs}, key=list(CELLS).index),
        "lags": sorted({s.lag for s in specs}),
        "gate_biases": sorted({s.gate_bias for s in specs if s.gate_bias is not None}),
        "seeds": sorted({s.seed for s in specs}),
        "success": {"metric": "val_mse" if regress else "val_accuracy", "threshold": train["stop_at"]},
        "chance": None if regress else 1.0 / TASK_DEFAULTS[task]["data"]["n_classes"],
        "baseline_mse": ADDING_BASELINE_MSE if regress else None,
        "model": model,
        "train": train,
        "budget_updates": train["epochs"] * train["updates_per_epoch"],
        "workers": workers,
        "wall_seconds": wall,
        "library_version": library_version(),
        "runs": runs,
        "summary": summarize(runs, regress=regress),
    }


def summarize(runs: Sequence[Mapping[str, Any]], *, regress: bool = False) -> list[dict[str, Any]]:
    """One row per (cell, lag, gate bias): success rate, median updates-to-solve, final mean and sd.

    Example:
        >>> rows = summarize([{"cell": "rnn", "lag": 5, "gate_bias": None, "solved": True, "updates_to_solve": 50,
        ...     "final_accuracy": 1.0, "grad_ratio_init": 1e-3, "seconds": 1.0}])
        >>> rows[0]["success_rate"], rows[0]["final_sd"]
        (1.0, None)
    """
    rows = []
    for (cell, lag, bias, variant), rs in group_runs(
        runs,
        ("cell", "lag", "gate_bias", "variant"),
        order=lambda k: (list(CELLS).index(k[0]), k[1], k[2] or 0.0, k[3] is not None, k[3] or ""),
    ):
        finals = [r["final_mse" if regress else "final_accuracy"] for r in rs]
        final_mean, final_sd = mean_sd(finals)
        solved = [r["updates_to_solve"] for r in rs if r["solved"]]
        ratios = [r["grad_ratio_init"] for r in rs if r["grad_ratio_init"] is not None]
        clipped = [r["clipped"] for r in rs if r.get("clipped") is not None]
        rows.append(
            {
                "cell": cell,
                "lag": lag,
                "gate_bias": bias,
                "variant": variant,
                "overrides": rs[0].get("overrides"),
                "n": len(rs),
                "solved": len(solved),
                "success_rate": len(solved) / len(rs),
                "median_updates_to_solve": statistics.median(solved) if solved else None,
                "final_mean": final_mean,
                "final_sd": final_sd,
                "grad_ratio_init_median": statistics.median(ratios) if ratios else None,
                "sigmoid_bias_pow_lag": None if cell == "rnn" else sigmoid_pow(bias, lag),
                "clipped_mean": statistics.fmean(clipped) if clipped else None,
                "seconds_mean": statistics.fmean(r["seconds"] for r in rs),
            }
        )
    return rows


def _fmt(v: Any, spec: str) -> str:
    return "-" if v is None else format(v, spec)


def _run_key(r: Mapping[str, Any]) -> tuple:
    """A run's identity in a sweep: cell, lag, gate bias, variant, seed (sortable: None sorts first)."""
    return (r["cell"], r["lag"], r["gate_bias"] or 0.0, r.get("variant") or "", r["seed"])


def _clip_cell(row: Mapping[str, Any]) -> str:
    """The markdown cell of a summary row's clipping: off, not measured (-), or the mean share of clipped updates."""
    if (row.get("overrides") or {}).get("train", {}).get("clip_grad_norm", 0.0) is None:
        return "off"
    return _fmt(row.get("clipped_mean"), ".0%")


def _recipe_cell(row: Mapping[str, Any]) -> str:
    return row.get("variant") or "shared"


# Columns a table shows only when some row needs them: (header, cell, does this row need it?)
_OPTIONAL_COLUMNS = (
    ("recipe", _recipe_cell, lambda r: r.get("variant") is not None),
    ("clipped updates (mean)", _clip_cell, lambda r: _clip_cell(r) != "-"),
)


def sweep_markdown(sweep: Mapping[str, Any]) -> str:
    """The sweep's summary as a markdown table (one row per cell, lag and bias).

    Example:
        >>> print(sweep_markdown(json.load(open("results/sweep_cue_recall_lag.json"))))  # doctest: +SKIP
    """
    regress = sweep["task"] == "adding"
    final = "test MSE (mean ± sd)" if regress else "test accuracy (mean ± sd)"
    lag_name = "sequence length" if regress else "lag"
    header = [
        "cell",
        lag_name,
        "gate bias",
        "solved",
        "success rate",
        "median updates to solve",
        final,
        "‖dL/dh₀‖/‖dL/dh_T‖ at init (median)",
        "σ(b)^lag",
    ]
    spec = ".4f" if regress else ".3f"
    rows = sweep["summary"]
    extra = [(h, f) for h, f, shown in _OPTIONAL_COLUMNS if any(shown(r) for r in rows)]
    header[3:3] = [h for h, _ in extra]
    body = []
    for r in rows:
        sd = "" if r["final_sd"] is None else f" ± {r['final_sd']:{spec}}"
        body.append(
            [
                r["cell"],
                r["lag"],
                _fmt(r["gate_bias"], "g"),
                *(f(r) for _, f in extra),
                f"{r['solved']}/{r['n']}",
                f"{r['success_rate']:.0%}",
                _fmt(r["median_updates_to_solve"], ".0f"),
                f"{r['final_mean']:{spec}}{sd}",
                _fmt(r["grad_ratio_init_median"], ".1e"),
                _fmt(r["sigmoid_bias_pow_lag"], ".1e"),
            ]
        )
    thr = sweep["success"]["threshold"]
    crit = f"validation MSE ≤ {thr}" if regress else f"validation accuracy ≥ {thr}"
    base = (
        f"predicting the mean gives MSE {sweep['baseline_mse']:.3f}"
        if regress
        else f"chance accuracy {sweep['chance']:.2f}"
    )
    note = (
        f"\n{len(sweep['runs'])} runs, seeds {_seed_range(sweep['seeds'])}; success = {crit} within "
        f"{sweep['budget_updates']:,} updates of batch {sweep['train']['batch_size']} (fresh data every batch); "
        f"{base}; hidden {sweep['model']['hidden_size']}; wall time {sweep['wall_seconds'] / 60:.1f} min on "
        f"{sweep['workers']} single-thread workers.\n"
    )
    unmeasured = sum("grad_norm_median" not in r for r in sweep["runs"])
    if extra and unmeasured:
        note += (
            f"Clipped updates: mean over the runs that measured it; {unmeasured} of {len(sweep['runs'])} runs were "
            "written before clipping was recorded (schema version 1) and are left out of that column.\n"
        )
    variants = [
        f"{r['variant']}: {json.dumps(r['overrides'], sort_keys=True)}" for r in rows if r.get("variant") is not None
    ]
    if variants:
        note += "Recipes other than the shared one (their changes): " + "; ".join(variants) + ".\n"
    return markdown_table(header, body) + note


def _seed_range(seeds: Sequence[int]) -> str:
    """``0-9`` for a run of consecutive seeds, else the list."""
    seeds = sorted(seeds)
    if len(seeds) > 2 and seeds == list(range(seeds[0], seeds[-1] + 1)):
        return f"{seeds[0]}-{seeds[-1]}"
    return str(seeds)


_RESULT_FIELDS = ("solved", "updates_to_solve", "updates", "final_accuracy", "final_mse", "curve")


def _same_result(a: Mapping[str, Any], b: Mapping[str, Any]) -> bool:
    """Whether two runs of one (cell, lag, bias, variant, seed) reached the same result (a rerun reproduced it)."""
    for k in _RESULT_FIELDS:
        x, y = a.get(k), b.get(k)
        if isinstance(x, float) and isinstance(y, float):
            if not math.isclose(x, y, rel_tol=1e-9, abs_tol=1e-12):
                return False
        elif x != y:
            return False
    return True


_SHARED_FIELDS = ("task", "kind", "success", "budget_updates")


def _shared_model(sweep: Mapping[str, Any]) -> dict[str, Any]:
    """The sweep's shared model settings with every field a version-1 file lacked at its default."""
    return ModelConfig.from_dict(dict(sweep["model"])).to_dict()


def _shared_train(sweep: Mapping[str, Any]) -> dict[str, Any]:
    d = TrainConfig.from_dict({k: v for k, v in sweep["train"].items() if k not in ("seed", "quiet")}).to_dict()
    return {k: v for k, v in d.items() if k not in ("seed", "quiet")}


def merge_sweeps(base: Mapping[str, Any], extra: Mapping[str, Any]) -> dict[str, Any]:
    """``base`` with the runs of ``extra`` added (more seeds, or variants), summaries recomputed.

    Both must share task, kind, model, success criterion, budget and training settings (seed aside); a run of
    ``extra`` whose (cell, lag, gate bias, variant, seed) is already in ``base`` must reproduce its result (the
    same curve and scores), and then adds the fields ``base`` lacked (clipping, measured since version 2).
    Wall time is summed.

    Raises:
        ValueError: naming the first setting or run that differs.

    Example:
        >>> a = {"schema": SCHEMA, "task": "cue_recall", "kind": "lag", "model": {}, "success": {}, "train": {},
        ...      "budget_updates": 2, "wall_seconds": 1.0, "workers": 1,
        ...      "runs": [{"cell": "gru", "lag": 3, "gate_bias": 1.0, "seed": 0, "solved": True,
        ...                "updates_to_solve": 2, "final_accuracy": 1.0, "grad_ratio_init": 0.1, "seconds": 1.0}]}
        >>> b = {**a, "runs": [{**a["runs"][0], "seed": 1, "solved": False, "updates_to_solve": None}]}
        >>> merged = merge_sweeps(a, b)
        >>> merged["seeds"], [(r["n"], r["solved"]) for r in merged["summary"]]
        ([0, 1], [(2, 1)])
    """
    for k in _SHARED_FIELDS:
        if base.get(k) != extra.get(k):
            raise ValueError(f"cannot merge sweeps: {k} differs ({str(base.get(k))[:80]} vs {str(extra.get(k))[:80]})")
    if _shared_model(base) != _shared_model(extra):
        raise ValueError(
            f"cannot merge sweeps: model settings differ ({_shared_model(base)} vs {_shared_model(extra)})"
        )
    if _shared_train(base) != _shared_train(extra):
        raise ValueError(
            f"cannot merge sweeps: training settings differ ({_shared_train(base)} vs {_shared_train(extra)})"
        )
    runs = {_run_key(r): dict(r) for r in base["runs"]}
    for r in extra["runs"]:
        key = _run_key(r)
        if key in runs and not _same_result(runs[key], r):
            cell, lag, bias, variant, seed = key
            raise ValueError(
                f"cannot merge sweeps: the rerun of {cell} lag {lag} bias {bias} {variant or 'shared recipe'} "
                f"seed {seed} did not reproduce the stored result"
            )
        runs[key] = {**runs.get(key, {}), **r}
    merged = [runs[k] for k in sorted(runs)]
    out = dict(base)
    out.update(
        schema=SCHEMA,
        model=extra.get("model", base["model"]),
        cells=sorted({r["cell"] for r in merged}, key=list(CELLS).index),
        lags=sorted({r["lag"] for r in merged}),
        gate_biases=sorted({r["gate_bias"] for r in merged if r["gate_bias"] is not None}),
        seeds=sorted({r["seed"] for r in merged}),
        workers=max(base.get("workers", 1), extra.get("workers", 1)),
        wall_seconds=base.get("wall_seconds", 0.0) + extra.get("wall_seconds", 0.0),
        library_version=extra.get("library_version", base.get("library_version")),
        runs=merged,
        summary=summarize(merged, regress=base["task"] == "adding"),
    )
    return out


def write_sweep(sweep: Mapping[str, Any], path: str | os.PathLike) -> tuple[Path, Path]:
    """Writes the sweep's JSON to ``path`` and its markdown table beside it (``.md``), atomically.

    Example:
        >>> write_sweep(sweep, "results/sweep_cue_recall_lag.json")  # doctest: +SKIP
    """
    return write_result(Path(path).with_suffix(""), sweep, sweep_markdown(sweep))


_MAX_SWEEP_BYTES = 32 * 1024 * 1024  # a sweep file beyond this is refused before it is read


def read_json(path: str | os.PathLike, max_bytes: int, what: str) -> Any:
    """JSON from a regular file of at most ``max_bytes``; any problem is a ValueError naming the file and ``what``.

    See :func:`lstmviz.safeio.read_json`: size and file type are checked before a byte is read, and
    deep nesting is refused, so a hostile file costs milliseconds.

    Example:
        >>> runs = read_json("results/lab_presets.json", 4 << 20, "lab preset results")["runs"]  # doctest: +SKIP
        >>> runs[0]["preset"]  # doctest: +SKIP
        'separate'
    """
    return safe_read_json(path, max_bytes, what)


def load_sweep(path: str | os.PathLike) -> dict[str, Any]:
    """Reads and checks a sweep file written by :func:`write_sweep`.

    Raises:
        ValueError: naming the file and what is wrong (unreadable, too large, not JSON, another
            schema, missing or mistyped fields), so a broken or hostile file is a clear message.

    Example:
        >>> load_sweep("results/sweep_cue_recall_lag.json")["kind"]  # doctest: +SKIP
        'lag'
    """
    p = Path(path)
    raw = read_json(p, _MAX_SWEEP_BYTES, "a sweep")
    if not isinstance(raw, dict) or raw.get("schema") not in SCHEMAS:
        found = raw.get("schema") if isinstance(raw, dict) else type(raw).__name__
        raise ValueError(f"{p}: schema {str(found)[:60]!r} is invalid; allowed: {', '.join(SCHEMAS)}")
    if raw.get("task") not in ONLINE_TASKS or raw.get("kind") not in SWEEP_KINDS:
        raise ValueError(
            f"{p}: task/kind {str(raw.get('task'))[:40]!r}/{str(raw.get('kind'))[:40]!r} is invalid; "
            f"allowed: {ONLINE_TASKS} / {SWEEP_KINDS}"
        )
    rows = raw.get("summary")
    if not isinstance(rows, list) or not rows or not isinstance(raw.get("runs"), list):
        raise ValueError(f"{p}: no summary rows or runs")
    num = (int, float)
    for i, r in enumerate(rows + raw["runs"]):
        ok = (
            isinstance(r, dict)
            and r.get("cell") in CELLS
            and isinstance(r.get("lag"), int)
            and (r.get("gate_bias") is None or isinstance(r.get("gate_bias"), num))
            and (r.get("variant") is None or isinstance(r.get("variant"), str))
            and (r.get("overrides") is None or isinstance(r.get("overrides"), dict))
        )
        if not ok:
            raise ValueError(f"{p}: row {i} lacks a valid cell / lag / gate_bias (or has a malformed variant)")
    for i, r in enumerate(rows):
        if not all(isinstance(r.get(k), num) for k in ("n", "solved", "success_rate", "final_mean")):
            raise ValueError(f"{p}: summary row {i} lacks n / solved / success_rate / final_mean numbers")
    return raw


def wilson_interval(k: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """Wilson score interval (95% by default) of a success rate ``k / n``: it stays inside [0, 1].

    Example:
        >>> [round(v, 3) for v in wilson_interval(5, 5)]
        [0.566, 1.0]
    """
    if n <= 0:
        return 0.0, 1.0
    p = k / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return max(0.0, centre - half), min(1.0, centre + half)


def summary_frame(sweep: Mapping[str, Any]) -> pd.DataFrame:
    """The summary as a tidy frame with the 95% Wilson interval of every success rate (``lo``, ``hi``).

    Example:
        >>> summary_frame(load_sweep("results/sweep_cue_recall_lag.json")).columns[:3].tolist()  # doctest: +SKIP
        ['cell', 'lag', 'gate_bias']
    """
    df = pd.DataFrame(sweep["summary"])
    for col in ("variant", "overrides", "clipped_mean"):  # absent from version-1 files
        if col not in df:
            df[col] = None
    bounds = [wilson_interval(int(k), int(n)) for k, n in zip(df["solved"], df["n"])]
    df["lo"] = [b[0] for b in bounds]
    df["hi"] = [b[1] for b in bounds]
    return df


def runs_frame(sweep: Mapping[str, Any]) -> pd.DataFrame:
    """One row per run: ``cell, lag, gate_bias, seed, solved, updates_to_solve, final, grad_ratio_init``.

    ``final`` is the test accuracy (cue recall) or test MSE (adding).

    Example:
        >>> frame = runs_frame(load_sweep("results/sweep_cue_recall_lag.json"))  # doctest: +SKIP
        >>> frame["final"].between(0, 1).all()  # doctest: +SKIP
        True
    """
    key = "final_mse" if sweep["task"] == "adding" else "final_accuracy"
    cols = [
        "cell",
        "lag",
        "gate_bias",
        "variant",
        "seed",
        "solved",
        "updates_to_solve",
        "grad_ratio_init",
        "clipped",
        "grad_norm_median",
    ]
    rows = [{**{c: r.get(c) for c in cols}, "final": r.get(key)} for r in sweep["runs"]]
    return pd.DataFrame(rows, columns=[*cols, "final"])
