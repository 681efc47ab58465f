"""LSTM gates straight from the fused CPU kernel: oneDNN's training workspace holds every activated gate.

``torch.mkldnn_rnn_layer`` (the oneDNN kernel behind ``nn.LSTM`` on CPU), called in training mode with
gradient mode enabled, returns a uint8 *workspace* whose first region is the activated gates of
every step, laid out ``(T, B, ld)`` in PyTorch's i, f, g, o order, where ``ld`` is ``4H`` rounded up to
16 floats and, when that is a multiple of 256 floats, 16 more (oneDNN's ``get_good_ld``, which avoids
cache-set aliasing). Reading them costs one copy instead of a recompute; the cell state then follows
from the gates by the elementwise recurrence ``c_t = f_t c_{t-1} + i_t g_t``.

This is an implementation detail of oneDNN, so it is *guarded*: :func:`available` runs an exactness
check at first use (gates against a float64 recompute, on shapes with and without the padded ``ld``)
and :func:`run_lstm_layer_fused` checks every call (the last step's ``o_T tanh(c_T)`` must give the
kernel's own ``h_T``, and the recurrence's ``c_T`` the kernel's ``c_T`` to :data:`STATE_RTOL` relative); on any
failure it returns None and the recorder uses its own loop (:func:`lstmviz.unroll.run_layer`). Only CPU float32 LSTMs
without projection are eligible, and only when no gradient is recorded.

Example::

    trace, h_T, c_T = run_lstm_layer_fused(x, h0, c0, weights)  # or None: use the fallback
"""

from __future__ import annotations

import threading
import warnings

import torch
from torch import Tensor

from lstmviz.unroll import LayerTrace, LayerWeights, run_layer

__all__ = ["available", "gates_ld", "run_lstm_layer_fused", "STATE_RTOL", "TOLERANCE"]

TOLERANCE = 1e-5  # float32, absolute: gates (in [0, 1]) and h agree with a recompute to this (measured ~1e-7)
# float32, relative: the cell state of the recurrence vs the kernel's c_T. Trained LSTMs carry |c| ~ 100+ (the
# shipped char-LSTM's layer 1), where one float32 step rounds by ~1e-5 absolute, so a fixed absolute bound would
# reject correct gates; a wrong gate layout moves c_T by O(|c|), far beyond this.
STATE_RTOL = 1e-4
_STATE: dict[str, bool] = {}
_LOCK = threading.Lock()


def gates_ld(hidden_size: int) -> int:
    """Floats between two batch rows of the workspace's gates (oneDNN's leading dimension).

    Example:
        >>> gates_ld(4), gates_ld(64), gates_ld(33)
        (16, 272, 144)
    """
    ld = -(-4 * hidden_size // 16) * 16
    return ld + 16 if ld % 256 == 0 else ld


def _kernel(x: Tensor, h0: Tensor, c0: Tensor, w: LayerWeights) -> tuple[Tensor, Tensor, Tensor, Tensor] | None:
    H = w.w_hh.shape[1]
    if x.dim() != 3 or x.shape[0] == 0 or x.shape[1] == 0:
        return None
    B, D = x.shape[1], x.shape[2]  # D: input size (the I of ``(T, B, I)``)
    shapes = (
        (h0, (B, H)),
        (c0, (B, H)),
        (w.w_ih, (4 * H, D)),
        (w.w_hh, (4 * H, H)),
        (w.b_ih, (4 * H,)),
        (w.b_hh, (4 * H,)),
    )
    if any(tuple(t.shape) != s or t.dtype != torch.float32 or t.device.type != "cpu" for t, s in shapes):
        return None  # the kernel does not validate: a wrong shape would abort the process
    weights = [t.detach().contiguous() for t in (w.w_ih, w.w_hh, w.b_ih, w.b_hh)]
    with torch.enable_grad():  # without grad mode the kernel keeps no workspace; nothing here requires grad
        # contiguous: the kernel reads raw time-major memory (a batch_first input arrives as a transposed view)
        out, h_n, c_n, ws = torch.mkldnn_rnn_layer(
            x.detach().contiguous(),
            *weights,
            h0.detach().contiguous(),
            c0.detach().contiguous(),
            False,
            [],
            2,
            H,
            1,
            True,
            False,
            False,
            True,
        )
    if ws is None or ws.numel() * ws.element_size() < x.shape[0] * x.shape[1] * gates_ld(H) * 4:
        return None
    return out, h_n, c_n, ws


def _reference_gates(x: Tensor, h0: Tensor, c0: Tensor, w: LayerWeights) -> Tensor:
    """Activated gates ``(T, B, 4H)`` in float64, from the recorder's own step loop
    (:func:`lstmviz.unroll.run_layer`)."""
    w64 = LayerWeights(*(t.double() for t in (w.w_ih, w.w_hh, w.b_ih, w.b_hh)), w_hr=None, nonlinearity="tanh")
    q = run_layer("lstm", x.double(), h0.double(), c0.double(), w64)[0].quantities
    return torch.cat([q["input"], q["forget"], q["cell_candidate"], q["output"]], -1)


def available() -> bool:
    """Whether the workspace layout holds on this machine: checked once per process, at first use.

    Example:
        >>> isinstance(available(), bool)
        True
    """
    with _LOCK:
        if "ok" in _STATE:
            return _STATE["ok"]
        ok = False
        try:
            if torch.backends.mkldnn.is_available():
                g = torch.Generator().manual_seed(0)
                ok = True
                for T, B, D, H in ((5, 3, 7, 33), (4, 2, 5, 64)):  # ld 144 (plain) and 272 (padded)
                    w = LayerWeights(
                        *(torch.randn(*s, generator=g) * 0.3 for s in ((4 * H, D), (4 * H, H), (4 * H,), (4 * H,))),
                        w_hr=None,
                        nonlinearity="tanh",
                    )
                    x, h0, c0 = (
                        torch.randn(T, B, D, generator=g),
                        torch.randn(B, H, generator=g) * 0.1,
                        torch.randn(B, H, generator=g) * 0.1,
                    )
                    res = _kernel(x, h0, c0, w)
                    if res is None:
                        ok = False
                        break
                    gates = res[3].view(torch.float32)[: T * B * gates_ld(H)].view(T, B, -1)[..., : 4 * H]
                    ok &= bool((gates.double() - _reference_gates(x, h0, c0, w)).abs().max() < TOLERANCE)
        except (RuntimeError, TypeError, AttributeError) as e:  # an op missing or changed in this torch build
            warnings.warn(f"lstmviz: fused LSTM gates unavailable ({e}); using the recorder's own loop", stacklevel=2)
            ok = False
        _STATE["ok"] = ok
        return ok


def eligible(x: Tensor, w: LayerWeights) -> bool:
    """CPU float32, with biases, no projection, and the layout check passed."""
    return (
        x.device.type == "cpu"
        and x.dtype == torch.float32
        and w.w_hr is None
        and w.b_ih is not None
        and w.b_hh is not None
        and available()
    )


def run_lstm_layer_fused(
    x: Tensor, h0: Tensor, c0: Tensor, w: LayerWeights
) -> tuple[LayerTrace, Tensor, Tensor] | None:
    """One LSTM layer and direction through the fused kernel, its gates read from the workspace.

    Args:
        x: ``(T, B, I)`` layer input, forward-normalised; h0, c0: ``(B, H)``.
        w: The layer's weights.

    Returns:
        ``(trace, h_T, c_T)`` as :func:`lstmviz.unroll.run_layer` (the hidden states and final states are the
        kernel's own outputs), or None when the path is not eligible or a check fails.
    """
    if not eligible(x, w):
        return None
    res = _kernel(x, h0, c0, w)
    if res is None:
        return None
    out, h_n, c_n, ws = res
    T, B = x.shape[:2]
    H = w.w_hh.shape[1]
    gates = ws.view(torch.float32)[: T * B * gates_ld(H)].view(T, B, -1)[..., : 4 * H].clone()  # (T, B, 4H)
    del ws  # the workspace is ~4x the gates: freed before the cell recurrence
    i, f, g, o = gates.chunk(4, -1)
    c_all = torch.mul(i, g)  # (T, B, H): i_t g_t for every step in one op; then c_t = f_t c_{t-1} + i_t g_t in place
    c = c0
    for t in range(T):
        c = torch.addcmul(c_all[t], f[t], c, out=c_all[t])
    h_last = o[-1] * torch.tanh(c_all[-1])
    if not (
        torch.allclose(c_all[-1], c_n, rtol=STATE_RTOL, atol=TOLERANCE * 10)
        and torch.allclose(h_last, out[-1], rtol=0, atol=TOLERANCE)
    ):
        return None  # the layout did not hold for this call: the caller falls back
    q = {"input": i, "forget": f, "cell_candidate": g, "output": o, "cell": c_all, "hidden": out}
    return LayerTrace("lstm", q), h_n, c_n
