"""The write side of a recording: what one ``record()`` block captures while the model runs.

:func:`lstmviz.record` creates one :class:`Capture` per block and fills it from the
watched modules' dispatchers, from :func:`lstmviz.tap` and from tensor hooks during backward:

* a full ``nn.LSTM``/``nn.GRU``/``nn.RNN`` call becomes a :class:`ModuleCall`
  (per-layer traces in :mod:`lstmviz.unroll`'s forward-normalised ``(T, B, ...)``
  layout plus the raw gradients that reached its outputs);
* ``nn.*Cell`` steps called in a Python loop go to a :class:`CellSequences`;
* tensors handed to :func:`lstmviz.tap` go to a :class:`TapSequences` per tap name.

Calls and steps of one module form sequences (see :meth:`Capture.starts_sequence`): a call
continues its module's current sequence when its initial state is the state the previous call
ended with (the same tensor or equal values), so a decoder that calls ``nn.GRU`` once per step,
or truncated-BPTT chunks, record as one sequence along time; different sequences are stacked
along batch (padded with NaN). ``rec.new_sequence()`` switches a module to explicit mode, and
``record(..., stitch=False)`` to the behaviour before stitching (one batch row per call).

:class:`lstmviz.recording.Recording` is the read side built on a capture: it asks
:meth:`Capture.forward_tensors` and :meth:`Capture.grad_tensors` for batch-first
``(B, T, units)`` CPU tensors by key and caches them until :attr:`Capture.version`
or :attr:`Capture.grad_version` moves. Nothing outside the recorder writes to a
capture.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field

import torch
from torch import Tensor
from torch.nn.utils.rnn import PackedSequence, pad_packed_sequence

from .names import GRAD_QUANTITIES, QUANTITIES, make_key
from .unroll import LayerTrace, flip_within_lengths, grads_through_time, lstm_grads_from_recurrent

__all__ = ["Capture", "CellSequences", "ModuleCall", "TapSequences"]

# Keys under which a cell step keeps its h_t (and c_t) output tensors until the block closes: the targets of
# Capture.backward's autograd.grad. They hold the autograd graph, so close() drops them.
_H_OUT = "_h_out"
_C_OUT = "_c_out"
# The gradient quantity of each state quantity a tap can hook.
_GRAD_OF = {"hidden": "grad_hidden", "cell": "grad_cell"}


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


def _cat_time(parts: list[Tensor]) -> Tensor:
    """Join the (B, T_i, U) pieces of one sequence along time (stitched calls are never ragged: no NaN inside)."""
    return parts[0] if len(parts) == 1 else torch.cat(parts, 1)


def _same_state(given: tuple[Tensor, ...], last: tuple[tuple[Tensor, int], ...] | None) -> bool:
    """Whether a call's initial state equals (value for value) the state the previous call ended with.

    ``last`` holds the returned state tensors with their version counters at return (no copy: cloning every final
    state cost as much as a small call). The very tensor (or a ``detach()``/view of it: they share the counter)
    unchanged since is equal without a look at the values; another tensor is compared with the returned one as long
    as that one was not changed in place since, and a returned state changed in place is a changed state.
    """
    if last is None or len(given) != len(last):
        return False
    for a, (b, version) in zip(given, last):
        if not isinstance(a, Tensor) or a.shape != b.shape or a.dtype != b.dtype or a.device != b.device:
            return False
        if b._version != version:  # the returned state was changed in place: its old values are gone
            return False
        same_memory = a.data_ptr() == b.data_ptr() and a.stride() == b.stride() and a._version == version
        if not same_memory and not torch.equal(a.detach(), b.detach()):
            return False
    return True


def _all_zero(given: tuple[Tensor, ...]) -> bool:
    return all(isinstance(t, Tensor) and not bool(t.detach().any()) for t in given)


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
    new_sequence: bool = True  # False: the call continues the previous call's sequence along time
    # (layer, direction, quantity) -> (shape, dtype, device) of every quantity, also of those prune() dropped
    shapes: dict[tuple[int, int, str], tuple] = field(default_factory=dict)
    # True: the traces (and step gradients) are (N + 1, U) in the packed layout of ``packed``, input time order in
    # both directions, the last row NaN (lstmviz.unroll.run_layer_packed's sentinel): read by one gather into the
    # padded batch. The hand-written reverse recurrence is never run on them (the steps' own hooks give the grads).
    packed_traces: bool = False
    _gather: Tensor | None = field(default=None, repr=False)  # batch-first slot -> packed row, made on first read

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

    def prune(self, keep: frozenset[str] | None) -> None:
        """Note every quantity's shape, then drop the forward tensors not in ``keep`` (None keeps all).

        Gradients never need them: the reverse recurrence reads ``LayerTrace.backward`` only.
        """
        for (layer, d), tr in self.traces.items():
            for q, x in tr.quantities.items():
                self.shapes[(layer, d, q)] = (x.shape, x.dtype, x.device)
            if keep is not None:
                tr.quantities = {q: x for q, x in tr.quantities.items() if q in keep}

    def _zeros(self, layer: int, d: int, q: str) -> Tensor:
        """Zeros shaped like quantity ``q`` of one layer and direction, ``(T, B, U)``, also after prune()."""
        x = self.traces[(layer, d)].quantities.get(q)
        if x is not None:
            return torch.zeros_like(x)
        shape, dtype, device = self.shapes[(layer, d, q)]
        return torch.zeros(shape, dtype=dtype, device=device)

    def batch_size(self) -> int:
        """Rows B of this call."""
        if self.packed_traces:
            return int(self.packed[0][0])
        if self.shapes:
            return next(iter(self.shapes.values()))[0][1]
        return next(iter(self.traces.values())).quantities["hidden"].shape[1]

    def _batch_first(self, x: Tensor, d: int) -> Tensor:
        """A stored quantity or step gradient -> ``(B, T, U)`` CPU tensor, input time order, NaN past lengths."""
        if not self.packed_traces:
            return _to_batch_first(x, self.lengths, d == 1)
        if self._gather is None:
            self._gather = self._padded_rows()
        B = self.batch_size()
        # (N + 1, U) packed, the last row NaN -> one gather: each padded slot reads its packed row or the NaN row
        return x.detach().index_select(0, self._gather).view(B, self.T, -1).to("cpu", copy=False)

    def _padded_rows(self) -> Tensor:
        """(B * T,) packed row of each batch-first slot (original batch order), N (the NaN row) past a length."""
        bs, sorted_idx, _ = self.packed
        steps = torch.repeat_interleave(torch.arange(len(bs)), bs)  # (N,) step of each packed row
        slot = torch.arange(steps.numel()) - (torch.cumsum(bs, 0) - bs)[steps]  # (N,) row in the sorted batch
        rows = sorted_idx[slot] if sorted_idx is not None else slot
        gather = torch.full((self.batch_size() * self.T,), steps.numel(), dtype=torch.long)
        gather[rows * self.T + steps] = torch.arange(steps.numel())
        device = next(iter(self.shapes.values()))[2] if self.shapes else "cpu"
        return gather.to(device)

    def ragged(self) -> bool:
        """Whether some sequence of the call is shorter than T (packed input of unequal lengths)."""
        return self.lengths is not None and bool((self.lengths < self.T).any())

    def quantities(self) -> dict[tuple[int, int, str], Tensor]:
        """Forward quantities, ``(layer, direction, quantity) -> (B, T, U)`` CPU tensor."""
        out = {}
        for (layer, d), tr in self.traces.items():
            for q, x in tr.quantities.items():
                out[(layer, d, q)] = self._batch_first(x, d)
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
                    out[(layer, d, q)] = self._batch_first(g, d)
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
                zeros_h = self._zeros(layer, d, "hidden")  # (T, B, P), forward-normalised
                P = zeros_h.shape[-1]
                if dy is None:
                    direct = zeros_h
                else:
                    direct = dy[..., d * P : (d + 1) * P]
                    direct = flip_within_lengths(direct, lengths) if d == 1 else direct.clone()
                if dhn is not None:
                    direct[last, ar] += dhn[d]
                direct_c = None
                if dcn is not None and tr.cell == "lstm":
                    direct_c = self._zeros(layer, d, "cell")
                    direct_c[last, ar] = dcn[d]
                if self.zero_channels:
                    if dz is None:
                        rec_part = torch.zeros_like(direct)
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

    Each step is a dict quantity -> ``(B, U)`` CPU tensor (only the requested quantities); while the block is open
    it also holds the step's output tensors (for :meth:`Capture.backward`).

    Example:
        >>> cs = CellSequences("rnn")
        >>> for _ in range(3):
        ...     _ = cs.add_step({"hidden": torch.zeros(2, 4)}, continues=True)
        >>> cs.quantities(("hidden",))[(0, 0, "hidden")].shape, cs.lengths().tolist()
        (torch.Size([2, 3, 4]), [3, 3])
    """

    cell: str
    units: int | None = None  # H of h_t and c_t (None: read from the first step's "hidden")
    dtype: torch.dtype | None = None
    sequences: list[list[dict[str, Tensor]]] = field(default_factory=list)
    batch_sizes: list[int] = field(default_factory=list)  # rows B of each sequence
    saw_backward: bool = False

    def add_step(self, q: dict[str, Tensor], continues: bool, batch: int | None = None) -> dict[str, Tensor]:
        """Append one step's quantities to the current sequence (or start a new one); return the stored step."""
        if self.units is None:
            self.units, self.dtype = q["hidden"].shape[-1], q["hidden"].dtype
        if batch is None:
            batch = q["hidden"].shape[0]
        if not continues or not self.sequences or batch != self.batch_sizes[-1]:
            self.sequences.append([])
            self.batch_sizes.append(batch)
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
        g = g.detach().reshape(-1, self.units).cpu()  # (B, H); an unbatched step's (H,) becomes (1, H)
        step[name] = g if name not in step else step[name] + g

    def _stack(self, name: str) -> Tensor:
        parts = []
        for seq, B in zip(self.sequences, self.batch_sizes):
            steps = []
            for s in seq:
                v = s.get(name)
                if v is None:  # gradient that never arrived: nothing flowed there
                    v = torch.zeros(B, self.units, dtype=self.dtype)
                steps.append(v)
            parts.append(torch.stack(steps, 1))  # (B, T, U)
        return _cat_batches(parts)

    def lengths(self) -> Tensor:
        """Length of each sequence, one per row: ``(B,)``."""
        return torch.cat(
            [torch.full((B,), len(seq), dtype=torch.long) for seq, B in zip(self.sequences, self.batch_sizes)]
        )

    def quantities(self, names: tuple[str, ...]) -> dict[tuple[int, int, str], Tensor]:
        """The named quantities as ``(0, 0, name) -> (B, T, U)``, sequences stacked along batch."""
        return {(0, 0, q): self._stack(q) for q in names}


@dataclass
class TapSequences:
    """What :func:`lstmviz.tap` recorded under one name: per key, sequences of steps.

    A series is keyed ``(layer, direction, quantity)``; each step is a dict with ``"value"`` (a ``(B, U)`` CPU
    tensor, absent when the quantity was not requested), ``"grad"`` (the gradient that reached the tapped tensor,
    ``(B, U)``, once a backward has run) and, while the block is open, ``"_out"`` (the tapped tensor itself, for
    :meth:`Capture.backward`).

    Example:
        >>> ts = TapSequences("mycell")
        >>> for _ in range(3):
        ...     _ = ts.add_step((0, 0, "hidden"), torch.zeros(2, 4), keep_value=True)
        >>> ts.forward()[(0, 0, "hidden")].shape, ts.lengths().tolist()
        (torch.Size([2, 3, 4]), [3, 3])
    """

    name: str
    cell: str = "rnn"
    series: dict[tuple[int, int, str], list[list[dict]]] = field(default_factory=dict)
    shape: dict[tuple[int, int, str], tuple[int, int, torch.dtype]] = field(default_factory=dict)  # B, U, dtype
    batch_sizes: dict[tuple[int, int, str], list[int]] = field(default_factory=dict)  # B of each sequence
    pending: set = field(default_factory=set)  # keys whose next tap starts a new sequence (rec.new_sequence())
    hooked: set = field(default_factory=set)  # state keys with at least one gradient hook
    handles: list = field(default_factory=list)  # the hooks on the caller's own tensors, removed on close
    saw_backward: bool = False

    def add_step(self, key: tuple[int, int, str], x: Tensor, keep_value: bool) -> dict:
        """Append one tapped ``(B, U)`` step to the current sequence of ``key``; return the stored step.

        A new sequence starts at the key's first tap, after :meth:`new_sequence` and when the batch size changes.

        Raises:
            ValueError: the units differ from earlier taps of the key.
        """
        B, U = x.shape
        old = self.shape.get(key)
        if old is not None and old[1] != U:
            raise ValueError(
                f"tap {make_key(self.name, *key)!r}: {U} units, but earlier taps of this key had {old[1]}; "
                "one key holds one quantity of one layer (tap the other tensor under another name)"
            )
        seqs = self.series.setdefault(key, [])
        sizes = self.batch_sizes.setdefault(key, [])
        if not seqs or key in self.pending or sizes[-1] != B:
            seqs.append([])
            sizes.append(B)
            self.pending.discard(key)
        self.shape[key] = (B, U, x.dtype)
        step = {"value": x} if keep_value else {}
        seqs[-1].append(step)
        return step

    def new_sequence(self) -> None:
        """The next tap of every key starts a new sequence."""
        self.pending = set(self.series)

    def add_grad(self, step: dict, g: Tensor) -> None:
        """Accumulate the gradient that reached a tapped tensor."""
        self.saw_backward = True
        g = g.detach().reshape(-1, g.shape[-1]).cpu()  # (B, U); an unbatched (U,) tap becomes (1, U)
        step["grad"] = g if "grad" not in step else step["grad"] + g

    def _stack(self, key: tuple[int, int, str], field_name: str) -> Tensor:
        U, dtype = self.shape[key][1], self.shape[key][2]
        parts = []
        for seq, B in zip(self.series[key], self.batch_sizes[key]):
            steps = [s.get(field_name, None) for s in seq]
            steps = [v if v is not None else torch.zeros(B, U, dtype=dtype) for v in steps]
            parts.append(torch.stack(steps, 1))  # (B, T, U)
        return _cat_batches(parts)

    def forward(self) -> dict[tuple[int, int, str], Tensor]:
        """Tapped values ``(layer, direction, quantity) -> (B, T, U)``, sequences stacked along batch."""
        return {k: self._stack(k, "value") for k, seqs in self.series.items() if "value" in seqs[0][0]}

    def grad_keys(self) -> list[tuple[int, int, str]]:
        """``(layer, direction, grad quantity)`` of every state key that had a gradient hook."""
        return [(k[0], k[1], _GRAD_OF[k[2]]) for k in self.series if k in self.hooked]

    def grads(self) -> dict[tuple[int, int, str], Tensor]:
        """Gradients that reached the tapped states, ``(layer, direction, grad quantity) -> (B, T, U)``."""
        return {(k[0], k[1], _GRAD_OF[k[2]]): self._stack(k, "grad") for k in self.series if k in self.hooked}

    def lengths(self) -> Tensor:
        """Length of each sequence, one per row ``(B,)``; the same for every key of the name.

        Raises:
            ValueError: keys of this name were tapped in different sequences (their rows do not line up).
        """
        per_key = {
            k: torch.cat([torch.full((B,), len(seq), dtype=torch.long) for seq, B in zip(seqs, self.batch_sizes[k])])
            for k, seqs in self.series.items()
        }
        first_key, first = next(iter(per_key.items()))
        for k, v in per_key.items():
            if not torch.equal(v, first):
                raise ValueError(
                    f"tapped keys of {self.name!r} have different sequence lengths: "
                    f"{make_key(self.name, *first_key)} {first.tolist()}, {make_key(self.name, *k)} {v.tolist()}"
                )
        return first


@dataclass
class _SequenceState:
    """Per watched module: what decides whether its next call or step continues the current sequence."""

    explicit: bool = False  # rec.new_sequence() was called: continue regardless of state
    pending: bool = False  # the next call starts a new sequence (explicit mode)
    warned: bool = False  # the "stitching broke" warning was given for this module in this block
    last_batch: int | None = None  # B of the previous call; None before the first
    last_ragged: bool = False
    last_state: tuple[tuple[Tensor, int], ...] | None = None  # the final state the previous call returned, versions
    last_output: object = None  # stitch=False cells: the h tensor the previous step returned (identity)


class Capture:
    """Everything one ``record()`` block captures, owned and filled by the recorder.

    Args:
        modules: module path -> cell type (``"lstm"``, ``"gru"``, ``"rnn"``) of every watched module.
        targets: ``id(module)`` -> module path of the same modules (the dispatcher's lookup).
        grads: whether gradients through time are captured.
        requested_path: a capture path from :data:`lstmviz.recorder.PATHS` for every full-module call,
            or None to choose per call (see :func:`lstmviz.recorder.choose_path`).
        stitch: join calls (and cell steps) whose initial state is the previous final state into one sequence;
            False: one batch row per full-module call, cell steps joined only when ``hx`` is the very tensor
            the previous step returned (the behaviour before stitching).
        quantities: the quantity names to keep (forward and ``grad_*``), or None for all.

    Attributes:
        calls: module path -> its full-module calls, in call order.
        cells: module path -> its ``*Cell`` steps stitched into sequences.
        taps: tap name -> what :func:`lstmviz.tap` recorded under it (the name is added to :attr:`modules`).
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
        self,
        modules: dict[str, str],
        targets: dict[int, str],
        grads: bool,
        requested_path: str | None = None,
        stitch: bool = True,
        quantities: frozenset[str] | None = None,
    ) -> None:
        self.modules = dict(modules)
        self.targets = dict(targets)
        self.grads = grads
        self.requested_path = requested_path
        self.stitch = stitch
        self.wanted = frozenset(quantities) if quantities is not None else None
        self.calls: dict[str, list[ModuleCall]] = {}
        self.cells: dict[str, CellSequences] = {}
        self.taps: dict[str, TapSequences] = {}
        self.taps_seen = 0
        self._seq: dict[str, _SequenceState] = {}
        self.foreign_calls = 0
        self.hooks_enabled = True
        self.version = 0
        self.grad_version = 0
        self.closed = False

    def wants(self, quantity: str) -> bool:
        """Whether ``quantity`` is kept (``record(..., quantities=...)``)."""
        return self.wanted is None or quantity in self.wanted

    # ----- sequences ------------------------------------------------------------------------
    def _state(self, path: str) -> _SequenceState:
        return self._seq.setdefault(path, _SequenceState())

    def new_sequence(self, module: str | None = None) -> None:
        """Start a new sequence at the next call/step/tap of ``module`` (None: of every module and tap name).

        From then on the module is in explicit mode: its calls and steps continue the current sequence whatever
        state they are given, until the next ``new_sequence`` (a change of batch size still starts a new one).

        Raises:
            RuntimeError: the block has closed.
            ValueError: ``module`` is not a watched module or tap name.
        """
        if self.closed:
            raise RuntimeError("new_sequence() needs an open record() block; this recording has closed")
        if module is None:
            paths = list(self.modules)
        elif module in self.modules:
            paths = [module]
        else:
            raise ValueError(
                f"new_sequence({module!r}): not a recorded module or tap name; known: {list(self.modules)}"
            )
        for p in paths:
            if p in self.taps:
                self.taps[p].new_sequence()
            else:
                st = self._state(p)
                st.explicit = st.pending = True
                st.last_state = None  # explicit mode never compares states again

    def starts_sequence(
        self, path: str, given: tuple[Tensor, ...] | None, batch: int, ragged: bool = False, same_object: bool = False
    ) -> bool:
        """Decide whether a call or step of module ``path`` starts a new sequence (True) or continues one (False).

        Args:
            path: the module.
            given: the initial state the call was given (``(h,)`` or LSTM ``(h, c)``, the caller's layout), or None.
            batch: rows B of the call.
            ragged: packed input whose sequences are not all of length T (never joined in time).
            same_object: ``hx`` is the very tensor the previous step returned (the rule of ``stitch=False`` cells).

        Rules: explicit mode (after :meth:`new_sequence`) continues unless a new sequence was asked for; else with
        ``stitch=False`` full-module calls never continue and cell steps continue only when ``same_object``; else a
        call continues when its state equals the previous final state (same B, neither call ragged). A missing or
        all-zero state starts a sequence silently; any other state starts one with a ``RuntimeWarning`` (once
        per module and block), as does a change of batch size or ragged input in explicit mode.
        """
        st = self._state(path)
        first = st.last_batch is None
        if st.explicit:
            if st.pending or first:
                st.pending = False
                return True
            if batch != st.last_batch:
                self._warn_break(path, st, f"its batch size changed from {st.last_batch} to {batch}")
                return True
            if ragged or st.last_ragged:
                self._warn_break(path, st, "packed sequences of unequal lengths cannot be joined in time")
                return True
            return False
        if not self.stitch:
            return not (same_object and batch == st.last_batch)
        if first or given is None or _all_zero(given):
            return True
        if batch == st.last_batch and _same_state(given, st.last_state):
            if not (ragged or st.last_ragged):
                return False
            self._warn_break(path, st, "packed sequences of unequal lengths cannot be joined in time")
            return True
        self._warn_break(
            path,
            st,
            "it was given a state other than the one its previous call returned (the state was changed between calls)",
        )
        return True

    def _warn_break(self, path: str, st: _SequenceState, why: str) -> None:
        if st.warned:
            return
        st.warned = True
        warnings.warn(
            f"lstmviz: stitching broke for module '{path}': {why}, so a new sequence starts there (one more "
            "row of the recording). To choose: call rec.new_sequence() before each sequence (then calls and "
            "steps continue the current sequence whatever state they get), or use record(..., stitch=False) for "
            "one batch row per call",
            RuntimeWarning,
            stacklevel=7,  # the line that called the module (through _call_impl and the dispatcher)
        )

    def end_call(
        self,
        path: str,
        final: tuple[Tensor, ...],
        batch: int,
        ragged: bool = False,
        output=None,
        new_sequence: bool | None = None,
    ) -> None:
        """Remember how a call or step of ``path`` ended, for :meth:`starts_sequence` of the next one.

        Args:
            final: the final state as returned to the caller (``(h,)`` or ``(h, c)``).
            output: the h tensor a cell step returned (kept only with ``stitch=False``: identity decides there).
            new_sequence: for a full-module call, what :meth:`starts_sequence` decided (marks the call just added).
        """
        if new_sequence is not None:
            self.calls[path][-1].new_sequence = new_sequence
            self.version += 1
        st = self._state(path)
        st.last_batch = batch
        st.last_ragged = ragged
        if (
            self.stitch and not st.explicit
        ):  # with versions: an in-place change of the returned state must not look equal
            st.last_state = tuple((t, t._version) for t in final)  # compared by _same_state, never copied
        if not self.stitch:
            st.last_output = output

    def last_output(self, path: str) -> object:
        """The h tensor the previous step of cell ``path`` returned (``stitch=False`` only), or None."""
        st = self._seq.get(path)
        return st.last_output if st is not None else None

    # ----- filling (the recorder) ---------------------------------------------------------
    def add_call(self, path: str, call: ModuleCall) -> None:
        """Append a full-module call of module ``path``; drop the quantities not requested."""
        call.prune(self.wanted)
        self.calls.setdefault(path, []).append(call)
        self.version += 1

    def cell_store(self, path: str, units: int | None = None, dtype: torch.dtype | None = None) -> CellSequences:
        """The step store of cell module ``path`` (created on first use); a step is about to be added."""
        self.version += 1
        return self.cells.setdefault(path, CellSequences(self.modules[path], units, dtype))

    def tap_store(self, name: str, cell: str) -> TapSequences:
        """The store of tap name ``name`` (created, and added to :attr:`modules`, on first use); a step follows.

        Args:
            cell: the cell type the name's quantities imply so far (``"rnn"`` widens to ``"lstm"`` or ``"gru"``).
        """
        self.version += 1
        self.taps_seen += 1
        store = self.taps.get(name)
        if store is None:
            store = self.taps[name] = TapSequences(name, cell)
        elif store.cell == "rnn":
            store.cell = cell
        self.modules[name] = store.cell
        return store

    def grad_arrived(self) -> None:
        """A gradient reached a call or a cell step."""
        self.grad_version += 1

    def recorded_anything(self) -> bool:
        """Whether any call, step or tap reached this capture."""
        return bool(self.calls or self.cells or self.taps_seen)

    def close(self) -> None:
        """Drop references into the autograd graph so the capture is plain data."""
        for calls in self.calls.values():
            for c in calls:
                c.capture = []
        for cs in self.cells.values():
            for seq in cs.sequences:
                for step in seq:
                    step.pop(_H_OUT, None)
                    step.pop(_C_OUT, None)
        for ts in self.taps.values():
            for handle in ts.handles:  # the tapped tensors are the caller's: leave no hook on them
                handle.remove()
            ts.handles = []
            for seqs in ts.series.values():
                for seq in seqs:
                    for step in seq:
                        step.pop("_out", None)
        for st in self._seq.values():
            st.last_output = None
            st.last_state = None
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
        tap_targets = []
        for ts in self.taps.values():
            for seqs in ts.series.values():
                for seq in seqs:
                    for step in seq:
                        if "_out" in step:
                            tap_targets.append((ts, step))
                            tensors.append(step["_out"])
        self.hooks_enabled = False
        try:
            grads = torch.autograd.grad(loss, tensors + list(inputs), allow_unused=True)
        finally:
            self.hooks_enabled = True
        n1, n2 = len(targets), len(targets) + len(cell_targets)
        for (c, kind, layer), g in zip(targets, grads[:n1]):
            c.saw_backward = True
            if g is not None:
                c.add_grad(kind, layer, g)
        for (cs, step, kind), g in zip(cell_targets, grads[n1:n2]):
            cs.saw_backward = True
            if g is not None:
                cs.add_grad(step, kind, g)
        n3 = n2 + len(tap_targets)
        for (ts, step), g in zip(tap_targets, grads[n2:n3]):
            ts.saw_backward = True
            if g is not None:
                ts.add_grad(step, g)
        self.grad_arrived()
        return tuple(grads[n3:])

    # ----- reading (for Recording) --------------------------------------------------------
    def recorded_paths(self) -> list[str]:
        """Watched modules and tap names that recorded at least one call, step or tap, in watch order."""
        return [p for p in self.modules if p in self.calls or p in self.cells or p in self.taps]

    def without_backward(self) -> list[str]:
        """Recorded modules (and tap names with gradient hooks) that no backward pass has reached yet."""
        missing = [p for p, calls in self.calls.items() if not any(c.saw_backward for c in calls)]
        missing += [p for p, cs in self.cells.items() if not cs.saw_backward]
        return missing + [p for p, ts in self.taps.items() if ts.hooked and not ts.saw_backward]

    @staticmethod
    def _sequences(calls: list[ModuleCall]) -> list[list[int]]:
        """Indices of a module's calls grouped into sequences (a call with ``new_sequence=False`` joins the last)."""
        groups: list[list[int]] = []
        for i, c in enumerate(calls):
            if c.new_sequence or not groups:
                groups.append([i])
            else:
                groups[-1].append(i)
        return groups

    def _joined(self, calls: list[ModuleCall], per_call: list[dict]) -> dict[tuple[int, int, str], Tensor]:
        """Per-call ``(B, T_i, U)`` tensors -> one per key: each sequence's calls along time, sequences along batch."""
        groups = self._sequences(calls)
        return {k: _cat_batches([_cat_time([per_call[i][k] for i in g]) for g in groups]) for k in per_call[0]}

    def forward_tensors(self) -> dict[str, Tensor]:
        """Key -> ``(B, T, units)`` CPU tensor of every requested forward quantity.

        A module's calls are joined along time within a sequence, sequences stacked along batch.
        """
        out: dict[str, Tensor] = {}
        for path, calls in self.calls.items():
            for k, v in self._joined(calls, [c.quantities() for c in calls]).items():
                out[make_key(path, *k)] = v
        for path, cs in self.cells.items():
            names = tuple(q for q in QUANTITIES[cs.cell] if self.wants(q))
            for k, v in cs.quantities(names).items():
                out[make_key(path, *k)] = v
        for name, ts in self.taps.items():
            for k, v in ts.forward().items():
                out[make_key(name, *k)] = v
        return out

    def grad_keys(self) -> list[str]:
        """Keys of every requested gradient quantity (without computing them), in module, layer, direction order."""
        keys: list[str] = []
        for path in self.recorded_paths():
            if path in self.taps:
                found = sorted(self.taps[path].grad_keys())
            else:
                if path in self.calls:
                    layers = sorted(self.calls[path][0].traces)
                else:
                    layers = [(0, 0)]
                found = [(layer, d, q) for layer, d in layers for q in GRAD_QUANTITIES[self.modules[path]]]
            keys += [make_key(path, *k) for k in found if self.wants(k[2])]
        return keys

    def grad_tensors(self) -> dict[str, Tensor]:
        """Key -> ``(B, T, units)`` CPU tensor of every requested gradient quantity (computed now, no autograd)."""
        out: dict[str, Tensor] = {}
        with torch.no_grad():
            for path, calls in self.calls.items():
                for k, v in self._joined(calls, [c.grads() for c in calls]).items():
                    out[make_key(path, *k)] = v
            for path, cs in self.cells.items():
                for k, v in cs.quantities(GRAD_QUANTITIES[cs.cell]).items():
                    out[make_key(path, *k)] = v
            for name, ts in self.taps.items():
                for k, v in ts.grads().items():
                    out[make_key(name, *k)] = v
        return {k: v for k, v in out.items() if self.wants(k.rsplit(".", 1)[1])}

    def lengths(self, module: str) -> Tensor:
        """Sequence lengths ``(B,)`` of a module's rows; KeyError when it recorded nothing."""
        if module in self.calls:
            calls = self.calls[module]
            parts = []
            for g in self._sequences(calls):
                c = calls[g[0]]
                if len(g) == 1 and c.lengths is not None:
                    parts.append(c.lengths.cpu())
                else:  # joined calls are never ragged: every row has the summed length
                    parts.append(torch.full((c.batch_size(),), sum(calls[i].T for i in g), dtype=torch.long))
            return torch.cat(parts)
        if module in self.cells:
            return self.cells[module].lengths()
        if module in self.taps:
            return self.taps[module].lengths()
        raise KeyError(f"module {module!r} recorded nothing; recorded modules: {self.recorded_paths()}")

    def paths_taken(self) -> dict[str, tuple[str, ...]]:
        """Module path -> the capture path of each of its full-module calls, in call order."""
        return {p: tuple(c.path for c in calls) for p, calls in self.calls.items()}
