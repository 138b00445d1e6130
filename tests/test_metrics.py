"""Metric functions against values computed by hand (worked out in the comments)."""

from __future__ import annotations

import json

import numpy as np
import pytest
from sklearn.metrics import cohen_kappa_score

from grader import metrics as m

# gold = [0, 1, 2, 3], pred = [0, 2, 2, 5]; differences 0, 1, 0, 2
GOLD = [0, 1, 2, 3]
PRED = [0, 2, 2, 5]


def test_accuracy_within_one_mae_by_hand() -> None:
    assert m.accuracy(GOLD, PRED) == 0.5  # items 0 and 2 match
    assert m.within_one(GOLD, PRED) == 0.75  # all but the 3 -> 5 item
    assert m.mae(GOLD, PRED) == 0.75  # (0 + 1 + 0 + 2) / 4


def test_qwk_by_hand() -> None:
    # weights (i-j)^2; observed sum w*O = 0 + 1 + 0 + 4 = 5
    # marginals: gold 1 each at 0..3; pred 0:1, 2:2, 5:1; E = r_i c_j / 4
    # sum w*E = (33 + 19 + 13 + 15) / 4 = 20   ->   kappa = 1 - 5/20 = 0.75
    assert m.qwk(GOLD, PRED) == pytest.approx(0.75)
    assert float(m.qwk_batch(np.array(GOLD), np.array(PRED))) == pytest.approx(0.75)


def test_qwk_perfect_and_undefined() -> None:
    assert m.qwk([1, 2, 4], [1, 2, 4]) == pytest.approx(1.0)
    assert m.qwk([2, 2], [2, 2]) is None  # one label only: kappa is 0/0
    assert m.qwk([], []) is None


def test_qwk_is_undefined_on_one_item_or_one_gold_level() -> None:
    # one item graded one level off: scikit-learn says 0.0, one graded right says 0/0; both undefined
    assert m.qwk([3], [2]) is None and m.qwk([3], [3]) is None
    # a single gold level: kappa is 0 whatever the grader does, so it measures nothing
    assert m.qwk([2, 2, 2], [1, 2, 3]) is None
    assert m.qwk([2, 2, 3], [1, 2, 3]) is not None
    assert m.qwk([1, 2, 3], [2, 2, 2]) == pytest.approx(0.0)  # a constant grader: defined, no skill
    batch = m.qwk_batch(np.array([[3, 3, 3], [1, 2, 3]]), np.array([[2, 3, 4], [2, 2, 2]]))
    assert np.isnan(batch[0]) and batch[1] == pytest.approx(0.0)
    assert np.isnan(m.qwk_batch(np.array([3]), np.array([2])))


def test_qwk_batch_matches_scikit_learn() -> None:
    rng = np.random.default_rng(3)
    gold = rng.integers(0, 6, size=(20, 40))
    pred = np.clip(gold + rng.integers(-2, 3, size=gold.shape), 0, 5)
    batch = m.qwk_batch(gold, pred)
    for row in range(20):
        ref = cohen_kappa_score(gold[row], pred[row], labels=list(range(6)), weights="quadratic")
        assert batch[row] == pytest.approx(ref)


def test_spearman_by_hand() -> None:
    # ranks gold 1,2,3,4; pred 1,2.5,2.5,4 -> r = 4.5 / sqrt(5 * 4.5) = sqrt(0.9)
    assert m.spearman(GOLD, PRED) == pytest.approx(0.9 ** 0.5)
    assert m.spearman([1, 2, 3], [2, 2, 2]) is None  # constant side


def test_confusion_rows_are_gold() -> None:
    c = m.confusion(GOLD, PRED)
    assert len(c) == 6 and all(len(r) == 6 for r in c)
    assert c[0] == [1, 0, 0, 0, 0, 0]
    assert c[1] == [0, 0, 1, 0, 0, 0]  # gold 1 predicted 2
    assert c[3] == [0, 0, 0, 0, 0, 1]  # gold 3 predicted 5
    assert sum(map(sum, c)) == 4


def test_per_level_by_hand() -> None:
    pl = m.per_level(GOLD, PRED)
    assert pl["2"] == {"precision": 0.5, "recall": 1.0, "n": 1}  # predicted 2 twice, one right
    assert pl["3"] == {"precision": None, "recall": 0.0, "n": 1}  # never predicted
    assert pl["5"] == {"precision": 0.0, "recall": None, "n": 0}  # predicted once, wrong
    assert pl["4"] == {"precision": None, "recall": None, "n": 0}


def test_agreement_bundle_and_length_check() -> None:
    a = m.agreement(GOLD, PRED)
    assert a["accuracy"] == 0.5 and a["qwk"] == pytest.approx(0.75)
    with pytest.raises(ValueError):
        m.accuracy([1, 2], [1])
    assert m.agreement([], [])["accuracy"] is None


def test_ordinal_alpha_by_hand() -> None:
    # units (1,1) (1,2) (2,2): coincidences o11=2, o12=o21=1, o22=2; n1=n2=3, n=6
    # ordinal delta^2(1,2) = (n1 + n2 - (n1 + n2)/2)^2 = 9
    # alpha = 1 - (n-1) * sum(o*d) / sum(n_c n_k d) = 1 - 5 * 18 / 162 = 4/9
    assert m.ordinal_alpha([[1, 1, 2], [1, 2, 2]]) == pytest.approx(4 / 9)


def test_ordinal_alpha_published_example() -> None:
    # Krippendorff (2011) "Computing Krippendorff's Alpha-Reliability": 4 coders, 12 units,
    # alpha ordinal = 0.815 (nominal 0.743, interval 0.849)
    n = None
    data = [
        [1, 2, 3, 3, 2, 1, 4, 1, 2, n, n, n],
        [1, 2, 3, 3, 2, 2, 4, 1, 2, 5, n, 3],
        [n, 3, 3, 3, 2, 3, 4, 2, 2, 5, 1, n],
        [1, 2, 3, 3, 2, 4, 4, 1, 2, 5, 1, n],
    ]
    assert m.ordinal_alpha(data) == pytest.approx(0.815, abs=5e-4)


def test_ordinal_alpha_edge_cases() -> None:
    assert m.ordinal_alpha([[3, 3, 3], [3, 3, 3]]) == 1.0  # identical repeats of one level
    assert m.ordinal_alpha([[1, 4, 2], [1, 4, 2]]) == pytest.approx(1.0)
    assert m.ordinal_alpha([[1, None], [None, 2]]) is None  # no item rated twice
    assert m.ordinal_alpha([[1, 2, 3]]) is None  # one repeat
    assert m.ordinal_alpha([[0, 5, 0, 5], [5, 0, 5, 0]]) < 0  # systematic disagreement


def test_pair_agreement_by_hand() -> None:
    groups = [[1, 1], [2, 3], [4], [0, 0, 0], ["insufficient_evidence", "insufficient_evidence"]]
    assert m.pair_agreement(groups) == 3 / 4  # the singleton is ignored
    assert m.pair_agreement([[1]]) is None


def test_level_shift_by_hand() -> None:
    s = m.level_shift([2, 2, 3], [4, 2, 1])  # shifts +2, 0, -2
    assert s == {"n": 3, "mean": pytest.approx(4 / 3), "max": 2, "mean_signed": 0.0}
    assert m.level_shift([], [])["mean"] is None


def test_percentiles_and_share() -> None:
    p = m.percentiles([10, 20, 30, 40, 50])
    assert p == {"p50": 30.0, "p95": pytest.approx(48.0)}  # 40 + 0.8 * 10
    assert m.percentiles([]) == {"p50": None, "p95": None}
    assert m.share(3, 4) == 0.75 and m.share(0, 0) is None


def test_bootstrap_ci_brackets_the_estimate() -> None:
    rng = np.random.default_rng(0)
    gold = rng.integers(0, 6, 300)
    pred = np.clip(gold + rng.integers(-2, 3, 300), 0, 5)
    for batch, point in ((m.accuracy_batch, m.accuracy), (m.within_one_batch, m.within_one), (m.qwk_batch, m.qwk)):
        lo, hi = m.bootstrap_ci(batch, gold, pred, n_resamples=500, seed=1)
        assert lo <= point(gold, pred) <= hi and lo < hi
        assert hi - lo < 0.2
    assert m.bootstrap_ci(m.accuracy_batch, [2, 3, 4], [2, 3, 4], n_resamples=200) == [1.0, 1.0]
    assert m.bootstrap_ci(m.accuracy_batch, [2], [2]) is None
    assert m.bootstrap_ci(m.qwk_batch, [2, 2, 2], [2, 2, 2], n_resamples=200) is None  # always undefined


def test_bootstrap_is_reproducible() -> None:
    gold, pred = [0, 1, 2, 3, 4, 5] * 5, [0, 2, 2, 3, 3, 5] * 5
    assert m.bootstrap_ci(m.qwk_batch, gold, pred, seed=7) == m.bootstrap_ci(m.qwk_batch, gold, pred, seed=7)


def test_paired_bootstrap_detects_a_worse_run() -> None:
    gold = [0, 1, 2, 3, 4, 5] * 10
    a = list(gold)  # perfect
    b = [min(5, g + 1) if i % 2 else g for i, g in enumerate(gold)]  # half of them one level up
    r = m.paired_bootstrap(m.accuracy_batch, gold, a, b, n_resamples=500)
    assert r["delta"] == pytest.approx(m.accuracy(gold, b) - 1.0)
    assert r["ci95"][1] < 0 and r["p_le_0"] == 1.0
    same = m.paired_bootstrap(m.accuracy_batch, gold, a, a, n_resamples=200)
    assert same["delta"] == 0.0 and same["ci95"] == [0.0, 0.0]
    assert m.paired_bootstrap(m.accuracy_batch, [], [], [])["delta"] is None


def test_results_are_json_safe() -> None:
    out = {
        "agreement": m.agreement([2, 2], [2, 2]),
        "alpha": m.ordinal_alpha([[2, 2], [2, 2]]),
        "per_level": m.per_level([2, 2], [2, 2]),
    }
    json.dumps(out, allow_nan=False)  # raises on NaN
    assert out["agreement"]["spearman"] is None
