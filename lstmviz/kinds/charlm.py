"""The character language model kind (``model_kind="charlm"``): a next-character distribution at every step.

The model is :class:`~lstmviz.charlm.CharLM` (data: :mod:`lstmviz.chardata`, training: :mod:`lstmviz.lmtrainer`).
This module holds everything else the kind needs: its tensors, its meta checks, and the analyses the Generation
view draws of one typed prefix (:func:`generation`, :func:`connectivity_on`, :func:`cells`, :func:`saturation`,
:func:`unit_values`). They take a loaded ``(model, meta)`` and return plain data; the dashboard only caches them.

Example:
    >>> from lstmviz.charlm import CharLMConfig
    >>> sorted(KIND.shapes(CharLMConfig(cell="rnn", vocab_size=5, embed_dim=2, hidden_size=3)))[:2]
    ['embedding.weight', 'head.bias']
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pandas as pd
import torch
from torch import nn

from lstmviz.charlm import CharLM, CharLMConfig, encode_chars, generate, initial_model
from lstmviz.kinds.base import Kind, TextInput, one_module_frames, rnn_shapes

__all__ = ["KIND", "CharLMKind", "cells", "connectivity_on", "generation", "saturation", "held_out_text", "unit_values"]


class CharLMKind(Kind):
    """Embedding -> stacked RNN/GRU/LSTM -> next-character logits at every step."""

    name = "charlm"
    config_cls = CharLMConfig
    model_cls = CharLM
    output = "next_token"
    symbol_lists = {"chars": "vocab_size"}  # the characters, index = id

    def shapes(self, config: Any) -> dict[str, tuple[int, ...]]:
        """Embedding, the stacked RNN (one direction) and the next-character head."""
        return {
            "embedding.weight": (config.vocab_size, config.embed_dim),
            **rnn_shapes(config.cell, config.embed_dim, config.hidden_size, config.num_layers, 1),
            "head.weight": (config.vocab_size, config.hidden_size),
            "head.bias": (config.vocab_size,),
        }

    def task(self, meta: Mapping[str, Any]) -> str:
        """Always ``charlm``."""
        return "charlm"

    def views(self, config: Any) -> frozenset[str]:
        """The Generation view (typed prefix, continuation, gates, connectivity, interpretable cells)."""
        return frozenset({"generate"})

    def train_job(self) -> Any:
        """``python -m lstmviz.train charlm``: :mod:`lstmviz.cli.charlm`."""
        from lstmviz.cli import charlm as cli
        from lstmviz.cli.common import Job

        help = "kind: character-level language model on the corpus text"
        return Job(self.name, help, cli.add_charlm_arguments, cli.check_charlm, cli.run_charlm)

    def encode(self, model: nn.Module, meta: dict[str, Any], text: str) -> TextInput:
        """One id per character ``(1, T)`` (unknown characters -> ``<unk>``); every character is a token.

        Example:
            >>> KIND.encode(None, {"chars": ["<pad>", "<unk>", "a"]}, "ab").inputs[0].tolist()
            [[2, 1]]
        """
        return TextInput((_ids(text, meta),), list(text), [(i, i + 1) for i in range(len(text))])

    def predict(self, model: nn.Module, encoded: TextInput) -> dict[str, Any]:
        """``next``: the next-character distribution after every character ``(T, V)``."""
        with torch.no_grad():
            return {"next": torch.softmax(model(*encoded.inputs)[0], -1).numpy()}


KIND = CharLMKind()


def _ids(text: str, meta: Mapping[str, Any]) -> torch.Tensor:
    return encode_chars(text, meta["chars"]).unsqueeze(0)  # (1, T)


def generation(
    model: nn.Module,
    meta: Mapping[str, Any],
    prefix: str,
    length: int,
    temperature: float,
    top_k: int | None,
    seed: int,
) -> dict[str, Any]:
    """The continuation of ``prefix``, the recording of prefix + continuation and the top-5 next characters.

    Returns:
        ``continuation`` (str), ``frames`` (``(layer, direction, quantity) -> frame (step, unit, value)``), ``top5``
        (rows step, rank, char, p), ``cell`` and ``num_layers`` of the loaded model.

    Example:
        >>> chars = ["<pad>", "<unk>", "a", "b"]
        >>> m = CharLM.seeded(CharLMConfig(cell="gru", vocab_size=4, hidden_size=3), 0).eval()
        >>> g = generation(m, {"chars": chars}, "ab", 3, 1.0, None, 0)
        >>> len(g["continuation"]), g["num_layers"], len(g["top5"])
        (3, 2, 20)
    """
    import lstmviz

    chars = meta["chars"]
    cont = generate(model, chars, prefix, length=length, temperature=temperature, top_k=top_k, seed=seed)
    ids = _ids(prefix + cont, meta)  # (1, T)
    with torch.no_grad(), lstmviz.record(model) as rec:
        logits = model(ids)  # (1, T, V)
    probs = torch.softmax(logits[0], -1)  # (T, V)
    top = torch.topk(probs, min(5, probs.shape[-1]), dim=-1)  # a vocabulary may hold fewer than 5 symbols
    top5 = [
        {"step": t, "rank": r + 1, "char": chars[int(top.indices[t, r])], "p": float(top.values[t, r])}
        for t in range(probs.shape[0])
        for r in range(top.indices.shape[-1])
    ]
    return {
        "continuation": cont,
        "frames": one_module_frames(rec),
        "top5": top5,
        "cell": model.config.cell,
        "num_layers": model.config.num_layers,
    }


def connectivity_on(model: nn.Module, meta: Mapping[str, Any], text: str) -> Any:
    """The ``(T, T)`` connectivity matrix (numpy) of ``text``: how much each output step depends on each input."""
    from lstmviz.connectivity import connectivity

    return connectivity(model, encode_chars(text, meta["chars"])).numpy()


def held_out_text(meta: Mapping[str, Any], corpus: str, n: int) -> str:
    """The first ``n`` characters of the corpus test split the model was scored on (unknown characters as ``?``)."""
    from lstmviz.chardata import prepare_chars

    data = prepare_chars(corpus, seed=int(meta.get("dataset", {}).get("split_seed", 0)))
    return "".join(data.chars[i] if i > 1 else "?" for i in data.test[:n].tolist())


def cells(model: nn.Module, meta: Mapping[str, Any], text: str, name: str) -> pd.DataFrame:
    """:func:`lstmviz.cellfinder.find_cells` of the model on ``text`` (interpretable units)."""
    from lstmviz.cellfinder import find_cells

    return find_cells(model, meta["chars"], text, name=name)


def saturation(model: nn.Module, meta: Mapping[str, Any], text: str, trained: str, initial: str) -> pd.DataFrame:
    """Gate saturation per unit of the trained model and of its exact initialisation on ``text`` (series named
    ``trained`` and ``initial``); no ``initial`` rows when the checkpoint does not record its initialisation."""
    import lstmviz
    from lstmviz.diagnostics import saturation_stats
    from lstmviz.models import UnknownInitialisation

    ids = _ids(text, meta)  # (1, T)
    runs = [(model, trained)]
    try:
        runs.append((initial_model(model.config, dict(meta)), initial))
    except UnknownInitialisation:  # nothing stands in for it: a seed-0 model would pass for this one's start
        pass
    frames = []
    for m, series in runs:
        with torch.no_grad(), lstmviz.record(m) as rec:
            m(ids)
        frames.append(saturation_stats(rec, series=series))
    return pd.concat(frames, ignore_index=True)


def unit_values(model: nn.Module, meta: Mapping[str, Any], text: str, layer: int, unit: int) -> list[float]:
    """One unit's memory (LSTM: cell state, else hidden state) at every character of ``text``, read sentence by
    sentence from a zero state as the cell finder reads it (:func:`lstmviz.cellfinder.sentence_states`)."""
    from lstmviz.cellfinder import sentence_states

    quantity = "cell" if model.config.cell == "lstm" else "hidden"
    return sentence_states(model, meta["chars"], text, quantity)[layer][:, unit].tolist()
