"""One text through one predictor: tokens, prefix probabilities, gates, gradients through time.

:func:`analyze_text` turns a :class:`lstmviz.pipeline.Predictor` and a text into a
:class:`TextAnalysis` holding the tokens, the class probabilities after every prefix, the lstmviz
:class:`~lstmviz.recording.Recording` of the model as it computes (float32, forward only), and, on a
private float64 copy of the model, the gradients through time, the per-token saliency
``||dL/dx_t||`` and the loss-free reach ``||∂h_T/∂s_t||_2`` (float64: nothing underflows to a gap
where float32 gives exact zeros on long texts). Its methods give tidy DataFrames of all of it.

Two rules hold here and in :mod:`lstmviz.whatifs` and :mod:`lstmviz.diagnostics`:

* The caller's model is never mutated: no parameter, buffer, ``.grad`` or mode changes. Gradients
  are taken with respect to the embedding output only, so no parameter ``.grad`` is ever written.
* A model may be shared by many threads (dashboard sessions): the recorder keeps each thread's
  recording separate and never mutates the module, so no lock is needed.

Filler tokens (the "longer text" what-if) are inserted here too (:func:`filler_position`,
:func:`filler_ids`): a neutral token in text, the task's own distractors (continuing their cycle) in a
cue-recall sequence. Fillers change the input, not the question: unless a target is chosen, the loss
stays the cross-entropy to the class predicted on the text WITHOUT them, so curves of a text with 0 and
with 50 fillers measure the same loss even where the fillers flip the prediction.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from torch import nn

from lstmviz.diagnostics import state_reach, weight_stats
from lstmviz.models import RecurrentClassifier
from lstmviz.names import GRAD_QUANTITIES, direction_name, make_key
from lstmviz.profiles import end_to_start
from lstmviz.recorder import record

__all__ = [
    "EmptyTextError",
    "FILLER_POSITIONS",
    "TextAnalysis",
    "analyze_ids",
    "analyze_text",
    "cell_type",
    "filler_id",
    "filler_ids",
    "filler_position",
    "rnn_module",
]

_FILLER_CANDIDATES = ("и", ",", ".", "w1", "_", "-")  # neutral tokens tried in order
_DISTRACTOR = re.compile(r"w\d+")  # cue-recall distractor names (lstmviz.tasks.cue_recall_vocab: w1, w2, ...)


class EmptyTextError(ValueError):
    """The text has no tokens the model can read (empty or whitespace only)."""


def _token_text(tok: Any) -> str:
    """Surface string of a pipeline Token or of a plain string token."""
    return str(getattr(tok, "text", tok))


def _token_lemma(tok: Any) -> str:
    """Model-facing string (lemma) of a pipeline Token or plain string token."""
    return str(getattr(tok, "lemma", tok))


@dataclass
class TextAnalysis:
    """Everything the dashboard shows about one text run through one predictor.

    Attributes:
        text: The input text (after any filler tokens were prepended, the original text).
        tokens: Surface strings, one per model step (filler tokens: ``""``, every 10th ``"·10"``, ``"·20"``, ...).
        lemmas: The model-facing strings (what was looked up in the vocabulary).
        kinds: Token kinds (``word``, ``latin``, ``number``, ``emoji``, ``punct``, ..., ``filler``).
        unknown: True where the vocabulary mapped the token to ``<unk>``.
        truncated: True when the text had more than ``MAX_TOKENS`` tokens and was cut.
        labels: Class names of the predictor.
        probs: ``(T, C)`` class probabilities after each prefix ``tokens[:t+1]``.
        target: Class index the loss (cross-entropy) was taken against.
        recording: The lstmviz Recording of the full text (batch of one): gates and states of the
            model as it computes them (forward only).
        saliency: ``(T,)`` ``||dL/dx_t||`` over the embedding dimension (float64), or None without grads.
        cell: ``"rnn"``, ``"gru"`` or ``"lstm"``.
        module: Module path of the recurrent module inside the model (``"rnn"``).
        num_layers: Stacked layers of the recurrent module.
        directions: 1 or 2.
        loss: The cross-entropy value, or None without grads.
        grad_ratio: ``||dL/dh_0|| / ||dL/dh_T||`` of the top layer computed on a float64 copy
            (:func:`lstmviz.profiles.end_to_start`; float32 underflows on long texts), or None
            without grads.
        recording64: The gradients through time recorded on a float64 copy of the model (same
            loss), for display: nothing underflows to 0 above ~1e-308. None without grads.
        reach: ``(T,)`` loss-free reach ``||∂h_{T-1}/∂s_t||_2`` of the top layer (forward), ``s_t``
            its recurrent state (``(h_t, c_t)`` for the LSTM), from the exact step Jacobians in
            float64 (:func:`lstmviz.diagnostics.state_reach`); None without grads.
        weight_stats: ``sigma_max`` and ``spectral_radius`` of the top layer's ``W_hh`` (float64).
    """

    text: str
    tokens: list[str]
    lemmas: list[str]
    kinds: list[str]
    unknown: list[bool]
    truncated: bool
    labels: list[str]
    probs: np.ndarray
    target: int
    recording: Any
    saliency: np.ndarray | None
    cell: str
    module: str
    num_layers: int
    directions: int
    loss: float | None = None
    grad_ratio: float | None = None
    recording64: Any = None
    reach: np.ndarray | None = None
    weight_stats: dict[str, float] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)  # free-form notes (what-if settings, ...)

    @property
    def predicted(self) -> int:
        """Index of the class predicted from the full text."""
        return int(np.argmax(self.probs[-1]))

    @property
    def predicted_label(self) -> str:
        """Name of the class predicted from the full text."""
        return self.labels[self.predicted]

    def key(self, quantity: str, layer: int = 0, direction: int = 0) -> str:
        """The recording key of a quantity of the analysed module."""
        return make_key(self.module, layer, direction, quantity)

    def values(self, quantity: str, layer: int = 0, direction: int = 0) -> np.ndarray:
        """``(T, units)`` numpy array of one recorded quantity (batch row 0)."""
        return self.recording[self.key(quantity, layer, direction)][0].numpy()

    def token_frame(self) -> pd.DataFrame:
        """Tidy frame: ``step, token, lemma, kind, unknown``."""
        return pd.DataFrame(
            {
                "step": range(len(self.tokens)),
                "token": self.tokens,
                "lemma": self.lemmas,
                "kind": self.kinds,
                "unknown": self.unknown,
            }
        )

    def probability_frame(self) -> pd.DataFrame:
        """Tidy frame: ``step, token, label, prob`` (probabilities after each prefix)."""
        T, C = self.probs.shape
        tokens = self.tokens if len(self.tokens) == T else self.extra["text_tokens"]  # a user model's other module
        return pd.DataFrame(
            {
                "step": np.repeat(np.arange(T), C),
                "token": np.repeat(np.array(tokens, dtype=object), C),
                "label": np.tile(np.array(self.labels, dtype=object), T),
                "prob": self.probs.reshape(-1),
            }
        )

    def activation_frame(self, quantity: str, layer: int = 0, direction: int = 0) -> pd.DataFrame:
        """Tidy frame of one quantity: ``step, token, unit, value``."""
        v = self.values(quantity, layer, direction)  # (T, U)
        T, U = v.shape
        return pd.DataFrame(
            {
                "quantity": quantity,
                "layer": layer,
                "direction": direction_name(direction),
                "step": np.repeat(np.arange(T), U),
                "token": np.repeat(np.array(self.tokens, dtype=object), U),
                "unit": np.tile(np.arange(U), T),
                "value": v.reshape(-1),
            }
        )

    def grad_frame(self, series: str | None = None) -> pd.DataFrame:
        """Tidy frame of gradient norms through time.

        Columns: ``series, cell, layer, direction, quantity, step, distance, token, norm, norm_rel``
        (``distance = T-1-step``; ``norm_rel`` = ``norm`` divided by its value at the step where
        the loss enters: the last step forward, the first step for the reverse direction).

        The norms come from :attr:`recording64` (float64: nothing underflows above ~1e-308).

        Args:
            series: Name for the ``series`` column (default: the cell type).

        Example:
            >>> a.grad_frame().query("quantity == 'grad_hidden'")["norm_rel"].iloc[-1]  # doctest: +SKIP
            1.0
        """
        cols = ["series", "cell", "layer", "direction", "quantity", "step", "distance", "token", "norm", "norm_rel"]
        rec = self.recording64
        if rec is None:
            return pd.DataFrame(columns=cols)
        rows = []
        T = len(self.tokens)
        for layer in range(self.num_layers):
            for d in range(self.directions):
                for q in GRAD_QUANTITIES[self.cell]:
                    key = self.key(q, layer, d)
                    if key not in rec.keys():
                        continue
                    norm = torch.linalg.vector_norm(rec[key][0], dim=-1).numpy()  # (T,) float64
                    at_loss = norm[-1] if d == 0 else norm[0]
                    with np.errstate(divide="ignore", invalid="ignore"):
                        rel = norm / at_loss
                    rows.append(
                        pd.DataFrame(
                            {
                                "series": series or self.cell,
                                "cell": self.cell,
                                "layer": layer,
                                "direction": direction_name(d),
                                "quantity": q,
                                "step": np.arange(T),
                                "distance": T - 1 - np.arange(T),
                                "token": self.tokens,
                                "norm": norm,
                                "norm_rel": rel,
                            }
                        )
                    )
        return pd.concat(rows, ignore_index=True) if rows else pd.DataFrame(columns=cols)

    def saliency_frame(self) -> pd.DataFrame:
        """Tidy frame: ``step, token, saliency`` (``||dL/dx_t||``; NaN without grads)."""
        sal = self.saliency if self.saliency is not None else np.full(len(self.tokens), np.nan)
        return pd.DataFrame({"step": range(len(self.tokens)), "token": self.tokens, "saliency": sal})


def rnn_module(model: nn.Module) -> tuple[str, nn.RNNBase]:
    """The (path, module) of the single recurrent module of a model.

    Example:
        >>> rnn_module(nn.Sequential(nn.GRU(2, 3)))[0]
        '0'
    """
    found = [(p, m) for p, m in model.named_modules() if isinstance(m, (nn.LSTM, nn.GRU, nn.RNN))]
    if len(found) != 1:
        raise ValueError(f"expected exactly one nn.RNN/GRU/LSTM module in {type(model).__name__}, found {len(found)}")
    return found[0]


def cell_type(rnn: nn.RNNBase) -> str:
    """``"lstm"``, ``"gru"`` or ``"rnn"`` for a recurrent module.

    Example:
        >>> cell_type(nn.GRU(2, 3))
        'gru'
    """
    return "lstm" if isinstance(rnn, nn.LSTM) else "gru" if isinstance(rnn, nn.GRU) else "rnn"


def _resolve_target(target: int | str | None, labels: Sequence[str], predicted: int) -> int:
    """Class index for the loss: the predicted class, a class index or a class name."""
    if target is None:
        return predicted
    if isinstance(target, str):
        if target not in labels:
            raise ValueError(f"target={target!r} is not a class of this model; allowed: {list(labels)}")
        return list(labels).index(target)
    if isinstance(target, bool) or not 0 <= int(target) < len(labels):
        raise ValueError(f"target={target!r} is out of range; allowed: 0..{len(labels) - 1} or a class name")
    return int(target)


def filler_id(predictor: Any) -> tuple[int, str]:
    """A neutral token to prepend in the filler what-if: ``(id, surface)``.

    Tries ``и , . w1 _ -`` among the predictor's token names (``token_names``, else the
    vocabulary), then falls back to id 2 (the most frequent token of a frequency-ordered vocab).

    Example:
        >>> filler_id(predictor)  # doctest: +SKIP
        (3, '.')
    """
    names = list(getattr(predictor, "token_names", None) or predictor.vocab.tokens)  # index = id
    for cand in _FILLER_CANDIDATES:
        if cand in names:
            return names.index(cand), cand
    return (2, names[2]) if len(names) > 2 else (1, names[-1])


def filler_ids(predictor: Any, ids: Sequence[int], k: int, n: int) -> tuple[list[int], list[str]]:
    """The ``n`` filler tokens inserted before ``ids[k]``: ``(ids, names)``.

    Text models get ``n`` copies of the neutral :func:`filler_id`. Cue-recall models get real
    distractors that continue the task's cycle ``w1, w2, ..., wN, w1, ...`` (as
    :func:`lstmviz.tasks.cue_text` writes it): after the distractor before the insertion point, or,
    right after the cue, ending just before the distractor that follows, so the whole gap stays one
    unbroken cycle (repeating ``w1`` would feed the model a sequence it never saw in training).

    Args:
        predictor: The predictor (``token_names`` or ``vocab.tokens``; ``task``).
        ids: The text's token ids (without fillers).
        k: Insertion index (see :func:`filler_position`).
        n: Number of fillers.

    Returns:
        ``(ids, names)``, both of length ``n``.

    Example:
        >>> from types import SimpleNamespace
        >>> from lstmviz.tasks import cue_recall_vocab
        >>> p = SimpleNamespace(task="cue_recall", token_names=cue_recall_vocab(4, 9))  # distractors w1..w3
        >>> filler_ids(p, [1, 5, 6, 7, 5, 8], 1, 4)[1]  # france w1 w2 w3 w1 ?: right after the cue, up to w1
        ['w3', 'w1', 'w2', 'w3']
        >>> filler_ids(p, [1, 5, 6, 7, 5, 8], 5, 2)[1]  # before the query: after w1
        ['w2', 'w3']
    """
    names = list(getattr(predictor, "token_names", None) or predictor.vocab.tokens)  # index = id
    cycle = [i for i, name in enumerate(names) if _DISTRACTOR.fullmatch(name)]  # distractor ids, in order
    if getattr(predictor, "task", "sentiment") != "cue_recall" or not cycle:
        fid, fname = filler_id(predictor)
        return [fid] * n, [fname] * n
    ids = [int(i) for i in ids]
    at = {tid: j for j, tid in enumerate(cycle)}  # distractor id -> its place in the cycle
    if 0 < k <= len(ids) and ids[k - 1] in at:  # continue from the distractor before the gap
        start = at[ids[k - 1]] + 1
    elif k < len(ids) and ids[k] in at:  # end just before the distractor after the gap
        start = at[ids[k]] - n
    else:
        start = 0
    out = [cycle[(start + i) % len(cycle)] for i in range(n)]
    return out, [names[i] for i in out]


def _predict(model: RecurrentClassifier, ids: torch.Tensor) -> int:
    """The class a model predicts for ``ids`` ``(1, T)`` (a private eval copy when it is training)."""
    if model.training:  # never flip the mode of a shared model
        model = copy.deepcopy(model).eval()
    with torch.no_grad():
        return int(model(ids, torch.tensor([ids.shape[1]])).argmax(-1)[0])


def analyze_ids(
    model: RecurrentClassifier,
    ids: torch.Tensor,
    *,
    tokens: Sequence[str],
    labels: Sequence[str],
    lemmas: Sequence[str] | None = None,
    kinds: Sequence[str] | None = None,
    unknown: Sequence[bool] | None = None,
    truncated: bool = False,
    text: str = "",
    grads: bool = True,
    target: int | str | None = None,
) -> TextAnalysis:
    """Analyses one already-encoded sequence (the core of :func:`analyze_text`).

    Args:
        model: A classifier with ``embedding``, ``forward_embedded`` (not mutated).
        ids: LongTensor ``(1, T)`` or ``(T,)`` of token ids, ``T >= 1``.
        tokens: Surface strings, one per id.
        labels: Class names.
        lemmas: Model-facing strings (default: ``tokens``).
        kinds: Token kinds (default: ``"word"``).
        unknown: UNK flags (default: ``ids == 1``).
        truncated: Whether the text was cut to ``MAX_TOKENS``.
        text: The original text, kept for display.
        grads: Also record gradients through time and saliency.
        target: Loss target: None (the predicted class), a class index or a class name.

    Returns:
        A :class:`TextAnalysis`.

    Example:
        >>> a = analyze_ids(model, torch.tensor([[2, 3]]), tokens=["a", "b"], labels=["x", "y"])  # doctest: +SKIP
        >>> a.probs.shape  # doctest: +SKIP
        (2, 2)
    """
    ids = torch.as_tensor(ids).long()
    if ids.dim() == 1:
        ids = ids.unsqueeze(0)
    if ids.dim() != 2 or ids.shape[0] != 1:
        raise ValueError(f"ids must be (1, T) or (T,), got shape {tuple(ids.shape)}")
    T = ids.shape[1]
    if T == 0:
        raise EmptyTextError("the text has no tokens; allowed: at least one token")
    if len(tokens) != T:
        raise ValueError(f"got {len(tokens)} tokens for {T} ids; allowed: one token per id")
    if model.embedding is None:
        raise ValueError("analyze_ids needs a model with an embedding (head='classify'); got head='regress'")
    path, rnn = rnn_module(model)
    cell = cell_type(rnn)
    lengths = torch.tensor([T])

    if model.training:  # never flip the mode of a shared model: use a private eval copy
        model = copy.deepcopy(model).eval()
    with torch.no_grad():
        # All prefixes in one batch: row t holds tokens[:t+1] (padding past its length).
        prefix_ids = ids.expand(T, T).clone()  # (T, T)
        prefix_len = torch.arange(1, T + 1)  # (T,)
        probs = F.softmax(model(prefix_ids, prefix_len), dim=-1).numpy()  # (T, C)
    predicted = int(np.argmax(probs[-1]))
    tgt = _resolve_target(target, labels, predicted)
    saliency = None
    loss_value = grad_ratio = rec64 = reach = None
    # Gates and states exactly as the (float32) model computes them: a forward pass only.
    with torch.no_grad(), record(model, grads=False) as rec:
        logits = model(ids, lengths)  # (1, C)
    if grads:
        loss_value = float(F.cross_entropy(logits, torch.tensor([tgt])))
        # Gradients through time and saliency on a private float64 copy (same loss): nothing
        # underflows to 0 above ~1e-308, where float32 gives exact zeros on long texts.
        # The embedding table (e.g. 6,018 x 300 navec vectors) is not copied: only this text's rows are
        # looked up in float32 and widened, which is exact.
        model64 = copy.deepcopy(model, memo={id(model.embedding): None}).double()
        with torch.no_grad():
            emb64 = model.embedding(ids).double()  # (1, T, E)
        with record(model64, grads=True) as rec64:
            emb = emb64.clone().requires_grad_(True)  # (1, T, E) float64
            loss = F.cross_entropy(model64.forward_embedded(emb, lengths), torch.tensor([tgt]))
            # rec.backward (not loss.backward) leaves every parameter's .grad untouched.
            (d_emb,) = rec64.backward(loss, inputs=[emb])  # (1, T, E)
        saliency = torch.linalg.vector_norm(d_emb[0], dim=-1).numpy()  # (T,)
        top = torch.linalg.vector_norm(rec64[make_key(path, rnn.num_layers - 1, 0, "grad_hidden")], dim=-1)  # (1, T)
        grad_ratio = float(end_to_start(top, lengths)[0])
        reach = state_reach(model64, rec64, emb64[0])

    return TextAnalysis(
        text=text,
        tokens=[str(t) for t in tokens],
        lemmas=[str(t) for t in (lemmas if lemmas is not None else tokens)],
        kinds=list(kinds) if kinds is not None else ["word"] * T,
        unknown=[bool(u) for u in (unknown if unknown is not None else (ids[0] == 1).tolist())],
        truncated=bool(truncated),
        labels=[str(label) for label in labels],
        probs=probs,
        target=tgt,
        recording=rec,
        saliency=saliency,
        cell=cell,
        module=path,
        num_layers=rnn.num_layers,
        directions=2 if rnn.bidirectional else 1,
        loss=loss_value,
        grad_ratio=grad_ratio,
        recording64=rec64,
        reach=reach,
        weight_stats=weight_stats(rnn, rnn.num_layers - 1),
    )


def analyze_text(
    predictor: Any,
    text: str,
    grads: bool = True,
    target: int | str | None = None,
    prepend: int = 0,
    filler_at: int | str = "auto",
) -> TextAnalysis:
    """Runs a text through a predictor and records everything the dashboard shows.

    Args:
        predictor: A :class:`lstmviz.pipeline.Predictor` (``encode``, ``model``, ``labels``).
        text: Any user text (may contain emoji, Latin, digits, markup).
        grads: Also record gradients through time (loss = cross-entropy to ``target``)
            and the saliency ``||dL/dx_t||`` of each token's embedding.
        target: None (the predicted class; with fillers, the class predicted on the text WITHOUT them,
            so the fillers change the input but not the loss), a class index or a class name.
        prepend: Number of filler tokens (:func:`filler_ids`: a neutral token, or for cue recall
            the task's distractors continuing their cycle) inserted into the text.
        filler_at: Where they go: ``"auto"`` (cue-recall models: right after the cue, so the
            cue-query gap grows; text: at the start), ``"start"``, ``"before_last"`` (before the
            last token) or an int k (after the first k tokens; clamped to the text).

    Returns:
        A :class:`TextAnalysis`.

    Raises:
        EmptyTextError: when the text yields no tokens.
        ValueError: for a bad ``target`` or ``prepend``.

    Example:
        >>> a = analyze_text(predictor, "Я не люблю дождь!")  # doctest: +SKIP
        >>> a.tokens, a.predicted_label  # doctest: +SKIP
        (['Я', 'не', 'люблю', 'дождь', '!'], 'negative')
    """
    if not isinstance(text, str):
        raise TypeError(f"text must be a str, got {type(text).__name__}")
    if isinstance(prepend, bool) or not isinstance(prepend, int) or prepend < 0:
        raise ValueError(f"prepend={prepend!r} is invalid; allowed: an integer >= 0")
    if not text.strip():
        raise EmptyTextError("the text is empty; allowed: at least one token")
    tokenize = getattr(predictor, "tokenize", None)
    if tokenize is not None and not tokenize(text, limit=1):
        raise EmptyTextError(f"the text {text[:40]!r} has no tokens the model reads; allowed: at least one word")
    try:
        enc = predictor.encode(text)
    except ValueError as e:  # e.g. a cue-recall name the task does not have (the message lists them)
        if "no token" in str(e):
            raise EmptyTextError(str(e)) from e
        raise
    ids = enc.ids.reshape(1, -1).long()  # (1, T)
    if ids.shape[1] == 0:
        raise EmptyTextError(f"the text {text[:40]!r} has no tokens the model reads")
    toks = list(enc.tokens)
    tokens = [_token_text(t) for t in toks]
    lemmas = [_token_lemma(t) for t in toks]
    kinds = [str(getattr(t, "kind", "word")) for t in toks]
    unknown = [bool(u) for u in enc.unknown]
    source = "chosen" if target is not None else "predicted"
    if prepend:
        if target is None:  # the loss of the text itself: fillers must not change the question asked
            target, source = _predict(predictor.model, ids), "original"
        k = filler_position(filler_at, len(tokens), getattr(predictor, "task", "sentiment"))
        fids, fnames = filler_ids(predictor, ids[0].tolist(), k, prepend)
        ids = torch.cat((ids[:, :k], torch.tensor([fids], dtype=torch.long), ids[:, k:]), 1)  # (1, T + prepend)
        # Only every 10th filler gets a visible label, so real tokens stay legible on the axis.
        marks = [f"·{i + 1}" if (i + 1) % 10 == 0 else "" for i in range(prepend)]
        tokens = tokens[:k] + marks + tokens[k:]
        lemmas = lemmas[:k] + fnames + lemmas[k:]
        kinds = kinds[:k] + ["filler"] * prepend + kinds[k:]
        unknown = unknown[:k] + [f == 1 for f in fids] + unknown[k:]
    analysis = analyze_ids(
        predictor.model,
        ids,
        tokens=tokens,
        labels=list(predictor.labels),
        lemmas=lemmas,
        kinds=kinds,
        unknown=unknown,
        truncated=bool(getattr(enc, "truncated", False)),
        text=text,
        grads=grads,
        target=target,
    )
    analysis.extra["prepend"] = prepend
    analysis.extra["filler_at"] = k if prepend else None
    analysis.extra["fillers"] = fnames if prepend else []  # the inserted model tokens, in order
    # Where the loss target came from: "predicted" (no fillers), "original" (predicted on the text without the
    # fillers) or "chosen" (the caller's target).
    analysis.extra["target_source"] = source
    return analysis


FILLER_POSITIONS = ("auto", "start", "before_last")  # or an int: after that many tokens


def filler_position(filler_at: int | str, n_tokens: int, task: str = "sentiment") -> int:
    """Index at which filler tokens are inserted into ``n_tokens`` tokens.

    ``"auto"``: after the cue (index 1) for cue recall, where the lesson is the cue-query gap;
    at the start for text. ``"start"``: 0; ``"before_last"``: ``n_tokens - 1``; an int k: after
    the first k tokens (clamped to ``[0, n_tokens]``).

    Example:
        >>> filler_position("auto", 5, "cue_recall"), filler_position("before_last", 5), filler_position(9, 5)
        (1, 4, 5)
    """
    if isinstance(filler_at, bool):
        raise ValueError(f"filler_at={filler_at!r} is invalid; allowed: {FILLER_POSITIONS} or an int >= 0")
    if isinstance(filler_at, int):
        if filler_at < 0:
            raise ValueError(f"filler_at={filler_at!r} is invalid; allowed: {FILLER_POSITIONS} or an int >= 0")
        return min(filler_at, n_tokens)
    if filler_at == "auto":
        return min(1, n_tokens) if task == "cue_recall" else 0
    if filler_at == "start":
        return 0
    if filler_at == "before_last":
        return max(0, n_tokens - 1)
    raise ValueError(f"filler_at={filler_at!r} is invalid; allowed: {FILLER_POSITIONS} or an int >= 0")
