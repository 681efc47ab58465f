"""Sections of the Gates page beyond the heatmaps: the gate-saturation scatter of the sentence and the corpus.

Kept apart from ``views/gates.py`` so the page stays a thin composition; all caching is in ``state``.
"""

from __future__ import annotations

import pandas as pd
import streamlit as st

from dashboard import components as ui
from dashboard import state
from dashboard.i18n import t
from lstmviz import diagnostics, plots, sentence


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
