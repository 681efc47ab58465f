"""The running lesson: the step bar above every view, step navigation, warm-up progress and "save this view".

A lesson runs in a session once Start is clicked on the Lesson view (``views/lesson.py``). From then on every page
starts with the step's bar: "step k of n", its title and text, the question for the class (answer on click),
Previous / Next (the keyboard's ← / → too, outside text fields), "back to the step" and "end the lesson". Opening a
step (:func:`pending_view`) puts its view's knobs into session state (the view's other knobs back to their
defaults) and switches to its view; the teacher can still type and turn every knob. The link carries ``lesson`` and
``step``, so a reload comes back to the same step with what was on screen (the view's knobs are in the link too,
dashboard/urlstate.py).

Every string of a lesson file is shown escaped: a lesson cannot inject markup.
"""

from __future__ import annotations

import os
from typing import Any

import pandas as pd
import streamlit as st

from dashboard import state, urlstate
from dashboard.components import md_escape
from dashboard.i18n import t
from lstmviz import lessons

_NAME_OK = 80  # characters of a lesson name in a link (file stems are shorter)


def running() -> tuple[Any, int] | None:
    """The running lesson and its step index, or None."""
    name = st.session_state.get(state.LESSON)
    if not name:
        return None
    found, _ = state.lessons()
    lesson = found.get(name)
    if lesson is None:
        return None
    return lesson, min(max(int(st.session_state.get(state.LESSON_STEP, 0)), 0), len(lesson.steps) - 1)


def restore() -> None:
    """Once per session (before urlstate.restore): the link's ``lesson`` and ``step`` (1-based) resume that step
    without re-applying its knobs: the link's own knobs are what was on screen."""
    if st.session_state.get(urlstate.RESTORED):
        return
    params = st.query_params.to_dict()
    name, step = params.get("lesson"), params.get("step", "1")
    if not name:
        return
    found, _ = state.lessons()
    if len(name) > _NAME_OK or name not in found:
        st.session_state[urlstate.PROBLEMS] = [f"lesson={name[:40]}"]
        return
    n = len(found[name].steps)
    k = int(step) if step.isdigit() and 1 <= int(step) <= n else 1
    st.session_state[state.LESSON] = name
    st.session_state[state.LESSON_STEP] = k - 1


def start(name: str) -> None:
    """Button callback: run lesson ``name`` from its first step and start its warm-up."""
    from dashboard import warmup

    found, _ = state.lessons()
    lesson = found.get(name)
    if lesson is None:
        return
    st.session_state[state.LESSON] = name
    st.session_state[state.LESSON_GOTO] = 0
    if os.environ.get(state.WARMUP_ENV, "1") != "0":
        state.warmups().start(name, warmup.lesson_tasks(lesson, urlstate.context().paths))


def _go(k: int) -> None:
    """Button callback: open step ``k`` on this run."""
    st.session_state[state.LESSON_GOTO] = k


def _end() -> None:
    """Button callback: end the lesson (the view stays as it is)."""
    st.session_state.pop(state.LESSON, None)
    st.session_state.pop(state.LESSON_STEP, None)


def pending_view() -> str | None:
    """When a step is to be opened on this run: puts its knobs into session state and returns its view (the caller
    switches to it); else None."""
    k = st.session_state.pop(state.LESSON_GOTO, None)
    run = running()
    if k is None or run is None:
        return None
    lesson, _ = run
    k = min(max(int(k), 0), len(lesson.steps) - 1)
    step = lesson.steps[k]
    st.session_state[state.LESSON_STEP] = k
    unknown = urlstate.apply(step.view, step.state, urlstate.context(), reset=True)
    if unknown:
        st.session_state[urlstate.PROBLEMS] = [f"model={n[:40]}" for n in unknown]
    return step.view


def link_params() -> dict[str, str]:
    """The lesson's parameters of the link (empty when no lesson runs)."""
    run = running()
    if run is None:
        return {}
    lesson, k = run
    return {"lesson": lesson.name, "step": str(k + 1)}


def _lang() -> str:
    return st.session_state.get(state.LANG, "ru")


def _warm_note(snap: dict[str, Any]) -> str:
    """The finished warm-up in words: how long it took, and how many tasks failed."""
    note = t("lesson.warm_done", s=f"{snap['seconds']:.0f}")
    if snap["failed"]:
        note += " " + t("lesson.warm_failed", n=len(snap["failed"]))
    return note


def _progress(name: str) -> None:
    """The warm-up's progress: a fragment refreshed every second while it runs, a caption once it finished (the
    page then reruns nothing on a timer: an idle step costs the server nothing)."""
    run = state.warmups().get(name)
    if run is None:
        return
    if run.snapshot()["finished"]:
        st.caption(_warm_note(run.snapshot()))
        return

    @st.fragment(run_every=1.0)
    def ticking() -> None:
        snap = run.snapshot()
        if snap["finished"]:
            st.rerun()  # a full rerun draws the caption above and ends the tick
        done, total = snap["done"], max(snap["total"], 1)
        st.progress(done / total, text=t("lesson.warming", done=done, total=snap["total"]))

    ticking()


def bar(view: str) -> None:
    """The step bar above the page (nothing when no lesson runs)."""
    run = running()
    if run is None:
        return
    lesson, k = run
    step, lang, n = lesson.steps[k], _lang(), len(lesson.steps)
    with st.container(border=True, key=state.LESSON_BAR):
        left, right = st.columns([5, 2])
        with left:
            minutes = f" · ~{step.minutes:g} {t('lesson.min')}" if step.minutes else ""
            st.caption(t("lesson.where", title=md_escape(lesson.title[lang]), k=k + 1, n=n) + minutes)
            st.markdown(f"**{md_escape(step.title[lang])}**")
            st.markdown(md_escape(step.text[lang]))
            if step.question:
                with st.expander(t("lesson.question"), expanded=True):
                    st.markdown(md_escape(step.question[lang]))
                    if step.answer and st.toggle(
                        t("lesson.show_answer"), key=state.key(state.LESSON_ANSWER, lesson.name, k)
                    ):
                        st.info(md_escape(step.answer[lang]))
        with right:
            c1, c2 = st.columns(2)
            c1.button(
                t("lesson.prev"),
                on_click=_go,
                args=(k - 1,),
                disabled=k == 0,
                key=state.LESSON_PREV,
                shortcut="Left",
                width="stretch",
            )
            c2.button(
                t("lesson.next"),
                on_click=_go,
                args=(k + 1,),
                disabled=k == n - 1,
                key=state.LESSON_NEXT,
                shortcut="Right",
                type="primary",
                width="stretch",
            )
            if view != step.view:
                st.caption(t("lesson.elsewhere", view=t(f"nav.{step.view}")))
            st.button(
                t("lesson.back"),
                on_click=_go,
                args=(k,),
                key=state.LESSON_BACK,
                width="stretch",
                help=t("lesson.back_help"),
            )
            st.button(t("lesson.end"), on_click=_end, key=state.LESSON_END, width="stretch")
            _progress(lesson.name)


def save_step(view: str) -> None:
    """Sidebar button: append this view's state as a step of the session's draft lesson (Lesson view downloads it)."""

    def add() -> None:
        draft = list(st.session_state.get(state.LESSON_DRAFT, []))
        n = len(draft) + 1
        draft.append(
            {
                "view": view,
                "title": {"ru": f"Шаг {n}", "en": f"Step {n}"},
                "text": {"ru": "", "en": ""},
                "state": urlstate.current(view, urlstate.context()),
            }
        )
        st.session_state[state.LESSON_DRAFT] = draft[:60]
        st.toast(t("lesson.saved", n=n))

    if view in urlstate.BINDINGS:
        st.button(t("lesson.save_step"), on_click=add, key=state.LESSON_SAVE, help=t("lesson.save_help"))


def draft_section() -> None:
    """The steps saved in this session with the sidebar's "save this view as a step", as a lesson file."""
    draft = st.session_state.get(state.LESSON_DRAFT) or []
    st.subheader(t("lesson.draft"))
    if not draft:
        st.caption(t("lesson.draft_empty"))
        return
    rows = [
        {t("col.step"): i + 1, t("col.view"): t(f"nav.{s['view']}"), t("col.state"): lessons.format_state(s["state"])}
        for i, s in enumerate(draft)
    ]
    st.dataframe(pd.DataFrame(rows), hide_index=True)
    mine = lessons.Lesson(
        "my-lesson",
        {"ru": "Мой урок", "en": "My lesson"},
        tuple(lessons.Step(s["view"], s["title"], s["text"], s["state"]) for s in draft),
    )
    c1, c2 = st.columns(2)
    c1.download_button(
        t("lesson.draft_download"),
        data=lessons.dump_lesson(mine).encode("utf-8"),
        file_name="my-lesson.toml",
        mime="application/toml",
        on_click="ignore",
        key=state.LESSON_DRAFT_DOWNLOAD,
    )
    if c2.button(t("lesson.draft_clear"), key=state.LESSON_DRAFT_CLEAR):
        st.session_state.pop(state.LESSON_DRAFT, None)
        st.rerun()
    st.caption(t("lesson.draft_hint", env=state.LESSONS_ENV))
