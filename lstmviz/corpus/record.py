"""Record a whole corpus through a checkpoint into a Parquet dataset: streaming, bounded memory, resumable, sharded.

The corpus is cut into *parts* of ``part_size`` consecutive sentences. Each part is recorded in batches
(``lstmviz.record`` on the real model), turned into one row per token and written as one Parquet file,
atomically (a temporary name, then a rename), so a killed run leaves whole parts only. A finished part
is never recorded again: a rerun (``resume``) skips every part whose file is complete, and ``shard=(i,
n)`` takes the parts with ``index % n == i``, so n processes or machines split the work without talking
to each other. Memory stays bounded by one part (documented peak in ``benchmarks/bench_corpus.py``).

Layout of a dataset folder::

    manifest.json         schema, model fingerprint, data fingerprint, quantities, dtype, columns, parts
    part-00000.parquet    rows of sentences 0 .. part_size-1
    part-00001.parquet    ...

Columns of every part: ``sentence_id`` (int64: the row among the file's non-empty texts), ``step``
(int32), ``token`` (the surface, as in the text), ``lemma`` (what the model read), ``start`` / ``end``
(int32 character span in the sentence), ``unknown`` (bool), and one fixed-size list column per
recorded quantity, layer and direction, named ``<quantity>_l<layer>_<fwd|rev>`` (float16 by default,
float32 on request), holding that token's value of every unit. Any Parquet reader reads it unchanged.

Example::

    manifest = record_corpus("checkpoints/sentiment-lstm", "../shared/data/opensentimentcorpus", "/tmp/rec")
    duckdb.sql("select sentence_id, token, hidden_l0_fwd[1] from '/tmp/rec/*.parquet' limit 3")
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from lstmviz.corpus.guard import clean_stale_tmp, refuse_git_worktree
from lstmviz.corpus.manifest import SCHEMA_ID
from lstmviz.safeio import tmp_sibling

__all__ = [
    "SCHEMA",
    "CorpusSpec",
    "record_corpus",
    "read_manifest",
    "column_name",
    "plan",
    "record_part",
    "load_texts",
    "RecordingMismatch",
    "cache_root",
    "recording_folder",
    "is_complete",
    "open_recording",
    "check_batch_size",
    "check_recordable",
    "recordable_kinds",
]

SCHEMA = SCHEMA_ID  # "lstmviz.corpus/1", checked by lstmviz.corpus.manifest
MANIFEST = "manifest.json"
DTYPES = ("float16", "float32")
FLOAT16_MAX = 65504.0  # largest finite float16: a state beyond it would be stored as inf
TOKEN_COLUMNS = ("sentence_id", "step", "token", "lemma", "start", "end", "unknown")  # of every part, first


def recordable_kinds() -> list[str]:
    """The registered model kinds the corpus recorder reads: those whose :meth:`lstmviz.kinds.Kind.views` include
    ``"corpus"`` (text classifiers with a recurrent layer). A bag of words has no states; a character LM or a tagger
    reads characters or words, not a sentence into one class.

    Example:
        >>> recordable_kinds()
        ['recurrent']
    """
    from lstmviz.kinds import KINDS

    return [n for n in KINDS if "corpus" in KINDS[n].views(KINDS[n].config({}))]


class RecordingMismatch(ValueError):
    """The output folder holds a recording of another model, corpus or settings."""


MAX_PREFIX = 64  # characters of a column's module prefix (manifest.py's grammar)


def column_prefix(module: str) -> str:
    """The column prefix of a module path: lowercased, every character other than ``[a-z0-9_]`` made ``_``, and
    ``m`` put in front when it does not start with a letter (the root module ``""`` is ``m``); at most
    :data:`MAX_PREFIX` characters. A prefix is its own prefix, so the rule can be applied again to a parsed name.

    Raises:
        ValueError: the prefix is longer than :data:`MAX_PREFIX` characters (the message names the module).

    Example:
        >>> column_prefix("cells.0"), column_prefix("Encoder.lstm"), column_prefix(""), column_prefix("0.rnn")
        ('cells_0', 'encoder_lstm', 'm', 'm0_rnn')
    """
    prefix = re.sub(r"[^a-z0-9_]", "_", str(module).lower())
    prefix = prefix if re.match(r"[a-z]", prefix) else "m" + prefix
    if len(prefix) > MAX_PREFIX:
        raise ValueError(
            f"module {str(module)[:80]!r} makes a column prefix of {len(prefix)} characters; allowed: at most "
            f"{MAX_PREFIX} (a shorter module path)"
        )
    return prefix


def column_name(quantity: str, layer: int, direction: int | str, module: str | None = None) -> str:
    """The Parquet column of one quantity, layer and direction; with ``module`` (a recording of an adapter with
    several per-token modules), the module's :func:`column_prefix` and ``__`` in front.

    Example:
        >>> column_name("hidden", 0, 1)
        'hidden_l0_rev'
        >>> column_name("forget", 1, 0, module="cells.1")
        'cells_1__forget_l1_fwd'
    """
    d = direction if isinstance(direction, str) else ("fwd", "rev")[int(direction)]
    name = f"{quantity}_l{int(layer)}_{d}"
    return name if module is None else f"{column_prefix(module)}__{name}"


def load_texts(data: str | os.PathLike, text_column: str = "Sentence") -> tuple[list[str], str]:
    """The non-empty texts of a corpus CSV (or OpenSentimentCorpus folder) and the sha256 of the file.

    Example:
        >>> texts, sha = load_texts("../shared/data/opensentimentcorpus")  # doctest: +SKIP
        >>> len(texts), len(sha)  # doctest: +SKIP
        (5961, 64)
    """
    from lstmviz.datasets import CORPUS_FILENAME, load_csv

    path = Path(data)
    if path.is_dir():
        path = path / CORPUS_FILENAME
    df = load_csv(path, text_column=text_column, label_column=None)
    return [str(t) for t in df["text"]], hashlib.sha256(path.read_bytes()).hexdigest()


@dataclass(frozen=True)
class CorpusSpec:
    """What one recording is: the model, the corpus, the quantities and the storage (one manifest)."""

    checkpoint: str  # checkpoint folder
    model_fingerprint: str  # sha256 of the weights (lstmviz.models.weights_fingerprint)
    data_sha256: str  # sha256 of the corpus file
    sentences: int  # non-empty texts in the corpus
    quantities: tuple[str, ...]  # recorded quantities (forward ones of the cell)
    dtype: str  # "float16" | "float32"
    part_size: int  # sentences per part file

    def parts(self) -> list[tuple[int, int]]:
        """``(first, end)`` sentence ranges of every part (end exclusive)."""
        return [(a, min(a + self.part_size, self.sentences)) for a in range(0, self.sentences, self.part_size)]


def _part_file(index: int) -> str:
    return f"part-{index:05d}.parquet"


def read_manifest(folder: str | os.PathLike) -> dict[str, Any]:
    """The manifest of a recording: a bounded JSON read, every field checked by
    :func:`lstmviz.corpus.manifest.validate_manifest` (ValueError, one line naming the file and the field).

    Example:
        >>> read_manifest("/tmp/rec")["dtype"]  # doctest: +SKIP
        'float16'
    """
    from lstmviz.corpus.manifest import validate_manifest
    from lstmviz.safeio import UnsafeFileError, read_json

    path = Path(folder) / MANIFEST
    try:
        obj = read_json(path, 16 * 2**20, "corpus manifest", inside=path.parent)
    except (UnsafeFileError, FileNotFoundError) as e:
        raise ValueError(str(e)) from None
    return validate_manifest(obj, str(path))


def _manifest(spec: CorpusSpec, columns: dict[str, dict[str, Any]]) -> dict[str, Any]:
    from lstmviz.checkpoint import library_version

    return {
        "schema": SCHEMA,
        "checkpoint": spec.checkpoint,
        "model_fingerprint": spec.model_fingerprint,
        "data_sha256": spec.data_sha256,
        "sentences": spec.sentences,
        "quantities": list(spec.quantities),
        "dtype": spec.dtype,
        "part_size": spec.part_size,
        "columns": columns,
        "parts": [{"file": _part_file(i), "first": a, "end": b} for i, (a, b) in enumerate(spec.parts())],
        "library_version": library_version(),
    }


def _identity(m: dict[str, Any]) -> tuple:
    base = tuple(
        m.get(k) for k in ("model_fingerprint", "data_sha256", "sentences", "quantities", "dtype", "part_size")
    )
    if "source" not in m:  # a checkpoint's recording: the identity its parts have carried since issue 13
        return base
    # an adapter's recording (lstmviz.corpus.adapted): the models file and adapter name, and which of its modules
    # are stored (token_modules is the models file's choice, not the weights')
    stored = json.dumps([m.get("columns"), m.get("skipped_modules")], sort_keys=True)
    return (*base, m["source"], stored)


def plan(
    predictor: Any,
    texts: Sequence[str],
    data_sha256: str,
    checkpoint: str,
    quantities: Sequence[str] | None,
    dtype: str,
    part_size: int,
) -> tuple[CorpusSpec, dict[str, dict[str, Any]]]:
    """The spec and the value columns of a recording (validates quantities, dtype and part size)."""
    from lstmviz.models import weights_fingerprint
    from lstmviz.names import QUANTITIES

    cfg = predictor.model.config
    allowed = QUANTITIES[cfg.cell]
    qs = tuple(quantities or allowed)
    bad = [q for q in qs if q not in allowed]
    if bad:
        raise ValueError(f"quantities {bad} are not recorded for a {cfg.cell}; allowed: {', '.join(allowed)}")
    if dtype not in DTYPES:
        raise ValueError(f"dtype={dtype!r} is invalid; allowed: {', '.join(DTYPES)}")
    from lstmviz.corpus.manifest import MAX_PART_SIZE

    if not isinstance(part_size, int) or isinstance(part_size, bool) or not 1 <= part_size <= MAX_PART_SIZE:
        raise ValueError(f"part_size={part_size!r} is invalid; allowed: an integer 1 .. {MAX_PART_SIZE:,}")
    spec = CorpusSpec(
        str(checkpoint), weights_fingerprint(predictor.model), data_sha256, len(texts), qs, dtype, part_size
    )
    columns = {
        column_name(q, layer, d): {
            "quantity": q,
            "layer": layer,
            "direction": ("fwd", "rev")[d],
            "units": cfg.hidden_size,
        }
        for layer in range(cfg.num_layers)
        for d in range(cfg.directions)
        for q in qs
    }
    return spec, columns


def check_batch_size(batch_size: Any) -> int:
    """``batch_size`` when it is an integer >= 1, else ValueError naming the allowed range (a zero or negative
    size would record nothing, or fail half-way).

    Example:
        >>> check_batch_size(0)
        Traceback (most recent call last):
        ValueError: batch_size=0 is invalid; allowed: an integer >= 1
    """
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size={batch_size!r} is invalid; allowed: an integer >= 1")
    return batch_size


def _batches(n: int, batch_size: int) -> Iterator[range]:
    check_batch_size(batch_size)
    for a in range(0, n, batch_size):
        yield range(a, min(n, a + batch_size))


def part_table(
    predictor: Any,
    texts: Sequence[str],
    first: int,
    spec: CorpusSpec,
    columns: dict[str, dict[str, Any]],
    batch_size: int = 64,
) -> Any:
    """A pyarrow Table with one row per token of ``texts`` (sentence ids from ``first``); texts the model
    cannot read (no tokens) have no rows."""
    import lstmviz
    from lstmviz.pipeline import pad_sequences

    meta_cols: dict[str, list] = {k: [] for k in TOKEN_COLUMNS}
    values: dict[str, list[np.ndarray]] = {c: [] for c in columns}
    keys = {
        col: (
            lstmviz.make_key("rnn", info["layer"], ("fwd", "rev").index(info["direction"]), info["quantity"]),
            info["units"],
        )
        for col, info in columns.items()
    }
    model = predictor.model
    read = 0  # sentences handed to the model or found unreadable: every one of texts, or the part is not whole
    for rows in _batches(len(texts), batch_size):
        read += len(rows)
        encoded = []
        for i in rows:
            try:
                encoded.append((i, predictor.encode(texts[i])))
            except ValueError:
                continue  # no token the model can read: nothing to record
        if not encoded:
            continue
        ids, lengths = pad_sequences([e.ids[0].tolist() for _, e in encoded])  # (B, T), (B,)
        # only the stored quantities are kept as the call is captured (the others are never assembled)
        with torch.no_grad(), lstmviz.record(model, quantities=spec.quantities) as rec:
            model(ids, lengths)
        n_of = lengths.tolist()
        # one index of the valid (b, t) rows of a (B*T, U) view, row b*T + t in sentence order: padding dropped
        keep = np.concatenate([np.arange(n) + b * ids.shape[1] for b, n in enumerate(n_of)])
        for col, (key, units) in keys.items():
            x = rec[key].reshape(-1, units).numpy()[keep]  # (tokens, U)
            values[col].append(stored_values(col, x, spec.dtype))
        for (i, e), n in zip(encoded, n_of):
            meta_cols["sentence_id"] += [first + i] * n
            meta_cols["step"] += range(n)
            meta_cols["token"] += [t.text for t in e.tokens]
            meta_cols["lemma"] += [t.lemma for t in e.tokens]
            meta_cols["start"] += [t.start for t in e.tokens]
            meta_cols["end"] += [t.end for t in e.tokens]
            meta_cols["unknown"] += list(e.unknown)
    if read != len(texts):
        raise RuntimeError(f"a part of {len(texts)} sentences read {read}: not written")
    return token_table(meta_cols, values, columns, spec.dtype)


def stored_values(column: str, x: np.ndarray, dtype: str) -> np.ndarray:
    """``x`` (tokens, U) in the stored ``dtype``; ValueError when a value is beyond float16's range (it would be
    stored as inf).

    The float16 values are numpy's ``astype(np.float16)`` bit for bit (both round to nearest even); a float32
    array of finite values is converted by torch, several times faster than numpy's cast.

    Example:
        >>> stored_values("hidden_l0_fwd", np.array([[0.1, -2.5]], np.float32), "float16").tolist()
        [[0.0999755859375, -2.5]]
    """
    if dtype != "float16":
        return x.astype(np.float32)
    # the largest magnitude from max and min: no |x| temporary; NaN propagates into both (and passes, as before)
    hi, lo = (float(x.max()), float(x.min())) if x.size else (0.0, 0.0)
    if max(hi, -lo) > FLOAT16_MAX:
        raise ValueError(
            f"{column} reaches {max(hi, -lo):.3g}, beyond float16 ({FLOAT16_MAX:g}); record with dtype float32"
        )
    if x.dtype == np.float32 and x.flags.writeable and min(x.strides, default=0) >= 0 and hi == hi and lo == lo:
        # finite float32 only (hi, lo not NaN): a NaN's payload bits are left to numpy's cast, as before
        return torch.from_numpy(x).to(torch.float16).numpy()
    return x.astype(np.float16)


def token_table(
    meta_cols: dict[str, list], values: dict[str, list[np.ndarray]], columns: dict[str, dict[str, Any]], dtype: str
) -> Any:
    """The pyarrow Table of one part: the token columns (``sentence_id, step, token, lemma, start, end, unknown``
    lists) and one fixed-size list column per value column (its ``(tokens, U)`` arrays, in ``columns`` order)."""
    import pyarrow as pa

    np_dtype = np.float16 if dtype == "float16" else np.float32
    arrays = {
        "sentence_id": pa.array(meta_cols["sentence_id"], pa.int64()),
        "step": pa.array(meta_cols["step"], pa.int32()),
        "token": pa.array(meta_cols["token"], pa.string()),
        "lemma": pa.array(meta_cols["lemma"], pa.string()),
        "start": pa.array(meta_cols["start"], pa.int32()),
        "end": pa.array(meta_cols["end"], pa.int32()),
        "unknown": pa.array(meta_cols["unknown"], pa.bool_()),
    }
    pa_dtype = pa.float16() if dtype == "float16" else pa.float32()
    for col, info in columns.items():
        flat = np.concatenate(values[col]) if values[col] else np.zeros((0, info["units"]), np_dtype)
        arrays[col] = pa.FixedSizeListArray.from_arrays(pa.array(flat.reshape(-1), pa_dtype), info["units"])
    table = pa.table(arrays)
    if table.num_rows != len(meta_cols["sentence_id"]):
        raise RuntimeError(f"a part of {len(meta_cols['sentence_id'])} tokens holds {table.num_rows} rows: not written")
    return table


def _complete(path: Path, first: int, end: int, identity: str) -> bool:
    """Whether ``path`` is a finished part of this recording: its footer names the same part and identity and
    the rows it counted when written are there. A part from before that count (no ``rows`` in its footer) is
    finished only when it holds rows: an empty one may be the batch-size bug's (issue 19), so it is recorded
    again."""
    import pyarrow.parquet as pq

    try:
        meta = pq.read_metadata(path)
        info = json.loads((meta.metadata or {}).get(b"lstmviz.part", b"{}"))
    except Exception:  # a truncated or foreign file is not a finished part: it is recorded again
        return False
    if not isinstance(info, dict) or {k: info.get(k) for k in ("first", "end", "identity")} != {
        "first": first,
        "end": end,
        "identity": identity,
    }:
        return False
    if "rows" not in info:
        return meta.num_rows > 0
    return info == {"first": first, "end": end, "identity": identity, "rows": meta.num_rows}


def record_part(
    predictor: Any,
    texts: Sequence[str],
    out: Path,
    index: int,
    spec: CorpusSpec,
    columns: dict[str, dict[str, Any]],
    batch_size: int = 64,
) -> bool:
    """Records part ``index`` into ``out`` unless it is already complete; True when it was written."""
    identity = part_identity(_manifest(spec, columns))
    return write_part(
        out,
        index,
        spec,
        identity,
        lambda first, end: part_table(predictor, texts[first:end], first, spec, columns, batch_size),
    )


def part_identity(manifest: dict[str, Any]) -> str:
    """What a part's footer names as its recording: 16 hex digits of the manifest's identity fields."""
    return hashlib.sha256(repr(_identity(manifest)).encode()).hexdigest()[:16]


def write_part(out: Path, index: int, spec: CorpusSpec, identity: str, make_table: Callable[[int, int], Any]) -> bool:
    """Writes part ``index`` (``make_table(first, end)``, a pyarrow Table) into ``out`` atomically unless a
    complete part of ``identity`` is there; True when it was written."""
    import pyarrow.parquet as pq

    first, end = spec.parts()[index]
    target = out / _part_file(index)
    if _complete(target, first, end, identity):
        return False
    table = make_table(first, end)
    table = table.replace_schema_metadata(
        {"lstmviz.part": json.dumps({"first": first, "end": end, "identity": identity, "rows": table.num_rows})}
    )
    tmp = tmp_sibling(target)
    try:
        # dictionary encoding and min/max statistics for the token columns only: on the value columns (a dictionary
        # of up to 65,536 float16 codes, rarely one for float32; statistics no query can use inside a list) they
        # cost ~2/3 of the write and saved ~11% of a float16 part's bytes. The values stored are the same.
        token_columns = [c for c in TOKEN_COLUMNS if c in table.column_names]
        pq.write_table(table, tmp, use_dictionary=token_columns, write_statistics=token_columns)
        written = pq.read_metadata(tmp).num_rows
        if written != table.num_rows:  # final only when it holds every row of its sentences
            raise RuntimeError(f"{target.name}: wrote {written} of {table.num_rows} rows; not made final")
        os.replace(tmp, target)  # whole parts only: a killed run never leaves half a file under the real name
    finally:
        tmp.unlink(missing_ok=True)
    return True


def _write_manifest(out: Path, manifest: dict[str, Any]) -> None:
    tmp = tmp_sibling(out / MANIFEST)
    tmp.write_text(json.dumps(manifest, ensure_ascii=False, indent=1), encoding="utf-8")
    os.replace(tmp, out / MANIFEST)


def prepare_output(out: str | os.PathLike, manifest: dict[str, Any]) -> Path:
    """Creates ``out`` or checks that it holds this same recording (never touches another folder's files); refuses a
    folder inside a git work tree and removes the temporary files a killed build left (lstmviz/corpus/guard.py)."""
    out = refuse_git_worktree(out, "--out")
    if out.exists():
        if not out.is_dir():
            raise ValueError(f"--out {out} exists and is not a folder")
        # another shard's (or thread's) temporary manifest, not yet renamed, is not a foreign file
        entries = [p.name for p in out.iterdir() if not (p.name.startswith(".") and ".tmp-" in p.name)]
        if entries:
            if MANIFEST not in entries:
                raise RecordingMismatch(
                    f"--out {out} holds files that are not a lstmviz corpus recording "
                    f"({', '.join(sorted(entries)[:5])}); name a new or empty folder"
                )
            old = read_manifest(out)
            if _identity(old) != _identity(manifest):
                raise RecordingMismatch(
                    f"--out {out} holds a recording of another model, corpus or settings; "
                    "name a new folder (nothing was changed)"
                )
    out.mkdir(parents=True, exist_ok=True)
    clean_stale_tmp(out)  # this recording's own folder only, files of dead processes only
    _write_manifest(out, manifest)  # same content from every shard: concurrent writers agree
    return out


def check_recordable(checkpoint: str | os.PathLike) -> None:
    """Refuses a checkpoint whose ``meta.json`` names a model kind the recorder cannot record (see
    :func:`recordable_kinds`), from the meta alone, before any model or text is loaded.

    Raises:
        CheckpointError: one line naming the folder, its kind and the kinds allowed (a folder without a
            ``meta.json`` passes: loading it names what is missing).

    Example:
        >>> check_recordable("checkpoints/sentiment-bow")  # doctest: +SKIP
        Traceback (most recent call last):
        lstmviz.checkpoint.CheckpointError: checkpoints/sentiment-bow: model_kind='bow' cannot be recorded ...
    """
    from lstmviz.checkpoint import META_FILE, CheckpointError, read_meta

    meta_path = Path(checkpoint) / META_FILE
    if not meta_path.is_file():
        return
    from lstmviz.kinds import KINDS

    meta = read_meta(meta_path)
    kind = meta.get("model_kind", "recurrent")  # checkpoints before the registry are recurrent
    try:
        views = KINDS[kind].views(KINDS[kind].config(meta.get("config")))
    except (KeyError, TypeError, ValueError):
        views = frozenset()  # an unknown kind or a bad config: refused here, named by the loader otherwise
    if "corpus" not in views:
        allowed = ", ".join(recordable_kinds())
        raise CheckpointError(
            f"{checkpoint}: model_kind={str(kind)[:80]!r} cannot be recorded by the corpus recorder; "
            f"allowed: {allowed} (a sentiment or cue-recall classifier)"
        )


def open_recording(
    checkpoint: str | os.PathLike,
    data: str | os.PathLike,
    out: str | os.PathLike,
    quantities: Sequence[str] | None,
    dtype: str,
    part_size: int,
    text_column: str,
) -> tuple:
    """Loads the model and the texts, plans the parts and prepares ``out`` (shared by every engine).

    Returns:
        ``(predictor, texts, spec, columns, manifest, out folder)``.
    """
    from lstmviz.pipeline import Predictor

    check_recordable(checkpoint)
    predictor = Predictor.from_checkpoint(checkpoint)
    texts, sha = load_texts(data, text_column)
    spec, columns = plan(predictor, texts, sha, str(checkpoint), quantities, dtype, part_size)
    manifest = _manifest(spec, columns)
    return predictor, texts, spec, columns, manifest, prepare_output(out, manifest)


def record_corpus(
    checkpoint: str | os.PathLike,
    data: str | os.PathLike,
    out: str | os.PathLike,
    *,
    quantities: Sequence[str] | None = None,
    dtype: str = "float16",
    part_size: int = 256,
    batch_size: int = 64,
    shard: tuple[int, int] = (0, 1),
    text_column: str = "Sentence",
    progress: Callable[[int, int], None] | None = None,
) -> dict[str, Any]:
    """Records every sentence of ``data`` through the model of ``checkpoint`` into the dataset ``out``.

    Args:
        checkpoint: A recurrent classifier checkpoint (sentiment or cue recall).
        data: The corpus CSV or the OpenSentimentCorpus folder.
        out: The dataset folder (created; reused only for the same recording, whose finished parts are kept).
        quantities: Forward quantities to store (default: all of the cell's).
        dtype: ``"float16"`` (default, half the size) or ``"float32"`` (the recorder's exact values).
        part_size: Sentences per part file (the unit of resumption and of sharding).
        batch_size: Sentences per forward pass.
        shard: ``(i, n)``: record only the parts with ``index % n == i``.
        text_column: The CSV column of the texts.
        progress: Called ``(parts done, parts of this shard)`` after every part.

    Returns:
        The manifest.

    Example:
        >>> m = record_corpus(  # doctest: +SKIP
        ...     "checkpoints/sentiment-gru", "../shared/data/opensentimentcorpus", "/tmp/r"
        ... )
        >>> m["columns"]["hidden_l0_fwd"]["units"]  # doctest: +SKIP
        64
    """
    i, n = shard
    if not (isinstance(n, int) and n >= 1 and isinstance(i, int) and 0 <= i < n):
        raise ValueError(f"shard={shard!r} is invalid; allowed: (i, n) with 0 <= i < n")
    check_batch_size(batch_size)  # before any folder is made
    predictor, texts, spec, columns, manifest, target = open_recording(
        checkpoint, data, out, quantities, dtype, part_size, text_column
    )
    mine = [k for k in range(len(spec.parts())) if k % n == i]
    for done, k in enumerate(mine, 1):
        record_part(predictor, texts, target, k, spec, columns, batch_size)
        if progress is not None:
            progress(done, len(mine))
    return manifest


def cache_root() -> Path:
    """Where the dashboard keeps corpus recordings: ``$LSTMVIZ_CACHE`` or ``$XDG_CACHE_HOME/lstmviz`` (default
    ``~/.cache/lstmviz``), then ``corpus/``; never inside the repository (a recording holds corpus text):
    ``$LSTMVIZ_CACHE`` inside a git work tree raises :class:`lstmviz.corpus.guard.InsideGitWorkTree`.

    Example:
        >>> cache_root().name
        'corpus'
    """
    base = (
        os.environ.get("LSTMVIZ_CACHE") or Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "lstmviz"
    )
    if os.environ.get("LSTMVIZ_CACHE"):
        refuse_git_worktree(base, "LSTMVIZ_CACHE")
    return Path(base) / "corpus"


def recording_folder(
    model_fingerprint: str, data_sha256: str, dtype: str = "float16", root: str | os.PathLike | None = None
) -> Path:
    """The cache folder of one (model, corpus, dtype) recording under ``root`` (default :func:`cache_root`).

    Example:
        >>> recording_folder("ab" * 32, "cd" * 32, root="/tmp/c").as_posix()
        '/tmp/c/abababababababab-cdcdcdcdcdcdcdcd-float16'
    """
    return Path(cache_root() if root is None else root) / f"{model_fingerprint[:16]}-{data_sha256[:16]}-{dtype}"


def is_complete(folder: str | os.PathLike) -> bool:
    """Whether every part the manifest plans is present (a finished recording).

    Example:
        >>> is_complete("/nonexistent")
        False
    """
    try:
        manifest = read_manifest(folder)
    except ValueError:
        return False
    return all((Path(folder) / p["file"]).is_file() for p in manifest.get("parts", []))
