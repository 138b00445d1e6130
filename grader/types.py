"""Pydantic data contracts shared by every layer (see DESIGN.md, "Contracts")."""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

Lang = Literal["ko", "en"]
Status = Literal["graded", "insufficient_evidence", "failed"]
IndicatorStatus = Literal["met", "partial", "not_met", "no_evidence"]
CitationKind = Literal["indicator", "principle", "passage"]

INDICATOR_ID = re.compile(r"^[a-z][a-z0-9-]*\.L[0-9]\.[0-9]+$")
PRINCIPLE_ID = re.compile(r"^[a-z][a-z0-9-]*\.p[0-9]+$")


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


# --------------------------------------------------------------------------- rubric


class LocalizedText(Strict):
    ko: str = Field(min_length=1)
    en: str = Field(min_length=1)

    def get(self, lang: str) -> str:
        return self.ko if lang == "ko" else self.en


class Cues(Strict):
    """Behaviour cue patterns (Python regexes, case-insensitive, matched per sentence)."""

    ko: list[str] = Field(default_factory=list)
    en: list[str] = Field(default_factory=list)

    @field_validator("ko", "en")
    @classmethod
    def _compiles(cls, patterns: list[str]) -> list[str]:
        for p in patterns:
            try:
                re.compile(p)
            except re.error as exc:
                raise ValueError(f"cue pattern {p!r} is not a valid regular expression: {exc}") from exc
        return patterns


class RelatedSource(BaseModel):
    model_config = ConfigDict(extra="allow")
    title: str
    publisher: str | None = None
    note: str | None = None


class RubricSource(BaseModel):
    model_config = ConfigDict(extra="allow")
    title: str = Field(min_length=1)
    author: str | None = None
    publisher: str | None = None
    date: str | None = None
    url: str | None = None
    note: LocalizedText | str | None = None
    related: list[RelatedSource] = Field(default_factory=list)


class Principle(Strict):
    id: str
    text: LocalizedText

    @field_validator("id")
    @classmethod
    def _id(cls, v: str) -> str:
        if not PRINCIPLE_ID.match(v):
            raise ValueError(f"principle id {v!r} must look like 'co.p1'")
        return v


class Indicator(Strict):
    id: str
    text: LocalizedText
    cues: Cues = Field(default_factory=Cues)

    @field_validator("id")
    @classmethod
    def _id(cls, v: str) -> str:
        if not INDICATOR_ID.match(v):
            raise ValueError(f"indicator id {v!r} must look like 'co.L3.2'")
        return v

    @property
    def level(self) -> int:
        return int(self.id.split(".L")[1].split(".")[0])


class Level(Strict):
    level: int = Field(ge=0, le=9)
    name: LocalizedText
    summary: LocalizedText
    indicators: list[Indicator] = Field(min_length=1)
    examples: list[LocalizedText] = Field(default_factory=list)


class Rubric(Strict):
    id: str = Field(pattern=r"^[a-z0-9][a-z0-9-]*$")
    version: int = Field(ge=1)
    title: LocalizedText
    source: RubricSource
    principles: list[Principle] = Field(default_factory=list)
    levels: list[Level] = Field(min_length=2)

    @model_validator(mode="after")
    def _consistent(self) -> "Rubric":
        numbers = [lv.level for lv in self.levels]
        if numbers != list(range(len(numbers))):
            raise ValueError(f"levels must be numbered 0..{len(numbers) - 1} in order, got {numbers}")
        seen: set[str] = set()
        for lv in self.levels:
            for ind in lv.indicators:
                if ind.level != lv.level:
                    raise ValueError(f"indicator {ind.id} is listed under level {lv.level}")
        for ident in [p.id for p in self.principles] + [i.id for lv in self.levels for i in lv.indicators]:
            if ident in seen:
                raise ValueError(f"id {ident!r} is used twice")
            seen.add(ident)
        return self

    @property
    def max_level(self) -> int:
        return self.levels[-1].level

    def indicators(self) -> list[Indicator]:
        return [i for lv in self.levels for i in lv.indicators]

    def indicator(self, ident: str) -> Indicator:
        for i in self.indicators():
            if i.id == ident:
                return i
        raise KeyError(ident)

    def level_name(self, level: int, lang: str = "en") -> str:
        return self.levels[level].name.get(lang)


# --------------------------------------------------------------------------- grade


class Evidence(Strict):
    quote: str
    start: int = Field(ge=0)
    end: int = Field(ge=0)


class IndicatorJudgment(Strict):
    id: str
    status: IndicatorStatus
    evidence: list[Evidence] = Field(default_factory=list)
    note: str = ""
    score: float | None = None  # engine's strength of evidence, 0..1 (optional)
    vote_share: float | None = None  # with --samples: share of samples that said met/partial


class Citation(Strict):
    id: str
    kind: CitationKind
    source: str
    text: str
    location: str = ""
    score: float | None = None


class Feedback(Strict):
    strengths: list[str] = Field(default_factory=list)
    gaps: list[str] = Field(default_factory=list)
    next_steps: list[str] = Field(default_factory=list)


class EngineInfo(Strict):
    name: str
    model: str | None = None
    prompt_version: str | None = None


class Usage(Strict):
    latency_ms: float = 0.0
    input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: float | None = None
    requests: int = 0
    retries: int = 0
    cached: bool = False


class RubricRef(Strict):
    id: str
    version: int


class Grade(Strict):
    rubric: RubricRef
    status: Status
    level: int | None = Field(default=None, ge=0, le=9)
    level_name: str | None = None
    confidence: float = Field(default=0.0, ge=0.0, le=1.0)
    distribution: list[float] | None = None
    indicators: list[IndicatorJudgment] = Field(default_factory=list)
    citations: list[Citation] = Field(default_factory=list)
    feedback: Feedback = Field(default_factory=Feedback)
    language: Lang = "en"
    engine: EngineInfo
    usage: Usage = Field(default_factory=Usage)
    error: str | None = None
    # explanation of how the level was set (DESIGN: rule beside model)
    rule_level: int | None = None
    model_level: int | None = None
    samples: dict[str, Any] | None = None
    warnings: list[str] = Field(default_factory=list)

    @model_validator(mode="after")
    def _status_level(self) -> "Grade":
        if self.status == "graded" and self.level is None:
            raise ValueError("a graded Grade needs a level")
        if self.status != "graded" and self.level is not None:
            raise ValueError(f"status {self.status} must not carry a level")
        if self.status == "failed" and not self.error:
            raise ValueError("a failed Grade needs an error reason")
        return self


# --------------------------------------------------------------------------- eval set


class EvalItem(BaseModel):
    """One line of an eval set. Extra fields are kept and carried into predictions."""

    model_config = ConfigDict(extra="allow")
    id: str = Field(min_length=1)
    text: str
    level: int | None = Field(default=None, ge=0, le=5)
    lang: Lang | None = None
    tags: list[str] = Field(default_factory=list)
    pair: str | None = None
    indicators: list[str] = Field(default_factory=list)

    def extras(self) -> dict[str, Any]:
        return dict(self.model_extra or {})


# --------------------------------------------------------------------------- retrieval


class Hit(Strict):
    """One retrieved index entry (an indicator, a principle or a source passage)."""

    id: str
    kind: CitationKind
    text: str
    source: str
    location: str = ""
    score: float = 0.0  # cosine similarity, higher is closer
    level: int | None = None
    lang: str | None = None

    def citation(self) -> Citation:
        return Citation(id=self.id, kind=self.kind, source=self.source, text=self.text, location=self.location, score=round(self.score, 4))
