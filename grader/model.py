"""The trained level model: a multinomial logistic regression on explainable features.

Weights ship inside the package as JSON (never pickle): grader/models/<rubric id>.json.
`grader train` reproduces them bit-for-bit from the labeled stories in evals/ (fixed seed,
rounded features and weights, data hash recorded in the artifact). Classes are the levels
0..5 plus "none" (not a work story -> insufficient_evidence).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from grader.features import feature_names, story_features
from grader.types import IndicatorJudgment, Rubric

MODELS_DIR = Path(__file__).resolve().parent / "models"
NONE_CLASS = "none"
FORMAT = 1


@dataclass
class Prediction:
    level: int | None
    confidence: float
    distribution: list[float] | None
    insufficient: bool = False


def rubric_fingerprint(rubric: Rubric) -> str:
    """Hash of what the features depend on: indicator ids, texts and cues."""
    payload = json.dumps([i.model_dump() for i in rubric.indicators()], sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()[:16]


@dataclass(frozen=True)
class LevelModel:
    rubric_id: str
    fingerprint: str
    classes: tuple[str, ...]
    features: tuple[str, ...]
    mean: np.ndarray
    scale: np.ndarray
    coef: np.ndarray  # (n_classes, n_features)
    intercept: np.ndarray
    none_threshold: float
    version: str

    def probabilities(self, x: np.ndarray) -> np.ndarray:
        z = (x - self.mean) / self.scale
        logits = self.coef @ z + self.intercept
        logits -= logits.max()
        p = np.exp(logits)
        return p / p.sum()

    def predict(self, x: np.ndarray) -> Prediction:
        p = self.probabilities(x)
        none_at = self.classes.index(NONE_CLASS) if NONE_CLASS in self.classes else None
        levels = [k for k, c in enumerate(self.classes) if c != NONE_CLASS]
        if none_at is not None and p[none_at] >= self.none_threshold:
            return Prediction(None, float(p[none_at]), None, insufficient=True)
        lp = p[levels] / p[levels].sum()
        best = int(np.argmax(lp))
        return Prediction(int(self.classes[levels[best]]), float(lp[best]), [round(float(v), 4) for v in lp])


def load_model(path: Path) -> LevelModel:
    data = json.loads(path.read_text(encoding="utf-8"))
    if data.get("format") != FORMAT:
        raise ValueError(f"{path}: unsupported model format {data.get('format')!r}")
    return LevelModel(
        rubric_id=data["rubric_id"], fingerprint=data["rubric_fingerprint"], classes=tuple(data["classes"]),
        features=tuple(data["features"]), mean=np.asarray(data["mean"]), scale=np.asarray(data["scale"]),
        coef=np.asarray(data["coef"]), intercept=np.asarray(data["intercept"]),
        none_threshold=float(data.get("none_threshold", 0.5)), version=f"level-model {data['data_hash'][:12]}",
    )


@lru_cache(maxsize=8)
def model_for(rubric_id: str, models_dir: Path = MODELS_DIR) -> LevelModel | None:
    path = models_dir / f"{rubric_id}.json"
    return load_model(path) if path.is_file() else None


def model_version(rubric: Rubric | None = None) -> str | None:
    m = model_for(rubric.id) if rubric is not None else None
    return m.version if m is not None else None


def predict_level(rubric: Rubric, analysis: Any, judgments: list[IndicatorJudgment], n_chars: int) -> Prediction | None:
    """The model's level, or None when no model ships for this rubric (or it was trained on
    another version of the rubric: then the rule alone sets the level)."""
    m = model_for(rubric.id)
    if m is None or m.fingerprint != rubric_fingerprint(rubric):
        return None
    x = story_features(rubric, analysis, judgments, n_chars)
    if len(x) != len(m.features):
        return None
    return m.predict(x)


def artifact(
    rubric: Rubric, names: list[str], classes: list[str], mean: np.ndarray, scale: np.ndarray,
    coef: np.ndarray, intercept: np.ndarray, meta: dict[str, Any],
) -> dict[str, Any]:
    def r(a: np.ndarray) -> Any:
        return np.round(a, 10).tolist()

    return {
        "format": FORMAT, "rubric_id": rubric.id, "rubric_version": rubric.version,
        "rubric_fingerprint": rubric_fingerprint(rubric), "classes": classes, "features": names,
        "mean": r(mean), "scale": r(scale), "coef": r(coef), "intercept": r(intercept), **meta,
    }


__all__ = ["Prediction", "LevelModel", "feature_names", "load_model", "model_for", "predict_level", "artifact"]
