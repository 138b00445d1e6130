"""Prompts of the llm engine: versioned template files in grader/prompts/, rendered with the
rubric, the retrieved passages and the story (escaped, inside <story> delimiters), plus the
JSON schema of the answer.

Templates use `{{name}}` placeholders, filled in one pass, so text inside the story that looks
like a placeholder is never expanded.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from grader.types import Hit, Rubric

PROMPTS_DIR = Path(__file__).resolve().parent / "prompts"
PROMPT_VERSION = "grade_v1"
REPAIR_VERSION = "repair_v1"
STATUSES = ("met", "partial", "not_met", "no_evidence")
LANGUAGE_NAMES = {"ko": "Korean (한국어)", "en": "English"}

_PLACEHOLDER = re.compile(r"\{\{([a-z_]+)\}\}")
_ESCAPES = (("&", "&amp;"), ("<", "&lt;"), (">", "&gt;"))


@lru_cache(maxsize=16)
def template(name: str) -> str:
    return (PROMPTS_DIR / name).read_text(encoding="utf-8")


def prompt_digest() -> str:
    """Hash of the template files in use (part of the cache key, so an edited template is a miss)."""
    h = hashlib.sha256()
    for name in (f"{PROMPT_VERSION}.system.md", f"{PROMPT_VERSION}.user.md", f"{REPAIR_VERSION}.md"):
        h.update(template(name).encode("utf-8"))
    return h.hexdigest()[:16]


def render(text: str, values: dict[str, object]) -> str:
    """Fill `{{name}}` placeholders in one pass; an unknown placeholder is an error."""

    def sub(m: re.Match[str]) -> str:
        if m.group(1) not in values:
            raise KeyError(f"prompt template needs {m.group(1)!r}")
        return str(values[m.group(1)])

    return _PLACEHOLDER.sub(sub, text)


def escape(text: str) -> str:
    """Escape &, < and > so data cannot close or open a delimiter tag."""
    for raw, entity in _ESCAPES:
        text = text.replace(raw, entity)
    return text


def unescape(text: str) -> str:
    """Undo `escape` exactly (a model may copy a quote in its escaped form)."""
    for raw, entity in reversed(_ESCAPES):
        text = text.replace(entity, raw)
    return text


def language_name(lang: str) -> str:
    return LANGUAGE_NAMES.get(lang, LANGUAGE_NAMES["en"])


# --------------------------------------------------------------------------- retrieval hits


def rubric_hits(rubric: Rubric, lang: str) -> list[Hit]:
    """Every indicator and principle of the rubric as hits, text in the story's language."""
    src = rubric.source.title
    hits = [
        Hit(id=ind.id, kind="indicator", text=ind.text.get(lang), source=src,
            location=f"{rubric.id} v{rubric.version}, LV.{ind.level}", level=ind.level, lang=lang)
        for ind in rubric.indicators()
    ]
    hits += [
        Hit(id=p.id, kind="principle", text=p.text.get(lang), source=src,
            location=f"{rubric.id} v{rubric.version}, principle", lang=lang)
        for p in rubric.principles
    ]
    return hits


def _one_line(text: str) -> str:
    return escape(" ".join(text.split()))


def rubric_block(rubric: Rubric, hits: list[Hit], lang: str) -> str:
    """Levels with names, summaries and indicators; then principles and other criteria given."""
    lines: list[str] = []
    for lv in rubric.levels:
        lines.append(f"LV.{lv.level} {_one_line(lv.name.get(lang))}: {_one_line(lv.summary.get(lang))}")
        lines += [f"  [{i.id}] {_one_line(i.text.get(lang))}" for i in lv.indicators]
    own = {i.id for i in rubric.indicators()}
    principles = [h for h in hits if h.kind == "principle"]
    extra = [h for h in hits if h.kind == "indicator" and h.id not in own]
    if principles:
        lines.append("Principles (apply across levels):")
        lines += [f"  [{h.id}] {_one_line(h.text)}" for h in principles]
    if extra:
        lines.append("Related criteria:")
        lines += [f"  [{h.id}] {_one_line(h.text)}" for h in extra]
    return "\n".join(lines)


def sources_block(hits: list[Hit]) -> str:
    passages = [h for h in hits if h.kind == "passage"]
    if not passages:
        return "(none)"
    return "\n".join(f"[{h.id}] ({_one_line(h.location or h.source)}) {_one_line(h.text)}" for h in passages)


# --------------------------------------------------------------------------- messages


@dataclass(frozen=True)
class Prompt:
    system: str
    user: str
    max_level: int
    lang: str

    def messages(self) -> list[dict[str, str]]:
        return [{"role": "system", "content": self.system}, {"role": "user", "content": self.user}]

    def repair(self, previous: str, problems: list[str]) -> list[dict[str, str]]:
        """The conversation asking once more, with the list of problems."""
        text = render(template(f"{REPAIR_VERSION}.md"), {
            "problems": "\n".join(f"- {p}" for p in problems),
            "max_level": self.max_level,
            "language_name": language_name(self.lang),
        })
        return [*self.messages(), {"role": "assistant", "content": previous}, {"role": "user", "content": text}]


def build_prompt(story: str, rubric: Rubric, hits: list[Hit], lang: str) -> Prompt:
    values: dict[str, object] = {
        "rubric_title": _one_line(rubric.title.get(lang)),
        "rubric_id": rubric.id,
        "rubric_version": rubric.version,
        "max_level": rubric.max_level,
        "language_name": language_name(lang),
        "rubric": rubric_block(rubric, hits, lang),
        "sources": sources_block(hits),
        "story": escape(story.strip("\n")),
    }
    return Prompt(
        system=render(template(f"{PROMPT_VERSION}.system.md"), values),
        user=render(template(f"{PROMPT_VERSION}.user.md"), values),
        max_level=rubric.max_level,
        lang=lang,
    )


def answer_schema(indicator_ids: list[str], citation_ids: list[str]) -> dict[str, Any]:
    """JSON schema (OpenAI strict structured output) of the model's answer."""
    strings = {"type": "array", "items": {"type": "string"}}
    return {
        "type": "object",
        "additionalProperties": False,
        "required": ["indicators", "level", "citations", "feedback"],
        "properties": {
            "indicators": {
                "type": "array",
                "items": {
                    "type": "object",
                    "additionalProperties": False,
                    "required": ["id", "status", "quotes", "note"],
                    "properties": {
                        "id": {"type": "string", "enum": list(indicator_ids)},
                        "status": {"type": "string", "enum": list(STATUSES)},
                        "quotes": strings,
                        "note": {"type": "string"},
                    },
                },
            },
            "level": {"type": ["integer", "null"]},
            "citations": {"type": "array", "items": {"type": "string", "enum": list(citation_ids)}},
            "feedback": {
                "type": "object",
                "additionalProperties": False,
                "required": ["strengths", "gaps", "next_steps"],
                "properties": {"strengths": strings, "gaps": strings, "next_steps": strings},
            },
        },
    }


def response_format(schema: dict[str, Any]) -> dict[str, Any]:
    return {"type": "json_schema", "json_schema": {"name": "grade", "strict": True, "schema": schema}}
