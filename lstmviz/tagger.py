"""A sequence tagger with a convolutional front-end and a bidirectional LSTM: a tag per word (many-to-many).

As in the NER lab of the lectures: every word is represented by its own embedding plus a Conv1d over
its characters (max-pooled over the word), and a 2-layer bidirectional LSTM reads the sentence both ways;
two linear heads give each word a UD part of speech and a BIO named-entity tag. Layout (names fixed so
the recorder and the dashboard find the pieces)::

    embedding       nn.Embedding(word_vocab_size, word_dim, padding_idx=0)   lower-cased words
    char_embedding  nn.Embedding(char_vocab_size, char_dim, padding_idx=0)
    char_conv       nn.Conv1d(char_dim, char_channels, char_kernel, padding=char_kernel // 2)
    rnn             nn.LSTM | nn.GRU | nn.RNN, batch_first=True, bidirectional
    pos_head        nn.Linear(2 * hidden_size, len(POS_TAGS))
    ner_head        nn.Linear(2 * hidden_size, len(NER_TAGS))

Words come from :func:`tokenize` (a fixed regular expression, so the shipped tagger needs no tokenizer
package; stress marks, a decomposed ``ё`` and zero-width characters never cut a word, and the model reads
its :func:`lstmviz.text.canonical` form, the normalisation the sentiment pipeline uses); the vocabularies
are stored in the checkpoint's meta (``words``, ``chars``, ``pos_tags``, ``ner_tags``; index = id,
0 = ``<pad>``, 1 = ``<unk>``). Checkpoints record ``model_kind="tagger"``.

Example::

    model, meta = load_checkpoint("checkpoints/tagger-lstm")
    result = tag_text(model, meta, "Владимир Путин прилетел в Москву.")
    result.pos  # ['PROPN', 'PROPN', 'VERB', 'ADP', 'PROPN', 'PUNCT']
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from lstmviz.kinds.base import KindConfig, SeededModule
from lstmviz.metrics import entity_spans
from lstmviz.models import CELLS
from lstmviz.text import canonical, word_joiners
from lstmviz.vocab import Vocab, as_vocab

__all__ = [
    "POS_TAGS",
    "NER_TAGS",
    "HEADS",
    "TaggerConfig",
    "Tagger",
    "TagResult",
    "tokenize",
    "encode_words",
    "tag_text",
    "indices",
    "encode_sentences",
    "MAX_WORD_CHARS",
    "to_bio",
    "bio_spans",
    "POS_VOCAB",
    "NER_VOCAB",
]

# Universal Dependencies parts of speech (what the slovnet morphology model predicts), fixed order.
POS_TAGS = (
    "ADJ",
    "ADP",
    "ADV",
    "AUX",
    "CCONJ",
    "DET",
    "INTJ",
    "NOUN",
    "NUM",
    "PART",
    "PRON",
    "PROPN",
    "PUNCT",
    "SCONJ",
    "SYM",
    "VERB",
    "X",
)
# BIO named-entity tags over the slovnet NER types.
NER_TAGS = ("O", "B-PER", "I-PER", "B-LOC", "I-LOC", "B-ORG", "I-ORG")
POS_VOCAB = Vocab(POS_TAGS, specials=False)  # tag <-> id of the pos head (closed: an unknown tag is an error)
NER_VOCAB = Vocab(NER_TAGS, specials=False)  # tag <-> id of the ner head
HEADS = ("pos", "ner")  # the two outputs, by name
MAX_WORD_CHARS = 24  # characters of a word the convolution sees (longer words are cut; Russian rarely needs more)
_WORD: re.Pattern[str] | None = None  # built on first use (:func:`_word_pattern`)
_RNN = {"rnn": nn.RNN, "gru": nn.GRU, "lstm": nn.LSTM}


def _word_pattern() -> re.Pattern[str]:
    """Words (with inner hyphens/apostrophes, combining marks and zero-width characters) and single symbols."""
    global _WORD
    if _WORD is None:
        w = f"(?:\\w|{word_joiners()})"  # a stress mark, a decomposed ё's dots or a zero-width joiner continue a word
        _WORD = re.compile(f"\\w{w}*(?:[-'’]\\w{w}*)*|[^\\w\\s]")
    return _WORD


def tokenize(text: str) -> list[tuple[str, int, int]]:
    """Words and punctuation marks of ``text``: ``(model form, start, end)``, where ``text[start:end]`` is the
    surface and the model form its :func:`lstmviz.text.canonical` (NFC, no stress marks or zero-width
    characters). Format characters and combining marks on their own are no tokens.

    Example:
        >>> [w for w, _, _ in tokenize("Ростов-на-Дону, «Газпром»!")]
        ['Ростов-на-Дону', ',', '«', 'Газпром', '»', '!']
        >>> tokenize("Ста\u0301рый за\u0301мок")
        [('Старый', 0, 7), ('замок', 8, 14)]
    """
    out = []
    for m in _word_pattern().finditer(text):
        if unicodedata.category(m.group()[0])[0] in "MC":  # an orphan mark, a format or control character
            continue
        form = canonical(m.group())
        if form:
            out.append((form, m.start(), m.end()))
    return out


@dataclass
class TaggerConfig(KindConfig):
    """Sizes of a :class:`Tagger`; stored verbatim in a checkpoint.

    Example:
        >>> TaggerConfig.from_dict({"word_vocab_size": 100, "char_vocab_size": 50}).num_layers
        2
    """

    cell: str = "lstm"  # recurrent cell: "lstm" (the lab's BiLSTM) | "gru" | "rnn"
    word_vocab_size: int = 2  # lower-cased words incl. <pad>=0 and <unk>=1
    char_vocab_size: int = 2  # characters incl. <pad>=0 and <unk>=1
    word_dim: int = 64  # word embedding width
    char_dim: int = 24  # character embedding width
    char_channels: int = 48  # Conv1d output channels = the character part of a word's representation
    char_kernel: int = 3  # Conv1d width in characters (odd, so the padding keeps the length)
    hidden_size: int = 96  # units per layer and direction
    num_layers: int = 2  # stacked bidirectional layers
    dropout: float = 0.3  # on the word representation and between layers, in training only
    head: ClassVar[str] = "tag"
    bidirectional: ClassVar[bool] = True

    def __post_init__(self) -> None:
        if self.cell not in CELLS:
            raise ValueError(f"cell={self.cell!r} is not supported; allowed: {', '.join(CELLS)}")
        for name in (
            "word_vocab_size",
            "char_vocab_size",
            "word_dim",
            "char_dim",
            "char_channels",
            "char_kernel",
            "hidden_size",
            "num_layers",
        ):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v <= 0:
                raise ValueError(f"{name}={v!r} is invalid; allowed: an integer > 0")
        if self.char_kernel % 2 == 0:
            raise ValueError(f"char_kernel={self.char_kernel!r} is invalid; allowed: an odd integer")
        if not (isinstance(self.dropout, (int, float)) and 0.0 <= self.dropout < 1.0 and math.isfinite(self.dropout)):
            raise ValueError(f"dropout={self.dropout!r} is invalid; allowed: a number in [0, 1)")

    @property
    def directions(self) -> int:
        """Always 2: the tagger reads the sentence both ways."""
        return 2

    @property
    def input_size(self) -> int:
        """Width of a word's representation: word embedding + character convolution."""
        return self.word_dim + self.char_channels


class Tagger(SeededModule, nn.Module):
    """Word embedding + char Conv1d -> 2-layer bidirectional RNN -> POS and NER logits per word.

    Example:
        >>> m = Tagger(TaggerConfig(word_vocab_size=10, char_vocab_size=8))
        >>> pos, ner = m(torch.tensor([[2, 3]]), torch.tensor([[[2, 3, 0], [4, 0, 0]]]))
        >>> tuple(pos.shape), tuple(ner.shape)
        ((1, 2, 17), (1, 2, 7))
    """

    def __init__(self, config: TaggerConfig) -> None:
        super().__init__()
        if not isinstance(config, TaggerConfig):
            raise TypeError(f"config must be a TaggerConfig, got {type(config).__name__}")
        self.config = c = config
        self.embedding = nn.Embedding(c.word_vocab_size, c.word_dim, padding_idx=0)
        self.char_embedding = nn.Embedding(c.char_vocab_size, c.char_dim, padding_idx=0)
        self.char_conv = nn.Conv1d(c.char_dim, c.char_channels, c.char_kernel, padding=c.char_kernel // 2)
        self.dropout = nn.Dropout(c.dropout)
        self.rnn = _RNN[c.cell](
            c.input_size,
            c.hidden_size,
            num_layers=c.num_layers,
            batch_first=True,
            bidirectional=True,
            dropout=c.dropout if c.num_layers > 1 else 0.0,
        )
        self.pos_head = nn.Linear(2 * c.hidden_size, len(POS_TAGS))
        self.ner_head = nn.Linear(2 * c.hidden_size, len(NER_TAGS))

    def embed(self, words: torch.Tensor, chars: torch.Tensor) -> torch.Tensor:
        """Word representations ``(B, T, word_dim + char_channels)`` from ids ``(B, T)`` and ``(B, T, C)``."""
        B, T, C = chars.shape
        e = self.char_embedding(chars.reshape(B * T, C)).transpose(1, 2)  # (B*T, char_dim, C)
        conv = self.char_conv(e)  # (B*T, K, C)
        # Max over the word's real characters only (padding never wins); an empty slot gives 0.
        mask = chars.reshape(B * T, 1, C) != 0
        pooled = conv.masked_fill(~mask, -torch.inf).amax(-1)  # (B*T, K)
        pooled = torch.where(mask.any(-1), pooled, torch.zeros_like(pooled)).reshape(B, T, -1)  # (B, T, K)
        return torch.cat([self.embedding(words), pooled], -1)  # (B, T, W + K)

    def forward(
        self, words: torch.Tensor, chars: torch.Tensor, lengths: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """``(pos logits (B, T, 17), ner logits (B, T, 7))``; ``lengths`` (B,) packs a padded batch."""
        return self.forward_embedded(self.embed(words, chars), lengths)

    def forward_embedded(self, x: torch.Tensor, lengths: torch.Tensor | None = None, head: str | None = None) -> Any:
        """Logits from word representations ``(B, T, E)``: both heads, or one when ``head`` names it."""
        x = self.dropout(x)
        if lengths is not None:
            packed = pack_padded_sequence(x, lengths.cpu(), batch_first=True, enforce_sorted=False)
            out, _ = self.rnn(packed)
            out, _ = pad_packed_sequence(out, batch_first=True, total_length=x.shape[1])  # (B, T, 2H)
        else:
            out, _ = self.rnn(x)  # (B, T, 2H)
        out = self.dropout(out)
        if head is None:
            return self.pos_head(out), self.ner_head(out)
        if head not in HEADS:
            raise ValueError(f"head={head!r} is not a tagger output; allowed: {', '.join(HEADS)}")
        return (self.pos_head if head == "pos" else self.ner_head)(out)


def encode_sentences(
    sentences: Sequence[Sequence[str]], words: Vocab | Sequence[str], chars: Vocab | Sequence[str]
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Padded ids of many sentences: lower-cased words ``(B, T)``, their first characters ``(B, T, C)`` (id 0 =
    padding, unknown -> 1) and the lengths ``(B,)``.

    Args:
        sentences: The words of each sentence, as in the text (they are lower-cased here).
        words, chars: The word and character vocabularies: a checkpoint's ``meta["words"]``/``meta["chars"]``
            lists (index = id) or :class:`lstmviz.vocab.Vocab` objects (see :func:`indices`).

    Example:
        >>> w, c, n = encode_sentences([["Да", "!"], ["да"]], ["<pad>", "<unk>", "да"], ["<pad>", "<unk>", "Д", "а"])
        >>> w.tolist(), c[1].tolist(), n.tolist()
        ([[2, 1], [2, 0]], [[1, 3], [0, 0]], [2, 1])
    """
    word_id, encode_chars = as_vocab(words).token_to_id, as_vocab(chars).encode
    B, T = len(sentences), max([len(s) for s in sentences] + [1])
    C = max([min(len(w), MAX_WORD_CHARS) for s in sentences for w in s] + [1])
    word_ids, char_ids = torch.zeros(B, T, dtype=torch.long), torch.zeros(B, T, C, dtype=torch.long)
    for b, ws in enumerate(sentences):
        for i, w in enumerate(ws):
            word_ids[b, i] = word_id(w.lower())
            char_ids[b, i, : min(len(w), C)] = torch.tensor(encode_chars(iter(w[:C])))
    return word_ids, char_ids, torch.tensor([len(s) for s in sentences])


def encode_words(
    words: Sequence[str], word_vocab: Vocab | Sequence[str], char_vocab: Vocab | Sequence[str]
) -> tuple[torch.Tensor, torch.Tensor]:
    """Ids ``(1, T)`` of the lower-cased words and ``(1, T, C)`` of their first characters (unknown -> 1).

    Example:
        >>> w, c = encode_words(["Да", "!"], ["<pad>", "<unk>", "да"], ["<pad>", "<unk>", "Д", "а"])
        >>> w.tolist(), c.tolist()
        ([[2, 1]], [[[2, 3], [1, 0]]])
    """
    w, c, _ = encode_sentences([words], word_vocab, char_vocab)
    return w, c


@dataclass
class TagResult:
    """What :func:`tag_text` returns: the words, their spans, tags and the tags' probabilities."""

    words: list[str]  # as they appear in the text
    spans: list[tuple[int, int]]  # character offsets in the text
    known: list[bool]  # whether the word is in the tagger's vocabulary
    pos: list[str]  # UD part of speech per word
    ner: list[str]  # BIO named-entity tag per word
    pos_p: list[float]  # probability of the chosen part of speech
    ner_p: list[float]  # probability of the chosen entity tag
    word_ids: torch.Tensor  # (1, T)
    char_ids: torch.Tensor  # (1, T, C)


def indices(meta: dict[str, Any]) -> tuple[Vocab, Vocab]:
    """``(word vocabulary, character vocabulary)`` of a tagger checkpoint's meta (its ``words`` and ``chars`` lists,
    index = id), built once for many :func:`encode_sentences` calls.

    Example:
        >>> words, chars = indices({"words": ["<pad>", "<unk>", "да"], "chars": ["<pad>", "<unk>", "д", "а"]})
        >>> words.token_to_id("да"), chars.encode(iter("дар"))
        (2, [2, 3, 1])
    """
    return Vocab(meta["words"]), Vocab(meta["chars"])


@torch.no_grad()
def tag_text(model: Tagger, meta: dict[str, Any], text: str, max_words: int = 200) -> TagResult:
    """Tags every word of ``text`` (the first ``max_words``).

    Example:
        >>> tag_text(model, meta, "Мама мыла раму.").pos  # doctest: +SKIP
        ['NOUN', 'VERB', 'NOUN', 'PUNCT']
    """
    toks = tokenize(text)[:max_words]
    words = [w for w, _, _ in toks]  # model forms (canonical); the result shows the surfaces
    word_index, char_index = indices(meta)
    if not words:
        empty = torch.zeros(1, 0, dtype=torch.long)
        return TagResult([], [], [], [], [], [], [], empty, torch.zeros(1, 0, 1, dtype=torch.long))
    w, c = encode_words(words, word_index, char_index)
    pos, ner = model(w, c)
    pp, nn_ = torch.softmax(pos[0], -1).max(-1), torch.softmax(ner[0], -1).max(-1)
    return TagResult(
        words=[text[s:e] for _, s, e in toks],
        spans=[(s, e) for _, s, e in toks],
        known=[int(i) != 1 for i in w[0]],
        pos=[POS_TAGS[i] for i in pp.indices.tolist()],
        ner=[NER_TAGS[i] for i in nn_.indices.tolist()],
        pos_p=pp.values.tolist(),
        ner_p=nn_.values.tolist(),
        word_ids=w,
        char_ids=c,
    )


def to_bio(tags: Sequence[str]) -> list[str]:
    """Named-entity tags as BIO labels for display (what students implement: ``B-`` on an entity's first word,
    ``I-`` on the rest, ``O`` outside). Bare entity types (``PER``; ``O`` or ``""`` outside) become BIO, a run of
    words of one type being one entity; BIO tags (what :class:`Tagger` predicts) stay, except an ``I-X`` that
    continues no ``X``, which starts one (``B-X``, as conlleval and :func:`lstmviz.metrics.entity_spans` read it).

    Example:
        >>> to_bio(["PER", "PER", "O", "LOC", "ORG"])
        ['B-PER', 'I-PER', 'O', 'B-LOC', 'B-ORG']
        >>> to_bio(["B-PER", "I-PER", "O", "I-LOC", "I-ORG"])
        ['B-PER', 'I-PER', 'O', 'B-LOC', 'B-ORG']
    """
    out: list[str] = []
    kind = None  # type of the entity the previous word belongs to
    for tag in tags:
        tag = tag or "O"
        prefix, bare = (tag[:2], tag[2:]) if tag[:2] in ("B-", "I-") else ("", tag)
        if bare == "O":
            out.append("O")
            kind = None
            continue
        # a bare type continues a run of its own type; I-X continues an X; B-X always starts an entity
        out.append(f"I-{bare}" if prefix != "B-" and bare == kind else f"B-{bare}")
        kind = bare
    return out


def bio_spans(tags: Sequence[str]) -> list[tuple[int, int, str]]:
    """``(first word, end word (exclusive), type)`` of each entity of :func:`to_bio` ``(tags)``, in order.

    Example:
        >>> bio_spans(["B-PER", "I-PER", "O", "B-LOC", "B-LOC"])
        [(0, 2, 'PER'), (3, 4, 'LOC'), (4, 5, 'LOC')]
    """
    return sorted(entity_spans(to_bio(tags)))  # spans never overlap: sorted by start is their order
