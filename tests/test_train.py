"""Tests for the trainer, experiments and CLI: tiny end-to-end runs, resume, divergence, comparison tables."""

from __future__ import annotations

import json
import math
import re
from dataclasses import replace

import numpy as np
import pytest
import torch

import lstmviz.trainer as trainer_mod
from lstmviz.checkpoint import list_checkpoints, load_checkpoint
from lstmviz.experiments import compare_cells, resume_training, train_model
from lstmviz.models import ModelConfig, RecurrentClassifier, weights_fingerprint
from lstmviz.pipeline import Predictor
from lstmviz.profiles import make_probe
from lstmviz.taskdata import SequenceData, prepare_online, prepare_sentiment
from lstmviz.train import EXIT_DIVERGED, main
from lstmviz.trainer import ClassifierTask, TrainConfig, TrainingDiverged, fit, format_epoch_line

LINE = re.compile(
    r"^epoch \d+/\d+: train loss \d+\.\d{4} acc \d\.\d{3} \| "
    r"val loss \d+\.\d{4} acc \d\.\d{3} f1 \d\.\d{3} \| \d+\.\d s$"
)
TINY = ModelConfig(cell="gru", embed_dim=4, hidden_size=6, gate_bias=2.0)


def _cfg(**kw) -> TrainConfig:
    base = dict(epochs=2, batch_size=32, patience=0, probe_size=16, updates_per_epoch=3)
    base.update(kw)
    return TrainConfig(**base)


def _fit(model, data, cfg: TrainConfig, **kw):
    """The classifier's run of the one training loop."""
    return fit(model, ClassifierTask(data.train, data.val, cfg), cfg, **kw)


@pytest.fixture(scope="module")
def cue():
    return prepare_online("cue_recall", 3, n_val=32, n_test=32)


def test_train_config_validation():
    with pytest.raises(ValueError, match="epochs=0 is invalid; allowed: an integer >= 1"):
        TrainConfig(epochs=0)
    with pytest.raises(ValueError, match="lr=-1 is invalid"):
        TrainConfig(lr=-1)
    with pytest.raises(ValueError, match="clip_grad_norm=0 is invalid"):
        TrainConfig(clip_grad_norm=0)
    with pytest.raises(ValueError, match="unknown train config keys"):
        TrainConfig.from_dict({"epochs": 2, "momentum": 0.9})
    assert TrainConfig.from_dict(TrainConfig().to_dict()) == TrainConfig()


def test_format_epoch_line():
    h = {
        "epoch": 3,
        "train_loss": 0.41234,
        "train_acc": 0.8123,
        "val_loss": 0.5012,
        "val_acc": 0.79,
        "val_f1": 0.7012,
        "seconds": 4.21,
    }
    line = format_epoch_line(h, 20)
    assert line == "epoch 3/20: train loss 0.4123 acc 0.812 | val loss 0.5012 acc 0.790 f1 0.701 | 4.2 s"
    assert LINE.match(line)


def test_make_probe_takes_longest_cut_to_common_length():
    x = torch.tensor([[2, 3, 4, 5], [6, 7, 0, 0], [8, 9, 10, 0], [11, 0, 0, 0]])
    v = SequenceData(x, torch.tensor([4, 2, 3, 1]), torch.tensor([0, 1, 2, 3]))
    p = make_probe(v, 2)
    assert p.x.tolist() == [[2, 3, 4], [8, 9, 10]] and p.lengths.tolist() == [3, 3] and p.y.tolist() == [0, 2]


def test_end_to_end_cue_recall(cue, tmp_path):
    lines: list[str] = []
    out = tmp_path / "cue-gru"
    model, meta = train_model(cue, TINY, _cfg(), out=out, log=lines.append)
    epoch_lines = [ln for ln in lines if ln.startswith("epoch")]
    assert len(epoch_lines) == 2 and all(LINE.match(ln) for ln in epoch_lines), epoch_lines
    hist = meta["history"]
    assert [h["epoch"] for h in hist] == [1, 2]
    for h in hist:
        assert set(h) >= {
            "epoch",
            "train_loss",
            "val_loss",
            "train_acc",
            "val_acc",
            "val_f1",
            "seconds",
            "grad_profile",
        }
        assert len(h["grad_profile"]) == 5  # cue + 3 distractors + query
        assert all(math.isfinite(g) and g >= 0 for g in h["grad_profile"])
    loaded, saved = load_checkpoint(out)
    assert saved["task"] == "cue_recall" and saved["labels"] == cue.labels
    assert saved["test_metrics"]["majority_baseline"]["accuracy"] > 0
    assert len(saved["test_metrics"]["confusion"]) == 4
    assert saved["dataset"]["sha256"] and saved["train_config"]["epochs"] == 2
    assert saved["dataset"]["online"] and [h["updates"] for h in hist] == [3, 6]
    fresh = RecurrentClassifier.seeded(loaded.config, 0)  # seed 0 = TrainConfig.seed: the recorded start
    assert saved["init_fingerprint"] == weights_fingerprint(fresh) != weights_fingerprint(loaded)
    assert 0 < saved["init_grad_ratio"] < 10
    assert saved["history"][-1]["grad_profile"] == pytest.approx(hist[-1]["grad_profile"])
    ids, lengths = cue.test.x[:5], cue.test.lengths[:5]
    assert torch.equal(loaded(ids, lengths), model.eval()(ids, lengths))
    assert Predictor.from_checkpoint(out).predict("france w1 w2 w3 ?") in cue.labels


def test_resume_continues_history_exactly(cue, tmp_path):
    _, straight = train_model(cue, TINY, _cfg(epochs=4), out=tmp_path / "a", log=None)
    train_model(cue, TINY, _cfg(epochs=2), out=tmp_path / "b", log=None)
    assert len(load_checkpoint(tmp_path / "b")[1]["history"]) == 2
    _, resumed = resume_training(tmp_path / "b", overrides={"epochs": 4}, log=None)
    assert [h["epoch"] for h in resumed["history"]] == [1, 2, 3, 4]
    for a, b in zip(straight["history"], resumed["history"]):
        assert a["train_loss"] == pytest.approx(b["train_loss"], abs=1e-6)
        assert a["val_loss"] == pytest.approx(b["val_loss"], abs=1e-6)
    ma, _ = load_checkpoint(tmp_path / "a")
    mb, meta_b = load_checkpoint(tmp_path / "b")
    assert meta_b["best_epoch"] == straight["best_epoch"]
    for pa, pb in zip(ma.parameters(), mb.parameters()):
        torch.testing.assert_close(pa, pb, atol=1e-6, rtol=0)
    # the CLI does the same; a run already at its epoch limit trains nothing more
    assert main(["resume", "--out", str(tmp_path / "b"), "--epochs", "4", "--quiet"]) == 0
    assert len(load_checkpoint(tmp_path / "b")[1]["history"]) == 4


def _nan_after(monkeypatch, calls_ok: int) -> None:
    real = RecurrentClassifier.forward_embedded
    count = {"n": 0}

    def forward_embedded(self, emb, lengths):
        out = real(self, emb, lengths)
        if self.training:
            count["n"] += 1
            if count["n"] > calls_ok:
                return out * float("nan")
        return out

    monkeypatch.setattr(RecurrentClassifier, "forward_embedded", forward_embedded)


def test_nan_divergence_stops_and_keeps_last_good_checkpoint(cue, tmp_path, monkeypatch):
    out = tmp_path / "ck"
    _nan_after(monkeypatch, calls_ok=3)  # 3 updates per epoch: epoch 2 diverges
    with pytest.raises(TrainingDiverged, match="diverged at epoch 2: loss is nan.*still holds epoch 1"):
        train_model(cue, TINY, _cfg(epochs=3), out=out, log=None)
    monkeypatch.undo()
    model, meta = load_checkpoint(out)
    assert [h["epoch"] for h in meta["history"]] == [1]
    assert all(torch.isfinite(p).all() for p in model.parameters())


def test_cli_exit_code_3_on_divergence(tmp_path, monkeypatch, capsys):
    _nan_after(monkeypatch, calls_ok=0)
    rc = main(
        [
            "recurrent",
            "--task",
            "cue_recall",
            "--lag",
            "2",
            "--updates-per-epoch",
            "2",
            "--epochs",
            "2",
            "--hidden",
            "4",
            "--embed",
            "4",
            "--quiet",
            "--threads",
            "1",
            "--out",
            str(tmp_path / "c"),
        ]
    )
    assert rc == EXIT_DIVERGED
    assert "diverged" in capsys.readouterr().err
    assert not (tmp_path / "c").exists()


def test_early_stopping_on_val_f1(cue, monkeypatch):
    real = trainer_mod.evaluate

    def flat(model, data, **kw):  # val macro-F1 never improves after epoch 1
        return {**real(model, data, **kw), "macro_f1": 0.5}

    monkeypatch.setattr(trainer_mod, "evaluate", flat)
    model = RecurrentClassifier.seeded(
        ModelConfig(cell="rnn", vocab_size=20, embed_dim=4, hidden_size=4, num_classes=4), 0
    )
    result = _fit(model, cue, _cfg(epochs=10, patience=2), log=None)
    assert len(result.history) == 3 and result.stop_reason == "early_stopping" and result.best_epoch == 1


def test_compare_writes_tables(cue, tmp_path):
    rows = compare_cells(cue, TINY, _cfg(epochs=1), root=tmp_path, log=None)
    assert [r["cell"] for r in rows] == ["rnn", "gru", "lstm"]
    assert [p.name for p in list_checkpoints(tmp_path)] == ["cue-gru", "cue-lstm", "cue-rnn"]
    table = (tmp_path / "cue_recall_comparison.md").read_text()
    assert table.startswith("| cell | parameters |") and "| lstm |" in table
    js = json.loads((tmp_path / "cue_recall_comparison.json").read_text())
    assert js["rows"][0]["parameters"] > 0 and "majority_macro_f1" in js["rows"][0]
    # every cell is scored on the same held-out sets
    assert {load_checkpoint(tmp_path / r["checkpoint"])[1]["dataset"]["sha256"] for r in rows} == {
        cue.meta["dataset"]["sha256"]
    }


def test_solved_stops_at_the_first_evaluation_reaching_stop_at(cue, monkeypatch):
    real = trainer_mod.evaluate
    accs = iter([0.5, 0.97, 0.99])

    def rising(model, data, **kw):
        return {**real(model, data, **kw), "accuracy": next(accs)}

    monkeypatch.setattr(trainer_mod, "evaluate", rising)
    seen = []
    model = RecurrentClassifier.seeded(
        ModelConfig(cell="gru", vocab_size=20, embed_dim=4, hidden_size=4, num_classes=4), 0
    )
    result = _fit(model, cue, _cfg(epochs=10, stop_at=0.95), log=None, on_epoch=seen.append)
    assert result.stop_reason == "solved" and result.solved_at == 6 and len(result.history) == 2
    assert [h["val_acc"] for h in seen] == [0.5, 0.97]


def test_callbacks_stop_a_run(cue):
    model = RecurrentClassifier.seeded(
        ModelConfig(cell="lstm", vocab_size=20, embed_dim=4, hidden_size=4, num_classes=4), 1
    )
    result = _fit(model, cue, _cfg(epochs=10), log=None, on_epoch=lambda h: h["epoch"] == 2)
    assert result.stop_reason == "callback" and len(result.history) == 2
    calls = {"n": 0}

    def should_stop() -> bool:
        calls["n"] += 1
        return calls["n"] > 4  # 3 updates per epoch: stops inside epoch 2, which is not recorded

    result = _fit(model, cue, _cfg(epochs=10), log=None, should_stop=should_stop)
    assert result.stop_reason == "stopped" and len(result.history) == 1


def test_adding_task_trains_a_regression_head(tmp_path):
    data = prepare_online("adding", 6, n_val=32, n_test=32)
    model, meta = train_model(data, TINY, _cfg(epochs=1), out=tmp_path / "add", log=None)
    assert model.config.head == "regress" and model.config.input_dim == 2
    tm = meta["test_metrics"]
    assert tm["mse"] == tm["loss"] > 0 and tm["baseline_mse"] == pytest.approx(1 / 6)
    assert load_checkpoint(tmp_path / "add")[1]["task"] == "adding"


def _tiny_csv(tmp_path):
    """30 labelled sentences (3 labels) as ``tmp_path/tiny.csv``."""
    rows = [
        ("Я люблю этот фильм", "positive"),
        ("Ужасный фильм, я не люблю его", "negative"),
        ("Фильм вышел в пятницу", "neutral"),
    ] * 10
    csv = tmp_path / "tiny.csv"
    csv.write_text("Sentence,Sentiment\n" + "\n".join(f'"{t}",{lab}' for t, lab in rows), encoding="utf-8")
    return csv


def test_sentiment_from_a_small_csv(tmp_path):
    csv = _tiny_csv(tmp_path)
    data = prepare_sentiment(csv, min_freq=1)
    assert data.labels == ["negative", "neutral", "positive"]
    assert data.meta["dataset"]["file"] == "tiny.csv" and len(data.meta["dataset"]["sha256"]) == 64
    out = tmp_path / "sent"
    _, meta = train_model(data, TINY, _cfg(epochs=1, class_weighted=True, probe_size=4), out=out, log=None)
    p = Predictor.from_checkpoint(out)
    assert p.predict("Я люблю фильм") in data.labels and p.vocab is not None
    csv.write_text(csv.read_text(encoding="utf-8") + '\n"Новая строка",neutral', encoding="utf-8")
    with pytest.raises(ValueError, match="data for .* changed since training"):
        resume_training(out, overrides={"epochs": 2}, log=None)


def test_frozen_pretrained_embedding_trains_resumes_and_stays_fixed(tmp_path):
    """--navec --freeze-embedding path: the vectors never move, resume works without storing them twice."""
    from safetensors.torch import load_file

    from lstmviz.bow import BowConfig

    csv = _tiny_csv(tmp_path)
    data = prepare_sentiment(csv, min_freq=1)
    vectors = np.linspace(-1, 1, data.vocab_size * 6, dtype=np.float32).reshape(data.vocab_size, 6)
    vectors[0] = 0
    cfg = ModelConfig.from_dict({**TINY.to_dict(), "embed_dim": 6, "freeze_embedding": True})
    out = tmp_path / "frozen"
    model, meta = train_model(data, cfg, _cfg(epochs=2, probe_size=4), pretrained=vectors, out=out, log=None)
    np.testing.assert_array_equal(model.embedding.weight.detach().numpy(), vectors)
    assert meta["pretrained_embedding"] and "model.embedding.weight" not in load_file(str(out / "opt.safetensors"))
    resumed, _ = resume_training(out, overrides={"epochs": 3}, log=None)
    np.testing.assert_array_equal(resumed.embedding.weight.detach().numpy(), vectors)
    # the bag-of-words baseline goes through the same trainer and checkpoint code
    bow, bmeta = train_model(data, BowConfig(), _cfg(epochs=2, probe_size=4), out=tmp_path / "bow", log=None)
    assert bmeta["init_grad_ratio"] is None and all(h["grad_profile"] is None for h in bmeta["history"])
    assert load_checkpoint(tmp_path / "bow")[1]["model_kind"] == "bow"


# ----- the character-model and tagger trainers: validated configs, budgets in updates and epochs only (issue 18)


def _tiny_tags():
    from lstmviz.tagdata import TagData

    sentences = [
        (["Мама", "мыла", "раму", "."], ["NOUN", "VERB", "NOUN", "PUNCT"], ["O", "O", "O", "O"]),
        (["Путин", "прилетел", "в", "Москву"], ["PROPN", "VERB", "ADP", "PROPN"], ["B-PER", "O", "O", "B-LOC"]),
    ]
    words = ["<pad>", "<unk>"] + sorted({w.lower() for s in sentences for w in s[0]})
    chars = ["<pad>", "<unk>"] + sorted({c for s in sentences for w in s[0] for c in w})
    return TagData(words, chars, sentences * 3, sentences, sentences, meta={"dataset": {"path": "hand-written"}})


BAD_VALUES = [
    ("lr", -1, "a number > 0"),
    ("lr", float("nan"), "a number > 0"),
    ("batch_size", 0, "an integer >= 1"),
    ("batch_size", 2.5, "an integer >= 1"),
    ("seed", "x", "an integer >= 0"),
    ("seed", -1, "an integer >= 0"),
    ("weight_decay", -0.1, "a number >= 0"),
    ("clip_grad_norm", 0, "None or a number > 0"),
    ("clip_grad_norm", True, "None or a number > 0"),
]


LM_BAD_VALUES = [
    ("max_updates", 0, "an integer >= 1"),
    ("seq_len", 0, "an integer >= 1"),
    ("eval_every", -5, "an integer >= 1"),
]


@pytest.mark.parametrize("field, value, allowed", BAD_VALUES + LM_BAD_VALUES)
def test_lm_train_config_refuses_bad_values_naming_field_value_and_allowed(field, value, allowed):
    from lstmviz.lmtrainer import LMTrainConfig

    with pytest.raises(ValueError, match=re.escape(f"{field}={value!r} is invalid; allowed: {allowed}")):
        LMTrainConfig(**{field: value})


@pytest.mark.parametrize("field, value, allowed", BAD_VALUES + [("epochs", 0, "an integer >= 1")])
def test_tag_train_config_refuses_bad_values_naming_field_value_and_allowed(field, value, allowed):
    from lstmviz.tagtrainer import TagTrainConfig

    with pytest.raises(ValueError, match=re.escape(f"{field}={value!r} is invalid; allowed: {allowed}")):
        TagTrainConfig(**{field: value})


def test_char_and_tagger_configs_take_good_values_and_no_clipping():
    from lstmviz.lmtrainer import LMTrainConfig
    from lstmviz.tagtrainer import TagTrainConfig

    assert LMTrainConfig(lr=1, weight_decay=0, clip_grad_norm=None, seed=7).clip_grad_norm is None
    assert TagTrainConfig(lr=0.5, weight_decay=0.0, clip_grad_norm=None, epochs=1).epochs == 1


@pytest.fixture
def clock_jumps_an_hour_per_reading(monkeypatch):
    """Every reading of any clock is an hour after the previous one, as on a very loaded machine."""
    import itertools
    import time

    ticks = itertools.count(0.0, 3600.0)
    for name in ("perf_counter", "monotonic", "time"):
        monkeypatch.setattr(time, name, lambda: next(ticks))


def test_charlm_budget_is_updates_only(tmp_path, clock_jumps_an_hour_per_reading):
    """The shipped 3,000-update runs stay reproducible: no wall-clock limit cuts a slow run short."""
    from dataclasses import fields

    from lstmviz.chardata import prepare_chars
    from lstmviz.charlm import CharLMConfig
    from lstmviz.lmtrainer import LMTrainConfig, train_charlm

    assert not [f.name for f in fields(LMTrainConfig) if "second" in f.name or "time" in f.name]
    data = prepare_chars(_tiny_csv(tmp_path), min_count=1)
    cfg = LMTrainConfig(max_updates=6, eval_every=3, batch_size=2, seq_len=8)
    _, meta = train_charlm(data, CharLMConfig(cell="gru", embed_dim=3, hidden_size=4), cfg, log=None)
    assert meta["updates"] == 6 and [h["updates"] for h in meta["history"]] == [3, 6]
    assert "max_seconds" not in meta["train_config"]


def test_tagger_budget_is_epochs_only(clock_jumps_an_hour_per_reading):
    """The shipped 20-epoch tagger stays reproducible: no wall-clock limit cuts a slow run short."""
    from dataclasses import fields

    from lstmviz.tagger import TaggerConfig
    from lstmviz.tagtrainer import TagTrainConfig, train_tagger

    assert not [f.name for f in fields(TagTrainConfig) if "second" in f.name or "time" in f.name]
    cfg = TaggerConfig(word_dim=4, char_dim=3, char_channels=5, hidden_size=4)
    _, meta = train_tagger(_tiny_tags(), cfg, TagTrainConfig(epochs=3, batch_size=4), log=None)
    assert [h["epoch"] for h in meta["history"]] == [1, 2, 3]
    assert "max_seconds" not in meta["train_config"]


# --------------------------------------------------------------------------- the one loop, for every kind


class _Line(trainer_mod.BaseTask):
    """A user's own kind: y = 3 x from endless random batches (its private generator), scored by -val MSE."""

    def __init__(self, nan_after: int | None = None):
        self.generator = torch.Generator().manual_seed(0)
        self.val_x = torch.linspace(-1, 1, 8)[:, None]  # (8, 1)
        self.calls, self.nan_after = 0, nan_after

    def batches(self):
        while True:
            yield torch.randn(4, 1, generator=self.generator)  # (B, 1)

    def loss(self, model, x):
        self.calls += 1
        loss = ((model(x) - 3 * x) ** 2).mean()
        if self.nan_after is not None and self.calls > self.nan_after:
            loss = loss * float("nan")
        return loss, {"loss": loss.item() * len(x), "n": len(x)}

    def evaluate(self, model):
        with torch.no_grad():
            return {"mse": float(((model(self.val_x) - 3 * self.val_x) ** 2).mean())}

    def score(self, row):
        return -row["val_mse"]


def test_a_users_own_task_trains_through_the_one_loop():
    model = torch.nn.Linear(1, 1, bias=False)
    seen = []
    cfg = trainer_mod.FitConfig(epochs=4, updates_per_epoch=5, lr=0.1, weight_decay=0.0, quiet=True)
    result = fit(model, _Line(), cfg, on_epoch=seen.append)
    assert [h["updates"] for h in result.history] == [5, 10, 15, 20] and seen == result.history
    assert {"train_loss", "val_mse", "grad_norm_median", "clipped", "seconds"} <= set(result.history[0])
    assert result.best_epoch == max(range(1, 5), key=lambda e: -result.history[e - 1]["val_mse"])
    assert result.history[-1]["val_mse"] < result.history[0]["val_mse"] and result.updates == 20
    capped = fit(torch.nn.Linear(1, 1, bias=False), _Line(), replace(cfg, epochs=9, max_updates=12))
    assert [h["updates"] for h in capped.history] == [5, 10, 12] and capped.stop_reason == "max_updates"


def test_fit_refuses_what_is_not_a_task_and_an_endless_task_without_updates_per_epoch(cue):
    model = torch.nn.Linear(1, 1)
    with pytest.raises(TypeError, match="task=OnlineStream is not a Task .*ClassifierTask"):
        fit(model, cue.train, cue.val)
    with pytest.raises(ValueError, match="_Line draws endless batches; set updates_per_epoch"):
        fit(model, _Line(), trainer_mod.FitConfig())


def test_a_users_task_diverging_is_stopped():
    cfg = trainer_mod.FitConfig(epochs=3, updates_per_epoch=2, quiet=True)
    with pytest.raises(TrainingDiverged, match="diverged at epoch 2: loss is nan"):
        fit(torch.nn.Linear(1, 1, bias=False), _Line(nan_after=2), cfg)


def test_char_lm_and_tagger_get_the_loop_s_divergence_check_and_callbacks(tmp_path, monkeypatch):
    from lstmviz.chardata import prepare_chars
    from lstmviz.charlm import CharLMConfig
    from lstmviz.lmtrainer import CharLMTask, LMTrainConfig, train_charlm
    from lstmviz.tagger import TaggerConfig
    from lstmviz.tagtrainer import TagTrainConfig, train_tagger

    data = prepare_chars(_tiny_csv(tmp_path), min_count=1)
    lm, lm_cfg = (
        CharLMConfig(cell="gru", embed_dim=3, hidden_size=4),
        LMTrainConfig(max_updates=6, eval_every=2, batch_size=2, seq_len=8),
    )
    _, meta = train_charlm(data, lm, lm_cfg, log=None, on_epoch=lambda h: h["updates"] == 4)
    assert [h["updates"] for h in meta["history"]] == [2, 4] and meta["updates"] == 4
    tag = TaggerConfig(word_dim=4, char_dim=3, char_channels=5, hidden_size=4)
    _, meta = train_tagger(_tiny_tags(), tag, TagTrainConfig(epochs=3, batch_size=4), log=None, on_epoch=lambda h: True)
    assert [h["epoch"] for h in meta["history"]] == [1]
    real = CharLMTask.loss
    monkeypatch.setattr(CharLMTask, "loss", lambda self, m, b: (real(self, m, b)[0] * float("nan"), {}))
    with pytest.raises(TrainingDiverged, match="diverged at epoch 1: loss is nan"):
        train_charlm(data, lm, lm_cfg, log=None)


def test_tagger_dropout_is_seeded_by_the_run_not_by_the_caller_s_generator():
    """Dropout draws from the global generator seeded with the run's seed (inside fork_rng): whatever state the caller
    left it in, the run repeats, and the caller gets its generator back."""
    from lstmviz.tagger import TaggerConfig
    from lstmviz.tagtrainer import TagTrainConfig, train_tagger

    cfg = TaggerConfig(word_dim=4, char_dim=3, char_channels=5, hidden_size=4, dropout=0.5)
    runs = []
    for caller_seed in (1, 2):
        torch.manual_seed(caller_seed)
        before = torch.get_rng_state()
        model, meta = train_tagger(_tiny_tags(), cfg, TagTrainConfig(epochs=2, batch_size=4), log=None)
        assert torch.equal(torch.get_rng_state(), before)
        runs.append((weights_fingerprint(model), [h["train_loss"] for h in meta["history"]]))
    assert runs[0] == runs[1]
