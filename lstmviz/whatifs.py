"""What-ifs: a counterfactual change to a model or its input, applied to a private copy.

:class:`WhatIf` names the change (filler tokens at a chosen place, ``W_hh`` scaled, the forget /
update gate bias shifted, the exact initialisation the model was trained from, when its checkpoint
recorded it);
:func:`make_variant` builds a predictor on a private deep copy (the shared model is never touched)
and :func:`what_if` analyses a text with it.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from lstmviz.models import check_initialisation, init_weights
from lstmviz.sentence import TextAnalysis, analyze_text, cell_type, rnn_module

__all__ = ["WhatIf", "make_variant", "seeded_init", "what_if"]


@dataclass(frozen=True)
class WhatIf:
    """A counterfactual change to a model or its input (applied to a private copy).

    Example:
        >>> WhatIf(whh_scale=0.5).changes_model
        True
    """

    # Tokens inserted into the text (input change only; sentence.filler_ids: a neutral token, or the cue task's
    # distractors continuing their cycle). The loss target stays the class predicted on the text without them.
    filler_tokens: int = 0
    filler_at: int | str = "auto"  # where: see filler_position (cue models: after the cue)
    whh_scale: float = 1.0  # factor applied to W_hh of every layer and direction
    forget_bias: float = 0.0  # added to the LSTM forget-gate bias (GRU: the update gate z)
    # Same architecture at its initialisation: init_weights with the checkpoint's gate bias and `seed`.
    untrained: bool = False
    # None: the checkpoint's own starting point (meta "init_seed"), accepted only when it matches the stored
    # "init_fingerprint" (UnknownInitialisation otherwise); an int: a fresh model of the same architecture.
    seed: int | None = None

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


def make_variant(predictor: Any, whatif: WhatIf) -> Any:
    """A predictor whose model is a PRIVATE modified deep copy (the original is untouched).

    Args:
        predictor: The original predictor.
        whatif: The change; ``filler_tokens`` is ignored here (see :func:`what_if`).

    Returns:
        A shallow copy of the predictor with ``.model`` replaced; the predictor itself
        when ``whatif`` does not change the model.

    Raises:
        UnknownInitialisation: ``whatif.untrained`` without a seed, and the predictor's meta does not
            record the weights training started from (no ``init_fingerprint``, or the rebuilt weights
            do not match it).

    Example:
        >>> from types import SimpleNamespace
        >>> from lstmviz.models import ModelConfig, RecurrentClassifier, weights_fingerprint
        >>> cfg = ModelConfig(cell="gru", vocab_size=9, embed_dim=3, hidden_size=4, num_classes=2)
        >>> model = RecurrentClassifier.seeded(cfg, 5)
        >>> start = weights_fingerprint(model)  # what training stores; these weights never trained
        >>> predictor = SimpleNamespace(model=model, meta={"init_seed": 5, "init_fingerprint": start})
        >>> make_variant(predictor, WhatIf(whh_scale=2.0)).model is predictor.model
        False
        >>> weights_fingerprint(make_variant(predictor, WhatIf(untrained=True)).model) == start
        True
        >>> make_variant(SimpleNamespace(model=model, meta={"init_seed": 5}), WhatIf(untrained=True))
        Traceback (most recent call last):
        lstmviz.models.UnknownInitialisation: the checkpoint stores no init_fingerprint: its initial weights are unknown
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
        if getattr(getattr(original, "config", None), "freeze_embedding", False):
            # A frozen (pretrained) embedding never changed in training: the trained one is the initial one.
            with torch.no_grad():
                model.embedding.weight.copy_(original.embedding.weight)
        if whatif.seed is None:  # offered as where training started: only a recorded, matching start is that
            check_initialisation(model, meta)
    model.eval()
    _, rnn = rnn_module(model)
    cell = cell_type(rnn)
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


def what_if(predictor: Any, text: str, whatif: WhatIf, target: int | str | None = None) -> TextAnalysis:
    """Analyses a text under a counterfactual (:class:`WhatIf`) on a private model copy.

    Args:
        predictor: The original predictor (never mutated).
        text: The text.
        whatif: The change.
        target: As in :func:`analyze_text`: None is the class the (variant) model predicts on the text
            without fillers, so filler tokens never change the loss being traced.

    Returns:
        A :class:`TextAnalysis` with ``extra["whatif"]`` set.

    Example:
        >>> a = what_if(predictor, "Мне понравилось", WhatIf(filler_tokens=20))  # doctest: +SKIP
        >>> a.lemmas[:2], a.extra["target_source"]  # doctest: +SKIP
        (['и', 'и'], 'original')
    """
    variant = make_variant(predictor, whatif)
    a = analyze_text(variant, text, grads=True, target=target, prepend=whatif.filler_tokens, filler_at=whatif.filler_at)
    a.extra["whatif"] = whatif
    return a
