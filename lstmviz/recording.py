"""The read side of a recording: tensors by key, tidy frames, gradient norms.

A :class:`Recording` is what :func:`lstmviz.record` yields. The recorder fills a
:class:`lstmviz.capture.Capture` while the model runs (the write side); the
recording reads it afterwards and never writes to it except through
:meth:`Recording.backward`. Every tensor it hands out is detached, on the CPU and
batch-first ``(B, T, units)``, whatever layout the module used; steps past a
sequence's length (packed input) are NaN. When a module is called several times
inside one recording, the calls are stacked along the batch axis in call order
(shorter ones padded with NaN); ``nn.*Cell`` steps called in a Python loop are
stitched into sequences (a step continues a sequence when its ``hx`` is the
tensor the previous step returned).
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pandas as pd
import torch
from torch import Tensor

from .capture import Capture
from .names import GRAD_QUANTITIES, direction_name, make_key, parse_key

__all__ = ["Recording", "FRAME_COLUMNS", "GRAD_NORM_COLUMNS"]

#: Columns of :meth:`Recording.to_frame`, in order.
FRAME_COLUMNS = ("module", "layer", "direction", "quantity", "batch", "step", "unit", "value")
#: Columns of :meth:`Recording.grad_norms`, in order.
GRAD_NORM_COLUMNS = ("module", "layer", "direction", "quantity", "batch", "step", "norm")


class Recording:
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
            for path in self._capture.recorded_paths():
                parts = (parse_key(k) for k in keys)
                layers = sorted({(kp.layer, kp.direction) for kp in parts if kp.module == path})
                for layer, d in layers:
                    keys += [make_key(path, layer, d, q) for q in GRAD_QUANTITIES[self.modules[path]]]
        return keys

    def __iter__(self) -> Iterator[str]:
        return iter(self.keys())

    def __len__(self) -> int:
        return len(self.keys())

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and key in self.keys()

    def __getitem__(self, key: str) -> Tensor:
        """Return the ``(B, T, units)`` tensor of one key (detached, CPU, batch-first)."""
        fwd = self._forward_tensors()
        if key in fwd:
            return fwd[key]
        parts = parse_key(key) if isinstance(key, str) and _looks_like_key(key) else None
        if parts is not None and parts.quantity.startswith("grad_") and parts.module in self.modules:
            grads = self._grad_tensors()
            if key in grads:
                return grads[key]
        raise KeyError(f"no recorded tensor {key!r}; recorded keys: {self.keys()}")

    def items(self) -> Iterator[tuple[str, Tensor]]:
        """Iterate over ``(key, tensor)`` pairs."""
        for k in self.keys():
            yield k, self[k]

    def lengths(self, module: str) -> Tensor:
        """Sequence lengths ``(B,)`` of a module's recording (rows of its tensors).

        Args:
            module: a module path from :attr:`modules`.
        """
        return self._capture.lengths(module)

    def to_frame(
        self, quantities: tuple[str, ...] | list[str] | None = None, grads: bool | None = None
    ) -> pd.DataFrame:
        """Tidy long frame of every recorded value.

        Args:
            quantities: keep only these quantity names (None: all).
            grads: include gradient quantities; None means "if a backward has run".

        Returns:
            DataFrame with columns ``module, layer, direction ("fwd" | "rev"), quantity, batch, step,
            unit, value``; steps past a sequence's length are absent.

        Example:
            >>> rec.to_frame(["forget"]).groupby("step").value.mean()  # doctest: +SKIP
        """
        tensors = dict(self._forward_tensors())
        if grads or (grads is None and self.grads):
            try:
                tensors.update(self._grad_tensors())
            except RuntimeError:
                if grads:
                    raise
        frames = []
        for key, x in tensors.items():
            kp = parse_key(key)
            if quantities is not None and kp.quantity not in quantities:
                continue
            frames.append(_long_frame(kp, x.numpy(), "value"))
        if not frames:
            return pd.DataFrame({c: [] for c in FRAME_COLUMNS})
        return pd.concat(frames, ignore_index=True)

    def grad_norms(self) -> pd.DataFrame:
        """Per-step Euclidean norms of the gradients through time.

        Returns:
            DataFrame with columns ``module, layer, direction ("fwd" | "rev"), quantity, batch, step,
            norm`` where quantity is ``grad_hidden`` or ``grad_cell``.

        Example:
            >>> rec.grad_norms().query("quantity == 'grad_hidden'")  # doctest: +SKIP
        """
        rows = []
        for key, x in self._grad_tensors().items():
            kp = parse_key(key)
            norms = torch.linalg.vector_norm(x, dim=-1).numpy()  # (B, T), NaN past lengths
            rows.append(_long_frame(kp, norms, "norm"))
        if not rows:
            return pd.DataFrame({c: [] for c in GRAD_NORM_COLUMNS})
        return pd.concat(rows, ignore_index=True)

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


def _long_frame(kp, arr: np.ndarray, value_name: str) -> pd.DataFrame:
    """One key's ``(B, T[, U])`` array as tidy rows; NaN entries (past a length) are dropped."""
    idx = np.meshgrid(*(np.arange(n) for n in arr.shape), indexing="ij")
    vals = arr.reshape(-1)
    keep = ~np.isnan(vals)
    n = int(keep.sum())
    cols = {
        "module": np.full(n, kp.module, dtype=object),
        "layer": np.full(n, kp.layer),
        "direction": np.full(n, direction_name(kp.direction), dtype=object),  # "fwd" / "rev" in every frame
        "quantity": np.full(n, kp.quantity, dtype=object),
    }
    for name, i in zip(("batch", "step", "unit"), idx):
        cols[name] = i.reshape(-1)[keep]
    cols[value_name] = vals[keep].astype(np.float64)
    return pd.DataFrame(cols)


def _looks_like_key(key: str) -> bool:
    try:
        parse_key(key)
        return True
    except ValueError:
        return False
