"""The corpus recorder on your own model (issue 23): ``python -m lstmviz.corpus record --models my_models.py:name``.

The README's models file (section "Your own model") records a tiny English corpus through its word language model
(one LSTM, two layers), its seq2seq (the encoder is stored, the decoder that steps over its outputs is skipped and
named in the manifest) and its loop of two ``nn.LSTMCell`` (two per-token modules: prefixed column names). The
stored float32 values are ``lstmviz.record`` of each text alone; the queries run on the recording; a killed
recording resumes to the same files and refuses another model; a bad adapter name is a one-line usage error; and a
models file is taken from the command line only: one a manifest names is never imported.
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
import torch
from test_own_model import own_model_blocks

import lstmviz
from lstmviz.adapters import load_models_file
from lstmviz.corpus.__main__ import _parser, main
from lstmviz.corpus.adapted import load_adapter, record_adapter_corpus
from lstmviz.corpus.manifest import split_column, sql_identifier, validate_manifest
from lstmviz.corpus.query import CorpusQuery
from lstmviz.corpus.record import RecordingMismatch, column_name, column_prefix, read_manifest
from lstmviz.models import weights_fingerprint
from lstmviz.names import make_key

SENTENCES = [
    "The cat sat on a mat.",
    "A red dog ran to the house.",
    "The dog sat on the red mat.",
    "...",  # no word: no rows
    "Cat!",
    "The mat is red and the cat is not.",
    "A dog ran on the mat to a red house.",
    "Cats and dogs sat.",
    "The house, the house, the house.",
    "On a mat sat the cat.",
    "To the house ran a dog.",
]
NAMES = ("word-lm", "seq2seq", "cell-loop")
PART_SIZE = 4  # 11 sentences: 3 parts


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> tuple[Path, Path]:
    """The README's models file saved as my_models.py, and the corpus CSV."""
    root = tmp_path_factory.mktemp("adapters")
    (root / "my_models.py").write_text(own_model_blocks()[0], encoding="utf-8")
    pd.DataFrame({"Sentence": SENTENCES, "Sentiment": "neutral"}).to_csv(root / "corpus.csv", index=False)
    return root / "my_models.py", root / "corpus.csv"


@pytest.fixture(scope="module")
def recordings(files, tmp_path_factory) -> dict[str, Path]:
    """Each adapter recorded in float32 through the command line."""
    models, data = files
    out = tmp_path_factory.mktemp("recs")
    for name in NAMES:
        args = ["record", "--models", f"{models}:{name}", "--data", str(data), "--out", str(out / name)]
        assert main([*args, "--dtype", "float32", "--part-size", str(PART_SIZE)]) == 0
    return {name: out / name for name in NAMES}


def _table(folder: Path) -> pd.DataFrame:
    return pd.concat([pq.read_table(f).to_pandas() for f in sorted(folder.glob("part-*.parquet"))], ignore_index=True)


def _reference(adapter, text: str):
    """``lstmviz.record`` of one text through the adapter's model, called as the README's notebook calls it."""
    ids = torch.tensor([[i for *_, i in adapter.tokenize(text)]])  # (1, T)
    with torch.no_grad(), lstmviz.record(adapter.model) as rec:
        if adapter.name == "word-lm":
            adapter.model(ids.t(), adapter.model.init_hidden(1))  # time-major (T, 1)
        elif adapter.name == "seq2seq":
            adapter.loss(adapter.model, ids)  # teacher-forced reverse: the decoder steps T times too
        else:
            adapter.model(ids)
    return rec


EXPECTED_COLUMNS = {
    "word-lm": [column_name(q, layer, 0) for layer in (0, 1) for q in lstmviz.QUANTITIES["lstm"]],
    "seq2seq": [column_name(q, 0, 0) for q in lstmviz.QUANTITIES["gru"]],
    "cell-loop": [column_name(q, 0, 0, module=m) for m in ("cells.0", "cells.1") for q in lstmviz.QUANTITIES["lstm"]],
}


@pytest.mark.parametrize("name", NAMES)
def test_the_recording_is_lstmviz_record_of_each_text(files, recordings, name):
    models, _ = files
    adapter = {a.name: a for a in load_models_file(models)}[name]
    m = read_manifest(recordings[name])
    assert m["source"] == f"models file {models.resolve()}:{name}" and "checkpoint" not in m
    assert m["model_fingerprint"] == weights_fingerprint(adapter.model)
    assert list(m["columns"]) == EXPECTED_COLUMNS[name]
    assert m["skipped_modules"] == (
        {"decoder": "not among the adapter's token_modules (encoder)"} if name == "seq2seq" else {}
    )
    table = _table(recordings[name])
    with_words = [i for i, s in enumerate(SENTENCES) if s != "..."]
    assert sorted(set(table["sentence_id"])) == with_words
    for sid in with_words:
        rows = table[table["sentence_id"] == sid]
        words = [(w, a, b) for w, a, b, _ in adapter.tokenize(SENTENCES[sid])]
        assert rows[["token", "start", "end"]].values.tolist() == [list(w) for w in words]
        assert rows["lemma"].tolist() == rows["token"].tolist() and not rows["unknown"].any()
        assert rows["step"].tolist() == list(range(len(words)))
        rec = _reference(adapter, SENTENCES[sid])
        for col, info in m["columns"].items():
            key = make_key(info["module"], info["layer"], 0, info["quantity"])
            got = np.stack(rows[col].to_numpy())
            assert got.dtype == np.float32, col
            np.testing.assert_allclose(got, rec[key][0].numpy(), rtol=0, atol=1e-6, err_msg=f"{sid} {col}")
    if name == "seq2seq":
        assert "decoder.l0.hidden" in rec.keys()  # the decoder ran and was not stored


def test_queries_run_on_an_adapter_recording(recordings, capsys):
    col = "cells_1__hidden_l0_fwd"
    table = _table(recordings["cell-loop"])
    values = np.stack(table[col].to_numpy())[:, 3]
    with CorpusQuery(recordings["cell-loop"]) as q:
        top = q.top_contexts(col, 3, k=3, per_sentence=None)
        assert np.allclose(top["value"], np.sort(values)[::-1][:3])
        best = table.iloc[int(np.argmax(values))]
        assert (top.iloc[0]["sentence_id"], top.iloc[0]["span"]) == (best["sentence_id"], best["token"])
        assert q.histogram(col, 3)["count"].sum() == len(table)
    capsys.readouterr()
    assert main(["top", "--dataset", str(recordings["cell-loop"]), "--column", col, "--unit", "3", "-k", "2"]) == 0
    assert best["token"] in capsys.readouterr().out
    args = ["match", "--dataset", str(recordings["word-lm"]), "--column", "hidden_l1_fwd", "--units", "2,5"]
    assert main([*args, "--threshold", "0", "--length", "1"]) == 0
    assert "rank" in capsys.readouterr().out


def test_column_names_of_several_modules_are_safe_and_checked():
    assert column_prefix("Encoder.LSTM") == "encoder_lstm" and column_prefix("") == "m"
    assert column_prefix("0.rnn") == "m0_rnn" and column_prefix('x"; DROP') == "x___drop"
    assert split_column("cells_0__cell_l0_rev") == ("cells_0", "cell", 0, "rev")
    assert sql_identifier("m0_rnn__hidden_l1_fwd") == '"m0_rnn__hidden_l1_fwd"'
    for bad in (
        "cells.0__hidden_l0_fwd",
        "X__hidden_l0_fwd",
        "__hidden_l0_fwd",
        'a"__hidden_l0_fwd',
        "a__hiden_l0_fwd",
    ):
        with pytest.raises(ValueError, match="is not a column name lstmviz writes"):
            sql_identifier(bad)
    with pytest.raises(ValueError, match="at most 64"):
        column_prefix("x" * 65)


def test_a_manifest_column_must_name_its_own_module(recordings, tmp_path):
    m = read_manifest(recordings["cell-loop"])
    m["columns"]["cells_1__hidden_l0_fwd"]["module"] = "cells.0"
    with pytest.raises(ValueError, match="columns key 'cells_1__hidden_l0_fwd' does not name its own"):
        validate_manifest(m, "m.json")
    m = read_manifest(recordings["seq2seq"])
    m["skipped_modules"] = {"decoder": "x\nrm -rf /"}
    with pytest.raises(ValueError, match="skipped_modules.decoder"):
        validate_manifest(m, "m.json")


def test_a_killed_recording_resumes_to_the_same_files_and_refuses_another_model(files, recordings, tmp_path):
    models, data = files
    spec = f"{models}:word-lm"
    whole = record_adapter_corpus(spec, data, tmp_path / "whole", part_size=PART_SIZE)  # float16, the default

    class Killed(Exception):
        pass

    def kill_after_one(done: int, total: int) -> None:
        if done == 1:
            raise Killed

    with pytest.raises(Killed):
        record_adapter_corpus(spec, data, tmp_path / "resumed", part_size=PART_SIZE, progress=kill_after_one)
    first = tmp_path / "resumed" / "part-00000.parquet"
    assert sorted(p.name for p in (tmp_path / "resumed").iterdir()) == ["manifest.json", "part-00000.parquet"]
    stamp = first.stat().st_mtime_ns
    assert record_adapter_corpus(spec, data, tmp_path / "resumed", part_size=PART_SIZE) == whole
    assert first.stat().st_mtime_ns == stamp  # the finished part was kept, not recorded again
    for f in sorted((tmp_path / "whole").glob("part-*.parquet")):
        assert pq.read_table(f).equals(pq.read_table(tmp_path / "resumed" / f.name)), f.name
    f16, f32 = _table(tmp_path / "whole"), _table(recordings["word-lm"])
    got = np.stack(f16["hidden_l1_fwd"].to_numpy())
    np.testing.assert_allclose(got.astype(np.float32), np.stack(f32["hidden_l1_fwd"].to_numpy()), atol=2**-10)

    # another adapter, another file with other weights at the same path: another recording, nothing changed
    before = {p.name: p.stat().st_mtime_ns for p in (tmp_path / "whole").iterdir()}
    with pytest.raises(RecordingMismatch):
        record_adapter_corpus(f"{models}:cell-loop", data, tmp_path / "whole", part_size=PART_SIZE)
    other = tmp_path / "other" / "my_models.py"
    other.parent.mkdir()
    other.write_text(models.read_text(encoding="utf-8").replace("manual_seed(0)", "manual_seed(1)"), encoding="utf-8")
    shutil.copytree(tmp_path / "whole", tmp_path / "other-rec")
    manifest = json.loads((tmp_path / "other-rec" / "manifest.json").read_text(encoding="utf-8"))
    manifest["source"] = f"models file {other.resolve()}:word-lm"  # the same source, other weights
    (tmp_path / "other-rec" / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    with pytest.raises(RecordingMismatch, match="another model"):
        record_adapter_corpus(f"{other}:word-lm", data, tmp_path / "other-rec", part_size=PART_SIZE)
    assert {p.name: p.stat().st_mtime_ns for p in (tmp_path / "whole").iterdir()} == before


def test_the_command_line_takes_a_models_file_and_an_adapter_name(files, tmp_path, capsys):
    models, data = files
    args = _parser().parse_args(["record", "--models", "X:name", "--data", "d", "--out", "o"])
    assert (args.models, args.checkpoint) == ("X:name", None)
    for both_or_none in (["--models", "m.py", "--checkpoint", "ck"], []):
        with pytest.raises(SystemExit) as e:
            main(["record", *both_or_none, "--data", "d", "--out", "o"])
        assert e.value.code == 2
    capsys.readouterr()
    out = tmp_path / "rec"
    for spec, needles in (
        (f"{models}:nope", ("no adapter named 'nope'", "allowed names: 'word-lm', 'seq2seq', 'cell-loop'")),
        (str(models), ("defines 3 adapters", "allowed names: 'word-lm'")),
        (str(tmp_path / "missing.py:word-lm"), ("missing.py", "not a .py file")),
    ):
        assert main(["record", "--models", spec, "--data", str(data), "--out", str(out)]) == 2
        std = capsys.readouterr()
        lines = [ln for ln in std.err.splitlines() if ln.strip()]
        assert len(lines) == 1 and lines[0].startswith("error: ") and not std.out, std
        assert all(n in lines[0] for n in needles), lines[0]
    assert not out.exists()
    ray = ["record", "--models", f"{models}:word-lm", "--data", str(data), "--out", str(out), "--engine", "ray"]
    assert main(ray) == 2 and "--engine ray records checkpoints only" in capsys.readouterr().err
    gru = ["record", "--models", f"{models}:seq2seq", "--data", str(data), "--out", str(out), "--quantities", "forget"]
    assert main(gru) == 2 and "allowed: reset, update, new, hidden" in capsys.readouterr().err
    assert not out.exists()
    # one adapter: the name may be left out
    single = tmp_path / "single.py"
    single.write_text(
        models.read_text(encoding="utf-8").split("\nMODELS = [")[0]
        + '\nMODELS = [Adapter("only", loop, tokenize, output="classify")]\n',
        encoding="utf-8",
    )
    adapter, source = load_adapter(single)
    assert adapter.name == "only" and source == f"models file {single.resolve()}:only"
    assert main(["record", "--models", str(single), "--data", str(data), "--out", str(out)]) == 0
    assert "cells_0__hidden_l0_fwd" in read_manifest(out)["columns"]


def test_a_models_file_a_manifest_names_is_never_imported(files, recordings, tmp_path, monkeypatch, capsys):
    """A module that leaves a mark when imported, on sys.path and as a file: the manifest names it as its source
    (by path and by module name); querying and resuming that recording never imports it."""
    models, data = files
    mark = tmp_path / "imported.txt"
    lib = tmp_path / "lib"
    lib.mkdir()
    evil = lib / "lstmviz_evil_models.py"
    evil.write_text(f"open({str(mark)!r}, 'w').write('ran')\nMODELS = []\n", encoding="utf-8")
    monkeypatch.syspath_prepend(str(lib))
    for i, source in enumerate((f"models file {evil}:word-lm", "lstmviz_evil_models", str(evil))):
        rec = shutil.copytree(recordings["word-lm"], tmp_path / f"rec{i}")
        manifest = json.loads((rec / "manifest.json").read_text(encoding="utf-8"))
        manifest["source"] = source
        manifest["checkpoint"] = str(evil)
        (rec / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
        with CorpusQuery(rec) as q:
            assert len(q.top_contexts("hidden_l0_fwd", 0, k=2)) == 2
        assert main(["top", "--dataset", str(rec), "--column", "hidden_l0_fwd", "--unit", "0"]) == 0
        args = ["record", "--models", f"{models}:word-lm", "--data", str(data), "--out", str(rec)]
        assert main([*args, "--dtype", "float32", "--part-size", str(PART_SIZE)]) == 2  # another source: refused
        assert "another model" in capsys.readouterr().err
    assert not mark.exists(), "a models file named by a manifest was imported"
    assert "lstmviz_evil_models" not in sys.modules
