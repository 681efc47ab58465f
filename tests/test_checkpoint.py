"""Tests for lstmviz.checkpoint: round trips, every error case, atomic writes, no unpickling."""

from __future__ import annotations

import json
import os
import pickle
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

from lstmviz.checkpoint import (
    CheckpointError,
    list_checkpoints,
    load_checkpoint,
    load_resume_state,
    optimizer_state_dict,
    save_checkpoint,
)
from lstmviz.models import ModelConfig, RecurrentClassifier

REPO = Path(__file__).resolve().parents[1]


def _model(seed: int = 0, **kw) -> RecurrentClassifier:
    torch.manual_seed(seed)
    base = dict(cell="lstm", vocab_size=12, embed_dim=4, hidden_size=3, num_classes=2)
    base.update(kw)
    return RecurrentClassifier(ModelConfig(**base)).eval()


def _meta(**kw) -> dict:
    meta = {"labels": ["neg", "pos"], "task": "test", "history": [{"epoch": 1, "val_f1": float("nan")}]}
    meta.update(kw)
    return meta


@pytest.fixture
def ckpt(tmp_path) -> Path:
    return save_checkpoint(tmp_path / "ck", _model(), _meta())


# ----------------------------------------------------------------------------- round trips


@pytest.mark.parametrize("cell", ["rnn", "gru", "lstm"])
def test_round_trip_gives_identical_outputs(tmp_path, cell):
    model = _model(cell=cell, bidirectional=True, num_layers=2)
    d = save_checkpoint(tmp_path / "ck", model, _meta(extra={"a": [1, 2]}))
    loaded, meta = load_checkpoint(d)
    ids = torch.randint(1, 12, (4, 6))
    lengths = torch.tensor([6, 3, 1, 5])
    assert torch.equal(loaded(ids, lengths), model(ids, lengths))
    assert not loaded.training
    assert meta["cell"] == cell and meta["schema_version"] == 1
    assert meta["config"] == model.config.to_dict()
    assert meta["extra"] == {"a": [1, 2]} and meta["labels"] == ["neg", "pos"]
    assert meta["history"][0]["val_f1"] is None  # NaN is stored as null (strict JSON)
    assert isinstance(meta["library_version"], str)
    assert sorted(p.name for p in d.iterdir()) == ["meta.json", "model.safetensors"]
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temp/aside dirs left


def test_regress_model_round_trip(tmp_path):
    model = _model(head="regress", input_dim=2, cell="gru")
    loaded, _ = load_checkpoint(save_checkpoint(tmp_path / "r", model, {"labels": None}))
    x = torch.randn(3, 5, 2)
    assert torch.equal(loaded(x, torch.tensor([5, 2, 4])), model(x, torch.tensor([5, 2, 4])))


def test_overwrite_replaces_previous(tmp_path):
    d = tmp_path / "ck"
    save_checkpoint(d, _model(0), _meta(run=1))
    save_checkpoint(d, _model(1), _meta(run=2))
    m, meta = load_checkpoint(d)
    assert meta["run"] == 2
    assert torch.equal(m.head.weight, _model(1).head.weight)


def test_optimizer_resume_state_round_trip(tmp_path):
    model = _model()
    opt = torch.optim.AdamW(model.parameters(), lr=0.01)
    ids, lengths, y = torch.randint(1, 12, (4, 5)), torch.tensor([5, 4, 3, 2]), torch.tensor([0, 1, 1, 0])
    for _ in range(2):
        opt.zero_grad()
        torch.nn.functional.cross_entropy(model(ids, lengths), y).backward()
        opt.step()
    d = save_checkpoint(tmp_path / "ck", model, _meta(), optimizer=opt, resume_meta={"epoch": 2})
    assert (d / "opt.safetensors").is_file() and (d / "opt.json").is_file()
    model2, _ = load_checkpoint(d)
    opt2 = torch.optim.AdamW(model2.parameters(), lr=0.01)
    tensors, info = load_resume_state(d)
    opt2.load_state_dict(optimizer_state_dict(tensors, info))
    assert info["resume"] == {"epoch": 2}
    for m, o in ((model, opt), (model2, opt2)):
        m.train()
        o.zero_grad()
        torch.nn.functional.cross_entropy(m(ids, lengths), y).backward()
        o.step()
    for a, b in zip(model.parameters(), model2.parameters()):
        assert torch.equal(a, b)
    assert load_resume_state(save_checkpoint(tmp_path / "plain", model, _meta())) is None


# ----------------------------------------------------------------------------- errors


def test_missing_directory(tmp_path):
    with pytest.raises(CheckpointError, match="does not exist"):
        load_checkpoint(tmp_path / "nope")


def test_path_is_a_file(tmp_path):
    (tmp_path / "f").write_text("x")
    with pytest.raises(CheckpointError, match="not a directory"):
        load_checkpoint(tmp_path / "f")


def test_missing_weights(ckpt):
    (ckpt / "model.safetensors").unlink()
    with pytest.raises(CheckpointError, match="missing weights file .*model.safetensors"):
        load_checkpoint(ckpt)


def test_missing_meta(ckpt):
    (ckpt / "meta.json").unlink()
    with pytest.raises(CheckpointError, match="missing metadata file .*meta.json"):
        load_checkpoint(ckpt)


@pytest.mark.parametrize(
    "text, needle",
    [("{not json", "meta.json is not valid JSON"), ("[1, 2]", "meta.json must hold a JSON object")],
)
def test_invalid_meta_json(ckpt, text, needle):
    (ckpt / "meta.json").write_text(text)
    with pytest.raises(CheckpointError, match=needle):
        load_checkpoint(ckpt)


def _edit_meta(d: Path, **changes) -> None:
    meta = json.loads((d / "meta.json").read_text())
    meta.update(changes)
    (d / "meta.json").write_text(json.dumps(meta))


def test_schema_version_mismatch(ckpt):
    _edit_meta(ckpt, schema_version=2)
    with pytest.raises(CheckpointError, match="meta.json has schema_version=2; this lstmviz reads schema_version=1"):
        load_checkpoint(ckpt)


def test_invalid_config(ckpt):
    meta = json.loads((ckpt / "meta.json").read_text())
    _edit_meta(ckpt, config={**meta["config"], "cell": "transformer"})
    with pytest.raises(CheckpointError, match="meta.json: invalid model config: cell='transformer'"):
        load_checkpoint(ckpt)
    _edit_meta(ckpt, config={**meta["config"], "colour": 1})
    with pytest.raises(CheckpointError, match="unknown model config keys"):
        load_checkpoint(ckpt)


def test_labels_count_mismatch(ckpt):
    _edit_meta(ckpt, labels=["a", "b", "c"])
    with pytest.raises(CheckpointError, match="3 labels but config num_classes=2"):
        load_checkpoint(ckpt)


def test_vocab_size_mismatch(tmp_path):
    vocab_mod = pytest.importorskip("lstmviz.vocab")
    vocab = vocab_mod.Vocab.build([["а", "б"], ["а", "в"]], min_freq=1)
    d = save_checkpoint(tmp_path / "ck", _model(vocab_size=len(vocab)), _meta(vocab=vocab.to_dict()))
    load_checkpoint(d)  # consistent
    bigger = vocab_mod.Vocab.build([["а", "б", "г", "д"], ["а", "в"]], min_freq=1)
    _edit_meta(d, vocab=bigger.to_dict())
    with pytest.raises(
        CheckpointError, match=f"vocabulary has {len(bigger)} entries but config vocab_size={len(vocab)}"
    ):
        load_checkpoint(d)


@pytest.mark.parametrize(
    "payload, needle",
    [
        (b"", "is empty"),
        (os.urandom(3), "not a valid safetensors file"),
        (b"\x00\x01garbage bytes that are not a safetensors file at all" * 3, "not a valid safetensors file"),
        (
            b"version https://git-lfs.github.com/spec/v1\noid sha256:abc\nsize 12345\n",
            "Git LFS pointer.*run `git lfs pull`",
        ),
    ],
    ids=["empty", "short", "garbage", "lfs"],
)
def test_corrupt_weights(ckpt, payload, needle):
    (ckpt / "model.safetensors").write_bytes(payload)
    with pytest.raises(CheckpointError, match=needle) as e:
        load_checkpoint(ckpt)
    assert "model.safetensors" in str(e.value)


def test_truncated_weights(ckpt):
    f = ckpt / "model.safetensors"
    data = f.read_bytes()
    f.write_bytes(data[: len(data) - 50])
    with pytest.raises(CheckpointError, match="model.safetensors is truncated"):
        load_checkpoint(ckpt)
    f.write_bytes(data[:20])  # cut inside the header
    with pytest.raises(CheckpointError, match="model.safetensors is not a valid safetensors file"):
        load_checkpoint(ckpt)


class _CreatesFile:
    """Unpickling this object opens (creates) a file: a stand-in for arbitrary code."""

    def __init__(self, path: Path) -> None:
        self.path = str(path)

    def __reduce__(self):
        return (open, (self.path, "w"))


def test_pickle_payload_is_never_unpickled(ckpt, tmp_path):
    control = tmp_path / "control"
    pickle.loads(pickle.dumps(_CreatesFile(control)))
    assert control.exists()  # proves the payload really acts when unpickled

    marker = tmp_path / "pwned"
    (ckpt / "model.safetensors").write_bytes(pickle.dumps(_CreatesFile(marker)))
    with pytest.raises(CheckpointError, match="model.safetensors is a Python pickle.*never unpickles"):
        load_checkpoint(ckpt)
    torch.save({"x": _CreatesFile(marker)}, ckpt / "model.safetensors")  # zip container, "PK"
    with pytest.raises(CheckpointError, match="model.safetensors is a zip archive"):
        load_checkpoint(ckpt)
    assert not marker.exists()


def _write_weights(d: Path, tensors: dict) -> None:
    save_file({k: v.contiguous() for k, v in tensors.items()}, str(d / "model.safetensors"))


def test_missing_and_extra_weight_keys(ckpt):
    sd = _model().state_dict()
    _write_weights(ckpt, {k: v for k, v in sd.items() if k != "head.bias"})
    with pytest.raises(CheckpointError, match=r"missing keys \['head.bias'\], unexpected keys \[\]"):
        load_checkpoint(ckpt)
    _write_weights(ckpt, {**sd, "bonus.weight": torch.zeros(2)})
    with pytest.raises(CheckpointError, match=r"missing keys \[\], unexpected keys \['bonus.weight'\]"):
        load_checkpoint(ckpt)


def test_shape_mismatch(ckpt):
    sd = _model(hidden_size=5).state_dict()  # meta says hidden_size=3
    _write_weights(ckpt, sd)
    with pytest.raises(CheckpointError, match=r"wrong shape.*head.weight: file \(2, 5\) vs config \(2, 3\)"):
        load_checkpoint(ckpt)


def test_opt_state_errors(tmp_path):
    model = _model()
    opt = torch.optim.AdamW(model.parameters())
    d = save_checkpoint(tmp_path / "ck", model, _meta(), optimizer=opt)
    (d / "opt.safetensors").write_bytes(b"junk")
    with pytest.raises(CheckpointError, match="opt.safetensors"):
        load_resume_state(d)
    (d / "opt.json").unlink()
    with pytest.raises(CheckpointError, match="missing metadata file .*opt.json"):
        load_resume_state(d)


# ----------------------------------------------------------------------------- listing


def test_list_checkpoints(tmp_path):
    assert list_checkpoints(tmp_path / "missing") == []
    for name in ("b", "a", "nested/c"):
        save_checkpoint(tmp_path / name, _model(), _meta())
    (tmp_path / "not-a-ckpt").mkdir()
    (tmp_path / ".a.tmp-xyz").mkdir()
    (tmp_path / ".a.tmp-xyz" / "meta.json").write_text("{}")
    assert list_checkpoints(tmp_path) == [tmp_path / "a", tmp_path / "b", tmp_path / "nested" / "c"]


# ----------------------------------------------------------------------------- atomicity


def _assert_previous(d: Path, expected_run: int) -> None:
    model, meta = load_checkpoint(d)
    assert meta["run"] == expected_run
    assert torch.equal(model.head.weight, _model(expected_run).head.weight)


@pytest.mark.parametrize("fail_at", [1, 2])
def test_crash_during_swap_keeps_previous(tmp_path, monkeypatch, fail_at):
    d = tmp_path / "ck"
    save_checkpoint(d, _model(1), _meta(run=1))
    real = os.replace
    calls = {"n": 0}

    def flaky(src, dst):
        calls["n"] += 1
        if calls["n"] == fail_at:
            raise OSError("simulated crash")
        return real(src, dst)

    monkeypatch.setattr(os, "replace", flaky)
    with pytest.raises(OSError, match="simulated crash"):
        save_checkpoint(d, _model(2), _meta(run=2))
    monkeypatch.setattr(os, "replace", real)
    _assert_previous(d, 1)
    assert not [p for p in tmp_path.iterdir() if ".tmp-" in p.name]


def test_crash_after_moving_aside_loads_aside_copy(tmp_path, monkeypatch):
    d = tmp_path / "ck"
    save_checkpoint(d, _model(1), _meta(run=1))
    real = os.replace
    calls = {"n": 0}

    def dies_after_first(src, dst):
        calls["n"] += 1
        if calls["n"] >= 2:  # the new copy and the restore both fail: as if killed
            raise OSError("simulated crash")
        return real(src, dst)

    monkeypatch.setattr(os, "replace", dies_after_first)
    with pytest.raises(OSError):
        save_checkpoint(d, _model(2), _meta(run=2))
    monkeypatch.setattr(os, "replace", real)
    assert not d.exists() and (tmp_path / ".ck.old").is_dir()
    _assert_previous(d, 1)  # recovered from the aside copy
    assert list_checkpoints(tmp_path) == [d]
    save_checkpoint(d, _model(3), _meta(run=3))  # the next save completes normally
    _assert_previous(d, 3)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ck"]


_SAVER = textwrap.dedent(
    """
    import sys, torch
    from lstmviz.checkpoint import save_checkpoint
    from lstmviz.models import ModelConfig, RecurrentClassifier
    model = RecurrentClassifier(ModelConfig(vocab_size=300, embed_dim=32, hidden_size=32))
    target = sys.argv[1]
    i = 0
    while True:
        i += 1
        with torch.no_grad():
            for p in model.parameters():
                p.fill_(float(i))
        save_checkpoint(target, model, {"i": i})
        if i == 2:
            print("ready", flush=True)
    """
)


def test_sigkill_during_repeated_saves_leaves_a_consistent_checkpoint(tmp_path):
    d = tmp_path / "ck"
    env = {**os.environ, "PYTHONPATH": str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    for delay in (0.05, 0.3):
        proc = subprocess.Popen([sys.executable, "-c", _SAVER, str(d)], stdout=subprocess.PIPE, env=env)
        try:
            assert proc.stdout.readline().strip() == b"ready"
            time.sleep(delay)
        finally:
            proc.send_signal(signal.SIGKILL)
            proc.wait()
        model, meta = load_checkpoint(d)  # whichever save won, it is complete and self-consistent
        assert meta["i"] >= 2
        for p in model.parameters():
            assert torch.all(p == float(meta["i"]))


def test_permissions_follow_umask(tmp_path):
    old = os.umask(0o022)
    try:
        d = save_checkpoint(tmp_path / "ck", _model(), _meta(), optimizer=torch.optim.AdamW(_model().parameters()))
    finally:
        os.umask(old)
    assert d.stat().st_mode & 0o777 == 0o755
    assert {f.stat().st_mode & 0o777 for f in d.iterdir()} == {0o644}
