"""Character data for the language models: corpus text, a character vocabulary, splits and baselines.

The corpus sentences (read from the path the caller gives; never copied into the repository) are split
by sentence, 80/10/10 with a seeded shuffle, and joined with newlines into one character stream per
split. Bits per character of the unigram and bigram baselines (add-one smoothed, estimated on the
training stream) are what a recurrent model has to beat.
"""

from __future__ import annotations

import math
import os
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from lstmviz.datasets import load_opensentiment

__all__ = ["CharData", "bigram_bpc", "prepare_chars", "split_sentences", "stream_bpc", "unigram_bpc"]

SPECIALS = ("<pad>", "<unk>")


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


def _encode(text: str, index: dict[str, int]) -> torch.Tensor:
    return torch.tensor([index.get(c, 1) for c in text], dtype=torch.long)


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
    counts = Counter(streams["train"])
    chars = list(SPECIALS) + [c for c, k in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])) if k >= min_count]
    index = {c: i for i, c in enumerate(chars)}
    return CharData(
        chars=chars,
        train=_encode(streams["train"], index),
        val=_encode(streams["val"], index),
        test=_encode(streams["test"], index),
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


def unigram_bpc(train: torch.Tensor, test: torch.Tensor, vocab_size: int) -> float:
    """Bits per character of ``test`` under add-one-smoothed character frequencies of ``train``.

    Example:
        >>> round(unigram_bpc(torch.tensor([2, 2, 3]), torch.tensor([2]), 4), 3)
        1.222
    """
    counts = torch.bincount(train, minlength=vocab_size).double() + 1.0
    logp = torch.log2(counts / counts.sum())
    return float(-logp[test].mean())


def bigram_bpc(train: torch.Tensor, test: torch.Tensor, vocab_size: int) -> float:
    """Bits per character of ``test`` under add-one-smoothed character-pair frequencies of ``train``.

    Example:
        >>> bigram_bpc(torch.tensor([2, 3, 2, 3]), torch.tensor([2, 3]), 4) < 2.0
        True
    """
    pairs = torch.zeros(vocab_size, vocab_size, dtype=torch.float64)
    pairs.index_put_((train[:-1], train[1:]), torch.ones(train.numel() - 1, dtype=torch.float64), accumulate=True)
    pairs += 1.0
    logp = torch.log2(pairs / pairs.sum(1, keepdim=True))  # (V, V): row = previous character
    return float(-logp[test[:-1], test[1:]].mean())


def stream_bpc(model: Any, ids: torch.Tensor, window: int = 256) -> float:
    """Bits per character of a model on a stream, carrying the state across windows (eval, no grad).

    Example:
        >>> stream_bpc(model, data.test)  # doctest: +SKIP
        2.1
    """
    total, count, state = 0.0, 0, None
    with torch.no_grad():
        for start in range(0, ids.numel() - 1, window):
            x = ids[start : start + window].unsqueeze(0)  # (1, W)
            y = ids[start + 1 : start + window + 1]
            x = x[:, : y.numel()]
            if y.numel() == 0:
                break
            logits, state = model.step(x, state)
            total += float(torch.nn.functional.cross_entropy(logits[0], y, reduction="sum"))
            count += y.numel()
    return total / max(count, 1) / math.log(2)
