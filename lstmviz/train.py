"""Command line for training: ``python -m lstmviz.train --help``.

The work is done elsewhere: :mod:`lstmviz.taskdata` (data), :mod:`lstmviz.trainer` (the loop),
:mod:`lstmviz.experiments` (train one, resume, compare) and :mod:`lstmviz.sweeps` (multi-seed
sweeps). This module parses flags, sets the process-wide switches a library call must not
touch (torch's thread count, deterministic algorithms), and maps errors to exit codes::

    python -m lstmviz.train --task sentiment --data ../shared/data/opensentimentcorpus --cell lstm \\
        --out checkpoints/sentiment-lstm
    python -m lstmviz.train --task cue_recall --lag 5 --lag-max 200 --cell gru --out checkpoints/cue-gru
    python -m lstmviz.train --task adding --lag 50 --cell lstm --out /tmp/adding-lstm
    python -m lstmviz.train --resume --out checkpoints/cue-gru --epochs 80
    python -m lstmviz.train --task sentiment --data ... --compare --out checkpoints
    python -m lstmviz.train --task cue_recall --lag-sweep --seeds 5 --workers 2 --out checkpoints
    python -m lstmviz.train --task cue_recall --bias-sweep --lag 100 --out checkpoints
    python -m lstmviz.train --task cue_recall --lag-sweep --gate-bias 4 --tag b4 --out checkpoints

Exit status: 0 ok, 2 usage or data error, 3 the loss diverged (the checkpoint keeps the last
good epoch).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError

from lstmviz.bow import BowConfig
from lstmviz.checkpoint import check_output_dir
from lstmviz.datasets import MAX_DATA_BYTES
from lstmviz.experiments import CHECKPOINT_PREFIX, compare_cells, resume_training, train_model
from lstmviz.models import CELLS, ModelConfig
from lstmviz.sweeps import DEFAULT_BIASES, DEFAULT_LAGS, default_specs, run_sweep, write_sweep
from lstmviz.taskdata import ONLINE_TASKS, TASK_DEFAULTS, TASKS, prepare_online, prepare_sentiment
from lstmviz.tagdata import MissingExtraError
from lstmviz.trainer import TrainConfig, TrainingDiverged

__all__ = ["EXIT_DIVERGED", "main"]

EXIT_DIVERGED = 3  # CLI exit status when the loss became NaN/Inf
_DEFAULT_DATA = "../shared/data/opensentimentcorpus"


def _ints(s: str) -> list[int]:
    return [int(v) for v in s.split(",") if v.strip()]


def _floats(s: str) -> list[float]:
    return [float(v) for v in s.split(",") if v.strip()]


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m lstmviz.train",
        description="Train RNN/GRU/LSTM models, write lstmviz checkpoints, run multi-seed sweeps.",
    )
    p.add_argument("--task", choices=(*TASKS, "charlm", "tagger"), default="sentiment",
                   help="what to train on; charlm: a character-level language model on the corpus text; tagger: the "
                        "char-CNN + BiLSTM part-of-speech / entity tagger on silver labels (default: sentiment)")
    p.add_argument("--slovnet", help="tagger: folder with slovnet_morph_news_v1.tar and slovnet_ner_news_v1.tar "
                                     "(from the natasha wheel; default: an installed natasha's data folder)")
    p.add_argument("--data", default=_DEFAULT_DATA, help="sentiment corpus CSV or directory (default: %(default)s)")
    p.add_argument("--cell", choices=(*CELLS, "bow"), default="lstm",
                   help="recurrent cell, or bow: the bag-of-words baseline (default: lstm)")
    p.add_argument("--out", help="checkpoint directory; with --compare and the sweeps the root directory")
    mode = p.add_mutually_exclusive_group()
    mode.add_argument("--resume", action="store_true", help="continue the run stored in --out")
    mode.add_argument("--compare", action="store_true", help="train rnn, gru and lstm under identical settings")
    mode.add_argument("--lag-sweep", action="store_true", help="online task: success rate vs lag, cells x lags x seeds")
    mode.add_argument("--bias-sweep", action="store_true", help="online task: success rate vs gate bias at --lag")
    mode.add_argument("--seed-study", action="store_true",
                      help="sentiment: every variant x cell x seed and the bag-of-words baseline, mean ± sd")  # fmt: skip
    p.add_argument("--variants", help="--seed-study variants, comma-separated (default: all; see lstmviz.sentiment_study)")
    p.add_argument("--navec", help="navec .tar from the natasha wheel: pretrained embedding (--seed-study, or one model)")
    p.add_argument("--lag", type=int, help="cue recall: distractors between cue and query; adding: sequence length")
    p.add_argument("--lag-max", type=int, help="draw each batch's lag from [--lag, --lag-max]")
    p.add_argument("--lags", type=_ints, help="--lag-sweep lags, comma-separated (cue recall: 10,20,50,100,200)")
    p.add_argument("--biases", type=_floats, help="--bias-sweep gate biases, comma-separated (default: 0,1,2,4)")
    p.add_argument("--seeds", type=int, default=5, help="sweeps: seeds 0..N-1 (default: 5)")
    p.add_argument("--workers", type=int, default=2, help="sweeps: parallel single-thread processes (default: 2)")
    p.add_argument("--tag", default="", help="sweeps: suffix of the result file, sweep_<task>_<kind>_<tag>.json")
    p.add_argument("--n-train", type=int, help="ignored: the online tasks draw fresh training data every batch")
    p.add_argument("--embed", type=int, help="embedding size")
    p.add_argument("--hidden", type=int, help="hidden units per layer and direction")
    p.add_argument("--layers", type=int, default=1, help="stacked recurrent layers (default: 1)")
    p.add_argument("--bidirectional", action="store_true", help="bidirectional RNN")
    p.add_argument("--dropout", type=float, help="dropout between layers and before the head")
    p.add_argument("--gate-bias", type=float, help="initial LSTM forget / GRU update gate bias")
    p.add_argument("--min-freq", type=int, help="sentiment: minimum token count for the vocabulary")
    p.add_argument("--max-vocab", type=int, help="sentiment: maximum vocabulary size")
    p.add_argument("--max-bytes", type=int, default=MAX_DATA_BYTES,
                   help="sentiment: refuse a --data file larger than this (default: %(default)s)")
    p.add_argument("--epochs", type=int, help="maximum epochs (online: evaluations)")
    p.add_argument("--updates-per-epoch", type=int, help="online tasks: updates between two evaluations")
    p.add_argument("--stop-at", type=float, help="online tasks: stop once val accuracy reaches / val MSE falls to this (0: off)")
    p.add_argument("--batch-size", type=int, help="batch size")
    p.add_argument("--lr", type=float, help="AdamW learning rate")
    p.add_argument("--weight-decay", type=float, help="AdamW weight decay")
    p.add_argument("--patience", type=int, help="early-stopping patience in epochs (0: off)")
    p.add_argument("--clip", type=float, help="gradient-norm clipping threshold (default: 1.0; 0: off)")
    cw = p.add_mutually_exclusive_group()
    cw.add_argument("--class-weighted", dest="class_weighted", action="store_true", default=None,
                    help="inverse-frequency class weights in the loss (sentiment default)")  # fmt: skip
    cw.add_argument("--no-class-weighted", dest="class_weighted", action="store_false")
    p.add_argument("--seed", type=int, default=0,
                   help="training seed: initialisation, data order, dropout; online tasks: also the data (default: 0)")
    p.add_argument("--split-seed", type=int, default=0, help="sentiment: seed of the train/val/test split (default: 0)")
    p.add_argument("--freeze-embedding", action="store_true", help="keep the (e.g. --navec) embedding fixed in training")
    p.add_argument("--threads", type=int, default=2, help="torch CPU threads (default: 2)")
    p.add_argument("--quiet", action="store_true", help="no progress bar or per-epoch lines")
    return p


_MODEL_FLAGS = (("embed", "embed_dim"), ("hidden", "hidden_size"), ("dropout", "dropout"), ("gate_bias", "gate_bias"))
_TRAIN_FLAGS = (("epochs", "epochs"), ("batch_size", "batch_size"), ("lr", "lr"), ("weight_decay", "weight_decay"),
                ("patience", "patience"), ("class_weighted", "class_weighted"),
                ("updates_per_epoch", "updates_per_epoch"), ("stop_at", "stop_at"))  # fmt: skip


def _given(args: argparse.Namespace, flags) -> dict[str, Any]:
    """Config fields given explicitly on the command line (``--stop-at 0`` turns the stop off)."""
    given = {key: getattr(args, arg) for arg, key in flags if getattr(args, arg) is not None}
    if given.get("stop_at") == 0:
        given["stop_at"] = None
    return given


def _configs(args: argparse.Namespace) -> tuple[ModelConfig | BowConfig, TrainConfig]:
    d = TASK_DEFAULTS[args.task]
    model_cfg = BowConfig() if args.cell == "bow" else ModelConfig.from_dict({**d["model"], **_given(args, _MODEL_FLAGS), "cell": args.cell,
                                       "num_layers": args.layers, "bidirectional": args.bidirectional,
                                       "freeze_embedding": args.freeze_embedding})  # fmt: skip
    train = {**d["train"], **_given(args, _TRAIN_FLAGS), "seed": args.seed, "quiet": args.quiet}
    if args.clip is not None:
        train["clip_grad_norm"] = args.clip or None
    return model_cfg, TrainConfig.from_dict(train)


def _overrides(args: argparse.Namespace) -> dict[str, Any]:
    """TrainConfig fields given explicitly on a --resume command line."""
    o = {"quiet": args.quiet, **_given(args, _TRAIN_FLAGS)}
    if args.clip is not None:
        o["clip_grad_norm"] = args.clip or None
    return o


def _sweep(args: argparse.Namespace, kind: str) -> None:
    if args.task not in ONLINE_TASKS:
        raise ValueError(f"--{kind.replace('_', '-')}-sweep needs an online task ({', '.join(ONLINE_TASKS)}), "
                         f"got --task {args.task}")  # fmt: skip
    model = _given(args, _MODEL_FLAGS[:3])
    train = _given(args, _TRAIN_FLAGS)
    if kind == "lag":
        specs = default_specs(args.task, "lag", lags=args.lags or DEFAULT_LAGS[args.task], seeds=range(args.seeds),
                              gate_bias=args.gate_bias, model=model, train=train)  # fmt: skip
    else:
        specs = default_specs(args.task, "gate_bias", lags=[args.lag or 100], gate_biases=args.biases or DEFAULT_BIASES,
                              seeds=range(args.seeds), model=model, train=train)  # fmt: skip

    def progress(run: dict[str, Any], done: int, total: int) -> None:
        if not args.quiet:
            verdict = f"solved at {run['updates_to_solve']}" if run["solved"] else f"not solved ({run['updates']})"
            print(f"[{done}/{total}] {run['cell']} lag {run['lag']} bias {run['gate_bias']} seed {run['seed']}: "
                  f"{verdict}, {run['seconds']:.0f} s", flush=True)  # fmt: skip

    sweep = run_sweep(specs, kind=kind, workers=args.workers, progress=progress)
    root = args.out or "checkpoints"
    if args.tag and not args.tag.replace("-", "").replace("_", "").isalnum():
        raise ValueError(f"--tag {args.tag!r} is invalid; allowed: letters, digits, '-' and '_'")
    suffix = f"_{args.tag}" if args.tag else ""
    json_path, md_path = write_sweep(sweep, f"{root}/sweep_{args.task}_{kind}{suffix}.json")
    print(md_path.read_text(encoding="utf-8"))
    print(f"wrote {json_path} and {md_path} in {sweep['wall_seconds']:.0f} s")


def _seed_study(args: argparse.Namespace) -> None:
    from lstmviz.sentiment_study import run_study, study_specs, write_study

    if args.task != "sentiment":
        raise ValueError(f"--seed-study is for --task sentiment, got --task {args.task}")
    variants = [v.strip() for v in args.variants.split(",") if v.strip()] if args.variants else None
    specs = study_specs(args.data, seeds=range(args.seeds), variants=variants, navec=args.navec)

    def progress(run: dict[str, Any], done: int, total: int) -> None:
        if not args.quiet:
            print(f"[{done}/{total}] {run['variant']} {run['cell']} seed {run['seed']}: test acc "
                  f"{run['test_accuracy']:.3f} f1 {run['test_macro_f1']:.3f}, {run['seconds']:.0f} s", flush=True)

    study = run_study(specs, workers=args.workers, progress=progress)
    json_path, md_path = write_study(study, f"{args.out or 'checkpoints'}/sentiment_seeds")
    print(md_path.read_text(encoding="utf-8"))
    print(f"wrote {json_path} and {md_path} in {study['wall_seconds']:.0f} s")


def _charlm(args: argparse.Namespace) -> None:
    from lstmviz.chardata import prepare_chars
    from lstmviz.charlm import CharLMConfig
    from lstmviz.lmtrainer import LMTrainConfig, train_charlm

    out = args.out or f"checkpoints/charlm-{args.cell}"
    check_output_dir(out)
    model = {"cell": args.cell, "num_layers": args.layers if args.layers != 1 else 2}
    model.update({k: v for k, v in (("embed_dim", args.embed), ("hidden_size", args.hidden)) if v is not None})
    train = {"seed": args.seed}
    if args.epochs is not None:
        train["max_updates"] = args.epochs * LMTrainConfig().eval_every  # an "epoch" = one evaluation period
    data = prepare_chars(args.data, seed=args.split_seed)
    _, meta = train_charlm(data, CharLMConfig.from_dict(model), LMTrainConfig(**train), out=out,
                           log=None if args.quiet else print)  # fmt: skip
    tm = meta["test_metrics"]
    print(f"{args.cell}: test {tm['bpc']:.3f} bits/char (unigram {tm['unigram_bpc']:.3f}, bigram {tm['bigram_bpc']:.3f}); "
          f"{meta['updates']} updates in {meta['train_seconds']:.0f} s; saved {out}")


def _tagger(args: argparse.Namespace) -> None:
    from lstmviz.tagdata import find_silver_files, prepare_tags, require_training_extra
    from lstmviz.tagger import TaggerConfig
    from lstmviz.tagtrainer import TagTrainConfig, train_tagger

    out = args.out or f"checkpoints/tagger-{args.cell}"
    check_output_dir(out)
    require_training_extra()  # before looking for model files: the install comes first
    model = {"cell": args.cell, "num_layers": args.layers if args.layers != 1 else 2}
    model.update({k: v for k, v in (("word_dim", args.embed), ("hidden_size", args.hidden), ("dropout", args.dropout))
                  if v is not None})  # fmt: skip
    train = {"seed": args.seed, **{k: v for k, v in (("epochs", args.epochs), ("batch_size", args.batch_size),
                                                      ("lr", args.lr)) if v is not None}}  # fmt: skip
    data = prepare_tags(args.data, find_silver_files(args.slovnet, args.navec), seed=args.split_seed)
    _, meta = train_tagger(data, TaggerConfig.from_dict(model), TagTrainConfig(**train), out=out,
                           log=None if args.quiet else print)  # fmt: skip
    tm = meta["test_metrics"]
    print(f"tagger: test POS agreement {tm['pos']['accuracy']:.3f} (most frequent tag {tm['baseline']['pos']['accuracy']:.3f}), "
          f"NER macro-F1 {tm['ner']['macro_f1']:.3f} (baseline {tm['baseline']['ner']['macro_f1']:.3f}); "
          f"{meta['train_seconds']:.0f} s; saved {out}")


def _run(args: argparse.Namespace) -> None:
    if args.n_train is not None:
        print("note: --n-train is ignored; the online tasks draw fresh training data every batch", file=sys.stderr)
    if args.resume:
        if not args.out:
            raise ValueError("--resume needs --out, the checkpoint directory to continue")
        resume_training(args.out, data_path=args.data if args.data != _DEFAULT_DATA else None,
                        overrides=_overrides(args))  # fmt: skip
        return
    if args.lag_sweep or args.bias_sweep:
        _sweep(args, "lag" if args.lag_sweep else "gate_bias")
        return
    if args.seed_study:
        _seed_study(args)
        return
    if args.task == "charlm":
        _charlm(args)
        return
    if args.task == "tagger":
        _tagger(args)
        return
    model_cfg, train_cfg = _configs(args)
    # Refuse an output that is not ours before any work: a save replaces the folder as a whole.
    if args.compare:
        for cell in CELLS:
            check_output_dir(Path(args.out or "checkpoints") / f"{CHECKPOINT_PREFIX[args.task]}-{cell}")
    else:
        check_output_dir(args.out or f"checkpoints/{CHECKPOINT_PREFIX[args.task]}-{args.cell}")
    if args.task == "sentiment":
        dd = TASK_DEFAULTS["sentiment"]["data"]
        data = prepare_sentiment(args.data, seed=args.split_seed, min_freq=args.min_freq or dd["min_freq"],
                                 max_vocab=args.max_vocab or dd["max_vocab"], max_bytes=args.max_bytes)  # fmt: skip
    else:
        data = prepare_online(args.task, args.lag, lag_max=args.lag_max, seed=args.seed)
    matrix = None
    if args.navec:
        if args.task != "sentiment":
            raise ValueError(f"--navec needs --task sentiment (word vectors), got --task {args.task}")
        from lstmviz.pretrained import load_vectors

        if args.cell == "bow":
            raise ValueError("--navec gives word vectors to a recurrent model; --cell bow has no embedding")
        matrix, coverage = load_vectors(args.navec, data.meta["vocab"]["tokens"], seed=args.seed)
        model_cfg = ModelConfig.from_dict({**model_cfg.to_dict(), "embed_dim": int(matrix.shape[1])})
        print(f"navec vectors for {coverage:.1%} of the vocabulary")
    if args.compare:
        compare_cells(data, model_cfg, train_cfg, root=args.out or "checkpoints", pretrained=matrix)
    else:
        train_model(data, model_cfg, train_cfg, pretrained=matrix,
                    out=args.out or f"checkpoints/{CHECKPOINT_PREFIX[args.task]}-{args.cell}")


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point; returns the exit status (0 ok, 2 usage/data error, 3 diverged).

    The process-wide switches are set here, for this process only, and put back on return,
    so calling ``main`` from Python leaves torch as it was.

    Example:
        >>> main(["--task", "cue_recall", "--lag", "5", "--epochs", "1", "--out", "/tmp/cue"])  # doctest: +SKIP
        0
    """
    args = _parser().parse_args(argv)
    old_threads, old_det = torch.get_num_threads(), torch.are_deterministic_algorithms_enabled()
    torch.set_num_threads(max(1, args.threads))
    torch.use_deterministic_algorithms(True)
    try:
        _run(args)
        return 0
    except TrainingDiverged as e:
        print(f"error: {e}", file=sys.stderr)
        return EXIT_DIVERGED
    except (ValueError, FileNotFoundError, MissingExtraError) as e:  # CheckpointError and DataError are ValueErrors
        print(f"error: {e}", file=sys.stderr)
        return 2
    except (OSError, SafetensorError) as e:  # disk full, read-only, no permission: the last checkpoint is intact
        where = getattr(e, "filename", None) or args.out or "the output folder"
        print(f"error: cannot write {where}: {getattr(e, 'strerror', None) or e}; the previous checkpoint, if any, "
              "is unchanged", file=sys.stderr)  # fmt: skip
        return 2
    finally:
        torch.use_deterministic_algorithms(old_det)
        torch.set_num_threads(old_threads)


if __name__ == "__main__":
    sys.exit(main())
