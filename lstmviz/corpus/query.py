"""Queries on a corpus recording with DuckDB: each unit's top contexts, activation histograms, LSTMVis matches.

The recording (see :mod:`lstmviz.corpus.record`) is read in place by DuckDB (``read_parquet`` over the
part files); nothing is loaded whole. Top contexts and histograms are SQL. The LSTMVis match streams
one value column in Arrow batches of whole sentences and keeps only the best ``k`` spans, so memory
stays bounded for any corpus size.

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
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from lstmviz.corpus.record import read_manifest

__all__ = ["CorpusQuery", "units_on"]

_PART = re.compile(r"part-\d{5}\.parquet")
BATCH_ROWS = 65_536  # tokens per Arrow batch the match reads (bounded memory for any corpus)


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
    """Read-only queries on one recording folder (a fresh DuckDB connection per object; not shared by threads).

    Example:
        >>> q = CorpusQuery("/tmp/rec")  # doctest: +SKIP
        >>> q.histogram("hidden_l0_fwd", 3).shape[1]  # doctest: +SKIP
        3
    """

    def __init__(self, folder: str | os.PathLike) -> None:
        import duckdb

        self.folder = Path(folder)
        self.manifest = read_manifest(self.folder)
        names = [str(p.get("file", "")) if isinstance(p, dict) else "" for p in self.manifest.get("parts", [])]
        bad = [n for n in names if not _PART.fullmatch(n)]
        if bad:  # the names go into SQL: only our own pattern is accepted
            raise ValueError(f"{self.folder / 'manifest.json'} names parts that are not lstmviz part files: {bad[:3]}")
        files = [str(self.folder / n) for n in names if (self.folder / n).is_file()]
        if not files:
            raise ValueError(f"{self.folder} holds no recorded part yet")
        self.complete = len(files) == len(names)
        self.con = duckdb.connect()
        listed = ", ".join("'" + f.replace("'", "''") + "'" for f in files)  # DDL takes no parameters
        self.con.execute(f"CREATE VIEW tokens AS SELECT * FROM read_parquet([{listed}])")

    def _column(self, column: str) -> dict[str, Any]:
        info = self.manifest["columns"].get(column)
        if info is None:
            raise ValueError(f"column {column!r} is not in this recording; allowed: {', '.join(self.manifest['columns'])}")
        return info

    def _unit(self, column: str, unit: int) -> int:
        units = self._column(column)["units"]
        if isinstance(unit, bool) or not isinstance(unit, (int, np.integer)) or not 0 <= unit < units:
            raise ValueError(f"unit={unit!r} is invalid; allowed: 0 .. {units - 1}")
        return int(unit) + 1  # DuckDB lists are 1-based

    def sql(self, query: str, params: Any = None) -> pd.DataFrame:
        """Any SQL over the view ``tokens`` (one row per token), as a DataFrame."""
        return self.con.execute(query, params).df()

    def sentence(self, sentence_id: int) -> pd.DataFrame:
        """The tokens of one sentence in order (``step, token, start, end``)."""
        return self.sql("SELECT step, token, start, \"end\" FROM tokens WHERE sentence_id = $s ORDER BY step",
                        {"s": int(sentence_id)})  # fmt: skip

    def _contexts(self, hits: pd.DataFrame, window: int) -> pd.DataFrame:
        """Adds ``left``, ``span`` and ``right`` text columns for hits (``sentence_id, first, last``)."""
        if hits.empty:
            return hits.assign(left=[], span=[], right=[])
        ids = sorted(set(hits["sentence_id"].astype(int)))
        toks = self.sql("SELECT sentence_id, step, token FROM tokens WHERE list_contains($ids, sentence_id) "
                        "ORDER BY sentence_id, step", {"ids": ids})  # fmt: skip
        by_id = {k: g["token"].tolist() for k, g in toks.groupby("sentence_id")}
        left, span, right = [], [], []
        for sid, a, b in hits[["sentence_id", "first", "last"]].itertuples(index=False):
            words = by_id.get(int(sid), [])
            left.append(" ".join(words[max(0, a - window) : a]))
            span.append(" ".join(words[a : b + 1]))
            right.append(" ".join(words[b + 1 : b + 1 + window]))
        return hits.assign(left=left, span=span, right=right)

    def top_contexts(self, column: str, unit: int, k: int = 10, window: int = 4, lowest: bool = False) -> pd.DataFrame:
        """The ``k`` tokens where ``unit`` of ``column`` is highest (or lowest), with ``window`` words each side.

        Returns:
            ``rank, sentence_id, first, last (= the token's step), value, left, span, right``.
        """
        u = self._unit(column, unit)
        order = "ASC" if lowest else "DESC"
        hits = self.sql(f'SELECT sentence_id, step AS first, step AS last, "{column}"[{u}] AS value FROM tokens '
                        f"ORDER BY value {order}, sentence_id, step LIMIT $k", {"k": int(k)})  # fmt: skip
        hits.insert(0, "rank", np.arange(1, len(hits) + 1))
        return self._contexts(hits, window)

    def histogram(self, column: str, unit: int, bins: int = 40) -> pd.DataFrame:
        """Counts of ``unit``'s values in ``bins`` equal bins between its minimum and maximum (``lo, hi, count``)."""
        u = self._unit(column, unit)
        lo, hi = self.con.execute(f'SELECT min("{column}"[{u}]), max("{column}"[{u}]) FROM tokens').fetchone()
        width = (hi - lo) / bins if hi > lo else 1.0
        counts = self.sql(f'SELECT least(floor(("{column}"[{u}] - $lo) / $w), $b - 1)::INT AS bin, count(*) AS n '
                          "FROM tokens GROUP BY bin ORDER BY bin", {"lo": lo, "w": width, "b": int(bins)})  # fmt: skip
        full = np.zeros(bins, dtype=np.int64)
        full[counts["bin"].to_numpy()] = counts["n"].to_numpy()
        edges = lo + width * np.arange(bins + 1)
        return pd.DataFrame({"lo": edges[:-1], "hi": edges[1:], "count": full})

    def _sentence_batches(self, column: str):
        """``(sentence_ids (N,), steps (N,), values (N, U))`` chunks of whole sentences, in corpus order."""
        units = self._column(column)["units"]
        reader = self.con.sql(f'SELECT sentence_id, step, "{column}" AS v FROM tokens ORDER BY sentence_id, step'
                              ).to_arrow_reader(BATCH_ROWS)  # streamed: never the whole column at once  # fmt: skip
        carry = (np.zeros(0, np.int64), np.zeros(0, np.int32), np.zeros((0, units), np.float32))
        for batch in reader:
            vals = batch.column(2).flatten().to_numpy(zero_copy_only=False).astype(np.float32).reshape(-1, units)
            ids, steps, vals = (np.concatenate([c, x]) for c, x in zip(carry, (batch.column(0).to_numpy(),
                                                                             batch.column(1).to_numpy(), vals)))  # fmt: skip
            cut = int(np.searchsorted(ids, ids[-1])) if len(ids) else 0  # the last sentence may continue
            yield ids[:cut], steps[:cut], vals[:cut]
            carry = (ids[cut:], steps[cut:], vals[cut:])
        if len(carry[0]):
            yield carry

    def match(self, column: str, units: Sequence[int], threshold: float, length: int, k: int = 20,
              off_before: bool = True, window: int = 4) -> pd.DataFrame:  # fmt: skip
        """Corpus spans of ``length`` tokens where the selected ``units`` switch on, ranked as LSTMVis does.

        Returns:
            ``rank, sentence_id, first, last, selected_on, others_on, jaccard, left, span, right`` (best first).

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
        best = pd.DataFrame(columns=["sentence_id", "first", "selected_on", "others_on"])
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
            part = pd.DataFrame({"sentence_id": ids[cand], "first": steps[cand], "selected_on": n_sel[cand],
                                 "others_on": n_oth[cand]})  # fmt: skip
            best = pd.concat([best, part]).sort_values(["selected_on", "others_on", "sentence_id", "first"],
                                                       ascending=[False, True, True, True]).head(k)  # fmt: skip
        best = best.astype({"sentence_id": np.int64, "first": np.int64, "selected_on": np.int64,
                            "others_on": np.int64}).reset_index(drop=True)  # fmt: skip
        best.insert(2, "last", best["first"] + length - 1)
        best["jaccard"] = best["selected_on"] / (len(sel) + best["others_on"])
        best.insert(0, "rank", np.arange(1, len(best) + 1))
        return self._contexts(best, window)
