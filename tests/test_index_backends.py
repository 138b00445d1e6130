"""The index against a real Chroma server (GRADER_CHROMA_URL) and with OpenAI embeddings
served by a fake OpenAI-compatible endpoint on 127.0.0.1."""

import hashlib
import json
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest
import yaml

from grader.config import Settings
from grader.index import Index
from tests.rubric_factory import rubric_dict

REPO = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture()
def corpus(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    c = tmp_path / "corpus"
    (c / "rubrics").mkdir(parents=True)
    (c / "rubrics" / "customer-obsession.yaml").write_text(yaml.safe_dump(rubric_dict(), allow_unicode=True), encoding="utf-8")
    monkeypatch.setenv("GRADER_CORPUS_DIR", str(c))
    monkeypatch.setenv("GRADER_DATA_DIR", str(tmp_path / "data"))
    return c


@pytest.fixture()
def chroma_server(tmp_path: Path) -> Iterator[str]:
    exe = shutil.which("chroma") or str(Path(__import__("sys").executable).parent / "chroma")
    if not Path(exe).exists():
        pytest.fail("the chroma CLI (part of the chromadb package) is missing")
    port = free_port()
    proc = subprocess.Popen([exe, "run", "--path", str(tmp_path / "srv"), "--port", str(port), "--host", "127.0.0.1"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    deadline = time.time() + 30
    while time.time() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            break
        except OSError:
            time.sleep(0.2)
    yield url
    proc.terminate()
    proc.wait(timeout=10)


def test_index_on_a_chroma_server(corpus: Path, chroma_server: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GRADER_CHROMA_URL", chroma_server)
    settings = Settings.from_env()
    report = Index(settings).build()
    assert report.embedded == 2 * 22
    again = Index(settings).build()
    assert again.embedded == 0
    hits = Index(settings).search("indicator 2.2", k=3, kinds=["indicator"])
    assert hits and hits[0].kind == "indicator"
    assert not settings.chroma_dir.exists(), "server mode must not create the embedded store"


class FakeEmbeddings(BaseHTTPRequestHandler):
    calls: list[int] = []

    def do_POST(self) -> None:  # noqa: N802
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        inputs = body["input"] if isinstance(body["input"], list) else [body["input"]]
        FakeEmbeddings.calls.append(len(inputs))
        data = []
        for k, item in enumerate(inputs):
            text = item if isinstance(item, str) else json.dumps(item)
            seed = int(hashlib.sha256(text.encode()).hexdigest()[:8], 16)
            vec = np.random.default_rng(seed).normal(size=16)
            data.append({"object": "embedding", "index": k, "embedding": (vec / np.linalg.norm(vec)).tolist()})
        payload = json.dumps({"object": "list", "data": data, "model": body["model"], "usage": {"prompt_tokens": 1, "total_tokens": 1}}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, *args: object) -> None:
        pass


def test_openai_embeddings_option(corpus: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    server = ThreadingHTTPServer(("127.0.0.1", 0), FakeEmbeddings)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        monkeypatch.setenv("GRADER_EMBEDDINGS", "openai")
        monkeypatch.setenv("OPENAI_API_KEY", "sk-test-not-real")
        monkeypatch.setenv("OPENAI_BASE_URL", f"http://127.0.0.1:{server.server_port}/v1")
        settings = Settings.from_env()
        index = Index(settings)
        assert index.build().embedded == 44
        assert sum(FakeEmbeddings.calls) >= 44
        assert index.search("indicator 3.1", k=2)
        assert index.collection.metadata["embedding_model"] == "openai:text-embedding-3-small"
        with pytest.raises(Exception, match="built with embeddings 'openai:text-embedding-3-small'"):
            Index(settings.with_(embeddings="e5")).count()
    finally:
        server.shutdown()


def test_openai_embeddings_without_key_says_what_to_do(corpus: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GRADER_EMBEDDINGS", "openai")
    with pytest.raises(Exception, match="OPENAI_API_KEY is not set"):
        Index(Settings.from_env()).build()
