"""The old form of the training command (``--task``, ``--resume``, ``--lag-sweep``, ...), answered with the new one.

Before the CLI was organised by kind, one flat parser took every flag: ``python -m lstmviz.train --task charlm
--cell gru``. Such a command is no longer run; :func:`translate` gives the same command in the new form (the kind
or job first, every flag carried over in its order and spelling) and the CLI prints it and exits with status 2:

================================================  ============================================
old                                               new
================================================  ============================================
``--task sentiment|cue_recall|adding --cell C``   ``recurrent --task ... --cell C``
``--task sentiment|cue_recall --cell bow``        ``bow --task ...``
``--task charlm`` / ``--task tagger``             ``charlm`` / ``tagger``
``--compare``                                     ``compare``
``--resume``                                      ``resume``
``--lag-sweep`` / ``--bias-sweep``                ``sweep lag`` / ``sweep bias``
``--task sentiment --seed-study``                 ``study``
================================================  ============================================

Example:
    >>> translate(["--task", "charlm", "--cell", "gru", "--threads", "1", "--out", "checkpoints/charlm-gru"])
    ['charlm', '--cell', 'gru', '--threads', '1', '--out', 'checkpoints/charlm-gru']
    >>> translate(["--task", "cue_recall", "--lag-sweep", "--gate-bias", "4", "--tag", "b4"])
    ['sweep', 'lag', '--task', 'cue_recall', '--gate-bias', '4', '--tag', 'b4']
    >>> translate(["recurrent", "--cell", "gru"]) is None  # the new form is not an old one
    True
"""

from __future__ import annotations

import shlex
import sys
from collections.abc import Sequence

__all__ = ["OLD_SWITCHES", "OLD_VALUED", "explain", "translate"]

# Every flag of the old parser: those that take a value, and the switches.
OLD_VALUED = frozenset(
    "--task --slovnet --data --cell --out --variants --navec --lag --lag-max --lags --biases --seeds --workers --tag "
    "--cells --variant --n-train --embed --hidden --layers --dropout --gate-bias --input-gate-bias --min-freq "
    "--max-vocab --max-bytes --epochs --updates-per-epoch --stop-at --batch-size --lr --weight-decay --patience "
    "--clip --seed --split-seed --threads".split()
)
OLD_SWITCHES = frozenset(
    "--resume --compare --lag-sweep --bias-sweep --seed-study --merge --bidirectional --class-weighted "
    "--no-class-weighted --freeze-embedding --quiet".split()
)
_MODES = {  # old mode switch -> the new job
    "--resume": ["resume"],
    "--compare": ["compare"],
    "--lag-sweep": ["sweep", "lag"],
    "--bias-sweep": ["sweep", "bias"],
    "--seed-study": ["study"],
}
_OLD = OLD_VALUED | OLD_SWITCHES


def _flag(token: str) -> str | None:
    """The old flag a token spells (argparse took unique prefixes, like ``--lag-s``), or None."""
    if token in _OLD:
        return token
    matches = [f for f in _OLD if f.startswith(token)] if token.startswith("--") and len(token) > 2 else []
    return matches[0] if len(matches) == 1 else None


def _pairs(argv: Sequence[str]) -> list[tuple[str, list[str]]] | None:
    """``argv`` as (flag, its tokens) in order, or None when the old parser would not have read it."""
    pairs: list[tuple[str, list[str]]] = []
    i = 0
    while i < len(argv):
        name, eq, _ = argv[i].partition("=")
        flag = _flag(name)
        if flag is None or (eq and flag not in OLD_VALUED):
            return None
        if flag in OLD_VALUED and not eq:
            if i + 1 >= len(argv):
                return None
            pairs.append((flag, [flag, argv[i + 1]]))
            i += 2
        else:
            pairs.append((flag, [flag + argv[i][len(name) :]] if eq else [flag]))
            i += 1
    return pairs


def _value(pairs: list[tuple[str, list[str]]], flag: str) -> str | None:
    """The last value given to ``flag`` (argparse keeps the last), or None."""
    values = [toks[1] if len(toks) == 2 else toks[0].partition("=")[2] for f, toks in pairs if f == flag]
    return values[-1] if values else None


def translate(argv: Sequence[str]) -> list[str] | None:
    """The new command (without the program name) that does what the old-form ``argv`` did; None if not old.

    Every flag is carried over, in its order and spelling: a flag the new job does not take (as the old parser
    refused it in that mode) stays, so that the new command refuses it with its own message. Only the tokens that
    became the kind or job go: the mode switch, ``--task`` of charlm, tagger and the seed study, ``--cell bow``.

    Args:
        argv: The arguments after the program name.

    Returns:
        The new arguments, or None when ``argv`` is empty, starts with a kind or job, asks for help, or holds a
        token the old parser did not take (then the new parser answers it).

    Example:
        >>> translate(["--resume", "--out", "checkpoints/cue-gru", "--epochs", "80"])
        ['resume', '--out', 'checkpoints/cue-gru', '--epochs', '80']
        >>> translate(["--task", "sentiment", "--cell", "bow", "--seed", "4"])
        ['bow', '--task', 'sentiment', '--seed', '4']
    """
    if not argv or not argv[0].startswith("-") or argv[0] in ("-h", "--help"):
        return None
    pairs = _pairs(argv)
    if pairs is None:
        return None
    task = _value(pairs, "--task")
    mode = next((f for f, _ in pairs if f in _MODES), None)
    drop: set[str] = set()  # flags that became the job
    if mode is not None:
        job, drop = _MODES[mode], {mode}
        if mode == "--seed-study" and task == "sentiment":
            drop.add("--task")
    elif task in ("charlm", "tagger"):
        job, drop = [task], {"--task"}
    elif _value(pairs, "--cell") == "bow":
        job, drop = ["bow"], {"--cell"}
    else:
        job = ["recurrent"]
    return [*job, *(t for f, toks in pairs if f not in drop for t in toks)]


def explain(argv: Sequence[str], prog: str) -> int | None:
    """Prints the new form of an old-form command to stderr and returns 2; None when ``argv`` is not old.

    Example:
        >>> explain(["charlm", "--cell", "gru"], "python -m lstmviz.train") is None
        True
    """
    new = translate(argv)
    if new is None:
        return None
    job = " ".join(new[:2] if new[0] == "sweep" else new[:1])
    print(
        f"{prog}: error: the flags-only form (--task, --resume, --compare, --lag-sweep, --bias-sweep, --seed-study) "
        f"is gone: the kind or job comes first. The same command is:\n    {prog} {shlex.join(new)}\n"
        f"(`{prog} --help` lists the kinds and jobs, `{prog} {job} --help` the flags of this one)",
        file=sys.stderr,
    )
    return 2
