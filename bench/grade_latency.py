"""Local-engine latency vs the floor (one e5 pass over the same text), and indexing times.

    uv run python bench/grade_latency.py [--reps 15]

Prints, for stories of about 300, 1,500 and 5,000 characters: grade p50/p95, the floor p50
(one multilingual-e5-small pass over the whole story, measured in the same run) and the ratio
(target: grade p50 <= 1.5x floor). Then the time to index corpus + both seed articles into an
empty data dir and the time of a no-change re-index.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SEEDS = REPO.parent / "shared" / "seeds"

TRAIN = REPO / "evals" / "customer-obsession.train.jsonl"


def story_of(chars: int) -> str:
    """About `chars` characters of labeled work stories (train split, in file order), none
    repeated: the engine counts a repeated sentence once, so a story made of copies would be
    graded faster than real text and flatter the ratio."""
    import json

    texts = [json.loads(line) for line in TRAIN.read_text(encoding="utf-8").splitlines() if line.strip()]
    out = ""
    for item in texts:
        if item.get("level") is None:
            continue  # work stories only
        if len(out) >= chars:
            break
        out += item["text"].strip() + "\n"
    return out[:chars].rsplit(" ", 1)[0] + "."


def pct(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(round(q * (len(values) - 1))))]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--reps", type=int, default=15)
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="grader-bench-"))
    os.environ["GRADER_DATA_DIR"] = str(tmp)
    from grader.config import Settings
    from grader.embeddings import E5Embeddings
    from grader.engines.local import LocalEngine
    from grader.evidence import detect_language
    from grader.grading import get_rubric
    from grader.index import Index

    settings = Settings.from_env()
    index = Index(settings)
    seeds = sorted(SEEDS.glob("*.txt")) if SEEDS.is_dir() else []
    t = time.perf_counter()
    report = index.build(seeds)
    first = time.perf_counter() - t
    t = time.perf_counter()
    again = index.build()
    second = time.perf_counter() - t

    engine = LocalEngine(settings, index=index)
    rubric = get_rubric(None, settings)
    e5 = E5Embeddings()
    engine.grade(story_of(300), rubric, language="ko")  # warm-up (model load, indicator vectors)
    print(f"{'story':>8} {'grade p50':>10} {'grade p95':>10} {'floor p50':>10} {'ratio':>7}  (reps={args.reps})")
    for size in (300, 1500, 5000):
        story = story_of(size)
        lang = detect_language(story)
        grades, floors = [], []
        for _ in range(args.reps):
            t = time.perf_counter()
            e5.queries([story])
            floors.append(time.perf_counter() - t)
            t = time.perf_counter()
            engine.grade(story, rubric, language=lang)
            grades.append(time.perf_counter() - t)
        g50, f50 = statistics.median(grades), statistics.median(floors)
        print(f"{len(story):>8} {g50 * 1000:>8.0f}ms {pct(grades, 0.95) * 1000:>8.0f}ms {f50 * 1000:>8.0f}ms {g50 / f50:>6.2f}x")
    print(f"index corpus + {len(seeds)} seed articles: {first:.1f}s ({report.embedded} entries embedded)")
    print(f"re-index, nothing changed: {second:.2f}s ({again.embedded} embedded)")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
