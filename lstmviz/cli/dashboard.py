"""``lstmviz dashboard``: start the Streamlit app of the installed ``dashboard`` package, on this machine only.

It runs ``python -m streamlit run <dashboard/app.py>`` from any folder with the settings of the repository's
``.streamlit/config.toml`` as flags (:data:`SETTINGS`: run from another folder, Streamlit would not read that file),
so the dashboard listens on 127.0.0.1 only unless you name an address (``--address 0.0.0.0``, or Streamlit's own
``--server.address``): there is no login, and sharing it with a network is your decision. Any other argument goes
to Streamlit unchanged, and a setting you give wins over ours::

    lstmviz dashboard                         # http://localhost:8501
    lstmviz dashboard --port 8600
    lstmviz dashboard --address 0.0.0.0       # every interface: anyone who can reach this port
    lstmviz dashboard --models my_models.py   # your own models beside ours (lstmviz.adapters; the file is code)

``--models FILE`` (repeatable) names a Python file of the user's own models (:mod:`lstmviz.adapters`); it reaches the
app after ``--`` as ``--models FILE`` (absolute path), the one way besides ``$LSTMVIZ_MODELS``: the file is code that
runs in the server, so only the person starting it names one.

Example:
    >>> command = streamlit_command(["--port", "8600", "--theme.base", "dark"], app="app.py")
    >>> command[3:5], command[-4:]
    (['run', 'app.py'], ['--server.port', '8600', '--theme.base', 'dark'])
    >>> command[command.index("--server.address") + 1]
    '127.0.0.1'
    >>> streamlit_command(["--models", "lstmviz/adapters.py"], app="app.py")[-3:-1]
    ['--', '--models']
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

from lstmviz.cli.common import Parser, UsageError

__all__ = ["SETTINGS", "app_path", "main", "streamlit_command"]

# The repository's .streamlit/config.toml, flattened (a test keeps them equal): what the app needs whatever the folder.
SETTINGS = {
    "global.disableWidgetStateDuplicationWarning": "true",  # lessons and links set widgets through session state
    "client.showErrorDetails": "none",  # never send a traceback to the page
    "client.toolbarMode": "viewer",
    "server.headless": "true",  # open no browser window
    "server.address": "127.0.0.1",  # this machine only: a visitor on the network gets nothing without --address
    "browser.gatherUsageStats": "false",
}


def _parser(prog: str) -> argparse.ArgumentParser:
    p = Parser(
        prog=prog,
        description="Start the lstmviz dashboard (Streamlit) on this machine; other arguments go to Streamlit.",
    )
    p.add_argument("--port", type=int, help="server port (default: Streamlit's, 8501)")
    p.add_argument(
        "--address",
        help=f"server address (default: {SETTINGS['server.address']}, this machine only; 0.0.0.0: every interface, "
        "anyone who can reach the port)",
    )
    p.add_argument(
        "--models",
        action="append",
        default=[],
        metavar="FILE",
        help="a Python file of your own models (MODELS: a list of lstmviz.adapters.Adapter); repeatable. It is code: "
        "it runs in the server like app.py",
    )
    return p


def app_path() -> Path:
    """``app.py`` of the installed ``dashboard`` package, found without importing it (importing draws nothing,
    but the app's page modules are not importable outside Streamlit).

    Raises:
        FileNotFoundError: when the ``dashboard`` package is not installed or has no ``app.py``.

    Example:
        >>> app_path().name
        'app.py'
    """
    spec = importlib.util.find_spec("dashboard")
    folders = list(spec.submodule_search_locations or []) if spec else []
    app = next((Path(f) / "app.py" for f in folders if (Path(f) / "app.py").is_file()), None)
    if app is None:
        raise FileNotFoundError("the dashboard package is not installed; install it with: pip install -e .[dashboard]")
    return app


def streamlit_command(argv: Sequence[str], *, app: str | Path | None = None) -> list[str]:
    """The ``python -m streamlit run`` command line for ``lstmviz dashboard ARGV``.

    Args:
        argv: ``--port``, ``--address`` and any Streamlit arguments (passed on in their order).
        app: The app file (default: :func:`app_path`).

    Raises:
        UsageError: for a bad ``--port`` value or a missing value.

    Example:
        >>> command = streamlit_command(["--server.address", "0.0.0.0"], app="app.py")
        >>> command.count("--server.address"), command[-2:]
        (1, ['--server.address', '0.0.0.0'])
    """
    args, rest = _parser("lstmviz dashboard").parse_known_args(list(argv))
    given = {t.removeprefix("--").partition("=")[0] for t in rest if t.startswith("--")}  # the user's settings win
    ours = {**SETTINGS, **({"server.address": args.address} if args.address else {})}
    if args.port is not None:
        ours["server.port"] = str(args.port)
    command = [sys.executable, "-m", "streamlit", "run", str(app or app_path())]
    for key, value in ours.items():
        if key not in given:
            command += [f"--{key}", value]
    command += rest
    models = []
    for f in args.models:
        path = Path(f).expanduser().resolve()
        if not path.is_file() or path.suffix != ".py":
            raise UsageError(f"--models {f}: not a .py file", _parser("lstmviz dashboard"))
        models += ["--models", str(path)]
    return command + (["--", *models] if models else [])


def _exec(command: list[str]) -> int:
    """Runs ``command`` in place of this process where the OS can (POSIX: Ctrl-C and SIGTERM reach Streamlit
    itself, which stops cleanly), else as a child; returns its exit status."""
    if os.name == "posix":
        os.execv(command[0], command)  # does not return
    try:
        return subprocess.call(command)
    except KeyboardInterrupt:  # the console sent Ctrl-C to Streamlit too, and it stops on its own
        return 130


def main(argv: Sequence[str] | None = None, prog: str = "lstmviz dashboard") -> int:
    """Starts the dashboard; returns a usage error's status (2), or Streamlit's where it runs as a child.

    Example:
        >>> main(["--port", "8600"])  # doctest: +SKIP
    """
    argv = list(sys.argv[1:] if argv is None else argv)
    if any(a in ("-h", "--help") for a in argv):
        _parser(prog).print_help()
        return 0
    try:
        command = streamlit_command(argv)
    except UsageError as e:
        e.parser.print_usage(sys.stderr)
        print(f"{prog}: error: {e.message}", file=sys.stderr)
        return 2
    except FileNotFoundError as e:
        print(f"{prog}: error: {e}", file=sys.stderr)
        return 2
    sys.stdout.flush()
    return _exec(command)
