"""A small valid rubric (as a dict) for tests that must not depend on the real corpus."""

from __future__ import annotations

import copy
from typing import Any

SIZES = {0: 3, 1: 3, 2: 4, 3: 3, 4: 4, 5: 4}


def rubric_dict() -> dict[str, Any]:
    levels = []
    for lv, n in SIZES.items():
        indicators = [
            {"id": f"co.L{lv}.{k}", "text": {"ko": f"지표 {lv}.{k}", "en": f"indicator {lv}.{k}"}, "cues": {"ko": [], "en": []}}
            for k in range(1, n + 1)
        ]
        levels.append(
            {
                "level": lv,
                "name": {"ko": f"레벨 {lv}", "en": f"Level {lv}"},
                "summary": {"ko": "요약", "en": "summary"},
                "indicators": indicators,
                "examples": [{"ko": "예시", "en": "example"}],
            }
        )
    return {
        "id": "customer-obsession",
        "version": 1,
        "title": {"ko": "고객 집착", "en": "Customer obsession"},
        "source": {"title": "Test source", "author": "Team", "date": "2023-06-13"},
        "principles": [{"id": "co.p1", "text": {"ko": "원칙", "en": "principle"}}],
        "levels": levels,
    }


def mutated(fn: Any) -> dict[str, Any]:
    d = copy.deepcopy(rubric_dict())
    fn(d)
    return d
