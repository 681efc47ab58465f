"""Sections of the Gates page beyond the heatmaps (one open at a time): a unit's drill-down, the top units, and the
gate-saturation scatter of the sentence and the corpus.

Kept apart from ``views/gates.py`` so the page stays a thin composition; all caching is in ``state``.
"""

from __future__ import annotations

from typing import Any

import pandas as pd
import streamlit as st

from dashboard import components as ui
from dashboard import state
from dashboard.i18n import t
from lstmviz import diagnostics, plots, sentence
from lstmviz.names import QUANTITIES


def saturation(info: state.CheckpointInfo, a: sentence.TextAnalysis, task: str) -> None:
    """Saturation scatter: this sentence vs a corpus sample, trained vs untrained (its recorded initialisation)."""
    st.subheader(t("sat.title"))
    if a.cell == "rnn":
        st.info(t("sat.no_gates"))
        return
    frames = [diagnostics.saturation_stats(a.recording, series=t("sat.sentence"))]
    if st.toggle(t("sat.corpus"), value=True, key=state.GATES_CORPUS):
        corpus = state.corpus_file()
        if task != "sentiment" or not corpus.is_file():
            st.info(t("sat.no_corpus", path=ui.md_escape(str(corpus))))
        else:
            texts = tuple(state.corpus_texts(str(corpus), state.stamp(corpus), 200, 0))
            known = ui.initialisation_known(info.path, info.name)  # untrained = its recorded start, or not drawn
            for untrained, label in ((False, t("sat.trained")), (True, t("sat.untrained")))[: 1 + known]:
                frames.append(state.corpus_saturation(info.path, state.stamp(info.path), texts, untrained, label))
    data = pd.concat(frames, ignore_index=True)
    data["quantity"] = [t(f"q.{q}") for q in data["quantity"]]  # legends read "<series>: <gate>" in the UI's language
    fig = plots.saturation_scatter(data, labels=ui.plot_labels())
    ui.show_figure(fig, data, f"saturation_{info.name}", "saturation")


def unit_drilldown(a: Any, name: str, layer: int, direction: int, lbl: dict[str, str]) -> None:
    """One unit of the layer: its gates and states as lines over the tokens, and the text coloured by one of them."""
    quantities = QUANTITIES[a.cell]
    st.subheader(t("unit.title"))
    units = a.values("hidden", layer, direction).shape[1]
    c1, c2 = st.columns(2)
    if st.session_state.get(state.GATES_UNIT, 0) >= units:
        del st.session_state[state.GATES_UNIT]
    unit = c1.number_input(t("unit.number"), 0, units - 1, 0, key=state.GATES_UNIT)
    ui.sanitize(ui.keyed(state.GATES_UNIT_QUANTITY), quantities)
    names = {q: t(f"q.{q}") for q in quantities}
    uq = c2.selectbox(
        t("unit.colour_by"),
        quantities,
        index=len(quantities) - 1,
        format_func=names.get,
        key=ui.keyed(state.GATES_UNIT_QUANTITY),
    )
    lines = diagnostics.unit_frame(a, int(unit), layer, direction)
    lines["series"] = [t(f"q.{q}") for q in lines["series"]]
    fig = plots.unit_lines(lines, a.tokens, title=t("unit.lines", unit=unit), labels=lbl)
    ui.show_figure(fig, lines, f"unit{unit}_{name}", "unit_lines")
    values = a.values(uq, layer, direction)[:, int(unit)]
    colored = plots.colored_text_data(a.tokens, values)
    zmin, zmax, scale = plots.color_range(uq, values)
    fig = plots.colored_text_figure(colored, zmin, zmax, scale, title=t("unit.text", unit=unit, q=names[uq]))
    ui.show_figure(fig, colored, f"unit{unit}_{uq}_text_{name}", "unit_text")


def top_units(a: Any, layer: int, direction: int) -> None:
    """The five most active and most changing units of the layer's memory (c for the LSTM, h otherwise)."""
    st.subheader(t("top.title"))
    top_q = "cell" if a.cell == "lstm" else "hidden"
    st.caption(t("top.caption", q=t(f"q.{top_q}")))
    st.dataframe(
        ui.localized(diagnostics.top_units(a, top_q, layer, direction, k=5), {"rank_by": "rank"}), hide_index=True
    )
