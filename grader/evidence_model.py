"""Evidence matchers: which sentence of a story shows an indicator (README "Evidence sentences").

One linear score per rubric indicator over a sentence's e5 vector (centred by the story's own
mean, so the score says which sentence of this story, not which story or which language),
fitted with scikit-learn's logistic regression on the train split's gold evidence sentences
(`gold_evidence` in the eval set: the sentences that show each indicator the gold label names;
the other sentences of the same story are the negatives).

They only choose which sentences a Grade quotes for an indicator the detectors found: the
level and the statuses never read them. `grader train` fits them right after the level model,
from the same analysis pass, and writes them beside it (`<rubric>.evidence.json`, JSON, never
pickled); the engine uses them when their indicators and embedding size are those of the level
model in use, and ranks evidence without them otherwise.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

FORMAT = 1
MATCHER_C = 1.0  # inverse regularisation, chosen on dev (0.1 and 10 within 0.02)
DIGITS = 6  # weights are rounded so the file is the same on every run


def _centre_story(vectors: np.ndarray) -> np.ndarray:
    v = np.asarray(vectors, dtype=np.float64)
    return v - v.mean(axis=0, keepdims=True) if len(v) else v


def quote_spans(text: str, quotes: Any) -> list[tuple[int, int]]:
    """(start, end) of every occurrence in `text` of each quote (non-strings and blanks skipped)."""
    spans: list[tuple[int, int]] = []
    for q in quotes or []:
        at = text.find(q) if isinstance(q, str) and q else -1
        while at >= 0:
            spans.append((at, at + len(q)))
            at = text.find(q, at + 1)
    return spans


def gold_targets(text: str, spans: Sequence[tuple[int, int]], gold: Any) -> dict[str, list[int]]:
    """{indicator: indices of the story's sentences (by span) that overlap its gold quotes}."""
    out: dict[str, list[int]] = {}
    if not isinstance(gold, dict):
        return out
    for ident, quotes in gold.items():
        hits = quote_spans(text, quotes)
        out[str(ident)] = [k for k, (s, e) in enumerate(spans) if any(s < he and hs < e for hs, he in hits)]
    return out


def evidence_hash(rows: Sequence[tuple[str, str, Any]]) -> str:
    """Hash of (id, text, gold_evidence) of the stories the matchers were fitted on."""
    h = hashlib.sha256()
    for ident, text, gold in sorted(rows, key=lambda r: r[0]):
        h.update(json.dumps({"id": ident, "text": text, "gold": gold}, ensure_ascii=False, sort_keys=True).encode())
    return h.hexdigest()


def fit_matchers(
    stories: Sequence[tuple[np.ndarray, dict[str, list[int]]]], indicator_ids: Sequence[str], dim: int,
) -> tuple[np.ndarray, np.ndarray, dict[str, int]]:
    """stories: (sentence vectors (S, dim), centred here by their story's mean; {indicator: gold
    sentence indices}). Returns
    coef (I, dim), intercept (I,) and the number of stories per indicator. An indicator without
    both gold and other sentences in some story keeps zero weights (it then ranks nothing)."""
    from sklearn.linear_model import LogisticRegression

    coef = np.zeros((len(indicator_ids), dim))
    intercept = np.zeros(len(indicator_ids))
    counts: dict[str, int] = {}
    for i, ident in enumerate(indicator_ids):
        xs, ys = [], []
        for vectors, targets in stories:
            gold = targets.get(ident)
            if not gold or len(vectors) < 2:
                continue
            xs.append(_centre_story(vectors))
            y = np.zeros(len(vectors), dtype=np.int64)
            y[gold] = 1
            ys.append(y)
        counts[ident] = len(xs)
        if not xs:
            continue
        y = np.concatenate(ys)
        if y.min() == y.max():
            continue
        m = LogisticRegression(C=MATCHER_C, max_iter=5000, solver="lbfgs").fit(np.vstack(xs), y)
        coef[i] = m.coef_[0]
        intercept[i] = m.intercept_[0]
    return np.round(coef, DIGITS), np.round(intercept, DIGITS), counts


def artifact(
    rubric_id: str, rubric_version: int, indicator_ids: Sequence[str], coef: np.ndarray, intercept: np.ndarray,
    meta: Mapping[str, Any],
) -> dict[str, Any]:
    return {
        "format": FORMAT, "kind": "evidence-matchers", "rubric_id": rubric_id, "rubric_version": rubric_version,
        "indicator_ids": list(indicator_ids), "embedding_dim": int(coef.shape[1]), "C": MATCHER_C,
        "coef": coef.tolist(), "intercept": intercept.tolist(), **meta,
    }


@dataclass(frozen=True)
class EvidenceMatchers:
    indicator_ids: tuple[str, ...]
    coef: np.ndarray  # (n_indicators, dim)

    def scores(self, vectors: np.ndarray) -> np.ndarray:
        """(n_sentences, n_indicators): how much each sentence of a story (its e5 vectors, centred
        here by the story's mean) looks like the evidence of each indicator."""
        if not len(vectors):
            return np.zeros((0, len(self.indicator_ids)))
        return _centre_story(vectors) @ self.coef.T


def load_matchers(path: Path) -> EvidenceMatchers:
    data = json.loads(path.read_text(encoding="utf-8"))
    if data.get("format") != FORMAT or data.get("kind") != "evidence-matchers":
        raise ValueError(f"{path}: not an evidence-matchers file of format {FORMAT}: run `grader train`")
    ids = tuple(data["indicator_ids"])
    coef = np.asarray(data["coef"], dtype=np.float64).reshape(len(ids), int(data["embedding_dim"]))
    return EvidenceMatchers(ids, coef)


def matchers_path(rubric_id: str) -> Path:
    """Beside the level model (`grader train` writes STEM.evidence.json next to STEM.json)."""
    from grader.model import MODELS_DIR

    return MODELS_DIR / f"{rubric_id}.evidence.json"


@lru_cache(maxsize=8)
def matchers_for(rubric_id: str) -> EvidenceMatchers | None:
    path = matchers_path(rubric_id)
    return load_matchers(path) if path.is_file() else None


def usable_matchers(model: Any) -> EvidenceMatchers | None:
    """The shipped matchers of the level model's rubric, or None when there are none or they were
    fitted for other indicators or another embedding size: then evidence is ranked without them."""
    m = matchers_for(model.rubric_id)
    if m is None or m.indicator_ids != tuple(model.indicator_ids) or m.coef.shape[1] != model.embedding_dim:
        return None
    return m
