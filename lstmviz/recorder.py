"""``record()`` and ``trace()``: watch every recurrent module of a model.

How it works, and why it is safe with one model shared by many threads:

* On entry, each watched module gets an instance-level ``forward`` that dispatches
  on a :mod:`contextvars` variable. It is installed once per module and
  reference-counted across concurrent ``record()`` blocks; the last block to exit
  removes it. A thread with no active recording (or one watching other modules)
  falls straight through to the module's original forward, so nothing it computes
  changes and nothing it does lands in someone else's recording.
* With a recording active, a full ``nn.LSTM``/``nn.GRU``/``nn.RNN`` runs layer by
  layer as single-layer fused kernel calls with the module's own weights (bit for
  bit what the stacked kernel computes), applying inter-layer dropout itself, so
  every layer's input and output is known. Gates and cell states are then
  recomputed in :mod:`lstmviz.unroll`. Two cases compute the output another way and
  agree with the plain forward only to rounding (see :data:`OUTPUT_TOLERANCE`):
  an LSTM with ``grads=True`` (extra zero input channels up to batch x hidden
  ``ZERO_CHANNEL_MAX``, unrolled steps under autograd above), an LSTM or GRU on
  unpacked input under ``torch.no_grad()`` with batch x hidden >= ``OWN_LOOP_MIN`` (GRU: ``GRU_LOOP_MIN``)
  (the gates come from the fused kernel's workspace or the recorder's own step loop), packed input of more
  than one row under ``torch.no_grad()`` (the own step loop over the rows still running), and the same call without
  ``grads`` under autograd, recorded as under ``no_grad`` and replayed in backward (:class:`_Replay`: the
  gradients it passes back are the plain forward's).
  Every RNN, every ``*Cell``, a GRU with ``grads=True`` and everything else is bit for
  bit (against the plain forward in the same autograd mode: PyTorch's own stacked LSTM
  rounds differently in the two). :func:`choose_path` is the one place that picks
  among these :data:`PATHS`; ``record(..., path=...)`` overrides it for one block.
* What a block captures goes into a :class:`~lstmviz.capture.Capture` owned by
  ``record()`` (the write side); the :class:`~lstmviz.recording.Recording` it yields
  reads from it.
* Repeated calls of one module are stitched: a call whose initial state equals the final
  state of the module's previous call continues that sequence along time (a decoder calling
  ``nn.GRU`` once per step, truncated-BPTT chunks, ``*Cell`` loops); the rules live in
  :meth:`~lstmviz.capture.Capture.starts_sequence`. ``record(..., stitch=False)`` gives one
  batch row per call, as before.
* :func:`lstmviz.tap` records tensors of cells written by hand into the innermost open
  block (:mod:`lstmviz.tap`); a model with no recurrent module may be recorded that way.
* A recording sees only the calls made in the thread (or asyncio task) that opened
  it: another thread running the same model meanwhile runs plainly and lands in no
  recording. When a block closes having recorded nothing while a watched module ran
  elsewhere, a ``RuntimeWarning`` says so.
* Gradients are captured by *tensor* hooks (never module hooks) on each layer's
  output and final states; they die with the autograd graph and never touch the
  shared module. :meth:`Recording.backward` goes further and uses
  ``torch.autograd.grad`` so that not even parameter ``.grad`` fields change.
* ``finally`` always removes the dispatchers and restores every ``training`` flag,
  also when the model raises.
"""

from __future__ import annotations

import contextvars
import difflib
import functools
import threading
import types
import warnings
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Final

import torch
import torch.nn.functional as F
from torch import _VF, Tensor, nn
from torch.nn.utils.rnn import PackedSequence, pad_packed_sequence

from .capture import Capture, ModuleCall
from .fusedgates import run_lstm_layer_fused
from .names import GRAD_QUANTITIES, QUANTITIES
from .recording import Recording
from .unroll import (
    LayerTrace,
    LayerWeights,
    flip_within_lengths,
    forward_quantities,
    run_layer,
    run_layer_packed,
    run_layer_packed_autograd,
)

__all__ = [
    "record",
    "trace",
    "find_recurrent_modules",
    "cell_type",
    "choose_path",
    "SUPPORTED_TYPES",
    "PATHS",
    "ZERO_CHANNEL_MAX",
    "OWN_LOOP_MIN",
    "GRU_LOOP_MIN",
    "OUTPUT_TOLERANCE",
]

#: Module classes the recorder understands (subclasses included).
SUPPORTED_TYPES = (nn.LSTM, nn.GRU, nn.RNN, nn.LSTMCell, nn.GRUCell, nn.RNNCell)

# The captures of the recordings active in the current thread/task, innermost last.
_ACTIVE: contextvars.ContextVar[tuple[Capture, ...]] = contextvars.ContextVar("lstmviz_active", default=())
# id(module) -> [refcount, previous instance-level forward or _MISSING, the module, the open captures watching it]
_INSTALLED: dict[int, list] = {}
_INSTALL_LOCK = threading.Lock()
_MISSING = object()
# Start of the note added to an error raised inside a watched module (once, by the innermost one).
_NOTE_PREFIX = "(raised while lstmviz recorded"
#: How a call of a full nn.LSTM/GRU/RNN can be captured (see :func:`choose_path` for what each one does and when
#: it applies); ``record(..., path=...)`` picks one for a whole block, None lets :func:`choose_path` decide per call.
PATHS = ("kernel", "zero_channels", "autograd_steps", "step_loop", "workspace")
#: Batch x hidden size up to which an LSTM's gradients come from the fused backward ("zero_channels"); above it,
#: unpacked input takes "autograd_steps". Constants of the automatic choice: pick a path per call with ``path=``.
ZERO_CHANNEL_MAX: Final = 2048
#: Batch x hidden size from which an LSTM call without autograd takes "workspace".
OWN_LOOP_MIN: Final = 4096
#: Batch x hidden size from which a GRU call without autograd takes "step_loop": the own loop costs less than the
#: fused kernel plus the recompute from B=8, H=64 on (bench_recorder.py grid, 2 cores; one row is dearer).
GRU_LOOP_MIN: Final = 512
#: Largest difference from the plain forward's output on the paths that are not bit for bit (LSTM with
#: grads=True; "step_loop" and "workspace", i.e. LSTM/GRU without grads with batch x hidden >= OWN_LOOP_MIN
#: (GRU: GRU_LOOP_MIN)
#: and packed input of more than one row under no_grad when chosen automatically, under no_grad or replayed
#: under autograd): 4 machine epsilons of the
#: dtype, absolute (outputs lie in [-1, 1]; measured at most 1.5 eps). Tested in tests/test_silent_output.py.
OUTPUT_TOLERANCE = {dt: 4 * torch.finfo(dt).eps for dt in (torch.float64, torch.float32, torch.float16, torch.bfloat16)}


def cell_type(m: nn.Module) -> str | None:
    """``"lstm"``, ``"gru"`` or ``"rnn"`` for a full module or a ``*Cell`` the recorder watches, else None.

    Example:
        >>> cell_type(nn.GRUCell(2, 3)), cell_type(nn.Linear(2, 3))
        ('gru', None)
    """
    if isinstance(m, (nn.LSTM, nn.LSTMCell)):
        return "lstm"
    if isinstance(m, (nn.GRU, nn.GRUCell)):
        return "gru"
    if isinstance(m, (nn.RNN, nn.RNNCell)):
        return "rnn"
    return None


def _paths_that_apply(cell: str, grads: bool, autograd: bool, packed: bool) -> tuple[str, ...]:
    """The paths of :data:`PATHS` that can capture a call with these properties, in PATHS order."""
    ok = {
        "kernel": True,
        "zero_channels": cell == "lstm" and grads,
        "autograd_steps": grads and ((cell == "lstm" and not packed) or packed),
        "step_loop": not autograd and (packed or cell != "rnn"),
        "workspace": cell == "lstm" and not autograd and not packed,
    }
    return tuple(p for p in PATHS if ok[p])


def _own_loop_min(cell: str) -> int:
    return OWN_LOOP_MIN if cell == "lstm" else GRU_LOOP_MIN


def choose_path(
    cell: str,
    *,
    batch: int,
    units: int,
    grads: bool,
    autograd: bool = True,
    packed: bool = False,
    override: str | None = None,
) -> str:
    """Choose how one call of a full ``nn.LSTM``/``nn.GRU``/``nn.RNN`` is captured.

    The paths (all record the same keys; see the module docstring for which are bit for bit):

    * ``"kernel"``: each layer through PyTorch's fused kernel, gates recomputed from its output
      (:mod:`lstmviz.unroll`); gradients through time by a hand-written reverse recurrence. Any call.
    * ``"zero_channels"``: ``"kernel"`` with extra zero input channels whose gradient is W_hh^T dL/da_t, so the
      fused backward does most of the gradient work. LSTM with ``grads=True``.
    * ``"autograd_steps"``: the steps unrolled under autograd, hooks on every h_t and c_t. With ``grads=True``:
      an LSTM on unpacked input, any cell on packed input (over the rows still running at each step).
    * ``"step_loop"``: the recorder's own step loop, gates for free. Without autograd (``torch.no_grad()``): an
      LSTM or GRU on unpacked input, any cell on packed input (over the rows still running at each step).
    * ``"workspace"``: gates read from the fused CPU kernel's workspace (:mod:`lstmviz.fusedgates`); a layer
      whose check fails runs ``"step_loop"``. LSTM without autograd, unpacked input.

    Automatic choice (``override=None``), with size = batch x units: without autograd, packed input of more than
    one row takes ``"step_loop"`` (the packed kernel is a step loop itself, so the recorder's own costs no more
    and keeps the gates), an LSTM on unpacked input with size >= :data:`OWN_LOOP_MIN` ``"workspace"`` and a GRU
    with size >= :data:`GRU_LOOP_MIN` ``"step_loop"``; with ``grads``, packed input of more than one row takes
    ``"autograd_steps"`` (any cell); an LSTM with
    ``grads`` takes ``"zero_channels"`` up to :data:`ZERO_CHANNEL_MAX`, ``"autograd_steps"`` above (unpacked);
    everything else ``"kernel"``.

    Args:
        cell: ``"lstm"``, ``"gru"`` or ``"rnn"``.
        batch: the call's batch size B.
        units: hidden units per direction (``proj_size`` when an LSTM projects).
        grads: whether gradients through time are recorded.
        autograd: whether autograd is on for the call (False under ``torch.no_grad()``).
        packed: whether the input is a ``PackedSequence``.
        override: a name from :data:`PATHS` to take instead of the automatic choice, or None.

    Returns:
        One name from :data:`PATHS`.

    Raises:
        ValueError: an unknown cell or override, or an override that cannot capture this call (the message
            names the paths that can).

    Example:
        >>> choose_path("lstm", batch=4, units=16, grads=True)
        'zero_channels'
        >>> choose_path("lstm", batch=64, units=256, grads=False, autograd=False)
        'workspace'
        >>> choose_path("gru", batch=4, units=16, grads=False, autograd=False, override="step_loop")
        'step_loop'
    """
    if cell not in ("lstm", "gru", "rnn"):
        raise ValueError(f"cell must be one of ('lstm', 'gru', 'rnn'), got {cell!r}")
    if override is not None:
        if override not in PATHS:
            raise ValueError(f"path must be None (automatic) or one of {PATHS}, got {override!r}")
        can = _paths_that_apply(cell, grads, autograd, packed)
        if override not in can:
            raise ValueError(
                f"path {override!r} cannot capture this call ({cell}, grads={grads}, autograd={autograd}, "
                f"packed={packed}); paths that can: {can}"
            )
        return override
    size = batch * units
    if packed and batch > 1:  # one row: the packed kernel runs as fast as on unpacked input
        if not autograd:
            return "step_loop"
        if grads:
            return "autograd_steps"
    if cell != "rnn" and not packed and not autograd and size >= _own_loop_min(cell):
        return "workspace" if cell == "lstm" else "step_loop"
    if cell == "lstm" and grads:
        if size <= ZERO_CHANNEL_MAX:
            return "zero_channels"
        if not packed:
            return "autograd_steps"
    return "kernel"


def find_recurrent_modules(model: nn.Module, names=None) -> dict[str, nn.Module]:
    """Find the recurrent modules of a model.

    Args:
        model: any ``nn.Module``.
        names: None (all), a module path, a list of paths, or a predicate ``path -> bool``.

    Returns:
        Ordered dict module path -> module.

    Example:
        >>> list(find_recurrent_modules(nn.Sequential(nn.LSTM(2, 3))))
        ['0']
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    found = {p: m for p, m in model.named_modules() if cell_type(m) is not None}
    if names is None:
        selected = found
    elif isinstance(names, str) or isinstance(names, (list, tuple, set, frozenset)):
        wanted = [names] if isinstance(names, str) else list(names)
        unknown = [n for n in wanted if n not in found]
        if unknown:
            raise ValueError(
                f"names {unknown} are not recurrent modules of the model; recurrent modules: {list(found)}"
            )
        selected = {p: m for p, m in found.items() if p in wanted}
    elif callable(names):
        selected = {p: m for p, m in found.items() if names(p)}
    else:
        raise TypeError(f"names must be None, a str, a list of str or a callable, got {type(names).__name__}")
    if not selected:
        n_mods = sum(1 for _ in model.modules())
        raise ValueError(
            f"no recurrent module to record in {type(model).__name__}: searched {n_mods} submodules for "
            f"{', '.join(t.__name__ for t in SUPPORTED_TYPES)} "
            f"(names={names!r}; recurrent modules found: {list(found)})"
        )
    return selected


# ----- dispatcher installation ---------------------------------------------------------------
def _dispatch(self: nn.Module, *args, **kwargs):
    """Instance-level ``forward`` of a watched module (installed as a bound method).

    A bound method, not a closure: ``copy.deepcopy`` of a module taken while a
    recording is open (a what-if copy, say) then binds the copy's attribute to the
    COPY, which falls through to its own forward and removes the stray attribute.
    """
    entry = _INSTALLED.get(id(self))
    if entry is None or entry[2] is not self:  # a copy of a watched module: heal and run plainly
        self.__dict__.pop("forward", None)
        return self.forward(*args, **kwargs)
    cap = _active_for(self)
    if cap is None:
        for open_cap in entry[3]:  # watched elsewhere: that recording will not see this call (warned at its close)
            open_cap.foreign_calls += 1
        previous = entry[1]
        return previous(*args, **kwargs) if previous is not _MISSING else type(self).forward(self, *args, **kwargs)
    path = cap.targets[id(self)]
    try:
        if isinstance(self, nn.RNNCellBase):
            original = entry[1] if entry[1] is not _MISSING else type(self).forward.__get__(self)
            return _cell_forward(cap, path, self, original, *args, **kwargs)
        return _rnn_forward(cap, path, self, *args, **kwargs)
    except Exception as e:  # give the user's error its context, keep its type
        if not any(n.startswith(_NOTE_PREFIX) for n in getattr(e, "__notes__", ())):  # innermost module only
            e.add_note(f"{_NOTE_PREFIX} module '{path}' of type {type(self).__name__})")
        raise


def _install(m: nn.Module, cap: Capture) -> None:
    with _INSTALL_LOCK:
        entry = _INSTALLED.get(id(m))
        if entry is not None:
            entry[0] += 1
            entry[3] = entry[3] + (cap,)  # a new tuple: _dispatch reads it without the lock
            return
        previous = m.__dict__.get("forward", _MISSING)
        m.forward = types.MethodType(_dispatch, m)
        _INSTALLED[id(m)] = [1, previous, m, (cap,)]


def _uninstall(m: nn.Module, cap: Capture) -> None:
    with _INSTALL_LOCK:
        entry = _INSTALLED.get(id(m))
        if entry is None:
            return
        entry[3] = tuple(c for c in entry[3] if c is not cap)
        entry[0] -= 1
        if entry[0] > 0:
            return
        del _INSTALLED[id(m)]
        if entry[1] is _MISSING:
            m.__dict__.pop("forward", None)
        else:
            m.forward = entry[1]


def _active_for(m: nn.Module) -> Capture | None:
    for cap in reversed(_ACTIVE.get()):
        if id(m) in cap.targets:
            return cap
    return None


# ----- full modules ---------------------------------------------------------------------------
def _layer_weights(m: nn.RNNBase, layer: int, direction: int) -> LayerWeights:
    sfx = f"_l{layer}{'_reverse' if direction else ''}"
    return LayerWeights(
        w_ih=getattr(m, "weight_ih" + sfx),
        w_hh=getattr(m, "weight_hh" + sfx),
        b_ih=getattr(m, "bias_ih" + sfx) if m.bias else None,
        b_hh=getattr(m, "bias_hh" + sfx) if m.bias else None,
        w_hr=getattr(m, "weight_hr" + sfx) if getattr(m, "proj_size", 0) > 0 else None,
        nonlinearity="relu" if getattr(m, "mode", "") == "RNN_RELU" else "tanh",
    )


def _kernel(m: nn.RNNBase):
    return {"LSTM": _VF.lstm, "GRU": _VF.gru, "RNN_TANH": _VF.rnn_tanh, "RNN_RELU": _VF.rnn_relu}[m.mode]


def _rnn_forward(cap: Capture, path: str, m: nn.RNNBase, input, hx=None):
    """Run ``m`` layer by layer, return exactly what ``m.forward`` returns, and record it."""
    cell = cap.modules[path]
    is_lstm = cell == "lstm"
    m._update_flat_weights()
    D = 2 if m.bidirectional else 1
    L = m.num_layers
    P = m.proj_size if getattr(m, "proj_size", 0) > 0 else m.hidden_size
    packed = isinstance(input, PackedSequence)
    is_batched = True
    if packed:
        data, batch_sizes, sorted_idx, unsorted_idx = input
        B = int(batch_sizes[0])
        dtype, device = data.dtype, data.device
    else:
        if not isinstance(input, Tensor):
            raise TypeError(f"{type(m).__name__} input must be a Tensor or PackedSequence, got {type(input).__name__}")
        if input.dim() not in (2, 3):
            raise ValueError(f"{type(m).__name__}: Expected input to be 2D or 3D, got {input.dim()}D instead")
        is_batched = input.dim() == 3
        if not is_batched:
            input = input.unsqueeze(0 if m.batch_first else 1)
        data = input.transpose(0, 1) if m.batch_first else input  # (T, B, I): kernels run time-major
        batch_sizes = sorted_idx = unsorted_idx = None
        B = data.shape[1]
        dtype, device = data.dtype, data.device
    given = None  # the initial state as the caller gave it (their batch order and layout), for stitching
    if hx is None:
        h0 = torch.zeros(L * D, B, P, dtype=dtype, device=device)
        c0 = torch.zeros(L * D, B, m.hidden_size, dtype=dtype, device=device) if is_lstm else None
    else:
        if is_lstm:
            if not isinstance(hx, (tuple, list)) or len(hx) != 2:
                raise TypeError("LSTM hx must be a tuple (h_0, c_0)")
            h0, c0 = hx
        else:
            h0, c0 = hx, None
        given = (h0, c0) if is_lstm else (h0,)
        want = 3 if is_batched else 2
        for name, t in (("hx", h0), ("cx", c0)):
            if t is not None and t.dim() != want:
                raise RuntimeError(
                    f"For {'batched 3-D' if is_batched else 'unbatched 2-D'} input, {name} should also be "
                    f"{want}-D but got {t.dim()}-D tensor"
                )
        if not is_batched:
            h0 = h0.unsqueeze(1)
            c0 = c0.unsqueeze(1) if c0 is not None else None
        if packed and sorted_idx is not None:
            h0 = h0.index_select(1, sorted_idx)
            c0 = c0.index_select(1, sorted_idx) if c0 is not None else None
    m.check_forward_args(data if packed else input, (h0, c0) if is_lstm else h0, batch_sizes)
    if cap.grads and not torch.is_grad_enabled():
        raise RuntimeError(
            f"record(grads=True) needs autograd, but module '{path}' ran under torch.no_grad() or "
            "torch.inference_mode(); run the forward with gradients enabled or use grads=False"
        )
    ragged = packed and int(batch_sizes[-1]) != B  # some sequence shorter than T: never joined in time
    starts = cap.starts_sequence(path, given, B, ragged)

    if _replays(cap, m, cell, B, P, packed):  # gates only under autograd: as cheap as under no_grad (see _Replay)
        packing = (batch_sizes, sorted_idx, unsorted_idx) if packed else None
        out, h_n, c_n = _forward_replayed(cap, path, m, cell, data, h0, c0, D, P, B, packing)
        how = None
    else:
        how = choose_path(
            cell,
            batch=B,
            units=P,
            grads=cap.grads,
            autograd=torch.is_grad_enabled(),
            packed=packed,
            override=cap.requested_path,
        )
    if how is None:
        pass
    elif how in ("step_loop", "autograd_steps") and packed:
        out, h_n, c_n = _forward_packed(
            cap, path, m, cell, data, batch_sizes, sorted_idx, unsorted_idx, h0, c0, D, P, how == "autograd_steps"
        )
    elif how in ("step_loop", "workspace"):
        out, h_n, c_n = _forward_own_loop(cap, path, m, cell, data, h0, c0, D, P, workspace=how == "workspace")
    elif how == "autograd_steps":
        out, h_n, c_n = _forward_lstm_autograd(cap, path, m, data, h0, c0, D, P)
    else:
        zero_channels = how == "zero_channels"
        out, h_n, c_n = _forward_fused(
            cap, path, m, cell, data, h0, c0, batch_sizes, sorted_idx, unsorted_idx, D, P, zero_channels
        )

    hidden = (h_n, c_n) if is_lstm else h_n
    if packed:
        out = PackedSequence(out, batch_sizes, sorted_idx, unsorted_idx)
        hidden = m.permute_hidden(hidden, unsorted_idx)
    else:
        if m.batch_first:
            out = out.transpose(0, 1)
        if not is_batched:
            out = out.squeeze(0 if m.batch_first else 1)
            hidden = (hidden[0].squeeze(1), hidden[1].squeeze(1)) if is_lstm else hidden.squeeze(1)
    # the state exactly as the caller receives it: the next call's hx is compared with it
    cap.end_call(path, tuple(hidden) if is_lstm else (hidden,), B, ragged, new_sequence=starts)
    return out, hidden


def _replays(cap: Capture, m: nn.RNNBase, cell: str, batch: int, units: int, packed: bool) -> bool:
    """Whether a call is captured without autograd and replayed in backward (:class:`_Replay`): gates only
    (``grads=False``) under autograd, where ``torch.no_grad()`` takes the recorder's own loop and gets the gates for
    free (an LSTM/GRU on unpacked input of batch x units >= :data:`OWN_LOOP_MIN`, or packed input of more than one
    row), no path asked for, and no inter-layer dropout drawn (a replay could not draw the same mask)."""
    own_loop = (packed and batch > 1) or (not packed and cell != "rnn" and batch * units >= _own_loop_min(cell))
    return (
        not cap.grads
        and torch.is_grad_enabled()
        and cap.requested_path is None
        and own_loop
        and not (m.training and m.dropout > 0 and m.num_layers > 1)
    )


class _Replay(torch.autograd.Function):
    """A call's outputs computed without autograd by the recording, made differentiable by recomputing the module's
    plain fused forward in backward (as activation checkpointing does).

    Recording gates only under autograd then costs what it costs under ``torch.no_grad()`` (the own loop or the
    fused workspace, gates for free); a backward through the call pays one more plain forward. The outputs are the
    no-grad recording's (within :data:`OUTPUT_TOLERANCE` of the plain forward, as under ``torch.no_grad()``); the
    gradients are the plain forward's, bit for bit what its own backward gives.
    """

    @staticmethod
    def forward(ctx, run, m, n_states, batch_sizes, data, *rest):  # rest: initial states, then the flat weights
        out, h_n, c_n = run(data, *rest[:n_states])
        ctx.m, ctx.n_states, ctx.batch_sizes = m, n_states, batch_sizes  # batch_sizes: None unless packed
        ctx.save_for_backward(data, *rest)
        return (out, h_n) if c_n is None else (out, h_n, c_n)

    @staticmethod
    def backward(ctx, *grads):
        m = ctx.m
        higher = torch.is_grad_enabled()  # a double backward: recompute from the inputs themselves, keep the graph
        saved = ctx.saved_tensors
        leaves = list(saved) if higher else [t.detach().requires_grad_(t.requires_grad) for t in saved]
        data, states, weights = leaves[0], leaves[1 : 1 + ctx.n_states], leaves[1 + ctx.n_states :]
        hx = tuple(states) if ctx.n_states == 2 else states[0]
        with torch.enable_grad():
            if ctx.batch_sizes is not None:
                bs = ctx.batch_sizes
                res = _kernel(m)(data, bs, hx, weights, m.bias, m.num_layers, m.dropout, m.training, m.bidirectional)
            else:
                res = _kernel(m)(data, hx, weights, m.bias, m.num_layers, m.dropout, m.training, m.bidirectional, False)
        pairs = [(o, g) for o, g in zip(res, grads) if g is not None]
        wanted = [t for t in leaves if t.requires_grad]
        got = iter(
            torch.autograd.grad(
                [o for o, _ in pairs],
                wanted,
                [g for _, g in pairs],
                allow_unused=True,
                create_graph=higher,  # a double backward differentiates the recomputation
            )
            if pairs and wanted
            else [None] * len(wanted)
        )
        return (None, None, None, None, *[next(got) if t.requires_grad else None for t in leaves])


def _forward_replayed(cap, path, m, cell, data, h0, c0, D, P, B, packing):
    """Gates only under autograd: the no-grad capture (own loop / workspace; the packed loop when ``packing`` is
    ``(batch_sizes, sorted_indices, unsorted_indices)``) wrapped in :class:`_Replay`."""

    def run(x, h, c=None):
        if packing is not None:
            return _forward_packed(cap, path, m, cell, x, *packing, h, c, D, P, False)
        how = choose_path(cell, batch=B, units=P, grads=False, autograd=False, packed=False)
        return _forward_own_loop(cap, path, m, cell, x, h, c, D, P, workspace=how == "workspace")

    states = (h0, c0) if cell == "lstm" else (h0,)
    bs = packing[0] if packing is not None else None
    res = _Replay.apply(run, m, len(states), bs, data, *states, *m._flat_weights)
    return res[0], res[1], (res[2] if cell == "lstm" else None)


def _forward_fused(cap, path, m, cell, data, h0, c0, batch_sizes, sorted_idx, unsorted_idx, D, P, zero_channels):
    """Layer-by-layer fused kernel calls ("kernel"; "zero_channels" adds the zero inputs), then recompute gates;
    hooks for gradients."""
    is_lstm = cell == "lstm"
    packed = batch_sizes is not None
    L = m.num_layers
    dtype, device = data.dtype, data.device
    kernel = _kernel(m)
    flat = m._flat_weights
    per_layer = len(flat) // L
    # zero_channels (small LSTMs): the fused backward computes W_hh^T dL/da_t (see unroll.lstm_grads_from_recurrent);
    # otherwise a hand-written reverse loop, cheaper for large ones than the wider input matmul.
    x = data
    ys, hns, cns, xs, zs = [], [], [], [], []
    for layer in range(L):
        w = flat[layer * per_layer : (layer + 1) * per_layer]
        hx_l = h0[layer * D : (layer + 1) * D]
        if is_lstm:
            hx_l = (hx_l, c0[layer * D : (layer + 1) * D])
        x_in = x
        if zero_channels:
            z = torch.zeros(*x.shape[:-1], D * P, dtype=dtype, device=device, requires_grad=True)  # (T, B, D*P)
            zs.append(z)
            x_in = torch.cat((x, z), -1)
            w = list(w)
            per_dir = per_layer // D
            for d in range(D):
                w_hh = w[d * per_dir + 1]
                blocks = [w_hh if dd == d else torch.zeros_like(w_hh) for dd in range(D)]
                w[d * per_dir] = torch.cat([w[d * per_dir], *blocks], 1)  # (4H, I + D*P)
        if packed:
            res = kernel(x_in, batch_sizes, hx_l, w, m.bias, 1, 0.0, m.training, m.bidirectional)
        else:
            res = kernel(x_in, hx_l, w, m.bias, 1, 0.0, m.training, m.bidirectional, False)
        xs.append(x)
        ys.append(res[0])
        hns.append(res[1])
        if is_lstm:
            cns.append(res[2])
        if layer < L - 1:
            x = F.dropout(res[0], m.dropout, m.training) if m.dropout > 0 and m.training else res[0]

    out = ys[-1]
    h_n = torch.cat(hns, 0) if L > 1 else hns[0]
    c_n = (torch.cat(cns, 0) if L > 1 else cns[0]) if is_lstm else None

    _record_call(cap, path, m, cell, xs, ys, hns, cns, zs, h0, c0, batch_sizes, sorted_idx, unsorted_idx, D, P)
    return out, h_n, c_n


def _forward_own_loop(cap, path, m, cell, data, h0, c0, D, P, workspace):
    """No autograd needed: with ``workspace``, LSTM gates from the fused kernel's workspace (lstmviz.fusedgates),
    else (or where its check fails) each layer step by step; either way the gates come for free."""
    L = m.num_layers
    T = data.shape[0]
    call = ModuleCall(cell, L, D, None, T, path="workspace" if workspace else "step_loop")
    x = data
    hns, cns = [], []
    for layer in range(L):
        outs = []
        for d in range(D):
            w = _layer_weights(m, layer, d)
            idx = layer * D + d
            xd = x if d == 0 else x.flip(0)
            fused = run_lstm_layer_fused(xd, h0[idx], c0[idx], w) if workspace else None
            tr, hT, cT = fused or run_layer(cell, xd, h0[idx], c0[idx] if c0 is not None else None, w)
            call.traces[(layer, d)] = tr  # forward-normalised, like the fused path's traces
            y_d = tr.quantities["hidden"]
            outs.append(y_d if d == 0 else y_d.flip(0))
            hns.append(hT)
            cns.append(cT)
        y = torch.cat(outs, -1) if D == 2 else outs[0]  # (T, B, D*P)
        x = F.dropout(y, m.dropout, True) if layer < L - 1 and m.dropout > 0 and m.training else y
    cap.add_call(path, call)
    return y, torch.stack(hns), (torch.stack(cns) if cell == "lstm" else None)


def _packed_lengths(batch_sizes: Tensor, unsorted_idx: Tensor | None) -> Tensor:
    """(B,) length of each row of packed input, in the caller's (original) row order."""
    B = int(batch_sizes[0])
    lengths = (batch_sizes.unsqueeze(0) > torch.arange(B).unsqueeze(1)).sum(1)  # (B,) sorted order
    return lengths.index_select(0, unsorted_idx) if unsorted_idx is not None else lengths


def _forward_packed(cap, path, m, cell, data, batch_sizes, sorted_idx, unsorted_idx, h0, c0, D, P, grads):
    """Packed input: each layer and direction steps over the rows still running, as the packed kernel does, keeping
    the gates it computes in the packed layout (the call's ``packed_traces``, read by one gather). Without
    ``grads`` ("step_loop"): :func:`~lstmviz.unroll.run_layer_packed`, no autograd. With ``grads``
    ("autograd_steps"): :func:`~lstmviz.unroll.run_layer_packed_autograd`, hooks on every step's h_t (and c_t) for
    their total gradients.

    ``h0``/``c0`` arrive in the sorted order; the final states leave in it (the caller unsorts them)."""
    L = m.num_layers
    bs = batch_sizes.tolist()
    how = "autograd_steps" if grads else "step_loop"
    lengths = _packed_lengths(batch_sizes, unsorted_idx)
    packing = (batch_sizes, sorted_idx, unsorted_idx)
    call = ModuleCall(cell, L, D, lengths, len(bs), packed=packing, path=how, packed_traces=True)
    x = data  # (N, I), then (N, D*P)
    hns, cns = [], []
    for layer in range(L):
        outs = []
        for d in range(D):
            idx = layer * D + d
            args = (cell, x, bs, h0[idx], c0[idx] if c0 is not None else None, _layer_weights(m, layer, d), d == 1)
            if grads:
                q, y_d, hT, cT, steps = run_layer_packed_autograd(*args, True)
                _hook_packed_steps(cap, call, layer, d, q, steps)
            else:
                q, hT, cT = run_layer_packed(*args, True)
                y_d = q["hidden"][:-1]
            call.traces[(layer, d)] = LayerTrace(cell, q)  # (N + 1, U): the last row NaN, for the padded read
            outs.append(y_d)
            hns.append(hT)
            cns.append(cT)
        y = torch.cat(outs, -1) if D == 2 else outs[0]  # (N, D*P)
        x = F.dropout(y, m.dropout, True) if layer < L - 1 and m.dropout > 0 and m.training else y
    if grads and not y.requires_grad:
        raise RuntimeError(
            f"record(grads=True): no gradient can reach module '{path}': neither its input nor its "
            "parameters require grad"
        )
    cap.add_call(path, call)
    return y, torch.stack(hns), (torch.stack(cns) if cell == "lstm" else None)


def _hook_packed_steps(cap, call, layer, d, q, steps) -> None:
    """Zeroed (N + 1, U) step-gradient buffers (the sentinel row NaN) and a hook on every step's h_t and c_t that
    adds its total gradient into the step's rows."""
    grads = {"grad_hidden": torch.zeros_like(q["hidden"])}
    if "cell" in q:
        grads["grad_cell"] = torch.zeros_like(q["cell"])
    for g in grads.values():
        g[-1] = float("nan")  # the sentinel row
    call.step_grads[(layer, d)] = grads
    for rows, h_t, c_t in steps:
        for name, tensor in (("grad_hidden", h_t), ("grad_cell", c_t)):
            if tensor is None or not tensor.requires_grad:
                continue
            key = (layer, d, name, rows)  # rows: the step's slice of the packed (N, U) gradient
            call.capture.append(("step", key, tensor))
            tensor.register_hook(_grad_hook(cap, functools.partial(call.add_grad, "step", key)))


def _forward_lstm_autograd(cap, path, m, data, h0, c0, D, P):
    """Big LSTM with gradients: unrolled steps under autograd; hooks on every h_t and c_t."""
    L = m.num_layers
    T = data.shape[0]
    call = ModuleCall("lstm", L, D, None, T, path="autograd_steps")
    x = data
    hns, cns = [], []
    for layer in range(L):
        outs = []
        for d in range(D):
            idx = layer * D + d
            xd = x if d == 0 else x.flip(0)  # (T, B, I) forward-normalised
            B = xd.shape[1]
            # time-major is the packed layout of T steps of B rows: the packed loop under autograd serves it
            q, y_d, h_T, c_T, steps = run_layer_packed_autograd(
                "lstm", xd.reshape(T * B, -1), [B] * T, h0[idx], c0[idx], _layer_weights(m, layer, d)
            )
            tr = LayerTrace("lstm", {k: v.view(T, B, -1) for k, v in q.items()})
            call.traces[(layer, d)] = tr
            call.step_grads[(layer, d)] = {
                "grad_hidden": torch.zeros_like(tr.quantities["hidden"]),
                "grad_cell": torch.zeros_like(tr.quantities["cell"]),
            }
            for t, (_, h_t, c_t) in enumerate(steps):
                for name, tensor in (("grad_hidden", h_t), ("grad_cell", c_t)):
                    key = (layer, d, name, t)
                    call.capture.append(("step", key, tensor))
                    tensor.register_hook(_grad_hook(cap, functools.partial(call.add_grad, "step", key)))
            y_d = y_d.view(T, B, -1)
            outs.append(y_d if d == 0 else y_d.flip(0))
            hns.append(h_T)
            cns.append(c_T)
        y = torch.cat(outs, -1) if D == 2 else outs[0]  # (T, B, D*P)
        x = F.dropout(y, m.dropout, True) if layer < L - 1 and m.dropout > 0 and m.training else y
    cap.add_call(path, call)
    return y, torch.stack(hns), torch.stack(cns)


def _record_call(cap, path, m, cell, xs, ys, hns, cns, zs, h0, c0, batch_sizes, sorted_idx, unsorted_idx, D, P):
    """Recompute gates/states of every layer and direction; hook the outputs for gradients."""
    L = len(ys)
    packed = batch_sizes is not None
    keep = cap.grads
    with torch.no_grad():
        if packed:

            def pad(t):  # packed data -> (T, B, F), original batch order
                return pad_packed_sequence(PackedSequence(t.detach(), batch_sizes, sorted_idx, unsorted_idx))[0]

            lengths = pad_packed_sequence(PackedSequence(ys[0].detach()[:, :1], batch_sizes, sorted_idx, unsorted_idx))[
                1
            ]
            T = int(lengths.max())
            h0o = h0.index_select(1, unsorted_idx) if unsorted_idx is not None else h0
            c0o = (c0.index_select(1, unsorted_idx) if unsorted_idx is not None else c0) if c0 is not None else None
        else:

            def pad(t):
                return t.detach()

            T = ys[0].shape[0]
            lengths = None
            h0o, c0o = h0, c0
        len_dev = lengths.to(ys[0].device) if lengths is not None else None
        call = ModuleCall(
            cell,
            L,
            D,
            lengths,
            T,
            packed=(batch_sizes, sorted_idx, unsorted_idx) if packed else None,
            zero_channels=bool(zs),
            path="zero_channels" if zs else "kernel",
        )
        for layer in range(L):
            x = pad(xs[layer])  # (T, B, I)
            y = pad(ys[layer])  # (T, B, D*P)
            for d in range(D):
                w = _layer_weights(m, layer, d)
                yd = y[..., d * P : (d + 1) * P]
                xd = x
                if d == 1:
                    xd, yd = flip_within_lengths(x, len_dev), flip_within_lengths(yd, len_dev)
                hd = h0o[layer * D + d].detach()
                cd = c0o[layer * D + d].detach() if c0o is not None else None
                wd = LayerWeights(
                    *(t.detach() if isinstance(t, Tensor) else t for t in (w.w_ih, w.w_hh, w.b_ih, w.b_hh, w.w_hr)),
                    w.nonlinearity,
                )
                call.traces[(layer, d)] = forward_quantities(cell, xd, yd.contiguous(), hd, cd, wd, keep)
    if keep:
        if not any(t.requires_grad for t in ys):
            raise RuntimeError(
                f"record(grads=True): no gradient can reach module '{path}': neither its input nor its "
                "parameters require grad"
            )
        for layer in range(L):
            z = zs[layer] if zs else None
            for kind, t in (("dy", ys[layer]), ("dhn", hns[layer]), ("dcn", cns[layer] if cns else None), ("dz", z)):
                if t is not None and t.requires_grad:
                    call.capture.append((kind, layer, t))
                    t.register_hook(_grad_hook(cap, functools.partial(call.add_grad, kind, layer)))
    cap.add_call(path, call)


def _grad_hook(cap: Capture, add: Callable[[Tensor], None]) -> Callable[[Tensor], None]:
    """A tensor hook handing each arriving gradient to ``add`` (a call's or a cell store's) while ``cap`` listens."""

    def hook(g: Tensor) -> None:
        if cap.hooks_enabled:
            add(g)
            cap.grad_arrived()

    return hook


# ----- cells in a Python loop -------------------------------------------------------------------
def _cell_forward(cap: Capture, path: str, m: nn.RNNCellBase, original, input, hx=None):
    """Run the cell's own forward, then record this step into the current sequence."""
    out = original(input, hx)
    cell = cap.modules[path]
    h_out = out[0] if cell == "lstm" else out
    prev_h = hx[0] if (cell == "lstm" and hx is not None) else hx
    if cap.grads and not torch.is_grad_enabled():
        raise RuntimeError(
            f"record(grads=True) needs autograd, but cell '{path}' ran under torch.no_grad(); "
            "enable gradients or use grads=False"
        )
    B = h_out.shape[0] if h_out.dim() == 2 else 1
    given = None if hx is None else (tuple(hx) if cell == "lstm" else (hx,))
    same = prev_h is not None and prev_h is cap.last_output(path)
    starts = cap.starts_sequence(path, given, B, same_object=same)
    with torch.no_grad():
        x = input if input.dim() == 2 else input.unsqueeze(0)  # (B, I)
        H = m.hidden_size
        if hx is None:
            h_prev = torch.zeros(B, H, dtype=x.dtype, device=x.device)
            c_prev = torch.zeros(B, H, dtype=x.dtype, device=x.device) if cell == "lstm" else None
        else:
            h_prev = prev_h.reshape(B, H)
            c_prev = hx[1].reshape(B, H) if cell == "lstm" else None
        y = h_out.detach().reshape(1, B, H)
        w = LayerWeights(
            m.weight_ih.detach(),
            m.weight_hh.detach(),
            m.bias_ih.detach() if m.bias else None,
            m.bias_hh.detach() if m.bias else None,
            nonlinearity=getattr(m, "nonlinearity", "tanh"),
        )
        tr = forward_quantities(
            cell, x.detach().unsqueeze(0), y, h_prev.detach(), c_prev.detach() if c_prev is not None else None, w, False
        )
        q = {k: v[0].detach().cpu() for k, v in tr.quantities.items() if cap.wants(k)}  # (B, U), requested only
        if cell == "lstm" and "cell" in q:
            q["cell"] = out[1].detach().reshape(B, H).cpu()  # the cell's own c_t, exact
    store = cap.cell_store(path, H, h_out.dtype)
    step = store.add_step(q, not starts, B)
    cap.end_call(path, tuple(out) if cell == "lstm" else (out,), B, output=h_out)
    if cap.grads:
        for kind, t in store.keep_output(step, *(out if cell == "lstm" else (out,))):
            t.register_hook(_grad_hook(cap, functools.partial(store.add_grad, step, kind)))
    return out


# ----- public verbs -------------------------------------------------------------------------------
def _check_quantities(quantities, grads: bool) -> frozenset[str] | None:
    """``record(quantities=...)`` validated: the set of names to keep, or None for all."""
    if quantities is None:
        return None
    wanted = [quantities] if isinstance(quantities, str) else quantities
    if not isinstance(wanted, (list, tuple, set, frozenset)) or not all(isinstance(q, str) for q in wanted):
        raise TypeError(f"quantities must be None, a quantity name or a list of names, got {quantities!r}")
    allowed = list(dict.fromkeys(q for qs in (*QUANTITIES.values(), *GRAD_QUANTITIES.values()) for q in qs))
    for q in wanted:
        if q not in allowed:
            close = difflib.get_close_matches(q, allowed, n=2)
            hint = f"did you mean {' or '.join(map(repr, close))}? " if close else ""
            raise ValueError(f"unknown quantity {q!r} in quantities=; {hint}allowed: {allowed}")
    if not wanted:
        raise ValueError(f"quantities= is empty: name at least one of {allowed}, or pass None for all")
    grad_names = [q for q in wanted if q.startswith("grad_")]
    if grad_names and not grads:
        raise ValueError(f"quantities= asks for {grad_names}, which need record(..., grads=True)")
    if grads and not grad_names:
        raise ValueError(
            "record(grads=True) records gradients, but quantities= names none of ('grad_hidden', 'grad_cell'); "
            "add one, or use grads=False"
        )
    return frozenset(wanted)


@contextmanager
def record(
    model: nn.Module,
    *,
    grads: bool = False,
    names=None,
    path: str | None = None,
    stitch: bool = True,
    quantities: Sequence[str] | str | None = None,
) -> Iterator[Recording]:
    """Record gates, states (and gradients through time) of every recurrent module.

    Args:
        model: a model containing ``nn.LSTM``/``nn.GRU``/``nn.RNN`` or their ``*Cell``\\ s
            (or one of those modules itself); a model without any is allowed when the block
            records tensors with :func:`lstmviz.tap` (custom cells).
        grads: also record ``grad_hidden`` (dL/dh_t) and, for LSTM, ``grad_cell``
            (dL/dc_t): run ``loss.backward()`` (or ``rec.backward(loss)``) inside the block.
        names: which modules to watch: None (all), a path, a list of paths or a predicate.
        path: how every full ``nn.LSTM``/``nn.GRU``/``nn.RNN`` call in the block is captured: None (the
            automatic choice of :func:`choose_path`, per call) or one of :data:`PATHS` (for tests and
            benchmarks; a call it cannot capture raises ValueError). ``*Cell`` steps have one way only.
        stitch: True (default): calls of one module whose initial state is the final state of its previous
            call (the same tensor or equal values) form ONE sequence along time: a decoder calling ``nn.GRU``
            once per step records ``(B, steps, H)``, truncated-BPTT chunks one long sequence; ``nn.*Cell``
            steps likewise. A missing or all-zero state starts a new sequence; any other state starts one with
            a ``RuntimeWarning`` (use :meth:`Recording.new_sequence` to mark sequence starts yourself). Packed
            input of unequal lengths is never joined. False: as before stitching, one batch row per
            full-module call, cell steps joined only when ``hx`` is the very tensor the previous step returned.
        quantities: record only these quantity names (forward ones such as ``"forget"``, and ``"grad_hidden"``
            / ``"grad_cell"`` with ``grads=True``); None records all. The others are dropped as each call is
            captured (what gradients need is kept in the recurrence's own factors, whatever is asked for).

    Yields:
        The :class:`~lstmviz.recording.Recording` being filled.

    Raises:
        ValueError: ``names`` matches no recurrent module (at entry); the model has no recurrent module and
            the block tapped nothing either (at exit); ``path`` is not None or one of :data:`PATHS`, or cannot
            capture a call made in the block; ``quantities`` names an unknown quantity, a gradient without
            ``grads=True``, or no gradient with it.
        RuntimeError: ``grads=True`` under ``torch.no_grad()``.

    Warns:
        RuntimeWarning: the block closed having recorded nothing while a watched module ran in another thread
            or context (a recording is per thread and asyncio task: only calls made where it was opened count);
            stitching broke (a module was given a state other than the one its previous call returned; once
            per module and block).

    What the model returns inside the block is bit for bit its plain forward (in the same autograd mode),
    except for an LSTM with ``grads=True`` and an LSTM or GRU without ``grads`` with batch x hidden >=
    ``OWN_LOOP_MIN`` (4096; under autograd: unpacked, no dropout drawn between layers, recorded as under
    ``torch.no_grad()`` and replayed in backward): there the output is computed another way and agrees to
    :data:`OUTPUT_TOLERANCE` (4 machine epsilons of its dtype: float32 4.8e-7, float16 3.9e-3, bfloat16 3.1e-2).

    Example:
        >>> import lstmviz
        >>> lstm = nn.LSTM(8, 16, num_layers=2, batch_first=True)
        >>> with lstmviz.record(lstm, grads=True) as rec:
        ...     out, _ = lstm(torch.randn(4, 10, 8))
        ...     out.sum().backward()
        >>> rec["l1.forget"].shape, rec["l0.grad_cell"].shape
        (torch.Size([4, 10, 16]), torch.Size([4, 10, 16]))
    """
    if not isinstance(grads, bool):
        raise TypeError(f"grads must be True or False, got {grads!r}")
    if path is not None and path not in PATHS:
        raise ValueError(f"path must be None (automatic) or one of {PATHS}, got {path!r}")
    if not isinstance(stitch, bool):
        raise TypeError(f"stitch must be True or False, got {stitch!r}")
    wanted = _check_quantities(quantities, grads)
    nothing_to_watch = None  # the error to raise at exit when the block tapped nothing either
    try:
        targets = find_recurrent_modules(model, names)
    except ValueError as e:
        if names is not None:  # a names= mistake is reported at once
            raise
        targets, nothing_to_watch = {}, str(e)
    on_meta = [f"{path or '<root>'}.{n}" for path, m in targets.items() for n, p in m.named_parameters() if p.is_meta]
    if on_meta:  # a meta tensor has shapes but no values: nothing could be recorded from it
        raise ValueError(
            f"record() needs a model with real weights; {on_meta[0]} is on the 'meta' device "
            "(load or initialise the weights first, e.g. model.to_empty(device='cpu'))"
        )
    if grads and not torch.is_grad_enabled():
        raise RuntimeError(
            "record(grads=True) was entered under torch.no_grad() or torch.inference_mode(): "
            "gradients through time need autograd; leave the no_grad block or use grads=False"
        )
    cap = Capture(
        {p: cell_type(m) for p, m in targets.items()},
        {id(m): p for p, m in targets.items()},
        grads,
        requested_path=path,
        stitch=stitch,
        quantities=wanted,
    )
    modes = [(mod, mod.training) for mod in model.modules()]
    token = _ACTIVE.set(_ACTIVE.get() + (cap,))
    installed = []
    try:
        for m in targets.values():
            _install(m, cap)
            installed.append(m)
        rec = Recording(cap)
        rec.modules = cap.modules  # the capture's own dict: a tap name joins it when first tapped
        yield rec
    finally:
        for m in installed:
            _uninstall(m, cap)
        _ACTIVE.reset(token)
        for mod, was_training in modes:
            mod.training = was_training
        cap.close()
    if nothing_to_watch is not None and not cap.recorded_anything():
        raise ValueError(f"{nothing_to_watch}; nor did the block record anything with lstmviz.tap()")
    if cap.foreign_calls and not cap.recorded_paths():
        warnings.warn(
            f"record() recorded nothing: the watched module(s) ran {cap.foreign_calls} time(s) in another thread "
            "(or asyncio task/context) while the block was open, and a recording only sees calls made in the "
            "thread or context that opened it; run the model inside the with-block, in the same thread",
            RuntimeWarning,
            stacklevel=3,
        )


def trace(
    model: nn.Module, *inputs, loss_fn: Callable | None = None, names=None, path: str | None = None, **kwargs
) -> Recording:
    """Run ``model(*inputs, **kwargs)`` once and return its recording.

    With ``loss_fn``, gradients through time are recorded too, via
    :meth:`Recording.backward`, so no parameter ``.grad`` of the model changes.

    Args:
        model: the model to run.
        *inputs: positional inputs of ``model``.
        loss_fn: optional ``output -> scalar loss``.
        names: which recurrent modules to watch (see :func:`record`).
        path: how full-module calls are captured (see :func:`record`; None: automatic).
        **kwargs: keyword inputs of ``model``.

    Returns:
        The :class:`~lstmviz.recording.Recording`.

    Example:
        >>> import lstmviz
        >>> gru = nn.GRU(3, 5, batch_first=True)
        >>> rec = lstmviz.trace(gru, torch.randn(2, 7, 3), loss_fn=lambda out: out[0][:, -1].sum())
        >>> rec.grad_norms().shape[1]
        7
    """
    if loss_fn is not None and not callable(loss_fn):
        raise TypeError(f"loss_fn must be callable, got {type(loss_fn).__name__}")
    with record(model, grads=loss_fn is not None, names=names, path=path) as rec:
        out = model(*inputs, **kwargs)
        if loss_fn is not None:
            loss = loss_fn(out)
            rec.backward(loss)
    return rec
