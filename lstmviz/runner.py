"""The multi-seed runner: many independent runs of one function, in local worker processes or as Ray tasks.

:func:`run_specs` calls ``fn(spec)`` for every spec and returns the results in the order of the specs,
whichever engine ran them:

* ``engine="local"``: ``workers`` spawned single-thread processes (1: one after another in this process);
* ``engine="ray"``: one Ray task per spec, each on one CPU and one torch thread, on a private local Ray instance
  of ``workers`` CPUs (started and shut down here, as :mod:`lstmviz.corpus.rayengine` does) or, with
  ``address``, on a running cluster (``"auto"`` on a cluster node, ``"ray://<head>:10001"``); there every node
  needs this library and the data at the same paths. Ray is an optional extra: ``pip install -e .[ray]``.

A run's result depends only on its spec: the runs draw from private generators and ``fit`` seeds dropout itself,
and every worker computes on one thread, so the two engines give the same results (a test checks it on
``ray.init(num_cpus=2)``). ``progress`` is called in completion order with each result, the count done and the
total.

:func:`group_runs` and :func:`mean_sd` are the shared half of a summary table: the sweeps
(:func:`lstmviz.sweeps.summarize`) and the sentiment study (:func:`lstmviz.sentiment_study.summarize`) group
their rows with them and keep only their own columns.

Example:
    >>> run_specs(dict, [{"a": 1}, {"a": 2}], workers=1)
    [{'a': 1}, {'a': 2}]
    >>> [(key, len(rows)) for key, rows in group_runs([{"cell": "gru"}, {"cell": "rnn"}, {"cell": "gru"}], ["cell"])]
    [(('gru',), 2), (('rnn',), 1)]
"""

from __future__ import annotations

import concurrent.futures as cf
import multiprocessing
import statistics
from collections.abc import Callable, Hashable, Iterable, Mapping, Sequence
from typing import Any, TypeVar

__all__ = ["ENGINES", "group_runs", "mean_sd", "run_specs"]

ENGINES = ("local", "ray")  # where the runs run: worker processes here, or Ray tasks

R = TypeVar("R")


def _one_thread() -> None:
    """A worker computes on one thread: parallel runs, not parallel kernels (and the same sums in every engine)."""
    import torch

    torch.set_num_threads(1)


def _ray_call(fn: Callable[[Any], R], spec: Any) -> R:
    """The body of one Ray task: ``fn(spec)`` on one torch thread (a Ray worker may serve many tasks)."""
    _one_thread()
    return fn(spec)


def _check(workers: Any, engine: Any, address: Any) -> None:
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise ValueError(f"workers={workers!r} is invalid; allowed: an integer >= 1")
    if engine not in ENGINES:
        raise ValueError(f"engine={engine!r} is invalid; allowed: {', '.join(ENGINES)}")
    if address is not None and engine != "ray":
        raise ValueError(f"address={address!r} needs engine='ray' (got engine={engine!r})")


def run_specs(
    fn: Callable[[Any], R],
    specs: Iterable[Any],
    *,
    workers: int = 2,
    engine: str = "local",
    address: str | None = None,
    progress: Callable[[R, int, int], None] | None = None,
) -> list[R]:
    """``fn(spec)`` for every spec; the results in the order of ``specs``.

    Args:
        fn: A module-level function (workers import it by name: spawned processes and Ray workers are clean
            interpreters, with no inherited torch threads or locks).
        specs: The runs' descriptions (picklable, e.g. frozen dataclasses).
        workers: Parallel single-thread processes (local; 1: one after another in this process, with this
            process's thread count), or the CPUs of the private local Ray instance (ray without ``address``).
        engine: "local" or "ray".
        address: ``engine="ray"``: a running Ray cluster's address; None starts a private local instance.
        progress: Called with each finished result, the count done and the total (in completion order).

    Raises:
        ValueError: for a bad ``workers``, ``engine`` or ``address``, or ``engine="ray"`` without Ray installed.

    Example:
        >>> run_specs(dict, [{"seed": 0}], workers=1, engine="local")
        [{'seed': 0}]
    """
    _check(workers, engine, address)
    specs = list(specs)
    if not specs:  # nothing to start a pool or a Ray instance for
        return []
    if engine == "ray":
        return _run_ray(fn, specs, workers, address, progress)
    results: list[Any] = [None] * len(specs)
    if workers <= 1:
        for i, spec in enumerate(specs):
            results[i] = fn(spec)
            if progress:
                progress(results[i], i + 1, len(specs))
        return results
    ctx = multiprocessing.get_context("spawn")
    with cf.ProcessPoolExecutor(max_workers=workers, mp_context=ctx, initializer=_one_thread) as pool:
        index = {pool.submit(fn, spec): i for i, spec in enumerate(specs)}
        for done, fut in enumerate(cf.as_completed(index), 1):
            results[index[fut]] = fut.result()
            if progress:
                progress(results[index[fut]], done, len(specs))
    return results


def _run_ray(fn, specs: list[Any], workers: int, address: str | None, progress) -> list[Any]:
    """:func:`run_specs` on Ray: one task per spec (one CPU each); a private local instance unless ``address``."""
    try:
        import ray
    except ImportError:
        raise ValueError("engine='ray' needs Ray: pip install -e .[ray]") from None
    started = not ray.is_initialized()
    if started:
        kw = {"num_cpus": workers} if address is None else {"address": address}
        ray.init(include_dashboard=False, log_to_driver=False, configure_logging=False, **kw)
    try:
        call = ray.remote(num_cpus=1)(_ray_call)
        refs = [call.remote(fn, spec) for spec in specs]
        index = {ref: i for i, ref in enumerate(refs)}
        results: list[Any] = [None] * len(specs)
        pending, done = list(refs), 0
        while pending:
            ready, pending = ray.wait(pending, num_returns=1)
            for ref in ready:
                results[index[ref]] = ray.get(ref)
                done += 1
                if progress:
                    progress(results[index[ref]], done, len(specs))
        return results
    finally:
        if started:
            ray.shutdown()


def group_runs(
    runs: Iterable[Mapping[str, Any]],
    by: Sequence[str],
    order: Callable[[tuple], Any] | None = None,
) -> list[tuple[tuple, list[Mapping[str, Any]]]]:
    """The runs grouped by the values of the fields ``by`` (a missing field counts as None): ``[(key, runs)]``,
    groups in first-seen order, or sorted by ``order(key)``.

    Example:
        >>> runs = [{"cell": "rnn", "lag": 5}, {"cell": "gru", "lag": 5}, {"cell": "rnn", "lag": 5}]
        >>> [(k, len(rs)) for k, rs in group_runs(runs, ["cell", "lag"], order=lambda k: k[0])]
        [(('gru', 5), 1), (('rnn', 5), 2)]
    """
    groups: dict[Hashable, list[Mapping[str, Any]]] = {}
    for r in runs:
        groups.setdefault(tuple(r.get(f) for f in by), []).append(r)
    items = list(groups.items())
    return sorted(items, key=lambda kv: order(kv[0])) if order is not None else items


def mean_sd(xs: Sequence[float]) -> tuple[float, float | None]:
    """Mean and sample standard deviation (None for fewer than two values).

    Example:
        >>> mean_sd([1.0, 3.0]), mean_sd([2.0])
        ((2.0, 1.4142135623730951), (2.0, None))
    """
    return statistics.fmean(xs), (statistics.stdev(xs) if len(xs) > 1 else None)
