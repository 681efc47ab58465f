"""Bounded reads of files lstmviz did not write (checkpoints, sweep results, corpora).

A hostile or broken file must cost milliseconds and give one clear message naming it. So every read
here checks, before a byte is read: that the path is a regular file (not a FIFO, which would block
forever, nor a device such as ``/dev/zero``, which never ends), that a symlink does not lead out of
the folder it is read from, and that the size is within a stated limit. JSON is parsed with a
nesting limit, so a 100,000-deep file is refused instead of raising ``RecursionError``.

Errors are :class:`UnsafeFileError` (a ``ValueError``) and name the file.
"""

from __future__ import annotations

import hashlib
import json
import os
import socket
import stat
import threading
import uuid
from pathlib import Path
from typing import Any

__all__ = [
    "MAX_JSON_DEPTH",
    "UnsafeFileError",
    "check_regular",
    "nesting_depth",
    "read_bytes",
    "read_json",
    "strict_validator",
    "tmp_sibling",
]

MAX_JSON_DEPTH = 64  # our files nest < 10 deep; deeper input is refused, never recursed into


class UnsafeFileError(ValueError):
    """A file that is missing, not a regular file, outside its folder, too large or malformed."""


def check_regular(path: str | os.PathLike, inside: str | os.PathLike | None = None) -> os.stat_result:
    """``stat`` of ``path`` after checking it is a regular file (symlinks must stay inside ``inside``).

    Example:
        >>> try:
        ...     check_regular("/dev/null")
        ... except UnsafeFileError as e:
        ...     print(e)
        /dev/null is not a regular file (a character device); refused
    """
    p = Path(path)
    try:
        st = p.stat()  # follows a symlink: what would be read
    except FileNotFoundError:
        raise UnsafeFileError(f"{p} does not exist") from None
    except OSError as e:
        raise UnsafeFileError(f"{p} cannot be read: {e.strerror or e}") from None
    if inside is not None and p.is_symlink():
        real, root = p.resolve(), Path(inside).resolve()
        if not real.is_relative_to(root):
            raise UnsafeFileError(f"{p} is a symlink to {real}, outside {root}; refused")
    if not stat.S_ISREG(st.st_mode):
        kind = (
            "a directory"
            if stat.S_ISDIR(st.st_mode)
            else "a FIFO"
            if stat.S_ISFIFO(st.st_mode)
            else "a character device"
            if stat.S_ISCHR(st.st_mode)
            else "a block device"
            if stat.S_ISBLK(st.st_mode)
            else "a socket"
            if stat.S_ISSOCK(st.st_mode)
            else "not a file"
        )
        raise UnsafeFileError(f"{p} is not a regular file ({kind}); refused")
    return st


def read_bytes(path: str | os.PathLike, max_bytes: int, inside: str | os.PathLike | None = None) -> bytes:
    """The bytes of a regular file of at most ``max_bytes`` (checked before reading).

    Example:
        >>> len(read_bytes(__file__, 1 << 20)) > 0
        True
    """
    p = Path(path)
    st = check_regular(p, inside)
    if st.st_size > max_bytes:
        raise UnsafeFileError(f"{p} holds {st.st_size:,} bytes, more than the {max_bytes:,} allowed; refused")
    # O_NONBLOCK: should the file be swapped for a FIFO after the check, the open does not hang.
    fd = os.open(p, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise UnsafeFileError(f"{p} is not a regular file; refused")
        with os.fdopen(fd, "rb", closefd=False) as f:
            data = f.read(max_bytes + 1)
    finally:
        os.close(fd)
    if len(data) > max_bytes:
        raise UnsafeFileError(f"{p} grew past the {max_bytes:,} bytes allowed while being read; refused")
    return data


def nesting_depth(obj: Any, limit: int) -> int:
    """Nesting depth of parsed JSON or TOML (dicts and lists), iteratively: a hostile file cannot overflow the stack
    (stops counting past ``limit``).

    Example:
        >>> nesting_depth({"a": [1, {"b": []}]}, 64)
        4
    """
    deepest, stack = 0, [(obj, 1)]
    while stack:
        node, d = stack.pop()
        if isinstance(node, (dict, list)):
            deepest = max(deepest, d)
            if deepest > limit:
                return deepest
            stack.extend((v, d + 1) for v in (node.values() if isinstance(node, dict) else node))
    return deepest


_STRICT: dict[int, tuple[Any, Any]] = {}  # id(schema) -> (the schema, kept alive so its id is not reused; validator)


def strict_validator(schema: dict[str, Any]) -> Any:
    """The JSON Schema (Draft 2020-12) validator of ``schema`` for data read from a file, where an integer is an
    integer only and a number is not a bool (``true`` and ``5.0`` are no count), built once per schema object.

    Example:
        >>> v = strict_validator({"type": "integer"})
        >>> [v.is_valid(x) for x in (5, 5.0, True)], v is strict_validator({"type": "integer"})
        ([True, False, False], False)
    """
    found = _STRICT.get(id(schema))
    if found is None:
        from jsonschema import Draft202012Validator, validators

        checker = Draft202012Validator.TYPE_CHECKER.redefine(
            "integer", lambda _, x: isinstance(x, int) and not isinstance(x, bool)
        ).redefine("number", lambda _, x: isinstance(x, (int, float)) and not isinstance(x, bool))
        strict = validators.extend(Draft202012Validator, type_checker=checker)
        strict.check_schema(schema)
        found = _STRICT[id(schema)] = (schema, strict(schema))
    return found[1]


def read_json(
    path: str | os.PathLike, max_bytes: int, what: str = "JSON", inside: str | os.PathLike | None = None
) -> Any:
    """Parsed JSON of a bounded regular file, nested at most :data:`MAX_JSON_DEPTH` deep.

    Args:
        path: The file.
        max_bytes: Largest size accepted (checked before reading).
        what: What the file should be, for the message (e.g. ``"checkpoint metadata"``).
        inside: Folder a symlink must not leave.

    Raises:
        UnsafeFileError: naming the file and what is wrong.

    Example:
        >>> import tempfile; p = Path(tempfile.mkdtemp()) / "x.json"; _ = p.write_text("[" * 100 + "]" * 100)
        >>> try:
        ...     read_json(p, 1000, "a test file")
        ... except UnsafeFileError as e:
        ...     print(str(e).split(": ", 1)[1])
        it nests deeper than 64 levels; refused
    """
    raw = read_bytes(path, max_bytes, inside)
    try:
        obj = json.loads(raw.decode("utf-8"))
    except RecursionError:
        raise UnsafeFileError(
            f"{path} cannot be read as {what}: it nests deeper than {MAX_JSON_DEPTH} levels; refused"
        ) from None
    except (UnicodeDecodeError, ValueError) as e:
        raise UnsafeFileError(f"{path} is not valid JSON ({what}): {type(e).__name__}: {str(e)[:200]}") from None
    if nesting_depth(obj, MAX_JSON_DEPTH) > MAX_JSON_DEPTH:
        raise UnsafeFileError(f"{path} cannot be read as {what}: it nests deeper than {MAX_JSON_DEPTH} levels; refused")
    return obj


#: This machine in a temporary name (8 hex of the host name's sha256): shards of one recording may run on several
#: machines over one disk, and only this machine can tell whether one of its own processes is gone.
HOST_TAG = hashlib.sha256(socket.gethostname().encode()).hexdigest()[:8]


def tmp_sibling(path: str | os.PathLike) -> Path:
    """A temporary name beside ``path`` that no other process, thread or call uses: ``.<name>.tmp-<pid>-<thread>-
    <random>-<host tag>``. Write there, then ``os.replace`` it over ``path``; two writers never share it.

    Example:
        >>> a, b = tmp_sibling("/tmp/x.json"), tmp_sibling("/tmp/x.json")
        >>> a != b and a.name.startswith(".x.json.tmp-") and a.parent == Path("/tmp")
        True
    """
    p = Path(path)
    return p.with_name(f".{p.name}.tmp-{os.getpid()}-{threading.get_ident()}-{uuid.uuid4().hex[:8]}-{HOST_TAG}")
