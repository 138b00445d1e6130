"""User-facing errors. Every message says what is wrong and what to do."""

from __future__ import annotations


class GraderError(Exception):
    """Base class for errors meant for users (CLI prints the message, exit code `exit_code`)."""

    exit_code = 1


class BadInputError(GraderError):
    """The story or a file given by the user cannot be graded (empty, too long, binary, not UTF-8).
    `reason` names the everyday cases ("empty", "too_long") so the app can word them in its own
    interface language."""

    exit_code = 2

    def __init__(self, message: str, *, reason: str | None = None) -> None:
        super().__init__(message)
        self.reason = reason


class RubricError(GraderError):
    """A rubric file is missing or malformed; the message names the file, the field and the problem."""

    exit_code = 2


class ConfigError(GraderError):
    """A setting is missing or invalid (e.g. OPENAI_API_KEY for the llm engine)."""

    exit_code = 2


class IndexError_(GraderError):
    """The Chroma index is missing, built with another embedding model, or unreachable."""

    exit_code = 1


class EngineError(GraderError):
    """An engine could not produce a valid grade (model failure, invalid answer)."""

    exit_code = 1


class EvalSetError(GraderError):
    """An eval-set file is malformed; the message names the file and line."""

    exit_code = 2
