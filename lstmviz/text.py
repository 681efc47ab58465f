"""Russian-first text preprocessing that never loses track of the user's characters.

Every model token keeps the ``(start, end)`` span of the original string it came from, so the
dashboard can colour the user's own text by gate values; ``token.text == original[start:end]``
always holds. The pipeline is: scan -> normalize -> (lemmatize) -> (drop punctuation / stop words).

Deliberate choices:

* case: the model sees lower case (``norm``/``lemma``); ``text`` keeps the surface as typed;
* ``ё`` is folded to ``е`` in the model forms (Russian writers use them interchangeably);
  stress marks (U+0301), soft hyphens and zero-width characters are dropped from the model forms
  (:func:`canonical`, shared by every tokenizer of the package), NFC is applied first so a decomposed
  ``й``/``ё`` still becomes one letter; inside a word they never cut it;
* numbers -> ``<num>``, URLs and e-mail addresses -> ``<url>``, ``@mentions`` -> ``<user>``;
* emoji stay themselves (minus the U+FE0F variation selector), kind ``'emoji'``;
* Latin-script words are lower-cased but not lemmatized (pymorphy3 only knows Russian);
* hyphenated words (``во-вторых``, ``кто-то``, ``covid-19``) are one token;
* control, format (RTL marks, zero-width spaces, BOM) and orphan combining characters never
  become tokens; anything else that is not a letter, digit or space is ``'punct'``;
* stop-word removal never drops the negations ``не``, ``ни``, ``нет`` (nor ``но``: sentiment
  often turns on it).

Lemmas come from pymorphy3; the ``MorphAnalyzer`` is created once per process on first use
(under a lock, so concurrent dashboard sessions do not build two) and lemmas are memoized per word.
A lemma is chosen from the word alone, without its context (pymorphy3's most probable parse): the verb
``мыла`` ("washed") in ``мама мыла раму`` becomes the noun ``мыло`` ("soap"). This is kept on purpose:
the shipped models' vocabularies were built from these lemmas, and the dashboard says so under its token table.
"""

from __future__ import annotations

import functools
import re
import threading
import unicodedata
from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields, replace
from typing import Any

__all__ = [
    "KINDS",
    "NEGATIONS",
    "NUM_TOKEN",
    "STOP_WORDS",
    "TextPipeline",
    "Token",
    "URL_TOKEN",
    "USER_TOKEN",
    "canonical",
    "get_morph",
    "is_stopword",
    "lemmatize_word",
    "normalize",
    "tokenize",
    "word_joiners",
]

NUM_TOKEN = "<num>"
URL_TOKEN = "<url>"
USER_TOKEN = "<user>"
KINDS = ("word", "latin", "number", "url", "mention", "emoji", "punct")

# Negations carry sentiment ("не люблю"); they are never stop words, whatever the options say.
NEGATIONS = frozenset({"не", "ни", "нет"})

# A small hand-picked list in model form (lower case, ё -> е). Matched against both the normalized
# surface and the lemma. Left out on purpose: negations, "но"/"однако" (contrast), "без", "очень",
# "хорошо"/"лучше"/"нельзя"/"никогда"/"ничего" (all of which change the sentiment of a sentence).
STOP_WORDS = frozenset(
    """
    я ты он она оно мы вы они себя меня мне мной тебя тебе тобой его ему им нем ее ей ней нее
    их ими них нам нас вам вас мой твой свой наш ваш этот эта это эти тот та то те такой такая
    такое такие сам сама само сами самый весь вся все всё всех всем кто что какой который чей
    в во на с со к ко по о об обо от ото до из изо у за над под подо про для при через перед
    между после около вокруг
    и а или либо да что чтобы чтоб как так если ли же бы б ж ведь вот ну тоже также
    когда где куда откуда там тут здесь туда сюда потом затем тогда сейчас уже еще ещё только
    быть есть был была было были будет будут буду будем будешь стать
    бы уж лишь даже разве вон
    """.replace("ё", "е").split()
)
assert not STOP_WORDS & NEGATIONS, "negations must never be stop words"

# Longest word handed to pymorphy3; longer "words" are noise (keyboard mashing, base64) and are
# kept as their normalized form.
_MAX_LEMMA_LEN = 64

# Characters removed from every model form after NFC (:func:`canonical`): leftover combining diacritics
# (Russian stress marks have no precomposed form), soft hyphen and the zero-width characters (space,
# non-joiner, joiner, word joiner, BOM); normalize() also folds ё to е.
_STRIP_TABLE = {cp: None for cp in range(0x0300, 0x0370)}
_STRIP_TABLE.update({cp: None for cp in (0x00AD, 0x200B, 0x200C, 0x200D, 0x2060, 0xFEFF)})
_NORM_TABLE = {**_STRIP_TABLE, ord("ё"): "е"}
_EMOJI_TABLE = {0xFE0E: None, 0xFE0F: None}

_CYRILLIC = re.compile(r"[\u0400-\u052f]")
_LATIN = re.compile(r"[a-zA-Z\u00c0-\u00d6\u00d8-\u00f6\u00f8-\u024f\u1e00-\u1eff]")
_PYMORPHY_WORD = re.compile(r"[\u0400-\u04ff]+(?:-[\u0400-\u04ff]+)*")

_PATTERN: re.Pattern[str] | None = None
_PATTERN_LOCK = threading.Lock()
_MORPH: Any = None
_MORPH_LOCK = threading.Lock()


@dataclass(frozen=True, slots=True)
class Token:
    """One model token and where it came from.

    Attributes:
        text: The surface exactly as in the input; always ``original[start:end]``.
        start: Offset of the first character in the input string.
        end: Offset one past the last character.
        norm: Normalized form (lower case, NFC, ``ё`` -> ``е``, no stress marks).
        lemma: Model-facing string, what goes into the vocabulary (``<num>``, ``<url>``,
            ``<user>`` for those kinds; the pymorphy3 lemma for Russian words when lemmatizing).
        kind: One of ``KINDS``: 'word', 'latin', 'number', 'url', 'mention', 'emoji', 'punct'.
    """

    text: str
    start: int
    end: int
    norm: str
    lemma: str
    kind: str


def canonical(s: str) -> str:
    """The one normalisation every tokenizer's model form starts from: NFC, then no combining stress marks
    (or other diacritics left over after NFC), soft hyphens or zero-width characters. Case and ``ё`` are kept
    (:func:`normalize` adds lower case and ``ё`` -> ``е`` for the sentiment pipeline; the tagger uses this).

    Example:
        >>> canonical("Ста\u0301рый е\u0308ж сло\u200dво")
        'Старый ёж слово'
    """
    return unicodedata.normalize("NFC", s).translate(_STRIP_TABLE)


@functools.cache
def word_joiners() -> str:
    """Regex class of the characters that continue a word without being letters: every combining mark
    (Unicode category M*), the soft hyphen and the zero-width characters. Tokenizers keep them inside a
    word (so a stress mark or a zero-width joiner never cuts one) and :func:`canonical` removes them."""
    return f"[{_mark_class()}\\u00ad\\u200b\\u200c\\u200d\\u2060\\ufeff]"


def normalize(s: str) -> str:
    """Return the model form of a surface string: :func:`canonical`, lower case, ``ё`` -> ``е``.

    Args:
        s: Any string.

    Returns:
        The normalized string (possibly empty).

    Example:
        >>> normalize("Ёлка́")
        'елка'
    """
    return canonical(s).lower().translate(_NORM_TABLE)


def get_morph() -> Any:
    """Return the process-wide ``pymorphy3.MorphAnalyzer``, creating it on first call.

    Creation (about 0.1-1 s) happens once, under a lock, so concurrent callers share one analyzer.

    Returns:
        The analyzer.

    Example:
        >>> get_morph().parse("дожди")[0].normal_form
        'дождь'
    """
    global _MORPH
    if _MORPH is None:
        with _MORPH_LOCK:
            if _MORPH is None:
                import pymorphy3  # deferred: importing lstmviz should not load dictionaries

                _MORPH = pymorphy3.MorphAnalyzer()
    return _MORPH


@functools.lru_cache(maxsize=200_000)
def lemmatize_word(word: str) -> str:
    """Return the lemma of one word in model form (memoized).

    Only Cyrillic words (optionally hyphenated) go to pymorphy3; anything else, and words longer
    than 64 characters, come back normalized but otherwise unchanged. The lemma ignores context: it is
    the first (most probable) parse of the word alone, so a homograph gets one lemma wherever it stands.

    Args:
        word: A single word, any case.

    Returns:
        The normalized lemma, e.g. ``"любить"`` for ``"Люблю"``.

    Example:
        >>> lemmatize_word("кошки")
        'кошка'
        >>> lemmatize_word("мыла")  # the verb in "мама мыла раму" too: no context, the noun's lemma
        'мыло'
    """
    w = normalize(word)
    if len(w) > _MAX_LEMMA_LEN or not _PYMORPHY_WORD.fullmatch(w):
        return w
    parses = get_morph().parse(w)
    if not parses:
        return w
    return normalize(parses[0].normal_form)


def is_stopword(token: Token) -> bool:
    """Whether a token is a stop word; negations (``не``, ``ни``, ``нет``) never are.

    Args:
        token: A token from ``tokenize``.

    Returns:
        True if its norm or lemma is in ``STOP_WORDS`` and neither is a negation.

    Example:
        >>> [is_stopword(t) for t in tokenize("и не")]
        [True, False]
    """
    if token.kind != "word":
        return False
    if token.norm in NEGATIONS or token.lemma in NEGATIONS:
        return False
    return token.norm in STOP_WORDS or token.lemma in STOP_WORDS


def _mark_class() -> str:
    """Regex class body for all combining marks (Unicode category M*), built from unicodedata."""
    ranges: list[tuple[int, int]] = []
    start = None
    # Marks exist only in planes 0-1 and in the variation selectors supplement (E0100-E01EF).
    for cp in range(0x20000):
        is_mark = unicodedata.category(chr(cp))[0] == "M"
        if is_mark and start is None:
            start = cp
        elif not is_mark and start is not None:
            ranges.append((start, cp - 1))
            start = None
    ranges.append((0xE0100, 0xE01EF))
    return "".join(f"\\U{a:08x}-\\U{b:08x}" for a, b in ranges)


def _pattern() -> re.Pattern[str]:
    """The tokenizer's master regex, compiled once on first use."""
    global _PATTERN
    if _PATTERN is None:
        with _PATTERN_LOCK:
            if _PATTERN is None:
                _PATTERN = re.compile(_build_pattern())
    return _PATTERN


def _build_pattern() -> str:
    """Assemble the master regex; alternatives are tried in order at each position."""
    mark = word_joiners()
    # Word characters: letters and digits, plus combining marks and in-word joiners.
    wchar = f"(?:[^\\W_]|{mark})"
    word = f"[^\\W\\d_]{wchar}*(?:[-\\u2010\\u2011'\\u2019]{wchar}+)*"
    # A URL may not end in punctuation that usually belongs to the sentence.
    url_tail = '[^\\s<>"«»]*[^\\s<>"«».,;:!?)\\]}\'\\u2019\\u201d…]'
    tlds = "ru|рф|su|com|org|net|io|info|me|ua|by|kz|de|uk|edu|gov|dev|ai|app"
    url = (
        f"(?i:https?://|ftp://|www\\.){url_tail}"
        f"|(?<![\\w.@/-])(?:[^\\W_][\\w-]*\\.)+(?i:{tlds})(?![\\w-])(?:/{url_tail})?"
    )
    email = "(?<![\\w.+-])[\\w.+-]+@[^\\W_][\\w-]*(?:\\.[\\w-]+)+"
    mention = "(?<![\\w@.])@\\w+"
    emoji_base = (
        "[\\U0001f000-\\U0001faff\\u2600-\\u27bf\\u2b05-\\u2b07\\u2b1b\\u2b1c\\u2b50\\u2b55"
        "\\u231a\\u231b\\u2328\\u23cf\\u23e9-\\u23f3\\u23f8-\\u23fa\\u3030\\u303d\\u3297\\u3299]"
    )
    emoji_mod = "(?:[\\ufe0e\\ufe0f\\u20e3\\U0001f3fb-\\U0001f3ff]|[\\U000e0020-\\U000e007f])"
    emoji = (
        "[\\U0001f1e6-\\U0001f1ff]{2}"  # flags: a pair of regional indicators
        "|[0-9#*]\\ufe0f?\\u20e3"  # keycaps
        f"|{emoji_base}{emoji_mod}*(?:\\u200d{emoji_base}{emoji_mod}*)*"
    )
    number = f"\\d+(?:[.,:]\\d+)*(?:[-\\u2010]{wchar}+)?"  # 2024, 3,14, 12:30, 90-х
    punct = "(?P<pc>[^\\w\\s]|_)(?P=pc)*"  # a run of one character: "!!!", "..."
    return (
        f"(?P<url>{url})|(?P<email>{email})|(?P<mention>{mention})|(?P<emoji>{emoji})"
        f"|(?P<number>{number})|(?P<word>{word})|(?P<punct>{punct})"
    )


def _word_kind(norm: str) -> str:
    """'latin' for Latin-script words, 'number' for letterless ones (½, Ⅻ), else 'word'."""
    if not any(ch.isalpha() for ch in norm):
        return "number"
    if _CYRILLIC.search(norm) is None and _LATIN.search(norm) is not None:
        return "latin"
    return "word"


def tokenize(text: str, lemmatize: bool = False) -> list[Token]:
    """Split text into tokens of every kind, punctuation included, with spans into ``text``.

    Never raises on a string: empty, whitespace-only or control-character-only input gives ``[]``.

    Args:
        text: Any string.
        lemmatize: Put pymorphy3 lemmas of Russian words into ``Token.lemma`` (else the norm).

    Returns:
        Tokens in order of appearance.

    Raises:
        TypeError: If ``text`` is not a ``str``.

    Example:
        >>> [(t.text, t.lemma, t.kind) for t in tokenize("Люблю 2 кошки!", lemmatize=True)]
        [('Люблю', 'любить', 'word'), ('2', '<num>', 'number'), ('кошки', 'кошка', 'word'), ('!', '!', 'punct')]
    """
    if not isinstance(text, str):
        raise TypeError(f"text must be a str, got {type(text).__name__}")
    tokens: list[Token] = []
    for m in _pattern().finditer(text):
        kind = m.lastgroup
        surface = m.group()
        start, end = m.span()
        if kind == "punct":
            # Controls, RTL/zero-width format characters and orphan combining marks are not tokens.
            if unicodedata.category(surface[0])[0] not in "PS":
                continue
            tokens.append(Token(surface, start, end, surface, surface, "punct"))
        elif kind == "word":
            norm = normalize(surface)
            wkind = _word_kind(norm)
            if wkind == "number":
                lemma = NUM_TOKEN
            elif lemmatize and wkind == "word":
                lemma = lemmatize_word(norm)
            else:
                lemma = norm
            tokens.append(Token(surface, start, end, norm, lemma, wkind))
        elif kind == "number":
            tokens.append(Token(surface, start, end, normalize(surface), NUM_TOKEN, "number"))
        elif kind in ("url", "email"):
            tokens.append(Token(surface, start, end, normalize(surface), URL_TOKEN, "url"))
        elif kind == "mention":
            tokens.append(Token(surface, start, end, normalize(surface), USER_TOKEN, "mention"))
        else:  # emoji: the model token is the emoji itself, without presentation selectors
            norm = surface.translate(_EMOJI_TABLE) or surface
            tokens.append(Token(surface, start, end, norm, norm, "emoji"))
    return tokens


@dataclass(frozen=True)
class TextPipeline:
    """Turns a user's text into model tokens; saved with a checkpoint via ``to_dict``.

    Example:
        >>> pipe = TextPipeline()
        >>> [t.lemma for t in pipe("Я не люблю дождь!")]
        ['я', 'не', 'любить', 'дождь']
    """

    lemmatize: bool = True  # pymorphy3 lemmas for Russian words (else the normalized surface)
    remove_stopwords: bool = False  # drop STOP_WORDS (never the negations не/ни/нет)
    keep_punct: bool = False  # keep 'punct' tokens as model tokens

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if not isinstance(value, bool):
                raise ValueError(f"TextPipeline.{f.name} must be True or False, got {value!r}")

    def __call__(self, text: str, limit: int | None = None) -> list[Token]:
        """Return the model tokens of ``text`` (see ``tokenize``); ``[]`` if nothing is usable.

        Args:
            text: Any string.
            limit: Keep only the first ``limit`` model tokens. They are cut *before* lemmatising,
                the costly step, so a 100,000-character paste costs what its first tokens cost.
        """
        out: list[Token] = []
        for t in tokenize(text, lemmatize=False):  # the regex pass is cheap; lemmas come one by one below
            if limit is not None and len(out) >= limit:
                break
            if t.kind == "punct" and not self.keep_punct:
                continue
            if self.lemmatize and t.kind == "word":
                t = replace(t, lemma=lemmatize_word(t.norm))
            if self.remove_stopwords and is_stopword(t):
                continue
            out.append(t)
        return out

    def lemmas(self, text: str) -> list[str]:
        """Return just the model-facing strings of ``text``, ready for ``Vocab.build``/``encode``.

        Example:
            >>> TextPipeline().lemmas("Дожди!")
            ['дождь']
        """
        return [t.lemma for t in self(text)]

    def to_dict(self) -> dict[str, bool]:
        """Return the options as a JSON-ready dict."""
        return asdict(self)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> TextPipeline:
        """Build a pipeline from ``to_dict`` output; missing keys take their defaults.

        Raises:
            ValueError: On unknown keys (named, with the allowed ones) or non-boolean values.

        Example:
            >>> TextPipeline.from_dict({"remove_stopwords": True}).remove_stopwords
            True
        """
        if not isinstance(d, Mapping):
            raise ValueError(f"TextPipeline.from_dict expects a mapping, got {type(d).__name__}")
        allowed = [f.name for f in fields(cls)]
        unknown = sorted(str(k) for k in d if k not in allowed)
        if unknown:
            raise ValueError(f"unknown TextPipeline option(s) {unknown}; allowed: {allowed}")
        return cls(**d)
