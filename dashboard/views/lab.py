"""Long-range lab: accuracy vs lag on cue recall, and a live RNN/GRU/LSTM run at a chosen lag."""

from __future__ import annotations

import time

import pandas as pd
import streamlit as st

from dashboard import components as ui
from dashboard import state
from dashboard.i18n import t
from dashboard.jobs import LabConfig
from lstmviz import plots

POLL_SECONDS = 1.0  # how often a page showing a running job refreshes its fragment


def sweep_section() -> None:
    """Accuracy vs lag from ``cue_recall_lag_sweep.json`` beside the checkpoints."""
    path = state.checkpoint_root() / state.LAG_SWEEP_FILE
    if not path.is_file():
        st.info(t("lab.no_sweep", path=ui.md_escape(str(path))))
        return
    try:
        data, chance = state.lag_sweep(str(path), state.stamp(path))
    except (ValueError, KeyError, TypeError) as e:
        st.error(t("ckpt.bad", error=ui.md_escape(str(e))))
        return
    fig = plots.accuracy_vs_lag(data, chance, title=t("lab.sweep"), labels=ui.plot_labels())
    ui.show_figure(fig, data, "accuracy_vs_lag", "sweep")


def start_section() -> None:
    """Controls that start the one server-wide job."""
    jm = state.job_manager()
    c1, c2, c3, c4 = st.columns(4)
    lag = c1.slider(t("lab.lag"), 0, 200, 30, 5, key=state.LAB_LAG)
    epochs = c2.slider(t("lab.epochs"), 1, 40, 20, key=state.LAB_EPOCHS)
    hidden = c3.select_slider(t("lab.hidden"), [8, 16, 32, 64], 32, key=state.LAB_HIDDEN)
    n_train = c4.select_slider(t("lab.ntrain"), [128, 256, 512, 1024, 2048], 1024, key=state.LAB_NTRAIN)
    if st.button(t("lab.start"), type="primary", disabled=jm.running()):
        cfg = LabConfig(lag=int(lag), epochs=int(epochs), hidden_size=int(hidden), n_train=int(n_train))
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
            cfg = snap["config"]
            elapsed = (snap["finished"] or time.time()) - snap["started"]
            st.progress(snap["progress"], text=t(f"lab.state.{snap['state']}", lag=cfg["lag"], s=f"{elapsed:.0f}"))
            if snap["error"]:
                st.error(ui.md_escape(snap["error"]))
            if snap["state"] == "running" and st.button(t("lab.stop"), key=state.LAB_STOP):
                jm.stop()
            if snap["history"]:
                hist = pd.DataFrame(snap["history"])
                fig = plots.training_curves(hist, title=t("lab.live", lag=cfg["lag"]), metrics=("loss", "acc"),
                                            labels=ui.plot_labels())
                fig.add_hline(y=1 / cfg["n_classes"], line_dash="dot", line_color="gray", row=1, col=2)
                ui.show_figure(fig, hist, f"live_lag{cfg['lag']}", "live")
            if snap["state"] != "running" and st.session_state.get(state.LAB_SEEN) == snap["job_id"]:
                st.session_state.pop(state.LAB_SEEN)
                st.rerun()  # the job ended while we polled: full rerun turns polling off, re-enables Start
            if snap["state"] == "running":
                st.session_state[state.LAB_SEEN] = snap["job_id"]
        except Exception as e:  # a fragment rerun bypasses the page's error wall
            ui.log.exception("lab fragment failed")
            st.error(t("error.generic", kind=type(e).__name__, msg=ui.md_escape(str(e)[:300])))

    live()


def render() -> None:
    """Page body."""
    st.header(t("lab.title"))
    st.caption(t("lab.intro"))
    sweep_section()
    st.subheader(t("lab.live_title"))
    st.caption(t("lab.live_caption"))
    start_section()
    live_section()


ui.run_view(render)
