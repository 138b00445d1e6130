"""Transport of the llm engine: one chat call to any OpenAI-compatible endpoint, with retries.

The official `openai` client is used with `max_retries=0`; retries happen here so they can be
counted and bounded: exponential backoff with jitter on 429, 408/409, 5xx, connection errors
and timeouts, honouring Retry-After (and retry-after-ms), at most `settings.max_retries` retries,
each call bounded by `settings.timeout`, all attempts of one call by a time budget. The API key
never appears in an error message (see `redact`).
"""

from __future__ import annotations

import asyncio
import email.utils
import ipaddress
import random
import re
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlparse

from grader.config import Settings
from grader.errors import ConfigError, EngineError
from grader.llm_prompt import response_format

DEFAULT_BASE_URL = "https://api.openai.com/v1"
LOCAL_PLACEHOLDER_KEY = "sk-no-key-needed-local"
RETRYABLE = {408, 409, 429}
MAX_WAIT = 60.0  # a server asking to wait longer than this is not waited for

# USD per 1M tokens (input, output), list prices; the longest matching prefix of the model name wins.
PRICES: dict[str, tuple[float, float]] = {
    "gpt-4.1": (2.00, 8.00),
    "gpt-4.1-mini": (0.40, 1.60),
    "gpt-4.1-nano": (0.10, 0.40),
    "gpt-4o": (2.50, 10.00),
    "gpt-4o-mini": (0.15, 0.60),
    "gpt-5": (1.25, 10.00),
    "gpt-5-mini": (0.25, 2.00),
    "gpt-5-nano": (0.05, 0.40),
    "o3": (2.00, 8.00),
    "o4-mini": (1.10, 4.40),
}


class RetriesExhausted(EngineError):
    """Transient endpoint errors (429, 5xx, timeouts, connection) outlasted the retries."""


def is_local_url(url: str) -> bool:
    """True for endpoints on this machine or a private network (Ollama, vLLM, llama.cpp ...)."""
    host = (urlparse(url).hostname or "").lower()
    if not host:
        return False
    if host in ("localhost", "host.docker.internal") or host.endswith(".local") or host.endswith(".localhost"):
        return True
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        return False
    return ip.is_loopback or ip.is_private or ip.is_unspecified


def api_key_for(settings: Settings) -> str:
    """The key to send: OPENAI_API_KEY, or a placeholder for a local server; else ConfigError."""
    if settings.openai_api_key:
        return settings.openai_api_key
    if settings.openai_base_url and is_local_url(settings.openai_base_url):
        return LOCAL_PLACEHOLDER_KEY
    return settings.require_api_key()


def public_url(url: str) -> str:
    """The endpoint without user:password or query (safe to show)."""
    p = urlparse(url or DEFAULT_BASE_URL)
    host = p.hostname or ""
    return f"{p.scheme}://{host}{':' + str(p.port) if p.port else ''}{p.path}".rstrip("/")


def cost_usd(model: str, base_url: str, input_tokens: int, output_tokens: int) -> float | None:
    """Estimated cost from the price table; 0 for unknown models on a local server, else None (unknown)."""
    name = model.lower().rsplit("/", 1)[-1]
    match = max((p for p in PRICES if name == p or name.startswith(p + "-")), key=len, default=None)
    if match is None:
        return 0.0 if base_url and is_local_url(base_url) else None
    p_in, p_out = PRICES[match]
    return round((input_tokens * p_in + output_tokens * p_out) / 1_000_000, 6)


_KEYLIKE = re.compile(r"\b(?:sk|rk|pk)-[A-Za-z0-9_\-*]{6,}|(?i:bearer)\s+\S+")


def redact(text: str, key: str = "") -> str:
    """Remove the API key (and anything shaped like one) from a message."""
    if key and len(key) >= 4:
        text = text.replace(key, "***")
    return _KEYLIKE.sub("***", text)


def retry_after(headers: Any) -> float | None:
    """Seconds the server asks to wait (retry-after-ms, Retry-After seconds or HTTP date), or None."""
    if headers is None:
        return None
    for name, scale in (("retry-after-ms", 1000.0), ("retry-after", 1.0)):
        raw = headers.get(name)
        if raw is None:
            continue
        try:
            value = float(raw) / scale
        except ValueError:
            parsed = email.utils.parsedate_tz(raw) if scale == 1.0 else None
            if parsed is None:
                continue
            value = email.utils.mktime_tz(parsed) - time.time()
        if value == value and value >= 0:  # not NaN
            return min(value, 1e6)
        return 0.0
    return None


@dataclass
class CallStats:
    """Counts over all requests made for one story (retries and repairs included)."""

    requests: int = 0
    retries: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    estimated_tokens: bool = False


@dataclass
class ChatReply:
    content: str | None
    finish_reason: str | None
    refusal: str | None


@dataclass
class Capabilities:
    """What the endpoint supports, learnt on first use (shared across calls of one engine)."""

    json_schema: bool | None = None


def _schema_unsupported(exc: Exception) -> bool:
    text = str(exc).lower()
    return any(w in text for w in ("response_format", "json_schema", "schema", "structured output", "not supported"))


class ChatClient:
    """An AsyncOpenAI client for one event loop, with a request concurrency limit."""

    def __init__(
        self,
        settings: Settings,
        *,
        api_key: str,
        capabilities: Capabilities | None = None,
        backoff: float = 0.5,
        max_backoff: float = 20.0,
        budget: float | None = None,
        rng: random.Random | None = None,
    ) -> None:
        self.settings = settings
        self._key = api_key
        self.caps = capabilities or Capabilities()
        self.backoff = backoff
        self.max_backoff = max_backoff
        self.budget = budget if budget is not None else settings.timeout * (settings.max_retries + 1)
        self.rng = rng or random.Random()
        self._client: Any = None
        self._sem: asyncio.Semaphore | None = None

    async def __aenter__(self) -> "ChatClient":
        import openai

        self._client = openai.AsyncOpenAI(
            api_key=self._key,
            base_url=self.settings.openai_base_url or DEFAULT_BASE_URL,
            max_retries=0,
            timeout=self.settings.timeout,
        )
        self._sem = asyncio.Semaphore(self.settings.concurrency)
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._client is not None:
            await self._client.close()
            self._client = None

    def _delay(self, attempt: int, asked: float | None) -> float:
        if asked is not None:  # honour Retry-After, plus a little jitter so callers do not return together
            return asked + self.rng.uniform(0.0, min(0.1 * asked, 0.25))
        return min(self.max_backoff, self.backoff * 2**attempt) * self.rng.uniform(0.5, 1.0)

    async def complete(
        self, messages: list[dict[str, str]], *, schema: dict[str, Any] | None, temperature: float, seed: int, stats: CallStats
    ) -> ChatReply:
        """One chat completion; raises EngineError (or ConfigError for key/model problems) when it gives up."""
        import openai

        assert self._client is not None and self._sem is not None, "use ChatClient as an async context manager"
        s = self.settings
        deadline = time.monotonic() + self.budget
        attempt = 0
        while True:
            use_schema = schema is not None and self.caps.json_schema is not False
            kwargs: dict[str, Any] = {"model": s.model, "messages": messages, "temperature": temperature, "seed": seed}
            if use_schema:
                kwargs["response_format"] = response_format(schema)  # type: ignore[arg-type]
            asked: float | None = None
            stats.requests += 1
            try:
                async with self._sem:
                    resp = await asyncio.wait_for(self._client.chat.completions.create(**kwargs), timeout=s.timeout)
                if use_schema:
                    self.caps.json_schema = True
                return self._reply(resp, messages, stats)
            except (asyncio.TimeoutError, openai.APITimeoutError):
                reason = f"no answer within {s.timeout:g} s (GRADER_TIMEOUT)"
            except openai.APIConnectionError as exc:
                reason = f"cannot connect to {public_url(s.openai_base_url)}: {redact(str(exc), self._key)}"
            except (openai.AuthenticationError, openai.PermissionDeniedError) as exc:
                raise ConfigError(
                    f"{public_url(s.openai_base_url)} rejected the API key ({exc.status_code}): check OPENAI_API_KEY or use --engine local"
                ) from None
            except openai.NotFoundError:
                raise ConfigError(
                    f"{public_url(s.openai_base_url)} answered 404 for model {s.model!r}: check GRADER_MODEL and OPENAI_BASE_URL"
                ) from None
            except openai.APIStatusError as exc:
                code = exc.status_code
                if use_schema and code in (400, 422) and _schema_unsupported(exc):
                    self.caps.json_schema = False  # ask again with plain JSON instructions (not a retry)
                    continue
                if code not in RETRYABLE and code < 500:
                    raise EngineError(f"the endpoint refused the request ({code}): {redact(_message(exc), self._key)}") from None
                reason = f"the endpoint answered {code}: {redact(_message(exc), self._key)}"
                asked = retry_after(exc.response.headers)
            except openai.APIError as exc:  # e.g. a 200 whose body is not a chat completion
                raise EngineError(f"unexpected answer from the endpoint: {redact(str(exc), self._key)}") from None
            if attempt >= s.max_retries:
                raise RetriesExhausted(f"gave up after {stats.requests} request(s): {reason}")
            delay = self._delay(attempt, asked)
            if asked is not None and asked > MAX_WAIT:
                raise RetriesExhausted(f"{reason}; the server asks to wait {asked:.0f} s, longer than {MAX_WAIT:.0f} s")
            if time.monotonic() + delay > deadline:
                raise RetriesExhausted(f"gave up after {stats.requests} request(s), retry time budget of {self.budget:g} s spent: {reason}")
            attempt += 1
            stats.retries += 1
            await asyncio.sleep(delay)

    @staticmethod
    def _reply(resp: Any, messages: list[dict[str, str]], stats: CallStats) -> ChatReply:
        if not getattr(resp, "choices", None):
            raise EngineError("the endpoint's answer has no choices")
        choice = resp.choices[0]
        msg = choice.message
        content = msg.content if isinstance(msg.content, str) else None
        usage = getattr(resp, "usage", None)
        if usage is not None and usage.prompt_tokens is not None:
            stats.input_tokens += int(usage.prompt_tokens or 0)
            stats.output_tokens += int(usage.completion_tokens or 0)
        else:  # server did not report usage: estimate (about 4 characters per token)
            stats.estimated_tokens = True
            stats.input_tokens += sum(len(m.get("content") or "") for m in messages) // 4
            stats.output_tokens += len(content or "") // 4
        return ChatReply(content=content, finish_reason=choice.finish_reason, refusal=getattr(msg, "refusal", None))


def _message(exc: Any) -> str:
    body = getattr(exc, "body", None)
    if isinstance(body, dict):
        err = body.get("error", body)
        if isinstance(err, dict) and isinstance(err.get("message"), str):
            return err["message"][:300]
    return str(getattr(exc, "message", exc))[:300]
