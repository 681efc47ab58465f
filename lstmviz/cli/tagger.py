"""The ``tagger`` kind on the command line: the char-CNN + BiLSTM part-of-speech and entity tagger.

It trains on silver labels that slovnet gives the corpus sentences (the ``train`` extra, and the model files of
the natasha wheel: ``--slovnet``, ``--navec``); the budget is epochs (default 20), never seconds::

    python -m lstmviz.train tagger --slovnet $NATASHA_DATA --navec $NATASHA_DATA/navec_news_v1_1B_250K_300d_100q.tar \\
        --threads 2 --out checkpoints/tagger-lstm

Example:
    >>> from lstmviz.cli.common import Parser
    >>> p = Parser(prog="tagger")
    >>> add_tagger_arguments(p)
    >>> p.parse_args(["--layers", "1"]).layers
    1
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
)

if TYPE_CHECKING:  # imported where used: the tagger's modules load only for this job
    from lstmviz.tagger import TaggerConfig
    from lstmviz.tagtrainer import TagTrainConfig

__all__ = ["add_tagger_arguments", "check_tagger", "run_tagger", "tagger_configs"]

_MODEL_FLAGS = (("embed", "word_dim"), ("hidden", "hidden_size"), ("layers", "num_layers"), ("dropout", "dropout"))


def add_tagger_arguments(parser: argparse.ArgumentParser) -> None:
    """The flags of ``tagger``: silver-label sources, corpus, model, epochs, optimiser, run.

    Example:
        >>> from lstmviz.cli.common import Parser
        >>> p = Parser(prog="tagger")
        >>> add_tagger_arguments(p)
        >>> p.parse_args(["--slovnet", "/tmp/natasha"]).cell
        'lstm'
    """
    from lstmviz.models import CELLS

    g = parser.add_argument_group("data")
    g.add_argument(
        "--slovnet",
        help="folder with slovnet_morph_news_v1.tar and slovnet_ner_news_v1.tar (from the natasha wheel; "
        "default: an installed natasha's data folder)",
    )
    g.add_argument("--navec", help="navec .tar from the natasha wheel, which the slovnet taggers read")
    g.add_argument("--data", default=DEFAULT_DATA, help=f"corpus CSV or directory (default: {DEFAULT_DATA})")
    g.add_argument("--split-seed", type=int, default=0, help="seed of the train/val/test split (default: 0)")
    g = parser.add_argument_group("model (defaults: TaggerConfig's; always bidirectional)")
    g.add_argument("--cell", choices=CELLS, default="lstm", help="recurrent cell (default: lstm)")
    g.add_argument("--embed", type=int, help="word embedding size")
    g.add_argument("--hidden", type=int, help="hidden units per layer and direction")
    g.add_argument("--layers", type=int, help="stacked recurrent layers (default: 2)")
    g.add_argument("--dropout", type=float, help="dropout")
    g = parser.add_argument_group("training (defaults: TagTrainConfig's)")
    g.add_argument("--epochs", type=int, help="epochs (default: 20)")
    add_optimizer_arguments(g)
    g.add_argument("--seed", type=int, default=0, help="training seed: initialisation, batches, dropout (default: 0)")
    add_run_arguments(parser, "checkpoint directory (default: checkpoints/tagger-<cell>)")


def check_tagger(args: argparse.Namespace) -> list[str]:
    """No flag of the tagger depends on another's value: always empty."""
    return []


def tagger_configs(args: argparse.Namespace) -> tuple[TaggerConfig, TagTrainConfig]:
    """``(TaggerConfig, TagTrainConfig)`` from the flags; the default layers (2) and epochs are the configs'.

    Example:
        >>> from lstmviz.cli.common import Parser
        >>> p = Parser(prog="tagger")
        >>> add_tagger_arguments(p)
        >>> model, train = tagger_configs(p.parse_args(["--hidden", "8", "--epochs", "3"]))
        >>> model.hidden_size, train.epochs
        (8, 3)
    """
    from lstmviz.tagger import TaggerConfig
    from lstmviz.tagtrainer import TagTrainConfig

    model = TaggerConfig.from_dict({**given(args, _MODEL_FLAGS), "cell": args.cell})
    train = {**given(args, (("epochs", "epochs"), *OPTIM_FLAGS)), **clip(args), "seed": args.seed}
    return model, TagTrainConfig(**train)


def run_tagger(args: argparse.Namespace) -> None:
    """Labels the corpus with slovnet, trains the tagger and writes its checkpoint (``--out``); prints its scores.

    Example:
        >>> from lstmviz.train import parse_args
        >>> run_tagger(parse_args(["tagger", "--slovnet", "/tmp/natasha", "--out", "/tmp/tagger"]))  # doctest: +SKIP
    """
    from lstmviz.checkpoint import check_output_dir
    from lstmviz.tagdata import find_silver_files, prepare_tags, require_training_extra
    from lstmviz.tagtrainer import train_tagger

    model, train = tagger_configs(args)  # a bad value is refused before any folder or data is touched
    out = args.out or f"{CHECKPOINTS_ROOT}/tagger-{args.cell}"
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
