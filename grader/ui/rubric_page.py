"""Rubric & sources page: the rubric by level in either language, index search, indexed sources,
adding a document and re-indexing."""

from __future__ import annotations

import re
from pathlib import Path

import streamlit as st

from grader import grading
from grader import index as index_mod
from grader.errors import GraderError
from grader.rubric import rubric_files
from grader.types import Rubric
from grader.ui.common import T, lang, settings, show_error, table, tr, where
from grader.ui.render import md_escape, text_html

DOC_TYPES = ["txt", "md", "markdown", "html", "htm", "pdf"]
HITS = "rubric_hits"  # (query, rows) of the last search, kept until the next one


def show_rubric(rubric: Rubric, rl: str) -> None:
    st.subheader(md_escape(f"{rubric.title.get(rl)} ({rubric.id} v{rubric.version})"))
    src = rubric.source
    bits = [src.title, src.author, src.publisher, src.date]
    st.caption(md_escape(T("rubric.source") + ": " + " · ".join(b for b in bits if b)))
    if src.url:
        st.caption(md_escape(src.url))
    if rubric.principles:
        with st.expander(T("rubric.principles")):
            table([{"id": p.id, "text": p.text.get(rl)} for p in rubric.principles])
    tabs = st.tabs([f"LV.{lv.level} {lv.name.get(rl)}" for lv in rubric.levels])
    for tab, lv in zip(tabs, rubric.levels):
        with tab:
            st.html(text_html(lv.summary.get(rl)))
            table([{"id": i.id, "indicator": i.text.get(rl)} for i in lv.indicators])
            if lv.examples:
                st.markdown(f"**{T('rubric.examples')}**")
                for ex in lv.examples:
                    st.html(text_html("• " + ex.get(rl), muted=True))


def _entries(rows: list[dict]) -> None:
    """Index entries (search hits, sources) as a table, their kind in the interface language."""
    table([{**row, "kind": tr("kind", row["kind"])} for row in rows])


def _search(s) -> None:
    st.subheader(T("rubric.search"))
    with st.form("rubric_search"):
        query = st.text_input(T("rubric.query"), key="rubric_query")
        c1, c2 = st.columns([3, 1])
        names = {k: tr("kind", k) for k in ("indicator", "principle", "passage")}
        kinds = c1.multiselect(T("rubric.kinds"), list(names), key="rubric_kinds", format_func=names.__getitem__,
                               placeholder=T("filter.all"))
        k = c2.number_input(T("rubric.k"), 1, 50, 8, key="rubric_k")
        go = st.form_submit_button(T("rubric.search"))
    if go and query.strip():
        st.session_state.pop(HITS, None)
        try:
            with st.spinner(T("rubric.indexing")):
                hits = index_mod.ensure_index(s).search(query, k=int(k), kinds=kinds or None)
        except GraderError as exc:
            show_error(exc)
            return
        st.session_state[HITS] = (query, [
            {"score": round(h.score, 3), "id": h.id, "kind": h.kind, "level": h.level, "source": where(h.location) if h.location else h.source, "text": h.text}
            for h in hits
        ])
    if HITS not in st.session_state:
        return
    shown, rows = st.session_state[HITS]
    st.caption(f":material/search: {md_escape(shown)}")
    if not rows:
        st.info(T("rubric.no_hits"))
        return
    _entries(rows)


def _sources(s) -> None:
    st.subheader(T("rubric.sources"))
    if not st.toggle(T("rubric.show_sources"), key="rubric_show_sources"):
        return
    try:
        rows = index_mod.open_index(s).sources()
    except GraderError as exc:
        show_error(exc)
        return
    _entries(rows)


def _build(s, paths: list[Path], names: dict[str, str] | None = None) -> bool:
    """Index the corpus and these documents with a progress bar; False (with the error shown, the
    server paths of `names` given as the uploaded names) when it fails."""
    bar = st.progress(0.0, text=T("rubric.indexing"))

    def progress(done: int, total: int) -> None:
        bar.progress(min(1.0, done / total) if total else 1.0, text=f"{T('rubric.indexing')} {done}/{total}")

    try:
        report = index_mod.open_index(s).build(paths, progress=progress)
    except GraderError as exc:
        bar.empty()
        show_error(exc, names)
        return False
    bar.empty()
    st.success(T("rubric.built", sources=len(report.sources), added=report.added, updated=report.updated,
                 removed=report.removed, unchanged=report.unchanged))
    for what in report.skipped:
        st.warning(md_escape(T("rubric.skipped", what=what)))
    return True


def _add_document(s) -> None:
    st.subheader(T("rubric.add"))
    folder = s.data_dir / "documents"
    upload = st.file_uploader(T("rubric.add.help", path=str(folder)), type=DOC_TYPES, key="rubric_upload")
    c1, c2 = st.columns(2)
    if c1.button(T("rubric.add.button"), key="rubric_add", disabled=upload is None) and upload is not None:
        name = Path(upload.name).name
        stem = re.sub(r"[^\w.-]+", "_", Path(name).stem)[:80] or "document"
        path = folder / f"{stem}{Path(name).suffix.lower()}"
        folder.mkdir(parents=True, exist_ok=True)
        before = path.read_bytes() if path.is_file() else None
        path.write_bytes(upload.getvalue())
        if not _build(s, [path], {str(path.resolve()): name, str(path): name}):
            # a rejected document is not kept; one it was to replace is put back
            if before is None:
                path.unlink(missing_ok=True)
            else:
                path.write_bytes(before)
    if c2.button(T("rubric.reindex"), key="rubric_reindex"):
        _build(s, [])


def render() -> None:
    s = settings()
    st.title(T("rubric.title"))
    ids = list(rubric_files(s.rubrics_dir))
    if ids:
        c1, c2 = st.columns([3, 1])
        rid = c1.selectbox(T("grade.rubric"), ids, index=ids.index(s.rubric) if s.rubric in ids else 0, key="rubric_id")
        names = {v: tr("lang", v) for v in ("ko", "en")}  # looked up now: AppTest formats outside the run
        rl = c2.radio(T("rubric.lang"), ["ko", "en"], index=0 if lang() == "ko" else 1, horizontal=True, key="rubric_lang",
                      format_func=names.__getitem__)
        try:
            show_rubric(grading.get_rubric(rid, s), rl)
        except GraderError as exc:
            show_error(exc)
    else:
        st.error(T("grade.no_rubric", path=str(s.rubrics_dir)))
    st.divider()
    _search(s)
    sources = st.container()  # filled after _add_document, so a just-added or re-indexed source is listed
    _add_document(s)
    with sources:
        _sources(s)
