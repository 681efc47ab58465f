"""The tagger kind (``model_kind="tagger"``): a part-of-speech and an entity tag for every word of a text.

The model is :class:`~lstmviz.tagger.Tagger` (data: :mod:`lstmviz.tagdata`, training: :mod:`lstmviz.tagtrainer`).
This module holds the rest of the kind: its tensors, its meta checks (vocabularies, and the held-out scores the
Word tagging view pivots: :func:`check_scores`), and the analysis of one text that view draws (:func:`analysis`).

Example:
    >>> from lstmviz.tagger import TaggerConfig
    >>> KIND.shapes(TaggerConfig(word_vocab_size=10, char_vocab_size=8))["char_conv.weight"][1:]
    (24, 3)
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import nn

from lstmviz.checkpoint import CheckpointError, shown
from lstmviz.kinds.base import Kind, TextInput, one_module_frames, rnn_shapes
from lstmviz.tagger import NER_TAGS, POS_TAGS, Tagger, TaggerConfig

__all__ = ["KIND", "TAGGER_SCORES", "TAGGER_TAG_SCORES", "TaggerKind", "analysis", "check_scores"]


class TaggerKind(Kind):
    """Word embedding + char Conv1d -> bidirectional RNN -> a part-of-speech and an entity head per word."""

    name = "tagger"
    config_cls = TaggerConfig
    model_cls = Tagger
    output = "tags"
    symbol_lists = {"words": "word_vocab_size", "chars": "char_vocab_size"}  # index = id

    def shapes(self, config: Any) -> dict[str, tuple[int, ...]]:
        """Both embeddings, the character convolution, the BiRNN and the two heads."""
        c, H = config, config.hidden_size
        return {
            "embedding.weight": (c.word_vocab_size, c.word_dim),
            "char_embedding.weight": (c.char_vocab_size, c.char_dim),
            "char_conv.weight": (c.char_channels, c.char_dim, c.char_kernel),
            "char_conv.bias": (c.char_channels,),
            **rnn_shapes(c.cell, c.input_size, H, c.num_layers, 2),
            "pos_head.weight": (len(POS_TAGS), 2 * H),
            "pos_head.bias": (len(POS_TAGS),),
            "ner_head.weight": (len(NER_TAGS), 2 * H),
            "ner_head.bias": (len(NER_TAGS),),
        }

    def check_fields(self, meta_path: str | os.PathLike, meta: Mapping[str, Any]) -> None:
        """The held-out scores are numbers where the view expects numbers (:func:`check_scores`)."""
        check_scores(meta_path, meta)

    def task(self, meta: Mapping[str, Any]) -> str:
        """Always ``tagger``."""
        return "tagger"

    def views(self, config: Any) -> frozenset[str]:
        """The Word tagging view."""
        return frozenset({"tagger"})

    def train_job(self) -> Any:
        """``python -m lstmviz.train tagger``: :mod:`lstmviz.cli.tagger`."""
        from lstmviz.cli import tagger as cli
        from lstmviz.cli.common import Job

        help = "kind: char-CNN + BiLSTM part-of-speech and entity tagger on silver labels"
        return Job(self.name, help, cli.add_tagger_arguments, cli.check_tagger, cli.run_tagger)

    def encode(self, model: nn.Module, meta: dict[str, Any], text: str) -> TextInput:
        """Word ids ``(1, T)`` and character ids ``(1, T, C)`` of the words and punctuation marks of ``text``.

        Example:
            >>> meta = {"words": ["<pad>", "<unk>", "мама"], "chars": ["<pad>", "<unk>", "м", "а"]}
            >>> enc = KIND.encode(None, meta, "Мама мыла")
            >>> enc.tokens, enc.inputs[0].tolist()
            (['Мама', 'мыла'], [[2, 1]])
        """
        from lstmviz.tagger import encode_words, indices, tokenize

        toks = tokenize(text)
        words, chars = encode_words([w for w, _, _ in toks], *indices(meta))
        return TextInput((words, chars), [text[s:e] for _, s, e in toks], [(s, e) for _, s, e in toks])

    def predict(self, model: nn.Module, encoded: TextInput) -> dict[str, Any]:
        """``pos`` ``(T, 17)`` and ``ner`` ``(T, 7)``: each word's tag distributions."""
        with torch.no_grad():
            pos, ner = model(*encoded.inputs)
        return {"pos": torch.softmax(pos[0], -1).numpy(), "ner": torch.softmax(ner[0], -1).numpy()}


KIND = TaggerKind()


def analysis(model: nn.Module, meta: dict[str, Any], text: str, max_words: int) -> dict[str, Any]:
    """The tagger on ``text``: a table of words and tags, tidy frames per (layer, direction, quantity), and the
    connectivity matrix of each head with its left / self / right shares.

    Example:
        >>> m = Tagger.seeded(TaggerConfig(word_vocab_size=4, char_vocab_size=4, hidden_size=3), 0).eval()
        >>> meta = {"words": ["<pad>", "<unk>", "мама", "мыла"], "chars": ["<pad>", "<unk>", "м", "а"]}
        >>> a = analysis(m, meta, "мама мыла", 10)
        >>> a["words"], a["num_layers"]
        (['мама', 'мыла'], 2)
    """
    import lstmviz
    from lstmviz.connectivity import connectivity, reach_shares
    from lstmviz.tagger import HEADS, tag_text

    r = tag_text(model, meta, text, max_words=max_words)
    if not r.words:
        return {"words": []}
    with torch.no_grad(), lstmviz.record(model) as rec:
        model(r.word_ids, r.char_ids)
    conn = {h: connectivity(model, (r.word_ids, r.char_ids), head=h).numpy() for h in HEADS}
    table = pd.DataFrame(
        {
            "word": r.words,
            "pos": r.pos,
            "p_pos": np.round(r.pos_p, 3),
            "ner": r.ner,
            "p_ner": np.round(r.ner_p, 3),
            "known": r.known,
        }
    )
    return {
        "words": r.words,
        "spans": r.spans,  # each word's (start, end) in the text: the Tagger view highlights its entities there
        "known": r.known,
        "table": table,
        "frames": one_module_frames(rec),
        "connectivity": conn,
        "shares": {h: reach_shares(m) for h, m in conn.items()},
        "cell": model.config.cell,
        "num_layers": model.config.num_layers,
        "test_metrics": meta.get("test_metrics", {}),
    }


# A tagger's held-out scores (meta "test_metrics", and its "baseline"): per tag set, score -> allowed type. The
# Word tagging view rounds and pivots them: a string score was a TypeError under its charts.
TAGGER_SCORES: dict[str, str] = {"accuracy": "number", "macro_f1": "number", "tokens": "count"}
TAGGER_TAG_SCORES: dict[str, str] = {"precision": "number", "recall": "number", "f1": "number", "support": "count"}
_SCORE_TYPES = {"number": "a finite number", "count": "an integer >= 0"}
_REQUIRED_SCORES = ("accuracy", "macro_f1", "per_tag")  # what the view reads of each tag set
_REQUIRED_TAG_SCORES = ("f1", "support")


def _score_ok(value: Any, kind: str) -> bool:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return False
    return value >= 0 and isinstance(value, int) if kind == "count" else math.isfinite(value)


def check_scores(path: str | os.PathLike, meta: Mapping[str, Any]) -> None:
    """A tagger's ``test_metrics`` (and its ``baseline`` and ``suffix_baseline``): for each tag set present
    (``pos``, ``ner``) an object with ``accuracy`` and ``macro_f1`` (finite numbers), ``tokens`` (an integer >= 0,
    optional) and ``per_tag``, an object of tag -> {``f1``, ``precision``, ``recall``: finite numbers; ``support``:
    an integer >= 0}. Other model kinds, and a tagger meta without ``test_metrics``, pass.

    Raises:
        CheckpointError: naming the file, the field (``test_metrics.pos.accuracy``), the stored value (shortened)
            and the allowed type.

    Example:
        >>> scores = {"accuracy": "1", "macro_f1": 0.9, "per_tag": {}}
        >>> try:
        ...     check_scores("meta.json", {"model_kind": "tagger", "test_metrics": {"pos": scores}})
        ... except CheckpointError as e:
        ...     print(e)
        meta.json: 'test_metrics.pos.accuracy' is a str ('1'); allowed: a finite number
    """
    if meta.get("model_kind") != "tagger" or "test_metrics" not in meta:
        return

    def refuse(field: str, value: Any, allowed: str) -> None:
        raise CheckpointError(f"{path}: '{field}' is a {type(value).__name__} ({shown(value)}); allowed: {allowed}")

    metrics = meta["test_metrics"]
    if not isinstance(metrics, Mapping):
        refuse("test_metrics", metrics, "an object of tag set -> scores")
    scopes = [("test_metrics", metrics)]
    for name in ("baseline", "suffix_baseline"):  # most frequent tag; unseen words by their ending (tagbaseline)
        if name in metrics:
            scopes.append((f"test_metrics.{name}", metrics[name]))
            if not isinstance(metrics[name], Mapping):
                refuse(f"test_metrics.{name}", metrics[name], "an object of tag set -> scores")
    for prefix, scope in scopes:
        for head in ("pos", "ner"):
            if head not in scope:
                continue
            where, scores = f"{prefix}.{head}", scope[head]
            if not isinstance(scores, Mapping):
                refuse(where, scores, "an object of scores (accuracy, macro_f1, per_tag)")
            for key in _REQUIRED_SCORES:
                if key not in scores:
                    raise CheckpointError(
                        f"{path}: '{where}' has no '{key}'; allowed: an object with {', '.join(_REQUIRED_SCORES)}"
                    )
            for key, kind in TAGGER_SCORES.items():
                if key in scores and not _score_ok(scores[key], kind):
                    refuse(f"{where}.{key}", scores[key], _SCORE_TYPES[kind])
            per_tag = scores["per_tag"]
            if not isinstance(per_tag, Mapping):
                refuse(f"{where}.per_tag", per_tag, "an object of tag -> scores (f1, support)")
            for tag, row in per_tag.items():
                here = f"{where}.per_tag[{shown(tag)}]"
                if not isinstance(row, Mapping):
                    refuse(here, row, "an object of scores (f1, support)")
                for key in _REQUIRED_TAG_SCORES:
                    if key not in row:
                        raise CheckpointError(f"{path}: '{here}' has no '{key}'; allowed: an object with f1, support")
                for key, kind in TAGGER_TAG_SCORES.items():
                    if key in row and not _score_ok(row[key], kind):
                        refuse(f"{here}.{key}", row[key], _SCORE_TYPES[kind])
