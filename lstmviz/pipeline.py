"""Text -> ids -> prediction, exactly as training did it; shared by training and the dashboard.

:class:`Predictor` bundles a loaded checkpoint's model, vocabulary, text pipeline and
labels. :func:`encode_texts` is what training uses to build its tensors, so the dashboard
and the trainer can never disagree on tokenization, truncation or padding.

Sentiment checkpoints tokenize with the stored :class:`~lstmviz.text.TextPipeline`.
Cue-recall checkpoints (``meta["task"] == "cue_recall"``) have no text pipeline: their
input is the space-separated token names of the task's vocabulary (``lstmviz.tasks``),
e.g. ``"france w3 w7 w1 ?"``; each name becomes one token whose span points into the string.
"""

from __future__ import annotations

import itertools
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from lstmviz.checkpoint import CheckpointError, load_checkpoint
from lstmviz.models import RecurrentClassifier
from lstmviz.text import TextPipeline, Token
from lstmviz.vocab import PAD_ID, UNK_ID, Vocab

__all__ = ["MAX_TOKENS", "Encoded", "Predictor", "encode_texts", "load_predictor", "pad_sequences"]

MAX_TOKENS = 200  # longest input the model sees; longer texts keep their first MAX_TOKENS tokens
_NAME_RE = re.compile(r"\S+")


@dataclass(frozen=True)
class Encoded:
    """One text as the model sees it.

    Attributes:
        tokens: Model tokens with their spans in the original text (after truncation).
        ids: LongTensor (1, T) of token ids.
        lengths: LongTensor (1,) holding T.
        unknown: Per token, whether it is out of vocabulary (encoded as ``<unk>``).
        truncated: True when more than MAX_TOKENS tokens were cut to MAX_TOKENS.
        text: The original text.
    """

    tokens: list[Token]
    ids: torch.Tensor  # (1, T)
    lengths: torch.Tensor  # (1,)
    unknown: list[bool]
    truncated: bool
    text: str


def pad_sequences(seqs: Sequence[Sequence[int]]) -> tuple[torch.Tensor, torch.Tensor]:
    """Right-pads id lists with ``<pad>`` (0) into one batch.

    Args:
        seqs: Non-empty id lists.

    Returns:
        ``(ids, lengths)``: LongTensor (N, T_max) and LongTensor (N,).

    Raises:
        ValueError: if a sequence is empty.

    Example:
        >>> ids, lengths = pad_sequences([[5, 6, 7], [8]])
        >>> ids.tolist(), lengths.tolist()
        ([[5, 6, 7], [8, 0, 0]], [3, 1])
    """
    lengths = [len(s) for s in seqs]
    if any(n == 0 for n in lengths):
        raise ValueError(f"sequence {lengths.index(0)} is empty; every sequence needs at least one token")
    ids = torch.full((len(seqs), max(lengths, default=0)), PAD_ID, dtype=torch.long)  # (N, T)
    for i, s in enumerate(seqs):
        ids[i, : len(s)] = torch.as_tensor(list(s), dtype=torch.long)
    return ids, torch.tensor(lengths, dtype=torch.long)


def encode_texts(
    texts: Sequence[str], pipeline: TextPipeline, vocab: Vocab, max_tokens: int = MAX_TOKENS
) -> tuple[torch.Tensor, torch.Tensor]:
    """Tokenizes, truncates and pads many texts the way :class:`Predictor` does.

    A text without any model token becomes a single ``<unk>`` so the batch stays aligned
    with its labels (the Predictor refuses such a text instead).

    Args:
        texts: Raw texts.
        pipeline: The text pipeline stored with the model.
        vocab: The vocabulary.
        max_tokens: Keep at most this many leading tokens per text.

    Returns:
        ``(ids, lengths)``: LongTensor (N, T) padded with 0 and LongTensor (N,).

    Example:
        >>> v = Vocab.build([["я", "любить"]])
        >>> encode_texts(["Я люблю", "!!"], TextPipeline(), v)[0].tolist()
        [[3, 2], [1, 0]]
    """
    if max_tokens < 1:
        raise ValueError(f"max_tokens={max_tokens!r} is invalid; allowed: an integer >= 1")
    seqs = [vocab.encode(pipeline.lemmas(t)[:max_tokens]) or [UNK_ID] for t in texts]
    return pad_sequences(seqs)


class Predictor:
    """A checkpoint ready for inference on raw text.

    Args:
        model: The trained model (put in eval mode).
        meta: The checkpoint's meta dict.

    Attributes:
        model, meta, vocab (Vocab), pipeline (TextPipeline or None for cue recall),
        labels (list[str]), task (str), token_names (list[str]: the name of every id).
        ``vocab`` and ``pipeline`` are None for cue-recall checkpoints.

    Example:
        >>> p = Predictor.from_checkpoint("checkpoints/sentiment-lstm")  # doctest: +SKIP
        >>> p.labels[int(p.predict_proba("Я не люблю дождь!").argmax())]  # doctest: +SKIP
        'negative'
    """

    def __init__(self, model: RecurrentClassifier, meta: dict[str, Any]) -> None:
        head = getattr(model.config, "head", None)
        if head != "classify":
            why = (
                "regression checkpoints take real-valued inputs, not text"
                if head == "regress"
                else "it reads text into one class per sentence (a sentiment or cue-recall classifier)"
            )
            raise ValueError(f"Predictor needs a head='classify' model, got head={head!r}; {why}")
        self.model = model.eval()
        self.meta = meta
        self.task = str(meta.get("task", "sentiment"))
        self.labels = [str(x) for x in (meta.get("labels") or range(model.config.num_classes))]
        self.pipeline: TextPipeline | None = None
        self.vocab: Vocab | None = None
        if self.task == "cue_recall":
            from lstmviz import tasks

            params = meta.get("task_params") or {}
            self._cue_args = {
                "n_classes": int(params.get("n_classes", model.config.num_classes)),
                "vocab_size": int(params.get("vocab_size", model.config.vocab_size)),
            }
            # Checked before the names are built: a lie in meta.json must not cost a 2e7-entry list.
            for key, want in (("n_classes", model.config.num_classes), ("vocab_size", model.config.vocab_size)):
                if self._cue_args[key] != want:
                    raise ValueError(
                        f"checkpoint meta task_params {key}={self._cue_args[key]:,} disagrees with the "
                        f"model config ({want:,})"
                    )
            self.token_names = tasks.cue_recall_vocab(**self._cue_args)
        else:
            if meta.get("vocab") is None:
                raise ValueError("checkpoint meta has no 'vocab'; cannot encode text")
            self.vocab = Vocab.from_dict(meta["vocab"])
            self.pipeline = TextPipeline.from_dict(meta.get("pipeline") or {})
            self.token_names = self.vocab.tokens
        if len(self.token_names) != model.config.vocab_size:
            raise ValueError(
                f"vocabulary has {len(self.token_names)} entries but the model expects {model.config.vocab_size}"
            )

    @classmethod
    def from_checkpoint(cls, directory: str | os.PathLike) -> Predictor:
        """Loads a checkpoint directory (see :func:`lstmviz.checkpoint.load_checkpoint`).

        Raises:
            CheckpointError: for any unreadable or inconsistent checkpoint.

        Example:
            >>> Predictor.from_checkpoint("checkpoints/cue-lstm").task  # doctest: +SKIP
            'cue_recall'
        """
        model, meta = load_checkpoint(directory)
        try:
            return cls(model, meta)
        except ValueError as e:
            raise CheckpointError(f"{Path(directory) / 'meta.json'}: {e}") from e

    def tokenize(self, text: str, limit: int | None = None) -> list[Token]:
        """The model tokens of ``text``, all or the first ``limit`` (cut before any lemmatising).

        Example:
            >>> [t.lemma for t in p.tokenize("Дожди!")]  # doctest: +SKIP
            ['дождь']
        """
        if not isinstance(text, str):
            raise TypeError(f"text must be a str, got {type(text).__name__}")
        if self.pipeline is not None:
            return self.pipeline(text, limit=limit)
        names = (Token(m.group(), m.start(), m.end(), m.group(), m.group(), "word") for m in _NAME_RE.finditer(text))
        return list(itertools.islice(names, limit))

    def encode(self, text: str) -> Encoded:
        """Turns text into the model's input, keeping spans and unknown-token flags.

        Args:
            text: A sentence (sentiment) or space-separated token names (cue recall).

        Returns:
            An :class:`Encoded`.

        Raises:
            ValueError: when the text has no model tokens (empty, only punctuation/spaces),
                or, for cue recall, names a token the task does not have (the message lists
                the valid names).

        Example:
            >>> enc = p.encode("Я не люблю дождь!")  # doctest: +SKIP
            >>> enc.ids.shape, enc.truncated  # doctest: +SKIP
            (torch.Size([1, 4]), False)
        """
        tokens = self.tokenize(text, limit=MAX_TOKENS + 1)  # one more than kept: tells whether the text was cut
        if not tokens:
            raise ValueError(
                f"text {text[:40]!r} has no tokens the model can read; enter some words"
                if self.pipeline is not None
                else f"text {text[:40]!r} has no token names; allowed: {' '.join(self.token_names[1:])}"
            )
        truncated = len(tokens) > MAX_TOKENS
        tokens = tokens[:MAX_TOKENS]
        strings = [t.lemma for t in tokens]
        if self.vocab is not None:
            id_list = self.vocab.encode(strings)
            unknown = [self.vocab.is_unknown(s) for s in strings]
        else:
            from lstmviz import tasks

            id_list = tasks.encode_cue_tokens(strings, **self._cue_args)  # ValueError on unknown names
            unknown = [False] * len(strings)
        ids = torch.tensor([id_list], dtype=torch.long)  # (1, T)
        return Encoded(
            tokens=tokens,
            ids=ids,
            lengths=torch.tensor([ids.shape[1]], dtype=torch.long),
            unknown=unknown,
            truncated=truncated,
            text=text,
        )

    @torch.no_grad()
    def predict_proba(self, text: str | Encoded) -> torch.Tensor:
        """Class probabilities for one text.

        Args:
            text: Raw text, or an :class:`Encoded` from :meth:`encode`.

        Returns:
            FloatTensor (C,) summing to 1, in the order of ``self.labels``.

        Example:
            >>> p.predict_proba("Отличный фильм").shape  # doctest: +SKIP
            torch.Size([4])
        """
        enc = text if isinstance(text, Encoded) else self.encode(text)
        self.model.eval()
        logits = self.model(enc.ids, enc.lengths)  # (1, C)
        return torch.softmax(logits, dim=-1)[0]

    def predict(self, text: str | Encoded) -> str:
        """The most probable label for one text.

        Example:
            >>> p.predict("Отличный фильм")  # doctest: +SKIP
            'positive'
        """
        return self.labels[int(self.predict_proba(text).argmax())]


def load_predictor(directory: str | os.PathLike) -> Any:
    """The predictor a checkpoint's kind reads text through (:meth:`lstmviz.kinds.Kind.predictor`): a
    :class:`Predictor` for the shipped text classifiers, whatever a registered kind returns for its own.

    Raises:
        CheckpointError: naming the file, for any unreadable checkpoint or a kind that reads no text.

    Example:
        >>> load_predictor("checkpoints/sentiment-lstm").labels  # doctest: +SKIP
        ['mixed', 'negative', 'neutral', 'positive']
    """
    from lstmviz.kinds import kind_of

    model, meta = load_checkpoint(directory)
    try:
        return kind_of(model).predictor(model, meta)
    except ValueError as e:
        raise CheckpointError(f"{Path(directory) / 'meta.json'}: {e}") from e
