import pytest

from grader.levels import combine_confidence, credits, level_of, mixed_signals, rule_level


@pytest.mark.parametrize(
    "statuses, expected",
    [
        ({}, None),
        ({"co.L2.1": "not_met", "co.L3.1": "no_evidence"}, None),  # nothing shown
        ({"co.L0.1": "met"}, 0),
        ({"co.L0.1": "partial"}, 0),
        ({"co.L1.2": "met"}, 1),
        ({"co.L2.2": "met"}, 2),
        ({"co.L2.2": "partial", "co.L2.1": "partial"}, 2),  # two partials reach a level
        ({"co.L2.2": "partial"}, 1),  # one partial at LV.2 is only awareness
        ({"co.L2.2": "met", "co.L3.2": "met"}, 3),
        ({"co.L3.2": "met"}, 2),  # LV.3 without LV.2 support is capped at 2
        ({"co.L3.2": "met", "co.L3.3": "met"}, 3),  # ... unless two of its own indicators are met
        ({"co.L2.1": "partial", "co.L3.2": "met"}, 3),  # partial support is enough
        ({"co.L2.2": "met", "co.L3.2": "met", "co.L4.2": "met", "co.L5.4": "met"}, 5),
        ({"co.L2.2": "met", "co.L3.2": "met", "co.L5.4": "met"}, 3),  # LV.5 needs LV.4 support
        ({"co.L0.2": "met", "co.L2.2": "met"}, 2),  # grade the behaviour shown
        ({"co.L0.2": "met", "co.L1.1": "partial"}, 0),
        ({"co.L4.1": "partial"}, 2),  # a lone partial claim above LV.2 is capped
    ],
)
def test_rule_level(statuses: dict[str, str], expected: int | None) -> None:
    assert rule_level(statuses, 5) == expected


def test_credits_and_level_of() -> None:
    assert level_of("co.L3.2") == 3
    assert credits({"co.L2.1": "met", "co.L2.2": "partial", "co.L0.1": "no_evidence"}, 5) == [0, 0, 1.5, 0, 0, 0]
    with pytest.raises(ValueError):
        level_of("co.p1")


def test_mixed_and_confidence() -> None:
    assert mixed_signals({"co.L0.2": "met", "co.L2.2": "met"}, 2)
    assert not mixed_signals({"co.L0.2": "met"}, 0)
    assert combine_confidence(0.8, 3, 3) == 0.8
    assert combine_confidence(0.8, 3, 2) == 0.4
    assert combine_confidence(0.9, 1, 4) == 0.225
    assert combine_confidence(0.8, None, 2) == 0.8
