"""A user's model in the Generation and Word tagging views: the README's word language model continues a prefix
through :func:`lstmviz.adapters.generate` (the same tokens for a seed, other tokens for another seed, the global
generator untouched, the model untouched), a ``tags`` adapter tags every token (:func:`lstmviz.adapters.tag`), and
the dashboard opens both through AppTest from a models file."""

from __future__ import annotations

import copy
import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch
from streamlit.testing.v1 import AppTest
from test_own_model import own_model_blocks

from lstmviz.adapters import MAX_GENERATE_TOKENS, Adapter, generate, load_models_file, tag
from lstmviz.sentence import EmptyTextError

ROOT = Path(__file__).resolve().parents[1]
APP = ROOT / "dashboard" / "app.py"
TEXT = "the cat sat on a mat"

TAGGER_FILE = """
import re

import torch
from torch import nn

from lstmviz.adapters import Adapter


def tokenize(text):
    return [(m.group(), m.start(), m.end(), len(m.group()) % 7) for m in re.finditer(r"\\S+", text)]


class Tagger(nn.Module):
    def __init__(self):
        super().__init__()
        self.emb = nn.Embedding(7, 6)
        self.rnn = nn.LSTM(6, 5, batch_first=True, bidirectional=True)
        self.head = nn.Linear(10, 3)

    def forward(self, ids):  # (1, T)
        return self.head(self.rnn(self.emb(ids))[0])  # (1, T, 3)


torch.manual_seed(0)
MODELS = [Adapter("tiny-tagger", Tagger().eval(), tokenize, output="tags", labels=["A", "B", "C"],
                  examples=["a dog ran to the red house"])]
"""


@pytest.fixture(scope="module")
def models_file(tmp_path_factory) -> Path:
    """The README's models file, saved as a reader saves it."""
    folder = tmp_path_factory.mktemp("own_generate")
    blocks = own_model_blocks()
    assert blocks[0].startswith("# my_models.py")
    (folder / "my_models.py").write_text(blocks[0], encoding="utf-8")
    return folder / "my_models.py"


@pytest.fixture(scope="module")
def tagger_file(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("own_tagger")
    (folder / "tag_models.py").write_text(TAGGER_FILE, encoding="utf-8")
    return folder / "tag_models.py"


@pytest.fixture(scope="module")
def word_lm(models_file) -> Adapter:
    return {a.name: a for a in load_models_file(models_file)}["word-lm"]


@pytest.fixture(scope="module")
def tiny_tagger(tagger_file) -> Adapter:
    (a,) = load_models_file(tagger_file)
    return a


# ----- the library -----------------------------------------------------------------------------------------------
def test_generation_is_seeded_privately_and_leaves_the_model_alone(word_lm):
    before = torch.get_rng_state()
    one = generate(word_lm, TEXT, 20, temperature=1.0, top_k=None, seed=3)
    again = generate(word_lm, TEXT, 20, temperature=1.0, top_k=None, seed=3)
    other = generate(word_lm, TEXT, 20, temperature=1.0, top_k=None, seed=4)
    assert torch.equal(torch.get_rng_state(), before), "generate drew from the global generator"
    assert one["ids"] == again["ids"] and one["p"] == again["p"]
    assert one["ids"] != other["ids"], "two seeds gave the same 20 tokens"
    assert one["prefix_tokens"] == TEXT.split() and len(one["ids"]) == 20
    assert one["tokens"] == [word_lm.labels[i] for i in one["ids"]]
    for key in ("p", "p_sampled"):
        assert all(0.0 <= p <= 1.0 for p in one[key]), one[key]
    # the whole sequence recorded once: prefix + generated, every layer of the LSTM
    assert tuple(one["recording"]["rnn.l1.forget"].shape) == (1, 26, 16)
    a = one["analysis"]
    assert a.tokens == TEXT.split() + one["tokens"] and a.extra["prefix_len"] == 6
    assert a.text == TEXT + "".join(" " + w for w in one["tokens"])
    assert [a.text[s:e] for s, e in a.extra["spans"]] == a.tokens
    # the recorded pass gives each chosen token the probability it was sampled under (temperature 1, no top-k)
    np.testing.assert_allclose(a.probs[5:-1, 0], one["p"], rtol=0, atol=1e-5)
    np.testing.assert_allclose(one["p"], one["p_sampled"], rtol=0, atol=1e-6)
    assert math.isnan(a.probs[-1, 0])
    assert not word_lm.model.training and all(p.grad is None for p in word_lm.model.parameters())


def test_top_k_and_temperature_shape_the_sampling(word_lm):
    greedy = generate(word_lm, TEXT, 8, temperature=1.0, top_k=1, seed=0)
    assert greedy["p_sampled"] == [1.0] * 8  # one candidate left: drawn for sure
    assert greedy["ids"] == generate(word_lm, TEXT, 8, temperature=1.0, top_k=1, seed=99)["ids"]  # seed-free
    cold = generate(word_lm, TEXT, 8, temperature=0.05, top_k=None, seed=5)
    assert all(ps >= p for ps, p in zip(cold["p_sampled"], cold["p"]))  # a low temperature sharpens
    assert generate(word_lm, TEXT, 0, seed=0)["ids"] == []


def test_a_model_in_training_mode_is_sampled_without_dropout_and_left_training(word_lm):
    training = Adapter(
        "lm-train", copy.deepcopy(word_lm.model).train(), word_lm.tokenize, output="next_token", forward=word_lm.forward
    )
    a = generate(training, TEXT, 10, top_k=3, seed=1)
    b = generate(training, TEXT, 10, top_k=3, seed=1)
    assert a["ids"] == b["ids"] and a["tokens"] == [str(i) for i in a["ids"]]  # no labels: the ids
    assert training.model.training  # a shared model's mode is never flipped


def test_generate_refuses_bad_arguments(word_lm, tiny_tagger):
    for kwargs, what in (
        ({"length": MAX_GENERATE_TOKENS + 1}, "length="),
        ({"length": 3, "temperature": 0.0}, "temperature="),
        ({"length": 3, "top_k": 0}, "allowed: None or"),
        ({"length": 3, "seed": -1}, "seed="),
    ):
        with pytest.raises(ValueError, match=what):
            generate(word_lm, TEXT, **kwargs)
    with pytest.raises(ValueError, match="output='next_token'"):
        generate(tiny_tagger, TEXT, 3)
    with pytest.raises(EmptyTextError):
        generate(word_lm, "!!! ...", 3)


def test_tag_gives_every_token_its_most_probable_tag(tiny_tagger, word_lm):
    frame = tag(tiny_tagger, "a dog ran")
    assert frame.columns.tolist() == ["step", "token", "start", "end", "id", "tag", "p", "p(A)", "p(B)", "p(C)"]
    assert frame["token"].tolist() == ["a", "dog", "ran"]
    probs = frame[["p(A)", "p(B)", "p(C)"]].to_numpy()
    np.testing.assert_allclose(probs.sum(1), 1.0, rtol=0, atol=1e-6)
    assert frame["tag"].tolist() == [["A", "B", "C"][k] for k in probs.argmax(1)]
    np.testing.assert_allclose(frame["p"], probs.max(1), rtol=0, atol=0)
    assert frame["p"].between(1 / 3, 1).all()
    with pytest.raises(ValueError, match="output='tags'"):
        tag(word_lm, TEXT)


# ----- the dashboard -----------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def tiny_root(tmp_path_factory):
    from lstmviz.testing import make_tiny_checkpoints

    root = tmp_path_factory.mktemp("ckpts")
    make_tiny_checkpoints(root)
    return root


def _app(monkeypatch, tiny_root, *files: Path) -> AppTest:
    import os

    monkeypatch.setenv("LSTMVIZ_MODELS", os.pathsep.join(str(f) for f in files))
    monkeypatch.setenv("LSTMVIZ_CHECKPOINTS", str(tiny_root))
    return AppTest.from_file(str(APP), default_timeout=90)


def _heatmaps(at) -> list[dict]:
    figures = [json.loads(el.proto.spec) for el in at.get("plotly_chart")]
    return [f for f in figures if f["data"] and f["data"][0].get("type") == "heatmap"]


def _ok(at) -> None:
    assert not at.exception, at.exception
    assert not at.error, [e.value for e in at.error]


def test_the_generation_view_continues_with_the_word_lm(models_file, tagger_file, tiny_root, monkeypatch):
    at = _app(monkeypatch, tiny_root, models_file, tagger_file)
    at.run()
    at.switch_page("views/generate.py").run()
    _ok(at)
    picker = at.selectbox(key="gen_model")
    assert "word-lm · ваша модель" in picker.options, picker.options
    assert not any(o.startswith("tiny-tagger") for o in picker.options)  # a tagger does not generate
    picker.set_value("adapter:word-lm").run()
    _ok(at)
    assert at.text_input(key="gen_prefix").value == TEXT  # the adapter's first example
    assert at.header[0].value == "Ваша модель продолжает текст"  # not the character models' title
    (code,) = at.code
    assert code.value.startswith(TEXT + " ") and len(code.value.split()) == 6 + 20
    heat = _heatmaps(at)
    assert heat, "no heatmap of the word-lm"
    assert len(heat[0]["data"][0]["x"]) == 26  # prefix + 20 generated tokens
    figures = [json.loads(el.proto.spec) for el in at.get("plotly_chart")]
    lines = [f for f in figures if f["data"] and f["data"][0].get("type") == "scatter"]
    assert lines and {tr["name"] for tr in lines[0]["data"]} == {"по модели", "при выборке"}
    assert any("недоступен для вашей модели" in i.value for i in at.info)  # connectivity: says why not
    at.number_input(key="gen_seed").set_value(7).run()
    _ok(at)
    assert at.code[0].value != code.value  # another seed, another continuation
    at.text_input(key="gen_prefix").set_value("!!! ...").run()  # no word the tokenizer reads
    _ok(at)
    assert any("не нашёл" in i.value for i in at.info) and not at.code


def test_the_tagging_view_tags_with_a_user_tagger(models_file, tagger_file, tiny_root, monkeypatch):
    at = _app(monkeypatch, tiny_root, models_file, tagger_file)
    at.session_state["tag_model"] = "adapter:tiny-tagger"
    at.run()
    at.switch_page("views/tagger.py").run()
    _ok(at)
    picker = at.selectbox(key="tag_model")
    assert picker.value == "adapter:tiny-tagger"
    assert not any(o.startswith("word-lm") for o in picker.options)  # a language model does not tag
    assert at.header[0].value == "Ваша модель размечает текст"  # not the shipped tagger's title
    (table,) = at.dataframe
    df = table.value
    assert df.iloc[:, 1].tolist() == "a dog ran to the red house".split()
    assert set(df.iloc[:, 2]) <= {"A", "B", "C"} and df.iloc[:, 3].between(0, 1).all()
    heat = _heatmaps(at)
    assert heat and len(heat[0]["data"][0]["x"]) == 7
    layer = at.selectbox(key="tag_own_layer:ru")
    assert len(layer.options) == 2  # one layer, both directions
    layer.set_value((0, 1)).run()
    _ok(at)
    assert _heatmaps(at)


@pytest.mark.parametrize("lang", ["ru", "en"])
def test_both_views_speak_one_language_for_a_user_model(lang, models_file, tagger_file, tiny_root, monkeypatch):
    from test_language import _foreign

    at = _app(monkeypatch, tiny_root, models_file, tagger_file)
    at.session_state["gen_model"] = "adapter:word-lm"
    at.session_state["tag_model"] = "adapter:tiny-tagger"
    at.run()
    at.sidebar.radio[0].set_value(lang).run()
    problems = []
    for view in ("generate", "tagger"):
        at.switch_page(f"views/{view}.py").run()
        _ok(at)
        assert _heatmaps(at), view
        problems += [(view, *p) for p in _foreign(at, lang)]
    names = ("word-lm", "seq2seq", "cell-loop", "tiny-tagger")  # the models file's names are the user's words
    problems = [p for p in problems if not any(n in p[-1] for n in names)]
    assert not problems, problems


BIG_FILE = """
import torch
from torch import nn

from lstmviz.adapters import Adapter


class Big(nn.Module):
    def __init__(self, out):
        super().__init__()
        self.emb, self.rnn, self.head = nn.Embedding(3, 4), nn.LSTM(4, 1300, batch_first=True), nn.Linear(1300, out)

    def forward(self, ids):  # (1, T)
        return self.head(self.rnn(self.emb(ids))[0])  # (1, T, out)


def tokenize(text):
    raise AssertionError("a model above the work budget was run")


MODELS = [
    Adapter("big-lm", Big(3), tokenize, output="next_token"),
    Adapter("big-tagger", Big(2), tokenize, output="tags"),
]
"""


def test_a_model_above_the_work_budget_is_refused_before_any_work(tmp_path, tiny_root, monkeypatch):
    """1,300 units x 200 tokens (tagging) or 260 (generation) is a heatmap above the 2 MB chart budget: refused,
    named, never run."""
    big = tmp_path / "big_models.py"
    big.write_text(BIG_FILE, encoding="utf-8")
    at = _app(monkeypatch, tiny_root, big)
    at.session_state["gen_model"] = "adapter:big-lm"
    at.session_state["tag_model"] = "adapter:big-tagger"
    at.run()
    for view, what in (("generate", "«генерация»"), ("tagger", "«разметка»")):
        at.switch_page(f"views/{view}.py").run()
        assert not at.exception, at.exception
        errors = [e.value for e in at.error]
        assert any("big" in e and what in e for e in errors), (view, errors)
        assert not _heatmaps(at)
