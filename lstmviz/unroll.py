"""Recompute what a fused recurrent kernel hides: gates, cell states and gradients through time.

PyTorch's fused ``nn.LSTM``/``nn.GRU``/``nn.RNN`` kernels return only the hidden
states. Everything else is recomputed here from the module's own weights with the
equations of the PyTorch documentation, for ONE layer and ONE direction at a time:

* gates come from one batched matmul over every step, because the layer's input
  ``x_t`` and its previous hidden state ``h_{t-1}`` (its own output shifted by one
  step) are both known;
* the LSTM cell state is an elementwise linear recurrence ``c_t = f_t c_{t-1} + i_t g_t``;
* the total derivatives dL/dh_t and dL/dc_t come from a hand-written reverse
  recurrence seeded with the *direct* gradients that autograd delivered to the
  layer's outputs (captured by tensor hooks), so no second autograd graph is built.

Every function works in "forward-normalised" time-major layout: tensors are
``(T, B, ...)`` and time runs forward. The reverse direction of a bidirectional
layer is handled by the caller flipping each sequence within its length first.
Tests prove all of it against an independent unrolled float64 reference.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = ["LayerWeights", "LayerTrace", "forward_quantities", "grads_through_time", "flip_within_lengths"]


@dataclass
class LayerWeights:
    """Weights of one layer and direction, as used by the fused kernel.

    Attributes:
        w_ih: input weights ``(G*H, I)`` with G = 4 (LSTM), 3 (GRU), 1 (RNN).
        w_hh: recurrent weights ``(G*H, P)``; P = proj_size or H.
        b_ih: input bias ``(G*H,)`` or None when ``bias=False``.
        b_hh: recurrent bias ``(G*H,)`` or None.
        w_hr: LSTM projection ``(P, H)`` or None.
        nonlinearity: ``"tanh"`` or ``"relu"`` (RNN only).
    """

    w_ih: Tensor
    w_hh: Tensor
    b_ih: Tensor | None = None
    b_hh: Tensor | None = None
    w_hr: Tensor | None = None
    nonlinearity: str = "tanh"


@dataclass
class LayerTrace:
    """What one layer and direction computed, forward-normalised, time-major.

    Attributes:
        cell: ``"lstm"``, ``"gru"`` or ``"rnn"``.
        quantities: quantity name -> ``(T, B, units)`` tensor.
        backward: tensors the reverse recurrence needs (empty unless grads were asked for).
    """

    cell: str
    quantities: dict[str, Tensor]
    backward: dict[str, Tensor] = field(default_factory=dict)


def flip_within_lengths(x: Tensor, lengths: Tensor | None) -> Tensor:
    """Reverse each sequence of a time-major tensor within its own length.

    Steps past a sequence's length stay where they are, so applying the function
    twice gives back the input.

    Args:
        x: ``(T, B, ...)`` tensor.
        lengths: ``(B,)`` lengths, or None when every sequence has length T.

    Returns:
        Tensor of the same shape.

    Example:
        >>> flip_within_lengths(torch.arange(3.).view(3, 1), torch.tensor([2]))[:, 0]
        tensor([1., 0., 2.])
    """
    T = x.shape[0]
    if lengths is None or bool((lengths == T).all()):
        return x.flip(0)
    t = torch.arange(T, device=x.device).unsqueeze(1)  # (T, 1)
    L = lengths.to(x.device).unsqueeze(0)  # (1, B)
    idx = torch.where(t < L, L - 1 - t, t)  # (T, B)
    idx = idx.view(T, -1, *([1] * (x.dim() - 2))).expand_as(x)
    return x.gather(0, idx)


def forward_quantities(
    cell: str,
    x: Tensor,
    y: Tensor,
    h0: Tensor,
    c0: Tensor | None,
    w: LayerWeights,
    keep_backward: bool,
) -> LayerTrace:
    """Recompute gates and states of one layer/direction from its input and output.

    Args:
        cell: ``"lstm"``, ``"gru"`` or ``"rnn"``.
        x: layer input ``(T, B, I)`` exactly as the kernel received it.
        y: layer output ``(T, B, P)``: the hidden states h_t the kernel returned.
        h0: initial hidden state ``(B, P)``.
        c0: initial LSTM cell state ``(B, H)``, None otherwise.
        w: the layer's weights.
        keep_backward: also keep what :func:`grads_through_time` needs.

    Returns:
        A :class:`LayerTrace`; ``hidden`` is ``y`` itself (the kernel's exact output).

    Example:
        >>> m = torch.nn.GRU(2, 3)
        >>> x = torch.randn(4, 1, 2); y, _ = m(x)
        >>> w = LayerWeights(m.weight_ih_l0, m.weight_hh_l0, m.bias_ih_l0, m.bias_hh_l0)
        >>> forward_quantities("gru", x, y.detach(), torch.zeros(1, 3), None, w, False).quantities["update"].shape
        torch.Size([4, 1, 3])
    """
    hprev = torch.cat((h0.unsqueeze(0), y[:-1]), 0)  # (T, B, P): h_{t-1}
    if cell == "lstm":
        return _lstm(x, y, hprev, c0, w, keep_backward)
    if cell == "gru":
        return _gru(x, y, hprev, w, keep_backward)
    if cell == "rnn":
        back = {}
        if keep_backward:
            # d h_t / d a_t: tanh' = 1 - h^2, relu' = 1[h > 0]
            back["K"] = (y > 0).to(y.dtype) if w.nonlinearity == "relu" else 1 - y * y  # (T, B, H)
            back["w_hh"] = w.w_hh
        return LayerTrace("rnn", {"hidden": y}, back)
    raise ValueError(f"unknown cell type {cell!r}; expected 'lstm', 'gru' or 'rnn'")


def _lstm(x: Tensor, y: Tensor, hprev: Tensor, c0: Tensor, w: LayerWeights, keep: bool) -> LayerTrace:
    a = F.linear(x, w.w_ih, w.b_ih)  # (T, B, 4H)
    a += F.linear(hprev, w.w_hh, w.b_hh)
    ai, af, ag, ao = a.chunk(4, -1)
    i, f, o = torch.sigmoid(ai), torch.sigmoid(af), torch.sigmoid(ao)
    g = torch.tanh(ag)
    ig = i * g  # (T, B, H)
    c = torch.empty_like(ig)
    prev = c0
    for t in range(c.shape[0]):  # elementwise only: cheap even for long T
        prev = torch.addcmul(ig[t], f[t], prev, out=c[t])
    q = {"input": i, "forget": f, "cell_candidate": g, "output": o, "cell": c, "hidden": y}
    back = {}
    if keep:
        tc = torch.tanh(c)
        cprev = torch.cat((c0.unsqueeze(0), c[:-1]), 0)
        # da = (dc, dc, dc, dm) * K, with m = o * tanh(c) the unprojected hidden state
        back["K"] = torch.cat((g * i * (1 - i), cprev * f * (1 - f), i * (1 - g * g), tc * o * (1 - o)), -1)
        back["A"] = o * (1 - tc * tc)  # dc_t += dm_t * A_t
        back["f"] = f
        back["w_hh"] = w.w_hh
        if w.w_hr is not None:
            back["w_hr"] = w.w_hr
    return LayerTrace("lstm", q, back)


def _gru(x: Tensor, y: Tensor, hprev: Tensor, w: LayerWeights, keep: bool) -> LayerTrace:
    ai = F.linear(x, w.w_ih, w.b_ih)  # (T, B, 3H)
    ah = F.linear(hprev, w.w_hh, w.b_hh)  # (T, B, 3H)
    ir, iz, in_ = ai.chunk(3, -1)
    hr, hz, hn = ah.chunk(3, -1)
    r = torch.sigmoid(ir + hr)
    z = torch.sigmoid(iz + hz)
    n = torch.tanh(torch.addcmul(in_, r, hn))
    back = {}
    if keep:
        kn = (1 - z) * (1 - n * n)  # d h_t / d(pre-activation of n)
        # gradient w.r.t. ah = W_hh h_{t-1} + b_hh is dh_t * K (r, z, n blocks)
        back["K"] = torch.cat((kn * hn * r * (1 - r), (hprev - n) * z * (1 - z), kn * r), -1)
        back["z"] = z
        back["w_hh"] = w.w_hh
    return LayerTrace("gru", {"reset": r, "update": z, "new": n, "hidden": y}, back)


def grads_through_time(
    trace: LayerTrace,
    direct_h: Tensor,
    direct_c: Tensor | None,
) -> dict[str, Tensor]:
    """Total derivatives dL/dh_t (and dL/dc_t) by a reverse recurrence.

    Args:
        trace: the forward trace, recorded with ``keep_backward=True``.
        direct_h: ``(T, B, P)`` gradient that reached each h_t from outside the
            recurrence (the next layer, the module output, and dL/dh_n added at each
            sequence's last step). Zero past a sequence's length.
        direct_c: ``(T, B, H)`` likewise for the LSTM cell state (dL/dc_n at the last
            step), or None when nothing reached c_n.

    Returns:
        ``{"grad_hidden": (T, B, P)}`` plus ``"grad_cell": (T, B, H)`` for LSTM.

    Example:
        >>> # see tests/test_reference.py for a full proof against autograd
    """
    b = trace.backward
    if not b:
        raise RuntimeError("internal: trace was recorded without keep_backward")
    T, B = direct_h.shape[:2]
    w_hh = b["w_hh"]
    dh_all = torch.empty_like(direct_h)
    carry = torch.zeros_like(direct_h[0])  # recurrent part of dL/dh_t, from step t+1
    if trace.cell == "rnn":
        K = b["K"]
        for t in range(T - 1, -1, -1):
            dh = torch.add(direct_h[t], carry, out=dh_all[t])
            carry = (dh * K[t]) @ w_hh  # (B, H) @ (H, H)
        return {"grad_hidden": dh_all}
    if trace.cell == "gru":
        K, z = b["K"], b["z"]
        for t in range(T - 1, -1, -1):
            dh = torch.add(direct_h[t], carry, out=dh_all[t])
            dah = torch.cat((dh, dh, dh), -1).mul_(K[t])  # (B, 3H)
            carry = torch.addmm(dh * z[t], dah, w_hh)  # (B, 3H) @ (3H, H)
        return {"grad_hidden": dh_all}
    # LSTM, possibly with projection h = W_hr m, m = o * tanh(c)
    K, A, f = b["K"], b["A"], b["f"]
    w_hr = b.get("w_hr")
    dc_all = torch.empty_like(A)
    carry_c = torch.zeros_like(A[0])  # dL/dc_{t+1} * f_{t+1}
    for t in range(T - 1, -1, -1):
        dh = torch.add(direct_h[t], carry, out=dh_all[t])
        dm = dh if w_hr is None else dh @ w_hr  # (B, H)
        if direct_c is not None:
            carry_c = carry_c + direct_c[t]
        dc = torch.addcmul(carry_c, dm, A[t], out=dc_all[t])
        da = torch.cat((dc, dc, dc, dm), -1).mul_(K[t])  # (B, 4H)
        carry = da @ w_hh  # (B, 4H) @ (4H, P)
        carry_c = dc * f[t]
    return {"grad_hidden": dh_all, "grad_cell": dc_all}
