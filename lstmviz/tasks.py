"""Deterministic synthetic long-range tasks for comparing RNN, GRU and LSTM memory.

* ``cue_recall``: the lecture example "I grew up in France ... I speak fluent *French*". The first
  token is a cue (a country), then ``n_distractors`` filler tokens, then a query token ``?``; the
  label is which cue came first. Only a model that carries the cue across the whole gap can
  beat chance (``1 / n_classes``).
* ``adding_problem``: Hochreiter & Schmidhuber (1997), in the form used by Le et al. (2015) and
  later papers: two channels, random values U(0, 1) and a marker channel with exactly two 1s
  (one in each half); the target is the sum of the two marked values. Predicting the mean (1.0)
  gives MSE 1/6 (``ADDING_BASELINE_MSE``).

Both draw from their own ``torch.Generator`` seeded with ``seed``, so the same arguments give
identical tensors in every call, process and thread, without touching the global RNG.
"""

from __future__ import annotations

from collections.abc import Iterable

import torch

from lstmviz.vocab import Vocab

__all__ = [
    "ADDING_BASELINE_MSE",
    "CUE_NAMES",
    "CUE_RECALL_TOKENS",
    "LANGUAGE_NAMES",
    "QUERY",
    "adding_problem",
    "cue_recall",
    "cue_recall_labels",
    "cue_recall_vocab",
    "cue_text",
    "encode_cue_tokens",
]

# Cue i (id i + 1) is a country; its label name is the language spoken there.
CUE_NAMES = (
    "france",
    "spain",
    "germany",
    "italy",
    "russia",
    "japan",
    "china",
    "greece",
    "poland",
    "turkey",
    "sweden",
    "finland",
    "portugal",
    "hungary",
    "netherlands",
    "korea",
)
LANGUAGE_NAMES = (
    "french",
    "spanish",
    "german",
    "italian",
    "russian",
    "japanese",
    "chinese",
    "greek",
    "polish",
    "turkish",
    "swedish",
    "finnish",
    "portuguese",
    "hungarian",
    "dutch",
    "korean",
)
PAD_NAME = "<pad>"
QUERY = "?"
ADDING_BASELINE_MSE = 1.0 / 6.0  # Var(U1 + U2) for two independent U(0, 1)

_MAX_SEED = 2**63 - 1


def _check_int(name: str, value: object, lo: int, hi: int | None = None) -> int:
    """Return value if it is an int in [lo, hi], else raise ValueError naming it and the range."""
    ok = isinstance(value, int) and not isinstance(value, bool) and value >= lo
    if ok and hi is not None:
        ok = value <= hi  # type: ignore[operator]
    if not ok:
        allowed = f"an int >= {lo}" if hi is None else f"an int in [{lo}, {hi}]"
        raise ValueError(f"{name} must be {allowed}, got {value!r}")
    return value  # type: ignore[return-value]


def _generator(seed: int, generator: torch.Generator | None) -> torch.Generator:
    """``generator`` itself, or a fresh one seeded with the validated ``seed``."""
    if generator is not None:
        if not isinstance(generator, torch.Generator):
            raise TypeError(f"generator must be a torch.Generator, got {type(generator).__name__}")
        return generator
    _check_int("seed", seed, 0, _MAX_SEED)
    return torch.Generator().manual_seed(seed)


def _check_cue_vocab(n_classes: int, vocab_size: int) -> None:
    """Validate the cue-recall id layout: PAD, cues, at least one distractor, QUERY."""
    _check_int("n_classes", n_classes, 2)
    _check_int("vocab_size", vocab_size, n_classes + 3)


def cue_recall_vocab(n_classes: int = 4, vocab_size: int = 20) -> list[str]:
    """Human-readable names of the cue-recall token ids, index = id.

    Layout: 0 ``<pad>``; 1..n_classes cues (``france``, ``spain``, ... then ``cue17``...);
    distractors ``w1``, ``w2``, ...; last id ``?`` (the query).

    Args:
        n_classes: Number of cues/classes (>= 2).
        vocab_size: Total ids (>= n_classes + 3).

    Returns:
        ``vocab_size`` names.

    Example:
        >>> cue_recall_vocab(2, 6)
        ['<pad>', 'france', 'spain', 'w1', 'w2', '?']
    """
    _check_cue_vocab(n_classes, vocab_size)
    cues = [CUE_NAMES[i] if i < len(CUE_NAMES) else f"cue{i + 1}" for i in range(n_classes)]
    n_distractors = vocab_size - n_classes - 2
    return [PAD_NAME, *cues, *(f"w{k}" for k in range(1, n_distractors + 1)), QUERY]


def cue_recall_labels(n_classes: int = 4) -> list[str]:
    """Class names for cue recall: the language of each cue's country (``french``, ...).

    Example:
        >>> cue_recall_labels(2)
        ['french', 'spanish']
    """
    _check_int("n_classes", n_classes, 2)
    return [LANGUAGE_NAMES[i] if i < len(LANGUAGE_NAMES) else f"class{i + 1}" for i in range(n_classes)]


CUE_RECALL_TOKENS = tuple(cue_recall_vocab())  # names for the defaults n_classes=4, vocab_size=20


def encode_cue_tokens(names: Iterable[str], n_classes: int = 4, vocab_size: int = 20) -> list[int]:
    """Map cue-recall token names (case-insensitive) to ids, e.g. for a dashboard text box.

    Args:
        names: Token names such as ``["france", "w3", "w1", "?"]``.
        n_classes: As passed to ``cue_recall``.
        vocab_size: As passed to ``cue_recall``.

    Returns:
        The ids.

    Raises:
        ValueError: Naming every unknown name and the valid ones.

    Example:
        >>> encode_cue_tokens("france w3 ?".split())
        [1, 7, 19]
    """
    if isinstance(names, str):
        raise TypeError("encode_cue_tokens expects a list of names; use text.split() for a string")
    vocab = cue_recall_vocab(n_classes, vocab_size)
    ids = Vocab(vocab, specials=False)  # closed: "<pad>" is an ordinary name here, and there is no "<unk>"
    names = [str(n).strip().lower() for n in names]
    unknown = [n for n in names if n not in ids]
    if unknown:
        n_dist = vocab_size - n_classes - 2
        raise ValueError(
            f"unknown cue-recall token(s) {unknown}; allowed: cues {vocab[1 : n_classes + 1]}, "
            f"distractors w1..w{n_dist}, query {QUERY!r}, {PAD_NAME!r}"
        )
    return ids.encode(names)


def cue_recall(
    n: int,
    n_distractors: int,
    n_classes: int = 4,
    vocab_size: int = 20,
    seed: int = 0,
    *,
    generator: torch.Generator | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Generate the cue-recall task: remember the first token across a gap of distractors.

    Sequence ``i`` is ``[cue, d_1, ..., d_K, QUERY]`` with cue id ``y[i] + 1`` drawn uniformly,
    distractor ids drawn uniformly from ``n_classes + 1 .. vocab_size - 2`` and the query id
    ``vocab_size - 1``. Distractors never repeat a cue, so the label is in ``x[:, 0]`` only.

    Args:
        n: Number of sequences (>= 1).
        n_distractors: Gap length K (>= 0); sequence length is K + 2.
        n_classes: Number of cues/classes (>= 2).
        vocab_size: Total ids (>= n_classes + 3); see ``cue_recall_vocab`` for the names.
        seed: Seed of the private ``torch.Generator`` (0 <= seed < 2**63).
        generator: Draw from this generator instead (it advances; ``seed`` is ignored), as an
            online training stream does batch after batch.

    Returns:
        ``x`` LongTensor (N, K + 2) and ``y`` LongTensor (N,) with labels 0..n_classes-1.

    Raises:
        ValueError: Naming the bad argument and its allowed range.

    Example:
        >>> x, y = cue_recall(n=1000, n_distractors=50, n_classes=4, vocab_size=20, seed=0)
        >>> bool((x[:, 0] - 1 == y).all()), tuple(x.shape)
        (True, (1000, 52))
    """
    _check_int("n", n, 1)
    _check_int("n_distractors", n_distractors, 0)
    _check_cue_vocab(n_classes, vocab_size)
    g = _generator(seed, generator)
    y = torch.randint(n_classes, (n,), generator=g)  # (N,)
    distractors = torch.randint(n_classes + 1, vocab_size - 1, (n, n_distractors), generator=g)  # (N, K)
    query = torch.full((n, 1), vocab_size - 1, dtype=torch.long)  # (N, 1)
    x = torch.cat([(y + 1).unsqueeze(1), distractors, query], dim=1)  # (N, K + 2)
    return x, y


def adding_problem(
    n: int, seq_len: int, seed: int = 0, *, generator: torch.Generator | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Generate the adding problem (Hochreiter & Schmidhuber 1997).

    ``x[:, :, 0]`` holds values drawn from U(0, 1); ``x[:, :, 1]`` is 0 except for two 1s, one
    at a uniformly random step of the first half ``[0, T // 2)`` and one in the second half
    ``[T // 2, T)``. The target is the sum of the two marked values.

    Args:
        n: Number of sequences (>= 1).
        seq_len: T (>= 2).
        seed: Seed of the private ``torch.Generator`` (0 <= seed < 2**63).
        generator: Draw from this generator instead (it advances; ``seed`` is ignored).

    Returns:
        ``x`` FloatTensor (N, T, 2) and ``y`` FloatTensor (N,) in [0, 2).

    Raises:
        ValueError: Naming the bad argument and its allowed range.

    Example:
        >>> x, y = adding_problem(n=1000, seq_len=50, seed=0)
        >>> bool(torch.allclose((x[..., 0] * x[..., 1]).sum(1), y))
        True
    """
    _check_int("n", n, 1)
    _check_int("seq_len", seq_len, 2)
    g = _generator(seed, generator)
    half = seq_len // 2
    values = torch.rand(n, seq_len, generator=g)  # (N, T)
    first = torch.randint(0, half, (n,), generator=g)  # (N,)
    second = torch.randint(half, seq_len, (n,), generator=g)  # (N,)
    rows = torch.arange(n)
    markers = torch.zeros(n, seq_len)  # (N, T)
    markers[rows, first] = 1.0
    markers[rows, second] = 1.0
    x = torch.stack([values, markers], dim=-1)  # (N, T, 2)
    y = values[rows, first] + values[rows, second]  # (N,)
    return x, y


def cue_text(cue: str = "france", lag: int = 100, n_classes: int = 4, vocab_size: int = 20) -> str:
    """A cue-recall sequence as text: the cue, ``lag`` distractors cycling ``w1, w2, ...``, then ``?``.

    Deterministic, for classroom demos and presets (the dashboard's text box takes it as is).

    Example:
        >>> cue_text("spain", 3)
        'spain w1 w2 w3 ?'
    """
    _check_int("lag", lag, 0)
    vocab = cue_recall_vocab(n_classes, vocab_size)
    if cue.lower() not in vocab[1 : n_classes + 1]:
        raise ValueError(f"cue={cue!r} is not a cue; allowed: {vocab[1 : n_classes + 1]}")
    n_distractors = vocab_size - n_classes - 2
    return " ".join([cue.lower(), *(f"w{i % n_distractors + 1}" for i in range(lag)), QUERY])
