"""`grader history` and `grader export`: the stored gradings, reviews and eval runs from the terminal."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.cells import cell_len
from rich.table import Table

from grader.config import Settings
from grader.console import err, out, shown
from grader.errors import BadInputError
from grader.render import when

NO_EVAL_RUNS = (
    "no eval runs stored in {path}: runs started in the app (Evals page) are stored; "
    "`grader eval` writes its run to --out DIR (report.json, report.md), not to the store"
)


def history(
    limit: Annotated[int, typer.Option("--limit", "-n", min=1, max=100_000, help="How many entries, newest first.")] = 20,
    everything: Annotated[bool, typer.Option("--all", help="Include gradings that were saved but not shared.")] = False,
    unreviewed: Annotated[bool, typer.Option("--unreviewed", help="Only gradings no coach has reviewed.")] = False,
    evals: Annotated[bool, typer.Option("--evals", help="List the eval runs started in the app (stored) instead of gradings; `grader eval` writes its runs to their --out folders.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per line.")] = False,
) -> None:
    """List stored gradings (with coach reviews) or the eval runs started in the app, from the SQLite store."""
    from grader.store import open_store

    store = open_store(Settings.from_env())
    if evals:
        runs = store.eval_runs(limit=limit)
        if as_json:
            for run in runs:
                sys.stdout.write(run.model_dump_json(exclude={"report"}) + "\n")
            return
        if not runs:
            err.print(NO_EVAL_RUNS.format(path=store.path), markup=False, highlight=False)
            return
        table = Table(title=shown(f"eval runs started in the app ({store.path}; output folders: --json)"))
        for col in ("run", "time", "file", "engine", "×", "n", "acc.", "qwk", "±1"):
            table.add_column(col, no_wrap=col in ("run", "time"), overflow="fold")
        fmt = lambda v: "–" if v is None else f"{v:.2f}"  # noqa: E731
        for r in runs:
            table.add_row(r.id, when(r.created_at), shown(Path(r.file).name), r.engine, str(r.repeats), str(r.n or "–"),
                          fmt(r.accuracy), fmt(r.qwk), fmt(r.within_one))
        out.print(table)
        return
    records = store.records(shared_only=not everything, unreviewed=unreviewed, limit=limit)
    if as_json:
        for r in records:
            sys.stdout.write(r.model_dump_json() + "\n")
        return
    if not records:
        err.print(shown(f"no stored gradings in {store.path} (the app stores a story only when its author ticks “save / share”)"))
        return
    unshared = any(not r.shared for r in records)
    table = Table(title=shown(f"stored gradings ({store.path})"), caption="* saved, not shared with coaches" if unshared else None)
    cols = ["#", "time", "lang", "engine", "level", "conf.", "coach"]
    rows = []
    for r in records:
        level = f"LV.{r.level}" if r.level is not None else {"insufficient_evidence": "none"}.get(r.status, r.status)
        coach = f"LV.{r.review.coach_level}" if r.review else "–"
        ident = str(r.grade_id) + ("" if r.shared else "*")
        rows.append([ident, when(r.created_at), r.language, r.engine, level, f"{r.confidence:.2f}", coach])
    widths = [max(cell_len(c) for c in [head, *(row[i] for row in rows)]) for i, head in enumerate(cols)]
    room = max(12, out.width - sum(widths) - 3 * len(cols) - 4)  # what the other columns leave for the story
    for col in cols:
        table.add_column(col, no_wrap=True)
    table.add_column("story", no_wrap=True)
    for row, r in zip(rows, records):
        story = shown(" ".join(r.story.split()))
        story.truncate(room, overflow="ellipsis")
        table.add_row(*row, story)
    out.print(table)


def export(
    fmt: Annotated[str, typer.Option("--format", "-f", help="jsonl (eval set, the eval-set contract) or csv.")] = "jsonl",
    output: Annotated[Optional[Path], typer.Option("--out", "-o", help="Write to this file instead of standard output.")] = None,
    everything: Annotated[bool, typer.Option("--all", help="Include reviewed gradings that are no longer shared.")] = False,
) -> None:
    """Export coach-reviewed gradings as an eval set (JSONL: gold level = coach's level) or CSV."""
    from grader.store import open_store
    from grader.store_export import eval_set_jsonl, reviews_csv

    fmt = fmt.lower()
    if fmt not in ("jsonl", "csv"):
        raise BadInputError(f"--format {fmt!r} is not supported: use jsonl or csv")
    store = open_store(Settings.from_env())
    records = store.records(shared_only=not everything, reviewed=True, limit=1_000_000)
    text = eval_set_jsonl(records) if fmt == "jsonl" else reviews_csv(records)
    if output is None:
        sys.stdout.write(text)
    else:
        try:
            output.parent.mkdir(parents=True, exist_ok=True)
            output.write_text(text, encoding="utf-8")
        except OSError as exc:
            raise BadInputError(f"cannot write {output}: {exc.strerror or exc}") from None
        err.print(shown(f"wrote {len(records)} reviewed item(s) to {output}"))
    if not records:
        err.print("no reviewed gradings yet: coaches review shared gradings on the app's Review page")


def register(app: typer.Typer) -> None:
    app.command("history", short_help="List stored gradings or the app's eval runs.")(history)
    app.command("export", short_help="Export coach-reviewed gradings as an eval set.")(export)
