"""The docstring examples are part of the test suite (issue 18): the README's test command runs them, and the
modules they document are the ones that exist.

The examples themselves are collected by pytest's ``--doctest-modules`` (configured in ``pyproject.toml``);
these tests guard the configuration: that one plain ``python -m pytest`` reaches ``lstmviz/`` and
``dashboard/``, and that collecting ``dashboard/`` never imports a Streamlit page (a view renders at import).
"""

from __future__ import annotations

import importlib
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def test_the_test_command_runs_the_docstring_examples():
    """``python -m pytest`` with no arguments (the README's and CI's command) collects doctests of both packages."""
    ini = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["pytest"]["ini_options"]
    assert "--doctest-modules" in ini["addopts"].split()
    assert {"tests", "lstmviz", "dashboard"} <= set(ini["testpaths"])


@pytest.mark.slow
def test_collecting_the_dashboard_imports_no_streamlit_page():
    """A view (``dashboard/views/*.py``) and the router (``dashboard/app.py``) render when imported; doctest
    collection must leave them alone, from any working directory."""
    probe = (
        "import sys, pytest\n"
        f"rc = pytest.main(['--collect-only', '-q', '-p', 'no:cacheprovider', {str(REPO / 'dashboard')!r}])\n"
        "files = {n: str(getattr(m, '__file__', None) or '').replace(chr(92), '/')\n"
        "         for n, m in list(sys.modules.items())}\n"
        "pages = sorted(n for n, f in files.items() if '/dashboard/views/' in f or f.endswith('/dashboard/app.py'))\n"
        "print('PAGES', pages)\n"
        "sys.exit(rc or bool(pages))\n"
    )
    out = subprocess.run([sys.executable, "-c", probe], cwd=REPO / "tests", capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    assert "dashboard/i18n.py::dashboard.i18n.t" in out.stdout, out.stdout[-3000:]
    assert "PAGES []" in out.stdout


def _resolves(name: str) -> bool:
    """Whether a dotted name is an importable module or an attribute of one (a module that fails to import for any
    other reason than not existing is an error of its own, raised as such)."""
    parts = name.split(".")
    for i in range(len(parts), 0, -1):
        module = ".".join(parts[:i])
        try:
            obj = importlib.import_module(module)
        except ModuleNotFoundError as e:
            if e.name != module and not module.startswith(f"{e.name}."):  # neither it nor a parent is missing
                raise
            continue
        for part in parts[i:]:
            if not hasattr(obj, part):
                return False
            obj = getattr(obj, part)
        return True
    return False


def test_docstrings_name_modules_that_exist():
    """Every ``lstmviz.…``/``dashboard.…`` named in backticks in the packages' sources resolves (a renamed or removed
    module must not live on in the prose)."""
    named = re.compile(r"[`~]((?:lstmviz|dashboard)(?:\.\w+)+)`")
    stale = []
    for path in sorted([*REPO.glob("lstmviz/**/*.py"), *REPO.glob("dashboard/**/*.py")]):
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            where = f"{path.relative_to(REPO)}:{number}"
            stale += [f"{where}: {n}" for n in named.findall(line) if not _resolves(n)]
    assert not stale, stale
