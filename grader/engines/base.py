"""The one engine interface."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence

from grader.types import EngineInfo, Feedback, Grade, Rubric, RubricRef

Progress = Callable[[int, int], None]  # (done, total)


class Engine(ABC):
    """Grades one story against one rubric. Implementations never raise for model failures:
    they return a Grade with status 'failed' and a reason (see `failed_grade`)."""

    name: str = "engine"

    @property
    def info(self) -> EngineInfo:
        return EngineInfo(name=self.name)

    def preflight(self, rubric: Rubric) -> EngineInfo:
        """Check, without grading anything, what would stop every grade with this rubric (no API
        key, no index) and raise it now (ConfigError, IndexError_); return the engine info its
        grades will carry. `grader eval` calls it before it touches the output folder."""
        return self.info

    @abstractmethod
    def grade(self, story: str, rubric: Rubric, *, language: str) -> Grade:
        """Grade a validated story (see grading.check_story) written in `language` ('ko'|'en')."""

    def grade_many(
        self,
        stories: Sequence[str],
        rubric: Rubric,
        *,
        languages: Sequence[str],
        progress: Progress | None = None,
    ) -> list[Grade]:
        """Grade several stories; engines with real concurrency override this."""
        out: list[Grade] = []
        for i, (story, lang) in enumerate(zip(stories, languages, strict=True)):
            out.append(self.grade(story, rubric, language=lang))
            if progress:
                progress(i + 1, len(stories))
        return out


def failed_grade(rubric: Rubric, engine: EngineInfo, reason: str, language: str = "en") -> Grade:
    """A Grade that carries no level, only the reason it could not be graded."""
    return Grade(
        rubric=RubricRef(id=rubric.id, version=rubric.version),
        status="failed",
        level=None,
        confidence=0.0,
        engine=engine,
        language="ko" if language == "ko" else "en",
        error=reason,
        feedback=Feedback(),
    )
