"""Explainable features of one analysed story, the input of the trained level model.

Each feature has a name that says what it measures; all but the story embedding point back
to indicator judgments or sentence flags that the Grade shows as evidence.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from grader.levels import CREDIT, level_of, rule_level
from grader.types import IndicatorJudgment, Rubric

FLAGS = ("first_person", "third_person", "number", "repeat", "intent", "negated")


def feature_names(rubric: Rubric, dim: int) -> list[str]:
    levels = range(rubric.max_level + 1)
    ids = [i.id for i in rubric.indicators()]
    names = [f"{k}_L{lv}" for lv in levels for k in ("credit", "met", "partial", "notmet")]
    names += [f"cue_{i}" for i in ids] + [f"rel_{i}" for i in ids] + [f"relmax_L{lv}" for lv in levels]
    names += [f"rule_L{lv}" for lv in levels] + ["rule_none"]
    names += [f"frac_{f}" for f in FLAGS] + ["any_first_person", "log_sentences", "log_chars", "set_aside"]
    names += [f"e5_{k}" for k in range(dim)]
    return names


def story_features(rubric: Rubric, analysis: Any, judgments: list[IndicatorJudgment], n_chars: int) -> np.ndarray:
    """Feature vector in the order of `feature_names` (float64, rounded for reproducibility)."""
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
    negated = a.flags["negated"] if n else np.zeros(0, dtype=bool)
    cue_counts = []
    for i, ident in enumerate(a.compiled.ids):
        hits = np.flatnonzero(a.cues[:, i]) if n else []
        affirmed = [j for j in hits if level_of(ident) < 2 or not negated[j]]
        cue_counts.append(math.log1p(len(affirmed)))
    out += cue_counts
    rel_max = a.rel.max(axis=0) if n else np.zeros(len(a.compiled.ids))
    out += [float(x) for x in rel_max]
    levels = np.asarray(a.compiled.levels)
    out += [float(rel_max[levels == lv].max()) if n else 0.0 for lv in range(max_level + 1)]
    rule = rule_level(status, max_level)
    out += [float(rule == lv) for lv in range(max_level + 1)] + [float(rule is None)]
    out += [float(a.flags[f].mean()) if n else 0.0 for f in FLAGS]
    out += [float(a.flags["first_person"].any()) if n else 0.0, math.log1p(n), math.log1p(n_chars), float(len(a.set_aside) > 0)]
    out += [float(x) for x in a.story_vector]
    return np.round(np.asarray(out, dtype=np.float64), 6)
