"""Reusable page blocks: error wall, chart + CSV download, checkpoint and text pickers.

No caching happens here (that is ``dashboard.state``'s job) and no tensor maths (that is the library's:
``lstmviz.sentence``, ``lstmviz.diagnostics``). User text reaches the page only through widgets, dataframes,
plotly figures (escaped by ``lstmviz.plots``) or :func:`md_escape`-d markdown; nothing
here uses ``unsafe_allow_html``.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from dashboard import state
from dashboard.i18n import t
from lstmviz import adapters, plots, sentence
from lstmviz.adapters import AdapterPredictor
from lstmviz.budget import WorkBudgetError
from lstmviz.checkpoint import CheckpointError
from lstmviz.models import UnknownInitialisation
from lstmviz.text import normalize

log = logging.getLogger("lstmviz.dashboard")

# Preset texts and their stated label, which every shipped sentiment model predicts (tests/test_shipped_models.py
# checks each pair on each model); none is a corpus sentence. No negation pair: no shipped model reads «не плохо»
# as positive (all three say negative), so none is offered.
PRESETS_RU: dict[str, str] = {
    "Спасибо всем друзьям и коллегам, которые поддержали нас в трудную минуту, благодаря вам у нас всё получилось, "
    "и мы счастливы.": "positive",
    "Чиновники годами обещали починить дорогу, но деньги снова украли, ремонт так и не начали, "
    "и жители в ярости.": "negative",
    "Во вторник в здании администрации состоится заседание комиссии, на котором обсудят план строительства новой "
    "школы и поликлиники в районе.": "neutral",
    "Актёры играли прекрасно, но сценарий оказался слабым и скучным.": "mixed",
    "Мне очень понравился этот город, люди здесь добрые и приветливые.": "positive",
    "Это ужасно, отвратительно и просто мерзко.": "negative",
    "В среду министр встретился с представителями регионов.": "neutral",
    "Отличный концерт, музыканты играли великолепно.": "positive",
    "Власти снова обманули жителей, и никто за это не ответил.": "negative",
}
# The model a session starts on, best first. Measured on the shipped checkpoints (issue 21): all three get every
# preset above right, but on «Мне понравилось.» only sentiment-lstm says positive (p = 0.36); sentiment-gru says
# negative (0.30), sentiment-rnn negative (0.45). sentiment-bow (positive, 0.38) has no gates to show.
DEFAULT_MODELS = ("sentiment-lstm", "sentiment-gru", "sentiment-rnn")
# Below even odds the predicted class is less likely than "one of the others" (all other classes together), so the
# views say the model is unsure instead of printing a verdict; the rule holds for any number of classes (the
# shipped sentiment models have four: chance is 0.25). Measured (issue 21): every shipped sentiment model gives
# «Ура!» 0.26-0.39 and «Мне понравилось.» 0.30-0.45; the presets get 0.47-0.97 (sentiment-lstm: one of nine < 0.5).
UNSURE_BELOW = 0.5
_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+\-.!|<>~:$])")

# What the analysis can use: it keeps the first 200 tokens (lstmviz.pipeline.MAX_TOKENS); 200 tokens of
# Russian text take ~1,500 characters. The browser refuses longer input, which also keeps a pasted
# 10,000-line block from freezing the text area.
MAX_TEXT_CHARS = 5_000


# GFM turns bare URLs, www. names and e-mail addresses into links even when every character is
# backslash-escaped; a zero-width space (invisible) after the scheme, after "www" and before "@" stops it.
_AUTOLINK = re.compile(r"(?i)(?<=[a-z])(?=\\?://)|(?<=\bwww)(?=\\?\.)|(?=\\?@)")


def md_escape(text: str) -> str:
    r"""Escapes markdown (and the ``:color[...]`` / ``$`` syntax, and autolinks) so text shows literally.

    Example:
        >>> md_escape("**x** :red[y]"), "\u200b" in md_escape("http://a.b")
        ('\\*\\*x\\*\\* \\:red\\[y\\]', True)
    """
    return _AUTOLINK.sub("\u200b", _MD_SPECIAL.sub(r"\\\1", str(text)))


def run_view(render: Callable[[], None]) -> None:
    """Runs a page body; any exception becomes a short st.error, the traceback goes to the log."""
    try:
        render()
    except WorkBudgetError as e:  # a model too big for this view: one translated message, nothing was computed
        log.info("work refused: %s", e)
        st.error(budget_message(e))
    except Exception as e:  # st.stop()/st.rerun() are BaseException and pass through
        log.exception("view failed")
        first = str(e).splitlines()[0][:300] if str(e) else ""
        st.error(t("error.generic", kind=type(e).__name__, msg=md_escape(first)))


def _count(n: int) -> str:
    """``n`` with thousands grouped the session language's way (1,000 / 1 000)."""
    text = f"{n:,}"
    return text.replace(",", "\u202f") if st.session_state.get(state.LANG, "ru") == "ru" else text


def budget_message(e: WorkBudgetError) -> str:
    """The translated refusal of a view's work (lstmviz.budget): the model (escaped), the run, its size, the budget."""
    w = e.work
    formula = t("budget.formula", units=w.units, layers=w.layers, directions=w.directions, steps=w.steps,
                quantities=w.quantities)  # fmt: skip
    if w.batch != 1:
        formula += t("budget.batch", batch=w.batch)
    return t(
        "budget.refused",
        name=md_escape(e.model),
        what=t(f"budget.what.{w.what.replace(' ', '_')}"),
        amount=t(f"budget.{e.measure}", shown=_count(e.amount), n=e.amount),
        limit=t(f"budget.{e.measure}", shown=_count(e.limit), n=e.limit),
        formula=formula,
    )


def plot_labels() -> dict[str, str]:
    """Chart axis titles, legend parts, quantity names (``q_<name>``, colour bars) and class names
    (``class_<label>``) in the session's language (see lstmviz.plots.DEFAULT_LABELS)."""
    from lstmviz.names import QUANTITIES

    names = {f"q_{q}": t(f"q.{q}") for qs in QUANTITIES.values() for q in qs}
    names |= {f"class_{c}": class_name(c) for c in plots.CLASS_COLORS}  # a translated class keeps its colour
    return {**names, **{k: t(f"plot.{k}") for k in plots.DEFAULT_LABELS}}


def plot_config(name: str) -> dict[str, Any]:
    """Plotly config: image button in the session's format (PNG or SVG), named after the chart."""
    fmt = st.session_state.get(state.EXPORT_FORMAT, "png")
    safe = re.sub(r"[^\w.-]+", "_", name)[:80] or "chart"
    return {"displaylogo": False, "toImageButtonOptions": {"format": fmt, "filename": safe, "scale": 2}}


def presenting() -> bool:
    """Whether presentation mode is on (sidebar toggle or ``?present=1``)."""
    return bool(st.session_state.get(state.PRESENT, False))


# Presentation mode's text beside the 22 px charts (lstmviz.plots.presentation): captions, markdown, widget labels
# and values, tabs, buttons, tables and metrics at 20-24 px. A fixed constant: no user text ever goes in here.
# `!important` because Streamlit's own rules are as specific as these and may load later. st.dataframe draws its
# cells on a canvas at the theme's 14 px, which CSS fonts do not reach, so the grid is zoomed as a whole.
PRESENTATION_CSS = """<style>
[data-testid="stMarkdownContainer"] p, [data-testid="stMarkdownContainer"] li,
[data-testid="stAlert"] p { font-size: 22px !important; }
[data-testid="stCaptionContainer"], [data-testid="stCaptionContainer"] p { font-size: 20px !important; }
[data-testid="stWidgetLabel"], [data-testid="stWidgetLabel"] p { font-size: 22px !important; }
[data-baseweb="select"] div, [data-baseweb="tag"] span, textarea, input { font-size: 22px !important; }
[data-testid="stTabs"] button p, [data-testid="stBaseButton-secondary"] p,
[data-testid="stBaseButton-primary"] p { font-size: 22px !important; }
[data-testid="stTable"] td, [data-testid="stTable"] th { font-size: 22px !important; }
[data-testid="stDataFrame"] { zoom: 1.45; width: 100% !important; }
[data-testid="stDataFrameResizable"] { width: 100% !important; }
[data-testid="stMetricLabel"] p { font-size: 22px !important; }
[data-testid="stMetricDelta"] div { font-size: 20px !important; }
[data-testid="stMetricValue"] div { font-size: 44px !important; }
</style>"""


def presentation_style() -> None:
    """In presentation mode, enlarges the page's own text with :data:`PRESENTATION_CSS`; nothing otherwise.

    ``st.html`` of a lone ``<style>`` block takes no room on the page (Streamlit sends it to the event
    container). Call it once per run, from the router, after the sidebar's presentation toggle.

    Example:
        >>> presentation_style()  # doctest: +SKIP
    """
    if presenting():
        st.html(PRESENTATION_CSS)


def quantity_tab(quantities: Sequence[str], key: str) -> tuple[Any, str]:
    """Tabs of recorded quantities of which only the open one runs: (its container, its quantity).

    Streamlit runs every tab's body and sends its charts, hidden or not; with ``on_change="rerun"`` only the
    open tab's heatmap is built and sent (a 200-token paste: one heatmap instead of six). The key is per
    language, as the labels are translated.
    """
    tabs = st.tabs([t(f"q.{q}") for q in quantities], key=keyed(key), on_change="rerun")
    return next(((tab, q) for tab, q in zip(tabs, quantities) if tab.open), (tabs[0], quantities[0]))


def section_tabs(sections: Sequence[str], key: str) -> tuple[Any, str]:
    """Tabs of a view's further sections, of which only the open one is built and sent: (its container, its name).

    A page that drew every section sent ~9 charts per step, and the browser's drawing, not the server, made a lesson
    step take 3-5 s (benchmarks/bench_lesson.py); one section at a time keeps a step near 1-2 s and the projector
    uncluttered. Labels are ``section.<name>`` in the session's language; the key is per language (like
    :func:`quantity_tab`), and a lesson or a link opens a section by its name (the ``section`` knob).
    """
    tabs = st.tabs([t(f"section.{s}") for s in sections], key=keyed(key), on_change="rerun")
    return next(((tab, s) for tab, s in zip(tabs, sections) if tab.open), (tabs[0], sections[0]))


def show_figure(fig: go.Figure, data: pd.DataFrame, name: str, key: str) -> None:
    """Draws a figure and offers its tidy data as CSV (generated only when clicked; not in presentation mode)."""
    if presenting():
        plots.presentation(fig)
    plots.compact(fig)  # numbers at the precision a chart shows: the payload no longer depends on the CPU
    st.plotly_chart(fig, config=plot_config(name), key=state.key(state.CHART, key))
    if presenting():
        return  # fewer controls on the projector
    safe = re.sub(r"[^\w.-]+", "_", name)[:80] or "data"
    st.download_button(
        t("download.csv"),
        data=lambda: data.to_csv(index=False).encode("utf-8-sig"),  # with a BOM: Excel then reads Cyrillic
        file_name=f"{safe}.csv",
        mime="text/csv",
        key=state.key(state.CSV, key),
        on_click="ignore",
    )


def sanitize(key: str, options: Sequence[Any], multi: bool = False) -> None:
    """Drops a widget's stored value when it is no longer among its options (e.g. new checkpoint)."""
    if key not in st.session_state:
        return
    value = st.session_state[key]
    if multi:
        kept = [v for v in (value or []) if v in options]
        if kept != list(value or []):
            st.session_state[key] = kept
    elif value not in options:
        del st.session_state[key]


def classify_infos(task: str | None = None) -> list[state.CheckpointInfo]:
    """Readable classify checkpoints under the root (optionally of one task)."""
    return [
        i for i in state.model_infos() if i.error is None and "gates" in i.views and (task is None or i.task == task)
    ]


def checkpoint_or_stop() -> tuple[state.CheckpointInfo, Any]:
    """The sidebar's checkpoint and its predictor; a message and st.stop() when unusable."""
    infos = [i for i in state.model_infos() if i.recordable]
    if not infos:
        st.info(t("ckpt.none", root=md_escape(str(state.checkpoint_root()))))
        st.stop()
    chosen = st.session_state.get(state.CHECKPOINT)
    info = next((i for i in infos if i.path == chosen), infos[0])
    return info, predictor_or_stop(info)


def predictor_or_stop(info: state.CheckpointInfo) -> Any:
    """Loads a checkpoint's predictor; a message naming the file and st.stop() on failure."""
    if info.error:
        st.error(t("ckpt.bad", error=md_escape(info.error)))
        st.stop()
    if info.head != "classify" and not info.user:
        st.info(t("ckpt.regress", name=md_escape(info.name)))
        st.stop()
    try:
        return state.predictor(info.path)
    except (CheckpointError, ValueError, OSError) as e:
        log.warning("cannot load %s: %s", info.path, e)
        st.error(t("ckpt.bad", error=md_escape(str(e))))
        st.stop()


def model_summary(rnn: Any) -> str:
    """The loaded recurrent module in words, in the session's language: captions say what the model is (cell,
    layers, directions), never what the shipped models happen to be.

    Args:
        rnn: The model's ``nn.RNN``/``nn.GRU``/``nn.LSTM``.

    Returns:
        E.g. "LSTM, layers: 2, unidirectional (left to right)".

    Example:
        >>> import torch
        >>> model_summary(torch.nn.GRU(3, 4, num_layers=1, bidirectional=True))  # outside a session: Russian
        'GRU, слоёв: 1, двунаправленная (слева направо и справа налево)'
    """
    cell = {"LSTM": "LSTM", "GRU": "GRU"}.get(rnn.mode, "RNN")  # nn.RNN's mode is RNN_TANH or RNN_RELU
    direction = t("model.bi" if rnn.bidirectional else "model.uni")
    return t("model.summary", cell=cell, layers=rnn.num_layers, direction=direction)


def initialisation_known(path: str, name: str | None = None) -> bool:
    """Whether a checkpoint records the weights its training started from, which the "untrained" what-if and every
    "before training" series show (:func:`lstmviz.models.check_initialisation` decides); a model without that
    record gets no stand-in, and with ``name`` given, a caption saying its initialisation is unknown.

    Args:
        path: The checkpoint directory of a sentiment or cue model.
        name: The model's name for the caption; None: no caption.

    Returns:
        True when the rebuilt starting point matches the stored ``init_fingerprint``.

    Example:
        >>> initialisation_known("checkpoints/sentiment-lstm")  # doctest: +SKIP
        True
    """
    try:
        state.load_variant(path, state.stamp(path), 1.0, 0.0, True)  # cached when known, so the what-if reuses it
    except UnknownInitialisation:
        if name is not None:
            st.caption(t("init.unknown", name=md_escape(name)))
        return False
    return True


def presets_for(pred: Any) -> dict[str, str]:
    """Preset texts -> their stated label: Russian sentences, cue-recall strings built from the vocabulary, or the
    examples of the user's adapter (no stated label)."""
    if isinstance(pred, AdapterPredictor):
        return dict.fromkeys(pred.adapter.examples, "")
    if getattr(pred, "task", "sentiment") != "cue_recall":
        return PRESETS_RU
    names = [n for n in (getattr(pred, "token_names", None) or pred.vocab.tokens) if not n.startswith("<")]
    query = names[-1]
    cues = [n for n in names[:-1] if not re.fullmatch(r"w\d+", n)]
    fill = [n for n in names[:-1] if re.fullmatch(r"w\d+", n)] or names[:1]
    out = {}
    for cue, lag in zip(cues or names[:1], (5, 20, 60)):
        out[" ".join([cue] + [fill[i % len(fill)] for i in range(lag)] + [query])] = ""
    return out


def class_name(label: str) -> str:
    """A class label in the session's language (``class.<label>`` in dashboard/i18n.py), else the label itself."""
    return translated(label, f"class.{label}")


def prediction_words(label: str, p: float) -> tuple[str, str]:
    """The prediction as a metric shows it: the class in the session's language, and its probability, with
    «не уверена» / "unsure" when it is under :data:`UNSURE_BELOW` (as shown, to two decimals).

    Args:
        label: The predicted class (e.g. ``"positive"``).
        p: Its probability.

    Returns:
        ``(class name, probability words)``.

    Example:
        >>> prediction_words("positive", 0.259)  # outside a session: Russian
        ('позитив', 'p = 0.26 · не уверена')
        >>> prediction_words("negative", 0.9)[1]
        'p = 0.90'
    """
    shown = round(float(p), 2)  # the rule and the number agree: 0.499 reads 0.50, which is not "unsure"
    words = f"p = {shown:.2f}"
    return class_name(label), words + (" · " + t("pred.unsure") if shown < UNSURE_BELOW else "")


def show_prediction(title: str, label: str, p: float) -> None:
    """A metric: the predicted class large, its probability under it (orange, with "unsure", below the threshold)."""
    value, words = prediction_words(label, p)
    unsure = round(float(p), 2) < UNSURE_BELOW
    st.metric(
        title,
        md_escape(value),  # the value renders Markdown; a label from meta.json stays inert
        delta=words,
        delta_color="orange" if unsure else "gray",
        delta_arrow="off",  # a probability is no change up or down
        help=t("pred.help", limit=f"{UNSURE_BELOW:.1f}"),
    )


def default_checkpoint(infos: Sequence[state.CheckpointInfo]) -> str:
    """The checkpoint a session starts on: the first of :data:`DEFAULT_MODELS` (by folder name) that loads, else any
    sentiment model that loads, else the first readable recurrent model, else the first; never a broken one when
    a working one exists.

    Args:
        infos: The sidebar's checkpoints (``state.checkpoint_infos``), at least one.

    Returns:
        The chosen checkpoint's ``path``.

    Example:
        >>> default_checkpoint(state.checkpoint_infos("checkpoints"))  # doctest: +SKIP
        'checkpoints/sentiment-lstm'
    """
    if not infos:
        raise ValueError("default_checkpoint needs at least one checkpoint")
    ok = [i for i in infos if not i.error and "gates" in i.views]
    rank = {name: k for k, name in enumerate(DEFAULT_MODELS)}
    # sorted() is stable: unnamed sentiment models keep the root's order after the preferred ones
    sentiment = sorted((i for i in ok if i.task == "sentiment"), key=lambda i: rank.get(i.name.split("/")[-1], 99))
    usable = (i.path for i in sentiment if state.load_error(i.path) is None)
    return next(usable, ok[0].path if ok else infos[0].path)


def set_text(view: str, task: str, text: str) -> None:
    """Makes ``text`` the text of ``task`` and puts it in ``view``'s text area (before the area is drawn, e.g. in a
    button callback); the text the area held is kept as its own task's first.

    Setting ``st.session_state[state.text_key(task)]`` and ``st.session_state[state.key(state.TEXT_WIDGET, view)]``
    to the same text does the same, except for keeping a text typed in the very run that replaces it.

    Example:
        >>> set_text("gates", "cue_recall", "france w1 w2 ?")  # doctest: +SKIP
    """
    widget_key = state.key(state.TEXT_WIDGET, view)
    owner = st.session_state.get(state.key(state.TEXT_TASK, view))
    if owner is not None and widget_key in st.session_state:
        st.session_state[state.text_key(owner)] = st.session_state[widget_key]
    st.session_state[state.text_key(task)] = text
    st.session_state[widget_key] = text
    st.session_state[state.key(state.TEXT_TASK, view)] = task


def text_block(view: str, pred: Any) -> str | None:
    """Preset picker + text area of the text of the model's task; None (with a hint) when empty.

    Every task has its own text (``state.text_key(task)``), shared by the views that use this block: a model of
    another task brings its task's last text (or first preset) into the area, and switching back brings the
    first text back. ``state.key(state.TEXT_TASK, view)`` records whose text the area holds.
    """
    task = getattr(pred, "task", "sentiment")
    presets = presets_for(pred)
    text_key = state.text_key(task)
    widget_key = state.key(state.TEXT_WIDGET, view)
    owner_key = state.key(state.TEXT_TASK, view)
    preset_key = state.key(state.PRESET, view)
    sanitize(preset_key, list(presets))  # a preset of the other task is no choice here

    def use_preset() -> None:
        choice = st.session_state.get(preset_key)
        if choice:
            set_text(view, task, choice)

    shown = {text: f"{text} — {class_name(lab)}" if lab else text for text, lab in presets.items()}  # fixed now
    st.selectbox(
        t("text.preset"),
        list(presets),
        index=None,
        key=preset_key,
        on_change=use_preset,
        placeholder=t("text.preset_placeholder"),
        format_func=shown.get,
    )
    # First visit, back from a view without this widget, or the area holds another task's text (a model of
    # another task was picked): the text of this task. That task's text was saved at the end of its last run.
    if widget_key not in st.session_state or st.session_state.get(owner_key) != task:
        st.session_state[widget_key] = st.session_state.get(text_key, next(iter(presets), ""))
    st.session_state[owner_key] = task
    text = st.text_area(t("text.label"), key=widget_key, height=90, max_chars=MAX_TEXT_CHARS)
    st.session_state[text_key] = text
    if not text.strip():
        st.info(t("text.empty"))
        return None
    return text


def analysis_or_stop(path: str, text: str | None, **whatif: Any) -> sentence.TextAnalysis:
    """The cached analysis of ``text``; a hint and st.stop() for empty or token-less text."""
    if text is None:
        st.stop()
    try:
        return state.analyze(path, state.stamp(path), text, **whatif)
    except WorkBudgetError as e:  # before the ValueError below: it is one, but not the text's fault
        log.info("work refused: %s", e)
        st.error(budget_message(e))
        st.stop()
    except sentence.EmptyTextError:
        st.info(t("text.no_tokens"))
        st.stop()
    except ValueError as e:  # input the model cannot take: a translated message; the library's own goes to the log
        log.info("text refused by %s: %s", path, e)
        pred = state.predictor(path)
        if getattr(pred, "task", "") == "cue_recall":
            names = " ".join(n for n in pred.token_names if not n.startswith("<"))
            st.warning(t("text.cue_unknown", names=md_escape(names)))
        else:
            st.warning(t("text.invalid", msg=md_escape(type(e).__name__)))
        st.stop()


def token_notices(a: sentence.TextAnalysis) -> None:
    """Truncation warning and unknown-word explanations."""
    if a.truncated:
        st.warning(t("text.truncated", n=len(a.tokens) - a.extra.get("prepend", 0)))
    real = [u for u, k in zip(a.unknown, a.kinds) if k != "filler"]
    if real and all(real):
        st.info(t("text.all_unknown"))
    elif any(real):
        st.caption(t("text.some_unknown", n=sum(real)))


keyed = state.keyed  # views call ui.keyed; the key itself is spelled in state.py


def translated(text: str, key: str) -> str:
    """``t(key)`` when the key exists, else ``text`` itself (names from files stay as they are)."""
    value = t(key)
    return text if value == key else value


GAP = "—"  # what a table shows where a row has no value: st.dataframe would print a grey "None"


def without_gaps(df: pd.DataFrame) -> pd.DataFrame:
    """A copy for st.dataframe in which a column with missing values holds text, :data:`GAP` where one is
    missing; complete columns stay numbers (they sort and align as numbers).

    Example:
        >>> without_gaps(pd.DataFrame({"a": [1.5, None], "b": [1, 2]}))["a"].tolist()
        ['1.5', '—']
    """
    out = df.copy()
    for col in out.columns[out.isna().any()]:
        out[col] = [GAP if pd.isna(v) else str(v) for v in out[col]]
    return out


def localized(df: pd.DataFrame, values: Mapping[str, str] | None = None) -> pd.DataFrame:
    """A copy of a tidy frame for display: headers via ``col.<name>``, and for each ``column: prefix`` in
    ``values`` the cells via ``<prefix>.<cell>`` (cells without a key, e.g. user text, stay as they are).

    Example:
        >>> list(localized(pd.DataFrame({"unit": [0]})).columns)  # doctest: +SKIP
        ['нейрон']
    """
    out = df.copy()
    for col, prefix in (values or {}).items():
        out[col] = [translated(str(v), f"{prefix}.{v}") for v in out[col]]
    return out.rename(columns={c: translated(str(c), f"col.{c}") for c in out.columns})


def token_table(a: sentence.TextAnalysis) -> None:
    """Tokens with lemma, kind and UNK flag (a dataframe shows user text literally); a user's model: its tokenizer's
    tokens with their ids."""
    if "text_tokens" in a.extra:
        ids = a.extra["ids"]
        df = localized(pd.DataFrame({"#": range(len(ids)), "token": a.extra["text_tokens"], "id": ids}))
        st.dataframe(df, hide_index=True, height=min(400, 38 + 35 * len(df)))
        return
    df = localized(a.token_frame().rename(columns={"step": "#"}), {"kind": "kind"})
    st.dataframe(df, hide_index=True, height=min(400, 38 + 35 * len(df)))
    # Only where the lemma column shows lemmatising at work: a pymorphy3 lemma differs from the word's model form.
    if any(k == "word" and lemma != normalize(tok) for tok, lemma, k in zip(a.tokens, a.lemmas, a.kinds)):
        st.caption(t("text.lemma_context"))  # the lemma is picked without context (the model sees that same lemma)


def user_model_caption(info: state.CheckpointInfo, a: sentence.TextAnalysis) -> None:
    """What the user's model is, from what it ran: its output and every recurrent module (cell, layers, directions).

    A caption describes the loaded model, never a typical one: the module list is the recording's own.
    """
    if not info.user:
        return
    parts = []
    for path, (cell, layers, dirs, _) in a.extra["modules"].items():
        direction = t("model.bi" if dirs == 2 else "model.uni")
        summary = t("model.summary", cell=cell.upper(), layers=layers, direction=direction)
        parts.append(f"{md_escape(path or '<root>')} ({summary})")
    modules = "; ".join(parts)
    output = t(f"adapter.output.{a.extra['output']}")
    st.caption(t("adapter.about", name=md_escape(info.name), output=output, modules=modules))


def user_module(a: sentence.TextAnalysis, key: str) -> sentence.TextAnalysis:
    """The analysis seen through the recurrent module picked here (the user's model may run several: an encoder and a
    decoder, two cells of a loop); a model with one module needs no picker."""
    modules = list(a.extra.get("modules", {}))
    if len(modules) < 2:
        return a
    sanitize(key, modules)
    module = st.selectbox(t("adapter.module"), modules, key=key, format_func=lambda m: m or "<root>")
    out = adapters.for_module(a, module)
    steps, tokens = a.extra["modules"][module][3], len(a.extra["text_tokens"])
    if out.tokens != a.extra["text_tokens"]:  # not a module that reads the tokens (a decoder): its axis is its steps
        st.caption(t("adapter.steps", module=md_escape(module), n=steps, tokens=tokens))
    return out


def not_for_user_model(why: str) -> None:
    """Says why a section does not open for a model of the user's models file (``adapter.why.<why>``)."""
    st.info(t("adapter.not_here", why=t(f"adapter.why.{why}")))


def layer_options(a: sentence.TextAnalysis) -> list[tuple[int, int]]:
    """(layer, direction) pairs of an analysis."""
    return [(layer, d) for layer in range(a.num_layers) for d in range(a.directions)]


def layer_label(opt: tuple[int, int]) -> str:
    """Display label of a (layer, direction) pair."""
    return t("layer.label", layer=opt[0], direction=t("dir.rev") if opt[1] else t("dir.fwd"))


def default_models(infos: Sequence[state.CheckpointInfo]) -> list[str]:
    """One checkpoint per cell (rnn, gru, lstm), preferring ``sentiment-<cell>`` names."""
    out = []
    for cell in ("rnn", "gru", "lstm"):
        of_cell = sorted((i for i in infos if i.cell == cell), key=lambda i: (i.name != f"sentiment-{cell}", i.name))
        if of_cell:
            out.append(of_cell[0].path)
    return out


def structure_button() -> None:
    """One click to the clearest structure: cue-lstm, a 60-distractor cue sequence, units ordered by similarity.

    The sentiment models' units look like noise in index order; the cue LSTM keeps its cue in a few
    cell units, which show as bands across the whole sequence.
    """
    cue = next(
        (i for i in state.model_infos() if i.task == "cue_recall" and i.cell == "lstm" and not i.error),
        None,
    )
    if cue is None:
        return

    def go() -> None:
        from lstmviz.tasks import cue_text

        st.session_state[state.CHECKPOINT] = cue.path
        set_text("gates", "cue_recall", cue_text("france", 60))  # the sentiment text stays the sentiment task's
        st.session_state[keyed(state.GATES_ORDER)] = "cluster"

    c1, c2 = st.columns([1, 3])
    c1.button(t("gates.structure"), on_click=go, key=state.GATES_STRUCTURE)
    c2.caption(t("gates.structure_hint"))


CLASSROOM_LAG = 100  # distractors of the classroom scenario (shipped cue-rnn: gradient at the cue ~1e-19 of the end)


def classroom_button() -> None:
    """One click: the three cue models on a cue sequence with 100 distractors, where vanishing always shows."""
    from lstmviz.tasks import cue_text

    cue = [i for i in state.model_infos() if i.task == "cue_recall" and not i.error and "gates" in i.views]
    if len(cue) < 2:
        return

    def go() -> None:
        text = cue_text("france", CLASSROOM_LAG)
        st.session_state[state.CHECKPOINT] = cue[-1].path
        st.session_state[state.GRAD_MODELS] = [i.path for i in cue]
        st.session_state[state.text_key("cue_recall")] = text
        st.session_state[state.key(state.TEXT_WIDGET, "grads")] = text
        for key in (
            state.WHATIF_FILLER,
            state.WHATIF_WHH,
            state.WHATIF_BIAS,
            state.WHATIF_UNTRAINED,
            keyed(state.GRAD_SCALE),
        ):
            st.session_state.pop(key, None)  # the scenario is the trained models as they are

    st.button(t("grads.classroom", lag=CLASSROOM_LAG), on_click=go, key=state.GRAD_CLASSROOM)
