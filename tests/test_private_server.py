"""Issue 19 §4: the server is private by default, a visitor's input is validated, background work and caches are
bounded, recordings stay out of git work trees and a killed build's temporary files are cleaned."""

from __future__ import annotations

import ast
import os
import subprocess
import sys
import threading
import time
import tomllib
from pathlib import Path

import pytest

from lstmviz.safeio import HOST_TAG

REPO = Path(__file__).resolve().parents[1]


# ----- bind address ------------------------------------------------------------------------------------------
def test_config_binds_loopback():
    config = tomllib.loads((REPO / ".streamlit" / "config.toml").read_text(encoding="utf-8"))
    assert config["server"]["address"] == "127.0.0.1"


def test_streamlit_run_listens_on_loopback_only():
    """``streamlit run dashboard/app.py`` with no address flag (the config decides) listens on 127.0.0.1 only."""
    psutil = pytest.importorskip("psutil")
    from dashboard import e2e

    port = e2e.free_port()
    cmd = [sys.executable, "-m", "streamlit", "run", "dashboard/app.py", "--server.port", str(port)]
    cmd += ["--server.fileWatcherType", "none"]
    proc = subprocess.Popen(
        cmd, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True
    )
    try:
        e2e.wait_health(port, timeout=60, proc=proc)
        addresses = {
            c.laddr.ip
            for p in [psutil.Process(proc.pid), *psutil.Process(proc.pid).children(recursive=True)]
            for c in p.net_connections(kind="inet")
            if c.status == psutil.CONN_LISTEN and c.laddr.port == port
        }
    finally:
        e2e.stop_process_group(proc)
    out = proc.stdout.read() if proc.stdout else ""
    assert addresses == {"127.0.0.1"}, addresses
    assert "Network URL" not in out


# ----- URL query parameters ------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "params, expected",
    [
        ({"present": "1"}, {"present": True}),
        ({"present": "no"}, {"present": False}),
        ({"present": "1" * 1_000_000}, {}),  # huge
        ({"present": "../../etc/passwd"}, {}),  # a path
        ({"present": "/etc/passwd", "checkpoint": "/etc", "lang": "x" * 10_000, "cache": "/repo"}, {}),  # unknown
        ({"present": ["0", "1"]}, {"present": True}),  # repeated: the last one, like st.query_params
        ({"present": None}, {}),
    ],
)
def test_query_parameters_validated(params, expected):
    from dashboard import state

    assert state.query_settings(params) == expected


# ----- one corpus build at a time ---------------------------------------------------------------------------------
def test_second_corpus_build_is_queued_not_started(tmp_path):
    from dashboard.corpus_jobs import CorpusBuilds

    started: list[str] = []
    release = threading.Event()

    def slow_record(checkpoint, data, folder, progress=None):
        started.append(folder)
        progress(0, 1)
        release.wait(30)

    builds = CorpusBuilds(record=slow_record)
    try:
        a, b, c = (str(tmp_path / n) for n in "abc")
        assert builds.ensure("ckpt", "data", a).state == "running"
        second = builds.ensure("ckpt", "data", b)
        third = builds.ensure("ckpt", "data", c)
        assert (second.state, second.position) == ("queued", 1)
        assert (third.state, third.position) == ("queued", 2)
        assert builds.ensure("ckpt", "data", b).position == 1  # asking again neither starts nor re-queues it
        time.sleep(0.2)
        assert started == [a]  # only the first one runs
        release.set()
        deadline = time.monotonic() + 10
        while len(started) < 3 and time.monotonic() < deadline:
            time.sleep(0.02)
        assert started == [a, b, c]  # the queue runs in order, one at a time
    finally:
        release.set()
        builds.shutdown(10)


def test_queued_position_shown_in_both_languages():
    from dashboard.i18n import EN, RU

    assert "{n}" in RU["corpus.queued"] and "{n}" in EN["corpus.queued"]
    assert "queued" in (REPO / "dashboard" / "views" / "corpus.py").read_text(encoding="utf-8")


# ----- bounded caches ----------------------------------------------------------------------------------------
def _cache_decorators():
    tree = ast.parse((REPO / "dashboard" / "state.py").read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef):
            for d in node.decorator_list:
                call = d if isinstance(d, ast.Call) else None
                func = call.func if call else d
                if isinstance(func, ast.Attribute) and func.attr in ("cache_data", "cache_resource"):
                    yield node.name, call


def test_every_cache_has_max_entries():
    found = list(_cache_decorators())
    assert len(found) > 20
    missing = [name for name, call in found if call is None or "max_entries" not in {k.arg for k in call.keywords}]
    assert not missing, f"cached without max_entries: {missing}"


def test_visitor_filled_caches_bounded_by_bytes():
    """Generation and tagger entries measured at 10.4 MB and 6.8 MB at most (README): the stated totals hold."""
    from dashboard import state

    assert state.GEN_CACHE_ENTRIES * 10.4 <= 170
    assert state.TAG_CACHE_ENTRIES * 6.8 <= 110


# ----- recordings outside git work trees ----------------------------------------------------------------------------
def test_cache_inside_git_work_tree_refused(monkeypatch):
    from lstmviz.corpus.record import cache_root

    monkeypatch.setenv("LSTMVIZ_CACHE", str(REPO / "cache"))
    with pytest.raises(ValueError, match="inside the git work tree"):
        cache_root()
    monkeypatch.setenv("LSTMVIZ_CACHE", "/tmp/lstmviz-cache-test")
    assert cache_root() == Path("/tmp/lstmviz-cache-test/corpus")


def test_out_inside_git_work_tree_refused(tmp_path):
    from lstmviz.corpus.record import prepare_output

    (tmp_path / "repo" / ".git").mkdir(parents=True)
    out = tmp_path / "repo" / "data" / "rec"
    with pytest.raises(ValueError, match="inside the git work tree"):
        prepare_output(out, {})
    assert not out.exists()  # refused before anything was made


# ----- a killed build's temporary files ------------------------------------------------------------------------
def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_stale_tmp_of_dead_pid_cleaned_live_kept(tmp_path):
    from lstmviz.corpus.record import prepare_output
    from lstmviz.safeio import tmp_sibling

    out = tmp_path / "rec"
    out.mkdir()
    live = tmp_sibling(out / "part-00000.parquet")  # this process: alive
    dead = out / f".part-00001.parquet.tmp-{_dead_pid()}-140000000000-0123abcd-{HOST_TAG}"
    elsewhere = out / f".part-00002.parquet.tmp-{_dead_pid()}-1-0123abcd-{'0' * 8 if HOST_TAG != '0' * 8 else '1' * 8}"
    huge = out / f".part-00003.parquet.tmp-9999999999-1-0123abcd-{HOST_TAG}"  # a pid os.kill cannot take: kept
    other = out / ".notes.tmp-keep"  # not our pattern
    for f in (live, dead, elsewhere, huge, other):
        f.write_bytes(b"x")
    prepare_output(out, {"schema": "test"})  # an empty recording folder: a new recording starts here
    assert live.exists() and other.exists() and huge.exists()
    assert elsewhere.exists()  # another machine's shard: its process cannot be checked here
    assert not dead.exists()


def test_clean_never_leaves_the_folder(tmp_path):
    from lstmviz.corpus.guard import clean_stale_tmp

    outside = tmp_path / f".x.tmp-{_dead_pid()}-1-0123abcd-{HOST_TAG}"
    outside.write_bytes(b"x")
    folder = tmp_path / "rec"
    folder.mkdir()
    os.symlink(outside, folder / outside.name)  # a link of our pattern: the link goes, its target stays
    assert clean_stale_tmp(folder) == [outside.name]
    assert outside.exists()
