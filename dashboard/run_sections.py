"""The Training view's sections of the user's own runs (``run.json`` files of :mod:`lstmviz.traininglog`).

The runs are listed from ``$LSTMVIZ_RUNS`` (:func:`dashboard.state.runs_root`) beside the checkpoints; every
string read from a run file is untrusted: Markdown positions get :func:`dashboard.components.md_escape`, charts
escape their text themselves (:func:`lstmviz.plots.esc`), and tables show plain text.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
import streamlit as st

from dashboard import components as ui
from dashboard import state
from dashboard.i18n import t
from lstmviz import plots, traininglog

DEFAULT_RUNS = 5  # runs selected on a first visit: the most recently written


def _labels(runs: dict[str, dict[str, Any]]) -> dict[str, str]:
    """Folder -> display label: the run's name marked as the user's (and its folder when two runs share a name)."""
    names = [r["name"] for r in runs.values()]
    return {
        p: t("train.run_mark", name=r["name"] if names.count(r["name"]) == 1 else f"{r['name']} ({Path(p).name})")
        for p, r in runs.items()
    }


def pick_runs() -> dict[str, dict[str, Any]]:
    """Lists the runs under the runs root (a short error naming each refused file) and returns the chosen ones,
    by display label, read-only."""
    root = state.runs_root()
    folders, total = state.run_folders(root)
    if not folders:
        st.caption(t("train.runs_none", root=str(root).replace("`", "'")))  # shown as `code`
        return {}
    good = {}
    for folder in folders:
        run, error = state.user_run(folder)
        if error is not None:
            st.error(t("train.run_bad", error=ui.md_escape(error)))
        else:
            good[str(folder)] = run
    if total > len(folders):
        st.caption(t("train.runs_more", limit=len(folders), n=total))
    if not good:
        return {}
    labels = _labels(good)
    ui.sanitize(state.TRAIN_RUNS, list(good), multi=True)
    newest = sorted(good, key=lambda p: state.stamp(Path(p) / traininglog.RUN_FILE)[0])[-DEFAULT_RUNS:]
    chosen = st.multiselect(
        t("train.runs"),
        list(good),
        default=[p for p in good if p in newest],
        format_func=labels.get,
        key=state.TRAIN_RUNS,
        help=t("train.runs_help", root=ui.md_escape(str(root))),
    )
    return {labels[p]: good[p] for p in chosen}


def _modules(run: dict[str, Any]) -> str:
    """The recurrent modules of a run's model in one cell: ``rnn: lstm 2×64 bi``."""
    return "; ".join(
        f"{m['module'] or '<root>'}: {m['cell']} {m['num_layers']}×{m['hidden_size']}"
        + (" bi" if m["bidirectional"] else "")
        for m in run["model"]["recurrent"]
    )


def table(runs: dict[str, dict[str, Any]]) -> None:
    """One row per run: its model, parameters, epochs, seconds per epoch and the last epoch's metrics."""
    rows = []
    for label, run in runs.items():
        epochs = run["epochs"]
        seconds = [e["seconds"] for e in epochs if "seconds" in e]
        row = {
            t("col.model"): label,
            t("col.cell"): _modules(run),
            t("col.params"): run["model"]["parameters"],
            t("col.epochs"): len(epochs),
            t("col.sec_epoch"): round(sum(seconds) / len(seconds), 2) if seconds else None,
        }
        for k, v in (epochs[-1]["metrics"] if epochs else {}).items():
            row.setdefault(k, round(v, 4))  # a metric named like a column above keeps the column
        rows.append(row)
    st.subheader(t("train.run_table"))
    st.dataframe(ui.without_gaps(pd.DataFrame(rows)), hide_index=True)


def metric_chart(runs: dict[str, dict[str, Any]], labels: dict[str, str]) -> None:
    """Any one logged metric of every chosen run against the epoch, on one axis."""
    frame = traininglog.metrics_frame(runs)
    if frame.empty:
        st.info(t("train.run_no_metrics"))
        return
    names = list(dict.fromkeys(frame["metric"]))
    ui.sanitize(state.TRAIN_RUN_METRIC, names)
    metric = st.selectbox(t("train.run_metric"), names, key=state.TRAIN_RUN_METRIC)
    part = frame[frame["metric"] == metric]
    # training_curves' "loss" panel under the metric's own name: one solid line per run, its legend "<run> <metric>"
    curves = part.assign(split="train", metric="loss")
    fig = plots.training_curves(
        curves,
        title=t("train.run_metric_title", metric=metric),
        metrics=("loss",),
        labels={**labels, "loss": metric, "train": metric},
    )
    ui.show_figure(fig, part, "run_metric", "run_metric")


def profiles(runs: dict[str, dict[str, Any]], labels: dict[str, str]) -> None:
    """The last logged epoch's gradient through time of every chosen run on one log scale, then its gate
    saturation."""
    st.subheader(t("train.run_profile"))
    frame = traininglog.profile_frame(runs)
    for label in runs:
        if label not in set(frame["series"]):
            st.caption(t("train.run_no_profile", name=ui.md_escape(label)))
    if not frame.empty:
        st.caption(t("train.run_profile_caption"))
        fig = plots.grad_norm_curves(frame, x="distance", title=t("train.run_profile_title"), labels=labels)
        ui.show_figure(fig, frame, "run_grad_profile", "run_profile")
    sat = traininglog.saturation_frame(runs)
    if sat.empty:
        return
    st.subheader(t("train.run_saturation"))
    st.caption(t("train.run_saturation_caption"))
    shown = pd.DataFrame(
        {
            t("col.model"): sat["model"],
            t("train.col.epoch"): sat["epoch"],
            t("train.col.module"): sat["module"].where(sat["module"] != "", "<root>"),
            t("col.layer"): sat["layer"],
            t("train.col.direction"): sat["direction"],
            t("train.col.gate"): [ui.translated(q, f"q.{q}") for q in sat["quantity"]],
            t("train.col.saturated"): sat["fraction"].round(4),
        }
    )
    st.dataframe(shown, hide_index=True)
