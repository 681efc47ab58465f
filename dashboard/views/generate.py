"""Generation view: a character language model continues a prefix; what the model is (cell, layers), the gates and
states of each layer (every character labelled; by default the units that vary most), the top-5 next characters
after each character, the connectivity ‖∂ loss_t / ∂ x_s‖ of every character model on the same text, and its
interpretable units (dashboard/cell_sections.py). Every CSV carries the characters.

A user's model of the models file with ``output="next_token"`` (lstmviz.adapters) is listed beside them: it continues
a prefix token by token (:func:`lstmviz.adapters.generate`), with the probability of each chosen token and the gates
of the whole sequence; the sections that need a character model's corpus and embedding say why they do not open."""

from __future__ import annotations

import streamlit as st

from dashboard import cell_sections, own_sections, state
from dashboard import components as ui
from dashboard.i18n import t
from lstmviz import charlm, plots
from lstmviz.names import QUANTITIES


def render() -> None:
    """Page body."""
    head = st.container()  # the title and intro, once the model is known: a user's model is no character model
    lms = {i.path: i for i in state.model_infos() if "generate" in i.views and not i.error}  # ours, then the user's
    if not lms:
        intro(head, user=False)
        st.info(t("gen.none"))
        return
    ui.sanitize(state.GEN_MODEL, list(lms))
    yours = t("sidebar.yours")
    names = {p: i.name + (yours if i.user else "") for p, i in lms.items()}  # fixed now: format_func stays pure
    path = st.selectbox(t("gen.model"), list(lms), format_func=names.get, key=state.GEN_MODEL)
    intro(head, user=lms[path].user)
    if lms[path].user:
        own_sections.generation(lms[path])
        return
    state.check_view(path, state.stamp(path), "generate")  # from meta.json, before the model is loaded
    model, _ = state.load_model(path, state.stamp(path))  # the caption describes this model, not a typical one
    st.caption(t("gen.about", name=ui.md_escape(lms[path].name), model=ui.model_summary(model.rnn)))
    c1, c2, c3, c4 = st.columns(4)
    prefix = c1.text_input(t("gen.prefix"), "Мне очень ", max_chars=state.GEN_PREFIX_CHARS, key=state.GEN_PREFIX)
    temperature = c2.slider(t("gen.temperature"), 0.1, 2.0, 0.8, 0.1, key=state.GEN_TEMPERATURE)
    top_k = c3.slider(t("gen.top_k"), 1, 20, 5, key=state.GEN_TOP_K)
    seed = c4.number_input(t("gen.seed"), 0, 10_000, 0, key=state.GEN_SEED)
    if not prefix:
        st.info(t("gen.empty"))
        return
    run = state.lm_generate(
        path, state.stamp(path), prefix, state.GEN_LENGTH, float(temperature), int(top_k), int(seed)
    )
    st.code(prefix + run["continuation"], language=None, wrap_lines=True)  # model output: shown as plain text
    st.caption(t("gen.shown", n=len(prefix), m=len(run["continuation"])))
    text, lbl = prefix + run["continuation"], ui.plot_labels()
    heatmap(run, text, lms[path].name, lbl)
    st.subheader(t("gen.top5"))
    st.dataframe(ui.localized(charlm.top5_table(run["top5"], text)), hide_index=True)  # user text: shown as data
    tab, section = ui.section_tabs(("connectivity", "cells"), state.GEN_SECTION)
    with tab:
        if section == "cells":
            cell_sections.section(path, lms[path].name, text, run)
        else:
            cell_sections.connectivity(lms, text, lbl)


def intro(head, user: bool) -> None:
    """The page's title and intro in ``head`` (above the picker): the character models', or a user's model's."""
    with head:
        st.header(t("gen.own_title" if user else "gen.title"))
        st.caption(t("gen.own_how" if user else "gen.intro"))


def heatmap(run: dict, text: str, name: str, lbl: dict[str, str]) -> None:
    """The open tab's quantity of the chosen layer: every character labelled (a window of a long text), the units
    that vary most on the text unless all are asked for; its CSV has every unit and step with the character."""
    layers = {layer: t("gen.layer", layer=layer) for layer in range(run["num_layers"])}
    c1, c2, c3 = st.columns([2, 1, 2])
    layer = c1.radio(t("gates.layer"), list(layers), format_func=layers.get, horizontal=True, key=state.GEN_LAYER)
    quantities = QUANTITIES[run["cell"]]
    units = int(run["frames"][(layer, "fwd", quantities[0])]["unit"].max()) + 1
    every = units <= state.GEN_TOP_UNITS or c2.toggle(
        t("gen.all_units", n=units), key=state.GEN_ALL_UNITS, help=t("gen.all_units_help", n=state.GEN_TOP_UNITS)
    )
    width = state.GEN_HEATMAP_CHARS_PRESENT if ui.presenting() else state.GEN_HEATMAP_CHARS  # 22 px labels: fewer
    first = 0
    if len(text) > width:  # a window, so every character keeps a legible label
        last = len(text) - width
        st.session_state[state.GEN_WINDOW] = cell_sections.in_range(st.session_state.get(state.GEN_WINDOW), last)
        first = c3.slider(t("gen.window", n=width, total=len(text)), 0, last, key=state.GEN_WINDOW)
    tab, q = ui.quantity_tab(quantities, state.GEN_TAB)
    with tab:
        frame = run["frames"][(layer, "fwd", q)]
        order = None if every else charlm.most_varied_units(frame, state.GEN_TOP_UNITS)
        if order is not None:
            st.caption(t("gen.top_units", n=len(order), total=units))
        window = frame[(frame["step"] >= first) & (frame["step"] < first + width)]
        fig = plots.gate_heatmap(
            window.assign(step=window["step"] - first),
            charlm.char_labels(text[first : first + width]),
            q,
            title=f"{name}: {t('q.' + q)}",
            labels=lbl,
            order=order,
            all_ticks=True,
            first_step=first,
        )
        ui.show_figure(fig, charlm.with_chars(frame, text), f"gen_{q}_l{layer}", f"gen_{q}")


ui.run_view(render)
