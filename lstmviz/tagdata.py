"""Silver-labelled tagging data: the corpus sentences tagged by slovnet, vocabularies, splits and baseline.

The labels are *silver*: a contextual tagger (the slovnet UD morphology and NER models over navec
vectors, distributed in the ``natasha`` wheel on PyPI) tags the corpus sentences at training time.
slovnet and navec are training-only dependencies (``pip install -e .[train]``); the shipped tagger
needs neither. ``natasha`` itself is never imported (it imports ``pymorphy2``, which fails on Python
3.11): its model files are read from the paths the caller gives, e.g. after::

    pip download --no-deps natasha==1.6.0 -d /tmp/natasha
    unzip -j /tmp/natasha/natasha-1.6.0-py3-none-any.whl 'natasha/data/*/*.tar' -d /tmp/natasha_data

Sentences are split 80/10/10 with the same seeded shuffle as the character models
(:func:`lstmviz.chardata.split_sentences`). The most-frequent-tag-per-word baseline shows how much a
tagger gains from context; the scores are :func:`lstmviz.metrics.tag_scores`.
"""

from __future__ import annotations

import importlib.util
import os
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lstmviz.chardata import split_sentences
from lstmviz.datasets import load_opensentiment
from lstmviz.tagger import NER_TAGS, POS_TAGS, tokenize
from lstmviz.vocab import Vocab

__all__ = [
    "TRAIN_EXTRA",
    "MissingExtraError",
    "SilverFiles",
    "TagData",
    "find_silver_files",
    "require_training_extra",
    "silver_label",
    "prepare_tags",
    "most_frequent_tags",
]

TRAIN_EXTRA = "pip install -e .[train]"  # installs slovnet and navec (see pyproject.toml)
MORPH_FILE = "slovnet_morph_news_v1.tar"
NER_FILE = "slovnet_ner_news_v1.tar"
NAVEC_FILE = "navec_news_v1_1B_250K_300d_100q.tar"


class MissingExtraError(RuntimeError):
    """A training-only dependency is not installed; the message names the install command."""


@dataclass(frozen=True)
class SilverFiles:
    """The three model files the silver tagger needs."""

    morph: Path  # slovnet_morph_news_v1.tar
    ner: Path  # slovnet_ner_news_v1.tar
    navec: Path  # navec_news_v1_1B_250K_300d_100q.tar


def find_silver_files(folder: str | os.PathLike | None = None, navec: str | os.PathLike | None = None) -> SilverFiles:
    """Locates the slovnet and navec tars: in ``folder`` (and ``navec``) when given, else in an installed
    ``natasha`` package's data folder (found without importing it).

    Raises:
        FileNotFoundError: naming every file that is missing and how to get it.

    Example:
        >>> find_silver_files("/tmp/natasha_data").morph.name  # doctest: +SKIP
        'slovnet_morph_news_v1.tar'
    """
    if folder is None:
        spec = importlib.util.find_spec("natasha")  # locates the package; runs none of its code
        root = (
            Path(next(iter(spec.submodule_search_locations))) / "data"
            if spec and spec.submodule_search_locations
            else None
        )
        if root is None:
            raise FileNotFoundError(
                "the silver tagger's model files were not given: pass --slovnet DIR (the folder holding "
                f"{MORPH_FILE} and {NER_FILE}) and --navec FILE; get them with `pip download --no-deps natasha==1.6.0` "
                "and unzip 'natasha/data/*/*.tar' from the wheel"
            )
        files = SilverFiles(
            root / "model" / MORPH_FILE, root / "model" / NER_FILE, Path(navec or root / "emb" / NAVEC_FILE)
        )
    else:
        folder = Path(folder)
        files = SilverFiles(folder / MORPH_FILE, folder / NER_FILE, Path(navec) if navec else folder / NAVEC_FILE)
    missing = [str(p) for p in (files.morph, files.ner, files.navec) if not p.is_file()]
    if missing:
        raise FileNotFoundError(
            f"missing silver-tagger file(s): {', '.join(missing)}; they are in the natasha 1.6.0 "
            "wheel (`pip download --no-deps natasha==1.6.0`, unzip 'natasha/data/*/*.tar')"
        )
    return files


def require_training_extra() -> tuple[Any, Any, Any]:
    """``(Navec, Morph, NER)`` from the training extra, or a :class:`MissingExtraError` naming the install.

    Example:
        >>> Navec, Morph, NER = require_training_extra()  # doctest: +SKIP
    """
    try:
        from navec import Navec
        from slovnet import NER, Morph
    except ImportError as e:
        raise MissingExtraError(
            f"training the tagger needs the optional training dependencies ({e.name} is not "
            f"installed): run `{TRAIN_EXTRA}` (slovnet, navec)"
        ) from None
    return Navec, Morph, NER


def silver_label(
    texts: Sequence[str], files: SilverFiles, batch_size: int = 64
) -> list[tuple[list[str], list[str], list[str]]]:
    """``(words, UD parts of speech, BIO entity tags)`` for every text, from the slovnet models.

    Words are :func:`lstmviz.tagger.tokenize`'s, so training and the dashboard split text the same way;
    an entity tag is B-/I- when the word lies inside a slovnet span of that type.

    Example:
        >>> silver_label(["Путин в Москве."], files)[0][1]  # doctest: +SKIP
        ['PROPN', 'ADP', 'PROPN', 'PUNCT']
    """
    Navec, Morph, NER = require_training_extra()
    navec = Navec.load(str(files.navec))
    morph, ner = Morph.load(str(files.morph), batch_size=batch_size), NER.load(str(files.ner), batch_size=batch_size)
    morph.navec(navec)
    ner.navec(navec)
    toks = [tokenize(t) for t in texts]
    kept = [i for i, tk in enumerate(toks) if tk]
    pos_of = {i: [t.pos for t in m.tokens] for i, m in zip(kept, morph.map([[w for w, _, _ in toks[i]] for i in kept]))}
    out = []
    for i, (_text, markup) in enumerate(zip(texts, ner.map(list(texts)))):
        words = [w for w, _, _ in toks[i]]
        bio, prev = [], None
        for _, s, e in toks[i]:
            span = next((sp for sp in markup.spans if sp.start <= s and e <= sp.stop), None)
            tag = "O" if span is None else ("I-" if prev is span else "B-") + span.type
            bio.append(tag if tag in NER_TAGS else "O")
            prev = span
        pos = [p if p in POS_TAGS else "X" for p in pos_of.get(i, [])]
        out.append((words, pos, bio))
    return out


@dataclass
class TagData:
    """Tagged sentences of the three splits and the vocabularies (index = id)."""

    words: list[str]  # lower-cased word vocabulary
    chars: list[str]  # character vocabulary
    train: list[tuple[list[str], list[str], list[str]]]  # (words, pos, ner) per sentence
    val: list[tuple[list[str], list[str], list[str]]]
    test: list[tuple[list[str], list[str], list[str]]]
    meta: dict[str, Any] = field(default_factory=dict)


def prepare_tags(data: str | os.PathLike, files: SilverFiles, seed: int = 0, min_count: int = 2) -> TagData:
    """Silver-labels the corpus sentences and builds the vocabularies from the training split.

    Args:
        data: The corpus CSV or its folder.
        files: From :func:`find_silver_files`.
        seed: Seed of the 80/10/10 sentence split (the character models' split).
        min_count: Words and characters seen fewer times in training become ``<unk>``.

    Example:
        >>> d = prepare_tags("../shared/data/opensentimentcorpus", find_silver_files("/tmp/nd"))  # doctest: +SKIP
        >>> len(d.train) > 4000  # doctest: +SKIP
        True
    """
    texts = [str(t) for t in load_opensentiment(data)["text"]]
    labelled = silver_label(texts, files)
    parts = {k: [labelled[i] for i in idx] for k, idx in split_sentences(len(texts), seed).items()}
    train = parts["train"]
    words = Vocab.build(([w.lower() for w in s[0]] for s in train), min_freq=min_count, order="alphabetical")
    chars = Vocab.build(([c for w in s[0] for c in w] for s in train), min_freq=min_count, order="alphabetical")
    return TagData(
        words.tokens,  # plain lists: the checkpoint's meta stores them as they are
        chars.tokens,
        parts["train"],
        parts["val"],
        parts["test"],
        meta={
            "dataset": {
                "path": str(data),
                "sentences": {k: len(v) for k, v in parts.items()},
                "words": {k: sum(len(s[0]) for s in v) for k, v in parts.items()},
                "split_seed": seed,
            },
            "silver": {"morph": files.morph.name, "ner": files.ner.name, "navec": files.navec.name},
            "min_count": min_count,
        },
    )


def most_frequent_tags(train: Sequence[tuple[list[str], list[str]]], words: Sequence[str]) -> list[str]:
    """The baseline: each word's most frequent training tag; unseen words get the most frequent tag overall.

    Args:
        train: ``(words, tags)`` per training sentence.
        words: The words to tag (case is ignored).

    Example:
        >>> most_frequent_tags([(["мыла", "Мыла", "мама"], ["VERB", "VERB", "NOUN"])], ["мыла", "рама"])
        ['VERB', 'VERB']
    """
    per_word: dict[str, Counter] = defaultdict(Counter)
    overall: Counter = Counter()
    for ws, tags in train:
        for w, tag in zip(ws, tags):
            per_word[w.lower()][tag] += 1
            overall[tag] += 1
    default = min(overall.items(), key=lambda kv: (-kv[1], kv[0]))[0]  # ties: alphabetical, so runs repeat
    best = {w: min(c.items(), key=lambda kv: (-kv[1], kv[0]))[0] for w, c in per_word.items()}
    return [best.get(w.lower(), default) for w in words]
