"""Tests for lstmviz.datasets: loaders and their errors, stratified splits, baseline metrics."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from lstmviz.datasets import (
    CORPUS_FILENAME,
    DataError,
    load_csv,
    load_opensentiment,
    majority_baseline,
    stratified_split,
)
from lstmviz.metrics import accuracy, macro_f1

CORPUS_DIR = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "opensentimentcorpus"


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def make_df(counts: dict[str, int]) -> pd.DataFrame:
    rows = [(f"{label} {i}", label) for label, n in counts.items() for i in range(n)]
    rng = np.random.default_rng(123)
    rows = [rows[i] for i in rng.permutation(len(rows))]
    return pd.DataFrame(rows, columns=["text", "label"])


# --- loading --------------------------------------------------------------------------------


def test_load_csv_columns_and_dropping(tmp_path: Path) -> None:
    p = write(
        tmp_path / "data.csv",
        'review,stars,extra\n"Хорошо, ёлка!",pos,1\n   ,neg,2\n"Плохо",neg,3\n"Без метки", ,4\n',
    )
    df = load_csv(p, text_column="review", label_column="stars")
    assert list(df.columns) == ["text", "label"]
    assert df.to_dict("list") == {"text": ["Хорошо, ёлка!", "Плохо"], "label": ["pos", "neg"]}
    assert df.attrs["dropped_rows"] == 2 and df.attrs["source"] == str(p)
    assert list(df.index) == [0, 1]


def test_load_csv_labels_are_strings_and_bom_ok(tmp_path: Path) -> None:
    p = tmp_path / "bom.csv"
    p.write_bytes("\ufefftext,label\nодин,1\nдва,0\nNA,NA\n".encode())
    df = load_csv(p)
    assert df["label"].tolist() == ["1", "0", "NA"] and df["text"].tolist()[-1] == "NA"
    assert all(isinstance(x, str) for x in df["label"])


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="CSV file not found: .*nope.csv"):
        load_csv(tmp_path / "nope.csv")
    with pytest.raises(DataError, match=r"OpenSentimentCorpus.*not found: .*nothing.*see README"):
        load_opensentiment(tmp_path / "nothing")
    # an existing directory without the corpus file names the expected file
    with pytest.raises(DataError, match=CORPUS_FILENAME):
        load_opensentiment(tmp_path)
    assert issubclass(DataError, ValueError)


def test_missing_columns(tmp_path: Path) -> None:
    p = write(tmp_path / "cols.csv", "Sentence,Label\nпривет,positive\n")
    with pytest.raises(DataError, match=r"lacks column\(s\) \['Sentiment'\]; columns found: \['Sentence', 'Label'\]"):
        load_opensentiment(p)
    with pytest.raises(DataError, match=r"\['text', 'label'\]"):
        load_csv(p)


@pytest.mark.parametrize("content", [b"", b"   \n\n", b"text,label\n", b"text,label\n ,x\n"])
def test_empty_file(tmp_path: Path, content: bytes) -> None:
    p = tmp_path / "empty.csv"
    p.write_bytes(content)
    with pytest.raises(DataError, match=r"empty|no rows"):
        load_csv(p)


def test_non_utf8(tmp_path: Path) -> None:
    p = tmp_path / "cp1251.csv"
    p.write_bytes("text,label\nпривет,pos\n".encode("cp1251"))
    with pytest.raises(DataError, match=r"not valid UTF-8: byte 0x\w\w at byte offset 11 .*UTF-8 is required"):
        load_csv(p)


def test_unparsable_csv(tmp_path: Path) -> None:
    p = write(tmp_path / "broken.csv", 'text,label\n"unterminated,pos\n')
    with pytest.raises(DataError, match="broken.csv"):
        load_csv(p)


@pytest.mark.corpus
def test_real_corpus() -> None:
    if not (CORPUS_DIR / CORPUS_FILENAME).is_file():
        pytest.skip(f"OpenSentimentCorpus not present at {CORPUS_DIR}")
    df = load_opensentiment(CORPUS_DIR)
    assert len(df) == 5961
    assert sorted(df["label"].unique()) == ["mixed", "negative", "neutral", "positive"]
    assert load_opensentiment(CORPUS_DIR / CORPUS_FILENAME).equals(df)


# --- splits ---------------------------------------------------------------------------------


def test_split_deterministic_and_partition() -> None:
    df = make_df({"a": 50, "b": 30, "c": 20})
    a = stratified_split(df, seed=0)
    b = stratified_split(df, seed=0)
    c = stratified_split(df, seed=1)
    for x, y in zip(a, b):
        assert x.equals(y)
    assert not a[0].index.equals(c[0].index)
    all_ix = np.concatenate([p.index.to_numpy() for p in a])
    assert sorted(all_ix) == list(df.index)  # a partition: no row lost or repeated
    assert [len(p) for p in a] == [80, 10, 10]


def test_split_stratified_proportions() -> None:
    counts = {"neg": 300, "neu": 500, "pos": 120, "mix": 80}
    df = make_df(counts)
    train, val, test = stratified_split(df, seed=7, fractions=(0.6, 0.2, 0.2))
    for part, frac in ((train, 0.6), (val, 0.2), (test, 0.2)):
        vc = part["label"].value_counts()
        for label, n in counts.items():
            assert abs(vc[label] - n * frac) <= 1


def test_split_small_classes_present_everywhere() -> None:
    df = make_df({"big": 100, "three": 3, "four": 4, "two": 2, "one": 1})
    train, val, test = stratified_split(df, seed=3)
    for part in (train, val, test):
        assert {"three", "four"} <= set(part["label"])
    assert set(train["label"]) == {"big", "three", "four", "two", "one"}
    # a zero fraction gives an empty part
    train, val, test = stratified_split(df, seed=3, fractions=(0.9, 0.1, 0.0))
    assert len(test) == 0 and len(train) + len(val) == len(df)


@pytest.mark.parametrize(
    ("fractions", "match"),
    [
        ((0.8, 0.1), "three numbers"),
        ((0.8, 0.3, 0.1), "sum to 1"),
        ((1.2, -0.1, -0.1), r"\[0, 1\]"),
        ((0.0, 0.5, 0.5), "train fraction must be > 0"),
        (("a", "b", "c"), "three numbers"),
        ((float("nan"), 0.5, 0.5), r"\[0, 1\]"),
    ],
)
def test_split_validates_fractions(fractions: tuple, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        stratified_split(make_df({"a": 10}), seed=0, fractions=fractions)


def test_split_validates_df_and_seed() -> None:
    with pytest.raises(ValueError, match="'label' column"):
        stratified_split(pd.DataFrame({"text": ["x"]}), seed=0)
    with pytest.raises(ValueError, match="seed must be a non-negative int, got -1"):
        stratified_split(make_df({"a": 10}), seed=-1)


# --- metrics --------------------------------------------------------------------------------


def test_macro_f1_by_hand() -> None:
    y_true = ["a", "a", "a", "b", "b", "c"]
    y_pred = ["a", "a", "b", "b", "c", "c"]
    # a: tp2 fp0 fn1 -> 4/5; b: tp1 fp1 fn1 -> 2/4; c: tp1 fp1 fn0 -> 2/3
    assert macro_f1(y_true, y_pred) == pytest.approx((0.8 + 0.5 + 2 / 3) / 3)
    # a label that never occurs scores 0 and pulls the mean down
    assert macro_f1(y_true, y_pred, labels=["a", "b", "c", "d"]) == pytest.approx((0.8 + 0.5 + 2 / 3) / 4)
    assert macro_f1([1, 0, 1], np.array([1, 0, 1])) == 1.0
    assert macro_f1(torch.tensor([0, 1, 1]), [0, 0, 1]) == pytest.approx((2 / 3 + 2 / 3) / 2)
    assert accuracy(y_true, y_pred) == pytest.approx(4 / 6)
    with pytest.raises(ValueError, match="differ in length: 2 vs 1"):
        macro_f1(["a", "b"], ["a"])
    with pytest.raises(ValueError, match="empty"):
        accuracy([], [])


def test_majority_baseline() -> None:
    res = majority_baseline(["neu", "neu", "neg", "pos"], ["neu", "neg", "neg", "pos"])
    assert res["majority_label"] == "neu"
    assert res["accuracy"] == pytest.approx(0.25)
    # neu: tp1 fp3 fn0 -> 2/5; neg and pos: 0
    assert res["macro_f1"] == pytest.approx((2 / 5) / 3)
    assert majority_baseline(["b", "a"], ["a"])["majority_label"] == "a"  # ties: smallest label
