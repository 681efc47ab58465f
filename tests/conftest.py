"""Shared test set-up: import path for the reference module, seeds, corpus location."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch

TESTS = Path(__file__).resolve().parent
REPO = TESTS.parent
sys.path.insert(0, str(TESTS))  # lets tests import reference.py
CORPUS_DIR = REPO.parent / "shared" / "data" / "opensentimentcorpus"


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)
    yield


@pytest.fixture
def corpus_dir() -> Path:
    """The OpenSentimentCorpus folder; skips when ../shared is absent (a user's clone)."""
    if not (CORPUS_DIR / "opensentimentcorpus-final-by-majority.csv").exists():
        pytest.skip(f"OpenSentimentCorpus not found at {CORPUS_DIR} (only CI and developers have ../shared)")
    return CORPUS_DIR
