"""Gradients-through-time view: one sentence through RNN, GRU and LSTM; what-if knobs."""

from __future__ import annotations

import numpy as np
import pandas as pd
import streamlit as st

from dashboard import components as ui
from dashboard import state
from dashboard.i18n import t
from lstmviz import analysis, plots


def what_if_knobs() -> dict:
    """The what-if expander; returns keyword arguments for ``state.analyze``."""
    with st.expander(t("whatif.title"), expanded=False):
        st.caption(t("whatif.caption"))
        c1, c2, c3, c4 = st.columns(4)
        filler = c1.slider(t("whatif.filler"), 0, 150, 0, 5, key=state.WHATIF_FILLER)
        at = c1.radio(t("whatif.filler_at"), [*analysis.FILLER_POSITIONS, "after"], key=state.WHATIF_FILLER_AT,
                      format_func=lambda k: t(f"whatif.filler_at.{k}"), horizontal=True)  # fmt: skip
        if at == "after":  # after the first k tokens
            at = int(c1.number_input(t("whatif.filler_k"), 0, 10_000, 1, key=state.WHATIF_FILLER_K))
        whh = c2.slider(t("whatif.whh"), 0.25, 2.0, 1.0, 0.05, key=state.WHATIF_WHH)
        bias = c3.slider(t("whatif.bias"), -5.0, 5.0, 0.0, 0.5, key=state.WHATIF_BIAS)
        untrained = c4.toggle(t("whatif.untrained"), key=state.WHATIF_UNTRAINED)
    return {"filler": int(filler), "filler_at": at, "whh_scale": float(whh), "forget_bias": float(bias),
            "untrained": bool(untrained)}  # fmt: skip


def render() -> None:
    """Page body."""
    st.header(t("grads.title"))
    st.caption(t("grads.intro"))
    ui.classroom_button()
    info, first = ui.checkpoint_or_stop()
    infos = ui.classify_infos(info.task)
    by_path = {i.path: i for i in infos}
    ui.sanitize(state.GRAD_MODELS, list(by_path), multi=True)
    chosen = st.multiselect(t("grads.models"), list(by_path), default=ui.default_models(infos) or [info.path],
                            format_func=lambda p: by_path[p].name, key=state.GRAD_MODELS)
    if not chosen:
        st.info(t("grads.pick"))
        return
    preds = {by_path[p].name: ui.predictor_or_stop(by_path[p]) for p in chosen}
    text = ui.text_block("grads", next(iter(preds.values())))
    shared = [l for l in next(iter(preds.values())).labels if all(l in p.labels for p in preds.values())]
    ui.sanitize(state.GRAD_TARGET, [""] + shared)
    targets = {"": t("grads.predicted"), **{l: l for l in shared}}  # labels fixed now: format_func stays pure
    target = st.radio(t("grads.target"), list(targets), horizontal=True, key=state.GRAD_TARGET,
                      format_func=targets.get)
    knobs = what_if_knobs()
    runs = {name: ui.analysis_or_stop(p, text, target=target or None, **knobs)
            for name, p in zip(preds, chosen)}
    first_a = next(iter(runs.values()))
    ui.token_notices(first_a)
    st.caption(" · ".join(f"{ui.md_escape(n)}: **{ui.md_escape(a.predicted_label)}** "
                          f"(loss → {ui.md_escape(a.labels[a.target])})" for n, a in runs.items()))

    frames, bounds = [], []
    for name, a in runs.items():
        g = a.grad_frame(series=name)
        frames.append(g[(g["layer"] == a.num_layers - 1) & (g["direction"] == "fwd")])
        if "pascanu" in a.extra and len(a.extra["pascanu"]):
            bounds.append(a.extra["pascanu"].assign(series=name))
    grads = pd.concat(frames, ignore_index=True)
    all_bounds = pd.concat(bounds, ignore_index=True) if bounds else None
    # Draw the bound only where it constrains the curve (σ_max < 1); otherwise it only grows.
    bound = all_bounds[all_bounds["binding"]] if all_bounds is not None else None
    bound = bound if bound is not None and len(bound) else None
    lbl = ui.plot_labels()
    data = grads if bound is None else pd.concat([grads, bound], ignore_index=True)
    scales = {"norm_rel": t("grads.scale.rel"), "norm": t("grads.scale.raw")}
    value = st.radio(t("grads.scale"), list(scales), horizontal=True, key=state.GRAD_SCALE, format_func=scales.get)
    for x, tokens, title, key in (("step", first_a.tokens, "grads.by_token", "grad_step"),
                                  ("distance", None, "grads.by_distance", "grad_dist")):
        fig = plots.grad_norm_curves(grads, x, tokens, bound, title=t(title), labels=lbl, value=value)
        ui.show_figure(fig, data, f"grad_norms_by_{x}", key)
    st.caption(t("grads.ratio", items=" · ".join(f"{ui.md_escape(n)}: {a.grad_ratio:.1e}" for n, a in runs.items()
                                                  if a.grad_ratio is not None)))  # fmt: skip
    if all_bounds is not None:
        for name, b in all_bounds.groupby("series", sort=False):
            key = "grads.pascanu" if bool(b["binding"].iloc[0]) else "grads.pascanu_loose"
            st.caption(t(key, name=ui.md_escape(name), sigma=f"{b['sigma_max'].iloc[0]:.2f}",
                         rho=f"{b['spectral_radius'].iloc[0]:.2f}"))  # fmt: skip

    st.subheader(t("grads.saliency"))
    top = max(float(np.nanmax(a.saliency)) for a in runs.values())  # one scale: the models stay comparable
    for i, (name, a) in enumerate(runs.items()):
        sal = plots.colored_text_data(a.tokens, a.saliency)
        fig = plots.colored_text_figure(sal, 0.0, top, "Reds", title=f"{name}: ‖∂L/∂x_t‖")
        ui.show_figure(fig, sal, f"saliency_{name}", f"saliency_{i}")

    lstms = {n: a for n, a in runs.items() if a.cell == "lstm"}
    if lstms:
        st.subheader(t("grads.forget"))
        st.caption(t("grads.forget_caption"))
        fp = pd.concat([analysis.forget_product_frame(a, series=n) for n, a in lstms.items()], ignore_index=True)
        fig = plots.forget_product_figure(fp, first_a.tokens, labels=lbl)
        ui.show_figure(fig, fp, "forget_product", "forget_product")


ui.run_view(render)
