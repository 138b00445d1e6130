"""The frame around the pages: interface-language switch, navigation, background warm-up of imports."""

from __future__ import annotations

import importlib
import threading

import streamlit as st

from grader.ui.common import LANG_KEY, T, default_lang
from grader.ui.i18n import LANG_NAMES, LANGS

# imported in the background after the first page is shown (they take seconds on a small machine),
# in the order a first grading needs them: the engine, then pandas for the result's tables; altair
# (charts of the Review and Evals pages) last, so it does not compete with a first click for the CPU
WARM_MODULES = ("grader.engines.local", "grader.index", "pandas", "grader.store_export", "altair")


# the pages' inputs (keys, and key prefixes of per-item widgets); Streamlit forgets a widget's
# value once a run does not draw it. (A file uploader's value cannot be set: the Evals page keeps
# its uploaded file's name and bytes in a key of its own.)
KEPT_KEYS = (
    "grade_story", "grade_author", "grade_share", "grade_rubric", "grade_engine",  # Grade
    "coach_name", "review_blind", "review_pick", "rf_unreviewed", "rf_levels", "rf_low", "rf_threshold",  # Review
    "rf_engines", "rf_langs", "agree_blind",
    "evals_source", "evals_file", "evals_engine", "evals_repeats", "evals_pick", "evals_cmp_a", "evals_cmp_b",  # Evals
)
KEPT_PREFIXES = ("coach_level_", "coach_comment_", "corr_")  # Review, one per grading or indicator


def keep_inputs() -> None:
    """Re-save every page's inputs on every run, before st.navigation (which drops the widget
    values of a page being left), so a story, name and tick, or a coach's name, filters, pick and
    draft review, are still there (and the Grade page's still match the result shown) after a
    visit to another page."""
    for key in list(st.session_state):
        if key in KEPT_KEYS or str(key).startswith(KEPT_PREFIXES):
            st.session_state[key] = st.session_state[key]


def language_switch() -> str:
    if LANG_KEY not in st.session_state:
        st.session_state[LANG_KEY] = default_lang()
    return st.sidebar.radio(
        "Language / 언어", LANGS, key=LANG_KEY, format_func=LANG_NAMES.__getitem__, horizontal=True
    )


# Pages are imported when first opened, so the first page appears without loading the others.
def _grade() -> None:
    from grader.ui.grade_page import render

    render()


def _review() -> None:
    from grader.ui.review_page import render

    render()


def _evals() -> None:
    from grader.ui.evals_page import render

    render()


def _rubric() -> None:
    from grader.ui.rubric_page import render

    render()


def pages() -> list[st.Page]:
    return [
        st.Page(_grade, title=T("nav.grade"), icon=":material/edit_note:", url_path="grade", default=True),
        st.Page(_review, title=T("nav.review"), icon=":material/rate_review:", url_path="review"),
        st.Page(_evals, title=T("nav.evals"), icon=":material/monitoring:", url_path="evals"),
        st.Page(_rubric, title=T("nav.rubric"), icon=":material/menu_book:", url_path="rubric"),
    ]


def _import_all() -> None:
    for name in WARM_MODULES:
        try:
            importlib.import_module(name)
        except Exception:  # noqa: BLE001 - warm-up only; the page that needs it reports any problem
            pass


@st.cache_resource(show_spinner=False)
def warm_up() -> bool:
    """Once per server process: import the heavy modules in a daemon thread (no grading, no I/O)."""
    threading.Thread(target=_import_all, name="grader-warm-up", daemon=True).start()
    return True
