"""The one entry point for grading: input checks, engine choice, failure containment."""

from __future__ import annotations

import time
import unicodedata
from collections.abc import Sequence
from functools import lru_cache

from grader.config import Settings
from grader.engines.base import Engine, Progress, failed_grade
from grader.errors import BadInputError, ConfigError, GraderError
from grader.evidence import detect_language
from grader.rubric import load_rubric
from grader.types import Grade, Rubric

ENGINES = ("local", "llm")


def _reads_as_text(text: str, controls: bool = True) -> bool:
    """Mostly printable characters (or line breaks and tabs), no NUL; with `controls=False` no
    other control character either (text has none; bytes that are not text decode to many)."""
    if "\x00" in text or not controls and any(unicodedata.category(ch) == "Cc" and not ch.isspace() for ch in text):
        return False
    return sum(ch.isprintable() or ch in "\n\r\t" for ch in text) >= 0.9 * len(text)


def _utf16_text(data: bytes) -> str | None:
    """The text of UTF-16 bytes, or None when they are not UTF-16 text.

    With a byte order mark (FF FE or FE FF), the bytes must decode and read as text. Without one
    (Notepad's "Unicode", some exports), the NUL bytes tell the byte order: every code unit below
    U+0100 (spaces, digits, punctuation, line breaks, English letters) has a NUL as its high byte,
    which comes second in little-endian and first in big-endian. So in UTF-16 text the NULs sit
    on one side of the byte pairs (the other side has one only in a character like U+AC00 '가',
    00 AC in little-endian), and there are many of them: English text has one per character, Korean
    one per space, digit or punctuation mark. Binary data (PNG, zip, random bytes) has NULs on both
    sides, or does not decode, or decodes to code units that are not printable, and stays binary;
    so does UTF-8 text with a stray NUL (too few NULs)."""
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        try:
            text = data.decode("utf-16")
        except UnicodeDecodeError:
            return None
        return text if _reads_as_text(text) else None
    if len(data) < 2 or len(data) % 2:
        return None
    even, odd = data[0::2].count(0), data[1::2].count(0)
    high, low = max(even, odd), min(even, odd)
    if high < len(data) / 16 or low * 4 > high:  # under one code unit in 8 below U+0100, or NULs on both sides
        return None
    try:
        text = data.decode("utf-16-le" if odd > even else "utf-16-be")
    except UnicodeDecodeError:
        return None
    return text if _reads_as_text(text, controls=False) else None


def check_story(data: str | bytes, max_chars: int) -> str:
    """Return the story as text, or raise BadInputError saying what is wrong with it."""
    if isinstance(data, bytes):
        utf16 = _utf16_text(data) if data.startswith((b"\xff\xfe", b"\xfe\xff")) or b"\x00" in data else None
        if utf16 is not None:
            data = utf16
        elif b"\x00" in data[:8192]:
            raise BadInputError("the input looks like binary data, not text: paste or pass a UTF-8 text story")
        else:
            try:
                data = data.decode("utf-8")
            except UnicodeDecodeError as exc:
                raise BadInputError(
                    f"the input is not UTF-8 text (invalid byte at position {exc.start}): save the story as UTF-8 and try again"
                ) from None
    text = data.lstrip("\ufeff")
    if "\x00" in text:
        raise BadInputError("the input looks like binary data, not text: paste or pass a UTF-8 text story")
    controls = sum(1 for ch in text if unicodedata.category(ch) in ("Cc", "Cs", "Co") and ch not in "\n\r\t")
    if controls > max(8, len(text) // 100):
        raise BadInputError("the input contains many control characters and looks like binary data, not a story")
    if not text.strip():
        raise BadInputError("the story is empty: write a few sentences about how you work", reason="empty")
    if len(text) > max_chars:
        raise BadInputError(
            f"the story is {len(text):,} characters; the limit is {max_chars:,} (GRADER_MAX_CHARS): shorten it",
            reason="too_long",
        )
    return text


@lru_cache(maxsize=8)
def _engine(name: str, settings: Settings) -> Engine:
    if name == "local":
        from grader.engines.local import LocalEngine

        return LocalEngine(settings)
    if name == "llm":
        from grader.engines.llm import LLMEngine

        return LLMEngine(settings)
    raise ConfigError(f"unknown engine {name!r}: use one of {', '.join(ENGINES)}")


def get_engine(name: str | None = None, settings: Settings | None = None) -> Engine:
    """The engine by name (default GRADER_ENGINE), constructed once per settings."""
    settings = settings or Settings.from_env()
    return _engine((name or settings.engine).lower(), settings)


def get_rubric(rubric_id: str | None = None, settings: Settings | None = None) -> Rubric:
    settings = settings or Settings.from_env()
    return load_rubric(rubric_id or settings.rubric, settings.rubrics_dir)


def _contain(engine: Engine, rubric: Rubric, story: str, lang: str, started: float, exc: Exception) -> Grade:
    reason = str(exc) if isinstance(exc, GraderError) else f"{type(exc).__name__}: {exc}"
    g = failed_grade(rubric, engine.info, f"engine {engine.name} failed: {reason}", lang)
    g.usage.latency_ms = round((time.perf_counter() - started) * 1000, 1)
    return g


def grade(
    story: str | bytes,
    *,
    rubric_id: str | None = None,
    engine: str | None = None,
    settings: Settings | None = None,
    language: str | None = None,
) -> Grade:
    """Grade one story. Bad input raises BadInputError and a configuration error (no API key…)
    ConfigError; an engine failure returns status 'failed'."""
    settings = settings or Settings.from_env()
    text = check_story(story, settings.max_chars)
    rubric = get_rubric(rubric_id, settings)
    eng = get_engine(engine, settings)
    lang = language or detect_language(text)
    started = time.perf_counter()
    try:
        return eng.grade(text, rubric, language=lang)
    except ConfigError:
        raise  # the caller's setup, not the model: said as such (the CLI: exit 2), never a failed grade
    except Exception as exc:  # noqa: BLE001 - a failure must never become a level or a crash
        return _contain(eng, rubric, text, lang, started, exc)


def grade_many(
    stories: Sequence[str],
    *,
    rubric_id: str | None = None,
    engine: str | None = None,
    settings: Settings | None = None,
    progress: Progress | None = None,
) -> list[Grade]:
    """Grade already-checked stories in order (the llm engine runs them concurrently)."""
    settings = settings or Settings.from_env()
    rubric = get_rubric(rubric_id, settings)
    eng = get_engine(engine, settings)
    langs = [detect_language(s) for s in stories]
    started = time.perf_counter()
    try:
        return eng.grade_many(stories, rubric, languages=langs, progress=progress)
    except ConfigError:
        raise
    except Exception as exc:  # noqa: BLE001
        return [_contain(eng, rubric, s, lg, started, exc) for s, lg in zip(stories, langs)]
