"""Eval-harness throughput vs single grades, and memory on a large eval file.

    uv run python bench/eval_throughput.py [--n 1000] [--memory 5000]

1. Throughput (offline engine): runs `run_eval` on N generated stories written as an eval set
   (validation pass, chunked grading, predictions.jsonl, report.json/md, plots, all imports
   included) and grades the same N stories one by one with `engine.grade` (half before the
   eval, half after); prints both rates in stories/s and their ratio (target: >= 90%).
2. Memory: runs `run_eval` with a stub engine (no model, so the harness is all that is
   measured) on 500 and on M stories and prints the peak of traced Python allocations.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

SENTENCES = {
    "en": [
        "I ran {n} customer interviews last quarter and wrote up what they struggled with.",
        "Honestly the customer requests were not my job, I just closed tickets by procedure.",
        "We shipped a new import flow after watching {n} admins fail to load their data.",
        "Every Friday the whole team listens to one customer call and we change the backlog.",
        "Support tickets about onboarding dropped from {n}0 a month to {n}.",
        "I knew users wanted faster exports but cost and the deadline came first.",
        "We prototyped with five customers weekly and found the root cause was permissions.",
        "I told new hires to read customer feedback before their first sprint.",
    ],
    "ko": [
        "지난 분기 고객 {n}명을 직접 인터뷰하고 불편한 점을 정리했습니다.",
        "솔직히 고객 요청은 제 일이 아니라서 절차대로 티켓만 닫았습니다.",
        "관리자 {n}명이 데이터 가져오기에 실패하는 것을 보고 새 흐름을 출시했습니다.",
        "매주 금요일 팀 전체가 고객 통화를 듣고 백로그를 바꿉니다.",
        "온보딩 문의가 한 달 {n}0건에서 {n}건으로 줄었습니다.",
        "사용자가 빠른 내보내기를 원하는 건 알았지만 비용과 일정이 먼저였습니다.",
        "고객 다섯 곳과 매주 프로토타입을 테스트했고 근본 원인은 권한 문제였습니다.",
    ],
}


def make_stories(n: int, seed: int = 7) -> list[dict]:
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        lang = "ko" if i % 3 == 0 else "en"
        k = rng.randint(2, 7)
        text = " ".join(s.format(n=rng.randint(2, 9)) for s in rng.sample(SENTENCES[lang], k))
        rows.append({"id": f"b{i:05d}", "text": text, "level": rng.randint(0, 4), "lang": lang, "tags": ["bench"]})
    return rows


def write_set(path: Path, rows: list[dict]) -> Path:
    with path.open("w", encoding="utf-8") as f:
        for r in rows:
            f.write(json.dumps(r, ensure_ascii=False) + "\n")
    return path


def throughput(n: int, tmp: Path) -> None:
    from grader.config import Settings
    from grader.evals import run_eval
    from grader.evidence import detect_language
    from grader.grading import get_engine, get_rubric
    from grader.index import ensure_index

    settings = Settings.from_env()
    t = time.perf_counter()
    ensure_index(settings)
    print(f"index ready in {time.perf_counter() - t:.1f}s")
    engine = get_engine("local", settings)
    rubric = get_rubric(None, settings)
    rows = make_stories(n)
    engine.grade(rows[0]["text"], rubric, language=detect_language(rows[0]["text"]))  # warm-up
    chars = sum(len(r["text"]) for r in rows) / n
    print(f"{n} stories, {chars:.0f} characters on average")

    def single(part: list[dict]) -> tuple[float, float]:
        t, c = time.perf_counter(), time.process_time()
        for r in part:
            engine.grade(r["text"], rubric, language=detect_language(r["text"]))
        return time.perf_counter() - t, time.process_time() - c

    # single grades: half before and half after the eval, so a change in machine load during
    # the run affects both figures alike; CPU time (this process, all threads) is printed too
    # because it does not depend on what else runs on the machine
    half = n // 2
    wall_a, cpu_a = single(rows[:half])
    path = write_set(tmp / "bench.jsonl", rows)
    t, c = time.perf_counter(), time.process_time()
    report = run_eval([path], out_dir=tmp / "eval", engine=engine, settings=settings, rubric=rubric)
    eval_wall, eval_cpu = time.perf_counter() - t, time.process_time() - c
    wall_b, cpu_b = single(rows[half:])
    single_wall, single_cpu = wall_a + wall_b, cpu_a + cpu_b
    print(f"single grades (engine.grade in a loop):    {n / single_wall:6.2f} stories/s  ({single_wall:.1f}s wall, {single_cpu:.1f}s CPU)")
    print(f"grader eval (run_eval, all files written): {n / eval_wall:6.2f} stories/s  ({eval_wall:.1f}s wall, {eval_cpu:.1f}s CPU, n_failed={report['n_failed']})")
    print(f"eval / single throughput: {single_wall / eval_wall:.1%} wall clock, {single_cpu / eval_cpu:.1%} CPU time (target >= 90%)")


def memory(sizes: list[int], tmp: Path) -> None:
    from grader.config import Settings
    from grader.engines.base import Engine
    from grader.evals import run_eval
    from grader.grading import get_rubric
    from grader.types import Evidence, Grade, IndicatorJudgment, RubricRef

    class Stub(Engine):
        name = "stub"

        def grade(self, story, rubric, *, language):  # type: ignore[no-untyped-def]
            level = len(story) % 6
            ids = [i.id for i in rubric.indicators()]
            return Grade(
                rubric=RubricRef(id=rubric.id, version=rubric.version), status="graded", level=level, engine=self.info,
                language="ko" if language == "ko" else "en",
                indicators=[IndicatorJudgment(id=i, status="met", evidence=[Evidence(quote=story[:40], start=0, end=len(story[:40]))]) for i in ids],
            )

    settings = Settings.from_env()
    rubric = get_rubric(None, settings)
    warm = write_set(tmp / "warm.jsonl", make_stories(50))  # imports happen here, outside the measurement
    run_eval([warm], out_dir=tmp / "warm", engine=Stub(), settings=settings, rubric=rubric, id_checker=lambda ids: set(ids))
    for n in sizes:
        path = write_set(tmp / f"mem{n}.jsonl", make_stories(n))
        tracemalloc.start()
        t = time.perf_counter()
        run_eval([path], out_dir=tmp / f"mem{n}", engine=Stub(), settings=settings, rubric=rubric, id_checker=lambda ids: set(ids))
        elapsed = time.perf_counter() - t
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        size = (tmp / f"mem{n}" / "predictions.jsonl").stat().st_size
        print(f"memory, stub engine, {n:>5} stories: peak {peak / 2**20:6.1f} MiB traced "
              f"(predictions.jsonl {size / 2**20:.1f} MiB, {elapsed:.1f}s under tracemalloc)")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=1000, help="stories for the throughput comparison (0 skips it)")
    ap.add_argument("--memory", type=int, default=5000, help="largest eval file for the memory check (0 skips it)")
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="grader-bench-eval-"))
    os.environ.setdefault("GRADER_DATA_DIR", str(tmp / "data"))
    if args.n:
        throughput(args.n, tmp)
    if args.memory:
        memory([500, args.memory], tmp)
    sys.stdout.flush()


if __name__ == "__main__":
    main()
