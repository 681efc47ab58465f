"""Comparison view: two sentences through one model, or one sentence through two models; B − A of every state."""

from __future__ import annotations

import streamlit as st

from dashboard import components as ui
from dashboard import state
from dashboard.i18n import t
from lstmviz import plots, textcompare
from lstmviz.adapters import AdapterPredictor
from lstmviz.names import QUANTITIES

# Sentence pairs and the labels that are right for them (shown whatever the model predicts).
PAIRS_RU = {
    "negation": (("Это плохо.", "negative"), ("Это не плохо.", "positive")),
    "but": (("Фильм был скучный.", "negative"), ("Фильм был скучный, но финал потрясающий.", "mixed")),
}


def pairs_for(pred) -> dict[str, tuple[tuple[str, str], tuple[str, str]]]:
    """Preset pairs: Russian sentences, two cue sequences that differ only in the cue, or the first two examples of
    the user's adapter."""
    examples = list(ui.presets_for(pred)) if isinstance(pred, AdapterPredictor) else []
    if len(examples) >= 2:
        return {"examples": ((examples[0], ""), (examples[1], ""))}
    if getattr(pred, "task", "sentiment") != "cue_recall":
        return PAIRS_RU
    seqs = list(ui.presets_for(pred))
    first = seqs[-1].split()  # the longest preset; swap its cue for another country
    other = next((s.split()[0] for s in seqs if s.split()[0] != first[0]), first[0])
    return {"cue": ((" ".join(first), ""), (" ".join([other] + first[1:]), ""))}


def verdict(a, right: str) -> str:
    """'prediction ✓' or 'prediction ✗ (right: …)' in the session's language; what a user's model outputs when it
    gives no class per text."""
    output = a.extra.get("output", "classify")
    if output != "classify":
        return t(f"adapter.output.{output}")
    got = ui.md_escape(ui.class_name(a.predicted_label))
    if not right:
        return got
    return f"{got} ✓" if a.predicted_label == right else t("cmp.wrong", got=got, right=ui.class_name(right))


def render() -> None:
    """Page body."""
    st.header(t("cmp.title"))
    st.caption(t("cmp.intro"))
    info, pred = ui.checkpoint_or_stop()
    modes = {"texts": t("cmp.mode.texts"), "models": t("cmp.mode.models")}
    mode = st.radio(t("cmp.mode"), list(modes), format_func=modes.get, horizontal=True, key=ui.keyed(state.CMP_MODE))
    pairs = pairs_for(pred)
    names = {k: t(f"cmp.pair.{k}") for k in pairs}
    key = st.selectbox(t("cmp.pair"), list(pairs), format_func=names.get, key=ui.keyed(state.CMP_PAIR))
    (text_a, right_a), (text_b, right_b) = pairs[key]
    c1, c2 = st.columns(2)
    path_b = info.path
    if mode == "models":  # one text, the sidebar's model (A) against another of the same cell and size (B)
        others = {i.path: i for i in ui.classify_infos(info.task) if i.path != info.path and i.cell == info.cell}
        if not others:
            st.info(t("cmp.no_partner", cell=ui.md_escape(info.cell)))
            return
        path_b = c2.selectbox(
            t("cmp.model_b"), list(others), format_func=lambda p: others[p].name, key=state.CMP_MODEL_B
        )
        text_a = c1.text_input(t("cmp.text"), text_b, max_chars=ui.MAX_TEXT_CHARS, key=state.key(state.CMP_A, "m", key))
        text_b, right_a = text_a, right_b
    else:
        text_a = c1.text_input(t("cmp.a"), text_a, max_chars=ui.MAX_TEXT_CHARS, key=state.key(state.CMP_A, key))
        text_b = c2.text_input(t("cmp.b"), text_b, max_chars=ui.MAX_TEXT_CHARS, key=state.key(state.CMP_B, key))
    a = ui.analysis_or_stop(info.path, text_a)
    b = ui.analysis_or_stop(path_b, text_b)
    same = (
        (text_b == pairs[key][1][0])
        if mode == "models"
        else (text_a == pairs[key][0][0] and text_b == pairs[key][1][0])
    )
    if a.values("hidden").shape[1] != b.values("hidden").shape[1]:
        st.info(t("cmp.no_partner", cell=ui.md_escape(info.cell)))
        return
    c1.metric(t("cmp.prediction_a"), verdict(a, right_a if same else ""))
    c2.metric(t("cmp.prediction_b"), verdict(b, right_b if same else ""))
    changed = textcompare.changed_tokens(a, b)  # {op: [(A token or None, B token or None), ...]}
    for op, items in changed.items():  # tokens are user text: each one escaped
        if items:
            shown = (" → ".join(ui.md_escape(w) for w in pair if w is not None) for pair in items)
            st.caption(t(f"cmp.{op}", tokens=", ".join(shown)))
    if any(changed.values()):
        st.caption(t("cmp.columns"))
    lbl = ui.plot_labels()
    diff_lbl = {**lbl, "q_hidden": t("cmp.diff"), "q_cell": t("cmp.diff")}
    layers = {o: ui.layer_label(o) for o in ui.layer_options(a)}
    layer, direction = st.selectbox(
        t("gates.layer"), list(layers), format_func=layers.get, key=ui.keyed(state.CMP_LAYER)
    )
    quantities = [q for q in QUANTITIES[a.cell] if a.key(q, layer, direction) in a.recording]  # taps: some only
    tab, q = ui.quantity_tab(quantities, state.CMP_TAB)
    with tab:
        frame = textcompare.difference_frame(a, b, q, layer, direction)
        tokens = list(frame.drop_duplicates("step")["token"])
        title = t("cmp.fig_title", q=t(f"q.{q}"))
        fig = plots.gate_heatmap(frame, tokens, "cell" if q == "cell" else "hidden", title=title, labels=diff_lbl)
        ui.show_figure(fig, frame, f"diff_{q}_{info.name}", f"cmp_{q}")


ui.run_view(render)
