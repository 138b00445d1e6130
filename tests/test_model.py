"""The trained level model: artifact format, determinism, inference, and the shipped weights."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from grader.config import Settings
from grader.errors import BadInputError
from grader.features import signal_names
from grader.grading import get_rubric, grade
from grader.model import (
    FORMAT, MODELS_DIR, Layer, LevelModel, load_model, model_for, model_from_artifact, rubric_fingerprint, sigmoid, usable_model,
)
from grader.types import Rubric
from grader.features import story_vector
from grader.training import (
    E5_WEIGHT, Analysed, data_hash, dump, feature_matrix, fit_binary, label_of, language_centres, read_items, same_content_pairs,
    sigmoid as _sigmoid, split_of, train, write_splits,
)
from grader.types import EvalItem
from tests.rubric_factory import rubric_dict

REPO = Path(__file__).resolve().parents[1]
DIM = 8


def synthetic(n_per_level: int = 12, seed: int = 1) -> tuple[list[EvalItem], np.ndarray]:
    """Stories whose features carry their level (and their indicators) plus noise."""
    rubric = Rubric.model_validate(rubric_dict())
    ids = [i.id for i in rubric.indicators()]
    rng = np.random.default_rng(seed)
    items, rows = [], []
    width = DIM + len(signal_names(rubric))
    for lv in range(6):
        for k in range(n_per_level):
            mine = [i for i in ids if f".L{lv}." in i][:2]
            x = rng.normal(0, 1, width)
            x[DIM + lv] += 3.0  # a behaviour signal column (the e5 block is weighted down in the detectors)
            items.append(EvalItem(id=f"s{lv}-{k}", text=f"story {lv} {k}", level=lv, indicators=mine))
            rows.append(x)
    for k in range(n_per_level):
        x = rng.normal(0, 1, width)
        x[7] += 4.0
        items.append(EvalItem(id=f"n-{k}", text=f"recipe {k}", tags=["not-work"]))
        rows.append(x)
    return items, np.round(np.vstack(rows), 6)


def test_training_is_deterministic_and_json_only(tmp_path: Path) -> None:
    rubric = Rubric.model_validate(rubric_dict())
    items, X = synthetic()
    a = dump(train(items, rubric, Settings.from_env(), X=X))
    b = dump(train(list(items), rubric, Settings.from_env(), X=X.copy()))
    assert a == b, "same data must give the same bytes"
    art = json.loads(a)
    assert art["format"] == FORMAT and art["n_train"] == len(items) and len(art["data_hash"]) == 64
    assert art["rubric_fingerprint"] == rubric_fingerprint(rubric)
    path = tmp_path / "m.json"
    path.write_text(a, encoding="utf-8")
    m = load_model(path)
    assert m.embedding_dim == DIM and len(m.indicator_ids) == len(rubric.indicators())
    assert model_from_artifact(art).predict(X[0]) == m.predict(X[0])
    # the model learned the synthetic signal: each level's items are predicted near their level
    preds = [m.predict(x) for x in X]
    levels = [p.level for p, it in zip(preds, items) if it.level is not None]
    gold = [it.level for it in items if it.level is not None]
    assert np.mean(np.abs(np.asarray(levels, dtype=float) - np.asarray(gold))) < 0.6
    assert sum(p.insufficient for p, it in zip(preds, items) if it.level is None) >= 10
    for p in preds:
        if not p.insufficient:
            assert p.distribution is not None and abs(sum(p.distribution) - 1) < 1e-3 and 0 <= p.level <= 5


def test_the_consistency_penalty_can_be_turned_off() -> None:
    """`train(consistency=0)` (bench/cv_level_model.py's comparison) fits without the penalty."""
    rubric = Rubric.model_validate(rubric_dict())
    items, X = synthetic()
    # pair the first two stories of each level as translations of each other
    for lv in range(6):
        a, b = items[12 * lv], items[12 * lv + 1]
        items[12 * lv] = a.model_copy(update={"pair": f"p{lv}", "tags": ["translation"]})
        items[12 * lv + 1] = b.model_copy(update={"pair": f"p{lv}", "tags": ["translation"]})
    on, off = train(items, rubric, Settings.from_env(), X=X), train(items, rubric, Settings.from_env(), X=X, consistency=0.0)
    assert on["consistency"]["pairs"] == off["consistency"]["pairs"] == 6
    assert on["consistency"]["strength"] > 0 and off["consistency"]["strength"] == 0
    assert on["detect"]["coef"] != off["detect"]["coef"]
    assert on["work"] == off["work"], "the work detector has no penalty either way"


def test_the_e5_block_is_centred_per_language_with_the_training_sentences_means() -> None:
    """Centres are the mean training sentence of each language; a story's vector is the
    normalised mean of its sentences after each has its own language's centre taken off."""
    rubric = Rubric.model_validate(rubric_dict())
    items, X = synthetic(n_per_level=3)
    rng = np.random.default_rng(3)
    dim = 4
    vectors, langs = [], []
    for k in range(len(items)):  # items 2j and 2j+1 tell one story, in English and in Korean
        lang = "ko" if k % 2 else "en"
        base = np.array([1.0, 0, 0, 0]) if lang == "ko" else np.array([0, 1.0, 0, 0])
        content = np.random.default_rng(k // 2).normal(0, 0.3, (2, dim))
        vectors.append((base + content + rng.normal(0, 0.02, (2, dim))).astype(np.float32))
        langs.append([lang, lang])
    analysed = Analysed(vectors, langs, X[:, DIM:], dim)
    centres = language_centres(analysed)
    ko = np.vstack([v for v, l in zip(vectors, langs) if l[0] == "ko"]).astype(np.float64).mean(axis=0)
    assert set(centres) == {"ko", "en"} and np.allclose(centres["ko"], ko, atol=1e-8)
    assert centres["ko"][0] > 0.9 and centres["en"][1] > 0.9
    art = train(items, rubric, Settings.from_env(), analysed=analysed)
    m = model_from_artifact(art)
    assert np.allclose(m.centres["en"], centres["en"], atol=1e-8) and m.embedding_dim == dim
    # one story, by hand: sentences minus their own language's centre, mean, normalised
    v = np.array([[1.0, 0.2, 0, 0], [0.1, 1.0, 0, 0]])
    want = (v - np.stack([centres["ko"], centres["en"]])).mean(axis=0)
    assert np.allclose(story_vector(v, ["ko", "en"], centres, dim), want / np.linalg.norm(want))
    assert np.allclose(story_vector(v, ["ko", "en"], None, dim), v.mean(axis=0) / np.linalg.norm(v.mean(axis=0)))
    assert not story_vector(np.zeros((0, dim)), [], centres, dim).any()
    rows = feature_matrix(analysed, centres)
    raw = feature_matrix(analysed, None)
    assert rows.shape == raw.shape == (len(items), dim + X.shape[1] - DIM)
    # with the language offset gone, the two tellings of a story are alike; without, they are not
    cos = lambda r, j: float(r[j, :dim] @ r[j + 1, :dim])  # noqa: E731
    pairs = range(0, len(items) - 1, 2)
    assert np.mean([cos(rows, j) for j in pairs]) > 0.9 > 0.5 > np.mean([cos(raw, j) for j in pairs])


def test_missing_level_and_unknown_ids_are_refused() -> None:
    rubric = Rubric.model_validate(rubric_dict())
    items, X = synthetic()
    keep = [k for k, it in enumerate(items) if it.level != 4]
    with pytest.raises(BadInputError, match=r"no story at level\(s\) \[4\]"):
        train([items[k] for k in keep], rubric, Settings.from_env(), X=X[keep])
    items[0] = items[0].model_copy(update={"indicators": ["co.L9.9"]})
    with pytest.raises(BadInputError, match="co.L9.9"):
        train(items, rubric, Settings.from_env(), X=X)


def test_prediction_follows_the_layers() -> None:
    ids = ("co.L0.1", "co.L1.1", "co.L2.1")
    eye = np.eye(3)
    detect = Layer(np.zeros(3), np.ones(3), eye * 10, np.full(3, -5.0))
    work = Layer(np.zeros(3), np.ones(3), np.ones((1, 3)), np.array([-0.5]))
    # level layer: input = 3 probabilities + max per level (3); level k follows indicator k
    coef = np.hstack([eye * 8, np.zeros((3, 3))])
    level = Layer(np.zeros(6), np.ones(6), coef, np.zeros(3))
    m = LevelModel("r", "f", ids, (), 3, detect, work, level, 0.5, 0.3, 0.5, "v")
    p = m.predict(np.array([0.0, 0.0, 1.0]))
    assert p.level == 2 and p.indicator_probabilities["co.L2.1"] > 0.99 and not p.insufficient
    assert p.distribution is not None and p.confidence == max(p.distribution)
    none = m.predict(np.zeros(3))
    assert none.insufficient and none.level is None and none.work_probability == pytest.approx(float(sigmoid(np.array(-0.5))), abs=1e-4)
    scores = m.sentence_scores(np.array([[1.0, 0, 0], [0, 0, 1.0]]))
    assert scores.shape == (2, 3) and scores[1, 2] == 10 and scores[0, 2] == 0


def test_a_model_for_other_indicators_is_not_used() -> None:
    rubric = Rubric.model_validate(rubric_dict())  # same id as the shipped rubric, other indicators
    assert usable_model(rubric, 384) is None


# --------------------------------------------------------------------------- the shipped model


def test_shipped_model_matches_the_rubric_and_its_data() -> None:
    path = MODELS_DIR / "customer-obsession.json"
    assert path.is_file(), "grader/models/customer-obsession.json ships with the package"
    text = path.read_text(encoding="utf-8")
    assert "pickle" not in text
    m = load_model(path)
    rubric = get_rubric("customer-obsession", Settings.from_env())
    assert usable_model(rubric, m.embedding_dim) is not None, "the shipped model was trained on the current rubric"
    art = json.loads(text)
    train_items = [it for it in read_items([REPO / "evals" / "customer-obsession.train.jsonl"]) if label_of(it) is not None]
    assert art["data_hash"] == data_hash(train_items), "retrain with `grader train` after changing evals/"
    assert art["n_train"] == len(train_items)


def test_graded_levels_are_explained_by_indicator_evidence(grader_settings: Settings) -> None:
    story = (
        "I run customer success for a payroll tool for small clinics. Going through their exports I noticed most "
        "clinics were overpaying overtime on Mondays, which none of them had ever raised. I built each clinic a "
        "monthly staffing summary, though it is not part of our product, and talked two owners out of our premium "
        "tier because it did not fit them; my upsell numbers dropped but all of them renewed."
    )
    g = grade(story, settings=grader_settings)
    assert g.status == "graded" and g.model_level == g.level and g.rule_level is not None
    shown = [j for j in g.indicators if j.status in ("met", "partial")]
    assert shown and all(j.evidence for j in shown), "every met/partial indicator quotes the story"
    for j in shown:
        for e in j.evidence:
            assert story[e.start : e.end] == e.quote
    assert g.distribution is not None and len(g.distribution) == 6


def test_split_rule_is_fixed_and_keeps_pairs_together() -> None:
    assert split_of({"id": "x", "pair": "a-p01"}) == split_of({"id": "y", "pair": "a-p01"})
    counts = {s: 0 for s in ("train", "dev", "test")}
    for k in range(2000):
        counts[split_of({"id": f"item-{k}"})] += 1
    assert 0.55 < counts["train"] / 2000 < 0.65 and 0.15 < counts["dev"] / 2000 < 0.25


def test_split_does_not_delete_items_of_existing_split_files(tmp_path) -> None:
    old = [{"id": f"old-{k}", "text": "I called the customer back.", "level": 2, "lang": "en"} for k in range(12)]
    new = tmp_path / "new.jsonl"
    new.write_text(json.dumps({"id": "new-1", "text": "I asked the customer why.", "level": 2, "lang": "en"}) + "\n")
    out = tmp_path / "evals"
    write_splits([EvalItem(**x) for x in old], out, "co")
    before = {p.name: p.read_bytes() for p in out.iterdir()}

    def split(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "grader", "split", *args], capture_output=True, text=True)

    refused = split(str(new), "--out", str(out), "--stem", "co")  # the usual mistake: only the new file
    assert refused.returncode == 2 and "writing the split would delete them" in refused.stderr, refused.stderr
    assert "Traceback" not in refused.stderr and {p.name: p.read_bytes() for p in out.iterdir()} == before
    both = split(*(str(out / f"co.{s}.jsonl") for s in ("train", "dev", "test")), str(new), "--out", str(out), "--stem", "co")
    assert both.returncode == 0, both.stderr
    ids = {json.loads(line)["id"] for p in out.iterdir() for line in p.read_text().splitlines()}
    assert ids == {x["id"] for x in old} | {"new-1"}
    assert split(str(new), "--out", str(out), "--stem", "co", "--force").returncode == 0  # replacing on purpose
    bad = split(str(new), "--out", str(out), "--stem", "../escape")
    assert bad.returncode == 2 and "plain file name" in bad.stderr and not (tmp_path / "escape.train.jsonl").exists()


def test_same_content_pairs_are_translations_and_paraphrases_only() -> None:
    items = [
        EvalItem(id="a", text="t", level=1, pair="p1", tags=["translation"]),
        EvalItem(id="b", text="t", level=1, pair="p1", tags=["translation"]),
        EvalItem(id="c", text="t", level=2, pair="p2", tags=["injection-base"]),
        EvalItem(id="d", text="t", level=2, pair="p2", tags=["injection"]),
        EvalItem(id="e", text="t", level=3),
        EvalItem(id="f", text="t", level=3, pair="p3", tags=["paraphrase"]),
        EvalItem(id="g", text="t", level=3, pair="p3", tags=["paraphrase"]),
    ]
    assert same_content_pairs(items) == [(0, 1), (5, 6)]


def test_consistency_penalty_keeps_two_tellings_of_a_story_alike() -> None:
    """Feature 0 carries the label the same way in both tellings of a story; feature 1 carries
    it just as well per item but with noise that differs between the tellings (like wording
    that changes with the language). The penalty moves weight to feature 0, so the two
    tellings score closer together, and the detector still separates the classes."""
    rng = np.random.default_rng(7)
    rows, ys, pairs = [], [], []
    for k in range(150):
        y = k % 2
        shared = rng.normal(2.0 * y, 1.0)
        for _ in range(2):
            rows.append([shared, rng.normal(2.0 * y, 1.0)])
            ys.append(y)
        pairs.append((2 * k, 2 * k + 1))
    X, Y = np.asarray(rows), np.asarray(ys)[:, None]
    plain = fit_binary(X, Y, 0.1)
    kept = fit_binary(X, Y, 0.1, pairs=pairs, consistency=10.0)
    ratio = lambda layer: abs(layer.coef[0, 1]) / abs(layer.coef[0, 0])  # noqa: E731
    assert ratio(kept) < 0.5 * ratio(plain)
    gap = lambda layer: np.mean([abs(layer.logits(X[i])[0] - layer.logits(X[j])[0]) for i, j in pairs])  # noqa: E731
    assert gap(kept) < 0.7 * gap(plain)
    p = _sigmoid(kept.logits(X))[:, 0]
    assert np.mean((p > 0.5) == (Y[:, 0] == 1)) > 0.8


def test_a_column_weight_below_one_holds_that_columns_coefficient_back() -> None:
    """Two features that carry the label equally well: with weight 0.5 on feature 1 (as the
    detectors weight the e5 block) the fit leans on feature 0, and the stored layer still gives
    the logits of the fit (the weight is folded into its scale)."""
    rng = np.random.default_rng(3)
    y = np.arange(400) % 2
    X = np.column_stack([rng.normal(1.5 * y, 1.0), rng.normal(1.5 * y, 1.0)])
    Y = y[:, None]
    plain, weighted = fit_binary(X, Y, 0.05), fit_binary(X, Y, 0.05, weights=np.array([1.0, 0.5]))
    share = lambda layer: abs(layer.coef[0, 1] / layer.scale[1]) / abs(layer.coef[0, 0] / layer.scale[0])  # noqa: E731
    assert 0.8 < share(plain) < 1.25
    assert share(weighted) < 0.7 * share(plain)
    np.testing.assert_allclose(weighted.scale[1] * 0.5, plain.scale[1])
    z = ((X - weighted.mean) / weighted.scale) @ weighted.coef[0] + weighted.intercept[0]
    np.testing.assert_allclose(weighted.logits(X)[:, 0], z)


def test_the_e5_weight_applies_to_the_detectors_only() -> None:
    """`train(e5_weight=...)` (bench/cv_level_model.py's comparison) changes the indicator
    detectors, not the work detector, and the artifact records it."""
    rubric = Rubric.model_validate(rubric_dict())
    items, X = synthetic()
    full = train(items, rubric, Settings.from_env(), X=X, e5_weight=1.0)
    half = train(items, rubric, Settings.from_env(), X=X)
    assert half["e5_weight"] == {"detect": E5_WEIGHT, "work": 1.0} and full["e5_weight"]["detect"] == 1.0
    assert E5_WEIGHT < 1.0
    assert half["detect"]["coef"] != full["detect"]["coef"]
    assert half["work"] == full["work"]


@pytest.mark.slow
@pytest.mark.timeout(900)  # as the subprocess: about 200 s on an idle machine, over 300 s on a busy one
def test_grader_train_reproduces_the_shipped_model_byte_for_byte(grader_settings: Settings) -> None:
    """`grader train --check` retrains the level model and the evidence matchers from one analysis
    pass and compares both files. On one BLAS thread, while the shipped files were written with
    the machine's default: the bytes must not depend on the number of cores. Each file records the
    e5 arithmetic (embedding probe) of the machine that wrote it; on another kind of CPU e5
    computes other floats and bytes cannot match: there the retrain must be the same model up to
    them (`compare_up_to_e5`), which `--check` reports."""
    from grader.model import MODELS_DIR
    from grader.training import embedding_probe

    here = embedding_probe(grader_settings)
    env = {**os.environ, "GRADER_DATA_DIR": str(grader_settings.data_dir), "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1",
           "COLUMNS": "2000"}
    res = subprocess.run([sys.executable, "-m", "grader", "train", "--check"], capture_output=True, env=env, timeout=900)
    said = res.stdout.decode()
    identical = []
    for name in ("customer-obsession.json", "customer-obsession.evidence.json"):
        shipped = json.loads((MODELS_DIR / name).read_text(encoding="utf-8"))
        if here == shipped["embedding_probe"]:
            assert f"{name}: identical" in said, (name, said[-1500:], res.stderr.decode()[-2000:])
            identical.append(name)
        else:
            assert f"{name}: DIFFERENT" in said, (name, said[-1500:], res.stderr.decode()[-2000:])
    assert said.count("same model up to the e5 arithmetic") == 2 - len(identical), said[-3000:]
    assert res.returncode == (0 if len(identical) == 2 else 1), said[-1500:]


def test_markup_is_never_shown_as_detector_evidence(grader_settings: Settings) -> None:
    story = (
        "Our support tickets kept mentioning the export step, so I interviewed five customers about how they used it.\n"
        "I found the root cause: they exported data every Monday to build a report for their managers.\n"
        "We built a prototype of a scheduled report and tested it with three of those customers before launch.\n"
        "After we shipped it, export tickets dropped by 40% in two months. <script>alert('x')</script>"
    )
    g = grade(story, settings=grader_settings)
    quotes = [e.quote for j in g.indicators for e in j.evidence]
    assert quotes and not any("<script>" in q for q in quotes)


def test_evidence_rank_reads_each_signal_and_holds_back_the_opening_line() -> None:
    """README "Evidence sentences": signals standardised within the story, weighted; a higher
    detector push, phrasing score, closeness or length each ranks a sentence higher, and the
    opening sentence (a title more often than not) is held back."""
    from grader.engines.local import EVIDENCE_WEIGHTS, evidence_rank

    flat = np.zeros(4)
    lengths = [40, 40, 40, 40]
    base = evidence_rank(flat, flat, flat, lengths)
    assert base[0] == EVIDENCE_WEIGHTS["opening"] < 0 and list(base[1:]) == [0, 0, 0]
    for signal in ("detector", "phrasing", "meaning"):
        bump = np.array([0.0, 0.0, 1.0, 0.0])
        args = {"detector": flat, "phrasing": flat, "rel": flat} | {{"meaning": "rel"}.get(signal, signal): bump}
        assert int(np.argmax(evidence_rank(args["detector"], args["phrasing"], args["rel"], lengths))) == 2, signal
    assert int(np.argmax(evidence_rank(flat, None, flat, [40, 40, 90, 40]))) == 2
    assert evidence_rank(np.array([5.0]), None, np.array([1.0]), [10]).tolist() == [0.0]  # one sentence: nothing to rank
    # a strong opening sentence still wins over flat ones once its signals outweigh the hold-back
    assert int(np.argmax(evidence_rank(np.array([9.0, 0, 0, 0]), np.array([9.0, 0, 0, 0]), flat, lengths))) == 0


def test_detector_evidence_skips_the_opening_background_line(grader_settings: Settings) -> None:
    """The opening line that only says who the writer is was quoted by the earlier ranking
    (detector push alone); the sentences that show the behaviour are quoted instead."""
    opening = "저는 작은 온라인 쇼핑몰의 CS 담당자로 3년째 일하고 있습니다."
    story = (
        f"{opening}\n환불 문의가 계속 늘어서 지난달 문의 200건을 직접 분류해 봤습니다. 절반 이상이 사이즈 표가 실제와 "
        "달라서 생긴 문제였습니다. 그래서 상품 페이지의 사이즈 표를 실측 기준으로 다시 만들고, 고객 다섯 분께 새 표를 "
        "보여 드리고 의견을 받았습니다. 그 뒤 두 달 동안 사이즈 관련 환불이 40% 줄었습니다."
    )
    g = grade(story, settings=grader_settings)
    by_detector = [j for j in g.indicators if j.status in ("met", "partial") and j.note.startswith("detector")]
    assert len(by_detector) >= 3, "several indicators are found by the detectors alone"
    assert all(e.quote != opening for j in by_detector for e in j.evidence)


def test_centring_brings_a_translation_closer_than_an_unrelated_story_in_the_same_language(grader_settings: Settings) -> None:
    """The reason for the language centres, on the real e5 vectors and the shipped centres: before
    centring, an unrelated Korean story is closer to a Korean story than its English translation
    is; after, the translation is the closer one."""
    from grader.engines.local import LocalEngine

    m = model_for("customer-obsession")
    assert m is not None and set(m.centres) == {"ko", "en"} and all(len(v) == m.embedding_dim for v in m.centres.values())
    ko = "고객 문의가 계속 같은 화면에서 나와서 다섯 분께 직접 전화했습니다. 원인은 버튼 위치였고, 위치를 바꾼 뒤 문의가 절반으로 줄었습니다."
    en = "Customer tickets kept coming from the same screen, so I called five of them myself. The cause was the button's position; after we moved it, tickets halved."
    other = "이번 분기 목표는 신규 매장 세 곳을 여는 것이었습니다. 저는 인테리어 업체 일정과 자재 발주를 맡아 매주 회의를 열었습니다."
    engine = LocalEngine(grader_settings)
    rubric = get_rubric("customer-obsession", grader_settings)
    vec = {}
    for name, text in (("ko", ko), ("en", en), ("other", other)):
        a = engine.analyse(text, rubric)
        vec[name] = (story_vector(a.vectors, a.langs, None, m.embedding_dim), story_vector(a.vectors, a.langs, m.centres, m.embedding_dim))
    raw = {n: v[0] for n, v in vec.items()}
    cen = {n: v[1] for n, v in vec.items()}
    assert raw["ko"] @ raw["other"] > raw["ko"] @ raw["en"], "e5 puts language first (why the centres exist)"
    assert cen["ko"] @ cen["en"] > cen["ko"] @ cen["other"] + 0.1


def test_the_version_tells_apart_models_trained_on_the_same_data() -> None:
    """Retrained with other code or settings on the same stories, a model gets another version,
    so `grader eval compare` says the model changed."""
    rubric = Rubric.model_validate(rubric_dict())
    items, X = synthetic()
    for lv in range(6):  # two tellings of one story per level, so the consistency penalty has pairs
        for k in (12 * lv, 12 * lv + 1):
            items[k] = items[k].model_copy(update={"pair": f"p{lv}", "tags": ["translation"]})
    a = model_from_artifact(train(items, rubric, Settings.from_env(), X=X))
    b = model_from_artifact(train(items, rubric, Settings.from_env(), X=X, consistency=0.0))
    again = model_from_artifact(train(items, rubric, Settings.from_env(), X=X))
    data = data_hash([it for it in items if label_of(it) is not None])[:12]
    assert a.version.startswith(f"level-model {data}+") and b.version.startswith(f"level-model {data}+")
    assert a.version != b.version and a.version == again.version


def test_train_check_says_why_the_bytes_differ(tmp_path: Path) -> None:
    from grader.cli_train import check_hint

    shipped = tmp_path / "m.json"
    art = {"data_hash": "a" * 64, "embedding_probe": "1234"}
    assert "missing" in check_hint(shipped, art)
    shipped.write_text(json.dumps({"data_hash": "b" * 64, "embedding_probe": "1234"}), encoding="utf-8")
    assert "labeled data changed" in check_hint(shipped, art)
    shipped.write_text(json.dumps({"data_hash": "a" * 64, "embedding_probe": "9999"}), encoding="utf-8")
    hint = check_hint(shipped, art)
    assert "other floats" in hint and "1234 here, 9999 there" in hint
    shipped.write_text(json.dumps({"data_hash": "a" * 64, "embedding_probe": "1234"}), encoding="utf-8")
    assert "code" in check_hint(shipped, art)


def test_the_shipped_model_records_the_e5_arithmetic_it_was_trained_with() -> None:
    from grader.training import PROBE_TEXTS, embedding_probe

    art = json.loads((MODELS_DIR / "customer-obsession.json").read_text(encoding="utf-8"))
    assert len(art["embedding_probe"]) == 16 and len(PROBE_TEXTS) == 2
    assert embedding_probe(dataclasses.replace(Settings.from_env(), embeddings="openai")) is None


def test_learning_curve_keeps_whole_story_groups() -> None:
    """bench/cv_level_model.py --fraction: a training fold keeps a share of its story groups,
    never half a pair, the same ones for the same seed."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("cv_level_model", Path(__file__).resolve().parents[1] / "bench" / "cv_level_model.py")
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    groups = [f"g{k // 2}" for k in range(40)]  # 20 groups of two tellings
    rows = list(range(40))
    kept = bench.keep_groups(rows, groups, 0.5, 0)
    assert len({groups[k] for k in kept}) == 10 and len(kept) == 20
    assert all((k ^ 1) in kept for k in kept), "a kept story keeps its other telling"
    assert kept == sorted(kept) and kept == bench.keep_groups(rows, groups, 0.5, 0)
    assert kept != bench.keep_groups(rows, groups, 0.5, 1)
    assert bench.keep_groups(rows, groups, 1.0, 0) == rows
    assert len(bench.keep_groups(rows, groups, 0.01, 0)) == 2, "at least one group"
    with pytest.raises(ValueError, match="fraction"):
        bench.keep_groups(rows, groups, 0.0, 0)


def test_compare_up_to_e5_allows_small_e5_differences_and_nothing_else() -> None:
    """Another CPU kind moves the e5-derived layers a little and nothing else: small differences
    there pass, large ones, or any difference elsewhere (hyper-parameters, phrasing detectors,
    a missing part), do not."""
    from grader.training import compare_up_to_e5

    shipped = {
        "C": {"detect": 0.02}, "data_hash": "a" * 64, "embedding_probe": "1",
        "detect": {"coef": [[1.0, 2.0, 3.0], [0.5, 0.5, 0.5]], "intercept": [0.1, 0.2]},
        "centres": {"en": [0.1, 0.2], "ko": [0.3, 0.4]},
        "ngram": {"coef": [[1.0, -1.0]], "vocabulary": ["ab", "cd"]},
    }
    other = json.loads(json.dumps(shipped))
    other["embedding_probe"] = "2"
    assert compare_up_to_e5(shipped, other) == ([], 0.0)
    other["detect"]["coef"][0][0] = 1.1  # 2.7% of that row
    problems, largest = compare_up_to_e5(shipped, other)
    assert problems == [] and 0.02 < largest < 0.03
    other["detect"]["coef"][1] = [1.0, 0.5, 0.5]  # 58% of that row
    assert compare_up_to_e5(shipped, other)[0] == ["/detect/coef[1]: differs by 57.7% (more than 15%)"]
    other = json.loads(json.dumps(shipped))
    other["ngram"]["coef"][0][0] = 1.000001
    other["C"]["detect"] = 0.03
    del other["centres"]["ko"]
    assert compare_up_to_e5(shipped, other)[0] == ["/centres/ko: only in the shipped model", "/C/detect: differs", "/ngram/coef[0]: differs"]


# --------------------------------------------------------------------------- evidence matchers


def test_evidence_matchers_are_deterministic_and_learn_which_sentence_shows_an_indicator() -> None:
    """grader.evidence_model: per indicator, a logistic score over the story-centred sentence
    vectors, fitted on gold evidence sentences against the story's other sentences."""
    from grader.evidence_model import EvidenceMatchers, fit_matchers, gold_targets

    rng = np.random.default_rng(0)
    stories = []
    for k in range(40):
        v = rng.normal(size=(5, 4))
        a, b = k % 5, (k + 2) % 5
        v[a, 0] += 3.0  # the sentence that shows co.L3.1 leans on dimension 0
        v[b, 1] += 3.0  # the one that shows co.L4.1 on dimension 1
        stories.append((v, {"co.L3.1": [a], "co.L4.1": [b]}))
    ids = ["co.L3.1", "co.L4.1", "co.L5.1"]
    coef, intercept, counts = fit_matchers(stories, ids, 4)
    again = fit_matchers(stories, ids, 4)
    assert np.array_equal(coef, again[0]) and np.array_equal(intercept, again[1])
    assert counts == {"co.L3.1": 40, "co.L4.1": 40, "co.L5.1": 0} and not coef[2].any()  # no gold: zero weights
    test = rng.normal(size=(4, 4))
    test[2, 0] += 3.0
    test[0, 1] += 3.0
    scores = EvidenceMatchers(tuple(ids), coef).scores(test)
    assert int(np.argmax(scores[:, 0])) == 2 and int(np.argmax(scores[:, 1])) == 0
    text = "First one. Second one. Third one."
    spans = [(0, 10), (11, 22), (23, 33)]
    assert gold_targets(text, spans, {"co.L3.1": ["Third one."], "co.L4.1": ["not there"], "co.L5.1": ["one. Second"]}) == {
        "co.L3.1": [2], "co.L4.1": [], "co.L5.1": [0, 1]}


def test_the_shipped_evidence_matchers_fit_the_model_and_the_train_splits_gold_evidence() -> None:
    from grader.evidence_model import evidence_hash, load_matchers, matchers_path, usable_matchers
    from grader.model import model_for

    path = matchers_path("customer-obsession")
    art = json.loads(path.read_text(encoding="utf-8"))
    train = [it for it in read_items(sorted((REPO / "evals").glob("*.train.jsonl"))) if it.extras().get("gold_evidence")]
    assert art["n_stories"] == len(train) >= 500
    assert art["data_hash"] == evidence_hash([(it.id, it.text, it.extras()["gold_evidence"]) for it in train])
    assert len(art["embedding_probe"]) == 16 and art["trained_by"] == "grader train"
    model = model_for("customer-obsession")
    assert model is not None and usable_matchers(model) is not None
    assert load_matchers(path).indicator_ids == tuple(model.indicator_ids)


def test_the_engine_quotes_what_the_evidence_matchers_point_to(grader_settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    """With the matchers in place their score outweighs the other signals of evidence_rank: a
    matcher that points at the last sentence for every indicator gets it quoted first."""
    import grader.engines.local as local
    from grader.evidence_model import EvidenceMatchers

    story = (
        "Our support tickets kept mentioning the export step, so I interviewed five customers about how they used it. "
        "I found the root cause: they exported data every Monday to build a report for their managers. "
        "We built a prototype of a scheduled report and tested it with three of those customers before launch. "
        "After we shipped it, export tickets dropped by 40% in two months."
    )

    class LastSentence(EvidenceMatchers):
        def scores(self, vectors: np.ndarray) -> np.ndarray:
            out = np.zeros((len(vectors), len(self.indicator_ids)))
            out[-1] = 1.0
            return out

    monkeypatch.setattr(local, "usable_matchers", lambda m: LastSentence(tuple(m.indicator_ids), np.zeros((1, 1))))
    g = grade(story, settings=grader_settings)
    found = [j for j in g.indicators if j.status in ("met", "partial") and j.note.startswith("detector")]
    assert found and all(j.evidence[0].quote.startswith("After we shipped it") for j in found)
