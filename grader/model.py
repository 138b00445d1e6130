"""The trained level model: four small linear layers on explainable features.

1. indicator detectors: one logistic score per rubric indicator over the story features
   (`grader.features`): the probability that the story shows that indicator. Their e5 part is a
   sum over sentences (each centred by its language's mean training sentence, `centres`), so the
   sentences that push a detector up are its evidence.
2. work detector: the probability that the text is a work story at all (else the Grade says
   insufficient evidence).
3. phrasing detectors (`grader.ngrams`): TF-IDF over the story's character n-grams, one
   logistic score per indicator and per level boundary ("above LV.k").
4. level layer: a multinomial logistic regression from the indicator probabilities (and the
   highest probability per level) and the phrasing detectors' probabilities to the levels
   0..N; the level is the median of that distribution (an ordinal choice: half the probability
   lies at or below it).

Weights ship inside the package as JSON (never pickle): grader/models/<rubric id>.json.
`grader train` reproduces them bit-for-bit from the train split in evals/ (fixed seed, rounded
features and weights, data hash recorded in the artifact).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from grader.features import feature_names
from grader.ngrams import NgramLayer
from grader.levels import level_of
from grader.types import Rubric

MODELS_DIR = Path(__file__).resolve().parent / "models"
FORMAT = 4  # 3: the e5 block is centred per language (`centres`); 4: phrasing detectors (`ngram`)
DIGITS = 8  # weights are rounded to this many decimals in the artifact


def rubric_fingerprint(rubric: Rubric) -> str:
    """Hash of what the features depend on: indicator ids, texts and cues."""
    payload = json.dumps([i.model_dump() for i in rubric.indicators()], sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()[:16]


def sigmoid(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.clip(z, -50, 50)))


@dataclass(frozen=True)
class Layer:
    """logits = coef @ ((x - mean) / scale) + intercept, for one row x or a matrix of rows."""

    mean: np.ndarray
    scale: np.ndarray
    coef: np.ndarray  # (n_out, n_in)
    intercept: np.ndarray  # (n_out,)

    def logits(self, x: np.ndarray) -> np.ndarray:
        return ((np.asarray(x, dtype=np.float64) - self.mean) / self.scale) @ self.coef.T + self.intercept

    def to_dict(self) -> dict[str, Any]:
        r = lambda a: np.round(np.asarray(a, dtype=np.float64), DIGITS).tolist()  # noqa: E731
        return {"mean": r(self.mean), "scale": r(self.scale), "coef": r(self.coef), "intercept": r(self.intercept)}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "Layer":
        return cls(*(np.asarray(d[k], dtype=np.float64) for k in ("mean", "scale", "coef", "intercept")))


def level_inputs(p: np.ndarray, indicator_ids: Sequence[str], max_level: int) -> np.ndarray:
    """Input of the level layer: the indicator probabilities, then the highest one per level."""
    levels = np.asarray([level_of(i) for i in indicator_ids])
    per_level = [float(p[levels == lv].max()) if (levels == lv).any() else 0.0 for lv in range(max_level + 1)]
    return np.concatenate([np.asarray(p, dtype=np.float64), per_level])


@dataclass
class Prediction:
    level: int | None
    confidence: float
    distribution: list[float] | None
    insufficient: bool
    work_probability: float
    indicator_probabilities: dict[str, float]


@dataclass(frozen=True)
class LevelModel:
    rubric_id: str
    fingerprint: str
    indicator_ids: tuple[str, ...]
    features: tuple[str, ...]
    embedding_dim: int
    detect: Layer
    work: Layer
    level: Layer
    met_at: float
    partial_at: float
    work_at: float
    version: str
    centres: dict[str, np.ndarray] = field(default_factory=dict)  # language -> mean training sentence vector
    ngram: NgramLayer | None = None  # phrasing detectors (models of format 4 have them)

    @property
    def max_level(self) -> int:
        return self.level.coef.shape[0] - 1

    def level_inputs(self, p: np.ndarray, text: str | None = None) -> np.ndarray:
        """The level layer's input: the indicator probabilities, the highest per level, and (with
        phrasing detectors) their probabilities on the story's text."""
        base = level_inputs(p, self.indicator_ids, self.max_level)
        if self.ngram is None:
            return base
        if text is None:
            raise ValueError("this level model also reads the story's text: pass it to predict()")
        return np.concatenate([base, sigmoid(self.ngram.logits([text])[0])])

    def indicator_probabilities(self, x: np.ndarray) -> np.ndarray:
        return sigmoid(self.detect.logits(x))

    def sentence_scores(self, vectors: np.ndarray) -> np.ndarray:
        """(n_sentences, n_indicators): how much each sentence pushes each detector up (the
        e5 block of the detector applied to that sentence's vector)."""
        d = self.embedding_dim
        w = self.detect.coef[:, :d] / self.detect.scale[:d]
        return np.asarray(vectors, dtype=np.float64) @ w.T if len(vectors) else np.zeros((0, len(self.indicator_ids)))

    def predict(self, x: np.ndarray, text: str | None = None) -> Prediction:
        """x: the story's features (`grader.features.story_features`); text: its kept sentences
        (`grader.ngrams.story_text`), which the phrasing detectors read."""
        p_ind = self.indicator_probabilities(x)
        probs = {i: round(float(v), 4) for i, v in zip(self.indicator_ids, p_ind)}
        p_work = float(sigmoid(self.work.logits(x))[0])
        if p_work < self.work_at:
            return Prediction(None, round(1.0 - p_work, 4), None, True, round(p_work, 4), probs)
        z = self.level.logits(self.level_inputs(p_ind, text))
        q = np.exp(z - z.max())
        q /= q.sum()
        level = min(int(np.searchsorted(np.cumsum(q), 0.5)), len(q) - 1)  # the median level
        return Prediction(level, round(float(q[level]), 4), [round(float(v), 4) for v in q], False, round(p_work, 4), probs)


def load_model(path: Path) -> LevelModel:
    data = json.loads(path.read_text(encoding="utf-8"))
    if data.get("format") != FORMAT:
        raise ValueError(f"{path}: unsupported model format {data.get('format')!r} (expected {FORMAT}): run `grader train`")
    return model_from_artifact(data)


def model_from_artifact(data: dict[str, Any]) -> LevelModel:
    """The model an artifact (`artifact`, or its JSON file read back) describes. Its version names
    the training data (`data_hash`) and the fitted numbers, so a model retrained on the same data
    with other code or settings is told apart: "level-model <data 12 hex>+<weights 6 hex>"."""
    layers = {k: Layer.from_dict(data[k]) for k in ("detect", "work", "level")}
    centres = {lang: np.asarray(v, dtype=np.float64) for lang, v in sorted(data["centres"].items())}
    weights = hashlib.sha256(json.dumps(data["thresholds"], sort_keys=True).encode())
    ngram = NgramLayer.from_dict(data["ngram"]) if data.get("ngram") else None
    for a in [
        *(getattr(layer, f) for layer in layers.values() for f in ("mean", "scale", "coef", "intercept")),
        *centres.values(), *(ngram.arrays() if ngram else []),
    ]:
        weights.update(np.ascontiguousarray(a, dtype=np.float64).tobytes())
    if ngram:
        weights.update("\n".join([*ngram.outputs, *ngram.vocabulary]).encode("utf-8"))
    return LevelModel(
        rubric_id=data["rubric_id"], fingerprint=data["rubric_fingerprint"], indicator_ids=tuple(data["indicator_ids"]),
        features=tuple(data["features"]), embedding_dim=int(data["embedding_dim"]), **layers,
        met_at=float(data["thresholds"]["met"]), partial_at=float(data["thresholds"]["partial"]),
        work_at=float(data["thresholds"]["work"]), version=f"level-model {data['data_hash'][:12]}+{weights.hexdigest()[:6]}",
        centres=centres, ngram=ngram,
    )


@lru_cache(maxsize=8)
def model_for(rubric_id: str, models_dir: Path = MODELS_DIR) -> LevelModel | None:
    path = models_dir / f"{rubric_id}.json"
    return load_model(path) if path.is_file() else None


def usable_model(rubric: Rubric, dim: int) -> LevelModel | None:
    """The shipped model for this rubric, or None when there is none, it was trained on another
    version of the rubric's indicators or on other features: then the indicator rule
    alone sets the level."""
    m = model_for(rubric.id)
    if m is None or m.fingerprint != rubric_fingerprint(rubric) or list(m.features) != feature_names(rubric, dim):
        return None
    return m


def artifact(
    rubric: Rubric, features: list[str], dim: int, detect: Layer, work: Layer, level: Layer,
    thresholds: dict[str, float], meta: dict[str, Any], centres: Mapping[str, np.ndarray],
    ngram: NgramLayer | None = None,
) -> dict[str, Any]:
    return {
        "format": FORMAT, "rubric_id": rubric.id, "rubric_version": rubric.version,
        "rubric_fingerprint": rubric_fingerprint(rubric), "indicator_ids": [i.id for i in rubric.indicators()],
        "features": features, "embedding_dim": dim, "thresholds": thresholds, **meta,
        "centres": {lang: np.round(np.asarray(v, dtype=np.float64), DIGITS).tolist() for lang, v in sorted(centres.items())},
        "detect": detect.to_dict(), "work": work.to_dict(), "level": level.to_dict(),
        **({"ngram": ngram.to_dict()} if ngram is not None else {}),
    }
