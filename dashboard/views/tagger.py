"""Tagger view: a sentence through the char-CNN + bidirectional recurrent tagger; what the model is (cell, layers),
its tags (named entities as BIO labels, highlighted in the sentence), the gates and states of each layer in both
directions, how far left and right each tag looks (connectivity), and its held-out scores against two baselines
(dashboard/tagger_sections.py).

A user's model of the models file with ``output="tags"`` (lstmviz.adapters) is listed beside it: a table of its tokens
with the predicted tag and its probability, and the gates of the picked recurrent module and layer; the sections that
need the shipped tagger's inputs and data say why they do not open."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from dashboard import components as ui
from dashboard import own_sections, state, tagger_sections
from dashboard.i18n import t
from lstmviz import plots
from lstmviz.names import QUANTITIES
from lstmviz.tagger import HEADS


def render() -> None:
    """Page body."""
    head = st.container()  # the title and intro, once the model is known: a user's tagger is not the shipped one
    infos = state.checkpoint_infos(state.checkpoint_root())
    for bad in (i for i in infos if i.error):  # an unreadable meta.json (a tagger's scores, say): one line each
        st.error(t("ckpt.bad", error=ui.md_escape(bad.error)))
    taggers = {i.path: i for i in infos if "tagger" in i.views and not i.error}
    taggers |= {i.path: i for i in state.model_infos() if i.user and "tagger" in i.views}  # the user's tag models
    if not taggers:
        intro(head, user=False)
        st.info(t("tag.none"))
        return
    ui.sanitize(state.TAG_MODEL, list(taggers))
    yours = t("sidebar.yours")
    names = {p: i.name + (yours if i.user else "") for p, i in taggers.items()}  # fixed now: format_func stays pure
    path = st.selectbox(t("tag.model"), list(taggers), format_func=names.get, key=state.TAG_MODEL)
    intro(head, user=taggers[path].user)
    if taggers[path].user:
        own_sections.tagging(taggers[path])
        return
    state.check_view(path, state.stamp(path), "tagger")  # from meta.json, before the model is loaded
    model, _ = state.load_model(path, state.stamp(path))  # the caption describes this model, not a typical one
    st.caption(t("tag.about", name=ui.md_escape(taggers[path].name), model=ui.model_summary(model.rnn)))
    text = st.text_input(t("tag.text"), t("tag.default"), max_chars=ui.MAX_TEXT_CHARS, key=ui.keyed(state.TAG_TEXT))
    run = state.tag(path, state.stamp(path), text)
    if not run["words"]:
        st.info(t("tag.empty"))
        return
    if len(run["words"]) == state.MAX_TAGGED_WORDS:
        st.caption(t("tag.cut", n=state.MAX_TAGGED_WORDS))
    tagger_sections.entities(text, run["spans"], run["table"]["ner"].tolist())  # BIO labels -> highlighted spans
    table = ui.localized(run["table"], {"pos": "pos", "ner": "ner"})  # ner: the BIO label and what it means
    st.dataframe(
        table, hide_index=True, height=min(38 + 35 * len(table), 38 + 35 * 20)
    )  # up to 20 rows unscrolled  # words are user text: shown as data, never markup
    if not all(run["known"]):
        st.caption(t("tag.unknown"))
    words = plots.token_labels(run["words"], [not k for k in run["known"]])
    options = [(layer, d) for layer in range(run["num_layers"]) for d in ("fwd", "rev")]
    names = {o: t("tag.layer_option", layer=o[0], direction=t(f"dir.{o[1]}")) for o in options}
    layer, direction = st.radio(t("tag.layer"), options, format_func=names.get, horizontal=True, key=state.TAG_LAYER)
    lbl, name = ui.plot_labels(), taggers[path].name
    quantities = QUANTITIES[run["cell"]]
    tab, q = ui.quantity_tab(quantities, state.TAG_TAB)
    with tab:
        frame = run["frames"][(layer, direction, q)]
        fig = plots.gate_heatmap(
            frame, words, q, title=f"{name}: {t('q.' + q)} · {names[(layer, direction)]}", labels=lbl
        )
        ui.show_figure(fig, frame, f"tagger_{q}_l{layer}_{direction}", f"tag_{q}")
    st.subheader(t("tag.connectivity"))
    heads = {h: t(f"head.{h}") for h in HEADS}
    c1, c2 = st.columns(2)
    head = c1.radio(t("tag.head"), list(heads), format_func=heads.get, horizontal=True, key=state.TAG_HEAD)
    per_row = c2.toggle(t("conn.per_row"), value=True, help=t("conn.per_row_help"), key=state.TAG_PER_ROW)
    st.caption(t("tag.connectivity_caption", **run["shares"][head]))
    conn = run["connectivity"][head]
    fig = plots.connectivity_heatmap(conn, words, title=f"{name}: {heads[head]}", labels=lbl, per_row=per_row)
    data = pd.DataFrame(conn).rename(columns=lambda s: f"s{s}")  # (T, T): row t, column s
    data.insert(0, "word", run["words"])
    ui.show_figure(fig, data, f"tagger_connectivity_{head}", "tag_conn")
    evaluation, comparison = state.tagger_eval_file(), None
    try:  # the baselines on known and unseen words, when made from these weights (python -m lstmviz.tagbaseline)
        comparison = state.tagger_comparison(str(evaluation), state.stamp(evaluation), path, state.stamp(path))
    except ValueError as e:
        st.error(t("tag.eval_bad", error=ui.md_escape(str(e))))
    tagger_sections.scores(run["test_metrics"], comparison)


def intro(head, user: bool) -> None:
    """The page's title and intro in ``head`` (above the picker): the shipped tagger's, or a user's model's."""
    with head:
        st.header(t("tag.own_title" if user else "tag.title"))
        st.caption(t("tag.own_intro" if user else "tag.intro"))


ui.run_view(render)
