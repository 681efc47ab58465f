"""The sentiment seed study on the command line (``study``): every variant x cell x seed, and the baselines.

It writes ``<out>/sentiment_seeds.{json,md}``: mean ± sd per recipe, each run's test predictions and paired
bootstrap intervals, also of the shipped ``sentiment-{rnn,gru,lstm,bow}`` found under ``--checkpoints``. The runs go to
``--workers`` single-thread processes or, with ``--engine ray``, to Ray tasks; ``--merge`` extends the stored
file (:func:`lstmviz.sentiment_study.merge_runs`)::

    python -m lstmviz.train study --seeds 5 --workers 2 --navec $NAVEC --out results

Example:
    >>> from lstmviz.cli.common import Parser
    >>> p = Parser(prog="study")
    >>> add_study_arguments(p)
    >>> check_study(p.parse_args(["--address", "ray://head:10001"]))
    ['--address does not apply to study (it names a Ray cluster: add --engine ray)']
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from lstmviz.cli.common import CHECKPOINTS_ROOT, DEFAULT_DATA, RESULTS_ROOT, add_run_arguments, refuse
from lstmviz.cli.sweep import add_engine_arguments

__all__ = ["add_study_arguments", "check_study", "run_study"]


def add_study_arguments(parser: argparse.ArgumentParser) -> None:
    """The flags of ``study``: corpus, variants, pretrained vectors, the runner, run.

    Example:
        >>> from lstmviz.cli.common import Parser
        >>> p = Parser(prog="study")
        >>> add_study_arguments(p)
        >>> p.parse_args(["--variants", "bow,base", "--seeds", "2"]).seeds
        2
    """
    g = parser.add_argument_group("what it trains")
    g.add_argument("--data", default=DEFAULT_DATA, help=f"corpus CSV or directory (default: {DEFAULT_DATA})")
    g.add_argument("--variants", help="variants, comma-separated (default: all; see lstmviz.sentiment_study)")
    g.add_argument(
        "--navec", help="navec .tar from the natasha wheel (without it the pretrained variants are left out)"
    )
    g.add_argument(
        "--checkpoints",
        default=CHECKPOINTS_ROOT,
        help="folder of the shipped sentiment-{rnn,gru,lstm,bow}, compared on the same test split when all four "
        f"are there (default: {CHECKPOINTS_ROOT})",
    )
    g = parser.add_argument_group("runs")
    add_engine_arguments(g)
    add_run_arguments(parser, f"folder of the result file (default: {RESULTS_ROOT})")


def check_study(args: argparse.Namespace) -> list[str]:
    """Messages for the given flags that do not act with the given engine."""
    return refuse(
        args, {} if args.engine == "ray" else {"address": "it names a Ray cluster: add --engine ray"}, "study"
    )


def run_study(args: argparse.Namespace) -> None:
    """Runs the study, writes ``sentiment_seeds.{json,md}`` and prints the table.

    Example:
        >>> from lstmviz.train import parse_args
        >>> run_study(parse_args(["study", "--variants", "bow", "--seeds", "2", "--out", "/tmp/s"]))  # doctest: +SKIP
    """
    from lstmviz import sentiment_study as ss

    variants = [v.strip() for v in args.variants.split(",") if v.strip()] if args.variants else None
    specs = ss.study_specs(args.data, seeds=range(args.seeds), variants=variants, navec=args.navec)
    root = Path(args.out or RESULTS_ROOT)
    target = root / "sentiment_seeds.json"
    # --merge: extend the stored file; its runs are kept, a run it has without predictions is trained again and
    # must reproduce its row exactly (lstmviz.sentiment_study.merge_runs).
    previous = ss.read_study(target) if args.merge and target.is_file() else None
    # The shipped sentiment-{rnn,gru,lstm,bow}, when all are there, are scored on the same test split.
    models = Path(args.checkpoints)
    found = all((models / f"sentiment-{name}" / "meta.json").is_file() for name in ss.SHIPPED)
    shipped = ss.shipped_predictions(models, args.data) if found else None

    def progress(run: dict[str, Any], done: int, total: int) -> None:
        if not args.quiet:
            print(
                f"[{done}/{total}] {run['variant']} {run['cell']} seed {run['seed']}: test acc "
                f"{run['test_accuracy']:.3f} f1 {run['test_macro_f1']:.3f}, {run['seconds']:.0f} s",
                flush=True,
            )

    study = ss.run_study(
        specs,
        workers=args.workers,
        progress=progress,
        previous=previous,
        shipped=shipped,
        engine=args.engine,
        address=args.address,
    )
    json_path, md_path = ss.write_study(study, root / "sentiment_seeds")
    print(md_path.read_text(encoding="utf-8"))
    print(f"wrote {json_path} and {md_path} in {study['parts'][-1]['wall_seconds']:.0f} s")
