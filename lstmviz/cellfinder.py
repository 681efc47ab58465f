"""Interpretable-cell finder: which units of a character model track quotes, brackets, word position, ...

:func:`char_features` turns a text into per-character features (Karpathy, Johnson, Fei-Fei 2015 looked for
cells like these); :func:`find_cells` records a character model on the text and correlates every unit's
cell state (LSTM) or hidden state (GRU, RNN) of every layer with every feature, ranked by |r|.
The feature at step t describes character t itself: the state after reading it.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np
import pandas as pd
import torch

from lstmviz.budget import DEFAULT_BUDGET, WorkBudget, check_work

__all__ = ["FEATURES", "char_features", "find_cells", "layer_states"]

FEATURES = (
    "in_quotes",
    "in_parens",
    "pos_in_word",
    "word_start",
    "word_end",
    "since_punct",
    "vowel",
    "consonant",
    "capital",
    "digit",
)
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


def layer_states(model: Any, ids: torch.Tensor, quantity: str) -> Iterator[torch.Tensor]:
    """One quantity (``"hidden"``, or ``"cell"`` for an LSTM) of each layer of a character model, ``(T, U)`` per
    layer, layer after layer: only that quantity is kept (a full :func:`lstmviz.record` keeps every gate of every
    layer, 6 numbers per unit and step for an LSTM). The values are the recorder's: the layer's output comes from
    PyTorch's kernel, the LSTM cell state c_t = f_t c_{t-1} + i_t g_t from it, 2,048 steps of gates at a time.

    Args:
        model: A :class:`lstmviz.charlm.CharLM` (not mutated).
        ids: ``(1, T)`` character ids.
        quantity: ``"hidden"``, or ``"cell"`` (LSTM only).

    Example:
        >>> from lstmviz.charlm import CharLM, CharLMConfig
        >>> m = CharLM(CharLMConfig(cell="lstm", vocab_size=5, hidden_size=3)).eval()
        >>> [v.shape for v in layer_states(m, torch.tensor([[2, 3, 4, 2]]), "cell")]
        [torch.Size([4, 3]), torch.Size([4, 3])]
    """
    rnn, cell = model.rnn, model.config.cell
    if quantity not in ("hidden", "cell") or (quantity == "cell" and cell != "lstm"):
        raise ValueError(f"quantity={quantity!r} is not kept for a {cell} model; allowed: hidden, or cell for lstm")
    kwargs = {"nonlinearity": rnn.nonlinearity} if cell == "rnn" else {}
    module = {"lstm": torch.nn.LSTM, "gru": torch.nn.GRU, "rnn": torch.nn.RNN}[cell]  # one layer, weights copied
    with torch.no_grad():
        x = model.embedding(ids)  # (1, T, E): the input of layer 0
        for layer in range(rnn.num_layers):
            names = [f"{kind}_{part}_l{layer}" for kind in ("weight", "bias") for part in ("ih", "hh")]
            params = {n.rsplit("_", 1)[0] + "_l0": getattr(rnn, n) for n in names if hasattr(rnn, n)}
            with torch.random.fork_rng(devices=[]):  # its random init must not move the global RNG; overwritten
                single = module(x.shape[-1], rnn.hidden_size, batch_first=True, **kwargs)
            single.load_state_dict(params)
            y, _ = single(x)  # (1, T, H)
            if quantity == "hidden":
                yield y[0]
            else:
                yield _lstm_cells(x[0], y[0], params)  # (T, H)
            x = y  # eval mode: no dropout between layers


_CHUNK = 2048  # steps whose gates exist at once while an LSTM layer's cell states are computed


def _lstm_cells(x: torch.Tensor, y: torch.Tensor, params: dict[str, torch.Tensor]) -> torch.Tensor:
    """Cell states ``(T, H)`` of one LSTM layer from its input ``x`` ``(T, I)`` and output ``y`` ``(T, H)`` (zero
    initial state), in PyTorch's gate order i, f, g, o; only ``_CHUNK`` steps of gates are held at a time."""
    T, H = y.shape
    hprev = torch.cat((y.new_zeros(1, H), y[:-1]))  # h_{t-1}
    cells = torch.empty_like(y)
    out = cells.numpy()  # the same memory: filled step by step in NumPy (a few microseconds a step)
    prev = np.zeros(H, dtype=out.dtype)
    for t0 in range(0, T, _CHUNK):
        a = torch.nn.functional.linear(x[t0 : t0 + _CHUNK], params["weight_ih_l0"], params.get("bias_ih_l0"))
        a += torch.nn.functional.linear(hprev[t0 : t0 + _CHUNK], params["weight_hh_l0"], params.get("bias_hh_l0"))
        f = torch.sigmoid(a[:, H : 2 * H]).numpy()
        ig = (torch.sigmoid(a[:, :H]) * torch.tanh(a[:, 2 * H : 3 * H])).numpy()
        for k in range(f.shape[0]):
            np.multiply(f[k], prev, out=out[t0 + k])
            out[t0 + k] += ig[k]
            prev = out[t0 + k]
    return cells


def find_cells(
    model: Any,
    chars: Sequence[str],
    text: str,
    features: Sequence[str] = FEATURES,
    budget: WorkBudget | None = DEFAULT_BUDGET,
    name: str = "model",
) -> pd.DataFrame:
    """Pearson correlation of every unit of every layer with every feature over ``text``, ranked by |r|.

    Args:
        model: A :class:`lstmviz.charlm.CharLM` (not mutated).
        chars: Its vocabulary.
        text: Held-out text (at least 2 characters).
        features: Names from :data:`FEATURES`.
        budget: Refuses, before any work, a text and model whose kept states (units × layers × characters) are
            above ``budget.max_values`` (:func:`lstmviz.budget.check_work`); None: unchecked.
        name: The model's name in that refusal.

    Returns:
        Frame ``feature, layer, unit, quantity, r, abs_r, rank`` (rank 1 = the best unit for the feature
        over all layers); a constant feature gets ``r = NaN`` and no rank.

    Example:
        >>> find_cells(model, chars, text).query("rank == 1")  # doctest: +SKIP
    """
    from lstmviz.charlm import encode_chars

    bad = [f for f in features if f not in FEATURES]
    if bad:
        raise ValueError(f"unknown features {bad}; allowed: {', '.join(FEATURES)}")
    if len(text) < 2:
        raise ValueError("text must hold at least 2 characters")
    if budget is not None:
        cfg = model.config
        check_work(name, cfg.hidden_size, cfg.num_layers, 1, len(text), 1, budget, what="cell finder")
    ids = encode_chars(text, chars).unsqueeze(0)  # (1, T)
    quantity = "cell" if model.config.cell == "lstm" else "hidden"
    feats = char_features(text)[list(features)].to_numpy(dtype=np.float64)  # (T, F)
    fz = feats - feats.mean(0)
    fn = np.linalg.norm(fz, axis=0)  # (F,)
    rows = []
    for layer, v in enumerate(layer_states(model, ids, quantity)):
        v = v.numpy().astype(np.float64)  # (T, U)
        vz = v - v.mean(0)
        vn = np.linalg.norm(vz, axis=0)  # (U,)
        with np.errstate(divide="ignore", invalid="ignore"):
            r = (fz.T @ vz) / np.outer(fn, vn)  # (F, U)
        r[~np.isfinite(r)] = np.nan
        for i, name in enumerate(features):
            rows.append(
                pd.DataFrame(
                    {"feature": name, "layer": layer, "unit": np.arange(v.shape[1]), "quantity": quantity, "r": r[i]}
                )
            )
    out = pd.concat(rows, ignore_index=True)
    out["abs_r"] = out["r"].abs()
    out["rank"] = out.groupby("feature")["abs_r"].rank(ascending=False, method="first")
    return out.sort_values(["feature", "rank"], ignore_index=True)
