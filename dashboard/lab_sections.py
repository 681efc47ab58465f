"""Sections of the Long-range lab page that read the shipped result files: sweeps and measured presets.

Kept apart from ``views/lab.py`` so the page stays a thin composition; all caching is in ``state``.
"""

from __future__ import annotations

import pandas as pd
import streamlit as st

from dashboard import components as ui
from dashboard import lab_diagnosis, state
from dashboard.i18n import t
from lstmviz import plots

COLS = (
    "cell",
    "lag",
    "gate_bias",
    "solved",
    "n",
    "success_rate",
    "median_updates_to_solve",
    "final_mean",
    "final_sd",
    "grad_ratio_init_median",
    "sigmoid_bias_pow_lag",
)


def _sweep(kind: str):
    """(settings, summary, runs) of one result file, or None after telling the user why not."""
    path = state.checkpoint_root() / state.SWEEP_FILES[kind]
    if not path.is_file():
        st.info(t("lab.no_sweep", path=ui.md_escape(str(path))))
        return None
    try:
        return state.sweep(str(path), state.stamp(path))
    except ValueError as e:
        st.error(t("ckpt.bad", error=ui.md_escape(str(e))))
        return None


def table(frame: pd.DataFrame, cols=COLS) -> None:
    """The frame's ``cols`` under translated headers, folded in an expander."""
    with st.expander(t("lab.table")):
        st.dataframe(frame[list(cols)].rename(columns={c: t(f"lab.col.{c}") for c in cols}), hide_index=True)


def sweep_section() -> None:
    """Success rate vs lag, vs gate bias, and the adding task, from the shipped sweep files."""
    loaded: dict[str, tuple | None] = {}
    for kind in ("lag", "lag_b4", "gate_bias", "adding"):
        got = loaded[kind] = _sweep(kind)
        if not got:
            continue
        cfg, summary, runs = got
        # The charts and table show the shared recipe; variant rows (other lr, input bias, clipping) are the
        # diagnosis section's, below the gate-bias chart.
        summary, runs = summary[summary["variant"].isna()], runs[runs["variant"].isna()]
        thr, L = cfg["success"]["threshold"], ui.plot_labels()
        if kind == "gate_bias":
            st.subheader(t("lab.bias_title", lag=cfg["lags"][0]))
            fig = plots.success_vs_gate_bias(summary, lag=cfg["lags"][0], labels=L)
        else:
            bias = summary["gate_bias"].dropna().unique().tolist() or ["-"]
            st.subheader(
                t("lab.adding_title", thr=thr)
                if kind == "adding"
                else t("lab.sweep_title", seeds=len(cfg["seeds"]), bias=bias[0])
            )
            fig = plots.success_vs_lag(
                summary, runs, chance=cfg["chance"], baseline_mse=cfg["baseline_mse"], threshold=thr, labels=L
            )
        ui.show_figure(fig, summary, f"sweep_{kind}", f"sweep_{kind}")
        if kind in ("lag", "lag_b4"):
            st.caption(
                t(
                    "lab.sweep_caption",
                    thr=thr,
                    budget=int(float(cfg["budget_updates"])),  # counts pick a plural form: a JSON 600.0 is 600
                    bias=bias[0],
                    hidden=int(float(cfg["model"]["hidden_size"])),
                    minutes=f"{cfg['wall_seconds'] / 60:.0f}",
                    workers=int(float(cfg["workers"])),
                )
            )
        elif kind == "gate_bias":
            st.caption(t("lab.bias_caption"))
        table(summary)
        if kind == "gate_bias":
            lab_diagnosis.diagnosis_section(loaded.get("lag_b4"))


def measured(preset: str) -> pd.DataFrame | None:
    """Measured runs of a preset from ``lab_presets.json`` (None for custom settings or no file)."""
    path = state.checkpoint_root() / state.LAB_PRESETS_FILE
    if preset == "custom" or not path.is_file():
        return None
    try:
        frame = state.lab_presets(str(path), state.stamp(path))
    except ValueError as e:
        st.error(t("ckpt.bad", error=ui.md_escape(str(e))))
        return None
    return frame[frame["preset"] == preset]
