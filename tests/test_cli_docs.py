"""The commands the documentation prints are the CLI's (issue 22): each parses, and each old form maps onto one.

Every ``python -m lstmviz.train ...`` in README.md, checkpoints/RETRAIN.md and results/README.md (code blocks and
inline code) is parsed by :func:`lstmviz.train.parse_args`, which checks every flag and trains nothing. The old
flags-only commands these files held before the CLI was organised by kind translate (:mod:`lstmviz.cli.legacy`)
to a command the files now hold. ``lstmviz`` (the console script) and ``lstmviz dashboard`` are checked without
starting a server.
"""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from lstmviz.__main__ import main as lstmviz_main
from lstmviz.cli import dashboard
from lstmviz.cli.legacy import translate
from lstmviz.train import parse_args

REPO = Path(__file__).resolve().parents[1]
DOCS = [REPO / "README.md", REPO / "checkpoints" / "RETRAIN.md", REPO / "results" / "README.md"]
PROG = "python -m lstmviz.train "

# The old forms the documentation printed (README, RETRAIN.md and results/README.md before issue 22), $B4 expanded.
B4 = "--task cue_recall --lag-sweep --gate-bias 4 --tag b4 --cells lstm --lags 200 --seeds 10 --merge --out results"
OLD_FORMS = [
    "--task sentiment --cell rnn  --navec $NAVEC --freeze-embedding --seed 2 --threads 1 "
    "--out checkpoints/sentiment-rnn",
    "--task sentiment --cell gru  --navec $NAVEC --freeze-embedding --seed 2 --threads 1 "
    "--out checkpoints/sentiment-gru",
    "--task sentiment --cell lstm --navec $NAVEC --freeze-embedding --seed 1 --threads 1 "
    "--out checkpoints/sentiment-lstm",
    "--task sentiment --cell lstm --navec $NAVEC --freeze-embedding --seed 2 --threads 1 "
    "--out checkpoints/sentiment-lstm-s2",
    "--task sentiment --cell bow --seed 4 --threads 1 --out checkpoints/sentiment-bow",
    "--task cue_recall --cell gru  --lag 5 --lag-max 200 --gate-bias 4 --epochs 60 --stop-at 0.99 "
    "--out checkpoints/cue-gru",
    "--task cue_recall --cell lstm --lag 5 --lag-max 200 --gate-bias 4 --epochs 60 --stop-at 0.99 "
    "--out checkpoints/cue-lstm",
    "--task cue_recall --cell rnn  --lag 5 --lag-max 10 --epochs 60 --stop-at 0.99 --out checkpoints/cue-rnn",
    "--task charlm --cell rnn  --threads 1 --out checkpoints/charlm-rnn",
    "--task charlm --cell gru  --threads 1 --out checkpoints/charlm-gru",
    "--task charlm --cell lstm --threads 1 --out checkpoints/charlm-lstm",
    "--task charlm --cell $c --threads 1 --epochs 16 --out /tmp/charlm4k/charlm-$c",
    "--task tagger --slovnet $NATASHA_DATA --navec $NATASHA_DATA/navec_news_v1_1B_250K_300d_100q.tar --threads 2 "
    "--out checkpoints/tagger-lstm",
    "--task tagger --slovnet /tmp/natasha_data --navec /tmp/natasha_data/navec_news_v1_1B_250K_300d_100q.tar "
    "--threads 2 --out checkpoints/tagger-lstm",
    "--task sentiment --seed-study --seeds 5 --workers 2 --navec $NAVEC --out results",
    "--task sentiment --seed-study --merge --variants bow,meanvec,bowvec,navec_frozen --seeds 10 --workers 2 "
    "--navec $NAVEC --out results",
    "--task sentiment --seed-study",
    "--task cue_recall --lag-sweep --seeds 10 --workers 2 --out results",
    "--task cue_recall --bias-sweep --lag 100 --seeds 10 --workers 2 --out results",
    "--task cue_recall --lag-sweep --gate-bias 4 --tag b4 --seeds 10 --workers 2 --out results",
    "--task adding --lag-sweep --seeds 10 --workers 2 --out results",
    f'{B4} --variant "lr 0.001" --lr 0.001',
    f'{B4} --variant "input gate bias -4" --input-gate-bias -4',
    f'{B4} --variant "lr 0.001, input gate bias -4, no clipping" --lr 0.001 --input-gate-bias -4 --clip 0',
    "--task cue_recall --lag-sweep",
    "--task cue_recall --lag-sweep --gate-bias 4 --tag b4",
    "--task cue_recall --bias-sweep",
    "--task adding --lag-sweep",
]


def _commands(path: Path) -> list[str]:
    """The arguments of every training command in a Markdown file, shell variables of its code blocks expanded."""
    text = path.read_text(encoding="utf-8")
    found: list[str] = []
    for block in re.findall(r"```bash\n(.*?)```", text, flags=re.S):
        names = dict(re.findall(r'^(\w+)="(.*)"$', block, flags=re.M))  # e.g. B4="sweep lag ..."
        for line in block.splitlines():
            loop = re.match(r"for (\w+) in ([^;]+); do (.*); done", line)
            bodies = [loop.group(3).replace(f"${loop.group(1)}", v) for v in loop.group(2).split()] if loop else [line]
            for body in bodies:
                if PROG in body:
                    rest = body.split(PROG, 1)[1].split("  #", 1)[0]
                    for name, value in names.items():
                        rest = rest.replace(f"${name}", value)
                    found.append(rest)
    prose = re.sub(r"```.*?```", "", text, flags=re.S)
    for span in re.findall(r"`([^`]+)`", prose):
        span = " ".join(span.split())  # an inline command may wrap across lines
        if span.startswith(PROG) and "<kind>" not in span:
            found.append(span.removeprefix(PROG))
    return found


COMMANDS = [(path.relative_to(REPO).as_posix(), command) for path in DOCS for command in _commands(path)]


def test_the_docs_print_training_commands():
    assert len(COMMANDS) >= 30 and {p for p, _ in COMMANDS} == {d.relative_to(REPO).as_posix() for d in DOCS}


@pytest.mark.parametrize("path, command", COMMANDS)
def test_every_command_in_the_docs_parses(path, command):
    assert not command.startswith("-"), f"{path}: the old form is still printed: {command}"
    parse_args(shlex.split(command))  # raises UsageError naming the flag that does not act


@pytest.mark.parametrize("old", OLD_FORMS)
def test_every_old_form_of_the_docs_maps_to_a_command_the_docs_now_print(old):
    new = translate(shlex.split(old))
    assert new is not None and not new[0].startswith("-"), new
    documented = [shlex.split(c) for _, c in COMMANDS] + [shlex.split(c.replace("$c", "rnn")) for _, c in COMMANDS]
    assert new in documented or [t.replace("$c", "rnn") for t in new] in documented, shlex.join(new)
    parse_args([t.replace("$c", "rnn") for t in new])


# ----- the console script


def test_the_console_script_is_lstmviz_main():
    scripts = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]["scripts"]
    assert scripts == {"lstmviz": "lstmviz.__main__:main"}


def test_lstmviz_train_is_the_training_command(capsys):
    with pytest.raises(SystemExit) as e:
        lstmviz_main(["train", "charlm", "--help"])
    assert e.value.code == 0 and capsys.readouterr().out.startswith("usage: lstmviz train charlm")
    assert lstmviz_main(["train", "--task", "charlm", "--cell", "gru"]) == 2
    assert "lstmviz train charlm --cell gru\n" in capsys.readouterr().err
    assert lstmviz_main(["fly"]) == 2 and "'fly'" in capsys.readouterr().err


def test_python_m_lstmviz_runs_the_console_script():
    r = subprocess.run(
        [sys.executable, "-m", "lstmviz", "train", "--help"], cwd=REPO, capture_output=True, text=True, timeout=120
    )
    assert r.returncode == 0 and "recurrent" in r.stdout and "sweep" in r.stdout, r.stderr


# ----- lstmviz dashboard: the installed app, on this machine only unless an address is named


def _setting(command: list[str], key: str) -> list[str]:
    return [command[i + 1] for i, t in enumerate(command) if t == f"--{key}"]


def test_dashboard_listens_on_this_machine_only_by_default():
    command = dashboard.streamlit_command([])
    assert command[1:4] == ["-m", "streamlit", "run"] and Path(command[4]) == REPO / "dashboard" / "app.py"
    assert _setting(command, "server.address") == ["127.0.0.1"] and _setting(command, "server.port") == []


def test_dashboard_takes_an_address_a_port_and_streamlit_s_own_flags():
    command = dashboard.streamlit_command(["--address", "0.0.0.0", "--port", "8600", "--theme.base", "dark"], app="a")
    assert _setting(command, "server.address") == ["0.0.0.0"] and _setting(command, "server.port") == ["8600"]
    assert command[-2:] == ["--theme.base", "dark"]
    command = dashboard.streamlit_command(["--server.address", "10.0.0.1", "--client.showErrorDetails=full"], app="a")
    assert _setting(command, "server.address") == ["10.0.0.1"]  # the user's setting, once
    assert _setting(command, "client.showErrorDetails") == [] and command[-1] == "--client.showErrorDetails=full"


def test_dashboard_settings_are_the_repository_s_streamlit_config():
    """Run from any folder, Streamlit does not read .streamlit/config.toml: the command passes the same settings."""
    config = tomllib.loads((REPO / ".streamlit" / "config.toml").read_text(encoding="utf-8"))
    flat = {f"{section}.{key}": str(v).lower() for section, values in config.items() for key, v in values.items()}
    assert dashboard.SETTINGS == flat


def test_dashboard_main_runs_streamlit_and_returns_its_status(monkeypatch, capsys):
    calls = []
    monkeypatch.setattr(dashboard, "_exec", lambda command: calls.append(command) or 7)
    assert lstmviz_main(["dashboard", "--port", "8600"]) == 7
    assert _setting(calls[0], "server.port") == ["8600"]
    assert lstmviz_main(["dashboard", "--port", "x"]) == 2 and "--port" in capsys.readouterr().err
    assert len(calls) == 1
