"""A small OpenAI-compatible chat server on 127.0.0.1 for tests and bench/llm_throughput.py.

It implements POST /v1/chat/completions (and .../chat/completions under any prefix). Each
request takes the next scripted behaviour from a queue; when the queue is empty it asks the
`responder` (a function of the request body). Every request body and its headers are
recorded, so tests can assert how many requests were made and what was sent.

    with FakeLLMServer() as server:
        server.script(rate_limited(retry_after=0.1), ok({"indicators": [...], ...}))
        settings = settings.with_(openai_base_url=server.url)
"""

from __future__ import annotations

import json
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Reply:
    """What the server answers to one request."""

    status: int = 200
    body: Any = None  # dict -> JSON; str/bytes -> sent as is
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0  # seconds to sleep before answering
    usage: tuple[int, int] | None = (120, 80)  # (prompt_tokens, completion_tokens) or None to omit


Behaviour = Reply | Callable[[dict[str, Any]], Reply]


def completion(content: str | None, *, usage: tuple[int, int] | None = (120, 80), model: str = "fake-model", finish_reason: str = "stop", refusal: str | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": "chatcmpl-test",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": content, "refusal": refusal},
                "finish_reason": finish_reason,
            }
        ],
    }
    if usage is not None:
        body["usage"] = {"prompt_tokens": usage[0], "completion_tokens": usage[1], "total_tokens": sum(usage)}
    return body


def ok(answer: dict[str, Any] | str, *, delay: float = 0.0, usage: tuple[int, int] | None = (120, 80)) -> Reply:
    """A 200 answer whose message content is `answer` (a dict is sent as JSON text)."""
    content = answer if isinstance(answer, str) else json.dumps(answer, ensure_ascii=False)
    return Reply(200, completion(content, usage=usage), delay=delay, usage=usage)


def malformed(text: str = '{"indicators": [ {"id": "co.L2.1", "status": "met"', *, delay: float = 0.0) -> Reply:
    """A 200 answer whose content is not valid JSON."""
    return Reply(200, completion(text), delay=delay)


def rate_limited(retry_after: float | str | None = 0.05, *, header: str = "Retry-After") -> Reply:
    headers = {} if retry_after is None else {header: str(retry_after)}
    return Reply(429, {"error": {"message": "Rate limit reached", "type": "rate_limit_exceeded", "code": "rate_limit_exceeded"}}, headers)


def server_error(status: int = 500) -> Reply:
    return Reply(status, {"error": {"message": "The server had an error", "type": "server_error"}})


def bad_request(message: str) -> Reply:
    return Reply(400, {"error": {"message": message, "type": "invalid_request_error"}})


def slow(seconds: float, then: Reply | None = None) -> Reply:
    """An answer that arrives after `seconds` (use a longer delay than the client timeout to time out)."""
    reply = then or ok({})
    return Reply(reply.status, reply.body, reply.headers, delay=seconds, usage=reply.usage)


class FakeLLMServer:
    """Threaded HTTP server on 127.0.0.1:<random port>; use as a context manager."""

    def __init__(self, responder: Callable[[dict[str, Any]], Reply] | None = None) -> None:
        self.responder = responder
        self.queue: deque[Behaviour] = deque()
        self.requests: list[dict[str, Any]] = []
        self.headers: list[dict[str, str]] = []
        self.statuses: list[int] = []
        self.in_flight = 0
        self.max_in_flight = 0
        self.generation = 0  # bumped by reset(): late answers of a previous test are not recorded
        self._lock = threading.Lock()
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # ------------------------------------------------------------------ control

    def script(self, *behaviours: Behaviour) -> "FakeLLMServer":
        """Append behaviours; each request consumes one, in order."""
        with self._lock:
            self.queue.extend(behaviours)
        return self

    def reset(self) -> None:
        with self._lock:
            self.queue.clear()
            self.requests.clear()
            self.headers.clear()
            self.statuses.clear()
            self.max_in_flight = 0
            self.in_flight = 0
            self.generation += 1

    @property
    def count(self) -> int:
        with self._lock:
            return len(self.requests)

    @property
    def url(self) -> str:
        assert self._httpd is not None, "server not started"
        return f"http://127.0.0.1:{self._httpd.server_address[1]}/v1"

    def _next(self, body: dict[str, Any], headers: dict[str, str]) -> Reply:
        with self._lock:
            self.requests.append(body)
            self.headers.append(headers)
            behaviour = self.queue.popleft() if self.queue else None
        if behaviour is None:
            if self.responder is None:
                return server_error(599)  # unscripted request: loud failure
            return self.responder(body)
        return behaviour(body) if callable(behaviour) else behaviour

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> "FakeLLMServer":
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True  # headers and body go out in two writes: no 40 ms delayed-ACK stall

            def log_message(self, *args: Any) -> None:  # keep test output clean
                pass

            def do_POST(self) -> None:  # noqa: N802 - http.server API
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length)
                if not self.path.rstrip("/").endswith("/chat/completions"):
                    self._send(Reply(404, {"error": {"message": f"no route {self.path}"}}))
                    return
                try:
                    body = json.loads(raw or b"{}")
                except json.JSONDecodeError:
                    body = {"_raw": raw.decode("utf-8", "replace")}
                with server._lock:
                    generation = server.generation
                    server.in_flight += 1
                    server.max_in_flight = max(server.max_in_flight, server.in_flight)
                try:
                    reply = server._next(body, {k.lower(): v for k, v in self.headers.items()})
                    if reply.delay:
                        time.sleep(reply.delay)
                finally:
                    with server._lock:
                        server.in_flight -= 1 if generation == server.generation else 0
                with server._lock:
                    if generation == server.generation:
                        server.statuses.append(reply.status)
                self._send(reply)

            def _send(self, reply: Reply) -> None:
                if isinstance(reply.body, (dict, list)):
                    data = json.dumps(reply.body, ensure_ascii=False).encode("utf-8")
                    ctype = "application/json"
                elif isinstance(reply.body, bytes):
                    data, ctype = reply.body, "application/json"
                else:
                    data, ctype = str(reply.body or "").encode("utf-8"), "application/json"
                try:
                    self.send_response(reply.status)
                    self.send_header("Content-Type", ctype)
                    self.send_header("Content-Length", str(len(data)))
                    for k, v in reply.headers.items():
                        self.send_header(k, v)
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):  # the client timed out and left
                    pass

        class Server(ThreadingHTTPServer):
            daemon_threads = True
            request_queue_size = 128

            def handle_error(self, request: Any, client_address: Any) -> None:  # quiet on client disconnects
                pass

        self._httpd = Server(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None

    def __enter__(self) -> "FakeLLMServer":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def story_of(body: dict[str, Any]) -> str:
    """The escaped story block of a grading request (between the <story> tag lines of the user message)."""
    for m in body.get("messages", []):
        content = m.get("content") or ""
        if m.get("role") == "user" and isinstance(content, str) and "\n<story>\n" in content:
            return content.split("\n<story>\n", 1)[1].rsplit("\n</story>\n", 1)[0]
    return ""


def answer(
    indicator_ids: Iterable[str],
    marks: dict[str, tuple[str, list[str]]] | None = None,
    *,
    level: Any = None,
    citations: list[str] | None = None,
    feedback: dict[str, list[str]] | None = None,
) -> dict[str, Any]:
    """A grading answer judging every id: `marks` {id: (status, quotes)}, the rest no_evidence."""
    marks = marks or {}
    return {
        "indicators": [
            {"id": i, "status": marks.get(i, ("no_evidence", []))[0], "quotes": marks.get(i, ("no_evidence", []))[1], "note": ""}
            for i in indicator_ids
        ],
        "level": level,
        "citations": citations or [],
        "feedback": feedback
        or {"strengths": ["You acted on what customers said."], "gaps": ["Customers are not involved early."], "next_steps": ["Test ideas with customers first."]},
    }
