"""``lstmviz.tap(key, tensor)``: record a tensor of a custom recurrent cell, step by step.

A cell written by hand (the LSTM of a lecture, a LayerNorm-LSTM, a peephole variant) has no
``nn.LSTM`` for :func:`lstmviz.record` to watch. Wrapping its gates and states in :func:`tap`
records them under the same key grammar (:mod:`lstmviz.names`) and the same ``(B, T, units)``
layout, so every reader of a recording (frames, plots, the dashboard) works on it unchanged::

    i = tap("mycell.input", torch.sigmoid(a_i))   # returns a_i's sigmoid itself

Outside a recording :func:`tap` is one :mod:`contextvars` read and returns its argument: a model
may keep its taps in its forward for good. Inside a ``record()`` block each tap of a key appends a
step to that key's current sequence (a new sequence starts after :meth:`Recording.new_sequence` or
when the batch size changes). With ``grads=True`` a tapped ``hidden`` or ``cell`` that requires grad
gets a tensor hook: ``grad_hidden`` / ``grad_cell`` is the gradient arriving at that very tensor,
the total derivative dL/dh_t (dL/dc_t) when the cell goes on computing with the tensor ``tap``
returned. The block removes those hooks and drops its references to the tensors on exit.
"""

from __future__ import annotations

import difflib
import functools
import re

from torch import Tensor

from .capture import TapSequences
from .names import QUANTITIES
from .recorder import _ACTIVE, _grad_hook

__all__ = ["tap", "TAP_QUANTITIES"]

#: Quantity names a tap may use (the forward quantities of every cell type; gradients come from ``grads=True``).
TAP_QUANTITIES: tuple[str, ...] = tuple(dict.fromkeys(q for qs in QUANTITIES.values() for q in qs))
_LSTM_ONLY = frozenset(QUANTITIES["lstm"]) - {"hidden"}
_GRU_ONLY = frozenset(QUANTITIES["gru"]) - {"hidden"}
# name[.l{layer}[.rev]].quantity; the name is matched lazily so that the layer part is taken when present
_TAP_RE = re.compile(r"^(?P<name>.+?)(?:\.l(?P<layer>\d+)(?P<rev>\.rev)?)?\.(?P<quantity>[^.]+)$")
_NAME_RE = re.compile(r"^[^.\s]+(?:\.[^.\s]+)*$")
_LAYER_PART = re.compile(r"(?:^|\.)(?:l\d+(?:_reverse)?|rev)$")
# key string -> (name, layer, direction, quantity): a loop taps the same few keys thousands of times
_PARSED: dict[str, tuple[str, int, int, str]] = {}
_PARSED_MAX = 10_000  # generated keys must not grow the cache without bound


def _parse(key: object) -> tuple[str, int, int, str]:
    """``name.quantity`` or ``name.l{layer}[.rev].quantity`` -> (name, layer, direction, quantity)."""
    hit = _PARSED.get(key) if isinstance(key, str) else None
    if hit is not None:
        return hit
    if not isinstance(key, str):
        raise TypeError(f"tap key must be a str such as 'mycell.forget', got {type(key).__name__}")
    m = _TAP_RE.match(key)
    if m is None:
        raise ValueError(f"tap key {key!r} needs a name and a quantity: 'name.quantity' or 'name.l1.rev.quantity'")
    name, quantity = m["name"], m["quantity"]
    if quantity not in TAP_QUANTITIES:
        close = difflib.get_close_matches(quantity, TAP_QUANTITIES, n=2)
        hint = f"did you mean {' or '.join(map(repr, close))}? " if close else ""
        grads = " (gradients are recorded by record(..., grads=True) on a tapped hidden/cell)"
        extra = grads if quantity.startswith("grad_") else ""
        raise ValueError(
            f"tap key {key!r}: unknown quantity {quantity!r}{extra}; {hint}allowed: {list(TAP_QUANTITIES)}"
        )
    if not _NAME_RE.match(name) or _LAYER_PART.search(name):
        raise ValueError(
            f"tap key {key!r}: {name!r} is not a usable name (no spaces or empty parts, and not ending in a layer "
            "part such as 'l1' or 'rev'); write 'name.quantity' or 'name.l1.rev.quantity'"
        )
    parsed = (name, int(m["layer"] or 0), 1 if m["rev"] else 0, quantity)
    if len(_PARSED) < _PARSED_MAX:
        _PARSED[key] = parsed
    return parsed


def _cell_of(store: TapSequences | None, name: str, quantity: str) -> str:
    """The cell type of tap name ``name`` once ``quantity`` joins what it already has."""
    have = {k[2] for k in store.series} if store is not None else set()
    have.add(quantity)
    lstm, gru = have & _LSTM_ONLY, have & _GRU_ONLY
    if lstm and gru:
        raise ValueError(
            f"tap name {name!r} mixes LSTM quantities {sorted(lstm)} with GRU ones {sorted(gru)}: "
            "one name records one cell; tap the other under another name"
        )
    return "lstm" if lstm else "gru" if gru else "rnn"


def tap(key: str, tensor: Tensor) -> Tensor:
    """Record one step of ``tensor`` under ``key`` in the innermost active ``record()`` block; return ``tensor``.

    Args:
        key: ``"name.quantity"`` (layer 0, forward direction) or a full key ``"name.l1.rev.quantity"``; the
            quantity is one of :data:`TAP_QUANTITIES` (``input, forget, cell_candidate, output, cell, hidden,
            reset, update, new``). The name becomes a module of the recording (``rec.modules``), with the cell
            type its quantities imply (``lstm`` with any LSTM gate or ``cell``, ``gru`` with reset/update/new,
            else ``rnn``); it must differ from the watched modules' paths.
        tensor: this step's values, ``(B, U)`` or unbatched ``(U,)``.

    Returns:
        ``tensor`` itself (no copy, no new autograd node): go on computing with it.

    Raises:
        TypeError: ``key`` is not a str or ``tensor`` not a floating-point tensor.
        ValueError: a malformed key or unknown quantity (the message lists the allowed ones), a tensor that is
            not ``(B, U)`` or ``(U,)``, units that differ from earlier taps of the key, LSTM and GRU quantities
            under one name, or a name that is a watched module's path.

    Example:
        >>> import torch, lstmviz
        >>> x = torch.randn(2, 3)
        >>> lstmviz.tap("mycell.hidden", x) is x  # outside a recording: nothing happens
        True
        >>> with lstmviz.record(torch.nn.Linear(3, 3)) as rec:
        ...     h = torch.zeros(2, 3)
        ...     for t in range(5):
        ...         h = lstmviz.tap("mycell.hidden", torch.tanh(x + h))
        >>> rec["mycell.l0.hidden"].shape, rec.modules
        (torch.Size([2, 5, 3]), {'mycell': 'rnn'})
    """
    active = _ACTIVE.get()
    if not active:
        return tensor
    cap = active[-1]
    name, layer, d, quantity = _parse(key)
    if not isinstance(tensor, Tensor) or not tensor.is_floating_point():
        raise TypeError(
            f"tap({key!r}, ...) needs a floating-point tensor, got {getattr(tensor, 'dtype', type(tensor))}"
        )
    if tensor.dim() not in (1, 2):
        raise ValueError(f"tap({key!r}, ...) needs one step, (B, U) or (U,), got shape {tuple(tensor.shape)}")
    store = cap.taps.get(name)
    if store is None and name in cap.modules:
        raise ValueError(f"tap name {name!r} is the path of a watched module; tap under another name")
    state = quantity in ("hidden", "cell")
    hook = cap.grads and state and tensor.requires_grad and cap.wants("grad_" + quantity)
    keep_value = cap.wants(quantity)
    if not (keep_value or hook):
        cap.taps_seen += 1  # tapped, just not asked for: the block did record something
        return tensor
    store = cap.tap_store(name, _cell_of(store, name, quantity))
    x = tensor.detach()
    x = x.unsqueeze(0) if x.dim() == 1 else x  # (B, U)
    x = x.clone() if x.device.type == "cpu" else x.cpu()  # a copy: the caller may change the tensor in place
    step = store.add_step((layer, d, quantity), x, keep_value)
    if hook:
        step["_out"] = tensor  # for rec.backward's autograd.grad; dropped when the block closes
        store.hooked.add((layer, d, quantity))
        store.handles.append(tensor.register_hook(_grad_hook(cap, functools.partial(store.add_grad, step))))
    return tensor
