"""The researcher's path: the README's "Your own model" section runs verbatim (a models file and a notebook), its
recordings equal the float64 reference, and the dashboard opens the models file's models in the Gates and
Gradients views through AppTest. Nothing a checkpoint folder or a link holds makes the app import a module."""

from __future__ import annotations

import copy
import json
import re
import sys
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from reference import step, unrolled
from streamlit.testing.v1 import AppTest

from lstmviz import record
from lstmviz.adapters import Adapter, ModelsFileError, analyze, load_models_file

ROOT = Path(__file__).resolve().parents[1]
APP = ROOT / "dashboard" / "app.py"
README = ROOT / "README.md"
TEXT = "the cat sat on a mat"


def own_model_blocks() -> list[str]:
    """The python blocks of the README's "Your own model" section, in order."""
    text = README.read_text(encoding="utf-8")
    start = text.index("\n## Your own model\n")
    end = text.find("\n## ", start + 1)
    section = text[start : end if end > 0 else None]
    return re.findall(r"```python\n(.*?)```", section, flags=re.S)


@pytest.fixture(scope="module")
def models_dir(tmp_path_factory):
    """The section's first block saved as my_models.py, the way a reader saves it."""
    folder = tmp_path_factory.mktemp("own")
    blocks = own_model_blocks()
    assert len(blocks) == 2, "the section has the models file and the notebook"
    assert blocks[0].startswith("# my_models.py")
    (folder / "my_models.py").write_text(blocks[0], encoding="utf-8")
    return folder


@pytest.fixture(scope="module")
def notebook(models_dir):
    """The section's notebook block, executed verbatim beside my_models.py; its namespace."""
    sys.path.insert(0, str(models_dir))
    try:
        namespace: dict = {}
        code = compile(own_model_blocks()[1], "README.md: Your own model, notebook", "exec")
        exec(code, namespace)  # noqa: S102 - our own README
        return namespace
    finally:
        sys.path.remove(str(models_dir))
        sys.modules.pop("my_models", None)


def test_the_notebook_records_every_model_and_plots_them(notebook):
    assert tuple(notebook["rec_lm"]["rnn.l1.forget"].shape) == (1, 6, 16)
    assert tuple(notebook["rec_s2s"]["decoder.l0.hidden"].shape) == (1, 6, 16)  # six calls, one sequence
    assert tuple(notebook["rec_loop"]["cells.1.l0.grad_cell"].shape) == (2, 6, 16)
    fig = notebook["fig"]
    assert fig.data and len(fig.data[0].z) == 16  # units x tokens
    curves = notebook["curves"]
    names = {tr.name for tr in curves.data}
    assert len(names) >= 2, names  # encoder and decoder each have their line
    assert not notebook["loop"].training  # the notebook put it back


def _ids(namespace) -> torch.Tensor:
    return torch.tensor([[i for *_, i in namespace["tokenize"](TEXT)]])  # (1, 6)


def _close(a, b, what):
    torch.testing.assert_close(a, b, rtol=0, atol=1e-10, msg=what)


def test_word_lm_equals_the_float64_reference(notebook):
    lm = copy.deepcopy(notebook["lm"]).double().eval()
    ids = _ids(notebook)
    with record(lm, grads=True) as rec:
        logits, _ = lm(ids.t(), lm.init_hidden(1))
        rec.backward(F.cross_entropy(logits[:-1, 0], ids[0, 1:]))
    emb = lm.encoder(ids[0]).detach()  # (T, E)
    ref = unrolled(lm.rnn, [emb])
    F.cross_entropy(lm.decoder(ref["out"][0])[:-1], ids[0, 1:]).backward()
    for layer in range(2):
        steps = ref[(layer, 0)][0]
        _close(rec[f"rnn.l{layer}.forget"][0], torch.stack([s["gates"]["forget"] for s in steps]), "forget")
        _close(rec[f"rnn.l{layer}.cell"][0], torch.stack([s["c"] for s in steps]), "cell")
        _close(rec[f"rnn.l{layer}.grad_hidden"][0], torch.stack([s["h"].grad for s in steps]), "grad_hidden")
        _close(rec[f"rnn.l{layer}.grad_cell"][0], torch.stack([s["c"].grad for s in steps]), "grad_cell")
    # the notebook's float32 recording is the same numbers to float32 rounding
    torch.testing.assert_close(
        notebook["rec_lm"]["rnn.l1.forget"][0].double(),
        torch.stack([s["gates"]["forget"] for s in ref[(1, 0)][0]]),
        rtol=0,
        atol=1e-5,
    )


def _gru_weights(gru):
    return gru.weight_ih_l0, gru.weight_hh_l0, gru.bias_ih_l0, gru.bias_hh_l0


def test_seq2seq_decoder_steps_equal_the_float64_reference(notebook):
    model = copy.deepcopy(notebook["seq2seq"]).double().eval()
    ids = _ids(notebook)
    with record(model, grads=True) as rec:
        rec.backward(notebook["reverse_loss"](model, ids))
    emb = model.embedding(ids[0]).detach()
    h = torch.zeros(16, dtype=torch.float64)
    for x in emb:  # the encoder, one step at a time
        _, h, _ = step("gru", x, h, None, *_gru_weights(model.encoder))
    target = ids[0].flip(0)
    token, hs, logits = 1, [], []  # <eos> first, then teacher forcing
    for t in range(len(target)):
        gates, h, _ = step("gru", model.embedding.weight[token].detach(), h, None, *_gru_weights(model.decoder))
        h.retain_grad()
        hs.append((gates, h))
        logits.append(model.out(h))
        token = int(target[t])
    F.cross_entropy(torch.stack(logits), target).backward()
    _close(rec["decoder.l0.update"][0], torch.stack([g["update"] for g, _ in hs]), "decoder update gate")
    _close(rec["decoder.l0.hidden"][0], torch.stack([h for _, h in hs]), "decoder hidden")
    _close(rec["decoder.l0.grad_hidden"][0], torch.stack([h.grad for _, h in hs]), "decoder dL/dh_t")


def test_cell_loop_equals_the_float64_reference(notebook):
    model = copy.deepcopy(notebook["loop"]).double().eval()  # eval: no dropout, so the reference needs no masks
    ids = _ids(notebook)
    with record(model, grads=True) as rec:
        rec.new_sequence()
        out = model(ids)
        rec.backward(out[0, 1])
    xs = model.embedding(ids[0]).detach()
    states = [(torch.zeros(16, dtype=torch.float64), torch.zeros(16, dtype=torch.float64)) for _ in range(2)]
    kept = [[], []]
    for x in xs:
        for k, cell in enumerate(model.cells):
            w = (cell.weight_ih, cell.weight_hh, cell.bias_ih, cell.bias_hh)
            gates, h, c = step("lstm", x, states[k][0], states[k][1], *w)
            h.retain_grad()
            c.retain_grad()
            kept[k].append((gates, h, c))
            states[k] = (h, c)
            x = h
    model.head(x)[1].backward()
    for k in range(2):
        key = f"cells.{k}.l0"
        _close(rec[f"{key}.input"][0], torch.stack([g["input"] for g, _, _ in kept[k]]), f"{key} input gate")
        _close(rec[f"{key}.grad_hidden"][0], torch.stack([h.grad for _, h, _ in kept[k]]), f"{key} dL/dh_t")
        _close(rec[f"{key}.grad_cell"][0], torch.stack([c.grad for _, _, c in kept[k]]), f"{key} dL/dc_t")


def test_the_adapters_analyse_each_model(models_dir):
    adapters = {a.name: a for a in load_models_file(models_dir / "my_models.py")}
    assert list(adapters) == ["word-lm", "seq2seq", "cell-loop"]
    lm = analyze(adapters["word-lm"], TEXT)
    assert lm.tokens == TEXT.split() and lm.probs.shape == (6, 1) and lm.cell == "lstm" and lm.num_layers == 2
    s2s = analyze(adapters["seq2seq"], TEXT)
    assert s2s.extra["modules"] == {"encoder": ("gru", 1, 1, 6), "decoder": ("gru", 1, 1, 6)}
    assert s2s.tokens == TEXT.split()  # the encoder reads the tokens
    from lstmviz.adapters import for_module

    assert for_module(s2s, "decoder").tokens == ["1", "2", "3", "4", "5", "6"]  # the decoder's steps are outputs
    loop = analyze(adapters["cell-loop"], TEXT)
    assert set(loop.extra["modules"]) == {"cells.0", "cells.1"} and loop.labels == ["no", "yes"]
    # the shared model was not touched: eval mode, no .grad
    for a in adapters.values():
        assert not a.model.training
        assert all(p.grad is None for p in a.model.parameters())


# ----- the dashboard ------------------------------------------------------------------------------------------------
def _app(monkeypatch, models_dir, tiny_root) -> AppTest:
    monkeypatch.setenv("LSTMVIZ_MODELS", str(models_dir / "my_models.py"))
    monkeypatch.setenv("LSTMVIZ_CHECKPOINTS", str(tiny_root))
    return AppTest.from_file(str(APP), default_timeout=90)


@pytest.fixture(scope="module")
def tiny_root(tmp_path_factory):
    from lstmviz.testing import make_tiny_checkpoints

    root = tmp_path_factory.mktemp("ckpts")
    make_tiny_checkpoints(root)
    return root


def _figures(at) -> list[dict]:
    return [json.loads(el.proto.spec) for el in at.get("plotly_chart")]


@pytest.mark.parametrize("name", ["word-lm", "seq2seq", "cell-loop"])
def test_the_dashboard_opens_each_model_in_gates_and_gradients(name, models_dir, tiny_root, monkeypatch):
    at = _app(monkeypatch, models_dir, tiny_root)
    at.session_state["checkpoint"] = f"adapter:{name}"
    at.run()
    assert not at.exception, at.exception
    assert not at.error, [e.value for e in at.error]
    picker = at.sidebar.selectbox(key="checkpoint")
    assert picker.value == f"adapter:{name}"
    assert any(o.endswith("· ваша модель") and o.startswith(name) for o in picker.options), picker.options
    heatmaps = [f for f in _figures(at) if f["data"] and f["data"][0].get("type") == "heatmap"]
    assert heatmaps, "the Gates view drew no heatmap of the user's model"
    assert len(heatmaps[0]["data"][0]["x"]) == 6  # one column per token
    assert any("ваша модель из файла моделей" in c.value for c in at.caption)  # the caption describes it
    at.switch_page("views/gradients.py").run()
    assert not at.exception, at.exception
    assert not at.error, [e.value for e in at.error]
    lines = [f for f in _figures(at) if f["data"] and f["data"][0].get("type") == "scatter"]
    assert lines, "the Gradients view drew no curve of the user's model"
    targets = [r for r in at.radio if r.label == "Цель потери"]
    assert bool(targets) == (name == "cell-loop")  # only a model with classes offers a class to take the loss to
    at.switch_page("views/compare.py").run()  # two texts through the user's model: B - A of every state
    assert not at.exception, at.exception
    assert not at.error, [e.value for e in at.error]
    assert [f for f in _figures(at) if f["data"] and f["data"][0].get("type") == "heatmap"]


def test_a_module_picker_shows_the_decoder_with_its_steps(models_dir, tiny_root, monkeypatch):
    at = _app(monkeypatch, models_dir, tiny_root)
    at.session_state["checkpoint"] = "adapter:seq2seq"
    at.run()
    picker = at.selectbox(key="gates_module")
    assert picker.options == ["encoder", "decoder"]
    picker.set_value("decoder").run()
    assert not at.exception, at.exception
    heat = next(f for f in _figures(at) if f["data"] and f["data"][0].get("type") == "heatmap")
    assert [str(x) for x in heat["data"][0]["x"]][:2] != TEXT.split()[:2]  # step numbers, not the source's tokens
    assert any("6 шагов модуля, 6 токенов в тексте" in c.value for c in at.caption)


def test_a_broken_models_file_is_named_and_the_app_works(tmp_path, tiny_root, monkeypatch):
    bad = tmp_path / "bad_models.py"
    bad.write_text("raise RuntimeError('my typo')\n", encoding="utf-8")
    monkeypatch.setenv("LSTMVIZ_MODELS", str(bad))
    monkeypatch.setenv("LSTMVIZ_CHECKPOINTS", str(tiny_root))
    at = AppTest.from_file(str(APP), default_timeout=60).run()
    assert not at.exception, at.exception
    errors = [e.value.replace("\\", "") for e in at.error]  # markdown-escaped
    assert any("bad_models.py" in e and "my typo" in e for e in errors), errors
    assert [f for f in _figures(at) if f["data"]], "the shipped models still draw"


def test_models_files_are_validated(tmp_path):
    for body, why in (
        ("x = 1\n", "defines no MODELS"),
        ("MODELS = [1]\n", "must be a list of lstmviz.adapters.Adapter"),
    ):
        f = tmp_path / "m.py"
        f.write_text(body, encoding="utf-8")
        with pytest.raises(ModelsFileError, match=why):
            load_models_file(f)
    with pytest.raises(ModelsFileError, match="not a .py file"):
        load_models_file(tmp_path / "missing.py")
    with pytest.raises(ValueError, match="output='guess'"):
        Adapter("x", torch.nn.GRU(2, 3), str.split, output="guess")


def test_neither_a_checkpoint_nor_a_link_makes_the_app_import_a_module(tmp_path, tiny_root, monkeypatch):
    """A module that would leave a mark when imported, on sys.path: meta.json names it (as its kind and as a models
    file), the link names it (as a models file and as the checkpoint); it is never imported."""
    mark = tmp_path / "imported.txt"
    lib = tmp_path / "lib"
    lib.mkdir()
    (lib / "lstmviz_evil_models.py").write_text(f"open({str(mark)!r}, 'w').write('ran')\nMODELS = []\n")
    monkeypatch.syspath_prepend(str(lib))
    import shutil

    root = tmp_path / "root"
    shutil.copytree(tiny_root, root)
    victim = next(p for p in root.iterdir() if (p / "meta.json").is_file())
    meta = json.loads((victim / "meta.json").read_text(encoding="utf-8"))
    meta["model_kind"] = "lstmviz_evil_models"
    meta["models"] = "lstmviz_evil_models"
    (victim / "meta.json").write_text(json.dumps(meta), encoding="utf-8")
    monkeypatch.setenv("LSTMVIZ_CHECKPOINTS", str(root))
    monkeypatch.delenv("LSTMVIZ_MODELS", raising=False)
    at = AppTest.from_file(str(APP), default_timeout=60)
    for key, value in (("models", "lstmviz_evil_models"), ("models", str(lib / "lstmviz_evil_models.py"))):
        at.query_params[key] = value
    at.query_params["model"] = "lstmviz_evil_models"
    at.run()
    assert not at.exception, at.exception
    for page in ("views/gradients.py", "views/compare.py", "views/training.py"):
        at.switch_page(page).run()
        assert not at.exception, at.exception
    assert not mark.exists(), "a module named by a checkpoint or a link was imported"
    assert "lstmviz_evil_models" not in sys.modules


@pytest.mark.parametrize("lang", ["ru", "en"])
def test_the_user_model_views_speak_one_language(lang, models_dir, tiny_root, monkeypatch):
    import test_language
    from test_language import LATIN, _foreign

    # the models file's names are the user's words, like a typed text: "seq2seq" is not a Latin word in Russian UI
    names = {w.lower() for n in ("seq2seq", "word-lm", "cell-loop", "encoder", "decoder") for w in LATIN.findall(n)}
    names.add("не")  # the Comparison view's English intro names the Russian word of its preset pair
    monkeypatch.setattr(test_language, "ALLOWED_LATIN", test_language.ALLOWED_LATIN | names)
    at = _app(monkeypatch, models_dir, tiny_root)
    at.session_state["checkpoint"] = "adapter:seq2seq"
    at.run()
    at.sidebar.radio[0].set_value(lang).run()
    problems = []
    for page in ("gates", "gradients", "compare"):
        at.switch_page(f"views/{page}.py").run()
        assert not at.exception, (page, at.exception)
        problems += [(page, *p) for p in _foreign(at, lang)]
    from fixtures.sections import open_section

    for section in ("init", "saliency", "profiles"):  # the sections a user's model does not open say why
        open_section(at.switch_page("views/gradients.py"), "grad_section", section).run()
        problems += [("gradients", section, *p) for p in _foreign(at, lang)]
        assert any(("недоступен" if lang == "ru" else "not available") in i.value for i in at.info), section
    assert not problems, "\n".join(map(str, problems[:20]))


def test_the_gate_sections_read_every_module_of_a_user_model(models_dir, tiny_root, monkeypatch):
    from fixtures.sections import open_section

    at = _app(monkeypatch, models_dir, tiny_root)
    at.session_state["checkpoint"] = "adapter:seq2seq"
    at.run()
    for section in ("unit", "top", "saturation"):
        open_section(at, "gates_section", section).run()
        assert not at.exception, (section, at.exception)
        assert not at.error, (section, [e.value for e in at.error])
    sat = next(f for f in _figures(at) if f["data"] and f["data"][0].get("type") == "scatter")
    assert sat["data"], "the saturation chart of the encoder and decoder gates is empty"


def test_the_work_budget_refuses_a_user_model_with_the_same_message(tmp_path, tiny_root, monkeypatch):
    big = tmp_path / "big_models.py"
    big.write_text(
        "import torch\nfrom torch import nn\nfrom lstmviz.adapters import Adapter\n"
        "class Big(nn.Module):\n"
        "    def __init__(self):\n"
        "        super().__init__()\n"
        "        self.emb, self.rnn = nn.Embedding(5, 4), nn.LSTM(4, 320, 2, bidirectional=True, batch_first=True)\n"
        "        self.head = nn.Linear(640, 2)\n"
        "    def forward(self, ids):\n"
        "        return self.head(self.rnn(self.emb(ids))[0][:, -1])\n"
        "MODELS = [Adapter('big-one', Big().eval(), lambda s: [(w, 0, 1, 1) for w in s.split()], examples=['a b'])]\n",
        encoding="utf-8",
    )
    monkeypatch.setenv("LSTMVIZ_MODELS", str(big))
    monkeypatch.setenv("LSTMVIZ_CHECKPOINTS", str(tiny_root))
    at = AppTest.from_file(str(APP), default_timeout=60)
    at.session_state["checkpoint"] = "adapter:big-one"
    at.run()
    assert not at.exception, at.exception
    errors = [e.value.replace("\\", "") for e in at.error]
    # 320 units x 2 layers x 2 directions x 200 tokens x 8 quantities = 2,048,000 rows > 2,000,000
    assert any("big-one" in e and "2 048 000" in e.replace("\u202f", " ") for e in errors), errors


def test_lstmviz_dashboard_passes_the_models_file_to_the_app_only(models_dir, tmp_path):
    from lstmviz.cli.common import UsageError
    from lstmviz.cli.dashboard import streamlit_command

    command = streamlit_command(["--models", str(models_dir / "my_models.py"), "--port", "8600"], app="app.py")
    assert command[-3:] == ["--", "--models", str((models_dir / "my_models.py").resolve())]
    assert command[command.index("--server.address") + 1] == "127.0.0.1"  # still this machine only
    (tmp_path / "notes.txt").write_text("x")
    for bad in (tmp_path / "notes.txt", tmp_path / "missing.py"):
        with pytest.raises(UsageError, match="not a .py file"):
            streamlit_command(["--models", str(bad)], app="app.py")


def test_the_app_reads_models_files_from_its_own_command_line_and_the_environment(models_dir, monkeypatch):
    from dashboard import state

    monkeypatch.setattr(sys, "argv", ["app.py", "--models", str(models_dir / "my_models.py")])
    monkeypatch.setenv("LSTMVIZ_MODELS", str(models_dir / "my_models.py"))
    assert state.models_files() == (str((models_dir / "my_models.py").resolve()),)  # named twice, read once
    monkeypatch.setattr(sys, "argv", ["app.py", "--mod", "x.py"])  # no abbreviations: a typo names nothing
    monkeypatch.delenv("LSTMVIZ_MODELS")
    assert state.models_files() == ()
