"""The CLI's two consoles: results on stdout, messages and progress on stderr."""

from __future__ import annotations

import os
import re
import sys

from rich.console import Console
from rich.text import Text

BROKEN_PIPE_EXIT = 141  # what a shell reports for a command whose reader went away (128 + SIGPIPE)


def reader_gone() -> None:
    """The reader of standard output went away (`grader history --json | head -1`): stop quietly
    with the shell's SIGPIPE status, not 1, which would read as a failed command. What is still
    buffered for stdout goes to devnull, so the flush at exit raises nothing either (Python docs,
    "Note on SIGPIPE")."""
    out.quiet = True
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):  # stdout is not a real file (a test's capture): nothing to redirect
        pass
    raise SystemExit(BROKEN_PIPE_EXIT)


class Output(Console):
    def on_broken_pipe(self) -> None:
        """The reader stopped reading (`grader grade story.txt | head -3`): see `reader_gone`."""
        reader_gone()


out = Output()
err = Console(stderr=True)
# Into a file or a pipe, a message is one line however long (a path cut at column 80 breaks
# whatever reads the log); tables still lay out to the width. At a terminal, text wraps.
for _console in (out, err):
    _console.soft_wrap = not _console.is_terminal


# C0 controls but tab and newline, DEL, C1 controls: an escape sequence in a story would clear or
# recolour the reader's terminal
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def shown(text: object, style: str = "") -> Text:
    """Text from a story, a document or a path as it is printed: never read as console markup
    ("[/]" and "[red]" stay as written) and control characters made visible ("\\x1b")."""
    return Text(_CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", str(text)), style=style)
