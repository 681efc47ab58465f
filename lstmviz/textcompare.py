"""Two analyses side by side: tokens aligned, and the difference of every gate and state (B − A).

Two sentences through one model («Это плохо.» / «Это не плохо.»), or one sentence through two models
of the same cell and size. Tokens are aligned by their model-facing strings (lemmas) with
``difflib.SequenceMatcher`` and every token becomes one column, classified by the alignment:

- ``equal``: the same lemma in both texts, compared step by step (label: the token of B);
- ``insert``: a token only B has, such as the «не» of a negation (label ``+не``);
- ``delete``: a token only A has (label ``−не``, a minus sign);
- ``substitute``: a token of A replaced by one of B at the same place, such as the swapped cue
  (label ``france→germany``).

An inserted or deleted token has no partner. For a state (``cell``, ``hidden``) it is compared with the
other text's state just before that point, in the direction the layer reads: that text has read
nothing new there, so the column shows how far the extra token moved the state. A gate has no value
at a step that was not taken, so its cell there is NaN (drawn empty).
"""

from __future__ import annotations

import difflib
from collections.abc import Sequence

import numpy as np
import pandas as pd

from lstmviz.sentence import TextAnalysis

__all__ = [
    "OPERATIONS",
    "STATES",
    "align",
    "changed_tokens",
    "column_label",
    "difference_frame",
    "inserted_tokens",
    "operations",
]

#: How a column of the comparison came about (difflib's opcodes, one token each).
OPERATIONS = ("equal", "insert", "delete", "substitute")
#: Quantities that carry over from step to step: an unpaired token is compared with the other text's last one.
STATES = frozenset({"cell", "hidden"})

INSERT_MARK = "+"
DELETE_MARK = "−"  # U+2212, not a hyphen: a token may itself start with "-"
SUBSTITUTE_MARK = "→"
_SIDE_CHARS = 11  # each side of "a→b" is cut to this, so both fit the plot's 24-character tick labels


def align(a: Sequence[str], b: Sequence[str]) -> list[tuple[int, int]]:
    """Index pairs ``(i, j)`` of equal tokens of ``a`` and ``b``, in order (longest matching blocks).

    Example:
        >>> align(["это", "плохо"], ["это", "не", "плохо"])
        [(0, 0), (1, 2)]
    """
    matcher = difflib.SequenceMatcher(a=list(a), b=list(b), autojunk=False)
    return [(blk.a + k, blk.b + k) for blk in matcher.get_matching_blocks() for k in range(blk.size)]


def operations(a: Sequence[str], b: Sequence[str]) -> list[tuple[str, int | None, int | None]]:
    """One ``(operation, i, j)`` per column: how token ``a[i]`` and/or ``b[j]`` align.

    ``operation`` is one of :data:`OPERATIONS`; ``i`` is None for an insertion, ``j`` for a deletion.
    A replaced block of difflib pairs its tokens in order as substitutions; what one side has more of
    is deleted (A) or inserted (B).

    Args:
        a, b: The two token sequences (lemmas: what the model looked up).

    Returns:
        The columns in reading order.

    Example:
        >>> operations(["это", "плохо"], ["это", "не", "плохо"])
        [('equal', 0, 0), ('insert', None, 1), ('equal', 1, 2)]
        >>> operations(["france", "w1", "?"], ["germany", "w1", "?"])
        [('substitute', 0, 0), ('equal', 1, 1), ('equal', 2, 2)]
    """
    matcher = difflib.SequenceMatcher(a=list(a), b=list(b), autojunk=False)
    ops: list[tuple[str, int | None, int | None]] = []
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        n = min(i2 - i1, j2 - j1) if tag in ("equal", "replace") else 0
        ops += [("equal" if tag == "equal" else "substitute", i1 + k, j1 + k) for k in range(n)]
        ops += [("delete", i, None) for i in range(i1 + n, i2)]
        ops += [("insert", None, j) for j in range(j1 + n, j2)]
    return ops


def inserted_tokens(a: Sequence[str], b: Sequence[str]) -> list[int]:
    """Indices of tokens of ``b`` inserted with respect to ``a`` (e.g. the «не» of a negation).

    A token of ``b`` that replaces one of ``a`` is substituted, not inserted (see :func:`operations`).

    Example:
        >>> inserted_tokens(["это", "плохо"], ["это", "не", "плохо"])
        [1]
        >>> inserted_tokens(["france", "?"], ["germany", "?"])
        []
    """
    return [j for op, _, j in operations(a, b) if op == "insert"]


def _cut(text: str, limit: int = _SIDE_CHARS) -> str:
    """``text`` cut to ``limit`` characters with a trailing ``…``."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


def column_label(op: str, token_a: str | None, token_b: str | None) -> str:
    """The marked column label of one aligned column (raw text: the plot escapes it).

    Example:
        >>> column_label("insert", None, "не"), column_label("delete", "не", None)
        ('+не', '−не')
        >>> column_label("substitute", "france", "germany"), column_label("equal", "плохо", "плохо")
        ('france→germany', 'плохо')
    """
    if op == "equal":
        return str(token_b)
    if op == "insert":
        return INSERT_MARK + str(token_b)
    if op == "delete":
        return DELETE_MARK + str(token_a)
    if op == "substitute":
        return _cut(str(token_a)) + SUBSTITUTE_MARK + _cut(str(token_b))
    raise ValueError(f"unknown alignment operation {op!r}; allowed: {', '.join(OPERATIONS)}")


def changed_tokens(first: TextAnalysis, second: TextAnalysis) -> dict[str, list[tuple[str | None, str | None]]]:
    """The token pairs the alignment does not pair as equal, by operation (for the view's captions).

    Returns:
        ``{"insert": [(None, B token), ...], "delete": [(A token, None), ...],
        "substitute": [(A token, B token), ...]}``, each list in reading order.

    Example:
        >>> changed_tokens(a_bad, a_not_bad)  # doctest: +SKIP
        {'insert': [(None, 'не')], 'delete': [], 'substitute': []}
    """
    out: dict[str, list[tuple[str | None, str | None]]] = {"insert": [], "delete": [], "substitute": []}
    for op, i, j in operations(first.lemmas, second.lemmas):
        if op != "equal":
            out[op].append((first.tokens[i] if i is not None else None, second.tokens[j] if j is not None else None))
    return out


def _partners(ops: list[tuple[str, int | None, int | None]], reverse: bool) -> list[tuple[int | None, int | None]]:
    """Per column, the steps to compare: an unpaired side takes the last step it read before (or None)."""
    out: list[tuple[int | None, int | None]] = [(None, None)] * len(ops)
    last_i = last_j = None
    order = range(len(ops) - 1, -1, -1) if reverse else range(len(ops))  # the reverse direction reads from the end
    for k in order:
        _, i, j = ops[k]
        out[k] = (last_i if i is None else i, last_j if j is None else j)
        last_i, last_j = out[k]
    return out


def difference_frame(
    first: TextAnalysis, second: TextAnalysis, quantity: str, layer: int = 0, direction: int = 0
) -> pd.DataFrame:
    """``second − first`` of one quantity at every aligned column, as a tidy frame.

    Every token of both texts has a column (see the module docstring): equal and substituted tokens are
    compared step by step; an inserted (deleted) token's state is compared with the other text's state
    before it, and its gates with nothing (NaN).

    Args:
        first, second: Analyses with the same cell and hidden size (e.g. two sentences, one model).
        quantity: A quantity both recorded (``forget``, ``cell``, ``hidden``, ...).
        layer, direction: Which layer and direction.

    Returns:
        Frame ``step, op, token, token_a, token_b, unit, value_a, value_b, value`` (``value`` = b − a);
        ``step`` counts the columns, ``op`` is one of :data:`OPERATIONS`, ``token`` the marked label
        (:func:`column_label`: ``+не``, ``−не``, ``france→germany`` or the equal token), ``token_a`` /
        ``token_b`` the texts' own tokens (None where that text has none).

    Raises:
        ValueError: when the models differ in cell or size.

    Example:
        >>> d = difference_frame(a_bad, a_not_bad, "hidden")  # doctest: +SKIP
        >>> list(d.drop_duplicates("step")["token"]), list(d.drop_duplicates("step")["op"])  # doctest: +SKIP
        (['Это', '+не', 'плохо'], ['equal', 'insert', 'equal'])
    """
    va, vb = first.values(quantity, layer, direction), second.values(quantity, layer, direction)  # (T, U)
    if first.cell != second.cell or va.shape[1] != vb.shape[1]:
        raise ValueError(
            f"cannot subtract {first.cell} x {va.shape[1]} from {second.cell} x {vb.shape[1]}; "
            "allowed: two analyses of the same cell and size"
        )
    U = va.shape[1]
    missing = np.full(U, np.nan)  # (U,) a side without a value at this column
    ops = operations(first.lemmas, second.lemmas)
    held = _partners(ops, reverse=direction == 1) if quantity in STATES else [(i, j) for _, i, j in ops]
    rows = []
    for k, ((op, i, j), (pi, pj)) in enumerate(zip(ops, held)):
        a_row = va[pi] if pi is not None else missing  # (U,)
        b_row = vb[pj] if pj is not None else missing
        token_a = first.tokens[i] if i is not None else None
        token_b = second.tokens[j] if j is not None else None
        rows.append(
            pd.DataFrame(
                {
                    "step": k,
                    "op": op,
                    "token": column_label(op, token_a, token_b),
                    "token_a": token_a,
                    "token_b": token_b,
                    "unit": np.arange(U),
                    "value_a": a_row,
                    "value_b": b_row,
                    "value": b_row - a_row,
                }
            )
        )
    cols = ["step", "op", "token", "token_a", "token_b", "unit", "value_a", "value_b", "value"]
    return pd.concat(rows, ignore_index=True) if rows else pd.DataFrame(columns=cols)
