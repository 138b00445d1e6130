"""Loading and validating rubric files (corpus/rubrics/<id>.yaml)."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import yaml
from pydantic import ValidationError

from grader.errors import RubricError
from grader.types import Rubric


def _describe(err: ValidationError, data: object) -> str:
    problems = []
    for e in err.errors()[:5]:
        loc = e["loc"]
        parts: list[str] = []
        node = data
        for key in loc:
            if isinstance(key, int) and isinstance(node, list) and key < len(node):
                node = node[key]
                ident = node.get("id") if isinstance(node, dict) else None
                level = node.get("level") if isinstance(node, dict) else None
                parts.append(f"[{ident or (f'level {level}' if level is not None else key)}]")
            else:
                node = node.get(key) if isinstance(node, dict) else None
                parts.append(f".{key}" if parts else str(key))
        where = "".join(parts) or "(top level)"
        problems.append(f"field {where}: {e['msg']}")
    more = len(err.errors()) - 5
    return "; ".join(problems) + (f"; and {more} more" if more > 0 else "")


def load_rubric_file(path: str | Path) -> Rubric:
    """Parse and validate one rubric file; errors name the file, the field and the problem."""
    p = Path(path)
    try:
        raw = p.read_bytes()
    except FileNotFoundError:
        raise RubricError(f"{p}: file not found") from None
    except OSError as exc:
        raise RubricError(f"{p}: cannot read ({exc.strerror})") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise RubricError(f"{p}: not UTF-8 text") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise RubricError(f"{p}: invalid YAML{where}: {getattr(exc, 'problem', exc)}") from None
    if not isinstance(data, dict):
        raise RubricError(f"{p}: expected a mapping with id, version, title, source, principles, levels")
    try:
        return Rubric.model_validate(data)
    except ValidationError as exc:
        raise RubricError(f"{p}: {_describe(exc, data)}") from None


def rubric_files(rubrics_dir: Path) -> dict[str, Path]:
    """{rubric id (file stem): path} for every *.yaml / *.yml in the folder."""
    if not rubrics_dir.is_dir():
        return {}
    return {p.stem: p for p in sorted(rubrics_dir.glob("*.y*ml"))}


@lru_cache(maxsize=16)
def _cached(path: str, mtime: float) -> Rubric:
    return load_rubric_file(path)


def load_rubric(rubric_id: str, rubrics_dir: Path) -> Rubric:
    """The rubric with this id from the folder (cached per file version)."""
    files = rubric_files(rubrics_dir)
    if rubric_id not in files:
        known = ", ".join(sorted(files)) or "none"
        raise RubricError(f"unknown rubric {rubric_id!r} in {rubrics_dir} (available: {known})")
    path = files[rubric_id]
    rubric = _cached(str(path), path.stat().st_mtime)
    if rubric.id != rubric_id:
        raise RubricError(f"{path}: field id: {rubric.id!r} does not match the file name {rubric_id!r}")
    return rubric
