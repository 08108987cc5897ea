"""Re-indexing: compare the corpus with the live index, embed what changed, switch in one step.

Which articles changed is told by a content hash that every chunk carries in
its Chroma metadata, and that each layer's manifest lists (index/layers.py).
Keeping the hashes in the generation itself (rather than in a separate
docstore) means they can never disagree with the vectors: they are switched,
and dropped, together.

What changed goes into a new layer on top of the live generation's, so adding
one article to years of news embeds and writes that article only. A generation
that already has MAX_LAYERS layers folds its upper layers into the new one;
when the upper layers outgrow the base, or the base is mostly dead chunks,
everything is copied into a new base.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field

import httpx
from chromadb.api.models.Collection import Collection
from filelock import FileLock, Timeout
from llama_index.core.base.embeddings.base import BaseEmbedding
from llama_index.core.ingestion import IngestionPipeline
from llama_index.core.schema import BaseNode

from index.articles import Article
from index.chunking import article_documents, check_titles, make_splitter
from index.embeddings import build_embed_model, embed_model_id
from index.errors import (
    IndexBusyError,
    StoreDamagedError,
    StoreMismatchError,
    StoreUnavailableError,
)
from index.layers import Catalog
from index.namespaces import Namespace
from index.settings import IndexSettings
from index.store import (
    Generation,
    StoryStore,
    chroma_unavailable,
    crash_point,
    lock_path,
    open_store,
    storage_problem,
)
from index.streaming import LayerFiles, Progress, copy_articles, embed_into

# Chunks embedded between two progress reports: a few seconds of work.
PROGRESS_STEP = 256
# Layers a generation may have: each costs every query one more search per retriever.
MAX_LAYERS = 4

log = logging.getLogger(__name__)


@dataclass
class IndexPlan:
    """What a re-index would do, article by article."""

    added: list[Article] = field(default_factory=list)
    updated: list[Article] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    unchanged: list[Article] = field(default_factory=list)
    rebuild: bool = False

    @property
    def to_embed(self) -> list[Article]:
        """Articles whose chunks must be (re)computed."""
        if self.rebuild:
            return self.added + self.updated + self.unchanged
        return self.added + self.updated

    @property
    def to_copy(self) -> list[Article]:
        """Articles whose chunks and vectors are carried over from the live generation
        (left in their layer, or copied into the new one)."""
        return [] if self.rebuild else self.unchanged

    @property
    def has_work(self) -> bool:
        return self.rebuild or bool(self.added or self.updated or self.removed)

    def summary(self) -> str:
        return (
            f"{len(self.added)} added, {len(self.updated)} updated, "
            f"{len(self.removed)} removed, {len(self.unchanged)} unchanged"
        )


@dataclass
class IndexReport:
    plan: IndexPlan
    chunks: int
    seconds: float
    generation: str | None

    def summary(self) -> str:
        return f"{self.plan.summary()}; {self.chunks} chunks; {self.seconds:.1f} s"


def plan_changes(
    articles: Sequence[Article], indexed: dict[str, str], rebuild: bool = False
) -> IndexPlan:
    """Sort the corpus into added, updated, unchanged; and what the index has that it lacks."""
    plan = IndexPlan(rebuild=rebuild)
    for article in articles:
        known = indexed.get(article.doc_id)
        if known is None:
            plan.added.append(article)
        elif known != article.content_hash:
            plan.updated.append(article)
        else:
            plan.unchanged.append(article)
    present = {a.doc_id for a in articles}
    plan.removed = sorted(doc_id for doc_id in indexed if doc_id not in present)
    return plan


def preview(settings: IndexSettings, articles: Sequence[Article], rebuild: bool) -> IndexPlan:
    """The plan for a dry run; writes nothing, not even an empty store."""
    check_titles(articles, settings.chunk_size)
    if not settings.chroma_host and not settings.store_dir.exists():
        return plan_changes(articles, {}, rebuild)
    store = open_store(settings, read_only=True)
    live = store.live()
    if live is None:
        return plan_changes(articles, {}, rebuild)
    if not rebuild:
        _check_model(live, embed_model_id(settings))
    return plan_changes(articles, _live_catalog(store, live, rebuild).hashes(), rebuild)


def run_index(
    settings: IndexSettings,
    articles: Sequence[Article],
    *,
    rebuild: bool = False,
    progress: Progress | None = None,
    wait_seconds: float = 0,
) -> IndexReport:
    """Bring the store up to date with `articles`; one writer at a time.

    Raises CorpusError for an article that cannot be chunked (before anything is
    written), StoreUnavailableError when the store's disk refuses writes, and
    ServerUnavailable when the Chroma server or Redis stops answering.
    """
    started = time.perf_counter()
    check_titles(articles, settings.chunk_size)
    try:
        with writer_lock(settings, wait_seconds) as still_held:
            return _run_locked(settings, articles, rebuild, progress, started, still_held)
    except Exception as error:
        if settings.chroma_host and isinstance(error, httpx.TransportError):
            # The failed layer was dropped if the server allowed; the next run collects it.
            raise chroma_unavailable(settings, error) from None
        problem = storage_problem(error)
        if problem is None:
            raise
        raise StoreUnavailableError(
            f"cannot write the index store at {settings.store_dir}: {problem}; "
            "the live index is unchanged"
        ) from error


@contextlib.contextmanager
def writer_lock(settings: IndexSettings, wait_seconds: float) -> Iterator[Callable[[], None]]:
    """One writer per store: a file lock beside an embedded store, a Redis lease for a server.

    Yields a check that raises if the lock was lost meanwhile (only a lease can be).
    """
    if settings.chroma_host:
        from index.shared import connect_redis, lease_lock, required_redis_url

        url = required_redis_url(settings.redis_url)
        namespace = Namespace(settings.namespace)
        with lease_lock(connect_redis(url), url, namespace, wait_seconds) as lease:
            yield lease.check_held
        return
    lock = FileLock(lock_path(settings), timeout=wait_seconds)
    try:
        lock.acquire()
    except Timeout:
        raise IndexBusyError(
            f"another `storybot index` is writing to {settings.store_dir} "
            f"(lock {lock.lock_file}); try again when it has finished"
        ) from None
    try:
        yield lambda: None
    finally:
        lock.release()


def _run_locked(
    settings: IndexSettings,
    articles: Sequence[Article],
    rebuild: bool,
    progress: Progress | None,
    started: float,
    still_held: Callable[[], None],
) -> IndexReport:
    store = open_store(settings)
    live = store.live()
    if live is not None and not rebuild:
        _check_model(live, embed_model_id(settings))
    catalog = _live_catalog(store, live, rebuild)
    plan = plan_changes(articles, catalog.hashes(), rebuild)
    if not plan.has_work:
        # What a crashed run left is collected even when nothing changed.
        store.collect_garbage()
        if live is not None:
            _save_missing_term_stats(store, live.layers)
        name = live.name if live else None
        return IndexReport(plan, catalog.chunks(), time.perf_counter() - started, name)
    layout = plan_layers(live, catalog, plan)
    _save_missing_term_stats(store, layout.kept)  # the new layer gets its own
    generation = _build_generation(settings, store, live, plan, layout, progress)
    try:
        still_held()
    except BaseException:
        store.drop(generation.name)
        raise
    store.switch_to(generation)
    log.info(
        "generation %s is live (%d layers): %s",
        generation.name,
        len(generation.layers),
        plan.summary(),
    )
    chunks = store.catalog(generation).chunks()
    return IndexReport(plan, chunks, time.perf_counter() - started, generation.name)


def _live_catalog(store: StoryStore, live: Generation | None, rebuild: bool) -> Catalog:
    """What the live generation holds; nothing for a rebuild of a store that lost its files."""
    if live is None:
        return Catalog()
    try:
        return store.catalog(live)
    except StoreDamagedError:
        if rebuild:  # what to rebuild is read from the corpus, not the damaged index
            return Catalog()
        raise


def _save_missing_term_stats(store: StoryStore, layers: Sequence[Collection]) -> None:
    """Give layers kept from an older store the statistics bots would count at every start.

    Only a speed-up for the bots: if it fails, the run goes on and bots count as before.
    """
    try:
        store.save_missing_term_stats(layers)
    except Exception as error:
        log.warning("could not save the term statistics of older layers: %s", error)


@dataclass
class LayerLayout:
    """How the new generation is made: layers kept, chunks carried into the new layer."""

    kept: tuple[Collection, ...] = ()
    copies: list[tuple[Collection, list[str]]] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)


def plan_layers(live: Generation | None, catalog: Catalog, plan: IndexPlan) -> LayerLayout:
    """Which layers the new generation keeps and what its new layer must carry over."""
    if live is None or plan.rebuild:
        return LayerLayout()
    carried = {a.doc_id for a in plan.to_copy}
    # Live chunks after this re-index, in the base and above it.
    in_base = sum(catalog.chunks_of(d) for d in catalog.held_by(0) if d in carried)
    above = sum(catalog.chunks_of(d) for d in carried) - in_base
    if above > in_base or in_base * 2 < catalog.layer_chunks(0):
        first = 0  # compact: one new base, without the dead chunks
    elif len(live.layers) < MAX_LAYERS:
        return LayerLayout(kept=live.layers, removed=plan.removed)
    else:
        first = 1  # fold the upper layers into the new one
    copies = [
        (live.layers[layer], [d for d in catalog.held_by(layer) if d in carried])
        for layer in range(first, len(live.layers))
    ]
    # A new base has nothing below it to remove from.
    removed = catalog.removed_above(first) | set(plan.removed) if first else set()
    return LayerLayout(
        kept=live.layers[:first], copies=[c for c in copies if c[1]], removed=sorted(removed)
    )


def _check_model(live: Generation, configured: str) -> None:
    if live.embed_model != configured:
        raise StoreMismatchError(
            f"the index was built with {live.embed_model} but {configured} is configured; "
            "run `storybot index --rebuild` to re-embed the corpus with it"
        )


def _build_generation(
    settings: IndexSettings,
    store: StoryStore,
    live: Generation | None,
    plan: IndexPlan,
    layout: LayerLayout,
    progress: Progress | None,
) -> Generation:
    """The new generation: `layout`'s kept layers and one new layer, built in batches
    (index/streaming.py); on any failure the new layer is dropped and the live one stays."""
    embed_model = build_embed_model(settings)
    created: list[Collection] = []
    files = LayerFiles(layout.removed)

    def on_created(layer: Collection) -> None:
        created.append(layer)
        crash_point("created")

    try:
        layer = embed_into(
            store,
            embed_model_id(settings),
            live.dimension if live else 0,
            plan.to_embed,
            lambda batch: chunk_articles(settings, batch),
            lambda nodes, report: embed_chunks(embed_model, nodes, report),
            files,
            progress,
            on_created=on_created,
            on_embedded=lambda: crash_point("embedded"),
        )
        for source, doc_ids in layout.copies:
            copy_articles(store, source, layer, doc_ids, files)
        crash_point("written")
        folder = store.bm25_dir(layer.name)
        if folder is not None:
            files.write(folder)
            store.publish_bm25(layer.name)
        crash_point("bm25")
    except BaseException:
        for built in created:
            try:
                store.drop(built.name)
            except Exception as error:  # e.g. a full disk; the next run collects it
                log.warning("could not drop the failed layer %s: %s", built.name, error)
        raise
    meta = layer.metadata or {}
    return Generation((*layout.kept, layer), str(meta["embed_model"]), int(meta["dimension"]))


def chunk_articles(settings: IndexSettings, articles: Sequence[Article]) -> list[BaseNode]:
    """Articles' chunks, by a LlamaIndex ingestion pipeline with storybot's splitter."""
    if not articles:
        return []
    pipeline = IngestionPipeline(
        transformations=[make_splitter(settings.chunk_size, settings.chunk_overlap)]
    )
    return list(pipeline.run(documents=article_documents(articles)))


def embed_chunks(
    embed_model: BaseEmbedding, nodes: Sequence[BaseNode], progress: Progress | None = None
) -> None:
    """Set each chunk's embedding, a slice at a time.

    Embedding in slices lets `progress` hear about every PROGRESS_STEP chunks,
    so one long article does not look like a hang.
    """
    for start in range(0, len(nodes), PROGRESS_STEP):
        embed_model(list(nodes[start : start + PROGRESS_STEP]))  # sets each node's embedding
        if progress is not None:
            progress(min(start + PROGRESS_STEP, len(nodes)), len(nodes))
