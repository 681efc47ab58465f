"""Interpretable-cell finder: which units of a character model track quotes, brackets, word position, ...

:func:`char_features` turns a text into per-character features (Karpathy, Johnson, Fei-Fei 2015 looked for
cells like these); :func:`find_cells` records a character model on the text and correlates every unit's
cell state (LSTM) or hidden state (GRU, RNN) of every layer with every feature, ranked by |r|.
The feature at step t describes character t itself: the state after reading it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
import torch

__all__ = ["FEATURES", "char_features", "find_cells"]

FEATURES = ("in_quotes", "in_parens", "pos_in_word", "word_start", "word_end", "since_punct", "vowel",
            "consonant", "capital", "digit")  # fmt: skip
_VOWELS = set("аеёиоуыэюяaeiouy")
_PUNCT = set(".,;:!?…—-")


def char_features(text: str) -> pd.DataFrame:
    """Per-character features: one row per character of ``text``, one column per name in :data:`FEATURES`.

    ``in_quotes``: inside «…» (nesting counted) or "…" (toggling), the quote marks themselves excluded;
    ``in_parens``: inside (…); ``pos_in_word``: 1, 2, … for the letters of a word, 0 elsewhere;
    ``word_start`` / ``word_end``: first / last letter of a word; ``since_punct``: characters since the
    last punctuation mark (from the start of the text before the first one); ``vowel`` / ``consonant``
    (Russian and Latin letters), ``capital``, ``digit``: 0/1.

    Example:
        >>> char_features("«Да» (нет)")[["in_quotes", "in_parens", "pos_in_word"]].to_numpy().T.tolist()
        [[0, 1, 1, 0, 0, 0, 0, 0, 0, 0], [0, 0, 0, 0, 0, 0, 1, 1, 1, 0], [0, 1, 2, 0, 0, 0, 1, 2, 3, 0]]
    """
    n = len(text)
    f = {name: np.zeros(n, dtype=np.int64) for name in FEATURES}
    guillemets, straight, parens, since, pos = 0, False, 0, 0, 0
    for t, ch in enumerate(text):
        if ch == "«":
            guillemets += 1
        elif ch == "»":
            guillemets = max(0, guillemets - 1)
        elif ch == '"':
            straight = not straight
        elif ch == "(":
            parens += 1
        elif ch == ")":
            parens = max(0, parens - 1)
        else:
            f["in_quotes"][t] = int(guillemets > 0 or straight)
            f["in_parens"][t] = int(parens > 0)
        letter = ch.isalpha()
        pos = pos + 1 if letter else 0
        f["pos_in_word"][t] = pos
        f["word_start"][t] = int(letter and pos == 1)
        f["word_end"][t] = int(letter and (t + 1 == n or not text[t + 1].isalpha()))
        since = 0 if ch in _PUNCT else since + 1
        f["since_punct"][t] = since
        low = ch.lower()
        f["vowel"][t] = int(letter and low in _VOWELS)
        f["consonant"][t] = int(letter and low not in _VOWELS)
        f["capital"][t] = int(letter and ch.isupper())
        f["digit"][t] = int(ch.isdigit())
    return pd.DataFrame(f)


def find_cells(model: Any, chars: Sequence[str], text: str, features: Sequence[str] = FEATURES) -> pd.DataFrame:
    """Pearson correlation of every unit of every layer with every feature over ``text``, ranked by |r|.

    Args:
        model: A :class:`lstmviz.charlm.CharLM` (not mutated).
        chars: Its vocabulary.
        text: Held-out text (at least 2 characters).
        features: Names from :data:`FEATURES`.

    Returns:
        Frame ``feature, layer, unit, quantity, r, abs_r, rank`` (rank 1 = the best unit for the feature
        over all layers); a constant feature gets ``r = NaN`` and no rank.

    Example:
        >>> find_cells(model, chars, text).query("rank == 1")  # doctest: +SKIP
    """
    import lstmviz
    from lstmviz.charlm import encode_chars

    bad = [f for f in features if f not in FEATURES]
    if bad:
        raise ValueError(f"unknown features {bad}; allowed: {', '.join(FEATURES)}")
    if len(text) < 2:
        raise ValueError("text must hold at least 2 characters")
    ids = encode_chars(text, chars).unsqueeze(0)  # (1, T)
    with torch.no_grad(), lstmviz.record(model) as rec:
        model(ids)
    quantity = "cell" if model.config.cell == "lstm" else "hidden"
    feats = char_features(text)[list(features)].to_numpy(dtype=np.float64)  # (T, F)
    fz = feats - feats.mean(0)
    fn = np.linalg.norm(fz, axis=0)  # (F,)
    rows = []
    for layer in range(model.config.num_layers):
        v = rec[lstmviz.make_key("rnn", layer, 0, quantity)][0].numpy().astype(np.float64)  # (T, U)
        vz = v - v.mean(0)
        vn = np.linalg.norm(vz, axis=0)  # (U,)
        with np.errstate(divide="ignore", invalid="ignore"):
            r = (fz.T @ vz) / np.outer(fn, vn)  # (F, U)
        r[~np.isfinite(r)] = np.nan
        for i, name in enumerate(features):
            rows.append(pd.DataFrame({"feature": name, "layer": layer, "unit": np.arange(v.shape[1]),
                                      "quantity": quantity, "r": r[i]}))  # fmt: skip
    out = pd.concat(rows, ignore_index=True)
    out["abs_r"] = out["r"].abs()
    out["rank"] = out.groupby("feature")["abs_r"].rank(ascending=False, method="first")
    return out.sort_values(["feature", "rank"], ignore_index=True)
