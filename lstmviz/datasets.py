"""Loading labelled text (OpenSentimentCorpus or a user's CSV), stratified splits and baselines.

Every loader returns a DataFrame with exactly two string columns, ``text`` and ``label``, and
raises ``DataError`` (a ``ValueError``) with the path and the fix for every bad input: a missing
file, missing columns, an empty file, non-UTF-8 bytes, unparsable CSV.

``majority_baseline`` scores the most frequent training label with :func:`lstmviz.metrics.accuracy` and
:func:`lstmviz.metrics.macro_f1` (the library's scores live in :mod:`lstmviz.metrics`).
"""

from __future__ import annotations

import io
import math
import os
from collections import Counter
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from lstmviz.metrics import accuracy, macro_f1

__all__ = [
    "CORPUS_FILENAME",
    "MAX_DATA_BYTES",
    "CORPUS_LABELS",
    "DataError",
    "load_csv",
    "load_opensentiment",
    "majority_baseline",
    "stratified_split",
]

CORPUS_FILENAME = "opensentimentcorpus-final-by-majority.csv"
CORPUS_LABELS = ("negative", "neutral", "positive", "mixed")
MAX_DATA_BYTES = 64 * 1024 * 1024  # a training CSV larger than this is refused unread (the corpus is ~1.3 MB)


class DataError(ValueError):
    """A data file cannot be used; the message names the file and what to do."""


def load_opensentiment(path: str | os.PathLike[str], max_bytes: int = MAX_DATA_BYTES) -> pd.DataFrame:
    """Load OpenSentimentCorpus (columns ``Sentence``, ``Sentiment``).

    Args:
        path: The corpus CSV, or the directory holding ``opensentimentcorpus-final-by-majority.csv``.

    Returns:
        DataFrame with str columns ``text`` and ``label`` (5,961 rows for the majority file).

    Raises:
        DataError: If the file is missing, empty, not UTF-8 or lacks the columns.

    Example:
        >>> import tempfile
        >>> with tempfile.TemporaryDirectory() as folder:  # a two-row stand-in for the corpus folder
        ...     _ = (Path(folder) / CORPUS_FILENAME).write_text(
        ...         "Sentence,Sentiment\\nОтличный фильм!,positive\\nСкучно.,negative\\n", encoding="utf-8")
        ...     df = load_opensentiment(folder)
        >>> df.values.tolist()
        [['Отличный фильм!', 'positive'], ['Скучно.', 'negative']]
    """
    p = Path(path)
    if p.is_dir():
        p = p / CORPUS_FILENAME
    if not p.is_file():
        raise DataError(
            f"OpenSentimentCorpus file not found: {p} (expected {CORPUS_FILENAME} or the directory "
            f"holding it). Get the OpenSentimentCorpus, see README."
        )
    return load_csv(p, text_column="Sentence", label_column="Sentiment", max_bytes=max_bytes)


def load_csv(
    path: str | os.PathLike[str],
    text_column: str = "text",
    label_column: str | None = "label",
    max_bytes: int = MAX_DATA_BYTES,
) -> pd.DataFrame:
    """Load a user's labelled CSV (UTF-8, header row).

    Rows whose text or label is empty (or only whitespace) are dropped; their number is kept in
    ``df.attrs["dropped_rows"]`` and the file in ``df.attrs["source"]``.

    Args:
        path: CSV file.
        text_column: Header of the column holding the texts.
        label_column: Header of the column holding the labels; None for unlabelled texts (label "?").
        max_bytes: Largest file accepted, checked before reading (default :data:`MAX_DATA_BYTES`).

    Returns:
        DataFrame with str columns ``text`` and ``label`` and a fresh ``RangeIndex``.

    Raises:
        DataError: Missing file, empty file, non-UTF-8 bytes (with the byte offset), unparsable
            CSV, missing columns (named, with the columns found), or no usable rows.

    Example:
        >>> import tempfile
        >>> with tempfile.TemporaryDirectory() as folder:
        ...     csv = Path(folder) / "reviews.csv"
        ...     _ = csv.write_text("review,stars\\nGreat film,5\\n   ,1\\nDull,2\\n", encoding="utf-8")
        ...     df = load_csv(csv, text_column="review", label_column="stars")
        >>> list(df.columns), df.values.tolist(), df.attrs["dropped_rows"]  # the blank review is dropped
        (['text', 'label'], [['Great film', '5'], ['Dull', '2']], 1)
    """
    from lstmviz.safeio import UnsafeFileError, check_regular

    p = Path(path)
    if not p.is_file():
        raise DataError(f"CSV file not found: {p}" + (" (it is a directory)" if p.is_dir() else ""))
    try:
        size = check_regular(p).st_size
    except UnsafeFileError as e:
        raise DataError(str(e)) from None
    if size > max_bytes:
        raise DataError(
            f"{p} holds {size:,} bytes, more than the {max_bytes:,} a training file may have; "
            "raise the limit with --max-bytes if this is intended"
        )
    raw = p.read_bytes()
    if not raw.strip():
        raise DataError(f"{p} is empty; expected a CSV with a header row and data rows")
    try:
        content = raw.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise DataError(
            f"{p} is not valid UTF-8: byte 0x{raw[e.start]:02x} at byte offset {e.start} cannot be "
            f"decoded. UTF-8 is required; re-save the file as UTF-8 (e.g. iconv -f cp1251 -t utf-8)."
        ) from None
    try:
        df = pd.read_csv(io.StringIO(content), dtype=str, keep_default_na=False)
    except pd.errors.EmptyDataError:
        raise DataError(f"{p} is empty; expected a CSV with a header row and data rows") from None
    except pd.errors.ParserError as e:
        raise DataError(f"{p} is not a readable CSV: {e}") from None
    found = [str(c) for c in df.columns]
    missing = [c for c in (text_column, label_column) if c is not None and c not in df.columns]
    if missing:
        raise DataError(f"{p} lacks column(s) {missing}; columns found: {found}")
    df = df.fillna("")  # short rows leave NaN even with keep_default_na=False
    labels = df[label_column].astype(str).str.strip() if label_column is not None else "?"
    out = pd.DataFrame({"text": df[text_column].astype(str), "label": labels})
    keep = (out["text"].str.strip() != "") & (out["label"] != "")
    if not keep.any():
        wanted = f"a non-empty {text_column!r}" + (f" and {label_column!r}" if label_column is not None else "")
        raise DataError(f"{p} has no rows with {wanted}")
    out = out[keep].reset_index(drop=True)
    out.attrs["source"] = str(p)
    out.attrs["dropped_rows"] = int((~keep).sum())
    return out


def stratified_split(
    df: pd.DataFrame, seed: int = 0, fractions: Sequence[float] = (0.8, 0.1, 0.1)
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Split into train/val/test with each label's share preserved, deterministically per seed.

    Within every label the rows are shuffled with ``numpy.random.default_rng(seed)`` and cut by
    ``fractions`` (largest-remainder rounding). A label with at least 3 rows gets at least one row
    in each part whose fraction is > 0. Rows keep their original index; each part is in the
    original row order.

    Args:
        df: DataFrame with a ``label`` column.
        seed: Non-negative int.
        fractions: (train, val, test), each in [0, 1], summing to 1, train > 0.

    Returns:
        ``(train, val, test)`` DataFrames.

    Raises:
        ValueError: If ``df`` has no ``label`` column, or ``seed``/``fractions`` are invalid.

    Example:
        >>> df = pd.DataFrame({"text": list("abcdefghij"), "label": ["pos"] * 6 + ["neg"] * 4})
        >>> train, val, test = stratified_split(df, seed=0)
        >>> [len(part) for part in (train, val, test)], len(train) + len(val) + len(test) == len(df)
        ([6, 2, 2], True)
        >>> [sorted(part["label"]) for part in (val, test)]  # every label reaches every part
        [['neg', 'pos'], ['neg', 'pos']]
    """
    if not isinstance(df, pd.DataFrame) or "label" not in df.columns:
        raise ValueError("df must be a DataFrame with a 'label' column (see load_csv)")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed must be a non-negative int, got {seed!r}")
    fr = _check_fractions(fractions)
    rng = np.random.default_rng(int(seed))
    parts: list[list[Any]] = [[], [], []]
    labels = df["label"].astype(str)
    for label in sorted(labels.unique()):
        idx = df.index[labels == label].to_numpy()
        idx = idx[rng.permutation(len(idx))]
        sizes = _allocate(len(idx), fr)
        cut = np.cumsum([0, *sizes])
        for k in range(3):
            parts[k].extend(idx[cut[k] : cut[k + 1]].tolist())
    order = {ix: pos for pos, ix in enumerate(df.index)}
    return tuple(df.loc[sorted(p, key=order.__getitem__)] for p in parts)  # type: ignore[return-value]


def _check_fractions(fractions: Sequence[float]) -> tuple[float, float, float]:
    """Validate (train, val, test) fractions; return them as floats."""
    try:
        fr = tuple(float(f) for f in fractions)
    except (TypeError, ValueError):
        raise ValueError(f"fractions must be three numbers (train, val, test), got {fractions!r}") from None
    if len(fr) != 3 or any(not math.isfinite(f) or f < 0 or f > 1 for f in fr):
        raise ValueError(f"fractions must be three numbers in [0, 1] (train, val, test), got {fractions!r}")
    if abs(sum(fr) - 1.0) > 1e-6:
        raise ValueError(f"fractions must sum to 1, got {fractions!r} (sum {sum(fr):.6g})")
    if fr[0] == 0:
        raise ValueError(f"the train fraction must be > 0, got {fractions!r}")
    return fr  # type: ignore[return-value]


def _allocate(n: int, fr: tuple[float, float, float]) -> list[int]:
    """Split n rows by fractions (largest remainder), at least 1 per non-zero part when n >= 3."""
    exact = [n * f for f in fr]
    sizes = [math.floor(x) for x in exact]
    by_remainder = sorted(range(3), key=lambda k: (-(exact[k] - sizes[k]), k))
    for k in by_remainder[: n - sum(sizes)]:
        sizes[k] += 1
    if n >= 3:
        for k in (1, 2):
            if fr[k] > 0 and sizes[k] == 0:
                donor = max(range(3), key=lambda j: sizes[j])
                sizes[donor] -= 1
                sizes[k] += 1
        if sizes[0] == 0:
            donor = max((1, 2), key=lambda j: sizes[j])
            sizes[donor] -= 1
            sizes[0] += 1
    else:
        sizes = [n, 0, 0]  # too few to share; training needs them most
    return sizes


def majority_baseline(train_labels: Iterable[Any], test_labels: Iterable[Any]) -> dict[str, Any]:
    """Score always predicting the most frequent training label (ties: smallest label).

    Returns:
        ``{"accuracy": float, "macro_f1": float, "majority_label": label}``; macro F1 averages
        over the union of train and test labels.

    Example:
        >>> majority_baseline(["a", "a", "b"], ["a", "b"])["accuracy"]
        0.5
    """
    train = list(train_labels)
    test = list(test_labels)
    if not train or not test:
        raise ValueError(f"need non-empty train and test labels, got {len(train)} and {len(test)}")
    counts = Counter(train)
    majority = min(counts, key=lambda lab: (-counts[lab], str(lab)))
    pred = [majority] * len(test)
    labels = sorted(set(train) | set(test), key=str)
    return {
        "accuracy": accuracy(test, pred),
        "macro_f1": macro_f1(test, pred, labels),
        "majority_label": majority,
    }
