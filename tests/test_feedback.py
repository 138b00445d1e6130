"""Gaps and next steps follow the indicator statuses shown beside the level."""

from __future__ import annotations

from grader.config import Settings
from grader.feedback import write_feedback
from grader.grading import get_rubric
from grader.types import Evidence, IndicatorJudgment

STORY = "I answered a few customer emails last week when my manager asked me to."


def _judge(status: dict[str, str]) -> list[IndicatorJudgment]:
    ev = [Evidence(quote=STORY, start=0, end=len(STORY))]
    return [IndicatorJudgment(id=i, status=s, evidence=ev if s != "no_evidence" else []) for i, s in status.items()]


def test_next_level_behaviour_met_by_the_detectors_still_leaves_a_gap() -> None:
    """LV.1 with the LV.2 detectors saying met or partly met: the story used to get "Gaps: none"."""
    rubric = get_rubric(None, Settings.from_env())
    fb = write_feedback(rubric, _judge({"co.L1.3": "met", "co.L2.1": "partial", "co.L2.2": "met", "co.L2.3": "met",
                                        "co.L2.4": "partial"}), 1, "en")
    assert len(fb.gaps) == 1 and fb.gaps[0].startswith("Not shown yet for LV.2") and "Actively weighs" in fb.gaps[0]
    assert not any("(Limit)" in x for x in fb.gaps + fb.next_steps)  # where a level stops is not a step to take
    every = write_feedback(rubric, _judge({"co.L2.1": "met", "co.L2.2": "met", "co.L2.3": "met"}), 1, "ko")
    assert len(every.gaps) == 1 and "윤곽만" in every.gaps[0]
