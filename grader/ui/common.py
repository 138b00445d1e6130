"""Streamlit helpers shared by the pages: interface language, settings, the store handle."""

from __future__ import annotations

import re

import streamlit as st

from grader.config import Settings
from grader.errors import GraderError
from grader.store import Store
from grader.ui.i18n import LANGS, STRINGS, t

LANG_KEY = "ui_lang"


def default_lang() -> str:
    try:
        locale = st.context.locale or ""
    except Exception:  # noqa: BLE001 - no browser context (bare run)
        locale = ""
    return "ko" if str(locale).lower().startswith("ko") else "en"


def lang() -> str:
    value = st.session_state.get(LANG_KEY)
    return value if value in LANGS else default_lang()


def T(key: str, **values: object) -> str:
    """Interface string in the chosen interface language."""
    return t(key, lang(), **values)


def tr(prefix: str, value: object) -> str:
    """The interface label of a data value (a status, a column name…): STRINGS[prefix.value], else
    the value itself; None as "–"."""
    if value is None:
        return "–"
    key = f"{prefix}.{value}"
    return T(key) if key in STRINGS else str(value)


_CHUNK = re.compile(r" \(chunk (\d+)\)$")


def where(location: str) -> str:
    """An index entry's stored location in the interface language: "<rubric> v1, principles" and
    "<document> § <section> (chunk 3)" are stored in English."""
    if location.endswith(", principles"):
        return location.removesuffix("principles") + T("where.principles")
    return _CHUNK.sub(lambda m: f" ({T('where.chunk', n=m[1])})", location)


def table(rows: list[dict], column_config: dict | None = None, **kwargs: object) -> None:
    """A read-only table with its headers in the interface language (the data keeps its column
    names) and "–" for missing values."""
    import pandas as pd  # on use: keeps the first page quick to appear

    data = pd.DataFrame(rows)
    labels = {c: tr("col", c) for c in data.columns}
    st.dataframe(data, hide_index=True, width="stretch", placeholder="–",
                 column_config=labels | (column_config or {}), **kwargs)


def settings() -> Settings:
    """Settings from the environment; a bad value stops the page with a clear message."""
    try:
        return Settings.from_env()
    except GraderError as exc:
        st.error(T("settings.error", error=str(exc)))
        st.stop()
        raise  # unreachable: st.stop() raises


@st.cache_resource(show_spinner=False)
def _store(path: str) -> Store:
    return Store(path)


def store(s: Settings) -> Store:
    return _store(str(s.store_path))


def show_error(exc: Exception, names: dict[str, str] | None = None) -> None:
    """A user-facing error as one line (GraderError messages say what to do). `names` maps the
    server paths of uploaded files to the names the user gave them, which the message shows instead."""
    text = str(exc) if isinstance(exc, GraderError) else f"{type(exc).__name__}: {exc}"
    for path, name in (names or {}).items():
        text = text.replace(path, name)
    st.error(text)
