"""Plain renderers of a Grade (Markdown for downloads/exports; rich for the terminal)."""

from __future__ import annotations

import re

from grader.types import Grade

STATUS_MARK = {"met": "✔", "partial": "◐", "not_met": "✘", "no_evidence": "·"}


def grade_markdown(grade: Grade, story: str | None = None) -> str:
    lines = [f"# Grade — {grade.rubric.id} v{grade.rubric.version}", ""]
    if grade.status == "graded":
        lines.append(f"**Level:** LV.{grade.level} {grade.level_name or ''} (confidence {grade.confidence:.2f})")
    elif grade.status == "insufficient_evidence":
        lines.append("**Level:** none — not enough evidence of how you work with customers")
    else:
        lines.append(f"**Failed:** {grade.error}")
    lines += ["", f"Engine: {grade.engine.name}" + (f" ({grade.engine.model})" if grade.engine.model else ""), ""]
    shown = [j for j in grade.indicators if j.status != "no_evidence"]
    if shown:
        lines += ["## Indicators", "", "| id | status | evidence |", "|---|---|---|"]
        for j in shown:
            quotes = " / ".join(e.quote.replace("|", "\\|").replace("\n", " ") for e in j.evidence)
            lines.append(f"| {j.id} | {j.status} | {quotes} |")
        lines.append("")
    for title, items in (("Strengths", grade.feedback.strengths), ("Gaps", grade.feedback.gaps), ("Next steps", grade.feedback.next_steps)):
        if items:
            lines += [f"## {title}", ""] + [f"- {x}" for x in items] + [""]
    if grade.citations:
        lines += ["## Citations", ""]
        for c in grade.citations:
            lines.append(f"- **{c.id}** ({c.kind}, {c.source}; {c.location}): {one_line(c.text, heading=c.location)}")
        lines.append("")
    if story is not None:
        lines += ["## Story", "", "> " + story.replace("\n", "\n> "), ""]
    return "\n".join(lines)


_HEADING_MARK = re.compile(r"(?:^|(?<=\s))#{1,6}\s+")


def one_line(text: str, limit: int | None = None, *, heading: str = "") -> str:
    """A cited passage on one line: whitespace and line breaks collapsed, Markdown bold and
    heading marks dropped, a first line that only repeats the section named in `heading` left
    out, and past `limit` characters cut at a word with "…"."""
    lines = [x for x in text.strip().splitlines() if x.strip()]
    if len(lines) > 1 and heading and _HEADING_MARK.sub("", lines[0]).strip() in heading:
        lines = lines[1:]
    flat = " ".join(_HEADING_MARK.sub("", " ".join(lines)).replace("**", "").split())
    if limit is None or len(flat) <= limit:
        return flat
    cut = flat[:limit]
    return (cut.rsplit(" ", 1)[0] if " " in cut else cut).rstrip(" ,;:·—-") + "…"


def when(stamp: str | None) -> str:
    """A stored ISO timestamp as "2026-11-27 18:44 UTC" (to the minute, in UTC); anything else as given."""
    from datetime import datetime, timezone

    try:
        moment = datetime.fromisoformat(str(stamp))
    except ValueError:
        return str(stamp or "")
    if moment.tzinfo is None:
        return moment.strftime("%Y-%m-%d %H:%M")
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
