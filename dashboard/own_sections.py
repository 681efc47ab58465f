"""The Generation and Word tagging views for a user's model of the models file (:mod:`lstmviz.adapters`).

A ``next_token`` model continues a prefix token by token (:func:`lstmviz.adapters.generate`): the text, each chosen
token's probability and the gates of the whole sequence. A ``tags`` model tags the typed text
(:func:`lstmviz.adapters.tag`): each token's tag and its probability, and the gates. The sections that need what only
the shipped character models and tagger have (their corpus, initialisation, embedding, held-out scores) say why they
do not open.
"""

from __future__ import annotations

from typing import Any

import pandas as pd
import streamlit as st

from dashboard import components as ui
from dashboard import state
from dashboard.i18n import t
from lstmviz import adapters, plots
from lstmviz.names import QUANTITIES
from lstmviz.sentence import EmptyTextError


def generation(info: state.CheckpointInfo) -> None:
    """A user's ``next_token`` model continues the prefix token by token: the text, each chosen token's probability,
    and the gates of the whole sequence in the picked module and layer; the character models' sections say why
    they do not open."""
    adapter = state.adapter(info.path)
    state.check_view(info.path, state.stamp(info.path), "generate")  # from the model's sizes, before any work
    c1, c2, c3, c4, c5 = st.columns(5)  # the same widgets (keys, ranges) as the character models': shared values
    default = adapter.examples[0][: state.GEN_PREFIX_CHARS] if adapter.examples else ""
    prefix = c1.text_input(t("gen.prefix"), default, max_chars=state.GEN_PREFIX_CHARS, key=state.GEN_PREFIX)
    length = c2.slider(t("gen.length"), 1, state.GEN_OWN_TOKENS, 20, key=state.GEN_OWN_LENGTH)
    temperature = c3.slider(t("gen.temperature"), 0.1, 2.0, 0.8, 0.1, key=state.GEN_TEMPERATURE)
    top_k = c4.slider(t("gen.top_k"), 1, 20, 5, key=state.GEN_TOP_K)
    seed = c5.number_input(t("gen.seed"), 0, 10_000, 0, key=state.GEN_SEED)
    try:
        run = state.own_generate(info.path, prefix, int(length), float(temperature), int(top_k), int(seed))
    except EmptyTextError:
        st.info(t("gen.own_empty"))
        return
    a = run["analysis"]
    ui.user_model_caption(info, a)
    st.code(a.text, language=None, wrap_lines=True)  # the prefix and the model's tokens: plain text, never markup
    st.caption(t("gen.own_shown", n=len(run["prefix_tokens"]), m=len(run["tokens"])))
    lbl = ui.plot_labels()
    if run["tokens"]:
        st.subheader(t("gen.own_probs"))
        st.caption(t("gen.own_probs_caption"))
        steps = range(len(run["tokens"]))
        probs = pd.concat(
            [
                pd.DataFrame({"step": steps, "token": run["tokens"], "label": t("gen.p_model"), "prob": run["p"]}),
                pd.DataFrame(
                    {"step": steps, "token": run["tokens"], "label": t("gen.p_sampled"), "prob": run["p_sampled"]}
                ),
            ],
            ignore_index=True,
        )
        fig = plots.probability_lines(probs, run["tokens"], title=f"{info.name}: {t('gen.own_probs')}", labels=lbl)
        ui.show_figure(fig, probs, f"gen_probs_{info.name}", "gen_own_probs")
    st.caption(t("gen.own_heatmap"))
    start = a.extra["prefix_len"]
    heatmap(info, a, (state.GEN_OWN_MODULE, state.GEN_OWN_LAYER, state.GEN_TAB), "gen", "gates.layer", start)
    tab, section = ui.section_tabs(("connectivity", "cells"), state.GEN_SECTION)
    with tab:
        ui.not_for_user_model(section)  # both need a character model's corpus, initialisation or embedding


def tagging(info: state.CheckpointInfo) -> None:
    """A user's ``tags`` model on the typed text: each token's tag and its probability, and the gates of the picked
    recurrent module and layer; the shipped tagger's connectivity and scores say why they do not open."""
    adapter = state.adapter(info.path)
    state.check_view(info.path, state.stamp(info.path), "tagger")  # from the model's sizes, before any work
    default = adapter.examples[0][: ui.MAX_TEXT_CHARS] if adapter.examples else ""
    text = st.text_input(t("tag.text"), default, max_chars=ui.MAX_TEXT_CHARS, key=ui.keyed(state.TAG_TEXT))
    try:
        a = state.own_tags(info.path, text)
    except EmptyTextError:
        st.info(t("tag.own_empty"))
        return
    ui.user_model_caption(info, a)
    tokens = a.extra["text_tokens"]
    if len(tokens) == adapters.MAX_TOKENS:
        st.caption(t("tag.own_cut", n=adapters.MAX_TOKENS))
    table = adapters.tag_table(a)[["step", "token", "tag", "p"]].rename(columns={"step": "#"})
    st.caption(t("tag.own_table"))
    st.dataframe(  # tokens and tags are the user's strings: shown as data, never markup
        ui.localized(table), hide_index=True, height=min(38 + 35 * len(table), 38 + 35 * 20)
    )
    heatmap(info, a, (state.TAG_OWN_MODULE, state.TAG_OWN_LAYER, state.TAG_TAB), "tagger", "tag.layer")
    st.subheader(t("tag.connectivity"))
    ui.not_for_user_model("connectivity")
    st.subheader(t("tag.scores"))
    ui.not_for_user_model("tag_scores")


def heatmap(
    info: state.CheckpointInfo,
    a: Any,
    keys: tuple[str, str, str],
    name: str,
    layer_label: str,
    start: int | None = None,
) -> None:
    """The open tab's quantity in the picked recurrent module, layer and direction of a user's model; with ``start``,
    a dashed line where the generated tokens begin (a module that steps once per token).

    Args:
        info: The model's picker entry.
        a: Its analysis (:func:`lstmviz.adapters.analyze`, ``generate`` or ``tag``).
        keys: Session keys of the module picker, the layer picker and the quantity tabs.
        name: Prefix of the figure's file name and widget keys (``"gen"``, ``"tagger"``).
        layer_label: i18n key of the layer picker's label.
        start: The first generated step, or None.
    """
    module_key, layer_key, tab_key = keys
    a = ui.user_module(a, module_key)  # a model that ran several recurrent modules: pick one
    layers = {o: ui.layer_label(o) for o in ui.layer_options(a)}  # labels fixed now: format_func stays pure
    ui.sanitize(ui.keyed(layer_key), list(layers))
    layer, direction = st.selectbox(t(layer_label), list(layers), format_func=layers.get, key=ui.keyed(layer_key))
    quantities = [q for q in QUANTITIES[a.cell] if a.key(q, layer, direction) in a.recording]  # taps: some only
    tab, q = ui.quantity_tab(quantities, tab_key)
    with tab:
        frame = a.activation_frame(q, layer, direction)
        title = f"{info.name}: {t('q.' + q)} · {layers[(layer, direction)]}"
        fig = plots.gate_heatmap(frame, a.tokens, q, title=title, labels=ui.plot_labels())
        if start is not None and a.tokens == a.extra["text_tokens"] and start < len(a.tokens):
            fig.add_vline(x=start - 0.5, line=dict(color="#444", width=2, dash="dash"))  # the first generated token
        ui.show_figure(fig, frame, f"{name}_{q}_{info.name}_l{layer}d{direction}", f"{name}_{q}")
