"""The result object of a recording: tensors by key, tidy frames, gradient norms.

A :class:`Recording` is filled by :func:`lstmviz.record` while the model runs and
read afterwards. Every tensor it hands out is detached, on the CPU and
batch-first ``(B, T, units)``, whatever layout the module used; steps past a
sequence's length (packed input) are NaN. When a module is called several times
inside one recording, the calls are stacked along the batch axis in call order
(shorter ones padded with NaN); ``nn.*Cell`` steps called in a Python loop are
stitched into sequences (a step continues a sequence when its ``hx`` is the
tensor the previous step returned).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import torch
from torch import Tensor
from torch.nn.utils.rnn import PackedSequence, pad_packed_sequence

from .names import GRAD_QUANTITIES, QUANTITIES, direction_name, make_key, parse_key
from .unroll import LayerTrace, flip_within_lengths, grads_through_time, lstm_grads_from_recurrent

__all__ = ["Recording", "FRAME_COLUMNS", "GRAD_NORM_COLUMNS"]

#: Columns of :meth:`Recording.to_frame`, in order.
FRAME_COLUMNS = ("module", "layer", "direction", "quantity", "batch", "step", "unit", "value")
#: Columns of :meth:`Recording.grad_norms`, in order.
GRAD_NORM_COLUMNS = ("module", "layer", "direction", "quantity", "batch", "step", "norm")


def _to_batch_first(x: Tensor, lengths: Tensor | None, reverse: bool) -> Tensor:
    """(T, B, U) forward-normalised -> (B, T, U) in input time order, NaN past lengths, on CPU."""
    if reverse:
        x = flip_within_lengths(x, lengths)
    x = x.detach().transpose(0, 1).to("cpu", copy=False)
    if lengths is not None and bool((lengths < x.shape[1]).any()):
        valid = torch.arange(x.shape[1]).unsqueeze(0) < lengths.cpu().unsqueeze(1)  # (B, T)
        x = x.masked_fill(~valid.unsqueeze(-1), float("nan"))
    return x  # a batch-first view of time-major storage: no copy


@dataclass
class _ModuleCall:
    """One call of a full nn.LSTM/GRU/RNN: per-layer traces plus gradient capture buffers."""

    cell: str
    num_layers: int
    num_directions: int
    lengths: Tensor | None  # (B,) original batch order; None when all sequences have length T
    T: int
    traces: dict[tuple[int, int], LayerTrace] = field(default_factory=dict)
    # gradient capture, in the kernel's raw layout; filled by tensor hooks or Recording.backward
    raw_dy: dict[int, Tensor] = field(default_factory=dict)
    raw_dhn: dict[int, Tensor] = field(default_factory=dict)
    raw_dcn: dict[int, Tensor] = field(default_factory=dict)
    raw_dz: dict[int, Tensor] = field(default_factory=dict)  # zero-channel gradients W_hh^T dL/da_t (LSTM fast path)
    zero_channels: bool = False
    # unrolled-autograd path: total gradients hooked per step, (layer, d) -> quantity -> (T, B, U)
    step_grads: dict[tuple[int, int], dict[str, Tensor]] = field(default_factory=dict)
    capture: list[tuple[str, int, Tensor]] = field(default_factory=list)  # (kind, layer, tensor) for explicit backward
    packed: tuple | None = None  # (batch_sizes, sorted_indices, unsorted_indices) for packed input
    batch_major_out: bool = False
    saw_backward: bool = False

    def add_grad(self, kind: str, layer, g: Tensor) -> None:
        self.saw_backward = True
        if kind == "step":  # layer is (layer, direction, quantity, t)
            layer_index, d, name, t = layer
            self.step_grads[(layer_index, d)][name][t] += g.detach()
            return
        store = {"dy": self.raw_dy, "dhn": self.raw_dhn, "dcn": self.raw_dcn, "dz": self.raw_dz}[kind]
        g = g.detach()
        store[layer] = g.clone() if layer not in store else store[layer] + g
        self.saw_backward = True

    def quantities(self) -> dict[tuple[int, int, str], Tensor]:
        out = {}
        for (layer, d), tr in self.traces.items():
            for q, x in tr.quantities.items():
                out[(layer, d, q)] = _to_batch_first(x, self.lengths, d == 1)
        return out

    def _padded(self, g: Tensor) -> Tensor:
        """Raw output-gradient layout -> (T, B, F) time-major, original batch order."""
        if self.packed is not None:
            bs, si, ui = self.packed
            return pad_packed_sequence(PackedSequence(g, bs, si, ui), total_length=self.T)[0]
        return g

    def _unsort(self, g: Tensor) -> Tensor:
        """(D, B, F) final-state gradient in kernel batch order -> original order."""
        if self.packed is not None and self.packed[2] is not None:
            return g.index_select(1, self.packed[2])
        return g

    def grads(self) -> dict[tuple[int, int, str], Tensor]:
        out = {}
        if self.step_grads:
            for (layer, d), qs in self.step_grads.items():
                for q, g in qs.items():
                    out[(layer, d, q)] = _to_batch_first(g, self.lengths, d == 1)
            return out
        any_tr = next(iter(self.traces.values()))
        B = any_tr.quantities["hidden"].shape[1]
        lengths = self.lengths
        last = (lengths - 1) if lengths is not None else torch.full((B,), self.T - 1, dtype=torch.long)
        ar = torch.arange(B)
        for layer in range(self.num_layers):
            dy = self.raw_dy.get(layer)
            dy = self._padded(dy) if dy is not None else None
            dhn = self._unsort(self.raw_dhn[layer]) if layer in self.raw_dhn else None
            dcn = self._unsort(self.raw_dcn[layer]) if layer in self.raw_dcn else None
            dz = self._padded(self.raw_dz[layer]) if layer in self.raw_dz else None
            for d in range(self.num_directions):
                tr = self.traces[(layer, d)]
                y = tr.quantities["hidden"]  # (T, B, P), forward-normalised
                P = y.shape[-1]
                if dy is None:
                    direct = torch.zeros_like(y)
                else:
                    direct = dy[..., d * P : (d + 1) * P]
                    direct = flip_within_lengths(direct, lengths) if d == 1 else direct.clone()
                if dhn is not None:
                    direct[last, ar] += dhn[d]
                direct_c = None
                if dcn is not None and tr.cell == "lstm":
                    direct_c = torch.zeros_like(tr.quantities["cell"])
                    direct_c[last, ar] = dcn[d]
                if self.zero_channels:
                    if dz is None:
                        rec_part = torch.zeros_like(y)
                    else:
                        rec_part = dz[..., d * P : (d + 1) * P]
                        rec_part = flip_within_lengths(rec_part, lengths) if d == 1 else rec_part
                    g_all = lstm_grads_from_recurrent(tr, direct, direct_c, rec_part)
                else:
                    g_all = grads_through_time(tr, direct, direct_c)
                for q, g in g_all.items():
                    out[(layer, d, q)] = _to_batch_first(g, lengths, d == 1)
        return out


@dataclass
class _CellSequences:
    """Steps of an nn.*Cell called in a loop, stitched into sequences."""

    cell: str
    sequences: list[list[dict[str, Tensor]]] = field(default_factory=list)
    last_output: object = None  # the h tensor the latest step returned (identity decides continuation)
    saw_backward: bool = False

    def add_step(self, q: dict[str, Tensor], continues: bool) -> dict[str, Tensor]:
        if not continues or not self.sequences:
            self.sequences.append([])
        step = dict(q)
        self.sequences[-1].append(step)
        return step

    def _stack(self, name: str) -> Tensor:
        parts = []
        for seq in self.sequences:
            steps = []
            for s in seq:
                v = s.get(name)
                if v is None:  # gradient that never arrived: nothing flowed there
                    v = torch.zeros_like(s["hidden"] if name == "grad_hidden" else s["cell"])
                steps.append(v)
            parts.append(torch.stack(steps, 1))  # (B, T, U)
        return _cat_batches(parts)

    def lengths(self) -> Tensor:
        return torch.cat(
            [torch.full((seq[0]["hidden"].shape[0],), len(seq), dtype=torch.long) for seq in self.sequences]
        )

    def quantities(self, names: tuple[str, ...]) -> dict[tuple[int, int, str], Tensor]:
        return {(0, 0, q): self._stack(q) for q in names}


def _cat_batches(parts: list[Tensor]) -> Tensor:
    """Concatenate (B_i, T_i, U) tensors along batch, padding time with NaN."""
    if len(parts) == 1:
        return parts[0]
    T = max(p.shape[1] for p in parts)
    padded = []
    for p in parts:
        if p.shape[1] < T:
            pad = torch.full((p.shape[0], T - p.shape[1], p.shape[2]), float("nan"), dtype=p.dtype)
            p = torch.cat((p, pad), 1)
        padded.append(p)
    return torch.cat(padded, 0)


class Recording:
    """Everything recorded inside one :func:`lstmviz.record` block.

    Access tensors by key (see :mod:`lstmviz.names`), or as tidy frames.

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

    def __init__(self, modules: dict[str, str], grads: bool) -> None:
        self.grads = grads
        self.modules = dict(modules)
        self._calls: dict[str, list[_ModuleCall]] = {}
        self._cells: dict[str, _CellSequences] = {}
        self._cache: dict[str, Tensor] | None = None
        self._grad_cache: dict[str, Tensor] | None = None
        self._hooks_enabled = True
        self._closed = False

    # ----- filling (used by the recorder) -------------------------------------------------
    def _add_call(self, path: str, call: _ModuleCall) -> None:
        self._calls.setdefault(path, []).append(call)
        self._invalidate()

    def _cell_store(self, path: str) -> _CellSequences:
        self._invalidate()
        return self._cells.setdefault(path, _CellSequences(self.modules[path]))

    def _invalidate(self) -> None:
        self._cache = None
        self._grad_cache = None

    def _grad_arrived(self) -> None:
        self._grad_cache = None

    def _close(self) -> None:
        """Drop references into the autograd graph so the recording is plain data."""
        for calls in self._calls.values():
            for c in calls:
                c.capture = []
        for cs in self._cells.values():
            cs.last_output = None
            for seq in cs.sequences:
                for step in seq:
                    step.pop("_h_out", None)
                    step.pop("_c_out", None)
        self._closed = True

    # ----- reading ------------------------------------------------------------------------
    def _forward_tensors(self) -> dict[str, Tensor]:
        if self._cache is None:
            out: dict[str, Tensor] = {}
            for path, calls in self._calls.items():
                per_call = [c.quantities() for c in calls]
                for k in per_call[0]:
                    out[make_key(path, *k)] = _cat_batches([pc[k] for pc in per_call])
            for path, cs in self._cells.items():
                for k, v in cs.quantities(QUANTITIES[cs.cell]).items():
                    out[make_key(path, *k)] = v
            self._cache = out
        return self._cache

    def _grad_tensors(self) -> dict[str, Tensor]:
        if not self.grads:
            raise KeyError(
                "this recording has no gradients: use record(model, grads=True) (or trace(..., loss_fn=...))"
            )
        if self._grad_cache is None:
            missing = [p for p, calls in self._calls.items() if not any(c.saw_backward for c in calls)]
            missing += [p for p, cs in self._cells.items() if not cs.saw_backward]
            if missing:
                raise RuntimeError(
                    f"no backward pass has reached module(s) {missing} yet: call loss.backward() "
                    "(or rec.backward(loss)) inside the record(..., grads=True) block before reading gradients"
                )
            out: dict[str, Tensor] = {}
            with torch.no_grad():
                for path, calls in self._calls.items():
                    per_call = [c.grads() for c in calls]
                    for k in per_call[0]:
                        out[make_key(path, *k)] = _cat_batches([pc[k] for pc in per_call])
                for path, cs in self._cells.items():
                    for k, v in cs.quantities(GRAD_QUANTITIES[cs.cell]).items():
                        out[make_key(path, *k)] = v
            self._grad_cache = out
        return self._grad_cache

    def _recorded_paths(self) -> list[str]:
        return [p for p in self.modules if p in self._calls or p in self._cells]

    def keys(self) -> list[str]:
        """All keys, forward quantities first then gradients (when asked for).

        Returns:
            List of key strings in module, layer, direction, quantity order.
        """
        keys = list(self._forward_tensors())
        if self.grads:
            for path in self._recorded_paths():
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
        if module in self._calls:
            parts = []
            for c in self._calls[module]:
                B = next(iter(c.traces.values())).quantities["hidden"].shape[1]
                parts.append(c.lengths.cpu() if c.lengths is not None else torch.full((B,), c.T, dtype=torch.long))
            return torch.cat(parts)
        if module in self._cells:
            return self._cells[module].lengths()
        raise KeyError(f"module {module!r} recorded nothing; recorded modules: {self._recorded_paths()}")

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
        targets: list[tuple[object, str, int]] = []
        tensors: list[Tensor] = []
        for calls in self._calls.values():
            for c in calls:
                for kind, layer, t in c.capture:
                    targets.append((c, kind, layer))
                    tensors.append(t)
        cell_targets = []
        for cs in self._cells.values():
            for seq in cs.sequences:
                for step in seq:
                    for kind in ("_h_out", "_c_out"):
                        if kind in step:
                            cell_targets.append((cs, step, kind))
                            tensors.append(step[kind])
        inputs = tuple(inputs)
        self._hooks_enabled = False
        try:
            grads = torch.autograd.grad(loss, tensors + list(inputs), allow_unused=True)
        finally:
            self._hooks_enabled = True
        n1 = len(targets)
        for (c, kind, layer), g in zip(targets, grads[:n1]):
            c.saw_backward = True
            if g is not None:
                c.add_grad(kind, layer, g)
        for (cs, step, kind), g in zip(cell_targets, grads[n1 : n1 + len(cell_targets)]):
            cs.saw_backward = True
            if g is not None:
                _cell_add_grad(step, kind, g)
        self._grad_arrived()
        return tuple(grads[n1 + len(cell_targets) :])

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


def _cell_add_grad(step: dict, kind: str, g: Tensor) -> None:
    """Accumulate the gradient of a cell step's h (or c) output."""
    name = "grad_hidden" if kind == "_h_out" else "grad_cell"
    g = g.detach().reshape(step["hidden"].shape if name == "grad_hidden" else step["cell"].shape).cpu()
    step[name] = g if name not in step else step[name] + g


def _looks_like_key(key: str) -> bool:
    try:
        parse_key(key)
        return True
    except ValueError:
        return False
