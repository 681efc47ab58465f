"""The read side of a recording: tensors by key, tidy frames, gradient norms.

A :class:`Recording` is what :func:`lstmviz.record` yields. The recorder fills a
:class:`lstmviz.capture.Capture` while the model runs (the write side); the
recording reads it afterwards and never writes to it except through
:meth:`Recording.backward`. Every tensor it hands out is detached, on the CPU and
batch-first ``(B, T, units)``, whatever layout the module used; steps past a
sequence's length (packed input) are NaN. When a module is called several times
inside one recording, a call whose initial state is the state the previous call
returned (the same tensor or equal values) continues that call's sequence along
time (a decoder calling ``nn.GRU`` once per step, truncated-BPTT chunks, ``nn.*Cell``
steps in a Python loop); other calls start new sequences, stacked along the batch
axis in call order (shorter ones padded with NaN). :meth:`Recording.new_sequence`
marks sequence starts explicitly; ``record(..., stitch=False)`` gives one batch row
per call, as before stitching.
"""

from __future__ import annotations

import difflib
import os
import warnings
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch import Tensor

from .capture import Capture
from .names import GRAD_QUANTITIES, QUANTITIES, KeyParts, canonical_key, direction_name, parse_key

if TYPE_CHECKING:  # pandas and pyarrow load when a frame is asked for: `import lstmviz` stays light
    import pandas as pd
    import pyarrow as pa

    from .recordingio import SavedRecording

__all__ = ["Recording", "BaseRecording", "FRAME_COLUMNS", "GRAD_NORM_COLUMNS"]

#: Columns of :meth:`Recording.to_frame`, in order.
FRAME_COLUMNS = ("module", "layer", "direction", "quantity", "batch", "step", "unit", "value")
#: Columns of :meth:`Recording.grad_norms`, in order.
GRAD_NORM_COLUMNS = ("module", "layer", "direction", "quantity", "batch", "step", "norm")

_KNOWN_QUANTITIES = tuple(dict.fromkeys(q for qs in (*QUANTITIES.values(), *GRAD_QUANTITIES.values()) for q in qs))
_CLOSE_KEYS = 3  # an unknown key's message suggests at most this many recorded keys
_ALIAS_NOTED: set[str] = set()  # aliased keys already warned about (one note per spelling and process)


class BaseRecording:
    """The read API shared by a live :class:`Recording` and a loaded one (:func:`lstmviz.recordingio.load`).

    Lookup by key (with suggestions for a mistyped key and the ``l{layer}_reverse`` alias), tidy frames,
    an Arrow table and saving are built here on what a subclass provides: ``modules``, ``grads``,
    :meth:`keys`, :meth:`lengths` and two maps from key to a ``(B, T, units)`` CPU tensor (NaN past a
    sequence's length), ``_forward_tensors()`` and ``_grad_tensors()``.

    Attributes:
        grads: whether gradients through time were asked for.
        modules: module path -> cell type (``"lstm"``, ``"gru"``, ``"rnn"``) of every recurrent module that was watched.
    """

    grads: bool
    modules: dict[str, str]

    def _forward_tensors(self) -> dict[str, Tensor]:
        raise NotImplementedError

    def _grad_tensors(self) -> dict[str, Tensor]:
        raise NotImplementedError

    def keys(self) -> list[str]:
        """All keys, forward quantities first then gradients (when asked for)."""
        raise NotImplementedError

    def lengths(self, module: str) -> Tensor:
        """Sequence lengths ``(B,)`` of a module's rows."""
        raise NotImplementedError

    def __iter__(self) -> Iterator[str]:
        return iter(self.keys())

    def __len__(self) -> int:
        return len(self.keys())

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and key in self.keys()

    def __getitem__(self, key: str) -> Tensor:
        """Return the ``(B, T, units)`` tensor of one key (detached, CPU, batch-first).

        ``l{layer}_reverse`` (PyTorch's spelling of a reverse layer) is read as ``l{layer}.rev``
        (:func:`lstmviz.names.canonical_key`), with a one-time warning naming the stored key. An unknown
        key's ``KeyError`` names the closest recorded keys (at most three), not all of them.

        Example:
            >>> import lstmviz
            >>> m = torch.nn.LSTM(3, 4, bidirectional=True)
            >>> with lstmviz.record(m) as rec:
            ...     _ = m(torch.randn(5, 2, 3))
            >>> try:
            ...     rec["l0.foget"]
            ... except KeyError as e:
            ...     print(e.args[0].split(";")[1])
             did you mean 'l0.forget' or 'l0.rev.forget'?
        """
        found = self._lookup(key)
        if found is None and isinstance(key, str) and (canon := canonical_key(key)) != key:
            found = self._lookup(canon)
            if found is not None and key not in _ALIAS_NOTED:
                _ALIAS_NOTED.add(key)
                warnings.warn(f"key {key!r} is read as {canon!r}, the key a recording stores", stacklevel=2)
        if found is None:
            raise KeyError(_unknown_key_message(key, self.keys()))
        return found

    def _lookup(self, key: object) -> Tensor | None:
        """The tensor stored under exactly ``key``, or None (a gradient key of a recording without them raises)."""
        fwd = self._forward_tensors()
        if key in fwd:
            return fwd[key]
        parts = _parts_or_none(key)
        if parts is not None and parts.quantity.startswith("grad_") and parts.module in self.modules:
            return self._grad_tensors().get(key)
        return None

    def items(self) -> Iterator[tuple[str, Tensor]]:
        """Iterate over ``(key, tensor)`` pairs."""
        for k in self.keys():
            yield k, self[k]

    def _frame_tensors(self, quantities: Sequence[str] | str | None, grads: bool | None) -> dict[str, Tensor]:
        """The tensors a frame holds: the forward ones, the gradients when asked for (None: when a backward ran)."""
        if isinstance(quantities, str):
            quantities = (quantities,)
        if quantities is not None:
            bad = [q for q in quantities if q not in _KNOWN_QUANTITIES]
            if bad:
                raise ValueError(f"unknown quantities {bad}; allowed: {list(_KNOWN_QUANTITIES)}")
        tensors = dict(self._forward_tensors())
        if grads or (grads is None and self.grads):
            try:
                tensors.update(self._grad_tensors())
            except RuntimeError:
                if grads:
                    raise
        if quantities is not None:
            tensors = {k: x for k, x in tensors.items() if parse_key(k).quantity in quantities}
        return tensors

    def to_frame(
        self,
        quantities: Sequence[str] | str | None = None,
        grads: bool | None = None,
        narrow: bool = False,
    ) -> pd.DataFrame:
        """Tidy long frame of every recorded value.

        Args:
            quantities: keep only these quantity names (None: all; one name may be given as a string).
            grads: include gradient quantities; None means "if a backward has run".
            narrow: a frame of about a third of the memory: ``module``, ``direction`` and ``quantity``
                categorical, ``layer``, ``batch``, ``step``, ``unit`` int32 and ``value`` float32 (a float64
                recording is rounded to float32). Measured in ``benchmarks/bench_frame_memory.py``.

        Returns:
            DataFrame with columns ``module, layer, direction ("fwd" | "rev"), quantity, batch, step,
            unit, value``: text columns of pandas' string dtype, the others int64 and float64 (unless
            ``narrow``); steps past a sequence's length are absent.

        Example:
            >>> rec.to_frame(["forget"]).groupby("step").value.mean()  # doctest: +SKIP
        """
        tensors = self._frame_tensors(quantities, grads)
        if not tensors:
            import pandas as pd

            return pd.DataFrame({c: [] for c in FRAME_COLUMNS})
        return _frame(_tidy(tensors, norms=False, narrow=narrow), "value", narrow)

    def to_arrow(self, quantities: Sequence[str] | str | None = None, grads: bool | None = None) -> pa.Table:
        """The rows of :meth:`to_frame` as a pyarrow Table in the narrow layout.

        ``module``, ``direction`` and ``quantity`` are dictionary-encoded strings, ``layer``, ``batch``,
        ``step``, ``unit`` int32 and ``value`` float32; pyarrow is imported only here.

        Args:
            quantities: keep only these quantity names (None: all).
            grads: include gradient quantities; None means "if a backward has run".

        Returns:
            A ``pyarrow.Table`` with the columns :data:`FRAME_COLUMNS`.

        Example:
            >>> import lstmviz
            >>> m = torch.nn.GRU(3, 4, batch_first=True)
            >>> with lstmviz.record(m) as rec:
            ...     _ = m(torch.randn(2, 5, 3))
            >>> t = rec.to_arrow(["update"])
            >>> t.num_rows, str(t.schema.field("value").type)
            (40, 'float')
        """
        import pyarrow as pa

        cols = _tidy(self._frame_tensors(quantities, grads), norms=False, narrow=True)
        arrays = {}
        for name in FRAME_COLUMNS:
            if name in cols["categories"]:
                cats = cols["categories"][name]
                arrays[name] = pa.DictionaryArray.from_arrays(pa.array(cols[name]), pa.array(cats, pa.string()))
            else:
                arrays[name] = pa.array(cols[name])
        return pa.table(arrays)

    def grad_norms(self) -> pd.DataFrame:
        """Per-step Euclidean norms of the gradients through time.

        Returns:
            DataFrame with columns ``module, layer, direction ("fwd" | "rev"), quantity, batch, step,
            norm`` where quantity is ``grad_hidden`` or ``grad_cell``.

        Example:
            >>> rec.grad_norms().query("quantity == 'grad_hidden'")  # doctest: +SKIP
        """
        tensors = self._grad_tensors()
        if not tensors:
            import pandas as pd

            return pd.DataFrame({c: [] for c in GRAD_NORM_COLUMNS})
        return _frame(_tidy(tensors, norms=True, narrow=False), "norm", False)

    def save(self, path: str | os.PathLike) -> None:
        """Writes the recording to the folder ``path`` (safetensors + a JSON manifest, no pickle).

        See :func:`lstmviz.recordingio.save`; read it back with :meth:`load`.

        Example:
            >>> rec.save("runs/rec1")  # doctest: +SKIP
        """
        from .recordingio import save

        save(self, path)

    @staticmethod
    def load(path: str | os.PathLike, max_bytes: int | None = None) -> SavedRecording:
        """Reads a folder written by :meth:`save`: a read-only recording with the same read API.

        See :func:`lstmviz.recordingio.load` (validation, byte budget).

        Example:
            >>> rec2 = lstmviz.Recording.load("runs/rec1")  # doctest: +SKIP
        """
        from .recordingio import load

        return load(path) if max_bytes is None else load(path, max_bytes=max_bytes)


class Recording(BaseRecording):
    """Everything recorded inside one :func:`lstmviz.record` block.

    Access tensors by key (see :mod:`lstmviz.names`), or as tidy frames. Built by
    :func:`lstmviz.record` from the :class:`~lstmviz.capture.Capture` it fills.

    Args:
        capture: the block's capture; the recording reads it (and caches what it read until it changes).

    Attributes:
        grads: whether gradients through time were asked for.
        modules: module path -> cell type (``"lstm"``, ``"gru"``, ``"rnn"``) of every
            recurrent module that was watched.

    Example:
        >>> import lstmviz
        >>> m = torch.nn.LSTM(3, 4, batch_first=True)
        >>> with lstmviz.record(m) as rec:
        ...     _ = m(torch.randn(2, 5, 3))
        >>> rec["l0.forget"].shape
        torch.Size([2, 5, 4])
    """

    def __init__(self, capture: Capture) -> None:
        self._capture = capture
        self.grads = capture.grads
        self.modules = dict(capture.modules)
        # what was read, and the capture versions it was read at: (version, tensors), ((version, grad_version), ...)
        self._cache: tuple[int, dict[str, Tensor]] | None = None
        self._grad_cache: tuple[tuple[int, int], dict[str, Tensor]] | None = None

    @property
    def capture_paths(self) -> dict[str, tuple[str, ...]]:
        """Module path -> how each of its full-module calls was captured (names from ``lstmviz.recorder.PATHS``).

        Example:
            >>> import lstmviz
            >>> gru = torch.nn.GRU(3, 4)
            >>> with lstmviz.record(gru, path="kernel") as rec:
            ...     _ = gru(torch.randn(5, 2, 3))
            >>> rec.capture_paths
            {'': ('kernel',)}
        """
        return self._capture.paths_taken()

    def _forward_tensors(self) -> dict[str, Tensor]:
        version = self._capture.version
        if self._cache is None or self._cache[0] != version:
            self._cache = (version, self._capture.forward_tensors())
        return self._cache[1]

    def _grad_tensors(self) -> dict[str, Tensor]:
        if not self.grads:
            raise KeyError(
                "this recording has no gradients: use record(model, grads=True) (or trace(..., loss_fn=...))"
            )
        versions = (self._capture.version, self._capture.grad_version)
        if self._grad_cache is None or self._grad_cache[0] != versions:
            missing = self._capture.without_backward()
            if missing:
                raise RuntimeError(
                    f"no backward pass has reached module(s) {missing} yet: call loss.backward() "
                    "(or rec.backward(loss)) inside the record(..., grads=True) block before reading gradients"
                )
            self._grad_cache = (versions, self._capture.grad_tensors())
        return self._grad_cache[1]

    def keys(self) -> list[str]:
        """All keys, forward quantities first then gradients (when asked for).

        Returns:
            List of key strings in module, layer, direction, quantity order.
        """
        keys = list(self._forward_tensors())
        if self.grads:
            keys += self._capture.grad_keys()  # only the requested ones (record(..., quantities=...))
        return keys

    def new_sequence(self, module: object = None) -> None:
        """Start a new sequence at the next call, step or tap (explicit mode), inside the ``record()`` block.

        By default a call continues its module's sequence when it is given the state the previous call
        returned. After ``new_sequence()`` the module is in explicit mode for the rest of the block: its
        calls and steps continue the current sequence whatever state they get (dropout between steps, a
        state reset by hand), until the next ``new_sequence()``; a change of batch size still starts a new
        sequence. Taps always continue until ``new_sequence()`` or a change of batch size.

        Args:
            module: a module path from :attr:`modules`, a tap name, the watched ``nn.Module`` itself, or None
                for every module and tap name of the recording.

        Raises:
            ValueError: ``module`` is not recorded here. RuntimeError: the block has closed.

        Example:
            >>> import lstmviz
            >>> cell = torch.nn.GRUCell(2, 3)
            >>> with lstmviz.record(cell) as rec:
            ...     for seq in range(2):
            ...         rec.new_sequence()
            ...         h = None
            ...         for t in range(4):
            ...             h = torch.nn.functional.dropout(cell(torch.randn(1, 2), h), 0.5)
            >>> rec["l0.hidden"].shape
            torch.Size([2, 4, 3])
        """
        if isinstance(module, torch.nn.Module):
            path = self._capture.targets.get(id(module))
            if path is None:
                raise ValueError(
                    f"new_sequence: this {type(module).__name__} is not watched by the recording; "
                    f"watched: {list(self.modules)}"
                )
            module = path
        elif module is not None and not isinstance(module, str):
            raise TypeError(f"module must be None, a module path or an nn.Module, got {type(module).__name__}")
        self._capture.new_sequence(module)

    def lengths(self, module: str) -> Tensor:
        """Sequence lengths ``(B,)`` of a module's recording (rows of its tensors).

        Args:
            module: a module path from :attr:`modules`.
        """
        return self._capture.lengths(module)

    def backward(self, loss: Tensor, inputs: tuple[Tensor, ...] | list[Tensor] = ()) -> tuple[Tensor | None, ...]:
        """Backpropagate ``loss`` into the recording WITHOUT touching any ``.grad``.

        Unlike ``loss.backward()``, parameters of a shared model accumulate nothing,
        so concurrent users of one model never see each other's gradients.

        Args:
            loss: scalar tensor computed inside the ``record(..., grads=True)`` block.
            inputs: extra tensors whose gradients you want back (e.g. embeddings for saliency).

        Returns:
            Gradients of ``inputs`` (None where nothing flowed).

        Example:
            >>> with lstmviz.record(model, grads=True) as rec:  # doctest: +SKIP
            ...     emb = model.embedding(ids); loss = F.cross_entropy(model.forward_embedded(emb, lens), y)
            ...     (d_emb,) = rec.backward(loss, inputs=[emb])
        """
        if not self.grads:
            raise RuntimeError("Recording.backward needs record(model, grads=True)")
        if not isinstance(loss, Tensor) or loss.numel() != 1:
            raise ValueError(f"loss must be a scalar tensor, got {type(loss).__name__} {getattr(loss, 'shape', '')}")
        if not loss.requires_grad:
            raise RuntimeError("loss does not require grad: was it computed under torch.no_grad()?")
        return self._capture.backward(loss, tuple(inputs))

    def __repr__(self) -> str:
        mods = ", ".join(f"{p or '<root>'}:{c}" for p, c in self.modules.items())
        return f"Recording(modules=[{mods}], grads={self.grads}, keys={len(self._forward_tensors())})"


def _parts_or_none(key: object) -> KeyParts | None:
    """The coordinates of a well-formed key, else None."""
    try:
        return parse_key(key)  # type: ignore[arg-type]
    except ValueError:
        return None


def _unknown_key_message(key: object, keys: list[str]) -> str:
    """Why ``key`` is not there: the closest recorded keys (difflib), never a list of every key."""
    close = difflib.get_close_matches(key, keys, n=_CLOSE_KEYS, cutoff=0.6) if isinstance(key, str) else []
    hint = (
        "did you mean " + " or ".join(repr(k) for k in close) + "?"
        if close
        else "keys read '{module}.l{layer}[.rev].{quantity}'"
    )
    if len(keys) <= _CLOSE_KEYS:
        listing = f"recorded keys: {keys}"
    else:
        listing = f"{len(keys)} keys recorded, e.g. {keys[:2]} (rec.keys() lists them all)"
    return f"no recorded tensor {key!r}; {hint}; {listing}"


def _tidy(tensors: dict[str, Tensor], norms: bool, narrow: bool) -> dict[str, Any]:
    """The tidy rows of ``tensors`` as column arrays: NaN entries (past a length) dropped, C order per key.

    Text columns come as integer codes plus ``categories[column]`` (in order of first appearance;
    direction always ``["fwd", "rev"]``). One pass counts each key's rows, a second writes them into
    preallocated columns: no frame per key and no concatenation, which held every row several times over.
    With ``norms`` each ``(B, T, U)`` tensor is first reduced to its per-step Euclidean norm ``(B, T)``.
    """
    index_dtype, value_dtype = (np.int32, np.float32) if narrow else (np.int64, np.float64)
    parts, arrays = [], []
    for key, x in tensors.items():
        parts.append(parse_key(key))
        arrays.append((torch.linalg.vector_norm(x, dim=-1) if norms else x).numpy())  # (B, T[, U]); NaN past lengths
    masks = [~np.isnan(a) for a in arrays]
    counts = np.array([int(m.sum()) for m in masks], dtype=np.int64)
    n = int(counts.sum())
    categories: dict[str, list[str]] = {"module": [], "direction": ["fwd", "rev"], "quantity": []}
    per_key = {"module": [], "direction": [], "quantity": [], "layer": []}
    for kp in parts:
        for col, value in (("module", kp.module), ("quantity", kp.quantity)):
            if value not in categories[col]:
                categories[col].append(value)
            per_key[col].append(categories[col].index(value))
        per_key["direction"].append(categories["direction"].index(direction_name(kp.direction)))
        per_key["layer"].append(kp.layer)
    cols: dict[str, Any] = {"categories": categories}
    for col in ("module", "direction", "quantity"):
        code_dtype = np.min_scalar_type(-len(categories[col]))  # int8 up to 128 categories
        cols[col] = np.repeat(np.array(per_key[col], dtype=code_dtype), counts)
    cols["layer"] = np.repeat(np.array(per_key["layer"], dtype=index_dtype), counts)
    names = ("batch", "step") if norms else ("batch", "step", "unit")
    for name in names:
        cols[name] = np.empty(n, dtype=index_dtype)
    values = np.empty(n, dtype=value_dtype)
    offset = 0
    for arr, mask, k in zip(arrays, masks, counts.tolist()):
        for name, idx in zip(names, np.nonzero(mask)):  # C order: the rows of a (B, T[, U]) meshgrid
            cols[name][offset : offset + k] = idx
        values[offset : offset + k] = arr[mask]
        offset += k
    cols["norm" if norms else "value"] = values
    return cols


def _text_column(codes: np.ndarray, categories: list[str]) -> Any:
    """Text values of ``codes`` in the dtype pandas gives text by default (``str`` in pandas 3, else object)."""
    import pandas as pd

    dtype = pd.Series(["x"]).dtype
    if isinstance(dtype, pd.StringDtype) and dtype.storage == "pyarrow":
        import pyarrow as pa

        # decoded by Arrow in C (the object route builds one Python reference per row), into the large_string
        # pandas stores; rebuilt without the all-valid bitmap the decoding adds (no value is missing)
        words = pa.array(categories, pa.large_string())
        decoded = pa.DictionaryArray.from_arrays(pa.array(codes), words).dictionary_decode()
        _, offsets, data = decoded.buffers()
        return pd.array(pa.LargeStringArray.from_buffers(len(decoded), offsets, data), dtype=dtype)
    return pd.array(np.asarray(categories, dtype=object)[codes], dtype=dtype)


def _frame(cols: dict[str, Any], value_name: str, narrow: bool) -> pd.DataFrame:
    """A DataFrame of :func:`_tidy` columns: categorical (``narrow``) or pandas' text dtype for the text columns."""
    import pandas as pd

    names = FRAME_COLUMNS if value_name == "value" else GRAD_NORM_COLUMNS
    out = {}
    for name in names:
        if name in cols["categories"]:
            cats = cols["categories"][name]
            codes = cols[name]
            out[name] = pd.Categorical.from_codes(codes, cats) if narrow else _text_column(codes, cats)
        else:
            out[name] = cols[name]
    return pd.DataFrame(out, copy=False)  # the columns are fresh arrays: no copy needed
