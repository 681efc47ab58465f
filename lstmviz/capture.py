"""The write side of a recording: what one ``record()`` block captures while the model runs.

:func:`lstmviz.record` creates one :class:`Capture` per block and fills it from the
watched modules' dispatchers and from tensor hooks during backward:

* a full ``nn.LSTM``/``nn.GRU``/``nn.RNN`` call becomes a :class:`ModuleCall`
  (per-layer traces in :mod:`lstmviz.unroll`'s forward-normalised ``(T, B, ...)``
  layout plus the raw gradients that reached its outputs);
* ``nn.*Cell`` steps called in a Python loop go to a :class:`CellSequences`, which
  stitches them into sequences (a step continues a sequence when its ``hx`` is the
  tensor the previous step returned).

:class:`lstmviz.recording.Recording` is the read side built on a capture: it asks
:meth:`Capture.forward_tensors` and :meth:`Capture.grad_tensors` for batch-first
``(B, T, units)`` CPU tensors by key and caches them until :attr:`Capture.version`
or :attr:`Capture.grad_version` moves. Nothing outside the recorder writes to a
capture.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import Tensor
from torch.nn.utils.rnn import PackedSequence, pad_packed_sequence

from .names import GRAD_QUANTITIES, QUANTITIES, make_key
from .unroll import LayerTrace, flip_within_lengths, grads_through_time, lstm_grads_from_recurrent

__all__ = ["Capture", "CellSequences", "ModuleCall"]

# Keys under which a cell step keeps its h_t (and c_t) output tensors until the block closes: the targets of
# Capture.backward's autograd.grad. They hold the autograd graph, so close() drops them.
_H_OUT = "_h_out"
_C_OUT = "_c_out"


def _to_batch_first(x: Tensor, lengths: Tensor | None, reverse: bool) -> Tensor:
    """(T, B, U) forward-normalised -> (B, T, U) in input time order, NaN past lengths, on CPU."""
    if reverse:
        x = flip_within_lengths(x, lengths)
    x = x.detach().transpose(0, 1).to("cpu", copy=False)
    if lengths is not None and bool((lengths < x.shape[1]).any()):
        valid = torch.arange(x.shape[1]).unsqueeze(0) < lengths.cpu().unsqueeze(1)  # (B, T)
        x = x.masked_fill(~valid.unsqueeze(-1), float("nan"))
    return x  # a batch-first view of time-major storage: no copy


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


@dataclass
class ModuleCall:
    """One call of a full nn.LSTM/GRU/RNN: per-layer traces plus gradient capture buffers.

    Filled by the recorder; :meth:`quantities` and :meth:`grads` turn it into batch-first tensors keyed by
    ``(layer, direction, quantity)``.

    Example:
        >>> tr = LayerTrace("rnn", {"hidden": torch.zeros(3, 2, 4)})  # (T, B, U)
        >>> call = ModuleCall("rnn", 1, 1, None, 3, traces={(0, 0): tr})
        >>> call.quantities()[(0, 0, "hidden")].shape
        torch.Size([2, 3, 4])
    """

    cell: str
    num_layers: int
    num_directions: int
    lengths: Tensor | None  # (B,) original batch order; None when all sequences have length T
    T: int
    traces: dict[tuple[int, int], LayerTrace] = field(default_factory=dict)
    # gradient capture, in the kernel's raw layout; filled by tensor hooks or Capture.backward
    raw_dy: dict[int, Tensor] = field(default_factory=dict)
    raw_dhn: dict[int, Tensor] = field(default_factory=dict)
    raw_dcn: dict[int, Tensor] = field(default_factory=dict)
    raw_dz: dict[int, Tensor] = field(default_factory=dict)  # zero-channel gradients W_hh^T dL/da_t (LSTM fast path)
    zero_channels: bool = False
    # unrolled-autograd path: total gradients hooked per step, (layer, d) -> quantity -> (T, B, U)
    step_grads: dict[tuple[int, int], dict[str, Tensor]] = field(default_factory=dict)
    capture: list[tuple[str, int, Tensor]] = field(default_factory=list)  # (kind, layer, tensor) for explicit backward
    packed: tuple | None = None  # (batch_sizes, sorted_indices, unsorted_indices) for packed input
    saw_backward: bool = False
    path: str = "kernel"  # the capture path that ran (one of lstmviz.recorder.PATHS)

    def add_grad(self, kind: str, layer, g: Tensor) -> None:
        """Accumulate gradient ``g`` of an output: kind ``dy``/``dhn``/``dcn``/``dz`` (layer index) or ``step``."""
        self.saw_backward = True
        if kind == "step":  # layer is (layer, direction, quantity, t)
            layer_index, d, name, t = layer
            self.step_grads[(layer_index, d)][name][t] += g.detach()
            return
        store = {"dy": self.raw_dy, "dhn": self.raw_dhn, "dcn": self.raw_dcn, "dz": self.raw_dz}[kind]
        g = g.detach()
        store[layer] = g.clone() if layer not in store else store[layer] + g

    def batch_size(self) -> int:
        """Rows B of this call."""
        return next(iter(self.traces.values())).quantities["hidden"].shape[1]

    def quantities(self) -> dict[tuple[int, int, str], Tensor]:
        """Forward quantities, ``(layer, direction, quantity) -> (B, T, U)`` CPU tensor."""
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
        """Gradients through time, ``(layer, direction, grad quantity) -> (B, T, U)`` CPU tensor."""
        out = {}
        if self.step_grads:
            for (layer, d), qs in self.step_grads.items():
                for q, g in qs.items():
                    out[(layer, d, q)] = _to_batch_first(g, self.lengths, d == 1)
            return out
        B = self.batch_size()
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
class CellSequences:
    """Steps of an nn.*Cell called in a loop, stitched into sequences.

    Each step is a dict quantity -> ``(B, U)`` CPU tensor; while the block is open it also holds the step's
    output tensors (for :meth:`Capture.backward`).

    Example:
        >>> cs = CellSequences("rnn")
        >>> for _ in range(3):
        ...     _ = cs.add_step({"hidden": torch.zeros(2, 4)}, continues=True)
        >>> cs.quantities(("hidden",))[(0, 0, "hidden")].shape, cs.lengths().tolist()
        (torch.Size([2, 3, 4]), [3, 3])
    """

    cell: str
    sequences: list[list[dict[str, Tensor]]] = field(default_factory=list)
    last_output: object = None  # the h tensor the latest step returned (identity decides continuation)
    saw_backward: bool = False

    def add_step(self, q: dict[str, Tensor], continues: bool) -> dict[str, Tensor]:
        """Append one step's quantities to the current sequence (or start a new one); return the stored step."""
        if not continues or not self.sequences:
            self.sequences.append([])
        step = dict(q)
        self.sequences[-1].append(step)
        return step

    def keep_output(self, step: dict, h_out: Tensor, c_out: Tensor | None = None) -> list[tuple[str, Tensor]]:
        """Remember a step's output tensors for :meth:`Capture.backward`; return ``(kind, tensor)`` to hook."""
        outs = [(kind, t) for kind, t in ((_H_OUT, h_out), (_C_OUT, c_out)) if t is not None and t.requires_grad]
        for kind, t in outs:
            step[kind] = t
        return outs

    def add_grad(self, step: dict, kind: str, g: Tensor) -> None:
        """Accumulate the gradient of a step's h (kind ``_h_out``) or c (``_c_out``) output."""
        self.saw_backward = True
        name = "grad_hidden" if kind == _H_OUT else "grad_cell"
        g = g.detach().reshape(step["hidden"].shape if name == "grad_hidden" else step["cell"].shape).cpu()
        step[name] = g if name not in step else step[name] + g

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
        """Length of each sequence, one per row: ``(B,)``."""
        return torch.cat(
            [torch.full((seq[0]["hidden"].shape[0],), len(seq), dtype=torch.long) for seq in self.sequences]
        )

    def quantities(self, names: tuple[str, ...]) -> dict[tuple[int, int, str], Tensor]:
        """The named quantities as ``(0, 0, name) -> (B, T, U)``, sequences stacked along batch."""
        return {(0, 0, q): self._stack(q) for q in names}


class Capture:
    """Everything one ``record()`` block captures, owned and filled by the recorder.

    Args:
        modules: module path -> cell type (``"lstm"``, ``"gru"``, ``"rnn"``) of every watched module.
        targets: ``id(module)`` -> module path of the same modules (the dispatcher's lookup).
        grads: whether gradients through time are captured.
        requested_path: a capture path from :data:`lstmviz.recorder.PATHS` for every full-module call,
            or None to choose per call (see :func:`lstmviz.recorder.choose_path`).

    Attributes:
        calls: module path -> its full-module calls, in call order.
        cells: module path -> its ``*Cell`` steps stitched into sequences.
        foreign_calls: calls of a watched module from another thread or context while the block was open.
        hooks_enabled: False while :meth:`backward` runs (its own ``autograd.grad`` delivers the gradients).
        version: bumped whenever forward data arrives; grad_version whenever a gradient does.
        closed: True once the block has exited and the graph references are gone.

    Example:
        >>> cap = Capture({"": "rnn"}, {}, grads=False)
        >>> cap.recorded_paths(), cap.forward_tensors()
        ([], {})
    """

    def __init__(
        self, modules: dict[str, str], targets: dict[int, str], grads: bool, requested_path: str | None = None
    ) -> None:
        self.modules = dict(modules)
        self.targets = dict(targets)
        self.grads = grads
        self.requested_path = requested_path
        self.calls: dict[str, list[ModuleCall]] = {}
        self.cells: dict[str, CellSequences] = {}
        self.foreign_calls = 0
        self.hooks_enabled = True
        self.version = 0
        self.grad_version = 0
        self.closed = False

    # ----- filling (the recorder) ---------------------------------------------------------
    def add_call(self, path: str, call: ModuleCall) -> None:
        """Append a full-module call of module ``path``."""
        self.calls.setdefault(path, []).append(call)
        self.version += 1

    def cell_store(self, path: str) -> CellSequences:
        """The step store of cell module ``path`` (created on first use); a step is about to be added."""
        self.version += 1
        return self.cells.setdefault(path, CellSequences(self.modules[path]))

    def grad_arrived(self) -> None:
        """A gradient reached a call or a cell step."""
        self.grad_version += 1

    def close(self) -> None:
        """Drop references into the autograd graph so the capture is plain data."""
        for calls in self.calls.values():
            for c in calls:
                c.capture = []
        for cs in self.cells.values():
            cs.last_output = None
            for seq in cs.sequences:
                for step in seq:
                    step.pop(_H_OUT, None)
                    step.pop(_C_OUT, None)
        self.closed = True

    def backward(self, loss: Tensor, inputs: tuple[Tensor, ...]) -> tuple[Tensor | None, ...]:
        """``torch.autograd.grad`` of ``loss`` into every captured output (no ``.grad`` changes).

        Returns:
            The gradients of ``inputs`` (None where nothing flowed).
        """
        targets: list[tuple[ModuleCall, str, int]] = []
        tensors: list[Tensor] = []
        for calls in self.calls.values():
            for c in calls:
                for kind, layer, t in c.capture:
                    targets.append((c, kind, layer))
                    tensors.append(t)
        cell_targets = []
        for cs in self.cells.values():
            for seq in cs.sequences:
                for step in seq:
                    for kind in (_H_OUT, _C_OUT):
                        if kind in step:
                            cell_targets.append((cs, step, kind))
                            tensors.append(step[kind])
        self.hooks_enabled = False
        try:
            grads = torch.autograd.grad(loss, tensors + list(inputs), allow_unused=True)
        finally:
            self.hooks_enabled = True
        n1 = len(targets)
        for (c, kind, layer), g in zip(targets, grads[:n1]):
            c.saw_backward = True
            if g is not None:
                c.add_grad(kind, layer, g)
        for (cs, step, kind), g in zip(cell_targets, grads[n1 : n1 + len(cell_targets)]):
            cs.saw_backward = True
            if g is not None:
                cs.add_grad(step, kind, g)
        self.grad_arrived()
        return tuple(grads[n1 + len(cell_targets) :])

    # ----- reading (for Recording) --------------------------------------------------------
    def recorded_paths(self) -> list[str]:
        """Watched modules that recorded at least one call or step, in watch order."""
        return [p for p in self.modules if p in self.calls or p in self.cells]

    def without_backward(self) -> list[str]:
        """Recorded modules that no backward pass has reached yet."""
        missing = [p for p, calls in self.calls.items() if not any(c.saw_backward for c in calls)]
        return missing + [p for p, cs in self.cells.items() if not cs.saw_backward]

    def forward_tensors(self) -> dict[str, Tensor]:
        """Key -> ``(B, T, units)`` CPU tensor of every forward quantity; a module's calls stacked along batch."""
        out: dict[str, Tensor] = {}
        for path, calls in self.calls.items():
            per_call = [c.quantities() for c in calls]
            for k in per_call[0]:
                out[make_key(path, *k)] = _cat_batches([pc[k] for pc in per_call])
        for path, cs in self.cells.items():
            for k, v in cs.quantities(QUANTITIES[cs.cell]).items():
                out[make_key(path, *k)] = v
        return out

    def grad_tensors(self) -> dict[str, Tensor]:
        """Key -> ``(B, T, units)`` CPU tensor of every gradient quantity (computed now, without autograd)."""
        out: dict[str, Tensor] = {}
        with torch.no_grad():
            for path, calls in self.calls.items():
                per_call = [c.grads() for c in calls]
                for k in per_call[0]:
                    out[make_key(path, *k)] = _cat_batches([pc[k] for pc in per_call])
            for path, cs in self.cells.items():
                for k, v in cs.quantities(GRAD_QUANTITIES[cs.cell]).items():
                    out[make_key(path, *k)] = v
        return out

    def lengths(self, module: str) -> Tensor:
        """Sequence lengths ``(B,)`` of a module's rows; KeyError when it recorded nothing."""
        if module in self.calls:
            parts = []
            for c in self.calls[module]:
                full = torch.full((c.batch_size(),), c.T, dtype=torch.long)
                parts.append(c.lengths.cpu() if c.lengths is not None else full)
            return torch.cat(parts)
        if module in self.cells:
            return self.cells[module].lengths()
        raise KeyError(f"module {module!r} recorded nothing; recorded modules: {self.recorded_paths()}")

    def paths_taken(self) -> dict[str, tuple[str, ...]]:
        """Module path -> the capture path of each of its full-module calls, in call order."""
        return {p: tuple(c.path for c in calls) for p, calls in self.calls.items()}
