"""Sections of the Generation view below its heatmap, one open at a time: the connectivity of every character
model on the page's text, and the interpretable cells of the chosen model: the best unit per feature, the text
coloured by it, the page's own text (prefix + continuation) coloured by any unit, and the gate saturation of the
trained model against its initialisation (when its checkpoint records it).

The finder (:func:`lstmviz.cellfinder.find_cells`) runs on held-out text the app already has: the
corpus sentences' test split when the corpus is present, else the text on the page. It reads the text sentence
by sentence, each from a zero state, and the coloured text shows the unit read the same way. The page's own text
is coloured from the generation's recording instead: read in one go, as the heatmaps above show it.
"""

from __future__ import annotations

from typing import Any

import pandas as pd
import streamlit as st

from dashboard import components as ui
from dashboard import state
from dashboard.i18n import t
from lstmviz import plots
from lstmviz.cellfinder import FEATURES
from lstmviz.charlm import char_labels, connectivity_frame

WEAK_R = 0.5  # a best unit with |r| below this follows its feature loosely: the page warns rather than show it off


def strongest_first(cells: pd.DataFrame) -> list[str]:
    """The features of a :func:`lstmviz.cellfinder.find_cells` frame that have a best unit, by that unit's |r|,
    largest first (ties: the finder's feature order). A feature constant on the text (no digit, no quote) has no
    ranked unit and is left out.

    Example:
        >>> cells = pd.DataFrame({"feature": ["digit", "vowel", "in_quotes"], "rank": [1, 1, None]})
        >>> strongest_first(cells.assign(r=[0.3, -0.8, None]))
        ['vowel', 'digit']
    """
    best = cells.loc[cells["rank"] == 1, ["feature", "r"]].dropna()
    best = best[best["feature"].isin(FEATURES)]
    best = best.assign(order=[FEATURES.index(f) for f in best["feature"]], strength=best["r"].abs())
    return best.sort_values(["strength", "order"], ascending=[False, True])["feature"].tolist()


def is_weak(r: float) -> bool:
    """Whether a correlation is too weak to call the unit a detector of its feature (|r| < :data:`WEAK_R`).

    Example:
        >>> is_weak(0.31), is_weak(-0.82)
        (True, False)
    """
    return abs(float(r)) < WEAK_R


def section(path: str, name: str, fallback_text: str, run: dict[str, Any] | None = None) -> None:
    """Table of the best unit per feature (strongest first), one feature's best unit colouring a stretch of
    held-out text, the page's text coloured by any unit (``run``: the generation of ``fallback_text``), and the
    gate saturation."""
    st.subheader(t("cells.title"))
    st.caption(t("cells.caption"))
    cells, text = state.lm_cells(path, state.stamp(path), fallback_text)
    ranked = strongest_first(cells)  # the picker and the table open on the clearest example
    best = cells.query("rank == 1").set_index("feature").loc[ranked].reset_index()
    table = best[["feature", "layer", "unit", "r"]].copy()
    table["feature"] = [t(f"feature.{f}") for f in table["feature"]]
    table["r"] = table["r"].round(2)
    st.dataframe(ui.localized(table), hide_index=True)
    if ranked:
        _unit_text(path, best, text, {f: t(f"feature.{f}") for f in ranked})
    if run is not None:
        typed_text(fallback_text, run)
    saturation(path, name, state.read_meta(path, state.stamp(path))["cell"], text[: state.SATURATION_CHARS])


def _pick_unit(key: str, units: dict[str, tuple[int, int]]) -> None:
    """on_change of the feature picker: its best (layer, unit) goes into the inputs of :func:`typed_text`."""
    layer, unit = units[st.session_state[key]]
    st.session_state[state.GEN_UNIT_LAYER], st.session_state[state.GEN_UNIT] = layer, unit


def _unit_text(path: str, best: pd.DataFrame, text: str, names: dict[str, str]) -> None:
    """The text coloured by the best unit of the feature picked among ``names`` (strongest first); a warning
    when that unit's |r| is under :data:`WEAK_R`."""
    key = ui.keyed(state.key(state.CELL_FEATURE, path))  # per model: each opens on its own strongest unit
    ui.sanitize(key, list(names))
    units = {f: (int(layer), int(unit)) for f, layer, unit in best[["feature", "layer", "unit"]].itertuples(False)}
    feature = st.selectbox(
        t("cells.feature"), list(names), format_func=names.get, key=key, on_change=_pick_unit, args=(key, units)
    )
    row = best.set_index("feature").loc[feature]
    st.session_state.setdefault(state.GEN_UNIT_LAYER, units[feature][0])  # the page's text: this unit at first
    st.session_state.setdefault(state.GEN_UNIT, units[feature][1])
    if is_weak(row["r"]):
        st.warning(t("cells.weak", feature=names[feature], r=f"{abs(row['r']):.2f}", limit=WEAK_R))
    values = state.lm_unit_values(
        path, state.stamp(path), text[: state.UNIT_TEXT_CHARS], int(row["layer"]), int(row["unit"])
    )
    shown = char_labels(text[: state.UNIT_TEXT_CHARS])
    data = plots.colored_text_data(shown, values, per_row=50)
    zmin, zmax, scale = plots.color_range("cell" if row["quantity"] == "cell" else "hidden", values)
    title = t(
        "cells.text", feature=names[feature], layer=int(row["layer"]), unit=int(row["unit"]), r=f"{row['r']:+.2f}"
    )
    ui.show_figure(
        plots.colored_text_figure(data, zmin, zmax, scale, title=title), data, f"cell_{feature}", "cell_text"
    )


def in_range(value: Any, last: int) -> int:
    """``value`` (a widget's stored value, maybe from a URL) as an integer in 0..last; 0 when it is no number.

    Example:
        >>> in_range("7", 5), in_range(None, 5), in_range(-2, 5)
        (5, 0, 0)
    """
    try:
        return min(max(int(value), 0), last)
    except (TypeError, ValueError):
        return 0


def typed_text(text: str, run: dict[str, Any]) -> None:
    """``text`` (the prefix typed and the model's continuation) coloured by any unit of any layer: its memory
    (LSTM: cell state c, else hidden state h) from the generation's recording ``run`` (:func:`state.lm_generate`)."""
    st.markdown(f"**{t('cells.yours')}**")
    st.caption(t("cells.yours_caption"))
    quantity = "cell" if run["cell"] == "lstm" else "hidden"
    layers = list(range(run["num_layers"]))
    units = int(run["frames"][(0, "fwd", quantity)]["unit"].max()) + 1
    # A value set by a feature pick or a URL, or kept from a bigger model, is brought into range first.
    st.session_state[state.GEN_UNIT_LAYER] = in_range(st.session_state.get(state.GEN_UNIT_LAYER), layers[-1])
    st.session_state[state.GEN_UNIT] = in_range(st.session_state.get(state.GEN_UNIT), units - 1)
    c1, c2 = st.columns(2)
    names = {layer: t("gen.layer", layer=layer) for layer in layers}
    layer = c1.radio(t("cells.yours_layer"), layers, format_func=names.get, horizontal=True, key=state.GEN_UNIT_LAYER)
    unit = c2.number_input(t("cells.yours_unit", last=units - 1), 0, units - 1, step=1, key=state.GEN_UNIT)
    frame = run["frames"][(layer, "fwd", quantity)]
    values = frame.loc[frame["unit"] == unit].sort_values("step")["value"].to_numpy()  # (T,)
    data = plots.colored_text_data(char_labels(text), values, per_row=50)
    zmin, zmax, scale = plots.color_range(quantity, values)
    title = t("cells.yours_text", q=t(f"q.{quantity}"), layer=layer, unit=int(unit))
    ui.show_figure(
        plots.colored_text_figure(data, zmin, zmax, scale, title=title),
        data,
        f"gen_text_l{layer}_u{unit}",
        "gen_unit_text",
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


def connectivity(lms: dict, text: str, lbl: dict[str, str]) -> None:
    """‖∂loss_t/∂x_s‖ of every character model on the first characters of the same text."""
    st.subheader(t("gen.connectivity"))
    st.caption(t("gen.connectivity_caption"))
    per_row = st.toggle(t("conn.per_row"), value=True, help=t("conn.per_row_help"), key=state.GEN_PER_ROW)
    models = tuple((p, state.stamp(p)) for p in sorted(lms))  # stamps in the key: a rewritten model is recomputed
    refused = [p for p, s in models if state.work_refusal(p, s, "connectivity") is not None]  # from meta.json
    if refused:
        names = ", ".join(ui.md_escape(lms[p].name) for p in refused)
        st.caption(t("budget.skipped", n=len(refused), names=names))
    models = tuple(m for m in models if m[0] not in refused)
    shown = text[: state.GEN_CONNECTIVITY_CHARS]
    for i, (name, conn) in enumerate(state.lm_connectivity(models, shown).items()):
        fig = plots.connectivity_heatmap(
            conn, char_labels(shown), title=name, labels=lbl, per_row=per_row, all_ticks=True
        )
        ui.show_figure(fig, connectivity_frame(conn, shown), f"connectivity_{name}", f"conn_{i}")
