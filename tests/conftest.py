"""Shared test set-up: seeds, corpus location, checkpoint root.

The tests import their own helpers (``reference``, ``fixtures``) by name: ``tests/`` is on the import path through
pytest's ``pythonpath`` setting (pyproject.toml); ``lstmviz`` and ``dashboard`` come from the installed project.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

TESTS = Path(__file__).resolve().parent
REPO = TESTS.parent
CORPUS_DIR = REPO.parent / "shared" / "data" / "opensentimentcorpus"


@pytest.fixture(scope="session", autouse=True)
def _private_cache(tmp_path_factory):
    """Corpus recordings the dashboard builds during the tests go to a temporary folder, not ~/.cache."""
    import os

    old = os.environ.get("LSTMVIZ_CACHE")
    os.environ["LSTMVIZ_CACHE"] = str(tmp_path_factory.mktemp("lstmviz-cache"))
    yield
    if old is None:
        os.environ.pop("LSTMVIZ_CACHE", None)
    else:
        os.environ["LSTMVIZ_CACHE"] = old


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)
    yield


@pytest.fixture(scope="session")
def ckpt_root(tmp_path_factory) -> Path:
    """$LSTMVIZ_CHECKPOINTS or the shipped root when it has the three sentiment models, else tiny random ones."""
    import os

    from lstmviz.testing import make_tiny_checkpoints

    for root in (os.environ.get("LSTMVIZ_CHECKPOINTS"), REPO / "checkpoints"):
        if root and all((Path(root) / f"sentiment-{c}" / "meta.json").is_file() for c in ("rnn", "gru", "lstm")):
            return Path(root)
    return make_tiny_checkpoints(tmp_path_factory.mktemp("ckpts"))


@pytest.fixture
def corpus_dir() -> Path:
    """The OpenSentimentCorpus folder; skips when ../shared is absent (a user's clone)."""
    if not (CORPUS_DIR / "opensentimentcorpus-final-by-majority.csv").exists():
        pytest.skip(f"OpenSentimentCorpus not found at {CORPUS_DIR} (only CI and developers have ../shared)")
    return CORPUS_DIR
