"""Sections of the Corpus view: the recorded columns, the LSTMVis match table (with a jump into the Gates view) and
each selected unit's top contexts and histogram."""

from __future__ import annotations

import zlib

import numpy as np
import pandas as pd
import streamlit as st

from dashboard import components as ui
from dashboard import state
from dashboard.i18n import t
from lstmviz import plots
from lstmviz.corpus.record import column_name
from lstmviz.names import QUANTITIES

# Only states are offered: LSTMVis matches hidden (and cell) states; the gates are in the recording too.
_STATES = ("hidden", "cell")


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


def _open_in_gates(corpus: str, sentence_id: int) -> None:
    """Button callback: the corpus sentence becomes the shared text, in this view's box and the Gates view's."""
    texts, _ = state.corpus_all_texts(corpus, state.stamp(corpus))
    st.session_state[state.text_key("sentiment")] = texts[sentence_id]
    for view in ("gates", "corpus"):  # both text boxes start from the shared text on their next run
        st.session_state.pop(state.key(state.TEXT_WIDGET, view), None)
    st.session_state[state.CORPUS_GOTO] = True


def matches(
    folder: str, column: str, units: list[int], threshold: float, length: int, off_before: bool, corpus: str
) -> None:
    """The ranked corpus spans where the selected units switch on; a selected row opens in the Gates view."""
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
    st.dataframe(ui.localized(shown), hide_index=True)
    c1, c2 = st.columns([3, 1])
    labels = {
        int(r.rank): f"{int(r.rank)}: {r.span} ({t('col.sentence_id')} {int(r.sentence_id)})" for r in hits.itertuples()
    }  # corpus text in a selectbox: shown as plain text
    listing = zlib.crc32(repr(hits[["sentence_id", "first"]].values.tolist()).encode())  # new matches, new box
    rank = c1.selectbox(
        t("corpus.pick"), list(labels), format_func=labels.get, key=state.key(state.CORPUS_PICK, listing)
    )
    sid = int(hits.loc[hits["rank"] == rank, "sentence_id"].iloc[0])
    c2.button(t("corpus.open", sid=sid), on_click=_open_in_gates, args=(corpus, sid), key=state.CORPUS_OPEN)


def unit_contexts(folder: str, column: str, units: list[int], threshold: float) -> None:
    """One selected unit's ten highest contexts in the corpus and its value histogram."""
    st.subheader(t("corpus.top"))
    unit = st.selectbox(
        t("corpus.unit"), units, key=state.key(state.CORPUS_TOP_UNIT, column, tuple(units))
    )  # new set, new box
    top, hist = state.corpus_unit(folder, state.folder_stamp(folder), column, int(unit))
    shown = top[["rank", "value", "left", "span", "right", "sentence_id"]].copy()
    shown["value"] = np.round(shown["value"].astype(float), 3)
    st.dataframe(ui.localized(shown), hide_index=True)
    fig = plots.unit_histogram(hist, threshold, title=t("corpus.hist", unit=unit), labels=ui.plot_labels())
    ui.show_figure(fig, pd.DataFrame(hist), f"histogram_{column}_{unit}", "corpus_hist")
