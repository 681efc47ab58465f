"""Plotly figure builders for lstmviz: tidy DataFrames in, ``go.Figure`` out.

Nothing here computes model quantities, imports streamlit or calls ``.show()``; the
callers (``lstmviz.sentence``, ``lstmviz.gradcompare`` and the dashboard) hand in tidy frames and show the result.

Safety: plotly renders a subset of HTML inside every text field (``<b>``, ``<a href>``,
``<span style>``, ``<br>``), so every string that may come from a user (tokens, model
names, labels, titles) passes through :func:`esc` (``html.escape``) before it is placed in
tick labels, hover text, cell text, annotations or titles. Plotly turns the entities back
into the literal characters on screen, so ``<b>x</b>`` is *shown*, never *applied*.

Colour scales are fixed per quantity so that two heatmaps of the same quantity can be
compared by eye: sigmoid gates on [0, 1], tanh-bounded signals (candidate, GRU ``new``,
hidden) on [-1, 1], the unbounded LSTM cell on a symmetric range around 0, gradients on a
symmetric range that fits their (often tiny) values; ``zmin``/``zmax`` override any of them.

Frames straight from a recording work as they come: :func:`with_series` is the one rule that
derives a missing ``series`` (module, layer, direction, batch row) and ``distance`` (steps before
the last one), and :func:`series_styles` gives each series its own colour and marker.
"""

from __future__ import annotations

import html
import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

__all__ = [
    # constants: colour scales, labels, limits
    "DEFAULT_LABELS",
    "CLASS_COLORS",
    "CLASS_SYMBOLS",
    "SIGMOID_QUANTITIES",
    "SIGNED_QUANTITIES",
    "GATE_COLORSCALE",
    "SIGNED_COLORSCALE",
    "MAGNITUDE_COLORSCALE",
    "SIGNIFICANT_DIGITS",
    "COINCIDE_SHARE",
    "SERIES_PARTS",
    "MAX_LABEL_CHARS",
    "HOVER_TOKEN_CELLS",
    "MAX_TOKEN_TICKS",
    "READABLE_ROWS",
    "CHAR_AXIS_PX",
    "PRESENTATION_FONT",
    "PRESENTATION_WIDTH",
    "PRESENTATION_GAP",
    "UNDERFLOW_FLOOR",
    # helpers: text, colours, series, axes, figure size
    "esc",
    "class_color",
    "model_colors",
    "series_styles",
    "with_series",
    "color_range",
    "shorten",
    "token_labels",
    "token_ticks",
    "char_tick_size",
    "text_lines",
    "wrap_title",
    "presentation",
    "round_significant",
    "compact",
    "integer_ticks",
    "log_range",
    # figures
    "gate_heatmap",
    "gates",
    "unit_lines",
    "connectivity_heatmap",
    "unit_histogram",
    "probability_lines",
    "colored_text_data",
    "colored_text_figure",
    "grad_norm_curves",
    "forget_product_figure",
    "training_curves",
    "grad_profile_heatmap",
    "reach_curves",
    "profile_pairs_heatmap",
    "accuracy_vs_lag",
    "saturation_scatter",
    "success_vs_lag",
    "success_vs_gate_bias",
    "lab_curves",
    "accumulator_state",
    "lesson_plan",
]

SIGMOID_QUANTITIES = frozenset({"input", "forget", "output", "reset", "update"})  # values in [0, 1]
SIGNED_QUANTITIES = frozenset({"cell_candidate", "new", "hidden"})  # tanh-bounded, values in [-1, 1]
GATE_COLORSCALE = "Viridis"  # sequential: 0 = closed, 1 = open
SIGNED_COLORSCALE = "RdBu_r"  # diverging: blue < 0 < red
# Magma for magnitudes on a log scale, its darkest colour written #000000: plotly's own "#000004" is one of
# Streamlit's theme placeholders (CATEGORY_3), which its front end repaints pink inside every chart, colour
# scales included, so the smallest values would look large.
MAGNITUDE_COLORSCALE = [
    [i / 9, c]
    for i, c in enumerate(
        ["#000000", "#180f3d", "#440f76", "#721f81", "#9e2f7f", "#cd4071", "#f1605d", "#fd9668", "#feca8d", "#fcfdbf"]
    )
]
#: Axis titles, legend suffixes and annotations; every builder takes ``labels=`` to override
#: (the dashboard passes its translations), keys missing there fall back to these.
DEFAULT_LABELS: dict[str, str] = {
    "minute": "minute of the lesson",
    "step": "token index t",
    "distance": "distance from the end (T-1-t)",
    "unit": "unit",
    "value": "value",
    "prob": "P(class | prefix)",
    "grad_norm": "gradient norm",
    "grad_rel": "‖∂L/∂h_t‖ / ‖∂L/∂h_T‖ (float64)",
    "bound": "Pascanu bound",
    "forget_product": "Π f (t+1..T), mean over units",
    "epoch": "epoch",
    "loss": "loss",
    "acc": "accuracy",
    "f1": "macro F1",
    "log_grad": "log10 ‖∂L/∂h‖",
    "lag": "lag (distractor tokens between cue and query)",
    "test_acc": "test accuracy",
    "chance": "chance",
    "majority": "majority class",
    "frac_low": "fraction of steps < 0.1 (left-saturated)",
    "frac_high": "fraction of steps > 0.9 (right-saturated)",
    "success_rate": "success rate over seeds",
    "success_panel": "success rate (bars: 95% Wilson interval)",
    "final_panel": "final test score of every seed",
    "seq_len": "sequence length",
    "gate_bias": "forget / update gate bias b at initialisation",
    "updates": "updates",
    "grad_ratio": "‖∂L/∂h₀‖ / ‖∂L/∂h_T‖ (float64)",
    "reach": "‖∂h_T/∂s_t‖₂ (no loss, float64)",
    "sigma_pow": "σ(b)^lag (kept of h₀ by the gate at init)",
    "measured_ratio": "measured gradient ratio at init",
    "seed": "seed",
    "mean": "mean",
    "train": "train",
    "val": "val",
    "test": "test",
    "held_out": "held-out",
    "hover_token": "token",
    "mse": "MSE",
    "baseline_mse": "predict the mean (MSE 1/6)",
    "threshold": "success threshold",
    "solved": "solved",
    "log_scale": "σ(b)^lag, ratio (log)",
    "underflow": "0 (below 1e-308: float64 underflow)",
    "log_conn": "log10 ‖∂loss_t/∂x_s‖",
    "log_conn_row": "log10 (‖∂loss_t/∂x_s‖ / row maximum)",
    "count": "tokens",
    "conn_x": "input position s",
    "conn_y": "output position t",
    "acc_state_panel": "state at the last step, at initialisation",
    "acc_state": "mean |c_T| (LSTM), |h_T| (GRU); log",
    "acc_saturated_panel": "units saturated at the last step",
    "acc_saturated": "share with |tanh(c_T)| or |h_T| > 0.95",
    "acc_gain": "gain i/(1−f)",
    "acc_max": "largest",
}
_CELL_COLORS = {"rnn": "#d62728", "gru": "#2ca02c", "lstm": "#1f77b4", "bow": "#7f7f7f"}  # bow: the baseline, grey
#: One colour per sentiment class, the same in every chart and in presentation mode: red negative, grey neutral,
#: green positive, purple mixed. A marker shape per class keeps them apart for red-green colour-blind eyes.
CLASS_COLORS: dict[str, str] = {"negative": "#d62728", "neutral": "#7f7f7f", "positive": "#2ca02c", "mixed": "#9467bd"}
CLASS_SYMBOLS: dict[str, str] = {
    "negative": "triangle-down",
    "neutral": "circle",
    "positive": "triangle-up",
    "mixed": "diamond",
}
# Other classes (cue recall's languages) take these by their position in the model's label list.
_CLASS_PALETTE = ("#1f77b4", "#ff7f0e", "#17becf", "#8c564b", "#e377c2", "#bcbd22", "#393b79", "#637939")
# Series colours when several models share a cell type (training curves): d3's category10 and category20b.
_SERIES_PALETTE = (
    "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf",
    "#393b79", "#637939", "#8c6d31", "#843c39", "#7b4173", "#5254a3", "#8ca252", "#bd9e39", "#ad494a", "#a55194",
)  # fmt: skip


#: Significant digits a chart sends: hovers print at most 4, a colour scale or a line far fewer. Rounding
#: makes the figure JSON independent of the last bits of a float, which differ between CPUs and kernels.
SIGNIFICANT_DIGITS = 4
_FLOAT32_NORMAL = (float(np.finfo(np.float32).tiny), float(np.finfo(np.float32).max))


def round_significant(values: Any, digits: int = SIGNIFICANT_DIGITS) -> np.ndarray:
    """Values rounded to ``digits`` significant digits (float64; NaN, inf, 0 and subnormals unchanged).

    Args:
        values: Anything ``np.asarray`` turns into floats.
        digits: Significant digits kept (at least 1).

    Returns:
        A float64 array of the same shape.

    Example:
        >>> round_significant([0.123456, -98765.4, 1.23456e-50, 0.0, float("nan")]).tolist()
        [0.1235, -98770.0, 1.235e-50, 0.0, nan]
    """
    if digits < 1:
        raise ValueError(f"digits must be at least 1, got {digits}")
    x = np.array(values, dtype=np.float64)
    # Normal doubles only: 10**(digits-1-exponent) stays finite down to 1e-300 and up to the largest double.
    ok = np.isfinite(x) & (np.abs(x) >= 1e-300)
    if ok.any():
        v = x[ok]
        exponent = np.floor(np.log10(np.abs(v)))
        scale = 10.0 ** (digits - 1 - exponent)
        big = ~np.isfinite(scale) | ~np.isfinite(v * scale)
        x[ok] = np.where(big, v, np.round(v * scale) / np.where(big, 1.0, scale))
    return x


def _compact_array(value: Any) -> np.ndarray | None:
    """A numeric array as the typed array a chart needs, or None when ``value`` is not a numeric array.

    Floats are rounded to :data:`SIGNIFICANT_DIGITS` and sent as float32 where every value fits float32's
    normal range (else float64, so a float64 gradient of 1e-50 is not flushed to 0). Plotly sends numpy
    arrays as base64 typed arrays, so the JSON size depends on the number of values only.
    """
    if isinstance(value, np.ndarray):
        arr = value
    elif isinstance(value, (list, tuple, pd.Series, pd.Index)) and len(value):
        if isinstance(value, (list, tuple)) and not all(
            isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, bool) for v in value
        ):
            return None  # strings, None, dates, nested lists: left as they are
        arr = np.asarray(value)
    else:
        return None
    if arr.dtype.kind in "iu":
        return arr
    if arr.dtype.kind != "f" or arr.size == 0:
        return None
    rounded = round_significant(arr)
    magnitude = np.abs(rounded[np.isfinite(rounded) & (rounded != 0)])
    fits = not magnitude.size or (magnitude.min() >= _FLOAT32_NORMAL[0] and magnitude.max() <= _FLOAT32_NORMAL[1])
    return rounded.astype(np.float32) if fits else rounded


_LITERAL_KEYS = frozenset({"range", "geojson", "layer", "layers"})  # plotly sends these as JSON lists, never typed


def _compact_value(value: Any, arrays: bool = True) -> Any:
    """A rounded copy of a trace or layout value: numeric arrays as typed arrays (``arrays``), float scalars and
    the numbers of short literal lists (axis ranges, tick values of a layout) to 6 significant digits."""
    if isinstance(value, dict):
        return {k: _compact_value(v, arrays and k not in _LITERAL_KEYS) for k, v in value.items()}
    arr = _compact_array(value) if arrays else None
    if arr is not None:
        return arr
    if isinstance(value, np.ndarray) and value.dtype.kind == "f":
        return round_significant(value, 6)
    if isinstance(value, (list, tuple)):
        return [_compact_value(v, arrays) for v in value]
    if isinstance(value, (float, np.floating)) and math.isfinite(value):
        return float(round_significant(value, 6))
    return value


def _changes(old: Any, new: Any) -> Any:
    """The parts of ``new`` (a :func:`_compact_value` of ``old``) that differ from ``old``; None when nothing does.

    Only these are handed back to plotly: re-validating the unchanged parts (token hovers, colour scales) would cost
    more than the rounding itself.
    """
    if isinstance(old, dict):
        out = {k: c for k, v in old.items() if (c := _changes(v, new[k])) is not None}
        return out or None
    if new is old:
        return None
    if isinstance(old, (float, np.floating)) and new == old:
        return None
    return new


def compact(fig: go.Figure) -> go.Figure:
    """Rounds a figure's numbers to what a chart can show and sends its arrays as typed arrays (in place).

    Every numeric array of every trace becomes a base64 typed array of values rounded to
    :data:`SIGNIFICANT_DIGITS` (float32 where the values fit its normal range, float64 otherwise, so nothing
    underflows); float scalars of the traces and the layout (ranges, colour limits, positions) keep 6 digits.
    The JSON size then depends on how many values a chart has, not on their last bits: the same chart costs
    the same bytes on every CPU. Strings (tokens, hovers) are untouched. CSV downloads keep full precision:
    they are built from the frames, not from the figure.

    Args:
        fig: Any plotly figure.

    Returns:
        ``fig`` itself.

    Example:
        >>> fig = compact(go.Figure(go.Scatter(x=[0, 1], y=[0.123456789, 2.0])))
        >>> fig.data[0].y.dtype, fig.data[0].y.tolist()
        (dtype('float32'), [0.12349999696016312, 2.0])
    """
    for trace in fig.data:
        data = trace.to_plotly_json()
        data.pop("type", None)
        if (changed := _changes(data, _compact_value(data))) is not None:
            trace.update(changed)
    layout = fig.layout.to_plotly_json()
    layout.pop("template", None)  # plotly's own constants
    if (changed := _changes(layout, _compact_value(layout, arrays=False))) is not None:  # ranges stay JSON lists
        fig.update_layout(changed)
    return fig


def _cell_color(name: object) -> str | None:
    """Fixed colour of a cell type named anywhere in a series name (``sentiment-lstm`` -> LSTM blue)."""
    low = str(name).lower()
    for cell in ("lstm", "gru", "rnn", "bow"):  # lstm first: no cell name contains another, but be explicit
        if cell in low:
            return _CELL_COLORS[cell]
    return None


def class_color(label: object, position: int = 0) -> str:
    """The colour of a class in every chart: :data:`CLASS_COLORS` for the sentiment classes, else a fixed palette
    colour chosen by the class's ``position`` in the model's label list.

    Example:
        >>> class_color("positive"), class_color("french", 1)
        ('#2ca02c', '#ff7f0e')
    """
    return CLASS_COLORS.get(str(label), _CLASS_PALETTE[position % len(_CLASS_PALETTE)])


def model_colors(models: Sequence[object]) -> dict[object, str]:
    """One distinct colour per model: the first model of each cell type keeps the cell's colour (LSTM blue, GRU
    green, RNN red, bag of words grey), every other model an unused palette colour.

    Example:
        >>> model_colors(["sentiment-lstm", "cue-lstm", "sentiment-gru"])
        {'sentiment-lstm': '#1f77b4', 'cue-lstm': '#ff7f0e', 'sentiment-gru': '#2ca02c'}
    """
    colors: dict[object, str] = {}
    for model in dict.fromkeys(models):
        cell = _cell_color(model)
        if cell is not None and cell not in colors.values():
            colors[model] = cell
            continue
        free = [c for c in _SERIES_PALETTE if c not in colors.values() and c not in _CELL_COLORS.values()]
        colors[model] = free[0] if free else _SERIES_PALETTE[len(colors) % len(_SERIES_PALETTE)]
    return colors


_SERIES_SYMBOLS = ("circle", "square", "diamond", "triangle-up", "triangle-down", "cross", "star", "pentagon")
COINCIDE_SHARE = 0.5  # a line whose points a later line repeats on at least this share of them is drawn wider


def series_styles(names: Sequence[object], by_cell: bool = True) -> dict[object, dict[str, str]]:
    """One colour and one marker symbol per series of a line chart, in order of first appearance.

    With ``by_cell`` (series a caller named, e.g. models ``sentiment-rnn``, ``sentiment-lstm``) the colours are
    :func:`model_colors`: the first series of each cell type keeps the cell's colour (LSTM blue, GRU green, RNN red),
    every other series gets its own. Without it (series derived by :func:`with_series` from module paths, which may
    contain a cell name that says nothing about the cell, e.g. a module ``rnn`` holding an LSTM) the colours are the
    palette's in order, cell colours left out.

    Example:
        >>> s = series_styles(["run-a lstm", "run-b lstm"])
        >>> [v["color"] for v in s.values()], [v["symbol"] for v in s.values()]
        (['#1f77b4', '#ff7f0e'], ['circle', 'square'])
    """
    names = list(dict.fromkeys(names))
    if by_cell:
        colors = model_colors(names)
    else:
        free = [c for c in _SERIES_PALETTE if c not in _CELL_COLORS.values()]
        colors = {n: free[k % len(free)] for k, n in enumerate(names)}
    return {n: {"color": colors[n], "symbol": _SERIES_SYMBOLS[k % len(_SERIES_SYMBOLS)]} for k, n in enumerate(names)}


def _coincide_widths(points: Sequence[tuple[np.ndarray, np.ndarray]]) -> list[int]:
    """How many later lines repeat each line's points (same x, y within 1e-9 relative) on most of them.

    A line drawn under another one that repeats it is widened by this count, so its colour shows on both
    sides of the one on top and no line hides another.
    """
    under = [0] * len(points)
    for k, (xk, yk) in enumerate(points):
        where = {x: y for x, y in zip(xk.tolist(), yk.tolist())}
        for xj, yj in points[k + 1 :]:
            same = sum(
                1
                for x, y in zip(xj.tolist(), yj.tolist())
                if x in where and (y == where[x] or abs(y - where[x]) <= 1e-9 * max(abs(y), abs(where[x])))
            )
            if where and same >= COINCIDE_SHARE * len(where):
                under[k] += 1
    return under


#: What :func:`with_series` derives a missing ``series`` from, in this order.
SERIES_PARTS = ("module", "layer", "direction", "batch")


def with_series(frame: pd.DataFrame) -> pd.DataFrame:
    """The ``series`` and ``distance`` columns of the line charts, derived where a frame lacks them.

    The one rule for frames straight from :meth:`Recording.grad_norms <lstmviz.recording.BaseRecording.grad_norms>`
    and :meth:`Recording.to_frame <lstmviz.recording.BaseRecording.to_frame>` (used by :func:`grad_norm_curves` and
    :func:`unit_lines`):

    * ``series`` (when absent): where the row was recorded, ``"{module} · l{layer}[ · rev][ · b{batch}]"``: the
      module path (left out for the root module), the layer, ``rev`` for the reverse direction, and the batch row
      when the frame holds more than one. Columns a frame lacks are left out of the name.
    * ``distance`` (when absent and ``step`` is there): ``last - step``, where ``last`` is the last step of the
      row's series (and batch row): 0 at the last valid step of every sequence, however long.

    Args:
        frame: a tidy frame.

    Returns:
        ``frame`` itself when it has both columns (or nothing to derive them from), else a copy with them added.

    Example:
        >>> df = pd.DataFrame({"module": "", "layer": 0, "direction": ["fwd", "fwd", "rev"], "step": [0, 1, 0]})
        >>> with_series(df)[["series", "distance"]].values.tolist()
        [['l0', 1], ['l0', 0], ['l0 · rev', 0]]
    """
    _check_columns(frame, (), "with_series")
    out = frame
    if "series" not in frame.columns and any(c in frame.columns for c in SERIES_PARTS):
        keys = [c for c in SERIES_PARTS if c in frame.columns and (c != "batch" or frame[c].nunique() > 1)]
        # one name per distinct source (not per row): ngroup numbers groups in order of first appearance, as
        # drop_duplicates lists them
        sources = frame[keys].drop_duplicates() if keys else frame.iloc[:1, :0]
        names = [_series_name(dict(zip(keys, row))) for row in sources.itertuples(index=False)]
        group = frame.groupby(keys, sort=False, observed=True, dropna=False).ngroup().to_numpy() if keys else 0
        out = frame.assign(series=np.asarray(names, dtype=object)[group] if len(frame) else [])
    if "distance" not in out.columns and "step" in out.columns and "series" in out.columns:
        keys = ["series", *(c for c in SERIES_PARTS if c in out.columns)]
        last = out.groupby(keys, sort=False, observed=True)["step"].transform("max")
        out = out.assign(distance=(last - out["step"]).astype(int))
    return out


def _series_name(source: Mapping[str, Any]) -> str:
    """``"{module} · l{layer}[ · rev][ · b{batch}]"`` of one source (see :func:`with_series`)."""
    from lstmviz.names import direction_name

    parts = []
    if str(source.get("module", "")):
        parts.append(str(source["module"]))
    if "layer" in source:
        parts.append(f"l{int(source['layer'])}")
    if "direction" in source and direction_name(source["direction"]) == "rev":
        parts.append("rev")
    if "batch" in source:
        parts.append(f"b{int(source['batch'])}")
    return " · ".join(parts) or str(source.get("direction", "all"))


def esc(value: object) -> str:
    """Escapes a value for any plotly text field (plotly renders a subset of HTML).

    Args:
        value: Anything; converted with ``str`` first.

    Returns:
        The HTML-escaped string; plotly shows it literally.

    Example:
        >>> esc("<b>x</b>")
        '&lt;b&gt;x&lt;/b&gt;'
    """
    # quote=False: plotly only decodes a few named entities (&lt; &gt; &amp;), not &quot;,
    # and with < and > escaped no tag can form, so quotes are harmless.
    return html.escape(str(value), quote=False)


def color_range(quantity: str, values: np.ndarray | None = None) -> tuple[float, float, str]:
    """Fixed colour range and scale for a recorded quantity.

    Args:
        quantity: A recorder quantity name (``forget``, ``cell``, ``hidden``, ...).
        values: The values to show; only used for the unbounded ``cell`` (and unknown
            quantities), whose range is symmetric: ``[-m, m]`` with ``m = max(1, max|v|)``, and for the
            gradients (``grad_hidden``, ``grad_cell``): ``[-m, m]`` with ``m = max|v|`` however small
            (they are often ~1e-3: a range of [-1, 1] would draw them all in its middle colour).

    Returns:
        ``(zmin, zmax, colorscale)``.

    Example:
        >>> color_range("forget")
        (0.0, 1.0, 'Viridis')
        >>> color_range("cell", np.array([0.5, -2.0]))
        (-2.0, 2.0, 'RdBu_r')
        >>> color_range("grad_hidden", np.array([2e-3, -5e-4]))
        (-0.002, 0.002, 'RdBu_r')
    """
    if quantity in SIGMOID_QUANTITIES:
        return 0.0, 1.0, GATE_COLORSCALE
    if quantity in SIGNED_QUANTITIES:
        return -1.0, 1.0, SIGNED_COLORSCALE
    top = None
    if values is not None and np.size(values) and np.isfinite(values).any():
        top = float(np.nanmax(np.abs(np.where(np.isfinite(values), values, np.nan))))
    if str(quantity).startswith("grad_"):
        m = top if top else 1.0  # all zero (or nothing finite): any range shows it; [-1, 1]
        return -m, m, SIGNED_COLORSCALE
    m = max(1.0, top) if top is not None else 1.0
    return -m, m, SIGNED_COLORSCALE


def _zrange(fixed: tuple[float, float, str], zmin: float | None, zmax: float | None) -> tuple[float, float, str]:
    """``fixed`` (from :func:`color_range`) with the ends a caller gave instead; ValueError unless zmin < zmax."""
    lo = fixed[0] if zmin is None else float(zmin)
    hi = fixed[1] if zmax is None else float(zmax)
    if not (math.isfinite(lo) and math.isfinite(hi) and lo < hi):
        raise ValueError(f"colour range zmin={lo!r}, zmax={hi!r} is invalid; allowed: finite numbers with zmin < zmax")
    return lo, hi, fixed[2]


MAX_LABEL_CHARS = 24  # a token longer than this is shown cut, with "…" (the model still reads all of it)
HOVER_TOKEN_CELLS = 4096  # gate heatmaps name the token in every cell's hover up to this many cells


def shorten(text: object, limit: int = MAX_LABEL_CHARS) -> str:
    """``text`` cut to ``limit`` characters with a trailing ``…`` (display only).

    Example:
        >>> shorten("a" * 30, 5)
        'aaaa…'
    """
    text = str(text)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def token_labels(tokens: Sequence[str], unknown: Sequence[bool] | None = None) -> list[str]:
    """Escaped tick labels for tokens, cut to :data:`MAX_LABEL_CHARS`; unknown tokens get a ``⁇`` mark.

    Args:
        tokens: Surface strings of the tokens, in order.
        unknown: Optional flags, True where the model saw ``<unk>``.

    Returns:
        One escaped label per token.

    Example:
        >>> token_labels(["<i>", "кот"], [False, True])
        ['&lt;i&gt;', 'кот⁇']
    """
    flags = list(unknown) if unknown is not None else [False] * len(tokens)
    if len(flags) != len(tokens):
        raise ValueError(f"unknown has {len(flags)} flags for {len(tokens)} tokens; allowed: one per token")
    return [esc(shorten(t)) + ("⁇" if u else "") for t, u in zip(tokens, flags)]


MAX_TOKEN_TICKS = 45  # token labels on one axis at most: ~40 px each at 1920 px, so none overlap
READABLE_ROWS = 24  # a heatmap of at most this many units gives each row 16 px (else 8): every unit number shows


def token_ticks(tokens: Sequence[str], unknown=None, max_ticks: int = MAX_TOKEN_TICKS) -> tuple[list[int], list[str]]:
    """Tick positions and escaped labels for a token axis, thinned to at most ``max_ticks`` labels.

    Empty labels (filler tokens, which are labelled ``·10``, ``·20``, ...) take no tick. When more
    labelled tokens remain than fit, every k-th is kept (k as small as fits); hovers still name each.

    Example:
        >>> token_ticks(["a", "", "b", "c"], max_ticks=2)
        ([0, 3], ['a', 'c'])
    """
    labels = token_labels(tokens, unknown)
    steps = [i for i, tok in enumerate(tokens) if str(tok) != ""]
    if len(steps) > max_ticks:
        k = -(-len(steps) // max_ticks)  # ceil
        steps = steps[::k]
    return steps, [labels[i] for i in steps]


CHAR_AXIS_PX = 1000  # px of plot width a character axis is sized for (the wide layout on a 1280-1920 px screen)


def char_tick_size(n: int) -> int:
    """Tick font size (px) at which ``n`` one-character labels sit side by side on :data:`CHAR_AXIS_PX`: 8 to 12.

    Example:
        >>> char_tick_size(40), char_tick_size(90), char_tick_size(300)
        (12, 11, 8)
    """
    return int(max(8, min(12, CHAR_AXIS_PX // max(n, 1))))


def _token_axis(
    fig: go.Figure, tokens: Sequence[str] | None, unknown=None, row=None, col=None, every=False, first=0
) -> None:
    """Puts escaped token labels on a numeric x axis (repeated tokens stay separate steps), thinned to fit; with
    ``every`` (one-character tokens) every token keeps its label, upright, in a font sized to fit; the axis starts
    at step ``first``."""
    if tokens is None:
        return
    kwargs = {} if row is None else {"row": row, "col": col}
    vals, text = token_ticks(tokens, unknown, max(len(tokens), 1) if every else MAX_TOKEN_TICKS)
    if every:  # plotly itself drops labels that would collide: an explicit size keeps them all
        kwargs["tickfont"] = dict(size=char_tick_size(len(vals)))
    fig.update_xaxes(
        tickmode="array",
        tickvals=[first + v for v in vals],
        ticktext=text,
        tickangle=0 if every or len(vals) <= 8 else -60,
        # plotly's default re-measures every label after placing each one: quadratic in the token count
        ticklabeloverflow="allow",
        **kwargs,
    )


def _labels(labels: Mapping[str, str] | None) -> dict[str, str]:
    """DEFAULT_LABELS overridden by ``labels``, every value escaped."""
    return {k: esc(v) for k, v in {**DEFAULT_LABELS, **(labels or {})}.items()}


def _check_columns(frame: pd.DataFrame, required: Sequence[str], what: str) -> None:
    """Raises ValueError naming the missing columns of a tidy frame."""
    if not isinstance(frame, pd.DataFrame):
        raise TypeError(f"{what} needs a pandas DataFrame, got {type(frame).__name__}")
    missing = [c for c in required if c not in frame.columns]
    if missing:
        raise ValueError(f"{what}: frame lacks columns {missing}; required: {list(required)}")


def _colorbar(height: int, title: str | None, text: str | None = None) -> dict[str, Any]:
    """A colour bar whose tick labels cannot collide: at most one per ~28 px of the plot area.

    The bar spans the plot area, so the same holds in an exported image (same layout). A short
    strip gets 2-3 ticks and its title beside the bar instead of above it.

    Example:
        >>> _colorbar(140, "t")["nticks"]
        2
    """
    plot_px = height - (50 if title else 20) - 40  # the margins of _layout
    bar = dict(
        nticks=max(2, min(8, plot_px // 28)),
        ticks="outside",
        tickfont=dict(size=11),
        title=dict(side="right" if plot_px < 160 else "top"),
    )
    if text is not None:
        bar["title"]["text"] = text
    return bar


def _layout(fig: go.Figure, title: str | None, height: int | None = None) -> go.Figure:
    """Common layout: escaped title, compact margins (heatmaps size their colour bar with :func:`_colorbar`)."""
    fig.update_layout(
        title=dict(text=esc(title)) if title else None,
        margin=dict(l=50, r=20, t=50 if title else 20, b=40),
        height=height,
    )
    return fig


PRESENTATION_FONT = 22  # px: axis ticks, legends and hovers in presentation mode (>= 20 on a projector)
PRESENTATION_WIDTH = 900  # px: the chart width presentation layouts are sized for (a 1400 px window, sidebar open)
PRESENTATION_GAP = 150  # px between subplot columns: the next column's y tick labels (~6 characters) and y title
_CHAR_EM = 0.5  # width of a character in em, text width estimates (measured: 0.49 for Russian axis titles)
_LINE_EM = 1.3  # height of a line of text in em


def text_lines(text: object) -> int:
    """Lines of a plotly text (``<br>`` breaks them).

    Example:
        >>> text_lines("a<br>b"), text_lines(None)
        (2, 0)
    """
    return 0 if not text else str(text).count("<br>") + 1


def wrap_title(text: str, width_px: float, size: int = PRESENTATION_FONT) -> str:
    """A plotly text broken at spaces (``<br>``) into lines at most ``width_px`` wide at ``size`` px, as
    estimated with :data:`_CHAR_EM`; a word longer than a line stays whole. The text is already escaped.

    Example:
        >>> wrap_title("lag (distractor tokens between cue and query)", 300)
        'lag (distractor tokens<br>between cue and query)'
    """
    limit = max(8, int(width_px / (_CHAR_EM * size)))
    out = []
    for line in str(text).split("<br>"):
        current = ""
        for word in line.split(" "):
            if current and len(current) + 1 + len(word) > limit:
                out.append(current)
                current = word
            else:
                current = f"{current} {word}" if current else word
        out.append(current)
    return "<br>".join(out)


def presentation(fig: go.Figure) -> go.Figure:
    """Restyles a figure for a projector, in place: 22 px text, 26 px titles, 4 px lines, 9 px markers,
    near-black text on white, a taller plot. Axes keep their ranges (a comparison stays fixed) and every trace
    keeps its colour (the template is not replaced: its colour cycle stays the one of the ordinary view).

    The layout grows with the text (:data:`PRESENTATION_WIDTH`): subplot columns move
    :data:`PRESENTATION_GAP` px apart so the y axis title of one column stays clear of the column before it,
    axis and subplot titles wider than their column wrap onto more lines, the top margin holds the subplot
    titles, a legend below the plot moves under the x axis titles, and margins grow to fit tick labels
    (``automargin``). Tick labels a chart sized itself (one label per character) keep their size.

    Example:
        >>> presentation(go.Figure(go.Scatter(x=[0, 1], y=[1, 2]))).layout.font.size
        22
    """
    f = PRESENTATION_FONT
    height = int((fig.layout.height or 450) * 1.35)
    fig.update_layout(
        font=dict(size=f, color="#111111"),
        legend=dict(font=dict(size=f)),
        hoverlabel=dict(font=dict(size=f)),
        title=dict(font=dict(size=f + 4)),
        height=height,
        paper_bgcolor="white",
        plot_bgcolor="white",
    )
    for axis in (*fig.select_xaxes(), *fig.select_yaxes()):
        size = axis.tickfont.size or f  # a size the chart set (every character labelled) is kept: they must fit
        axis.update(tickfont=dict(size=size, color="#111111"), title_font=dict(size=f), gridcolor="#cccccc")
        axis.automargin = True
    fig.update_annotations(font=dict(size=f))
    fig.update_traces(line=dict(width=4), marker=dict(size=9), selector=dict(type="scatter"))
    fig.update_traces(
        colorbar=dict(tickfont=dict(size=f), title=dict(font=dict(size=f))), selector=dict(type="heatmap")
    )
    fig.update_traces(textfont=dict(size=f), selector=dict(type="heatmap"))
    _presentation_layout(fig, f, height)
    return fig


def _presentation_layout(fig: go.Figure, f: int, height: int) -> None:
    """Spacing, wrapping, legend and margins of :func:`presentation` (see there), in place."""
    lay = fig.layout
    margin_l, margin_r = lay.margin.l or 50, lay.margin.r or 20
    width = PRESENTATION_WIDTH - margin_l - margin_r  # px of plot area, all columns together
    line = f * _LINE_EM
    # Side-by-side subplot columns (make_subplots): the same gap between every two, in px, not in fractions.
    domains = sorted({tuple(ax.domain) for ax in fig.select_xaxes() if ax.domain is not None})
    columns = len(domains) > 1 and all(a[1] <= b[0] for a, b in zip(domains, domains[1:]))
    if columns:
        n = len(domains)
        gap = max(PRESENTATION_GAP / width, *(b[0] - a[1] for a, b in zip(domains, domains[1:])))
        w = (1 - (n - 1) * gap) / n
        moved = {d: (round(i * (w + gap), 6), round(i * (w + gap) + w, 6)) for i, d in enumerate(domains)}
        for ax in fig.select_xaxes():
            if ax.domain is not None:
                ax.domain = moved[tuple(ax.domain)]
        for note in lay.annotations:  # subplot titles sit at the centre of their column
            for (a, b), (c, d) in moved.items():
                if note.xref == "paper" and note.x is not None and abs(note.x - (a + b) / 2) < 1e-6:
                    note.x = (c + d) / 2
    # A legend of long names beside several columns would squeeze them: it goes below. A legend below gets its
    # own room in the bottom margin and the figure grows by as much, so the plot area keeps its height.
    names = [str(tr.name) for tr in fig.data if tr.name and tr.showlegend is not False]
    entry = max((len(n) for n in names), default=0) * _CHAR_EM * f + 50  # px: sample line, gap, name
    if columns and lay.legend.orientation != "h" and entry > 0.15 * PRESENTATION_WIDTH:
        fig.update_layout(legend=dict(orientation="h", x=0, xanchor="left", y=-0.01))
    legend_px = 0
    if lay.legend.orientation == "h" and (lay.legend.y if lay.legend.y is not None else 1) < 0:
        rows = math.ceil(len(names) / max(1, int(PRESENTATION_WIDTH // entry)))
        legend_px = round(rows * line + 24)
        height += legend_px
        fig.update_layout(height=height)
    # Subplot titles: paper-anchored annotations over the plot area, wrapped to their column's width.
    column = {round((a + b) / 2, 6): (b - a) * width for a, b in (ax.domain or (0, 1) for ax in fig.select_xaxes())}
    top_lines = 0
    for note in lay.annotations:
        if note.xref == "paper" and note.yref == "paper" and (note.y or 0) >= 1 and note.text:
            note.text = wrap_title(note.text, column.get(round(note.x or 0.5, 6), width), f)
            top_lines = max(top_lines, text_lines(note.text))
    title_lines = text_lines(lay.title.text)
    top = 12 + (title_lines * (f + 4) * _LINE_EM + 10 if title_lines else 0) + top_lines * line
    below = 0.0  # px under the plot area: tick labels, then the x axis titles
    for ax in fig.select_xaxes():
        a, b = ax.domain or (0, 1)
        if ax.title.text:
            ax.title.text = wrap_title(ax.title.text, (b - a) * width, f)
        below = max(below, line + 12 + text_lines(ax.title.text) * line + 16)
    bottom = max(lay.margin.b or 40, round(below) + legend_px)
    plot_h = height - top - bottom
    for ax in fig.select_yaxes():
        a, b = ax.domain or (0, 1)
        if ax.title.text:
            ax.title.text = wrap_title(ax.title.text, (b - a) * plot_h, f)
    fig.update_layout(margin=dict(t=round(top), b=bottom))
    if top_lines and title_lines:  # the title at the very top, the subplot titles under it
        fig.update_layout(title=dict(y=1, yref="container", yanchor="top", pad=dict(t=8)))
    if legend_px:  # under the x axis titles (never up: a chart may have put it lower on purpose)
        fig.update_layout(legend=dict(y=min(lay.legend.y, -below / plot_h), yanchor="top"))


def gate_heatmap(
    frame: pd.DataFrame,
    tokens: Sequence[str],
    quantity: str,
    title: str | None = None,
    unknown: Sequence[bool] | None = None,
    labels: Mapping[str, str] | None = None,
    order: Sequence[int] | None = None,
    range_values: np.ndarray | None = None,
    all_ticks: bool = False,
    first_step: int = 0,
    zmin: float | None = None,
    zmax: float | None = None,
) -> go.Figure:
    """Heatmap of one recorded quantity: units (rows) by tokens (columns).

    Args:
        frame: Tidy frame with columns ``step``, ``unit``, ``value`` for one sequence,
            one module, one layer and one direction (e.g. a filtered ``Recording.to_frame()``);
            a repeated ``(step, unit)`` pair is a ValueError.
        tokens: Token surfaces, one per step (shown escaped on the x axis).
        quantity: The quantity shown; picks the fixed colour range (:func:`color_range`).
        title: Optional title (escaped).
        unknown: Optional per-token UNK flags (marked ``⁇`` in the labels).
        labels: Overrides of :data:`DEFAULT_LABELS` (axis titles, legend suffixes).
        order: Units top to bottom (e.g. :func:`lstmviz.diagnostics.unit_order`); default 0..U-1. The rows
            are labelled with the unit numbers, so a reordered heatmap still names every unit; a subset of the
            units draws only those rows (up to :data:`READABLE_ROWS` rows get 16 px each, every number legible).
        range_values: Values whose colour range (:func:`color_range`) is used instead of the shown ones', e.g.
            the whole text's while a playback shows a prefix, so that the scale of ``c`` stays put as it plays.
        all_ticks: Label every token (one-character tokens: upright, font sized by :func:`char_tick_size`)
            instead of thinning the labels to :data:`MAX_TOKEN_TICKS`.
        first_step: Step number of the first token (a window of a longer text): the x values, tick positions
            and hovers count from it; the frame's steps stay 0-based within the window.
        zmin: Lower end of the colour range instead of :func:`color_range`'s (e.g. one range for several figures).
        zmax: Upper end of the colour range instead of :func:`color_range`'s.

    Returns:
        A figure with one ``Heatmap`` trace whose ``z`` is ``(units, steps)`` in ``order``.

    Example:
        >>> df = pd.DataFrame({"step": [0, 1, 0, 1], "unit": [0, 0, 1, 1], "value": [.1, .2, .3, .4]})
        >>> gate_heatmap(df, ["a", "b"], "forget").data[0].z.shape
        (2, 2)
    """
    L = _labels(labels)
    _check_columns(frame, ("step", "unit", "value"), "gate_heatmap")
    steps = len(tokens)
    units = int(frame["unit"].max()) + 1 if len(frame) else 0
    z = np.full((units, steps), np.nan)  # (units, T)
    if len(frame):
        s = frame["step"].to_numpy(dtype=int)
        u = frame["unit"].to_numpy(dtype=int)
        if np.bincount(s * max(units, 1) + u).max() > 1:
            # One cell per (step, unit): rows of two modules (or layers, directions, sequences) would overwrite
            # each other in the grid without a trace, so the caller picks one.
            ids = ("module", "layer", "direction", "batch", "quantity")
            mixed = [c for c in ids if c in frame.columns and frame[c].nunique() > 1]
            raise ValueError(
                "gate_heatmap needs one value per step and unit (one module, layer, direction and sequence); "
                f"the frame repeats (step, unit) pairs{' across ' + ', '.join(mixed) if mixed else ''}: filter it first"
            )
        keep = s < steps
        z[u[keep], s[keep]] = frame["value"].to_numpy(dtype=float)[keep]
    zmin, zmax, scale = _zrange(color_range(quantity, z if range_values is None else range_values), zmin, zmax)
    rows = list(range(units)) if order is None else [int(u) for u in order]
    if len(set(rows)) != len(rows) or not set(rows) <= set(range(units)) or (units and not rows):
        raise ValueError(f"order must be distinct units of 0..{units - 1} (all or some), got {rows[:10]}")
    z = z[rows]  # (units, T) in display order
    # The token in every cell's hover costs steps x units strings: only for texts short enough; a long
    # text's hover gives the token index (the token table and the axis name it).
    hover = None
    if steps * len(rows) <= HOVER_TOKEN_CELLS:
        labels = token_labels(tokens, unknown)
        # "#t token": plotly's %{x} would print the axis tick text (the token again), not the index
        hover = np.array([[f"#{first_step + t} {labels[t]}" for t in range(steps)] for _ in rows], dtype=object)
    # Few rows get 16 px each, so that every unit number is printed (plotly skips category labels that collide)
    height = max(220, min(900, 60 + (16 if len(rows) <= READABLE_ROWS else 8) * len(rows)))
    fig = go.Figure(
        go.Heatmap(
            z=z,
            x=list(range(first_step, first_step + steps)),
            y=[str(u) for u in rows],  # categories in display order: hover and ticks give the unit number
            zmin=zmin,
            zmax=zmax,
            colorscale=scale,
            customdata=hover,
            hovertemplate=f"{L['hover_token']} "
            + ("%{customdata}" if hover is not None else "%{x}")
            + f"<br>{L['unit']} %{{y}}<br>{L['value']} %{{z:.4g}}<extra></extra>",  # the 4 digits sent
            colorbar=_colorbar(height, title, L.get(f"q_{quantity}", esc(quantity))),
        )
    )
    _token_axis(fig, tokens, unknown, every=all_ticks, first=first_step)
    fig.update_yaxes(title_text=L["unit"], autorange="reversed", type="category")
    return _layout(fig, title, height=height)


def unit_lines(
    frame: pd.DataFrame,
    tokens: Sequence[str],
    title: str | None = None,
    labels: Mapping[str, str] | None = None,
) -> go.Figure:
    """Line chart of one unit's signals through time (unit drill-down).

    Args:
        frame: Tidy frame with columns ``series`` (e.g. ``forget``, ``cell``), ``step``, ``value``; optional
            ``module``, ``layer``, ``direction`` columns with several values get one line per value. A
            ``Recording.to_frame()`` of one unit works as it comes: without ``series`` the lines are named by
            :func:`with_series` and the quantity (``"l0 · forget"``).
        tokens: Token surfaces for the x axis.
        title: Optional title (escaped).
        labels: Overrides of :data:`DEFAULT_LABELS` (axis titles, legend suffixes).

    Returns:
        A figure with one ``Scatter`` line per series, each in its own colour and marker (:func:`series_styles`);
        a line that another one repeats is drawn wider beneath it.

    Example:
        >>> df = pd.DataFrame({"series": ["forget"] * 2, "step": [0, 1], "value": [.2, .9]})
        >>> len(unit_lines(df, ["a", "b"]).data)
        1
    """
    L = _labels(labels)
    derived = "series" not in frame.columns
    frame = with_series(frame)
    _check_columns(frame, ("series", "step", "value"), "unit_lines")
    if "unit" in frame.columns and frame["unit"].nunique() > 1:
        units = sorted(int(u) for u in frame["unit"].unique())
        raise ValueError(f"unit_lines draws one unit; the frame holds units {units[:10]}: filter it to one first")
    if derived:  # the series names the source already: split by quantity only
        split, keys = [], ["series", *(["quantity"] if "quantity" in frame.columns else [])]
    else:
        # Rows of several modules (or layers, directions) under one series name, e.g. a filtered
        # Recording.to_frame() of an encoder-decoder, get one line each: joined they would zigzag between two signals.
        split = [c for c in ("module", "layer", "direction") if c in frame.columns and frame[c].nunique() > 1]
        keys = [*split, "series"]
    lines = []
    for key, part in frame.groupby(keys, sort=False, observed=True):
        if derived:
            name = " · ".join(str(k) for k in key)
        else:
            *where, series = key
            name = " · ".join([*(f"l{w}" if c == "layer" else str(w) for c, w in zip(split, where)), str(series)])
        lines.append((name, part.sort_values("step")))
    styles = series_styles([name for name, _ in lines], by_cell=not derived)
    under = _coincide_widths([(p["step"].to_numpy(float), p["value"].to_numpy(float)) for _, p in lines])
    fig = go.Figure()
    for (name, part), wide in zip(lines, under):
        st = styles[name]
        fig.add_trace(
            go.Scatter(
                x=part["step"],
                y=part["value"],
                mode="lines+markers",
                name=esc(name),
                line=dict(color=st["color"], width=2 + 2 * wide),
                marker=dict(color=st["color"], symbol=st["symbol"], size=6 + 3 * wide),
            )
        )
    _token_axis(fig, tokens)
    fig.update_yaxes(title_text=L["value"])
    return _layout(fig, title, height=320)


def gates(
    rec: Any,
    key: str,
    tokens: Sequence[str] | None = None,
    batch: int = 0,
    title: str | None = None,
    labels: Mapping[str, str] | None = None,
    zmin: float | None = None,
    zmax: float | None = None,
) -> go.Figure:
    """The dashboard's heatmap of one recorded quantity, straight from a :class:`~lstmviz.recording.Recording`
    (for notebooks; a recording read back by :meth:`Recording.load <lstmviz.recording.BaseRecording.load>` works too).

    Args:
        rec: A recording (``with lstmviz.record(model) as rec: ...``).
        key: A recording key, e.g. ``"l0.forget"``, ``"rnn.l1.rev.cell"`` or ``"l0.grad_hidden"``.
        tokens: Tick labels, one per step (default: the step numbers).
        batch: Which sequence of the batch.
        title: Figure title (default: the key).
        labels: Overrides of :data:`DEFAULT_LABELS`.
        zmin: Lower end of the colour range (default: :func:`color_range`'s for the quantity).
        zmax: Upper end of the colour range.

    Returns:
        A figure: units (rows) by steps (columns), the quantity's fixed colour range (gradients: symmetric
        around 0 up to their largest ``|value|``); steps past the sequence's length are left out.

    Example:
        >>> import torch, lstmviz
        >>> lstm = torch.nn.LSTM(3, 4, batch_first=True)
        >>> with lstmviz.record(lstm) as rec:
        ...     _ = lstm(torch.randn(1, 5, 3))
        >>> gates(rec, "l0.forget").data[0].z.shape
        (4, 5)
    """
    from lstmviz.names import canonical_key, parse_key

    parts = parse_key(canonical_key(key))
    x = rec[key]  # (B, T, U)
    if not -x.shape[0] <= int(batch) < x.shape[0]:
        raise ValueError(f"batch={batch!r} is out of range; allowed: 0..{x.shape[0] - 1}")
    values = x[int(batch)].detach().cpu().numpy()  # (T, U); NaN past the length
    valid = ~np.isnan(values).all(axis=1)
    steps = int(valid.nonzero()[0].max()) + 1 if valid.any() else 0
    values = values[:steps]
    T, U = values.shape
    frame = pd.DataFrame(
        {"step": np.repeat(np.arange(T), U), "unit": np.tile(np.arange(U), T), "value": values.reshape(-1)}
    )
    tokens = [str(t) for t in tokens[:T]] if tokens is not None else [str(i) for i in range(T)]
    return gate_heatmap(frame, tokens, parts.quantity, title=title or key, labels=labels, zmin=zmin, zmax=zmax)


def connectivity_heatmap(
    matrix: np.ndarray,
    tokens: Sequence[str],
    title: str | None = None,
    labels: Mapping[str, str] | None = None,
    per_row: bool = False,
    all_ticks: bool = False,
    zmin: float | None = None,
    zmax: float | None = None,
) -> go.Figure:
    """``log10 ‖∂ loss_t / ∂ x_s‖`` as a heatmap: output step t (rows) by input step s (columns).

    Exact zeros (a unidirectional model never looks ahead: s > t) are left blank, not drawn as a colour.
    With ``per_row`` each row is divided by its own maximum first, so a row shows *where* step t looks
    however large its loss is (otherwise rows of confident predictions, with small losses, look dark).
    With ``all_ticks`` (one-character tokens) both axes label every token instead of thinning the labels.
    ``zmin``/``zmax`` fix the colour range in log10 units (default: the data's own).

    Example:
        >>> z = connectivity_heatmap(np.array([[1.0, 0.0], [0.1, 1.0]]), ["a", "b"]).data[0].z
        >>> z[1].tolist(), bool(np.isnan(z[0][1]))
        ([-1.0, 0.0], True)
    """
    L = _labels(labels)
    if zmin is not None and zmax is not None:
        _zrange((0.0, 1.0, ""), zmin, zmax)  # refuses zmin >= zmax
    m = np.asarray(matrix, dtype=float)
    if per_row:
        top = m.max(axis=1, keepdims=True) if m.size else m
        m = np.divide(m, top, out=np.zeros_like(m), where=top > 0)
    with np.errstate(divide="ignore"):
        z = np.where(m > 0, np.log10(np.where(m > 0, m, 1.0)), np.nan)
    bar = L["log_conn_row"] if per_row else L["log_conn"]
    height = max(420, min(900, 170 + 22 * len(tokens)))  # >= ~18 px per row: every word's label stays legible
    fig = go.Figure(
        go.Heatmap(
            z=z,
            x=list(range(len(tokens))),
            y=list(range(len(tokens))),
            colorscale=MAGNITUDE_COLORSCALE,
            zmin=None if zmin is None else float(zmin),
            zmax=None if zmax is None else float(zmax),
            colorbar=_colorbar(height, title, bar),
            hovertemplate=f"t %{{y}}<br>s %{{x}}<br>{esc(bar)} %{{z:.2f}}<extra></extra>",
        )
    )
    _token_axis(fig, tokens, every=all_ticks)
    vals, text = token_ticks(tokens, max_ticks=max(len(tokens), 1) if all_ticks else MAX_TOKEN_TICKS)
    fig.update_yaxes(
        autorange="reversed",
        title_text=L["conn_y"],
        tickmode="array",
        tickvals=vals,
        ticktext=text,
        **({"tickfont": dict(size=char_tick_size(len(vals)))} if all_ticks else {}),
    )
    fig.update_xaxes(title_text=L["conn_x"])
    return _layout(fig, title, height=height)


def unit_histogram(
    frame: pd.DataFrame,
    threshold: float | None = None,
    title: str | None = None,
    labels: Mapping[str, str] | None = None,
) -> go.Figure:
    """One unit's activation histogram over a corpus (bars from a ``lo, hi, count`` frame), the threshold dashed.

    Example:
        >>> f = unit_histogram(pd.DataFrame({"lo": [0.0, 0.5], "hi": [0.5, 1.0], "count": [3, 1]}), threshold=0.3)
        >>> f.data[0].y.tolist(), len(f.layout.shapes)
        ([3, 1], 1)
    """
    L = _labels(labels)
    _check_columns(frame, ("lo", "hi", "count"), "unit_histogram")
    mid, width = (frame["lo"] + frame["hi"]) / 2, frame["hi"] - frame["lo"]
    fig = go.Figure(
        go.Bar(
            x=mid,
            y=frame["count"],
            width=width,
            marker_color="#1f77b4",
            hovertemplate=f"{esc(L['value'])} %{{x:.3f}}<br>{esc(L['count'])} %{{y}}<extra></extra>",
        )
    )
    if threshold is not None:
        fig.add_vline(x=threshold, line=dict(color="#d62728", dash="dash"))
    fig.update_xaxes(title_text=L["value"])
    fig.update_yaxes(title_text=L["count"])
    return _layout(fig, title, height=280)


def probability_lines(
    frame: pd.DataFrame,
    tokens: Sequence[str],
    title: str | None = None,
    labels: Mapping[str, str] | None = None,
) -> go.Figure:
    """Class probabilities after each prefix of the text, one line per class.

    Args:
        frame: Tidy frame with columns ``step`` (last token of the prefix), ``label``, ``prob``.
        tokens: Token surfaces for the x axis.
        title: Optional title (escaped).
        labels: Overrides of :data:`DEFAULT_LABELS` (axis titles, legend suffixes); ``class_<label>`` gives the
            name a class is shown as, when the frame's ``label`` holds shown names (a translation): each line
            keeps its class's colour (:func:`class_color`) whatever the language or display mode.

    Returns:
        A figure with one ``Scatter`` per class, y in [0, 1].

    Example:
        >>> df = pd.DataFrame({"step": [0, 0], "label": ["negative", "позитив"], "prob": [.3, .7]})
        >>> fig = probability_lines(df, ["a"], labels={"class_positive": "позитив"})
        >>> [(t.name, t.line.color) for t in fig.data]
        [('negative', '#d62728'), ('позитив', '#2ca02c')]
    """
    L = _labels(labels)
    _check_columns(frame, ("step", "label", "prob"), "probability_lines")
    shown = {L[f"class_{c}"]: c for c in CLASS_COLORS if f"class_{c}" in L}  # shown name -> class
    fig = go.Figure()
    for k, (name, part) in enumerate(frame.groupby("label", sort=False)):
        part = part.sort_values("step")
        cls = shown.get(esc(name), str(name))
        color = class_color(cls, k)
        fig.add_trace(
            go.Scatter(
                x=part["step"],
                y=part["prob"],
                mode="lines+markers",
                name=esc(name),
                line=dict(color=color),
                marker=dict(color=color, symbol=CLASS_SYMBOLS.get(cls, "circle")),
            )
        )
    _token_axis(fig, tokens)
    fig.update_yaxes(title_text=L["prob"], range=[0, 1])
    return _layout(fig, title, height=300)


def colored_text_data(tokens: Sequence[str], values: Sequence[float], per_row: int | None = None) -> pd.DataFrame:
    """Lays tokens out in rows for a coloured-text view (Karpathy 2015 style).

    Args:
        tokens: Token surfaces (raw; escaping happens in :func:`colored_text_figure`).
        values: One value per token (a unit's activation, a saliency, ...).
        per_row: Tokens per line of the layout; default: as many as fit ~110 characters
            (4 to 14), so long words do not overflow their cells.

    Returns:
        Tidy frame with columns ``step``, ``token``, ``value``, ``row``, ``col``.

    Example:
        >>> colored_text_data(["a", "b", "c"], [1, 2, 3], per_row=2)["row"].tolist()
        [0, 0, 1]
    """
    if len(tokens) != len(values):
        raise ValueError(f"got {len(tokens)} tokens and {len(values)} values; allowed: equal lengths")
    if per_row is None:
        longest = max((len(shorten(t)) for t in tokens), default=1)  # as displayed
        per_row = max(4, min(14, 110 // max(longest, 1)))
    if per_row < 1:
        raise ValueError(f"per_row={per_row!r} is invalid; allowed: an integer >= 1")
    steps = np.arange(len(tokens))
    return pd.DataFrame(
        {
            "step": steps,
            "token": [str(t) for t in tokens],
            "value": np.asarray(values, dtype=float),
            "row": steps // per_row,
            "col": steps % per_row,
        }
    )


def colored_text_figure(
    data: pd.DataFrame,
    zmin: float | None = None,
    zmax: float | None = None,
    colorscale: str = SIGNED_COLORSCALE,
    title: str | None = None,
    labels: Mapping[str, str] | None = None,
) -> go.Figure:
    """Text coloured by a value, drawn as a heatmap whose cells carry the (escaped) tokens.

    A plotly figure rather than HTML, so user text never reaches ``unsafe_allow_html``.

    Args:
        data: Output of :func:`colored_text_data`.
        zmin: Lower end of the colour range (default: data min, or symmetric for diverging scales).
        zmax: Upper end of the colour range.
        colorscale: A plotly colour scale name.
        title: Optional title (escaped).

        labels: Overrides of :data:`DEFAULT_LABELS` (axis titles, legend suffixes).
    Returns:
        A figure with one ``Heatmap`` trace; ``text`` holds the escaped tokens.

    Example:
        >>> fig = colored_text_figure(colored_text_data(["<b>x</b>"], [0.5]))
        >>> fig.data[0].text[0][0]
        '&lt;b&gt;x&lt;/b&gt;'
    """
    _check_columns(data, ("step", "token", "value", "row", "col"), "colored_text_figure")
    rows = int(data["row"].max()) + 1 if len(data) else 1
    cols = int(data["col"].max()) + 1 if len(data) else 1
    z = np.full((rows, cols), np.nan)
    text = np.full((rows, cols), "", dtype=object)
    hover = np.full((rows, cols), "", dtype=object)
    for r, c, tok, v, s in data[["row", "col", "token", "value", "step"]].itertuples(index=False):
        z[r, c] = v
        text[r, c] = esc(shorten(tok))
        hover[r, c] = f"#{s} {esc(shorten(tok))}"  # the value is formatted by the browser (%{z}), not here
    finite = z[np.isfinite(z)]
    if zmin is None or zmax is None:
        if not finite.size:
            lo, hi = 0.0, 1.0
        elif colorscale == SIGNED_COLORSCALE:  # diverging: keep 0 in the middle
            m = float(np.abs(finite).max()) or 1.0
            lo, hi = -m, m
        else:
            lo, hi = float(finite.min()), float(finite.max())
            hi = hi if hi > lo else lo + 1.0
        zmin = lo if zmin is None else zmin
        zmax = hi if zmax is None else zmax
    # >= 80 px of plot area per strip: room for a colour bar with three readable tick labels.
    height = max(60 + 36 * rows, (50 if title else 20) + 40 + 80)
    fig = go.Figure(
        go.Heatmap(
            colorbar=_colorbar(height, title),
            z=z,
            text=text,
            customdata=hover,
            texttemplate="%{text}",
            textfont=dict(size=13),
            hovertemplate="%{customdata}: %{z:.4g}<extra></extra>",
            zmin=zmin,
            zmax=zmax,
            colorscale=colorscale,
            xgap=2,
            ygap=2,
        )
    )
    fig.update_xaxes(visible=False)
    fig.update_yaxes(visible=False, autorange="reversed")
    return _layout(fig, title, height=height)


def grad_norm_curves(
    frame: pd.DataFrame,
    x: str = "step",
    tokens: Sequence[str] | None = None,
    bound: pd.DataFrame | None = None,
    title: str | None = None,
    labels: Mapping[str, str] | None = None,
    value: str = "norm",
) -> go.Figure:
    """Gradient norms through time on one log axis; one trace per series and quantity.

    A norm of exactly 0 (underflow) cannot sit on a log axis: it is drawn at
    :data:`UNDERFLOW_FLOOR` with an ``x`` marker and says so on hover, never dropped. Every series has
    its own colour and marker (:func:`series_styles`: a caller's series named after cells keep the cell
    colours), ``‖∂L/∂c_t‖`` is dashed, and a line that another one repeats is drawn wider beneath it.

    Args:
        frame: Tidy frame with columns ``series`` (e.g. the cell type ``rnn``/``gru``/``lstm``),
            ``quantity`` (``grad_hidden`` | ``grad_cell``), ``step``, ``distance`` and ``value``; optional
            ``module``, ``layer``, ``direction`` columns with several values get one line per value.
            ``Recording.grad_norms()`` works as it comes: a missing ``series`` or ``distance`` is
            derived by :func:`with_series` (one line per module, layer, direction and batch row).
        x: ``"step"`` (token index; tokens on the axis) or ``"distance"`` (T-1-t).
        tokens: Token surfaces used as tick labels when ``x="step"``.
        bound: Optional frame with ``series``, ``step``, ``distance``, ``bound`` (``bound_rel``
            when ``value="norm_rel"``): the Pascanu et al. 2013 upper bound, drawn dotted.
        title: Optional title (escaped).
        value: ``"norm"`` (raw ``||dL/dh_t||``) or ``"norm_rel"`` (divided by its value where the
            loss enters, so every curve starts at 1 at the last token).

        labels: Overrides of :data:`DEFAULT_LABELS` (axis titles, legend suffixes).
    Returns:
        A figure with a log-scaled y axis.

    Example:
        >>> df = pd.DataFrame({"series": "rnn", "quantity": "grad_hidden", "step": [0, 1],
        ...                    "distance": [1, 0], "norm": [0.01, 1.0]})
        >>> grad_norm_curves(df).layout.yaxis.type
        'log'
    """
    L = _labels(labels)
    if x not in ("step", "distance"):
        raise ValueError(f"x={x!r} is invalid; allowed: step, distance")
    if value not in ("norm", "norm_rel"):
        raise ValueError(f"value={value!r} is invalid; allowed: norm, norm_rel")
    derived = "series" not in frame.columns
    frame = with_series(frame)
    _check_columns(frame, ("series", "quantity", "step", "distance", value), "grad_norm_curves")
    fig = go.Figure()
    # Rows of several modules (or layers, directions) under one series, e.g. a grad_norms() frame given one series
    # name, get one line each: joined they would zigzag between two modules' steps. A derived series names them.
    split = (
        []
        if derived
        else [c for c in ("module", "layer", "direction") if c in frame.columns and frame[c].nunique() > 1]
    )
    lines = []
    for (series, quantity, *where), part in frame.groupby(["series", "quantity", *split], sort=False, observed=True):
        source = " · ".join([str(series), *(f"l{w}" if c == "layer" else str(w) for c, w in zip(split, where))])
        lines.append((source, quantity, part.sort_values(x)))
    styles = series_styles([source for source, _, _ in lines], by_cell=not derived)
    under = _coincide_widths([(p[x].to_numpy(float), p[value].to_numpy(float)) for _, _, p in lines])
    for (source, quantity, part), wide in zip(lines, under):
        label = f"{source} ‖∂L/∂{'c' if quantity == 'grad_cell' else 'h'}_t‖"
        st = styles[source]
        y, symbols, notes = _log_points(part[value], st["symbol"], label, L["underflow"])
        fig.add_trace(
            go.Scatter(
                x=part[x],
                y=y,
                mode="lines+markers",
                name=esc(label),
                marker=dict(symbol=symbols, size=5 + 3 * wide, color=st["color"]),
                customdata=notes,
                hovertemplate="%{customdata}<br>%{x}: %{y:.3e}<extra></extra>",
                line=dict(color=st["color"], width=2 + 2 * wide, dash="dash" if quantity == "grad_cell" else "solid"),
            )
        )
    if bound is not None and len(bound):
        col = "bound_rel" if value == "norm_rel" else "bound"
        _check_columns(bound, ("series", "step", "distance", col), "grad_norm_curves bound")
        for series, part in bound.groupby("series", sort=False):
            part = part.sort_values(x)
            fig.add_trace(
                go.Scatter(
                    x=part[x],
                    y=part[col].where(part[col] > 0),  # the bound is a power of σ_max < 1: positive until 1e-308
                    mode="lines",
                    name=esc(f"{series} ") + L["bound"],
                    line=dict(dash="dot", color="gray"),
                )
            )
    fig.update_yaxes(
        type="log", exponentformat="power", title_text=L["grad_rel" if value == "norm_rel" else "grad_norm"]
    )
    fig.update_xaxes(title_text=L[x])
    if x == "step":
        _token_axis(fig, tokens)
    return _layout(fig, title, height=380)


def forget_product_figure(
    frame: pd.DataFrame,
    tokens: Sequence[str] | None = None,
    title: str | None = None,
    labels: Mapping[str, str] | None = None,
) -> go.Figure:
    """Forget-gate running product beside ‖∂L/∂c_t‖, both on a log axis.

    ``∂c_T/∂c_t = Π_{k=t+1..T} f_k`` (element-wise) is why the cell gradient survives when
    forget gates stay near 1; the two curves should have the same shape.

    Args:
        frame: Tidy frame with columns ``step``, ``forget_product``, ``grad_cell``
            (optionally ``series`` for several models).
        tokens: Token surfaces for the x axis.
        title: Optional title (escaped).

        labels: Overrides of :data:`DEFAULT_LABELS` (axis titles, legend suffixes).
    Returns:
        A figure with two traces per series on a log-scaled y axis.

    Example:
        >>> df = pd.DataFrame({"step": [0, 1], "forget_product": [.5, 1.], "grad_cell": [.1, .2]})
        >>> len(forget_product_figure(df).data)
        2
    """
    L = _labels(labels)
    _check_columns(frame, ("step", "forget_product", "grad_cell"), "forget_product_figure")
    frame = frame if "series" in frame.columns else frame.assign(series="lstm")
    colors = model_colors(list(frame["series"]))  # two LSTM runs: two colours
    fig = go.Figure()
    for series, part in frame.groupby("series", sort=False):
        part = part.sort_values("step")
        for col, label, dash in (
            ("forget_product", DEFAULT_LABELS["forget_product"], "dot"),
            ("grad_cell", "‖∂L/∂c_t‖", "solid"),
        ):
            y = part[col].astype(float)
            fig.add_trace(
                go.Scatter(
                    x=part["step"],
                    y=y.where(y > 0),
                    mode="lines+markers",
                    name=esc(f"{series}: ") + (L["forget_product"] if col == "forget_product" else esc(label)),
                    line=dict(dash=dash, color=colors[series]),
                )
            )
    fig.update_yaxes(type="log", exponentformat="power", title_text=L["value"])
    fig.update_xaxes(title_text=L["step"])
    _token_axis(fig, tokens)
    return _layout(fig, title, height=340)


def training_curves(
    frame: pd.DataFrame,
    title: str | None = None,
    metrics: Sequence[str] = ("loss", "acc", "f1"),
    labels: Mapping[str, str] | None = None,
    baselines: Sequence[tuple[str, str, float]] = (),
) -> go.Figure:
    """Loss / accuracy / macro-F1 per epoch; train solid, val (or test) dashed; models overlaid.

    Every model has its own colour in every subplot (:func:`model_colors`); the epoch axes show whole numbers only.

    Args:
        frame: Tidy frame with columns ``model``, ``epoch``, ``split`` (train | val | test),
            ``metric`` (loss | acc | f1), ``value``.
        title: Optional title (escaped).
        metrics: Which metrics get a subplot, in order.
        labels: Overrides of :data:`DEFAULT_LABELS` (axis titles, legend suffixes).
        baselines: ``(metric, name, value)`` reference levels drawn near-black on that metric's subplot, one dash
            and one legend entry per name, e.g. ``("acc", "chance", 0.25)``, ``("acc", "majority class", 0.51)``
            and ``("f1", "majority class", 0.17)``; levels of metrics not shown are skipped.

    Returns:
        A figure with one subplot per metric.

    Example:
        >>> df = pd.DataFrame({"model": "lstm", "epoch": [1, 1], "split": ["train", "val"],
        ...                    "metric": ["loss", "loss"], "value": [1.0, 1.1]})
        >>> fig = training_curves(df)
        >>> len(fig.data), fig.layout.xaxis.dtick
        (2, 1)
    """
    L = _labels(labels)
    _check_columns(frame, ("model", "epoch", "split", "metric", "value"), "training_curves")
    allowed = ("loss", "acc", "f1")
    bad = [m for m in metrics if m not in allowed]
    if bad or not metrics:
        raise ValueError(f"metrics={list(metrics)!r} is invalid; allowed: a non-empty subset of {list(allowed)}")
    metrics = tuple(metrics)
    fig = make_subplots(rows=1, cols=len(metrics), subplot_titles=[L[m] for m in metrics])
    colors, shown = model_colors(list(frame["model"])), set()
    for (model, split, metric), part in frame.groupby(["model", "split", "metric"], sort=False):
        if metric not in metrics:
            continue
        part = part.sort_values("epoch")
        fig.add_trace(
            go.Scatter(
                x=part["epoch"],
                y=part["value"],
                mode="lines+markers",
                name=esc(model) + " " + L.get(split, esc(split)),
                legendgroup=esc(model),
                showlegend=(model, split) not in shown,
                line=dict(color=colors[model], dash="solid" if split == "train" else "dash"),
                marker=dict(color=colors[model]),
            ),
            row=1,
            col=metrics.index(metric) + 1,
        )
        shown.add((model, split))
    # Reference levels are legend entries, not annotations: a name wider than a narrow panel would cover the lines.
    first, top = (float(frame["epoch"].min()), float(frame["epoch"].max())) if len(frame) else (0.0, 1.0)
    dashes, shown_levels = {}, set()
    for metric, name, value in baselines:
        if metric not in metrics or value is None or not math.isfinite(value):
            continue
        dash = dashes.setdefault(name, _LEVEL_DASHES[len(dashes) % len(_LEVEL_DASHES)])
        fig.add_trace(
            go.Scatter(
                x=[first, top],
                y=[value, value],
                mode="lines",
                name=esc(name),
                legendgroup=f"level {esc(name)}",
                showlegend=name not in shown_levels,
                line=dict(color=_LEVEL_COLOR, dash=dash, width=1.5),
                hovertemplate=esc(name) + ": %{y:.3f}<extra></extra>",
            ),
            row=1,
            col=metrics.index(metric) + 1,
        )
        shown_levels.add(name)
    fig.update_xaxes(title_text=L["epoch"], **integer_ticks(top))
    return _layout(fig, title, height=360)


_LEVEL_DASHES = ("dot", "dashdot", "longdash")  # reference levels: none is the dash of a validation curve
_LEVEL_COLOR = "#333333"  # near black: grey is the bag-of-words model's colour


def integer_ticks(top: float, most: int = 6) -> dict[str, Any]:
    """Axis settings for whole-number ticks (epochs, updates) from 0 to ``top``: a step of 1, 2, 5, 10, 20, ...
    giving at most ``most`` ticks, printed without decimals (plotly's own choice for 1..3 is 0.5).

    Example:
        >>> integer_ticks(3), integer_ticks(20)["dtick"]
        ({'tick0': 0, 'dtick': 1, 'tickformat': 'd'}, 5)
    """
    step = next(s for s in (m * 10**e for e in range(16) for m in (1, 2, 5)) if max(top, 1) / s <= most)
    return {"tick0": 0, "dtick": step, "tickformat": "d"}


def log_range(frames: Sequence[pd.DataFrame], column: str = "norm") -> tuple[float, float] | None:
    """The (min, max) of log10 of the positive values of ``column`` over several frames (None if none).

    Example:
        >>> log_range([pd.DataFrame({"norm": [1e-3, 0.0]}), pd.DataFrame({"norm": [10.0]})])
        (-3.0, 1.0)
    """
    values = np.concatenate([f[column].to_numpy(dtype=float) for f in frames]) if frames else np.array([])
    values = values[values > 0]
    if not values.size:
        return None
    return float(np.log10(values.min())), float(np.log10(values.max()))


def grad_profile_heatmap(
    frame: pd.DataFrame,
    title: str | None = None,
    labels: Mapping[str, str] | None = None,
    zrange: tuple[float, float] | None = None,
) -> go.Figure:
    """Epoch × distance-from-end heatmap of log10 mean ‖∂L/∂h_t‖ (how training changes it).

    Args:
        frame: Tidy frame with columns ``epoch``, ``distance``, ``norm``.
        title: Optional title (escaped).
        zrange: ``(zmin, zmax)`` in log10 units; pass the same range to every model's heatmap
            (:func:`log_range`) so the colours compare across models.

        labels: Overrides of :data:`DEFAULT_LABELS` (axis titles, legend suffixes).
    Returns:
        A figure with one ``Heatmap`` trace, ``z`` = log10(norm), rows = epochs.

    Example:
        >>> df = pd.DataFrame({"epoch": [1, 1], "distance": [0, 1], "norm": [1.0, 0.1]})
        >>> grad_profile_heatmap(df).data[0].z.tolist()
        [[0.0, -1.0]]
    """
    L = _labels(labels)
    _check_columns(frame, ("epoch", "distance", "norm"), "grad_profile_heatmap")
    table = frame.pivot_table(index="epoch", columns="distance", values="norm", aggfunc="mean")
    values = table.to_numpy(dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        z = np.where(values > 0, np.log10(np.where(values > 0, values, 1.0)), np.nan)  # (epochs, distances)
    fig = go.Figure(
        go.Heatmap(
            z=z,
            x=[int(d) for d in table.columns],
            y=[int(e) for e in table.index],
            colorscale=MAGNITUDE_COLORSCALE,
            zmin=None if zrange is None else zrange[0],
            zmax=None if zrange is None else zrange[1],
            colorbar=_colorbar(320, title, L["log_grad"]),
            hovertemplate=f"{L['epoch']} %{{y}}<br>{L['distance']} %{{x}}<br>{L['log_grad']} %{{z:.2f}}<extra></extra>",
        )
    )
    fig.update_xaxes(title_text=L["distance"])
    fig.update_yaxes(title_text=L["epoch"])
    return _layout(fig, title, height=320)


def reach_curves(
    frame: pd.DataFrame,
    tokens: Sequence[str] | None = None,
    x: str = "distance",
    title: str | None = None,
    labels: Mapping[str, str] | None = None,
) -> go.Figure:
    """Loss-free reach ``||∂h_T/∂s_t||_2`` through time, one line per model, on a log axis.

    Zeros (below float64's range) are drawn at :data:`UNDERFLOW_FLOOR` as ``x``, never dropped.

    Args:
        frame: Tidy frame with ``series``, ``step``, ``distance``, ``reach`` (:func:`lstmviz.diagnostics.reach_frame`).
        tokens: Token surfaces for the axis when ``x="step"``.
        x: ``"distance"`` or ``"step"``.
        title: Optional title (escaped).
        labels: Overrides of :data:`DEFAULT_LABELS`.

    Returns:
        A figure with one trace per series; line styles differ per cell so none hides another.

    Example:
        >>> df = pd.DataFrame({"series": "rnn", "step": [0, 1], "distance": [1, 0], "reach": [1e-3, 1.0]})
        >>> reach_curves(df).layout.yaxis.type
        'log'
    """
    L = _labels(labels)
    if x not in ("step", "distance"):
        raise ValueError(f"x={x!r} is invalid; allowed: step, distance")
    _check_columns(frame, ("series", "step", "distance", "reach"), "reach_curves")
    # one colour per series, the first of each cell type in the cell's colour (the cell column names it when the
    # series name does not)
    cells = frame["cell"] if "cell" in frame.columns else frame["series"]
    named = {s: s if _cell_color(s) is not None else f"{s} {c}" for s, c in zip(frame["series"], cells)}
    colors = model_colors(list(named.values()))
    fig = go.Figure()
    for series, part in frame.groupby("series", sort=False):
        part = part.sort_values(x)
        cell = str(part["cell"].iloc[0]) if "cell" in part.columns else str(series)
        y, symbols, notes = _log_points(part["reach"], _CELL_SYMBOL.get(cell, "circle"), f"{series}", L["underflow"])
        fig.add_trace(
            go.Scatter(
                x=part[x],
                y=y,
                mode="lines+markers",
                name=esc(series),
                customdata=notes,
                marker=dict(symbol=symbols, size=5),
                hovertemplate="%{customdata}<br>%{x}: %{y:.3e}<extra></extra>",
                line=dict(color=colors[named[series]], dash=_CELL_DASH.get(cell, "solid")),
            )
        )
    fig.update_yaxes(type="log", exponentformat="power", title_text=L["reach"])
    fig.update_xaxes(title_text=L[x])
    if x == "step":
        _token_axis(fig, tokens)
    return _layout(fig, title, height=360)


def profile_pairs_heatmap(
    frame: pd.DataFrame,
    zrange: tuple[float, float] | None = None,
    title: str | None = None,
    labels: Mapping[str, str] | None = None,
) -> go.Figure:
    """Stored gradient profiles of several models at chosen epochs, one row each, on ONE colour scale.

    Args:
        frame: Tidy frame ``series, epoch, distance, norm`` (e.g. epoch 1 and the best epoch per model).
        zrange: ``(zmin, zmax)`` in log10 units (default: the frame's own range).
        title: Optional title (escaped).
        labels: Overrides of :data:`DEFAULT_LABELS`.

    Returns:
        A figure with one ``Heatmap``: rows "<series> · <epoch label> <n>", columns the distance from the end.

    Example:
        >>> df = pd.DataFrame({"series": "rnn", "epoch": [1, 1], "distance": [0, 1], "norm": [1.0, 0.01]})
        >>> profile_pairs_heatmap(df).data[0].z.tolist()
        [[0.0, -2.0]]
    """
    L = _labels(labels)
    _check_columns(frame, ("series", "epoch", "distance", "norm"), "profile_pairs_heatmap")
    order = list(dict.fromkeys(zip(frame["series"], frame["epoch"])))
    table = frame.pivot_table(index=["series", "epoch"], columns="distance", values="norm", aggfunc="mean")
    table = table.reindex(order)
    values = table.to_numpy(dtype=float)  # (rows, distances)
    with np.errstate(divide="ignore", invalid="ignore"):
        z = np.where(values > 0, np.log10(np.where(values > 0, values, 1.0)), np.nan)
    rows = [f"{esc(s)} · {L['epoch']} {int(e)}" for s, e in order]
    if zrange is None:
        zrange = log_range([frame])
    fig = go.Figure(
        go.Heatmap(
            z=z,
            x=[int(d) for d in table.columns],
            y=rows,
            colorscale=MAGNITUDE_COLORSCALE,
            zmin=None if zrange is None else zrange[0],
            zmax=None if zrange is None else zrange[1],
            colorbar=_colorbar(110 + 34 * len(rows), title, L["log_grad"]),
            hovertemplate="%{y}<br>" + L["distance"] + " %{x}<br>" + L["log_grad"] + " %{z:.2f}<extra></extra>",
        )
    )
    fig.update_xaxes(title_text=L["distance"])
    fig.update_yaxes(autorange="reversed")
    return _layout(fig, title, height=110 + 34 * len(rows))


def accuracy_vs_lag(
    frame: pd.DataFrame,
    chance: float | None = None,
    title: str | None = None,
    labels: Mapping[str, str] | None = None,
) -> go.Figure:
    """Test accuracy against the distance between cue and query, one line per cell.

    Args:
        frame: Tidy frame with columns ``model`` (or ``cell``), ``lag``, ``accuracy``.
        chance: Optional chance level drawn as a horizontal dotted line.
        title: Optional title (escaped).

        labels: Overrides of :data:`DEFAULT_LABELS` (axis titles, legend suffixes).
    Returns:
        A figure with one ``Scatter`` per model.

    Example:
        >>> df = pd.DataFrame({"model": ["rnn", "rnn"], "lag": [5, 50], "accuracy": [.9, .3]})
        >>> accuracy_vs_lag(df, chance=0.25).data[0].name
        'rnn'
    """
    L = _labels(labels)
    key = "model" if "model" in frame.columns else "cell"
    _check_columns(frame, (key, "lag", "accuracy"), "accuracy_vs_lag")
    colors = model_colors(list(frame[key]))
    fig = go.Figure()
    for model, part in frame.groupby(key, sort=False):
        part = part.sort_values("lag")
        fig.add_trace(
            go.Scatter(
                x=part["lag"],
                y=part["accuracy"],
                mode="lines+markers",
                name=esc(model),
                line=dict(color=colors[model]),
            )
        )
    if chance is not None and math.isfinite(chance):
        fig.add_hline(y=chance, line_dash="dot", line_color="gray", annotation_text=L["chance"])
    fig.update_xaxes(title_text=L["lag"])
    fig.update_yaxes(title_text=L["test_acc"], range=[0, 1.02])
    return _layout(fig, title, height=360)


def saturation_scatter(
    frame: pd.DataFrame, title: str | None = None, labels: Mapping[str, str] | None = None
) -> go.Figure:
    """Per-unit gate saturation: fraction of steps < 0.1 (x) against fraction > 0.9 (y).

    Units near the axes' ends act as switches (left-saturated or right-saturated, Karpathy
    et al. 2015); units near the origin stay in the gate's linear regime.

    Args:
        frame: Tidy frame with columns ``series`` (e.g. "this sentence", "corpus", "untrained"),
            ``quantity``, ``layer``, ``direction``, ``unit``, ``frac_low``, ``frac_high``; an optional
            ``module`` column with several values gets one trace per module (named in legend and hover).
        title: Optional title (escaped).

        labels: Overrides of :data:`DEFAULT_LABELS` (axis titles, legend suffixes).
    Returns:
        A figure with one marker trace per series and quantity (and module), axes on [0, 1].

    Example:
        >>> df = pd.DataFrame({"series": "s", "quantity": "forget", "layer": 0, "direction": "fwd",
        ...                    "unit": [0, 1], "frac_low": [.1, .0], "frac_high": [.5, .9]})
        >>> saturation_scatter(df).data[0].x.tolist()
        [0.1, 0.0]
    """
    L = _labels(labels)
    _check_columns(
        frame, ("series", "quantity", "layer", "direction", "unit", "frac_low", "frac_high"), "saturation_scatter"
    )
    # One colour per gate, one marker per series (e.g. trained = dots, before training = crosses), so two
    # gates of one series never share a colour and the series stay apart where they overlap.
    symbols = ["circle", "x-thin-open", "diamond-open", "square-open", "triangle-up-open", "cross-thin-open"]
    colours = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b"]
    series_index = {v: i for i, v in enumerate(dict.fromkeys(frame["series"]))}
    gate_index = {v: i for i, v in enumerate(dict.fromkeys(frame["quantity"]))}
    fig = go.Figure()
    # Units of several recurrent modules (saturation_stats of an encoder-decoder) share layer, direction and unit
    # numbers: a trace and a hover per module keep "unit 3" from naming two units.
    split = ["module"] if "module" in frame.columns and frame["module"].nunique() > 1 else []
    for (series, quantity, *where), part in frame.groupby(["series", "quantity", *split], sort=False):
        module = f"{where[0]} · " if where else ""
        hover = [
            esc(f"{series} · {module}{quantity} · layer {layer} {d} · unit {u}")
            for layer, d, u in part[["layer", "direction", "unit"]].itertuples(index=False)
        ]
        fig.add_trace(
            go.Scatter(
                x=part["frac_low"],
                y=part["frac_high"],
                mode="markers",
                name=esc(f"{series}: {module}{quantity}"),
                customdata=hover,
                marker=dict(
                    symbol=symbols[series_index[series] % len(symbols)],
                    size=8,
                    opacity=0.75,
                    color=colours[gate_index[quantity] % len(colours)],
                    line=dict(width=1.5, color=colours[gate_index[quantity] % len(colours)]),
                ),
                hovertemplate="%{customdata}<br>< 0.1: %{x:.2f}<br>> 0.9: %{y:.2f}<extra></extra>",
            )
        )
    fig.add_shape(type="line", x0=0, y0=1, x1=1, y1=0, line=dict(color="lightgray", dash="dot"))
    fig.update_xaxes(title_text=L["frac_low"], range=[-0.02, 1.02])
    fig.update_yaxes(title_text=L["frac_high"], range=[-0.02, 1.02])
    return _layout(fig, title, height=420)


_CELL_DASH = {"rnn": "dot", "gru": "dash", "lstm": "solid"}  # every cell stays visible where lines overlap
_CELL_SYMBOL = {"rnn": "circle", "gru": "diamond", "lstm": "square"}
_CELL_ORDER = ("rnn", "gru", "lstm")


def _cells(frame: pd.DataFrame, key: str = "cell") -> list[str]:
    present = [str(c) for c in frame[key].unique()]
    return sorted(present, key=lambda c: (_CELL_ORDER.index(c) if c in _CELL_ORDER else 9, c))


UNDERFLOW_FLOOR = 1e-300  # where a ratio that underflowed even float64 is drawn, marked, on a log axis


def _log_points(
    values: pd.Series, symbol: str, label: str, underflow: str = "0 (below 1e-308: float64 underflow)"
) -> tuple[list[float], list[str], list[str]]:
    """y, marker symbols and hover notes for a log axis: a 0 is drawn at :data:`UNDERFLOW_FLOOR` as an ``x``.

    A log axis cannot show 0; dropping the point would hide that the gradient vanished
    completely, so it is drawn at the floor with its own marker and says so on hover.
    """
    v = values.astype(float).tolist()
    y = [UNDERFLOW_FLOOR if x == 0 else x for x in v]
    symbols = ["x" if x == 0 else symbol for x in v]
    notes = [f"{label}: {underflow}" if x == 0 else label for x in v]
    return y, symbols, [esc(n) for n in notes]


def _dodge(x: pd.Series, k: int, n: int, log: bool = True, step: float = 0.025) -> list[float]:
    """Shifts cell ``k`` of ``n`` sideways so equal values of different cells never cover each other."""
    off = (k - (n - 1) / 2) * step
    return [float(v) * 10**off if log else float(v) + off * 4 for v in x]


def success_vs_lag(
    summary: pd.DataFrame,
    runs: pd.DataFrame,
    *,
    chance: float | None = None,
    baseline_mse: float | None = None,
    threshold: float | None = None,
    title: str | None = None,
    labels: Mapping[str, str] | None = None,
) -> go.Figure:
    """Success rate over seeds against lag (left) and every seed's final test score (right).

    Each cell has its own colour, dash and marker and is shifted slightly sideways, so no
    line hides another. Left: success rate with its 95% Wilson interval, y fixed to 0-1.
    Right: cue recall - every seed's test accuracy, the mean, y fixed to 0-1 and the chance
    level as a dotted line; adding - test MSE, with the predict-the-mean baseline and the
    success threshold.

    Args:
        summary: From :func:`lstmviz.sweeps.summary_frame` (``cell, lag, success_rate, lo, hi,
            solved, n, final_mean``).
        runs: From :func:`lstmviz.sweeps.runs_frame` (``cell, lag, seed, final``).
        chance: Chance accuracy (cue recall); drawn on the right panel.
        baseline_mse: Predict-the-mean MSE (adding); drawn instead of chance.
        threshold: Success threshold drawn on the right panel.
        title: Optional title (escaped).
        labels: Overrides of :data:`DEFAULT_LABELS`.

    Returns:
        A two-panel figure; every trace has markers.

    Example:
        >>> s = pd.DataFrame({"cell": ["rnn"], "lag": [10], "success_rate": [1.0], "lo": [.6], "hi": [1.0],
        ...                   "solved": [5], "n": [5], "final_mean": [.99]})
        >>> r = pd.DataFrame({"cell": ["rnn"] * 2, "lag": [10, 10], "seed": [0, 1], "final": [.98, 1.0]})
        >>> len(success_vs_lag(s, r, chance=0.25).data)
        3
    """
    L = _labels(labels)
    _check_columns(summary, ("cell", "lag", "success_rate", "lo", "hi", "solved", "n", "final_mean"), "success_vs_lag")
    _check_columns(runs, ("cell", "lag", "seed", "final"), "success_vs_lag")
    regress = baseline_mse is not None
    fig = make_subplots(rows=1, cols=2, subplot_titles=[L["success_panel"], L["final_panel"]], horizontal_spacing=0.1)
    cells = _cells(summary)
    for k, cell in enumerate(cells):
        part = summary[summary["cell"] == cell].sort_values("lag")
        color = _cell_color(cell)
        line = dict(color=color, dash=_CELL_DASH.get(cell, "solid"), width=2)
        marker = dict(symbol=_CELL_SYMBOL.get(cell, "circle"), size=9, color=color)
        hover = [
            esc(f"{cell} · {L['lag']} {lag} · {L['solved']} {int(a)}/{int(n)}")
            for lag, a, n in zip(part["lag"], part["solved"], part["n"])
        ]
        fig.add_trace(
            go.Scatter(
                x=_dodge(part["lag"], k, len(cells)),
                y=part["success_rate"],
                mode="lines+markers",
                name=esc(cell),
                legendgroup=esc(cell),
                line=line,
                marker=marker,
                customdata=hover,
                error_y=dict(
                    type="data",
                    symmetric=False,
                    array=(part["hi"] - part["success_rate"]).tolist(),
                    arrayminus=(part["success_rate"] - part["lo"]).tolist(),
                    color=color,
                    thickness=1,
                ),
                hovertemplate="%{customdata}<br>%{y:.0%}<extra></extra>",
            ),
            row=1,
            col=1,
        )
        seeds = runs[runs["cell"] == cell].sort_values(["lag", "seed"])
        seed_hover = [
            esc(f"{cell} · {L['lag']} {lag} · {L['seed']} {sd}") for lag, sd in zip(seeds["lag"], seeds["seed"])
        ]
        fig.add_trace(
            go.Scatter(
                x=_dodge(seeds["lag"], k, len(cells)),
                y=seeds["final"],
                mode="markers",
                name=esc(f"{cell}: {L['seed']}"),
                legendgroup=esc(cell),
                showlegend=False,
                customdata=seed_hover,
                marker=dict(symbol=_CELL_SYMBOL.get(cell, "circle") + "-open", size=7, color=color, opacity=0.8),
                hovertemplate="%{customdata}<br>%{y:.3f}<extra></extra>",
            ),
            row=1,
            col=2,
        )
        fig.add_trace(
            go.Scatter(
                x=_dodge(part["lag"], k, len(cells)),
                y=part["final_mean"],
                mode="lines+markers",
                name=esc(f"{cell}: {L['mean']}"),
                legendgroup=esc(cell),
                showlegend=False,
                line=line,
                marker=marker,
                customdata=[esc(f"{cell} · {L['mean']}")] * len(part),
                hovertemplate="%{customdata}<br>%{y:.3f}<extra></extra>",
            ),
            row=1,
            col=2,
        )
    if regress:
        fig.add_hline(
            y=baseline_mse, line_dash="dot", line_color="gray", annotation_text=L["baseline_mse"], row=1, col=2
        )
        top = max(0.2, float(runs["final"].max()) * 1.05) if len(runs) else 0.2
        fig.update_yaxes(title_text=L["mse"], range=[0, top], row=1, col=2)
    else:
        if chance is not None and math.isfinite(chance):
            fig.add_hline(
                y=chance,
                line_dash="dot",
                line_color="gray",
                annotation_text=L["chance"],
                annotation_position="top left",
                row=1,
                col=2,
            )
        fig.update_yaxes(title_text=L["test_acc"], range=[0, 1.02], row=1, col=2)
    if threshold is not None:
        fig.add_hline(
            y=threshold,
            line_dash="dash",
            line_color="lightgray",
            annotation_text=L["threshold"],
            annotation_position="bottom right",
            row=1,
            col=2,
        )
    fig.update_yaxes(title_text=L["success_rate"], range=[0, 1.02], tickformat=".0%", row=1, col=1)
    lags = sorted({int(v) for v in summary["lag"]})
    fig.update_xaxes(
        type="log", title_text=L["seq_len" if regress else "lag"], tickvals=lags, ticktext=[str(v) for v in lags]
    )
    return _layout(fig, title, height=420)


def success_vs_gate_bias(
    summary: pd.DataFrame,
    *,
    lag: int,
    title: str | None = None,
    labels: Mapping[str, str] | None = None,
) -> go.Figure:
    """Success rate against the forget / update gate bias at one lag, with σ(b)^lag beside it.

    Left axis: success rate per cell with its 95% Wilson interval (0-1). Right axis (log):
    σ(b)^lag, the share of the initial state that a gate with bias b keeps over the lag at
    initialisation, and the measured float64 gradient ratio at initialisation per cell.

    Args:
        summary: From :func:`lstmviz.sweeps.summary_frame` of a gate-bias sweep (``cell, gate_bias,
            success_rate, lo, hi, solved, n, grad_ratio_init_median``).
        lag: The sweep's lag (for σ(b)^lag).
        title: Optional title (escaped).
        labels: Overrides of :data:`DEFAULT_LABELS`.

    Example:
        >>> s = pd.DataFrame({"cell": ["gru"] * 2, "gate_bias": [0.0, 4.0], "success_rate": [0.0, 1.0],
        ...     "lo": [0, .6], "hi": [.4, 1], "solved": [0, 5], "n": [5, 5], "grad_ratio_init_median": [1e-20, .1]})
        >>> [t.name for t in success_vs_gate_bias(s, lag=100).data][:2]
        ['gru', 'gru: measured gradient ratio at init']
    """
    L = _labels(labels)
    _check_columns(
        summary,
        ("cell", "gate_bias", "success_rate", "lo", "hi", "solved", "n", "grad_ratio_init_median"),
        "success_vs_gate_bias",
    )
    fig = make_subplots(specs=[[{"secondary_y": True}]])
    cells = _cells(summary)
    for k, cell in enumerate(cells):
        part = summary[summary["cell"] == cell].sort_values("gate_bias")
        color = _cell_color(cell)
        marker = dict(symbol=_CELL_SYMBOL.get(cell, "circle"), size=9, color=color)
        hover = [
            esc(f"{cell} · b = {b:g} · {L['solved']} {int(a)}/{int(n)}")
            for b, a, n in zip(part["gate_bias"], part["solved"], part["n"])
        ]
        fig.add_trace(
            go.Scatter(
                x=_dodge(part["gate_bias"], k, len(cells), log=False),
                y=part["success_rate"],
                mode="lines+markers",
                name=esc(cell),
                legendgroup=esc(cell),
                customdata=hover,
                marker=marker,
                line=dict(color=color, dash=_CELL_DASH.get(cell, "solid"), width=2),
                error_y=dict(
                    type="data",
                    symmetric=False,
                    array=(part["hi"] - part["success_rate"]).tolist(),
                    arrayminus=(part["success_rate"] - part["lo"]).tolist(),
                    color=color,
                    thickness=1,
                ),
                hovertemplate="%{customdata}<br>%{y:.0%}<extra></extra>",
            ),
            secondary_y=False,
        )
        y, symbols, notes = _log_points(
            part["grad_ratio_init_median"],
            _CELL_SYMBOL.get(cell, "circle") + "-open",
            f"{cell} · {L['measured_ratio']}",
            L["underflow"],
        )
        fig.add_trace(
            go.Scatter(
                x=_dodge(part["gate_bias"], k, len(cells), log=False),
                y=y,
                mode="markers",
                name=esc(f"{cell}: {L['measured_ratio']}"),
                legendgroup=esc(cell),
                marker=dict(symbol=symbols, size=9, color=color),
                customdata=notes,
                hovertemplate="%{customdata}<br>b = %{x:.2f}<br>%{y:.2e}<extra></extra>",
            ),
            secondary_y=True,
        )
    hi_b = max(5.0, float(summary["gate_bias"].max()) + 0.5)
    b = np.linspace(min(0.0, float(summary["gate_bias"].min())), hi_b, 41)
    curve = np.exp(-lag * np.log1p(np.exp(-b)))  # sigma(b) ** lag without underflow in the log
    fig.add_trace(
        go.Scatter(
            x=b,
            y=curve,
            mode="lines+markers",
            name=esc(L["sigma_pow"]),
            marker=dict(size=4, color="gray"),
            line=dict(color="gray", dash="dot"),
            customdata=[esc(L["sigma_pow"])] * len(b),
            hovertemplate="%{customdata}<br>b = %{x:.2f}<br>%{y:.2e}<extra></extra>",
        ),
        secondary_y=True,
    )
    fig.update_yaxes(title_text=L["success_rate"], range=[0, 1.02], tickformat=".0%", secondary_y=False)
    fig.update_yaxes(title_text=L["log_scale"], type="log", exponentformat="power", dtick=5, secondary_y=True)
    fig.update_xaxes(title_text=L["gate_bias"])
    fig.update_layout(legend=dict(orientation="h", yanchor="top", y=-0.22, x=0))  # below: clear of the log axis
    return _layout(fig, title, height=480)


def lab_curves(
    frame: pd.DataFrame,
    *,
    task: str = "cue_recall",
    chance: float | None = None,
    threshold: float | None = None,
    title: str | None = None,
    labels: Mapping[str, str] | None = None,
) -> go.Figure:
    """Live lab: train and held-out score per cell (left, fixed axis) and the float64 gradient ratio (right, log).

    Args:
        frame: Tidy frame ``model, updates, split, metric, value`` with ``split`` in {"train",
            "held_out"} and ``metric`` in {"acc", "mse", "grad_ratio"}.
        task: "cue_recall" (accuracy on 0-1 with ``chance``) or "adding" (MSE on 0-0.25 with
            the 1/6 baseline).
        chance: Chance accuracy, drawn as a dotted line.
        threshold: Success threshold, drawn as a dashed line.
        title: Optional title (escaped).
        labels: Overrides of :data:`DEFAULT_LABELS`.

    Example:
        >>> df = pd.DataFrame({"model": "gru", "updates": [50, 50, 0], "split": ["train", "held_out", "held_out"],
        ...                    "metric": ["acc", "acc", "grad_ratio"], "value": [.3, .26, 1e-9]})
        >>> fig = lab_curves(df, chance=0.25)
        >>> fig.layout.yaxis.range, fig.layout.yaxis2.type
        ((0, 1.02), 'log')
    """
    L = _labels(labels)
    _check_columns(frame, ("model", "updates", "split", "metric", "value"), "lab_curves")
    regress = task == "adding"
    score = "mse" if regress else "acc"
    fig = make_subplots(
        rows=1, cols=2, subplot_titles=[L["mse" if regress else "acc"], L["grad_ratio"]], horizontal_spacing=0.1
    )
    cells = _cells(frame, "model")
    span = max(1.0, float(frame["updates"].max()) if len(frame) else 1.0)
    for k, cell in enumerate(cells):
        color = _cell_color(cell)
        symbol = _CELL_SYMBOL.get(cell, "circle")
        shift = (k - (len(cells) - 1) / 2) * 0.012 * span  # equal points of two cells never cover each other
        for split in ("train", "held_out"):
            part = frame[(frame["model"] == cell) & (frame["split"] == split) & (frame["metric"] == score)]
            if part.empty:
                continue
            part = part.sort_values("updates")
            name = esc(f"{cell} · {L[split]}")
            fig.add_trace(
                go.Scatter(
                    x=part["updates"] + shift,
                    y=part["value"],
                    mode="lines+markers",
                    name=name,
                    legendgroup=esc(cell),
                    line=dict(color=color, dash="dot" if split == "train" else _CELL_DASH.get(cell, "solid")),
                    marker=dict(symbol=symbol + ("-open" if split == "train" else ""), size=7, color=color),
                    customdata=[[name, int(u)] for u in part["updates"]],
                    hovertemplate="%{customdata[0]}<br>%{customdata[1]}: %{y:.3f}<extra></extra>",
                ),
                row=1,
                col=1,
            )
        part = frame[(frame["model"] == cell) & (frame["metric"] == "grad_ratio")].sort_values("updates")
        if not part.empty:
            y, symbols, notes = _log_points(part["value"], symbol, f"{cell} · {L['grad_ratio']}", L["underflow"])
            fig.add_trace(
                go.Scatter(
                    x=part["updates"] + shift,
                    y=y,
                    mode="lines+markers",
                    name=esc(cell),
                    legendgroup=esc(cell),
                    showlegend=False,
                    line=dict(color=color, dash=_CELL_DASH.get(cell, "solid")),
                    marker=dict(symbol=symbols, size=7, color=color),
                    customdata=[[n, int(u)] for n, u in zip(notes, part["updates"])],
                    hovertemplate="%{customdata[0]}<br>%{customdata[1]}: %{y:.2e}<extra></extra>",
                ),
                row=1,
                col=2,
            )
    if regress:
        fig.add_hline(y=1 / 6, line_dash="dot", line_color="gray", annotation_text=L["baseline_mse"], row=1, col=1)
        fig.update_yaxes(range=[0, 0.25], title_text=L["mse"], row=1, col=1)
    else:
        if chance is not None:
            fig.add_hline(y=chance, line_dash="dot", line_color="gray", annotation_text=L["chance"], row=1, col=1)
        fig.update_yaxes(range=[0, 1.02], title_text=L["acc"], row=1, col=1)
    if threshold is not None:
        fig.add_hline(
            y=threshold,
            line_dash="dash",
            line_color="lightgray",
            annotation_text=L["threshold"],
            annotation_position="bottom right",
            row=1,
            col=1,
        )
    fig.update_yaxes(type="log", exponentformat="power", title_text=L["grad_ratio"], row=1, col=2)
    fig.update_xaxes(title_text=L["updates"])
    return _layout(fig, title, height=400)


def accumulator_state(frame: pd.DataFrame, *, title: str | None = None, labels: Mapping[str, str] | None = None):
    """The state a gated cell reaches at initialisation, against the lag: magnitude (left) and saturation (right).

    With a large forget bias the LSTM cell is a leaky accumulator of gain i / (1 - f): its ``|c_T|`` grows with
    the lag and most units saturate, while the GRU's state stays a convex combination (``|h| < 1``).

    Args:
        frame: From :func:`lstmviz.accumulator.init_state_table` plus a ``series`` column (the legend name of each
            recipe): ``series, cell, lag, state_mean_abs, state_max_abs, saturated, gain``.
        title: Optional title (escaped).
        labels: Overrides of :data:`DEFAULT_LABELS`.

    Example:
        >>> f = pd.DataFrame({"series": ["lstm"] * 2, "cell": ["lstm"] * 2, "lag": [10, 200],
        ...     "state_mean_abs": [0.8, 5.2], "state_max_abs": [3.7, 24.0], "saturated": [0.1, 0.75],
        ...     "gain": [27.0, 27.0]})
        >>> [t.name for t in accumulator_state(f).data]
        ['lstm', 'lstm']
    """
    L = _labels(labels)
    _check_columns(
        frame, ("series", "cell", "lag", "state_mean_abs", "state_max_abs", "saturated", "gain"), "accumulator_state"
    )
    fig = make_subplots(
        rows=1, cols=2, subplot_titles=[L["acc_state_panel"], L["acc_saturated_panel"]], horizontal_spacing=0.12
    )
    names = list(dict.fromkeys(frame["series"]))
    dashes = ("solid", "dash", "dot", "dashdot")
    for k, name in enumerate(names):
        part = frame[frame["series"] == name].sort_values("lag")
        cell = part["cell"].iloc[0]
        color = _cell_color(cell)
        style = dict(
            line=dict(color=color, dash=dashes[k % len(dashes)], width=2),
            marker=dict(symbol=_CELL_SYMBOL.get(cell, "circle"), size=9, color=color),
        )
        hover = [
            esc(
                f"{name} · {L['lag']} {lag} · {L['acc_max']} {mx:.3g}"
                + (f" · {L['acc_gain']} {g:.3g}" if cell == "lstm" else "")
            )
            for lag, mx, g in zip(part["lag"], part["state_max_abs"], part["gain"])
        ]
        x = _dodge(part["lag"], k, len(names))
        fig.add_trace(
            go.Scatter(
                x=x,
                y=part["state_mean_abs"],
                mode="lines+markers",
                name=esc(name),
                legendgroup=esc(name),
                customdata=hover,
                hovertemplate="%{customdata}<br>%{y:.4g}<extra></extra>",
                **style,
            ),
            row=1,
            col=1,
        )
        fig.add_trace(
            go.Scatter(
                x=x,
                y=part["saturated"],
                mode="lines+markers",
                name=esc(name),
                legendgroup=esc(name),
                showlegend=False,
                customdata=hover,
                hovertemplate="%{customdata}<br>%{y:.0%}<extra></extra>",
                **style,
            ),
            row=1,
            col=2,
        )
    lags = sorted({int(v) for v in frame["lag"]})
    for col in (1, 2):
        fig.update_xaxes(
            type="log", tickvals=lags, ticktext=[str(v) for v in lags], title_text=L["lag"], row=1, col=col
        )
    fig.update_yaxes(type="log", dtick=1, title_text=L["acc_state"], row=1, col=1)  # ticks at powers of ten only
    fig.update_yaxes(range=[-0.02, 1.02], tickformat=".0%", title_text=L["acc_saturated"], row=1, col=2)
    fig.update_layout(title=esc(title) if title else None, height=420, legend=dict(orientation="h", y=-0.2))
    return fig


def lesson_plan(frame: pd.DataFrame, *, title: str | None = None, labels: Mapping[str, str] | None = None):
    """A lesson's plan as a timeline: one bar per step from its first minute to its last, coloured by its view.

    Args:
        frame: One row per step, in order: ``step`` (1, 2, ...), ``title`` (the step's, from the lesson file: escaped
            here), ``view`` (the view's name as shown) and ``minutes`` (planned; 0 or NaN draws a thin bar).
        title: Optional title (escaped).
        labels: Overrides of :data:`DEFAULT_LABELS`.

    Example:
        >>> f = pd.DataFrame({"step": [1, 2], "title": ["<b>Gates</b>", "Lab"], "view": ["Gates", "Lab"],
        ...     "minutes": [3, 4]})
        >>> fig = lesson_plan(f)
        >>> [(t.name, list(t.base)) for t in fig.data], fig.data[0].y[0]
        ([('Gates', [0.0]), ('Lab', [3.0])], '1. &lt;b&gt;Gates&lt;/b&gt;')
    """
    L = _labels(labels)
    _check_columns(frame, ("step", "title", "view", "minutes"), "lesson_plan")
    minutes = pd.to_numeric(frame["minutes"], errors="coerce").fillna(0.0).astype(float)
    start = minutes.cumsum() - minutes
    names = [f"{s}. {esc(t)}" for s, t in zip(frame["step"], frame["title"])]
    fig = go.Figure()
    for k, view in enumerate(dict.fromkeys(frame["view"])):
        rows = (frame["view"] == view).to_numpy()
        fig.add_trace(
            go.Bar(
                x=[max(m, 0.2) for m in minutes[rows]],  # a step without planned minutes stays visible
                base=list(start[rows]),
                y=[n for n, r in zip(names, rows) if r],
                orientation="h",
                name=esc(view),
                marker=dict(color=_SERIES_PALETTE[k % len(_SERIES_PALETTE)]),
                customdata=[f"{b:g}–{b + m:g}" for b, m in zip(start[rows], minutes[rows])],
                hovertemplate="%{y}<br>" + esc(L["minute"]) + ": %{customdata}<extra></extra>",
            )
        )
    fig.update_yaxes(categoryorder="array", categoryarray=names[::-1], title=None)
    fig.update_xaxes(title=L["minute"], rangemode="tozero")
    fig.update_layout(
        title=esc(title) if title else None, barmode="overlay", height=max(240, 28 * len(names) + 120),
        legend=dict(orientation="h", y=-0.15),
    )  # fmt: skip
    return fig
