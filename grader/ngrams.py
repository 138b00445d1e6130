"""Phrasing detectors: the level model's fourth layer, over the story's own words.

The e5 detectors read a story through one 384-number summary per sentence, which tells the
topic well and the turn of a sentence poorly ("I gave up my commission for the customer" and
"I only cared about my commission" sit close together). These detectors read character n-grams
instead: TF-IDF over 2–4-character pieces within words (scikit-learn's `char_wb`, which needs
no word splitter for Korean), and one logistic score per rubric indicator plus one per level
boundary ("above LV.k"). Their probabilities are extra inputs of the level layer; the
indicators' statuses still come from the e5 detectors and the cues, and each sentence's own
scores are one of the signals that choose the quoted evidence (`evidence_rank`).

Only the sentences the grade is made of are read: sentences addressed to the grader (prompt
injection) and repeated sentences are dropped before, as everywhere else.

Shipped inside the model JSON (vocabulary, idf, weights), never pickled; `grader train` refits
it deterministically (`grader.training.fit_ngrams`: lbfgs, fixed folds, rounded weights).
Grading applies the stored layer with numpy alone (`char_wb_ngrams` and `NgramLayer.logits`):
importing scikit-learn's text module takes one to three seconds, which every `grader grade`
would otherwise pay; tests check that the scores equal scikit-learn's vectoriser on the same
vocabulary.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

# vectoriser settings and inverse regularisation, chosen by cross-validation over train+dev
# (README "Trained level model")
ANALYZER = "char_wb"
NGRAM_RANGE = (2, 4)
MIN_DF = 2
MAX_FEATURES = 20000
NGRAM_C = 1.0


def char_wb_ngrams(text: str, lo: int = NGRAM_RANGE[0], hi: int = NGRAM_RANGE[1]) -> Iterator[str]:
    """The n-grams scikit-learn's `char_wb` analyser counts (lowercased text): within each
    whitespace-separated word padded with one space on each side, every piece of lo..hi
    characters; a padded word shorter than n gives itself once."""
    for word in text.lower().split():
        w = f" {word} "
        for n in range(lo, hi + 1):
            if len(w) <= n:
                yield w
                break
            for start in range(len(w) - n + 1):
                yield w[start : start + n]


def story_text(sentences: Sequence[Any]) -> str:
    """What the phrasing detectors read: the kept sentences, joined by spaces."""
    return " ".join(s.text for s in sentences)


def output_names(indicator_ids: Sequence[str], max_level: int) -> list[str]:
    return [*indicator_ids, *(f"above_L{k}" for k in range(max_level))]


def ngram_targets(indicator_targets: np.ndarray, levels: Sequence[int | None], max_level: int) -> np.ndarray:
    """(n, n_indicators + max_level) 0/1: the indicators the gold label names, then
    level > k for k = 0..max_level-1 (all 0 for a text without a level, e.g. not work)."""
    above = np.asarray([[lv is not None and lv > k for k in range(max_level)] for lv in levels], dtype=np.int64)
    return np.hstack([np.asarray(indicator_targets, dtype=np.int64), above.reshape(len(levels), max_level)])


@dataclass(frozen=True)
class NgramLayer:
    """probabilities = sigmoid(tfidf(text) @ coef.T + intercept), one per output name."""

    outputs: tuple[str, ...]
    vocabulary: tuple[str, ...]
    idf: np.ndarray
    coef: np.ndarray  # (n_outputs, n_vocabulary)
    intercept: np.ndarray
    _index: dict[str, int] = field(default_factory=dict, compare=False, repr=False)  # n-gram -> column, built once

    def tfidf(self, text: str) -> tuple[np.ndarray, np.ndarray]:
        """(columns, values) of the text's TF-IDF row: (1 + log count) × idf, L2-normalised."""
        if not self._index:
            self._index.update((g, k) for k, g in enumerate(self.vocabulary))
        counts = Counter(self._index[g] for g in char_wb_ngrams(text) if g in self._index)
        cols = np.fromiter(counts.keys(), dtype=np.int64, count=len(counts))
        vals = np.fromiter((1.0 + math.log(c) for c in counts.values()), dtype=np.float64, count=len(counts)) * self.idf[cols]
        norm = float(np.sqrt(vals @ vals))
        return cols, (vals / norm if norm > 0 else vals)

    def logits(self, texts: Sequence[str]) -> np.ndarray:
        out = np.empty((len(texts), len(self.outputs)))
        for r, text in enumerate(texts):
            cols, vals = self.tfidf(text)
            out[r] = self.coef[:, cols] @ vals + self.intercept
        return out

    def to_dict(self) -> dict[str, Any]:
        """The arrays as fitted (`grader.training.fit_ngrams` rounds them)."""
        return {
            "analyzer": ANALYZER, "ngram_range": list(NGRAM_RANGE), "sublinear_tf": True, "lowercase": True,
            "outputs": list(self.outputs), "vocabulary": list(self.vocabulary),
            "idf": self.idf.tolist(), "coef": self.coef.tolist(), "intercept": self.intercept.tolist(),
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "NgramLayer":
        settings = (d.get("analyzer"), tuple(d.get("ngram_range", ())), d.get("sublinear_tf"), d.get("lowercase"))
        if settings != (ANALYZER, NGRAM_RANGE, True, True):  # what char_wb_ngrams and tfidf compute
            raise ValueError("the model's phrasing detectors were fitted with other vectoriser settings: run `grader train`")
        return cls(
            tuple(d["outputs"]), tuple(d["vocabulary"]), np.asarray(d["idf"], dtype=np.float64),
            np.asarray(d["coef"], dtype=np.float64).reshape(len(d["outputs"]), len(d["vocabulary"])),
            np.asarray(d["intercept"], dtype=np.float64),
        )

    def arrays(self) -> list[np.ndarray]:
        return [self.idf, self.coef, self.intercept]
