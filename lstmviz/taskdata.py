"""Task data for training: the sentiment corpus, and online streams of the long-range tasks.

Two kinds of training data feed :func:`lstmviz.trainer.fit`:

* :class:`SequenceData`, a fixed padded split (the sentiment corpus), shuffled every epoch;
* :class:`OnlineStream`, fresh synthetic sequences drawn batch after batch from a seeded
  ``torch.Generator`` (cue recall, the adding problem): there is no training set to memorise.
  A drawn sequence that equals one of the held-out sequences is rejected and drawn again, so
  training never sees a validation or test sequence, even at small lags where the task space
  is small (cue recall at lag 2 has only 4 * 15**2 = 900 sequences).

Held-out sets come from their own seeds (``seed + VAL_SEED_OFFSET`` and ``seed +
TEST_SEED_OFFSET``), so the same ``seed`` gives the same training stream and the same
held-out sets in every process. The "lag" of cue recall is the number of distractors between
cue and query; the "lag" of the adding problem is its sequence length. With ``lag_max`` every
batch draws its own lag uniformly from ``[lag, lag_max]`` (all sequences of a batch share it,
so batches stay unpadded); held-out sets then mix lags from the same range.

:data:`TASK_DEFAULTS` holds every per-task default (model size, optimiser, data sizes): the
CLI, the sweeps and the dashboard's lab all read it.

Example::

    data = prepare_online("cue_recall", lag=50, seed=0)
    batch = data.train.draw(64)          # SequenceData: x (64, 52), lengths, y
    data.val.x.shape                     # (512, 52)
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from lstmviz import tasks
from lstmviz.datasets import CORPUS_LABELS, MAX_DATA_BYTES, DataError, load_opensentiment, stratified_split
from lstmviz.pipeline import MAX_TOKENS, encode_texts
from lstmviz.text import TextPipeline
from lstmviz.vocab import Vocab

__all__ = [
    "EVAL_LAGS",
    "ONLINE_TASKS",
    "TASKS",
    "TASK_DEFAULTS",
    "TEST_SEED_OFFSET",
    "VAL_SEED_OFFSET",
    "OnlineStream",
    "SequenceData",
    "TaskData",
    "held_out_set",
    "lag_test_sets",
    "prepare_online",
    "prepare_sentiment",
]

TASKS = ("sentiment", "cue_recall", "adding")
ONLINE_TASKS = ("cue_recall", "adding")
VAL_SEED_OFFSET = 1_000_003  # validation set seed = run seed + this
TEST_SEED_OFFSET = 2_000_029  # test set seed = run seed + this
EVAL_LAGS = (5, 10, 20, 50, 100, 200)  # lags at which an online model is also tested (those in its range)
_N_PER_LAG = 1024  # sequences in each per-lag test set
MIN_SENTIMENT_ROWS = 10  # fewer labelled rows cannot fill an 80/10/10 split
_MAX_REDRAWS = 1000  # rejection rounds before a stream gives up (the held-out set covers the task space)

# Every per-task default in one place: model ("model"), optimisation ("train") and data ("data").
# Sentiment: the shipped models retrain in minutes on 2 CPU cores. Online tasks: hidden 32 and
# 1,500 updates (30 evaluations of 50 updates) let the full multi-seed sweep run in <= 30 min on 2
# cores; gate bias 1 is what Jozefowicz et al. (2015) recommend for the LSTM forget gate.
TASK_DEFAULTS: dict[str, dict[str, dict[str, Any]]] = {
    "sentiment": {
        "model": {"embed_dim": 64, "hidden_size": 64, "dropout": 0.3, "gate_bias": 2.0},
        "train": {
            "epochs": 20,
            "batch_size": 32,
            "lr": 2e-3,
            "weight_decay": 0.1,
            "patience": 5,
            "class_weighted": True,
        },
        "data": {"min_freq": 2, "max_vocab": 20000},
    },
    "cue_recall": {
        "model": {"embed_dim": 16, "hidden_size": 32, "dropout": 0.0, "gate_bias": 1.0},
        "train": {
            "epochs": 30,
            "updates_per_epoch": 50,
            "batch_size": 64,
            "lr": 3e-3,
            "weight_decay": 0.0,
            "patience": 0,
            "class_weighted": False,
            "stop_at": 0.95,
        },
        "data": {"lag": 50, "lag_max": None, "n_val": 512, "n_test": 1024, "n_classes": 4, "vocab_size": 20},
    },
    "adding": {
        "model": {"hidden_size": 32, "dropout": 0.0, "gate_bias": 1.0},
        "train": {
            "epochs": 30,
            "updates_per_epoch": 50,
            "batch_size": 64,
            "lr": 3e-3,
            "weight_decay": 0.0,
            "patience": 0,
            "class_weighted": False,
            "stop_at": 0.01,
        },
        "data": {"lag": 50, "lag_max": None, "n_val": 512, "n_test": 1024},
    },
}


@dataclass
class SequenceData:
    """A padded split: ``x`` ids (N, T) or features (N, T, F), ``lengths`` (N,), targets ``y`` (N,).

    Example:
        >>> d = SequenceData(torch.tensor([[2, 3], [4, 0]]), torch.tensor([2, 1]), torch.tensor([0, 1]))
        >>> len(d), len(d.subset(torch.tensor([1])))
        (2, 1)
    """

    x: torch.Tensor  # (N, T) long or (N, T, F) float
    lengths: torch.Tensor  # (N,)
    y: torch.Tensor  # (N,) long class ids or float targets

    def __post_init__(self) -> None:
        n = self.x.shape[0]
        if self.lengths.shape != (n,) or self.y.shape != (n,):
            raise ValueError(
                f"x has {n} rows but lengths has shape {tuple(self.lengths.shape)} and y {tuple(self.y.shape)}"
            )

    def __len__(self) -> int:
        return int(self.x.shape[0])

    def subset(self, idx: torch.Tensor) -> SequenceData:
        """The rows ``idx``, trimmed to their own longest length."""
        lengths = self.lengths[idx]
        t_max = int(lengths.max()) if len(idx) else 0
        return SequenceData(self.x[idx][:, :t_max], lengths, self.y[idx])


def _row_keys(x: torch.Tensor, lengths: torch.Tensor) -> list[bytes]:
    """One hashable key per sequence: its valid steps' bytes (the length is part of the key)."""
    rows = x.contiguous().numpy()
    return [rows[i, : int(n)].tobytes() for i, n in enumerate(lengths.tolist())]


def _generate(task: str, n: int, lag: int, params: Mapping[str, Any], g: torch.Generator):
    """``n`` sequences of one lag from generator ``g``: (x, y)."""
    if task == "cue_recall":
        return tasks.cue_recall(n, lag, params["n_classes"], params["vocab_size"], generator=g)
    return tasks.adding_problem(n, lag, generator=g)


class OnlineStream:
    """Fresh training batches from a seeded generator, never equal to a held-out sequence.

    Args:
        task: "cue_recall" or "adding".
        lag: Cue recall: distractors between cue and query (>= 0). Adding: sequence length (>= 2).
        lag_max: When given, each batch draws its lag uniformly from ``[lag, lag_max]``.
        params: Task parameters (cue recall: ``n_classes``, ``vocab_size``).
        seed: Seed of the stream's private generator.
        held_out: Sequences the stream must never produce (validation and test sets).

    Attributes:
        generator: The stream's ``torch.Generator`` (its state is saved to resume a run).
        drawn, rejected: Sequences drawn so far and how many of them were redrawn.

    Example:
        >>> s = OnlineStream("cue_recall", 3, params={"n_classes": 4, "vocab_size": 20}, seed=0)
        >>> tuple(s.draw(8).x.shape)
        (8, 5)
    """

    def __init__(
        self,
        task: str,
        lag: int,
        *,
        lag_max: int | None = None,
        params: Mapping[str, Any] | None = None,
        seed: int = 0,
        held_out: tuple[SequenceData, ...] = (),
    ) -> None:
        if task not in ONLINE_TASKS:
            raise ValueError(f"task={task!r} has no online stream; allowed: {', '.join(ONLINE_TASKS)}")
        _check_lags(task, lag, lag_max)
        self.task, self.lag, self.lag_max = task, lag, lag_max
        self.params = dict(params or {})
        self.seed = seed
        self.generator = torch.Generator().manual_seed(seed)
        self._held: set[bytes] = set()
        for part in held_out:
            self._held.update(_row_keys(part.x, part.lengths))
        self.drawn = 0
        self.rejected = 0

    def restart(self) -> OnlineStream:
        """Rewinds the stream to its seed (a new run on the same task sees the same batches)."""
        self.generator.manual_seed(self.seed)
        self.drawn = self.rejected = 0
        return self

    def draw(self, n: int) -> SequenceData:
        """``n`` fresh sequences of one lag (drawn first when ``lag_max`` is set).

        Raises:
            ValueError: when no new sequence can be found (the held-out sets cover the space).
        """
        g = self.generator
        lag = self.lag if self.lag_max is None else int(torch.randint(self.lag, self.lag_max + 1, (1,), generator=g))
        x, y = _generate(self.task, n, lag, self.params, g)  # (N, T) or (N, T, 2), (N,)
        lengths = torch.full((n,), x.shape[1], dtype=torch.long)
        if self._held:
            for _ in range(_MAX_REDRAWS):
                bad = [i for i, k in enumerate(_row_keys(x, lengths)) if k in self._held]
                if not bad:
                    break
                self.rejected += len(bad)
                x_new, y_new = _generate(self.task, len(bad), lag, self.params, g)
                x[bad], y[bad] = x_new, y_new
            else:
                raise ValueError(
                    f"{self.task} at lag {lag}: no training sequence outside the held-out sets after "
                    f"{_MAX_REDRAWS} redraws; use fewer held-out sequences or a longer lag"
                )
        self.drawn += n
        return SequenceData(x, lengths, y)


def _check_lags(task: str, lag: Any, lag_max: Any) -> None:
    lo = 0 if task == "cue_recall" else 2
    what = "distractors between cue and query" if task == "cue_recall" else "sequence length"
    if isinstance(lag, bool) or not isinstance(lag, int) or lag < lo:
        raise ValueError(f"lag={lag!r} is invalid for {task} ({what}); allowed: an integer >= {lo}")
    if lag_max is not None and (isinstance(lag_max, bool) or not isinstance(lag_max, int) or lag_max < lag):
        raise ValueError(f"lag_max={lag_max!r} is invalid; allowed: None or an integer >= lag ({lag})")


def held_out_set(
    task: str,
    lag: int,
    n: int,
    seed: int,
    *,
    lag_max: int | None = None,
    params: Mapping[str, Any] | None = None,
) -> SequenceData:
    """``n`` held-out sequences from generator ``seed``; with ``lag_max``, lags drawn from ``[lag, lag_max]``.

    Sequences of different lags are padded with 0 at the end (``lengths`` says where each ends).

    Example:
        >>> d = held_out_set("cue_recall", 2, 6, seed=5, lag_max=4, params={"n_classes": 4, "vocab_size": 20})
        >>> sorted(set(d.lengths.tolist())) <= [4, 5, 6], len(d)
        (True, 6)
    """
    _check_lags(task, lag, lag_max)
    params = dict(params or {})
    g = torch.Generator().manual_seed(seed)
    if lag_max is None:
        x, y = _generate(task, n, lag, params, g)
        return SequenceData(x, torch.full((n,), x.shape[1], dtype=torch.long), y)
    lags = torch.randint(lag, lag_max + 1, (n,), generator=g)  # (N,)
    parts = {int(k): _generate(task, int((lags == k).sum()), int(k), params, g) for k in torch.unique(lags)}
    t_max = max(x.shape[1] for x, _ in parts.values())
    first_x = next(iter(parts.values()))[0]
    x = torch.zeros((n, t_max, *first_x.shape[2:]), dtype=first_x.dtype)  # (N, T_max[, 2])
    y = torch.zeros(n, dtype=next(iter(parts.values()))[1].dtype)
    lengths = torch.zeros(n, dtype=torch.long)
    for k, (xk, yk) in parts.items():
        rows = (lags == k).nonzero().squeeze(1)
        x[rows, : xk.shape[1]] = xk
        y[rows] = yk
        lengths[rows] = xk.shape[1]
    return SequenceData(x, lengths, y)


def lag_test_sets(
    task: str,
    lag: int,
    lag_max: int | None,
    seed: int,
    *,
    params: Mapping[str, Any] | None = None,
    lags: tuple[int, ...] = EVAL_LAGS,
    n: int = _N_PER_LAG,
) -> dict[int, SequenceData]:
    """One fixed-lag test set for each of ``lags`` inside ``[lag, lag_max]``.

    Each is drawn with seed ``seed + TEST_SEED_OFFSET + 1000 * lag``.

    :func:`prepare_online` hands them to the training stream's rejection, so they are held out
    too; anyone can rebuild them from a checkpoint's seed to test it at those lags.

    Example:
        >>> sorted(lag_test_sets("cue_recall", 5, 50, 0, params={"n_classes": 4, "vocab_size": 20}, n=4))
        [5, 10, 20, 50]
    """
    hi = lag if lag_max is None else lag_max
    return {
        k: held_out_set(task, k, n, seed + TEST_SEED_OFFSET + 1000 * k, params=params) for k in lags if lag <= k <= hi
    }


@dataclass
class TaskData:
    """Everything a training run needs besides the configs: splits, labels and meta.

    Attributes:
        task: "sentiment", "cue_recall" or "adding".
        train: A fixed split, or an :class:`OnlineStream` for the online tasks.
        val, test: The held-out splits.
        labels: Class names, index = class id (empty for the regression task).
        vocab_size: Ids the embedding must cover (0 for real-valued inputs).
        test_by_lag: Online tasks: a test set per lag of :data:`EVAL_LAGS` in the training range.
        meta: Entries for the checkpoint's meta (vocab, pipeline, dataset, task_params, ...).
    """

    task: str
    train: SequenceData | OnlineStream
    val: SequenceData
    test: SequenceData
    labels: list[str]
    vocab_size: int
    meta: dict[str, Any] = field(default_factory=dict)
    test_by_lag: dict[int, SequenceData] = field(default_factory=dict)

    @property
    def online(self) -> bool:
        """True when training draws fresh sequences every batch."""
        return isinstance(self.train, OnlineStream)


def _sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def prepare_sentiment(
    data: str | os.PathLike,
    *,
    seed: int = 0,
    pipeline: TextPipeline | None = None,
    vocab: Vocab | None = None,
    min_freq: int = TASK_DEFAULTS["sentiment"]["data"]["min_freq"],
    max_vocab: int = TASK_DEFAULTS["sentiment"]["data"]["max_vocab"],
    max_bytes: int = MAX_DATA_BYTES,
) -> TaskData:
    """Loads OpenSentimentCorpus (or any ``Sentence,Sentiment`` CSV), splits and encodes it.

    The vocabulary is built on the training split only (unless ``vocab`` is given, as when
    resuming), so validation and test words unseen in training are ``<unk>``.

    Args:
        data: The corpus CSV or its directory.
        seed: Seed of the stratified 80/10/10 split.
        pipeline: Text pipeline; default ``TextPipeline()`` (lemmas, no stop-word removal).
        vocab: Use this vocabulary instead of building one.
        min_freq: Keep training tokens seen at least this often.
        max_vocab: Largest vocabulary size including ``<pad>``/``<unk>``.
        max_bytes: Largest corpus file accepted (checked before reading).

    Returns:
        A :class:`TaskData` with task "sentiment".

    Example:
        >>> d = prepare_sentiment("../shared/data/opensentimentcorpus")  # doctest: +SKIP
        >>> d.labels  # doctest: +SKIP
        ['negative', 'neutral', 'positive', 'mixed']
    """
    pipeline = pipeline or TextPipeline()
    df = load_opensentiment(data, max_bytes=max_bytes)
    source = Path(df.attrs.get("source", data))
    present = set(df["label"])
    if len(present) < 2:
        raise DataError(
            f"{source} has {len(present)} label(s) ({', '.join(sorted(present))}); training a "
            "classifier needs at least 2"
        )
    train_df, val_df, test_df = stratified_split(df, seed=seed)
    if len(df) < MIN_SENTIMENT_ROWS or min(len(train_df), len(val_df), len(test_df)) == 0:
        raise DataError(
            f"{source} has {len(df)} usable row(s), too few for an 80/10/10 train/validation/test "
            f"split; it needs at least {MIN_SENTIMENT_ROWS}"
        )
    labels = [lab for lab in CORPUS_LABELS if lab in present] + sorted(present - set(CORPUS_LABELS))
    label_vocab = Vocab(labels, specials=False)  # label <-> class id, in the order of ``labels``
    if vocab is None:
        vocab = Vocab.build((pipeline.lemmas(t) for t in train_df["text"]), min_freq=min_freq, max_size=max_vocab)

    def split(part) -> SequenceData:
        ids, lengths = encode_texts(list(part["text"]), pipeline, vocab, MAX_TOKENS)
        y = torch.tensor(label_vocab.encode(list(part["label"])), dtype=torch.long)
        return SequenceData(ids, lengths, y)

    return TaskData(
        task="sentiment",
        train=split(train_df),
        val=split(val_df),
        test=split(test_df),
        labels=labels,
        vocab_size=len(vocab),
        meta={
            "vocab": vocab.to_dict(),
            "pipeline": pipeline.to_dict(),
            "max_tokens": MAX_TOKENS,
            "task_params": {"min_freq": min_freq, "max_vocab": max_vocab},
            "dataset": {
                "name": "opensentimentcorpus",
                "file": source.name,
                "path": str(data),
                "sha256": _sha256_file(source),
                "split_seed": seed,
                "fractions": [0.8, 0.1, 0.1],
                "sizes": {"train": len(train_df), "val": len(val_df), "test": len(test_df)},
            },
        },
    )


def prepare_online(
    task: str,
    lag: int | None = None,
    *,
    lag_max: int | None = None,
    seed: int = 0,
    n_val: int | None = None,
    n_test: int | None = None,
    n_classes: int | None = None,
    vocab_size: int | None = None,
) -> TaskData:
    """An online long-range task: a fresh-data training stream and fixed, disjoint held-out sets.

    Args:
        task: "cue_recall" or "adding".
        lag: Cue recall: distractors between cue and query; adding: sequence length.
            Default from :data:`TASK_DEFAULTS`.
        lag_max: Draw each batch's lag from ``[lag, lag_max]`` (held-out sets mix the same range).
        seed: Training stream seed; validation and test use ``seed + VAL_SEED_OFFSET`` and
            ``seed + TEST_SEED_OFFSET``.
        n_val, n_test: Held-out sizes.
        n_classes, vocab_size: Cue recall only: cues and token ids.

    Returns:
        A :class:`TaskData` whose ``train`` is an :class:`OnlineStream`. Cue recall's chance
        accuracy is ``1 / n_classes``; the adding problem's baseline MSE is 1/6.

    Example:
        >>> d = prepare_online("cue_recall", 5, n_val=8, n_test=8)
        >>> d.online, d.labels[:2], tuple(d.val.x.shape)
        (True, ['french', 'spanish'], (8, 7))
    """
    if task not in ONLINE_TASKS:
        raise ValueError(f"task={task!r} is not an online task; allowed: {', '.join(ONLINE_TASKS)}")
    d = TASK_DEFAULTS[task]["data"]
    lag = d["lag"] if lag is None else lag
    n_val = d["n_val"] if n_val is None else n_val
    n_test = d["n_test"] if n_test is None else n_test
    if task == "cue_recall":
        params = {"n_classes": n_classes or d["n_classes"], "vocab_size": vocab_size or d["vocab_size"]}
        labels = tasks.cue_recall_labels(params["n_classes"])
        n_ids = params["vocab_size"]
        extra: dict[str, Any] = {"token_names": tasks.cue_recall_vocab(**params)}
    else:
        if n_classes is not None or vocab_size is not None:
            raise ValueError("n_classes and vocab_size apply to cue_recall only; the adding problem has real inputs")
        params, labels, n_ids, extra = {}, [], 0, {}
    val = held_out_set(task, lag, n_val, seed + VAL_SEED_OFFSET, lag_max=lag_max, params=params)
    test = held_out_set(task, lag, n_test, seed + TEST_SEED_OFFSET, lag_max=lag_max, params=params)
    by_lag = lag_test_sets(task, lag, lag_max, seed, params=params)
    stream = OnlineStream(task, lag, lag_max=lag_max, params=params, seed=seed, held_out=(val, test, *by_lag.values()))
    h = hashlib.sha256()
    for part in (val, test, *by_lag.values()):
        for t in (part.x, part.lengths, part.y):
            h.update(t.contiguous().numpy().tobytes())
    task_params = {"lag": lag, "lag_max": lag_max, **params}
    if task == "cue_recall":
        task_params["n_distractors"] = lag  # the name older checkpoints use
    generator = "lstmviz.tasks.cue_recall" if task == "cue_recall" else "lstmviz.tasks.adding_problem"
    return TaskData(
        task=task,
        train=stream,
        val=val,
        test=test,
        labels=labels,
        vocab_size=n_ids,
        test_by_lag=by_lag,
        meta={
            "vocab": None,
            "pipeline": None,
            **extra,
            "task_params": task_params,
            "dataset": {
                "name": task,
                "online": True,
                "generator": generator,
                "params": task_params,
                "seed": seed,
                "val_seed": seed + VAL_SEED_OFFSET,
                "test_seed": seed + TEST_SEED_OFFSET,
                "sha256": h.hexdigest(),  # of the held-out sets
                "sizes": {"val": n_val, "test": n_test, "test_per_lag": _N_PER_LAG},
                "test_lags": sorted(by_lag),
            },
        },
    )
