"""Pretrained Russian word vectors (navec) as the starting embedding of a model.

The navec vectors (``navec_news_v1_1B_250K_300d_100q.tar``: 250k words, 300 dimensions, trained on
news; MIT licence) ship inside the PyPI wheel of ``natasha`` (``natasha/data/emb/``). Nothing is
downloaded at run time: the caller names the tar file, e.g. after::

    pip download --no-deps natasha==1.6.0 -d /tmp/natasha
    unzip -j /tmp/natasha/natasha-1.6.0-py3-none-any.whl 'natasha/data/emb/*.tar' -d /tmp/navec

The tar holds JSON and raw numpy buffers (read with ``np.frombuffer``); no pickle is involved.
The vectors matter only when a model is built: a trained checkpoint holds its own embedding.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from torch import nn

__all__ = ["NAVEC_FILE", "load_vectors", "apply_embedding"]

NAVEC_FILE = "navec_news_v1_1B_250K_300d_100q.tar"  # the file inside the natasha 1.6.0 wheel


def load_vectors(path: str | os.PathLike, tokens: Sequence[str], seed: int = 0) -> tuple[np.ndarray, float]:
    """An embedding matrix for ``tokens`` taken from a navec tar.

    Rows of tokens navec knows are their vectors; other rows (``<unk>``, ``<num>``, rare lemmas) are
    drawn from N(0, s²) with s the standard deviation of the known vectors, from a private generator
    seeded with ``seed``; row 0 (``<pad>``) is zero.

    Args:
        path: The navec ``.tar`` file.
        tokens: The vocabulary, index = token id (id 0 = ``<pad>``).
        seed: Seed of the rows navec does not know.

    Returns:
        ``(matrix (V, D) float32, coverage)``: coverage = share of tokens (besides ``<pad>``) found.

    Raises:
        FileNotFoundError: naming the path, with where to get the file.
        ValueError: when the file is not a navec tar.

    Example:
        >>> m, cov = load_vectors("/tmp/navec/" + NAVEC_FILE, ["<pad>", "<unk>", "кино"])  # doctest: +SKIP
        >>> m.shape, cov  # doctest: +SKIP
        ((3, 300), 0.5)
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(
            f"{path}: no such navec file; take {NAVEC_FILE} from the natasha wheel "
            "(pip download --no-deps natasha==1.6.0, then unzip natasha/data/emb/*.tar)"
        )
    try:
        from navec import Navec
    except ImportError as e:  # pragma: no cover - navec is in requirements.txt
        raise ImportError("pretrained vectors need the navec package: pip install navec") from e
    try:
        nv = Navec.load(str(path))
    except Exception as e:  # tarfile/KeyError/ValueError: whatever a wrong file raises
        raise ValueError(f"{path} is not a navec vector file ({type(e).__name__}: {e})") from e
    dim = int(nv.pq.dim)
    known = [(i, tok) for i, tok in enumerate(tokens) if i > 0 and tok in nv]
    matrix = np.zeros((len(tokens), dim), dtype=np.float32)  # (V, D)
    for i, tok in known:
        matrix[i] = nv[tok]
    scale = float(matrix[[i for i, _ in known]].std()) if known else 1.0
    g = np.random.default_rng(seed)
    missing = [i for i in range(1, len(tokens)) if i not in {j for j, _ in known}]
    matrix[missing] = g.normal(0.0, scale, size=(len(missing), dim)).astype(np.float32)
    coverage = len(known) / max(1, len(tokens) - 1)
    return matrix, coverage


def apply_embedding(model: nn.Module, matrix: np.ndarray) -> nn.Module:
    """Copies ``matrix`` into ``model.embedding`` in place (shapes must agree).

    Example:
        >>> from lstmviz.models import ModelConfig, RecurrentClassifier
        >>> m = RecurrentClassifier(ModelConfig(vocab_size=3, embed_dim=2))
        >>> float(apply_embedding(m, np.ones((3, 2))).embedding.weight.sum())
        6.0
    """
    emb = getattr(model, "embedding", None)
    if emb is None:
        raise ValueError(f"{type(model).__name__} has no embedding to initialise")
    if tuple(matrix.shape) != tuple(emb.weight.shape):
        raise ValueError(
            f"pretrained matrix has shape {tuple(matrix.shape)}; the model's embedding is {tuple(emb.weight.shape)}"
        )
    with torch.no_grad():
        emb.weight.copy_(torch.as_tensor(matrix, dtype=emb.weight.dtype))
    return model
