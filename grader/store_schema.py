"""The store's schema and its migrations (`MIGRATIONS[i]` takes a database from version i to i+1)."""

from __future__ import annotations

import sqlite3
from datetime import datetime, timezone

from grader.errors import GraderError

# Each entry is one schema step (a list of statements run in one transaction).
MIGRATIONS: list[list[str]] = [
    # 1: stories, their grades and coach reviews
    [
        """CREATE TABLE submissions (
            id INTEGER PRIMARY KEY,
            created_at TEXT NOT NULL,
            story TEXT NOT NULL,
            language TEXT NOT NULL,
            rubric_id TEXT NOT NULL,
            rubric_version INTEGER NOT NULL,
            shared INTEGER NOT NULL DEFAULT 0)""",
        """CREATE TABLE grades (
            id INTEGER PRIMARY KEY,
            submission_id INTEGER NOT NULL REFERENCES submissions(id) ON DELETE CASCADE,
            engine TEXT NOT NULL,
            model TEXT,
            level INTEGER,
            status TEXT NOT NULL,
            confidence REAL NOT NULL,
            grade_json TEXT NOT NULL,
            created_at TEXT NOT NULL)""",
        """CREATE TABLE reviews (
            id INTEGER PRIMARY KEY,
            grade_id INTEGER NOT NULL REFERENCES grades(id) ON DELETE CASCADE,
            coach_level INTEGER NOT NULL,
            comment TEXT NOT NULL DEFAULT '',
            indicator_corrections_json TEXT NOT NULL DEFAULT '{}',
            blind INTEGER NOT NULL DEFAULT 0,
            created_at TEXT NOT NULL)""",
    ],
    # 2: who wrote / reviewed, eval runs, indexes for the coach queue
    [
        "ALTER TABLE submissions ADD COLUMN author TEXT NOT NULL DEFAULT ''",
        "ALTER TABLE reviews ADD COLUMN coach TEXT NOT NULL DEFAULT ''",
        """CREATE TABLE eval_runs (
            id TEXT PRIMARY KEY,
            created_at TEXT NOT NULL,
            file TEXT NOT NULL,
            engine TEXT NOT NULL,
            model TEXT,
            repeats INTEGER NOT NULL DEFAULT 1,
            out_dir TEXT NOT NULL,
            n INTEGER,
            accuracy REAL,
            qwk REAL,
            within_one REAL,
            report_json TEXT NOT NULL)""",
        "CREATE INDEX grades_by_submission ON grades(submission_id)",
        "CREATE INDEX reviews_by_grade ON reviews(grade_id)",
        "CREATE INDEX submissions_by_shared ON submissions(shared, created_at)",
    ],
    # 3: ids are never reused: a story withdrawn (deleted) does not hand its #number to the next one
    [
        "CREATE TABLE id_counters (name TEXT PRIMARY KEY, last INTEGER NOT NULL)",
        "INSERT INTO id_counters (name, last) SELECT 'submissions', COALESCE(MAX(id), 0) FROM submissions",
        "INSERT INTO id_counters (name, last) SELECT 'grades', COALESCE(MAX(id), 0) FROM grades",
    ],
]
SCHEMA_VERSION = len(MIGRATIONS)


class StoreError(GraderError):
    """The store file cannot be opened, is from a newer version, or stayed locked too long."""

    exit_code = 1


def now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def next_id(conn: sqlite3.Connection, table: str) -> int:
    """The id for a new row of `table` ("submissions" or "grades"), above every id it ever had
    (SQLite's own rowid reuses the highest id once that row is deleted). Call inside the write
    transaction that inserts the row."""
    row = conn.execute(
        f"UPDATE id_counters SET last = MAX(last, (SELECT COALESCE(MAX(id), 0) FROM {table})) + 1"
        " WHERE name = ? RETURNING last",
        (table,),
    ).fetchone()
    return int(row[0])


def schema_version(conn: sqlite3.Connection) -> int:
    conn.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL, applied_at TEXT NOT NULL)")
    row = conn.execute("SELECT MAX(version) FROM schema_version").fetchone()
    return int(row[0] or 0)


def migrate(conn: sqlite3.Connection, target: int = SCHEMA_VERSION) -> int:
    """Bring the database to schema `target` one step at a time; returns the version reached."""
    while True:
        conn.execute("BEGIN IMMEDIATE")
        try:
            current = schema_version(conn)
            if current > SCHEMA_VERSION:
                raise StoreError(
                    f"the store was written by a newer version of the grader (schema {current}, this one knows "
                    f"{SCHEMA_VERSION}): upgrade the grader or point GRADER_DATA_DIR elsewhere"
                )
            if current >= target:
                conn.execute("COMMIT")
                return current
            for statement in MIGRATIONS[current]:
                conn.execute(statement)
            conn.execute("INSERT INTO schema_version (version, applied_at) VALUES (?, ?)", (current + 1, now()))
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
