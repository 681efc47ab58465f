"""Self-describing, pickle-free, atomically written model checkpoints.

A checkpoint is a directory::

    <dir>/model.safetensors   weights of the model (safetensors; never a pickle)
    <dir>/meta.json           config, cell, vocabulary, labels, pipeline, task, history, metrics,
                              dataset fingerprint, library version, schema_version
    <dir>/opt.safetensors     optional resume state: optimizer tensors and last-epoch weights
    <dir>/opt.json            optional resume state: optimizer scalars and counters

Writes are atomic at the directory level: everything is written and fsynced into a
temporary sibling directory, then the old directory is renamed aside, the new one renamed
into place and the old one removed. A crash at any moment leaves the previous or the new
checkpoint loadable; :func:`load_checkpoint` falls back to the aside copy when the main
directory is missing. Concurrent writers to the same directory are not supported.

Loading uses ``safetensors.torch.load_file`` and ``json`` only: nothing is unpickled, and
every malformed input raises :class:`CheckpointError` naming the offending file.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import struct
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors.torch import load_file, save_file

from lstmviz.kinds import KINDS, get_kind, kind_of
from lstmviz.safeio import UnsafeFileError, check_regular, read_json

__all__ = [
    "SCHEMA_VERSION",
    "WEIGHTS_FILE",
    "META_FILE",
    "OPT_FILE",
    "OPT_META_FILE",
    "CheckpointError",
    "save_checkpoint",
    "load_checkpoint",
    "load_resume_state",
    "optimizer_state_dict",
    "list_checkpoints",
    "library_version",
    "model_kind",
    "check_output_dir",
    "read_meta",
    "check_symbol_tables",
    "SYMBOL_TABLES",
    "shown",
    "MAX_META_BYTES",
    "MAX_PARAMETERS",
    "CONFIG_LIMITS",
]

SCHEMA_VERSION = 1
WEIGHTS_FILE = "model.safetensors"
META_FILE = "meta.json"
OPT_FILE = "opt.safetensors"
OPT_META_FILE = "opt.json"
# Budgets a checkpoint must fit before anything is allocated (a lie in meta.json costs milliseconds).
MAX_META_BYTES = 16 * 1024 * 1024  # meta.json / opt.json larger than this are refused unread
MAX_PARAMETERS = 100_000_000  # numbers in one model (400 MB in float32); the shipped ones hold < 2M
CONFIG_LIMITS = {
    "vocab_size": 2_000_000,
    "embed_dim": 4096,
    "hidden_size": 4096,
    "num_layers": 16,
    "num_classes": 10_000,
    "input_dim": 4096,
    "word_vocab_size": 2_000_000,
    "char_vocab_size": 100_000,
    "word_dim": 4096,
    "char_dim": 4096,
    "char_channels": 4096,
    "char_kernel": 63,
}
_KNOWN_FILES = frozenset({"model.safetensors", "meta.json", "opt.safetensors", "opt.json"})  # what a save writes
_ASIDE_SUFFIX = ".old"
_TMP_INFIX = ".tmp-"
_SAFETENSORS_MAX_HEADER = 100_000_000  # the format's own limit on the JSON header size


class CheckpointError(ValueError):
    """A checkpoint directory or one of its files is missing, malformed or inconsistent."""


def library_version() -> str:
    """Returns ``lstmviz.__version__`` when importable, else ``"0.1.0"``.

    Example:
        >>> isinstance(library_version(), str)
        True
    """
    try:
        import lstmviz

        return str(lstmviz.__version__)
    except Exception:  # the package __init__ may be mid-edit or lack the attribute
        return "0.1.0"


# --------------------------------------------------------------------------- saving


def _aside_path(target: Path) -> Path:
    """Where the previous checkpoint waits while the new one is renamed into place."""
    return target.parent / f".{target.name}{_ASIDE_SUFFIX}"


def _fsync_path(path: Path) -> None:
    """fsyncs a file or a directory (best effort for directories on exotic filesystems)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    except OSError:
        if not path.is_dir():
            raise
    finally:
        os.close(fd)


def _current_umask() -> int:
    """The process umask, read without os.umask(), which would briefly change it for all threads."""
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    return 0o022


def _apply_umask(directory: Path) -> None:
    """Gives the checkpoint ordinary permissions (mkdtemp makes 0700; others must read it)."""
    mask = _current_umask()
    os.chmod(directory, 0o777 & ~mask)
    for f in directory.iterdir():
        os.chmod(f, 0o666 & ~mask)


def _json_default(obj: Any) -> Any:
    """Makes numpy/torch scalars and paths JSON-serialisable."""
    if isinstance(obj, Path):
        return str(obj)
    if isinstance(obj, torch.Tensor) and obj.numel() == 1:
        return obj.item()
    if hasattr(obj, "item"):
        return obj.item()
    if hasattr(obj, "tolist"):
        return obj.tolist()
    raise TypeError(f"{type(obj).__name__} is not JSON serialisable")


def _write_json(path: Path, obj: Any) -> None:
    """Writes strict JSON (NaN/Inf become null) and fsyncs it."""
    text = json.dumps(_finite(obj), ensure_ascii=False, indent=1, default=_json_default, allow_nan=False)
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())


def _finite(obj: Any) -> Any:
    """Replaces non-finite floats by None recursively, so meta.json stays strict JSON."""
    if isinstance(obj, np.generic):
        obj = obj.item()
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, Mapping):
        return {k: _finite(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_finite(v) for v in obj]
    return obj


def _optimizer_tensors(optimizer: torch.optim.Optimizer) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """Splits an optimizer state_dict into flat tensors and JSON scalars."""
    sd = optimizer.state_dict()
    tensors: dict[str, torch.Tensor] = {}
    scalars: dict[str, dict[str, Any]] = {}
    for idx, state in sd["state"].items():
        for name, value in state.items():
            if isinstance(value, torch.Tensor):
                tensors[f"state.{idx}.{name}"] = value.detach().cpu().contiguous()
            else:
                scalars.setdefault(str(idx), {})[name] = value
    return tensors, {"param_groups": sd["param_groups"], "scalars": scalars}


def model_kind(model: Any) -> str:
    """The registry name (:data:`lstmviz.kinds.KINDS`) of a model's kind, stored in meta.json as ``model_kind``.

    Example:
        >>> from lstmviz.models import ModelConfig, RecurrentClassifier
        >>> model_kind(RecurrentClassifier(ModelConfig(vocab_size=5)))
        'recurrent'
    """
    return kind_of(model).name


def check_output_dir(directory: str | os.PathLike) -> Path:
    """The absolute checkpoint path to write, after refusing any path whose contents are not ours.

    A save replaces the directory as a whole, so it may only ever replace a lstmviz checkpoint: the
    target must not exist, or be an empty directory, or hold nothing but the four checkpoint files
    with a ``meta.json`` of our schema. The working directory, the home directory, ``/``, a folder
    holding ``.git`` and any existing non-directory are refused whatever they hold.

    Raises:
        ValueError: naming the path and what was found there.

    Example:
        >>> check_output_dir(".")
        Traceback (most recent call last):
        ...
        ValueError: --out . is the working directory; name a new folder for the checkpoint, e.g. checkpoints/my-model
    """
    given = str(directory)
    target = Path(directory).absolute()
    if target.name in ("", ".", ".."):
        raise ValueError(f"directory={given!r} must name a checkpoint directory")
    resolved = target.resolve()
    special = {
        Path.cwd().resolve(): "the working directory",
        Path.home().resolve(): "the home directory",
        Path(resolved.anchor): "the file-system root",
    }
    if resolved in special:
        raise ValueError(
            f"--out {given} is {special[resolved]}; name a new folder for the checkpoint, e.g. checkpoints/my-model"
        )
    if target.is_symlink() or (target.exists() and not target.is_dir()):
        raise ValueError(f"--out {given} exists and is not a directory; it is never replaced: name a new folder")
    if not target.exists():
        return target
    entries = sorted(p.name for p in target.iterdir())
    foreign = [e for e in entries if e not in _KNOWN_FILES]
    if foreign:
        shown = ", ".join(foreign[:5]) + (f" and {len(foreign) - 5} more" if len(foreign) > 5 else "")
        raise ValueError(
            f"--out {given} holds files that are not a lstmviz checkpoint ({shown}); nothing was "
            "changed: name a new or empty folder"
        )
    if entries:
        try:
            _check_schema(target / META_FILE, read_meta(target / META_FILE))
        except CheckpointError as e:
            raise ValueError(
                f"--out {given} is not a lstmviz checkpoint ({e}); nothing was changed: name a new or empty folder"
            ) from None
    return target


def save_checkpoint(
    directory: str | os.PathLike,
    model: torch.nn.Module,
    meta: Mapping[str, Any],
    *,
    optimizer: torch.optim.Optimizer | None = None,
    resume_tensors: Mapping[str, torch.Tensor] | None = None,
    resume_meta: Mapping[str, Any] | None = None,
) -> Path:
    """Atomically writes ``model.safetensors`` + ``meta.json`` (+ optional resume state).

    ``meta`` is stored with ``config``, ``cell``, ``schema_version`` and ``library_version``
    filled in from the model (values in ``meta`` for these keys are overwritten). The
    other keys (vocab, labels, pipeline, task, history, test_metrics, dataset, ...) are
    the caller's and must be JSON-serialisable; non-finite floats are written as null.

    Args:
        directory: Target checkpoint directory; its parent is created when missing.
        model: The model whose ``state_dict`` is saved.
        meta: Metadata mapping (see above).
        optimizer: When given, its state is saved to ``opt.safetensors``/``opt.json`` so
            training can resume (see :func:`load_resume_state`).
        resume_tensors: Extra tensors for ``opt.safetensors`` (e.g. the last epoch's
            weights under ``model.`` when ``model`` holds the best epoch, RNG states under
            ``rng.``); names must not start with ``state.``.
        resume_meta: Extra JSON scalars for ``opt.json`` (epoch counters and the like).

    Returns:
        The checkpoint directory as a Path.

    Example:
        >>> from lstmviz.models import ModelConfig, RecurrentClassifier
        >>> m = RecurrentClassifier(ModelConfig(vocab_size=5))
        >>> import tempfile; d = Path(tempfile.mkdtemp()) / "ck"
        >>> save_checkpoint(d, m, {"labels": ["a", "b"]}).name
        'ck'
    """
    kind = model_kind(model)
    if not isinstance(meta, Mapping):
        raise TypeError(f"meta must be a mapping, got {type(meta).__name__}")
    target = check_output_dir(directory)  # only ever replaces a lstmviz checkpoint
    parent = target.parent
    parent.mkdir(parents=True, exist_ok=True)
    aside = _aside_path(target)

    full_meta = dict(meta)
    full_meta.update(
        config=model.config.to_dict(),
        model_kind=kind,
        schema_version=SCHEMA_VERSION,
        library_version=library_version(),
    )
    if hasattr(model.config, "cell"):  # read by the views' lists without loading the config
        full_meta["cell"] = model.config.cell

    # Left-overs of a writer killed mid-save are garbage; the aside copy is not (see below).
    for stale in parent.glob(f".{target.name}{_TMP_INFIX}*"):
        shutil.rmtree(stale, ignore_errors=True)

    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}{_TMP_INFIX}", dir=parent))
    moved_aside = False
    try:
        weights = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
        save_file(weights, str(tmp / WEIGHTS_FILE), metadata={"format": "pt"})
        _fsync_path(tmp / WEIGHTS_FILE)
        if optimizer is not None or resume_tensors is not None:
            tensors, opt_json = _optimizer_tensors(optimizer) if optimizer is not None else ({}, {})
            for k, v in (resume_tensors or {}).items():
                if k.startswith("state."):
                    raise ValueError(f"resume tensor name {k!r} is reserved; allowed: names not starting with 'state.'")
                tensors[k] = v.detach().cpu().contiguous()
            opt_json["resume"] = dict(resume_meta or {})
            opt_json["schema_version"] = SCHEMA_VERSION
            save_file(tensors, str(tmp / OPT_FILE), metadata={"format": "pt"})
            _fsync_path(tmp / OPT_FILE)
            _write_json(tmp / OPT_META_FILE, opt_json)
        _write_json(tmp / META_FILE, full_meta)
        _apply_umask(tmp)
        _fsync_path(tmp)

        # Swap. Invariant: at every instant `target` or `aside` holds a complete checkpoint.
        if target.exists():
            if aside.exists():
                shutil.rmtree(aside)  # target is complete, so an older aside copy is redundant
            os.replace(target, aside)
            moved_aside = True
        os.replace(tmp, target)
        _fsync_path(parent)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        if moved_aside and not target.exists():
            try:
                os.replace(aside, target)
            except OSError:
                pass  # load_checkpoint still finds the aside copy
        raise
    shutil.rmtree(aside, ignore_errors=True)
    return target


# --------------------------------------------------------------------------- loading


def _resolve_dir(directory: str | os.PathLike) -> Path:
    """Returns the directory to read: the main one, or the aside copy of an interrupted save."""
    target = Path(directory)
    if target.is_dir():
        return target
    aside = _aside_path(target.absolute())
    if not target.exists() and (aside / META_FILE).is_file() and (aside / WEIGHTS_FILE).is_file():
        return aside
    if target.exists():
        raise CheckpointError(f"checkpoint {target} is not a directory")
    raise CheckpointError(f"checkpoint directory {target} does not exist")


def _diagnose_safetensors(path: Path) -> dict[str, Any]:
    """The header of `path`; CheckpointError unless it is structurally a complete safetensors file."""
    if not path.exists() and not path.is_symlink():
        raise CheckpointError(f"missing weights file {path}")
    try:
        size = check_regular(path, inside=path.parent).st_size
    except UnsafeFileError as e:
        raise CheckpointError(str(e)) from None
    with open(path, "rb") as f:
        head = f.read(64)
        if size >= 8:
            (n,) = struct.unpack("<Q", head[:8])
        else:
            n = -1
        header_ok = 2 <= n <= min(_SAFETENSORS_MAX_HEADER, size - 8)
        header: Any = None
        if header_ok:
            f.seek(8)
            raw = f.read(n)
            try:
                header = json.loads(raw.decode("utf-8"))
                header_ok = isinstance(header, dict)
            except (UnicodeDecodeError, ValueError):
                header_ok = False
    if not header_ok:
        if head.startswith(b"version https://git-lfs"):
            raise CheckpointError(f"{path} is a Git LFS pointer, not the weights; run `git lfs pull` to fetch the file")
        if head[:1] == b"\x80" and head[1:2] in (b"\x02", b"\x03", b"\x04", b"\x05"):
            raise CheckpointError(
                f"{path} is a Python pickle (e.g. torch.save output), not safetensors; "
                "lstmviz never unpickles files - re-save the weights with safetensors"
            )
        if head.startswith(b"PK\x03\x04"):
            raise CheckpointError(
                f"{path} is a zip archive (torch.save format, pickle inside), not safetensors; "
                "lstmviz never unpickles files - re-save the weights with safetensors"
            )
        if size == 0:
            raise CheckpointError(f"{path} is empty (0 bytes); the weights are missing")
        raise CheckpointError(f"{path} is not a valid safetensors file (corrupt or truncated header)")
    data_len = size - 8 - n
    ends = [
        int(v["data_offsets"][1])
        for k, v in header.items()
        if k != "__metadata__" and isinstance(v, dict) and len(v.get("data_offsets", ())) == 2
    ]
    need = max(ends, default=0)
    if need > data_len:
        raise CheckpointError(
            f"{path} is truncated: the header describes {need} bytes of tensor data, the file holds {data_len}"
        )
    return header


def _load_tensors(path: Path, header: Mapping[str, Any] | None = None) -> dict[str, torch.Tensor]:
    """Loads a safetensors file after structural checks; never unpickles."""
    if header is None:
        _diagnose_safetensors(path)
    try:
        tensors = load_file(str(path), device="cpu")
    except Exception as e:  # safetensors raises its own error types for malformed content
        raise CheckpointError(f"{path} is not a valid safetensors file: {e}") from e
    for name, t in tensors.items():
        if t.is_floating_point() and not bool(torch.isfinite(t).all()):
            raise CheckpointError(f"{path}: tensor {name!r} holds NaN or infinite values; the weights are unusable")
    return tensors


def read_meta(path: str | os.PathLike) -> dict[str, Any]:
    """A checkpoint's ``meta.json`` (or ``opt.json``) within budget: a regular file inside its folder,
    at most :data:`MAX_META_BYTES`, nested at most 64 deep, holding a JSON object.

    Raises:
        CheckpointError: naming the file.

    Example:
        >>> read_meta("checkpoints/sentiment-gru/meta.json")["task"]  # doctest: +SKIP
        'sentiment'
    """
    path = Path(path)
    if not path.exists() and not path.is_symlink():
        raise CheckpointError(f"missing metadata file {path}")
    try:
        obj = read_json(path, MAX_META_BYTES, "checkpoint metadata", inside=path.parent)
    except UnsafeFileError as e:
        raise CheckpointError(str(e)) from None
    if not isinstance(obj, dict):
        raise CheckpointError(f"{path} must hold a JSON object, got {type(obj).__name__}")
    check_symbol_tables(path, obj)
    kind = obj.get("model_kind", "recurrent")
    if isinstance(kind, str) and kind in KINDS:  # an unknown kind is refused by the loader, naming it
        try:
            KINDS[kind].check_fields(path, obj)
        except ValueError as e:  # a kind's own check names the file; as a CheckpointError like the rest
            raise CheckpointError(str(e)) from e
    return obj


# Every symbol table a meta.json may hold: field -> (longest entry in characters, what an entry is). Charts and
# tables show these strings once per step or per row: a 1,000-character "character" made one chart 9.7 MB.
SYMBOL_TABLES: dict[str, tuple[int, str]] = {
    "chars": (1, "one character (or <pad>/<unk> at ids 0 and 1)"),
    "words": (64, "a word of 1 to 64 characters"),
    "pos_tags": (32, "a tag of 1 to 32 characters"),
    "ner_tags": (32, "a tag of 1 to 32 characters"),
    "labels": (64, "a label of 1 to 64 characters"),
    "token_names": (64, "a token name of 1 to 64 characters"),
    "vocab.tokens": (64, "a token of 1 to 64 characters"),
}
_SPECIAL_SYMBOLS = ("<pad>", "<unk>")  # ids 0 and 1 of the character and word vocabularies


def shown(value: Any) -> str:
    """A stored value for an error message: its repr, cut to 24 characters (the message stays short and inert)."""
    text = repr(value)
    return text if len(text) <= 24 else f"{text[:23]}… ({len(value) if isinstance(value, str) else '?'} characters)"


def check_symbol_tables(path: str | os.PathLike, meta: Mapping[str, Any]) -> None:
    """Every symbol table of a meta (:data:`SYMBOL_TABLES`: chars, words, tags, labels, token names, the
    vocabulary's tokens) is a list of unique, non-empty strings of bounded length without control characters;
    ``chars`` holds single characters (``<pad>``/``<unk>`` allowed at ids 0 and 1). Absent or null tables pass.

    Raises:
        CheckpointError: naming the file, the field, the bad entry (shortened) and what is allowed.

    Example:
        >>> try:
        ...     check_symbol_tables("meta.json", {"chars": ["<pad>", "<unk>", "a", "bb"]})
        ... except CheckpointError as e:
        ...     print(str(e)[:43])
        meta.json: 'chars' entry 3 'bb' is too long
    """
    for field, (longest, allowed) in SYMBOL_TABLES.items():
        outer, _, inner = field.partition(".")
        values = meta.get(outer)
        if inner:
            values = values.get(inner) if isinstance(values, Mapping) else None
        if values is None:
            continue
        if not isinstance(values, list):
            raise CheckpointError(f"{path}: '{field}' must be a list of strings, got {type(values).__name__}")
        seen: set[str] = set()
        for i, v in enumerate(values):
            if not isinstance(v, str):
                why = f"is a {type(v).__name__}, not a string"
            elif v in seen:
                why = "repeats an earlier entry"
            elif outer in ("chars", "words") and i < 2 and v == _SPECIAL_SYMBOLS[i]:
                why = ""
            elif not v:
                why = "is empty"
            elif len(v) > longest:
                why = "is too long"
            elif outer != "chars" and any(ord(c) < 32 or ord(c) == 127 for c in v):
                why = "holds a control character"
            else:
                why = ""
            if why:
                raise CheckpointError(
                    f"{path}: '{field}' entry {i} {shown(v)} {why}; allowed: {allowed}, each entry once"
                )
            seen.add(v)


def _check_limits(meta_path: Path, kind: Any, config: Any) -> dict[str, tuple[int, ...]]:
    """Config within :data:`CONFIG_LIMITS` and :data:`MAX_PARAMETERS`; returns the tensor shapes it implies."""
    for name, limit in CONFIG_LIMITS.items():
        value = getattr(config, name, None)
        if isinstance(value, int) and value > limit:
            raise CheckpointError(f"{meta_path}: config {name}={value:,} is above the limit {limit:,}; refused")
    shapes = kind.shapes(config)
    n = sum(math.prod(s) for s in shapes.values())
    if n > MAX_PARAMETERS:
        raise CheckpointError(
            f"{meta_path}: the config describes {n:,} parameters, above the limit {MAX_PARAMETERS:,}; refused"
        )
    return shapes


def _check_schema(path: Path, obj: Mapping[str, Any]) -> None:
    version = obj.get("schema_version")
    if version != SCHEMA_VERSION:
        raise CheckpointError(
            f"{path} has schema_version={version!r}; this lstmviz reads schema_version={SCHEMA_VERSION}"
        )


def load_checkpoint(directory: str | os.PathLike) -> tuple[torch.nn.Module, dict[str, Any]]:
    """Loads a checkpoint written by :func:`save_checkpoint` without unpickling anything.

    Args:
        directory: The checkpoint directory. When it is missing but the aside copy of an
            interrupted save exists, that copy is loaded.

    Returns:
        ``(model, meta)``: the model in eval mode on the CPU, and the meta dict.

    Raises:
        CheckpointError: naming the file, for a missing directory or file, corrupt or
            truncated safetensors, a Git LFS pointer, a pickle or zip renamed to
            ``.safetensors``, missing or invalid ``meta.json``, a schema_version mismatch,
            and missing, extra or mis-shaped weights.

    Example:
        >>> model, meta = load_checkpoint("checkpoints/sentiment-lstm")  # doctest: +SKIP
        >>> meta["labels"]  # doctest: +SKIP
        ['mixed', 'negative', 'neutral', 'positive']
    """
    root = _resolve_dir(directory)
    meta_path, weights_path = root / META_FILE, root / WEIGHTS_FILE
    meta = read_meta(meta_path)
    _check_schema(meta_path, meta)
    if "config" not in meta:
        raise CheckpointError(f"{meta_path} has no 'config' entry")
    try:  # checkpoints before the registry are all recurrent; the name only ever selects a registered kind
        kind = get_kind(meta.get("model_kind", "recurrent"))
    except ValueError as e:
        raise CheckpointError(f"{meta_path}: {e}") from e
    try:
        config = kind.config(meta["config"])
    except (TypeError, ValueError) as e:
        raise CheckpointError(f"{meta_path}: invalid model config: {e}") from e
    if hasattr(config, "cell") and meta.get("cell", config.cell) != config.cell:
        raise CheckpointError(f"{meta_path}: cell={meta.get('cell')!r} disagrees with config cell={config.cell!r}")
    try:
        kind.check_meta(meta_path, meta, config)
    except ValueError as e:
        raise CheckpointError(str(e)) from e
    expected = _check_limits(meta_path, kind, config)  # name -> shape, from the config alone
    # Names and shapes from the safetensors header, before a byte of tensor data is read.
    header = _diagnose_safetensors(weights_path)
    stored = {k: v for k, v in header.items() if k != "__metadata__" and isinstance(v, dict)}
    missing = sorted(set(expected) - set(stored))
    extra = sorted(set(stored) - set(expected))
    if missing or extra:
        raise CheckpointError(
            f"{weights_path} does not match the config in {meta_path}: "
            f"missing keys {missing}, unexpected keys {extra[:20]}"
        )
    bad = [
        f"{k}: file {tuple(stored[k].get('shape') or ())} vs config {v}"
        for k, v in expected.items()
        if list(stored[k].get("shape") or ()) != list(v)
    ]
    if bad:
        raise CheckpointError(f"{weights_path} has tensors of the wrong shape for {meta_path}: " + "; ".join(bad))
    tensors = _load_tensors(weights_path, header)
    # Built only now, within the limits; its random init must not move the global RNG (shared server).
    model = kind.build(config)
    state = model.state_dict()
    model.load_state_dict({k: v.to(state[k].dtype) for k, v in tensors.items()})
    model.eval()
    return model, meta


def load_resume_state(
    directory: str | os.PathLike,
) -> tuple[dict[str, torch.Tensor], dict[str, Any]] | None:
    """Reads the optional resume state written with ``optimizer=``/``resume_tensors=``.

    Args:
        directory: The checkpoint directory.

    Returns:
        ``None`` when the checkpoint has no resume state, else ``(tensors, info)``: the
        tensors of ``opt.safetensors`` (``state.<param>.<name>`` optimizer tensors and the
        caller's ``resume_tensors``) and the ``opt.json`` dict (``param_groups``, ``scalars``,
        ``resume``). Use :func:`optimizer_state_dict` to rebuild an optimizer state_dict.

    Example:
        >>> load_resume_state("checkpoints/cue-lstm") is None  # doctest: +SKIP
        False
    """
    root = _resolve_dir(directory)
    if not (root / OPT_FILE).exists() and not (root / OPT_META_FILE).exists():
        return None
    info = read_meta(root / OPT_META_FILE)
    _check_schema(root / OPT_META_FILE, info)
    return _load_tensors(root / OPT_FILE), info


def optimizer_state_dict(tensors: Mapping[str, torch.Tensor], info: Mapping[str, Any]) -> dict[str, Any]:
    """Rebuilds ``optimizer.state_dict()`` from :func:`load_resume_state` output.

    Args:
        tensors: The tensors from ``opt.safetensors``.
        info: The dict from ``opt.json``.

    Returns:
        A dict for ``optimizer.load_state_dict``.

    Example:
        >>> tensors, info = load_resume_state("checkpoints/cue-lstm")  # doctest: +SKIP
        >>> opt.load_state_dict(optimizer_state_dict(tensors, info))  # doctest: +SKIP
    """
    if "param_groups" not in info:
        raise CheckpointError("opt.json has no optimizer 'param_groups'")
    state: dict[int, dict[str, Any]] = {}
    for key, value in tensors.items():
        if not key.startswith("state."):
            continue
        _, idx, name = key.split(".", 2)
        state.setdefault(int(idx), {})[name] = value
    for idx, scalars in info.get("scalars", {}).items():
        state.setdefault(int(idx), {}).update(scalars)
    return {"state": state, "param_groups": info["param_groups"]}


def list_checkpoints(root: str | os.PathLike) -> list[Path]:
    """Lists checkpoint directories under ``root`` (any depth), sorted.

    A directory counts when it holds ``meta.json``. Temporary and aside directories of
    an in-progress or interrupted save are hidden; an aside copy whose main directory is
    missing is reported under the main name, which :func:`load_checkpoint` accepts.

    Args:
        root: Directory to search. A missing root gives an empty list.

    Returns:
        Sorted list of checkpoint directories.

    Example:
        >>> [p.name for p in list_checkpoints("checkpoints")]  # doctest: +SKIP
        ['cue-gru', 'cue-lstm', 'cue-rnn', 'sentiment-gru', 'sentiment-lstm', 'sentiment-rnn']
    """
    root = Path(root)
    if not root.is_dir():
        return []
    found: set[Path] = set()
    for meta in root.rglob(META_FILE):
        d = meta.parent
        rel_parts = d.relative_to(root).parts
        if any(_TMP_INFIX in part for part in rel_parts):
            continue
        if d.name.startswith(".") and d.name.endswith(_ASIDE_SUFFIX):
            main = d.parent / d.name[1 : -len(_ASIDE_SUFFIX)]
            if not main.exists():
                found.add(main)
            continue
        if any(part.startswith(".") for part in rel_parts):
            continue
        found.add(d)
    return sorted(found)
