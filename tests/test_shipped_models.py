"""The shipped cue-recall checkpoints are right at every lag the dashboard can produce.

They were trained on online cue recall with a random lag per batch: GRU and LSTM on 5-200, the
RNN on 5-10 (on 5-200 it stays at chance, on 5-20 at ~0.5: see checkpoints/RETRAIN.md). The
per-lag test sets are rebuilt from the seeds in ``meta.json`` (the training stream rejected every
one inside its lag range; the others were never drawn), and the models are scored here, not read
from the meta. The RNN then shows Bengio et al.'s (1994) latching: it holds the cue across 200
distractors while its gradient from the end back to the cue is 1e-76 to 1e-34, which is why it cannot
*learn* such lags (the sweeps), although it can keep them.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from lstmviz.checkpoint import load_checkpoint
from lstmviz.profiles import gradient_ratio, make_probe
from lstmviz.taskdata import lag_test_sets
from lstmviz.trainer import evaluate

ROOT = Path(__file__).resolve().parents[1] / "checkpoints"
LAGS = (5, 50, 200)


def _scores(cell: str):
    path = ROOT / f"cue-{cell}"
    if not (path / "meta.json").is_file():
        pytest.skip(f"{path} is not shipped in this checkout")
    model, meta = load_checkpoint(path)
    p, ds = meta["task_params"], meta["dataset"]
    assert ds["online"] and p["lag"] <= 5 and p["lag_max"] >= 10, "trained on random lags from 5"
    sets = lag_test_sets(
        "cue_recall",
        min(LAGS),
        max(LAGS),
        ds["seed"],
        lags=LAGS,
        params={"n_classes": p["n_classes"], "vocab_size": p["vocab_size"]},
    )
    scores = {lag: evaluate(model.eval(), data)["accuracy"] for lag, data in sets.items()}
    for lag, acc in scores.items():  # the meta's table is what the models really score
        if str(lag) in meta["test_by_lag"]:
            assert meta["test_by_lag"][str(lag)]["accuracy"] == pytest.approx(acc, abs=1e-9)
    return scores, meta, model, sets


@pytest.mark.parametrize("cell", ["rnn", "gru", "lstm"])
def test_cue_models_are_right_at_lags_5_50_200(cell):
    scores, meta, model, _ = _scores(cell)
    assert all(acc >= 0.95 for acc in scores.values()), scores
    assert len(meta["init_fingerprint"]) == 64 and meta["solved_at"] is not None


def test_rnn_keeps_the_cue_while_its_gradient_vanishes():
    ratios = {}
    for cell in ("rnn", "gru", "lstm"):
        _, _, model, sets = _scores(cell)
        ratios[cell] = gradient_ratio(model.eval(), make_probe(sets[200], 64))
    assert 0 < ratios["rnn"] < 1e-30, ratios  # float64: tiny but not underflowed
    assert ratios["gru"] > 1e-10 and ratios["lstm"] > 1e-10, ratios


def latching_sentence(spread: dict) -> str:
    """The README's and RETRAIN.md's words for the RNN's ratio range at lag 200 (computed, never typed)."""
    return (
        f"between {spread['min']:.1e} and {spread['max']:.1e} per sequence (geometric mean "
        f"{spread['geomean']:.1e}) over its {spread['n']:,} held-out sequences at lag 200"
    )


def test_the_quoted_latching_range_is_what_ratio_spread_computes():
    from lstmviz.profiles import ratio_spread

    _, _, model, sets = _scores("rnn")
    spread = ratio_spread(model.eval(), make_probe(sets[200], len(sets[200])))
    assert spread["n"] == 1024 and 0 < spread["min"] <= spread["geomean"] <= spread["max"] < 1e-30, spread
    assert spread["float32_zero"] == spread["n"], spread  # float32 underflows on every sequence
    words = latching_sentence(spread)
    for doc in (ROOT.parent / "README.md", ROOT / "RETRAIN.md"):
        text = " ".join(doc.read_text(encoding="utf-8").split())
        assert words in text, f"{doc.name} should say: {words}"


# sha256 of torch.randn(64, generator=torch.Generator().manual_seed(0)) as drawn on the machines that trained the
# shipped models: PyTorch's CPU kernel draws 16+ float32 normals with a vectorised Box-Muller when the CPU has AVX2
# (AVX-512 draws the same bits), and other bits with its scalar code (a CPU without AVX2, ATEN_CPU_CAPABILITY=default).
AVX2_NORMALS = "e1275a785936ab2f402174ff3c60fb3b7367f0d6ee9dfce7a6ea1f8d41520484"


def _draws_the_training_machine_s_normals() -> bool:
    import hashlib

    import torch

    x = torch.randn(64, generator=torch.Generator().manual_seed(0))
    return hashlib.sha256(x.numpy().tobytes()).hexdigest() == AVX2_NORMALS


@pytest.mark.parametrize(
    "name", ["sentiment-rnn", "sentiment-gru", "sentiment-lstm", "sentiment-lstm-s2", "cue-rnn", "cue-gru", "cue-lstm"]
)
def test_untrained_what_if_is_the_recorded_initialisation(name):
    """The Gradients view's "untrained" model is exactly where training started (fingerprint stored at training).

    The cue models' embeddings were drawn by ``torch.randn``, whose bits depend on the CPU (see ``AVX2_NORMALS``):
    on a CPU that draws other normals their start cannot be rebuilt, and the what-if must refuse rather than show
    another model as "untrained" (on every AVX2 or AVX-512 machine, Intel or AMD, it is rebuilt exactly)."""
    from lstmviz.models import UnknownInitialisation, weights_fingerprint
    from lstmviz.pipeline import Predictor
    from lstmviz.whatifs import WhatIf, make_variant

    path = ROOT / name
    if not (path / "meta.json").is_file():
        pytest.skip(f"{path} is not shipped in this checkout")
    pred = Predictor.from_checkpoint(path)
    try:
        variant = make_variant(pred, WhatIf(untrained=True))
    except UnknownInitialisation as e:
        if _draws_the_training_machine_s_normals():
            raise  # this CPU draws the training machine's numbers: the start must be rebuilt exactly
        assert "do not match the stored init_fingerprint" in str(e), e  # refused for the draws, not a missing record
        return
    assert weights_fingerprint(variant.model) == pred.meta["init_fingerprint"]
    assert weights_fingerprint(pred.model) != pred.meta["init_fingerprint"]  # the shared model is untouched


def test_cue_fillers_widen_the_cue_query_gap_and_the_classroom_scenario_shows_vanishing():
    from lstmviz.pipeline import Predictor
    from lstmviz.sentence import analyze_text
    from lstmviz.tasks import cue_text
    from lstmviz.whatifs import WhatIf, what_if

    paths = {c: ROOT / f"cue-{c}" for c in ("rnn", "gru", "lstm")}
    if not all((p / "meta.json").is_file() for p in paths.values()):
        pytest.skip("the cue checkpoints are not shipped in this checkout")
    preds = {c: Predictor.from_checkpoint(p) for c, p in paths.items()}
    a = what_if(preds["lstm"], "france w1 w2 ?", WhatIf(filler_tokens=20))  # auto: after the cue
    assert a.tokens[0] == "france" and a.tokens.index("?") == 23 and a.predicted_label == "french"
    # the classroom scenario (dashboard.components.CLASSROOM_LAG = 100 distractors)
    rel = {
        c: analyze_text(p, cue_text("france", 100)).grad_frame().query("quantity == 'grad_hidden'")["norm_rel"]
        for c, p in preds.items()
    }
    assert 0 < rel["rnn"].iloc[0] < 1e-3 * rel["lstm"].iloc[0], {c: r.iloc[0] for c, r in rel.items()}


@pytest.mark.parametrize("cell", ["rnn", "gru", "lstm"])
def test_every_gates_preset_is_predicted_as_its_stated_label(cell):
    """The Gates view's presets are sentences the shipped sentiment models get right."""
    from dashboard.components import PRESETS_RU
    from lstmviz.pipeline import Predictor
    from lstmviz.sentence import analyze_text

    path = ROOT / f"sentiment-{cell}"
    if not (path / "meta.json").is_file():
        pytest.skip(f"{path} is not shipped in this checkout")
    pred = Predictor.from_checkpoint(path)
    assert len(PRESETS_RU) >= 6 and set(PRESETS_RU.values()) >= {"positive", "negative", "neutral"}
    wrong = {text: analyze_text(pred, text, grads=False).predicted_label for text in PRESETS_RU}
    wrong = {text: got for text, got in wrong.items() if got != PRESETS_RU[text]}
    assert not wrong, wrong


def test_presets_are_not_corpus_sentences(corpus_dir):
    from dashboard.components import PRESETS_RU
    from lstmviz.datasets import load_opensentiment

    corpus = set(load_opensentiment(corpus_dir)["text"].str.strip())
    assert not [t for t in PRESETS_RU if t.strip() in corpus]
