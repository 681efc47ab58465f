"""Plural forms of the counted UI strings (issue 18, section 3 "Plurals").

A word of dashboard/i18n.py that agrees with a number is a plural field ``{n:form|form|form}``. The counted
strings are found in the dicts themselves (every string holding a plural field), not from a hand list; each is
rendered with every count running over numbers of every plural category, and must equal its template with each
field replaced by the form of its count's category. The categories are written out here, not computed by the
code under test. Also: the examples of the issue, the English fallback, and that ``import dashboard.i18n`` loads
neither torch nor the trainer (it used to, through dashboard.state, ~5 s).
"""

from __future__ import annotations

import itertools
import string
import subprocess
import sys
from pathlib import Path

import pytest

from dashboard.i18n import EN, RU, t

REPO = Path(__file__).resolve().parents[1]
DICTS = {"ru": RU, "en": EN}
SEPARATOR = "|"  # between the forms of a plural field
# The category of each form, in the order a plural field lists them (gettext's order of the languages' rules).
ORDER = {"ru": ("one", "few", "many"), "en": ("one", "other")}
NUMBERS = (0, 1, 2, 5, 11, 21, 22, 25, 101, 111)
RU_ONE_FEW = {1: "one", 21: "one", 101: "one", 2: "few", 22: "few"}  # every other number of NUMBERS is "many"
CATEGORY = {
    "ru": {n: RU_ONE_FEW.get(n, "many") for n in NUMBERS},
    "en": {n: "one" if n == 1 else "other" for n in NUMBERS},
}


def _fields(template: str) -> list[tuple[str, str]]:
    """``(name, format spec)`` of each top-level replacement field of ``template`` (nested ones stay in the spec)."""
    return [(name, spec) for _, name, spec, _ in string.Formatter().parse(template) if name is not None]


def _counts(template: str) -> list[str]:
    """The names of the counts whose plural fields ``template`` holds."""
    return sorted({name for name, spec in _fields(template) if SEPARATOR in spec})


def _counted(lang: str) -> dict[str, list[str]]:
    """Every counted string of ``lang``: key -> its count names."""
    return {key: counts for key, text in DICTS[lang].items() if (counts := _counts(text))}


def _args(template: str) -> dict[str, object]:
    """Stand-ins for the fields that are no counts: a marker, or a number where the field has a format spec."""
    return {name: 0.5 if spec else f"<{name}>" for name, spec in _fields(template)}


def _expected(template: str, lang: str, args: dict[str, object]) -> str:
    """``template`` with each plural field replaced by the form that its count's category names."""
    out = []
    for literal, name, spec, _ in string.Formatter().parse(template):
        out.append(literal)
        if name is None:
            continue
        if SEPARATOR in spec:
            forms = spec.split(SEPARATOR)
            out.append(forms[ORDER[lang].index(CATEGORY[lang][args[name]])].format(**args))
        else:
            out.append(format(args[name], spec))
    return "".join(out)


@pytest.mark.parametrize("lang", ["ru", "en"])
def test_every_counted_string_takes_the_form_of_its_category(lang):
    """Each count of each counted string runs over NUMBERS (all counts of a string independently)."""
    counted = _counted(lang)
    assert counted, f"no counted strings in {lang}: numbers are formatted into fixed nouns"
    wrong = []
    for key, counts in counted.items():
        template = DICTS[lang][key]
        for values in itertools.product(NUMBERS, repeat=len(counts)):
            args = {**_args(template), **dict(zip(counts, values))}
            got, want = t(key, lang=lang, **args), _expected(template, lang, args)
            if got != want:
                wrong.append(f"{key} {dict(zip(counts, values))}: {got!r} != {want!r}")
    assert not wrong, "\n".join(wrong[:20])


@pytest.mark.parametrize("lang", ["ru", "en"])
def test_plural_fields_list_one_form_per_category(lang):
    """As many forms as the language has categories, and the form for one differs from the others."""
    bad = []
    for key, text in DICTS[lang].items():
        for _, spec in _fields(text):
            forms = spec.split(SEPARATOR)
            if len(forms) > 1 and (len(forms) != len(ORDER[lang]) or forms[0] in forms[1:]):
                bad.append((key, spec))
    assert not bad, bad


EXAMPLES = [
    ("ru", "gen.shown", {"n": 4, "m": 82}, "Вы ввели 4 символа, модель дописала ещё 82 символа."),
    ("ru", "gen.shown", {"n": 1, "m": 80}, "Вы ввели 1 символ, модель дописала ещё 80 символов."),
    ("en", "gen.shown", {"n": 1, "m": 82}, "The first character is yours, the next 82 are the model's."),
    ("en", "gen.shown", {"n": 4, "m": 1}, "The first 4 characters are yours, the next one is the model's."),
    ("ru", "train.profile_zeros", {"n": 1}, "1 клетка пуста: "),
    ("ru", "train.profile_zeros", {"n": 3}, "3 клетки пусты: "),
    ("ru", "train.profile_zeros", {"n": 11}, "11 клеток пусты: "),
    ("en", "train.profile_zeros", {"n": 1}, "1 cell is blank: "),
    ("ru", "lab.stop_reason.time_limit", {"minutes": 21}, "Остановлено: задача обучения идёт не дольше 21 минуты."),
    ("en", "tag.cut", {"n": 1}, "The first word is tagged."),
]


@pytest.mark.parametrize(
    ("lang", "key", "counts", "expected"),
    EXAMPLES,
    ids=[f"{lang}-{key}-" + "-".join(f"{k}{v}" for k, v in counts.items()) for lang, key, counts, _ in EXAMPLES],
)
def test_the_examples_of_the_issue(lang, key, counts, expected):
    """The renderings the issue reported wrong («Первые 4 символов», «1 клеток пусты», "The first 1 characters")."""
    got = t(key, lang=lang, **counts)
    assert got.startswith(expected), got


def test_a_missing_string_falls_back_to_english_with_english_forms(monkeypatch):
    """The English fallback of a key missing in Russian picks English forms (it has two, not three)."""
    monkeypatch.delitem(RU, "lab.solved")
    assert t("lab.solved", lang="ru", cell="GRU", n=2) == "GRU: succeeded after 2 updates"


def test_a_count_must_be_an_integer():
    """A float or a preformatted string has no plural category: a caller's bug, not a silent form."""
    with pytest.raises(TypeError):
        t("lab.solved", lang="ru", cell="GRU", n="2")
    with pytest.raises(TypeError):
        t("lab.solved", lang="en", cell="GRU", n=2.0)


def test_importing_i18n_loads_neither_torch_nor_the_trainer():
    """dashboard.i18n is light: importing it once pulled dashboard.state -> jobs -> experiments -> trainer -> torch."""
    code = "import dashboard.i18n, sys; print('torch' in sys.modules, 'lstmviz.trainer' in sys.modules)"
    run = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=120, check=False
    )  # the return code is asserted with stderr as the message
    assert run.returncode == 0, run.stderr
    assert run.stdout.split() == ["False", "False"], run.stdout
