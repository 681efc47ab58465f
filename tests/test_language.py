"""Every view in one language shows no word of the other (issue 11, part 1).

AppTest renders each view in Russian and in English, also after switching language inside one
session (where stale labels used to survive), and collects every visible string: Markdown, captions,
headers, alerts, widget labels and options, metrics, tabs, expanders, table headers and text cells,
and every figure's titles, axis titles, legend names, annotations and hover templates. In Russian no
Latin word of 3+ letters may appear, in English no Cyrillic word, except an allow-list of technical
names (cells, file formats, float64, Pascanu, ...), names from files (checkpoint folders, cue-recall
tokens) and the words the user typed or picked (the text, presets, their lemmas).
"""

from __future__ import annotations

import json
import re

import pytest
from streamlit.testing.v1 import AppTest
from test_dashboard import APP

VIEWS = ("gates", "gradients", "compare", "generate", "tagger", "corpus", "training", "lab", "explain")
LATIN = re.compile(r"[A-Za-z]{3,}")
CYRILLIC = re.compile(r"[А-Яа-яЁё]{2,}")
# Technical names kept as they are in both languages (lower case).
ALLOWED_LATIN = {
    "rnn",
    "gru",
    "lstm",
    "bow",
    "cue",
    "recall",
    "float64",
    "float32",
    "pascanu",
    "max",
    "tanh",
    "log10",
    "png",
    "svg",
    "csv",
    "mse",
    "english",
    "json",
    "meta",
    "safetensors",
    "adam",
    "adamw",
    "float",
    "log",
    "diag",
    "pytorch",
    "lstmvis",
    "jozefowicz",
    "bengio",
    "gers",
    "karpathy",
    "hochreiter",
    "schmidhuber",  # names of people and tools
    "france",
    "spain",
    "germany",
    "italy",
    "french",
    "spanish",
    "german",
    "italian",  # the cue-recall vocabulary
}
# Checkpoint folders, cue-recall distractors and meta.json's init_fingerprint key, which the "initial weights
# unknown" caption names wherever the weights rebuilt from init_seed differ: torch.randn's bits depend on the CPU,
# so the shipped character models' start is not rebuilt with ATEN_CPU_CAPABILITY=default or a CPU without AVX2.
NAME = re.compile(
    r"\b(?:sentiment|cue|adding|charlm|tagger)-[\w-]+|\bw\d+\b"
    r"|\binit[\s\\]?_(?:fingerprint|seed)\b"
)
# plotly placeholders, HTML tags, `code`, Markdown escapes, Streamlit's colour directives (:blue-background[...])
MARKUP = re.compile(r"%\{[^}]*\}|<[^>]*>|`[^`]*`|\\|:[a-z]+(?:-(?:background|badge))?(?=\[)")
SKIP_FIG_KEYS = {
    "template",
    "side",
    "texttemplate",
    "ticktext",
    "customdata",
    "bdata",
    "dtype",
    "type",
    "mode",
    "fillcolor",
    "symbol",
    "dash",
    "color",
    "colorscale",
    "xanchor",
    "yanchor",
    "xref",
    "yref",
    "family",
    "ticklabeloverflow",
    "autorange",
    "exponentformat",
    "tickformat",
    "hoverinfo",
    "shape",
    "ticks",
    "tickmode",
    "visible",
    "matches",
    "categoryorder",
}  # plotly settings, not text


def _figure_strings(spec: dict) -> list[str]:
    out = []

    def walk(node, key=""):
        if isinstance(node, dict):
            for k, v in node.items():
                if k in SKIP_FIG_KEYS or k in ("x", "y", "z", "legendgroup", "uid"):
                    continue
                if k == "text" and isinstance(v, list):  # the cells of a coloured-text strip: the user's tokens
                    continue
                walk(v, k)
        elif isinstance(node, list):
            for v in node:
                walk(v, key)
        elif isinstance(node, str):
            out.append(node)

    walk(spec)
    return out


def _strings(at: AppTest) -> list[tuple[str, str]]:
    out = []
    for kind in ("markdown", "caption", "header", "subheader", "title", "info", "warning", "error", "success"):
        out += [(kind, e.value) for e in at.get(kind)]
    for w in [*at.radio, *at.selectbox, *at.multiselect]:
        out += [("label", w.label)] + [("option", str(o)) for o in w.options]
    for w in [*at.button, *at.toggle, *at.slider, *at.number_input, *at.text_area, *at.checkbox]:
        out.append(("label", w.label))
    out += [("metric", m.label) for m in at.metric] + [("metric", str(m.value)) for m in at.metric]
    out += [("tab", t.label) for t in at.tabs] + [("expander", e.label) for e in at.expander]
    for d in at.dataframe:
        df = d.value
        out += [("column", str(c)) for c in df.columns]
        for c in df.columns:
            if df[c].dtype == object:
                out += [("cell", str(v)) for v in df[c].head(30)]
    for f in at.get("plotly_chart"):
        out += [("figure", s) for s in _figure_strings(json.loads(f.proto.spec))]
    return out


def _typed(at: AppTest) -> set[str]:
    """Words the user typed or picked: the text areas, the preset options and the token table's cells."""
    words = set()
    for w in [*at.text_area, *at.text_input, *at.selectbox]:
        for s in [str(getattr(w, "value", "") or "")] + ([str(o) for o in w.options] if hasattr(w, "options") else []):
            words |= {m.lower() for m in re.findall(r"\w+", s)}
    for d in at.dataframe:
        for c in d.value.columns:
            if d.value[c].dtype == object:
                words |= {m.lower() for v in d.value[c] for m in re.findall(r"\w+", str(v))}
    return words


def _foreign(at: AppTest, lang: str) -> list[tuple[str, str]]:
    typed = _typed(at)
    bad = []
    for where, s in _strings(at):
        clean = NAME.sub(" ", MARKUP.sub(" ", s))
        words = LATIN.findall(clean) if lang == "ru" else CYRILLIC.findall(clean)
        words = [w for w in words if w.lower() not in ALLOWED_LATIN and w.lower() not in typed and w != "Русский"]
        if words:
            bad.append((where, f"{words[:3]} in {s[:100]!r}"))
    return sorted(set(bad))


@pytest.fixture
def at(ckpt_root, monkeypatch):  # noqa: F811
    monkeypatch.setenv("LSTMVIZ_CHECKPOINTS", str(ckpt_root))
    return AppTest.from_file(str(APP), default_timeout=120).run()


@pytest.mark.parametrize("order", [("ru",), ("en",), ("ru", "en", "ru")], ids=["ru", "en", "ru-en-ru"])
def test_every_view_speaks_one_language(at, order):
    problems = []
    for lang in order:
        at.sidebar.radio[0].set_value(lang).run()
        for view in VIEWS:
            at.switch_page(f"views/{view}.py").run()
            assert not at.exception, (lang, view, at.exception)
            problems += [(lang, view, *p) for p in _foreign(at, lang)]
    assert not problems, "\n".join(map(str, problems[:40]))
