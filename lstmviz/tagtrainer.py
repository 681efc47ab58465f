"""Training of the convolutional + bidirectional tagger (:mod:`lstmviz.tagger`) on silver labels.

The loop is :func:`lstmviz.trainer.fit`; :class:`TaggerTask` says what is particular to the tagger. Each epoch
shuffles the training sentences (a private seeded generator) into batches of similar length, pads them and packs
them so padding never reaches the reverse direction; the loss is the sum of the part-of-speech and the entity
cross-entropies; AdamW with gradient clipping; dropout draws from the global generator seeded with the run's seed
(inside ``fork_rng``). After every epoch the validation score (mean of the part-of-speech agreement and the
entity macro-F1) decides which weights are kept. The run always trains ``epochs`` epochs: the budget counts
epochs only, never wall time, so a retrain with the same settings and thread count repeats the run whatever the
machine's load. A NaN/Inf loss or gradient stops the run (:class:`~lstmviz.trainer.TrainingDiverged`). The
checkpoint stores the best model, the vocabularies and the test scores beside those of two context-free
baselines (``baseline``: the most frequent tag of the word; ``suffix_baseline``: unseen words tagged by their
ending, :mod:`lstmviz.tagbaseline`).

Example::

    data = prepare_tags("../shared/data/opensentimentcorpus", find_silver_files("/tmp/natasha_data"))
    model, meta = train_tagger(data, TaggerConfig(), TagTrainConfig(), out="checkpoints/tagger-lstm")
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F

from lstmviz.checkpoint import library_version, save_checkpoint
from lstmviz.metrics import tag_scores
from lstmviz.models import weights_fingerprint
from lstmviz.tagbaseline import baseline_tags
from lstmviz.tagdata import TagData
from lstmviz.tagger import NER_TAGS, NER_VOCAB, POS_TAGS, POS_VOCAB, Tagger, TaggerConfig, encode_sentences
from lstmviz.trainer import BaseTask, EpochInfo, FitConfig, OnEpoch, ShouldStop, TrainSettings, fit
from lstmviz.vocab import Vocab, as_vocab

__all__ = ["TagTrainConfig", "TaggerTask", "train_tagger", "encode_batch", "predict_tags"]

_IGNORE = -100  # cross-entropy's ignore index: padded words


@dataclass
class TagTrainConfig(TrainSettings):
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

    _positive = ("epochs", "batch_size")  # checked by TrainSettings: integers >= 1

    def fit_config(self) -> FitConfig:
        """The loop's settings: ``epochs`` passes, no early stopping.

        Example:
            >>> TagTrainConfig(epochs=3).fit_config().patience
            0
        """
        return self._loop(epochs=self.epochs, patience=0)


def encode_batch(
    sentences: Sequence[tuple[list[str], list[str], list[str]]],
    words: Vocab | Sequence[str],
    chars: Vocab | Sequence[str],
) -> dict[str, torch.Tensor]:
    """Padded ids of a batch: ``words (B, T)``, ``chars (B, T, C)``, ``lengths (B,)``, ``pos`` and ``ner`` ``(B, T)``
    (padding: id 0 in the inputs, -100 in the targets).

    Example:
        >>> b = encode_batch([(["Да"], ["INTJ"], ["O"])], ["<pad>", "<unk>", "да"], ["<pad>", "<unk>", "Д", "а"])
        >>> b["chars"].tolist(), b["pos"].tolist()
        ([[[2, 3]]], [[6]])
    """
    word_ids, char_ids, lengths = encode_sentences([s[0] for s in sentences], words, chars)
    pos, ner = torch.full(word_ids.shape, _IGNORE), torch.full(word_ids.shape, _IGNORE)  # (B, T): padding ignored
    for b, (_, ps, ns) in enumerate(sentences):
        if ps:
            pos[b, : len(ps)] = torch.tensor(POS_VOCAB.encode(ps))
            ner[b, : len(ns)] = torch.tensor(NER_VOCAB.encode(ns))
    return {"words": word_ids, "chars": char_ids, "lengths": lengths, "pos": pos, "ner": ner}


@torch.no_grad()
def predict_tags(
    model: Tagger,
    sentences: Sequence[tuple[list[str], ...]],
    words: Vocab | Sequence[str],
    chars: Vocab | Sequence[str],
    batch_size: int = 64,
) -> tuple[list[list[str]], list[list[str]]]:
    """``(parts of speech, entity tags)`` per sentence (only the words of each tuple are read).

    Example:
        >>> predict_tags(model, [(["Мама", "мыла", "раму"],)], meta["words"], meta["chars"])[0]  # doctest: +SKIP
        [['NOUN', 'VERB', 'NOUN']]
    """
    model.eval()
    wi, ci = as_vocab(words), as_vocab(chars)  # built once for all batches
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


class TaggerTask(BaseTask):
    """The tagger's :class:`~lstmviz.trainer.Task`: shuffled batches of sentences of similar length, the sum of the
    part-of-speech and entity cross-entropies, and the validation score (mean of POS agreement and entity macro-F1).

    Rows: ``epoch, train_loss`` (mean over the epoch's updates), ``val_pos_accuracy, val_ner_macro_f1, val_score,
    seconds`` (since training began).

    Example:
        >>> sents = [(["Да"], ["INTJ"], ["O"]), (["Нет", "."], ["PART", "PUNCT"], ["O", "O"])]
        >>> data = TagData(["<pad>", "<unk>", "да", "нет", "."], ["<pad>", "<unk>", "Д", "а", "Н", "е", "т", "."],
        ...                sents, sents, sents)
        >>> task = TaggerTask(data, TagTrainConfig(batch_size=1))
        >>> task.epoch_length(), sorted(next(iter(task.batches()))) == ["chars", "lengths", "ner", "pos", "words"]
        (2, True)
    """

    def __init__(self, data: TagData, cfg: TagTrainConfig) -> None:
        self.data, self.cfg = data, cfg
        self.words, self.chars = Vocab(data.words), Vocab(data.chars)
        self.generator = torch.Generator().manual_seed(cfg.seed + 17)

    def batches(self):
        """One epoch: encoded batches (:func:`encode_batch`) in the order of :func:`_length_batches`."""
        train = self.data.train
        for batch in _length_batches(train, self.cfg.batch_size, self.generator):
            yield encode_batch([train[i] for i in batch], self.words, self.chars)

    def epoch_length(self) -> int:
        """Batches in an epoch (pools of ``50 * batch_size`` sentences, each cut into batches)."""
        n, bs = len(self.data.train), self.cfg.batch_size
        return sum(math.ceil(min(50 * bs, n - k) / bs) for k in range(0, n, 50 * bs))

    def loss(self, model, b):
        """Part-of-speech plus entity cross-entropy (padding ignored); tallies ``loss`` and ``n`` (one per update)."""
        pos, ner = model(b["words"], b["chars"], b["lengths"])  # (B, T, 17), (B, T, 7)
        loss = F.cross_entropy(pos.transpose(1, 2), b["pos"], ignore_index=_IGNORE) + F.cross_entropy(
            ner.transpose(1, 2), b["ner"], ignore_index=_IGNORE
        )
        return loss, {"loss": loss.item(), "n": 1}

    def evaluate(self, model) -> dict[str, Any]:
        """Part-of-speech and entity scores on the validation sentences."""
        return _evaluate(model, self.data.val, self.data)

    def row(self, model, sums, val, info: EpochInfo) -> dict[str, Any]:
        """``epoch, train_loss, val_pos_accuracy, val_ner_macro_f1, val_score, seconds``."""
        return {
            "epoch": info.epoch,
            "train_loss": sums["loss"] / sums["n"],
            "val_pos_accuracy": val["pos"]["accuracy"],
            "val_ner_macro_f1": val["ner"]["macro_f1"],
            "val_score": (val["pos"]["accuracy"] + val["ner"]["macro_f1"]) / 2,
            "seconds": info.elapsed(),
        }

    def score(self, row) -> float:
        """The validation score (mean of POS agreement and entity macro-F1)."""
        return row["val_score"]

    def line(self, row, epochs: int) -> str:
        """``tagger epoch 3: loss 0.512, val POS 0.901, val NER macro-F1 0.612``."""
        return (
            f"tagger epoch {row['epoch']}: loss {row['train_loss']:.3f}, val POS {row['val_pos_accuracy']:.3f}, "
            f"val NER macro-F1 {row['val_ner_macro_f1']:.3f}"
        )


def train_tagger(
    data: TagData,
    config: TaggerConfig,
    train_cfg: TagTrainConfig | None = None,
    *,
    out: str | os.PathLike | None = None,
    log: Callable[[str], None] | None = print,
    on_epoch: OnEpoch | None = None,
    should_stop: ShouldStop | None = None,
) -> tuple[Tagger, dict[str, Any]]:
    """Trains the tagger with :func:`lstmviz.trainer.fit`; returns ``(model at its best validation score, meta)``.

    Args:
        data: From :func:`lstmviz.tagdata.prepare_tags`.
        config: The architecture (vocabulary sizes are taken from the data).
        train_cfg: Settings (default :class:`TagTrainConfig`).
        out: Checkpoint directory (model kind "tagger"; no resume state).
        log: Receives one line per epoch.
        on_epoch, should_stop: The trainer's callbacks.

    Raises:
        TrainingDiverged: when a loss or gradient norm is NaN/Inf.

    Example:
        >>> model, meta = train_tagger(prepare_tags(corpus, files), TaggerConfig())  # doctest: +SKIP
    """
    cfg = train_cfg or TagTrainConfig()
    config = TaggerConfig.from_dict(
        {**config.to_dict(), "word_vocab_size": len(data.words), "char_vocab_size": len(data.chars)}
    )
    model = Tagger.seeded(config, cfg.seed)
    init_fp = weights_fingerprint(model)
    t0 = time.perf_counter()
    result = fit(model, TaggerTask(data, cfg), cfg, log=log, on_epoch=on_epoch, should_stop=should_stop)
    history = result.history
    model.eval()
    meta = {
        "task": "tagger",
        "labels": None,
        "words": data.words,
        "chars": data.chars,
        "pos_tags": list(POS_TAGS),
        "ner_tags": list(NER_TAGS),
        **data.meta,
        "train_config": cfg.to_dict(),
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
