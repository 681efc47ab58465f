"""The bag-of-words baseline: a linear model on token counts (multinomial logistic regression).

A recurrent model earns a claim about word order only when it beats this baseline on the same
split, vocabulary and loss. The model has the same call signature as
:class:`lstmviz.models.RecurrentClassifier` (``model(ids, lengths) -> logits``), so the same
trainer, evaluation and checkpoint code serve both:

    bag        nn.EmbeddingBag(vocab_size, num_classes, mode="sum", padding_idx=0)
               (= the count vector (B, V) times a weight matrix (V, C))
    bias       nn.Parameter (C,)

Checkpoints record ``model_kind="bow"``; :mod:`lstmviz.checkpoint` builds it from its fixed
registry of kinds.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch
from torch import nn

from lstmviz.kinds.base import KindConfig

__all__ = ["BowConfig", "BagOfWordsClassifier"]


@dataclass
class BowConfig(KindConfig):
    """Sizes of a :class:`BagOfWordsClassifier`; stored verbatim in a checkpoint.

    Example:
        >>> BowConfig.from_dict(BowConfig(vocab_size=10, num_classes=3).to_dict()).num_classes
        3
    """

    vocab_size: int = 2  # token ids incl. <pad>=0 (ignored) and <unk>=1
    num_classes: int = 2  # output classes
    # Fixed facts the trainer and the dashboard read off every model config (not fields).
    head: ClassVar[str] = "classify"
    cell: ClassVar[str] = "bow"

    def __post_init__(self) -> None:
        for name in ("vocab_size", "num_classes"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
                raise ValueError(f"{name}={value!r} is invalid; allowed: an integer > 0")


class BagOfWordsClassifier(nn.Module):
    """Logits = counts(ids) @ W + b, padding ignored; word order plays no part.

    Args:
        config: The sizes.

    Example:
        >>> m = BagOfWordsClassifier(BowConfig(vocab_size=6, num_classes=2))
        >>> a = m(torch.tensor([[2, 3, 0]]), torch.tensor([2]))
        >>> torch.allclose(a, m(torch.tensor([[3, 2, 0]]), torch.tensor([2])))  # order does not matter
        True
    """

    @classmethod
    def seeded(cls, config: BowConfig, seed: int) -> BagOfWordsClassifier:
        """A model initialised from a private generator (the global RNG is not used).

        Weights are U(-k, k) with k = 1/sqrt(vocab_size), like a linear layer on the count vector.
        """
        model = cls(config, _init=False)
        g = torch.Generator().manual_seed(int(seed))
        k = config.vocab_size**-0.5
        with torch.no_grad():
            model.bag.weight.copy_(torch.rand(model.bag.weight.shape, generator=g) * 2 * k - k)
            model.bag.weight[0].zero_()  # <pad> never counts
            model.bias.copy_(torch.rand(model.bias.shape, generator=g) * 2 * k - k)
        return model

    def __init__(self, config: BowConfig, _init: bool = True) -> None:
        super().__init__()
        if not isinstance(config, BowConfig):
            raise TypeError(f"config must be a BowConfig, got {type(config).__name__}")
        self.config = config
        if _init:
            self.bag = nn.EmbeddingBag(config.vocab_size, config.num_classes, mode="sum", padding_idx=0)
        else:  # the caller fills the weights: skip PyTorch's init, which draws from the global RNG
            with torch.device("meta"):
                self.bag = nn.EmbeddingBag(config.vocab_size, config.num_classes, mode="sum", padding_idx=0)
            self.bag.to_empty(device="cpu")
        self.bias = nn.Parameter(torch.zeros(config.num_classes))

    def forward(self, x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """Logits ``(B, C)`` from padded ids ``(B, T)`` (0 = padding; ``lengths`` only checked)."""
        if x.dim() != 2 or x.dtype not in (torch.long, torch.int32, torch.int64):
            raise ValueError(f"x must be an integer tensor of ids (B, T), got dtype {x.dtype} shape {tuple(x.shape)}")
        lengths = torch.as_tensor(lengths)
        if lengths.shape != (x.shape[0],):
            raise ValueError(f"lengths must have shape ({x.shape[0]},), got {tuple(lengths.shape)}")
        return self.bag(x.long()) + self.bias  # (B, C); padding_idx rows are skipped by the bag
