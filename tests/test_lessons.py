"""Lessons as files and state in the link (issue 21, parts 1 and 2).

The shipped lessons pass ``python -m lstmviz.lessons check`` against the shipped checkpoints; hostile lesson files
(huge, deep, unknown keys, markup, paths, symlinks out of the folder, not UTF-8) are refused with a message naming the
file while the other lessons stay listed; every problem of a file is named; the handout and the TOML writer round-trip;
a link restores a view's knobs (and ignores, with a message, what it may not carry); a lesson runs step by step in
the dashboard, a reload comes back to the same step and state, and "save this view as a step" writes a lesson that
the checker accepts.
"""

from __future__ import annotations

import os
import urllib.parse
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from dashboard import urlstate
from lstmviz import diagnostics, lessons, sentence
from lstmviz.lessons import LessonError, load_lesson, parse_lesson

REPO = Path(__file__).resolve().parents[1]
APP = REPO / "dashboard" / "app.py"
SHIPPED = REPO / "dashboard" / "lessons"
CHECKPOINTS = REPO / "checkpoints"
TIMEOUT = 120
GOOD = """schema = "lstmviz.lesson/1"
title = {ru = "Проба", en = "Trial"}
[[steps]]
view = "gates"
title = {ru = "Гейты", en = "Gates"}
text = {ru = "Смотрим.", en = "Look."}
state = {model = "sentiment-lstm", order = "cluster"}
"""
needs_shipped = pytest.mark.skipif(
    not all((CHECKPOINTS / n / "meta.json").is_file() for n in ("sentiment-lstm", "cue-lstm", "charlm-lstm")),
    reason="the shipped checkpoints are not here",
)


# ----- the library: schema, files, handout ------------------------------------------------------------------------
def test_the_knob_lists_match_the_code_they_describe():
    from dashboard.jobs import PRESETS
    from lstmviz.names import QUANTITIES

    assert lessons.KNOBS["order"]["enum"] == list(diagnostics.UNIT_ORDERS)
    assert lessons.KNOBS["filler_at"]["enum"] == list(sentence.FILLER_POSITIONS)
    assert lessons.KNOBS["preset"]["enum"] == [*PRESETS, "custom"]
    assert set(lessons.KNOBS["quantity"]["enum"]) == {q for qs in QUANTITIES.values() for q in qs}
    assert set(lessons.VIEW_KNOBS) == set(lessons.VIEWS) == set(urlstate.BINDINGS)
    assert all(set(knobs) <= set(lessons.KNOBS) for knobs in lessons.VIEW_KNOBS.values())


@pytest.mark.parametrize("name", ["intro45.toml", "vanishing10.toml"])
def test_the_shipped_lessons_pass_the_checker_with_the_shipped_checkpoints(name, capsys):
    assert lessons.main(["check", str(SHIPPED / name), "--checkpoints", str(CHECKPOINTS)]) == 0
    assert ": ok (" in capsys.readouterr().out


def test_the_shipped_lessons_are_the_45_and_10_minute_classes_in_both_languages():
    intro, short = load_lesson(SHIPPED / "intro45.toml"), load_lesson(SHIPPED / "vanishing10.toml")
    assert sum(s.minutes for s in intro.steps) == 45 and sum(s.minutes for s in short.steps) == 10
    views = [s.view for s in intro.steps]
    assert views[0] == "explain" and views[-1] == "corpus"  # the rehearsed order: how to read … homework
    assert {"gates", "gradients", "lab", "generate", "tagger"} <= set(views)
    for lesson in (intro, short):
        for step in lesson.steps:
            assert step.title["ru"] and step.title["en"] and step.text["ru"] and step.text["en"]
            assert bool(step.question) == bool(step.answer)


def test_every_problem_of_a_file_is_named(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text(
        GOOD.replace('view = "gates"', 'view = "admin"').replace("[[steps]]", "extra = 1\n[[steps]]")
        + '\n[[steps]]\nview = "lab"\ntitle = {ru = "x", en = "y"}\ntext = {ru = "x", en = "y"}\n'
        + 'state = {lag = 5000, model = "../../etc/passwd", import = "os"}\n',
        encoding="utf-8",
    )
    with pytest.raises(LessonError) as e:
        load_lesson(bad)
    text = str(e.value)
    assert text.startswith(f"{bad}: ") and len(e.value.problems) >= 5, text
    for fragment in ("unknown field 'extra'", "steps[0].view = 'admin'", "steps[1].state.lag = 5000",
                     "steps[1].state.model is a knob of", "unknown knob 'import'"):  # fmt: skip
        assert fragment in text, (fragment, text)
    assert lessons.main(["check", str(bad), str(SHIPPED / "intro45.toml")]) == 1  # one bad file: exit 1


def _hostile(folder: Path, outside: Path) -> dict[str, str]:
    """Hostile lesson files written into ``folder`` -> a fragment of the message that names what is wrong."""
    (folder / "huge.toml").write_text(GOOD + "# " + "x" * lessons.MAX_LESSON_BYTES, encoding="utf-8")
    (folder / "deep.toml").write_text(GOOD + "x = " + "[" * 300 + "]" * 300 + "\n", encoding="utf-8")
    (folder / "unknown.toml").write_text(GOOD + 'run = "rm -rf /"\n', encoding="utf-8")
    (folder / "latin1.toml").write_bytes(GOOD.replace("Проба", "Prob\xe9").encode("latin-1", "replace"))
    (folder / "broken.toml").write_text('schema = "lstmviz.lesson/1"\ntitle = {ru = ', encoding="utf-8")
    (folder / "path.toml").write_text(GOOD.replace("sentiment-lstm", "/etc/passwd"), encoding="utf-8")
    (folder / "control.toml").write_text(GOOD.replace("Смотрим.", "Смотрим\\u202e.txt"), encoding="utf-8")
    secret = outside / "secret.toml"
    secret.write_text(GOOD, encoding="utf-8")
    (folder / "link.toml").symlink_to(secret)
    return {
        "huge.toml": "more than the 262,144 allowed",
        "deep.toml": "nests",
        "unknown.toml": "unknown field 'run'",
        "latin1.toml": "not UTF-8",
        "broken.toml": "not valid TOML",
        "path.toml": "steps[0].state.model = '/etc/passwd' is not allowed",
        "control.toml": "control characters",
        "link.toml": "outside",
    }


def test_hostile_lesson_files_are_refused_each_with_a_message_naming_it(tmp_path):
    folder, outside = tmp_path / "lessons", tmp_path / "elsewhere"
    folder.mkdir(), outside.mkdir()
    expected = _hostile(folder, outside)
    for name, fragment in expected.items():
        with pytest.raises(LessonError) as e:
            load_lesson(folder / name, inside=folder)
        assert str(e.value).startswith(str(folder / name)) and fragment in str(e.value), (name, str(e.value))


def test_markup_in_a_lesson_is_accepted_as_text_and_escaped_in_the_handout():
    markup = GOOD.replace("Look.", "<script>alert(1)</script> **bold** [x](javascript:alert(1)) :red[x]")
    lesson = parse_lesson(markup, "markup.toml")
    out = lessons.handout(lesson, "en")
    assert "<script>" not in out and "\\<script\\>" in out and "\\*\\*bold\\*\\*" in out and "\\[x\\]" in out


def test_handout_holds_every_step_title_text_and_question_and_answers_only_on_request():
    lesson = load_lesson(SHIPPED / "intro45.toml")
    for lang in ("ru", "en"):
        plain, full = lessons.handout(lesson, lang), lessons.handout(lesson, lang, answers=True)
        for step in lesson.steps:
            assert lessons._md(step.title[lang]) in plain
            if step.question:
                assert lessons._md(step.question[lang]) in plain
                assert lessons._md(step.answer[lang]) in full and lessons._md(step.answer[lang]) not in plain


def test_handout_command_writes_a_file(tmp_path):
    out = tmp_path / "h.md"
    assert lessons.main(["handout", str(SHIPPED / "vanishing10.toml"), "--lang", "en", "-o", str(out)]) == 0
    assert out.read_text(encoding="utf-8").startswith("# Why gradients vanish")


def test_a_markdown_lesson_reads_its_front_matter_and_keeps_its_body_as_notes(tmp_path):
    md = tmp_path / "mine.md"
    md.write_text("+++\n" + GOOD + "+++\n# Notes\nBring chalk.\n", encoding="utf-8")
    lesson = load_lesson(md)
    assert lesson.name == "mine" and lesson.steps[0].state["order"] == "cluster" and "Bring chalk." in lesson.notes
    md.write_text(GOOD, encoding="utf-8")
    with pytest.raises(LessonError, match=r"starts with a line '\+\+\+'"):
        load_lesson(md)


def test_dump_and_parse_round_trip_every_shipped_lesson():
    for path in lessons.lesson_files(SHIPPED):
        lesson = load_lesson(path)
        again = parse_lesson(lessons.dump_lesson(lesson), path.name)
        assert again == lesson


# ----- links -------------------------------------------------------------------------------------------------------
def test_link_knobs_are_typed_checked_and_refusals_named():
    good, bad = lessons.parse_knobs(
        "gradients",
        {"filler": "150", "whh": "1.5", "untrained": "1", "models": "cue-rnn,cue-lstm", "bias": "NaN", "order": "x"},
    )
    assert good == {"filler": 150, "whh": 1.5, "untrained": True, "models": ["cue-rnn", "cue-lstm"]}
    assert any(p.startswith("bias") for p in bad) and any("order is a knob of gates" in p for p in bad)


def test_a_long_text_is_cut_so_the_link_stays_under_2000_characters():
    text = "Очень длинное предложение про погоду и настроение, " * 40
    params, cut = urlstate.link_params("gates", {"text": text, "order": "cluster"}, {"lang": "ru", "present": "1"})
    link = "/gates?" + urllib.parse.urlencode(params, quote_via=urllib.parse.quote)
    assert len(link) <= urlstate.MAX_URL and cut is not None and 0 < cut < len(text)
    assert params["text"] == text[:cut] and params["order"] == "cluster"
    params, cut = urlstate.link_params("gates", {"text": "Коротко."}, {"lang": "ru"})
    assert cut is None and params["text"] == "Коротко."


# ----- the dashboard ----------------------------------------------------------------------------------------------
def _app(monkeypatch, lessons_dir: Path | None = None, **params: str) -> AppTest:
    monkeypatch.setenv("LSTMVIZ_CHECKPOINTS", str(CHECKPOINTS))
    monkeypatch.setenv("LSTMVIZ_WARMUP", "0")  # the warm-up's own test is below; here it would only load the CPU
    if lessons_dir is not None:
        monkeypatch.setenv("LSTMVIZ_LESSONS", str(lessons_dir))
    at = AppTest.from_file(str(APP), default_timeout=TIMEOUT)
    for k, v in params.items():
        at.query_params[k] = v
    return at


def _query(at: AppTest) -> dict[str, str]:
    return {k: (v[-1] if isinstance(v, list) else v) for k, v in at.query_params.items()}


@needs_shipped
def test_a_link_restores_a_view_and_names_what_it_ignores(monkeypatch):
    at = _app(monkeypatch, lang="en", present="1", model="cue-lstm", order="cluster", bogus="1", play="../x")
    at.run()
    assert not at.exception
    assert at.session_state["checkpoint"].endswith("cue-lstm") and at.session_state["gates_order:en"] == "cluster"
    warning = " ".join(w.value for w in at.warning)
    assert "bogus" in warning and "play" in warning
    query = _query(at)
    assert query["present"] == "1" and query["lang"] == "en" and query["model"] == "cue-lstm"
    assert query["order"] == "cluster" and query["text"].startswith("france")  # the cue model's own text
    again = _app(monkeypatch, **query)  # a reload: the same link, a new session
    again.run()
    assert _query(again) == query and not again.warning


@needs_shipped
def test_a_link_never_names_a_path(monkeypatch):
    at = _app(monkeypatch, model="..", models="../../etc,cue-rnn", lesson="../../etc/passwd")
    at.run()
    assert not at.exception
    assert Path(at.session_state["checkpoint"]).parent == CHECKPOINTS
    assert "etc" not in " ".join(at.query_params.get("model", []))


@needs_shipped
def test_the_lesson_runs_step_by_step_and_a_reload_returns_to_the_same_step(monkeypatch):
    at = _app(monkeypatch, lang="en")
    at.switch_page("views/lesson.py").run()
    at.button(key="lesson_start").click().run()
    lesson = load_lesson(SHIPPED / "intro45.toml")
    assert _query(at)["step"] == "1" and not at.exception
    for k in (1, 2):  # steps 2 and 3: the Gates view with the step's knobs
        at.button(key="lesson_next").click().run()
        step, query = lesson.steps[k], _query(at)
        assert not at.exception and query["step"] == str(k + 1) and query["lesson"] == "intro45"
        for knob, value in step.state.items():
            assert query[knob] == lessons.format_knob(value), knob
        assert at.text_area(key="text_widget_gates").value == step.state["text"]
    at.switch_page("views/gates.py")  # AppTest reruns its own page; a browser stays where the step switched to
    at.selectbox(key="gates_order:en").set_value("activity").run()  # the teacher turns a knob
    assert _query(at)["order"] == "activity"
    reload = _app(monkeypatch, **_query(at))
    reload.switch_page("views/gates.py").run()  # the link's path is the view
    assert _query(reload) == _query(at)  # the same step and the turned knob
    assert any("step 3 of 15" in c.value for c in reload.caption)
    reload.button(key="lesson_back").click().run()  # back to the step: the step's own order again
    assert _query(reload)["order"] == "cluster"
    reload.button(key="lesson_next").click().run()  # step 4: the cue LSTM, the cue text
    assert _query(reload)["model"] == "cue-lstm" and _query(reload)["text"].startswith("france w1")


@needs_shipped
def test_hostile_lessons_in_the_users_folder_are_named_and_the_shipped_ones_still_run(monkeypatch, tmp_path):
    folder, outside = tmp_path / "lessons", tmp_path / "elsewhere"
    folder.mkdir(), outside.mkdir()
    expected = _hostile(folder, outside)
    (folder / "markup.toml").write_text(
        GOOD.replace("Проба", "<b>x</b> :red[Проба] **y**").replace("Смотрим.", "<img src=x onerror=alert(1)>"),
        encoding="utf-8",
    )
    at = _app(monkeypatch, folder, lang="ru")
    at.switch_page("views/lesson.py").run()
    assert not at.exception
    shown = " ".join(e.value for e in at.error) + " ".join(c.value for c in at.code)
    for name in expected:
        assert name in shown, name
    options = at.selectbox(key="lesson_pick").options
    assert "Рекуррентные сети изнутри: 45 минут" in options and "<b>x</b> :red[Проба] **y**" in options
    at.selectbox(key="lesson_pick").set_value("markup").run()
    at.button(key="lesson_start").click().run()
    assert not at.exception
    texts = [m.value for m in at.markdown]
    assert "\\<img src=x onerror=alert\\(1\\)\\>" in texts  # escaped: shown as text, never as markup


@needs_shipped
def test_save_this_view_as_a_step_writes_a_lesson_the_checker_accepts(monkeypatch, tmp_path):
    at = _app(monkeypatch, lang="en", model="cue-lstm", order="cluster")
    at.run()
    at.button(key="lesson_save_step").click().run()
    at.switch_page("views/gradients.py").run()
    at.button(key="lesson_save_step").click().run()
    at.switch_page("views/lesson.py").run()
    draft = at.session_state["lesson_draft"]
    assert [s["view"] for s in draft] == ["gates", "gradients"]
    assert draft[0]["state"]["model"] == "cue-lstm" and draft[0]["state"]["order"] == "cluster"
    mine = lessons.Lesson("mine", {"ru": "М", "en": "M"}, tuple(lessons.Step(**s) for s in draft))
    path = tmp_path / "mine.toml"
    path.write_text(lessons.dump_lesson(mine), encoding="utf-8")
    assert lessons.main(["check", str(path), "--checkpoints", str(CHECKPOINTS)]) == 0


def test_a_warm_up_runs_its_tasks_and_counts_failures():
    from dashboard.warmup import WarmUps

    calls = []

    def boom():
        raise RuntimeError("no")

    run = WarmUps().start("x", [("a", lambda: calls.append(1)), ("b", boom), ("c", lambda: calls.append(3))])
    for _ in range(500):
        if run.snapshot()["finished"]:
            break
        os.sched_yield()
        import time

        time.sleep(0.01)
    snap = run.snapshot()
    assert snap["finished"] and snap["done"] == 3 and snap["failed"] == ["b"] and calls == [1, 3]


@needs_shipped
def test_the_warm_up_plans_work_for_every_step_of_the_shipped_lesson():
    from dashboard.warmup import step_tasks

    lesson = load_lesson(SHIPPED / "intro45.toml")
    paths = {p.name: str(p) for p in CHECKPOINTS.iterdir() if (p / "meta.json").is_file()}
    for step in lesson.steps:
        labels = [label for label, _ in step_tasks(step, paths)]
        assert labels or step.view == "explain", step.title["en"]


@needs_shipped
@pytest.mark.parametrize("view", ["gates", "gradients", "compare", "generate", "tagger", "lab"])
def test_the_knob_defaults_are_what_a_fresh_view_draws(monkeypatch, view):
    """A step that leaves a knob out sets the widget's own default (urlstate.KNOB_DEFAULTS): they must agree."""
    from dashboard.i18n import t

    at = _app(monkeypatch, lang="ru")
    at.switch_page(f"views/{view}.py").run()
    assert not at.exception
    if view == "gradients":  # the what-if sliders are drawn inside a collapsed expander: drawn all the same
        assert "whatif_whh" in at.session_state
    for knob, default in urlstate.KNOB_DEFAULTS[view].items():
        if knob in ("layer", "direction") and view in urlstate._LAYER_KEYS:
            key, per_language, as_index = urlstate._LAYER_KEYS[view]
            got = at.session_state[f"{key}:ru" if per_language else key]
            want = (urlstate.KNOB_DEFAULTS[view]["layer"], 0 if as_index else "fwd")
            assert got == want, (view, knob, got)
            continue
        binding = urlstate.BINDINGS[view][knob]
        key = f"{binding.key}:ru" if binding.per_language else binding.key
        if key not in at.session_state:  # a widget this page state does not draw (e.g. a custom lab setting)
            continue
        want = t(f"{binding.labels}{default}", lang="ru") if binding.labels else default
        assert at.session_state[key] == want, (view, knob, at.session_state[key], want)


@needs_shipped
def test_a_step_without_a_knob_puts_its_widget_back_to_the_default(monkeypatch):
    """Step 7 sets W_hh 1.5; Previous to step 6 (no W_hh) must set the slider's value back to 1, not drop its key
    (the browser would keep showing 1.5 while the link says 1)."""
    at = _app(monkeypatch, lang="ru", lesson="intro45", step="7")
    at.switch_page("views/gradients.py").run()
    at.button(key="lesson_back").click().run()
    assert at.session_state["whatif_whh"] == 1.5
    at.button(key="lesson_prev").click().run()
    assert _query(at)["step"] == "6" and at.session_state["whatif_whh"] == 1.0 and _query(at)["whh"] == "1"
    assert at.session_state["whatif_filler"] == 150


def test_a_reset_sets_every_default_instead_of_dropping_the_key(monkeypatch):
    """The browser keeps a slider's value when its key is dropped; a reset must write the default itself."""
    import streamlit as st

    ctx = urlstate.Context({}, {}, {})
    monkeypatch.setattr(st, "session_state", {"lang": "ru", "whatif_whh": 1.5, "whatif_filler": 150})
    urlstate.apply("gradients", {"filler": 20}, ctx, reset=True)
    assert st.session_state["whatif_whh"] == 1.0 and st.session_state["whatif_filler"] == 20
    assert (st.session_state["grad_section:ru"], st.session_state["grad_section:en"]) == (
        "Дальность без потерь",
        "Loss-free reach",
    )  # a tab's default in each language's key


def test_a_reset_opens_the_first_quantity_tab_of_the_steps_model(monkeypatch):
    """Step 4 opens the cue LSTM's cell tab; Previous to step 3 (sentiment GRU or LSTM, no tab) opens the first tab of
    that model's cell, in both languages, instead of leaving the browser on the cell tab."""
    import streamlit as st

    from dashboard.i18n import t

    ctx = urlstate.Context({"m-gru": "/x/m-gru"}, {"/x/m-gru": "m-gru"}, {"/x/m-gru": "sentiment"}, {"/x/m-gru": "gru"})
    monkeypatch.setattr(st, "session_state", {"lang": "ru", "gates_tab:ru": t("q.cell", lang="ru")})
    urlstate.apply("gates", {"model": "m-gru"}, ctx, reset=True)
    assert st.session_state["gates_tab:ru"] == t("q.reset", lang="ru")
    assert st.session_state["gates_tab:en"] == t("q.reset", lang="en")
