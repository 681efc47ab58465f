"""Corpus recording scaled out on Ray Data: the same parts, written by a pool of workers that each load the model once.

The driver plans the recording exactly as :func:`lstmviz.corpus.record.record_corpus` does (same
manifest, same part boundaries), then Ray Data maps the part indices over ``workers`` actors; each
actor loads the checkpoint and the corpus once and calls :func:`~lstmviz.corpus.record.record_part`,
so every Parquet file equals the single-process one, finished parts are skipped on a rerun, and a
worker killed mid-part leaves no half file.

On one machine (``address=None``) a private local Ray instance is started with ``num_cpus=workers``
and shut down afterwards (Ray's old ``local_mode`` is gone). A driver killed outside ``finally`` (SIGKILL) leaves
nothing behind: Ray 2.60 starts ``gcs_server`` and ``raylet`` with kernel fate-sharing (``PR_SET_PDEATHSIG``
SIGKILL, ``ray._private.services.start_ray_process``), so they end with the driver, the workers within ~2 s, and
the dashboard and runtime-env agents, which poll their raylet, within ~65 s (``benchmarks/ray_fate_share.py``).
On a cluster, pass ``address="auto"`` (on
a cluster node) or ``"ray://<head>:10001"``; the checkpoint, the corpus and ``out`` must then be on a
file system every node sees at the same path (NFS, a shared volume), because workers read the inputs
and write their parts themselves. Ray is an optional extra: ``pip install -e .[ray]``.

Example::

    record_corpus_ray("checkpoints/sentiment-lstm", "../shared/data/opensentimentcorpus", "/tmp/rec", workers=2)
"""

from __future__ import annotations

import os
from typing import Any

__all__ = ["record_corpus_ray"]


class _PartWriter:
    """One Ray actor: the model and the texts loaded once, then any number of parts recorded."""

    def __init__(self, checkpoint: str, data: str, text_column: str, options: dict[str, Any], out: str) -> None:
        import torch

        from lstmviz.corpus.record import load_texts, plan
        from lstmviz.pipeline import Predictor

        torch.set_num_threads(1)  # one core per worker: the pool is the parallelism
        self.predictor = Predictor.from_checkpoint(checkpoint)
        self.texts, sha = load_texts(data, text_column)
        self.spec, self.columns = plan(
            self.predictor, self.texts, sha, checkpoint, options["quantities"], options["dtype"], options["part_size"]
        )
        self.batch_size, self.out = options["batch_size"], out

    def __call__(self, batch: dict[str, Any]) -> dict[str, Any]:
        from pathlib import Path

        from lstmviz.corpus.record import record_part

        written = [
            record_part(self.predictor, self.texts, Path(self.out), int(k), self.spec, self.columns, self.batch_size)
            for k in batch["index"]
        ]
        return {"index": batch["index"], "written": written}


def record_corpus_ray(
    checkpoint: str | os.PathLike,
    data: str | os.PathLike,
    out: str | os.PathLike,
    *,
    workers: int = 2,
    address: str | None = None,
    quantities: Any = None,
    dtype: str = "float16",
    part_size: int = 256,
    batch_size: int = 64,
    text_column: str = "Sentence",
) -> dict[str, Any]:
    """:func:`lstmviz.corpus.record.record_corpus` on Ray Data with ``workers`` model replicas.

    Example:
        >>> record_corpus_ray(  # doctest: +SKIP
        ...     "checkpoints/sentiment-gru", "corpus.csv", "/tmp/rec", workers=2
        ... )["dtype"]
        'float16'
    """
    try:
        import ray
    except ImportError:
        raise ValueError("--engine ray needs Ray: pip install -e .[ray]") from None
    from lstmviz.corpus.record import check_batch_size, open_recording

    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise ValueError(f"workers={workers!r} is invalid; allowed: an integer >= 1")
    check_batch_size(batch_size)  # before any folder is made
    _, _, spec, _, manifest, target = open_recording(checkpoint, data, out, quantities, dtype, part_size, text_column)
    started = not ray.is_initialized()
    if started:
        kw = {"num_cpus": workers} if address is None else {"address": address}
        ray.init(include_dashboard=False, log_to_driver=False, configure_logging=False, **kw)
    try:
        options = {
            "quantities": list(spec.quantities),
            "dtype": dtype,
            "part_size": part_size,
            "batch_size": batch_size,
        }
        ds = ray.data.from_items(
            [{"index": k} for k in range(len(spec.parts()))], override_num_blocks=len(spec.parts())
        )
        ds.map_batches(
            _PartWriter,
            batch_size=1,
            concurrency=workers,
            num_cpus=1,
            fn_constructor_args=(str(checkpoint), str(data), text_column, options, str(target)),
        ).materialize()
    finally:
        if started:
            ray.shutdown()
    return manifest
