"""Linear baselines on fixed pretrained word vectors without word order: the mean of the vectors, and counts + mean.

A recurrent model with frozen navec vectors reads the same vectors as these baselines; what it adds is the order of
the words. It earns that claim only where it beats a linear model on the *mean* of the same vectors (and on the
counts concatenated with that mean). Same call signature as :class:`lstmviz.models.RecurrentClassifier`
(``model(ids, lengths) -> logits``), so the same trainer and evaluation serve it:

    embedding  nn.EmbeddingBag(vocab_size, embed_dim, mode="mean", padding_idx=0), frozen
               (the vectors of lstmviz.pretrained.load_vectors, set by lstmviz.pretrained.apply_embedding)
               -> the mean of the sentence's token vectors (B, D), padding excluded
    linear     (C, D) weight: logits = mean @ W.T + b
    bag        counts=True only: nn.EmbeddingBag(vocab_size, num_classes, mode="sum", padding_idx=0), the
               bag-of-words term of :class:`lstmviz.bow.BagOfWordsClassifier` (= [counts, mean] @ one weight matrix)
    bias       nn.Parameter (C,)

Only the linear weights, the bag and the bias train; the vectors stay fixed (``requires_grad`` False, so AdamW
neither moves nor decays them). The model has no dropout and draws no random numbers while training.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch
from torch import nn

from lstmviz.kinds.base import KindConfig

__all__ = ["MeanVecConfig", "MeanVectorClassifier"]


@dataclass
class MeanVecConfig(KindConfig):
    """Sizes of a :class:`MeanVectorClassifier`.

    Example:
        >>> MeanVecConfig.from_dict(MeanVecConfig(vocab_size=10, embed_dim=4, counts=True).to_dict()).counts
        True
    """

    vocab_size: int = 2  # token ids incl. <pad>=0 (excluded from the mean) and <unk>=1
    num_classes: int = 2  # output classes
    embed_dim: int = 300  # width of the fixed vectors (navec: 300)
    counts: bool = False  # also a linear term on the token counts: "bag of words + vectors"
    # Fixed facts the trainer reads off every model config (not fields).
    head: ClassVar[str] = "classify"
    cell: ClassVar[str] = "meanvec"

    def __post_init__(self) -> None:
        for name in ("vocab_size", "num_classes", "embed_dim"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
                raise ValueError(f"{name}={value!r} is invalid; allowed: an integer > 0")
        if not isinstance(self.counts, bool):
            raise ValueError(f"counts={self.counts!r} is invalid; allowed: True or False")


class MeanVectorClassifier(nn.Module):
    """Logits = mean(vectors of the tokens) @ W.T (+ counts @ V) + b; word order plays no part.

    Args:
        config: The sizes.

    Example:
        >>> m = MeanVectorClassifier.seeded(MeanVecConfig(vocab_size=6, num_classes=2, embed_dim=3), seed=0)
        >>> a = m(torch.tensor([[2, 3, 0]]), torch.tensor([2]))
        >>> torch.equal(a, m(torch.tensor([[3, 2, 0, 0]]), torch.tensor([2])))  # order and padding do not matter
        True
    """

    @classmethod
    def seeded(cls, config: MeanVecConfig, seed: int) -> MeanVectorClassifier:
        """A model initialised from a private generator (the global RNG is not used); the vectors start at 0.

        The trained weights are U(-k, k) with k = 1/sqrt(embed_dim (+ vocab_size with counts)), like one linear
        layer on the features; drawn in the order linear weight, bag (counts only), bias. Set the vectors with
        :func:`lstmviz.pretrained.apply_embedding` before training.

        Example:
            >>> cfg = MeanVecConfig(vocab_size=5, embed_dim=2, counts=True)
            >>> torch.equal(MeanVectorClassifier.seeded(cfg, 3).linear, MeanVectorClassifier.seeded(cfg, 3).linear)
            True
        """
        model = cls(config, _init=False)
        g = torch.Generator().manual_seed(int(seed))
        k = (config.embed_dim + (config.vocab_size if config.counts else 0)) ** -0.5
        with torch.no_grad():
            model.embedding.weight.zero_()
            model.linear.copy_(torch.rand(model.linear.shape, generator=g) * 2 * k - k)
            if model.bag is not None:
                model.bag.weight.copy_(torch.rand(model.bag.weight.shape, generator=g) * 2 * k - k)
                model.bag.weight[0].zero_()  # <pad> never counts
            model.bias.copy_(torch.rand(model.bias.shape, generator=g) * 2 * k - k)
        return model

    def __init__(self, config: MeanVecConfig, _init: bool = True) -> None:
        super().__init__()
        if not isinstance(config, MeanVecConfig):
            raise TypeError(f"config must be a MeanVecConfig, got {type(config).__name__}")
        self.config = config
        v, c, d = config.vocab_size, config.num_classes, config.embed_dim
        # _init=False: the caller fills the weights, so skip PyTorch's init (it draws from the global RNG).
        with torch.device("cpu" if _init else "meta"):
            self.embedding = nn.EmbeddingBag(v, d, mode="mean", padding_idx=0)
            self.bag = nn.EmbeddingBag(v, c, mode="sum", padding_idx=0) if config.counts else None
        if not _init:
            self.embedding.to_empty(device="cpu")
            if self.bag is not None:
                self.bag.to_empty(device="cpu")
        self.embedding.weight.requires_grad_(False)  # fixed vectors: no gradient, no weight decay
        self.linear = nn.Parameter(torch.zeros(c, d))
        self.bias = nn.Parameter(torch.zeros(c))

    def forward(self, x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """Logits ``(B, C)`` from padded ids ``(B, T)`` (0 = padding; ``lengths`` only checked).

        A row of padding only has the mean 0 (then only the bias speaks).
        """
        if x.dim() != 2 or x.dtype not in (torch.long, torch.int32, torch.int64):
            raise ValueError(f"x must be an integer tensor of ids (B, T), got dtype {x.dtype} shape {tuple(x.shape)}")
        lengths = torch.as_tensor(lengths)
        if lengths.shape != (x.shape[0],):
            raise ValueError(f"lengths must have shape ({x.shape[0]},), got {tuple(lengths.shape)}")
        ids = x.long()
        out = self.embedding(ids) @ self.linear.T + self.bias  # (B, D) @ (D, C): padding rows left out of the mean
        if self.bag is not None:
            out = out + self.bag(ids)
        return out
