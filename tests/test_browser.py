"""The one real browser test: `streamlit run app.py` on 127.0.0.1, headless Debian chromium via Playwright.

Pastes a story, clicks Grade, checks that the level ladder and an evidence highlight appear and
saves a screenshot (its path is printed); then checks that the story and a coach's name survive
going to the other page and back. Skipped with a reason when /usr/bin/chromium is missing
outside CI; in CI (CI=true) a missing browser fails the test instead.
"""

from __future__ import annotations

import os
import subprocess
import tempfile
import time
import urllib.request
from pathlib import Path

import pytest

from tests.browser_app import CHROMIUM, CHROMIUM_ARGS, REPO, free_port, streamlit_command
from tests.browser_app import STORY as PLAIN_STORY

pytestmark = [pytest.mark.browser, pytest.mark.slow]

STORY = PLAIN_STORY + " <script>alert('x')</script>"


def _need_chromium() -> None:
    if CHROMIUM.exists():
        return
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail("CI=true but /usr/bin/chromium is missing: .ci/run must `apt-get install -y chromium fonts-noto-cjk`")
    pytest.skip("/usr/bin/chromium is missing (apt-get install -y chromium fonts-noto-cjk); CI runs this test")


def _wait_healthy(url: str, proc: subprocess.Popen, log: Path, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"streamlit exited with {proc.returncode}:\n{log.read_text(errors='replace')[-3000:]}")
        try:
            with urllib.request.urlopen(url + "/_stcore/health", timeout=2) as r:
                if r.read().strip() == b"ok":
                    return
        except OSError:
            time.sleep(0.3)
    pytest.fail(f"streamlit did not answer within {timeout:.0f} s:\n{log.read_text(errors='replace')[-3000:]}")


@pytest.fixture()
def app_url(tmp_path, request):
    _need_chromium()  # before building the index: a skip should cost nothing
    grader_settings = request.getfixturevalue("grader_settings")
    port = free_port()
    log = tmp_path / "streamlit.log"
    env = {
        **os.environ,
        "GRADER_DATA_DIR": str(grader_settings.data_dir),
        "GRADER_CORPUS_DIR": str(grader_settings.corpus_dir),
        "STREAMLIT_BROWSER_GATHER_USAGE_STATS": "false",
    }
    with log.open("wb") as out:
        proc = subprocess.Popen(streamlit_command(port), cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_healthy(url, proc, log)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


def test_grade_in_a_real_browser(app_url) -> None:
    from playwright.sync_api import expect, sync_playwright

    shots = Path(tempfile.mkdtemp(prefix="grader-browser-"))
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 2600})
            page.goto(app_url, wait_until="domcontentloaded")
            page.get_by_text("Grade a work story").wait_for(timeout=60_000)
            box = page.get_by_role("textbox", name="Your story")
            box.fill(STORY)
            box.press("Control+Enter")  # commit the text area value (as leaving the box does)
            page.get_by_text(f"{len(STORY):,} / 20,000 characters").wait_for(timeout=30_000)
            page.get_by_role("button", name="Grade", exact=True).click()
            current = page.locator(".level-ladder [data-current='true']")
            current.wait_for(timeout=120_000)
            assert page.locator(".level-ladder .ladder-step").count() == 6
            level = current.get_attribute("data-level")
            assert level is not None and level.isdigit()
            marks = page.locator("div.story mark.evidence")
            marks.first.wait_for(timeout=10_000)
            assert marks.count() >= 1
            assert marks.first.inner_text().strip() in STORY
            story_box = page.locator("div.story")
            assert "<script>alert('x')</script>" in story_box.inner_text()  # shown as text, not run
            assert page.locator("div.story script").count() == 0
            # the indicator table (a canvas grid) draws after the story: wait for it before the shot
            page.locator('[data-testid="stDataFrame"]').first.wait_for(state="visible", timeout=10_000)
            page.wait_for_timeout(500)
            shot = shots / "grade-result.png"
            page.screenshot(path=str(shot), full_page=True)

            # inputs survive a visit to another page (st.navigation drops the values of a page left)
            page.get_by_role("link", name="Review").click()
            coach = page.get_by_label("Your name (coach, optional)")
            coach.fill("Coach Kim")
            coach.press("Enter")
            page.wait_for_timeout(1_000)
            page.get_by_role("link", name="Grade").click()
            page.get_by_text("Grade a work story").wait_for(timeout=30_000)
            # waited for, not read at once: on a loaded machine the page's first paint can come
            # before its widgets get their kept values
            expect(page.get_by_role("textbox", name="Your story")).to_have_value(STORY, timeout=30_000)
            page.get_by_role("link", name="Review").click()
            page.get_by_text("Coach review").first.wait_for(timeout=30_000)
            expect(page.get_by_label("Your name (coach, optional)")).to_have_value("Coach Kim", timeout=30_000)
        finally:
            browser.close()
    print(f"\nscreenshot: {shot}")
    assert shot.stat().st_size > 10_000
