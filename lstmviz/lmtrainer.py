"""Training of the character-level language models (:mod:`lstmviz.charlm`) on the corpus text.

The loop is :func:`lstmviz.trainer.fit`; :class:`CharLMTask` says what is particular to a language model. Each
update takes ``batch_size`` windows of ``seq_len + 1`` characters at random offsets of the training stream (a
private seeded generator: runs repeat exactly), AdamW with gradient clipping; every ``eval_every`` updates (one
"epoch") the validation bits per character are measured and the best weights kept; the run stops after
``max_updates`` updates. The budget counts updates only, never wall time, so a retrain with the same settings and
thread count repeats the run whatever the machine's load. A NaN/Inf loss or gradient stops the run
(:class:`~lstmviz.trainer.TrainingDiverged`); ``on_epoch`` and ``should_stop`` are the trainer's callbacks. The
checkpoint stores the best model, the character vocabulary and the test bits per character beside the unigram and
bigram baselines.

Example::

    data = prepare_chars("../shared/data/opensentimentcorpus")
    model, meta = train_charlm(data, CharLMConfig(cell="lstm"), LMTrainConfig(), out="checkpoints/charlm-lstm")
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F

from lstmviz.chardata import CharData
from lstmviz.charlm import CharLM, CharLMConfig
from lstmviz.checkpoint import library_version, save_checkpoint
from lstmviz.metrics import bigram_bpc, bits_per_char, stream_bpc, unigram_bpc
from lstmviz.models import weights_fingerprint
from lstmviz.trainer import BaseTask, EpochInfo, FitConfig, OnEpoch, ShouldStop, TrainSettings, fit

__all__ = ["CharLMTask", "LMTrainConfig", "train_charlm"]


@dataclass
class LMTrainConfig(TrainSettings):
    """Optimisation of a character model; stored in the checkpoint's meta.

    Example:
        >>> LMTrainConfig().seq_len
        128
    """

    # The whole budget: no wall-clock limit, which would make a retrain depend on the machine's load.
    max_updates: int = 3000
    batch_size: int = 32  # windows per update
    seq_len: int = 128  # characters per window (truncated backpropagation through time)
    lr: float = 3e-3  # AdamW learning rate
    weight_decay: float = 0.0  # AdamW weight decay
    clip_grad_norm: float | None = 1.0  # global gradient-norm clipping; None disables it
    eval_every: int = 250  # updates between validation measurements
    seed: int = 0  # initialisation and window sampling

    _positive = ("max_updates", "batch_size", "seq_len", "eval_every")  # checked by TrainSettings: integers >= 1

    def fit_config(self) -> FitConfig:
        """The loop's settings: an "epoch" is ``eval_every`` updates, the last one cut at ``max_updates``; no early
        stopping.

        Example:
            >>> c = LMTrainConfig(max_updates=3000, eval_every=250).fit_config()
            >>> c.epochs, c.updates_per_epoch, c.max_updates, c.patience
            (12, 250, 3000, 0)
        """
        epochs = math.ceil(self.max_updates / self.eval_every)
        return self._loop(epochs=epochs, updates_per_epoch=self.eval_every, max_updates=self.max_updates, patience=0)


class CharLMTask(BaseTask):
    """A character language model's :class:`~lstmviz.trainer.Task`: random windows of the training stream,
    next-character cross-entropy, validation bits per character (lower is better).

    Rows: ``epoch, updates, train_loss`` (mean over the epoch's updates), ``train_bpc, val_bpc, seconds`` (since
    training began).

    Example:
        >>> data = CharData(["<pad>", "<unk>", "a", "b"], torch.tensor([2, 3] * 20), torch.tensor([2, 3] * 4),
        ...                 torch.tensor([2, 3] * 4))
        >>> task = CharLMTask(data, LMTrainConfig(batch_size=2, seq_len=4))
        >>> next(iter(task.batches())).shape  # (B, seq_len + 1)
        torch.Size([2, 5])
    """

    def __init__(self, data: CharData, cfg: LMTrainConfig, name: str = "charlm") -> None:
        self.data, self.cfg, self.name = data, cfg, name
        self.generator = torch.Generator().manual_seed(cfg.seed + 17)
        self.n = data.train.numel() - cfg.seq_len - 1  # window starts to draw from

    def batches(self):
        """Endless batches of ``batch_size`` windows ``(B, seq_len + 1)`` at random offsets."""
        while True:
            starts = torch.randint(0, self.n, (self.cfg.batch_size,), generator=self.generator)
            yield self.data.train[starts[:, None] + torch.arange(self.cfg.seq_len + 1)]  # (B, L+1)

    def loss(self, model, batch):
        """Mean next-character cross-entropy (nats); tallies ``loss`` and ``n`` (one per update)."""
        logits = model(batch[:, :-1])  # (B, L, V)
        loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), batch[:, 1:].reshape(-1))
        return loss, {"loss": loss.item(), "n": 1}

    def evaluate(self, model) -> dict[str, Any]:
        """Bits per character of the validation stream (state carried across windows)."""
        model.eval()
        return {"bpc": stream_bpc(model, self.data.val)}

    def row(self, model, sums, val, info: EpochInfo) -> dict[str, Any]:
        """``epoch, updates, train_loss, train_bpc, val_bpc, seconds``."""
        return {
            "epoch": info.epoch,
            "updates": info.updates,
            "train_loss": sums["loss"] / sums["n"],
            "train_bpc": bits_per_char(sums["loss"], sums["n"]),
            "val_bpc": val["bpc"],
            "seconds": info.elapsed(),
        }

    def score(self, row) -> float:
        """-val bits per character."""
        return -row["val_bpc"]

    def line(self, row, epochs: int) -> str:
        """``lstm update 250: train bpc 4.404, val bpc 3.739``."""
        return f"{self.name} update {row['updates']}: train bpc {row['train_bpc']:.3f}, val bpc {row['val_bpc']:.3f}"


def train_charlm(
    data: CharData,
    config: CharLMConfig,
    train_cfg: LMTrainConfig | None = None,
    *,
    out: str | os.PathLike | None = None,
    log: Callable[[str], None] | None = print,
    on_epoch: OnEpoch | None = None,
    should_stop: ShouldStop | None = None,
) -> tuple[CharLM, dict[str, Any]]:
    """Trains one character model with :func:`lstmviz.trainer.fit`; returns ``(model at its best validation bpc,
    meta)``.

    Args:
        data: From :func:`lstmviz.chardata.prepare_chars`.
        config: The architecture (``vocab_size`` is taken from the data).
        train_cfg: Settings (default :class:`LMTrainConfig`).
        out: Checkpoint directory (model kind "charlm"; no resume state).
        log: Receives one line per evaluation.
        on_epoch, should_stop: The trainer's callbacks (an "epoch" is ``eval_every`` updates).

    Raises:
        TrainingDiverged: when a loss or gradient norm is NaN/Inf.

    Example:
        >>> model, meta = train_charlm(prepare_chars(corpus), CharLMConfig(cell="gru"))  # doctest: +SKIP
    """
    cfg = train_cfg or LMTrainConfig()
    config = CharLMConfig.from_dict({**config.to_dict(), "vocab_size": len(data.chars)})
    model = CharLM.seeded(config, cfg.seed)
    init_fp = weights_fingerprint(model)
    t0 = time.perf_counter()
    result = fit(model, CharLMTask(data, cfg, config.cell), cfg, log=log, on_epoch=on_epoch, should_stop=should_stop)
    history = result.history
    best = history[result.best_epoch - 1]["val_bpc"] if result.best_epoch else math.inf
    model.eval()
    V = len(data.chars)
    meta = {
        "task": "charlm",
        "chars": data.chars,
        "labels": None,
        **data.meta,
        "train_config": cfg.to_dict(),
        "history": history,
        "init_fingerprint": init_fp,
        "init_seed": cfg.seed,
        "parameters": sum(p.numel() for p in model.parameters()),
        "updates": result.updates,
        "train_seconds": time.perf_counter() - t0,
        "test_metrics": {
            "bpc": stream_bpc(model, data.test),
            "val_bpc": best,
            "unigram_bpc": unigram_bpc(data.train, data.test, V),
            "bigram_bpc": bigram_bpc(data.train, data.test, V),
        },
        "library_version": library_version(),
    }
    if out is not None:
        save_checkpoint(out, model, meta)
    return model, meta
