"""`grader eval FILE...` (agreement and consistency report, CI gate) and `grader eval compare A B`."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated, Any, Optional

import typer
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.table import Table

from grader.console import err, out
from grader.errors import BadInputError
from grader.eval_report import evidence_detail, split_detail, split_figures

HELP = """Grade labeled eval sets (JSON lines) and report agreement and consistency.

Writes DIR/report.json, report.md, predictions.jsonl, confusion.png and recall.png, prints a summary, and exits 1 when a --fail-under threshold is missed. An interrupted run continues with --resume.

`grader eval compare DIR_A DIR_B` prints metric deltas (B - A) with paired bootstrap 95% intervals and the items whose level changed; with --fail-under it exits 1 when run B misses a threshold.
"""


def _f(x: Any, digits: int = 3) -> str:
    if x is None:
        return "—"
    return f"{x:.{digits}f}" if isinstance(x, float) else str(x)


def _ci(ci: list[float] | None) -> str:
    return "" if not ci else f"[{ci[0]:.3f}, {ci[1]:.3f}]"


def print_summary(report: dict[str, Any], out_dir: Path) -> None:
    x = report.get("extra", {})
    ci = x.get("ci95", {})
    shift = x.get("injection_shift", {})
    lat = report["latency_ms"]
    table = Table(title=f"{report['n']} items · {x.get('n_scored', 0)} scored · {report['n_failed']} failed", title_justify="left")
    table.add_column("metric")
    table.add_column("value", justify="right")
    table.add_column("95% CI / detail")
    retold = x.get("content_pairs") or {}
    rows = [
        ("QWK", report["qwk"], _ci(ci.get("qwk"))),
        ("within one", report["within_one"], _ci(ci.get("within_one"))),
        ("accuracy", report["accuracy"], _ci(ci.get("accuracy"))),
        ("MAE", report["mae"], ""),
        ("Spearman", report["spearman"], ""),
        ("test-retest α", report["repeat_alpha"], f"{x.get('repeats', 1)} repeat(s)"),
        ("pair agreement", report["pair_agreement"], f"{x.get('n_pairs', 0)} pairs"),
        ("  translations/paraphrases", retold.get("agreement"), f"{retold.get('n', 0)} pairs"),
        ("injection shift (mean)", shift.get("mean"), f"max {_f(shift.get('max'))}, n={shift.get('n', 0)}"),
        ("not-work → insufficient", x.get("insufficient_rate"), f"n={x.get('n_not_work', 0)}"),
        ("split grades: accuracy", split_figures(x)[0].get("accuracy"), split_detail(x)),
        ("evidence on gold sentences", (x.get("evidence") or {}).get("first_on_gold"), evidence_detail(x)),
        ("quote validity", report["quote_validity"], ""),
        ("citation validity", report["citation_validity"], ""),
        ("latency p50 / p95 ms", lat.get("p50"), _f(lat.get("p95"), 1)),
    ]
    for name, value, detail in rows:
        table.add_row(name, _f(value, 1 if name.startswith("latency") else 3), detail)
    out.print(table)
    for w in x.get("run", {}).get("warnings") or []:
        err.print(f"[yellow]warning:[/yellow] {escape(str(w))}", highlight=False)
    if report["n_failed"]:
        err.print(f"[yellow]{report['n_failed']} item(s) failed[/yellow] (listed in report.md, not counted as levels)")
    out.print(f"wrote {out_dir}/report.json, report.md, predictions.jsonl, confusion.png, recall.png", markup=False, highlight=False)


def engine_text(info: Any) -> str:
    """'local (level-model <data hash>+<weights hash>)' from a run's engine info ('?' when the run does not say)."""
    if not isinstance(info, dict) or not info.get("name"):
        return "?"
    detail = ", ".join(str(info[k]) for k in ("model", "prompt_version") if info.get(k))
    return f"{info['name']} ({detail})" if detail else str(info["name"])


def print_comparison(result: dict[str, Any]) -> None:
    a, b = result.get("engine_a"), result.get("engine_b")
    out.print(f"A: {result['a']} · engine {engine_text(a)}", markup=False, highlight=False)
    out.print(f"B: {result['b']} · engine {engine_text(b)}", markup=False, highlight=False)
    if a != b:
        unnamed = [side for side, info in (("A", a), ("B", b)) if not isinstance(info, dict) or not info.get("model")]
        if unnamed and isinstance(a, dict) and isinstance(b, dict) and a.get("name") == b.get("name"):
            out.print(f"{' and '.join(unnamed)} does not record its model: whether the model changed is unknown",
                      markup=False, highlight=False)
        else:
            out.print("the engine or its model changed between A and B", markup=False, highlight=False)
    table = Table(title=f"B - A  ({result['n_common']} common items, {result['n_paired']} scored in both)", title_justify="left")
    for col in ("metric", "A", "B", "Δ", "paired Δ", "95% CI", ""):
        table.add_column(col, justify="left" if col in ("metric", "") else "right")
    for name, v in result["metrics"].items():
        p = v.get("paired") or {}
        mark = "significant" if p.get("significant") else ""
        table.add_row(name, _f(v["a"]), _f(v["b"]), _f(v["delta"]), _f(p.get("delta")), _ci(p.get("ci95")), mark)
    out.print(table)
    changed = result["changed"]
    out.print(f"{len(changed)} item(s) changed level or status", highlight=False)
    if changed:
        t = Table()
        for col in ("id", "gold", "A", "B", "vs gold"):
            t.add_column(col)
        for c in changed[:40]:
            t.add_row(escape(c["id"]), _f(c["gold_level"]), _f(c["a_level"] if c["a_level"] is not None else c["a_status"]),
                      _f(c["b_level"] if c["b_level"] is not None else c["b_status"]), c["vs_gold"] or "")
        out.print(t)
        if len(changed) > 40:
            out.print(f"… and {len(changed) - 40} more (use --json for all)")
    for side in ("a", "b"):
        only = result[f"only_in_{side}"]
        if only:
            out.print(f"{len(only)} item(s) only in {side.upper()}: {', '.join(only[:10])}{' …' if len(only) > 10 else ''}", markup=False, highlight=False)


# options of a run that mean nothing to `grader eval compare` (it reads two finished runs)
RUN_OPTIONS = {"engine": "--engine", "repeats": "--repeats", "samples": "--samples", "out_dir": "--out",
               "resume": "--resume", "rubric": "--rubric"}


def _compare(args: list[str], as_json: bool, thresholds: dict[str, float]) -> None:
    """Print the comparison of two runs; with thresholds, the gate on run B (exit 1 when missed)."""
    from grader.eval_compare import read_report
    from grader.evals import compare_runs

    if len(args) != 2:
        raise BadInputError("usage: grader eval compare DIR_A DIR_B (two output folders of `grader eval`)")
    result = compare_runs(Path(args[0]), Path(args[1]))
    if as_json:
        out.print_json(data=result)
    else:
        print_comparison(result)
    _gate(read_report(Path(args[1])), thresholds, " (run B)")


def _gate(report: dict[str, Any], thresholds: dict[str, float], which: str = "") -> None:
    """`FAIL …` for every threshold the report misses, then exit 1; else say the gate passed."""
    from grader.evals import check_thresholds

    missed = check_thresholds(report, thresholds)
    for line in missed:
        err.print(f"[red]FAIL[/red] {escape(line + which)}", highlight=False)
    if missed:
        raise typer.Exit(1)
    if thresholds:
        err.print(f"gate passed{which}: " + ", ".join(f"{k} >= {v:g}" for k, v in thresholds.items()), markup=False, highlight=False)


def eval_command(
    ctx: typer.Context,
    files: Annotated[list[str], typer.Argument(help="Eval-set files (JSON lines), or: compare DIR_A DIR_B.", metavar="FILE... | compare DIR_A DIR_B")],
    engine: Annotated[Optional[str], typer.Option("--engine", "-e", help="local (offline, default) or llm.")] = None,
    repeats: Annotated[int, typer.Option("--repeats", min=1, max=20, help="Grade every item N times (test-retest alpha).")] = 1,
    samples: Annotated[int, typer.Option("--samples", min=1, max=15, help="llm engine: N samples per grade, median level.")] = 1,
    out_dir: Annotated[Path, typer.Option("--out", "-o", help="Folder for report.json, report.md, predictions, plots.")] = Path("out/eval"),
    fail_under: Annotated[Optional[str], typer.Option("--fail-under", help="Exit 1 below these minimums, e.g. qwk=0.8,within_one=0.9.")] = None,
    resume: Annotated[bool, typer.Option("--resume", help="Continue an interrupted run in --out; grades only what is missing.")] = False,
    rubric: Annotated[Optional[str], typer.Option("--rubric", "-r", help="Rubric id (default GRADER_RUBRIC).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report (or comparison) JSON instead of tables.")] = False,
) -> None:
    from grader.evals import parse_fail_under

    thresholds = parse_fail_under(fail_under) if fail_under is not None else {}
    if files and files[0] == "compare" and not Path("compare").is_file():
        given = [flag for name, flag in RUN_OPTIONS.items() if (src := ctx.get_parameter_source(name)) and src.name != "DEFAULT"]
        if given:
            raise BadInputError(
                f"grader eval compare reads two finished runs: {', '.join(given)} would do nothing there "
                "(it takes --fail-under, checked on run B, and --json)"
            )
        _compare(files[1:], as_json, thresholds)
        return
    from grader.config import Settings
    from grader.evals import run_eval

    settings = Settings.from_env()
    bar = Progress(
        TextColumn("grading"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), TextColumn("ETA"), TimeRemainingColumn(),
        console=err, transient=True, disable=not err.is_interactive,  # see grader.cli.progress_bar
    )
    task: list[Any] = []
    started = time.monotonic()
    said = [-1]  # the last tenth reported on a non-terminal stderr (CI logs, `make eval-gate`)

    def progress(n: int, total: int) -> None:
        if not task:  # created at the first report so a resumed count does not inflate the speed estimate
            task.append(bar.add_task("grade", total=total, completed=n))
        else:
            bar.update(task[0], completed=n, total=total)
        tenth = 10 * n // total if total else 10
        if not err.is_interactive and tenth > said[0] and n:
            said[0] = tenth
            err.print(f"graded {n}/{total} ({n / total:.0%}) in {time.monotonic() - started:.0f} s", markup=False, highlight=False)

    try:
        with bar:
            report = run_eval(
                [Path(f) for f in files], out_dir=out_dir, engine=engine or settings.engine, repeats=repeats,
                samples=samples, resume=resume, settings=settings, progress=progress, rubric=rubric,
                notify=lambda text: err.print(f"note: {text}", markup=False, highlight=False),
            )
    except KeyboardInterrupt as exc:
        saved = getattr(exc, "saved", None)  # EvalInterrupted: the grades on disk, complete lines only
        if saved is None:
            err.print("interrupted before grading started; run the same command again", markup=False, highlight=False)
        else:
            err.print(f"interrupted: {saved} grades are saved in {out_dir}; run the same command with --resume to continue",
                      markup=False, highlight=False)
        raise typer.Exit(130) from None
    if as_json:
        out.print_json(data=report)
    else:
        print_summary(report, out_dir)
    _gate(report, thresholds)


def register(app: typer.Typer) -> None:
    """Add `grader eval` to the CLI."""
    app.command("eval", help=HELP, short_help="Grade labeled eval sets and report agreement.", no_args_is_help=True)(eval_command)
