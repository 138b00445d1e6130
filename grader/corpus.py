"""What goes into the index: rubric entries, notes and user documents, cut into chunks.

Chunk ids derive from content (source key + text), so re-indexing unchanged files embeds
nothing and a changed file's old chunks can be found and removed.
"""

from __future__ import annotations

import hashlib
import logging
import re
import threading
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path

from grader.errors import BadInputError
from grader.evidence import detect_language, split_sentences
from grader.types import Rubric

TEXT_SUFFIXES = {".txt", ".md", ".markdown", ".html", ".htm", ".pdf"}
CHUNK_CHARS = 700  # target size; chunks end on sentence boundaries
_HEADING = re.compile(r"^(#{1,6})\s+(.+?)\s*#*\s*$", re.M)


@dataclass(frozen=True)
class Entry:
    """One record for the index; `metadata["digest"]` is filled in from the text and the rest
    of the metadata."""

    id: str
    text: str
    metadata: dict[str, str | int]

    def __post_init__(self) -> None:
        self.metadata["digest"] = entry_digest(self.text, self.metadata)


@dataclass
class SourceDoc:
    key: str  # stable identity: "corpus:notes/x.md" or an absolute path
    title: str
    text: str
    kind: str = "passage"
    sections: list[tuple[str, str]] = field(default_factory=list)  # (heading, body)


def _digest(*parts: str) -> str:
    return hashlib.sha256("\x1f".join(parts).encode("utf-8")).hexdigest()[:16]


def entry_digest(text: str, metadata: dict[str, str | int]) -> str:
    """What `grader index` compares to decide whether an entry changed: its text AND its metadata
    (rubric id, source key, level, location, ...), so an entry that keeps its text but moves to
    another rubric or source is rewritten too. (Digests were of the text alone before: an index
    built then sees every entry as changed once; the text is the same, so `Index.build` only
    rewrites the metadata and embeds nothing.)"""
    meta = "\x1e".join(f"{k}={metadata[k]}" for k in sorted(metadata) if k != "digest")
    return _digest(text, meta)


# --------------------------------------------------------------------------- rubric entries


def rubric_entries(rubric: Rubric, source_key: str) -> list[Entry]:
    """Indicators and principles, one entry per language (id '<indicator id>@<lang>')."""
    out: list[Entry] = []
    src = rubric.source.title
    for lv in rubric.levels:
        for ind in lv.indicators:
            for lang in ("ko", "en"):
                text = f"LV.{lv.level} {lv.name.get(lang)}: {ind.text.get(lang)}"
                out.append(
                    Entry(
                        id=f"{ind.id}@{lang}",
                        text=text,
                        metadata={
                            "kind": "indicator", "rubric_id": rubric.id, "level": lv.level,
                            "indicator_id": ind.id, "source": src, "lang": lang, "chunk": 0,
                            "source_key": source_key, "location": f"{rubric.id} v{rubric.version}, LV.{lv.level}",
                        },
                    )
                )
    for pr in rubric.principles:
        for lang in ("ko", "en"):
            text = pr.text.get(lang)
            out.append(
                Entry(
                    id=f"{pr.id}@{lang}",
                    text=text,
                    metadata={
                        "kind": "principle", "rubric_id": rubric.id, "level": -1, "indicator_id": pr.id,
                        "source": src, "lang": lang, "chunk": 0, "source_key": source_key,
                        "location": f"{rubric.id} v{rubric.version}, principles",
                    },
                )
            )
    return out


# --------------------------------------------------------------------------- documents


class _TextFromHTML(HTMLParser):
    _SKIP = {"script", "style", "noscript", "template"}
    _BLOCK = {"p", "div", "br", "li", "h1", "h2", "h3", "h4", "h5", "h6", "tr", "section", "article"}

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._skip = 0

    def handle_starttag(self, tag: str, attrs: object) -> None:
        if tag in self._SKIP:
            self._skip += 1
        elif tag in self._BLOCK:
            self.parts.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in self._SKIP and self._skip:
            self._skip -= 1
        elif tag in self._BLOCK:
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        if not self._skip:
            self.parts.append(data)


def html_to_text(html: str) -> str:
    parser = _TextFromHTML()
    parser.feed(html)
    return re.sub(r"\n\s*\n+", "\n\n", "".join(parser.parts)).strip()


_PDF_LOCK = threading.Lock()


@contextmanager
def _quiet_pdf_library() -> Iterator[None]:
    """pypdf reports what it repairs or cannot read ("invalid pdf header", "EOF marker not found")
    through its logger and `warnings`, which end up as raw lines on stderr; a file we cannot read
    gets our own one-line reason instead. The level and the warning filters are process-wide,
    so PDFs are read one at a time (the lock keeps concurrent reads from restoring them wrongly)."""
    logger = logging.getLogger("pypdf")
    with _PDF_LOCK:
        level = logger.level
        logger.setLevel(logging.CRITICAL + 1)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                yield
        finally:
            logger.setLevel(level)


def read_document(path: Path) -> str:
    """Text of a .txt/.md/.html/.pdf file; BadInputError for anything unreadable."""
    suffix = path.suffix.lower()
    if suffix not in TEXT_SUFFIXES:
        raise BadInputError(f"{path}: unsupported file type {suffix or '(none)'}; use .txt, .md, .html or .pdf")
    if suffix == ".pdf":
        try:
            with _quiet_pdf_library():
                from pypdf import PdfReader

                reader = PdfReader(str(path))
                text = "\n\n".join(page.extract_text() or "" for page in reader.pages)
        except Exception as exc:  # noqa: BLE001 - any parser failure is a bad file for the user
            raise BadInputError(f"{path}: cannot read this PDF ({type(exc).__name__}: {exc})") from None
    else:
        raw = path.read_bytes()
        if b"\x00" in raw[:8192]:
            raise BadInputError(f"{path}: looks like binary data, not text")
        try:
            text = raw.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise BadInputError(f"{path}: not UTF-8 text (invalid byte at {exc.start}); convert it to UTF-8") from None
        if suffix in (".html", ".htm"):
            text = html_to_text(text)
    if not text.strip():
        raise BadInputError(f"{path}: no text found")
    return text


def _sections(text: str) -> list[tuple[str, str]]:
    """Split markdown by headings; plain text is one untitled section."""
    marks = list(_HEADING.finditer(text))
    if not marks:
        return [("", text)]
    out = [("", text[: marks[0].start()])] if text[: marks[0].start()].strip() else []
    for m, nxt in zip(marks, marks[1:] + [None]):
        out.append((m.group(2).strip(), text[m.end(): nxt.start() if nxt else len(text)]))
    return out


def chunk_text(text: str, size: int = CHUNK_CHARS) -> list[str]:
    """Pack whole sentences into chunks of about `size` characters (never splits a sentence
    unless the sentence alone is longer than the limit)."""
    chunks: list[str] = []
    current: list[str] = []
    length = 0
    for s in split_sentences(text):
        if current and length + len(s.text) > size:
            chunks.append(" ".join(current))
            current, length = [], 0
        current.append(s.text)
        length += len(s.text) + 1
    if current:
        chunks.append(" ".join(current))
    return chunks


def document_entries(doc: SourceDoc) -> list[Entry]:
    out: list[Entry] = []
    position = 0
    for heading, body in _sections(doc.text):
        for chunk in chunk_text(body):
            text = f"{heading}\n{chunk}" if heading else chunk
            where = f"{doc.title} § {heading}" if heading else doc.title
            out.append(
                Entry(
                    id=f"passage:{_digest(doc.key, text)}",
                    text=text,
                    metadata={
                        "kind": "passage", "rubric_id": "", "level": -1, "indicator_id": "",
                        "source": doc.title, "lang": detect_language(text), "chunk": position,
                        "source_key": doc.key, "location": f"{where} (chunk {position + 1})",
                    },
                )
            )
            position += 1
    return out


def title_of(path: Path, text: str) -> str:
    """First markdown heading or first non-empty line (shortened), else the file name."""
    m = _HEADING.search(text)
    if m and path.suffix.lower() in (".md", ".markdown"):
        return m.group(2).strip()[:120]
    return path.name


def load_document(path: Path, key: str | None = None) -> SourceDoc:
    text = read_document(path)
    return SourceDoc(key=key or str(path.resolve()), title=title_of(path, text), text=text)
