"""Command-line front: parses input, calls the library, renders. No grading logic here."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table
from typer.core import TyperGroup

from grader.config import Settings
from grader.console import err, out, reader_gone, shown
from grader.errors import BadInputError, GraderError
from grader.render import STATUS_MARK, one_line
from grader.types import Grade


class Commands(TyperGroup):
    """`grader`'s commands. Output into a pipe whose reader went away (`grader history --json |
    head -1`) ends every command the same quiet way: exit 141, no traceback. Rich's console
    stops so on its own; a plain `sys.stdout.write` raised BrokenPipeError, which typer turned
    into exit 1, a failed command to the shell."""

    def invoke(self, ctx: typer.Context) -> object:
        try:
            try:
                return super().invoke(ctx)
            finally:
                sys.stdout.flush()  # what the command left buffered fails here, not at exit
        except BrokenPipeError:
            reader_gone()


app = typer.Typer(
    cls=Commands,
    help="Reflection grader: places a work story on a leveled rubric (customer obsession LV.0-LV.5).",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,  # plain click help: typer's rich help put "<bool>" after every flag
)
rubric_app = typer.Typer(help="Check and browse rubric files.", no_args_is_help=True, rich_markup_mode=None)
app.add_typer(rubric_app, name="rubric")


def progress_bar(label: str) -> Progress:
    """A transient bar on stderr. Off when stderr is not a terminal: there it would draw nothing
    but rich's Progress.stop writes an empty line, which ended up before our `error: …` line."""
    return Progress(
        TextColumn(label), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(), console=err, transient=True,
        disable=not err.is_interactive,
    )


def _read_story(file: str | None) -> bytes:
    if file in (None, "-"):
        if file is None and sys.stdin.isatty():
            raise BadInputError("no story given: pass a FILE, or pipe the story in (grader grade - < story.txt)")
        return sys.stdin.buffer.read()
    path = Path(file)
    if path.is_dir():
        raise BadInputError(f"{file} is a folder: pass a story file")
    if not path.is_file():
        raise BadInputError(f"{file}: no such file")
    return path.read_bytes()


def _index_first(settings: Settings) -> None:
    """Build the corpus index before the first grading, saying so: it takes seconds, silently before."""
    from grader.index import ensure_index, index_ready

    try:
        if index_ready(settings):  # remembered: the grading's own ensure_index does not check again
            return
    except Exception:  # noqa: BLE001 - an unreachable store: grading reports it as a failed Grade
        return
    err.print("building the corpus index (first run: rubrics and notes are embedded once)…", markup=False, highlight=False)
    with progress_bar("embedding") as bar:
        task = bar.add_task("embed", total=None)
        ensure_index(settings, progress=lambda d, t: bar.update(task, completed=d, total=t))


def _print_grade(grade: Grade) -> None:
    if grade.status == "failed":
        err.print(shown("failed: ", "red") + shown(grade.error))
        return
    if grade.status == "insufficient_evidence":
        out.print("[yellow]Insufficient evidence[/yellow]: the text does not show how you work with customers; no level given.")
    else:
        ladder = "  ".join(
            f"[reverse bold]\\[LV.{i}][/reverse bold]" if i == grade.level else f"[dim] LV.{i} [/dim]" for i in range(6)
        )
        out.print(ladder)
        out.print(f"[bold]LV.{grade.level} {grade.level_name}[/bold]  confidence {grade.confidence:.2f}")
        if grade.rule_level is not None and grade.model_level is not None and grade.rule_level != grade.model_level:
            out.print(f"[dim]indicator rule says LV.{grade.rule_level}; level model says LV.{grade.model_level}[/dim]")
    listed = [j for j in grade.indicators if j.status != "no_evidence"]
    if listed:
        table = Table(title="Indicators", show_lines=False)
        table.add_column("id")
        table.add_column("status")
        table.add_column("evidence (quoted from the story)", overflow="fold")
        for j in listed:
            table.add_row(j.id, f"{STATUS_MARK[j.status]} {j.status}", shown("\n".join(f"“{e.quote}”" for e in j.evidence)))
        out.print(table)
    for title, items in (("Strengths", grade.feedback.strengths), ("Gaps", grade.feedback.gaps), ("Next steps", grade.feedback.next_steps)):
        if items:
            out.print(f"[bold]{title}[/bold]")
            for x in items:
                out.print(shown(f"  • {x}"), highlight=False)
    if grade.citations:
        out.print("[bold]Citations[/bold]")
        for c in grade.citations:
            out.print(shown(f"  [{c.id}] {c.kind} — {c.location}: {one_line(c.text, 140, heading=c.location)}"), highlight=False)
    for w in grade.warnings:
        out.print(shown(f"note: {w}", "dim"), highlight=False)


@app.command()
def grade(
    file: Annotated[Optional[str], typer.Argument(help="Story file (UTF-8 text); '-' or nothing reads standard input.")] = None,
    engine: Annotated[Optional[str], typer.Option("--engine", "-e", help="local (offline, default) or llm.")] = None,
    rubric: Annotated[Optional[str], typer.Option("--rubric", "-r", help="Rubric id (default GRADER_RUBRIC).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the Grade JSON contract.")] = False,
    samples: Annotated[int, typer.Option("--samples", min=1, max=15, help="llm engine: grade N times, median level.")] = 1,
) -> None:
    """Grade one story. Exit 0 graded/insufficient evidence, 1 failed, 2 bad input or setup
    (e.g. --engine llm without OPENAI_API_KEY), 141 when the reader of the output went away."""
    from grader import grading

    settings = Settings.from_env()
    story = _read_story(file)
    if samples > 1:
        if (engine or settings.engine) != "llm":
            raise BadInputError("--samples needs --engine llm (the local engine is deterministic)")
        from grader.engines.llm import LLMEngine

        text = grading.check_story(story, settings.max_chars)
        result = LLMEngine(settings, samples=samples).grade(text, grading.get_rubric(rubric, settings), language=grading.detect_language(text))
    else:
        _index_first(settings)
        with err.status("grading…"):
            result = grading.grade(story, rubric_id=rubric, engine=engine, settings=settings)
    if as_json:
        out.print_json(result.model_dump_json())
    else:
        _print_grade(result)
    raise typer.Exit(1 if result.status == "failed" else 0)


@app.command(short_help="Index the corpus and your documents (changes only).")
def index(
    paths: Annotated[Optional[list[str]], typer.Argument(help="Documents or folders to add (.txt .md .html .pdf).")] = None,
    rebuild: Annotated[bool, typer.Option("--rebuild", help="Drop the index and build it again.")] = False,
) -> None:
    """Index the rubrics and notes in the corpus plus your documents (only changes are embedded)."""
    from grader.index import open_index

    settings = Settings.from_env()
    idx = open_index(settings)
    with progress_bar("embedding") as bar:
        task = bar.add_task("embed", total=None)
        report = idx.build(paths or [], rebuild=rebuild, progress=lambda d, t: bar.update(task, completed=d, total=t))
    out.print(
        f"indexed {len(report.sources)} sources: {report.added} added, {report.updated} updated, "
        f"{report.removed} removed, {report.unchanged} unchanged ({report.embedded} embedded) -> {idx.count()} entries"
    )
    for s in report.skipped:
        err.print(f"[yellow]skipped[/yellow] {s}")


@app.command()
def search(
    text: Annotated[str, typer.Argument(help="Query text (Korean or English).")],
    k: Annotated[int, typer.Option("-k", min=1, max=50, help="How many results.")] = 5,
    kind: Annotated[Optional[list[str]], typer.Option("--kind", help="indicator, principle or passage (repeatable).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per hit (id, kind, score, source, location, text).")] = False,
) -> None:
    """Show the criteria and passages closest to TEXT, with scores."""
    from grader.index import check_search, ensure_index

    check_search(text, kind)  # before the index is opened or built
    hits = ensure_index(Settings.from_env()).search(text, k=k, kinds=kind)
    if as_json:
        for h in hits:
            sys.stdout.write(json.dumps({"id": h.id, "kind": h.kind, "score": round(h.score, 4), "source": h.source,
                                         "location": h.location, "text": h.text}, ensure_ascii=False) + "\n")
        return
    table = Table()
    for col in ("score", "id", "kind", "source / location", "text"):
        table.add_column(col, no_wrap=col == "id")
    for h in hits:
        table.add_row(f"{h.score:.3f}", shown(h.id), h.kind, shown(h.location or h.source), shown(one_line(h.text, 160, heading=h.location or "")))
    out.print(table)


@rubric_app.command("validate", short_help="Check rubric files for errors.")
def rubric_validate(
    file: Annotated[Path, typer.Argument(help="Rubric YAML file.")],
    against: Annotated[
        Optional[Path],
        typer.Option("--against", help="Rubrics folder whose other rubrics must not use the same ids "
                     "(default: the corpus rubrics folder, when FILE is in it)."),
    ] = None,
) -> None:
    """Check a rubric file; errors name the file, the field and the problem."""
    from grader.rubric import validate_rubric_file

    folder = against
    if folder is None:
        rubrics_dir = Settings.from_env().rubrics_dir
        if file.resolve().parent == rubrics_dir.resolve():
            folder = rubrics_dir
    r, others = validate_rubric_file(file, folder)
    n = len(r.indicators())
    out.print(f"{file}: ok — {r.id} v{r.version}, {len(r.levels)} levels, {n} indicators, {len(r.principles)} principles")
    if folder is not None:
        out.print(f"no id shared with the {len(others)} other rubric(s) in {folder}", markup=False, highlight=False)


@rubric_app.command("show")
def rubric_show(
    rubric_id: Annotated[Optional[str], typer.Argument(help="Rubric id (default GRADER_RUBRIC).")] = None,
    lang: Annotated[str, typer.Option("--lang", help="ko or en.")] = "en",
) -> None:
    """Print a rubric by level in one language."""
    from grader.grading import get_rubric

    if lang not in ("ko", "en"):
        raise BadInputError("--lang must be ko or en")
    r = get_rubric(rubric_id, Settings.from_env())
    out.print(f"[bold]{r.title.get(lang)}[/bold] ({r.id} v{r.version}) — {r.source.title}")
    for p in r.principles:
        out.print(f"  [{p.id}] {p.text.get(lang)}", markup=False, highlight=False)
    for lv in r.levels:
        out.print(f"\n[bold]LV.{lv.level} {lv.name.get(lang)}[/bold] — {lv.summary.get(lang)}")
        for ind in lv.indicators:
            out.print(f"  [{ind.id}] {ind.text.get(lang)}", markup=False, highlight=False)
        for ex in lv.examples:
            out.print(f"    e.g. {ex.get(lang)}", markup=False, highlight=False)


def _register_fronts() -> None:
    import importlib

    for name in ("grader.cli_eval", "grader.cli_store", "grader.cli_train"):
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name != name:
                raise
            continue
        module.register(app)


_register_fronts()


def main() -> None:
    """Runs the CLI in typer's standalone mode: usage errors (unknown option, missing argument, no
    command) print typer's message and exit 2, `typer.Exit(n)` exits n. A GraderError is one line
    on stderr and its exit code; Ctrl-C exits 130; a reader of stdout that went away, 141."""
    try:
        app()
    except GraderError as exc:
        err.print(f"error: {exc}", markup=False, highlight=False, soft_wrap=True)
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        err.print("interrupted")
        sys.exit(130)
    except BrokenPipeError:  # outside a command's own run (see Commands)
        reader_gone()


if __name__ == "__main__":
    main()
