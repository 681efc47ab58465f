"""Recurrent sequence models that lstmviz trains, records and ships as checkpoints.

One class, :class:`RecurrentClassifier`, covers the three cell types (``nn.RNN``,
``nn.GRU``, ``nn.LSTM``) so that comparisons between them change nothing but the cell.
Its layout is fixed and shallow on purpose, so the recorder and the dashboard can find
the pieces by name:

    embedding  nn.Embedding(vocab_size, embed_dim, padding_idx=0)   (None for head="regress")
    rnn        nn.RNN | nn.GRU | nn.LSTM, batch_first=True
    head       nn.Linear(directions * hidden_size, num_classes or 1)

Prediction uses the hidden state at the *last valid step* of every sequence (``h_n`` of
the top layer; forward and backward directions concatenated when bidirectional). The
input is packed with ``pack_padded_sequence`` when lengths differ, so padding never changes a
prediction; a batch of equal-length sequences (the synthetic tasks) skips packing, which costs
up to 2.4x an unpacked batch on CPU.

:func:`init_weights` and :meth:`RecurrentClassifier.seeded` initialise from a private
``torch.Generator``, so building and seeding a model never touches the global RNG (the dashboard
trains in a thread beside other sessions). :func:`weights_fingerprint` is the sha256 that a
checkpoint stores of its initial weights; :func:`check_initialisation` accepts rebuilt weights as
that starting point only when they match it (:class:`UnknownInitialisation` otherwise).
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence

from lstmviz.kinds.base import KindConfig, SeededModule

__all__ = [
    "CELLS",
    "HEADS",
    "ModelConfig",
    "RecurrentClassifier",
    "UnknownInitialisation",
    "check_initialisation",
    "init_weights",
    "weights_fingerprint",
]

CELLS = ("rnn", "gru", "lstm")
HEADS = ("classify", "regress")
_RNN_CLASSES = {"rnn": nn.RNN, "gru": nn.GRU, "lstm": nn.LSTM}


@dataclass
class ModelConfig(KindConfig):
    """Architecture of a :class:`RecurrentClassifier`; stored verbatim in a checkpoint.

    Example:
        >>> cfg = ModelConfig(cell="gru", vocab_size=100, num_classes=3)
        >>> ModelConfig.from_dict(cfg.to_dict()) == cfg
        True
    """

    cell: str = "lstm"  # recurrent cell: "rnn" | "gru" | "lstm"
    vocab_size: int = 2  # token ids incl. <pad>=0 and <unk>=1; unused when head="regress"
    embed_dim: int = 64  # embedding width; unused when head="regress"
    hidden_size: int = 64  # units per layer and direction
    num_layers: int = 1  # stacked recurrent layers
    bidirectional: bool = False  # also run a reverse-direction RNN; features are concatenated
    dropout: float = 0.0  # dropout between stacked layers and on the features fed to the head
    num_classes: int = 2  # output classes; unused when head="regress" (one real output)
    head: str = "classify"  # "classify": logits (B, C); "regress": one value (B,) from real inputs
    input_dim: int = 2  # features per step fed directly to the RNN when head="regress"
    # Initial bias of the LSTM forget gate / GRU update gate (every layer and direction); a
    # positive value makes the initial state persist, so long-range gradients reach early steps
    # (Gers et al. 2000; Jozefowicz et al. 2015). None keeps PyTorch's init; no effect on "rnn".
    gate_bias: float | None = None
    # Initial bias of the LSTM input gate (every layer and direction); None keeps PyTorch's init.
    # With a large forget bias the cell is a leaky accumulator of gain i / (1 - f): a negative input
    # bias (e.g. -4, i ~ 0.02) keeps its state from saturating on the first tokens. LSTM only.
    input_gate_bias: float | None = None
    # Keep the embedding fixed during training (e.g. pretrained navec vectors): fewer parameters to
    # overfit 6k sentences, and the trained embedding IS the initial one. No effect on head="regress".
    freeze_embedding: bool = False

    def __post_init__(self) -> None:
        if self.cell not in CELLS:
            raise ValueError(f"cell={self.cell!r} is not supported; allowed: {', '.join(CELLS)}")
        if self.head not in HEADS:
            raise ValueError(f"head={self.head!r} is not supported; allowed: {', '.join(HEADS)}")
        for name in ("vocab_size", "embed_dim", "hidden_size", "num_layers", "num_classes", "input_dim"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
                raise ValueError(f"{name}={value!r} is invalid; allowed: an integer > 0")
        for name in ("bidirectional", "freeze_embedding"):
            if not isinstance(getattr(self, name), bool):
                raise ValueError(f"{name}={getattr(self, name)!r} is invalid; allowed: True, False")
        if (
            isinstance(self.dropout, bool)
            or not isinstance(self.dropout, (int, float))
            or not 0.0 <= self.dropout < 1.0
        ):
            raise ValueError(f"dropout={self.dropout!r} is invalid; allowed: a number in [0, 1)")
        self.dropout = float(self.dropout)
        if self.gate_bias is not None:
            ok = isinstance(self.gate_bias, (int, float)) and not isinstance(self.gate_bias, bool)
            if not ok or not math.isfinite(self.gate_bias):
                raise ValueError(f"gate_bias={self.gate_bias!r} is invalid; allowed: None or a finite number")
            self.gate_bias = float(self.gate_bias)
        if self.input_gate_bias is not None:
            ok = isinstance(self.input_gate_bias, (int, float)) and not isinstance(self.input_gate_bias, bool)
            if not ok or not math.isfinite(self.input_gate_bias):
                raise ValueError(
                    f"input_gate_bias={self.input_gate_bias!r} is invalid; allowed: None or a finite number"
                )
            if self.cell != "lstm":
                raise ValueError(
                    f"input_gate_bias={self.input_gate_bias!r} needs cell='lstm' (got {self.cell!r}); "
                    "only the LSTM has an input gate"
                )
            self.input_gate_bias = float(self.input_gate_bias)

    @property
    def directions(self) -> int:
        """Number of directions, 2 when bidirectional else 1."""
        return 2 if self.bidirectional else 1


class RecurrentClassifier(SeededModule, nn.Module):
    """Embedding -> RNN/GRU/LSTM -> linear head on the last valid hidden state.

    Args:
        config: The architecture.

    Example:
        >>> model = RecurrentClassifier(ModelConfig(cell="gru", vocab_size=10, num_classes=3))
        >>> ids = torch.tensor([[2, 3, 4], [5, 6, 0]])        # (B, T), 0 = padding
        >>> model(ids, torch.tensor([3, 2])).shape
        torch.Size([2, 3])
    """

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        if not isinstance(config, ModelConfig):
            raise TypeError(f"config must be a ModelConfig, got {type(config).__name__}")
        self.config = config
        if config.head == "classify":
            self.embedding: nn.Embedding | None = nn.Embedding(config.vocab_size, config.embed_dim, padding_idx=0)
            if config.freeze_embedding:  # the optimiser skips it (no gradient, no weight decay)
                self.embedding.weight.requires_grad_(False)
            rnn_input = config.embed_dim
        else:
            self.embedding = None
            rnn_input = config.input_dim
        self.rnn = _RNN_CLASSES[config.cell](
            rnn_input,
            config.hidden_size,
            num_layers=config.num_layers,
            batch_first=True,
            bidirectional=config.bidirectional,
            # PyTorch applies this dropout between stacked layers only (and warns for 1 layer).
            dropout=config.dropout if config.num_layers > 1 else 0.0,
        )
        self.after_init()
        self.dropout = nn.Dropout(config.dropout)
        out_features = config.num_classes if config.head == "classify" else 1
        self.head = nn.Linear(config.directions * config.hidden_size, out_features)

    def after_init(self) -> None:
        """Applies the configured forget / update gate bias and the LSTM input gate bias (if any)."""
        if self.config.gate_bias is not None and self.config.cell != "rnn":
            self._init_gate_bias(self.config.gate_bias)
        if self.config.input_gate_bias is not None:
            self._init_gate_bias(self.config.input_gate_bias, rows=0)

    @torch.no_grad()
    def _init_gate_bias(self, value: float, rows: int = 1) -> None:
        """Sets one gate's bias to `value` in every layer and direction (`rows`: the gate's block).

        Gate order in the fused weights: LSTM (i, f, g, o), GRU (r, z, n); block 1 (rows h:2h) is
        the forget / update gate, block 0 the LSTM input gate. The hidden-side bias of that block
        is zeroed so the gate's total bias is exactly `value`.
        """
        h = self.config.hidden_size
        for name, param in self.rnn.named_parameters():
            if name.startswith("bias_ih"):
                param[rows * h : (rows + 1) * h] = value
            elif name.startswith("bias_hh"):
                param[rows * h : (rows + 1) * h] = 0.0

    def forward(self, x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """Predicts from padded ids (classify) or padded real features (regress).

        Args:
            x: LongTensor (B, T) of token ids padded with 0, or for head="regress" a
                FloatTensor (B, T, input_dim).
            lengths: LongTensor (B,) of valid steps per sequence, 1 <= length <= T.

        Returns:
            Logits (B, num_classes) for head="classify", values (B,) for head="regress".

        Example:
            >>> m = RecurrentClassifier(ModelConfig(head="regress", input_dim=2))
            >>> m(torch.zeros(4, 7, 2), torch.full((4,), 7)).shape
            torch.Size([4])
        """
        if self.embedding is not None:
            if x.dim() != 2 or x.dtype not in (torch.long, torch.int32, torch.int64):
                raise ValueError(
                    f"x must be an integer tensor of ids (B, T), got dtype {x.dtype} shape {tuple(x.shape)}"
                )
            emb = self.embedding(x)  # (B, T, E)
        else:
            if x.dim() != 3 or x.shape[-1] != self.config.input_dim:
                raise ValueError(
                    f"x must be (B, T, {self.config.input_dim}) for head='regress', got shape {tuple(x.shape)}"
                )
            emb = x.to(self.head.weight.dtype)  # (B, T, input_dim), in the model's dtype (float64 copies too)
        return self.forward_embedded(emb, lengths)

    def forward_embedded(self, emb: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """Predicts from already-embedded inputs, e.g. to take dL/d(emb) for saliency.

        Args:
            emb: FloatTensor (B, T, E) (E = embed_dim, or input_dim for head="regress").
            lengths: LongTensor (B,) of valid steps, 1 <= length <= T.

        Returns:
            Same as :meth:`forward`.

        Example:
            >>> m = RecurrentClassifier(ModelConfig(vocab_size=10, num_classes=2))
            >>> emb = m.embedding(torch.tensor([[2, 3]])).detach().requires_grad_()
            >>> m.forward_embedded(emb, torch.tensor([2]))[0, 1].backward()
            >>> emb.grad.shape
            torch.Size([1, 2, 64])
        """
        if emb.dim() != 3:
            raise ValueError(f"emb must be (B, T, E), got shape {tuple(emb.shape)}")
        batch, steps = emb.shape[0], emb.shape[1]
        lengths = torch.as_tensor(lengths)
        if lengths.shape != (batch,):
            raise ValueError(f"lengths must have shape ({batch},), got {tuple(lengths.shape)}")
        if batch and (int(lengths.min()) < 1 or int(lengths.max()) > steps):
            raise ValueError(f"lengths must lie in [1, {steps}] (the padded length), got {lengths.tolist()}")
        if batch and int(lengths.min()) == steps:
            _, h_n = self.rnn(emb)  # equal lengths: packing would change nothing but the cost
        else:
            packed = pack_padded_sequence(emb, lengths.cpu().long(), batch_first=True, enforce_sorted=False)
            _, h_n = self.rnn(packed)
        if isinstance(h_n, tuple):  # LSTM returns (h_n, c_n)
            h_n = h_n[0]
        # h_n (L*D, B, H), already back in the caller's batch order; the top layer is the last D rows.
        top = h_n[-self.config.directions :]  # (D, B, H)
        features = top.transpose(0, 1).reshape(batch, -1)  # (B, D*H), forward then reverse
        out = self.head(self.dropout(features))  # (B, C) or (B, 1)
        if self.config.head == "regress":
            return out.squeeze(-1)  # (B,)
        return out


def init_weights(model: nn.Module, seed: int) -> nn.Module:
    """Re-initialises every parameter in place from a private generator (PyTorch's default laws).

    Unlike ``torch.manual_seed`` this never touches the global RNG, so it is deterministic
    even while other threads draw random numbers. Laws: recurrent weights and biases
    U(-1/sqrt(H), 1/sqrt(H)); embeddings N(0, 1) with the padding row zeroed; linear and 1-d
    convolution layers U(-1/sqrt(fan_in), 1/sqrt(fan_in)) (weights and biases). A :class:`RecurrentClassifier`
    then sets what its config fixes (:meth:`~lstmviz.kinds.base.SeededModule.after_init`: e.g. a
    :class:`RecurrentClassifier`'s ``config.gate_bias`` and ``config.input_gate_bias``).

    Args:
        model: The module to re-initialise (use a private copy: this mutates it).
        seed: Seed of the generator, an integer 0 .. 2**64 - 1 (what ``torch.Generator`` takes).

    Returns:
        ``model``.

    Raises:
        ValueError: for any other seed, naming it and the range.

    Example:
        >>> a, b = init_weights(nn.GRU(2, 3), 0), init_weights(nn.GRU(2, 3), 0)
        >>> torch.equal(a.weight_hh_l0, b.weight_hh_l0)
        True
    """
    from lstmviz.trainer import check_int  # not at the top: lstmviz.trainer imports this module

    check_int("seed", seed, 0, 2**64 - 1)
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, nn.RNNBase):
                k = module.hidden_size**-0.5
                for p in module.parameters(recurse=False):
                    p.copy_(torch.rand(p.shape, generator=g, dtype=p.dtype) * 2 * k - k)
            elif isinstance(module, nn.Embedding):
                module.weight.copy_(torch.randn(module.weight.shape, generator=g, dtype=module.weight.dtype))
                if module.padding_idx is not None:
                    module.weight[module.padding_idx].zero_()
            elif isinstance(module, (nn.Linear, nn.Conv1d)):
                fan_in = module.in_features if isinstance(module, nn.Linear) else module.weight[0].numel()
                k = fan_in**-0.5
                for p in module.parameters(recurse=False):
                    p.copy_(torch.rand(p.shape, generator=g, dtype=p.dtype) * 2 * k - k)
    after_init = getattr(model, "after_init", None)  # what the config fixes (gate biases): SeededModule
    if callable(after_init):
        after_init()
    return model


def weights_fingerprint(model: nn.Module) -> str:
    """sha256 of every parameter and buffer (names, dtypes, shapes and bytes), in state-dict order.

    Stored in a checkpoint's meta as ``init_fingerprint`` so a run's starting point can be
    checked and reproduced.

    Example:
        >>> len(weights_fingerprint(nn.Linear(2, 2)))
        64
    """
    h = hashlib.sha256()
    for name, t in model.state_dict().items():
        t = t.detach().cpu().contiguous()
        h.update(f"{name}:{t.dtype}:{tuple(t.shape)};".encode())
        h.update(t.numpy().tobytes() if t.dtype != torch.bfloat16 else t.float().numpy().tobytes())
    return h.hexdigest()


class UnknownInitialisation(ValueError):
    """A trained model's starting weights cannot be rebuilt: its meta stores no ``init_fingerprint``, or the weights
    rebuilt from its ``init_seed`` are not the ones it stores. Nothing may then be shown as the model "before
    training"; a ValueError, so callers that refuse bad checkpoints refuse this too."""


def check_initialisation(model: nn.Module, meta: dict[str, Any]) -> nn.Module:
    """``model`` when it is the recorded starting point of a checkpoint: its :func:`weights_fingerprint` equals the
    ``init_fingerprint`` stored in ``meta`` at training time.

    Args:
        model: Weights rebuilt from the checkpoint's ``init_seed`` (e.g. :meth:`RecurrentClassifier.seeded`).
        meta: The checkpoint's meta.

    Returns:
        ``model`` itself.

    Raises:
        UnknownInitialisation: ``meta`` has no ``init_fingerprint``, or it is another model's.

    Example:
        >>> start = nn.Linear(2, 2)
        >>> check_initialisation(start, {"init_fingerprint": weights_fingerprint(start)}) is start
        True
        >>> check_initialisation(start, {"init_seed": 0})
        Traceback (most recent call last):
        lstmviz.models.UnknownInitialisation: the checkpoint stores no init_fingerprint: its initial weights are unknown
    """
    stored = meta.get("init_fingerprint")
    if not stored:
        raise UnknownInitialisation("the checkpoint stores no init_fingerprint: its initial weights are unknown")
    if weights_fingerprint(model) != stored:
        raise UnknownInitialisation(
            f"the weights rebuilt from init_seed={meta.get('init_seed')!r} do not match the stored init_fingerprint: "
            "the checkpoint's initial weights are unknown (it was not initialised by this lstmviz)"
        )
    return model
