"""Key grammar of a recording: the one place that builds and parses keys.

A key names one recorded tensor::

    {module_path}.l{layer}[.rev].{quantity}

``module_path`` is the dotted path from ``model.named_modules()`` (``''`` for the
root module, whose keys then start with ``l{layer}``); ``.rev`` marks the reverse
direction of a bidirectional layer. Examples: ``rnn.l0.forget``,
``encoder.lstm.l1.rev.hidden``, ``l0.grad_cell``.

One alias is understood: PyTorch names a reverse layer's weights ``weight_hh_l0_reverse``, so
``l{layer}_reverse`` may stand for ``l{layer}.rev`` (``rnn.l0_reverse.forget`` is ``rnn.l0.rev.forget``);
:func:`canonical_key` turns an aliased key into the one spelling a recording stores.

Quantity names follow the PyTorch documentation's equations and are part of the
public contract (see README): LSTM ``input, forget, cell_candidate, output, cell,
hidden`` (i, f, g, o, c, h); GRU ``reset, update, new, hidden`` (r, z, n, h); RNN
``hidden``. Gradients through time are quantities of their own: ``grad_hidden``
(dL/dh_t, total derivative) for every cell and ``grad_cell`` (dL/dc_t) for LSTM.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = [
    "CELL_TYPES",
    "QUANTITIES",
    "GRAD_QUANTITIES",
    "GATES",
    "KeyParts",
    "make_key",
    "parse_key",
    "quantities_for",
    "direction_name",
    "canonical_key",
]

#: Recurrent cell families the recorder understands.
CELL_TYPES = ("lstm", "gru", "rnn")

#: Forward quantities per cell type, in PyTorch's gate order then states.
QUANTITIES: dict[str, tuple[str, ...]] = {
    "lstm": ("input", "forget", "cell_candidate", "output", "cell", "hidden"),
    "gru": ("reset", "update", "new", "hidden"),
    "rnn": ("hidden",),
}

#: Gradient-through-time quantities per cell type.
GRAD_QUANTITIES: dict[str, tuple[str, ...]] = {
    "lstm": ("grad_hidden", "grad_cell"),
    "gru": ("grad_hidden",),
    "rnn": ("grad_hidden",),
}

#: The gates alone (no states), per cell type.
GATES: dict[str, tuple[str, ...]] = {
    "lstm": ("input", "forget", "cell_candidate", "output"),
    "gru": ("reset", "update", "new"),
    "rnn": (),
}

_ALL_QUANTITIES = frozenset(q for qs in (*QUANTITIES.values(), *GRAD_QUANTITIES.values()) for q in qs)
_KEY_RE = re.compile(r"^(?:(?P<module>.+)\.)?l(?P<layer>\d+)(?P<rev>\.rev)?\.(?P<quantity>[a-z_]+)$")
# PyTorch's own suffix of a reverse layer (weight_hh_l0_reverse): "l0_reverse." where a key has "l0.rev."
_REVERSE_ALIAS_RE = re.compile(r"(?:^|(?<=\.))l(?P<layer>\d+)_reverse\.(?=[a-z_]+$)")


@dataclass(frozen=True)
class KeyParts:
    """The four coordinates a key encodes.

    Attributes:
        module: dotted module path (``''`` for the root module).
        layer: 0-based layer index.
        direction: 0 forward, 1 reverse.
        quantity: one of the documented quantity names.
    """

    module: str
    layer: int
    direction: int
    quantity: str


def quantities_for(cell: str, grads: bool = False) -> tuple[str, ...]:
    """Return the quantity names recorded for a cell type.

    Args:
        cell: ``"lstm"``, ``"gru"`` or ``"rnn"``.
        grads: include the gradient quantities.

    Returns:
        Tuple of quantity names in display order.

    Example:
        >>> quantities_for("gru")
        ('reset', 'update', 'new', 'hidden')
    """
    if cell not in QUANTITIES:
        raise ValueError(f"unknown cell type {cell!r}; expected one of {CELL_TYPES}")
    return QUANTITIES[cell] + (GRAD_QUANTITIES[cell] if grads else ())


def make_key(module: str, layer: int, direction: int, quantity: str) -> str:
    """Build the key of one recorded tensor.

    Args:
        module: dotted module path, ``''`` for the root.
        layer: 0-based layer index.
        direction: 0 (forward) or 1 (reverse).
        quantity: a documented quantity name.

    Returns:
        The key string.

    Example:
        >>> make_key("rnn", 1, 1, "forget")
        'rnn.l1.rev.forget'
    """
    if quantity not in _ALL_QUANTITIES:
        raise ValueError(f"unknown quantity {quantity!r}; expected one of {sorted(_ALL_QUANTITIES)}")
    if direction not in (0, 1):
        raise ValueError(f"direction must be 0 or 1, got {direction!r}")
    if int(layer) != layer or layer < 0:
        raise ValueError(f"layer must be a non-negative integer, got {layer!r}")
    prefix = f"{module}." if module else ""
    rev = ".rev" if direction == 1 else ""
    return f"{prefix}l{int(layer)}{rev}.{quantity}"


def parse_key(key: str) -> KeyParts:
    """Split a key into its coordinates (inverse of :func:`make_key`).

    Args:
        key: a key such as ``"rnn.l0.rev.hidden"``.

    Returns:
        The :class:`KeyParts`.

    Example:
        >>> parse_key("encoder.lstm.l1.grad_cell")
        KeyParts(module='encoder.lstm', layer=1, direction=0, quantity='grad_cell')
    """
    m = _KEY_RE.match(key) if isinstance(key, str) else None
    if m is None or m["quantity"] not in _ALL_QUANTITIES:
        raise ValueError(
            f"malformed key {key!r}; expected '{{module}}.l{{layer}}[.rev].{{quantity}}' "
            f"with quantity in {sorted(_ALL_QUANTITIES)}"
        )
    return KeyParts(m["module"] or "", int(m["layer"]), 1 if m["rev"] else 0, m["quantity"])


def direction_name(direction: object) -> str:
    """``"fwd"`` or ``"rev"``: the one encoding of a direction in every tidy frame.

    Accepts a recorder direction (0/1) or a name already.

    Example:
        >>> direction_name(1), direction_name("fwd")
        ('rev', 'fwd')
    """
    if isinstance(direction, str):
        return "rev" if direction.startswith("rev") or direction == "1" else "fwd"
    return "rev" if int(direction) == 1 else "fwd"


def canonical_key(key: str) -> str:
    """The stored spelling of a key written with an alias (``l{layer}_reverse`` for ``l{layer}.rev``).

    Only the layer part right before the quantity is rewritten; a key without an alias comes back unchanged
    (valid or not: :func:`parse_key` judges it).

    Args:
        key: A key, possibly aliased, e.g. ``"lstm.l0_reverse.hidden"``.

    Returns:
        The canonical key string.

    Example:
        >>> canonical_key("lstm.l0_reverse.hidden"), canonical_key("l2_reverse.forget")
        ('lstm.l0.rev.hidden', 'l2.rev.forget')
        >>> canonical_key("rnn.l0.forget")
        'rnn.l0.forget'
    """
    if not isinstance(key, str):
        return key
    return _REVERSE_ALIAS_RE.sub(lambda m: f"l{m['layer']}.rev.", key, count=1)
