"""Training view: curves, sizes, speed, test metrics and gradient profiles from checkpoints' meta and the user's
own runs (``run.json`` of lstmviz.traininglog under ``$LSTMVIZ_RUNS``)."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from dashboard import components as ui
from dashboard import run_sections, state
from dashboard.i18n import t
from lstmviz import plots, tidy, traininglog


def summary_row(name: str, meta: dict) -> dict:
    """One table row: cell, parameter count, seconds per epoch, test metrics (majority class beside chance)."""
    cfg = meta.get("config") or {}
    history = meta.get("history") or []
    seconds = [h["seconds"] for h in history if isinstance(h.get("seconds"), (int, float))]
    per_epoch = meta.get("seconds_per_epoch") or (sum(seconds) / len(seconds) if seconds else None)
    row = {
        t("col.model"): name,
        t("col.cell"): meta.get("cell", cfg.get("cell")),
        t("col.params"): meta.get("parameters") or state.param_count(cfg),
        t("col.epochs"): len(history),
        t("col.sec_epoch"): round(per_epoch, 2) if per_epoch else None,
    }
    for k, v in tidy.flat_test_metrics(meta.get("test_metrics")).items():
        row[ui.translated(f"test {k}", f"metric.{k}")] = v if isinstance(v, int) else round(v, 4)
    return row


def render() -> None:
    """Page body: the checkpoints' stored histories beside the user's own runs (``$LSTMVIZ_RUNS``)."""
    st.header(t("train.title"))
    st.caption(t("train.intro"))
    infos = [i for i in state.checkpoint_infos(state.checkpoint_root())]
    if not infos:
        st.info(t("ckpt.none", root=ui.md_escape(str(state.checkpoint_root()))))
    for bad in (i for i in infos if i.error):
        st.error(t("ckpt.bad", error=ui.md_escape(bad.error)))
    good = {i.path: i for i in infos if not i.error}
    ui.sanitize(state.TRAIN_MODELS, list(good), multi=True)
    default = [p for p, i in good.items() if i.task == "sentiment"] or list(good)[:3]
    chosen = st.multiselect(
        t("train.models"), list(good), default=default, format_func=lambda p: good[p].name, key=state.TRAIN_MODELS
    )
    runs = run_sections.pick_runs()  # the user's runs, by label marked as theirs
    if not chosen and not runs:
        if infos:
            st.info(t("train.pick"))
        return
    metas = {good[p].name: state.read_meta(p, state.stamp(p)) for p in chosen}

    lbl = ui.plot_labels()
    parts = [tidy.history_frame({n: m.get("history") for n, m in metas.items()}), traininglog.curves_frame(runs)]
    hist = pd.concat([f for f in parts if not f.empty] or parts[:1], ignore_index=True)  # one scale for both
    if hist.empty:
        st.info(t("train.no_history"))
    else:
        metrics = [m.get("test_metrics") for m in metas.values()]
        levels = [(metric, lbl[level], v) for metric, level, v in tidy.shared_levels(metrics)]
        fig = plots.training_curves(hist, title=t("train.curves"), labels=lbl, baselines=levels)
        ui.show_figure(fig, hist, "training_curves", "curves")
        if levels:
            st.caption(t("train.baselines"))

    tasks = {good[p].task: [good[q].name for q in chosen if good[q].task == good[p].task] for p in chosen}
    if tasks:
        st.subheader(t("train.table"))
    for task, names in tasks.items():  # one table per task: its models share their columns
        if len(tasks) > 1:
            st.markdown(f"**{ui.md_escape(ui.translated(task, f'train.task.{task}'))}**")
        table = pd.DataFrame([summary_row(n, metas[n]) for n in names])
        st.dataframe(ui.without_gaps(table), hide_index=True)
        if table.isna().any().any():
            st.caption(t("train.gaps"))
    if runs:
        run_sections.table(runs)

    st.subheader(t("train.profile"))
    st.caption(t("train.profile_caption"))
    profs = {name: tidy.grad_profile_frame(meta.get("history") or []) for name, meta in metas.items()}
    profs |= {label: traininglog.profile_epochs_frame(run) for label, run in runs.items()}
    cols = st.columns(min(2 if ui.presenting() else 3, len(profs)))  # 22 px axis titles need ~450 px
    zrange = plots.log_range([p for p in profs.values() if not p.empty])  # one colour scale for every model
    for i, (name, prof) in enumerate(profs.items()):
        with cols[i % len(cols)]:
            if prof.empty:
                st.caption(t("train.no_profile", name=ui.md_escape(name)))
                continue
            fig = plots.grad_profile_heatmap(prof, title=name, labels=lbl, zrange=zrange)
            ui.show_figure(fig, prof, f"grad_profile_{name}", f"prof_{i}")
            if zeros := int((prof["norm"] == 0).sum()):
                st.caption(t("train.profile_zeros", n=zeros))
    if runs:
        run_sections.metric_chart(runs, lbl)
        run_sections.profiles(runs, lbl)


ui.run_view(render)
