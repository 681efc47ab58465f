"""The sentiment seed study: the mean-of-vectors baselines, the recipe chosen on validation, the paired intervals.

Everything here is offline and tiny (a 40-sentence CSV, a 4-d navec file written by navec itself) except the checks
of the shipped study file (``results/sentiment_seeds.json``: its intervals recompute from its own stored
predictions) and of the shipped checkpoints, which need the corpus and skip without it.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from lstmviz.meanvec import MeanVecConfig, MeanVectorClassifier
from lstmviz.metrics import accuracy, confusion_counts, macro_f1, macro_f1_from_confusion, paired_bootstrap
from lstmviz.pretrained import apply_embedding
from lstmviz.sentiment_study import (
    BASELINES,
    CHECKED_FIELDS,
    StudySpec,
    compare,
    decide,
    decode_labels,
    encode_labels,
    merge_runs,
    read_study,
    readme_tables,
    run_study,
    shipped_predictions,
    study_intervals,
    study_markdown,
    study_specs,
    summarize,
    write_study,
)
from lstmviz.train import main

REPO = Path(__file__).resolve().parents[1]
STUDY = REPO / "results" / "sentiment_seeds.json"
CORPUS = REPO.parent / "shared" / "data" / "opensentimentcorpus"
ROWS = [
    ("Мама мыла раму.", "neutral"),
    ("Папа читал газету!", "positive"),
    ("Кот спал на окне.", "negative"),
    ("Дождь шёл весь день.", "neutral"),
] * 10


def _csv(path: Path) -> Path:
    path.write_text("Sentence,Sentiment\n" + "\n".join(f'"{t}",{lab}' for t, lab in ROWS), encoding="utf-8")
    return path


def _tiny_navec(path: Path, words: list[str], dim: int = 4) -> Path:
    """A real navec tar with a few words (navec's own writer), as in test_baseline."""
    pytest.importorskip("navec", reason="the navec package (requirements.txt) writes the test's vector file")
    from navec import Navec
    from navec.meta import Meta
    from navec.pq import PQ
    from navec.vocab import Vocab as NVocab

    n, qdim, centroids = len(words), 2, len(words)
    codes = np.arange(qdim * centroids * (dim // qdim), dtype=np.float32).reshape(qdim, centroids, dim // qdim) / 10
    indexes = np.stack([np.arange(n), np.arange(n)[::-1]], 1).astype(np.uint8)
    Navec(Meta("tiny"), NVocab(list(words), [1] * n), PQ(n, dim, qdim, centroids, indexes, codes)).dump(str(path))
    return path


# ----- the model


def test_meanvec_is_a_linear_model_on_the_mean_of_fixed_vectors():
    cfg = MeanVecConfig(vocab_size=6, num_classes=3, embed_dim=4)
    vectors = torch.arange(24, dtype=torch.float32).reshape(6, 4) / 10
    state = torch.random.get_rng_state()
    m = apply_embedding(MeanVectorClassifier.seeded(cfg, 5), vectors.numpy())
    assert torch.equal(state, torch.random.get_rng_state())  # the global RNG is untouched
    ids = torch.tensor([[2, 3, 3, 0, 0], [3, 2, 3, 0, 0]])
    out = m(ids, torch.tensor([3, 3]))
    want = (vectors[2] + 2 * vectors[3]) / 3 @ m.linear.T + m.bias  # padding is not part of the mean
    torch.testing.assert_close(out[0], want)
    torch.testing.assert_close(out[1], want)  # word order plays no part
    torch.testing.assert_close(m(torch.tensor([[0, 0]]), torch.tensor([0]))[0], m.bias)  # padding only: the bias
    assert torch.equal(MeanVectorClassifier.seeded(cfg, 5).linear, MeanVectorClassifier.seeded(cfg, 5).linear)
    assert not torch.equal(MeanVectorClassifier.seeded(cfg, 5).linear, MeanVectorClassifier.seeded(cfg, 6).linear)
    # bag of words + vectors: the same mean term plus counts @ a (V, C) weight
    both = apply_embedding(MeanVectorClassifier.seeded(MeanVecConfig(6, 3, 4, counts=True), 5), vectors.numpy())
    counts = torch.tensor([0.0, 0.0, 1.0, 2.0, 0.0, 0.0])
    torch.testing.assert_close(
        both(ids[:1], torch.tensor([3]))[0],
        (vectors[2] + 2 * vectors[3]) / 3 @ both.linear.T + counts @ both.bag.weight + both.bias,
    )
    assert torch.equal(both.bag.weight[0], torch.zeros(3))  # <pad> never counts


def test_meanvec_trains_everything_but_the_vectors():
    cfg = MeanVecConfig(vocab_size=5, num_classes=2, embed_dim=3, counts=True)
    vectors = np.arange(15, dtype=np.float32).reshape(5, 3) / 7
    m = apply_embedding(MeanVectorClassifier.seeded(cfg, 0), vectors)
    before = {n: p.detach().clone() for n, p in m.named_parameters()}
    opt = torch.optim.AdamW(m.parameters(), lr=0.1, weight_decay=0.5)
    for _ in range(3):
        opt.zero_grad()
        torch.nn.functional.cross_entropy(m(torch.tensor([[2, 3, 4]]), torch.tensor([3])), torch.tensor([1])).backward()
        opt.step()
    np.testing.assert_array_equal(m.embedding.weight.detach().numpy(), vectors)  # neither trained nor decayed
    assert all(not torch.equal(before[n], p) for n, p in m.named_parameters() if n != "embedding.weight")


@pytest.mark.parametrize(
    "make, error, match",
    [
        (lambda: MeanVecConfig(embed_dim=0), ValueError, "embed_dim=0 is invalid"),
        (lambda: MeanVecConfig(vocab_size=True), ValueError, "vocab_size=True is invalid"),
        (lambda: MeanVecConfig(counts="yes"), ValueError, "counts='yes' is invalid"),
        (lambda: MeanVecConfig.from_dict({"cell": "gru"}), ValueError, "unknown model config keys"),
        (lambda: MeanVectorClassifier(object()), TypeError, "must be a MeanVecConfig"),
        (lambda: MeanVectorClassifier(MeanVecConfig())(torch.zeros(1, 2), torch.tensor([2])), ValueError, "integer"),
        (
            lambda: MeanVectorClassifier(MeanVecConfig())(torch.zeros(1, 2).long(), torch.tensor([2, 2])),
            ValueError,
            "lengths",
        ),
    ],
)
def test_meanvec_refuses_bad_configs_and_inputs(make, error, match):
    with pytest.raises(error, match=match):
        make()


# ----- specs, labels, intervals, the decision


def test_specs_include_the_vector_baselines_only_with_navec():
    assert {s.variant for s in study_specs("x.csv", seeds=[0])} == {"bow", "base", "layers2", "bidir"}
    specs = study_specs("x.csv", seeds=[0, 1], variants=["meanvec", "bowvec", "navec_frozen"], navec="nv.tar")
    assert [(s.variant, s.cell) for s in specs[:4]] == [("meanvec", "meanvec")] * 2 + [("bowvec", "bowvec")] * 2
    assert len(specs) == 4 + 3 * 2 and all(s.navec == "nv.tar" for s in specs)
    assert specs[2].model_config().counts and not specs[0].model_config().counts
    with pytest.raises(ValueError, match="does not fit variant 'meanvec'"):
        StudySpec("x.csv", "meanvec", "gru", 0, navec="nv.tar")
    with pytest.raises(ValueError, match="needs navec"):
        StudySpec("x.csv", "bowvec", "bowvec", 0)
    with pytest.raises(ValueError, match="seed=-1 is invalid"):
        StudySpec("x.csv", "bow", "bow", -1)
    with pytest.raises(ValueError, match=r"variants \['meanvecs'\] are unknown"):
        study_specs("x.csv", variants=["meanvecs"], navec="nv.tar")


def test_labels_are_stored_one_digit_each():
    assert encode_labels(np.array([3, 0, 2])) == "302"
    assert decode_labels("302").tolist() == [3, 0, 2]
    for bad in ("", "3a", "٣", None):
        with pytest.raises(ValueError, match="string of digits"):
            decode_labels(bad)
    with pytest.raises(ValueError, match="0..9"):
        encode_labels([10])


def test_compare_is_the_difference_of_the_seed_means_with_a_paired_interval():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 3, 60)
    noisy = [np.where(rng.random(60) < p, y, rng.integers(0, 3, 60)) for p in (0.9, 0.8, 0.5, 0.4)]
    a, b = [encode_labels(p) for p in noisy[:2]], [encode_labels(p) for p in noisy[2:]]
    c = compare(a, b, encode_labels(y), 3, resamples=500)
    f1 = [macro_f1(y.tolist(), p.tolist(), labels=[0, 1, 2]) for p in noisy]
    assert c["a_score"] == pytest.approx(np.mean(f1[:2]), abs=1e-12) and c["b_score"] == pytest.approx(np.mean(f1[2:]))
    assert c["diff"] == pytest.approx(np.mean([f1[0] - f1[2], f1[1] - f1[3]]), abs=1e-12)  # = mean paired difference
    assert c["lo"] > 0 and c["beats"] == 1 and c["resamples"] == 500 and c["units"] == 60
    back = compare(b, a, encode_labels(y), 3, resamples=500)  # the same resamples: the interval mirrors
    assert back["beats"] == -1 and back["lo"] == pytest.approx(-c["hi"]) and back["hi"] == pytest.approx(-c["lo"])
    same = compare(a, list(a), encode_labels(y), 3, resamples=200)
    assert (same["diff"], same["lo"], same["hi"], same["beats"]) == (0.0, 0.0, 0.0, 0)
    one = compare(a[:1], b[:1], encode_labels(y), 3, resamples=300)  # one run a row: the bootstrap module's own result
    ref = paired_bootstrap(
        confusion_counts(y, noisy[0], 3), confusion_counts(y, noisy[2], 3), macro_f1_from_confusion, resamples=300
    )
    assert (one["diff"], one["lo"], one["hi"]) == (ref["diff"], ref["lo"], ref["hi"])
    acc = compare(a, b, encode_labels(y), 3, "accuracy", resamples=100)
    assert acc["a_score"] == pytest.approx(np.mean([accuracy(y.tolist(), p.tolist()) for p in noisy[:2]]))
    with pytest.raises(ValueError, match="metric='f1' is unknown"):
        compare(a, b, encode_labels(y), 3, "f1")
    with pytest.raises(ValueError, match="59 predictions for 60"):
        compare([a[0][:-1]], b, encode_labels(y), 3)
    with pytest.raises(ValueError, match="at least one run"):
        compare([], b, encode_labels(y), 3)


def _summary_row(variant, cell, val, test, sd=0.01):
    return {"variant": variant, "cell": cell, "val_f1_mean": val, "val_f1_sd": sd, "f1_mean": test, "f1_sd": sd}


def test_the_recipe_is_chosen_on_validation_and_beats_only_where_its_interval_excludes_0():
    summary = [
        _summary_row("bow", "bow", 0.44, 0.46),
        _summary_row("meanvec", "meanvec", 0.48, 0.47),
        _summary_row("navec", "gru", 0.50, 0.49),  # the best on validation
        _summary_row("navec", "rnn", 0.45, 0.51),  # the best on test: not chosen
    ]
    d = decide(summary)
    assert (d["variant"], d["cell"], d["chosen_by"], d["test_choice"]) == ("navec", "gru", "val_macro_f1", "navec rnn")
    assert d["beats_baseline"] is None and d["vs_baselines"]["bow"]["diff"] == pytest.approx(0.03)
    comparisons = [
        {"a": "navec gru", "b": "bow bow", "metric": "macro_f1", "diff": 0.03, "lo": 0.001, "hi": 0.06, "beats": 1},
        {
            "a": "navec gru",
            "b": "meanvec meanvec",
            "metric": "macro_f1",
            "diff": 0.02,
            "lo": -0.01,
            "hi": 0.05,
            "beats": 0,
        },
    ]
    d = decide(summary, comparisons)
    assert d["beats_baseline"] is True and d["vs_baselines"]["bow"]["lo"] == 0.001
    assert d["vs_baselines"]["meanvec"]["beats"] == 0  # the interval contains 0: no claim
    comparisons[0] |= {"lo": -0.001, "beats": 0}
    assert decide(summary, comparisons)["beats_baseline"] is False
    with pytest.raises(ValueError, match="no recurrent runs"):
        decide(summary[:2])
    with pytest.raises(ValueError, match="no validation macro-F1"):
        decide([{**summary[2], "val_f1_mean": None}])


def test_merge_keeps_stored_rows_and_refuses_a_run_that_no_longer_reproduces():
    old = [{"variant": "bow", "cell": "bow", "seed": s, "test_macro_f1": 0.4 + s / 100, "seconds": 1.0} for s in (0, 1)]
    new = [{**old[1], "seconds": 9.0, "test_predictions": "01"}, {**old[0], "seed": 2, "test_predictions": "11"}]
    runs, checked = merge_runs(old, new)
    assert checked == 1 and [r["seed"] for r in runs] == [0, 1, 2]
    assert runs[1] == {**old[1], "test_predictions": "01"}  # the stored row as it was (its seconds), plus predictions
    assert "test_predictions" not in runs[0]
    assert "test_macro_f1" in CHECKED_FIELDS
    with pytest.raises(ValueError, match=r"run bow bow 0: test_macro_f1 = 0\.5 now, 0\.4 stored"):
        merge_runs(old, [{**old[0], "test_macro_f1": 0.5}])


# ----- a whole (tiny) study, and the CLI


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    root = tmp_path_factory.mktemp("study")
    csv = _csv(root / "c.csv")
    nav = _tiny_navec(root / "nv.tar", ["мама", "рама", "кот", "окно", "дождь", "день"])
    return csv, nav


def test_a_tiny_study_extends_its_file_reproducing_every_run(tiny, tmp_path):
    csv, nav = tiny
    specs = study_specs(csv, seeds=[0], variants=["bow", "meanvec", "bowvec", "base"], cells=["gru"], navec=nav)
    first = run_study(specs, workers=1)
    assert first["decision"]["chosen_by"] == "val_macro_f1" and first["decision"]["cell"] == "gru"
    assert [r["variant"] for r in first["summary"]] == ["bow", "meanvec", "bowvec", "base"]
    n = first["n_test"]
    assert all(len(r["test_predictions"]) == n for r in first["runs"]) and len(first["test_labels"]) == n
    groups = {c["group"] for c in first["intervals"]["study"]}
    assert {"recipe vs baselines", "baselines"} <= groups
    for c in first["intervals"]["study"]:  # every interval: stored predictions in, the stored numbers out
        a = [r["test_predictions"] for r in first["runs"] if f"{r['variant']} {r['cell']}" == c["a"]]
        b = [r["test_predictions"] for r in first["runs"] if f"{r['variant']} {r['cell']}" == c["b"]]
        again = compare(a, b, first["test_labels"], len(first["labels"]), c["metric"])
        assert {k: c[k] for k in again} == again
    # A file of the first schema had no predictions: extending it trains those runs again, and they must come out
    # exactly as stored; the new seed is added.
    stored = {**first, "runs": [{k: v for k, v in r.items() if k != "test_predictions"} for r in first["runs"]]}
    more = run_study(study_specs(csv, seeds=[0, 1], variants=["bow", "meanvec"], navec=nav), workers=1, previous=stored)
    assert more["parts"][-1]["trained"] == 4 and more["parts"][-1]["reproduced"] == 2
    assert [r for r in more["runs"] if r["seed"] == 0][:2] == first["runs"][:2]  # bow and meanvec, as trained first
    assert "test_predictions" not in more["runs"][-1]  # base gru was not asked for: kept as stored, no interval
    assert all("base gru" not in (c["a"], c["b"]) for c in more["intervals"]["study"])
    assert more["seeds"]["bow"] == [0, 1] and more["seeds"]["base"] == [0]
    again = run_study(study_specs(csv, seeds=[0, 1], variants=["bow"]), workers=1, previous=more)
    assert again["parts"][-1]["trained"] == 0 and again["runs"] == more["runs"]  # nothing new: nothing trained
    stored["runs"][0] = {**stored["runs"][0], "val_macro_f1": 0.123}
    with pytest.raises(ValueError, match=r"val_macro_f1 = .* now, 0\.123 stored"):
        run_study(study_specs(csv, seeds=[0], variants=["bow"]), workers=1, previous=stored)
    with pytest.raises(ValueError, match="other train settings"):
        run_study(specs[:1], workers=1, previous={**more, "train": {**more["train"], "lr": 1.0}})
    js, md = write_study(more, tmp_path / "sentiment_seeds")
    assert read_study(js) == json.loads(js.read_text(encoding="utf-8"))
    assert all(t in md.read_text(encoding="utf-8") for t in readme_tables(more))


def test_the_cli_merges_into_the_study_file(tiny, tmp_path):
    csv, _ = tiny
    argv = ["study", "--variants", "bow", "--workers", "1", "--data", str(csv)]
    argv += ["--quiet", "--threads", "1", "--out", str(tmp_path), "--checkpoints", str(tmp_path)]  # no shipped models
    assert main([*argv, "--seeds", "1"]) == 0
    assert main([*argv, "--seeds", "2", "--merge"]) == 0
    study = read_study(tmp_path / "sentiment_seeds.json")
    assert [p["trained"] for p in study["parts"]] == [1, 1] and study["seeds"] == {"bow": [0, 1]}
    assert (tmp_path / "sentiment_seeds.md").read_text(encoding="utf-8") == study_markdown(study)
    assert main([*argv, "--seeds", "1"]) == 0  # without --merge the file is written anew
    assert read_study(tmp_path / "sentiment_seeds.json")["seeds"] == {"bow": [0]}


def test_read_study_refuses_other_files(tmp_path):
    (tmp_path / "s.json").write_text(json.dumps({"schema": "lstmviz.sweep/1", "runs": [1]}), encoding="utf-8")
    with pytest.raises(ValueError, match="'lstmviz.sweep/1' is not a sentiment study"):
        read_study(tmp_path / "s.json")
    (tmp_path / "s.json").write_text(json.dumps({"schema": "lstmviz.sentiment_study/2", "runs": []}), encoding="utf-8")
    with pytest.raises(ValueError, match="holds no runs"):
        read_study(tmp_path / "s.json")


# ----- the shipped file


@pytest.mark.slow
def test_the_shipped_study_s_intervals_follow_from_its_stored_predictions():
    study = read_study(STUDY)
    summary = {f"{r['variant']} {r['cell']}": r for r in summarize(study["runs"])}
    assert study["summary"] == list(summary.values())
    d = study["decision"]
    recurrent = [r for r in study["summary"] if r["variant"] not in BASELINES]
    assert d["chosen_by"] == "val_macro_f1" and (d["variant"], d["cell"]) == max(
        ((r["variant"], r["cell"]) for r in recurrent), key=lambda k: summary[" ".join(k)]["val_f1_mean"]
    )
    assert study["intervals"]["study"] == study_intervals(study)  # recomputed from the stored predictions alone
    for c in study["intervals"]["study"]:
        if c["metric"] == "macro_f1":  # the bootstrap's point estimates are the table's means
            assert c["a_score"] == pytest.approx(summary[c["a"]]["f1_mean"], abs=1e-12)
            assert c["diff"] == pytest.approx(summary[c["a"]]["f1_mean"] - summary[c["b"]]["f1_mean"], abs=1e-12)
        assert c["beats"] == (1 if c["lo"] > 0 else -1 if c["hi"] < 0 else 0)
    for b, v in d["vs_baselines"].items():
        assert v["beats"] is not None, f"the recipe has no interval against {b}"
    assert study["runs"][0]["seed"] == 0 and len(study["test_labels"]) == study["n_test"]


@pytest.mark.corpus
def test_the_shipped_checkpoints_predict_as_the_study_file_says():
    if not CORPUS.is_dir():
        pytest.skip(f"the corpus is absent ({CORPUS})")
    study = read_study(STUDY)
    shipped = shipped_predictions(REPO / "checkpoints", CORPUS)
    assert shipped == study["shipped"]
    runs = {(r["variant"], r["cell"], r["seed"]): r for r in study["runs"]}
    for name, s in shipped.items():  # each shipped model is the study's run of its recipe and seed
        variant = "bow" if name == "bow" else "navec_frozen"
        assert s["test_predictions"] == runs[variant, name, s["seed"]]["test_predictions"], name
