"""The README's Python examples run as written (documentation that cannot rot)."""

from __future__ import annotations

import re
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"


def test_readme_python_blocks_run():
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(encoding="utf-8"), flags=re.S)
    assert blocks, "README has no ```python example"
    for i, code in enumerate(blocks):
        namespace: dict = {}
        exec(compile(code, f"README.md python block {i}", "exec"), namespace)  # noqa: S102 - our own README
        if "rec" in namespace:
            assert namespace["rec"].keys(), f"block {i}: the example recorded nothing"


def test_readme_sentiment_table_is_the_study_file():
    """The README's seed-study table is copied from checkpoints/sentiment_seeds.md, not typed by hand."""
    study = README.parent / "checkpoints" / "sentiment_seeds.md"
    table = "".join(line + "\n" for line in study.read_text(encoding="utf-8").splitlines() if line.startswith("|"))
    assert table.count("\n") > 10 and table in README.read_text(encoding="utf-8")


def test_readme_tagger_table_is_the_shipped_checkpoint_s():
    """The tagger rows are the shipped meta.json's test scores (3 decimals), model and baseline."""
    import json

    meta = json.loads((README.parent / "checkpoints" / "tagger-lstm" / "meta.json").read_text(encoding="utf-8"))
    tm = meta["test_metrics"]
    for name, m in (("most frequent tag of the word", tm["baseline"]), ("tagger-lstm", tm)):
        cells = [m["pos"]["accuracy"], m["pos"]["macro_f1"], m["ner"]["accuracy"], m["ner"]["macro_f1"]]
        row = f"| {name} | " + " | ".join(f"{v:.3f}" for v in cells) + " |"
        assert row in README.read_text(encoding="utf-8"), row


def test_readme_cell_table_is_what_the_finder_finds():
    """The interpretable-units table is find_cells on the shipped character models (corpus test split)."""
    import pytest

    corpus = README.parents[1] / "shared" / "data" / "opensentimentcorpus"
    if not corpus.is_dir():
        pytest.skip(f"the corpus is absent ({corpus})")
    from lstmviz.cellfinder import find_cells
    from lstmviz.chardata import prepare_chars
    from lstmviz.checkpoint import load_checkpoint

    data = prepare_chars(corpus, seed=0)
    text = "".join(data.chars[i] if i > 1 else "?" for i in data.test[:20_000].tolist())
    readme = README.read_text(encoding="utf-8")
    rows = {
        line.split(" | ")[0].lstrip("| "): line.split(" | ")[1:]
        for line in readme.splitlines()
        if line.startswith("| ") and line.count(" | ") == 3 and "," in line.split(" | ")[1]
    }
    names = {
        "pos_in_word": "position in the word",
        "vowel": "vowel",
        "consonant": "consonant",
        "word_start": "word start",
        "word_end": "word end",
        "since_punct": "characters since punctuation",
        "capital": "capital letter",
        "digit": "digit",
        "in_quotes": "inside quotes",
        "in_parens": "inside brackets",
    }
    # The finder runs each model over 20,000 characters in one float32 sequence: another CPU's kernels (oneDNN or
    # not, AVX2 or AVX-512, FMA) move r by ~1e-5 (measured up to 2e-5 with other kernels forced on one machine).
    # Some printed values sit closer than that to a rounding boundary (GRU word start: 6e-5), and two RNN units
    # tie for "word end" within 3e-5, so the table is compared at its printed precision, not as a string: the
    # README's unit must be the best up to `drift`, and its r within half a printed unit (+ `drift`) of the printed r.
    drift = 1e-3  # 50x the drift seen; 1/10 of a printed unit
    for k, cell in enumerate(("rnn", "gru", "lstm")):
        model, meta = load_checkpoint(README.parent / "checkpoints" / f"charlm-{cell}")
        found = find_cells(model, meta["chars"], text)
        for feature, label in names.items():
            shown = rows[label][k].strip(" |")
            parsed = re.fullmatch(r"(\d+), (\d+), ([+−]\d\.\d\d)", shown)
            assert parsed, (cell, feature, shown)  # "layer, unit, r" with a typographic minus
            layer, unit, r_shown = int(parsed[1]), int(parsed[2]), float(parsed[3].replace("−", "-"))
            mine = found[(found["feature"] == feature) & (found["layer"] == layer) & (found["unit"] == unit)]
            assert len(mine) == 1, (cell, feature, shown)
            best = found[(found["feature"] == feature) & (found["rank"] == 1)].iloc[0]
            got = f"{int(best['layer'])}, {int(best['unit'])}, {best['r']:+.2f}".replace("-", "−")
            assert mine["abs_r"].iloc[0] >= best["abs_r"] - drift, (cell, feature, shown, got)
            assert abs(mine["r"].iloc[0] - r_shown) <= 0.005 + drift, (cell, feature, shown, float(mine["r"].iloc[0]))
