"""The classifier jobs: the ``recurrent`` and ``bow`` kinds, ``compare`` (rnn, gru, lstm alike) and ``resume``.

All four train on one of the classifier tasks (:data:`lstmviz.taskdata.TASKS`): ``sentiment`` reads the corpus
(``--data``, the vocabulary flags, ``--split-seed``), ``cue_recall`` and ``adding`` draw fresh sequences every
update (``--lag``, ``--lag-max``, ``--updates-per-epoch``). A flag of the other data source is refused naming
the task; the defaults of the model and the optimiser are the task's (:data:`lstmviz.taskdata.TASK_DEFAULTS`)::

    python -m lstmviz.train recurrent --task sentiment --cell gru --navec $NAVEC --freeze-embedding --seed 2
    python -m lstmviz.train recurrent --task cue_recall --cell lstm --lag 5 --lag-max 200 --gate-bias 4
    python -m lstmviz.train bow --task sentiment --seed 4
    python -m lstmviz.train compare --task cue_recall --lag 20 --out /tmp/cue
    python -m lstmviz.train resume --out checkpoints/cue-gru --epochs 80

Example:
    >>> from lstmviz.cli.common import Parser
    >>> p = Parser(prog="recurrent")
    >>> add_recurrent_arguments(p)
    >>> check_recurrent(p.parse_args(["--task", "cue_recall", "--data", "x.csv"]))
    ['--data does not apply to recurrent --task cue_recall']
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from lstmviz.cli.common import (
    CHECKPOINTS_ROOT,
    DEFAULT_DATA,
    OPTIM_FLAGS,
    add_optimizer_arguments,
    add_run_arguments,
    clip,
    given,
    refuse,
)

__all__ = [
    "add_bow_arguments",
    "add_compare_arguments",
    "add_recurrent_arguments",
    "add_resume_arguments",
    "check_bow",
    "check_compare",
    "check_recurrent",
    "check_resume",
    "run_bow",
    "run_compare",
    "run_recurrent",
    "run_resume",
]

BOW_TASKS = ("sentiment", "cue_recall")  # the bag of words counts token ids: the adding problem has none
# Flags of one data source, refused with the other (dests).
_SENTIMENT_ONLY = ("data", "navec", "min_freq", "max_vocab", "max_bytes", "class_weighted", "split_seed")
_ONLINE_ONLY = ("lag", "lag_max", "updates_per_epoch")
_NO_EMBEDDING = "the adding problem's inputs are numbers: there is no embedding"
# (dest, config field) of the flags that override TASK_DEFAULTS.
_MODEL_FLAGS = (
    ("embed", "embed_dim"),
    ("hidden", "hidden_size"),
    ("layers", "num_layers"),
    ("dropout", "dropout"),
    ("gate_bias", "gate_bias"),
    ("input_gate_bias", "input_gate_bias"),
)
_TRAIN_FLAGS = (
    ("epochs", "epochs"),
    *OPTIM_FLAGS,
    ("patience", "patience"),
    ("class_weighted", "class_weighted"),
    ("updates_per_epoch", "updates_per_epoch"),
    ("stop_at", "stop_at"),
)


# ----- flags


def _add_task(parser: argparse.ArgumentParser, tasks: tuple[str, ...]) -> None:
    parser.add_argument(
        "--task",
        choices=tasks,
        default="sentiment",
        help="what to classify: the sentiment corpus, or an online long-range task (default: sentiment)",
    )


def _add_model(parser: argparse.ArgumentParser, *, cell: bool) -> None:
    from lstmviz.models import CELLS

    g = parser.add_argument_group("model (defaults: the task's)")
    if cell:
        g.add_argument("--cell", choices=CELLS, default="lstm", help="recurrent cell (default: lstm)")
    g.add_argument("--embed", type=int, help="embedding size (not --task adding)")
    g.add_argument("--hidden", type=int, help="hidden units per layer and direction")
    g.add_argument("--layers", type=int, help="stacked recurrent layers (default: 1)")
    g.add_argument("--bidirectional", action="store_true", help="bidirectional RNN")
    g.add_argument("--dropout", type=float, help="dropout between layers and before the head")
    g.add_argument("--gate-bias", type=float, help="initial LSTM forget / GRU update gate bias")
    if cell:
        g.add_argument(
            "--input-gate-bias",
            type=float,
            help="initial LSTM input gate bias (--cell lstm; e.g. -4 with --gate-bias 4)",
        )
    g.add_argument("--freeze-embedding", action="store_true", help="keep the (e.g. --navec) embedding fixed")


def _add_sentiment_data(parser: argparse.ArgumentParser, *, navec: bool) -> None:
    from lstmviz.datasets import MAX_DATA_BYTES

    g = parser.add_argument_group("sentiment data (--task sentiment)")
    g.add_argument("--data", help=f"corpus CSV or directory (default: {DEFAULT_DATA})")
    if navec:
        g.add_argument("--navec", help="navec .tar from the natasha wheel: the pretrained embedding (sets --embed)")
    g.add_argument("--min-freq", type=int, help="minimum token count for the vocabulary (default: 2)")
    g.add_argument("--max-vocab", type=int, help="maximum vocabulary size (default: 20000)")
    g.add_argument("--max-bytes", type=int, help=f"refuse a --data file larger than this (default: {MAX_DATA_BYTES})")
    _add_class_weights(g)
    g.add_argument("--split-seed", type=int, help="seed of the train/val/test split (default: 0)")


def _add_class_weights(group: argparse._ArgumentGroup) -> None:
    cw = group.add_mutually_exclusive_group()
    cw.add_argument(
        "--class-weighted",
        dest="class_weighted",
        action="store_true",
        default=None,
        help="inverse-frequency class weights in the loss (the sentiment default)",
    )
    cw.add_argument("--no-class-weighted", dest="class_weighted", action="store_false", help="plain cross-entropy")


def _add_online_data(parser: argparse.ArgumentParser) -> None:
    g = parser.add_argument_group("online data (--task cue_recall, adding)")
    g.add_argument("--lag", type=int, help="cue recall: distractors between cue and query; adding: sequence length")
    g.add_argument("--lag-max", type=int, help="draw each batch's lag from [--lag, --lag-max]")
    g.add_argument("--updates-per-epoch", type=int, help="updates between two evaluations (default: 50)")


def _add_training(parser: argparse.ArgumentParser, *, seed: bool = True) -> argparse._ArgumentGroup:
    g = parser.add_argument_group("training (defaults: the task's)" if seed else "training (defaults: as stored)")
    g.add_argument("--epochs", type=int, help="maximum epochs (online tasks: evaluations)")
    add_optimizer_arguments(g)
    g.add_argument("--patience", type=int, help="early-stopping patience in epochs (0: off)")
    g.add_argument("--stop-at", type=float, help="stop once val accuracy reaches / val MSE falls to this (0: off)")
    if seed:
        g.add_argument(
            "--seed",
            type=int,
            default=0,
            help="training seed: initialisation, data order, dropout; online tasks: also the data (default: 0)",
        )
    return g


def _add_classifier(parser: argparse.ArgumentParser, *, model: str | None, out_help: str) -> None:
    """The flags of a classifier run; ``model``: "cell" (one cell), "cells" (all three), None (the bag of words)."""
    from lstmviz.taskdata import TASKS

    _add_task(parser, TASKS if model else BOW_TASKS)
    if model:
        _add_model(parser, cell=model == "cell")
    _add_sentiment_data(parser, navec=model is not None)
    _add_online_data(parser)
    _add_training(parser)
    add_run_arguments(parser, out_help)


def add_recurrent_arguments(parser: argparse.ArgumentParser) -> None:
    """The flags of ``recurrent``: a recurrent classifier on one task.

    Example:
        >>> from lstmviz.cli.common import Parser
        >>> p = Parser(prog="recurrent")
        >>> add_recurrent_arguments(p)
        >>> p.parse_args(["--cell", "gru", "--lag", "5"]).cell
        'gru'
    """
    _add_classifier(parser, model="cell", out_help="checkpoint directory (default: checkpoints/<task>-<cell>)")


def add_bow_arguments(parser: argparse.ArgumentParser) -> None:
    """The flags of ``bow``: the bag-of-words baseline (logistic regression on token counts), no model flags.

    Example:
        >>> from lstmviz.cli.common import Parser
        >>> p = Parser(prog="bow")
        >>> add_bow_arguments(p)
        >>> p.parse_args(["--task", "cue_recall"]).task
        'cue_recall'
    """
    _add_classifier(parser, model=None, out_help="checkpoint directory (default: checkpoints/<task>-bow)")


def add_compare_arguments(parser: argparse.ArgumentParser) -> None:
    """The flags of ``compare``: rnn, gru and lstm under identical settings, and the comparison tables.

    Example:
        >>> from lstmviz.cli.common import Parser
        >>> p = Parser(prog="compare")
        >>> add_compare_arguments(p)
        >>> p.parse_args(["--task", "adding", "--hidden", "8"]).hidden
        8
    """
    out_help = "root directory: one checkpoint <task>-<cell> per cell (default: checkpoints)"
    _add_classifier(parser, model="cells", out_help=out_help)


def add_resume_arguments(parser: argparse.ArgumentParser) -> None:
    """The flags of ``resume``: continue a classifier checkpoint; only the optimisation settings may change.

    Example:
        >>> from lstmviz.cli.common import Parser
        >>> p = Parser(prog="resume")
        >>> add_resume_arguments(p)
        >>> p.parse_args(["--out", "ck", "--epochs", "80"]).epochs
        80
    """
    g = parser.add_argument_group("data (as stored)")
    g.add_argument("--data", help="sentiment: the corpus, when it moved since training (default: the stored path)")
    _add_class_weights(g)
    g.add_argument("--updates-per-epoch", type=int, help="online tasks: updates between two evaluations")
    _add_training(parser, seed=False)
    add_run_arguments(parser, "the checkpoint directory to continue (required)")
    for action in parser._actions:  # --out names what to continue: without it there is nothing to do
        if action.dest == "out":
            action.required = True


# ----- refusals that depend on a value


def _task_rules(args: argparse.Namespace) -> dict[str, str | None]:
    """The flags of the data source that ``args.task`` does not read, and of the embedding for adding."""
    rules: dict[str, str | None] = dict.fromkeys(_ONLINE_ONLY if args.task == "sentiment" else _SENTIMENT_ONLY)
    if args.task == "adding":
        rules.update(embed=_NO_EMBEDDING, freeze_embedding=_NO_EMBEDDING)
    return rules


def check_recurrent(args: argparse.Namespace, command: str = "recurrent") -> list[str]:
    """Messages for the given flags that do not act with this task or cell; empty when every flag acts.

    Example:
        >>> from lstmviz.cli.common import Parser
        >>> p = Parser(prog="recurrent")
        >>> add_recurrent_arguments(p)
        >>> check_recurrent(p.parse_args(["--cell", "gru", "--input-gate-bias", "-4"]))
        ['--input-gate-bias does not apply to recurrent --task sentiment (--cell gru has no input gate)']
    """
    rules = _task_rules(args)
    cell = getattr(args, "cell", None)
    if cell == "rnn":
        rules["gate_bias"] = "--cell rnn has no gate"
    if cell in ("rnn", "gru"):
        rules["input_gate_bias"] = f"--cell {cell} has no input gate"
    if args.task == "sentiment" and getattr(args, "navec", None) is not None:
        rules["embed"] = "the embedding width is that of the --navec vectors"
    return refuse(args, rules, f"{command} --task {args.task}")


def check_bow(args: argparse.Namespace) -> list[str]:
    """Messages for the given flags of the data source the task does not read."""
    return refuse(args, _task_rules(args), f"bow --task {args.task}")


def check_compare(args: argparse.Namespace) -> list[str]:
    """Messages for the given flags that do not act with this task."""
    return check_recurrent(args, "compare")


def _stored_task(out: str | None) -> str | None:
    """The task of the checkpoint in ``out``; None when it cannot be read (resume_training then says why)."""
    from lstmviz.checkpoint import CheckpointError, read_meta

    if not out:
        return None
    try:
        task = read_meta(Path(out) / "meta.json").get("task")
    except (CheckpointError, OSError):
        return None
    return task if isinstance(task, str) else None


def check_resume(args: argparse.Namespace) -> list[str]:
    """Messages for the given flags that do not act on the stored task (read from ``--out``'s ``meta.json``)."""
    from lstmviz.taskdata import ONLINE_TASKS

    task = _stored_task(args.out)
    rules: dict[str, str | None] = {}
    if task is not None and task != "sentiment":
        rules.update(data=None, class_weighted=None)  # the corpus may have moved; class weights need a fixed split
    if task is not None and task not in ONLINE_TASKS:
        rules["updates_per_epoch"] = None
    return refuse(args, rules, f"resume of a --task {task} checkpoint")


# ----- running


def _model_config(args: argparse.Namespace, cell: str) -> Any:
    from lstmviz.bow import BowConfig
    from lstmviz.models import ModelConfig
    from lstmviz.taskdata import TASK_DEFAULTS

    if cell == "bow":
        return BowConfig()
    flags = {"cell": cell, "bidirectional": args.bidirectional, "freeze_embedding": args.freeze_embedding}
    return ModelConfig.from_dict({**TASK_DEFAULTS[args.task]["model"], **given(args, _MODEL_FLAGS), **flags})


def _train_config(args: argparse.Namespace) -> Any:
    from lstmviz.taskdata import TASK_DEFAULTS
    from lstmviz.trainer import TrainConfig

    d = TASK_DEFAULTS[args.task]["train"]
    return TrainConfig.from_dict(
        {**d, **given(args, _TRAIN_FLAGS), **clip(args), "seed": args.seed, "quiet": args.quiet}
    )


def _train(args: argparse.Namespace, cell: str | None) -> None:
    """Trains one classifier (``cell``) or, with ``cell`` None, rnn, gru and lstm under one recipe."""
    from lstmviz.checkpoint import check_output_dir
    from lstmviz.datasets import MAX_DATA_BYTES
    from lstmviz.experiments import CHECKPOINT_PREFIX, compare_cells, train_model
    from lstmviz.models import CELLS
    from lstmviz.taskdata import TASK_DEFAULTS, prepare_online, prepare_sentiment

    model_cfg = _model_config(args, cell or "lstm")  # a bad value is refused before any folder or data is touched
    train_cfg = _train_config(args)
    prefix = CHECKPOINT_PREFIX[args.task]
    root = args.out or CHECKPOINTS_ROOT
    out = args.out or f"{CHECKPOINTS_ROOT}/{prefix}-{cell}"
    # Refuse an output that is not ours before any work: a save replaces the folder as a whole.
    outs = [Path(root) / f"{prefix}-{c}" for c in CELLS] if cell is None else [out]
    for path in outs:
        check_output_dir(path)
    if args.task == "sentiment":
        dd = TASK_DEFAULTS["sentiment"]["data"]
        data = prepare_sentiment(
            args.data or DEFAULT_DATA,
            seed=args.split_seed or 0,
            min_freq=dd["min_freq"] if args.min_freq is None else args.min_freq,  # a given 0 is the user's
            max_vocab=dd["max_vocab"] if args.max_vocab is None else args.max_vocab,
            max_bytes=MAX_DATA_BYTES if args.max_bytes is None else args.max_bytes,
        )
    else:
        data = prepare_online(args.task, args.lag, lag_max=args.lag_max, seed=args.seed)
    matrix = None
    if getattr(args, "navec", None):  # check_recurrent let it through for sentiment only
        from lstmviz.models import ModelConfig
        from lstmviz.pretrained import load_vectors

        matrix, coverage = load_vectors(args.navec, data.meta["vocab"]["tokens"], seed=args.seed)
        model_cfg = ModelConfig.from_dict({**model_cfg.to_dict(), "embed_dim": int(matrix.shape[1])})
        print(f"navec vectors for {coverage:.1%} of the vocabulary")
    if cell is None:
        compare_cells(data, model_cfg, train_cfg, root=root, pretrained=matrix)
    else:
        train_model(data, model_cfg, train_cfg, pretrained=matrix, out=out)


def run_recurrent(args: argparse.Namespace) -> None:
    """Trains one recurrent classifier and writes its checkpoint (``--out``).

    Example:
        >>> from lstmviz.train import parse_args
        >>> run_recurrent(parse_args(["recurrent", "--task", "cue_recall", "--out", "/tmp/cue-lstm"]))  # doctest: +SKIP
    """
    _train(args, args.cell)


def run_bow(args: argparse.Namespace) -> None:
    """Trains the bag-of-words baseline and writes its checkpoint (``--out``).

    Example:
        >>> from lstmviz.train import parse_args
        >>> run_bow(parse_args(["bow", "--seed", "4", "--out", "/tmp/sentiment-bow"]))  # doctest: +SKIP
    """
    _train(args, "bow")


def run_compare(args: argparse.Namespace) -> None:
    """Trains rnn, gru and lstm under one recipe into ``--out``/<task>-<cell>, and the comparison tables.

    Example:
        >>> from lstmviz.train import parse_args
        >>> run_compare(parse_args(["compare", "--task", "cue_recall", "--out", "/tmp/cue"]))  # doctest: +SKIP
    """
    _train(args, None)


def run_resume(args: argparse.Namespace) -> None:
    """Continues the run stored in ``--out`` with the given optimisation settings (exactly, as if never stopped).

    Example:
        >>> from lstmviz.train import parse_args
        >>> run_resume(parse_args(["resume", "--out", "checkpoints/cue-gru", "--epochs", "80"]))  # doctest: +SKIP
    """
    from lstmviz.experiments import resume_training

    overrides = {"quiet": args.quiet, **given(args, _TRAIN_FLAGS), **clip(args)}
    resume_training(args.out, data_path=args.data, overrides=overrides)
