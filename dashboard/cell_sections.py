"""Interpretable cells of a character model (Generation view): the best unit per feature, the text coloured by it,
and the gate saturation of the trained model against its initialisation (when its checkpoint records it).

The finder (:func:`lstmviz.cellfinder.find_cells`) runs on held-out text the app already has: the
corpus sentences' test split when the corpus is present, else the text on the page. It reads the text sentence
by sentence, each from a zero state, and the coloured text shows the unit read the same way.
"""

from __future__ import annotations

import streamlit as st

from dashboard import components as ui
from dashboard import state
from dashboard.i18n import t
from lstmviz import plots
from lstmviz.cellfinder import FEATURES


def section(path: str, name: str, fallback_text: str) -> None:
    """Table of the best unit per feature, and one feature's best unit colouring a stretch of text."""
    st.subheader(t("cells.title"))
    st.caption(t("cells.caption"))
    cells, text = state.lm_cells(path, state.stamp(path), fallback_text)
    best = cells.query("rank == 1")[["feature", "layer", "unit", "r"]].copy()
    best["feature"] = [t(f"feature.{f}") for f in best["feature"]]
    best["r"] = best["r"].round(2)
    st.dataframe(ui.localized(best), hide_index=True)
    # A feature constant on this text (no digit, no quote) has no unit: it is not offered.
    # The strongest unit first: the picker opens on the clearest example.
    ranked = cells.query("rank == 1").sort_values("r", key=abs, ascending=False)["feature"]
    names = {f: t(f"feature.{f}") for f in ranked if f in FEATURES}
    if names:
        _unit_text(path, cells, text, names)
    saturation(path, name, state.read_meta(path, state.stamp(path))["cell"], text[: state.SATURATION_CHARS])


def _unit_text(path: str, cells, text: str, names: dict[str, str]) -> None:
    """The text coloured by the best unit of the feature picked among ``names``."""
    key = ui.keyed(state.key(state.CELL_FEATURE, path))  # per model: each opens on its own strongest unit
    ui.sanitize(key, list(names))
    feature = st.selectbox(t("cells.feature"), list(names), format_func=names.get, key=key)
    row = cells.query("feature == @feature and rank == 1").iloc[0]
    values = state.lm_unit_values(
        path, state.stamp(path), text[: state.UNIT_TEXT_CHARS], int(row["layer"]), int(row["unit"])
    )
    shown = [c if c.strip() else "␣" for c in text[: state.UNIT_TEXT_CHARS]]
    data = plots.colored_text_data(shown, values, per_row=50)
    zmin, zmax, scale = plots.color_range("cell" if row["quantity"] == "cell" else "hidden", values)
    title = t(
        "cells.text", feature=names[feature], layer=int(row["layer"]), unit=int(row["unit"]), r=f"{row['r']:+.2f}"
    )
    ui.show_figure(
        plots.colored_text_figure(data, zmin, zmax, scale, title=title), data, f"cell_{feature}", "cell_text"
    )


def saturation(path: str, name: str, cell: str, text: str) -> None:
    """Karpathy et al. (2015, Fig. 3): per layer, each gate unit's fraction of steps < 0.1 against > 0.9, for the
    trained model and its exact initialisation (when the checkpoint records it), on the same held-out text."""
    st.subheader(t("sat.title"))
    if cell == "rnn":
        st.info(t("sat.no_gates"))
        return
    data = state.lm_saturation(path, state.stamp(path), text, t("cells.sat_trained"), t("cells.sat_initial"))
    if t("cells.sat_initial") in set(data["series"]):
        st.caption(t("cells.sat_caption", n=len(text)) + " " + t("cells.sat_initial_caption"))
    else:  # no recorded start: say so rather than draw one
        st.caption(t("cells.sat_caption", n=len(text)))
        st.caption(t("init.unknown", name=ui.md_escape(name)))
    data["quantity"] = [t(f"q.{q}") for q in data["quantity"]]
    for col, (layer, part) in zip(st.columns(data["layer"].nunique()), data.groupby("layer")):
        with col:
            title = f"{name}: {t('gen.layer', layer=layer)}"
            ui.show_figure(
                plots.saturation_scatter(part, title=title, labels=ui.plot_labels()),
                part,
                f"saturation_{name}_l{layer}",
                f"cell_sat_{layer}",
            )
