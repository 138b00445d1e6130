"""Review page (coaches): queue of shared gradings, override with blind mode, agreement, export."""

from __future__ import annotations

import hmac

import streamlit as st

from grader import grading
from grader.errors import GraderError
from grader.levels import split_levels
from grader.store import INDICATOR_STATUSES, Record, Store
from grader.store_export import agreement, eval_set_jsonl, review_pairs, reviews_csv
from grader.types import Rubric
from grader.ui.charts import heatmap
from grader.ui.common import T, lang, settings, show_error, store, table, tr
from grader.ui.grade_view import show_citations, show_feedback, show_indicators, show_level, show_story
from grader.render import when
from grader.ui.render import confidence_text, level_label, md_escape, snippet

AUTH = "coach_ok"
LEVELS = list(range(6))


def passcode_ok(given: str, expected: str) -> bool:
    """Constant-time comparison of the typed passcode with GRADER_COACH_PASSCODE."""
    return hmac.compare_digest(given.encode("utf-8"), expected.encode("utf-8"))


def _gate(expected: str) -> bool:
    if not expected:
        st.info(T("review.open_mode"))
        return True
    if st.session_state.get(AUTH) == hmac.new(expected.encode(), b"coach", "sha256").hexdigest():
        return True
    st.write(T("review.passcode.ask"))
    given = st.text_input(T("review.passcode"), type="password", key="coach_passcode")
    if given:
        if passcode_ok(given, expected):
            # remember a digest, not the passcode; changing the passcode logs everyone out
            st.session_state[AUTH] = hmac.new(expected.encode(), b"coach", "sha256").hexdigest()
            st.rerun()
        st.error(T("review.passcode.wrong"))
    return False


def _rubric(rubric_id: str) -> Rubric | None:
    try:
        return grading.get_rubric(rubric_id, settings())
    except GraderError:
        return None


SAVED = "review_saved_note"  # the note of the review just saved, shown once above the queue


def _queue(db: Store, blind: bool) -> None:
    note = st.session_state.pop(SAVED, None)
    if note:
        st.success(note)
    c1, c2, c3, c4, c5 = st.columns([1, 1.3, 1.2, 1, 1])
    st.session_state.setdefault("rf_unreviewed", True)  # a default here and a kept value would make Streamlit warn
    unreviewed = c1.checkbox(T("review.f.unreviewed"), key="rf_unreviewed")
    every = T("filter.all")  # an empty filter lets everything through
    levels = c2.multiselect(T("review.f.levels"), LEVELS, key="rf_levels", format_func=lambda v: f"LV.{v}", disabled=blind,
                            placeholder=every)
    low = c3.checkbox(T("review.f.low_conf"), key="rf_low", disabled=blind)
    threshold = c3.slider(T("review.f.threshold"), 0.05, 1.0, 0.5, 0.05, key="rf_threshold", disabled=blind or not low)
    engines = c4.multiselect(T("review.f.engines"), ["local", "llm"], key="rf_engines", placeholder=every)
    names = {v: tr("lang", v) for v in ("ko", "en")}  # looked up now: AppTest formats outside the run
    langs = c5.multiselect(T("review.f.langs"), ["ko", "en"], key="rf_langs", placeholder=every,
                           format_func=names.__getitem__)
    records = db.records(
        unreviewed=unreviewed, levels=None if blind else levels or None,
        max_confidence=threshold if low and not blind else None, engines=engines or None, languages=langs or None,
    )
    _gone(db, {r.grade_id for r in records})
    if not records:
        st.info(T("review.empty"))
        return
    st.caption(T("review.count", n=len(records)))
    rows = []
    for r in records:
        row = {"#": r.grade_id, "time": when(r.created_at), "author": r.author, "lang": tr("lang", r.language),
               "engine": r.engine}
        if not blind:
            split = split_levels(r.grade.distribution) if r.level is not None else None  # README "Split grades"
            row |= {"level": level_label(None, r.level, ""), "confidence": confidence_text(r.level, r.confidence),
                    "split": f"LV.{split[0]} / LV.{split[1]}" if split else ""}
        row |= {"coach": level_label(None, r.review.coach_level if r.review else None, ""), "story": snippet(r.story, 80)}
        rows.append(row)
    table(rows, column_config={"coach": T("col.coach_level")})
    by_id = {r.grade_id: r for r in records}
    picked = st.selectbox(
        T("review.pick"), list(by_id), key="review_pick",
        format_func=lambda gid: f"#{gid} · {by_id[gid].author or '—'} · {snippet(by_id[gid].story, 60)}",
    )
    st.divider()
    _detail(db, by_id[picked], blind)


def _gone(db: Store, listed: set[int]) -> None:
    """Say so when the grading open in this session was withdrawn by its author meanwhile (and
    that a review being saved for it was not), instead of silently opening another one."""
    gid = st.session_state.get("review_pick")
    if gid is None or gid in listed or db.get(gid) is not None:
        return
    saving = bool(st.session_state.get(f"review_save_{gid}"))
    st.warning(T("review.withdrawn", id=gid) + (" " + T("review.withdrawn.not_saved") if saving else ""))
    for key in [k for k in st.session_state if str(k).endswith(f"_{gid}") or str(k).startswith(f"corr_{gid}_")]:
        del st.session_state[key]  # its draft: nothing left to review
    del st.session_state["review_pick"]


def _detail(db: Store, r: Record, blind: bool) -> None:
    gid = r.grade_id
    rubric = _rubric(r.rubric_id)
    st.caption(md_escape(T("review.meta", id=gid, time=when(r.created_at), author=r.author or T("review.anonymous"),
                           lang=tr("lang", r.language), engine=r.engine + (f" ({r.model})" if r.model else ""))))
    n_levels = len(rubric.levels) if rubric else 6
    ui = lang()  # the coach's interface language (the story keeps its own)
    prior = r.review.coach_level if r.review else None
    coach_level = st.selectbox(
        T("review.coach_level"), list(range(n_levels)), index=prior, key=f"coach_level_{gid}",
        placeholder=T("review.choose"), format_func=lambda v: level_label(rubric, v, ui),
    )
    pick_key, seen_key = f"blind_pick_{gid}", f"revealed_{gid}"
    hidden = blind and coach_level is None
    if blind and coach_level is not None and not st.session_state.get(seen_key):
        st.session_state[pick_key] = coach_level  # the level chosen before seeing the grader's
    if not hidden:
        st.session_state[seen_key] = True

    if hidden:
        st.info(T("review.hidden"))
        show_story(r.story, None)
        return
    grade = r.grade
    if grade.level is not None:
        st.markdown(md_escape(T("review.grader_level", label=level_label(rubric, grade.level, ui), conf=grade.confidence)))
    else:
        st.markdown(md_escape(T("review.grader_none", status=tr("status", grade.status))))
    show_level(grade, rubric)
    corrections: dict[str, str] = {}
    current = dict(r.review.indicator_corrections) if r.review else {}
    with st.expander(T("review.corrections"), expanded=False):
        cols = st.columns(2)
        names = {s: tr("status", s) for s in INDICATOR_STATUSES}  # looked up now: AppTest formats outside the run
        for i, j in enumerate(grade.indicators):
            default = current.get(j.id, j.status)
            label = j.id + (f" — {rubric.indicator(j.id).text.get(ui)}" if rubric and _has(rubric, j.id) else "")
            with cols[i % 2]:
                # shown as typed through escaped Markdown; the widget's own label (what a screen reader
                # reads) is the plain text: an escaped label would be read out with its backslashes
                st.markdown(md_escape(label))
                chosen = st.selectbox(
                    label, INDICATOR_STATUSES, index=INDICATOR_STATUSES.index(default), key=f"corr_{gid}_{j.id}",
                    format_func=names.__getitem__, label_visibility="collapsed",
                )
            if chosen != j.status:
                corrections[j.id] = chosen
    statuses = {j.id: j.status for j in grade.indicators} | corrections
    show_story(r.story, grade, statuses)
    show_indicators(grade, rubric, statuses, criteria_lang=ui)  # the criteria as in the correction boxes
    show_citations(grade)
    show_feedback(grade)
    comment = st.text_area(T("review.comment"), value=r.review.comment if r.review else "", key=f"coach_comment_{gid}")
    if st.button(T("review.save"), type="primary", key=f"review_save_{gid}"):
        if coach_level is None:
            st.warning(T("review.need_level"))
        else:
            was_blind = blind and st.session_state.get(pick_key) == coach_level
            try:
                db.add_review(gid, coach_level=coach_level, comment=comment, corrections=corrections, blind=was_blind,
                              coach=st.session_state.get("coach_name", ""))
            except GraderError as exc:
                show_error(exc)
            else:  # drawn again so the queue shows the review (and, unreviewed only, drops the item) at once
                left = st.session_state.get("rf_unreviewed", True)
                st.session_state[SAVED] = T("review.saved", id=gid, level=coach_level) + (" " + T("review.left_queue") if left else "")
                st.rerun()
    earlier = db.reviews_of(gid)
    if earlier:
        with st.expander(T("review.previous", n=len(earlier))):
            table([
                {"time": when(v.created_at), "coach": v.coach, "level": v.coach_level, "blind": v.blind, "comment": v.comment,
                 "corrections": ", ".join(f"{k}→{tr('status', s)}" for k, s in v.indicator_corrections.items())}
                for v in earlier
            ])


def _has(rubric: Rubric, ident: str) -> bool:
    try:
        rubric.indicator(ident)
        return True
    except KeyError:
        return False


def _agreement(db: Store) -> None:
    blind_only = st.checkbox(T("review.blind_only"), key="agree_blind")
    records = [r for r in db.records(shared_only=False, reviewed=True, limit=100_000) if not blind_only or r.review.blind]
    stats = agreement(review_pairs(records))
    if not stats["n"]:
        st.info(T("review.no_reviews"))
        return
    fmt = lambda v: "–" if v is None else f"{v:.3f}"  # noqa: E731 - metrics with 3 decimals, as on the Evals page
    c = st.columns(4)
    c[0].metric(T("review.n"), stats["n"])
    c[1].metric(T("review.qwk"), fmt(stats["qwk"]))
    c[2].metric(T("review.exact"), fmt(stats["exact"]))
    c[3].metric(T("review.within_one"), fmt(stats["within_one"]))
    st.markdown(f"**{T('review.confusion')}**")
    st.altair_chart(heatmap(stats["confusion"], T("col.coach"), T("col.grader"), T("col.count")), width="stretch")


def _export(db: Store) -> None:
    records = db.records(reviewed=True, limit=1_000_000)
    st.write(T("review.export.info", n=len(records)))
    if not records:
        return
    left, right = st.columns(2)
    left.download_button(T("review.export.jsonl"), eval_set_jsonl(records), file_name="coach-reviews.jsonl",
                         mime="application/jsonl", key="export_jsonl", on_click="ignore")
    right.download_button(T("review.export.csv"), reviews_csv(records), file_name="coach-reviews.csv",
                          mime="text/csv", key="export_csv", on_click="ignore")


def render() -> None:
    s = settings()
    st.title(T("review.title"))
    if not _gate(s.coach_passcode):
        return
    db = store(s)
    top1, top2 = st.columns(2)
    top1.text_input(T("review.coach_name"), key="coach_name", max_chars=80)
    blind = top2.toggle(T("review.blind"), key="review_blind")
    try:
        queue, agree, export = st.tabs([T("review.tab.queue"), T("review.tab.agreement"), T("review.tab.export")])
        with queue:
            _queue(db, blind)
        with agree:
            _agreement(db)
        with export:
            _export(db)
    except GraderError as exc:
        show_error(exc)
