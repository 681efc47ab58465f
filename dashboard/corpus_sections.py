"""Sections of the Corpus view: the recorded columns, the span and unit pickers, the LSTMVis match table (with a jump
into the Gates view that marks the matched span and units there, :func:`gates_mark`) and each selected unit's top
contexts and histogram.

The span slider (``state.CORPUS_SPAN``: ``(first, last)`` token indices) and the unit multiselect
(``state.CORPUS_UNITS``: a list of ints) keep one key each, so code (a lesson, the URL) can set them; each run
checks the stored value against the current sentence and resets it to its default when it does not fit, or when what
the default derives from changed (a new sentence; a new span, threshold or column) and no code set a value since.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from dashboard import components as ui
from dashboard import state
from dashboard.i18n import t
from lstmviz import plots
from lstmviz.corpus.query import units_on
from lstmviz.corpus.record import column_name
from lstmviz.names import QUANTITIES

# Only states are offered: LSTMVis matches hidden (and cell) states; the gates are in the recording too.
_STATES = ("hidden", "cell")
# Widths (px) of the columns of the match and top-context tables: at a 1400 px window with the sidebar open the main
# column is 940 px wide (measured in chromium), and the match table's columns add up to that, so every column shows
# without horizontal scrolling. The left context is right-aligned: when it is cut, the words next to the span stay.
WIDTHS = {
    "rank": 50,
    "value": 80,
    "left": 220,
    "span": 140,
    "right": 220,
    "selected_on": 80,
    "others_on": 70,
    "jaccard": 65,
    "sentence_id": 95,
}
ALIGN = {"left": "right", "span": "center", "right": "left"}
HELP = {
    "selected_on": "corpus.selected_on_help",
    "others_on": "corpus.others_on_help",
    "jaccard": "corpus.jaccard_help",
}
_MARK_COLOUR = "#d62728"  # the span's frame on a heatmap (plotly's red)


def columns(a) -> dict[str, str]:
    """Recorded state columns of the analysed model -> their label in the session's language."""
    out = {}
    for layer in range(a.num_layers):
        for d in range(a.directions):
            for q in (q for q in QUANTITIES[a.cell] if q in _STATES):
                out[column_name(q, layer, d)] = t(
                    "corpus.column_option", q=t(f"q.{q}"), layer=layer, direction=t(f"dir.{('fwd', 'rev')[d]}")
                )
    return out


def parse(column: str) -> tuple[str, int, str]:
    """``hidden_l1_rev`` -> ``("hidden", 1, "rev")``."""
    quantity, layer, direction = column.rsplit("_", 2)
    return quantity, int(layer[1:]), direction


def fit_span(value: Any, steps: int) -> tuple[int, int] | None:
    """A stored span as ``(first, last)`` when it lies in a sentence of ``steps`` tokens, else None.

    Example:
        >>> fit_span([1, 3], 5), fit_span((3, 1), 5), fit_span((4, 5), 5), fit_span("x", 5)
        ((1, 3), None, None, None)
    """
    try:
        first, last = (int(v) for v in value)
    except (TypeError, ValueError):
        return None
    return (first, last) if 0 <= first <= last < steps else None


def fit_units(value: Any, units: int) -> list[int] | None:
    """A stored unit list with the units a layer of ``units`` lacks dropped (order kept, no repeats); None when it
    is no list.

    Example:
        >>> fit_units([5, 2, 9, 2], 6), fit_units(3, 6)
        ([5, 2], None)
    """
    if not isinstance(value, (list, tuple)):
        return None
    out: list[int] = []
    for v in value:
        if isinstance(v, (int, np.integer)) and not isinstance(v, bool) and 0 <= v < units and int(v) not in out:
            out.append(int(v))
    return out


def _follow(key: str, basis: Any, default: Any, fit: Callable[[Any], Any], preset: bool = True) -> None:
    """Readies the stored value of the widget ``key`` before it is drawn: kept when it fits (``fit``) unless
    ``basis`` (what ``default`` derives from) changed since the widget was last drawn and the value is still the one
    drawn then (no code set a new one); else replaced by ``default``. Writes only a value that changes, and with
    ``preset=False`` (the widget is given ``default`` itself) none to a missing key.

    The select slider needs ``value=`` to know it holds a range, and Streamlit logs a warning (once per server)
    when such a widget's value is also written here; so that happens only on a reset."""
    seen = st.session_state.get(state.CORPUS_SEEN, {}).get(key)
    if key not in st.session_state:
        if preset:
            st.session_state[key] = default
        return
    value = fit(st.session_state[key])
    if value is None or (seen is not None and seen[0] != basis and value == seen[1]):
        if value != default:
            st.session_state[key] = default


def _seen(key: str, basis: Any, value: Any) -> None:
    """Remembers what the widget ``key`` showed and what its default derived from (read by :func:`_follow`)."""
    st.session_state.setdefault(state.CORPUS_SEEN, {})[key] = (basis, value)


def span_picker(container: Any, tokens: Sequence[str]) -> tuple[int, int]:
    """The span slider over the sentence's tokens (``state.CORPUS_SPAN``); a new sentence starts on its last two.

    Example:
        >>> span_picker(st, ["Вчера", "шёл", "дождь"])  # doctest: +SKIP
        (1, 2)
    """
    n = len(tokens)
    sentence = zlib.crc32("\x1f".join(tokens).encode())
    default = (max(0, n - 2), n - 1)
    _follow(state.CORPUS_SPAN, sentence, default, lambda v: fit_span(v, n), preset=False)
    first, last = container.select_slider(
        t("corpus.span"),
        list(range(n)),
        value=default,
        format_func=lambda i: f"{i}: {tokens[i]}",
        key=state.CORPUS_SPAN,
    )
    _seen(state.CORPUS_SPAN, sentence, (int(first), int(last)))
    return int(first), int(last)


def unit_picker(values: np.ndarray, span: tuple[int, int], threshold: float, off_before: bool, basis: Any) -> list[int]:
    """The unit multiselect (``state.CORPUS_UNITS``) over a layer's ``(T, U)`` ``values``: the units on across
    ``span`` (:func:`lstmviz.corpus.query.units_on`) whenever the span, threshold or ``basis`` (the column and the
    sentence) change; edited by hand in between.

    Example:
        >>> unit_picker(np.array([[0.0, 0.9], [0.8, 0.9]]), (1, 1), 0.5, True, "c")  # doctest: +SKIP
        [0]
    """
    U = values.shape[1]
    basis = (basis, span, float(threshold), bool(off_before))
    chosen = units_on(values, span[0], span[1], threshold, off_before)
    _follow(state.CORPUS_UNITS, basis, chosen, lambda v: fit_units(v, U))
    fitted = fit_units(st.session_state[state.CORPUS_UNITS], U)
    if fitted != st.session_state[state.CORPUS_UNITS]:  # units this layer lacks (set by code): dropped
        st.session_state[state.CORPUS_UNITS] = fitted
    units = st.multiselect(
        t("corpus.units"),
        list(range(U)),
        help=t("corpus.units_help"),
        placeholder=t("corpus.units_placeholder"),
        key=state.CORPUS_UNITS,
    )
    _seen(state.CORPUS_UNITS, basis, [int(u) for u in units])
    return [int(u) for u in units]


def mark_span(fig: go.Figure, span: tuple[int, int]) -> go.Figure:
    """Frames the token columns ``span`` (first, last) of a heatmap over tokens (x = step) in red.

    Example:
        >>> len(mark_span(go.Figure(), (2, 3)).layout.shapes)
        1
    """
    fig.add_vrect(x0=span[0] - 0.5, x1=span[1] + 0.5, line=dict(color=_MARK_COLOUR, width=2), fillcolor="rgba(0,0,0,0)")
    return fig


def marked_first(order: Sequence[int], units: Sequence[int]) -> list[int]:
    """A heatmap's unit order with ``units`` moved to the top, in their order.

    Example:
        >>> marked_first([4, 3, 2, 1, 0], [1, 3])
        [1, 3, 4, 2, 0]
    """
    return [*units, *(u for u in order if u not in set(units))]


def gates_mark(a: Any, checkpoint: str | None = None) -> dict[str, Any] | None:
    """What the Corpus view's "open in Gates" marked (``state.GATES_MARK``) when it belongs to the analysis ``a``
    (same text, and the model at ``checkpoint`` when given), checked against its shapes; else None.

    Returns:
        ``{"span": (first, last), "units": [...], "quantity": str, "layer": int, "direction": 0 | 1}`` (units the
        layer lacks are dropped), or None.

    Example:
        >>> mark = gates_mark(a, info.path)  # doctest: +SKIP
        >>> if mark: fig = mark_span(fig, mark["span"])  # doctest: +SKIP
    """
    mark = st.session_state.get(state.GATES_MARK)
    if not isinstance(mark, dict) or mark.get("text") != a.text:
        return None
    if checkpoint is not None and mark.get("checkpoint") != checkpoint:
        return None
    layer, direction, quantity = mark.get("layer"), mark.get("direction"), mark.get("quantity")
    if not (
        isinstance(layer, int)
        and isinstance(direction, int)
        and 0 <= layer < a.num_layers
        and 0 <= direction < a.directions
        and quantity in QUANTITIES[a.cell]
    ):
        return None
    span = fit_span(mark.get("span"), len(a.tokens))
    units = fit_units(mark.get("units"), a.values(quantity, layer, direction).shape[1])
    if span is None or units is None:
        return None
    return {"span": span, "units": units, "quantity": quantity, "layer": layer, "direction": direction}


def _open_in_gates(
    corpus: str, sentence_id: int, span: tuple[int, int], column: str, units: list[int], ck: str
) -> None:
    """Button callback: the corpus sentence becomes the shared text, in this view's box and the Gates view's, and
    the matched span and the selected units are left for the Gates view to mark (:func:`gates_mark`)."""
    texts, _ = state.corpus_all_texts(corpus, state.stamp(corpus))
    text = texts[sentence_id]
    st.session_state[state.text_key("sentiment")] = text
    for view in ("gates", "corpus"):  # both text boxes start from the shared text on their next run
        st.session_state.pop(state.key(state.TEXT_WIDGET, view), None)
    quantity, layer, direction = parse(column)
    st.session_state[state.GATES_MARK] = {
        "checkpoint": ck,
        "text": text,
        "span": (int(span[0]), int(span[1])),
        "units": [int(u) for u in units],
        "quantity": quantity,
        "layer": layer,
        "direction": ("fwd", "rev").index(direction),
    }
    for lang in ("ru", "en"):  # the Gates view opens on the matched column's layer and direction (either language)
        st.session_state[state.keyed(state.GATES_LAYER, lang)] = (layer, ("fwd", "rev").index(direction))
    st.session_state[state.CORPUS_GOTO] = True


def _column_config(names: Sequence[str]) -> dict[str, Any]:
    """Widths (:data:`WIDTHS`), alignment and help of a corpus table's columns, by their translated headers."""
    config = {}
    for name in names:
        kind = st.column_config.TextColumn if name in ALIGN else st.column_config.NumberColumn
        extra = {"alignment": ALIGN[name]} if name in ALIGN else {}
        help_ = t(HELP[name]) if name in HELP else None
        config[t(f"col.{name}")] = kind(width=WIDTHS[name], help=help_, **extra)
    return config


def matches(
    folder: str,
    column: str,
    units: list[int],
    threshold: float,
    length: int,
    off_before: bool,
    corpus: str,
    checkpoint: str,
) -> None:
    """The ranked corpus spans where the selected units switch on; a selected row opens in the Gates view, with its
    span and the units marked."""
    st.subheader(t("corpus.matches", n=len(units)))
    st.caption(t("corpus.matches_caption"))
    hits = state.corpus_match(
        folder, state.folder_stamp(folder), column, tuple(units), float(threshold), int(length), bool(off_before)
    )
    if hits.empty:
        st.info(t("corpus.no_match"))
        return
    shown = hits[["rank", "left", "span", "right", "selected_on", "others_on", "jaccard", "sentence_id"]].copy()
    shown["jaccard"] = shown["jaccard"].round(2)
    st.dataframe(ui.localized(shown), hide_index=True, column_config=_column_config(list(shown.columns)))
    c1, c2 = st.columns([3, 1])
    labels = {
        int(r.rank): f"{int(r.rank)}: {r.span} ({t('col.sentence_id')} {int(r.sentence_id)})" for r in hits.itertuples()
    }  # corpus text in a selectbox: shown as plain text
    listing = zlib.crc32(repr(hits[["sentence_id", "first"]].values.tolist()).encode())  # new matches, new box
    rank = c1.selectbox(
        t("corpus.pick"), list(labels), format_func=labels.get, key=state.key(state.CORPUS_PICK, listing)
    )
    row = hits.loc[hits["rank"] == rank].iloc[0]
    sid, span = int(row["sentence_id"]), (int(row["first"]), int(row["last"]))
    c2.button(
        t("corpus.open", sid=sid),
        on_click=_open_in_gates,
        args=(corpus, sid, span, column, list(units), checkpoint),
        key=state.CORPUS_OPEN,
    )


def unit_contexts(folder: str, column: str, units: list[int], threshold: float) -> None:
    """One selected unit's ten highest contexts in the corpus (one per sentence) and its value histogram."""
    st.subheader(t("corpus.top"))
    st.caption(t("corpus.top_caption"))
    unit = st.selectbox(
        t("corpus.unit"), units, key=state.key(state.CORPUS_TOP_UNIT, column, tuple(units))
    )  # new set, new box
    top, hist = state.corpus_unit(folder, state.folder_stamp(folder), column, int(unit))
    shown = top[["rank", "value", "left", "span", "right", "sentence_id"]].copy()
    shown["value"] = np.round(shown["value"].astype(float), 3)
    st.dataframe(ui.localized(shown), hide_index=True, column_config=_column_config(list(shown.columns)))
    fig = plots.unit_histogram(hist, threshold, title=t("corpus.hist", unit=unit), labels=ui.plot_labels())
    ui.show_figure(fig, pd.DataFrame(hist), f"histogram_{column}_{unit}", "corpus_hist")
