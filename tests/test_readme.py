"""The README's Python examples run as written (documentation that cannot rot)."""

from __future__ import annotations

import re
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"


def _without_own_model(text: str) -> str:
    """The README without its "Your own model" section, whose blocks are a file and a notebook that imports it:
    tests/test_own_model.py runs them verbatim, in that order, beside each other."""
    start = text.find("\n## Your own model\n")
    if start < 0:
        return text
    end = text.find("\n## ", start + 1)
    return text[:start] + (text[end:] if end > 0 else "")


def test_readme_python_blocks_run():
    blocks = re.findall(r"```python\n(.*?)```", _without_own_model(README.read_text(encoding="utf-8")), flags=re.S)
    assert blocks, "README has no ```python example"
    from lstmviz.kinds import KINDS, unregister_kind

    kinds_before = set(KINDS)
    for i, code in enumerate(blocks):
        namespace: dict = {}
        try:
            exec(compile(code, f"README.md python block {i}", "exec"), namespace)  # noqa: S102 - our own README
        finally:  # a block that registers a kind of its own leaves the process's registry as it found it
            for name in set(KINDS) - kinds_before:
                unregister_kind(name)
        if "rec" in namespace:
            assert namespace["rec"].keys(), f"block {i}: the example recorded nothing"


def test_readme_sentiment_table_is_the_study_file():
    """The README's seed-study tables (mean ± sd of every row, the recipe's intervals, the shipped models' intervals)
    are what results/sentiment_seeds.json gives, and sentiment_seeds.md is that file rendered: none is typed by
    hand. (tests/test_sentiment_study.py recomputes the file's intervals from its stored predictions.)"""
    from lstmviz.sentiment_study import read_study, readme_tables, study_markdown

    study = read_study(README.parent / "results" / "sentiment_seeds.json")
    md = (README.parent / "results" / "sentiment_seeds.md").read_text(encoding="utf-8")
    assert md == study_markdown(study)
    tables = readme_tables(study)
    assert len(tables) == 3 and tables[0].count("\n") > 20  # every row; the recipe's intervals; the shipped
    for table in tables:
        assert table in md and table in README.read_text(encoding="utf-8"), table.splitlines()[0]


def test_readme_tagger_table_is_the_shipped_checkpoint_s():
    """The tagger rows are the shipped meta.json's test scores (3 decimals), model and baseline."""
    import json

    meta = json.loads((README.parent / "checkpoints" / "tagger-lstm" / "meta.json").read_text(encoding="utf-8"))
    tm = meta["test_metrics"]
    for name, m in (("most frequent tag of the word", tm["baseline"]), ("tagger-lstm", tm)):
        cells = [m["pos"]["accuracy"], m["pos"]["macro_f1"], m["ner"]["accuracy"], m["ner"]["macro_f1"]]
        row = f"| {name} | " + " | ".join(f"{v:.3f}" for v in cells) + " |"
        assert row in README.read_text(encoding="utf-8"), row


def test_readme_cell_table_is_the_study_file():
    """The interpretable-units table is results/cellfinder.json rendered (lstmviz.cellfinder.study_table), not
    typed by hand; tests/test_cellfinder.py checks that file against the finder on the corpus."""
    import json

    from lstmviz.cellfinder import FEATURES, study_table

    study = json.loads((README.parent / "results" / "cellfinder.json").read_text(encoding="utf-8"))
    table = study_table(study)
    assert table.count("\n") == 2 + len(FEATURES) and table in README.read_text(encoding="utf-8")
