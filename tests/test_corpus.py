"""Corpus explorer (issue 13): recording to Parquet equals lstmviz.record, resumes after a kill, shards, refuses
foreign folders; DuckDB queries find a planted unit; Ray equals one process; the CLI."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
import torch

import lstmviz
from lstmviz.checkpoint import save_checkpoint
from lstmviz.corpus.query import CorpusQuery, units_on
from lstmviz.corpus.record import RecordingMismatch, column_name, read_manifest, record_corpus
from lstmviz.models import ModelConfig, RecurrentClassifier
from lstmviz.pipeline import Predictor
from lstmviz.text import TextPipeline
from lstmviz.vocab import Vocab

SENTENCES = [
    "Я не люблю дождь, но сегодня прекрасный день.",
    "Фильм был скучный и слишком длинный.",
    "Отличный сервис, всем советую!",
    "Погода обычная, ничего особенного.",
    "Дождь шёл весь день, а мы сидели дома.",
    "Кот спал на окне.",
    "...",  # no token the model can read: no rows
    "Мама мыла раму, папа читал газету.",
    "Завтра снова обещают дождь и ветер.",
    "Концерт понравился всем, кроме меня.",
] * 3
UNIT = 3  # the planted unit
WORD = "дождь"


def _corpus(tmp_path: Path) -> Path:
    path = tmp_path / "corpus.csv"
    pd.DataFrame({"Sentence": SENTENCES, "Sentiment": "neutral"}).to_csv(path, index=False)
    return path


def _checkpoint(tmp_path: Path, cell: str = "rnn", bidirectional: bool = False, planted: bool = True) -> Path:
    """A tiny sentiment checkpoint; with ``planted``, unit 3 of the (unidirectional) RNN fires on «дождь» only."""
    pipe = TextPipeline()
    vocab = Vocab.build([pipe.lemmas(s) for s in SENTENCES], min_freq=1)
    cfg = ModelConfig(
        cell=cell,
        vocab_size=len(vocab),
        embed_dim=4,
        hidden_size=6,
        num_classes=2,
        bidirectional=bidirectional,
        num_layers=2 if bidirectional else 1,
    )
    model = RecurrentClassifier.seeded(cfg, 0).eval()
    if planted:
        with torch.no_grad():
            model.embedding.weight[:, 0] = 0.0
            model.embedding.weight[vocab.encode([WORD])[0], 0] = 1.0
            model.rnn.weight_ih_l0[UNIT] = torch.tensor([10.0, 0.0, 0.0, 0.0])
            model.rnn.weight_hh_l0[UNIT] = 0.0
            model.rnn.bias_ih_l0[UNIT], model.rnn.bias_hh_l0[UNIT] = -5.0, 0.0  # tanh(-5) off, tanh(5) on
    out = tmp_path / f"ck-{cell}{'-bi' if bidirectional else ''}"
    save_checkpoint(
        out, model, {"task": "sentiment", "labels": ["a", "b"], "vocab": vocab.to_dict(), "pipeline": pipe.to_dict()}
    )
    return out


def _table(folder: Path) -> pd.DataFrame:
    files = sorted(folder.glob("part-*.parquet"))
    return pd.concat([pq.read_table(f).to_pandas() for f in files], ignore_index=True)


@pytest.mark.parametrize("cell,bi", [("lstm", True), ("gru", False), ("rnn", False)])
def test_recording_equals_lstmviz_record_float32_exact_and_float16_close(tmp_path, cell, bi):
    ck, data = _checkpoint(tmp_path, cell, bi, planted=False), _corpus(tmp_path)
    # batch_size=1: each sentence alone, as below, so float32 must agree bit for bit (a padded batch runs
    # other matmul shapes and may differ in the last ulp); float16 with padded, packed batches of 4
    m32 = record_corpus(ck, data, tmp_path / "r32", dtype="float32", part_size=7, batch_size=1)
    record_corpus(ck, data, tmp_path / "r16", part_size=7, batch_size=4)
    t32, t16 = _table(tmp_path / "r32"), _table(tmp_path / "r16")
    pred = Predictor.from_checkpoint(ck)
    assert sorted(set(t32["sentence_id"])) == [i for i, s in enumerate(SENTENCES) if s != "..."]
    assert len(m32["columns"]) == len(lstmviz.QUANTITIES[cell]) * (4 if bi else 1)
    for sid in (0, 4, 17):
        enc = pred.encode(SENTENCES[sid])
        with torch.no_grad(), lstmviz.record(pred.model) as rec:
            pred.model(enc.ids, enc.lengths)  # one sentence alone: no padding anywhere
        rows32, rows16 = t32[t32["sentence_id"] == sid], t16[t16["sentence_id"] == sid]
        assert rows32["token"].tolist() == [t.text for t in enc.tokens]
        assert rows32[["start", "end"]].values.tolist() == [[t.start, t.end] for t in enc.tokens]
        for col, info in m32["columns"].items():
            want = rec[
                lstmviz.make_key("rnn", info["layer"], ("fwd", "rev").index(info["direction"]), info["quantity"])
            ][0].numpy()  # (T, U)
            got32, got16 = np.stack(rows32[col].to_numpy()), np.stack(rows16[col].to_numpy())
            assert got32.dtype == np.float32 and np.array_equal(got32, want), col  # bit for bit
            np.testing.assert_allclose(got16.astype(np.float32), want, rtol=2**-10, atol=2**-14, err_msg=col)


def test_a_killed_recording_resumes_to_the_same_dataset_and_shards_add_up(tmp_path):
    ck, data = _checkpoint(tmp_path), _corpus(tmp_path)
    record_corpus(ck, data, tmp_path / "whole", part_size=4)

    class Killed(Exception):
        pass

    def kill_after_two(done: int, total: int) -> None:
        if done == 2:
            raise Killed

    with pytest.raises(Killed):
        record_corpus(ck, data, tmp_path / "resumed", part_size=4, progress=kill_after_two)
    assert len(list((tmp_path / "resumed").glob("part-*.parquet"))) == 2
    (tmp_path / "resumed" / "part-00005.parquet").write_bytes(b"PAR1 truncated by a crash")  # a torn file
    written = []
    record_corpus(ck, data, tmp_path / "resumed", part_size=4, progress=lambda d, t: written.append(d))
    assert len(written) == 8
    for a in sorted((tmp_path / "whole").glob("part-*.parquet")):
        assert pq.read_table(a).equals(pq.read_table(tmp_path / "resumed" / a.name)), a.name
    for i in (0, 1):
        record_corpus(ck, data, tmp_path / "sharded", part_size=4, shard=(i, 2))
    pd.testing.assert_frame_equal(_table(tmp_path / "sharded"), _table(tmp_path / "whole"))
    assert read_manifest(tmp_path / "sharded") == read_manifest(tmp_path / "whole") | {"checkpoint": str(ck)}
    assert not list((tmp_path / "resumed").glob(".*tmp*"))


def test_foreign_or_other_recordings_are_never_touched(tmp_path):
    ck, data = _checkpoint(tmp_path), _corpus(tmp_path)
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "thesis.txt").write_text("my work")
    with pytest.raises(RecordingMismatch, match="thesis.txt"):
        record_corpus(ck, data, mine)
    assert [p.name for p in mine.iterdir()] == ["thesis.txt"]
    record_corpus(ck, data, tmp_path / "rec", part_size=5)
    with pytest.raises(RecordingMismatch, match="another model, corpus or settings"):
        record_corpus(ck, data, tmp_path / "rec", part_size=6)
    with pytest.raises(ValueError, match="allowed: hidden"):
        record_corpus(ck, data, tmp_path / "q", quantities=["forget"])
    with pytest.raises(ValueError, match="shard"):
        record_corpus(ck, data, tmp_path / "s", shard=(2, 2))
    manifest = json.loads((tmp_path / "rec" / "manifest.json").read_text())
    manifest["parts"][0]["file"] = "x.parquet'); DROP TABLE t; --"
    (tmp_path / "rec" / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(ValueError, match="not lstmviz part files"):
        CorpusQuery(tmp_path / "rec")


def test_queries_find_the_planted_unit(tmp_path):
    ck, data = _checkpoint(tmp_path), _corpus(tmp_path)
    record_corpus(ck, data, tmp_path / "rec", part_size=8)
    q = CorpusQuery(tmp_path / "rec")
    col = column_name("hidden", 0, 0)
    top = q.top_contexts(col, UNIT, k=5)
    assert top["span"].str.lower().tolist() == [WORD] * 5 and (top["value"] > 0.99).all()
    assert top["rank"].tolist() == [1, 2, 3, 4, 5] and "сегодня" in top["right"].iloc[0]
    hist = q.histogram(col, UNIT, bins=10)
    assert hist["count"].sum() == len(_table(tmp_path / "rec")) and hist["count"].iloc[-1] == 9  # 3 x 3 rains
    # LSTMVis: select the span «дождь» of a typed sentence, the units on across it, and match them in the corpus
    pred = Predictor.from_checkpoint(ck)
    enc = pred.encode("Вчера весь день шёл дождь")
    with torch.no_grad(), lstmviz.record(pred.model) as rec:
        pred.model(enc.ids, enc.lengths)
    values = rec["rnn.l0.hidden"][0].numpy()
    units = units_on(values, 4, 4, 0.5)
    assert UNIT in units
    hits = q.match(col, units, threshold=0.5, length=1, k=9)
    assert hits["span"].str.lower().tolist() == [WORD] * 9, hits
    assert (hits["selected_on"] == len(units)).all() and hits["rank"].tolist() == list(range(1, 10))
    import lstmviz.corpus.query as query

    small = pytest.MonkeyPatch()
    small.setattr(query, "BATCH_ROWS", 7)  # sentences cut across Arrow batches: the same matches
    try:
        pd.testing.assert_frame_equal(CorpusQuery(tmp_path / "rec").match(col, units, 0.5, 1, k=9), hits)
    finally:
        small.undo()
    with pytest.raises(ValueError, match="allowed: 0 .. 5"):
        q.top_contexts(col, 6)
    with pytest.raises(ValueError, match="not in this recording"):
        q.match("forget_l0_fwd", [1], 0.3, 1)


def test_cli_records_and_queries(tmp_path, capsys):
    from lstmviz.corpus.__main__ import main

    ck, data = _checkpoint(tmp_path), _corpus(tmp_path)
    assert (
        main(
            ["record", "--checkpoint", str(ck), "--data", str(data), "--out", str(tmp_path / "r"), "--part-size", "10"]
        )
        == 0
    )
    capsys.readouterr()
    assert (
        main(["top", "--dataset", str(tmp_path / "r"), "--column", "hidden_l0_fwd", "--unit", str(UNIT), "-k", "2"])
        == 0
    )
    assert capsys.readouterr().out.lower().count(WORD) == 2
    assert main(["top", "--dataset", str(tmp_path / "nope"), "--column", "x", "--unit", "0"]) == 2


@pytest.mark.slow
def test_ray_on_two_local_workers_equals_one_process(tmp_path):
    pytest.importorskip("ray", reason="Ray is an optional extra (pip install -e .[ray])")
    from lstmviz.corpus.rayengine import record_corpus_ray

    ck, data = _checkpoint(tmp_path, "gru", planted=False), _corpus(tmp_path)
    record_corpus(ck, data, tmp_path / "one", part_size=4)
    record_corpus_ray(ck, data, tmp_path / "ray", part_size=4, workers=2)
    names = sorted(p.name for p in (tmp_path / "one").glob("part-*.parquet"))
    assert names == sorted(p.name for p in (tmp_path / "ray").glob("part-*.parquet")) and len(names) == 8
    for name in names:
        assert pq.read_table(tmp_path / "one" / name).equals(pq.read_table(tmp_path / "ray" / name)), name
    shutil.rmtree(tmp_path / "ray")


def test_corpus_view_builds_once_then_finds_matches_for_a_typed_span(tmp_path, monkeypatch):
    import time

    from streamlit.testing.v1 import AppTest
    from test_dashboard import APP

    from lstmviz.corpus.record import is_complete, load_texts, recording_folder
    from lstmviz.models import weights_fingerprint

    root = tmp_path / "root"
    root.mkdir()
    ck, data = _checkpoint(root), _corpus(tmp_path)
    ck.rename(root / "sentiment-rnn")
    monkeypatch.setenv("LSTMVIZ_CHECKPOINTS", str(root))
    monkeypatch.setenv("LSTMVIZ_CORPUS", str(data))
    monkeypatch.setenv("LSTMVIZ_CACHE", str(tmp_path / "cache"))
    folder = recording_folder(
        weights_fingerprint(Predictor.from_checkpoint(root / "sentiment-rnn").model), load_texts(data)[1]
    )
    at = AppTest.from_file(str(APP), default_timeout=60).run()
    at.switch_page("views/corpus.py").run()
    assert not at.exception and not at.error
    assert "корпус" in at.get("progress")[0].proto.text  # the build runs in the background, with progress
    deadline = time.time() + 60
    while not is_complete(folder) and time.time() < deadline:  # built in the background, once
        time.sleep(0.2)
    assert is_complete(folder) and folder.is_relative_to(tmp_path / "cache")
    at.run()
    at.text_area(key="text_widget_corpus").set_value("Вчера весь день шёл дождь").run()
    at.select_slider[0].set_value((4, 4)).run()
    at.number_input(key="corpus_threshold").set_value(0.5).run()
    assert not at.exception and not at.error, at.exception
    assert UNIT in at.multiselect[0].value
    table = next(d.value for d in at.dataframe if "отрезок" in d.value.columns)
    assert table["отрезок"].str.lower().tolist() == [WORD] * 9
    top = at.dataframe[-1].value
    assert "значение" in top.columns and len(top) == 10
    # a shorter sentence resets the span to its last two tokens (the old span would not fit)
    at.text_area(key="text_widget_corpus").set_value("Опять дождь").run()
    assert not at.exception and not at.error and at.select_slider[0].value == (0, 1)
    # open the 3rd match in Gates, in an English session: the corpus sentence arrives, the language stays
    at.text_area(key="text_widget_corpus").set_value("Вчера весь день шёл дождь").run()
    at.select_slider[0].set_value((4, 4)).run()
    at.sidebar.radio[0].set_value("en").run()
    pick = next(s for s in at.selectbox if s.key.startswith("corpus_pick"))
    pick.set_value(3).run()
    sid = int(next(d.value for d in at.dataframe if "span" in d.value.columns).query("rank == 3")["sentence"].iloc[0])
    at.button(key="corpus_open").click().run()
    assert not at.exception and not at.error
    assert at.session_state["text:sentiment"] == SENTENCES[sid]  # the callback made it the shared text
    assert "corpus_goto" not in at.session_state  # ... and st.switch_page was called (AppTest does not follow it)
    at.switch_page("views/gates.py").run()
    assert not at.exception and at.sidebar.radio[0].value == "en"
    assert at.text_area(key="text_widget_gates").value == SENTENCES[sid]
    at.switch_page("views/corpus.py").run()  # and back: the Corpus view shows that sentence too, and keeps it
    at.number_input(key="corpus_threshold").set_value(0.4).run()
    assert not at.exception and at.text_area(key="text_widget_corpus").value == SENTENCES[sid]


def test_a_process_killed_with_sigkill_resumes_to_the_same_dataset(tmp_path):
    """A real kill -9 of the command line in the middle of a recording, then the same command again."""
    import signal
    import subprocess
    import sys
    import time

    ck, data = _checkpoint(tmp_path), tmp_path / "big.csv"
    pd.DataFrame({"Sentence": SENTENCES * 10, "Sentiment": "neutral"}).to_csv(data, index=False)
    args = [
        sys.executable,
        "-m",
        "lstmviz.corpus",
        "record",
        "--checkpoint",
        str(ck),
        "--data",
        str(data),
        "--part-size",
        "2",
        "--batch-size",
        "1",
    ]
    proc = subprocess.Popen(
        [*args, "--out", str(tmp_path / "killed")],
        cwd=Path(__file__).parents[1],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.time() + 60
    while len(list((tmp_path / "killed").glob("part-*.parquet"))) < 5 and time.time() < deadline:
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    done = len(list((tmp_path / "killed").glob("part-*.parquet")))
    assert 5 <= done < 150, done  # killed in the middle
    for out in ("killed", "whole"):
        subprocess.run(
            [*args, "--out", str(tmp_path / out)], cwd=Path(__file__).parents[1], check=True, capture_output=True
        )
    pd.testing.assert_frame_equal(_table(tmp_path / "killed"), _table(tmp_path / "whole"))
    assert len(list((tmp_path / "killed").glob("part-*.parquet"))) == 150
