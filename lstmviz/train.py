"""Command line for training: ``python -m lstmviz.train --help``.

The work is done elsewhere: :mod:`lstmviz.taskdata` (data), :mod:`lstmviz.trainer` (the loop),
:mod:`lstmviz.experiments` (train one, resume, compare) and :mod:`lstmviz.sweeps` (multi-seed
sweeps). This module parses flags, sets the process-wide switches a library call must not
touch (torch's thread count, deterministic algorithms), and maps errors to exit codes::

    python -m lstmviz.train --task sentiment --data ../shared/data/opensentimentcorpus --cell lstm \\
        --out checkpoints/sentiment-lstm
    python -m lstmviz.train --task cue_recall --lag 5 --lag-max 200 --cell gru --out checkpoints/cue-gru
    python -m lstmviz.train --task adding --lag 50 --cell lstm --out /tmp/adding-lstm
    python -m lstmviz.train --resume --out checkpoints/cue-gru --epochs 80
    python -m lstmviz.train --task sentiment --data ... --compare --out checkpoints
    python -m lstmviz.train --task cue_recall --lag-sweep --seeds 5 --workers 2 --out checkpoints
    python -m lstmviz.train --task cue_recall --bias-sweep --lag 100 --out checkpoints
    python -m lstmviz.train --task cue_recall --lag-sweep --gate-bias 4 --tag b4 --out checkpoints

A flag that does not act in the chosen task and mode (:data:`_ACTS`) is refused with a message
naming it and the task, never silently ignored; ``--layers 1`` gives a one-layer character model or
tagger (their default is 2).

Exit status: 0 ok, 2 usage or data error, 3 the loss diverged (the checkpoint keeps the last
good epoch).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from safetensors import SafetensorError

from lstmviz.bow import BowConfig
from lstmviz.checkpoint import CheckpointError, check_output_dir, read_meta
from lstmviz.datasets import MAX_DATA_BYTES
from lstmviz.experiments import CHECKPOINT_PREFIX, compare_cells, resume_training, train_model
from lstmviz.models import CELLS, ModelConfig
from lstmviz.sweeps import (
    DEFAULT_BIASES,
    DEFAULT_LAGS,
    default_specs,
    load_sweep,
    merge_sweeps,
    run_sweep,
    write_sweep,
)
from lstmviz.tagdata import MissingExtraError
from lstmviz.taskdata import ONLINE_TASKS, TASK_DEFAULTS, TASKS, prepare_online, prepare_sentiment
from lstmviz.trainer import TrainConfig, TrainingDiverged, check_int

if TYPE_CHECKING:  # imported where used: only --task charlm / tagger need them
    from lstmviz.charlm import CharLMConfig
    from lstmviz.lmtrainer import LMTrainConfig
    from lstmviz.tagger import TaggerConfig
    from lstmviz.tagtrainer import TagTrainConfig

__all__ = ["EXIT_DIVERGED", "main"]

EXIT_DIVERGED = 3  # CLI exit status when the loss became NaN/Inf
_DEFAULT_DATA = "../shared/data/opensentimentcorpus"


def _ints(s: str) -> list[int]:
    return [int(v) for v in s.split(",") if v.strip()]


def _floats(s: str) -> list[float]:
    return [float(v) for v in s.split(",") if v.strip()]


def _cells(s: str) -> list[str]:
    cells = [v.strip() for v in s.split(",") if v.strip()]
    bad = [c for c in cells if c not in CELLS]
    if bad or not cells:
        raise argparse.ArgumentTypeError(f"{s!r}: allowed cells are {', '.join(CELLS)}, comma-separated")
    return cells


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m lstmviz.train",
        description="Train RNN/GRU/LSTM models, write lstmviz checkpoints, run multi-seed sweeps.",
    )
    # Flags whose default would hide whether the user gave them default to None; _fill_defaults puts the
    # documented defaults in after _flag_errors has refused the flags that do not act.
    p.add_argument(
        "--task",
        choices=(*TASKS, "charlm", "tagger"),
        help="what to train on; charlm: a character-level language model on the corpus text; tagger: the "
        "char-CNN + BiLSTM part-of-speech / entity tagger on silver labels (default: sentiment)",
    )
    p.add_argument(
        "--slovnet",
        help="tagger: folder with slovnet_morph_news_v1.tar and slovnet_ner_news_v1.tar "
        "(from the natasha wheel; default: an installed natasha's data folder)",
    )
    p.add_argument(
        "--data", help=f"sentiment corpus CSV or directory (default: {_DEFAULT_DATA}; --resume: the stored path)"
    )
    p.add_argument(
        "--cell",
        choices=(*CELLS, "bow"),
        help="recurrent cell, or bow: the bag-of-words baseline (sentiment, cue_recall) (default: lstm)",
    )
    p.add_argument("--out", help="checkpoint directory; with --compare and the sweeps the root directory")
    mode = p.add_mutually_exclusive_group()
    mode.add_argument("--resume", action="store_true", help="continue the run stored in --out")
    mode.add_argument("--compare", action="store_true", help="train rnn, gru and lstm under identical settings")
    mode.add_argument("--lag-sweep", action="store_true", help="online task: success rate vs lag, cells x lags x seeds")
    mode.add_argument("--bias-sweep", action="store_true", help="online task: success rate vs gate bias at --lag")
    mode.add_argument(
        "--seed-study",
        action="store_true",
        help="sentiment: every variant x cell x seed and the baselines, mean ± sd and paired test-set intervals",
    )
    p.add_argument(
        "--variants", help="--seed-study variants, comma-separated (default: all; see lstmviz.sentiment_study)"
    )
    p.add_argument(
        "--navec", help="navec .tar from the natasha wheel: pretrained embedding (--seed-study, or one model)"
    )
    p.add_argument("--lag", type=int, help="cue recall: distractors between cue and query; adding: sequence length")
    p.add_argument("--lag-max", type=int, help="draw each batch's lag from [--lag, --lag-max]")
    p.add_argument("--lags", type=_ints, help="--lag-sweep lags, comma-separated (cue recall: 10,20,50,100,200)")
    p.add_argument("--biases", type=_floats, help="--bias-sweep gate biases, comma-separated (default: 0,1,2,4)")
    p.add_argument("--seeds", type=int, help="sweeps and --seed-study: seeds 0..N-1 (default: 5)")
    p.add_argument("--workers", type=int, help="sweeps and --seed-study: parallel single-thread processes (default: 2)")
    p.add_argument("--tag", help="sweeps: suffix of the result file, sweep_<task>_<kind>_<tag>.json")
    p.add_argument("--cells", type=_cells, help="sweeps: the cells to run, comma-separated (default: all it sweeps)")
    p.add_argument(
        "--merge",
        action="store_true",
        default=None,
        help="sweeps and --seed-study: add to the existing result file, running only the runs it lacks (its runs "
        "are kept; --seed-study trains a stored run without predictions again and checks it reproduces its row)",
    )
    p.add_argument(
        "--variant",
        help="sweeps with --merge: name the recipe that the given model/training flags make (e.g. 'lr 0.001'); "
        "its rows are summarised apart from the file's shared recipe",
    )
    p.add_argument(
        "--n-train",
        type=int,
        help="refused by every task: none takes a training-set size (the online tasks draw fresh training "
        "data every batch)",
    )
    p.add_argument("--embed", type=int, help="embedding size (tagger: the word embedding)")
    p.add_argument("--hidden", type=int, help="hidden units per layer and direction")
    p.add_argument("--layers", type=int, help="stacked recurrent layers (default: 2 for charlm and tagger, else 1)")
    p.add_argument("--bidirectional", action="store_true", default=None, help="bidirectional RNN")
    p.add_argument("--dropout", type=float, help="dropout between layers and before the head")
    p.add_argument("--gate-bias", type=float, help="initial LSTM forget / GRU update gate bias")
    p.add_argument(
        "--input-gate-bias", type=float, help="initial LSTM input gate bias (LSTM only; e.g. -4 with --gate-bias 4)"
    )
    p.add_argument("--min-freq", type=int, help="sentiment: minimum token count for the vocabulary")
    p.add_argument("--max-vocab", type=int, help="sentiment: maximum vocabulary size")
    p.add_argument(
        "--max-bytes", type=int, help=f"sentiment: refuse a --data file larger than this (default: {MAX_DATA_BYTES})"
    )
    p.add_argument("--epochs", type=int, help="maximum epochs (online tasks and charlm: evaluations)")
    p.add_argument(
        "--updates-per-epoch",
        type=int,
        help="online tasks and charlm: updates between two evaluations (charlm default: 250, x 12 epochs)",
    )
    p.add_argument("--stop-at", type=float, help="stop once val accuracy reaches / val MSE falls to this (0: off)")
    p.add_argument("--batch-size", type=int, help="batch size")
    p.add_argument("--lr", type=float, help="AdamW learning rate")
    p.add_argument("--weight-decay", type=float, help="AdamW weight decay")
    p.add_argument("--patience", type=int, help="early-stopping patience in epochs (0: off)")
    p.add_argument("--clip", type=float, help="gradient-norm clipping threshold (default: 1.0; 0: off)")
    cw = p.add_mutually_exclusive_group()
    cw.add_argument(
        "--class-weighted",
        dest="class_weighted",
        action="store_true",
        default=None,
        help="inverse-frequency class weights in the loss (sentiment default)",
    )
    cw.add_argument("--no-class-weighted", dest="class_weighted", action="store_false")
    p.add_argument(
        "--seed",
        type=int,
        help="training seed: initialisation, data order, dropout; online tasks: also the data (default: 0)",
    )
    p.add_argument(
        "--split-seed", type=int, help="sentiment, charlm, tagger: seed of the train/val/test split (default: 0)"
    )
    p.add_argument(
        "--freeze-embedding",
        action="store_true",
        default=None,
        help="keep the (e.g. --navec) embedding fixed in training",
    )
    p.add_argument("--threads", type=int, default=2, help="torch CPU threads (default: 2)")
    p.add_argument("--quiet", action="store_true", help="no progress bar or per-epoch lines")
    return p


# ----- where each flag acts
# Keyed by (task, mode), the argparse dests of the flags that act there ("class_weighted" stands for both
# --class-weighted and --no-class-weighted); --out, --threads and --quiet act everywhere. A flag given anywhere
# else is refused by _flag_errors, which adds the rules that depend on a value (--cell bow or rnn, --navec,
# charlm --layers 1) and, for --resume, on the task stored in the checkpoint.
_EVERYWHERE = frozenset({"out", "threads", "quiet"})
_MODEL = frozenset(
    {"embed", "hidden", "layers", "bidirectional", "dropout", "gate_bias", "input_gate_bias", "freeze_embedding"}
)
_FIT = frozenset({"epochs", "batch_size", "lr", "weight_decay", "patience", "clip", "stop_at"})  # every trainer.fit run
_SENTIMENT = frozenset({"task", "data", "navec", "min_freq", "max_vocab", "max_bytes", "class_weighted", "seed"}) | (
    _MODEL | _FIT | {"split_seed"}
)
_CUE = frozenset({"task", "lag", "lag_max", *_MODEL, *_FIT, "updates_per_epoch", "seed"})
_ADDING = _CUE - {"embed", "freeze_embedding"}  # real-valued inputs: there is no embedding
# The sweeps run every cell (the bias sweep: the gated ones) over seeds 0..--seeds-1 with these overrides.
_SWEEP = frozenset(
    {"task", "seeds", "workers", "tag", "cells", "merge", "variant", "hidden", "dropout", *_FIT, "updates_per_epoch"}
    | {"input_gate_bias"}
)
_ACTS: dict[tuple[str, str], frozenset[str]] = {
    ("sentiment", "train"): _SENTIMENT | {"cell"},
    ("sentiment", "compare"): _SENTIMENT | {"compare"},
    ("sentiment", "seed_study"): frozenset(
        {"task", "seed_study", "data", "variants", "navec", "seeds", "workers", "merge"}
    ),
    ("cue_recall", "train"): _CUE | {"cell"},
    ("cue_recall", "compare"): _CUE | {"compare"},
    ("cue_recall", "lag_sweep"): _SWEEP | {"lag_sweep", "lags", "embed", "gate_bias"},
    ("cue_recall", "bias_sweep"): _SWEEP | {"bias_sweep", "lag", "biases", "embed"},
    ("adding", "train"): _ADDING | {"cell"},
    ("adding", "compare"): _ADDING | {"compare"},
    ("adding", "lag_sweep"): _SWEEP | {"lag_sweep", "lags", "gate_bias"},
    ("adding", "bias_sweep"): _SWEEP | {"bias_sweep", "lag", "biases"},
    ("charlm", "train"): frozenset(
        {"task", "data", "cell", "embed", "hidden", "layers", "dropout", "gate_bias", "epochs", "updates_per_epoch"}
        | {"batch_size", "lr", "weight_decay", "clip", "seed", "split_seed"}
    ),
    ("tagger", "train"): frozenset(
        {"task", "slovnet", "navec", "data", "cell", "embed", "hidden", "layers", "dropout", "epochs"}
        | {"batch_size", "lr", "weight_decay", "clip", "seed", "split_seed"}
    ),
}
_MODES = ("resume", "compare", "lag_sweep", "bias_sweep", "seed_study")  # a mutually exclusive group; none: "train"
_HINTS: dict[Any, str] = {  # keyed by dest, (dest, mode) or (dest, task)
    "n_train": "no task takes a training-set size: the online tasks draw fresh training data every batch",
    ("task", "resume"): "the run continues the checkpoint's own task",
    ("cell", "compare"): "it trains rnn, gru and lstm",
    ("input_gate_bias", "compare"): "it trains rnn and gru too, which have no input gate",
    ("cell", "lag_sweep"): "it sweeps rnn, gru and lstm",
    ("cell", "bias_sweep"): "it sweeps gru and lstm",
    ("cell", "seed_study"): "it trains every cell of every variant",
    ("seed", "lag_sweep"): "it runs seeds 0..--seeds-1",
    ("seed", "bias_sweep"): "it runs seeds 0..--seeds-1",
    ("seed", "seed_study"): "it runs seeds 0..--seeds-1",
    ("lag", "lag_sweep"): "give the lags with --lags",
    ("gate_bias", "bias_sweep"): "give the biases with --biases",
    ("bidirectional", "charlm"): "a language model reads left to right",
    ("bidirectional", "tagger"): "the tagger is always bidirectional",
}
# Filled in after _flag_errors: these flags default to None so that a given flag can be told from a default.
_DEFAULTS = {
    "task": "sentiment",
    "cell": "lstm",
    "seeds": 5,
    "workers": 2,
    "tag": "",
    "max_bytes": MAX_DATA_BYTES,
    "seed": 0,
    "split_seed": 0,
    "bidirectional": False,
    "freeze_embedding": False,
    "merge": False,
}


def _option(dest: str, value: Any = True) -> str:
    """The command-line spelling of an argparse dest (``class_weighted`` False: ``--no-class-weighted``)."""
    if dest == "class_weighted" and value is False:
        return "--no-class-weighted"
    return "--" + dest.replace("_", "-")


def _stored_task(out: str | None) -> str | None:
    """The task of the checkpoint in ``out``; None when it cannot be read (resume_training then says why)."""
    if not out:
        return None
    try:
        task = read_meta(Path(out) / "meta.json").get("task")
    except (CheckpointError, OSError):
        return None
    return task if isinstance(task, str) else None


def _resume_acts(task: str | None) -> frozenset[str]:
    """Flags that act on ``--resume`` of a ``task`` checkpoint (None: unknown, all the resume flags)."""
    acts = {"resume", *_FIT}
    if task in (None, "sentiment"):
        acts |= {"data", "class_weighted"}  # the corpus may have moved; class weights need a fixed split
    if task is None or task in ONLINE_TASKS:
        acts.add("updates_per_epoch")
    return frozenset(acts)


def _flag_errors(args: argparse.Namespace) -> list[str]:
    """One message per flag given on the command line that would not act; empty when every given flag acts.

    Example:
        >>> _flag_errors(_parser().parse_args(["--task", "charlm", "--patience", "3"]))
        ['--patience does not apply to --task charlm']
    """
    mode = next((m for m in _MODES if getattr(args, m)), "train")
    task = args.task or _DEFAULTS["task"]
    if mode == "resume":
        task = _stored_task(args.out)
        acts = set(_resume_acts(task))
        where = "--resume" + (f" of a --task {task} checkpoint" if task else "")
    elif (task, mode) in _ACTS:
        acts = set(_ACTS[task, mode])
        where = f"--task {task}" + ("" if mode == "train" else f" {_option(mode)}")
    else:
        return [f"{_option(mode)} does not apply to --task {task}"]
    why: dict[str, str] = {}
    if mode == "train" and args.cell == "bow":
        if task not in ("sentiment", "cue_recall"):
            return [f"--cell bow does not apply to --task {task} (the bag-of-words baseline classifies token ids)"]
        acts -= _MODEL | {"navec"}
        why.update(dict.fromkeys(_MODEL | {"navec"}, "--cell bow has no embedding and no recurrent layers"))
    if mode == "train" and args.cell == "rnn":
        acts.discard("gate_bias")
        why["gate_bias"] = "--cell rnn has no gate"
    if mode == "train" and args.cell in ("rnn", "gru"):
        acts.discard("input_gate_bias")
        why["input_gate_bias"] = f"--cell {args.cell} has no input gate"
    if mode == "compare":
        acts.discard("input_gate_bias")
    if mode in ("lag_sweep", "bias_sweep") and args.input_gate_bias is not None and args.cells != ["lstm"]:
        acts.discard("input_gate_bias")
        why["input_gate_bias"] = "only the LSTM has an input gate: add --cells lstm"
    if mode in ("lag_sweep", "bias_sweep") and args.variant is not None and not args.merge:
        acts.discard("variant")
        why["variant"] = "a variant is added to an existing sweep: add --merge"
    if task == "charlm" and args.layers == 1:
        acts.discard("dropout")
        why["dropout"] = "the character model's dropout sits between layers: one layer has none"
    if task == "sentiment" and mode in ("train", "compare") and args.navec is not None:
        acts.discard("embed")
        why["embed"] = "the embedding width is that of the --navec vectors"
    acts |= _EVERYWHERE
    errors = []
    for dest, value in vars(args).items():
        given = value is not None and (value is not False or dest == "class_weighted")  # store_true: False = absent
        if given and dest not in acts:
            hint = why.get(dest) or _HINTS.get((dest, mode)) or _HINTS.get((dest, task)) or _HINTS.get(dest)
            errors.append(f"{_option(dest, value)} does not apply to {where}" + (f" ({hint})" if hint else ""))
    return errors


def _fill_defaults(args: argparse.Namespace) -> None:
    """Puts the documented defaults into the flags left out (after _flag_errors has looked at what was given)."""
    for dest, value in _DEFAULTS.items():
        if getattr(args, dest) is None:
            setattr(args, dest, value)
    if args.data is None and not args.resume:  # --resume reads the stored corpus path
        args.data = _DEFAULT_DATA


# ----- configs from the flags
_MODEL_FLAGS = (
    ("embed", "embed_dim"),
    ("hidden", "hidden_size"),
    ("layers", "num_layers"),
    ("dropout", "dropout"),
    ("gate_bias", "gate_bias"),
    ("input_gate_bias", "input_gate_bias"),
)
_SWEEP_MODEL_FLAGS = (
    ("embed", "embed_dim"),
    ("hidden", "hidden_size"),
    ("dropout", "dropout"),
    ("input_gate_bias", "input_gate_bias"),
)
_TAGGER_MODEL_FLAGS = (
    ("embed", "word_dim"),
    ("hidden", "hidden_size"),
    ("layers", "num_layers"),
    ("dropout", "dropout"),
)
_OPTIM_FLAGS = (("batch_size", "batch_size"), ("lr", "lr"), ("weight_decay", "weight_decay"))
_TRAIN_FLAGS = (
    ("epochs", "epochs"),
    *_OPTIM_FLAGS,
    ("patience", "patience"),
    ("class_weighted", "class_weighted"),
    ("updates_per_epoch", "updates_per_epoch"),
    ("stop_at", "stop_at"),
)


def _given(args: argparse.Namespace, flags) -> dict[str, Any]:
    """Config fields given explicitly on the command line (``--stop-at 0`` turns the stop off)."""
    given = {key: getattr(args, arg) for arg, key in flags if getattr(args, arg) is not None}
    if given.get("stop_at") == 0:
        given["stop_at"] = None
    return given


def _clip(args: argparse.Namespace) -> dict[str, float | None]:
    """``clip_grad_norm`` when --clip was given (``--clip 0`` turns clipping off)."""
    return {} if args.clip is None else {"clip_grad_norm": args.clip or None}


def _configs(args: argparse.Namespace) -> tuple[ModelConfig | BowConfig, TrainConfig]:
    d = TASK_DEFAULTS[args.task]
    if args.cell == "bow":
        model_cfg = BowConfig()
    else:
        flags = {"cell": args.cell, "bidirectional": args.bidirectional, "freeze_embedding": args.freeze_embedding}
        model_cfg = ModelConfig.from_dict({**d["model"], **_given(args, _MODEL_FLAGS), **flags})
    train = {**d["train"], **_given(args, _TRAIN_FLAGS), **_clip(args), "seed": args.seed, "quiet": args.quiet}
    return model_cfg, TrainConfig.from_dict(train)


def _charlm_configs(args: argparse.Namespace) -> tuple[CharLMConfig, LMTrainConfig]:
    """``(CharLMConfig, LMTrainConfig)`` from the flags; the default layers (2) and budget are LMTrainConfig's.

    An "epoch" of a character model is one evaluation period: ``--epochs`` periods of ``--updates-per-epoch``
    updates (default 12 x 250 = 3,000 updates).
    """
    from lstmviz.charlm import CharLMConfig
    from lstmviz.lmtrainer import LMTrainConfig

    model = CharLMConfig.from_dict({**_given(args, _MODEL_FLAGS), "cell": args.cell})
    train = {**_given(args, _OPTIM_FLAGS), **_clip(args), "seed": args.seed}
    if args.epochs is not None or args.updates_per_epoch is not None:
        base = LMTrainConfig()
        epochs = base.max_updates // base.eval_every if args.epochs is None else args.epochs
        every = base.eval_every if args.updates_per_epoch is None else args.updates_per_epoch
        check_int("epochs", epochs, 1)  # before the product, so the error names the flag, not max_updates
        check_int("updates_per_epoch", every, 1)
        train.update(max_updates=epochs * every, eval_every=every)
    return model, LMTrainConfig(**train)


def _tagger_configs(args: argparse.Namespace) -> tuple[TaggerConfig, TagTrainConfig]:
    """``(TaggerConfig, TagTrainConfig)`` from the flags; the default layers (2) and epochs are the configs'."""
    from lstmviz.tagger import TaggerConfig
    from lstmviz.tagtrainer import TagTrainConfig

    model = TaggerConfig.from_dict({**_given(args, _TAGGER_MODEL_FLAGS), "cell": args.cell})
    train = {**_given(args, (("epochs", "epochs"), *_OPTIM_FLAGS)), **_clip(args), "seed": args.seed}
    return model, TagTrainConfig(**train)


def _overrides(args: argparse.Namespace) -> dict[str, Any]:
    """TrainConfig fields given explicitly on a --resume command line."""
    return {"quiet": args.quiet, **_given(args, _TRAIN_FLAGS), **_clip(args)}


def _sweep(args: argparse.Namespace, kind: str) -> None:
    root = args.out or "checkpoints"
    if args.tag and not args.tag.replace("-", "").replace("_", "").isalnum():
        raise ValueError(f"--tag {args.tag!r} is invalid; allowed: letters, digits, '-' and '_'")
    target = Path(root) / f"sweep_{args.task}_{kind}{f'_{args.tag}' if args.tag else ''}.json"
    base = load_sweep(target) if args.merge and target.is_file() else None
    model = _given(args, _SWEEP_MODEL_FLAGS)
    train = {**_given(args, _TRAIN_FLAGS), **_clip(args)}
    variant: dict[str, Any] = {}
    if args.variant is not None:
        if base is None:
            raise ValueError(f"--variant {args.variant!r} adds rows to an existing sweep, and {target} does not exist")
        # The variant's changes are the given flags that differ from the file's shared recipe; the rest are shared.
        changes = {
            "model": {k: v for k, v in model.items() if base["model"].get(k) != v},
            "train": {k: v for k, v in train.items() if base["train"].get(k) != v},
        }
        if not (changes["model"] or changes["train"]):
            raise ValueError(
                f"--variant {args.variant!r} changes nothing in {target}: give the model or training flags it changes"
            )
        model = {k: v for k, v in model.items() if k not in changes["model"]}
        train = {k: v for k, v in train.items() if k not in changes["train"]}
        variant = {"variant": args.variant, "changes": changes}
    if kind == "lag":
        specs = default_specs(
            args.task,
            "lag",
            cells=args.cells,
            lags=args.lags or DEFAULT_LAGS[args.task],
            seeds=range(args.seeds),
            gate_bias=args.gate_bias,
            model=model,
            train=train,
            **variant,
        )
    else:
        lags = None if args.lag is None else [args.lag]  # None: the sweep's own default lag
        biases = args.biases or DEFAULT_BIASES
        specs = default_specs(
            args.task,
            "gate_bias",
            cells=args.cells,
            lags=lags,
            gate_biases=biases,
            seeds=range(args.seeds),
            model=model,
            train=train,
            **variant,
        )
    if base is not None:
        have = {_spec_key(r) for r in base["runs"]}
        specs = [s for s in specs if _spec_key(vars(s)) not in have]
        if not specs:
            print(f"{target} already holds every run asked for; nothing to do")
            return

    def progress(run: dict[str, Any], done: int, total: int) -> None:
        if not args.quiet:
            verdict = f"solved at {run['updates_to_solve']}" if run["solved"] else f"not solved ({run['updates']})"
            print(
                f"[{done}/{total}] {run['cell']} lag {run['lag']} bias {run['gate_bias']} seed {run['seed']}: "
                f"{verdict}, {run['seconds']:.0f} s",
                flush=True,
            )

    sweep = run_sweep(specs, kind=kind, workers=args.workers, progress=progress)
    if base is not None:
        sweep = merge_sweeps(base, sweep)
    json_path, md_path = write_sweep(sweep, target)
    print(md_path.read_text(encoding="utf-8"))
    print(f"wrote {json_path} and {md_path} in {sweep['wall_seconds']:.0f} s")


def _spec_key(r: Any) -> tuple:
    """(cell, lag, gate bias, variant, seed) of a run row or a RunSpec's fields: what --merge skips."""
    return (r["cell"], r["lag"], r["gate_bias"], r.get("variant"), r["seed"])


def _seed_study(args: argparse.Namespace) -> None:
    from lstmviz.sentiment_study import SHIPPED, read_study, run_study, shipped_predictions, study_specs, write_study

    variants = [v.strip() for v in args.variants.split(",") if v.strip()] if args.variants else None
    specs = study_specs(args.data, seeds=range(args.seeds), variants=variants, navec=args.navec)
    root = Path(args.out or "checkpoints")
    target = root / "sentiment_seeds.json"
    # --merge: extend the stored file; its runs are kept, a run it has without predictions is trained again and
    # must reproduce its row exactly (lstmviz.sentiment_study.merge_runs).
    previous = read_study(target) if args.merge and target.is_file() else None
    # The shipped sentiment-{rnn,gru,lstm,bow} under --out, when all are there, are scored on the same test split.
    found = all((root / f"sentiment-{name}" / "meta.json").is_file() for name in SHIPPED)
    shipped = shipped_predictions(root, args.data) if found else None

    def progress(run: dict[str, Any], done: int, total: int) -> None:
        if not args.quiet:
            print(
                f"[{done}/{total}] {run['variant']} {run['cell']} seed {run['seed']}: test acc "
                f"{run['test_accuracy']:.3f} f1 {run['test_macro_f1']:.3f}, {run['seconds']:.0f} s",
                flush=True,
            )

    study = run_study(specs, workers=args.workers, progress=progress, previous=previous, shipped=shipped)
    json_path, md_path = write_study(study, root / "sentiment_seeds")
    print(md_path.read_text(encoding="utf-8"))
    print(f"wrote {json_path} and {md_path} in {study['parts'][-1]['wall_seconds']:.0f} s")


def _charlm(args: argparse.Namespace) -> None:
    from lstmviz.chardata import prepare_chars
    from lstmviz.lmtrainer import train_charlm

    model, train = _charlm_configs(args)  # a bad value is refused before any folder or data is touched
    out = args.out or f"checkpoints/charlm-{args.cell}"
    check_output_dir(out)
    data = prepare_chars(args.data, seed=args.split_seed)
    _, meta = train_charlm(data, model, train, out=out, log=None if args.quiet else print)
    tm = meta["test_metrics"]
    print(
        f"{args.cell}: test {tm['bpc']:.3f} bits/char "
        f"(unigram {tm['unigram_bpc']:.3f}, bigram {tm['bigram_bpc']:.3f}); "
        f"{meta['updates']} updates in {meta['train_seconds']:.0f} s; saved {out}"
    )


def _tagger(args: argparse.Namespace) -> None:
    from lstmviz.tagdata import find_silver_files, prepare_tags, require_training_extra
    from lstmviz.tagtrainer import train_tagger

    model, train = _tagger_configs(args)  # a bad value is refused before any folder or data is touched
    out = args.out or f"checkpoints/tagger-{args.cell}"
    check_output_dir(out)
    require_training_extra()  # before looking for model files: the install comes first
    data = prepare_tags(args.data, find_silver_files(args.slovnet, args.navec), seed=args.split_seed)
    _, meta = train_tagger(data, model, train, out=out, log=None if args.quiet else print)
    tm = meta["test_metrics"]
    print(
        f"tagger: test POS agreement {tm['pos']['accuracy']:.3f} "
        f"(most frequent tag {tm['baseline']['pos']['accuracy']:.3f}), "
        f"NER macro-F1 {tm['ner']['macro_f1']:.3f} (baseline {tm['baseline']['ner']['macro_f1']:.3f}); "
        f"{meta['train_seconds']:.0f} s; saved {out}"
    )


def _run(args: argparse.Namespace) -> None:
    if args.resume:
        if not args.out:
            raise ValueError("--resume needs --out, the checkpoint directory to continue")
        resume_training(args.out, data_path=args.data, overrides=_overrides(args))
        return
    if args.lag_sweep or args.bias_sweep:
        _sweep(args, "lag" if args.lag_sweep else "gate_bias")
        return
    if args.seed_study:
        _seed_study(args)
        return
    if args.task == "charlm":
        _charlm(args)
        return
    if args.task == "tagger":
        _tagger(args)
        return
    model_cfg, train_cfg = _configs(args)
    # Refuse an output that is not ours before any work: a save replaces the folder as a whole.
    if args.compare:
        for cell in CELLS:
            check_output_dir(Path(args.out or "checkpoints") / f"{CHECKPOINT_PREFIX[args.task]}-{cell}")
    else:
        check_output_dir(args.out or f"checkpoints/{CHECKPOINT_PREFIX[args.task]}-{args.cell}")
    if args.task == "sentiment":
        dd = TASK_DEFAULTS["sentiment"]["data"]
        min_freq = dd["min_freq"] if args.min_freq is None else args.min_freq  # a given 0 is the user's, not "unset"
        max_vocab = dd["max_vocab"] if args.max_vocab is None else args.max_vocab
        data = prepare_sentiment(
            args.data, seed=args.split_seed, min_freq=min_freq, max_vocab=max_vocab, max_bytes=args.max_bytes
        )
    else:
        data = prepare_online(args.task, args.lag, lag_max=args.lag_max, seed=args.seed)
    matrix = None
    if args.navec:  # _flag_errors let it through for a recurrent sentiment model only
        from lstmviz.pretrained import load_vectors

        matrix, coverage = load_vectors(args.navec, data.meta["vocab"]["tokens"], seed=args.seed)
        model_cfg = ModelConfig.from_dict({**model_cfg.to_dict(), "embed_dim": int(matrix.shape[1])})
        print(f"navec vectors for {coverage:.1%} of the vocabulary")
    if args.compare:
        compare_cells(data, model_cfg, train_cfg, root=args.out or "checkpoints", pretrained=matrix)
    else:
        train_model(
            data,
            model_cfg,
            train_cfg,
            pretrained=matrix,
            out=args.out or f"checkpoints/{CHECKPOINT_PREFIX[args.task]}-{args.cell}",
        )


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point; returns the exit status (0 ok, 2 usage/data error, 3 diverged).

    The process-wide switches are set here, for this process only, and put back on return,
    so calling ``main`` from Python leaves torch as it was.

    Example:
        >>> main(["--task", "cue_recall", "--lag", "5", "--epochs", "1", "--out", "/tmp/cue"])  # doctest: +SKIP
        0
    """
    parser = _parser()
    args = parser.parse_args(argv)
    errors = _flag_errors(args)
    if errors:
        parser.error("; ".join(errors))  # exit status 2, like any other usage error
    _fill_defaults(args)
    old_threads, old_det = torch.get_num_threads(), torch.are_deterministic_algorithms_enabled()
    torch.set_num_threads(max(1, args.threads))
    torch.use_deterministic_algorithms(True)
    try:
        _run(args)
        return 0
    except TrainingDiverged as e:
        print(f"error: {e}", file=sys.stderr)
        return EXIT_DIVERGED
    except (ValueError, FileNotFoundError, MissingExtraError) as e:  # CheckpointError and DataError are ValueErrors
        print(f"error: {e}", file=sys.stderr)
        return 2
    except (OSError, SafetensorError) as e:  # disk full, read-only, no permission: the last checkpoint is intact
        where = getattr(e, "filename", None) or args.out or "the output folder"
        print(
            f"error: cannot write {where}: {getattr(e, 'strerror', None) or e}; the previous checkpoint, if any, "
            "is unchanged",
            file=sys.stderr,
        )
        return 2
    finally:
        torch.use_deterministic_algorithms(old_det)
        torch.set_num_threads(old_threads)


if __name__ == "__main__":
    sys.exit(main())
