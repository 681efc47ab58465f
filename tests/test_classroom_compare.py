"""Issue 21, defect 5: the Comparison view shows the token that makes the difference, and has a second model.

- B − A used to drop every token without a partner: «не» of «Это плохо.» / «Это не плохо.» and the swapped
  cue of the cue pair had no column, and a substituted cue was captioned "only in B". Now each alignment
  operation (equal, insert, delete, substitute) has a marked column and its own caption.
- "One text, two models" needs a second checkpoint of the same cell and size: ``sentiment-lstm-s2`` (seed 2 of
  sentiment-lstm's recipe) is shipped, so the mode draws B − A for the shipped sentiment-lstm.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from streamlit.testing.v1 import AppTest

import lstmviz
from lstmviz import textcompare
from lstmviz.pipeline import Predictor
from lstmviz.sentence import analyze_text
from lstmviz.testing import make_tiny_checkpoints

REPO = Path(__file__).resolve().parents[1]
APP = REPO / "dashboard" / "app.py"
SHIPPED = REPO / "checkpoints"
TIMEOUT = 60


@pytest.fixture(scope="module")
def tiny_root(tmp_path_factory) -> Path:
    return make_tiny_checkpoints(tmp_path_factory.mktemp("cmp_ckpts"))


def _figures(at: AppTest) -> list[dict]:
    return [json.loads(el.proto.spec) for el in at.get("plotly_chart")]


def _diff_figures(at: AppTest) -> list[dict]:
    return [f for f in _figures(at) if "B − A" in str(f["layout"].get("title", {}).get("text", ""))]


def _z(fig: dict) -> np.ndarray:
    import base64

    z = fig["data"][0]["z"]
    if isinstance(z, dict) and "bdata" in z:
        arr = np.frombuffer(base64.b64decode(z["bdata"]), dtype=np.dtype(z["dtype"]))
        return arr.reshape([int(s) for s in str(z["shape"]).split(",")]).astype(float)
    return np.array(z, dtype=float)


def _ticks(fig: dict) -> list[str]:
    return list(fig["layout"]["xaxis"].get("ticktext", []))


def test_operations_classify_equal_insert_delete_substitute():
    ops = textcompare.operations(["это", "плохо"], ["это", "не", "плохо"])
    assert ops == [("equal", 0, 0), ("insert", None, 1), ("equal", 1, 2)]
    assert textcompare.operations(["это", "не", "плохо"], ["это", "плохо"])[1] == ("delete", 1, None)
    ops = textcompare.operations(["france", "w1", "w2", "?"], ["germany", "w1", "w2", "?"])
    assert [o for o, _, _ in ops] == ["substitute", "equal", "equal", "equal"]
    # a replaced block of unequal length: pairs in order, the rest of the longer side is inserted
    ops = textcompare.operations(["a", "x", "z"], ["a", "y1", "y2", "z"])
    assert ops == [("equal", 0, 0), ("substitute", 1, 1), ("insert", None, 2), ("equal", 2, 3)]
    assert textcompare.inserted_tokens(["france", "?"], ["germany", "?"]) == []  # a substitution, not an insertion
    labels = [textcompare.column_label(*x) for x in [("insert", None, "не"), ("delete", "не", None)]]
    assert labels == ["+не", "−не"]
    assert textcompare.column_label("substitute", "france", "germany") == "france→germany"


def test_negation_frame_has_an_inserted_column_for_ne(tiny_root):
    """B − A for «Это плохо.» / «Это не плохо.» has a column «+не» marked inserted; states compare with A's last."""
    pred = Predictor.from_checkpoint(tiny_root / "sentiment-lstm")
    a = analyze_text(pred, "Это плохо.", grads=False)
    b = analyze_text(pred, "Это не плохо.", grads=False)
    d = textcompare.difference_frame(a, b, "hidden")
    cols = d.drop_duplicates("step")
    assert list(cols["op"]) == ["equal", "insert", "equal"]
    assert list(cols["token"]) == ["Это", "+не", "плохо"] and list(cols["token_b"]) == ["Это", "не", "плохо"]
    ha, hb = a.values("hidden"), b.values("hidden")  # (T, U)
    np.testing.assert_allclose(d.query("step == 1")["value"], hb[1] - ha[0], rtol=1e-6)  # A has read «Это» only
    np.testing.assert_allclose(d.query("step == 2")["value"], hb[2] - ha[1], rtol=1e-6)
    gates = textcompare.difference_frame(a, b, "forget")
    assert gates.query("step == 1")["value"].isna().all()  # no gate of A at a step A did not take
    assert gates.query("step != 1")["value"].notna().all()
    # the other way round «не» is deleted, and still has its column
    back = textcompare.difference_frame(b, a, "cell").drop_duplicates("step")
    assert list(back["op"]) == ["equal", "delete", "equal"] and list(back["token"]) == ["Это", "−не", "плохо"]
    assert textcompare.changed_tokens(a, b) == {"insert": [(None, "не")], "delete": [], "substitute": []}


def test_negation_view_draws_the_ne_column_and_escapes_user_tokens(tiny_root, monkeypatch):
    monkeypatch.setenv("LSTMVIZ_CHECKPOINTS", str(tiny_root))
    at = AppTest.from_file(str(APP), default_timeout=TIMEOUT).run()
    at.selectbox(key="checkpoint").select(str(tiny_root / "sentiment-lstm")).run()
    at.switch_page("views/compare.py").run()
    assert not at.exception and not at.error
    figs = _diff_figures(at)
    assert figs and _ticks(figs[0]) == ["Это", "+не", "плохо"] and _z(figs[0]).shape[1] == 3
    captions = [c.value for c in at.caption]
    assert any(c.startswith("Вставлено") and "не" in c for c in captions), captions
    assert any("«+x»" in c for c in captions) and not any(c.startswith("Заменено") for c in captions)
    # user text stays inert: markdown in a caption and HTML in a tick label are escaped
    at.text_input(key="cmp_b_negation").set_value("Это *жуть* <b>x</b> плохо.").run()
    assert not at.exception and not at.error
    ins = next(c.value for c in at.caption if c.value.startswith("Вставлено"))
    assert "\\*жуть\\*" in ins or "*" not in ins, ins  # shown literally, never as emphasis
    ticks = " ".join(_ticks(_diff_figures(at)[0]))
    assert "<b>" not in ticks


def test_cue_pair_marks_the_swapped_cue_substituted(tiny_root, monkeypatch):
    """The cue pair differs in the cue only: its column is «a→b», and the caption says substituted."""
    monkeypatch.setenv("LSTMVIZ_CHECKPOINTS", str(tiny_root))
    at = AppTest.from_file(str(APP), default_timeout=TIMEOUT).run()
    at.selectbox(key="checkpoint").select(str(tiny_root / "cue-lstm")).run()
    at.switch_page("views/compare.py").run()
    assert not at.exception and not at.error
    captions = [c.value for c in at.caption]
    assert any(c.startswith("Заменено") and "→" in c for c in captions), captions
    assert not any(c.startswith(("Вставлено", "Только в B")) for c in captions), captions
    ticks = _ticks(_diff_figures(at)[0])
    assert "→" in ticks[0] and not any("→" in x for x in ticks[1:]), ticks[:3]
    at.session_state["lang"] = "en"
    at.run()
    captions = [c.value for c in at.caption]
    assert any(c.startswith("Substituted") for c in captions) and not any("Inserted" in c for c in captions)


def test_models_mode_offers_the_shipped_second_seed_and_draws_b_minus_a(monkeypatch):
    """With the shipped checkpoints, "one text, two models" pairs sentiment-lstm with sentiment-lstm-s2."""
    if not (SHIPPED / "sentiment-lstm" / "meta.json").is_file():
        pytest.skip("the shipped sentiment-lstm is not in this checkout")
    s2 = SHIPPED / "sentiment-lstm-s2"
    meta = json.loads((s2 / "meta.json").read_text(encoding="utf-8"))  # shipped beside sentiment-lstm
    base = json.loads((SHIPPED / "sentiment-lstm" / "meta.json").read_text(encoding="utf-8"))
    config = {k: v for k, v in meta["config"].items() if v is not None}  # fields added since: at their default
    assert config == base["config"] and meta["train_config"]["seed"] == 2
    assert meta["vocab"] == base["vocab"]  # same recipe, same split and vocabulary: only the seed differs
    monkeypatch.setenv("LSTMVIZ_CHECKPOINTS", str(SHIPPED))
    at = AppTest.from_file(str(APP), default_timeout=TIMEOUT).run()
    at.selectbox(key="checkpoint").select(str(SHIPPED / "sentiment-lstm")).run()
    at.switch_page("views/compare.py").run()
    at.radio(key="cmp_mode:ru").set_value("models").run()
    assert not at.exception and not at.error
    picker = at.selectbox(key="cmp_model_b")
    assert "sentiment-lstm-s2" in picker.options and picker.value == str(s2)
    text = "Это не плохо."
    rec = {}
    for path in (SHIPPED / "sentiment-lstm", s2):
        pred = Predictor.from_checkpoint(path)
        enc = pred.encode(text)
        with torch.no_grad(), lstmviz.record(pred.model) as r:
            pred.model(enc.ids, enc.lengths)
        rec[path.name] = r["rnn.l0.hidden"][0].numpy()  # (T, U)
    at.session_state["cmp_tab:ru"] = "скрытое состояние h"
    at.run()
    fig = next(f for f in _diff_figures(at) if "скрытое" in str(f["layout"]["title"]["text"]))
    want = (rec["sentiment-lstm-s2"] - rec["sentiment-lstm"]).T  # (U, T)
    np.testing.assert_allclose(_z(fig), want, rtol=5.001e-4, atol=1e-7)
    assert np.abs(want).max() > 0.01  # two seeds: really two different models
