"""The registry of model kinds: one name per kind, the only code a checkpoint's ``model_kind`` can select.

A kind (:class:`~lstmviz.kinds.base.Kind`) is the seam between a family of models and lstmviz: the checkpoint
loader, the CLI and the dashboard ask the registry, never a per-kind table. The four shipped kinds are one module
each and one line of :data:`SHIPPED`; a user's kind is registered at runtime with :func:`register_kind` (from code
the user chose to run), and from then on its checkpoints load and the views that apply open them.

Example:
    >>> sorted(KINDS)
    ['bow', 'charlm', 'recurrent', 'tagger']
    >>> get_kind("charlm").output
    'next_token'
    >>> get_kind("../evil")
    Traceback (most recent call last):
    ValueError: model_kind='../evil' is not a known model kind; allowed: recurrent, bow, charlm, tagger
"""

from __future__ import annotations

import importlib
from collections.abc import Iterator, Mapping
from typing import Any

from lstmviz.kinds.base import Kind

__all__ = ["KINDS", "SHIPPED", "Kind", "get_kind", "kind_of", "register_kind", "unregister_kind"]

# The shipped kinds: registry name -> the module (ours, fixed here) whose KIND it is. Adding a kind is one line.
SHIPPED: dict[str, str] = {
    "recurrent": "lstmviz.kinds.classifier",  # text and sequence classifiers (sentiment, cue recall, adding)
    "bow": "lstmviz.kinds.bow",  # the bag-of-words baseline
    "charlm": "lstmviz.kinds.charlm",  # character language models
    "tagger": "lstmviz.kinds.tagger",  # the char-CNN + BiLSTM part-of-speech and entity tagger
}
_registered: dict[str, Kind] = {}  # user kinds, by name (register_kind)
_loaded: dict[str, Kind] = {}  # shipped kinds, imported on first use (their modules pull in models and data code)


class _Kinds(Mapping[str, Kind]):
    """Read-only view of every kind: the shipped ones (imported on first access), then the registered ones."""

    def __getitem__(self, name: str) -> Kind:
        if name in _registered:
            return _registered[name]
        if name in SHIPPED:
            if name not in _loaded:
                _loaded[name] = importlib.import_module(SHIPPED[name]).KIND
            return _loaded[name]
        raise KeyError(name)

    def __iter__(self) -> Iterator[str]:
        yield from SHIPPED
        yield from (n for n in _registered if n not in SHIPPED)

    def __len__(self) -> int:
        return len(set(SHIPPED) | set(_registered))


KINDS: Mapping[str, Kind] = _Kinds()


def get_kind(name: Any) -> Kind:
    """The kind registered under ``name``.

    Raises:
        ValueError: ``name`` is not a registered kind's name (the message lists the allowed ones).
    """
    if isinstance(name, str) and name in KINDS:
        return KINDS[name]
    raise ValueError(f"model_kind={str(name)[:80]!r} is not a known model kind; allowed: {', '.join(KINDS)}")


def register_kind(kind: Kind, *, replace: bool = False) -> Kind:
    """Adds a kind to the registry: its checkpoints load, save and open in the views that apply.

    Args:
        kind: An instance of a :class:`Kind` subclass with ``name``, ``config_cls``, ``model_cls`` and ``shapes``.
        replace: Allow replacing a kind registered before under the same name (never a shipped kind).

    Returns:
        ``kind``.

    Raises:
        TypeError: ``kind`` is not a Kind.
        ValueError: its name is empty, not an identifier-like string, a shipped kind's, or taken.

    Example:
        >>> from lstmviz.kinds.classifier import ClassifierKind
        >>> class Mine(ClassifierKind):
        ...     name = "mine"
        >>> register_kind(Mine()).name in KINDS
        True
        >>> unregister_kind("mine")
    """
    if not isinstance(kind, Kind):
        raise TypeError(f"kind must be an instance of lstmviz.kinds.Kind, got {type(kind).__name__}")
    name = getattr(kind, "name", None)
    if not isinstance(name, str) or not name.replace("_", "").replace("-", "").isalnum() or len(name) > 40:
        raise ValueError(f"kind name {name!r} is invalid; allowed: 1 to 40 letters, digits, '_' or '-'")
    if name in SHIPPED:
        raise ValueError(f"kind name {name!r} is a shipped kind's; allowed: any other name")
    if name in _registered and not replace and _registered[name] is not kind:
        raise ValueError(f"kind {name!r} is registered already; pass replace=True to replace it")
    for attr in ("config_cls", "model_cls"):
        if not isinstance(getattr(kind, attr, None), type):
            raise ValueError(f"kind {name!r} has no {attr} (a class)")
    _registered[name] = kind
    return kind


def unregister_kind(name: str) -> None:
    """Removes a kind added by :func:`register_kind` (shipped kinds stay). Unknown names are ignored."""
    _registered.pop(name, None)


def kind_of(model: Any) -> Kind:
    """The kind whose model class ``model`` is (exactly, not a subclass).

    Raises:
        TypeError: no registered kind builds this class (the message lists the classes that are).

    Example:
        >>> from lstmviz.models import ModelConfig, RecurrentClassifier
        >>> kind_of(RecurrentClassifier(ModelConfig(vocab_size=5))).name
        'recurrent'
    """
    for name in KINDS:
        if type(model) is KINDS[name].model_cls:
            return KINDS[name]
    allowed = ", ".join(KINDS[n].model_cls.__name__ for n in KINDS)
    raise TypeError(f"model must be one of {allowed}; got {type(model).__name__}")
