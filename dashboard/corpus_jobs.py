"""Background corpus recordings for the Corpus view: at most one build per recording folder per server.

One :class:`CorpusBuilds` exists per server (``dashboard.state.corpus_builds`` holds it in
``st.cache_resource``). :meth:`CorpusBuilds.ensure` starts :func:`lstmviz.corpus.record.record_corpus` in a
daemon thread for a folder that is not complete and not already being built, so a second tab, a
reload or another user all watch the same build. The recording resumes part by part, so a server
stopped mid-build continues where it left off next time. Pages read :meth:`CorpusBuilds.status`.

This module imports no streamlit.
"""

from __future__ import annotations

import atexit
import logging
import threading
from dataclasses import dataclass, replace
from pathlib import Path

from lstmviz.corpus.record import is_complete, record_corpus

__all__ = ["BuildStatus", "CorpusBuilds"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class BuildStatus:
    """Where one recording stands."""

    state: str  # "ready" | "running" | "failed" | "absent"
    done: int = 0  # parts recorded in this build
    total: int = 0  # parts of the recording
    error: str | None = None  # why it failed


class _Stopped(Exception):
    """Raised between two parts when the server shuts down."""


class CorpusBuilds:
    """Server-wide registry of corpus recordings being built.

    Example:
        >>> CorpusBuilds().status("/nonexistent").state
        'absent'
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._builds: dict[str, BuildStatus] = {}
        self._threads: list[threading.Thread] = []
        self._stop = threading.Event()
        # At exit, stop between two parts and wait: a thread killed inside torch aborts the interpreter, and the
        # finished parts are kept, so the next server resumes the build.
        atexit.register(self.shutdown)

    def shutdown(self, timeout: float = 60.0) -> None:
        """Asks every build to stop after its current part and waits for it."""
        self._stop.set()
        for thread in list(self._threads):
            thread.join(timeout)

    def status(self, folder: str | Path) -> BuildStatus:
        """The status of ``folder`` (``ready`` once every part exists)."""
        with self._lock:
            st = self._builds.get(str(folder))
        if st is not None and st.state in ("running", "failed"):
            return st
        return BuildStatus("ready") if is_complete(folder) else BuildStatus("absent")

    def ensure(self, checkpoint: str, data: str, folder: str | Path) -> BuildStatus:
        """Starts the build of ``folder`` unless it is complete or running; returns its status."""
        key = str(folder)
        with self._lock:
            current = self._builds.get(key)
            if current is not None and current.state == "running":
                return current
            if is_complete(folder):
                return BuildStatus("ready")
            self._builds[key] = BuildStatus("running")
        thread = threading.Thread(
            target=self._run, args=(checkpoint, data, key), daemon=True, name=f"lstmviz-corpus-{Path(key).name}"
        )
        self._threads.append(thread)
        thread.start()
        return self.status(folder)

    def _run(self, checkpoint: str, data: str, key: str) -> None:
        def progress(done: int, total: int) -> None:
            with self._lock:
                self._builds[key] = replace(self._builds[key], done=done, total=total)
            if self._stop.is_set():
                raise _Stopped

        try:
            record_corpus(checkpoint, data, key, progress=progress)
            with self._lock:
                self._builds[key] = replace(self._builds[key], state="ready")
        except _Stopped:
            with self._lock:
                self._builds[key] = replace(self._builds[key], state="failed", error="stopped")
        except Exception as e:  # shown on the page, named; the server keeps running
            log.warning("corpus recording %s failed: %s", key, e)
            with self._lock:
                self._builds[key] = replace(self._builds[key], state="failed", error=f"{type(e).__name__}: {e}")
