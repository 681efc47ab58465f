"""AppTest tests of the dashboard: every view renders, and its charts show the library's numbers.

The app is pointed at a checkpoint root through ``LSTMVIZ_CHECKPOINTS``: that variable's
own value or the shipped ``checkpoints/`` when it holds ``sentiment-{rnn,gru,lstm}``, else
tiny random checkpoints written into a temporary directory with the models/checkpoint API.
"""

from __future__ import annotations

import base64
import copy
import json
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from fixtures.sections import open_section
from streamlit.testing.v1 import AppTest

import lstmviz
from dashboard.e2e import quantity_of
from lstmviz.pipeline import Predictor
from lstmviz.testing import make_tiny_checkpoints, make_tiny_results

REPO = Path(__file__).resolve().parents[1]
APP = REPO / "dashboard" / "app.py"
SENTENCE = "Я не люблю дождь, но сегодня прекрасный день."
TIMEOUT = 60


@pytest.fixture
def app(ckpt_root, monkeypatch) -> AppTest:
    monkeypatch.setenv("LSTMVIZ_CHECKPOINTS", str(ckpt_root))
    at = AppTest.from_file(str(APP), default_timeout=TIMEOUT)
    at.run()
    assert not at.exception
    return at


def _figures(at: AppTest) -> list[dict]:
    return [json.loads(el.proto.spec) for el in at.get("plotly_chart")]


def _array(value) -> np.ndarray:
    """Decodes a plotly JSON array (a list or a base64 typed array)."""
    if isinstance(value, dict) and "bdata" in value:
        arr = np.frombuffer(base64.b64decode(value["bdata"]), dtype=np.dtype(value["dtype"]))
        if "shape" in value:
            arr = arr.reshape([int(s) for s in str(value["shape"]).split(",")])
        return arr.astype(float)
    return np.array(value, dtype=float)


def _heatmaps(at: AppTest) -> dict[str, np.ndarray]:
    """Quantity (colour-bar title) -> z of every single-trace heatmap on the page."""
    out = {}
    for fig in _figures(at):
        d = fig["data"][0]
        title = d.get("colorbar", {}).get("title", {}).get("text")
        if d.get("type") == "heatmap" and title and quantity_of(title) not in out:  # the tabs come before playback
            out[quantity_of(title)] = _array(d["z"])
    return out


#: What a chart holds of a value: 4 significant digits (lstmviz.plots.compact), so at most half a unit of the 4th
#: digit away, relative to the value; zero stays zero.
SHOWN = {"rtol": 5.001e-4, "atol": 0.0}


def _each_tab(at: AppTest, key: str):
    """Opens every quantity tab of the page in turn (only the open tab's chart is sent), yielding its label."""
    lang = at.session_state["lang"] if "lang" in at.session_state else "ru"
    for label in [tab.label for tab in at.tabs]:
        at.session_state[f"{key}:{lang}"] = label
        at.run()
        assert not at.exception, at.exception
        yield label


def _tab_heatmaps(at: AppTest, key: str = "gates_tab") -> dict[str, np.ndarray]:
    """:func:`_heatmaps` of every quantity tab."""
    out = {}
    for _ in _each_tab(at, key):
        out.update({q: z for q, z in _heatmaps(at).items() if q not in out})
    return out


def _recording(path: Path, text: str):
    pred = Predictor.from_checkpoint(path)
    enc = pred.encode(text)
    with torch.no_grad(), lstmviz.record(pred.model) as rec:
        pred.model(enc.ids, enc.lengths)
    return pred, rec


def _select_checkpoint(at: AppTest, path: Path) -> None:
    at.selectbox(key="checkpoint").select(str(path)).run()


def _assert_heatmaps_match(at: AppTest, path: Path, text: str) -> None:
    pred, rec = _recording(path, text)
    maps = _tab_heatmaps(at)
    cell = pred.model.config.cell
    for q in lstmviz.QUANTITIES[cell]:
        assert q in maps, f"no heatmap for {q}"
        expected = rec[f"rnn.l0.{q}"][0].T.numpy()  # (units, T)
        np.testing.assert_allclose(maps[q], expected, **SHOWN)


def test_gates_view_matches_recording_and_switches_model(app, ckpt_root):
    app.text_area(key="text_widget_gates").input(SENTENCE).run()
    assert not app.exception and not app.error
    name = app.selectbox(key="checkpoint").value
    _assert_heatmaps_match(app, Path(name), SENTENCE)
    # switch to the LSTM checkpoint: six heatmaps, still equal to the recorder's tensors
    lstm_path = next(p for p in ckpt_root.rglob("meta.json") if p.parent.name == "sentiment-lstm").parent
    _select_checkpoint(app, lstm_path)
    assert not app.exception and not app.error
    _assert_heatmaps_match(app, lstm_path, SENTENCE)
    # probabilities after the last prefix equal predict_proba of the whole text
    pred = Predictor.from_checkpoint(lstm_path)
    probs = next(f for f in _figures(app) if f["layout"].get("yaxis", {}).get("range") == [0, 1])
    last = [_array(tr["y"])[-1] for tr in probs["data"]]
    np.testing.assert_allclose(last, pred.predict_proba(SENTENCE).numpy(), **SHOWN)
    # every chart offers its data as CSV
    assert len(app.get("download_button")) >= len(app.get("plotly_chart"))


def test_cue_recall_checkpoint(app, ckpt_root):
    cue = next((p.parent for p in ckpt_root.rglob("meta.json") if p.parent.name.startswith("cue-")), None)
    if cue is None:
        pytest.skip(f"no cue-recall checkpoint under {ckpt_root}")
    _select_checkpoint(app, cue)
    assert not app.exception and not app.error
    preset = app.selectbox(key="preset_gates")
    preset.select(preset.options[0]).run()  # options are the raw preset strings
    assert not app.exception and not app.error
    text = app.text_area(key="text_widget_gates").value
    assert text.endswith("?")
    _assert_heatmaps_match(app, cue, text)
    app.text_area(key="text_widget_gates").input("paris w1 ?").run()
    assert not app.exception and any("france" in w.value and "токены" in w.value for w in app.warning)  # translated


def test_bad_inputs(app):
    box = app.text_area(key="text_widget_gates")
    box.input("   ").run()
    assert not app.exception and app.info, "empty text must show a hint"
    app.text_area(key="text_widget_gates").input("!!! ...").run()
    assert not app.exception and app.info
    app.text_area(key="text_widget_gates").input("qwzx blorf zzyzx").run()
    assert not app.exception and any("UNK" in i.value for i in app.info)
    app.text_area(key="text_widget_gates").input(" ".join(["дождь"] * 230)).run()
    assert not app.exception and any("200" in w.value for w in app.warning)
    evil = "<b>Отлично</b> 😀 10/10 <a href='x'>link</a> **жирный** $x$"
    app.text_area(key="text_widget_gates").input(evil).run()
    assert not app.exception and not app.error
    for fig in _figures(app):
        ticks = fig["layout"].get("xaxis", {}).get("ticktext") or []
        assert not any("<" in str(t) for t in ticks)


def test_gradients_view_matches_library(app, ckpt_root):
    app.switch_page("views/gradients.py").run()
    app.text_area(key="text_widget_grads").input(SENTENCE).run()
    assert not app.exception and not app.error
    figs = _figures(app)
    by_token = next(f for f in figs if f["layout"].get("yaxis", {}).get("type") == "log")
    names = [tr["name"] for tr in by_token["data"]]
    for cell in ("rnn", "gru", "lstm"):
        assert any(n.startswith(f"sentiment-{cell}") for n in names), names
    # the LSTM's curve equals a direct float64 recording with the same loss, divided by its last value
    path = next(p for p in ckpt_root.rglob("meta.json") if p.parent.name == "sentiment-lstm").parent
    pred = Predictor.from_checkpoint(path)
    enc = pred.encode(SENTENCE)
    model64 = copy.deepcopy(pred.model).double()
    with lstmviz.record(model64, grads=True) as rec:
        logits = model64(enc.ids, enc.lengths)
        rec.backward(F.cross_entropy(logits, logits.argmax(-1)))
    top = pred.model.config.num_layers - 1  # the view shows the top layer, forward direction
    expected = torch.linalg.vector_norm(rec[f"rnn.l{top}.grad_hidden"][0], dim=-1).numpy()
    trace = next(tr for tr in by_token["data"] if tr["name"].startswith("sentiment-lstm") and "∂h" in tr["name"])
    np.testing.assert_allclose(_array(trace["y"]), expected / expected[-1], **SHOWN)
    app.radio(key="grad_scale:ru").set_value("norm").run()  # raw norms on request
    by_token = next(f for f in _figures(app) if f["layout"].get("yaxis", {}).get("type") == "log")
    trace = next(tr for tr in by_token["data"] if tr["name"].startswith("sentiment-lstm") and "∂h" in tr["name"])
    np.testing.assert_allclose(_array(trace["y"]), expected, **SHOWN)
    # the Pascanu bound is drawn only where it constrains the RNN (σ_max(W_hh) < 1), and the caption says which
    rnn_path = next(p for p in ckpt_root.rglob("meta.json") if p.parent.name == "sentiment-rnn").parent
    sigma = float(torch.linalg.matrix_norm(Predictor.from_checkpoint(rnn_path).model.rnn.weight_hh_l0.detach(), ord=2))
    for scale in (1.0, 0.25):
        app.slider(key="whatif_whh").set_value(scale).run()
        by_token = next(f for f in _figures(app) if f["layout"].get("yaxis", {}).get("type") == "log")
        drawn = any("Pascanu" in tr["name"] for tr in by_token["data"])
        assert drawn == (sigma * scale < 1), (sigma, scale)
        assert any(f"σ_max(W_hh) = {sigma * scale:.2f}" in c.value for c in app.caption)
    # what-if knobs run on private copies and leave the page working
    app.slider(key="whatif_filler").set_value(10).run()
    app.radio(key="whatif_filler_at:ru").set_value("after").run()
    app.number_input(key="whatif_filler_k").set_value(2).run()
    assert not app.exception and not app.error
    app.slider(key="whatif_whh").set_value(0.5).run()
    app.toggle(key="whatif_untrained").set_value(True).run()
    assert not app.exception and not app.error
    pred2 = Predictor.from_checkpoint(path)
    for a, b in zip(pred.model.parameters(), pred2.model.parameters()):
        assert torch.equal(a, b)


def test_training_and_explain_views(app, ckpt_root):
    app.switch_page("views/training.py").run()
    assert not app.exception and not app.error
    figs = _figures(app)
    assert figs, "training view draws charts"
    curves = figs[0]
    meta = json.loads((next(ckpt_root.rglob("sentiment-gru/meta.json"))).read_text())
    train_loss = next(
        tr for tr in curves["data"] if tr["name"] == "sentiment-gru обучение" and tr.get("xaxis", "x") == "x"
    )
    np.testing.assert_allclose(_array(train_loss["y"]), [h["train_loss"] for h in meta["history"]], **SHOWN)
    assert len(app.dataframe) >= 1
    app.switch_page("views/explain.py").run()
    assert not app.exception and len(app.latex) >= 4


def test_lab_view_runs_a_preset_through_the_trainer(app, monkeypatch):
    """The 'short' preset runs end to end through lstmviz.trainer.fit's callbacks and draws live curves."""
    from dashboard import jobs, state

    calls = []
    real_fit = jobs.fit

    def spy(*args, **kw):
        calls.append((kw.get("on_epoch") is not None, kw.get("should_stop") is not None))
        return real_fit(*args, **kw)

    monkeypatch.setattr(jobs, "fit", spy)
    app.switch_page("views/lab.py").run()
    assert not app.exception and not app.error
    sweeps = [f for f in _figures(app) if f["layout"].get("yaxis", {}).get("range") == [0, 1.02]]
    assert sweeps, "the sweep charts are drawn with a fixed 0-1 success axis"
    app.radio(key="lab_preset:ru").set_value("short").run()
    start = next(b for b in app.button if b.label in ("Запустить", "Start"))
    start.click().run()
    assert not app.exception
    snap = state.job_manager().wait(TIMEOUT * 3)
    assert snap["state"] == "done", snap
    assert snap["config"]["lag"] == jobs.PRESETS["short"].lag
    job_calls = [c for c in calls if c != (False, False)]  # the others are the time estimate's short fits
    assert job_calls == [(True, True)] * 3  # one trainer run per cell, with both callbacks
    for cell in ("rnn", "gru", "lstm"):
        rows = [h for h in snap["history"] if h["model"] == cell and h["metric"] == "grad_ratio"]
        assert rows and rows[0]["updates"] == 0 and all(r["value"] > 0 for r in rows)
    app.run()
    assert not app.exception and not app.error
    live = [
        f
        for f in _figures(app)
        if f["layout"].get("yaxis2", {}).get("type") == "log" and any("·" in tr.get("name", "") for tr in f["data"])
    ]
    assert live, "live curves are drawn"
    assert live[0]["layout"]["yaxis"]["range"] == [0, 1.02]
    assert any(sh.get("y0") == 0.25 for sh in live[0]["layout"].get("shapes", [])), "chance line"


def test_language_switch_and_error_wall(app, monkeypatch):
    app.radio(key="lang").set_value("en").run()
    assert app.header[0].value == "Gates and states, token by token"
    from lstmviz import diagnostics

    def boom(*args, **kwargs):
        raise RuntimeError("boom <b>x</b>")

    monkeypatch.setattr(diagnostics, "unit_frame", boom)  # the open section (one unit) calls it
    app.run()
    assert not app.exception
    assert any("RuntimeError" in e.value for e in app.error)


def test_corrupt_checkpoint_names_file(ckpt_root, tmp_path, monkeypatch):
    root = tmp_path / "ck"
    for cell in ("gru", "lstm"):
        src = next(p for p in ckpt_root.rglob("meta.json") if p.parent.name == f"sentiment-{cell}").parent
        shutil.copytree(src, root / f"sentiment-{cell}")
    (root / "sentiment-gru" / "model.safetensors").write_bytes(b"not a safetensors file")
    shutil.copytree(root / "sentiment-lstm", root / "sentiment-rnn")
    (root / "sentiment-rnn" / "meta.json").write_text("{not json", encoding="utf-8")
    monkeypatch.setenv("LSTMVIZ_CHECKPOINTS", str(root))
    at = AppTest.from_file(str(APP), default_timeout=TIMEOUT).run()
    assert not at.exception
    assert at.selectbox(key="checkpoint").value == str(root / "sentiment-lstm")  # the default is one that loads
    at.selectbox(key="checkpoint").select(str(root / "sentiment-gru")).run()
    assert any("model.safetensors" in e.value.replace("\\", "") for e in at.error)  # markdown-escaped
    at.selectbox(key="checkpoint").select(str(root / "sentiment-rnn")).run()
    assert not at.exception
    assert any("sentiment-rnn/meta.json" in e.value.replace("\\", "") for e in at.error)
    at.switch_page("views/training.py").run()  # lists the broken ones, still draws the good one
    assert not at.exception and at.error and at.get("plotly_chart")
    at.switch_page("views/gradients.py").run()  # the LSTM still works beside the broken GRU
    assert not at.exception
    at.switch_page("views/explain.py").run()
    assert not at.exception and not at.error


def test_no_checkpoints_is_a_message(tmp_path, monkeypatch):
    monkeypatch.setenv("LSTMVIZ_CHECKPOINTS", str(tmp_path / "nothing"))
    at = AppTest.from_file(str(APP), default_timeout=TIMEOUT).run()
    assert not at.exception and at.info
    for page in ("views/gradients.py", "views/training.py", "views/lab.py"):
        at.switch_page(page).run()
        assert not at.exception and not at.error


def test_i18n_complete_and_code_rules():
    from dashboard.i18n import EN, RU

    assert set(RU) == set(EN)
    code = {p: p.read_text(encoding="utf-8") for p in (REPO / "dashboard").rglob("*.py")}
    used = set()
    for src in code.values():
        used |= set(re.findall(r'\bt\("([^"{]+)"', src))
    assert used <= set(RU), sorted(used - set(RU))
    for path, src in code.items():
        assert "unsafe_allow_html=True" not in src, path
        if path.name != "state.py":
            assert "@st.cache_" not in src and 'st.session_state["' not in src, path
        if path.parent.name == "views":
            assert len(src.splitlines()) < 110, path


def _spelled_keys(src: str) -> list[str]:
    """Session-state keys a dashboard file spells itself: a string literal, an f-string or a concatenation as a
    ``st.session_state`` subscript, ``.get/.pop/.setdefault`` argument or widget ``key=``, and any f-string that
    formats a ``state.<CONSTANT>`` (a key built outside state.py, wherever it is used later)."""
    import ast

    def stringy(node: ast.AST) -> bool:  # the key expression itself; a call (state.key(...)) is fine
        return (
            isinstance(node, ast.JoinedStr)
            or (isinstance(node, ast.Constant) and isinstance(node.value, str))
            or (isinstance(node, ast.BinOp) and isinstance(node.op, (ast.Add, ast.Mod)))
        )

    def session(node: ast.AST) -> bool:
        return isinstance(node, ast.Attribute) and node.attr == "session_state"

    found = []
    for node in ast.walk(ast.parse(src)):
        if isinstance(node, ast.Subscript) and session(node.value) and stringy(node.slice):
            found.append(ast.unparse(node.slice))
        elif isinstance(node, ast.Call):
            f = node.func
            if isinstance(f, ast.Attribute) and session(f.value) and node.args and stringy(node.args[0]):
                found.append(ast.unparse(node.args[0]))
            found += [
                ast.unparse(k.value)
                for k in node.keywords
                if k.arg == "key" and not isinstance(k.value, ast.Lambda) and stringy(k.value)
            ]
        elif isinstance(node, ast.JoinedStr) and any(
            isinstance(v, ast.FormattedValue)
            and isinstance(v.value, ast.Attribute)
            and isinstance(v.value.value, ast.Name)
            and v.value.value.id == "state"
            and v.value.attr.isupper()
            for v in node.values
        ):
            found.append(ast.unparse(node))
    return found


def test_session_keys_are_spelled_only_in_state_py():
    assert _spelled_keys('st.session_state[f"{state.TEXT}:cue"] = 1') == ["f'{state.TEXT}:cue'"] * 2
    assert _spelled_keys('st.button("x", key="b")') == ["'b'"]
    assert _spelled_keys('k = f"{state.CSV}_{x}"') and _spelled_keys('st.session_state.pop("k" + x)')
    assert not _spelled_keys('st.session_state[state.key(state.CSV, x)] = 1; sorted(a, key=lambda i: f"s{i}")')
    bad = {
        p.relative_to(REPO).as_posix(): keys
        for p in sorted((REPO / "dashboard").rglob("*.py"))
        if p.name != "state.py" and (keys := _spelled_keys(p.read_text(encoding="utf-8")))
    }
    assert not bad, bad


def test_lab_job_survives_a_reload_and_stops(app, ckpt_root, monkeypatch):
    """A running job is server-wide: a new session (a page reload) sees it, refuses a second one, and stops it."""
    from dashboard import state
    from dashboard.jobs import LabConfig

    jm = state.job_manager()
    jm.wait(TIMEOUT)  # nothing left from another test
    assert jm.start(LabConfig(lag=10, updates=100_000, hidden_size=8, n_val=64))
    try:
        assert not jm.start(LabConfig(lag=5, updates=10))  # one job at a time, server-wide
        reloaded = AppTest.from_file(str(APP), default_timeout=TIMEOUT)  # a fresh session = a reload
        reloaded.run()
        reloaded.switch_page("views/lab.py").run()
        assert not reloaded.exception and not reloaded.error
        stop = [b for b in reloaded.button if b.label in ("Остановить", "Stop")]
        assert stop, (
            f"the reloaded page shows the running job's Stop button; buttons: {[b.label for b in reloaded.button]}"
        )
        stop[0].click().run()
        snap = jm.wait(TIMEOUT)
        assert snap["state"] == "stopped", snap
        assert snap["progress"] < 1.0
    finally:
        jm.stop()
        jm.wait(TIMEOUT)


def test_broken_result_files_are_named_and_the_lab_keeps_working(tmp_path, monkeypatch):
    """A corrupt sweep file and a hostile preset file each give a message naming them; the other charts still draw."""
    results = make_tiny_results(tmp_path / "results")
    (results / "sweep_cue_recall_lag.json").write_bytes(b"[" * 50_000 + b"]" * 50_000)  # deeply nested JSON
    (results / "lab_presets.json").write_text('{"runs": [{"preset": "<b>x</b>"}', encoding="utf-8")
    monkeypatch.setenv("LSTMVIZ_CHECKPOINTS", str(make_tiny_checkpoints(tmp_path / "ck")))
    monkeypatch.setenv("LSTMVIZ_RESULTS", str(results))
    at = AppTest.from_file(str(APP), default_timeout=TIMEOUT).run()
    at.switch_page("views/lab.py").run()
    assert not at.exception
    errors = [e.value.replace("\\", "") for e in at.error]
    assert any("sweep_cue_recall_lag.json" in e for e in errors), errors
    assert any("lab_presets.json" in e for e in errors), errors
    assert len(_figures(at)) >= 2  # the gate-bias and adding sweeps are still drawn
    assert any(b.label in ("Запустить", "Start") for b in at.button)


def test_classroom_scenario_shows_vanishing(app, ckpt_root):
    """One click puts the three cue models on 100 distractors; the RNN's curve at the cue is < 1e-3 of the LSTM's."""
    if len(list(ckpt_root.glob("cue-*/meta.json"))) < 3:
        pytest.skip("needs the three shipped cue checkpoints")
    app.switch_page("views/gradients.py").run()
    button = next(b for b in app.button if b.key == "grad_classroom")
    button.click().run()
    assert not app.exception and not app.error
    by_token = next(f for f in _figures(app) if f["layout"].get("yaxis", {}).get("type") == "log")
    first = {tr["name"].split(" ")[0]: _array(tr["y"])[0] for tr in by_token["data"] if "∂h" in tr["name"]}
    assert set(first) == {"cue-rnn", "cue-gru", "cue-lstm"}, first
    assert 0 < first["cue-rnn"] < 1e-3 * first["cue-lstm"], first
    # the saliency strips of the compared models share one colour scale
    open_section(app, "grad_section", "saliency").run()
    strips = [f["data"][0] for f in _figures(app) if "∂x_t" in str(f["layout"].get("title", {}).get("text", ""))]
    assert len(strips) == 3 and len({(s["zmin"], s["zmax"]) for s in strips}) == 1, strips
    # the loss-free reach: one line per model, the RNN's far below the LSTM's at the cue (the largest distance)
    open_section(app, "grad_section", "reach").run()
    reach = next(f for f in _figures(app) if "∂h_T/∂s_t" in str(f["layout"].get("yaxis", {}).get("title", {})))
    far = {tr["name"]: _array(tr["y"])[-1] for tr in reach["data"]}
    assert set(far) == {"cue-rnn", "cue-gru", "cue-lstm"} and far["cue-rnn"] < 1e-3 * far["cue-lstm"], far
    # the stored training profiles: epoch 1 and the best epoch of each model in one heatmap, one scale
    open_section(app, "grad_section", "profiles").run()
    prof = next(
        f["data"][0]
        for f in _figures(app)
        if f["data"] and f["data"][0].get("type") == "heatmap" and "·" in str(f["data"][0].get("y", ""))
    )
    assert len(prof["y"]) >= 3 and prof["zmin"] is not None and prof["zmax"] is not None


def test_training_view_profiles_share_one_colour_scale(app):
    app.switch_page("views/training.py").run()
    assert not app.exception
    maps = [f["data"][0] for f in _figures(app) if f["data"] and f["data"][0].get("type") == "heatmap"]
    assert len(maps) >= 2 and len({(m.get("zmin"), m.get("zmax")) for m in maps}) == 1, [
        (m.get("zmin"), m.get("zmax")) for m in maps
    ]
    assert maps[0].get("zmin") is not None


def test_gates_unit_order_is_shared_by_every_tab(app):
    """Ordering the units permutes every heatmap's rows by one order, taken from the layer's memory."""
    from lstmviz.diagnostics import unit_order

    app.text_area(key="text_widget_gates").input(SENTENCE).run()
    before = {
        f["layout"]["title"]["text"]: _array(f["data"][0]["z"])
        for f in _figures(app)
        if f["data"] and f["data"][0].get("type") == "heatmap" and f["data"][0].get("y")
    }
    app.selectbox(key="gates_order:ru").set_value("cluster").run()
    assert not app.exception
    after = {
        f["layout"]["title"]["text"]: f
        for f in _figures(app)
        if f["data"] and f["data"][0].get("type") == "heatmap" and f["data"][0].get("y")
    }
    orders = {tuple(f["data"][0]["y"]) for f in after.values()}
    assert len(orders) == 1  # one order for every tab
    order = [int(u) for u in next(iter(orders))]
    assert sorted(order) == list(range(len(order))) and order != sorted(order)
    for title, z in before.items():
        np.testing.assert_array_equal(_array(after[title]["data"][0]["z"]), z[order])
    from lstmviz.sentence import analyze_text

    a = analyze_text(Predictor.from_checkpoint(app.selectbox(key="checkpoint").value), SENTENCE, grads=False)
    memory = a.values("cell" if a.cell == "lstm" else "hidden")
    assert order == unit_order(memory, "cluster").tolist()  # the library's order, from the layer's memory


def test_playback_shows_exactly_the_prefix(app):
    """At step k the playback heatmaps equal the model run on tokens[:k+1] alone; later tokens are blank."""
    app.text_area(key="text_widget_gates").input(SENTENCE).run()
    path = Path(app.selectbox(key="checkpoint").value)
    pred = Predictor.from_checkpoint(path)
    enc = pred.encode(SENTENCE)
    k = 3
    app.slider(key="play_step").set_value(k).run()
    assert not app.exception
    shown = {
        quantity_of(f["data"][0]["colorbar"]["title"]["text"]): f
        for f in _figures(app)
        if "3" in str(f["layout"].get("title", {}).get("text", ""))
        and f["data"][0].get("type") == "heatmap"
        and ("до токена" in f["layout"]["title"]["text"] or "up to token" in f["layout"]["title"]["text"])
    }
    assert shown, "playback heatmaps drawn"
    with torch.no_grad(), lstmviz.record(pred.model) as rec:  # the prefix alone
        logits = pred.model(enc.ids[:, : k + 1], torch.tensor([k + 1]))
    for q, fig in shown.items():
        z = _array(fig["data"][0]["z"])  # (units, T) in index order
        np.testing.assert_allclose(z[:, : k + 1], rec[f"rnn.l0.{q}"][0].T.numpy(), **SHOWN)
        assert np.isnan(z[:, k + 1 :]).all()
    from dashboard.i18n import RU

    label = pred.labels[int(logits.argmax())]
    metric = next(m for m in app.metric if m.label.startswith("Предсказание после токена 3"))
    assert metric.value == RU.get(f"class.{label}", label)  # the prediction after the prefix, in Russian
    app.button(key="play_button").click().run()  # Play: the next tick shows the next token
    app.run()
    assert app.slider(key="play_step").value > k


def test_comparison_view_shows_b_minus_a_on_aligned_tokens(app):
    """«Это плохо.» / «Это не плохо.»: every difference heatmap equals the recorder's B − A on the aligned tokens."""
    app.switch_page("views/compare.py").run()
    assert not app.exception and not app.error
    path = Path(app.selectbox(key="checkpoint").value)
    pred = Predictor.from_checkpoint(path)
    recs = {}
    for text in (
        "Это плохо.",
        "Это не плохо.",
    ):
        enc = pred.encode(text)
        with torch.no_grad(), lstmviz.record(pred.model) as rec:
            pred.model(enc.ids, enc.lengths)
        recs[text] = rec
    # это-это, +не, плохо-плохо: «не» has no partner; its state column compares with A after «это», its gates are NaN
    states = [(0, 0), (0, 1), (1, 2)]
    figs = [
        f
        for _ in _each_tab(app, "cmp_tab")
        for f in _figures(app)
        if "B − A" in str(f["layout"].get("title", {}).get("text", ""))
    ]
    assert len(figs) == len(lstmviz.QUANTITIES[pred.model.config.cell])
    for f, q in zip(figs, lstmviz.QUANTITIES[pred.model.config.cell]):
        a, b = recs["Это плохо."][f"rnn.l0.{q}"][0].numpy(), recs["Это не плохо."][f"rnn.l0.{q}"][0].numpy()
        cols = [(i, j) if q in ("cell", "hidden") or k != 1 else None for k, (i, j) in enumerate(states)]
        want = np.stack([b[c[1]] - a[c[0]] if c else np.full(a.shape[1], np.nan) for c in cols], axis=1)  # (units, 3)
        np.testing.assert_allclose(_array(f["data"][0]["z"]), want, **SHOWN)
    assert any(c.value.startswith("Вставлено") and "не" in c.value for c in app.caption)  # named as inserted
    assert len(app.metric) == 2 and all(("✓" in m.value) or ("✗" in m.value) for m in app.metric)


def test_comparison_of_two_models_on_one_text(tmp_path, monkeypatch):
    """One text through two models of the same cell and size: the heatmaps are model B − model A."""
    from lstmviz.checkpoint import load_checkpoint, save_checkpoint

    root = make_tiny_checkpoints(tmp_path / "root")
    model, meta = load_checkpoint(root / "sentiment-gru")
    with torch.no_grad():
        model.rnn.weight_hh_l0.mul_(0.5)
    save_checkpoint(root / "sentiment-gru-half", model, meta)
    monkeypatch.setenv("LSTMVIZ_CHECKPOINTS", str(root))
    at = AppTest.from_file(str(APP), default_timeout=TIMEOUT).run()
    at.selectbox(key="checkpoint").select(str(root / "sentiment-gru")).run()
    at.switch_page("views/compare.py").run()
    at.radio(key="cmp_mode:ru").set_value("models").run()
    assert not at.exception and not at.error
    assert at.selectbox(key="cmp_model_b").value == str(root / "sentiment-gru-half")
    text = "Это не плохо."
    recs = {}
    for name in ("sentiment-gru", "sentiment-gru-half"):
        pred = Predictor.from_checkpoint(root / name)
        enc = pred.encode(text)
        with torch.no_grad(), lstmviz.record(pred.model) as rec:
            pred.model(enc.ids, enc.lengths)
        recs[name] = rec["rnn.l0.hidden"][0].numpy()
    at.session_state["cmp_tab:ru"] = "скрытое состояние h"  # the hidden state's tab
    at.run()
    fig = next(
        f
        for f in _figures(at)
        if "B − A" in str(f["layout"]["title"]["text"]) and "скрытое" in str(f["layout"]["title"]["text"])
    )
    want = (recs["sentiment-gru-half"] - recs["sentiment-gru"]).T
    np.testing.assert_allclose(_array(fig["data"][0]["z"]), want, **SHOWN)


def test_structure_button_opens_the_cue_lstm_with_clustered_units(app, ckpt_root):
    if not (ckpt_root / "cue-lstm" / "meta.json").is_file():
        pytest.skip("needs the shipped cue-lstm")
    app.button(key="gates_structure").click().run()
    assert not app.exception and not app.error
    assert app.selectbox(key="checkpoint").value.endswith("cue-lstm")
    assert app.selectbox(key="gates_order:ru").value == "cluster"
    assert app.text_area(key="text_widget_gates").value.startswith("france")
