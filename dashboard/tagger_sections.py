"""Word tagging view, the scores: the tagger against its context-free baselines on held-out sentences.

With a comparison file made from the selected checkpoint's weights (``results/tagger_eval.json``, written by
``python -m lstmviz.tagbaseline``) it shows every model on all, known and unseen words and the tagger's gains over
each baseline with their paired bootstrap intervals; without one, the checkpoint's own test scores (the tagger and
the most-frequent-tag baseline). F1 per tag in an expander either way; a score without examples (a tag absent from
the test sentences, a subset without entities) is "—" with a note, never "None". Above the scores: the sentence with
its entities highlighted from the tagger's BIO labels (:func:`entity_markdown`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd
import streamlit as st

from dashboard import components as ui
from dashboard.i18n import t
from lstmviz.tagbaseline import BASELINES, METRICS, SUBSETS, TAGGER
from lstmviz.tagger import HEADS, bio_spans

ROW_KEYS = {"most_frequent": "tag.baseline_row", "suffix": "tag.suffix_row", TAGGER: "tag.model_row"}
# Highlight colours of the entity types (Streamlit's markdown palette); another type is grey.
ENTITY_COLOURS = {"PER": "blue", "LOC": "green", "ORG": "orange"}


def _gain(g: dict[str, Any] | None) -> str:
    return ui.GAP if g is None else f"{g['diff']:+.3f} [{g['lo']:+.3f}, {g['hi']:+.3f}]"


def _score(x: float | None) -> float | None:
    """A score at 3 decimals; None (shown as "—" by :func:`dashboard.components.without_gaps`) for None / NaN."""
    return None if x is None or (isinstance(x, float) and math.isnan(x)) else round(float(x), 3)


def _table(rows: list[dict[str, Any]]) -> None:
    """A table of scores: missing ones are "—" (never "None"), with the note on what "—" means when one shows."""
    df = pd.DataFrame(rows)
    st.dataframe(ui.without_gaps(ui.localized(df)), hide_index=True)
    if df.isna().any().any():
        st.caption(t("tag.no_support"))


def entity_markdown(
    text: str, spans: Sequence[tuple[int, int]], tags: Sequence[str], names: Mapping[str, str] | None = None
) -> str:
    r"""``text`` as Markdown with each entity of the words' BIO ``tags`` (:func:`lstmviz.tagger.bio_spans`) on a
    coloured background, followed by a badge with its type (its name in ``names``, e.g. the session's language, else
    the type itself); ``spans`` are the words' ``(start, end)`` in ``text``.
    Every piece of the text is escaped (:func:`dashboard.components.md_escape`): only our directives are markup.

    Example:
        >>> entity_markdown("Иван Петров в Москве.", [(0, 4), (5, 11), (12, 13), (14, 20), (20, 21)],
        ...                 ["B-PER", "I-PER", "O", "B-LOC", "O"])
        ':blue-background[Иван Петров] :blue-badge[PER] в :green-background[Москве] :green-badge[LOC]\\.'
    """
    out, pos = [], 0
    for first, end, kind in bio_spans(tags):
        a, b = spans[first][0], spans[end - 1][1]
        colour = ENTITY_COLOURS.get(kind, "gray")
        out += [ui.md_escape(text[pos:a]), f":{colour}-background[{ui.md_escape(text[a:b])}]"]
        out.append(f" :{colour}-badge[{ui.md_escape((names or {}).get(kind, kind))}]")
        pos = b
    out.append(ui.md_escape(text[pos:]))
    return "".join(out)


def entities(text: str, spans: Sequence[tuple[int, int]], tags: Sequence[str]) -> None:
    """The typed sentence with its entities highlighted (or a line saying there is none) and what BIO means."""
    if bio_spans(tags):
        names = {kind: t(f"ner.{kind}") for kind in ENTITY_COLOURS}  # PER -> «человек» / "person"
        st.markdown(entity_markdown(text, spans, tags, names))
    else:
        st.caption(t("tag.no_entities"))
    st.caption(t("tag.entities"))


def per_tag_table(models: Mapping[str, Mapping[str, Mapping[str, Mapping[str, Any]]]]) -> pd.DataFrame:
    """F1 per tag, one column per model (``models``: row key of :data:`ROW_KEYS` -> {head: {tag: {f1, support}}}):
    ``tagset, tag, support`` and the models' names, translated; None where a model has no score for the tag or the
    tag has no example in the test sentences (support 0: F1 is undefined, and a model that never predicts it scores
    0 only by convention).

    Example:
        >>> m = {"tagger": {"pos": {"NOUN": {"f1": 0.91, "support": 4}}},
        ...      "most_frequent": {"pos": {"NOUN": {"f1": 0.8, "support": 4}, "INTJ": {"f1": 0.0, "support": 0}}}}
        >>> per_tag_table(m).iloc[:, 2:].values.tolist()
        [[0, None, None], [4, 0.91, 0.8]]
    """
    rows: dict[tuple[str, str], dict[str, Any]] = {}
    for who, m in models.items():
        for head in HEADS:
            for tag, v in m.get(head, {}).items():
                row = rows.setdefault((head, tag), {"support": 0})
                row["support"] = max(row["support"], int(v.get("support") or 0))
                row[who] = v.get("f1")
    out = []
    for (head, tag), row in sorted(rows.items(), key=lambda kv: (HEADS.index(kv[0][0]), kv[0][1])):
        shown = {"tagset": t(f"head.{head}"), "tag": ui.translated(tag, f"{head}.{tag}"), "support": row["support"]}
        for who in models:
            shown[t(ROW_KEYS[who])] = _score(row.get(who)) if row["support"] else None
        out.append(shown)
    return pd.DataFrame(out).astype(object).where(lambda d: d.notna(), None) if out else pd.DataFrame()


def _per_tag(models: dict[str, dict[str, Any]]) -> None:
    """F1 per tag in an expander (:func:`per_tag_table`), "—" where a tag has no example."""
    table = per_tag_table(models)
    if not table.empty:
        with st.expander(t("tag.per_tag")):
            _table(table.to_dict("records"))


def _from_meta(metrics: dict[str, Any]) -> None:
    """The checkpoint's own test scores: the tagger and the most-frequent-tag baseline, all words."""
    st.caption(t("tag.scores_caption"))
    models = {TAGGER: metrics, "most_frequent": metrics.get("baseline", {})}
    rows = [
        {
            "model": t(ROW_KEYS[who]),
            "tagset": t(f"head.{head}"),
            "agreement": _score(m[head].get("accuracy")),
            "macro_f1": _score(m[head].get("macro_f1")),
        }
        for who, m in models.items()
        for head in HEADS
        if head in m
    ]
    if rows:
        _table(rows)
    _per_tag({who: {h: m[h]["per_tag"] for h in HEADS if h in m} for who, m in models.items()})


def _from_comparison(c: dict[str, Any]) -> None:
    """Every model on all, known and unseen words; the tagger minus each baseline with its interval."""
    st.caption(t("tag.compare_caption"))
    models = [*BASELINES, TAGGER]
    rows = [
        {"test_words": t(f"tagwords.{sub}"), "n_words": c["subsets"][sub]["words"], "model": t(ROW_KEYS[m])}
        | {k: _score(c["scores"][m][sub][k]) for k in METRICS}
        for sub in SUBSETS
        for m in models
    ]
    _table(rows)
    b = c["bootstrap"]
    st.caption(t("tag.gains_caption", sentences=int(b["sentences"]), resamples=int(b["resamples"]), seed=b["seed"]))
    gains = [
        {"minus": t(ROW_KEYS[m]), "test_words": t(f"tagwords.{sub}")}
        | {k: _gain(c["gains"][m][sub][k]) for k in METRICS}
        for m in BASELINES
        for sub in SUBSETS
    ]
    st.dataframe(ui.localized(pd.DataFrame(gains)), hide_index=True)
    _per_tag({m: c["per_tag_f1"][m] for m in models})


def scores(metrics: dict[str, Any], comparison: dict[str, Any] | None) -> None:
    """Held-out agreement of the tagger and its baselines: from ``comparison`` (a checked
    :func:`lstmviz.tagbaseline.load_comparison` of this checkpoint) when given, else from the meta's ``metrics``."""
    st.subheader(t("tag.scores"))
    if comparison is not None:
        _from_comparison(comparison)
    elif metrics:
        _from_meta(metrics)
