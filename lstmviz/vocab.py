"""The one symbol <-> id type of the library: words, characters, tags and class labels.

A :class:`Vocab` is an ordered list of unique symbols, position = id, in one of two flavours:

* **open** (``specials=True``, the default): ``<pad>`` at id 0 and ``<unk>`` at id 1; a symbol it does not hold
  encodes as 1. Words (the classifier's lemmas, the tagger's lower-cased words) and characters (the character
  models, the tagger's character convolution).
* **closed** (``specials=False``): no specials; every symbol must be known, and an unknown one is a ``ValueError``
  naming it and the allowed ones. Tag sets (``POS_TAGS``, ``NER_TAGS``), entity types, class labels.

Building from a corpus (:meth:`Vocab.build`) is deterministic: symbols are ordered by frequency (descending),
ties broken by the symbol string, or alphabetically (``order="alphabetical"``), so the same corpus always gives
the same ids. A stored list (a checkpoint's ``meta["chars"]``, ``meta["words"]``) becomes a vocabulary in its own
order with ``Vocab(meta["chars"])``: ids are list positions, so a checkpoint's meta keeps its plain lists. A
vocabulary serializes to a small JSON document (UTF-8, Cyrillic kept readable) that checkpoints embed.

Example:
    >>> chars = Vocab(["<pad>", "<unk>", "а", "б"])      # a stored character list, in its order
    >>> chars.encode(iter("аб?"))
    [2, 3, 1]
    >>> tags = Vocab(["NOUN", "VERB"], specials=False)  # a closed tag set
    >>> tags.encode(["VERB", "NOUN"]), tags.decode([1])
    ([1, 0], ['VERB'])
"""

from __future__ import annotations

import json
import os
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

__all__ = ["ORDERS", "PAD", "PAD_ID", "UNK", "UNK_ID", "Vocab", "as_vocab"]

PAD = "<pad>"
UNK = "<unk>"
PAD_ID = 0
UNK_ID = 1
_FORMAT_VERSION = 1
ORDERS = ("frequency", "alphabetical")  # how Vocab.build orders the kept symbols


class Vocab:
    """An ordered list of unique token strings; position = id.

    Args:
        tokens: All tokens, no duplicates; for an open vocabulary ``"<pad>"`` first and ``"<unk>"`` second.
        counts: Optional training-corpus frequency per token (same length; specials count 0).
        specials: True (open: ``<pad>`` = 0, ``<unk>`` = 1, unknown tokens encode as 1) or False (closed: no
            specials, at least one token, unknown tokens are an error).

    Raises:
        ValueError: If the specials are misplaced, a token repeats, or is not a non-empty str.

    Example:
        >>> v = Vocab.build([["я", "не", "я"], ["не", "люблю"]])
        >>> v.encode(["я", "дождь"])
        [3, 1]
        >>> v.decode([3, 1])
        ['я', '<unk>']
        >>> Vocab(["O", "B-PER"], specials=False).encode(["B-LOC"])
        Traceback (most recent call last):
        ValueError: unknown symbol 'B-LOC'; allowed: ['O', 'B-PER']
    """

    PAD = PAD
    UNK = UNK
    PAD_ID = PAD_ID
    UNK_ID = UNK_ID

    def __init__(self, tokens: Sequence[str], counts: Sequence[int] | None = None, *, specials: bool = True) -> None:
        if not isinstance(specials, bool):
            raise TypeError(f"specials must be True or False, got {specials!r}")
        tokens = list(tokens)
        _validate_tokens(tokens, specials)
        if counts is not None:
            counts = list(counts)
            if len(counts) != len(tokens):
                raise ValueError(f"counts has {len(counts)} entries but there are {len(tokens)} tokens")
            bad = [c for c in counts if isinstance(c, bool) or not isinstance(c, int) or c < 0]
            if bad:
                raise ValueError(f"counts must be non-negative ints, got {bad[:5]}")
        self._itos: list[str] = tokens
        self._stoi: dict[str, int] = {t: i for i, t in enumerate(tokens)}
        self._counts: list[int] | None = counts
        self._specials = specials

    @classmethod
    def build(
        cls,
        sequences: Iterable[Sequence[str]],
        min_freq: int = 1,
        max_size: int | None = None,
        order: str = "frequency",
    ) -> Vocab:
        """Count tokens over a corpus and keep the frequent ones (an open vocabulary).

        Args:
            sequences: One list of token strings per text (e.g. ``TextPipeline.lemmas`` output; the characters of
                a text: ``[iter(text)]``).
            min_freq: Keep tokens seen at least this often (>= 1).
            max_size: Largest vocabulary size *including* ``<pad>`` and ``<unk>`` (>= 2), or None
                for no limit. The most frequent tokens win; ties go to the smaller string.
            order: ``"frequency"`` (descending, ties by token string: the classifiers and character models) or
                ``"alphabetical"`` (by token string: the tagger's words and characters).

        Returns:
            The vocabulary, ``<pad>`` and ``<unk>`` first, then the kept tokens in ``order``.

        Raises:
            TypeError: If a sequence is a bare ``str`` or holds non-string tokens.
            ValueError: If ``min_freq``, ``max_size`` or ``order`` is out of range.

        Example:
            >>> Vocab.build([["b", "a", "a"], ["c"]], min_freq=1).tokens
            ['<pad>', '<unk>', 'a', 'b', 'c']
            >>> Vocab.build([["b", "b", "a"]], order="alphabetical").tokens
            ['<pad>', '<unk>', 'a', 'b']
        """
        if isinstance(min_freq, bool) or not isinstance(min_freq, int) or min_freq < 1:
            raise ValueError(f"min_freq must be an int >= 1, got {min_freq!r}")
        if max_size is not None and (isinstance(max_size, bool) or not isinstance(max_size, int) or max_size < 2):
            raise ValueError(f"max_size must be None or an int >= 2 (room for PAD/UNK), got {max_size!r}")
        if order not in ORDERS:
            raise ValueError(f"order {order!r} is not known; allowed: {', '.join(ORDERS)}")
        counter: Counter[str] = Counter()
        for i, seq in enumerate(sequences):
            if isinstance(seq, str):
                raise TypeError(f"sequence {i} is a str ({seq[:30]!r}); pass a list of token strings per text")
            try:
                seen = Counter(seq)  # counted at C speed; the types are then checked once per distinct token
            except TypeError as e:
                raise TypeError(f"sequence {i} holds an unhashable token ({e}); tokens must be str") from None
            bad = [t for t in seen if not isinstance(t, str)]
            if bad:
                raise TypeError(f"sequence {i} holds a {type(bad[0]).__name__} token {bad[0]!r}; tokens must be str")
            counter.update(seen)
        for special in (PAD, UNK, ""):
            counter.pop(special, None)
        ranked = sorted(((tok, n) for tok, n in counter.items() if n >= min_freq), key=lambda tn: (-tn[1], tn[0]))
        if max_size is not None:
            ranked = ranked[: max_size - 2]  # the most frequent win, whatever the order of the result
        if order == "alphabetical":
            ranked.sort(key=lambda tn: tn[0])
        return cls([PAD, UNK] + [t for t, _ in ranked], [0, 0] + [n for _, n in ranked])

    @property
    def tokens(self) -> list[str]:
        """All tokens in id order (a copy)."""
        return list(self._itos)

    @property
    def counts(self) -> list[int] | None:
        """Corpus frequency per id (a copy), or None when unknown."""
        return None if self._counts is None else list(self._counts)

    @property
    def specials(self) -> bool:
        """True for an open vocabulary (``<pad>`` = 0, ``<unk>`` = 1), False for a closed one."""
        return self._specials

    def __len__(self) -> int:
        return len(self._itos)

    def __contains__(self, token: object) -> bool:
        return token in self._stoi

    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, Vocab)
            and self._itos == other._itos
            and self._counts == other._counts
            and self._specials == other._specials
        )

    def __hash__(self) -> int:
        return hash(tuple(self._itos))

    def __repr__(self) -> str:
        skip = 2 if self._specials else 0  # the first ordinary tokens
        head = ", ".join(repr(t) for t in self._itos[skip : skip + 5])
        more = ", ..." if len(self) > skip + 5 else ""
        return f"Vocab(size={len(self)}, first=[{head}{more}]{'' if self._specials else ', closed'})"

    def token_to_id(self, token: str) -> int:
        """Return the id of ``token``: ``UNK_ID`` (1) if an open vocabulary lacks it, a ValueError if a closed one does.

        Example:
            >>> Vocab(["<pad>", "<unk>", "a"]).token_to_id("z"), Vocab(["a", "b"], specials=False).token_to_id("b")
            (1, 1)
        """
        if self._specials:
            return self._stoi.get(token, UNK_ID)
        try:
            return self._stoi[token]
        except KeyError:
            raise self._unknown(token) from None

    def _unknown(self, token: object) -> ValueError:
        """The error of a closed vocabulary asked for a token it does not hold."""
        shown = self._itos if len(self._itos) <= 30 else [*self._itos[:30], "..."]
        return ValueError(f"unknown symbol {token!r}; allowed: {shown}")

    def id_to_token(self, idx: int) -> str:
        """Return the token with id ``idx``; ValueError if out of range."""
        return self.decode([idx])[0]

    def is_unknown(self, token: str) -> bool:
        """Whether ``token`` would be encoded as ``<unk>`` (``"<unk>"`` itself is not unknown).

        Example:
            >>> Vocab.build([["да"]]).is_unknown("нет")
            True
        """
        return token not in self._stoi

    def encode(self, tokens: Iterable[str]) -> list[int]:
        """Map token strings to ids; unknown tokens become ``UNK_ID`` (1) in an open vocabulary and raise a
        ValueError naming the first one in a closed vocabulary.

        A bare ``str`` is refused (it is almost always a text passed for its words); encode a text's characters
        with ``encode(iter(text))`` (no list copy of a long text).

        Example:
            >>> Vocab.build([["да"]]).encode(["да", "нет"])
            [2, 1]
        """
        if isinstance(tokens, str):
            raise TypeError("encode expects a list of token strings, got a single str (characters: iter(text))")
        if self._specials:
            get = self._stoi.get
            return [get(t, UNK_ID) for t in tokens]
        stoi = self._stoi
        try:
            return [stoi[t] for t in tokens]
        except KeyError as e:
            raise self._unknown(e.args[0]) from None

    def decode(self, ids: Iterable[Any]) -> list[str]:
        """Map ids (ints, or a 1-D tensor/array) back to token strings.

        Raises:
            ValueError: If an id is outside ``[0, len(self))``.

        Example:
            >>> Vocab.build([["да"]]).decode([0, 2])
            ['<pad>', 'да']
        """
        out = []
        n = len(self._itos)
        for raw in ids:
            i = int(raw)
            if not 0 <= i < n:
                raise ValueError(f"token id {i} is out of range; allowed 0..{n - 1}")
            out.append(self._itos[i])
        return out

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict: ``{"version": 1, "tokens": [...], "counts": [...] or None}``, plus
        ``"specials": false`` for a closed vocabulary (an open one's dict is the format checkpoints always held).

        Example:
            >>> Vocab(["a"], specials=False).to_dict()
            {'version': 1, 'tokens': ['a'], 'counts': None, 'specials': False}
        """
        d = {"version": _FORMAT_VERSION, "tokens": list(self._itos), "counts": self.counts}
        if not self._specials:
            d["specials"] = False
        return d

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Vocab:
        """Rebuild a vocabulary from ``to_dict`` output, validating it.

        Raises:
            ValueError: Naming the problem: not a mapping, unknown keys, wrong version, missing
                or misplaced ``<pad>``/``<unk>``, duplicate or non-string tokens, bad counts.

        Example:
            >>> v = Vocab.build([["да"]]); Vocab.from_dict(v.to_dict()) == v
            True
        """
        if not isinstance(d, Mapping):
            raise ValueError(f"vocab must be a mapping, got {type(d).__name__}")
        allowed = {"version", "tokens", "counts", "specials"}
        unknown = sorted(str(k) for k in d if k not in allowed)
        if unknown:
            raise ValueError(f"unknown vocab key(s) {unknown}; allowed: {sorted(allowed)}")
        version = d.get("version", _FORMAT_VERSION)
        if version != _FORMAT_VERSION:
            raise ValueError(f"unsupported vocab version {version!r}; supported: {_FORMAT_VERSION}")
        if "tokens" not in d:
            raise ValueError("vocab dict has no 'tokens' list")
        tokens = d["tokens"]
        if isinstance(tokens, str) or not isinstance(tokens, Sequence):
            raise ValueError(f"vocab 'tokens' must be a list of str, got {type(tokens).__name__}")
        specials = d.get("specials", True)
        if not isinstance(specials, bool):
            raise ValueError(f"vocab 'specials' must be true or false, got {specials!r}")
        return cls(tokens, d.get("counts"), specials=specials)

    def to_json(self, path: str | os.PathLike[str]) -> None:
        """Write the vocabulary as UTF-8 JSON (non-ASCII kept readable), atomically.

        Example:
            >>> Vocab.build([["да"]]).to_json("/tmp/vocab.json")  # then Vocab.from_json(...)
        """
        path = Path(path)
        from lstmviz.safeio import tmp_sibling

        tmp = tmp_sibling(path)  # unique: two threads saving the same file never share it
        tmp.write_text(json.dumps(self.to_dict(), ensure_ascii=False, indent=1), encoding="utf-8")
        os.replace(tmp, path)

    @classmethod
    def from_json(cls, path: str | os.PathLike[str]) -> Vocab:
        """Read a vocabulary written by ``to_json``.

        Raises:
            FileNotFoundError: If ``path`` does not exist.
            ValueError: If the file is not UTF-8 JSON or not a valid vocabulary (path named).

        Example:
            >>> v = Vocab.build([["да"]]); v.to_json("/tmp/vocab.json")
            >>> Vocab.from_json("/tmp/vocab.json") == v
            True
        """
        path = Path(path)
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as e:
            raise ValueError(f"{path}: not a UTF-8 JSON vocabulary ({e})") from e
        try:
            return cls.from_dict(data)
        except ValueError as e:
            raise ValueError(f"{path}: {e}") from e


def as_vocab(tokens: Vocab | Sequence[str], *, specials: bool = True) -> Vocab:
    """``tokens`` itself if it is a :class:`Vocab`, else a vocabulary of the list in its order.

    What functions that take "the vocabulary" call, so a caller may pass a checkpoint's stored list
    (``meta["chars"]``) or a :class:`Vocab` built once for many calls (no rebuild per batch).

    Example:
        >>> v = as_vocab(["<pad>", "<unk>", "a"]); as_vocab(v) is v, v.encode(["a"])
        (True, [2])
    """
    if isinstance(tokens, Vocab):
        return tokens
    if isinstance(tokens, (str, Mapping)):
        raise TypeError(f"a vocabulary is a Vocab or a list of symbols (index = id), got a {type(tokens).__name__}")
    return Vocab(tokens, specials=specials)


def _validate_tokens(tokens: list[Any], specials: bool) -> None:
    """Raise ValueError unless tokens are unique non-empty str (open: PAD at 0, UNK at 1; closed: at least one)."""
    if specials and (len(tokens) < 2 or tokens[0] != PAD or tokens[1] != UNK):
        raise ValueError(
            f"a vocabulary must start with {PAD!r} (id {PAD_ID}) and {UNK!r} (id {UNK_ID}), got {tokens[:2]!r}"
        )
    if not specials and not tokens:
        raise ValueError("a closed vocabulary (specials=False) needs at least one symbol")
    bad = [(i, t) for i, t in enumerate(tokens) if not isinstance(t, str) or not t]
    if bad:
        raise ValueError(f"tokens must be non-empty strings; bad (id, token): {bad[:5]}")
    seen: dict[str, int] = {}
    dups = []
    for i, t in enumerate(tokens):
        if t in seen:
            dups.append((t, seen[t], i))
        else:
            seen[t] = i
    if dups:
        shown = ", ".join(f"{t!r} at ids {a} and {b}" for t, a, b in dups[:5])
        raise ValueError(f"duplicate token(s) in vocabulary: {shown}")
