"""Training of the character-level language models (:mod:`lstmviz.charlm`) on the corpus text.

Each update takes ``batch_size`` windows of ``seq_len + 1`` characters at random offsets of the training
stream (a private seeded generator: runs repeat exactly), AdamW with gradient clipping; every
``eval_every`` updates the validation bits per character are measured and the best weights kept; the run
stops after ``max_updates`` updates. The budget counts updates only, never wall time, so a retrain with
the same settings and thread count repeats the run whatever the machine's load. The checkpoint stores
the best model, the character vocabulary and the test bits per character beside the unigram and bigram
baselines.

Example::

    data = prepare_chars("../shared/data/opensentimentcorpus")
    model, meta = train_charlm(data, CharLMConfig(cell="lstm"), LMTrainConfig(), out="checkpoints/charlm-lstm")
"""

from __future__ import annotations

import copy
import math
import os
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

import torch
import torch.nn.functional as F

from lstmviz.chardata import CharData, bigram_bpc, stream_bpc, unigram_bpc
from lstmviz.charlm import CharLM, CharLMConfig
from lstmviz.checkpoint import library_version, save_checkpoint
from lstmviz.models import weights_fingerprint
from lstmviz.trainer import check_int, check_number

__all__ = ["LMTrainConfig", "train_charlm"]


@dataclass
class LMTrainConfig:
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

    def __post_init__(self) -> None:
        for name in ("max_updates", "batch_size", "seq_len", "eval_every"):
            check_int(name, getattr(self, name), 1)
        check_int("seed", self.seed, 0)
        check_number("lr", self.lr)
        check_number("weight_decay", self.weight_decay, zero_ok=True)
        check_number("clip_grad_norm", self.clip_grad_norm, none_ok=True)


def train_charlm(
    data: CharData,
    config: CharLMConfig,
    train_cfg: LMTrainConfig | None = None,
    *,
    out: str | os.PathLike | None = None,
    log: Callable[[str], None] | None = print,
) -> tuple[CharLM, dict[str, Any]]:
    """Trains one character model; returns ``(model at its best validation bpc, meta)``.

    Args:
        data: From :func:`lstmviz.chardata.prepare_chars`.
        config: The architecture (``vocab_size`` is taken from the data).
        train_cfg: Settings (default :class:`LMTrainConfig`).
        out: Checkpoint directory (model kind "charlm"; no resume state).
        log: Receives one line per evaluation.
    """
    cfg = train_cfg or LMTrainConfig()
    config = CharLMConfig.from_dict({**config.to_dict(), "vocab_size": len(data.chars)})
    model = CharLM.seeded(config, cfg.seed)
    init_fp = weights_fingerprint(model)
    g = torch.Generator().manual_seed(cfg.seed + 17)
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    best, best_state, history = math.inf, copy.deepcopy(model.state_dict()), []
    t0, seen, loss_sum = time.perf_counter(), 0, 0.0
    n = data.train.numel() - cfg.seq_len - 1
    update = 0
    for update in range(1, cfg.max_updates + 1):
        model.train()
        starts = torch.randint(0, n, (cfg.batch_size,), generator=g)
        idx = starts[:, None] + torch.arange(cfg.seq_len + 1)  # (B, L+1)
        batch = data.train[idx]
        logits = model(batch[:, :-1])  # (B, L, V)
        loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), batch[:, 1:].reshape(-1))
        opt.zero_grad()
        loss.backward()
        if cfg.clip_grad_norm is not None:
            torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.clip_grad_norm)
        opt.step()
        loss_sum, seen = loss_sum + loss.item(), seen + 1
        done = update == cfg.max_updates
        if update % cfg.eval_every == 0 or done:
            model.eval()
            val = stream_bpc(model, data.val)
            history.append(
                {
                    "epoch": len(history) + 1,
                    "updates": update,
                    "train_loss": loss_sum / seen,
                    "train_bpc": loss_sum / seen / math.log(2),
                    "val_bpc": val,
                    "seconds": time.perf_counter() - t0,
                }
            )
            if log:
                log(f"{config.cell} update {update}: train bpc {loss_sum / seen / math.log(2):.3f}, val bpc {val:.3f}")
            loss_sum, seen = 0.0, 0
            if val < best:
                best, best_state = val, copy.deepcopy(model.state_dict())
        if done:
            break
    model.load_state_dict(best_state)
    model.eval()
    V = len(data.chars)
    meta = {
        "task": "charlm",
        "chars": data.chars,
        "labels": None,
        **data.meta,
        "train_config": asdict(cfg),
        "history": history,
        "init_fingerprint": init_fp,
        "init_seed": cfg.seed,
        "parameters": sum(p.numel() for p in model.parameters()),
        "updates": update,
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
