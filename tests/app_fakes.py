"""Test support for the store and app tests: a small rubric, grades built by hand and a fake engine.

The fake engine is deterministic and instant: each sentence mentioning customers (or 고객) is
evidence for the next indicator up the ladder, so the level is the number of such sentences (max 5).
"""

from __future__ import annotations

from pathlib import Path

import yaml

from grader.engines.base import Engine
from grader.evidence import split_sentences
from grader.types import (
    Citation,
    EngineInfo,
    Evidence,
    Feedback,
    Grade,
    IndicatorJudgment,
    Rubric,
    RubricRef,
    Usage,
)

NAMES = ["Indifference", "Aware", "Considerate", "Obsessed", "Advocate", "Innovator"]
NAMES_KO = ["무관심", "인지", "고려", "집착", "옹호", "혁신"]


def rubric_dict() -> dict:
    levels = []
    for lv in range(6):
        levels.append({
            "level": lv,
            "name": {"ko": NAMES_KO[lv], "en": NAMES[lv]},
            "summary": {"ko": f"레벨 {lv} 요약", "en": f"Level {lv} summary"},
            "indicators": [
                {"id": f"co.L{lv}.1", "text": {"ko": f"레벨 {lv} 지표", "en": f"Level {lv} indicator <b>one</b>"}},
            ],
            "examples": [{"ko": f"예시 {lv}", "en": f"Example {lv}"}],
        })
    return {
        "id": "customer-obsession", "version": 1, "title": {"ko": "고객 집착", "en": "Customer obsession"},
        "source": {"title": "Test source", "author": "Tester", "date": "2024-01-01"},
        "principles": [{"id": "co.p1", "text": {"ko": "원칙 하나", "en": "Principle one"}}],
        "levels": levels,
    }


def write_corpus(root: Path) -> Path:
    """A corpus folder with the test rubric; returns the corpus dir."""
    (root / "rubrics").mkdir(parents=True, exist_ok=True)
    (root / "notes").mkdir(parents=True, exist_ok=True)
    (root / "rubrics" / "customer-obsession.yaml").write_text(yaml.safe_dump(rubric_dict(), allow_unicode=True), encoding="utf-8")
    return root


def make_grade(story: str, level: int | None = 2, *, confidence: float = 0.7, engine: str = "local",
               language: str = "en", status: str | None = None) -> Grade:
    """A valid Grade for `story`: indicators co.L0.1..co.L5.1, met up to `level`, evidence = first sentence."""
    status = status or ("graded" if level is not None else "insufficient_evidence")
    sents = split_sentences(story)
    indicators = []
    for lv in range(6):
        met = level is not None and lv <= level
        ev = [Evidence(quote=sents[0].text, start=sents[0].start, end=sents[0].end)] if met and sents else []
        indicators.append(IndicatorJudgment(id=f"co.L{lv}.1", status="met" if met else "no_evidence", evidence=ev))
    return Grade(
        rubric=RubricRef(id="customer-obsession", version=1), status=status,
        level=level if status == "graded" else None, level_name=NAMES[level] if status == "graded" else None,
        confidence=confidence, indicators=indicators, language=language,
        engine=EngineInfo(name=engine, model="fake-1"), error="boom" if status == "failed" else None,
    )


class FakeEngine(Engine):
    name = "local"

    def __init__(self) -> None:
        self.calls = 0

    @property
    def info(self) -> EngineInfo:
        return EngineInfo(name="local", model="fake-1")

    def grade(self, story: str, rubric: Rubric, *, language: str) -> Grade:
        self.calls += 1
        if "FAIL-ME" in story:
            raise RuntimeError("simulated model failure")
        hits = [s for s in split_sentences(story) if "customer" in s.text.lower() or "고객" in s.text]
        if not hits:
            return Grade(rubric=RubricRef(id=rubric.id, version=rubric.version), status="insufficient_evidence",
                         confidence=0.3, language=language, engine=self.info,
                         indicators=[IndicatorJudgment(id=i.id, status="no_evidence") for i in rubric.indicators()])
        level = min(len(hits), rubric.max_level)
        indicators = []
        for ind in rubric.indicators():
            if ind.level < level:
                s = hits[ind.level]
                indicators.append(IndicatorJudgment(id=ind.id, status="met", evidence=[Evidence(quote=s.text, start=s.start, end=s.end)]))
            elif ind.level == level:
                s = hits[-1]
                indicators.append(IndicatorJudgment(id=ind.id, status="partial", evidence=[Evidence(quote=s.text, start=s.start, end=s.end)]))
            else:
                indicators.append(IndicatorJudgment(id=ind.id, status="no_evidence"))
        return Grade(
            rubric=RubricRef(id=rubric.id, version=rubric.version), status="graded", level=level,
            level_name=rubric.level_name(level, language), confidence=0.42 + 0.1 * level, indicators=indicators,
            citations=[
                Citation(id=f"co.L{level}.1", kind="indicator", source="customer-obsession v1", text=rubric.indicator(f"co.L{level}.1").text.get(language), location="LV"),
                Citation(id="co.p1", kind="principle", source="Test source", text=rubric.principles[0].text.get(language),
                         location=f"{rubric.id} v{rubric.version}, principles"),
                Citation(id="passage:abc123", kind="passage", source="Notes <i>on</i> customers", text="A passage with <script>alert(1)</script> and **stars**", location="notes.md § Intro (chunk 2)"),
            ],
            feedback=Feedback(strengths=["You <b>talked</b> to customers."], gaps=["No loop yet."], next_steps=["Ship a change and measure it."]),
            language=language, engine=self.info, usage=Usage(latency_ms=12.0),
        )


# --------------------------------------------------------------------------- app fixture

import json  # noqa: E402
import re  # noqa: E402
import types  # noqa: E402

import pytest  # noqa: E402

APP = Path(__file__).resolve().parents[1] / "app.py"


@pytest.fixture()
def app_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> types.SimpleNamespace:
    """Temp data + corpus dirs in the environment and the fake engine behind grading.get_engine."""
    from grader import grading
    from grader.config import Settings
    from grader.store import Store

    corpus = write_corpus(tmp_path / "corpus")
    monkeypatch.setenv("GRADER_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("GRADER_CORPUS_DIR", str(corpus))
    for name in ("OPENAI_API_KEY", "OPENAI_BASE_URL", "GRADER_COACH_PASSCODE", "GRADER_ENGINE", "GRADER_MAX_CHARS"):
        monkeypatch.delenv(name, raising=False)
    engine = FakeEngine()
    monkeypatch.setattr(grading, "get_engine", lambda name=None, settings=None: engine)
    settings = Settings.from_env()
    return types.SimpleNamespace(settings=settings, engine=engine, store=Store(settings.store_path), tmp=tmp_path)


def html_of(at) -> str:
    """All st.html bodies of an AppTest run, joined."""
    return "\n".join(h.value for h in at.html)


def column_labels(table) -> dict[str, str]:
    """The column headers an st.dataframe shows: column name -> label (from its column config)."""
    return {name: conf.get("label", name) for name, conf in json.loads(table.proto.columns or "{}").items()}


def texts_of(at) -> str:
    """Markdown, captions, alerts and titles of an AppTest run, joined."""
    parts = [m.value for m in at.markdown] + [c.value for c in at.caption] + [t.value for t in at.title]
    for kind in (at.info, at.success, at.warning, at.error):
        parts += [e.value for e in kind]
    return re.sub(r"\\([!-/:-@\[-`{-~])", r"\1", "\n".join(str(p) for p in parts))  # drop Markdown escapes
