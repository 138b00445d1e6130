"""Eval runs: grade labeled stories with any engine, write predictions and a report.

Public API (the CLI and the Streamlit app call these):
`iter_eval_items`, `load_eval_set`, `run_eval`, `compare_runs`, `parse_fail_under`, `check_thresholds`.
Reading eval-set files and the predictions files lives in `grader.eval_items` (re-exported here),
the per-item outcomes and the report in `grader.eval_results`, its files in `grader.eval_report`,
comparing two runs in `grader.eval_compare`; this module holds the grading and the run itself.

A run streams the eval set in chunks, grades each chunk with the engine's `grade_many` and
appends one line per item to `predictions.jsonl` (extra repeats go to
`predictions.repeat<N>.jsonl`), flushing as it goes. Only what the metrics need is kept in
memory. `resume=True` reads the ids already written, discards an incomplete last line left by
a kill, and grades only the rest, so no item is graded twice or lost.
"""

from __future__ import annotations

import importlib
import json
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import datetime, timezone
from itertools import islice
from pathlib import Path
from typing import Any

from grader import grading
from grader.config import Settings
from grader.engines.base import Engine, failed_grade
from grader.errors import BadInputError, ConfigError, EngineError, EvalSetError, IndexError_
from grader.eval_compare import compare_runs
from grader.eval_items import (
    drop_lines, iter_eval_items, load_eval_set, prediction_line, predictions_path, read_done, saved_grades, story_text,
)
from grader.eval_report import write_report
from grader.eval_results import BAD_INPUT, Brief, ItemOutcome, Tally, build_report, check_thresholds, parse_fail_under
from grader.evidence import detect_language
from grader.types import EvalItem, Grade, Rubric

__all__ = [
    "iter_eval_items", "load_eval_set", "run_eval", "compare_runs", "parse_fail_under", "check_thresholds",
    "predictions_path", "saved_grades", "EvalInterrupted", "EvalItem",
]

CHUNK = 32
MAX_REPEATS = 20
MANIFEST = "run.json"
# problems of the whole run (no API key, no index), not of one story: they stop the run
SETUP_ERRORS = (ConfigError, IndexError_)
IdChecker = Callable[[Iterable[str]], set[str]]
Progress = Callable[[int, int], None]


# --------------------------------------------------------------------------- interruption


class EvalInterrupted(KeyboardInterrupt):
    """Ctrl-C while grading. `saved`: the grades written to the predictions files of `out_dir`
    (complete lines, counted on disk after the files were closed), which --resume keeps."""

    def __init__(self, out_dir: Path, saved: int) -> None:
        super().__init__(f"interrupted: {saved} grades are saved in {out_dir}")
        self.out_dir = out_dir
        self.saved = saved


# --------------------------------------------------------------------------- grading


def _resolve_engine(engine: str | Engine | None, samples: int, settings: Settings) -> Engine:
    if isinstance(engine, Engine):
        if samples > 1:
            raise BadInputError("samples > 1 works with engine='llm' by name; an engine object grades as configured")
        return engine
    name = (engine or settings.engine).lower()
    if samples > 1:
        if name != "llm":
            raise BadInputError("--samples needs --engine llm (the local engine is deterministic)")
        from grader.engines.llm import LLMEngine

        return LLMEngine(settings, samples=samples)  # type: ignore[call-arg]
    return grading.get_engine(name, settings)


def _grade_one(engine: Engine, rubric: Rubric, story: str, lang: str) -> Grade:
    started = time.perf_counter()
    try:
        grade = engine.grade(story, rubric, language=lang)
        if not isinstance(grade, Grade):
            raise EngineError(f"returned {type(grade).__name__}, not a Grade")
        return grade
    except SETUP_ERRORS:
        raise
    except Exception as exc:  # noqa: BLE001 - a failure is recorded, never a level or a crash
        reason = str(exc) if isinstance(exc, (BadInputError, EngineError)) else f"{type(exc).__name__}: {exc}"
        g = failed_grade(rubric, engine.info, f"engine {engine.name} failed: {reason}", lang)
        g.usage.latency_ms = round((time.perf_counter() - started) * 1000, 1)
        return g


def grade_chunk(
    engine: Engine, rubric: Rubric, stories: Sequence[str], *, max_chars: int, progress: Progress | None = None
) -> list[Grade]:
    """Grade stories in order. Bad input (empty, too long, binary) becomes a failed Grade whose
    error starts with 'bad input: '; engine exceptions become failed Grades too."""
    out: list[Grade | None] = [None] * len(stories)
    ok: list[int] = []
    langs: list[str] = []
    for i, story in enumerate(stories):
        lang = detect_language(story)
        try:
            grading.check_story(story, max_chars)
        except BadInputError as exc:
            out[i] = failed_grade(rubric, engine.info, f"{BAD_INPUT}{exc}", lang)
            continue
        ok.append(i)
        langs.append(lang)
    if ok:
        texts = [stories[i] for i in ok]
        try:
            grades = list(engine.grade_many(texts, rubric, languages=langs, progress=progress))
            if len(grades) != len(texts) or not all(isinstance(g, Grade) for g in grades):
                raise EngineError(f"grade_many returned {len(grades)} results for {len(texts)} stories")
        except SETUP_ERRORS:
            raise
        except Exception:  # noqa: BLE001 - fall back to one at a time so one bad story fails alone
            grades = [_grade_one(engine, rubric, t, lg) for t, lg in zip(texts, langs)]
        for i, g in zip(ok, grades):
            out[i] = g
    return [g for g in out if g is not None]


def _chunks(items: Iterable[EvalItem], size: int) -> Iterator[list[EvalItem]]:
    it = iter(items)
    while chunk := list(islice(it, size)):
        yield chunk


# --------------------------------------------------------------------------- output dir


def _prepare(
    out_dir: Path, manifest: dict[str, Any], repeats: int, resume: bool, ids: set[str], notify: Callable[[str], None] | None = None
) -> tuple[list[dict[str, Brief]], list[str]]:
    """Check that the run can use `out_dir`, then set it up. Every check (the options of the run
    being resumed, predictions of items not in the eval set) only reads: nothing in the folder
    is written, replaced or deleted until all of them have passed."""
    path = out_dir / MANIFEST
    warnings: list[str] = []
    done: list[dict[str, Brief]] = [{} for _ in range(repeats)]
    bad: list[set[int]] = [set() for _ in range(repeats)]
    if resume:
        try:
            old = json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}
        except (OSError, ValueError):
            old = {}
        for key in ("engine", "rubric", "samples"):
            if key in old and old[key] != manifest[key]:
                raise BadInputError(
                    f"{out_dir} holds a run with {key} {old[key]!r}, not {manifest[key]!r}: "
                    "resume with the same options, or use another --out"
                )
        manifest["created"] = old.get("created", manifest["created"])
        for r in range(1, repeats + 1):
            done[r - 1], bad[r - 1] = read_done(predictions_path(out_dir, r))
            stray = [i for i in done[r - 1] if i not in ids]
            if stray:
                raise BadInputError(
                    f"{predictions_path(out_dir, r)} has {len(stray)} item(s) that are not in the eval set (e.g. {stray[0]!r}): "
                    "it belongs to another eval set; use another --out or run without --resume to start over"
                )
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise BadInputError(f"cannot use {out_dir} as the output folder ({exc.strerror or exc}): choose another --out") from None
    if resume:
        for r, lines in enumerate(bad, 1):
            if lines:
                drop_lines(predictions_path(out_dir, r), lines)
                warnings.append(f"discarded {len(lines)} incomplete line(s) of {predictions_path(out_dir, r).name}; those items were graded again")
    else:
        old_files = [p for p in [*out_dir.glob("predictions*.jsonl"), *(out_dir / n for n in ("report.json", "report.md"))] if p.exists()]
        if old_files and notify:
            notify(f"{out_dir} holds an earlier run; starting over (add --resume to continue it)")
        for old_file in old_files:
            old_file.unlink(missing_ok=True)
    path.write_text(json.dumps(manifest, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    return done, warnings


def _scan(paths: Sequence[Path], rubric: Rubric) -> set[str]:
    """Validate every line before grading anything (a bad line 4,000 in fails fast), the gold
    indicator ids against the rubric of the run included."""
    ids = {item.id for item in iter_eval_items(paths, rubric)}
    if not ids:
        raise EvalSetError(f"{', '.join(map(str, paths))}: no stories: an eval set has one JSON object per line")
    return ids


def _index_checker(settings: Settings) -> IdChecker:
    def check(ids: Iterable[str]) -> set[str]:
        from grader.index import open_index

        return open_index(settings).existing_ids(ids)

    return check


# --------------------------------------------------------------------------- run

_REPORT_MODULES = ("sklearn.metrics", "scipy.stats", "krippendorff", "matplotlib.figure", "matplotlib.backends.backend_agg")


def _preload_report_modules() -> None:
    """Import the report's libraries while the engine grades (their import takes seconds;
    done in a background thread it overlaps with grading instead of adding to it)."""
    for name in _REPORT_MODULES:
        try:
            importlib.import_module(name)
        except Exception:  # noqa: BLE001 - the report will raise the real error when it needs the module
            return


def run_eval(
    paths: Sequence[Path],
    *,
    out_dir: Path,
    engine: str | Engine = "local",
    repeats: int = 1,
    samples: int = 1,
    resume: bool = False,
    settings: Settings | None = None,
    progress: Callable[[int, int], None] | None = None,
    notify: Callable[[str], None] | None = None,
    rubric: str | Rubric | None = None,
    id_checker: IdChecker | None = None,
    chunk_size: int = CHUNK,
    n_resamples: int = 1000,
) -> dict:
    """Grade every item of the eval-set files `repeats` times, write predictions, report.json,
    report.md and plots to `out_dir`, and return the report. `progress(done, total)` counts
    grades (items x repeats), starting from those already written when resuming; `notify(text)`
    is told when an earlier run in `out_dir` is replaced.

    Everything that would stop the whole run (options, the eval set, the engine's setup such as
    its API key or index, the rubric, a refused resume) is checked before `out_dir` is touched.
    Ctrl-C while grading raises `EvalInterrupted` (a KeyboardInterrupt) with the number of grades
    saved on disk."""
    started_at = datetime.now(timezone.utc).isoformat(timespec="seconds")
    started = time.perf_counter()
    paths = [Path(p) for p in ([paths] if isinstance(paths, (str, Path)) else paths)]
    if not paths:
        raise BadInputError("no eval-set file given: pass one or more files like evals/customer-obsession.dev.jsonl")
    if not 1 <= repeats <= MAX_REPEATS:
        raise BadInputError(f"--repeats must be between 1 and {MAX_REPEATS}, got {repeats}")
    if samples < 1:
        raise BadInputError(f"--samples must be at least 1, got {samples}")
    settings = settings or Settings.from_env()
    threading.Thread(target=_preload_report_modules, name="eval-preload", daemon=True).start()
    rub = rubric if isinstance(rubric, Rubric) else grading.get_rubric(rubric, settings)
    ids = _scan(paths, rub)
    eng = _resolve_engine(engine, samples, settings)
    info = eng.preflight(rub)  # no API key, no index: stop here, before the output folder is touched
    out_dir = Path(out_dir)
    manifest = {
        "files": [str(p) for p in paths], "engine": info.model_dump(mode="json"),
        "rubric": {"id": rub.id, "version": rub.version}, "samples": samples, "repeats": repeats, "created": started_at,
    }
    done, warnings = _prepare(out_dir, manifest, repeats, resume, ids, notify)

    total = len(ids) * repeats
    count = sum(len(d) for d in done)
    resumed = count
    if progress:
        progress(count, total)
    outcomes: list[ItemOutcome] = []
    tally = Tally()
    handles = [predictions_path(out_dir, r).open("a", encoding="utf-8") for r in range(1, repeats + 1)]
    interrupted = False
    try:
        for chunk in _chunks(iter_eval_items(paths, rub), chunk_size):
            texts = [story_text(it) for it in chunk]
            briefs: list[list[Brief | None]] = [[d.pop(it.id, None) for it in chunk] for d in done]
            for r in range(repeats):
                todo = [i for i, b in enumerate(briefs[r]) if b is None]
                if not todo:
                    continue
                base = count
                tick = (lambda d, _t, base=base: progress(base + d, total)) if progress else None  # type: ignore[misc]
                grades = grade_chunk(eng, rub, [texts[i] for i in todo], max_chars=settings.max_chars, progress=tick)
                for i, g in zip(todo, grades):
                    line = prediction_line(chunk[i], g, r + 1)
                    handles[r].write(json.dumps(line, ensure_ascii=False) + "\n")
                    handles[r].flush()
                    briefs[r][i] = Brief.from_line(line)
                count += len(todo)
                if progress:
                    progress(count, total)
            for i, it in enumerate(chunk):
                outcomes.append(tally.add(it, texts[i], [b for b in (row[i] for row in briefs) if b is not None]))
    except KeyboardInterrupt:
        interrupted = True
    finally:
        for h in handles:
            h.close()
    if interrupted:  # counted once the files are closed: complete lines only
        raise EvalInterrupted(out_dir, saved_grades(out_dir, repeats))

    existing: set[str] | None = None
    if tally.cited:
        try:
            existing = (id_checker or _index_checker(settings))(list(tally.cited))
        except Exception as exc:  # noqa: BLE001 - an unreachable index leaves the figure unmeasured, not the run failed
            warnings.append(f"citation validity not measured: {exc}")
    elapsed = time.perf_counter() - started
    graded_now = count - resumed
    meta = {
        **manifest, "started": started_at, "elapsed_s": round(elapsed, 2), "graded_now": graded_now, "resumed": resumed,
        "grades_per_s": round(graded_now / elapsed, 2) if elapsed > 0 else None, "warnings": warnings,
    }
    report = build_report(outcomes, tally, existing_ids=existing, meta=meta, n_resamples=n_resamples)
    write_report(report, out_dir)
    return report
