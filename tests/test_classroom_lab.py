"""Issue 21, the Long-range lab's live run in class: what the job on screen did, and when it stops.

* Per cell, the page says what THIS run did: solved at update N, not solved in the M updates the cell ran,
  stopped after M updates, or not started (never the configured budget for a cell that did not use it).
* The finished job gets its own verdict by the presets' rule; a preset's stored verdict is labelled as stored
  and set beside the job only when the job has that preset's settings.
* A job keeps running while anybody uses the app, on any page (heartbeats, or an open server session), and
  stops as "unwatched" only when nothing comes for ``idle_seconds``.
* The stop message names the Stop button by its real label.

Job tests use a fake clock that the test moves, so no assertion depends on how fast this machine is.
"""

from __future__ import annotations

import time
from dataclasses import asdict, replace
from pathlib import Path
from types import SimpleNamespace

import pandas as pd
import pytest

from dashboard import jobs, lab_sections, state
from dashboard.i18n import t
from dashboard.jobs import PRESETS, JobManager, LabConfig

REPO = Path(__file__).resolve().parents[1]
APP = REPO / "dashboard" / "app.py"
TIMEOUT = 60
# Never solves (its only evaluation would come after a million updates) and never ends on its own.
ENDLESS = LabConfig(lag=2, updates=1_000_000, updates_per_epoch=1_000_000, hidden_size=4, batch_size=4, n_val=16)


def _snap(state_: str, cfg: LabConfig, solved: dict, ran: dict, cell: str | None, finals=None) -> dict:
    """A fabricated JobManager.snapshot (only the keys the functions under test read)."""
    history = [
        {"model": c, "updates": ran.get(c, 0), "split": "held_out", "metric": "acc", "value": v}
        for c, v in (finals or {}).items()
    ]
    return {
        "state": state_,
        "config": {**asdict(cfg), "cells": list(cfg.cells)},
        "solved": solved,
        "ran": ran,
        "cell": cell,
        "seconds": {c: 1.0 for c in solved},
        "history": history,
    }


# ----- A. what the run on screen did ---------------------------------------------------------------------


def test_each_cell_reports_the_updates_it_actually_ran():
    """Defect 3: a stopped run said "no success in 1,500 updates" for cells that ran 350 or 780."""
    cfg = replace(PRESETS["short"], updates=1500)
    stopped = _snap("stopped", cfg, {"rnn": None}, {"rnn": 780, "gru": 350}, "gru")
    assert jobs.cell_outcomes(stopped) == [
        ("rnn", "not_solved", 780),
        ("gru", "stopped", 350),
        ("lstm", "not_started", 0),
    ]
    en = lab_sections.cell_lines(stopped, lang="en")
    assert en == [
        "RNN: no success in the 780 updates it ran",
        "GRU: stopped after 350 updates, no success",
        "LSTM: not started",
    ]
    ru = lab_sections.cell_lines(stopped, lang="ru")
    assert ru == [
        "RNN: нет успеха за 780 пройденных шагов",
        "GRU: остановлено после 350 шагов, успеха не было",
        "LSTM: обучение не начиналось",
    ]
    assert not any("1500" in line for line in en + ru)
    running = _snap("running", cfg, {"rnn": 150}, {"rnn": 150, "gru": 40}, "gru")
    assert jobs.cell_outcomes(running) == [("rnn", "solved", 150), ("gru", "running", 40), ("lstm", "waiting", 0)]
    assert lab_sections.cell_lines(running, lang="en")[0] == "RNN: succeeded after 150 updates"
    # stopped before the cell's first update: "stopped after 0", not "not started" and not the budget
    assert jobs.cell_outcomes(_snap("stopped", cfg, {}, {}, "rnn"))[0] == ("rnn", "stopped", 0)
    assert jobs.cell_outcomes({"state": "idle", "config": None}) == []


def test_the_live_job_gets_its_own_verdict_by_the_presets_rule():
    cfg = PRESETS["separate"]
    ran = {"rnn": 600, "gru": 100, "lstm": 150}
    sep = _snap("done", cfg, {"rnn": None, "gru": 100, "lstm": 150}, ran, "lstm", {"rnn": 0.27, "gru": 1, "lstm": 1})
    assert jobs.live_verdict(sep) == "separates"
    assert jobs.job_runs(sep)["final"].tolist() == pytest.approx([0.27, 1.0, 1.0])
    assert lab_sections.run_verdict_text(sep, lang="en").startswith("This run (seed 0) separates the cells")
    solved = {"rnn": 500, "gru": 100, "lstm": 150}
    assert jobs.live_verdict(_snap("done", cfg, solved, ran, "lstm", {"rnn": 1, "gru": 1, "lstm": 1})) == "all_solve"
    far = _snap("done", cfg, sep["solved"], ran, "lstm", {"rnn": 0.6, "gru": 1, "lstm": 1})  # not near chance
    assert jobs.live_verdict(far) == "mixed"
    # a job that did not run to its end has no verdict (its stopped cell might still have succeeded)
    cut = _snap("stopped", cfg, {"rnn": None, "gru": 100}, {"rnn": 600, "gru": 100, "lstm": 20}, "lstm")
    assert jobs.live_verdict(cut) is None
    assert lab_sections.run_verdict_text(cut, lang="ru").startswith("Задача не дошла до конца")
    assert lab_sections.run_verdict_text(_snap("running", cfg, {}, {}, "rnn")) is None


def test_the_stored_verdict_sits_beside_the_job_only_with_the_same_settings():
    measured = pd.DataFrame(
        {
            "seed": [0, 0, 0],
            "cell": ["rnn", "gru", "lstm"],
            "final": [0.26, 1.0, 1.0],
            "solved_at": [None, 100, 150],
            "seconds": [5.0, 2.0, 1.0],
        }
    )
    same = _snap("done", replace(PRESETS["separate"], seed=2), {}, {}, None)  # another seed: same settings
    assert jobs.matching_preset(jobs.snapshot_config(same)) == "separate"
    text = lab_sections.beside_text(same, measured, lang="en")
    assert text.startswith("Stored measurement of the preset «Separates the cells (cue recall, lag 100)»")
    assert "Separates: on every seed" in text
    other = _snap("done", replace(PRESETS["separate"], lag=60), {}, {}, None)
    assert jobs.matching_preset(jobs.snapshot_config(other)) is None
    assert lab_sections.beside_text(other, measured, lang="en").startswith("The job on screen has settings of its own")
    assert "Stored" not in lab_sections.beside_text(other, measured, lang="en")
    assert lab_sections.beside_text(same, None) is None  # no stored file: nothing to set beside it
    diff = lab_sections.settings_diff(jobs.snapshot_config(other), PRESETS["separate"], lang="ru")
    assert diff == "лаг: 60 (в пресете 100)"


# ----- the stop message --------------------------------------------------------------------------------


@pytest.mark.parametrize("lang", ["ru", "en"])
def test_the_stop_message_names_the_buttons_real_label(lang):
    label = t("lab.stop", lang=lang)
    # the catalogue string itself (the old one said «Стоп» / "the Stop button" whatever the button read)
    assert f"«{label}»" in t("lab.stop_reason.user", lang=lang, button=label)
    assert f"«{label}»" in lab_sections.stop_reason_text("user", lang=lang)  # what the page shows
    unwatched = lab_sections.stop_reason_text("unwatched", lang=lang)
    assert "страниц" not in unwatched and "page" not in unwatched  # any open session counts, not "this page"
    assert str(jobs.IDLE_STOP_SECONDS) in unwatched


# ----- B. "nobody is watching" = no open session of the app --------------------------------------------


class _Clock:
    """Monotonic seconds moved by the test; counts reads (the job thread reads it once per update)."""

    def __init__(self) -> None:
        self.now, self.reads = 0.0, 0

    def __call__(self) -> float:
        self.reads += 1
        return self.now


def _updates(clock: _Clock, n: int = 3) -> None:
    """Waits until the job thread has done ``n`` more updates (bounded, so a dead job cannot hang the test)."""
    start, deadline = clock.reads, time.monotonic() + TIMEOUT
    while clock.reads < start + n and time.monotonic() < deadline:
        time.sleep(0.001)


def test_a_job_keeps_running_on_heartbeats_from_other_pages_and_stops_when_none_come():
    clock = _Clock()
    jm = JobManager(max_seconds=1e9, idle_seconds=10, clock=clock)
    assert jm.start(ENDLESS)
    try:
        for _ in range(10):  # 60 s of other pages' runs, no poll of the lab page (no snapshot())
            clock.now += 6
            jm.touch()  # what dashboard/app.py calls on every page run
            _updates(clock)
        assert jm.running()
        clock.now += 11  # nothing for longer than idle_seconds
        snap = jm.wait(TIMEOUT)
        assert snap["state"] == "stopped" and snap["stop_reason"] == "unwatched", snap["state"]
    finally:
        jm.stop()
        jm.wait(TIMEOUT)


def test_a_job_keeps_running_while_the_server_has_an_open_session():
    clock, open_now = _Clock(), [True]
    jm = JobManager(max_seconds=1e9, idle_seconds=10, clock=clock, sessions_open=lambda: open_now[0])
    assert jm.start(ENDLESS)
    try:
        for _ in range(10):  # a teacher's tab open on another view: no heartbeats, but a connected session
            clock.now += 6
            _updates(clock)
        assert jm.running()
        open_now[0] = False  # the last tab closed
        clock.now += 11
        snap = jm.wait(TIMEOUT)
        assert snap["state"] == "stopped" and snap["stop_reason"] == "unwatched", snap["state"]
    finally:
        jm.stop()
        jm.wait(TIMEOUT)


def test_a_failing_session_probe_leaves_heartbeats_in_charge():
    clock = _Clock()

    def broken() -> bool:
        raise RuntimeError("no runtime")

    jm = JobManager(max_seconds=1e9, idle_seconds=10, clock=clock, sessions_open=broken)
    assert jm.start(ENDLESS)
    try:
        clock.now += 6
        jm.touch()
        _updates(clock)
        assert jm.running()
        clock.now += 11
        assert jm.wait(TIMEOUT)["stop_reason"] == "unwatched"
    finally:
        jm.stop()
        jm.wait(TIMEOUT)


def test_sessions_open_reads_the_streamlit_runtime(monkeypatch):
    from streamlit.runtime import Runtime, RuntimeState

    monkeypatch.setattr(Runtime, "_instance", None)
    assert state.sessions_open() is None  # no server (tests, bare Python)
    monkeypatch.setattr(Runtime, "_instance", SimpleNamespace(state=RuntimeState.ONE_OR_MORE_SESSIONS_CONNECTED))
    assert state.sessions_open() is True
    monkeypatch.setattr(Runtime, "_instance", SimpleNamespace(state=RuntimeState.NO_SESSIONS_CONNECTED))
    assert state.sessions_open() is False
    monkeypatch.setattr(Runtime, "_instance", SimpleNamespace(state=object()))  # AppTest's mock runtime
    assert state.sessions_open() is None


# ----- the page ----------------------------------------------------------------------------------------


@pytest.fixture
def lab_page(monkeypatch):
    """An AppTest of the lab page whose job manager is the test's (set with ``lab_page.jm = ...``)."""
    from streamlit.testing.v1 import AppTest

    if not (REPO / "results" / "lab_presets.json").is_file():
        pytest.skip("needs the shipped results/lab_presets.json")
    monkeypatch.setenv("LSTMVIZ_CHECKPOINTS", str(REPO / "checkpoints"))
    holder = SimpleNamespace(jm=JobManager())
    monkeypatch.setattr(state, "job_manager", lambda: holder.jm)

    def open_lab(jm: JobManager):
        holder.jm = jm
        at = AppTest.from_file(str(APP), default_timeout=TIMEOUT)
        at.run()
        at.switch_page("views/lab.py").run()
        assert not at.exception, at.exception
        return at

    return open_lab


def _texts(at) -> list[str]:
    return [el.value for el in [*at.caption, *at.success, *at.info]]


def test_the_page_shows_a_stopped_runs_own_counts_and_flags_the_other_settings(lab_page):
    jm = JobManager()
    assert jm.start(ENDLESS)
    deadline = time.monotonic() + TIMEOUT
    while jm.snapshot()["progress"] * ENDLESS.total_updates < 40 and time.monotonic() < deadline:
        time.sleep(0.01)
    jm.stop()
    snap = jm.wait(TIMEOUT)
    assert snap["state"] == "stopped"
    texts = _texts(lab_page(jm))
    cells = [x for x in texts if x.lower().startswith(("rnn:", "gru:", "lstm:"))]
    assert cells and not any("1000000" in x for x in cells), cells  # the budget is not what the RNN ran
    ran = snap["ran"]["rnn"]
    assert ran >= 40 and t("lab.cell.stopped", lang="ru", cell="RNN", n=ran) in cells, cells
    assert cells[1:] == [t("lab.cell.not_started", lang="ru", cell=c) for c in ("GRU", "LSTM")]
    assert t("lab.stop_reason.user", lang="ru", button="Остановить") in texts
    assert t("lab.run_verdict.none", lang="ru") in texts
    assert t("lab.preset_none", lang="ru") in texts  # no preset's stored verdict beside this job
    # the form's stored measurement (preset "separate") says it is not about the job below
    assert any(
        x.startswith("Задача на экране ниже запущена с другими настройками (лаг: 2 (в пресете 100)") for x in texts
    )


def test_the_page_sets_the_stored_verdict_beside_a_finished_preset_job(lab_page):
    jm = JobManager()
    assert jm.start(PRESETS["short"])
    snap = jm.wait(TIMEOUT * 3)
    assert snap["state"] == "done", snap["error"]
    texts = _texts(lab_page(jm))
    assert any(x.startswith("Этот запуск (сид 0)") for x in texts), texts  # the run's own verdict
    verdict = jobs.live_verdict(snap)
    assert t(f"lab.run_verdict.{verdict}", lang="ru", seed=0, thr=PRESETS["short"].stop_at) in texts, texts
    assert any(
        x.startswith("Сохранённое измерение пресета «Короткий лаг (cue recall, лаг 5)» с теми же") for x in texts
    )
    for cell, outcome, n in jobs.cell_outcomes(snap):
        assert outcome in ("solved", "not_solved") and n == snap["ran"][cell]
