"""Grade page (individuals): paste a story, get the level with evidence; store only on request."""

from __future__ import annotations

import streamlit as st

from grader import grading
from grader.errors import BadInputError, GraderError
from grader.render import grade_markdown
from grader.rubric import rubric_files
from grader.config import Settings
from grader.types import Grade
from grader.ui.common import T, settings, show_error, store
from grader.ui.grade_view import show_grade

RESULT = "grade_result"  # {"story", "typed" (the text box then), "grade": json, "rubric_id", "saved": grade id | None}


def engine_choices(s: Settings) -> list[str]:
    """The offline engine always; the LLM engine only when an endpoint or key is configured."""
    return ["local", "llm"] if (s.openai_api_key or s.openai_base_url) else ["local"]


def engine_label(s: Settings):
    # language-neutral on purpose: a keyed widget's labels must not change with the interface language
    return lambda e: "local (offline)" if e == "local" else f"llm ({s.model})"


def _sync_saved(result: dict, share: bool, author: str, stale: bool) -> None:
    """Store the shown result while the box is ticked (with the name typed); remove it again when
    unticked. Once the story in the box was changed (`stale`), the box is for the next grading:
    ticking it or not neither stores nor removes the result shown, which is of the earlier text."""
    s = settings()
    grade = Grade.model_validate_json(result["grade"])
    if grade.status == "failed":
        if share:
            st.caption(T("grade.failed.not_saved"))
        return
    name = author.strip()
    try:
        if stale:
            st.info(T("grade.stale"))
        elif share and result.get("saved") is None:
            record = store(s).save(result["story"], grade, shared=True, author=name)
            result["saved"], result["submission"], result["author"] = record.grade_id, record.submission_id, name
        elif share and name != result.get("author"):
            store(s).set_author(result["submission"], name)
            result["author"] = name
        elif not share and result.get("saved") is not None:
            store(s).delete_submission(result["submission"])
            result["saved"] = None
            st.info(T("grade.unsaved"))
            return
    except GraderError as exc:
        show_error(exc)
        return
    if result.get("saved") is not None:
        st.success(T("grade.saved", id=result["saved"]))
    elif not stale:  # edited: the box is for the next grading, "tick to keep it" would mislead
        st.caption(T("grade.not_stored"))


def render() -> None:
    s = settings()
    st.title(T("grade.title"))
    st.caption(T("grade.intro"))

    rubric_ids = list(rubric_files(s.rubrics_dir))
    if not rubric_ids:
        st.error(T("grade.no_rubric", path=str(s.rubrics_dir)))
        return
    engines = engine_choices(s)
    left, right = st.columns(2)
    rubric_id = left.selectbox(
        T("grade.rubric"), rubric_ids, key="grade_rubric",
        index=rubric_ids.index(s.rubric) if s.rubric in rubric_ids else 0,
    )
    engine = right.selectbox(
        T("grade.engine"), engines, key="grade_engine",
        index=engines.index(s.engine) if s.engine in engines else 0,
        format_func=engine_label(s),
    )
    if len(engines) == 1:
        right.caption(T("grade.engine.llm_off"))

    story = st.text_area(T("grade.story"), key="grade_story", height=260, placeholder=T("grade.placeholder"))
    n = len(story)
    st.caption(T("grade.counter", n=n, limit=s.max_chars))
    if n > s.max_chars:
        st.warning(T("grade.too_long", over=n - s.max_chars))
    author = st.text_input(T("grade.author"), key="grade_author", max_chars=80)
    share = st.checkbox(T("grade.share"), key="grade_share", help=T("grade.share.help"))

    if st.button(T("grade.button"), type="primary", key="grade_button"):
        st.session_state.pop(RESULT, None)
        try:
            text = grading.check_story(story, s.max_chars)
            with st.spinner(T("grade.running")):
                grade = grading.grade(text, rubric_id=rubric_id, engine=engine, settings=s)
            st.session_state[RESULT] = {
                "story": text, "typed": story, "grade": grade.model_dump_json(), "rubric_id": rubric_id, "saved": None,
            }
        except BadInputError as exc:  # the two everyday mistakes in the interface language, the rest as check_story words them
            if exc.reason == "empty":
                st.error(T("grade.empty"))
            elif exc.reason == "too_long":
                st.error(T("grade.over_limit", n=n, limit=s.max_chars))
            else:
                st.error(str(exc))
        except GraderError as exc:
            show_error(exc)

    result = st.session_state.get(RESULT)
    if not result:
        return
    grade = Grade.model_validate_json(result["grade"])
    try:
        rubric = grading.get_rubric(result["rubric_id"], s)
    except GraderError:
        rubric = None
    st.divider()
    _sync_saved(result, share, author, stale=story != result.get("typed", story))
    show_grade(grade, result["story"], rubric)
    left, right = st.columns(2)
    left.download_button(
        T("grade.download_json"), grade.model_dump_json(indent=2), file_name="grade.json",
        mime="application/json", key="grade_dl_json", on_click="ignore",
    )
    right.download_button(
        T("grade.download_md"), grade_markdown(grade, result["story"]), file_name="grade.md",
        mime="text/markdown", key="grade_dl_md", on_click="ignore",
    )
