"""The trained level model (issue 3). Until one ships for a rubric, the rule sets the level."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass
class Prediction:
    level: int | None
    confidence: float
    distribution: list[float] | None
    insufficient: bool = False


def model_version() -> str | None:
    return None


def predict_level(rubric: Any, analysis: Any, judgments: Any) -> Prediction | None:
    return None
