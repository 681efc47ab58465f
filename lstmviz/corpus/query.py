"""Queries on a corpus recording with DuckDB: each unit's top contexts, activation histograms, LSTMVis matches.

The recording (see :mod:`lstmviz.corpus.record`) is read in place by DuckDB (``read_parquet`` over the
part files); nothing is loaded whole. Top contexts and histograms are SQL. The LSTMVis match streams
one value column part by part in Arrow batches of whole sentences and keeps only the best ``k`` spans,
so memory stays bounded for any corpus size.

A recording folder is data, never code (issue 19). Its manifest is checked field by field
(:mod:`lstmviz.corpus.manifest`) and a column name reaches SQL only as an identifier rebuilt by our own
code from its parsed parts (:func:`~lstmviz.corpus.manifest.sql_identifier`); values are parameters.
The part files are the manifest's, listed by us and passed literally (a folder named ``rec?`` is read
through symlinks with plain names, because DuckDB expands ``*``, ``?`` and ``[`` in the paths it gets).
Each part is checked before it is queried: a regular file inside the folder, a Parquet file DuckDB can
open, the columns and types the manifest names, and at most :data:`~lstmviz.pipeline.MAX_TOKENS` rows
per sentence (the recorder's cap; a longer sentence is refused naming its part, before its rows are
gathered). The DuckDB connection is a second wall: it may open only those part files
(``allowed_paths``, then ``enable_external_access = false`` and ``lock_configuration = true``), so it
reads no other file and writes no new one, and :meth:`CorpusQuery.sql` runs one ``SELECT`` only.
Every failure is a ``ValueError`` of one line naming the file or the value and what is allowed.

The match follows LSTMVis (Strobelt et al. 2018, ``query_similar_activations``): a unit is *on* at a step
when its value exceeds the threshold; a corpus span of the selection's length *matches* a unit when the
unit is on at every step of the span and (with ``off_before``) off at the step just before it (or the
span starts the sentence). Spans are ranked by the number of selected units that match (more first),
then by the number of other units that match (fewer first: the pattern is specific), then by position.

Example::

    q = CorpusQuery("/tmp/rec")
    q.top_contexts("hidden_l0_fwd", unit=5, k=10)
    q.match("hidden_l0_fwd", units=[5, 17], threshold=0.3, length=2)
"""

from __future__ import annotations

import os
import shutil
import tempfile
import weakref
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from lstmviz.corpus.manifest import sql_identifier
from lstmviz.corpus.record import read_manifest
from lstmviz.pipeline import MAX_TOKENS

__all__ = ["CorpusQuery", "units_on", "merge_overlaps"]

BATCH_ROWS = 65_536  # tokens per Arrow batch the match reads (bounded memory for any corpus)
GLOB_CHARS = frozenset("*?[")  # what DuckDB expands in a path it is given
META_TYPES = {  # DuckDB's types of the token columns every part holds
    "sentence_id": "BIGINT",
    "step": "INTEGER",
    "token": "VARCHAR",
    "lemma": "VARCHAR",
    "start": "INTEGER",
    "end": "INTEGER",
    "unknown": "BOOLEAN",
}
_RECORD_AGAIN = "a part written by `python -m lstmviz.corpus record` (delete it and record again)"


def _first_line(error: BaseException) -> str:
    lines = str(error).strip().splitlines()
    return lines[0][:300] if lines else type(error).__name__


def walled_connection(paths: Sequence[str]) -> Any:
    """A DuckDB connection that may open ``paths`` and no other file: it cannot read, write, attach, install or
    load anything else, and its settings are locked (``SET`` / ``RESET`` of them fail).

    ``allowed_paths`` is set first: DuckDB reads a view lazily, so a view made before access is closed could not
    read its own files afterwards.

    Example:
        >>> import duckdb
        >>> con = walled_connection([])
        >>> try:
        ...     con.execute("COPY (SELECT 1) TO 'x.csv'")
        ... except duckdb.PermissionException as e:
        ...     print(str(e).split(" - ")[-1])
        file system operations are disabled by configuration
    """
    import duckdb

    con = duckdb.connect(":memory:", config={"autoinstall_known_extensions": False, "autoload_known_extensions": False})
    con.execute("SET allowed_paths = $p", {"p": list(paths)})
    con.execute("SET enable_external_access = false")
    con.execute("SET lock_configuration = true")
    return con


def units_on(values: np.ndarray, start: int, end: int, threshold: float, off_before: bool = True) -> list[int]:
    """Units on (> ``threshold``) at every step of ``[start, end]`` and, with ``off_before``, off just before it:
    LSTMVis's selection from a span of one sentence's ``(T, U)`` values.

    Example:
        >>> v = np.array([[0.0, 0.9, 0.9], [0.8, 0.9, 0.1], [0.9, 0.9, 0.9]])
        >>> units_on(v, 1, 2, 0.5), units_on(v, 1, 2, 0.5, off_before=False)
        ([0], [0, 1])
    """
    v = np.asarray(values, dtype=float)
    if not 0 <= start <= end < len(v):
        raise ValueError(f"span [{start}, {end}] is outside the sentence's {len(v)} steps")
    on = (v[start : end + 1] > threshold).all(0)
    if off_before and start > 0:
        on &= v[start - 1] <= threshold
    return np.flatnonzero(on).tolist()


class CorpusQuery:
    """Read-only queries on one recording folder (a fresh, walled DuckDB connection per object; not shared by
    threads).

    Raises:
        ValueError: one line naming the file or value and what is allowed, for a manifest or part that is not
            one of ours (see the module docstring); also from every query on data that breaks the checks.

    Example:
        >>> q = CorpusQuery("/tmp/rec")  # doctest: +SKIP
        >>> q.histogram("hidden_l0_fwd", 3).shape[1]  # doctest: +SKIP
        3
    """

    def __init__(self, folder: str | os.PathLike) -> None:
        from lstmviz.safeio import UnsafeFileError, check_regular

        self.folder = Path(folder)
        self.manifest = read_manifest(self.folder)
        self._parts: list[tuple[int, Path, str]] = []  # (index, path, the path DuckDB is given)
        for i, part in enumerate(self.manifest["parts"]):
            path = self.folder / part["file"]  # a name of our own pattern (validated): no SQL, no glob
            if os.path.lexists(path):
                try:
                    check_regular(path, inside=self.folder)  # no FIFO, device, or symlink out of the folder
                except UnsafeFileError as e:
                    raise ValueError(f"{e}; allowed: a regular file inside the recording folder") from None
                self._parts.append((i, path, os.path.abspath(path)))
        if not self._parts:
            raise ValueError(f"{self.folder} holds no recorded part yet")
        self.complete = len(self._parts) == len(self.manifest["parts"])
        self._tmp: Path | None = None
        if any(GLOB_CHARS & set(given) for _, _, given in self._parts):
            self._parts = self._plain_names(self._parts)
        self.con = walled_connection([given for _, _, given in self._parts])
        for i, path, given in self._parts:
            self._check_part(i, path, given)
        self.con.read_parquet([given for _, _, given in self._parts]).create_view("tokens")

    def _plain_names(self, parts: list[tuple[int, Path, str]]) -> list[tuple[int, Path, str]]:
        """The parts behind symlinks in a private temporary folder whose path has no ``*``, ``?`` or ``[`` (DuckDB
        would expand them and read other folders' files); the folder goes with this object."""
        tmp = Path(tempfile.mkdtemp(prefix="lstmviz-corpus-"))
        self._tmp = tmp
        weakref.finalize(self, shutil.rmtree, tmp, True)
        if GLOB_CHARS & set(str(tmp)):
            raise ValueError(
                f"{self.folder} has *, ? or [ in its path and so has the temporary folder {tmp}; "
                "allowed: a temporary folder (TMPDIR) without them"
            )
        out = []
        for i, path, given in parts:
            link = tmp / path.name
            try:
                os.symlink(given, link)
            except OSError as e:
                raise ValueError(f"{self.folder} has *, ? or [ in its path and {link} cannot link to it: {e}") from None
            out.append((i, path, str(link)))
        return out

    def _check_part(self, index: int, path: Path, given: str) -> None:
        """One part is a Parquet file with the manifest's columns and types and at most ``MAX_TOKENS`` rows per
        sentence of its range; ValueError naming the file otherwise."""
        import duckdb

        first, end = self.manifest["parts"][index]["first"], self.manifest["parts"][index]["end"]
        try:
            described = self.con.execute("DESCRIBE SELECT * FROM read_parquet($f)", {"f": [given]}).fetchall()
            ((rows,),) = self.con.execute("SELECT num_rows FROM parquet_file_metadata($f)", {"f": [given]}).fetchall()
        except duckdb.Error as e:
            raise ValueError(
                f"{path} is not a readable Parquet file ({_first_line(e)}); allowed: {_RECORD_AGAIN}"
            ) from None
        got = {str(r[0]): str(r[1]) for r in described}
        want = dict(META_TYPES)
        for name, info in self.manifest["columns"].items():
            want[name] = f"FLOAT[{info['units']}]"
        for name, kind in want.items():
            if name not in got:
                raise ValueError(f"{path} has no column {name}; allowed: {_RECORD_AGAIN}")
            ok = (kind, "FLOAT[]") if kind.startswith("FLOAT[") else (kind,)
            if got[name] not in ok:
                raise ValueError(
                    f"{path}: column {name} is {got[name][:60]}; allowed: {' or '.join(ok)} "
                    f"(dtype {self.manifest['dtype']})"
                )
        extra = sorted(set(got) - set(want))
        if extra:
            raise ValueError(
                f"{path} has a column the manifest does not name ({extra[0][:60]!r}); allowed: {_RECORD_AGAIN}"
            )
        if list(got) != list(want):  # the parts are read as one table: same columns in the same order
            raise ValueError(f"{path} holds its columns in another order; allowed: {', '.join(want)}")
        limit = (end - first) * MAX_TOKENS
        if rows > limit:
            raise ValueError(
                f"{path} holds {rows:,} rows for {end - first:,} sentences; allowed: at most {MAX_TOKENS} tokens a "
                f"sentence ({limit:,} rows)"
            )

    def close(self) -> None:
        """Closes the DuckDB connection (and removes the temporary links, if any)."""
        self.con.close()
        if self._tmp is not None:
            shutil.rmtree(self._tmp, ignore_errors=True)

    def __enter__(self) -> CorpusQuery:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _part_name(self, sentence_id: int) -> str:
        """The part file that holds a sentence, by the manifest's plan."""
        i = int(sentence_id) // self.manifest["part_size"]
        return (
            str(self.folder / self.manifest["parts"][i]["file"])
            if 0 <= i < len(self.manifest["parts"])
            else (f"{self.folder} (sentence {sentence_id} is outside every part)")
        )

    def _column(self, column: str) -> dict[str, Any]:
        info = self.manifest["columns"].get(column) if isinstance(column, str) else None
        if info is None:
            raise ValueError(
                f"column {column!r} is not in this recording; allowed: {', '.join(self.manifest['columns'])}"
            )
        return info

    def _ident(self, column: str) -> str:
        """The SQL identifier of a value column of this recording, built by our own code (never the given text)."""
        self._column(column)
        return sql_identifier(column)

    def _unit(self, column: str, unit: int) -> int:
        units = self._column(column)["units"]
        if isinstance(unit, bool) or not isinstance(unit, (int, np.integer)) or not 0 <= unit < units:
            raise ValueError(f"unit={unit!r} is invalid; allowed: 0 .. {units - 1}")
        return int(unit) + 1  # DuckDB lists are 1-based

    @staticmethod
    def _one_select(query: str) -> None:
        """ValueError unless ``query`` is exactly one SELECT statement (no COPY, ATTACH, SET, PRAGMA, ...)."""
        import duckdb

        try:
            kinds = [st.type for st in duckdb.extract_statements(query)]
        except duckdb.Error as e:
            raise ValueError(f"SQL is invalid: {_first_line(e)}") from None
        if kinds != [duckdb.StatementType.SELECT]:
            names = ", ".join(k.name for k in kinds) or "none"
            raise ValueError(f"SQL of {len(kinds)} statement(s) ({names}); allowed: one SELECT")

    def _run(self, query: str, params: Any = None) -> Any:
        """Executes one SELECT of ours or the caller's on the walled connection; DuckDB errors become one line."""
        import duckdb

        self._one_select(query)
        try:
            return self.con.execute(query, params)
        except duckdb.Error as e:
            raise ValueError(f"{self.folder}: {_first_line(e)}") from None

    def sql(self, query: str, params: Any = None) -> pd.DataFrame:
        """One SELECT over the view ``tokens`` (one row per token), as a DataFrame; it reads the parts only.

        Example:
            >>> CorpusQuery("/tmp/rec").sql("SELECT count(*) AS n FROM tokens")  # doctest: +SKIP
        """
        import duckdb

        try:
            return self._run(query, params).df()
        except duckdb.Error as e:
            raise ValueError(f"{self.folder}: {_first_line(e)}") from None

    def sentence(self, sentence_id: int) -> pd.DataFrame:
        """The tokens of one sentence in order (``step, token, start, end``)."""
        out = self.sql(
            'SELECT step, token, start, "end" FROM tokens WHERE sentence_id = $s ORDER BY step LIMIT $n',
            {"s": int(sentence_id), "n": MAX_TOKENS + 1},
        )
        if len(out) > MAX_TOKENS:
            raise self._too_long(sentence_id)
        return out

    def _too_long(self, sentence_id: int, path: Path | None = None) -> ValueError:
        return ValueError(
            f"{path or self._part_name(sentence_id)}: sentence {sentence_id} has more than {MAX_TOKENS} tokens; "
            f"allowed: at most {MAX_TOKENS} (the recorder's cap, lstmviz.pipeline.MAX_TOKENS)"
        )

    def _contexts(self, hits: pd.DataFrame, window: int) -> pd.DataFrame:
        """Adds ``left``, ``span`` and ``right`` text columns for hits (``sentence_id, first, last``)."""
        if hits.empty:
            return hits.assign(left=[], span=[], right=[])
        ids = sorted(set(hits["sentence_id"].astype(int)))
        toks = self.sql(
            "SELECT sentence_id, step, token FROM tokens WHERE list_contains($ids, sentence_id) "
            "ORDER BY sentence_id, step LIMIT $n",
            {"ids": ids, "n": len(ids) * MAX_TOKENS + 1},  # bounded: no sentence is longer
        )
        by_id = {k: g["token"].fillna("").astype(str).tolist() for k, g in toks.groupby("sentence_id")}
        for sid, words in by_id.items():
            if len(words) > MAX_TOKENS:
                raise self._too_long(sid)
        left, span, right = [], [], []
        for sid, a, b in hits[["sentence_id", "first", "last"]].itertuples(index=False):
            words = by_id.get(int(sid), [])
            left.append(" ".join(words[max(0, a - window) : a]))
            span.append(" ".join(words[a : b + 1]))
            right.append(" ".join(words[b + 1 : b + 1 + window]))
        return hits.assign(left=left, span=span, right=right)

    def top_contexts(
        self,
        column: str,
        unit: int,
        k: int = 10,
        window: int = 4,
        lowest: bool = False,
        per_sentence: int | None = 1,
    ) -> pd.DataFrame:
        """The ``k`` tokens where ``unit`` of ``column`` is highest (or lowest), with ``window`` words each side.

        A unit that stays high along one long sentence would fill the list with that sentence alone, so by default
        each sentence gives only its best token (``per_sentence``; ``None`` lifts the limit).

        Returns:
            ``rank, sentence_id, first, last (= the token's step), value, left, span, right``.

        Example:
            >>> q.top_contexts("hidden_l0_fwd", unit=5, k=3)["sentence_id"].is_unique  # doctest: +SKIP
            True
        """
        u = self._unit(column, unit)
        if per_sentence is not None and (
            isinstance(per_sentence, bool) or not isinstance(per_sentence, (int, np.integer)) or per_sentence < 1
        ):
            raise ValueError(f"per_sentence={per_sentence!r} is invalid; allowed: None or an integer >= 1")
        order, x = ("ASC" if lowest else "DESC"), f"{self._ident(column)}[$u]"
        # each sentence's best tokens (their rank inside the sentence), then the best of those over the corpus
        cap = f"QUALIFY row_number() OVER (PARTITION BY sentence_id ORDER BY {x} {order}, step) <= $m "
        hits = self.sql(
            f"SELECT sentence_id, step AS first, step AS last, {x} AS value FROM tokens "
            f"{'' if per_sentence is None else cap}ORDER BY value {order}, sentence_id, step LIMIT $k",
            {"u": u, "k": int(k)} | ({} if per_sentence is None else {"m": int(per_sentence)}),
        )
        hits.insert(0, "rank", np.arange(1, len(hits) + 1))
        return self._contexts(hits, window)

    def histogram(self, column: str, unit: int, bins: int = 40) -> pd.DataFrame:
        """Counts of ``unit``'s values in ``bins`` equal bins between its minimum and maximum (``lo, hi, count``)."""
        u = self._unit(column, unit)
        ident = self._ident(column)
        ((lo, hi, missing),) = self._run(
            f"SELECT min(x), max(x), count(*) - count(x) FROM (SELECT {ident}[$u] AS x FROM tokens)", {"u": u}
        ).fetchall()
        if missing:
            raise ValueError(
                f"{self.folder}: {missing:,} rows have no value of unit {unit} in {column}; allowed: "
                f"{self._column(column)['units']} values on every row"
            )
        if lo is None:
            raise ValueError(f"{self.folder} holds no tokens yet")
        if not (np.isfinite(lo) and np.isfinite(hi)):
            raise ValueError(f"{self.folder}: {column} unit {unit} reaches {lo} .. {hi}; allowed: finite values")
        width = (hi - lo) / bins if hi > lo else 1.0
        counts = self.sql(
            f"SELECT least(floor(({ident}[$u] - $lo) / $w), $b - 1)::INT AS bin, count(*) AS n "
            "FROM tokens GROUP BY bin ORDER BY bin",
            {"u": u, "lo": lo, "w": width, "b": int(bins)},
        )
        full = np.zeros(bins, dtype=np.int64)
        full[counts["bin"].to_numpy()] = counts["n"].to_numpy()
        edges = lo + width * np.arange(bins + 1)
        return pd.DataFrame({"lo": edges[:-1], "hi": edges[1:], "count": full})

    def _part_batches(self, index: int, path: Path, given: str, column: str) -> Iterator[tuple]:
        """``(sentence_ids, steps, values (N, U))`` of one part in stored order, in chunks of whole sentences;
        checks every row on the way (bounded memory: a batch plus one sentence)."""
        import duckdb

        units = self._column(column)["units"]
        first, end = self.manifest["parts"][index]["first"], self.manifest["parts"][index]["end"]
        query = f"SELECT sentence_id, step, {self._ident(column)} AS v FROM read_parquet($f)"  # stored order
        carry = (np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros((0, units), np.float32))
        cursor = self.con.cursor()  # its own result: an abandoned stream leaves the connection usable
        try:
            self._one_select(query)
            reader = cursor.sql(query, params={"f": [given]}).to_arrow_reader(BATCH_ROWS)
            for batch in reader:
                if not batch.num_rows:
                    continue
                ids, steps, vals = self._checked(path, batch, units, first, end)
                ids, steps, vals = (np.concatenate([c, x]) for c, x in zip(carry, (ids, steps, vals)))
                self._check_order(path, ids, steps)
                cut = int(np.searchsorted(ids, ids[-1]))  # the last sentence may continue in the next batch
                yield ids[:cut], steps[:cut], vals[:cut]
                carry = (ids[cut:], steps[cut:], vals[cut:])
        except duckdb.Error as e:
            raise ValueError(f"{path} cannot be read ({_first_line(e)}); allowed: {_RECORD_AGAIN}") from None
        finally:
            cursor.close()
        if len(carry[0]):
            yield carry

    @staticmethod
    def _checked(path: Path, batch: Any, units: int, first: int, end: int) -> tuple:
        import pyarrow.compute as pc

        sid, step, v = batch.column(0), batch.column(1), batch.column(2)
        lengths = pc.list_value_length(v)
        if sid.null_count or step.null_count or v.null_count or pc.any(pc.not_equal(lengths, units)).as_py():
            raise ValueError(f"{path} has rows with a missing id, step or value; allowed: {units} values on every row")
        flat = v.flatten()
        if flat.null_count:
            raise ValueError(f"{path} has missing values; allowed: {units} values on every row")
        ids = sid.to_numpy().astype(np.int64, copy=False)
        bad = (ids < first) | (ids >= end)
        if bad.any():
            raise ValueError(
                f"{path}: sentence_id {int(ids[bad][0])} is outside the part's sentences; allowed: {first} .. {end - 1}"
            )
        vals = flat.to_numpy(zero_copy_only=False).astype(np.float32).reshape(-1, units)
        return ids, step.to_numpy().astype(np.int64), vals

    def _check_order(self, path: Path, ids: np.ndarray, steps: np.ndarray) -> None:
        """Rows are whole sentences in order, steps 0, 1, ... each, none longer than ``MAX_TOKENS``."""
        if np.any(ids[1:] < ids[:-1]):
            raise ValueError(f"{path}: rows are not in recording order; allowed: {_RECORD_AGAIN}")
        idx = np.arange(len(ids))
        starts = np.r_[True, ids[1:] != ids[:-1]]
        position = idx - np.maximum.accumulate(np.where(starts, idx, 0))  # row's place in its sentence
        if position.max(initial=0) >= MAX_TOKENS:
            raise self._too_long(int(ids[int(np.argmax(position >= MAX_TOKENS))]), path)
        if not np.array_equal(position, steps):
            raise ValueError(f"{path}: steps are not 0, 1, 2, ... within a sentence; allowed: {_RECORD_AGAIN}")

    def _sentence_batches(self, column: str) -> Iterator[tuple]:
        """``(sentence_ids (N,), steps (N,), values (N, U))`` chunks of whole sentences, in corpus order."""
        for index, path, given in self._parts:
            yield from self._part_batches(index, path, given, column)

    def match(
        self,
        column: str,
        units: Sequence[int],
        threshold: float,
        length: int,
        k: int = 20,
        off_before: bool = True,
        window: int = 4,
        merge: bool = True,
    ) -> pd.DataFrame:
        """Corpus spans of ``length`` tokens where the selected ``units`` switch on, ranked as LSTMVis does.

        With ``merge`` (the default), matches that overlap in one sentence (units on for longer than ``length``
        steps match at several starts) are one row: the union of their spans, ranked by its best match, whose
        counts it shows; ``merged`` says how many matches it holds. Without it every start is a row of its own.

        Returns:
            ``rank, sentence_id, first, last, selected_on, others_on, merged, jaccard, left, span, right`` (best
            first).

        Example:
            >>> q.match("hidden_l0_fwd", [3, 9], 0.3, length=2).iloc[0]["span"]  # doctest: +SKIP
            'не понравился'
        """
        U = self._column(column)["units"]
        sel = sorted({self._unit(column, u) - 1 for u in units})
        if not sel:
            raise ValueError("units is empty; select at least one unit")
        if isinstance(length, bool) or not isinstance(length, int) or length < 1:
            raise ValueError(f"length={length!r} is invalid; allowed: an integer >= 1")
        mask = np.zeros(U, bool)
        mask[sel] = True
        keys = ["selected_on", "others_on", "sentence_id", "first"]
        best = pd.DataFrame(columns=["sentence_id", "first", "last", "selected_on", "others_on", "merged"])
        for ids, steps, vals in self._sentence_batches(column):
            n = len(ids) - length + 1
            if n <= 0:
                continue
            on = vals > threshold  # (N, U)
            c = np.concatenate([np.zeros((1, U), np.int32), np.cumsum(on, 0, dtype=np.int32)])  # (N+1, U)
            across = (c[length:] - c[:-length]) == length  # (n, U): on at every step of [t, t+length)
            same = ids[length - 1 :] == ids[:n]  # the span stays inside one sentence
            starts = np.r_[True, ids[1:] != ids[:-1]][:n]  # first step of its sentence
            if off_before:
                across &= starts[:, None] | ~np.r_[np.zeros((1, U), bool), on[:-1]][:n]
            across &= same[:, None]
            n_sel, n_oth = across[:, mask].sum(1), across[:, ~mask].sum(1)
            cand = np.flatnonzero(n_sel > 0)
            if not len(cand):
                continue
            part = pd.DataFrame(
                {"sentence_id": ids[cand], "first": steps[cand], "selected_on": n_sel[cand], "others_on": n_oth[cand]}
            )
            part = merge_overlaps(part, length) if merge else part.assign(last=part["first"] + length - 1, merged=1)
            best = pd.concat([best, part]).sort_values(keys, ascending=[False, True, True, True]).head(k)
        best = best.astype({c: np.int64 for c in best.columns}).reset_index(drop=True)
        best["jaccard"] = best["selected_on"] / (len(sel) + best["others_on"])
        best.insert(0, "rank", np.arange(1, len(best) + 1))
        return self._contexts(best[["rank", "sentence_id", "first", "last", *keys[:2], "merged", "jaccard"]], window)


def merge_overlaps(matches: pd.DataFrame, length: int) -> pd.DataFrame:
    """One row per run of overlapping matches of ``length`` tokens in one sentence: the union of their spans
    (``first``, ``last``), the counts of the best of them (most ``selected_on``, then fewest ``others_on``, then
    the earliest) and ``merged``, how many they are. ``matches`` holds ``sentence_id, first, selected_on,
    others_on`` in corpus order (each batch of :meth:`CorpusQuery.match` holds whole sentences, so no run is cut).

    Example:
        >>> m = pd.DataFrame({"sentence_id": [0, 0, 0, 1], "first": [2, 3, 6, 3],
        ...                   "selected_on": [1, 2, 1, 1], "others_on": [0, 4, 0, 0]})
        >>> merge_overlaps(m, 2)[["sentence_id", "first", "last", "selected_on", "merged"]].values.tolist()
        [[0, 2, 4, 2, 2], [0, 6, 7, 1, 1], [1, 3, 4, 1, 1]]
    """
    m = matches.reset_index(drop=True)
    sid, first = m["sentence_id"].to_numpy(), m["first"].to_numpy()
    # starts are increasing inside a sentence, so a match overlaps the run before it when it starts before the
    # previous match ends (previous start + length - 1); the run's end is its last match's end
    run = np.cumsum(np.r_[True, (sid[1:] != sid[:-1]) | (first[1:] > first[:-1] + length - 1)])
    m = m.assign(run=run)
    span = m.groupby("run").agg(first=("first", "min"), end=("first", "max"), merged=("first", "size"))
    top = m.sort_values(["run", "selected_on", "others_on", "first"], ascending=[True, False, True, True])
    top = top.drop_duplicates("run").set_index("run")[["sentence_id", "selected_on", "others_on"]]
    out = top.join(span).reset_index(drop=True)
    out["last"] = out.pop("end") + length - 1
    return out[["sentence_id", "first", "last", "selected_on", "others_on", "merged"]]
