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
