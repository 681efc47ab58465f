"""Interpretable-cell finder: which units of a character model track quotes, brackets, word position, ...

:func:`char_features` turns a text into per-character features (Karpathy, Johnson, Fei-Fei 2015 looked for
cells like these); :func:`find_cells` records a character model on the text and correlates every unit's
cell state (LSTM) or hidden state (GRU, RNN) of every layer with every feature, ranked by |r|.
The feature at step t describes character t itself: the state after reading it.

Sentence by sentence: the corpus streams join sentences with newlines (:mod:`lstmviz.chardata`), and the models
were trained on 128-character windows from a zero state. So the finder reads each sentence (its characters and
its closing newline, :func:`sentence_spans`) as a sequence of its own, from a zero state, and the features start
afresh at each sentence too: an unclosed bracket or quote ends with its sentence. One 20,000-character sequence
would instead show the models states they never met in training (the LSTM's layer-1 |c| drifts to about 11,000),
and one unclosed "(" would mark most of the text as "inside brackets". The correlation then runs over all
characters of all sentences.

:func:`slice_study` repeats the finder on disjoint held-out slices (:func:`held_out_slices`) and reports, per
feature, whether the best unit on one slice is the best on the other and how far its r moves;
``python -m lstmviz.cellfinder`` writes it for the shipped models to ``results/cellfinder.json`` and ``.md``
(the README's table, :func:`study_table`).
"""

from __future__ import annotations

import argparse
import json
import math
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from lstmviz.budget import DEFAULT_BUDGET, WorkBudget, check_work

__all__ = [
    "FEATURES",
    "FEATURE_LABELS",
    "SENTENCE_END",
    "SLICE_CHARS",
    "char_features",
    "find_cells",
    "held_out_slices",
    "layer_states",
    "main",
    "run_study",
    "sentence_spans",
    "sentence_states",
    "slice_study",
    "study_markdown",
    "study_table",
]

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
# The README's names and row order.
FEATURE_LABELS = {
    "pos_in_word": "position in the word",
    "vowel": "vowel",
    "consonant": "consonant",
    "word_start": "word start",
    "word_end": "word end",
    "since_punct": "characters since punctuation",
    "capital": "capital letter",
    "digit": "digit",
    "in_quotes": "inside quotes",
    "in_parens": "inside brackets",
}
SENTENCE_END = "\n"  # the corpus streams join sentences with it (lstmviz.chardata)
SLICE_CHARS = 20_000  # characters of each held-out slice (the Generation view reads the first such slice)
_VOWELS = set("аеёиоуыэюяaeiouy")
_PUNCT = set(".,;:!?…—-")


def sentence_spans(text: str) -> list[tuple[int, int]]:
    """``(start, stop)`` of each sentence of ``text``: a sentence runs up to and including its newline; a last
    piece without one is a sentence too.

    Example:
        >>> sentence_spans("Да.\\nНет\\n(а")
        [(0, 4), (4, 8), (8, 10)]
    """
    if not isinstance(text, str):
        raise TypeError(f"text must be a str, got {type(text).__name__}")
    spans, start = [], 0
    while start < len(text):
        end = text.find(SENTENCE_END, start)
        stop = len(text) if end < 0 else end + 1
        spans.append((start, stop))
        start = stop
    return spans


def char_features(text: str) -> pd.DataFrame:
    """Per-character features: one row per character of ``text``, one column per name in :data:`FEATURES`.

    ``in_quotes``: inside «…» (nesting counted) or "…" (toggling), the quote marks themselves excluded;
    ``in_parens``: inside (…); ``pos_in_word``: 1, 2, … for the letters of a word, 0 elsewhere;
    ``word_start`` / ``word_end``: first / last letter of a word; ``since_punct``: characters since the
    last punctuation mark (from the start of the sentence before its first one); ``vowel`` / ``consonant``
    (Russian and Latin letters), ``capital``, ``digit``: 0/1.

    A newline ends a sentence: quotes and brackets still open there are closed (the newline itself is inside
    neither) and ``since_punct`` counts again from the next character, so the features of a text are those of
    its sentences (:func:`sentence_spans`) one after the other.

    Example:
        >>> char_features("«Да» (нет)")[["in_quotes", "in_parens", "pos_in_word"]].to_numpy().T.tolist()
        [[0, 1, 1, 0, 0, 0, 0, 0, 0, 0], [0, 0, 0, 0, 0, 0, 1, 1, 1, 0], [0, 1, 2, 0, 0, 0, 1, 2, 3, 0]]
        >>> char_features("(а\\nб")["in_parens"].tolist()  # the bracket closes with its sentence
        [0, 1, 0, 0]
    """
    if not isinstance(text, str):
        raise TypeError(f"text must be a str, got {type(text).__name__}")
    n = len(text)
    f = {name: np.zeros(n, dtype=np.int64) for name in FEATURES}
    guillemets, straight, parens, since, pos = 0, False, 0, 0, 0
    for t, ch in enumerate(text):
        if ch == SENTENCE_END:  # the sentence ends: nothing stays open into the next one
            guillemets, straight, parens = 0, False, 0
        elif ch == "«":
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
        since = 0 if ch in _PUNCT or ch == SENTENCE_END else since + 1
        f["since_punct"][t] = since
        low = ch.lower()
        f["vowel"][t] = int(letter and low in _VOWELS)
        f["consonant"][t] = int(letter and low not in _VOWELS)
        f["capital"][t] = int(letter and ch.isupper())
        f["digit"][t] = int(ch.isdigit())
    return pd.DataFrame(f)


def _check_quantity(model: Any, quantity: str) -> None:
    cell = model.config.cell
    if quantity not in ("hidden", "cell") or (quantity == "cell" and cell != "lstm"):
        raise ValueError(f"quantity={quantity!r} is not kept for a {cell} model; allowed: hidden, or cell for lstm")


def _single_layers(model: Any) -> list[tuple[torch.nn.Module, dict[str, torch.Tensor]]]:
    """Each layer of ``model.rnn`` as a one-layer module of its own (weights copied) and its parameters."""
    rnn, cell = model.rnn, model.config.cell
    kwargs = {"nonlinearity": rnn.nonlinearity} if cell == "rnn" else {}
    module = {"lstm": torch.nn.LSTM, "gru": torch.nn.GRU, "rnn": torch.nn.RNN}[cell]
    layers = []
    for layer in range(rnn.num_layers):
        names = [f"{kind}_{part}_l{layer}" for kind in ("weight", "bias") for part in ("ih", "hh")]
        params = {n.rsplit("_", 1)[0] + "_l0": getattr(rnn, n) for n in names if hasattr(rnn, n)}
        size = rnn.input_size if layer == 0 else rnn.hidden_size
        with torch.random.fork_rng(devices=[]):  # its random init must not move the global RNG; overwritten
            single = module(size, rnn.hidden_size, batch_first=True, **kwargs)
        single.load_state_dict(params)
        layers.append((single, params))
    return layers


def _batch_states(
    layers: list[tuple[torch.nn.Module, dict[str, torch.Tensor]]], x: torch.Tensor, quantity: str
) -> Iterator[torch.Tensor]:
    """``(B, T, H)`` per layer for the embedded batch ``x`` ``(B, T, E)``, each sequence from a zero state."""
    for single, params in layers:
        y, _ = single(x)  # (B, T, H)
        yield y if quantity == "hidden" else _lstm_cells(x, y, params)
        x = y  # eval mode: no dropout between layers


def layer_states(model: Any, ids: torch.Tensor, quantity: str) -> Iterator[torch.Tensor]:
    """One quantity (``"hidden"``, or ``"cell"`` for an LSTM) of each layer of a character model, ``(T, U)`` per
    layer, layer after layer: only that quantity is kept (a full :func:`lstmviz.record` keeps every gate of every
    layer, 6 numbers per unit and step for an LSTM). The values are the recorder's: the layer's output comes from
    PyTorch's kernel, the LSTM cell state c_t = f_t c_{t-1} + i_t g_t from it, 2,048 steps of gates at a time.
    One sequence from a zero state; :func:`sentence_states` restarts at every sentence.

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
    _check_quantity(model, quantity)
    if ids.dim() != 2 or ids.shape[0] != 1:
        raise ValueError(f"ids must be (1, T), got shape {tuple(ids.shape)}")
    with torch.no_grad():
        for v in _batch_states(_single_layers(model), model.embedding(ids), quantity):
            yield v[0]


_CHUNK = 2048  # steps (summed over a batch, padding included) whose gates or inputs exist at once


def _lstm_cells(x: torch.Tensor, y: torch.Tensor, params: dict[str, torch.Tensor]) -> torch.Tensor:
    """Cell states ``(B, T, H)`` of one LSTM layer from its input ``x`` ``(B, T, I)`` and output ``y`` ``(B, T, H)``
    (zero initial state), in PyTorch's gate order i, f, g, o; only ``_CHUNK`` steps of gates are held at a time."""
    B, T, H = y.shape
    hprev = torch.cat((y.new_zeros(B, 1, H), y[:, :-1]), dim=1)  # h_{t-1}
    cells = torch.empty(T, B, H, dtype=y.dtype)
    out = cells.numpy()  # the same memory: filled step by step in NumPy (a few microseconds a step)
    prev = np.zeros((B, H), dtype=out.dtype)
    span = max(1, _CHUNK // B)
    for t0 in range(0, T, span):
        a = torch.nn.functional.linear(x[:, t0 : t0 + span], params["weight_ih_l0"], params.get("bias_ih_l0"))
        a += torch.nn.functional.linear(hprev[:, t0 : t0 + span], params["weight_hh_l0"], params.get("bias_hh_l0"))
        a = a.transpose(0, 1)  # (steps, B, 4H)
        f = torch.sigmoid(a[..., H : 2 * H]).numpy()
        ig = (torch.sigmoid(a[..., :H]) * torch.tanh(a[..., 2 * H : 3 * H])).numpy()
        for k in range(f.shape[0]):
            np.multiply(f[k], prev, out=out[t0 + k])
            out[t0 + k] += ig[k]
            prev = out[t0 + k]
    return cells.transpose(0, 1)


def _batches(lengths: Sequence[int], max_steps: int) -> Iterator[list[int]]:
    """Indices of ``lengths``, shortest first, in groups whose padded size (count × longest) is at most
    ``max_steps`` (a longer sequence alone)."""
    group: list[int] = []
    for k in sorted(range(len(lengths)), key=lambda i: lengths[i]):
        if group and (len(group) + 1) * lengths[k] > max_steps:
            yield group
            group = []
        group.append(k)
    if group:
        yield group


def sentence_states(
    model: Any, chars: Sequence[str], text: str, quantity: str, max_steps: int = _CHUNK
) -> list[torch.Tensor]:
    """:func:`layer_states` sentence by sentence: the model starts from a zero state at every sentence of ``text``
    (:func:`sentence_spans`); one ``(len(text), U)`` tensor per layer, row t the state after character t.

    Sentences of similar length run as one right-padded batch (padding comes after a sentence, so it never
    reaches the sentence's own steps), at most ``max_steps`` padded steps at a time.

    Args:
        model: A :class:`lstmviz.charlm.CharLM` (not mutated).
        chars: Its vocabulary (:func:`lstmviz.charlm.encode_chars`).
        text: Any text; an empty one gives ``(0, U)`` tensors.
        quantity: ``"hidden"``, or ``"cell"`` (LSTM only).
        max_steps: Padded steps per batch (at least 1).

    Example:
        >>> from lstmviz.charlm import CharLM, CharLMConfig
        >>> m = CharLM.seeded(CharLMConfig(cell="gru", vocab_size=4, hidden_size=3), 0).eval()
        >>> a, b = sentence_states(m, ["<pad>", "<unk>", "а", "\\n"], "аа\\nа", "hidden")
        >>> a.shape, torch.equal(a[3], a[0])  # the second sentence starts from zero again
        (torch.Size([4, 3]), True)
    """
    from lstmviz.charlm import encode_chars

    _check_quantity(model, quantity)
    if not isinstance(max_steps, int) or isinstance(max_steps, bool) or max_steps < 1:
        raise ValueError(f"max_steps={max_steps!r} is invalid; allowed: an integer >= 1")
    spans = sentence_spans(text)
    ids = encode_chars(text, chars)
    lengths = [stop - start for start, stop in spans]
    dtype = model.embedding.weight.dtype
    out = [torch.empty(len(text), model.config.hidden_size, dtype=dtype) for _ in range(model.config.num_layers)]
    layers = _single_layers(model)
    with torch.no_grad():
        for group in _batches(lengths, max_steps):
            batch = ids.new_zeros(len(group), max(lengths[k] for k in group))  # padding: <pad>, after the sentence
            for b, k in enumerate(group):
                batch[b, : lengths[k]] = ids[spans[k][0] : spans[k][1]]
            for layer, v in enumerate(_batch_states(layers, model.embedding(batch), quantity)):
                for b, k in enumerate(group):
                    out[layer][spans[k][0] : spans[k][1]] = v[b, : lengths[k]]
    return out


def find_cells(
    model: Any,
    chars: Sequence[str],
    text: str,
    features: Sequence[str] = FEATURES,
    budget: WorkBudget | None = DEFAULT_BUDGET,
    name: str = "model",
) -> pd.DataFrame:
    """Pearson correlation of every unit of every layer with every feature over ``text``, ranked by |r|.

    The model reads ``text`` sentence by sentence, each from a zero state (:func:`sentence_states`), and the
    features restart at each sentence too (:func:`char_features`); r runs over all characters of all sentences,
    so the order of the sentences does not matter.

    Args:
        model: A :class:`lstmviz.charlm.CharLM` (not mutated).
        chars: Its vocabulary.
        text: Held-out text (at least 2 characters), sentences separated by newlines.
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
    if isinstance(features, str):
        raise TypeError(f"features must be a sequence of names, got the string {features!r}")
    bad = [f for f in features if f not in FEATURES]
    if bad:
        raise ValueError(f"unknown features {bad}; allowed: {', '.join(FEATURES)}")
    if not isinstance(text, str):
        raise TypeError(f"text must be a str, got {type(text).__name__}")
    if len(text) < 2:
        raise ValueError("text must hold at least 2 characters")
    if budget is not None:
        cfg = model.config
        check_work(name, cfg.hidden_size, cfg.num_layers, 1, len(text), 1, budget, what="cell finder")
    quantity = "cell" if model.config.cell == "lstm" else "hidden"
    feats = char_features(text)[list(features)].to_numpy(dtype=np.float64)  # (T, F)
    fz = feats - feats.mean(0)
    fn = np.linalg.norm(fz, axis=0)  # (F,)
    rows = []
    for layer, v in enumerate(sentence_states(model, chars, text, quantity)):
        v = v.numpy().astype(np.float64)  # (T, U)
        vz = v - v.mean(0)
        vn = np.linalg.norm(vz, axis=0)  # (U,)
        with np.errstate(divide="ignore", invalid="ignore"):
            r = (fz.T @ vz) / np.outer(fn, vn)  # (F, U)
        r[~np.isfinite(r)] = np.nan
        for i, feature in enumerate(features):
            rows.append(
                pd.DataFrame(
                    {"feature": feature, "layer": layer, "unit": np.arange(v.shape[1]), "quantity": quantity, "r": r[i]}
                )
            )
    out = pd.concat(rows, ignore_index=True)
    out["abs_r"] = out["r"].abs()
    out["rank"] = out.groupby("feature")["abs_r"].rank(ascending=False, method="first")
    return out.sort_values(["feature", "rank"], ignore_index=True)


# ----- the same finder on disjoint held-out slices ------------------------------------------------------------


def held_out_slices(data: Any, size: int = SLICE_CHARS, count: int = 2) -> list[tuple[int, str]]:
    """``count`` disjoint slices of ``size`` characters of the test stream, as ``(start, text)``.

    The first is the stream's first ``size`` characters (the text the Generation view reads); each next one
    starts at the first sentence start after the end of the one before, so no slice begins inside a sentence
    (a slice may end inside one: the features and states of a sentence's beginning do not depend on its rest,
    except ``word_end`` of its very last letter). Characters the vocabulary lacks read as ``?``.

    Args:
        data: A :class:`lstmviz.chardata.CharData`.
        size: Characters per slice (at least 2).
        count: Number of slices (at least 1).

    Raises:
        ValueError: for a size or count out of range, or a test stream too short for them.

    Example:
        >>> from lstmviz.chardata import CharData
        >>> chars = ["<pad>", "<unk>", "а", "\\n"]
        >>> ids = torch.tensor([2, 2, 3, 2, 2, 2, 3, 2, 3, 2, 2, 3])  # "аа\\nааа\\nа\\nаа\\n"
        >>> d = CharData(chars, ids, ids, ids)
        >>> held_out_slices(d, size=3, count=2)
        [(0, 'аа\\n'), (3, 'ааа')]
    """
    if not hasattr(data, "chars") or not isinstance(getattr(data, "test", None), torch.Tensor):
        raise TypeError(f"data must be a CharData (lstmviz.chardata.prepare_chars), got {type(data).__name__}")
    for label, value, low in (("size", size, 2), ("count", count, 1)):
        if not isinstance(value, int) or isinstance(value, bool) or value < low:
            raise ValueError(f"{label}={value!r} is invalid; allowed: an integer >= {low}")
    stream = "".join(data.chars[i] if i > 1 else "?" for i in data.test.tolist())
    slices, start = [], 0
    for k in range(count):
        if k:
            end = stream.find(SENTENCE_END, slices[-1][0] + size - 1)  # the newline ending the previous slice's
            start = len(stream) if end < 0 else end + 1  # last sentence (or the slice's own last character)
        if start + size > len(stream):
            raise ValueError(
                f"the test stream has {len(stream):,} characters: too few for {count} disjoint slices of {size:,} "
                f"(slice {k + 1} would end at character {start + size:,})"
            )
        slices.append((start, stream[start : start + size]))
    return slices


def _best(cells: pd.DataFrame, feature: str) -> pd.Series | None:
    best = cells[(cells["feature"] == feature) & (cells["rank"] == 1)]
    return None if best.empty else best.iloc[0]


def _r_of(cells: pd.DataFrame, feature: str, layer: int, unit: int) -> float | None:
    row = cells[(cells["feature"] == feature) & (cells["layer"] == layer) & (cells["unit"] == unit)]
    r = float(row["r"].iloc[0])
    return None if math.isnan(r) else round(r, 4)


def slice_study(
    models: Mapping[str, tuple[Any, Sequence[str]]],
    slices: Sequence[tuple[str, int, str]],
    features: Sequence[str] = FEATURES,
) -> dict[str, Any]:
    """:func:`find_cells` for every model on every slice, and per feature how the best unit holds across slices.

    Args:
        models: ``name -> (model, chars)``.
        slices: ``(name, start, text)`` per slice, e.g. ``("A", 0, text)``; at least 2, names distinct.
        features: Names from :data:`FEATURES`.

    Returns:
        A JSON-ready dict: ``slices`` (name, start, characters, sentences, share of characters per binary
        feature), and ``models[name]["features"][feature][slice]``: the best unit on that slice (``layer``,
        ``unit``, ``r``, the runner-up's ``|r|``) with ``r_on`` (its r on every slice), plus ``same_unit`` (one
        unit best on every slice) and ``spread`` (the largest change of a best unit's r between slices). r is
        rounded to 4 decimals; a feature constant on a slice has ``None`` there.

    Example:
        >>> from lstmviz.charlm import CharLM, CharLMConfig
        >>> chars = ["<pad>", "<unk>"] + list(" аб(\\n")
        >>> m = CharLM.seeded(CharLMConfig(cell="rnn", vocab_size=len(chars), hidden_size=4), 0).eval()
        >>> s = slice_study({"rnn": (m, chars)}, [("A", 0, "аб (ба\\nба\\n"), ("B", 9, "ааб\\n(б\\n")])
        >>> sorted(s["models"]["rnn"]["features"]["vowel"]), s["slices"][1]["sentences"]
        (['A', 'B', 'same_unit', 'spread'], 2)
    """
    names = [s[0] for s in slices]
    if len(slices) < 2 or len(set(names)) != len(names):
        raise ValueError(f"slice_study needs at least 2 slices with distinct names, got {names}")
    if not models:
        raise ValueError("slice_study needs at least one model")
    binary = [f for f in features if f not in ("pos_in_word", "since_punct")]
    study: dict[str, Any] = {"slices": [], "features": list(features), "models": {}}
    for name, start, text in slices:
        feats = char_features(text)
        study["slices"].append(
            {
                "name": name,
                "start": start,
                "characters": len(text),
                "sentences": len(sentence_spans(text)),
                "share": {f: round(float(feats[f].mean()), 4) for f in binary},
            }
        )
    for model_name, (model, chars) in models.items():
        found = {s: find_cells(model, chars, text, features, name=model_name) for s, _, text in slices}
        per_feature = {}
        for feature in features:
            entry: dict[str, Any] = {}
            for s in names:
                best = _best(found[s], feature)
                if best is None:
                    entry[s] = None
                    continue
                layer, unit = int(best["layer"]), int(best["unit"])
                ranked = found[s][found[s]["feature"] == feature]["abs_r"].dropna()
                entry[s] = {
                    "layer": layer,
                    "unit": unit,
                    "r": round(float(best["r"]), 4),
                    "runner_up_abs_r": round(float(ranked.iloc[1]), 4) if len(ranked) > 1 else None,
                    "r_on": {o: _r_of(found[o], feature, layer, unit) for o in names},
                }
            units = {(e["layer"], e["unit"]) if e else None for e in (entry[s] for s in names)}
            entry["same_unit"] = len(units) == 1 and None not in units
            changes = [
                abs(a - b)
                for e in (entry[s] for s in names)
                if e
                for a in e["r_on"].values()
                for b in e["r_on"].values()
                if a is not None and b is not None
            ]
            entry["spread"] = round(max(changes), 4) if changes else None
            per_feature[feature] = entry
        quantity = "cell" if model.config.cell == "lstm" else "hidden"
        study["models"][model_name] = {"cell": model.config.cell, "quantity": quantity, "features": per_feature}
    return study


def _signed(r: float | None) -> str:
    return "-" if r is None else f"{r:+.2f}".replace("-", "−")  # the README's typographic minus


def study_table(study: dict[str, Any]) -> str:
    """The README's markdown table of a two-slice :func:`slice_study`: per feature and model, the best unit on the
    first slice (``layer, unit``), its r on the first / second slice, and the second slice's best unit where it
    is another one.

    Example:
        >>> u = {"layer": 0, "unit": 3, "r": 0.5, "r_on": {"A": 0.5, "B": 0.42}}
        >>> v = {"layer": 1, "unit": 7, "r": -0.6, "r_on": {"A": -0.3, "B": -0.6}}
        >>> s = {"slices": [{"name": "A"}, {"name": "B"}], "features": ["vowel"],
        ...      "models": {"gru": {"features": {"vowel": {"A": u, "B": v, "same_unit": False}}}}}
        >>> print(study_table(s), end="")
        | feature | GRU: layer, unit: r on A / B |
        |---|---|
        | vowel | 0, 3: +0.50 / +0.42 (B: 1, 7: −0.60) |
    """
    if len(study["slices"]) != 2:
        raise ValueError(f"study_table shows 2 slices, the study has {len(study['slices'])}")
    a, b = (s["name"] for s in study["slices"])
    models = list(study["models"])
    header = [
        "feature",
        *(f"{m.upper()}: layer, unit: r on {a} / {b}" if k == 0 else m.upper() for k, m in enumerate(models)),
    ]
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    order = [f for f in FEATURE_LABELS if f in study["features"]]
    for feature in order:
        row = [FEATURE_LABELS[feature]]
        for m in models:
            e = study["models"][m]["features"][feature]
            if e[a] is None:
                row.append("- (constant on " + a + ")")
                continue
            text = f"{e[a]['layer']}, {e[a]['unit']}: {_signed(e[a]['r_on'][a])} / {_signed(e[a]['r_on'][b])}"
            if not e["same_unit"]:
                other = e[b]
                text += f" ({b}: {other['layer']}, {other['unit']}: {_signed(other['r'])})" if other else f" ({b}: -)"
            row.append(text)
        lines.append("| " + " | ".join(row) + " |")
    return "\n".join(lines) + "\n"


def study_markdown(study: dict[str, Any]) -> str:
    """The study as markdown: the README's table (:func:`study_table`), the slices, and per model and feature
    the best unit of each slice with its r on both, whether it is the same unit, and the spread.

    Example:
        >>> from lstmviz.charlm import CharLM, CharLMConfig
        >>> chars = ["<pad>", "<unk>"] + list(" аб\\n")
        >>> m = CharLM.seeded(CharLMConfig(cell="gru", vocab_size=len(chars), hidden_size=4), 0).eval()
        >>> s = slice_study({"gru": (m, chars)}, [("A", 0, "аб ба\\nб\\n"), ("B", 8, "ба аб\\nа\\n")])
        >>> study_markdown(s).splitlines()[0]
        '# Interpretable units on two held-out slices'
    """
    a, b = (s["name"] for s in study["slices"])
    out = ["# Interpretable units on two held-out slices", ""]
    if study.get("command"):
        out += [f"Written by `{study['command']}`.", ""]
    out += [
        "Each sentence is read from a zero state and the features restart at each sentence "
        "(`lstmviz.cellfinder.find_cells`); Pearson r of the LSTM's cell state, the GRU's and RNN's hidden state.",
        "",
        study_table(study).rstrip("\n"),
        "",
        "| slice | start | characters | sentences | inside quotes | inside brackets | digit | capital |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for s in study["slices"]:
        share = s["share"]
        cells = [f"{share.get(f, float('nan')):.2%}" for f in ("in_quotes", "in_parens", "digit", "capital")]
        head = f"| {s['name']} | {s['start']:,} | {s['characters']:,} | {s['sentences']} | "
        out.append(head + " | ".join(cells) + " |")
    out += [
        "",
        f"| model | feature | best on {a} | r on {a} | r on {b} | best on {b} | r on {a} | r on {b} | same unit | "
        "spread |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for m, entry in study["models"].items():
        for feature in [f for f in FEATURE_LABELS if f in study["features"]]:
            e = entry["features"][feature]
            cells = [m, FEATURE_LABELS[feature]]
            for s in (a, b):
                if e[s] is None:
                    cells += ["-", "-", "-"]
                else:
                    cells += [f"{e[s]['layer']}, {e[s]['unit']}", _signed(e[s]["r_on"][a]), _signed(e[s]["r_on"][b])]
            cells += ["yes" if e["same_unit"] else "no", "-" if e["spread"] is None else f"{e['spread']:.2f}"]
            out.append("| " + " | ".join(cells) + " |")
    out += [
        "",
        "spread: the largest change of a best unit's r between the slices; the runner-up's |r| per slice is in the "
        "JSON.",
        "",
    ]
    return "\n".join(out)


# ----- python -m lstmviz.cellfinder -------------------------------------------------------------------------------

COMMAND = (
    "python -m lstmviz.cellfinder --data ../shared/data/opensentimentcorpus --checkpoints checkpoints "
    "--out results/cellfinder"
)


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m lstmviz.cellfinder",
        description="The best unit per feature of the charlm-{rnn,gru,lstm} checkpoints on two disjoint held-out "
        "slices: writes OUT.json and OUT.md.",
    )
    p.add_argument("--data", required=True, help="the corpus CSV or its folder (never copied into the output)")
    p.add_argument("--checkpoints", default="checkpoints", help="folder holding charlm-rnn, charlm-gru, charlm-lstm")
    p.add_argument("--out", default="results/cellfinder", help="output path without suffix")
    p.add_argument("--chars", type=int, default=SLICE_CHARS, help="characters per slice (default 20,000)")
    p.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    return p


def run_study(
    data: str | Path,
    checkpoints: str | Path,
    size: int = SLICE_CHARS,
    cells: Sequence[str] = ("rnn", "gru", "lstm"),
    command: str = COMMAND,
) -> dict[str, Any]:
    """:func:`slice_study` of the ``charlm-<cell>`` checkpoints under ``checkpoints`` on slices A and B of the
    corpus test split (:func:`held_out_slices`, the split seed the checkpoints were trained with); ``command`` is
    recorded as the one that wrote it.

    Raises:
        ValueError: when the checkpoints were trained on different split seeds.

    Example:
        >>> study = run_study("../shared/data/opensentimentcorpus", "checkpoints")  # doctest: +SKIP
        >>> study["models"]["lstm"]["features"]["pos_in_word"]["same_unit"]  # doctest: +SKIP
        True
    """
    from lstmviz.chardata import prepare_chars
    from lstmviz.checkpoint import load_checkpoint

    loaded = {c: load_checkpoint(Path(checkpoints) / f"charlm-{c}") for c in cells}
    seeds = {c: int(meta.get("dataset", {}).get("split_seed", 0)) for c, (_, meta) in loaded.items()}
    if len(set(seeds.values())) != 1:
        raise ValueError(f"the checkpoints were trained on different split seeds {seeds}; compare like with like")
    seed = next(iter(seeds.values()))
    data_ = prepare_chars(data, seed=seed)  # default min_count, as the Generation view reads it
    slices = [(name, start, text) for name, (start, text) in zip("AB", held_out_slices(data_, size, 2))]
    study = slice_study({c: (model, meta["chars"]) for c, (model, meta) in loaded.items()}, slices)
    return {
        "schema": 1,
        "kind": "cellfinder_slices",
        "command": command,
        "split_seed": seed,
        "checkpoints": [f"charlm-{c}" for c in cells],
        **study,
    }


def main(argv: Sequence[str] | None = None) -> int:
    """Writes ``OUT.json`` and ``OUT.md`` (:func:`run_study`, :func:`study_markdown`); exit code 0.

    Example:
        >>> main(["--data", "../shared/data/opensentimentcorpus", "--out", "results/cellfinder"])  # doctest: +SKIP
        0
    """
    from lstmviz.experiments import write_text_atomic

    args = _parser().parse_args(argv)
    if args.chars < 2:
        _parser().error(f"--chars {args.chars} is invalid; allowed: an integer >= 2")
    if args.threads < 1:
        _parser().error(f"--threads {args.threads} is invalid; allowed: an integer >= 1")
    command = f"python -m lstmviz.cellfinder --data {args.data} --checkpoints {args.checkpoints} --out {args.out}"
    command += f" --chars {args.chars}" if args.chars != SLICE_CHARS else ""
    threads = torch.get_num_threads()
    torch.set_num_threads(args.threads)
    try:
        study = run_study(args.data, args.checkpoints, args.chars, command=command)
    finally:  # a caller in the same process (a test) keeps its own thread count
        torch.set_num_threads(threads)
    js, md = Path(f"{args.out}.json"), Path(f"{args.out}.md")
    write_text_atomic(js, json.dumps(study, indent=1, ensure_ascii=False, allow_nan=False) + "\n")
    write_text_atomic(md, study_markdown(study))
    print(f"wrote {js} and {md}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
