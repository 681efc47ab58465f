"""What the training jobs share: the parser class, the run and optimiser flags, given flags, refusals.

The modules of :mod:`lstmviz.cli` import the library where they use it, not at the top: a kind's entry in the
registry (:mod:`lstmviz.kinds`) may point at them, and the library's modules import the registry.

A flag whose default would hide whether the user gave it defaults to ``None`` (a switch: ``False``), so that
``check_<job>`` can refuse a given flag that does not act with another flag's value; the run function puts the
documented default in afterwards.

Example:
    >>> p = Parser(prog="demo")
    >>> add_run_arguments(p, "checkpoint directory")
    >>> p.parse_args(["--out", "/tmp/x", "--quiet"]).threads
    2
    >>> p.parse_args(["--ou", "/tmp/x"])  # no abbreviations: --lag must never be read as --lags
    Traceback (most recent call last):
    lstmviz.cli.common.UsageError: unrecognized arguments: --ou /tmp/x
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

__all__ = [
    "Job",
    "CHECKPOINTS_ROOT",
    "DEFAULT_DATA",
    "OPTIM_FLAGS",
    "PROG",
    "RESULTS_ROOT",
    "Parser",
    "UsageError",
    "add_optimizer_arguments",
    "add_run_arguments",
    "cell_list",
    "clip",
    "floats",
    "given",
    "ints",
    "is_given",
    "option",
    "refuse",
]

PROG = "python -m lstmviz.train"  # the command's name in usage lines and in the new form of an old command
DEFAULT_DATA = "../shared/data/opensentimentcorpus"  # the corpus every text model trains on by default
CHECKPOINTS_ROOT = "checkpoints"  # the shipped models
RESULTS_ROOT = "results"  # where the sweeps and the study write their files when --out is not given


@dataclass(frozen=True)
class Job:
    """One subcommand of ``python -m lstmviz.train``: a model kind to train (a kind returns its own from
    :meth:`lstmviz.kinds.Kind.train_job`), or a job over runs (a comparison, a resume, a sweep, a study)."""

    name: str  # as typed; "sweep lag" is the subcommand lag of sweep
    help: str  # one line in the list of subcommands
    add_arguments: Callable[[argparse.ArgumentParser], None]  # adds its flags and their help
    check: Callable[[argparse.Namespace], list[str]]  # refusals that depend on a value; [] when all flags act
    run: Callable[[argparse.Namespace], None]  # trains or runs, writes its files
    aliases: tuple[str, ...] = ()  # other names of the subcommand


class UsageError(Exception):
    """A command line the CLI refuses; ``parser`` is the (sub)command whose usage line goes with the message."""

    def __init__(self, message: str, parser: argparse.ArgumentParser) -> None:
        super().__init__(message)
        self.message = message
        self.parser = parser


class Parser(argparse.ArgumentParser):
    """An ``ArgumentParser`` that raises :class:`UsageError` instead of exiting and takes no abbreviated flags.

    Raising lets :func:`lstmviz.train.parse_args` check a command without running or exiting (the README test),
    and lets the CLI name the job in a refusal; subcommand parsers are of this class too.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("allow_abbrev", False)
        kwargs.setdefault("formatter_class", argparse.RawDescriptionHelpFormatter)  # keep the examples' lines
        super().__init__(*args, **kwargs)

    def error(self, message: str) -> None:  # type: ignore[override]
        raise UsageError(message, self)


def ints(s: str) -> list[int]:
    """Comma-separated integers (``--lags 10,20``)."""
    return [int(v) for v in s.split(",") if v.strip()]


def floats(s: str) -> list[float]:
    """Comma-separated numbers (``--biases 0,1,2``)."""
    return [float(v) for v in s.split(",") if v.strip()]


def cell_list(s: str) -> list[str]:
    """Comma-separated cells (``--cells gru,lstm``), each one of :data:`~lstmviz.models.CELLS`."""
    from lstmviz.models import CELLS

    cells = [v.strip() for v in s.split(",") if v.strip()]
    if not cells or any(c not in CELLS for c in cells):
        raise argparse.ArgumentTypeError(f"{s!r}: allowed cells are {', '.join(CELLS)}, comma-separated")
    return cells


def add_run_arguments(parser: argparse.ArgumentParser, out_help: str) -> None:
    """``--out``, ``--threads`` and ``--quiet``: the flags of every training job."""
    g = parser.add_argument_group("run")
    g.add_argument("--out", help=out_help)
    g.add_argument("--threads", type=int, default=2, help="torch CPU threads (default: 2)")
    g.add_argument("--quiet", action="store_true", help="no progress bar or per-epoch lines")


OPTIM_FLAGS = (("batch_size", "batch_size"), ("lr", "lr"), ("weight_decay", "weight_decay"))  # (dest, config field)


def add_optimizer_arguments(group: argparse._ArgumentGroup) -> None:
    """``--batch-size``, ``--lr``, ``--weight-decay`` and ``--clip`` (defaults: the job's train config)."""
    group.add_argument("--batch-size", type=int, help="batch size")
    group.add_argument("--lr", type=float, help="AdamW learning rate")
    group.add_argument("--weight-decay", type=float, help="AdamW weight decay")
    group.add_argument("--clip", type=float, help="gradient-norm clipping threshold (default: 1.0; 0: off)")


def given(args: argparse.Namespace, flags: Iterable[tuple[str, str]]) -> dict[str, Any]:
    """Config fields given on the command line, from ``(dest, field)`` pairs (``--stop-at 0`` turns the stop off).

    Example:
        >>> given(argparse.Namespace(lr=0.1, batch_size=None, stop_at=0.0), [("lr", "lr"), ("stop_at", "stop_at")])
        {'lr': 0.1, 'stop_at': None}
    """
    out = {key: getattr(args, dest) for dest, key in flags if getattr(args, dest, None) is not None}
    if out.get("stop_at") == 0:
        out["stop_at"] = None
    return out


def clip(args: argparse.Namespace) -> dict[str, float | None]:
    """``clip_grad_norm`` when --clip was given (``--clip 0`` turns clipping off).

    Example:
        >>> clip(argparse.Namespace(clip=0.0)), clip(argparse.Namespace(clip=None))
        ({'clip_grad_norm': None}, {})
    """
    return {} if args.clip is None else {"clip_grad_norm": args.clip or None}


def option(dest: str, value: Any = True) -> str:
    """The command-line spelling of an argparse dest (``class_weighted`` False: ``--no-class-weighted``).

    Example:
        >>> option("lag_max"), option("class_weighted", False)
        ('--lag-max', '--no-class-weighted')
    """
    if dest == "class_weighted" and value is False:
        return "--no-class-weighted"
    return "--" + dest.replace("_", "-")


def is_given(args: argparse.Namespace, dest: str) -> bool:
    """Whether the flag of ``dest`` was on the command line (defaults are None; a switch's is False)."""
    value = getattr(args, dest, None)
    return value is not None and (value is not False or dest == "class_weighted")


def refuse(args: argparse.Namespace, rules: Mapping[str, str | None], where: str) -> list[str]:
    """One message per flag in ``rules`` (dest -> why, or None) that was given: it does not act in ``where``.

    Example:
        >>> refuse(argparse.Namespace(lag=5, data=None), {"lag": None, "data": None}, "recurrent --task sentiment")
        ['--lag does not apply to recurrent --task sentiment']
        >>> refuse(argparse.Namespace(gate_bias=2.0), {"gate_bias": "--cell rnn has no gate"}, "charlm")
        ['--gate-bias does not apply to charlm (--cell rnn has no gate)']
    """
    return [
        f"{option(dest, getattr(args, dest))} does not apply to {where}" + (f" ({why})" if why else "")
        for dest, why in rules.items()
        if is_given(args, dest)
    ]
