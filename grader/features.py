"""Explainable features of one analysed story, the input of the trained level model.

Two blocks, each with names that say what they measure:
- behaviour signals: per-level credit from the rubric's cue matches, cue hits and similarity per
  indicator, the indicator rule's level, sentence flags (first/third person, numbers, repetition,
  intentions, negation, the writer speaking as provider or as customer) and length. Each points
  back at sentences the Grade can show.
- the story embedding (`e5_*`): the mean of the e5 sentence vectors, each first moved by its
  language's centre (the mean training sentence of that language, stored in the model), then
  normalised. Without the centring a story's vector mostly says which language it is written in
  (two unrelated Korean stories are more alike than a Korean story and its English translation),
  and a detector reading it grades a translation differently. A linear score over it is the mean
  of the same score over the (centred) sentences, so every sentence's share can be shown as evidence.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from grader.levels import CREDIT, level_of, rule_level
from grader.signals import affirmed_hits
from grader.types import IndicatorJudgment, Rubric

FLAGS = ("first_person", "third_person", "number", "repeat", "intent", "negated", "provider", "customer")
ANY_FLAGS = ("first_person", "provider", "customer")  # also "any_<flag>": shown in at least one sentence


def signal_names(rubric: Rubric) -> list[str]:
    levels = range(rubric.max_level + 1)
    ids = [i.id for i in rubric.indicators()]
    names = [f"{k}_L{lv}" for lv in levels for k in ("credit", "met", "partial", "notmet")]
    names += [f"cue_{i}" for i in ids] + [f"rel_{i}" for i in ids] + [f"relmax_L{lv}" for lv in levels]
    names += [f"rule_L{lv}" for lv in levels] + ["rule_none"]
    names += [f"frac_{f}" for f in FLAGS] + [f"any_{f}" for f in ANY_FLAGS] + ["log_sentences", "log_chars"]
    return names


def feature_names(rubric: Rubric, dim: int) -> list[str]:
    """Names of `story_features`: the e5 block first, then the behaviour signals."""
    return [f"e5_{k}" for k in range(dim)] + signal_names(rubric)


def signals(rubric: Rubric, analysis: Any, judgments: list[IndicatorJudgment]) -> list[float]:
    """Sentences set aside as addressed to the grader (prompt injection) count nowhere: not in
    the length, not as a flag, so an inserted instruction cannot move the level."""
    a = analysis
    max_level = rubric.max_level
    status = {j.id: j.status for j in judgments}
    out: list[float] = []
    for lv in range(max_level + 1):
        mine = [s for i, s in status.items() if level_of(i) == lv]
        out += [
            sum(CREDIT[s] for s in mine),
            sum(s == "met" for s in mine),
            sum(s == "partial" for s in mine),
            sum(s == "not_met" for s in mine),
        ]
    n = len(a.sentences)
    for i, ident in enumerate(a.compiled.ids):
        affirmed = affirmed_hits(a.cues[:, i], a.denied[:, i], level_of(ident)) if n else []
        out.append(math.log1p(len(affirmed)))
    rel_max = a.rel.max(axis=0) if n else np.zeros(len(a.compiled.ids))
    out += [float(x) for x in rel_max]
    levels = np.asarray(a.compiled.levels)
    out += [float(rel_max[levels == lv].max()) if n else 0.0 for lv in range(max_level + 1)]
    rule = rule_level(status, max_level)
    out += [float(rule == lv) for lv in range(max_level + 1)] + [float(rule is None)]
    out += [float(a.flags[f].mean()) if n else 0.0 for f in FLAGS]
    n_chars = sum(s.end - s.start for s in a.sentences)
    out += [float(a.flags[f].any()) if n else 0.0 for f in ANY_FLAGS]
    out += [math.log1p(n), math.log1p(n_chars)]
    return out


LANGUAGES = ("ko", "en")  # what grader.evidence.detect_language says of a sentence
Centres = Mapping[str, np.ndarray]  # language -> mean training sentence vector


def centred(vectors: np.ndarray, langs: Sequence[str], centres: Centres | None) -> np.ndarray:
    """Each sentence vector minus its language's centre (unchanged without centres)."""
    v = np.asarray(vectors, dtype=np.float64)
    if not centres or not len(v):
        return v
    return v - np.stack([centres[lang] for lang in langs])


def story_vector(vectors: np.ndarray, langs: Sequence[str], centres: Centres | None, dim: int) -> np.ndarray:
    """The normalised mean of the centred sentence vectors (zeros for a story with no sentence)."""
    if not len(vectors):
        return np.zeros(dim)
    mean = centred(vectors, langs, centres).mean(axis=0)
    return mean / (np.linalg.norm(mean) or 1.0)


def story_features(
    rubric: Rubric, analysis: Any, judgments: list[IndicatorJudgment], centres: Centres | None = None
) -> np.ndarray:
    """Feature vector in the order of `feature_names` (float64, rounded for reproducibility)."""
    vec = story_vector(analysis.vectors, analysis.langs, centres, len(analysis.story_vector))
    return features_of(vec, signals(rubric, analysis, judgments))


def features_of(vector: np.ndarray, signal_values: Sequence[float]) -> np.ndarray:
    return np.round(np.asarray([float(x) for x in vector] + list(signal_values), dtype=np.float64), 6)
