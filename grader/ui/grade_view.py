"""Rendering one Grade (used by the Grade page and the coach's detail view)."""

from __future__ import annotations

import streamlit as st

from grader.types import Grade, Rubric
from grader.ui.common import T, lang, table, tr, where
from grader.ui.render import (
    confidence_text,
    evidence_spans,
    highlight_html,
    indicator_rows,
    ladder_html,
    level_label,
    list_html,
    md_escape,
    text_html,
)


def show_level(grade: Grade, rubric: Rubric | None) -> None:
    """Ladder, level, confidence, engine — or the reason there is no level."""
    ui = lang()
    if grade.status == "failed":
        st.error(T("grade.failed", reason=grade.error or ""))
        return
    if rubric is not None:
        st.html(ladder_html(rubric, grade.level, ui))
    if grade.status == "insufficient_evidence":
        st.warning(T("grade.insufficient"))
    cols = st.columns(3)
    cols[0].metric(T("grade.level"), level_label(None, grade.level, ui))
    cols[1].metric(T("grade.confidence"), confidence_text(grade.level, grade.confidence))
    cols[2].metric(T("grade.latency"), f"{grade.usage.latency_ms / 1000:.1f} s")
    if grade.level is not None:
        st.markdown(f"**{md_escape(level_label(rubric, grade.level, ui))}**")
    engine = grade.engine.name + (f" ({grade.engine.model})" if grade.engine.model else "")
    st.caption(md_escape(f"{T('grade.engine_used')}: {engine}"))
    if grade.rule_level is not None and grade.model_level is not None and grade.rule_level != grade.model_level:
        st.caption(md_escape(T("grade.rule_vs_model", rule=grade.rule_level, model=grade.model_level)))
    for w in grade.warnings:
        st.caption("⚠ " + md_escape(w))


def show_story(story: str, grade: Grade | None, statuses: dict[str, str] | None = None) -> None:
    spans = evidence_spans(grade, statuses) if grade is not None else []
    st.html(highlight_html(story, spans))
    if spans:
        st.caption(T("grade.legend"))


def show_indicators(grade: Grade, rubric: Rubric | None, statuses: dict[str, str] | None = None,
                    criteria_lang: str | None = None) -> None:
    """The indicator table; its criteria in `criteria_lang` (default: the story's language, like the feedback)."""
    rows = indicator_rows(grade, rubric, criteria_lang or grade.language, statuses)
    if not rows:
        return
    for row in rows:
        row["status"] = tr("status", row["status"])
    col = st.column_config
    table(rows, column_config={
        "indicator": col.TextColumn(T("col.indicator"), width="small"),
        "level": col.NumberColumn(T("col.level"), width="small"),
        "status": col.TextColumn(T("col.status"), width=110),
        "evidence": col.TextColumn(T("col.evidence"), width="large"),
        "criterion": col.TextColumn(T("col.criterion"), width="large"),
        "note": col.TextColumn(T("col.note")),
    }, height="content")  # all indicators at once (21 rows), not a 10-row window to scroll


def show_citations(grade: Grade) -> None:
    criteria = [c for c in grade.citations if c.kind in ("indicator", "principle")]
    passages = [c for c in grade.citations if c.kind == "passage"]
    for title, items in ((T("grade.citations"), criteria), (T("grade.passages"), passages)):
        if not items:
            continue
        st.markdown(f"**{title}**")
        for c in items:
            location = where(c.location)
            with st.expander(md_escape(f"{c.id} · {location or c.source}")):
                st.html(text_html(c.text))
                origin = c.source + (f" — {location}" if location else "")
                st.caption(md_escape(T("grade.source", source=origin)))


def show_feedback(grade: Grade) -> None:
    fb = grade.feedback
    if not (fb.strengths or fb.gaps or fb.next_steps):
        return
    st.subheader(T("grade.feedback"))
    cols = st.columns(3)
    for col, key, items in zip(cols, ("grade.strengths", "grade.gaps", "grade.next_steps"), (fb.strengths, fb.gaps, fb.next_steps)):
        with col:
            st.markdown(f"**{T(key)}**")
            st.html(list_html(items, empty=T("grade.none")))


def show_grade(grade: Grade, story: str, rubric: Rubric | None) -> None:
    """The full result: ladder and level, highlighted story, indicators, citations, feedback."""
    show_level(grade, rubric)
    if grade.status == "failed":
        return
    st.subheader(T("grade.story_evidence"))
    show_story(story, grade)
    st.subheader(T("grade.indicators"))
    show_indicators(grade, rubric)
    show_citations(grade)
    show_feedback(grade)
