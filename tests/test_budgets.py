"""One checkpoint folder must not take the server down (issue 19, section 2).

Symbol tables (chars, words, tags, labels) are validated when meta.json is read; every view sizes its work from
the config before it starts (lstmviz.budget) and refuses, in one translated message, a model within the parameter
limit whose recordings would not fit. No test here runs the attack itself: the big model is only ever refused.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import psutil
import pytest
import torch

from lstmviz.checkpoint import MAX_PARAMETERS, CheckpointError, load_checkpoint, read_meta

REPO = Path(__file__).resolve().parents[1]
SHIPPED = REPO / "checkpoints"
APP = REPO / "dashboard" / "app.py"


def _copy(name: str, dest: Path) -> Path:
    src = SHIPPED / name
    if not (src / "meta.json").is_file():
        pytest.skip(f"{src} is not shipped in this checkout")
    shutil.copytree(src, dest)
    return dest


def _edit_meta(folder: Path, edit) -> Path:
    meta = json.loads((folder / "meta.json").read_text(encoding="utf-8"))
    edit(meta)
    (folder / "meta.json").write_text(json.dumps(meta, ensure_ascii=False), encoding="utf-8")
    return folder / "meta.json"


# ----- symbol tables ------------------------------------------------------------------------------------------


def test_a_thousand_character_chars_entry_is_refused_at_load_naming_the_field(tmp_path):
    d = _copy("charlm-lstm", tmp_path / "wide")

    def widen(meta):
        meta["chars"][5] = "ж" * 1000  # 158 entries of up to 1,000 characters: the outage's meta.json

    meta_path = _edit_meta(d, widen)
    for read in (lambda: read_meta(meta_path), lambda: load_checkpoint(d)):
        with pytest.raises(CheckpointError) as err:
            read()
        msg = str(err.value)
        assert str(meta_path) in msg and "'chars' entry 5" in msg and "one character" in msg, msg
        assert len(msg) < 400 and "ж" * 30 not in msg, msg  # the bad entry is shortened


@pytest.mark.parametrize(
    "name, field, index, value, phrase",
    [
        ("charlm-lstm", "chars", 7, None, "repeats an earlier entry"),
        ("charlm-lstm", "chars", 7, "", "is empty"),
        ("tagger-lstm", "words", 9, "", "is empty"),
        ("tagger-lstm", "words", 9, None, "repeats an earlier entry"),
        ("tagger-lstm", "chars", 9, "ab", "is too long"),
        ("tagger-lstm", "pos_tags", 3, None, "repeats an earlier entry"),
        ("tagger-lstm", "ner_tags", 1, "B-" + "X" * 200, "is too long"),
        ("sentiment-gru", "labels", 1, None, "repeats an earlier entry"),
        ("sentiment-gru", "labels", 1, "", "is empty"),
        ("sentiment-gru", "labels", 1, 7, "not a string"),
        ("cue-lstm", "token_names", 4, "a\nb", "control character"),
    ],
)
def test_duplicate_empty_and_long_symbols_are_refused_naming_field_and_entry(
    tmp_path, name, field, index, value, phrase
):
    d = _copy(name, tmp_path / name)

    def spoil(meta):
        meta[field][index] = meta[field][0] if value is None else value  # None: a copy of entry 0

    meta_path = _edit_meta(d, spoil)
    with pytest.raises(CheckpointError) as err:
        read_meta(meta_path)
    msg = str(err.value)
    assert str(meta_path) in msg and f"'{field}' entry {index}" in msg and phrase in msg and "allowed:" in msg, msg


# ----- work budgets: the library --------------------------------------------------------------------------------


def test_check_work_refuses_naming_the_model_the_work_and_the_budget():
    from lstmviz.budget import DEFAULT_BUDGET, WorkBudget, WorkBudgetError, check_work

    assert check_work("charlm-lstm", 128, 2, 1, 20_000, 1, what="cell finder").values == 5_120_000
    with pytest.raises(WorkBudgetError) as err:
        check_work("big-lm", 1024, 8, 1, 20_000, 1, what="cell finder")
    e = err.value
    assert (e.model, e.measure, e.amount, e.limit) == ("big-lm", "values", 163_840_000, DEFAULT_BUDGET.max_values)
    for part in ("'big-lm'", "cell finder", "163,840,000", "1,024 units × 8 layers", f"{DEFAULT_BUDGET.max_values:,}"):
        assert part in str(e), str(e)
    with pytest.raises(WorkBudgetError, match="table rows"):
        check_work("m", 1024, 8, 1, 280, 6, tabulated=True)
    with pytest.raises(WorkBudgetError, match="bytes of chart JSON"):
        check_work("m", 64, 1, 1, 10, 1, WorkBudget(max_figure_bytes=100), drawn=1000)


def _meta_only(folder: Path, kind: str, config: dict) -> Path:
    """A checkpoint folder holding only meta.json: the budget is computed from it, nothing else is read."""
    folder.mkdir(parents=True)
    meta = {"schema_version": 1, "model_kind": kind, "config": config, "cell": config.get("cell", "lstm")}
    (folder / "meta.json").write_text(json.dumps(meta), encoding="utf-8")
    return folder


@pytest.mark.parametrize(
    "kind, config, view",
    [
        ("charlm", {"cell": "lstm", "vocab_size": 40, "hidden_size": 1024, "num_layers": 8}, "generate"),
        ("charlm", {"cell": "lstm", "vocab_size": 40, "hidden_size": 1024, "num_layers": 8}, "connectivity"),
        (
            "tagger",
            {"cell": "lstm", "word_vocab_size": 40, "char_vocab_size": 40, "hidden_size": 512, "num_layers": 8},
            "tagger",
        ),
        ("recurrent", {"cell": "lstm", "vocab_size": 40, "hidden_size": 1024, "num_layers": 8}, "gates"),
    ],
)
def test_every_view_refuses_a_model_within_the_parameter_limit_from_its_meta_alone(tmp_path, kind, config, view):
    from dashboard import state
    from lstmviz.budget import WorkBudgetError
    from lstmviz.kinds import get_kind

    cfg = get_kind(kind).config(config)
    assert sum(torch.Size(s).numel() for s in get_kind(kind).shapes(cfg).values()) < MAX_PARAMETERS
    d = _meta_only(tmp_path / f"big-{view}", kind, config)
    with pytest.raises(WorkBudgetError, match=f"big-{view}"):
        state.check_view(str(d), state.stamp(d), view)


# ----- the shipped models fit every view with margin ---------------------------------------------------------------

MARGIN = 3  # every shipped model uses at most a third of each budget in every view


def test_every_shipped_model_fits_every_view_with_margin():
    from dashboard import state
    from lstmviz.budget import DEFAULT_BUDGET as B

    views = {"charlm": ("generate", "connectivity"), "tagger": ("tagger",), "recurrent": ("gates",)}
    seen = set()
    for d in sorted(p.parent for p in SHIPPED.glob("*/meta.json")):
        kind = read_meta(d / "meta.json").get("model_kind", "recurrent")  # its symbol tables pass too
        for view in views.get(kind, ()):
            for w in state.view_plan(str(d), state.stamp(d), view):
                seen.add((kind, w.what))
                assert w.values * MARGIN <= B.max_values, (d.name, view, w)
                assert w.rows * MARGIN <= B.max_rows, (d.name, view, w)
                assert w.figure_bytes * MARGIN <= B.max_figure_bytes, (d.name, view, w)
    if (SHIPPED / "charlm-lstm").is_dir():  # the cell finder's 20,000 characters are counted
        assert ("charlm", "cell finder") in seen and state.CELL_TEXT_CHARS == 20_000


def test_the_cell_finder_keeps_only_the_quantity_it_uses_and_matches_the_recorder():
    import lstmviz
    from lstmviz.cellfinder import layer_states
    from lstmviz.charlm import CharLM, CharLMConfig

    ids = torch.randint(2, 30, (1, 300), generator=torch.Generator().manual_seed(0))
    for cell in ("rnn", "gru", "lstm"):
        model = CharLM.seeded(CharLMConfig(cell=cell, vocab_size=30, embed_dim=5, hidden_size=9, num_layers=3), 1)
        quantity = "cell" if cell == "lstm" else "hidden"
        with torch.no_grad(), lstmviz.record(model.eval()) as rec:
            model(ids)
        rng = torch.random.get_rng_state()
        states = list(layer_states(model, ids, quantity))
        assert torch.equal(rng, torch.random.get_rng_state())  # the global RNG is untouched
        assert len(states) == 3
    from lstmviz.budget import WorkBudget, WorkBudgetError
    from lstmviz.cellfinder import find_cells

    chars = ["<pad>", "<unk>"] + [chr(1072 + i) for i in range(28)]
    with pytest.raises(WorkBudgetError, match="'tiny': the cell finder would need 8,100 recorded numbers"):
        find_cells(model, chars, "абв" * 100, budget=WorkBudget(max_values=8000), name="tiny")  # 9 × 3 × 300
        for layer, v in enumerate(states):
            torch.testing.assert_close(v, rec[lstmviz.make_key("rnn", layer, 0, quantity)][0], rtol=1e-5, atol=1e-5)


# ----- the Generation view refuses the big model fast and small; the rest keeps working ---------------------------

_BUILD = """
import sys
from lstmviz.charlm import CharLM, CharLMConfig
from lstmviz.checkpoint import save_checkpoint
chars = ["<pad>", "<unk>"] + list(" абвгдеёжзийклмнопрстуфхцчшщъыьэюя.,!")
cfg = CharLMConfig(cell="lstm", vocab_size=len(chars), embed_dim=32, hidden_size=1024, num_layers=8)
model = CharLM(cfg)
print(sum(p.numel() for p in model.parameters()))
save_checkpoint(sys.argv[1], model, {"task": "charlm", "chars": chars})
"""


class _PeakRSS:
    """Peak resident memory of this process while the block runs (sampled every 5 ms)."""

    def __enter__(self):
        self.proc, self.stop = psutil.Process(), threading.Event()
        self.start = self.peak = self.proc.memory_info().rss
        self.thread = threading.Thread(target=self._watch, daemon=True)
        self.thread.start()
        return self

    def _watch(self):
        while not self.stop.wait(0.005):
            self.peak = max(self.peak, self.proc.memory_info().rss)

    def __exit__(self, *exc):
        self.stop.set()
        self.thread.join()
        self.peak = max(self.peak, self.proc.memory_info().rss)

    @property
    def growth(self) -> int:
        return self.peak - self.start


def test_generation_view_refuses_a_63m_parameter_char_lm_in_under_5_s_and_500_mb(tmp_path, monkeypatch):
    from streamlit.testing.v1 import AppTest

    root = tmp_path / "root"
    # built and saved with lstmviz's own save_checkpoint, in a child process (4 s, 0.5 GB there, 241 MB on disk)
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    out = subprocess.run(
        [sys.executable, "-c", _BUILD, str(root / "aaa-big")],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    n_params = int(out.stdout.split()[-1])
    assert 60_000_000 < n_params < MAX_PARAMETERS  # within every stated limit
    _copy("charlm-lstm", root / "charlm-lstm")
    _copy("sentiment-gru", root / "sentiment-gru")
    wide = _copy("charlm-rnn", root / "aa-wide")  # sorts first, but its table is refused: not offered
    _edit_meta(wide, lambda m: m["chars"].__setitem__(5, "ж" * 1000))
    from dashboard import state
    from lstmviz.budget import WorkBudgetError

    with pytest.raises(WorkBudgetError):  # refused from meta.json alone: the page below never runs the attack
        state.check_view(str(root / "aaa-big"), state.stamp(root / "aaa-big"), "generate")
    monkeypatch.setenv("LSTMVIZ_CHECKPOINTS", str(root))
    monkeypatch.setenv("LSTMVIZ_CORPUS", str(tmp_path / "no-corpus"))  # the cell finder reads the page's text
    at = AppTest.from_file(str(APP), default_timeout=30).run()
    assert not at.exception
    with _PeakRSS() as mem:
        t0 = time.perf_counter()
        at.switch_page("views/generate.py").run()
        seconds = time.perf_counter() - t0
    assert not at.exception
    assert at.selectbox(key="gen_model").value == str(root / "aaa-big")  # the default: every visitor gets it
    errors = [e.value.replace("\\", "") for e in at.error]  # the name is Markdown-escaped
    assert len(errors) == 1 and "aaa-big" in errors[0] and "бюджет" in errors[0], errors
    assert "Не удалось построить страницу" not in errors[0]  # the translated refusal, not the generic error
    print(f"refused in {seconds:.2f} s, peak RSS growth {mem.growth / 2**20:.0f} MB")
    assert seconds < 5, seconds
    assert mem.growth < 500 * 2**20, mem.growth / 2**20
    assert not at.get("plotly_chart")  # nothing was computed
    # the other models of the same view still work; the big one is left out of the connectivity, said so
    at.selectbox(key="gen_model").set_value(str(root / "charlm-lstm")).run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert at.get("plotly_chart")
    assert any("aaa\\-big" in c.value and "связность" in c.value for c in at.caption), [c.value for c in at.caption]
    # and the other views
    at.switch_page("views/gates.py").run()
    assert not at.exception and not at.error and at.get("plotly_chart")
    at.session_state["lang"] = "en"
    at.switch_page("views/generate.py").run()
    at.selectbox(key="gen_model").set_value(str(root / "aaa-big")).run()
    assert [e.value for e in at.error] and "budget" in at.error[0].value, [e.value for e in at.error]
