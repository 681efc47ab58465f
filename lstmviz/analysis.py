"""Analyses the dashboard runs on a trained predictor: one sentence, several models, what-ifs.

Everything here is plain library code (no streamlit): it turns a
:class:`lstmviz.pipeline.Predictor` and a text into a :class:`TextAnalysis` holding the
tokens, the class probabilities after every prefix, the lstmviz
:class:`~lstmviz.recording.Recording` (gates, states and, optionally, the gradients
through time), a per-token saliency ``||dL/dx_t||`` and tidy DataFrames of all of it.

Two rules hold for every public function:

* The caller's model is never mutated: no parameter, buffer, ``.grad`` or mode changes.
  What-if variants (:class:`WhatIf`) work on a PRIVATE deep copy. Gradients are taken with
  ``torch.autograd.grad`` with respect to the embedding output only, so no parameter
  ``.grad`` is ever written.
* A model may be shared by many threads (dashboard sessions): the recorder keeps each
  thread's recording separate and never mutates the module, so no lock is needed.

References: Pascanu, Mikolov, Bengio 2013 ("On the difficulty of training recurrent
neural networks") for the RNN bound; Karpathy, Johnson, Fei-Fei 2015 ("Visualizing and
understanding recurrent networks") for gate saturation statistics.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from torch import nn

from lstmviz.models import RecurrentClassifier, init_weights
from lstmviz.names import GRAD_QUANTITIES, QUANTITIES, make_key, parse_key
from lstmviz.profiles import end_to_start
from lstmviz.recorder import record

__all__ = [
    "SATURATION_QUANTITIES",
    "EmptyTextError",
    "TextAnalysis",
    "WhatIf",
    "analyze_text",
    "analyze_ids",
    "compare_gradients",
    "make_variant",
    "seeded_init",
    "history_frame",
    "grad_profile_frame",
    "what_if",
    "FILLER_POSITIONS",
    "filler_id",
    "filler_position",
    "forget_product_frame",
    "pascanu_bound",
    "saturation_stats",
    "corpus_saturation",
    "top_units",
    "unit_frame",
    "direction_name",
]

#: Sigmoid gates whose saturation (< 0.1 or > 0.9) is measured (Karpathy et al. 2015).
SATURATION_QUANTITIES = ("input", "forget", "output", "reset", "update")
_LOW, _HIGH = 0.1, 0.9  # saturation thresholds of Karpathy et al. 2015
_FILLER_CANDIDATES = ("и", ",", ".", "w1", "_", "-")  # neutral tokens tried in order

class EmptyTextError(ValueError):
    """The text has no tokens the model can read (empty or whitespace only)."""


def direction_name(direction: Any) -> str:
    """``"fwd"`` or ``"rev"`` for a recorder direction (0/1 or already a name).

    Example:
        >>> direction_name(1), direction_name("fwd")
        ('rev', 'fwd')
    """
    if isinstance(direction, str):
        return "rev" if direction.startswith("rev") or direction == "1" else "fwd"
    return "rev" if int(direction) == 1 else "fwd"


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
        return pd.DataFrame(
            {
                "step": np.repeat(np.arange(T), C),
                "token": np.repeat(np.array(self.tokens, dtype=object), C),
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


def _rnn_module(model: nn.Module) -> tuple[str, nn.RNNBase]:
    """The (path, module) of the single recurrent module of a model."""
    found = [(p, m) for p, m in model.named_modules() if isinstance(m, (nn.LSTM, nn.GRU, nn.RNN))]
    if len(found) != 1:
        raise ValueError(
            f"expected exactly one nn.RNN/GRU/LSTM module in {type(model).__name__}, found {len(found)}"
        )
    return found[0]


def _cell(rnn: nn.RNNBase) -> str:
    """``"lstm"``, ``"gru"`` or ``"rnn"`` for a recurrent module."""
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
    path, rnn = _rnn_module(model)
    cell = _cell(rnn)
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
    loss_value = grad_ratio = rec64 = None
    # Gates and states exactly as the (float32) model computes them: a forward pass only.
    with torch.no_grad(), record(model, grads=False) as rec:
        logits = model(ids, lengths)  # (1, C)
    if grads:
        loss_value = float(F.cross_entropy(logits, torch.tensor([tgt])))
        # Gradients through time and saliency on a private float64 copy (same loss): nothing
        # underflows to 0 above ~1e-308, where float32 gives exact zeros on long texts.
        model64 = copy.deepcopy(model).double()
        with record(model64, grads=True) as rec64:
            emb = model64.embedding(ids).detach().requires_grad_(True)  # (1, T, E) float64
            loss = F.cross_entropy(model64.forward_embedded(emb, lengths), torch.tensor([tgt]))
            # rec.backward (not loss.backward) leaves every parameter's .grad untouched.
            (d_emb,) = rec64.backward(loss, inputs=[emb])  # (1, T, E)
        saliency = torch.linalg.vector_norm(d_emb[0], dim=-1).numpy()  # (T,)
        top = torch.linalg.vector_norm(rec64[make_key(path, rnn.num_layers - 1, 0, "grad_hidden")], dim=-1)  # (1, T)
        grad_ratio = float(end_to_start(top, lengths)[0])

    return TextAnalysis(
        text=text,
        tokens=[str(t) for t in tokens],
        lemmas=[str(t) for t in (lemmas if lemmas is not None else tokens)],
        kinds=list(kinds) if kinds is not None else ["word"] * T,
        unknown=[bool(u) for u in (unknown if unknown is not None else (ids[0] == 1).tolist())],
        truncated=bool(truncated),
        labels=[str(l) for l in labels],
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
        target: None (the predicted class), a class index or a class name.
        prepend: Number of neutral filler tokens (:func:`filler_id`) inserted into the text.
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
    if tokenize is not None and not tokenize(text):
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
    if prepend:
        fid, fname = filler_id(predictor)
        k = filler_position(filler_at, len(tokens), getattr(predictor, "task", "sentiment"))
        ids = torch.cat((ids[:, :k], torch.full((1, prepend), fid, dtype=torch.long), ids[:, k:]), 1)
        # Only every 10th filler gets a visible label, so real tokens stay legible on the axis.
        marks = [f"·{i + 1}" if (i + 1) % 10 == 0 else "" for i in range(prepend)]
        tokens = tokens[:k] + marks + tokens[k:]
        lemmas = lemmas[:k] + [fname] * prepend + lemmas[k:]
        kinds = kinds[:k] + ["filler"] * prepend + kinds[k:]
        unknown = unknown[:k] + [fid == 1] * prepend + unknown[k:]
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


def compare_gradients(
    predictors: Mapping[str, Any],
    text: str,
    target: str | None = None,
    layer: str | int = "top",
) -> pd.DataFrame:
    """Gradient norms through time of one text in several models (e.g. RNN, GRU, LSTM).

    Args:
        predictors: Series name -> predictor.
        text: The text.
        target: None (each model's own prediction) or a class name shared by the models.
        layer: ``"top"`` (the last layer) or a layer index; forward direction only.

    Returns:
        Tidy frame as :meth:`TextAnalysis.grad_frame` (``series`` = the mapping's keys).

    Example:
        >>> df = compare_gradients({"rnn": p_rnn, "lstm": p_lstm}, "Мне понравилось")  # doctest: +SKIP
        >>> sorted(df["quantity"].unique())  # doctest: +SKIP
        ['grad_cell', 'grad_hidden']
    """
    frames = []
    for name, predictor in predictors.items():
        a = analyze_text(predictor, text, grads=True, target=target)
        df = a.grad_frame(series=name)
        want = a.num_layers - 1 if layer == "top" else int(layer)
        frames.append(df[(df["layer"] == want) & (df["direction"] == "fwd")])
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


@dataclass(frozen=True)
class WhatIf:
    """A counterfactual change to a model or its input (applied to a private copy).

    Example:
        >>> WhatIf(whh_scale=0.5).changes_model
        True
    """

    filler_tokens: int = 0  # neutral tokens inserted into the text (input change only)
    filler_at: int | str = "auto"  # where: see filler_position (cue models: after the cue)
    whh_scale: float = 1.0  # factor applied to W_hh of every layer and direction
    forget_bias: float = 0.0  # added to the LSTM forget-gate bias (GRU: the update gate z)
    # Same architecture at its initialisation: init_weights with the checkpoint's gate bias and `seed`.
    untrained: bool = False
    seed: int | None = None  # None: the seed the checkpoint was initialised with (meta "init_seed", else 0)

    def __post_init__(self) -> None:
        if isinstance(self.filler_tokens, bool) or not isinstance(self.filler_tokens, int) or self.filler_tokens < 0:
            raise ValueError(f"filler_tokens={self.filler_tokens!r} is invalid; allowed: an integer >= 0")
        for name in ("whh_scale", "forget_bias"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not np.isfinite(v):
                raise ValueError(f"{name}={v!r} is invalid; allowed: a finite number")

    @property
    def changes_model(self) -> bool:
        """True when the weights differ from the original model's."""
        return self.untrained or self.whh_scale != 1.0 or self.forget_bias != 0.0


def seeded_init(model: nn.Module, seed: int) -> nn.Module:
    """Re-initialises ``model`` in place from a private generator; see :func:`lstmviz.models.init_weights`.

    Example:
        >>> a, b = seeded_init(nn.GRU(2, 3), 0), seeded_init(nn.GRU(2, 3), 0)
        >>> torch.equal(a.weight_hh_l0, b.weight_hh_l0)
        True
    """
    return init_weights(model, seed)


def history_frame(histories: Mapping[str, Sequence[Mapping[str, Any]]]) -> pd.DataFrame:
    """Training histories (``meta["history"]``) of several models as one tidy frame.

    Args:
        histories: Model name -> list of per-epoch dicts (``epoch, train_loss, val_loss,
            train_acc, val_acc, val_f1, seconds``; missing keys are skipped).

    Returns:
        Frame ``model, epoch, split, metric, value`` (metric: loss | acc | f1).

    Example:
        >>> history_frame({"m": [{"epoch": 1, "train_loss": 1.0, "val_acc": 0.5}]})["metric"].tolist()
        ['loss', 'acc']
    """
    fields_ = (("train_loss", "train", "loss"), ("val_loss", "val", "loss"), ("train_acc", "train", "acc"),
               ("val_acc", "val", "acc"), ("train_f1", "train", "f1"), ("val_f1", "val", "f1"))
    rows = []
    for model, history in histories.items():
        for i, h in enumerate(history or []):
            epoch = h.get("epoch", i + 1)
            for key, split, metric in fields_:
                v = h.get(key)
                if isinstance(v, (int, float)) and not isinstance(v, bool) and np.isfinite(v):
                    rows.append({"model": model, "epoch": epoch, "split": split, "metric": metric, "value": float(v)})
    return pd.DataFrame(rows, columns=["model", "epoch", "split", "metric", "value"])


def grad_profile_frame(history: Sequence[Mapping[str, Any]]) -> pd.DataFrame:
    """Per-epoch gradient profiles (``grad_profile``: mean ``||dL/dh_t||`` for t = 0..T-1) as a tidy frame.

    Args:
        history: ``meta["history"]``.

    Returns:
        Frame ``epoch, step, distance, norm`` (``distance = T-1-step``); empty without profiles.

    Example:
        >>> grad_profile_frame([{"epoch": 1, "grad_profile": [0.1, 1.0]}])["distance"].tolist()
        [1, 0]
    """
    rows = []
    for i, h in enumerate(history or []):
        prof = h.get("grad_profile")
        if not prof:
            continue
        T = len(prof)
        for t, v in enumerate(prof):
            if v is not None:
                rows.append({"epoch": h.get("epoch", i + 1), "step": t, "distance": T - 1 - t, "norm": float(v)})
    return pd.DataFrame(rows, columns=["epoch", "step", "distance", "norm"])


def make_variant(predictor: Any, whatif: WhatIf) -> Any:
    """A predictor whose model is a PRIVATE modified deep copy (the original is untouched).

    Args:
        predictor: The original predictor.
        whatif: The change; ``filler_tokens`` is ignored here (see :func:`what_if`).

    Returns:
        A shallow copy of the predictor with ``.model`` replaced; the predictor itself
        when ``whatif`` does not change the model.

    Example:
        >>> v = make_variant(predictor, WhatIf(whh_scale=2.0))  # doctest: +SKIP
        >>> v.model is predictor.model  # doctest: +SKIP
        False
    """
    if not whatif.changes_model:
        return predictor
    original = predictor.model
    model = copy.deepcopy(original)  # safe while other sessions record the original (see recorder._dispatch)
    if whatif.untrained:
        # The exact starting point of training: same init function, gate bias (model.config) and seed.
        meta = getattr(predictor, "meta", None) or {}
        seed = whatif.seed if whatif.seed is not None else int(meta.get("init_seed", 0))
        seeded_init(model, seed)
    model.eval()
    _, rnn = _rnn_module(model)
    cell = _cell(rnn)
    H = rnn.hidden_size
    with torch.no_grad():
        for name, p in rnn.named_parameters():
            if name.startswith("weight_hh") and whatif.whh_scale != 1.0:
                p.mul_(whatif.whh_scale)
            # PyTorch gate order: LSTM (i, f, g, o) -> forget = rows H:2H; GRU (r, z, n) -> z = H:2H.
            if name.startswith("bias_ih") and whatif.forget_bias != 0.0 and cell in ("lstm", "gru"):
                p[H : 2 * H] += whatif.forget_bias
    variant = copy.copy(predictor)
    variant.model = model
    return variant


def what_if(
    predictor: Any, text: str, whatif: WhatIf, target: int | str | None = None
) -> TextAnalysis:
    """Analyses a text under a counterfactual (:class:`WhatIf`) on a private model copy.

    Args:
        predictor: The original predictor (never mutated).
        text: The text.
        whatif: The change.
        target: As in :func:`analyze_text`.

    Returns:
        A :class:`TextAnalysis` with ``extra["whatif"]`` set.

    Example:
        >>> a = what_if(predictor, "Мне понравилось", WhatIf(filler_tokens=20))  # doctest: +SKIP
        >>> a.tokens[:2]  # doctest: +SKIP
        ['·', '·']
    """
    variant = make_variant(predictor, whatif)
    a = analyze_text(variant, text, grads=True, target=target, prepend=whatif.filler_tokens,
                     filler_at=whatif.filler_at)  # fmt: skip
    a.extra["whatif"] = whatif
    return a


def forget_product_frame(analysis: TextAnalysis, layer: int | None = None, series: str | None = None) -> pd.DataFrame:
    """Forget-gate running product ``Π_{k=t+1..T-1} f_k`` (mean over units) beside ``||dL/dc_t||``.

    Args:
        analysis: An LSTM analysis recorded with grads.
        layer: Layer (default: the top layer); forward direction.
        series: Name for the ``series`` column (default: the cell type).

    Returns:
        Tidy frame ``series, step, token, forget_product, grad_cell``.

    Raises:
        ValueError: for a non-LSTM analysis.

    Example:
        >>> forget_product_frame(a)["forget_product"].iloc[-1]  # doctest: +SKIP
        1.0
    """
    if analysis.cell != "lstm":
        raise ValueError(f"forget_product_frame needs an LSTM analysis, got cell={analysis.cell!r}")
    layer = analysis.num_layers - 1 if layer is None else layer
    f = analysis.values("forget", layer, 0).astype(np.float64)  # (T, U)
    # Reverse cumulative product shifted by one: P_t = f_{t+1} * ... * f_{T-1}, P_{T-1} = 1.
    rev = np.cumprod(f[::-1], axis=0)[::-1]  # (T, U): f_t * ... * f_{T-1}
    prod = np.vstack([rev[1:], np.ones((1, f.shape[1]))])  # (T, U)
    key = analysis.key("grad_cell", layer, 0)
    if analysis.recording64 is not None and key in analysis.recording64.keys():
        gc = torch.linalg.vector_norm(analysis.recording64[key][0], dim=-1).numpy()  # float64
    else:
        gc = np.full(f.shape[0], np.nan)
    return pd.DataFrame(
        {
            "series": series or analysis.cell,
            "step": np.arange(f.shape[0]),
            "token": analysis.tokens,
            "forget_product": prod.mean(axis=1),
            "grad_cell": gc,
        }
    )


def pascanu_bound(analysis: TextAnalysis, model: nn.Module, series: str | None = None) -> pd.DataFrame:
    """Pascanu et al. 2013 upper bound on ``||dL/dh_t||`` for a tanh RNN, and whether it constrains anything.

    ``||∂h_T/∂h_t|| <= (σ_max(W_hh) · max|tanh'|)^(T-t) <= σ_max(W_hh)^(T-t)``, so
    ``||dL/dh_t|| <= ||dL/dh_{T-1}|| · σ_max^(T-1-t)`` for the top layer (forward), where the
    loss reaches the recurrence only through the last hidden state. The bound is always true,
    but it only *forces* vanishing when ``σ_max < 1`` (``binding``); with ``σ_max >= 1`` it grows
    with the distance and says nothing about a gradient that falls (the fall then comes from how
    the step Jacobians ``diag(1 - h^2) W_hh`` align, not from their norms), so a chart should
    draw it only where ``binding`` is True.

    Args:
        analysis: An RNN analysis recorded with grads.
        model: The model the analysis was made with (read only).
        series: Name for the ``series`` column (default: the cell type).

    Returns:
        Tidy frame ``series, layer, step, distance, bound, bound_rel, sigma_max, spectral_radius,
        binding`` (``bound_rel`` = ``bound / ||dL/dh_T||``, for normalised curves; from the float64
        recording); empty for GRU/LSTM.

    Example:
        >>> pascanu_bound(a, predictor.model)[["sigma_max", "binding"]].iloc[0].tolist()  # doctest: +SKIP
        [2.81, False]
    """
    cols = ["series", "layer", "step", "distance", "bound", "bound_rel", "sigma_max", "spectral_radius", "binding"]
    if analysis.cell != "rnn":
        return pd.DataFrame(columns=cols)
    _, rnn = _rnn_module(model)
    layer = analysis.num_layers - 1
    with torch.no_grad():
        w = getattr(rnn, f"weight_hh_l{layer}").detach().double()
        sigma = float(torch.linalg.matrix_norm(w, ord=2))
        rho = float(torch.linalg.eigvals(w).abs().max())
    g = torch.linalg.vector_norm(analysis.recording64[analysis.key("grad_hidden", layer, 0)][0], dim=-1)
    T = g.shape[0]
    last = float(g[-1])
    distance = T - 1 - np.arange(T)
    with np.errstate(over="ignore"):
        rel = np.power(sigma, distance.astype(float))
    return pd.DataFrame(
        {"series": series or analysis.cell, "layer": layer, "step": np.arange(T), "distance": distance,
         "bound": last * rel, "bound_rel": rel, "sigma_max": sigma, "spectral_radius": rho, "binding": sigma < 1.0}
    )  # fmt: skip


def _saturation_counts(recording: Any) -> dict[tuple, tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Per gate key: (count < low, count > high, valid steps) per unit, NaN steps excluded."""
    out = {}
    for key in recording.keys():
        parts = parse_key(key)
        if parts.quantity not in SATURATION_QUANTITIES:
            continue
        x = recording[key].double()  # (B, T, U)
        valid = ~torch.isnan(x)
        low = ((x < _LOW) & valid).sum((0, 1)).numpy()
        high = ((x > _HIGH) & valid).sum((0, 1)).numpy()
        n = valid.sum((0, 1)).numpy()
        out[(parts.layer, parts.direction, parts.quantity)] = (low, high, n)
    return out


def _saturation_frame(counts: Mapping[tuple, tuple], series: str) -> pd.DataFrame:
    """Turns saturation counts into the tidy frame of :func:`saturation_stats`."""
    rows = []
    for (layer, d, q), (low, high, n) in counts.items():
        n_safe = np.maximum(n, 1)
        rows.append(
            pd.DataFrame(
                {"series": series, "layer": layer, "direction": direction_name(d), "quantity": q,
                 "unit": np.arange(len(n)), "frac_low": low / n_safe, "frac_high": high / n_safe, "steps": n}
            )
        )
    cols = ["series", "layer", "direction", "quantity", "unit", "frac_low", "frac_high", "steps"]
    return pd.concat(rows, ignore_index=True) if rows else pd.DataFrame(columns=cols)


def saturation_stats(recording: Any, series: str = "this sentence") -> pd.DataFrame:
    """Fraction of steps each gate unit spends below 0.1 and above 0.9 (Karpathy et al. 2015).

    Args:
        recording: An lstmviz Recording (any batch; steps past a length are NaN and skipped).
        series: Name for the ``series`` column.

    Returns:
        Tidy frame ``series, layer, direction, quantity, unit, frac_low, frac_high, steps``;
        empty for a plain RNN (no gates).

    Example:
        >>> saturation_stats(a.recording).query("quantity == 'forget'").shape[0]  # doctest: +SKIP
        64
    """
    return _saturation_frame(_saturation_counts(recording), series)


def corpus_saturation(
    predictor: Any, texts: Sequence[str], series: str = "corpus sample", batch_size: int = 64
) -> pd.DataFrame:
    """:func:`saturation_stats` pooled over many texts (e.g. a corpus sample).

    Args:
        predictor: The predictor (never mutated).
        texts: The texts; ones without tokens are skipped.
        series: Name for the ``series`` column.
        batch_size: Texts per forward pass.

    Returns:
        Tidy frame as :func:`saturation_stats`.

    Example:
        >>> corpus_saturation(predictor, ["хорошо", "плохо"]).columns[0]  # doctest: +SKIP
        'series'
    """
    if batch_size < 1:
        raise ValueError(f"batch_size={batch_size!r} is invalid; allowed: an integer >= 1")
    encoded = []
    for text in texts:
        if not str(text).strip():
            continue
        ids = predictor.encode(str(text)).ids.reshape(-1)
        if ids.numel():
            encoded.append(ids)
    model = predictor.model
    path, _ = _rnn_module(model)
    total: dict[tuple, list[np.ndarray]] = {}
    for i in range(0, len(encoded), batch_size):
        chunk = encoded[i : i + batch_size]
        lengths = torch.tensor([len(x) for x in chunk])
        ids = torch.zeros(len(chunk), int(lengths.max()), dtype=torch.long)  # (B, T), 0 = <pad>
        for j, x in enumerate(chunk):
            ids[j, : len(x)] = x
        with torch.no_grad(), record(model, grads=False) as rec:
            model(ids, lengths)
        for k, (low, high, n) in _saturation_counts(rec).items():
            if k in total:
                total[k] = [total[k][0] + low, total[k][1] + high, total[k][2] + n]
            else:
                total[k] = [low, high, n]
    return _saturation_frame({k: tuple(v) for k, v in total.items()}, series)


def top_units(analysis: TextAnalysis, quantity: str, layer: int = 0, direction: int = 0, k: int = 5) -> pd.DataFrame:
    """The most active and the most changing units of one quantity on this text.

    Args:
        analysis: The analysis.
        quantity: E.g. ``"cell"`` or ``"hidden"``.
        layer: Layer index.
        direction: 0 forward, 1 reverse.
        k: Units per ranking.

    Returns:
        Frame ``unit, mean_abs, mean_abs_change, rank_by`` with ``k`` rows per ranking.

    Example:
        >>> top_units(a, "cell", k=3)["rank_by"].unique().tolist()  # doctest: +SKIP
        ['activity', 'change']
    """
    v = analysis.values(quantity, layer, direction)  # (T, U)
    mean_abs = np.nanmean(np.abs(v), axis=0)
    change = np.nanmean(np.abs(np.diff(v, axis=0)), axis=0) if v.shape[0] > 1 else np.zeros(v.shape[1])
    base = pd.DataFrame({"unit": np.arange(v.shape[1]), "mean_abs": mean_abs, "mean_abs_change": change})
    a = base.sort_values("mean_abs", ascending=False).head(k).assign(rank_by="activity")
    c = base.sort_values("mean_abs_change", ascending=False).head(k).assign(rank_by="change")
    return pd.concat([a, c], ignore_index=True)


def unit_frame(analysis: TextAnalysis, unit: int, layer: int = 0, direction: int = 0) -> pd.DataFrame:
    """Every recorded signal of one unit through time (unit drill-down).

    Args:
        analysis: The analysis.
        unit: Unit index.
        layer: Layer index.
        direction: 0 forward, 1 reverse.

    Returns:
        Tidy frame ``series, step, token, value`` (series = quantity names).

    Example:
        >>> unit_frame(a, 3)["series"].unique().tolist()  # doctest: +SKIP
        ['input', 'forget', 'cell_candidate', 'output', 'cell', 'hidden']
    """
    rows = []
    for q in QUANTITIES[analysis.cell]:
        v = analysis.values(q, layer, direction)
        if not 0 <= unit < v.shape[1]:
            raise ValueError(f"unit={unit!r} is out of range; allowed: 0..{v.shape[1] - 1}")
        rows.append(pd.DataFrame({"series": q, "step": np.arange(v.shape[0]), "token": analysis.tokens,
                                  "value": v[:, unit]}))
    return pd.concat(rows, ignore_index=True)
