"""Every setting, read from the environment in one place.

`Settings.from_env()` is cheap and has no side effects (no network, no disk writes), so
callers read it when they need it; tests change the environment with monkeypatch.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from pathlib import Path

from grader.errors import ConfigError

PACKAGE_DIR = Path(__file__).resolve().parent
REPO_DIR = PACKAGE_DIR.parent

# name -> (default, help). The README's configuration table mirrors this.
ENV_VARS: dict[str, tuple[str, str]] = {
    "GRADER_DATA_DIR": ("~/.local/share/reflection-grader", "Where the Chroma index, SQLite store and LLM cache live."),
    "GRADER_CORPUS_DIR": ("<repo>/corpus", "Rubrics (rubrics/*.yaml) and notes (notes/*.md) that `grader index` reads."),
    "GRADER_RUBRIC": ("customer-obsession", "Rubric id used when --rubric is not given."),
    "GRADER_ENGINE": ("local", "Default engine: local (offline) or llm."),
    "GRADER_MAX_CHARS": ("20000", "Longest story accepted, in characters."),
    "GRADER_EMBEDDINGS": ("e5", "Embedding model for the index: e5 (local multilingual-e5-small) or openai."),
    "GRADER_OPENAI_EMBEDDING_MODEL": ("text-embedding-3-small", "OpenAI embedding model when GRADER_EMBEDDINGS=openai."),
    "GRADER_CHROMA_URL": ("", "Use a Chroma server (e.g. http://localhost:8000) instead of the embedded store."),
    "GRADER_COLLECTION": ("grader", "Chroma collection name."),
    "OPENAI_API_KEY": ("", "Key for the llm engine / OpenAI embeddings (any OpenAI-compatible server)."),
    "OPENAI_BASE_URL": ("", "OpenAI-compatible endpoint (Azure OpenAI, vLLM, Ollama, llama.cpp ...)."),
    "GRADER_MODEL": ("gpt-4.1-mini", "Chat model for the llm engine."),
    "GRADER_TEMPERATURE": ("0", "Sampling temperature for the llm engine (raised automatically for --samples > 1)."),
    "GRADER_SEED": ("7", "Seed sent to the llm engine."),
    "GRADER_TIMEOUT": ("60", "Per-request timeout for the llm engine, seconds."),
    "GRADER_MAX_RETRIES": ("4", "Retries on 429/5xx/timeouts for the llm engine."),
    "GRADER_CONCURRENCY": ("8", "Concurrent llm requests in batch grading."),
    "GRADER_COACH_PASSCODE": ("", "When set, the Review page asks for it; when empty the app runs open (single-user)."),
}


def _env(name: str) -> str:
    value = os.environ.get(name)
    if value is None or value == "":
        default = ENV_VARS[name][0]
        return "" if default.startswith("<") else default
    return value


def _int(name: str, low: int, high: int) -> int:
    raw = _env(name)
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"{name}={raw!r} is not a whole number: set it to a value between {low} and {high}") from None
    if not low <= value <= high:
        raise ConfigError(f"{name}={value} is out of range: set it to a value between {low} and {high}")
    return value


def _float(name: str, low: float, high: float) -> float:
    raw = _env(name)
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(f"{name}={raw!r} is not a number: set it to a value between {low} and {high}") from None
    if not low <= value <= high:
        raise ConfigError(f"{name}={value} is out of range: set it to a value between {low} and {high}")
    return value


def _choice(name: str, choices: tuple[str, ...]) -> str:
    value = _env(name).strip().lower()
    if value not in choices:
        raise ConfigError(f"{name}={value!r} is not one of {', '.join(choices)}")
    return value


@dataclass(frozen=True)
class Settings:
    data_dir: Path
    corpus_dir: Path
    rubric: str = "customer-obsession"
    engine: str = "local"
    max_chars: int = 20000
    embeddings: str = "e5"
    openai_embedding_model: str = "text-embedding-3-small"
    chroma_url: str = ""
    collection: str = "grader"
    openai_api_key: str = field(default="", repr=False)
    openai_base_url: str = ""
    model: str = "gpt-4.1-mini"
    temperature: float = 0.0
    seed: int = 7
    timeout: float = 60.0
    max_retries: int = 4
    concurrency: int = 8
    coach_passcode: str = field(default="", repr=False)

    @classmethod
    def from_env(cls) -> "Settings":
        corpus = _env("GRADER_CORPUS_DIR")
        return cls(
            data_dir=Path(_env("GRADER_DATA_DIR")).expanduser(),
            corpus_dir=Path(corpus).expanduser() if corpus else REPO_DIR / "corpus",
            rubric=_env("GRADER_RUBRIC"),
            engine=_choice("GRADER_ENGINE", ("local", "llm")),
            max_chars=_int("GRADER_MAX_CHARS", 100, 1_000_000),
            embeddings=_choice("GRADER_EMBEDDINGS", ("e5", "openai")),
            openai_embedding_model=_env("GRADER_OPENAI_EMBEDDING_MODEL"),
            chroma_url=_env("GRADER_CHROMA_URL"),
            collection=_env("GRADER_COLLECTION"),
            openai_api_key=_env("OPENAI_API_KEY"),
            openai_base_url=_env("OPENAI_BASE_URL"),
            model=_env("GRADER_MODEL"),
            temperature=_float("GRADER_TEMPERATURE", 0.0, 2.0),
            seed=_int("GRADER_SEED", 0, 2**31 - 1),
            timeout=_float("GRADER_TIMEOUT", 0.1, 3600.0),
            max_retries=_int("GRADER_MAX_RETRIES", 0, 20),
            concurrency=_int("GRADER_CONCURRENCY", 1, 256),
            coach_passcode=_env("GRADER_COACH_PASSCODE"),
        )

    def with_(self, **changes: object) -> "Settings":
        return replace(self, **changes)  # type: ignore[arg-type]

    @property
    def rubrics_dir(self) -> Path:
        return self.corpus_dir / "rubrics"

    @property
    def notes_dir(self) -> Path:
        return self.corpus_dir / "notes"

    @property
    def chroma_dir(self) -> Path:
        return self.data_dir / "chroma"

    @property
    def store_path(self) -> Path:
        return self.data_dir / "grader.sqlite3"

    @property
    def cache_dir(self) -> Path:
        return self.data_dir / "llm-cache"

    def require_api_key(self) -> str:
        if not self.openai_api_key:
            raise ConfigError("OPENAI_API_KEY is not set: export it (or OPENAI_BASE_URL for a local server) or use --engine local")
        return self.openai_api_key
