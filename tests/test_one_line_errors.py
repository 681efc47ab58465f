"""Issue 19 §5, one-line errors: a checkpoint the corpus recorder cannot record, a tagger meta whose scores are not
numbers, and out-of-range sampling arguments of the library each give one line naming the file or the value and
what is allowed (exit code 2 in the CLI, never a traceback, never on a progress bar's line)."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from lstmviz.charlm import CharLM, CharLMConfig, generate
from lstmviz.checkpoint import CheckpointError, load_checkpoint, read_meta
from lstmviz.models import init_weights

REPO = Path(__file__).resolve().parents[1]
CHECKPOINTS = REPO / "checkpoints"
CHARS = ["<pad>", "<unk>", *"abc "]


# ----- the corpus CLI refuses a model kind it cannot record ------------------------------------------------
@pytest.mark.parametrize(
    ("folder", "kind"), [("sentiment-bow", "bow"), ("charlm-lstm", "charlm"), ("tagger-lstm", "tagger")]
)
def test_corpus_record_refuses_a_kind_it_cannot_record_in_one_line(tmp_path, folder, kind):
    data = tmp_path / "texts.csv"
    data.write_text("Sentence\nхороший фильм\nплохо\n", encoding="utf-8")
    checkpoint = CHECKPOINTS / folder
    r = subprocess.run(
        [sys.executable, "-m", "lstmviz.corpus", "record", "--checkpoint", str(checkpoint), "--data", str(data)]
        + ["--out", str(tmp_path / "rec")],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=300,
    )
    assert r.returncode == 2, r.stderr
    lines = r.stderr.splitlines()
    assert len(lines) == 1, r.stderr  # no progress bar, no traceback
    line = lines[0]
    assert "Traceback" not in r.stderr and "\r" not in r.stderr
    assert str(checkpoint) in line and repr(kind) in line and "allowed" in line and "recurrent" in line, line
    assert "regression" not in line  # a char-LM or a tagger is not a regression model
    assert not (tmp_path / "rec").exists()  # refused before any folder is made


def test_a_text_model_that_is_not_a_classifier_is_not_called_a_regression_model():
    from lstmviz.pipeline import Predictor

    model = CharLM(CharLMConfig(vocab_size=len(CHARS)))
    with pytest.raises(ValueError) as e:
        Predictor(model, {"chars": CHARS})  # type: ignore[arg-type]
    assert "head='lm'" in str(e.value) and "regression" not in str(e.value)


# ----- a tagger meta with scores that are not numbers --------------------------------------------------------
def _tagger_copy(tmp_path: Path, edit) -> Path:
    folder = tmp_path / "root" / "tagger-lstm"
    shutil.copytree(CHECKPOINTS / "tagger-lstm", folder)
    meta = json.loads((folder / "meta.json").read_text(encoding="utf-8"))
    edit(meta["test_metrics"])
    (folder / "meta.json").write_text(json.dumps(meta, ensure_ascii=False), encoding="utf-8")
    return folder


@pytest.mark.parametrize(
    ("edit", "field"),
    [
        (lambda m: m["pos"].__setitem__("accuracy", "0.95"), "test_metrics.pos.accuracy"),
        (lambda m: m["baseline"]["ner"]["per_tag"]["LOC"].__setitem__("f1", "high"), "test_metrics.baseline.ner"),
        (lambda m: m["ner"]["per_tag"]["PER"].__setitem__("support", 1.5), "support"),
        (lambda m: m["pos"].__setitem__("per_tag", ["ADJ"]), "test_metrics.pos.per_tag"),
        (lambda m: m.__setitem__("pos", None), "test_metrics.pos"),
        (lambda m: m.__setitem__("suffix_baseline", {"pos": {**m["pos"], "macro_f1": "0.9"}}), "suffix_baseline.pos"),
        (lambda m: m.__setitem__("suffix_baseline", [0.93]), "test_metrics.suffix_baseline"),
    ],
)
def test_a_tagger_meta_with_a_score_of_the_wrong_type_is_refused_at_load(tmp_path, edit, field):
    folder = _tagger_copy(tmp_path, edit)
    for load in (lambda: read_meta(folder / "meta.json"), lambda: load_checkpoint(folder)):
        with pytest.raises(CheckpointError) as e:
            load()
        msg = str(e.value)
        assert "\n" not in msg and str(folder / "meta.json") in msg and field in msg and "allowed" in msg, msg


def test_the_shipped_checkpoints_scores_pass():
    for meta in CHECKPOINTS.glob("*/meta.json"):
        read_meta(meta)


def test_the_word_tagging_view_shows_one_error_line_for_a_string_score(tmp_path, monkeypatch):
    from streamlit.testing.v1 import AppTest
    from test_dashboard import APP

    folder = _tagger_copy(tmp_path, lambda m: m["pos"].__setitem__("macro_f1", "0.94"))
    shutil.copytree(CHECKPOINTS / "charlm-lstm", tmp_path / "root" / "charlm-lstm")
    monkeypatch.setenv("LSTMVIZ_CHECKPOINTS", str(tmp_path / "root"))
    at = AppTest.from_file(str(APP), default_timeout=60).run()
    at.switch_page("views/tagger.py").run()
    assert not at.exception
    assert len(at.error) == 1, [e.value for e in at.error]
    msg = re.sub(r"\\(.)", r"\1", at.error[0].value)  # the path is shown Markdown-escaped
    assert "test_metrics.pos.macro_f1" in msg and folder.name in msg and "\n" not in msg.strip()
    assert not at.dataframe  # nothing drawn from the refused meta
    at.switch_page("views/generate.py").run()  # another view still works
    assert not at.exception and not at.error and at.code


# ----- sampling arguments of the library ---------------------------------------------------------------------
@pytest.fixture(scope="module")
def lm() -> CharLM:
    return CharLM.seeded(CharLMConfig(vocab_size=len(CHARS), hidden_size=8, embed_dim=4, num_layers=1), seed=0)


@pytest.mark.parametrize(
    ("kwargs", "shown"),
    [
        ({"temperature": 5e-324}, "temperature=5e-324"),
        ({"temperature": 1e-300}, "temperature=1e-300"),
        ({"seed": 2**64}, f"seed={2**64}"),
        ({"seed": -1}, "seed=-1"),
        ({"seed": 1.5}, "seed=1.5"),
        ({"seed": True}, "seed=True"),
        ({"length": 10**9}, f"length={10**9}"),
    ],
)
def test_generate_refuses_an_out_of_range_argument_naming_it_and_the_range(kwargs, shown):
    class Untouchable:  # refused before any sampling (length=10**9 used to run for hours)
        training = False

        def step(self, *args):
            raise AssertionError("sampled before the arguments were checked")

    with pytest.raises(ValueError) as e:
        generate(Untouchable(), CHARS, "ab", **{"length": 3, **kwargs})  # type: ignore[arg-type]
    msg = str(e.value)
    assert msg.startswith(shown) and "allowed" in msg and "\n" not in msg, msg


def test_generate_still_takes_the_edges_of_its_ranges(lm):
    for kwargs in ({"temperature": 1e-6}, {"temperature": 1e6}, {"seed": 2**64 - 1}, {"seed": 0}, {"top_k": 10**9}):
        text = generate(lm, CHARS, "ab", length=4, **kwargs)
        assert len(text) == 4 and set(text) <= set(CHARS[2:])
    assert generate(lm, CHARS, "ab", length=5, seed=7) == generate(lm, CHARS, "ab", length=5, seed=7)


@pytest.mark.parametrize("seed", [2**64, -1, 0.5, "3"])
def test_seeded_initialisation_refuses_a_seed_out_of_range(seed):
    with pytest.raises(ValueError) as e:
        init_weights(torch.nn.GRU(2, 3), seed)
    assert str(e.value).startswith(f"seed={seed!r}") and "allowed" in str(e.value)
    with pytest.raises(ValueError, match="^seed="):
        CharLM.seeded(CharLMConfig(vocab_size=4), seed)
