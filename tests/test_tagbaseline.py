"""The tagger's baselines and comparison (issue 20, part 3): the suffix rule, known/unseen scores that reproduce
``tag_scores``, paired bootstrap intervals from ``lstmviz.metrics``, the shipped result file against the shipped
checkpoint and the README, and the Word tagging view showing it in both languages."""

from __future__ import annotations

import json
import os
import re
import shutil
from pathlib import Path

import numpy as np
import pytest

from lstmviz.metrics import accuracy_from_confusion, confusion_counts, paired_bootstrap, tag_scores
from lstmviz.tagbaseline import (
    BASELINES,
    LABELS,
    METRICS,
    SUBSETS,
    baseline_tags,
    compare_taggers,
    comparison_markdown,
    load_comparison,
    readme_tables,
    suffix_tags,
    write_comparison,
)
from lstmviz.tagdata import most_frequent_tags
from lstmviz.tagger import POS_TAGS

REPO = Path(__file__).resolve().parents[1]
RESULT = REPO / "results" / "tagger_eval.json"
SHIPPED = REPO / "checkpoints" / "tagger-lstm"
CORPUS = REPO.parent / "shared" / "data" / "opensentimentcorpus"


def test_suffix_tags_back_off_from_three_letters_to_two_to_one_then_the_most_frequent_tag():
    words = ["мыла", "мыла", "Мыла", "пела", "стена", "идёт", "это", "это", "это", "лето", "место", "ух"]
    tags = ["NOUN", "NOUN", "VERB", "VERB", "NOUN", "VERB", "PRON", "PRON", "PRON", "NOUN", "NOUN", "INTJ"]
    train = [(words, tags)]
    got = suffix_tags(train, ["МЫЛА", "села", "луна", "кот", "авто", "ёж"])
    # мыла: seen, its own most frequent tag (case ignored); села: "ела" as пела; луна: no "уна", "на" as стена;
    # кот: no "кот" nor "от", "т" as идёт; авто: "то" over word types (лето, место: NOUN; это once: PRON), where
    # tokens would give PRON; ёж: no ending at all, the most frequent tag over tokens (NOUN 4, PRON 3, VERB 3)
    assert got == ["NOUN", "VERB", "NOUN", "VERB", "NOUN", "NOUN"]
    assert most_frequent_tags(train, ["села", "кот"]) == ["NOUN", "NOUN"]  # the old baseline: no ending read
    assert suffix_tags(train, ["села"], lengths=(1,)) == ["NOUN"]  # "а": мыла NOUN, пела VERB, стена NOUN
    for bad in ((), (0,), (2, 3), (3, 3), ("3",), (True,)):
        with pytest.raises(ValueError, match="lengths"):
            suffix_tags(train, ["села"], lengths=bad)
    with pytest.raises(ValueError, match="training sentence 0: 2 words but 1 tags"):
        suffix_tags([(["а", "б"], ["X"])], ["в"])
    with pytest.raises(ValueError, match="no training words"):
        suffix_tags([], ["в"])
    with pytest.raises(ValueError, match="baseline 'bigram'"):
        baseline_tags([(["а"], ["X"], ["O"])], [(["а"],)], "bigram")


def _toy(n: int = 40, seed: int = 0):
    """Seeded sentences with gold tags, an imperfect tagger and a worse baseline (both tag sets)."""
    rng = np.random.default_rng(seed)
    vocab = [f"w{i}" for i in range(30)]
    split, tagger, base = [], ([], []), ([], [])
    for _ in range(n):
        k = int(rng.integers(3, 9))
        words = [vocab[i] for i in rng.integers(0, 30, k)]
        pos = [POS_TAGS[i] for i in rng.integers(0, 5, k)]
        ner = ["O"] * k
        if k > 4:
            kind = ("PER", "LOC", "ORG")[int(rng.integers(0, 3))]
            ner[1:3] = [f"B-{kind}", f"I-{kind}"]
        split.append((words, pos, ner))
        for out, wrong in ((tagger, 0.1), (base, 0.4)):
            flip = rng.random(k) < wrong
            out[0].append([POS_TAGS[7] if f else p for p, f in zip(pos, flip)])  # errors: NOUN
            out[1].append(["O" if f else t for t, f in zip(ner, flip)])  # errors: a missed entity word
    return split, {"tagger": tagger, "base": base}, set(vocab[:20])


def test_comparison_reproduces_tag_scores_and_splits_known_and_unseen_words():
    split, preds, known = _toy()
    r = compare_taggers(split, preds, known, resamples=500)
    for name, (pos, ner) in preds.items():
        s_pos, s_ner = tag_scores([s[1] for s in split], pos), tag_scores([s[2] for s in split], ner, ner=True)
        got = r["scores"][name]["all"]
        assert got["pos_agreement"] == pytest.approx(s_pos["accuracy"], abs=1e-12)
        assert got["pos_macro_f1"] == pytest.approx(s_pos["macro_f1"], abs=1e-12)
        assert got["ner_agreement"] == pytest.approx(s_ner["accuracy"], abs=1e-12)
        assert got["ner_span_macro_f1"] == pytest.approx(s_ner["macro_f1"], abs=1e-12)
        for sub in ("known", "unseen"):  # a subset's scores are tag_scores on its words alone
            keep = [[(w in known) == (sub == "known") for w in s[0]] for s in split]
            gold = [[t for t, k in zip(s[1], m) if k] for s, m in zip(split, keep)]
            pred = [[t for t, k in zip(p, m) if k] for p, m in zip(pos, keep)]
            want = tag_scores(gold, pred)
            assert r["scores"][name][sub]["pos_agreement"] == pytest.approx(want["accuracy"], abs=1e-12)
            assert r["scores"][name][sub]["pos_macro_f1"] == pytest.approx(want["macro_f1"], abs=1e-12)
    n = r["subsets"]
    assert n["known"]["words"] + n["unseen"]["words"] == n["all"]["words"] == sum(len(s[0]) for s in split)
    assert n["known"]["entities"] + n["unseen"]["entities"] == n["all"]["entities"] > 0
    for sub in SUBSETS:
        for m in METRICS:
            g = r["gains"]["base"][sub][m]
            assert g["diff"] == pytest.approx(r["scores"]["tagger"][sub][m] - r["scores"]["base"][sub][m], abs=1e-12)
            assert g["lo"] <= g["diff"] <= g["hi"], (sub, m, g)
    assert r["gains"]["base"]["all"]["pos_agreement"]["beats"] == 1  # 10 % errors against 40 %, 40 sentences
    assert set(r["gains"]) == {"base"} and r["bootstrap"]["sentences"] == len(split)


def test_an_entity_goes_to_the_unseen_words_when_any_of_its_words_is_unseen():
    split = [(["Иван", "Петров", "пришёл"], ["PROPN", "PROPN", "VERB"], ["B-PER", "I-PER", "O"])] * 3
    right = ([s[1] for s in split], [s[2] for s in split])
    half = ([s[1] for s in split], [["B-PER", "O", "O"]] * 3)  # the entity cut short: one fp, one fn
    r = compare_taggers(split, {"tagger": right, "half": half}, {"иван", "пришёл"}, resamples=50)
    assert r["subsets"]["known"]["entities"] == 0 and r["subsets"]["unseen"]["entities"] == 3  # Петров is unseen
    assert r["scores"]["half"]["unseen"]["ner_span_macro_f1"] == 0.0
    assert r["scores"]["half"]["known"]["ner_span_macro_f1"] is None  # no gold entity among known words
    assert r["gains"]["half"]["known"]["ner_span_macro_f1"] is None
    assert r["scores"]["half"]["known"]["ner_agreement"] == 1.0 and r["scores"]["half"]["unseen"]["ner_agreement"] == 0


def test_the_intervals_are_the_bootstrap_module_s_paired_bootstrap_over_sentence_confusion_rows():
    split, preds, known = _toy(seed=3)
    r = compare_taggers(split, preds, known, resamples=400, seed=7)
    ids = {t: i for i, t in enumerate(POS_TAGS)}

    def rows(pos):  # per sentence: the sum of its words' confusion rows
        return np.stack(
            [
                confusion_counts([ids[t] for t in s[1]], [ids[t] for t in p], len(POS_TAGS)).sum(axis=0)
                for s, p in zip(split, pos)
            ]
        )

    want = paired_bootstrap(
        rows(preds["tagger"][0]), rows(preds["base"][0]), accuracy_from_confusion, resamples=400, seed=7
    )
    got = r["gains"]["base"]["all"]["pos_agreement"]
    assert got == {k: want[k] for k in ("diff", "lo", "hi", "beats")}


def test_the_comparison_refuses_predictions_of_other_sentences_tags_or_no_reference():
    split, preds, known = _toy(n=5)
    with pytest.raises(ValueError, match="reference 'tagger'"):
        compare_taggers(split, {"base": preds["base"]}, known)
    with pytest.raises(ValueError, match="base pos: its predictions must have the split's sentences"):
        compare_taggers(split, {**preds, "base": (preds["base"][0][:-1], preds["base"][1])}, known)
    bad = [["VB"] * len(s[0]) for s in split]
    with pytest.raises(ValueError, match=r"base pos: unknown tags \['VB'\]"):
        compare_taggers(split, {**preds, "base": (bad, preds["base"][1])}, known)
    with pytest.raises(ValueError, match="no sentence"):
        compare_taggers([], preds, known)


def test_the_trainer_stores_both_baselines():
    from test_tagger import _data

    from lstmviz.tagger import TaggerConfig
    from lstmviz.tagtrainer import TagTrainConfig, train_tagger

    data = _data()
    _, meta = train_tagger(
        data, TaggerConfig(word_dim=4, char_dim=3, char_channels=5, hidden_size=6), TagTrainConfig(epochs=1), log=None
    )
    tm = meta["test_metrics"]
    for key, name in (("baseline", "most_frequent"), ("suffix_baseline", "suffix")):
        pos, ner = baseline_tags(data.train, data.test, name)
        assert tm[key]["pos"] == tag_scores([s[1] for s in data.test], pos)
        assert tm[key]["ner"] == tag_scores([s[2] for s in data.test], ner, ner=True)


# ----- the shipped result file --------------------------------------------------------------------------------
def test_the_shipped_comparison_is_the_shipped_tagger_s_and_the_readme_shows_it():
    from lstmviz.checkpoint import load_checkpoint
    from lstmviz.models import weights_fingerprint

    r = load_comparison(RESULT)
    model, meta = load_checkpoint(SHIPPED)
    assert r["weights_fingerprint"] == weights_fingerprint(model) and r["checkpoint"] == SHIPPED.name
    tm = meta["test_metrics"]
    for name, m in (("tagger", tm), ("most_frequent", tm["baseline"])):  # the meta's scores, recomputed
        got = r["scores"][name]["all"]
        assert got["pos_agreement"] == pytest.approx(m["pos"]["accuracy"], abs=1e-12)
        assert got["ner_span_macro_f1"] == pytest.approx(m["ner"]["macro_f1"], abs=1e-12)
    assert r["subsets"]["all"]["words"] == meta["dataset"]["words"]["test"]
    assert (r["bootstrap"]["resamples"], r["bootstrap"]["seed"], r["bootstrap"]["level"]) == (10_000, 0, 0.95)
    assert (REPO / "results" / "tagger_eval.md").read_text(encoding="utf-8") == comparison_markdown(r)
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    for table in readme_tables(r).split("\n\n"):  # each table verbatim, rows in order
        assert table.strip() in readme, table.splitlines()[0]
    # the per-tag sentence: "TAG tagger / suffix / most frequent" and the gains over the suffix baseline
    para = readme[readme.index("Per-tag F1 (tagger / suffix baseline / most frequent tag)") :]
    para = para[: para.index("\n\n")].replace("\n", " ")
    f1 = r["per_tag_f1"]
    triples = re.findall(r"\b([A-Z]+) (\d\.\d{3}) / (\d\.\d{3}) / (\d\.\d{3})", para)
    assert len(triples) >= 10
    for tag, *shown in triples:
        head = "ner" if tag in ("PER", "LOC", "ORG") else "pos"
        want = [f"{f1[m][head][tag]['f1']:.3f}" for m in ("tagger", "suffix", "most_frequent")]
        assert shown == want, tag
    gains = re.findall(r"\b([A-Z]+) \+(\d\.\d+)", para)
    assert len(gains) >= 8
    for tag, shown in gains:
        head = "ner" if tag in ("PER", "LOC", "ORG") else "pos"
        diff = f1["tagger"][head][tag]["f1"] - f1["suffix"][head][tag]["f1"]
        assert f"{diff:.{len(shown) - 2}f}" == shown, tag


def test_load_comparison_names_the_field_that_is_wrong(tmp_path):
    from lstmviz.safeio import UnsafeFileError

    good = json.loads(RESULT.read_text(encoding="utf-8"))
    cases = [
        (lambda r: r["scores"]["suffix"]["unseen"].__setitem__("pos_agreement", "0.76"), "scores.suffix.unseen"),
        (lambda r: r["gains"]["most_frequent"]["all"].pop("ner_agreement"), "gains.most_frequent.all.ner_agreement"),
        (lambda r: r.__setitem__("schema", 99), "'schema'"),
        (lambda r: r["per_tag_f1"]["tagger"]["pos"]["NOUN"].__setitem__("f1", None), "per_tag_f1.tagger.pos.NOUN"),
    ]
    for edit, field in cases:
        r = json.loads(json.dumps(good))
        edit(r)
        path = tmp_path / "eval.json"
        path.write_text(json.dumps(r), encoding="utf-8")
        with pytest.raises(ValueError, match=re.escape(field)) as e:
            load_comparison(path)
        assert str(path) in str(e.value)
    with pytest.raises(UnsafeFileError):
        load_comparison(tmp_path)  # a folder, not a file
    js, md = write_comparison(good, tmp_path / "again")
    assert load_comparison(js) == good and md.read_text(encoding="utf-8") == comparison_markdown(good)
    assert all(LABELS[b] in md.read_text(encoding="utf-8") for b in BASELINES)


@pytest.mark.slow
@pytest.mark.corpus
def test_the_shipped_comparison_is_what_the_command_computes_from_the_corpus_and_the_silver_labels():
    """Runs where the corpus, the training extra and the natasha wheel's tars are present (LSTMVIZ_NATASHA_DATA);
    ~35 s on one thread (silver labelling of the whole corpus). Fewer resamples: the scores, not the intervals."""
    pytest.importorskip("slovnet", reason="the training extra is not installed (pip install -e .[train])")
    from lstmviz.tagbaseline import evaluate_checkpoint
    from lstmviz.tagdata import find_silver_files, prepare_tags

    folder = os.environ.get("LSTMVIZ_NATASHA_DATA")
    if not folder:
        pytest.skip("LSTMVIZ_NATASHA_DATA (a folder with the natasha wheel's slovnet and navec tars) is not set")
    if not CORPUS.is_dir():
        pytest.skip(f"the corpus is absent ({CORPUS})")
    data = prepare_tags(CORPUS, find_silver_files(folder))
    got = evaluate_checkpoint(data, SHIPPED, resamples=100)
    shipped = load_comparison(RESULT)
    for key in ("scores", "subsets", "per_tag_f1", "weights_fingerprint"):
        assert got[key] == shipped[key], key


# ----- the Word tagging view ---------------------------------------------------------------------------------
@pytest.mark.parametrize("lang", ["ru", "en"])
def test_the_word_tagging_view_shows_the_comparison_of_the_shipped_tagger(tmp_path, monkeypatch, lang):
    from streamlit.testing.v1 import AppTest
    from test_dashboard import APP

    from dashboard.i18n import EN, RU

    words = {"ru": RU, "en": EN}[lang]
    root = tmp_path / "root"
    shutil.copytree(SHIPPED, root / SHIPPED.name)
    shutil.copy(RESULT, root / RESULT.name)
    monkeypatch.setenv("LSTMVIZ_CHECKPOINTS", str(root))
    monkeypatch.setenv("LSTMVIZ_RESULTS", str(root))  # the comparison file copied beside the model
    at = AppTest.from_file(str(APP), default_timeout=60).run()
    at.switch_page("views/tagger.py").run()
    if lang == "en":
        at.sidebar.radio[0].set_value("en").run()
    assert not at.exception and not at.error
    r = load_comparison(RESULT)
    scores = next(d.value for d in at.dataframe if words["col.pos_agreement"] in d.value.columns)
    assert len(scores) == 9 and words["col.ner_span_macro_f1"] in scores.columns
    row = scores[(scores[words["col.test_words"]] == words["tagwords.unseen"])]
    row = row[row[words["col.model"]] == words["tag.suffix_row"]].iloc[0]
    assert row[words["col.pos_agreement"]] == round(r["scores"]["suffix"]["unseen"]["pos_agreement"], 3)
    assert row[words["col.n_words"]] == r["subsets"]["unseen"]["words"]
    gains = next(d.value for d in at.dataframe if words["col.minus"] in d.value.columns)
    g = r["gains"]["suffix"]["all"]["pos_agreement"]
    cell = gains[gains[words["col.minus"]] == words["tag.suffix_row"]].iloc[0][words["col.pos_agreement"]]
    assert cell == f"{g['diff']:+.3f} [{g['lo']:+.3f}, {g['hi']:+.3f}]"
    captions = " ".join(c.value for c in at.caption)
    assert "10000" in captions and "597" in captions


def test_the_view_falls_back_to_the_checkpoint_s_scores_for_other_weights_and_names_a_bad_file(tmp_path, monkeypatch):
    from streamlit.testing.v1 import AppTest
    from test_dashboard import APP
    from test_tagger import _data

    from dashboard.i18n import RU
    from lstmviz.tagger import TaggerConfig
    from lstmviz.tagtrainer import TagTrainConfig, train_tagger

    root = tmp_path / "root"
    cfg = TaggerConfig(word_dim=4, char_dim=3, char_channels=5, hidden_size=6)
    train_tagger(_data(), cfg, TagTrainConfig(epochs=1, batch_size=4), out=root / "tagger-lstm", log=None)
    shutil.copy(RESULT, root / RESULT.name)  # made from other weights: not shown for these
    monkeypatch.setenv("LSTMVIZ_CHECKPOINTS", str(root))
    monkeypatch.setenv("LSTMVIZ_RESULTS", str(root))  # the comparison file copied beside the model
    at = AppTest.from_file(str(APP), default_timeout=60).run()
    at.switch_page("views/tagger.py").run()
    assert not at.exception and not at.error
    assert not [d for d in at.dataframe if RU["col.minus"] in d.value.columns]
    assert [d for d in at.dataframe if RU["col.agreement"] in d.value.columns]  # the checkpoint's own scores
    (root / RESULT.name).write_text('{"schema": 1}', encoding="utf-8")
    at.run()
    assert not at.exception and len(at.error) == 1 and "tagger_eval.json" in at.error[0].value.replace("\\", "")
    assert [d for d in at.dataframe if RU["col.agreement"] in d.value.columns]  # the rest of the page stays
