"""The text and sequence classifier kind (``model_kind="recurrent"``): one class (or one real value) per sequence.

:class:`~lstmviz.models.RecurrentClassifier` reads token ids (sentiment, cue recall) or real-valued steps (the
adding problem) through one ``nn.RNN/GRU/LSTM`` into a head on its last state. A text classifier opens in the
Gates, Gradients, Comparison and Corpus views through its :class:`~lstmviz.pipeline.Predictor` (tokens with spans,
ids, labels); the loss those views differentiate is the cross-entropy of its logits against a chosen class
(:func:`lstmviz.sentence.analyze_ids`). Data: :mod:`lstmviz.taskdata`; training: :mod:`lstmviz.trainer`.

Example:
    >>> from lstmviz.models import ModelConfig
    >>> KIND.shapes(ModelConfig(cell="gru", vocab_size=5, embed_dim=2, hidden_size=3))["rnn.weight_hh_l0"]
    (9, 3)
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from torch import nn

from lstmviz.kinds.base import Kind, TextInput, rnn_shapes
from lstmviz.models import ModelConfig, RecurrentClassifier

__all__ = ["KIND", "ClassifierKind"]

_TEXT_VIEWS = frozenset({"gates", "gradients", "compare", "corpus", "training"})


class ClassifierKind(Kind):
    """Recurrent classifiers (and regressors, ``head="regress"``): embedding -> RNN -> head."""

    name = "recurrent"
    config_cls = ModelConfig
    model_cls = RecurrentClassifier
    output = "classify"

    def shapes(self, config: Any) -> dict[str, tuple[int, ...]]:
        """Embedding (classify only), the RNN's stacked weights, and the head on the top layer's last state."""
        H, D = config.hidden_size, config.directions
        shapes: dict[str, tuple[int, ...]] = {}
        if config.head == "classify":
            shapes["embedding.weight"] = (config.vocab_size, config.embed_dim)
        first = config.embed_dim if config.head == "classify" else config.input_dim
        shapes.update(rnn_shapes(config.cell, first, H, config.num_layers, D))
        out = config.num_classes if config.head == "classify" else 1
        shapes["head.weight"] = (out, D * H)
        shapes["head.bias"] = (out,)
        return shapes

    def check_meta(self, meta_path: str | os.PathLike, meta: Mapping[str, Any], config: Any) -> None:
        """A classifier's stored vocabulary and labels are as many as its config's vocab_size and num_classes."""
        super().check_meta(meta_path, meta, config)
        if getattr(config, "head", "classify") != "classify":
            return
        n_vocab = _vocab_size(meta_path, meta.get("vocab"))
        if n_vocab is not None and n_vocab != config.vocab_size:
            raise ValueError(
                f"{meta_path}: the vocabulary has {n_vocab} entries but config vocab_size={config.vocab_size}"
            )
        labels = meta.get("labels")
        if labels is not None and len(labels) != config.num_classes:
            raise ValueError(f"{meta_path}: {len(labels)} labels but config num_classes={config.num_classes}")

    def task(self, meta: Mapping[str, Any]) -> str:
        """``sentiment`` (the default of checkpoints before tasks were stored), ``cue_recall`` or ``adding``."""
        return str(meta.get("task", "sentiment"))

    def views(self, config: Any) -> frozenset[str]:
        """Every text view for a classifier of text; a regressor of real-valued steps reads no text."""
        return _TEXT_VIEWS if getattr(config, "head", "classify") == "classify" else frozenset({"training"})

    def train_job(self) -> Any:
        """``python -m lstmviz.train recurrent`` (alias ``classifier``): :mod:`lstmviz.cli.classifier`."""
        from lstmviz.cli import classifier as cli
        from lstmviz.cli.common import Job

        return Job(
            self.name,
            "kind: recurrent classifier (rnn/gru/lstm) on sentiment, cue_recall or adding",
            cli.add_recurrent_arguments,
            cli.check_recurrent,
            cli.run_recurrent,
            aliases=("classifier",),
        )

    def predictor(self, model: nn.Module, meta: dict[str, Any]) -> Any:
        """A :class:`lstmviz.pipeline.Predictor` (ValueError for a regressor: it takes no text)."""
        from lstmviz.pipeline import Predictor

        return Predictor(model, meta)

    def encode(self, model: nn.Module, meta: dict[str, Any], text: str) -> TextInput:
        """Ids ``(1, T)`` and lengths ``(1,)`` through the checkpoint's own pipeline and vocabulary (as trained).

        Example:
            >>> from lstmviz.models import ModelConfig, RecurrentClassifier
            >>> from lstmviz.text import TextPipeline
            >>> from lstmviz.vocab import Vocab
            >>> v = Vocab.build([["дождь"]])
            >>> m = RecurrentClassifier(ModelConfig(vocab_size=len(v)))
            >>> enc = KIND.encode(m, {"vocab": v.to_dict(), "pipeline": TextPipeline().to_dict()}, "Дождь идёт")
            >>> enc.tokens, enc.spans, enc.inputs[0].tolist()
            (['Дождь', 'идёт'], [(0, 5), (6, 10)], [[2, 1]])
        """
        enc = self.predictor(model, meta).encode(text)
        return TextInput((enc.ids, enc.lengths), [t.text for t in enc.tokens], [(t.start, t.end) for t in enc.tokens])


def _vocab_size(meta_path: str | os.PathLike, vocab: Any) -> int | None:
    """Number of entries of a stored vocabulary (None when there is none); ValueError when it is invalid."""
    if vocab is None:
        return None
    from lstmviz.vocab import Vocab

    try:
        return len(Vocab.from_dict(vocab))
    except (TypeError, ValueError, KeyError) as e:
        raise ValueError(f"{meta_path}: the stored vocabulary is invalid: {e}") from e


KIND = ClassifierKind()
