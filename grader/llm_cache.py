"""On-disk cache of the llm engine's validated Grades (one JSON file per key under
GRADER_DATA_DIR/llm-cache), so re-running an eval costs nothing.

The key is a hash of the model, endpoint, prompt version (and template digest), rubric version
(and content digest), sampling parameters, language and the story's hash. Neither the story nor
the API key is stored in the key file; failed grades are never cached.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from grader.types import Grade, Rubric


def story_hash(story: str) -> str:
    return hashlib.sha256(story.encode("utf-8")).hexdigest()


def rubric_digest(rubric: Rubric) -> str:
    return hashlib.sha256(rubric.model_dump_json().encode("utf-8")).hexdigest()[:16]


def cache_key(fields: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(fields, sort_keys=True, ensure_ascii=False).encode("utf-8")).hexdigest()


class GradeCache:
    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def path(self, key: str) -> Path:
        return self.directory / key[:2] / f"{key}.json"

    def get(self, key: str) -> Grade | None:
        """The stored Grade, or None (missing or unreadable entries are misses)."""
        try:
            data = json.loads(self.path(key).read_text(encoding="utf-8"))
            return Grade.model_validate(data["grade"])
        except (OSError, ValueError, KeyError, TypeError, ValidationError):
            return None

    def put(self, key: str, fields: dict[str, Any], grade: Grade) -> None:
        """Store a Grade atomically (a crash never leaves half a file). Failed grades are skipped."""
        if grade.status == "failed":
            return
        path = self.path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        record = {"key": key, "fields": fields, "grade": grade.model_dump(mode="json")}
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=".json")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                json.dump(record, f, ensure_ascii=False)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def clear(self) -> int:
        """Delete every cached entry; returns how many were removed."""
        n = 0
        for p in self.directory.glob("*/*.json"):
            p.unlink(missing_ok=True)
            n += 1
        return n
