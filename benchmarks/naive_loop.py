"""The naive baseline of the grid benchmark: one ``nn.{RNN,GRU,LSTM}Cell`` call per step and layer.

This is the loop an engineer writes first to see inside a recurrent network, and what the recorder must beat
(issue 24): the module's own weights in ``nn.*Cell`` modules (built once, sharing the parameter tensors), one
cell call per time step, layer and direction, ``retain_grad()`` on every h_t (and c_t for an LSTM) so that after
one backward ``h_t.grad`` is dL/dh_t. A bidirectional layer runs its reverse direction as a second loop over
reversed time and concatenates the two outputs per step; the next layer reads those. Packed input
(a ``PackedSequence`` made with ``enforce_sorted=False``) is handled the way ``PackedSequence`` itself works: the
batch is sorted by length once (:func:`prepare`, outside any timing, like ``pack_padded_sequence``), and each
step runs only the rows still running, a prefix of the sorted batch of size ``batch_sizes[t]``.

Shapes: x is (B, T, I) batch-first; every h_t, c_t is (b_t, H) with b_t = B unpacked, ``batch_sizes[t]`` packed
(rows in the sorted order); the top layer's output per step is (b_t, D*H) with D = 2 when bidirectional.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

CELL_CLASSES = {"lstm": nn.LSTMCell, "gru": nn.GRUCell, "rnn": nn.RNNCell}


def cell_name(m: nn.RNNBase) -> str:
    """``"lstm"``, ``"gru"`` or ``"rnn"`` for a full recurrent module.

    Example:
        >>> cell_name(torch.nn.GRU(2, 3))
        'gru'
    """
    return "lstm" if isinstance(m, nn.LSTM) else "gru" if isinstance(m, nn.GRU) else "rnn"


def build_cells(m: nn.RNNBase) -> list[list[nn.RNNCellBase]]:
    """One ``nn.*Cell`` per layer and direction, holding the module's own parameter tensors (shared, not copied).

    Args:
        m: an ``nn.LSTM``/``nn.GRU``/``nn.RNN`` without ``proj_size``.

    Returns:
        ``cells[layer][direction]``; direction 1 is the reverse one of a bidirectional module.

    Example:
        >>> m = torch.nn.LSTM(4, 3, num_layers=2, bidirectional=True)
        >>> cells = build_cells(m)
        >>> len(cells), len(cells[0]), cells[1][1].weight_hh is m.weight_hh_l1_reverse
        (2, 2, True)
    """
    if getattr(m, "proj_size", 0):
        raise ValueError("the naive loop has no projection (nn.LSTMCell has no proj_size)")
    kind = cell_name(m)
    D = 2 if m.bidirectional else 1
    cells = []
    for layer in range(m.num_layers):
        row = []
        for d in range(D):
            suffix = f"_l{layer}{'_reverse' if d else ''}"
            w_ih = getattr(m, "weight_ih" + suffix)
            kwargs = {"bias": m.bias}
            if kind == "rnn":
                kwargs["nonlinearity"] = "relu" if m.mode == "RNN_RELU" else "tanh"
            with torch.device("meta"):  # no throw-away weights: they are replaced by the module's own below
                cell = CELL_CLASSES[kind](w_ih.shape[1], m.hidden_size, **kwargs)
            for name in ("weight_ih", "weight_hh") + (("bias_ih", "bias_hh") if m.bias else ()):
                setattr(cell, name, getattr(m, name + suffix))  # the same nn.Parameter: shared, gradients included
            row.append(cell)
        cells.append(row)
    return cells


@dataclass
class NaiveInput:
    """The naive loop's input, prepared once outside the timing.

    Attributes:
        steps: T tensors, step t being (b_t, I): the rows still running at t, in sorted order when packed.
        batch_sizes: b_t per step (all B when not packed).
        order: (B,) original row index of each sorted row (identity when not packed).
    """

    steps: list[Tensor]
    batch_sizes: list[int]
    order: Tensor


def prepare(x: Tensor, lengths: Tensor | None = None) -> NaiveInput:
    """Sort a padded batch by length (longest first) and slice it per step, as ``pack_padded_sequence`` does.

    Args:
        x: (B, T, I) batch-first input.
        lengths: (B,) lengths, or None for an unpacked batch of full-length rows.

    Returns:
        A :class:`NaiveInput`.

    Example:
        >>> inp = prepare(torch.zeros(3, 4, 2), torch.tensor([2, 4, 3]))
        >>> inp.batch_sizes, inp.order.tolist(), tuple(inp.steps[3].shape)
        ([3, 3, 2, 1], [1, 2, 0], (1, 2))
    """
    B, T, _ = x.shape
    if lengths is None:
        return NaiveInput(list(x.unbind(1)), [B] * T, torch.arange(B))
    lengths = torch.as_tensor(lengths)
    srt, order = torch.sort(lengths, descending=True)
    xs = x.index_select(0, order)
    batch_sizes = [int((srt > t).sum()) for t in range(int(srt[0]))]
    return NaiveInput([xs[:b, t] for t, b in enumerate(batch_sizes)], batch_sizes, order)


def run(cells: list[list[nn.RNNCellBase]], inp: NaiveInput, *, retain: bool) -> tuple[list[Tensor], list[Tensor]]:
    """The naive forward: one cell call per step, layer and direction.

    Args:
        cells: from :func:`build_cells`.
        inp: from :func:`prepare`.
        retain: call ``retain_grad()`` on every h_t and c_t (needs autograd on).

    Returns:
        ``(top, states)``: the top layer's output per step, (b_t, D*H) each, and every h_t and c_t of every
        layer and direction (the tensors whose ``.grad`` a backward fills when ``retain``).

    Example:
        >>> m = torch.nn.GRU(2, 3, bidirectional=True)
        >>> top, states = run(build_cells(m), prepare(torch.randn(1, 5, 2)), retain=False)
        >>> len(top), tuple(top[0].shape), len(states)
        (5, (1, 6), 10)
    """
    lstm = isinstance(cells[0][0], nn.LSTMCell)
    T = len(inp.steps)
    bs = inp.batch_sizes
    xs = inp.steps
    states: list[Tensor] = []
    for layer_cells in cells:
        outs = []
        for d, cell in enumerate(layer_cells):
            H = cell.hidden_size
            hs: list[Tensor] = [None] * T  # type: ignore[list-item]
            if d == 0:
                # Forward in time: rows only ever finish (b_t never grows), so the state is cut to the prefix.
                h = xs[0].new_zeros(bs[0], H)
                c = xs[0].new_zeros(bs[0], H) if lstm else None
                order = range(T)
            else:
                # Reverse in time: each row starts at its own last step with a zero state, so rows are added.
                h = xs[0].new_zeros(0, H)
                c = xs[0].new_zeros(0, H) if lstm else None
                order = range(T - 1, -1, -1)
            for t in order:
                b = bs[t]
                if h.shape[0] > b:
                    h = h[:b]
                    c = c[:b] if lstm else None
                elif h.shape[0] < b:
                    h = torch.cat([h, h.new_zeros(b - h.shape[0], H)])
                    c = torch.cat([c, c.new_zeros(b - c.shape[0], H)]) if lstm else None
                if lstm:
                    h, c = cell(xs[t], (h, c))
                    if retain:
                        h.retain_grad()
                        c.retain_grad()
                    states += (h, c)
                else:
                    h = cell(xs[t], h)
                    if retain:
                        h.retain_grad()
                    states.append(h)
                hs[t] = h
            outs.append(hs)
        xs = outs[0] if len(outs) == 1 else [torch.cat(pair, 1) for pair in zip(*outs)]
    return xs, states


def padded(top: list[Tensor], inp: NaiveInput, batch: int) -> Tensor:
    """The top layer's per-step outputs as one (B, T, D*H) batch in the original row order, zeros past each length.

    Example:
        >>> inp = prepare(torch.ones(2, 3, 1), torch.tensor([1, 3]))
        >>> padded([torch.ones(b, 1) for b in inp.batch_sizes], inp, 2)[:, :, 0].tolist()
        [[1.0, 0.0, 0.0], [1.0, 1.0, 1.0]]
    """
    out = top[0].new_zeros(batch, len(top), top[0].shape[1])
    for t, y in enumerate(top):
        out[: y.shape[0], t] = y
    res = torch.empty_like(out)
    res[inp.order] = out
    return res
