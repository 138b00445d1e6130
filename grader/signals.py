"""Explainable behaviour signals: rubric cue matches per sentence, negation, person, concreteness.

Every signal points at sentences of the story, so whatever uses it can show its evidence.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from grader.evidence import Sentence
from grader.types import Rubric

NEGATION = re.compile(
    r"\b(not|never|no one|nobody|didn't|don't|doesn't|wasn't|weren't|couldn't|can't|won't|without|neither|nor)\b"
    r"|(?:않|안\s|못|없|말고|아니)",
    re.I,
)
FIRST_PERSON = re.compile(r"\b(i|i'm|i've|i'd|my|me|myself|we|we've|we're|our|us)\b|(?:저는|제가|저희|나는|내가|우리|저도|제\s)", re.I)
THIRD_PERSON = re.compile(r"\b(he|she|his|her|him|they|their|them)\b|(?:그는|그녀|그가|그의|팀장님은|선배는|동료는|그분)", re.I)
NUMBER = re.compile(r"\d+(?:[.,]\d+)?\s*(?:%|퍼센트|명|건|개|배|x|×|users?|customers?|people|hours?|days?|weeks?|months?|시간|일|주|개월|달|년)?", re.I)
REPEAT = re.compile(r"\b(every|each|weekly|monthly|daily|regularly|ongoing|routine|since then|still)\b|(?:매주|매달|매일|매월|정기|꾸준|지속|계속|주기적|그 이후로|지금도)", re.I)
INTENT = re.compile(r"\b(should|would like|want to|plan to|hope|believe|always try|i think|must)\b|(?:하고 싶|해야|생각합니다|믿습니다|노력하겠|것 같|려고 합니다|할 예정)", re.I)


@dataclass(frozen=True)
class CompiledCues:
    ids: tuple[str, ...]
    levels: np.ndarray  # (n_ind,)
    patterns: tuple[tuple[re.Pattern[str], ...], ...]  # per indicator, both languages


_COMPILED: dict[str, CompiledCues] = {}


def _compile(rubric: Rubric) -> CompiledCues:
    ids, levels, pats = [], [], []
    for ind in rubric.indicators():
        ids.append(ind.id)
        levels.append(ind.level)
        pats.append(tuple(re.compile(p, re.I) for p in (*ind.cues.ko, *ind.cues.en)))
    return CompiledCues(tuple(ids), np.asarray(levels), tuple(pats))


def compiled_cues(rubric: Rubric) -> CompiledCues:
    """Compiled cue patterns of a rubric, cached per rubric id, version and content."""
    key = f"{rubric.id}@{rubric.version}#{hash(rubric.model_dump_json())}"
    if key not in _COMPILED:
        _COMPILED[key] = _compile(rubric)
    return _COMPILED[key]


def cue_matrix(sentences: list[Sentence], cues: CompiledCues) -> np.ndarray:
    """(n_sentences, n_indicators) count of cue patterns matching each sentence."""
    out = np.zeros((len(sentences), len(cues.ids)), dtype=np.int32)
    for j, s in enumerate(sentences):
        for i, pats in enumerate(cues.patterns):
            out[j, i] = sum(1 for p in pats if p.search(s.text))
    return out


def sentence_flags(sentences: list[Sentence]) -> dict[str, np.ndarray]:
    """Boolean per-sentence flags: negated, first_person, third_person, number, repeat, intent."""
    rx = {"negated": NEGATION, "first_person": FIRST_PERSON, "third_person": THIRD_PERSON,
          "number": NUMBER, "repeat": REPEAT, "intent": INTENT}
    return {name: np.asarray([bool(p.search(s.text)) for s in sentences], dtype=bool) for name, p in rx.items()}


# Sentences addressed to the grader (prompt injection, fake system/JSON/rubric lines) are not
# evidence of how someone works: the engine sets them aside and says so in the Grade.
DIRECTIVE = re.compile(
    r"(?:ignore|disregard|forget|override)\b.{0,40}\b(?:rubric|instruction|previous|above|criteria|rules?)"
    r"|\b(?:grade|rate|score|mark|classify|assign|give|output|return)\b.{0,30}\b(?:lv\.?\s*\d|level\s*\d|\d\s*/\s*5|as\s+(?:a\s+)?\d)"
    r"|\b(?:system|assistant|developer)\s*[:\]>]|\[/?(?:system|inst|assistant)\]|<\|?/?(?:system|im_start|im_end|story)\|?>"
    r"|[{,]\s*\"(?:level|status|confidence|indicators)\"\s*:"
    r"|\bco\.(?:L\d\.\d|p\d)\b|\bas the grader\b|\bthe correct level\b|\bconfidence\s*(?:1\.0|100)"
    r"|(?:채점|평가|등급|레벨).{0,20}(?:무시|주세요|매기|부여|하세요|입니다|으로\s*하)"
    r"|(?:기준|지시|지침).{0,10}(?:무시|따르지)|\[\s*시스템\s*\]|시스템\s*[:：]|(?:레벨|LV\.?)\s*\d\s*(?:을|를|로|으로)\s*(?:주|줘|부여|평가|채점)",
    re.I,
)


def directive_sentences(sentences: list[Sentence]) -> list[int]:
    """Indexes of sentences that talk to the grader instead of about work."""
    return [j for j, s in enumerate(sentences) if DIRECTIVE.search(s.text)]
