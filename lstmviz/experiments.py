"""Experiments built on the trainer: train one model, resume it, compare the three cells.

* :func:`train_model` builds a model seeded from a private generator, records the fingerprint
  of its initial weights and its float64 gradient ratio at initialisation, fits it, scores it
  on the test split (per lag too for online tasks) and optionally writes the checkpoint.
* :func:`resume_training` rebuilds the data from a checkpoint's meta and continues the run.
* :func:`compare_cells` trains rnn, gru and lstm under identical settings and writes a table.

Multi-seed sweeps over lags and gate biases live in :mod:`lstmviz.sweeps`.

Example::

    data = prepare_online("cue_recall", lag=5, lag_max=200, seed=0)
    model, meta = train_model(data, ModelConfig(cell="gru", gate_bias=1.0), TrainConfig(...), out="checkpoints/cue-gru")
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from lstmviz.bow import BagOfWordsClassifier, BowConfig
from lstmviz.checkpoint import CheckpointError, library_version, load_checkpoint
from lstmviz.datasets import majority_baseline
from lstmviz.metrics import macro_f1
from lstmviz.models import CELLS, ModelConfig, RecurrentClassifier, weights_fingerprint
from lstmviz.pretrained import apply_embedding
from lstmviz.profiles import gradient_ratio, make_probe
from lstmviz.taskdata import ONLINE_TASKS, TaskData, prepare_online, prepare_sentiment
from lstmviz.tasks import ADDING_BASELINE_MSE
from lstmviz.text import TextPipeline
from lstmviz.trainer import (
    ClassifierTask,
    FitResult,
    OnEpoch,
    ShouldStop,
    TrainConfig,
    evaluate,
    fit,
    save_training_checkpoint,
)
from lstmviz.vocab import Vocab

__all__ = [
    "CHECKPOINT_PREFIX",
    "compare_cells",
    "markdown_table",
    "model_config_for",
    "resume_training",
    "score_by_lag",
    "train_model",
    "write_text_atomic",
]

CHECKPOINT_PREFIX = {"sentiment": "sentiment", "cue_recall": "cue", "adding": "adding"}


def model_config_for(data: TaskData, model_cfg: ModelConfig | BowConfig) -> ModelConfig | BowConfig:
    """``model_cfg`` with the sizes the data fix: vocabulary and classes, or a regression head.

    Example:
        >>> model_config_for(prepare_online("adding", 10, n_val=4, n_test=4), ModelConfig()).head
        'regress'
    """
    if isinstance(model_cfg, BowConfig):
        if data.task == "adding":
            raise ValueError("the bag-of-words baseline needs token ids; task 'adding' has real-valued inputs")
        return BowConfig(vocab_size=data.vocab_size, num_classes=len(data.labels))
    if data.task == "adding":
        sizes: dict[str, Any] = {"head": "regress", "input_dim": 2}
    else:
        sizes = {"vocab_size": data.vocab_size, "num_classes": len(data.labels)}
    return ModelConfig.from_dict({**model_cfg.to_dict(), **sizes})


def _count_parameters(model) -> int:
    return sum(p.numel() for p in model.parameters())


def score_by_lag(model: RecurrentClassifier, data: TaskData) -> dict[str, dict[str, float]]:
    """Test accuracy and loss of an online model on each per-lag test set of ``data`` (held out from training).

    Returns:
        ``{str(lag): {"accuracy", "loss"}}`` (JSON keys are strings).

    Example:
        >>> score_by_lag(model, data)  # doctest: +SKIP
        {'5': {'accuracy': 1.0, 'loss': 0.001}, '50': {...}}
    """
    out = {}
    for lag, test in sorted(data.test_by_lag.items()):
        ev = evaluate(model, test)
        out[str(lag)] = {"accuracy": ev["accuracy"], "loss": ev["loss"]}
    return out


def _test_metrics(model: RecurrentClassifier, data: TaskData, cfg: TrainConfig) -> dict[str, Any]:
    ev = evaluate(model, data.test, batch_size=cfg.eval_batch_size)
    if model.config.head == "regress":
        return {
            "loss": ev["loss"],
            "mse": ev["loss"],
            "accuracy": ev["accuracy"],
            "macro_f1": None,
            "n": ev["n"],
            "baseline_mse": ADDING_BASELINE_MSE,
        }
    k = model.config.num_classes
    confusion = np.zeros((k, k), dtype=int)
    for t, p in zip(data.test.y.tolist(), ev["predictions"]):
        confusion[t, p] += 1
    reference = data.val.y if data.online else data.train.y  # a stream has no training labels to count
    base = majority_baseline(reference.tolist(), data.test.y.tolist())
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
    model_cfg: ModelConfig | BowConfig,
    train_cfg: TrainConfig | None = None,
    *,
    pretrained: np.ndarray | None = None,
    out: str | os.PathLike | None = None,
    log: Callable[[str], None] | None = print,
    on_epoch: OnEpoch | None = None,
    should_stop: ShouldStop | None = None,
) -> tuple[RecurrentClassifier, dict[str, Any]]:
    """Builds a model seeded with ``train_cfg.seed``, fits it, evaluates it and (optionally) saves it.

    Args:
        data: From :func:`~lstmviz.taskdata.prepare_sentiment` or :func:`~lstmviz.taskdata.prepare_online`.
        model_cfg: Architecture (a recurrent model, or the bag-of-words baseline); sizes are taken
            from ``data`` (see :func:`model_config_for`).
        train_cfg: Settings; default ``TrainConfig()``.
        pretrained: A ``(vocab_size, embed_dim)`` matrix that replaces the seeded embedding
            (:func:`lstmviz.pretrained.load_vectors`); part of the initial fingerprint.
        out: Checkpoint directory, written after every epoch and at the end.
        log: Receives progress lines.
        on_epoch, should_stop: Passed to :func:`~lstmviz.trainer.fit`.

    Online data restart from their seed, so every call on the same ``data`` sees the same batches.

    Returns:
        ``(model, meta)`` with ``meta["test_metrics"]``, ``meta["history"]``,
        ``meta["init_fingerprint"]`` (sha256 of the initial weights) and ``meta["init_grad_ratio"]``
        (float64 ``||dL/dh_0|| / ||dL/dh_T||`` of the probe batch before training); online
        tasks also get ``meta["test_by_lag"]``.

    Raises:
        TrainingDiverged: see :func:`~lstmviz.trainer.fit`.

    Example:
        >>> model, meta = train_model(prepare_online("cue_recall", 5), ModelConfig(cell="gru"))  # doctest: +SKIP
    """
    train_cfg = train_cfg or TrainConfig()
    cfg = model_config_for(data, model_cfg)
    bow = isinstance(cfg, BowConfig)
    model = (BagOfWordsClassifier if bow else RecurrentClassifier).seeded(cfg, train_cfg.seed)
    if pretrained is not None:
        apply_embedding(model, pretrained)
    meta = _base_meta(data, model)
    meta["init_fingerprint"] = weights_fingerprint(model)
    meta["init_seed"] = train_cfg.seed
    meta["pretrained_embedding"] = pretrained is not None
    meta["init_grad_ratio"] = None if bow else gradient_ratio(model, make_probe(data.val, train_cfg.probe_size))
    if data.online:
        data.train.restart()  # a new run starts the stream at its seed, whatever ran on it before
    result = fit(
        model,
        ClassifierTask(data.train, data.val, train_cfg),
        train_cfg,
        checkpoint_dir=out,
        meta=meta,
        log=log,
        on_epoch=on_epoch,
        should_stop=should_stop,
    )
    return _finish(model, data, train_cfg, meta, result, out, log)


def _finish(model, data: TaskData, train_cfg: TrainConfig, meta, result: FitResult, out, log):
    meta = dict(meta)
    meta["train_config"] = train_cfg.to_dict()
    meta["test_metrics"] = _test_metrics(model, data, train_cfg)
    if data.online:
        meta["test_by_lag"] = score_by_lag(model, data)
    secs = [h["seconds"] for h in result.history]
    # Median, not mean: robust to a slow first epoch or a busy machine.
    meta["seconds_per_epoch"] = float(np.median(secs)) if secs else None
    meta["train_seconds"] = float(np.sum(secs)) if secs else 0.0
    if out is not None:
        save_training_checkpoint(out, model, meta, result)
    meta.update(
        history=result.history, best_epoch=result.best_epoch, stop_reason=result.stop_reason, solved_at=result.solved_at
    )
    tm = meta["test_metrics"]
    if log and not train_cfg.quiet:
        if model.config.head == "regress":
            score = f"test: MSE {tm['mse']:.4f} (predicting the mean: {tm['baseline_mse']:.4f})"
        else:
            f1 = "-" if tm["macro_f1"] is None else f"{tm['macro_f1']:.3f}"
            score = (
                f"test: acc {tm['accuracy']:.3f} f1 {f1} (majority baseline acc "
                f"{tm['majority_baseline']['accuracy']:.3f} f1 {tm['majority_baseline']['macro_f1']:.3f})"
            )
        log(score + f"; best epoch {result.best_epoch}" + (f"; saved {out}" if out is not None else ""))
    return model, meta


def _rebuild_data(old: Mapping[str, Any], out, data_path) -> TaskData:
    """The data a checkpoint was trained on, rebuilt from its meta and checked against its sha256."""
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
    elif task in ONLINE_TASKS and ds.get("online"):
        sizes = ds.get("sizes", {})
        cue = {k: params[k] for k in ("n_classes", "vocab_size") if k in params}
        data = prepare_online(
            task,
            params["lag"],
            lag_max=params.get("lag_max"),
            seed=ds["seed"],
            n_val=sizes["val"],
            n_test=sizes["test"],
            **cue,
        )
    else:
        raise CheckpointError(
            f"{Path(out) / 'meta.json'}: cannot resume task={task!r} (dataset {ds.get('name')!r}); allowed: "
            f"sentiment, or an online {' / '.join(ONLINE_TASKS)} run"
        )
    if ds.get("sha256") and data.meta["dataset"]["sha256"] != ds["sha256"]:
        raise ValueError(
            f"the data for {out} changed since training (sha256 {data.meta['dataset']['sha256'][:12]} vs stored "
            f"{ds['sha256'][:12]}); resuming would mix datasets - train a new model instead"
        )
    return data


def resume_training(
    out: str | os.PathLike,
    *,
    data_path: str | os.PathLike | None = None,
    overrides: Mapping[str, Any] | None = None,
    log: Callable[[str], None] | None = print,
) -> tuple[RecurrentClassifier, dict[str, Any]]:
    """Continues a run from its checkpoint: epochs, history, optimizer and RNG state.

    The data are rebuilt from the stored task parameters (sentiment: from ``data_path`` or
    the stored path, checked against the stored sha256; the stored vocabulary is reused;
    online tasks: the same seeds, the stream continues where it stopped).

    Args:
        out: The checkpoint directory; it is updated in place.
        data_path: Corpus location for sentiment when it moved since training.
        overrides: TrainConfig fields to change, e.g. ``{"epochs": 30}``.
        log: Receives progress lines.

    Returns:
        ``(model, meta)`` like :func:`train_model`.

    Raises:
        CheckpointError: when the checkpoint is unreadable or has no resume state.
        ValueError: when the data no longer match the stored fingerprint.

    Example:
        >>> resume_training("checkpoints/cue-gru", overrides={"epochs": 30})  # doctest: +SKIP
    """
    best_model, old = load_checkpoint(out)
    cfg = TrainConfig.from_dict({**(old.get("train_config") or {}), **(overrides or {})})
    data = _rebuild_data(old, out, data_path)
    model = RecurrentClassifier(best_model.config)
    meta = _base_meta(data, model)
    for key in ("init_fingerprint", "init_seed", "init_grad_ratio"):
        if key in old:
            meta[key] = old[key]
    task = ClassifierTask(data.train, data.val, cfg)
    result = fit(model, task, cfg, checkpoint_dir=out, meta=meta, resume_from=out, log=log)
    return _finish(model, data, cfg, meta, result, out, log)


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """A GitHub markdown table.

    Example:
        >>> print(markdown_table(["a", "b"], [[1, 2]]), end="")
        | a | b |
        |---|---|
        | 1 | 2 |
    """
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def write_text_atomic(path: Path, text: str) -> None:
    """Writes ``text`` to a temporary sibling, then renames it over ``path`` (never a half file)."""
    from lstmviz.safeio import tmp_sibling

    tmp = tmp_sibling(path)  # unique per process, thread and call
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def write_result(stem: str | os.PathLike, data: Any, markdown: str) -> tuple[Path, Path]:
    """Writes a result file pair atomically: ``stem.json`` (``data``, no NaN) and ``stem.md`` (``markdown``).

    Example:
        >>> write_result("results/accumulator", study(), study_markdown(study()))  # doctest: +SKIP
    """
    stem = Path(stem)
    stem.parent.mkdir(parents=True, exist_ok=True)
    js, md = stem.with_suffix(".json"), stem.with_suffix(".md")
    write_text_atomic(js, json.dumps(data, indent=1, allow_nan=False))
    write_text_atomic(md, markdown)
    return js, md


def compare_cells(
    data: TaskData,
    model_cfg: ModelConfig,
    train_cfg: TrainConfig,
    *,
    root: str | os.PathLike = "checkpoints",
    cells: Sequence[str] = CELLS,
    log: Callable[[str], None] | None = print,
    pretrained: np.ndarray | None = None,
) -> list[dict[str, Any]]:
    """Trains one model per cell type under identical settings and writes a comparison table.

    Checkpoints go to ``root/<prefix>-<cell>`` (prefix "sentiment", "cue" or "adding"); the
    table to ``root/<task>_comparison.md`` and ``.json``.

    Returns:
        One row per cell: cell, checkpoint, parameters, epochs, best_epoch, seconds_per_epoch,
        train_seconds, test_accuracy, test_macro_f1, test_loss, test_by_lag, majority_accuracy,
        majority_macro_f1 (the last two None for regression).

    Example:
        >>> rows = compare_cells(prepare_online("cue_recall", 20), ModelConfig(), TrainConfig())  # doctest: +SKIP
    """
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    rows = []
    for cell in cells:
        if log:
            log(f"== {data.task}: {cell} ==")
        cfg = ModelConfig.from_dict({**model_cfg.to_dict(), "cell": cell})
        out = root / f"{CHECKPOINT_PREFIX[data.task]}-{cell}"
        model, meta = train_model(data, cfg, train_cfg, pretrained=pretrained, out=out, log=log)
        tm = meta["test_metrics"]
        base = tm.get("majority_baseline") or {}
        rows.append(
            {
                "cell": cell,
                "checkpoint": out.name,
                "parameters": meta["parameters"],
                "epochs": len(meta["history"]),
                "best_epoch": meta["best_epoch"],
                "updates": meta["history"][-1].get("updates") if meta["history"] else 0,
                "solved_at": meta.get("solved_at"),
                "seconds_per_epoch": meta["seconds_per_epoch"],
                "train_seconds": meta["train_seconds"],
                "test_accuracy": tm["accuracy"],
                "test_macro_f1": tm["macro_f1"],
                "test_loss": tm["loss"],
                "test_by_lag": meta.get("test_by_lag"),
                "majority_accuracy": base.get("accuracy"),
                "majority_macro_f1": base.get("macro_f1"),
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
    write_text_atomic(root / f"{data.task}_comparison.json", json.dumps(summary, indent=1, ensure_ascii=False))
    write_text_atomic(root / f"{data.task}_comparison.md", _comparison_markdown(rows))
    return rows


def _fmt(v: Any, spec: str = ".3f") -> str:
    return "-" if v is None else format(v, spec)


def _comparison_markdown(rows: Sequence[Mapping[str, Any]]) -> str:
    header = [
        "cell",
        "parameters",
        "epochs (best)",
        "median s/epoch",
        "test acc",
        "test macro-F1",
        "test loss",
        "majority acc",
        "majority macro-F1",
    ]
    body = [
        [
            r["cell"],
            f"{r['parameters']:,}",
            f"{r['epochs']} ({r['best_epoch']})",
            _fmt(r["seconds_per_epoch"], ".1f"),
            _fmt(r["test_accuracy"]),
            _fmt(r["test_macro_f1"]),
            _fmt(r["test_loss"], ".4f"),
            _fmt(r["majority_accuracy"]),
            _fmt(r["majority_macro_f1"]),
        ]
        for r in rows
    ]
    return markdown_table(header, body)
