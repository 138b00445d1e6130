"""Reviewed gradings out of the store: eval-set JSONL, CSV, and coach-vs-grader agreement.

Pure functions over `store.Record`s (no database access), so the CLI, the app and tests
share them.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Sequence
from typing import Any

from grader import metrics
from grader.store import Record
from grader.types import EvalItem

CSV_COLUMNS = [
    "id", "grade_id", "created_at", "author", "lang", "rubric_id", "engine", "model", "grader_status",
    "grader_level", "grader_confidence", "coach_level", "coach", "comment", "blind", "reviewed_at",
    "indicators", "corrections", "text",
]
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def corrected_statuses(record: Record) -> dict[str, str]:
    """{indicator id: status} of the grade with the coach's corrections applied."""
    statuses = {j.id: j.status for j in record.grade.indicators}
    if record.review:
        statuses.update(record.review.indicator_corrections)
    return statuses


def eval_item(record: Record) -> dict[str, Any]:
    """One eval-set line (DESIGN eval-set contract) for a reviewed grading: gold = the coach's level."""
    if record.review is None:
        raise ValueError(f"grade #{record.grade_id} has no review")
    item = {
        "id": f"review-{record.grade_id}",
        "text": record.story,
        "level": record.review.coach_level,
        "lang": record.language if record.language in ("ko", "en") else None,
        "tags": ["coach-review"],
        "indicators": [i for i, s in corrected_statuses(record).items() if s == "met"],
        "source": "review",
        "grader_level": record.level,
    }
    if item["lang"] is None:
        del item["lang"]
    EvalItem.model_validate(item)  # the contract holds by construction; fail loudly if not
    return item


def eval_set_jsonl(records: Iterable[Record]) -> str:
    """Reviewed records as eval-set JSONL (one UTF-8 JSON object per line); unreviewed ones are left out."""
    lines = [json.dumps(eval_item(r), ensure_ascii=False) for r in records if r.review is not None]
    return "".join(line + "\n" for line in lines)


def _cell(value: Any) -> str:
    """A CSV cell a spreadsheet shows as text (no formula injection from a story or comment)."""
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(_FORMULA_START) else text


def reviews_csv(records: Iterable[Record]) -> str:
    """Reviewed records as CSV (header + one row each). Cells that a spreadsheet would run as a
    formula (starting with = + - @) get a leading apostrophe; the JSONL export keeps text exact."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for r in records:
        if r.review is None:
            continue
        met = [i for i, s in corrected_statuses(r).items() if s == "met"]
        writer.writerow([
            _cell(v) for v in (
                f"review-{r.grade_id}", r.grade_id, r.created_at, r.author, r.language, r.rubric_id, r.engine, r.model,
                r.status, r.level, f"{r.confidence:.3f}", r.review.coach_level, r.review.coach, r.review.comment,
                int(r.review.blind), r.review.created_at, ";".join(met),
                json.dumps(r.review.indicator_corrections, ensure_ascii=False) if r.review.indicator_corrections else "",
                r.story,
            )
        ])
    return buf.getvalue()


def agreement(pairs: Sequence[tuple[int, int]], n_levels: int = 6) -> dict[str, Any]:
    """Coach vs grader agreement over (coach_level, grader_level) pairs (grader.metrics).

    Returns n, exact, within_one, mae, qwk, spearman (None where undefined) and confusion
    (n_levels x n_levels counts, rows = coach, columns = grader).
    """
    coach = [p[0] for p in pairs]
    grader = [p[1] for p in pairs]
    stats = metrics.agreement(coach, grader, n_levels)
    return {
        "n": len(pairs),
        "exact": stats["accuracy"],
        "within_one": stats["within_one"],
        "mae": stats["mae"],
        "qwk": stats["qwk"],
        "spearman": stats["spearman"],
        "confusion": metrics.confusion(coach, grader, n_levels),
    }


def review_pairs(records: Iterable[Record]) -> list[tuple[int, int]]:
    """(coach level, grader level) for reviewed records whose grade has a level."""
    return [(r.review.coach_level, r.level) for r in records if r.review is not None and r.level is not None]
