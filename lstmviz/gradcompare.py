"""Gradients through time of one text in several models, side by side (the Gradients view's data).

:func:`compare_gradients` takes the analyses of the compared models (each from
:func:`lstmviz.sentence.analyze_text` or :func:`lstmviz.whatifs.what_if`, possibly cached by the
caller) and returns one :class:`GradientComparison` with every frame the view draws: the gradient
curves (raw and normalised), the Pascanu bound with whether it binds, the loss-free reach, the LSTM
forget products and a shared saliency scale. The dashboard and ``benchmarks/bench_dashboard.py``
both call it, so what is measured is what is shown.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

from lstmviz.diagnostics import forget_product_frame, pascanu_bound, reach_frame
from lstmviz.sentence import TextAnalysis

__all__ = ["GradientComparison", "compare_gradients"]


@dataclass
class GradientComparison:
    """Every frame of a gradient comparison; ``series`` = the names the analyses were given under.

    Attributes:
        runs: Name -> analysis.
        curves: Top layer, forward direction of each :meth:`TextAnalysis.grad_frame` (``norm``, ``norm_rel``).
        bounds: :func:`~lstmviz.diagnostics.pascanu_bound` of every RNN (``binding`` says whether it constrains).
        reach: :func:`~lstmviz.diagnostics.reach_frame` of every model.
        forget: :func:`~lstmviz.diagnostics.forget_product_frame` of every LSTM (empty without one).
        saliency_max: The largest saliency over all models: one colour scale for all strips.
    """

    runs: dict[str, TextAnalysis]
    curves: pd.DataFrame
    bounds: pd.DataFrame
    reach: pd.DataFrame
    forget: pd.DataFrame
    saliency_max: float

    @property
    def drawn_bounds(self) -> pd.DataFrame | None:
        """The bounds a chart may draw: only those that bind (σ_max < 1); None when there are none."""
        if self.bounds.empty:
            return None
        b = self.bounds[self.bounds["binding"].astype(bool)]
        return b if len(b) else None

    def bound_facts(self) -> list[dict]:
        """Per RNN: ``series, sigma_max, spectral_radius, binding`` (for the caption)."""
        if self.bounds.empty:
            return []
        first = self.bounds.groupby("series", sort=False).first().reset_index()
        return first[["series", "sigma_max", "spectral_radius", "binding"]].to_dict("records")


def _concat(frames: list[pd.DataFrame]) -> pd.DataFrame:
    frames = [f for f in frames if len(f)]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def compare_gradients(runs: Mapping[str, TextAnalysis]) -> GradientComparison:
    """Builds the comparison of analyses recorded with grads (top layer, forward direction).

    Args:
        runs: Name -> analysis (e.g. ``{"RNN": a_rnn, "LSTM": a_lstm}``), all of the same text.

    Returns:
        A :class:`GradientComparison`.

    Raises:
        ValueError: when ``runs`` is empty or an analysis has no gradients.

    Example:
        >>> cmp = compare_gradients({"rnn": analyze_text(p_rnn, "Мне понравилось")})  # doctest: +SKIP
        >>> cmp.curves["norm_rel"].iloc[-1]  # doctest: +SKIP
        1.0
    """
    if not runs:
        raise ValueError("compare_gradients needs at least one analysis")
    missing = [n for n, a in runs.items() if a.recording64 is None]
    if missing:
        raise ValueError(f"analyses {missing} were recorded without grads; allowed: analyses made with grads=True")
    curves, bounds, reach, forget = [], [], [], []
    for name, a in runs.items():
        g = a.grad_frame(series=name)
        curves.append(g[(g["layer"] == a.num_layers - 1) & (g["direction"] == "fwd")])
        bounds.append(pascanu_bound(a, series=name))
        reach.append(reach_frame(a, series=name))
        if a.cell == "lstm":
            forget.append(forget_product_frame(a, series=name))
    sal = [float(np.nanmax(a.saliency)) for a in runs.values() if a.saliency is not None and len(a.saliency)]
    return GradientComparison(
        runs=dict(runs),
        curves=_concat(curves),
        bounds=_concat(bounds),
        reach=_concat(reach),
        forget=_concat(forget),
        saliency_max=max(sal) if sal else 0.0,
    )
