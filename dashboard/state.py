"""Every cache and every session-state key of the dashboard: the only module that caches.

Caching (all functions take their inputs as arguments and never read globals):

* ``st.cache_resource`` holds objects shared by every session and never mutated:
  predictors (one per checkpoint directory and file stamp, so a rewritten checkpoint is
  reloaded), what-if variants (private modified copies), text analyses (read-only result
  objects; shared rather than pickled per hit because a hit must cost ~nothing) and the one
  server-wide :class:`~dashboard.jobs.JobManager`.
* ``st.cache_data`` holds plain data copied per hit: checkpoint metadata, the lag sweep,
  the corpus sample and the corpus saturation statistics.

Every cached function that depends on a file takes the file's ``stamp`` (mtime and size)
as an argument, so the key changes when the file does.

Session-state keys are the constants below; views never spell a key themselves.
"""

from __future__ import annotations

import argparse
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import streamlit as st

from dashboard.i18n import LANG
from dashboard.jobs import JobManager
from lstmviz import adapters, diagnostics, sentence, whatifs
from lstmviz.budget import DEFAULT_BUDGET, Work, WorkBudgetError, work_of
from lstmviz.checkpoint import META_FILE, WEIGHTS_FILE, CheckpointError, list_checkpoints
from lstmviz.checkpoint import read_meta as read_checkpoint_meta
from lstmviz.kinds import charlm as charlm_kind
from lstmviz.kinds import get_kind
from lstmviz.kinds import tagger as tagger_kind
from lstmviz.names import GRAD_QUANTITIES, QUANTITIES
from lstmviz.pipeline import MAX_TOKENS, Predictor
from lstmviz.pipeline import load_predictor as kind_predictor

REPO = Path(__file__).resolve().parents[1]
CHECKPOINTS_ENV = "LSTMVIZ_CHECKPOINTS"  # env var: checkpoint root (default <repo>/checkpoints)
CORPUS_ENV = "LSTMVIZ_CORPUS"  # env var: corpus dir or CSV (default <repo>/../shared/data/opensentimentcorpus)
RESULTS_ENV = "LSTMVIZ_RESULTS"  # env var: folder of the result files below (default <repo>/results)
# Result files, apart from the model folders (written by python -m lstmviz.train sweep lag / sweep bias
# and benchmarks/lab_presets.py; every command is in results/README.md).
SWEEP_FILES = {
    "lag": "sweep_cue_recall_lag.json",
    "lag_b4": "sweep_cue_recall_lag_b4.json",
    "gate_bias": "sweep_cue_recall_gate_bias.json",
    "adding": "sweep_adding_lag.json",
}
LAB_PRESETS_FILE = "lab_presets.json"
ACCUMULATOR_FILE = "accumulator.json"  # python -m lstmviz.accumulator: gated cells' state at initialisation
MODELS_ENV = "LSTMVIZ_MODELS"  # env var: the user's models files (os.pathsep-separated), see lstmviz.adapters
ADAPTER_PREFIX = "adapter:"  # CheckpointInfo.path of an adapter: "adapter:<name>" (never an absolute folder path)
LESSONS_ENV = "LSTMVIZ_LESSONS"  # env var: a folder of the user's own lessons (beside the shipped dashboard/lessons)
LESSONS_DIR = REPO / "dashboard" / "lessons"  # the shipped lessons
WARMUP_ENV = "LSTMVIZ_WARMUP"  # env var: "0": starting a lesson prepares nothing in the background
TAGGER_EVAL_FILE = "tagger_eval.json"  # python -m lstmviz.tagbaseline: the tagger against its baselines

# ----- session-state keys ------------------------------------------------------------------
# LANG (the UI language, sidebar radio) is defined in dashboard/i18n.py and imported above: i18n must stay light
# (no import of this module, which loads torch), and views read it here as state.LANG like every other key.
CHECKPOINT = "checkpoint"  # selected checkpoint directory (str), sidebar picker
PRESENT = "present"  # presentation mode: projector-sized charts, fewer controls
EXPORT_FORMAT = "export_format"  # "png" | "svg": format of the modebar's image download
TEXT = "text"  # the sentence shared by the Gates and Gradients views (survives page switches)
PRESET = "preset"  # prefix of the preset selectbox keys (one per view)
TEXT_WIDGET = "text_widget"  # prefix of the text-area keys (one per view)
TEXT_TASK = "text_task"  # prefix of the keys of the task whose text a view's text area holds (one per view)
GEN_MODEL = "gen_model"  # Generation view: the character model
GEN_PREFIX = "gen_prefix"  # Generation view: the prefix typed
GEN_TEMPERATURE = "gen_temperature"  # Generation view: sampling temperature
GEN_TOP_K = "gen_top_k"  # Generation view: top-k
GEN_SEED = "gen_seed"  # Generation view: sampling seed
GEN_LAYER = "gen_layer"  # Generation view: layer shown
GEN_ALL_UNITS = "gen_all_units"  # Generation view: bool, the heatmap shows every unit (off: GEN_TOP_UNITS of them)
GEN_WINDOW = "gen_window"  # Generation view: int, first character of the heatmap window (a text > GEN_HEATMAP_CHARS)
GEN_UNIT_LAYER = "gen_unit_layer"  # Generation view: int, layer of the unit colouring the typed + generated text
GEN_UNIT = "gen_unit"  # Generation view: int, unit colouring the typed + generated text (a feature's pick sets it)
TAG_MODEL = "tag_model"  # Tagger view: the tagger checkpoint
TAG_TEXT = "tag_text"  # Tagger view: the sentence typed
TAG_LAYER = "tag_layer"  # Tagger view: (layer, direction) shown
TAG_HEAD = "tag_head"  # Tagger view: "pos" | "ner", whose connectivity is drawn
TAG_PER_ROW = "tag_per_row"  # Tagger view: connectivity rows scaled to their maximum
GEN_PER_ROW = "gen_per_row"  # Generation view: connectivity rows scaled to their maximum
MAX_TAGGED_WORDS = 120  # words of a text the tagger view tags (the connectivity costs O(T^2) memory)
GEN_PREFIX_CHARS = 200  # Generation view: longest prefix typed
GEN_LENGTH = 80  # Generation view: characters the model adds
GEN_TOP_UNITS = 24  # Generation view: heatmap rows by default (the units that vary most on the text), 16 px each
GEN_HEATMAP_CHARS = 100  # Generation view: characters of the heatmap window: every one labelled, >= 10 px each
GEN_HEATMAP_CHARS_PRESENT = 45  # the same in presentation mode, whose 22 px labels need ~22 px each
# Text analyses (Gates, Gradients, Comparison): a 200-token analysis of sentiment-lstm, with its float64 recording
# for the gradients, is 2.7 MB pickled, so 64 entries hold at most ~175 MB (README "Sharing the dashboard").
ANALYZE_CACHE_ENTRIES = 64
# A user's model is any size within the work budget (lstmviz.budget: <= 100 M recorded numbers, 400 MB a result at
# worst), so the caches of its results keep few entries; shared read-only (cache_resource: never pickled per hit).
OWN_CACHE_ENTRIES = 8
# Entry bounds of the two caches a visitor fills fastest (st.cache_data has no byte limit, so entries x the largest
# entry is the bound). Largest entry measured (pickled, as st.cache_data stores it; README "Sharing the dashboard"):
# lm_generate 10.4 MB (charlm-lstm, a 200-character prefix), tag 6.8 MB (120 tagged words); 16 entries each keep
# them under 170 MB and 110 MB.
GEN_CACHE_ENTRIES = 16
TAG_CACHE_ENTRIES = 16
GEN_CONNECTIVITY_CHARS = 60  # Generation view: characters of the connectivity (O(T^2) memory)
CELL_TEXT_CHARS = 20_000  # Generation view: held-out characters the cell finder reads
SATURATION_CHARS = 5000  # Generation view: characters of the gate-saturation scatter
UNIT_TEXT_CHARS = 400  # Generation view: characters coloured by the best unit
CORPUS_COLUMN = "corpus_column"  # Corpus view: the recorded column (quantity, layer, direction)
CORPUS_SPAN = "corpus_span"  # Corpus view: the span slider, (first, last) token indices of the sentence
CORPUS_PICK = "corpus_pick"  # Corpus view: prefix of the key of the match to open in Gates
CORPUS_OPEN = "corpus_open"  # Corpus view: the "open in Gates" button
CORPUS_GOTO = "corpus_goto"  # Corpus view: set by the button's callback, the page then switches to Gates
CORPUS_THRESHOLD = "corpus_threshold"  # Corpus view: a unit is on above this value
CORPUS_OFF_BEFORE = "corpus_off_before"  # Corpus view: units must be off just before the span
CORPUS_UNITS = "corpus_units"  # Corpus view: the unit multiselect, a list of unit indices (ints)
# Corpus view: {widget key: (basis, value)} as last drawn; a new sentence (span) or selection (units) resets the
# widget to its default unless code (a lesson, the URL) set a new value since
CORPUS_SEEN = "corpus_seen"
CORPUS_TOP_UNIT = "corpus_top_unit"  # Corpus view: the unit whose top contexts are shown
CELL_FEATURE = "cell_feature"  # Generation view: prefix of the feature picker key (one per model)
CMP_MODE = "cmp_mode"  # Comparison view: "texts" (two texts, one model) or "models" (one text, two models)
CMP_MODEL_B = "cmp_model_b"  # Comparison view: the second model
CMP_PAIR = "cmp_pair"  # Comparison view: the preset pair
CMP_A = "cmp_a"  # Comparison view: prefix of the first text's key (one per pair)
CMP_B = "cmp_b"  # Comparison view: prefix of the second text's key
CMP_LAYER = "cmp_layer"  # Comparison view: (layer, direction)
PLAY_STEP = "play_step"  # Gates playback: the token shown (slider)
PLAY_RUNNING = "play_running"  # Gates playback: Play is on
PLAY_BUTTON = "play_button"  # Gates playback: the Play / Pause button
PLAY_TOUCHED = "play_touched"  # Gates playback: Play or the slider was used (heatmaps drawn from then on)
GATES_TAB = "gates_tab"  # Gates view: the quantity tab open (only the open tab's heatmap is drawn)
CMP_TAB = "cmp_tab"  # Comparison view: the quantity tab open
GEN_TAB = "gen_tab"  # Generation view: the quantity tab open
TAG_TAB = "tag_tab"  # Tagger view: the quantity tab open
GATES_SECTION = "gates_section"  # Gates view: the open tab of the further sections (only it is built)
GRAD_SECTION = "grad_section"  # Gradients view: the open tab of the sections below the curves
LAB_SECTION = "lab_section"  # Long-range lab: the open tab of the sweep files
GEN_SECTION = "gen_section"  # Generation view: the open tab of connectivity / interpretable cells
GATES_STRUCTURE = "gates_structure"  # Gates: the "show clear structure" button
GATES_ORDER = "gates_order"  # unit order of the Gates heatmaps (see lstmviz.diagnostics.UNIT_ORDERS)
GATES_LAYER = "gates_layer"  # selected (layer, direction) in the Gates view
GATES_MODULE = "gates_module"  # Gates view, a user's model with several recurrent modules: the module shown
GRAD_MODULE = "grad_module"  # Gradients view, the same for the gradient curves
GATES_UNIT = "gates_unit"  # unit of the drill-down
GATES_UNIT_QUANTITY = "gates_unit_quantity"  # quantity colouring the text in the drill-down
GATES_CORPUS = "gates_corpus"  # whether to compute corpus saturation
# Gates view: what "open in Gates" of the Corpus view marks (dashboard.corpus_sections.gates_mark reads it):
# {"checkpoint", "text", "span": (first, last), "units", "quantity", "layer", "direction": 0 | 1}
GATES_MARK = "gates_mark"
GRAD_MODELS = "grad_models"  # checkpoints compared in the Gradients view
GRAD_SEEN = "grad_seen"  # Gradients view: the models offered on the last run (an emptied list of another task resets)
GRAD_TARGET = "grad_target"  # loss target: "" (predicted) or a class name
GRAD_CLASSROOM = "grad_classroom"  # Gradients view: the classroom-scenario button
GRAD_SCALE = "grad_scale"  # Gradients view: "norm_rel" (divided by the last token's, default) or "norm" (raw)
WHATIF_FILLER = "whatif_filler"  # what-if: filler tokens
WHATIF_FILLER_AT = "whatif_filler_at"  # what-if: where the fillers go ("auto", "start", "before_last", "after")
WHATIF_FILLER_K = "whatif_filler_k"  # what-if: with "after", after how many tokens
WHATIF_WHH = "whatif_whh"  # what-if: W_hh scale
WHATIF_BIAS = "whatif_bias"  # what-if: forget-gate bias shift
WHATIF_UNTRAINED = "whatif_untrained"  # what-if: untrained re-initialisation
TRAIN_MODELS = "train_models"  # checkpoints shown in the Training view
LAB_PRESET = "lab_preset"  # lab: chosen preset name
LAB_TASK = "lab_task"  # lab: task of a custom run
LAB_LAG = "lab_lag"  # lab: lag of the live run
LAB_UPDATES = "lab_updates"  # lab: update budget per cell
LAB_BIAS = "lab_bias"  # lab: gate bias at initialisation
LAB_SEED = "lab_seed"  # lab: seed of the live run
LAB_STOP = "lab_stop"  # lab: the Stop button
LAB_SEEN = "lab_seen_running"  # lab: id of the job this session saw running (to rerun once it ends)
LESSON = "lesson"  # the running lesson's name (a lesson file's stem), None when no lesson runs
LESSON_STEP = "lesson_step"  # the running lesson's step shown (0-based; the link says step=k+1)
LESSON_GOTO = "lesson_goto"  # set by Next/Previous/Start/"back to the step": the step to open on this run
LESSON_PICK = "lesson_pick"  # Lesson view: the lesson chosen in the list
LESSON_ANSWER = "lesson_answer"  # prefix of the "show the answer" toggle keys (one per lesson and step)
LESSON_DRAFT = "lesson_draft"  # steps saved with "save this view as a step" (a list of step tables)
LESSON_BAR = "lesson_bar"  # the step bar's container (its CSS class st-key-lesson_bar is what browser tests find)
LESSON_PREV = "lesson_prev"  # the step bar's Previous button
LESSON_NEXT = "lesson_next"  # the step bar's Next button
LESSON_BACK = "lesson_back"  # the step bar's "back to the step" button
LESSON_END = "lesson_end"  # the step bar's "end the lesson" button
LESSON_SAVE = "lesson_save_step"  # sidebar: "save this view as a lesson step"
LESSON_START = "lesson_start"  # Lesson view: Start the lesson
LESSON_HANDOUT = "lesson_handout"  # Lesson view: prefix of the handout download buttons
LESSON_DRAFT_DOWNLOAD = "lesson_draft_download"  # Lesson view: the draft's download button
LESSON_DRAFT_CLEAR = "lesson_draft_clear"  # Lesson view: the draft's clear button
CHART = "chart"  # prefix of plotly chart element keys
CSV = "csv"  # prefix of CSV download-button keys

DEFAULTS: dict[str, Any] = {LANG: "ru", EXPORT_FORMAT: "png"}


def key(prefix: str, *parts: object) -> str:
    """A composite session-state key: one of the prefixes above and its parts, joined by ``_``.

    Example:
        >>> key(CHART, "heat_forget"), key(CMP_A, "m", 2)
        ('chart_heat_forget', 'cmp_a_m_2')
    """
    return "_".join([prefix, *(str(p) for p in parts)])


def text_key(task: str) -> str:
    """The key of the sentence shared by the views of one task (e.g. ``"sentiment"``).

    Example:
        >>> text_key("cue_recall")
        'text:cue_recall'
    """
    return f"{TEXT}:{task}"


def keyed(name: str, lang: str | None = None) -> str:
    """A widget key per language: a widget whose options are translated is a new widget after a language
    switch, so the browser relabels every option at once (with one key it kept the old language's labels).
    ``lang`` names the language (default: the session's), for code that sets the widget in both languages.

    Example:
        >>> keyed("gates_order", "en")
        'gates_order:en'
    """
    return f"{name}:{lang or st.session_state.get(LANG, 'ru')}"


def init_session() -> None:
    """Puts the defaults into session state once per session; ``?present=1`` in the URL turns presentation mode on."""
    for key, value in DEFAULTS.items():
        st.session_state.setdefault(key, value)
    for key in (LANG, CHECKPOINT, EXPORT_FORMAT, PRESENT):
        if key in st.session_state:
            # Re-assigned every run: a value set by code outlives a page switch (st.switch_page drops widget-owned
            # values, so an English session came back Russian from the Corpus view's "open in Gates").
            st.session_state[key] = st.session_state[key]
    if PRESENT not in st.session_state:
        st.session_state[PRESENT] = query_settings(st.query_params.to_dict()).get(PRESENT, False)


# ----- URL query parameters: input from anyone who can reach the server -----------------------------
QUERY_PARAMS = {PRESENT: {"1": True, "true": True, "yes": True, "0": False, "false": False, "no": False}}
MAX_QUERY_VALUE = 8  # characters; every accepted value is shorter


def query_settings(params: Any) -> dict[str, Any]:
    """The settings a URL may carry, from its query parameters (``st.query_params.to_dict()``), validated like a
    file: known keys only (:data:`QUERY_PARAMS`), a value of at most :data:`MAX_QUERY_VALUE` characters from the
    key's list; anything else (unknown keys, a huge value, a path) is ignored and never reaches a file or a model.

    Example:
        >>> query_settings({"present": "1", "checkpoint": "../../etc", "x": "y" * 10**6})
        {'present': True}
        >>> query_settings({"present": "/etc/passwd"})
        {}
    """
    out: dict[str, Any] = {}
    if not isinstance(params, dict):
        return out
    for key, allowed in QUERY_PARAMS.items():
        value = params.get(key)
        if isinstance(value, list):  # a repeated key: its last value, as st.query_params gives
            value = value[-1] if value else None
        if isinstance(value, str) and len(value) <= MAX_QUERY_VALUE and value.lower() in allowed:
            out[key] = allowed[value.lower()]
    return out


# ----- paths (not cached: they read the environment) -----------------------------------------
def checkpoint_root() -> Path:
    """The checkpoint root: ``$LSTMVIZ_CHECKPOINTS`` or ``<repo>/checkpoints``."""
    return Path(os.environ.get(CHECKPOINTS_ENV) or REPO / "checkpoints")


def results_root() -> Path:
    """The folder of the sweeps, studies and evaluations (:data:`SWEEP_FILES`, ...): ``$LSTMVIZ_RESULTS`` or
    ``<repo>/results``.

    Example:
        >>> results_root() / SWEEP_FILES["lag"]  # doctest: +SKIP
        PosixPath('/home/me/lstmviz/results/sweep_cue_recall_lag.json')
    """
    return Path(os.environ.get(RESULTS_ENV) or REPO / "results")


def corpus_path() -> Path:
    """The sentiment corpus: ``$LSTMVIZ_CORPUS`` or ``<repo>/../shared/data/opensentimentcorpus``."""
    return Path(os.environ.get(CORPUS_ENV) or REPO.parent / "shared" / "data" / "opensentimentcorpus")


def corpus_file() -> Path:
    """The corpus CSV: :func:`corpus_path` itself, or the majority-vote file inside that directory."""
    from lstmviz.datasets import CORPUS_FILENAME

    p = corpus_path()
    return p / CORPUS_FILENAME if p.is_dir() else p


def stamp(path: str | Path) -> tuple[float, int]:
    """(mtime, size) of a file, or of a checkpoint's two files; (0, 0) when missing or an adapter's path."""
    if is_adapter(path):  # a user's model changes when its models file does: every cached result is keyed by it
        files = [stamp(f) for f in models_files()]
        return (max((s[0] for s in files), default=0.0), sum(s[1] for s in files))
    p = Path(path)
    files = [p / META_FILE, p / WEIGHTS_FILE] if p.is_dir() else [p]
    out = (0.0, 0)
    for f in files:
        try:
            s = f.stat()
            out = (max(out[0], s.st_mtime), out[1] + s.st_size)
        except OSError:
            pass
    return out


def folder_stamp(folder: str | Path) -> tuple[float, int, int]:
    """(latest mtime, total size, file count) of the files directly in a folder (a corpus recording); zeros when
    it is missing. A cached query of a recording takes it, so a recording rebuilt in place is read again."""
    out = (0.0, 0, 0)
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return out
    for e in entries:
        try:
            if e.is_file(follow_symlinks=False):
                s = e.stat(follow_symlinks=False)
                out = (max(out[0], s.st_mtime), out[1] + s.st_size, out[2] + 1)
        except OSError:
            pass
    return out


# ----- checkpoints ----------------------------------------------------------------------------
@dataclass(frozen=True)
class CheckpointInfo:
    """What the pickers need to know about one checkpoint directory.

    Attributes:
        path: Directory (str).
        name: Path relative to the root, for display.
        task: ``"sentiment"``, ``"cue_recall"``, ... (``"?"`` when unreadable).
        cell: ``"rnn"`` | ``"gru"`` | ``"lstm"`` | ``"?"``.
        head: ``"classify"`` | ``"regress"`` | ``"?"``.
        error: Why the metadata could not be read (names the file), else None.
        kind: The model kind's registry name (:data:`lstmviz.kinds.KINDS`: ``"recurrent"``, ``"bow"``, ...), or
            ``"adapter"`` for a model of the user's models file.
        views: The views that can open it (:meth:`lstmviz.kinds.Kind.views`), empty when unreadable.
        user: True for a model of the user's models file (:mod:`lstmviz.adapters`; marked in the pickers).
    """

    path: str
    name: str
    task: str
    cell: str
    head: str
    error: str | None = None
    kind: str = "recurrent"
    views: frozenset[str] = frozenset()
    user: bool = False

    @property
    def recordable(self) -> bool:
        """True for a text classifier the Gates view opens, or an unreadable checkpoint (its error is shown)."""
        return self.error is not None or "gates" in self.views


@st.cache_resource(show_spinner=False, max_entries=4096)
def _meta_or_error(path: str, file_stamp: tuple[float, int]) -> tuple[dict[str, Any] | None, str | None]:
    """``meta.json`` of a checkpoint within its budgets, or why not; failures are cached like successes.

    cache_resource: the dict is shared, not copied per rerun (a 16 MB history copied on every rerun
    slowed every page); callers treat it as read-only.
    """
    try:
        return read_checkpoint_meta(Path(path) / META_FILE), None
    except CheckpointError as e:
        return None, str(e)


def read_meta(path: str, file_stamp: tuple[float, int]) -> dict[str, Any]:
    """Parsed ``meta.json`` of a checkpoint directory, read-only (raises CheckpointError naming the file)."""
    meta, error = _meta_or_error(path, file_stamp)
    if error is not None:
        raise CheckpointError(error)
    return meta


def _folder_stamp(root: Path) -> tuple[float, ...]:
    """mtimes of ``root`` and its direct subfolders: a checkpoint added, removed, renamed or re-saved
    (a save swaps the folder, see lstmviz.checkpoint) changes one of them."""
    try:
        return (root.stat().st_mtime,) + tuple(sorted(d.stat().st_mtime for d in root.iterdir() if d.is_dir()))
    except OSError:
        return (0.0,)


@st.cache_resource(show_spinner=False, max_entries=4096)
def _info(path: str, name: str, file_stamp: tuple[float, int]) -> CheckpointInfo:
    meta, error = _meta_or_error(path, file_stamp)
    if error is not None:
        return CheckpointInfo(path, name, "?", "?", "?", error)
    try:  # the name only ever selects a registered kind; the config is validated, nothing is built
        kind = get_kind(meta.get("model_kind", "recurrent"))
        config = kind.config(meta["config"])
    except (KeyError, TypeError, ValueError) as e:
        return CheckpointInfo(path, name, "?", "?", "?", f"{Path(path) / META_FILE}: {e}")
    return CheckpointInfo(
        path,
        name,
        kind.task(meta),
        str(getattr(config, "cell", "?")),
        str(getattr(config, "head", kind.output)),
        kind=kind.name,
        views=kind.views(config),
    )


@st.cache_resource(show_spinner=False, max_entries=8)
def _infos(root: str, folder_stamp: tuple[float, ...]) -> tuple[CheckpointInfo, ...]:
    """Every checkpoint under ``root``: listed and read again only when a folder's mtime changes."""
    out = []
    for d in list_checkpoints(root):
        name = str(d.relative_to(root)) if d.is_relative_to(root) else d.name
        out.append(_info(str(d), name, stamp(d)))
    return tuple(out)


def checkpoint_infos(root: str | Path) -> list[CheckpointInfo]:
    """All checkpoint directories under ``root``; unreadable ones carry an ``error`` naming the file."""
    root = Path(root)
    return list(_infos(str(root), _folder_stamp(root)))


def model_infos() -> list[CheckpointInfo]:
    """Every model the pickers offer: the checkpoints under :func:`checkpoint_root`, then the user's adapters (an
    adapter named like a checkpoint is left out: names are what links hold; :func:`models_errors` says so)."""
    folders = checkpoint_infos(checkpoint_root())
    taken = {i.name for i in folders}
    return folders + [i for i in adapter_infos() if i.name not in taken]


def models_errors() -> list[str]:
    """Why a models file, or one of its adapters, is not offered (each message names the file or the model)."""
    _, errors = user_adapters()
    taken = {i.name for i in checkpoint_infos(checkpoint_root())}
    clash = [
        f"model {i.name!r} of the models file: a checkpoint has this name" for i in adapter_infos() if i.name in taken
    ]
    return [*errors, *clash]


# ----- the user's own models (lstmviz.adapters): a models file named when the app was started ---------------------
def models_files() -> tuple[str, ...]:
    """The models files the user named when starting the app: ``--models FILE`` after ``--`` on the ``streamlit run``
    command line (repeatable), then ``$LSTMVIZ_MODELS`` (os.pathsep-separated). Never read from a URL, a widget or a
    checkpoint folder: the file is code, and only the person who starts the server chooses it."""
    parser = argparse.ArgumentParser(add_help=False, allow_abbrev=False)
    parser.add_argument("--models", action="append", default=[])
    args, _ = parser.parse_known_args(sys.argv[1:])
    named = [*args.models, *(f for f in os.environ.get(MODELS_ENV, "").split(os.pathsep) if f)]
    return tuple(dict.fromkeys(str(Path(f).expanduser().resolve()) for f in named))


@st.cache_resource(show_spinner=False, max_entries=4)
def _adapters(files: tuple[str, ...], stamps: tuple[tuple[float, int], ...]) -> tuple[dict, tuple[str, ...]]:
    """The adapters of the models files (run once per file stamp: each model is built once and shared), and the
    errors of the files that could not be read (each naming its file)."""
    found: dict[str, adapters.Adapter] = {}
    errors = []
    for f in files:
        try:
            for a in adapters.load_models_file(f):
                if a.name in found:
                    errors.append(f"models file {f}: the name {a.name!r} is already taken by another models file")
                else:
                    found[a.name] = a
        except adapters.ModelsFileError as e:
            errors.append(str(e))
    return found, tuple(errors)


def user_adapters() -> tuple[dict[str, adapters.Adapter], tuple[str, ...]]:
    """Name -> adapter of every model in the user's models files, and the files' errors."""
    files = models_files()
    if not files:
        return {}, ()
    return _adapters(files, tuple(stamp(f) for f in files))


def is_adapter(path: str) -> bool:
    """Whether a picker path names a model of the user's models file (``"adapter:<name>"``)."""
    return isinstance(path, str) and path.startswith(ADAPTER_PREFIX)


def adapter(path: str) -> adapters.Adapter:
    """The adapter a picker path names (KeyError naming the path when the models file no longer lists it)."""
    found, _ = user_adapters()
    name = path[len(ADAPTER_PREFIX) :] if is_adapter(path) else None
    if name not in found:
        raise KeyError(f"no model {path!r} in the models files {list(models_files())}")
    return found[name]


def adapter_infos() -> list[CheckpointInfo]:
    """The user's adapters as picker entries (marked ``user``)."""
    found, _ = user_adapters()
    out = []
    for name, a in found.items():
        cells = [r.cell for r in a.recurrent()]
        out.append(
            CheckpointInfo(
                ADAPTER_PREFIX + name,
                name,
                f"adapter:{name}",
                cells[0] if len(set(cells)) == 1 else "?",
                a.output,
                kind="adapter",
                views=a.views(),
                user=True,
            )
        )
    return out


@st.cache_resource(show_spinner=False, max_entries=64)
def _predictor_or_error(path: str, file_stamp: tuple[float, int]) -> tuple[Predictor | None, str | None]:
    """A checkpoint's predictor, loaded once per (directory, stamp), or why it cannot be (cached too)."""
    try:
        if is_adapter(path):
            return adapters.AdapterPredictor(adapter(path)), None
        return kind_predictor(path), None
    except (CheckpointError, ValueError, OSError, KeyError) as e:
        return None, str(e)


def load_error(path: str) -> str | None:
    """Why a checkpoint cannot be loaded (naming the file), or None; the attempt is cached like a success."""
    return _predictor_or_error(path, stamp(path))[1]


def load_predictor(path: str, file_stamp: tuple[float, int]) -> Predictor:
    """The shared predictor of a checkpoint (never mutated); CheckpointError naming the file when it cannot load."""
    pred, error = _predictor_or_error(path, file_stamp)
    if error is not None:
        raise CheckpointError(error)
    return pred


def predictor(path: str) -> Predictor:
    """:func:`load_predictor` keyed by the checkpoint's current stamp."""
    return load_predictor(path, stamp(path))


# ----- work budgets (lstmviz.budget): every run of a view is sized from meta.json before any work ----------------
MAX_FILLER = 150  # Gates/Gradients what-if: most filler tokens (the slider's maximum)
VIEWS = ("generate", "connectivity", "tagger", "gates")  # views whose work is budgeted (Gradients runs Gates')


def view_plan(path: str, file_stamp: tuple[float, int], view: str) -> list[Work]:
    """The runs ``view`` makes for the checkpoint at ``path`` at their largest, from its config alone (nothing is
    loaded): the recorded numbers, table rows and chart sizes :func:`lstmviz.budget.check_work` bounds.

    Raises:
        CheckpointError: meta.json unreadable or its config invalid (naming the file).
        ValueError: ``view`` is not in :data:`VIEWS`.
    """
    if is_adapter(path):
        if view not in ("gates", "generate", "tagger"):
            return []  # the adapters open in the text views, the Generation and the Word tagging views only
        # gates: the recording with gradients; generate: prefix + generated tokens, forward only; tagger: forward only
        what = {"gates": "recording with gradients", "generate": "generation", "tagger": "tagging"}[view]
        T = MAX_TOKENS + GEN_OWN_TOKENS if view == "generate" else MAX_TOKENS
        grads = view == "gates"
        return [
            Work(
                what,
                r.hidden_size,
                r.num_layers,
                r.directions,
                T,
                len(QUANTITIES[r.cell]) + (len(GRAD_QUANTITIES[r.cell]) if grads else 0),
                tabulated=True,
                drawn=r.hidden_size * T,
            )
            for r in adapter(path).recurrent()
        ]
    meta = read_meta(path, file_stamp)
    try:
        kind = get_kind(meta.get("model_kind", "recurrent"))
        config = kind.config(meta["config"])
    except (KeyError, TypeError, ValueError) as e:
        raise CheckpointError(f"{Path(path) / META_FILE}: invalid model config: {e}") from e
    size = kind.recurrent(config)
    if size is None:
        return []  # nothing recurrent to record
    H, L, D, cell = size.hidden_size, size.num_layers, size.directions, size.cell
    Q = len(QUANTITIES[cell])
    if view == "generate":
        T = GEN_PREFIX_CHARS + GEN_LENGTH
        return [
            Work("generation", H, L, 1, T, Q, tabulated=True, drawn=H * T),
            Work("cell finder", H, L, 1, CELL_TEXT_CHARS, 1),  # it keeps one quantity per layer
            Work("gate saturation", H, L, 1, SATURATION_CHARS, Q),
            Work("unit colouring", H, L, 1, UNIT_TEXT_CHARS, 1, drawn=UNIT_TEXT_CHARS),
            *view_plan(path, file_stamp, "connectivity"),
        ]
    if view == "connectivity":
        T = GEN_CONNECTIVITY_CHARS
        return [Work("connectivity", H, L, 1, T, Q, batch=T, drawn=T * T)]
    if view == "tagger":
        T = MAX_TAGGED_WORDS
        return [
            Work("tagging", H, L, D, T, Q, tabulated=True, drawn=H * T),
            Work("connectivity", H, L, D, T, Q, batch=T, drawn=T * T),
        ]
    if view == "gates":
        T = MAX_TOKENS + MAX_FILLER
        Qg = Q + len(GRAD_QUANTITIES[cell])
        return [Work("recording with gradients", H, L, D, T, Qg, tabulated=True, drawn=H * T)]
    raise ValueError(f"view={view!r} is not budgeted; allowed: {', '.join(VIEWS)}")


def check_view(path: str, file_stamp: tuple[float, int], view: str, only: str | None = None) -> None:
    """Raises :class:`lstmviz.budget.WorkBudgetError` (naming the model, the work and the budget) when a run of
    ``view`` (``only``: the run of that name) for this checkpoint is above :data:`lstmviz.budget.DEFAULT_BUDGET`;
    called before any work, by the views and again by each cached computation."""
    plan = [w for w in view_plan(path, file_stamp, view) if only is None or w.what == only]
    work_of(path[len(ADAPTER_PREFIX) :] if is_adapter(path) else Path(path).name, plan, DEFAULT_BUDGET)


def work_refusal(path: str, file_stamp: tuple[float, int], view: str) -> WorkBudgetError | None:
    """The refusal of :func:`check_view`, or None when the view's work is within budget."""
    try:
        check_view(path, file_stamp, view)
    except WorkBudgetError as e:
        return e
    return None


@st.cache_resource(show_spinner=False, max_entries=32)
def load_variant(
    path: str, file_stamp: tuple[float, int], whh_scale: float, forget_bias: float, untrained: bool
) -> Any:
    """A what-if variant: a private modified copy of a checkpoint's model (original untouched)."""
    whatif = whatifs.WhatIf(whh_scale=whh_scale, forget_bias=forget_bias, untrained=untrained)
    return whatifs.make_variant(load_predictor(path, file_stamp), whatif)


def analyze(
    path: str,
    file_stamp: tuple[float, int],
    text: str,
    target: str | None = None,
    filler: int = 0,
    filler_at: int | str = "auto",
    whh_scale: float = 1.0,
    forget_bias: float = 0.0,
    untrained: bool = False,
) -> sentence.TextAnalysis:
    """``sentence.analyze_text`` of a (possibly what-if) checkpoint, or :func:`lstmviz.adapters.analyze` of a user's
    model (no what-ifs: those views hide their knobs for it); cached server-wide, the result is read-only."""
    check_view(path, file_stamp, "gates")  # before the model is loaded
    if is_adapter(path):
        return _analyze_own(path, file_stamp, text, target)
    return _analyze_checkpoint(path, file_stamp, text, target, filler, filler_at, whh_scale, forget_bias, untrained)


@st.cache_resource(show_spinner=False, max_entries=ANALYZE_CACHE_ENTRIES)
def _analyze_checkpoint(
    path: str,
    file_stamp: tuple[float, int],
    text: str,
    target: str | None,
    filler: int,
    filler_at: int | str,
    whh_scale: float,
    forget_bias: float,
    untrained: bool,
) -> sentence.TextAnalysis:
    pred = load_variant(path, file_stamp, whh_scale, forget_bias, untrained)
    return sentence.analyze_text(pred, text, grads=True, target=target, prepend=filler, filler_at=filler_at)


@st.cache_resource(show_spinner=False, max_entries=OWN_CACHE_ENTRIES)
def _analyze_own(path: str, file_stamp: tuple[float, int], text: str, target: str | None) -> sentence.TextAnalysis:
    return adapters.analyze(adapter(path), text, grads=True, target=target)


def clear_analyses() -> None:
    """Forgets every cached text analysis (tests that change what a model computes)."""
    _analyze_checkpoint.clear()
    _analyze_own.clear()


@st.cache_data(show_spinner=False, max_entries=8)
def corpus_texts(path: str, file_stamp: tuple[float, int], n: int, seed: int) -> list[str]:
    """A seeded random sample of ``n`` corpus sentences (raises DataError when unreadable)."""
    from lstmviz.datasets import load_opensentiment

    df = load_opensentiment(path)
    return df.sample(n=min(n, len(df)), random_state=seed)["text"].astype(str).tolist()


@st.cache_data(show_spinner=False, max_entries=32)
def corpus_saturation(
    path: str, file_stamp: tuple[float, int], texts: tuple[str, ...], untrained: bool, series: str
) -> pd.DataFrame:
    """Gate saturation statistics pooled over ``texts`` for a (possibly untrained) checkpoint."""
    pred = load_variant(path, file_stamp, 1.0, 0.0, untrained)
    return diagnostics.corpus_saturation(pred, list(texts), series=series)


@st.cache_data(show_spinner=False, max_entries=8)
def sweep(path: str, file_stamp: tuple[float, int]) -> tuple[dict[str, Any], pd.DataFrame, pd.DataFrame]:
    """A sweep file (``lstmviz.sweeps.load_sweep``) as (settings, summary frame, runs frame).

    Raises ValueError naming the file when it is unreadable or not a sweep.
    """
    from lstmviz import sweeps

    raw = sweeps.load_sweep(path)
    settings = {
        k: raw.get(k)
        for k in (
            "task",
            "kind",
            "lags",
            "gate_biases",
            "seeds",
            "chance",
            "baseline_mse",
            "success",
            "budget_updates",
            "wall_seconds",
            "workers",
            "model",
        )
    }
    return settings, sweeps.summary_frame(raw), sweeps.runs_frame(raw)


@st.cache_data(show_spinner=False, max_entries=4)
def accumulator(path: str, file_stamp: tuple[float, int]) -> pd.DataFrame:
    """``lstmviz.accumulator.read_study`` rows as a frame (raises ValueError naming the file when unreadable)."""
    from lstmviz.accumulator import read_study

    return pd.DataFrame(read_study(path)["rows"])


@st.cache_data(show_spinner=False, max_entries=4)
def lab_presets(path: str, file_stamp: tuple[float, int]) -> pd.DataFrame:
    """``dashboard.jobs.load_preset_runs`` (raises ValueError naming the file when unreadable)."""
    from dashboard.jobs import load_preset_runs

    return load_preset_runs(path)


@st.cache_data(show_spinner=False, max_entries=32, ttl=600)
def lab_estimate(config: tuple[tuple[str, Any], ...]) -> float:
    """Seconds a lab job with these settings takes here when every cell uses its whole budget (timed now)."""
    from dashboard.jobs import LabConfig, estimate_seconds

    return estimate_seconds(LabConfig(**dict(config)))


def sessions_open() -> bool | None:
    """Whether the Streamlit server has a connected session (any page, any user); None when it cannot tell.

    Read from the job thread: ``Runtime.state`` is one attribute, set by the server's event loop when the first
    session connects and when the last one disconnects (the session list itself may only be walked on that loop).
    None without a running server (bare Python, ``AppTest``'s mock runtime), where page heartbeats decide alone.

    Example:
        >>> sessions_open() is None  # no Streamlit server in a doctest
        True
    """
    try:
        from streamlit import runtime

        if not runtime.exists():
            return None
        now = runtime.get_instance().state
    except Exception:  # a Streamlit without this API: heartbeats decide alone
        return None
    if not isinstance(now, runtime.RuntimeState):
        return None
    return now == runtime.RuntimeState.ONE_OR_MORE_SESSIONS_CONNECTED


@st.cache_resource(show_spinner=False, max_entries=1)
def job_manager() -> JobManager:
    """The one server-wide lab job manager (shared by every session and page reload).

    ``dashboard/app.py`` calls ``job_manager().touch()`` on every page run, and the manager asks
    :func:`sessions_open`: a job keeps running while anybody has the app open, on any page.
    """
    return JobManager(sessions_open=sessions_open)


@st.cache_data(show_spinner=False, max_entries=64)
def param_count(config: dict[str, Any]) -> int | None:
    """Trainable parameters of a model config (None when the config is invalid)."""
    from lstmviz.models import ModelConfig, RecurrentClassifier

    try:
        model = RecurrentClassifier(ModelConfig.from_dict(dict(config)))
    except (TypeError, ValueError):
        return None
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


# ----- the user's own training runs (lstmviz.traininglog) -------------------------------------------
RUNS_ENV = "LSTMVIZ_RUNS"  # env var: folder of the user's run folders, each with a run.json (default <repo>/runs)
TRAIN_RUNS = "train_runs"  # Training view: the user's runs shown (run folder paths, str)
TRAIN_RUN_METRIC = "train_run_metric"  # Training view: the logged metric of the runs' own chart
MAX_LISTED_RUNS = 100  # run folders the Training view lists and reads (each within lstmviz.traininglog's budgets)


def runs_root() -> Path:
    """The folder of the user's runs: ``$LSTMVIZ_RUNS`` or ``<repo>/runs``.

    Example:
        >>> runs_root()  # doctest: +SKIP
        PosixPath('/home/me/lstmviz/runs')
    """
    return Path(os.environ.get(RUNS_ENV) or REPO / "runs")


def run_folders(root: str | Path) -> tuple[list[Path], int]:
    """The first :data:`MAX_LISTED_RUNS` run folders under ``root`` (by name) and how many there are in all.

    Example:
        >>> run_folders("/nonexistent")
        ([], 0)
    """
    from lstmviz.traininglog import find_runs

    found = find_runs(root)
    return found[:MAX_LISTED_RUNS], len(found)


@st.cache_resource(show_spinner=False, max_entries=4 * MAX_LISTED_RUNS)
def _run_or_error(path: str, file_stamp: tuple[float, int]) -> tuple[dict[str, Any] | None, str | None]:
    """A run file read within its budgets, or why not; failures are cached like successes.

    cache_resource: a run of several MB is shared, not copied per rerun; callers treat it as read-only.
    """
    from lstmviz.traininglog import RunError, read_run

    try:
        return read_run(path), None
    except RunError as e:
        return None, str(e)


def user_run(folder: str | Path) -> tuple[dict[str, Any] | None, str | None]:
    """``(run, None)`` of a run folder's ``run.json``, or ``(None, why not)`` naming the file; read again only when
    the file's stamp changes."""
    from lstmviz.traininglog import RUN_FILE

    file = Path(folder) / RUN_FILE
    return _run_or_error(str(file), stamp(file))


# ----- the user's own models in the Generation and Word tagging views (lstmviz.adapters) --------------------------
GEN_OWN_TOKENS = 60  # Generation view, a user's model: most tokens it adds (the length slider's maximum)
GEN_OWN_LENGTH = "gen_own_length"  # Generation view, a user's model: int, tokens to add
GEN_OWN_MODULE = "gen_own_module"  # Generation view, a user's model: the recurrent module shown (several ran)
GEN_OWN_LAYER = "gen_own_layer"  # Generation view, a user's model: (layer, direction) shown (per language)
TAG_OWN_MODULE = "tag_own_module"  # Word tagging view, a user's model: the recurrent module shown
TAG_OWN_LAYER = "tag_own_layer"  # Word tagging view, a user's model: (layer, direction) shown (per language)


def models_stamp() -> tuple[tuple[float, int], ...]:
    """The stamps of the models files: part of every key of a result of a user's model, so a models file edited and
    re-run (same adapter names, new models) is computed again."""
    return tuple(stamp(f) for f in models_files())


@st.cache_resource(show_spinner=False, max_entries=OWN_CACHE_ENTRIES)
def _own_generate(
    path: str,
    files_stamp: tuple[tuple[float, int], ...],
    prefix: str,
    length: int,
    temperature: float,
    top_k: int,
    seed: int,
) -> dict[str, Any]:
    """:func:`own_generate`, keyed by the models files' stamps as well."""
    check_view(path, stamp(path), "generate")  # before any work
    return adapters.generate(adapter(path), prefix, length, temperature=temperature, top_k=top_k, seed=seed)


def own_generate(path: str, prefix: str, length: int, temperature: float, top_k: int, seed: int) -> dict[str, Any]:
    """:func:`lstmviz.adapters.generate` of the user's model at ``path`` (``"adapter:<name>"``), read-only; raises
    :class:`lstmviz.budget.WorkBudgetError` before any work when the model is too big for the view."""
    return _own_generate(path, models_stamp(), prefix, length, temperature, top_k, seed)


@st.cache_resource(show_spinner=False, max_entries=OWN_CACHE_ENTRIES)
def _own_tags(path: str, files_stamp: tuple[tuple[float, int], ...], text: str) -> sentence.TextAnalysis:
    """:func:`own_tags`, keyed by the models files' stamps as well."""
    check_view(path, stamp(path), "tagger")  # before any work
    return adapters.analyze(adapter(path), text, grads=False)


def own_tags(path: str, text: str) -> sentence.TextAnalysis:
    """The forward-only analysis of ``text`` by the user's ``tags`` model at ``path`` (its tags:
    :func:`lstmviz.adapters.tag_table`), read-only; raises :class:`lstmviz.budget.WorkBudgetError` before any work
    when the model is too big for the view."""
    return _own_tags(path, models_stamp(), text)


# ----- character language models -----------------------------------------------------------------
@st.cache_resource(show_spinner=False, max_entries=8)
def load_model(path: str, file_stamp: tuple[float, int]) -> tuple[Any, dict[str, Any]]:
    """A character language model's or tagger's checkpoint ``(model, meta)``, shared read-only."""
    from lstmviz.checkpoint import load_checkpoint

    return load_checkpoint(path)


@st.cache_data(show_spinner=False, max_entries=GEN_CACHE_ENTRIES)
def lm_generate(
    path: str, file_stamp: tuple[float, int], prefix: str, length: int, temperature: float, top_k: int, seed: int
) -> dict[str, Any]:
    """The continuation of ``prefix``, the recording of prefix + continuation (tidy frames per layer and
    quantity) and the top-5 next characters after every character."""
    check_view(path, file_stamp, "generate", only="generation")  # before the model is loaded
    model, meta = load_model(path, file_stamp)
    return charlm_kind.generation(model, meta, prefix, length, temperature, top_k, seed)


@st.cache_data(show_spinner=False, max_entries=16)
def lm_connectivity(models: tuple[tuple[str, tuple[float, int]], ...], text: str) -> dict[str, Any]:
    """``name -> (T, T)`` connectivity of every character model on the same text; ``models`` holds
    ``(path, stamp)`` pairs, so a checkpoint rewritten under the same name is a new key."""
    out = {}
    for path, file_stamp in models:
        check_view(path, file_stamp, "connectivity")  # before the model is loaded
        model, meta = load_model(path, file_stamp)
        out[Path(path).name] = charlm_kind.connectivity_on(model, meta, text)
    return out


@st.cache_data(show_spinner=False, max_entries=8)
def _cells_on(
    path: str, file_stamp: tuple[float, int], text: str | None, corpus: str, corpus_stamp: tuple[float, int]
) -> tuple[pd.DataFrame, str]:
    """:func:`lm_cells` on ``text``, or (``text`` None) on the test split of the corpus file ``corpus``."""
    check_view(path, file_stamp, "generate", only="cell finder")  # before the model is loaded
    model, meta = load_model(path, file_stamp)
    if text is None:  # the corpus test split, the same split the model was scored on
        text = charlm_kind.held_out_text(meta, corpus, CELL_TEXT_CHARS)
    return charlm_kind.cells(model, meta, text, Path(path).name), text


def lm_cells(path: str, file_stamp: tuple[float, int], fallback_text: str) -> tuple[pd.DataFrame, str]:
    """``(find_cells frame, the text used)``: the corpus test split's first 20,000 characters (computed once per
    model), else ``fallback_text`` when the corpus is absent."""
    corpus = corpus_file()  # read here, outside the cache: the path and its stamp are part of the key
    return _cells_on(path, file_stamp, None if corpus.is_file() else fallback_text, str(corpus), stamp(corpus))


@st.cache_data(show_spinner=False, max_entries=8)
def lm_saturation(path: str, file_stamp: tuple[float, int], text: str, trained: str, initial: str) -> pd.DataFrame:
    """Gate saturation per unit of the trained model and of its exact initialisation on the same ``text``
    (series named ``trained`` and ``initial``); no ``initial`` rows when the checkpoint does not record its
    initialisation (see :func:`lstmviz.charlm.initial_model`)."""
    check_view(path, file_stamp, "generate", only="gate saturation")  # before the model is loaded
    model, meta = load_model(path, file_stamp)
    return charlm_kind.saturation(model, meta, text, trained, initial)


@st.cache_data(show_spinner=False, max_entries=32)
def lm_unit_values(path: str, file_stamp: tuple[float, int], text: str, layer: int, unit: int) -> list[float]:
    """One unit's memory (LSTM: cell state, else hidden state) at every character of ``text``, read as the cell
    finder reads it: sentence by sentence, each from a zero state (:func:`lstmviz.cellfinder.sentence_states`)."""
    check_view(path, file_stamp, "generate", only="unit colouring")  # before the model is loaded
    model, meta = load_model(path, file_stamp)
    return charlm_kind.unit_values(model, meta, text, layer, unit)


# ----- tagger ---------------------------------------------------------------------------------------
@st.cache_data(show_spinner=False, max_entries=TAG_CACHE_ENTRIES)
def tag(path: str, file_stamp: tuple[float, int], text: str) -> dict[str, Any]:
    """The tagger on ``text``: a table of words and tags, tidy frames per (layer, direction, quantity), and the
    connectivity matrix of each head with its left / self / right shares."""
    check_view(path, file_stamp, "tagger")  # before the model is loaded
    model, meta = load_model(path, file_stamp)
    return tagger_kind.analysis(model, meta, text, MAX_TAGGED_WORDS)


def tagger_eval_file() -> Path:
    """The tagger's comparison with its baselines (``python -m lstmviz.tagbaseline``), in the results folder."""
    return results_root() / TAGGER_EVAL_FILE


@st.cache_data(show_spinner=False, max_entries=8)
def tagger_comparison(
    eval_path: str, eval_stamp: tuple[float, int], path: str, file_stamp: tuple[float, int]
) -> dict[str, Any] | None:
    """The comparison file when it was made from this checkpoint's weights (same fingerprint), else None (also
    when it is absent). Raises ValueError naming the file when it is unreadable or malformed."""
    from lstmviz.models import weights_fingerprint
    from lstmviz.tagbaseline import load_comparison

    if eval_stamp == (0.0, 0):
        return None
    comparison = load_comparison(eval_path)
    check_view(path, file_stamp, "tagger")  # before the model is loaded
    model, _ = load_model(path, file_stamp)
    return comparison if comparison["weights_fingerprint"] == weights_fingerprint(model) else None


# ----- corpus explorer --------------------------------------------------------------------------------
def cache_hint() -> Path:
    """Where corpus recordings are cached (shown on the Corpus page)."""
    from lstmviz.corpus.record import cache_root

    return cache_root()


@st.cache_resource(show_spinner=False, max_entries=1)
def corpus_builds() -> Any:
    """The one server-wide registry of corpus recordings being built (dashboard/corpus_jobs.py)."""
    from dashboard.corpus_jobs import CorpusBuilds

    return CorpusBuilds()


@st.cache_data(show_spinner=False, max_entries=8)
def corpus_all_texts(path: str, file_stamp: tuple[float, int]) -> tuple[list[str], str]:
    """Every non-empty corpus text (index = sentence id of a recording) and the file's sha256."""
    from lstmviz.corpus.record import load_texts

    return load_texts(path)


@st.cache_data(show_spinner=False, max_entries=32)
def corpus_folder(
    path: str, file_stamp: tuple[float, int], corpus: str, corpus_stamp: tuple[float, int], cache: str
) -> str:
    """The folder under ``cache`` (:func:`cache_hint`, outside the repository) of the recording of ``corpus``
    through the checkpoint at ``path``."""
    from lstmviz.corpus.record import recording_folder
    from lstmviz.models import weights_fingerprint

    _, sha = corpus_all_texts(corpus, corpus_stamp)
    return str(recording_folder(weights_fingerprint(load_predictor(path, file_stamp).model), sha, root=cache))


@st.cache_data(show_spinner=False, max_entries=64)
def corpus_match(
    folder: str,
    folder_stamp: tuple[float, int, int],
    column: str,
    units: tuple[int, ...],
    threshold: float,
    length: int,
    off_before: bool,
) -> pd.DataFrame:
    """LSTMVis matches of ``units`` in a finished recording (a private DuckDB connection per call); ``folder_stamp``
    (:func:`folder_stamp`) keys it to the recording's files."""
    from lstmviz.corpus.query import CorpusQuery

    return CorpusQuery(folder).match(column, list(units), threshold, length, k=20, off_before=off_before)


@st.cache_data(show_spinner=False, max_entries=64)
def corpus_unit(
    folder: str, folder_stamp: tuple[float, int, int], column: str, unit: int
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``(top contexts, histogram)`` of one unit in a finished recording (keyed by :func:`folder_stamp`)."""
    from lstmviz.corpus.query import CorpusQuery

    q = CorpusQuery(folder)
    return q.top_contexts(column, unit, k=10), q.histogram(column, unit, bins=40)


# ----- lessons -----------------------------------------------------------------------------------
def lesson_folders() -> list[Path]:
    """The shipped lessons' folder, then ``$LSTMVIZ_LESSONS`` when it is set."""
    extra = os.environ.get(LESSONS_ENV)
    return [LESSONS_DIR] + ([Path(extra)] if extra else [])


@st.cache_data(show_spinner=False, max_entries=8)
def _lessons(folders: tuple[str, ...], stamps: tuple[tuple[float, int, int], ...]) -> tuple[dict[str, Any], list]:
    """Every lesson of the folders by name, and one (file, message) per file that is refused."""
    from lstmviz.lessons import LessonError, lesson_files, load_lesson

    found: dict[str, Any] = {}
    errors: list[tuple[str, str]] = []
    for folder in folders:
        for path in lesson_files(folder):
            try:
                lesson = load_lesson(path, inside=folder)
            except LessonError as e:
                errors.append((str(path), str(e)))
                continue
            if lesson.name in found:  # the shipped lesson keeps its name; a user's file of that name is named
                errors.append((str(path), f"{path}: a lesson named {lesson.name!r} is already listed; rename the file"))
                continue
            found[lesson.name] = lesson
    return found, errors


def lessons() -> tuple[dict[str, Any], list[tuple[str, str]]]:
    """The lessons the dashboard offers (:class:`lstmviz.lessons.Lesson` by name) and the refused files with their
    messages; re-read when a file in a lesson folder changes."""
    folders = tuple(str(f) for f in lesson_folders())
    return _lessons(folders, tuple(folder_stamp(f) for f in folders))


@st.cache_resource(show_spinner=False, max_entries=1)
def warmups() -> Any:
    """The one server-wide registry of lesson warm-ups (dashboard/warmup.py)."""
    from dashboard.warmup import WarmUps

    return WarmUps()
