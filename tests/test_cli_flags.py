"""Every flag of the training CLI either acts or is refused, naming itself and the task (issue 18, section 3).

The refusals go through :func:`lstmviz.train.main` in-process (an argparse usage error: exit status 2, the message
on stderr) and two through ``python -m lstmviz.train`` as a user runs it. Only the message after ``error:`` is
searched: argparse's usage line lists every flag and task. Each refused command names an existing file as ``--out``,
so a flag that is wrongly accepted ends at the output check instead of training. The flags that act are checked
where they land: the configs stored by tiny runs (character model, tagger, a lag sweep).

These tests describe behaviour (exit status, message, stored config), not how the CLI is built.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from lstmviz.train import main

REPO = Path(__file__).resolve().parents[1]
ROWS = [
    ("Мама мыла раму.", "neutral"),
    ("Папа читал газету!", "positive"),
    ("Кот спал на окне.", "negative"),
    ("Дождь шёл весь день.", "neutral"),
] * 10
TAGGED = [
    (["Мама", "мыла", "раму", "."], ["NOUN", "VERB", "NOUN", "PUNCT"], ["O", "O", "O", "O"]),
    (["Путин", "прилетел", "в", "Москву"], ["PROPN", "VERB", "ADP", "PROPN"], ["B-PER", "O", "O", "B-LOC"]),
]

# A value for every flag that takes one (None: a switch).
VALUE = {
    "--task": "cue_recall",
    "--slovnet": "/nonexistent",
    "--data": "corpus.csv",
    "--cell": "gru",
    "--variants": "base",
    "--navec": "/nonexistent.tar",
    "--lag": "5",
    "--lag-max": "9",
    "--lags": "3,4",
    "--biases": "0,1",
    "--seeds": "1",
    "--workers": "1",
    "--tag": "t",
    "--n-train": "100",
    "--embed": "4",
    "--hidden": "4",
    "--layers": "2",
    "--bidirectional": None,
    "--dropout": "0.1",
    "--gate-bias": "1",
    "--min-freq": "1",
    "--max-vocab": "100",
    "--max-bytes": "1000",
    "--epochs": "1",
    "--updates-per-epoch": "2",
    "--stop-at": "0.9",
    "--batch-size": "4",
    "--lr": "0.01",
    "--weight-decay": "0",
    "--patience": "2",
    "--clip": "0.5",
    "--class-weighted": None,
    "--no-class-weighted": None,
    "--seed": "1",
    "--split-seed": "1",
    "--freeze-embedding": None,
}
# Flags that do not act when one model of the task is trained (no mode flag).
_NO_SWEEP = ["--variants", "--lags", "--biases", "--seeds", "--workers", "--tag", "--n-train"]
_CORPUS = ["--data", "--split-seed"]
_SENTIMENT_DATA = ["--navec", "--min-freq", "--max-vocab", "--max-bytes", "--class-weighted", "--no-class-weighted"]
_CLASSIFIER_ONLY = ["--bidirectional", "--freeze-embedding", "--patience", "--stop-at"]
TRAIN_REFUSED = {
    "sentiment": [*_NO_SWEEP, "--slovnet", "--lag", "--lag-max", "--updates-per-epoch"],
    "cue_recall": [*_NO_SWEEP, *_CORPUS, *_SENTIMENT_DATA, "--slovnet"],
    "adding": [*_NO_SWEEP, *_CORPUS, *_SENTIMENT_DATA, "--slovnet", "--embed", "--freeze-embedding"],
    "charlm": [*_NO_SWEEP, *_SENTIMENT_DATA, *_CLASSIFIER_ONLY, "--slovnet", "--lag", "--lag-max"],
    "tagger": [*_NO_SWEEP, *_SENTIMENT_DATA[1:], *_CLASSIFIER_ONLY, "--lag", "--lag-max", "--gate-bias"]
    + ["--updates-per-epoch"],
}
# Per mode: the rest of a command (tiny, in case the flag were accepted) and the flags the mode must refuse.
MODE_REFUSED = {
    ("cue_recall", "--lag-sweep"): (
        ["--lags", "3", "--seeds", "1", "--workers", "1", "--epochs", "1", "--updates-per-epoch", "1"],
        ["--cell", "--seed", "--lag", "--lag-max", "--layers", "--bidirectional", "--freeze-embedding", "--biases"]
        + ["--data", "--no-class-weighted", "--n-train", "--split-seed"],
    ),
    ("adding", "--bias-sweep"): (
        ["--seeds", "1", "--workers", "1", "--epochs", "1", "--updates-per-epoch", "1"],
        ["--gate-bias", "--lags", "--cell", "--seed", "--layers", "--embed", "--n-train"],
    ),
    ("sentiment", "--seed-study"): (
        ["--seeds", "1", "--workers", "1", "--variants", "bow"],
        ["--lr", "--epochs", "--hidden", "--cell", "--seed", "--split-seed", "--min-freq", "--clip", "--n-train"]
        + ["--batch-size", "--tag"],
    ),
    ("cue_recall", "--compare"): ([], ["--cell", "--data", "--n-train", "--split-seed"]),
    ("sentiment", "--compare"): ([], ["--cell", "--updates-per-epoch", "--n-train"]),
}
MODES_NOT_HAD = [(t, m) for t in ("charlm", "tagger") for m in ("--compare", "--lag-sweep", "--bias-sweep")]
MODES_NOT_HAD += [("charlm", "--seed-study"), ("tagger", "--seed-study"), ("sentiment", "--lag-sweep")]
MODES_NOT_HAD += [("sentiment", "--bias-sweep"), ("cue_recall", "--seed-study"), ("adding", "--seed-study")]
# A flag that acts with most values of another flag, but not with this one.
VALUE_RULES = [
    (["--task", "charlm", "--layers", "1", "--dropout", "0.3"], "--dropout", "charlm"),  # it sits between layers
    (["--task", "sentiment", "--cell", "bow", "--hidden", "8"], "--hidden", "sentiment"),
    (["--task", "cue_recall", "--cell", "bow", "--layers", "2"], "--layers", "cue_recall"),
    (["--task", "cue_recall", "--cell", "rnn", "--gate-bias", "2"], "--gate-bias", "cue_recall"),
    (["--task", "charlm", "--cell", "rnn", "--gate-bias", "2"], "--gate-bias", "charlm"),
    (["--task", "sentiment", "--navec", "/nonexistent.tar", "--embed", "50"], "--embed", "sentiment"),
    (["--task", "adding", "--cell", "bow"], "--cell", "adding"),
    (["--task", "charlm", "--cell", "bow"], "--cell", "charlm"),
    (["--task", "tagger", "--cell", "bow"], "--cell", "tagger"),
]


def _argv(flag: str) -> list[str]:
    return [flag] if VALUE[flag] is None else [flag, VALUE[flag]]


def _exit(argv: list[str], capsys) -> tuple[int, str]:
    """Exit status of ``main(argv)`` and the message after ``error:`` on stderr."""
    try:
        code = main(argv)
    except SystemExit as e:  # argparse's usage errors
        code = e.code
    return code, capsys.readouterr().err.rsplit("error:", 1)[-1]


def _names(message: str, flag: str) -> bool:
    """Whether ``message`` names ``flag`` itself (not a longer flag it begins, e.g. --lag in --lag-max)."""
    return re.search(rf"{re.escape(flag)}(?![\w-])", message) is not None


def _csv(path: Path) -> Path:
    path.write_text("Sentence,Sentiment\n" + "\n".join(f'"{t}",{lab}' for t, lab in ROWS), encoding="utf-8")
    return path


def _meta(out: Path) -> dict:
    return json.loads((out / "meta.json").read_text(encoding="utf-8"))


@pytest.fixture
def not_a_folder(tmp_path) -> Path:
    """An existing file as ``--out``: a command that got past the flag checks stops at the output check."""
    f = tmp_path / "notes.txt"
    f.write_text("mine", encoding="utf-8")
    return f


@pytest.fixture(scope="module")
def cue_checkpoint(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("resume") / "cue"
    argv = ["--task", "cue_recall", "--lag", "3", "--epochs", "1", "--updates-per-epoch", "2", "--hidden", "4"]
    assert main([*argv, "--embed", "4", "--quiet", "--threads", "1", "--out", str(out)]) == 0
    return out


# ----- refused: exit status 2, the flag and the task named


@pytest.mark.parametrize("task, flag", [(t, f) for t, flags in TRAIN_REFUSED.items() for f in flags])
def test_a_flag_that_does_not_act_for_the_task_is_refused(task, flag, not_a_folder, capsys):
    code, message = _exit(["--task", task, *_argv(flag), "--out", str(not_a_folder)], capsys)
    assert code == 2 and _names(message, flag) and task in message, message
    assert not_a_folder.read_text(encoding="utf-8") == "mine"


@pytest.mark.parametrize("task, mode, flag", [(t, m, f) for (t, m), (_, flags) in MODE_REFUSED.items() for f in flags])
def test_a_flag_that_does_not_act_in_the_mode_is_refused(task, mode, flag, tmp_path, not_a_folder, capsys):
    rest = MODE_REFUSED[task, mode][0]
    if mode == "--seed-study" and flag != "--data":
        rest = [*rest, "--data", str(_csv(tmp_path / "c.csv"))]
    code, message = _exit(["--task", task, mode, *rest, *_argv(flag), "--out", str(not_a_folder)], capsys)
    assert code == 2 and _names(message, flag) and task in message and mode in message, message


@pytest.mark.parametrize("task, mode", MODES_NOT_HAD)
def test_a_mode_the_task_has_not_is_refused(task, mode, not_a_folder, capsys):
    code, message = _exit(["--task", task, mode, "--seeds", "1", "--workers", "1", "--out", str(not_a_folder)], capsys)
    assert code == 2 and _names(message, mode) and task in message, message


@pytest.mark.parametrize("argv, flag, task", VALUE_RULES)
def test_a_flag_that_does_not_act_with_another_flag_s_value_is_refused(argv, flag, task, not_a_folder, capsys):
    code, message = _exit([*argv, "--out", str(not_a_folder)], capsys)
    assert code == 2 and _names(message, flag) and task in message, message


@pytest.mark.parametrize(
    "flag", ["--task", "--seed", "--cell", "--hidden", "--layers", "--lag", "--split-seed", "--n-train", "--lags"]
)
def test_resume_refuses_what_the_checkpoint_fixes(flag, cue_checkpoint, capsys):
    """--resume continues the stored model and data: only the optimisation settings may change."""
    before = (cue_checkpoint / "meta.json").read_bytes()
    code, message = _exit(["--resume", "--out", str(cue_checkpoint), *_argv(flag)], capsys)
    assert code == 2 and _names(message, flag) and "--resume" in message, message
    assert (cue_checkpoint / "meta.json").read_bytes() == before


@pytest.mark.parametrize("flag", ["--class-weighted", "--no-class-weighted", "--data"])
def test_resume_refuses_sentiment_flags_for_an_online_checkpoint(flag, cue_checkpoint, capsys):
    code, message = _exit(["--resume", "--out", str(cue_checkpoint), *_argv(flag)], capsys)
    assert code == 2 and _names(message, flag) and "cue_recall" in message, message


def test_the_issue_s_command_acts_on_every_flag_but_the_dropout_of_one_layer(not_a_folder, capsys):
    """The command of the issue, as a user runs it: --layers 1, --lr, --batch-size and --clip 0 act; --dropout
    cannot (a one-layer character model has no dropout) and is named; --n-train acts nowhere."""
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    argv = ["--task", "charlm", "--layers", "1", "--lr", "0.5", "--batch-size", "7", "--clip", "0"]

    def cli(*args: str) -> subprocess.CompletedProcess:
        command = [sys.executable, "-m", "lstmviz.train", *args]
        return subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=300)

    r = cli(*argv, "--dropout", "0.3", "--out", str(not_a_folder))
    message = r.stderr.rsplit("error:", 1)[-1]
    assert r.returncode == 2 and _names(message, "--dropout") and "charlm" in message, r.stderr
    assert not any(_names(message, f) for f in ("--layers", "--lr", "--batch-size", "--clip")), message
    code, message = _exit([*argv, "--out", str(not_a_folder)], capsys)  # the rest passes: the output check stops it
    assert code == 2 and "not a directory" in message, message
    r = cli("--task", "cue_recall", "--n-train", "500", "--out", str(not_a_folder))
    message = r.stderr.rsplit("error:", 1)[-1]
    assert r.returncode == 2 and _names(message, "--n-train") and "cue_recall" in message, r.stderr


@pytest.mark.parametrize(
    "argv, field",
    [
        (["--task", "charlm", "--lr", "-1"], "lr=-1.0"),
        (["--task", "charlm", "--batch-size", "0"], "batch_size=0"),
        (["--task", "charlm", "--epochs", "0"], "epochs=0"),
        (["--task", "tagger", "--lr", "0"], "lr=0.0"),
        (["--task", "tagger", "--clip", "-1"], "clip_grad_norm=-1.0"),
    ],
)
def test_a_bad_value_for_the_char_model_or_tagger_is_refused_before_any_work(argv, field, tmp_path, capsys):
    out = tmp_path / "never"
    code, message = _exit([*argv, "--out", str(out)], capsys)
    assert code == 2 and f"{field} is invalid; allowed:" in message, message
    assert not out.exists()


# ----- acting: the flags land in the stored configs


def test_charlm_flags_reach_the_model_and_its_budget(tmp_path):
    csv = _csv(tmp_path / "c.csv")
    out = tmp_path / "lm1"
    model = ["--cell", "gru", "--layers", "1", "--embed", "3", "--hidden", "6", "--gate-bias", "0.5"]
    train = ["--lr", "0.01", "--batch-size", "3", "--weight-decay", "0.1", "--clip", "0", "--seed", "3"]
    budget = ["--epochs", "2", "--updates-per-epoch", "2", "--split-seed", "1", "--quiet", "--threads", "1"]
    assert main(["--task", "charlm", "--data", str(csv), *model, *train, *budget, "--out", str(out)]) == 0
    meta = _meta(out)
    cfg, tc = meta["config"], meta["train_config"]
    assert [cfg[k] for k in ("cell", "num_layers", "embed_dim", "hidden_size", "gate_bias")] == ["gru", 1, 3, 6, 0.5]
    assert [tc[k] for k in ("lr", "batch_size", "weight_decay", "clip_grad_norm", "seed")] == [0.01, 3, 0.1, None, 3]
    assert [tc["max_updates"], tc["eval_every"], meta["updates"], len(meta["history"])] == [4, 2, 4, 2]
    assert meta["dataset"]["split_seed"] == 1 and meta["init_seed"] == 3
    # without --layers the character model keeps its two layers, and then --dropout acts
    out = tmp_path / "lm2"
    small = ["--embed", "3", "--hidden", "4", "--epochs", "1", "--updates-per-epoch", "1", "--quiet", "--threads", "1"]
    assert main(["--task", "charlm", "--data", str(csv), "--dropout", "0.25", *small, "--out", str(out)]) == 0
    assert [_meta(out)["config"][k] for k in ("num_layers", "dropout")] == [2, 0.25]


def test_tagger_flags_reach_the_model_and_its_training(tmp_path, monkeypatch):
    """The silver labels need the natasha files; the data step is replaced by two hand-tagged sentences."""
    import lstmviz.tagdata as tagdata
    from lstmviz.tagdata import TagData

    words = ["<pad>", "<unk>"] + sorted({w.lower() for s in TAGGED for w in s[0]})
    chars = ["<pad>", "<unk>"] + sorted({c for s in TAGGED for w in s[0] for c in w})
    split_seeds = []

    def prepare_tags(data, files, seed=0, **kw):
        split_seeds.append(seed)
        return TagData(words, chars, TAGGED * 3, TAGGED, TAGGED, meta={"dataset": {"path": "hand-written"}})

    monkeypatch.setattr(tagdata, "require_training_extra", lambda: None)
    monkeypatch.setattr(tagdata, "find_silver_files", lambda *a, **k: None)
    monkeypatch.setattr(tagdata, "prepare_tags", prepare_tags)
    out = tmp_path / "tagger1"
    model = ["--cell", "gru", "--layers", "1", "--embed", "4", "--hidden", "5", "--dropout", "0.1"]
    train = ["--epochs", "2", "--batch-size", "2", "--lr", "0.01", "--weight-decay", "0.1", "--clip", "0"]
    seeds = ["--seed", "2", "--split-seed", "3", "--quiet", "--threads", "1"]
    assert main(["--task", "tagger", *model, *train, *seeds, "--out", str(out)]) == 0
    meta = _meta(out)
    cfg, tc = meta["config"], meta["train_config"]
    assert [cfg[k] for k in ("cell", "num_layers", "word_dim", "hidden_size", "dropout")] == ["gru", 1, 4, 5, 0.1]
    fields = ("epochs", "batch_size", "lr", "weight_decay", "clip_grad_norm", "seed")
    assert [tc[k] for k in fields] == [2, 2, 0.01, 0.1, None, 2]
    assert len(meta["history"]) == 2 and split_seeds == [3]
    out = tmp_path / "tagger2"  # without --layers: the tagger's two layers
    argv = ["--task", "tagger", "--embed", "4", "--hidden", "3", "--epochs", "1", "--quiet", "--threads", "1"]
    assert main([*argv, "--out", str(out)]) == 0
    assert _meta(out)["config"]["num_layers"] == 2


def test_sweep_flags_reach_every_run(tmp_path):
    """--clip was dropped by the sweeps before; it now reaches the stored TrainConfig with the other overrides."""
    sweep = ["--task", "cue_recall", "--lag-sweep", "--lags", "3", "--seeds", "1", "--workers", "1", "--tag", "t"]
    budget = ["--epochs", "1", "--updates-per-epoch", "1", "--hidden", "3", "--embed", "2", "--quiet", "--threads", "1"]
    assert main([*sweep, *budget, "--clip", "0.5", "--lr", "0.02", "--out", str(tmp_path)]) == 0
    result = json.loads((tmp_path / "sweep_cue_recall_lag_t.json").read_text(encoding="utf-8"))
    assert [result["train"]["clip_grad_norm"], result["train"]["lr"], result["model"]["hidden_size"]] == [0.5, 0.02, 3]
