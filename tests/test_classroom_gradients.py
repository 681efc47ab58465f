"""Classroom defects of the Gradients-through-time view (issue 21, items 6 and 7).

6. Filler tokens change the input, never the loss: the target stays the class predicted on the text without them,
   and a cue-recall sequence grows by real distractors continuing the task's cycle (not ``w1`` repeated).
7. The view shows every model trained and at the initialisation its checkpoint records, with the learned-forgetting
   versus vanishing explanation in both languages.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
from fixtures.sections import open_section
from streamlit.testing.v1 import AppTest

from dashboard import i18n
from lstmviz import sentence, whatifs
from lstmviz.checkpoint import load_checkpoint, save_checkpoint
from lstmviz.models import RecurrentClassifier, weights_fingerprint
from lstmviz.pipeline import Predictor
from lstmviz.tasks import cue_text
from lstmviz.testing import make_tiny_checkpoints

APP = Path(__file__).resolve().parents[1] / "dashboard" / "app.py"
SENTENCE = "Я не люблю дождь, но сегодня прекрасный день."
CELLS = ("rnn", "gru", "lstm")
INIT_SEED = 11  # the recorded starting point of the tiny sentiment models (any seed: they never trained)
TIMEOUT = 60


@pytest.fixture(scope="module")
def root(tmp_path_factory) -> Path:
    """Tiny checkpoints whose sentiment models record their initialisation, as trained checkpoints do."""
    root = make_tiny_checkpoints(tmp_path_factory.mktemp("ck"))
    for cell in CELLS:
        model, meta = load_checkpoint(root / f"sentiment-{cell}")
        start = RecurrentClassifier.seeded(model.config, INIT_SEED)
        meta.update(init_seed=INIT_SEED, init_fingerprint=weights_fingerprint(start))
        save_checkpoint(root / f"sentiment-{cell}", model, meta)
    return root


@pytest.fixture(scope="module")
def preds(root) -> dict[str, Predictor]:
    return {c: Predictor.from_checkpoint(root / f"sentiment-{c}") for c in CELLS}


def test_fillers_keep_the_loss_target_of_the_original_text(preds):
    """50 «и» flip the tiny GRU's prediction on «скучный»; the loss still targets the prediction without them."""
    runs = {
        c: (sentence.analyze_text(p, "скучный"), whatifs.what_if(p, "скучный", whatifs.WhatIf(filler_tokens=50)))
        for c, p in preds.items()
    }
    flipped = [c for c, (base, filled) in runs.items() if filled.predicted != base.predicted]
    assert flipped, "no tiny model flips on 50 fillers: the test lost its point"
    assert {c: runs[c][1].labels[runs[c][1].target] for c in flipped} == {
        c: runs[c][0].predicted_label for c in flipped
    }
    for cell, p in preds.items():
        base, filled = runs[cell]
        assert filled.target == base.predicted, cell
        assert filled.extra["target_source"] == "original" and filled.extra["fillers"] == ["и"] * 50
        # the loss really is the cross-entropy to the original class, on the text with fillers
        assert filled.loss == pytest.approx(-np.log(filled.probs[-1][base.predicted]), rel=1e-4)
        # a chosen target is kept as chosen
        chosen = sentence.analyze_text(p, "скучный", target="neutral", prepend=50)
        assert chosen.labels[chosen.target] == "neutral" and chosen.extra["target_source"] == "chosen"
    plain = sentence.analyze_text(preds["gru"], "скучный")
    assert plain.extra["target_source"] == "predicted" and plain.extra["fillers"] == []


@pytest.mark.parametrize("at", ["auto", "before_last", 5])
def test_cue_fillers_continue_the_distractor_cycle(root, at):
    """Fillers in a cue sequence are the task's distractors w1..w14 continuing their cycle, never w1 repeated."""
    p = Predictor.from_checkpoint(root / "cue-lstm")
    cycle = [n for n in p.token_names if re.fullmatch(r"w\d+", n)]  # w1..w14
    text = cue_text("france", 30)
    a = whatifs.what_if(p, text, whatifs.WhatIf(filler_tokens=20, filler_at=at))
    k = a.extra["filler_at"]
    fillers = a.lemmas[k : k + 20]
    assert a.kinds[k : k + 20] == ["filler"] * 20
    assert len(set(fillers)) == len(cycle), fillers  # not one token repeated
    assert fillers == a.extra["fillers"]
    assert len(a.lemmas) == 52 and a.lemmas[0] == "france" and a.lemmas[-1] == "?"

    def unbroken(run: list[str]) -> bool:  # every distractor follows the one before it in the cycle
        return all((cycle.index(b) - cycle.index(x)) % len(cycle) == 1 for x, b in zip(run, run[1:]))

    assert unbroken(a.lemmas[1 : k + 20])  # the fillers continue the distractors before them
    if at != 5:  # after the cue (ending just before w1) or before the query: the whole gap is one cycle
        assert unbroken(a.lemmas[1:-1]), a.lemmas
    # the ids fed to the model are those tokens
    ids = [p.token_names.index(n) for n in fillers]
    assert sentence.filler_ids(p, p.encode(text).ids.reshape(-1).tolist(), k, 20) == (ids, fillers)


def test_text_models_get_the_neutral_filler(preds):
    assert sentence.filler_ids(preds["lstm"], [5, 6], 0, 3)[1] == ["и"] * 3


def test_explanation_keys_exist_in_both_languages():
    for key in ("grads.init", "grads.init_explain", "whatif.filler_token", "whatif.filler_target"):
        assert i18n.RU.get(key) and i18n.EN.get(key) and i18n.RU[key] != i18n.EN[key], key
    assert "забывание" in i18n.RU["grads.init_explain"] and "forgetting" in i18n.EN["grads.init_explain"]


@pytest.fixture
def app(root, monkeypatch) -> AppTest:
    monkeypatch.setenv("LSTMVIZ_CHECKPOINTS", str(root))
    at = AppTest.from_file(str(APP), default_timeout=TIMEOUT)
    at.run()
    at.switch_page("views/gradients.py").run()
    at.text_area(key="text_widget_grads").input(SENTENCE).run()
    assert not at.exception and not at.error
    return at


def test_view_shows_each_model_trained_and_at_initialisation(app, preds):
    """The section's table holds every model's ratio trained and at its recorded start, as the library computes."""
    open_section(app, "grad_section", "init").run()
    assert i18n.t("grads.init", lang="ru") in [h.value for h in app.subheader]
    assert i18n.t("grads.init_explain", lang="ru") in [c.value for c in app.caption]
    col_init, col_trained = i18n.t("grads.init_start", lang="ru"), i18n.t("grads.init_trained", lang="ru")
    table = next(d.value for d in app.dataframe if col_init in d.value.columns)
    by_model = table.set_index(i18n.t("grads.init_model", lang="ru"))
    for cell, p in preds.items():
        trained = sentence.analyze_text(p, SENTENCE)
        start = whatifs.what_if(p, SENTENCE, whatifs.WhatIf(untrained=True), target=trained.labels[trained.target])
        row = by_model.loc[f"sentiment-{cell}"]
        assert row[col_trained] == pytest.approx(trained.grad_ratio, rel=1e-9)
        assert row[col_init] == pytest.approx(start.grad_ratio, rel=1e-9)
        assert row[col_init] != pytest.approx(row[col_trained], rel=1e-3)  # really other weights
    # one chart with a curve per model trained and at initialisation (dotted)
    names = {
        tr["name"]: tr.get("line", {}).get("dash")
        for f in (el.proto.spec for el in app.get("plotly_chart"))
        for tr in json.loads(f)["data"]
        if "инициализация" in tr.get("name", "")
    }
    assert len(names) == 3 and set(names.values()) == {"dot"}, names
    app.session_state["lang"] = "en"
    app.run()
    assert i18n.t("grads.init_explain", lang="en") in [c.value for c in app.caption]


def test_view_names_the_filler_and_the_fixed_target(app):
    app.slider(key="whatif_filler").set_value(50).run()
    assert not app.exception and not app.error
    captions = [c.value for c in app.caption]
    assert any("«и»" in c and "50" in c for c in captions), captions
    assert any(c.startswith(i18n.t("whatif.filler_target", lang="ru", items="")[:30]) for c in captions), captions


SHIPPED = Path(__file__).resolve().parents[1] / "checkpoints"


@pytest.mark.skipif(
    not all((SHIPPED / n / "meta.json").is_file() for n in ("sentiment-lstm", "cue-rnn", "cue-lstm")),
    reason="the shipped checkpoints are not here",
)
def test_switching_to_another_task_compares_that_tasks_models(monkeypatch):
    """A model of another task in the sidebar brings its task's models, not an empty list ("pick models")."""
    monkeypatch.setenv("LSTMVIZ_CHECKPOINTS", str(SHIPPED))
    at = AppTest.from_file(str(APP), default_timeout=120)
    at.session_state["checkpoint"] = str(SHIPPED / "sentiment-lstm")
    at.switch_page("views/gradients.py").run()
    assert [Path(p).name for p in at.multiselect(key="grad_models").value][:1] == ["sentiment-rnn"]
    at.selectbox(key="checkpoint").set_value(str(SHIPPED / "cue-lstm")).run()
    assert not at.exception
    chosen = [Path(p).name for p in at.multiselect(key="grad_models").value]
    assert chosen and all(n.startswith("cue-") for n in chosen), chosen
    at.multiselect(key="grad_models").set_value([]).run()  # emptied on purpose, same task: stays empty
    assert at.multiselect(key="grad_models").value == []
