"""Tests for lstmviz.plots: figures build with the expected traces; user text is escaped."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import pytest

from lstmviz import plots

EVIL = "<b>x</b>"
EVIL_ESCAPED = "&lt;b&gt;x&lt;/b&gt;"


def _act_frame(T=3, U=2, seed=0):
    rng = np.random.default_rng(seed)
    steps, units = np.meshgrid(np.arange(T), np.arange(U), indexing="ij")
    return pd.DataFrame({"step": steps.ravel(), "unit": units.ravel(), "value": rng.uniform(size=T * U)})


def _strings(obj):
    """Yields every string inside a nested figure dict (lists, tuples, object arrays)."""
    if isinstance(obj, str):
        yield obj
    elif isinstance(obj, dict):
        for v in obj.values():
            yield from _strings(v)
    elif isinstance(obj, (list, tuple, np.ndarray)):
        for v in obj:
            yield from _strings(v)


def _all_text(fig: go.Figure) -> str:
    """Every string a figure carries (layout and traces), joined (the template excluded)."""
    d = fig.to_dict()
    d["layout"].pop("template", None)
    return "\n".join(_strings(d))


def test_esc():
    assert plots.esc(EVIL) == EVIL_ESCAPED
    assert plots.esc('a <a href="http://x">y</a>') == 'a &lt;a href="http://x"&gt;y&lt;/a&gt;'
    assert plots.esc("😀 abc 123") == "😀 abc 123"


@pytest.mark.parametrize(
    "quantity, expected",
    [("forget", (0.0, 1.0)), ("update", (0.0, 1.0)), ("hidden", (-1.0, 1.0)), ("cell_candidate", (-1.0, 1.0))],
)
def test_color_range_fixed(quantity, expected):
    assert plots.color_range(quantity, np.array([5.0]))[:2] == expected


def test_color_range_cell_symmetric():
    assert plots.color_range("cell", np.array([0.3, -2.5]))[:2] == (-2.5, 2.5)
    assert plots.color_range("cell", np.array([0.3]))[:2] == (-1.0, 1.0)


def test_gate_heatmap_z_and_escaped_ticks():
    df = _act_frame(T=3, U=2)
    tokens = ["я", EVIL, "я"]  # repeated token must stay a separate column
    fig = plots.gate_heatmap(df, tokens, "forget", title=EVIL, unknown=[False, True, False])
    assert len(fig.data) == 1 and isinstance(fig.data[0], go.Heatmap)
    z = np.asarray(fig.data[0].z)
    assert z.shape == (2, 3)
    expected = df.pivot(index="unit", columns="step", values="value").to_numpy()
    np.testing.assert_allclose(z, expected)
    assert (fig.data[0].zmin, fig.data[0].zmax) == (0.0, 1.0)
    ticks = list(fig.layout.xaxis.ticktext)
    assert ticks == ["я", EVIL_ESCAPED + "⁇", "я"]
    assert EVIL not in _all_text(fig) and EVIL_ESCAPED in _all_text(fig)
    assert EVIL_ESCAPED in fig.layout.title.text


def test_unit_and_probability_lines():
    df = pd.DataFrame({"series": ["forget"] * 2 + ["cell"] * 2, "step": [0, 1, 0, 1], "value": [0.1, 0.2, 0.3, 0.4]})
    fig = plots.unit_lines(df, ["a", EVIL])
    assert [t.name for t in fig.data] == ["forget", "cell"]
    assert EVIL not in _all_text(fig)
    pf = pd.DataFrame({"step": [0, 0, 1, 1], "label": [EVIL, "pos"] * 2, "prob": [0.4, 0.6, 0.3, 0.7]})
    fig = plots.probability_lines(pf, ["a", "b"])
    assert [t.name for t in fig.data] == [EVIL_ESCAPED, "pos"]
    assert list(fig.layout.yaxis.range) == [0, 1]


def test_colored_text_escapes_tokens():
    data = plots.colored_text_data(["Я", EVIL, "🙂", "123"], [0.1, -0.5, 0.9, 0.0], per_row=3)
    assert data["row"].tolist() == [0, 0, 0, 1]
    fig = plots.colored_text_figure(data, title="unit 3")
    text = np.asarray(fig.data[0].text)
    assert text[0, 1] == EVIL_ESCAPED and text[0, 2] == "🙂" and text[1, 0] == "123"
    assert EVIL not in _all_text(fig)
    assert fig.data[0].zmin == -0.9 and fig.data[0].zmax == 0.9  # symmetric for the diverging scale
    with pytest.raises(ValueError, match="tokens"):
        plots.colored_text_data(["a"], [1, 2])


def test_grad_norm_curves_log_and_traces():
    rows = []
    for cell in ("rnn", "gru", "lstm"):
        for q in ("grad_hidden",) + (("grad_cell",) if cell == "lstm" else ()):
            rows.append(
                pd.DataFrame(
                    {"series": cell, "quantity": q, "step": [0, 1, 2], "distance": [2, 1, 0], "norm": [0.0, 0.1, 1.0]}
                )
            )
    df = pd.concat(rows)
    bound = pd.DataFrame({"series": "rnn", "step": [0, 1, 2], "distance": [2, 1, 0], "bound": [4.0, 2.0, 1.0]})
    fig = plots.grad_norm_curves(df, x="step", tokens=["a", EVIL, "c"], bound=bound)
    assert fig.layout.yaxis.type == "log"
    assert len(fig.data) == 5  # rnn h, gru h, lstm h, lstm c, bound
    # a zero norm is drawn at the floor with an "x" and named on hover, never a silent gap
    assert fig.data[0].y[0] == plots.UNDERFLOW_FLOOR and fig.data[0].marker.symbol[0] == "x"
    assert "underflow" in fig.data[0].customdata[0] and "underflow" not in fig.data[0].customdata[1]
    assert EVIL not in _all_text(fig)
    fig = plots.grad_norm_curves(df, x="distance")
    assert fig.layout.xaxis.title.text.startswith("distance")
    rel = df.assign(norm_rel=df["norm"], bound_rel=1.0)
    fig = plots.grad_norm_curves(rel, value="norm_rel", bound=bound.assign(bound_rel=[0.25, 0.5, 1.0]))
    assert list(fig.data[-1].y) == [0.25, 0.5, 1.0] and "/ ‖∂L/∂h_T‖" in fig.layout.yaxis.title.text
    with pytest.raises(ValueError, match="allowed"):
        plots.grad_norm_curves(df, x="time")


def test_forget_product_training_profile_lag_saturation():
    fp = pd.DataFrame({"step": [0, 1, 2], "forget_product": [0.25, 0.5, 1.0], "grad_cell": [0.1, 0.2, 0.3]})
    fig = plots.forget_product_figure(fp, tokens=["a", "b", EVIL])
    assert len(fig.data) == 2 and fig.layout.yaxis.type == "log"

    hist = []
    for model in ("sentiment-rnn", "sentiment-lstm"):
        for split in ("train", "val"):
            for metric in ("loss", "acc", "f1"):
                if split == "train" and metric == "f1":
                    continue
                hist.append({"model": model, "epoch": 1, "split": split, "metric": metric, "value": 0.5})
    fig = plots.training_curves(pd.DataFrame(hist))
    assert len(fig.data) == 10

    prof = pd.DataFrame({"epoch": [1, 1, 2, 2], "distance": [0, 1, 0, 1], "norm": [1.0, 0.01, 1.0, 0.1]})
    fig = plots.grad_profile_heatmap(prof)
    np.testing.assert_allclose(np.asarray(fig.data[0].z), [[0.0, -2.0], [0.0, -1.0]])

    lag = pd.DataFrame(
        {"model": ["rnn", "rnn", "lstm", "lstm"], "lag": [5, 50, 5, 50], "accuracy": [0.9, 0.3, 0.9, 0.9]}
    )
    fig = plots.accuracy_vs_lag(lag, chance=0.25)
    assert [t.name for t in fig.data] == ["rnn", "lstm"]

    sat = pd.DataFrame(
        {
            "series": ["this sentence"] * 2 + [EVIL] * 2,
            "quantity": "forget",
            "layer": 0,
            "direction": "fwd",
            "unit": [0, 1, 0, 1],
            "frac_low": [0.1, 0.0, 0.2, 0.3],
            "frac_high": [0.5, 0.9, 0.1, 0.0],
        }
    )
    fig = plots.saturation_scatter(sat)
    assert len(fig.data) == 2
    assert EVIL not in _all_text(fig)


def test_missing_columns_raise_named():
    with pytest.raises(ValueError, match="value"):
        plots.gate_heatmap(pd.DataFrame({"step": [0], "unit": [0]}), ["a"], "forget")


def _sweep_frames():
    from lstmviz.sweeps import summarize, summary_frame

    runs = [
        {
            "cell": c,
            "lag": lag,
            "gate_bias": None if c == "rnn" else 1.0,
            "seed": s,
            "solved": ok,
            "updates_to_solve": 100 if ok else None,
            "final_accuracy": 1.0 if ok else 0.25,
            "final": 1.0 if ok else 0.25,
            "grad_ratio_init": 1e-3,
            "seconds": 1.0,
        }
        for c in ("rnn", "gru", "lstm")
        for lag in (10, 100)
        for s in range(3)
        for ok in [c != "rnn" or lag == 10]
    ]
    return summary_frame({"summary": summarize(runs)}), pd.DataFrame(runs)


def test_success_vs_lag_shows_every_cell_on_fixed_axes_with_chance():
    summary, runs = _sweep_frames()
    fig = plots.success_vs_lag(summary, runs, chance=0.25, threshold=0.95, labels={"chance": "<b>шанс</b>"})
    assert fig.data and all("markers" in tr.mode for tr in fig.data)  # every trace has markers
    assert fig.layout.yaxis.range == (0, 1.02) and fig.layout.yaxis2.range == (0, 1.02)
    lines = [sh for sh in fig.layout.shapes if sh.y0 == sh.y1]
    assert any(sh.y0 == 0.25 for sh in lines), "chance line"
    assert any(a.text == "&lt;b&gt;шанс&lt;/b&gt;" for a in fig.layout.annotations)  # labels are escaped
    rate = {tr.name: tr for tr in fig.data if tr.xaxis == "x"}
    assert set(rate) == {"rnn", "gru", "lstm"}
    # same y, different x: the cells are dodged and styled apart, so no line hides another
    xs = {name: tuple(tr.x) for name, tr in rate.items()}
    assert len(set(xs.values())) == 3
    assert len({tr.line.dash for tr in rate.values()}) == 3 and len({tr.marker.symbol for tr in rate.values()}) == 3
    assert list(rate["rnn"].y) == [1.0, 0.0] and list(rate["gru"].error_y.arrayminus)[1] > 0


def test_success_vs_gate_bias_and_lab_curves():
    summary, _ = _sweep_frames()
    fig = plots.success_vs_gate_bias(summary[summary["cell"] != "rnn"], lag=100)
    curve = next(tr for tr in fig.data if tr.line.color == "gray")
    assert curve.y[0] == pytest.approx(0.5**100) and all("markers" in tr.mode for tr in fig.data)
    assert fig.layout.yaxis.range == (0, 1.02) and fig.layout.yaxis2.type == "log"
    live = pd.DataFrame(
        {
            "model": "rnn",
            "updates": [0, 50, 50, 50],
            "split": ["held_out", "train", "held_out", "held_out"],
            "metric": ["grad_ratio", "acc", "acc", "grad_ratio"],
            "value": [0.0, 0.3, 0.25, 1e-30],
        }
    )
    fig = plots.lab_curves(live, chance=0.25, threshold=0.95)
    ratio = next(tr for tr in fig.data if tr.xaxis == "x2")
    # a zero cannot sit on a log axis: it is drawn at the floor with its own marker and named, never dropped
    assert list(ratio.y) == [plots.UNDERFLOW_FLOOR, 1e-30] and list(ratio.marker.symbol) == ["x", "circle"]
    assert "underflow" in ratio.customdata[0][0] and "underflow" not in ratio.customdata[1][0]
    assert [c[1] for c in ratio.customdata] == [0, 50]  # hovers give the true update count (x is dodged)
    assert fig.layout.yaxis.range == (0, 1.02) and all("markers" in tr.mode for tr in fig.data)


def test_token_ticks_thin_long_texts_and_skip_filler():
    toks = [f"w{i}" for i in range(100)]
    vals, text = plots.token_ticks(toks)
    assert len(vals) <= plots.MAX_TOKEN_TICKS and vals[0] == 0 and vals == list(range(0, 100, 3))
    assert text == [f"w{i}" for i in vals]
    vals, text = plots.token_ticks(["a", "", "", "·10", "b"])  # fillers without a label take no tick
    assert vals == [0, 3, 4] and text == ["a", "·10", "b"]
    fig = plots.grad_norm_curves(
        pd.DataFrame(
            {"series": "rnn", "quantity": "grad_hidden", "step": range(100), "distance": range(99, -1, -1), "norm": 1.0}
        ),
        "step",
        toks,
    )
    assert len(fig.layout.xaxis.tickvals) <= plots.MAX_TOKEN_TICKS


@pytest.mark.parametrize("rows", [1, 3])
def test_colour_bar_tick_labels_have_room(rows):
    """Every heatmap's colour bar gets at most one tick label per ~28 px of its plot height (page and export)."""
    sal = plots.colored_text_data([f"t{i}" for i in range(12 * rows)], np.linspace(0, 1, 12 * rows), per_row=12)
    figs = [
        plots.colored_text_figure(sal, 0, 1, "Reds", title="s"),
        plots.grad_profile_heatmap(pd.DataFrame({"epoch": [1, 2], "distance": [0, 0], "norm": [1.0, 0.1]}), "p"),
        plots.profile_pairs_heatmap(
            pd.DataFrame({"series": "a", "epoch": [1, 5], "distance": [0, 0], "norm": [1.0, 0.1]}), title="q"
        ),
    ]
    for fig in figs:
        h, m = fig.layout.height, fig.layout.margin
        plot_px = h - m.t - m.b
        bar = fig.data[0].colorbar
        assert plot_px >= 80 and bar.nticks * 28 <= max(plot_px, 56), (h, bar.nticks)


def test_profile_pairs_share_one_scale_and_keep_row_order():
    df = pd.DataFrame(
        {
            "series": ["rnn"] * 4 + ["lstm"] * 4,
            "epoch": [1, 1, 9, 9, 1, 1, 4, 4],
            "distance": [0, 1] * 4,
            "norm": [1, 1e-8, 1, 1e-3, 1, 0.5, 1, 0.9],
        }
    )
    fig = plots.profile_pairs_heatmap(df)
    assert list(fig.data[0].y) == ["rnn · epoch 1", "rnn · epoch 9", "lstm · epoch 1", "lstm · epoch 4"]
    assert fig.data[0].zmin == pytest.approx(-8) and fig.data[0].zmax == pytest.approx(0)


def test_reach_curves_mark_zeros_and_differ_per_cell():
    df = pd.DataFrame(
        {
            "series": ["rnn"] * 3 + ["lstm"] * 3,
            "cell": ["rnn"] * 3 + ["lstm"] * 3,
            "step": [0, 1, 2] * 2,
            "distance": [2, 1, 0] * 2,
            "reach": [0.0, 1e-5, 1, 0.3, 0.6, 1],
        }
    )
    fig = plots.reach_curves(df)
    assert fig.data[0].y[-1] == plots.UNDERFLOW_FLOOR and fig.data[0].marker.symbol[-1] == "x"  # distance 2
    assert fig.data[0].line.dash != fig.data[1].line.dash


def test_no_figure_uses_a_streamlit_theme_placeholder_colour():
    """Streamlit repaints #000001-#000040 (its theme placeholders) in every chart: plotly's Magma starts at #000004,
    which came out pink, so the smallest connectivity and gradient values looked large."""
    import re

    placeholder = re.compile(r"#0000(?!00)[0-4]\d\b", re.I)  # #000001 .. #000049; black #000000 is fine
    sat = pd.DataFrame(
        {
            "series": ["a", "b"],
            "quantity": "forget",
            "layer": 0,
            "direction": "fwd",
            "unit": [0, 1],
            "frac_low": [0.1, 0.0],
            "frac_high": [0.5, 0.9],
        }
    )
    figs = [
        plots.connectivity_heatmap(np.array([[1.0, 0.0], [0.1, 1.0]]), ["a", "b"]),
        plots.connectivity_heatmap(np.array([[1.0, 0.0], [0.1, 1.0]]), ["a", "b"], per_row=True),
        plots.gate_heatmap(pd.DataFrame({"step": [0, 1], "unit": [0, 0], "value": [0.1, 0.9]}), ["a", "b"], "forget"),
        plots.saturation_scatter(sat),
    ]
    for fig in figs:
        spec = fig.to_plotly_json()
        spec["layout"].pop("template", None)  # Streamlit's own template uses the placeholders on purpose
        text = json.dumps(spec, default=str)
        assert not placeholder.findall(text), placeholder.findall(text)[:3]
    assert plots.MAGNITUDE_COLORSCALE[0][1] == "#000000"


def test_connectivity_rows_relative_to_their_maximum():
    z = plots.connectivity_heatmap(np.array([[2.0, 0.0], [0.1, 0.01]]), ["a", "b"], per_row=True).data[0].z
    np.testing.assert_allclose(np.asarray(z, dtype=float)[1], [0.0, -1.0])
    assert np.isnan(np.asarray(z, dtype=float)[0, 1]) and float(z[0][0]) == 0.0


def test_two_models_of_one_cell_get_two_colours_in_every_line_chart():
    """Colour comes from the series, not from the cell name inside it: two LSTM runs are not both LSTM blue."""
    reach = pd.DataFrame(
        {
            "series": ["lstm a"] * 2 + ["lstm b"] * 2 + ["gru"] * 2,
            "cell": ["lstm"] * 4 + ["gru"] * 2,
            "step": [0, 1] * 3,
            "distance": [1, 0] * 3,
            "reach": [0.5, 1.0, 0.25, 1.0, 0.1, 1.0],
        }
    )
    colours = [t.line.color for t in plots.reach_curves(reach).data]
    assert colours[0] == "#1f77b4" and colours[2] == "#2ca02c" and len(set(colours)) == 3
    lag = pd.DataFrame({"model": ["lstm-1", "lstm-1", "lstm-2", "lstm-2"], "lag": [5, 50] * 2, "accuracy": 0.9})
    assert len({t.line.color for t in plots.accuracy_vs_lag(lag).data}) == 2
    fp = pd.DataFrame({"series": ["lstm a", "lstm b"], "step": 0, "forget_product": 0.5, "grad_cell": 0.1})
    assert len({t.line.color for t in plots.forget_product_figure(fp).data}) == 2


def test_heatmaps_take_zmin_and_zmax():
    df = _act_frame(T=3, U=2)
    fig = plots.gate_heatmap(df, ["a", "b", "c"], "forget", zmin=0.2, zmax=0.8)
    assert (fig.data[0].zmin, fig.data[0].zmax) == (0.2, 0.8)
    fig = plots.gate_heatmap(df, ["a", "b", "c"], "cell", zmin=-0.1)
    assert fig.data[0].zmin == -0.1 and fig.data[0].zmax == 1.0  # the other end stays color_range's
    with pytest.raises(ValueError, match="zmin"):
        plots.gate_heatmap(df, ["a", "b", "c"], "forget", zmin=1.0, zmax=1.0)
    conn = plots.connectivity_heatmap(np.array([[1.0, 0.0], [0.1, 1.0]]), ["a", "b"], zmin=-3, zmax=0)
    assert (conn.data[0].zmin, conn.data[0].zmax) == (-3, 0)
