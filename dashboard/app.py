"""lstmviz dashboard router: ``streamlit run dashboard/app.py``.

Sets the page config, draws the shared sidebar (language RU/EN, checkpoint picker, image
export format) and routes with ``st.navigation`` to the pages in ``dashboard/views/``
(not an auto-discovered ``pages/`` folder). The checkpoint root is ``$LSTMVIZ_CHECKPOINTS``
(default ``<repo>/checkpoints``).
"""

from __future__ import annotations

import sys
from pathlib import Path

_REPO = Path(__file__).resolve().parents[1]
if str(_REPO) not in sys.path:  # `streamlit run dashboard/app.py` puts only dashboard/ on the path
    sys.path.insert(0, str(_REPO))

import streamlit as st  # noqa: E402
import torch  # noqa: E402

from dashboard import state  # noqa: E402
from dashboard.components import md_escape, run_view  # noqa: E402
from dashboard.i18n import LANGUAGES, t  # noqa: E402

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
)


def sidebar() -> None:
    """Language switch, checkpoint picker and export format, shared by every page."""
    with st.sidebar:
        st.radio(
            t("sidebar.language"),
            list(LANGUAGES),
            key=state.LANG,
            horizontal=True,
            format_func=lambda code: LANGUAGES[code],
        )
        infos = [i for i in state.checkpoint_infos(state.checkpoint_root()) if i.recordable]
        if infos:
            paths = [i.path for i in infos]
            names = {i.path: i.name + (" ⚠" if i.error else "") for i in infos}
            if st.session_state.get(state.CHECKPOINT) not in paths:  # start on a sentiment model
                # Start on a sentiment model that loads: a broken or lying checkpoint is never the default.
                ok = [i for i in infos if not i.error and i.kind == "recurrent"]
                usable = (i.path for i in ok if i.task == "sentiment" and state.load_error(i.path) is None)
                st.session_state[state.CHECKPOINT] = next(usable, ok[0].path if ok else paths[0])
            st.selectbox(t("sidebar.checkpoint"), paths, key=state.CHECKPOINT, format_func=names.get)
        else:
            st.caption(t("ckpt.none", root=md_escape(str(state.checkpoint_root()))))
        st.toggle(t("sidebar.present"), key=state.PRESENT, help=t("sidebar.present_help"))
        st.radio(
            t("sidebar.export"),
            ["png", "svg"],
            key=state.EXPORT_FORMAT,
            horizontal=True,
            format_func=str.upper,
            help=t("sidebar.export_help"),
        )


def main() -> None:
    """Entry point: config, sidebar, navigation."""
    # Sessions already run in parallel threads; intra-op threads on these tiny recurrent steps only
    # add spin-wait contention (bench_dashboard: ~0.1 s with 1 thread vs ~1.8 s with 2 on a busy 2-core box).
    torch.set_num_threads(1)
    st.set_page_config(page_title="lstmviz", page_icon="🧠", layout="wide")
    state.init_session()
    run_view(sidebar)  # a failing sidebar shows a short error, the pages still route
    pages = [st.Page(path, title=t(title), icon=icon, default=i == 0) for i, (path, title, icon) in enumerate(PAGES)]
    st.navigation(pages).run()


main()
