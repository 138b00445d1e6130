"""The Chroma index: rubric criteria and source passages in one collection.

Embedded on disk (`PersistentClient` under GRADER_DATA_DIR/chroma) by default, or a Chroma
server when GRADER_CHROMA_URL is set. The collection records which embedding model built it
and refuses to be queried with another.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import numpy as np

from grader.config import Settings
from grader.corpus import TEXT_SUFFIXES, Entry, SourceDoc, document_entries, load_document, rubric_entries
from grader.embeddings import Embedder, make_embedder
from grader.errors import BadInputError, GraderError, IndexError_, RubricError
from grader.rubric import check_file_name, id_clashes, load_rubric_file, rubric_files
from grader.types import Hit, Rubric

Progress = Callable[[int, int], None]
BATCH = 32
KINDS = ("indicator", "principle", "passage")


def check_search(text: str | None, kinds: Sequence[str] | None = None) -> None:
    """BadInputError for a query `Index.search` cannot answer: empty text or an unknown kind."""
    unknown = [k for k in kinds or () if k not in KINDS]
    if unknown:
        raise BadInputError(f"unknown kind {unknown[0]!r}: the kinds are {', '.join(KINDS)}")
    if text is None or not text.strip():
        raise BadInputError("the search text is empty: give a few words to look for")


def _guarded(what: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Any failure of Chroma (or of the embedder) inside an Index method becomes one IndexError_
    line saying what was being done; the project's own errors pass through unchanged."""

    def wrap(fn: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(fn)
        def guarded(self: "Index", *args: Any, **kwargs: Any) -> Any:
            try:
                return fn(self, *args, **kwargs)
            except GraderError:
                raise
            except Exception as exc:  # noqa: BLE001 - a library failure is one clear line, not a traceback
                where = self.settings.chroma_url or self.settings.chroma_dir
                detail = " ".join(str(exc).split())[:300]
                raise IndexError_(
                    f"the index at {where} failed while {what} ({type(exc).__name__}: {detail}): "
                    "run `grader index`, or `grader index --rebuild` if it persists"
                ) from None

        return guarded

    return wrap


@dataclass
class BuildReport:
    added: int = 0
    updated: int = 0
    removed: int = 0
    unchanged: int = 0
    embedded: int = 0
    sources: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  # "path: reason"


def _client(settings: Settings) -> Any:
    import chromadb
    from chromadb.config import Settings as ChromaSettings

    chroma_settings = ChromaSettings(anonymized_telemetry=False)
    if settings.chroma_url:
        url = urlparse(settings.chroma_url)
        if not url.hostname:
            raise IndexError_(f"GRADER_CHROMA_URL={settings.chroma_url!r} is not a URL like http://localhost:8000")
        return chromadb.HttpClient(
            host=url.hostname, port=url.port or (443 if url.scheme == "https" else 8000),
            ssl=url.scheme == "https", settings=chroma_settings,
        )
    settings.chroma_dir.mkdir(parents=True, exist_ok=True)
    return chromadb.PersistentClient(path=str(settings.chroma_dir), settings=chroma_settings)


class Index:
    """Lazy handle on the collection (no disk or network work until first use)."""

    def __init__(self, settings: Settings, embedder: Embedder | None = None) -> None:
        self.settings = settings
        self.embedder = embedder or make_embedder(settings)
        self._collection: Any = None
        self._client: Any = None

    # ------------------------------------------------------------------ collection

    @property
    def client(self) -> Any:
        if self._client is None:
            try:
                self._client = _client(self.settings)
            except IndexError_:
                raise
            except Exception as exc:  # noqa: BLE001 - connection problems become one clear line
                where = self.settings.chroma_url or self.settings.chroma_dir
                raise IndexError_(f"cannot open the Chroma index at {where}: {exc}") from None
        return self._client

    @property
    @_guarded("opening the collection")
    def collection(self) -> Any:
        if self._collection is None:
            name = self.settings.collection
            model = self.embedder.model_id
            existing = {c.name if hasattr(c, "name") else str(c) for c in self.client.list_collections()}
            if name in existing:
                meta = self.client.get_collection(name).metadata or {}
                built_with = meta.get("embedding_model")
                if built_with and built_with != model:
                    raise IndexError_(
                        f"the index was built with embeddings {built_with!r} but GRADER_EMBEDDINGS selects {model!r}: "
                        "rebuild it with `grader index --rebuild` or switch GRADER_EMBEDDINGS back"
                    )
            self._collection = self.client.get_or_create_collection(
                name, embedding_function=self.embedder,  # type: ignore[arg-type]
                metadata={"embedding_model": model, "hnsw:space": "cosine"},
            )
        return self._collection

    @_guarded("counting entries")
    def count(self) -> int:
        return int(self.collection.count())

    def reset(self) -> None:
        try:
            self.client.delete_collection(self.settings.collection)
        except Exception:  # noqa: BLE001 - absent collection is fine
            pass
        self._collection = None

    # ------------------------------------------------------------------ building

    def _corpus_sources(self) -> tuple[list[tuple[str, list[Entry]]], list[str]]:
        """Entries of the corpus rubrics and notes, and "path: reason" for files left out.

        A rubric whose id is not its file name is left out (grading refuses it anyway); two
        rubrics sharing principle/indicator ids are a RubricError, raised before the index is
        touched (their entries would overwrite each other)."""
        out: list[tuple[str, list[Entry]]] = []
        skipped: list[str] = []
        rubrics: list[tuple[Path, Rubric]] = []
        for path in rubric_files(self.settings.rubrics_dir).values():
            rubric = load_rubric_file(path)
            try:
                check_file_name(rubric, path)
            except RubricError as exc:
                skipped.append(f"{exc}; this rubric is not indexed")
                continue
            rubrics.append((path, rubric))
        clashes = id_clashes(rubrics)
        if clashes:
            raise RubricError("; ".join(clashes) + " (nothing was indexed; the index is unchanged)")
        for path, rubric in rubrics:
            key = f"corpus:rubrics/{path.name}"
            out.append((key, rubric_entries(rubric, key)))
        notes = self.settings.notes_dir
        if notes.is_dir():
            for path in sorted(p for p in notes.rglob("*") if p.suffix.lower() in TEXT_SUFFIXES):
                key = f"corpus:notes/{path.relative_to(notes).as_posix()}"
                try:
                    out.append((key, document_entries(load_document(path, key))))
                except BadInputError as exc:
                    skipped.append(str(exc))
        return out, skipped

    @staticmethod
    def _expand(paths: Iterable[str | Path]) -> list[Path]:
        files: list[Path] = []
        for raw in paths:
            p = Path(raw).expanduser()
            if p.is_dir():
                files.extend(sorted(f for f in p.rglob("*") if f.is_file() and f.suffix.lower() in TEXT_SUFFIXES))
            elif p.is_file():
                files.append(p)
            else:
                raise BadInputError(f"{p}: no such file or folder")
        return files

    @_guarded("indexing")
    def build(self, paths: Sequence[str | Path] = (), *, rebuild: bool = False, progress: Progress | None = None) -> BuildReport:
        """Index the corpus, the given documents and documents indexed before (still on disk).

        Unchanged entries are not embedded again; changed ones are replaced (an entry whose
        text is the same and only its metadata changed gets the new metadata, not a new
        embedding); entries of files that are gone are removed. `rebuild` starts from an empty
        collection. Problems with the corpus or the given paths are raised before the index is
        touched.
        """
        report = BuildReport()
        sources, report.skipped = self._corpus_sources()
        given = self._expand(paths)
        wanted_files = {str(p.resolve()): p for p in given}
        docs: dict[str, SourceDoc] = {}
        named = {Path(p).expanduser().resolve() for p in paths}
        for key, path in wanted_files.items():
            try:
                docs[key] = load_document(path, key)
            except BadInputError as exc:
                if path.resolve() in named:  # a bad file the user named is an error
                    raise
                report.skipped.append(str(exc))  # one found in a named folder is skipped
        if rebuild:
            self.reset()
        current = self.collection.get(include=["metadatas", "documents"])
        known: dict[str, tuple[str, str, str]] = {
            i: (str(m.get("source_key", "")), str(m.get("digest", "")), str(d))
            for i, m, d in zip(current["ids"], current["metadatas"] or [], current["documents"] or [])
        }
        user_keys = sorted({k for k, _, _ in known.values() if k and not k.startswith("corpus:")})
        for key in user_keys:
            if key in docs or not Path(key).is_file():
                continue
            try:
                docs[key] = load_document(Path(key), key)
            except BadInputError as exc:  # a remembered document that went bad is skipped
                report.skipped.append(str(exc))
        sources.extend((key, document_entries(doc)) for key, doc in docs.items())
        report.sources = [k for k, _ in sources]

        desired: dict[str, Entry] = {e.id: e for _, entries in sources for e in entries}
        stale = [i for i in known if i not in desired]
        changed = [e for e in desired.values() if e.id not in known or known[e.id][1] != e.metadata["digest"]]
        retag = [e for e in changed if e.id in known and known[e.id][2] == e.text]
        retag_ids = {e.id for e in retag}
        todo = [e for e in changed if e.id not in retag_ids]
        report.removed = len(stale)
        report.updated = sum(1 for e in changed if e.id in known)
        report.added = len(changed) - report.updated
        report.unchanged = len(desired) - len(changed)
        if stale:
            for i in range(0, len(stale), 500):
                self.collection.delete(ids=stale[i : i + 500])
        for i in range(0, len(retag), 500):
            batch = retag[i : i + 500]
            self.collection.update(ids=[e.id for e in batch], metadatas=[e.metadata for e in batch])
        total = len(todo)
        if progress:
            progress(0, total)
        for i in range(0, total, BATCH):
            batch = todo[i : i + BATCH]
            vectors = self.embedder.passages([e.text for e in batch])
            self.collection.upsert(
                ids=[e.id for e in batch], documents=[e.text for e in batch],
                metadatas=[e.metadata for e in batch], embeddings=[v.tolist() for v in vectors],
            )
            report.embedded += len(batch)
            if progress:
                progress(min(i + BATCH, total), total)
        return report

    @_guarded("checking the corpus is indexed")
    def needs_build(self) -> bool:
        """True when the corpus (rubrics, notes) is not fully indexed in its current version."""
        sources, _ = self._corpus_sources()
        ids = [e.id for _, entries in sources for e in entries]
        if not ids:
            return False
        have = self.collection.get(ids=ids, include=["metadatas"])
        digests = {i: str(m.get("digest", "")) for i, m in zip(have["ids"], have["metadatas"] or [])}
        return any(digests.get(e.id) != e.metadata["digest"] for _, entries in sources for e in entries)

    # ------------------------------------------------------------------ reading

    def search(
        self,
        text: str | None,
        k: int = 8,
        *,
        kinds: Sequence[str] | None = None,
        rubric_id: str | None = None,
        vector: np.ndarray | None = None,
    ) -> list[Hit]:
        """Top-k criteria/passages for `text` (or an already computed query `vector`);
        criteria are deduplicated across languages. BadInputError for empty text (without a
        vector) or an unknown kind."""
        check_search(text if vector is None else "-", kinds)
        return self._search(text, k, kinds=kinds, rubric_id=rubric_id, vector=vector)

    @_guarded("searching")
    def _search(
        self, text: str | None, k: int, *, kinds: Sequence[str] | None, rubric_id: str | None, vector: np.ndarray | None
    ) -> list[Hit]:
        if self.count() == 0:
            raise IndexError_("the index is empty: run `grader index` first")
        where: list[dict[str, Any]] = []
        if kinds:
            where.append({"kind": {"$in": list(kinds)}})
        if rubric_id:
            where.append({"$or": [{"kind": "passage"}, {"rubric_id": rubric_id}]})
        clause = where[0] if len(where) == 1 else ({"$and": where} if where else None)
        n = min(self.count(), max(k * 3, 10))
        query: dict[str, Any] = {"query_embeddings": [vector.tolist()]} if vector is not None else {"query_texts": [text or ""]}
        res = self.collection.query(**query, n_results=n, where=clause, include=["documents", "metadatas", "distances"])
        hits: dict[str, Hit] = {}
        for doc_id, doc, meta, dist in zip(res["ids"][0], res["documents"][0], res["metadatas"][0], res["distances"][0]):
            kind = str(meta["kind"])
            ident = str(meta["indicator_id"]) if kind in ("indicator", "principle") else doc_id
            if ident in hits:
                continue
            level = int(meta["level"]) if int(meta.get("level", -1)) >= 0 else None
            hits[ident] = Hit(
                id=ident, kind=kind, text=str(doc), source=str(meta["source"]), location=str(meta.get("location", "")),
                score=round(1.0 - float(dist), 4), level=level, lang=str(meta.get("lang", "")) or None,
            )
            if len(hits) >= k:
                break
        return list(hits.values())

    @_guarded("looking up citation ids")
    def existing_ids(self, ids: Iterable[str]) -> set[str]:
        """Which of these citation ids (indicator/principle ids or passage chunk ids) are indexed."""
        ids = list(dict.fromkeys(ids))
        if not ids:
            return set()
        found: set[str] = set()
        passages = [i for i in ids if i.startswith("passage:")]
        criteria = [i for i in ids if not i.startswith("passage:")]
        if passages:
            found.update(self.collection.get(ids=passages, include=[])["ids"])
        if criteria:
            got = self.collection.get(where={"indicator_id": {"$in": criteria}}, include=["metadatas"])
            found.update(str(m["indicator_id"]) for m in got["metadatas"] or [])
        return found

    @_guarded("reading indicator vectors")
    def indicator_vectors(self, rubric_id: str) -> dict[str, np.ndarray]:
        """{indicator id: (n_langs, dim) stored passage embeddings} for one rubric."""
        got = self.collection.get(
            where={"$and": [{"rubric_id": rubric_id}, {"kind": "indicator"}]}, include=["embeddings", "metadatas"]
        )
        out: dict[str, list[np.ndarray]] = {}
        for vec, meta in zip(got["embeddings"], got["metadatas"] or []):
            out.setdefault(str(meta["indicator_id"]), []).append(np.asarray(vec, dtype=np.float32))
        return {k: np.vstack(v) for k, v in out.items()}

    @_guarded("listing sources")
    def sources(self) -> list[dict[str, Any]]:
        """Indexed sources: key, title, kind and number of entries."""
        got = self.collection.get(include=["metadatas"])
        agg: dict[str, dict[str, Any]] = {}
        for meta in got["metadatas"] or []:
            key = str(meta.get("source_key", ""))
            row = agg.setdefault(key, {"source_key": key, "title": meta.get("source", ""), "kind": meta.get("kind", ""), "entries": 0})
            row["entries"] += 1
        return sorted(agg.values(), key=lambda r: r["source_key"])


@lru_cache(maxsize=8)
def open_index(settings: Settings) -> Index:
    """One Index handle per settings (cheap; nothing is opened until used)."""
    return Index(settings)


_READY: set[Settings] = set()


def index_ready(settings: Settings) -> bool:
    """True when the corpus is fully indexed (checked once per process per settings, then remembered)."""
    if settings not in _READY:
        index = open_index(settings)
        if index.count() == 0 or index.needs_build():
            return False
        _READY.add(settings)
    return True


def ensure_index(settings: Settings, progress: Progress | None = None) -> Index:
    """The index, with the corpus built on first use (once per process per settings)."""
    index = open_index(settings)
    if not index_ready(settings):
        index.build(progress=progress)
        _READY.add(settings)
    return index
