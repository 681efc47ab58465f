"""Character data for the language models: corpus text, a character vocabulary, splits and baselines.

The corpus sentences (read from the path the caller gives; never copied into the repository) are split
by sentence, 80/10/10 with a seeded shuffle, and joined with newlines into one character stream per
split. Bits per character of the unigram and bigram baselines (add-one smoothed, estimated on the
training stream: :func:`lstmviz.metrics.unigram_bpc`, :func:`lstmviz.metrics.bigram_bpc`) are what a recurrent
model has to beat.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from lstmviz.charlm import encode_chars
from lstmviz.datasets import load_opensentiment
from lstmviz.vocab import Vocab

__all__ = ["CharData", "prepare_chars", "split_sentences"]


@dataclass
class CharData:
    """Character streams of the three splits and the vocabulary (index = id)."""

    chars: list[str]
    train: torch.Tensor  # (N,) ids
    val: torch.Tensor
    test: torch.Tensor
    meta: dict[str, Any] = field(default_factory=dict)


def split_sentences(n: int, seed: int = 0) -> dict[str, list[int]]:
    """Indices of the ``train`` / ``val`` / ``test`` sentences: a seeded shuffle cut 80/10/10.

    Shared by the character models and the tagger, so both are scored on the same held-out sentences.

    Example:
        >>> {k: len(v) for k, v in split_sentences(10).items()}
        {'train': 8, 'val': 1, 'test': 1}
    """
    order = np.random.default_rng(seed).permutation(n).tolist()
    cut1, cut2 = int(0.8 * n), int(0.9 * n)
    return {"train": order[:cut1], "val": order[cut1:cut2], "test": order[cut2:]}


def prepare_chars(data: str | os.PathLike, seed: int = 0, min_count: int = 3) -> CharData:
    """Loads the corpus sentences and builds the character streams.

    Args:
        data: The corpus CSV or its folder.
        seed: Seed of the sentence shuffle before the 80/10/10 split.
        min_count: Characters seen fewer times in training become ``<unk>``.

    Example:
        >>> d = prepare_chars("../shared/data/opensentimentcorpus")  # doctest: +SKIP
        >>> len(d.chars), d.train.numel() > 500_000  # doctest: +SKIP
        (128, True)
    """
    texts = [str(t) for t in load_opensentiment(data)["text"]]
    parts = {k: [texts[i] for i in idx] for k, idx in split_sentences(len(texts), seed).items()}
    streams = {k: "\n".join(v) + "\n" for k, v in parts.items()}
    vocab = Vocab.build([iter(streams["train"])], min_freq=min_count)  # by frequency, ties by character
    return CharData(
        chars=vocab.tokens,
        train=encode_chars(streams["train"], vocab),
        val=encode_chars(streams["val"], vocab),
        test=encode_chars(streams["test"], vocab),
        meta={
            "dataset": {
                "path": str(data),
                "sentences": {k: len(v) for k, v in parts.items()},
                "characters": {k: len(v) for k, v in streams.items()},
                "split_seed": seed,
            },
            "min_count": min_count,
        },
    )
