"""Command line for training, by model kind: ``python -m lstmviz.train <kind or job> [flags]``.

The first argument is the model kind to train, or a job over many runs; each takes only its own flags (``--help``
lists them) and refuses any other, naming it::

    python -m lstmviz.train recurrent --task sentiment --cell lstm --out checkpoints/sentiment-lstm
    python -m lstmviz.train recurrent --task cue_recall --lag 5 --lag-max 200 --cell gru --out checkpoints/cue-gru
    python -m lstmviz.train bow --task sentiment --seed 4 --out checkpoints/sentiment-bow
    python -m lstmviz.train charlm --cell gru --threads 1 --out checkpoints/charlm-gru
    python -m lstmviz.train tagger --slovnet $NATASHA_DATA --out checkpoints/tagger-lstm
    python -m lstmviz.train compare --task cue_recall --lag 20 --out /tmp/cue
    python -m lstmviz.train resume --out checkpoints/cue-gru --epochs 80
    python -m lstmviz.train sweep lag --task cue_recall --seeds 5 --workers 2 --out results
    python -m lstmviz.train sweep bias --task cue_recall --lag 100 --engine ray --out results
    python -m lstmviz.train study --seeds 5 --navec $NAVEC --out results

The jobs live in :mod:`lstmviz.cli` (one module each: flags, value-dependent refusals, run); this module assembles
them, sets the process-wide switches a library call must not touch (torch's thread count, deterministic
algorithms) and maps errors to exit codes. The old flags-only form (``--task charlm --cell gru``) is not run: the
same command in the new form is printed (:mod:`lstmviz.cli.legacy`) with exit status 2.

Exit status: 0 ok, 2 usage or data error, 3 the loss diverged (the checkpoint keeps the last good epoch).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

import torch
from safetensors import SafetensorError

from lstmviz.cli import classifier, legacy, study, sweep
from lstmviz.cli.common import PROG, Job, Parser, UsageError
from lstmviz.tagdata import MissingExtraError
from lstmviz.trainer import TrainingDiverged

__all__ = ["EXIT_DIVERGED", "RUN_JOBS", "Job", "build_parser", "jobs", "main", "parse_args"]

EXIT_DIVERGED = 3  # CLI exit status when the loss became NaN/Inf


# The jobs over runs; the model kinds' own subcommands come first, from the registry (Kind.train_job).
RUN_JOBS: tuple[Job, ...] = (
    Job(
        "compare",
        "job: rnn, gru and lstm classifiers under identical settings, and the comparison tables",
        classifier.add_compare_arguments,
        classifier.check_compare,
        classifier.run_compare,
    ),
    Job(
        "resume",
        "job: continue a classifier checkpoint exactly (more epochs, other optimiser settings)",
        classifier.add_resume_arguments,
        classifier.check_resume,
        classifier.run_resume,
    ),
    Job(
        "sweep lag",
        "success rate vs lag: cells x lags x seeds",
        lambda p: sweep.add_sweep_arguments(p, "lag"),
        sweep.check_sweep,
        sweep.run_sweep,
    ),
    Job(
        "sweep bias",
        "success rate vs initial gate bias at one lag: gru, lstm x biases x seeds",
        lambda p: sweep.add_sweep_arguments(p, "bias"),
        sweep.check_sweep,
        sweep.run_sweep,
    ),
    Job(
        "study",
        "job: the sentiment seed study, every variant x cell x seed and the baselines, paired intervals",
        study.add_study_arguments,
        study.check_study,
        study.run_study,
    ),
)


def jobs() -> tuple[Job, ...]:
    """Every subcommand: one per registered model kind that can be trained here (in registry order), then the jobs.

    Example:
        >>> [j.name for j in jobs()][:4]
        ['recurrent', 'bow', 'charlm', 'tagger']
    """
    from lstmviz.kinds import KINDS

    kinds = tuple(job for job in (KINDS[name].train_job() for name in KINDS) if job is not None)
    return kinds + RUN_JOBS


_SWEEP_HELP = "job: multi-seed sweeps of the online tasks (sweep lag, sweep bias)"

# Why a flag that a job does not take is refused there, where that says more than the list of jobs that take it.
# Keyed by (flag, job) or by job alone (every flag it does not take).
_NO_MODEL = "the bag-of-words baseline has no embedding and no recurrent layers"
_HINTS: dict[tuple[str, str] | str, str] = {
    "--n-train": "no task takes a training-set size: the online tasks draw fresh training data every batch",
    "resume": "resume continues the stored model and data: only the optimisation settings may change",
    ("--task", "charlm"): "the job names the kind",
    ("--task", "tagger"): "the job names the kind",
    ("--task", "study"): "the study is of the sentiment task",
    ("--cell", "compare"): "it trains rnn, gru and lstm",
    ("--input-gate-bias", "compare"): "it trains rnn and gru too, which have no input gate",
    ("--cell", "sweep lag"): "it sweeps rnn, gru and lstm: choose with --cells",
    ("--cell", "sweep bias"): "it sweeps gru and lstm: choose with --cells",
    ("--cell", "study"): "it trains every cell of every variant",
    ("--seed", "sweep lag"): "it runs seeds 0..--seeds-1",
    ("--seed", "sweep bias"): "it runs seeds 0..--seeds-1",
    ("--seed", "study"): "it runs seeds 0..--seeds-1",
    ("--lag", "sweep lag"): "give the lags with --lags",
    ("--gate-bias", "sweep bias"): "give the biases with --biases",
    ("--bidirectional", "charlm"): "a language model reads left to right",
    ("--bidirectional", "tagger"): "the tagger is always bidirectional",
    **{(f, "bow"): _NO_MODEL for f in ("--cell", "--navec", "--embed", "--hidden", "--layers", "--bidirectional")},
    **{(f, "bow"): _NO_MODEL for f in ("--dropout", "--gate-bias", "--input-gate-bias", "--freeze-embedding")},
}


def build_parser(prog: str = PROG) -> tuple[argparse.ArgumentParser, dict[str, argparse.ArgumentParser]]:
    """The parser of the training command and each job's own parser, by job name.

    Example:
        >>> parser, jobs = build_parser()
        >>> sorted(jobs)
        ['bow', 'charlm', 'compare', 'recurrent', 'resume', 'study', 'sweep bias', 'sweep lag', 'tagger']
    """
    parser = Parser(
        prog=prog,
        description="Train one model of a kind, or run a job over many runs. Each takes only its own flags:\n"
        f"  {prog} <kind or job> --help",
        epilog=f"""examples:
  {prog} recurrent --task sentiment --cell gru --navec $NAVEC --freeze-embedding --seed 2
  {prog} recurrent --task cue_recall --cell lstm --lag 5 --lag-max 200 --gate-bias 4 --out /tmp/cue
  {prog} charlm --cell gru --threads 1 --out checkpoints/charlm-gru
  {prog} sweep lag --task cue_recall --seeds 5 --workers 2
  {prog} resume --out /tmp/cue --epochs 80

Exit status: 0 ok, 2 usage or data error, 3 the loss diverged (the checkpoint keeps the last good epoch).
The old form ({prog} --task ...) is not run: it prints the same command in this form.""",
    )
    subs = parser.add_subparsers(dest="job_as_typed", metavar="<kind or job>", required=True)
    groups: dict[str, argparse._SubParsersAction] = {}
    parsers: dict[str, argparse.ArgumentParser] = {}
    for job in jobs():
        head, _, leaf = job.name.partition(" ")
        if leaf:  # a job with variants: "sweep lag" is the subcommand lag of the subcommand sweep
            if head not in groups:
                group = subs.add_parser(head, help=_SWEEP_HELP, description=_SWEEP_HELP.removeprefix("job: "))
                groups[head] = group.add_subparsers(dest=f"{head}_as_typed", metavar="<sweep>", required=True)
            where, name = groups[head], leaf
        else:
            where, name = subs, job.name
        p = where.add_parser(
            name,
            aliases=list(job.aliases),
            help=job.help,
            description=job.help.removeprefix("kind: ").removeprefix("job: "),
        )
        job.add_arguments(p)
        p.set_defaults(job=job.name)
        parsers[job.name] = p
    return parser, parsers


def _job(name: str) -> Job:
    return next(job for job in jobs() if job.name == name)


def _unknown(extras: list[str], args: argparse.Namespace, parsers: dict[str, argparse.ArgumentParser]) -> list[str]:
    """One message per token the job did not take: the flag, the job (and task), and why or where it belongs."""
    where = args.job + (f" --task {args.task}" if getattr(args, "task", None) and args.job != "resume" else "")
    messages = []
    for i, token in enumerate(extras):
        flag = token.partition("=")[0]
        if not flag.startswith("--"):
            if i > 0 and extras[i - 1].startswith("--") and "=" not in extras[i - 1]:
                continue  # the value of the refused flag before it
            messages.append(f"unexpected argument {token!r} for {where}")
            continue
        hint = _HINTS.get((flag, args.job)) or _HINTS.get(flag) or _HINTS.get(args.job)
        if hint is None:
            owners = [name for name, p in parsers.items() if flag in p._option_string_actions]
            hint = f"a flag of: {', '.join(owners)}" if owners else None
        messages.append(f"{flag} does not apply to {where}" + (f" ({hint})" if hint else ""))
    return messages


def parse_args(argv: Sequence[str], prog: str = PROG) -> argparse.Namespace:
    """The parsed command line, every flag checked; nothing is trained or written.

    Raises:
        UsageError: naming each flag that does not act (and the job and task), or argparse's message.

    Example:
        >>> parse_args(["charlm", "--cell", "gru", "--layers", "1"]).layers
        1
        >>> parse_args(["charlm", "--patience", "3"])
        Traceback (most recent call last):
        lstmviz.cli.common.UsageError: --patience does not apply to charlm (a flag of: recurrent, bow, compare, resume, sweep lag, sweep bias)
    """  # noqa: E501
    parser, parsers = build_parser(prog)
    args, extras = parser.parse_known_args(list(argv))
    errors = _unknown(extras, args, parsers) + _job(args.job).check(args)
    if errors:
        raise UsageError("; ".join(errors), parsers[args.job])
    return args


def main(argv: Sequence[str] | None = None, prog: str = PROG) -> int:
    """Command-line entry point; returns the exit status (0 ok, 2 usage/data error, 3 diverged).

    The process-wide switches are set here, for this process only, and put back on return,
    so calling ``main`` from Python leaves torch as it was.

    Example:
        >>> main(["recurrent", "--task", "cue_recall", "--lag", "5", "--epochs", "1", "--out", "/tmp/cue"])  # doctest: +SKIP
        0
    """  # noqa: E501
    argv = list(sys.argv[1:] if argv is None else argv)
    old = legacy.explain(argv, prog)
    if old is not None:
        return old
    try:
        args = parse_args(argv, prog)
    except UsageError as e:
        e.parser.print_usage(sys.stderr)
        print(f"{e.parser.prog}: error: {e.message}", file=sys.stderr)
        return 2
    old_threads, old_det = torch.get_num_threads(), torch.are_deterministic_algorithms_enabled()
    torch.set_num_threads(max(1, args.threads))
    torch.use_deterministic_algorithms(True)
    try:
        _job(args.job).run(args)
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
