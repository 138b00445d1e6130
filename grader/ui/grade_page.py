"""Grade page (individuals): paste a story, get the level with evidence; store only on request."""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from grader import grading
from grader.errors import BadInputError, GraderError
from grader.render import grade_markdown
from grader.rubric import rubric_files
from grader.config import Settings
from grader.types import Grade
from grader.ui.common import T, settings, show_error, store
from grader.ui.grade_view import show_grade

RESULT = "grade_result"  # {"story", "typed" (the text box then), "grade": json, "rubric_id", "engine", "saved": grade id | None}
UPLOAD_ERROR = "grade_upload_error"  # what is wrong with the file picked to fill the story box
EARLIER = "grade_earlier"  # [{"saved": grade id, "submission": id}]: this session's shared results no longer shown


def engine_choices(s: Settings) -> list[str]:
    """The offline engine always; the LLM engine only when an endpoint or key is configured."""
    return ["local", "llm"] if (s.openai_api_key or s.openai_base_url) else ["local"]


def engine_label(s: Settings):
    """An engine as the engine lists name it (in the interface language; a keyed selectbox keeps its
    choice when its labels change with the language, checked with Streamlit 1.67 in Chromium)."""
    names = {"local": f"local ({T('engine.offline')})", "llm": f"llm ({s.model})"}  # looked up now: AppTest formats outside the run
    return lambda e: names.get(e, e)


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


def _input_error(exc: BadInputError, n: int) -> str:
    """check_story's verdict: the two everyday mistakes in the interface language, the rest as worded."""
    if exc.reason == "empty":
        return T("grade.empty")
    if exc.reason == "too_long":
        return T("grade.over_limit", n=n, limit=settings().max_chars)
    return str(exc)


def _load_file() -> None:
    """When a file is picked: its text goes into the story box, or the page says what is wrong with it."""
    st.session_state.pop(UPLOAD_ERROR, None)
    upload = st.session_state.get("grade_upload")
    if upload is None:
        return
    data = upload.getvalue()
    try:
        st.session_state["grade_story"] = grading.check_story(data, settings().max_chars)
    except BadInputError as exc:
        n = len(data.decode("utf-8", errors="replace").lstrip("\ufeff"))
        st.session_state[UPLOAD_ERROR] = f"{Path(upload.name).name}: {_input_error(exc, n)}"


def _same_grading(prev: dict, new: dict) -> bool:
    """The same text, rubric and engine, and the same outcome (the local engine is deterministic;
    the LLM engine answers a repeated story from its cache)."""
    if (prev["story"], prev["rubric_id"], prev.get("engine")) != (new["story"], new["rubric_id"], new["engine"]):
        return False
    a, b = Grade.model_validate_json(prev["grade"]), Grade.model_validate_json(new["grade"])
    return (a.status, a.level, a.confidence) == (b.status, b.level, b.confidence)


def _earlier_shared() -> None:
    """Results shared earlier in this session and since replaced on the page by a new grading
    stay with coaches; they are listed here with a button to withdraw them."""
    earlier = st.session_state.get(EARLIER) or []
    if not earlier:
        return
    ids = ", ".join(f"#{e['saved']}" for e in earlier)
    slot = st.empty()
    with slot.container():
        st.info(T("grade.earlier", ids=ids))
        clicked = st.button(T("grade.earlier.withdraw"), key="grade_withdraw_earlier")
    if clicked:
        try:
            for e in list(earlier):
                store(settings()).delete_submission(e["submission"])
                earlier.remove(e)
        except GraderError as exc:
            show_error(exc)
            return
        slot.info(T("grade.earlier.withdrawn", ids=ids))


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
    st.file_uploader(T("grade.upload"), type=["txt", "md"], key="grade_upload", on_change=_load_file,
                     help=T("grade.upload.help"))
    if st.session_state.get(UPLOAD_ERROR):
        st.error(st.session_state[UPLOAD_ERROR])
    author = st.text_input(T("grade.author"), key="grade_author", max_chars=80)
    share = st.checkbox(T("grade.share"), key="grade_share", help=T("grade.share.help"))

    if st.button(T("grade.button"), type="primary", key="grade_button"):
        prev = st.session_state.pop(RESULT, None)
        shared = prev if prev and prev.get("saved") is not None else None
        try:
            text = grading.check_story(story, s.max_chars)
            with st.spinner(T("grade.running")):
                grade = grading.grade(text, rubric_id=rubric_id, engine=engine, settings=s)
            result = {
                "story": text, "typed": story, "grade": grade.model_dump_json(), "rubric_id": rubric_id,
                "engine": engine, "saved": None,
            }
            if shared and _same_grading(shared, result):
                # graded again unchanged: the stored copy is this result, not a second one to store
                result.update(saved=shared["saved"], submission=shared["submission"], author=shared.get("author", ""))
                shared = None
            st.session_state[RESULT] = result
        except BadInputError as exc:
            st.error(_input_error(exc, n))
        except GraderError as exc:
            show_error(exc)
        if shared:  # replaced on the page but still shared: kept withdrawable
            st.session_state.setdefault(EARLIER, []).append({"saved": shared["saved"], "submission": shared["submission"]})

    _earlier_shared()
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
