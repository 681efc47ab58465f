"""Warm-up of a lesson: what its steps need, prepared in the background before the class reaches them.

Starting a lesson (the Lesson view's Start) hands its steps to the server-wide :class:`WarmUps`; one thread per
lesson then fills the same caches the views read (``dashboard.state``): the models loaded, each step's text
analysed with its knobs, the Generation view's continuation, connectivity and cell table, the tagger's run, and the
Corpus view's recording (built by its own job, dashboard/corpus_jobs.py). A step whose work is cached opens in
well under a second (``benchmarks/bench_lesson.py`` measures it). Work that fails is counted and logged, never
raised: the step then computes when it opens, as without a warm-up.

The thread runs outside any session (it has no page to draw on): it only calls cached functions, which keep their
results for every session, and its progress is read by the lesson panel's fragment.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from dashboard.jobs import register_exit_hook

log = logging.getLogger("lstmviz.dashboard")

Task = tuple[str, Callable[[], Any]]  # (what it prepares, for the progress line; the call)


@dataclass
class WarmUp:
    """One lesson's warm-up: its tasks, how far it got and what failed."""

    tasks: list[Task]
    stop: threading.Event = field(default_factory=threading.Event)  # set at process exit: no further task starts
    done: int = 0
    failed: list[str] = field(default_factory=list)  # labels of tasks that raised
    current: str = ""  # the task running now
    finished: float | None = None  # time.time() when the last task ended
    started: float = field(default_factory=time.time)

    def run(self) -> None:
        """Runs every task in order (the thread's body)."""
        for label, call in self.tasks:
            if self.stop.is_set():
                break
            self.current = label
            try:
                call()
            except Exception:  # a step that cannot be prepared computes when it opens; the lesson goes on
                log.warning("lesson warm-up: %s failed", label, exc_info=True)
                self.failed.append(label)
            self.done += 1
        self.current = ""
        self.finished = time.time()

    def snapshot(self) -> dict[str, Any]:
        """Progress for the page: done, total, the current task, the failed ones, whether it finished."""
        return {
            "done": self.done,
            "total": len(self.tasks),
            "current": self.current,
            "failed": list(self.failed),
            "finished": self.finished is not None,
            "seconds": (self.finished or time.time()) - self.started,
        }


class WarmUps:
    """Server-wide registry: at most one warm-up per lesson runs at a time; a finished one is not repeated within
    :data:`FRESH_SECONDS` (the caches it filled still hold)."""

    FRESH_SECONDS = 600.0

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._runs: dict[str, WarmUp] = {}
        self._threads: list[threading.Thread] = []
        register_exit_hook(self._shutdown)

    def _shutdown(self) -> None:
        """Process exit: no warm-up starts another task; the one running ends (a non-daemon thread is never cut
        off inside torch, which would abort the interpreter)."""
        with self._lock:
            runs, threads = list(self._runs.values()), list(self._threads)
        for run in runs:
            run.stop.set()
        for thread in threads:
            thread.join(timeout=60)

    def start(self, name: str, tasks: list[Task]) -> WarmUp:
        """Starts (or returns the running or fresh) warm-up of lesson ``name``."""
        with self._lock:
            run = self._runs.get(name)
            if run is not None and (run.finished is None or time.time() - run.finished < self.FRESH_SECONDS):
                return run
            run = WarmUp(tasks)
            self._runs[name] = run
        thread = threading.Thread(target=run.run, name=f"lesson-warmup-{name}")
        with self._lock:
            self._threads = [t for t in self._threads if t.is_alive()] + [thread]
        thread.start()
        return run

    def get(self, name: str) -> WarmUp | None:
        """The warm-up of lesson ``name``, if one was started."""
        with self._lock:
            return self._runs.get(name)


def step_tasks(step: Any, paths: dict[str, str]) -> list[Task]:
    """What one lesson step needs, as tasks calling the views' cached functions with the step's knobs.

    Args:
        step: A :class:`lstmviz.lessons.Step`.
        paths: Listed checkpoint names -> folders (a name that is not listed prepares nothing).

    Returns:
        Tasks in the order the step's page computes.
    """
    from dashboard import state

    knobs, view = step.state, step.view
    tasks: list[Task] = []
    models = [knobs["model"]] if "model" in knobs else []
    models += [m for m in knobs.get("models", []) if m not in models]
    folders = [paths[m] for m in models if m in paths]
    if view in ("gates", "gradients", "compare", "corpus"):  # the sentence classifiers (Predictor)
        tasks += [(f"{view}: load {path}", lambda p=path: state.predictor(p)) for path in folders]
    text = knobs.get("text")
    if view in ("gates", "corpus") and text and folders:
        tasks.append((f"{view}: analyse", lambda p=folders[0]: state.analyze(p, state.stamp(p), text)))
    if view == "gradients" and text:
        whatif = {
            "filler": int(knobs.get("filler", 0)),
            "filler_at": knobs.get("filler_at", "auto"),
            "whh_scale": float(knobs.get("whh", 1.0)),
            "forget_bias": float(knobs.get("bias", 0.0)),
            "untrained": bool(knobs.get("untrained", False)),
        }
        for path in folders:
            tasks.append((f"gradients: {path}", lambda p=path: state.analyze(p, state.stamp(p), text, **whatif)))
    if view in ("generate", "tagger") and folders:  # the caption describes the loaded model
        tasks.append((f"{view}: model", lambda p=folders[0]: state.load_model(p, state.stamp(p))))
    if view == "generate" and folders:
        path = folders[0]
        prefix = text or "Мне очень "
        args = (float(knobs.get("temperature", 0.8)), int(knobs.get("top_k", 5)), int(knobs.get("seed", 0)))
        tasks.append(
            (f"generate: {path}", lambda: state.lm_generate(path, state.stamp(path), prefix, state.GEN_LENGTH, *args))
        )
        tasks.append((f"generate: cells {path}", lambda: state.lm_cells(path, state.stamp(path), prefix)))

        def connectivity() -> None:
            lms = [
                i.path for i in state.checkpoint_infos(state.checkpoint_root()) if "generate" in i.views and not i.error
            ]
            run = state.lm_generate(path, state.stamp(path), prefix, state.GEN_LENGTH, *args)
            shown = (prefix + run["continuation"])[: state.GEN_CONNECTIVITY_CHARS]
            state.lm_connectivity(tuple((p, state.stamp(p)) for p in sorted(lms)), shown)

        tasks.append(("generate: connectivity", connectivity))
    if view == "tagger" and folders and text:
        tasks.append(("tagger", lambda p=folders[0]: state.tag(p, state.stamp(p), text)))
    if view == "lab":
        tasks.append(("lab: sweeps", _lab_files))
        preset = knobs.get("preset")
        if preset in ("separate", "short", "adding"):  # the start form's time estimate (timed once per config)
            tasks.append((f"lab: estimate {preset}", lambda: _lab_estimate(preset, int(knobs.get("seed", 0)))))
    if view == "corpus" and folders:
        tasks.append(("corpus: recording", lambda p=folders[0]: _corpus(p)))
    return tasks


def _lab_files() -> None:
    """Reads the Long-range lab's result files (sweeps, the accumulator study, the presets' measurements)."""
    from dashboard import state

    root = state.results_root()
    for name in state.SWEEP_FILES.values():
        if (root / name).is_file():
            state.sweep(str(root / name), state.stamp(root / name))
    for name, read in ((state.ACCUMULATOR_FILE, state.accumulator), (state.LAB_PRESETS_FILE, state.lab_presets)):
        if (root / name).is_file():
            read(str(root / name), state.stamp(root / name))


def _lab_estimate(preset: str, seed: int) -> None:
    """The lab form's time estimate of a preset, with the arguments the form passes."""
    from dataclasses import asdict, replace

    from dashboard import state
    from dashboard.jobs import PRESETS

    state.lab_estimate(tuple(sorted(asdict(replace(PRESETS[preset], seed=seed)).items())))


def _corpus(path: str) -> None:
    """Starts (or finds) the Corpus view's recording of the sidebar model ``path``; it builds on its own job."""
    from dashboard import state

    corpus = state.corpus_file()
    if not corpus.is_file():
        return
    cache = str(state.cache_hint())
    folder = state.corpus_folder(path, state.stamp(path), str(corpus), state.stamp(corpus), cache)
    state.corpus_builds().ensure(path, str(corpus), folder)


def lesson_tasks(lesson: Any, paths: dict[str, str]) -> list[Task]:
    """Every step's tasks, the first steps first (a task a former step did is a cache hit)."""
    return [
        (f"{i + 1}. {label}", call) for i, step in enumerate(lesson.steps) for label, call in step_tasks(step, paths)
    ]
