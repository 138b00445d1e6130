"""Throughput and fault tolerance of the llm engine against the local OpenAI-compatible test server.

    uv run python bench/llm_throughput.py [--n 200] [--latency 0.3] [--concurrency 8] [--fault-rate 0.2]

The server (tests/llm_server.py, 127.0.0.1) answers every request after a fixed latency with a
valid grading answer that quotes the story. The engine runs through the real `openai` client,
prompt building, validation and the on-disk cache; retrieval is the rubric only (no Chroma), so
the figures measure the engine, not the index.

1. Cold run: N stories at the given concurrency. Ideal = N x latency / concurrency.
   Target: within 1.15x of the ideal.
2. Cached re-run of the same stories with a new engine. Target: under 2 s.
3. Faults: a fraction of answers are 429 (Retry-After 0.2 s) or 500 (seeded, independent per
   request), cache off. Target: no story lost; reports how many stories were retried.
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests"))

from grader.config import Settings  # noqa: E402
from grader.engines.llm import LLMEngine  # noqa: E402
from grader.evidence import detect_language  # noqa: E402
from grader.llm_prompt import rubric_hits, unescape  # noqa: E402
from grader.rubric import load_rubric  # noqa: E402
from llm_server import FakeLLMServer, Reply, answer, ok, rate_limited, server_error, story_of  # noqa: E402

LINES = {
    "en": [
        "Every week I called {n} customers who had cancelled and wrote down why.",
        "We moved the export button after {n} admins could not find it.",
        "I brought two customers into our design review before launch.",
        "Support tickets about onboarding fell from {n}0 a month to {n}.",
    ],
    "ko": [
        "매주 해지한 고객 {n}명에게 전화해 이유를 정리했습니다.",
        "관리자 {n}명이 내보내기 버튼을 찾지 못해 위치를 옮겼습니다.",
        "출시 전에 고객 두 명을 디자인 리뷰에 초대했습니다.",
    ],
}
FEEDBACK = {
    "en": {"strengths": ["You act on what customers tell you."], "gaps": ["Customers join late."], "next_steps": ["Test ideas with customers first."]},
    "ko": {"strengths": ["고객의 말을 행동으로 옮겼습니다."], "gaps": ["고객 참여가 늦습니다."], "next_steps": ["아이디어 단계부터 고객과 검증해 보세요."]},
}


def make_stories(n: int, seed: int = 7) -> list[str]:
    rng = random.Random(seed)
    out = []
    for i in range(n):
        lang = "ko" if i % 4 == 0 else "en"
        lines = [s.format(n=rng.randint(2, 9)) for s in rng.sample(LINES[lang], len(LINES[lang]))]
        out.append(f"({i}) " + "\n".join(lines))
    return out


def responder(ids: list[str], latency: float, fault_rate: float = 0.0, seed: int = 11) -> Any:
    rng = random.Random(seed)
    lock = threading.Lock()

    def reply(body: dict[str, Any]) -> Reply:
        with lock:
            roll = rng.random()
        if roll < fault_rate / 2:
            return Reply(429, rate_limited(0.2).body, rate_limited(0.2).headers, delay=latency / 3)
        if roll < fault_rate:
            return Reply(500, server_error(500).body, delay=latency / 3)
        story = unescape(story_of(body))
        first = story.split("\n", 1)[0]
        lang = detect_language(story)
        return ok(answer(ids, {"co.L2.2": ("met", [first])}, level=2, feedback=FEEDBACK[lang]), delay=latency)

    return reply


def run(engine: LLMEngine, stories: list[str], rubric: Any) -> tuple[float, list[Any]]:
    langs = [detect_language(s) for s in stories]
    started = time.perf_counter()
    grades = engine.grade_many(stories, rubric, languages=langs)
    return time.perf_counter() - started, grades


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=200)
    ap.add_argument("--latency", type=float, default=0.3)
    ap.add_argument("--concurrency", type=int, default=8)
    ap.add_argument("--fault-rate", type=float, default=0.2)
    args = ap.parse_args()

    rubric = load_rubric("customer-obsession", REPO / "corpus" / "rubrics")
    ids = [i.id for i in rubric.indicators()]
    stories = make_stories(args.n)
    ideal = max(args.n * args.latency / args.concurrency, 1e-9)
    retriever = lambda story, r, lang: rubric_hits(r, lang)  # noqa: E731 - rubric only, no Chroma

    with tempfile.TemporaryDirectory() as tmp, FakeLLMServer(responder(ids, args.latency)) as server:
        settings = Settings(
            data_dir=Path(tmp), corpus_dir=REPO / "corpus", openai_base_url=server.url, model="gpt-4.1-mini",
            timeout=10.0, max_retries=4, concurrency=args.concurrency,
        )
        LLMEngine(settings, retriever=retriever, cache=False).grade(stories[0], rubric, language="en")  # warm imports
        server.reset()

        cold, grades = run(LLMEngine(settings, retriever=retriever), stories, rubric)
        graded = sum(g.status == "graded" for g in grades)
        ratio = cold / ideal
        print(f"cold run     : {args.n} stories, concurrency {args.concurrency}, latency {args.latency * 1000:.0f} ms")
        print(f"               {cold:.2f} s (ideal {ideal:.2f} s, {ratio:.3f}x) {args.n / cold:.1f} stories/s, "
              f"{graded}/{args.n} graded, {server.count} requests, max in flight {server.max_in_flight}"
              f"  [target <= 1.15x: {'ok' if ratio <= 1.15 else 'MISSED'}]")
        tokens = sum(g.usage.input_tokens + g.usage.output_tokens for g in grades)
        cost = sum(g.usage.cost_usd or 0 for g in grades)
        print(f"               tokens {tokens:,}, estimated cost ${cost:.4f} (gpt-4.1-mini prices)")

        server.reset()
        warm, cached = run(LLMEngine(settings, retriever=retriever), stories, rubric)
        hits = sum(g.usage.cached for g in cached)
        same = all(a.model_dump(exclude={"usage"}) == b.model_dump(exclude={"usage"}) for a, b in zip(grades, cached))
        print(f"cached re-run: {warm:.3f} s, {hits}/{args.n} from cache, {server.count} requests, identical grades: {same}"
              f"  [target < 2 s: {'ok' if warm < 2 else 'MISSED'}]")

        server.reset()
        server.responder = responder(ids, args.latency, args.fault_rate)
        faulty_time, faulty = run(LLMEngine(settings, retriever=retriever, cache=False), stories, rubric)
        lost = [g for g in faulty if g.status != "graded"]
        retried = sum(1 for g in faulty if g.usage.retries)
        retries = sum(g.usage.retries for g in faulty)
        second = sum(any("second pass" in w for w in g.warnings) for g in faulty)
        statuses = {c: server.statuses.count(c) for c in sorted(set(server.statuses))}
        print(f"faults {args.fault_rate:.0%}   : {faulty_time:.2f} s, {server.count} requests {statuses}, "
              f"{retried} stories retried ({retries} retries, {second} on a second pass), {len(lost)} lost"
              f"  [target 0 lost: {'ok' if not lost else 'MISSED'}]")
        for g in lost[:3]:
            print(f"               lost: {g.error}")


if __name__ == "__main__":
    main()
