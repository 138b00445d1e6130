import pytest

from grader.levels import combine_confidence, credits, level_of, mixed_signals, rule_level, split_levels


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


@pytest.mark.parametrize(
    "distribution, expected",
    [
        ([0.27, 0.0, 0.0, 0.0, 0.73, 0.0], (0, 4)),  # d-0004: two peaks far apart
        ([0.51, 0.03, 0.4, 0.03, 0.02, 0.01], (0, 2)),  # two levels apart is far enough
        ([0.5, 0.3, 0.2, 0.0, 0.0, 0.0], None),  # one peak sloping down: a close call, not a split
        ([0.3, 0.25, 0.2, 0.25, 0.0, 0.0], None),  # flat: LV.1 is no peak, and LV.1-2 no valley below LV.3
        ([0.05, 0.35, 0.1, 0.4, 0.1, 0.0], (1, 3)),
        ([0.45, 0.1, 0.0, 0.0, 0.0, 0.45], (0, 5)),
        ([0.7, 0.0, 0.0, 0.0, 0.19, 0.11], None),  # the second peak holds less than the share
        ([0.0, 0.0, 0.6, 0.4, 0.0, 0.0], None),  # adjacent levels: an ordinary close call
        ([0.3, 0.0, 0.3, 0.0, 0.4, 0.0], (2, 4)),  # the pair with the most probability
        (None, None),
        ([], None),
    ],
)
def test_split_levels_finds_two_separate_far_apart_peaks(distribution: list[float] | None, expected: tuple[int, int] | None) -> None:
    assert split_levels(distribution) == expected
