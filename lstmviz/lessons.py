"""Lessons as files: a schema-checked sequence of dashboard states with their texts, and its command line.

A lesson is a TOML file (``*.toml``), or a Markdown file whose TOML front matter sits between two ``+++`` lines
(``*.md``; the Markdown body is the teacher's notes). It holds an ordered list of steps; each step names a view,
a title and a short text in Russian and English, an optional question for the class with its answer, and the
view's **state**: the same named knobs a dashboard link carries in its query (:data:`KNOBS`), so a step, a
bookmark and "save this view as a step" are one format.

A lesson file is data from anywhere (a colleague's mail, a download), so nothing in it is trusted:

* it is read only when it is a regular file of at most :data:`MAX_LESSON_BYTES`, nested at most
  :data:`MAX_DEPTH` deep;
* every field is checked against :data:`LESSON_SCHEMA` (JSON Schema, ``jsonschema``) and every knob against its
  own schema and its view; unknown fields are refused, and every problem is named, not only the first;
* models are **names** of checkpoint folders (``sentiment-lstm``), never paths; no field names a file, a module
  or a query, so a lesson can neither run code nor read a file outside the lesson and checkpoint folders;
* its strings are shown as data (escaped), never as markup.

Command line::

    python -m lstmviz.lessons check FILE [FILE ...] [--checkpoints DIR]
    python -m lstmviz.lessons handout FILE [--lang ru|en] [--answers] [-o OUT.md]

Example:
    >>> lesson = parse_lesson('''
    ... schema = "lstmviz.lesson/1"
    ... title = {ru = "Проба", en = "Trial"}
    ... [[steps]]
    ... view = "gates"
    ... title = {ru = "Гейты", en = "Gates"}
    ... text = {ru = "Смотрим.", en = "Look."}
    ... state = {model = "sentiment-lstm", order = "cluster"}
    ... ''', "trial.toml")
    >>> lesson.steps[0].view, lesson.steps[0].state
    ('gates', {'model': 'sentiment-lstm', 'order': 'cluster'})
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lstmviz.safeio import UnsafeFileError, nesting_depth, read_bytes, strict_validator

__all__ = [
    "KNOBS",
    "LESSON_SCHEMA",
    "MAX_LESSON_BYTES",
    "SCHEMA_ID",
    "VIEWS",
    "VIEW_KNOBS",
    "Lesson",
    "LessonError",
    "Step",
    "dump_lesson",
    "format_knob",
    "format_state",
    "handout",
    "knob_problems",
    "lesson_files",
    "load_lesson",
    "main",
    "parse_knobs",
    "parse_lesson",
    "short_repr",
]

SCHEMA_ID = "lstmviz.lesson/1"
MAX_LESSON_BYTES = 256 * 1024  # a 45-minute lesson is ~20 KB; anything past 256 KB is not a lesson
MAX_DEPTH = 8  # lesson > steps > step > state > models list: 5 levels; deeper input is refused unparsed
MAX_STEPS = 60  # a 90-minute double lesson at 1.5 minutes a step
MAX_TEXT = 1_500  # characters of a typed text knob (a dashboard link must stay under 2,000 characters)
MAX_PROSE = 2_000  # characters of a step's text, question or answer in one language
MAX_TITLE = 120  # characters of a title
MAX_NOTES = 20_000  # characters of a Markdown lesson's body (the teacher's notes)
LANGS = ("ru", "en")

#: The dashboard's views by their page name (the URL path of ``dashboard/views/<name>.py``).
VIEWS = ("gates", "gradients", "compare", "generate", "tagger", "corpus", "training", "lab", "explain")

# A checkpoint is named by its folder's name: letters, digits, ".", "_", "-", not starting with "." (so never
# "..", never a path); the dashboard looks the name up among the folders it lists.
_NAME = {"type": "string", "pattern": r"^[A-Za-z0-9][A-Za-z0-9._-]{0,79}$", "description": "a checkpoint name"}
_UNIT_ORDERS = ("index", "activity", "change", "cluster")  # lstmviz.diagnostics.UNIT_ORDERS (a test keeps them equal)
# The tabs of a view's further sections (dashboard views: gates, gradients, generate, lab), one open at a time.
_SECTIONS = (
    *("unit", "top", "saturation"),  # gates
    *("reach", "init", "saliency", "forget", "profiles"),  # gradients
    *("connectivity", "cells"),  # generate
    *("lag", "lag_b4", "gate_bias", "adding"),  # lab
)
_QUANTITIES = ("input", "forget", "cell_candidate", "output", "cell", "hidden", "reset", "update", "new")

#: Every knob a step (or a dashboard link) may set: its JSON Schema, with a description that says what is allowed.
KNOBS: dict[str, dict[str, Any]] = {
    "model": {**_NAME, "description": "a checkpoint name (the view's model)"},
    "models": {"type": "array", "items": _NAME, "maxItems": 8, "description": "up to 8 checkpoint names"},
    "text": {"type": "string", "maxLength": MAX_TEXT, "description": f"a text of at most {MAX_TEXT} characters"},
    "text_b": {"type": "string", "maxLength": MAX_TEXT, "description": f"a text of at most {MAX_TEXT} characters"},
    "model_b": {**_NAME, "description": "a checkpoint name (the second model)"},
    "order": {"enum": list(_UNIT_ORDERS), "description": ", ".join(_UNIT_ORDERS)},
    "layer": {"type": "integer", "minimum": 0, "maximum": 15, "description": "a layer number 0-15"},
    "direction": {"enum": ["fwd", "rev"], "description": "fwd, rev"},
    "quantity": {"enum": list(_QUANTITIES), "description": ", ".join(_QUANTITIES)},
    "section": {"enum": list(_SECTIONS), "description": ", ".join(_SECTIONS)},
    "play": {"type": "integer", "minimum": 0, "maximum": 1_000, "description": "a token position 0-1000"},
    "unit": {"type": "integer", "minimum": 0, "maximum": 4_095, "description": "a unit number 0-4095"},
    "target": {"type": "string", "pattern": r"^[A-Za-z0-9_-]{0,40}$", "description": "a class label, or empty"},
    "filler": {"type": "integer", "minimum": 0, "maximum": 150, "multipleOf": 5, "description": "0-150 in 5s"},
    "filler_at": {"enum": ["auto", "start", "before_last"], "description": "auto, start, before_last"},
    "whh": {"type": "number", "minimum": 0.25, "maximum": 2.0, "description": "a W_hh scale 0.25-2"},
    "bias": {"type": "number", "minimum": -5.0, "maximum": 5.0, "description": "a gate-bias shift -5 to 5"},
    "untrained": {"type": "boolean", "description": "true or false"},
    "scale": {"enum": ["norm_rel", "norm"], "description": "norm_rel, norm"},
    "mode": {"enum": ["texts", "models"], "description": "texts, models"},
    "pair": {"enum": ["negation", "but", "cue"], "description": "negation, but, cue"},
    "temperature": {"type": "number", "minimum": 0.1, "maximum": 2.0, "description": "a temperature 0.1-2"},
    "top_k": {"type": "integer", "minimum": 1, "maximum": 20, "description": "top-k 1-20"},
    "seed": {"type": "integer", "minimum": 0, "maximum": 10_000, "description": "a seed 0-10000"},
    "head": {"enum": ["pos", "ner"], "description": "pos, ner"},
    "span": {
        "type": "array",
        "items": {"type": "integer", "minimum": 0, "maximum": 1_000},
        "minItems": 2,
        "maxItems": 2,
        "description": "[first, last] token positions",
    },
    "units": {
        "type": "array",
        "items": {"type": "integer", "minimum": 0, "maximum": 4_095},
        "maxItems": 64,
        "description": "up to 64 unit numbers",
    },
    "threshold": {"type": "number", "minimum": -5.0, "maximum": 5.0, "description": "a threshold -5 to 5"},
    "off_before": {"type": "boolean", "description": "true or false"},
    "preset": {"enum": ["separate", "short", "adding", "custom"], "description": "separate, short, adding, custom"},
    "task": {"enum": ["cue_recall", "adding"], "description": "cue_recall, adding"},
    "lag": {"type": "integer", "minimum": 2, "maximum": 200, "description": "a lag 2-200"},
    "updates": {"enum": [200, 400, 600, 1000, 1500], "description": "200, 400, 600, 1000, 1500"},
}

#: The knobs of each view (a step may set only its own view's).
VIEW_KNOBS: dict[str, tuple[str, ...]] = {
    "gates": ("model", "text", "order", "layer", "direction", "quantity", "play", "section", "unit"),
    "gradients": (
        "model",
        "models",
        "text",
        "target",
        "filler",
        "filler_at",
        "whh",
        "bias",
        "untrained",
        "scale",
        "section",
    ),
    "compare": ("model", "mode", "pair", "text", "text_b", "model_b", "layer", "direction"),
    "generate": ("model", "text", "temperature", "top_k", "seed", "layer", "quantity", "section", "unit"),
    "tagger": ("model", "text", "layer", "direction", "head"),
    "corpus": ("model", "text", "span", "threshold", "off_before", "units"),
    "training": ("models",),
    "lab": ("section", "preset", "task", "lag", "bias", "updates", "seed"),
    "explain": (),
}


def _prose(limit: int) -> dict[str, Any]:
    """Schema of a text in both languages."""
    one = {"type": "string", "maxLength": limit, "description": f"at most {limit} characters"}
    return {
        "type": "object",
        "properties": {"ru": one, "en": one},
        "required": list(LANGS),
        "additionalProperties": False,
        "description": f"{{ru = ..., en = ...}}, each at most {limit} characters",
    }


_STEP = {
    "type": "object",
    "properties": {
        "view": {"enum": list(VIEWS), "description": ", ".join(VIEWS)},
        "title": _prose(MAX_TITLE),
        "text": _prose(MAX_PROSE),
        "question": _prose(MAX_PROSE),
        "answer": _prose(MAX_PROSE),
        "minutes": {"type": "number", "minimum": 0, "maximum": 90, "description": "0-90 minutes"},
        "state": {"type": "object", "description": "the view's knobs: " + ", ".join(KNOBS)},
    },
    "required": ["view", "title", "text"],
    "additionalProperties": False,
    "description": "view, title, text, question, answer, minutes, state",
}

#: The JSON Schema of a lesson (knobs are checked per view by :func:`knob_problems`).
LESSON_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "schema": {"const": SCHEMA_ID, "description": SCHEMA_ID},
        "title": _prose(MAX_TITLE),
        "summary": _prose(MAX_PROSE),
        "minutes": {"type": "number", "minimum": 0, "maximum": 240, "description": "0-240 minutes"},
        "before_class": _prose(MAX_PROSE),
        "steps": {"type": "array", "items": _STEP, "minItems": 1, "maxItems": MAX_STEPS, "description": "1-60 steps"},
    },
    "required": ["schema", "title", "steps"],
    "additionalProperties": False,
    "description": "schema, title, summary, minutes, before_class, steps",
}

# C0 controls other than tab and newline, DEL, and the bidirectional overrides that reorder what a reader sees.
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f\u202a-\u202e\u2066-\u2069]")


class LessonError(ValueError):
    """A lesson file that cannot be used; ``problems`` lists every one found, each a line naming the field.

    Example:
        >>> str(LessonError("a.toml", ["steps[0].view = 'x' ...", "title is missing"])).splitlines()[0]
        'a.toml: 2 problems'
    """

    def __init__(self, where: str, problems: list[str]) -> None:
        self.where, self.problems = where, list(problems)
        n = len(self.problems)
        head = f"{where}: {n} problem{'s' if n != 1 else ''}"
        super().__init__("\n".join([head, *(f"  - {p}" for p in self.problems)]))


@dataclass(frozen=True)
class Step:
    """One step of a lesson: a view, its state and the words that go with it."""

    view: str  # one of VIEWS
    title: dict[str, str]  # {"ru": ..., "en": ...}
    text: dict[str, str]  # what the teacher says or the class reads
    state: dict[str, Any] = field(default_factory=dict)  # the view's knobs (KNOBS)
    question: dict[str, str] | None = None  # for the class; None: no question
    answer: dict[str, str] | None = None  # revealed on click
    minutes: float | None = None  # planned time


@dataclass(frozen=True)
class Lesson:
    """A checked lesson (:func:`load_lesson`)."""

    name: str  # the file's stem: the lesson's id in links (?lesson=<name>)
    title: dict[str, str]
    steps: tuple[Step, ...]
    summary: dict[str, str] | None = None
    minutes: float | None = None
    before_class: dict[str, str] | None = None
    notes: str = ""  # a Markdown lesson's body


def short_repr(value: Any, limit: int = 50) -> str:
    """``repr`` of a value on one line, cut to ``limit`` characters."""
    text = repr(value).replace("\n", "\\n").replace("\r", "\\r")
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _where(path: Any, prefix: str = "") -> str:
    """``steps[3].state.model`` from a jsonschema path (after ``prefix``)."""
    out = prefix
    for p in path:
        out += f"[{p}]" if isinstance(p, int) else (f".{p}" if out else str(p))
    return out or "the lesson"


def _schema_problem(error: Any, prefix: str = "") -> str:
    """One line for a schema error: the field, its value and what is allowed."""
    where, schema = _where(error.absolute_path, prefix), error.schema
    if error.validator == "required":
        missing = next((k for k in error.validator_value if k not in error.instance), "?")
        return f"{where}: field {missing!r} is missing; allowed: {schema.get('description', '')}"
    if error.validator == "additionalProperties":
        extra = sorted(set(error.instance) - set(schema.get("properties", {})))
        return (
            f"{where}: unknown field {short_repr(extra[0]) if extra else '?'}; allowed: {schema.get('description', '')}"
        )
    return (
        f"{where} = {short_repr(error.instance)} is not allowed; allowed: {schema.get('description', error.validator)}"
    )


def knob_problems(view: str, knobs: Any, where: str = "state") -> list[str]:
    """Every problem of a view's knobs: unknown knobs, knobs of another view, values outside their schema.

    Args:
        view: One of :data:`VIEWS`.
        knobs: The mapping to check (a step's ``state``, or a link's parsed query).
        where: How the problems name the mapping.

    Returns:
        One line per problem; empty when the knobs are fine.

    Example:
        >>> for line in knob_problems("training", {"order": "random", "models": ["a"], "../x": 1}):
        ...     print(line)
        state.order is a knob of gates, not of training; allowed: models
        state: unknown knob '../x'; allowed: models
        >>> knob_problems("gates", {"order": "random"})
        ["state.order = 'random' is not allowed; allowed: index, activity, change, cluster"]
    """
    if not isinstance(knobs, dict):
        return [f"{where} = {short_repr(knobs)} is not a table of knobs"]
    allowed = VIEW_KNOBS.get(view, ())
    problems = []
    for name, value in knobs.items():
        if name not in KNOBS:
            problems.append(f"{where}: unknown knob {short_repr(name)}; allowed: {', '.join(allowed) or 'none'}")
        elif name not in allowed:
            owners = ", ".join(v for v, names in VIEW_KNOBS.items() if name in names)
            problems.append(f"{where}.{name} is a knob of {owners}, not of {view}; allowed: {', '.join(allowed)}")
        else:
            errors = strict_validator(KNOBS[name]).iter_errors(value)
            problems += [_schema_problem(e, f"{where}.{name}") for e in errors]
            if name == "span" and not problems and isinstance(value, list) and len(value) == 2 and value[0] > value[1]:
                problems.append(f"{where}.span = {value} runs backwards; allowed: [first, last] with first <= last")
    return problems


def _strings(obj: Any, path: str = ""):
    """Every string (keys included) of a parsed lesson, with where it is."""
    stack = [(obj, path)]
    while stack:
        node, here = stack.pop()
        if isinstance(node, str):
            yield here, node
        elif isinstance(node, dict):
            for k, v in node.items():
                yield here, str(k)
                stack.append((v, f"{here}.{k}" if here else str(k)))
        elif isinstance(node, list):
            stack.extend((v, f"{here}[{i}]") for i, v in enumerate(node))


def lesson_problems(obj: Any) -> list[str]:
    """Every problem of a parsed lesson: its schema, then each step's knobs, then control characters.

    Example:
        >>> lesson_problems({"schema": "lstmviz.lesson/1", "title": {"ru": "x", "en": "x"}, "steps": []})
        ['steps = [] is not allowed; allowed: 1-60 steps']
    """
    if nesting_depth(obj, MAX_DEPTH) > MAX_DEPTH:
        return [f"it nests deeper than {MAX_DEPTH} levels"]
    errors = sorted(strict_validator(LESSON_SCHEMA).iter_errors(obj), key=lambda e: list(map(str, e.absolute_path)))
    problems = [_schema_problem(e) for e in errors]
    for i, step in enumerate(obj.get("steps") or [] if isinstance(obj, dict) else []):
        if isinstance(step, dict) and step.get("view") in VIEWS and "state" in step:
            problems += knob_problems(step["view"], step["state"], f"steps[{i}].state")
    for where, text in _strings(obj):
        if _CONTROL.search(text):
            problems.append(f"{where or 'a key'} holds control characters; allowed: printable text, tabs, newlines")
    return problems


def _front_matter(text: str, where: str) -> tuple[str, str]:
    """The TOML front matter and the body of a Markdown lesson (``+++`` lines around the front matter)."""
    lines = text.lstrip("\ufeff").splitlines(keepends=True)
    if not lines or lines[0].strip() != "+++":
        raise LessonError(where, ["a Markdown lesson starts with a line '+++', its TOML front matter, and '+++'"])
    end = next((i for i, line in enumerate(lines[1:], 1) if line.strip() == "+++"), None)
    if end is None:
        raise LessonError(where, ["the front matter has no closing '+++' line"])
    return "".join(lines[1:end]), "".join(lines[end + 1 :])


def parse_lesson(text: str, where: str = "lesson.toml", markdown: bool = False) -> Lesson:
    """A checked lesson from the text of a file (:func:`load_lesson` reads the file).

    Args:
        text: TOML, or Markdown with TOML front matter when ``markdown``.
        where: The file's name, for the messages and the lesson's name (its stem).
        markdown: Whether ``text`` is Markdown with front matter.

    Raises:
        LessonError: listing every problem.

    Example:
        >>> try:
        ...     parse_lesson('schema = "lstmviz.lesson/1"\\ntitle = {ru = "x"}\\nsteps = []', "bad.toml")
        ... except LessonError as e:
        ...     print(e)
        bad.toml: 2 problems
          - steps = [] is not allowed; allowed: 1-60 steps
          - title: field 'en' is missing; allowed: {ru = ..., en = ...}, each at most 120 characters
    """
    notes = ""
    if markdown:
        text, notes = _front_matter(text, where)
        if len(notes) > MAX_NOTES:
            raise LessonError(where, [f"the notes hold {len(notes):,} characters; allowed: at most {MAX_NOTES:,}"])
    try:
        obj = tomllib.loads(text)
    except RecursionError:
        raise LessonError(where, ["it nests too deep to read"]) from None
    except tomllib.TOMLDecodeError as e:
        raise LessonError(where, [f"not valid TOML: {str(e)[:200]}"]) from None
    problems = lesson_problems(obj)
    if problems:
        raise LessonError(where, problems)
    steps = tuple(
        Step(
            view=s["view"],
            title=s["title"],
            text=s["text"],
            state=dict(s.get("state", {})),
            question=s.get("question"),
            answer=s.get("answer"),
            minutes=s.get("minutes"),
        )
        for s in obj["steps"]
    )
    return Lesson(
        name=Path(where).stem,
        title=obj["title"],
        steps=steps,
        summary=obj.get("summary"),
        minutes=obj.get("minutes"),
        before_class=obj.get("before_class"),
        notes=notes,
    )


def load_lesson(path: str | os.PathLike, inside: str | os.PathLike | None = None) -> Lesson:
    """Reads and checks a lesson file (``.toml``, or ``.md`` with TOML front matter).

    Args:
        path: The file.
        inside: The lessons folder a symlink must not leave.

    Raises:
        LessonError: naming the file and every problem (a missing, huge or non-regular file included).

    Example:
        >>> load_lesson("dashboard/lessons/intro45.toml").steps[0].view  # doctest: +SKIP
        'explain'
    """
    p = Path(path)
    if p.suffix not in (".toml", ".md"):
        raise LessonError(str(p), [f"a lesson is a .toml or .md file, not {short_repr(p.suffix or 'no suffix')}"])
    try:
        raw = read_bytes(p, MAX_LESSON_BYTES, inside)
    except UnsafeFileError as e:
        raise LessonError(str(p), [str(e)]) from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise LessonError(str(p), ["not UTF-8 text"]) from None
    return parse_lesson(text, str(p), markdown=p.suffix == ".md")


def lesson_files(folder: str | os.PathLike) -> list[Path]:
    """The lesson files of a folder (``*.toml``, ``*.md``; not its subfolders), sorted; none when it is missing.

    Example:
        >>> [p.name for p in lesson_files("dashboard/lessons")]  # doctest: +SKIP
        ['intro45.toml', 'vanishing10.toml']
    """
    root = Path(folder)
    if not root.is_dir():
        return []
    return sorted(p for p in root.iterdir() if p.suffix in (".toml", ".md") and not p.name.startswith("."))


def _parse_value(schema: dict[str, Any], raw: str) -> Any:
    """A knob's value from its text in a link (``1``, ``0.5``, ``true``, ``a,b``), typed by its schema."""
    kind = schema.get("type") or ("integer" if all(isinstance(v, int) for v in schema.get("enum", [""])) else None)
    if kind == "integer":
        return int(raw) if re.fullmatch(r"-?\d{1,6}", raw) else raw
    if kind == "number":
        return float(raw) if re.fullmatch(r"-?\d{1,4}(\.\d{1,6})?", raw) else raw
    if kind == "boolean":
        return {"1": True, "true": True, "0": False, "false": False}.get(raw.lower(), raw)
    if kind == "array":
        items = [v for v in raw.split(",") if v] if raw else []
        return [_parse_value(schema["items"], v) for v in items[:100]]
    return raw


def parse_knobs(view: str, params: dict[str, str]) -> tuple[dict[str, Any], list[str]]:
    """A view's knobs from a link's query (strings), typed and checked; what is refused is named, not used.

    Args:
        view: One of :data:`VIEWS`.
        params: The query parameters that are knobs (others are the caller's).

    Returns:
        (the valid knobs, one line per refused parameter).

    Example:
        >>> parse_knobs("gradients", {"filler": "50", "whh": "9", "models": "sentiment-rnn,sentiment-gru"})
        ({'filler': 50, 'models': ['sentiment-rnn', 'sentiment-gru']}, ['whh = 9.0 is not allowed; allowed: a W_hh scale 0.25-2'])
    """  # noqa: E501
    good, problems = {}, []
    for name, raw in params.items():
        value = _parse_value(KNOBS[name], raw) if name in KNOBS and isinstance(raw, str) else raw
        found = knob_problems(view, {name: value}, "")
        if found:
            problems += [p.lstrip(".").removeprefix(": ") for p in found]
        else:
            good[name] = value
    return good, problems


def format_state(knobs: dict[str, Any], limit: int = 120) -> str:
    """A step's knobs on one line (``model=cue-lstm, filler=150``), cut to ``limit`` characters.

    Example:
        >>> format_state({"model": "cue-lstm", "filler": 150, "untrained": True})
        'model=cue-lstm, filler=150, untrained=1'
    """
    text = ", ".join(f"{k}={format_knob(v)}" for k, v in knobs.items())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def format_knob(value: Any) -> str:
    """A knob's value as a link writes it (the inverse of the parsing in :func:`parse_knobs`).

    Example:
        >>> format_knob(True), format_knob(["a", "b"]), format_knob(0.5), format_knob(2.0)
        ('1', 'a,b', '0.5', '2')
    """
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, (list, tuple)):
        return ",".join(format_knob(v) for v in value)
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def _text(words: dict[str, str] | None, lang: str) -> str:
    """One language of a two-language text ("" when absent)."""
    return (words or {}).get(lang, "")


def _md(text: str) -> str:
    """Plain text made inert in a Markdown handout: the characters that open markup (emphasis, links, code, HTML
    tags, tables) escaped, and a line that would start a list or a heading escaped at its start."""
    text = re.sub(r"([\\`*_{}\[\]<>#|~$])", r"\\\1", text)
    return re.sub(r"(?m)^(\s*)([-+]|\d+\.)(?=\s)", lambda m: m[1] + "\\" + m[2], text)


_HANDOUT = {
    "ru": {"step": "Шаг", "question": "Вопрос", "answers": "Ответы", "min": "мин", "view": "вид"},
    "en": {"step": "Step", "question": "Question", "answers": "Answers", "min": "min", "view": "view"},
}


def handout(lesson: Lesson, lang: str = "ru", answers: bool = False) -> str:
    """A printable handout in Markdown: the lesson's title, each step's title, text and question; answers last.

    Every string from the lesson is escaped, so the handout shows it literally wherever it is rendered.

    Example:
        >>> lesson = Lesson("x", {"ru": "Урок", "en": "Lesson"}, (Step("gates", {"ru": "Гейты", "en": "Gates"},
        ...     {"ru": "Смотрим.", "en": "Look."}, question={"ru": "Что?", "en": "What?"},
        ...     answer={"ru": "Это.", "en": "This."}),))
        >>> print(handout(lesson, "en", answers=True))
        # Lesson
        <BLANKLINE>
        ## Step 1. Gates
        <BLANKLINE>
        Look.
        <BLANKLINE>
        **Question.** What?
        <BLANKLINE>
        ## Answers
        <BLANKLINE>
        1. This.
        <BLANKLINE>
    """
    if lang not in LANGS:
        raise ValueError(f"language {short_repr(lang)} is not one of {', '.join(LANGS)}")
    words = _HANDOUT[lang]
    out = [f"# {_md(_text(lesson.title, lang))}", ""]
    if lesson.summary:
        out += [_md(_text(lesson.summary, lang)), ""]
    for i, step in enumerate(lesson.steps, 1):
        minutes = f" ({step.minutes:g} {words['min']})" if step.minutes else ""
        out += [f"## {words['step']} {i}. {_md(_text(step.title, lang))}{minutes}", "", _md(_text(step.text, lang)), ""]
        if step.question:
            out += [f"**{words['question']}.** {_md(_text(step.question, lang))}", ""]
    if answers and any(s.answer for s in lesson.steps):
        out += [f"## {words['answers']}", ""]
        out += [f"{i}. {_md(_text(s.answer, lang))}" for i, s in enumerate(lesson.steps, 1) if s.answer]
        out.append("")
    return "\n".join(out)


def _step_table(step: Step) -> dict[str, Any]:
    """A step as the TOML table it is written as (fields in the schema's order, empty ones left out)."""
    out: dict[str, Any] = {"view": step.view, "title": step.title, "text": step.text}
    for name in ("question", "answer", "minutes"):
        if getattr(step, name) is not None:
            out[name] = getattr(step, name)
    if step.state:
        out["state"] = dict(step.state)
    return out


def dump_lesson(lesson: Lesson) -> str:
    """A lesson as TOML text that :func:`parse_lesson` reads back to an equal lesson (notes are not written).

    Example:
        >>> lesson = Lesson("mine", {"ru": "Мой", "en": "Mine"}, (Step("lab", {"ru": "Лаб", "en": "Lab"},
        ...     {"ru": "Пуск.", "en": "Go."}, {"preset": "separate"}),))
        >>> parse_lesson(dump_lesson(lesson), "mine.toml") == lesson
        True
    """
    import tomli_w

    obj: dict[str, Any] = {"schema": SCHEMA_ID, "title": lesson.title}
    for name in ("summary", "minutes", "before_class"):
        if getattr(lesson, name) is not None:
            obj[name] = getattr(lesson, name)
    obj["steps"] = [_step_table(s) for s in lesson.steps]
    return tomli_w.dumps(obj, multiline_strings=True)


def _checkpoint_problems(lesson: Lesson, root: Path) -> list[str]:
    """Model names of a lesson that are not checkpoint folders (with meta.json) under ``root``."""
    problems = []
    for i, step in enumerate(lesson.steps):
        names = [step.state[k] for k in ("model", "model_b") if k in step.state] + list(step.state.get("models", []))
        for name in names:
            if not (root / name / "meta.json").is_file():
                problems.append(f"steps[{i}].state: model {name!r} is not a checkpoint under {root}")
    return problems


def main(argv: list[str] | None = None) -> int:
    """``check`` lessons (exit 1 naming every problem) or write a ``handout``; see the module docstring.

    Example:
        >>> main(["check", "dashboard/lessons/intro45.toml"])  # doctest: +SKIP
        dashboard/lessons/intro45.toml: ok (12 steps, 45 minutes)
        0
    """
    parser = argparse.ArgumentParser(prog="python -m lstmviz.lessons", description="Check lessons, print handouts.")
    sub = parser.add_subparsers(dest="command", required=True)
    check = sub.add_parser("check", help="validate lesson files and name every problem")
    check.add_argument("files", nargs="+", type=Path)
    check.add_argument(
        "--checkpoints",
        type=Path,
        default=Path(os.environ.get("LSTMVIZ_CHECKPOINTS", Path(__file__).resolve().parents[1] / "checkpoints")),
        help="the checkpoint folder the model names must be in (default: $LSTMVIZ_CHECKPOINTS or checkpoints/)",
    )
    out = sub.add_parser("handout", help="write a lesson's printable handout (Markdown)")
    out.add_argument("file", type=Path)
    out.add_argument("--lang", choices=LANGS, default="ru")
    out.add_argument("--answers", action="store_true", help="append the answers")
    out.add_argument("-o", "--output", type=Path, help="write here instead of standard output")
    args = parser.parse_args(argv)
    if args.command == "handout":
        try:
            text = handout(load_lesson(args.file), args.lang, args.answers)
        except LessonError as e:
            print(e, file=sys.stderr)
            return 1
        if args.output:
            args.output.write_text(text, encoding="utf-8")
        else:
            print(text)
        return 0
    failed = 0
    for path in args.files:
        try:
            lesson = load_lesson(path)
            problems = _checkpoint_problems(lesson, args.checkpoints)
            if problems:
                raise LessonError(str(path), problems)
        except LessonError as e:
            failed += 1
            print(e)
            continue
        minutes = sum(s.minutes or 0 for s in lesson.steps)
        print(f"{path}: ok ({len(lesson.steps)} steps, {minutes:g} minutes)")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
