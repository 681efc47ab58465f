"""The sweeps on the command line: an online task's success rate vs lag (``sweep lag``) or gate bias (``sweep bias``).

Every run trains a fresh model on fresh data (the task's recipe, hidden 32) for seeds 0..``--seeds``-1 and each
cell it sweeps (lag: rnn, gru, lstm; bias: gru, lstm; ``--cells`` narrows them), in ``--workers`` single-thread
processes or, with ``--engine ray``, as Ray tasks (``--address`` of a cluster; default: a local Ray).
The result is ``<out>/sweep_<task>_<lag|gate_bias>[_<tag>].{json,md}``; ``--merge`` runs only what that file
lacks, ``--variant`` adds a named recipe's rows to it::

    python -m lstmviz.train sweep lag --task cue_recall --seeds 10 --workers 2 --out results
    python -m lstmviz.train sweep bias --task cue_recall --lag 100 --seeds 10 --workers 2 --out results

Example:
    >>> from lstmviz.cli.common import Parser
    >>> p = Parser(prog="sweep lag")
    >>> add_sweep_arguments(p, "lag")
    >>> check_sweep(p.parse_args(["--task", "adding", "--input-gate-bias", "-4"]))  # doctest: +NORMALIZE_WHITESPACE
    ['--input-gate-bias does not apply to sweep lag --task adding (only the LSTM has an input gate: add --cells lstm)']
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from lstmviz.cli.common import (
    OPTIM_FLAGS,
    RESULTS_ROOT,
    add_optimizer_arguments,
    add_run_arguments,
    cell_list,
    clip,
    floats,
    given,
    ints,
    refuse,
)

__all__ = ["ENGINES", "SWEEPS", "add_engine_arguments", "add_sweep_arguments", "check_sweep", "run_sweep"]

SWEEPS = {"lag": "lag", "bias": "gate_bias"}  # subcommand -> the sweep's kind (stored, and in the file name)
ENGINES = ("local", "ray")  # where the runs run: worker processes here, or Ray tasks
_MODEL_FLAGS = (
    ("embed", "embed_dim"),
    ("hidden", "hidden_size"),
    ("dropout", "dropout"),
    ("input_gate_bias", "input_gate_bias"),
)
_TRAIN_FLAGS = (
    ("epochs", "epochs"),
    *OPTIM_FLAGS,
    ("patience", "patience"),
    ("updates_per_epoch", "updates_per_epoch"),
    ("stop_at", "stop_at"),
)


def add_engine_arguments(group: argparse._ArgumentGroup) -> None:
    """``--seeds``, ``--workers``, ``--merge``, ``--engine`` and ``--address``: the multi-seed runner's flags."""
    group.add_argument("--seeds", type=int, default=5, help="seeds 0..N-1 (default: 5)")
    group.add_argument("--workers", type=int, default=2, help="parallel single-thread processes (default: 2)")
    group.add_argument(
        "--merge",
        action="store_true",
        help="add to the existing result file, running only the runs it lacks (its runs are kept; a stored run "
        "trained again must reproduce its row)",
    )
    group.add_argument(
        "--engine", choices=ENGINES, default="local", help="local processes or Ray tasks (default: local)"
    )
    group.add_argument("--address", help="--engine ray: the Ray cluster's address (default: start a local Ray)")


def add_sweep_arguments(parser: argparse.ArgumentParser, sweep: str) -> None:
    """The flags of ``sweep lag`` (``sweep="lag"``) or ``sweep bias`` (``sweep="bias"``).

    Example:
        >>> from lstmviz.cli.common import Parser
        >>> p = Parser(prog="sweep bias")
        >>> add_sweep_arguments(p, "bias")
        >>> p.parse_args(["--task", "cue_recall", "--biases", "0,4"]).biases
        [0.0, 4.0]
    """
    from lstmviz.taskdata import ONLINE_TASKS

    if sweep not in SWEEPS:
        raise ValueError(f"sweep={sweep!r} is invalid; allowed: {', '.join(SWEEPS)}")
    parser.set_defaults(sweep=sweep)
    parser.add_argument("--task", choices=ONLINE_TASKS, required=True, help="the online task (required)")
    g = parser.add_argument_group("what it sweeps")
    if sweep == "lag":
        g.add_argument(
            "--lags", type=ints, help="comma-separated (default: cue_recall 10,20,50,100,200; adding 10,50,100)"
        )
        g.add_argument("--gate-bias", type=float, help="initial gate bias of every run (default: the task's, 1)")
        cells = "rnn,gru,lstm"
    else:
        g.add_argument("--biases", type=floats, help="gate biases, comma-separated (default: 0,1,2,4)")
        g.add_argument("--lag", type=int, help="the lag of every run (default: 100)")
        cells = "gru,lstm"
    g.add_argument("--cells", type=cell_list, help=f"the cells to run, comma-separated (default: {cells})")
    g = parser.add_argument_group("runs")
    add_engine_arguments(g)
    g.add_argument("--tag", default="", help="suffix of the result file, sweep_<task>_<kind>_<tag>.json")
    g.add_argument(
        "--variant",
        help="with --merge: name the recipe the given model/training flags make (e.g. 'lr 0.001'); its rows are "
        "summarised apart from the file's shared recipe",
    )
    g = parser.add_argument_group("model and training (defaults: the task's)")
    g.add_argument("--embed", type=int, help="embedding size (cue_recall)")
    g.add_argument("--hidden", type=int, help="hidden units")
    g.add_argument("--dropout", type=float, help="dropout before the head")
    g.add_argument("--input-gate-bias", type=float, help="initial LSTM input gate bias (with --cells lstm)")
    g.add_argument("--epochs", type=int, help="maximum evaluations")
    g.add_argument("--updates-per-epoch", type=int, help="updates between two evaluations")
    add_optimizer_arguments(g)
    g.add_argument("--patience", type=int, help="early-stopping patience in evaluations (0: off)")
    g.add_argument("--stop-at", type=float, help="success: val accuracy reaches / val MSE falls to this")
    add_run_arguments(parser, f"root directory of the result file (default: {RESULTS_ROOT})")


def check_sweep(args: argparse.Namespace) -> list[str]:
    """Messages for the given flags that do not act with the given task, cells, ``--merge`` or engine."""
    rules: dict[str, str | None] = {}
    if args.task == "adding":
        rules["embed"] = "the adding problem's inputs are numbers: there is no embedding"
    if args.cells != ["lstm"]:
        rules["input_gate_bias"] = "only the LSTM has an input gate: add --cells lstm"
    if not args.merge:
        rules["variant"] = "a variant is added to an existing sweep: add --merge"
    if args.engine != "ray":
        rules["address"] = "it names a Ray cluster: add --engine ray"
    return refuse(args, rules, f"sweep {args.sweep} --task {args.task}")


def _spec_key(r: Any) -> tuple:
    """(cell, lag, gate bias, variant, seed) of a run row or a RunSpec's fields: what --merge skips."""
    return (r["cell"], r["lag"], r["gate_bias"], r.get("variant"), r["seed"])


def run_sweep(args: argparse.Namespace) -> None:
    """Runs the sweep, writes its JSON and Markdown files and prints the table.

    Example:
        >>> from lstmviz.train import parse_args
        >>> run_sweep(parse_args(["sweep", "lag", "--task", "adding", "--seeds", "2"]))  # doctest: +SKIP
    """
    from lstmviz import sweeps

    kind = SWEEPS[args.sweep]
    root = args.out or RESULTS_ROOT
    if args.tag and not args.tag.replace("-", "").replace("_", "").isalnum():
        raise ValueError(f"--tag {args.tag!r} is invalid; allowed: letters, digits, '-' and '_'")
    target = Path(root) / f"sweep_{args.task}_{kind}{f'_{args.tag}' if args.tag else ''}.json"
    base = sweeps.load_sweep(target) if args.merge and target.is_file() else None
    model = given(args, _MODEL_FLAGS)
    train = {**given(args, _TRAIN_FLAGS), **clip(args)}
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
    common = {"cells": args.cells, "seeds": range(args.seeds), "model": model, "train": train, **variant}
    if kind == "lag":
        lags = args.lags or sweeps.DEFAULT_LAGS[args.task]
        specs = sweeps.default_specs(args.task, "lag", lags=lags, gate_bias=args.gate_bias, **common)
    else:
        lags = None if args.lag is None else [args.lag]  # None: the sweep's own default lag
        biases = args.biases or sweeps.DEFAULT_BIASES
        specs = sweeps.default_specs(args.task, "gate_bias", lags=lags, gate_biases=biases, **common)
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

    result = sweeps.run_sweep(
        specs, kind=kind, workers=args.workers, progress=progress, engine=args.engine, address=args.address
    )
    if base is not None:
        result = sweeps.merge_sweeps(base, result)
    json_path, md_path = sweeps.write_sweep(result, target)
    print(md_path.read_text(encoding="utf-8"))
    print(f"wrote {json_path} and {md_path} in {result['wall_seconds']:.0f} s")
