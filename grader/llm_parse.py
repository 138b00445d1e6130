"""Parsing and validating the llm engine's answers.

`extract_json` finds the answer object in what a model actually sends (code fences, a preamble,
<think> blocks). `check_answer` validates it against the story and the ids we gave the model and
returns cleaned judgments plus the list of problems: quotes that are not in the story (we compute
start/end ourselves, tolerating whitespace and quote-mark differences only), unknown ids, values out
of range. The engine asks once more with the problems; what is still invalid is dropped and marked,
never shown as evidence.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field
from typing import Any

from grader.evidence import detect_language, locate_quote, split_sentences
from grader.llm_prompt import STATUSES, unescape
from grader.signals import separate_directives
from grader.types import Evidence, Feedback, IndicatorJudgment

MAX_QUOTES = 3
MIN_QUOTE_CHARS = 4  # non-space characters; shorter "quotes" occur anywhere and prove nothing
MAX_NOTE = 600
MAX_FEEDBACK_ITEMS = 5
MAX_FEEDBACK_CHARS = 600

_THINK = re.compile(r"<think>.*?</think>", re.S | re.I)
_FENCE = re.compile(r"```(?:json|JSON)?\s*\n?(.*?)```", re.S)
_STATUS_ALIASES = {
    "met": "met", "partial": "partial", "partially_met": "partial", "partly_met": "partial",
    "not_met": "not_met", "unmet": "not_met", "no_evidence": "no_evidence", "none": "no_evidence",
    "n/a": "no_evidence", "na": "no_evidence", "not_shown": "no_evidence", "insufficient_evidence": "no_evidence",
}
_LEVEL_TEXT = re.compile(r"^\s*(?:lv|level|레벨)?\.?\s*(\d{1,2})\s*$", re.I)


class ParseError(ValueError):
    """The answer holds no usable JSON object."""


def extract_json(content: str | None) -> dict[str, Any]:
    """The answer object from a model's message content, or ParseError saying why not."""
    if content is None or not content.strip():
        raise ParseError("the answer was empty")
    text = _THINK.sub("", content).strip()
    candidates = [m.group(1) for m in _FENCE.finditer(text)] + [text]
    decoder = json.JSONDecoder()
    seen_object = False
    for cand in candidates:
        for start in [m.start() for m in re.finditer(r"\{", cand)][:50]:
            try:
                obj, _ = decoder.raw_decode(cand, start)
            except json.JSONDecodeError:
                continue
            if not isinstance(obj, dict):
                continue
            seen_object = True
            if "indicators" in obj:
                return obj
            inner = [v for v in obj.values() if isinstance(v, dict) and "indicators" in v]
            if len(obj) == 1 and inner:  # {"grade": {...}} wrapper
                return inner[0]
    if seen_object:
        raise ParseError("the answer's JSON has no 'indicators' list")
    raise ParseError("the answer is not a JSON object (invalid or truncated JSON)")


# --------------------------------------------------------------------------- values


def norm_status(value: Any) -> str | None:
    if not isinstance(value, str):
        return None
    key = re.sub(r"[\s\-]+", "_", value.strip().lower())
    return _STATUS_ALIASES.get(key)


def norm_level(value: Any, max_level: int) -> tuple[int | None, str | None]:
    """(level, problem). None is a valid answer (no evidence); anything not an integer 0..max is a problem."""
    if value is None:
        return None, None
    if isinstance(value, bool):
        return None, f"level {value!r} is not an integer 0..{max_level}"
    if isinstance(value, float) and math.isfinite(value) and value.is_integer():
        value = int(value)
    if isinstance(value, str):
        m = _LEVEL_TEXT.match(value)
        if m:
            value = int(m.group(1))
        elif value.strip().lower() in ("null", "none", ""):
            return None, None
    if isinstance(value, int) and 0 <= value <= max_level:
        return value, None
    return None, f"level {value!r} is out of range: give an integer from 0 to {max_level} or null"


def _strings(value: Any) -> list[str] | None:
    if value is None:
        return []
    if isinstance(value, str):
        return [value]
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return list(value)
    return None


def _short(text: str, limit: int = 80) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


# --------------------------------------------------------------------------- checking


@dataclass
class Context:
    """What an answer is checked against."""

    story: str
    indicator_ids: list[str]  # the rubric's indicators, in order (all were given to the model)
    citation_ids: set[str]  # every id we gave the model
    max_level: int
    lang: str
    directive_spans: list[tuple[int, int]] = field(default_factory=list)

    @classmethod
    def make(cls, story: str, indicator_ids: list[str], citation_ids: set[str], max_level: int, lang: str) -> "Context":
        _, aside = separate_directives(story, split_sentences(story))
        spans = [(s.start, s.end) for s in aside]
        return cls(story, indicator_ids, citation_ids, max_level, lang, spans)


@dataclass
class Checked:
    """A validated answer: usable judgments (all rubric indicators) and what was wrong."""

    judgments: list[IndicatorJudgment]
    model_level: int | None
    citations: list[str]
    feedback: Feedback
    feedback_ok: bool
    problems: list[str]  # what to tell the model (and, if accepted as is, what was dropped)
    n_judged: int  # indicators the model judged with a valid id and status

    @property
    def ok(self) -> bool:
        return not self.problems


def find_quote(story: str, quote: str) -> tuple[int, int] | None:
    span = locate_quote(story, quote)
    if span is None and ("&lt;" in quote or "&gt;" in quote or "&amp;" in quote):
        span = locate_quote(story, unescape(quote))
    return span


def _evidence(ctx: Context, ident: str, quotes: list[str], problems: list[str]) -> list[Evidence]:
    out: list[Evidence] = []
    for q in quotes:
        if len("".join(q.split())) < MIN_QUOTE_CHARS:
            problems.append(f"{ident}: quote “{_short(q)}” is too short to be evidence; quote a sentence or a clause")
            continue
        span = find_quote(ctx.story, q)
        if span is None:
            problems.append(f"{ident}: quote “{_short(q)}” does not occur in the story; copy it character for character")
            continue
        start, end = span
        if any(start < b and a < end for a, b in ctx.directive_spans):
            problems.append(f"{ident}: quote “{_short(q)}” is text addressed to the grader, not evidence of work")
            continue
        if any(e.start == start and e.end == end for e in out):
            continue
        out.append(Evidence(quote=ctx.story[start:end], start=start, end=end))
    if len(out) > MAX_QUOTES:
        out = out[:MAX_QUOTES]
    return out


def _judgment(ctx: Context, item: Any, problems: list[str]) -> IndicatorJudgment | None:
    if not isinstance(item, dict):
        problems.append(f"indicator entry {_short(repr(item))} is not an object with id, status, quotes, note")
        return None
    ident = item.get("id")
    if not isinstance(ident, str) or ident.strip() not in ctx.indicator_ids:
        problems.append(f"indicator id {_short(repr(ident))} is not one of the ids listed in <rubric>")
        return None
    ident = ident.strip()
    status = norm_status(item.get("status"))
    if status is None:
        problems.append(f"{ident}: status {_short(repr(item.get('status')))} is not one of {', '.join(STATUSES)}")
        return None
    quotes = _strings(item.get("quotes", item.get("evidence")))
    if quotes is None:
        problems.append(f"{ident}: quotes must be a list of strings")
        quotes = []
    note = item.get("note") if isinstance(item.get("note"), str) else ""
    given = len(problems)
    evidence = _evidence(ctx, ident, quotes, problems)
    marks: list[str] = []
    if len(problems) > given:
        marks.append(f"{len(problems) - given} quote(s) removed: not found in the story or not evidence")
    if status in ("met", "partial") and not evidence:
        if len(problems) == given:
            problems.append(f"{ident}: status {status} needs at least one quote from the story")
        marks.append(f"the model said {status!r} without a quote found in the story; counted as no evidence")
        status = "no_evidence"
    if status == "no_evidence" and evidence:
        evidence = []
    note = _short(note, MAX_NOTE)
    if marks:
        note = (note + " " if note else "") + "[" + "; ".join(marks) + "]"
    return IndicatorJudgment(id=ident, status=status, evidence=evidence, note=note)


def _feedback(ctx: Context, value: Any, problems: list[str]) -> tuple[Feedback, bool]:
    if not isinstance(value, dict):
        problems.append("feedback must be an object with strengths, gaps and next_steps lists")
        return Feedback(), False
    parts: dict[str, list[str]] = {}
    for name in ("strengths", "gaps", "next_steps"):
        items = _strings(value.get(name))
        if items is None:
            problems.append(f"feedback.{name} must be a list of strings")
            items = []
        parts[name] = [_short(s, MAX_FEEDBACK_CHARS) for s in items if s.strip()][:MAX_FEEDBACK_ITEMS]
    fb = Feedback(**parts)
    text = " ".join(s for items in parts.values() for s in items)
    if not text:
        problems.append("feedback is empty: give strengths, gaps and next_steps")
        return fb, False
    if detect_language(text) != ctx.lang:
        problems.append(f"feedback must be written in the story's language ({'Korean' if ctx.lang == 'ko' else 'English'})")
        return fb, False
    return fb, True


def check_answer(data: dict[str, Any], ctx: Context) -> Checked:
    """Validate a parsed answer. Never raises for bad content: problems are listed instead."""
    problems: list[str] = []
    items = data.get("indicators")
    if not isinstance(items, list):
        problems.append("the answer has no 'indicators' list")
        items = []
    judged: dict[str, IndicatorJudgment] = {}
    for item in items:
        j = _judgment(ctx, item, problems)
        if j is None:
            continue
        if j.id in judged:
            problems.append(f"{j.id} is judged twice; give each indicator once")
            continue
        judged[j.id] = j
    missing = [i for i in ctx.indicator_ids if i not in judged]
    if missing:
        problems.append(f"indicators not judged: {', '.join(missing)}")
    judgments = [judged.get(i) or IndicatorJudgment(id=i, status="no_evidence", note="[not judged by the model]") for i in ctx.indicator_ids]
    level, level_problem = norm_level(data.get("level"), ctx.max_level)
    if level_problem:
        problems.append(level_problem)
    cited = _strings(data.get("citations"))
    if cited is None:
        problems.append("citations must be a list of ids")
        cited = []
    unknown = [c for c in cited if c.strip() not in ctx.citation_ids]
    if unknown:
        problems.append(f"cited ids not listed in <rubric> or <sources>: {', '.join(_short(c, 40) for c in unknown[:5])}")
    citations = list(dict.fromkeys(c.strip() for c in cited if c.strip() in ctx.citation_ids))
    feedback, feedback_ok = _feedback(ctx, data.get("feedback"), problems)
    return Checked(judgments, level, citations, feedback, feedback_ok, problems, len(judged))
