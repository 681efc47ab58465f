"""lstmviz dashboard router: ``streamlit run dashboard/app.py``.

Sets the page config, draws the shared sidebar (language RU/EN, checkpoint picker, image
export format) and routes with ``st.navigation`` to the pages in ``dashboard/views/``
(not an auto-discovered ``pages/`` folder). The checkpoint root is ``$LSTMVIZ_CHECKPOINTS``
(default ``<repo>/checkpoints``).

``streamlit run`` puts only this file's folder on the import path: the ``dashboard`` and ``lstmviz`` packages come from
the installed project (``pip install -e .``, see the README).
"""

from __future__ import annotations

from pathlib import Path

import streamlit as st
import torch

from dashboard import lesson_panel, state, urlstate
from dashboard.components import default_checkpoint, md_escape, presentation_style, run_view
from dashboard.i18n import LANGUAGES, t

# Material icons ship with Streamlit's frontend (emoji need a system emoji font). The favicon stays the
# emoji page_icon of set_page_config: an inline SVG, so the page makes no request off the machine.
PAGES = (  # (file under dashboard/, i18n title key, icon)
    ("views/gates.py", "nav.gates", ":material/grid_on:"),
    ("views/gradients.py", "nav.gradients", ":material/trending_down:"),
    ("views/compare.py", "nav.compare", ":material/compare_arrows:"),
    ("views/generate.py", "nav.generate", ":material/edit_note:"),
    ("views/tagger.py", "nav.tagger", ":material/label:"),
    ("views/corpus.py", "nav.corpus", ":material/travel_explore:"),
    ("views/training.py", "nav.training", ":material/show_chart:"),
    ("views/lab.py", "nav.lab", ":material/science:"),
    ("views/explain.py", "nav.explain", ":material/menu_book:"),
    ("views/lesson.py", "nav.lesson", ":material/school:"),
)


def sidebar(view: str) -> None:
    """Language switch, checkpoint picker, presentation mode, export format and "save this view as a step", shared by
    every page."""
    with st.sidebar:
        st.radio(
            t("sidebar.language"),
            list(LANGUAGES),
            key=state.LANG,
            horizontal=True,
            format_func=lambda code: LANGUAGES[code],
        )
        infos = [i for i in state.model_infos() if i.recordable]
        if infos:
            paths = [i.path for i in infos]
            yours = t("sidebar.yours")  # the user's own models (lstmviz.adapters) are marked beside ours
            names = {i.path: i.name + (" ⚠" if i.error else "") + (yours if i.user else "") for i in infos}
            if st.session_state.get(state.CHECKPOINT) not in paths:
                # The model that reads the presets right and loads: never a broken or lying checkpoint.
                st.session_state[state.CHECKPOINT] = default_checkpoint(infos)
            st.selectbox(t("sidebar.checkpoint"), paths, key=state.CHECKPOINT, format_func=names.get)
        else:
            st.caption(t("ckpt.none", root=md_escape(str(state.checkpoint_root()))))
        for error in state.models_errors():  # the models file is the user's code: its failure is named, not fatal
            st.error(t("models.bad", error=md_escape(error)))
        st.toggle(t("sidebar.present"), key=state.PRESENT, help=t("sidebar.present_help"))
        st.radio(
            t("sidebar.export"),
            ["png", "svg"],
            key=state.EXPORT_FORMAT,
            horizontal=True,
            format_func=str.upper,
            help=t("sidebar.export_help"),
        )
        lesson_panel.save_step(view)


def main() -> None:
    """Entry point: config, sidebar, navigation."""
    # Sessions already run in parallel threads; intra-op threads on these tiny recurrent steps only
    # add spin-wait contention (bench_dashboard: ~0.1 s with 1 thread vs ~1.8 s with 2 on a busy 2-core box).
    torch.set_num_threads(1)
    st.set_page_config(page_title="lstmviz", page_icon="🧠", layout="wide")
    state.init_session()
    urlstate.restore_language()  # before the page titles are translated
    pages = {
        Path(path).stem: st.Page(path, title=t(title), icon=icon, default=i == 0)
        for i, (path, title, icon) in enumerate(PAGES)
    }
    page = st.navigation(list(pages.values()))
    view = next((v for v, p in pages.items() if p.url_path == page.url_path), "gates")
    lesson_panel.restore()  # once per session: the link's lesson step, then its knobs
    urlstate.restore(view)
    target = lesson_panel.pending_view()  # Next / Previous / Start / "back to the step" was clicked
    if target is not None and target != view:
        st.switch_page(pages[target])
    state.job_manager().touch()  # a page run of any view: a lab job started in class is still watched
    run_view(lambda: sidebar(view))  # a failing sidebar shows a short error, the pages still route
    presentation_style()  # projector-sized captions, tables and labels (a fixed stylesheet, only when presenting)
    urlstate.notices()
    run_view(lambda: lesson_panel.bar(view))
    try:
        page.run()
    finally:  # also after st.stop(): the link always holds what is on screen
        extra = {"lang": st.session_state.get(state.LANG, "ru"), **lesson_panel.link_params()}
        if st.session_state.get(state.PRESENT):
            extra["present"] = "1"
        urlstate.write(view, extra)


main()
