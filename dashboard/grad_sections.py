"""Sections of the Gradients view: curves with honest bounds, the filler note, trained vs at initialisation, reach,
saliency, forget products, training profiles.

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
from lstmviz.gradcompare import GradientComparison, compare_gradients
from lstmviz.sentence import TextAnalysis

# Sections a user's model (lstmviz.adapters) cannot open -> the reason shown (adapter.why.<reason>).
USER_WHY = {"init": "init", "saliency": "saliency", "profiles": "profiles"}


def loss_caption(name: str, a) -> str:
    """``name: **prediction** (loss → class)``; a user's model that is no classifier: what its loss is."""
    output = a.extra.get("output", "classify")
    if output != "classify":
        return f"{ui.md_escape(name)}: {t('adapter.loss.' + output)}"
    loss_to = t("grads.loss_to", label=ui.md_escape(ui.class_name(a.labels[a.target])))
    return f"{ui.md_escape(name)}: **{ui.md_escape(ui.class_name(a.predicted_label))}** ({loss_to})"


def curves(cmp: GradientComparison, tokens: list[str]) -> None:
    """‖∂L/∂h_t‖ by token and by distance (normalised by default), the bound only where it binds."""
    lbl = ui.plot_labels()
    bound = cmp.drawn_bounds  # σ_max < 1 only: a bound that grows says nothing and would squash the curves
    data = cmp.curves if bound is None else pd.concat([cmp.curves, bound], ignore_index=True)
    scales = {"norm_rel": t("grads.scale.rel"), "norm": t("grads.scale.raw")}
    if any(a.extra.get("output", "classify") != "classify" for a in cmp.runs.values()):
        scales.pop("norm_rel")  # a user's loss may enter at every token: "relative to the last token" means nothing
        ui.sanitize(ui.keyed(state.GRAD_SCALE), list(scales))
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


def filler_note(runs: dict[str, TextAnalysis]) -> None:
    """With what-if fillers: which tokens were inserted, that the loss target is the text's own prediction, and why
    a ratio need not fall steadily with more fillers."""
    a = next(iter(runs.values()))
    n = int(a.extra.get("prepend") or 0)
    names = a.extra.get("fillers") or []
    if not n or not names:
        return
    if len(set(names)) > 1:  # cue recall: the task's distractors, continuing their cycle
        shown = " ".join(names[:3]) + (f" … {names[-1]}" if len(names) > 3 else "")
        st.caption(t("whatif.filler_cue", tokens=ui.md_escape(shown), n=n))
    else:
        st.caption(t("whatif.filler_token", token=ui.md_escape(names[0]), n=n))
    original = [
        f"{ui.md_escape(name)} → {ui.md_escape(ui.class_name(r.labels[r.target]))}"
        for name, r in runs.items()
        if r.extra.get("target_source") == "original"
    ]
    if original:  # a chosen target is named in the prediction caption already
        st.caption(t("whatif.filler_target", items=" · ".join(original)))
    st.caption(t("whatif.filler_wiggle"))


def trained_vs_init(paths: dict[str, str], text: str, whatif: dict) -> None:
    """Each model's curve and first-to-last ratio trained and at the initialisation its checkpoint records.

    Both runs of a model trace the same loss (the trained run's target) on the same text and fillers; ``W_hh`` and
    gate-bias what-ifs are left out (trained means the checkpoint as it is). Every run goes through the cached,
    budgeted ``state.analyze`` (the trained one is the main curves' own run when those what-ifs are off).

    Args:
        paths: Model name -> checkpoint path, as compared by the view.
        text: The text.
        whatif: The view's keyword arguments for ``state.analyze`` (``target``, ``filler``, ``filler_at``, ...).
    """
    st.subheader(t("grads.init"))
    plain = {**whatif, "whh_scale": 1.0, "forget_bias": 0.0, "untrained": False}  # same key order: cache hits
    col_model, col_trained, col_init = t("grads.init_model"), t("grads.init_trained"), t("grads.init_start")
    runs, rows, items = {}, [], []
    for name, path in paths.items():
        trained = ui.analysis_or_stop(path, text, **plain)
        label = trained.labels[trained.target]
        runs[name] = trained
        items.append(f"{ui.md_escape(name)} → {ui.md_escape(ui.class_name(label))}")
        start = None
        if ui.initialisation_known(path):  # unknown: no stand-in is shown, and the caption below names the model
            start = ui.analysis_or_stop(path, text, **{**plain, "target": label, "untrained": True})
            runs[t("grads.init_series", name=name)] = start
        rows.append({col_model: name, col_trained: trained.grad_ratio, col_init: start and start.grad_ratio})
    st.caption(t("grads.init_caption", items=" · ".join(items)))
    unknown = [r[col_model] for r in rows if r[col_init] is None]
    if unknown:
        st.caption(t("grads.init_none", names=", ".join(ui.md_escape(n) for n in unknown)))
    table = pd.DataFrame(rows)
    fmt = st.column_config.NumberColumn(format="%.2e")
    st.dataframe(table, hide_index=True, column_config={col_trained: fmt, col_init: fmt})
    st.caption(t("grads.init_explain"))
    if len(runs) == len(paths):  # no initialisation known: the table says what there is
        return
    curves = compare_gradients(runs).curves
    curves = curves[curves["quantity"] == "grad_hidden"]
    fig = plots.grad_norm_curves(
        curves, "distance", title=t("grads.init_title"), labels=ui.plot_labels(), value="norm_rel"
    )
    # One trace per series, in the order of `runs`: the runs at initialisation are drawn dotted.
    for trace, series in zip(fig.data, curves["series"].unique()):
        if series not in paths:
            trace.line.dash = "dot"
    ui.show_figure(fig, curves, "grad_trained_vs_init", "grad_init")


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
