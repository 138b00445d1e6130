"""Loading and validating rubric files (corpus/rubrics/<id>.yaml)."""

from __future__ import annotations

from collections.abc import Sequence
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


def check_file_name(rubric: Rubric, path: Path) -> None:
    """The file name is the rubric id (corpus/rubrics/<id>.yaml): RubricError when they differ."""
    if rubric.id != path.stem:
        raise RubricError(
            f"{path}: field id: {rubric.id!r} does not match the file name {path.stem!r} "
            f"(rename the file to {rubric.id}.yaml or set id: {path.stem})"
        )


def entry_ids(rubric: Rubric) -> set[str]:
    """The ids a rubric puts into the index (principles and indicators)."""
    return {p.id for p in rubric.principles} | {i.id for i in rubric.indicators()}


def id_clashes(rubrics: Sequence[tuple[Path, Rubric]]) -> list[str]:
    """One message per pair of rubric files that use the same principle/indicator ids (ids must
    be unique across the rubrics of a corpus: they are the index's entry ids)."""
    problems: list[str] = []
    for n, (path_a, a) in enumerate(rubrics):
        for path_b, b in rubrics[n + 1 :]:
            shared = sorted(entry_ids(a) & entry_ids(b))
            if shared:
                shown = ", ".join(shared[:3]) + (f" and {len(shared) - 3} more" if len(shared) > 3 else "")
                problems.append(
                    f"rubrics {a.id!r} ({path_a}) and {b.id!r} ({path_b}) both use the ids {shown}: "
                    "ids must be unique across the rubrics of a corpus; give one of them its own prefix"
                )
    return problems


def sibling_rubrics(path: Path, rubrics_dir: Path) -> list[tuple[Path, Rubric]]:
    """The other rubrics of a folder that `grader index` would index next to `path` (a file of
    the same name is the one `path` replaces; unreadable or misnamed files are left out: they
    are reported when they are validated or indexed themselves)."""
    out: list[tuple[Path, Rubric]] = []
    for stem, other in rubric_files(rubrics_dir).items():
        if stem == path.stem:
            continue
        try:
            r = load_rubric_file(other)
            check_file_name(r, other)
        except RubricError:
            continue
        out.append((other, r))
    return out


def validate_rubric_file(path: str | Path, rubrics_dir: Path | None = None) -> tuple[Rubric, list[Path]]:
    """Everything `grader index` and grading will require of a rubric file: it loads, its id is
    its file name and, when `rubrics_dir` is given, none of its ids is used by another rubric
    there. Returns the rubric and the rubric files it was checked against; RubricError otherwise."""
    p = Path(path)
    if rubrics_dir is not None and not rubrics_dir.is_dir():
        raise RubricError(f"{rubrics_dir}: no such rubrics folder")
    rubric = load_rubric_file(p)
    check_file_name(rubric, p)
    others = sibling_rubrics(p, rubrics_dir) if rubrics_dir is not None else []
    problems = id_clashes([(p, rubric), *others])
    if problems:
        raise RubricError("; ".join(problems))
    return rubric, [o for o, _ in others]


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
    check_file_name(rubric, path)
    return rubric
