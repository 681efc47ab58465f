"""Sections of the Long-range lab page that read the shipped result files (sweeps, measured presets), and the
texts that say what the live job on screen did.

The text functions (:func:`stop_reason_text`, :func:`cell_lines`, :func:`run_verdict_text`, :func:`beside_text`)
take a job snapshot and a language and need no Streamlit run, so they are tested with fabricated snapshots.
Kept apart from ``views/lab.py`` so the page stays a thin composition; all caching is in ``state``.
"""

from __future__ import annotations

import pandas as pd
import streamlit as st

from dashboard import components as ui
from dashboard import jobs, lab_diagnosis, state
from dashboard.i18n import t
from dashboard.jobs import LabConfig
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
    path = state.results_root() / state.SWEEP_FILES[kind]
    if not path.is_file():
        st.info(t("lab.no_sweep", path=ui.md_escape(str(path))))
        return None
    try:
        return state.sweep(str(path), state.stamp(path))
    except ValueError as e:
        st.error(t("ckpt.bad", error=ui.md_escape(str(e))))
        return None


def table(frame: pd.DataFrame, cols=COLS, *, task: str = "cue_recall") -> None:
    """The frame's ``cols`` under translated headers, folded in an expander; for the adding task the ``lag``
    column holds the sequence length and is named so."""
    names = {c: t(f"lab.col.{c}") for c in cols}
    if task == "adding":
        names.update({"lag": t("lab.col.seq_len"), "sigmoid_bias_pow_lag": t("lab.col.sigmoid_bias_pow_len")})
    with st.expander(t("lab.table")):
        st.dataframe(frame[list(cols)].rename(columns=names), hide_index=True)


SWEEP_SECTIONS = ("lag", "lag_b4", "gate_bias", "adding")  # the sweep files' tabs, in this order


def sweep_section() -> None:
    """Success rate vs lag (gate bias 1 and 4), vs gate bias, and the adding task, from the shipped sweep files: one
    tab per file, of which only the open one is built (ui.section_tabs)."""
    kinds = [kind for kind in SWEEP_SECTIONS if _sweep(kind)]
    if not kinds:
        return
    tab, kind = ui.section_tabs(kinds, state.LAB_SECTION)
    with tab:
        one_sweep(kind)


def one_sweep(kind: str) -> None:
    """One sweep file's chart, caption and table (the gate-bias one with the lag-200 diagnosis below it)."""
    got = _sweep(kind)
    if got:
        cfg, summary, runs = got
        # The charts and table show the shared recipe; variant rows (other lr, input bias, clipping) are the
        # diagnosis section's, below the gate-bias chart.
        summary, runs = summary[summary["variant"].isna()], runs[runs["variant"].isna()]
        thr, L = cfg["success"]["threshold"], ui.plot_labels()
        if kind == "adding":  # its "lag" is the sequence length (the x axis says so; hovers must too)
            L = {**L, "lag": L["seq_len"]}
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
        table(summary, task=cfg.get("task", "cue_recall"))
        if kind == "gate_bias":
            lab_diagnosis.diagnosis_section(_sweep("lag_b4"))


def measured(preset: str) -> pd.DataFrame | None:
    """Measured runs of a preset from ``lab_presets.json`` (None for custom settings or no file)."""
    path = state.results_root() / state.LAB_PRESETS_FILE
    if preset == "custom" or not path.is_file():
        return None
    try:
        frame = state.lab_presets(str(path), state.stamp(path))
    except ValueError as e:
        st.error(t("ckpt.bad", error=ui.md_escape(str(e))))
        return None
    return frame[frame["preset"] == preset]


def stop_reason_text(reason: str, lang: str | None = None) -> str:
    """Why a job stopped, naming the Stop button by its own label (one string, so the two cannot drift apart).

    Example:
        >>> stop_reason_text("user", lang="en")
        'Stopped with the «Stop» button.'
    """
    return t(
        f"lab.stop_reason.{reason}",
        lang=lang,
        button=t("lab.stop", lang=lang),
        minutes=jobs.MAX_JOB_SECONDS // 60,
        idle=jobs.IDLE_STOP_SECONDS,
    )


def cell_lines(snap: dict, lang: str | None = None) -> list[str]:
    """One line per cell of the job on screen: solved at update N, not solved in the M updates it ran, stopped
    after M updates, not started (see :func:`dashboard.jobs.cell_outcomes`).

    Example:
        >>> from dataclasses import asdict
        >>> snap = {"state": "stopped", "config": {**asdict(LabConfig()), "cells": ["rnn", "gru", "lstm"]},
        ...         "solved": {"rnn": 150}, "ran": {"rnn": 150, "gru": 350}, "cell": "gru"}
        >>> cell_lines(snap, lang="en")
        ['RNN: succeeded after 150 updates', 'GRU: stopped after 350 updates, no success', 'LSTM: not started']
    """
    keys = {"solved": "lab.solved", "not_solved": "lab.not_solved"}
    return [
        t(keys.get(outcome, f"lab.cell.{outcome}"), lang=lang, cell=cell.upper(), n=n)
        for cell, outcome, n in jobs.cell_outcomes(snap)
    ]


def run_verdict_text(snap: dict, lang: str | None = None) -> str | None:
    """The verdict of the job on screen by the presets' rule (:func:`dashboard.jobs.live_verdict`); for a job that
    stopped or failed, that there is none; None while it runs.

    Example:
        >>> run_verdict_text({"state": "running"}) is None
        True
    """
    if snap.get("state") in ("stopped", "error"):
        return t("lab.run_verdict.none", lang=lang)
    verdict = jobs.live_verdict(snap)
    if verdict is None:
        return None
    cfg = jobs.snapshot_config(snap)
    return t(f"lab.run_verdict.{verdict}", lang=lang, seed=cfg.seed, thr=cfg.stop_at)


def _setting(name: str, value, lang: str | None) -> str:
    if name == "task":
        return t(f"lab.task.{value}", lang=lang)
    return str(value)


def settings_diff(job: LabConfig, preset: LabConfig, lang: str | None = None) -> str:
    """The settings (the seed aside) in which the job differs from a preset, as ``name: job (preset: value)``.

    Example:
        >>> from dashboard.jobs import PRESETS
        >>> settings_diff(PRESETS["short"], PRESETS["separate"], lang="en")
        'lag: 5 (preset: 100), Training updates per cell: 1500 (preset: 600)'
    """
    names = {
        "lag": "lab.col.lag",
        "gate_bias": "lab.col.gate_bias",
        "task": "lab.task",
        "updates": "lab.updates",
        **{k: f"lab.field.{k}" for k in ("updates_per_epoch", "hidden_size", "batch_size", "lr", "n_val", "cells")},
    }
    return ", ".join(
        t(
            "lab.diff",
            lang=lang,
            name=t(names[k], lang=lang) if k in names else k,
            job=_setting(k, getattr(job, k), lang),
            preset=_setting(k, getattr(preset, k), lang),
        )
        for k in jobs.config_differences(preset, job)
    )


def beside_text(snap: dict, measured: pd.DataFrame | None, lang: str | None = None) -> str | None:
    """The stored measurement to set beside the job on screen: the matching preset's verdict, labelled as
    stored, only when the job has that preset's settings (the seed aside); else that no preset matches.

    Args:
        snap: The job's snapshot.
        measured: The stored runs of :func:`dashboard.jobs.matching_preset`'s preset (None: no file, or no
            preset matches).

    Returns:
        The text, or None when the settings match a preset whose measurement is not available.

    Example:
        >>> from dataclasses import asdict
        >>> beside_text({"config": {**asdict(LabConfig(lag=7)), "cells": ["rnn"]}}, None, lang="en")[:32]
        'The job on screen has settings o'
    """
    cfg = jobs.snapshot_config(snap)
    name = jobs.matching_preset(cfg)
    if name is None:
        return t("lab.preset_none", lang=lang)
    if measured is None or not len(measured):
        return None
    verdict, secs = jobs.preset_verdict(measured, cfg)
    return t(
        "lab.preset_beside",
        lang=lang,
        preset=t(f"lab.preset.{name}", lang=lang),
        n=int(measured["seed"].nunique()),
        verdict=t(f"lab.verdict.{verdict}", lang=lang, thr=cfg.stop_at, s=f"{secs:.0f}"),
    )
