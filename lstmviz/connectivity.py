"""Connectivity: how strongly each output step depends on each input step, ‖∂ loss_t / ∂ x_s‖ (Distill 2019).

For a many-to-many model (a language model: one loss per step) the matrix ``C[t, s]`` is the norm of
the gradient of step t's loss with respect to the embedded input at step s. It is exact: the T losses
are differentiated in ONE batched backward (``torch.autograd.grad`` with ``is_grads_batched``: a vmap
over the T one-hot cotangents), not T Python-level backward passes. For a unidirectional model
``C[t, s] == 0`` for ``s > t`` (nothing flows back from the future); a bidirectional one sees both ways.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["connectivity"]


def connectivity(model: nn.Module, ids: torch.Tensor, targets: torch.Tensor | None = None) -> torch.Tensor:
    """``(T, T)`` matrix ``‖∂ loss_t / ∂ x_s‖₂`` for one sequence (rows: output step t, columns: input step s).

    Args:
        model: A model with ``embedding`` and ``forward_embedded(emb) -> logits (1, T, V)`` (e.g.
            :class:`lstmviz.charlm.CharLM`); never mutated (gradients go to the input only).
        ids: ``(T,)`` or ``(1, T)`` input ids.
        targets: ``(T,)`` the next ids; default: each step's own most likely output (a loss-free choice
            that needs no text beyond the input).

    Returns:
        A float tensor ``(T, T)`` on the CPU.

    Example:
        >>> C = connectivity(model, torch.tensor([2, 3, 4]))  # doctest: +SKIP
        >>> bool((C.triu(1) == 0).all())  # doctest: +SKIP
        True
    """
    ids = torch.as_tensor(ids).long().reshape(1, -1)  # (1, T)
    T = ids.shape[1]
    emb = model.embedding(ids).detach().requires_grad_(True)  # (1, T, E)
    with torch.enable_grad():
        logits = model.forward_embedded(emb)  # (1, T, V)
        tgt = logits.argmax(-1)[0] if targets is None else torch.as_tensor(targets).long().reshape(-1)
        if tgt.shape != (T,):
            raise ValueError(f"targets must have shape ({T},), got {tuple(tgt.shape)}")
        losses = F.cross_entropy(logits[0], tgt, reduction="none")  # (T,)
        # One batched backward: row t of the identity selects loss_t.
        (grads,) = torch.autograd.grad(losses, emb, grad_outputs=torch.eye(T, dtype=losses.dtype),
                                       is_grads_batched=True)  # (T, 1, T, E)  # fmt: skip
    return torch.linalg.vector_norm(grads[:, 0], dim=-1).detach()  # (T, T)
