"""Gradients-through-time view: one sentence through RNN, GRU and LSTM; what-if knobs; training profiles."""

from __future__ import annotations

import streamlit as st

from dashboard import components as ui
from dashboard import grad_sections as sections
from dashboard import state
from dashboard.i18n import t
from lstmviz import sentence
from lstmviz.gradcompare import compare_gradients

SECTIONS = ("reach", "init", "saliency", "forget", "profiles")  # below the curves, one open at a time


def what_if_knobs(infos: list[state.CheckpointInfo]) -> dict:
    """The what-if expander; returns keyword arguments for ``state.analyze`` of the models ``infos``."""
    with st.expander(t("whatif.title"), expanded=False):
        st.caption(t("whatif.caption"))
        c1, c2, c3, c4 = st.columns(4)
        filler = c1.slider(t("whatif.filler"), 0, 150, 0, 5, key=state.WHATIF_FILLER)
        at = c1.radio(
            t("whatif.filler_at"),
            [*sentence.FILLER_POSITIONS, "after"],
            key=ui.keyed(state.WHATIF_FILLER_AT),
            format_func={k: t(f"whatif.filler_at.{k}") for k in (*sentence.FILLER_POSITIONS, "after")}.get,
            horizontal=True,
        )  # labels fixed now: format_func stays pure
        if at == "after":  # after the first k tokens
            at = int(c1.number_input(t("whatif.filler_k"), 0, 10_000, 1, key=state.WHATIF_FILLER_K))
        whh = c2.slider(t("whatif.whh"), 0.25, 2.0, 1.0, 0.05, key=state.WHATIF_WHH)
        bias = c3.slider(t("whatif.bias"), -5.0, 5.0, 0.0, 0.5, key=state.WHATIF_BIAS)
        untrained = c4.toggle(t("whatif.untrained"), key=state.WHATIF_UNTRAINED)
        with c4:  # all models at their recorded start or none; a list, so each unknown one gets its caption
            untrained = untrained and all([ui.initialisation_known(i.path, i.name) for i in infos])
    return {
        "filler": int(filler),
        "filler_at": at,
        "whh_scale": float(whh),
        "forget_bias": float(bias),
        "untrained": bool(untrained),
    }


def render() -> None:
    """Page body."""
    st.header(t("grads.title"))
    st.caption(t("grads.intro"))
    ui.classroom_button()
    info, first = ui.checkpoint_or_stop()
    infos = ui.classify_infos(info.task)
    by_path = {i.path: i for i in infos}
    ui.sanitize(state.GRAD_MODELS, list(by_path), multi=True)
    if st.session_state.get(state.GRAD_MODELS) == [] and info.path not in st.session_state.get(state.GRAD_SEEN, ()):
        st.session_state.pop(state.GRAD_MODELS)  # another task's models were all dropped: this task's defaults
    st.session_state[state.GRAD_SEEN] = tuple(by_path)
    chosen = st.multiselect(
        t("grads.models"),
        list(by_path),
        default=ui.default_models(infos) or [info.path],
        format_func=lambda p: by_path[p].name,
        key=state.GRAD_MODELS,
    )
    if not chosen:
        st.info(t("grads.pick"))
        return
    preds = {by_path[p].name: ui.predictor_or_stop(by_path[p]) for p in chosen}
    text = ui.text_block("grads", next(iter(preds.values())))
    shared = [label for label in next(iter(preds.values())).labels if all(label in p.labels for p in preds.values())]
    ui.sanitize(ui.keyed(state.GRAD_TARGET), [""] + shared)
    # Radio options render Markdown: a label from meta.json is escaped (inert), fixed now so format_func stays pure.
    targets = {"": t("grads.predicted"), **{label: ui.md_escape(ui.class_name(label)) for label in shared}}
    radio = {"horizontal": True, "key": ui.keyed(state.GRAD_TARGET), "format_func": targets.get}
    target = st.radio(t("grads.target"), list(targets), **radio) if shared else ""  # no classes: the model's loss
    user = any(by_path[p].user for p in chosen)
    if user:  # the what-ifs rebuild lstmviz's own models; a user's model is shown as it is
        st.caption(t("adapter.no_whatif"))
    knobs = {} if user else what_if_knobs([by_path[p] for p in chosen])
    whatif = {"target": target or None, **knobs}
    runs = {name: ui.analysis_or_stop(p, text, **whatif) for name, p in zip(preds, chosen)}
    if user and len(runs) == 1:  # one user model with several recurrent modules: the curves of the one picked
        runs = {name: ui.user_module(a, state.GRAD_MODULE) for name, a in runs.items()}
    first_a = next(iter(runs.values()))
    ui.token_notices(first_a)
    ui.user_model_caption(by_path[chosen[0]], first_a)
    st.caption(" · ".join(sections.loss_caption(n, a) for n, a in runs.items()))

    cmp = compare_gradients(runs)  # the same function benchmarks/bench_dashboard.py times
    sections.curves(cmp, first_a.tokens)
    sections.filler_note(runs)
    tab, section = ui.section_tabs(SECTIONS, state.GRAD_SECTION)
    with tab:
        if user and section in sections.USER_WHY:  # these read what only lstmviz's own checkpoints record
            ui.not_for_user_model(sections.USER_WHY[section])
        elif section == "init":
            sections.trained_vs_init(dict(zip(preds, chosen)), text, whatif)
        elif section == "reach":
            sections.reach(cmp)
        elif section == "saliency":
            sections.saliency(cmp)
        elif section == "forget":
            sections.forget(cmp, first_a.tokens)
        else:
            sections.training_profiles({name: by_path[p] for name, p in zip(preds, chosen)})


ui.run_view(render)
