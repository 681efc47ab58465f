"""Word tagging view, the scores: the tagger against its context-free baselines on held-out sentences.

With a comparison file made from the selected checkpoint's weights (``checkpoints/tagger_eval.json``, written by
``python -m lstmviz.tagbaseline``) it shows every model on all, known and unseen words and the tagger's gains over
each baseline with their paired bootstrap intervals; without one, the checkpoint's own test scores (the tagger and
the most-frequent-tag baseline). F1 per tag in an expander either way.
"""

from __future__ import annotations

from typing import Any

import pandas as pd
import streamlit as st

from dashboard import components as ui
from dashboard.i18n import t
from lstmviz.tagbaseline import BASELINES, METRICS, SUBSETS, TAGGER
from lstmviz.tagger import HEADS

ROW_KEYS = {"most_frequent": "tag.baseline_row", "suffix": "tag.suffix_row", TAGGER: "tag.model_row"}


def _gain(g: dict[str, Any] | None) -> str:
    return "–" if g is None else f"{g['diff']:+.3f} [{g['lo']:+.3f}, {g['hi']:+.3f}]"


def _per_tag(models: dict[str, dict[str, Any]]) -> None:
    """F1 per tag, one column per model (``models``: row key -> {head: {tag: {f1, support}}})."""
    rows = [
        {
            "model": t(ROW_KEYS[who]),
            "tagset": t(f"head.{head}"),
            "tag": ui.translated(tag, f"{head}.{tag}"),
            "f1": round(v["f1"], 3),
            "support": v["support"],
        }
        for who, m in models.items()
        for head in HEADS
        for tag, v in m.get(head, {}).items()
    ]
    if rows:
        with st.expander(t("tag.per_tag")):
            wide = pd.DataFrame(rows).pivot_table(index=["tagset", "tag", "support"], columns="model", values="f1")
            st.dataframe(ui.localized(wide.reset_index()), hide_index=True)


def _from_meta(metrics: dict[str, Any]) -> None:
    """The checkpoint's own test scores: the tagger and the most-frequent-tag baseline, all words."""
    st.caption(t("tag.scores_caption"))
    models = {TAGGER: metrics, "most_frequent": metrics.get("baseline", {})}
    rows = [
        {
            "model": t(ROW_KEYS[who]),
            "tagset": t(f"head.{head}"),
            "agreement": round(m[head]["accuracy"], 3),
            "macro_f1": round(m[head]["macro_f1"], 3),
        }
        for who, m in models.items()
        for head in HEADS
        if head in m
    ]
    if rows:
        st.dataframe(ui.localized(pd.DataFrame(rows)), hide_index=True)
    _per_tag({who: {h: m[h]["per_tag"] for h in HEADS if h in m} for who, m in models.items()})


def _from_comparison(c: dict[str, Any]) -> None:
    """Every model on all, known and unseen words; the tagger minus each baseline with its interval."""
    st.caption(t("tag.compare_caption"))
    models = [*BASELINES, TAGGER]
    rows = [
        {"test_words": t(f"tagwords.{sub}"), "n_words": c["subsets"][sub]["words"], "model": t(ROW_KEYS[m])}
        | {k: None if c["scores"][m][sub][k] is None else round(c["scores"][m][sub][k], 3) for k in METRICS}
        for sub in SUBSETS
        for m in models
    ]
    st.dataframe(ui.localized(pd.DataFrame(rows)), hide_index=True)
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
