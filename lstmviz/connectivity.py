"""Connectivity: how strongly each output step depends on each input step, ‖∂ loss_t / ∂ x_s‖ (Distill 2019).

For a many-to-many model (a language model: one loss per step) the matrix ``C[t, s]`` is the norm of
the gradient of step t's loss with respect to the embedded input at step s. It is exact: the T losses
are differentiated in ONE batched backward (``torch.autograd.grad`` with ``is_grads_batched``: a vmap
over the T one-hot cotangents), not T Python-level backward passes. For a unidirectional model
``C[t, s] == 0`` for ``s > t`` (nothing flows back from the future); a bidirectional one (the tagger of
:mod:`lstmviz.tagger`, whose x_s is the word embedding plus the character convolution) sees both ways.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["connectivity", "reach_shares"]


def connectivity(
    model: nn.Module, inputs: Any, targets: torch.Tensor | None = None, head: str | None = None
) -> torch.Tensor:
    """``(T, T)`` matrix ``‖∂ loss_t / ∂ x_s‖₂`` for one sequence (rows: output step t, columns: input step s).

    Args:
        model: A model with ``forward_embedded(x) -> logits (1, T, V)`` and either ``embed(*inputs)`` (the
            tagger: word embedding + character convolution) or ``embedding`` (e.g.
            :class:`lstmviz.charlm.CharLM`); never mutated (gradients go to the input only). ``x_s`` is what
            the recurrent layers read at step s.
        inputs: ``(T,)`` or ``(1, T)`` input ids, or for a model with ``embed`` the tuple of its arguments
            (the tagger: word ids ``(1, T)`` and character ids ``(1, T, C)``).
        targets: ``(T,)`` the target ids; default: each step's own most likely output (a loss-free choice
            that needs no labels beyond the input).
        head: For a model with several outputs (the tagger: ``"pos"`` or ``"ner"``), which one's loss.

    Returns:
        A float tensor ``(T, T)`` on the CPU.

    Example:
        >>> C = connectivity(model, torch.tensor([2, 3, 4]))  # doctest: +SKIP
        >>> bool((C.triu(1) == 0).all())  # doctest: +SKIP
        True
    """
    if hasattr(model, "embed"):
        x = model.embed(*inputs)  # (1, T, E)
    else:
        x = model.embedding(torch.as_tensor(inputs).long().reshape(1, -1))  # (1, T, E)
    if x.shape[0] != 1:
        raise ValueError(f"connectivity takes one sequence; got a batch of {x.shape[0]}")
    T = x.shape[1]
    emb = x.detach().requires_grad_(True)  # (1, T, E)
    with torch.enable_grad():
        logits = model.forward_embedded(emb) if head is None else model.forward_embedded(emb, head=head)  # (1, T, V)
        tgt = logits.argmax(-1)[0] if targets is None else torch.as_tensor(targets).long().reshape(-1)
        if tgt.shape != (T,):
            raise ValueError(f"targets must have shape ({T},), got {tuple(tgt.shape)}")
        losses = F.cross_entropy(logits[0], tgt, reduction="none")  # (T,)
        # One batched backward: row t of the identity selects loss_t.
        (grads,) = torch.autograd.grad(
            losses, emb, grad_outputs=torch.eye(T, dtype=losses.dtype), is_grads_batched=True
        )  # (T, 1, T, E)
    return torch.linalg.vector_norm(grads[:, 0], dim=-1).detach()  # (T, T)


def reach_shares(matrix: torch.Tensor | Any) -> dict[str, float]:
    """Shares of the connectivity mass that come from earlier steps, the step itself and later steps.

    A unidirectional model has ``later == 0``; a bidirectional tagger shows how much it looks right.

    Example:
        >>> reach_shares(torch.tensor([[1.0, 0.0], [1.0, 2.0]]))
        {'earlier': 0.25, 'same': 0.75, 'later': 0.0}
    """
    m = torch.as_tensor(matrix, dtype=torch.float64)
    total = float(m.sum()) or 1.0
    return {
        "earlier": float(m.tril(-1).sum()) / total,
        "same": float(m.diagonal().sum()) / total,
        "later": float(m.triu(1).sum()) / total,
    }
