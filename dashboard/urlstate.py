"""Every view's state in the link: knobs ⇄ session state ⇄ ``st.query_params``.

A dashboard link (``/gradients?lang=en&present=1&models=cue-rnn,cue-lstm&filler=150``) restores what was on screen:
the view is the URL path, the language, presentation mode and the running lesson step are global parameters, and
each view's widgets are **knobs** named as in :data:`lstmviz.lessons.KNOBS` — the same names a lesson step sets, so
a link, a bookmark, a lesson step and "save this view as a step" are one format.

* :func:`restore` reads the link once, when a session starts (a reload, a bookmark, a link sent to students): every
  parameter is input a visitor controls and is checked like a file — unknown parameters, knobs of another view,
  values outside their schema and model names that are not listed checkpoints are ignored and named in one message;
  a model is a name looked up among the listed checkpoints, never a path.
* :func:`apply` puts knobs into session state (a lesson step, or the link), :func:`current` reads them back.
* :func:`write` puts the view's current knobs into the link at the end of every run (so navigating keeps
  ``?present=1`` and a reload comes back to the same state); a text that would make the link longer than
  :data:`MAX_URL` characters is cut (and the page says so).

The mapping of each knob onto its session-state key lives here (:data:`BINDINGS`), next to nothing else.
"""

from __future__ import annotations

import logging
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import streamlit as st

from dashboard import state
from dashboard.i18n import LANGUAGES, t
from lstmviz import lessons
from lstmviz.names import QUANTITIES

log = logging.getLogger("lstmviz.dashboard")
MAX_URL = 2_000  # characters of a link (the path and the encoded query) that browsers and chat apps keep whole
GLOBAL = ("lang", "present", "lesson", "step")  # parameters of every view (the lesson ones: lesson_panel)
RESTORED = "url_restored"  # session flag: the link was read (once per session)
PROBLEMS = "url_problems"  # session: what the link held that was ignored (shown once)
CUT = "url_cut"  # session: the text was cut to fit the link (characters kept)


@dataclass(frozen=True)
class Context:
    """What a binding needs to turn names into session values: the listed checkpoints."""

    paths: dict[str, str]  # checkpoint name -> its folder (the only way a name becomes a path)
    names: dict[str, str]  # folder -> name
    tasks: dict[str, str]  # folder -> task ("sentiment", "cue_recall", ...)
    cells: dict[str, str] = field(default_factory=dict)  # folder -> cell ("lstm", "gru", "rnn"; "?" unknown)


def context() -> Context:
    """The checkpoints listed under the root, by name and by folder."""
    infos = [i for i in state.model_infos() if not i.error]
    return Context(
        {i.name: i.path for i in infos},
        {i.path: i.name for i in infos},
        {i.path: i.task for i in infos},
        {i.path: i.cell for i in infos},
    )


_QUANTITY_MODEL = {"gates": state.CHECKPOINT, "generate": state.GEN_MODEL}  # whose cell names a view's first tab


def _first_quantity(view: str, values: dict[str, Any], ctx: Context) -> str | None:
    """The first quantity tab of the model a step shows (the tab a fresh view opens), None when not known."""
    path = ctx.paths.get(values.get("model", ""), st.session_state.get(_QUANTITY_MODEL[view], ""))
    quantities = QUANTITIES.get(ctx.cells.get(path, ""))
    return quantities[0] if quantities else None


@dataclass(frozen=True)
class Binding:
    """One knob of one view: its session-state key (per language when the widget's options are translated) and how
    its value is stored there."""

    key: str  # the session-state key (state.*)
    per_language: bool = False  # keyed per language (state.keyed): both languages' keys are set and cleared
    to_state: Callable[[Any, Context], Any] | None = None  # knob -> session value (None: the same)
    from_state: Callable[[Any, Context], Any] | None = None  # session value -> knob (None: the same)
    labels: str | None = None  # tabs: the session holds the open tab's label, i18n key ``<labels><value>`` per language

    def keys(self) -> list[str]:
        """Every session key this binding may own."""
        return [state.keyed(self.key, lang) for lang in LANGUAGES] if self.per_language else [self.key]

    def now(self) -> str:
        """The key a widget uses in this run."""
        return state.keyed(self.key) if self.per_language else self.key


def _path(name: Any, ctx: Context) -> str:
    """The folder of a listed checkpoint name (KeyError for any other name: never a path)."""
    return ctx.paths[name]


def _paths(names: Any, ctx: Context) -> list[str]:
    """The folders of listed checkpoint names, in order."""
    return [ctx.paths[n] for n in names]


def _name(path: Any, ctx: Context) -> Any:
    """The name of a checkpoint folder (None when it is not listed)."""
    return ctx.names.get(path)


def _names(paths: Any, ctx: Context) -> list[str]:
    """The names of checkpoint folders that are listed."""
    return [ctx.names[p] for p in paths or [] if p in ctx.names]


def _float(value: Any, _: Context) -> float:
    """A slider's float (a link or a lesson may write ``2`` for ``2.0``)."""
    return float(value)


_MODEL = Binding(state.CHECKPOINT, to_state=_path, from_state=_name)

# view -> knob -> binding; "text", "layer"/"direction" and the Comparison texts are handled in apply/current.
BINDINGS: dict[str, dict[str, Binding]] = {
    "gates": {
        "model": _MODEL,
        "order": Binding(state.GATES_ORDER, per_language=True),
        "quantity": Binding(state.GATES_TAB, per_language=True, labels="q."),
        "play": Binding(state.PLAY_STEP),
        "section": Binding(state.GATES_SECTION, per_language=True, labels="section."),
        "unit": Binding(state.GATES_UNIT),
    },
    "gradients": {
        "model": _MODEL,
        "models": Binding(state.GRAD_MODELS, to_state=_paths, from_state=_names),
        "target": Binding(state.GRAD_TARGET, per_language=True),
        "filler": Binding(state.WHATIF_FILLER),
        "filler_at": Binding(state.WHATIF_FILLER_AT, per_language=True),
        "whh": Binding(state.WHATIF_WHH, to_state=_float, from_state=_float),
        "bias": Binding(state.WHATIF_BIAS, to_state=_float, from_state=_float),
        "untrained": Binding(state.WHATIF_UNTRAINED),
        "scale": Binding(state.GRAD_SCALE, per_language=True),
        "section": Binding(state.GRAD_SECTION, per_language=True, labels="section."),
    },
    "compare": {
        "model": _MODEL,
        "mode": Binding(state.CMP_MODE, per_language=True),
        "pair": Binding(state.CMP_PAIR, per_language=True),
        "model_b": Binding(state.CMP_MODEL_B, to_state=_path, from_state=_name),
    },
    "generate": {
        "model": Binding(state.GEN_MODEL, to_state=_path, from_state=_name),
        "text": Binding(state.GEN_PREFIX),
        "temperature": Binding(state.GEN_TEMPERATURE, to_state=_float, from_state=_float),
        "top_k": Binding(state.GEN_TOP_K),
        "seed": Binding(state.GEN_SEED),
        "layer": Binding(state.GEN_LAYER),
        "quantity": Binding(state.GEN_TAB, per_language=True, labels="q."),
        "section": Binding(state.GEN_SECTION, per_language=True, labels="section."),
        "unit": Binding(state.GEN_UNIT),
    },
    "tagger": {
        "model": Binding(state.TAG_MODEL, to_state=_path, from_state=_name),
        "text": Binding(state.TAG_TEXT, per_language=True),
        "head": Binding(state.TAG_HEAD),
    },
    "corpus": {
        "model": _MODEL,
        "threshold": Binding(state.CORPUS_THRESHOLD, to_state=_float, from_state=_float),
        "off_before": Binding(state.CORPUS_OFF_BEFORE),
        "span": Binding(state.CORPUS_SPAN, to_state=lambda v, _: tuple(v), from_state=lambda v, _: list(v)),
        "units": Binding(state.CORPUS_UNITS, to_state=lambda v, _: list(v), from_state=lambda v, _: list(v)),
    },
    "training": {"models": Binding(state.TRAIN_MODELS, to_state=_paths, from_state=_names)},
    "lab": {
        "section": Binding(state.LAB_SECTION, per_language=True, labels="section."),
        "preset": Binding(state.LAB_PRESET, per_language=True),
        "task": Binding(state.LAB_TASK, per_language=True),
        "lag": Binding(state.LAB_LAG),
        "bias": Binding(state.LAB_BIAS, to_state=_float, from_state=_float),
        "updates": Binding(state.LAB_UPDATES),
        "seed": Binding(state.LAB_SEED),
    },
    "explain": {},
}
# views whose text is the per-task text of components.text_block -> the view name its text area is keyed by
_TEXT_VIEWS = {"gates": "gates", "gradients": "grads", "corpus": "corpus"}
_LAYER_KEYS = {  # view -> (key, per language, direction stored as an index (True) or as "fwd"/"rev" (False))
    "gates": (state.GATES_LAYER, True, True),
    "compare": (state.CMP_LAYER, True, True),
    "tagger": (state.TAG_LAYER, False, False),
}


def _task(values: dict[str, Any], ctx: Context) -> str:
    """The task of the model a step or link names, else of the sidebar's model."""
    path = ctx.paths.get(values.get("model", ""), st.session_state.get(state.CHECKPOINT, ""))
    return ctx.tasks.get(path, "sentiment")


def _compare_text_keys(values: dict[str, Any]) -> tuple[str, str]:
    """The Comparison view's keys of text A and text B for the mode and pair in ``values`` (else in session)."""
    mode = values.get("mode") or st.session_state.get(state.keyed(state.CMP_MODE), "texts")
    pair = values.get("pair") or st.session_state.get(state.keyed(state.CMP_PAIR), "negation")
    if mode == "models":
        return state.key(state.CMP_A, "m", pair), state.key(state.CMP_A, "m", pair)
    return state.key(state.CMP_A, pair), state.key(state.CMP_B, pair)


# The widgets' own defaults, by knob (what each view draws in a fresh session; tests/test_lessons.py compares them).
# A step that leaves a knob out sets it to this value rather than dropping its key: a widget whose key is dropped is
# drawn again with its default, but the browser keeps the value it showed (a W_hh slider stayed at 1.5 on a step
# without W_hh while the link said 1). A quantity tab's default is the first quantity of the model's cell (apply);
# a comparison pair's depends on the model's task and is dropped instead.
KNOB_DEFAULTS: dict[str, dict[str, Any]] = {
    "gates": {"order": "index", "layer": 0, "direction": "fwd", "section": "unit", "unit": 0},
    "gradients": {
        **{"target": "", "filler": 0, "filler_at": "auto", "whh": 1.0, "bias": 0.0, "untrained": False},
        **{"scale": "norm_rel", "section": "reach"},
    },
    "compare": {"mode": "texts", "layer": 0, "direction": "fwd"},
    "generate": {"temperature": 0.8, "top_k": 5, "seed": 0, "layer": 0, "section": "connectivity"},
    "tagger": {"layer": 0, "direction": "fwd", "head": "pos"},
    "corpus": {"threshold": 0.3, "off_before": True},
    "lab": {"section": "lag", "preset": "separate", "task": "cue_recall", "lag": 100, "bias": 4.0, "updates": 600},
}


def view_keys(view: str) -> list[str]:
    """Every session key the knobs of ``view`` own (what a lesson step clears before it sets its own)."""
    out = [k for b in BINDINGS.get(view, {}).values() if b.key != state.CHECKPOINT for k in b.keys()]
    if view in _TEXT_VIEWS:
        out.append(state.key(state.TEXT_WIDGET, _TEXT_VIEWS[view]))
    if view in _LAYER_KEYS:
        key, per_language, _ = _LAYER_KEYS[view]
        out += [state.keyed(key, lang) for lang in LANGUAGES] if per_language else [key]
    if view == "gates":
        out.append(state.PLAY_TOUCHED)
    return out


def apply(view: str, values: dict[str, Any], ctx: Context, reset: bool = False) -> list[str]:
    """Puts checked knobs of ``view`` into session state; with ``reset`` the view's other knobs go back to their
    defaults first (a lesson step shows exactly its own state).

    Returns:
        The model names that are not listed checkpoints (their knobs were not applied).
    """
    if reset:
        for k in view_keys(view):
            st.session_state.pop(k, None)
        values = {**KNOB_DEFAULTS.get(view, {}), **values}
        if view in _QUANTITY_MODEL and "quantity" not in values:  # the first tab depends on the model's cell
            first = _first_quantity(view, values, ctx)
            if first is not None:
                values["quantity"] = first
    unknown = []
    bindings = BINDINGS.get(view, {})
    for knob, value in values.items():
        binding = bindings.get(knob)
        if binding is None:
            continue
        if binding.labels:  # a tab: its label in each language's key
            for lang in LANGUAGES:
                st.session_state[state.keyed(binding.key, lang)] = t(f"{binding.labels}{value}", lang=lang)
            continue
        try:
            stored = binding.to_state(value, ctx) if binding.to_state else value
        except KeyError as e:  # a model name that is not listed
            unknown.append(str(e.args[0]))
            continue
        for k in binding.keys():
            st.session_state[k] = stored
    if "text" in values and view in _TEXT_VIEWS:
        from dashboard.components import set_text

        set_text(_TEXT_VIEWS[view], _task(values, ctx), values["text"])
    if view == "compare" and ("text" in values or "text_b" in values):
        key_a, key_b = _compare_text_keys(values)
        if "text" in values:
            st.session_state[key_a] = values["text"]
        if "text_b" in values and key_b != key_a:
            st.session_state[key_b] = values["text_b"]
    if view in _LAYER_KEYS and ("layer" in values or "direction" in values):
        key, per_language, as_index = _LAYER_KEYS[view]
        direction = values.get("direction", "fwd")
        stored = (int(values.get("layer", 0)), ("fwd", "rev").index(direction) if as_index else direction)
        for k in [state.keyed(key, lang) for lang in LANGUAGES] if per_language else [key]:
            st.session_state[k] = stored
    if view == "gates" and "play" in values:
        st.session_state[state.PLAY_TOUCHED] = True  # a step that sets the playback position shows its heatmaps
    return unknown


def current(view: str, ctx: Context) -> dict[str, Any]:
    """The knobs of ``view`` as they are now in session state (those that have a value)."""
    out: dict[str, Any] = {}
    ss = st.session_state
    for knob, binding in BINDINGS.get(view, {}).items():
        key = binding.now()
        if binding.labels and key in ss:  # a tab's label back to its name
            names = {t(f"{binding.labels}{v}"): v for v in lessons.KNOBS[knob]["enum"]}
            if ss[key] in names:
                out[knob] = names[ss[key]]
            continue
        if key in ss and ss[key] is not None:
            value = binding.from_state(ss[key], ctx) if binding.from_state else ss[key]
            if value is not None and value != []:
                out[knob] = value
    text_area = state.key(state.TEXT_WIDGET, _TEXT_VIEWS.get(view, view))
    if view in _TEXT_VIEWS and ss.get(text_area):
        out["text"] = ss[text_area]
    if view == "compare":
        key_a, key_b = _compare_text_keys({})
        if ss.get(key_a):
            out["text"] = ss[key_a]
        if key_b != key_a and ss.get(key_b):
            out["text_b"] = ss[key_b]
    if view in _LAYER_KEYS:
        key, per_language, as_index = _LAYER_KEYS[view]
        pair = ss.get(state.keyed(key) if per_language else key)
        if isinstance(pair, tuple) and len(pair) == 2:
            out["layer"] = int(pair[0])
            out["direction"] = ("fwd", "rev")[pair[1]] if as_index else pair[1]
    return {k: v for k, v in out.items() if not lessons.knob_problems(view, {k: v})}  # only what a link may carry


def _query(params: dict[str, str]) -> str:
    """The encoded query of ``params`` as the browser shows it."""
    return urllib.parse.urlencode(params, quote_via=urllib.parse.quote)


def link_params(view: str, knobs: dict[str, Any], extra: dict[str, str]) -> tuple[dict[str, str], int | None]:
    """The query parameters of a link to ``view`` with ``knobs`` (after the global ``extra``), and the characters
    of the text kept when the text had to be cut to fit :data:`MAX_URL` (None: nothing cut).

    Example:
        >>> params, cut = link_params("gates", {"text": "я " * 2000, "order": "cluster"}, {"lang": "ru"})
        >>> len("/gates?" + _query(params)) <= MAX_URL, 0 < cut < 4000
        (True, True)
    """
    params = dict(extra)
    params.update({k: lessons.format_knob(v) for k, v in knobs.items()})
    budget = MAX_URL - len(f"/{view}?")
    cut = None
    for name in ("text_b", "text"):  # the texts are what grows; everything else is short
        if len(_query(params)) <= budget or name not in params:
            continue
        text = params[name]
        others = len(_query({k: v for k, v in params.items() if k != name})) + len(name) + 2
        lo, hi = 0, len(text)  # the longest prefix whose encoding fits
        while lo < hi:
            mid = (lo + hi + 1) // 2
            if others + len(urllib.parse.quote(text[:mid])) <= budget:
                lo = mid
            else:
                hi = mid - 1
        params[name] = text[:lo]
        cut = lo
    return params, cut


def restore_language() -> None:
    """Once per session, before anything is translated: the link's ``lang`` (``ru`` or ``en``; else ignored)."""
    if st.session_state.get(RESTORED):
        return
    lang = st.query_params.get("lang")
    if lang in LANGUAGES:
        st.session_state[state.LANG] = lang


def restore(view: str) -> None:
    """Once per session: the link's language, presentation mode and the view's knobs into session state; what it
    held that cannot be used is kept in :data:`PROBLEMS` for :func:`notices`."""
    if st.session_state.get(RESTORED):
        return
    st.session_state[RESTORED] = True
    raw = {k: v for k, v in st.query_params.to_dict().items()}
    problems: list[str] = []
    lang = raw.pop("lang", None)  # applied by restore_language
    if lang is not None and lang not in LANGUAGES:
        problems.append(f"lang={str(lang)[:40]}")
    raw.pop("present", None)  # read by state.init_session
    for name in ("lesson", "step"):
        raw.pop(name, None)  # read by lesson_panel.restore
    knobs, refused = lessons.parse_knobs(view, raw)
    if refused:
        log.info("link parameters ignored on %s: %s", view, "; ".join(refused))  # the reasons, in English
    problems += [f"{n}={str(v)[:40]}" for n, v in raw.items() if n not in knobs]  # shown: names and values
    ctx = context()
    problems += [f"model={str(n)[:40]}" for n in apply(view, knobs, ctx)]  # a name that is not listed
    if problems:
        st.session_state[PROBLEMS] = problems[:10]


def notices() -> None:
    """The link's ignored parameters (once, after a restore) and a cut text (while it is cut)."""
    from dashboard.components import md_escape

    problems = st.session_state.pop(PROBLEMS, None)
    if problems:
        st.warning(t("url.ignored", items="; ".join(md_escape(p) for p in problems)))
    if st.session_state.get(CUT):
        st.caption(t("url.cut", n=st.session_state[CUT]))


def write(view: str, extra: dict[str, str]) -> None:
    """The view's current knobs and the global parameters ``extra`` into the link (only when they changed)."""
    params, cut = link_params(view, current(view, context()), extra)
    st.session_state[CUT] = cut
    if st.query_params.to_dict() != params:
        st.query_params.from_dict(params)
