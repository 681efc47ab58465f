"""Tests for lstmviz.vocab: specials, deterministic order, min_freq/max_size, round trips, validation."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from lstmviz.vocab import PAD, PAD_ID, UNK, UNK_ID, Vocab, as_vocab

CORPUS = [["я", "не", "люблю", "дождь"], ["я", "люблю", "ёлка"], ["не", "я", "😀"], ["b", "a"]]


def test_build_order_and_specials() -> None:
    v = Vocab.build(CORPUS)
    assert (PAD_ID, UNK_ID) == (0, 1)
    assert v.tokens[:2] == [PAD, UNK]
    # by frequency desc (я 3, не 2, люблю 2), then by token string
    assert v.tokens[2:] == ["я", "люблю", "не", "a", "b", "дождь", "ёлка", "😀"]
    assert v.counts == [0, 0, 3, 2, 2, 1, 1, 1, 1, 1]
    assert Vocab.build(list(reversed(CORPUS))) == v  # input order does not matter


def test_min_freq_and_max_size() -> None:
    assert Vocab.build(CORPUS, min_freq=2).tokens == [PAD, UNK, "я", "люблю", "не"]
    assert Vocab.build(CORPUS, max_size=4).tokens == [PAD, UNK, "я", "люблю"]
    assert len(Vocab.build(CORPUS, max_size=2)) == 2
    assert len(Vocab.build(CORPUS, min_freq=10)) == 2
    for bad in (0, -1, 1.5, True):
        with pytest.raises(ValueError, match="min_freq"):
            Vocab.build(CORPUS, min_freq=bad)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="max_size must be None or an int >= 2"):
        Vocab.build(CORPUS, max_size=1)


def test_build_rejects_strings_and_skips_specials() -> None:
    with pytest.raises(TypeError, match="list of token strings"):
        Vocab.build(["я не люблю"])  # type: ignore[list-item]
    with pytest.raises(TypeError, match="tokens must be str"):
        Vocab.build([["я", 3]])  # type: ignore[list-item]
    v = Vocab.build([[PAD, UNK, "", "x"]])
    assert v.tokens == [PAD, UNK, "x"]


def test_encode_decode() -> None:
    v = Vocab.build(CORPUS)
    ids = v.encode(["я", "не", "кот", PAD])
    assert ids == [2, 4, UNK_ID, PAD_ID]
    assert v.decode(ids) == ["я", "не", UNK, PAD]
    assert v.decode(torch.tensor(ids)) == v.decode(ids)
    assert "не" in v and "кот" not in v
    assert v.is_unknown("кот") and not v.is_unknown("я") and not v.is_unknown(UNK)
    assert v.token_to_id("люблю") == 3 and v.id_to_token(3) == "люблю"
    with pytest.raises(ValueError, match=r"token id 99 is out of range; allowed 0\.\.9"):
        v.decode([2, 99])
    with pytest.raises(ValueError, match="-1"):
        v.decode([-1])
    with pytest.raises(TypeError):
        v.encode("я")


def test_json_round_trip(tmp_path: Path) -> None:
    v = Vocab.build(CORPUS)
    path = tmp_path / "vocab.json"
    v.to_json(path)
    raw = path.read_text(encoding="utf-8")
    assert "ёлка" in raw and "😀" in raw  # ensure_ascii=False
    w = Vocab.from_json(path)
    assert w == v and w.tokens == v.tokens and w.counts == v.counts
    assert Vocab.from_dict(json.loads(json.dumps(v.to_dict()))) == v
    assert Vocab.from_dict({"tokens": [PAD, UNK, "x"]}).counts is None


@pytest.mark.parametrize(
    ("d", "match"),
    [
        ({"tokens": ["<unk>", "<pad>", "x"]}, r"must start with '<pad>' \(id 0\) and '<unk>' \(id 1\)"),
        ({"tokens": ["<pad>"]}, "must start with"),
        ({"tokens": [PAD, UNK, "x", "y", "x"]}, r"duplicate token\(s\) in vocabulary: 'x' at ids 2 and 4"),
        ({"tokens": [PAD, UNK, "x", PAD]}, "'<pad>' at ids 0 and 3"),
        ({"tokens": [PAD, UNK, ""]}, "non-empty strings"),
        ({"tokens": [PAD, UNK, 5]}, "non-empty strings"),
        ({"tokens": "abc"}, "must be a list of str"),
        ({"words": [PAD, UNK]}, r"unknown vocab key\(s\) \['words'\]"),
        ({}, "no 'tokens'"),
        ({"tokens": [PAD, UNK], "version": 2}, "unsupported vocab version 2"),
        ({"tokens": [PAD, UNK, "x"], "counts": [0, 0]}, "counts has 2 entries but there are 3 tokens"),
        ({"tokens": [PAD, UNK, "x"], "counts": [0, 0, -1]}, "non-negative"),
        ([PAD, UNK], "must be a mapping"),
    ],
)
def test_from_dict_validation(d: object, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        Vocab.from_dict(d)  # type: ignore[arg-type]


def test_from_json_errors_name_the_file(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text("{not json", encoding="utf-8")
    with pytest.raises(ValueError, match="bad.json"):
        Vocab.from_json(bad)
    dup = tmp_path / "dup.json"
    dup.write_text(json.dumps({"tokens": [PAD, UNK, "a", "a"]}), encoding="utf-8")
    with pytest.raises(ValueError, match=r"dup.json.*duplicate"):
        Vocab.from_json(dup)
    with pytest.raises(FileNotFoundError):
        Vocab.from_json(tmp_path / "missing.json")


# ----- one type for words, characters, tags and labels (issue 22) ------------------------------------------------
def test_a_closed_vocabulary_has_no_specials_and_refuses_unknown_symbols() -> None:
    tags = Vocab(["O", "B-PER", "I-PER"], specials=False)
    assert not tags.specials and Vocab.build(CORPUS).specials
    assert tags.encode(["I-PER", "O"]) == [2, 0] and tags.decode([1]) == ["B-PER"]
    assert tags.token_to_id("B-PER") == 1 and "O" in tags and len(tags) == 3
    with pytest.raises(ValueError, match=r"unknown symbol 'B-LOC'; allowed: \['O', 'B-PER', 'I-PER'\]"):
        tags.encode(["O", "B-LOC"])
    with pytest.raises(ValueError, match="unknown symbol 'X'"):
        tags.token_to_id("X")
    assert Vocab([PAD, "a"], specials=False).encode([PAD]) == [0]  # "<pad>" is an ordinary name when closed
    assert repr(tags) == "Vocab(size=3, first=['O', 'B-PER', 'I-PER'], closed)"
    assert tags != Vocab(["O", "B-PER", "I-PER"], specials=False, counts=[1, 1, 1])
    with pytest.raises(ValueError, match="at least one symbol"):
        Vocab([], specials=False)
    with pytest.raises(ValueError, match="duplicate"):
        Vocab(["O", "O"], specials=False)
    with pytest.raises(TypeError, match="specials must be True or False"):
        Vocab(["O"], specials=0)  # type: ignore[arg-type]


def test_a_closed_vocabulary_round_trips_and_an_open_one_keeps_its_format() -> None:
    tags = Vocab(["NOUN", "VERB"], specials=False)
    assert Vocab.from_dict(json.loads(json.dumps(tags.to_dict()))) == tags
    assert "specials" not in Vocab.build(CORPUS).to_dict()  # what checkpoints have always stored
    with pytest.raises(ValueError, match="'specials' must be true or false"):
        Vocab.from_dict({"tokens": ["a"], "specials": "no"})
    with pytest.raises(ValueError, match="must start with"):
        Vocab.from_dict({"tokens": ["a"], "specials": True})


def test_alphabetical_order_keeps_the_most_frequent() -> None:
    seqs = [["b", "b", "b", "c", "c", "a"]]
    assert Vocab.build(seqs, order="alphabetical").tokens == [PAD, UNK, "a", "b", "c"]
    assert Vocab.build(seqs, order="alphabetical", min_freq=2).tokens == [PAD, UNK, "b", "c"]
    assert Vocab.build(seqs, order="alphabetical", max_size=3).tokens == [PAD, UNK, "b"]
    assert Vocab.build(seqs, order="alphabetical").counts == [0, 0, 1, 3, 2]
    with pytest.raises(ValueError, match="order 'random' is not known; allowed: frequency, alphabetical"):
        Vocab.build(seqs, order="random")


def test_as_vocab_takes_a_vocabulary_or_a_stored_list() -> None:
    v = Vocab.build(CORPUS)
    assert as_vocab(v) is v
    assert as_vocab(v.tokens) == Vocab(v.tokens) and as_vocab(["x"], specials=False).encode(["x"]) == [0]
    for bad in ({PAD: 0, UNK: 1}, "<pad><unk>"):
        with pytest.raises(TypeError, match="a Vocab or a list of symbols"):
            as_vocab(bad)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("folder", "key"),
    [("charlm-lstm", "chars"), ("charlm-gru", "chars"), ("tagger-lstm", "words"), ("tagger-lstm", "chars")],
)
def test_the_shipped_vocabularies_keep_their_ids(folder: str, key: str) -> None:
    """A checkpoint stores its vocabulary as a plain list; as a Vocab, every symbol's id is its position."""
    meta = json.loads((Path(__file__).resolve().parents[1] / "checkpoints" / folder / "meta.json").read_text("utf-8"))
    symbols = meta[key]
    v = Vocab(symbols)
    assert v.encode(symbols) == list(range(len(symbols))) and v.tokens == symbols
    assert v.encode(["\x00never seen"]) == [UNK_ID]
