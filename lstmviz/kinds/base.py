"""What a model kind is: the one seam between a kind of model and the rest of lstmviz.

A *kind* (:class:`Kind`) says everything the checkpoint loader, the trainer's CLI and the dashboard need to know
about one family of models, so that none of them holds a per-kind table:

* its config dataclass (validated in ``__post_init__``, one comment per default, ``to_dict``/``from_dict`` from
  :class:`KindConfig`) and how to build the model (``model_cls(config)``, or :meth:`SeededModule.seeded` from a
  private generator);
* the tensors a model of a config holds, by name and shape, computed from the config alone (:meth:`Kind.shapes`:
  the loader compares them with the safetensors header before a byte is read, nothing is built);
* what its ``meta.json`` must hold beside the weights (:meth:`Kind.check_meta`), and the recurrent part's size that
  the dashboard's work budgets read (:meth:`Kind.recurrent`);
* what its output is (:data:`OUTPUTS`: one class per text, a tag per token, a next-token distribution) and the
  views that can open it (:meth:`Kind.views`);
* for text classifiers, the predictor the Gates, Gradients, Comparison and Corpus views read text through
  (:meth:`Kind.predictor`: tokens with spans, ids, labels; the loss the gradient views differentiate is the
  cross-entropy of its logits).

A kind is registered once (:func:`lstmviz.kinds.register_kind`); a checkpoint names its kind in ``meta.json``
(``model_kind``), and the name only ever selects a registered kind: a file never chooses code.

Example:
    >>> from dataclasses import dataclass
    >>> from torch import nn
    >>> @dataclass
    ... class TinyConfig(KindConfig):
    ...     width: int = 3  # units of the one linear layer
    >>> class Tiny(nn.Module):
    ...     def __init__(self, config):
    ...         super().__init__()
    ...         self.config, self.lin = config, nn.Linear(config.width, 1)
    >>> class TinyKind(Kind):
    ...     name, config_cls, model_cls, output = "tiny", TinyConfig, Tiny, "none"
    ...     def shapes(self, config):
    ...         return {"lin.weight": (1, config.width), "lin.bias": (1,)}
    >>> TinyKind().shapes(TinyKind().config({"width": 4}))
    {'lin.weight': (1, 4), 'lin.bias': (1,)}
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields
from typing import Any, ClassVar

import pandas as pd
import torch
from torch import nn

__all__ = [
    "OUTPUTS",
    "TextInput",
    "VIEWS",
    "Kind",
    "KindConfig",
    "Recurrent",
    "SeededModule",
    "config_from_dict",
    "one_module_frames",
    "rnn_shapes",
]

OUTPUTS = ("classify", "regress", "tags", "next_token", "none")  # what a kind's model returns for a text
# Dashboard views a kind can be opened in (see Kind.views): text classifiers in the first five.
VIEWS = ("gates", "gradients", "compare", "corpus", "training", "generate", "tagger")
_GATES = {"lstm": 4, "gru": 3, "rnn": 1}  # gate blocks of the stacked weight matrices


def config_from_dict(cls: type, d: Any) -> Any:
    """Builds the dataclass ``cls`` from a dict; a non-dict or an unknown key is a ValueError naming the allowed keys.

    Example:
        >>> @dataclass
        ... class C:
        ...     a: int = 1  # a number
        >>> config_from_dict(C, {"a": 2})
        C(a=2)
        >>> config_from_dict(C, {"b": 2})
        Traceback (most recent call last):
        ValueError: unknown model config keys ['b']; allowed: a
    """
    if not isinstance(d, dict):
        raise ValueError(f"model config must be a dict, got {type(d).__name__}")
    known = [f.name for f in fields(cls)]
    unknown = sorted(set(d) - set(known))
    if unknown:
        raise ValueError(f"unknown model config keys {unknown}; allowed: {', '.join(known)}")
    return cls(**d)


class KindConfig:
    """Mixin of every kind's config dataclass: the JSON round trip stored in ``meta.json`` (``config``).

    Example:
        >>> @dataclass
        ... class C(KindConfig):
        ...     hidden_size: int = 8  # units
        >>> C.from_dict(C(hidden_size=4).to_dict())
        C(hidden_size=4)
    """

    def to_dict(self) -> dict[str, Any]:
        """The config as a JSON-ready dict (every field, by name)."""
        return asdict(self)  # type: ignore[call-overload]

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Any:
        """Inverse of :meth:`to_dict`; missing fields take their defaults, unknown keys are a ValueError."""
        return config_from_dict(cls, d)


class SeededModule:
    """Mixin of a kind's model class: :meth:`seeded` builds it initialised from a private generator.

    The model is built on the meta device (PyTorch's own initialisation would draw from the global RNG that other
    threads of the dashboard share, and would cost a second pass), then every parameter is drawn by
    :func:`lstmviz.models.init_weights` and :meth:`after_init` sets what the config fixes (e.g. gate biases).
    """

    @classmethod
    def seeded(cls, config: Any, seed: int) -> Any:
        """A model of ``config`` whose weights depend on ``seed`` only (the global RNG is not touched).

        Example:
            >>> from lstmviz.models import ModelConfig, RecurrentClassifier, weights_fingerprint
            >>> cfg = ModelConfig(cell="gru", vocab_size=10, num_classes=3)
            >>> a, b = RecurrentClassifier.seeded(cfg, 3), RecurrentClassifier.seeded(cfg, 3)
            >>> weights_fingerprint(a) == weights_fingerprint(b)
            True
        """
        from lstmviz.models import init_weights  # not at the top: lstmviz.models imports this module

        with torch.device("meta"):
            model = cls(config)
        model.to_empty(device="cpu")
        return init_weights(model, seed)  # calls after_init

    def after_init(self) -> None:
        """Sets what the config fixes after the random draw (nothing by default)."""


@dataclass(frozen=True)
class Recurrent:
    """The recurrent part of a model of some config, as the dashboard's work budgets count it."""

    cell: str  # "rnn" | "gru" | "lstm"
    hidden_size: int  # units per layer and direction
    num_layers: int  # stacked layers
    directions: int  # 1, or 2 when bidirectional


@dataclass(frozen=True)
class TextInput:
    """One text as a kind's model reads it (:meth:`Kind.encode`): a batch of one, tokens with their spans."""

    inputs: tuple[torch.Tensor, ...]  # positional arguments of the model's forward, batch of one
    tokens: list[str]  # the tokens as typed: text[start:end] of each span
    spans: list[tuple[int, int]]  # each token's (start, end) in the text


def rnn_shapes(cell: str, first: int, H: int, layers: int, D: int, prefix: str = "rnn") -> dict[str, tuple[int, ...]]:
    """Tensors of an ``nn.RNN/GRU/LSTM`` named ``prefix`` with ``first`` inputs, ``H`` units, ``D`` directions.

    Example:
        >>> rnn_shapes("gru", 5, 2, 1, 1)["rnn.weight_ih_l0"]
        (6, 5)
    """
    gates = _GATES[cell]
    shapes: dict[str, tuple[int, ...]] = {}
    for layer in range(layers):
        inputs = first if layer == 0 else D * H
        for suffix in ("", "_reverse")[:D]:
            shapes[f"{prefix}.weight_ih_l{layer}{suffix}"] = (gates * H, inputs)
            shapes[f"{prefix}.weight_hh_l{layer}{suffix}"] = (gates * H, H)
            shapes[f"{prefix}.bias_ih_l{layer}{suffix}"] = (gates * H,)
            shapes[f"{prefix}.bias_hh_l{layer}{suffix}"] = (gates * H,)
    return shapes


def one_module_frames(rec: Any) -> dict[tuple[int, str, str], pd.DataFrame]:
    """``(layer, direction, quantity) -> frame (step, unit, value)`` of a one-sequence recording (``to_frame``).

    The key has no module: a recording of two recurrent modules is refused rather than merged.

    Example:
        >>> import lstmviz
        >>> gru = nn.GRU(2, 3, batch_first=True)
        >>> with torch.no_grad(), lstmviz.record(gru) as rec:
        ...     _ = gru(torch.zeros(1, 4, 2))
        >>> sorted(one_module_frames(rec))[0]
        (0, 'fwd', 'hidden')
    """
    frame = rec.to_frame()
    modules = list(dict.fromkeys(frame["module"]))
    if len(modules) > 1:
        raise ValueError(f"this view draws one recurrent module; the model has {len(modules)}: {modules}")
    groups = frame.groupby(["layer", "direction", "quantity"], sort=False)
    return {key: part[["step", "unit", "value"]].reset_index(drop=True) for key, part in groups}


class Kind:
    """A family of models: config, build, expected tensors, meta checks, output and views (see the module doc).

    Subclass it, set the class attributes and implement :meth:`shapes`; override the rest where the defaults do
    not fit. Register an instance with :func:`lstmviz.kinds.register_kind`.
    """

    name: ClassVar[str]  # registry key, stored in meta.json as "model_kind"
    config_cls: ClassVar[type]  # the config dataclass (KindConfig)
    model_cls: ClassVar[type]  # the nn.Module built from a config
    output: ClassVar[str] = "none"  # one of OUTPUTS
    # meta.json lists whose length a config field fixes: list key -> config field (e.g. "chars" -> "vocab_size")
    symbol_lists: ClassVar[Mapping[str, str]] = {}

    def config(self, d: Any) -> Any:
        """The validated config of a ``meta.json`` ``config`` dict (ValueError/TypeError naming the bad value)."""
        return self.config_cls.from_dict(d)

    def build(self, config: Any) -> nn.Module:
        """A model of ``config``; its random init leaves the global RNG as it was (a shared server)."""
        with torch.random.fork_rng(devices=[]):
            return self.model_cls(config)

    def seeded(self, config: Any, seed: int) -> nn.Module:
        """A model of ``config`` initialised from ``seed`` (see :class:`SeededModule`)."""
        return self.model_cls.seeded(config, seed)

    def shapes(self, config: Any) -> dict[str, tuple[int, ...]]:
        """Every tensor a model of ``config`` holds (``state_dict`` names and shapes), from the config alone."""
        raise NotImplementedError(f"kind {self.name!r} does not say which tensors its models hold")

    def recurrent(self, config: Any) -> Recurrent | None:
        """The recurrent part's size (None: nothing to record). Default: the config's ``cell``, ``hidden_size``,
        ``num_layers`` (1 when absent) and ``directions`` (1 when absent)."""
        cell = getattr(config, "cell", None)
        if cell not in _GATES or not hasattr(config, "hidden_size"):
            return None
        return Recurrent(cell, config.hidden_size, getattr(config, "num_layers", 1), getattr(config, "directions", 1))

    def check_meta(self, meta_path: str | os.PathLike, meta: Mapping[str, Any], config: Any) -> None:
        """Refuses a ``meta.json`` that disagrees with ``config`` (ValueError naming the field). Default: every
        list of :attr:`symbol_lists` is a list of strings as long as its config field says."""
        for key, size in self.symbol_lists.items():
            values = meta.get(key)
            if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
                raise ValueError(f"{meta_path}: '{key}' must be a list of strings (the vocabulary, index = id)")
            if len(values) != getattr(config, size):
                raise ValueError(
                    f"{meta_path}: '{key}' has {len(values)} entries but config {size}={getattr(config, size)}"
                )

    def check_fields(self, meta_path: str | os.PathLike, meta: Mapping[str, Any]) -> None:
        """Refuses malformed kind-specific fields of a ``meta.json`` as it is read (before the config is used).
        Nothing by default."""

    def task(self, meta: Mapping[str, Any]) -> str:
        """The task a checkpoint of this kind was trained on, as the views group models."""
        return str(meta.get("task", self.name))

    def views(self, config: Any) -> frozenset[str]:
        """The dashboard views (:data:`VIEWS`) that can open a model of ``config``. None by default."""
        return frozenset()

    def encode(self, model: nn.Module, meta: dict[str, Any], text: str) -> TextInput:
        """``text`` as the model reads it: its forward's inputs (a batch of one) and the tokens with their spans."""
        raise ValueError(f"model kind {self.name!r} does not say how it reads a text")

    def predict(self, model: nn.Module, encoded: TextInput) -> dict[str, Any]:
        """What the model outputs for an encoded text, as probabilities (numpy), by name: ``probs`` ``(C,)`` of a
        classifier, ``next`` ``(T, V)`` of a language model, ``pos``/``ner`` ``(T, tags)`` of a tagger. Default:
        the softmax of the forward's output over its last axis, under ``no_grad``, as ``probs``."""
        with torch.no_grad():
            out = model(*encoded.inputs)
        return {"probs": torch.softmax(out[0].float(), -1).numpy()}

    def train_job(self) -> Any:
        """Its subcommand of ``python -m lstmviz.train`` (a :class:`lstmviz.cli.common.Job`: flags, checks, run), or
        None when lstmviz does not train this kind (a kind registered from a user's code trains in their loop)."""
        return None

    def predictor(self, model: nn.Module, meta: dict[str, Any]) -> Any:
        """What the text views read a text through (tokens with spans, ids, labels): only text classifiers."""
        raise ValueError(f"model kind {self.name!r} ({self.output}) reads no text into one class per sentence")

    def __repr__(self) -> str:
        return f"<kind {self.name!r}: {self.model_cls.__name__}, output {self.output!r}>"
