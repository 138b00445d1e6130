"""The SQLite store: submissions, grades, coach reviews and eval runs.

Lives at GRADER_DATA_DIR/grader.sqlite3. Every operation opens its own connection (safe
from several threads, browser sessions and processes at once), runs in one explicit
transaction (`BEGIN IMMEDIATE` for writes) and commits before returning. The journal is
WAL with `synchronous=FULL`, so a committed write survives the process being killed and a
write interrupted half-way leaves no trace. The schema is versioned: `MIGRATIONS[i]` takes
the database from version i to i+1, each step in its own transaction.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, get_args

from pydantic import BaseModel, Field

from grader.config import Settings
from grader.errors import BadInputError
from grader.store_schema import MIGRATIONS, SCHEMA_VERSION, StoreError, migrate, next_id, now, schema_version
from grader.types import Grade, IndicatorStatus

__all__ = ["EvalRun", "MIGRATIONS", "Record", "Review", "SCHEMA_VERSION", "Store", "StoreError", "migrate", "open_store"]

BUSY_TIMEOUT_MS = 15_000
INDICATOR_STATUSES: tuple[str, ...] = get_args(IndicatorStatus)


class Review(BaseModel):
    id: int
    grade_id: int
    coach_level: int
    comment: str = ""
    indicator_corrections: dict[str, IndicatorStatus] = Field(default_factory=dict)
    blind: bool = False
    coach: str = ""
    created_at: str


class Record(BaseModel):
    """One stored grading: the story, the grade and its latest coach review (if any)."""

    grade_id: int
    submission_id: int
    created_at: str
    story: str
    language: str
    rubric_id: str
    rubric_version: int
    shared: bool
    author: str = ""
    engine: str
    model: str | None = None
    level: int | None = None
    status: str
    confidence: float
    grade: Grade
    review: Review | None = None


class EvalRun(BaseModel):
    id: str
    created_at: str
    file: str
    engine: str
    model: str | None = None
    repeats: int = 1
    out_dir: str
    n: int | None = None
    accuracy: float | None = None
    qwk: float | None = None
    within_one: float | None = None
    report: dict[str, Any] = Field(default_factory=dict)


def _name(text: str) -> str:
    """A person's name (author, coach) as stored: trimmed, at most 200 characters."""
    return text.strip()[:200]


class Store:
    """Handle on one SQLite file. Cheap to create; the file is opened on first use."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._ready = False
        self._lock = threading.Lock()

    # ------------------------------------------------------------------ plumbing

    def _connect(self) -> sqlite3.Connection:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(self.path, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None)
            conn.row_factory = sqlite3.Row
            conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
            conn.execute("PRAGMA foreign_keys = ON")
            conn.execute("PRAGMA synchronous = FULL")
            return conn
        except sqlite3.DatabaseError as exc:
            raise StoreError(self._explain(exc)) from None
        except OSError as exc:
            raise StoreError(f"cannot open the store {self.path}: {exc.strerror or exc}") from None

    def _explain(self, exc: sqlite3.Error) -> str:
        text = str(exc)
        if "not a database" in text or "malformed" in text:
            return f"{self.path} is not a readable SQLite store ({text}): move it away and the grader starts a new one"
        if "locked" in text or "busy" in text:
            return f"the store {self.path} stayed locked for {BUSY_TIMEOUT_MS // 1000} s by another process: try again"
        if "readonly" in text:
            return f"the store {self.path} is read-only: check the permissions of GRADER_DATA_DIR"
        return f"store {self.path}: {text}"

    def _prepare(self) -> None:
        with self._lock:
            if self._ready:
                return
            conn = self._connect()
            try:
                if conn.execute("PRAGMA journal_mode").fetchone()[0].lower() != "wal":
                    conn.execute("PRAGMA journal_mode = WAL")
                migrate(conn)
            except sqlite3.DatabaseError as exc:
                raise StoreError(self._explain(exc)) from None
            finally:
                conn.close()
            self._ready = True

    @contextmanager
    def _tx(self, write: bool = True) -> Iterator[sqlite3.Connection]:
        """One connection and one transaction; committed on success, rolled back on any error."""
        self._prepare()
        conn = self._connect()
        try:
            conn.execute("BEGIN IMMEDIATE" if write else "BEGIN")
            try:
                yield conn
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")
        except sqlite3.DatabaseError as exc:
            raise StoreError(self._explain(exc)) from None
        finally:
            conn.close()

    def version(self) -> int:
        with self._tx(write=False) as conn:
            return schema_version(conn)

    # ------------------------------------------------------------------ gradings

    def save(self, story: str, grade: Grade, *, shared: bool = True, author: str = "") -> Record:
        """Store a story and its grade (in one transaction); returns the stored record."""
        if not story.strip():
            raise BadInputError("cannot store an empty story")
        created = now()
        with self._tx() as conn:
            sub = next_id(conn, "submissions")
            conn.execute(
                "INSERT INTO submissions (id, created_at, story, language, rubric_id, rubric_version, shared, author)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (sub, created, story, grade.language, grade.rubric.id, grade.rubric.version, int(shared), _name(author)),
            )
            gid = next_id(conn, "grades")
            conn.execute(
                "INSERT INTO grades (id, submission_id, engine, model, level, status, confidence, grade_json, created_at)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (gid, sub, grade.engine.name, grade.engine.model, grade.level, grade.status, grade.confidence,
                 grade.model_dump_json(), created),
            )
        record = self.get(int(gid))
        assert record is not None
        return record

    def set_shared(self, submission_id: int, shared: bool) -> None:
        with self._tx() as conn:
            conn.execute("UPDATE submissions SET shared = ? WHERE id = ?", (int(shared), submission_id))

    def set_author(self, submission_id: int, author: str) -> None:
        with self._tx() as conn:
            conn.execute("UPDATE submissions SET author = ? WHERE id = ?", (_name(author), submission_id))

    def delete_submission(self, submission_id: int) -> bool:
        """Remove a story with its grades and reviews (the author withdrew it)."""
        with self._tx() as conn:
            return conn.execute("DELETE FROM submissions WHERE id = ?", (submission_id,)).rowcount > 0

    _SELECT = """
        SELECT g.id AS grade_id, s.id AS submission_id, g.created_at, s.story, s.language, s.rubric_id,
               s.rubric_version, s.shared, s.author, g.engine, g.model, g.level, g.status, g.confidence,
               g.grade_json, r.id AS r_id, r.coach_level, r.comment, r.indicator_corrections_json, r.blind,
               r.coach, r.created_at AS r_created_at
        FROM grades g JOIN submissions s ON s.id = g.submission_id
        LEFT JOIN reviews r ON r.id = (SELECT MAX(id) FROM reviews WHERE grade_id = g.id)
    """

    @staticmethod
    def _record(row: sqlite3.Row) -> Record:
        review = None
        if row["r_id"] is not None:
            review = Review(
                id=row["r_id"], grade_id=row["grade_id"], coach_level=row["coach_level"], comment=row["comment"],
                indicator_corrections=json.loads(row["indicator_corrections_json"] or "{}"), blind=bool(row["blind"]),
                coach=row["coach"], created_at=row["r_created_at"],
            )
        return Record(
            grade_id=row["grade_id"], submission_id=row["submission_id"], created_at=row["created_at"],
            story=row["story"], language=row["language"], rubric_id=row["rubric_id"],
            rubric_version=row["rubric_version"], shared=bool(row["shared"]), author=row["author"],
            engine=row["engine"], model=row["model"], level=row["level"], status=row["status"],
            confidence=row["confidence"], grade=Grade.model_validate_json(row["grade_json"]), review=review,
        )

    def get(self, grade_id: int) -> Record | None:
        with self._tx(write=False) as conn:
            row = conn.execute(self._SELECT + " WHERE g.id = ?", (grade_id,)).fetchone()
        return self._record(row) if row else None

    def records(
        self,
        *,
        shared_only: bool = True,
        unreviewed: bool = False,
        reviewed: bool = False,
        levels: Sequence[int] | None = None,
        max_confidence: float | None = None,
        engines: Sequence[str] | None = None,
        languages: Sequence[str] | None = None,
        limit: int = 1000,
    ) -> list[Record]:
        """Stored gradings, newest first, filtered like the coach's queue."""
        where: list[str] = []
        args: list[Any] = []
        if shared_only:
            where.append("s.shared = 1")
        if unreviewed:
            where.append("r.id IS NULL")
        if reviewed:
            where.append("r.id IS NOT NULL")
        for column, values in (("g.level", levels), ("g.engine", engines), ("s.language", languages)):
            if values:
                where.append(f"{column} IN ({', '.join('?' for _ in values)})")
                args.extend(values)
        if max_confidence is not None:
            where.append("g.confidence < ?")
            args.append(max_confidence)
        sql = self._SELECT + (" WHERE " + " AND ".join(where) if where else "") + " ORDER BY g.id DESC LIMIT ?"
        with self._tx(write=False) as conn:
            rows = conn.execute(sql, (*args, max(1, int(limit)))).fetchall()
        return [self._record(r) for r in rows]

    # ------------------------------------------------------------------ reviews

    def add_review(
        self,
        grade_id: int,
        *,
        coach_level: int,
        comment: str = "",
        corrections: dict[str, str] | None = None,
        blind: bool = False,
        coach: str = "",
    ) -> Review:
        """Record a coach's level, comment and per-indicator status corrections for a grade."""
        record = self.get(grade_id)
        if record is None:
            raise BadInputError(f"there is no stored grade #{grade_id}")
        if isinstance(coach_level, bool) or not isinstance(coach_level, int) or not 0 <= coach_level <= 5:
            raise BadInputError(f"coach level {coach_level!r} is not a level number (0-5)")
        known = {j.id for j in record.grade.indicators}
        clean: dict[str, str] = {}
        for ident, status in (corrections or {}).items():
            if known and ident not in known:
                raise BadInputError(f"indicator {ident!r} is not part of grade #{grade_id}")
            if status not in INDICATOR_STATUSES:
                raise BadInputError(f"indicator status {status!r} must be one of {', '.join(INDICATOR_STATUSES)}")
            clean[ident] = status
        created, coach = now(), _name(coach)
        with self._tx() as conn:
            rid = conn.execute(
                "INSERT INTO reviews (grade_id, coach_level, comment, indicator_corrections_json, blind, coach, created_at)"
                " VALUES (?, ?, ?, ?, ?, ?, ?)",
                (grade_id, coach_level, comment.strip(), json.dumps(clean, ensure_ascii=False), int(blind),
                 coach, created),
            ).lastrowid
        return Review(id=int(rid), grade_id=grade_id, coach_level=coach_level, comment=comment.strip(),
                      indicator_corrections=clean, blind=blind, coach=coach, created_at=created)

    def reviews_of(self, grade_id: int) -> list[Review]:
        """Every review of a grade, oldest first (the last one counts)."""
        with self._tx(write=False) as conn:
            rows = conn.execute("SELECT * FROM reviews WHERE grade_id = ? ORDER BY id", (grade_id,)).fetchall()
        return [
            Review(id=r["id"], grade_id=r["grade_id"], coach_level=r["coach_level"], comment=r["comment"],
                   indicator_corrections=json.loads(r["indicator_corrections_json"] or "{}"), blind=bool(r["blind"]),
                   coach=r["coach"], created_at=r["created_at"])
            for r in rows
        ]

    # ------------------------------------------------------------------ eval runs

    def add_eval_run(
        self,
        report: dict[str, Any],
        *,
        run_id: str,
        file: str,
        engine: str,
        out_dir: str | Path,
        repeats: int = 1,
        model: str | None = None,
    ) -> EvalRun:
        def num(key: str) -> float | None:
            value = report.get(key)
            return float(value) if isinstance(value, (int, float)) and value == value else None

        created = now()
        n = report.get("n")
        try:
            payload = json.dumps(report, ensure_ascii=False, default=str)
        except (TypeError, ValueError) as exc:
            raise BadInputError(f"the eval report cannot be stored as JSON: {exc}") from None
        with self._tx() as conn:
            try:
                conn.execute(
                    "INSERT INTO eval_runs (id, created_at, file, engine, model, repeats, out_dir, n, accuracy, qwk,"
                    " within_one, report_json) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (run_id, created, file, engine, model, repeats, str(out_dir), n if isinstance(n, int) else None,
                     num("accuracy"), num("qwk"), num("within_one"), payload),
                )
            except sqlite3.IntegrityError:
                raise BadInputError(f"an eval run with id {run_id!r} is already stored") from None
        run = self.eval_run(run_id)
        assert run is not None
        return run

    @staticmethod
    def _run(row: sqlite3.Row) -> EvalRun:
        data = {k: row[k] for k in row.keys() if k != "report_json"}
        return EvalRun(**data, report=json.loads(row["report_json"]))

    def eval_runs(self, limit: int = 200) -> list[EvalRun]:
        with self._tx(write=False) as conn:
            rows = conn.execute("SELECT * FROM eval_runs ORDER BY created_at DESC, rowid DESC LIMIT ?", (limit,)).fetchall()
        return [self._run(r) for r in rows]

    def eval_run(self, run_id: str) -> EvalRun | None:
        with self._tx(write=False) as conn:
            row = conn.execute("SELECT * FROM eval_runs WHERE id = ?", (run_id,)).fetchone()
        return self._run(row) if row else None


def open_store(settings: Settings | None = None) -> Store:
    """The store of these settings (GRADER_DATA_DIR/grader.sqlite3)."""
    settings = settings or Settings.from_env()
    return Store(settings.store_path)
