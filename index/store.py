"""The Chroma store: index generations, each a stack of layers, and a pointer to the live one.

`storybot index` never edits a collection that readers are using. It writes a
new layer collection (a whole new base, or a small layer on top of the live
generation's: index/layers.py), then moves the pointer (the metadata of one
small collection, changed in one transaction) to the generation made of it,
then drops layers no reader can still be using. A reader resolves the pointer
on every query, so it sees either the old index or the new one, never a
half-built one.

A crash at any step leaves the pointer on a complete generation; what the
crashed build left (a collection, its segment folder, its BM25 files) belongs
to no live generation and is collected by the next `storybot index`.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import shutil
import signal
import sqlite3
import tempfile
import time
import uuid
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import chromadb
import httpx
from chromadb.api import ClientAPI
from chromadb.api.base_http_client import BaseHTTPClient
from chromadb.api.models.Collection import Collection
from chromadb.config import Settings as ChromaSettings
from chromadb.errors import ChromaError, NotFoundError

from index.errors import (
    IndexNotBuiltError,
    ServerUnavailable,
    StoreDamagedError,
    StoreMismatchError,
    StoreUnavailableError,
)
from index.layers import Catalog, LayerManifest, layer_names
from index.namespaces import Namespace
from index.settings import IndexSettings
from index.terms import TERM_STATS_FILE, TermStats

if TYPE_CHECKING:
    from index.shared import RedisBm25Shelf

log = logging.getLogger(__name__)

# The default namespace's names (index/namespaces.py), as stores had them before namespaces.
POINTER_NAME = Namespace().pointer
GENERATION_PREFIX = Namespace().generation_prefix
# Test hook: `storybot index` SIGKILLs itself at the named step (see crash_point).
CRASH_AT_VARIABLE = "STORYBOT_CRASH_AT"
# The steps of a build, in order: vectors computed, empty generation created, its
# vectors written, its BM25 files written, the pointer moved, old generations dropped.
CRASH_STEPS = ("embedded", "created", "written", "bm25", "switched", "dropped")
# Chunks read per request when a whole collection is read back.
PAGE_CHUNKS = 2_000
# A layer collection's metadata key: true when the indexer wrote its files (BM25,
# manifest, term statistics); layers of older versions do not have it.
LAYER_FILES = "has_files"


# What the operating system, SQLite and Chroma's Rust core say when storage fails,
# as errno values and as the words in their messages (Chroma wraps errno in text).
_STORAGE_ERRNOS = {
    errno.ENOSPC: "the disk is full",
    errno.EDQUOT: "the disk quota is used up",
    errno.EROFS: "it is on a read-only file system",
    errno.EACCES: "permission denied",
    errno.EPERM: "permission denied",
}
_STORAGE_MESSAGES = {
    "database or disk is full": "the disk is full",
    "no space left on device": "the disk is full",
    "os error 28": "the disk is full",
    "readonly database": "it is read-only",
    "read-only file system": "it is on a read-only file system",
    "os error 30": "it is on a read-only file system",
    "permission denied": "permission denied",
    "os error 13": "permission denied",
}


def storage_problem(error: BaseException) -> str | None:
    """Why the store's storage failed ("the disk is full"...), or None for any other error."""
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, OSError) and current.errno in _STORAGE_ERRNOS:
            return _STORAGE_ERRNOS[current.errno]
        # Only storage's own errors: an API's "permission denied" is not the disk's.
        if isinstance(current, (OSError, sqlite3.Error, ChromaError)):
            text = str(current).lower()
            for words, problem in _STORAGE_MESSAGES.items():
                if words in text:
                    return problem
        current = current.__cause__ or current.__context__
    return None


def crash_point(step: str) -> None:
    """Die here, as a power cut or `kill -9` would, when STORYBOT_CRASH_AT names this step.

    Only the fault tests set the variable: they check that a crash at every step
    of building and switching a generation leaves a store that readers can use
    and the next run repairs.
    """
    if os.environ.get(CRASH_AT_VARIABLE) == step:
        print(f"crashing at {step}", flush=True)
        os.kill(os.getpid(), signal.SIGKILL)


@dataclass(frozen=True)
class Generation:
    """One built index: its layers (collections, oldest first) and the model that embedded them."""

    layers: tuple[Collection, ...]
    embed_model: str
    dimension: int

    @property
    def name(self) -> str:
        """The newest layer's name: every re-index makes a new one."""
        return self.layers[-1].name

    @property
    def layer_names(self) -> list[str]:
        return [layer.name for layer in self.layers]


def connect(settings: IndexSettings) -> ClientAPI:
    """A Chroma client: a server when CHROMA_HOST is set, else files under the store folder."""
    chroma_settings = ChromaSettings(anonymized_telemetry=False)
    if settings.chroma_host:
        # chromadb 1.5's HttpClient waits for every reply without a time limit, the ones
        # it makes while it is built included: a server that hung, or a machine gone
        # without closing its connections, would hang the bot's answer with it.
        try:
            _answers_in_time(settings, chroma_settings)
            client = chromadb.HttpClient(
                host=settings.chroma_host, port=settings.chroma_port, settings=chroma_settings
            )
        except ValueError as error:  # chromadb's word for "no server there"
            raise chroma_unavailable(settings, error) from None
        _limit_replies(client, settings.chroma_timeout)
        return client
    settings.store_dir.mkdir(parents=True, exist_ok=True)
    return chromadb.PersistentClient(path=str(settings.store_dir), settings=chroma_settings)


def _answers_in_time(settings: IndexSettings, chroma_settings: ChromaSettings) -> None:
    """Raise ServerUnavailable unless the Chroma server's heartbeat replies in time; at
    the address chromadb's HttpClient would use (a host, or a URL such as https://...)."""
    api = BaseHTTPClient.resolve_url(
        chroma_server_host=str(settings.chroma_host),
        chroma_server_http_port=settings.chroma_port,
        default_api_path=chroma_settings.chroma_server_api_default_path,
    )
    verify = chroma_settings.chroma_server_ssl_verify
    try:
        httpx.get(
            f"{api}/heartbeat",
            timeout=settings.chroma_timeout,
            verify=True if verify is None else verify,
        )
    except (httpx.TransportError, httpx.InvalidURL) as error:
        raise chroma_unavailable(settings, error) from None


def _limit_replies(client: ClientAPI, seconds: float) -> None:
    """Give the client's HTTP session a time limit on connecting, sending and each read,
    which the readers and the indexer name as the server not answering."""
    session = getattr(getattr(client, "_server", None), "_session", None)
    if not isinstance(session, httpx.Client):
        # A chromadb that builds its client otherwise: tests/test_server_store.py fails.
        log.warning("cannot set a reply timeout on this chromadb's HTTP client")
        return
    session.timeout = httpx.Timeout(seconds)


def lock_path(settings: IndexSettings) -> Path:
    """The file that allows one `storybot index` at a time on a store."""
    settings.store_dir.mkdir(parents=True, exist_ok=True)
    return settings.store_dir / "index.lock"


def chroma_unavailable(settings: IndexSettings, error: BaseException) -> ServerUnavailable:
    if isinstance(error, httpx.TimeoutException):
        # A hung server, or one only slower than the limit.
        what = f"no reply within CHROMA_TIMEOUT={settings.chroma_timeout:g} s"
        advice = "restart it, or raise CHROMA_TIMEOUT if it is only slow"
    else:
        what, advice = str(error), "start it (`chroma run`), or correct the settings"
    return ServerUnavailable(
        f"the Chroma server at {settings.chroma_host}:{settings.chroma_port} "
        f"(CHROMA_HOST, CHROMA_PORT) does not answer ({what}); {advice}"
    )


def open_store(settings: IndexSettings, *, read_only: bool = False) -> StoryStore:
    """The store the settings name, in their namespace.

    Embedded, the BM25 files live under the store folder. On a Chroma server they
    live in Redis, and the store folder only caches the live generation's copy.

    Chroma writes to its database whenever it opens one, so a store on a full or
    read-only disk cannot be opened in place. A reader (`read_only`) then works
    on a private copy of it, which it cannot see re-indexed; a writer gets a
    StoreUnavailableError saying what is wrong.
    """
    namespace = Namespace(settings.namespace)
    if settings.chroma_host:
        from index.shared import RedisBm25Shelf, connect_redis, required_redis_url

        url = required_redis_url(settings.redis_url)
        shelf = RedisBm25Shelf(connect_redis(url), url, namespace)
        cache = settings.store_dir / "bm25-cache"
        return StoryStore(connect(settings), cache, namespace=namespace, bm25_shelf=shelf)
    local_dir = settings.store_dir
    try:
        return StoryStore(connect(settings), local_dir / "bm25", local_dir, namespace=namespace)
    except Exception as error:
        problem = storage_problem(error)
        if problem is None or not read_only:
            raise  # a writer's caller says what failed, and that the live index is unchanged
        return _open_copy(local_dir, problem, namespace)


def _open_copy(store_dir: Path, problem: str, namespace: Namespace) -> StoryStore:
    copy = tempfile.TemporaryDirectory(prefix="storybot-store-")
    try:
        shutil.copytree(store_dir, copy.name, dirs_exist_ok=True, ignore=_not_copied)
        client = chromadb.PersistentClient(
            path=copy.name, settings=ChromaSettings(anonymized_telemetry=False)
        )
    except Exception as error:
        copy.cleanup()
        raise StoreUnavailableError(
            f"cannot open the index store at {store_dir}: {problem}, and a copy of it "
            f"could not be made in {tempfile.gettempdir()} ({error})"
        ) from None
    log.warning(
        "the index store at %s cannot be opened in place (%s); reading a copy of it, "
        "so a re-index will not be seen until restart",
        store_dir,
        problem,
    )
    store = StoryStore(client, Path(copy.name) / "bm25", namespace=namespace)
    store.keep_alive = copy  # the copy is deleted when the store is
    return store


def _not_copied(folder: str, names: list[str]) -> list[str]:
    return [name for name in names if name == "index.lock"]


class StoryStore:
    """Generations of the story index in one Chroma database.

    Each generation may have a BM25 index in files beside it (`bm25_root/NAME`);
    they are switched and dropped with it.
    """

    def __init__(
        self,
        client: ClientAPI,
        bm25_root: Path | None = None,
        chroma_dir: Path | None = None,
        *,
        namespace: Namespace | None = None,
        bm25_shelf: RedisBm25Shelf | None = None,
    ):
        self.client = client
        self.bm25_root = bm25_root
        self.namespace = namespace or Namespace()
        # Where BM25 files are kept when `bm25_root` is only a local cache of them.
        self.bm25_shelf = bm25_shelf
        # The folder of a local Chroma database, whose segment folders collect_garbage tidies.
        self.chroma_dir = chroma_dir
        self.keep_alive: object = None
        # The last live generation seen. A generation's name, collection and model never
        # change, so while the pointer names it the collection need not be fetched again.
        self._last_live: Generation | None = None

    def bm25_dir(self, name: str) -> Path | None:
        """Where the BM25 index of generation `name` lives, if this store keeps one."""
        return self.bm25_root / name if self.bm25_root else None

    def publish_bm25(self, name: str) -> None:
        """Make generation `name`'s BM25 files reachable by every reader (before switching)."""
        folder = self.bm25_dir(name)
        if self.bm25_shelf is not None and folder is not None:
            self.bm25_shelf.put(name, folder)

    def local_bm25(self, name: str) -> Path | None:
        """A local folder with layer `name`'s files (BM25, manifest), fetched if need be;
        None if it has none."""
        folder = self.bm25_dir(name)
        if folder is None:
            return None
        if folder.is_dir():
            return folder
        if self.bm25_shelf is None or not self.bm25_shelf.get(name, folder):
            return None
        return folder

    def prune_cache(self, generation: Generation) -> None:
        """Forget cached copies of layers that `generation` no longer uses (server stores)."""
        if self.bm25_shelf is None or self.bm25_root is None or not self.bm25_root.is_dir():
            return
        keep = set(generation.layer_names)
        for old in self.bm25_root.iterdir():
            if old.name not in keep and self.namespace.owns(old.name):
                shutil.rmtree(old, ignore_errors=True)

    def catalog(self, generation: Generation) -> Catalog:
        """Which layer holds each live article of `generation` (index/layers.py).

        Raises StoreDamagedError when a layer's manifest is lost: read from its chunks
        instead, the articles removed above it would come back.
        """
        manifests = []
        for layer in generation.layers:
            folder = self.local_bm25(layer.name)
            manifest = LayerManifest.read(folder)
            if folder is None and written_with_files(layer):
                raise self.damaged(layer.name)
            if manifest is None:  # a layer written before manifests: read what it holds
                manifest = LayerManifest.from_metadatas(_all_metadatas(layer))
            manifests.append(manifest)
        return Catalog.fold(manifests)

    def damaged(self, name: str) -> StoreDamagedError:
        """The error for layer `name` whose files are gone, naming where they were."""
        if self.bm25_shelf is not None:
            from index.shared import describe

            where = (
                f"the Redis server at {describe(self.bm25_shelf.url)} (STORYBOT_REDIS_URL) "
                "no longer has them: it lost its data"
            )
        else:
            where = f"{self.bm25_dir(name)} is missing"
        return StoreDamagedError(
            f"the files of index layer {name} (its keyword index and list of articles) "
            f"are gone: {where}. Run `storybot index --rebuild` to build the index again"
        )

    def term_stats(self, layer: Collection) -> TermStats:
        """How many of the layer's chunks use each content term (index/terms.py)."""
        stats = self._stored_term_stats(layer.name)[1]
        if stats is None:  # a layer written before the indexer counted them: count its chunks
            log.info("layer %s has no term statistics: counting its chunks", layer.name)
            stats = TermStats(_all_documents(layer))
        return stats

    def _stored_term_stats(self, name: str) -> tuple[Path | None, TermStats | None]:
        """Layer `name`'s local folder and the term statistics saved for it, if any.

        A server store's cached copy may predate the statistics an indexer saved
        later (save_missing_term_stats): then they are fetched from Redis.
        """
        folder = self.local_bm25(name)
        stats = TermStats.read(folder)
        if stats is None and folder is not None and self._fetch_term_stats(name, folder):
            stats = TermStats.read(folder)
        return folder, stats

    def _fetch_term_stats(self, name: str, folder: Path) -> bool:
        """Copy layer `name`'s term statistics from Redis into its cached `folder`, if there."""
        data = self.bm25_shelf.get_file(name, TERM_STATS_FILE) if self.bm25_shelf else None
        if data is None:
            return False
        partial = folder / f"{TERM_STATS_FILE}.{uuid.uuid4().hex[:8]}.part"
        try:
            partial.write_bytes(data)
            os.replace(partial, folder / TERM_STATS_FILE)
        except OSError as error:
            log.warning("cannot cache the term statistics of layer %s: %s", name, error)
            partial.unlink(missing_ok=True)
            return False
        return True

    def save_missing_term_stats(self, layers: Sequence[Collection]) -> list[str]:
        """Count and save the term statistics of those of `layers` that have none.

        A layer written before the indexer stored them (or by another reading of
        terms) is otherwise counted by every bot at every start. Only an indexer,
        which holds the writer lock, calls this. Returns the layers' names.
        """
        saved = []
        for layer in layers:
            folder, stats = self._stored_term_stats(layer.name)
            if folder is None or stats is not None:
                continue
            # A warning, since the default level shows it: on a large store this takes a while.
            log.warning("layer %s has no stored term statistics: counting them once", layer.name)
            TermStats(_all_documents(layer)).write(folder)
            self.publish_bm25(layer.name)
            saved.append(layer.name)
        return saved

    def live(self) -> Generation | None:
        """The generation readers use now, or None before the first index."""
        try:
            pointer = self.client.get_collection(self.namespace.pointer, embedding_function=None)
        except NotFoundError:
            return None
        meta = pointer.metadata or {}
        name = meta.get("live")
        if not name:
            return None
        last = self._last_live
        if last is not None and last.name == name:
            return last
        known = {layer.name: layer for layer in last.layers} if last else {}
        layers = tuple(
            known.get(layer) or self.client.get_collection(layer, embedding_function=None)
            for layer in layer_names(meta, "live")
        )
        newest = layers[-1].metadata or {}
        self._last_live = Generation(layers, str(newest["embed_model"]), int(newest["dimension"]))
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

    def new_layer(self, embed_model: str, dimension: int) -> Collection:
        """An empty layer collection, invisible to readers until a generation with it is live."""
        stamp = f"{time.strftime('%Y%m%d%H%M%S')}_{uuid.uuid4().hex[:8]}"
        name = f"{self.namespace.generation_prefix}{stamp}"
        collection = self.client.create_collection(
            name,
            configuration={"hnsw": {"space": "cosine"}},
            metadata={
                "embed_model": embed_model,
                "dimension": dimension,
                "built_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
                # Its BM25 files and manifest are written before it goes live: a layer
                # without them later lost them, and was not written before manifests.
                LAYER_FILES: True,
            },
            embedding_function=None,
        )
        return collection

    def switch_to(self, generation: Generation) -> None:
        """Make `generation` live in one step, then drop layers nobody can be reading."""
        layers = " ".join(generation.layer_names)
        pointer = self.client.get_or_create_collection(
            self.namespace.pointer,
            metadata={"live": generation.name, "layers": layers},
            embedding_function=None,
        )
        meta = pointer.metadata or {}
        if meta.get("live") != generation.name:
            pointer.modify(
                metadata={
                    "live": generation.name,
                    "layers": layers,
                    "previous": meta.get("live") or "",
                    "previous_layers": " ".join(layer_names(meta, "live")),
                }
            )
        crash_point("switched")
        self.collect_garbage()

    def collect_garbage(self) -> None:
        """Drop every layer but the live and previous generations', and files no layer owns.

        The previous generation stays until the next switch, so a reader that
        resolved the pointer just before the switch can finish its query. Any
        other generation is superseded, or left by a build that died. Call it
        only while holding the index lock: a build under way owns files that are
        not yet live.
        """
        pointer = self._pointer()
        keep = set(layer_names(pointer, "live")) | set(layer_names(pointer, "previous"))
        names = self._generation_names()
        for name in names:
            if name not in keep:
                try:
                    self.drop(name)
                except Exception as error:  # the live generation is in place; retried next run
                    log.warning("could not drop old index generation %s: %s", name, error)
        crash_point("dropped")
        if self.bm25_root is not None and self.bm25_root.is_dir():
            for folder in self.bm25_root.iterdir():
                # Other namespaces' folders share the root; theirs are theirs to collect.
                if folder.name not in keep and self.namespace.owns(folder.name):
                    shutil.rmtree(folder, ignore_errors=True)
        if self.bm25_shelf is not None:  # files of builds killed before they could drop them
            for name in self.bm25_shelf.names() - keep:
                self.bm25_shelf.drop(name)
        for folder in self._orphan_segment_folders():
            shutil.rmtree(folder, ignore_errors=True)

    def _pointer(self) -> dict:
        try:
            pointer = self.client.get_collection(self.namespace.pointer, embedding_function=None)
        except NotFoundError:
            return {}
        return dict(pointer.metadata or {})

    def _orphan_segment_folders(self) -> list[Path]:
        """Chroma's per-segment folders whose segment is gone.

        Chroma deletes a collection's rows but leaves its vector segment's folder
        (named by the segment's UUID) on disk, and a build killed half-way leaves
        one too. Which segments exist is only recorded in Chroma's own SQLite
        file; if it cannot be read as expected, nothing is deleted.
        """
        if self.chroma_dir is None:
            return []
        database = self.chroma_dir / "chroma.sqlite3"
        try:
            with contextlib.closing(
                sqlite3.connect(f"file:{database}?mode=ro", uri=True)
            ) as connection:
                owned = {row[0] for row in connection.execute("SELECT id FROM segments")}
        except sqlite3.Error as error:
            log.warning("%s: left segment folders alone (%s)", database, error)
            return []
        orphans = []
        for folder in self.chroma_dir.iterdir():
            try:
                uuid.UUID(folder.name)
            except ValueError:
                continue
            if folder.is_dir() and not folder.is_symlink() and folder.name not in owned:
                orphans.append(folder)
        return orphans

    def drop(self, name: str) -> None:
        """Delete one generation collection (a failed or superseded build)."""
        with contextlib.suppress(NotFoundError):
            self.client.delete_collection(name)
        bm25_dir = self.bm25_dir(name)
        if bm25_dir is not None:
            shutil.rmtree(bm25_dir, ignore_errors=True)
        if self.bm25_shelf is not None:
            self.bm25_shelf.drop(name)

    def _generation_names(self) -> list[str]:
        return [c.name for c in self.client.list_collections() if self.namespace.owns(c.name)]


def _all_documents(collection: Collection) -> Iterator[str]:
    """Every chunk text of a collection, in pages (one response would be too large for a
    Chroma server at the size of years of news)."""
    for offset in range(0, collection.count(), PAGE_CHUNKS):
        page = collection.get(include=["documents"], limit=PAGE_CHUNKS, offset=offset)
        yield from page["documents"] or []


def written_with_files(layer: Collection) -> bool:
    """Whether the indexer wrote `layer`'s files (BM25, manifest): if they are not found,
    they were lost, not left unwritten by an older version."""
    return bool((layer.metadata or {}).get(LAYER_FILES))


def _all_metadatas(collection: Collection) -> Iterator[Mapping[str, object]]:
    """Every chunk's metadata, in pages (years of news are hundreds of thousands of chunks)."""
    for offset in range(0, collection.count(), PAGE_CHUNKS):
        page = collection.get(include=["metadatas"], limit=PAGE_CHUNKS, offset=offset)
        yield from page["metadatas"] or []
