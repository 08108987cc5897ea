"""Shared fixtures: an isolated environment, small corpora, real settings, the real model.

Everything here is real: Chroma stores live in pytest's tmp_path folders, the
embedding model is the local MiniLM, and settings are built with every field
that matters given explicitly so a developer's environment or `.env` cannot
change what a test sees.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import socket
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from constants import (
    ALLOTMENT_MD,
    CORPUS,
    ENV_PREFIXES,
    LIGHTHOUSE_ID,
    LIGHTHOUSE_TXT,
    REPO,
    STORY,
    STORY_ID,
)

from index.articles import load_corpus
from index.indexer import run_index
from index.settings import IndexSettings


def closed_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on (bound, then released)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A TCP port on 127.0.0.1 that takes connections and never answers, like a
    stopped server or a machine that is gone: clients wait until they time out."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(8)  # the kernel completes the handshakes; nothing accepts or replies
        yield sock.getsockname()[1]


_LOOPBACK = {"127.0.0.1", "::1", "localhost"}


def _loopback_only(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fail any in-process TCP connection to anywhere but the loopback interface."""
    real_connect, real_connect_ex = socket.socket.connect, socket.socket.connect_ex

    def check(sock: socket.socket, address: object) -> None:
        if sock.family in (socket.AF_INET, socket.AF_INET6):
            host = address[0] if isinstance(address, tuple) else address
            if host not in _LOOPBACK:
                raise AssertionError(f"test tried to connect to {address!r}")

    def connect(self: socket.socket, address: object) -> None:
        check(self, address)
        return real_connect(self, address)

    def connect_ex(self: socket.socket, address: object) -> int:
        check(self, address)
        return real_connect_ex(self, address)

    monkeypatch.setattr(socket.socket, "connect", connect)
    monkeypatch.setattr(socket.socket, "connect_ex", connect_ex)


@pytest.fixture(autouse=True)
def isolated_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """No STORYBOT_/OPENAI_/CHROMA_ variables or proxies, a cwd without a `.env`, no network."""
    for name in list(os.environ):
        if name.startswith(ENV_PREFIXES) or name.lower() in {
            "http_proxy",
            "https_proxy",
            "all_proxy",
        }:
            monkeypatch.delenv(name)
    monkeypatch.setenv("ANONYMIZED_TELEMETRY", "False")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    _loopback_only(monkeypatch)
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    monkeypatch.chdir(cwd)
    return cwd


def run_in_threads(work: Callable[[int], None], count: int) -> list[BaseException]:
    """`work(0)` ... `work(count - 1)` in threads at once; what they raised, none lost."""
    errors: list[BaseException] = []
    start = threading.Barrier(count)

    def run(worker: int) -> None:
        try:
            start.wait()
            work(worker)
        except BaseException as error:  # reported by the caller
            errors.append(error)

    workers = [threading.Thread(target=run, args=(w,)) for w in range(count)]
    for thread in workers:
        thread.start()
    for thread in workers:
        thread.join(timeout=60)
    assert not any(thread.is_alive() for thread in workers), "a thread is stuck"
    return errors


def make_settings(
    corpus_dir: Path,
    store_dir: Path,
    settings_class: type[IndexSettings] = IndexSettings,
    **overrides,
) -> IndexSettings:
    """Settings with every field that changes results given explicitly, and no `.env`.

    `settings_class` may be `BotSettings`, which adds the answering fields.
    """
    fields = {
        "corpus_dir": corpus_dir,
        "store_dir": store_dir,
        "embed_backend": "local",
        "embed_threads": 2,
        "chunk_size": 128,
        "chunk_overlap": 16,
        "chroma_host": None,
        "openai_api_key": None,
        "openai_base_url": None,
        "openai_embed_model": "text-embedding-3-small",
    }
    fields.update(overrides)
    return settings_class(_env_file=None, **fields)


def write_corpus(folder: Path) -> Path:
    """The real story plus two hand-written articles."""
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copy(STORY, folder / STORY_ID)
    (folder / "allotment.md").write_text(ALLOTMENT_MD, encoding="utf-8")
    (folder / LIGHTHOUSE_ID).write_text(LIGHTHOUSE_TXT, encoding="utf-8")
    return folder


@pytest.fixture
def corpus(tmp_path: Path) -> Path:
    return write_corpus(tmp_path / "corpus")


@pytest.fixture
def store_dir(tmp_path: Path) -> Path:
    return tmp_path / "store"


@pytest.fixture
def settings(corpus: Path, store_dir: Path) -> IndexSettings:
    return make_settings(corpus, store_dir)


@pytest.fixture
def settings_for(corpus: Path, store_dir: Path) -> Callable[..., IndexSettings]:
    """Settings on the same corpus and store with some fields changed."""

    def build(**overrides) -> IndexSettings:
        return make_settings(corpus, store_dir, **overrides)

    return build


@pytest.fixture(scope="session")
def embed_model():
    """The real local MiniLM model, loaded once for the whole session."""
    from index.embeddings import LocalMiniLMEmbedding

    return LocalMiniLMEmbedding()


@pytest.fixture(scope="session", autouse=True)
def word_table(embed_model) -> None:
    """The local model's table of word vectors, ready before any bot starts.

    A bot builds a missing one in the background; bots that tests stop within
    seconds would each start the half-minute build again.
    """
    embed_model.prepare_word_table(wait=True)


# ---------------------------------------------------------------- store helpers


def live_generation(settings: IndexSettings):
    from index.store import open_store

    return open_store(settings, read_only=True).live()


def generation_names(settings: IndexSettings) -> set[str]:
    from index.store import GENERATION_PREFIX, connect

    return {
        c.name for c in connect(settings).list_collections() if c.name.startswith(GENERATION_PREFIX)
    }


def pointer_metadata(settings: IndexSettings) -> dict:
    from index.store import POINTER_NAME, connect

    return dict(connect(settings).get_collection(POINTER_NAME).metadata or {})


def live_chunks(settings: IndexSettings) -> list[dict]:
    """Every chunk readers see in the live generation (each layer's live ones): id, text,
    metadata, node JSON, embedding."""
    from index.store import open_store

    store = open_store(settings, read_only=True)
    generation = store.live()
    assert generation is not None, "the store has no live generation"
    catalog = store.catalog(generation)
    chunks = []
    for position, layer in enumerate(generation.layers):
        rows = layer.get(include=["documents", "metadatas", "embeddings"])
        chunks.extend(
            {
                "id": id_,
                "text": text,
                "meta": meta,
                "node": json.loads(meta["_node_content"]),
                "embedding": list(embedding),
            }
            for id_, text, meta, embedding in zip(
                rows["ids"], rows["documents"], rows["metadatas"], rows["embeddings"], strict=True
            )
            if catalog.is_live(meta["doc_id"], position)
        )
    return chunks


def chunk_ids_by_doc(settings: IndexSettings) -> dict[str, set[str]]:
    ids: dict[str, set[str]] = {}
    for chunk in live_chunks(settings):
        ids.setdefault(chunk["meta"]["doc_id"], set()).add(chunk["id"])
    return ids


@pytest.fixture(scope="session")
def indexed_story(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The story (corpus/) indexed once per session: a store that tests only read."""
    root = tmp_path_factory.mktemp("indexed-story")
    with pytest.MonkeyPatch.context() as mp:
        for name in list(os.environ):
            if name.startswith(ENV_PREFIXES):
                mp.delenv(name)
        mp.chdir(root)  # no `.env` here
        settings = make_settings(CORPUS, root / "store")
        run_index(settings, load_corpus(settings.corpus_dir))
    return settings.store_dir


# ---------------------------------------------------------------- real servers


@pytest.fixture(scope="session")
def chroma(tmp_path_factory: pytest.TempPathFactory):
    """A real `chroma run` on a free loopback port, for the whole session."""
    from servers import chroma_server

    server = chroma_server(tmp_path_factory.mktemp("chroma-server") / "data").start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory):
    """A real `redis-server` on a free loopback port, for the whole session."""
    from servers import redis_server as make

    server = make(tmp_path_factory.mktemp("redis-server") / "data").start()
    yield server
    server.stop()


@pytest.fixture
def namespace(request: pytest.FixtureRequest) -> str:
    """A namespace of its own for each test, so tests sharing the servers never meet."""
    import re
    import uuid

    stem = re.sub(r"[^a-z0-9]+", "-", request.node.name.lower()).strip("-")[:40]
    return f"{stem}-{uuid.uuid4().hex[:6]}"


@pytest.fixture
def server_settings(chroma, redis_server, corpus: Path, tmp_path: Path, namespace: str):
    """Settings for a store on the Chroma server with Redis beside it; `folder` is this
    machine's own working folder (its BM25 cache), so two calls are two machines."""

    def build(folder: str = "machine-a", **overrides) -> IndexSettings:
        fields = {
            "chroma_host": "127.0.0.1",
            "chroma_port": chroma.port,
            "redis_url": f"redis://127.0.0.1:{redis_server.port}/0",
            "namespace": namespace,
        }
        fields.update(overrides)
        return make_settings(
            fields.pop("corpus_dir", corpus), tmp_path / folder / "store", **fields
        )

    return build


def load_script(name: str):
    """The module of scripts/NAME.py, imported as the scripts import each other: by name."""
    if str(REPO / "scripts") not in sys.path:
        sys.path.insert(0, str(REPO / "scripts"))
    spec = importlib.util.spec_from_file_location(name, REPO / "scripts" / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module
