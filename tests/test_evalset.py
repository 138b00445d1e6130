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


def test_held_out_short_stories_are_complete_pairs_outside_the_splits(items) -> None:  # type: ignore[no-untyped-def]
    """evals/candidates/h-short-stories.jsonl: labeled short stories kept out of training (README
    "Labeled stories"); each is valid, a ko/en translation pair, with indicators of the rubric,
    and none of their ids or texts is in the splits."""
    held = read_items([EVALS / "candidates" / "h-short-stories.jsonl"])
    assert len(held) >= 100
    in_splits = {it.id for it in items} | {it.text for it in items}
    assert not [it.id for it in held if it.id in in_splits or it.text in in_splits]
    rubric = get_rubric(None, Settings.from_env())
    ids = {i.id for i in rubric.indicators()} | {p.id for p in rubric.principles}  # as in the splits
    pairs: dict[str, list[str]] = defaultdict(list)
    for it in held:
        assert it.level is not None and it.indicators and set(it.indicators) <= ids, it.id
        assert "short" in it.tags and "translation" in it.tags and 80 <= len(it.text) <= 2500, it.id
        pairs[str(it.pair)].append(str(it.lang))
    assert all(sorted(langs) == ["en", "ko"] for langs in pairs.values())
    assert set(Counter(it.level for it in held)) == set(range(6))


def test_everyday_accounts_are_not_work_texts_outside_the_splits(items) -> None:  # type: ignore[no-untyped-def]
    """evals/candidates/e7-everyday.jsonl: first-person accounts of private life, kept out of
    training for now (README "Everyday accounts of private life"). Each expects
    insufficient_evidence, names no indicator, is in Korean or English, and is not in the splits."""
    e7 = read_items([EVALS / "candidates" / "e7-everyday.jsonl"])
    assert len(e7) == 90 and Counter(it.lang for it in e7) == {"en": 45, "ko": 45}
    in_splits = {it.id for it in items} | {it.text for it in items}
    assert not [it.id for it in e7 if it.id in in_splits or it.text in in_splits]
    for it in e7:
        assert it.id.startswith("e7-") and label_of(it) == "none" and not it.indicators, it.id
        assert it.extras().get("expected_status") == "insufficient_evidence", it.id
        assert "not-work" in it.tags and "everyday-narrative" in it.tags and 80 <= len(it.text) <= 2500, it.id


def test_translations_of_train_stories_pair_with_their_originals(items) -> None:  # type: ignore[no-untyped-def]
    """evals/candidates/t-train-translations.jsonl: a translation of every train story that has no
    other telling, kept out of training (README "Translations as training data"). Each names its
    original as `pair`, tells it in the other language with the same level and indicators, and
    would fall into train with it by the split rule."""
    trans = read_items([EVALS / "candidates" / "t-train-translations.jsonl"])
    by_id = {it.id: it for it in items}
    untold = [it for it in items if split_of(it) == "train" and it.level is not None and not it.pair]
    assert sorted(str(t.pair) for t in trans) == sorted(it.id for it in untold)
    in_splits = {it.text for it in items}
    for t in trans:
        orig = by_id[str(t.pair)]
        assert t.id == f"t-{orig.id}" and t.text not in in_splits, t.id
        assert {t.lang, orig.lang} == {"ko", "en"} and (t.level, t.indicators) == (orig.level, orig.indicators), t.id
        assert t.tags == [*orig.tags, "translation"] and 80 <= len(t.text) <= 2500, t.id
        assert split_of(t) == split_of(orig) == "train", t.id


def test_train_dev_and_held_out_stories_name_their_evidence_sentences(items) -> None:  # type: ignore[no-untyped-def]
    """`gold_evidence` (README "Evidence sentences"): every labeled work story of train, dev and
    the held-out short stories names, for each of its indicators, the sentences that show it
    (quotes in the text: checked on loading), and none of them is text addressed to the grader.
    Test stories have none: nothing is fitted or chosen on them."""
    from grader.evidence import split_sentences
    from grader.signals import separate_directives

    held = read_items([EVALS / "candidates" / "h-short-stories.jsonl"])
    graded = [it for it in [*items, *held] if (it in held or split_of(it) != "test") and it.level is not None]
    assert len(graded) >= 950
    assert not [it.id for it in items if split_of(it) == "test" and "gold_evidence" in it.extras()]
    for it in graded:
        gold = it.extras().get("gold_evidence")
        assert isinstance(gold, dict) and sorted(gold) == sorted(it.indicators), it.id
        assert all(1 <= len(q) <= 3 for q in gold.values()), it.id
        _, aside = separate_directives(it.text, split_sentences(it.text))
        quoted = {q for qs in gold.values() for q in qs}
        assert not [s.text for s in aside if any(s.text in q or q in s.text for q in quoted)], it.id
