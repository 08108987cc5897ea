"""Redis, the shared engine beside a Chroma server: the indexers' lease lock and the BM25 files.

With CHROMA_HOST, Chroma holds the vectors, the chunk texts, the live-generation
pointer and each generation's model. What Chroma cannot hold is kept in Redis
(STORYBOT_REDIS_URL):

- the BM25 index, term statistics and manifest of each layer: the very files
  written in embedded mode, so a bot on another machine searches the same
  keyword index, with the same results, as one beside the store. The local
  `chroma run` server has no keyword search to use instead: `collection.search`
  (sparse vectors, BM25) answers "Search operation is not implemented for local
  executor" (chromadb 1.5.9), and full-text `where_document` filters match but
  do not rank;
- the one-writer lock, a redis-py `Lock` whose lease is renewed while the
  indexer works, so a crashed indexer blocks the next one for one lease at most.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import socket
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import redis
from redis.exceptions import (
    LockError,
    LockNotOwnedError,
    OutOfMemoryError,
    ReadOnlyError,
    RedisError,
)

from index.errors import ConfigurationError, IndexBusyError, ServerUnavailable
from index.namespaces import Namespace

log = logging.getLogger(__name__)

# A crashed indexer holds the lock this long at most; a live one renews it three
# times per lease, so a pause of a third of it (a slow batch, GC) costs nothing.
LEASE_SECONDS = 60.0
# Redis strings stop at 512 MB; files are stored in parts well below that.
PART_BYTES = 32 * 1024 * 1024


# A full Redis (maxmemory with noeviction, as a deployment should have) or a replica
# refuses writes.
REDIS_REFUSES = (OutOfMemoryError, ReadOnlyError)
# What a Redis that cannot be used raises, each named with what to do about it: a
# closed port refuses the connection; a stopped server or a machine gone from the
# network lets it time out (redis-py's TimeoutError is no ConnectionError).
REDIS_UNUSABLE = (redis.ConnectionError, redis.TimeoutError, *REDIS_REFUSES)


def as_text(value: bytes | str) -> str:
    """A Redis reply as text (the client returns bytes unless told to decode)."""
    return value.decode() if isinstance(value, bytes) else value


def describe(url: str) -> str:
    """The URL without its password, for messages and logs."""
    parts = urlsplit(url)
    host = parts.hostname or "localhost"
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{host}{port}{parts.path}"


def unavailable(url: str, error: BaseException) -> ServerUnavailable:
    if isinstance(error, REDIS_REFUSES):
        return ServerUnavailable(
            f"the Redis server at {describe(url)} (STORYBOT_REDIS_URL) refuses writes "
            f"({type(error).__name__}: {error}); give it memory (maxmemory) or point the "
            "setting at its primary"
        )
    return ServerUnavailable(
        f"the Redis server at {describe(url)} (STORYBOT_REDIS_URL) does not answer "
        f"({type(error).__name__}: {error}); start it, or correct the setting"
    )


def connect_redis(url: str) -> redis.Redis:
    """A client for `url`; it connects on first use and reconnects after an outage."""
    try:
        return redis.Redis.from_url(
            url, socket_connect_timeout=5, socket_timeout=30, health_check_interval=30
        )
    except ValueError as error:
        raise ConfigurationError(f"STORYBOT_REDIS_URL {describe(url)!r}: {error}") from None


def required_redis_url(redis_url: str | None) -> str:
    """The Redis URL a store on a Chroma server cannot work without."""
    if not redis_url:
        raise ConfigurationError(
            "CHROMA_HOST is set but STORYBOT_REDIS_URL is not: a store on a Chroma server "
            "keeps its BM25 index and its indexers' lock in Redis, so that every machine "
            "sees them. Set STORYBOT_REDIS_URL=redis://HOST:6379/0"
        )
    return redis_url


class RedisBm25Shelf:
    """The BM25 files of each generation, stored in Redis and copied to a local folder to load.

    A generation's manifest (file name -> number of parts) is written after its
    parts, so a reader finds a complete set or none; the indexer writes it before
    the pointer moves to the generation, so a reader never finds none for a live one.
    """

    def __init__(self, client: redis.Redis, url: str, namespace: Namespace):
        self.client = client
        self.url = url
        self.prefix = f"{namespace.redis_prefix}bm25:"

    def _manifest(self, name: str) -> str:
        return f"{self.prefix}{name}"

    def _part(self, name: str, filename: str, number: int) -> str:
        return f"{self.prefix}{name}:{filename}:{number}"

    def put(self, name: str, folder: Path) -> None:
        """Upload every file of `folder` as generation `name`'s BM25 index."""
        manifest: dict[str, int] = {}
        try:
            for path in sorted(p for p in folder.iterdir() if p.is_file()):
                count = 0
                with path.open("rb") as file:
                    while chunk := file.read(PART_BYTES):
                        self.client.set(self._part(name, path.name, count), chunk)
                        count += 1
                manifest[path.name] = count
            self.client.hset(self._manifest(name), mapping=manifest)  # type: ignore[arg-type]
        except REDIS_UNUSABLE as error:
            raise unavailable(self.url, error) from None

    def get(self, name: str, folder: Path) -> bool:
        """Copy generation `name`'s files into `folder`; False if Redis has none for it."""
        try:
            manifest = self.client.hgetall(self._manifest(name))
            if not manifest:
                return False
            partial = folder.with_name(f"{folder.name}.{uuid.uuid4().hex[:8]}.part")
            partial.mkdir(parents=True)
            try:
                for raw_name, raw_count in manifest.items():
                    filename = as_text(raw_name)
                    with (partial / filename).open("wb") as file:
                        for number in range(int(raw_count)):
                            chunk = self.client.get(self._part(name, filename, number))
                            if chunk is None:  # dropped while we read: the generation is gone
                                return False
                            file.write(chunk if isinstance(chunk, bytes) else chunk.encode())
                # A rename, so a concurrent reader sees the folder whole or not at all.
                with contextlib.suppress(OSError):
                    partial.rename(folder)
                return folder.is_dir()
            finally:
                shutil.rmtree(partial, ignore_errors=True)
        except REDIS_UNUSABLE as error:
            raise unavailable(self.url, error) from None

    def get_file(self, name: str, filename: str) -> bytes | None:
        """One of generation `name`'s files; None if Redis does not have it (whole)."""
        try:
            count = self.client.hget(self._manifest(name), filename)
            if count is None:
                return None
            parts = [self.client.get(self._part(name, filename, n)) for n in range(int(count))]
        except REDIS_UNUSABLE as error:
            raise unavailable(self.url, error) from None
        if any(part is None for part in parts):
            return None  # dropped while we read
        return b"".join(p if isinstance(p, bytes) else str(p).encode() for p in parts)

    def drop(self, name: str) -> None:
        """Forget generation `name`'s files, the parts of an upload that never finished too."""
        try:
            manifest = self.client.hgetall(self._manifest(name))
            if manifest:
                parts = [
                    self._part(name, as_text(raw), number)
                    for raw, count in manifest.items()
                    for number in range(int(count))
                ]
            else:  # an upload that never finished: its parts are found by a (slower) scan
                pattern = f"{_glob_escaped(self._manifest(name))}:*"
                parts = list(self.client.scan_iter(match=pattern, count=1000))
            # The manifest first: readers stop finding the generation before its parts go.
            self.client.delete(self._manifest(name))
            if parts:
                self.client.delete(*parts)
        except REDIS_UNUSABLE as error:
            raise unavailable(self.url, error) from None

    def names(self) -> set[str]:
        """Generations with files here, whole or part-uploaded (to clean up after crashes)."""
        try:
            keys = (as_text(key) for key in self.client.scan_iter(match=f"{self.prefix}*"))
            # A part's key goes on with ":FILE:N" after the generation's name.
            return {key[len(self.prefix) :].split(":", 1)[0] for key in keys}
        except REDIS_UNUSABLE as error:
            raise unavailable(self.url, error) from None


def _glob_escaped(text: str) -> str:
    """`text` matched literally by a Redis SCAN pattern."""
    return "".join(f"\\{c}" if c in "*?[]\\" else c for c in text)


def holder_id() -> str:
    """Who holds a lock: enough for a maintainer to find the process."""
    return f"{socket.gethostname()} pid {os.getpid()} ({uuid.uuid4().hex[:8]})"


class LeaseLock:
    """One `storybot index` at a time per namespace, across machines: a renewed Redis lease.

    The lock's token is the holder's host and pid, so a refused indexer can say who
    is writing. If a renewal finds the lease lost (the indexer was paused past it
    and another took over), `check_held` fails before anything is switched.
    """

    def __init__(
        self, client: redis.Redis, url: str, namespace: Namespace, lease: float = LEASE_SECONDS
    ):
        self.client = client
        self.url = url
        self.namespace = namespace
        self.key = f"{namespace.redis_prefix}index-lock"
        self.lease = lease
        self._lock = client.lock(self.key, timeout=lease, thread_local=False)
        self._stop = threading.Event()
        self._lost = False
        self._renewer: threading.Thread | None = None

    def acquire(self, wait_seconds: float = 0) -> None:
        try:
            got = self._lock.acquire(
                blocking=wait_seconds > 0,
                blocking_timeout=wait_seconds or None,
                token=holder_id(),
            )
            if not got:
                holder = self.client.get(self.key)
                who = as_text(holder) if holder else "an indexer that just finished"
                raise IndexBusyError(
                    f"another `storybot index` ({who}) is writing to namespace "
                    f"{self.namespace.name!r} (lock {self.key} in Redis at {describe(self.url)}); "
                    f"try again when it has finished. A crashed indexer's lock expires within "
                    f"{self.lease:.0f} s."
                )
        except REDIS_UNUSABLE as error:
            raise unavailable(self.url, error) from None
        self._renewer = threading.Thread(target=self._renew, name="index-lock-lease", daemon=True)
        self._renewer.start()

    def _renew(self) -> None:
        while not self._stop.wait(self.lease / 3):
            try:
                self._lock.reacquire()
            except LockNotOwnedError:
                self._lost = True
                log.error("the index lock %s was lost: this run will not switch", self.key)
                return
            except RedisError as error:  # an outage shorter than the lease is survived
                log.warning("could not renew the index lock %s: %s", self.key, error)

    def check_held(self) -> None:
        """Fail unless this process still holds the lock (called before switching)."""
        try:
            owned = not self._lost and self._lock.owned()
        except REDIS_UNUSABLE as error:
            raise unavailable(self.url, error) from None
        if not owned:
            raise IndexBusyError(
                f"this `storybot index` lost its lock {self.key} (its lease of {self.lease:.0f} s "
                "ran out); the new generation was not switched in. Run it again."
            )

    def release(self) -> None:
        self._stop.set()
        if self._renewer is not None:
            self._renewer.join()
        with contextlib.suppress(LockError, RedisError):
            self._lock.release()


@contextlib.contextmanager
def lease_lock(
    client: redis.Redis, url: str, namespace: Namespace, wait_seconds: float
) -> Iterator[LeaseLock]:
    lock = LeaseLock(client, url, namespace)
    lock.acquire(wait_seconds)
    try:
        yield lock
    finally:
        lock.release()
