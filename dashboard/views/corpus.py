"""Corpus view (LSTMVis in the dashboard): select a span of your sentence and a threshold, take the units that switch
on across it, find every corpus phrase where the same units switch on, and read each unit's top contexts."""

from __future__ import annotations

import zlib

import streamlit as st

from dashboard import components as ui
from dashboard import corpus_sections, state
from dashboard.i18n import t
from lstmviz import plots
from lstmviz.corpus.guard import InsideGitWorkTree


@st.fragment(run_every=2.0)
def progress(folder: str) -> None:
    """The build's progress, refreshed every 2 s; the whole page reruns once the recording is ready."""
    status = state.corpus_builds().status(folder)
    if status.state == "ready":
        st.rerun()
    if status.state == "failed":
        st.error(t("corpus.failed", error=ui.md_escape(status.error or "")))
        return
    if status.state == "queued":  # one build at a time per server (dashboard/corpus_jobs.py)
        st.info(t("corpus.queued", n=status.position))
        return
    if not status.total:
        st.progress(0.0, text=t("corpus.starting"))
        return
    st.progress(status.done / status.total, text=t("corpus.building", done=status.done, total=status.total))


def render() -> None:
    """Page body."""
    if st.session_state.pop(state.CORPUS_GOTO, False):  # "open in Gates" was clicked: the text is already set
        st.switch_page("views/gates.py")
    st.header(t("corpus.title"))
    try:
        cache = str(state.cache_hint())
    except InsideGitWorkTree as e:  # LSTMVIZ_CACHE names a folder of a repository: refused, named
        st.error(t("corpus.cache_in_git", error=ui.md_escape(str(e))))
        return
    st.caption(t("corpus.intro", folder=cache.replace("`", "'")))  # shown as `code`
    info, pred = ui.checkpoint_or_stop()
    corpus = state.corpus_file()
    if info.task != "sentiment" or not corpus.is_file():
        st.info(t("corpus.unavailable", name=ui.md_escape(info.name), path=ui.md_escape(str(corpus))))
        return
    folder = state.corpus_folder(info.path, state.stamp(info.path), str(corpus), state.stamp(corpus), cache)
    if state.corpus_builds().ensure(info.path, str(corpus), folder).state != "ready":
        progress(folder)
        return
    a = ui.analysis_or_stop(info.path, ui.text_block("corpus", pred))
    columns = corpus_sections.columns(a)
    c1, c2, c3 = st.columns([2, 3, 1])
    ui.sanitize(state.CORPUS_COLUMN, list(columns))
    column = c1.selectbox(t("corpus.column"), list(columns), format_func=columns.get, key=state.CORPUS_COLUMN)
    quantity, layer, direction = corpus_sections.parse(column)
    d = ("fwd", "rev").index(direction)
    values = a.values(quantity, layer, d)  # (T, U)
    span = corpus_sections.span_picker(c2, a.tokens)
    threshold = c3.number_input(t("corpus.threshold"), -5.0, 5.0, 0.3, 0.05, key=state.CORPUS_THRESHOLD)
    off_before = st.toggle(t("corpus.off_before"), value=True, key=state.CORPUS_OFF_BEFORE)
    sentence = zlib.crc32("\x1f".join(a.tokens).encode())  # a new sentence or column selects its units afresh
    units = corpus_sections.unit_picker(values, span, threshold, off_before, (column, sentence))
    frame = a.activation_frame(quantity, layer, d)
    fig = plots.gate_heatmap(
        frame,
        a.tokens,
        quantity,
        unknown=a.unknown,
        labels=ui.plot_labels(),
        order=corpus_sections.marked_first(range(values.shape[1]), units),  # the selected units on top
        title=t("corpus.heat_title", name=info.name, column=columns[column], n=len(units)),
    )
    corpus_sections.mark_span(fig, span)
    ui.show_figure(fig, frame, f"corpus_{column}", "corpus_heat")
    if not units:
        st.info(t("corpus.none_on"))
        return
    length = span[1] - span[0] + 1
    corpus_sections.matches(folder, column, units, threshold, length, off_before, str(corpus), info.path)
    corpus_sections.unit_contexts(folder, column, units, threshold)


ui.run_view(render)
