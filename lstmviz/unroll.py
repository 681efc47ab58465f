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

import functools
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = [
    "LayerWeights",
    "LayerTrace",
    "forward_quantities",
    "grads_through_time",
    "flip_within_lengths",
    "linear_scan",
    "lstm_grads_from_recurrent",
    "run_layer",
    "run_layer_packed",
    "run_layer_packed_autograd",
]

# Below this many elements per step, a log-depth scan (a few dozen whole-tensor ops)
# beats a Python loop of T tiny ops; above it the loop's per-step work dominates.
SCAN_MAX_STEP_ELEMENTS = 2048


def linear_scan(a: Tensor, b: Tensor, x0: Tensor | None, reverse: bool = False) -> Tensor:
    """Solve the elementwise linear recurrence ``x_t = a_t * x_{t-1} + b_t``.

    Small problems use a Hillis-Steele parallel prefix over the affine maps
    ``x -> a x + b`` (log2(T) rounds of whole-tensor ops; only products and sums,
    so nothing overflows); large ones a plain loop over t.

    Args:
        a: ``(T, ...)`` multipliers.
        b: ``(T, ...)`` offsets.
        x0: the state before the first step (``x_{-1}``), or None for zero.
        reverse: run from t = T-1 down to 0 (``x_t = a_t x_{t+1} + b_t``, ``x_T = x0``).

    Returns:
        ``(T, ...)`` tensor of the states x_t.

    Example:
        >>> linear_scan(torch.full((3, 1), 0.5), torch.ones(3, 1), None)[:, 0]
        tensor([1.0000, 1.5000, 1.7500])
    """
    if reverse:
        return linear_scan(a.flip(0), b.flip(0), x0).flip(0)
    T = a.shape[0]
    if T == 0:
        return b.clone()
    if a[0].numel() > SCAN_MAX_STEP_ELEMENTS:
        out = torch.empty_like(b)
        prev = x0 if x0 is not None else torch.zeros_like(b[0])
        for t in range(T):
            prev = torch.addcmul(b[t], a[t], prev, out=out[t])
        return out
    if x0 is not None:
        b = torch.cat((torch.addcmul(b[:1], a[:1], x0.unsqueeze(0)), b[1:]))
    d = 1
    while d < T:  # after the round with stride d, b_t composes the maps of steps t-2d+1..t
        b = torch.cat((b[:d], torch.addcmul(b[d:], a[d:], b[:-d])))
        a = torch.cat((a[:d], a[d:] * a[:-d]))
        d *= 2
    return b


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
    c = linear_scan(f, i * g, c0)  # (T, B, H): c_t = f_t c_{t-1} + i_t g_t
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


def lstm_grads_from_recurrent(
    trace: LayerTrace,
    direct_h: Tensor,
    direct_c: Tensor | None,
    recurrent: Tensor,
) -> dict[str, Tensor]:
    """LSTM dL/dh_t and dL/dc_t when the fused backward already gave W_hh^T dL/da_t.

    The recorder can feed each fused LSTM layer extra all-zero input channels whose
    input weight is W_hh. Autograd's gradient for those channels at step t is
    ``W_hh^T dL/da_t``: exactly what step t sends back to h_{t-1}. Then
    ``dL/dh_t = direct_t + recurrent_{t+1}`` is one shift-and-add, and dL/dc_t is
    an elementwise linear recurrence solved by :func:`linear_scan`.

    Args:
        trace: the forward trace (``keep_backward=True``).
        direct_h: ``(T, B, P)`` gradient reaching h_t from outside the recurrence.
        direct_c: ``(T, B, H)`` gradient reaching c_t from outside (dL/dc_n), or None.
        recurrent: ``(T, B, P)`` gradient of the zero channels, ``W_hh^T dL/da_t``.

    Returns:
        ``{"grad_hidden": (T, B, P), "grad_cell": (T, B, H)}``.
    """
    b = trace.backward
    dh = direct_h.clone()
    dh[:-1] += recurrent[1:]
    w_hr = b.get("w_hr")
    dm = dh if w_hr is None else dh @ w_hr  # (T, B, H)
    off = dm * b["A"]
    if direct_c is not None:
        off += direct_c
    f_next = torch.cat((b["f"][1:], torch.zeros_like(b["f"][:1])))  # f_{t+1}; nothing after the end
    return {"grad_hidden": dh, "grad_cell": linear_scan(f_next, off, None, reverse=True)}


def _ifog(w_hh: Tensor) -> Tensor:
    """Row order i, f, o, g of an LSTM's stacked gate weights (PyTorch stacks i, f, g, o).

    The step loops take one sigmoid over the three sigmoid gates and a tanh over a contiguous candidate block:
    ``torch.tanh`` on a strided slice runs ~3x slower than on contiguous memory (measured on CPU, torch 2.13),
    and it is one of the dearest ops of a step.
    """
    H = w_hh.shape[0] // 4
    return torch.cat((torch.arange(2 * H), torch.arange(3 * H, 4 * H), torch.arange(2 * H, 3 * H))).to(w_hh.device)


def run_layer(
    cell: str, x: Tensor, h0: Tensor, c0: Tensor | None, w: LayerWeights
) -> tuple[LayerTrace, Tensor, Tensor | None]:
    """Run one LSTM/GRU layer and direction step by step, keeping every gate (no autograd).

    Used instead of "fused kernel, then recompute" when no gradient is needed and the
    per-step work is large: the gates fall out of the forward itself, so the whole
    recording costs about one forward. Outputs equal the fused kernel's up to
    floating-point rounding (tested to 1e-10 in float64, 1e-5 in float32).

    Args:
        cell: ``"lstm"`` or ``"gru"``.
        x: ``(T, B, I)`` layer input, forward-normalised.
        h0: ``(B, P)`` initial hidden state; c0: ``(B, H)`` LSTM cell state or None.
        w: the layer's weights.

    Returns:
        (trace, h_T, c_T): the :class:`LayerTrace` (``hidden`` is the output sequence)
        and the final states.
    """
    if cell not in ("lstm", "gru"):
        raise ValueError(f"run_layer supports 'lstm' and 'gru', got {cell!r}")
    T, B = x.shape[:2]
    # time-major (T, B, I) is the packed layout of T steps of B rows each: one loop serves both
    q, h, c = run_layer_packed(cell, x.reshape(T * B, x.shape[-1]), [B] * T, h0, c0, w)
    return LayerTrace(cell, {k: v.view(T, B, -1) for k, v in q.items()}), h, c


def _loop_weights(cell: str, w: LayerWeights) -> tuple[Tensor, Tensor, Tensor | None, Tensor | None]:
    """``(w_ih, w_hh, b_ih, b_hh)`` for the step loops: an LSTM's gate rows reordered i, f, o, g (:func:`_ifog`)."""
    if cell != "lstm":
        return w.w_ih, w.w_hh, w.b_ih, w.b_hh
    order = _ifog(w.w_hh)
    pick = lambda t: t[order] if t is not None else None  # noqa: E731
    return w.w_ih[order], w.w_hh[order], pick(w.b_ih), pick(w.b_hh)


def _last_rows(batch_sizes: list[int]) -> Tensor:
    """(B,) packed row of each sorted row's last step: sorted row j last runs at step len_j - 1, packed row
    offset(len_j - 1) + j."""
    bs = torch.as_tensor(batch_sizes)
    B = batch_sizes[0]
    return (torch.cumsum(bs, 0) - bs)[(bs.unsqueeze(0) > torch.arange(B).unsqueeze(1)).sum(1) - 1] + torch.arange(B)


@torch.no_grad()  # a recording without gradients: out= buffers, in-place steps
def run_layer_packed(
    cell: str,
    x: Tensor,
    batch_sizes: list[int],
    h0: Tensor,
    c0: Tensor | None,
    w: LayerWeights,
    reverse: bool = False,
    sentinel: bool = False,
) -> tuple[dict[str, Tensor], Tensor, Tensor | None]:
    """Run one layer and direction over the rows of packed input step by step, keeping every gate (no autograd).

    The packed fused kernel is itself a loop over steps that runs only the rows still running; this loop does
    the same work and keeps the gates it computes, so packed input needs no padded recomputation afterwards.
    Everything stays in the packed layout: step t's rows are one contiguous block (``split`` gives every step's
    view in one call), the next step reads its state as a view of this step's output (no copy), and rows that
    start late (reverse direction) join from ``h0``. Outputs equal the fused kernel's up to floating-point
    rounding (tests/test_packed_loop.py).

    Args:
        cell: ``"lstm"``, ``"gru"`` or ``"rnn"`` (``w.nonlinearity`` tells tanh from relu).
        x: ``(N, I)`` packed layer input (``PackedSequence.data``: rows sorted by length, step after step).
        batch_sizes: rows running at each step, non-increasing (``PackedSequence.batch_sizes`` as ints).
        h0: ``(B, P)`` initial hidden state in the sorted order; c0: ``(B, H)`` LSTM cell state or None.
        w: the layer's weights.
        reverse: run time backwards (the reverse direction of a bidirectional layer): each row starts at its
            own last step. The outputs stay in input time order.
        sentinel: give every quantity one more row, all NaN, after the N packed rows: the padded batch is then
            one gather from it (:class:`lstmviz.capture.ModuleCall` reads it so).

    Returns:
        ``(quantities, h_T, c_T)``: quantity name -> ``(N, U)`` packed tensor (``(N + 1, U)`` with ``sentinel``;
        ``hidden`` is the layer output), and each row's final states ``(B, P)`` / ``(B, H)`` (None for GRU/RNN)
        in the sorted order.

    Example:
        >>> m = torch.nn.GRU(2, 3)
        >>> w = LayerWeights(m.weight_ih_l0, m.weight_hh_l0, m.bias_ih_l0, m.bias_hh_l0)
        >>> q, hT, _ = run_layer_packed("gru", torch.randn(5, 2), [2, 2, 1], torch.zeros(2, 3), None, w)
        >>> sorted(q), tuple(q["update"].shape), tuple(hT.shape)
        (['hidden', 'new', 'reset', 'update'], (5, 3), (2, 3))
    """
    if cell not in ("lstm", "gru", "rnn"):
        raise ValueError(f"run_layer_packed supports 'lstm', 'gru' and 'rnn', got {cell!r}")
    T, N = len(batch_sizes), x.shape[0]
    w_ih, w_hh, b_ih, b_hh = _loop_weights(cell, w)
    ax = F.linear(x, w_ih, b_ih)  # (N, G*H): input part of every gate, one matmul
    if cell == "lstm" and b_hh is not None:
        ax += b_hh  # an LSTM step is then one addmm: fewer ops per step than its CPU cell, which adds b_hh apart
    P = w.w_hh.shape[1]
    H = w.w_hh.shape[0] // {"lstm": 4, "gru": 3, "rnn": 1}[cell]
    w_hh_t = w_hh.t()
    sizes = [*batch_sizes, 1] if sentinel else batch_sizes  # the buffers' row blocks; the sentinel's is unused

    def buffer(units: int) -> Tensor:  # (N [+ 1], units)
        t = x.new_empty(N + 1 if sentinel else N, units)
        if sentinel:
            t[N] = float("nan")
        return t

    y = buffer(P)
    at = {
        "ax": ax.split_with_sizes(batch_sizes),
        "y": y.split_with_sizes(sizes),
    }  # name -> each step's rows, views
    lstm = cell == "lstm"
    if lstm:
        sig, cand, c_all = buffer(3 * H), buffer(H), buffer(H)  # sig: i, f, o
        at.update(sig=sig.split_with_sizes(sizes), cand=cand.split_with_sizes(sizes), c=c_all.split_with_sizes(sizes))
        w_hr_t = w.w_hr.t() if w.w_hr is not None else None
    elif cell == "gru":
        rz_all, n_all = buffer(2 * H), buffer(H)
        at.update(rz=rz_all.split_with_sizes(sizes), n=n_all.split_with_sizes(sizes))
        # r and z take both biases before their sigmoid: b_hh's r, z part goes into ax; n keeps b_hn beside W_hn h
        h_bias = None
        if b_hh is not None:
            ax[:, : 2 * H] += b_hh[: 2 * H]
            h_bias = torch.cat((b_hh.new_zeros(2 * H), b_hh[2 * H :]))  # (3H,)
        at.update(x_rz=ax[:, : 2 * H].split_with_sizes(batch_sizes), x_n=ax[:, 2 * H :].split_with_sizes(batch_sizes))
    act = functools.partial(torch.clamp, min=0) if w.nonlinearity == "relu" else torch.tanh  # relu has no out=
    h = h0[:0] if reverse else h0  # the state of the rows running: a view of the previous step's output
    c = (c0[:0] if reverse else c0) if lstm else None
    # An RNN step follows the order of operations of PyTorch's CPU cell (aten/src/ATen/native/RNN.cpp),
    # (h W_hh^T + b_hh) + (x W_ih^T + b_ih), so it rounds as the packed kernel does (bit for bit on the machines
    # measured). LSTM and GRU steps take fewer ops instead (biases folded into ax, addcmul), each op a dispatch
    # that costs as much as the arithmetic at small sizes: within OUTPUT_TOLERANCE (README "Not bit for bit").
    for t in range(T - 1, -1, -1) if reverse else range(T):
        b = batch_sizes[t]
        if h.shape[0] > b:  # forward: rows finished (their final state stays in their last step's output)
            h = h[:b]
            c = c[:b] if lstm else None
        elif h.shape[0] < b:  # reverse: rows start here, from their initial state
            h = torch.cat((h, h0[h.shape[0] : b]))
            c = torch.cat((c, c0[c.shape[0] : b])) if lstm else None
        if lstm:
            # chunk / split_with_sizes: C methods (Tensor.split is Python and costs ~8 us a call)
            a_s, a_g = torch.addmm(at["ax"][t], h, w_hh_t).split_with_sizes((3 * H, H), 1)  # (b, 3H), (b, H)
            i, f, o = torch.sigmoid(a_s, out=at["sig"][t]).chunk(3, 1)
            # tanh of a strided block runs ~3x slower than of contiguous memory (see _ifog); below a few thousand
            # elements the copy's dispatch costs more than it saves
            g = torch.tanh(a_g.contiguous() if b * H >= 4096 else a_g, out=at["cand"][t])
            c = torch.mul(f, c, out=at["c"][t]).addcmul_(i, g)
            if w_hr_t is None:
                h = torch.mul(o, torch.tanh(c), out=at["y"][t])
            else:
                h = torch.mm(o * torch.tanh(c), w_hr_t, out=at["y"][t])
        elif cell == "gru":
            ah = torch.addmm(h_bias, h, w_hh_t) if h_bias is not None else h @ w_hh_t  # (b, 3H)
            h_rz, h_n = ah.split_with_sizes((2 * H, H), 1)
            r, z = torch.add(h_rz, at["x_rz"][t], out=at["rz"][t]).sigmoid_().chunk(2, 1)  # in place: no temporaries
            n = torch.addcmul(at["x_n"][t], r, h_n, out=at["n"][t]).tanh_()
            h = torch.addcmul(n, z, h - n, out=at["y"][t])  # (1 - z) n + z h
        else:
            ah = torch.addmm(b_hh, h, w_hh_t) if b_hh is not None else h @ w_hh_t  # (b, H)
            h = act(ah.add_(at["ax"][t]), out=at["y"][t])
    if reverse:
        h_T, c_T = h, c  # every row runs at step 0, its last step in reverse time
    else:  # sorted row j last runs at step len_j - 1, packed row offset(len_j - 1) + j
        last = _last_rows(batch_sizes).to(y.device)
        h_T = y.index_select(0, last)
        c_T = c_all.index_select(0, last) if lstm else None
    if lstm:
        i, f, o = sig.chunk(3, -1)
        return {"input": i, "forget": f, "cell_candidate": cand, "output": o, "cell": c_all, "hidden": y}, h_T, c_T
    if cell == "gru":
        r, z = rz_all.chunk(2, -1)
        return {"reset": r, "update": z, "new": n_all, "hidden": y}, h_T, None
    return {"hidden": y}, h_T, None


def run_layer_packed_autograd(
    cell: str,
    x: Tensor,
    batch_sizes: list[int],
    h0: Tensor,
    c0: Tensor | None,
    w: LayerWeights,
    reverse: bool = False,
    sentinel: bool = False,
) -> tuple[dict[str, Tensor], Tensor, Tensor, Tensor | None, list[tuple[slice, Tensor, Tensor | None]]]:
    """:func:`run_layer_packed` under autograd: the same steps, in the graph, every h_t (and c_t) returned.

    For packed input with gradients this beats the packed fused kernel (a step loop itself) followed by its
    backward (another) and a hand-written reverse recurrence (a third): the gates fall out of the forward, and
    autograd's backward through the steps is the only backward loop. The caller hooks each step's h_t and c_t
    for their total gradients.

    Args:
        cell, x, batch_sizes, h0, c0, w, reverse, sentinel: as :func:`run_layer_packed` (tensors may require
            grad; ``sentinel`` applies to the detached quantities only).

    Returns:
        ``(quantities, y, h_T, c_T, steps)``: detached ``(N, U)`` packed quantities; the layer output ``(N, P)``
        and the final states (sorted order) in the graph; per step in the order run, ``(rows, h_t, c_t)`` with
        ``rows`` the step's slice of the packed layout (c_t None for GRU/RNN).

    Example:
        >>> m = torch.nn.LSTM(2, 3)
        >>> w = LayerWeights(m.weight_ih_l0, m.weight_hh_l0, m.bias_ih_l0, m.bias_hh_l0)
        >>> q, y, hT, cT, steps = run_layer_packed_autograd("lstm", torch.randn(5, 2), [2, 2, 1], torch.zeros(2, 3),
        ...                                                 torch.zeros(2, 3), w)
        >>> tuple(y.shape), y.requires_grad, len(steps), steps[2][0]
        ((5, 3), True, 3, slice(4, 5, None))
    """
    if cell not in ("lstm", "gru", "rnn"):
        raise ValueError(f"run_layer_packed_autograd supports 'lstm', 'gru' and 'rnn', got {cell!r}")
    T = len(batch_sizes)
    w_ih, w_hh, b_ih, b_hh = _loop_weights(cell, w)
    ax = F.linear(x, w_ih, b_ih)  # (N, G*H)
    if cell == "lstm" and b_hh is not None:
        ax = ax + b_hh  # one addmm per step, as run_layer_packed
    axs = ax.split_with_sizes(batch_sizes)  # each step's rows; split, not indexing: indexing makes backward O(T^2)
    offsets = [0] * T
    for t in range(1, T):
        offsets[t] = offsets[t - 1] + batch_sizes[t - 1]
    H = w.w_hh.shape[0] // {"lstm": 4, "gru": 3, "rnn": 1}[cell]
    w_hh_t = w_hh.t()
    w_hr_t = w.w_hr.t() if w.w_hr is not None else None
    act = torch.relu if w.nonlinearity == "relu" else torch.tanh
    lstm = cell == "lstm"
    h = h0[:0] if reverse else h0
    c = (c0[:0] if reverse else c0) if lstm else None
    steps, kept = [], {}  # kept: quantity -> detached per-step tensors, in the order run
    # the same order of operations as run_layer_packed (PyTorch's CPU cells)
    for t in range(T - 1, -1, -1) if reverse else range(T):
        b = batch_sizes[t]
        if h.shape[0] > b:
            h = h[:b]
            c = c[:b] if lstm else None
        elif h.shape[0] < b:
            h = torch.cat((h, h0[h.shape[0] : b]))
            c = torch.cat((c, c0[c.shape[0] : b])) if lstm else None
        if lstm:
            a_s, a_g = torch.addmm(axs[t], h, w_hh_t).split_with_sizes((3 * H, H), 1)
            sg = torch.sigmoid(a_s)
            i, f, o = sg.chunk(3, 1)
            g = torch.tanh(a_g.contiguous() if b * H >= 4096 else a_g)  # see run_layer_packed
            c = torch.addcmul(f * c, i, g)
            m = o * torch.tanh(c)
            h = m if w_hr_t is None else m @ w_hr_t
            new = {"sig": sg, "cell_candidate": g, "cell": c}
        elif cell == "gru":
            ah = torch.addmm(b_hh, h, w_hh_t) if b_hh is not None else h @ w_hh_t
            h_rz, h_n = ah.split_with_sizes((2 * H, H), 1)
            x_rz, x_n = axs[t].split_with_sizes((2 * H, H), 1)
            rz = torch.sigmoid(h_rz + x_rz)
            r, z = rz.chunk(2, 1)
            n = torch.tanh(h_n * r + x_n)
            h = (h - n) * z + n
            new = {"rz": rz, "new": n}
        else:
            ah = torch.addmm(b_hh, h, w_hh_t) if b_hh is not None else h @ w_hh_t
            h = act(ah + axs[t])
            new = {}
        for k, v in new.items():
            kept.setdefault(k, []).append(v)  # detached once, by the cat below
        steps.append((slice(offsets[t], offsets[t] + b), h, c))
    in_time = steps[::-1] if reverse else steps

    def packed(ts: list[Tensor]) -> Tensor:  # per-step tensors in the order run -> (N [+ 1], U) packed, detached
        ts = ts[::-1] if reverse else ts
        with torch.no_grad():
            return torch.cat([*ts, ts[0].new_full((1, ts[0].shape[1]), float("nan"))] if sentinel else ts)

    y = torch.cat([s[1] for s in in_time])  # (N, P), in the graph
    if reverse:
        h_T, c_T = h, c
    else:
        last = _last_rows(batch_sizes).to(y.device)
        h_T = y.index_select(0, last)
        c_T = torch.cat([s[2] for s in in_time]).index_select(0, last) if lstm else None
    q = {"hidden": packed([y]) if sentinel else y.detach()}
    if lstm:
        i, f, o = packed(kept["sig"]).chunk(3, -1)
        q.update(input=i, forget=f, cell_candidate=packed(kept["cell_candidate"]), output=o)
        q["cell"] = packed(kept["cell"])
    elif cell == "gru":
        r, z = packed(kept["rz"]).chunk(2, -1)
        q.update(reset=r, update=z, new=packed(kept["new"]))
    return q, y, h_T, c_T, steps
