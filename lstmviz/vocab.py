"""Token vocabulary: string <-> id, with padding at id 0 and unknown at id 1.

Building is deterministic: tokens are ordered by frequency (descending), ties broken by the token
string, so the same corpus always gives the same ids. A vocabulary serializes to a small JSON
document (UTF-8, Cyrillic kept readable) that checkpoints embed.
"""

from __future__ import annotations

import json
import os
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

__all__ = ["PAD", "PAD_ID", "UNK", "UNK_ID", "Vocab"]

PAD = "<pad>"
UNK = "<unk>"
PAD_ID = 0
UNK_ID = 1
_FORMAT_VERSION = 1


class Vocab:
    """An ordered list of unique token strings; position = id.

    Args:
        tokens: All tokens, ``"<pad>"`` first and ``"<unk>"`` second, no duplicates.
        counts: Optional training-corpus frequency per token (same length; specials count 0).

    Raises:
        ValueError: If the specials are misplaced, a token repeats, or is not a non-empty str.

    Example:
        >>> v = Vocab.build([["я", "не", "я"], ["не", "люблю"]])
        >>> v.encode(["я", "дождь"])
        [3, 1]
        >>> v.decode([3, 1])
        ['я', '<unk>']
    """

    PAD = PAD
    UNK = UNK
    PAD_ID = PAD_ID
    UNK_ID = UNK_ID

    def __init__(self, tokens: Sequence[str], counts: Sequence[int] | None = None) -> None:
        tokens = list(tokens)
        _validate_tokens(tokens)
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

    @classmethod
    def build(
        cls,
        sequences: Iterable[Sequence[str]],
        min_freq: int = 1,
        max_size: int | None = None,
    ) -> Vocab:
        """Count tokens over a corpus and keep the frequent ones.

        Args:
            sequences: One list of token strings per text (e.g. ``TextPipeline.lemmas`` output).
            min_freq: Keep tokens seen at least this often (>= 1).
            max_size: Largest vocabulary size *including* ``<pad>`` and ``<unk>`` (>= 2), or None
                for no limit. The most frequent tokens win; ties go to the smaller string.

        Returns:
            The vocabulary, ordered by frequency descending then token string.

        Raises:
            TypeError: If a sequence is a bare ``str`` or holds non-string tokens.
            ValueError: If ``min_freq`` or ``max_size`` is out of range.

        Example:
            >>> Vocab.build([["b", "a", "a"], ["c"]], min_freq=1).tokens
            ['<pad>', '<unk>', 'a', 'b', 'c']
        """
        if isinstance(min_freq, bool) or not isinstance(min_freq, int) or min_freq < 1:
            raise ValueError(f"min_freq must be an int >= 1, got {min_freq!r}")
        if max_size is not None and (isinstance(max_size, bool) or not isinstance(max_size, int) or max_size < 2):
            raise ValueError(f"max_size must be None or an int >= 2 (room for PAD/UNK), got {max_size!r}")
        counter: Counter[str] = Counter()
        for i, seq in enumerate(sequences):
            if isinstance(seq, str):
                raise TypeError(f"sequence {i} is a str ({seq[:30]!r}); pass a list of token strings per text")
            seq = list(seq)
            for tok in seq:
                if not isinstance(tok, str):
                    raise TypeError(f"sequence {i} holds a {type(tok).__name__} token {tok!r}; tokens must be str")
            counter.update(seq)
        for special in (PAD, UNK, ""):
            counter.pop(special, None)
        ranked = sorted(((tok, n) for tok, n in counter.items() if n >= min_freq), key=lambda tn: (-tn[1], tn[0]))
        if max_size is not None:
            ranked = ranked[: max_size - 2]
        return cls([PAD, UNK] + [t for t, _ in ranked], [0, 0] + [n for _, n in ranked])

    @property
    def tokens(self) -> list[str]:
        """All tokens in id order (a copy)."""
        return list(self._itos)

    @property
    def counts(self) -> list[int] | None:
        """Corpus frequency per id (a copy), or None when unknown."""
        return None if self._counts is None else list(self._counts)

    def __len__(self) -> int:
        return len(self._itos)

    def __contains__(self, token: object) -> bool:
        return token in self._stoi

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Vocab) and self._itos == other._itos and self._counts == other._counts

    def __hash__(self) -> int:
        return hash(tuple(self._itos))

    def __repr__(self) -> str:
        head = ", ".join(repr(t) for t in self._itos[2:7])
        return f"Vocab(size={len(self)}, first=[{head}{', ...' if len(self) > 7 else ''}])"

    def token_to_id(self, token: str) -> int:
        """Return the id of ``token``, ``UNK_ID`` (1) if it is not in the vocabulary."""
        return self._stoi.get(token, UNK_ID)

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
        """Map token strings to ids; unknown tokens become ``UNK_ID`` (1).

        Example:
            >>> Vocab.build([["да"]]).encode(["да", "нет"])
            [2, 1]
        """
        if isinstance(tokens, str):
            raise TypeError("encode expects a list of token strings, got a single str")
        get = self._stoi.get
        return [get(t, UNK_ID) for t in tokens]

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
        """Return a JSON-ready dict: ``{"version": 1, "tokens": [...], "counts": [...] or None}``."""
        return {"version": _FORMAT_VERSION, "tokens": list(self._itos), "counts": self.counts}

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
        allowed = {"version", "tokens", "counts"}
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
        return cls(tokens, d.get("counts"))

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


def _validate_tokens(tokens: list[Any]) -> None:
    """Raise ValueError unless tokens are unique non-empty str with PAD at 0 and UNK at 1."""
    if len(tokens) < 2 or tokens[0] != PAD or tokens[1] != UNK:
        raise ValueError(
            f"a vocabulary must start with {PAD!r} (id {PAD_ID}) and {UNK!r} (id {UNK_ID}), got {tokens[:2]!r}"
        )
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
