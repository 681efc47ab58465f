"""Your own model in the dashboard: an :class:`Adapter` says how lstmviz reads text into it and what it outputs.

An adapter wraps a user's ``nn.Module`` as it is (any layout, any number of ``nn.LSTM``/``nn.GRU``/``nn.RNN``,
``*Cell`` loops or :func:`lstmviz.tap` taps), with

* a tokenizer: any callable ``text -> tokens``, each token ``(string, start, end, id)`` (a plain function is
  enough; ``start``/``end`` are the token's span in the text, ``id`` the integer the model was trained on);
* what the model outputs (:data:`OUTPUTS`): one class per text (``"classify"``, logits ``(C,)``), a tag per token
  (``"tags"``, logits ``(T, K)``), a next-token distribution (``"next_token"``, logits ``(T, V)``), or only a loss
  the user gives (``"loss"``);
* optionally ``forward(model, ids)`` (how to call the model on ids ``(1, T)``; default ``model(ids)``), ``loss(model,
  ids)`` (the loss the gradient views differentiate; default: cross-entropy to the predicted class, to the predicted
  tags, or of each next typed token) and ``labels`` (class or tag names).

The dashboard loads adapters from a Python file the user names when starting it (``lstmviz dashboard --models
my_models.py``, ``streamlit run dashboard/app.py -- --models my_models.py`` or ``LSTMVIZ_MODELS``): code the user
chose to run, like ``app.py``; nothing a visitor sets, and nothing in a checkpoint folder, ever names such a file.
The file defines ``MODELS``: a list of adapters, or a function returning one (:func:`load_models_file`).

:func:`analyze` runs one text through an adapter into the same
:class:`~lstmviz.sentence.TextAnalysis` the Gates and Gradients views draw for the shipped models: every
recurrent module recorded (forward in float32, as the model computes), gradients through time of the loss on a
private float64 copy of the model (the model itself is never mutated: no mode, parameter or ``.grad`` changes).
:func:`generate` continues a text with a ``next_token`` adapter (sampled from a private seeded generator) and
:func:`tag` tags one with a ``tags`` adapter: what the Generation and Word tagging views show.

Example:
    >>> import torch
    >>> from torch import nn
    >>> class Tiny(nn.Module):
    ...     def __init__(self):
    ...         super().__init__()
    ...         self.emb, self.rnn, self.head = nn.Embedding(5, 3), nn.GRU(3, 4, batch_first=True), nn.Linear(4, 2)
    ...     def forward(self, ids):
    ...         return self.head(self.rnn(self.emb(ids))[0][:, -1])  # (B, 2)
    >>> def words(text):
    ...     return [(m.group(), m.start(), m.end(), len(m.group()) % 5) for m in re.finditer(r"\\S+", text)]
    >>> _ = torch.manual_seed(0)
    >>> tiny = Adapter("tiny", Tiny(), words, output="classify", labels=["no", "yes"])
    >>> a = analyze(tiny, "a bb ccc")
    >>> a.tokens, a.module, a.cell, a.probs.shape
    (['a', 'bb', 'ccc'], 'rnn', 'gru', (3, 2))
"""

from __future__ import annotations

import copy
import dataclasses
import hashlib
import importlib.util
import math
import re
import sys
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from torch import nn

from lstmviz.kinds.base import Recurrent, TextInput
from lstmviz.names import parse_key
from lstmviz.recorder import cell_type

__all__ = [
    "OUTPUTS",
    "MAX_TOKENS",
    "MAX_GENERATE_TOKENS",
    "Adapter",
    "AdapterPredictor",
    "ModelsFileError",
    "analyze",
    "eval_copy",
    "for_module",
    "generate",
    "load_models_file",
    "step_labels",
    "tag",
    "tag_table",
]

#: What an adapted model outputs (see the module docstring).
OUTPUTS = ("classify", "tags", "next_token", "loss")
#: Longest input read into an adapted model: longer texts keep their first MAX_TOKENS tokens (as the shipped ones).
MAX_TOKENS = 200
_NAME = re.compile(r"[^\x00-\x1f\x7f]{1,80}")  # a printable name of at most 80 characters
_VIEWS = {  # dashboard views that open an adapter of each output (lstmviz.kinds.base.VIEWS names)
    "classify": frozenset({"gates", "gradients", "compare"}),
    "tags": frozenset({"gates", "gradients", "compare", "tagger"}),
    "next_token": frozenset({"gates", "gradients", "compare", "generate"}),
    "loss": frozenset({"gates", "gradients", "compare"}),
}


class ModelsFileError(ValueError):
    """A models file that cannot be read into adapters (the message names the file)."""


@dataclass(frozen=True)
class Adapter:
    """A user's model as the dashboard reads it (see the module docstring).

    Attributes:
        name: Shown in the model picker (marked as the user's), 1-80 printable characters, unique per server.
        model: The ``nn.Module``, trained, as the user's code built it (never mutated here).
        tokenize: ``text -> iterable of (token, start, end, id)``.
        output: One of :data:`OUTPUTS`.
        labels: Class names (``classify``), tag names (``tags``) or token names by id (``next_token``, optional).
        forward: ``(model, ids (1, T)) -> logits`` (``(C,)``/``(1, C)`` or ``(T, K)``/``(1, T, K)``/``(T, 1, K)``);
            None calls ``model(ids)``.
        loss: ``(model, ids (1, T)) -> scalar`` the gradient views differentiate; required for ``output="loss"``.
        examples: Texts offered in the preset picker (default: none).
        token_modules: Paths of the recurrent modules that step once per token (their axis shows the tokens); None:
            every module whose step count equals the token count. A decoder's steps are its outputs, not the input's
            tokens: name the encoder here and the decoder's axis shows step numbers.
        description: One line shown under the picker.

    Example:
        >>> Adapter("x", nn.GRU(2, 3), lambda s: [], output="guess")
        Traceback (most recent call last):
        ValueError: adapter 'x': output='guess' is not one of ('classify', 'tags', 'next_token', 'loss')
    """

    name: str
    model: nn.Module
    tokenize: Callable[[str], Iterable[Any]]
    output: str = "classify"  # what the model's logits mean (OUTPUTS)
    labels: Sequence[str] | None = None  # class / tag names; None: "0", "1", ...
    forward: Callable[[nn.Module, torch.Tensor], torch.Tensor] | None = None  # None: model(ids)
    loss: Callable[[nn.Module, torch.Tensor], torch.Tensor] | None = None  # None: the output's cross-entropy
    examples: Sequence[str] = ()  # preset texts
    token_modules: Sequence[str] | None = None  # modules stepping once per token; None: those with T steps
    description: str = ""  # one line for the picker

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not _NAME.fullmatch(self.name):
            raise ValueError(f"adapter name must be 1-80 printable characters, got {self.name!r}")
        if not isinstance(self.model, nn.Module):
            raise TypeError(f"adapter {self.name!r}: model must be a torch.nn.Module, got {type(self.model).__name__}")
        for what in ("tokenize",):
            if not callable(getattr(self, what)):
                raise TypeError(f"adapter {self.name!r}: {what} must be callable")
        for what in ("forward", "loss"):
            if getattr(self, what) is not None and not callable(getattr(self, what)):
                raise TypeError(f"adapter {self.name!r}: {what} must be callable or None")
        if self.output not in OUTPUTS:
            raise ValueError(f"adapter {self.name!r}: output={self.output!r} is not one of {OUTPUTS}")
        if self.output == "loss" and self.loss is None:
            raise ValueError(f"adapter {self.name!r}: output='loss' needs loss=(model, ids) -> scalar")
        if self.labels is not None:
            if isinstance(self.labels, str) or not all(isinstance(x, str) for x in self.labels):
                raise TypeError(f"adapter {self.name!r}: labels must be a list of strings")
            object.__setattr__(self, "labels", tuple(self.labels))
        object.__setattr__(self, "examples", tuple(str(x) for x in self.examples))
        if self.token_modules is not None:
            if isinstance(self.token_modules, str) or not all(isinstance(x, str) for x in self.token_modules):
                raise TypeError(f"adapter {self.name!r}: token_modules must be a list of module paths")
            object.__setattr__(self, "token_modules", tuple(self.token_modules))

    # ----- the kind-like seam: what the dashboard asks every model ------------------------------------------------
    def views(self) -> frozenset[str]:
        """The dashboard views (:data:`lstmviz.kinds.base.VIEWS`) that open this model."""
        return _VIEWS[self.output]

    def recurrent(self) -> list[Recurrent]:
        """Every full ``nn.LSTM``/``nn.GRU``/``nn.RNN`` and ``*Cell`` of the model, as the work budgets count it
        (a cell counts as one layer; taps are counted when recorded).

        Example:
            >>> Adapter("x", nn.LSTM(2, 3, num_layers=2), lambda s: []).recurrent()
            [Recurrent(cell='lstm', hidden_size=3, num_layers=2, directions=1)]
        """
        out = []
        for m in self.model.modules():
            cell = cell_type(m)
            if cell is None:
                continue
            if isinstance(m, nn.RNNBase):
                out.append(Recurrent(cell, m.hidden_size, m.num_layers, 2 if m.bidirectional else 1))
            else:
                out.append(Recurrent(cell, m.hidden_size, 1, 1))
        return out

    def encode(self, text: str) -> TextInput:
        """``text`` as the model reads it: ids ``(1, T)`` and the tokens with their spans (at most MAX_TOKENS).

        Raises:
            ValueError: the tokenizer returned something else than ``(token, start, end, id)`` items (the message
                names the adapter and the bad item).
        """
        tokens, spans, ids = [], [], []
        for i, item in enumerate(self.tokenize(text)):
            if i >= MAX_TOKENS:
                break
            try:
                tok, start, end, tid = item
                start, end, tid = _int(start), _int(end), _int(tid)
            except (TypeError, ValueError) as e:
                raise ValueError(
                    f"adapter {self.name!r}: the tokenizer must give (token, start, end, id) items; item {i} is "
                    f"{item!r:.80}"
                ) from e
            tokens.append(str(tok))
            spans.append((start, end))
            ids.append(tid)
        return TextInput((torch.tensor([ids], dtype=torch.long),), tokens, spans)  # (1, T)

    def logits(self, model: nn.Module, ids: torch.Tensor) -> torch.Tensor:
        """The model's logits for ids ``(1, T)``: ``(C,)`` for ``classify``, ``(T, K)`` per token."""
        out = self.forward(model, ids) if self.forward is not None else model(ids)
        if isinstance(out, (tuple, list)):  # (output, hidden) as nn.LSTM-style models return
            out = out[0]
        if not isinstance(out, torch.Tensor):
            raise TypeError(f"adapter {self.name!r}: forward must return a tensor of logits, got {type(out).__name__}")
        T = ids.shape[1]
        if self.output == "classify":
            out = out.reshape(-1) if out.dim() == 1 or out.shape[0] == 1 else out
            if out.dim() != 1:
                raise ValueError(
                    f"adapter {self.name!r}: classify logits must be (C,) or (1, C), got {tuple(out.shape)}"
                )
            return out
        squeezed = out.squeeze(1) if out.dim() == 3 and out.shape[1] == 1 and out.shape[0] == T else out
        squeezed = squeezed.squeeze(0) if squeezed.dim() == 3 and squeezed.shape[0] == 1 else squeezed
        if squeezed.dim() != 2 or squeezed.shape[0] != T:
            raise ValueError(
                f"adapter {self.name!r}: {self.output} logits must be (T, K), (1, T, K) or (T, 1, K) with T={T}, got "
                f"{tuple(out.shape)}"
            )
        return squeezed

    def label_names(self, k: int) -> list[str]:
        """The names of ``k`` classes or tags (``labels`` when given, else "0", "1", ...)."""
        if self.labels is not None and len(self.labels) == k:
            return list(self.labels)
        return [str(i) for i in range(k)]


def _int(x: Any) -> int:
    if isinstance(x, bool) or not isinstance(x, (int, np.integer)) and not (torch.is_tensor(x) and x.numel() == 1):
        raise TypeError(f"expected an integer, got {type(x).__name__}")
    return int(x)


@dataclass
class AdapterPredictor:
    """What the dashboard's text views hold for an adapter (the counterpart of :class:`lstmviz.pipeline.Predictor`).

    Attributes:
        adapter: The adapter.
        task: ``"adapter:<name>"``: every adapter keeps its own text in the views.
        labels: Class names of a ``classify`` model (what the Gradients view's loss can target); empty otherwise.
    """

    adapter: Adapter
    task: str = ""
    labels: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.task = f"adapter:{self.adapter.name}"
        if self.adapter.output == "classify" and self.adapter.labels is not None:  # the classes a loss can target
            self.labels = list(self.adapter.labels)

    @property
    def model(self) -> nn.Module:
        return self.adapter.model


def _loss(adapter: Adapter, model: nn.Module, ids: torch.Tensor, target: int | None) -> torch.Tensor:
    """The scalar the gradient views differentiate (see :class:`Adapter`)."""
    if adapter.loss is not None:
        loss = adapter.loss(model, ids)
        if not isinstance(loss, torch.Tensor) or loss.numel() != 1:
            raise ValueError(f"adapter {adapter.name!r}: loss must return a scalar tensor, got {loss!r:.60}")
        return loss.reshape(())
    logits = adapter.logits(model, ids)
    if adapter.output == "classify":
        return F.cross_entropy(logits[None], torch.tensor([target]))
    if adapter.output == "tags":  # the tags it predicts: how strongly each step's state supports its own answer
        return F.cross_entropy(logits, logits.detach().argmax(-1))
    if ids.shape[1] < 2:  # next_token: nothing typed after the only token
        return logits.sum() * 0.0
    return F.cross_entropy(logits[:-1], ids[0, 1:])  # each next typed token, mean over T - 1 steps


def eval_copy(model: nn.Module) -> nn.Module:
    """The model in eval mode, without flipping the mode of a shared one: the model itself when every module is in
    eval mode already, else a private copy.

    Example:
        >>> m = nn.GRU(2, 3)
        >>> eval_copy(m) is m, m.training
        (False, True)
    """
    return copy.deepcopy(model).eval() if any(m.training for m in model.modules()) else model


def analyze(adapter: Adapter, text: str, *, grads: bool = True, target: int | str | None = None) -> Any:
    """One text through an adapted model: a :class:`~lstmviz.sentence.TextAnalysis` the Gates and Gradients views
    draw.

    ``probs`` is ``(T, C)`` after each prefix for ``classify`` (one forward per prefix: the model's own way of
    reading a shorter text), ``(T, K)`` tag probabilities for ``tags``, ``(T, 1)`` the probability the model gave
    to each next typed token for ``next_token`` (NaN at the last token) and ``(T, 0)`` for ``loss``.
    ``extra["modules"]`` holds every recorded module's ``(cell, layers, directions, steps)``; the analysis is of
    the first one, :func:`for_module` gives the others.

    Args:
        adapter: The adapter.
        text: Any text.
        grads: Also record gradients through time of the loss (float64 copy of the model).
        target: Classify only: the class the loss is taken against (None: the predicted one), index or name.

    Raises:
        lstmviz.sentence.EmptyTextError: the tokenizer found no token.
        ValueError: a tokenizer, forward or loss that breaks the contract (the message names the adapter).
    """
    from lstmviz.profiles import end_to_start
    from lstmviz.recorder import record
    from lstmviz.sentence import EmptyTextError, TextAnalysis, _resolve_target

    if not isinstance(text, str):
        raise TypeError(f"text must be a str, got {type(text).__name__}")
    enc = adapter.encode(text)
    (ids,) = enc.inputs  # (1, T)
    T = ids.shape[1]
    if T == 0:
        raise EmptyTextError(f"the text {text[:40]!r} has no tokens the model reads; allowed: at least one token")
    model = eval_copy(adapter.model)
    with torch.no_grad():
        if adapter.output == "classify":
            probs = np.stack([F.softmax(adapter.logits(model, ids[:, : t + 1]).float(), -1).numpy() for t in range(T)])
            labels = adapter.label_names(probs.shape[1])
        elif adapter.output == "tags":
            probs = F.softmax(adapter.logits(model, ids).float(), -1).numpy()  # (T, K)
            labels = adapter.label_names(probs.shape[1])
        elif adapter.output == "next_token":
            p = F.softmax(adapter.logits(model, ids).float(), -1)  # (T, V)
            nxt = np.full((T, 1), np.nan)
            nxt[:-1, 0] = p[torch.arange(T - 1), ids[0, 1:]].numpy()
            probs, labels = nxt, ["next"]
        else:
            probs, labels = np.zeros((T, 0)), []
    predicted = int(np.argmax(probs[-1])) if adapter.output == "classify" else 0
    tgt = _resolve_target(target, labels, predicted) if adapter.output == "classify" else 0

    with torch.no_grad(), record(model) as rec:
        if adapter.output == "loss":
            adapter.loss(model, ids)
        else:
            adapter.logits(model, ids)
    modules = _modules(rec)
    if not modules:
        raise ValueError(f"adapter {adapter.name!r}: the model ran no recurrent module and tapped nothing")
    rec64 = loss_value = grad_ratio = None
    if grads:
        model64 = copy.deepcopy(model).double()
        with record(model64, grads=True) as rec64:
            loss = _loss(adapter, model64, ids, tgt)
            if loss.requires_grad:
                rec64.backward(loss)
            else:
                rec64 = None
        loss_value = float(loss.detach())
    a = TextAnalysis(
        text=text,
        tokens=list(enc.tokens),
        lemmas=list(enc.tokens),
        kinds=["word"] * T,
        unknown=[False] * T,
        truncated=False,
        labels=labels,
        probs=probs,
        target=tgt,
        recording=rec,
        saliency=None,
        cell="rnn",
        module="",
        num_layers=1,
        directions=1,
        loss=loss_value,
        recording64=rec64,
    )
    a.extra.update(
        modules=modules,
        adapter=adapter.name,
        output=adapter.output,
        text_tokens=list(enc.tokens),
        spans=list(enc.spans),
        ids=ids[0].tolist(),
        token_modules=adapter.token_modules,
    )
    first = for_module(a, next(iter(modules)))  # the first module the model ran
    if rec64 is not None and adapter.output == "classify":  # the loss enters at the last token: end over start
        top = first.key("grad_hidden", first.num_layers - 1, 0)
        if top in rec64.keys():
            norms = torch.linalg.vector_norm(rec64[top][:1], dim=-1)  # (1, T_module)
            grad_ratio = float(end_to_start(norms, torch.tensor([norms.shape[1]]))[0])
    first.grad_ratio = grad_ratio
    return first


def _modules(rec: Any) -> dict[str, tuple[str, int, int, int]]:
    """Recorded module path -> ``(cell, layers, directions, steps)``, in recording order."""
    out: dict[str, tuple[str, int, int, int]] = {}
    layers: dict[str, set[tuple[int, int]]] = {}
    steps: dict[str, int] = {}
    for key in rec.keys():
        kp = parse_key(key)
        if kp.quantity.startswith("grad_"):
            continue
        layers.setdefault(kp.module, set()).add((kp.layer, kp.direction))
        steps.setdefault(kp.module, int(rec[key].shape[1]))
    for path, lds in layers.items():
        cell = rec.modules.get(path, "rnn")
        out[path] = (cell, 1 + max(x[0] for x in lds), 1 + max(x[1] for x in lds), steps[path])
    return out


def step_labels(a: Any, module: str) -> list[str]:
    """Axis labels of a module's steps: the tokens when the module ran once per token, else "1", "2", ...

    Example:
        >>> from types import SimpleNamespace
        >>> step_labels(SimpleNamespace(extra={"modules": {"dec": ("gru", 1, 1, 3)}, "text_tokens": ["a"]}), "dec")
        ['1', '2', '3']
    """
    steps = a.extra["modules"][module][3]
    tokens = a.extra["text_tokens"]
    named = a.extra.get("token_modules")
    per_token = steps == len(tokens) and (named is None or module in named)
    return list(tokens) if per_token else [str(i + 1) for i in range(steps)]


def for_module(a: Any, module: str) -> Any:
    """The analysis ``a`` of an adapter, seen through another recorded module (its cell, layers, step labels).

    ``weight_stats`` stay empty for adapters: the Pascanu bound the Gradients view draws assumes the loss enters
    through the last hidden state only, which a user's loss need not do, so no bound is drawn.

    Raises:
        ValueError: ``module`` was not recorded (the message lists the recorded ones).
    """
    modules = a.extra["modules"]
    if module not in modules:
        raise ValueError(f"module {module!r} was not recorded; recorded: {list(modules)}")
    cell, layers, directions, _ = modules[module]
    labels = step_labels(a, module)
    return dataclasses.replace(
        a,
        tokens=labels,
        lemmas=labels,
        kinds=["word"] * len(labels),
        unknown=[False] * len(labels),
        cell=cell,
        module=module,
        num_layers=layers,
        directions=directions,
        extra=dict(a.extra),
    )


# ----- the Generation and Word tagging views of an adapter -------------------------------------------------------
#: Most tokens one :func:`generate` call adds: an adapter has no state to carry, so each step reads the whole
#: sequence again (the work grows with the square of the length).
MAX_GENERATE_TOKENS = 200


def generate(
    adapter: Adapter,
    text: str,
    length: int,
    *,
    temperature: float = 1.0,
    top_k: int | None = None,
    seed: int = 0,
) -> dict[str, Any]:
    """Continues ``text`` by ``length`` tokens sampled from a ``next_token`` adapter; the same seed gives the same
    tokens.

    The prefix is read with the adapter's tokenizer (its first :data:`MAX_TOKENS` tokens). Each step calls
    ``adapter.logits(model, ids)`` on the whole sequence so far (any model that reads ids works: nothing assumes a
    state it carries) and samples the next id from the last step's logits as :func:`lstmviz.charlm.generate` does:
    the logits in float64 divided by ``temperature``, only the ``top_k`` most likely kept, drawn from a private
    ``torch.Generator`` seeded with ``seed`` (the global generator is neither read nor advanced). The whole sequence
    (prefix + generated) is then recorded once under ``no_grad``. The model is never mutated (one in training mode
    is sampled through an eval copy).

    Args:
        adapter: An adapter with ``output="next_token"``.
        text: The prefix: at least one token of the adapter's tokenizer.
        length: Tokens to add, 0 .. :data:`MAX_GENERATE_TOKENS`.
        temperature: A finite number >= :data:`lstmviz.charlm.MIN_TEMPERATURE`.
        top_k: None (every token), or an integer >= 1.
        seed: Seed of the sampling, an integer 0 .. :data:`lstmviz.charlm.MAX_SEED`.

    Returns:
        ``prefix_tokens`` and ``prefix_ids`` (what the tokenizer read), ``ids`` (the generated ids), ``tokens``
        (their names: ``adapter.labels[id]`` when the labels name it, else ``str(id)``), ``p`` (the model's
        probability of each chosen token: the softmax of its logits), ``p_sampled`` (the probability it was drawn
        with: after temperature and top-k), ``recording`` (the :class:`~lstmviz.recording.Recording` of prefix +
        generated, batch of one) and ``analysis``: a :class:`~lstmviz.sentence.TextAnalysis` of that recording
        whose ``text`` is the prefix followed by the generated names, each after a space, ``probs`` ``(T, 1)`` the
        probability of each next token (NaN at the last) and ``extra["prefix_len"]`` the prefix's token count
        (:func:`for_module` gives the other recorded modules).

    Raises:
        lstmviz.sentence.EmptyTextError: the tokenizer found no token in ``text``.
        ValueError: a wrong output, an argument out of range (named with the allowed values), or logits that are
            not finite (naming the adapter and the step).

    Example:
        >>> class LM(nn.Module):
        ...     def __init__(self):
        ...         super().__init__()
        ...         self.emb, self.rnn, self.head = nn.Embedding(4, 3), nn.LSTM(3, 5, batch_first=True), nn.Linear(5, 4)
        ...     def forward(self, ids):  # (1, T)
        ...         return self.head(self.rnn(self.emb(ids))[0])  # (1, T, 4)
        >>> def chars(text):
        ...     return [(c, i, i + 1, "abcd".index(c)) for i, c in enumerate(text) if c in "abcd"]
        >>> _ = torch.manual_seed(0)
        >>> lm = Adapter("lm", LM(), chars, output="next_token", labels=["a", "b", "c", "d"])
        >>> g = generate(lm, "ab", 5, temperature=0.8, top_k=3, seed=1)
        >>> again = generate(lm, "ab", 5, temperature=0.8, top_k=3, seed=1)
        >>> g["prefix_tokens"], len(g["tokens"]), again["tokens"] == g["tokens"], set(g["tokens"]) <= {"a", "b", "c"}
        (['a', 'b'], 5, True, True)
        >>> g["recording"]["rnn.l0.cell"].shape, all(0 <= p <= 1 for p in g["p"] + g["p_sampled"])
        (torch.Size([1, 7, 5]), True)
    """
    from lstmviz.charlm import check_sampling
    from lstmviz.recorder import record
    from lstmviz.sentence import EmptyTextError

    if adapter.output != "next_token":
        raise ValueError(f"adapter {adapter.name!r}: generate needs output='next_token', got {adapter.output!r}")
    if not isinstance(text, str):
        raise TypeError(f"text must be a str, got {type(text).__name__}")
    check_sampling(length, temperature, top_k, seed, MAX_GENERATE_TOKENS)
    enc = adapter.encode(text)
    (ids,) = enc.inputs  # (1, P)
    P = ids.shape[1]
    if P == 0:
        raise EmptyTextError(f"the text {text[:40]!r} has no tokens the model reads; allowed: at least one token")
    model = eval_copy(adapter.model)
    g = torch.Generator().manual_seed(seed)  # private: the global generator stays where the user left it
    chosen: list[int] = []
    p_model: list[float] = []
    p_sampled: list[float] = []
    with torch.no_grad():
        for step in range(length):
            last = adapter.logits(model, ids)[-1].double()  # (V,): the distribution after the last token
            if not torch.isfinite(last).all():
                raise ValueError(
                    f"adapter {adapter.name!r}: the logits after token {P + step - 1} are not finite; allowed: "
                    f"finite numbers"
                )
            scores = last / temperature
            if top_k is not None and top_k < scores.numel():
                kth = torch.topk(scores, top_k).values[-1]
                scores = torch.where(scores < kth, torch.full_like(scores, -math.inf), scores)
            probs = torch.softmax(scores, -1)  # (V,)
            nxt = int(torch.multinomial(probs, 1, generator=g))
            chosen.append(nxt)
            p_model.append(float(torch.softmax(last, -1)[nxt]))
            p_sampled.append(float(probs[nxt]))
            ids = torch.cat([ids, torch.tensor([[nxt]], dtype=ids.dtype)], 1)  # (1, P + step + 1)
        with record(model) as rec:
            logits = adapter.logits(model, ids).float()  # (T, V)
    T = ids.shape[1]
    names = [
        adapter.labels[i] if adapter.labels is not None and 0 <= i < len(adapter.labels) else str(i) for i in chosen
    ]
    modules = _modules(rec)
    if not modules:
        raise ValueError(f"adapter {adapter.name!r}: the model ran no recurrent module and tapped nothing")
    full, spans = text, list(enc.spans)
    for name in names:  # the generated tokens after the prefix, one space before each
        spans.append((len(full) + 1, len(full) + 1 + len(name)))
        full += " " + name
    nxt = np.full((T, 1), np.nan)  # (T, 1): probability of the token that follows, NaN after the last
    nxt[:-1, 0] = F.softmax(logits, -1)[torch.arange(T - 1), ids[0, 1:]].numpy()
    tokens = [*enc.tokens, *names]
    a = _sequence_analysis(adapter, full, tokens, spans, ids, nxt, ["next"], rec, modules)
    a.extra["prefix_len"] = P
    return {
        "prefix_tokens": list(enc.tokens),
        "prefix_ids": ids[0, :P].tolist(),
        "ids": chosen,
        "tokens": names,
        "p": p_model,
        "p_sampled": p_sampled,
        "recording": rec,
        "analysis": a,
    }


def _sequence_analysis(
    adapter: Adapter,
    text: str,
    tokens: list[str],
    spans: list[tuple[int, int]],
    ids: torch.Tensor,
    probs: np.ndarray,
    labels: list[str],
    rec: Any,
    modules: dict[str, tuple[str, int, int, int]],
) -> Any:
    """A forward-only :class:`~lstmviz.sentence.TextAnalysis` of a recorded id sequence ``(1, T)``, seen through
    its first recorded module (as :func:`analyze` makes one, without gradients)."""
    from lstmviz.sentence import TextAnalysis

    T = ids.shape[1]
    a = TextAnalysis(
        text=text,
        tokens=list(tokens),
        lemmas=list(tokens),
        kinds=["word"] * T,
        unknown=[False] * T,
        truncated=False,
        labels=labels,
        probs=probs,
        target=0,
        recording=rec,
        saliency=None,
        cell="rnn",
        module="",
        num_layers=1,
        directions=1,
    )
    a.extra.update(
        modules=modules,
        adapter=adapter.name,
        output=adapter.output,
        text_tokens=list(tokens),
        spans=list(spans),
        ids=ids[0].tolist(),
        token_modules=adapter.token_modules,
    )
    return for_module(a, next(iter(modules)))


def tag_table(a: Any) -> pd.DataFrame:
    """The tags of an analysis of a ``tags`` adapter (:func:`analyze`): one row per token.

    Columns: ``step``, ``token``, ``start``, ``end``, ``id``, ``tag`` (the most probable tag's name), ``p`` (its
    probability), then ``p(<tag>)`` for every tag (the tags in the adapter's order).

    Raises:
        ValueError: ``a`` is not the analysis of a ``tags`` adapter.
    """
    if a.extra.get("output") != "tags":
        raise ValueError(f"tag_table needs the analysis of a 'tags' adapter, got output={a.extra.get('output')!r}")
    probs = np.asarray(a.probs)  # (T, K)
    best = probs.argmax(-1) if probs.shape[1] else np.zeros(len(probs), dtype=int)
    spans = a.extra["spans"]
    out = pd.DataFrame(
        {
            "step": np.arange(len(probs)),
            "token": pd.Series(a.extra["text_tokens"], dtype=object),
            "start": [s for s, _ in spans],
            "end": [e for _, e in spans],
            "id": a.extra["ids"],
            "tag": pd.Series([a.labels[k] for k in best], dtype=object),
            "p": probs[np.arange(len(probs)), best],
        }
    )
    for k, label in enumerate(a.labels):  # "p(...)": never the name of a column above, whatever the tag is called
        out[f"p({label})"] = probs[:, k]
    return out


def tag(adapter: Adapter, text: str) -> pd.DataFrame:
    """The tag of every token of ``text`` from a ``tags`` adapter, with its probability (:func:`tag_table`).

    Raises:
        lstmviz.sentence.EmptyTextError: the tokenizer found no token.
        ValueError: the adapter's output is not ``"tags"``, or it breaks the adapter contract.

    Example:
        >>> class Tagger(nn.Module):
        ...     def __init__(self):
        ...         super().__init__()
        ...         self.emb, self.rnn, self.head = nn.Embedding(3, 4), nn.LSTM(4, 4, batch_first=True), nn.Linear(4, 2)
        ...     def forward(self, ids):  # (1, T)
        ...         return self.head(self.rnn(self.emb(ids))[0])  # (1, T, 2)
        >>> def words(text):
        ...     return [(m.group(), m.start(), m.end(), len(m.group()) % 3) for m in re.finditer(r"\\S+", text)]
        >>> _ = torch.manual_seed(0)
        >>> frame = tag(Adapter("t", Tagger(), words, output="tags", labels=["N", "V"]), "dogs run")
        >>> frame.columns.tolist()
        ['step', 'token', 'start', 'end', 'id', 'tag', 'p', 'p(N)', 'p(V)']
        >>> frame["token"].tolist(), bool(frame["p"].between(0.5, 1).all())
        (['dogs', 'run'], True)
    """
    if adapter.output != "tags":
        raise ValueError(f"adapter {adapter.name!r}: tag needs output='tags', got {adapter.output!r}")
    return tag_table(analyze(adapter, text, grads=False))


# ----- models files: code the user chose to run --------------------------------------------------------------------
def load_models_file(path: str | Path) -> list[Adapter]:
    """Runs a models file the user named and returns its adapters (``MODELS``: a list, or a function returning one).

    The file is code, run as the user who started the app, exactly like ``app.py``: lstmviz only ever runs a file
    named on the command line or in ``LSTMVIZ_MODELS``, never one named by a checkpoint, a URL or a visitor.

    Raises:
        ModelsFileError: the file is missing, raises, has no ``MODELS``, or lists something else than adapters or
            two with one name (the message names the file).
    """
    p = Path(path).expanduser().resolve()
    if not p.is_file() or p.suffix != ".py":
        raise ModelsFileError(f"models file {p}: not a .py file")
    digest = hashlib.sha1(str(p).encode()).hexdigest()[:12]
    name = f"lstmviz_user_models_{digest}"
    spec = importlib.util.spec_from_file_location(name, p)
    if spec is None or spec.loader is None:
        raise ModelsFileError(f"models file {p}: cannot be loaded as a Python module")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses and pickling-free copies look the module up by name
    try:
        spec.loader.exec_module(module)
        models = getattr(module, "MODELS", None)
        if models is None:
            raise ModelsFileError(f"models file {p}: defines no MODELS (a list of lstmviz.adapters.Adapter)")
        if callable(models):
            models = models()
    except ModelsFileError:
        sys.modules.pop(name, None)
        raise
    except Exception as e:  # the user's own code failed: say where, keep the cause
        sys.modules.pop(name, None)
        raise ModelsFileError(f"models file {p}: {type(e).__name__}: {e}") from e
    models = list(models) if isinstance(models, (list, tuple)) else models
    if not isinstance(models, list) or not all(isinstance(m, Adapter) for m in models):
        raise ModelsFileError(f"models file {p}: MODELS must be a list of lstmviz.adapters.Adapter")
    names = [m.name for m in models]
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise ModelsFileError(f"models file {p}: adapter names must be unique; repeated: {dup}")
    return models
