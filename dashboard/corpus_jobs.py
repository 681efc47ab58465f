"""Background corpus recordings for the Corpus view: one build at a time per server, the others queued.

One :class:`CorpusBuilds` exists per server (``dashboard.state.corpus_builds`` holds it in
``st.cache_resource``). :meth:`CorpusBuilds.ensure` starts :func:`lstmviz.corpus.record.record_corpus` in a
daemon thread for a folder that is not complete and not already being built or queued, so a second tab, a
reload or another user all watch the same build. At most :data:`MAX_RUNNING` builds run at once (server-wide,
whoever asked); a further folder waits in a first-come queue and its status is ``queued`` with its 1-based
``position``, which the Corpus view shows. The recording resumes part by part, so a server
stopped mid-build continues where it left off next time. Pages read :meth:`CorpusBuilds.status`.

This module imports no streamlit.
"""

from __future__ import annotations

import atexit
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from lstmviz.corpus.record import is_complete, record_corpus

__all__ = ["MAX_RUNNING", "BuildStatus", "CorpusBuilds"]

MAX_RUNNING = 1  # corpus builds running at once per server (one takes every core it is given and ~0.5 GB)

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class BuildStatus:
    """Where one recording stands."""

    state: str  # "ready" | "running" | "queued" | "failed" | "absent"
    done: int = 0  # parts recorded in this build
    total: int = 0  # parts of the recording
    error: str | None = None  # why it failed
    position: int = 0  # 1-based place in the queue while ``queued``


class _Stopped(Exception):
    """Raised between two parts when the server shuts down."""


class CorpusBuilds:
    """Server-wide registry of corpus recordings being built.

    Example:
        >>> CorpusBuilds().status("/nonexistent").state
        'absent'
    """

    def __init__(self, max_running: int = MAX_RUNNING, record: Callable[..., Any] = record_corpus) -> None:
        if max_running < 1:
            raise ValueError(f"max_running={max_running!r} is invalid; allowed: an integer >= 1")
        self._lock = threading.RLock()  # status() is read inside ensure()
        self._builds: dict[str, BuildStatus] = {}
        self._threads: list[threading.Thread] = []
        self._stop = threading.Event()
        self._max_running = max_running
        self._record = record  # record_corpus(checkpoint, data, folder, progress=...); a fake in tests
        self._queue: list[tuple[str, str, str]] = []  # (checkpoint, data, folder) waiting, first come first
        self._running = 0
        # At exit, stop between two parts and wait: a thread killed inside torch aborts the interpreter, and the
        # finished parts are kept, so the next server resumes the build.
        atexit.register(self.shutdown)

    def shutdown(self, timeout: float = 60.0) -> None:
        """Asks every build to stop after its current part and waits for it."""
        self._stop.set()
        with self._lock:
            for _, _, key in self._queue:  # never started: nothing to stop
                self._builds[key] = BuildStatus("failed", error="stopped")
            self._queue.clear()
        for thread in list(self._threads):
            thread.join(timeout)

    def status(self, folder: str | Path) -> BuildStatus:
        """The status of ``folder`` (``ready`` once every part exists)."""
        with self._lock:
            st = self._builds.get(str(folder))
            queue = [key for _, _, key in self._queue]
        if st is not None and st.state == "queued" and str(folder) in queue:
            return replace(st, position=queue.index(str(folder)) + 1)
        if st is not None and st.state in ("running", "failed"):
            return st
        return BuildStatus("ready") if is_complete(folder) else BuildStatus("absent")

    def ensure(self, checkpoint: str, data: str, folder: str | Path) -> BuildStatus:
        """Starts the build of ``folder`` unless it is complete, running or queued; queues it while
        :data:`MAX_RUNNING` builds run; returns its status."""
        key = str(folder)
        with self._lock:
            current = self._builds.get(key)
            if current is not None and current.state in ("running", "queued"):
                return self.status(folder) if current.state == "queued" else current
            if is_complete(folder):
                return BuildStatus("ready")
            if self._stop.is_set():
                return BuildStatus("failed", error="stopped")
            if self._running >= self._max_running:
                self._builds[key] = BuildStatus("queued")
                self._queue.append((str(checkpoint), str(data), key))
                log.info("corpus recording %s queued (position %d)", key, len(self._queue))
            else:
                self._start(str(checkpoint), str(data), key)
        return self.status(folder)

    def _start(self, checkpoint: str, data: str, key: str) -> None:
        """Starts one build's thread (called with the lock held)."""
        self._builds[key] = BuildStatus("running")
        self._running += 1
        thread = threading.Thread(
            target=self._run, args=(checkpoint, data, key), daemon=True, name=f"lstmviz-corpus-{Path(key).name}"
        )
        self._threads = [t for t in self._threads if t.is_alive()] + [thread]
        thread.start()

    def _run(self, checkpoint: str, data: str, key: str) -> None:
        try:
            self._build(checkpoint, data, key)
        finally:
            with self._lock:
                self._running -= 1
                if self._queue and not self._stop.is_set():
                    self._start(*self._queue.pop(0))

    def _build(self, checkpoint: str, data: str, key: str) -> None:
        def progress(done: int, total: int) -> None:
            with self._lock:
                self._builds[key] = replace(self._builds[key], done=done, total=total)
            if self._stop.is_set():
                raise _Stopped

        try:
            self._record(checkpoint, data, key, progress=progress)
            with self._lock:
                self._builds[key] = replace(self._builds[key], state="ready")
        except _Stopped:
            with self._lock:
                self._builds[key] = replace(self._builds[key], state="failed", error="stopped")
        except Exception as e:  # shown on the page, named; the server keeps running
            log.warning("corpus recording %s failed: %s", key, e)
            with self._lock:
                self._builds[key] = replace(self._builds[key], state="failed", error=f"{type(e).__name__}: {e}")
