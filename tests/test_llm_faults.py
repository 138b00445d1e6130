"""Transport faults through the real `openai` client against the local server: 429 with
Retry-After, 5xx, slow answers and timeouts, refused connections, rejected keys. Asserts the
number of requests, the retries counted in the Grade, and that the API key never leaks."""

from __future__ import annotations

import logging
import socket
import time
from pathlib import Path
from typing import Any

import pytest

from grader.config import Settings
from grader.engines.llm import LLMEngine
from grader.errors import ConfigError
from grader.llm_prompt import rubric_hits
from grader.rubric import load_rubric_file
from grader.types import Hit, Rubric
from llm_server import FakeLLMServer, Reply, answer, bad_request, ok, rate_limited, server_error, slow

REPO = Path(__file__).resolve().parents[1]
RUBRIC = load_rubric_file(REPO / "corpus" / "rubrics" / "customer-obsession.yaml")
IDS = [i.id for i in RUBRIC.indicators()]
KEY = "sk-proj-TOPSECRET-abcdef0123456789"
STORY = "I interviewed five customers every week and shipped the two changes they needed most."
QUOTE = "I interviewed five customers every week"


def retriever(story: str, rubric: Rubric, lang: str) -> list[Hit]:
    return rubric_hits(rubric, lang)


def good() -> dict[str, Any]:
    return answer(IDS, {"co.L2.2": ("met", [QUOTE])}, level=2)


@pytest.fixture
def settings(tmp_path: Path, srv: FakeLLMServer) -> Settings:
    return Settings(
        data_dir=tmp_path, corpus_dir=REPO / "corpus", openai_base_url=srv.url, openai_api_key=KEY,
        timeout=0.5, max_retries=2, concurrency=4,
    )


def grade(settings: Settings, **kw: Any) -> Any:
    return LLMEngine(settings, retriever=retriever, backoff=0.02, cache=False, **kw).grade(STORY, RUBRIC, language="en")


def test_429_honours_retry_after(srv: FakeLLMServer, settings: Settings) -> None:
    srv.script(rate_limited(retry_after=0.4), ok(good()))
    started = time.perf_counter()
    g = grade(settings)
    elapsed = time.perf_counter() - started
    assert srv.statuses == [429, 200] and g.level == 2
    assert g.usage.requests == 2 and g.usage.retries == 1
    assert elapsed >= 0.4  # waited as asked, although the backoff alone would be ~0.02 s


def test_429_honours_retry_after_ms(srv: FakeLLMServer, settings: Settings) -> None:
    srv.script(rate_limited(retry_after=300, header="retry-after-ms"), ok(good()))
    started = time.perf_counter()
    g = grade(settings)
    assert time.perf_counter() - started >= 0.3 and g.usage.retries == 1 and srv.count == 2


def test_429_without_header_uses_backoff(srv: FakeLLMServer, settings: Settings) -> None:
    srv.script(rate_limited(retry_after=None), rate_limited(retry_after=None), ok(good()))
    g = grade(settings)
    assert srv.count == 3 and g.usage.retries == 2 and g.status == "graded"


def test_500_then_ok(srv: FakeLLMServer, settings: Settings) -> None:
    srv.script(server_error(500), server_error(503), ok(good()))
    g = grade(settings)
    assert srv.statuses == [500, 503, 200] and g.level == 2 and g.usage.retries == 2


def test_persistent_500_fails_after_the_retry_limit(srv: FakeLLMServer, settings: Settings) -> None:
    srv.script(*[server_error(500)] * 3)
    g = grade(settings)
    assert srv.count == 3  # 1 + max_retries
    assert g.status == "failed" and g.level is None and "500" in (g.error or "") and "3 request" in (g.error or "")
    assert g.usage.requests == 3 and g.usage.retries == 2


def test_slow_answer_within_the_timeout_is_accepted(srv: FakeLLMServer, settings: Settings) -> None:
    srv.script(slow(0.3, ok(good())))
    g = grade(settings)
    assert g.level == 2 and srv.count == 1 and g.usage.retries == 0 and g.usage.latency_ms >= 300


def test_slow_answer_times_out_and_is_retried(srv: FakeLLMServer, settings: Settings) -> None:
    srv.script(slow(1.5, ok(good())), ok(good()))
    started = time.perf_counter()
    g = grade(settings)
    assert g.level == 2 and srv.count == 2 and g.usage.retries == 1
    assert time.perf_counter() - started < 1.4  # did not wait for the slow answer


def test_timeouts_are_bounded_in_count_and_time(srv: FakeLLMServer, settings: Settings) -> None:
    srv.script(*[slow(1.5)] * 3)
    started = time.perf_counter()
    g = grade(settings)
    elapsed = time.perf_counter() - started
    assert srv.count == 3 and g.status == "failed" and "no answer within 0.5 s" in (g.error or "")
    assert elapsed < 3 * 0.5 + 1.0


def test_retry_after_longer_than_the_limit_is_not_waited_for(srv: FakeLLMServer, settings: Settings) -> None:
    srv.script(rate_limited(retry_after=3600))
    started = time.perf_counter()
    g = grade(settings)
    assert srv.count == 1 and g.status == "failed" and "3600" in (g.error or "")
    assert time.perf_counter() - started < 1.0


def test_retry_time_budget(srv: FakeLLMServer, settings: Settings) -> None:
    # budget = timeout x (retries + 1) = 0.5 x 3 s: a 2 s Retry-After does not fit
    srv.script(rate_limited(retry_after=2))
    g = grade(settings)
    assert srv.count == 1 and g.status == "failed" and "budget" in (g.error or "")


def test_other_client_errors_are_not_retried(srv: FakeLLMServer, settings: Settings) -> None:
    srv.script(bad_request("This model's maximum context length is 8192 tokens"))
    g = grade(settings)
    assert srv.count == 1 and g.status == "failed" and "400" in (g.error or "") and "context length" in (g.error or "")


def test_connection_refused_is_retried_then_fails(tmp_path: Path) -> None:
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    s = Settings(data_dir=tmp_path, corpus_dir=REPO / "corpus", openai_base_url=f"http://127.0.0.1:{port}/v1",
                 openai_api_key=KEY, timeout=0.5, max_retries=1)
    g = grade(s)
    assert g.status == "failed" and "cannot connect" in (g.error or "") and g.usage.requests == 2 and g.usage.retries == 1


def test_rejected_key_is_a_config_error_without_the_key(srv: FakeLLMServer, settings: Settings, caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]) -> None:
    body = {"error": {"message": f"Incorrect API key provided: {KEY}. You can find your API key at ...", "type": "invalid_request_error"}}
    srv.script(Reply(401, body))
    caplog.set_level(logging.DEBUG)
    with pytest.raises(ConfigError) as err:
        grade(settings)
    assert srv.count == 1 and "OPENAI_API_KEY" in str(err.value) and KEY not in str(err.value)
    out = capsys.readouterr()
    assert KEY not in caplog.text and KEY not in out.out and KEY not in out.err


def test_the_key_never_reaches_a_grade(srv: FakeLLMServer, settings: Settings) -> None:
    leak = {"error": {"message": f"upstream failed for key {KEY} (Bearer {KEY})", "type": "server_error"}}
    srv.script(*[Reply(500, leak)] * 3)
    g = grade(settings)
    assert g.status == "failed" and "upstream failed" in (g.error or "")
    assert KEY not in g.model_dump_json() and "TOPSECRET" not in g.model_dump_json()
    assert KEY not in repr(settings)


def test_batch_with_faults_loses_no_story(srv: FakeLLMServer, settings: Settings) -> None:
    calls = {"n": 0}

    def flaky(body: dict[str, Any]) -> Reply:
        calls["n"] += 1
        if calls["n"] % 5 == 0:
            return rate_limited(0.05)
        if calls["n"] % 5 == 2:
            return server_error(502)
        return ok(good())

    srv.responder = flaky
    stories = [f"{STORY} ({i})" for i in range(10)]
    grades = LLMEngine(settings.with_(max_retries=4), retriever=retriever, backoff=0.02, cache=False).grade_many(
        stories, RUBRIC, languages=["en"] * 10
    )
    assert all(g.status == "graded" and g.level == 2 for g in grades)
    retries = sum(g.usage.retries for g in grades)
    assert retries > 0 and srv.count == 10 + retries


def test_a_sample_lost_to_server_errors_does_not_sink_the_others(srv: FakeLLMServer, settings: Settings) -> None:
    srv.responder = lambda body: server_error(500) if body["seed"] == 8 else ok(good())
    g = grade(settings, samples=2)
    assert srv.count == 1 + 3 and g.status == "graded" and g.level == 2
    assert g.samples and g.samples["valid"] == 1 and any("1 of 2 samples failed" in w for w in g.warnings)
    assert g.usage.retries == 2


def per_story_failures(fail_first: dict[str, int]) -> Any:
    """Fail the first k requests of each story whose text contains the key, then answer."""
    from llm_server import story_of

    seen: dict[str, int] = {}

    def reply(body: dict[str, Any]) -> Reply:
        story = story_of(body)
        tag = next((t for t in fail_first if t in story), None)
        if tag is not None:
            seen[tag] = seen.get(tag, 0) + 1
            if seen[tag] <= fail_first[tag]:
                return server_error(503)
        return ok(good())

    return reply


def test_story_outlasting_its_retries_gets_a_second_pass_at_the_end(srv: FakeLLMServer, settings: Settings) -> None:
    srv.responder = per_story_failures({"(3)": 3})  # 1 + max_retries(2) failures, then fine
    stories = [f"{STORY} ({i})" for i in range(8)]
    grades = LLMEngine(settings, retriever=retriever, backoff=0.02, cache=False).grade_many(stories, RUBRIC, languages=["en"] * 8)
    assert all(g.status == "graded" for g in grades) and srv.count == 8 + 3
    g3 = grades[3]
    assert g3.usage.requests == 4 and g3.usage.retries == 3
    assert any("second pass" in w for w in g3.warnings)


def test_no_second_pass_when_the_endpoint_is_down(srv: FakeLLMServer, settings: Settings) -> None:
    srv.responder = lambda body: server_error(503)
    grades = LLMEngine(settings, retriever=retriever, backoff=0.02, cache=False).grade_many(
        [f"{STORY} ({i})" for i in range(4)], RUBRIC, languages=["en"] * 4
    )
    assert all(g.status == "failed" and g.level is None for g in grades) and srv.count == 4 * 3
