"""Lesson view: pick a lesson (shipped or from ``$LSTMVIZ_LESSONS``), read its plan, start it with one button, print
its handout, and download the steps saved with "save this view as a step"."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from dashboard import components as ui
from dashboard import lesson_panel, state
from dashboard.i18n import t
from lstmviz import lessons, plots


def render() -> None:
    """Page body."""
    st.header(t("lesson.title"))
    st.caption(t("lesson.intro", env=state.LESSONS_ENV))
    found, errors = state.lessons()
    for path, message in errors:  # a refused file: its name and every problem, shown as data
        st.error(t("lesson.bad", file=ui.md_escape(path)))
        st.code(message, language=None)
    if not found:
        st.info(t("lesson.none"))
        lesson_panel.draft_section()
        return
    lang = st.session_state.get(state.LANG, "ru")
    names = list(found)
    if st.session_state.get(state.LESSON_PICK) not in names:
        st.session_state[state.LESSON_PICK] = (
            st.session_state.get(state.LESSON) if st.session_state.get(state.LESSON) in names else names[0]
        )
    titles = {n: found[n].title[lang] for n in names}  # lesson text: a selectbox shows it as plain text
    name = st.selectbox(t("lesson.pick"), names, format_func=titles.get, key=state.LESSON_PICK)
    lesson = found[name]
    if lesson.summary:
        st.markdown(ui.md_escape(lesson.summary[lang]))
    minutes = sum(s.minutes or 0 for s in lesson.steps)
    st.caption(t("lesson.plan", n=len(lesson.steps), minutes=f"{minutes:g}"))
    if lesson.before_class:
        with st.expander(t("lesson.before_class")):
            st.markdown(ui.md_escape(lesson.before_class[lang]))
    c1, c2, c3 = st.columns([2, 2, 3])
    c1.button(
        t("lesson.start"),
        type="primary",
        on_click=lesson_panel.start,
        args=(name,),
        key=state.LESSON_START,
        width="stretch",
    )
    c2.download_button(
        t("lesson.handout"),
        data=lessons.handout(lesson, lang).encode("utf-8"),
        file_name=f"{name}-{lang}.md",
        mime="text/markdown",
        on_click="ignore",
        key=state.key(state.LESSON_HANDOUT, "plain"),
        width="stretch",
    )
    c3.download_button(
        t("lesson.handout_answers"),
        data=lessons.handout(lesson, lang, answers=True).encode("utf-8"),
        file_name=f"{name}-{lang}-answers.md",
        mime="text/markdown",
        on_click="ignore",
        key=state.key(state.LESSON_HANDOUT, "answers"),
    )
    run = state.warmups().get(name)
    if run is not None:
        snap = run.snapshot()
        st.caption(t("lesson.warm_state", done=snap["done"], total=snap["total"]))
    table = pd.DataFrame(
        {
            t("col.step"): range(1, len(lesson.steps) + 1),
            t("col.minutes"): [float("nan") if s.minutes is None else s.minutes for s in lesson.steps],
            t("col.view"): [t(f"nav.{s.view}") for s in lesson.steps],
            t("col.title"): [s.title[lang] for s in lesson.steps],  # shown as data
        }
    )
    st.dataframe(ui.without_gaps(table), hide_index=True, height=min(38 + 35 * len(table), 38 + 35 * 20))
    plan = pd.DataFrame({"step": table[t("col.step")], "title": table[t("col.title")], "view": table[t("col.view")],
                         "minutes": table[t("col.minutes")]})  # fmt: skip
    fig = plots.lesson_plan(plan, title=t("lesson.plan_title"), labels=ui.plot_labels())
    ui.show_figure(fig, plan, f"lesson_{name}", "lesson_plan")  # also loads the charts' code before the first step
    lesson_panel.draft_section()


ui.run_view(render)
