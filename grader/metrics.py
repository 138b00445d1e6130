"""Agreement and consistency metrics: pure functions on lists of levels.

Point estimates come from well-kept libraries (scikit-learn's quadratic weighted kappa,
scipy's Spearman, the `krippendorff` package's ordinal alpha). Every function returns
`None` where the metric is undefined (no items, no variation) instead of NaN, so reports
stay valid JSON. The batch forms (`*_batch`) take arrays whose last axis is the items and
are used by the bootstrap.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import numpy as np

N_LEVELS = 6  # LV.0 .. LV.5

Levels = Sequence[int] | np.ndarray
BatchMetric = Callable[[np.ndarray, np.ndarray], np.ndarray]


def _arrays(gold: Levels, pred: Levels) -> tuple[np.ndarray, np.ndarray]:
    g, p = np.asarray(gold, dtype=np.int64), np.asarray(pred, dtype=np.int64)
    if g.shape != p.shape:
        raise ValueError(f"gold and predicted levels differ in length ({g.shape} vs {p.shape})")
    return g, p


def _number(value: Any) -> float | None:
    value = float(value)
    return None if np.isnan(value) else value


# --------------------------------------------------------------------------- agreement


def accuracy_batch(gold: np.ndarray, pred: np.ndarray) -> np.ndarray:
    return np.mean(gold == pred, axis=-1)


def within_one_batch(gold: np.ndarray, pred: np.ndarray) -> np.ndarray:
    return np.mean(np.abs(gold - pred) <= 1, axis=-1)


def mae_batch(gold: np.ndarray, pred: np.ndarray) -> np.ndarray:
    return np.mean(np.abs(gold - pred), axis=-1)


def qwk_batch(gold: np.ndarray, pred: np.ndarray, n_levels: int = N_LEVELS) -> np.ndarray:
    """Quadratic weighted kappa along the last axis (same formula as scikit-learn's
    `cohen_kappa_score(weights="quadratic")`; NaN where it is undefined, as in `qwk`: fewer
    than two items or a single gold level)."""
    g, p = np.atleast_2d(gold), np.atleast_2d(pred)
    rows, n = g.shape
    k = n_levels
    codes = (np.arange(rows)[:, None] * k * k + g * k + p).ravel()
    observed = np.bincount(codes, minlength=rows * k * k).reshape(rows, k, k).astype(float)
    expected = observed.sum(axis=2)[:, :, None] * observed.sum(axis=1)[:, None, :] / n
    i, j = np.indices((k, k))
    weights = (i - j) ** 2
    num = (weights * observed).sum(axis=(1, 2))
    den = (weights * expected).sum(axis=(1, 2))
    with np.errstate(invalid="ignore", divide="ignore"):
        out = 1.0 - num / den
    out = np.where(np.all(g == g[:, :1], axis=1), np.nan, out)  # one gold level (or one item): undefined
    return out if np.ndim(gold) > 1 else out[0]


def accuracy(gold: Levels, pred: Levels) -> float | None:
    """Share of items whose predicted level equals the gold level."""
    g, p = _arrays(gold, pred)
    return float(accuracy_batch(g, p)) if g.size else None


def within_one(gold: Levels, pred: Levels) -> float | None:
    """Share of items predicted at most one level away from gold."""
    g, p = _arrays(gold, pred)
    return float(within_one_batch(g, p)) if g.size else None


def mae(gold: Levels, pred: Levels) -> float | None:
    """Mean absolute level difference."""
    g, p = _arrays(gold, pred)
    return float(mae_batch(g, p)) if g.size else None


def qwk(gold: Levels, pred: Levels, n_levels: int = N_LEVELS) -> float | None:
    """Quadratic weighted Cohen's kappa (scikit-learn) over levels 0..n_levels-1.

    None when it is undefined: fewer than two items, or gold levels without variance (a single
    level). There kappa is 0/0 or exactly 0 whatever the grader does (the observed agreement
    equals the chance agreement by construction), so a number would say nothing; one item
    graded one level off would otherwise read 0.000 while one graded right reads undefined."""
    from sklearn.metrics import cohen_kappa_score

    g, p = _arrays(gold, pred)
    if g.size < 2 or np.all(g == g[0]):
        return None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return _number(cohen_kappa_score(g, p, labels=list(range(n_levels)), weights="quadratic"))


def spearman(gold: Levels, pred: Levels) -> float | None:
    """Spearman rank correlation (scipy); None when either side is constant."""
    from scipy.stats import spearmanr

    g, p = _arrays(gold, pred)
    if g.size < 2 or np.all(g == g[0]) or np.all(p == p[0]):
        return None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return _number(spearmanr(g, p).statistic)


def confusion(gold: Levels, pred: Levels, n_levels: int = N_LEVELS) -> list[list[int]]:
    """n_levels x n_levels counts; rows = gold level, columns = predicted level."""
    from sklearn.metrics import confusion_matrix

    g, p = _arrays(gold, pred)
    if not g.size:
        return [[0] * n_levels for _ in range(n_levels)]
    return confusion_matrix(g, p, labels=list(range(n_levels))).astype(int).tolist()


def per_level(gold: Levels, pred: Levels, n_levels: int = N_LEVELS) -> dict[str, dict[str, float | int | None]]:
    """{level: {precision, recall, n}}; n = gold items at that level; None where undefined."""
    m = np.asarray(confusion(gold, pred, n_levels))
    out: dict[str, dict[str, float | int | None]] = {}
    for lv in range(n_levels):
        n_gold, n_pred, hit = int(m[lv].sum()), int(m[:, lv].sum()), int(m[lv, lv])
        out[str(lv)] = {
            "precision": hit / n_pred if n_pred else None,
            "recall": hit / n_gold if n_gold else None,
            "n": n_gold,
        }
    return out


def agreement(gold: Levels, pred: Levels, n_levels: int = N_LEVELS) -> dict[str, float | None]:
    """The headline agreement figures for one group of items."""
    return {
        "accuracy": accuracy(gold, pred),
        "within_one": within_one(gold, pred),
        "mae": mae(gold, pred),
        "qwk": qwk(gold, pred, n_levels),
        "spearman": spearman(gold, pred),
    }


# --------------------------------------------------------------------------- consistency


def ordinal_alpha(ratings: Sequence[Sequence[int | None]], n_levels: int = N_LEVELS) -> float | None:
    """Krippendorff's alpha, ordinal (`krippendorff` package). `ratings` has one row per rater
    (or repeat) and one column per item; None marks a missing rating.

    Returns None when no item has two ratings. When every item's ratings are identical the
    observed disagreement is zero and the result is 1.0, also in the degenerate case where a
    single level is used throughout (where the textbook formula is 0/0).
    """
    import krippendorff

    data = np.array([[np.nan if v is None else float(v) for v in row] for row in ratings], dtype=float)
    if data.ndim != 2 or data.shape[0] < 2:
        return None
    counts = np.sum(~np.isnan(data), axis=0)
    pairable = data[:, counts >= 2]
    if pairable.shape[1] == 0:
        return None
    spread = np.nanmax(pairable, axis=0) - np.nanmin(pairable, axis=0)
    if np.all(spread == 0):
        return 1.0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        value = krippendorff.alpha(
            reliability_data=data, level_of_measurement="ordinal", value_domain=list(range(n_levels))
        )
    return _number(value)


def pair_agreement(groups: Iterable[Sequence[Any]]) -> float | None:
    """Share of groups (paraphrases/translations of one story) whose members all got the
    same outcome. Groups with fewer than two members are ignored."""
    sized = [list(g) for g in groups if len(g) >= 2]
    if not sized:
        return None
    return sum(1 for g in sized if all(x == g[0] for x in g)) / len(sized)


def level_shift(gold: Levels, pred: Levels) -> dict[str, float | int | None]:
    """How far predictions moved from gold: n, mean |shift|, max |shift|, mean signed shift
    (positive = graded higher than gold)."""
    g, p = _arrays(gold, pred)
    if not g.size:
        return {"n": 0, "mean": None, "max": None, "mean_signed": None}
    d = p - g
    return {"n": int(g.size), "mean": float(np.mean(np.abs(d))), "max": int(np.max(np.abs(d))), "mean_signed": float(np.mean(d))}


def share(hits: int, total: int) -> float | None:
    return hits / total if total else None


def percentiles(values: Sequence[float], qs: Sequence[float] = (50, 95)) -> dict[str, float | None]:
    """{'p50': …, 'p95': …} (linear interpolation); None when there are no values."""
    arr = np.asarray(values, dtype=float)
    return {f"p{q:g}": (float(np.percentile(arr, q)) if arr.size else None) for q in qs}


# --------------------------------------------------------------------------- bootstrap


_BATCH_ELEMENTS = 500_000  # resampled levels held at once (memory stays small for large sets)


def _resampled(metric: BatchMetric, n_resamples: int, seed: int, *arrays: np.ndarray) -> np.ndarray:
    """metric(...) over `n_resamples` bootstrap resamples of the items (rows of indices drawn
    with replacement), computed in batches; all arrays are resampled with the same indices."""
    n = arrays[0].size
    rng = np.random.default_rng(seed)
    batch = max(1, _BATCH_ELEMENTS // n)
    out: list[np.ndarray] = []
    for start in range(0, n_resamples, batch):
        idx = rng.integers(0, n, size=(min(batch, n_resamples - start), n))
        out.append(np.atleast_1d(np.asarray(metric(*(a[idx] for a in arrays)), dtype=float)))
    return np.concatenate(out)


def _interval(values: np.ndarray, confidence: float) -> list[float] | None:
    values = values[~np.isnan(values)]
    if values.size < 10:
        return None
    tail = (1 - confidence) / 2 * 100
    lo, hi = np.percentile(values, [tail, 100 - tail])
    return [float(lo), float(hi)]


def bootstrap_ci(
    metric: BatchMetric, gold: Levels, pred: Levels, *, n_resamples: int = 1000, seed: int = 0, confidence: float = 0.95
) -> list[float] | None:
    """Percentile bootstrap interval [low, high] of a batch metric over items resampled with
    replacement; None with fewer than two items or when the metric is undefined in most resamples."""
    g, p = _arrays(gold, pred)
    if g.size < 2 or n_resamples < 10:
        return None
    return _interval(_resampled(metric, n_resamples, seed, g, p), confidence)


def paired_bootstrap(
    metric: BatchMetric,
    gold: Levels,
    pred_a: Levels,
    pred_b: Levels,
    *,
    n_resamples: int = 1000,
    seed: int = 0,
    confidence: float = 0.95,
) -> dict[str, Any]:
    """Difference metric(b) - metric(a) on the same items, with a paired percentile bootstrap
    interval (the same resampled items are scored for both runs) and `p_le_0`, the share of
    resamples where b is not better (for mae, lower is better: read the sign accordingly)."""
    g, a = _arrays(gold, pred_a)
    _, b = _arrays(gold, pred_b)
    if not g.size:
        return {"delta": None, "ci95": None, "p_le_0": None}
    full = np.asarray(metric(g, b), dtype=float) - np.asarray(metric(g, a), dtype=float)
    delta = _number(full)
    if g.size < 2 or n_resamples < 10:
        return {"delta": delta, "ci95": None, "p_le_0": None}
    diffs = _resampled(lambda gg, aa, bb: metric(gg, bb) - metric(gg, aa), n_resamples, seed, g, a, b)
    valid = diffs[~np.isnan(diffs)]
    return {
        "delta": delta,
        "ci95": _interval(diffs, confidence),
        "p_le_0": float(np.mean(valid <= 0)) if valid.size else None,
    }
