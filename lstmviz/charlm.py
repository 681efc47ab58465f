"""Character-level language models (many-to-many): a next-character distribution at every step, and generation.

Layout (names fixed so the recorder and the dashboard find the pieces, as in
:class:`lstmviz.models.RecurrentClassifier`):

    embedding  nn.Embedding(vocab_size, embed_dim)        (id 0 = <pad>, 1 = <unk>)
    rnn        nn.RNN | nn.GRU | nn.LSTM, batch_first=True, unidirectional
    head       nn.Linear(hidden_size, vocab_size)           logits for the next character

Checkpoints record ``model_kind="charlm"`` (see :mod:`lstmviz.kinds.charlm`); the character
vocabulary is stored in the meta as ``chars`` (index = id).

Example (an untrained model, so the text is gibberish, but 40 characters of the vocabulary):

    >>> chars = ["<pad>", "<unk>", *" .,Пабвгдеёжзийклмнопрстуфхцчшщъыьэюя"]
    >>> model = CharLM.seeded(CharLMConfig(cell="lstm", vocab_size=len(chars)), seed=0)
    >>> text = generate(model, chars, "Привет", length=40, temperature=0.8, top_k=5, seed=1)
    >>> len(text), set(text) <= set(chars[2:])
    (40, True)
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import pandas as pd
import torch
from torch import nn

from lstmviz.kinds.base import KindConfig, SeededModule
from lstmviz.models import CELLS, check_initialisation
from lstmviz.vocab import Vocab, as_vocab

__all__ = [
    "CharLMConfig",
    "CharLM",
    "MAX_GENERATE_LENGTH",
    "MAX_SEED",
    "MIN_TEMPERATURE",
    "encode_chars",
    "generate",
    "initial_model",
    "char_labels",
    "step_labels",
    "with_chars",
    "top5_table",
    "connectivity_frame",
    "most_varied_units",
]

_RNN = {"rnn": nn.RNN, "gru": nn.GRU, "lstm": nn.LSTM}
MIN_TEMPERATURE = 1e-6  # float32 logits / 1e-6 stay finite in float64; 5e-324 made them inf and the softmax nan
MAX_GENERATE_LENGTH = 100_000  # characters one generate() call adds
MAX_SEED = 2**64 - 1  # torch.Generator.manual_seed takes 0 .. 2**64 - 1


@dataclass
class CharLMConfig(KindConfig):
    """Sizes of a :class:`CharLM`; stored verbatim in a checkpoint.

    Example:
        >>> CharLMConfig.from_dict({"cell": "gru", "vocab_size": 40}).num_layers
        2
    """

    cell: str = "lstm"  # "rnn" | "gru" | "lstm"
    vocab_size: int = 2  # characters incl. <pad>=0 and <unk>=1
    embed_dim: int = 32  # character embedding width
    hidden_size: int = 128  # units per layer
    num_layers: int = 2  # stacked layers (the dashboard shows each)
    dropout: float = 0.0  # between the layers, in training only
    gate_bias: float | None = 1.0  # initial LSTM forget / GRU update bias (no effect on "rnn")
    head: ClassVar[str] = "lm"
    bidirectional: ClassVar[bool] = False

    def __post_init__(self) -> None:
        if self.cell not in CELLS:
            raise ValueError(f"cell={self.cell!r} is not supported; allowed: {', '.join(CELLS)}")
        for name in ("vocab_size", "embed_dim", "hidden_size", "num_layers"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v <= 0:
                raise ValueError(f"{name}={v!r} is invalid; allowed: an integer > 0")
        if not (isinstance(self.dropout, (int, float)) and 0.0 <= self.dropout < 1.0):
            raise ValueError(f"dropout={self.dropout!r} is invalid; allowed: a number in [0, 1)")
        if self.gate_bias is not None and not math.isfinite(float(self.gate_bias)):
            raise ValueError(f"gate_bias={self.gate_bias!r} is invalid; allowed: None or a finite number")

    @property
    def directions(self) -> int:
        """Always 1: a language model reads left to right."""
        return 1


class CharLM(SeededModule, nn.Module):
    """Embedding -> ``config.num_layers`` stacked RNN/GRU/LSTM layers -> next-character logits at every step.

    Example:
        >>> m = CharLM(CharLMConfig(cell="gru", vocab_size=10))
        >>> m(torch.tensor([[2, 3, 4]])).shape
        torch.Size([1, 3, 10])
    """

    def __init__(self, config: CharLMConfig) -> None:
        super().__init__()
        if not isinstance(config, CharLMConfig):
            raise TypeError(f"config must be a CharLMConfig, got {type(config).__name__}")
        self.config = config
        self.embedding = nn.Embedding(config.vocab_size, config.embed_dim)
        self.rnn = _RNN[config.cell](
            config.embed_dim,
            config.hidden_size,
            num_layers=config.num_layers,
            batch_first=True,
            dropout=config.dropout if config.num_layers > 1 else 0.0,
        )
        self.head = nn.Linear(config.hidden_size, config.vocab_size)
        self.after_init()

    @torch.no_grad()
    def after_init(self) -> None:
        """Sets the configured forget / update gate bias (if any)."""
        if self.config.gate_bias is None or self.config.cell == "rnn":
            return
        h = self.config.hidden_size
        for name, p in self.rnn.named_parameters():  # gate order: LSTM (i, f, g, o), GRU (r, z, n)
            if name.startswith("bias_ih"):
                p[h : 2 * h] = float(self.config.gate_bias)
            elif name.startswith("bias_hh"):
                p[h : 2 * h] = 0.0

    def forward(self, ids: torch.Tensor, lengths: torch.Tensor | None = None, state: Any = None) -> torch.Tensor:
        """Logits ``(B, T, V)`` for the character after each position of ``ids`` ``(B, T)``."""
        return self.forward_embedded(self.embedding(ids), state)

    def forward_embedded(self, emb: torch.Tensor, state: Any = None) -> torch.Tensor:
        """Logits ``(B, T, V)`` from embedded characters ``(B, T, E)`` (for gradients with respect to the input)."""
        out, _ = self.rnn(emb, state)  # (B, T, H)
        return self.head(out)  # (B, T, V)

    def step(self, ids: torch.Tensor, state: Any = None) -> tuple[torch.Tensor, Any]:
        """One or more steps continuing from ``state``: ``(logits (B, T, V), new state)``."""
        out, state = self.rnn(self.embedding(ids), state)
        return self.head(out), state


def initial_model(config: CharLMConfig, meta: dict[str, Any]) -> CharLM:
    """The exact starting point of a trained model: rebuilt from ``meta["init_seed"]`` and accepted only when it
    matches the ``init_fingerprint`` stored at training time (see :func:`lstmviz.models.check_initialisation`).

    Args:
        config: The checkpoint's model config.
        meta: The checkpoint's meta.

    Returns:
        The initial model, in eval mode.

    Raises:
        UnknownInitialisation: ``meta`` stores no ``init_fingerprint`` (a checkpoint from before it was recorded,
            or made elsewhere), or the rebuilt weights do not match it. No stand-in (say, seed 0) is made: it
            would be shown as this model's initialisation.

    Example:
        >>> from lstmviz.models import weights_fingerprint
        >>> m = CharLM.seeded(CharLMConfig(vocab_size=5), 3)
        >>> initial_model(m.config, {"init_seed": 3, "init_fingerprint": weights_fingerprint(m)}).config.vocab_size
        5
        >>> initial_model(m.config, {"init_seed": 3})
        Traceback (most recent call last):
        lstmviz.models.UnknownInitialisation: the checkpoint stores no init_fingerprint: its initial weights are unknown
    """
    model = CharLM.seeded(config, int(meta.get("init_seed", 0)))  # seed 0 is only tried: the fingerprint decides
    return check_initialisation(model, meta).eval()


def encode_chars(text: str, chars: Vocab | Sequence[str]) -> torch.Tensor:
    """Ids ``(T,)`` of the characters of ``text`` (unknown characters -> 1, ``<unk>``), one per character.

    ``chars`` is the model's vocabulary: a checkpoint's ``meta["chars"]`` (index = id) or a
    :class:`lstmviz.vocab.Vocab` built from it once (what a caller that encodes many texts passes).

    Deliberately no normalisation here: callers line per-character values up with ``text`` (the cell finder's
    features, the dashboard's steps), so the ids stay one per character. A character the model never saw
    in training (the corpus has no combining stress mark, decomposed letter or zero-width character) is
    ``<unk>``, which is what it is to this model. To read a text as the corpus is written, pass it through
    :func:`lstmviz.text.canonical` (NFC, no stress marks or zero-width characters) first, as the tagger does.

    Example:
        >>> encode_chars("ab?", ["<pad>", "<unk>", "a", "b"]).tolist()
        [2, 3, 1]
    """
    return torch.tensor(as_vocab(chars).encode(iter(text)), dtype=torch.long)  # iter: no copy of a long text


@torch.no_grad()
def check_sampling(length: Any, temperature: Any, top_k: Any, seed: Any, max_length: int) -> None:
    """Refuses sampling settings out of range (ValueError naming the setting and the allowed values): ``length`` in
    0..max_length, ``temperature`` >= :data:`MIN_TEMPERATURE`, ``top_k`` None or >= 1, ``seed`` in 0..MAX_SEED.

    Example:
        >>> check_sampling(5, 0.8, None, 0, 10)
        >>> check_sampling(5, 0.8, 0, 0, 10)
        Traceback (most recent call last):
        ValueError: top_k=0 is invalid; allowed: None or an integer >= 1
    """
    from lstmviz.trainer import check_int, check_number  # not at the top: lstmviz.trainer -> checkpoint -> charlm

    check_int("length", length, 0, max_length)
    check_number("temperature", temperature, lo=MIN_TEMPERATURE)  # below it, logits / temperature overflow
    if top_k is not None:
        try:
            check_int("top_k", top_k, 1)
        except ValueError as e:
            raise ValueError(str(e).replace("allowed: ", "allowed: None or ")) from None
    check_int("seed", seed, 0, MAX_SEED)


def generate(
    model: CharLM,
    chars: Vocab | Sequence[str],
    prefix: str,
    length: int = 100,
    temperature: float = 1.0,
    top_k: int | None = None,
    seed: int = 0,
) -> str:
    """Continues ``prefix`` by ``length`` sampled characters; the same seed gives the same text.

    Sampling uses a private ``torch.Generator`` (the global RNG is untouched). ``temperature`` divides
    the logits (→ 0: nearly greedy); ``top_k`` keeps only the k most likely characters; ``<pad>`` and
    ``<unk>`` are never sampled.

    Args:
        model: A :class:`CharLM` (never mutated; a model in training mode is sampled through an eval copy).
        chars: The vocabulary (a list, index = id, or a :class:`lstmviz.vocab.Vocab`).
        prefix: At least one character.
        length: Characters to add, 0 .. :data:`MAX_GENERATE_LENGTH`.
        temperature: A finite number >= :data:`MIN_TEMPERATURE` (smaller ones overflow the scaled logits).
        top_k: None, or an integer >= 1.
        seed: Seed of the sampling, an integer 0 .. :data:`MAX_SEED` (what ``torch.Generator`` takes).

    Raises:
        ValueError: naming the argument, its value and the allowed range.

    Returns:
        The continuation only (``length`` characters).

    Example:
        >>> generate(model, chars, "Мне", length=5, seed=0)  # doctest: +SKIP
        ' очен'
    """
    if not prefix:
        raise ValueError("prefix must hold at least one character")
    check_sampling(length, temperature, top_k, seed, MAX_GENERATE_LENGTH)
    if model.training:  # never flip the mode of a shared model: sample from a private eval copy
        import copy

        model = copy.deepcopy(model).eval()
    vocab = as_vocab(chars)
    g = torch.Generator().manual_seed(seed)
    logits, state = model.step(encode_chars(prefix, vocab).unsqueeze(0))
    last = logits[0, -1]  # (V,)
    out = []
    for _ in range(length):
        scores = last.double() / temperature
        scores[:2] = -math.inf  # never <pad> or <unk>
        if top_k is not None and top_k < scores.numel():
            kth = torch.topk(scores, top_k).values[-1]
            scores = torch.where(scores < kth, torch.full_like(scores, -math.inf), scores)
        nxt = int(torch.multinomial(torch.softmax(scores, -1), 1, generator=g))
        out.append(vocab.id_to_token(nxt))
        logits, state = model.step(torch.tensor([[nxt]]), state)
        last = logits[0, -1]
    return "".join(out)


# ----- tables of a text read character by character (the Generation view's charts and CSVs) ----------------------
SPACE_LABEL = "␣"  # what a space (or any blank character) is shown as: a blank tick or cell would hide its step


def char_labels(text: str) -> list[str]:
    """One display label per character of ``text``: blank characters (space, tab, ...) as ``␣``.

    Example:
        >>> char_labels("да, я")
        ['д', 'а', ',', '␣', 'я']
    """
    return [c if c.strip() else SPACE_LABEL for c in text]


def with_chars(frame: pd.DataFrame, text: str) -> pd.DataFrame:
    """A copy of a tidy frame with a ``step`` column (one row per step and unit) and, right after it, the
    character of ``text`` read at that step (as typed: a space is a space), e.g. for a CSV download.

    Example:
        >>> frame = pd.DataFrame({"step": [0, 1, 1], "unit": [0, 0, 1], "value": [0.1, 0.2, 0.3]})
        >>> with_chars(frame, "ab").columns.tolist(), with_chars(frame, "ab")["char"].tolist()
        (['step', 'char', 'unit', 'value'], ['a', 'b', 'b'])
    """
    steps = frame["step"].to_numpy(dtype=int)
    if len(steps) and (steps.min() < 0 or steps.max() >= len(text)):
        raise ValueError(
            f"the frame's steps run {steps.min()}..{steps.max()}; allowed: 0..{len(text) - 1} for the text"
        )
    out = frame.copy()
    out.insert(out.columns.get_loc("step") + 1, "char", [text[s] for s in steps])
    return out


def step_labels(text: str) -> list[str]:
    """``"step: character"`` per character (``␣`` for a blank), unique headers for a table with a column per step.

    Example:
        >>> step_labels("я б")
        ['0: я', '1: ␣', '2: б']
    """
    return [f"{i}: {c}" for i, c in enumerate(char_labels(text))]


def top5_table(top5: Sequence[dict[str, Any]], text: str) -> pd.DataFrame:
    """The five likeliest next characters after every character of ``text``: a row per rank, a column per step
    headed ``"step: character read"`` (columns in step order, blank characters shown as ``␣``).

    Args:
        top5: Records ``{"step", "rank", "char", ...}`` (rank 1 = likeliest), as the dashboard's generation
            cache returns them.
        text: The text read, one character per step.

    Example:
        >>> rows = [{"step": s, "rank": r, "char": c} for s, k in enumerate(["ab", " c"]) for r, c in enumerate(k, 1)]
        >>> top5_table(rows, "x ").to_dict("list")
        {'rank': [1, 2], '0: x': ['a', 'b'], '1: ␣': ['␣', 'c']}
    """
    records = pd.DataFrame(list(top5), columns=["step", "rank", "char"])
    if len(records) and int(records["step"].max()) >= len(text):
        raise ValueError(f"top5 has steps up to {int(records['step'].max())}; the text has {len(text)} characters")
    records["char"] = ["".join(char_labels(str(c))) for c in records["char"]]
    table = records.pivot(index="rank", columns="step", values="char").sort_index(axis=0).sort_index(axis=1)
    headers = step_labels(text)
    table.columns = [headers[int(s)] for s in table.columns]
    return table.reset_index()


def connectivity_frame(matrix: np.ndarray, text: str) -> pd.DataFrame:
    """A ``(T, T)`` connectivity matrix (row t: the prediction after step t, column s: the input at step s) as a
    labelled table: columns ``t`` and ``char`` (the character read at t), then one column per input step headed
    ``"s<step>: <character>"``.

    Example:
        >>> connectivity_frame(np.array([[1.0, 0.0], [0.5, 2.0]]), "ab").to_dict("list")
        {'t': [0, 1], 'char': ['a', 'b'], 's0: a': [1.0, 0.5], 's1: b': [0.0, 2.0]}
    """
    m = np.asarray(matrix, dtype=float)
    if m.shape != (len(text), len(text)):
        raise ValueError(
            f"matrix has shape {m.shape}; allowed: ({len(text)}, {len(text)}), one row and column per character"
        )
    data = pd.DataFrame(m, columns=[f"s{h}" for h in step_labels(text)])
    data.insert(0, "char", list(text))
    data.insert(0, "t", np.arange(len(text)))
    return data


def most_varied_units(frame: pd.DataFrame, n: int) -> list[int]:
    """The ``n`` units of a tidy ``step, unit, value`` frame whose values vary most over the steps (standard
    deviation), most varied first (ties: lower unit first). A unit that stays put (a saturated gate) says little
    about the text, so these are the rows worth reading when there are too many to read them all.

    Example:
        >>> f = pd.DataFrame({"step": [0, 1] * 3, "unit": [0, 0, 1, 1, 2, 2], "value": [.5, .5, 0, 1, .2, .4]})
        >>> most_varied_units(f, 2)
        [1, 2]
    """
    if n < 1:
        raise ValueError(f"n={n!r} is invalid; allowed: an integer >= 1")
    spread = frame.groupby("unit")["value"].std(ddof=0).fillna(0.0)
    ranked = sorted(spread.items(), key=lambda item: (-float(item[1]), int(item[0])))
    return [int(u) for u, _ in ranked[:n]]
