"""Issue 21, defect 10: the Generation view in a classroom.

Every character of the heatmap axis is labelled (a window of a long text) and, by default, only the units that vary
most are drawn; the top-5 table is headed by the characters read; the CSVs carry the characters (the heatmap frame a
``char`` column, the connectivity labelled rows and columns); the interpretable-unit picker opens on the strongest
feature and warns under |r| < 0.5; the typed + generated text is coloured by any unit.

Pure helpers are tested on hand-made inputs; one AppTest drives the page with the shipped character models.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from lstmviz import plots

REPO = Path(__file__).resolve().parents[1]
CHECKPOINTS = REPO / "checkpoints"
PREFIX = "Мне очень "  # the page's default prefix
WEAK = 0.5  # |r| under which the page warns
TOP_UNITS = 24  # heatmap rows by default (state.GEN_TOP_UNITS)
WINDOW = 100  # characters of the heatmap window of a long text (state.GEN_HEATMAP_CHARS)
# The new widgets' session-state keys (the names of their constants in dashboard/state.py, lower case)
KEYS = {"all_units": "gen_all_units", "window": "gen_window", "unit_layer": "gen_unit_layer", "unit": "gen_unit"}


def char_labels(text: str) -> list[str]:
    """The page's character labels, written out here: a blank is ``␣``."""
    return [c if c.strip() else "␣" for c in text]


# ----- plots: every character labelled, a subset of rows, a window ------------------------------------------------
def _frame(steps: int, units: int) -> pd.DataFrame:
    s, u = np.meshgrid(np.arange(steps), np.arange(units), indexing="ij")
    return pd.DataFrame({"step": s.ravel(), "unit": u.ravel(), "value": np.linspace(0, 1, steps * units)})


def test_gate_heatmap_labels_every_character_of_a_90_character_text():
    text = "Мне очень нравится этот фильм, хотя конец и затянут; актёры играют прекрасно, музыка тоже!"
    chars = [c if c.strip() else "␣" for c in text]
    fig = plots.gate_heatmap(_frame(len(text), 3), chars, "forget", all_ticks=True)
    ax = fig.layout.xaxis
    assert list(ax.tickvals) == list(range(len(text))) and list(ax.ticktext) == chars  # none skipped
    assert ax.tickangle == 0 and ax.tickfont.size == plots.char_tick_size(len(text)) == 11
    thinned = plots.gate_heatmap(_frame(len(text), 3), chars, "forget").layout.xaxis  # other views: as before
    assert len(thinned.tickvals) <= plots.MAX_TOKEN_TICKS


def test_gate_heatmap_draws_a_subset_of_units_in_readable_rows_and_a_window_counted_from_its_first_step():
    fig = plots.gate_heatmap(_frame(4, 30), list("абвг"), "hidden", order=[7, 2, 29], all_ticks=True, first_step=50)
    d = fig.data[0]
    assert list(d.y) == ["7", "2", "29"] and np.asarray(d.z).shape == (3, 4)
    np.testing.assert_allclose(np.asarray(d.z)[1], _frame(4, 30).query("unit == 2")["value"])
    assert list(d.x) == [50, 51, 52, 53] and list(fig.layout.xaxis.tickvals) == [50, 51, 52, 53]
    assert d.customdata[0][0].startswith("#50 ")  # the hover names the step in the whole text
    assert plots.gate_heatmap(_frame(4, 24), list("абвг"), "hidden").layout.height == 60 + 16 * 24
    assert plots.gate_heatmap(_frame(4, 64), list("абвг"), "hidden").layout.height == 60 + 8 * 64  # as before
    with pytest.raises(ValueError, match="distinct units"):
        plots.gate_heatmap(_frame(4, 3), list("абвг"), "hidden", order=[0, 0])


def test_connectivity_heatmap_labels_every_character_on_both_axes():
    chars = list("абвгдеёжзийклмнопрстуфхцчшщъыьэюя") * 2  # 66 > MAX_TOKEN_TICKS
    fig = plots.connectivity_heatmap(np.tril(np.ones((66, 66))), chars, all_ticks=True)
    assert list(fig.layout.xaxis.ticktext) == chars and list(fig.layout.yaxis.ticktext) == chars
    assert list(fig.layout.yaxis.tickvals) == list(range(66))


# ----- tables with characters -----------------------------------------------------------------------------------
def test_top5_table_is_headed_by_position_and_character():
    from lstmviz.charlm import top5_table

    top5 = [{"step": s, "rank": r, "char": c, "p": 0.1} for s in range(3) for r, c in enumerate("ая ", 1)]
    table = top5_table(top5, "ы б")
    assert list(table.columns) == ["rank", "0: ы", "1: ␣", "2: б"]
    assert table["rank"].tolist() == [1, 2, 3] and table["1: ␣"].tolist() == ["а", "я", "␣"]
    with pytest.raises(ValueError, match="steps up to 2; the text has 2 characters"):
        top5_table(top5, "ab")


def test_frame_and_connectivity_csvs_carry_the_characters():
    from lstmviz.charlm import connectivity_frame, with_chars

    frame = with_chars(_frame(3, 2), "a b")
    assert list(frame.columns) == ["step", "char", "unit", "value"] and frame["char"].tolist() == list("aa  bb")
    with pytest.raises(ValueError, match="allowed: 0..1"):
        with_chars(_frame(3, 2), "ab")
    conn = connectivity_frame(np.array([[1.0, 0, 0], [2, 3, 0], [4, 5, 6]]), "я б")
    assert list(conn.columns) == ["t", "char", "s0: я", "s1: ␣", "s2: б"]
    assert conn["char"].tolist() == ["я", " ", "б"] and conn["s1: ␣"].tolist() == [0.0, 3.0, 5.0]


def test_most_varied_units_rank_by_spread_over_the_text():
    from lstmviz.charlm import most_varied_units

    f = pd.DataFrame({"step": [0, 1, 2] * 4, "unit": np.repeat([0, 1, 2, 3], 3)})
    f["value"] = [0.9, 0.9, 0.9, -1, 1, -1, 0, 0.5, 0, 0.2, 0.2, 0.2]  # 1 flips, 2 moves, 0 and 3 stay put
    assert most_varied_units(f, 2) == [1, 2] and most_varied_units(f, 10) == [1, 2, 0, 3]


def test_the_strongest_feature_comes_first_and_a_weak_one_is_flagged():
    from dashboard.cell_sections import WEAK_R, is_weak, strongest_first

    cells = pd.DataFrame(
        {
            "feature": ["in_quotes", "vowel", "digit", "in_parens", "capital"],
            "rank": [1, 1, 1, None, 2],
            "r": [0.31, -0.82, 0.5, None, 0.9],  # a constant feature has no rank; a rank-2 unit is no best unit
        }
    )
    assert strongest_first(cells) == ["vowel", "digit", "in_quotes"]
    assert WEAK_R == 0.5 and is_weak(0.31) and is_weak(-0.49) and not is_weak(0.5) and not is_weak(-0.82)


def test_the_new_keys_and_sizes_are_named_in_state():
    from dashboard import state

    assert {k: getattr(state, f"GEN_{k.upper()}") for k in KEYS} == KEYS
    assert (state.GEN_TOP_UNITS, state.GEN_HEATMAP_CHARS) == (TOP_UNITS, WINDOW)


# ----- the page with the shipped character models ---------------------------------------------------------------
@pytest.mark.skipif(
    not all((CHECKPOINTS / f"charlm-{c}" / "meta.json").is_file() for c in ("rnn", "gru", "lstm")),
    reason="the shipped character models are absent",
)
def test_generation_view_in_class(monkeypatch):
    """One AppTest: character axis, top-N rows, top-5 headers, CSV columns, strongest-first picker with its
    warning, the page's own text coloured by a typed unit, and the window of a long text."""
    from fixtures.sections import open_section
    from streamlit.testing.v1 import AppTest
    from test_dashboard import APP, SHOWN, _array, _figures

    import lstmviz
    from dashboard import components, state
    from dashboard.i18n import t
    from lstmviz.cellfinder import FEATURES
    from lstmviz.charlm import encode_chars, generate
    from lstmviz.checkpoint import load_checkpoint

    shown_data: dict[str, pd.DataFrame] = {}
    original = components.show_figure

    def recording_show_figure(fig, data, name, key):  # the CSV is built from ``data`` only when clicked
        shown_data[name] = data
        original(fig, data, name, key)

    monkeypatch.setattr(components, "show_figure", recording_show_figure)
    monkeypatch.setenv("LSTMVIZ_CHECKPOINTS", str(CHECKPOINTS))
    at = AppTest.from_file(str(APP), default_timeout=300).run()
    at.switch_page("views/generate.py").run()
    assert not at.exception and not at.error
    path = at.selectbox(key=state.GEN_MODEL).value
    model, meta = load_checkpoint(path)
    text = PREFIX + generate(model, meta["chars"], PREFIX, length=80, temperature=0.8, top_k=5, seed=0)
    units = model.config.hidden_size
    assert units > TOP_UNITS  # the shipped models: 128 units

    # The heatmap: every one of the 90 characters labelled, the 24 most varied units.
    heat = next(f for f in _figures(at) if f["data"][0]["type"] == "heatmap" and f["data"][0].get("y"))
    assert heat["layout"]["xaxis"]["tickvals"] == list(range(len(text)))
    assert heat["layout"]["xaxis"]["ticktext"] == [plots.esc(c) for c in char_labels(text)]
    assert len(heat["data"][0]["y"]) == TOP_UNITS
    at.toggle(key=KEYS["all_units"]).set_value(True).run()
    heat = next(f for f in _figures(at) if f["data"][0]["type"] == "heatmap" and f["data"][0].get("y"))
    assert len(heat["data"][0]["y"]) == units

    # The top-5 table: headed by position and character.
    top5 = next(d.value for d in at.dataframe if "место" in d.value.columns)
    assert list(top5.columns)[1:] == [f"{i}: {c}" for i, c in enumerate(char_labels(text))]

    # CSVs: the frame with its characters, the connectivity labelled both ways.
    frame = next(v for k, v in shown_data.items() if k.startswith("gen_") and "step" in v.columns)
    assert "".join(frame.drop_duplicates("step").sort_values("step")["char"]) == text
    conn = shown_data["connectivity_charlm-gru"]
    shown = text[: state.GEN_CONNECTIVITY_CHARS]
    assert conn["char"].tolist() == list(shown) and list(conn.columns[2:]) == [
        f"s{i}: {c}" for i, c in enumerate(char_labels(shown))
    ]

    # Interpretable units (their own section tab): the picker opens on the strongest; the weakest warns under 0.5.
    open_section(at, "gen_section", "cells").run()
    assert not at.exception
    table = next(d.value for d in at.dataframe if "признак" in d.value.columns)
    picker = next(s for s in at.selectbox if s.key.startswith(state.CELL_FEATURE))
    strongest = table.loc[table["r"].abs().idxmax()]
    feature = {t(f"feature.{f}", lang="ru"): f for f in FEATURES}  # the table's names -> the picker's values
    assert picker.value == feature[strongest["признак"]]
    assert not any("|r|" in w.value for w in at.warning) == (abs(strongest["r"]) >= WEAK)
    weakest = table.loc[table["r"].abs().idxmin()]
    picker.set_value(feature[weakest["признак"]]).run()
    assert any("|r|" in w.value for w in at.warning) == (abs(weakest["r"]) < WEAK)
    # Picking a feature puts its best unit into the inputs of the page's own text.
    assert at.radio(key=KEYS["unit_layer"]).value == int(weakest["слой"])
    assert at.number_input(key=KEYS["unit"]).value == int(weakest["нейрон"])

    # The page's own text coloured by any unit: layer 1, unit 7, the recording's hidden state h (a GRU).
    at.radio(key=KEYS["unit_layer"]).set_value(1).run()
    at.number_input(key=KEYS["unit"]).set_value(7).run()
    assert not at.exception
    fig = next(f for f in _figures(at) if f["layout"].get("title", {}).get("text", "").endswith("слой 1, нейрон 7"))
    z = _array(fig["data"][0]["z"]).ravel()[: len(text)]
    with torch.no_grad(), lstmviz.record(model) as rec:
        model(encode_chars(text, meta["chars"]).unsqueeze(0))
    np.testing.assert_allclose(z, rec["rnn.l1.hidden"][0, :, 7].numpy(), **SHOWN)

    # A long text: a window of GEN_HEATMAP_CHARS characters, every one labelled, counted in the whole text.
    at.text_input(key=state.GEN_PREFIX).set_value("Я " * 60).run()
    at.slider(key=KEYS["window"]).set_value(30).run()
    assert not at.exception
    long_text = "Я " * 60 + generate(model, meta["chars"], "Я " * 60, length=80, temperature=0.8, top_k=5, seed=0)
    heat = next(f for f in _figures(at) if f["data"][0]["type"] == "heatmap" and f["data"][0].get("y"))
    width = WINDOW
    assert heat["layout"]["xaxis"]["tickvals"] == list(range(30, 30 + width))
    assert heat["layout"]["xaxis"]["ticktext"] == [plots.esc(c) for c in char_labels(long_text[30 : 30 + width])]
