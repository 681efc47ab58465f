"""Every flag of the training CLI either acts or is refused, naming itself and the kind or job (issues 18 and 22).

The command is ``python -m lstmviz.train <kind or job> [flags]``: each kind (recurrent, bow, charlm, tagger) and job
(compare, resume, sweep lag, sweep bias, study) takes only its own flags. The refusals go through
:func:`lstmviz.train.main` in-process (exit status 2, the message on stderr) and one through ``python -m
lstmviz.train`` as a user runs it. Only the message after ``error:`` is searched: the usage line lists every flag.
Each refused command names an existing file as ``--out``, so a flag that is wrongly accepted ends at the output
check instead of training. The flags that act are checked where they land: the configs stored by tiny runs
(character model, tagger, a lag sweep). The old flags-only form (``--task charlm ...``) is answered with the same
command in the new form, exit status 2, and runs nothing.

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
    "--cells": "gru",
    "--variants": "base",
    "--navec": "/nonexistent.tar",
    "--lag": "5",
    "--lag-max": "9",
    "--lags": "3,4",
    "--biases": "0,1",
    "--seeds": "1",
    "--workers": "1",
    "--tag": "t",
    "--merge": None,
    "--engine": "ray",
    "--address": "ray://head:10001",
    "--checkpoints": "checkpoints",
    "--n-train": "100",
    "--embed": "4",
    "--hidden": "4",
    "--layers": "2",
    "--bidirectional": None,
    "--dropout": "0.1",
    "--gate-bias": "1",
    "--input-gate-bias": "-4",
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
_RUNNER = ["--variants", "--lags", "--biases", "--seeds", "--workers", "--tag", "--merge", "--engine", "--address"]
_RUNNER += ["--n-train", "--checkpoints"]
_CORPUS = ["--data", "--split-seed"]
_SENTIMENT_DATA = ["--navec", "--min-freq", "--max-vocab", "--max-bytes", "--class-weighted", "--no-class-weighted"]
_CLASSIFIER_ONLY = ["--bidirectional", "--freeze-embedding", "--patience", "--stop-at"]
_MODEL = ["--cell", "--embed", "--hidden", "--layers", "--bidirectional", "--dropout", "--gate-bias"]
_MODEL += ["--input-gate-bias", "--freeze-embedding", "--navec"]
# Per command (the kind or job and its task): the flags it must refuse, naming the flag and the command.
REFUSED = {
    ("recurrent", "--task", "sentiment"): [*_RUNNER, "--slovnet", "--lag", "--lag-max", "--updates-per-epoch"],
    ("recurrent", "--task", "cue_recall"): [*_RUNNER, *_CORPUS, *_SENTIMENT_DATA, "--slovnet"],
    ("recurrent", "--task", "adding"): [*_RUNNER, *_CORPUS, *_SENTIMENT_DATA, "--slovnet", "--embed"]
    + ["--freeze-embedding"],
    ("bow", "--task", "sentiment"): [*_RUNNER, *_MODEL, "--lag", "--lag-max", "--updates-per-epoch", "--slovnet"],
    ("bow", "--task", "cue_recall"): [*_RUNNER, *_MODEL, *_CORPUS, "--min-freq", "--no-class-weighted"],
    ("charlm",): [*_RUNNER, *_SENTIMENT_DATA, *_CLASSIFIER_ONLY, "--slovnet", "--lag", "--lag-max", "--task"]
    + ["--input-gate-bias"],
    ("tagger",): [*_RUNNER, *_SENTIMENT_DATA[1:], *_CLASSIFIER_ONLY, "--lag", "--lag-max", "--gate-bias", "--task"]
    + ["--updates-per-epoch"],
    ("compare", "--task", "cue_recall"): ["--cell", "--data", "--n-train", "--split-seed", "--input-gate-bias"],
    ("compare", "--task", "sentiment"): ["--cell", "--updates-per-epoch", "--n-train", "--seeds"],
    ("sweep", "lag", "--task", "cue_recall", "--lags", "3", "--seeds", "1", "--workers", "1", "--epochs", "1"): [
        "--cell",
        "--seed",
        "--lag",
        "--lag-max",
        "--layers",
        "--bidirectional",
        "--freeze-embedding",
        "--biases",
        "--data",
        "--no-class-weighted",
        "--n-train",
        "--split-seed",
        "--navec",
    ],
    ("sweep", "bias", "--task", "adding", "--seeds", "1", "--workers", "1", "--epochs", "1"): [
        "--gate-bias",
        "--lags",
        "--cell",
        "--seed",
        "--layers",
        "--embed",
        "--n-train",
    ],
    ("study", "--seeds", "1", "--workers", "1", "--variants", "bow"): [
        *["--lr", "--epochs", "--hidden", "--cell", "--seed", "--split-seed", "--min-freq", "--clip", "--n-train"],
        *["--batch-size", "--tag", "--task", "--lags"],
    ],
}
# A flag that acts with most values of another flag, but not with this one: (argv, flag, what the message names).
VALUE_RULES = [
    (["charlm", "--layers", "1", "--dropout", "0.3"], "--dropout", "charlm"),  # it sits between layers
    (["recurrent", "--task", "cue_recall", "--cell", "rnn", "--gate-bias", "2"], "--gate-bias", "--cell rnn"),
    (["recurrent", "--cell", "gru", "--input-gate-bias", "-4"], "--input-gate-bias", "--cell gru"),
    (["charlm", "--cell", "rnn", "--gate-bias", "2"], "--gate-bias", "--cell rnn"),
    (["recurrent", "--task", "sentiment", "--navec", "/nonexistent.tar", "--embed", "50"], "--embed", "--navec"),
    (["bow", "--task", "adding"], "--task", "adding"),
    (["sweep", "lag", "--task", "cue_recall", "--input-gate-bias", "-4"], "--input-gate-bias", "--cells lstm"),
    (["sweep", "lag", "--task", "cue_recall", "--variant", "lr 0.1", "--lr", "0.1"], "--variant", "--merge"),
    (["sweep", "bias", "--task", "cue_recall", "--address", "ray://h:1"], "--address", "--engine ray"),
    (["study", "--address", "ray://h:1"], "--address", "--engine ray"),
]


def _argv(flag: str) -> list[str]:
    return [flag] if VALUE[flag] is None else [flag, VALUE[flag]]


def _exit(argv: list[str], capsys) -> tuple[int, str]:
    """Exit status of ``main(argv)`` and the message after ``error:`` on stderr."""
    try:
        code = main(argv)
    except SystemExit as e:  # --help
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
    argv = ["recurrent", "--task", "cue_recall", "--lag", "3", "--epochs", "1", "--updates-per-epoch", "2"]
    assert main([*argv, "--hidden", "4", "--embed", "4", "--quiet", "--threads", "1", "--out", str(out)]) == 0
    return out


# ----- refused: exit status 2, the flag and the command named


@pytest.mark.parametrize("command, flag", [(c, f) for c, flags in REFUSED.items() for f in flags])
def test_a_flag_that_does_not_act_in_the_command_is_refused(command, flag, not_a_folder, capsys):
    code, message = _exit([*command, *_argv(flag), "--out", str(not_a_folder)], capsys)
    job = " ".join(command[:2]) if command[0] == "sweep" else command[0]
    assert code == 2 and _names(message, flag) and job in message, message
    if "--task" in command:
        assert command[command.index("--task") + 1] in message, message
    assert not_a_folder.read_text(encoding="utf-8") == "mine"


@pytest.mark.parametrize("argv, flag, why", VALUE_RULES)
def test_a_flag_that_does_not_act_with_another_flag_s_value_is_refused(argv, flag, why, not_a_folder, capsys):
    code, message = _exit([*argv, "--out", str(not_a_folder)], capsys)
    assert code == 2 and _names(message, flag) and why in message, message


def test_flags_are_never_abbreviated(not_a_folder, capsys):
    """--lag is not read as --lags, nor --hid as --hidden: a flag a command lacks is refused as written."""
    for argv, flag in [
        (["sweep", "lag", "--task", "cue_recall", "--lag", "5"], "--lag"),
        (["charlm", "--hid", "4"], "--hid"),
    ]:
        code, message = _exit([*argv, "--out", str(not_a_folder)], capsys)
        assert code == 2 and _names(message, flag), message


def test_a_missing_or_unknown_kind_is_a_usage_error(capsys):
    assert _exit([], capsys)[0] == 2
    code, message = _exit(["sentiment", "--cell", "gru"], capsys)
    assert code == 2 and "'sentiment'" in message and "recurrent" in message, message


@pytest.mark.parametrize(
    "flag", ["--task", "--seed", "--cell", "--hidden", "--layers", "--lag", "--split-seed", "--n-train", "--lags"]
)
def test_resume_refuses_what_the_checkpoint_fixes(flag, cue_checkpoint, capsys):
    """resume continues the stored model and data: only the optimisation settings may change."""
    before = (cue_checkpoint / "meta.json").read_bytes()
    code, message = _exit(["resume", "--out", str(cue_checkpoint), *_argv(flag)], capsys)
    assert code == 2 and _names(message, flag) and "resume" in message, message
    assert (cue_checkpoint / "meta.json").read_bytes() == before


@pytest.mark.parametrize("flag", ["--class-weighted", "--no-class-weighted", "--data"])
def test_resume_refuses_sentiment_flags_for_an_online_checkpoint(flag, cue_checkpoint, capsys):
    code, message = _exit(["resume", "--out", str(cue_checkpoint), *_argv(flag)], capsys)
    assert code == 2 and _names(message, flag) and "cue_recall" in message, message


def test_the_issue_s_command_acts_on_every_flag_but_the_dropout_of_one_layer(not_a_folder, capsys):
    """The command of issue 18, as a user runs it: --layers 1, --lr, --batch-size and --clip 0 act; --dropout
    cannot (a one-layer character model has no dropout) and is named; --n-train acts nowhere."""
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    argv = ["charlm", "--layers", "1", "--lr", "0.5", "--batch-size", "7", "--clip", "0"]

    def cli(*args: str) -> subprocess.CompletedProcess:
        command = [sys.executable, "-m", "lstmviz.train", *args]
        return subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=300)

    r = cli(*argv, "--dropout", "0.3", "--out", str(not_a_folder))
    message = r.stderr.rsplit("error:", 1)[-1]
    assert r.returncode == 2 and _names(message, "--dropout") and "charlm" in message, r.stderr
    assert not any(_names(message, f) for f in ("--layers", "--lr", "--batch-size", "--clip")), message
    code, message = _exit([*argv, "--out", str(not_a_folder)], capsys)  # the rest passes: the output check stops it
    assert code == 2 and "not a directory" in message, message
    r = cli("recurrent", "--task", "cue_recall", "--n-train", "500", "--out", str(not_a_folder))
    message = r.stderr.rsplit("error:", 1)[-1]
    assert r.returncode == 2 and _names(message, "--n-train") and "cue_recall" in message, r.stderr


@pytest.mark.parametrize(
    "argv, field",
    [
        (["charlm", "--lr", "-1"], "lr=-1.0"),
        (["charlm", "--batch-size", "0"], "batch_size=0"),
        (["charlm", "--epochs", "0"], "epochs=0"),
        (["tagger", "--lr", "0"], "lr=0.0"),
        (["tagger", "--clip", "-1"], "clip_grad_norm=-1.0"),
    ],
)
def test_a_bad_value_for_the_char_model_or_tagger_is_refused_before_any_work(argv, field, tmp_path, capsys):
    out = tmp_path / "never"
    code, message = _exit([*argv, "--out", str(out)], capsys)
    assert code == 2 and f"{field} is invalid; allowed:" in message, message
    assert not out.exists()


# ----- the help: each command lists only its own flags


@pytest.mark.parametrize(
    "command, has, has_not",
    [
        (["recurrent"], ["--cell", "--lag", "--data", "--navec", "--patience"], ["--slovnet", "--seeds", "--lags"]),
        (["bow"], ["--data", "--lag", "--patience"], ["--cell", "--hidden", "--navec", "--embed"]),
        (["charlm"], ["--cell", "--layers", "--updates-per-epoch"], ["--patience", "--bidirectional", "--task"]),
        (["tagger"], ["--slovnet", "--navec", "--layers"], ["--gate-bias", "--lag", "--task", "--patience"]),
        (["resume"], ["--epochs", "--lr", "--data"], ["--cell", "--hidden", "--seed", "--task"]),
        (["sweep", "lag"], ["--lags", "--gate-bias", "--engine", "--address"], ["--biases", "--lag", "--seed"]),
        (["sweep", "bias"], ["--biases", "--lag", "--engine"], ["--lags", "--gate-bias", "--seed"]),
        (["study"], ["--variants", "--navec", "--engine", "--address", "--merge"], ["--lr", "--cell", "--seed"]),
    ],
)
def test_each_command_s_help_lists_its_flags_only(command, has, has_not, capsys):
    with pytest.raises(SystemExit) as e:
        main([*command, "--help"])
    out = capsys.readouterr().out
    assert e.value.code == 0
    assert all(_names(out, f) for f in has), out
    assert not any(_names(out, f) for f in has_not), out


# ----- the old form: the same command in the new form, nothing run


@pytest.mark.parametrize(
    "old, new",
    [
        ("--task charlm --cell gru --threads 1", "charlm --cell gru --threads 1"),
        ("--task sentiment --cell bow --seed 4", "bow --task sentiment --seed 4"),
        ("--cell gru --seed 2", "recurrent --cell gru --seed 2"),
        ("--task adding --compare --hidden 8", "compare --task adding --hidden 8"),
        ("--resume --epochs 80", "resume --epochs 80"),
        ("--task cue_recall --bias-sweep --lag 100", "sweep bias --task cue_recall --lag 100"),
        ("--task sentiment --seed-study --variants bow", "study --variants bow"),
        ("--task tagger --slovnet /d --n-train 5", "tagger --slovnet /d --n-train 5"),  # refused when run anew
    ],
)
def test_the_old_form_prints_the_new_command_and_runs_nothing(old, new, not_a_folder, capsys):
    code, message = _exit([*old.split(), "--out", str(not_a_folder)], capsys)
    assert code == 2 and f"python -m lstmviz.train {new} --out {not_a_folder}\n" in message, message
    assert not_a_folder.read_text(encoding="utf-8") == "mine"


# ----- acting: the flags land in the stored configs


def test_charlm_flags_reach_the_model_and_its_budget(tmp_path):
    csv = _csv(tmp_path / "c.csv")
    out = tmp_path / "lm1"
    model = ["--cell", "gru", "--layers", "1", "--embed", "3", "--hidden", "6", "--gate-bias", "0.5"]
    train = ["--lr", "0.01", "--batch-size", "3", "--weight-decay", "0.1", "--clip", "0", "--seed", "3"]
    budget = ["--epochs", "2", "--updates-per-epoch", "2", "--split-seed", "1", "--quiet", "--threads", "1"]
    assert main(["charlm", "--data", str(csv), *model, *train, *budget, "--out", str(out)]) == 0
    meta = _meta(out)
    cfg, tc = meta["config"], meta["train_config"]
    assert [cfg[k] for k in ("cell", "num_layers", "embed_dim", "hidden_size", "gate_bias")] == ["gru", 1, 3, 6, 0.5]
    assert [tc[k] for k in ("lr", "batch_size", "weight_decay", "clip_grad_norm", "seed")] == [0.01, 3, 0.1, None, 3]
    assert [tc["max_updates"], tc["eval_every"], meta["updates"], len(meta["history"])] == [4, 2, 4, 2]
    assert meta["dataset"]["split_seed"] == 1 and meta["init_seed"] == 3
    # without --layers the character model keeps its two layers, and then --dropout acts
    out = tmp_path / "lm2"
    small = ["--embed", "3", "--hidden", "4", "--epochs", "1", "--updates-per-epoch", "1", "--quiet", "--threads", "1"]
    assert main(["charlm", "--data", str(csv), "--dropout", "0.25", *small, "--out", str(out)]) == 0
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
    assert main(["tagger", *model, *train, *seeds, "--out", str(out)]) == 0
    meta = _meta(out)
    cfg, tc = meta["config"], meta["train_config"]
    assert [cfg[k] for k in ("cell", "num_layers", "word_dim", "hidden_size", "dropout")] == ["gru", 1, 4, 5, 0.1]
    fields = ("epochs", "batch_size", "lr", "weight_decay", "clip_grad_norm", "seed")
    assert [tc[k] for k in fields] == [2, 2, 0.01, 0.1, None, 2]
    assert len(meta["history"]) == 2 and split_seeds == [3]
    out = tmp_path / "tagger2"  # without --layers: the tagger's two layers
    argv = ["tagger", "--embed", "4", "--hidden", "3", "--epochs", "1", "--quiet", "--threads", "1"]
    assert main([*argv, "--out", str(out)]) == 0
    assert _meta(out)["config"]["num_layers"] == 2


def test_sweep_flags_reach_every_run(tmp_path):
    """--clip was dropped by the sweeps before; it now reaches the stored TrainConfig with the other overrides."""
    sweep = ["sweep", "lag", "--task", "cue_recall", "--lags", "3", "--seeds", "1", "--workers", "1", "--tag", "t"]
    budget = ["--epochs", "1", "--updates-per-epoch", "1", "--hidden", "3", "--embed", "2", "--quiet", "--threads", "1"]
    assert main([*sweep, *budget, "--clip", "0.5", "--lr", "0.02", "--out", str(tmp_path)]) == 0
    result = json.loads((tmp_path / "sweep_cue_recall_lag_t.json").read_text(encoding="utf-8"))
    assert [result["train"]["clip_grad_norm"], result["train"]["lr"], result["model"]["hidden_size"]] == [0.5, 0.02, 3]
