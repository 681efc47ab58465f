"""Issue 19 §3, silent wrong output: CLI numbers out of range, parts without their sentences, words cut at
stress marks, temporary names shared by threads, recordings that miss another thread's calls, and the
recorder's "bit for bit" stated exactly."""

from __future__ import annotations

import json
import os
import threading
import warnings

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import torch
from test_corpus import SENTENCES, _checkpoint, _corpus
from torch import nn

import lstmviz
from lstmviz.corpus import record as corpus_record
from lstmviz.corpus.record import record_corpus

# ----- corpus: every CLI number has a range, refused before a folder is made -----------------------------
RECORD_BAD = [
    ("--batch-size", "-1", "1..65536"),
    ("--batch-size", "0", "1..65536"),
    ("--part-size", "0", "1..100000"),
    ("--part-size", "200000", "1..100000"),  # what plan() and the manifest accept, not more
    ("--workers", "0", "1..1024"),
    ("--threads", "0", "1..1024"),
    ("--threads", "-3", "1..1024"),
    ("--shard", "2/2", "0 <= i < n"),
    ("--shard", "-1/2", "0 <= i < n"),
]


@pytest.mark.parametrize("flag,value,allowed", RECORD_BAD)
def test_record_refuses_out_of_range_numbers_before_making_a_folder(tmp_path, capsys, flag, value, allowed):
    from lstmviz.corpus.__main__ import main

    ck, data, out = _checkpoint(tmp_path), _corpus(tmp_path), tmp_path / "rec"
    with pytest.raises(SystemExit) as e:
        main(["record", "--checkpoint", str(ck), "--data", str(data), "--out", str(out), f"{flag}={value}"])
    err = capsys.readouterr().err
    assert e.value.code == 2 and flag in err and allowed in err, err
    assert not out.exists()


@pytest.mark.parametrize(
    "command,flag,value,allowed",
    [
        ("top", "-k", "0", "1..100000"),
        ("top", "--unit", "-1", "0..1000000"),
        ("match", "-k", "-5", "1..100000"),
        ("match", "--threshold", "nan", "finite"),
        ("match", "--threshold", "inf", "finite"),
        ("match", "--length", "0", "1..10000"),
    ],
)
def test_queries_refuse_out_of_range_numbers(tmp_path, capsys, command, flag, value, allowed):
    from lstmviz.corpus.__main__ import main

    argv = [command, "--dataset", str(tmp_path), "--column", "hidden_l0_fwd"]
    argv += ["--unit", "0"] if command == "top" and flag != "--unit" else []
    argv += ["--units", "1"] if command == "match" else []
    with pytest.raises(SystemExit) as e:
        main([*argv, flag, value])
    err = capsys.readouterr().err
    assert e.value.code == 2 and flag in err and allowed in err, err


def test_library_refuses_a_batch_size_that_records_nothing(tmp_path):
    ck, data = _checkpoint(tmp_path), _corpus(tmp_path)
    for bad in (-1, 0):
        with pytest.raises(ValueError, match="batch_size=.* allowed: an integer >= 1"):
            record_corpus(ck, data, tmp_path / "rec", part_size=4, batch_size=bad)
    assert not (tmp_path / "rec").exists()


def test_a_part_missing_sentences_is_never_made_final(tmp_path, monkeypatch):
    ck, data = _checkpoint(tmp_path), _corpus(tmp_path)
    first_batch_only = corpus_record._batches

    def short(n, batch_size):  # a writer that loses sentences (what batch_size=-1 did: none at all)
        yield next(iter(first_batch_only(n, batch_size)))

    monkeypatch.setattr(corpus_record, "_batches", short)
    with pytest.raises(RuntimeError, match="read 2"):
        record_corpus(ck, data, tmp_path / "rec", part_size=4, batch_size=2)
    assert not list((tmp_path / "rec").glob("part-*"))  # no final part, no temporary left


def test_a_resumed_run_records_an_empty_part_again(tmp_path):
    ck, data, out = _checkpoint(tmp_path), _corpus(tmp_path), tmp_path / "rec"
    m = record_corpus(ck, data, out, part_size=4)
    part = out / m["parts"][0]["file"]
    good = pq.read_table(part)
    assert good.num_rows > 0
    # what the batch-size bug left: the same footer (no row count) over zero rows
    footer = json.loads(good.schema.metadata[b"lstmviz.part"])
    footer.pop("rows", None)
    empty = good.slice(0, 0).replace_schema_metadata({"lstmviz.part": json.dumps(footer)})
    pq.write_table(empty, part)
    record_corpus(ck, data, out, part_size=4)
    again = pq.read_table(part)
    assert again.num_rows == good.num_rows
    assert again.equals(good)
    assert json.loads(again.schema.metadata[b"lstmviz.part"])["rows"] == good.num_rows
    # a footer that counts rows other than the file's is no finished part either
    torn = pa.Table.from_batches(good.to_batches()).slice(0, 3)
    pq.write_table(torn.replace_schema_metadata(good.schema.metadata), part)
    record_corpus(ck, data, out, part_size=4)
    assert pq.read_table(part).num_rows == good.num_rows


def test_two_threads_recording_one_folder_use_their_own_temporary_names(tmp_path, monkeypatch):
    ck, data, out = _checkpoint(tmp_path), _corpus(tmp_path), tmp_path / "rec"
    both_written = threading.Barrier(2, timeout=20)
    seen: dict[int, list[str]] = {}
    real_replace = os.replace

    def replace(src, dst):  # both threads hold their temporary manifest before either renames it
        names = seen.setdefault(threading.get_ident(), [])
        if not names:
            try:
                both_written.wait()
            except threading.BrokenBarrierError:
                pass
        names.append(os.fspath(src))
        return real_replace(src, dst)

    monkeypatch.setattr(os, "replace", replace)
    errors: list[BaseException] = []

    def run() -> None:
        try:
            record_corpus(ck, data, out, part_size=4)
        except BaseException as e:  # noqa: BLE001 - reported below
            errors.append(e)

    threads = [threading.Thread(target=run) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors, errors
    a, b = seen.values()
    assert a[0] != b[0] and not set(a) & set(b)
    assert not [p for p in out.iterdir() if ".tmp" in p.name]
    assert sum(pq.read_metadata(p).num_rows for p in out.glob("part-*.parquet")) > 0


# ----- the tagger: stress marks, a decomposed ё and zero-width characters never cut a word ----------------
STRESSED = "Ста\u0301рый за\u0301мок стои\u0301т на горе\u0301."
PLAIN = "Старый замок стоит на горе."


def test_tagger_words_are_not_cut_by_stress_marks_or_zero_width_characters():
    from lstmviz.checkpoint import load_checkpoint
    from lstmviz.tagger import tag_text, tokenize

    assert [w for w, _, _ in tokenize(STRESSED)] == ["Старый", "замок", "стоит", "на", "горе", "."]
    assert [STRESSED[s:e] for _, s, e in tokenize(STRESSED)] == STRESSED[:-1].split() + ["."]
    assert [w for w, _, _ in tokenize("Её е\u0308ж и\u0306од")] == ["Её", "ёж", "йод"]
    assert [w for w, _, _ in tokenize("сло\u200dво при\u200bвет \ufeffфильм")] == ["слово", "привет", "фильм"]
    model, meta = load_checkpoint("checkpoints/tagger-lstm")
    stressed, plain = tag_text(model, meta, STRESSED), tag_text(model, meta, PLAIN)
    assert len(stressed.words) == 6 and "PUNCT" not in stressed.pos[:-1]
    assert stressed.words[0] == "Ста\u0301рый"  # the result shows the text as typed
    assert stressed.pos == plain.pos and stressed.ner == plain.ner
    assert torch.equal(stressed.word_ids, plain.word_ids) and torch.equal(stressed.char_ids, plain.char_ids)
    zwj = tag_text(model, meta, "Старый за\u200dмок стои\u200cт на горе\u0308.")
    assert zwj.pos == plain.pos and len(zwj.words) == 6


def test_sentiment_model_forms_drop_zero_width_characters_too():
    from lstmviz.text import TextPipeline, canonical, normalize

    assert [t.norm for t in lstmviz.text.tokenize("сло\u200dво Ста\u0301рый при\u200bвет")] == [
        "слово",
        "старый",
        "привет",
    ]
    assert normalize("за\u200cмок") == "замок" and canonical("Е\u0308лка\u0301") == "Ёлка"
    assert TextPipeline(lemmatize=False).lemmas("сло\u200dво") == ["слово"]


# ----- recorder: a recording is per thread, and it says so ------------------------------------------------
def test_a_recording_opened_while_another_thread_runs_the_model_warns_that_it_saw_nothing():
    lstm = nn.LSTM(3, 4, batch_first=True)
    x = torch.randn(2, 5, 3)
    opened, ran = threading.Event(), threading.Event()

    def other_thread() -> None:
        opened.wait(10)
        lstm(x)
        ran.set()

    t = threading.Thread(target=other_thread)
    t.start()
    with pytest.warns(RuntimeWarning, match="recorded nothing.*another thread"):
        with lstmviz.record(lstm) as rec:
            opened.set()
            assert ran.wait(10)
    t.join()
    assert len(rec) == 0
    with warnings.catch_warnings():  # the same thread: recorded, no warning
        warnings.simplefilter("error")
        with lstmviz.record(lstm) as rec:
            lstm(x)
    assert len(rec) > 0


# ----- recorder: bit for bit exactly where the README says, to the stated tolerance elsewhere --------------
DTYPES = [torch.float64, torch.float32, torch.float16, torch.bfloat16]


def _output(cell: str, B: int, H: int, dtype: torch.dtype, grads: bool, no_grad: bool):
    torch.manual_seed(0)
    m = getattr(nn, cell)(16, H, num_layers=2, batch_first=True, bidirectional=True).to(dtype)
    x = torch.randn(B, 20, 16, dtype=dtype)
    with torch.no_grad() if no_grad else torch.enable_grad():  # the plain forward in the same autograd mode
        plain = m(x)[0].detach()  # (PyTorch's own stacked LSTM differs by rounding between the two modes)
    with torch.no_grad() if no_grad else torch.enable_grad(), lstmviz.record(m, grads=grads):
        out = m(x)[0]
        if grads:
            out.float().sum().backward()
    return (out.detach().double() - plain.double()).abs().max().item()


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
def test_outputs_are_bit_for_bit_or_within_the_documented_tolerance(dtype):
    from lstmviz import recorder

    tol = recorder.OUTPUT_TOLERANCE[dtype]
    assert tol == 4 * torch.finfo(dtype).eps
    # documented as bit for bit
    assert _output("RNN", 32, 256, dtype, grads=True, no_grad=False) == 0
    assert _output("GRU", 32, 256, dtype, grads=True, no_grad=False) == 0
    assert _output("LSTM", 4, 8, dtype, grads=False, no_grad=False) == 0
    assert _output("LSTM", 4, 8, dtype, grads=False, no_grad=True) == 0
    # documented as "to 4 machine epsilons": LSTM with grads (both methods), big LSTM/GRU without grads (under
    # no_grad, and gates only under autograd, which records as under no_grad and replays in backward)
    for cell, B, H, grads, no_grad in [
        ("LSTM", 4, 8, True, False),
        ("LSTM", 32, 256, True, False),
        ("LSTM", 32, 256, False, True),
        ("GRU", 32, 256, False, True),
        ("LSTM", 32, 256, False, False),
        ("GRU", 32, 256, False, False),
    ]:
        assert _output(cell, B, H, dtype, grads, no_grad) <= tol, (cell, B, H, grads, no_grad)


def test_the_readme_says_when_the_output_is_not_bit_for_bit():
    from pathlib import Path

    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
    assert "Not bit for bit: an LSTM with `grads=True`" in readme and "OUTPUT_TOLERANCE" in readme
    assert SENTENCES  # the corpus helpers above come from test_corpus
