"""The real CLI entry point (grader.cli.main) run in the test's own process."""

from __future__ import annotations

import sys

import pytest


def run_main(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], *args: str, columns: int | None = None
) -> tuple[int, str, str]:
    """`grader ARGS…` with sys.argv set: (exit code, stdout, stderr); `columns` widens rich's output."""
    from grader.cli import main

    monkeypatch.setattr(sys, "argv", ["grader", *args])
    if columns:
        monkeypatch.setenv("COLUMNS", str(columns))
    code = 0
    try:
        main()
    except SystemExit as exc:
        code = int(exc.code or 0)
    captured = capsys.readouterr()
    return code, captured.out, captured.err
