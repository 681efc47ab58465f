"""Saving a recording to a folder and reading it back: safetensors and JSON, never a pickle.

A saved recording is a folder of two files::

    <folder>/recording.json          the manifest: format, version, grads, modules, keys, lengths, capture paths
    <folder>/recording.safetensors   one tensor per key, (B, T, units), float32 or float64, NaN past a length

:func:`load` gives back a :class:`SavedRecording`: read-only, with the read API of a live
:class:`~lstmviz.recording.Recording` (``keys``, ``rec[key]``, ``to_frame``, ``to_arrow``, ``grad_norms``,
``lengths``, ``modules``, ``grads``). Values come back bit for bit, NaN positions included.

Both files are untrusted input. Before a byte of tensor data is read, :func:`load` checks that each
file is a regular file inside the folder (a symlink may not lead out of it; FIFOs and devices are
refused), the manifest's size, JSON and every field (types, known fields only, each key through
:func:`lstmviz.names.parse_key` and in its canonical spelling, modules and quantities that fit), and
that the safetensors header agrees with it: the same keys, float dtypes, ``(B, T, units)`` shapes
whose ``B`` is the number of lengths and whose ``T`` holds the longest, offsets that tile the data
exactly, and a total within a byte budget. A hostile or broken file fails in milliseconds with an
:class:`~lstmviz.safeio.UnsafeFileError` (a ``ValueError``) naming the file.
"""

from __future__ import annotations

import json
import math
import os
import re
import struct
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from .names import CELL_TYPES, make_key, parse_key, quantities_for
from .recording import BaseRecording
from .safeio import UnsafeFileError, check_regular, read_bytes, read_json, tmp_sibling

__all__ = [
    "FORMAT",
    "VERSION",
    "MANIFEST_FILE",
    "TENSORS_FILE",
    "DEFAULT_MAX_BYTES",
    "SavedRecording",
    "save",
    "load",
]

FORMAT = "lstmviz.recording"
VERSION = 1  # a file of a later version is refused with a message saying so
MANIFEST_FILE = "recording.json"
TENSORS_FILE = "recording.safetensors"
#: Largest tensor data :func:`load` reads unless told otherwise (the recording of 200 sentences of up to 40 tokens
#: through a 3-layer bidirectional LSTM with H=64, ``benchmarks/bench_frame_memory.py``, holds 74 MB).
DEFAULT_MAX_BYTES = 4 << 30
MAX_MANIFEST_BYTES = 2 << 20  # ~500,000 sequence lengths: far beyond a recording that fits in memory
MAX_HEADER_BYTES = 4 << 20  # the safetensors JSON header: ~100 bytes per key
MAX_KEYS = 20_000
MAX_MODULES = 1_000
MAX_NAME_CHARS = 500  # a module path or a key
_DTYPES = {"F32": (torch.float32, 4), "F64": (torch.float64, 8)}  # the recorder writes float32 or float64 only
_FIELDS = {"format", "version", "lstmviz", "grads", "modules", "keys", "lengths", "capture_paths"}
_REQUIRED = _FIELDS - {"lstmviz", "capture_paths"}
_PATH_NAME = re.compile(r"^[A-Za-z0-9_-]{1,100}$")  # a capture path's name (lstmviz.recorder.PATHS)


class SavedRecording(BaseRecording):
    """A recording read back by :func:`load`: the read API of a :class:`~lstmviz.recording.Recording`, no capture.

    Args:
        folder: the folder it was read from.
        manifest: the validated manifest.
        tensors: key -> ``(B, T, units)`` tensor, validated against the manifest.

    Attributes:
        folder: where it was read from.
        grads: whether gradients were saved with it.
        modules: module path -> cell type of every module the recording watched.

    Example:
        >>> import tempfile, lstmviz
        >>> m = torch.nn.GRU(3, 4, batch_first=True)
        >>> with lstmviz.record(m) as rec:
        ...     _ = m(torch.randn(2, 5, 3))
        >>> folder = tempfile.mkdtemp()
        >>> rec.save(folder)
        >>> back = lstmviz.Recording.load(folder)
        >>> back.keys() == rec.keys(), torch.equal(back["l0.update"], rec["l0.update"])
        (True, True)
    """

    def __init__(self, folder: Path, manifest: dict[str, Any], tensors: dict[str, Tensor]) -> None:
        self.folder = folder
        self.grads = bool(manifest["grads"])
        self.modules = dict(manifest["modules"])
        self._keys = list(manifest["keys"])
        self._lengths = {m: torch.tensor(v, dtype=torch.long) for m, v in manifest["lengths"].items()}
        self._paths = {m: tuple(v) for m, v in manifest.get("capture_paths", {}).items()}
        self._fwd = {k: tensors[k] for k in self._keys if not parse_key(k).quantity.startswith("grad_")}
        self._grad = {k: tensors[k] for k in self._keys if parse_key(k).quantity.startswith("grad_")}

    @property
    def capture_paths(self) -> dict[str, tuple[str, ...]]:
        """Module path -> how each of its full-module calls was captured, as saved."""
        return dict(self._paths)

    def _forward_tensors(self) -> dict[str, Tensor]:
        return self._fwd

    def _grad_tensors(self) -> dict[str, Tensor]:
        if not self.grads:
            raise KeyError(f"the recording in {self.folder} was saved without gradients")
        return self._grad

    def keys(self) -> list[str]:
        """All keys, in the order they were saved (forward quantities first, then gradients)."""
        return list(self._keys)

    def lengths(self, module: str) -> Tensor:
        """Sequence lengths ``(B,)`` of a module's rows; KeyError when it recorded nothing."""
        if module not in self._lengths:
            raise KeyError(f"module {module!r} recorded nothing; recorded modules: {list(self._lengths)}")
        return self._lengths[module].clone()

    def __repr__(self) -> str:
        mods = ", ".join(f"{p or '<root>'}:{c}" for p, c in self.modules.items())
        return f"SavedRecording({str(self.folder)!r}, modules=[{mods}], grads={self.grads}, keys={len(self._keys)})"


def save(rec: BaseRecording, folder: str | os.PathLike) -> Path:
    """Writes a recording to ``folder`` (created if missing): ``recording.safetensors`` and ``recording.json``.

    Every tensor the recording holds is written, gradients when a backward pass reached it (else the
    saved recording has ``grads=False``). Each file is written to a temporary sibling and renamed into
    place; the tensors first, so a manifest never names tensors that are not there yet (a crash between
    the two leaves a pair that :func:`load` refuses with a message, never a mix it reads).

    Args:
        rec: a :class:`~lstmviz.recording.Recording` (or a :class:`SavedRecording`).
        folder: the folder to write; files of other names in it are left alone.

    Returns:
        The folder.

    Example:
        >>> save(rec, "runs/rec1")  # doctest: +SKIP
    """
    from safetensors.torch import save_file

    folder = Path(folder)
    tensors = dict(rec._forward_tensors())
    grads = False
    if rec.grads:
        try:
            tensors.update(rec._grad_tensors())
            grads = True
        except RuntimeError:  # asked for, but no backward pass ran: the forward values are still worth keeping
            pass
    keys = [k for k in rec.keys() if k in tensors]
    modules = list(dict.fromkeys(parse_key(k).module for k in keys))
    manifest = {
        "format": FORMAT,
        "version": VERSION,
        "lstmviz": _version(),
        "grads": grads,
        "modules": dict(rec.modules),
        "keys": keys,
        "lengths": {m: [int(n) for n in rec.lengths(m).tolist()] for m in modules},
        "capture_paths": {m: list(v) for m, v in getattr(rec, "capture_paths", {}).items()},
    }
    folder.mkdir(parents=True, exist_ok=True)
    # clone: a recording's gate tensors may be views of one buffer, and safetensors refuses shared storage
    data = {k: tensors[k].detach().to("cpu").clone().contiguous() for k in keys}
    for name, write in (
        (TENSORS_FILE, lambda p: save_file(data, str(p), metadata={"format": FORMAT})),
        (MANIFEST_FILE, lambda p: p.write_text(json.dumps(manifest, indent=1), encoding="utf-8")),
    ):
        tmp = tmp_sibling(folder / name)
        try:
            write(tmp)
            os.replace(tmp, folder / name)
        finally:
            tmp.unlink(missing_ok=True)
    return folder


def load(folder: str | os.PathLike, max_bytes: int = DEFAULT_MAX_BYTES) -> SavedRecording:
    """Reads a recording written by :func:`save` (or :meth:`Recording.save <lstmviz.recording.BaseRecording.save>`).

    Args:
        folder: the folder holding ``recording.json`` and ``recording.safetensors``.
        max_bytes: the most tensor data read; a larger file is refused before it is read.

    Returns:
        A read-only :class:`SavedRecording`.

    Raises:
        UnsafeFileError: (a ``ValueError``) naming the file and what is wrong with it.

    Example:
        >>> rec = load("runs/rec1")  # doctest: +SKIP
        >>> rec.to_frame(["forget"])  # doctest: +SKIP
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise UnsafeFileError(f"{folder} is not a folder holding a saved recording ({MANIFEST_FILE}, {TENSORS_FILE})")
    manifest_path, tensors_path = folder / MANIFEST_FILE, folder / TENSORS_FILE
    manifest = _check_manifest(read_json(manifest_path, MAX_MANIFEST_BYTES, "a recording manifest", inside=folder),
                               manifest_path)  # fmt: skip
    header, header_len, total = _check_header(tensors_path, folder, manifest, max_bytes)
    raw = read_bytes(tensors_path, 8 + header_len + total, inside=folder)
    if len(raw) != 8 + header_len + total:
        raise UnsafeFileError(f"{tensors_path} changed while being read; refused")
    from safetensors.torch import load as load_bytes

    try:
        tensors = load_bytes(raw)
    except Exception as e:  # noqa: BLE001 - safetensors raises its own error types for malformed content
        raise UnsafeFileError(f"{tensors_path} is not a valid safetensors file: {e}") from None
    return SavedRecording(folder, manifest, tensors)


def _version() -> str:
    from . import __version__

    return __version__


def _fail(path: Path, why: str) -> UnsafeFileError:
    return UnsafeFileError(f"{path} is not a saved lstmviz recording: {why}; refused")


def _is_int(v: object, low: int = 0) -> bool:
    return type(v) is int and v >= low  # noqa: E721 - bool is an int subclass and no count


def _check_module_path(path: Path, name: object) -> str:
    """A module path as ``named_modules`` writes it: '' or dot-joined non-empty names, no slashes or controls."""
    if not isinstance(name, str) or len(name) > MAX_NAME_CHARS:
        raise _fail(path, f"module path {str(name)[:80]!r} is not a string of at most {MAX_NAME_CHARS} characters")
    if name and any(not part or "/" in part or "\\" in part or not part.isprintable() for part in name.split(".")):
        raise _fail(path, f"module path {name[:80]!r} is malformed (empty part, slash or control character)")
    return name


def _check_manifest(obj: Any, path: Path) -> dict[str, Any]:
    """The manifest after checking every field; cheap whatever the input (sizes are bounded by the file's)."""
    if not isinstance(obj, dict):
        raise _fail(path, f"the manifest is a JSON {type(obj).__name__}, not an object")
    unknown = sorted(set(obj) - _FIELDS)
    if unknown:
        raise _fail(path, f"unknown fields {[u[:40] for u in unknown[:5]]}; allowed: {sorted(_FIELDS)}")
    missing = sorted(_REQUIRED - set(obj))
    if missing:
        raise _fail(path, f"missing fields {missing}")
    if obj["format"] != FORMAT:
        raise _fail(path, f"format is {str(obj['format'])[:80]!r}, expected {FORMAT!r}")
    if not _is_int(obj["version"], 1):
        raise _fail(path, f"version {str(obj['version'])[:20]!r} is not a positive integer")
    if obj["version"] > VERSION:
        raise _fail(path, f"version {obj['version']} was written by a newer lstmviz; this one reads version {VERSION}")
    if "lstmviz" in obj and not (isinstance(obj["lstmviz"], str) and len(obj["lstmviz"]) <= 100):
        raise _fail(path, "field 'lstmviz' is not a version string")
    if not isinstance(obj["grads"], bool):
        raise _fail(path, f"grads is {type(obj['grads']).__name__}, expected true or false")
    modules = obj["modules"]
    if not isinstance(modules, dict) or len(modules) > MAX_MODULES:
        raise _fail(path, f"modules is not an object of at most {MAX_MODULES} module paths")
    for name, cell in modules.items():
        _check_module_path(path, name)
        if cell not in CELL_TYPES:
            raise _fail(path, f"module {name[:80]!r} has cell type {str(cell)[:40]!r}; allowed: {list(CELL_TYPES)}")
    keys = obj["keys"]
    if not isinstance(keys, list) or len(keys) > MAX_KEYS:
        raise _fail(path, f"keys is not a list of at most {MAX_KEYS:,} keys")
    if len(set(map(str, keys))) != len(keys):
        raise _fail(path, "keys repeat")
    used: set[str] = set()
    for key in keys:
        if not isinstance(key, str) or len(key) > MAX_NAME_CHARS:
            raise _fail(path, f"key {str(key)[:80]!r} is not a string of at most {MAX_NAME_CHARS} characters")
        try:
            kp = parse_key(key)
        except ValueError:
            raise _fail(path, f"key {key[:80]!r} is malformed") from None
        if make_key(kp.module, kp.layer, kp.direction, kp.quantity) != key:
            raise _fail(path, f"key {key[:80]!r} is not in its canonical spelling")
        if kp.module not in modules:
            raise _fail(path, f"key {key[:80]!r} names module {kp.module[:80]!r}, which is not among the modules")
        if kp.quantity not in quantities_for(modules[kp.module], grads=obj["grads"]):
            raise _fail(path, f"key {key[:80]!r}: a {modules[kp.module]} module records no {kp.quantity!r} here")
        used.add(kp.module)
    lengths = obj["lengths"]
    if not isinstance(lengths, dict) or set(lengths) != used:
        raise _fail(path, "lengths must be an object with one list per module that has keys")
    for name, v in lengths.items():
        if not isinstance(v, list) or not all(_is_int(n) for n in v):
            raise _fail(path, f"lengths of module {name[:80]!r} are not a list of non-negative integers")
    paths = obj.get("capture_paths", {})
    if not isinstance(paths, dict) or not set(paths) <= set(modules):
        raise _fail(path, "capture_paths must be an object keyed by the modules")
    for name, v in paths.items():
        if (
            not isinstance(v, list)
            or len(v) > 1_000_000
            or not all(isinstance(p, str) and _PATH_NAME.match(p) for p in v)
        ):
            raise _fail(path, f"capture_paths of module {name[:80]!r} are not a list of capture path names")
    return obj


def _check_header(
    path: Path, folder: Path, manifest: dict[str, Any], max_bytes: int
) -> tuple[dict[str, Any], int, int]:
    """The safetensors header after checking it against the manifest; returns ``(header, its length, data bytes)``.

    Reads 8 bytes and the header only: the tensor data is read after every size here is known to agree.
    """
    size = check_regular(path, inside=folder).st_size
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    try:
        with os.fdopen(fd, "rb", closefd=False) as f:
            head = f.read(8)
            if len(head) < 8:
                raise _fail(path, f"the file holds {size} bytes, too few for a safetensors header")
            (n,) = struct.unpack("<Q", head)
            if head[:1] == b"\x80" or head.startswith(b"PK\x03\x04"):
                raise _fail(path, "it is a Python pickle or a zip archive (torch.save); lstmviz never unpickles")
            if not 2 <= n <= min(MAX_HEADER_BYTES, size - 8):
                raise _fail(path, f"the safetensors header claims {n:,} bytes (the file holds {size:,})")
            raw = f.read(n)
    finally:
        os.close(fd)
    try:
        header = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise _fail(path, "the safetensors header is not JSON") from None
    if not isinstance(header, dict):
        raise _fail(path, "the safetensors header is not a JSON object")
    meta = header.pop("__metadata__", {})
    if not isinstance(meta, dict) or not all(isinstance(v, str) for v in meta.values()):
        raise _fail(path, "the safetensors metadata is not an object of strings")
    keys = manifest["keys"]
    if set(header) != set(keys):
        extra, lacking = sorted(set(header) - set(keys)), sorted(set(keys) - set(header))
        raise _fail(path, f"its tensors {[e[:80] for e in extra[:3]]} are not in the manifest, "
                          f"and the manifest's {lacking[:3]} are not in it")  # fmt: skip
    spans, shapes = [], {}
    for key in keys:
        entry = header[key]
        if not isinstance(entry, dict) or set(entry) != {"dtype", "shape", "data_offsets"}:
            raise _fail(path, f"tensor {key!r} has a malformed header entry")
        dtype, shape, offsets = entry["dtype"], entry["shape"], entry["data_offsets"]
        if dtype not in _DTYPES:
            raise _fail(path, f"tensor {key!r} has dtype {str(dtype)[:20]!r}; allowed: {sorted(_DTYPES)}")
        if not (isinstance(shape, list) and len(shape) == 3 and all(_is_int(d) for d in shape)):
            raise _fail(path, f"tensor {key!r} has shape {str(shape)[:80]}, expected (B, T, units)")
        if not (isinstance(offsets, list) and len(offsets) == 2 and all(_is_int(o) for o in offsets)):
            raise _fail(path, f"tensor {key!r} has malformed data offsets")
        nbytes = math.prod(shape) * _DTYPES[dtype][1]  # Python ints: a huge shape cannot overflow
        if nbytes > max_bytes:
            raise _fail(path, f"tensor {key!r} of shape {shape} needs {nbytes:,} bytes, more than the "
                              f"{max_bytes:,} allowed (load(..., max_bytes=...))")  # fmt: skip
        if offsets[1] - offsets[0] != nbytes:
            raise _fail(
                path, f"tensor {key!r}: its offsets span {offsets[1] - offsets[0]:,} bytes, its shape {nbytes:,}"
            )
        kp = parse_key(key)
        lengths = manifest["lengths"][kp.module]
        B, T = shape[0], shape[1]
        if B != len(lengths) or (lengths and T < max(lengths)):
            raise _fail(path, f"tensor {key!r} of shape {shape} does not fit the module's {len(lengths)} lengths "
                              f"(the longest {max(lengths, default=0)})")  # fmt: skip
        if shapes.setdefault(kp.module, (B, T)) != (B, T):
            raise _fail(path, f"tensor {key!r} of shape {shape} differs in (B, T) from its module's other tensors")
        spans.append((offsets[0], offsets[1], key))
    spans.sort()
    end = 0
    for lo, hi, key in spans:
        if lo != end:
            raise _fail(path, f"tensor {key!r} starts at byte {lo:,}, not where the previous one ends ({end:,})")
        end = hi
    if end > max_bytes:
        raise _fail(
            path, f"its tensors need {end:,} bytes, more than the {max_bytes:,} allowed (load(..., max_bytes=...))"
        )
    if size != 8 + n + end:
        raise _fail(path, f"the file holds {size:,} bytes, the header describes {8 + n + end:,}")
    return header, n, end
