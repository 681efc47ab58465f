"""Long-range lab: why the LSTM fails at lag 200 with gate bias 4, and which recipes fix it (shipped result files).

The state each gated cell reaches at initialisation (``results/accumulator.json``) beside the measured recipes
at lag 200 (the variant rows of the bias-4 lag sweep, with their gradient clipping). Caching lives in ``state``.
"""

from __future__ import annotations

import math
from typing import Any

import pandas as pd
import streamlit as st

from dashboard import components as ui
from dashboard import state
from dashboard.i18n import t
from lstmviz import plots

RECIPE_COLS = ("cell", "recipe", "solved", "n", "success_rate", "lo", "hi", "clipped_mean", "grad_norm_median")


def series_name(row: Any) -> str:
    """The translated legend name of one accumulator recipe (cell, forget / update bias, input gate bias)."""
    if row["cell"] == "gru":
        return t("lab.acc_series_gru", b=f"{row['gate_bias']:g}")
    bi = row.get("input_gate_bias")
    if bi is None or (isinstance(bi, float) and math.isnan(bi)):
        return t("lab.acc_series_lstm", b=f"{row['gate_bias']:g}")
    return t("lab.acc_series_lstm_in", b=f"{row['gate_bias']:g}", bi=f"{bi:g}".replace("-", "−"))


def recipe_name(overrides: Any) -> str:
    """A variant's translated name from its stored changes (never its free-text name from the file)."""
    if not isinstance(overrides, dict):
        return t("lab.recipe.shared")
    parts = []
    train, model = overrides.get("train") or {}, overrides.get("model") or {}
    if isinstance(train.get("lr"), (int, float)):
        parts.append(t("lab.recipe.lr", lr=f"{train['lr']:g}"))
    if isinstance(model.get("input_gate_bias"), (int, float)):
        parts.append(t("lab.recipe.input_bias", b=f"{model['input_gate_bias']:g}".replace("-", "−")))
    if "clip_grad_norm" in train and train["clip_grad_norm"] is None:
        parts.append(t("lab.recipe.no_clip"))
    return ", ".join(parts) or t("lab.recipe.other")


def accumulator_chart() -> None:
    """The state at initialisation against the lag, per recipe, from the shipped study file."""
    path = state.results_root() / state.ACCUMULATOR_FILE
    if not path.is_file():
        st.info(t("lab.no_sweep", path=ui.md_escape(str(path))))
        return
    try:
        frame = state.accumulator(str(path), state.stamp(path)).copy()
    except ValueError as e:
        st.error(t("ckpt.bad", error=ui.md_escape(str(e))))
        return
    frame["series"] = [series_name(r) for r in frame.to_dict("records")]
    fig = plots.accumulator_state(frame, labels=ui.plot_labels())
    ui.show_figure(fig, frame, "accumulator_state", "accumulator_state")


def recipe_table(summary: pd.DataFrame, runs: pd.DataFrame, lag: int) -> None:
    """The gated cells' recipes at ``lag``: success over seeds, clipping and gradient norm during training."""
    rows = summary[(summary["lag"] == lag) & (summary["cell"] != "rnn")].copy()
    if rows.empty:
        return
    norms = runs[runs["lag"] == lag].groupby(["cell", runs["variant"].fillna("")], dropna=False)["grad_norm_median"]
    med = norms.median()
    rows["recipe"] = [recipe_name(o) for o in rows["overrides"]]
    # a share, "off" where the recipe has no clipping, "–" where the runs did not record it (schema version 1)
    rows["clipped_mean"] = [
        t("lab.recipe.off")
        if isinstance(o, dict) and "clip_grad_norm" in (o.get("train") or {}) and o["train"]["clip_grad_norm"] is None
        else "–"
        if c is None or (isinstance(c, float) and math.isnan(c))
        else f"{c:.0%}"
        for o, c in zip(rows["overrides"], rows["clipped_mean"])
    ]
    rows["grad_norm_median"] = [
        med.get((c, v if isinstance(v, str) else ""), float("nan")) for c, v in zip(rows["cell"], rows["variant"])
    ]
    st.markdown(t("lab.recipe_title", lag=lag))
    cols = list(RECIPE_COLS)
    st.dataframe(rows[cols].rename(columns={c: t(f"lab.col.{c}") for c in cols}), hide_index=True)


def diagnosis_section(lag_sweep: tuple[dict[str, Any], pd.DataFrame, pd.DataFrame] | None) -> None:
    """Why the LSTM fails at lag 200 with bias 4: its state at initialisation, and the recipes measured there."""
    st.subheader(t("lab.acc_title"))
    st.caption(t("lab.acc_caption"))
    accumulator_chart()
    if lag_sweep is not None:
        _, summary, runs = lag_sweep
        recipe_table(summary, runs, int(summary["lag"].max()))
