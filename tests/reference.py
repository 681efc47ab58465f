"""Independent reference for the recorder: an unrolled loop written from the PyTorch docs.

Nothing here imports lstmviz. Each sequence of the batch is run on its own, one
step at a time, with every h_t and c_t a fresh autograd tensor that keeps its
gradient (``retain_grad``), so ``h_t.grad`` is the total derivative dL/dh_t.
Equations (PyTorch documentation, gate order of the weight matrices)::

    LSTM  i = σ(W_ii x + b_ii + W_hi h + b_hi)   f = σ(...)   g = tanh(...)   o = σ(...)
          c' = f ⊙ c + i ⊙ g      h' = o ⊙ tanh(c')      (proj: h' = W_hr h')
    GRU   r = σ(W_ir x + b_ir + W_hr h + b_hr)   z = σ(...)
          n = tanh(W_in x + b_in + r ⊙ (W_hn h + b_hn))    h' = (1 − z) ⊙ n + z ⊙ h
    RNN   h' = tanh(W_ih x + b_ih + W_hh h + b_hh)   (or relu)
"""

from __future__ import annotations

import torch
from torch import nn


def _lin(w, x, b):
    y = x @ w.t()  # works for one vector (I,) and for a batch (B, I)
    return y + b if b is not None else y


def _weights(m, layer, d):
    s = f"_l{layer}{'_reverse' if d else ''}"
    g = lambda n: getattr(m, n + s, None) if (m.bias or not n.startswith("bias")) else None  # noqa: E731
    return g("weight_ih"), g("weight_hh"), g("bias_ih"), g("bias_hh"), getattr(m, "weight_hr" + s, None)


def _split(w, k):
    return [None] * k if w is None else list(w.chunk(k, 0))


def step(cell, x, h, c, w_ih, w_hh, b_ih, b_hh, w_hr=None, nonlinearity="tanh"):
    """One documented step; returns (gates dict, h', c')."""
    if cell == "lstm":
        Wi, Wh, bi, bh = _split(w_ih, 4), _split(w_hh, 4), _split(b_ih, 4), _split(b_hh, 4)
        pre = [_lin(Wi[k], x, bi[k]) + _lin(Wh[k], h, bh[k]) for k in range(4)]
        i, f, g, o = torch.sigmoid(pre[0]), torch.sigmoid(pre[1]), torch.tanh(pre[2]), torch.sigmoid(pre[3])
        c2 = f * c + i * g
        h2 = o * torch.tanh(c2)
        if w_hr is not None:
            h2 = h2 @ w_hr.t()
        return {"input": i, "forget": f, "cell_candidate": g, "output": o}, h2, c2
    if cell == "gru":
        Wi, Wh, bi, bh = _split(w_ih, 3), _split(w_hh, 3), _split(b_ih, 3), _split(b_hh, 3)
        r = torch.sigmoid(_lin(Wi[0], x, bi[0]) + _lin(Wh[0], h, bh[0]))
        z = torch.sigmoid(_lin(Wi[1], x, bi[1]) + _lin(Wh[1], h, bh[1]))
        n = torch.tanh(_lin(Wi[2], x, bi[2]) + r * _lin(Wh[2], h, bh[2]))
        return {"reset": r, "update": z, "new": n}, (1 - z) * n + z * h, None
    a = _lin(w_ih, x, b_ih) + _lin(w_hh, h, b_hh)
    return {}, (torch.relu(a) if nonlinearity == "relu" else torch.tanh(a)), None


def cell_type(m: nn.Module) -> str:
    return "lstm" if isinstance(m, (nn.LSTM, nn.LSTMCell)) else "gru" if isinstance(m, (nn.GRU, nn.GRUCell)) else "rnn"


def unrolled(m: nn.RNNBase, xs: list[torch.Tensor], h0=None, c0=None):
    """Run a full module on each sequence separately (no dropout).

    Args:
        m: nn.LSTM/GRU/RNN.
        xs: list of (T_b, I) sequences.
        h0, c0: optional (L*D, B, P) / (L*D, B, H) initial states.

    Returns:
        dict: per (layer, d) -> list over batch of list over t (input order) of
        {"gates": {...}, "h": tensor, "c": tensor}; and "out" list over batch of
        (T_b, D*P) top-layer outputs; "h_n" (L*D, B, P); "c_n".
    """
    cell = cell_type(m)
    D = 2 if m.bidirectional else 1
    P = m.proj_size if getattr(m, "proj_size", 0) else m.hidden_size
    H = m.hidden_size
    nl = "relu" if getattr(m, "mode", "") == "RNN_RELU" else "tanh"
    B = len(xs)
    res = {}
    outs, hn, cn = [], [[None] * B for _ in range(m.num_layers * D)], [[None] * B for _ in range(m.num_layers * D)]
    for b in range(B):
        inp = [x for x in xs[b]]
        for layer in range(m.num_layers):
            layer_out = [[None] * D for _ in inp]
            for d in range(D):
                w = _weights(m, layer, d)
                idx = layer * D + d
                h = h0[idx, b] if h0 is not None else torch.zeros(P, dtype=xs[0].dtype)
                c = c0[idx, b] if c0 is not None else torch.zeros(H, dtype=xs[0].dtype)
                order = range(len(inp)) if d == 0 else range(len(inp) - 1, -1, -1)
                steps = [None] * len(inp)
                for t in order:
                    gates, h, c2 = step(cell, inp[t], h, c, *w, nonlinearity=nl)
                    h.retain_grad()
                    if c2 is not None:
                        c2.retain_grad()
                        c = c2
                    steps[t] = {"gates": gates, "h": h, "c": c2}
                    layer_out[t][d] = h
                res.setdefault((layer, d), [None] * B)[b] = steps
                hn[idx][b] = h
                cn[idx][b] = c if cell == "lstm" else None
            inp = [torch.cat(o) for o in layer_out]
        outs.append(torch.stack(inp))
    res["out"] = outs
    res["h_n"] = torch.stack([torch.stack(r) for r in hn])
    res["c_n"] = torch.stack([torch.stack(r) for r in cn]) if cell == "lstm" else None
    return res
