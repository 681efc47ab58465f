"""Issue 21, presentation mode and the Training view in a classroom.

Defect 4: presentation mode (``?present=1``) re-coloured the classes (its template brought another colour cycle),
its two-panel lab charts overlapped their titles at 1400 px, and the page's own text stayed 14 px beside 22 px
charts. Defect 9: the Training view hid the majority-class baseline, printed "None" in its table, coloured lines
by cell type (two GRU models looked the same) and put fractional epochs on the x axis.

Layout checks use the widths :func:`lstmviz.plots.presentation` sizes for (``PRESENTATION_WIDTH``) and its text
width estimate; a browser measured the result once (see the issue's report). AppTest runs use
``$LSTMVIZ_CHECKPOINTS``, else the shipped ``checkpoints/`` when it holds ``sentiment-{rnn,gru,lstm}``, else tiny
random checkpoints.
"""

from __future__ import annotations

import base64
import copy
import json
import math
import re
from pathlib import Path

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import pytest
from streamlit.testing.v1 import AppTest

from dashboard import state
from dashboard.i18n import RU
from lstmviz import plots, tidy

REPO = Path(__file__).resolve().parents[1]
APP = REPO / "dashboard" / "app.py"
TIMEOUT = 90
F = plots.PRESENTATION_FONT
RU_LABELS = {k: RU[f"plot.{k}"] for k in plots.DEFAULT_LABELS if f"plot.{k}" in RU}
RU_CLASSES = {c: RU[f"class.{c}"] for c in ("negative", "neutral", "positive", "mixed")}


def _array(value) -> list[float]:
    """A plotly JSON array (a list or a base64 typed array) as floats."""
    if isinstance(value, dict) and "bdata" in value:
        return np.frombuffer(base64.b64decode(value["bdata"]), dtype=np.dtype(value["dtype"])).tolist()
    return [float(v) for v in value]


def _figures(at: AppTest) -> list[dict]:
    return [json.loads(el.proto.spec) for el in at.get("plotly_chart")]


def _probability_frame(shown: dict[str, str]) -> pd.DataFrame:
    classes = list(RU_CLASSES)
    return pd.DataFrame(
        {"step": [s for s in range(3) for _ in classes], "label": [shown[c] for c in classes] * 3, "prob": 0.25}
    )


# ---- defect 4: one colour per class, in every language and mode ----------------------------------------------


def _drawn_colours(fig: go.Figure) -> dict[str, str]:
    """Trace name -> the colour it is drawn in: its own, else the template's colour cycle's (as plotly does)."""
    cycle = fig.layout.colorway or fig.layout.template.layout.colorway or ()
    return {tr.name: tr.line.color or cycle[i % len(cycle)] for i, tr in enumerate(fig.data)}


def test_each_class_has_one_colour_in_normal_and_presentation_figures():
    for shown in ({c: c for c in RU_CLASSES}, RU_CLASSES):  # canonical names and the Russian ones
        labels = {**RU_LABELS, **{f"class_{c}": name for c, name in RU_CLASSES.items()}}
        normal = plots.probability_lines(_probability_frame(shown), ["a", "b", "c"], labels=labels)
        shown_mode = plots.presentation(copy.deepcopy(normal))
        # the defect: presentation swapped the template, whose colour cycle coloured the classes
        assert _drawn_colours(shown_mode) == _drawn_colours(normal)
        assert shown_mode.layout.template == normal.layout.template
        assert shown_mode.layout.paper_bgcolor == "white" and shown_mode.layout.plot_bgcolor == "white"
        # one fixed mapping class -> colour, whatever the language
        assert _drawn_colours(normal) == {shown[c]: plots.CLASS_COLORS[c] for c in RU_CLASSES}
        assert all(tr.marker.color == tr.line.color for tr in normal.data)
    assert len(set(plots.CLASS_COLORS.values())) == len(plots.CLASS_COLORS)


def test_a_series_without_its_own_colour_keeps_the_colour_cycle_in_presentation():
    fig = go.Figure([go.Scatter(y=[1, 2]), go.Scatter(y=[2, 1])])
    before = fig.layout.template.layout.colorway
    assert plots.presentation(fig).layout.template.layout.colorway == before


def test_gates_view_draws_each_class_in_its_colour_in_both_modes(ckpt_root, monkeypatch):
    monkeypatch.setenv("LSTMVIZ_CHECKPOINTS", str(ckpt_root))
    seen = []
    for present in (False, True):
        at = AppTest.from_file(str(APP), default_timeout=TIMEOUT)
        at.session_state[state.PRESENT] = present
        at.run()
        assert not at.exception
        probs = next(f for f in _figures(at) if f["layout"].get("yaxis", {}).get("range") == [0, 1])
        colours = {tr["name"]: tr.get("line", {}).get("color") for tr in probs["data"]}
        assert colours and None not in colours.values(), colours  # a fixed colour, not the theme's cycle
        seen.append(colours)
    assert seen[0] == seen[1]
    by_name = {RU_CLASSES[c]: plots.CLASS_COLORS[c] for c in RU_CLASSES}
    assert all(seen[0][name] == by_name[name] for name in seen[0] if name in by_name), seen[0]


# ---- defect 4: presentation layout ------------------------------------------------------------------------------


CHART_PX = 900  # px: a chart's width in a 1400 px window with the sidebar open (measured: 940)


def _plot_width(fig: go.Figure) -> float:
    return CHART_PX - fig.layout.margin.l - fig.layout.margin.r


def _text_px(text: str) -> float:
    """Estimated width of the longest line of a plotly text at F px (the estimate presentation() uses)."""
    return max(len(line) for line in str(text).split("<br>")) * 0.5 * F


def _lab_figures() -> list[go.Figure]:
    live = pd.DataFrame(
        {
            "model": ["rnn"] * 4 + ["lstm"] * 4,
            "updates": [0, 50, 50, 50] * 2,
            "split": ["held_out", "train", "held_out", "held_out"] * 2,
            "metric": ["grad_ratio", "acc", "acc", "grad_ratio"] * 2,
            "value": [1e-3, 0.3, 0.25, 1e-30, 1e-2, 0.5, 0.4, 1e-5],
        }
    )
    summary = pd.DataFrame(
        {
            "cell": ["rnn", "rnn", "lstm", "lstm"],
            "lag": [10, 200, 10, 200],
            "success_rate": [1.0, 0.0, 1.0, 0.7],
            "lo": [0.7, 0.0, 0.7, 0.4],
            "hi": [1.0, 0.3, 1.0, 0.9],
            "solved": [5, 0, 5, 3],
            "n": [5] * 4,
            "final_mean": [0.99, 0.25, 0.99, 0.8],
        }
    )
    runs = pd.DataFrame({"cell": ["rnn", "lstm"], "lag": [10, 10], "seed": [0, 0], "final": [0.99, 0.99]})
    return [
        plots.lab_curves(live, chance=0.25, threshold=0.95, labels=RU_LABELS),
        plots.success_vs_lag(summary, runs, chance=0.25, threshold=0.95, labels=RU_LABELS),
    ]


@pytest.mark.parametrize("index", [0, 1], ids=["lab_curves", "success_vs_lag"])
def test_presentation_lab_figures_keep_titles_apart(index):
    fig = plots.presentation(_lab_figures()[index])
    lay, width = fig.layout, _plot_width(fig)
    x1, x2 = lay.xaxis.domain, lay.xaxis2.domain
    # The second panel's y axis (tick labels like 10⁻³⁰⁰, ~6 characters, then its title) lies in the gap: the
    # gap must hold both, else the title is drawn over the first panel (it was 0.1 of ~830 px = 83 px).
    gap = (x2[0] - x1[1]) * width
    assert gap >= 6 * 0.6 * F + 1.3 * F + 20, gap
    assert lay.yaxis2.automargin and lay.xaxis.automargin
    # Each x axis title fits under its own panel, so the two never run into each other.
    for ax in (lay.xaxis, lay.xaxis2):
        assert _text_px(ax.title.text) <= (ax.domain[1] - ax.domain[0]) * width + 1, ax.title.text
    # Subplot titles sit above the plot area, inside the top margin (a 20 px margin cut 22 px text off).
    titles = [a for a in lay.annotations if a.yref == "paper" and a.y is not None and a.y >= 1]
    assert len(titles) == 2
    for note in titles:
        lines = note.text.count("<br>") + 1
        assert lay.margin.t >= lines * 1.3 * F, (lay.margin.t, note.text)
        column = next(ax.domain for ax in (lay.xaxis, lay.xaxis2) if ax.domain[0] <= note.x <= ax.domain[1])
        assert abs(note.x - sum(column) / 2) < 1e-6  # still centred over its (moved) panel
        assert _text_px(note.text) <= (column[1] - column[0]) * width + 1, note.text
    # The y axis titles fit the plot's height.
    plot_h = lay.height - lay.margin.t - lay.margin.b
    assert all(_text_px(ax.title.text) <= plot_h for ax in (lay.yaxis, lay.yaxis2))


def test_presentation_keeps_a_single_panel_and_its_data():
    fig = plots.probability_lines(_probability_frame({c: c for c in RU_CLASSES}), ["a", "b", "c"])
    data_before = copy.deepcopy(fig.data)
    plots.presentation(fig)
    assert fig.layout.xaxis.domain is None and [list(tr.x) for tr in fig.data] == [list(tr.x) for tr in data_before]
    assert fig.layout.font.size == F


# ---- defect 4: the page's own text --------------------------------------------------------------------------------


def _style_app(present: bool) -> None:
    import streamlit as st

    from dashboard import components as ui
    from dashboard import state as s

    st.session_state[s.PRESENT] = present
    ui.presentation_style()
    st.caption("caption")


def _font_sizes(css: str) -> dict[str, float]:
    """Selector -> font-size px (or zoom x 14 px for the canvas-drawn dataframe) of a stylesheet."""
    sizes: dict[str, float] = {}
    for selectors, body in re.findall(r"([^{}]+)\{([^}]*)\}", css):
        size = re.search(r"font-size:\s*(\d+(?:\.\d+)?)px", body)
        zoom = re.search(r"zoom:\s*(\d+(?:\.\d+)?)", body)
        for sel in selectors.replace("<style>", "").split(","):
            if size:
                sizes[sel.strip()] = float(size.group(1))
            elif zoom:
                sizes[sel.strip()] = 14 * float(zoom.group(1))
    return sizes


def test_presentation_stylesheet_grows_captions_tables_and_labels_only_when_presenting():
    shown = AppTest.from_function(_style_app, args=(True,)).run()
    assert not shown.exception
    css = [el.proto.body for el in shown.get("html")]
    assert len(css) == 1 and css[0].startswith("<style>") and css[0].endswith("</style>")
    sizes = _font_sizes(css[0])
    for part in ("stCaptionContainer", "stWidgetLabel", "stTable", "stDataFrame", "stMarkdownContainer"):
        found = [px for sel, px in sizes.items() if part in sel]
        assert found and min(found) >= 20, (part, found)
    assert "{" not in css[0].replace("<style>", "").split("</style>")[0].split("}")[-1]  # nothing after the rules
    plain = AppTest.from_function(_style_app, args=(False,)).run()
    assert not plain.exception and not plain.get("html")


def test_the_app_emits_the_stylesheet_only_in_presentation_mode(ckpt_root, monkeypatch):
    if "presentation_style" not in APP.read_text(encoding="utf-8"):
        pytest.skip("dashboard/app.py does not call components.presentation_style() yet")
    monkeypatch.setenv("LSTMVIZ_CHECKPOINTS", str(ckpt_root))
    for present in (False, True):
        at = AppTest.from_file(str(APP), default_timeout=TIMEOUT)
        at.session_state[state.PRESENT] = present
        at.run()
        assert not at.exception
        assert len([el for el in at.get("html") if "font-size" in el.proto.body]) == int(present)


# ---- defect 9: the Training view ----------------------------------------------------------------------------------


def _hist() -> pd.DataFrame:
    rows = []
    for model in ("sentiment-gru", "cue-gru", "sentiment-lstm"):
        for epoch in (1, 2, 3):
            for split, metric in (("train", "loss"), ("val", "loss"), ("val", "acc"), ("val", "f1")):
                rows.append({"model": model, "epoch": epoch, "split": split, "metric": metric, "value": 0.5})
    return pd.DataFrame(rows)


def test_training_curves_colour_each_model_and_count_whole_epochs():
    fig = plots.training_curves(_hist())
    colours: dict[str, set[str]] = {}
    for tr in fig.data:
        colours.setdefault(tr.legendgroup, set()).add(tr.line.color)
        assert tr.marker.color in (None, tr.line.color)
    assert all(len(c) == 1 for c in colours.values()), colours  # one colour per model in every subplot
    assert len({next(iter(c)) for c in colours.values()}) == 3  # two GRU models no longer share green
    for ax in fig.select_xaxes():  # 1, 2, 3: never 1.5
        assert ax.dtick == 1 and ax.tickformat == "d" and ax.tick0 == 0


def test_training_curves_draw_reference_levels_on_their_panel():
    fig = plots.training_curves(_hist(), baselines=[("acc", "majority class", 0.5134), ("acc", "chance", 0.25)])
    levels = {tr.name: (tr.xaxis, list(tr.y)) for tr in fig.data if tr.legendgroup.startswith("level")}
    assert levels == {"majority class": ("x2", [0.5134] * 2), "chance": ("x2", [0.25] * 2)}  # the accuracy panel
    assert len({tr.line.dash for tr in fig.data if tr.legendgroup.startswith("level")}) == 2
    assert plots.integer_ticks(14)["dtick"] == 5 and plots.integer_ticks(61)["dtick"] == 20


def test_test_metrics_flatten_majority_and_tagger_scores():
    sentiment = {"accuracy": 0.56, "n": 596, "per_class_f1": {"a": 1.0}, "confusion": [[1]], "chance_accuracy": 0.25,
                 "majority_baseline": {"accuracy": 0.5134, "macro_f1": 0.1696, "label": "neutral"}}  # fmt: skip
    assert list(tidy.flat_test_metrics(sentiment)) == [
        "accuracy",
        "n",
        "chance_accuracy",
        "majority_accuracy",
        "majority_macro_f1",
    ]
    tagger = {"pos": {"accuracy": 0.95, "macro_f1": 0.94, "per_tag": {}}, "ner": {"macro_f1": 0.7},
              "baseline": {"pos": {"accuracy": 0.86}, "ner": {"macro_f1": 0.5}}}  # fmt: skip
    assert tidy.flat_test_metrics(tagger) == {
        "pos_accuracy": 0.95,
        "pos_macro_f1": 0.94,
        "ner_macro_f1": 0.7,
        "baseline_pos_accuracy": 0.86,
        "baseline_ner_macro_f1": 0.5,
    }
    assert tidy.flat_test_metrics({"bpc": float("nan"), "ok": True}) == {}


def _training(ckpt_root: Path, monkeypatch, everything: bool) -> AppTest:
    monkeypatch.setenv("LSTMVIZ_CHECKPOINTS", str(ckpt_root))
    at = AppTest.from_file(str(APP), default_timeout=TIMEOUT).run()
    at.switch_page("views/training.py").run()
    if everything:
        at.multiselect(key=state.TRAIN_MODELS).set_value(at.multiselect(key=state.TRAIN_MODELS).options).run()
    assert not at.exception and not at.error
    return at


def test_training_table_shows_no_none_and_the_majority_baseline_beside_chance(ckpt_root, monkeypatch):
    at = _training(ckpt_root, monkeypatch, everything=True)
    assert at.dataframe
    for el in at.dataframe:
        df = el.value
        assert not df.isna().any().any(), df
        assert not df.astype(str).isin(["None", "nan", "NaN", "<NA>"]).any().any(), df
    metas = [json.loads(p.read_text()) for p in sorted(ckpt_root.glob("*/meta.json"))]
    majority = [m["test_metrics"]["majority_baseline"] for m in metas if "majority_baseline" in m["test_metrics"]]
    if not majority:
        pytest.skip("these checkpoints store no majority-class baseline")
    column = RU["metric.majority_accuracy"]
    tables = [el.value for el in at.dataframe if column in el.value.columns]
    assert tables
    shown = {round(float(v), 4) for df in tables for v in df[column] if v != "—"}
    assert shown <= {round(m["accuracy"], 4) for m in majority} and shown
    for df in tables:  # beside chance
        cols = list(df.columns)
        assert cols.index(column) == cols.index(RU["metric.chance_accuracy"]) + 1


def test_training_curves_of_the_view(ckpt_root, monkeypatch):
    at = _training(ckpt_root, monkeypatch, everything=True)
    curves = _figures(at)[0]
    colours: dict[str, set[str]] = {}
    for tr in curves["data"]:
        if not tr["legendgroup"].startswith("level"):
            colours.setdefault(tr["legendgroup"], set()).add(tr["line"]["color"])
    assert all(len(c) == 1 for c in colours.values()), colours
    assert len({next(iter(c)) for c in colours.values()}) == len(colours)  # every model its own colour
    for name, ax in curves["layout"].items():
        if name.startswith("xaxis"):
            assert ax["tickformat"] == "d" and ax["dtick"] >= 1 and float(ax["dtick"]).is_integer(), ax
    # default selection (the sentiment models, one data set): chance and the majority class drawn and named
    at = _training(ckpt_root, monkeypatch, everything=False)
    curves = _figures(at)[0]
    levels = {tr["name"]: tr["y"] for tr in curves["data"] if tr["legendgroup"].startswith("level")}
    metas = [json.loads(p.read_text()) for p in sorted(ckpt_root.glob("sentiment-*/meta.json"))]
    if any("majority_baseline" in m["test_metrics"] for m in metas):
        assert set(levels) == {RU["plot.chance"], RU["plot.majority"]}
        majority = metas[0]["test_metrics"]["majority_baseline"]["accuracy"]
        ys = [y for tr in curves["data"] if tr["name"] == RU["plot.majority"] for y in _array(tr["y"])]
        assert any(math.isclose(y, majority, abs_tol=1e-3) for y in ys), ys
