"""The live run of the Long-range lab: the start form (preset or custom settings) and the running job's fragment.

The form shows the chosen preset's stored measurement, labelled as such (and flagged when the job on screen has
other settings); the fragment says what the job on screen did, cell by cell, with its own verdict, and sets a
preset's stored verdict beside it only when the job has that preset's settings.

Kept apart from ``views/lab.py`` so the page stays a thin composition; the job itself is the server-wide
:class:`dashboard.jobs.JobManager` held by ``state``.
"""

from __future__ import annotations

import time
from dataclasses import asdict, replace

import pandas as pd
import streamlit as st

from dashboard import components as ui
from dashboard import jobs, lab_sections, state
from dashboard.i18n import t
from dashboard.jobs import PRESETS, preset_verdict
from lstmviz import plots

POLL_SECONDS = 1.0  # how often a page showing a running job refreshes its fragment


def start_section() -> None:
    """Preset or custom settings, the measured separation of the preset, a time estimate, and Start."""
    jm = state.job_manager()
    names = [*PRESETS, "custom"]
    preset = st.radio(
        t("lab.preset"),
        names,
        key=ui.keyed(state.LAB_PRESET),
        horizontal=True,
        format_func={n: t(f"lab.preset.{n}") for n in names}.get,
    )
    cfg = PRESETS.get(preset, PRESETS["separate"])
    c1, c2, c3, c4 = st.columns(4)
    if preset == "custom":
        task = c1.radio(
            t("lab.task"),
            ["cue_recall", "adding"],
            key=ui.keyed(state.LAB_TASK),
            format_func={k: t(f"lab.task.{k}") for k in ("cue_recall", "adding")}.get,
        )
        lag = c2.slider(t("lab.lag"), 2, 200, 100, 2, key=state.LAB_LAG)
        bias = c3.select_slider(t("lab.bias"), [0.0, 1.0, 2.0, 3.0, 4.0, 5.0], 4.0, key=state.LAB_BIAS)
        updates = c4.select_slider(t("lab.updates"), [200, 400, 600, 1000, 1500], 600, key=state.LAB_UPDATES)
        cfg = replace(cfg, task=task, lag=int(lag), gate_bias=float(bias), updates=int(updates))
    cfg = replace(cfg, seed=int(c1.number_input(t("lab.seed"), 0, 10_000, 0, key=state.LAB_SEED)))
    measured = lab_sections.measured(preset)
    if measured is not None and len(measured):
        verdict, secs = preset_verdict(measured, cfg)
        st.caption(t("lab.measured", preset=t(f"lab.preset.{preset}"), n=int(measured["seed"].nunique())))
        lab_sections.table(measured, ("seed", "cell", "final", "solved_at", "seconds"))
        show = st.success if verdict == "separates" else st.info
        show(t(f"lab.verdict.{verdict}", thr=cfg.stop_at, s=f"{secs:.0f}"))
        on_screen = jobs.snapshot_config(jm.snapshot())
        if on_screen is not None and jobs.config_differences(cfg, on_screen):  # e.g. after a reload: another job
            st.caption(t("lab.other_settings", diff=lab_sections.settings_diff(on_screen, cfg)))
    st.caption(t("lab.estimate", s=f"{state.lab_estimate(tuple(sorted(asdict(cfg).items()))):.0f}"))
    if st.button(t("lab.start"), type="primary", disabled=jm.running()):
        if not jm.start(cfg):
            st.warning(t("lab.busy"))
        else:
            st.rerun()  # redraw with Start disabled and the fragment polling


def live_section() -> None:
    """Progress, live curves and the Stop button; polls while the job runs."""
    jm = state.job_manager()

    @st.fragment(run_every=POLL_SECONDS if jm.running() else None)
    def live() -> None:
        try:
            snap = jm.snapshot()
            if snap["state"] == "idle":
                st.caption(t("lab.idle"))
                return
            cfg = jobs.snapshot_config(snap)
            elapsed = (snap["finished"] or time.time()) - snap["started"]
            span = t(f"lab.span.{cfg.task}", n=cfg.lag)  # cue recall: a lag; adding: a sequence length
            st.progress(snap["progress"], text=t(f"lab.state.{snap['state']}", span=span, s=f"{elapsed:.0f}"))
            if snap["error"]:
                st.error(ui.md_escape(snap["error"]))
            if snap["state"] == "stopped" and snap.get("stop_reason"):
                st.caption(lab_sections.stop_reason_text(snap["stop_reason"]))
            if snap["state"] == "running" and st.button(t("lab.stop"), key=state.LAB_STOP):
                jm.stop()
            for line in lab_sections.cell_lines(snap):
                st.caption(line)
            verdict = lab_sections.run_verdict_text(snap)
            if verdict:
                (st.success if jobs.live_verdict(snap) == "separates" else st.info)(verdict)
            name = jobs.matching_preset(cfg)
            beside = lab_sections.beside_text(snap, lab_sections.measured(name) if name else None)
            if beside:
                st.caption(beside)
            if snap["history"]:
                hist = pd.DataFrame(snap["history"])
                fig = plots.lab_curves(
                    hist,
                    task=cfg.task,
                    chance=0.25 if cfg.task == "cue_recall" else None,
                    threshold=cfg.stop_at,
                    labels=ui.plot_labels(),
                    title=t("lab.live", task=t(f"lab.task.{cfg.task}"), span=span),
                )
                ui.show_figure(fig, hist, f"live_{cfg.task}_lag{cfg.lag}", "live")
            if snap["state"] != "running" and st.session_state.get(state.LAB_SEEN) == snap["job_id"]:
                st.session_state.pop(state.LAB_SEEN)
                st.rerun()  # the job ended while we polled: full rerun turns polling off, re-enables Start
            if snap["state"] == "running":
                st.session_state[state.LAB_SEEN] = snap["job_id"]
        except Exception as e:  # a fragment rerun bypasses the page's error wall
            ui.log.exception("lab fragment failed")
            st.error(t("error.generic", kind=type(e).__name__, msg=ui.md_escape(str(e)[:300])))

    live()
