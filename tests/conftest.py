"""Shared fixtures: a temporary data dir with the corpus index built once per session."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from grader.config import Settings
from llm_server import FakeLLMServer

REPO = Path(__file__).resolve().parents[1]
SEEDS = REPO.parent / "shared" / "seeds"

# tests never talk to a real API, whatever the developer's shell has
for _name in ("OPENAI_API_KEY", "OPENAI_BASE_URL", "GRADER_CHROMA_URL", "GRADER_ENGINE", "GRADER_EMBEDDINGS", "GRADER_COACH_PASSCODE"):
    os.environ.pop(_name, None)


@pytest.fixture(scope="session")
def grader_data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("grader-data")


@pytest.fixture(scope="session")
def grader_settings(grader_data_dir: Path) -> Iterator[Settings]:
    """Settings with GRADER_DATA_DIR set to a session temp dir whose corpus index is built."""
    from grader.index import ensure_index

    mp = pytest.MonkeyPatch()
    mp.setenv("GRADER_DATA_DIR", str(grader_data_dir))
    mp.setenv("GRADER_CORPUS_DIR", str(REPO / "corpus"))
    settings = Settings.from_env()
    ensure_index(settings)
    yield settings
    mp.undo()


@pytest.fixture(scope="session")
def seeds_dir() -> Path:
    if not SEEDS.is_dir() or not any(SEEDS.glob("*.txt")):
        pytest.skip("../shared/seeds is absent: seed-article tests skipped")
    return SEEDS


@pytest.fixture(scope="module")
def server() -> Iterator[FakeLLMServer]:
    """A local OpenAI-compatible server (tests/llm_server.py), one per test module."""
    with FakeLLMServer() as s:
        yield s


@pytest.fixture
def srv(server: FakeLLMServer) -> Iterator[FakeLLMServer]:
    """The module's fake server, reset for one test; every scripted reply must be used."""
    server.reset()
    server.responder = None
    yield server
    assert not server.queue, "scripted replies left unused"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """The slow tests first: with `-n 2 --dist worksteal` (make test) one worker starts the
    five-minute retrain at once while the other takes everything else, instead of the retrain
    starting last and running alone."""
    items.sort(key=lambda item: item.get_closest_marker("slow") is None)
