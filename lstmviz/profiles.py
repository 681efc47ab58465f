"""Gradients through time of a trained or training model: per-step profiles and the end-to-start ratio.

* :func:`make_probe` picks a fixed batch of equal-length validation sequences.
* :func:`grad_profile` is the mean ``||dL/dh_t||`` per step in the model's own dtype (float32):
  what training sees, underflow included.
* :func:`gradient_ratio` is ``||dL/dh_0|| / ||dL/dh_T||`` computed on a float64 copy of the
  model. In float32 the ratio of a vanilla RNN underflows to exactly 0 after ~100 steps
  (the smallest float32 is ~1e-45), so "how much smaller" could not be told from "nothing";
  float64 reaches ~1e-308. The sweeps, the live lab and the Gradients view all use this one
  function.

Both record with :func:`lstmviz.record` and :meth:`Recording.backward`, so no parameter's
``.grad`` is touched: a shared model stays as it was.
"""

from __future__ import annotations

import copy
import math

import torch
import torch.nn.functional as F

import lstmviz
from lstmviz.models import RecurrentClassifier
from lstmviz.taskdata import SequenceData

__all__ = ["end_to_start", "grad_profile", "gradient_ratio", "make_probe", "per_sequence_ratios", "ratio_spread"]


def make_probe(val: SequenceData, size: int = 64) -> SequenceData:
    """A fixed batch of equal-length sequences for gradient profiles.

    Takes the ``size`` longest validation sequences (ties: first in order) and cuts them to
    the shortest of those lengths, so every step t has all ``size`` examples and the last
    step is where the loss is read.

    Example:
        >>> x = torch.tensor([[2, 3, 4], [5, 6, 0], [7, 0, 0]])
        >>> v = SequenceData(x, torch.tensor([3, 2, 1]), torch.tensor([0, 1, 0]))
        >>> make_probe(v, 2).x.tolist()
        [[2, 3], [5, 6]]
    """
    size = min(size, len(val))
    order = sorted(range(len(val)), key=lambda i: (-int(val.lengths[i]), i))[:size]
    idx = torch.tensor(sorted(order), dtype=torch.long)
    t = int(val.lengths[idx].min())
    return SequenceData(val.x[idx][:, :t].clone(), torch.full((size,), t, dtype=torch.long), val.y[idx].clone())


def _loss(model: RecurrentClassifier, out: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    if model.config.head == "regress":
        return F.mse_loss(out, y.to(out.dtype))
    return F.cross_entropy(out, y)


def _top_grad_hidden(model: RecurrentClassifier, probe: SequenceData) -> torch.Tensor:
    """``dL/dh_t`` of the top layer's forward direction, (B, T, H), NaN past each length."""
    was_training = model.training
    model.eval()
    try:
        with torch.enable_grad(), lstmviz.record(model, grads=True, names="rnn") as rec:
            out = model(probe.x, probe.lengths)
            rec.backward(_loss(model, out, probe.y))  # autograd.grad: parameter .grad stays as it is
    finally:
        model.train(was_training)
    return rec[f"rnn.l{model.config.num_layers - 1}.grad_hidden"]


def grad_profile(model: RecurrentClassifier, probe: SequenceData) -> list[float]:
    """Mean over the probe batch of ``||dL/dh_t||`` for the top layer, t = 0..T-1.

    Recorded in eval mode and in the model's dtype; NaN entries (steps past a sequence's
    length) are ignored in the mean; a step no sequence reaches is NaN.

    Args:
        model: The model (its ``.grad`` fields and training flag are left as they were).
        probe: A fixed batch, e.g. from :func:`make_probe`.

    Returns:
        One float per step of the probe.

    Example:
        >>> len(grad_profile(model, make_probe(data.val)))  # doctest: +SKIP
        52
    """
    norms = _top_grad_hidden(model, probe).norm(dim=-1)  # (B, T)
    return [float(v) for v in torch.nanmean(norms, dim=0)]


def per_sequence_ratios(model: RecurrentClassifier, probe: SequenceData) -> torch.Tensor:
    """``||dL/dh_0|| / ||dL/dh_T||`` of every probe sequence, in float64 (T = its last valid step).

    The model is copied to float64 (the original is untouched); the loss is the batch mean,
    whose factor 1/B cancels in the ratio.

    Returns:
        A float64 tensor (B,); 0 only where float64 itself underflows (below ~1e-308).

    Example:
        >>> per_sequence_ratios(model, probe).dtype  # doctest: +SKIP
        torch.float64
    """
    return _ratios(model, probe, torch.float64)


def _ratios(model: RecurrentClassifier, probe: SequenceData, dtype: torch.dtype) -> torch.Tensor:
    m = copy.deepcopy(model).to(dtype)
    x = probe.x if not probe.x.is_floating_point() else probe.x.to(dtype)
    g = _top_grad_hidden(m, SequenceData(x, probe.lengths, probe.y))  # (B, T, H) in dtype
    return end_to_start(g.norm(dim=-1), probe.lengths)


def ratio_spread(model: RecurrentClassifier, probe: SequenceData) -> dict[str, float | int]:
    """How ``||dL/dh_0|| / ||dL/dh_T||`` spreads over the probe's sequences, and what float32 makes of it.

    A single number (the geometric mean of :func:`gradient_ratio`) hides that the per-sequence ratios span tens of
    orders of magnitude; quote this range instead.

    Returns:
        ``{"n", "min", "geomean", "max"}`` of the float64 per-sequence ratios and ``float32_zero``, the number of
        sequences whose ratio is exactly 0 when the same model runs in float32 (the gradient underflowed).

    Example:
        >>> ratio_spread(cue_rnn, make_probe(lag_200_set, 1024))  # doctest: +SKIP
        {'n': 1024, 'min': 7.6e-75, 'geomean': ..., 'max': 9.4e-36, 'float32_zero': ...}
    """
    r = per_sequence_ratios(model, probe)
    r32 = _ratios(model, probe, torch.float32)
    positive = r[r > 0]
    return {
        "n": int(r.numel()),
        "min": float(r.min()),
        "geomean": float(torch.exp(torch.log(positive).mean())) if positive.numel() == r.numel() else 0.0,
        "max": float(r.max()),
        "float32_zero": int((r32 == 0).sum()),
    }


def end_to_start(norms: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """``norms[:, 0] / norms[:, length - 1]`` per sequence: the first step's share of the last step's gradient.

    Args:
        norms: ``||dL/dh_t||`` per sequence and step, (B, T).
        lengths: Valid steps per sequence, (B,).

    Example:
        >>> norms = torch.tensor([[1e-3, 0.1, 1.0], [0.5, 2.0, 9.0]], dtype=torch.float64)
        >>> end_to_start(norms, torch.tensor([3, 2])).tolist()  # the second sequence ends at step 1
        [0.001, 0.25]
    """
    last = lengths.long() - 1  # (B,)
    end = norms[torch.arange(norms.shape[0]), last]  # (B,)
    return norms[:, 0] / end


def gradient_ratio(model: RecurrentClassifier, probe: SequenceData) -> float:
    """Geometric mean over the probe of ``||dL/dh_0|| / ||dL/dh_T||``, in float64.

    The ratio says how much of the loss's gradient at the last step still reaches the first
    step: ~1 carries information across the gap, 1e-20 does not. Geometric, not arithmetic,
    because the per-sequence ratios spread over orders of magnitude.

    Args:
        model: The model (left untouched: a float64 copy is recorded).
        probe: Equal-length sequences, e.g. :func:`make_probe` of the validation set.

    Returns:
        The ratio (0.0 if float64 underflows for every sequence, NaN for an empty probe).

    Example:
        >>> gradient_ratio(RecurrentClassifier.seeded(cfg, 0), make_probe(data.val))  # doctest: +SKIP
        3.1e-13
    """
    r = per_sequence_ratios(model, probe)
    if r.numel() == 0:
        return math.nan
    positive = r[r > 0]
    if positive.numel() < r.numel():
        return 0.0
    return float(torch.exp(torch.log(positive).mean()))
