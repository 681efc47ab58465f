"""Sections of the Gradients view: curves with honest bounds, reach, saliency, forget products, training profiles.

Each function draws one section from a :class:`lstmviz.gradcompare.GradientComparison` (or the
checkpoints' stored histories); the view (``dashboard/views/gradients.py``) only wires widgets to them.
"""

from __future__ import annotations

import pandas as pd
import streamlit as st

from dashboard import components as ui
from dashboard import state
from dashboard.i18n import t
from lstmviz import plots, tidy
from lstmviz.gradcompare import GradientComparison


def curves(cmp: GradientComparison, tokens: list[str]) -> None:
    """‖∂L/∂h_t‖ by token and by distance (normalised by default), the bound only where it binds."""
    lbl = ui.plot_labels()
    bound = cmp.drawn_bounds  # σ_max < 1 only: a bound that grows says nothing and would squash the curves
    data = cmp.curves if bound is None else pd.concat([cmp.curves, bound], ignore_index=True)
    scales = {"norm_rel": t("grads.scale.rel"), "norm": t("grads.scale.raw")}
    value = st.radio(
        t("grads.scale"), list(scales), horizontal=True, key=ui.keyed(state.GRAD_SCALE), format_func=scales.get
    )
    for x, toks, title, key in (
        ("step", tokens, "grads.by_token", "grad_step"),
        ("distance", None, "grads.by_distance", "grad_dist"),
    ):
        fig = plots.grad_norm_curves(cmp.curves, x, toks, bound, title=t(title), labels=lbl, value=value)
        ui.show_figure(fig, data, f"grad_norms_by_{x}", key)
    ratios = [f"{ui.md_escape(n)}: {a.grad_ratio:.1e}" for n, a in cmp.runs.items() if a.grad_ratio is not None]
    st.caption(t("grads.ratio", items=" · ".join(ratios)))
    for b in cmp.bound_facts():
        st.caption(
            t(
                "grads.pascanu" if b["binding"] else "grads.pascanu_loose",
                name=ui.md_escape(b["series"]),
                sigma=f"{b['sigma_max']:.2f}",
                rho=f"{b['spectral_radius']:.2f}",
            )
        )


def reach(cmp: GradientComparison) -> None:
    """The loss-free reach ‖∂h_T/∂s_t‖₂ of every model, its value at the first token in the caption."""
    if cmp.reach.empty:
        return
    st.subheader(t("grads.reach"))
    st.caption(t("grads.reach_caption"))
    fig = plots.reach_curves(cmp.reach, x="distance", title=t("grads.reach_title"), labels=ui.plot_labels())
    ui.show_figure(fig, cmp.reach, "reach", "reach")
    first = cmp.reach.sort_values("step").groupby("series", sort=False).first()
    items = [f"{ui.md_escape(s)}: {r['reach']:.1e}" for s, r in first.iterrows()]
    st.caption(t("grads.reach_first", items=" · ".join(items)))


def saliency(cmp: GradientComparison) -> None:
    """One saliency strip per model, all on one colour scale."""
    st.subheader(t("grads.saliency"))
    top = cmp.saliency_max or None
    for i, (name, a) in enumerate(cmp.runs.items()):
        sal = plots.colored_text_data(a.tokens, a.saliency)
        fig = plots.colored_text_figure(sal, 0.0, top, "Reds", title=f"{name}: ‖∂L/∂x_t‖")
        ui.show_figure(fig, sal, f"saliency_{name}", f"saliency_{i}")


def forget(cmp: GradientComparison, tokens: list[str]) -> None:
    """Π f_k beside ‖∂L/∂c_t‖ for the LSTMs among the compared models."""
    if cmp.forget.empty:
        return
    st.subheader(t("grads.forget"))
    st.caption(t("grads.forget_caption"))
    fig = plots.forget_product_figure(cmp.forget, tokens, labels=ui.plot_labels())
    ui.show_figure(fig, cmp.forget, "forget_product", "forget_product")


def training_profiles(infos: dict) -> None:
    """Stored per-epoch profiles: epoch 1 against the best epoch of each model, on one colour scale."""
    rows = []
    for name, info in infos.items():
        meta = state.read_meta(info.path, state.stamp(info.path))
        prof = tidy.grad_profile_frame(meta.get("history") or [])
        if prof.empty:
            continue
        best = int(meta.get("best_epoch") or prof["epoch"].max())
        keep = sorted({int(prof["epoch"].min()), best})
        rows.append(prof[prof["epoch"].isin(keep)].assign(series=name))
    if not rows:
        return
    frame = pd.concat(rows, ignore_index=True)
    st.subheader(t("grads.epochs"))
    st.caption(t("grads.epochs_caption"))
    fig = plots.profile_pairs_heatmap(frame, title=t("grads.epochs_title"), labels=ui.plot_labels())
    ui.show_figure(fig, frame, "grad_profile_epochs", "grad_epochs")
    if zeros := int((frame["norm"] == 0).sum()):
        st.caption(t("train.profile_zeros", n=zeros))
