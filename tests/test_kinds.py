"""The model-kind seam: the registry, the shipped kinds' expected tensors, and a kind written at runtime in this
test (a GRU classifier that mean-pools its states, unlike any shipped model) that loads, and renders in the Gates
view through AppTest like the shipped classifiers."""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import pytest
import torch
from streamlit.testing.v1 import AppTest
from torch import nn

from lstmviz.bow import BowConfig
from lstmviz.charlm import CharLMConfig
from lstmviz.checkpoint import CheckpointError, load_checkpoint, model_kind, save_checkpoint
from lstmviz.kinds import KINDS, SHIPPED, Kind, get_kind, kind_of, register_kind, unregister_kind
from lstmviz.kinds.base import KindConfig, SeededModule, rnn_shapes
from lstmviz.models import ModelConfig
from lstmviz.pipeline import Predictor, load_predictor
from lstmviz.tagger import TaggerConfig
from lstmviz.text import TextPipeline
from lstmviz.vocab import Vocab

APP = Path(__file__).resolve().parents[1] / "dashboard" / "app.py"


# ----- a kind of the user's own, defined here -------------------------------------------------------------------
@dataclass
class PoolConfig(KindConfig):
    """Sizes of the mean-pooling GRU classifier."""

    vocab_size: int = 8  # token ids incl. <pad>=0 and <unk>=1
    embed_dim: int = 3  # embedding width
    hidden_size: int = 5  # GRU units
    num_classes: int = 2  # output classes
    head: ClassVar[str] = "classify"  # read by lstmviz.pipeline.Predictor
    cell: ClassVar[str] = "gru"


class PoolGRU(SeededModule, nn.Module):
    """Embedding -> GRU -> mean of the states over the valid steps -> linear head."""

    def __init__(self, config: PoolConfig) -> None:
        super().__init__()
        self.config = config
        self.embedding = nn.Embedding(config.vocab_size, config.embed_dim, padding_idx=0)
        self.gru = nn.GRU(config.embed_dim, config.hidden_size, batch_first=True)
        self.head = nn.Linear(config.hidden_size, config.num_classes)

    def forward_embedded(self, emb: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        out, _ = self.gru(emb)  # (B, T, H); a step never sees later (padded) steps
        mask = (torch.arange(emb.shape[1]) < lengths[:, None]).to(out.dtype)  # (B, T)
        return self.head((out * mask[..., None]).sum(1) / lengths[:, None].to(out.dtype))  # (B, C)

    def forward(self, ids: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        return self.forward_embedded(self.embedding(ids), lengths)


class PoolKind(Kind):
    name = "pool-gru"
    config_cls = PoolConfig
    model_cls = PoolGRU
    output = "classify"

    def shapes(self, config):
        return {
            "embedding.weight": (config.vocab_size, config.embed_dim),
            **rnn_shapes("gru", config.embed_dim, config.hidden_size, 1, 1, prefix="gru"),
            "head.weight": (config.num_classes, config.hidden_size),
            "head.bias": (config.num_classes,),
        }

    def views(self, config):
        return frozenset({"gates", "gradients", "compare"})

    def predictor(self, model, meta):
        return Predictor(model, meta)


@pytest.fixture
def pool_kind():
    kind = register_kind(PoolKind())
    try:
        yield kind
    finally:
        unregister_kind(kind.name)
    assert kind.name not in KINDS


def _save_pool(folder: Path) -> tuple[nn.Module, Path]:
    vocab = Vocab.build([["я", "люблю", "дождь", "не", "солнце", "день"]])
    model = PoolGRU.seeded(PoolConfig(vocab_size=len(vocab)), 3).eval()
    meta = {"vocab": vocab.to_dict(), "pipeline": TextPipeline().to_dict(), "labels": ["neg", "pos"], "task": "toy"}
    return model, save_checkpoint(folder, model, meta)


# ----- tests ----------------------------------------------------------------------------------------------------
def test_registry_lists_the_shipped_kinds_one_line_each():
    assert list(SHIPPED) == ["recurrent", "bow", "charlm", "tagger"]
    assert [KINDS[n].name for n in SHIPPED] == list(SHIPPED)
    with pytest.raises(ValueError, match="allowed: recurrent, bow, charlm, tagger"):
        get_kind("lstmviz.kinds.classifier")  # a module name selects nothing


@pytest.mark.parametrize(
    "config",
    [
        ModelConfig(cell="lstm", vocab_size=7, embed_dim=3, hidden_size=4, num_layers=2, bidirectional=True),
        ModelConfig(cell="gru", head="regress", input_dim=2, hidden_size=3),
        BowConfig(vocab_size=6, num_classes=3),
        CharLMConfig(cell="gru", vocab_size=9, embed_dim=4, hidden_size=5, num_layers=2),
        TaggerConfig(word_vocab_size=10, char_vocab_size=8, hidden_size=6),
    ],
    ids=["classifier", "regressor", "bow", "charlm", "tagger"],
)
def test_shapes_from_the_config_equal_the_built_model(config):
    kind = next(KINDS[n] for n in KINDS if KINDS[n].config_cls is type(config))
    model = kind.seeded(config, 0)
    assert kind_of(model) is kind
    assert kind.shapes(config) == {k: tuple(v.shape) for k, v in model.state_dict().items()}
    assert type(config).from_dict(config.to_dict()) == config  # the one shared round trip


def test_a_meta_naming_a_module_as_its_kind_is_refused_and_imports_nothing(tmp_path):
    _, folder = _save_pool_as_classifier(tmp_path)
    meta_path = folder / "meta.json"
    meta = json.loads(meta_path.read_text())
    for name in ("json.decoder", "lstmviz_evil_kind", "../recurrent"):
        meta["model_kind"] = name
        meta_path.write_text(json.dumps(meta))
        with pytest.raises(CheckpointError, match="is not a known model kind"):
            load_checkpoint(folder)
    assert "lstmviz_evil_kind" not in sys.modules


def _save_pool_as_classifier(tmp_path: Path):
    from lstmviz.models import RecurrentClassifier

    model = RecurrentClassifier.seeded(ModelConfig(vocab_size=5, embed_dim=2, hidden_size=3), 0)
    return model, save_checkpoint(tmp_path / "clf", model, {"labels": ["a", "b"]})


def test_register_kind_refuses_shipped_names_and_non_kinds():
    class Impostor(PoolKind):
        name = "charlm"

    with pytest.raises(ValueError, match="shipped kind"):
        register_kind(Impostor())
    with pytest.raises(TypeError, match="instance of lstmviz.kinds.Kind"):
        register_kind(PoolKind)  # the class, not an instance


def test_a_runtime_kind_saves_loads_and_predicts(pool_kind, tmp_path):
    model, folder = _save_pool(tmp_path / "pool")
    assert json.loads((folder / "meta.json").read_text())["model_kind"] == "pool-gru"
    loaded, meta = load_checkpoint(folder)
    assert model_kind(loaded) == "pool-gru"
    assert all(torch.equal(a, b) for a, b in zip(model.state_dict().values(), loaded.state_dict().values()))
    probs = load_predictor(folder).predict_proba("я не люблю дождь")
    assert probs.shape == (2,) and abs(float(probs.sum()) - 1) < 1e-6


def test_a_runtime_kind_is_refused_once_unregistered(tmp_path):
    kind = register_kind(PoolKind())
    try:
        _, folder = _save_pool(tmp_path / "pool")
    finally:
        unregister_kind(kind.name)
    with pytest.raises(CheckpointError, match="model_kind='pool-gru' is not a known model kind"):
        load_checkpoint(folder)


@pytest.mark.slow
def test_the_gates_view_renders_a_runtime_kind(pool_kind, tmp_path, monkeypatch):
    model, folder = _save_pool(tmp_path / "root" / "pool")
    monkeypatch.setenv("LSTMVIZ_CHECKPOINTS", str(folder.parent))
    at = AppTest.from_file(str(APP), default_timeout=60)
    at.run()
    assert not at.exception, at.exception
    assert not at.error, [e.value for e in at.error]
    figures = [json.loads(el.proto.spec) for el in at.get("plotly_chart")]
    heatmaps = [f for f in figures if f["data"] and f["data"][0].get("type") == "heatmap"]
    assert heatmaps, "the Gates view drew no heatmap of the runtime kind"
    # The heatmap holds the GRU's 5 units, recorded from the runtime model's own module (named "gru").
    z = heatmaps[0]["data"][0]["z"]
    rows = len(z) if isinstance(z, list) else int(str(z["shape"]).split(",")[0])
    assert rows == model.config.hidden_size


@pytest.mark.parametrize(
    ("name", "text"),
    [("sentiment-lstm", "Я не люблю дождь!"), ("charlm-gru", "Мама мыла раму"), ("tagger-lstm", "Мама мыла раму.")],
)
def test_each_shipped_kind_encodes_a_text_with_its_spans_and_predicts_distributions(name, text):
    model, meta = load_checkpoint(Path(__file__).resolve().parents[1] / "checkpoints" / name)
    kind = kind_of(model)
    enc = kind.encode(model, meta, text)
    assert [text[s:e] for s, e in enc.spans] == enc.tokens
    out = kind.predict(model, enc)
    for probs in out.values():
        want = (len(meta["labels"]),) if kind.output == "classify" else (len(enc.tokens), probs.shape[1])
        assert probs.shape == want
        assert abs(probs.sum(-1) - 1).max() < 1e-5
    if kind.output == "classify":  # the same numbers as the predictor the views use
        torch.testing.assert_close(torch.as_tensor(out["probs"]), kind.predictor(model, meta).predict_proba(text))


@pytest.mark.parametrize(
    "hostile",
    [["recurrent"], {"kind": "recurrent"}, 7, None, "recurrent'; DROP TABLE x;--", "*", "charlm[0-9]", "a" * 10_000],
    ids=["list", "dict", "int", "null", "quotes-semicolons", "glob", "glob-class", "huge"],
)
def test_a_hostile_model_kind_is_refused_in_milliseconds_and_the_list_keeps_working(tmp_path, hostile):
    import time

    from dashboard import state
    from lstmviz.corpus.record import check_recordable

    _, folder = _save_pool_as_classifier(tmp_path)
    meta_path = folder / "meta.json"
    meta = json.loads(meta_path.read_text())
    meta["model_kind"] = hostile
    meta_path.write_text(json.dumps(meta))
    start = time.perf_counter()
    with pytest.raises(CheckpointError, match="model kind") as refused:
        load_checkpoint(folder)
    assert time.perf_counter() - start < 5.0  # milliseconds here; a wide margin for a slow CPU
    assert len(str(refused.value)) < 400  # the name is cut, not echoed whole
    with pytest.raises(CheckpointError, match="cannot be recorded"):
        check_recordable(folder)
    (info,) = state.checkpoint_infos(tmp_path)  # listed with its error; nothing raised
    assert info.error and not info.views and info.recordable  # recordable: the Gates view shows the error


def test_a_runtime_kind_in_a_folder_with_glob_characters_and_quotes_lists_and_loads(pool_kind, tmp_path):
    from dashboard import state

    root = tmp_path / "ro*t[1]"
    model, folder = _save_pool(root / "po?l; 'q' \"d\"")
    (info,) = state.checkpoint_infos(root)
    assert info.error is None and info.kind == "pool-gru" and "gates" in info.views
    assert torch.equal(load_checkpoint(folder)[0].head.weight, model.head.weight)
