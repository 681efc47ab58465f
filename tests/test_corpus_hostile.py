"""Hostile corpus recordings (issue 19 §1, §2, §5): a recording folder is data, never code.

Each case starts from a real tiny recording (the planted RNN of ``test_corpus``), copies it and breaks one
thing: a column key crafted as SQL, a folder name DuckDB would glob, a manifest field of the wrong type or
range, a truncated / foreign / mistyped part, a sentence of far more rows than the recorder's 200 tokens.
Every one is refused by :class:`CorpusQuery` with a ``ValueError`` of one line naming the file or value and
what is allowed, and by ``python -m lstmviz.corpus`` with exit code 2 and one line on stderr; no case
writes a file anywhere (the recording folder and a private home are compared before and after).
"""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from test_corpus import UNIT, WORD, _checkpoint, _corpus

from lstmviz.corpus.__main__ import main
from lstmviz.corpus.query import CorpusQuery
from lstmviz.corpus.record import record_corpus

COL = "hidden_l0_fwd"
PART_SIZE = 10


@pytest.fixture(scope="module")
def recording(tmp_path_factory) -> Path:
    """A finished recording of 30 sentences in 3 parts (27 with tokens; the planted unit fires on «дождь»)."""
    root = tmp_path_factory.mktemp("hostile")
    record_corpus(_checkpoint(root), _corpus(root), root / "rec", part_size=PART_SIZE)
    return root / "rec"


@pytest.fixture
def home(tmp_path, monkeypatch) -> Path:
    """A private home: whatever a query might write there is seen."""
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    return home


def _copy(recording: Path, dest: Path) -> Path:
    shutil.copytree(recording, dest)
    return dest


def _files(*roots: Path) -> dict[str, int]:
    return {str(p): p.stat().st_size for r in roots for p in sorted(r.rglob("*")) if p.is_file()}


def _manifest(folder: Path, edit) -> None:
    m = json.loads((folder / "manifest.json").read_text())
    edit(m)
    (folder / "manifest.json").write_text(json.dumps(m))


def _one_line(error: BaseException | str, *needles: str) -> str:
    text = str(error)
    assert "\n" not in text.strip() and "\r" not in text, text
    for needle in needles:
        assert needle in text, (needle, text)
    return text


def _cli_refuses(capsys, args: list[str], *needles: str) -> str:
    """The CLI exits 2 with exactly one line on stderr (starting ``error:``) and prints no table."""
    capsys.readouterr()
    rc = main(args)
    out, err = capsys.readouterr()
    lines = [ln for ln in err.split("\n") if ln.strip()]
    assert rc == 2 and not out.strip(), (rc, out, err)
    assert len(lines) == 1 and lines[0].startswith("error: ") and "\r" not in lines[0], err
    return _one_line(lines[0], *needles)


# --- §1: a crafted column key runs no SQL and writes nothing ------------------------------------------------


def _keys(target: Path) -> list[str]:
    """Column keys that, put into the SQL text of the old query.py, run COPY ... TO ``target``."""
    t = str(target)
    return [
        # top_contexts: '"{column}"[{u}] AS value FROM tokens ...'
        f"{COL}\"[1] AS value FROM tokens; COPY (SELECT 42 AS x) TO '{t}'; "
        f'SELECT sentence_id, step AS first, step AS last, "{COL}',
        # histogram: 'SELECT min("{column}"[{u}]), max("{column}"[{u}]) FROM tokens'
        f"{COL}\"[1]) FROM tokens; COPY (SELECT 42 AS x) TO '{t}' (FORMAT csv); SELECT min(\"{COL}",
        # a quote and a comment for good measure
        f"{COL}\" FROM tokens; COPY (SELECT 'x''y' AS q) TO '{t}'; --",
    ]


@pytest.mark.parametrize("where", ["home", "recording"])
@pytest.mark.parametrize("which", [0, 1, 2])
def test_a_crafted_column_key_writes_no_file_and_is_refused_in_one_line(recording, tmp_path, home, capsys, where,
                                                                        which):  # fmt: skip
    rec = _copy(recording, tmp_path / "rec")
    target = (home if where == "home" else rec) / "pwned.csv"
    key = _keys(target)[which]
    _manifest(rec, lambda m: m["columns"].__setitem__(key, dict(m["columns"][COL])))
    before = _files(rec, home)
    refused = []
    for call in (lambda q: q.top_contexts(key, 0), lambda q: q.histogram(key, 0), lambda q: q.match(key, [0], 0.5, 1)):
        try:
            call(CorpusQuery(rec))
        except Exception as e:  # noqa: BLE001 - whatever the old code raised, the file must not exist
            refused.append(e)
    assert not target.exists() and _files(rec, home) == before  # nothing written, inside the recording or out
    with pytest.raises(ValueError) as e:
        CorpusQuery(rec)
    _one_line(e.value, "manifest.json", "columns key", "allowed:")
    for command in (["top", "--unit", "0"], ["match", "--units", "0"]):
        _cli_refuses(capsys, [command[0], "--dataset", str(rec), "--column", key, *command[1:]], "columns key")
    assert not target.exists() and _files(rec, home) == before


def test_the_connection_is_a_second_wall_it_reads_the_parts_only_and_writes_nothing(recording, tmp_path, home):
    rec = _copy(recording, tmp_path / "rec")
    (tmp_path / "secret.txt").write_text("secret")
    before = _files(rec, home)
    q = CorpusQuery(rec)
    assert q.sql("SELECT count(*) AS n FROM tokens")["n"].iloc[0] > 0
    for sql in (
        f"COPY (SELECT 1) TO '{rec}/x.csv'",
        f"COPY (SELECT 1 AS x) TO '{rec}/part-00000.parquet' (FORMAT parquet, USE_TMP_FILE false)",
        f"SELECT 1; COPY (SELECT 1) TO '{home}/x.csv'",
        "SET enable_external_access = true",
        f"ATTACH '{home}/x.db'",
        f"EXPORT DATABASE '{home}/dump'",
    ):
        with pytest.raises(ValueError, match="allowed: one SELECT"):
            q.sql(sql)
    with pytest.raises(ValueError, match="disabled by configuration"):
        q.sql(f"SELECT * FROM read_text('{tmp_path / 'secret.txt'}')")
    # the connection itself, under any statement: no new file, no other file read, settings locked
    for sql in (f"COPY (SELECT 1) TO '{rec}/x.csv'", f"COPY (SELECT 1) TO '{home}/x.csv'",
                f"SELECT * FROM read_text('{tmp_path / 'secret.txt'}')", f"ATTACH '{home}/x.db'"):  # fmt: skip
        with pytest.raises(duckdb.PermissionException):
            q.con.execute(sql)
    for sql in ("SET enable_external_access = true", "RESET enable_external_access", "SET lock_configuration = false",
                f"SET allowed_directories = ['{home}']"):  # fmt: skip
        with pytest.raises(duckdb.Error, match="locked|disabled"):
            q.con.execute(sql)
    assert _files(rec, home) == before
    assert q.top_contexts(COL, UNIT, k=3)["span"].str.lower().tolist() == [WORD] * 3  # still reads its own parts


# --- §1: paths are literal -----------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["rec?", "rec[X]", "r*X", "rec[!a]"])
def test_a_glob_like_dataset_path_reads_only_itself(recording, tmp_path, capsys, name):
    mine = _copy(recording, tmp_path / name)
    _copy(recording, tmp_path / "recX")  # what DuckDB would also read: every match doubled
    rows = sum(pq.read_metadata(p).num_rows for p in recording.glob("part-*.parquet"))
    with CorpusQuery(mine) as q:
        assert q.histogram(COL, UNIT, bins=10)["count"].sum() == rows
        assert q.sql("SELECT count(*) AS n FROM tokens")["n"].iloc[0] == rows
        hits = q.match(COL, [UNIT], 0.5, 1, k=50)
        assert len(hits) == 9 and hits["span"].str.lower().tolist() == [WORD] * 9
        links = q._tmp
    assert links is not None and not links.exists()  # the private links are gone with the query
    args = ["match", "--dataset", str(mine), "--column", COL, "--units", str(UNIT), "--threshold", "0.5", "-k", "50"]
    assert main(args) == 0
    assert len(capsys.readouterr().out.strip().splitlines()) == 1 + 9  # a header and 9 rains, not 18


# --- §1, §5: every manifest field by type and range ---------------------------------------------------------


MANIFEST_CASES = {
    "columns is a list": (lambda m: m.update(columns=list(m["columns"])), "columns = list"),
    "units is a string": (lambda m: m["columns"][COL].update(units="6"), f"columns.{COL}.units = '6'"),
    "units is huge": (lambda m: m["columns"][COL].update(units=10**12), f"columns.{COL}.units = 1000000000000"),
    "units is a float": (lambda m: m["columns"][COL].update(units=6.0), f"columns.{COL}.units = 6.0"),
    "layer is true": (lambda m: m["columns"][COL].update(layer=True), f"columns.{COL}.layer = True"),
    "parts is not a list": (lambda m: m.update(parts={"file": "part-00000.parquet"}), "parts = dict"),
    "parts holds a string": (lambda m: m["parts"].__setitem__(1, "part-00001.parquet"), "parts[1] = "),
    "sentences is huge": (lambda m: m.update(sentences=10**30), "sentences = 10000000000000000"),
    "sentences is negative": (lambda m: m.update(sentences=-1), "sentences = -1"),
    "part_size is NaN": (lambda m: m.update(part_size=float("nan")), "part_size = nan"),
    "dtype is unknown": (lambda m: m.update(dtype="int8"), "dtype = 'int8'"),
    "quantities is a string": (lambda m: m.update(quantities="hidden"), "quantities = 'hidden'"),
    "a part is not ours": (lambda m: m["parts"][0].update(file="../../etc/passwd"), "parts[0].file"),
    "a part's range is off": (lambda m: m["parts"][2].update(end=10**6), "parts[2].end"),
    "a part is missing": (lambda m: m["parts"].pop(), "parts lists 2 parts; allowed: 3"),
    "an unknown field": (lambda m: m.update(sql="DROP TABLE t"), "unknown field sql"),
    "a field is missing": (lambda m: m.pop("dtype"), "field 'dtype' is missing"),
}


@pytest.mark.parametrize("case", list(MANIFEST_CASES))
def test_a_manifest_of_wrong_types_or_ranges_is_refused_naming_the_field(recording, tmp_path, capsys, case):
    edit, field = MANIFEST_CASES[case]
    rec = _copy(recording, tmp_path / "rec")
    _manifest(rec, edit)
    with pytest.raises(ValueError) as e:
        CorpusQuery(rec)
    _one_line(e.value, "manifest.json", field, "allowed:")
    _cli_refuses(capsys, ["top", "--dataset", str(rec), "--column", COL, "--unit", "0"], field, "allowed:")


def test_the_record_command_prints_its_error_on_a_line_of_its_own(recording, tmp_path, capsys):
    rec = _copy(recording, tmp_path / "rec")
    _manifest(rec, lambda m: m.update(units="6", columns=list(m["columns"])))
    ck, data = _checkpoint(tmp_path), _corpus(tmp_path)
    before = _files(rec)
    capsys.readouterr()
    assert main(["record", "--checkpoint", str(ck), "--data", str(data), "--out", str(rec)]) == 2
    lines = [ln for ln in capsys.readouterr().err.split("\n") if ln.strip()]
    errors = [ln for ln in lines if "error:" in ln]
    assert len(errors) == 1 and errors[0].startswith("error: ") and "\r" not in errors[0], lines  # not after a bar
    _one_line(errors[0], "manifest.json", "allowed:")
    assert _files(rec) == before


# --- §5: parts that are not ours -------------------------------------------------------------------------------


def _retyped(part: Path) -> pa.Table:
    """The part with its value column as list<int64> instead of fixed_size_list<float16>."""
    t = pq.read_table(part)
    ints = pa.array([[int(x) for x in row] for row in t[COL].to_pylist()], pa.list_(pa.int64()))
    return t.set_column(t.schema.get_field_index(COL), COL, ints)


PART_CASES = {
    "truncated": lambda p: p.write_bytes(p.read_bytes()[: p.stat().st_size // 2]),
    "not Parquet": lambda p: p.write_text("sentence_id,step\n1,2\n"),
    "empty file": lambda p: p.write_bytes(b""),
    "value column of ints": lambda p: pq.write_table(_retyped(p), p),
    "value column of strings": lambda p: pq.write_table(
        pq.read_table(p).set_column(7, COL, pa.array(["x"] * pq.read_metadata(p).num_rows)), p
    ),
    "no value column": lambda p: pq.write_table(pq.read_table(p).drop_columns([COL]), p),
    "an extra column": lambda p: pq.write_table(
        pq.read_table(p).append_column("x", pa.array([1] * pq.read_metadata(p).num_rows)), p
    ),  # noqa: E501
    "step as text": lambda p: pq.write_table(
        pq.read_table(p).set_column(1, "step", pa.array(["0"] * pq.read_metadata(p).num_rows)), p
    ),  # noqa: E501
    "columns reordered": lambda p: pq.write_table(pq.read_table(p).select([1, 0, 2, 3, 4, 5, 6, 7]), p),
    "a FIFO": lambda p: (p.unlink(), __import__("os").mkfifo(p)),
    "a symlink out of the folder": lambda p: (p.unlink(), p.symlink_to(p.parents[1] / "outside.parquet")),
}


@pytest.mark.parametrize("case", list(PART_CASES))
def test_a_truncated_foreign_or_mistyped_part_is_one_line_naming_the_file(recording, tmp_path, capsys, case):
    rec = _copy(recording, tmp_path / "rec")
    shutil.copy(rec / "part-00001.parquet", tmp_path / "outside.parquet")
    PART_CASES[case](rec / "part-00001.parquet")
    t0 = time.perf_counter()
    with pytest.raises(ValueError) as e:
        CorpusQuery(rec).top_contexts(COL, UNIT)
    _one_line(e.value, "part-00001.parquet", "allowed:")
    _cli_refuses(capsys, ["top", "--dataset", str(rec), "--column", COL, "--unit", "0"], "part-00001.parquet")
    _cli_refuses(capsys, ["match", "--dataset", str(rec), "--column", COL, "--units", "0"], "part-00001.parquet")
    assert time.perf_counter() - t0 < 10


# --- §2: rows per sentence are bounded when reading --------------------------------------------------------------


def _one_sentence_part(template: Path, sentence_id: int, rows: int) -> pa.Table:
    """A part of the template's schema holding one sentence of ``rows`` rows (values 1.0: always on)."""
    schema = pq.read_schema(template)
    units = schema.field(COL).type.list_size
    cols = {
        "sentence_id": pa.array(np.full(rows, sentence_id, np.int64)),
        "step": pa.array(np.arange(rows, dtype=np.int32)),
        "token": pa.array(np.full(rows, "дождь", object), pa.string()),
        "lemma": pa.array(np.full(rows, "дождь", object), pa.string()),
        "start": pa.array(np.zeros(rows, np.int32)),
        "end": pa.array(np.full(rows, 5, np.int32)),
        "unknown": pa.array(np.zeros(rows, bool)),
        COL: pa.FixedSizeListArray.from_arrays(pa.array(np.ones(rows * units, np.float16)), units),
    }
    return pa.table(cols, schema=schema)


def test_a_part_with_more_rows_than_its_sentences_can_hold_is_refused_on_open(recording, tmp_path, capsys):
    rec = _copy(recording, tmp_path / "rec")
    part = rec / "part-00001.parquet"
    pq.write_table(_one_sentence_part(part, 10, 50_000), part)  # 10 sentences may hold 2,000 rows
    t0 = time.perf_counter()
    with pytest.raises(ValueError) as e:
        CorpusQuery(rec)
    assert time.perf_counter() - t0 < 2
    _one_line(e.value, "part-00001.parquet", "50,000 rows", "allowed: at most 200 tokens")
    _cli_refuses(capsys, ["match", "--dataset", str(rec), "--column", COL, "--units", str(UNIT)], "part-00001.parquet")


def test_a_sentence_longer_than_the_recorders_cap_is_refused_naming_its_part(recording, tmp_path, capsys):
    rec = _copy(recording, tmp_path / "rec")
    part = rec / "part-00002.parquet"
    pq.write_table(_one_sentence_part(part, 25, 1_500), part)  # within the part's 2,000 rows, over 200 tokens
    q = CorpusQuery(rec)
    for call in (lambda: q.match(COL, [UNIT], 0.5, 2), lambda: q.top_contexts(COL, UNIT), lambda: q.sentence(25)):
        with pytest.raises(ValueError) as e:
            call()
        _one_line(e.value, "part-00002.parquet", "sentence 25 has more than 200 tokens", "allowed: at most 200")
    _cli_refuses(capsys, ["match", "--dataset", str(rec), "--column", COL, "--units", str(UNIT)], "part-00002.parquet")
    _cli_refuses(capsys, ["top", "--dataset", str(rec), "--column", COL, "--unit", str(UNIT)], "sentence 25")


def test_a_huge_sentence_in_a_huge_planned_part_is_refused_at_its_first_batch(recording, tmp_path, capsys):
    """The issue's 2 M-row sentence: a manifest that plans 100,000 sentences a part lets the part hold
    20 M rows, so only the streamed read can refuse it, and it must do so at once and in bounded memory."""
    import tracemalloc

    rec = _copy(recording, tmp_path / "rec")
    _manifest(rec, lambda m: m.update(sentences=100_000, part_size=100_000,
                                      parts=[{"file": "part-00000.parquet", "first": 0, "end": 100_000}]))  # fmt: skip
    for p in rec.glob("part-0000[12].parquet"):
        p.unlink()
    part = rec / "part-00000.parquet"
    pq.write_table(_one_sentence_part(part, 3, 400_000), part, row_group_size=65_536)
    q = CorpusQuery(rec)
    tracemalloc.start()
    t0 = time.perf_counter()
    try:
        with pytest.raises(ValueError) as e:
            q.match(COL, [UNIT], 0.5, 2)
        took = time.perf_counter() - t0
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    _one_line(e.value, "part-00000.parquet", "sentence 3 has more than 200 tokens")
    assert took < 3 and peak < 64 * 2**20, (took, peak)
