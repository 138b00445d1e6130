"""App latency on the offline engine, measured in a real headless browser.

Prints:
  * cold start to first page: `streamlit run app.py` launched -> the Grade page's title visible;
  * grade click to result: click on Grade -> level ladder shown (first click, with the engine
    still loading, and the median of the following warm clicks);
  * the CLI's grade latency for the same story (`grader grade FILE`, a fresh process each time),
    and whether the app stays within the target: 1.5 x CLI + 1 s.

Usage: uv run python bench/app_latency.py [--runs 3] [--story FILE] [--pause SECONDS]
Needs /usr/bin/chromium (apt-get install -y chromium fonts-noto-cjk). The index is built
beforehand in a temporary GRADER_DATA_DIR (not timed) unless GRADER_DATA_DIR is set.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.browser_app import CHROMIUM, CHROMIUM_ARGS, STORY, free_port, streamlit_command  # noqa: E402


def cli_latency(story_file: Path, env: dict[str, str], runs: int) -> list[float]:
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-m", "grader", "grade", str(story_file)], env=env, cwd=REPO,
                       check=True, capture_output=True)
        times.append(time.perf_counter() - t0)
    return times


def app_latency(story: str, env: dict[str, str], runs: int, pause: float = 0.0) -> tuple[float, float, list[float]]:
    from playwright.sync_api import sync_playwright

    port = free_port()
    url = f"http://127.0.0.1:{port}"
    cmd = streamlit_command(port)
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)  # browser start not timed
        page = browser.new_page(viewport={"width": 1280, "height": 1600})
        t0 = time.perf_counter()
        proc = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            while True:
                try:
                    with urllib.request.urlopen(url + "/_stcore/health", timeout=1) as r:
                        if r.read().strip() == b"ok":
                            break
                except OSError:
                    time.sleep(0.05)
                if time.perf_counter() - t0 > 120:
                    raise SystemExit("streamlit did not start within 120 s")
            server = time.perf_counter() - t0
            page.goto(url, wait_until="domcontentloaded")
            page.get_by_text("Grade a work story").wait_for(timeout=120_000)
            cold = time.perf_counter() - t0
            time.sleep(pause)  # a person reading the page / writing the story
            box = page.get_by_role("textbox", name="Your story")
            clicks = []
            for i in range(runs + 1):
                text = f"{story}\nRun {i}."  # a different story each time, so the result is really new
                box.fill(text)
                box.press("Control+Enter")
                page.get_by_text(f"{len(text):,} / ").wait_for(timeout=30_000)
                t1 = time.perf_counter()
                page.get_by_role("button", name="Grade", exact=True).click()
                page.wait_for_function(
                    "(marker) => { const s = document.querySelector('div.story');"
                    " return s && s.innerText.includes(marker) && document.querySelector('.level-ladder [data-current]'); }",
                    arg=f"Run {i}.", timeout=180_000,
                )
                clicks.append(time.perf_counter() - t1)
        finally:
            proc.terminate()
            proc.wait(15)
            browser.close()
    return server, cold, clicks


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=3, help="warm grade clicks / CLI runs (default 3)")
    ap.add_argument("--story", type=Path, help="story file (default: a built-in English story)")
    ap.add_argument("--pause", type=float, default=0.0,
                    help="seconds between the page appearing and the first click (time spent writing; default 0)")
    args = ap.parse_args()
    if not CHROMIUM.exists():
        raise SystemExit(f"{CHROMIUM} is missing: apt-get install -y chromium fonts-noto-cjk")
    story = args.story.read_text(encoding="utf-8") if args.story else STORY
    env = dict(os.environ)
    env.setdefault("GRADER_DATA_DIR", tempfile.mkdtemp(prefix="grader-bench-"))
    env["STREAMLIT_BROWSER_GATHER_USAGE_STATS"] = "false"
    for name in ("OPENAI_API_KEY", "OPENAI_BASE_URL", "GRADER_ENGINE"):
        env.pop(name, None)
    print(f"GRADER_DATA_DIR={env['GRADER_DATA_DIR']}; building the index (not timed)…", flush=True)
    subprocess.run([sys.executable, "-m", "grader", "index"], env=env, cwd=REPO, check=True, capture_output=True)
    story_file = Path(env["GRADER_DATA_DIR"]) / "bench-story.txt"
    story_file.write_text(story, encoding="utf-8")

    cli = cli_latency(story_file, env, args.runs)
    server, cold, clicks = app_latency(story, env, args.runs, args.pause)
    cli_med = statistics.median(cli)
    first, warm = clicks[0], statistics.median(clicks[1:]) if len(clicks) > 1 else clicks[0]
    target = 1.5 * cli_med + 1.0
    print(f"story: {len(story)} characters; {os.cpu_count()} CPU cores")
    print(f"CLI `grader grade FILE` (fresh process, median of {len(cli)}): {cli_med:.2f} s  runs: "
          + ", ".join(f"{x:.2f}" for x in cli))
    print(f"app cold start to first page:            {cold:.2f} s  (server answering after {server:.2f} s)")
    print(f"app grade click to result, first click:  {first:.2f} s  (after a {args.pause:.0f} s pause; "
          "the engine and index load in the app process)")
    print(f"app grade click to result, warm median:  {warm:.2f} s  runs: " + ", ".join(f"{x:.2f}" for x in clicks[1:]))
    print(f"target 1.5 x CLI + 1 s = {target:.2f} s: first click {'within' if first <= target else 'OVER'}, "
          f"warm {'within' if warm <= target else 'OVER'}")


if __name__ == "__main__":
    main()
