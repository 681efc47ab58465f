"""Two analyses side by side: tokens aligned, and the difference of every gate and state (B − A).

Two sentences through one model («Это плохо.» / «Это не плохо.»), or one sentence through two models
of the same cell and size. Tokens are aligned by their model-facing strings (lemmas) with
``difflib.SequenceMatcher``: the pairs that match are compared step by step, so the token a sentence
adds («не») shows where the states start to differ, not as a shift of everything after it.
"""

from __future__ import annotations

import difflib
from collections.abc import Sequence

import numpy as np
import pandas as pd

from lstmviz.sentence import TextAnalysis

__all__ = ["align", "difference_frame", "inserted_tokens"]


def align(a: Sequence[str], b: Sequence[str]) -> list[tuple[int, int]]:
    """Index pairs ``(i, j)`` of equal tokens of ``a`` and ``b``, in order (longest matching blocks).

    Example:
        >>> align(["это", "плохо"], ["это", "не", "плохо"])
        [(0, 0), (1, 2)]
    """
    matcher = difflib.SequenceMatcher(a=list(a), b=list(b), autojunk=False)
    return [(blk.a + k, blk.b + k) for blk in matcher.get_matching_blocks() for k in range(blk.size)]


def inserted_tokens(a: Sequence[str], b: Sequence[str]) -> list[int]:
    """Indices of tokens of ``b`` that have no partner in ``a`` (e.g. the «не» of a negation).

    Example:
        >>> inserted_tokens(["это", "плохо"], ["это", "не", "плохо"])
        [1]
    """
    matched = {j for _, j in align(a, b)}
    return [j for j in range(len(b)) if j not in matched]


def difference_frame(
    first: TextAnalysis, second: TextAnalysis, quantity: str, layer: int = 0, direction: int = 0
) -> pd.DataFrame:
    """``second − first`` of one quantity at every aligned token pair, as a tidy frame.

    Args:
        first, second: Analyses with the same cell and hidden size (e.g. two sentences, one model).
        quantity: A quantity both recorded (``forget``, ``cell``, ``hidden``, ...).
        layer, direction: Which layer and direction.

    Returns:
        Frame ``step, token, unit, value_a, value_b, value`` (``value`` = b − a); ``step`` counts the
        aligned pairs, ``token`` is the second text's token.

    Raises:
        ValueError: when the models differ in cell or size.

    Example:
        >>> difference_frame(a_bad, a_not_bad, "hidden")["value"].abs().max()  # doctest: +SKIP
        0.83
    """
    va, vb = first.values(quantity, layer, direction), second.values(quantity, layer, direction)  # (T, U)
    if first.cell != second.cell or va.shape[1] != vb.shape[1]:
        raise ValueError(
            f"cannot subtract {first.cell} x {va.shape[1]} from {second.cell} x {vb.shape[1]}; "
            "allowed: two analyses of the same cell and size"
        )
    pairs = align(first.lemmas, second.lemmas)
    U = va.shape[1]
    rows = []
    for k, (i, j) in enumerate(pairs):
        rows.append(
            pd.DataFrame(
                {
                    "step": k,
                    "token": second.tokens[j],
                    "unit": np.arange(U),
                    "value_a": va[i],
                    "value_b": vb[j],
                    "value": vb[j] - va[i],
                }
            )
        )
    cols = ["step", "token", "unit", "value_a", "value_b", "value"]
    return pd.concat(rows, ignore_index=True) if rows else pd.DataFrame(columns=cols)
