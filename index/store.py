"""The Chroma store: one collection per index generation plus a pointer to the live one.

`storybot index` never edits the collection that readers are using. It builds
a new generation collection, then moves the pointer (the metadata of one small
collection, changed in one transaction), then drops generations no reader can
still be using. A reader resolves the pointer on every query, so it sees
either the old index or the new one, never a half-built one.
"""

from __future__ import annotations

import contextlib
import shutil
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import chromadb
from chromadb.api import ClientAPI
from chromadb.api.models.Collection import Collection
from chromadb.config import Settings as ChromaSettings
from chromadb.errors import NotFoundError

from index.errors import IndexNotBuiltError, StoreMismatchError
from index.settings import IndexSettings

POINTER_NAME = "storybot_pointer"
GENERATION_PREFIX = "storybot_gen_"


@dataclass(frozen=True)
class Generation:
    """One built index: its collection and the embedding model that built it."""

    collection: Collection
    embed_model: str
    dimension: int

    @property
    def name(self) -> str:
        return self.collection.name


def connect(settings: IndexSettings) -> ClientAPI:
    """A Chroma client: a server when CHROMA_HOST is set, else files under the store folder."""
    chroma_settings = ChromaSettings(anonymized_telemetry=False)
    if settings.chroma_host:
        return chromadb.HttpClient(
            host=settings.chroma_host, port=settings.chroma_port, settings=chroma_settings
        )
    settings.store_dir.mkdir(parents=True, exist_ok=True)
    return chromadb.PersistentClient(path=str(settings.store_dir), settings=chroma_settings)


def lock_path(settings: IndexSettings) -> Path:
    """The file that allows one `storybot index` at a time on a store."""
    settings.store_dir.mkdir(parents=True, exist_ok=True)
    return settings.store_dir / "index.lock"


def open_store(settings: IndexSettings) -> StoryStore:
    """The store the settings name, with its BM25 files under the store folder."""
    return StoryStore(connect(settings), settings.store_dir / "bm25")


class StoryStore:
    """Generations of the story index in one Chroma database.

    Each generation may have a BM25 index in files beside it (`bm25_root/NAME`);
    they are switched and dropped with it.
    """

    def __init__(self, client: ClientAPI, bm25_root: Path | None = None):
        self.client = client
        self.bm25_root = bm25_root
        # The last live generation seen. A generation's name, collection and model never
        # change, so while the pointer names it the collection need not be fetched again.
        self._last_live: Generation | None = None

    def bm25_dir(self, name: str) -> Path | None:
        """Where the BM25 index of generation `name` lives, if this store keeps one."""
        return self.bm25_root / name if self.bm25_root else None

    def live(self) -> Generation | None:
        """The generation readers use now, or None before the first index."""
        try:
            pointer = self.client.get_collection(POINTER_NAME, embedding_function=None)
        except NotFoundError:
            return None
        name = (pointer.metadata or {}).get("live")
        if not name:
            return None
        last = self._last_live
        if last is not None and last.name == name:
            return last
        collection = self.client.get_collection(name, embedding_function=None)
        meta = collection.metadata or {}
        self._last_live = Generation(collection, str(meta["embed_model"]), int(meta["dimension"]))
        return self._last_live

    def live_for(self, embed_model: str) -> Generation:
        """The live generation, checked against the model that will embed queries."""
        generation = self.live()
        if generation is None:
            raise IndexNotBuiltError("the store is empty: run `storybot index` first")
        if generation.embed_model != embed_model:
            raise StoreMismatchError(
                f"the index was built with {generation.embed_model} but {embed_model} is "
                "configured; run `storybot index --rebuild` to re-embed the corpus"
            )
        return generation

    def new_generation(self, embed_model: str, dimension: int) -> Generation:
        """An empty collection for a new index, invisible to readers until `switch_to`."""
        name = f"{GENERATION_PREFIX}{time.strftime('%Y%m%d%H%M%S')}_{uuid.uuid4().hex[:8]}"
        collection = self.client.create_collection(
            name,
            configuration={"hnsw": {"space": "cosine"}},
            metadata={
                "embed_model": embed_model,
                "dimension": dimension,
                "built_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            },
            embedding_function=None,
        )
        return Generation(collection, embed_model, dimension)

    def switch_to(self, generation: Generation) -> None:
        """Make `generation` live in one step, then drop generations nobody can be reading."""
        pointer = self.client.get_or_create_collection(
            POINTER_NAME, metadata={"live": generation.name}, embedding_function=None
        )
        previous = (pointer.metadata or {}).get("live")
        if previous != generation.name:
            pointer.modify(metadata={"live": generation.name, "previous": previous or ""})
        # The previous generation stays until the next switch, so a reader that
        # resolved the pointer just before this one can finish its query. Any
        # other generation is superseded, or left by a build that died.
        keep = {generation.name, previous}
        for name in self._generation_names():
            if name not in keep:
                self.drop(name)

    def drop(self, name: str) -> None:
        """Delete one generation collection (a failed or superseded build)."""
        with contextlib.suppress(NotFoundError):
            self.client.delete_collection(name)
        bm25_dir = self.bm25_dir(name)
        if bm25_dir is not None:
            shutil.rmtree(bm25_dir, ignore_errors=True)

    def _generation_names(self) -> list[str]:
        return [
            c.name for c in self.client.list_collections() if c.name.startswith(GENERATION_PREFIX)
        ]
