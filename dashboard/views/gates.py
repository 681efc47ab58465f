"""Gates view: one sentence through one model; every gate and state, token by token."""

from __future__ import annotations

import streamlit as st

from dashboard import components as ui
from dashboard import corpus_sections, gate_sections, playback, state
from dashboard.i18n import t
from lstmviz import diagnostics, plots
from lstmviz.names import QUANTITIES


def render() -> None:
    """Page body."""
    st.header(t("gates.title"))
    st.caption(t("gates.intro"))
    ui.structure_button()
    info, pred = ui.checkpoint_or_stop()
    text = ui.text_block("gates", pred)
    a = ui.analysis_or_stop(info.path, text)
    ui.token_notices(a)
    lbl = ui.plot_labels()

    left, right = st.columns([1, 2])
    with left:
        ui.show_prediction(t("gates.prediction"), a.predicted_label, float(a.probs[-1, a.predicted]))
        ui.token_table(a)
    with right:
        probs = a.probability_frame().assign(label=lambda d: d["label"].map(ui.class_name))
        fig = plots.probability_lines(probs, a.tokens, title=t("gates.probs"), labels=lbl)
        ui.show_figure(fig, probs, f"probabilities_{info.name}", "probs")

    layers = {o: ui.layer_label(o) for o in ui.layer_options(a)}  # labels fixed now: format_func stays pure
    ui.sanitize(ui.keyed(state.GATES_LAYER), list(layers))
    c1, c2 = st.columns(2)
    opt = c1.selectbox(t("gates.layer"), list(layers), format_func=layers.get, key=ui.keyed(state.GATES_LAYER))
    layer, direction = opt
    orders = {o: t(f"order.{o}") for o in diagnostics.UNIT_ORDERS}
    how = c2.selectbox(t("gates.order"), list(orders), format_func=orders.get, key=ui.keyed(state.GATES_ORDER))
    quantities = QUANTITIES[a.cell]
    # One order for every tab of the layer, from its memory (c for the LSTM, h otherwise): rows stay comparable.
    order = diagnostics.unit_order(a.values("cell" if a.cell == "lstm" else "hidden", layer, direction), how)
    mark = corpus_sections.gates_mark(a, info.path)  # "open in Gates" of the Corpus view: its span and units
    if mark is not None and (mark["layer"], mark["direction"]) != (layer, direction):
        mark = None  # the mark belongs to another layer's units
    if mark is not None:
        order = corpus_sections.marked_first(order, mark["units"])
        st.caption(t("gates.marked", a=mark["span"][0], b=mark["span"][1], units=", ".join(map(str, mark["units"]))))
    tab, q = ui.quantity_tab(quantities, state.GATES_TAB)
    with tab:
        frame = a.activation_frame(q, layer, direction)
        title = f"{info.name}: {t('q.' + q)}"
        fig = plots.gate_heatmap(frame, a.tokens, q, title=title, unknown=a.unknown, labels=lbl, order=order)
        if mark is not None:
            corpus_sections.mark_span(fig, mark["span"])
        ui.show_figure(fig, frame, f"{q}_{info.name}_l{layer}d{direction}", f"heat_{q}")

    playback.section(a, info.name, layer, direction, order)

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
    ui.show_figure(fig, lines, f"unit{unit}_{info.name}", "unit_lines")
    values = a.values(uq, layer, direction)[:, int(unit)]
    colored = plots.colored_text_data(a.tokens, values)
    zmin, zmax, scale = plots.color_range(uq, values)
    fig = plots.colored_text_figure(colored, zmin, zmax, scale, title=t("unit.text", unit=unit, q=names[uq]))
    ui.show_figure(fig, colored, f"unit{unit}_{uq}_text_{info.name}", "unit_text")

    st.subheader(t("top.title"))
    top_q = "cell" if a.cell == "lstm" else "hidden"
    st.caption(t("top.caption", q=t(f"q.{top_q}")))
    st.dataframe(
        ui.localized(diagnostics.top_units(a, top_q, layer, direction, k=5), {"rank_by": "rank"}), hide_index=True
    )

    gate_sections.saturation(info, a, getattr(pred, "task", "sentiment"))


ui.run_view(render)
