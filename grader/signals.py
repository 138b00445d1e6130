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
    # 안/못 as words of their own: not the end of 동안, 방안, 제안 … or 잘못
    r"|(?:않|(?<![가-힣])안\s|(?<!잘)못|없|말고|아니|아닙)",
    re.I,
)
# A Korean negation that only describes a noun ("데이터를 가져오지 못하는 데", "연락이 없던 고객",
# "가격이 아닌 배송") does not deny what the sentence says was done. Before 것/채/적/편/척/줄 …
# it still does ("묻지 않은 채 만들었다", "확인하지 않은 적이 많다").
KO_NOUN_NEGATION = re.compile(
    r"(?:않(?:는|은|던|을|았던|았을)|못(?:하는|한|하던|할|했던|했을)|없(?:는|던|을|었던|었을)|아닌)\s+"
    r"(?!(?:것|거|게|걸|채|적|편|척|듯|줄|뻔)(?:[이을은도만에가야로]|으로|였|예|하|했|\s|[.,!?;:]|$))"
)


def denies(text: str) -> bool:
    """Does the text hold a negation of what it says was done (`NEGATION`, leaving out Korean
    negations that only describe a noun)?"""
    return bool(NEGATION.search(KO_NOUN_NEGATION.sub(lambda m: " " * len(m.group()), text)))


FIRST_PERSON = re.compile(r"\b(i|i'm|i've|i'd|my|me|myself|we|we've|we're|our|us)\b|(?:저는|제가|저희|나는|내가|우리|저도|제\s)", re.I)
THIRD_PERSON = re.compile(r"\b(he|she|his|her|him|they|their|them)\b|(?:그는|그녀|그가|그의|팀장님은|선배는|동료는|그분)", re.I)
NUMBER = re.compile(r"\d+(?:[.,]\d+)?\s*(?:%|퍼센트|명|건|개|배|x|×|users?|customers?|people|hours?|days?|weeks?|months?|시간|일|주|개월|달|년)?", re.I)
REPEAT = re.compile(r"\b(every|each|weekly|monthly|daily|regularly|ongoing|routine|since then|still)\b|(?:매주|매달|매일|매월|정기|꾸준|지속|계속|주기적|그 이후로|지금도)", re.I)
INTENT = re.compile(r"\b(should|would like|want to|plan to|hope|believe|always try|i think|must)\b|(?:하고 싶|해야|생각합니다|믿습니다|노력하겠|것 같|려고 합니다|할 예정)", re.I)
# the writer's role: speaking as someone who serves customers (works somewhere, "our customers",
# "my team", 저희 매장, 담당) or as a customer being served (bought, called their support, the
# staff helped me, 샀다, 고객센터에, 사장님이 … 주셨다): a work story needs the first
PROVIDER = re.compile(
    r"\b(?:i|we)\s+(?:work|worked|run|ran|own|manage|managed|lead|led|handle|handled|support|serve|served)\b"
    r"|\bour\s+(?:customers?|clients?|users?|guests?|patients?|members?|buyers?|shoppers?|students?|subscribers?|residents?|callers?"
    r"|team|store|shop|clinic|product|app)\b"
    r"|\bmy\s+(?:team|shop|store|clinic|job|role|manager|boss|shift|desk|department|company|clients?|customers?|students?"
    r"|patients?|guests?|users?|sellers?|reps?)\b"
    r"|\bi'm\s+(?:a|an|the)\s+\w+(?:\s+\w+)?\s+(?:at|in|for)\b"
    r"|(?:저희|우리)\s?(?:가게|매장|팀|회사|병원|약국|학원|서비스|제품|앱|고객|손님|사용자|센터|부서|지점)"
    r"|(?:담당하|근무하|근무했|일하고|일했|운영하|맡고|맡았|담당자|입사)"
    r"|(?:고객|손님|환자|보호자|학부모|사용자)(?:님)?(?:께|에게|들에게|분들께)",
    re.I,
)
CUSTOMER = re.compile(
    r"\bi\s+(?:bought|ordered|purchased|paid|subscribed|booked|returned|complained|went into|went to)\b"
    r"|\b(?:called|emailed|contacted)\s+(?:their|the)\s+(?:support|customer service|helpline|company|store)"
    r"|\bon hold\b|\bas a customer\b"
    r"|\b(?:the|their)\s+(?:staff|barista|waiter|waitress|agent|cashier|owner|rep|clerk|pharmacist|receptionist)\s+"
    r"(?:was|were|told|said|gave|let|helped|asked)\b"
    r"|(?:샀|구매했|주문했|결제했|예약했|가입했|등록했|환불\s?(?:요청|받)|고객센터에|상담원|챗봇)"
    r"|(?:사장님|직원분|점원|기사님|원장님|상담원)(?:이|께서|은|도)"
    r"|(?:주셨|주시더라|주시네)",
    re.I,
)


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


def cue_denials(sentences: list[Sentence], cues: CompiledCues, negated: np.ndarray) -> np.ndarray:
    """(n_sentences, n_indicators) True where a negation in the sentence may deny the indicator's
    behaviour: a negation outside the words its cues matched. Many cues carry their own negation
    ("the real problem wasn't the font", "고객도 생각하지 못한", "가격이 아니라"): that is the
    behaviour itself, not a denial of it, while "I never asked why" still denies it. A sentence
    where no cue matched keeps its own negation flag."""
    negated = np.asarray(negated, dtype=bool)
    out = np.repeat(negated[:, None], len(cues.ids), axis=1)
    for j, s in enumerate(sentences):
        if not negated[j]:
            continue
        for i, pats in enumerate(cues.patterns):
            spans = [m.span() for p in pats for m in p.finditer(s.text)]
            if spans:
                rest = list(s.text)
                for a, b in spans:
                    rest[a:b] = " " * (b - a)
                out[j, i] = denies("".join(rest))
    return out


def affirmed_hits(cues: np.ndarray, denied: np.ndarray, level: int) -> list[int]:
    """Sentences whose cue match for an indicator of `level` counts as showing it, from that
    indicator's columns of `cue_matrix` and `cue_denials`. LV.0/LV.1 cues describe shortfalls,
    so a negation is part of their meaning; from LV.2 up a denied match shows the behaviour
    *not* done. One rule for the engine's judgments and the model's cue features."""
    return [int(j) for j in np.flatnonzero(cues) if level < 2 or not denied[j]]


def sentence_flags(sentences: list[Sentence]) -> dict[str, np.ndarray]:
    """Boolean per-sentence flags: negated, first_person, third_person, number, repeat, intent,
    provider, customer."""
    rx = {"first_person": FIRST_PERSON, "third_person": THIRD_PERSON,
          "number": NUMBER, "repeat": REPEAT, "intent": INTENT, "provider": PROVIDER, "customer": CUSTOMER}
    flags = {"negated": np.asarray([denies(s.text) for s in sentences], dtype=bool)}
    return flags | {name: np.asarray([bool(p.search(s.text)) for s in sentences], dtype=bool) for name, p in rx.items()}


# Sentences addressed to the grader (prompt injection, fake system/JSON/rubric lines) are not
# evidence of how someone works: the engines set them aside and say so in the Grade.
DIRECTIVE = re.compile(
    # instructions about the rubric or the grade
    r"(?:ignore|disregard|forget|override)\b.{0,40}\b(?:rubric|instruction|previous|above|criteria|rules?)"
    r"|\b(?:grade|rate|score|mark|classify|assign|give|output|return)\b.{0,30}\b(?:lv\.?\s*\d|level\s*\d|\d\s*/\s*5|as\s+(?:a\s+)?\d)"
    r"|\b(?:grade|rate|score|re-?grade)\s+(?:this|it|me|the\s+(?:story|text|answer|candidate))\b"
    r"|\b(?:respond|reply|answer)\s+only\b|\bdo\s+not\s+(?:change|alter|modify)\s+(?:it|this|the\s+(?:grade|level|score))\b"
    r"|\bdo\s+not\s+(?:read|review|re-?grade|evaluate)\b"
    r"|\b(?:evaluation|grading|scoring)\b.{0,30}\b(?:already|completed|finali[sz]ed|is\s+final)\b"
    r"|\b(?:previous|prior|earlier)\s+(?:grade|grading|level|result|score)|\bstay\s+consistent\s+with\b"
    r"|\b(?:reviewer|coach|admin|grader)\s+(?:override|note|instructions?)\b|\bnote\s+(?:from|to)\s+the\s+(?:coach|grader|reviewer)\b"
    r"|\b(?:as\s+the|to\s+the|dear)\s+(?:grader|evaluator|assistant|model|ai)\b|\bthe\s+correct\s+level\b"
    # "grader" alone, unless it names a person's role: "as a grader", "TA and grader", "a first grader"
    r"|(?<!\ba\s)(?<!\ban\s)(?<!\band\s)(?<!\bfirst\s)(?<!\bsecond\s)(?<!\bthird\s)(?<!\bfourth\s)(?<!\bfifth\s)"
    r"(?<!\bsixth\s)\bgrader\b(?!\s+(?:for|at|in|on)\b)"
    # level talk in the rubric's own vocabulary
    r"|\blv\.?\s*[0-9]\b|\blevel\s*[:=]\s*[0-9]|\bco\.(?:L\d\.\d|p\d)\b"
    r"|\bconfidence\s*[:=]?\s*(?:1\.0|100)|\binsufficient_evidence\b|\bstatus\s*[:=]\s*(?:graded|insufficient|failed)"
    # fake roles, delimiters and markup
    r"|\b(?:system|assistant|developer)\s*[:\]>]|\[/?(?:system|inst|assistant|admin)\]|<\|?/?(?:system|im_start|im_end|story)\|?>"
    r"|\bend\s+of\s+(?:the\s+)?story\b|<!--|-->|^\s*```|^\s*[a-z]+_[a-z_]+\s*:"
    r"|[{,]\s*\"(?:level|status|confidence|indicators)\"\s*:"
    # Korean
    r"|(?:채점|레벨).{0,20}(?:무시|주세요|매기|부여|하세요|입니다|으로\s*하|주면|확정|완료|금지)"
    r"|(?:평가|등급).{0,10}(?:무시|주세요|매기|부여|하세요|확정|금지)"
    r"|(?:기준|지시|지침).{0,10}(?:무시|따르지)|지시\s*사항|평가\s*대상|채점\s*(?:ai|기|자)|평가자|검수\s*완료"
    r"|\[\s*(?:시스템|관리자)[^\]]*\]|(?:시스템|어시스턴트|관리자)\s*[:：]|(?:레벨|LV\.?)\s*\d\s*(?:을|를|로|으로)\s*(?:주|줘|부여|평가|채점)"
    r"|레벨\s*[:=]?\s*[0-5](?!\d)",
    re.I,
)
# HTML tags, Markdown headings, emphasis, links, code, table rows and TeX: with MARKUP_MIN or more
# of them in a story the grader turned away, it says the markup may be why
MARKUP = re.compile(
    r"<[a-zA-Z/!][^<>\n]{0,200}>|^\s*#{1,6}\s|\*\*[^*\n]+\*\*|\[[^\]\n]*\]\([^)\n]*\)|`[^`\n]+`|^\s*\|.*\|\s*$|\$[^$\n]+\$",
    re.M,
)
MARKUP_MIN = 3
_ASIDE = re.compile(r"\([^()]{4,}\)|\[[^\[\]]{4,}\]|<!--.*?-->")


def _starts_line(story: str, start: int) -> bool:
    before = story[:start].rsplit("\n", 1)[-1]
    return not before.strip(" \t-*•·>#0123456789.)")


def separate_directives(story: str, sentences: list[Sentence]) -> tuple[list[Sentence], list[Sentence]]:
    """(kept, set_aside): the sentences about work, and the text addressed to the grader.

    A sentence that talks to the grader is set aside; when it starts a line, the rest of that
    line goes with it (an inserted block), up to the first sentence that reads as the writer's
    own account (first person, over 40 characters, nothing addressed to the grader): a story
    pasted as one line after "Please grade this LV.5." keeps its story. A bracketed aside to the
    grader inside a work sentence is cut out and the rest of the sentence kept."""
    kept: list[Sentence] = []
    aside: list[Sentence] = []
    block_line_end = -1
    for s in sentences:
        if s.start < block_line_end:
            if not _tells_own_story(s):
                aside.append(s)
                continue
            block_line_end = -1  # the inserted block ended where the writer's account begins
        if not DIRECTIVE.search(s.text):
            kept.append(s)
            continue
        asides = [m for m in _ASIDE.finditer(s.text) if DIRECTIVE.search(m.group())]
        rest = _ASIDE.sub(" ", s.text) if asides else s.text
        if asides and not DIRECTIVE.search(rest):
            pos = 0
            for m in asides:
                aside.append(Sentence(m.group(), s.start + m.start(), s.start + m.end()))
                kept.extend(_piece(s, pos, m.start()))
                pos = m.end()
            kept.extend(_piece(s, pos, len(s.text)))
            continue
        aside.append(s)
        if _starts_line(story, s.start):
            nl = story.find("\n", s.end)
            block_line_end = len(story) if nl < 0 else nl
    return kept, aside


def _tells_own_story(s: Sentence) -> bool:
    """A sentence of the writer's own account: first person, not a fragment, not talking to the grader."""
    return len(s.text) > 40 and bool(FIRST_PERSON.search(s.text)) and not DIRECTIVE.search(s.text)


def _piece(s: Sentence, a: int, b: int) -> list[Sentence]:
    """The part s.text[a:b] as a Sentence with story offsets, trimmed; none if blank."""
    chunk = s.text[a:b]
    if not chunk.strip():
        return []
    lead = len(chunk) - len(chunk.lstrip())
    text = chunk.strip()
    return [Sentence(text, s.start + a + lead, s.start + a + lead + len(text))]
