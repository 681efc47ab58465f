r"""Command line of the corpus explorer: ``python -m lstmviz.corpus record|top|match``.

Examples::

    python -m lstmviz.corpus record --checkpoint checkpoints/sentiment-lstm \
        --data ../shared/data/opensentimentcorpus --out /tmp/rec
    python -m lstmviz.corpus record --models my_models.py:word-lm --data corpus.csv --out /tmp/rec-lm
    python -m lstmviz.corpus record ... --shard 0/2 &  python -m lstmviz.corpus record ... --shard 1/2
    python -m lstmviz.corpus record ... --engine ray --workers 2
    python -m lstmviz.corpus top --dataset /tmp/rec --column hidden_l0_fwd --unit 5
    python -m lstmviz.corpus match --dataset /tmp/rec --column hidden_l0_fwd --units 5,7 --threshold 0.3 --length 2
"""

from __future__ import annotations

import argparse
import math
import sys
from collections.abc import Sequence

from lstmviz.corpus.manifest import MAX_PART_SIZE

MAX_SHARDS = 10_000


def _shard(text: str) -> tuple[int, int]:
    try:
        i, n = (int(x) for x in text.split("/"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"--shard {text!r} is invalid; allowed: i/n, e.g. 0/2") from None
    if not (1 <= n <= MAX_SHARDS and 0 <= i < n):
        raise argparse.ArgumentTypeError(f"--shard {text!r} is invalid; allowed: i/n with 0 <= i < n <= {MAX_SHARDS}")
    return i, n


def _int(flag: str, low: int, high: int):
    """An argparse type: an integer in ``[low, high]``, else exit 2 naming ``flag`` and the range."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            value = None
        if value is None or not low <= value <= high:
            raise argparse.ArgumentTypeError(f"{flag} {text!r} is invalid; allowed: an integer in {low}..{high}")
        return value

    return parse


def _finite(flag: str):
    """An argparse type: a finite number (not nan or inf), else exit 2 naming ``flag`` and the range."""

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            value = math.nan
        if not math.isfinite(value):
            raise argparse.ArgumentTypeError(f"{flag} {text!r} is invalid; allowed: a finite number (-inf, inf)")
        return value

    return parse


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m lstmviz.corpus", description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="command", required=True)
    r = sub.add_parser("record", help="record a corpus to a Parquet dataset")
    model = r.add_mutually_exclusive_group(required=True)
    model.add_argument("--checkpoint", help="a recurrent classifier checkpoint folder")
    model.add_argument(
        "--models",
        metavar="FILE.py[:NAME]",
        help="your own model: a models file (Python code you chose to run, see README 'Your own model') and the name "
        "of one of its adapters (split on the last ':'; optional when the file defines one); --engine local only",
    )
    r.add_argument("--data", required=True, help="corpus CSV, or the OpenSentimentCorpus folder")
    r.add_argument("--out", required=True, help="dataset folder (new, empty, or this same recording to resume)")
    r.add_argument("--text-column", default="Sentence", help="CSV column of the texts (default: %(default)s)")
    r.add_argument("--quantities", help="comma-separated quantities (default: all of the cell's)")
    r.add_argument("--dtype", choices=("float16", "float32"), default="float16")
    r.add_argument(
        "--part-size",
        type=_int("--part-size", 1, MAX_PART_SIZE),  # what plan() and the manifest accept
        default=256,
        help="sentences per part file (default: %(default)s)",
    )
    r.add_argument(
        "--batch-size",
        type=_int("--batch-size", 1, 65_536),
        default=64,
        help="sentences per forward pass (default: %(default)s)",
    )
    r.add_argument("--shard", type=_shard, default=(0, 1), help="i/n: record the parts with index %% n == i")
    r.add_argument("--engine", choices=("local", "ray"), default="local", help="local process, or Ray Data")
    r.add_argument(
        "--workers",
        type=_int("--workers", 1, 1024),
        default=2,
        help="--engine ray: model replicas (default: %(default)s)",
    )
    r.add_argument("--address", help="--engine ray: a running cluster (ray://host:10001 or auto); default local")
    r.add_argument(
        "--threads", type=_int("--threads", 1, 1024), default=1, help="torch threads per process (default: %(default)s)"
    )
    for name, helptext in (("top", "a unit's top contexts"), ("match", "LSTMVis match of a unit set")):
        q = sub.add_parser(name, help=helptext)
        q.add_argument("--dataset", required=True)
        q.add_argument("--column", required=True, help="e.g. hidden_l0_fwd (see manifest.json)")
        q.add_argument("-k", type=_int("-k", 1, 100_000), default=10, help="results (default: %(default)s)")
        if name == "top":
            q.add_argument("--unit", type=_int("--unit", 0, 1_000_000), required=True)
        else:
            q.add_argument("--units", required=True, help="comma-separated units")
            q.add_argument("--threshold", type=_finite("--threshold"), default=0.3)
            q.add_argument("--length", type=_int("--length", 1, 10_000), default=1, help="span length in tokens")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; 0 on success, 2 on a usage or data error (one line on stderr).

    Example:
        >>> main(["top", "--dataset", "/tmp/rec", "--column", "hidden_l0_fwd", "--unit", "3"])  # doctest: +SKIP
        0
    """
    import torch

    args = _parser().parse_args(argv)
    try:
        if args.command == "record":
            torch.set_num_threads(max(1, args.threads))
            qs = args.quantities.split(",") if args.quantities else None
            kw = dict(
                quantities=qs,
                dtype=args.dtype,
                part_size=args.part_size,
                batch_size=args.batch_size,
                text_column=args.text_column,
            )
            if args.models is not None and args.engine == "ray":
                raise ValueError("--engine ray records checkpoints only; allowed with --models: --engine local")
            if args.engine == "ray":
                from lstmviz.corpus.rayengine import record_corpus_ray

                m = record_corpus_ray(
                    args.checkpoint, args.data, args.out, workers=args.workers, address=args.address, **kw
                )
            else:
                from tqdm import tqdm

                from lstmviz.corpus.record import check_recordable, record_corpus

                if args.models is not None:
                    from lstmviz.corpus.adapted import load_adapter, record_adapter_corpus

                    adapter, source = load_adapter(args.models)  # before the bar, as check_recordable below
                    kw.pop("batch_size")  # each text runs alone through an adapter

                    def run(progress):
                        return record_adapter_corpus(
                            adapter, args.data, args.out, source=source, shard=args.shard, progress=progress, **kw
                        )
                else:
                    check_recordable(args.checkpoint)  # before the bar: a refusal is the only line on stderr

                    def run(progress):
                        return record_corpus(
                            args.checkpoint, args.data, args.out, shard=args.shard, progress=progress, **kw
                        )

                bar = tqdm(unit="part", desc=f"recording shard {args.shard[0]}/{args.shard[1]}")

                def progress(done: int, total: int) -> None:
                    bar.total = total
                    bar.update(done - bar.n)

                try:
                    m = run(progress)
                finally:
                    bar.close()  # ends the bar's line: an error below gets a line of its own
            print(f"recorded {m['sentences']} sentences into {args.out} ({len(m['parts'])} parts, {m['dtype']})")
            for module, why in m.get("skipped_modules", {}).items():  # an adapter's modules that are not per token
                print(f"not stored: module {module or '<root>'} ({why})")
            return 0
        from lstmviz.corpus.query import CorpusQuery

        q = CorpusQuery(args.dataset)
        if args.command == "top":
            out = q.top_contexts(args.column, args.unit, k=args.k)
        else:
            out = q.match(args.column, [int(u) for u in args.units.split(",")], args.threshold, args.length, k=args.k)
        print(out.to_string(index=False))
        return 0
    except (ValueError, FileNotFoundError, OSError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
