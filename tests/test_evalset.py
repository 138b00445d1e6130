"""The labeled stories in evals/: contract, composition and the fixed split."""

from __future__ import annotations

from collections import Counter, defaultdict
from pathlib import Path

import pytest

from grader.config import Settings
from grader.grading import get_rubric
from grader.training import SPLITS, label_of, read_items, split_of

EVALS = Path(__file__).resolve().parents[1] / "evals"
FILES = {s: EVALS / f"customer-obsession.{s}.jsonl" for s in SPLITS}


@pytest.fixture(scope="module")
def items():  # type: ignore[no-untyped-def]
    return read_items(FILES.values())  # validates every line against the contract, ids unique


def test_each_file_holds_exactly_its_split(items) -> None:  # type: ignore[no-untyped-def]
    for split, path in FILES.items():
        for it in read_items([path]):
            assert split_of(it) == split, f"{it.id} belongs to {split_of(it)}, not {split}"


def test_pairs_never_straddle_splits(items) -> None:  # type: ignore[no-untyped-def]
    groups: dict[str, set[str]] = defaultdict(set)
    for it in items:
        if it.pair:
            groups[it.pair].add(split_of(it))
    assert groups and all(len(s) == 1 for s in groups.values())


def test_composition_matches_the_labeling_brief(items) -> None:  # type: ignore[no-untyped-def]
    stories = [it for it in items if it.level is not None]
    assert len(stories) >= 480
    levels = Counter(it.level for it in stories)
    assert all(levels[lv] >= 80 for lv in range(6)), levels
    langs = Counter(it.lang for it in items)
    assert langs["ko"] >= 0.4 * len(items) and langs["en"] >= 0.4 * len(items), langs
    roles = {it.extras().get("role") for it in stories} - {None, "none"}
    assert len(roles) >= 12
    assert all(80 <= len(it.text) <= 2500 for it in items)
    assert {it.extras().get("register") for it in stories} >= {"formal", "casual"}
    rubric = get_rubric("customer-obsession", Settings.from_env())
    known = {i.id for i in rubric.indicators()} | {p.id for p in rubric.principles}
    for it in stories:
        assert it.indicators and set(it.indicators) <= known, it.id
        assert it.extras().get("rationale"), it.id


def test_hard_cases_pairs_and_injections_are_covered(items) -> None:  # type: ignore[no-untyped-def]
    tags = Counter(t for it in items for t in it.tags)
    for tag in ("hospitality-one-off", "claims-no-behaviour", "heroics-no-insight", "internal-over-customer",
                "every-request", "data-no-action", "mixed", "third-person", "not-work"):
        assert tags[tag] >= 15, (tag, tags[tag])
    assert tags["injection"] >= 30
    pairs: dict[str, list] = defaultdict(list)
    for it in items:
        if it.pair:
            pairs[it.pair].append(it)
    translation = [m for m in pairs.values() if any("translation" in it.tags for it in m)]
    paraphrase = [m for m in pairs.values() if any("paraphrase" in it.tags for it in m)]
    assert len(translation) >= 40 and len(paraphrase) >= 20
    for members in translation:
        assert {it.lang for it in members} == {"ko", "en"}
    for members in pairs.values():
        assert len({it.level for it in members}) == 1, f"pair {members[0].pair} members differ in gold level"


def test_not_work_texts_are_unlabeled_and_expect_no_level(items) -> None:  # type: ignore[no-untyped-def]
    not_work = [it for it in items if "not-work" in it.tags]
    assert not_work and all(it.level is None and label_of(it) == "none" for it in not_work)
