"""The ``lstmviz`` command (console script, or ``python -m lstmviz``): ``train <kind> ...`` and ``dashboard``.

::

    lstmviz train charlm --cell gru --out checkpoints/charlm-gru   # = python -m lstmviz.train charlm ...
    lstmviz train --help                                           # the kinds and jobs
    lstmviz dashboard --port 8600                                  # the Streamlit app, on this machine only

Example:
    >>> main(["--help"])  # doctest: +ELLIPSIS
    usage: lstmviz {train,dashboard} ...
    ...
    0
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

__all__ = ["main"]

_USAGE = "usage: lstmviz {train,dashboard} ..."
_HELP = f"""{_USAGE}

Record and visualise gates, states and gradients through time of PyTorch LSTM/GRU/RNN models.

commands:
  train <kind> ...   train a model of one kind, or run a sweep or study (lstmviz train --help)
  dashboard ...      start the dashboard on this machine (lstmviz dashboard --help)
"""


def main(argv: Sequence[str] | None = None) -> int:
    """Runs ``lstmviz COMMAND ...``; returns the exit status (0 ok, 2 usage error; train: 3 diverged).

    Example:
        >>> main(["fly"])
        2
    """
    argv = list(sys.argv[1:] if argv is None else argv)
    command, rest = (argv[0], argv[1:]) if argv else (None, [])
    if command in ("-h", "--help"):
        print(_HELP, end="")
        return 0
    if command == "train":
        from lstmviz.train import main as train

        return train(rest, prog="lstmviz train")
    if command == "dashboard":
        from lstmviz.cli.dashboard import main as dashboard

        return dashboard(rest, prog="lstmviz dashboard")
    what = "a command is missing" if command is None else f"command {command!r} is unknown"
    print(f"{_USAGE}\nlstmviz: error: {what}; allowed: train, dashboard", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
