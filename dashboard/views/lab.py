"""Long-range lab: multi-seed sweeps (success vs lag, vs gate bias, the adding task) and a live run of the cells."""

from __future__ import annotations

import streamlit as st

from dashboard import components as ui
from dashboard import lab_run, lab_sections
from dashboard.i18n import t


def render() -> None:
    """Page body."""
    st.header(t("lab.title"))
    st.caption(t("lab.intro"))
    lab_sections.sweep_section()
    st.subheader(t("lab.live_title"))
    st.caption(t("lab.live_caption"))
    lab_run.start_section()
    lab_run.live_section()


ui.run_view(render)
