"""The ``charlm`` kind on the command line: a character-level language model on the corpus text.

The budget is counted in updates: ``--epochs`` evaluations of ``--updates-per-epoch`` updates (default 12 x 250 =
3,000, :class:`~lstmviz.lmtrainer.LMTrainConfig`), never in seconds; two layers unless ``--layers`` says otherwise::

    python -m lstmviz.train charlm --cell lstm --threads 1 --out checkpoints/charlm-lstm

Example:
    >>> from lstmviz.cli.common import Parser
    >>> p = Parser(prog="charlm")
    >>> add_charlm_arguments(p)
    >>> check_charlm(p.parse_args(["--layers", "1", "--dropout", "0.3"]))  # doctest: +NORMALIZE_WHITESPACE
    ["--dropout does not apply to charlm (the character model's dropout sits between layers: one layer has none)"]
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

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

if TYPE_CHECKING:  # imported where used: the language model's modules load only for this job
    from lstmviz.charlm import CharLMConfig
    from lstmviz.lmtrainer import LMTrainConfig

__all__ = ["add_charlm_arguments", "charlm_configs", "check_charlm", "run_charlm"]

_MODEL_FLAGS = (  # (dest, CharLMConfig field)
    ("embed", "embed_dim"),
    ("hidden", "hidden_size"),
    ("layers", "num_layers"),
    ("dropout", "dropout"),
    ("gate_bias", "gate_bias"),
)


def add_charlm_arguments(parser: argparse.ArgumentParser) -> None:
    """The flags of ``charlm``: corpus, model, update budget, optimiser, run.

    Example:
        >>> from lstmviz.cli.common import Parser
        >>> p = Parser(prog="charlm")
        >>> add_charlm_arguments(p)
        >>> p.parse_args(["--cell", "gru"]).cell
        'gru'
    """
    from lstmviz.models import CELLS

    g = parser.add_argument_group("data")
    g.add_argument("--data", default=DEFAULT_DATA, help=f"corpus CSV or directory (default: {DEFAULT_DATA})")
    g.add_argument("--split-seed", type=int, default=0, help="seed of the train/val/test split (default: 0)")
    g = parser.add_argument_group("model (defaults: CharLMConfig's)")
    g.add_argument("--cell", choices=CELLS, default="lstm", help="recurrent cell (default: lstm)")
    g.add_argument("--embed", type=int, help="character embedding size")
    g.add_argument("--hidden", type=int, help="hidden units per layer")
    g.add_argument("--layers", type=int, help="stacked recurrent layers (default: 2)")
    g.add_argument("--dropout", type=float, help="dropout between layers (two layers or more)")
    g.add_argument("--gate-bias", type=float, help="initial LSTM forget / GRU update gate bias (not --cell rnn)")
    g = parser.add_argument_group("training (defaults: LMTrainConfig's)")
    g.add_argument("--epochs", type=int, help="evaluations (default: 12)")
    g.add_argument("--updates-per-epoch", type=int, help="updates between two evaluations (default: 250)")
    add_optimizer_arguments(g)
    g.add_argument("--seed", type=int, default=0, help="training seed: initialisation, batches (default: 0)")
    add_run_arguments(parser, "checkpoint directory (default: checkpoints/charlm-<cell>)")


def check_charlm(args: argparse.Namespace) -> list[str]:
    """Messages for the given flags that do not act with the given ``--layers`` or ``--cell``."""
    rules: dict[str, str | None] = {}
    if args.layers == 1:
        rules["dropout"] = "the character model's dropout sits between layers: one layer has none"
    if args.cell == "rnn":
        rules["gate_bias"] = "--cell rnn has no gate"
    return refuse(args, rules, "charlm")


def charlm_configs(args: argparse.Namespace) -> tuple[CharLMConfig, LMTrainConfig]:
    """``(CharLMConfig, LMTrainConfig)`` from the flags; the default layers (2) and budget are the configs'.

    An "epoch" of a character model is one evaluation period: ``--epochs`` periods of ``--updates-per-epoch``
    updates (default 12 x 250 = 3,000 updates).

    Example:
        >>> from lstmviz.cli.common import Parser
        >>> p = Parser(prog="charlm")
        >>> add_charlm_arguments(p)
        >>> _, train = charlm_configs(p.parse_args(["--epochs", "2", "--updates-per-epoch", "5"]))
        >>> train.max_updates, train.eval_every
        (10, 5)
    """
    from lstmviz.charlm import CharLMConfig
    from lstmviz.lmtrainer import LMTrainConfig
    from lstmviz.trainer import check_int

    model = CharLMConfig.from_dict({**given(args, _MODEL_FLAGS), "cell": args.cell})
    train = {**given(args, OPTIM_FLAGS), **clip(args), "seed": args.seed}
    if args.epochs is not None or args.updates_per_epoch is not None:
        base = LMTrainConfig()
        epochs = base.max_updates // base.eval_every if args.epochs is None else args.epochs
        every = base.eval_every if args.updates_per_epoch is None else args.updates_per_epoch
        check_int("epochs", epochs, 1)  # before the product, so the error names the flag, not max_updates
        check_int("updates_per_epoch", every, 1)
        train.update(max_updates=epochs * every, eval_every=every)
    return model, LMTrainConfig(**train)


def run_charlm(args: argparse.Namespace) -> None:
    """Trains a character model on the corpus and writes its checkpoint (``--out``); prints its test bits/char.

    Example:
        >>> from lstmviz.train import parse_args
        >>> run_charlm(parse_args(["charlm", "--cell", "gru", "--out", "/tmp/charlm-gru"]))  # doctest: +SKIP
    """
    from lstmviz.chardata import prepare_chars
    from lstmviz.checkpoint import check_output_dir
    from lstmviz.lmtrainer import train_charlm

    model, train = charlm_configs(args)  # a bad value is refused before any folder or data is touched
    out = args.out or f"{CHECKPOINTS_ROOT}/charlm-{args.cell}"
    check_output_dir(out)
    data = prepare_chars(args.data, seed=args.split_seed)
    _, meta = train_charlm(data, model, train, out=out, log=None if args.quiet else print)
    tm = meta["test_metrics"]
    print(
        f"{args.cell}: test {tm['bpc']:.3f} bits/char "
        f"(unigram {tm['unigram_bpc']:.3f}, bigram {tm['bigram_bpc']:.3f}); "
        f"{meta['updates']} updates in {meta['train_seconds']:.0f} s; saved {out}"
    )
