"""Training of the convolutional + bidirectional tagger (:mod:`lstmviz.tagger`) on silver labels.

Each epoch shuffles the training sentences (a private seeded generator) into batches of similar length, pads
them and packs them so padding never reaches the reverse direction; the loss is the sum of the part-of-speech
and the entity cross-entropies; AdamW with gradient clipping. After every epoch the validation score (mean of
the part-of-speech agreement and the entity macro-F1) decides which weights are kept. The run always trains
``epochs`` epochs: the budget counts epochs only, never wall time, so a retrain with the same settings and
thread count repeats the run whatever the machine's load. The checkpoint stores the best model, the
vocabularies and the test scores beside those of two context-free baselines (``baseline``: the most frequent tag of
the word; ``suffix_baseline``: unseen words tagged by their ending, :mod:`lstmviz.tagbaseline`).

Example::

    data = prepare_tags("../shared/data/opensentimentcorpus", find_silver_files("/tmp/natasha_data"))
    model, meta = train_tagger(data, TaggerConfig(), TagTrainConfig(), out="checkpoints/tagger-lstm")
"""

from __future__ import annotations

import copy
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import torch
import torch.nn.functional as F

from lstmviz.checkpoint import library_version, save_checkpoint
from lstmviz.models import weights_fingerprint
from lstmviz.tagbaseline import baseline_tags
from lstmviz.tagdata import TagData, tag_scores
from lstmviz.tagger import NER_TAGS, POS_TAGS, Tagger, TaggerConfig, encode_sentences
from lstmviz.trainer import check_int, check_number

__all__ = ["TagTrainConfig", "train_tagger", "encode_batch", "predict_tags"]

_IGNORE = -100  # cross-entropy's ignore index: padded words


@dataclass
class TagTrainConfig:
    """Optimisation of the tagger; stored in the checkpoint's meta.

    Example:
        >>> TagTrainConfig().epochs
        20
    """

    # The whole budget: no wall-clock limit, which would make a retrain depend on the machine's load.
    epochs: int = 20  # passes over the training sentences
    batch_size: int = 32  # sentences per update
    lr: float = 2e-3  # AdamW learning rate
    weight_decay: float = 0.0  # AdamW weight decay
    clip_grad_norm: float | None = 1.0  # global gradient-norm clipping; None disables it
    seed: int = 0  # initialisation and sentence order

    def __post_init__(self) -> None:
        for name in ("epochs", "batch_size"):
            check_int(name, getattr(self, name), 1)
        check_int("seed", self.seed, 0)
        check_number("lr", self.lr)
        check_number("weight_decay", self.weight_decay, zero_ok=True)
        check_number("clip_grad_norm", self.clip_grad_norm, none_ok=True)


def encode_batch(
    sentences: Sequence[tuple[list[str], list[str], list[str]]], word_index: dict[str, int], char_index: dict[str, int]
) -> dict[str, torch.Tensor]:
    """Padded ids of a batch: ``words (B, T)``, ``chars (B, T, C)``, ``lengths (B,)``, ``pos`` and ``ner`` ``(B, T)``
    (padding: id 0 in the inputs, -100 in the targets).

    Example:
        >>> b = encode_batch([(["Да"], ["INTJ"], ["O"])], {"да": 2}, {"Д": 2, "а": 3})
        >>> b["chars"].tolist(), b["pos"].tolist()
        ([[[2, 3]]], [[6]])
    """
    words, chars, lengths = encode_sentences([s[0] for s in sentences], word_index, char_index)
    pos, ner = torch.full(words.shape, _IGNORE), torch.full(words.shape, _IGNORE)  # (B, T): padding ignored
    pos_id, ner_id = {t: i for i, t in enumerate(POS_TAGS)}, {t: i for i, t in enumerate(NER_TAGS)}
    for b, (_, ps, ns) in enumerate(sentences):
        if ps:
            pos[b, : len(ps)] = torch.tensor([pos_id[p] for p in ps])
            ner[b, : len(ns)] = torch.tensor([ner_id[n] for n in ns])
    return {"words": words, "chars": chars, "lengths": lengths, "pos": pos, "ner": ner}


@torch.no_grad()
def predict_tags(
    model: Tagger,
    sentences: Sequence[tuple[list[str], ...]],
    words: Sequence[str],
    chars: Sequence[str],
    batch_size: int = 64,
) -> tuple[list[list[str]], list[list[str]]]:
    """``(parts of speech, entity tags)`` per sentence (only the words of each tuple are read).

    Example:
        >>> predict_tags(model, [(["Мама", "мыла", "раму"],)], meta["words"], meta["chars"])[0]  # doctest: +SKIP
        [['NOUN', 'VERB', 'NOUN']]
    """
    model.eval()
    wi, ci = {w: i for i, w in enumerate(words)}, {c: i for i, c in enumerate(chars)}
    pos_out, ner_out = [], []
    for k in range(0, len(sentences), batch_size):
        chunk = [(s[0], [], []) for s in sentences[k : k + batch_size]]
        b = encode_batch(chunk, wi, ci)
        pos, ner = model(b["words"], b["chars"], b["lengths"])  # (B, T, 17), (B, T, 7)
        for row, n in enumerate(b["lengths"].tolist()):
            pos_out.append([POS_TAGS[i] for i in pos[row, :n].argmax(-1).tolist()])
            ner_out.append([NER_TAGS[i] for i in ner[row, :n].argmax(-1).tolist()])
    return pos_out, ner_out


def _length_batches(sentences: Sequence, batch_size: int, g: torch.Generator) -> list[list[int]]:
    """Shuffled batches of sentences of similar length (less padding, so an epoch costs less), in shuffled order."""
    order = torch.randperm(len(sentences), generator=g).tolist()
    pool = 50 * batch_size  # sort within pools: batches stay random, lengths inside one batch close
    batches = []
    for k in range(0, len(order), pool):
        chunk = sorted(order[k : k + pool], key=lambda i: len(sentences[i][0]))
        batches += [chunk[j : j + batch_size] for j in range(0, len(chunk), batch_size)]
    return [batches[i] for i in torch.randperm(len(batches), generator=g).tolist()]


def _evaluate(model: Tagger, split: Sequence, data: TagData) -> dict[str, Any]:
    pos, ner = predict_tags(model, split, data.words, data.chars)
    return {"pos": tag_scores([s[1] for s in split], pos), "ner": tag_scores([s[2] for s in split], ner, ner=True)}


def _baseline(data: TagData, split: Sequence, name: str = "most_frequent") -> dict[str, Any]:
    """A context-free baseline's scores on ``split`` (both tag sets), learnt on ``data.train``: ``"most_frequent"``
    (each word's most frequent tag, unseen words the most frequent tag overall) or ``"suffix"`` (unseen words the
    most frequent tag of their last 3, 2 or 1 letters; :func:`lstmviz.tagbaseline.suffix_tags`)."""
    pos, ner = baseline_tags(data.train, split, name)
    return {"pos": tag_scores([s[1] for s in split], pos), "ner": tag_scores([s[2] for s in split], ner, ner=True)}


def train_tagger(
    data: TagData,
    config: TaggerConfig,
    train_cfg: TagTrainConfig | None = None,
    *,
    out: str | os.PathLike | None = None,
    log: Callable[[str], None] | None = print,
) -> tuple[Tagger, dict[str, Any]]:
    """Trains the tagger; returns ``(model at its best validation score, meta)``.

    Args:
        data: From :func:`lstmviz.tagdata.prepare_tags`.
        config: The architecture (vocabulary sizes are taken from the data).
        train_cfg: Settings (default :class:`TagTrainConfig`).
        out: Checkpoint directory (model kind "tagger"; no resume state).
        log: Receives one line per epoch.
    """
    cfg = train_cfg or TagTrainConfig()
    config = TaggerConfig.from_dict(
        {**config.to_dict(), "word_vocab_size": len(data.words), "char_vocab_size": len(data.chars)}
    )
    model = Tagger.seeded(config, cfg.seed)
    init_fp = weights_fingerprint(model)
    wi, ci = {w: i for i, w in enumerate(data.words)}, {c: i for i, c in enumerate(data.chars)}
    g = torch.Generator().manual_seed(cfg.seed + 17)
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    best, best_state, history, t0 = -1.0, copy.deepcopy(model.state_dict()), [], time.perf_counter()
    for epoch in range(1, cfg.epochs + 1):
        model.train()
        loss_sum, n = 0.0, 0
        for batch in _length_batches(data.train, cfg.batch_size, g):
            b = encode_batch([data.train[i] for i in batch], wi, ci)
            pos, ner = model(b["words"], b["chars"], b["lengths"])  # (B, T, 17), (B, T, 7)
            loss = F.cross_entropy(pos.transpose(1, 2), b["pos"], ignore_index=_IGNORE) + F.cross_entropy(
                ner.transpose(1, 2), b["ner"], ignore_index=_IGNORE
            )
            opt.zero_grad()
            loss.backward()
            if cfg.clip_grad_norm is not None:
                torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.clip_grad_norm)
            opt.step()
            loss_sum, n = loss_sum + loss.item(), n + 1
        val = _evaluate(model, data.val, data)
        score = (val["pos"]["accuracy"] + val["ner"]["macro_f1"]) / 2
        history.append(
            {
                "epoch": epoch,
                "train_loss": loss_sum / n,
                "val_pos_accuracy": val["pos"]["accuracy"],
                "val_ner_macro_f1": val["ner"]["macro_f1"],
                "val_score": score,
                "seconds": time.perf_counter() - t0,
            }
        )
        if log:
            log(
                f"tagger epoch {epoch}: loss {loss_sum / n:.3f}, val POS {val['pos']['accuracy']:.3f}, "
                f"val NER macro-F1 {val['ner']['macro_f1']:.3f}"
            )
        if score > best:
            best, best_state = score, copy.deepcopy(model.state_dict())
    model.load_state_dict(best_state)
    model.eval()
    meta = {
        "task": "tagger",
        "labels": None,
        "words": data.words,
        "chars": data.chars,
        "pos_tags": list(POS_TAGS),
        "ner_tags": list(NER_TAGS),
        **data.meta,
        "train_config": asdict(cfg),
        "history": history,
        "init_fingerprint": init_fp,
        "init_seed": cfg.seed,
        "parameters": sum(p.numel() for p in model.parameters()),
        "train_seconds": time.perf_counter() - t0,
        "test_metrics": {
            **_evaluate(model, data.test, data),
            "baseline": _baseline(data, data.test),
            "suffix_baseline": _baseline(data, data.test, "suffix"),
        },
        "library_version": library_version(),
    }
    if out is not None:
        save_checkpoint(out, model, meta)
    return model, meta
