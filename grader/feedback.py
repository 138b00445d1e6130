"""Feedback text (strengths, gaps, next steps) and the warnings about the story, in the story's
language, from indicator judgments."""

from __future__ import annotations

from collections.abc import Sequence

from grader.levels import level_of
from grader.types import Feedback, Indicator, IndicatorJudgment, Rubric

_T = {
    "en": {
        "strength": "{name} (LV.{level}) — {text} Evidence: “{quote}”",
        "gap_next": "Not shown yet for LV.{level} {name}: {text}",
        "gap_faint": "LV.{level} {name} behaviour is there only in outline: tell what you did, for whom and what changed, so it counts",
        "gap_mixed": "A remark that puts the customer second weakens the story: “{quote}”",
        "gap_none": "The story does not yet show what you did with customer insight; describe a concrete action and its result.",
        "step": "To reach LV.{level} {name}: {text}",
        "step_example": "For example: {example}",
        "step_top": "You are at the top level: keep the practice structural and teach it to others.",
        "step_evidence": "Write what you did, for whom, how often and what changed — concrete actions weigh more than intentions.",
    },
    "ko": {
        "strength": "{name} (LV.{level}) — {text} 근거: “{quote}”",
        "gap_next": "LV.{level} {name}에 해당하는 행동은 아직 드러나지 않았습니다: {text}",
        "gap_faint": "LV.{level} {name}에 해당하는 행동이 윤곽만 보입니다. 누구를 위해 무엇을 했고 무엇이 바뀌었는지 적어야 인정됩니다",
        "gap_mixed": "고객을 뒤로 미루는 태도가 이야기를 약하게 만듭니다: “{quote}”",
        "gap_none": "고객에 대한 이해를 바탕으로 무엇을 했는지가 아직 드러나지 않습니다. 구체적인 행동과 결과를 적어 보세요.",
        "step": "LV.{level} {name}에 이르려면: {text}",
        "step_example": "예: {example}",
        "step_top": "최고 레벨입니다. 이 방식을 구조로 만들고 동료에게 전파하는 일을 이어 가세요.",
        "step_evidence": "누구를 위해 무엇을, 얼마나 자주 했고 무엇이 바뀌었는지 적어 보세요. 의도보다 구체적인 행동이 중요합니다.",
    },
}


# warnings about the story itself, written like the feedback in the story's language (warnings
# about the engine — endpoint, samples, repairs — stay in English: they are for whoever runs it)
_W = {
    "en": {
        "too_few_words": "only {n} word(s) to read (ㅋㅋ, one-letter words, symbols, numbers and markup don't count): "
        "write a few sentences about something you did at work",
        "markup": "the text holds markup or code (HTML tags, Markdown marks, tables), which the grader does not read as "
        "a story: paste the story as plain sentences",
        "other_language": "this does not read as Korean or English, the two languages the grader reads: "
        "write the story in one of them",
        "too_few_words_aside": "only {n} word(s) left to read once the sentences addressed to the grader are set aside: "
        "write a few sentences about something you did at work",
        "as_customer": "reads as told by a customer, not by the one serving: {quotes}: the grader needs your own account of how you work",
        "set_aside": "ignored {n} sentence(s) addressed to the grader, not about work: {quotes}",
        "mixed": "mixed: indifference (LV.0) behaviour appears beside the graded level",
        "repeated": "{n} sentence(s) repeat an earlier one word for word and were counted once",
        "split": "split: the level model is torn between LV.{low} ({p_low}) and LV.{high} ({p_high}), far apart; "
        "the story's words fit both: check which one its behaviour shows",
    },
    "ko": {
        "too_few_words": "읽을 수 있는 낱말이 {n}개뿐입니다(ㅋㅋ, 한 글자 낱말, 기호, 숫자, 마크업은 세지 않습니다). "
        "직장에서 직접 한 일을 몇 문장으로 적어 주세요",
        "markup": "글에 마크업이나 코드(HTML 태그, 마크다운 기호, 표)가 섞여 있어 이야기로 읽히지 않습니다. 평범한 문장으로 붙여 넣어 주세요",
        "other_language": "한국어나 영어로 쓴 글로 읽히지 않습니다. 채점기는 이 두 언어만 읽으니 둘 중 하나로 써 주세요",
        "too_few_words_aside": "채점기에게 하는 말을 빼고 나면 읽을 수 있는 낱말이 {n}개뿐입니다. 직장에서 직접 한 일을 몇 문장으로 적어 주세요",
        "as_customer": "일하는 사람이 아니라 고객의 입장에서 쓴 글로 읽힙니다: {quotes}. 채점하려면 내가 어떻게 일하는지에 대한 이야기가 필요합니다",
        "set_aside": "채점기에게 하는 말로 보이는 {n}개 문장은 업무 이야기가 아니어서 무시했습니다: {quotes}",
        "mixed": "혼재: 채점된 레벨과 함께 무관심(LV.0) 행동도 보입니다",
        "repeated": "앞 문장을 그대로 되풀이한 문장 {n}개는 한 번만 셌습니다",
        "split": "갈림: 레벨 모델이 멀리 떨어진 LV.{low}({p_low})와 LV.{high}({p_high}) 사이에서 갈립니다. "
        "글의 표현이 양쪽에 다 맞으니 실제 행동이 어느 쪽인지 확인해 보세요",
    },
}


def warning(key: str, lang: str, quotes: Sequence[str] = (), shown: int = 3, **values: object) -> str:
    """The warning `key` ("too_few_words", "too_few_words_aside", "other_language", "markup", "as_customer", "set_aside", "mixed", "repeated", "split") in the
    story's language; the first `shown` of `quotes` appear as “…” quotes, each cut to 60
    characters, and the warning says how many more there were."""
    more = len(quotes) - shown
    quoted = "; ".join(f"“{q[:60]}{'…' if len(q) > 60 else ''}”" for q in quotes[:shown])
    if more > 0:
        quoted += f" (외 {more}개)" if lang == "ko" else f" (and {more} more)"
    return _W["ko" if lang == "ko" else "en"][key].format(quotes=quoted, **values)


def _short(text: str, limit: int = 160) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _is_limit(indicator: Indicator) -> bool:
    """An indicator that names where a level stops ("(Limit) Stops at meeting what customers ask
    for …"), not a behaviour to show."""
    return indicator.text.get("en").startswith("(Limit)")


def write_feedback(rubric: Rubric, judgments: list[IndicatorJudgment], level: int | None, lang: str) -> Feedback:
    t = _T["ko" if lang == "ko" else "en"]
    shown = [j for j in judgments if j.status in ("met", "partial") and j.evidence]
    # strengths are behaviour of the graded level or below: evidence of a higher level is only
    # partly there (else the level would be higher), and beside LV.0 it is often the dismissal itself
    positive = sorted((j for j in shown if 0 < level_of(j.id) <= (level or 0)), key=lambda j: (-level_of(j.id), j.status != "met"))
    strengths = []
    for j in positive[:3]:
        lv = level_of(j.id)
        strengths.append(
            t["strength"].format(
                name=rubric.level_name(lv, lang), level=lv, text=rubric.indicator(j.id).text.get(lang), quote=_short(j.evidence[0].quote)
            )
        )
    gaps: list[str] = []
    for j in (j for j in shown if level_of(j.id) == 0):
        if level and level > 0:
            gaps.append(t["gap_mixed"].format(quote=_short(j.evidence[0].quote)))
            break
    nxt = (level if level is not None else 0) + 1
    steps: list[str] = []
    if level is None:
        gaps.append(t["gap_none"])
        steps.append(t["step_evidence"])
    elif nxt > rubric.max_level:
        steps.append(t["step_top"])
    else:
        target = rubric.levels[nxt]
        met_ids = {j.id for j in shown if j.status == "met"}
        # a "(Limit)" indicator is where the level stops, not a behaviour to reach; partly shown is not shown yet
        to_reach = [i for i in target.indicators if not _is_limit(i)]
        missing = [i for i in to_reach if i.id not in met_ids]
        for ind in missing[:2]:
            gaps.append(t["gap_next"].format(level=nxt, name=target.name.get(lang), text=ind.text.get(lang)))
        if not missing:  # the detectors see the next level's behaviour, the level model does not count it
            gaps.append(t["gap_faint"].format(level=nxt, name=target.name.get(lang)))
        for ind in (missing or to_reach or target.indicators)[:2]:
            steps.append(t["step"].format(level=nxt, name=target.name.get(lang), text=ind.text.get(lang)))
        if target.examples:
            steps.append(t["step_example"].format(example=target.examples[0].get(lang)))
        steps.append(t["step_evidence"])
    return Feedback(strengths=strengths, gaps=gaps, next_steps=steps)
