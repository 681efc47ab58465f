"""Baselines for the tagger and its held-out comparison: known against unseen words, with paired bootstrap intervals.

Two baselines tag each word without looking at its neighbours:

* **most frequent tag** (:func:`lstmviz.tagdata.most_frequent_tags`): a word seen in training takes its most
  frequent training tag, an unseen word the most frequent tag overall (NOUN; O for entities);
* **suffix** (:func:`suffix_tags`): the same for seen words; an unseen word takes the most frequent tag of the
  training words that end in its last 3 letters, backing off to 2 letters, then 1, then the most frequent tag
  overall. Suffixes are counted over word types (each distinct lower-cased training word once, with its own most
  frequent tag): unseen words are rare words, and the vocabulary tells a rare word's ending better than the running
  text, where a few frequent words (что, это, его) would decide their endings.

:func:`compare_taggers` scores any taggers' predictions on one split, on all words and separately on the words seen
in the training split ("known": its lower-cased form occurs there, as the baselines look words up) and the rest
("unseen"), and gives paired bootstrap intervals (:mod:`lstmviz.metrics`: test sentences resampled, 10,000
times, seed 0, 95 % percentile) of a reference tagger minus each other one. Every score is a function of additive
per-sentence counts, so the scores and the intervals come from the same numbers:

* part-of-speech and entity-tag agreement: a confusion matrix per sentence (its words' rows summed);
* part-of-speech macro-F1: from the same matrices, the mean F1 over the tags the gold labels of that subset hold
  (as :func:`lstmviz.metrics.tag_scores`, whose "all words" scores it reproduces exactly);
* entity macro-F1 over whole spans (exact boundaries and type): per sentence and entity type the counts of
  true-positive, false-positive and false-negative spans. A span, gold or predicted, is "unseen" when any of its
  words is, else "known"; a span's counts go to its own subset.

:func:`evaluate_checkpoint` runs both baselines and a tagger checkpoint on the test split; :func:`main` is the
command that writes the result to ``results/`` (the silver labels are recomputed as at training time, by
:func:`lstmviz.tagdata.prepare_tags`; one thread; the corpus text is never written)::

    python -m lstmviz.tagbaseline --slovnet /tmp/natasha_data --checkpoint checkpoints/tagger-lstm \\
        --out results/tagger_eval
"""

from __future__ import annotations

import argparse
import os
from collections import Counter, defaultdict
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from lstmviz.metrics import (
    LEVEL,
    RESAMPLES,
    SEED,
    accuracy_from_confusion,
    confusion_counts,
    macro_f1_from_confusion,
    paired_bootstrap,
    span_f1_from_counts,
    span_matches,
    tag_scores,
)
from lstmviz.tagdata import TagData, most_frequent_tags
from lstmviz.tagger import NER_TAGS, NER_VOCAB, POS_TAGS, POS_VOCAB
from lstmviz.vocab import Vocab

__all__ = [
    "SCHEMA",
    "SUFFIX_LENGTHS",
    "SUBSETS",
    "METRICS",
    "BASELINES",
    "suffix_tags",
    "baseline_tags",
    "compare_taggers",
    "evaluate_checkpoint",
    "readme_tables",
    "per_tag_table",
    "comparison_markdown",
    "write_comparison",
    "load_comparison",
    "main",
]

SCHEMA = 1  # version of the result file's layout
SUFFIX_LENGTHS = (3, 2, 1)  # letters of the suffix tried for an unseen word, longest first
SUBSETS = ("all", "known", "unseen")
METRICS = ("pos_agreement", "pos_macro_f1", "ner_agreement", "ner_span_macro_f1")
BASELINES = ("most_frequent", "suffix")  # the context-free taggers, in the tables' order
TAGGER = "tagger"  # the reference tagger's key in a comparison
ENTITY_TYPES = tuple(dict.fromkeys(t[2:] for t in NER_TAGS if t != "O"))  # PER, LOC, ORG
ENTITY_VOCAB = Vocab(ENTITY_TYPES, specials=False)  # type -> its tp/fp/fn columns' block in the span counts
MAX_FILE_BYTES = 1_000_000  # the result file is ~20 kB; a larger one is refused unread
# How the tables name the models and the columns (the README shows these tables; its test compares them).
LABELS = {
    "most_frequent": "most frequent tag of the word",
    "suffix": "most frequent tag of the word, else of its suffix",
}
COLUMNS = ("POS agreement", "POS macro-F1", "entity token agreement", "entity macro-F1 (whole spans)")

Split = Sequence[tuple[list[str], list[str], list[str]]]  # (words, pos, ner) per sentence
Predictions = Mapping[str, tuple[Sequence[Sequence[str]], Sequence[Sequence[str]]]]  # name -> (pos, ner)


def _best(counts: Counter) -> str:
    """The most frequent key; ties go to the alphabetically first, so runs repeat (as most_frequent_tags)."""
    return min(counts.items(), key=lambda kv: (-kv[1], kv[0]))[0]


def suffix_tags(
    train: Sequence[tuple[Sequence[str], Sequence[str]]],
    words: Sequence[str],
    lengths: Sequence[int] = SUFFIX_LENGTHS,
) -> list[str]:
    """The suffix baseline: a seen word's most frequent training tag; an unseen word's from its ending.

    An unseen word takes the most frequent tag among the training word types ending in its last ``lengths[0]``
    letters (each type counted once, with its own most frequent tag), else its last ``lengths[1]`` letters, and
    so on; with no match, the most frequent tag overall (counted over tokens, as
    :func:`lstmviz.tagdata.most_frequent_tags`). Case is ignored throughout.

    Args:
        train: ``(words, tags)`` per training sentence.
        words: The words to tag.
        lengths: Suffix lengths to try, longest first (default 3, 2, 1).

    Raises:
        ValueError: ``lengths`` empty, not positive integers or not strictly decreasing; a training sentence whose
            words and tags differ in length; no training tag at all.

    Example:
        >>> train = [(["мыла", "рама", "бежала", "мама"], ["VERB", "NOUN", "VERB", "NOUN"])]
        >>> suffix_tags(train, ["мыла", "пела", "стена", "ух"])
        ['VERB', 'VERB', 'NOUN', 'NOUN']
    """
    if not lengths or any(isinstance(n, bool) or not isinstance(n, int) or n < 1 for n in lengths):
        raise ValueError(f"lengths={list(lengths)!r}: give positive integers, e.g. (3, 2, 1)")
    if any(a <= b for a, b in zip(lengths, lengths[1:])):
        raise ValueError(f"lengths={list(lengths)!r}: must be strictly decreasing (the longest suffix first)")
    per_word: dict[str, Counter] = defaultdict(Counter)
    overall: Counter = Counter()
    for i, (ws, tags) in enumerate(train):
        if len(ws) != len(tags):
            raise ValueError(f"training sentence {i}: {len(ws)} words but {len(tags)} tags")
        for w, tag in zip(ws, tags):
            per_word[w.lower()][tag] += 1
            overall[tag] += 1
    if not overall:
        raise ValueError("no training words: the baseline has nothing to count")
    best = {w: _best(c) for w, c in per_word.items()}
    endings: dict[int, dict[str, Counter]] = {n: defaultdict(Counter) for n in lengths}
    for w, tag in best.items():  # word types: each once, with its own most frequent tag
        for n in lengths:
            if len(w) >= n:
                endings[n][w[-n:]][tag] += 1
    by_suffix = {n: {s: _best(c) for s, c in table.items()} for n, table in endings.items()}
    default = _best(overall)

    def one(word: str) -> str:
        w = word.lower()
        if w in best:
            return best[w]
        return next((by_suffix[n][w[-n:]] for n in lengths if len(w) >= n and w[-n:] in by_suffix[n]), default)

    return [one(w) for w in words]


def baseline_tags(train: Split, split: Split, name: str) -> tuple[list[list[str]], list[list[str]]]:
    """``(parts of speech, entity tags)`` per sentence of ``split`` from a baseline learnt on ``train``.

    Args:
        train: ``(words, pos, ner)`` per training sentence.
        split: The sentences to tag (only their words are read).
        name: ``"most_frequent"`` or ``"suffix"``.

    Raises:
        ValueError: an unknown ``name``.

    Example:
        >>> train = [(["Мама", "мыла", "раму"], ["NOUN", "VERB", "NOUN"], ["O", "O", "O"])]
        >>> baseline_tags(train, [(["папа", "мыла"],)], "suffix")
        ([['NOUN', 'VERB']], [['O', 'O']])
    """
    fns: dict[str, Callable[..., list[str]]] = {"most_frequent": most_frequent_tags, "suffix": suffix_tags}
    if name not in fns:
        raise ValueError(f"baseline {name!r}: choose one of {', '.join(BASELINES)}")
    words = [w for s in split for w in s[0]]
    out = []
    for col in (1, 2):
        flat = iter(fns[name]([(s[0], s[col]) for s in train], words))
        out.append([[next(flat) for _ in s[0]] for s in split])
    return out[0], out[1]


# ----- per-sentence counts and the scores over their sums ---------------------------------------------------------
def _word_counts(gold: Sequence, pred: Sequence, keep: Sequence, tags: Vocab) -> np.ndarray:
    """``(sentences, k*k)``: each sentence's confusion counts over its words where ``keep`` is true."""
    sent = np.array([i for i, s in enumerate(gold) for _ in s], dtype=np.int64)
    mask = np.array([k for s in keep for k in s], dtype=bool)
    g = np.array(tags.encode([x for s in gold for x in s]), dtype=np.int64)
    p = np.array(tags.encode([x for s in pred for x in s]), dtype=np.int64)
    out = np.zeros((len(gold), len(tags) ** 2))
    if mask.any():
        np.add.at(out, sent[mask], confusion_counts(g[mask], p[mask], len(tags)))
    return out


def _span_counts(gold: Sequence, pred: Sequence, known: Sequence, subset: str) -> np.ndarray:
    """``(sentences, 3 * types)``: per sentence and entity type the tp, fp, fn whole spans of ``subset``."""
    out = np.zeros((len(gold), 3 * len(ENTITY_TYPES)))
    for i, (g, p, k) in enumerate(zip(gold, pred, known)):

        def kept(span: tuple[int, int, str], k: Sequence[bool] = k) -> bool:
            return subset == "all" or (subset == "known") == all(k[span[0] : span[1]])

        for j, spans in enumerate(span_matches(g, p)):  # tp, fp, fn
            for span in filter(kept, spans):
                out[i, 3 * ENTITY_VOCAB.token_to_id(span[2]) + j] += 1
    return out


def _macro_f1(classes: Sequence[int]) -> Callable[[np.ndarray], np.ndarray]:
    """Score: mean F1 over ``classes`` of summed k x k confusion counts ``(R, k*k)`` -> ``(R,)``."""
    return lambda counts: macro_f1_from_confusion(counts, classes)


def _span_f1(types: Sequence[int]) -> Callable[[np.ndarray], np.ndarray]:
    """Score: mean span F1 over entity ``types`` of summed tp/fp/fn counts ``(R, 3 * types)`` -> ``(R,)``."""
    return lambda counts: span_f1_from_counts(counts, types)


def _agreement(counts: np.ndarray) -> np.ndarray:
    with np.errstate(invalid="ignore", divide="ignore"):
        return accuracy_from_confusion(counts)


def _metric_counts(split: Split, pos: Sequence, ner: Sequence, known: Sequence, subset: str) -> dict[str, np.ndarray]:
    keep = [[True] * len(k) if subset == "all" else [x == (subset == "known") for x in k] for k in known]
    gold_pos, gold_ner = [s[1] for s in split], [s[2] for s in split]
    pos_c = _word_counts(gold_pos, pos, keep, POS_VOCAB)
    return {
        "pos_agreement": pos_c,
        "pos_macro_f1": pos_c,
        "ner_agreement": _word_counts(gold_ner, ner, keep, NER_VOCAB),
        "ner_span_macro_f1": _span_counts(gold_ner, ner, known, subset),
    }


def _scorers(gold_counts: Mapping[str, np.ndarray]) -> dict[str, Callable[[np.ndarray], np.ndarray] | None]:
    """The score of each metric for one subset; None where it is undefined (no word, no gold tag or entity)."""
    k = len(POS_TAGS)
    pos = gold_counts["pos_macro_f1"].sum(axis=0).reshape(k, k)
    pos_present = [i for i in range(k) if pos[i].sum() > 0]  # tags with gold support in this subset
    spans = gold_counts["ner_span_macro_f1"].sum(axis=0).reshape(len(ENTITY_TYPES), 3)
    types_present = [i for i in range(len(ENTITY_TYPES)) if spans[i, 0] + spans[i, 2] > 0]  # tp + fn > 0
    words = pos.sum() > 0
    return {
        "pos_agreement": _agreement if words else None,
        "pos_macro_f1": _macro_f1(pos_present) if pos_present else None,
        "ner_agreement": _agreement if words else None,
        "ner_span_macro_f1": _span_f1(types_present) if types_present else None,
    }


def _check_predictions(split: Split, predictions: Predictions, reference: str) -> None:
    if reference not in predictions:
        raise ValueError(f"reference {reference!r} is not among the predictions ({', '.join(predictions)})")
    for name, (pos, ner) in predictions.items():
        for head, pred in (("pos", pos), ("ner", ner)):
            if len(pred) != len(split) or any(len(p) != len(s[0]) for p, s in zip(pred, split)):
                raise ValueError(f"{name} {head}: its predictions must have the split's sentences and lengths")
            allowed = set(POS_TAGS if head == "pos" else NER_TAGS)
            bad = sorted({t for s in pred for t in s} - allowed)
            if bad:
                raise ValueError(f"{name} {head}: unknown tags {bad[:5]}")


def compare_taggers(
    split: Split,
    predictions: Predictions,
    known_words: set[str],
    *,
    reference: str = TAGGER,
    resamples: int = RESAMPLES,
    seed: int = SEED,
    level: float = LEVEL,
) -> dict[str, Any]:
    """Scores of every tagger on all, known and unseen words, and the reference minus each other tagger.

    Args:
        split: ``(words, pos, ner)`` per sentence: the gold (silver) labels.
        predictions: Tagger name -> ``(pos, ner)`` tags per sentence of ``split``.
        known_words: Lower-cased words of the training split.
        reference: The tagger whose gains are measured (default ``"tagger"``).
        resamples, seed, level: Of the paired bootstrap over sentences (:mod:`lstmviz.metrics`).

    Returns:
        ``{"subsets": {subset: {"words", "entities"}}, "scores": {name: {subset: {metric: score | None}}},
        "per_tag_f1": {name: {"pos" | "ner": {tag: {"f1", "support"}}}}, "gains": {name: {subset: {metric:
        {"diff", "lo", "hi", "beats"} | None}}}, "bootstrap": {...}}``; ``gains`` holds every tagger but the
        reference; ``per_tag_f1`` is over all words (:func:`lstmviz.metrics.tag_scores`).

    Raises:
        ValueError: an empty split, a missing reference, predictions of other sentences, lengths or tags.

    Example:
        >>> split = [(["Мама", "мыла", "раму"], ["NOUN", "VERB", "NOUN"], ["O", "O", "O"])] * 4
        >>> preds = {"tagger": ([s[1] for s in split], [s[2] for s in split]),
        ...          "noun": ([["NOUN"] * 3] * 4, [s[2] for s in split])}
        >>> r = compare_taggers(split, preds, {"мама", "раму"}, resamples=200)
        >>> r["scores"]["noun"]["unseen"]["pos_agreement"], r["gains"]["noun"]["known"]["pos_agreement"]["diff"]
        (0.0, 0.0)
    """
    if not split:
        raise ValueError("the split holds no sentence")
    _check_predictions(split, predictions, reference)
    known = [[w.lower() in known_words for w in s[0]] for s in split]
    gold = {sub: _metric_counts(split, [s[1] for s in split], [s[2] for s in split], known, sub) for sub in SUBSETS}
    scorers = {sub: _scorers(gold[sub]) for sub in SUBSETS}
    counts = {
        name: {sub: _metric_counts(split, pos, ner, known, sub) for sub in SUBSETS}
        for name, (pos, ner) in predictions.items()
    }
    scores = {
        name: {
            sub: {
                m: None if scorers[sub][m] is None else float(scorers[sub][m](counts[name][sub][m].sum(axis=0))[0])
                for m in METRICS
            }
            for sub in SUBSETS
        }
        for name in predictions
    }
    gains: dict[str, Any] = {}
    for name in (n for n in predictions if n != reference):
        gains[name] = {sub: {} for sub in SUBSETS}
        for sub in SUBSETS:
            for m in METRICS:
                fn = scorers[sub][m]
                r = None
                if fn is not None:
                    b = paired_bootstrap(
                        counts[reference][sub][m], counts[name][sub][m], fn, resamples=resamples, seed=seed, level=level
                    )
                    r = {k: b[k] for k in ("diff", "lo", "hi", "beats")}
                gains[name][sub][m] = r
    per_tag = {}
    for name, (pos, ner) in predictions.items():
        p = tag_scores([s[1] for s in split], pos)["per_tag"]
        n = tag_scores([s[2] for s in split], ner, ner=True)["per_tag"]
        per_tag[name] = {
            head: {t: {"f1": v["f1"], "support": v["support"]} for t, v in d.items() if v["support"] > 0}
            for head, d in (("pos", p), ("ner", n))
        }
    spans = {sub: int(gold[sub]["ner_span_macro_f1"].reshape(len(split), -1, 3)[..., 0].sum()) for sub in SUBSETS}
    return {
        "subsets": {sub: {"words": int(gold[sub]["pos_agreement"].sum()), "entities": spans[sub]} for sub in SUBSETS},
        "scores": scores,
        "per_tag_f1": per_tag,
        "gains": gains,
        "bootstrap": {
            "resamples": resamples,
            "seed": seed,
            "level": level,
            "unit": "test sentence",
            "sentences": len(split),
            "interval": "percentile",
        },
    }


def evaluate_checkpoint(
    data: TagData, checkpoint: str | os.PathLike, *, resamples: int = RESAMPLES, seed: int = SEED
) -> dict[str, Any]:
    """Both baselines and a tagger checkpoint on ``data.test``: :func:`compare_taggers` plus where it came from.

    The checkpoint's own test scores (its ``meta.json``) must be what it scores here: the labels are recomputed,
    and a mismatch means other labels, another split or another vocabulary.

    Raises:
        ValueError: the checkpoint's vocabulary is not the data's, or its stored test scores differ from these.

    Example:
        >>> r = evaluate_checkpoint(data, "checkpoints/tagger-lstm")  # doctest: +SKIP
        >>> round(r["scores"]["suffix"]["all"]["pos_agreement"], 3)  # doctest: +SKIP
        0.929
    """
    from lstmviz.checkpoint import load_checkpoint
    from lstmviz.models import weights_fingerprint
    from lstmviz.tagtrainer import predict_tags

    model, meta = load_checkpoint(checkpoint)
    if meta.get("model_kind") != "tagger":
        raise ValueError(f"{checkpoint}: not a tagger checkpoint (model_kind {meta.get('model_kind')!r})")
    if meta["words"] != data.words or meta["chars"] != data.chars:
        raise ValueError(f"{checkpoint}: its vocabularies are not the data's (another split, corpus or min_count)")
    preds = {name: baseline_tags(data.train, data.test, name) for name in BASELINES}
    preds[TAGGER] = predict_tags(model, data.test, meta["words"], meta["chars"])
    known = {w.lower() for s in data.train for w in s[0]}
    out = compare_taggers(data.test, preds, known, resamples=resamples, seed=seed)
    stored = meta.get("test_metrics", {})
    for name, m in ((TAGGER, stored), ("most_frequent", stored.get("baseline", {}))):
        got = out["scores"][name]["all"]
        want = {
            "pos_agreement": m.get("pos", {}).get("accuracy"),
            "pos_macro_f1": m.get("pos", {}).get("macro_f1"),
            "ner_agreement": m.get("ner", {}).get("accuracy"),
            "ner_span_macro_f1": m.get("ner", {}).get("macro_f1"),
        }
        bad = {k: (v, got[k]) for k, v in want.items() if v is None or not np.isclose(v, got[k], rtol=0, atol=1e-9)}
        if bad:
            raise ValueError(f"{checkpoint}: {name} scores here differ from its meta.json (stored, here): {bad}")
    return {
        "schema": SCHEMA,
        "checkpoint": Path(checkpoint).name,
        "weights_fingerprint": weights_fingerprint(model),
        "known": "a test word whose lower-cased form occurs in the training split",
        "suffix_lengths": list(SUFFIX_LENGTHS),
        "dataset": {k: data.meta.get(k) for k in ("silver", "min_count")}
        | {"split_seed": data.meta.get("dataset", {}).get("split_seed")},
        **out,
    }


# ----- tables ---------------------------------------------------------------------------------------------------
def _f(x: float | None) -> str:
    return "–" if x is None else f"{x:.3f}"


def _gain(g: Mapping[str, Any] | None) -> str:
    return "–" if g is None else f"{g['diff']:+.3f} [{g['lo']:+.3f}, {g['hi']:+.3f}]"


def readme_tables(result: Mapping[str, Any]) -> str:
    """The three markdown tables the README shows: all words; known and unseen words; the tagger's gains.

    Example:
        >>> r = load_comparison("results/tagger_eval.json")  # doctest: +SKIP
        >>> readme_tables(r).splitlines()[2]  # doctest: +SKIP
        '| most frequent tag of the word | 0.860 | 0.857 | 0.961 | 0.505 |'
    """
    from lstmviz.experiments import markdown_table

    name = result.get("checkpoint", TAGGER)
    labels = {**LABELS, TAGGER: name}
    models = [*BASELINES, TAGGER]
    sc, n = result["scores"], result["subsets"]
    overall = markdown_table(
        ["model", *COLUMNS], [[labels[m], *(_f(sc[m]["all"][k]) for k in METRICS)] for m in models]
    )
    split = markdown_table(
        ["test words", "model", *COLUMNS],
        [
            [f"{sub} ({n[sub]['words']:,} words, {n[sub]['entities']} entities)", labels[m]]
            + [_f(sc[m][sub][k]) for k in METRICS]
            for sub in ("known", "unseen")
            for m in models
        ],
    )
    gains = markdown_table(
        [f"{name} minus", "test words", *COLUMNS],
        [[labels[b], sub, *(_gain(result["gains"][b][sub][k]) for k in METRICS)] for b in BASELINES for sub in SUBSETS],
    )
    return overall + "\n" + split + "\n" + gains


def per_tag_table(result: Mapping[str, Any]) -> str:
    """Markdown table of the F1 of every tag (parts of speech, then entity types over whole spans), all words.

    Example:
        >>> per_tag_table(load_comparison("results/tagger_eval.json")).splitlines()[0]  # doctest: +SKIP
        '| tags | tag | test count | most frequent tag of the word | ... | tagger-lstm |'
    """
    from lstmviz.experiments import markdown_table

    models = [*BASELINES, TAGGER]
    labels = {**LABELS, TAGGER: result.get("checkpoint", TAGGER)}
    per_tag = result["per_tag_f1"]
    rows = [
        [head, tag, v["support"], *(_f(per_tag[m][head].get(tag, {}).get("f1", 0.0)) for m in models)]
        for head in ("pos", "ner")
        for tag, v in per_tag[TAGGER][head].items()
    ]
    return markdown_table(["tags", "tag", "test count", *(labels[m] for m in models)], rows)


def comparison_markdown(result: Mapping[str, Any]) -> str:
    """The result file's markdown: the tables of :func:`readme_tables` and how they were made.

    Example:
        >>> comparison_markdown(load_comparison("results/tagger_eval.json"))[:9]  # doctest: +SKIP
        '# Tagger '
    """
    b = result["bootstrap"]
    return (
        f"# Tagger `{result['checkpoint']}` against two context-free baselines\n\n"
        f"Agreement with the silver labels on the {b['sentences']} test sentences. Known words: "
        f"{result['known']}; the rest are unseen. The suffix baseline tags an unseen word by the most frequent tag "
        f"of the training word types ending in its last {', then '.join(map(str, result['suffix_lengths']))} "
        "letters. Entity macro-F1 is over whole spans; a span is unseen when any of its words is.\n\n"
        + readme_tables(result)
        + f"\nIntervals: paired bootstrap over test sentences, {b['resamples']:,} resamples, seed {b['seed']}, "
        f"{b['level']:.0%} percentile. Generated by `python -m lstmviz.tagbaseline` (lstmviz/tagbaseline.py).\n\n"
        "F1 per tag, all test words (entity types over whole spans):\n\n" + per_tag_table(result)
    )


def write_comparison(result: Mapping[str, Any], stem: str | os.PathLike) -> tuple[Path, Path]:
    """Writes ``<stem>.json`` and ``<stem>.md`` atomically.

    Example:
        >>> result = evaluate_checkpoint(data, "checkpoints/tagger-lstm")  # doctest: +SKIP
        >>> write_comparison(result, "results/tagger_eval")  # doctest: +SKIP
        (PosixPath('results/tagger_eval.json'), PosixPath('results/tagger_eval.md'))
    """
    import json

    from lstmviz.experiments import write_text_atomic

    stem = Path(stem)
    stem.parent.mkdir(parents=True, exist_ok=True)
    js, md = stem.with_name(stem.name + ".json"), stem.with_name(stem.name + ".md")
    write_text_atomic(js, json.dumps(result, indent=1, ensure_ascii=False, allow_nan=False) + "\n")
    write_text_atomic(md, comparison_markdown(result))
    return js, md


def _number(x: Any) -> bool:
    return not isinstance(x, bool) and isinstance(x, (int, float)) and bool(np.isfinite(x))


def load_comparison(path: str | os.PathLike) -> dict[str, Any]:
    """A result file of :func:`write_comparison`, read bounded and checked field by field.

    Raises:
        lstmviz.safeio.UnsafeFileError: the file is missing, not a regular file, too large or not JSON.
        ValueError: naming the file and the first field that is missing or of the wrong type.

    Example:
        >>> load_comparison("results/tagger_eval.json")["checkpoint"]  # doctest: +SKIP
        'tagger-lstm'
    """
    from lstmviz.safeio import read_json

    r = read_json(path, MAX_FILE_BYTES, "a tagger comparison")

    def need(ok: bool, field: str, allowed: str) -> None:
        if not ok:
            raise ValueError(f"{path}: '{field}' is missing or wrong; allowed: {allowed}")

    need(isinstance(r, dict) and r.get("schema") == SCHEMA, "schema", f"{SCHEMA}")
    need(isinstance(r.get("checkpoint"), str), "checkpoint", "a folder name")
    need(isinstance(r.get("weights_fingerprint"), str), "weights_fingerprint", "a sha256")
    need(isinstance(r.get("bootstrap"), dict), "bootstrap", "an object")
    for k in ("resamples", "seed", "level", "sentences"):
        need(_number(r["bootstrap"].get(k)), f"bootstrap.{k}", "a number")
    for sub in SUBSETS:
        row = r.get("subsets", {}).get(sub) if isinstance(r.get("subsets"), dict) else None
        for k in ("words", "entities"):
            need(isinstance(row, dict) and _number(row.get(k)), f"subsets.{sub}.{k}", "a number")
    for m in (*BASELINES, TAGGER):
        for sub in SUBSETS:
            row = r.get("scores", {}).get(m, {}).get(sub) if isinstance(r.get("scores"), dict) else None
            for k in METRICS:
                ok = isinstance(row, dict) and k in row and (row[k] is None or _number(row[k]))
                need(ok, f"scores.{m}.{sub}.{k}", "a number or null")
    for b in BASELINES:
        for sub in SUBSETS:
            row = r.get("gains", {}).get(b, {}).get(sub) if isinstance(r.get("gains"), dict) else None
            for k in METRICS:
                g = row.get(k, "missing") if isinstance(row, dict) else "missing"
                ok = g is None or (isinstance(g, dict) and all(_number(g.get(x)) for x in ("diff", "lo", "hi")))
                need(ok, f"gains.{b}.{sub}.{k}", "null or an object of diff, lo, hi")
    per_tag = r.get("per_tag_f1")
    for m in (*BASELINES, TAGGER):
        for head in ("pos", "ner"):
            d = per_tag.get(m, {}).get(head) if isinstance(per_tag, dict) else None
            need(isinstance(d, dict), f"per_tag_f1.{m}.{head}", "an object of tag -> {f1, support}")
            for tag, v in d.items():
                ok = isinstance(v, dict) and _number(v.get("f1")) and _number(v.get("support"))
                need(ok, f"per_tag_f1.{m}.{head}.{tag}", "an object of f1, support")
    return r


def main(argv: Sequence[str] | None = None) -> None:
    """Command line: silver-labels the corpus, compares a tagger checkpoint with both baselines, writes the files.

    Example::

        python -m lstmviz.tagbaseline --slovnet /tmp/natasha_data --out results/tagger_eval
    """
    p = argparse.ArgumentParser(prog="python -m lstmviz.tagbaseline", description=__doc__.split("\n\n")[0])
    p.add_argument("--slovnet", required=True, help="folder with the slovnet morph and NER tars (natasha 1.6.0)")
    p.add_argument("--navec", help="navec .tar (default: in the --slovnet folder)")
    p.add_argument("--data", default="../shared/data/opensentimentcorpus", help="the corpus CSV or its folder")
    p.add_argument("--checkpoint", default="checkpoints/tagger-lstm", help="the tagger checkpoint folder")
    p.add_argument("--out", default="results/tagger_eval", help="writes OUT.json and OUT.md")
    p.add_argument("--resamples", type=int, default=RESAMPLES, help="bootstrap resamples (default 10,000)")
    args = p.parse_args(argv)
    if args.resamples < 1:
        p.error(f"--resamples {args.resamples}: must be >= 1")
    import torch

    from lstmviz.safeio import read_json
    from lstmviz.tagdata import find_silver_files, prepare_tags

    torch.set_num_threads(1)  # the CPU is shared; the labels and scores do not depend on it
    meta = read_json(Path(args.checkpoint) / "meta.json", 50_000_000, "checkpoint metadata")
    split_seed, min_count = meta.get("dataset", {}).get("split_seed", 0), meta.get("min_count", 2)
    files = find_silver_files(args.slovnet, args.navec)
    data = prepare_tags(args.data, files, seed=split_seed, min_count=min_count)  # the checkpoint's own split
    result = evaluate_checkpoint(data, args.checkpoint, resamples=args.resamples)
    for path in write_comparison(result, args.out):
        print(f"wrote {path}")
    print(readme_tables(result))


if __name__ == "__main__":  # pragma: no cover - the command line
    main()
