"""Where a corpus recording may be written, and the temporary files a killed build leaves behind.

A recording holds corpus text, so it must never land in a git work tree, where ``git add -A`` would
publish it: :func:`refuse_git_worktree` refuses ``$LSTMVIZ_CACHE`` and ``corpus record --out`` there.

Parts and the manifest are written to a temporary sibling (:func:`lstmviz.safeio.tmp_sibling`,
``.<name>.tmp-<pid>-<thread>-<8 hex>-<host tag>``) and renamed; a build killed mid-part leaves that file.
:func:`clean_stale_tmp` removes, inside one recording folder only, the files of exactly that pattern
written on this machine whose process no longer exists (another machine's shard is never touched); a
file of a live process (another shard, another thread of this one) is kept.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from lstmviz.safeio import HOST_TAG

__all__ = ["InsideGitWorkTree", "TMP_PATTERN", "clean_stale_tmp", "git_work_tree", "refuse_git_worktree"]

# lstmviz.safeio.tmp_sibling's names: ".<name>.tmp-<pid>-<thread ident>-<uuid4 hex[:8]>-<HOST_TAG>"
TMP_PATTERN = re.compile(r"^\..+\.tmp-(?P<pid>[0-9]{1,10})-[0-9]{1,24}-[0-9a-f]{8}-(?P<host>[0-9a-f]{8})$")


class InsideGitWorkTree(ValueError):
    """A recording folder inside a git work tree (the message names the folder and the work tree)."""


def git_work_tree(path: str | os.PathLike) -> Path | None:
    """The top of the git work tree holding ``path`` (a ``.git`` folder or file in it or a parent), else None;
    ``path`` need not exist yet (its nearest existing parent decides).

    Example:
        >>> git_work_tree("/") is None
        True
    """
    p = Path(os.path.abspath(os.path.expanduser(path)))
    for d in (p, *p.parents):
        try:
            if (d / ".git").exists():
                return d
        except OSError:  # an unreadable parent: not ours to judge
            continue
    return None


def refuse_git_worktree(path: str | os.PathLike, what: str) -> Path:
    """``path`` unchanged, or :class:`InsideGitWorkTree` when it is inside a git work tree; ``what`` names the
    setting in the message (``"LSTMVIZ_CACHE"``, ``"--out"``).

    Example:
        >>> refuse_git_worktree("/tmp/rec", "--out").as_posix()
        '/tmp/rec'
    """
    top = git_work_tree(path)
    if top is not None:
        raise InsideGitWorkTree(
            f"{what} {path} is inside the git work tree {top}; a corpus recording holds corpus text and must "
            "not be committed: name a folder outside any repository (for example ~/.cache/lstmviz)"
        )
    return Path(path)


def _alive(pid: int) -> bool:
    """Whether a process ``pid`` exists on this machine (one owned by another user counts as alive)."""
    if pid <= 0:
        return True  # never ours: keep
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (OSError, OverflowError):  # another user's process, or a pid beyond this system's range: keep
        return True
    return True


def clean_stale_tmp(folder: str | os.PathLike) -> list[str]:
    """Removes the temporary files of dead processes directly in ``folder`` (regular files of
    :data:`TMP_PATTERN` only, never a folder or a link's target); returns their names.

    Example:
        >>> clean_stale_tmp("/nonexistent")
        []
    """
    removed: list[str] = []
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return removed
    for e in entries:
        m = TMP_PATTERN.match(e.name)
        if m is None or m["host"] != HOST_TAG or _alive(int(m["pid"])):
            continue
        try:
            if e.is_file(follow_symlinks=False) or e.is_symlink():
                os.unlink(e.path)  # a link itself, never what it points to
                removed.append(e.name)
        except OSError:
            pass
    return removed
