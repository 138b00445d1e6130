"""The frame around the pages: interface-language switch and navigation."""

from __future__ import annotations

import streamlit as st

from grader.ui.common import LANG_KEY, T, default_lang
from grader.ui.i18n import LANG_NAMES, LANGS


def language_switch() -> str:
    if LANG_KEY not in st.session_state:
        st.session_state[LANG_KEY] = default_lang()
    return st.sidebar.radio(
        "Language / 언어", LANGS, key=LANG_KEY, format_func=LANG_NAMES.__getitem__, horizontal=True
    )


def pages() -> list[st.Page]:
    from grader.ui import evals_page, grade_page, review_page, rubric_page

    return [
        st.Page(grade_page.render, title=T("nav.grade"), icon="📝", url_path="grade", default=True),
        st.Page(review_page.render, title=T("nav.review"), icon="🧑‍🏫", url_path="review"),
        st.Page(evals_page.render, title=T("nav.evals"), icon="📊", url_path="evals"),
        st.Page(rubric_page.render, title=T("nav.rubric"), icon="📚", url_path="rubric"),
    ]
