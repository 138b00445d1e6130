"""The llm engine: grades over any OpenAI-compatible endpoint (OpenAI, Azure OpenAI, vLLM,
Ollama, llama.cpp), retrieval-augmented, evidence-checked and fault-tolerant.

Pipeline per story: retrieve the rubric's indicators and principles plus the closest source
passages -> build the prompt from the versioned templates in grader/prompts/ (the story escaped
inside <story> delimiters) -> structured output (strict JSON schema, plain JSON for servers
without schema support) -> validate quotes, ids and ranges (grader.llm_parse), ask once more with
the problems, then drop and mark what is still invalid -> the level follows from the indicator
statuses by grader.levels.rule_level; the model's own level is kept beside it and a
disagreement lowers the confidence. A parse failure is never a level: status 'failed'.
"""

from __future__ import annotations

import asyncio
import statistics
import threading
import time
from collections.abc import Callable, Coroutine, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, TypeVar

from grader.config import Settings
from grader.engines.base import Engine, Progress, failed_grade
from grader.errors import ConfigError, EngineError, GraderError, IndexError_
from grader.feedback import warning, write_feedback
from grader.levels import combine_confidence, level_of, mixed_signals, rule_level
from grader.llm_cache import GradeCache, cache_key, rubric_digest, story_hash
from grader.llm_client import (
    CallStats, Capabilities, ChatClient, ChatReply, RetriesExhausted, api_key_for, cost_usd, public_url, redact,
)
from grader.llm_parse import Checked, Context, ParseError, check_answer, extract_json
from grader.llm_prompt import PROMPT_VERSION, Prompt, answer_schema, build_prompt, prompt_digest, rubric_hits
from grader.types import Citation, EngineInfo, Grade, Hit, Rubric, RubricRef, Usage

Retriever = Callable[[str, Rubric, str], list[Hit]]
T = TypeVar("T")

PASSAGES = 6
SAMPLE_TEMPERATURE = 0.7  # used for --samples > 1 when GRADER_TEMPERATURE is 0
BASE_CONFIDENCE = 0.8


def default_retriever(settings: Settings) -> Retriever:
    """Every indicator and principle of the rubric, plus the top source passages from Chroma."""

    def retrieve(story: str, rubric: Rubric, language: str) -> list[Hit]:
        from grader.index import ensure_index

        return rubric_hits(rubric, language) + ensure_index(settings).search(story, k=PASSAGES, kinds=["passage"])

    return retrieve


def run_sync(coro: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine from sync code, also when the caller already runs an event loop."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coro)
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coro).result()


@dataclass
class Sample:
    checked: Checked | None
    error: str | None = None
    repaired: bool = False
    transient: bool = False  # lost to endpoint errors that outlasted the retries
    leftover: list[str] = field(default_factory=list)  # problems still present in the accepted answer


def _checked(reply: ChatReply, ctx: Context) -> tuple[Checked | None, list[str]]:
    if reply.refusal:
        return None, [f"the model refused: {reply.refusal[:200]}"]
    try:
        data = extract_json(reply.content)
    except ParseError as exc:
        cut = ["the answer was cut off by the length limit"] if reply.finish_reason == "length" else []
        return None, [*cut, str(exc)]
    checked = check_answer(data, ctx)
    return checked, checked.problems


class LLMEngine(Engine):
    name = "llm"

    def __init__(
        self,
        settings: Settings,
        *,
        retriever: Retriever | None = None,
        samples: int = 1,
        cache: bool = True,
        backoff: float = 0.5,
    ) -> None:
        if samples < 1:
            raise ConfigError(f"samples must be at least 1, got {samples}")
        self.settings = settings
        self.samples = samples
        self.retriever = retriever or default_retriever(settings)
        self.cache = GradeCache(settings.cache_dir) if cache else None
        self.backoff = backoff
        self.capabilities = Capabilities()
        self._retrieve_lock = threading.Lock()

    @property
    def info(self) -> EngineInfo:
        return EngineInfo(name=self.name, model=self.settings.model, prompt_version=PROMPT_VERSION)

    def preflight(self, rubric: Rubric) -> EngineInfo:
        api_key_for(self.settings)  # ConfigError with what to do when it is missing
        return self.info

    @property
    def temperature(self) -> float:
        t = self.settings.temperature
        return SAMPLE_TEMPERATURE if self.samples > 1 and t == 0 else t

    # ------------------------------------------------------------------ public API

    def grade(self, story: str, rubric: Rubric, *, language: str) -> Grade:
        return self.grade_many([story], rubric, languages=[language])[0]

    def grade_many(
        self, stories: Sequence[str], rubric: Rubric, *, languages: Sequence[str], progress: Progress | None = None
    ) -> list[Grade]:
        return run_sync(self.agrade_many(stories, rubric, languages=languages, progress=progress))

    async def agrade_many(
        self, stories: Sequence[str], rubric: Rubric, *, languages: Sequence[str], progress: Progress | None = None
    ) -> list[Grade]:
        """Grade stories concurrently (at most GRADER_CONCURRENCY requests in flight), in order."""
        if len(stories) != len(languages):
            raise ValueError("stories and languages differ in length")
        total, done = len(stories), 0
        langs = ["ko" if lg == "ko" else "en" for lg in languages]
        out: list[Grade | None] = [None] * total
        keys = [self._key_fields(s, rubric, lg) for s, lg in zip(stories, langs)]
        for i, fields in enumerate(keys):
            started = time.perf_counter()
            hit = self.cache.get(cache_key(fields)) if self.cache else None
            if hit is not None:
                hit.usage = Usage(latency_ms=round((time.perf_counter() - started) * 1000, 2), cost_usd=0.0, cached=True)
                out[i] = hit
                done += 1
                if progress:
                    progress(done, total)
        todo = [i for i in range(total) if out[i] is None]
        if not todo:
            return out  # type: ignore[return-value]
        key = api_key_for(self.settings)  # ConfigError with what to do when it is missing
        async with ChatClient(self.settings, api_key=key, capabilities=self.capabilities, backoff=self.backoff) as client:
            stats = {i: CallStats() for i in todo}
            started: dict[int, float] = {}
            transient: list[int] = []

            def finish(i: int, grade: Grade) -> None:
                nonlocal done
                if self.cache:
                    self.cache.put(cache_key(keys[i]), keys[i], grade)
                out[i] = grade
                done += 1
                if progress:
                    progress(done, total)

            async def one(i: int, last: bool) -> None:
                started.setdefault(i, time.perf_counter())
                grade, retry_later = await self._grade_one(client, stories[i], rubric, langs[i], key, stats[i], started[i])
                if retry_later and not last:
                    transient.append(i)
                    out[i] = grade
                else:
                    finish(i, grade)

            await _gather([one(i, last=False) for i in todo])
            # A few stories outlasted their retries while the rest went through: the endpoint is
            # up, so give those one more round at the end (not when most failed: it is down).
            again = list(transient) if len(todo) > 1 and 0 < len(transient) * 4 <= len(todo) else []
            for i in again:
                stats[i].retries += 1
            await _gather([one(i, last=True) for i in again])
            for i in again:
                if out[i] is not None and out[i].status != "failed":  # type: ignore[union-attr]
                    out[i].warnings.append("graded on a second pass after transient endpoint errors")  # type: ignore[union-attr]
            for i in transient:
                if i not in again:
                    finish(i, out[i])  # type: ignore[arg-type]
        return out  # type: ignore[return-value]

    # ------------------------------------------------------------------ one story

    def _key_fields(self, story: str, rubric: Rubric, lang: str) -> dict[str, Any]:
        s = self.settings
        return {
            "model": s.model, "endpoint": public_url(s.openai_base_url), "prompt_version": PROMPT_VERSION,
            "prompt_digest": prompt_digest(), "rubric": rubric.id, "rubric_version": rubric.version,
            "rubric_digest": rubric_digest(rubric), "temperature": self.temperature, "seed": s.seed,
            "samples": self.samples, "language": lang, "story_sha256": story_hash(story),
        }

    def _retrieve(self, story: str, rubric: Rubric, lang: str, warnings: list[str]) -> list[Hit]:
        with self._retrieve_lock:
            try:
                hits = list(self.retriever(story, rubric, lang))
            except IndexError_ as exc:
                warnings.append(f"source passages unavailable ({exc}); graded with the rubric only")
                hits = []
        have = {h.id for h in hits}  # every indicator of the rubric is always given
        hits += [h for h in rubric_hits(rubric, lang) if h.id not in have]
        return list({h.id: h for h in hits}.values())

    async def _grade_one(
        self, client: ChatClient, story: str, rubric: Rubric, lang: str, key: str, stats: CallStats, started: float
    ) -> tuple[Grade, bool]:
        """The Grade of one story, and whether it failed only because the endpoint kept failing."""
        warnings: list[str] = []
        transient = False
        try:
            hits = await asyncio.to_thread(self._retrieve, story, rubric, lang, warnings)
            ctx = Context.make(story, [i.id for i in rubric.indicators()], {h.id for h in hits}, rubric.max_level, lang)
            prompt = build_prompt(story, rubric, hits, lang)
            schema = answer_schema(ctx.indicator_ids, sorted(ctx.citation_ids))
            results = await asyncio.gather(
                *(self._safe_sample(client, prompt, schema, ctx, self.settings.seed + k, stats) for k in range(self.samples))
            )
            grade = self._assemble(list(results), rubric, hits, ctx, warnings)
        except ConfigError:
            raise
        except GraderError as exc:
            transient = isinstance(exc, RetriesExhausted)
            grade = failed_grade(rubric, self.info, redact(str(exc), key), lang)
        except Exception as exc:  # noqa: BLE001 - a failure must never become a level or a crash
            grade = failed_grade(rubric, self.info, redact(f"{type(exc).__name__}: {exc}", key), lang)
        grade.usage = Usage(
            latency_ms=round((time.perf_counter() - started) * 1000, 1),
            input_tokens=stats.input_tokens,
            output_tokens=stats.output_tokens,
            cost_usd=cost_usd(self.settings.model, self.settings.openai_base_url, stats.input_tokens, stats.output_tokens),
            requests=stats.requests,
            retries=stats.retries,
        )
        if stats.estimated_tokens:
            grade.warnings.append("the endpoint did not report token usage: tokens estimated from characters")
        return grade, transient

    async def _safe_sample(self, *args: Any) -> Sample:
        """A sample whose transport failure is recorded, so the other samples still count."""
        try:
            return await self._sample(*args)
        except EngineError as exc:
            return Sample(None, error=str(exc), transient=isinstance(exc, RetriesExhausted))

    async def _sample(
        self, client: ChatClient, prompt: Prompt, schema: dict[str, Any], ctx: Context, seed: int, stats: CallStats
    ) -> Sample:
        """One answer, asked once more with its problems when it is not valid."""
        opts = {"schema": schema, "temperature": self.temperature, "seed": seed, "stats": stats}
        reply = await client.complete(prompt.messages(), **opts)
        first, problems = _checked(reply, ctx)
        if first is not None and not problems:
            return Sample(first)
        try:
            reply2 = await client.complete(prompt.repair(reply.content or "", problems), **opts)
        except EngineError:
            if first is None:
                raise
            return self._accept(first, repaired=False)
        second, problems2 = _checked(reply2, ctx)
        if second is not None:
            return self._accept(second, repaired=True)
        if first is not None:
            return self._accept(first, repaired=False)
        return Sample(None, error="the model's answer was invalid twice: " + "; ".join(problems2[:3]))

    def _accept(self, checked: Checked, *, repaired: bool) -> Sample:
        n = len(checked.judgments)
        if checked.n_judged * 2 < n:
            return Sample(None, error=f"the model judged only {checked.n_judged} of the rubric's {n} indicators")
        return Sample(checked, repaired=repaired, leftover=list(checked.problems))

    # ------------------------------------------------------------------ assembling the Grade

    def _assemble(self, results: list[Sample], rubric: Rubric, hits: list[Hit], ctx: Context, warnings: list[str]) -> Grade:
        valid = [r for r in results if r.checked is not None]
        if not valid:
            reason = next((r.error for r in results if r.error), "no valid answer")
            raise (RetriesExhausted if all(r.transient for r in results) else EngineError)(reason)
        lang = ctx.lang
        levels = [rule_level({j.id: j.status for j in r.checked.judgments}, rubric.max_level) for r in valid]  # type: ignore[union-attr]
        numeric = [lv for lv in levels if lv is not None]
        level = statistics.median_low(numeric) if len(numeric) * 2 >= len(levels) and numeric else None
        rep = valid[levels.index(level)]
        checked = rep.checked
        assert checked is not None
        judgments = [j.model_copy(deep=True) for j in checked.judgments]
        statuses = {j.id: j.status for j in judgments}
        rule = rule_level(statuses, rubric.max_level)
        model_levels = [r.checked.model_level for r in valid if r.checked and r.checked.model_level is not None]
        model_level = statistics.median_low(model_levels) if model_levels else None
        samples_info: dict[str, Any] | None = None
        agreement = 1.0
        if self.samples > 1:
            agreement = levels.count(level) / len(levels)
            share = {
                i: round(sum(1 for r in valid if r.checked and _positive(r.checked, i)) / len(valid), 4) for i in ctx.indicator_ids
            }
            for j in judgments:
                j.vote_share = share[j.id]
            samples_info = {
                "n": self.samples, "valid": len(valid), "levels": levels, "model_levels": [r.checked.model_level for r in valid if r.checked],
                "agreement": round(agreement, 4), "vote_share": share, "temperature": self.temperature,
                "repaired": sum(1 for r in valid if r.repaired),
            }
            failed = [r.error for r in results if r.checked is None]
            if failed:
                warnings.append(f"{len(failed)} of {self.samples} samples failed: {failed[0]}")
        if rep.leftover:
            warnings.append(
                "the model's answer still had problems after one repair; invalid parts were dropped and marked: "
                + "; ".join(rep.leftover[:3]) + (f" (+{len(rep.leftover) - 3} more)" if len(rep.leftover) > 3 else "")
            )
        feedback = checked.feedback
        if not checked.feedback_ok:
            feedback = write_feedback(rubric, judgments, level, lang)
            warnings.append("the model's feedback was unusable (empty or not in the story's language): feedback written from the rubric")
        if ctx.directive_spans:
            quotes = [ctx.story[a:b].strip() for a, b in ctx.directive_spans]
            warnings.append(warning("set_aside", lang, quotes, n=len(quotes)))
        confidence = 0.0
        if level is not None:
            base = BASE_CONFIDENCE if self.samples == 1 else 0.3 + 0.6 * agreement
            if rep.leftover:
                base *= 0.8
            if mixed_signals(statuses, level):
                base *= 0.85
                warnings.append(warning("mixed", lang))
            confidence = combine_confidence(base, rule, model_level)
        if model_level is not None and level is not None and model_level != level:
            warnings.append(f"the model's own overall level is LV.{model_level}; the indicator rule gives LV.{level}")
        return Grade(
            rubric=RubricRef(id=rubric.id, version=rubric.version),
            status="graded" if level is not None else "insufficient_evidence",
            level=level,
            level_name=rubric.level_name(level, lang) if level is not None else None,
            confidence=confidence,
            indicators=judgments,
            citations=_citations(judgments, checked.citations, hits),
            feedback=feedback,
            language="ko" if lang == "ko" else "en",
            engine=self.info,
            rule_level=rule,
            model_level=model_level,
            samples=samples_info,
            warnings=warnings,
        )


async def _gather(coros: list[Coroutine[Any, Any, None]]) -> None:
    """Run coroutines concurrently; on the first error cancel the rest and raise it."""
    tasks = [asyncio.ensure_future(c) for c in coros]
    try:
        await asyncio.gather(*tasks)
    except BaseException:
        for t in tasks:
            t.cancel()
        raise


def _positive(checked: Checked, ident: str) -> bool:
    return any(j.id == ident and j.status in ("met", "partial") for j in checked.judgments)


def _citations(judgments: list[Any], cited: list[str], hits: list[Hit]) -> list[Citation]:
    """Indicators judged met/partial (highest level first), then the ids the model cited; only ids we gave."""
    by_id = {h.id: h for h in hits}
    shown = [j.id for j in sorted(judgments, key=lambda j: -level_of(j.id)) if j.status in ("met", "partial")]
    out = []
    for i in dict.fromkeys([*shown, *cited]):
        if i in by_id:
            c = by_id[i].citation()
            if by_id[i].kind != "passage" or not by_id[i].score:
                c.score = None  # rubric criteria are all given to the model, not ranked by similarity
            out.append(c)
    return out
