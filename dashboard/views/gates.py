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
    ui.user_model_caption(info, a)
    lbl = ui.plot_labels()

    left, right = st.columns([1, 2])
    with left:
        if not info.user or a.extra.get("output") == "classify":  # one class per text: the prediction in words
            ui.show_prediction(t("gates.prediction"), a.predicted_label, float(a.probs[-1, a.predicted]))
        ui.token_table(a)
    with right:
        if a.probs.shape[1]:  # a user's model that gives only a loss has no probabilities to draw
            probs = a.probability_frame().assign(label=lambda d: d["label"].map(ui.class_name))
            tokens = a.extra.get("text_tokens", a.tokens)
            fig = plots.probability_lines(probs, tokens, title=t("gates.probs"), labels=lbl)
            ui.show_figure(fig, probs, f"probabilities_{info.name}", "probs")
    a = ui.user_module(a, state.GATES_MODULE)  # a user's model with several recurrent modules: pick one

    layers = {o: ui.layer_label(o) for o in ui.layer_options(a)}  # labels fixed now: format_func stays pure
    ui.sanitize(ui.keyed(state.GATES_LAYER), list(layers))
    c1, c2 = st.columns(2)
    opt = c1.selectbox(t("gates.layer"), list(layers), format_func=layers.get, key=ui.keyed(state.GATES_LAYER))
    layer, direction = opt
    orders = {o: t(f"order.{o}") for o in diagnostics.UNIT_ORDERS}
    how = c2.selectbox(t("gates.order"), list(orders), format_func=orders.get, key=ui.keyed(state.GATES_ORDER))
    quantities = [q for q in QUANTITIES[a.cell] if a.key(q, layer, direction) in a.recording]  # taps: some only
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

    tab, section = ui.section_tabs(("unit", "top", "saturation"), state.GATES_SECTION)
    with tab:
        if section == "unit":
            gate_sections.unit_drilldown(a, info.name, layer, direction, lbl)
        elif section == "top":
            gate_sections.top_units(a, layer, direction)
        else:
            gate_sections.saturation(info, a, getattr(pred, "task", "sentiment"))


ui.run_view(render)
