"""Pure HTML/text builders for the app (no Streamlit import; unit-tested).

Everything taken from a story, a grade or a document goes through `html.escape` (for st.html)
or `md_escape` (for Markdown labels), so hostile text such as `<script>` or `**bold**` shows
as typed.
"""

from __future__ import annotations

import html
import re
from typing import Any

from grader.types import Grade, Rubric

STATUS_ORDER = {"met": 0, "partial": 1, "not_met": 2, "no_evidence": 3}
STATUS_COLOR = {"met": "#b7e4c7", "partial": "#ffe8a3"}
_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+\-.!|<>~$:&=\"'])")

LADDER_CSS = (
    "display:flex;gap:6px;flex-wrap:wrap;margin:4px 0 10px 0;font-family:inherit"
)


def md_escape(text: str) -> str:
    """Text that Streamlit's Markdown shows literally (every ASCII punctuation mark backslash-escaped,
    newlines flattened)."""
    return _MD_SPECIAL.sub(r"\\\1", " ".join(str(text).split()))


def esc(text: Any) -> str:
    return html.escape("" if text is None else str(text), quote=True)


def level_label(rubric: Rubric | None, level: int | None, lang: str) -> str:
    if level is None:
        return "–"
    if rubric is not None and 0 <= level < len(rubric.levels):
        return f"LV.{level} {rubric.level_name(level, lang)}"
    return f"LV.{level}"


def confidence_text(level: int | None, confidence: float) -> str:
    """The confidence as shown: none ("–") where no level was given, as there is no level to be sure of."""
    return f"{confidence:.2f}" if level is not None else "–"


def ladder_html(rubric: Rubric, level: int | None, lang: str) -> str:
    """The level ladder: one step per rubric level, the given level highlighted (aria-current)."""
    steps = []
    for lv in rubric.levels:
        active = lv.level == level
        style = (
            "flex:1 1 0;min-width:96px;padding:8px 6px;border-radius:6px;text-align:center;"
            + ("background:#1f6feb;color:#fff;font-weight:700;border:2px solid #0b3d91;" if active
               else "background:#f1f3f5;color:#555;border:1px solid #d0d7de;")
        )
        current = ' aria-current="step" data-current="true"' if active else ""
        steps.append(
            f'<div class="ladder-step" data-level="{lv.level}"{current} style="{style}">'
            f'<div style="font-size:1.05em">LV.{lv.level}</div>'
            f'<div style="font-size:0.8em">{esc(lv.name.get(lang))}</div></div>'
        )
    return f'<div class="level-ladder" role="list" style="{LADDER_CSS}">{"".join(steps)}</div>'


def evidence_spans(grade: Grade, statuses: dict[str, str] | None = None) -> list[tuple[int, int, str, list[str]]]:
    """(start, end, strongest status, indicator ids) for every evidence span of met/partial
    indicators, overlaps merged. `statuses` overrides the grade's statuses (coach corrections)."""
    raw: list[tuple[int, int, str, str]] = []
    for j in grade.indicators:
        status = (statuses or {}).get(j.id, j.status)
        if status not in STATUS_COLOR:
            continue
        for e in j.evidence:
            if e.end > e.start:
                raw.append((e.start, e.end, status, j.id))
    raw.sort()
    merged: list[tuple[int, int, str, list[str]]] = []
    for start, end, status, ident in raw:
        if merged and start < merged[-1][1]:
            s0, e0, st0, ids = merged[-1]
            best = status if STATUS_ORDER[status] < STATUS_ORDER[st0] else st0
            merged[-1] = (s0, max(e0, end), best, ids + ([ident] if ident not in ids else []))
        else:
            merged.append((start, end, status, [ident]))
    return merged


def highlight_html(story: str, spans: list[tuple[int, int, str, list[str]]] | None = None) -> str:
    """The story as escaped HTML with evidence spans wrapped in <mark>. Spans outside the story
    are ignored (a wrong offset never breaks or injects into the page)."""
    parts: list[str] = []
    pos = 0
    for start, end, status, ids in spans or []:
        if start < pos or end > len(story) or start >= end:
            continue
        parts.append(esc(story[pos:start]))
        title = esc(", ".join(ids))
        parts.append(
            f'<mark class="evidence evidence-{esc(status)}" title="{title}" '
            f'style="background:{STATUS_COLOR.get(status, "#ffe8a3")};padding:0 2px;border-radius:3px">'
            f"{esc(story[start:end])}</mark>"
        )
        pos = end
    parts.append(esc(story[pos:]))
    body = "".join(parts)
    return (
        '<div class="story" style="white-space:pre-wrap;line-height:1.6;border:1px solid #d0d7de;'
        f'border-radius:6px;padding:10px 12px;overflow-wrap:anywhere">{body}</div>'
    )


def list_html(items: list[str], empty: str = "") -> str:
    if not items:
        return f"<p style='color:#666'>{esc(empty)}</p>" if empty else "<p></p>"
    return "<ul>" + "".join(f"<li>{esc(x)}</li>" for x in items) + "</ul>"


def text_html(text: str, *, muted: bool = False) -> str:
    color = "color:#555;" if muted else ""
    return f'<div style="white-space:pre-wrap;{color}overflow-wrap:anywhere">{esc(text)}</div>'


def indicator_rows(grade: Grade, rubric: Rubric | None, lang: str, statuses: dict[str, str] | None = None) -> list[dict[str, Any]]:
    """Table rows for the indicator judgments, strongest first."""
    rows = []
    for j in grade.indicators:
        text = ""
        level: int | None = None
        if rubric is not None:
            try:
                ind = rubric.indicator(j.id)
                text, level = ind.text.get(lang), ind.level
            except KeyError:
                pass
        status = (statuses or {}).get(j.id, j.status)
        rows.append({
            "indicator": j.id,
            "level": level,
            "status": status,
            "evidence": " / ".join(f"“{e.quote}”" for e in j.evidence),
            "criterion": text,
            "note": j.note,
        })
    rows.sort(key=lambda r: (STATUS_ORDER.get(r["status"], 9), -(r["level"] or 0)))
    return rows


def snippet(text: str, width: int = 70) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= width else flat[: width - 1] + "…"
