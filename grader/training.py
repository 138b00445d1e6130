"""Training the level model from labeled stories (evals/*.train.jsonl) and the split rule.

Split rule (fixed, documented in the README): key = the item's `pair` id if it has one, else
its `id`; bucket = first 8 hex digits of sha256(key) mod 100; buckets 0-59 -> train,
60-79 -> dev, 80-99 -> test. Pairs (translations, paraphrases, injection variants and their
base story) therefore never straddle splits. The test split is never used for fitting or tuning.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from grader.config import Settings
from grader.engines.local import LocalEngine
from grader.features import feature_names, story_features
from grader.model import NONE_CLASS, artifact
from grader.types import EvalItem, Rubric

SEED = 20231613
C = 0.05  # inverse regularisation, chosen on the dev split (see README "Trained level model")
NONE_THRESHOLD = 0.5


def split_of(item: EvalItem | dict[str, Any]) -> str:
    key = (item.get("pair") or item["id"]) if isinstance(item, dict) else (item.pair or item.id)
    bucket = int(hashlib.sha256(str(key).encode("utf-8")).hexdigest()[:8], 16) % 100
    return "train" if bucket < 60 else "dev" if bucket < 80 else "test"


def label_of(item: EvalItem) -> str | None:
    """'0'..'5', 'none' for not-work texts (expected_status insufficient_evidence), None if unlabeled."""
    if item.level is not None:
        return str(item.level)
    if (item.extras().get("expected_status") == "insufficient_evidence") or "not-work" in item.tags:
        return NONE_CLASS
    return None


def read_items(paths: Iterable[Path]) -> list[EvalItem]:
    items = []
    for path in paths:
        for line in Path(path).read_text(encoding="utf-8").splitlines():
            if line.strip():
                items.append(EvalItem.model_validate_json(line))
    return items


def data_hash(items: Sequence[EvalItem]) -> str:
    h = hashlib.sha256()
    for it in sorted(items, key=lambda i: i.id):
        h.update(json.dumps({"id": it.id, "text": it.text, "label": label_of(it)}, ensure_ascii=False, sort_keys=True).encode())
    return h.hexdigest()


def featurize(
    items: Sequence[EvalItem], rubric: Rubric, settings: Settings, progress: Callable[[int, int], None] | None = None
) -> np.ndarray:
    engine = LocalEngine(settings)
    rows = []
    for k, it in enumerate(items):
        a = engine.analyse(it.text, rubric)
        rows.append(story_features(rubric, a, engine.judge(it.text, a), len(it.text)))
        if progress:
            progress(k + 1, len(items))
    return np.vstack(rows)


def fit(X: np.ndarray, labels: Sequence[str], c: float = C, seed: int = SEED) -> tuple[list[str], Any, Any]:
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    classes = sorted(set(labels), key=lambda s: (s == NONE_CLASS, s))
    scaler = StandardScaler().fit(X)
    scale = np.where(scaler.scale_ > 1e-9, scaler.scale_, 1.0)
    Z = (X - scaler.mean_) / scale
    clf = LogisticRegression(C=c, class_weight="balanced", max_iter=5000, random_state=seed)
    clf.fit(Z, [classes.index(lb) for lb in labels])
    return classes, (scaler.mean_, scale), clf


def train(
    items: Sequence[EvalItem], rubric: Rubric, settings: Settings, *, c: float = C, seed: int = SEED,
    progress: Callable[[int, int], None] | None = None, X: np.ndarray | None = None,
) -> dict[str, Any]:
    """Fit on labeled items and return the JSON artifact (a dict)."""
    labeled = [it for it in items if label_of(it) is not None]
    if X is None:
        X = featurize(labeled, rubric, settings, progress)
    labels = [label_of(it) or "" for it in labeled]
    classes, (mean, scale), clf = fit(X, labels, c, seed)
    names = feature_names(rubric, X.shape[1] - len(feature_names(rubric, 0)))
    meta = {
        "model": "multinomial logistic regression (scikit-learn), standardised features",
        "C": c, "seed": seed, "class_weight": "balanced", "none_threshold": NONE_THRESHOLD,
        "n_train": len(labeled), "data_hash": data_hash(labeled), "trained_by": "grader train",
    }
    return artifact(rubric, names, classes, mean, scale, clf.coef_, clf.intercept_, meta)


def dump(art: dict[str, Any]) -> str:
    return json.dumps(art, ensure_ascii=False, indent=0, sort_keys=True) + "\n"
