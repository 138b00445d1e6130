"""Eval-set files and prediction files: read and validate the labeled stories (DESIGN.md
"Eval set"), and write, read back and repair the `predictions*.jsonl` of a run.

`iter_eval_items` and `load_eval_set` are public API, also importable from `grader.evals`.
Plain file handling: nothing here grades, so it imports no engine.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from grader.errors import EvalSetError
from grader.eval_results import Brief
from grader.rubric import entry_ids
from grader.types import EvalItem, Grade, Rubric

__all__ = [
    "iter_eval_items", "load_eval_set", "predictions_path", "story_text", "prediction_line",
    "read_done", "drop_lines", "saved_grades",
]

# Grade fields that an item field of the same name would overwrite in predictions.jsonl
_GRADE_KEYS = set(Grade.model_fields)
# the values of `expected_status` the eval-set contract knows (docs/evals.md "Eval-set files")
EXPECTED_STATUSES = ("insufficient_evidence",)


# --------------------------------------------------------------------------- loading


class _RubricIds:
    """The ids a gold label may name: the rubric's indicators and principles."""

    def __init__(self, rubric: Rubric) -> None:
        self.rubric_id = rubric.id
        self.ids = entry_ids(rubric)
        self.example = next(iter(rubric.indicators()), None)

    def check(self, item: EvalItem, where: str) -> None:
        for ident in item.indicators:
            if ident not in self.ids:
                like = f" (ids look like {self.example.id!r})" if self.example else ""
                raise EvalSetError(
                    f"{where}: field 'indicators': {ident!r} is not an indicator or principle of rubric "
                    f"{self.rubric_id!r}{like}"
                )


def _parse_line(line: str, where: str, known: _RubricIds | None = None) -> EvalItem:
    try:
        data = json.loads(line)
    except json.JSONDecodeError as exc:
        raise EvalSetError(f"{where}: not valid JSON ({exc.msg}, column {exc.colno}): fix or remove the line") from None
    if not isinstance(data, dict):
        raise EvalSetError(f'{where}: expected a JSON object like {{"id": "s1", "text": "...", "level": 2}}')
    level = data.get("level")
    if level is not None and (isinstance(level, bool) or not isinstance(level, int)):
        raise EvalSetError(f"{where}: field 'level' must be a whole number 0-5 (or absent), got {level!r}")
    try:
        item = EvalItem.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(
            f"field {'.'.join(str(x) for x in e['loc']) or '?'!r}: {e['msg']}" for e in exc.errors()[:3]
        )
        raise EvalSetError(f"{where}: {problems}") from None
    if not item.id.strip():
        raise EvalSetError(f"{where}: field 'id' is blank: give every story a unique id")
    status = item.extras().get("expected_status")
    if status is not None and status not in EXPECTED_STATUSES:
        raise EvalSetError(
            f"{where}: field 'expected_status' must be 'insufficient_evidence' (a text that is not a work story) "
            f"or absent, got {status!r}"
        )
    if status == "insufficient_evidence" and item.level is not None:
        raise EvalSetError(f"{where}: a line with expected_status 'insufficient_evidence' must not have a level")
    if known is not None:
        known.check(item, where)
    _check_gold_evidence(item, where)
    return item


def _check_gold_evidence(item: EvalItem, where: str) -> None:
    """`gold_evidence` (optional): {indicator id: [quotes]}, the story's sentences that show each
    indicator the label names; every quote must be in the text, every id among `indicators`."""
    gold = item.extras().get("gold_evidence")
    if gold is None:
        return
    example = '{"co.L3.1": ["a sentence of the story"]}'
    if not isinstance(gold, dict):
        raise EvalSetError(f"{where}: field 'gold_evidence' must map indicator ids to lists of quotes, e.g. {example}")
    for ident, quotes in gold.items():
        if ident not in item.indicators:
            raise EvalSetError(f"{where}: field 'gold_evidence' names {ident!r}, which is not in the line's 'indicators'")
        if not isinstance(quotes, list) or not all(isinstance(q, str) and q.strip() for q in quotes):
            raise EvalSetError(f"{where}: field 'gold_evidence.{ident}' must be a list of non-empty quotes, e.g. {example}")
        for q in quotes:
            if q not in item.text:
                raise EvalSetError(f"{where}: field 'gold_evidence.{ident}': quote {q[:60]!r} is not in the story's text")


def iter_eval_items(paths: Sequence[Path | str] | Path | str, rubric: Rubric | None = None) -> Iterator[EvalItem]:
    """Stream the items of one or more eval-set files in order. A malformed line raises
    EvalSetError naming the file and line; blank lines are skipped; ids must be unique
    across all files. With `rubric`, the gold `indicators` of every line must be indicator or
    principle ids of that rubric (an eval run passes the rubric it grades with)."""
    if isinstance(paths, (str, Path)):
        paths = [paths]
    known = _RubricIds(rubric) if rubric is not None else None
    seen: dict[str, tuple[int, int]] = {}  # id -> (file index, line)
    paths = [Path(p) for p in paths]
    for file_no, path in enumerate(paths):
        if path.is_dir():
            raise EvalSetError(f"{path} is a folder: pass eval-set files (JSON lines), e.g. {path}/*.jsonl")
        if not path.is_file():
            raise EvalSetError(f"{path}: no such eval-set file (expected JSON lines like evals/customer-obsession.dev.jsonl)")
        with path.open("rb") as f:
            for line_no, raw in enumerate(f, 1):
                where = f"{path}:{line_no}"
                try:
                    line = raw.decode("utf-8")
                except UnicodeDecodeError:
                    raise EvalSetError(f"{where}: not UTF-8 text: save the file as UTF-8") from None
                if line_no == 1:
                    line = line.lstrip("\ufeff")
                if not line.strip():
                    continue
                item = _parse_line(line, where, known)
                if item.id in seen:
                    first_file, first_line = seen[item.id]
                    raise EvalSetError(
                        f"{where}: duplicate id {item.id!r} (first at {paths[first_file]}:{first_line}): ids must be unique"
                    )
                seen[item.id] = (file_no, line_no)
                yield item


def load_eval_set(path: Path | str, rubric: Rubric | None = None) -> list[EvalItem]:
    """All items of one eval-set file (see iter_eval_items)."""
    return list(iter_eval_items([path], rubric))


# --------------------------------------------------------------------------- predictions


def predictions_path(out_dir: Path, repeat: int = 1) -> Path:
    """predictions.jsonl for the first repeat, predictions.repeat<N>.jsonl for the others."""
    return Path(out_dir) / ("predictions.jsonl" if repeat == 1 else f"predictions.repeat{repeat}.jsonl")


def story_text(item: EvalItem) -> str:
    """The text the engine sees (as grading.check_story returns it)."""
    return item.text.lstrip("\ufeff")


def prediction_line(item: EvalItem, grade: Grade, repeat: int = 1) -> dict[str, Any]:
    """One predictions.jsonl line: id, gold_level, the Grade's fields, then the item's own fields."""
    line: dict[str, Any] = {"id": item.id, "gold_level": item.level}
    if repeat > 1:
        line["repeat"] = repeat
    line.update(grade.model_dump(mode="json"))
    line.update({"lang": item.lang, "tags": item.tags, "pair": item.pair, "gold_indicators": item.indicators})
    for key, value in item.extras().items():
        line[f"item_{key}" if key in line or key in _GRADE_KEYS else key] = value
    return line


def read_done(path: Path) -> tuple[dict[str, Brief], set[int]]:
    """The items already graded in a predictions file, and the numbers of the lines to discard
    (an incomplete last line from a kill, unreadable or duplicated lines). Reads only."""
    done: dict[str, Brief] = {}
    bad: set[int] = set()
    if not path.exists():
        return done, bad
    with path.open("rb") as f:
        for n, raw in enumerate(f):
            try:
                if not raw.endswith(b"\n"):
                    raise ValueError("incomplete line")
                data = json.loads(raw)
                ident = data["id"]
                if not isinstance(ident, str) or ident in done:
                    raise ValueError("duplicate or missing id")
                done[ident] = Brief.from_line(data)
            except (ValueError, KeyError, TypeError):
                bad.add(n)
    return done, bad


def drop_lines(path: Path, bad: set[int]) -> None:
    """Rewrite a predictions file without the given lines, so that appending continues cleanly."""
    tmp = path.with_name(path.name + ".tmp")
    with path.open("rb") as src, tmp.open("wb") as dst:
        for n, raw in enumerate(src):
            if n not in bad:
                dst.write(raw)
    os.replace(tmp, path)


def saved_grades(out_dir: Path, repeats: int) -> int:
    """Grades durably written to the predictions files of `out_dir` (complete lines only)."""
    total = 0
    for r in range(1, repeats + 1):
        try:
            with predictions_path(out_dir, r).open("rb") as f:
                total += sum(chunk.count(b"\n") for chunk in iter(lambda: f.read(1 << 20), b""))
        except OSError:
            continue
    return total
